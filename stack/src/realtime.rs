//! Real time: one host on a frame device (a [`TapDevice`]), driven by the wall clock,
//! with the same applications and the same settle-at-each-instant loop as
//! [`SimNet::run`](crate::sim::SimNet::run) (one routine serves both; this runner's
//! part is where frames go and when to wake).
//!
//! This is the only module that reads a clock. A [`Clock`] fixes the run's epoch; the
//! host is created with [`Clock::now`] and every later `now` comes from the same clock,
//! so the host's timestamps are milliseconds since that epoch, as in the sim.
//!
//! The loop waits in ppoll(2) on the device descriptor, the [`Stop`] wake-up
//! descriptor and a timerfd armed for the next deadline: the host's `poll_at`, the
//! applications' own deadlines, the next in-process link delivery, the time limit.
//! Timers therefore fire within the wake-up latency (tens of microseconds: the
//! thread's timer slack is set to 1 us) and an idle run sleeps: no busy loop, no
//! fixed ticks. The timerfd is re-armed only when the next deadline moves earlier, so
//! a request/response exchange costs a ppoll, a read or two and a write per wake-up.
//!
//! Frames already waiting on the device when the loop gets to them are handed to the
//! host together, up to [`RealtimeOptions::rx_batch`], and answered after the last of
//! them, as a Linux NAPI poll with GRO handles a burst; a frame that arrives alone is
//! settled alone. README "Performance" has the figures and what bounds them.
//!
//! Optional in-process impairment: IPv4 frames from the host pass through a
//! [`LinkDirection`](crate::link::LinkDirection) before they are written to the device (TX), IPv4 frames read from
//! the device pass through another before the host sees them (RX). The added delay and
//! loss stand for a path beyond the local segment, so ARP (and anything else that is
//! not IPv4), which a real network resolves on the segment, passes at once and is never
//! dropped: the first connection does not pay the added RTT twice. Both directions are
//! seeded, so the loss pattern of a run depends only on its IPv4 frame sequence. A
//! capture wraps the device ([`CapturedDevice`]) and records frames as they cross it
//! (after TX delay, before RX delay), stamped with wall time so it lines up with a
//! tcpdump taken on the kernel side.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use smoltcp::phy::Medium;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

use crate::capture::CapturedDevice;
use crate::host::{Host, HostConfig};
use crate::knobs::Knobs;
use crate::link::{LinkProfile, LinkStats};
use crate::rng::derive_seed;
use crate::segment::Segment;
use crate::settle::{next_deadline_ns, settle, AppDeadlines, Hosts, Outlet, Overdue, RoundTrace};
use crate::sim::AppSlot;
use crate::tap::TapDevice;
use crate::trace::Tracer;
use added_path::AddedPath;
use wait::{wait, Timer};

mod added_path;
#[cfg(test)]
mod tests;
mod wait;

/// Frames read per wake-up before timers get their turn again; the descriptor stays
/// readable, so the rest are read at once on the next turn.
const MAX_READS_PER_WAKE: usize = 256;
/// Largest [`RealtimeOptions::rx_batch`], and its default: Linux's NAPI poll budget
/// (`dev_weight`).
pub const MAX_RX_BATCH: usize = 64;
/// Largest frame read: a TAP delivers at most MTU + 14 bytes; this covers any MTU.
const READ_BUFFER: usize = 65_536 + 14;
/// A deadline already due right after a settle means "poll again soon"; if that keeps
/// happening with no frame moving, the stack is asking for a spin: wait this long
/// instead of spinning on a core.
const SPIN_GUARD_WAIT_NS: u64 = 1_000_000;
/// Consecutive due-at-once wake-ups without frames before the spin guard applies.
const SPIN_GUARD_AFTER: u32 = 64;
/// Flush the capture before a wait at least this long (or an unbounded one), so it can
/// be read while the run continues without a write per frame on busy paths.
const CAPTURE_FLUSH_WAIT_NS: u64 = 10_000_000;
/// Timer slack for the runner's thread, in ns (Linux default: 50,000).
const TIMER_SLACK_NS: libc::c_ulong = 1_000;
/// Seed streams of the two in-process link directions.
const TX_STREAM: u64 = 1;
const RX_STREAM: u64 = 2;

