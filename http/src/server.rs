//! The HTTP/1.x origin server, as a sans-IO application over a [`Host`].
//!
//! It serves `/bytes/N`: N bytes of the deterministic [`payload`] pattern, so the client
//! can verify every byte. What the chapter asks of a server's connection management is
//! here, each piece a [`ServerConfig`] field:
//!
//! * **Persistence** (RFC 9112 §9.3, chapter items 17 and 19): HTTP/1.1 persists unless
//!   either side says `close`; HTTP/1.0 only when the client sent `Connection:
//!   keep-alive`, which the server echoes with a `Keep-Alive: timeout, max` hint. An idle
//!   persistent connection is closed by the server after its keep-alive timeout, and a
//!   connection is retired after `keep_alive_max` requests.
//! * **Pipelining** (RFC 9112 §9.3.2, item 20): input is parsed request after request
//!   and answered strictly in order, one at a time, so a slow response (`delay`) holds
//!   back every response behind it.
//! * **Closing** (RFC 9112 §9.6, item 24): gracefully (half-close, keep reading and
//!   discarding, close when the peer does or the linger time is up) or abruptly.
//! * **Bad input** (RFC 9112 §3.2, §6.3; RFC 9110 §15.5): answered with 400, 431, 501 or
//!   505 and `Connection: close`, never guessed at, so no request can be smuggled.
//! * **Timeouts** (nginx's model): every wait on the client has its own timer, running
//!   only in its own phase: the next request (`keep_alive_timeout`), the rest of a head
//!   (`header_timeout`), the next bytes of a body (`body_timeout`), the socket taking
//!   more of a response (`send_timeout`). A client that sends or reads slowly, or not
//!   at all, holds a connection only so long, and what the server buffers for it
//!   beyond the socket is bounded ([`Server::buffered`]).
//!
//! Each connection is three small state machines, named after hyper's `Reading`,
//! `Writing` and `KeepAlive`: `Reading` turns bytes into `Job`s, `Writing` turns
//! jobs into responses one at a time, and `After` says what a response leaves behind.
//! Every timer is a deadline in the host's clock, reported by [`Application::poll`], so a
//! simulated run wakes exactly when one is due.

use std::collections::VecDeque;

use serde::Serialize;
use tcpknobs_stack::id_hash::IdHashMap;
use tcpknobs_stack::trace::HttpEvent;
use tcpknobs_stack::{Application, ConnId, Duration, Host, Instant, Readable, SocketError};

use crate::body::{encode_chunk, encode_last_chunk, request_body_framing, BodyDecoder, Framing};
use crate::message::{
    parse_request_head, write_response_head, Decimal, FieldLookup, FieldSlots, Headers, LastHead,
    Method, Parsed, Response, Version,
};
use crate::outbox::{plan_writes, Outbox, Piece, PlannedWrite, WritePlan};
use crate::payload;
use crate::read_buffer::ReadBuffer;
use crate::wakeups::{Pass, Wakeups};

/// How the server ends a connection it has decided to close (`--close`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseMode {
    /// Half-close (FIN after the last response), keep reading and discarding input
    /// until the peer closes or [`ServerConfig::linger`] passes, then close: requests
    /// already in flight cannot make the stack reset the connection and destroy the
    /// response the client has not read yet (chapter item 24; Apache's lingering close).
    #[default]
    Graceful,
    /// close() at once. With input still unanswered this resets the connection, as a
    /// kernel does for close() with unread data (RFC 2525 §2.17), and the client loses
    /// whatever response bytes it had not read (chapter item 24).
    Abrupt,
}

/// How the server behaves. Every field has a flag of the same meaning; the defaults
/// are those of [`ServerConfig::default`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerConfig {
    /// Port to listen on (`--port`, default 80).
    pub port: u16,
    /// write() calls per response (`--response-writes N`, default 1). With a body and
    /// N ≥ 2 the head goes alone and the body is split evenly over the other N - 1
    /// writes (chunked: one chunk per write); without a body the head is split.
    pub response_writes: u32,
    /// Whether connections may persist at all (`--server-keep-alive on|off`, default
    /// on). Off: every response says `Connection: close` and the server closes.
    pub keep_alive: bool,
    /// How long a persistent connection may sit idle between requests before the
    /// server closes it (`--server-keep-alive-timeout DUR`, default 75 s, nginx's
    /// `keepalive_timeout`; Apache uses 5 s). The timer
    /// runs from the moment the last response was fully offered to TCP until the
    /// first byte of the next request; the server closes first, so it holds the
    /// TIME_WAIT (chapter items 10 and 16). Sent to HTTP/1.0 clients as `timeout=`.
    #[serde(serialize_with = "ser_duration")]
    pub keep_alive_timeout: Duration,
    /// Requests one connection may carry (`--server-keep-alive-max N`, default
    /// unlimited). The Nth response carries `Connection: close` and the server closes
    /// (Apache's `MaxKeepAliveRequests`). Sent to HTTP/1.0 clients as `max=`.
    pub keep_alive_max: Option<u32>,
    /// Processing time per request before its response is written (`--server-delay
    /// DUR`, default 0). Requests are processed one at a time in arrival order, each
    /// starting when the previous response has been offered to TCP, so pipelined
    /// requests queue behind a slow one (chapter item 20).
    #[serde(serialize_with = "ser_duration")]
    pub delay: Duration,
    /// Frame response bodies with the chunked transfer coding (`--server-chunked`,
    /// default off). HTTP/1.1 requests only (RFC 9112 §6.1 forbids chunked to an
    /// HTTP/1.0 recipient); HTTP/1.0 requests get the other framing. Wins over
    /// `no_length` for HTTP/1.1.
    pub chunked: bool,
    /// Send no Content-Length: the body ends when the server closes (`--server-no-length`,
    /// default off). The connection cannot persist then (RFC 9112 §6.3 item 8;
    /// chapter item 17), so every such response says `Connection: close`.
    pub no_length: bool,
    /// How the server closes (`--close graceful|abrupt`, default graceful). Error
    /// responses always close gracefully, so the client can read them.
    pub close: CloseMode,
    /// How long a graceful close keeps reading and discarding after the server's FIN
    /// before it closes for good (`--server-linger DUR`, default 2 s, Apache's
    /// lingering close allows 2 s too).
    #[serde(serialize_with = "ser_duration")]
    pub linger: Duration,
    /// Misbehave: send only this many body bytes of each response while declaring the
    /// full Content-Length, then close (`--server-truncate BYTES`, default off). A
    /// response whose body is not longer than this goes out whole. The client must
    /// detect the short body (RFC 9112 §8; chapter item 22).
    pub truncate: Option<u64>,
    /// How long a request head may take to arrive: a connection whose head is not
    /// complete this long after its first byte, or after accept for the first request,
    /// is closed without a response (`--server-header-timeout DUR`, default 10 s;
    /// nginx's `client_header_timeout`). Only counted while the server is waiting for
    /// that head, not while it is busy with earlier pipelined requests.
    #[serde(serialize_with = "ser_duration")]
    pub header_timeout: Duration,
    /// How long the server waits between two successive reads of a request body
    /// (`--server-body-timeout DUR`, default 60 s; nginx's `client_body_timeout`). It
    /// bounds each gap, not the whole body: a client that trickles a body keeps its
    /// connection as long as bytes keep coming, and one that announces a body and stops
    /// sending (a slow-body attack: `Content-Length: 1000000000`, then nothing) is
    /// dropped this long after its last byte. The timer starts when the head is
    /// complete and restarts at every read that brings body bytes; it runs only while
    /// the server waits for that body, not while it processes or writes the responses
    /// to earlier pipelined requests. On expiry the server closes as `close` says,
    /// without a response, as nginx does: nginx's docs speak of a 408, but the status
    /// only reaches its access log (`ngx_http_finalize_request` terminates a request
    /// that ends with 408 without sending anything), just as for
    /// `client_header_timeout`.
    #[serde(serialize_with = "ser_duration")]
    pub body_timeout: Duration,
    /// How long the server waits between two successive writes of a response that
    /// the socket took at least in part (`--server-send-timeout DUR`, default 60 s;
    /// nginx's `send_timeout`). It bounds each gap, not the whole response: a client
    /// that reads slowly keeps its connection as long as the socket takes more now and
    /// then, and one that stops reading (the socket's buffers stay full, so the server
    /// cannot offer another byte) is dropped this long after the last write the socket
    /// took. The timer starts with each response and runs only while that response is
    /// being offered, not while the server processes a request or waits for one. On
    /// expiry the server aborts the connection ([`Host::abort`]: an RST, and the
    /// unsent bytes in the socket are dropped at once). nginx closes the socket; a
    /// plain close() would leave the kernel an orphaned socket holding the unsent data,
    /// probing the peer's zero window until `tcp_orphan_retries` gives up, so nginx's
    /// `reset_timedout_connection on` sets `SO_LINGER` to zero and close() sends RST
    /// instead: that is what this does, since freeing what a reader that never reads
    /// holds is the point of the timeout.
    #[serde(serialize_with = "ser_duration")]
    pub send_timeout: Duration,
    /// Connections served at once (`--server-workers N`): a server with a pool of
    /// workers (Apache's `MaxRequestWorkers`, a thread per connection, Python's
    /// `http.server` with one) accepts the next connection only when a worker is
    /// free; the others wait in the accept queue, and past the backlog their
    /// handshakes are dropped (chapter item 14). `None`: an event loop that accepts
    /// everything at once, as nginx does.
    pub workers: Option<u32>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 80,
            response_writes: 1,
            keep_alive: true,
            keep_alive_timeout: Duration::from_secs(75),
            keep_alive_max: None,
            delay: Duration::ZERO,
            chunked: false,
            no_length: false,
            close: CloseMode::Graceful,
            linger: Duration::from_secs(2),
            truncate: None,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            workers: None,
        }
    }
}

