//! The HTTP proxy, as a sans-IO application over a [`Host`]: clients connect
//! to it as if it were the origin, and it forwards to one fixed upstream server.
//!
//! Two modes, one per lesson of chapter 4:
//! * [`ProxyMode::Smart`] (chapter items 11 and 19): parses every message, removes the
//!   hop-by-hop header fields (RFC 9110 §7.6.1), re-frames bodies, and manages the
//!   client side and the server side as separate persistent connections (RFC 9112
//!   §9.3): client connections persist as their client asked, upstream connections
//!   live in a small pool and are reused across clients. Requests of one client
//!   connection are answered in order; pipelined input is accepted but forwarded one
//!   request at a time, each when the previous answer is complete (RFC 9112 §9.3.2
//!   allows this), so a pipelining client gains the client-side round trips only.
//!   Every message is relayed as it arrives (Via added, RFC 9110 §7.6.3), in bounded
//!   memory ([`RELAY_HIGH_WATER`]). A request that finds its pooled connection closed
//!   by the server is retried once on a new one when safe (chapter item 19).
//! * [`ProxyMode::Dumb`] (chapter item 18): forwards the first request of a client
//!   connection byte for byte on a new upstream connection, relays the answer blindly
//!   and takes the server's close as the end of the response, then closes the client
//!   side. A client whose `Connection: Keep-Alive` it forwarded then hangs: the server
//!   keeps its connection open, the client sends a second request nobody reads, until
//!   the client's timeout or the server's idle timeout.
//!
//! Run it on its own host with `is_server: true` in its
//! [`AppSlot`](tcpknobs_stack::AppSlot); [`Proxy::stats`] says what each connection did.
//!
//! The only timer is the smart proxy's lingering close ([`LINGER`]), reported as a
//! deadline by [`Application::poll`]; nothing reads a clock.
//!
//! A poll drives only the client connections something happened to (see `wakeups`):
//! news about an upstream connection is news for the client connection it works
//! for, and an idle pooled connection is looked at only when the host has news of
//! it, so a poll costs what is happening, not what is open. A poll with nothing to
//! accept, nothing woken and no deadline come drives nothing at all.
//!
//! Its memory follows its live connections too: [`Proxy::keep_records_below`] keeps
//! the records of the first connections only, and the totals count every one.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use tcpknobs_stack::{
    Application, ConnId, ConnState, Duration, Host, Instant, Ipv4Address, News, NewsReader,
    Readable, SocketError,
};

use crate::body::{
    encode_chunk, encode_last_chunk, request_framing, response_framing, BodyDecoder, Framing,
};
use crate::message::{
    parse_request, parse_response, Headers, Method, Parsed, Request, Response, Version,
};
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;
use crate::wakeups::{Pass, Wakeups};

/// The proxy's default listening port (the customary `http-alt`, 8080).
pub const DEFAULT_PORT: u16 = 8080;

/// Bytes one relay direction may hold in user space (read but not yet taken by the
/// destination socket) before the proxy stops reading the source. The source's TCP
/// receive window then closes, so a body of any size streams through in bounded
/// memory instead of being buffered whole.
pub const RELAY_HIGH_WATER: u64 = 256 * 1024;

/// How long the smart proxy keeps reading (and discarding) from a client after its
/// own FIN before it closes for good: a lingering close, so that input still in
/// flight cannot make the stack reset the connection and destroy a response the
/// client has not read yet (chapter item 24; Apache's lingering close also waits 2 s).
pub const LINGER: Duration = Duration::from_secs(2);

/// The product token this proxy names itself by in `Via` (RFC 9110 §7.6.3).
pub const VIA_PSEUDONYM: &str = "tcpknobs";

/// Header fields that are hop-by-hop whatever the `Connection` field says: they
/// describe one connection, never the message, so a proxy must not forward them
/// (chapter item 11; RFC 9110 §7.6.1 for Connection, Proxy-Connection, Keep-Alive, TE,
/// Transfer-Encoding, Upgrade; §11.7.1/§11.7.2 for the Proxy-Authenticate and
/// Proxy-Authorization of one hop; RFC 9112 §6.1 for Transfer-Encoding; §6.5 of
/// RFC 9110 for Trailer, which announces trailers this proxy drops).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How the proxy treats the messages it relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    /// A conforming HTTP/1.1 intermediary: parses each message, removes the hop-by-hop
    /// headers (chapter item 11, RFC 9110 §7.6.1), keeps its own persistent
    /// connections to the server and answers each client connection with the
    /// persistence that client asked for (chapter item 19, RFC 9112 §9.3, §9.6).
    Smart,
    /// A pre-HTTP/1.1 blind relay: forwards the first request of each client
    /// connection with every header unchanged (`Connection: Keep-Alive` included) and
    /// waits for the server to close to know the response ended — the keep-alive hang
    /// of chapter item 18.
    Dumb,
}

/// Where the proxy listens and what it forwards to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProxyConfig {
    /// Port clients connect to (default [`DEFAULT_PORT`]).
    pub listen_port: u16,
    /// The origin server every request goes to. The default, 192.0.2.3, is the third
    /// host of a [`SimNet`](tcpknobs_stack::SimNet) built client, proxy, server.
    pub upstream: Ipv4Address,
    /// The origin server's port (default 80).
    pub upstream_port: u16,
    /// Smart or dumb.
    pub mode: ProxyMode,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen_port: DEFAULT_PORT,
            upstream: Ipv4Address::new(192, 0, 2, 3),
            upstream_port: 80,
            mode: ProxyMode::Smart,
        }
    }
}

