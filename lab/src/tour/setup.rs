//! One setting of a tour experiment built two ways at once: the [`Experiment`] the
//! tour runs and the `tcpknobs run ...` command line that runs the same one, so a
//! reader can take any line of the tour further.

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::{Method, Version};
use tcpknobs_http::proxy::ProxyMode;
use tcpknobs_http::server::CloseMode;
use tcpknobs_http::workload::Workload;
use tcpknobs_stack::{Duration, Knobs, LinkProfile, Nagle, OnExhaustion, PortSpan, Profile};

use tcpknobs_stack::retransmit::RtoRule;

use crate::values::{format_bytes, workload_of, PageSpec};
use crate::Experiment;

/// What a setting asks for: each method changes the experiment and adds the flag
/// that does the same on the command line.
#[derive(Clone, Debug)]
pub struct Setup {
    experiment: Experiment,
    args: Vec<String>,
    requests: u32,
    size: u64,
    page: Option<PageSpec>,
    method: Method,
}

/// The link `run` uses unless told otherwise: 100 ms RTT, 1 Gbit/s, MTU 1500.
pub fn default_link() -> LinkProfile {
    LinkProfile {
        one_way_delay_ns: 50_000_000,
        bandwidth_bps: Some(1_000_000_000),
        ..LinkProfile::default()
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A duration as `run` takes it.
fn flag_ms(ms: u64) -> String {
    if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl Setup {
    /// `run`'s defaults with `profile`'s knobs on both sides.
    pub fn new(profile: Profile) -> Setup {
        let mut experiment =
            Experiment::new(default_link(), Workload::repeated(4, 100, Method::Get), "");
        experiment.client_knobs = Knobs::profile(profile);
        experiment.server_knobs = Knobs::profile(profile);
        let args = match profile {
            Profile::Linux => Vec::new(),
            Profile::Book => vec!["--profile".into(), "book".into()],
        };
        Setup {
            experiment,
            args,
            requests: 4,
            size: 100,
            page: None,
            method: Method::Get,
        }
    }

    fn flag(mut self, name: &str, value: impl Into<String>) -> Setup {
        self.args.push(format!("--{name}"));
        self.args.push(value.into());
        self
    }

    fn knobs(mut self, f: impl Fn(&mut Knobs)) -> Setup {
        f(&mut self.experiment.client_knobs);
        f(&mut self.experiment.server_knobs);
        self
    }

    /// `--rtt`, in microseconds.
    pub fn rtt_us(mut self, us: u64) -> Setup {
        self.experiment.link.one_way_delay_ns = us * 1000 / 2;
        let value = if us.is_multiple_of(1000) {
            flag_ms(us / 1000)
        } else {
            format!("{us}us")
        };
        self.flag("rtt", value)
    }

    /// `--bandwidth`, in Mbit/s.
    pub fn mbit(mut self, mbit: u64) -> Setup {
        self.experiment.link.bandwidth_bps = Some(mbit * 1_000_000);
        self.flag("bandwidth", format!("{mbit}mbit"))
    }

    /// `--requests`.
    pub fn requests(mut self, n: u32) -> Setup {
        self.requests = n;
        self.flag("requests", n.to_string())
    }

    /// `--size`.
    pub fn size(mut self, bytes: u64) -> Setup {
        self.size = bytes;
        self.flag("size", format_bytes(bytes))
    }

    /// `--page HTML+NxSIZE`.
    pub fn page(mut self, html: u64, count: u32, size: u64) -> Setup {
        let page = PageSpec {
            html,
            groups: vec![(count, size)],
        };
        let text = page.to_string();
        self.page = Some(page);
        self.flag("page", text)
    }

    /// `--method`.
    pub fn method(mut self, method: Method) -> Setup {
        let name = method.to_string().to_ascii_lowercase();
        self.method = method;
        self.flag("method", name)
    }

    /// `--strategy`.
    pub fn strategy(mut self, strategy: Strategy) -> Setup {
        self.experiment.client.strategy = strategy;
        let name = match strategy {
            Strategy::Serial => "serial",
            Strategy::Parallel => "parallel",
            Strategy::Persistent => "persistent",
            Strategy::Pipelined => "pipelined",
        };
        self.flag("strategy", name)
    }

    /// `--connections`.
    pub fn connections(mut self, n: usize) -> Setup {
        self.experiment.client.connections = Some(n);
        self.flag("connections", n.to_string())
    }

    /// `--request-writes`.
    pub fn request_writes(mut self, n: u32) -> Setup {
        self.experiment.client.request_writes = n;
        self.flag("request-writes", n.to_string())
    }

    /// `--http 1.0`.
    pub fn http10(mut self) -> Setup {
        self.experiment.client.version = Version::Http10;
        self.flag("http", "1.0")
    }

    /// `--client-timeout`.
    pub fn client_timeout_ms(mut self, t: u64) -> Setup {
        self.experiment.client.timeout = Some(ms(t));
        self.flag("client-timeout", flag_ms(t))
    }

    /// `--retries`.
    pub fn retries(mut self, n: u32) -> Setup {
        self.experiment.client.max_retries = n;
        self.flag("retries", n.to_string())
    }

    /// `--server-delay`.
    pub fn server_delay_ms(mut self, t: u64) -> Setup {
        self.experiment.server.delay = ms(t);
        self.flag("server-delay", flag_ms(t))
    }

    /// `--server-keep-alive off`.
    pub fn no_server_keep_alive(mut self) -> Setup {
        self.experiment.server.keep_alive = false;
        self.flag("server-keep-alive", "off")
    }

    /// `--server-keep-alive-max`.
    pub fn keep_alive_max(mut self, n: u32) -> Setup {
        self.experiment.server.keep_alive_max = Some(n);
        self.flag("server-keep-alive-max", n.to_string())
    }

    /// `--close`.
    pub fn close(mut self, mode: CloseMode) -> Setup {
        self.experiment.server.close = mode;
        let name = match mode {
            CloseMode::Graceful => "graceful",
            CloseMode::Abrupt => "abrupt",
        };
        self.flag("close", name)
    }

    /// `--server-truncate`.
    pub fn truncate(mut self, bytes: u64) -> Setup {
        self.experiment.server.truncate = Some(bytes);
        self.flag("server-truncate", bytes.to_string())
    }

    /// `--via-proxy`.
    pub fn via_proxy(mut self, mode: ProxyMode) -> Setup {
        self.experiment.proxy = Some(mode);
        let name = match mode {
            ProxyMode::Smart => "smart",
            ProxyMode::Dumb => "dumb",
        };
        self.flag("via-proxy", name)
    }

    /// `--nagle`.
    pub fn nagle(self, nagle: Nagle) -> Setup {
        let name = match nagle {
            Nagle::On => "on",
            Nagle::Off => "off",
            Nagle::Minshall => "minshall",
        };
        self.knobs(|k| k.nagle = nagle).flag("nagle", name)
    }

    /// `--delayed-ack`: the timer in ms, or off.
    pub fn delayed_ack_ms(self, t: Option<u64>) -> Setup {
        let value = t.map_or("off".to_string(), flag_ms);
        self.knobs(|k| k.delayed_ack = t.map(ms))
            .flag("delayed-ack", value)
    }

    /// `--quickack`.
    pub fn quickack(self, n: u32) -> Setup {
        self.knobs(|k| k.quickack = n)
            .flag("quickack", n.to_string())
    }

    /// `--initial-window`.
    pub fn initial_window(self, segments: u32) -> Setup {
        self.knobs(|k| k.slow_start.initial_window = segments)
            .flag("initial-window", segments.to_string())
    }

    /// `--slow-start off`.
    pub fn no_slow_start(self) -> Setup {
        self.knobs(|k| k.slow_start.enabled = false)
            .flag("slow-start", "off")
    }

    /// `--abc-limit`.
    pub fn abc_limit(self, segments: u32) -> Setup {
        self.knobs(|k| k.slow_start.abc_limit = Some(segments))
            .flag("abc-limit", segments.to_string())
    }

    /// `--rto-min 1s --rto-rule rfc6298`: RFC 6298's floor whatever the profile.
    pub fn rfc6298_rto(self) -> Setup {
        self.knobs(|k| {
            k.retransmit.rto_min = ms(1000);
            k.retransmit.rto_rule = RtoRule::Rfc6298;
        })
        .flag("rto-min", "1s")
        .flag("rto-rule", "rfc6298")
    }

    /// `--time-wait`.
    pub fn time_wait_ms(self, t: u64) -> Setup {
        let value = if t == 0 { "0".to_string() } else { flag_ms(t) };
        self.knobs(|k| k.time_wait = ms(t)).flag("time-wait", value)
    }

    /// `--ports LO-HI`.
    pub fn ports(self, lo: u16, hi: u16) -> Setup {
        let span = PortSpan { lo, hi };
        self.knobs(|k| k.ports = span)
            .flag("ports", span.to_string())
    }

    /// `--on-exhaustion wait`.
    pub fn wait_for_ports(self) -> Setup {
        self.knobs(|k| k.on_exhaustion = OnExhaustion::Wait)
            .flag("on-exhaustion", "wait")
    }

    /// The experiment and its command line.
    pub fn build(self) -> (Experiment, String) {
        let mut e = self.experiment;
        let method = self.method;
        let (workload, label) = workload_of(self.page.as_ref(), self.requests, self.size, &method);
        e.workload = workload;
        e.workload_label = label;
        let mut command = String::from("tcpknobs run");
        for a in &self.args {
            command.push(' ');
            command.push_str(a);
        }
        (e, command)
    }
}