/// How a host on a TAP is configured: Ethernet with ARP (the kernel on the other side
/// is an ordinary Ethernet neighbour), the device's IP `mtu`, and a locally
/// administered unicast MAC made from the address, 02:74:6b ("tk") and its last three
/// bytes, so a capture shows at a glance which frames are the lab's.
pub fn tap_host_config(
    addr: Ipv4Cidr,
    gateway: Option<Ipv4Address>,
    mtu: usize,
    seed: u64,
    knobs: Knobs,
) -> HostConfig {
    let [_, b, c, d] = addr.address().octets();
    HostConfig {
        name: format!("tap {addr}"),
        addr,
        medium: Medium::Ethernet,
        mac: EthernetAddress([0x02, 0x74, 0x6b, b, c, d]),
        gateway,
        mtu,
        seed,
        knobs,
        checksums: true,
    }
}

/// A run's epoch and the wall clock, read only here.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: StdInstant,
    /// Unix time of `start`, in ns, for capture timestamps.
    wall_start_ns: u64,
}

impl Clock {
    /// A clock whose epoch is now (`Clock::now()` starts at 0).
    pub fn start() -> Clock {
        let wall_start_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Clock {
            start: StdInstant::now(),
            wall_start_ns,
        }
    }

    /// Time since the epoch, as the host takes it (smoltcp counts microseconds).
    pub fn now(&self) -> Instant {
        Instant::from_micros((self.elapsed_ns() / 1000) as i64)
    }

    /// Time since the epoch in ns.
    pub fn elapsed_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A number that differs from run to run (the epoch's Unix time in ns): a default
    /// seed for real-time runs, whose initial sequence numbers must not repeat the
    /// last run's toward a peer that may still hold those tuples in TIME_WAIT.
    pub fn run_seed(&self) -> u64 {
        self.wall_start_ns
    }

    /// Unix time in ns of a moment `elapsed_ns` after the epoch.
    pub(crate) fn wall_ns(&self, elapsed_ns: u64) -> u64 {
        self.wall_start_ns.saturating_add(elapsed_ns)
    }
}

/// Asks a run to stop, from another thread or a signal handler thread (the `ctrlc`
/// crate runs its handler on a thread of its own). Setting the flag alone would not
/// wake a run sleeping in ppoll(2) until its next deadline, which may be never; so
/// [`Stop::request`] also writes a byte to a socket the run waits on.
#[derive(Clone, Debug)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    wake_tx: Arc<UnixStream>,
    wake_rx: Arc<UnixStream>,
}

impl Stop {
    /// A stop that has not been requested.
    pub fn new() -> io::Result<Stop> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Stop {
            flag: Arc::new(AtomicBool::new(false)),
            wake_tx: Arc::new(tx),
            wake_rx: Arc::new(rx),
        })
    }

    /// Ask the run to stop; it returns [`RealtimeEnd::Stopped`] promptly.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // A full socket buffer already holds a wake-up: nothing to add.
        let _ = (&*self.wake_tx).write(&[1]);
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// The flag itself, for code that only polls it.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }

    fn wake_fd(&self) -> RawFd {
        self.wake_rx.as_raw_fd()
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&*self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Something that moves whole Ethernet frames and can be waited on with poll(2): a
/// [`TapDevice`], or in tests one end of a datagram socket pair.
pub trait FrameDevice: AsRawFd {
    /// One frame into `buf`, or `Ok(None)` when none is waiting (non-blocking).
    fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// Send one frame; `WouldBlock` means it was dropped (queue full).
    fn write_frame(&mut self, frame: &[u8]) -> io::Result<()>;
    /// A name for error messages.
    fn name(&self) -> &str;
}

impl FrameDevice for TapDevice {
    fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        TapDevice::read_frame(self, buf)
    }

    fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        TapDevice::write_frame(self, frame)
    }

    fn name(&self) -> &str {
        TapDevice::name(self)
    }
}

/// A tracer a real-time run can share with the code that reads it afterwards.
pub type SharedTracer = Arc<Mutex<dyn Tracer + Send>>;

