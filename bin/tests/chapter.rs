//! The chapter's predictions, checked from the command line on the simulated link.
//!
//! Every expected value is written from the formula in the comment above it, never
//! copied from a run. Virtual time is exact, so the only slack allowed is the
//! serialization delay of the frames on the critical path, bounded from above by
//! assuming every such frame is a full MTU.

mod common;

use common::*;
use serde_json::Value;
use tcpknobs_stack::pcap::{read_capture, CaptureFormat, LinkType};

/// Chapter item 12: serial loading pays the handshake every time. Each small
/// transaction costs 1 RTT of handshake + 1 RTT of request/response: 4 x 2 RTT = 800 ms.
/// Critical path per transaction: SYN, SYN-ACK, request, response = 4 frames.
#[test]
fn serial_small_transactions_cost_two_rtt_each() {
    let r = run_json("--rtt 100ms --bandwidth 1gbit --requests 4 --size 100 --strategy serial");
    assert_all_ok(&r, 4, 100);
    assert_between(
        "serial",
        total_ms(&r),
        serial_ms(4, RTT_MS),
        serialization_ms(16, GBIT),
    );
    // A new connection each time, and the client closed each one first.
    let client: Vec<&Value> = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["host"] == "client")
        .collect();
    assert_eq!(client.len(), 4);
    assert!(client.iter().all(|c| c["closed_first"] == "local"));
}

/// Chapter item 16: one persistent connection: 1 RTT handshake + 4 x 1 RTT = 500 ms.
#[test]
fn persistent_connection_pays_the_handshake_once() {
    let r = run_json("--rtt 100ms --bandwidth 1gbit --requests 4 --size 100 --strategy persistent");
    assert_all_ok(&r, 4, 100);
    assert_between(
        "persistent",
        total_ms(&r),
        persistent_ms(4, RTT_MS),
        serialization_ms(10, GBIT),
    );
    let reused: Vec<bool> = r["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reused"].as_bool().unwrap())
        .collect();
    assert_eq!(reused, [false, true, true, true]);
}

/// Chapter item 9: the request in two writes with Nagle on: the second (small) write
/// waits for the ACK of the first, which the server delays D = 200 ms because it has
/// nothing to send yet. Handshake 1 RTT; first part reaches the server at 1.5 RTT; its
/// ACK leaves at 1.5 RTT + D and arrives at 2 RTT + D; the second part arrives at
/// 2.5 RTT + D; the response at 3 RTT + D = 500 ms. Nagle off: both parts go at once,
/// 2 RTT = 200 ms. Quick-ACK is pinned off: it would ACK the first part at once (see
/// `quickack_removes_the_timer_from_the_stall`).
#[test]
fn nagle_meets_delayed_ack() {
    let base = "--rtt 100ms --bandwidth 1gbit --requests 1 --request-writes 2 \
                --strategy persistent --delayed-ack 200ms --quickack 0";
    let delay = 200.0;
    let r = run_json(&format!("{base} --nagle on"));
    assert_all_ok(&r, 1, 100);
    let slack = serialization_ms(6, GBIT);
    assert_between(
        "nagle on",
        total_ms(&r),
        2.0 * RTT_MS + nagle_stall_ms(RTT_MS, delay),
        slack,
    );
    let server = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["host"] == "server")
        .unwrap();
    assert!(
        server["delayed_acks"].as_u64().unwrap() >= 1,
        "the stall is a delayed ACK"
    );

    let r = run_json(&format!("{base} --nagle off"));
    assert_all_ok(&r, 1, 100);
    assert_between("nagle off", total_ms(&r), 2.0 * RTT_MS, slack);
}

