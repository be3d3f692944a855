//! The client connection manager: a workload of requests, a strategy for connections.
//!
//! Strategies are policies of the manager, not flags inside a connection (STYLE.md):
//! a [`Strategy`] says how many connections may be open at once and how many requests
//! one connection may carry. Each connection is a small state machine over the host's
//! socket API: connect, write the request (in `--request-writes` calls), read and
//! verify the response, then reuse or close. The client always closes first when it is
//! done with a connection, so its host holds the TIME_WAIT (chapter item 10).

use std::collections::VecDeque;

use tcpknobs_stack::{
    Application, ConnId, ConnState, ConnectError, Host, Instant, Readable, SocketError,
};

use crate::body::{response_framing, BodyDecoder};
use crate::message::{parse_response, Headers, Parsed, Request, Version};
use crate::outbox::Outbox;
use crate::payload;
use crate::transaction::{Transaction, TransactionError};
use crate::workload::RequestSpec;

/// How the client uses connections (chapter items 12-16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// A new connection per request, one after another (item 12).
    Serial,
    /// One connection reused for request after request (item 16).
    Persistent,
}

impl Strategy {
    /// Connections open at once.
    fn max_connections(self) -> usize {
        1
    }

    /// Requests one connection may carry.
    fn requests_per_connection(self) -> usize {
        match self {
            Strategy::Serial => 1,
            Strategy::Persistent => usize::MAX,
        }
    }
}

/// What the client does.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClientConfig {
    /// Server address.
    #[serde(serialize_with = "ser_display")]
    pub server: tcpknobs_stack::Ipv4Address,
    /// Server port.
    pub port: u16,
    /// Connection strategy.
    pub strategy: Strategy,
    /// write() calls per request (`--request-writes`).
    pub request_writes: u32,
    /// HTTP version of the requests.
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
}