/// How a real-time run goes.
pub struct RealtimeOptions {
    /// The clock the host was created with.
    pub clock: Clock,
    /// In-process impairment of frames from the host to the device.
    pub tx: LinkProfile,
    /// In-process impairment of frames from the device to the host.
    pub rx: LinkProfile,
    /// Seed of the in-process loss decisions.
    pub seed: u64,
    /// Capture the frames crossing the device to this file (Ethernet, ns): pcapng
    /// with one interface named after the device if the name ends in `.pcapng`,
    /// classic pcap otherwise.
    pub pcap: Option<PathBuf>,
    /// Where the host's event trace goes ([`crate::trace`]), stamped with the run's
    /// clock (ns since it started); `None`: no trace.
    pub tracer: Option<SharedTracer>,
    /// Stop when requested (Ctrl-C, SIGTERM).
    pub stop: Option<Stop>,
    /// Stop after this long.
    pub time_limit: Option<StdDuration>,
    /// Once the client applications are done, wait at most this long for the host's
    /// closing handshakes (so every connection's figures are final, and the peer is
    /// not left retransmitting a FIN to nobody).
    pub linger: StdDuration,
    /// Frames handed to the host before it is polled, at most (1 to [`MAX_RX_BATCH`]).
    ///
    /// [`MAX_RX_BATCH`], the default: frames already waiting in the device (never frames
    /// still to come) are handed over up to N at a time, each processed by TCP in turn,
    /// and the host transmits once after the last, as a Linux NAPI poll takes up to 64
    /// packets and GRO coalesces a burst of in-order segments so it is acknowledged
    /// once. As in GRO, a segment with PSH, SYN, FIN or RST (or a frame that is not
    /// TCP) ends the burst. A frame that arrives alone is processed alone, so exchanges
    /// of a segment at a time (the Nagle and delayed-ACK experiments) are the same
    /// either way, down to the system calls; a bulk transfer that outruns the stack
    /// needs far fewer ACKs (each ACK written to a TAP runs the kernel sender's whole
    /// ACK path inside our write(2)). 1: every frame is processed and answered on its
    /// own before the next is read, as a kernel without GRO does, so a bulk receiver
    /// acknowledges every second full segment (RFC 1122 §4.2.3.2) however far behind
    /// it is.
    pub rx_batch: usize,
}

impl RealtimeOptions {
    /// No impairment, no capture, no stop, no limit, a 2 s linger.
    pub fn new(clock: Clock) -> RealtimeOptions {
        RealtimeOptions {
            clock,
            tx: transparent(),
            rx: transparent(),
            seed: 1,
            pcap: None,
            tracer: None,
            stop: None,
            time_limit: None,
            linger: StdDuration::from_secs(2),
            rx_batch: MAX_RX_BATCH,
        }
    }

    /// Add `rtt` (split evenly: half on each direction) and independent loss `loss` on
    /// each direction inside the process, on top of whatever the real path has. Only
    /// IPv4 frames are delayed or dropped: ARP stays on the local segment.
    pub fn add_impairment(&mut self, rtt: StdDuration, loss: f64) {
        let one_way_delay_ns = u64::try_from(rtt.as_nanos() / 2).unwrap_or(u64::MAX);
        for link in [&mut self.tx, &mut self.rx] {
            link.one_way_delay_ns = one_way_delay_ns;
            link.loss = loss;
        }
    }
}

/// An in-process link that delays nothing and drops nothing (not even large frames:
/// the device enforces its own MTU).
fn transparent() -> LinkProfile {
    LinkProfile {
        mtu: usize::MAX,
        ..LinkProfile::default()
    }
}

/// How a real-time run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RealtimeEnd {
    /// Every client application reported done (and the closing handshakes finished or
    /// the linger ran out).
    Done,
    /// [`Stop::request`] was called.
    Stopped,
    /// The time limit passed.
    TimeLimit,
}

/// What a real-time run did.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RealtimeRun {
    /// How it ended.
    pub end: RealtimeEnd,
    /// Frames read from the device.
    pub frames_read: u64,
    /// Frames written to the device.
    pub frames_written: u64,
    /// Frames the device refused (its queue was full).
    pub write_drops: u64,
    /// The in-process path from the host to the device.
    pub tx: LinkStats,
    /// The in-process path from the device to the host.
    pub rx: LinkStats,
    /// Times the loop woke up (a measure of CPU use when idle).
    pub wakeups: u64,
    /// Times the spin guard made the loop wait instead of spinning (should stay 0).
    pub spin_guards: u64,
}

