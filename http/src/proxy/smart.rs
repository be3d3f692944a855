//! The smart proxy's client connections: each request parsed, stripped of its
//! hop-by-hop fields and forwarded on a leased upstream connection, its answer relayed
//! back re-framed for the client, one exchange at a time, as long as the client
//! wants its connection to persist (chapter items 11 and 19, RFC 9112 §9.3).

use tcpknobs_stack::{ConnId, ConnState, Host, Instant, Readable};

use super::application::{recv_counting, Proxy};
use super::config::{LINGER, RELAY_HIGH_WATER};
use super::heads::{
    client_wants_persistence, error_response, split_absolute_form, strip_hop_by_hop,
    upstream_persists, via_version, VIA_PSEUDONYM,
};
use super::relay::BodyRelay;
use super::stats::ClientEnd;
use crate::body::{request_framing, response_framing, Framing};
use crate::message::{parse_request, parse_response, Method, Parsed, Version};
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;

/// Where the answer to the current request is.
#[derive(Debug)]
pub(super) enum ResponseState {
    /// Waiting for the (final) response head.
    Head,
    /// Relaying its body.
    Body {
        relay: BodyRelay,
        /// The server will keep the connection open afterwards.
        upstream_reusable: bool,
        /// The client connection persists afterwards.
        client_persists: bool,
    },
}

/// One request of a client connection on its way through the smart proxy.
#[derive(Debug)]
pub(super) struct Exchange {
    /// Key of the leased upstream connection.
    pub(super) up: usize,
    pub(super) method: Method,
    pub(super) client_version: Version,
    /// The client asked for persistence (RFC 9112 §9.3).
    pub(super) wants_persistence: bool,
    /// The client's request body, while it is still arriving.
    pub(super) request_body: Option<BodyRelay>,
    pub(super) response: ResponseState,
    /// The forwarded head, kept while one retry on a fresh connection is allowed: the
    /// request is idempotent and bodiless, went out on a reused connection, and no
    /// answer has come (chapter item 19; RFC 9112 §9.3.1, RFC 9110 §9.2.2).
    pub(super) retry: Option<Vec<u8>>,
    /// The final response head has been sent to the client.
    pub(super) answered: bool,
}

/// One client connection of the smart proxy.
#[derive(Debug)]
pub(super) struct SmartClient {
    pub(super) id: ConnId,
    pub(super) record: usize,
    pub(super) inbuf: ReadBuffer,
    pub(super) outbox: Outbox,
    pub(super) exchange: Option<Exchange>,
    pub(super) peer_eof: bool,
    /// Close once the outbox is flushed.
    pub(super) closing: bool,
    /// Half-closed by us; read and discard until the client closes or this time.
    pub(super) linger_until: Option<Instant>,
    /// Bytes read from it so far.
    pub(super) read: u64,
}

/// What happened to a drive step of the smart proxy.
enum Step {
    /// Something moved; try again.
    Progress,
    /// Nothing more to do now.
    Idle,
}

impl Proxy {
    /// Advances one client connection; false once it is gone.
    pub(super) fn drive_smart(&mut self, host: &mut Host, c: &mut SmartClient) -> bool {
        if let Some(until) = c.linger_until {
            let gone = match recv_counting(host, c.id, c.inbuf.appender(), &mut c.read) {
                Ok(Readable::Eof) | Err(_) => true,
                Ok(_) => false,
            };
            c.inbuf.clear();
            if gone || host.now() >= until {
                host.close(c.id);
                return false;
            }
            return true;
        }
        if !c.peer_eof && !c.closing && (c.inbuf.len() as u64) < RELAY_HIGH_WATER {
            match recv_counting(host, c.id, c.inbuf.appender(), &mut c.read) {
                Ok(Readable::Eof) => c.peer_eof = true,
                Ok(_) => {}
                Err(_) => {
                    self.abandon_exchange(host, c);
                    self.end_client(c.record, ClientEnd::Reset);
                    host.close(c.id);
                    return false;
                }
            }
        }
        for _ in 0..1024 {
            if let Step::Idle = self.step_smart(host, c) {
                break;
            }
        }
        let up = c
            .exchange
            .as_ref()
            .and_then(|ex| self.pool.entries.get(&ex.up));
        let held = c.inbuf.len() as u64
            + c.outbox.pending_bytes()
            + up.map_or(0, |u| u.inbuf.len() as u64 + u.outbox.pending_bytes());
        self.note_buffered(held);
        match c.outbox.flush(host, c.id) {
            Ok(true) => {}
            Ok(false) => return true,
            Err(_) => {
                self.abandon_exchange(host, c);
                self.end_client(c.record, ClientEnd::Reset);
                host.close(c.id);
                return false;
            }
        }
        if c.closing {
            // Everything is written: FIN, then linger (chapter item 24).
            self.abandon_exchange(host, c);
            self.end_client(c.record, ClientEnd::NotPersistent);
            host.shutdown_write(c.id);
            c.inbuf.clear();
            c.linger_until = Some(host.now() + LINGER);
            return true;
        }
        if c.peer_eof && c.exchange.is_none() {
            // The client closed its side and every complete request is answered
            // (chapter item 24: close only after reading to its FIN).
            self.end_client(c.record, ClientEnd::ClientClosed);
            host.close(c.id);
            return false;
        }
        true
    }

