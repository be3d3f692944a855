//! The command line: subcommands, flags, and how flags become an [`Experiment`].

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use clap::builder::PossibleValue;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use tcpknobs_http::client::{ClientConfig, Strategy};
use tcpknobs_http::message::{Method, Version};
use tcpknobs_http::proxy::ProxyMode;
use tcpknobs_http::server::{CloseMode, ServerConfig};
use tcpknobs_lab::tap::TapSetup;
use tcpknobs_stack::congestion::{IdleRestart, LossSsthresh};
use tcpknobs_stack::realtime::MAX_RX_BATCH;
use tcpknobs_stack::retransmit::{LossRecovery, RtoRule};
use tcpknobs_stack::{
    Duration, Ipv4Cidr, Knobs, LinkProfile, Nagle, OnExhaustion, PortSpan, Profile,
};

use tcpknobs_lab::tour::Selection;
use tcpknobs_lab::values::{
    format_bytes, format_duration, format_seconds, parse_bytes, parse_delayed_ack, parse_mtu,
    parse_on_off, parse_page, parse_port_range, parse_positive_u32, parse_probability, parse_rate,
    parse_rto_min, parse_rtt, parse_rx_batch, parse_span, parse_timeout, workload_of, PageSpec,
    ValueError,
};
use tcpknobs_lab::{Experiment, Rows};

/// Measure how TCP slow start, Nagle, delayed ACK and TIME_WAIT change HTTP latency.
///
/// tcpknobs runs a userspace TCP/HTTP stack (smoltcp plus its own layer for the four
/// knobs) on a simulated link with a virtual clock: no privileges, deterministic, much
/// faster than real time. Every timing is explainable packet by packet (--pcap).
#[derive(Parser, Debug)]
#[command(name = "tcpknobs", version, propagate_version = true, after_help = EXIT_STATUS)]
pub struct Cli {
    /// What to do; `tour` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one experiment on the simulated link and print its transactions.
    #[command(
        after_help = format!("{RUN_EXAMPLES}\n\n{EXIT_STATUS}"),
        after_long_help = format!("{RUN_EXAMPLES}\n\n{COLUMNS}\n\n{EXIT_STATUS}")
    )]
    Run(Box<RunArgs>),
    /// Serve HTTP from the userspace stack on a TAP device, until Ctrl-C.
    #[command(after_help = format!("{SERVE_EXAMPLES}\n\n{SERVE_EXIT_STATUS}"))]
    Serve(Box<ServeArgs>),
    /// Fetch URLs from a real server with the lab's client over a TAP device.
    #[command(after_help = format!("{GET_EXAMPLES}\n\n{EXIT_STATUS}"))]
    Get(Box<GetArgs>),
    /// Run one experiment per point of a grid of `run` option values, in parallel; with
    /// --tap, `get` per point against a real server, one at a time.
    #[command(after_help = format!("{SWEEP_EXAMPLES}\n\n{SWEEP_EXIT_STATUS}"))]
    Sweep(Box<SweepArgs>),
    /// Chapter 4's claims one by one: each predicted from its formula, measured on the
    /// simulated stack, its time blamed on a cause, with the `run` command to explore
    /// it further (the default command).
    #[command(after_help = TOUR_HELP)]
    Tour(Box<TourArgs>),
}

/// The command line as clap sees it: the derived definitions, with the flags a TAP
/// command does not take hidden from its help (they are still parsed, to be refused
/// with a reason by [`parse`]).
pub fn command() -> clap::Command {
    let hide = |mut c: clap::Command, side: Side| {
        for &(_, client, server) in KnobFlags::IDS {
            let other = if side == Side::Server { client } else { server };
            c = c.mut_arg(other, |a| a.hide(true));
        }
        c
    };
    Cli::command()
        .mut_subcommand("serve", |c| hide(c, Side::Server))
        .mut_subcommand("get", |c| hide(c, Side::Client))
}

/// Parse the command line into the command to run (the tour when none is named). Usage errors, including combinations clap cannot see (a queue smaller
/// than a frame, a knob for the side a TAP command does not play), come back as clap
/// errors, which exit with status 2.
pub fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_with(&mut command(), args)
}

/// [`parse`] with a [`command`] built before: a sweep parses each of its points, and
/// building the definitions costs more than parsing one point.
pub fn parse_with<I, T>(cmd: &mut clap::Command, args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = cmd.try_get_matches_from_mut(args)?;
    let command = match Cli::from_arg_matches(&matches)?.command {
        Some(c) => c,
        None => {
            let matches = cmd.try_get_matches_from_mut(["tcpknobs", "tour"])?;
            let Some(c) = Cli::from_arg_matches(&matches)?.command else {
                return Err(cmd.error(ErrorKind::MissingSubcommand, "no command given"));
            };
            c
        }
    };
    let problem = match &command {
        Command::Run(args) => args.link.problem().map(|p| ("run", p)),
        Command::Serve(args) => args.knobs.problem(Side::Server).map(|p| ("serve", p)),
        Command::Get(args) => args.knobs.problem(Side::Client).map(|p| ("get", p)),
        Command::Sweep(args) => args.problem().map(|p| ("sweep", p)),
        Command::Tour(_) => None,
    };
    let mut command = command;
    if let (Command::Sweep(args), Some(("sweep", sub))) = (&mut command, matches.subcommand()) {
        args.run_args = given_run_args(cmd, sub);
    }
    match problem {
        None => Ok(command),
        Some((name, (kind, message))) => {
            let sub = cmd
                .find_subcommand_mut(name)
                .map(|c| c.error(kind, &message));
            Err(sub.unwrap_or_else(|| cmd.error(kind, message)))
        }
    }
}

/// The exit status of `run` and `get`, as curl and hyperfine tell success, partial
/// failure, a run that could not be done and a usage error apart.
const EXIT_STATUS: &str = "\
Exit status:
  0  every transaction succeeded
  3  the run completed but some transactions failed (their rows say why)
  1  the run could not be done (bad set-up, e.g. a TAP that is missing, a file that
     cannot be written)
  2  usage error (a bad flag or value)";

const SERVE_EXIT_STATUS: &str = "\
Exit status: 0 after Ctrl-C, SIGTERM or --max-time; 1 when serving could not start or
failed (e.g. the TAP is missing); 2 usage error.";

/// What the table's columns mean, for `run --help`.
const COLUMNS: &str = "\
Columns (README.md, Output, has them all; docs/json.md every JSON field):
  transactions: wait_ms (queued until given a connection), connect_ms (handshake),
    ttfb_ms (request sent until the first response byte), transfer_ms (first to last
    byte), total_ms (queued until done)
  connections, as each host saw them: segs>/segs< and bytes>/bytes< (sent/received,
    retransmissions included), acks> (pure ACKs sent), delack (sent by the delayed-ACK
    timer), rst< (resets received), closer (who closed first), tw_held_ms (how long
    this host held the tuple in TIME_WAIT: the full 2MSL if it expired during the run,
    else until the run ended, which is usually much shorter)";

const SWEEP_EXIT_STATUS: &str = "\
Exit status:
  0  every point ran and every transaction succeeded
  3  some points could not be run or some transactions failed (their rows say why)
  1  the output could not be written
  2  usage error (a bad flag, --vary name or value), before any point runs";

const SWEEP_EXAMPLES: &str = "\
Every `run` option is taken and applies to every point; --vary NAME=V1,V2,... adds
--NAME V to each point (NAME: a run option without the dashes). Ranges: A..B (integers,
inclusive), A..B/STEP (integers or durations: rtt=10ms..300ms/10ms), A..B*N (N points
spaced evenly on a log scale: loss=0.001..0.1*10). Points are the cartesian product,
the first --vary outermost.
  tcpknobs sweep --vary delayed-ack=off,40ms,200ms --vary nagle=on,off \\
      --requests 1 --request-writes 2 --strategy persistent --quickack 0 \\
      --out stall.csv --plot stall.svg
  tcpknobs sweep --vary loss=0.001..0.1*10 --repeat 20 --page 1k+3x1k --plot loss.svg
  tcpknobs sweep --vary rtt=1ms..1000ms/1ms --page 1k+3x1k --shard 0/4 --out part0.csv
  tcpknobs sweep merge part0.csv part1.csv part2.csv part3.csv > all.csv
