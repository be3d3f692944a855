//! Recording the host's part of the event trace ([`crate::trace`]): the segments it
//! sends and why, the segments it takes in, what the application writes and reads,
//! and, whenever it changes, what holds written data back and whether an
//! acknowledgment is owed.

use super::*;
use crate::trace::{
    Endpoint, EventKind, FrameRef, Hold, HttpEvent, SegmentInfo, SendReason, StatelessReason,
};

/// The host's trace buffer and what recording needs between events.
#[derive(Debug, Default)]
pub(super) struct TraceLog {
    /// Whether events are recorded at all.
    pub(super) on: bool,
    /// Recorded since the last [`Host::take_trace`].
    pub(super) events: Vec<EventKind>,
    /// Connections whose hold or owed ACK may have changed since last looked at.
    pub(super) dirty: Vec<ConnId>,
    /// Frames handed out so far: the next frame's number.
    pub(super) next_frame: u64,
    /// The frame being taken in, as its sender numbered it.
    pub(super) from: Option<FrameRef>,
}

/// What the trace last said of a connection, so only changes are recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TraceState {
    pub(super) hold: Option<Hold>,
    pub(super) ack_owed: bool,
    /// Application bytes written and read so far (stream offsets).
    pub(super) written: u64,
    pub(super) read: u64,
    /// The acknowledgment and window of the latest segment sent, to tell a window
    /// update from a duplicate ACK.
    pub(super) last_ack: Option<(u32, u16)>,
}

fn endpoint(addr: Ipv4Address, port: u16) -> Endpoint {
    Endpoint {
        addr: addr.octets(),
        port,
    }
}

impl Host {
    /// Record events from now on (or stop). Off by default.
    pub fn set_tracing(&mut self, on: bool) {
        self.trace.on = on;
    }

    /// Whether events are recorded.
    pub fn tracing(&self) -> bool {
        self.trace.on
    }

    /// Move the events recorded since the last call to the end of `into`, oldest
    /// first.
    pub fn take_trace(&mut self, into: &mut Vec<EventKind>) {
        into.append(&mut self.trace.events);
    }

    /// Record an application-level moment (the HTTP layers call this).
    pub fn trace_http(&mut self, conn: Option<ConnId>, tx: Option<usize>, event: HttpEvent) {
        if self.trace.on {
            self.trace.events.push(EventKind::Http { conn, tx, event });
        }
    }

    /// Bytes the application has written on the connection so far: the send stream
    /// offset of the next byte it writes.
    pub fn written(&self, id: ConnId) -> u64 {
        self.conns.get(id).map_or(0, |c| c.trace.written)
    }

    /// Bytes the application has read from the connection so far.
    pub fn read_so_far(&self, id: ConnId) -> u64 {
        self.conns.get(id).map_or(0, |c| c.trace.read)
    }

    /// Frames handed out so far ([`Host::take_frames`] returns them in order; the
    /// first frame is number 0): the number of the next frame to leave.
    pub fn frames_out(&self) -> u64 {
        self.trace.next_frame
    }

    /// Hand a frame to the wire and number it; returns its number.
    pub(super) fn push_out(&mut self, frame: Vec<u8>) -> u64 {
        let n = self.trace.next_frame;
        self.trace.next_frame += 1;
        self.out.push(frame);
        n
    }

    pub(super) fn trace_event(&mut self, kind: EventKind) {
        if self.trace.on {
            self.trace.events.push(kind);
        }
    }

    pub(super) fn trace_open(&mut self, id: ConnId) {
        if !self.trace.on {
            return;
        }
        let conn = &self.conns[id];
        let t = conn.tuple;
        let kind = EventKind::Open {
            conn: id,
            local: endpoint(t.local_addr, t.local_port),
            remote: endpoint(t.remote_addr, t.remote_port),
            active: conn.role == Role::Client,
        };
        self.trace.events.push(kind);
    }

    pub(super) fn trace_segment_out(&mut self, id: ConnId, seg: &Segment, why: SendReason) {
        let frame = self.trace.next_frame;
        if let Some(conn) = self.conns.get_mut(id) {
            conn.trace.last_ack = seg.ack.map(|a| (a, seg.window));
        }
        if !self.trace.on {
            return;
        }
        self.trace.dirty.push(id);
        self.trace.events.push(EventKind::SegmentOut {
            conn: id,
            frame,
            seg: SegmentInfo::from(seg),
            why,
        });
    }

    /// Record `seg`, about to leave as the next frame, for no connection we keep.
    pub(super) fn trace_stateless_out(&mut self, seg: &Segment, why: StatelessReason) {
        if !self.trace.on {
            return;
        }
        self.trace.events.push(EventKind::StatelessSegmentOut {
            frame: self.trace.next_frame,
            local: endpoint(seg.src_addr, seg.src_port),
            remote: endpoint(seg.dst_addr, seg.dst_port),
            seg: SegmentInfo::from(seg),
            why,
        });
    }

    pub(super) fn trace_segment_in(&mut self, id: ConnId, seg: &Segment) {
        if !self.trace.on {
            return;
        }
        self.trace.dirty.push(id);
        let rcv_nxt = self.conns[id].track.rcv_nxt;
        self.trace.events.push(EventKind::SegmentIn {
            conn: id,
            from: self.trace.from,
            seg: SegmentInfo::from(seg),
            rcv_nxt,
        });
    }

