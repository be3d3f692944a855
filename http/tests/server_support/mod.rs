//! The harness of the server tests: a two-host simulated network (client 192.0.2.1,
//! server 192.0.2.2, 100 ms RTT unless told otherwise, no bandwidth limit, no loss,
//! Nagle and delayed ACKs off so only the server's own timing shows), a scripted client
//! that writes raw bytes at fixed virtual times and records everything it reads (as it
//! arrives, or only when the script says), a log of every TCP segment on the wire, and
//! a small response parser.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use tcpknobs_http::body::{response_framing, BodyDecoder};
use tcpknobs_http::message::{parse_response, Method, Parsed, Response};
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_stack::{
    AppSlot, Application, ConnId, ConnStats, Duration, Host, HostId, Instant, Ipv4Address, Knobs,
    LinkProfile, Nagle, Readable, RunEnd, SimNet, SocketError,
};

pub const CLIENT: HostId = HostId(0);
pub const SERVER: HostId = HostId(1);
pub const PORT: u16 = 80;

/// One scripted socket call of the client, on its `conn`th connection.
#[derive(Clone, Debug)]
pub enum Op {
    Connect,
    Send(Vec<u8>),
    Shutdown,
    Close,
    Abort,
    /// Read everything readable now (what a client that does not read as data arrives
    /// does now and then; see [`ScriptClient::reads_as_data_arrives`]).
    Read,
}

/// What the client read, and when (µs of virtual time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Data(Vec<u8>),
    Eof,
    Err(SocketError),
}

struct ClientConn {
    id: ConnId,
    ended: bool,
    events: Vec<(i64, Event)>,
}

/// A client that performs scripted calls at fixed virtual times and reads everything
/// that arrives on every connection as soon as it arrives. On EOF it closes (as a
/// well-behaved client does) unless told not to.
pub struct ScriptClient {
    steps: VecDeque<(i64, usize, Op)>,
    conns: Vec<ClientConn>,
    pub close_on_eof: bool,
    /// False: read only at `Op::Read` steps, so what arrives in between stays in the
    /// socket and its receive window closes (a slow reader, or one that never reads).
    pub reads_as_data_arrives: bool,
}

impl ScriptClient {
    /// Steps as (ms, connection index, call), in time order; connection indexes count
    /// `Connect` calls.
    pub fn new(steps: Vec<(i64, usize, Op)>) -> ScriptClient {
        ScriptClient {
            steps: steps.into(),
            conns: Vec::new(),
            close_on_eof: true,
            reads_as_data_arrives: true,
        }
    }

    /// One connection at 0 ms that sends each `(ms, bytes)`.
    pub fn sends(sends: &[(i64, &[u8])]) -> ScriptClient {
        let mut steps = vec![(0, 0, Op::Connect)];
        steps.extend(sends.iter().map(|(at, b)| (*at, 0, Op::Send(b.to_vec()))));
        ScriptClient::new(steps)
    }

    /// One connection at 0 ms that asks for `size` bytes at 100 ms and reads nothing
    /// until `end_ms`, when it reads what its socket holds and closes.
    pub fn non_reader(size: u64, end_ms: i64) -> ScriptClient {
        let mut client = ScriptClient::new(vec![
            (0, 0, Op::Connect),
            (100, 0, Op::Send(get(size, ""))),
            (end_ms, 0, Op::Read),
            (end_ms, 0, Op::Close),
        ]);
        client.reads_as_data_arrives = false;
        client
    }

    /// Everything read on connection `c`, with µs times.
    pub fn events(&self, c: usize) -> &[(i64, Event)] {
        &self.conns[c].events
    }

    /// All bytes read on connection `c`.
    pub fn bytes(&self, c: usize) -> Vec<u8> {
        self.conns[c]
            .events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Data(d) => Some(d.as_slice()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .concat()
    }

    /// When connection `c` saw EOF, in ms.
    pub fn eof_ms(&self, c: usize) -> Option<f64> {
        self.conns[c]
            .events
            .iter()
            .find(|(_, e)| *e == Event::Eof)
            .map(|(t, _)| *t as f64 / 1000.0)
    }

    /// The error connection `c` reported, if any.
    pub fn error(&self, c: usize) -> Option<SocketError> {
        self.conns[c].events.iter().find_map(|(_, e)| match e {
            Event::Err(e) => Some(*e),
            _ => None,
        })
    }

    /// Times (ms) at which data arrived on connection `c`.
    pub fn data_ms(&self, c: usize) -> Vec<f64> {
        self.conns[c]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Data(_)))
            .map(|(t, _)| *t as f64 / 1000.0)
            .collect()
    }

    pub fn conn_id(&self, c: usize) -> ConnId {
        self.conns[c].id
    }
}

