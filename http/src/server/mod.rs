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

// The code, one concern a file: `config` (`ServerConfig`, `CloseMode`) and `stats`
// (`CloseReason`, `ServerConnStats`, `Buffered`) hold the public types; `conn` is a
// connection's state, `drive` moves it, `request` reads requests, `response` builds
// responses and `pump` offers them to the socket. This file is the `Server`: its
// connections, its public queries, and its `Application::poll`, which accepts and
// drives only the connections something happened to.

mod config;
mod conn;
mod drive;
mod pump;
mod request;
mod response;
mod stats;

use std::collections::VecDeque;

use tcpknobs_stack::id_hash::IdHashMap;
use tcpknobs_stack::{Application, ConnId, Host, Instant};

pub use config::{CloseMode, ServerConfig};
pub use stats::{Buffered, CloseReason, ServerConnStats};

use crate::message::LastHead;
use crate::outbox::Outbox;
#[cfg(doc)]
use crate::payload;
use crate::read_buffer::ReadBuffer;
use crate::wakeups::{until_still, Pass, Rest, Wakeups};
use conn::{Conn, Phase, Reading, Writing};
use response::HeadRecipe;
use stats::ms;

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
}

impl Server {
    /// Drive connection `key` of `pass`: keep it while it lasts, wake it for the
    /// next poll if it moved, queue its deadline, and pass on what its calls did to
    /// other connections.
    fn drive_key(&mut self, host: &mut Host, key: usize, pass: &mut Pass) {
        let id = ConnId(key);
        if let Some(mut conn) = self.conns.remove(&id) {
            let rest = until_still(|| {
                let before = conn.print();
                self.drive(host, &mut conn).then(|| conn.print() != before)
            });
            if rest == Rest::Gone {
                self.wakeups.forget(key);
                if key < self.keep_stats_below {
                    self.closed.push((conn.accepted, conn.stats));
                }
            } else {
                if rest == Rest::Moving {
                    self.wakeups.wake(key);
                }
                self.wakeups.set_timer(key, conn.deadline(&self.config));
                self.conns.insert(id, conn);
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

    fn has_work_now(&self) -> bool {
        self.wakeups.has_woken()
    }

    fn settles_on_news(&self) -> bool {
        true
    }

    fn is_done(&self) -> bool {
        false
    }
}
