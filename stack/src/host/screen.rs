//! The checks RFC 5961 puts in front of TCP's own, against blind resets and SYNs.

use super::conn::WireTrack;
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
    /// * an ACK in SYN-SENT or SYN-RECEIVED that does not acknowledge our SYN is
    ///   answered with smoltcp's RST and changes nothing (§3.10.7.3, §3.10.7.4);
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
        let socket = self.sockets.get(handle);
        let state = socket.state();
        let t = &conn.track;
        let acceptable = match t.rcv_edge {
            Some(edge) if state == tcp::State::SynReceived || is_synchronized(state) => {
                acceptable(seg, t.rcv_nxt, edge)
            }
            _ => true,
        };
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
                // An RST carrying SYN or FIN is an RST (the RST bit is checked
                // first, §3.10.7.4); smoltcp refuses the combination outright.
                _ if seg.seq == t.rcv_nxt && (seg.syn || seg.fin) => Screen::Rewrite(Rewrite::Rst),
                _ if seg.seq == t.rcv_nxt => Screen::Pass,
                _ if acceptable && seq_gt(seg.seq, t.rcv_nxt) => Screen::ChallengeAck,
                _ => Screen::Drop,
            };
        }
        if matches!(state, tcp::State::SynSent | tcp::State::SynReceived)
            && seg.ack.is_some_and(|ack| !acks_our_syn(t, ack))
        {
            // §3.10.7.3 (SYN-SENT) and §3.10.7.4 (SYN-RECEIVED): an ACK that does not
            // acknowledge our SYN (ISS < SEG.ACK =< SND.NXT fails) gets an RST at
            // SEG.ACK and changes nothing else. A peer still holding the tuple from an
            // earlier connection sends one (its TIME_WAIT's ACK to our SYN), and so
            // may a forger; taking its numbers as ours would make every segment of
            // the connection that follows look old.
            return Screen::Unacceptable;
        }
        if seg.syn && is_synchronized(state) {
            return Screen::ChallengeAck;
        }
        if conn.accept.handshaking()
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
        if !is_synchronized(state) {
            return Screen::Pass;
        }
        let Some(ack) = seg.ack else {
            // §3.10.7.4, fifth check: "if the ACK bit is off, drop the segment"
            // (smoltcp looks at it before the window, and so does this).
            return Screen::Drop;
        };
        // RFC 5961 §5.2: an ACK of data never sent, or older than the largest window
        // the peer ever offered, is answered with a challenge ACK (before the window
        // is looked at, as smoltcp does, so that one limiter covers every answer).
        let oldest = t.snd_una.wrapping_sub(t.max_peer_window.max(1) as u32);
        if seq_gt(ack, t.snd_max) || seq_lt(ack, oldest) {
            return Screen::ChallengeAck;
        }
        if seq_lt(ack, t.snd_una) {
            // An old duplicate ACK. RFC 5961 §5.2 would still take its text;
            // smoltcp drops the whole segment, so the observer must not count it
            // either (an honest peer resends the data).
            return Screen::Drop;
        }
        if !acceptable {
            // An unacceptable segment is answered with an ACK and dropped. Data
            // is answered by smoltcp at once (a retransmission whose ACK was lost:
            // Linux does not rate-limit those either); anything else gets the same
            // rate-limited answer as a challenge (Linux `tcp_oow_rate_limited`).
            return if seg.payload_len > 0 {
                Screen::Unacceptable
            } else {
                Screen::ChallengeAck
            };
        }
        if t.fin_in && seg.payload_len > 0 && seq_gt(seg.seq_end(), t.rcv_nxt) {
            // After the peer's FIN there is no more data (§3.10.7.4, seventh: "ignore
            // the segment text" in CLOSE-WAIT and later); its ACK still counts.
            return Screen::Rewrite(Rewrite::Ack);
        }
        if seg.fin
            && seg.payload_len > 0
            && seg.seq_end().wrapping_sub(1) == t.rcv_nxt
            && seq_lt(seg.seq, t.rcv_nxt)
        {
            // Old data ending where the FIN goes: the FIN is new, and SEG.LEN counts
            // it, so the segment is acceptable (§3.4), but smoltcp judges the
            // window by the data alone and would drop it.
            return Screen::Rewrite(Rewrite::Fin);
        }
        Screen::Pass
    }

    /// `seg` as the rewrite says, in a frame of its own, from the peer.
    pub(super) fn rewritten(
        &self,
        id: ConnId,
        frame: &[u8],
        seg: &Segment,
        how: Rewrite,
    ) -> Vec<u8> {
        let medium = self.config.medium;
        let t = &self.conns[id].track;
        match how {
            Rewrite::Rst => {
                let mut frame = frame.to_vec();
                rewrite_flags(medium, &mut frame, 0, FLAG_SYN | FLAG_FIN);
                frame
            }
            Rewrite::Ack | Rewrite::Fin => {
                let mut link = [0u8; crate::segment::ETHERNET_HEADER];
                if medium == Medium::Ethernet {
                    if let Some(h) = frame.get(..crate::segment::ETHERNET_HEADER) {
                        link.copy_from_slice(h);
                    }
                }
                let ack = seg.ack.unwrap_or(t.snd_una);
                let mut out = build_ack(medium, &link, seg, t.rcv_nxt, ack, seg.window);
                if how == Rewrite::Fin {
                    rewrite_flags(medium, &mut out, FLAG_FIN, 0);
                }
                out
            }
        }
    }

    /// A segment from the peer, counted as received whether TCP sees it or not.
    pub(super) fn count_in(&mut self, id: ConnId, seg: &Segment) {
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
        let socket = self.sockets.get(handle);
        let free = socket.recv_capacity() - socket.recv_queue();
        let shift = t.our_shift(false);
        let window = u16::try_from(free >> shift).unwrap_or(u16::MAX);
        let ack = build_reack(medium, frame, seg, t.snd_max, t.rcv_nxt, window);
        let s = &mut conn.stats;
        s.challenge_acks += 1;
        s.segments_out += 1;
        s.pure_acks_out += 1;
        if self.tracing() {
            if let Some(out) = Segment::parse(medium, &ack) {
                self.trace_segment_out(id, &out, SendReason::DuplicateAck);
            }
        }
        self.push_out(ack);
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
    /// Hand it to TCP, which answers it (with an ACK; during the handshake, with an
    /// RST) and drops it; the observer leaves the connection's numbers alone.
    Unacceptable,
    /// Hand TCP this segment in another form.
    Rewrite(Rewrite),
}