impl ClientConn {
    /// Read everything readable and record it; on EOF close if `close_on_eof`.
    fn read(&mut self, host: &mut Host, now: Instant, close_on_eof: bool) {
        if self.ended {
            return;
        }
        let mut buf = Vec::new();
        let event = match host.recv(self.id, &mut buf) {
            Ok(Readable::Data(_)) => Event::Data(buf),
            Ok(Readable::Nothing) => return,
            Ok(Readable::Eof) => Event::Eof,
            Err(e) => Event::Err(e),
        };
        if event != Event::Eof || !matches!(self.events.last(), Some((_, Event::Eof))) {
            self.events.push((now.total_micros(), event.clone()));
        }
        match event {
            Event::Eof if close_on_eof => {
                host.close(self.id);
                self.ended = true;
            }
            Event::Err(_) => self.ended = true,
            _ => {}
        }
    }
}

impl Application for ScriptClient {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        if self.reads_as_data_arrives {
            for c in &mut self.conns {
                c.read(host, now, self.close_on_eof);
            }
        }
        while let Some((at, c, op)) = self.steps.front().cloned() {
            if Instant::from_millis(at) > now {
                return Some(Instant::from_millis(at));
            }
            self.steps.pop_front();
            match op {
                Op::Connect => {
                    let id = host
                        .connect(Ipv4Address::new(192, 0, 2, 2), PORT)
                        .expect("a free port");
                    self.conns.push(ClientConn {
                        id,
                        ended: false,
                        events: Vec::new(),
                    });
                }
                Op::Send(data) => {
                    let conn = &self.conns[c];
                    if !conn.ended {
                        // A failed send shows up as an error on the next read.
                        let _ = host.send(conn.id, &data);
                    }
                }
                Op::Shutdown => host.shutdown_write(self.conns[c].id),
                Op::Close => {
                    host.close(self.conns[c].id);
                    self.conns[c].ended = true;
                }
                Op::Abort => {
                    host.abort(self.conns[c].id);
                    self.conns[c].ended = true;
                }
                Op::Read => self.conns[c].read(host, now, self.close_on_eof),
            }
        }
        None
    }

    fn is_done(&self) -> bool {
        self.steps.is_empty() && self.conns.iter().all(|c| c.ended)
    }
}

/// Knobs with Nagle and delayed ACKs off, so segments leave when written.
pub fn knobs() -> Knobs {
    Knobs {
        delayed_ack: None,
        nagle: Nagle::Off,
        time_wait: Duration::from_secs(60),
        ..Knobs::default()
    }
}

/// One TCP segment on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wire {
    /// When its sender put it on the link, µs.
    pub at_us: u64,
    pub from: HostId,
    pub flags: u8,
    pub payload: usize,
    /// The acknowledgment number (meaningful with `ACK`).
    pub ack: u32,
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

impl Wire {
    pub fn ms(&self) -> f64 {
        self.at_us as f64 / 1000.0
    }
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Parses the TCP flags and payload length of a raw IPv4 frame.
fn parse_wire(at_ns: u64, from: HostId, frame: &[u8]) -> Option<Wire> {
    let ihl = usize::from(*frame.first()? & 0x0f) * 4;
    if *frame.get(9)? != 6 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]));
    let tcp = frame.get(ihl..)?;
    let doff = usize::from(*tcp.get(12)? >> 4) * 4;
    Some(Wire {
        at_us: at_ns / 1000,
        from,
        flags: *tcp.get(13)?,
        payload: total.saturating_sub(ihl + doff),
        ack: u32::from_be_bytes(tcp.get(8..12)?.try_into().ok()?),
    })
}

/// A simulated network with the client and server hosts, and the wire log.
pub struct Lab {
    pub net: SimNet,
    pub wire: Rc<RefCell<Vec<Wire>>>,
}

impl Lab {
    /// `rtt_ms` round trip, split evenly.
    pub fn new(rtt_ms: u64) -> Lab {
        Lab::with_knobs(rtt_ms, knobs(), knobs())
    }

