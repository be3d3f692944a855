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
use std::convert::Infallible;
use std::io::Write;

use smoltcp::phy::Medium;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv4Packet};

use crate::capture::FrameCapture;
use crate::comment::Narrator;
use crate::host::{Host, HostConfig};
use crate::knobs::Knobs;
use crate::link::Transmit;
use crate::link::{LinkDirection, LinkProfile, LinkStats};
use crate::pcap::{CaptureError, CaptureFormat, LinkType};
use crate::rng::derive_seed;
use crate::settle::{next_deadline_ns, settle, AppDeadlines, Hosts, Outlet, Overdue, RoundTrace};
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

    /// Whether the application left work for the instant it was just polled at (a
    /// connection it woke for its next pass): the settling loop then polls it again
    /// before time moves on, even if no frame moved. Otherwise that work would wait
    /// for whatever event came next, a timer 40 ms away or none. A wrapper forwards it.
    fn has_work_now(&self) -> bool {
        false
    }

    /// Whether a poll at an instant the application was already polled at can change
    /// anything only when its host has news it has not read or a connection waiting
    /// to be accepted ([`Host::needs_poll`]), [`Application::has_work_now`] is true,
    /// or the deadline its latest poll returned has come. The settling loop then ends
    /// an instant as soon as none of those holds, without a last round that would find
    /// everyone idle. False by default: an application that looks at its connections
    /// directly is polled again while frames move. A wrapper forwards it.
    fn settles_on_news(&self) -> bool {
        false
    }

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

/// The simulated network. See the module docs.
pub struct SimNet {
    hosts: Vec<Host>,
    wire: SimWire,
    profile: LinkProfile,
    seed: u64,
    now_ns: u64,
}