Over a TAP (--tap IF [--ip CIDR] URL...), each point is `get` instead of `run`: the
lab's client against the real server the URLs name, one point after another in real
time on one TAP (--jobs above 1 is refused; --shard still splits the grid). --vary
then takes `get`'s options: the client's knobs (a plain knob is the client's),
strategy, connections and the other client options, and --rtt and --loss added inside
the process (--repeat K: seeds --seed .. --seed + K - 1, or from the clock, for the
loss draws). Server knobs and options, the simulated link (--bandwidth, --mtu,
--queue) and workload (--page, --requests) are refused before anything runs: vary the
server with scripts/sweep-tap-server.sh. retransmissions counts this host's only.
  sudo ip netns exec tcpknobs tcpknobs sweep --tap tk0 --ip 10.77.0.2/24 \\
      --vary rtt=20ms,60ms,100ms --vary client-nagle=on,off --strategy serial \\
      --out tap.csv http://10.77.0.1:8000/ http://10.77.0.1:8000/
Columns: the varied values, the means over the transactions that succeeded (total_ms,
connect_ms, ttfb_ms, transfer_ms), succeeded, failed, retransmissions, blame.CAUSE_ms
(the mean transaction's time per cause, as run --blame names them), and the point's
error; with --repeat K, each metric's mean, median, p5, p95, min and max over the K
seeds (total_ms_mean, total_ms_p95, ...).";

const SERVE_EXAMPLES: &str = "\
Set up first with `sudo scripts/tap-up.sh`, then run inside its namespace (`ip netns
exec` runs programs as root; `sudo -u \"$(id -un)\"` runs tcpknobs as you, the TAP's
owner; as root, leave out every sudo):
  sudo ip netns exec tcpknobs sudo -u \"$(id -un)\" tcpknobs serve --tap tk0 --ip 10.77.0.2/24
  sudo ip netns exec tcpknobs curl -o /dev/null http://10.77.0.2/bytes/1000000
Ctrl-C or SIGTERM prints the per-connection table (--json: one object): rows for the
first 10,000 connections, so a server left running keeps no more; the last line counts
them all.";

const GET_EXAMPLES: &str = "\
With `python3 -m http.server 8000 --bind 10.77.0.1 --protocol HTTP/1.1` running in the
namespace (python's default, HTTP/1.0, closes every connection, so persistent shows no
reuse; as root, leave out every sudo):
  sudo ip netns exec tcpknobs sudo -u \"$(id -un)\" tcpknobs get --tap tk0 --ip 10.77.0.2/24 \\
      --strategy persistent http://10.77.0.1:8000/ http://10.77.0.1:8000/
/bytes/N targets (a tcpknobs server) are checked byte by byte.";

const RUN_EXAMPLES: &str = "\
Examples (100 ms RTT; every number explained in README.md):
  tcpknobs run --page 1k+3x1k --strategy serial          # 800 ms: 4 x (handshake + request)
  tcpknobs run --page 1k+3x1k --strategy pipelined       # 300 ms
  tcpknobs run --requests 1 --request-writes 2 --strategy persistent \\
      --delayed-ack 200ms --quickack 0 --nagle on        # 500 ms: Nagle meets the delayed ACK
  tcpknobs run --requests 1 --size 64k --delayed-ack off --nagle off \\
      --initial-window 1                                 # 700 ms: six rounds of slow start
  tcpknobs run --rtt 1ms --requests 300 --ports 50000-50099 --time-wait 10s \\
      --on-exhaustion wait                               # 20.2 s: 100 ports / 2MSL
  tcpknobs run --via-proxy dumb --http 1.0 --strategy persistent --requests 2 \\
      --client-timeout 5s                                # the keep-alive hang
Add --json for machine-readable output, --pcap FILE for a capture.";

/// Output format of `run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.0 (persistent only with Connection: keep-alive).
    #[value(name = "1.0")]
    V10,
    /// HTTP/1.1 (persistent by default).
    #[value(name = "1.1")]
    V11,
}

/// Connection strategy flag values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// A new connection per request, one after another; the client closes each.
    Serial,
    /// New connections, up to --connections at once (default 4), one request each.
    Parallel,
    /// Reused connections (--connections, default 1), one request at a time on each.
    Persistent,
    /// Reused connections; requests sent without waiting for responses once a
    /// connection is known to persist (never POST).
    Pipelined,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Serial => Strategy::Serial,
            StrategyArg::Parallel => Strategy::Parallel,
            StrategyArg::Persistent => Strategy::Persistent,
            StrategyArg::Pipelined => Strategy::Pipelined,
        }
    }
}

/// `--close` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CloseArg {
    /// Half-close, drain input until the peer closes or the linger time passes, close.
    Graceful,
    /// close() at once; with unread input the stack resets the connection.
    Abrupt,
}

/// `--via-proxy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProxyArg {
    /// A conforming HTTP/1.1 proxy.
    Smart,
    /// A blind relay that forwards Connection headers (the keep-alive hang).
    Dumb,
}

/// Request methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// GET (idempotent: retried, pipelined).
    Get,
    /// HEAD (idempotent; no body).
    Head,
    /// POST (not idempotent: never pipelined, never replayed).
    Post,
    /// PUT (idempotent).
    Put,
    /// DELETE (idempotent).
    Delete,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Get => Method::Get,
            MethodArg::Head => Method::Head,
            MethodArg::Post => Method::Post,
            MethodArg::Put => Method::Put,
            MethodArg::Delete => Method::Delete,
        }
    }
}

/// Named default sets for the knobs. Its help is written from [`Knobs::profile`], so
/// it says what the code does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileArg {
    /// Today's Linux.
    Linux,
    /// *HTTP: The Definitive Guide*'s classic values.
    Book,
}

impl ProfileArg {
    const ALL: [ProfileArg; 2] = [ProfileArg::Linux, ProfileArg::Book];

    fn name(self) -> &'static str {
        match self {
            ProfileArg::Linux => "linux",
            ProfileArg::Book => "book",
        }
    }

    /// The knobs this profile starts from.
    pub fn knobs(self) -> Knobs {
        Knobs::profile(match self {
            ProfileArg::Linux => Profile::Linux,
            ProfileArg::Book => Profile::Book,
        })
    }
}

impl ValueEnum for ProfileArg {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()).help(profile_summary(&self.knobs())))
    }
}

/// A profile's values as the help prints them, every knob a flag can set.
fn profile_summary(k: &Knobs) -> String {
    let ss = &k.slow_start;
    format!(
        "IW {}, Nagle {}, quick-ACK {}, delayed ACK {}, TIME_WAIT {}, ports {} ({} ports), \
         ssthresh {}, slow start {}, ABC limit {}, slow start after idle {} ({}), loss ssthresh \
         from {}, RTO min {} \
         ({}), recovery {}, backlog {}",
        ss.initial_window,
        nagle_name(k.nagle),
        k.quickack,
        k.delayed_ack.map_or("off".into(), format_smol),
        format_smol(k.time_wait),
        k.ports,
        k.ports.len(),
        ss.ssthresh
            .map_or("unlimited".into(), |b| format_bytes(b.into())),
        on_off(ss.enabled),
        abc_limit_name(ss.abc_limit),
        on_off(ss.restart_after_idle),
        idle_restart_name(ss.idle_restart),
        loss_ssthresh_name(ss.loss_ssthresh),
        format_smol(k.retransmit.rto_min),
        rto_rule_name(k.retransmit.rto_rule),
        recovery_name(k.retransmit.recovery),
        k.backlog,
    )
}

/// One knob's help: what it does, then each profile's value of it.
fn knob_help(what: &str, value: fn(&Knobs) -> String) -> String {
    let defaults: Vec<String> = ProfileArg::ALL
        .iter()
        .map(|p| format!("{}: {}", p.name(), value(&p.knobs())))
        .collect();
    format!("{what} [{}]", defaults.join("; "))
}

fn nagle_name(n: Nagle) -> &'static str {
    match n {
        Nagle::On => "on",
        Nagle::Off => "off",
        Nagle::Minshall => "minshall",
    }
}

fn abc_limit_name(limit: Option<u32>) -> String {
    limit.map_or("none".into(), |l| l.to_string())
}

fn idle_restart_name(rule: IdleRestart) -> &'static str {
    match rule {
        IdleRestart::Linux => "linux",
        IdleRestart::Rfc5681 => "rfc5681",
    }
}

fn loss_ssthresh_name(rule: LossSsthresh) -> &'static str {
    match rule {
        LossSsthresh::Flight => "flight",
        LossSsthresh::Cwnd => "cwnd",
    }
}

fn rto_rule_name(rule: RtoRule) -> &'static str {
    match rule {
        RtoRule::Rfc6298 => "rfc6298",
        RtoRule::Linux => "linux",
    }
}