/// Durations print in milliseconds in JSON (`5000.0`), the unit every timing uses.
fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.total_micros() as f64 / 1000.0)
}

/// Why a connection ended, as the server saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The client closed its side (or never sent a complete request before closing).
    PeerClosed,
    /// Idle longer than [`ServerConfig::keep_alive_timeout`].
    KeepAliveTimeout,
    /// [`ServerConfig::keep_alive_max`] requests were served.
    KeepAliveMax,
    /// A response carried `Connection: close`: the client asked for it, HTTP/1.0
    /// without keep-alive, keep-alive off, or a body delimited by the close.
    ConnectionClose,
    /// Bad input was answered with an error status.
    ErrorStatus,
    /// A request head did not complete within [`ServerConfig::header_timeout`].
    HeaderTimeout,
    /// No byte of a request body arrived for [`ServerConfig::body_timeout`].
    BodyTimeout,
    /// The socket took no byte of a response for [`ServerConfig::send_timeout`]: the
    /// client stopped reading. The connection was aborted.
    SendTimeout,
    /// A response was cut short on purpose ([`ServerConfig::truncate`]).
    Truncated,
    /// The connection failed: the peer reset it, or a write failed.
    Reset,
}

impl CloseReason {
    /// Whether the server decided to close (rather than the peer or the network).
    pub fn by_server(self) -> bool {
        !matches!(self, CloseReason::PeerClosed | CloseReason::Reset)
    }
}

impl std::fmt::Display for CloseReason {
    /// In words, for tables ("send timeout"); JSON uses the snake_case name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CloseReason::PeerClosed => "peer closed",
            CloseReason::KeepAliveTimeout => "keep-alive timeout",
            CloseReason::KeepAliveMax => "keep-alive max",
            CloseReason::ConnectionClose => "connection close",
            CloseReason::ErrorStatus => "error status",
            CloseReason::HeaderTimeout => "header timeout",
            CloseReason::BodyTimeout => "body timeout",
            CloseReason::SendTimeout => "send timeout",
            CloseReason::Truncated => "truncated",
            CloseReason::Reset => "reset",
        })
    }
}

/// What one connection did, as the server saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerConnStats {
    /// The host's id for the connection (joins with [`Host::stats`]).
    pub conn: ConnId,
    /// Host-clock time of accept, ms (virtual time since the start in a simulation).
    pub accepted_ms: f64,
    /// Requests answered (error responses to bad input not counted).
    pub requests_served: u32,
    /// Response bytes the socket took, heads and chunk framing included: what was
    /// handed to TCP, not what the client has read.
    pub response_bytes: u64,
    /// Whether the server decided to end the connection.
    pub closed_by_server: bool,
    /// Why it ended; `None` while it is open.
    pub reason: Option<CloseReason>,
    /// Host-clock time the connection ended for HTTP, ms: when the server half-closed
    /// or closed it, or saw the peer's close or reset. A graceful close may keep
    /// reading and discarding for up to [`ServerConfig::linger`] after this.
    pub closed_ms: Option<f64>,
}

/// Bytes the server holds for a connection on top of what its socket buffers, from
/// [`Server::buffered`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buffered {
    /// Response bytes generated and not yet taken by the socket: at most one piece
    /// (64 KiB of body and what precedes it), however large the response and however
    /// slowly the client reads, since the next piece is generated only once the socket
    /// has taken the last (two pieces while a pipelined response is held to join the
    /// next one).
    pub response: u64,
    /// Request bytes read and not yet parsed. The server stops reading once it holds
    /// 64 KiB (TCP's window then holds the client back), but a read takes everything
    /// the socket has received ([`Host::recv`] has no length), so this exceeds 64 KiB
    /// by what arrived since the last read: a flight while the server keeps up with
    /// the input, up to the socket's receive buffer when it resumes after a stall.
    pub request: u64,
}

fn ms(t: Instant) -> f64 {
    t.total_micros() as f64 / 1000.0
}

/// Unanswered input the server reads ahead before it stops reading (TCP's window then
/// holds the client back). A head is at most `MAX_HEAD_BYTES`, so this never stops a
/// head from completing.
const MAX_BUFFERED: usize = 64 * 1024;

/// Complete requests parsed ahead of the response being written.
const MAX_QUEUED: usize = 32;

/// Largest piece of a response generated at a time, so a big body costs no memory.
const PIECE_BYTES: u64 = 64 * 1024;

/// What answering a request needs of its head: kept in place of the head, whose
/// bytes leave the read buffer it was parsed from.
#[derive(Debug)]
struct Asked {
    method: Method,
    /// The body size a `/bytes/N` target asks for.
    size: Option<u64>,
    version: Version,
    /// A `Connection` field lists `close` (RFC 9112 §9.6).
    close: bool,
    /// A `Connection` field lists `keep-alive` (what an HTTP/1.0 client asks
    /// persistence with, chapter item 17).
    keep_alive: bool,
}

impl Asked {
    fn new(method: &Method, target: &str, version: Version, fields: &impl FieldLookup) -> Asked {
        Asked {
            method: method.clone(),
            size: requested_size(target),
            version,
            close: fields.has_connection_token("close"),
            keep_alive: fields.has_connection_token("keep-alive"),
        }
    }
}

/// A unit of work for the write side, in request order.
#[derive(Debug)]
enum Job {
    /// A complete request (head parsed, body consumed and discarded) to answer.
    Request(Asked),
    /// Bad input: answer with this status and close.
    Reject {
        /// The status (RFC 9110 §15.5, §15.6).
        status: u16,
        /// Why, for the plain-text body.
        detail: String,
    },
}

