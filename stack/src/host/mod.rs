//! A host: one smoltcp interface plus the layer that makes it behave like a kernel
//! socket API for the experiments.
//!
//! smoltcp leaves several things to applications that the chapter depends on; the host
//! owns them:
//! * ephemeral ports and 4-tuple uniqueness, with our own TIME_WAIT table;
//! * a listening socket per port, refilled as it takes SYNs, and a SYN queue and an
//!   accept queue bounded by the backlog as Linux bounds them, with SYN cookies;
//! * the congestion window (slow start) above smoltcp, whose own controller is off;
//! * kernel-like close: close() with unread input sends RST, data arriving after a full
//!   close is answered with RST, a received RST discards unread input;
//! * per-connection statistics counted off the wire.
//!
//! ## Map
//! * this file: the [`Host`] and the types its API speaks in, its clock and polls, its
//!   figures, and the smoltcp sockets it makes;
//! * `socket_api`: what an application calls: connect, send, recv, shutdown, close,
//!   abort, a connection's state and the news of which connections changed;
//! * `frames`: the way a frame goes in (`ingress`, `feed`) and out (`egress`,
//!   `collect_tx`);
//! * `device`: the smoltcp device adapter (one frame at a time, buffers reused);
//! * `sockets`: the smoltcp sockets, each in a set of its own, so smoltcp's work per
//!   frame does not grow with the connections open; their deadlines in a queue;
//! * `conn`: one connection's state; `lifecycle`: ports, active opens, retiring
//!   sockets into TIME_WAIT; `listener`: passive opens and the accept queue;
//! * `observe`: the wire observer (sequence numbers, ACK accounting, statistics);
//! * `send`: the send path (congestion window, silly-window avoidance, Minshall);
//! * `screen`: RFC 5961 against blind resets; `handshake`: SYN retries and ARP;
//!   `syn_queue`: the SYN queue's bound and the SYN cookies beyond it;
//!   `sequence`: Linux-like initial sequence numbers.
//!
//! Frames go in with [`Host::receive_frame`] and come out of [`Host::take_frames`]; the
//! host never reads a clock: [`Host::poll`] takes `now` and [`Host::poll_at`] says when
//! to come back. Incoming frames are fed to smoltcp one at a time, so the drop in a
//! socket's send queue after each one is exactly what that ACK acknowledged.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::congestion::CongestionWindow;
use crate::error::{ConnectError, SocketError};
use crate::id_hash::TupleHashMap;
use crate::knobs::{Knobs, Nagle, OnExhaustion};
use crate::ports::EphemeralPorts;
use crate::retransmit::{LossRecovery, RttEstimator};
use crate::segment::{
    build_ack, build_reack, clamp_window, rewrite_flags, seq_gt, seq_lt, shift_sequence, Segment,
    FLAG_FIN, FLAG_SYN,
};
use crate::send_queue::{QueueSource, SendQueue};
use crate::stale_heap::StaleHeap;
use crate::stats::{Closer, ConnStats, Role};
use crate::time_wait::{
    Arrival, FourTuple, HeldTuple, TimeWaitTable, Verdict, OUT_OF_WINDOW_ACK_INTERVAL,
};
use crate::trace::{EventKind, FrameRef, SendReason, StatelessReason};

mod conn;
mod conn_table;
mod device;
mod frames;
mod handshake;
mod lifecycle;
mod listener;
pub(crate) mod memory;
mod news;
mod observe;
mod screen;
mod send;
mod sequence;
mod socket_api;
mod sockets;
mod syn_queue;
mod tracing;

use conn::Accept;
use conn_table::ConnTable;
use device::FrameSlot;
use handshake::{handshake_limit, HandshakeCheck, ARP_TIMEOUT};
use listener::Listener;
pub use listener::LISTEN_POOL;
pub use news::{News, NewsReader};
use screen::Screen;
use sockets::{SockId, Sockets};
pub use syn_queue::ListenCounters;
use tracing::{TraceLog, TraceState};

