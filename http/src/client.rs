//! The client connection manager: a workload of requests, a strategy for connections.
//!
//! Strategies are policies of the manager, not flags inside a connection (STYLE.md):
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

use std::collections::VecDeque;

use tcpknobs_stack::{
    Application, ConnId, ConnState, ConnectError, Duration, Host, Instant, Readable, SocketError,
};

use crate::body::{response_framing, BodyDecoder, BodyError};
use crate::message::{parse_response, Headers, Method, Parsed, Request, Response, Version};
use crate::outbox::Outbox;
use crate::payload;
use crate::transaction::{Transaction, TransactionError};
use crate::workload::{RequestSpec, Workload};

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
    /// Transactions sent (or being sent) on this connection, oldest first, with the
    /// outbox position at which each request ends.
    in_flight: VecDeque<(usize, u64)>,
    /// Requests this connection has carried (each retry counts on its own connection).
    carried: usize,
    /// Responses completed on it.
    answered: usize,
    outbox: Outbox,
    /// Bytes pushed into the outbox so far.
    pushed: u64,
    inbuf: Vec<u8>,
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
}

impl ClientConn {
    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.outbox.is_empty()
    }

    /// Done with HTTP, only waiting for the server's FIN.
    fn is_draining(&self) -> bool {
        self.fin_due.is_some() && self.is_idle()
    }
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

/// The client application.
pub struct Client {
    config: ClientConfig,
    transactions: Vec<Transaction>,
    specs: Vec<RequestSpec>,
    after: Vec<Option<usize>>,
    /// When each transaction may be issued, once known.
    issue_at: Vec<Option<Instant>>,
    /// Transactions not issued yet, in order (each poll looks only at these).
    unissued: Vec<usize>,
    /// Issued transactions waiting for a connection, in order.
    queue: VecDeque<usize>,
    conns: Vec<ClientConn>,
    /// Indices of the connections not closed yet (each poll drives only these).
    open: Vec<usize>,
    started: bool,
}

impl Client {
    /// A client that issues `requests` (all at once) from its first poll.
    pub fn new(config: ClientConfig, requests: Vec<RequestSpec>) -> Client {
        Client::with_workload(config, Workload::independent(requests))
    }

    /// A client that issues `workload` in its order, from its first poll.
    pub fn with_workload(config: ClientConfig, workload: Workload) -> Client {
        let transactions = workload
            .requests
            .iter()
            .enumerate()
            .map(|(i, r)| Transaction::new(i, r.method.as_str(), &r.target))
            .collect();
        let n = workload.requests.len();
        Client {
            config,
            transactions,
            specs: workload.requests,
            after: workload.after,
            issue_at: vec![None; n],
            unissued: (0..n).collect(),
            queue: VecDeque::new(),
            conns: Vec::new(),
            open: Vec::new(),
            started: false,
        }
    }

    /// Every transaction, in workload order.
    pub fn transactions(&self) -> &[Transaction] {
        &self.transactions
    }

