//! Errors of the socket API, one small enum per operation.

use serde::Serialize;
use thiserror::Error;

/// Why an active open failed.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectError {
    /// Every ephemeral port toward this server is live or held in TIME_WAIT
    /// (chapter item 10: at most ports / 2MSL connections per second).
    #[error(
        "ports exhausted: all {ports} ephemeral ports toward {remote} are in use or in TIME_WAIT"
    )]
    PortsExhausted {
        /// Size of the port range.
        ports: u32,
        /// The server, as `addr:port`.
        remote: String,
    },
    /// smoltcp refused the connect (bad address, no route).
    #[error("connect refused by the stack: {0}")]
    Stack(String),
}

/// Why a connection ended abnormally; reads and writes report it from then on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketError {
    /// The peer answered with RST. Unread input is discarded, as a kernel does
    /// (chapter item 24: "connection reset by peer" loses received data).
    #[error("connection reset by peer")]
    ConnectionReset,
    /// The peer answered our SYN with RST: nothing listens there, or the backlog is full.
    #[error("connection refused")]
    ConnectionRefused,
    /// The application aborted, or closed with unread input (we sent RST).
    #[error("connection aborted locally")]
    Aborted,
    /// The connection is fully closed; nothing more can be read or written.
    #[error("connection closed")]
    Closed,
    /// No such connection id.
    #[error("no such connection")]
    NotFound,
    /// The handshake got no answer: every SYN (or SYN-ACK) of `Knobs::syn_retries`
    /// (`synack_retries`) retransmissions went unanswered (Linux `ETIMEDOUT`).
    #[error("connect timed out after {syns} SYNs")]
    ConnectTimedOut {
        /// SYNs sent, the first included.
        syns: u32,
    },
    /// The next hop never answered ARP, so not even a SYN could be sent (Linux
    /// reports `EHOSTUNREACH` once its three ARP probes, a second apart, fail).
    #[error("no ARP reply from {0}")]
    NoArpReply(smoltcp::wire::Ipv4Address),
}