/// smoltcp assumes this MSS until the peer's SYN says otherwise (RFC 9293 §3.7.1).
const DEFAULT_MSS: usize = 536;
/// IPv4 + TCP headers without options.
const TCP_IP_HEADERS: usize = 40;
/// Names one connection on a host for its whole life, including after its smoltcp
/// socket is gone (TIME_WAIT, statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ConnId(pub usize);

/// How a host is attached and addressed.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Shown in traces and errors.
    pub name: String,
    /// The host's address and subnet.
    pub addr: Ipv4Cidr,
    /// Raw IP on the simulated link (no ARP round trip); Ethernet on TAP.
    pub medium: Medium,
    /// MAC address when the medium is Ethernet.
    pub mac: EthernetAddress,
    /// Default gateway, if any.
    pub gateway: Option<Ipv4Address>,
    /// IP MTU (the frame size on Ethernet is 14 bytes larger).
    pub mtu: usize,
    /// Seeds smoltcp's initial sequence numbers, so runs are reproducible.
    pub seed: u64,
    /// TCP knobs for every socket of this host.
    pub knobs: Knobs,
    /// Whether IPv4 and TCP checksums are computed: filled in on every frame sent and
    /// verified on every frame received. Over a TAP they are, since a frame may be
    /// damaged anywhere on its path. The simulated link delivers every frame exactly
    /// as it was sent (it drops and delays, never damages), so a check could only
    /// pass and a checksum is read by no one: neither is done, as Linux leaves both
    /// to the device for loopback and veth frames (`CHECKSUM_PARTIAL` on sending,
    /// `CHECKSUM_UNNECESSARY` on receipt). The simulator's capture fills them in on
    /// the copies it writes ([`crate::segment::fill_checksums`]), so captures show
    /// right checksums.
    pub checksums: bool,
}

/// What a read returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readable {
    /// This many bytes were appended to the caller's buffer.
    Data(usize),
    /// Nothing to read yet.
    Nothing,
    /// The peer closed its sending side and every byte has been read.
    Eof,
}

/// Where a connection is in its life, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for an ephemeral port to leave TIME_WAIT (`--on-exhaustion wait`).
    AwaitingPort,
    /// SYN sent or received, handshake not complete.
    Connecting,
    /// Data may flow (possibly one direction already closed).
    Open,
    /// Finished normally.
    Closed,
    /// Ended by an error.
    Failed(SocketError),
}

/// A TCP host: smoltcp plus the experiment layer. See the module docs.
pub struct Host {
    config: HostConfig,
    iface: Interface,
    sockets: Sockets,
    device: FrameSlot,
    rx_queue: VecDeque<(Vec<u8>, Option<FrameRef>)>,
    out: Vec<Vec<u8>>,
    conns: ConnTable,
    /// Final figures of connections that left the table, for those kept
    /// ([`Host::keep_stats_below`]).
    closed_stats: BTreeMap<ConnId, ConnStats>,
    /// Connections with a lower id keep their figures once closed.
    keep_stats_below: usize,
    /// The connection of each live tuple (that of each socket is in its slot,
    /// `Sockets::owner`). Hashed: every frame in or out looks one up, and nothing
    /// walks it. Tuples come from the wire, so their hash is keyed (a peer cannot
    /// aim its ports at one bucket).
    live: TupleHashMap<FourTuple, ConnId>,
    listeners: BTreeMap<u16, Listener>,
    /// Sockets of connections that an RST sent back to LISTEN during the handshake
    /// (smoltcp does that), by port, until they are retired: they take SYNs too.
    strays: BTreeSet<(u16, SockId)>,
    /// Kept for its allocation (`retire_sockets`).
    retire_scratch: Vec<SockId>,
    time_wait: TimeWaitTable,
    /// The connection each held tuple belonged to.
    held_by: TupleHashMap<FourTuple, ConnId>,
    ports: EphemeralPorts,
    /// The latest port allocation that found none free, while that still holds.
    ports_full: Option<lifecycle::PortsFull>,
    awaiting_port: VecDeque<(ConnId, u16)>,
    /// What the listeners did beyond their queues ([`Host::listen_counters`]).
    listen: ListenCounters,
    /// Makes and checks this host's SYN cookies.
    cookies: crate::syn_cookie::SynCookies,
    /// When handshakes must have got somewhere, earliest first (entries of
    /// connections that have moved on are stale: skipped when they come due, and
    /// dropped when they pile up, see [`Host::watch_handshake`]). A heap: with
    /// thousands of connections opening at once, a B-tree's walk to its first entry
    /// at every poll, and its node allocations, cost several percent.
    handshakes: StaleHeap<(Instant, ConnId, HandshakeCheck)>,
    /// Connections whose congestion window collapsed on a retransmission timeout:
    /// smoltcp must hear the smaller window before it resends its whole flight.
    window_updates: Vec<ConnId>,
    epoch: Instant,
    now: Instant,
    trace: TraceLog,
}