fn recovery_name(recovery: LossRecovery) -> &'static str {
    match recovery {
        LossRecovery::Reno => "reno",
        LossRecovery::NewReno => "newreno",
        LossRecovery::Sack => "sack",
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// A stack duration as the flags take it: `40ms`, `60s`.
pub fn format_smol(d: Duration) -> String {
    format_seconds(StdDuration::from_micros(d.total_micros()))
}

/// `on-exhaustion` flag values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExhaustionArg {
    /// connect fails at once with "ports exhausted".
    Fail,
    /// connect waits for the first TIME_WAIT tuple to expire.
    Wait,
}

/// The emulated link (both directions alike).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Simulated link")]
pub struct LinkFlags {
    /// Round-trip time, split evenly between the directions (e.g. 100ms, 1ms, 250us).
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_rtt)]
    pub rtt: StdDuration,
    /// Link rate per direction: serialization delay per frame (e.g. 10mbit, 1gbit,
    /// unlimited).
    #[arg(long, value_name = "RATE", default_value = "1gbit", value_parser = parse_rate)]
    pub bandwidth: std::option::Option<u64>,
    /// Independent drop probability per frame (0.02 or 2%), from the seeded generator.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability)]
    pub loss: f64,
    /// IP MTU of the link; MSS = MTU - 40.
    #[arg(long, value_name = "BYTES", default_value = "1500", value_parser = parse_mtu)]
    pub mtu: usize,
    /// Drop-tail queue limit, bytes waiting to be serialized (e.g. 64k); at least the
    /// MTU, so that one full frame fits; default unlimited.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub queue: Option<u64>,
    /// Seed for loss and initial sequence numbers: same inputs + seed = same output.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
}

impl LinkFlags {
    /// A queue that cannot hold one full frame drops every full-sized segment, so
    /// every transfer larger than a segment stalls until the run's time limit.
    fn problem(&self) -> Option<(ErrorKind, String)> {
        let q = self.queue?;
        (q < self.mtu as u64).then(|| {
            (
                ErrorKind::ValueValidation,
                format!(
                    "--queue {q}: a queue of {q} bytes cannot hold one full frame of the \
                     {mtu}-byte MTU, so every full-sized segment would be dropped; use at \
                     least --queue {mtu} (the MTU, set by --mtu), or leave --queue out for \
                     an unlimited queue",
                    mtu = self.mtu
                ),
            )
        })
    }
}

impl KnobFlags {
    /// A one-side flag for the side a command does not play (`serve` is the server,
    /// `get` the client): clap would accept it and the command would ignore it.
    fn problem(&self, plays: Side) -> Option<(ErrorKind, String)> {
        let other = match plays {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let (given, plain, own) = self.first_given(other)?;
        let flag = |id: &str| format!("--{}", id.replace('_', "-"));
        let (command, side) = match plays {
            Side::Client => ("get", "client"),
            Side::Server => ("serve", "server"),
        };
        Some((
            ErrorKind::ArgumentConflict,
            format!(
                "{}: {command} plays the {side} side; use {} or {}",
                flag(given),
                flag(plain),
                flag(own)
            ),
        ))
    }
}

/// A flag's value that may be `off`, wrapped so that clap does not read
/// `Option<Option<_>>` as "optional value": `off` is a value here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OffOr(pub std::option::Option<StdDuration>);

/// `--abc-limit`: a positive count of segments, or `none`; wrapped like [`OffOr`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AbcLimit(pub std::option::Option<u32>);

fn parse_abc_limit(s: &str) -> Result<AbcLimit, String> {
    if s.trim().eq_ignore_ascii_case("none") {
        return Ok(AbcLimit(None));
    }
    parse_positive_u32(s)
        .map(|n| AbcLimit(Some(n)))
        .map_err(|e| format!("{e} (or none: no limit, as Linux)"))
}

/// `--idle-restart`: Linux's halving per idle RTO, or RFC 5681's restart window.
fn parse_idle_restart(s: &str) -> Result<IdleRestart, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "linux" => Ok(IdleRestart::Linux),
        "rfc5681" => Ok(IdleRestart::Rfc5681),
        _ => Err(format!(
            "{s:?} is not an idle-restart rule: use linux (tcp_cwnd_restart: halve per idle \
             RTO) or rfc5681 (§4.1: straight to the restart window)"
        )),
    }
}

/// `--loss-ssthresh`: what a loss halves.
fn parse_loss_ssthresh(s: &str) -> Result<LossSsthresh, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "flight" => Ok(LossSsthresh::Flight),
        "cwnd" => Ok(LossSsthresh::Cwnd),
        _ => Err(format!(
            "{s:?} is not a loss threshold rule: use flight (RFC 5681: half the data in \
             flight) or cwnd (Linux tcp_reno_ssthresh: half the congestion window)"
        )),
    }
}

/// `--rto-rule`: how the RTO's minimum applies.
fn parse_rto_rule(s: &str) -> Result<RtoRule, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "rfc6298" => Ok(RtoRule::Rfc6298),
        "linux" => Ok(RtoRule::Linux),
        _ => Err(format!(
            "{s:?} is not an RTO rule: use rfc6298 (§2.4: round the RTO up to the minimum) or \
             linux (the minimum bounds the variance term: SRTT + max(4*RTTVAR, min))"
        )),
    }
}

/// `--recovery`: what repairs a window with several losses.
fn parse_recovery(s: &str) -> Result<LossRecovery, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "reno" => Ok(LossRecovery::Reno),
        "newreno" => Ok(LossRecovery::NewReno),
        "sack" => Ok(LossRecovery::Sack),
        _ => Err(format!(
            "{s:?} is not a loss recovery: use reno (RFC 5681: one fast retransmit per \
             window), newreno (RFC 6582: each partial ACK resends the next hole) or sack \
             (NewReno plus the peer's SACK blocks, RFC 6675 in part)"
        )),
    }
}

fn parse_ack_delay(s: &str) -> Result<OffOr, ValueError> {
    parse_delayed_ack(s).map(OffOr)
}

fn parse_off_or_timeout(s: &str) -> Result<OffOr, ValueError> {
    parse_timeout(s).map(OffOr)
}

/// Declares each knob three times (both sides, client only, server only), how its
/// value lands in a side's [`Knobs`], and how a profile's value of it is shown.
macro_rules! knob_flags {
    ($(
        $what:literal
        $both:ident, $client:ident, $server:ident: $ty:ty = $parser:expr, $name:literal,
        |$k:ident, $v:ident| $apply:expr,
        shown $show:expr;
    )*) => {
        /// The four TCP mechanisms; the plain flag sets both sides.
        #[derive(Args, Debug, Clone, Default)]
        #[command(next_help_heading = "TCP knobs (plain flag: both sides; --client-X / --server-X: one side)")]
        pub struct KnobFlags {
            $(
                #[arg(long, value_name = $name, value_parser = $parser, help = knob_help($what, $show))]
                pub $both: Option<$ty>,
                #[arg(long, value_name = $name, value_parser = $parser, hide_short_help = true,
                      help = "Client side only (overrides the plain flag)")]
                pub $client: Option<$ty>,
                #[arg(long, value_name = $name, value_parser = $parser, hide_short_help = true,
                      help = "Server side only (overrides the plain flag)")]
                pub $server: Option<$ty>,
            )*
        }

        impl KnobFlags {
            /// Every knob's argument ids: (plain, client side, server side).
            pub const IDS: &[(&'static str, &'static str, &'static str)] = &[
                $((stringify!($both), stringify!($client), stringify!($server)),)*
            ];

            /// Apply the flags that concern `side` on top of `knobs`.
            pub fn apply(&self, side: Side, knobs: &mut Knobs) {
                $(
                    let one = match side {
                        Side::Client => &self.$client,
                        Side::Server => &self.$server,
                    };
                    if let Some($v) = one.clone().or_else(|| self.$both.clone()) {
                        let $k = &mut *knobs;
                        $apply;
                    }
                )*
            }

            /// The first one-side flag given for `side`, as its argument ids
            /// (that flag, the plain flag, the other side's flag).
            fn first_given(&self, side: Side) -> Option<(&'static str, &'static str, &'static str)> {
                $(
                    let (given, other) = match side {
                        Side::Client => (self.$client.is_some(), stringify!($server)),
                        Side::Server => (self.$server.is_some(), stringify!($client)),
                    };
                    if given {
                        let this = match side {
                            Side::Client => stringify!($client),
                            Side::Server => stringify!($server),
                        };
                        return Some((this, stringify!($both), other));
                    }
                )*
                None
            }
        }
    };
}

