//! The HTTP proxy, as a sans-IO application over a [`Host`](tcpknobs_stack::Host):
//! clients connect to it as if it were the origin, and it forwards to one fixed
//! upstream server.
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
//! deadline by [`Application::poll`](tcpknobs_stack::Application::poll); nothing
//! reads a clock.
//!
//! A poll drives only the client connections something happened to (see `wakeups`):
//! news about an upstream connection is news for the client connection it works
//! for, and an idle pooled connection is looked at only when the host has news of
//! it, so a poll costs what is happening, not what is open. A poll with nothing to
//! accept, nothing woken and no deadline come drives nothing at all.
//!
//! Its memory follows its live connections too: [`Proxy::keep_records_below`] keeps
//! the records of the first connections only, and the totals count every one.

// Read in this order: `config` and `stats` (what it is told and what it reports),
// `heads` (the rules for the heads it forwards), `relay` (a body on its way through),
// `pool` (the smart proxy's upstream connections), `smart` and `dumb` (one client
// connection in each mode), `prints` (what a drive can change), and `application`
// (the `Proxy` itself: accepting, which connections to drive at a poll).
mod application;
mod config;
mod dumb;
mod heads;
mod pool;
mod prints;
mod relay;
mod smart;
mod stats;

pub use application::Proxy;
pub use config::{ProxyConfig, ProxyMode, DEFAULT_PORT, LINGER, RELAY_HIGH_WATER};
pub use heads::{strip_hop_by_hop, HOP_BY_HOP, VIA_PSEUDONYM};
pub use stats::{ClientEnd, ClientRecord, ProxyStats, UpstreamRecord};