#[cfg(test)]
impl Host {
    /// For unit tests: host `last` of 192.0.2.0/24 on raw IP (as in the simulator),
    /// default knobs, checksums on, its clock at zero.
    pub(crate) fn for_tests(last: u8) -> Host {
        let config = HostConfig {
            name: format!("h{last}"),
            addr: Ipv4Cidr::new(Ipv4Address::new(192, 0, 2, last), 24),
            medium: Medium::Ip,
            mac: EthernetAddress([2, 0, 0, 0, 0, last]),
            gateway: None,
            mtu: 1500,
            seed: u64::from(last),
            knobs: Knobs::default(),
            checksums: true,
        };
        Host::new(config, Instant::ZERO)
    }

    /// Handshake deadlines queued, stale ones included.
    pub(crate) fn handshake_deadlines(&self) -> usize {
        self.handshakes.len()
    }
}

impl Host {
    /// A host with no sockets, its clock at `now`.
    pub fn new(config: HostConfig, now: Instant) -> Host {
        let mut caps = DeviceCapabilities::default();
        caps.medium = config.medium;
        if !config.checksums {
            caps.checksum = ChecksumCapabilities::ignored();
        }
        caps.max_transmission_unit = match config.medium {
            Medium::Ethernet => config.mtu + crate::segment::ETHERNET_HEADER,
            _ => config.mtu,
        };
        let mut device = FrameSlot {
            rx: Vec::new(),
            rx_ready: false,
            tx: Vec::new(),
            spare: Vec::new(),
            caps,
        };
        let hw = match config.medium {
            Medium::Ethernet => HardwareAddress::Ethernet(config.mac),
            _ => HardwareAddress::Ip,
        };
        let mut iface_config = Config::new(hw);
        iface_config.random_seed = config.seed;
        let mut iface = Interface::new(iface_config, &mut device, now);
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for at least one address.
            let _ = addrs.push(IpCidr::Ipv4(config.addr));
        });
        if let Some(gw) = config.gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let time_wait = TimeWaitTable::new(config.knobs.time_wait);
        // RFC 6056: the first port depends on the seed, so runs with different seeds
        // (TAP runs default to a clock-based seed) do not retrace each other's tuples,
        // while a simulated run stays reproducible.
        let ports = EphemeralPorts::new(config.knobs.ports.lo, config.knobs.ports.hi)
            .with_offset(crate::rng::derive_seed(config.seed, 6056));
        let cookies = crate::syn_cookie::SynCookies::new(config.seed);
        Host {
            config,
            iface,
            sockets: Sockets::default(),
            device,
            rx_queue: VecDeque::new(),
            out: Vec::new(),
            conns: ConnTable::default(),
            closed_stats: BTreeMap::new(),
            keep_stats_below: usize::MAX,
            live: TupleHashMap::default(),
            listeners: BTreeMap::new(),
            strays: BTreeSet::new(),
            retire_scratch: Vec::new(),
            time_wait,
            held_by: TupleHashMap::default(),
            ports,
            ports_full: None,
            awaiting_port: VecDeque::new(),
            handshakes: StaleHeap::default(),
            listen: ListenCounters::default(),
            cookies,
            window_updates: Vec::new(),
            epoch: now,
            now,
            trace: TraceLog::default(),
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The host's address.
    pub fn addr(&self) -> Ipv4Address {
        self.config.addr.address()
    }

    /// The knobs every socket of this host uses.
    pub fn knobs(&self) -> &Knobs {
        &self.config.knobs
    }

    /// The host's clock: the `now` of the latest [`Host::poll`].
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Queue a frame that arrived from the wire; it is processed by the next poll.
    pub fn receive_frame(&mut self, frame: Vec<u8>) {
        self.rx_queue.push_back((frame, None));
    }

    /// [`Host::receive_frame`] of a frame its sender numbered, so the trace can say
    /// which transmission arrived.
    pub fn receive_frame_from(&mut self, frame: Vec<u8>, from: FrameRef) {
        self.rx_queue.push_back((frame, Some(from)));
    }

    /// Whether received frames are waiting for a poll.
    pub fn has_pending_input(&self) -> bool {
        !self.rx_queue.is_empty()
    }

    /// Frames sent since the last call, in order.
    pub fn take_frames(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out)
    }

    /// Give back the list [`Host::take_frames`] returned, emptied, so the next
    /// round's frames go into it instead of a new allocation (with thousands of
    /// connections at once, a list per host per round was a sixth of all
    /// allocations).
    pub fn give_back_frame_list(&mut self, mut list: Vec<Vec<u8>>) {
        if self.out.is_empty() && list.capacity() > self.out.capacity() {
            list.clear();
            self.out = list;
        }
    }

    /// An empty buffer for a frame to hand to [`Host::receive_frame`], reused if one
    /// is spare (see [`Host::recycle_frame`]).
    pub fn frame_buffer(&mut self) -> Vec<u8> {
        self.device.spare.pop().unwrap_or_default()
    }

    /// Give back a frame taken with [`Host::take_frames`] once it has been sent, so
    /// its buffer carries a later frame instead of a new allocation.
    pub fn recycle_frame(&mut self, frame: Vec<u8>) {
        self.device.recycle(frame);
    }

    /// Process every received frame, run timers and transmit what may be sent.
    pub fn poll(&mut self, now: Instant) {
        self.now = now;
        if !self.has_work(now) {
            // Nothing below would do anything: the settling loop polls every host
            // in every round, and most hosts are idle in most rounds.
            return;
        }
        self.expire_time_wait();
        self.expire_handshakes();
        while let Some((frame, from)) = self.rx_queue.pop_front() {
            self.trace.from = from;
            self.ingress(frame);
        }
        self.trace.from = None;
        self.egress();
        self.conns.news.bound(self.conns.len());
    }

    /// Whether polling this host, or an application on it that drives only what the
    /// host's news names ([`crate::sim::Application::settles_on_news`]), at `now`
    /// could change anything: the host has work of its own, news a reader has not
    /// read, or an established connection waiting to be accepted.
    pub fn needs_poll(&self, now: Instant) -> bool {
        self.has_work(now)
            || self.conns.news.has_unread()
            || self.listeners.values().any(|l| !l.accept_queue.is_empty())
    }

    /// Whether a poll at `now` has anything to do: a frame to take in, a socket to
    /// visit, a timer of its own that has come, a port to wait for, a window update
    /// or a trace state to record. False means [`Host::poll`] would change nothing.
    fn has_work(&self, now: Instant) -> bool {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        !self.rx_queue.is_empty()
            || self.sockets.has_work(now)
            || !self.awaiting_port.is_empty()
            || due(self.time_wait.next_expiry())
            || due(self.handshakes.peek().map(|&(at, _, _)| at))
            || !self.window_updates.is_empty()
            || !self.trace.dirty.is_empty()
            || !self.device.tx.is_empty()
    }

    /// When the host next needs a poll even if no frame arrives.
    pub fn poll_at(&mut self) -> Option<Instant> {
        let mut at = self.sockets.poll_at(&mut self.iface, self.now);
        // A tuple leaving TIME-WAIT matters at its instant to a connection waiting
        // for its port, and to the trace, which records when it left.
        if !self.awaiting_port.is_empty() || self.tracing() {
            if let Some(t) = self.time_wait.next_expiry() {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        if let Some(&(t, _, _)) = self.handshakes.peek() {
            at = Some(at.map_or(t, |a| a.min(t)));
        }
        at
    }

    /// Figures for one connection (a closed one's while they are kept).
    pub fn stats(&self, id: ConnId) -> Option<ConnStats> {
        match self.conns.get(id) {
            Some(c) => Some(self.snapshot(c)),
            None => self.closed_stats.get(&id).cloned(),
        }
    }

    /// Figures for every connection this host has had whose id is below
    /// [`Host::keep_stats_below`] (all by default), in opening order.
    pub fn all_stats(&self) -> Vec<ConnStats> {
        let mut all: Vec<(ConnId, ConnStats)> = self
            .conns
            .iter()
            .filter(|(id, _)| id.0 < self.keep_stats_below)
            .map(|(id, c)| (id, self.snapshot(c)))
            .collect();
        all.extend(self.closed_stats.iter().map(|(id, s)| (*id, s.clone())));
        all.sort_by_key(|(id, _)| *id);
        all.into_iter().map(|(_, s)| s).collect()
    }

    /// Keep the figures of the first `n` connections for [`Host::all_stats`] and
    /// let the others' go as they close (every one's by default, for a run's
    /// report): a long run or a long-running server keeps a few rows, or none, so
    /// that its memory follows its live connections, not all it ever had.
    pub fn keep_stats_below(&mut self, n: usize) {
        self.keep_stats_below = n;
        self.closed_stats.retain(|id, _| id.0 < n);
    }

    /// Whether the final figures of closed connections are kept at all.
    pub fn set_keep_closed_stats(&mut self, keep: bool) {
        self.keep_stats_below(if keep { usize::MAX } else { 0 });
    }

    /// Connections this host has had.
    pub fn connection_count(&self) -> usize {
        self.conns.opened()
    }

    /// Connections the host keeps state for now: open, closing, in TIME_WAIT, or
    /// not yet closed by the application.
    pub fn live_connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Tuples currently held in TIME_WAIT.
    pub fn time_wait_len(&self) -> usize {
        self.time_wait.len()
    }

    /// smoltcp sockets the host keeps.
    pub fn socket_count(&self) -> usize {
        self.sockets.len()
    }

    // ---- internals ----------------------------------------------------------------

    fn mss(&self) -> usize {
        self.config.mtu.saturating_sub(TCP_IP_HEADERS).max(1)
    }

    /// A socket with our settings. Its buffers have the knobs' sizes but allocate
    /// only as data arrives (see [`memory`]).
    fn new_socket(&self) -> tcp::Socket<'static> {
        let knobs = &self.config.knobs;
        let rx = memory::socket_buffer(knobs.rx_buffer);
        let tx = memory::socket_buffer(self.segment_aligned(knobs.tx_buffer));
        let mut socket = tcp::Socket::new(rx, tx);
        // Our layer is the congestion controller: smoltcp's own must be switched off
        // explicitly, or it limits the window too.
        socket.set_congestion_control(tcp::CongestionControl::None);
        // Minshall's variant is ours (in `top_up`): smoltcp must not hold anything.
        socket.set_nagle_enabled(knobs.nagle == Nagle::On);
        socket.set_ack_delay(knobs.delayed_ack);
        socket.set_rto_floor(knobs.retransmit.smoltcp_floor());
        let recovery = knobs.retransmit.recovery;
        socket.set_newreno(recovery != LossRecovery::Reno);
        socket.set_sack_recovery(recovery == LossRecovery::Sack);
        socket
    }

    /// Keep `socket` until it leaves.
    fn add_socket(&mut self, socket: tcp::Socket<'static>) -> SockId {
        self.sockets.add(socket)
    }

    /// Drop a socket.
    fn remove_socket(&mut self, handle: SockId) {
        self.sockets.remove(handle);
        self.strays.retain(|&(_, s)| s != handle);
    }
}

/// Whether both sides' initial sequence numbers are known and acknowledged
/// (RFC 9293 §3.3.2: ESTABLISHED and every state after it).
fn is_synchronized(state: tcp::State) -> bool {
    !matches!(
        state,
        tcp::State::Closed | tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
    )
}
