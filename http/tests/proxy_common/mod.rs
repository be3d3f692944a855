//! The harness of the proxy tests: three hosts on a simulated network, added in the
//! order client (192.0.2.1), proxy (192.0.2.2), server (192.0.2.3), every link with
//! the same 100 ms RTT; a scripted raw-bytes client (so each test controls its
//! headers exactly) and a scripted raw server (so a test can see exactly what reached
//! the origin).
#![allow(dead_code)]

use std::collections::BTreeMap;

use tcpknobs_http::body::{request_framing, response_framing, BodyDecoder};
use tcpknobs_http::message::{parse_request, parse_response, Method, Parsed, Request, Response};
use tcpknobs_http::proxy::{Proxy, ProxyConfig, ProxyMode};
use tcpknobs_stack::{
    AppSlot, Application, ConnId, ConnState, Duration, Host, HostId, Instant, Ipv4Address, Knobs,
    LinkProfile, Readable, RunEnd, SimNet,
};

/// Round-trip time of every link, ms.
pub const RTT_MS: f64 = 100.0;
pub const CLIENT_ADDR: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
pub const PROXY_ADDR: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);
pub const SERVER_ADDR: Ipv4Address = Ipv4Address::new(192, 0, 2, 3);
pub const PROXY_PORT: u16 = 8080;

/// Client, proxy and server hosts, in that order.
pub fn three_hosts() -> (SimNet, HostId, HostId, HostId) {
    let link = LinkProfile {
        one_way_delay_ns: (RTT_MS * 1e6 / 2.0) as u64,
        ..LinkProfile::default()
    };
    let mut net = SimNet::new(link, 1);
    let client = net.add_host("client", Knobs::default());
    let proxy = net.add_host("proxy", Knobs::default());
    let server = net.add_host("server", Knobs::default());
    assert_eq!(net.host(proxy).addr(), PROXY_ADDR);
    assert_eq!(net.host(server).addr(), SERVER_ADDR);
    (net, client, proxy, server)
}

pub fn proxy(mode: ProxyMode) -> Proxy {
    Proxy::new(ProxyConfig {
        listen_port: PROXY_PORT,
        upstream: SERVER_ADDR,
        upstream_port: 80,
        mode,
    })
}

/// Runs clients against the proxy and a server app until the clients are done or
/// `limit_ms` of virtual time.
pub fn run(
    net: &mut SimNet,
    hosts: (HostId, HostId, HostId),
    clients: &mut [&mut RawClient],
    proxy: &mut Proxy,
    server: &mut dyn Application,
    limit_ms: i64,
) -> RunEnd {
    let (c, p, s) = hosts;
    let mut slots: Vec<AppSlot<'_>> = clients
        .iter_mut()
        .map(|app| AppSlot {
            host: c,
            app: &mut **app,
            is_server: false,
        })
        .collect();
    slots.push(AppSlot {
        host: p,
        app: proxy,
        is_server: true,
    });
    slots.push(AppSlot {
        host: s,
        app: server,
        is_server: true,
    });
    net.run(&mut slots, Instant::from_millis(limit_ms))
}

/// One client against a fresh proxy in `mode` and `server`, on fresh hosts, for up
/// to 10 s of virtual time.
pub fn run_one(
    client: &mut RawClient,
    mode: ProxyMode,
    server: &mut dyn Application,
) -> (RunEnd, Proxy) {
    let (mut net, c, p, s) = three_hosts();
    let mut proxy = proxy(mode);
    let end = run(
        &mut net,
        (c, p, s),
        &mut [client],
        &mut proxy,
        server,
        10_000,
    );
    (end, proxy)
}

/// Two clients sending `GET /x` through a smart proxy, the second starting at a time
/// of its own, to a server that answers `ok` and closes a connection left idle for
/// 1 s after its last response: the pooled upstream connection's end.
pub struct IdleCloseScene {
    pub net: SimNet,
    pub hosts: (HostId, HostId, HostId),
    pub a: RawClient,
    pub b: RawClient,
    pub proxy: Proxy,
    pub server: RawServer,
}