/// The forms the screen gives a segment that smoltcp would misread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rewrite {
    /// An RST with SYN or FIN: the RST alone.
    Rst,
    /// Data after the peer's FIN: its ACK alone, at RCV.NXT.
    Ack,
    /// Old data ending at RCV.NXT with a FIN: the FIN alone, at RCV.NXT.
    Fin,
}

/// Whether `ack` acknowledges our SYN (or SYN-ACK) and nothing beyond it: ISS <
/// SEG.ACK =< SND.NXT (RFC 9293 §3.10.7.3-4), SND.UNA being the ISS until the SYN is
/// acknowledged.
fn acks_our_syn(t: &WireTrack, ack: u32) -> bool {
    seq_gt(ack, t.snd_una) && !seq_gt(ack, t.snd_max)
}

/// RFC 9293 §3.10.7.4, first check: a segment is acceptable if any of it falls in
/// [RCV.NXT, `edge`); a bare one only at RCV.NXT when the window is closed. SEG.LEN
/// counts SYN and FIN.
fn acceptable(seg: &Segment, rcv_nxt: u32, edge: u32) -> bool {
    let window = edge.wrapping_sub(rcv_nxt) as usize;
    let offset = seg.seq.wrapping_sub(rcv_nxt) as usize;
    let starts_in = !seq_lt(seg.seq, rcv_nxt) && offset < window;
    let ends_in = seq_gt(seg.seq_end(), rcv_nxt) && !seq_gt(seg.seq_end(), edge);
    match (seg.seq_len(), window) {
        (0, 0) => seg.seq == rcv_nxt,
        (0, _) => starts_in,
        (_, 0) => false,
        _ => starts_in || ends_in,
    }
}
