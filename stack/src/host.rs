//! A host: one smoltcp interface plus the layer that makes it behave like a kernel
//! socket API for the experiments.
//!
//! smoltcp leaves several things to applications that the chapter depends on; the host
//! owns them (STYLE.md item 3):
//! * ephemeral ports and 4-tuple uniqueness, with our own TIME_WAIT table;
//! * a listening socket per port, refilled as it takes SYNs, and an accept queue
//!   bounded by the backlog as Linux bounds it;
//! * the congestion window (slow start) above smoltcp, whose own controller is off;
//! * kernel-like close: close() with unread input sends RST, data arriving after a full
//!   close is answered with RST, a received RST discards unread input;
//! * per-connection statistics counted off the wire.
//!
//! Frames go in with [`Host::receive_frame`] and come out of [`Host::take_frames`]; the
//! host never reads a clock: [`Host::poll`] takes `now` and [`Host::poll_at`] says when
//! to come back. Incoming frames are fed to smoltcp one at a time, so the drop in a
//! socket's send queue after each one is exactly what that ACK acknowledged.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::congestion::{CongestionWindow, RttEstimator};
use crate::error::{ConnectError, SocketError};
use crate::knobs::{Knobs, Nagle, OnExhaustion};
use crate::ports::EphemeralPorts;
use crate::segment::{
    build_ack, build_reack, clamp_window, seq_gt, seq_lt, shift_sequence, Segment,
};
use crate::send_queue::SendQueue;
use crate::stats::{Closer, ConnStats, Role};
use crate::time_wait::{
    Arrival, FourTuple, HeldTuple, TimeWaitTable, Verdict, OUT_OF_WINDOW_ACK_INTERVAL,
};

/// smoltcp's fixed minimum and initial retransmission timeout; our RTT estimator
/// mirrors it so "idle longer than the RTO" means what smoltcp would do.
const SMOLTCP_MIN_RTO: Duration = Duration::from_millis(1000);
/// smoltcp assumes this MSS until the peer's SYN says otherwise (RFC 9293 §3.7.1).
const DEFAULT_MSS: usize = 536;
/// IPv4 + TCP headers without options.
const TCP_IP_HEADERS: usize = 40;
/// Keys the hash of [`Host::initial_sequence`] apart from the host's other streams.
const ISN_SALT: u64 = 6528;

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

/// Frame buffers kept for reuse, at most: a bulk transfer moves a frame per segment,
/// and allocating and freeing each one was a few percent of a TAP run (README,
/// Performance); a burst of this many covers a NAPI batch with room to spare.
const SPARE_FRAMES: usize = 256;

/// The device smoltcp sees: at most one received frame at a time, transmitted frames
/// collected for the host to inspect and hand on, and spare buffers for both.
struct FrameSlot {
    /// The frame being received; smoltcp reads it in place.
    rx: Vec<u8>,
    /// Whether `rx` holds a frame smoltcp has not been offered yet.
    rx_ready: bool,
    tx: Vec<Vec<u8>>,
    spare: Vec<Vec<u8>>,
    caps: DeviceCapabilities,
}

impl FrameSlot {
    /// Offer `frame` to smoltcp's next ingress poll; the previous one becomes a spare.
    fn load(&mut self, frame: Vec<u8>) {
        let old = std::mem::replace(&mut self.rx, frame);
        self.rx_ready = true;
        self.recycle(old);
    }

    fn recycle(&mut self, mut frame: Vec<u8>) {
        if self.spare.len() < SPARE_FRAMES && frame.capacity() > 0 {
            frame.clear();
            self.spare.push(frame);
        }
    }
}

struct RxToken<'a>(&'a [u8]);
struct TxToken<'a> {
    tx: &'a mut Vec<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.spare.pop().unwrap_or_default();
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.tx.push(frame);
        r
    }
}

