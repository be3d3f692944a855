//! What the server reports about its connections: why each ended ([`CloseReason`]),
//! its figures ([`ServerConnStats`]), and what the server holds for it beyond its
//! socket ([`Buffered`]).

use serde::Serialize;
#[cfg(doc)]
use tcpknobs_stack::Host;
use tcpknobs_stack::{ConnId, Instant};

#[cfg(doc)]
use super::{Server, ServerConfig};

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

pub(super) fn ms(t: Instant) -> f64 {
    t.total_micros() as f64 / 1000.0
}
