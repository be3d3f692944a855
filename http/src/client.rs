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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Range;

use tcpknobs_stack::{
    Application, ConnId, ConnState, ConnectError, Duration, Host, Instant, Readable, SocketError,
};

use crate::body::{response_body_framing, BodyDecoder, BodyError, Status};
use crate::in_flight::InFlight;
use crate::message::{
    parse_response_head, write_request_head, Decimal, FieldLookup, FieldSlots, LastHead, Method,
    Parsed, Version,
};
use crate::outbox::Outbox;
use crate::payload;
use crate::read_buffer::ReadBuffer;
use crate::transaction::{Transaction, TransactionError};
use crate::wakeups::Wakeups;
use crate::workload::{RequestSpec, Shape, Workload};
use tcpknobs_stack::id_hash::IdHashMap;
use tcpknobs_stack::trace::HttpEvent;

/// How long a connection whose server said it closes waits for the server's FIN
/// after the last body byte before the client closes it itself.
///
/// The server closes right after writing its response, so its FIN arrives with or
/// just behind the last body byte; it is late only when lost, and then its
/// retransmission comes one retransmission timeout later, at least 1 s (RFC 6298
/// §2.4, smoltcp's minimum as well). 2 s covers that one retransmission on any path
/// whose timeout stays near the minimum, and bounds what a server that never closes
/// can hold of the client; after it the client closes first, as it would had the
/// server not announced its close. The wait comes after the transaction is done and
/// does not move its timing.
pub const SERVER_FIN_WAIT: Duration = Duration::from_secs(2);

/// Connections are driven, closed and abandoned only while the client keeps them.
const OPEN: &str = "a connection the client keeps";

/// How the client uses connections (chapter items 12-20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// A new connection per request, one after another (item 12).
    Serial,
    /// New connections, up to `connections` at once, one request each (item 13).
    Parallel,
    /// Up to `connections` connections, each reused request after request (item 16).
    Persistent,
    /// Like persistent, and requests are sent without waiting for earlier responses
    /// once the connection is known to persist (item 20).
    Pipelined,
}

impl Strategy {
    /// Connections open at once when `--connections` is not given: browsers' classic
    /// four for parallel loading (item 14), one otherwise.
    pub fn default_connections(self) -> usize {
        match self {
            Strategy::Parallel => 4,
            _ => 1,
        }
    }

    fn reuses(self) -> bool {
        matches!(self, Strategy::Persistent | Strategy::Pipelined)
    }
}

/// What the client does.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClientConfig {
    /// Server (or proxy) address.
    #[serde(serialize_with = "ser_display")]
    pub server: tcpknobs_stack::Ipv4Address,
    /// Server (or proxy) port.
    pub port: u16,
    /// Connection strategy.
    pub strategy: Strategy,
    /// Connections open at once (`--connections`); `None`: the strategy's default.
    pub connections: Option<usize>,
    /// write() calls per request (`--request-writes`).
    pub request_writes: u32,
    /// HTTP version of the requests.
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
    /// Give up on a response this long after the request's connection was
    /// established (or reused); the handshake is bounded by the stack
    /// (`--client-timeout`). `None`: wait as long as it takes, as curl does by
    /// default.
    #[serde(serialize_with = "ser_opt_ms")]
    pub timeout: Option<Duration>,
    /// Retries per idempotent request whose connection closed before its response
    /// completed (`--retries`).
    pub max_retries: u32,
    /// Pause between a request's completion and the issue of the requests that wait
    /// for it (`--think-time`).
    #[serde(serialize_with = "ser_ms")]
    pub think_time: Duration,
}

impl Default for ClientConfig {
    /// What `tcpknobs run` does by default: the simulated server (192.0.2.2:80),
    /// HTTP/1.1, serial, one write per request, no response timeout and two retries.
    fn default() -> Self {
        ClientConfig {
            server: tcpknobs_stack::Ipv4Address::new(192, 0, 2, 2),
            port: 80,
            strategy: Strategy::Serial,
            connections: None,
            request_writes: 1,
            version: Version::Http11,
            timeout: None,
            max_retries: 2,
            think_time: Duration::ZERO,
        }
    }
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.total_micros() as f64 / 1000.0)
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

/// The response being read on a connection.
enum ReadState {
    /// Waiting for (more of) the head.
    Head,
    /// Head parsed; reading the body.
    Body {
        decoder: BodyDecoder,
        keep_alive: bool,
    },
}

/// What a connection is fit for after its input was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// Still HTTP/1.1: more input may come, and more requests may go if it persists.
    Http,
    /// The server switched to another protocol: nothing more can be read or sent.
    Switched,
}

/// What the client knows about a connection's persistence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Persistence {
    /// No response yet.
    Unknown,
    /// The last response said the connection stays open.
    Yes,
    /// The server will close it: send nothing more.
    No,
}