knob_flags! {
    "Nagle: on = RFC 896 (hold a sub-MSS segment while any data is unacked), minshall = \
     Linux (only while an earlier small segment is unacked), off = TCP_NODELAY"
    nagle, client_nagle, server_nagle: Nagle = parse_nagle, "on|off|minshall",
        |k, v| k.nagle = v,
        shown |k| nagle_name(k.nagle).to_string();
    "ACK the first N data segments of a connection at once (Linux's quick-ACK mode)"
    quickack, client_quickack, server_quickack: u32 = parse_count, "N",
        |k, v| k.quickack = v,
        shown |k| k.quickack.to_string();
    "Delayed-ACK timer: off, or the delay (RFC 1122: at most 500ms)"
    delayed_ack, client_delayed_ack, server_delayed_ack: OffOr = parse_ack_delay, "off|DUR",
        |k, v| k.delayed_ack = v.0.map(to_smol),
        shown |k| k.delayed_ack.map_or("off".into(), format_smol);
    "Initial congestion window in segments (RFC 5681 IW; RFC 6928 allows 10)"
    initial_window, client_initial_window, server_initial_window: u32 = parse_positive_u32, "SEGS",
        |k, v| k.slow_start.initial_window = v,
        shown |k| k.slow_start.initial_window.to_string();
    "Slow-start threshold in bytes (RFC 5681 §3.1: arbitrarily high at first)"
    ssthresh, client_ssthresh, server_ssthresh: u64 = parse_bytes, "BYTES",
        |k, v| k.slow_start.ssthresh = Some(u32::try_from(v).unwrap_or(u32::MAX)),
        shown |k| k.slow_start.ssthresh.map_or("unlimited".into(), |b| format_bytes(b.into()));
    "Slow start on, or off (no congestion window: only the receive window limits)"
    slow_start, client_slow_start, server_slow_start: bool = parse_on_off, "on|off",
        |k, v| k.slow_start.enabled = v,
        shown |k| on_off(k.slow_start.enabled).to_string();
    "Most segments one ACK may add to the window in slow start: 1 = RFC 5681, 2 = RFC 3465, \
     none = Linux (tcp_slow_start: every acknowledged segment, so delayed ACKs still double \
     the window per RTT)"
    abc_limit, client_abc_limit, server_abc_limit: AbcLimit = parse_abc_limit, "none|1|2",
        |k, v| k.slow_start.abc_limit = v.0,
        shown |k| abc_limit_name(k.slow_start.abc_limit);
    "Restart from the initial window after an idle period longer than the RTO"
    slow_start_after_idle, client_slow_start_after_idle, server_slow_start_after_idle: bool = parse_on_off, "on|off",
        |k, v| k.slow_start.restart_after_idle = v,
        shown |k| on_off(k.slow_start.restart_after_idle).to_string();
    "How the window restarts after idle: linux = halve it per idle RTO down to the initial \
     window, ssthresh raised to 3/4 of it (tcp_cwnd_restart); rfc5681 = straight to the \
     initial window (RFC 5681 §4.1)"
    idle_restart, client_idle_restart, server_idle_restart: IdleRestart = parse_idle_restart, "linux|rfc5681",
        |k, v| k.slow_start.idle_restart = v,
        shown |k| idle_restart_name(k.slow_start.idle_restart).to_string();
    "What a loss halves into ssthresh: flight = the data in flight (RFC 5681 §3.1 eq. 4), \
     cwnd = the congestion window (Linux tcp_reno_ssthresh)"
    loss_ssthresh, client_loss_ssthresh, server_loss_ssthresh: LossSsthresh = parse_loss_ssthresh, "flight|cwnd",
        |k, v| k.slow_start.loss_ssthresh = v,
        shown |k| loss_ssthresh_name(k.slow_start.loss_ssthresh).to_string();
    "Minimum retransmission timeout: 1s = RFC 6298 §2.4, 200ms = Linux (TCP_RTO_MIN); every \
     loss the timer repairs costs at least this"
    rto_min, client_rto_min, server_rto_min: StdDuration = parse_rto_min, "DUR",
        |k, v| k.retransmit.rto_min = to_smol(v),
        shown |k| format_smol(k.retransmit.rto_min);
    "How the minimum applies: rfc6298 = round the RTO up to it (a steady path's RTO settles \
     at the minimum); linux = SRTT + max(4*RTTVAR, minimum) (tcp_set_rto: about 300 ms on a \
     steady 100 ms path)"
    rto_rule, client_rto_rule, server_rto_rule: RtoRule = parse_rto_rule, "rfc6298|linux",
        |k, v| k.retransmit.rto_rule = v,
        shown |k| rto_rule_name(k.retransmit.rto_rule).to_string();
    "Loss recovery: reno = one fast retransmit per window, further holes wait for the timer \
     (RFC 5681 §3.2); newreno = each partial ACK resends the next hole at once (RFC 6582); \
     sack = NewReno plus the peer's SACK blocks: a hole with more than two segments SACKed \
     above it is lost and resent, several per round trip (RFC 6675 in part; Linux also \
     finds lost retransmissions and tails with RACK-TLP)"
    recovery, client_recovery, server_recovery: LossRecovery = parse_recovery, "reno|newreno|sack",
        |k, v| k.retransmit.recovery = v,
        shown |k| recovery_name(k.retransmit.recovery).to_string();
    "TIME_WAIT (2MSL) held by the side that closes first"
    time_wait, client_time_wait, server_time_wait: StdDuration = parse_span, "DUR",
        |k, v| k.time_wait = to_smol(v),
        shown |k| format_smol(k.time_wait);
    "Ephemeral ports for outgoing connections (Linux: ip_local_port_range)"
    ports, client_ports, server_ports: PortSpan = parse_port_range, "LO-HI",
        |k, v| k.ports = v,
        shown |k| k.ports.to_string();
    "SYN retransmissions before connect gives up (Linux tcp_syn_retries; RTO 1 s, doubling: \
     6 gives up at 127 s)"
    syn_retries, client_syn_retries, server_syn_retries: u32 = parse_count, "N",
        |k, v| k.syn_retries = v,
        shown |k| k.syn_retries.to_string();
    "SYN-ACK retransmissions before a half-open passive connection is dropped (Linux \
     tcp_synack_retries: 5 = 63 s)"
    synack_retries, client_synack_retries, server_synack_retries: u32 = parse_count, "N",
        |k, v| k.synack_retries = v,
        shown |k| k.synack_retries.to_string();
}

/// Which side a set of knobs is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The HTTP client's host.
    Client,
    /// The HTTP server's host.
    Server,
}

/// One side's knobs: the profile's defaults, then the flags that concern that side.
pub fn side_knobs(profile: ProfileArg, flags: &KnobFlags, side: Side) -> Knobs {
    let mut knobs = profile.knobs();
    flags.apply(side, &mut knobs);
    knobs
}

/// `--nagle`: the booleans of [`parse_on_off`] plus `minshall`.
fn parse_nagle(s: &str) -> Result<Nagle, String> {
    if s.trim().eq_ignore_ascii_case("minshall") {
        return Ok(Nagle::Minshall);
    }
    match parse_on_off(s) {
        Ok(true) => Ok(Nagle::On),
        Ok(false) => Ok(Nagle::Off),
        Err(_) => Err(format!(
            "{s:?} is not a Nagle mode: use on (RFC 896), minshall (Linux) or off (TCP_NODELAY)"
        )),
    }
}

/// A count that may be zero.
fn parse_count(s: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a count: use a whole number from 0, e.g. 0, 2, 16"))
}