/// The read side (hyper's `Reading`).
#[derive(Debug)]
enum Reading {
    /// Waiting for a request head. `since` starts the header timer: at accept, and at
    /// the first byte of each later head; `None` while idle between requests (the
    /// keep-alive timer runs instead).
    Head { since: Option<Instant> },
    /// A head is parsed; its body is arriving and being discarded. `since` starts the
    /// body timer: when the head completed, then at every read that brought bytes.
    Body {
        request: Asked,
        decoder: BodyDecoder,
        since: Instant,
    },
    /// No more requests are read: a response says close, or the input was bad.
    Closed,
}

/// What a response leaves behind once it is fully offered (hyper's `KeepAlive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// Wait for the next request.
    KeepAlive,
    /// Close, for this reason.
    Close(CloseReason),
}

/// The write side (hyper's `Writing`).
#[derive(Debug)]
enum Writing {
    /// Nothing to write. `since`: when the last response was fully offered to TCP, or
    /// the accept; the keep-alive and header timers count from it.
    Idle { since: Instant },
    /// Processing a request (`--server-delay`); its response is due at `ready_at`.
    Processing {
        job: Job,
        /// Receive stream offset just after the request.
        request_end: u64,
        ready_at: Instant,
    },
    /// Offering a response to TCP. `since`: when the socket last took some of it, or
    /// when it started; the send timer counts from it.
    Sending {
        stream: ResponseStream,
        then: After,
        since: Instant,
    },
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading requests and writing responses.
    Serving,
    /// Graceful close: FIN sent; reading and discarding until the peer's FIN or `until`.
    Lingering { until: Instant },
}

/// A timer that can end a connection whose peer has gone quiet; at most one runs at a
/// time, the one of the phase the connection is in (nginx's model: each directive
/// times one wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Idle between requests: [`ServerConfig::keep_alive_timeout`].
    KeepAlive,
    /// Waiting for the rest of a head: [`ServerConfig::header_timeout`].
    Header,
    /// Waiting for more of a body: [`ServerConfig::body_timeout`].
    Body,
    /// Waiting for the socket to take more of a response: [`ServerConfig::send_timeout`].
    Send,
}

/// Per-connection state.
struct Conn {
    id: ConnId,
    /// Its place in accept order.
    accepted: u64,
    /// Its figures, for [`Server::connection_stats`].
    stats: ServerConnStats,
    /// Bytes read and not yet parsed.
    inbuf: ReadBuffer,
    /// The write being offered (the rest of one piece of a response).
    outbox: Outbox,
    reading: Reading,
    /// Requests parsed and not yet started, oldest first.
    /// With each, the receive stream offset just after its request.
    jobs: VecDeque<(Job, u64)>,
    writing: Writing,
    /// The outbox's last write is the end of a response held back because the next
    /// pipelined response is ready too: they go out together (see [`pump`]).
    held: bool,
    /// The client closed its side; everything it sent has been read.
    peer_eof: bool,
    phase: Phase,
    /// Bytes read from the socket so far.
    read_total: u64,
}

/// What driving a connection can change: a drive that left it as it was reached a
/// fixed point, and driving it again before something happens to it would change
/// nothing; one that moved it is driven again at the next poll, as every connection
/// was (see `wakeups`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct ConnPrint {
    read_total: u64,
    inbuf: usize,
    pending: u64,
    jobs: usize,
    reading: u8,
    writing: u8,
    held: bool,
    peer_eof: bool,
    phase: Phase,
}

impl Conn {
    fn print(&self) -> ConnPrint {
        ConnPrint {
            read_total: self.read_total,
            inbuf: self.inbuf.len(),
            pending: self.outbox.pending_bytes(),
            jobs: self.jobs.len(),
            reading: match self.reading {
                Reading::Head { since: None } => 0,
                Reading::Head { since: Some(_) } => 1,
                Reading::Body { .. } => 2,
                Reading::Closed => 3,
            },
            writing: match self.writing {
                Writing::Idle { .. } => 0,
                Writing::Processing { .. } => 1,
                Writing::Sending { .. } => 2,
            },
            held: self.held,
            peer_eof: self.peer_eof,
            phase: self.phase,
        }
    }

    /// Whether input has arrived that no response answered: an unparsed byte, a
    /// request queued, or a body half read. The server parses ahead for its own
    /// bookkeeping, but a server that reads one request at a time would have left all
    /// of this in the kernel, so for close() it counts as unread input (chapter item 24).
    fn has_unanswered_input(&self) -> bool {
        !self.inbuf.is_empty()
            || !self.jobs.is_empty()
            || matches!(self.reading, Reading::Body { .. })
    }

    /// The timer running now, and when it fires: the send timer while a response waits
    /// for the socket; otherwise, once every earlier request is answered, the timer of
    /// what the server waits for (the next request, the rest of its head or of its
    /// body). None while a request is being processed. A reading timer counts from the
    /// later of its own start and the moment the last response was out, so time spent
    /// writing earlier pipelined responses is never held against the next request.
    fn timer(&self, config: &ServerConfig) -> Option<(Timer, Instant)> {
        if self.phase != Phase::Serving {
            return None;
        }
        let idle = match self.writing {
            Writing::Sending { since, .. } => {
                return Some((Timer::Send, since + config.send_timeout))
            }
            Writing::Processing { .. } => return None,
            Writing::Idle { since } => since,
        };
        if !self.jobs.is_empty() {
            return None;
        }
        match self.reading {
            Reading::Head { since: None } => {
                Some((Timer::KeepAlive, idle + config.keep_alive_timeout))
            }
            Reading::Head { since: Some(first) } => {
                Some((Timer::Header, first.max(idle) + config.header_timeout))
            }
            Reading::Body { since, .. } => {
                Some((Timer::Body, since.max(idle) + config.body_timeout))
            }
            Reading::Closed => None,
        }
    }

    /// When this connection next needs a poll with nothing arriving.
    fn deadline(&self, config: &ServerConfig) -> Option<Instant> {
        match (self.phase, &self.writing) {
            (Phase::Lingering { until }, _) => Some(until),
            (Phase::Serving, Writing::Processing { ready_at, .. }) => Some(*ready_at),
            (Phase::Serving, _) => self.timer(config).map(|(_, at)| at),
        }
    }
}

/// The server application.
pub struct Server {
    config: ServerConfig,
    listening: bool,
    /// Boxed: a connection leaves the map while it is driven, and a box moves as a
    /// pointer where a connection is a few hundred bytes. A hash map, since nothing
    /// reads it in key order (passes take their order from the wakeups, the figures
    /// from accept order): with thousands of connections a B-tree's removal and
    /// insertion for every drive cost more than the drive's own work.
    conns: IdHashMap<ConnId, Box<Conn>>,
    /// Connections accepted so far.
    accepted: u64,
    /// The figures of closed connections kept (see [`Server::keep_stats_below`]),
    /// with their place in accept order.
    closed: Vec<(u64, ServerConnStats)>,
    keep_stats_below: usize,
    responses: u64,
    /// The latest response head written.
    head: LastHead<HeadRecipe>,
    /// The connections just accepted, until they are woken or driven; empty
    /// otherwise, and kept for its room.
    accepting: Vec<ConnId>,
    /// Which connections to drive (see `wakeups`).
    wakeups: Wakeups,
    /// What the latest poll answered.
    deadline: Option<Instant>,
}

impl Server {
    /// Accept waiting connections while a worker is free, adding them to `accepting`.
    fn accept_new(&mut self, host: &mut Host, now: Instant) {
        while self
            .config
            .workers
            .is_none_or(|w| self.conns.len() < w as usize)
        {
            let Some(id) = host.accept(self.config.port) else {
                break;
            };
            self.accepting.push(id);
            self.accepted += 1;
            self.conns.insert(
                id,
                Box::new(Conn {
                    id,
                    accepted: self.accepted,
                    stats: ServerConnStats {
                        conn: id,
                        accepted_ms: ms(now),
                        requests_served: 0,
                        response_bytes: 0,
                        closed_by_server: false,
                        reason: None,
                        closed_ms: None,
                    },
                    inbuf: ReadBuffer::default(),
                    outbox: Outbox::new(),
                    reading: Reading::Head { since: Some(now) },
                    jobs: VecDeque::new(),
                    writing: Writing::Idle { since: now },
                    held: false,
                    peer_eof: false,
                    phase: Phase::Serving,
                    read_total: 0,
                }),
            );
        }
    }

