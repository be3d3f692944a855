//! Packet comments: the trace's reason for each frame, in words, for captures that
//! can carry them (pcapng). A person who lives in Wireshark then reads the cause
//! next to the packet: "delayed ACK: the timer fired after 200 ms", "held 300 ms by
//! Nagle", "RTO retransmission #2", "dropped by the link: loss".
//!
//! The [`Narrator`] reads a round's events in order, as the simulator hands them out,
//! and remembers only what a later comment needs: since when each connection's data
//! has been held and why, since when each owes an ACK, how many timeouts each has
//! had. Each entry goes when its hold, debt or connection does, so its memory follows
//! the connections alive.

use std::collections::{HashMap, VecDeque};

use crate::host::ConnId;
use crate::trace::{Event, EventKind, Hold, LinkFate, SendReason, StatelessReason};

/// Turns events into per-frame comments. See the module docs.
#[derive(Debug, Default)]
pub struct Narrator {
    /// Per (host, connection): the hold in force and since when, ns.
    holds: HashMap<(usize, ConnId), (Hold, u64)>,
    /// Per (host, connection): since when an ACK is owed, ns.
    owed: HashMap<(usize, ConnId), u64>,
    /// Per (host, connection): retransmission timeouts and SYN retransmissions so far.
    timeouts: HashMap<(usize, ConnId), u32>,
    /// Per (host, connection): what it wrote and has not sent in full yet.
    writes: HashMap<(usize, ConnId), Writes>,
    /// The comments of the frames sent in the round being read, by (host, frame).
    round: HashMap<(usize, u64), String>,
}

/// A connection's initial sequence number and its writes not yet sent in full:
/// (sequence number after the write, when), oldest first.
type Writes = (u32, VecDeque<(u32, u64)>);

fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

fn hold_name(hold: Hold) -> &'static str {
    match hold {
        Hold::Handshake => "the handshake",
        Hold::CongestionWindow => "the congestion window",
        Hold::ReceiveWindow => "the receive window",
        Hold::Nagle => "Nagle",
        Hold::Minshall => "Minshall's Nagle",
        Hold::Cork => "MSG_MORE",
        Hold::SendBuffer => "a full send buffer",
        Hold::Other => "the stack",
    }
}

impl Narrator {
    /// A narrator that has seen nothing.
    pub fn new() -> Narrator {
        Narrator::default()
    }

    /// Read a round's host events (before its frames are written), in order.
    pub fn read(&mut self, events: &[Event]) {
        for e in events {
            self.event(e);
        }
    }