fn to_smol(d: StdDuration) -> Duration {
    Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// How the lab's client uses connections: shared by `run` and `get`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Client")]
pub struct ClientFlags {
    /// How the client uses connections.
    #[arg(long, value_enum, default_value = "serial", ignore_case = true)]
    pub strategy: StrategyArg,

    /// Connections open at once (default: 4 for parallel, 1 otherwise).
    #[arg(long, value_name = "N", value_parser = parse_positive_u32)]
    pub connections: Option<u32>,

    /// write() calls the client uses per request (2 exposes Nagle x delayed ACK).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive_u32)]
    pub request_writes: u32,

    /// HTTP version of the client's requests.
    #[arg(long, value_enum, default_value = "1.1")]
    pub http: HttpVersion,

    /// Client pause between a response and the next request that waits for it; when set,
    /// each of run's --requests and get's URLs waits for the one before.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_span)]
    pub think_time: StdDuration,

    /// Give up on a response this long after its request got a connection, or off.
    #[arg(long, value_name = "off|DUR", value_parser = parse_off_or_timeout, help = timeout_help())]
    pub client_timeout: Option<OffOr>,

    /// Retries of an idempotent request whose connection closed before its response.
    #[arg(long, value_name = "N", default_value = "2", value_parser = parse_count)]
    pub retries: u32,
}

/// `run`'s response timeout when `--client-timeout` is not given: none. A slow link is
/// the experiment there, not a fault, and `--max-time` already bounds the run.
pub const RUN_RESPONSE_TIMEOUT: Option<StdDuration> = None;

/// `get`'s response timeout when `--client-timeout` is not given: 5 minutes, about a
/// browser's patience with a real server that has stopped answering.
pub const GET_RESPONSE_TIMEOUT: Option<StdDuration> = Some(StdDuration::from_secs(300));

fn timeout_help() -> String {
    let show = |t: Option<StdDuration>| t.map_or("off".into(), format_duration);
    format!(
        "Give up on a response this long after its request got a connection, or off \
         [run: {}, since --max-time bounds a run; get: {}]; e.g. 5s ends the dumb-proxy hang",
        show(RUN_RESPONSE_TIMEOUT),
        show(GET_RESPONSE_TIMEOUT)
    )
}

impl ClientFlags {
    /// The client these flags describe (server address and port filled in later);
    /// `default_timeout` applies when `--client-timeout` was not given.
    pub fn config(&self, default_timeout: Option<StdDuration>) -> ClientConfig {
        let timeout = self.client_timeout.map_or(default_timeout, |t| t.0);
        ClientConfig {
            strategy: self.strategy.into(),
            connections: self.connections.map(|n| n as usize),
            request_writes: self.request_writes,
            version: match self.http {
                HttpVersion::V10 => Version::Http10,
                HttpVersion::V11 => Version::Http11,
            },
            timeout: timeout.map(to_smol),
            max_retries: self.retries,
            think_time: to_smol(self.think_time),
            ..ClientConfig::default()
        }
    }
}

/// How the lab's server behaves: shared by `run` and `serve`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Server")]
pub struct ServerFlags {
    /// write() calls the server uses per response (head alone first when >= 2).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive_u32)]
    pub response_writes: u32,

    /// Whether the server lets connections persist at all.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub server_keep_alive: bool,

    /// Idle time after which the server closes a persistent connection (it closes
    /// first, so it holds the TIME_WAIT); the default is nginx's `keepalive_timeout`.
    #[arg(long, value_name = "DUR", default_value = "75s", value_parser = parse_span)]
    pub server_keep_alive_timeout: StdDuration,

    /// Requests per connection; the last response says `Connection: close`.
    #[arg(long, value_name = "N", value_parser = parse_positive_u32)]
    pub server_keep_alive_max: Option<u32>,

    /// Processing time per request; pipelined requests queue behind it.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_span)]
    pub server_delay: StdDuration,

    /// Frame response bodies with chunked transfer coding (HTTP/1.1 requests).
    #[arg(long)]
    pub server_chunked: bool,

    /// Send no Content-Length: the body ends at close (the connection cannot persist).
    #[arg(long)]
    pub server_no_length: bool,

    /// How the server closes: graceful (half-close, drain input, then close) or abrupt
    /// (close at once: unread input makes the stack send RST).
    #[arg(long, value_enum, default_value = "graceful", ignore_case = true)]
    pub close: CloseArg,

    /// How long a graceful close keeps draining input before it closes for good.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_span)]
    pub server_linger: StdDuration,

    /// Misbehave: send only this many body bytes of each response, then close.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub server_truncate: Option<u64>,

    /// Drop a connection whose request head has not arrived within this time.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_span)]
    pub server_header_timeout: StdDuration,

    /// Drop a connection whose request body stops arriving: the longest gap between two
    /// reads of a body (nginx's client_body_timeout). No response is sent, as nginx
    /// sends none.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_span)]
    pub server_body_timeout: StdDuration,

    /// Abort (RST) a connection whose client stops reading: the longest gap between two
    /// writes of a response the socket accepted (nginx's send_timeout with
    /// reset_timedout_connection on).
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_span)]
    pub server_send_timeout: StdDuration,

    /// The server's listen backlog: connections that may wait to be accepted; past it,
    /// SYNs and handshake ACKs are dropped, as Linux does. The default is the
    /// profile's (nginx's 511).
    #[arg(long, value_name = "N", value_parser = parse_positive_u32, help = knob_help(
        "The server's listen backlog: connections that may wait to be accepted; past it, \
         SYNs and handshake ACKs are dropped, as Linux does",
        |k| k.backlog.to_string(),
    ))]
    pub backlog: Option<u32>,

    /// Connections the server serves at once (a worker pool; default: all, an event
    /// loop). The rest wait in the accept queue, and past `--backlog` their handshakes
    /// are dropped and retried.
    #[arg(long, value_name = "N", value_parser = parse_positive_u32)]
    pub server_workers: Option<u32>,
}

impl ServerFlags {
    /// The server these flags describe (port filled in later).
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            response_writes: self.response_writes,
            keep_alive: self.server_keep_alive,
            keep_alive_timeout: to_smol(self.server_keep_alive_timeout),
            keep_alive_max: self.server_keep_alive_max,
            delay: to_smol(self.server_delay),
            chunked: self.server_chunked,
            no_length: self.server_no_length,
            close: match self.close {
                CloseArg::Graceful => CloseMode::Graceful,
                CloseArg::Abrupt => CloseMode::Abrupt,
            },
            linger: to_smol(self.server_linger),
            truncate: self.server_truncate,
            header_timeout: to_smol(self.server_header_timeout),
            body_timeout: to_smol(self.server_body_timeout),
            send_timeout: to_smol(self.server_send_timeout),
            workers: self.server_workers,
            ..ServerConfig::default()
        }
    }

    /// Apply `--backlog` to the server host's knobs.
    pub fn apply_backlog(&self, knobs: &mut Knobs) {
        if let Some(n) = self.backlog {
            knobs.backlog = n as usize;
        }
    }
}

/// Options of `run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub link: LinkFlags,

    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Default knob values for both sides.
    #[arg(
        long,
        value_enum,
        default_value = "linux",
        help_heading = "TCP knobs (plain flag: both sides; --client-X / --server-X: one side)"
    )]
    pub profile: ProfileArg,

    /// When every ephemeral port is live or in TIME_WAIT: fail the connect, or wait
    /// for the first tuple to expire.
    #[arg(
        long,
        value_enum,
        default_value = "fail",
        help_heading = "TCP knobs (plain flag: both sides; --client-X / --server-X: one side)"
    )]
    pub on_exhaustion: ExhaustionArg,

    /// A page instead of --requests: the HTML object first, then groups of objects the
    /// client learns about only from it (e.g. 10k+3x20k, the book's example).
    #[arg(long, value_name = "HTML+NxSIZE", value_parser = parse_page, conflicts_with_all = ["requests", "size"], help_heading = "Workload")]
    pub page: Option<PageSpec>,

    /// Number of requests.
    #[arg(long, value_name = "N", default_value = "4", value_parser = parse_positive_u32, help_heading = "Workload")]
    pub requests: u32,

    /// Response body size of each request (e.g. 100, 64k, 1m).
    #[arg(long, value_name = "BYTES", default_value = "100", value_parser = parse_bytes, help_heading = "Workload")]
    pub size: u64,

    /// Request method (a page's HTML is always fetched with GET).
    #[arg(
        long,
        value_enum,
        default_value = "get",
        ignore_case = true,
        help_heading = "Workload"
    )]
    pub method: MethodArg,

    #[command(flatten)]
    pub client: ClientFlags,

    #[command(flatten)]
    pub server: ServerFlags,

    /// Put a proxy host between client and server: smart (strips hop-by-hop headers,
    /// its own persistent connections) or dumb (relays blindly: the keep-alive hang).
    #[arg(long, value_enum, ignore_case = true, help_heading = "Server")]
    pub via_proxy: Option<ProxyArg>,

    /// Give up when virtual time passes this (unfinished transactions are reported).
    #[arg(long, value_name = "DUR", default_value = "1h", value_parser = parse_span, help_heading = "Output")]
    pub max_time: StdDuration,

    /// Print one JSON object instead of the table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Transactions that get a row in the table or JSON: all, none, or N (the first N
    /// in workload order). The summary (counts, sums, min, max, percentiles, failures
    /// by kind) always covers every transaction. When rows are left out, each host
    /// lists only as many connections (its first N), so a long run's memory follows
    /// its live connections. [default: all up to 10,000 transactions, none above]
    #[arg(long, value_name = "all|none|N", value_parser = parse_rows, help_heading = "Output")]
    pub rows: Option<Rows>,

    /// Write every frame of the run to FILE (raw IP, ns timestamps); the format follows
    /// the extension: .pcapng gives pcapng with one interface per host and a comment on
    /// each dropped frame, anything else classic pcap.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub pcap: Option<PathBuf>,

    /// Also write the transactions that have a row (--rows) as an HTTP Archive (HAR
    /// 1.2), the JSON format browsers' developer tools export: open it in Chrome or Firefox DevTools
    /// (Network panel, import) or any HAR viewer for a waterfall of each request's
    /// blocked, connect, send, wait and receive times, with the heads sent and
    /// received. Failed transactions are entries with status 0 and `_error`.
    /// The file is created before the run.
    #[arg(long, value_name = "FILE.har", help_heading = "Output")]
    pub har: Option<PathBuf>,

    /// Write the event trace to this file, one JSON object a line, times in ns:
    /// every segment sent (and why: new data, delayed ACK, RTO retransmission, ...)
    /// and received, what held written data (congestion window, Nagle, ...), when
    /// an ACK was owed, what the link did with each frame, and the HTTP moments.
    /// docs/trace.md lists the fields.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub trace: Option<PathBuf>,

    /// Draw the run as one self-contained SVG (any browser opens it): a waterfall of
    /// the transactions, one row per connection, each bar split and coloured by
    /// where its time went (the causes of --blame); the congestion windows; and a
    /// packet sequence diagram of the first 300 segments.
    #[arg(long, value_name = "FILE.svg", help_heading = "Output")]
    pub timeline: Option<PathBuf>,

    /// Show where each transaction's time went: a row per transaction with a column
    /// per cause (handshake, propagation, slow_start, nagle, delayed_ack, queued,
    /// ...), and the sums over the run. The causes of a transaction add up to its
    /// total. JSON always carries them (`blame`).
    #[arg(long, help_heading = "Output")]
    pub blame: bool,
}

