//! One host of the lab on a Linux TAP device, in real time, against real peers
//! (curl, python3 -m http.server, the kernel's TCP): the same `Host`, knobs and
//! applications as an [`Experiment`](crate::Experiment), on
//! `tcpknobs_stack::realtime` instead of the simulator.
//!
//! A [`TapSetup`] says where the host sits; [`TapSetup::check_addressing`] refuses
//! addressing that cannot work before anything is opened; [`Rig::open`] opens the
//! TAP and builds the host; [`Rig::run`] drives the applications until they are done,
//! the stop is requested or the time limit passes. The reports ([`ServeReport`],
//! [`GetReport`]) keep the names and meanings of [`Report`](crate::Report)'s fields.
//!
//! Unlike a simulated run this is not deterministic: the wall clock and the peer
//! decide the timings.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use serde::Serialize;
use tcpknobs_http::blame::BlameSpan;
use tcpknobs_http::client::Strategy;
use tcpknobs_http::transaction::{Transaction, TransactionReport};
use tcpknobs_stack::realtime::{self, tap_host_config, SharedTracer, MAX_RX_BATCH};
use tcpknobs_stack::trace::{Event, Tracer};
use tcpknobs_stack::{
    AppSlot, Clock, Host, Instant, Ipv4Cidr, KernelCounters, KernelTcp, Knobs, LinkProfile,
    RealtimeEnd, RealtimeOptions, RealtimeRun, Stop, TapDevice,
};

use crate::blame::Blamer;
use crate::report::{ClientReport, ConnectionReport, Totals};
use crate::timeline::{render_picture, Picture, TimelineRecorder};
use crate::trace_file::TraceWriter;
use crate::LabError;

/// Where the host sits: the TAP, its address, what the process adds to the path.
#[derive(Clone, Debug, PartialEq)]
pub struct TapSetup {
    /// The TAP interface's name.
    pub tap: String,
    /// This host's address and prefix.
    pub ip: Ipv4Cidr,
    /// Default gateway for addresses outside the subnet (must be inside it).
    pub gateway: Option<Ipv4Addr>,
    /// Round trip added inside the process (half each way), on top of the real path.
    pub rtt: Option<StdDuration>,
    /// Drop probability added inside the process, each direction.
    pub loss: Option<f64>,
    /// Seed for the added loss and the initial sequence numbers; `None`: one from the
    /// clock, so a run does not repeat the last run's ports and initial sequence
    /// numbers (a kernel still holding that tuple answers the SYN with the old
    /// connection's ACK, which costs an RST and a 1 s SYN timeout).
    pub seed: Option<u64>,
    /// Capture the frames crossing the TAP to this file: pcapng if its name ends in
    /// `.pcapng`, classic pcap otherwise.
    pub pcap: Option<PathBuf>,
    /// Frames already waiting on the TAP handed to the stack at once (1 to
    /// [`MAX_RX_BATCH`]).
    pub rx_batch: u32,
}

impl TapSetup {
    /// `tap` at `ip`, nothing added to the path, the largest receive batch.
    pub fn new(tap: impl Into<String>, ip: Ipv4Cidr) -> TapSetup {
        TapSetup {
            tap: tap.into(),
            ip,
            gateway: None,
            rtt: None,
            loss: None,
            seed: None,
            pcap: None,
            rx_batch: MAX_RX_BATCH as u32,
        }
    }

    /// Reject addressing that cannot work: a gateway outside our subnet, a server
    /// (`get`'s) that is neither on the subnet nor behind a gateway, a server at our
    /// own address.
    pub fn check_addressing(&self, server: Option<Ipv4Addr>) -> Result<(), AddressError> {
        let ip = self.ip;
        if let Some(gateway) = self.gateway {
            if !ip.contains_addr(&gateway) {
                return Err(AddressError::GatewayOutside { gateway, ip });
            }
            if gateway == ip.address() {
                return Err(AddressError::GatewayIsUs { gateway });
            }
        }
        if let Some(server) = server {
            if server == ip.address() {
                return Err(AddressError::ServerIsUs { server, ip });
            }
            if !ip.contains_addr(&server) && self.gateway.is_none() {
                return Err(AddressError::ServerUnreachable { server, ip });
            }
        }
        Ok(())
    }

