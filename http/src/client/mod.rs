//! The client connection manager: a workload of requests, a strategy for connections.
//!
//! Strategies are policies of the manager, not flags inside a connection:
//! a [`Strategy`] says how many connections may be open at once, whether one may carry
//! more than one request, and whether requests may be sent before earlier responses
//! arrive. Each connection is a small state machine over the host's socket API:
//! connect, write requests (in `--request-writes` calls each), read and verify
//! responses in order (interim 1xx responses are read and skipped, RFC 9110 §15.2),
//! then reuse or close. The client closes first when it is done with a connection,
//! so its host holds the TIME_WAIT (chapter item 10); when the server has said it
//! closes (`Connection: close`, HTTP/1.0 without keep-alive), the client reads on
//! until the server's FIN (at most [`SERVER_FIN_WAIT`]), so the server, which closes
//! first, holds it. A close-delimited body ends at that FIN.
//!
//! Persistence is learned, never assumed (chapter items 17, 19): HTTP/1.1 persists
//! unless the server says `close`; HTTP/1.0 only when the server echoes keep-alive.
//! Pipelining starts only on a connection known to persist and never carries a
//! non-idempotent request (item 20). When a connection closes or resets before a
//! response is complete, idempotent requests are retried on a new connection and
//! others fail (item 23); every retry is counted.
//!
//! The client holds only what is alive: a transaction is made when its request is
//! issued (a listed workload's, up front) and handed to the client's [`Sink`] the
//! moment it finishes, so a run of a million requests on one connection holds a
//! transaction or two at a time. The default sink, a `Vec`, keeps every one.

// The code, one concern a file: `config` (`ClientConfig`, `Strategy`) is what the
// client is told; `conn` is one connection's state and `queue` the requests not on a
// connection yet. The `Client`'s work is split by concern: `issue` makes and issues
// transactions and hands finished ones to the sink, `dispatch` gives requests to
// connections and writes them, `drive` moves one connection, `response` reads its
// responses, and `settle` keeps the books after each drive. This file is the `Client`
// itself, its public API and its `Application::poll`.

mod config;
mod conn;
mod dispatch;
mod drive;
mod issue;
mod queue;
mod response;
mod settle;

use std::collections::{BTreeMap, BTreeSet};

use tcpknobs_stack::id_hash::IdHashMap;
use tcpknobs_stack::trace::HttpEvent;
use tcpknobs_stack::{Application, ConnId, Host, Instant};

pub use config::{ClientConfig, Strategy};
pub use conn::{ClientConnSummary, SERVER_FIN_WAIT};

use crate::message::LastHead;
use crate::transaction::{Transaction, TransactionError};
use crate::wakeups::Wakeups;
use crate::workload::{RequestSpec, Shape, Workload};
use conn::ClientConn;
use queue::{Queue, Unissued};

/// Where the client puts each transaction once it has finished, successfully or not:
/// the client forgets it then, so what a run keeps of its transactions is the sink's
/// choice.
pub trait Sink {
    /// `transaction` has finished (its `timing.done` is set); it is the sink's now.
    fn finished(&mut self, transaction: Transaction);
}

/// Keep every transaction, in the order they finished.
impl Sink for Vec<Transaction> {
    fn finished(&mut self, transaction: Transaction) {
        self.push(transaction);
    }
}

