//! The critical-path walk (see the parent module's docs for the rules).

use tcpknobs_http::transaction::Transaction;
use tcpknobs_stack::trace::Hold;
use tcpknobs_stack::Instant;

use super::log::{ConnLog, Key, Logs, Sent};
use super::{Blame, Blamed, Cause, TxLog};
use tcpknobs_http::blame::BlameSpan;

/// The cursor that moves backwards from a transaction's end, blaming each stretch
/// it passes on one cause. It never goes before the start or forwards again, so
/// whatever the trace says, the causes add up to end - start exactly.
struct Walk {
    start: u64,
    cursor: u64,
    blame: Blame,
    /// The stretches passed, latest first; adjacent ones of one cause merged.
    spans: Vec<BlameSpan>,
}

impl Walk {
    /// Blame the time from `t` up to the cursor on `cause`, and move there.
    fn back_to(&mut self, t: u64, cause: Cause) {
        let t = t.clamp(self.start, self.cursor);
        if t == self.cursor {
            return;
        }
        self.blame.add(cause, self.cursor - t);
        match self.spans.last_mut() {
            Some(last) if last.cause == cause && last.start_ns == self.cursor => last.start_ns = t,
            _ => self.spans.push(BlameSpan {
                start_ns: t,
                end_ns: self.cursor,
                cause,
            }),
        }
        self.cursor = t;
    }

    /// Blame what is left, down to the start.
    fn rest(mut self, cause: Cause) -> Blamed {
        self.back_to(self.start, cause);
        self.spans.reverse();
        Blamed {
            blame: self.blame,
            spans: self.spans,
        }
    }
}

fn ns(t: Instant) -> u64 {
    u64::try_from(t.total_micros()).unwrap_or(0) * 1000
}

/// The blame of one finished transaction.
pub(super) fn blame(logs: &Logs, t: &Transaction, log: &TxLog) -> Option<Blamed> {
    let timing = &t.timing;
    let start = ns(timing.queued?);
    let end = ns(timing.done?);
    let mut walk = Walk {
        start,
        cursor: end.max(start),
        blame: Blame::default(),
        spans: Vec::new(),
    };
    let before_dispatch = if t.retries > 0 {
        Cause::Retry
    } else {
        Cause::Queued
    };
    let Some(connect_start) = timing.connect_start.map(ns) else {
        return Some(walk.rest(before_dispatch));
    };
    let client = log.conn;
    if t.error.is_none() && t.status.is_some() {
        if let Some(client) = client {
            response(logs, client, log, &mut walk);
        }
    } else {
        // It failed: what came after its last moment of progress is the failure's.
        let progress = [timing.first_byte, timing.request_sent, timing.connected]
            .into_iter()
            .flatten()
            .map(ns)
            .max();
        match progress {
            Some(p) => walk.back_to(p, Cause::Failure),
            None => {
                // It never connected: the SYNs went unanswered, or no port came.
                if let Some(key) = client {
                    connect(logs, key, connect_start, end, false, &mut walk);
                }
            }
        }
        if let (Some(key), Some(_)) = (client, timing.first_byte) {
            // It failed while the response arrived: the response so far as usual.
            response(logs, key, log, &mut walk);
        } else if let (Some(key), Some(_)) = (client, timing.request_sent) {
            request(logs, key, log, &mut walk);
        }
    }
    if let (Some(key), Some(connected)) = (client, timing.connected.map(ns)) {
        // Between connecting and writing the last request byte: the writer waited
        // on the connection (a big request body meeting the window).
        let written = timing.request_sent.map(ns).unwrap_or(connected);
        if walk.cursor > written {
            walk.back_to(written, Cause::Other);
        }
        blocked_writer(logs, key, connected, &mut walk);
        connect(logs, key, connect_start, connected, true, &mut walk);
    }
    walk.back_to(connect_start, Cause::Other);
    Some(walk.rest(before_dispatch))
}