    /// One step of a client connection: start the next request, relay its body,
    /// relay its answer.
    fn step_smart(&mut self, host: &mut Host, c: &mut SmartClient) -> Step {
        if c.closing {
            return Step::Idle;
        }
        let Some(ex) = c.exchange.as_mut() else {
            return self.start_exchange(host, c);
        };
        let Some(up) = self.pool.entries.get_mut(&ex.up) else {
            return self.upstream_failed(host, c);
        };
        let mut progress = false;
        // The request body, as far as the upstream socket takes it.
        if let Some(body) = ex.request_body.as_mut() {
            if up.outbox.pending_bytes() < RELAY_HIGH_WATER {
                let before = c.inbuf.len();
                let mut out = Vec::new();
                match body.relay(&mut c.inbuf, &mut out) {
                    Ok(done) => {
                        progress |= c.inbuf.len() != before;
                        up.outbox.push_bytes(out);
                        if done {
                            ex.request_body = None;
                            progress = true;
                        }
                    }
                    Err(()) => {
                        // A malformed request body: the request cannot be finished.
                        let key = ex.up;
                        let answered = ex.answered;
                        c.exchange = None;
                        self.retire_upstream(host, key);
                        if !answered {
                            c.outbox.push_bytes(error_response(400));
                        }
                        c.closing = true;
                        self.end_client(c.record, ClientEnd::BadRequest { status: 400 });
                        return Step::Idle;
                    }
                }
            }
            if ex.request_body.is_some() && c.peer_eof {
                // The client went away in the middle of its request.
                let key = ex.up;
                c.exchange = None;
                self.retire_upstream(host, key);
                c.closing = true;
                return Step::Idle;
            }
        }
        if up.outbox.flush(host, up.id).is_err() {
            return self.upstream_failed(host, c);
        }
        match host.state(up.id) {
            ConnState::AwaitingPort | ConnState::Connecting => {
                return if progress { Step::Progress } else { Step::Idle }
            }
            ConnState::Failed(_) => return self.upstream_failed(host, c),
            ConnState::Open | ConnState::Closed => {}
        }
        if let Some(r) = self.stats.upstreams.get_mut(up.record) {
            r.local_port = host.local_port(up.id);
        }
        // The answer, as far as the client socket takes it.
        let mut up_eof = false;
        if c.outbox.pending_bytes() < RELAY_HIGH_WATER {
            match recv_counting(host, up.id, up.inbuf.appender(), &mut up.read) {
                Ok(Readable::Eof) => up_eof = true,
                Ok(_) => {}
                Err(_) => return self.upstream_failed(host, c),
            }
        } else {
            return if progress { Step::Progress } else { Step::Idle };
        }
        let mut out = Vec::new();
        loop {
            match &mut ex.response {
                ResponseState::Head => {
                    let (message, head_len) = match parse_response(up.inbuf.as_slice()) {
                        Ok(Parsed::Partial) if up_eof => return self.upstream_failed(host, c),
                        Ok(Parsed::Partial) => break,
                        Err(_) => return self.upstream_failed(host, c),
                        Ok(Parsed::Complete { message, head_len }) => (message, head_len),
                    };
                    up.inbuf.consume(head_len);
                    progress = true;
                    ex.retry = None;
                    if (100..200).contains(&message.status) {
                        if message.status == 101 {
                            // Upgrade was never forwarded, so a switch is a server error.
                            return self.upstream_failed(host, c);
                        }
                        // Interim responses go to HTTP/1.1 clients only (RFC 9110 §15.2),
                        // with a Via like every forwarded message (RFC 9110 §7.6.3).
                        if ex.client_version == Version::Http11 {
                            let mut interim = message;
                            self.stats.hop_by_hop_removed +=
                                strip_hop_by_hop(&mut interim.headers) as u64;
                            interim.headers.append(
                                "Via",
                                format!("{} {VIA_PSEUDONYM}", via_version(interim.version)),
                            );
                            interim.version = Version::Http11;
                            interim.write_head(&mut out);
                        }
                        continue;
                    }
                    let Ok(framing) = response_framing(&message, &ex.method) else {
                        return self.upstream_failed(host, c);
                    };
                    let upstream_reusable =
                        upstream_persists(&message) && framing != Framing::UntilClose;
                    // A body without a length reaches an HTTP/1.1 client chunked; an
                    // HTTP/1.0 client can only be told its end by the close
                    // (RFC 9112 §6.1, §6.3 item 8; chapter item 17).
                    let no_length = matches!(framing, Framing::Chunked | Framing::UntilClose);
                    let chunked = no_length && ex.client_version == Version::Http11;
                    let close_delimited = no_length && !chunked;
                    let client_persists = ex.wants_persistence && !close_delimited;
                    let mut response = message;
                    let headers = &mut response.headers;
                    self.stats.hop_by_hop_removed += strip_hop_by_hop(headers) as u64;
                    match framing {
                        Framing::Length(n) => {
                            headers.remove("content-length");
                            headers.append("Content-Length", n.to_string());
                        }
                        Framing::Chunked | Framing::UntilClose => {
                            headers.remove("content-length");
                            if chunked {
                                headers.append("Transfer-Encoding", "chunked");
                            }
                        }
                        // HEAD, 204, 304: a Content-Length describes the resource,
                        // forwarded as is.
                        Framing::None => {}
                    }
                    if !client_persists {
                        headers.append("Connection", "close");
                    } else if ex.client_version == Version::Http10 {
                        // The HTTP/1.0 echo that agrees to keep-alive (chapter item 17).
                        headers.append("Connection", "keep-alive");
                    }
                    headers.append(
                        "Via",
                        format!("{} {VIA_PSEUDONYM}", via_version(response.version)),
                    );
                    // Our own version (RFC 9110 §2.5, §6.2).
                    response.version = Version::Http11;
                    response.write_head(&mut out);
                    ex.answered = true;
                    ex.response = ResponseState::Body {
                        relay: BodyRelay::new(framing, chunked),
                        upstream_reusable,
                        client_persists,
                    };
                }
                ResponseState::Body {
                    relay,
                    upstream_reusable,
                    client_persists,
                } => {
                    let before = up.inbuf.len();
                    let mut done = match relay.relay(&mut up.inbuf, &mut out) {
                        Ok(done) => done,
                        Err(()) => {
                            c.outbox.push_bytes(out);
                            return self.upstream_failed(host, c);
                        }
                    };
                    progress |= up.inbuf.len() != before;
                    if !done && up_eof {
                        if relay.finish_at_eof(&mut out).is_err() {
                            c.outbox.push_bytes(out);
                            return self.upstream_failed(host, c);
                        }
                        done = true;
                    }
                    if !done {
                        break;
                    }
                    let reusable = *upstream_reusable
                        && !up_eof
                        && up.inbuf.is_empty()
                        && ex.request_body.is_none();
                    let persists = *client_persists && ex.request_body.is_none();
                    let key = ex.up;
                    self.add_to_client(c, out);
                    self.stats.responses_relayed += 1;
                    if let Some(r) = self.stats.clients.get_mut(c.record) {
                        r.responses += 1;
                    }
                    c.exchange = None;
                    if reusable {
                        self.release_upstream(key);
                    } else {
                        self.retire_upstream(host, key);
                    }
                    if !persists {
                        c.closing = true;
                    }
                    return Step::Progress;
                }
            }
        }
        self.add_to_client(c, out);
        if progress {
            Step::Progress
        } else {
            Step::Idle
        }
    }