/// The client application. `S` receives every transaction once it has finished; the
/// default keeps them all ([`Client::transactions`]).
pub struct Client<S = Vec<Transaction>> {
    config: ClientConfig,
    /// The `Host` field of every request: the server's address, formatted once.
    host: String,
    /// The latest request head written, by workload spec (`Workload::spec_index`).
    head: LastHead<usize>,
    workload: Workload,
    sink: S,
    /// The transactions made and not yet finished, by id (workload position). A
    /// finished one stays only until the end of the poll step that finished it.
    /// Boxed: a transaction is large, and small map nodes keep the lookups that
    /// every poll makes per connection cheap.
    live: BTreeMap<usize, Box<Transaction>>,
    /// Transactions that finished since they were last handed to the sink.
    finished: Vec<usize>,
    /// Requests that other requests wait for (a listed workload's).
    awaited: BTreeSet<usize>,
    /// How awaited requests that were handed to the sink ended: when, and whether
    /// they failed.
    outcomes: BTreeMap<usize, (Instant, bool)>,
    /// Requests not issued yet (each poll looks only at these).
    unissued: Unissued,
    /// Issued requests waiting for a connection, in order.
    queue: Queue,
    /// The connections not closed yet, by client connection index (the order they
    /// opened in, which is the order they are driven in: a pass takes its keys
    /// smallest first, and whatever picks among connections breaks ties by index).
    /// A hash map: with thousands open, a B-tree's lookups at every step of a drive
    /// cost more than the step. A connection closed in a pass leaves at the end of it.
    /// Boxed, as the server's are: the table then holds a pointer per connection, and
    /// growing it with thousands open moves pointers, not whole connections, into
    /// memory never touched before.
    conns: IdHashMap<usize, Box<ClientConn>>,
    /// The client connection index of each host connection in `conns`.
    by_id: IdHashMap<ConnId, usize>,
    /// The connections in `conns` that may take a request now (open for more and
    /// nothing outstanding), so that handing out a request does not look at every
    /// connection. A connection changes only when it is driven or given a request,
    /// and is looked at again after each (`Client::mark_ready`).
    ready: BTreeSet<usize>,
    /// Connections opened so far (the next one's index).
    opened: usize,
    /// What each closed connection carried, by index, for those kept (see
    /// [`Client::keep_summaries_below`]).
    closed: Vec<(usize, ClientConnSummary)>,
    keep_summaries_below: usize,
    /// Requests carried and responses completed by the connections in `conns`, and
    /// how many of those are only draining the server's FIN.
    carried_open: usize,
    answered_open: usize,
    draining: usize,
    /// Whether no request was queued or unissued at the end of the latest pass: the
    /// moment that becomes true, every idle connection closes.
    nothing_left_seen: bool,
    /// Which connections to drive (see `wakeups`).
    wakeups: Wakeups,
    /// What the latest poll answered.
    deadline: Option<Instant>,
    started: bool,
    /// Transactions handed to the sink since the last poll's trace: (connection,
    /// id, failed).
    done_trace: Vec<(Option<ConnId>, usize, bool)>,
    /// The connections closed in a poll's pass, let go of at its end; empty between
    /// passes, and kept for its room.
    closing: Vec<usize>,
}

impl Client {
    /// A client that issues `requests` (all at once) from its first poll.
    pub fn new(config: ClientConfig, requests: Vec<RequestSpec>) -> Client {
        Client::with_workload(config, Workload::independent(requests))
    }

    /// A client that issues `workload` in its order, from its first poll, and keeps
    /// every transaction.
    pub fn with_workload(config: ClientConfig, workload: Workload) -> Client {
        Client::with_sink(config, workload, Vec::new())
    }

    /// Every transaction the client has made, in workload order: those finished and
    /// those still under way. A listed workload's are all made up front; a repeated
    /// workload's only once issued, so after [`finish`](Client::finish) this is
    /// every one.
    pub fn transactions(&self) -> Vec<&Transaction> {
        let mut all: Vec<&Transaction> = self
            .sink
            .iter()
            .chain(self.live.values().map(|t| &**t))
            .collect();
        all.sort_by_key(|t| t.id);
        all
    }
}

impl<S: Sink> Client<S> {
    /// A client that issues `workload` in its order, from its first poll, and hands
    /// each transaction to `sink` as it finishes.
    pub fn with_sink(config: ClientConfig, workload: Workload, sink: S) -> Client<S> {
        let mut live = BTreeMap::new();
        let mut awaited = BTreeSet::new();
        let unissued = match workload.shape() {
            Shape::Listed { requests, after } => {
                for (i, r) in requests.iter().enumerate() {
                    live.insert(
                        i,
                        Box::new(Transaction::new(i, r.method.clone(), r.target.clone())),
                    );
                }
                awaited.extend(after.iter().flatten().copied());
                Unissued::Listed((0..requests.len()).map(|i| (i, None)).collect())
            }
            Shape::Repeated { count, chained, .. } => Unissued::Repeated {
                next: 0,
                count: *count,
                chained: *chained,
                at: None,
            },
        };
        Client {
            host: config.server.to_string(),
            head: LastHead::default(),
            config,
            workload,
            sink,
            live,
            finished: Vec::new(),
            awaited,
            outcomes: BTreeMap::new(),
            unissued,
            queue: Queue::default(),
            conns: IdHashMap::default(),
            by_id: IdHashMap::default(),
            ready: BTreeSet::new(),
            opened: 0,
            closed: Vec::new(),
            keep_summaries_below: usize::MAX,
            carried_open: 0,
            answered_open: 0,
            draining: 0,
            nothing_left_seen: false,
            wakeups: Wakeups::default(),
            deadline: None,
            started: false,
            done_trace: Vec::new(),
            closing: Vec::new(),
        }
    }