/// Linux's quick-ACK at connection start ACKs the first part of the request at once:
/// the second part still waits for that ACK (Nagle), but one RTT, not the timer:
/// handshake 1 RTT + the first part's ACK 1 RTT + second part and response 1 RTT =
/// 300 ms.
#[test]
fn quickack_removes_the_timer_from_the_stall() {
    let r = run_json(
        "--rtt 100ms --bandwidth 1gbit --requests 1 --request-writes 2 --strategy persistent \
         --delayed-ack 200ms --nagle on --quickack 16",
    );
    assert_all_ok(&r, 1, 100);
    assert_between(
        "quickack",
        total_ms(&r),
        2.0 * RTT_MS + nagle_stall_ms(RTT_MS, ack_hold_ms(Some(200.0), 16)),
        serialization_ms(6, GBIT),
    );
}

/// A 2000-byte response is one full segment (1460) and a 540-byte tail. Classic Nagle
/// (RFC 896, smoltcp) holds the tail until the full segment is ACKed, and the client
/// delays that ACK (D = 200 ms, no quick-ACK): request at 1 RTT, full segment at the
/// client at 2 RTT, its ACK at the server at 2.5 RTT + D, the tail at the client at
/// 3 RTT + D = 500 ms. Minshall's variant (Linux) holds a small segment only behind an
/// earlier *small* one, so the tail goes at once: 2 RTT = 200 ms, as with Nagle off.
#[test]
fn minshall_does_not_hold_a_response_tail() {
    let delay = 200.0;
    for (mode, expected) in [
        ("on", 2.0 * RTT_MS + nagle_stall_ms(RTT_MS, delay)),
        ("minshall", 2.0 * RTT_MS),
        ("off", 2.0 * RTT_MS),
    ] {
        let r = run_json(&format!(
            "--rtt 100ms --bandwidth 1gbit --requests 1 --size 2000 --strategy persistent \
             --delayed-ack 200ms --quickack 0 --nagle {mode}"
        ));
        assert_all_ok(&r, 1, 2000);
        let slack = serialization_ms(6, GBIT);
        assert_between(&format!("nagle {mode}"), total_ms(&r), expected, slack);
    }
}

/// A 64 KiB response at MSS 1460 (MTU 1500 - 40): body plus a head of under 100 bytes
/// is ceil(65,636 / 1460) = 45 segments. Total = 1 RTT handshake + rounds x 1 RTT:
/// IW 1 -> 1+2+4+8+16+32 >= 45: 6 rounds, 700 ms; IW 10 -> 10+20+40: 3 rounds, 400 ms;
/// no congestion window -> 1 round, 200 ms.
#[test]
fn slow_start_rounds_for_64k() {
    let segments = (65536u64 + 100).div_ceil(1460);
    assert_eq!(segments, 45);
    assert_eq!(slow_start_rounds(1, segments), 6);
    assert_eq!(slow_start_rounds(10, segments), 3);
    let base = "--rtt 100ms --bandwidth 1gbit --requests 1 --size 65536 --mtu 1500 \
                --delayed-ack off --nagle off";
    let slack = serialization_ms(segments + 6, GBIT);
    for iw in [1u64, 10] {
        let r = run_json(&format!("{base} --initial-window {iw}"));
        assert_all_ok(&r, 1, 65536);
        let expected = (1 + slow_start_rounds(iw, segments)) as f64 * RTT_MS;
        assert_between(&format!("IW {iw}"), total_ms(&r), expected, slack);
    }
    let r = run_json(&format!("{base} --slow-start off"));
    assert_all_ok(&r, 1, 65536);
    assert_between("slow start off", total_ms(&r), 2.0 * RTT_MS, slack);
}

/// The default buffers must not let the receive window limit a 1 MiB response: with
/// no congestion window it arrives in one round, 2 RTT plus the serialization of
/// ceil((1,048,576 + 100) / 1460) = 719 segments.
#[test]
fn receive_window_does_not_limit_a_megabyte() {
    let segments = (1_048_576u64 + 100).div_ceil(1460);
    let r = run_json("--rtt 100ms --bandwidth 1gbit --requests 1 --size 1m --delayed-ack off --nagle off --slow-start off");
    assert_all_ok(&r, 1, 1_048_576);
    assert_between(
        "1 MiB",
        total_ms(&r),
        2.0 * RTT_MS,
        serialization_ms(segments + 6, GBIT),
    );
}