impl Device for FrameSlot {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if !self.rx_ready {
            return None;
        }
        self.rx_ready = false;
        Some((
            RxToken(&self.rx),
            TxToken {
                tx: &mut self.tx,
                spare: &mut self.spare,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            tx: &mut self.tx,
            spare: &mut self.spare,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

/// Sequence-space bookkeeping for one connection, from the segments on the wire.
#[derive(Debug, Default)]
struct WireTrack {
    snd_una: u32,
    snd_max: u32,
    rcv_nxt: u32,
    syn_seen: bool,
    syn_out: bool,
    syn_acked: bool,
    /// The peer's window-scale option, and whether our SYN offered one too: the scale
    /// applies only when both did (RFC 7323 §2.2).
    peer_window_scale: Option<u8>,
    window_scale_sent: bool,
    /// The Ethernet header of the peer's latest frame (dst = us, src = the peer), for
    /// segments we hand smoltcp on the peer's behalf.
    link_header: [u8; crate::segment::ETHERNET_HEADER],
    peer_mss: Option<u16>,
    dup_acks: u32,
    /// While `Some`, fast retransmits belong to the loss episode that ends when this is
    /// acknowledged: the window is cut once per episode (RFC 5681 §3.2).
    recovery_until: Option<u32>,
    /// When the latest segment from the peer arrived. smoltcp does not say why it
    /// retransmits; the clock does: a retransmission at the instant an ACK arrived is
    /// ACK-clocked (fast retransmit, or go-back-N resuming after a timeout), one at
    /// any other instant is the retransmission timer.
    last_in_at: Option<Instant>,
    /// When the latest timeout was handled: the further segments smoltcp resends at
    /// that same instant belong to it.
    last_timeout_at: Option<Instant>,
    /// Arrival of the oldest data we have not acknowledged yet.
    unacked_since: Option<Instant>,
    /// One timed segment at a time (RFC 6298 §3, Karn's rule on retransmission).
    timed: Option<(u32, Instant)>,
    fin_in: bool,
    fin_out: bool,
    /// Data segments received (for quick-ACK at connection start).
    data_segments_in: u32,
    /// End of the last sub-MSS segment sent (Linux `snd_sml`, for Minshall's Nagle).
    small_end: Option<u32>,
    /// The window-scale shift our SYN offered (RFC 7323 §2.2), for windows we write
    /// into segments smoltcp does not build (challenge ACKs).
    our_window_scale: Option<u8>,
    /// Wire sequence number minus smoltcp's, for our side's sequence space (see
    /// [`Host::initial_sequence`]); `None` until our SYN or SYN-ACK leaves.
    isn_offset: Option<u32>,
    /// The peer's receive window as of its latest acceptable segment, bytes (`None`
    /// before its SYN), and the largest it has offered (RFC 9293 §3.8.6.2.1's
    /// "maximum window").
    peer_window: Option<usize>,
    max_peer_window: usize,
    /// When the latest challenge ACK left: at most one per
    /// [`OUT_OF_WINDOW_ACK_INTERVAL`] (RFC 5961 §7).
    last_challenge_at: Option<Instant>,
}

struct Conn {
    tuple: FourTuple,
    handle: Option<SocketHandle>,
    role: Role,
    opened: Instant,
    /// Written by the application, not yet inside smoltcp (the congestion window is
    /// full, or the handshake is not done).
    pending: SendQueue,
    /// Input left in a socket we removed (after TIME_WAIT takeover or close).
    leftover: VecDeque<u8>,
    /// The latest write said more of it follows at once (`MSG_MORE`): its sub-MSS
    /// tail waits for the rest instead of leaving as a segment of its own.
    more: bool,
    /// shutdown(Write) or close(): send FIN once `pending` is empty.
    write_shut: bool,
    fin_queued: bool,
    /// close(): no more reading; arriving data is answered with RST.
    app_closed: bool,
    error: Option<SocketError>,
    finished: bool,
    awaiting_port: bool,
    accept: Accept,
    /// When this host started holding the tuple in TIME_WAIT, and when it let go.
    time_wait_since: Option<Instant>,
    time_wait_until: Option<Instant>,
    cwnd: CongestionWindow,
    rtt: RttEstimator,
    track: WireTrack,
    prev_send_queue: usize,
    stats: ConnStats,
}

/// A passive connection's way through the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accept {
    /// Active open: never accepted.
    NotListening,
    /// Handshake under way (the SYN queue).
    Backlog,
    /// In the accept queue.
    Queued,
    /// Returned by `accept`.
    Accepted,
}

struct Listener {
    pool: Vec<SocketHandle>,
    accept_queue: VecDeque<ConnId>,
}

/// A TCP host: smoltcp plus the experiment layer. See the module docs.
pub struct Host {
    config: HostConfig,
    iface: Interface,
    sockets: SocketSet<'static>,
    device: FrameSlot,
    rx_queue: VecDeque<Vec<u8>>,
    out: Vec<Vec<u8>>,
    conns: Vec<Conn>,
    live: BTreeMap<FourTuple, ConnId>,
    by_handle: BTreeMap<SocketHandle, ConnId>,
    listeners: BTreeMap<u16, Listener>,
    time_wait: TimeWaitTable,
    /// The connection each held tuple belonged to.
    held_by: BTreeMap<FourTuple, ConnId>,
    ports: EphemeralPorts,
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
            sockets: SocketSet::new(Vec::new()),
            device,
            rx_queue: VecDeque::new(),
            out: Vec::new(),
            conns: Vec::new(),
            live: BTreeMap::new(),
            by_handle: BTreeMap::new(),
            listeners: BTreeMap::new(),
            time_wait,
            held_by: BTreeMap::new(),
            ports,
            awaiting_port: VecDeque::new(),
            handshakes: BTreeSet::new(),
            listen_overflows: 0,
            window_updates: Vec::new(),
            epoch: now,
            now,
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
        self.rx_queue.push_back(frame);
    }

    /// Whether received frames are waiting for a poll.
    pub fn has_pending_input(&self) -> bool {
        !self.rx_queue.is_empty()
    }

    /// Frames sent since the last call, in order.
    pub fn take_frames(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.out)
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
        self.expire_time_wait();
        self.expire_handshakes();
        while let Some(frame) = self.rx_queue.pop_front() {
            self.ingress(frame);
        }
        self.egress();
    }

    /// When the host next needs a poll even if no frame arrives.
    pub fn poll_at(&mut self) -> Option<Instant> {
        let mut at = self.iface.poll_at(self.now, &self.sockets);
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

    /// Start listening on `port`; `knobs.backlog` bounds its accept queue.
    pub fn listen(&mut self, port: u16) {
        if self.listeners.contains_key(&port) {
            return;
        }
        let mut pool = Vec::new();
        for _ in 0..LISTEN_POOL {
            pool.push(self.new_listening_socket(port));
        }
        self.listeners.insert(
            port,
            Listener {
                pool,
                accept_queue: VecDeque::new(),
            },
        );
    }

    /// The next established connection on `port`, if any.
    pub fn accept(&mut self, port: u16) -> Option<ConnId> {
        let id = self.listeners.get_mut(&port)?.accept_queue.pop_front()?;
        self.conns[id.0].accept = Accept::Accepted;
        Some(id)
    }

    /// Open a connection to `remote` from the next free ephemeral port.
    pub fn connect(&mut self, remote: Ipv4Address, port: u16) -> Result<ConnId, ConnectError> {
        let id = ConnId(self.conns.len());
        let tuple = FourTuple {
            local_addr: self.addr(),
            local_port: 0,
            remote_addr: remote,
            remote_port: port,
        };
        self.conns.push(self.new_conn(tuple, None, Role::Client));
        match self.allocate_port(remote, port) {
            Ok(local_port) => self.start_connect(id, local_port)?,
            Err(e) => match self.config.knobs.on_exhaustion {
                OnExhaustion::Fail => {
                    self.conns.pop();
                    return Err(e);
                }
                OnExhaustion::Wait => {
                    self.conns[id.0].awaiting_port = true;
                    self.awaiting_port.push_back((id, port));
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
        write: impl FnMut(usize, &mut [u8]),
    ) -> Result<usize, SocketError> {
        let conn = self.conns.get_mut(id.0).ok_or(SocketError::NotFound)?;
        if let Some(e) = conn.error {
            return Err(e);
        }
        if conn.write_shut || conn.finished {
            return Err(SocketError::Closed);
        }
        let buffered = conn.pending.len() + conn.prev_send_queue;
        let room = (self.config.knobs.tx_buffer * 2).saturating_sub(buffered);
        let n = len.min(room);
        conn.pending.push_with(n, write);
        // A write taken only in part keeps its caller blocked on the rest: more follows.
        conn.more = more || n < len;
        self.top_up(id);
        self.egress();
        Ok(n)
    }

    /// Append everything readable to `buf`.
    pub fn recv(&mut self, id: ConnId, buf: &mut Vec<u8>) -> Result<Readable, SocketError> {
        let conn = self.conns.get_mut(id.0).ok_or(SocketError::NotFound)?;
        if let Some(e) = conn.error {
            return Err(e);
        }
        if conn.app_closed {
            return Err(SocketError::Closed);
        }
        if !conn.leftover.is_empty() {
            let n = conn.leftover.len();
            buf.extend(conn.leftover.drain(..));
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
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        let before = buf.len();
        let result = socket.recv(|data| {
            buf.extend_from_slice(data);
            (data.len(), ())
        });
        // The ring buffer may wrap: a second call returns the rest.
        if result.is_ok() {
            let _ = socket.recv(|data| {
                buf.extend_from_slice(data);
                (data.len(), ())
            });
        }
        let n = buf.len() - before;
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
        if let Some(conn) = self.conns.get_mut(id.0) {
            conn.write_shut = true;
            self.top_up(id);
            self.egress();
        }
    }

    /// close(): with unread input this resets the connection, as a kernel does
    /// (RFC 2525 §2.17; chapter item 24); otherwise FIN after the pending data, and
    /// any data arriving afterwards is answered with RST.
    pub fn close(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id.0) else {
            return;
        };
        if conn.app_closed || conn.finished {
            conn.app_closed = true;
            return;
        }
        conn.app_closed = true;
        let unread = !conn.leftover.is_empty()
            || conn
                .handle
                .is_some_and(|h| self.sockets.get::<tcp::Socket>(h).recv_queue() > 0);
        if unread {
            self.abort(id);
        } else {
            self.shutdown_write(id);
        }
    }

    /// Send RST and forget the connection at once.
    pub fn abort(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id.0) else {
            return;
        };
        conn.app_closed = true;
        conn.pending.clear();
        conn.leftover.clear();
        if conn.awaiting_port {
            conn.awaiting_port = false;
            conn.finished = true;
            self.awaiting_port.retain(|(c, _)| *c != id);
            return;
        }
        if conn.error.is_none() {
            conn.error = Some(SocketError::Aborted);
        }
        if conn.stats.closed_first.is_none() {
            conn.stats.closed_first = Some(Closer::Local);
        }
        if let Some(h) = conn.handle {
            self.sockets.get_mut::<tcp::Socket>(h).abort();
        }
        self.egress();
    }

    /// Where the connection is in its life.
    pub fn state(&self, id: ConnId) -> ConnState {
        let Some(conn) = self.conns.get(id.0) else {
            return ConnState::Failed(SocketError::NotFound);
        };
        if let Some(e) = conn.error {
            return ConnState::Failed(e);
        }
        if conn.awaiting_port {
            return ConnState::AwaitingPort;
        }
        match conn.handle {
            None => ConnState::Closed,
            Some(h) => match self.sockets.get::<tcp::Socket>(h).state() {
                tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Listen => {
                    ConnState::Connecting
                }
                tcp::State::Closed => ConnState::Closed,
                _ => ConnState::Open,
            },
        }
    }

    /// The local port of a connection (0 while it waits for one).
    pub fn local_port(&self, id: ConnId) -> u16 {
        self.conns.get(id.0).map_or(0, |c| c.tuple.local_port)
    }

    /// Figures for one connection.
    pub fn stats(&self, id: ConnId) -> Option<ConnStats> {
        self.conns.get(id.0).map(|c| self.snapshot(c))
    }

    /// Figures for every connection this host has had, in opening order.
    pub fn all_stats(&self) -> Vec<ConnStats> {
        self.conns.iter().map(|c| self.snapshot(c)).collect()
    }

    /// Connections this host has had.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Tuples currently held in TIME_WAIT.
    pub fn time_wait_len(&self) -> usize {
        self.time_wait.len()
    }

    /// smoltcp sockets in the socket set (each costs a scan on every poll).
    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count()
    }

    // ---- internals ----------------------------------------------------------------

    fn snapshot(&self, c: &Conn) -> ConnStats {
        let mut s = c.stats.clone();
        s.local_port = c.tuple.local_port;
        s.remote = format!("{}:{}", c.tuple.remote_addr, c.tuple.remote_port);
        s.role = Some(c.role);
        s.opened_ms = ms_since(self.epoch, c.opened);
        if self.config.knobs.slow_start.enabled {
            s.max_cwnd = Some(c.cwnd.max_window() as u64);
        }
        s.cwnd_history = c.cwnd.history().to_vec();
        if let Some(since) = c.time_wait_since {
            // Still held at the end of the run: the time so far.
            let until = c.time_wait_until.unwrap_or(self.now);
            s.time_wait_ms = Some(ms_since(since, until));
        }
        s
    }

    fn mss(&self) -> usize {
        self.config.mtu.saturating_sub(TCP_IP_HEADERS).max(1)
    }

    fn new_conn(&self, tuple: FourTuple, handle: Option<SocketHandle>, role: Role) -> Conn {
        Conn {
            tuple,
            handle,
            role,
            opened: self.now,
            pending: SendQueue::default(),
            leftover: VecDeque::new(),
            more: false,
            write_shut: false,
            fin_queued: false,
            app_closed: false,
            error: None,
            finished: false,
            awaiting_port: false,
            accept: if role == Role::Server {
                Accept::Backlog
            } else {
                Accept::NotListening
            },
            time_wait_since: None,
            time_wait_until: None,
            cwnd: CongestionWindow::new(&self.config.knobs.slow_start, DEFAULT_MSS, self.now),
            rtt: RttEstimator::new(SMOLTCP_MIN_RTO, SMOLTCP_MIN_RTO),
            track: WireTrack::default(),
            prev_send_queue: 0,
            stats: ConnStats::default(),
        }
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let knobs = &self.config.knobs;
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; knobs.rx_buffer]),
            tcp::SocketBuffer::new(vec![0; self.segment_aligned(knobs.tx_buffer)]),
        );
        // Our layer is the congestion controller (SMOLTCP-NOTES: set it explicitly).
        socket.set_congestion_control(tcp::CongestionControl::None);
        // Minshall's variant is ours (in `top_up`): smoltcp must not hold anything.
        socket.set_nagle_enabled(knobs.nagle == Nagle::On);
        socket.set_ack_delay(knobs.delayed_ack);
        socket
    }

