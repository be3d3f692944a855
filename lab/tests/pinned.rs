//! Seeded runs pinned to the exact bytes of their reports: a change to the stack that
//! is meant to be invisible (an optimization, a refactoring) must leave every one
//! byte-identical. The pins are copied from a run, so they prove nothing about the
//! figures themselves (the chapter tests do that, from the formulas); they only say
//! that nothing moved. A change that is meant to move a run updates its pin, and its
//! commit says why.

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::{Experiment, Rows};
use tcpknobs_stack::{Duration, LinkProfile, Nagle};

/// FNV-1a, 64 bits: enough to notice any change, and no dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn link(rtt_ms: u64, bandwidth_bps: Option<u64>, loss: f64) -> LinkProfile {
    LinkProfile {
        one_way_delay_ns: rtt_ms * 500_000,
        bandwidth_bps,
        loss,
        ..LinkProfile::default()
    }
}

/// The pinned runs: chapter-like experiments off and on the happy path.
fn runs() -> Vec<(&'static str, Experiment)> {
    let gbit = Some(1_000_000_000);
    let mut out = Vec::new();
    let mut e = Experiment::new(
        link(100, gbit, 0.0),
        Workload::repeated(4, 100, Method::Get),
        "serial",
    );
    e.client.strategy = Strategy::Serial;
    out.push(("serial 4 x 100 B", e));
    let mut e = Experiment::new(
        link(100, gbit, 0.02),
        Workload::repeated(20, 100_000, Method::Get),
        "lossy",
    );
    e.seed = 7;
    e.client.strategy = Strategy::Persistent;
    out.push(("20 x 100 kB at 2 % loss, seed 7", e));
    let mut e = Experiment::new(
        link(100, gbit, 0.0),
        Workload::page(10_240, &[(3, 20_480)], Method::Get),
        "page",
    );
    e.client.strategy = Strategy::Pipelined;
    out.push(("page 10k+3x20k pipelined", e));
    let mut e = Experiment::new(
        link(100, Some(10_000_000), 0.01),
        Workload::repeated(10, 300_000, Method::Get),
        "narrow",
    );
    e.client.strategy = Strategy::Parallel;
    e.link.queue_bytes = Some(32 * 1024);
    out.push(("10 x 300 kB parallel, 10 Mbit/s, 32 KiB queue, 1 % loss", e));
    let mut e = Experiment::new(
        link(100, gbit, 0.0),
        Workload::repeated(3, 2000, Method::Get),
        "nagle",
    );
    e.client.strategy = Strategy::Persistent;
    e.client.request_writes = 2;
    for k in [&mut e.client_knobs, &mut e.server_knobs] {
        k.nagle = Nagle::On;
        k.delayed_ack = Some(Duration::from_millis(200));
        k.quickack = 0;
    }
    out.push(("Nagle x delayed ACK, 3 requests in 2 writes", e));
    for (_, e) in &mut out {
        e.rows = Rows::All;
    }
    out
}

#[test]
fn seeded_reports_are_pinned() {
    let pins: [u64; 5] = [
        0x174b_4732_a86b_d370,
        0xc929_0b77_cebe_b67c,
        0x461b_274c_cff0_7ac2,
        0xd64b_1e58_0bb1_b0ea,
        0x797d_4999_2b82_c6e3,
    ];
    let mut got = Vec::new();
    for (name, e) in runs() {
        let report = e.run(None).expect("the run completes");
        let json = serde_json::to_string(&report).expect("JSON");
        got.push((name, fnv1a(json.as_bytes())));
    }
    for ((name, hash), pin) in got.iter().zip(pins) {
        assert_eq!(
            *hash,
            pin,
            "{name}: all pins now {:#x?}",
            got.iter().map(|g| g.1).collect::<Vec<_>>()
        );
    }
}