/// How a client connection ended, as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientEnd {
    /// Still open.
    Open,
    /// The client closed its side and every request it sent was answered.
    ClientClosed,
    /// The proxy closed after a response: the client asked for `close`, was HTTP/1.0
    /// without keep-alive, or the body could only be delimited by the close
    /// (RFC 9112 §9.6, §6.3 item 8).
    NotPersistent,
    /// Dumb mode: the server closed, so the proxy closed too (the only end of a
    /// response a blind relay knows).
    UpstreamClosed,
    /// The request was unacceptable; answered with this status, then closed.
    BadRequest {
        /// The status sent.
        status: u16,
    },
    /// The server side failed (refused, reset, closed early, malformed): the client
    /// got a 502, or a cut response if part of it had been sent.
    UpstreamFailed,
    /// The client connection failed (reset).
    Reset,
}

/// What happened on one client connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientRecord {
    /// The client, as `addr:port`.
    pub peer: String,
    /// Requests forwarded upstream from this connection.
    pub requests: u64,
    /// Responses relayed back whole (dumb mode: answers ended by the server's close).
    pub responses: u64,
    /// For each forwarded request, the connection that carried it, by its place in
    /// opening order (0 the first): its index in [`ProxyStats::upstreams`] when
    /// below that list's length, else one of the [`ProxyStats::upstreams_omitted`].
    pub upstreams: Vec<usize>,
    /// Dumb mode: bytes the client sent after its first request, read and never
    /// looked at (the ignored second request of chapter item 18).
    pub ignored_bytes: u64,
    /// Response bytes written to the client.
    pub bytes_to_client: u64,
    /// How the connection ended.
    pub end: ClientEnd,
}

/// What one upstream connection carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpstreamRecord {
    /// The proxy's local port (0 until known).
    pub local_port: u16,
    /// Requests sent on it.
    pub requests: u64,
}

/// The proxy's counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// The mode these were counted in.
    pub mode: ProxyMode,
    /// Client connections accepted.
    pub client_connections: u64,
    /// Upstream connections opened.
    pub upstream_connections: u64,
    /// Requests forwarded upstream (retries included).
    pub requests_forwarded: u64,
    /// Responses relayed back whole.
    pub responses_relayed: u64,
    /// Hop-by-hop header field lines removed, requests and responses together.
    pub hop_by_hop_removed: u64,
    /// Requests re-sent on a new upstream connection because a reused one closed
    /// before answering (chapter item 19; RFC 9112 §9.3.1).
    pub retries: u64,
    /// Most bytes one client connection and its upstream connection held in the
    /// proxy's user space at once (read, not yet written to the other socket):
    /// bodies stream through, so this stays below [`RELAY_HIGH_WATER`] plus what one
    /// read returns (a receive buffer), whatever the body size.
    pub peak_buffered_bytes: u64,
    /// Client connections accepted without a record in [`ProxyStats::clients`]
    /// (see [`Proxy::keep_records_below`]).
    pub clients_omitted: u64,
    /// The first client connections, in accept order (every one by default).
    pub clients: Vec<ClientRecord>,
    /// Upstream connections opened without a record in [`ProxyStats::upstreams`]
    /// (see [`Proxy::keep_records_below`]).
    pub upstreams_omitted: u64,
    /// The first upstream connections, in opening order (every one by default).
    pub upstreams: Vec<UpstreamRecord>,
}

/// Removes the hop-by-hop fields of one hop (chapter item 11, RFC 9110 §7.6.1): the
/// `Connection` fields, every field they name, and the fixed list [`HOP_BY_HOP`].
/// Returns how many field lines were removed.
///
/// Run it on a message before reading anything it removes: the framing fields among
/// them (`Transfer-Encoding`, or a `Content-Length` a sender listed in `Connection`)
/// must be decided first and re-added by the forwarder.
pub fn strip_hop_by_hop(headers: &mut Headers) -> usize {
    let named = headers.connection_tokens();
    let mut removed = 0;
    for name in named.iter().map(String::as_str).chain(HOP_BY_HOP) {
        removed += headers.remove(name);
    }
    removed
}

/// Whether a client asked for its connection to persist after this request
/// (RFC 9112 §9.3): HTTP/1.1 unless `close`; HTTP/1.0 only with `Connection:
/// Keep-Alive` (chapter item 17) or the `Proxy-Connection: Keep-Alive` that clients
/// send to proxies they know of (chapter item 18).
fn client_wants_persistence(request: &Request) -> bool {
    if request.headers.has_connection_token("close") {
        return false;
    }
    match request.version {
        Version::Http11 => true,
        Version::Http10 => {
            request.headers.has_connection_token("keep-alive")
                || request
                    .headers
                    .get_all("proxy-connection")
                    .flat_map(|v| v.split(','))
                    .any(|t| {
                        t.trim_matches([' ', '\t'])
                            .eq_ignore_ascii_case("keep-alive")
                    })
        }
    }
}

/// Whether the server will keep its connection open after this response
/// (RFC 9112 §9.3; the proxy's requests are HTTP/1.1).
fn upstream_persists(response: &Response) -> bool {
    if response.headers.has_connection_token("close") {
        return false;
    }
    match response.version {
        Version::Http11 => true,
        Version::Http10 => response.headers.has_connection_token("keep-alive"),
    }
}

/// Splits an absolute-form target `http://authority/path?query` (RFC 9112 §3.2.2)
/// into its authority and the origin-form to send to the origin server (§3.2.1).
fn split_absolute_form(target: &str) -> Option<(&str, String)> {
    let scheme = target.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = target.get(7..)?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let origin = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((authority, origin))
}

/// A small self-made response that ends the connection (RFC 9112 §9.6).
fn error_response(status: u16) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let body = format!("{status} {reason}\n");
    let mut response = Response::new(status, reason);
    response.headers.append("Content-Type", "text/plain");
    response
        .headers
        .append("Content-Length", body.len().to_string());
    response.headers.append("Connection", "close");
    let mut out = Vec::new();
    response.write_head(&mut out);
    out.extend_from_slice(body.as_bytes());
    out
}