    /// [`Lab::new`] with each host's knobs given (a small receive buffer, say).
    pub fn with_knobs(rtt_ms: u64, client: Knobs, server: Knobs) -> Lab {
        let mut net = SimNet::new(
            LinkProfile {
                one_way_delay_ns: rtt_ms * 1_000_000 / 2,
                ..LinkProfile::default()
            },
            1,
        );
        net.add_host("client", client);
        net.add_host("server", server);
        let wire = Rc::new(RefCell::new(Vec::new()));
        let log = wire.clone();
        net.set_fault(Box::new(move |ns, from, _to, frame| {
            log.borrow_mut().extend(parse_wire(ns, from, frame));
            false
        }));
        Lab { net, wire }
    }

    /// Run until the client is done (the server runs forever) or `limit_ms`. The
    /// server is any application on the server host: a [`Server`], or one wrapped to
    /// watch it after every poll.
    pub fn run(
        &mut self,
        client: &mut ScriptClient,
        server: &mut dyn Application,
        limit_ms: i64,
    ) -> RunEnd {
        let mut apps = [
            AppSlot {
                host: SERVER,
                app: server,
                is_server: true,
            },
            AppSlot {
                host: CLIENT,
                app: client,
                is_server: false,
            },
        ];
        self.net.run(&mut apps, Instant::from_millis(limit_ms))
    }

    /// Segments one host sent that carry `flag`.
    pub fn sent(&self, from: HostId, flag: u8) -> Vec<Wire> {
        self.wire
            .borrow()
            .iter()
            .filter(|w| w.from == from && w.has(flag))
            .copied()
            .collect()
    }

    /// When `from` sent ACKs that acknowledged new data (ms), the handshake's first
    /// ACK excluded. Each one, on arrival, frees room in the peer's send buffers.
    pub fn ack_advances_ms(&self, from: HostId) -> Vec<f64> {
        let mut highest: Option<u32> = None;
        let mut out = Vec::new();
        for w in self.wire.borrow().iter() {
            if w.from != from || !w.has(ACK) {
                continue;
            }
            match highest {
                None => highest = Some(w.ack),
                // Sequence numbers wrap: "later" is a positive signed distance.
                Some(h) if (w.ack.wrapping_sub(h) as i32) > 0 => {
                    highest = Some(w.ack);
                    out.push(w.ms());
                }
                Some(_) => {}
            }
        }
        out
    }

    /// The figures of one host's only (or first) connection.
    pub fn host_stats(&self, host: HostId, id: ConnId) -> ConnStats {
        self.net.host(host).stats(id).expect("a connection")
    }

    /// RSTs sent by either side.
    pub fn resets(&self) -> usize {
        self.wire.borrow().iter().filter(|w| w.has(RST)).count()
    }
}

/// A server with `config` (on port 80).
pub fn new_server(config: ServerConfig) -> Server {
    Server::new(ServerConfig {
        port: PORT,
        ..config
    })
}

/// One response as the client parsed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed1 {
    pub head: Response,
    pub body: Vec<u8>,
    /// The body ended where its framing said (false: cut by the close).
    pub complete: bool,
}

impl Parsed1 {
    pub fn status(&self) -> u16 {
        self.head.status
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)
    }
}

/// Parses consecutive responses to requests with these methods from `bytes`, which
/// ended with the connection's close when `closed`.
pub fn responses(bytes: &[u8], methods: &[Method], closed: bool) -> Vec<Parsed1> {
    let mut out = Vec::new();
    let mut rest = bytes;
    for method in methods {
        let Ok(Parsed::Complete { message, head_len }) = parse_response(rest) else {
            break;
        };
        rest = &rest[head_len..];
        let framing = response_framing(&message, method).expect("valid framing");
        let mut decoder = BodyDecoder::new(framing);
        let mut body = Vec::new();
        let used = decoder
            .decode(rest, &mut |d| body.extend_from_slice(d))
            .expect("valid body");
        rest = &rest[used..];
        let complete =
            decoder.is_complete() || (closed && rest.is_empty() && decoder.on_eof().is_ok());
        out.push(Parsed1 {
            head: message,
            body,
            complete,
        });
        if !complete {
            break;
        }
    }
    out
}

/// `GET /bytes/N` as HTTP/1.1 with a Host, plus extra header lines.
pub fn get(n: u64, extra: &str) -> Vec<u8> {
    format!("GET /bytes/{n} HTTP/1.1\r\nHost: 192.0.2.2\r\n{extra}\r\n").into_bytes()
}

/// `GET /bytes/N` as HTTP/1.0, plus extra header lines.
pub fn get10(n: u64, extra: &str) -> Vec<u8> {
    format!("GET /bytes/{n} HTTP/1.0\r\n{extra}\r\n").into_bytes()
}

/// `ms` as an Instant-free float, for comparing with recorded times.
pub fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}