/// Where the hosts' frames go, and what watches them: the simulator's [`Outlet`].
struct SimWire {
    links: Links,
    routes: BTreeMap<Ipv4Address, usize>,
    capture: Option<FrameCapture<Box<dyn Write>>>,
    fault: Option<FaultRule>,
    /// Where the trace goes, when one is kept.
    tracer: Option<Box<dyn Tracer>>,
    /// Words for each frame of a pcapng capture, from the trace.
    narrator: Option<Narrator>,
    /// Events of the round under way, stamped.
    round: RoundTrace,
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
            wire: SimWire {
                links: Links::default(),
                routes: BTreeMap::new(),
                capture: None,
                fault: None,
                tracer: None,
                narrator: None,
                round: RoundTrace::default(),
            },
            profile,
            seed,
            now_ns: 0,
        }
    }

    /// Record the event trace ([`crate::trace`]) of every host and link from now on,
    /// handing it to `tracer` after each round of every instant, in order.
    pub fn set_tracer(&mut self, tracer: Box<dyn Tracer>) {
        for host in &mut self.hosts {
            host.set_tracing(true);
        }
        self.wire.tracer = Some(tracer);
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
            checksums: false,
        };
        let mut host = Host::new(config, self.now());
        host.set_tracing(self.wire.tracing());
        self.hosts.push(host);
        if let Some(c) = self.wire.capture.as_mut() {
            c.add_port(name, LinkType::RawIp);
        }
        self.wire.routes.insert(addr, index);
        let (profile, seed) = (&self.profile, self.seed);
        self.wire.links.add_host(index, |from, to| {
            LinkDirection::new(profile.clone(), derive_seed(seed, (from * 256 + to) as u64))
        });
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
        let mut capture = FrameCapture::new(out, format)?;
        for host in &self.hosts {
            capture.add_port(host.name(), LinkType::RawIp);
        }
        capture.check()?;
        if format == CaptureFormat::Pcapng {
            // Comments need the trace's reasons: record them for the capture.
            self.wire.narrator = Some(Narrator::new());
            for host in &mut self.hosts {
                host.set_tracing(true);
            }
        }
        self.wire.capture = Some(capture);
        Ok(())
    }

    /// Flush the capture and report any write error that happened during the run.
    pub fn finish_capture(&mut self) -> Result<(), CaptureError> {
        match self.wire.capture.take() {
            Some(c) => c.finish(),
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
        for l in self.wire.links.values() {
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
        self.wire.fault = Some(rule);
    }

    /// Run until every client application is done, nothing more can happen, or the
    /// clock passes `limit`.
    pub fn run(&mut self, apps: &mut [AppSlot<'_>], limit: Instant) -> RunEnd {
        let mut deadlines = AppDeadlines::new(apps.len());
        loop {
            self.deliver();
            let hosts = Hosts::Each(&mut self.hosts);
            // Irrefutable: nothing fails in the simulator (its outlet's error is
            // `Infallible`).
            let Ok(_) = settle(hosts, apps, &mut deadlines, &mut self.wire, self.now_ns);
            // Done once the clients are and the wire is quiet, so closing handshakes
            // complete and every connection's figures are final.
            let quiet = self
                .wire
                .links
                .values()
                .all(|l| l.next_arrival_ns().is_none());
            if quiet && apps.iter().all(|s| s.is_server || s.app.is_done()) {
                return RunEnd::Done;
            }
            let Some(next_ns) = self.next_event_ns(&deadlines) else {
                return RunEnd::Stalled;
            };
            let limit_ns = limit.total_micros().max(0) as u64 * 1000;
            if next_ns > limit_ns {
                // Nothing happens before the limit, so the clocks reach it: what
                // is unfinished is unfinished at the limit, and every figure "until
                // the run ended" is taken there (a host with nothing due only
                // moves its clock).
                self.now_ns = self.now_ns.max(limit_ns);
                let now = self.now();
                for host in &mut self.hosts {
                    host.poll(now);
                }
                return RunEnd::TimeLimit;
            }
            self.now_ns = next_ns;
        }
    }

    /// Hand every frame whose link delivers it by now to the host it is for.
    fn deliver(&mut self) {
        for ((from, to), link) in self.wire.links.iter_mut() {
            while let Some((frame_number, frame)) = link.pop_arrived_numbered(self.now_ns) {
                let from = FrameRef {
                    host: from,
                    frame: frame_number,
                };
                self.hosts[to].receive_frame_from(frame, from);
            }
        }
    }

    /// The earliest future event, in ns; a deadline at or before now means "as soon
    /// as possible", which is the next microsecond (smoltcp's clock resolution).
    fn next_event_ns(&mut self, deadlines: &AppDeadlines) -> Option<u64> {
        let now_ns = self.now_ns;
        let links = self
            .wire
            .links
            .values()
            .filter_map(LinkDirection::next_arrival_ns)
            .map(|ns| ns.max(now_ns));
        let overdue = Overdue::NextMicrosecond { now_ns };
        next_deadline_ns(&mut self.hosts, deadlines, overdue, links)
    }
}

/// The links of a simulated network, one each way between every two hosts, by
/// (from, to). A table indexed by host rather than an ordered map: every instant
/// visits every link (for frames arriving, and for the next arrival), in (from, to)
/// order so runs repeat, and a walk down a B-tree's nodes at every instant was 1 % of
/// a bulk run's instructions.
#[derive(Default)]
struct Links {
    /// `by_host[from][to]`; `None` where `from == to`.
    by_host: Vec<Vec<Option<LinkDirection>>>,
}

impl Links {
    /// Link host `index`, the newest, with every host before it, both ways; `make`
    /// builds the link from one host to another.
    fn add_host(&mut self, index: usize, make: impl Fn(usize, usize) -> LinkDirection) {
        for (from, row) in self.by_host.iter_mut().enumerate() {
            row.push(Some(make(from, index)));
        }
        let row = (0..=index)
            .map(|to| (to != index).then(|| make(index, to)))
            .collect();
        self.by_host.push(row);
    }

    fn get_mut(&mut self, from: usize, to: usize) -> Option<&mut LinkDirection> {
        self.by_host.get_mut(from)?.get_mut(to)?.as_mut()
    }

    /// Every link with its (from, to), in that order.
    fn iter_mut(&mut self) -> impl Iterator<Item = ((usize, usize), &mut LinkDirection)> {
        self.by_host.iter_mut().enumerate().flat_map(|(from, row)| {
            row.iter_mut()
                .enumerate()
                .filter_map(move |(to, link)| Some(((from, to), link.as_mut()?)))
        })
    }

    /// Every link, in (from, to) order.
    fn values(&self) -> impl Iterator<Item = &LinkDirection> {
        self.by_host.iter().flatten().flatten()
    }
}

impl SimWire {
    /// Whether events are recorded: for a tracer, or for the capture's comments.
    fn tracing(&self) -> bool {
        self.tracer.is_some() || self.narrator.is_some()
    }

    /// Offer one frame of host `from` to the fault rule and then to its link toward
    /// host `dst`; what became of it (`None`: no host owns its destination).
    fn put_on_link(
        &mut self,
        now_ns: u64,
        from: usize,
        dst: Option<usize>,
        frame_number: u64,
        frame: Vec<u8>,
    ) -> Option<LinkFate> {
        let len = frame.len();
        if let (Some(to), Some(rule)) = (dst, self.fault.as_mut()) {
            if rule(now_ns, HostId(from), HostId(to), &frame) {
                if self.tracing() {
                    let at = (now_ns, now_ns);
                    let fault = LinkFate::Fault;
                    let event = link_event(now_ns, from, to, frame_number, len, at, fault);
                    self.round.push(event);
                }
                return Some(LinkFate::Fault);
            }
        }
        // Hosts only address each other, so every frame has a link; the
        // link's own statistics count what it drops.
        let to = dst?;
        let link = self.links.get_mut(from, to)?;
        let fate = link.transmit_numbered(now_ns, frame, frame_number);
        let serialization = match fate {
            Transmit::Scheduled { .. } | Transmit::DroppedLoss => link.last_serialization(),
            _ => (now_ns, now_ns),
        };
        let fate = match fate {
            Transmit::Scheduled { arrival_ns } => LinkFate::Delivered { arrival_ns },
            Transmit::DroppedLoss => LinkFate::Lost,
            Transmit::DroppedQueue => LinkFate::QueueFull,
            Transmit::DroppedOversize => LinkFate::Oversize,
        };
        if self.tracing() {
            let event = link_event(now_ns, from, to, frame_number, len, serialization, fate);
            self.round.push(event);
        }
        Some(fate)
    }
}

/// What a link (or the fault rule) did to frame `frame` of host `from`, sent at
/// `at_ns` toward host `to`, as a trace event.
fn link_event(
    at_ns: u64,
    from: usize,
    to: usize,
    frame: u64,
    len: usize,
    (serialization_start_ns, serialization_end_ns): (u64, u64),
    fate: LinkFate,
) -> Event {
    Event {
        at_ns,
        host: from,
        kind: EventKind::Link {
            frame,
            to,
            len,
            serialization_start_ns,
            serialization_end_ns,
            fate,
        },
    }
}

impl Outlet for SimWire {
    /// Nothing fails in the simulator: a capture keeps its first write error for
    /// [`SimNet::finish_capture`].
    type Error = Infallible;

    fn trace(&mut self) -> Option<&mut RoundTrace> {
        self.tracing().then_some(&mut self.round)
    }

    fn traced(&mut self) {
        if let Some(n) = self.narrator.as_mut() {
            n.read(self.round.events());
        }
    }

    /// Put each frame on its link, and record it, as sent, in the capture.
    fn send(
        &mut self,
        from: usize,
        host: &mut Host,
        frames: &mut Vec<Vec<u8>>,
        now_ns: u64,
    ) -> Result<(), Infallible> {
        let first_number = host.frames_out() - frames.len() as u64;
        for (frame_number, frame) in (first_number..).zip(frames.drain(..)) {
            let captured = self.capture.is_some().then(|| {
                let mut copy = frame.clone();
                crate::segment::fill_checksums(&mut copy);
                copy
            });
            let dst = Ipv4Packet::new_checked(&frame[..])
                .ok()
                .and_then(|p| self.routes.get(&p.dst_addr()).copied());
            let fate = self.put_on_link(now_ns, from, dst, frame_number, frame);
            if let (Some(c), Some(frame)) = (self.capture.as_mut(), captured) {
                let comment = match self.narrator.as_mut() {
                    Some(n) => n.comment(from, frame_number, fate),
                    None => None,
                };
                c.record(now_ns, from, &frame, comment.as_deref());
            }
        }
        Ok(())
    }

    /// Hand the round's events, the host events collected before its frames went
    /// out and then the link's, to the tracer.
    fn end_round(&mut self, _hosts: &mut [Host]) -> Result<(), Infallible> {
        if let Some(tracer) = self.tracer.as_mut() {
            if !self.round.events().is_empty() {
                tracer.events(self.round.events());
            }
        }
        if let Some(n) = self.narrator.as_mut() {
            n.end_round();
        }
        Ok(())
    }
}
