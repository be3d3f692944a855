//! The wire observer: our view of each connection's sequence space, counted from the
//! segments that actually cross the wire, and why each segment was sent.

use super::*;

impl Host {
    pub(super) fn on_segment_in(&mut self, id: ConnId, seg: &Segment) {
        self.observe_in(id, seg);
        self.trace_segment_in(id, seg);
    }

    fn observe_in(&mut self, id: ConnId, seg: &Segment) {
        let now = self.now;
        self.count_in(id, seg);
        let conn = &mut self.conns[id];
        let t = &mut conn.track;
        t.last_in_at = Some(now);
        if seg.rst {
            if conn.error.is_none() && !conn.finished {
                conn.error = Some(if t.syn_seen {
                    SocketError::ConnectionReset
                } else {
                    SocketError::ConnectionRefused
                });
                if conn.stats.closed_first.is_none() {
                    conn.stats.closed_first = Some(Closer::Peer);
                }
                conn.pending.clear();
                conn.leftover.clear();
            }
            return;
        }
        if seg.syn {
            self.learn_peer_syn(id, seg);
        }
        let conn = &mut self.conns[id];
        let t = &mut conn.track;
        if let Some(ack) = seg.ack {
            t.peer_sacked = seg.sack;
            if !seq_lt(ack, t.snd_una) {
                let window = usize::from(seg.window) << t.peer_shift(seg.syn);
                t.peer_window = Some(window);
                t.max_peer_window = t.max_peer_window.max(window);
            }
            if seq_gt(ack, t.snd_una) {
                // Data bytes this ACK newly covers: its advance, less our SYN and FIN,
                // which occupy sequence space but carry none (RFC 9293 §3.4).
                let mut acked = ack.wrapping_sub(t.snd_una) as usize;
                if t.syn_out && !t.syn_acked {
                    t.syn_acked = true;
                    acked = acked.saturating_sub(1);
                }
                if t.fin_out && ack == t.snd_max {
                    acked = acked.saturating_sub(1);
                }
                if acked > 0 {
                    conn.cwnd.on_ack(acked, now);
                }
                t.snd_una = ack;
                t.dup_acks = 0;
                if let Some((end, sent)) = t.timed {
                    if !seq_lt(ack, end) {
                        conn.rtt.on_sample(now - sent);
                        t.timed = None;
                    }
                }
                if t.recovery_until.is_some_and(|r| !seq_lt(ack, r)) {
                    t.recovery_until = None;
                    t.fast_retransmitted = None;
                }
            } else if ack == t.snd_una
                && seg.payload_len == 0
                && !seg.syn
                && !seg.fin
                && t.snd_max != t.snd_una
            {
                t.dup_acks += 1;
            }
        }
        if seg.payload_len > 0 {
            t.data_segments_in = t.data_segments_in.saturating_add(1);
        }
        if seg.payload_len > 0 || seg.fin {
            // RCV.NXT moves only over contiguous data: a segment beyond a hole waits
            // in smoltcp's reassembly buffer, and the ACKs smoltcp sends say when the
            // hole is filled (`on_segment_out`).
            // Nothing beyond the window we offered is taken (a zero-window probe's
            // byte, say), and a FIN only once all the data before it is in.
            let data_end = seg.seq.wrapping_add(seg.payload_len as u32);
            let limit = t.rcv_edge.unwrap_or(data_end);
            let taken_end = if seq_gt(data_end, limit) {
                limit
            } else {
                data_end
            };
            let end = if seg.fin && taken_end == data_end {
                data_end.wrapping_add(1)
            } else {
                taken_end
            };
            if !seq_gt(seg.seq, t.rcv_nxt) && seq_gt(end, t.rcv_nxt) {
                t.rcv_nxt = end;
            }
            if t.unacked_since.is_none() {
                t.unacked_since = Some(now);
            }
        }
        if seg.fin && !seq_lt(t.rcv_nxt, seg.seq_end()) {
            t.fin_in = true;
            let crossed = t.fin_out && seg.ack.is_none_or(|ack| seq_lt(ack, t.snd_max));
            match conn.stats.closed_first {
                None => conn.stats.closed_first = Some(Closer::Peer),
                // The peer's FIN does not acknowledge ours: it was sent before ours
                // arrived, a simultaneous close.
                Some(Closer::Local) if crossed => conn.stats.closed_first = Some(Closer::Both),
                _ => {}
            }
        }
    }

    /// What the peer's SYN tells: its initial sequence number, MSS and window scale.
    pub(super) fn learn_peer_syn(&mut self, id: ConnId, seg: &Segment) {
        let (our_mss, now) = (self.mss(), self.now);
        let conn = &mut self.conns[id];
        let t = &mut conn.track;
        t.syn_seen = true;
        t.rcv_nxt = seg.seq.wrapping_add(1);
        if let Some(mss) = seg.mss {
            t.peer_mss = Some(mss);
        }
        t.peer_window_scale = seg.window_scale;
        let peer_mss = usize::from(t.peer_mss.unwrap_or(DEFAULT_MSS as u16));
        conn.cwnd.set_mss(peer_mss.min(our_mss).max(1), now);
    }

