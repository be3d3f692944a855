//! Latency blame: every nanosecond of a transaction, from the moment its request was
//! queued to the moment its last response byte was read, attributed to exactly one
//! cause.
//!
//! ## How time is attributed
//!
//! The attribution follows the transaction's critical path backwards from its end,
//! through the event trace ([`tcpknobs_stack::trace`]):
//!
//! 1. The last response byte became readable when a segment arrived and moved the
//!    client's in-order receive edge past it. That segment's trip is split as the
//!    link made it: `link_queue` (waiting behind earlier frames), `serialization`,
//!    `propagation`.
//! 2. Before it left, it was a retransmission or it was held. From the first
//!    transmission of its bytes to the one that arrived is `loss_recovery`. From the
//!    moment its bytes were written to their first transmission, the sender held
//!    them, and each instant of the hold is blamed on what held them then: the
//!    congestion window (`slow_start`), the peer's receive window
//!    (`receive_window`), Nagle or Minshall (`nagle`). Two overlays take
//!    precedence: while one of the sender's segments is lost and not yet
//!    acknowledged, waiting is `loss_recovery`; while the receiver owes an ACK that
//!    its delayed-ACK timer is holding, a sender that waits for an ACK waits on
//!    that timer: `delayed_ack`. Only a debt the timer settled counts: data that
//!    waits for its ACK until the next segment arrives (every second full
//!    segment) is not held by the timer.
//! 3. Before its bytes were written, the server was answering: from the moment it
//!    started on the request to its response head is `server` (processing, e.g.
//!    `--server-delay`); before that, from the moment the request was complete at
//!    the server, it waited behind earlier requests on the connection: `queued`
//!    (head-of-line blocking).
//! 4. The request reached the server the same way (steps 1 and 2, on the client's
//!    side of the connection).
//! 5. The handshake, followed the same way: the SYN-ACK that connected and the SYN
//!    it answered are the `handshake`'s round trip; before that SYN left, earlier
//!    SYNs went unanswered, and while the server resent its SYN-ACK on its own
//!    timer one was lost: `syn_retransmit` (lost SYNs or SYN-ACKs, a full
//!    backlog). Before the first SYN, `port_wait` while no ephemeral port was
//!    free; over a TAP, ARP finding the next hop is part of the `handshake`.
//! 6. Before it had a connection, the transaction waited for a connection slot or
//!    behind earlier transactions: `queued` (`retry` if it had been sent before on
//!    a connection that failed).
//!
//! The walk moves a cursor backwards and every step only moves it further back,
//! never before the start: the causes always add up to the total, to the
//! nanosecond.
//!
//! ### Why Nagle's wait splits into `nagle` and `delayed_ack`
//!
//! Nagle holds a small segment until the data before it is acknowledged. If the
//! receiver acknowledged at once, that costs one round trip; if it delays its ACK
//! (200 ms by default in the book), the sender waits the round trip plus the
//! timer. The time during which the receiver held the ACK is `delayed_ack`: remove
//! the timer and it goes away. The rest, the round trip any ACK needs, is
//! `nagle`: only turning Nagle off removes it. A request in two writes with a
//! 200 ms delayed ACK on a 100 ms round trip spends 300 ms held: 200 ms
//! `delayed_ack`, 100 ms `nagle`.
//!
//! ### What is not in a transaction
//!
//! Think time (`--think-time`) passes before a request is issued, so it is never
//! part of a transaction's time. Behind a proxy, everything between the proxy
//! having the request and it starting the response (the upstream exchange
//! included) is `server`.
//!
//! ### Over a TAP
//!
//! Only our host is traced: a real server's TCP and the real network are not. The
//! walk blames what our side can see, our handshake (SYN retransmissions, the round
//! trip that connected), our holds on the request (Nagle, the windows), our
//! retransmissions of it, and calls the rest what it is: from the moment the
//! request's last byte left us to the response's last byte, `peer`.

mod log;
mod path;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

pub use tcpknobs_http::blame::{Blame, BlameSpan, Cause};
use tcpknobs_http::transaction::Transaction;
use tcpknobs_stack::trace::{Event, EventKind, HttpEvent, Tracer};
use tcpknobs_stack::ConnId;

use log::Logs;