    /// What the process adds to the path, as a simulated run reports its link.
    pub fn added_link(&self) -> LinkProfile {
        LinkProfile {
            one_way_delay_ns: self
                .rtt
                .map_or(0, |d| u64::try_from(d.as_nanos() / 2).unwrap_or(u64::MAX)),
            loss: self.loss.unwrap_or(0.0),
            ..LinkProfile::default()
        }
    }
}

/// Addressing that cannot work, found before anything is opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The gateway is not on this host's subnet.
    #[error(
        "--gateway {gateway} is outside {ip}: a gateway must be on this host's subnet ({})",
        ip.network()
    )]
    GatewayOutside {
        /// The gateway.
        gateway: Ipv4Addr,
        /// This host's address.
        ip: Ipv4Cidr,
    },
    /// The gateway is this host.
    #[error("--gateway {gateway} is this host's own address: give the router's address")]
    GatewayIsUs {
        /// The gateway.
        gateway: Ipv4Addr,
    },
    /// The server is this host.
    #[error("{server} is this host's own address (--ip {ip}): give the server's address")]
    ServerIsUs {
        /// The server.
        server: Ipv4Addr,
        /// This host's address.
        ip: Ipv4Cidr,
    },
    /// The server is off the subnet and there is no gateway to reach it by.
    #[error(
        "{server} is outside {ip} and no --gateway was given: nothing on the TAP would \
         answer ARP for it"
    )]
    ServerUnreachable {
        /// The server.
        server: Ipv4Addr,
        /// This host's address.
        ip: Ipv4Cidr,
    },
}

/// Why a TAP run could not be set up or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    /// The TAP could not be opened.
    #[error(transparent)]
    Open(#[from] tcpknobs_stack::TapError),
    /// The kernel's addresses on the TAP could not be read.
    #[error("reading the addresses of {tap}")]
    KernelAddrs {
        /// The TAP.
        tap: String,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
    /// The kernel holds this host's address on the TAP itself.
    #[error(
        "{} is the kernel's own address on {tap}: give tcpknobs another address in {} \
         (e.g. --ip {suggestion})",
        ip.address(),
        ip.network()
    )]
    KernelOwnsAddress {
        /// The TAP.
        tap: String,
        /// This host's address.
        ip: Ipv4Cidr,
        /// A free address in the subnet.
        suggestion: String,
    },
    /// The real-time runner failed on the device.
    #[error("running on {tap}")]
    Run {
        /// The TAP.
        tap: String,
        /// The device's error.
        #[source]
        source: std::io::Error,
    },
}

/// What a TAP run's trace feeds: the latency blame of its transactions
/// ([`crate::blame`], over a TAP: what our side can see, and `peer` for the rest),
/// and the trace file when one is asked for.
struct TapTracer {
    blamer: Blamer,
    out: Option<TraceWriter>,
}

impl Tracer for TapTracer {
    fn events(&mut self, events: &[Event]) {
        if let Some(out) = self.out.as_mut() {
            out.write(events);
        }
        self.blamer.ingest(events);
    }
}

/// The trace of a TAP run, read once the run is over: the blame of its
/// transactions and the trace file (`--trace`).
pub struct TapTrace(Arc<Mutex<TapTracer>>);

impl TapTrace {
    /// Trace the rig's runs, writing the events to `trace` if given.
    pub fn attach(rig: &mut Rig, trace: Option<&std::path::Path>) -> Result<TapTrace, LabError> {
        let out = trace.map(TraceWriter::create).transpose()?;
        let tracer = Arc::new(Mutex::new(TapTracer {
            blamer: Blamer::new(),
            out,
        }));
        let shared: SharedTracer = tracer.clone();
        rig.options.tracer = Some(shared);
        Ok(TapTrace(tracer))
    }

    /// Blame each transaction and put it in its row (rows and transactions paired by
    /// id); the rows' moments count from `epoch`, and so will their blame stretches.
    pub fn fill(
        &self,
        transactions: &[&Transaction],
        rows: &mut [TransactionReport],
        epoch: Instant,
    ) {
        let Ok(mut tracer) = self.0.lock() else {
            return;
        };
        let epoch_ns = u64::try_from(epoch.total_micros()).unwrap_or(0) * 1000;
        for t in transactions {
            let Some(blamed) = tracer.blamer.blame(t) else {
                continue;
            };
            if let Some(row) = rows.iter_mut().find(|r| r.id == t.id) {
                row.blame = Some(blamed.blame);
                row.spans = blamed
                    .spans
                    .into_iter()
                    .map(|s| BlameSpan {
                        start_ns: s.start_ns.saturating_sub(epoch_ns),
                        end_ns: s.end_ns.saturating_sub(epoch_ns),
                        cause: s.cause,
                    })
                    .collect();
            }
        }
    }