    /// The sink, with what it has received so far.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, the client done with.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// What each connection carried, by client connection index (those whose
    /// host id is below [`Client::keep_summaries_below`]).
    pub fn connection_summaries(&self) -> Vec<ClientConnSummary> {
        let mut all: Vec<(usize, ClientConnSummary)> = self.closed.clone();
        all.extend(
            self.conns
                .iter()
                .filter(|(_, c)| c.id.0 < self.keep_summaries_below)
                .map(|(&ci, c)| (ci, c.summary())),
        );
        all.sort_by_key(|&(ci, _)| ci);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// Keep what connections carried only for those whose host id is below `n`
    /// (every one by default): a long run keeps a few, so that its memory follows
    /// its live connections.
    pub fn keep_summaries_below(&mut self, n: usize) {
        self.keep_summaries_below = n;
        self.closed.retain(|(_, s)| s.id.0 < n);
    }

    /// The run ended: every transaction not finished fails as unfinished (those
    /// never issued included) and goes to the sink. The client has nothing left to
    /// do.
    pub fn finish(&mut self, now: Instant) {
        self.hand_over();
        // A range's requests are made as they leave the queue: those left are made
        // now (the others waiting are live).
        while let Some((tx, queued)) = self.queue.pop_front() {
            if let Some(queued) = queued {
                let mut t = self.make(tx);
                t.timing.queued = Some(queued);
                t.fail(TransactionError::Unfinished, now);
                self.sink.finished(t);
            }
        }
        for (_, mut t) in std::mem::take(&mut self.live) {
            t.fail(TransactionError::Unfinished, now);
            self.sink.finished(*t);
        }
        if let Unissued::Repeated { next, count, .. } = self.unissued {
            for tx in next..count {
                let mut t = self.make(tx);
                t.fail(TransactionError::Unfinished, now);
                self.sink.finished(t);
            }
        }
        self.unissued = Unissued::Listed(Vec::new());
    }
}

impl<S: Sink> Application for Client<S> {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        let (by_id, conns) = (&self.by_id, &self.conns);
        self.wakeups
            .collect_news(host, |id| by_id.get(&id).copied(), conns.keys().copied());
        // The latest poll ended where nothing more could move at its instant: with
        // no news, no connection woken and no deadline come, this one would end
        // there too (the settling loop polls every application in every round it runs).
        if self.started && self.wakeups.is_idle(now) && self.deadline.is_none_or(|d| d > now) {
            return self.deadline;
        }
        self.started = true;
        // A finished response or a closed connection can let the next request go at
        // this same instant: repeat until nothing changes.
        loop {
            let before = self.progress();
            self.issue(now);
            self.dispatch(host);
            let nothing_left = self.queue.is_empty() && self.unissued.is_empty();
            if nothing_left && !self.nothing_left_seen {
                // Idle connections kept for more requests close now.
                for &ci in self.conns.keys() {
                    self.wakeups.wake(ci);
                }
            }
            // Only connections something happened to: driving any other would change
            // nothing (see `wakeups`), and they go in the order they opened.
            let (by_id, conns) = (&self.by_id, &self.conns);
            let mut pass = self.wakeups.begin_pass(
                host,
                now,
                |id| by_id.get(&id).copied(),
                conns.keys().copied(),
            );
            while let Some(ci) = pass.pop_first() {
                self.drive_to_rest(host, ci);
                self.settle(ci);
                if self.conns.get(&ci).is_some_and(|c| c.closed) {
                    self.closing.push(ci);
                }
                let (by_id, conns) = (&self.by_id, &self.conns);
                self.wakeups.after_drive(
                    host,
                    ci,
                    &mut pass,
                    |id| by_id.get(&id).copied(),
                    conns.keys().copied(),
                );
            }
            self.wakeups.end_pass(pass);
            self.nothing_left_seen = self.queue.is_empty() && self.unissued.is_empty();
            self.hand_over();
            self.forget_closed();
            for (conn, tx, failed) in self.done_trace.drain(..) {
                host.trace_http(conn, Some(tx), HttpEvent::Done { failed });
            }
            if self.progress() == before {
                break;
            }
        }
        self.deadline = self.next_deadline();
        self.deadline
    }

