//! The trace, read into what the critical-path walk asks about each connection:
//! its segments and their fate on the link, where its receive edge moved, when its
//! application wrote, what held its data, when it owed an ACK.

use rustc_hash::FxHashMap as HashMap;

use tcpknobs_stack::trace::{Endpoint, Event, EventKind, FrameRef, Hold, HttpEvent, LinkFate};
use tcpknobs_stack::trace::{SegmentInfo, SendReason};
use tcpknobs_stack::ConnId;

/// A connection named across the network: (host index, the host's id).
pub(super) type Key = (usize, ConnId);

/// One segment a connection sent.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sent {
    /// When it left the host, ns.
    pub(super) at: u64,
    pub(super) frame: u64,
    /// Stream offset of its first payload byte.
    pub(super) start: u64,
    pub(super) len: u64,
    pub(super) why: SendReason,
    /// What the link did with it, once known.
    pub(super) link: Option<Stage>,
}

impl Sent {
    pub(super) fn end(&self) -> u64 {
        self.start + self.len
    }

    pub(super) fn is_retransmission(&self) -> bool {
        self.why.resends_data()
    }
}

/// A frame's way along the link.
#[derive(Clone, Copy, Debug)]
pub(super) struct Stage {
    pub(super) serialization_start: u64,
    pub(super) serialization_end: u64,
    /// `None`: it never arrived.
    pub(super) arrival: Option<u64>,
}

/// The in-order receive edge moved: after this, the application could read up to
/// stream offset `edge`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Advance {
    pub(super) at: u64,
    pub(super) edge: u64,
    pub(super) from: Option<FrameRef>,
}

/// A server's (or proxy's) work on one request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Answer {
    /// Receive offset just after the request.
    pub(super) request_end: u64,
    /// When the server started on it.
    pub(super) started: u64,
    /// When it wrote the response head, and the send offset of its first byte.
    pub(super) head: Option<(u64, u64)>,
}

/// Everything the walk asks about one connection, in time order.
#[derive(Debug, Default)]
pub(super) struct ConnLog {
    pub(super) tuple: Option<(Endpoint, Endpoint)>,
    /// Our initial sequence number and the peer's.
    iss: Option<u32>,
    irs: Option<u32>,
    /// In time order (the trace is), hence in frame order too.
    pub(super) sent: Vec<Sent>,
    /// For each of `sent`, the highest stream offset the data segments sent up to it
    /// reached (those pruned since included): none before the first to reach past an
    /// offset carried it, so the first transmission of an offset is found by
    /// bisection instead of a scan from the log's start.
    reach: Vec<u64>,
    /// The frames of `sent` the link dropped, so the walk finds losses without
    /// visiting every segment.
    pub(super) lost: Vec<u64>,
    pub(super) advances: Vec<Advance>,
    /// (time, stream offset after the write).
    pub(super) writes: Vec<(u64, u64)>,
    pub(super) holds: Vec<(u64, Option<Hold>)>,
    /// When the delayed-ACK timer held an ACK: `true` from the moment data arrived
    /// unacknowledged, `false` when the timer's ACK left. A debt settled by an ACK
    /// the next segment triggered (every second full segment) is not here: the
    /// receiver was not holding that ACK, it was waiting for the data.
    pub(super) owed: Vec<(u64, bool)>,
    /// Since when an ACK is owed, until it is known whether the timer sends it.
    owed_since: Option<u64>,
    /// (time, stream offset the peer acknowledged up to).
    pub(super) acks: Vec<(u64, u64)>,
    /// When each SYN (or SYN-ACK) left.
    pub(super) syns: Vec<u64>,
    /// When each SYN (or SYN-ACK) from the peer arrived, and which frame it was.
    pub(super) syns_in: Vec<(u64, Option<FrameRef>)>,
    pub(super) port_waits: Vec<(u64, bool)>,
    /// In the order the server started on them.
    answers: Vec<Answer>,
    /// Some answer's request ended before the one started before it: a server
    /// answers a connection's requests in turn, so this is not expected, but then
    /// [`ConnLog::answer`] cannot bisect.
    answers_unordered: bool,
    /// Highest send offset seen and receive edge, for unwrapping sequence numbers.
    sent_max: u64,
    edge: u64,
    acked: u64,
    last_event: u64,
    /// Its application closed it (or it was reset): once idle it can go.
    closed: bool,
}