/// A body on its way through: decoded as it arrived, written in the framing chosen for
/// the next hop (chunked, or as is for a known length or a close-delimited body).
#[derive(Debug)]
struct BodyRelay {
    decoder: BodyDecoder,
    chunked: bool,
}

impl BodyRelay {
    fn new(framing: Framing, chunked: bool) -> BodyRelay {
        BodyRelay {
            decoder: BodyDecoder::new(framing),
            chunked,
        }
    }

    /// Moves body bytes from the front of `input` to `out`; true once complete.
    fn relay(&mut self, input: &mut ReadBuffer, out: &mut Vec<u8>) -> Result<bool, ()> {
        if self.decoder.is_complete() {
            return Ok(true);
        }
        let chunked = self.chunked;
        let used = self
            .decoder
            .decode(input.as_slice(), &mut |data: &[u8]| {
                if chunked {
                    encode_chunk(data, out);
                } else {
                    out.extend_from_slice(data);
                }
            })
            .map_err(|_| ())?;
        input.consume(used);
        let done = self.decoder.is_complete();
        if done && chunked {
            encode_last_chunk(out);
        }
        Ok(done)
    }

    /// The sender closed: completes a close-delimited body (RFC 9112 §6.3 item 8),
    /// anything else unfinished is truncated (RFC 9112 §8).
    fn finish_at_eof(&mut self, out: &mut Vec<u8>) -> Result<(), ()> {
        if self.decoder.is_complete() {
            return Ok(());
        }
        self.decoder.on_eof().map_err(|_| ())?;
        if self.chunked {
            encode_last_chunk(out);
        }
        Ok(())
    }
}

/// One server-side connection of the smart proxy's pool.
#[derive(Debug)]
struct Upstream {
    id: ConnId,
    /// Its place in opening order: its index in [`ProxyStats::upstreams`] while
    /// records are kept, and its key in the pool.
    record: usize,
    inbuf: ReadBuffer,
    outbox: Outbox,
    /// Bytes read from it so far.
    read: u64,
    /// Requests it has carried to completion.
    carried: u64,
}

/// The smart proxy's upstream connections, by record index, and what finding an
/// idle one and noticing a server's close of one need without looking at them all.
#[derive(Default)]
struct Pool {
    entries: BTreeMap<usize, Upstream>,
    /// The entries not leased to an exchange (hyper's `Busy` is the rest), in the
    /// order a lease prefers them.
    idle: BTreeSet<usize>,
    /// Entry keys by connection, to place the host's news.
    keys: BTreeMap<ConnId, usize>,
    /// The pool's own place in the host's news: an idle connection can only have
    /// been closed by its server, or sent bytes nobody asked for, if the host has
    /// news of it.
    reader: Option<NewsReader>,
    /// Idle entries to look at in the next sweep whatever the news says.
    unseen: BTreeSet<usize>,
    scratch: Vec<ConnId>,
}

impl Pool {
    /// Adds a new connection, leased.
    fn insert(&mut self, u: Upstream) {
        self.keys.insert(u.id, u.record);
        self.entries.insert(u.record, u);
    }

    fn remove(&mut self, key: usize) -> Option<Upstream> {
        let u = self.entries.remove(&key)?;
        self.keys.remove(&u.id);
        self.idle.remove(&key);
        self.unseen.remove(&key);
        Some(u)
    }

    /// Takes an entry out of the idle ones.
    fn lease(&mut self, key: usize) -> Option<&mut Upstream> {
        self.idle.remove(&key);
        self.entries.get_mut(&key)
    }

    /// Puts an entry back among the idle ones: the next sweep looks at it.
    fn release(&mut self, key: usize) -> Option<&mut Upstream> {
        let u = self.entries.get_mut(&key)?;
        self.idle.insert(key);
        self.unseen.insert(key);
        Some(u)
    }

    fn all_idle(&self) -> bool {
        self.idle.len() == self.entries.len()
    }

    /// The idle entries a sweep must look at: those the host has news of since the
    /// last sweep (every one when it may be any), and those put back since. Any
    /// other is as the last look left it, alive, and looking at it again would
    /// change nothing.
    fn worth_a_look(&mut self, host: &mut Host) -> BTreeSet<usize> {
        if self.reader.is_none() && self.idle.is_empty() {
            return BTreeSet::new();
        }
        let reader = *self.reader.get_or_insert_with(|| host.news_reader());
        let mut look = std::mem::take(&mut self.unseen);
        self.scratch.clear();
        match host.read_news(reader, &mut self.scratch) {
            News::Listed => look.extend(self.scratch.iter().filter_map(|id| self.keys.get(id))),
            News::Everything => look.extend(self.idle.iter().copied()),
        }
        look.retain(|key| self.idle.contains(key));
        look
    }

    /// After a sweep looked at `looked` and read nothing: its own reads are news
    /// about those only, and it has seen them; news of any other entry waits for
    /// the next sweep. (After a read that found bytes the news is left for the
    /// next sweep whole.)
    fn seen(&mut self, host: &mut Host, looked: &BTreeSet<usize>) {
        let Some(reader) = self.reader.filter(|_| !looked.is_empty()) else {
            return;
        };
        self.scratch.clear();
        match host.read_news(reader, &mut self.scratch) {
            News::Listed => {
                let keys = &self.keys;
                let news = self.scratch.iter().filter_map(|id| keys.get(id));
                self.unseen
                    .extend(news.filter(|key| !looked.contains(key)).copied());
            }
            News::Everything => self.unseen.extend(self.idle.iter().copied()),
        }
    }
}

