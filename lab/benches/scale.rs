//! The simulator at scale: frames per wall-second, wall time and peak RSS of the
//! runs that stress it most (many connections at once, many in a row, bulk data,
//! many small transactions). Prints a table; asserts nothing (timings belong in
//! reports, not tests).
//!
//! `cargo bench -p tcpknobs-lab --bench scale` runs every case; name cases to run only
//! those (`cargo bench -p tcpknobs-lab --bench scale -- c c1`; an unknown name is an
//! error that lists them). `RUNS=N` sets the runs per case (default 3): the table shows
//! the best, since the machine may be shared and the fastest run is the least
//! disturbed. `AT_ONCE=N` runs (c) and (c1) with N connections instead of 10,000;
//! `SMALL=N`, (a) with N transactions instead of 10,000 (a longer run, for a profiler);
//! `SERIAL=N`, (d) with N instead of 100,000; `VIRTUAL_S=N`, (e) for N seconds of
//! virtual time instead of 300 (memory that follows live state stays the same as these
//! grow; the table's descriptions give the default sizes, and a line under it names
//! the sizes set). Under the table, each goal the cases that ran can be held to, met or
//! not (at the default sizes).
//!
//! The figures are the machine's and the build's as much as the code's, so above the
//! table it names the CPU, the load average before the runs, whether the build is
//! profile-guided (`scripts/pgo-build.sh`) and the share of CPU time a hypervisor gave
//! to other guests during them (steal). The cases run in rounds, each once a
//! round, so that a minute in which the machine is slow falls on all of them alike;
//! (c)'s cost per frame over (c1)'s is also given round by round.
//!
//! Each run is a child process (this binary again), so its peak RSS (`VmHWM`) is its
//! own and not the high-water mark of the cases before it. Frames are those the
//! simulated links carried (`Report::wire.frames_sent`). The event trace and the
//! latency blame are off and no rows are kept: what is measured is the simulator.

use std::process::Command;
use std::time::Instant;

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::sweep::quantile;
use tcpknobs_lab::{Experiment, Rows};
use tcpknobs_stack::{Duration, Knobs, LinkProfile, OnExhaustion, Profile};

/// The `tcpknobs` binary's allocator, so that the figures are the binary's.
#[global_allocator]
static HEAP: tcpknobs_stack::heap::Heap = tcpknobs_stack::heap::Heap;

/// Set in a child: the case it runs, once.
const CHILD: &str = "TCPKNOBS_SCALE_CASE";

/// One benchmark case.
struct Case {
    name: &'static str,
    what: &'static str,
    experiment: fn() -> Experiment,
}

/// 1 Gbit/s each way, `rtt_us` round trip.
fn link(rtt_us: u64) -> LinkProfile {
    LinkProfile {
        one_way_delay_ns: rtt_us * 500,
        bandwidth_bps: Some(1_000_000_000),
        ..LinkProfile::default()
    }
}

fn experiment(
    rtt_us: u64,
    requests: u32,
    size: u64,
    strategy: Strategy,
    connections: Option<usize>,
) -> Experiment {
    let mut e = Experiment::new(
        link(rtt_us),
        Workload::repeated(requests, size, Method::Get),
        format!("{requests} x {size} B"),
    );
    e.client.strategy = strategy;
    e.client.connections = connections;
    e.rows = Rows::First(0);
    e.blame = false;
    e
}

/// The number in environment variable `name`, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// The variables that change a case's size (see the module docs).
const SIZES: [&str; 4] = ["AT_ONCE", "SMALL", "SERIAL", "VIRTUAL_S"];

/// Connections of (c) and (c1): 10,000, or `AT_ONCE=N` (to see how the cost grows).
fn at_once() -> usize {
    env_or("AT_ONCE", 10_000)
}