/// The response's part, from the transaction's end back to when the client's
/// request reached the server.
fn response(logs: &Logs, client: Key, log: &TxLog, walk: &mut Walk) {
    let Some(server) = logs.peer(client) else {
        return unseen_peer(logs, client, log, walk);
    };
    let (Some(client_log), Some(server_log)) = (logs.get(client), logs.get(server)) else {
        return;
    };
    // 1. The segment that made the last byte readable.
    let i = client_log.advances.partition_point(|a| a.at <= walk.cursor);
    let Some(advance) = i.checked_sub(1).map(|i| client_log.advances[i]) else {
        return;
    };
    let answer = log.request_end.and_then(|end| {
        server_log
            .answers
            .iter()
            .rev()
            .find(|a| a.request_end == end)
            .copied()
    });
    let critical = advance
        .from
        .filter(|f| f.host == server.0)
        .and_then(|f| server_log.by_frame(f.frame));
    if let Some(seg) = critical {
        deliver(server_log, logs.get(client), seg, advance.edge, walk);
    }
    // 3. The server's answer.
    if let Some(answer) = answer {
        if let Some((head_at, _)) = answer.head {
            // The body's last bytes may have been written well after the head, the
            // writer waiting for room in the send buffer.
            blocked_writer(logs, server, head_at, walk);
            walk.back_to(head_at, Cause::Other);
        }
        walk.back_to(answer.started, Cause::Server);
        // Before the server started: the request was complete at the server and
        // waited behind earlier ones (or it was still arriving: step 4).
        let arrived = server_log.delivered(answer.request_end).map(|a| a.at);
        if let Some(arrived) = arrived {
            walk.back_to(arrived, Cause::Queued);
        }
    } else {
        // No server-side record (a proxy in front): its whole share is the server's.
        let arrived = log
            .request_end
            .and_then(|end| server_log.delivered(end))
            .map(|a| a.at);
        if let Some(arrived) = arrived {
            walk.back_to(arrived, Cause::Server);
        }
    }
    request(logs, client, log, walk);
}

/// A peer the trace does not show (a real server over a TAP): from the transaction's
/// end back to the moment the request's last byte left us is the peer's (`peer`);
/// before that, our side as usual: a retransmission of that byte, and what held it.
fn unseen_peer(logs: &Logs, client: Key, log: &TxLog, walk: &mut Walk) {
    let (Some(client_log), Some(end)) = (logs.get(client), log.request_end) else {
        return;
    };
    let last = end.saturating_sub(1);
    let Some(seg) = client_log
        .sent
        .iter()
        .rev()
        .find(|s| s.len > 0 && s.start <= last && last < s.end() && s.at <= walk.cursor)
    else {
        return;
    };
    walk.back_to(seg.at, Cause::Peer);
    let first = client_log.first_sent(seg.start).map_or(seg.at, |s| s.at);
    if first < seg.at {
        walk.back_to(first, Cause::LossRecovery);
    }
    if let Some(ready) = client_log.written_at(last) {
        held(client_log, None, ready, walk);
    }
}

/// The request's part: from its arrival at the server back to when it was written.
fn request(logs: &Logs, client: Key, log: &TxLog, walk: &mut Walk) {
    let (Some(server), Some(end)) = (logs.peer(client), log.request_end) else {
        return;
    };
    let (Some(client_log), Some(server_log)) = (logs.get(client), logs.get(server)) else {
        return;
    };
    let Some(advance) = server_log.delivered(end) else {
        return;
    };

    // Blame the gap down to the arrival first, in case the cursor is above it.
    walk.back_to(advance.at, Cause::Other);
    let critical = advance
        .from
        .filter(|f| f.host == client.0)
        .and_then(|f| client_log.by_frame(f.frame));
    if let Some(seg) = critical {
        deliver(client_log, Some(server_log), seg, end, walk);
    }
}