/// Where the answer to the current request is.
#[derive(Debug)]
enum ResponseState {
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
struct Exchange {
    /// Key of the leased upstream connection.
    up: usize,
    method: Method,
    client_version: Version,
    /// The client asked for persistence (RFC 9112 §9.3).
    wants_persistence: bool,
    /// The client's request body, while it is still arriving.
    request_body: Option<BodyRelay>,
    response: ResponseState,
    /// The forwarded head, kept while one retry on a fresh connection is allowed: the
    /// request is idempotent and bodiless, went out on a reused connection, and no
    /// answer has come (chapter item 19; RFC 9112 §9.3.1, RFC 9110 §9.2.2).
    retry: Option<Vec<u8>>,
    /// The final response head has been sent to the client.
    answered: bool,
}

/// One client connection of the smart proxy.
#[derive(Debug)]
struct SmartClient {
    id: ConnId,
    record: usize,
    inbuf: ReadBuffer,
    outbox: Outbox,
    exchange: Option<Exchange>,
    peer_eof: bool,
    /// Close once the outbox is flushed.
    closing: bool,
    /// Half-closed by us; read and discard until the client closes or this time.
    linger_until: Option<Instant>,
    /// Bytes read from it so far.
    read: u64,
}

/// How far the dumb proxy got with one client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DumbState {
    /// Reading the first request head.
    Head,
    /// Relaying the request body; this many bytes still to come.
    Body { remaining: u64 },
    /// Relaying the answer until the server closes; client input is ignored.
    Relaying,
}

/// One client connection of the dumb proxy and its own upstream connection.
#[derive(Debug)]
struct DumbClient {
    id: ConnId,
    record: usize,
    state: DumbState,
    inbuf: ReadBuffer,
    outbox: Outbox,
    peer_eof: bool,
    up: Option<ConnId>,
    /// The upstream connection's place in opening order, once `up` is set (see
    /// [`Upstream::record`]): the record whose port it fills in.
    up_record: usize,
    /// Taken whole at every drive, never consumed from the front: a plain vector.
    up_inbuf: Vec<u8>,
    up_outbox: Outbox,
    up_eof: bool,
    /// Bytes read from the client and from the upstream connection so far.
    read: u64,
    up_read: u64,
}

/// One side of a client connection as far as a drive can move it: bytes read from
/// its socket, held unread, and queued for it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SidePrint {
    read: u64,
    held: usize,
    queued: u64,
}

impl SidePrint {
    fn of(read: u64, inbuf: &[u8], outbox: &Outbox) -> SidePrint {
        SidePrint {
            read,
            held: inbuf.len(),
            queued: outbox.pending_bytes(),
        }
    }
}

/// What driving a client connection can change, its upstream connection included:
/// a drive that left it as it was reached a fixed point, and driving it again
/// before something happens to it would change nothing; one that moved it is
/// driven again at the next poll, as every connection was (see `wakeups`).
#[derive(Clone, Copy, PartialEq, Eq)]
struct ClientPrint {
    client: SidePrint,
    /// The upstream connection (pool key or connection id) and its side.
    upstream: Option<(usize, SidePrint)>,
    /// Where it is, one bit a fact (see [`flags`]): which sides ended, how far its
    /// exchange got.
    stage: u8,
    linger_until: Option<Instant>,
}

/// Facts as the bits of a byte, the first the lowest (eight at most).
fn flags(facts: &[bool]) -> u8 {
    facts
        .iter()
        .rev()
        .fold(0, |bits, &fact| bits << 1 | u8::from(fact))
}

impl SmartClient {
    fn print(&self, pool: &Pool) -> ClientPrint {
        let up = self
            .exchange
            .as_ref()
            .and_then(|ex| Some((ex.up, pool.entries.get(&ex.up)?)));
        let ex = self.exchange.as_ref();
        ClientPrint {
            client: SidePrint::of(self.read, self.inbuf.as_slice(), &self.outbox),
            upstream: up
                .map(|(key, u)| (key, SidePrint::of(u.read, u.inbuf.as_slice(), &u.outbox))),
            stage: flags(&[
                self.peer_eof,
                self.closing,
                ex.is_some(),
                ex.is_some_and(|ex| ex.request_body.is_some()),
                ex.is_some_and(|ex| matches!(ex.response, ResponseState::Body { .. })),
                ex.is_some_and(|ex| ex.retry.is_some()),
                ex.is_some_and(|ex| ex.answered),
            ]),
            linger_until: self.linger_until,
        }
    }
}

impl DumbClient {
    fn print(&self) -> ClientPrint {
        ClientPrint {
            client: SidePrint::of(self.read, self.inbuf.as_slice(), &self.outbox),
            upstream: self.up.map(|up| {
                let side = SidePrint::of(self.up_read, &self.up_inbuf, &self.up_outbox);
                (up.0, side)
            }),
            stage: flags(&[
                self.peer_eof,
                self.up_eof,
                matches!(self.state, DumbState::Body { .. }),
                self.state == DumbState::Relaying,
            ]),
            linger_until: None,
        }
    }
}

/// [`Host::recv`], adding what it read to `total`.
fn recv_counting(
    host: &mut Host,
    id: ConnId,
    buf: &mut Vec<u8>,
    total: &mut u64,
) -> Result<Readable, SocketError> {
    let before = buf.len();
    let result = host.recv(id, buf);
    *total += (buf.len() - before) as u64;
    result
}

/// What happened to a drive step of the smart proxy.
enum Step {
    /// Something moved; try again.
    Progress,
    /// Nothing more to do now.
    Idle,
}

