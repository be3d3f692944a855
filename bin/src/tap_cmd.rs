//! `tcpknobs serve` and `tcpknobs get`: the lab's HTTP server and client on a TAP
//! device, in real time, against real peers (curl, python3 -m http.server, the
//! kernel's TCP). The same `Host`, knobs, `Server` and `Client` as `run`; only the
//! network differs (`tcpknobs_stack::realtime` instead of the simulator).
//!
//! Set-up: `sudo scripts/tap-up.sh` makes a namespace `tcpknobs` holding TAP `tk0`
//! (kernel side 10.77.0.1/24) owned by the invoking user; tcpknobs must run inside that
//! namespace to see the TAP.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use tcpknobs_http::client::{Client, ClientConfig, Strategy};
use tcpknobs_http::message::Method;
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_http::transaction::TransactionReport;
use tcpknobs_http::workload::{RequestSpec, Workload};
use tcpknobs_stack::realtime::{self, tap_host_config, MAX_RX_BATCH};
use tcpknobs_stack::{
    AppSlot, Clock, Host, HostId, Ipv4Cidr, Knobs, LinkProfile, RealtimeEnd, RealtimeOptions,
    RealtimeRun, Stop, TapDevice,
};

use crate::cli::{
    side_knobs, ClientFlags, KnobFlags, ProfileArg, ServerFlags, Side, GET_RESPONSE_TIMEOUT,
};
use crate::experiment::{
    client_connections, server_connections, ClientReport, ConnectionReport, Totals,
};
use crate::table::{self, plural};
use crate::values::{format_duration, parse_probability, parse_rtt, parse_rx_batch, parse_span};
use crate::{print_stdout, Outcome};

/// Where the host sits: the TAP, its address, what the process adds to the path.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "TAP")]
pub struct TapFlags {
    /// The TAP interface (sudo scripts/tap-up.sh creates tk0 in namespace tcpknobs).
    #[arg(long, value_name = "IF", default_value = "tk0")]
    pub tap: String,
    /// This host's address and prefix; the kernel's side of tk0 is 10.77.0.1/24.
    #[arg(long, value_name = "CIDR", default_value = "10.77.0.2/24", value_parser = parse_cidr)]
    pub ip: Ipv4Cidr,
    /// Default gateway for addresses outside the subnet (must be inside it).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<Ipv4Addr>,
    /// Round trip added inside the process (half each way), on top of the real path.
    #[arg(long, value_name = "DUR", value_parser = parse_rtt)]
    pub rtt: Option<StdDuration>,
    /// Drop probability added inside the process, each direction (0.02 or 2%).
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub loss: Option<f64>,
    /// Seed for the added loss and the initial sequence numbers (default: from the
    /// clock, so a run does not repeat the last run's initial sequence numbers on the
    /// same ports, which a kernel still holding them in TIME_WAIT refuses).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Capture the frames crossing the TAP to this file (pcap, Ethernet, wall-clock ns).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Frames already waiting on the TAP handed to the stack at once, up to N (1-64), and
    /// answered after the last, as Linux's NAPI poll with GRO handles a burst (a segment
    /// with PSH, SYN, FIN or RST ends one): a bulk burst is acknowledged once, a lone
    /// segment is processed alone. 1: every frame is
    /// processed and answered on its own, so a receiver that falls behind still ACKs
    /// every second segment (about half the bulk throughput; README, Performance).
    #[arg(long, value_name = "N", default_value_t = MAX_RX_BATCH as u32, value_parser = parse_rx_batch)]
    pub rx_batch: u32,
}

/// Options of `serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub tap: TapFlags,

    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    #[command(flatten)]
    pub server: ServerFlags,

    /// The server's knobs (`serve` plays the server side: the --client-X forms are
    /// refused).
    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Default knob values.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,

    /// Stop by itself after this long (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "DUR", value_parser = parse_span, help_heading = "Output")]
    pub max_time: Option<StdDuration>,

    /// Print the final statistics as one JSON object instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// Options of `get`.
