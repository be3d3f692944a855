//! How the server is told to behave: [`ServerConfig`], one field per `--server-*`
//! flag, and [`CloseMode`], how it ends a connection it has decided to close.

use serde::Serialize;
use tcpknobs_stack::Duration;
#[cfg(doc)]
use tcpknobs_stack::Host;

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