    fn event(&mut self, e: &Event) {
        let at = e.at_ns;
        match &e.kind {
            EventKind::SegmentOut {
                conn,
                frame,
                seg,
                why,
            } => {
                let key = (e.host, *conn);
                let mut text = match why {
                    SendReason::Syn if seg.ack.is_some() => "SYN-ACK".to_string(),
                    SendReason::Syn => "SYN".to_string(),
                    SendReason::SynRetransmit => {
                        let n = self.timeouts.entry(key).or_default();
                        *n += 1;
                        let what = if seg.ack.is_some() { "SYN-ACK" } else { "SYN" };
                        format!("{what} retransmission #{n}: the handshake's timer fired")
                    }
                    SendReason::Rto => {
                        let n = self.timeouts.entry(key).or_default();
                        *n += 1;
                        format!("RTO retransmission #{n}: the retransmission timer fired")
                    }
                    SendReason::FastRetransmit => {
                        "fast retransmit: third duplicate ACK".to_string()
                    }
                    SendReason::SackHole => {
                        "SACK retransmission: the peer's SACK blocks showed this hole lost"
                            .to_string()
                    }
                    SendReason::PartialAck => {
                        "NewReno retransmission: a partial ACK showed the next hole".to_string()
                    }
                    SendReason::Retransmit => "retransmission after a timeout".to_string(),
                    SendReason::DelayedAck => match self.owed.get(&key) {
                        Some(since) => {
                            format!("delayed ACK: the timer fired after {}", ms(at - since))
                        }
                        None => "delayed ACK: the timer fired".to_string(),
                    },
                    SendReason::Ack => "ACK".to_string(),
                    SendReason::WindowUpdate => "window update".to_string(),
                    SendReason::DuplicateAck => "duplicate ACK".to_string(),
                    SendReason::Rst => "reset".to_string(),
                    SendReason::TimeWaitAck => {
                        "ACK from TIME_WAIT: the peer's FIN came again".to_string()
                    }
                    SendReason::NewData if seg.fin && seg.len == 0 => "FIN".to_string(),
                    SendReason::NewData => "new data".to_string(),
                };
                if seg.syn {
                    self.writes.insert(key, (seg.seq, VecDeque::new()));
                }
                if seg.len > 0 && *why == SendReason::NewData {
                    // How long this segment's bytes waited: from the write of its
                    // last byte, or the start of the hold if that came later.
                    let end = seg.seq.wrapping_add(seg.len);
                    let written = self.written_at(key, end);
                    if let Some((hold, since)) = self.holds.get(&key) {
                        let from = written.map_or(*since, |w| w.max(*since));
                        if at > from {
                            text = format!("held {} by {}", ms(at - from), hold_name(*hold));
                        }
                    }
                }
                if seg.rst {
                    self.timeouts.remove(&key);
                }
                self.round.insert((e.host, *frame), text);
            }
            EventKind::StatelessSegmentOut { frame, why, .. } => {
                let text = match why {
                    StatelessReason::SynCookie => {
                        "SYN-ACK with a SYN cookie: the SYN queue is full, nothing is kept"
                    }
                    StatelessReason::Rst => "reset: no connection takes the segment",
                };
                self.round.insert((e.host, *frame), text.to_string());
            }
            EventKind::AppWrite { conn, len, .. } => {
                if let Some((isn, writes)) = self.writes.get_mut(&(e.host, *conn)) {
                    let last = writes.back().map_or(isn.wrapping_add(1), |(end, _)| *end);
                    let len = u32::try_from(*len).unwrap_or(u32::MAX);
                    writes.push_back((last.wrapping_add(len), at));
                }
            }
            EventKind::Hold { conn, hold } => {
                let key = (e.host, *conn);
                match hold {
                    Some(h) => {
                        let same = self.holds.get(&key).is_some_and(|(old, _)| old == h);
                        if !same {
                            self.holds.insert(key, (*h, at));
                        }
                    }
                    None => {
                        self.holds.remove(&key);
                    }
                }
            }
            EventKind::AckOwed { conn, owed } => {
                let key = (e.host, *conn);
                if *owed {
                    self.owed.insert(key, at);
                } else {
                    self.owed.remove(&key);
                }
            }
            EventKind::TimeWait { conn, held: true } | EventKind::AppClose { conn, .. } => {
                let key = (e.host, *conn);
                self.timeouts.remove(&key);
                self.writes.remove(&key);
            }
            _ => {}
        }
    }

    /// When the write that ends at or after sequence number `end` was made; writes
    /// that ended before it are sent and forgotten.
    fn written_at(&mut self, key: (usize, ConnId), end: u32) -> Option<u64> {
        let (_, writes) = self.writes.get_mut(&key)?;
        // Sequence order with wrap-around (RFC 9293 §3.4): a before b if b - a is
        // less than half the space.
        let before = |a: u32, b: u32| a != b && b.wrapping_sub(a) < 1 << 31;
        while writes.front().is_some_and(|(e, _)| before(*e, end)) {
            writes.pop_front();
        }
        writes.front().map(|(_, at)| *at)
    }

    /// The comment for frame `frame` of host `host`, with what the link did to it
    /// (`fate`: `None` when no host had its destination). Frames the trace did not
    /// name (ARP) get the fate alone, if it is a drop.
    pub fn comment(&mut self, host: usize, frame: u64, fate: Option<LinkFate>) -> Option<String> {
        let reason = self.round.remove(&(host, frame));
        let drop = match fate {
            Some(LinkFate::Delivered { .. }) => None,
            Some(LinkFate::Lost) => Some("dropped by the link: loss"),
            Some(LinkFate::QueueFull) => Some("dropped by the link: queue full"),
            Some(LinkFate::Oversize) => Some("dropped by the link: larger than the MTU"),
            Some(LinkFate::Fault) => Some("dropped by a fault rule"),
            None => Some("dropped: no host has the destination address"),
        };
        match (reason, drop) {
            (Some(r), Some(d)) => Some(format!("{r}; {d}")),
            (Some(r), None) => Some(r),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => None,
        }
    }

    /// The round is over: comments not asked for are dropped.
    pub fn end_round(&mut self) {
        self.round.clear();
    }
}