/// The proxy application. See the module docs.
pub struct Proxy {
    config: ProxyConfig,
    listening: bool,
    /// Boxed, as the server's connections are: a client connection leaves its
    /// map while it is driven.
    smart: BTreeMap<ConnId, Box<SmartClient>>,
    dumb: BTreeMap<ConnId, Box<DumbClient>>,
    /// The smart proxy's upstream connections.
    pool: Pool,
    /// The client connection each upstream connection in use works for, by the
    /// upstream connection's id: news of it is news for that client.
    client_of: BTreeMap<ConnId, usize>,
    /// Which client connections to drive (see `wakeups`).
    wakeups: Wakeups,
    /// Client and upstream connections from this place in their order on have no
    /// record (see [`Proxy::keep_records_below`]).
    keep_records_below: usize,
    stats: ProxyStats,
}

impl Proxy {
    /// A proxy that starts listening on its first poll.
    pub fn new(config: ProxyConfig) -> Proxy {
        let stats = ProxyStats {
            mode: config.mode,
            client_connections: 0,
            upstream_connections: 0,
            requests_forwarded: 0,
            responses_relayed: 0,
            hop_by_hop_removed: 0,
            retries: 0,
            peak_buffered_bytes: 0,
            clients_omitted: 0,
            clients: Vec::new(),
            upstreams_omitted: 0,
            upstreams: Vec::new(),
        };
        Proxy {
            config,
            listening: false,
            smart: BTreeMap::new(),
            dumb: BTreeMap::new(),
            pool: Pool::default(),
            client_of: BTreeMap::new(),
            wakeups: Wakeups::default(),
            keep_records_below: usize::MAX,
            stats,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        self.stats.clone()
    }

    /// Keep the records of the first `n` client connections and of the first `n`
    /// upstream connections, and only count the others (every one is kept by
    /// default): a long run keeps a few records, or none, so that the proxy's
    /// memory follows its live connections, not all it ever had. Records already
    /// kept beyond `n` are let go and counted. The totals count every connection
    /// whatever `n` is.
    pub fn keep_records_below(&mut self, n: usize) {
        self.keep_records_below = n;
        let stats = &mut self.stats;
        if stats.clients.len() > n {
            stats.clients_omitted += (stats.clients.len() - n) as u64;
            stats.clients.truncate(n);
        }
        if stats.upstreams.len() > n {
            stats.upstreams_omitted += (stats.upstreams.len() - n) as u64;
            stats.upstreams.truncate(n);
        }
    }

    /// Counts a new client connection and keeps its record if its place allows;
    /// returns its place in accept order.
    fn count_client(&mut self, record: ClientRecord) -> usize {
        let s = &mut self.stats;
        count_record(
            &mut s.client_connections,
            &mut s.clients,
            &mut s.clients_omitted,
            self.keep_records_below,
            record,
        )
    }

    /// Counts a new upstream connection and keeps its record if its place allows;
    /// returns its place in opening order.
    fn count_upstream(&mut self, record: UpstreamRecord) -> usize {
        let s = &mut self.stats;
        count_record(
            &mut s.upstream_connections,
            &mut s.upstreams,
            &mut s.upstreams_omitted,
            self.keep_records_below,
            record,
        )
    }

    fn accept(&mut self, host: &mut Host) {
        while let Some(id) = host.accept(self.config.listen_port) {
            let record = self.count_client(ClientRecord {
                peer: host.stats(id).map(|s| s.remote).unwrap_or_default(),
                requests: 0,
                responses: 0,
                upstreams: Vec::new(),
                ignored_bytes: 0,
                bytes_to_client: 0,
                end: ClientEnd::Open,
            });
            self.wakeups.wake(id.0);
            match self.config.mode {
                ProxyMode::Smart => {
                    self.smart.insert(
                        id,
                        Box::new(SmartClient {
                            id,
                            record,
                            inbuf: ReadBuffer::default(),
                            outbox: Outbox::new(),
                            exchange: None,
                            peer_eof: false,
                            closing: false,
                            linger_until: None,
                            read: 0,
                        }),
                    );
                }
                ProxyMode::Dumb => {
                    self.dumb.insert(
                        id,
                        Box::new(DumbClient {
                            id,
                            record,
                            state: DumbState::Head,
                            inbuf: ReadBuffer::default(),
                            outbox: Outbox::new(),
                            peer_eof: false,
                            up: None,
                            up_record: 0,
                            up_inbuf: Vec::new(),
                            up_outbox: Outbox::new(),
                            up_eof: false,
                            read: 0,
                            up_read: 0,
                        }),
                    );
                }
            }
        }
    }

    fn note_buffered(&mut self, held: u64) {
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(held);
    }

    fn end_client(&mut self, record: usize, end: ClientEnd) {
        if let Some(r) = self.stats.clients.get_mut(record) {
            if r.end == ClientEnd::Open {
                r.end = end;
            }
        }
    }

    /// Opens a new upstream connection (counted) for client connection `client`,
    /// returning its key.
    fn open_upstream(&mut self, host: &mut Host, client: ConnId) -> Option<usize> {
        let id = host
            .connect(self.config.upstream, self.config.upstream_port)
            .ok()?;
        let record = self.count_upstream(UpstreamRecord {
            local_port: host.local_port(id),
            requests: 0,
        });
        self.pool.insert(Upstream {
            id,
            record,
            inbuf: ReadBuffer::default(),
            outbox: Outbox::new(),
            read: 0,
            carried: 0,
        });
        self.client_of.insert(id, client.0);
        Some(record)
    }

    /// An idle pooled connection, else a new one (chapter item 16: reuse avoids the
    /// handshake and slow start), leased to client connection `client`.
    fn lease_upstream(&mut self, host: &mut Host, client: ConnId) -> Option<usize> {
        // A server may have closed an idle connection since the last look.
        self.sweep_pool(host);
        let entries = &self.pool.entries;
        let idle = self
            .pool
            .idle
            .iter()
            .copied()
            .find(|key| matches!(host.state(entries[key].id), ConnState::Open));
        let Some(key) = idle else {
            return self.open_upstream(host, client);
        };
        if let Some(u) = self.pool.lease(key) {
            self.client_of.insert(u.id, client.0);
        }
        Some(key)
    }

    /// Puts an upstream connection that finished an exchange back in the pool.
    fn release_upstream(&mut self, key: usize) {
        if let Some(u) = self.pool.release(key) {
            u.carried += 1;
            self.client_of.remove(&u.id);
        }
    }

    /// Takes an upstream connection out of use: closes it and forgets it.
    fn retire_upstream(&mut self, host: &mut Host, key: usize) {
        if let Some(u) = self.pool.remove(key) {
            self.client_of.remove(&u.id);
            host.close(u.id);
        }
    }

    // ---- smart mode ---------------------------------------------------------------

    /// Advances one client connection; false once it is gone.
    fn drive_smart(&mut self, host: &mut Host, c: &mut SmartClient) -> bool {
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

    fn count_forward(&mut self, client: usize, up: usize) {
        self.stats.requests_forwarded += 1;
        if let Some(r) = self.stats.clients.get_mut(client) {
            r.requests += 1;
            r.upstreams.push(up);
        }
        if let Some(r) = self.stats.upstreams.get_mut(up) {
            r.requests += 1;
        }
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

    /// Idle pooled connections: notice a server that closed them (its keep-alive
    /// timeout, chapter item 17) and close our side too. Only those the host has
    /// news of can have changed (see [`Pool::worth_a_look`]).
    fn sweep_pool(&mut self, host: &mut Host) {
        let look = self.pool.worth_a_look(host);
        let mut dead = Vec::new();
        // Whether every read found nothing: a read that finds bytes lets the stack
        // send (a window update), which may be news of other connections too.
        let mut quiet = true;
        for &key in &look {
            let Some(u) = self.pool.entries.get_mut(&key) else {
                continue;
            };
            let gone = match host.state(u.id) {
                ConnState::Failed(_) | ConnState::Closed => true,
                ConnState::AwaitingPort | ConnState::Connecting => false,
                ConnState::Open => {
                    let before = u.inbuf.len();
                    let gone = match recv_counting(host, u.id, u.inbuf.appender(), &mut u.read) {
                        // Bytes nobody asked for also end it: no request is waiting.
                        Ok(Readable::Eof) | Err(_) => true,
                        Ok(_) => u.inbuf.len() != before,
                    };
                    quiet &= u.inbuf.len() == before;
                    gone
                }
            };
            if gone {
                dead.push(key);
            }
        }
        if quiet {
            self.pool.seen(host, &look);
        }
        for key in dead {
            self.retire_upstream(host, key);
        }
    }

    // ---- dumb mode ----------------------------------------------------------------

    /// Advances one dumb client connection; false once it is gone.
    fn drive_dumb(&mut self, host: &mut Host, c: &mut DumbClient) -> bool {
        // Client side: the first request, then bytes nobody looks at.
        if !c.peer_eof {
            let before = c.inbuf.len();
            match recv_counting(host, c.id, c.inbuf.appender(), &mut c.read) {
                Ok(Readable::Eof) => c.peer_eof = true,
                Ok(_) => {}
                Err(_) => {
                    if let Some(up) = c.up {
                        host.abort(up);
                    }
                    self.end_client(c.record, ClientEnd::Reset);
                    host.close(c.id);
                    return false;
                }
            }
            if c.state == DumbState::Relaying {
                let ignored = (c.inbuf.len() - before) as u64;
                if let Some(r) = self.stats.clients.get_mut(c.record) {
                    r.ignored_bytes += ignored;
                }
                c.inbuf.clear();
            }
        }
        if c.state == DumbState::Head {
            match parse_request(c.inbuf.as_slice()) {
                Ok(Parsed::Partial) if !c.peer_eof => return true,
                Ok(Parsed::Partial) => {
                    self.end_client(c.record, ClientEnd::ClientClosed);
                    host.close(c.id);
                    return false;
                }
                Err(_) => {
                    // Not even a head to forward: a blind relay just hangs up.
                    self.end_client(c.record, ClientEnd::BadRequest { status: 0 });
                    host.close(c.id);
                    return false;
                }
                Ok(Parsed::Complete { message, head_len }) => {
                    let body = match request_framing(&message) {
                        Ok(Framing::Length(n)) => n,
                        _ => 0,
                    };
                    let Ok(up) = host.connect(self.config.upstream, self.config.upstream_port)
                    else {
                        self.end_client(c.record, ClientEnd::UpstreamFailed);
                        host.close(c.id);
                        return false;
                    };
                    let record = self.count_upstream(UpstreamRecord {
                        local_port: host.local_port(up),
                        requests: 0,
                    });
                    self.count_forward(c.record, record);
                    c.up = Some(up);
                    c.up_record = record;
                    self.client_of.insert(up, c.id.0);
                    // The head exactly as received: every header unchanged.
                    c.up_outbox
                        .push_bytes(c.inbuf.as_slice()[..head_len].to_vec());
                    c.inbuf.consume(head_len);
                    c.state = DumbState::Body { remaining: body };
                }
            }
        }
        if let DumbState::Body { remaining } = c.state {
            let n = usize::try_from(remaining).map_or(c.inbuf.len(), |r| r.min(c.inbuf.len()));
            c.up_outbox.push_bytes(c.inbuf.as_slice()[..n].to_vec());
            c.inbuf.consume(n);
            let remaining = remaining - n as u64;
            if remaining == 0 {
                c.state = DumbState::Relaying;
                // Whatever followed the request is never looked at.
                let ignored = c.inbuf.len() as u64;
                if let Some(r) = self.stats.clients.get_mut(c.record) {
                    r.ignored_bytes += ignored;
                }
                c.inbuf.clear();
            } else {
                c.state = DumbState::Body { remaining };
            }
        }
        let Some(up) = c.up else {
            return true;
        };
        // Server side: forward the request, relay the answer blindly.
        let mut up_failed = c.up_outbox.flush(host, up).is_err();
        // A connect that waited for a free ephemeral port learns its port later.
        if let Some(r) = self.stats.upstreams.get_mut(c.up_record) {
            if r.local_port == 0 {
                r.local_port = host.local_port(up);
            }
        }
        if !up_failed && !c.up_eof && c.outbox.pending_bytes() < RELAY_HIGH_WATER {
            match host.state(up) {
                ConnState::AwaitingPort | ConnState::Connecting => {}
                ConnState::Failed(_) => up_failed = true,
                ConnState::Open | ConnState::Closed => {
                    match recv_counting(host, up, &mut c.up_inbuf, &mut c.up_read) {
                        Ok(Readable::Eof) => c.up_eof = true,
                        Ok(_) => {}
                        Err(_) => up_failed = true,
                    }
                }
            }
        }
        let held = (c.inbuf.len() + c.up_inbuf.len()) as u64
            + c.outbox.pending_bytes()
            + c.up_outbox.pending_bytes();
        self.note_buffered(held);
        if !c.up_inbuf.is_empty() {
            let bytes = std::mem::take(&mut c.up_inbuf);
            if let Some(r) = self.stats.clients.get_mut(c.record) {
                r.bytes_to_client += bytes.len() as u64;
            }
            c.outbox.push_bytes(bytes);
        }
        let flushed = match c.outbox.flush(host, c.id) {
            Ok(done) => done,
            Err(_) => {
                host.abort(up);
                self.end_client(c.record, ClientEnd::Reset);
                host.close(c.id);
                return false;
            }
        };
        if up_failed && flushed {
            self.end_client(c.record, ClientEnd::UpstreamFailed);
            host.close(up);
            host.close(c.id);
            return false;
        }
        if c.up_eof && flushed {
            // The server's close is the only end of a response this proxy knows.
            self.stats.responses_relayed += 1;
            if let Some(r) = self.stats.clients.get_mut(c.record) {
                r.responses += 1;
            }
            self.end_client(c.record, ClientEnd::UpstreamClosed);
            host.close(up);
            host.close(c.id);
            return false;
        }
        true
    }
}

/// The `received-protocol` of `Via` for a message of this version (RFC 9110 §7.6.3).
fn via_version(v: Version) -> &'static str {
    match v {
        Version::Http10 => "1.0",
        Version::Http11 => "1.1",
    }
}

/// The client connections of both modes (one of them is empty), the keys of the
/// proxy's wakeups.
type Clients<'a> = (
    &'a BTreeMap<ConnId, Box<SmartClient>>,
    &'a BTreeMap<ConnId, Box<DumbClient>>,
);

/// The client connection that news of host connection `id` is for: that connection
/// itself, or the one it works for as an upstream connection.
fn client_key(
    (smart, dumb): Clients,
    client_of: &BTreeMap<ConnId, usize>,
    id: ConnId,
) -> Option<usize> {
    let key = ConnId(client_of.get(&id).copied().unwrap_or(id.0));
    (smart.contains_key(&key) || dumb.contains_key(&key)).then_some(key.0)
}

fn all_keys<'a>((smart, dumb): Clients<'a>) -> impl Iterator<Item = usize> + 'a {
    smart.keys().chain(dumb.keys()).map(|id| id.0)
}