    pub(super) fn on_segment_out(&mut self, id: ConnId, seg: &Segment) {
        if self.tracing() {
            let why = self.send_reason(id, seg);
            self.trace_segment_out(id, seg, why);
        }
        let now = self.now;
        let delayed_ack = self.config.knobs.delayed_ack;
        let sack_recovery = self.config.knobs.retransmit.recovery == LossRecovery::Sack;
        let mss = self.mss_for(id);
        let conn = &mut self.conns[id];
        let t = &mut conn.track;
        let s = &mut conn.stats;
        s.segments_out += 1;
        s.bytes_out += seg.payload_len as u64;
        if seg.rst {
            s.resets_out += 1;
            return;
        }
        t.note_syn_out(seg);
        if seg.is_pure_ack() {
            s.pure_acks_out += 1;
            if let (Some(since), Some(delay)) = (t.unacked_since, delayed_ack) {
                if now - since >= delay {
                    s.delayed_acks += 1;
                }
            }
        }
        t.note_offer(seg);
        if let Some(ack) = seg.ack {
            if !seq_lt(ack, t.rcv_nxt) {
                t.unacked_since = None;
            }
            // smoltcp acknowledges exactly its RCV.NXT: after a hole is filled this
            // jumps over the data it had reassembled.
            if t.syn_seen && seq_gt(ack, t.rcv_nxt) {
                t.rcv_nxt = ack;
            }
        }
        if seg.seq_len() > 0 {
            if seq_lt(seg.seq, t.snd_max) && seg.syn {
                // The handshake's own timer (RFC 6298 §5 applies to the SYN too): not
                // a loss of data, so the window is left alone until the connection
                // is synchronized, where `on_handshake_retransmit` decides the
                // initial window.
                s.retransmissions += 1;
                s.syn_retransmits += 1;
                conn.cwnd.on_handshake_retransmit(s.syn_retransmits, now);
            } else if seq_lt(seg.seq, t.snd_max) {
                s.retransmissions += 1;
                t.timed = None;
                let flight = t.snd_max.wrapping_sub(t.snd_una) as usize;
                let ack_clocked = t.last_in_at == Some(now);
                if !ack_clocked && t.last_timeout_at != Some(now) {
                    t.last_timeout_at = Some(now);
                    // RFC 5681 §3.1: every timeout collapses the window to one segment.
                    s.timeouts += 1;
                    conn.cwnd.on_timeout(flight, now);
                    t.recovery_until = Some(t.snd_max);
                    // A new episode: go-back-N may resend anything, once.
                    t.fast_retransmitted = None;
                    self.window_updates.push(id);
                } else if t.fast_retransmit_starts(sack_recovery) {
                    s.fast_retransmits += 1;
                    conn.cwnd.on_fast_retransmit(flight, now);
                    t.recovery_until = Some(t.snd_max);
                    t.fast_retransmitted = Some(seg.seq);
                }
            } else if t.timed.is_none() && seg.payload_len > 0 {
                t.timed = Some((seg.seq_end(), now));
            }
            if seg.payload_len > 0 && seg.payload_len < mss {
                t.small_end = Some(seg.seq_end());
            }
            if seg.payload_len > 0 {
                // Idle time for slow-start restart runs from the last data sent
                // (Linux: `lsndtime`), including what smoltcp sends from its buffer.
                let rto = conn.rtt.rto();
                conn.cwnd.on_send(seg.payload_len, rto, now);
            }
            let end = seg.seq_end();
            if seq_gt(end, t.snd_max) {
                t.snd_max = end;
            }
        }
        if seg.fin && !t.fin_out {
            t.fin_out = true;
            if s.closed_first.is_none() {
                s.closed_first = Some(Closer::Local);
            }
        }
    }

    /// Whether `seg` is smoltcp fast-retransmitting, a second time in one loss
    /// episode, the segment already fast-retransmitted: it is not sent.
    ///
    /// smoltcp counts duplicate ACKs afresh after any change of the window it is
    /// shown, and our layer shows it the cut congestion window right after a fast
    /// retransmit: three more duplicate ACKs of the same episode then make it resend
    /// the same segment. RFC 5681 §3.2 (and Linux) retransmit once per episode; a
    /// second copy would only cost the link and the receiver a duplicate. A timeout
    /// still resends it (that is not ACK-clocked).
    pub(super) fn repeated_fast_retransmit(&self, id: ConnId, seg: &Segment) -> bool {
        let t = &self.conns[id].track;
        seg.payload_len > 0
            && t.recovery_until.is_some()
            && t.fast_retransmitted == Some(seg.seq)
            && t.last_in_at == Some(self.now)
            && t.last_timeout_at != Some(self.now)
    }

    /// Quick-ACK at connection start: the first `quickack` data segments are ACKed at
    /// once, later ones wait for the delayed-ACK timer (Linux `tcp_in_quickack_mode`).
    pub(super) fn choose_ack_delay(&mut self, id: ConnId) {
        let knobs = &self.config.knobs;
        let conn = &self.conns[id];
        let Some(handle) = conn.handle else {
            return;
        };
        let quick = conn.track.data_segments_in <= knobs.quickack;
        let delay = if quick { None } else { knobs.delayed_ack };
        let socket = self.sockets.get_mut(handle);
        if socket.ack_delay() != delay {
            socket.set_ack_delay(delay);
        }
    }
}
