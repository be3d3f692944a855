//! `sweep`'s options and subcommands, the names `--vary` takes (with and without
//! `--tap`), and the `run` options a sweep passes on to each point.

use super::*;

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
    // `[:PORT]` is help text for clap, not a rustdoc link.
    #[allow(rustdoc::broken_intra_doc_links)]
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
    pub(super) fn problem(&self) -> Option<(ErrorKind, String)> {
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
pub(super) fn given_run_args(
    cmd: &clap::Command,
    matches: &clap::ArgMatches,
) -> Vec<std::ffi::OsString> {
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