    /// A server that starts listening on its first poll.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            listening: false,
            conns: IdHashMap::default(),
            accepted: 0,
            closed: Vec::new(),
            keep_stats_below: usize::MAX,
            responses: 0,
            head: LastHead::default(),
            accepting: Vec::new(),
            wakeups: Wakeups::default(),
            deadline: None,
        }
    }

    /// Responses queued so far, error responses included.
    pub fn responses(&self) -> u64 {
        self.responses
    }

    /// Figures for every connection accepted so far, open or closed, in accept
    /// order (of those whose host id is below [`Server::keep_stats_below`]).
    pub fn connection_stats(&self) -> Vec<ServerConnStats> {
        let mut all = self.closed.clone();
        all.extend(
            self.conns
                .values()
                .filter(|c| c.id.0 < self.keep_stats_below)
                .map(|c| (c.accepted, c.stats.clone())),
        );
        all.sort_by_key(|&(order, _)| order);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// Keep the figures of connections whose host id is below `n` once they close
    /// (every one by default): a long-running server keeps a few, so that its
    /// memory follows its live connections.
    pub fn keep_stats_below(&mut self, n: usize) {
        self.keep_stats_below = n;
        self.closed.retain(|(_, s)| s.conn.0 < n);
    }

    /// Connections the server is serving or lingering on (it keeps state for them).
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// What the server holds for one connection beyond its socket; `None` once the
    /// server has forgotten the connection.
    pub fn buffered(&self, id: ConnId) -> Option<Buffered> {
        self.conns.get(&id).map(|c| Buffered {
            response: c.outbox.pending_bytes(),
            request: c.inbuf.len() as u64,
        })
    }

    /// Make all progress possible on one connection; false once it is gone.
    fn drive(&mut self, host: &mut Host, conn: &mut Conn) -> bool {
        let now = host.now();
        if let Phase::Lingering { until } = conn.phase {
            return self.linger(host, conn, now, until);
        }
        // Read, parse, answer; again while everything parsed got answered, since the
        // read-ahead limits may have left complete requests unread or unparsed, and
        // nothing else would wake the server for them.
        loop {
            let reading_open = !matches!(conn.reading, Reading::Closed);
            if reading_open && !conn.peer_eof && conn.inbuf.len() < MAX_BUFFERED {
                let room = MAX_BUFFERED - conn.inbuf.len();
                match host.recv_at_most(conn.id, conn.inbuf.appender(), room) {
                    Ok(Readable::Eof) => conn.peer_eof = true,
                    Ok(Readable::Data(n)) => {
                        conn.read_total += n as u64;
                        if let Reading::Body { since, .. } = &mut conn.reading {
                            // A read that brought body bytes restarts the body timer.
                            *since = now;
                        }
                    }
                    Ok(Readable::Nothing) => {}
                    Err(_) => return self.failed(conn, now),
                }
            }
            let read = host.read_so_far(conn.id);
            parse(conn, now, read);
            let queued = conn.jobs.len();
            if let Some(open) = self.write(host, conn, now) {
                return open;
            }
            if queued == 0 || !matches!(conn.writing, Writing::Idle { .. }) {
                break;
            }
        }
        let idle = matches!(conn.writing, Writing::Idle { .. }) && conn.jobs.is_empty();
        if idle && conn.peer_eof {
            // Everything the client sent is answered and no more can come.
            self.finish(conn, now, CloseReason::PeerClosed);
            host.close(conn.id);
            return false;
        }
        match conn.timer(&self.config) {
            Some((Timer::KeepAlive, at)) if at <= now => {
                self.begin_close(host, conn, now, CloseReason::KeepAliveTimeout)
            }
            Some((Timer::Header, at)) if at <= now => {
                self.begin_close(host, conn, now, CloseReason::HeaderTimeout)
            }
            Some((Timer::Body, at)) if at <= now => {
                // The request is abandoned: what arrived of its body was read, so a
                // close leaves nothing unread behind (no RST, unless more is in flight).
                conn.reading = Reading::Closed;
                self.begin_close(host, conn, now, CloseReason::BodyTimeout)
            }
            Some((Timer::Send, at)) if at <= now => {
                self.finish(conn, now, CloseReason::SendTimeout);
                host.abort(conn.id);
                false
            }
            _ => true,
        }
    }

    /// Start, process and offer responses in request order until one must wait (for
    /// the socket or for `--server-delay`) or none is queued. `Some(open)` when the
    /// connection ended on the way (what [`Server::drive`] then returns).
    fn write(&mut self, host: &mut Host, conn: &mut Conn, now: Instant) -> Option<bool> {
        loop {
            match &mut conn.writing {
                Writing::Idle { .. } => {
                    let Some((job, request_end)) = conn.jobs.pop_front() else {
                        if conn.held {
                            conn.held = false;
                            match flush(&mut conn.outbox, host, conn.id) {
                                Ok((_, taken)) => conn.stats.response_bytes += taken,
                                Err(_) => return Some(self.failed(conn, now)),
                            }
                        }
                        return None;
                    };
                    host.trace_http(
                        Some(conn.id),
                        None,
                        HttpEvent::ProcessingStarted { request_end },
                    );
                    if self.config.delay > Duration::ZERO {
                        conn.writing = Writing::Processing {
                            job,
                            request_end,
                            ready_at: now + self.config.delay,
                        };
                    } else {
                        self.start_response(host, conn, job, request_end, now);
                    }
                }
                Writing::Processing { ready_at, .. } if *ready_at <= now => {
                    let idle = Writing::Idle { since: now };
                    if let Writing::Processing {
                        job, request_end, ..
                    } = std::mem::replace(&mut conn.writing, idle)
                    {
                        self.start_response(host, conn, job, request_end, now);
                    }
                }
                Writing::Processing { .. } => return None,
                Writing::Sending {
                    stream,
                    then,
                    since,
                } => {
                    // Apache's rule: while more pipelined requests are ready, do not
                    // flush the end of a response; the next one joins it, so a batch of
                    // small responses is one write and Nagle holds none of them.
                    let hold = matches!(then, After::KeepAlive)
                        && !conn.jobs.is_empty()
                        && self.config.delay == Duration::ZERO
                        && self.config.response_writes == 1;
                    match pump(
                        &mut conn.outbox,
                        stream,
                        host,
                        conn.id,
                        hold,
                        &mut conn.held,
                    ) {
                        Ok(pumped) => {
                            conn.stats.response_bytes += pumped.taken;
                            if !pumped.done {
                                if pumped.taken > 0 {
                                    // nginx's send_timeout counts from the last write
                                    // that got anywhere.
                                    *since = now;
                                }
                                return None;
                            }
                            match *then {
                                After::KeepAlive => conn.writing = Writing::Idle { since: now },
                                After::Close(reason) => {
                                    return Some(self.begin_close(host, conn, now, reason))
                                }
                            }
                        }
                        Err(_) => return Some(self.failed(conn, now)),
                    }
                }
            }
        }
    }

    /// Queue the response to `job` and decide what follows it.
    fn start_response(
        &mut self,
        host: &mut Host,
        conn: &mut Conn,
        job: Job,
        request_end: u64,
        now: Instant,
    ) {
        self.responses += 1;
        // The response's first byte follows whatever the outbox still holds.
        let start = host.written(conn.id) + conn.outbox.pending_bytes();
        host.trace_http(
            Some(conn.id),
            None,
            HttpEvent::ResponseHead { request_end, start },
        );
        let (stream, then) = match job {
            Job::Reject { status, detail } => (
                error_response(status, &detail),
                After::Close(CloseReason::ErrorStatus),
            ),
            Job::Request(request) => {
                let stats = &mut conn.stats;
                stats.requests_served = stats.requests_served.saturating_add(1);
                build_response(
                    &self.config,
                    &mut self.head,
                    &request,
                    stats.requests_served,
                )
            }
        };
        if let After::Close(_) = then {
            // No request after this one is read (RFC 9112 §9.6): what is queued stays
            // unanswered.
            conn.reading = Reading::Closed;
        }
        conn.writing = Writing::Sending {
            stream,
            then,
            since: now,
        };
    }

    /// The server ends the connection (RFC 9112 §9.6): abruptly, or by half-closing and
    /// lingering (chapter item 24). False once the connection is gone.
    fn begin_close(
        &mut self,
        host: &mut Host,
        conn: &mut Conn,
        now: Instant,
        reason: CloseReason,
    ) -> bool {
        self.finish(conn, now, reason);
        let mode = if reason == CloseReason::ErrorStatus {
            CloseMode::Graceful
        } else {
            self.config.close
        };
        match mode {
            CloseMode::Abrupt => {
                if conn.has_unanswered_input() {
                    host.abort(conn.id);
                } else {
                    // Resets anyway if unread bytes wait in the socket.
                    host.close(conn.id);
                }
                false
            }
            CloseMode::Graceful => {
                host.shutdown_write(conn.id);
                conn.reading = Reading::Closed;
                conn.jobs.clear();
                conn.inbuf.clear();
                let until = now + self.config.linger;
                conn.phase = Phase::Lingering { until };
                self.linger(host, conn, now, until)
            }
        }
    }

    /// Read and discard until the peer closes or `until`, then close. False once done.
    fn linger(&mut self, host: &mut Host, conn: &mut Conn, now: Instant, until: Instant) -> bool {
        loop {
            match host.recv(conn.id, conn.inbuf.appender()) {
                Ok(Readable::Data(n)) => {
                    conn.read_total += n as u64;
                    conn.inbuf.clear();
                }
                Ok(Readable::Eof) => {
                    host.close(conn.id);
                    return false;
                }
                Ok(Readable::Nothing) => break,
                // Reset while lingering: nothing left to protect.
                Err(_) => return false,
            }
        }
        if conn.peer_eof || until <= now {
            host.close(conn.id);
            return false;
        }
        true
    }

    /// The socket failed (reset, or closed under us).
    fn failed(&mut self, conn: &mut Conn, now: Instant) -> bool {
        self.finish(conn, now, CloseReason::Reset);
        false
    }

    /// Record the end of a connection (the first reason only).
    fn finish(&mut self, conn: &mut Conn, now: Instant, reason: CloseReason) {
        let stats = &mut conn.stats;
        if stats.reason.is_none() {
            stats.reason = Some(reason);
            stats.closed_ms = Some(ms(now));
            stats.closed_by_server = reason.by_server();
        }
    }
}