struct ClientConn {
    id: ConnId,
    /// Transactions sent (or being sent) on this connection, oldest first.
    in_flight: InFlight,
    /// Requests this connection has carried (each retry counts on its own connection).
    carried: usize,
    /// Responses completed on it.
    answered: usize,
    outbox: Outbox,
    /// Bytes pushed into the outbox so far.
    pushed: u64,
    /// Bytes read and not yet parsed.
    inbuf: ReadBuffer,
    read: ReadState,
    connected: bool,
    persistence: Persistence,
    /// No further request may be sent (one-request strategies, or the server said
    /// close).
    retiring: bool,
    /// The server said it closes after its last response: the client reads on until
    /// the server's FIN, waiting no later than this ([`SERVER_FIN_WAIT`] after the
    /// last body byte).
    fin_due: Option<Instant>,
    closed: bool,
    /// Counted among the draining connections (`Client::draining`).
    draining: bool,
    /// Bytes read from the socket so far.
    read_total: u64,
}

impl ClientConn {
    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.outbox.is_empty()
    }

    /// Open for more requests and carrying none: the first such connection takes
    /// the next request.
    fn takes_request(&self) -> bool {
        !self.closed && !self.retiring && self.is_idle()
    }

    /// What driving the connection can change. A drive that left it as it was
    /// reached a fixed point: driving it again before something happens to it would
    /// change nothing. One that moved it may have more to do (a read returns the
    /// data before the end of the stream, a parsed response lets the connection
    /// close), so it is driven again in the next pass, as every connection was.
    fn print(&self) -> ConnPrint {
        ConnPrint {
            read_total: self.read_total,
            inbuf: self.inbuf.len(),
            pushed: self.pushed,
            pending: self.outbox.pending_bytes(),
            in_flight: self.in_flight.len(),
            answered: self.answered,
            reading_head: matches!(self.read, ReadState::Head),
            connected: self.connected,
            persistence: self.persistence,
            retiring: self.retiring,
            fin_due: self.fin_due,
            closed: self.closed,
        }
    }

    /// Done with HTTP, only waiting for the server's FIN.
    fn is_draining(&self) -> bool {
        self.fin_due.is_some() && self.is_idle()
    }
}

/// See [`ClientConn::print`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct ConnPrint {
    read_total: u64,
    inbuf: usize,
    pushed: u64,
    pending: u64,
    in_flight: usize,
    answered: usize,
    reading_head: bool,
    connected: bool,
    persistence: Persistence,
    retiring: bool,
    fin_due: Option<Instant>,
    closed: bool,
}

/// Figures for one client connection, for reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientConnSummary {
    /// The host's connection id.
    #[serde(skip)]
    pub id: ConnId,
    /// Requests it carried.
    pub requests: usize,
    /// Responses it completed.
    pub responses: usize,
}

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

/// Issued requests waiting for a connection, oldest first.
#[derive(Default)]
struct Queue {
    entries: VecDeque<Waiting>,
    /// Requests in `entries`, counted as they come and go: every poll asks, several
    /// times.
    len: usize,
}

/// An entry of the [`Queue`].
enum Waiting {
    /// A transaction the client holds.
    One(usize),
    /// Requests of a repeated workload issued together at `queued`: their
    /// transactions are made as they leave the queue, so a million queued requests
    /// are one entry.
    Range { ids: Range<usize>, queued: Instant },
}

impl Queue {
    fn push_back(&mut self, tx: usize) {
        self.entries.push_back(Waiting::One(tx));
        self.len += 1;
    }

    fn push_front(&mut self, tx: usize) {
        self.entries.push_front(Waiting::One(tx));
        self.len += 1;
    }

    fn push_range(&mut self, ids: Range<usize>, queued: Instant) {
        if !ids.is_empty() {
            self.len += ids.len();
            self.entries.push_back(Waiting::Range { ids, queued });
        }
    }

    /// The first waiting request, and when it was queued if its transaction is yet to
    /// be made.
    fn front(&self) -> Option<(usize, Option<Instant>)> {
        match self.entries.front()? {
            Waiting::One(tx) => Some((*tx, None)),
            Waiting::Range { ids, queued } => Some((ids.start, Some(*queued))),
        }
    }