impl Default for ClientConfig {
    /// The simulated server (192.0.2.2:80), one request per write, HTTP/1.1 persistent.
    fn default() -> Self {
        ClientConfig {
            server: tcpknobs_stack::Ipv4Address::new(192, 0, 2, 2),
            port: 80,
            strategy: Strategy::Persistent,
            request_writes: 1,
            version: Version::Http11,
        }
    }
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
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

struct ClientConn {
    id: ConnId,
    index: usize,
    /// Transactions sent (or being sent) on this connection, oldest first.
    in_flight: VecDeque<usize>,
    carried: usize,
    outbox: Outbox,
    inbuf: Vec<u8>,
    read: ReadState,
    connected: bool,
    /// No further request may be sent (the server said close, or the quota is used).
    retiring: bool,
    closed: bool,
}

/// The client application.
pub struct Client {
    config: ClientConfig,
    transactions: Vec<Transaction>,
    specs: Vec<RequestSpec>,
    /// Transactions issued but not yet given a connection.
    queue: VecDeque<usize>,
    conns: Vec<ClientConn>,
    started: bool,
}

impl Client {
    /// A client that issues `requests` in order on its first poll.
    pub fn new(config: ClientConfig, requests: Vec<RequestSpec>) -> Client {
        let transactions = requests
            .iter()
            .enumerate()
            .map(|(i, r)| Transaction::new(i, r.method.as_str(), &r.target))
            .collect();
        Client {
            config,
            transactions,
            specs: requests,
            queue: VecDeque::new(),
            conns: Vec::new(),
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

    /// Mark every unfinished transaction as such (the run ended without it).
    pub fn finish(&mut self, now: Instant) {
        for t in &mut self.transactions {
            t.fail(TransactionError::Unfinished, now);
        }
    }

    fn open_connections(&self) -> usize {
        self.conns.iter().filter(|c| !c.closed).count()
    }

    /// Give queued transactions to connections, opening new ones as the strategy allows.
    fn dispatch(&mut self, host: &mut Host) {
        let now = host.now();
        while let Some(&tx) = self.queue.front() {
            let per_conn = self.config.strategy.requests_per_connection();
            let idle = self.conns.iter().position(|c| {
                !c.closed && !c.retiring && c.in_flight.is_empty() && c.carried < per_conn
            });
            let conn = match idle {
                Some(i) => i,
                None if self.open_connections() < self.config.strategy.max_connections() => {
                    match host.connect(self.config.server, self.config.port) {
                        Ok(id) => {
                            self.conns.push(ClientConn {
                                id,
                                index: self.conns.len(),
                                in_flight: VecDeque::new(),
                                carried: 0,
                                outbox: Outbox::new(),
                                inbuf: Vec::new(),
                                read: ReadState::Head,
                                connected: false,
                                retiring: false,
                                closed: false,
                            });
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
            let c = &mut self.conns[conn];
            let t = &mut self.transactions[tx];
            t.connection = Some(c.index);
            t.timing.connect_start = Some(now);
            t.reused = c.carried > 0;
            if c.connected {
                t.timing.connected = Some(now);
                t.local_port = Some(host.local_port(c.id));
            }
            c.carried += 1;
            c.in_flight.push_back(tx);
            if c.carried >= per_conn {
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
            c.outbox
                .push_message(head, spec.body_len, self.config.request_writes);
        }
    }

    /// Advance one connection: write, read, parse, and close when it is done.
    fn drive(&mut self, host: &mut Host, ci: usize) {
        let now = host.now();
        let c = &mut self.conns[ci];
        if c.closed {
            return;
        }
        match host.state(c.id) {
            ConnState::AwaitingPort | ConnState::Connecting => return,
            ConnState::Failed(e) => {
                let err = socket_error(e);
                for &tx in &c.in_flight {
                    self.transactions[tx].fail(err.clone(), now);
                }
                c.in_flight.clear();
                c.closed = true;
                return;
            }
            ConnState::Open | ConnState::Closed => {}
        }
        if !c.connected {
            c.connected = true;
            // The port is known only now when the connect had to wait for one.
            let port = host.local_port(c.id);
            for &tx in &c.in_flight {
                let t = &mut self.transactions[tx];
                t.timing.connected = Some(now);
                t.local_port = Some(port);
            }
        }
        // Write whatever is queued.
        let was_pending = !c.outbox.is_empty();
        match c.outbox.flush(host, c.id) {
            Ok(true) if was_pending => {
                if let Some(&tx) = c.in_flight.back() {
                    self.transactions[tx].timing.request_sent = Some(now);
                }
            }
            Ok(_) => {}
            Err(e) => {
                if let Some(&tx) = c.in_flight.front() {
                    self.transactions[tx].fail(socket_error(e), now);
                }
            }
        }
        // Read whatever arrived.
        let eof = match host.recv(c.id, &mut c.inbuf) {
            Ok(Readable::Data(_)) => {
                if let Some(&tx) = c.in_flight.front() {
                    let t = &mut self.transactions[tx];
                    t.timing.first_byte.get_or_insert(now);
                }
                false
            }
            Ok(Readable::Nothing) => false,
            Ok(Readable::Eof) => true,
            Err(e) => {
                let err = socket_error(e);
                for &tx in &c.in_flight {
                    self.transactions[tx].fail(err.clone(), now);
                }
                c.in_flight.clear();
                c.closed = true;
                return;
            }
        };
        self.parse_responses(ci, now);
        if eof {
            self.on_eof(ci, now);
        }
        let nothing_left = self.queue.is_empty() && self.all_issued();
        let c = &mut self.conns[ci];
        let idle = c.in_flight.is_empty() && c.outbox.is_empty();
        if eof || (idle && (c.retiring || nothing_left)) {
            // The client closes first: its host holds the TIME_WAIT.
            host.close(c.id);
            c.closed = true;
        }
    }

    /// A measure that grows whenever the client moves on.
    fn progress(&self) -> (usize, usize, usize) {
        (
            self.queue.len(),
            self.transactions.iter().filter(|t| t.is_finished()).count(),
            self.conns.iter().filter(|c| c.closed).count(),
        )
    }

    fn all_issued(&self) -> bool {
        self.transactions.iter().all(|t| t.timing.queued.is_some())
    }

    fn parse_responses(&mut self, ci: usize, now: Instant) {
        let c = &mut self.conns[ci];
        loop {
            let Some(&tx) = c.in_flight.front() else {
                return;
            };
            let t = &mut self.transactions[tx];
            if let ReadState::Head = c.read {
                match parse_response(&c.inbuf) {
                    Ok(Parsed::Partial) => return,
                    Ok(Parsed::Complete { message, head_len }) => {
                        c.inbuf.drain(..head_len);
                        t.status = Some(message.status);
                        let method = &self.specs[tx].method;
                        match response_framing(&message, method) {
                            Ok(framing) => {
                                let keep_alive = response_persists(&message, self.config.version);
                                if !keep_alive {
                                    c.retiring = true;
                                }
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
                                c.in_flight.pop_front();
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        t.fail(
                            TransactionError::MalformedResponse {
                                detail: e.to_string(),
                            },
                            now,
                        );
                        c.retiring = true;
                        c.in_flight.pop_front();
                        return;
                    }
                }
            }
            let ReadState::Body {
                decoder,
                keep_alive,
            } = &mut c.read
            else {
                return;
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
            match used {
                Ok(n) => {
                    c.inbuf.drain(..n);
                }
                Err(e) => {
                    t.fail(
                        TransactionError::MalformedResponse {
                            detail: e.to_string(),
                        },
                        now,
                    );
                    c.retiring = true;
                    c.in_flight.pop_front();
                    return;
                }
            }
            if let Some(offset) = mismatch {
                t.fail(TransactionError::BodyMismatch { offset }, now);
                c.retiring = true;
                c.in_flight.pop_front();
                return;
            }
            if !decoder.is_complete() {
                return;
            }
            if !*keep_alive {
                c.retiring = true;
            }
            t.timing.done = Some(now);
            c.in_flight.pop_front();
            c.read = ReadState::Head;
        }
    }

    fn on_eof(&mut self, ci: usize, now: Instant) {
        let c = &mut self.conns[ci];
        c.retiring = true;
        let Some(&tx) = c.in_flight.front() else {
            return;
        };
        let t = &mut self.transactions[tx];
        match &mut c.read {
            ReadState::Body { decoder, .. } => match decoder.on_eof() {
                Ok(()) => {
                    t.timing.done.get_or_insert(now);
                }
                Err(crate::body::BodyError::Truncated { received, expected }) => {
                    t.fail(TransactionError::Truncated { received, expected }, now);
                }
                Err(e) => t.fail(
                    TransactionError::MalformedResponse {
                        detail: e.to_string(),
                    },
                    now,
                ),
            },
            ReadState::Head if c.inbuf.is_empty() && t.status.is_none() => {
                t.fail(TransactionError::ClosedEarly, now);
            }
            ReadState::Head => t.fail(
                TransactionError::MalformedResponse {
                    detail: "connection closed inside the response head".into(),
                },
                now,
            ),
        }
        c.in_flight.pop_front();
        for &tx in &c.in_flight {
            self.transactions[tx].fail(TransactionError::ClosedEarly, now);
        }
        c.in_flight.clear();
    }
}

fn socket_error(e: SocketError) -> TransactionError {
    match e {
        SocketError::ConnectionRefused => TransactionError::ConnectionRefused,
        SocketError::ConnectionReset => TransactionError::ConnectionReset,
        _ => TransactionError::ClosedEarly,
    }
}

fn request_headers(config: &ClientConfig, spec: &RequestSpec) -> Headers {
    let mut h = Headers::default();
    h.append("Host", config.server.to_string());
    if spec.body_len > 0 {
        h.append("Content-Length", spec.body_len.to_string());
    }
    // Serial HTTP/1.1 sends no `Connection: close`: the client closes after the
    // response, so the client (as a load generator would) holds the TIME_WAIT.
    let persistent = config.strategy.requests_per_connection() > 1;
    if config.version == Version::Http10 && persistent {
        h.append("Connection", "keep-alive");
    }
    h
}

/// Whether the server will keep the connection open after this response (RFC 9112
/// §9.3; for HTTP/1.0, only if it echoed keep-alive, chapter item 17).
fn response_persists(response: &crate::message::Response, requested: Version) -> bool {
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
        if !self.started {
            self.started = true;
            for (i, t) in self.transactions.iter_mut().enumerate() {
                t.timing.queued = Some(now);
                self.queue.push_back(i);
            }
        }
        // A finished response or a closed connection can let the next request go at
        // this same instant: repeat until nothing changes.
        loop {
            let before = self.progress();
            self.dispatch(host);
            for ci in 0..self.conns.len() {
                self.drive(host, ci);
            }
            if self.progress() == before {
                break;
            }
        }
        None
    }

    fn is_done(&self) -> bool {
        self.started
            && self.transactions.iter().all(Transaction::is_finished)
            && self.conns.iter().all(|c| c.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_persistence() {
        let mut r = crate::message::Response {
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
}