    /// Flush the trace file, if one is written, and report its first error.
    pub fn finish_trace(&self) -> Result<(), LabError> {
        let out = self.0.lock().ok().and_then(|mut t| t.out.take());
        out.map_or(Ok(()), TraceWriter::finish)
    }
}

/// The timeline of a `get`: the waterfall of its rows by blame cause (only this
/// host is traced over a TAP, so there is no packet diagram).
pub fn get_timeline(report: &GetReport) -> String {
    render_picture(&Picture::of_get(report), &TimelineRecorder::new())
}

/// The timeline of a `serve`: the congestion window of each connection it served.
pub fn serve_timeline(report: &ServeReport) -> String {
    render_picture(&Picture::of_serve(report), &TimelineRecorder::new())
}

/// The TAP, a host on it and the run options, ready for `realtime::run`.
pub struct Rig {
    /// The device.
    pub tap: TapDevice,
    /// The host on it.
    pub host: Host,
    /// How the runner drives it (the clock is `options.clock`).
    pub options: RealtimeOptions,
    /// The setup's seed, or one from the clock.
    pub seed: u64,
    /// What the set-up found that may not work, in words (the kernel's side of the
    /// TAP outside our subnet).
    pub warnings: Vec<String>,
    /// What the kernel dropped at the TAP during the last [`Rig::run`]; `None` before
    /// one, or when its counters could not be read.
    pub kernel_drops: Option<KernelDrops>,
    /// What the kernel's TCP in this network namespace counted during the last
    /// [`Rig::run`]; `None` before one, or when its counters could not be read.
    pub kernel_tcp: Option<KernelTcp>,
    /// The congestion control the kernel gives new sockets in this namespace
    /// ([`KernelTcp::default_congestion_control`]); `None` if it could not be read.
    pub kernel_congestion_control: Option<String>,
}

impl Rig {
    /// Open the TAP, check the kernel's side of it, and build a host with `knobs`;
    /// `stop` ends a run when requested (Ctrl-C), `time_limit` after that long.
    pub fn open(
        setup: &TapSetup,
        knobs: Knobs,
        time_limit: Option<StdDuration>,
        stop: Stop,
    ) -> Result<Rig, RigError> {
        let tap = TapDevice::open(&setup.tap)?;
        Rig::on(tap, setup, knobs, time_limit, stop, Clock::start())
    }

    /// [`Rig::open`] on a TAP already open (`setup.tap` is not looked at), timed by
    /// `clock`: a sweep runs its points one after another on one device, each with a
    /// fresh host, and gives them one clock so that each point's initial sequence
    /// numbers (which tick with the clock) lie above the last point's, as a new
    /// connection's must for a kernel that still holds the tuple in TIME_WAIT.
    /// Without `setup.seed` the seed is `clock`'s ([`Clock::run_seed`]).
    pub fn on(
        tap: TapDevice,
        setup: &TapSetup,
        knobs: Knobs,
        time_limit: Option<StdDuration>,
        stop: Stop,
        clock: Clock,
    ) -> Result<Rig, RigError> {
        let warnings = check_kernel_side(&tap, setup.ip)?;
        let seed = setup.seed.unwrap_or_else(|| clock.run_seed());
        let config = tap_host_config(setup.ip, setup.gateway, tap.mtu(), seed, knobs);
        let host = Host::new(config, clock.now());
        let mut options = RealtimeOptions::new(clock);
        options.add_impairment(
            setup.rtt.unwrap_or(StdDuration::ZERO),
            setup.loss.unwrap_or(0.0),
        );
        options.seed = seed;
        options.pcap = setup.pcap.clone();
        options.rx_batch = setup.rx_batch as usize;
        options.stop = Some(stop);
        options.time_limit = time_limit;
        Ok(Rig {
            tap,
            host,
            options,
            seed,
            warnings,
            kernel_drops: None,
            kernel_tcp: None,
            kernel_congestion_control: KernelTcp::default_congestion_control().ok(),
        })
    }

