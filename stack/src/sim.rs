//! The simulated network: hosts joined by emulated links, driven by a virtual clock.
//!
//! Discrete-event: the clock jumps to the earliest deadline (a frame arriving, a host
//! timer from smoltcp's `poll_at`, an application's own timeout); nothing sleeps and
//! nothing reads the wall clock, so the same inputs and seed give the same run, byte
//! for byte, as fast as the CPU allows. The shape follows smoltcp's `tests/netsim.rs`
//! and quinn-proto's test `Pair`, with many connections per host.
//!
//! Every pair of hosts has a link in each direction with the same [`LinkProfile`]; a
//! frame goes straight to the host owning its destination address (raw IP, so the
//! first packet pays no ARP round trip).

use std::collections::BTreeMap;
use std::io::Write;

use smoltcp::phy::Medium;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv4Packet};

use crate::comment::Narrator;
use crate::host::{Host, HostConfig};
use crate::knobs::Knobs;
use crate::link::Transmit;
use crate::link::{LinkDirection, LinkProfile, LinkStats};
use crate::pcap::{Capture, CaptureError, CaptureFormat, InterfaceId, LinkType};
use crate::rng::derive_seed;
use crate::trace::{Event, EventKind, FrameRef, LinkFate, Tracer};

/// Index of a host in a [`SimNet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostId(pub usize);

/// Something that runs on a host and uses its sockets: an HTTP client, server or
/// proxy. Sans-IO: it only reacts when polled.
pub trait Application {
    /// Make all progress possible at the host's current time. Returns the latest time
    /// at which the application wants to be polled again even if nothing happens on
    /// the network (a timeout, a think time), or `None`.
    fn poll(&mut self, host: &mut Host) -> Option<Instant>;

    /// Whether the application has finished its work; the run ends when every
    /// application that is not a server has.
    fn is_done(&self) -> bool;
}

/// How a [`SimNet::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every application reported done.
    Done,
    /// Nothing left to happen (no frame in flight, no timer) yet not done: a hang.
    Stalled,
    /// The virtual-time limit was reached.
    TimeLimit,
}

/// One application and the host it runs on, for [`SimNet::run`].
pub struct AppSlot<'a> {
    /// The host.
    pub host: HostId,
    /// The application.
    pub app: &'a mut dyn Application,
    /// Servers run forever; only the others decide when the run is over.
    pub is_server: bool,
}

/// A fault rule (the idea of turmoil's `Rule -> Verdict`): called for every frame a
/// host puts on a link, with the virtual time in ns, sender and receiver; returning
/// true drops the frame (it still appears in the capture, as sent, with a comment in
/// pcapng). For tests that need one particular loss rather than a random one.
pub type FaultRule = Box<dyn FnMut(u64, HostId, HostId, &[u8]) -> bool>;

/// Settling rounds at one instant before the loop gives up on quiescence; each round
/// moves at least one frame, so only a feedback storm could reach it.
const MAX_ROUNDS_PER_INSTANT: usize = 10_000;

/// The simulated network. See the module docs.
pub struct SimNet {
    hosts: Vec<Host>,
    links: BTreeMap<(usize, usize), LinkDirection>,
    routes: BTreeMap<Ipv4Address, usize>,
    profile: LinkProfile,
    seed: u64,
    now_ns: u64,
    capture: Option<SimCapture>,
    capture_error: Option<CaptureError>,
    fault: Option<FaultRule>,
    /// Where the trace goes, when one is kept.
    tracer: Option<Box<dyn Tracer>>,
    /// Words for each frame of a pcapng capture, from the trace.
    narrator: Option<Narrator>,
    /// Events of the round under way, stamped.
    trace_round: Vec<Event>,
    /// One host's events, before stamping (kept for its allocation).
    trace_kinds: Vec<EventKind>,
}

/// The first address of the simulated subnet (TEST-NET-1, RFC 5737: it never leaves
/// the process, and could not be routed anywhere if it did).
pub const SUBNET_BASE: [u8; 4] = [192, 0, 2, 0];