const TOUR_HELP: &str = "\
Each experiment prints the chapter item and its claim, the settings side by side, the
prediction (formula in words and numbers), the measurement, pass or FAIL (a run may end
later than predicted only by the serialization of its frames), the cause that took the
most time, and the `tcpknobs run ...` command that reproduces it.
  tcpknobs tour --only 9              # Nagle and the delayed ACK
  tcpknobs tour --profile book        # the book's IW 1, 200 ms delayed ACK, 2MSL 120 s
  tcpknobs tour --json | jq '.experiments[] | {name, pass: [.settings[].pass]}'
Exit status: 0 every prediction held; 3 some did not; 1 a run could not be done; 2 usage
error (e.g. --only naming no experiment).";

/// `--lang` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    /// English.
    En,
    /// Korean (한국어).
    Ko,
}

fn parse_only(s: &str) -> Result<Selection, String> {
    Selection::parse(s).map_err(|e| e.to_string())
}

/// Options of `tour`.
#[derive(Args, Debug, Clone)]
pub struct TourArgs {
    /// The knobs both sides start from; the predictions follow them.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,

    /// Run only one chapter item's experiments (e.g. 9) or one experiment by name
    /// (e.g. nagle); `--list` shows them.
    #[arg(long, value_name = "ITEM|NAME", value_parser = parse_only)]
    pub only: Option<Selection>,

    /// List the experiments (item, name, claim) without running them.
    #[arg(long)]
    pub list: bool,

    /// Print one JSON object instead of the text (docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// Language of the claims and formulas [default: from LANG, else en].
    #[arg(long, value_enum)]
    pub lang: Option<LangArg>,

    /// Item 10 with the profile's own ports and 2MSL (the book: 60,000 ports, 120 s;
    /// minutes of virtual time, seconds of wall time) instead of both scaled down a
    /// hundredfold, which keeps the same ceiling.
    #[arg(long)]
    pub full: bool,

    /// Draw every setting's run as DIR/NAME-K.svg (the waterfall of `run --timeline`).
    #[arg(long, value_name = "DIR")]
    pub timeline: Option<PathBuf>,
}

/// Options of `sweep`: its own, then every option of `run`, applied to each point.
#[derive(Args, Debug, Clone)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct SweepArgs {
    /// Vary a `run` option (with --tap, a `get` option): NAME=V1,V2,... (NAME without
    /// the dashes; ranges A..B, A..B/STEP and A..B*N, N points log-spaced). Repeat for
    /// more options: the points are the cartesian product, the first --vary outermost.
    #[arg(
        long,
        value_name = "NAME=V1,V2,...",
        required = true,
        help_heading = "Sweep"
    )]
    pub vary: Vec<String>,

    /// Run each point K times, with seeds --seed, --seed + 1, ... --seed + K - 1, and
    /// report each metric's mean, median, p5, p95, min and max over them: what loss
    /// (--loss) does varies from seed to seed, and one seed is an anecdote.
    #[arg(
        long,
        value_name = "K",
        default_value_t = 1,
        value_parser = parse_repeat,
        help_heading = "Sweep"
    )]
    pub repeat: usize,

    /// Threads that parse and run the points [default: one per core]. The output is
    /// the same for any N. With --tap the points run one at a time: N above 1 is
    /// refused.
    #[arg(long, value_name = "N", value_parser = parse_jobs, help_heading = "Sweep")]
    pub jobs: Option<usize>,

    /// Run only every N-th point, starting at point K (from 0): N machines or jobs
    /// (a Slurm array, GNU parallel) each run one shard with --out part-K.csv, and
    /// `tcpknobs sweep merge part-*.csv` gives the file one machine would have written.
    #[arg(long, value_name = "K/N", value_parser = parse_shard, help_heading = "Sweep")]
    pub shard: Option<tcpknobs_lab::sweep::Shard>,

    /// Also write the rows to this file, its format chosen by the extension: .csv
    /// (every column, a record per point), .json (an array), .jsonl (an object a line)
    /// or .md (a Markdown table, as printed). Repeat for several. Created before any
    /// point runs.
    #[arg(long, value_name = "FILE.csv|.json|.jsonl|.md", help_heading = "Sweep")]
    pub out: Vec<PathBuf>,

    /// Draw --metric against the first varied option as an SVG: a line per
    /// combination of the other varied options (with --repeat, the median and its
    /// p5-p95 band), log axes for log-spaced ranges (A..B*N).
    #[arg(long, value_name = "FILE.svg", help_heading = "Sweep")]
    pub plot: Option<PathBuf>,

    /// The metric --plot draws: total_ms, connect_ms, ttfb_ms, transfer_ms,
    /// succeeded, failed, retransmissions or blame.CAUSE_ms (e.g. blame.nagle_ms).
    #[arg(
        long,
        value_name = "COLUMN",
        default_value = "total_ms",
        help_heading = "Sweep"
    )]
    pub metric: String,

    /// lines: the metric against the first varied option; heatmap: two varied
    /// options, the first across, the second up, the metric in each cell.
    #[arg(
        long,
        value_name = "KIND",
        default_value = "lines",
        help_heading = "Sweep"
    )]
    pub plot_kind: PlotKindArg,

    /// Leave the blame columns empty and record no event trace: each point runs
    /// faster (README, Sweeps, has the numbers), for sweeps that only need the
    /// timings.
    #[arg(long, help_heading = "Sweep")]
    pub no_blame: bool,

    /// No progress bar (it is shown on stderr only when stderr is a terminal).
    #[arg(long, short, help_heading = "Sweep")]
    pub quiet: bool,

    /// Run the points over this TAP device instead of the simulator: `get`'s client
    /// (this process's stack) against the real server the URLs name, one point after
    /// another in real time. The options vary the client (its knobs, strategy,
    /// connections, ...) and what the process adds to the path (--rtt, --loss);
    /// the server is real, so server and simulated-link options are refused (vary the
    /// server with scripts/sweep-tap-server.sh). --jobs above 1 is refused.
    #[arg(long, value_name = "IF", help_heading = "Sweep over a TAP")]
    pub tap: Option<String>,

    /// With --tap: this host's address and prefix, as `get --ip` [default: 10.77.0.2/24].
    #[arg(long, value_name = "CIDR", value_parser = parse_cidr, requires = "tap", help_heading = "Sweep over a TAP")]
    pub ip: Option<Ipv4Cidr>,

    /// With --tap: the default gateway, as `get --gateway`.
    #[arg(
        long,
        value_name = "IP",
        requires = "tap",
        help_heading = "Sweep over a TAP"
    )]
    pub gateway: Option<Ipv4Addr>,

    /// With --tap: frames handed to the stack at once, as `get --rx-batch` [default: 64].
    #[arg(long, value_name = "N", value_parser = parse_rx_batch, requires = "tap", help_heading = "Sweep over a TAP")]
    pub rx_batch: Option<u32>,

    /// With --tap: the URLs each point fetches, as `get`'s (http://IP[:PORT]/PATH, one
    /// server).
    #[arg(value_name = "URL", value_parser = parse_url, requires = "tap", help_heading = "Sweep over a TAP")]
    pub urls: Vec<Url>,

    #[command(flatten)]
    pub run: RunArgs,

    /// `sweep merge`: put CSV shards back together.
    #[command(subcommand)]
    pub action: Option<SweepAction>,

    /// The `run` options given on the command line, as `--NAME=VALUE` (or `--NAME`),
    /// each point's argument list before its varied values.
    #[arg(skip)]
    pub run_args: Vec<std::ffi::OsString>,
}

