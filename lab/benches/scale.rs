//! The simulator at scale: frames per wall-second, wall time and peak RSS of the
//! runs that stress it most (many connections at once, many in a row, bulk data,
//! many small transactions). Prints a table; asserts nothing (timings belong in
//! reports, not tests).
//!
//! `cargo bench -p tcpknobs-lab --bench scale` runs every case; name cases to run
//! only those (`cargo bench -p tcpknobs-lab --bench scale -- c c1`). `RUNS=N` sets
//! the runs per case (default 3): the table shows the best, since the machine may be
//! shared and the fastest run is the least disturbed. `AT_ONCE=N` runs (c) and (c1)
//! with N connections instead of 10,000; `SMALL=N`, (a) with N transactions instead
//! of 10,000 (a longer run, for a profiler); `SERIAL=N`, (d) with N instead of 100,000;
//! `VIRTUAL_S=N`, (e) for N seconds of virtual time instead of 300 (memory that
//! follows live state stays the same as these grow). Under the table, each goal the
//! cases that ran can be held to, met or not (at the default sizes).
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
    println!(
        "{:<3} {:>10} {:>9} {:>12} {:>9} {:>9}  run (best of {runs})",
        "", "frames", "wall s", "frames/s", "us/frame", "peak MB"
    );
    let mut best_of = Vec::new();
    for case in CASES {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == case.name) {
            continue;
        }
        let all: Vec<Run> = (0..runs).map(|_| run_child(case.name)).collect();
        let best = all
            .iter()
            .min_by(|a, b| a.wall.total_cmp(&b.wall))
            .expect("at least one run");
        best_of.push((case.name, best.frames, best.wall));
        let rss = all.iter().map(|r| r.rss_kb).max().unwrap_or(0);
        println!(
            "{:<3} {:>10} {:>9.3} {:>12.0} {:>9.2} {:>9.1}  {} ({})",
            case.name,
            best.frames,
            best.wall,
            best.frames as f64 / best.wall,
            best.wall * 1e6 / best.frames as f64,
            rss as f64 / 1024.0,
            case.what,
            best.ok,
        );
    }
    let goals = goals(&best_of);
    if !goals.is_empty() {
        println!("\nthe goals (best runs above; at the default sizes only):");
        for line in goals {
            println!("  {line}");
        }
    }
}

/// Each goal the cases run here can be held to, with the figure and whether it is
/// met: frames per wall-second for (a), (b) and (c), (c)'s wall time, and its cost per
/// frame against (c1)'s. `best` holds (case, frames, wall s).
fn goals(best: &[(&str, u64, f64)]) -> Vec<String> {
    let default_sizes = ["AT_ONCE", "SMALL"]
        .iter()
        .all(|v| std::env::var(v).is_err());
    if !default_sizes {
        return Vec::new();
    }
    let find = |name: &str| best.iter().find(|(n, _, _)| *n == name);
    let verdict = |met: bool| if met { "met" } else { "not met" };
    let mut lines = Vec::new();
    for (name, goal) in [("a", 500_000.0), ("b", 1_000_000.0), ("c", 500_000.0)] {
        if let Some((_, frames, wall)) = find(name) {
            let rate = *frames as f64 / wall;
            lines.push(format!(
                "({name}) {rate:.0} frames/s, at least {goal:.0} asked: {}",
                verdict(rate >= goal)
            ));
        }
    }
    if let Some((_, _, wall)) = find("c") {
        lines.push(format!(
            "(c) {wall:.3} s, under 2 s asked: {}",
            verdict(*wall < 2.0)
        ));
    }
    if let (Some((_, fc, wc)), Some((_, f1, w1))) = (find("c"), find("c1")) {
        let ratio = (wc / *fc as f64) / (w1 / *f1 as f64);
        lines.push(format!(
            "(c) over (c1), cost per frame: {ratio:.2}x, at most 2x asked: {}",
            verdict(ratio <= 2.0)
        ));
    }
    lines
}