impl SimNet {
    /// An empty network whose links all follow `profile`; `seed` drives loss and
    /// initial sequence numbers.
    pub fn new(profile: LinkProfile, seed: u64) -> SimNet {
        SimNet {
            hosts: Vec::new(),
            links: BTreeMap::new(),
            routes: BTreeMap::new(),
            profile,
            seed,
            now_ns: 0,
            capture: None,
            capture_error: None,
            fault: None,
            tracer: None,
            narrator: None,
            trace_round: Vec::new(),
            trace_kinds: Vec::new(),
        }
    }

    /// Record the event trace ([`crate::trace`]) of every host and link from now on,
    /// handing it to `tracer` after each round of every instant, in order.
    pub fn set_tracer(&mut self, tracer: Box<dyn Tracer>) {
        for host in &mut self.hosts {
            host.set_tracing(true);
        }
        self.tracer = Some(tracer);
    }

    /// Stamp the round's host events with the instant and hand them, with the link
    /// events already stamped, to the tracer.
    fn collect_trace(&mut self) {
        if !self.tracing() {
            return;
        }
        for (index, host) in self.hosts.iter_mut().enumerate() {
            host.take_trace(&mut self.trace_kinds);
            self.trace_round
                .extend(self.trace_kinds.drain(..).map(|kind| Event {
                    at_ns: self.now_ns,
                    host: index,
                    kind,
                }));
        }
        if let Some(n) = self.narrator.as_mut() {
            n.read(&self.trace_round);
        }
    }

    /// Hand the round's events, the host events collected before its frames went
    /// out and then the link's, to the tracer.
    fn drain_trace(&mut self) {
        if let Some(tracer) = self.tracer.as_mut() {
            if !self.trace_round.is_empty() {
                tracer.events(&self.trace_round);
            }
        }
        self.trace_round.clear();
        if let Some(n) = self.narrator.as_mut() {
            n.end_round();
        }
    }

    /// Whether events are recorded: for a tracer, or for the capture's comments.
    fn tracing(&self) -> bool {
        self.tracer.is_some() || self.narrator.is_some()
    }

    /// Add a host at the next address of 192.0.2.0/24, linked to every host so far.
    pub fn add_host(&mut self, name: &str, knobs: Knobs) -> HostId {
        let index = self.hosts.len();
        let [a, b, c, _] = SUBNET_BASE;
        let addr = Ipv4Address::new(a, b, c, (index + 1) as u8);
        let config = HostConfig {
            name: name.to_string(),
            addr: Ipv4Cidr::new(addr, 24),
            medium: Medium::Ip,
            mac: EthernetAddress([0x02, 0, 0, 0, 0, (index + 1) as u8]),
            gateway: None,
            mtu: self.profile.mtu,
            seed: derive_seed(self.seed, 1000 + index as u64),
            knobs,
        };
        let mut host = Host::new(config, self.now());
        host.set_tracing(self.tracing());
        self.hosts.push(host);
        if let Some(c) = self.capture.as_mut() {
            if let Err(e) = c.add_host(name) {
                self.capture_error.get_or_insert(e);
            }
        }
        self.routes.insert(addr, index);
        for other in 0..index {
            for (from, to) in [(other, index), (index, other)] {
                let seed = derive_seed(self.seed, (from * 256 + to) as u64);
                self.links
                    .insert((from, to), LinkDirection::new(self.profile.clone(), seed));
            }
        }
        HostId(index)
    }

    /// A host.
    pub fn host(&self, id: HostId) -> &Host {
        &self.hosts[id.0]
    }

    /// A host, mutably (to open connections or listen before a run).
    pub fn host_mut(&mut self, id: HostId) -> &mut Host {
        &mut self.hosts[id.0]
    }

    /// Record every frame, stamped with the time its sender put it on the link, in
    /// `format`; in pcapng each sending host is an interface named after it, and every
    /// frame carries a comment saying why it was sent and, if the link or a fault
    /// rule dropped it, that too ([`crate::comment`]).
    pub fn capture_to(
        &mut self,
        out: Box<dyn Write>,
        format: CaptureFormat,
    ) -> Result<(), CaptureError> {
        let mut capture = SimCapture {
            writer: Capture::new(out, format)?,
            interfaces: Vec::new(),
        };
        for host in &self.hosts {
            capture.add_host(host.name())?;
        }
        if format == CaptureFormat::Pcapng {
            // Comments need the trace's reasons: record them for the capture.
            self.narrator = Some(Narrator::new());
            for host in &mut self.hosts {
                host.set_tracing(true);
            }
        }
        self.capture = Some(capture);
        Ok(())
    }