    pub(super) fn trace_write(&mut self, id: ConnId, len: usize, more: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.trace.written += len as u64;
        if self.trace.on && len > 0 {
            let end = conn.trace.written;
            self.trace.dirty.push(id);
            self.trace.events.push(EventKind::AppWrite {
                conn: id,
                len: len as u64,
                end,
                more,
            });
        }
    }

    pub(super) fn trace_read(&mut self, id: ConnId, len: usize) {
        if len == 0 {
            return;
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.trace.read += len as u64;
        if self.trace.on {
            let end = conn.trace.read;
            self.trace.events.push(EventKind::AppRead {
                conn: id,
                len: len as u64,
                end,
            });
        }
    }

    /// Why the segment about to be counted by `on_segment_out` leaves, judged from
    /// the connection's state before it is counted.
    pub(super) fn send_reason(&self, id: ConnId, seg: &Segment) -> SendReason {
        let conn = &self.conns[id];
        let t = &conn.track;
        if seg.rst {
            return SendReason::Rst;
        }
        if seg.syn {
            return if t.syn_out {
                SendReason::SynRetransmit
            } else {
                SendReason::Syn
            };
        }
        if seg.seq_len() > 0 {
            if !seq_lt(seg.seq, t.snd_max) {
                return SendReason::NewData;
            }
            let ack_clocked = t.last_in_at == Some(self.now);
            return if !ack_clocked && t.last_timeout_at != Some(self.now) {
                SendReason::Rto
            } else if t
                .fast_retransmit_starts(self.config.knobs.retransmit.recovery == LossRecovery::Sack)
            {
                SendReason::FastRetransmit
            } else if t.fast_retransmitted.is_some() && seg.seq == t.snd_una && t.dup_acks == 0 {
                // In fast recovery, ACK-clocked, from SND.UNA right after an ACK that
                // advanced it: only NewReno's partial-ACK rule sends that.
                SendReason::PartialAck
            } else if t.fast_retransmitted.is_some() && seg.seq != t.snd_una {
                // In fast recovery, above SND.UNA: a hole the SACK blocks showed.
                SendReason::SackHole
            } else {
                SendReason::Retransmit
            };
        }
        let ack = seg.ack.unwrap_or(0);
        match conn.trace.last_ack {
            Some((last, window)) if last == ack => {
                if window != seg.window {
                    SendReason::WindowUpdate
                } else {
                    SendReason::DuplicateAck
                }
            }
            // An ACK sent as data arrived was sent because it arrived (quick-ACK, or
            // a second full segment); one sent at any other moment, while data was
            // waiting to be acknowledged, is the delayed-ACK timer's.
            _ if t.last_in_at == Some(self.now) => SendReason::Ack,
            _ if t.unacked_since.is_some() => SendReason::DelayedAck,
            _ => SendReason::Ack,
        }
    }

    /// Record, for every connection touched since the last call, what now holds its
    /// written data and whether it owes an ACK, where that changed.
    pub(super) fn trace_states(&mut self) {
        if !self.trace.on || self.trace.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.trace.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for &id in &dirty {
            if self.conns.get(id).is_none() {
                continue;
            }
            let hold = self.hold(id);
            let conn = &self.conns[id];
            let owed = conn.track.unacked_since.is_some();
            let hold_changed = conn.trace.hold != hold;
            let owed_changed = conn.trace.ack_owed != owed;
            if !hold_changed && !owed_changed {
                // Looked at, not changed: no news for the application either.
                continue;
            }
            let state = &mut self.conns[id].trace;
            state.hold = hold;
            state.ack_owed = owed;
            if hold_changed {
                self.trace.events.push(EventKind::Hold { conn: id, hold });
            }
            if owed_changed {
                self.trace
                    .events
                    .push(EventKind::AckOwed { conn: id, owed });
            }
        }
        dirty.clear();
        self.trace.dirty = dirty;
    }

    /// What keeps the connection's first unsent byte from the wire: smoltcp's own
    /// tests for data it already has, [`Host::admit`]'s for data still above it.
    fn hold(&self, id: ConnId) -> Option<Hold> {
        let conn = &self.conns[id];
        let pending = conn.pending.len();
        let Some(handle) = conn.handle else {
            return (pending > 0).then_some(Hold::Handshake);
        };
        let socket = self.sockets.get(handle);
        let t = &conn.track;
        let buffered = socket.send_queue();
        let flight = (t.snd_max.wrapping_sub(t.snd_una) as usize).min(buffered);
        let unsent = buffered - flight;
        if pending == 0 && unsent == 0 {
            return None;
        }
        if !is_synchronized(socket.state()) {
            return Some(Hold::Handshake);
        }
        if unsent == 0 {
            return self.admit(id).held;
        }
        // smoltcp holds data it has: the window (as we clamp it) or Nagle.
        let mss = self.mss_for(id);
        let cwnd = conn.cwnd.window();
        let rwnd = t.peer_window.unwrap_or(usize::MAX);
        if flight + unsent.min(mss) > cwnd.min(rwnd) {
            return Some(if cwnd <= rwnd {
                Hold::CongestionWindow
            } else {
                Hold::ReceiveWindow
            });
        }
        let nagle = self.config.knobs.nagle == Nagle::On && flight > 0 && unsent < mss;
        Some(if nagle { Hold::Nagle } else { Hold::Other })
    }
}