/// Chapter item 10: with 100 ports and 2MSL = 10 s the client can open at most
/// 100 / 10 s connections per second. Connection k of a generation starts at s, is
/// done at s + 2 RTT, and enters TIME_WAIT when the server's FIN arrives at s + 3 RTT;
/// its port frees at s + 3 RTT + 2MSL, when connection k of the next generation
/// starts. Three generations of 100 back-to-back 2-RTT transactions: the last one
/// ends at 2 x (3 RTT + 2MSL) + 99 x 2 RTT + 2 RTT = 206 RTT + 20 s = 20,206 ms.
#[test]
fn time_wait_caps_the_connection_rate_when_waiting() {
    let rtt = 1.0;
    let two_msl = 10_000.0;
    let r = run_json("--rtt 1ms --bandwidth 1gbit --requests 300 --size 100 --strategy serial --ports 50000-50099 --time-wait 10s --on-exhaustion wait");
    assert_all_ok(&r, 300, 100);
    let expected = time_wait_run_ms(300, 100, two_msl, rtt);
    assert_eq!(
        expected,
        2.0 * (3.0 * rtt + two_msl) + 99.0 * 2.0 * rtt + 2.0 * rtt
    );
    assert_between(
        "port churn",
        total_ms(&r),
        expected,
        serialization_ms(300 * 4, GBIT),
    );
    // Every port served exactly three connections.
    let mut per_port = std::collections::BTreeMap::new();
    for t in r["transactions"].as_array().unwrap() {
        *per_port
            .entry(t["local_port"].as_u64().unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(per_port.len(), 100);
    assert!(per_port.values().all(|&n| n == 3));
}

/// The same churn with `--on-exhaustion fail`: the first 100 connections take every
/// port for 10 s, and the remaining 200 requests arrive long before any port frees
/// (100 x 2 RTT = 200 ms), so exactly 200 fail with "ports exhausted".
#[test]
fn time_wait_exhausts_ports_when_failing() {
    let r = run_json("--rtt 1ms --bandwidth 1gbit --requests 300 --size 100 --strategy serial --ports 50000-50099 --time-wait 10s --on-exhaustion fail");
    let txs = r["transactions"].as_array().unwrap();
    let exhausted = txs
        .iter()
        .filter(|t| t["error_kind"]["kind"] == "ports_exhausted")
        .count();
    let ok = txs.iter().filter(|t| t["error"].is_null()).count();
    assert_eq!((exhausted, ok), (200, 100));
    assert_eq!(r["failed"], 200);
    assert!(txs[150]["error"]
        .as_str()
        .unwrap()
        .contains("ports exhausted"));
}

/// Loss: every body completes and verifies, the losses show as retransmissions, and a
/// seeded run is reproducible byte for byte.
#[test]
fn lossy_link_completes_and_is_deterministic() {
    let args = [
        "run",
        "--loss",
        "0.02",
        "--seed",
        "7",
        "--requests",
        "20",
        "--size",
        "100000",
        "--strategy",
        "persistent",
        "--json",
    ];
    let a = tcpknobs(&args);
    let b = tcpknobs(&args);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
    let r: Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_all_ok(&r, 20, 100_000);
    let retrans: u64 = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["retransmissions"].as_u64().unwrap())
        .sum();
    assert!(
        retrans > 0,
        "2% loss over ~1,400 segments must cost retransmissions"
    );
    // Another seed loses other frames.
    let other = tcpknobs(&[
        "run",
        "--loss",
        "0.02",
        "--seed",
        "8",
        "--requests",
        "20",
        "--size",
        "100000",
        "--strategy",
        "persistent",
        "--json",
    ]);
    assert_ne!(a.stdout, other.stdout);
}

/// Bad values: a non-zero exit and a message naming the flag and the accepted form.
#[test]
fn bad_values_name_the_flag_and_the_form() {
    for (args, flag, form) in [
        (vec!["run", "--rtt", "fast"], "--rtt", "40ms"),
        (vec!["run", "--ports", "9-3"], "--ports", "LO"),
        (vec!["run", "--loss", "2"], "--loss", "0.02"),
        (vec!["run", "--bandwidth", "10mbps"], "--bandwidth", "mbit"),
        (vec!["run", "--delayed-ack", "soon"], "--delayed-ack", "off"),
        (
            vec!["run", "--client-nagle", "maybe"],
            "--client-nagle",
            "on",
        ),
        (vec!["run", "--requests", "0"], "--requests", "at least 1"),
    ] {
        let out = tcpknobs(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(err.contains(form), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `--pcap` writes a capture whose frames are the run's segments.
#[test]
fn pcap_capture_has_every_frame() {
    let dir = std::env::temp_dir().join(format!("tcpknobs-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.pcap");
    let p = path.to_str().unwrap();
    let r = run_json(&format!("--requests 2 --strategy persistent --pcap {p}"));
    let contents = read_capture(&std::fs::read(&path).unwrap()).expect("a readable capture");
    assert_eq!(contents.format, CaptureFormat::Pcap);
    assert_eq!(contents.interfaces[0].link_type, LinkType::RawIp);
    let records = contents.frames.len() as u64;
    let sent: u64 = r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["segments_out"].as_u64().unwrap())
        .sum();
    assert_eq!(records, sent, "one record per segment sent by either host");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Chapter item 8: a persistent connection keeps its tuned congestion window, unless
/// it idles longer than the RTO and restarts from the initial window (RFC 5681 §4.1).
/// Three 64 KiB responses (45 segments each) with 2 s of think time between them
/// (longer than smoltcp's 1 s minimum RTO). The first takes 1 RTT handshake + 3
/// rounds with IW 10 (10 + 20 + 40 >= 45) = 400 ms and leaves cwnd at 10 + 45 = 55
/// segments. After idle: restart on -> IW 10 again, 3 rounds = 300 ms per response;
/// restart off -> 55 >= 45, one round = 100 ms per response.
#[test]
fn slow_start_restarts_after_idle() {
    let base = "--rtt 100ms --bandwidth 1gbit --strategy persistent --requests 3 --size 64k \
                --think-time 2s --delayed-ack off --nagle off --initial-window 10";
    let think = 2000.0;
    let slack = serialization_ms(3 * 46 + 8, GBIT);
    let r = run_json(&format!("{base} --slow-start-after-idle on"));
    assert_all_ok(&r, 3, 65536);
    let expected = 4.0 * RTT_MS + 2.0 * (think + 3.0 * RTT_MS);
    assert_between("restart on", total_ms(&r), expected, slack);
    let r = run_json(&format!("{base} --slow-start-after-idle off"));
    assert_all_ok(&r, 3, 65536);
    let expected = 4.0 * RTT_MS + 2.0 * (think + RTT_MS);
    assert_between("restart off", total_ms(&r), expected, slack);
}

/// Chapter item 10's arithmetic, as the report states it: the book's 60,000 ports and
/// 2MSL of 120 s allow 60,000 / 120 = 500 new connections per second toward one
/// server; the churn test's 100 ports and 10 s allow 10 per second.
#[test]
fn the_time_wait_ceiling_is_ports_over_two_msl() {
    let book = run_json("--profile book --rtt 1ms --requests 1");
    assert_eq!(book["time_wait_ceiling_per_s"], 500.0);
    let small = run_json("--rtt 1ms --requests 1 --ports 50000-50099 --time-wait 10s");
    assert_eq!(small["time_wait_ceiling_per_s"], 10.0);
    let none = run_json("--rtt 1ms --requests 1 --time-wait 0");
    assert_eq!(none["time_wait_ceiling_per_s"], serde_json::Value::Null);
}