    /// The host connection behind each client connection index.
    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.conns.iter().map(|c| c.id).collect()
    }

    /// What each connection carried, by client connection index.
    pub fn connection_summaries(&self) -> Vec<ClientConnSummary> {
        self.conns
            .iter()
            .map(|c| ClientConnSummary {
                id: c.id,
                requests: c.carried,
                responses: c.answered,
            })
            .collect()
    }

    /// Mark every unfinished transaction as such (the run ended without it).
    pub fn finish(&mut self, now: Instant) {
        for t in &mut self.transactions {
            t.fail(TransactionError::Unfinished, now);
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
        self.open
            .iter()
            .filter(|&&ci| !self.conns[ci].is_draining())
            .count()
    }

    /// Issue the transactions whose time has come.
    fn issue(&mut self, now: Instant) {
        let mut still = Vec::with_capacity(self.unissued.len());
        for i in std::mem::take(&mut self.unissued) {
            let ready = match self.after[i] {
                None => Some(now),
                Some(dep) => {
                    let d = &self.transactions[dep];
                    match (d.timing.done, &d.error) {
                        (Some(_), Some(_)) => {
                            self.transactions[i].timing.queued = Some(now);
                            self.transactions[i].fail(TransactionError::DependencyFailed, now);
                            continue;
                        }
                        (Some(done), None) => Some(done + self.config.think_time),
                        (None, _) => None,
                    }
                }
            };
            self.issue_at[i] = ready;
            if ready.is_some_and(|t| t <= now) {
                self.transactions[i].timing.queued = Some(now);
                self.queue.push_back(i);
            } else {
                still.push(i);
            }
        }
        self.unissued = still;
    }

    /// The connection that may take `tx` now, if any.
    fn pick_connection(&self, tx: usize) -> Option<usize> {
        let strategy = self.config.strategy;
        if !strategy.reuses() {
            return None;
        }
        let usable = |c: &ClientConn| !c.closed && !c.retiring;
        if let Some(i) = self.conns.iter().position(|c| usable(c) && c.is_idle()) {
            return Some(i);
        }
        if strategy != Strategy::Pipelined || !self.specs[tx].method.is_idempotent() {
            return None;
        }
        // Pipeline onto a connection known to persist whose outstanding requests are
        // all idempotent (RFC 9112 §9.3.2), the least loaded first.
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, c)| usable(c) && c.persistence == Persistence::Yes)
            .filter(|(_, c)| {
                c.in_flight
                    .iter()
                    .all(|&(t, _)| self.specs[t].method.is_idempotent())
            })
            .min_by_key(|(_, c)| c.in_flight.len())
            .map(|(i, _)| i)
    }

    /// Give queued transactions to connections, opening new ones as the strategy allows.
    fn dispatch(&mut self, host: &mut Host) {
        let now = host.now();
        while let Some(&tx) = self.queue.front() {
            let conn = match self.pick_connection(tx) {
                Some(i) => i,
                None if self.open_connections() < self.max_connections() => {
                    match host.connect(self.config.server, self.config.port) {
                        Ok(id) => {
                            self.conns.push(ClientConn {
                                id,
                                in_flight: VecDeque::new(),
                                carried: 0,
                                answered: 0,
                                outbox: Outbox::new(),
                                pushed: 0,
                                inbuf: Vec::new(),
                                read: ReadState::Head,
                                connected: false,
                                persistence: Persistence::Unknown,
                                retiring: false,
                                fin_due: None,
                                closed: false,
                            });
                            self.open.push(self.conns.len() - 1);
                            self.conns.len() - 1
                        }
                        Err(e) => {
                            self.queue.pop_front();
                            let t = &mut self.transactions[tx];
                            t.timing.connect_start = Some(now);
                            let err = match e {
                                ConnectError::PortsExhausted { .. } => {
                                    TransactionError::PortsExhausted {
                                        detail: e.to_string(),
                                    }
                                }
                                ConnectError::Stack(_) => TransactionError::ConnectionRefused,
                            };
                            t.fail(err, now);
                            continue;
                        }
                    }
                }
                None => break,
            };
            self.queue.pop_front();
            self.send_on(host, conn, tx, now);
        }
    }

    fn send_on(&mut self, host: &Host, ci: usize, tx: usize, now: Instant) {
        let c = &mut self.conns[ci];
        let t = &mut self.transactions[tx];
        t.connection = Some(ci);
        t.timing.connect_start = Some(now);
        t.reused = c.carried > 0;
        t.pipelined = !c.in_flight.is_empty();
        if c.connected {
            t.timing.connected = Some(now);
            t.local_port = Some(host.local_port(c.id));
        }
        c.carried += 1;
        if !self.config.strategy.reuses() {
            c.retiring = true;
        }
        let spec = &self.specs[tx];
        let request = Request {
            method: spec.method.clone(),
            target: spec.target.clone(),
            version: self.config.version,
            headers: request_headers(&self.config, spec),
        };
        let mut head = Vec::new();
        request.write_head(&mut head);
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
        c.in_flight.push_back((tx, c.pushed));
    }

    /// Send `tx` again on another connection if that is safe, or fail it with `err`.
    fn retry_or_fail(&mut self, tx: usize, err: TransactionError, now: Instant) -> bool {
        let t = &mut self.transactions[tx];
        if t.is_finished() {
            return false;
        }
        if self.specs[tx].method.is_idempotent() && t.retries < self.config.max_retries {
            t.reset_for_retry();
            true
        } else {
            t.fail(err, now);
            false
        }
    }

    /// The connection ended with `err` for the response being read and its
    /// outstanding requests: retry or fail each, oldest first at the head of the queue.
    fn abandon(&mut self, ci: usize, err: TransactionError, now: Instant) {
        let c = &mut self.conns[ci];
        c.closed = true;
        c.retiring = true;
        let in_flight: Vec<usize> = c.in_flight.drain(..).map(|(t, _)| t).collect();
        if err.is_connect_failure() {
            // Nothing was sent, and TCP already retried the handshake as often as
            // it was told to: a further connect would only repeat the wait (curl
            // does not retry these either).
            for tx in in_flight {
                self.transactions[tx].fail(err.clone(), now);
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
        if self.conns[ci].closed {
            return;
        }
        let id = self.conns[ci].id;
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
        let c = &mut self.conns[ci];
        if !c.connected {
            c.connected = true;
            // The port is known only now when the connect had to wait for one.
            let port = host.local_port(id);
            for &(tx, _) in &c.in_flight {
                let t = &mut self.transactions[tx];
                t.timing.connected = Some(now);
                t.local_port = Some(port);
            }
        }
        // Write whatever is queued; note each request whose last byte went out.
        match c.outbox.flush(host, id) {
            Ok(_) => {
                let offered = c.pushed - c.outbox.pending_bytes();
                for &(tx, end) in &c.in_flight {
                    let t = &mut self.transactions[tx];
                    if end <= offered && t.timing.request_sent.is_none() {
                        t.timing.request_sent = Some(now);
                    }
                }
            }
            Err(e) => {
                self.abandon(ci, socket_error(e), now);
                return;
            }
        }
        // Read whatever arrived.
        let eof = match host.recv(id, &mut c.inbuf) {
            Ok(Readable::Data(_)) => {
                if let Some(&(tx, _)) = c.in_flight.front() {
                    self.transactions[tx].timing.first_byte.get_or_insert(now);
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
        let c = &mut self.conns[ci];
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
        let Some(&(tx, _)) = self.conns[ci].in_flight.front() else {
            return;
        };
        // The response's clock starts once the connection is there: the handshake
        // has limits of its own (`Knobs::syn_retries`, the ARP timeout).
        let Some(start) = self.transactions[tx].timing.connected else {
            return;
        };
        let Some(limit) = self.config.timeout else {
            return;
        };
        if now < start + limit {
            return;
        }
        let after_ms = (now - start).total_millis();
        // A timeout is reported, not retried: the server may be working on it.
        self.transactions[tx].fail(TransactionError::Timeout { after_ms }, now);
        host.abort(self.conns[ci].id);
        self.conns[ci].in_flight.pop_front();
        self.abandon(ci, TransactionError::ClosedEarly, now);
    }

    fn parse_responses(&mut self, ci: usize, now: Instant) -> Flow {
        let c = &mut self.conns[ci];
        while let Some(&(tx, _)) = c.in_flight.front() {
            let t = &mut self.transactions[tx];
            if let ReadState::Head = c.read {
                let parsed = parse_response(&c.inbuf).map_err(|e| e.to_string());
                let (message, head_len) = match parsed {
                    Ok(Parsed::Partial) => return Flow::Http,
                    Ok(Parsed::Complete { message, head_len }) => (message, head_len),
                    Err(detail) => {
                        t.fail(TransactionError::MalformedResponse { detail }, now);
                        c.retiring = true;
                        c.persistence = Persistence::No;
                        c.in_flight.pop_front();
                        return Flow::Http;
                    }
                };
                c.inbuf.drain(..head_len);
                if (100..200).contains(&message.status) {
                    if message.status == 101 {
                        // The client never asks for an upgrade, so a switch is a protocol
                        // error (RFC 9110 §15.2.2) and the bytes after it are not HTTP/1.1.
                        t.fail(TransactionError::UnrequestedUpgrade, now);
                        c.in_flight.pop_front();
                        c.inbuf.clear();
                        return Flow::Switched;
                    }
                    // An interim response: no body (RFC 9112 §6.3 item 1), the final
                    // response to the same request follows (RFC 9110 §15.2).
                    t.interim_responses += 1;
                    continue;
                }
                t.status = Some(message.status);
                match response_framing(&message, &self.specs[tx].method) {
                    Ok(framing) => {
                        let keep_alive = response_persists(&message, self.config.version);
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
            let verify = self.specs[tx].verify && t.status == Some(200);
            let mut offset = t.bytes;
            let used = decoder.decode(&c.inbuf, &mut |data: &[u8]| {
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
                    c.inbuf.drain(..n);
                    mismatch.map(|offset| TransactionError::BodyMismatch { offset })
                }
                Err(e) => Some(TransactionError::MalformedResponse {
                    detail: e.to_string(),
                }),
            };
            if let Some(e) = error {
                t.fail(e, now);
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
            c.answered += 1;
            c.in_flight.pop_front();
            c.read = ReadState::Head;
        }
        Flow::Http
    }

    /// The server closed: a close-delimited body ends here; anything else in flight
    /// was cut short.
    fn on_eof(&mut self, host: &mut Host, ci: usize, now: Instant) {
        let c = &mut self.conns[ci];
        host.close(c.id);
        c.closed = true;
        let mut err = TransactionError::ClosedEarly;
        if let Some(&(tx, _)) = c.in_flight.front() {
            let t = &mut self.transactions[tx];
            match &mut c.read {
                ReadState::Body { decoder, .. } => match decoder.on_eof() {
                    Ok(()) => {
                        t.timing.done.get_or_insert(now);
                        c.answered += 1;
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
    fn next_deadline(&self) -> Option<Instant> {
        let issues = self.unissued.iter().filter_map(|&i| self.issue_at[i]);
        let timeouts = self
            .open
            .iter()
            .filter_map(|&ci| self.conns[ci].in_flight.front())
            .filter_map(|&(tx, _)| self.transactions[tx].timing.connected)
            .filter_map(|s| Some(s + self.config.timeout?));
        let fins = self
            .open
            .iter()
            .map(|&ci| &self.conns[ci])
            .filter(|c| c.is_draining())
            .filter_map(|c| c.fin_due);
        issues.chain(timeouts).chain(fins).min()
    }

    /// A measure that changes whenever the client moves on: a request issued or
    /// dispatched, a connection opened or closed, a request sent, a response done
    /// or failed. Only live state is looked at, so a poll costs what is in flight.
    fn progress(&self) -> [usize; 6] {
        // Separate counts, never a sum: a response completing moves one request from
        // in flight to answered, which a sum would not see.
        let (mut carried, mut answered) = (0, 0);
        for &ci in &self.open {
            carried += self.conns[ci].carried;
            answered += self.conns[ci].answered;
        }
        [
            self.queue.len(),
            self.unissued.len(),
            self.conns.len(),
            self.open.len(),
            carried,
            answered,
        ]
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

fn request_headers(config: &ClientConfig, spec: &RequestSpec) -> Headers {
    let mut h = Headers::default();
    h.append("Host", config.server.to_string());
    if spec.body_len > 0 || matches!(spec.method, Method::Post | Method::Put) {
        h.append("Content-Length", spec.body_len.to_string());
    }
    // Serial and parallel HTTP/1.1 send no `Connection: close`: the client closes after
    // the response, so the client (as a load generator would) holds the TIME_WAIT.
    if config.version == Version::Http10 && config.strategy.reuses() {
        h.append("Connection", "keep-alive");
    }
    h
}

/// Whether the server will keep the connection open after this response (RFC 9112
/// §9.3; for HTTP/1.0, only if it echoed keep-alive, chapter item 17).
fn response_persists(response: &Response, requested: Version) -> bool {
    if response.headers.has_connection_token("close") {
        return false;
    }
    match (requested, response.version) {
        (Version::Http11, Version::Http11) => true,
        _ => response.headers.has_connection_token("keep-alive"),
    }
}

impl Application for Client {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        self.started = true;
        // A finished response or a closed connection can let the next request go at
        // this same instant: repeat until nothing changes.
        loop {
            let before = self.progress();
            self.issue(now);
            self.dispatch(host);
            // `drive` never adds connections, so the list is stable during the pass.
            for k in 0..self.open.len() {
                let ci = self.open[k];
                self.drive(host, ci);
            }
            let conns = &self.conns;
            self.open.retain(|&ci| !conns[ci].closed);
            if self.progress() == before {
                break;
            }
        }
        self.next_deadline()
    }

    fn is_done(&self) -> bool {
        // Unfinished transactions are unissued, queued or in flight on an open
        // connection; with none of those left, every one has finished.
        self.started && self.unissued.is_empty() && self.queue.is_empty() && self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_persistence() {
        let mut r = Response {
            version: Version::Http11,
            status: 200,
            reason: "OK".into(),
            headers: Headers::default(),
        };
        assert!(response_persists(&r, Version::Http11));
        assert!(
            !response_persists(&r, Version::Http10),
            "1.0 needs the echo"
        );
        r.headers.append("Connection", "keep-alive");
        assert!(response_persists(&r, Version::Http10));
        r.headers.append("Connection", "close");
        assert!(!response_persists(&r, Version::Http11));
    }

    #[test]
    fn default_connections() {
        assert_eq!(Strategy::Parallel.default_connections(), 4);
        assert_eq!(Strategy::Pipelined.default_connections(), 1);
    }
}