/// Turn buffered input into jobs, until a head or body is incomplete, the input is
/// bad, or enough requests are queued.
/// `read` is how many bytes the connection has read so far: a request ends at
/// that offset less what is still buffered.
fn parse(conn: &mut Conn, now: Instant, read: u64) {
    while conn.jobs.len() < MAX_QUEUED {
        match &mut conn.reading {
            Reading::Closed => return,
            Reading::Head { since } => {
                if conn.inbuf.is_empty() {
                    return;
                }
                // The first byte of this head starts its timer.
                since.get_or_insert(now);
                let mut slots = FieldSlots::new();
                match parse_request_head(conn.inbuf.as_slice(), &mut slots) {
                    Ok(Parsed::Partial) => return,
                    Ok(Parsed::Complete { message, head_len }) => {
                        let checked = check_request(message.version, &message.fields);
                        let asked = Asked::new(
                            &message.method,
                            message.target,
                            message.version,
                            &message.fields,
                        );
                        conn.inbuf.consume(head_len);
                        match checked {
                            Ok(framing) => {
                                conn.reading = Reading::Body {
                                    request: asked,
                                    decoder: BodyDecoder::new(framing),
                                    since: now,
                                }
                            }
                            Err((status, detail)) => return reject(conn, status, detail, read),
                        }
                    }
                    Err(e) => return reject(conn, e.status(), e.to_string(), read),
                }
            }
            Reading::Body { decoder, .. } => {
                match decoder.decode(conn.inbuf.as_slice(), &mut |_| {}) {
                    Ok(used) => {
                        conn.inbuf.consume(used);
                    }
                    Err(e) => return reject(conn, e.status(), e.to_string(), read),
                }
                if !decoder.is_complete() {
                    return;
                }
                let done = std::mem::replace(&mut conn.reading, Reading::Head { since: None });
                if let Reading::Body { request, .. } = done {
                    let end = read - conn.inbuf.len() as u64;
                    conn.jobs.push_back((Job::Request(request), end));
                }
            }
        }
    }
}

/// Queue an error answer and stop reading: after bad input the framing of anything
/// that follows is unknown (RFC 9112 §6.3, §9.6).
fn reject(conn: &mut Conn, status: u16, detail: String, read: u64) {
    let end = read - conn.inbuf.len() as u64;
    conn.jobs.push_back((Job::Reject { status, detail }, end));
    conn.reading = Reading::Closed;
}

/// Checks a parsed head (its `version` and `fields`) before its body is read: body
/// framing (RFC 9112 §6.3: no guessing between Content-Length and Transfer-Encoding,
/// which is how requests are smuggled) and Host (RFC 9112 §3.2). Returns the body
/// framing, or the status to answer with.
fn check_request(version: Version, fields: &impl FieldLookup) -> Result<Framing, (u16, String)> {
    let framing = request_body_framing(fields, version).map_err(|e| (e.status(), e.to_string()))?;
    let mut hosts = fields.values("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::Http11 => {
            Err((400, "HTTP/1.1 request without Host".to_string()))
        }
        (Some(_), Some(_)) => Err((400, "more than one Host".to_string())),
        (Some(value), None) if !valid_host(value) => Err((400, "invalid Host".to_string())),
        _ => Ok(framing),
    }
}

/// Whether `value` can be a Host field value: `uri-host [ ":" port ]` (RFC 9110 §7.2,
/// RFC 3986 §3.2.2), checked by character class. Empty is allowed (RFC 9112 §3.2:
/// a target without an authority).
fn valid_host(value: &str) -> bool {
    value
        .trim_matches([' ', '\t'])
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b))
}

/// The path of a request target: origin-form as is, absolute-form without scheme and
/// authority (RFC 9112 §3.2.2: a server must accept it), and without any query.
fn target_path(target: &str) -> &str {
    let mut path = target;
    for scheme in ["http://", "https://"] {
        if path.len() >= scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &path[scheme.len()..];
            path = rest.find('/').map_or("/", |i| &rest[i..]);
            break;
        }
    }
    path.split(['?', '#']).next().unwrap_or(path)
}

/// The size asked for by a `/bytes/N` target.
fn requested_size(target: &str) -> Option<u64> {
    let digits = target_path(target).strip_prefix("/bytes/")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether the client and configuration allow the connection to carry another request
/// after this one (RFC 9112 §9.3): every Connection option is looked at, `close` ends
/// it, `keep-alive` matters for HTTP/1.0 only; the others name hop-by-hop fields or
/// extensions (RFC 9110 §7.6.1) and change nothing for an origin server.
fn persists(config: &ServerConfig, request: &Asked) -> bool {
    if !config.keep_alive || request.close {
        return false;
    }
    match request.version {
        Version::Http11 => true,
        Version::Http10 => request.keep_alive,
    }
}

/// The `Keep-Alive` hint for HTTP/1.0 (chapter item 17; RFC 2068 §19.7.1.1): whole
/// seconds of idle time allowed, and how many more requests this connection takes
/// (`left`, when limited).
fn keep_alive_hint(config: &ServerConfig, left: Option<u32>) -> String {
    let timeout = config.keep_alive_timeout.total_millis() / 1000;
    match left {
        Some(left) => format!("timeout={timeout}, max={left}"),
        None => format!("timeout={timeout}"),
    }
}

/// What a response head is written from besides the server's configuration: the
/// same recipe makes the same head, so a run of like responses writes it once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HeadRecipe {
    version: Version,
    status: u16,
    length: LengthField,
    connection: ConnectionField,
}