    /// smoltcp's send buffer is a ring, and a segment never spans its wrap: the
    /// bytes before the end go out as one short segment and the rest as another
    /// (its `get_allocated` returns the contiguous part only). Once the buffer has
    /// drained, smoltcp starts writing at the ring's beginning again, so a
    /// response's segments are aligned to the ring: with a capacity that is a
    /// whole number of segments, the wrap falls between two of them. Any other
    /// capacity put two sub-MSS segments on the wire every 2 MiB of a bulk
    /// transfer, and Minshall's Nagle then held the response's tail behind them.
    /// Aligned to our own MSS, which is the segment size whenever the peer's MSS
    /// option is not smaller.
    fn segment_aligned(&self, bytes: usize) -> usize {
        let mss = self.mss();
        (bytes / mss * mss).max(mss)
    }

    fn new_listening_socket(&mut self, port: u16) -> SocketHandle {
        let mut socket = self.new_socket();
        // Listening on a fresh socket with a non-zero port cannot fail.
        let _ = socket.listen(port);
        self.sockets.add(socket)
    }

    fn port_in_use(&self, local_port: u16, remote: Ipv4Address, remote_port: u16) -> bool {
        let tuple = FourTuple {
            local_addr: self.addr(),
            local_port,
            remote_addr: remote,
            remote_port,
        };
        self.live.contains_key(&tuple)
            || self.time_wait.is_held(&tuple, self.now)
            || self.listeners.contains_key(&local_port)
    }

    fn allocate_port(&mut self, remote: Ipv4Address, port: u16) -> Result<u16, ConnectError> {
        let mut ports = std::mem::replace(&mut self.ports, EphemeralPorts::new(1, 1));
        let result = ports.allocate(|p| self.port_in_use(p, remote, port));
        self.ports = ports;
        result.map_err(|_| ConnectError::PortsExhausted {
            ports: self.config.knobs.ports.len(),
            remote: format!("{remote}:{port}"),
        })
    }

    fn start_connect(&mut self, id: ConnId, local_port: u16) -> Result<(), ConnectError> {
        let remote = self.conns[id.0].tuple;
        let mut socket = self.new_socket();
        // `context()` before `sockets.add()` (SMOLTCP-NOTES: avoids a double borrow).
        let cx = self.iface.context();
        socket
            .connect(cx, (remote.remote_addr, remote.remote_port), local_port)
            .map_err(|e| ConnectError::Stack(e.to_string()))?;
        let handle = self.sockets.add(socket);
        let now = self.now;
        let conn = &mut self.conns[id.0];
        conn.tuple.local_port = local_port;
        conn.handle = Some(handle);
        conn.awaiting_port = false;
        conn.opened = now;
        self.live.insert(conn.tuple, id);
        self.by_handle.insert(handle, id);
        let limit = handshake_limit(self.config.knobs.syn_retries);
        self.handshakes
            .insert((now + limit, id, HandshakeCheck::Answered));
        if self.config.medium == Medium::Ethernet {
            self.handshakes
                .insert((now + ARP_TIMEOUT, id, HandshakeCheck::Resolved));
        }
        self.egress();
        Ok(())
    }