/// Steps 1 and 2 for one segment `seg` of `sender` that completed a delivery up to
/// stream offset `upto` (exclusive): its trip, its retransmission, its hold.
fn deliver(sender: &ConnLog, receiver: Option<&ConnLog>, seg: &Sent, upto: u64, walk: &mut Walk) {
    if let Some(stage) = seg.link {
        let arrival = stage.arrival.unwrap_or(walk.cursor);
        walk.back_to(arrival, Cause::Other);
        walk.back_to(stage.serialization_end, Cause::Propagation);
        walk.back_to(stage.serialization_start, Cause::Serialization);
        walk.back_to(seg.at, Cause::LinkQueue);
    } else {
        walk.back_to(seg.at, Cause::Other);
    }
    if seg.len == 0 {
        return;
    }
    let first = sender.first_sent(seg.start).map_or(seg.at, |s| s.at);
    if seg.is_retransmission() || first < seg.at {
        walk.back_to(first, Cause::LossRecovery);
    }
    // The segment could leave only once its last byte (of those needed) was written.
    let last = seg.end().min(upto.max(seg.start + 1)) - 1;
    let Some(ready) = sender.written_at(last) else {
        return;
    };
    held(sender, receiver, ready, walk);
}

/// Blame `[from, cursor]` instant by instant on what held the sender's data then.
fn held(sender: &ConnLog, receiver: Option<&ConnLog>, from: u64, walk: &mut Walk) {
    if from >= walk.cursor {
        return;
    }
    let losses = loss_intervals(sender);
    let mut points: Vec<u64> = Vec::new();
    let within = |t: u64| t > from && t < walk.cursor;
    points.extend(sender.holds.iter().map(|(t, _)| *t).filter(|t| within(*t)));
    if let Some(r) = receiver {
        points.extend(r.owed.iter().map(|(t, _)| *t).filter(|t| within(*t)));
    }
    for (a, b) in &losses {
        points.extend([*a, *b].into_iter().filter(|t| within(*t)));
    }
    for s in sender.sent.iter().filter(|s| s.at < walk.cursor) {
        points.extend([s.at].into_iter().filter(|t| within(*t)));
        if let Some(stage) = s.link {
            points.extend(
                [stage.serialization_start, stage.serialization_end]
                    .into_iter()
                    .chain(stage.arrival)
                    .filter(|t| within(*t)),
            );
        }
    }
    points.sort_unstable();
    points.dedup();
    for &p in points.iter().rev().chain(std::iter::once(&from)) {
        let cause = cause_at(sender, receiver, &losses, p);
        walk.back_to(p, cause);
    }
}

/// Between `from` (when the writer could start) and the cursor, the writer was
/// still writing: blame its waits as a hold (a full send buffer drains as fast as
/// the window and the link allow).
fn blocked_writer(logs: &Logs, key: Key, from: u64, walk: &mut Walk) {
    let Some(log) = logs.get(key) else {
        return;
    };
    let peer = logs.peer(key).and_then(|p| logs.get(p));
    held(log, peer, from, walk);
}

/// What held the sender's data at instant `at`.
fn cause_at(sender: &ConnLog, receiver: Option<&ConnLog>, losses: &[(u64, u64)], at: u64) -> Cause {
    if losses.iter().any(|(a, b)| *a <= at && at < *b) {
        return Cause::LossRecovery;
    }
    let owed = receiver.is_some_and(|r| ConnLog::state_at(&r.owed, at));
    let waiting_for_ack = |cause: Cause| if owed { Cause::DelayedAck } else { cause };
    match ConnLog::state_at(&sender.holds, at) {
        Some(Hold::CongestionWindow) => waiting_for_ack(Cause::SlowStart),
        Some(Hold::ReceiveWindow) => waiting_for_ack(Cause::ReceiveWindow),
        Some(Hold::Nagle | Hold::Minshall) => waiting_for_ack(Cause::Nagle),
        Some(Hold::Handshake) => Cause::Handshake,
        Some(Hold::Cork | Hold::Other) => Cause::Other,
        Some(Hold::SendBuffer) | None => waiting_for_ack(link_stage(sender, at)),
    }
}