impl Proxy {
    /// Drives client connection `key` of `pass`: keeps it while it lasts, wakes it
    /// for the next poll if it moved, queues its deadline, and passes on what its
    /// calls did to other connections.
    fn drive_key(&mut self, host: &mut Host, key: usize, pass: &mut Pass) {
        let id = ConnId(key);
        if let Some(mut c) = self.smart.remove(&id) {
            let before = c.print(&self.pool);
            if self.drive_smart(host, &mut c) {
                if c.print(&self.pool) != before {
                    self.wakeups.wake(key);
                }
                self.wakeups.set_timer(key, c.linger_until);
                self.smart.insert(id, c);
            } else {
                self.wakeups.forget(key);
            }
        } else if let Some(mut c) = self.dumb.remove(&id) {
            let before = c.print();
            if self.drive_dumb(host, &mut c) {
                if c.print() != before {
                    self.wakeups.wake(key);
                }
                self.dumb.insert(id, c);
            } else if let Some(up) = c.up {
                self.client_of.remove(&up);
            }
        }
        let clients = (&self.smart, &self.dumb);
        let client_of = &self.client_of;
        self.wakeups.after_drive(
            host,
            key,
            pass,
            |id| client_key(clients, client_of, id),
            all_keys(clients),
        );
    }
}