/// `--plot-kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlotKindArg {
    /// The metric against the first varied option, a line per combination of the
    /// others.
    Lines,
    /// Two varied options as a grid of cells, coloured by the metric.
    Heatmap,
}

/// What `sweep` does instead of sweeping.
#[derive(Subcommand, Debug, Clone)]
pub enum SweepAction {
    /// Merge CSV shards (--shard K/N runs with --out F.csv) into the file the whole
    /// sweep writes, printed on stdout: the header once, the points in order. Every
    /// point must be in exactly one file.
    Merge {
        /// The shards' CSV files, in any order.
        #[arg(value_name = "FILE.csv", required = true)]
        files: Vec<PathBuf>,
    },
}

impl SweepArgs {
    /// One capture file cannot hold many runs, and each output must name a format.
    fn problem(&self) -> Option<(ErrorKind, String)> {
        if self.action.is_some() {
            return None;
        }
        if let Some(tap) = &self.tap {
            if let Some(n) = self.jobs.filter(|n| *n > 1) {
                return Some((
                    ErrorKind::ArgumentConflict,
                    format!(
                        "--jobs {n}: with --tap the points share one TAP and run one after \
                         another in real time (parallel points would time each other); \
                         leave --jobs out"
                    ),
                ));
            }
            if self.urls.is_empty() {
                return Some((
                    ErrorKind::MissingRequiredArgument,
                    format!(
                        "--tap {tap}: give the URLs each point fetches, e.g. \
                         http://10.77.0.1:8000/"
                    ),
                ));
            }
        }
        if let Some(p) = self.run.link.problem() {
            return Some(p);
        }
        // One command for one point: `get` over a TAP, `run` otherwise.
        let one = if self.tap.is_some() { "get" } else { "run" };
        if self.run.pcap.is_some() {
            return Some((
                ErrorKind::ArgumentConflict,
                format!(
                    "--pcap takes one run; capture a point with `tcpknobs {one} ... --pcap FILE`"
                ),
            ));
        }
        if self.run.har.is_some() {
            return Some((
                ErrorKind::ArgumentConflict,
                format!(
                    "--har takes one run; archive a point with `tcpknobs {one} ... --har FILE`"
                ),
            ));
        }
        if self.run.trace.is_some() || self.run.timeline.is_some() {
            return Some((
                ErrorKind::ArgumentConflict,
                format!("--trace and --timeline take one run; look at a point with `tcpknobs {one} ... --trace FILE` or `--timeline FILE`"),
            ));
        }
        for out in &self.out {
            if !matches!(
                out.extension().and_then(|e| e.to_str()),
                Some("csv" | "json" | "jsonl" | "md")
            ) {
                return Some((
                    ErrorKind::InvalidValue,
                    format!(
                        "--out '{}': the file name must end in .csv, .json, .jsonl or .md (the format)",
                        out.display()
                    ),
                ));
            }
        }
        let plot = self.plot.as_ref()?;
        match plot.extension().and_then(|e| e.to_str()) {
            Some("svg") => None,
            _ => Some((
                ErrorKind::InvalidValue,
                format!(
                    "--plot '{}': the file name must end in .svg (the only format drawn)",
                    plot.display()
                ),
            )),
        }
    }
}

/// `--repeat`: at least one run per point.
fn parse_repeat(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| format!("expected a number of seeds per point, 1 to 1000000, got '{s}'"))
}

/// `--shard K/N`.
fn parse_shard(s: &str) -> Result<tcpknobs_lab::sweep::Shard, String> {
    tcpknobs_lab::sweep::Shard::parse(s).map_err(|e| {
        let text = e.to_string();
        text.strip_prefix(&format!("--shard '{s}': "))
            .unwrap_or(&text)
            .to_owned()
    })
}

/// `--jobs`: at least one.
fn parse_jobs(s: &str) -> Result<usize, String> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a number of points to run at once, 1 or more, got '{s}'"))
}

/// The names `sweep --vary` takes: every `run` option that takes a value, except
/// `--pcap` and `--har` (one file per run).
pub fn sweep_names() -> Vec<String> {
    let mut cmd = command();
    cmd.build();
    let Some(run) = cmd.find_subcommand("run") else {
        return Vec::new();
    };
    run.get_arguments()
        .filter(|a| {
            a.get_action().takes_values()
                && !matches!(a.get_id().as_str(), "pcap" | "trace" | "har" | "timeline")
        })
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect()
}

/// What `sweep --tap` must not take from the command line, though `get` does: it
/// sets them once for the whole sweep, or they write one file per run.
const TAP_SWEEP_ONCE: [&str; 7] = ["tap", "ip", "gateway", "pcap", "har", "trace", "timeline"];

/// The names `sweep --tap --vary` takes: every option of `get` that takes a value
/// and sets its client or what the process adds to the path (not the TAP, the
/// address or an output file).
pub fn tap_sweep_names() -> Vec<String> {
    let mut cmd = command();
    cmd.build();
    let Some(get) = cmd.find_subcommand("get") else {
        return Vec::new();
    };
    get.get_arguments()
        .filter(|a| {
            a.get_action().takes_values()
                && !a.is_hide_set()
                && !TAP_SWEEP_ONCE.contains(&a.get_id().as_str())
        })
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect()
}

/// Why `sweep --tap` does not take `--NAME`, a `run` option (given or varied);
/// `None` when `get` takes it for every point (`--vary` also needs a value:
/// [`tap_sweep_names`]).
pub fn tap_refusal(name: &str) -> Option<String> {
    let mut cmd = command();
    cmd.build();
    let takes = cmd.find_subcommand("get").is_some_and(|get| {
        get.get_arguments().any(|a| {
            a.get_long() == Some(name)
                && !a.is_hide_set()
                && !TAP_SWEEP_ONCE.contains(&a.get_id().as_str())
        })
    });
    if takes {
        return None;
    }
    let longs = |cmd: clap::Command| -> Vec<String> {
        cmd.get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect()
    };
    let server = longs(ServerFlags::augment_args(clap::Command::new("server")));
    let link = longs(LinkFlags::augment_args(clap::Command::new("link")));
    let why = if name.starts_with("server-") || server.iter().any(|n| n == name) {
        "it sets the server, and with --tap the server is the real one the URLs name: \
         vary its knobs with scripts/sweep-tap-server.sh, which restarts `tcpknobs \
         serve` with each value"
    } else if name == "via-proxy" {
        "the proxy is the simulator's; with --tap, put a real proxy in front of the \
         server"
    } else if link.iter().any(|n| n == name) {
        "it sets the simulated link; over a TAP the path is real, and the process adds \
         only --rtt and --loss"
    } else if matches!(name, "page" | "requests" | "size" | "method") {
        "it sets the simulated workload; with --tap each point fetches the URLs given, \
         one GET each"
    } else if TAP_SWEEP_ONCE.contains(&name) {
        "it is set once for the whole sweep, or writes one file per run"
    } else {
        "`get`, whose client sweep --tap runs, has no such option"
    };
    Some(format!("--{name} does not apply with --tap: {why}"))
}

/// The `run` options `matches` (a sweep's) got from the command line, as arguments
/// `run` parses back to the same values: `--NAME=RAW` per value, `--NAME` for a flag.
fn given_run_args(cmd: &clap::Command, matches: &clap::ArgMatches) -> Vec<std::ffi::OsString> {
    let Some(run) = cmd.find_subcommand("run") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for arg in run.get_arguments() {
        let id = arg.get_id().as_str();
        let Some(long) = arg.get_long() else {
            continue;
        };
        if matches.value_source(id) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        if !arg.get_action().takes_values() {
            out.push(format!("--{long}").into());
            continue;
        }
        for raw in matches.get_raw(id).into_iter().flatten() {
            let mut a = std::ffi::OsString::from(format!("--{long}="));
            a.push(raw);
            out.push(a);
        }
    }
    out
}