    /// Flush the capture and report any write error that happened during the run.
    pub fn finish_capture(&mut self) -> Result<(), CaptureError> {
        if let Some(e) = self.capture_error.take() {
            return Err(e);
        }
        match self.capture.take() {
            Some(mut c) => c.writer.flush(),
            None => Ok(()),
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        Instant::from_micros((self.now_ns / 1000) as i64)
    }

    /// Figures of every link together: what the wire did to the run's frames.
    pub fn wire_stats(&self) -> LinkStats {
        let mut total = LinkStats::default();
        for l in self.links.values() {
            let s = l.stats();
            total.frames_sent += s.frames_sent;
            total.frames_delivered += s.frames_delivered;
            total.bytes_delivered += s.bytes_delivered;
            total.dropped_loss += s.dropped_loss;
            total.dropped_queue += s.dropped_queue;
            total.dropped_oversize += s.dropped_oversize;
        }
        total
    }

    /// Drop the frames `rule` picks, from now on.
    pub fn set_fault(&mut self, rule: FaultRule) {
        self.fault = Some(rule);
    }

    /// Run until every client application is done, nothing more can happen, or the
    /// clock passes `limit`.
    pub fn run(&mut self, apps: &mut [AppSlot<'_>], limit: Instant) -> RunEnd {
        let mut deadlines: Vec<Option<Instant>> = vec![None; apps.len()];
        loop {
            let now = self.now();
            self.deliver();
            for _ in 0..MAX_ROUNDS_PER_INSTANT {
                for host in &mut self.hosts {
                    host.poll(now);
                }
                for (slot, deadline) in apps.iter_mut().zip(deadlines.iter_mut()) {
                    *deadline = slot.app.poll(&mut self.hosts[slot.host.0]);
                }
                self.collect_trace();
                let moved = self.transmit();
                self.drain_trace();
                if !moved && !self.hosts.iter().any(Host::has_pending_input) {
                    break;
                }
            }
            // Done once the clients are and the wire is quiet, so closing handshakes
            // complete and every connection's figures are final.
            let quiet = self.links.values().all(|l| l.next_arrival_ns().is_none());
            if quiet && apps.iter().all(|s| s.is_server || s.app.is_done()) {
                return RunEnd::Done;
            }
            let Some(next_ns) = self.next_event_ns(&deadlines) else {
                return RunEnd::Stalled;
            };
            if next_ns > limit.total_micros().max(0) as u64 * 1000 {
                return RunEnd::TimeLimit;
            }
            self.now_ns = next_ns;
        }
    }

    fn deliver(&mut self) {
        for (&(from, to), link) in self.links.iter_mut() {
            while let Some((frame_number, frame)) = link.pop_arrived_numbered(self.now_ns) {
                let from = FrameRef {
                    host: from,
                    frame: frame_number,
                };
                self.hosts[to].receive_frame_from(frame, from);
            }
        }
    }

    /// Put every frame the hosts sent on its link; true if any moved.
    fn transmit(&mut self) -> bool {
        let mut moved = false;
        for from in 0..self.hosts.len() {
            let frames = self.hosts[from].take_frames();
            let first_number = self.hosts[from].frames_out() - frames.len() as u64;
            for (frame_number, frame) in (first_number..).zip(frames) {
                moved = true;
                let captured = self.capture.is_some().then(|| frame.clone());
                let dst = Ipv4Packet::new_checked(&frame[..])
                    .ok()
                    .and_then(|p| self.routes.get(&p.dst_addr()).copied());
                let fate = self.put_on_link(from, dst, frame_number, frame);
                if let (Some(c), Some(frame)) = (self.capture.as_mut(), captured) {
                    let comment = match self.narrator.as_mut() {
                        Some(n) => n.comment(from, frame_number, fate),
                        None => None,
                    };
                    if let Err(e) = c.write(self.now_ns, from, &frame, comment.as_deref()) {
                        self.capture_error.get_or_insert(e);
                    }
                }
            }
        }
        moved
    }

    /// Offer one frame of host `from` to the fault rule and then to its link toward
    /// host `dst`; what became of it (`None`: no host owns its destination).
    fn put_on_link(
        &mut self,
        from: usize,
        dst: Option<usize>,
        frame_number: u64,
        frame: Vec<u8>,
    ) -> Option<LinkFate> {
        let len = frame.len();
        if let (Some(to), Some(rule)) = (dst, self.fault.as_mut()) {
            if rule(self.now_ns, HostId(from), HostId(to), &frame) {
                if self.tracing() {
                    let at = (self.now_ns, self.now_ns);
                    self.trace_link(from, to, frame_number, len, at, LinkFate::Fault);
                }
                return Some(LinkFate::Fault);
            }
        }
        // Hosts only address each other, so every frame has a link; the
        // link's own statistics count what it drops.
        let to = dst?;
        let link = self.links.get_mut(&(from, to))?;
        let fate = link.transmit_numbered(self.now_ns, frame, frame_number);
        let serialization = match fate {
            Transmit::Scheduled { .. } | Transmit::DroppedLoss => link.last_serialization(),
            _ => (self.now_ns, self.now_ns),
        };
        let fate = match fate {
            Transmit::Scheduled { arrival_ns } => LinkFate::Delivered { arrival_ns },
            Transmit::DroppedLoss => LinkFate::Lost,
            Transmit::DroppedQueue => LinkFate::QueueFull,
            Transmit::DroppedOversize => LinkFate::Oversize,
        };
        if self.tracing() {
            self.trace_link(from, to, frame_number, len, serialization, fate);
        }
        Some(fate)
    }

    fn trace_link(
        &mut self,
        from: usize,
        to: usize,
        frame: u64,
        len: usize,
        (serialization_start_ns, serialization_end_ns): (u64, u64),
        fate: LinkFate,
    ) {
        self.trace_round.push(Event {
            at_ns: self.now_ns,
            host: from,
            kind: EventKind::Link {
                frame,
                to,
                len,
                serialization_start_ns,
                serialization_end_ns,
                fate,
            },
        });
    }

    /// The earliest future event, in ns; a deadline at or before now means "as soon
    /// as possible", which is the next microsecond (smoltcp's clock resolution).
    fn next_event_ns(&mut self, deadlines: &[Option<Instant>]) -> Option<u64> {
        let now_us = self.now_ns / 1000;
        let floor_ns = (now_us + 1) * 1000;
        let to_ns = |t: Instant| (t.total_micros().max(0) as u64 * 1000).max(floor_ns);
        let links = self
            .links
            .values()
            .filter_map(LinkDirection::next_arrival_ns);
        let hosts = self
            .hosts
            .iter_mut()
            .filter_map(|h| h.poll_at().map(to_ns))
            .min();
        let apps = deadlines.iter().flatten().map(|t| to_ns(*t));
        links
            .map(|ns| ns.max(self.now_ns))
            .chain(hosts)
            .chain(apps)
            .min()
    }
}

/// The capture of a [`SimNet`]: the writer and each host's interface, by host index.
struct SimCapture {
    writer: Capture<Box<dyn Write>>,
    interfaces: Vec<InterfaceId>,
}

impl SimCapture {
    fn add_host(&mut self, name: &str) -> Result<(), CaptureError> {
        let id = self.writer.add_interface(name, LinkType::RawIp)?;
        self.interfaces.push(id);
        Ok(())
    }

    fn write(
        &mut self,
        ts_ns: u64,
        from: usize,
        frame: &[u8],
        comment: Option<&str>,
    ) -> Result<(), CaptureError> {
        let interface = self
            .interfaces
            .get(from)
            .copied()
            .ok_or(CaptureError::UnknownInterface(from as u32))?;
        self.writer.write_frame(ts_ns, interface, frame, comment)
    }
}