/// A time as the hosts' clocks saw it: they count whole microseconds (smoltcp's
/// `Instant`), and a transaction's moments are read off them, so the walk measures
/// everything on that clock and its causes add up to the transaction's total
/// exactly. The link's own times are finer (a 40-byte frame takes 320 ns at
/// 1 Gbit/s); on this clock a stage shorter than a microsecond can round to 0.
pub(super) fn host_clock(ns: u64) -> u64 {
    ns / 1000 * 1000
}

/// Offset of `seq` in a stream whose first byte has sequence number `base`,
/// taking the 32-bit value nearest to `near` (sequence numbers wrap every 4 GiB).
fn unwrap(base: u32, seq: u32, near: u64) -> u64 {
    let low = u64::from(seq.wrapping_sub(base));
    let candidate = (near & !0xFFFF_FFFF) | low;
    let span = 1u64 << 32;
    if candidate + span / 2 < near {
        candidate + span
    } else if candidate > near + span / 2 && candidate >= span {
        candidate - span
    } else {
        candidate
    }
}

impl ConnLog {
    /// The state a time series says held at `at` (its latest entry at or before).
    pub(super) fn state_at<T: Copy + Default>(series: &[(u64, T)], at: u64) -> T {
        let i = series.partition_point(|(t, _)| *t <= at);
        if i == 0 {
            T::default()
        } else {
            series[i - 1].1
        }
    }

    /// When the byte at stream offset `offset` was written (`None` if the log no
    /// longer or not yet knows).
    pub(super) fn written_at(&self, offset: u64) -> Option<u64> {
        let i = self.writes.partition_point(|(_, end)| *end <= offset);
        self.writes.get(i).map(|(at, _)| *at)
    }

    /// The first transmission that carried stream offset `offset`.
    pub(super) fn first_sent(&self, offset: u64) -> Option<&Sent> {
        // No segment before the first to reach past `offset` carried it.
        let from = self.reach.partition_point(|r| *r <= offset);
        self.sent
            .get(from..)?
            .iter()
            .find(|s| s.len > 0 && s.start <= offset && offset < s.end())
    }

    /// A segment left: after every segment sent before it.
    pub(super) fn record_sent(&mut self, sent: Sent) {
        let before = self.reach.last().copied().unwrap_or(0);
        let reach = if sent.len > 0 {
            before.max(sent.end())
        } else {
            before
        };
        self.reach.push(reach);
        self.sent.push(sent);
    }

    /// What the link did with `sent[index]`.
    pub(super) fn set_stage(&mut self, index: usize, stage: Stage) {
        let Some(sent) = self.sent.get_mut(index) else {
            return;
        };
        let was_lost = sent.link.is_some_and(|l| l.arrival.is_none());
        sent.link = Some(stage);
        if stage.arrival.is_none() && !was_lost {
            self.lost.push(sent.frame);
        }
    }

    /// When the peer first acknowledged everything before `offset`.
    pub(super) fn acked_at(&self, offset: u64) -> Option<u64> {
        let i = self.acks.partition_point(|(_, a)| *a < offset);
        self.acks.get(i).map(|(at, _)| *at)
    }

    /// The advance that made the application able to read up to stream offset `end`
    /// (the edge only moves forward, so the advances are in edge order).
    pub(super) fn delivered(&self, end: u64) -> Option<Advance> {
        let i = self.advances.partition_point(|a| a.edge < end);
        self.advances.get(i).copied()
    }

