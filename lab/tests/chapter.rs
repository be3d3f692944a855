//! Chapter figures through the typed API: an [`Experiment`] in, a [`Report`] out, no
//! subprocess and no JSON. Expected values are written from the formula; the only
//! slack is the serialization of the frames on the critical path, bounded by assuming
//! each is a full MTU.

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::tour::predict::{persistent_ms, serial_ms};
use tcpknobs_lab::{Experiment, Report};
use tcpknobs_stack::LinkProfile;

const RTT_MS: f64 = 100.0;
const GBIT: u64 = 1_000_000_000;
const MTU: usize = 1500;

/// `requests` GETs of `size` bytes over a 100 ms, 1 Gbit/s link with `strategy`.
fn experiment(requests: u32, size: u64, strategy: Strategy) -> Experiment {
    let link = LinkProfile {
        one_way_delay_ns: (RTT_MS * 1e6 / 2.0) as u64,
        bandwidth_bps: Some(GBIT),
        mtu: MTU,
        ..LinkProfile::default()
    };
    let mut e = Experiment::new(
        link,
        Workload::repeated(requests, size, Method::Get),
        format!("{requests} x GET {size}"),
    );
    e.client.strategy = strategy;
    e
}

/// Upper bound on the serialization of `frames` full-MTU frames, ms.
fn serialization_ms(frames: u32) -> f64 {
    f64::from(frames) * (MTU * 8) as f64 / GBIT as f64 * 1000.0
}

#[track_caller]
fn assert_between(report: &Report, expected_ms: f64, slack_ms: f64) {
    let total = report.totals.total_ms;
    assert!(
        (expected_ms..=expected_ms + slack_ms).contains(&total),
        "total {total} ms, expected {expected_ms} ms + at most {slack_ms} ms"
    );
}

/// Chapter item 12: serial loading pays the handshake every time: 4 x (1 RTT
/// handshake + 1 RTT request/response) = 800 ms, with SYN, SYN-ACK, request and
/// response on the critical path of each.
#[test]
fn serial_small_transactions_cost_two_rtt_each() {
    let report = experiment(4, 100, Strategy::Serial)
        .run(None)
        .expect("the run completes");
    assert_eq!((report.totals.succeeded, report.totals.failed), (4, 0));
    assert_between(&report, serial_ms(4, RTT_MS), serialization_ms(4 * 4));
    let client = report
        .connections
        .iter()
        .filter(|c| c.host == "client")
        .count();
    assert_eq!(client, 4, "a new connection per request");
}

/// Chapter item 16: one persistent connection: 1 RTT handshake + 4 x 1 RTT = 500 ms.
#[test]
fn persistent_connection_pays_the_handshake_once() {
    let report = experiment(4, 100, Strategy::Persistent)
        .run(None)
        .expect("the run completes");
    assert_eq!((report.totals.succeeded, report.totals.failed), (4, 0));
    assert_between(
        &report,
        persistent_ms(4, RTT_MS),
        serialization_ms(2 + 4 * 2),
    );
}

/// The contract: the same experiment and seed give the same report.
#[test]
fn same_experiment_same_report() {
    let mut e = experiment(20, 100_000, Strategy::Persistent);
    e.link.loss = 0.02;
    e.seed = 7;
    let first = e.run(None).expect("the run completes");
    assert!(first.wire.dropped_loss > 0, "the seed loses frames");
    assert_eq!(first, e.run(None).expect("the run completes"));
}
