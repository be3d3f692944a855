//! A host: one smoltcp interface plus the layer that makes it behave like a kernel
//! socket API for the experiments.
//!
//! smoltcp leaves several things to applications that the chapter depends on; the host
//! owns them:
//! * ephemeral ports and 4-tuple uniqueness, with our own TIME_WAIT table;
//! * a listening socket per port, refilled as it takes SYNs, and an accept queue
//!   bounded by the backlog as Linux bounds it;
//! * the congestion window (slow start) above smoltcp, whose own controller is off;
//! * kernel-like close: close() with unread input sends RST, data arriving after a full
//!   close is answered with RST, a received RST discards unread input;
//! * per-connection statistics counted off the wire.
//!
//! ## Map
//! * this file: the [`Host`] itself, its socket API and the way a frame goes in
//!   (`ingress`) and out (`egress`, `collect_tx`);
//! * `device`: the smoltcp device adapter (one frame at a time, buffers reused);
//! * `sockets`: the smoltcp sockets, each in a set of its own, so smoltcp's work per
//!   frame does not grow with the connections open; their deadlines in a queue;
//! * `conn`: one connection's state; `lifecycle`: ports, active opens, retiring
//!   sockets into TIME_WAIT; `listener`: passive opens and the accept queue;
//! * `observe`: the wire observer (sequence numbers, ACK accounting, statistics);
//! * `send`: the send path (congestion window, silly-window avoidance, Minshall);
//! * `screen`: RFC 5961 against blind resets; `handshake`: SYN retries and ARP;
//!   `sequence`: Linux-like initial sequence numbers.
//!
//! Frames go in with [`Host::receive_frame`] and come out of [`Host::take_frames`]; the
//! host never reads a clock: [`Host::poll`] takes `now` and [`Host::poll_at`] says when
//! to come back. Incoming frames are fed to smoltcp one at a time, so the drop in a
//! socket's send queue after each one is exactly what that ACK acknowledged.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::congestion::CongestionWindow;
use crate::error::{ConnectError, SocketError};
use crate::id_hash::IdHashMap;
use crate::knobs::{Knobs, Nagle, OnExhaustion};
use crate::ports::EphemeralPorts;
use crate::retransmit::{LossRecovery, RttEstimator};
use crate::segment::{
    build_ack, build_reack, clamp_window, rewrite_flags, seq_gt, seq_lt, shift_sequence, Segment,
    FLAG_FIN, FLAG_SYN,
};
use crate::send_queue::{QueueSource, SendQueue};
use crate::stats::{Closer, ConnStats, Role};
use crate::time_wait::{
    Arrival, FourTuple, HeldTuple, TimeWaitTable, Verdict, OUT_OF_WINDOW_ACK_INTERVAL,
};
use crate::trace::{EventKind, FrameRef, SendReason};

mod conn;
mod device;
mod handshake;
mod lifecycle;
mod listener;
pub(crate) mod memory;
mod news;
mod observe;
mod screen;
mod send;
mod sequence;
mod sockets;
mod tracing;

use conn::{Accept, ConnTable};
use device::FrameSlot;
use handshake::{handshake_limit, HandshakeCheck, ARP_TIMEOUT};
use listener::Listener;
pub use listener::LISTEN_POOL;
use news::NewsLog;
pub use news::{News, NewsReader};
use screen::Screen;
use sockets::{SockId, Sockets};
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
    /// The connection of each live tuple, and of each socket. Hashed: every frame
    /// in or out looks one up, and nothing walks them. Tuples come from the wire, so
    /// their hash is keyed (a peer cannot aim its ports at one bucket).
    live: HashMap<FourTuple, ConnId>,
    by_handle: IdHashMap<SockId, ConnId>,
    listeners: BTreeMap<u16, Listener>,
    /// Sockets of connections that an RST sent back to LISTEN during the handshake
    /// (smoltcp does that), by port, until they are retired: they take SYNs too.
    strays: BTreeSet<(u16, SockId)>,
    /// Kept for its allocation (`retire_sockets`).
    retire_scratch: Vec<SockId>,
    time_wait: TimeWaitTable,
    /// The connection each held tuple belonged to.
    held_by: HashMap<FourTuple, ConnId>,
    ports: EphemeralPorts,
    /// The latest port allocation that found none free, while that still holds.
    ports_full: Option<lifecycle::PortsFull>,
    awaiting_port: VecDeque<(ConnId, u16)>,
    /// See [`Host::listen_overflows`].
    listen_overflows: u64,
    /// When handshakes must have got somewhere, earliest first (entries of
    /// connections that have moved on are skipped when they come due).
    handshakes: BTreeSet<(Instant, ConnId, HandshakeCheck)>,
    /// Connections whose congestion window collapsed on a retransmission timeout:
    /// smoltcp must hear the smaller window before it resends its whole flight.
    window_updates: Vec<ConnId>,
    epoch: Instant,
    now: Instant,
    trace: TraceLog,
}