    /// The server's latest answer to the request that ended at receive offset
    /// `request_end`.
    pub(super) fn answer(&self, request_end: u64) -> Option<Answer> {
        if self.answers_unordered {
            return self
                .answers
                .iter()
                .rev()
                .find(|a| a.request_end == request_end)
                .copied();
        }
        let i = self
            .answers
            .partition_point(|a| a.request_end <= request_end);
        let latest = self.answers.get(i.checked_sub(1)?)?;
        (latest.request_end == request_end).then_some(*latest)
    }

    fn push_answer(&mut self, answer: Answer) {
        if self
            .answers
            .last()
            .is_some_and(|a| a.request_end > answer.request_end)
        {
            self.answers_unordered = true;
        }
        self.answers.push(answer);
    }

    /// The segment sent as frame `frame`.
    pub(super) fn by_frame(&self, frame: u64) -> Option<&Sent> {
        let i = self.sent.partition_point(|s| s.frame < frame);
        self.sent.get(i).filter(|s| s.frame == frame)
    }

    /// Drop what happened before `watermark`, keeping the state each time series
    /// was in then. Every list is in time order (the trace is), so what goes is a
    /// prefix, found by bisection: a pruning that drops nothing costs next to nothing
    /// however long the logs.
    pub(super) fn prune(&mut self, watermark: u64) {
        fn keep_state<T: Copy>(series: &mut Vec<(u64, T)>, watermark: u64) {
            let i = series.partition_point(|(t, _)| *t < watermark);
            if i > 1 {
                series.drain(..i - 1);
            }
        }
        fn drop_before<T>(list: &mut Vec<T>, watermark: u64, at: impl Fn(&T) -> u64) {
            let i = list.partition_point(|x| at(x) < watermark);
            list.drain(..i);
        }
        self.prune_sent(watermark);
        drop_before(&mut self.advances, watermark, |a| a.at);
        keep_state(&mut self.writes, watermark);
        keep_state(&mut self.holds, watermark);
        keep_state(&mut self.owed, watermark);
        keep_state(&mut self.acks, watermark);
        keep_state(&mut self.port_waits, watermark);
        drop_before(&mut self.syns, watermark, |t| *t);
        drop_before(&mut self.syns_in, watermark, |(t, _)| *t);
        drop_before(&mut self.answers, watermark, |a| a.started);
    }

    /// Drop the segments sent before `watermark`, and with them their losses.
    fn prune_sent(&mut self, watermark: u64) {
        let gone = self.sent.partition_point(|s| s.at < watermark);
        if gone == 0 {
            return;
        }
        self.sent.drain(..gone);
        self.reach.drain(..gone);
        // Frames are numbered in the order they left.
        match self.sent.first() {
            Some(first) => self.lost.retain(|f| *f >= first.frame),
            None => self.lost.clear(),
        }
    }

    /// Send offset of `seq`, once our ISN is known.
    fn send_offset(&self, seq: u32) -> Option<u64> {
        Some(unwrap(self.iss?.wrapping_add(1), seq, self.sent_max))
    }

    /// Receive offset of `seq`, once the peer's ISN is known.
    fn receive_offset(&self, seq: u32) -> Option<u64> {
        Some(unwrap(self.irs?.wrapping_add(1), seq, self.edge))
    }

    fn segment_out(&mut self, at: u64, frame: u64, seg: &SegmentInfo, why: SendReason) {
        if why == SendReason::DelayedAck {
            if let Some(since) = self.owed_since.take() {
                self.owed.push((since, true));
                self.owed.push((at, false));
            }
        }
        if seg.syn {
            self.iss.get_or_insert(seg.seq);
            self.syns.push(at);
        }
        if let Some(ack) = seg.ack.and_then(|a| self.receive_offset(a)) {
            // smoltcp acknowledges data it had reassembled beyond a hole as soon as
            // the hole is filled: the edge jumps with the segment that filled it.
            if ack > self.edge && self.irs.is_some() {
                self.edge = ack;
                match self.advances.last_mut() {
                    Some(last) if last.at == at => last.edge = last.edge.max(ack),
                    _ => self.advances.push(Advance {
                        at,
                        edge: ack,
                        from: None,
                    }),
                }
            }
        }
        let start = if seg.syn {
            0
        } else {
            match self.send_offset(seg.seq) {
                Some(o) => o,
                None => return,
            }
        };
        let len = u64::from(seg.len);
        self.sent_max = self.sent_max.max(start + len);
        self.record_sent(Sent {
            at,
            frame,
            start,
            len,
            why,
            link: None,
        });
    }

