//! Sweeps through the library: the grid's order and parallel runs collected in order.

use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::sweep::{grid, run_points, Axis, Metrics};
use tcpknobs_lab::Experiment;
use tcpknobs_stack::LinkProfile;

/// One small GET on a new connection over a link of this RTT (ms).
fn experiment(rtt_ms: u64) -> Experiment {
    let link = LinkProfile {
        one_way_delay_ns: rtt_ms * 1_000_000 / 2,
        ..LinkProfile::default()
    };
    Experiment::new(link, Workload::repeated(1, 100, Method::Get), "1 x GET 100")
}

/// Every point's result comes back at its own place whatever the threads, and each is
/// the run's own: one GET on a new connection is 1 RTT of handshake + 1 RTT of request.
#[test]
fn results_are_in_point_order_for_any_number_of_jobs() {
    let axis = Axis::parse("rtt=10..80/10").expect("a range");
    let points = grid(std::slice::from_ref(&axis)).expect("a grid");
    let rtts: Vec<u64> = points
        .iter()
        .map(|p| axis.values[p[0]].parse().expect("an integer"))
        .collect();
    assert_eq!(rtts, [10, 20, 30, 40, 50, 60, 70, 80]);
    let experiments: Vec<Experiment> = rtts.iter().map(|&r| experiment(r)).collect();
    let reports = |jobs| -> Vec<Metrics> {
        run_points(&experiments, 1, Some(jobs), &|_| {})
            .expect("a thread pool")
            .into_iter()
            .flatten()
            .map(|r| r.expect("the run"))
            .collect()
    };
    let one = reports(1);
    assert_eq!(one, reports(2));
    assert_eq!(one, reports(8));
    for (report, rtt) in one.iter().zip(&rtts) {
        let total = report.total_ms.expect("a success");
        let expected = 2.0 * *rtt as f64;
        // Slack: four frames of at most 1500 bytes serialized at 1 Gbit/s.
        assert!(
            total >= expected && total <= expected + 4.0 * 0.012,
            "rtt {rtt}: {total}"
        );
    }
}