const CASES: &[Case] = &[
    Case {
        name: "a",
        what: "10,000 x 100 B on one persistent connection, RTT 1 ms",
        experiment: || {
            let n = env_or("SMALL", 10_000);
            experiment(1000, n as u32, 100, Strategy::Persistent, None)
        },
    },
    Case {
        name: "b",
        what: "200 MiB (20 x 10 MiB) at 1 Gbit/s on one persistent connection, RTT 1 ms",
        experiment: || experiment(1000, 20, 10 << 20, Strategy::Persistent, None),
    },
    Case {
        name: "c",
        what: "10,000 connections at once, one 100 B request each, RTT 1 ms",
        experiment: || {
            let n = at_once();
            experiment(1000, n as u32, 100, Strategy::Parallel, Some(n))
        },
    },
    Case {
        name: "c1",
        what: "(c) with one connection at a time: the same frames, one live socket",
        experiment: || experiment(1000, at_once() as u32, 100, Strategy::Parallel, Some(1)),
    },
    Case {
        name: "d",
        what: "100,000 serial connections, RTT 1 ms, through TIME_WAIT (linux, wait for ports)",
        experiment: || {
            let n = env_or("SERIAL", 100_000);
            let mut e = experiment(1000, n as u32, 100, Strategy::Serial, None);
            e.client_knobs.on_exhaustion = OnExhaustion::Wait;
            e.server_knobs.on_exhaustion = OnExhaustion::Wait;
            e
        },
    },
    Case {
        name: "e",
        what: "book profile (60,000 ports, 2MSL 120 s): serial connections, RTT 0.1 ms, \
               waiting for ports, for 300 s of virtual time",
        experiment: || {
            // More requests than 300 s can finish: the client opens connections as
            // fast as TIME_WAIT lets it until the time limit ends the run.
            let mut e = experiment(100, 10_000_000, 100, Strategy::Serial, None);
            for knobs in [&mut e.client_knobs, &mut e.server_knobs] {
                *knobs = Knobs::profile(Profile::Book);
                knobs.on_exhaustion = OnExhaustion::Wait;
            }
            e.max_time = Duration::from_secs(env_or("VIRTUAL_S", 300) as u64);
            e
        },
    },
];

/// Peak resident set of this process, kB (`VmHWM` in /proc/self/status).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Run one case once, in this process; print what the parent reads.
fn child(name: &str) {
    let case = CASES.iter().find(|c| c.name == name).expect("a known case");
    let e = (case.experiment)();
    let start = Instant::now();
    let report = e.run(None).expect("the run completes");
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{} {wall} {} {} {} {}",
        report.wire.frames_sent,
        peak_rss_kb(),
        report.totals.succeeded,
        report.totals.failed,
        report.end,
    );
}

struct Run {
    frames: u64,
    wall: f64,
    rss_kb: u64,
    ok: String,
}

impl Run {
    fn frames_per_s(&self) -> f64 {
        self.frames as f64 / self.wall
    }

    fn us_per_frame(&self) -> f64 {
        self.wall * 1e6 / self.frames as f64
    }
}

fn run_child(name: &str) -> Run {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .env(CHILD, name)
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert!(
        out.status.success() && f.len() == 6,
        "case {name} failed: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        frames: f[0].parse().unwrap_or(0),
        wall: f[1].parse().unwrap_or(f64::NAN),
        rss_kb: f[2].parse().unwrap_or(0),
        ok: format!("{} ok, {} failed, {}", f[3], f[4], f[5]),
    }
}

fn main() {
    if let Ok(name) = std::env::var(CHILD) {
        child(&name);
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    // `cargo bench` passes `--bench`; anything else not starting with '-' names a case.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| CASES.iter().all(|c| c.name != *w)) {
        let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        eprintln!(
            "scale: no case named {unknown:?}; the cases are {}",
            names.join(", ")
        );
        std::process::exit(2);
    }
    let cases: Vec<&Case> = CASES
        .iter()
        .filter(|case| wanted.is_empty() || wanted.iter().any(|w| w == case.name))
        .collect();
    // Round by round, every case once a round: what slows the machine for a minute
    // slows every case alike, and (c) and (c1), whose ratio is a goal, run side by side.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let ticks_before = cpu_ticks();
    let mut results: Vec<CaseRuns> = cases
        .iter()
        .map(|case| CaseRuns {
            name: case.name,
            runs: Vec::new(),
        })
        .collect();
    for round in 1..=runs {
        for (case, result) in cases.iter().zip(&mut results) {
            result.runs.push(run_child(case.name));
        }
        eprintln!("scale: round {round} of {runs} done");
    }
    println!(
        "{}; load average {} before the runs",
        machine(),
        load.split_whitespace().next().unwrap_or("unknown")
    );
    println!("build: {}", build());
    if let (Some(before), Some(after)) = (ticks_before, cpu_ticks()) {
        println!(
            "steal (CPU time the hypervisor gave to others): {:.1} % during the runs",
            after.steal_share_since(before) * 100.0
        );
    }
    println!(
        "{:<3} {:>10} {:>9} {:>12} {:>9} {:>9}  run (best of {runs})",
        "", "frames", "wall s", "frames/s", "us/frame", "peak MB"
    );
    for (case, result) in cases.iter().zip(&results) {
        let best = result.best();
        let rss = result.runs.iter().map(|r| r.rss_kb).max().unwrap_or(0);
        println!(
            "{:<3} {:>10} {:>9.3} {:>12.0} {:>9.2} {:>9.1}  {} ({})",
            case.name,
            best.frames,
            best.wall,
            best.frames_per_s(),
            best.us_per_frame(),
            rss as f64 / 1024.0,
            case.what,
            best.ok,
        );
    }
    let resized: Vec<String> = SIZES
        .iter()
        .filter_map(|v| Some(format!("{v}={}", std::env::var(v).ok()?)))
        .collect();
    if !resized.is_empty() {
        println!(
            "sizes set by {}: the descriptions above give the default sizes",
            resized.join(" ")
        );
    }
    let goals = goals(&results);
    if !goals.is_empty() {
        println!("\nthe goals (best runs above; at the default sizes only):");
        for line in goals {
            println!("  {line}");
        }
    }
}