    /// Give up on handshakes whose time has come (see [`HandshakeCheck`]).
    fn expire_handshakes(&mut self) {
        while let Some(&(due, id, check)) = self.handshakes.first() {
            if due > self.now {
                break;
            }
            self.handshakes.pop_first();
            let conn = &self.conns[id.0];
            let Some(handle) = conn.handle else {
                continue;
            };
            let state = self.sockets.get::<tcp::Socket>(handle).state();
            if !matches!(state, tcp::State::SynSent | tcp::State::SynReceived) {
                continue;
            }
            let error = match check {
                HandshakeCheck::Resolved if conn.track.syn_out => continue,
                HandshakeCheck::Resolved => {
                    SocketError::NoArpReply(self.next_hop(conn.tuple.remote_addr))
                }
                HandshakeCheck::Answered => SocketError::ConnectTimedOut {
                    syns: conn.stats.syn_retransmits as u32 + 1,
                },
            };
            self.drop_handshake(id, error);
        }
    }

    /// Where frames to `addr` go first: the address itself on our subnet, the
    /// gateway otherwise.
    fn next_hop(&self, addr: Ipv4Address) -> Ipv4Address {
        match self.config.gateway {
            Some(gw) if !self.config.addr.contains_addr(&addr) => gw,
            _ => addr,
        }
    }

    /// End a connection that never got synchronized, silently, as Linux does when
    /// connect times out or a request socket expires: no RST for a peer that
    /// never answered.
    fn drop_handshake(&mut self, id: ConnId, error: SocketError) {
        let conn = &mut self.conns[id.0];
        let Some(handle) = conn.handle.take() else {
            return;
        };
        conn.error.get_or_insert(error);
        conn.finished = true;
        conn.pending.clear();
        let tuple = conn.tuple;
        self.sockets.remove(handle);
        self.by_handle.remove(&handle);
        self.live.remove(&tuple);
    }

    /// Whether `seg` would be a SYN or SYN-ACK retransmission past the configured
    /// number (`syn_retries`, `synack_retries`): it is not sent, and the
    /// handshake's deadline ends the connection.
    fn beyond_syn_retries(&self, seg: &Segment) -> bool {
        if !seg.syn || seg.rst {
            return false;
        }
        let tuple = FourTuple {
            local_addr: seg.src_addr,
            local_port: seg.src_port,
            remote_addr: seg.dst_addr,
            remote_port: seg.dst_port,
        };
        let Some(&id) = self.live.get(&tuple) else {
            return false;
        };
        let conn = &self.conns[id.0];
        let knobs = &self.config.knobs;
        let limit = match conn.role {
            Role::Client => knobs.syn_retries,
            Role::Server => knobs.synack_retries,
        };
        conn.track.syn_out
            && seq_lt(seg.seq, conn.track.snd_max)
            && conn.stats.syn_retransmits >= u64::from(limit)
    }

    /// Tuples that left TIME_WAIT: their connections record until when.
    fn release_held(&mut self, held: Vec<HeldTuple>) {
        for h in held {
            if let Some(id) = self.held_by.remove(&h.tuple) {
                self.conns[id.0].time_wait_until = Some(h.expires);
            }
        }
    }

    fn expire_time_wait(&mut self) {
        let expired = self.time_wait.expire(self.now);
        self.release_held(expired);
        while let Some(&(id, port)) = self.awaiting_port.front() {
            let remote = self.conns[id.0].tuple.remote_addr;
            let Ok(local_port) = self.allocate_port(remote, port) else {
                break;
            };
            self.awaiting_port.pop_front();
            if let Err(e) = self.start_connect(id, local_port) {
                let conn = &mut self.conns[id.0];
                conn.awaiting_port = false;
                conn.finished = true;
                conn.error = Some(SocketError::Closed);
                let _ = e;
            }
        }
    }