impl IdleCloseScene {
    /// The scene with the second client starting at `b_starts_ms`.
    pub fn new(b_starts_ms: i64) -> IdleCloseScene {
        let (net, c, p, s) = three_hosts();
        let req = get("/x", "HTTP/1.1", &[("Host", "origin")]);
        let mut server = RawServer::new(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        server.idle_close_ms = Some(1_000);
        IdleCloseScene {
            net,
            hosts: (c, p, s),
            a: RawClient::new(&[&req]),
            b: RawClient::new(&[&req]).starting_at(b_starts_ms),
            proxy: proxy(ProxyMode::Smart),
            server,
        }
    }

    /// Runs it on until the clients are done or `limit_ms` of virtual time.
    pub fn run(&mut self, limit_ms: i64) -> RunEnd {
        run(
            &mut self.net,
            self.hosts,
            &mut [&mut self.a, &mut self.b],
            &mut self.proxy,
            &mut self.server,
            limit_ms,
        )
    }
}

/// Every client got exactly one response, without error, with a body of `body_len`
/// bytes.
pub fn assert_each_answered_once(clients: &[RawClient], body_len: usize) {
    for (i, client) in clients.iter().enumerate() {
        assert_eq!(client.error, None, "client {i}");
        assert_eq!(client.responses.len(), 1, "client {i}");
        assert_eq!(client.responses[0].body.len(), body_len, "client {i}");
    }
}

/// Connections of a host that are still open (established, possibly half-closed).
pub fn open_connections(host: &Host) -> usize {
    (0..host.connection_count())
        .filter(|&i| host.state(ConnId(i)) == ConnState::Open)
        .count()
}

fn ms(t: Instant) -> f64 {
    t.total_micros() as f64 / 1000.0
}

/// One response as the raw client saw it.
#[derive(Debug)]
pub struct Seen {
    pub head: Response,
    pub body: Vec<u8>,
    /// When its last byte arrived, ms.
    pub at_ms: f64,
}

/// A client that writes exact bytes on one connection: each entry of `requests` is
/// one write; the next goes when the previous response is complete (or all at once
/// when `pipeline`). It gives up, closing, at `give_up_ms`: a real client needs such
/// a timeout to stop waiting for an answer that will never come (chapter item 18).
pub struct RawClient {
    to: (Ipv4Address, u16),
    requests: Vec<Vec<u8>>,
    pipeline: bool,
    start_ms: i64,
    give_up_ms: i64,
    conn: Option<ConnId>,
    sent: usize,
    inbuf: Vec<u8>,
    reading: Option<(Response, BodyDecoder, Vec<u8>)>,
    /// Final responses.
    pub responses: Vec<Seen>,
    /// Interim (1xx) responses, which precede a final one (RFC 9110 §15.2).
    pub interim: Vec<Seen>,
    pub eof_at_ms: Option<f64>,
    pub error: Option<String>,
    pub gave_up: bool,
    closed: bool,
}

impl RawClient {
    pub fn new(requests: &[&[u8]]) -> RawClient {
        RawClient {
            to: (PROXY_ADDR, PROXY_PORT),
            requests: requests.iter().map(|r| r.to_vec()).collect(),
            pipeline: false,
            start_ms: 0,
            give_up_ms: 10_000,
            conn: None,
            sent: 0,
            inbuf: Vec::new(),
            reading: None,
            responses: Vec::new(),
            interim: Vec::new(),
            eof_at_ms: None,
            error: None,
            gave_up: false,
            closed: false,
        }
    }

    pub fn pipelined(mut self) -> Self {
        self.pipeline = true;
        self
    }

    pub fn starting_at(mut self, ms: i64) -> Self {
        self.start_ms = ms;
        self
    }

    pub fn giving_up_at(mut self, ms: i64) -> Self {
        self.give_up_ms = ms;
        self
    }

    pub fn times(&self) -> Vec<f64> {
        self.responses.iter().map(|s| s.at_ms).collect()
    }

    fn close(&mut self, host: &mut Host) {
        if let Some(id) = self.conn {
            host.close(id);
        }
        self.closed = true;
    }

    fn parse(&mut self, now: Instant) {
        loop {
            if self.reading.is_none() {
                match parse_response(&self.inbuf) {
                    Ok(Parsed::Complete { message, head_len }) => {
                        self.inbuf.drain(..head_len);
                        if (100..200).contains(&message.status) {
                            self.interim.push(Seen {
                                head: message,
                                body: Vec::new(),
                                at_ms: ms(now),
                            });
                            continue;
                        }
                        let framing = match response_framing(&message, &Method::Get) {
                            Ok(f) => f,
                            Err(e) => {
                                self.error = Some(e.to_string());
                                return;
                            }
                        };
                        self.reading = Some((message, BodyDecoder::new(framing), Vec::new()));
                    }
                    Ok(Parsed::Partial) => return,
                    Err(e) => {
                        self.error = Some(e.to_string());
                        return;
                    }
                }
            }
            let Some((_, decoder, body)) = self.reading.as_mut() else {
                return;
            };
            match decoder.decode(&self.inbuf, &mut |d| body.extend_from_slice(d)) {
                Ok(n) => {
                    self.inbuf.drain(..n);
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return;
                }
            }
            if !decoder.is_complete() {
                return;
            }
            self.finish_response(now);
        }
    }