    fn has_work_now(&self) -> bool {
        self.wakeups.has_woken()
    }

    fn settles_on_news(&self) -> bool {
        true
    }

    fn is_done(&self) -> bool {
        // Unfinished transactions are unissued, queued or in flight on an open
        // connection; with none of those left, every one has finished.
        self.started && self.unissued.is_empty() && self.queue.is_empty() && self.conns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Method;

    /// Counts what it is given and the distinct ids, keeping no transaction.
    #[derive(Default)]
    struct Count {
        transactions: usize,
        failed: usize,
        ids: BTreeSet<usize>,
    }

    impl Sink for Count {
        fn finished(&mut self, t: Transaction) {
            self.transactions += 1;
            self.failed += usize::from(t.error.is_some());
            self.ids.insert(t.id);
        }
    }

    /// Polls the client and notes the most transactions it held at once.
    struct Watch<'a> {
        client: &'a mut Client<Count>,
        most_live: usize,
    }

    impl Application for Watch<'_> {
        fn poll(&mut self, host: &mut Host) -> Option<Instant> {
            let next = self.client.poll(host);
            self.most_live = self.most_live.max(self.client.live.len());
            next
        }

        fn has_work_now(&self) -> bool {
            self.client.has_work_now()
        }

        fn settles_on_news(&self) -> bool {
            self.client.settles_on_news()
        }

        fn is_done(&self) -> bool {
            self.client.is_done()
        }
    }

    /// `workload` against the lab's server with `strategy`, until done or `limit`:
    /// the client (its sink has the transactions) and the most it held at once.
    fn run_counting(
        workload: Workload,
        strategy: Strategy,
        limit: Instant,
    ) -> (Client<Count>, usize) {
        use crate::server::{Server, ServerConfig};
        use tcpknobs_stack::{AppSlot, Knobs, LinkProfile, SimNet};
        let link = LinkProfile {
            one_way_delay_ns: 50_000_000,
            ..LinkProfile::default()
        };
        let mut net = SimNet::new(link, 1);
        let c = net.add_host("client", Knobs::default());
        let s = net.add_host("server", Knobs::default());
        let config = ClientConfig {
            server: net.host(s).addr(),
            strategy,
            ..ClientConfig::default()
        };
        let mut server = Server::new(ServerConfig::default());
        let mut client = Client::with_sink(config, workload, Count::default());
        let mut watch = Watch {
            client: &mut client,
            most_live: 0,
        };
        net.run(
            &mut [
                AppSlot {
                    host: s,
                    app: &mut server,
                    is_server: true,
                },
                AppSlot {
                    host: c,
                    app: &mut watch,
                    is_server: false,
                },
            ],
            limit,
        );
        let most = watch.most_live;
        client.finish(net.now());
        (client, most)
    }

    /// A repeated workload's transactions are made as they are sent and handed over
    /// as they finish: on one persistent connection the client holds one at a time,
    /// whatever the count.
    #[test]
    fn a_repeated_workload_holds_only_what_is_under_way() {
        let workload = Workload::repeated(2_000, 100, Method::Get);
        let (client, most) = run_counting(workload, Strategy::Persistent, Instant::from_secs(3600));
        assert_eq!(
            (client.sink().transactions, client.sink().failed),
            (2_000, 0)
        );
        assert_eq!(most, 1);
        assert!(client.live.is_empty() && client.queue.is_empty());
    }

    /// The run ends early: the one in flight, the queued ones and (chained) the ones
    /// never issued all reach the sink as unfinished, each once.
    #[test]
    fn finish_hands_over_every_transaction_once() {
        let limit = Instant::from_millis(250);
        for workload in [
            Workload::repeated(50, 100, Method::Get),
            Workload::repeated(50, 100, Method::Get).chained(),
        ] {
            let (client, _) = run_counting(workload, Strategy::Persistent, limit);
            let sink = client.sink();
            // 100 ms RTT: the handshake and one request done by 200 ms.
            assert_eq!((sink.transactions, sink.failed), (50, 49));
            assert!(sink.ids.iter().copied().eq(0..50), "{:?}", sink.ids);
        }
    }
}