    fn segment_in(&mut self, at: u64, from: Option<FrameRef>, seg: &SegmentInfo, rcv_nxt: u32) {
        if seg.rst {
            self.closed = true;
            return;
        }
        if seg.syn {
            self.irs.get_or_insert(seg.seq);
            self.syns_in.push((at, from));
        }
        if let Some(acked) = seg.ack.and_then(|a| self.send_offset(a)) {
            if acked > self.acked || self.acks.is_empty() {
                self.acked = acked;
                self.acks.push((at, acked));
            }
        }
        if seg.len > 0 || seg.fin {
            if let Some(edge) = self.receive_offset(rcv_nxt) {
                if edge > self.edge {
                    self.edge = edge;
                    self.advances.push(Advance { at, edge, from });
                }
            }
        }
    }
}

/// Every connection's log, and where to find each.
#[derive(Default)]
pub(super) struct Logs {
    pub(super) conns: HashMap<Key, ConnLog>,
    by_tuple: HashMap<(Endpoint, Endpoint), Key>,
    /// Frames sent in the round being read, so its link events find them.
    round_frames: HashMap<(usize, u64), (ConnId, usize)>,
}

impl Logs {
    pub(super) fn get(&self, key: Key) -> Option<&ConnLog> {
        self.conns.get(&key)
    }

    /// The connection at the other end of `key`'s.
    pub(super) fn peer(&self, key: Key) -> Option<Key> {
        let (local, remote) = self.conns.get(&key)?.tuple?;
        self.by_tuple.get(&(remote, local)).copied()
    }

    pub(super) fn ingest(&mut self, e: &Event) {
        let at = host_clock(e.at_ns);
        let host = e.host;
        match &e.kind {
            EventKind::Open {
                conn,
                local,
                remote,
                ..
            } => {
                let log = self.conns.entry((host, *conn)).or_default();
                log.tuple = Some((*local, *remote));
                log.last_event = at;
                self.by_tuple.insert((*local, *remote), (host, *conn));
            }
            EventKind::SynCookie { conn, iss, irs } => {
                // The handshake the cookie stood for is not in this log: its
                // sequence numbers come from the cookie.
                let log = self.log(host, *conn, at);
                log.iss.get_or_insert(*iss);
                log.irs.get_or_insert(*irs);
            }
            EventKind::SegmentOut {
                conn,
                frame,
                seg,
                why,
            } => {
                let log = self.log(host, *conn, at);
                log.segment_out(at, *frame, seg, *why);
                if log.sent.last().is_some_and(|s| s.frame == *frame) {
                    let index = log.sent.len() - 1;
                    self.round_frames.insert((host, *frame), (*conn, index));
                }
            }
            // Sent for no connection: nothing of a transaction waits on it (a cookie
            // connection's handshake is placed by its `SynCookie` event).
            EventKind::StatelessSegmentOut { .. } => {}
            EventKind::SegmentIn {
                conn,
                from,
                seg,
                rcv_nxt,
            } => self
                .log(host, *conn, at)
                .segment_in(at, *from, seg, *rcv_nxt),
            EventKind::AppWrite { conn, end, .. } => {
                self.log(host, *conn, at).writes.push((at, *end))
            }
            EventKind::AppClose { conn, write_only } => {
                if !write_only {
                    self.log(host, *conn, at).closed = true;
                }
            }
            EventKind::Hold { conn, hold } => self.log(host, *conn, at).holds.push((at, *hold)),
            EventKind::AckOwed { conn, owed } => {
                let log = self.log(host, *conn, at);
                log.owed_since = owed.then_some(at);
            }
            EventKind::PortWait { conn, waiting } => {
                self.log(host, *conn, at).port_waits.push((at, *waiting))
            }
            EventKind::Link {
                frame,
                serialization_start_ns,
                serialization_end_ns,
                fate,
                ..
            } => {
                let Some(&(conn, index)) = self.round_frames.get(&(host, *frame)) else {
                    return;
                };
                let arrival = match fate {
                    LinkFate::Delivered { arrival_ns } => Some(*arrival_ns),
                    _ => None,
                };
                if let Some(log) = self.conns.get_mut(&(host, conn)) {
                    log.set_stage(
                        index,
                        Stage {
                            serialization_start: host_clock(*serialization_start_ns),
                            serialization_end: host_clock(*serialization_end_ns),
                            arrival: arrival.map(host_clock),
                        },
                    );
                }
            }
            EventKind::Http {
                conn: Some(conn),
                event,
                ..
            } => match *event {
                HttpEvent::ProcessingStarted { request_end } => {
                    self.log(host, *conn, at).push_answer(Answer {
                        request_end,
                        started: at,
                        head: None,
                    });
                }
                HttpEvent::ResponseHead { request_end, start } => {
                    let log = self.log(host, *conn, at);
                    if let Some(a) = log
                        .answers
                        .iter_mut()
                        .rev()
                        .find(|a| a.request_end == request_end)
                    {
                        a.head = Some((at, start));
                    }
                }
                _ => {}
            },
            EventKind::Http { conn: None, .. }
            | EventKind::AppRead { .. }
            | EventKind::TimeWait { .. } => {}
        }
    }