/// Run `apps` on `host` over `device` in real time until every client application is
/// done, a stop is requested, or the time limit passes. With only servers, only a
/// stop or the limit ends it. `AppSlot::host` is ignored: every application runs on
/// `host`, which must have been created with `options.clock.now()`.
///
/// Frames already waiting, up to [`RealtimeOptions::rx_batch`], are read and handed
/// over before one settle (host and applications polled until quiet, frames due
/// written at once); with `rx_batch` 1 every frame gets its own settle before the next
/// one is even read.
pub fn run<D: FrameDevice>(
    host: &mut Host,
    apps: &mut [AppSlot<'_>],
    device: &mut D,
    options: &RealtimeOptions,
) -> io::Result<RealtimeRun> {
    let clock = options.clock;
    // Wake-ups at the requested time, not up to the default 50 us timer slack later
    // (prctl(2) PR_SET_TIMERSLACK; this thread only). Best effort.
    // SAFETY: integer arguments only.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0) };
    let device = CapturedDevice::new(device, options.pcap.as_deref(), clock)?;
    host.set_tracing(options.tracer.is_some());
    let mut wire = Wire {
        device,
        clock,
        tracer: options.tracer.clone(),
        round: RoundTrace::default(),
        rx: AddedPath::new(options.rx.clone(), derive_seed(options.seed, RX_STREAM)),
        tx: AddedPath::new(options.tx.clone(), derive_seed(options.seed, TX_STREAM)),
        buf: vec![0; READ_BUFFER],
        report: RealtimeRun {
            end: RealtimeEnd::Done,
            frames_read: 0,
            frames_written: 0,
            write_drops: 0,
            tx: LinkStats::default(),
            rx: LinkStats::default(),
            wakeups: 0,
            spin_guards: 0,
        },
    };
    let limit_ns = options.time_limit.map(|d| {
        clock
            .elapsed_ns()
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    });
    let linger_ns = u64::try_from(options.linger.as_nanos()).unwrap_or(u64::MAX);
    let has_clients = apps.iter().any(|s| !s.is_server);
    let has_servers = apps.iter().any(|s| s.is_server);
    let mut deadlines = AppDeadlines::new(apps.len());
    let mut clients_done_at: Option<u64> = None;
    let mut due_in_a_row = 0u32;
    let mut timer = Timer::new()?;
    let batch = options.rx_batch.clamp(1, MAX_RX_BATCH);

    let end = loop {
        wire.report.wakeups += 1;
        let mut moved = false;
        let mut settled = false;
        let mut reads = 0;
        let mut now_ns;
        // Read a frame (or a burst of up to `batch`), then settle each batch of frames
        // that is due; at least one settle per wake-up (timers); read again until the
        // device is empty or this turn's bound is reached.
        loop {
            let read = wire.read_device(host, batch.min(MAX_READS_PER_WAKE - reads))?;
            reads += read;
            moved |= read > 0;
            loop {
                now_ns = clock.elapsed_ns();
                let mut delivered = 0;
                while delivered < batch {
                    let Some(frame) = wire.rx.pop_arrived(now_ns) else {
                        break;
                    };
                    host.receive_frame(frame);
                    delivered += 1;
                }
                if delivered == 0 && settled {
                    break;
                }
                moved |= settle(Hosts::One(host), apps, &mut deadlines, &mut wire, now_ns)?;
                settled = true;
                if delivered == 0 {
                    break;
                }
            }
            if read == 0 || reads >= MAX_READS_PER_WAKE {
                break;
            }
        }

        if options.stop.as_ref().is_some_and(Stop::is_requested) {
            break RealtimeEnd::Stopped;
        }
        let quiet = wire.rx.next_arrival_ns().is_none() && wire.tx.next_arrival_ns().is_none();
        if has_clients && quiet && apps.iter().all(|s| s.is_server || s.app.is_done()) {
            let since = *clients_done_at.get_or_insert(now_ns);
            // Without a server on this host, no smoltcp socket left means every
            // connection finished its FIN exchange (or sits in our TIME_WAIT table).
            let settled = has_servers || host.socket_count() == 0;
            if settled || now_ns >= since.saturating_add(linger_ns) {
                break RealtimeEnd::Done;
            }
        } else {
            clients_done_at = None;
        }
        if limit_ns.is_some_and(|l| now_ns >= l) {
            break RealtimeEnd::TimeLimit;
        }

        // Sleep until the next deadline or a frame.
        let others = [
            wire.rx.next_arrival_ns(),
            wire.tx.next_arrival_ns(),
            limit_ns,
            clients_done_at.map(|since| since.saturating_add(linger_ns)),
        ];
        let hosts = std::slice::from_mut(&mut *host);
        let mut next = next_deadline_ns(
            hosts,
            &deadlines,
            Overdue::Now,
            others.into_iter().flatten(),
        );
        match next {
            Some(t) if t <= now_ns && !moved => {
                // Due already, though this instant was just settled.
                due_in_a_row += 1;
                if due_in_a_row > SPIN_GUARD_AFTER {
                    wire.report.spin_guards += 1;
                    next = Some(now_ns + SPIN_GUARD_WAIT_NS);
                }
            }
            _ => due_in_a_row = 0,
        }
        let before_wait_ns = clock.elapsed_ns();
        if next.is_none_or(|t| t.saturating_sub(before_wait_ns) >= CAPTURE_FLUSH_WAIT_NS) {
            wire.device.flush()?;
        }
        wait(
            wire.device.as_raw_fd(),
            options.stop.as_ref().map(Stop::wake_fd),
            &mut timer,
            next,
            clock,
        )?;
    };

    if let Some(stop) = &options.stop {
        stop.drain();
    }
    wire.device.flush()?;
    let mut report = wire.report;
    report.end = end;
    report.tx = wire.tx.stats().clone();
    report.rx = wire.rx.stats().clone();
    Ok(report)
}

/// The device side of a run: the device (captured or not), the in-process links, the
/// trace, counts.
struct Wire<'d, D> {
    device: CapturedDevice<'d, D>,
    clock: Clock,
    tracer: Option<SharedTracer>,
    /// The events of the round under way (kept for the allocation).
    round: RoundTrace,
    rx: AddedPath,
    tx: AddedPath,
    report: RealtimeRun,
    /// Read buffer, large enough for any frame.
    buf: Vec<u8>,
}

