//! The TCP knobs on the command line: the profiles (`--profile linux|book`), every knob
//! as a plain flag for both sides and `--client-X` / `--server-X` for one, their value
//! parsers, and how a side's [`Knobs`] is made from a profile and the flags.

use super::*;

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
         ({}), recovery {}, backlog {}, SYN retries {}, SYN-ACK retries {}, SYN cookies {}",
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
        k.syn_retries,
        k.synack_retries,
        on_off(k.syn_cookies),
    )
}

/// One knob's help: what it does, then each profile's value of it.
pub(super) fn knob_help(what: &str, value: fn(&Knobs) -> String) -> String {
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

impl KnobFlags {
    /// A one-side flag for the side a command does not play (`serve` is the server,
    /// `get` the client): clap would accept it and the command would ignore it.
    pub(super) fn problem(&self, plays: Side) -> Option<(ErrorKind, String)> {
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

pub(super) fn parse_off_or_timeout(s: &str) -> Result<OffOr, ValueError> {
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
    "When more handshakes are under way than the backlog: on = answer further SYNs with \
     SYN cookies, keeping no state until the client's ACK (Linux tcp_syncookies=1; such a \
     connection has no window scaling or SACK); off = drop them, the client's SYN timer \
     sends them again (tcp_syncookies=0)"
    syn_cookies, client_syn_cookies, server_syn_cookies: bool = parse_on_off, "on|off",
        |k, v| k.syn_cookies = v,
        shown |k| on_off(k.syn_cookies).to_string();
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
pub(super) fn parse_count(s: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a count: use a whole number from 0, e.g. 0, 2, 16"))
}

pub(super) fn to_smol(d: StdDuration) -> Duration {
    Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