/// Counts one more connection in `total`, keeping its `record` in `kept` if fewer
/// than `below` came before it and counting it in `omitted` otherwise; returns its
/// place (the count before it).
fn count_record<T>(
    total: &mut u64,
    kept: &mut Vec<T>,
    omitted: &mut u64,
    below: usize,
    record: T,
) -> usize {
    let place = usize::try_from(*total).unwrap_or(usize::MAX);
    *total += 1;
    if place < below {
        kept.push(record);
    } else {
        *omitted += 1;
    }
    place
}

impl Application for Proxy {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        if self.listening {
            let clients = (&self.smart, &self.dumb);
            let client_of = &self.client_of;
            self.wakeups.collect_news(
                host,
                |id| client_key(clients, client_of, id),
                all_keys(clients),
            );
            // Nothing to accept, no news for a client connection or the upstream
            // connection it works for, nothing woken, no deadline come: driving
            // would change nothing, and only the pool may have news of its own.
            if !host.has_pending_accept(self.config.listen_port) && self.wakeups.is_idle(now) {
                self.sweep_pool(host);
                return self.wakeups.next_timer();
            }
        } else {
            host.listen(self.config.listen_port);
            self.listening = true;
        }
        self.accept(host);
        // Only client connections something happened to, in id order: driving any
        // other would change nothing (see `wakeups`).
        let clients = (&self.smart, &self.dumb);
        let client_of = &self.client_of;
        let mut pass = self.wakeups.begin_pass(
            host,
            now,
            |id| client_key(clients, client_of, id),
            all_keys(clients),
        );
        while let Some(key) = pass.pop_first() {
            self.drive_key(host, key, &mut pass);
        }
        self.wakeups.end_pass(pass);
        self.sweep_pool(host);
        self.wakeups.next_timer()
    }

    /// Done when no client connection is open and no upstream connection is busy;
    /// like a server it is normally run with `is_server: true`.
    fn is_done(&self) -> bool {
        self.smart.is_empty() && self.dumb.is_empty() && self.pool.all_idle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&str, &str)]) -> Headers {
        fields.iter().copied().collect()
    }

    #[test]
    fn strips_connection_named_and_fixed_hop_by_hop_fields() {
        let mut h = headers(&[
            ("Host", "x"),
            ("Connection", "X-Secret, keep-alive"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "X-T"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic x"),
            ("Proxy-Authenticate", "Basic"),
            ("Transfer-Encoding", "chunked"),
            ("connection", "close"),
            ("X-End-To-End", "kept"),
        ]);
        assert_eq!(strip_hop_by_hop(&mut h), 11);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Host", "x"), ("X-End-To-End", "kept")]
        );
        assert_eq!(strip_hop_by_hop(&mut h), 0);
    }

    #[test]
    fn client_persistence_rules() {
        let mut r = Request::new(Method::Get, "/");
        assert!(client_wants_persistence(&r), "HTTP/1.1 persists by default");
        r.headers.append("Connection", "close");
        assert!(!client_wants_persistence(&r));
        r.version = Version::Http10;
        r.headers = Headers::new();
        assert!(!client_wants_persistence(&r), "HTTP/1.0 closes by default");
        r.headers.append("Connection", "Keep-Alive");
        assert!(client_wants_persistence(&r));
        r.headers = headers(&[("Proxy-Connection", "Keep-Alive")]);
        assert!(client_wants_persistence(&r));
        r.headers = headers(&[("Proxy-Connection", "Keep-Alive"), ("Connection", "close")]);
        assert!(!client_wants_persistence(&r));
    }

    #[test]
    fn upstream_persistence_rules() {
        let mut r = Response::new(200, "OK");
        assert!(upstream_persists(&r));
        r.headers.append("Connection", "close");
        assert!(!upstream_persists(&r));
        r.version = Version::Http10;
        r.headers = Headers::new();
        assert!(!upstream_persists(&r));
        r.headers.append("Connection", "keep-alive");
        assert!(upstream_persists(&r));
    }

    #[test]
    fn absolute_form_targets() {
        assert_eq!(
            split_absolute_form("http://example.com:81/a?b"),
            Some(("example.com:81", "/a?b".to_string()))
        );
        assert_eq!(
            split_absolute_form("HTTP://h"),
            Some(("h", "/".to_string()))
        );
        assert_eq!(
            split_absolute_form("http://h?q"),
            Some(("h", "/?q".to_string()))
        );
        assert_eq!(split_absolute_form("/bytes/1"), None);
        assert_eq!(split_absolute_form("https://h/"), None);
        assert_eq!(split_absolute_form("http:/\u{e9}"), None);
        assert_eq!(split_absolute_form(""), None);
    }

    /// A read buffer holding `bytes`, not consumed.
    fn read_buffer(bytes: &[u8]) -> ReadBuffer {
        let mut buffer = ReadBuffer::default();
        buffer.appender().extend_from_slice(bytes);
        buffer
    }

    #[test]
    fn relay_rechunks_and_stops_at_the_end() {
        let mut relay = BodyRelay::new(Framing::Length(5), true);
        let mut input = read_buffer(b"abcdeNEXT");
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut input, &mut out), Ok(true));
        assert_eq!(out, b"5\r\nabcde\r\n0\r\n\r\n");
        assert_eq!(input.as_slice(), b"NEXT");

        let mut relay = BodyRelay::new(Framing::Chunked, false);
        let mut input = read_buffer(b"3\r\nabc\r\n0\r\n\r\nNEXT");
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut input, &mut out), Ok(true));
        assert_eq!(out, b"abc");
        assert_eq!(input.as_slice(), b"NEXT");

        let mut relay = BodyRelay::new(Framing::UntilClose, true);
        let mut input = read_buffer(b"xy");
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut input, &mut out), Ok(false));
        assert_eq!(relay.finish_at_eof(&mut out), Ok(()));
        assert_eq!(out, b"2\r\nxy\r\n0\r\n\r\n");

        let mut relay = BodyRelay::new(Framing::Length(5), false);
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut read_buffer(b"ab"), &mut out), Ok(false));
        assert_eq!(relay.finish_at_eof(&mut out), Err(()));
    }

    #[test]
    fn error_responses_close() {
        let out = error_response(502);
        let Ok(Parsed::Complete { message, head_len }) = parse_response(&out) else {
            panic!("unparsable: {out:?}");
        };
        assert_eq!(message.status, 502);
        assert!(message.headers.has_connection_token("close"));
        assert_eq!(&out[head_len..], b"502 Bad Gateway\n");
    }
}