#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    #[command(flatten)]
    pub tap: TapFlags,

    /// http://IP[:PORT]/PATH, one request each, all to the same server (no DNS, no
    /// https). /bytes/N targets are checked byte by byte against the lab's pattern.
    #[arg(value_name = "URL", required = true, value_parser = parse_url)]
    pub urls: Vec<Url>,

    #[command(flatten)]
    pub client: ClientFlags,

    /// The client's knobs (`get` plays the client side: the --server-X forms are
    /// refused).
    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Default knob values.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,

    /// Give up after this long (unfinished transactions are reported); default: run
    /// until every URL is answered or has failed, or Ctrl-C.
    #[arg(long, value_name = "DUR", value_parser = parse_span, help_heading = "Output")]
    pub max_time: Option<StdDuration>,

    /// Print one JSON object instead of the table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

/// One `http://IP[:PORT]/PATH` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Server address.
    pub addr: Ipv4Addr,
    /// Server port.
    pub port: u16,
    /// Request target: path and query.
    pub target: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.addr, self.port, self.target)
    }
}

/// `http://IP[:PORT][/PATH]`; anything else is refused with the reason.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(format!(
            "'{s}' is not a URL: expected http://IP[:PORT]/PATH, e.g. http://10.77.0.1:8000/"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "'{s}': only http:// URLs are supported (tcpknobs speaks plain HTTP/1.x)"
        ));
    }
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = target.split('#').next().unwrap_or("/");
    if let Some(bad) = target.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "'{s}': the path may hold only visible ASCII characters (found {bad:?}); \
             percent-encode the rest"
        ));
    }
    if authority.starts_with('[') {
        return Err(format!(
            "'{s}': the host must be an IPv4 address (the lab's stack is IPv4 only)"
        ));
    }
    if authority.contains('@') {
        return Err(format!("'{s}': user information in URLs is not supported"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("'{s}': the port must be a number from 1 to 65535"))?;
            (h, port)
        }
        None => (authority, 80),
    };
    let addr = host.parse::<Ipv4Addr>().map_err(|_| {
        format!("'{s}': the host must be an IPv4 address such as 10.77.0.1 (tcpknobs has no DNS)")
    })?;
    Ok(Url {
        addr,
        port,
        target: target.to_string(),
    })
}