    /// Drive `apps` on the host until they are done, stopped or out of time.
    /// The kernel's drops at the TAP and its TCP counters over the run are kept in
    /// [`Rig::kernel_drops`] and [`Rig::kernel_tcp`].
    pub fn run(&mut self, apps: &mut [AppSlot<'_>]) -> Result<RealtimeRun, RigError> {
        let tcp_before = KernelTcp::read().ok();
        let before = self.tap.kernel_counters().ok();
        let run = realtime::run(&mut self.host, apps, &mut self.tap, &self.options).map_err(
            |source| RigError::Run {
                tap: self.tap.name().to_string(),
                source,
            },
        )?;
        let after = self.tap.kernel_counters().ok();
        self.kernel_drops = before.zip(after).map(|(b, a)| KernelDrops::between(b, a));
        self.kernel_tcp = tcp_before
            .zip(KernelTcp::read().ok())
            .map(|(b, a)| a.since(&b));
        Ok(run)
    }

    /// The network part of a report on `run`.
    pub fn report(&self, setup: &TapSetup, run: RealtimeRun) -> TapReport {
        TapReport {
            tap: setup.tap.clone(),
            ip: setup.ip,
            gateway: setup.gateway,
            mtu: self.tap.mtu(),
            added: setup.added_link(),
            run,
            kernel_drops: self.kernel_drops,
            kernel_tcp: self.kernel_tcp,
            kernel_congestion_control: self.kernel_congestion_control.clone(),
        }
    }
}

/// What the kernel dropped at the TAP over a run: frames lost outside the host and
/// outside the path being measured, which its counters alone can show (see
/// [`KernelCounters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelDrops {
    /// The TAP's transmit queue toward this host (`txqueuelen`) at the end, frames.
    pub queue_len: u32,
    /// Frames the kernel dropped at that queue, on their way to this host.
    pub to_host: u64,
    /// Frames this host wrote that the kernel dropped.
    pub from_host: u64,
}

impl KernelDrops {
    /// The drops from `before` to `after` (the counters wrap as the kernel's do).
    pub fn between(before: KernelCounters, after: KernelCounters) -> KernelDrops {
        KernelDrops {
            queue_len: after.queue_len,
            to_host: after.to_host_dropped.wrapping_sub(before.to_host_dropped),
            from_host: after
                .from_host_dropped
                .wrapping_sub(before.from_host_dropped),
        }
    }

    /// A queue long enough for the bursts that overflowed this one, to suggest: four
    /// times as long, and at least 10,000 frames (what a reader that takes 10 ms to
    /// come back needs at a million frames a second).
    pub fn suggested_queue_len(&self) -> u64 {
        (u64::from(self.queue_len) * 4).max(10_000)
    }
}

/// After opening the TAP: the kernel's addresses on it must not include ours, and
/// should share our subnet (or the kernel cannot reach us: a warning).
fn check_kernel_side(tap: &TapDevice, ip: Ipv4Cidr) -> Result<Vec<String>, RigError> {
    let kernel = tap.kernel_addrs().map_err(|source| RigError::KernelAddrs {
        tap: tap.name().to_string(),
        source,
    })?;
    if kernel.iter().any(|(a, _)| *a == ip.address()) {
        return Err(RigError::KernelOwnsAddress {
            tap: tap.name().to_string(),
            ip,
            suggestion: suggest_address(ip, &kernel),
        });
    }
    let mut warnings = Vec::new();
    if !kernel.is_empty() && !kernel.iter().any(|(a, _)| ip.contains_addr(a)) {
        let list: Vec<String> = kernel.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        warnings.push(format!(
            "the kernel's side of {} is {}, outside {ip}: it will not reach this host \
             without a route",
            tap.name(),
            list.join(", ")
        ));
    }
    Ok(warnings)
}

/// A free host address in `ip`'s subnet, for an error message.
fn suggest_address(ip: Ipv4Cidr, taken: &[(Ipv4Addr, u8)]) -> String {
    let net = ip.network().address().to_bits();
    (1..16u32)
        .map(|i| Ipv4Addr::from_bits(net + i))
        .find(|a| ip.contains_addr(a) && !taken.iter().any(|(t, _)| t == a))
        .map_or_else(|| ip.to_string(), |a| format!("{a}/{}", ip.prefix_len()))
}

