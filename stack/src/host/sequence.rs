//! Initial sequence numbers as Linux chooses them, put on smoltcp's connections.

use super::*;

/// Keys the hash of [`Host::initial_sequence`] apart from the host's other streams.
pub(super) const ISN_SALT: u64 = 6528;

impl Host {
    /// Initial sequence numbers as Linux chooses them (`secure_tcp_seq`, after
    /// RFC 6528): a keyed hash of the 4-tuple plus a clock that ticks every 64 ns.
    /// smoltcp draws its ISN at random, and our layer shifts every segment of the
    /// connection by the difference (`shift_sequence`, both ways). Why it matters:
    /// a client that reuses its port for a new connection to the same server
    /// starts above the old connection's sequence numbers, so a server holding the
    /// tuple in TIME_WAIT takes the SYN as new (RFC 6191; see `time_wait`) where a
    /// random ISN would be refused half of the time and cost a SYN timeout.
    pub(super) fn initial_sequence(&self, tuple: &FourTuple) -> u32 {
        let key = (u64::from(tuple.local_addr.to_bits()) << 32
            | u64::from(tuple.remote_addr.to_bits()))
            ^ (u64::from(tuple.local_port) << 16 | u64::from(tuple.remote_port));
        let hash = crate::rng::derive_seed(self.config.seed ^ ISN_SALT, key) as u32;
        let ticks = (self.now.total_micros().wrapping_mul(1000) >> 6) as u32;
        hash.wrapping_add(ticks)
    }

    /// The shift from smoltcp's sequence space to the wire's for a segment that
    /// connection `id` is sending, chosen when its SYN or SYN-ACK leaves.
    pub(super) fn outgoing_offset(&mut self, id: ConnId, seg: &Segment) -> Option<u32> {
        if self.conns[id].track.isn_offset.is_none() && seg.syn && !seg.rst {
            let isn = self.initial_sequence(&self.conns[id].tuple);
            self.conns[id].track.isn_offset = Some(isn.wrapping_sub(seg.seq));
        }
        self.conns[id].track.isn_offset
    }

    /// An RST we send must land where the peer takes it. smoltcp puts its SND.NXT
    /// on it, which a zero-window probe may have moved past the peer's window; the
    /// peer (RFC 5961 §3.2) would then drop it and never learn the connection is
    /// gone. Linux (`tcp_acceptable_seq`) uses the window's right edge instead when
    /// SND.NXT is beyond it; so does this. Returns the shift to apply.
    pub(super) fn reset_offset(&self, id: ConnId, seg: &Segment) -> Option<u32> {
        if !seg.rst {
            return None;
        }
        let t = &self.conns[id].track;
        let window_end = t.snd_una.wrapping_add(t.peer_window? as u32);
        seq_gt(seg.seq, window_end).then(|| window_end.wrapping_sub(seg.seq))
    }
}