/// The field that delimits a response body, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LengthField {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length`.
    Length(u64),
    /// None: the body ends when the connection closes.
    UntilClose,
}

/// What a response head says of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectionField {
    /// Nothing: HTTP/1.1 persists by default.
    Nothing,
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive` and the `Keep-Alive` hint, with the requests the
    /// connection still takes when they are limited (HTTP/1.0).
    KeepAlive { left: Option<u32> },
}

impl HeadRecipe {
    /// Appends the head to `out`.
    fn write(self, config: &ServerConfig, out: &mut Vec<u8>) {
        let length;
        let framing = match self.length {
            LengthField::Chunked => Some(("Transfer-Encoding", "chunked")),
            LengthField::Length(n) => {
                length = Decimal::new(n);
                Some(("Content-Length", length.as_str()))
            }
            LengthField::UntilClose => None,
        };
        let hint;
        let connection = match self.connection {
            ConnectionField::Nothing => [None, None],
            ConnectionField::Close => [Some(("Connection", "close")), None],
            ConnectionField::KeepAlive { left } => {
                hint = keep_alive_hint(config, left);
                [
                    Some(("Connection", "keep-alive")),
                    Some(("Keep-Alive", hint.as_str())),
                ]
            }
        };
        let fields = [
            Some(("Content-Type", "application/octet-stream")),
            // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
            (self.status == 405).then_some(("Allow", "GET, HEAD, POST, PUT, DELETE")),
            framing,
        ];
        write_response_head(
            out,
            self.version,
            self.status,
            reason(self.status),
            fields.into_iter().chain(connection).flatten(),
        );
    }
}

/// The response to the `served`th request on a connection, and what follows it;
/// `head` is the latest head written, reused when this one is the same.
fn build_response(
    config: &ServerConfig,
    head: &mut LastHead<HeadRecipe>,
    request: &Asked,
    served: u32,
) -> (ResponseStream, After) {
    let (status, size) = match (&request.method, request.size) {
        // The lab answers every method the client can send (`--method`) with the
        // pattern: the method matters to the client's retry and pipelining rules.
        (Method::Get | Method::Head | Method::Post | Method::Put | Method::Delete, Some(n)) => {
            (200, n)
        }
        (_, Some(_)) => (405, 0),
        (_, None) => (404, 0),
    };
    let chunked = config.chunked && request.version == Version::Http11;
    let until_close = !chunked && config.no_length;
    let mut then = if until_close || !persists(config, request) {
        After::Close(CloseReason::ConnectionClose)
    } else if config.keep_alive_max.is_some_and(|max| served >= max) {
        After::Close(CloseReason::KeepAliveMax)
    } else {
        After::KeepAlive
    };
    let recipe = HeadRecipe {
        version: request.version,
        status,
        length: if chunked {
            LengthField::Chunked
        } else if until_close {
            LengthField::UntilClose
        } else {
            // HEAD: the length a GET would have had (RFC 9110 §8.6).
            LengthField::Length(size)
        },
        connection: match then {
            After::Close(_) => ConnectionField::Close,
            After::KeepAlive if request.version == Version::Http10 => ConnectionField::KeepAlive {
                left: config.keep_alive_max.map(|max| max.saturating_sub(served)),
            },
            After::KeepAlive => ConnectionField::Nothing,
        },
    };
    let head = head
        .get_or_write(recipe, |out| recipe.write(config, out))
        .to_vec();
    if request.method == Method::Head {
        // No body at all, not even a last-chunk (RFC 9112 §6.3 item 1).
        return (
            ResponseStream::new(head, 0, config.response_writes, Chunking::None),
            then,
        );
    }
    let (sent, chunking) = match config.truncate {
        Some(limit) if limit < size => {
            then = After::Close(CloseReason::Truncated);
            (
                limit,
                if chunked {
                    Chunking::Unfinished
                } else {
                    Chunking::None
                },
            )
        }
        _ => (
            size,
            if chunked {
                Chunking::Complete
            } else {
                Chunking::None
            },
        ),
    };
    (
        ResponseStream::new(head, sent, config.response_writes, chunking),
        then,
    )
}

/// An error answer: plain text, `Connection: close`, one write.
fn error_response(status: u16, detail: &str) -> ResponseStream {
    let body = format!("{detail}\n").into_bytes();
    let mut headers = Headers::default();
    headers.append("Content-Type", "text/plain");
    headers.append("Content-Length", body.len().to_string());
    headers.append("Connection", "close");
    let response = Response {
        version: Version::Http11,
        status,
        reason: reason(status).to_string(),
        headers,
    };
    let mut bytes = Vec::new();
    response.write_head(&mut bytes);
    bytes.extend_from_slice(&body);
    ResponseStream::new(bytes, 0, 1, Chunking::None)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// How a response body is chunk-framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunking {
    /// Not chunked (Content-Length, or delimited by the close).
    None,
    /// Chunked, ending with the last-chunk (RFC 9112 §7.1).
    Complete,
    /// Chunked, cut short: no last-chunk ([`ServerConfig::truncate`]).
    Unfinished,
}

/// A response still to be offered, as a queue of write() calls whose body bytes are
/// generated a piece (at most [`PIECE_BYTES`]) at a time as the socket takes them, so
/// a 1 GiB body costs no memory. A write longer than a piece becomes several send()
/// calls in a row, as the outbox does for long writes; chunked, each piece is a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ResponseStream {
    /// The write being offered, taken from `writes` when the one before it is out.
    current: Option<PlannedWrite>,
    writes: WritePlan,
    /// Pattern offset of the next body byte.
    offset: u64,
    chunking: Chunking,
}

impl ResponseStream {
    /// `head`, then `body_len` body bytes, in `writes` write() calls, split as
    /// [`Outbox::push_message`] splits: with a body and at least two writes the head
    /// goes alone and the body is split evenly over the rest; otherwise one write
    /// carries head and body, and a message without a body has its head split evenly.
    fn new(head: Vec<u8>, body_len: u64, writes: u32, chunking: Chunking) -> ResponseStream {
        let mut head = head;
        if body_len == 0 && chunking == Chunking::Complete {
            // An empty chunked body is just the last-chunk: part of the literal.
            encode_last_chunk(&mut head);
        }
        ResponseStream {
            current: None,
            writes: plan_writes(head, body_len, writes),
            offset: 0,
            chunking: if body_len > 0 {
                chunking
            } else {
                Chunking::None
            },
        }
    }

    /// The next piece to offer as one send(): the current write's literal prefix and
    /// up to [`PIECE_BYTES`] of its body (as one chunk when chunked), plus the
    /// last-chunk after the final body byte. `None` once everything is out. Unchunked
    /// body bytes stay a pattern range, generated only as the socket takes them.
    fn next_piece(&mut self) -> Option<Piece> {
        loop {
            if self.current.is_none() {
                self.current = self.writes.next();
            }
            let write = self.current.as_mut()?;
            let mut piece = Piece::literal(std::mem::take(&mut write.prefix));
            let take = write.body.min(PIECE_BYTES);
            if take > 0 {
                if self.chunking == Chunking::None {
                    piece.body_offset = self.offset;
                    piece.body_len = take;
                } else {
                    let mut data = vec![0; take as usize];
                    payload::fill(self.offset, &mut data);
                    encode_chunk(&data, &mut piece.prefix);
                }
                self.offset += take;
                write.body -= take;
            }
            // The rest of this write comes in the next piece.
            piece.more = write.body > 0;
            if write.body == 0 {
                self.current = None;
                if self.is_out() && self.chunking == Chunking::Complete {
                    // Only chunked pieces get here, and they have no pattern range.
                    encode_last_chunk(&mut piece.prefix);
                }
            }
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }

    /// Whether every write has been taken whole by [`ResponseStream::next_piece`].
    fn is_out(&self) -> bool {
        self.current.is_none() && self.writes.len() == 0
    }
}

/// What one [`pump`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pumped {
    /// Bytes the socket took.
    taken: u64,
    /// All of the response is offered (its last piece may be held, see [`pump`]);
    /// otherwise the socket is full.
    done: bool,
}

/// [`Outbox::flush`], and how many bytes the socket took.
fn flush(outbox: &mut Outbox, host: &mut Host, id: ConnId) -> Result<(bool, u64), SocketError> {
    let before = outbox.pending_bytes();
    let all = outbox.flush(host, id)?;
    Ok((all, before - outbox.pending_bytes()))
}

/// Offer as much of a response as the socket takes.
///
/// With `hold`, the response's last piece stays in the outbox (`held` says so) to be
/// sent in one write with the first piece of the next response.
fn pump(
    outbox: &mut Outbox,
    stream: &mut ResponseStream,
    host: &mut Host,
    id: ConnId,
    hold: bool,
    held: &mut bool,
) -> Result<Pumped, SocketError> {
    let mut taken = 0;
    loop {
        if *held {
            *held = false;
            if let Some(piece) = stream.next_piece() {
                outbox.extend_last_write_piece(piece);
            }
        } else {
            let (all, n) = flush(outbox, host, id)?;
            taken += n;
            if !all {
                return Ok(Pumped { taken, done: false });
            }
            match stream.next_piece() {
                Some(piece) => outbox.push_piece(piece),
                None => return Ok(Pumped { taken, done: true }),
            }
        }
        if hold && stream.is_out() {
            *held = true;
            return Ok(Pumped { taken, done: true });
        }
    }
}

impl Server {
    /// Drive connection `key` of `pass`: keep it while it lasts, wake it for the
    /// next poll if it moved, queue its deadline, and pass on what its calls did to
    /// other connections.
    fn drive_key(&mut self, host: &mut Host, key: usize, pass: &mut Pass) {
        let id = ConnId(key);
        if let Some(mut conn) = self.conns.remove(&id) {
            let before = conn.print();
            if self.drive(host, &mut conn) {
                if conn.print() != before {
                    self.wakeups.wake(key);
                }
                self.wakeups.set_timer(key, conn.deadline(&self.config));
                self.conns.insert(id, conn);
            } else {
                self.wakeups.forget(key);
                if key < self.keep_stats_below {
                    self.closed.push((conn.accepted, conn.stats));
                }
            }
        }
        let conns = &self.conns;
        self.wakeups.after_drive(
            host,
            key,
            pass,
            |id| conns.contains_key(&id).then_some(id.0),
            conns.keys().map(|id| id.0),
        );
    }
}

impl Application for Server {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        if !self.listening {
            host.listen(self.config.port);
            self.listening = true;
        }
        let now = host.now();
        let conns = &self.conns;
        self.wakeups.collect_news(
            host,
            |id| conns.contains_key(&id).then_some(id.0),
            conns.keys().map(|id| id.0),
        );
        // Nothing to accept, no news, nothing woken, no deadline come: this poll
        // would end where the latest did.
        if !host.has_pending_accept(self.config.port)
            && self.wakeups.is_idle(now)
            && self.deadline.is_none_or(|d| d > now)
        {
            return self.deadline;
        }
        self.accept_new(host, now);
        for id in self.accepting.drain(..) {
            self.wakeups.wake(id.0);
        }
        // Only connections something happened to, in id order: driving any other
        // would change nothing (see `wakeups`).
        let conns = &self.conns;
        let mut pass = self.wakeups.begin_pass(
            host,
            now,
            |id| conns.contains_key(&id).then_some(id.0),
            conns.keys().map(|id| id.0),
        );
        while let Some(key) = pass.pop_first() {
            self.drive_key(host, key, &mut pass);
        }
        self.wakeups.end_pass(pass);
        // Workers freed at this instant take the next waiting connections now; what
        // driving them does to others waits for the next poll.
        self.accept_new(host, now);
        for i in 0..self.accepting.len() {
            let mut later = Pass::default();
            self.drive_key(host, self.accepting[i].0, &mut later);
            while let Some(key) = later.pop_first() {
                self.wakeups.wake(key);
            }
        }
        self.accepting.clear();
        self.deadline = self.wakeups.next_timer();
        self.deadline
    }

    fn is_done(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;

    fn request(version: Version, fields: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            target: "/bytes/10".into(),
            version,
            headers: fields.iter().copied().collect(),
        }
    }

    fn asked(req: &Request) -> Asked {
        Asked::new(&req.method, &req.target, req.version, &req.headers)
    }

    fn check(req: &Request) -> Result<Framing, (u16, String)> {
        check_request(req.version, &req.headers)
    }

    /// Everything a stream would send, and the sizes of its send() calls.
    fn drain(mut stream: ResponseStream) -> (Vec<u8>, Vec<usize>) {
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        while let Some(piece) = stream.next_piece() {
            sizes.push(piece.len() as usize);
            all.extend_from_slice(&piece.to_bytes());
        }
        (all, sizes)
    }

    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        payload::fill(offset, &mut v);
        v
    }

    #[test]
    fn bytes_targets() {
        assert_eq!(requested_size("/bytes/100"), Some(100));
        assert_eq!(requested_size("/bytes/100?x=1"), Some(100));
        assert_eq!(requested_size("http://h:80/bytes/7"), Some(7));
        assert_eq!(requested_size("HTTP://h/bytes/7#f"), Some(7));
        assert_eq!(requested_size("http://h"), None);
        assert_eq!(requested_size("/bytes/"), None);
        assert_eq!(requested_size("/bytes/-1"), None);
        assert_eq!(requested_size("/bytes/+1"), None);
        assert_eq!(requested_size("/bytes/99999999999999999999"), None);
        assert_eq!(requested_size("/other"), None);
        assert_eq!(requested_size("*"), None);
    }

    #[test]
    fn persistence_rules() {
        let config = ServerConfig::default();
        let mut req = request(Version::Http11, &[]);
        assert!(
            persists(&config, &asked(&req)),
            "HTTP/1.1 persists by default"
        );
        req.headers.append("Connection", "x-trace, Upgrade");
        assert!(
            persists(&config, &asked(&req)),
            "other options change nothing"
        );
        req.headers.append("Connection", "keep-alive, CLOSE");
        assert!(!persists(&config, &asked(&req)), "close wins, in any field");
        let mut req = request(Version::Http10, &[]);
        assert!(
            !persists(&config, &asked(&req)),
            "HTTP/1.0 closes by default"
        );
        req.headers.append("Connection", "x-foo , Keep-Alive");
        assert!(persists(&config, &asked(&req)));
        let off = ServerConfig {
            keep_alive: false,
            ..ServerConfig::default()
        };
        assert!(!persists(&off, &asked(&req)));
    }

    #[test]
    fn keep_alive_hints() {
        let mut config = ServerConfig::default();
        assert_eq!(keep_alive_hint(&config, None), "timeout=75");
        config.keep_alive_timeout = Duration::from_millis(15_900);
        assert_eq!(keep_alive_hint(&config, Some(2)), "timeout=15, max=2");
    }

    /// A head reused from the latest response is the head written afresh, whatever
    /// came before it.
    #[test]
    fn reused_heads_are_written_heads() {
        let config = ServerConfig {
            keep_alive_max: Some(4),
            ..ServerConfig::default()
        };
        let ka10 = request(Version::Http10, &[("Connection", "keep-alive")]);
        let mut other = request(Version::Http11, &[]);
        other.target = "/bytes/7".into();
        let requests = [
            request(Version::Http11, &[]),
            request(Version::Http11, &[]),
            ka10.clone(),
            ka10,
            other,
            request(Version::Http11, &[]),
        ];
        let mut head = LastHead::default();
        for (served, req) in (1..).zip(&requests) {
            let reused = build_response(&config, &mut head, &asked(req), served);
            let fresh = build_response(&config, &mut LastHead::default(), &asked(req), served);
            assert_eq!(reused, fresh, "request {served}");
        }
    }

    #[test]
    fn hosts() {
        for ok in ["", "example.com", "192.0.2.2:80", "[::1]:8080", "a-b_c.d~"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["a b", "a/b", "user@host", "a?b", "\u{e9}"] {
            assert!(!valid_host(bad), "{bad}");
        }
        assert!(check(&request(Version::Http10, &[])).is_ok());
        assert_eq!(check(&request(Version::Http11, &[])).unwrap_err().0, 400);
        let two = [("Host", "a"), ("host", "a")];
        assert_eq!(check(&request(Version::Http10, &two)).unwrap_err().0, 400);
        let te = [("Host", "a"), ("Transfer-Encoding", "gzip, chunked")];
        assert_eq!(check(&request(Version::Http11, &te)).unwrap_err().0, 501);
    }

    #[test]
    fn stream_splits_like_the_outbox() {
        let head = b"HEAD".to_vec();
        // head alone, then 7 body bytes in 2 writes
        let (all, sizes) = drain(ResponseStream::new(head.clone(), 7, 3, Chunking::None));
        assert_eq!(sizes, vec![4, 4, 3]);
        assert_eq!(&all[4..], &pattern(0, 7)[..]);
        // one write: head and body together
        let (_, sizes) = drain(ResponseStream::new(head.clone(), 5, 1, Chunking::None));
        assert_eq!(sizes, vec![9]);
        // no body: the head split, never an empty write
        let (all, sizes) = drain(ResponseStream::new(head.clone(), 0, 3, Chunking::None));
        assert_eq!((all, sizes), (head.clone(), vec![2, 1, 1]));
        let (_, sizes) = drain(ResponseStream::new(b"ab".to_vec(), 0, 5, Chunking::None));
        assert_eq!(sizes, vec![1, 1]);
        // more writes than body bytes: one byte each
        let (_, sizes) = drain(ResponseStream::new(head, 2, 9, Chunking::None));
        assert_eq!(sizes, vec![4, 1, 1]);
    }

    #[test]
    fn chunked_stream_one_chunk_per_write() {
        let (all, sizes) = drain(ResponseStream::new(
            b"H".to_vec(),
            20,
            3,
            Chunking::Complete,
        ));
        let mut expected = b"H".to_vec();
        encode_chunk(&pattern(0, 10), &mut expected);
        let second = expected.len();
        encode_chunk(&pattern(10, 10), &mut expected);
        encode_last_chunk(&mut expected);
        assert_eq!(all, expected);
        assert_eq!(sizes, vec![1, second - 1, expected.len() - second]);
        // empty body: just the last-chunk, with the head
        let (all, _) = drain(ResponseStream::new(b"H".to_vec(), 0, 1, Chunking::Complete));
        assert_eq!(all, b"H0\r\n\r\n");
        // cut short: no last-chunk
        let (all, _) = drain(ResponseStream::new(
            b"H".to_vec(),
            3,
            1,
            Chunking::Unfinished,
        ));
        assert_eq!(all, [&b"H3\r\n"[..], &pattern(0, 3), b"\r\n"].concat());
    }

    #[test]
    fn big_bodies_go_in_pieces() {
        let len = 3 * PIECE_BYTES + 5;
        let mut stream = ResponseStream::new(b"H".to_vec(), len, 1, Chunking::None);
        let mut sizes = Vec::new();
        let mut offset = 0u64;
        while let Some(piece) = stream.next_piece() {
            let piece = piece.to_bytes();
            let body = if sizes.is_empty() {
                &piece[1..]
            } else {
                &piece[..]
            };
            assert_eq!(payload::verify(offset, body), Ok(()));
            offset += body.len() as u64;
            sizes.push(piece.len() as u64);
        }
        assert_eq!(sizes, vec![PIECE_BYTES + 1, PIECE_BYTES, PIECE_BYTES, 5]);
        // a 1 TiB body is planned without allocating it
        let mut huge = ResponseStream::new(Vec::new(), 1 << 40, 2, Chunking::Complete);
        assert_eq!(huge.next_piece().map(|p| p.len()), Some(PIECE_BYTES + 9));
    }

    #[test]
    fn responses_frame_and_persist() {
        let text = |config: &ServerConfig, req: &Request, served| {
            let (stream, then) =
                build_response(config, &mut LastHead::default(), &asked(req), served);
            (String::from_utf8(drain(stream).0).unwrap(), then)
        };
        let config = ServerConfig::default();
        let (r, then) = text(&config, &request(Version::Http11, &[]), 1);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("Content-Length: 10\r\n") && !r.contains("Connection"),
            "{r}"
        );
        assert_eq!(then, After::KeepAlive);

        let ka10 = request(Version::Http10, &[("Connection", "keep-alive")]);
        let max = ServerConfig {
            keep_alive_max: Some(2),
            ..ServerConfig::default()
        };
        let (r, then) = text(&max, &ka10, 1);
        assert!(
            r.contains("Connection: keep-alive\r\nKeep-Alive: timeout=75, max=1\r\n"),
            "{r}"
        );
        assert_eq!(then, After::KeepAlive);
        let (r, then) = text(&max, &ka10, 2);
        assert!(
            r.contains("Connection: close\r\n") && !r.contains("Keep-Alive"),
            "{r}"
        );
        assert_eq!(then, After::Close(CloseReason::KeepAliveMax));

        let chunked = ServerConfig {
            chunked: true,
            no_length: true,
            ..ServerConfig::default()
        };
        let (r, then) = text(&chunked, &request(Version::Http11, &[]), 1);
        assert!(
            r.contains("Transfer-Encoding: chunked\r\n") && r.ends_with("\r\n0\r\n\r\n"),
            "{r}"
        );
        assert_eq!(then, After::KeepAlive);
        // HTTP/1.0 never gets chunked: no_length applies
        let (r, then) = text(&chunked, &ka10, 1);
        assert!(
            !r.contains("Transfer-Encoding") && !r.contains("Content-Length"),
            "{r}"
        );
        assert!(r.contains("Connection: close\r\n"), "{r}");
        assert_eq!(then, After::Close(CloseReason::ConnectionClose));

        let cut = ServerConfig {
            truncate: Some(4),
            ..ServerConfig::default()
        };
        let (r, then) = text(&cut, &request(Version::Http11, &[]), 1);
        assert!(
            r.contains("Content-Length: 10\r\n") && !r.contains("Connection"),
            "{r}"
        );
        assert!(
            r.ends_with(std::str::from_utf8(&pattern(0, 4)).unwrap()),
            "{r}"
        );
        assert_eq!(then, After::Close(CloseReason::Truncated));

        let mut head = request(Version::Http11, &[]);
        head.method = Method::Head;
        let (r, _) = text(&chunked, &head, 1);
        assert!(
            r.ends_with("chunked\r\n\r\n"),
            "HEAD: no body, no last-chunk: {r}"
        );
        let mut delete = request(Version::Http11, &[]);
        delete.method = Method::Delete;
        let (r, _) = text(&config, &delete, 1);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let mut options = request(Version::Http11, &[]);
        options.method = Method::Options;
        let (r, _) = text(&config, &options, 1);
        assert!(
            r.starts_with("HTTP/1.1 405") && r.contains("Allow: GET, HEAD, POST, PUT, DELETE"),
            "{r}"
        );
    }
}
