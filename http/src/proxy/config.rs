//! What the proxy is told: where it listens, the server it forwards to and in which
//! mode, and the limits every proxy shares (how much a relay may hold, how long a
//! lingering close lasts).

use serde::Serialize;
use tcpknobs_stack::{Duration, Ipv4Address};

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
