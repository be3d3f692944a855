//! The checks RFC 5961 puts in front of TCP's own, against blind resets and SYNs.

use super::*;

impl Host {
    /// The checks RFC 5961 puts in front of TCP's own, which smoltcp 0.14 lacks (it
    /// accepts an RST anywhere in the window), so that a blind attacker who can
    /// guess the tuple but not the sequence numbers cannot reset or desynchronize a
    /// connection:
    /// * an RST is accepted only if its sequence number is exactly RCV.NXT; one
    ///   elsewhere inside the receive window is answered with a challenge ACK, one
    ///   outside it is dropped (§3.2);
    /// * an RST in SYN-SENT is accepted only if it acknowledges our SYN
    ///   (RFC 9293 §3.10.7.3);
    /// * a SYN on a synchronized connection is answered with a challenge ACK
    ///   whatever its sequence number (§4.2). A retransmitted SYN-ACK that reaches
    ///   an established client gets the same ACK, which is what its sender needs;
    /// * a retransmitted SYN for a connection still in SYN-RECEIVED is dropped
    ///   (see below).
    pub(super) fn screen(&self, id: ConnId, seg: &Segment) -> Screen {
        let conn = &self.conns[id];
        let Some(handle) = conn.handle else {
            return Screen::Pass;
        };
        let socket = self.sockets.get::<tcp::Socket>(handle);
        let state = socket.state();
        let t = &conn.track;
        if seg.rst {
            return match state {
                tcp::State::Listen | tcp::State::Closed => Screen::Pass,
                tcp::State::SynSent => {
                    if seg.ack == Some(t.snd_max) {
                        Screen::Pass
                    } else {
                        Screen::Drop
                    }
                }
                _ if seg.seq == t.rcv_nxt => Screen::Pass,
                _ => {
                    let window = socket.recv_capacity() - socket.recv_queue();
                    let offset = seg.seq.wrapping_sub(t.rcv_nxt) as usize;
                    if seq_gt(seg.seq, t.rcv_nxt) && offset < window {
                        Screen::ChallengeAck
                    } else {
                        Screen::Drop
                    }
                }
            };
        }
        if seg.syn && is_synchronized(state) {
            return Screen::ChallengeAck;
        }
        if conn.accept == Accept::Backlog
            && state == tcp::State::SynReceived
            && seg.ack.is_some()
            && !seg.syn
            && self.accept_queue_full(conn.tuple.local_port)
        {
            // The ACK that would complete the handshake finds the accept queue full:
            // Linux (`tcp_check_req`, `tcp_abort_on_overflow` off) drops it and
            // keeps the request, whose SYN-ACK timer or the client's next segment
            // tries again.
            return Screen::Overflow;
        }
        if seg.syn && seg.ack.is_none() && state == tcp::State::SynReceived {
            // A retransmitted SYN. smoltcp would hand it to whichever socket comes
            // first in its set, possibly a fresh listener of the pool, which would
            // answer it as a second connection on the same tuple. Dropping it costs
            // nothing: our SYN-ACK timer started half a round trip after the
            // client's SYN timer, with the same RTO, so it fires just as this SYN
            // arrives (Linux resends the SYN-ACK at once instead).
            return Screen::Drop;
        }
        Screen::Pass
    }

    /// A segment the screen kept from TCP still counts as received.
    pub(super) fn count_screened(&mut self, id: ConnId, seg: &Segment) {
        let s = &mut self.conns[id].stats;
        s.segments_in += 1;
        s.bytes_in += seg.payload_len as u64;
        if seg.rst {
            s.resets_in += 1;
        }
    }

    /// The challenge ACK of RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, at
    /// most one per [`OUT_OF_WINDOW_ACK_INTERVAL`]. A peer that really lost its state
    /// answers it with an RST at exactly RCV.NXT, which is then accepted.
    pub(super) fn send_challenge_ack(&mut self, id: ConnId, frame: &[u8], seg: &Segment) {
        let now = self.now;
        let medium = self.config.medium;
        let conn = &mut self.conns[id];
        let Some(handle) = conn.handle else {
            return;
        };
        let t = &mut conn.track;
        if t.last_challenge_at
            .is_some_and(|at| now - at < OUT_OF_WINDOW_ACK_INTERVAL)
        {
            return;
        }
        t.last_challenge_at = Some(now);
        let socket = self.sockets.get::<tcp::Socket>(handle);
        let free = socket.recv_capacity() - socket.recv_queue();
        let shift = match (t.our_window_scale, t.peer_window_scale) {
            (Some(ours), Some(_)) => u32::from(ours.min(14)),
            _ => 0,
        };
        let window = u16::try_from(free >> shift).unwrap_or(u16::MAX);
        let ack = build_reack(medium, frame, seg, t.snd_max, t.rcv_nxt, window);
        let s = &mut conn.stats;
        s.challenge_acks += 1;
        s.segments_out += 1;
        s.pure_acks_out += 1;
        self.out.push(ack);
    }
}

/// What the RFC 5961 screen does with an arriving segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Screen {
    /// Hand it to TCP.
    Pass,
    /// Discard it without an answer.
    Drop,
    /// Discard it and send a challenge ACK.
    ChallengeAck,
    /// Discard it: it would complete a handshake, and the accept queue is full.
    Overflow,
}