    /// Queues response bytes for the client and counts them.
    fn add_to_client(&mut self, c: &mut SmartClient, out: Vec<u8>) {
        if let Some(r) = self.stats.clients.get_mut(c.record) {
            r.bytes_to_client += out.len() as u64;
        }
        c.outbox.push_bytes(out);
    }

    /// Parses the next request in the client's buffer and forwards its head.
    fn start_exchange(&mut self, host: &mut Host, c: &mut SmartClient) -> Step {
        let (request, head_len) = match parse_request(c.inbuf.as_slice()) {
            Ok(Parsed::Partial) => return Step::Idle,
            Ok(Parsed::Complete { message, head_len }) => (message, head_len),
            Err(e) => return self.reject(c, e.status()),
        };
        c.inbuf.consume(head_len);
        let framing = match request_framing(&request) {
            Ok(f) => f,
            Err(e) => return self.reject(c, e.status()),
        };
        if request.method == Method::Connect {
            // Tunnels are not part of this lab.
            return self.reject(c, 501);
        }
        if request.version == Version::Http11 && !request.headers.contains("host") {
            // RFC 9112 §3.2: a server must answer 400 to HTTP/1.1 without Host.
            return self.reject(c, 400);
        }
        let wants_persistence = client_wants_persistence(&request);
        let client_version = request.version;
        let mut forward = request;
        let removed = strip_hop_by_hop(&mut forward.headers);
        self.stats.hop_by_hop_removed += removed as u64;
        if let Some((authority, origin)) = split_absolute_form(&forward.target) {
            // RFC 9112 §3.2.2: the authority of an absolute-form target wins over Host.
            forward.headers.insert("Host", authority);
            forward.target = origin;
        }
        if !forward.headers.contains("host") {
            // An HTTP/1.0 client may omit Host; an HTTP/1.1 request may not (§3.2).
            forward.headers.append(
                "Host",
                format!("{}:{}", self.config.upstream, self.config.upstream_port),
            );
        }
        forward.headers.remove("content-length");
        let chunked = framing == Framing::Chunked;
        match framing {
            Framing::Length(n) => forward.headers.append("Content-Length", n.to_string()),
            Framing::Chunked => forward.headers.append("Transfer-Encoding", "chunked"),
            Framing::None | Framing::UntilClose => {}
        }
        forward.headers.append(
            "Via",
            format!("{} {VIA_PSEUDONYM}", via_version(client_version)),
        );
        // Upstream is always HTTP/1.1 and persistent (RFC 9110 §6.2; chapter item 19).
        forward.version = Version::Http11;
        let mut head = Vec::new();
        forward.write_head(&mut head);

        let Some(key) = self.lease_upstream(host, c.id) else {
            c.outbox.push_bytes(error_response(502));
            c.closing = true;
            self.end_client(c.record, ClientEnd::UpstreamFailed);
            return Step::Idle;
        };
        let reused = self.pool.entries.get(&key).is_some_and(|u| u.carried > 0);
        let retry = (reused && framing == Framing::None && forward.method.is_idempotent())
            .then(|| head.clone());
        let mut body = BodyRelay::new(framing, chunked);
        let mut out = head;
        // Head and the body bytes already here go out as one write.
        let Ok(body_done) = body.relay(&mut c.inbuf, &mut out) else {
            self.retire_upstream(host, key);
            return self.reject(c, 400);
        };
        if let Some(u) = self.pool.entries.get_mut(&key) {
            u.outbox.push_bytes(out);
        }
        self.count_forward(c.record, key);
        c.exchange = Some(Exchange {
            up: key,
            method: forward.method,
            client_version,
            wants_persistence,
            request_body: (!body_done).then_some(body),
            response: ResponseState::Head,
            retry,
            answered: false,
        });
        Step::Progress
    }