/// Where the sender's latest frames were at `at`: queued, being serialized, or on
/// their way (or their ACKs on theirs).
fn link_stage(sender: &ConnLog, at: u64) -> Cause {
    let i = sender.sent.partition_point(|s| s.at <= at);
    for s in sender.sent[..i].iter().rev().take(64) {
        let Some(stage) = s.link else { continue };
        if at < stage.serialization_start {
            return Cause::LinkQueue;
        }
        if at < stage.serialization_end {
            return Cause::Serialization;
        }
    }
    Cause::Propagation
}

/// The stretches during which one of the sender's data segments was lost and not
/// yet acknowledged: from its transmission to the ACK that covered it.
fn loss_intervals(sender: &ConnLog) -> Vec<(u64, u64)> {
    sender
        .sent
        .iter()
        .filter(|s| s.len > 0 && s.link.is_some_and(|l| l.arrival.is_none()))
        .map(|s| (s.at, sender.acked_at(s.end()).unwrap_or(u64::MAX)))
        .collect()
}

/// The handshake's part, `[connect_start, until]`. Followed backwards like the
/// rest: the SYN-ACK that connected and the SYN it answered are the `handshake`'s
/// round trip; before that SYN left, earlier SYNs went unanswered, and while the
/// server retransmitted its SYN-ACK on its own timer, one was lost: both are
/// `syn_retransmit`. A handshake that never completed is `syn_retransmit` from its
/// first SYN. Before the first SYN, the connection waited for a port, or for ARP.
fn connect(
    logs: &Logs,
    key: Key,
    connect_start: u64,
    until: u64,
    connected: bool,
    walk: &mut Walk,
) {
    walk.back_to(until, Cause::Other);
    let Some(log) = logs.get(key) else {
        return;
    };
    let own = log.syns_in.iter().any(|(t, _)| *t >= connect_start);
    // This transaction's own handshake (not one a reused connection had).
    if connected && own && !answered_syn(logs, key, log, connect_start, walk) {
        // The peer's side is not in the trace: the last SYN's round trip connected.
        if let Some(&last) = log.syns.iter().rev().find(|t| **t <= walk.cursor) {
            walk.back_to(last.max(connect_start), Cause::Handshake);
        }
    }
    let first_syn = log.syns.iter().copied().find(|t| *t >= connect_start);
    if let Some(first) = first_syn {
        walk.back_to(first, Cause::SynRetransmit);
    }
    // Before the first SYN: waiting for a port, or (over a TAP) for ARP to find
    // the next hop, which is part of connecting.
    let waited = log.port_waits.iter().any(|(t, w)| *w && *t <= walk.cursor);
    walk.back_to(
        connect_start,
        if waited {
            Cause::PortWait
        } else {
            Cause::Handshake
        },
    );
}

/// The round trip that connected: back from the SYN-ACK that arrived to the SYN it
/// answered, with the server's SYN-ACK retransmissions in between.
/// False if the trace does not show the peer's side, and nothing was blamed.
fn answered_syn(logs: &Logs, key: Key, log: &ConnLog, floor: u64, walk: &mut Walk) -> bool {
    let i = log.syns_in.partition_point(|(t, _)| *t <= walk.cursor);
    let Some((_, Some(from))) = i.checked_sub(1).map(|i| log.syns_in[i]) else {
        return false;
    };
    let Some(server) = logs.peer(key).filter(|p| p.0 == from.host) else {
        return false;
    };
    let Some(server_log) = logs.get(server) else {
        return false;
    };
    let Some(syn_ack) = server_log.by_frame(from.frame) else {
        return false;
    };
    walk.back_to(syn_ack.at.max(floor), Cause::Handshake);
    // The SYN the server had when it sent this SYN-ACK.
    let j = server_log
        .syns_in
        .partition_point(|(t, _)| *t <= syn_ack.at);
    let Some((arrived, Some(syn))) = j.checked_sub(1).map(|j| server_log.syns_in[j]) else {
        return true;
    };
    walk.back_to(arrived.max(floor), Cause::SynRetransmit);
    if let Some(sent) = log.by_frame(syn.frame) {
        walk.back_to(sent.at.max(floor), Cause::Handshake);
    }
    true
}
