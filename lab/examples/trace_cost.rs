//! What the event trace and the latency blame cost a simulated run: the same
//! experiments with `Experiment::blame` on and off, best of five, CPU time of this
//! process (the machine may be shared: the best run is the least disturbed).
//!
//! `cargo run --release -p tcpknobs-lab --example trace_cost`

use std::time::Instant;

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::{Experiment, Rows};
use tcpknobs_stack::LinkProfile;

fn best_of_five(e: &Experiment) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            let report = e.run(None).expect("the run completes");
            assert_eq!(report.totals.failed, 0);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let link = |rtt_ms: u64| LinkProfile {
        one_way_delay_ns: rtt_ms * 500_000,
        bandwidth_bps: Some(1_000_000_000),
        ..LinkProfile::default()
    };
    let cases = [
        (
            "100,000 x 100 B, one persistent connection, RTT 1 ms",
            link(1),
            Workload::repeated(100_000, 100, Method::Get),
            Strategy::Persistent,
        ),
        (
            "4 x 50 MiB, one persistent connection, RTT 100 ms",
            link(100),
            Workload::repeated(4, 50 << 20, Method::Get),
            Strategy::Persistent,
        ),
        (
            "1,000 x 10 kB on 1,000 parallel connections, RTT 100 ms",
            link(100),
            Workload::repeated(1000, 10_000, Method::Get),
            Strategy::Parallel,
        ),
    ];
    for (name, link, workload, strategy) in cases {
        let mut e = Experiment::new(link, workload, name);
        e.client.strategy = strategy;
        if strategy == Strategy::Parallel {
            e.client.connections = Some(1000);
        }
        e.rows = Rows::First(0);
        e.blame = false;
        let off = best_of_five(&e);
        e.blame = true;
        let on = best_of_five(&e);
        println!(
            "{name}: without trace {off:.0} ms, with trace and blame {on:.0} ms ({:+.0} %)",
            (on / off - 1.0) * 100.0
        );
    }
}