    /// Answers an unacceptable request with `status` and closes after it.
    fn reject(&mut self, c: &mut SmartClient, status: u16) -> Step {
        c.outbox.push_bytes(error_response(status));
        c.closing = true;
        self.end_client(c.record, ClientEnd::BadRequest { status });
        Step::Idle
    }

    /// The upstream connection of the current exchange failed. Retries once on a new
    /// connection when allowed, otherwise answers 502, or cuts the client connection
    /// if the response had started (RFC 9112 §8: the client must see it incomplete).
    fn upstream_failed(&mut self, host: &mut Host, c: &mut SmartClient) -> Step {
        let Some(ex) = c.exchange.as_mut() else {
            return Step::Idle;
        };
        let old = ex.up;
        self.retire_upstream(host, old);
        if let Some(head) = ex.retry.take() {
            if let Some(key) = self.open_upstream(host, c.id) {
                if let Some(u) = self.pool.entries.get_mut(&key) {
                    u.outbox.push_bytes(head);
                }
                ex.up = key;
                self.stats.retries += 1;
                self.count_forward(c.record, key);
                return Step::Progress;
            }
        }
        if !ex.answered {
            c.outbox.push_bytes(error_response(502));
        }
        c.exchange = None;
        c.closing = true;
        self.end_client(c.record, ClientEnd::UpstreamFailed);
        Step::Idle
    }

    /// Drops the current exchange of a client connection that is going away; its
    /// upstream connection is mid-message and cannot be reused.
    fn abandon_exchange(&mut self, host: &mut Host, c: &mut SmartClient) {
        if let Some(ex) = c.exchange.take() {
            self.retire_upstream(host, ex.up);
        }
    }
}
