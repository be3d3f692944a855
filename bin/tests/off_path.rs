//! The CLI off the happy path: handshakes slower than the initial RTO, heavy loss,
//! links so slow that every segment is retransmitted. The packet-level derivations
//! are in the stack's trace tests (stack/tests/handshake_trace.rs); these check the
//! symptom a user would see.

mod common;

use common::{assert_all_ok, assert_between, run_json, serialization_ms, total_ms, GBIT};

/// No connection of the run sent or received an RST.
fn assert_no_resets(r: &serde_json::Value) {
    for c in r["connections"].as_array().expect("connections") {
        assert_eq!(c["resets_out"], 0, "connection {c}");
        assert_eq!(c["resets_in"], 0, "connection {c}");
    }
}

/// An RTT above the 1 s initial RTO: the SYN and the SYN-ACK are each resent once,
/// spuriously, at 1 s, and that costs nothing. One request on a new connection takes
/// 1 RTT of handshake + 1 RTT of request = 2 x 1,100 = 2,200 ms, with no RST
/// (smoltcp's RTO is 2 s after the backed-off SYN, so the request is not resent).
#[test]
fn rtt_above_the_initial_rto_takes_two_round_trips() {
    let r = run_json("--rtt 1100ms --requests 1");
    assert_all_ok(&r, 1, 100);
    assert_between(
        "total",
        total_ms(&r),
        2.0 * 1100.0,
        serialization_ms(4, GBIT),
    );
    assert_no_resets(&r);
}

/// 30 % loss on a persistent connection: lost SYNs, SYN-ACKs, requests and
/// responses all recover by retransmission, and every one of 50 transactions
/// completes, for every seed.
#[test]
fn heavy_loss_completes_every_transaction() {
    for seed in 1..=20 {
        let r = run_json(&format!(
            "--loss 0.3 --requests 50 --size 1000 --strategy persistent \
             --client-timeout 1h --seed {seed}"
        ));
        assert_eq!(r["end"], "done", "seed {seed}");
        assert_all_ok(&r, 50, 1000);
    }
}

/// A 1 kbit/s link: a 180-byte response takes 1.4 s to serialize, longer than the
/// RTO, so segments are resent while the first copy is still on the wire. Every
/// transaction still completes.
#[test]
fn a_link_slower_than_the_rto_still_completes() {
    let r = run_json("--bandwidth 1kbit");
    assert_all_ok(&r, 4, 100);
    assert_no_resets(&r);
}