    fn log(&mut self, host: usize, conn: ConnId, at: u64) -> &mut ConnLog {
        let log = self.conns.entry((host, conn)).or_default();
        log.last_event = at;
        log
    }

    pub(super) fn end_of_round(&mut self) {
        self.round_frames.clear();
    }

    /// Drop what happened before `watermark`, keeping the state each time series
    /// was in then; connections closed (or never opened in the trace) and idle
    /// since go altogether.
    pub(super) fn prune(&mut self, watermark: u64) {
        let mut gone = Vec::new();
        for (key, log) in self.conns.iter_mut() {
            if (log.closed || log.tuple.is_none()) && log.last_event < watermark {
                gone.push(*key);
                continue;
            }
            log.prune(watermark);
        }
        for key in gone {
            if let Some(log) = self.conns.remove(&key) {
                if let Some(tuple) = log.tuple {
                    if self.by_tuple.get(&tuple) == Some(&key) {
                        self.by_tuple.remove(&tuple);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 500,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0xa5_5e7),
            ..ProptestConfig::default()
        })]

        /// Bisecting the answers finds the latest answer to a request, as a scan from
        /// the end does, whether or not the server answered in turn.
        #[test]
        fn answer_is_the_latest_to_its_request(
            mut ends in prop::collection::vec(0u64..60, 0..40),
            in_turn in any::<bool>(),
            asked in prop::collection::vec(0u64..62, 1..20),
        ) {
            if in_turn {
                ends.sort_unstable();
            }
            let mut log = ConnLog::default();
            for (started, request_end) in ends.into_iter().enumerate() {
                log.push_answer(Answer { request_end, started: started as u64, head: None });
            }
            for end in asked {
                let scan = log.answers.iter().rev().find(|a| a.request_end == end);
                prop_assert_eq!(log.answer(end).map(|a| a.started), scan.map(|a| a.started));
            }
        }
    }

    #[test]
    fn sequence_numbers_unwrap_past_four_gib() {
        assert_eq!(unwrap(100, 150, 0), 50);
        assert_eq!(unwrap(u32::MAX - 9, 5, 0), 15);
        // Past 4 GiB of stream: the offset keeps growing.
        let near = (1u64 << 32) - 10;
        assert_eq!(unwrap(0, 5, near), (1u64 << 32) + 5);
        assert_eq!(
            unwrap(0, u32::MAX - 20, (1u64 << 32) + 5),
            (1u64 << 32) - 21
        );
    }
}