impl<D: FrameDevice> Wire<'_, D> {
    /// Read up to `max` frames the device holds into the RX link, each stamped as it is
    /// read (in buffers `host` has spare), stopping after a frame that ends a burst as
    /// GRO would ([`Segment::ends_burst`], or not TCP): a request is answered without
    /// first asking the device for a frame that is almost never there. How many were
    /// read.
    fn read_device(&mut self, host: &mut Host, max: usize) -> io::Result<usize> {
        let mut count = 0;
        while count < max {
            let read = self.device.read_frame(&mut self.buf).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("reading from {}: {e}", self.device.name()),
                )
            })?;
            let Some(n) = read else {
                break;
            };
            let at = self.clock.elapsed_ns();
            let mut frame = host.frame_buffer();
            frame.extend_from_slice(&self.buf[..n]);
            self.report.frames_read += 1;
            count += 1;
            // Only worth a look when another read would follow (not with `rx_batch` 1).
            let ends_burst = count < max
                && Segment::parse(Medium::Ethernet, &frame).is_none_or(|seg| seg.ends_burst());
            self.rx.transmit(at, frame);
            if ends_burst {
                break;
            }
        }
        self.device.check()?;
        Ok(count)
    }

    /// Write the frames whose in-process delay is over, each stamped as written, and
    /// give their buffers back to `host`.
    fn write_due(&mut self, host: &mut Host) -> io::Result<()> {
        // A transparent link has every frame due at once: no clock read per frame.
        let mut now_ns = self.clock.elapsed_ns();
        loop {
            let frame = match self.tx.pop_arrived(now_ns) {
                Some(frame) => frame,
                None if self.tx.next_arrival_ns().is_some() => {
                    now_ns = self.clock.elapsed_ns();
                    match self.tx.pop_arrived(now_ns) {
                        Some(frame) => frame,
                        None => break,
                    }
                }
                None => break,
            };
            let written = self.device.write_frame(&frame);
            let name = self.device.name();
            match written {
                Ok(()) => self.report.frames_written += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.report.write_drops += 1,
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    return Err(io::Error::other(format!(
                        "{name} went down (bring it up with sudo ip link set {name} up)"
                    )));
                }
                Err(e) => return Err(io::Error::new(e.kind(), format!("writing to {name}: {e}"))),
            }
            host.recycle_frame(frame);
        }
        self.device.check()
    }
}

impl<D: FrameDevice> Outlet for Wire<'_, D> {
    type Error = io::Error;

    fn trace(&mut self) -> Option<&mut RoundTrace> {
        self.tracer.is_some().then_some(&mut self.round)
    }

    /// Offer the frames to the TX path, each stamped with the instant.
    fn send(
        &mut self,
        _from: usize,
        _host: &mut Host,
        frames: &mut Vec<Vec<u8>>,
        now_ns: u64,
    ) -> io::Result<()> {
        for frame in frames.drain(..) {
            self.tx.transmit(now_ns, frame);
        }
        Ok(())
    }

    /// Hand the round's events to the tracer, then write the frames due (the host
    /// gets their buffers back).
    fn end_round(&mut self, hosts: &mut [Host]) -> io::Result<()> {
        if let Some(tracer) = &self.tracer {
            if !self.round.events().is_empty() {
                if let Ok(mut t) = tracer.lock() {
                    t.events(self.round.events());
                }
            }
        }
        for host in hosts {
            self.write_due(host)?;
        }
        Ok(())
    }
}