impl Host {
    /// A host with no sockets, its clock at `now`.
    pub fn new(config: HostConfig, now: Instant) -> Host {
        let mut caps = DeviceCapabilities::default();
        caps.medium = config.medium;
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
            live: HashMap::new(),
            by_handle: HashMap::default(),
            listeners: BTreeMap::new(),
            strays: BTreeSet::new(),
            retire_scratch: Vec::new(),
            time_wait,
            held_by: HashMap::new(),
            ports,
            ports_full: None,
            awaiting_port: VecDeque::new(),
            handshakes: BTreeSet::new(),
            listen_overflows: 0,
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

    /// Whether a poll at `now` has anything to do: a frame to take in, a socket to
    /// visit, a timer of its own that has come, a port to wait for, a window update
    /// or a trace state to record. False means [`Host::poll`] would change nothing.
    fn has_work(&self, now: Instant) -> bool {
        let due = |at: Option<Instant>| at.is_some_and(|at| at <= now);
        !self.rx_queue.is_empty()
            || self.sockets.has_work(now)
            || !self.awaiting_port.is_empty()
            || due(self.time_wait.next_expiry())
            || due(self.handshakes.first().map(|&(at, _, _)| at))
            || !self.window_updates.is_empty()
            || !self.trace.dirty.is_empty()
            || !self.device.tx.is_empty()
    }

    /// When the host next needs a poll even if no frame arrives.
    pub fn poll_at(&mut self) -> Option<Instant> {
        let mut at = self.sockets.poll_at(&mut self.iface, self.now);
        if !self.awaiting_port.is_empty() {
            if let Some(t) = self.time_wait.next_expiry() {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        if let Some(&(t, _, _)) = self.handshakes.first() {
            at = Some(at.map_or(t, |a| a.min(t)));
        }
        at
    }

    // ---- socket API -------------------------------------------------------------

    /// A place in this host's news for one application: see [`Host::read_news`].
    pub fn news_reader(&mut self) -> NewsReader {
        self.conns.news.new_reader()
    }

    /// Append to `out` the connections that may have changed since `reader` last
    /// read (a superset, duplicates possible), so that an application need not ask
    /// every connection it holds on every poll. [`News::Everything`] (always the
    /// first time) means any connection may have changed. What the application did
    /// itself and its own timers are its own to remember.
    pub fn read_news(&mut self, reader: NewsReader, out: &mut Vec<ConnId>) -> News {
        self.conns.news.read(reader, out)
    }

    /// Open a connection to `remote` from the next free ephemeral port.
    pub fn connect(&mut self, remote: Ipv4Address, port: u16) -> Result<ConnId, ConnectError> {
        let tuple = FourTuple {
            local_addr: self.addr(),
            local_port: 0,
            remote_addr: remote,
            remote_port: port,
        };
        let conn = self.new_conn(tuple, None, Role::Client);
        let id = self.conns.insert(conn);
        match self.allocate_port(remote, port) {
            Ok(local_port) => {
                if let Err(e) = self.start_connect(id, local_port) {
                    self.conns.undo_insert(id);
                    return Err(e);
                }
            }
            Err(e) => match self.config.knobs.on_exhaustion {
                OnExhaustion::Fail => {
                    self.conns.undo_insert(id);
                    return Err(e);
                }
                OnExhaustion::Wait => {
                    self.conns[id].awaiting_port = true;
                    self.awaiting_port.push_back((id, port));
                    self.trace_event(EventKind::PortWait {
                        conn: id,
                        waiting: true,
                    });
                }
            },
        }
        Ok(id)
    }

    /// Write `data`, as one send() call: it is offered to TCP at once (a transmit
    /// attempt happens before the call returns), so two writes are never merged by the
    /// lab itself and Nagle can be observed honestly. Returns the bytes accepted; less
    /// than `data.len()` when the socket's buffers are full.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, SocketError> {
        self.send_with(id, data.len(), |at, dst| {
            dst.copy_from_slice(&data[at..at + dst.len()]);
        })
    }

    /// [`Host::send`] of `len` bytes that `write(at, dst)` puts straight into the
    /// connection's queue: `dst` is bytes `at..at + dst.len()` of this call (in one or
    /// two pieces, as the queue wraps). For generated data (a body pattern) this saves
    /// building it in a buffer of its own and copying it here. Returns the bytes
    /// accepted; only those are asked for.
    pub fn send_with(
        &mut self,
        id: ConnId,
        len: usize,
        write: impl FnMut(usize, &mut [u8]),
    ) -> Result<usize, SocketError> {
        self.offer(id, len, false, write)
    }

    /// [`Host::send_with`] with Linux's `MSG_MORE`: the caller is about to write the
    /// rest of the same message, so whole segments go out now and the sub-MSS tail
    /// waits for the next write. A server that generates a large body a piece at a
    /// time uses it, so its pieces never show on the wire as short segments (a
    /// kernel given the whole body by one `write` or `sendfile` cuts it into full
    /// segments).
    pub fn send_more_with(
        &mut self,
        id: ConnId,
        len: usize,
        write: impl FnMut(usize, &mut [u8]),
    ) -> Result<usize, SocketError> {
        self.offer(id, len, true, write)
    }

    fn offer(
        &mut self,
        id: ConnId,
        len: usize,
        more: bool,
        source: impl QueueSource,
    ) -> Result<usize, SocketError> {
        let conn = self.conns.get_mut(id).ok_or(SocketError::NotFound)?;
        if let Some(e) = conn.error {
            return Err(e);
        }
        if conn.write_shut || conn.finished {
            return Err(SocketError::Closed);
        }
        let buffered = conn.pending.len() + conn.prev_send_queue;
        let room = (self.config.knobs.tx_buffer * 2).saturating_sub(buffered);
        let n = len.min(room);
        source.push_into(&mut conn.pending, n);
        // A write taken only in part keeps its caller blocked on the rest: more follows.
        conn.more = more || n < len;
        self.trace_write(id, n, more);
        self.top_up(id);
        self.egress();
        Ok(n)
    }

    /// Append everything readable to `buf`.
    pub fn recv(&mut self, id: ConnId, buf: &mut Vec<u8>) -> Result<Readable, SocketError> {
        self.recv_at_most(id, buf, usize::MAX)
    }

    /// [`Host::recv`] of at most `max` bytes, like read(2) with a buffer of that size:
    /// the rest stays in the socket, whose window then stays closed as far as it is
    /// full, so an application that bounds what it holds also bounds what the peer
    /// may send it.
    pub fn recv_at_most(
        &mut self,
        id: ConnId,
        buf: &mut Vec<u8>,
        max: usize,
    ) -> Result<Readable, SocketError> {
        let conn = self.conns.get_mut(id).ok_or(SocketError::NotFound)?;
        if let Some(e) = conn.error {
            return Err(e);
        }
        if conn.app_closed {
            return Err(SocketError::Closed);
        }
        if max == 0 {
            return Ok(Readable::Nothing);
        }
        if !conn.leftover.is_empty() {
            let n = conn.leftover.len().min(max);
            buf.extend(conn.leftover.drain(..n));
            self.trace_read(id, n);
            return Ok(Readable::Data(n));
        }
        let Some(handle) = conn.handle else {
            if conn.awaiting_port {
                return Ok(Readable::Nothing);
            }
            return Ok(if conn.track.fin_in {
                Readable::Eof
            } else {
                Readable::Nothing
            });
        };
        // Touched only if something was read: an empty read changes nothing smoltcp
        // sends or when (an application may ask a connection that has nothing new).
        let socket = self.sockets.get_mut_untouched(handle);
        let before = buf.len();
        let result = socket.recv(|data| {
            let n = data.len().min(max);
            buf.extend_from_slice(&data[..n]);
            (n, ())
        });
        // The ring buffer may wrap: a second call returns the rest.
        let left = max - (buf.len() - before);
        if result.is_ok() && left > 0 {
            let _ = socket.recv(|data| {
                let n = data.len().min(left);
                buf.extend_from_slice(&data[..n]);
                (n, ())
            });
        }
        let n = buf.len() - before;
        if n > 0 {
            self.sockets.touch(handle);
        }
        self.trace_read(id, n);
        match result {
            Ok(()) if n > 0 => {
                // Reading opens the receive window; let smoltcp announce it.
                self.egress();
                Ok(Readable::Data(n))
            }
            Ok(()) => Ok(Readable::Nothing),
            Err(tcp::RecvError::Finished) => Ok(Readable::Eof),
            Err(tcp::RecvError::InvalidState) => Ok(Readable::Nothing),
        }
    }

    /// shutdown(SHUT_WR): send FIN once everything written has gone, keep reading.
    pub fn shutdown_write(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.write_shut = true;
            self.trace_event(EventKind::AppClose {
                conn: id,
                write_only: true,
            });
            self.top_up(id);
            self.egress();
        }
    }

    /// close(): with unread input this resets the connection, as a kernel does
    /// (RFC 2525 §2.17; chapter item 24); otherwise FIN after the pending data, and
    /// any data arriving afterwards is answered with RST.
    pub fn close(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.app_closed || conn.finished {
            conn.app_closed = true;
            self.free_if_done(id);
            return;
        }
        conn.app_closed = true;
        self.trace_event(EventKind::AppClose {
            conn: id,
            write_only: false,
        });
        let conn = &self.conns[id];
        let unread = !conn.leftover.is_empty()
            || conn
                .handle
                .is_some_and(|h| self.sockets.get(h).recv_queue() > 0);
        if unread {
            self.abort(id);
        } else {
            self.shutdown_write(id);
        }
    }

    /// Send RST and forget the connection at once.
    pub fn abort(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.app_closed = true;
        conn.pending.clear();
        conn.leftover.clear();
        if conn.awaiting_port {
            conn.awaiting_port = false;
            conn.finished = true;
            self.awaiting_port.retain(|(c, _)| *c != id);
            self.free_if_done(id);
            return;
        }
        if conn.error.is_none() {
            conn.error = Some(SocketError::Aborted);
        }
        if conn.stats.closed_first.is_none() {
            conn.stats.closed_first = Some(Closer::Local);
        }
        if let Some(h) = conn.handle {
            self.sockets.get_mut(h).abort();
        }
        self.egress();
    }

    /// Where the connection is in its life.
    pub fn state(&self, id: ConnId) -> ConnState {
        let Some(conn) = self.conns.get(id) else {
            // Closed by the application and finished: the host let it go.
            return if self.conns.issued(id) {
                ConnState::Closed
            } else {
                ConnState::Failed(SocketError::NotFound)
            };
        };
        if let Some(e) = conn.error {
            return ConnState::Failed(e);
        }
        if conn.awaiting_port {
            return ConnState::AwaitingPort;
        }
        match conn.handle {
            None => ConnState::Closed,
            Some(h) => match self.sockets.get(h).state() {
                tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Listen => {
                    ConnState::Connecting
                }
                tcp::State::Closed => ConnState::Closed,
                _ => ConnState::Open,
            },
        }
    }

    /// The local port of a connection: `None` while it waits for a free ephemeral
    /// port (`--on-exhaustion wait`), or for a connection this host does not keep.
    pub fn local_port(&self, id: ConnId) -> Option<u16> {
        self.conns.get(id).and_then(|c| c.local_port())
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
            .map(|(id, c)| (*id, self.snapshot(c)))
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

    /// Hand smoltcp one frame: to the socket that accepts it, as smoltcp would have
    /// chosen among all the host's sockets. `seg` is the frame's TCP segment (`None`
    /// if it has none), `own` the socket of the connection it names, if any.
    fn feed(&mut self, frame: Vec<u8>, seg: Option<&Segment>, own: Option<SockId>) {
        let target = match seg {
            Some(seg) => self.target(seg, own),
            None => {
                if self.config.medium == Medium::Ethernet {
                    // ARP may have answered a socket waiting for its neighbor.
                    self.sockets.touch_all();
                }
                None
            }
        };
        self.device.load(frame);
        self.sockets
            .ingress(&mut self.iface, self.now, &mut self.device, target);
        if let Some(id) = target {
            let socket = self.sockets.get(id);
            if socket.state() == tcp::State::Listen && !self.in_pool(id) {
                let port = socket.listen_endpoint().port;
                self.strays.insert((port, id));
            }
        }
    }

    /// The socket smoltcp gives a segment to: the first, in slot order, whose
    /// `accepts` takes it. Only the socket of the connection it names (`own`) and
    /// sockets listening on its port can: the host's tables name them all.
    fn target(&self, seg: &Segment, own: Option<SockId>) -> Option<SockId> {
        let pool = self
            .listeners
            .get(&seg.dst_port)
            .into_iter()
            .flat_map(|l| l.pool.iter().copied());
        let strays = self
            .strays
            .range((seg.dst_port, SockId::MIN)..=(seg.dst_port, SockId::MAX))
            .map(|&(_, id)| id);
        own.into_iter()
            .chain(pool)
            .chain(strays)
            .filter(|&id| accepts(self.sockets.get(id), seg))
            .min()
    }

    fn in_pool(&self, id: SockId) -> bool {
        self.listeners.values().any(|l| l.pool.contains(&id))
    }

    fn ingress(&mut self, frame: Vec<u8>) {
        let medium = self.config.medium;
        let Some(seg) = Segment::parse(medium, &frame) else {
            // ARP and anything else: smoltcp's business.
            self.feed(frame, None, None);
            self.collect_tx();
            return;
        };
        let tuple = FourTuple {
            local_addr: seg.dst_addr,
            local_port: seg.dst_port,
            remote_addr: seg.src_addr,
            remote_port: seg.src_port,
        };
        let conn_id = self.live.get(&tuple).copied();
        if let Some(id) = conn_id {
            self.conns.note(id);
        } else {
            let verdict = self
                .time_wait
                .on_segment(&tuple, Arrival::from(&seg), self.now);
            let ended = self.time_wait.take_ended();
            self.release_held(ended);
            match verdict {
                Verdict::Ack { seq, ack } => {
                    let reack = build_reack(medium, &frame, &seg, seq, ack, u16::MAX);
                    if let Some(&id) = self.held_by.get(&tuple).filter(|_| self.tracing()) {
                        if let Some(out) = Segment::parse(medium, &reack) {
                            self.trace_segment_out(id, &out, SendReason::TimeWaitAck);
                        }
                    }
                    self.push_out(reack);
                    return;
                }
                Verdict::Drop | Verdict::Kill => return,
                // A new connection on the tuple: the listener takes the SYN.
                Verdict::Reopen | Verdict::NotHeld => {}
            }
            if seg.syn && seg.ack.is_none() && !seg.rst && self.accept_queue_full(seg.dst_port) {
                // Linux `tcp_conn_request`: a full accept queue drops the SYN; the
                // client tries again after its SYN timeout.
                self.listen_overflows += 1;
                return;
            }
        }
        let mut frame = frame;
        let mut seg = seg;
        if let Some(id) = conn_id {
            let mut acceptable = true;
            match self.screen(id, &seg) {
                Screen::Pass => {}
                Screen::Unacceptable => acceptable = false,
                Screen::Rewrite(how) => {
                    let new = self.rewritten(id, &frame, &seg, how);
                    let Some(parsed) = Segment::parse(medium, &new) else {
                        return;
                    };
                    frame = new;
                    seg = parsed;
                }
                Screen::Drop => {
                    self.count_in(id, &seg);
                    self.conns[id].stats.dropped_in += 1;
                    return;
                }
                Screen::ChallengeAck => {
                    self.count_in(id, &seg);
                    self.send_challenge_ack(id, &frame, &seg);
                    return;
                }
                Screen::Overflow => {
                    self.count_in(id, &seg);
                    self.conns[id].stats.dropped_in += 1;
                    self.listen_overflows += 1;
                    return;
                }
            }
            // Only data the application could still have read counts as "data after
            // close" (Linux `tcp_rcv_state_process`: the segment ends beyond RCV.NXT);
            // a retransmission of bytes already received is just re-ACKed.
            let t = &self.conns[id].track;
            let new_data = acceptable
                && seg.payload_len > 0
                && seq_gt(seg.seq.wrapping_add(seg.payload_len as u32), t.rcv_nxt);
            if acceptable {
                self.on_segment_in(id, &seg);
            } else {
                self.count_in(id, &seg);
            }
            if medium == Medium::Ethernet {
                if let Some(h) = frame.get(..crate::segment::ETHERNET_HEADER) {
                    self.conns[id].track.link_header.copy_from_slice(h);
                }
            }
            if let Some(limit) = self.window_limit(id, seg.syn) {
                clamp_window(medium, &mut frame, limit);
            }
            let conn = &self.conns[id];
            if conn.app_closed && new_data && conn.error.is_none() {
                // Data for a fully closed socket: the kernel answers with RST.
                self.abort(id);
                return;
            }
            if seg.payload_len > 0 {
                self.choose_ack_delay(id);
            }
            if let Some(offset) = self.conns[id].track.isn_offset {
                shift_sequence(medium, &mut frame, true, offset.wrapping_neg());
            }
        }
        // Sequence numbers may have been shifted and the window clamped, but not
        // the tuple or the flags `accepts` looks at.
        let own = conn_id.and_then(|id| self.conns[id].handle);
        self.feed(frame, Some(&seg), own);
        match conn_id {
            Some(id) => self.after_ingress(id),
            None => self.adopt_from_pool(seg.dst_port, &seg),
        }
        self.collect_tx();
    }

    fn collect_tx(&mut self) {
        let mut frames = std::mem::take(&mut self.device.tx);
        for mut frame in frames.drain(..) {
            let parsed = Segment::parse(self.config.medium, &frame);
            // Segments of a connection we keep (smoltcp also answers segments for
            // no connection at all, with an RST of its own numbers).
            if let Some((id, mut seg)) =
                parsed.and_then(|s| Some((*self.live.get(&outgoing_tuple(&s))?, s)))
            {
                if let Some(delta) = self.outgoing_offset(id, &seg) {
                    shift_sequence(self.config.medium, &mut frame, false, delta);
                    seg.seq = seg.seq.wrapping_add(delta);
                }
                if self.beyond_syn_retries(id, &seg) || self.repeated_fast_retransmit(id, &seg) {
                    self.device.recycle(frame);
                    continue;
                }
                if let Some(delta) = self.reset_offset(id, &seg) {
                    shift_sequence(self.config.medium, &mut frame, false, delta);
                    seg.seq = seg.seq.wrapping_add(delta);
                }
                self.on_segment_out(id, &seg);
            }
            self.push_out(frame);
        }
        // Keep the (now empty) list's allocation for the next round.
        if self.device.tx.is_empty() {
            self.device.tx = frames;
        }
    }

    /// Transmit, then retire sockets whose part is over.
    fn egress(&mut self) {
        self.sockets.take_due(self.now);
        // Each round sends at most one segment per socket; the bound only guards
        // against a runaway.
        for _ in 0..100_000 {
            let r = self
                .sockets
                .egress_round(&mut self.iface, self.now, &mut self.device);
            let sent = !self.device.tx.is_empty();
            self.collect_tx();
            for id in std::mem::take(&mut self.window_updates) {
                self.send_window_update(id);
            }
            if !sent && r == smoltcp::iface::PollResult::None {
                break;
            }
        }
        self.retire_sockets();
        self.sockets.settle(&mut self.iface, self.now);
        self.trace_states();
    }
}

/// smoltcp's `tcp::Socket::accepts` (crate-private there), from the socket's public
/// state: a closed socket takes nothing; a listening one takes segments to its port
/// without ACK or RST; a connected one, those of its 4-tuple.
fn accepts(socket: &tcp::Socket, seg: &Segment) -> bool {
    match socket.state() {
        tcp::State::Closed => return false,
        tcp::State::Listen if seg.ack.is_some() || seg.rst => return false,
        _ => {}
    }
    use smoltcp::wire::IpAddress;
    match (socket.local_endpoint(), socket.remote_endpoint()) {
        (Some(local), Some(remote)) => {
            local.addr == IpAddress::Ipv4(seg.dst_addr)
                && local.port == seg.dst_port
                && remote.addr == IpAddress::Ipv4(seg.src_addr)
                && remote.port == seg.src_port
        }
        _ => {
            let listen = socket.listen_endpoint();
            listen
                .addr
                .is_none_or(|a| a == IpAddress::Ipv4(seg.dst_addr))
                && seg.dst_port != 0
                && seg.dst_port == listen.port
        }
    }
}

/// The connection a segment we send belongs to, named from our side.
fn outgoing_tuple(seg: &Segment) -> FourTuple {
    FourTuple {
        local_addr: seg.src_addr,
        local_port: seg.src_port,
        remote_addr: seg.dst_addr,
        remote_port: seg.dst_port,
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