/// The final figures of `serve`.
#[derive(Debug, Serialize)]
pub struct ServeReport {
    /// How the run ended.
    pub end: RealtimeEnd,
    /// Responses the server sent.
    pub responses: u64,
    /// Every connection, as the server saw it.
    pub connections: Vec<ConnectionReport>,
    /// The server's knobs.
    pub knobs: SideKnobs,
    /// What the listener did with SYNs beyond its queues and with SYN cookies.
    pub listen: tcpknobs_stack::host::ListenCounters,
    /// The network part.
    pub tap: TapReport,
    /// Seed.
    pub seed: u64,
}

/// The knobs of the side a TAP command plays, under that side's name as in a
/// [`Report`](crate::Report).
#[derive(Debug, Serialize)]
pub struct SideKnobs {
    /// The client's, when the host played the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<Knobs>,
    /// The server's, when the host played the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Knobs>,
}

/// The network part of a TAP report.
#[derive(Debug, Serialize)]
pub struct TapReport {
    /// The TAP's name.
    pub tap: String,
    /// This host's address.
    #[serde(serialize_with = "ser_display")]
    pub ip: Ipv4Cidr,
    /// The gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// The TAP's MTU.
    pub mtu: usize,
    /// Added inside the process, each direction.
    pub added: LinkProfile,
    /// What the runner counted.
    #[serde(flatten)]
    pub run: RealtimeRun,
    /// What the kernel dropped at the TAP; `null` when its counters could not be read.
    pub kernel_drops: Option<KernelDrops>,
    /// What the kernel's TCP in this network namespace (the peer, in the lab's own
    /// namespace) counted during the run; `null` when its counters could not be read.
    pub kernel_tcp: Option<KernelTcp>,
    /// The congestion control the kernel gives new sockets in this namespace (`reno`,
    /// `cubic`, `bbr`); `null` when it could not be read.
    pub kernel_congestion_control: Option<String>,
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// The result of `get`; the fields a [`Report`](crate::Report) has keep its names and
/// meanings.
#[derive(Debug, Serialize)]
pub struct GetReport {
    /// The headline figures.
    #[serde(flatten)]
    pub totals: Totals,
    /// How the run ended.
    pub end: RealtimeEnd,
    /// One row per URL.
    pub transactions: Vec<TransactionReport>,
    /// The client's connections.
    pub connections: Vec<ConnectionReport>,
    /// The client's knobs.
    pub knobs: SideKnobs,
    /// The network part.
    pub tap: TapReport,
    /// What was asked for.
    pub workload: GetWorkload,
    /// Seed.
    pub seed: u64,
}

/// What `get` asked for.
#[derive(Debug, Serialize)]
pub struct GetWorkload {
    /// The client's strategy.
    pub strategy: Strategy,
    /// The URLs, in order.
    pub urls: Vec<String>,
    /// The client's settings.
    pub client: ClientReport,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(gateway: Option<[u8; 4]>) -> TapSetup {
        TapSetup {
            gateway: gateway.map(Ipv4Addr::from),
            ..TapSetup::new("tk0", Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 2), 24))
        }
    }

    #[test]
    fn addressing() {
        let ok = |f: &TapSetup, s: Option<[u8; 4]>| f.check_addressing(s.map(Ipv4Addr::from));
        assert!(ok(&setup(None), Some([10, 77, 0, 1])).is_ok());
        let e = ok(&setup(Some([10, 8, 0, 1])), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--gateway 10.8.0.1 is outside 10.77.0.2/24: a gateway must be on this host's \
             subnet (10.77.0.0/24)"
        );
        let e = ok(&setup(None), Some([10, 1, 2, 3]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside 10.77.0.2/24 and no --gateway"), "{e}");
        assert!(ok(&setup(Some([10, 77, 0, 1])), Some([10, 1, 2, 3])).is_ok());
        let e = ok(&setup(None), Some([10, 77, 0, 2]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("own address"), "{e}");
    }

    #[test]
    fn suggestions() {
        let ip = Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 1), 24);
        let taken = [(Ipv4Addr::new(10, 77, 0, 1), 24)];
        assert_eq!(suggest_address(ip, &taken), "10.77.0.2/24");
    }
}