/// `--rows`: `all`, `none` or a number of rows.
fn parse_rows(s: &str) -> Result<Rows, String> {
    match s {
        "all" => Ok(Rows::All),
        "none" => Ok(Rows::First(0)),
        n => n
            .parse()
            .map(Rows::First)
            .map_err(|_| format!("expected all, none or a number of rows, got '{s}'")),
    }
}

impl RunArgs {
    /// The experiment these flags describe.
    pub fn experiment(&self) -> Experiment {
        let mut client = side_knobs(self.profile, &self.knobs, Side::Client);
        let mut server = side_knobs(self.profile, &self.knobs, Side::Server);
        let on_exhaustion = match self.on_exhaustion {
            ExhaustionArg::Fail => OnExhaustion::Fail,
            ExhaustionArg::Wait => OnExhaustion::Wait,
        };
        client.on_exhaustion = on_exhaustion;
        server.on_exhaustion = on_exhaustion;
        self.server.apply_backlog(&mut server);
        let l = &self.link;
        let link = LinkProfile {
            one_way_delay_ns: u64::try_from(l.rtt.as_nanos() / 2).unwrap_or(u64::MAX),
            bandwidth_bps: l.bandwidth,
            loss: l.loss,
            queue_bytes: l.queue.map(|q| usize::try_from(q).unwrap_or(usize::MAX)),
            mtu: l.mtu,
        };
        let method = Method::from(self.method);
        let (workload, label) = workload_of(self.page.as_ref(), self.requests, self.size, &method);
        let workload = if self.client.think_time.is_zero() || self.page.is_some() {
            workload
        } else {
            workload.chained()
        };
        Experiment {
            link,
            seed: l.seed,
            client_knobs: client,
            server_knobs: server,
            client: self.client.config(RUN_RESPONSE_TIMEOUT),
            server: self.server.config(),
            proxy: self.via_proxy.map(|p| match p {
                ProxyArg::Smart => ProxyMode::Smart,
                ProxyArg::Dumb => ProxyMode::Dumb,
            }),
            workload,
            workload_label: label,
            max_time: to_smol(self.max_time),
            rows: self.rows.unwrap_or_default(),
            blame: true,
        }
    }
}

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
    /// Capture the frames crossing the TAP to FILE (Ethernet, wall-clock ns); the format
    /// follows the extension: .pcapng gives pcapng with one interface named after the
    /// TAP, anything else classic pcap.
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

impl TapFlags {
    /// The setup these flags describe.
    pub fn setup(&self) -> TapSetup {
        TapSetup {
            tap: self.tap.clone(),
            ip: self.ip,
            gateway: self.gateway,
            rtt: self.rtt,
            loss: self.loss,
            seed: self.seed,
            pcap: self.pcap.clone(),
            rx_batch: self.rx_batch,
        }
    }
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

    /// Write this host's event trace to this file as the server runs, one JSON
    /// object a line, times in ns since it started: every segment sent (and why)
    /// and received, what held written data, when an ACK was owed, the server's
    /// HTTP moments. docs/json.md lists the fields.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub trace: Option<PathBuf>,

    /// When it stops, draw the congestion window of every connection it served, on
    /// one time axis, as one SVG (`run --timeline`'s picture of a server; it has no
    /// transactions of its own, and over a TAP only this host is traced).
    #[arg(long, value_name = "FILE.svg", help_heading = "Output")]
    pub timeline: Option<PathBuf>,
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

    /// Also write the transactions as an HTTP Archive (HAR 1.2), the JSON
    /// format browsers' developer tools export: open it in Chrome or Firefox DevTools
    /// (Network panel, import) or any HAR viewer for a waterfall of each request's
    /// blocked, connect, send, wait and receive times, with the heads sent and
    /// received. Failed transactions are entries with status 0 and `_error`.
    /// Dates are the wall clock's. The file is created before the run.
    #[arg(long, value_name = "FILE.har", help_heading = "Output")]
    pub har: Option<PathBuf>,

    /// Show where each transaction's time went, as `run --blame` does, from what this
    /// host can see: its handshake, what held its request (Nagle, the windows), its
    /// retransmissions; from the moment the request's last byte left to the last
    /// response byte is `peer` (the network and the real server together). JSON
    /// always carries it (`blame`).
    #[arg(long, help_heading = "Output")]
    pub blame: bool,

    /// Write this host's event trace to this file, one JSON object a line, times in
    /// ns since the run started: what `run --trace` writes, for our side only (the
    /// peer is a real stack). docs/json.md lists the fields.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub trace: Option<PathBuf>,

    /// Draw the transactions as one SVG: a waterfall, one row per connection, each
    /// bar split and coloured by where its time went (--blame's causes). No packet
    /// diagram over a TAP: only this host is traced (--pcap captures both
    /// directions).
    #[arg(long, value_name = "FILE.svg", help_heading = "Output")]
    pub timeline: Option<PathBuf>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags' written-out defaults restate the library's: they must not drift
    /// apart (the help shows one, `Default` is what other callers get). The one
    /// deliberate difference: `get` gives up on a silent server after a while.
    #[test]
    fn flag_defaults_are_the_library_defaults() {
        let Ok(Command::Run(run)) = parse(["tcpknobs", "run"]) else {
            panic!("run parses");
        };
        assert_eq!(
            run.client.config(RUN_RESPONSE_TIMEOUT),
            ClientConfig::default()
        );
        assert_eq!(run.server.config(), ServerConfig::default());
        let e = run.experiment();
        assert_eq!(e.client_knobs, Knobs::default());
        assert_eq!(e.server_knobs, Knobs::default());
    }

    /// No subcommand is the tour.
    #[test]
    fn no_command_is_the_tour() {
        assert!(matches!(parse(["tcpknobs"]), Ok(Command::Tour(_))));
    }

    /// `get` gives up on a silent server after five minutes unless told otherwise;
    /// `off` switches the timeout off, a duration sets it.
    #[test]
    fn response_timeouts() {
        let timeout = |args: &[&str]| {
            let mut all = vec!["tcpknobs", "get"];
            all.extend_from_slice(args);
            all.push("http://10.77.0.1/");
            let Ok(Command::Get(get)) = parse(all) else {
                panic!("get parses");
            };
            get.client.config(GET_RESPONSE_TIMEOUT).timeout
        };
        assert_eq!(timeout(&[]), Some(Duration::from_secs(300)));
        assert_eq!(timeout(&["--client-timeout", "off"]), None);
        assert_eq!(
            timeout(&["--client-timeout", "5s"]),
            Some(Duration::from_secs(5))
        );
    }

    /// Each knob's help ends with every profile's value of it.
    #[test]
    fn knob_help_lists_each_profile() {
        let help = knob_help("Delay", |k| format_smol(k.time_wait));
        assert_eq!(help, "Delay [linux: 60s; book: 120s]");
    }

    /// The lab's value errors reach the user through clap, which names the flag.
    #[test]
    fn clap_error_names_flag_and_accepted_form() {
        use tcpknobs_lab::values::parse_duration;
        let ms = StdDuration::from_millis;

        #[derive(Parser, Debug)]
        struct Cli {
            #[arg(long, value_name = "DUR", value_parser = parse_duration)]
            rtt: StdDuration,
            // Spelled with a path so clap's derive does not treat it as an optional flag.
            #[arg(long, value_parser = parse_rate, default_value = "unlimited")]
            rate: std::option::Option<u64>,
            #[arg(long, value_parser = parse_delayed_ack, default_value = "40ms")]
            delayed_ack: std::option::Option<StdDuration>,
        }

        let err = Cli::try_parse_from(["t", "--rtt", "fast"]).unwrap_err();
        let rendered = err.render().to_string();
        assert!(rendered.contains("'--rtt <DUR>'"), "{rendered}");
        assert!(rendered.contains("'fast'"), "{rendered}");
        assert!(
            rendered.contains("250us, 40ms, 1.5s, 2m (or 0)"),
            "{rendered}"
        );

        let ok = Cli::try_parse_from(["t", "--rtt", "40ms", "--rate", "10mbit"]).unwrap();
        assert_eq!(ok.rtt, ms(40));
        assert_eq!(ok.rate, Some(10_000_000));
        assert_eq!(ok.delayed_ack, Some(ms(40)));

        let ok = Cli::try_parse_from(["t", "--rtt", "0", "--delayed-ack", "off"]).unwrap();
        assert_eq!(ok.rtt, StdDuration::ZERO);
        assert_eq!(ok.rate, None);
        assert_eq!(ok.delayed_ack, None);
    }

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
}