    fn pop_front(&mut self) -> Option<(usize, Option<Instant>)> {
        let first = self.front()?;
        match self.entries.front_mut() {
            Some(Waiting::Range { ids, .. }) if ids.len() > 1 => ids.start += 1,
            _ => {
                self.entries.pop_front();
            }
        }
        self.len -= 1;
        Some(first)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The requests not issued yet.
enum Unissued {
    /// A listed workload's, in order, each with when it may be issued once that is
    /// known (every one is looked at on each poll: a page is small).
    Listed(Vec<(usize, Option<Instant>)>),
    /// A repeated workload's: `next..count`. Unchained, all are issued at the first
    /// poll; chained, only `next` can be ready, at `at` once that is known.
    Repeated {
        next: usize,
        count: usize,
        chained: bool,
        at: Option<Instant>,
    },
}

impl Unissued {
    fn len(&self) -> usize {
        match self {
            Unissued::Listed(ids) => ids.len(),
            Unissued::Repeated { next, count, .. } => count.saturating_sub(*next),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a request may be issued, from what it waits for.
enum Readiness {
    /// At this moment (now, or later after `--think-time`).
    At(Instant),
    /// Not known until what it waits for finishes.
    Unknown,
    /// What it waits for failed: it never will be.
    DependencyFailed,
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
    conns: IdHashMap<usize, ClientConn>,
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
                        Box::new(Transaction::new(i, r.method.as_str(), &r.target)),
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

    /// A fresh transaction for request `tx`.
    fn make(&self, tx: usize) -> Transaction {
        match self.workload.request(tx) {
            Some(r) => Transaction::new(tx, r.method.as_str(), &r.target),
            None => Transaction::new(tx, "", ""),
        }
    }

    /// Request `tx`'s method is idempotent (safe to pipeline behind and to replay).
    fn idempotent(&self, tx: usize) -> bool {
        self.workload
            .request(tx)
            .is_some_and(|r| r.method.is_idempotent())
    }

    /// Give every transaction that finished to the sink, remembering how those that
    /// others wait for ended.
    fn hand_over(&mut self) {
        // Taken and put back, so its room is kept for the next step's.
        let mut finished = std::mem::take(&mut self.finished);
        for tx in finished.drain(..) {
            let Some(t) = self.live.remove(&tx).map(|t| *t) else {
                continue;
            };
            let conn = t
                .connection
                .and_then(|ci| self.conns.get(&ci))
                .map(|c| c.id);
            let failed = t.error.is_some();
            self.done_trace.push((conn, tx, failed));
            if let Some(done) = t.timing.done {
                let chained = matches!(self.unissued, Unissued::Repeated { chained: true, .. });
                if chained || self.awaited.contains(&tx) {
                    self.outcomes.insert(tx, (done, t.error.is_some()));
                }
            }
            self.sink.finished(t);
        }
        self.finished = finished;
    }

    /// How request `dep` ended, once it has: when, and whether it failed.
    fn outcome(&self, dep: usize) -> Option<(Instant, bool)> {
        match self.live.get(&dep) {
            Some(t) => t.timing.done.map(|done| (done, t.error.is_some())),
            None => self.outcomes.get(&dep).copied(),
        }
    }

    /// When request `i` may be issued, from what it waits for.
    fn readiness(&self, i: usize, now: Instant) -> Readiness {
        match self.workload.after(i) {
            None => Readiness::At(now),
            Some(dep) => match self.outcome(dep) {
                Some((_, true)) => Readiness::DependencyFailed,
                Some((done, false)) => Readiness::At(done + self.config.think_time),
                None => Readiness::Unknown,
            },
        }
    }

    fn max_connections(&self) -> usize {
        self.config
            .connections
            .unwrap_or_else(|| self.config.strategy.default_connections())
            .max(1)
    }

    /// Connections that count against the strategy's limit: a connection only
    /// draining the server's FIN carries nothing and holds no place.
    fn open_connections(&self) -> usize {
        self.conns.len() - self.draining
    }

    /// Issue the transactions whose time has come.
    fn issue(&mut self, now: Instant) {
        match &mut self.unissued {
            Unissued::Listed(ids) => {
                let ids = std::mem::take(ids);
                let mut still = Vec::with_capacity(ids.len());
                for (i, _) in ids {
                    let ready = match self.readiness(i, now) {
                        Readiness::At(at) => Some(at),
                        Readiness::Unknown => None,
                        Readiness::DependencyFailed => {
                            if let Some(t) = self.live.get_mut(&i) {
                                t.timing.queued = Some(now);
                                t.fail(TransactionError::DependencyFailed, now);
                            }
                            self.finished.push(i);
                            continue;
                        }
                    };
                    if ready.is_some_and(|t| t <= now) {
                        if let Some(t) = self.live.get_mut(&i) {
                            t.timing.queued = Some(now);
                        }
                        self.queue.push_back(i);
                    } else {
                        still.push((i, ready));
                    }
                }
                self.unissued = Unissued::Listed(still);
            }
            Unissued::Repeated {
                next,
                count,
                chained: false,
                ..
            } => {
                self.queue.push_range(*next..*count, now);
                *next = *count;
            }
            Unissued::Repeated { chained: true, .. } => self.issue_chained(now),
        }
    }

    /// A chained repeated workload: issue `next` once the one before it has finished
    /// (and the think time passed); fail it, and on down the chain, if that failed.
    fn issue_chained(&mut self, now: Instant) {
        while let Unissued::Repeated { next, count, .. } = self.unissued {
            if next >= count {
                return;
            }
            let ready = self.readiness(next, now);
            if let Readiness::At(at) = ready {
                if at > now {
                    if let Unissued::Repeated { at: slot, .. } = &mut self.unissued {
                        *slot = Some(at);
                    }
                    return;
                }
            }
            if let Readiness::Unknown = ready {
                return;
            }
            let mut t = self.make(next);
            t.timing.queued = Some(now);
            if let Readiness::DependencyFailed = ready {
                t.fail(TransactionError::DependencyFailed, now);
                self.live.insert(next, Box::new(t));
                self.finished.push(next);
                self.hand_over();
            } else {
                self.live.insert(next, Box::new(t));
                self.queue.push_back(next);
            }
            if let Some(dep) = next.checked_sub(1) {
                self.outcomes.remove(&dep);
            }
            self.unissued = Unissued::Repeated {
                next: next + 1,
                count,
                chained: true,
                at: None,
            };
        }
    }

    /// The connection that may take `tx` now, if any.
    fn pick_connection(&self, tx: usize) -> Option<usize> {
        let strategy = self.config.strategy;
        if !strategy.reuses() {
            return None;
        }
        let usable = |c: &ClientConn| !c.closed && !c.retiring;
        debug_assert_eq!(
            self.ready.first().copied(),
            self.conns
                .iter()
                .filter(|(_, c)| c.takes_request())
                .map(|(&i, _)| i)
                .min(),
            "the ready set is the connections that take a request"
        );
        if let Some(&i) = self.ready.first() {
            return Some(i);
        }
        if strategy != Strategy::Pipelined || !self.idempotent(tx) {
            return None;
        }
        // Pipeline onto a connection known to persist whose outstanding requests are
        // all idempotent (RFC 9112 §9.3.2), the least loaded first.
        self.conns
            .iter()
            .filter(|(_, c)| usable(c) && c.persistence == Persistence::Yes)
            .filter(|(_, c)| c.in_flight.all_idempotent())
            .min_by_key(|&(&i, c)| (c.in_flight.len(), i))
            .map(|(&i, _)| i)
    }

    /// Take the first queued request off the queue, its transaction made now if it
    /// waited in a range.
    fn dequeue(&mut self) {
        if let Some((tx, Some(queued))) = self.queue.pop_front() {
            let mut t = self.make(tx);
            t.timing.queued = Some(queued);
            self.live.insert(tx, Box::new(t));
        }
    }

    /// Give queued transactions to connections, opening new ones as the strategy allows.
    fn dispatch(&mut self, host: &mut Host) {
        let now = host.now();
        while let Some((tx, _)) = self.queue.front() {
            let conn = match self.pick_connection(tx) {
                Some(i) => i,
                None if self.open_connections() < self.max_connections() => {
                    match host.connect(self.config.server, self.config.port) {
                        Ok(id) => {
                            let ci = self.opened;
                            self.opened += 1;
                            self.by_id.insert(id, ci);
                            self.conns.insert(
                                ci,
                                ClientConn {
                                    id,
                                    in_flight: InFlight::default(),
                                    carried: 0,
                                    answered: 0,
                                    outbox: Outbox::new(),
                                    pushed: 0,
                                    inbuf: ReadBuffer::default(),
                                    read: ReadState::Head,
                                    connected: false,
                                    persistence: Persistence::Unknown,
                                    retiring: false,
                                    fin_due: None,
                                    closed: false,
                                    draining: false,
                                    read_total: 0,
                                },
                            );
                            ci
                        }
                        Err(e) => {
                            self.dequeue();
                            let err = match e {
                                ConnectError::PortsExhausted { .. } => {
                                    TransactionError::PortsExhausted {
                                        detail: e.to_string(),
                                    }
                                }
                                ConnectError::Stack(_) => TransactionError::ConnectionRefused,
                            };
                            if let Some(t) = self.live.get_mut(&tx) {
                                t.timing.connect_start = Some(now);
                                t.fail(err, now);
                            }
                            self.finished.push(tx);
                            continue;
                        }
                    }
                }
                None => break,
            };
            self.dequeue();
            self.send_on(host, conn, tx, now);
            self.mark_ready(conn);
            self.wakeups.wake(conn);
        }
    }

    fn send_on(&mut self, host: &mut Host, ci: usize, tx: usize, now: Instant) {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        host.trace_http(Some(c.id), Some(tx), HttpEvent::Dispatched);
        let (Some(t), Some(spec)) = (self.live.get_mut(&tx), self.workload.request(tx)) else {
            return;
        };
        t.connection = Some(ci);
        t.timing.connect_start = Some(now);
        t.reused = c.carried > 0;
        t.pipelined = !c.in_flight.is_empty();
        if c.connected {
            t.timing.connected = Some(now);
            t.local_port = Some(host.local_port(c.id));
        }
        c.carried += 1;
        self.carried_open += 1;
        if !self.config.strategy.reuses() {
            c.retiring = true;
        }
        let (config, host) = (&self.config, &self.host);
        let head = self
            .head
            .get_or_write(self.workload.spec_index(tx), |out| {
                write_request(config, host, spec, out)
            })
            .to_vec();
        t.heads.request = head.clone();
        t.heads.request_body = spec.body_len;
        let len = head.len() as u64 + spec.body_len;
        let coalesce = self.config.request_writes == 1 && spec.body_len == 0;
        if coalesce && !c.in_flight.is_empty() && !c.outbox.is_empty() {
            // Requests pipelined at one moment go out in one write(), as pipelining
            // clients batch them; separate small writes would meet Nagle.
            c.outbox.extend_last_write(head);
        } else {
            c.outbox
                .push_message(head, spec.body_len, self.config.request_writes);
        }
        c.pushed += len;
        let idempotent = spec.method.is_idempotent();
        c.in_flight.push_back(tx, c.pushed, idempotent);
    }

    /// Send `tx` again on another connection if that is safe, or fail it with `err`.
    fn retry_or_fail(&mut self, tx: usize, err: TransactionError, now: Instant) -> bool {
        let idempotent = self.idempotent(tx);
        let Some(t) = self.live.get_mut(&tx) else {
            return false;
        };
        if t.is_finished() {
            return false;
        }
        if idempotent && t.retries < self.config.max_retries {
            t.reset_for_retry();
            true
        } else {
            t.fail(err, now);
            self.finished.push(tx);
            false
        }
    }

    /// The connection ended with `err` for the response being read and its
    /// outstanding requests: retry or fail each, oldest first at the head of the queue.
    fn abandon(&mut self, ci: usize, err: TransactionError, now: Instant) {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        c.closed = true;
        c.retiring = true;
        let in_flight = c.in_flight.take_all();
        if err.is_connect_failure() {
            // Nothing was sent, and TCP already retried the handshake as often as
            // it was told to: a further connect would only repeat the wait (curl
            // does not retry these either).
            for tx in in_flight {
                if let Some(t) = self.live.get_mut(&tx) {
                    t.fail(err.clone(), now);
                }
                self.finished.push(tx);
            }
            return;
        }
        let mut retry = Vec::new();
        for (i, tx) in in_flight.into_iter().enumerate() {
            // Only the response being read was cut short; later ones never started.
            let e = if i == 0 {
                err.clone()
            } else {
                TransactionError::ClosedEarly
            };
            if self.retry_or_fail(tx, e, now) {
                retry.push(tx);
            }
        }
        for tx in retry.into_iter().rev() {
            self.queue.push_front(tx);
        }
    }

    /// Advance one connection: write, read, parse, and close when it is done.
    fn drive(&mut self, host: &mut Host, ci: usize) {
        let now = host.now();
        if self.conns.get(&ci).is_none_or(|c| c.closed) {
            return;
        }
        let id = self.conns[&ci].id;
        match host.state(id) {
            ConnState::AwaitingPort | ConnState::Connecting => {
                self.check_timeouts(host, ci, now);
                return;
            }
            ConnState::Failed(e) => {
                self.abandon(ci, socket_error(e), now);
                return;
            }
            ConnState::Open | ConnState::Closed => {}
        }
        let c = self.conns.get_mut(&ci).expect(OPEN);
        if !c.connected {
            c.connected = true;
            // The port is known only now when the connect had to wait for one.
            let port = host.local_port(id);
            for tx in c.in_flight.transactions() {
                if let Some(t) = self.live.get_mut(&tx) {
                    t.timing.connected = Some(now);
                    t.local_port = Some(port);
                }
            }
        }
        // Write whatever is queued; note each request whose last byte went out.
        match c.outbox.flush(host, id) {
            Ok(_) => {
                let offered = c.pushed - c.outbox.pending_bytes();
                for (tx, end) in c.in_flight.newly_sent(offered) {
                    let Some(t) = self.live.get_mut(&tx) else {
                        continue;
                    };
                    if t.timing.request_sent.is_none() {
                        t.timing.request_sent = Some(now);
                        host.trace_http(Some(id), Some(tx), HttpEvent::RequestSent { end });
                    }
                }
            }
            Err(e) => {
                self.abandon(ci, socket_error(e), now);
                return;
            }
        }
        // Read whatever arrived.
        let eof = match host.recv(id, c.inbuf.appender()) {
            Ok(Readable::Data(n)) => {
                c.read_total += n as u64;
                if let Some((tx, t)) = c
                    .in_flight
                    .front()
                    .and_then(|tx| Some((tx, self.live.get_mut(&tx)?)))
                {
                    if t.timing.first_byte.is_none() {
                        t.timing.first_byte = Some(now);
                        host.trace_http(Some(id), Some(tx), HttpEvent::ResponseStarted);
                    }
                }
                false
            }
            Ok(Readable::Nothing) => false,
            Ok(Readable::Eof) => true,
            Err(e) => {
                // A reset discards what was not read yet (chapter item 24).
                host.close(id);
                self.abandon(ci, socket_error(e), now);
                return;
            }
        };
        if self.parse_responses(ci, now) == Flow::Switched {
            // Requests behind the switched one go on another connection.
            host.close(id);
            self.abandon(ci, TransactionError::ClosedEarly, now);
            return;
        }
        if eof {
            self.on_eof(host, ci, now);
            return;
        }
        self.check_timeouts(host, ci, now);
        let nothing_left = self.queue.is_empty() && self.unissued.is_empty();
        let c = self.conns.get_mut(&ci).expect(OPEN);
        if !c.closed && c.is_idle() && (c.retiring || nothing_left) {
            if c.fin_due.is_some_and(|due| now < due) {
                // The server closes first and holds the TIME_WAIT; its FIN ends this
                // connection in `on_eof`.
                return;
            }
            // The client closes first: its host holds the TIME_WAIT.
            host.close(id);
            c.closed = true;
        }
    }

    fn check_timeouts(&mut self, host: &mut Host, ci: usize, now: Instant) {
        let Some(tx) = self.conns[&ci].in_flight.front() else {
            return;
        };
        // The response's clock starts once the connection is there: the handshake
        // has limits of its own (`Knobs::syn_retries`, the ARP timeout).
        let Some(limit) = self.config.timeout else {
            return;
        };
        let Some(start) = self.live.get(&tx).and_then(|t| t.timing.connected) else {
            return;
        };
        if now < start + limit {
            return;
        }
        let after_ms = (now - start).total_millis();
        // A timeout is reported, not retried: the server may be working on it.
        if let Some(t) = self.live.get_mut(&tx) {
            t.fail(TransactionError::Timeout { after_ms }, now);
        }
        self.finished.push(tx);
        host.abort(self.conns[&ci].id);
        self.conns.get_mut(&ci).expect(OPEN).in_flight.pop_front();
        self.abandon(ci, TransactionError::ClosedEarly, now);
    }

    fn parse_responses(&mut self, ci: usize, now: Instant) -> Flow {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        while let Some(tx) = c.in_flight.front() {
            let (Some(t), Some(spec)) = (self.live.get_mut(&tx), self.workload.request(tx)) else {
                c.in_flight.pop_front();
                continue;
            };
            if let ReadState::Head = c.read {
                let mut slots = FieldSlots::new();
                let parsed =
                    parse_response_head(c.inbuf.as_slice(), &mut slots).map_err(|e| e.to_string());
                let (message, head_len) = match parsed {
                    Ok(Parsed::Partial) => return Flow::Http,
                    Ok(Parsed::Complete { message, head_len }) => (message, head_len),
                    Err(detail) => {
                        t.fail(TransactionError::MalformedResponse { detail }, now);
                        self.finished.push(tx);
                        c.retiring = true;
                        c.persistence = Persistence::No;
                        c.in_flight.pop_front();
                        return Flow::Http;
                    }
                };
                // What the head says, read before its bytes leave the buffer it
                // borrows.
                let status = message.status;
                let status_line = Status {
                    code: status,
                    version: message.version,
                };
                let framing = response_body_framing(status_line, &message.fields, &spec.method);
                let keep_alive =
                    response_persists(message.version, &message.fields, self.config.version);
                if !(100..200).contains(&status) {
                    t.heads.response = c.inbuf.as_slice()[..head_len].to_vec();
                }
                c.inbuf.consume(head_len);
                if (100..200).contains(&status) {
                    if status == 101 {
                        // The client never asks for an upgrade, so a switch is a protocol
                        // error (RFC 9110 §15.2.2) and the bytes after it are not HTTP/1.1.
                        t.fail(TransactionError::UnrequestedUpgrade, now);
                        self.finished.push(tx);
                        c.in_flight.pop_front();
                        c.inbuf.clear();
                        return Flow::Switched;
                    }
                    // An interim response: no body (RFC 9112 §6.3 item 1), the final
                    // response to the same request follows (RFC 9110 §15.2).
                    t.interim_responses += 1;
                    continue;
                }
                t.status = Some(status);
                match framing {
                    Ok(framing) => {
                        c.read = ReadState::Body {
                            decoder: BodyDecoder::new(framing),
                            keep_alive,
                        };
                    }
                    Err(e) => {
                        t.fail(
                            TransactionError::MalformedResponse {
                                detail: e.to_string(),
                            },
                            now,
                        );
                        self.finished.push(tx);
                        c.retiring = true;
                        c.persistence = Persistence::No;
                        c.in_flight.pop_front();
                        return Flow::Http;
                    }
                }
            }
            let ReadState::Body {
                decoder,
                keep_alive,
            } = &mut c.read
            else {
                return Flow::Http;
            };
            let mut mismatch = None;
            let verify = spec.verify && t.status == Some(200);
            let mut offset = t.bytes;
            let used = decoder.decode(c.inbuf.as_slice(), &mut |data: &[u8]| {
                if verify && mismatch.is_none() {
                    if let Err(m) = payload::verify(offset, data) {
                        mismatch = Some(m.offset);
                    }
                }
                offset += data.len() as u64;
            });
            t.bytes = offset;
            let error = match used {
                Ok(n) => {
                    c.inbuf.consume(n);
                    mismatch.map(|offset| TransactionError::BodyMismatch { offset })
                }
                Err(e) => Some(TransactionError::MalformedResponse {
                    detail: e.to_string(),
                }),
            };
            if let Some(e) = error {
                t.fail(e, now);
                self.finished.push(tx);
                c.retiring = true;
                c.persistence = Persistence::No;
                c.in_flight.pop_front();
                return Flow::Http;
            }
            if !decoder.is_complete() {
                return Flow::Http;
            }
            c.persistence = if *keep_alive {
                Persistence::Yes
            } else {
                // No more requests on it; those already pipelined are retried when
                // it closes. The server closes it (RFC 9112 §9.6): wait for that, so
                // the TIME_WAIT stays with the side that closes first.
                c.retiring = true;
                c.fin_due = Some(now + SERVER_FIN_WAIT);
                Persistence::No
            };
            t.timing.done = Some(now);
            self.finished.push(tx);
            c.answered += 1;
            self.answered_open += 1;
            c.in_flight.pop_front();
            c.read = ReadState::Head;
        }
        Flow::Http
    }

    /// The server closed: a close-delimited body ends here; anything else in flight
    /// was cut short.
    fn on_eof(&mut self, host: &mut Host, ci: usize, now: Instant) {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        host.close(c.id);
        c.closed = true;
        let mut err = TransactionError::ClosedEarly;
        if let Some(t) = c.in_flight.front().and_then(|tx| self.live.get_mut(&tx)) {
            match &mut c.read {
                ReadState::Body { decoder, .. } => match decoder.on_eof() {
                    Ok(()) => {
                        t.timing.done.get_or_insert(now);
                        self.finished.push(t.id);
                        c.answered += 1;
                        self.answered_open += 1;
                        c.in_flight.pop_front();
                    }
                    Err(BodyError::Truncated { received, expected }) => {
                        err = TransactionError::Truncated { received, expected };
                    }
                    Err(e) => {
                        err = TransactionError::MalformedResponse {
                            detail: e.to_string(),
                        }
                    }
                },
                ReadState::Head if !c.inbuf.is_empty() => {
                    err = TransactionError::MalformedResponse {
                        detail: "connection closed inside the response head".into(),
                    };
                }
                ReadState::Head => {}
            }
        }
        c.read = ReadState::Head;
        self.abandon(ci, err, now);
    }

    /// The earliest time the client must act without network input.
    fn next_deadline(&mut self) -> Option<Instant> {
        let issues: Option<Instant> = match &self.unissued {
            Unissued::Listed(ids) => ids.iter().filter_map(|&(_, at)| at).min(),
            Unissued::Repeated {
                next, count, at, ..
            } => at.filter(|_| next < count),
        };
        issues.into_iter().chain(self.wakeups.next_timer()).min()
    }

    /// When connection `ci` must be driven with nothing arriving: its response
    /// timeout, or the end of its wait for the server's FIN while it only waits
    /// for that.
    fn conn_deadline(&self, c: &ClientConn) -> Option<Instant> {
        let timeout = self.config.timeout.and_then(|limit| {
            let tx = c.in_flight.front()?;
            Some(self.live.get(&tx)?.timing.connected? + limit)
        });
        let fin = c.fin_due.filter(|_| c.is_draining());
        timeout.into_iter().chain(fin).min()
    }

    /// Whether `ci` may take a request now, kept in `ready`.
    fn mark_ready(&mut self, ci: usize) {
        if self.conns.get(&ci).is_some_and(ClientConn::takes_request) {
            self.ready.insert(ci);
        } else {
            self.ready.remove(&ci);
        }
    }

    /// After driving `ci`: queue its deadline, count it as draining or not, and
    /// note whether it may take a request.
    fn settle(&mut self, ci: usize) {
        self.mark_ready(ci);
        let Some(c) = self.conns.get(&ci) else {
            return;
        };
        let at = self.conn_deadline(c);
        let draining = c.is_draining();
        self.wakeups.set_timer(ci, at);
        let Some(c) = self.conns.get_mut(&ci) else {
            return;
        };
        if draining != c.draining {
            c.draining = draining;
            if draining {
                self.draining += 1;
            } else {
                self.draining -= 1;
            }
        }
    }

    /// Let go of the connections closed in this pass (`closing`), keeping what they
    /// carried.
    fn forget_closed(&mut self) {
        for ci in self.closing.drain(..) {
            let Some(c) = self.conns.remove(&ci) else {
                continue;
            };
            self.ready.remove(&ci);
            self.by_id.remove(&c.id);
            self.wakeups.forget(ci);
            self.carried_open -= c.carried;
            self.answered_open -= c.answered;
            if c.draining {
                self.draining -= 1;
            }
            if c.id.0 < self.keep_summaries_below {
                self.closed.push((ci, c.summary()));
            }
        }
    }

    /// A measure that changes whenever the client moves on: a request issued or
    /// dispatched, a connection opened or closed, a request sent, a response done
    /// or failed. Only live state is looked at, so a poll costs what is in flight.
    fn progress(&self) -> [usize; 6] {
        // Separate counts, never a sum: a response completing moves one request from
        // in flight to answered, which a sum would not see.
        [
            self.queue.len(),
            self.unissued.len(),
            self.opened,
            self.conns.len(),
            self.carried_open,
            self.answered_open,
        ]
    }
}

impl ClientConn {
    fn summary(&self) -> ClientConnSummary {
        ClientConnSummary {
            id: self.id,
            requests: self.carried,
            responses: self.answered,
        }
    }
}

fn socket_error(e: SocketError) -> TransactionError {
    match e {
        SocketError::ConnectionRefused => TransactionError::ConnectionRefused,
        SocketError::ConnectionReset => TransactionError::ConnectionReset,
        SocketError::ConnectTimedOut { syns } => TransactionError::ConnectTimeout { syns },
        SocketError::NoArpReply(addr) => TransactionError::NoArpReply {
            addr: addr.to_string(),
        },
        _ => TransactionError::ClosedEarly,
    }
}

/// Appends the head of request `spec` to `out`, with the fields the client sends;
/// `host` is the `Host` value.
fn write_request(config: &ClientConfig, host: &str, spec: &RequestSpec, out: &mut Vec<u8>) {
    let length = (spec.body_len > 0 || matches!(spec.method, Method::Post | Method::Put))
        .then(|| Decimal::new(spec.body_len));
    // Serial and parallel HTTP/1.1 send no `Connection: close`: the client closes after
    // the response, so the client (as a load generator would) holds the TIME_WAIT.
    let keep_alive = config.version == Version::Http10 && config.strategy.reuses();
    let fields = [
        Some(("Host", host)),
        length.as_ref().map(|l| ("Content-Length", l.as_str())),
        keep_alive.then_some(("Connection", "keep-alive")),
    ];
    write_request_head(
        out,
        &spec.method,
        &spec.target,
        config.version,
        fields.into_iter().flatten(),
    );
}

/// Whether the server will keep the connection open after a response of `version`
/// with `fields` (RFC 9112 §9.3; for HTTP/1.0, only if it echoed keep-alive, chapter
/// item 17).
fn response_persists(version: Version, fields: &impl FieldLookup, requested: Version) -> bool {
    if fields.has_connection_token("close") {
        return false;
    }
    match (requested, version) {
        (Version::Http11, Version::Http11) => true,
        _ => fields.has_connection_token("keep-alive"),
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
        // there too (the settling loop polls every application in every round).
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
                let before = self.conns.get(&ci).map(ClientConn::print);
                self.drive(host, ci);
                if self.conns.get(&ci).map(ClientConn::print) != before {
                    self.wakeups.wake(ci);
                }
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

    fn is_done(&self) -> bool {
        // Unfinished transactions are unissued, queued or in flight on an open
        // connection; with none of those left, every one has finished.
        self.started && self.unissued.is_empty() && self.queue.is_empty() && self.conns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_persistence() {
        let mut h = crate::message::Headers::default();
        assert!(response_persists(Version::Http11, &h, Version::Http11));
        assert!(
            !response_persists(Version::Http11, &h, Version::Http10),
            "1.0 needs the echo"
        );
        h.append("Connection", "keep-alive");
        assert!(response_persists(Version::Http11, &h, Version::Http10));
        h.append("Connection", "close");
        assert!(!response_persists(Version::Http11, &h, Version::Http11));
    }

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

    #[test]
    fn default_connections() {
        assert_eq!(Strategy::Parallel.default_connections(), 4);
        assert_eq!(Strategy::Pipelined.default_connections(), 1);
    }
}