/// A transaction's blame: the time per cause, and the stretches it was made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blamed {
    /// Time per cause.
    pub blame: Blame,
    /// The stretches, contiguous and in time order from `queued` to `done`.
    pub spans: Vec<BlameSpan>,
}

/// What the client's HTTP layer said of one transaction.
#[derive(Clone, Copy, Debug, Default)]
struct TxLog {
    /// The host and connection it was last given.
    conn: Option<(usize, ConnId)>,
    /// When it was last given one, ns.
    dispatched_at: u64,
    /// Client send-stream offset after the request, once its last byte was offered.
    request_end: Option<u64>,
}

/// Reads the trace as it is drained and blames each finished transaction on it.
/// Keeps only what transactions still under way can need, so its memory follows
/// live state.
#[derive(Default)]
pub struct Blamer {
    logs: Logs,
    txs: HashMap<usize, TxLog>,
    /// How many of `txs` were given their connection at each moment: the earliest is
    /// what pruning keeps, and a deep pipeline has thousands of transactions under
    /// way, too many to look through at every pruning.
    dispatched: BTreeMap<u64, usize>,
    /// Time of the latest event, ns.
    now: u64,
    events_since_prune: usize,
}

impl Tracer for Blamer {
    fn events(&mut self, events: &[Event]) {
        self.ingest(events);
    }
}

/// Prune once this many events arrived since the last pruning, or
/// [`PRUNE_PER_CONNECTION`] times the connections logged if that is more: a pruning
/// visits every connection's log, so with thousands open a fixed interval would make
/// each event cost in proportion to them.
const PRUNE_EVERY: usize = 4096;
/// See [`PRUNE_EVERY`].
const PRUNE_PER_CONNECTION: usize = 4;

impl Blamer {
    /// An empty blamer.
    pub fn new() -> Blamer {
        Blamer::default()
    }

    /// Take in events, in order.
    pub fn ingest(&mut self, events: &[Event]) {
        for e in events {
            self.now = self.now.max(e.at_ns);
            if let EventKind::Http {
                conn,
                tx: Some(tx),
                event,
            } = &e.kind
            {
                self.http(log::host_clock(e.at_ns), e.host, *conn, *tx, *event);
            }
            self.logs.ingest(e);
        }
        self.logs.end_of_round();
        self.events_since_prune += events.len();
        let interval = PRUNE_EVERY.max(PRUNE_PER_CONNECTION * self.logs.conns.len());
        if self.events_since_prune >= interval {
            self.events_since_prune = 0;
            self.prune();
        }
    }

    fn http(&mut self, at: u64, host: usize, conn: Option<ConnId>, tx: usize, event: HttpEvent) {
        let log = self.txs.entry(tx).or_insert_with(|| {
            let fresh = TxLog::default();
            count(&mut self.dispatched, fresh.dispatched_at, true);
            fresh
        });
        match event {
            HttpEvent::Dispatched => {
                count(&mut self.dispatched, log.dispatched_at, false);
                count(&mut self.dispatched, at, true);
                log.conn = conn.map(|c| (host, c));
                log.dispatched_at = at;
                log.request_end = None;
            }
            HttpEvent::RequestSent { end } => log.request_end = Some(end),
            _ => {}
        }
    }

    /// The blame of a finished transaction (its `queued` and `done` known);
    /// `None` if it never was queued or never ended. Call once every event up to
    /// its end has been ingested; what it needed is then let go.
    pub fn blame(&mut self, transaction: &Transaction) -> Option<Blamed> {
        let log = match self.txs.remove(&transaction.id) {
            Some(log) => {
                count(&mut self.dispatched, log.dispatched_at, false);
                log
            }
            None => TxLog::default(),
        };
        path::blame(&self.logs, transaction, &log)
    }

    /// Forget what no transaction under way can need: everything before the
    /// earliest moment such a transaction was given its connection. A transaction
    /// that finished is under way until it has been blamed.
    fn prune(&mut self) {
        let watermark = self
            .dispatched
            .first_key_value()
            .map_or(self.now, |(at, _)| *at);
        self.logs.prune(watermark);
    }
}

/// Count one more (`add`) or one fewer transaction given its connection at `at`.
fn count(dispatched: &mut BTreeMap<u64, usize>, at: u64, add: bool) {
    if add {
        *dispatched.entry(at).or_default() += 1;
    } else if let Some(n) = dispatched.get_mut(&at) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            dispatched.remove(&at);
        }
    }
}