/// The machine, as `lscpu` and `uname` would name it: the figures are its.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .filter(|l| l.starts_with("model name"))
                .find_map(|l| Some(l.split_once(':')?.1.trim().to_string()))
        })
        .unwrap_or_else(|| "an unnamed CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("machine: {cpu}, {cpus} CPUs, Linux {}", kernel.trim())
}

/// How this binary was built: a profile-guided build (`scripts/pgo-build.sh` sets
/// `TCPKNOBS_BUILD` at compile time) runs the same cases in 14-31 % less time on the
/// machine of the README, so a table that does not say which build it came from cannot
/// be compared with another.
fn build() -> &'static str {
    match option_env!("TCPKNOBS_BUILD") {
        Some("pgo") => "profile-guided (scripts/pgo-build.sh)",
        _ => "plain release (no profile; scripts/pgo-build.sh makes a profile-guided one)",
    }
}

/// The whole machine's CPU time so far (the first line of `/proc/stat`), in ticks.
#[derive(Clone, Copy)]
struct CpuTicks {
    /// Time the hypervisor ran something else while this VM had work.
    steal: u64,
    /// User, nice, system, idle, I/O wait, interrupts and steal together.
    total: u64,
}

impl CpuTicks {
    /// Steal over all CPU time since `before`: the share of the machine a VM's
    /// neighbours took, which slows every run without showing in its work.
    fn steal_share_since(self, before: CpuTicks) -> f64 {
        let total = self.total.saturating_sub(before.total).max(1);
        self.steal.saturating_sub(before.steal) as f64 / total as f64
    }
}

fn cpu_ticks() -> Option<CpuTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal; guest time is within user.
    Some(CpuTicks {
        steal: *fields.get(7)?,
        total: fields.iter().take(8).sum(),
    })
}

/// Every run of one case, in round order.
struct CaseRuns {
    name: &'static str,
    runs: Vec<Run>,
}

impl CaseRuns {
    /// The fastest run: the least disturbed, on a shared machine.
    fn best(&self) -> &Run {
        self.runs
            .iter()
            .min_by(|a, b| a.wall.total_cmp(&b.wall))
            .expect("at least one run")
    }
}

/// Each goal the cases run here can be held to, with the figure and whether it is
/// met: frames per wall-second for (a), (b) and (c), (c)'s wall time, and its cost per
/// frame against (c1)'s.
fn goals(results: &[CaseRuns]) -> Vec<String> {
    // (d)'s and (e)'s sizes are in no goal judged here.
    let default_sizes = ["AT_ONCE", "SMALL"]
        .iter()
        .all(|v| std::env::var(v).is_err());
    if !default_sizes {
        return Vec::new();
    }
    let find = |name: &str| results.iter().find(|r| r.name == name);
    let verdict = |met: bool| if met { "met" } else { "not met" };
    let mut lines = Vec::new();
    for (name, goal) in [("a", 500_000.0), ("b", 1_000_000.0), ("c", 500_000.0)] {
        if let Some(result) = find(name) {
            let rate = result.best().frames_per_s();
            lines.push(format!(
                "({name}) {rate:.0} frames/s, at least {goal:.0} asked: {}",
                verdict(rate >= goal)
            ));
        }
    }
    if let Some(result) = find("c") {
        let wall = result.best().wall;
        lines.push(format!(
            "(c) {wall:.3} s, under 2 s asked: {}",
            verdict(wall < 2.0)
        ));
    }
    if let (Some(c), Some(c1)) = (find("c"), find("c1")) {
        let ratio = c.best().us_per_frame() / c1.best().us_per_frame();
        // The same ratio round by round: each (c) run beside the (c1) run after it.
        let mut by_round: Vec<f64> = c
            .runs
            .iter()
            .zip(&c1.runs)
            .map(|(c, c1)| c.us_per_frame() / c1.us_per_frame())
            .collect();
        by_round.sort_by(f64::total_cmp);
        lines.push(format!(
            "(c) over (c1), cost per frame: {ratio:.2}x (round by round {:.2}-{:.2}x, \
             median {:.2}x), at most 2x asked: {}",
            by_round[0],
            by_round[by_round.len() - 1],
            quantile(&by_round, 0.5),
            verdict(ratio <= 2.0)
        ));
    }
    lines
}
