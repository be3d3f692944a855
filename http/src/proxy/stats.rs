//! What the proxy reports ([`ProxyStats`]): its counters, a record of each client
//! connection and of each upstream connection, and how they are kept, the first
//! connections' records only when [`Proxy::keep_records_below`] asks.

use serde::Serialize;

use super::application::Proxy;
use super::config::ProxyMode;

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
    /// The proxy's local port; `None` until the connection has one (it may wait
    /// for a free ephemeral port, and never get one).
    pub local_port: Option<u16>,
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
    /// bodies stream through, so this stays below
    /// [`RELAY_HIGH_WATER`](super::RELAY_HIGH_WATER) plus what one read returns (a
    /// receive buffer), whatever the body size.
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

impl Proxy {
    /// Counts a new client connection and keeps its record if its place allows;
    /// returns its place in accept order.
    pub(super) fn count_client(&mut self, record: ClientRecord) -> usize {
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
    pub(super) fn count_upstream(&mut self, record: UpstreamRecord) -> usize {
        let s = &mut self.stats;
        count_record(
            &mut s.upstream_connections,
            &mut s.upstreams,
            &mut s.upstreams_omitted,
            self.keep_records_below,
            record,
        )
    }

    pub(super) fn count_forward(&mut self, client: usize, up: usize) {
        self.stats.requests_forwarded += 1;
        if let Some(r) = self.stats.clients.get_mut(client) {
            r.requests += 1;
            r.upstreams.push(up);
        }
        if let Some(r) = self.stats.upstreams.get_mut(up) {
            r.requests += 1;
        }
    }

    pub(super) fn note_buffered(&mut self, held: u64) {
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(held);
    }

    pub(super) fn end_client(&mut self, record: usize, end: ClientEnd) {
        if let Some(r) = self.stats.clients.get_mut(record) {
            if r.end == ClientEnd::Open {
                r.end = end;
            }
        }
    }
}