    fn ingress(&mut self, frame: Vec<u8>) {
        let medium = self.config.medium;
        let Some(seg) = Segment::parse(medium, &frame) else {
            // ARP and anything else: smoltcp's business.
            self.device.load(frame);
            self.iface
                .poll_ingress_single(self.now, &mut self.device, &mut self.sockets);
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
        if conn_id.is_none() {
            let verdict = self
                .time_wait
                .on_segment(&tuple, Arrival::from(&seg), self.now);
            let ended = self.time_wait.take_ended();
            self.release_held(ended);
            match verdict {
                Verdict::Ack { seq, ack } => {
                    let reack = build_reack(medium, &frame, &seg, seq, ack, u16::MAX);
                    self.out.push(reack);
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
        if let Some(id) = conn_id {
            match self.screen(id, &seg) {
                Screen::Pass => {}
                Screen::Drop => {
                    self.count_screened(id, &seg);
                    self.conns[id.0].stats.dropped_in += 1;
                    return;
                }
                Screen::ChallengeAck => {
                    self.count_screened(id, &seg);
                    self.send_challenge_ack(id, &frame, &seg);
                    return;
                }
                Screen::Overflow => {
                    self.count_screened(id, &seg);
                    self.conns[id.0].stats.dropped_in += 1;
                    self.listen_overflows += 1;
                    return;
                }
            }
            // Only data the application could still have read counts as "data after
            // close" (Linux `tcp_rcv_state_process`: the segment ends beyond RCV.NXT);
            // a retransmission of bytes already received is just re-ACKed.
            let t = &self.conns[id.0].track;
            let new_data = seg.payload_len > 0
                && seq_gt(seg.seq.wrapping_add(seg.payload_len as u32), t.rcv_nxt);
            self.on_segment_in(id, &seg);
            if medium == Medium::Ethernet {
                if let Some(h) = frame.get(..crate::segment::ETHERNET_HEADER) {
                    self.conns[id.0].track.link_header.copy_from_slice(h);
                }
            }
            if let Some(limit) = self.window_limit(id, seg.syn) {
                clamp_window(medium, &mut frame, limit);
            }
            let conn = &self.conns[id.0];
            if conn.app_closed && new_data && conn.error.is_none() {
                // Data for a fully closed socket: the kernel answers with RST.
                self.abort(id);
                return;
            }
            if seg.payload_len > 0 {
                self.choose_ack_delay(id);
            }
            if let Some(offset) = self.conns[id.0].track.isn_offset {
                shift_sequence(medium, &mut frame, true, offset.wrapping_neg());
            }
        }
        self.device.load(frame);
        self.iface
            .poll_ingress_single(self.now, &mut self.device, &mut self.sockets);
        match conn_id {
            Some(id) => self.after_ingress(id),
            None => self.adopt_from_pool(seg.dst_port, &seg),
        }
        self.collect_tx();
    }

    /// The checks RFC 5961 puts in front of TCP's own, which smoltcp 0.14 lacks (it
    /// accepts an RST anywhere in the window), so that a blind attacker who can
    /// guess the tuple but not the sequence numbers cannot reset or desynchronize a
    /// connection:
    /// * an RST is accepted only if its sequence number is exactly RCV.NXT; one
    ///   elsewhere inside the receive window is answered with a challenge ACK, one
    ///   outside it is dropped (§3.2);
    /// * an RST in SYN-SENT is accepted only if it acknowledges our SYN
    ///   (RFC 9293 §3.10.7.3);
    /// * a SYN on a synchronized connection is answered with a challenge ACK
    ///   whatever its sequence number (§4.2). A retransmitted SYN-ACK that reaches
    ///   an established client gets the same ACK, which is what its sender needs;
    /// * a retransmitted SYN for a connection still in SYN-RECEIVED is dropped
    ///   (see below).
    fn screen(&self, id: ConnId, seg: &Segment) -> Screen {
        let conn = &self.conns[id.0];
        let Some(handle) = conn.handle else {
            return Screen::Pass;
        };
        let socket = self.sockets.get::<tcp::Socket>(handle);
        let state = socket.state();
        let t = &conn.track;
        if seg.rst {
            return match state {
                tcp::State::Listen | tcp::State::Closed => Screen::Pass,
                tcp::State::SynSent => {
                    if seg.ack == Some(t.snd_max) {
                        Screen::Pass
                    } else {
                        Screen::Drop
                    }
                }
                _ if seg.seq == t.rcv_nxt => Screen::Pass,
                _ => {
                    let window = socket.recv_capacity() - socket.recv_queue();
                    let offset = seg.seq.wrapping_sub(t.rcv_nxt) as usize;
                    if seq_gt(seg.seq, t.rcv_nxt) && offset < window {
                        Screen::ChallengeAck
                    } else {
                        Screen::Drop
                    }
                }
            };
        }
        if seg.syn && is_synchronized(state) {
            return Screen::ChallengeAck;
        }
        if conn.accept == Accept::Backlog
            && state == tcp::State::SynReceived
            && seg.ack.is_some()
            && !seg.syn
            && self.accept_queue_full(conn.tuple.local_port)
        {
            // The ACK that would complete the handshake finds the accept queue full:
            // Linux (`tcp_check_req`, `tcp_abort_on_overflow` off) drops it and
            // keeps the request, whose SYN-ACK timer or the client's next segment
            // tries again.
            return Screen::Overflow;
        }
        if seg.syn && seg.ack.is_none() && state == tcp::State::SynReceived {
            // A retransmitted SYN. smoltcp would hand it to whichever socket comes
            // first in its set, possibly a fresh listener of the pool, which would
            // answer it as a second connection on the same tuple. Dropping it costs
            // nothing: our SYN-ACK timer started half a round trip after the
            // client's SYN timer, with the same RTO, so it fires just as this SYN
            // arrives (Linux resends the SYN-ACK at once instead).
            return Screen::Drop;
        }
        Screen::Pass
    }

    /// A segment the screen kept from TCP still counts as received.
    fn count_screened(&mut self, id: ConnId, seg: &Segment) {
        let s = &mut self.conns[id.0].stats;
        s.segments_in += 1;
        s.bytes_in += seg.payload_len as u64;
        if seg.rst {
            s.resets_in += 1;
        }
    }

    /// The challenge ACK of RFC 5961 §3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, at
    /// most one per [`OUT_OF_WINDOW_ACK_INTERVAL`]. A peer that really lost its state
    /// answers it with an RST at exactly RCV.NXT, which is then accepted.
    fn send_challenge_ack(&mut self, id: ConnId, frame: &[u8], seg: &Segment) {
        let now = self.now;
        let medium = self.config.medium;
        let conn = &mut self.conns[id.0];
        let Some(handle) = conn.handle else {
            return;
        };
        let t = &mut conn.track;
        if t.last_challenge_at
            .is_some_and(|at| now - at < OUT_OF_WINDOW_ACK_INTERVAL)
        {
            return;
        }
        t.last_challenge_at = Some(now);
        let socket = self.sockets.get::<tcp::Socket>(handle);
        let free = socket.recv_capacity() - socket.recv_queue();
        let shift = match (t.our_window_scale, t.peer_window_scale) {
            (Some(ours), Some(_)) => u32::from(ours.min(14)),
            _ => 0,
        };
        let window = u16::try_from(free >> shift).unwrap_or(u16::MAX);
        let ack = build_reack(medium, frame, seg, t.snd_max, t.rcv_nxt, window);
        let s = &mut conn.stats;
        s.challenge_acks += 1;
        s.segments_out += 1;
        s.pure_acks_out += 1;
        self.out.push(ack);
    }

    /// Linux's `sk_acceptq_is_full`: more connections wait to be accepted than the
    /// backlog allows (one more than the backlog fits, as in Linux).
    fn accept_queue_full(&self, port: u16) -> bool {
        self.listeners
            .get(&port)
            .is_some_and(|l| l.accept_queue.len() > self.config.knobs.backlog)
    }

    /// SYNs and handshake-completing ACKs dropped because an accept queue was full
    /// (Linux's `ListenOverflows` counter, `nstat`).
    pub fn listen_overflows(&self) -> u64 {
        self.listen_overflows
    }

    /// A listening socket took a SYN: it becomes a connection and a fresh socket takes
    /// its place in the pool.
    fn adopt_from_pool(&mut self, port: u16, seg: &Segment) {
        let Some(listener) = self.listeners.get(&port) else {
            return;
        };
        let taken: Vec<(usize, SocketHandle)> = listener
            .pool
            .iter()
            .enumerate()
            .filter(|(_, h)| self.sockets.get::<tcp::Socket>(**h).state() != tcp::State::Listen)
            .map(|(i, h)| (i, *h))
            .collect();
        for (slot, handle) in taken {
            let fresh = self.new_listening_socket(port);
            if let Some(l) = self.listeners.get_mut(&port) {
                l.pool[slot] = fresh;
            }
            let socket = self.sockets.get::<tcp::Socket>(handle);
            let (Some(local), Some(remote)) = (socket.local_endpoint(), socket.remote_endpoint())
            else {
                self.sockets.remove(handle);
                continue;
            };
            let (smoltcp::wire::IpAddress::Ipv4(la), smoltcp::wire::IpAddress::Ipv4(ra)) =
                (local.addr, remote.addr);
            let tuple = FourTuple {
                local_addr: la,
                local_port: local.port,
                remote_addr: ra,
                remote_port: remote.port,
            };
            let id = ConnId(self.conns.len());
            let conn = self.new_conn(tuple, Some(handle), Role::Server);
            self.conns.push(conn);
            self.live.insert(tuple, id);
            self.by_handle.insert(handle, id);
            let limit = handshake_limit(self.config.knobs.synack_retries);
            self.handshakes
                .insert((self.now + limit, id, HandshakeCheck::Answered));
            if tuple.remote_port == seg.src_port && tuple.remote_addr == seg.src_addr {
                self.on_segment_in(id, seg);
            }
        }
    }

    /// Quick-ACK at connection start: the first `quickack` data segments are ACKed at
    /// once, later ones wait for the delayed-ACK timer (Linux `tcp_in_quickack_mode`).
    fn choose_ack_delay(&mut self, id: ConnId) {
        let knobs = &self.config.knobs;
        let conn = &self.conns[id.0];
        let Some(handle) = conn.handle else {
            return;
        };
        let quick = conn.track.data_segments_in <= knobs.quickack;
        let delay = if quick { None } else { knobs.delayed_ack };
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        if socket.ack_delay() != delay {
            socket.set_ack_delay(delay);
        }
    }

    fn on_segment_in(&mut self, id: ConnId, seg: &Segment) {
        let now = self.now;
        let conn = &mut self.conns[id.0];
        let t = &mut conn.track;
        t.last_in_at = Some(now);
        conn.stats.segments_in += 1;
        conn.stats.bytes_in += seg.payload_len as u64;
        if seg.rst {
            conn.stats.resets_in += 1;
            if conn.error.is_none() && !conn.finished {
                conn.error = Some(if t.syn_seen {
                    SocketError::ConnectionReset
                } else {
                    SocketError::ConnectionRefused
                });
                if conn.stats.closed_first.is_none() {
                    conn.stats.closed_first = Some(Closer::Peer);
                }
                conn.pending.clear();
                conn.leftover.clear();
            }
            return;
        }
        if seg.syn {
            t.syn_seen = true;
            t.rcv_nxt = seg.seq.wrapping_add(1);
            if let Some(mss) = seg.mss {
                t.peer_mss = Some(mss);
            }
            t.peer_window_scale = seg.window_scale;
            let mss = usize::from(t.peer_mss.unwrap_or(DEFAULT_MSS as u16))
                .min(self.config.mtu.saturating_sub(TCP_IP_HEADERS))
                .max(1);
            conn.cwnd.set_mss(mss, now);
        }
        if let Some(ack) = seg.ack {
            if !seq_lt(ack, t.snd_una) {
                // A SYN's window is never scaled (RFC 7323 §2.2).
                let shift = match (seg.syn, t.window_scale_sent, t.peer_window_scale) {
                    (false, true, Some(s)) => u32::from(s.min(14)),
                    _ => 0,
                };
                let window = usize::from(seg.window) << shift;
                t.peer_window = Some(window);
                t.max_peer_window = t.max_peer_window.max(window);
            }
            if seq_gt(ack, t.snd_una) {
                // Data bytes this ACK newly covers: its advance, less our SYN and FIN,
                // which occupy sequence space but carry none (RFC 9293 §3.4).
                let mut acked = ack.wrapping_sub(t.snd_una) as usize;
                if t.syn_out && !t.syn_acked {
                    t.syn_acked = true;
                    acked = acked.saturating_sub(1);
                }
                if t.fin_out && ack == t.snd_max {
                    acked = acked.saturating_sub(1);
                }
                if acked > 0 {
                    conn.cwnd.on_ack(acked, now);
                }
                t.snd_una = ack;
                t.dup_acks = 0;
                if let Some((end, sent)) = t.timed {
                    if !seq_lt(ack, end) {
                        conn.rtt.on_sample(now - sent);
                        t.timed = None;
                    }
                }
                if t.recovery_until.is_some_and(|r| !seq_lt(ack, r)) {
                    t.recovery_until = None;
                }
            } else if ack == t.snd_una
                && seg.payload_len == 0
                && !seg.syn
                && !seg.fin
                && t.snd_max != t.snd_una
            {
                t.dup_acks += 1;
            }
        }
        if seg.payload_len > 0 {
            t.data_segments_in = t.data_segments_in.saturating_add(1);
        }
        if seg.payload_len > 0 || seg.fin {
            // RCV.NXT moves only over contiguous data: a segment beyond a hole waits
            // in smoltcp's reassembly buffer, and the ACKs smoltcp sends say when the
            // hole is filled (`on_segment_out`).
            let end = seg.seq_end();
            if !seq_gt(seg.seq, t.rcv_nxt) && seq_gt(end, t.rcv_nxt) {
                t.rcv_nxt = end;
            }
            if t.unacked_since.is_none() {
                t.unacked_since = Some(now);
            }
        }
        if seg.fin {
            t.fin_in = true;
            let crossed = t.fin_out && seg.ack.is_none_or(|ack| seq_lt(ack, t.snd_max));
            match conn.stats.closed_first {
                None => conn.stats.closed_first = Some(Closer::Peer),
                // The peer's FIN does not acknowledge ours: it was sent before ours
                // arrived, a simultaneous close.
                Some(Closer::Local) if crossed => conn.stats.closed_first = Some(Closer::Both),
                _ => {}
            }
        }
    }

    fn on_segment_out(&mut self, seg: &Segment) {
        let tuple = FourTuple {
            local_addr: seg.src_addr,
            local_port: seg.src_port,
            remote_addr: seg.dst_addr,
            remote_port: seg.dst_port,
        };
        let Some(&id) = self.live.get(&tuple) else {
            return;
        };
        let now = self.now;
        let delayed_ack = self.config.knobs.delayed_ack;
        let mss = self.mss_for(id);
        let conn = &mut self.conns[id.0];
        let t = &mut conn.track;
        let s = &mut conn.stats;
        s.segments_out += 1;
        s.bytes_out += seg.payload_len as u64;
        if seg.rst {
            s.resets_out += 1;
            return;
        }
        if seg.syn && !t.syn_out {
            t.syn_out = true;
            t.window_scale_sent = seg.window_scale.is_some();
            t.our_window_scale = seg.window_scale;
            t.snd_una = seg.seq;
            t.snd_max = seg.seq;
        }
        if seg.is_pure_ack() {
            s.pure_acks_out += 1;
            if let (Some(since), Some(delay)) = (t.unacked_since, delayed_ack) {
                if now - since >= delay {
                    s.delayed_acks += 1;
                }
            }
        }
        if let Some(ack) = seg.ack {
            if !seq_lt(ack, t.rcv_nxt) {
                t.unacked_since = None;
            }
            // smoltcp acknowledges exactly its RCV.NXT: after a hole is filled this
            // jumps over the data it had reassembled.
            if t.syn_seen && seq_gt(ack, t.rcv_nxt) {
                t.rcv_nxt = ack;
            }
        }
        if seg.seq_len() > 0 {
            if seq_lt(seg.seq, t.snd_max) && seg.syn {
                // The handshake's own timer (RFC 6298 §5 applies to the SYN too): not
                // a loss of data, so the window is left alone until the connection
                // is synchronized, where `on_handshake_retransmit` decides the
                // initial window.
                s.retransmissions += 1;
                s.syn_retransmits += 1;
                conn.cwnd.on_handshake_retransmit(s.syn_retransmits, now);
            } else if seq_lt(seg.seq, t.snd_max) {
                s.retransmissions += 1;
                t.timed = None;
                let flight = t.snd_max.wrapping_sub(t.snd_una) as usize;
                let ack_clocked = t.last_in_at == Some(now);
                if !ack_clocked && t.last_timeout_at != Some(now) {
                    t.last_timeout_at = Some(now);
                    // RFC 5681 §3.1: every timeout collapses the window to one segment.
                    s.timeouts += 1;
                    conn.cwnd.on_timeout(flight, now);
                    t.recovery_until = Some(t.snd_max);
                    self.window_updates.push(id);
                } else if t.dup_acks >= 3 && t.recovery_until.is_none() {
                    s.fast_retransmits += 1;
                    conn.cwnd.on_fast_retransmit(flight, now);
                    t.recovery_until = Some(t.snd_max);
                }
            } else if t.timed.is_none() && seg.payload_len > 0 {
                t.timed = Some((seg.seq_end(), now));
            }
            if seg.payload_len > 0 && seg.payload_len < mss {
                t.small_end = Some(seg.seq_end());
            }
            if seg.payload_len > 0 {
                // Idle time for slow-start restart runs from the last data sent
                // (Linux: `lsndtime`), including what smoltcp sends from its buffer.
                let rto = conn.rtt.rto();
                conn.cwnd.on_send(seg.payload_len, rto, now);
            }
            let end = seg.seq_end();
            if seq_gt(end, t.snd_max) {
                t.snd_max = end;
            }
        }
        if seg.fin && !t.fin_out {
            t.fin_out = true;
            if s.closed_first.is_none() {
                s.closed_first = Some(Closer::Local);
            }
        }
    }

    /// After smoltcp processed one segment of this connection: queue it for accept
    /// once the handshake is done, and refill the socket.
    fn after_ingress(&mut self, id: ConnId) {
        let Some(handle) = self.conns[id.0].handle else {
            return;
        };
        let socket = self.sockets.get::<tcp::Socket>(handle);
        let queue = socket.send_queue();
        // A handshake reset in SYN-RECEIVED leaves the socket in LISTEN: not done.
        let handshake_done = is_synchronized(socket.state());
        let conn = &mut self.conns[id.0];
        if conn.accept == Accept::Backlog && handshake_done {
            // The handshake completed: the connection enters the accept queue.
            conn.accept = Accept::Queued;
            if let Some(l) = self.listeners.get_mut(&conn.tuple.local_port) {
                l.accept_queue.push_back(id);
            }
        }
        conn.prev_send_queue = queue;
        self.top_up(id);
    }

    /// The MSS this connection sends with: the peer's MSS option, capped by our MTU.
    fn mss_for(&self, id: ConnId) -> usize {
        let peer = self.conns[id.0]
            .track
            .peer_mss
            .map_or(DEFAULT_MSS, usize::from);
        peer.min(self.mss())
    }

    /// The window field smoltcp may see from this connection's peer: the congestion
    /// window in the peer's window-scale units (rounded up, so a whole MSS fits), or
    /// `None` when slow start is off. smoltcp then sends at most min(rwnd, cwnd) past
    /// SND.UNA, retransmissions included (RFC 5681 §2, "send window").
    fn window_limit(&self, id: ConnId, syn: bool) -> Option<u16> {
        let conn = &self.conns[id.0];
        let cwnd = conn.cwnd.window();
        if cwnd == usize::MAX {
            return None;
        }
        let t = &conn.track;
        // A SYN's window is never scaled (RFC 7323 §2.2).
        let shift = match (syn, t.window_scale_sent, t.peer_window_scale) {
            (false, true, Some(s)) => u32::from(s.min(14)),
            _ => 0,
        };
        let units = cwnd.div_ceil(1usize << shift);
        Some(u16::try_from(units).unwrap_or(u16::MAX))
    }

    /// Tell smoltcp, as if from the peer, that the window is now the (collapsed)
    /// congestion window: a bare ACK of SND.UNA at RCV.NXT. smoltcp updates its send
    /// window from every acceptable segment and does not count a window change as a
    /// duplicate ACK, so this only stops the go-back-N burst after a timeout.
    fn send_window_update(&mut self, id: ConnId) {
        let Some(limit) = self.window_limit(id, false) else {
            return;
        };
        let conn = &self.conns[id.0];
        let Some(handle) = conn.handle else {
            return;
        };
        // smoltcp answers an ACK in SYN-SENT or SYN-RECEIVED with `RST seq=ISS`: the
        // window of an unsynchronized connection is never touched.
        if !is_synchronized(self.sockets.get::<tcp::Socket>(handle).state()) {
            return;
        }
        let t = &conn.track;
        let from_peer = Segment {
            src_addr: conn.tuple.remote_addr,
            src_port: conn.tuple.remote_port,
            dst_addr: conn.tuple.local_addr,
            dst_port: conn.tuple.local_port,
            seq: 0,
            ack: None,
            syn: false,
            fin: false,
            rst: false,
            psh: false,
            payload_len: 0,
            window: 0,
            mss: None,
            window_scale: None,
        };
        // smoltcp's sequence space, not the wire's.
        let snd_una = t.snd_una.wrapping_sub(t.isn_offset.unwrap_or(0));
        let frame = build_ack(
            self.config.medium,
            &t.link_header,
            &from_peer,
            t.rcv_nxt,
            snd_una,
            limit,
        );
        self.device.load(frame);
        self.iface
            .poll_ingress_single(self.now, &mut self.device, &mut self.sockets);
    }

    /// Move application data into smoltcp as far as the congestion window allows.
    fn top_up(&mut self, id: ConnId) {
        let mss = self.mss_for(id);
        let minshall = self.config.knobs.nagle == Nagle::Minshall;
        let now = self.now;
        let conn = &mut self.conns[id.0];
        let Some(handle) = conn.handle else {
            return;
        };
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        if !socket.may_send() {
            return;
        }
        if !conn.pending.is_empty() {
            let in_flight = socket.send_queue();
            if in_flight == 0 {
                conn.cwnd.on_send(0, conn.rtt.rto(), now);
            }
            let t = &conn.track;
            // smoltcp sends whatever it holds up to min(cwnd, rwnd) past SND.UNA, so
            // both limits are applied here, before the data reaches it.
            let cwnd_room = conn.cwnd.allowance(in_flight);
            let rwnd_room = t
                .peer_window
                .map_or(usize::MAX, |w| w.saturating_sub(in_flight));
            let allowance = cwnd_room.min(rwnd_room);
            let room = socket.send_capacity() - in_flight;
            let mut n = conn.pending.len().min(room);
            if n > allowance {
                // Whole segments only, as a packet-counting cwnd does and as Linux's
                // `tcp_snd_wnd_test` does at the edge of the peer's window: a
                // byte-exact allowance would cut a sub-MSS segment mid-stream.
                // Sender SWS avoidance (RFC 9293 §3.8.6.2.1) allows a partial
                // segment only when the peer's whole window is that small: at
                // least half the largest window it has offered.
                let small_window = rwnd_room < mss && rwnd_room >= t.max_peer_window / 2;
                n = if small_window {
                    allowance
                } else {
                    allowance / mss * mss
                };
                if n == 0 && in_flight == 0 {
                    // A closed window: smoltcp needs data to probe it with
                    // (RFC 9293 §3.8.6.1), or a lost window update would stall
                    // the connection for good.
                    n = conn.pending.len().min(room).min(mss);
                }
            }
            let small_in_flight = t.small_end.is_some_and(|end| seq_gt(end, t.snd_una));
            let unsent = in_flight.saturating_sub(t.snd_max.wrapping_sub(t.snd_una) as usize);
            if n < conn.pending.len() || conn.more {
                // Sender-side silly-window avoidance (RFC 9293 §3.8.6.2.1; Linux
                // `tcp_nagle_check`): while more data waits, here or in the
                // writer's hands, smoltcp gets whole segments only, so it never
                // sends a sub-MSS segment mid-stream because a queue happened to
                // end there.
                n -= ((unsent + n) % mss).min(n);
            }
            let tail = (unsent + n) % mss;
            if minshall && small_in_flight && tail > 0 {
                // Minshall: the sub-MSS tail waits while an earlier small segment is
                // unacknowledged; the ACK that frees it calls `top_up` again.
                n -= tail.min(n);
            }
            let mut moved = 0;
            while moved < n {
                let front = conn.pending.front();
                let take = front.len().min(n - moved);
                let sent = socket.send_slice(&front[..take]).unwrap_or(0);
                if sent == 0 {
                    break;
                }
                conn.pending.consume(sent);
                moved += sent;
            }
            conn.prev_send_queue = socket.send_queue();
        }
        if conn.pending.is_empty() && conn.write_shut && !conn.fin_queued {
            socket.close();
            conn.fin_queued = true;
        }
    }

    fn collect_tx(&mut self) {
        let mut frames = std::mem::take(&mut self.device.tx);
        for mut frame in frames.drain(..) {
            if let Some(mut seg) = Segment::parse(self.config.medium, &frame) {
                if let Some(delta) = self.outgoing_offset(&seg) {
                    shift_sequence(self.config.medium, &mut frame, false, delta);
                    seg.seq = seg.seq.wrapping_add(delta);
                }
                if self.beyond_syn_retries(&seg) {
                    self.device.recycle(frame);
                    continue;
                }
                self.on_segment_out(&seg);
            }
            self.out.push(frame);
        }
        // Keep the (now empty) list's allocation for the next round.
        if self.device.tx.is_empty() {
            self.device.tx = frames;
        }
    }

    /// Initial sequence numbers as Linux chooses them (`secure_tcp_seq`, after
    /// RFC 6528): a keyed hash of the 4-tuple plus a clock that ticks every 64 ns.
    /// smoltcp draws its ISN at random, and our layer shifts every segment of the
    /// connection by the difference (`shift_sequence`, both ways). Why it matters:
    /// a client that reuses its port for a new connection to the same server
    /// starts above the old connection's sequence numbers, so a server holding the
    /// tuple in TIME_WAIT takes the SYN as new (RFC 6191; see `time_wait`) where a
    /// random ISN would be refused half of the time and cost a SYN timeout.
    fn initial_sequence(&self, tuple: &FourTuple) -> u32 {
        let key = (u64::from(tuple.local_addr.to_bits()) << 32
            | u64::from(tuple.remote_addr.to_bits()))
            ^ (u64::from(tuple.local_port) << 16 | u64::from(tuple.remote_port));
        let hash = crate::rng::derive_seed(self.config.seed ^ ISN_SALT, key) as u32;
        let ticks = (self.now.total_micros().wrapping_mul(1000) >> 6) as u32;
        hash.wrapping_add(ticks)
    }

    /// The shift from smoltcp's sequence space to the wire's for a segment we are
    /// sending, chosen when the connection's SYN or SYN-ACK leaves.
    fn outgoing_offset(&mut self, seg: &Segment) -> Option<u32> {
        let tuple = FourTuple {
            local_addr: seg.src_addr,
            local_port: seg.src_port,
            remote_addr: seg.dst_addr,
            remote_port: seg.dst_port,
        };
        let id = *self.live.get(&tuple)?;
        if self.conns[id.0].track.isn_offset.is_none() && seg.syn && !seg.rst {
            let isn = self.initial_sequence(&tuple);
            self.conns[id.0].track.isn_offset = Some(isn.wrapping_sub(seg.seq));
        }
        self.conns[id.0].track.isn_offset
    }

    /// Transmit, then retire sockets whose part is over.
    fn egress(&mut self) {
        // Each call sends at most one segment per socket; the bound only guards against
        // a runaway.
        for _ in 0..100_000 {
            let r = self
                .iface
                .poll_egress(self.now, &mut self.device, &mut self.sockets);
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
    }

    fn retire_sockets(&mut self) {
        let handles: Vec<(SocketHandle, ConnId)> =
            self.by_handle.iter().map(|(h, c)| (*h, *c)).collect();
        for (handle, id) in handles {
            let socket = self.sockets.get_mut::<tcp::Socket>(handle);
            let state = socket.state();
            let conn = &mut self.conns[id.0];
            let done = match state {
                // An RST during the handshake sends smoltcp's socket back to LISTEN
                // on its own; its place in the pool was refilled when it took the
                // SYN, so it is freed, or it would swallow the next connection.
                tcp::State::Closed | tcp::State::Listen => true,
                // Take TIME_WAIT over once the ACK of the peer's FIN has left.
                tcp::State::TimeWait => conn.track.unacked_since.is_none(),
                _ => false,
            };
            if !done {
                continue;
            }
            // Keep unread input readable after the socket is gone.
            while socket.recv_queue() > 0 {
                let got = socket.recv(|d| {
                    conn.leftover.extend(d.iter());
                    (d.len(), d.len())
                });
                if !matches!(got, Ok(n) if n > 0) {
                    break;
                }
            }
            if state == tcp::State::TimeWait {
                self.time_wait
                    .hold(conn.tuple, conn.track.snd_max, conn.track.rcv_nxt, self.now);
                conn.time_wait_since = Some(self.now);
                if self.time_wait.two_msl() == Duration::ZERO {
                    conn.time_wait_until = Some(self.now);
                } else {
                    self.held_by.insert(conn.tuple, id);
                }
            } else if conn.error.is_none() && !conn.track.fin_in {
                // Closed without the peer's FIN: we aborted.
                conn.error = Some(SocketError::Aborted);
            }
            conn.finished = true;
            conn.handle = None;
            let tuple = conn.tuple;
            self.sockets.remove(handle);
            self.by_handle.remove(&handle);
            self.live.remove(&tuple);
        }
    }
}

/// Listening sockets kept per port. smoltcp has no accept queue: a SYN goes to a
/// socket in LISTEN, which becomes the connection; the host hands a fresh one to
/// the port before the next frame, so one is always enough. The backlog is
/// enforced on the accept queue instead ([`Host::listen_overflows`]).
pub const LISTEN_POOL: usize = 1;

/// Linux's three ARP probes a second apart (`mcast_solicit`, `retrans_time_ms`):
/// a neighbour that has not answered by then is unreachable.
const ARP_TIMEOUT: Duration = Duration::from_secs(3);
/// The initial RTO (RFC 6298 §2.1; smoltcp's and Linux's `TCP_TIMEOUT_INIT`).
const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Linux's `TCP_RTO_MAX`: the backoff of handshake retransmissions stops here.
const MAX_HANDSHAKE_RTO: Duration = Duration::from_secs(120);

/// How long a handshake with `retries` retransmissions lasts before it is given up:
/// the initial RTO doubled after each try, summed over the first transmission and
/// every retransmission (Linux `tcp_write_timeout` / `retransmits_timed_out`):
/// 6 retries = 1 + 2 + 4 + 8 + 16 + 32 + 64 = 127 s.
fn handshake_limit(retries: u32) -> Duration {
    let mut total = Duration::ZERO;
    let mut rto = INITIAL_RTO;
    for _ in 0..=retries.min(64) {
        total += rto;
        rto = (rto * 2).min(MAX_HANDSHAKE_RTO);
    }
    total
}

/// What a handshake deadline checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum HandshakeCheck {
    /// The SYN left: the next hop answered ARP.
    Resolved,
    /// The handshake completed within its retransmissions.
    Answered,
}

/// What the RFC 5961 screen does with an arriving segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Screen {
    /// Hand it to TCP.
    Pass,
    /// Discard it without an answer.
    Drop,
    /// Discard it and send a challenge ACK.
    ChallengeAck,
    /// Discard it: it would complete a handshake, and the accept queue is full.
    Overflow,
}

/// Whether both sides' initial sequence numbers are known and acknowledged
/// (RFC 9293 §3.3.2: ESTABLISHED and every state after it).
fn is_synchronized(state: tcp::State) -> bool {
    !matches!(
        state,
        tcp::State::Closed | tcp::State::Listen | tcp::State::SynSent | tcp::State::SynReceived
    )
}

fn ms_since(epoch: Instant, t: Instant) -> f64 {
    (t - epoch).total_micros() as f64 / 1000.0
}
