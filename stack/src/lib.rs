//! # tcpknobs-stack
//!
//! Userspace TCP hosts for experiments: smoltcp for the protocol machinery, and our own
//! layer above it for the four mechanisms the lab exposes as knobs (chapter 4 of *HTTP:
//! The Definitive Guide*): slow start ([`congestion`]), Nagle and the delayed-ACK timer
//! (passed to smoltcp), and 2MSL / TIME_WAIT with ephemeral ports ([`time_wait`],
//! [`ports`]).
//!
//! ## Map
//! * [`host`]: a [`Host`] is a smoltcp interface plus that layer, behind a small
//!   kernel-like socket API (connect, listen/accept, send, recv, shutdown, close, abort).
//! * [`sim`]: hosts on emulated [`link`]s driven by a virtual clock.
//! * [`knobs`]: the per-side settings and the `linux`/`book` profiles.
//! * [`segment`]: the wire view of frames our layer reads; [`stats`]: what it counts;
//!   [`syn_cookie`]: the stateless answer of a listener whose SYN queue is full.
//! * [`pcap`]: capture files; [`capture`]: writing the frames that pass a point of
//!   either runner to one; [`rng`]: the seeded generator behind loss.
//! * [`tap`]: a Linux TAP device; [`realtime`]: one host on it, driven by the wall
//!   clock, so the same hosts and applications meet real peers.
//!
//! ## Contract
//! Nothing here reads a clock except [`realtime`]: every entry point takes `now` (a
//! [`smoltcp::time::Instant`]) and reports its next deadline. With the same inputs and
//! seed a simulated run is fully deterministic.
#![warn(missing_docs)]

pub mod capture;
pub mod comment;
pub mod congestion;
pub mod error;
pub mod heap;
pub mod host;
pub mod id_hash;
pub mod kernel_tcp;
pub mod knobs;
pub mod link;
pub mod pcap;
pub mod ports;
pub mod realtime;
pub mod retransmit;
pub mod rng;
pub mod segment;
mod send_queue;
mod settle;
pub mod sim;
pub mod stale_heap;
pub mod stats;
pub mod syn_cookie;
pub mod tap;
pub mod time_wait;
pub mod trace;

pub use error::{ConnectError, SocketError};
pub use host::{ConnId, ConnState, Host, HostConfig, News, NewsReader, Readable};
pub use kernel_tcp::KernelTcp;
pub use knobs::{Knobs, Nagle, OnExhaustion, PortSpan, Profile};
pub use link::LinkProfile;
pub use realtime::{Clock, RealtimeEnd, RealtimeOptions, RealtimeRun, Stop};
pub use sim::{AppSlot, Application, FaultRule, HostId, RunEnd, SimNet};
pub use smoltcp::time::{Duration, Instant};
pub use smoltcp::wire::{Ipv4Address, Ipv4Cidr};
pub use stats::{Closer, ConnStats, Role};
pub use tap::{KernelCounters, TapDevice, TapError};