    fn finish_response(&mut self, now: Instant) {
        if let Some((head, _, body)) = self.reading.take() {
            self.responses.push(Seen {
                head,
                body,
                at_ms: ms(now),
            });
        }
    }
}

impl Application for RawClient {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        let give_up = Instant::from_millis(self.give_up_ms);
        if self.closed {
            return None;
        }
        if now < Instant::from_millis(self.start_ms) {
            return Some(Instant::from_millis(self.start_ms));
        }
        if now >= give_up {
            self.gave_up = true;
            self.close(host);
            return None;
        }
        let id = match self.conn {
            Some(id) => id,
            None => match host.connect(self.to.0, self.to.1) {
                Ok(id) => *self.conn.insert(id),
                Err(e) => {
                    self.error = Some(e.to_string());
                    self.closed = true;
                    return None;
                }
            },
        };
        // Write: everything at once when pipelining, else one request per response.
        while self.sent < self.requests.len()
            && (self.pipeline || self.responses.len() == self.sent)
        {
            let _ = host.send(id, &self.requests[self.sent]);
            self.sent += 1;
        }
        match host.recv(id, &mut self.inbuf) {
            Ok(Readable::Eof) => {
                self.parse(now);
                if let Some((_, decoder, _)) = self.reading.as_mut() {
                    if decoder.on_eof().is_ok() {
                        self.finish_response(now);
                    }
                }
                self.eof_at_ms = Some(ms(now));
                self.close(host);
                return None;
            }
            Ok(_) => self.parse(now),
            Err(e) => {
                self.error = Some(e.to_string());
                self.closed = true;
                return None;
            }
        }
        if self.responses.len() == self.requests.len() {
            self.close(host);
            return None;
        }
        Some(give_up)
    }

    fn is_done(&self) -> bool {
        self.closed
    }
}

/// What the raw server received: each request head with its decoded body, and the
/// raw bytes, per connection in accept order.
#[derive(Default)]
pub struct RawServer {
    /// The bytes of every response (one per request, in order).
    pub response: Vec<u8>,
    listening: bool,
    conns: BTreeMap<ConnId, RawConn>,
    pub requests: Vec<(Request, Vec<u8>)>,
    pub raw: Vec<Vec<u8>>,
    pub closed_by_peer: usize,
    /// Close a connection idle this long after its last response (a keep-alive
    /// timeout), if set.
    pub idle_close_ms: Option<i64>,
}

struct RawConn {
    /// Index in `raw`.
    index: usize,
    /// When it last accepted or answered.
    last: Instant,
    inbuf: Vec<u8>,
    reading: Option<(Request, BodyDecoder, Vec<u8>)>,
}

impl RawServer {
    pub fn new(response: &[u8]) -> RawServer {
        RawServer {
            response: response.to_vec(),
            ..RawServer::default()
        }
    }
}

impl Application for RawServer {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        if !self.listening {
            host.listen(80);
            self.listening = true;
        }
        while let Some(id) = host.accept(80) {
            self.conns.insert(
                id,
                RawConn {
                    index: self.raw.len(),
                    last: host.now(),
                    inbuf: Vec::new(),
                    reading: None,
                },
            );
            self.raw.push(Vec::new());
        }
        let mut gone = Vec::new();
        let mut deadline: Option<Instant> = None;
        for (&id, conn) in self.conns.iter_mut() {
            let RawConn {
                index,
                last,
                inbuf,
                reading,
            } = conn;
            let before = inbuf.len();
            let eof = match host.recv(id, inbuf) {
                Ok(Readable::Eof) => true,
                Ok(_) => false,
                Err(_) => {
                    gone.push(id);
                    continue;
                }
            };
            self.raw[*index].extend_from_slice(&inbuf[before..]);
            loop {
                if reading.is_none() {
                    let Ok(Parsed::Complete { message, head_len }) = parse_request(inbuf) else {
                        break;
                    };
                    inbuf.drain(..head_len);
                    let framing = request_framing(&message).expect("request framing");
                    *reading = Some((message, BodyDecoder::new(framing), Vec::new()));
                }
                let Some((_, decoder, body)) = reading.as_mut() else {
                    break;
                };
                let n = decoder
                    .decode(inbuf, &mut |d| body.extend_from_slice(d))
                    .expect("request body");
                inbuf.drain(..n);
                if !decoder.is_complete() {
                    break;
                }
                if let Some((request, _, body)) = reading.take() {
                    self.requests.push((request, body));
                    let _ = host.send(id, &self.response);
                    *last = host.now();
                }
            }
            if eof {
                self.closed_by_peer += 1;
                host.close(id);
                gone.push(id);
                continue;
            }
            if let Some(idle) = self.idle_close_ms {
                let due = *last + Duration::from_millis(idle as u64);
                if host.now() >= due && inbuf.is_empty() && reading.is_none() {
                    host.close(id);
                    gone.push(id);
                } else {
                    deadline = Some(deadline.map_or(due, |d| d.min(due)));
                }
            }
        }
        for id in gone {
            self.conns.remove(&id);
        }
        deadline
    }

    fn is_done(&self) -> bool {
        false
    }
}

/// A GET request head, as bytes.
pub fn get(target: &str, version: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("GET {target} {version}\r\n");
    for (n, v) in fields {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Header names of a head, in order.
pub fn names(fields: &tcpknobs_http::message::Headers) -> Vec<String> {
    fields.iter().map(|(n, _)| n.to_string()).collect()
}