/// `10.77.0.2/24`: an address with its prefix length.
pub fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let Some((addr, prefix)) = s.split_once('/') else {
        return Err(format!(
            "'{s}' needs a prefix length: an address and its subnet, e.g. 10.77.0.2/24"
        ));
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("'{addr}' is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=30).contains(p))
        .ok_or_else(|| {
            format!("'/{prefix}': the prefix length must be 1 to 30 (a subnet with a peer)")
        })?;
    let cidr = Ipv4Cidr::new(addr, prefix);
    if addr == cidr.network().address() || Some(addr) == cidr.broadcast() {
        return Err(format!(
            "{addr} is the network or broadcast address of {}: pick a host address",
            cidr.network()
        ));
    }
    Ok(cidr)
}

/// Reject addressing that cannot work: a gateway outside our subnet, a server that is
/// neither on the subnet nor behind a gateway, a server at our own address.
fn check_addressing(flags: &TapFlags, server: Option<Ipv4Addr>) -> anyhow::Result<()> {
    let ip = flags.ip;
    if let Some(gw) = flags.gateway {
        if !ip.contains_addr(&gw) {
            bail!(
                "--gateway {gw} is outside {ip}: a gateway must be on this host's subnet \
                 ({})",
                ip.network()
            );
        }
        if gw == ip.address() {
            bail!("--gateway {gw} is this host's own address: give the router's address");
        }
    }
    if let Some(server) = server {
        if server == ip.address() {
            bail!("{server} is this host's own address (--ip {ip}): give the server's address");
        }
        if !ip.contains_addr(&server) && flags.gateway.is_none() {
            bail!(
                "{server} is outside {ip} and no --gateway was given: nothing on the TAP \
                 would answer ARP for it"
            );
        }
    }
    Ok(())
}

/// After opening the TAP: the kernel's addresses on it must not include ours, and
/// should share our subnet (or the kernel cannot reach us).
fn check_kernel_side(tap: &TapDevice, ip: Ipv4Cidr) -> anyhow::Result<()> {
    let kernel = tap
        .kernel_addrs()
        .with_context(|| format!("reading the addresses of {}", tap.name()))?;
    if kernel.iter().any(|(a, _)| *a == ip.address()) {
        bail!(
            "{} is the kernel's own address on {}: give tcpknobs another address in {} \
             (e.g. --ip {})",
            ip.address(),
            tap.name(),
            ip.network(),
            suggest_address(ip, &kernel)
        );
    }
    if !kernel.is_empty() && !kernel.iter().any(|(a, _)| ip.contains_addr(a)) {
        let list: Vec<String> = kernel.iter().map(|(a, p)| format!("{a}/{p}")).collect();
        eprintln!(
            "warning: the kernel's side of {} is {}, outside {ip}: it will not reach this \
             host without a route",
            tap.name(),
            list.join(", ")
        );
    }
    Ok(())
}

/// A free host address in `ip`'s subnet, for an error message.
fn suggest_address(ip: Ipv4Cidr, taken: &[(Ipv4Addr, u8)]) -> String {
    let net = ip.network().address().to_bits();
    (1..16u32)
        .map(|i| Ipv4Addr::from_bits(net + i))
        .find(|a| ip.contains_addr(a) && !taken.iter().any(|(t, _)| t == a))
        .map_or_else(|| ip.to_string(), |a| format!("{a}/{}", ip.prefix_len()))
}

/// What the process adds to the path, as `run` reports its link.
fn added_link(flags: &TapFlags) -> LinkProfile {
    LinkProfile {
        one_way_delay_ns: flags
            .rtt
            .map_or(0, |d| u64::try_from(d.as_nanos() / 2).unwrap_or(u64::MAX)),
        loss: flags.loss.unwrap_or(0.0),
        ..LinkProfile::default()
    }
}

/// The TAP, a host on it and the run options, ready for `realtime::run`.
struct Rig {
    tap: TapDevice,
    host: Host,
    options: RealtimeOptions,
    /// `--seed`, or one from the clock.
    seed: u64,
}

impl Rig {
    fn new(flags: &TapFlags, knobs: Knobs, time_limit: Option<StdDuration>) -> anyhow::Result<Rig> {
        let tap = TapDevice::open(&flags.tap)?;
        check_kernel_side(&tap, flags.ip)?;
        let stop = Stop::new().context("creating the stop signal")?;
        let handler_stop = stop.clone();
        ctrlc::set_handler(move || handler_stop.request())
            .context("installing the Ctrl-C/SIGTERM handler")?;
        let clock = Clock::start();
        let seed = flags.seed.unwrap_or_else(|| clock.run_seed());
        let config = tap_host_config(flags.ip, flags.gateway, tap.mtu(), seed, knobs);
        let host = Host::new(config, clock.now());
        let mut options = RealtimeOptions::new(clock);
        options.add_impairment(
            flags.rtt.unwrap_or(StdDuration::ZERO),
            flags.loss.unwrap_or(0.0),
        );
        options.seed = seed;
        options.pcap = flags.pcap.clone();
        options.rx_batch = flags.rx_batch as usize;
        options.stop = Some(stop);
        options.time_limit = time_limit;
        Ok(Rig {
            tap,
            host,
            options,
            seed,
        })
    }

    fn run(&mut self, apps: &mut [AppSlot<'_>]) -> anyhow::Result<RealtimeRun> {
        realtime::run(&mut self.host, apps, &mut self.tap, &self.options)
            .with_context(|| format!("running on {}", self.tap.name()))
    }
}

/// The final figures of `serve --json`.
#[derive(Debug, Serialize)]
struct ServeReport {
    end: RealtimeEnd,
    responses: u64,
    connections: Vec<ConnectionReport>,
    knobs: SideKnobs,
    tap: TapReport,
    seed: u64,
}

/// The knobs of the side a TAP command plays, under that side's name as in `run`.
#[derive(Debug, Serialize)]
struct SideKnobs {
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<Knobs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<Knobs>,
}

/// The network part of a TAP report.
#[derive(Debug, Serialize)]
struct TapReport {
    tap: String,
    #[serde(serialize_with = "ser_display")]
    ip: Ipv4Cidr,
    gateway: Option<Ipv4Addr>,
    mtu: usize,
    /// Added inside the process, each direction.
    added: LinkProfile,
    #[serde(flatten)]
    run: RealtimeRun,
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn tap_report(flags: &TapFlags, rig: &Rig, run: RealtimeRun) -> TapReport {
    TapReport {
        tap: flags.tap.clone(),
        ip: flags.ip,
        gateway: flags.gateway,
        mtu: rig.tap.mtu(),
        added: added_link(flags),
        run,
    }
}

/// `tcpknobs serve`: the lab's server on the TAP until Ctrl-C/SIGTERM (or --max-time),
/// then its per-connection statistics.
pub fn serve(args: &ServeArgs) -> anyhow::Result<Outcome> {
    check_addressing(&args.tap, None)?;
    let mut knobs = side_knobs(args.profile, &args.knobs, Side::Server);
    args.server.apply_backlog(&mut knobs);
    let mut rig = Rig::new(&args.tap, knobs.clone(), args.max_time)?;
    let mut server = Server::new(ServerConfig {
        port: args.port,
        ..args.server.config()
    });
    eprintln!(
        "serving http://{}:{}/bytes/N on {} (Ctrl-C stops); knobs: {}",
        args.tap.ip.address(),
        args.port,
        args.tap.tap,
        serde_json::to_string(&knobs)?
    );
    let run = rig.run(&mut [AppSlot {
        host: HostId(0),
        app: &mut server,
        is_server: true,
    }])?;
    let connections = server_connections(&rig.host, &server);
    let report = ServeReport {
        end: run.end,
        responses: server.responses(),
        tap: tap_report(&args.tap, &rig, run),
        connections,
        knobs: SideKnobs {
            client: None,
            server: Some(knobs),
        },
        seed: rig.seed,
    };
    if args.json {
        print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        let mut out = table::connections(&report.connections);
        out.push_str(&serve_summary(
            report.responses,
            report.connections.len(),
            &report.tap.run,
        ));
        print_stdout(&out)?;
    }
    Ok(Outcome::AllSucceeded)
}

/// The last line of `serve`: what was served, in words.
fn serve_summary(responses: u64, connections: usize, run: &RealtimeRun) -> String {
    format!(
        "\n{} on {}, {} in, {} out ({})\n",
        plural(responses, "response", "responses"),
        plural(connections, "connection", "connections"),
        plural(run.frames_read, "frame", "frames"),
        run.frames_written,
        end_name(run.end)
    )
}

/// The result of `get`; the fields `run --json` has keep its names and meanings.
#[derive(Debug, Serialize)]
struct GetReport {
    #[serde(flatten)]
    totals: Totals,
    end: RealtimeEnd,
    transactions: Vec<TransactionReport>,
    connections: Vec<ConnectionReport>,
    knobs: SideKnobs,
    tap: TapReport,
    workload: GetWorkload,
    seed: u64,
}

#[derive(Debug, Serialize)]
struct GetWorkload {
    strategy: Strategy,
    urls: Vec<String>,
    client: ClientReport,
}

/// `tcpknobs get`: the lab's client on the TAP, one request per URL, reported like
/// `run`.
pub fn get(args: &GetArgs) -> anyhow::Result<Outcome> {
    let Some(first) = args.urls.first() else {
        bail!("give at least one URL, e.g. http://10.77.0.1:8000/");
    };
    if let Some(other) = args
        .urls
        .iter()
        .find(|u| (u.addr, u.port) != (first.addr, first.port))
    {
        bail!(
            "all URLs must name the same server: the client connects to one address and \
             port (got {}:{} and {}:{})",
            first.addr,
            first.port,
            other.addr,
            other.port
        );
    }
    check_addressing(&args.tap, Some(first.addr))?;
    let knobs = side_knobs(args.profile, &args.knobs, Side::Client);
    let mut rig = Rig::new(&args.tap, knobs.clone(), args.max_time)?;
    let specs: Vec<RequestSpec> = args
        .urls
        .iter()
        .map(|u| RequestSpec {
            method: Method::Get,
            target: u.target.clone(),
            body_len: 0,
            verify: is_pattern_target(&u.target),
        })
        .collect();
    let config = ClientConfig {
        server: first.addr,
        port: first.port,
        ..args.client.config(GET_RESPONSE_TIMEOUT)
    };
    let mut client =
        Client::with_workload(config.clone(), get_workload(specs, args.client.think_time));
    let epoch = rig.options.clock.now();
    let run = rig.run(&mut [AppSlot {
        host: HostId(0),
        app: &mut client,
        is_server: false,
    }])?;
    client.finish(rig.options.clock.now());

    let epoch = client
        .transactions()
        .iter()
        .filter_map(|t| t.timing.queued)
        .min()
        .unwrap_or(epoch);
    let transactions: Vec<TransactionReport> = client
        .transactions()
        .iter()
        .map(|t| t.report(epoch))
        .collect();
    let connections = client_connections(&rig.host, &client);
    let totals = Totals::of(&transactions, &client, epoch, connections.len());
    let report = GetReport {
        totals,
        end: run.end,
        transactions,
        connections,
        knobs: SideKnobs {
            client: Some(knobs),
            server: None,
        },
        tap: tap_report(&args.tap, &rig, run),
        workload: GetWorkload {
            strategy: config.strategy,
            urls: args.urls.iter().map(ToString::to_string).collect(),
            client: ClientReport::of(&config),
        },
        seed: rig.seed,
    };
    if args.json {
        print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        print_stdout(&render_get(&report))?;
    }
    Ok(Outcome::of_failures(report.totals.failed))
}

/// `get`'s URLs are independent and all issued at once, unless a think time asks for
/// a user who reads each response before asking for the next: then each URL waits for
/// the one before it to finish, plus the think time (as `run --think-time` chains its
/// requests).
fn get_workload(specs: Vec<RequestSpec>, think_time: StdDuration) -> Workload {
    let workload = Workload::independent(specs);
    if think_time.is_zero() {
        workload
    } else {
        workload.chained()
    }
}

/// Whether a target asks for the lab's verifiable pattern (`/bytes/N`).
fn is_pattern_target(target: &str) -> bool {
    target
        .strip_prefix("/bytes/")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn end_name(end: RealtimeEnd) -> &'static str {
    match end {
        RealtimeEnd::Done => "done",
        RealtimeEnd::Stopped => "stopped",
        RealtimeEnd::TimeLimit => "time_limit",
    }
}

fn render_get(r: &GetReport) -> String {
    let w = &r.workload;
    let mut out = format!(
        "{} x GET from {} on {} ({}), {}, strategy {}, added rtt {}, added loss {}, \
         seed {}\n",
        w.urls.len(),
        w.urls.first().map_or("", String::as_str),
        r.tap.tap,
        r.tap.ip,
        w.client.version,
        serde_json::to_value(w.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        format_duration(StdDuration::from_nanos(
            r.tap.added.one_way_delay_ns.saturating_mul(2)
        )),
        r.tap.added.loss,
        r.seed
    );
    out.push('\n');
    out.push_str(&table::transactions(&r.transactions));
    out.push('\n');
    out.push_str(&table::connections(&r.connections));
    out.push_str(&table::totals(&r.totals, end_name(r.end)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://10.77.0.1:8000/a/b?c=d#frag").unwrap();
        assert_eq!(
            u,
            Url {
                addr: Ipv4Addr::new(10, 77, 0, 1),
                port: 8000,
                target: "/a/b?c=d".into()
            }
        );
        assert_eq!(u.to_string(), "http://10.77.0.1:8000/a/b?c=d");
        let u = parse_url("HTTP://10.77.0.2").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        for (bad, says) in [
            ("https://10.77.0.1/", "only http://"),
            ("10.77.0.1/", "not a URL"),
            ("http://example.com/", "no DNS"),
            ("http://10.77.0.1:0/", "port"),
            ("http://10.77.0.1:99999/", "port"),
            ("http://10.77.0.1:x/", "port"),
            ("http://u@10.77.0.1/", "user information"),
            ("http://10.77.0.1/a b", "visible ASCII"),
            ("http://[::1]/", "IPv4"),
            ("http://", "IPv4"),
        ] {
            let e = parse_url(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn cidrs() {
        let c = parse_cidr("10.77.0.2/24").unwrap();
        assert_eq!(c.to_string(), "10.77.0.2/24");
        for (bad, says) in [
            ("10.77.0.2", "prefix length"),
            ("10.77.0.2/33", "1 to 30"),
            ("10.77.0.2/0", "1 to 30"),
            ("10.77.0.2/32", "1 to 30"),
            ("10.77.0.0/24", "network or broadcast"),
            ("10.77.0.255/24", "network or broadcast"),
            ("10.77.0/24", "not an IPv4"),
        ] {
            let e = parse_cidr(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    fn flags(gateway: Option<[u8; 4]>) -> TapFlags {
        TapFlags {
            tap: "tk0".into(),
            ip: parse_cidr("10.77.0.2/24").unwrap(),
            gateway: gateway.map(Ipv4Addr::from),
            rtt: None,
            loss: None,
            seed: None,
            pcap: None,
            rx_batch: MAX_RX_BATCH as u32,
        }
    }

    #[test]
    fn addressing() {
        let ok = |f: &TapFlags, s: Option<[u8; 4]>| check_addressing(f, s.map(Ipv4Addr::from));
        assert!(ok(&flags(None), Some([10, 77, 0, 1])).is_ok());
        let e = ok(&flags(Some([10, 8, 0, 1])), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--gateway 10.8.0.1 is outside 10.77.0.2/24: a gateway must be on this host's \
             subnet (10.77.0.0/24)"
        );
        let e = ok(&flags(None), Some([10, 1, 2, 3]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside 10.77.0.2/24 and no --gateway"), "{e}");
        assert!(ok(&flags(Some([10, 77, 0, 1])), Some([10, 1, 2, 3])).is_ok());
        let e = ok(&flags(None), Some([10, 77, 0, 2]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("own address"), "{e}");
    }

    /// Without a think time the URLs are independent; with one, each waits for the
    /// one before it.
    #[test]
    fn think_time_chains_the_urls() {
        let specs = vec![RequestSpec::bytes(Method::Get, 1); 3];
        let afters = |w: Workload| (0..w.len()).map(|i| w.after(i)).collect::<Vec<_>>();
        assert_eq!(
            afters(get_workload(specs.clone(), StdDuration::ZERO)),
            [None; 3]
        );
        assert_eq!(
            afters(get_workload(specs, StdDuration::from_millis(300))),
            [None, Some(0), Some(1)]
        );
    }

    #[test]
    fn pattern_targets() {
        assert!(is_pattern_target("/bytes/100"));
        assert!(!is_pattern_target("/bytes/"));
        assert!(!is_pattern_target("/bytes/1?x"));
        assert!(!is_pattern_target("/index.html"));
    }

    #[test]
    fn serve_summary_counts_in_words() {
        let run = RealtimeRun {
            end: RealtimeEnd::Stopped,
            frames_read: 1,
            frames_written: 9,
            write_drops: 0,
            tx: Default::default(),
            rx: Default::default(),
            wakeups: 0,
            spin_guards: 0,
        };
        assert_eq!(
            serve_summary(2, 1, &run),
            "\n2 responses on 1 connection, 1 frame in, 9 out (stopped)\n"
        );
        assert_eq!(
            serve_summary(
                1,
                2,
                &RealtimeRun {
                    frames_read: 0,
                    ..run
                }
            ),
            "\n1 response on 2 connections, 0 frames in, 9 out (stopped)\n"
        );
    }

    #[test]
    fn suggestions() {
        let ip = parse_cidr("10.77.0.1/24").unwrap();
        let taken = [(Ipv4Addr::new(10, 77, 0, 1), 24)];
        assert_eq!(suggest_address(ip, &taken), "10.77.0.2/24");
    }
}
