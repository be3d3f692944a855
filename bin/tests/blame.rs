//! Latency blame on the chapter's runs: where each transaction's time went, with
//! every expected value written from the formula. The links are `--bandwidth
//! unlimited` so that serialization is 0 and the figures are exact; the causes of a
//! transaction always add up to its total, to the microsecond of the hosts' clocks.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

/// A transaction's (or the run's) time blamed on `cause`, ms.
fn blame(v: &Value, cause: &str) -> f64 {
    v["blame"][format!("{cause}_ms")]
        .as_f64()
        .unwrap_or_else(|| panic!("no blame.{cause}_ms in {v}"))
}

/// Every cause of every transaction adds up to its `total_ms`, and the run's blame
/// is the sum of the transactions'. Times are whole microseconds: compare those.
fn assert_adds_up(r: &Value) {
    let us = |ms: f64| (ms * 1000.0).round() as i64;
    let mut run: BTreeMap<String, i64> = BTreeMap::new();
    for t in transactions(r) {
        let causes = t["blame"].as_object().expect("a blame object");
        let sum: i64 = causes.values().map(|v| us(v.as_f64().unwrap_or(0.0))).sum();
        assert_eq!(sum, us(t["total_ms"].as_f64().unwrap()), "transaction {t}");
        for (k, v) in causes {
            *run.entry(k.clone()).or_default() += us(v.as_f64().unwrap_or(0.0));
        }
    }
    for (k, v) in run {
        assert_eq!(v, us(r["blame"][&k].as_f64().unwrap()), "run blame {k}");
    }
}

/// Chapter items 12 and 16: serial loading pays a handshake per request, a
/// persistent connection pays one. 4 x 100 B at 100 ms: `handshake` 400 vs 100 ms,
/// and the 300 ms between the totals is exactly the difference in `handshake`.
#[test]
fn serial_pays_four_handshakes_persistent_one() {
    let base = "--rtt 100ms --bandwidth unlimited --requests 4 --size 100";
    let serial = run_json(&format!("{base} --strategy serial"));
    let persistent = run_json(&format!("{base} --strategy persistent"));
    assert_adds_up(&serial);
    assert_adds_up(&persistent);
    assert_eq!(blame(&serial, "handshake"), 4.0 * RTT_MS);
    assert_eq!(blame(&persistent, "handshake"), RTT_MS);
    assert_eq!(total_ms(&serial), serial_ms(4, RTT_MS));
    assert_eq!(total_ms(&persistent), persistent_ms(4, RTT_MS));
    assert_eq!(
        total_ms(&serial) - total_ms(&persistent),
        blame(&serial, "handshake") - blame(&persistent, "handshake")
    );
    // Each transaction: one round trip of request and response on the wire.
    for t in transactions(&persistent) {
        assert_eq!(blame(t, "propagation"), RTT_MS, "{t}");
        assert_eq!(blame(t, "other"), 0.0, "{t}");
    }
}

/// Chapter item 9: a request in two writes, Nagle on, delayed ACK 200 ms, no quick-ACK.
/// The body waits for the ACK of the head: the server receives the head after
/// RTT/2 = 50 ms, holds its ACK 200 ms, the ACK takes 50 ms back. Of the 300 ms
/// held, the 200 ms the server's timer held the ACK are `delayed_ack` and the 100 ms
/// round trip any ACK needs are `nagle`. Nagle off: neither.
#[test]
fn nagle_and_delayed_ack_split_the_stall() {
    let base = "--rtt 100ms --bandwidth unlimited --requests 1 --request-writes 2 \
                --strategy persistent --delayed-ack 200ms --quickack 0";
    let on = run_json(&format!("{base} --nagle on"));
    assert_adds_up(&on);
    let t = &transactions(&on)[0];
    assert_eq!(blame(t, "delayed_ack"), 200.0);
    assert_eq!(blame(t, "nagle"), RTT_MS);
    assert_eq!(total_ms(&on), 2.0 * RTT_MS + nagle_stall_ms(RTT_MS, 200.0));
    let off = run_json(&format!("{base} --nagle off"));
    assert_adds_up(&off);
    let t = &transactions(&off)[0];
    assert_eq!(blame(t, "delayed_ack"), 0.0);
    assert_eq!(blame(t, "nagle"), 0.0);
    assert_eq!(total_ms(&off), 2.0 * RTT_MS);
}

/// Chapter item 8: 64 KiB in 45 segments of MSS 1460, an ACK per segment. The
/// response is written at once; its last segment leaves after `rounds - 1` round
/// trips of a congestion window that doubles per round: `slow_start` = (rounds - 1)
/// x RTT, IW 1: 5 x 100 ms, IW 10: 2 x 100 ms, slow start off: 0.
#[test]
fn slow_start_is_the_rounds_after_the_first() {
    let segments = (65536u64 + 100).div_ceil(1460);
    let base = "--rtt 100ms --bandwidth unlimited --requests 1 --size 65536 --mtu 1500 \
                --delayed-ack off --nagle off";
    for iw in [1u64, 10] {
        let r = run_json(&format!("{base} --initial-window {iw}"));
        assert_adds_up(&r);
        let expected = (slow_start_rounds(iw, segments) - 1) as f64 * RTT_MS;
        assert_eq!(blame(&r, "slow_start"), expected, "IW {iw}");
    }
    assert_eq!(slow_start_rounds(1, segments), 6);
    assert_eq!(slow_start_rounds(10, segments), 3);
    let r = run_json(&format!("{base} --slow-start off"));
    assert_adds_up(&r);
    assert_eq!(blame(&r, "slow_start"), 0.0);
}

/// Chapter item 10: 100 ports, 2MSL 10 s, 300 serial requests at RTT 1 ms, waiting
/// for a port when none is free. Each transaction takes 2 RTT (handshake, request);
/// the client closes first and its port enters TIME_WAIT when the server's FIN
/// arrives, 3 RTT after the connect. The 101st transaction (id 100) needs a port at
/// 100 x 2 RTT = 200 ms; the first is free at 2MSL + 3 RTT = 10,003 ms: it waits
/// 9,803 ms. It connects at 10,003 ms, so the 101st connection's port is free at
/// 10,003 + 3 + 10,000 ms while the 201st transaction asks at 10,003 + 2 + 99 x 2
/// ms: 9,803 ms again. Everyone else finds a port at once: `port_wait` sums to
/// 2 x (2MSL + 3 RTT - 100 x 2 RTT) = 19,606 ms, and the time later transactions
/// spend behind earlier ones is `queued`.
#[test]
fn only_two_transactions_wait_for_a_port() {
    let r = run_json(
        "--rtt 1ms --bandwidth unlimited --requests 300 --size 100 --strategy serial \
         --ports 50000-50099 --time-wait 10s --on-exhaustion wait",
    );
    assert_adds_up(&r);
    let (two_msl, rtt) = (10_000.0, 1.0);
    let wait = two_msl + 3.0 * rtt - 100.0 * 2.0 * rtt;
    let waiting: Vec<(u64, f64)> = transactions(&r)
        .iter()
        .filter(|t| blame(t, "port_wait") > 0.0)
        .map(|t| (t["id"].as_u64().unwrap(), blame(t, "port_wait")))
        .collect();
    assert_eq!(waiting, [(100, wait), (200, wait)]);
    assert_eq!(blame(&r, "port_wait"), 2.0 * wait);
    // The 102nd transaction waited behind the 101st, its port wait included: all of
    // that is `queued`, from the moment it was issued to its own connect.
    let t = &transactions(&r)[101];
    let at = |field: &str| t[field].as_f64().unwrap();
    assert_eq!(
        blame(t, "queued"),
        at("connect_start_at_ms") - at("queued_at_ms")
    );
    assert!(blame(t, "queued") > wait);
}

/// Loss (20 x 100 KB over a persistent connection, 2 % loss, seed 7): a transaction
/// spends time in `loss_recovery` exactly when one of its data segments (request or
/// response bytes) was dropped. Which were is read off the trace independently of
/// the blame: the link's drops, the segments they carried, and the stream offsets at
/// which each response and request starts.
#[test]
fn loss_recovery_is_where_data_was_lost() {
    let dir = std::env::temp_dir().join(format!("tcpknobs-blame-loss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("loss.jsonl");
    let r = run_json(&format!(
        "--bandwidth unlimited --loss 0.02 --seed 7 --requests 20 --size 100000 \
         --strategy persistent --trace {}",
        trace.display()
    ));
    assert_adds_up(&r);
    let events: Vec<Value> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let lossy = transactions_with_lost_data(&events);
    assert!(!lossy.is_empty() && lossy.len() < 20, "{lossy:?}");
    for t in transactions(&r) {
        let id = t["id"].as_u64().unwrap();
        assert_eq!(
            blame(t, "loss_recovery") > 0.0,
            lossy.contains(&id),
            "transaction {id}: {}",
            t["blame"]
        );
    }
}

/// The transactions one of whose data segments the link dropped.
fn transactions_with_lost_data(events: &[Value]) -> BTreeSet<u64> {
    let key = |e: &Value| (e["host"].as_u64().unwrap(), e["frame"].as_u64().unwrap());
    let mut sent = BTreeMap::new();
    let mut iss = BTreeMap::new();
    let (mut response_starts, mut request_ends) = (Vec::new(), Vec::new());
    for e in events {
        match (e["kind"].as_str().unwrap(), e["http"].as_str()) {
            ("segment_out", _) => {
                if e["syn"] == true {
                    iss.insert(e["host"].as_u64().unwrap(), e["seq"].as_u64().unwrap());
                }
                sent.insert(key(e), e.clone());
            }
            ("http", Some("response_head")) => response_starts.push(e["start"].as_u64().unwrap()),
            ("http", Some("request_sent")) => {
                request_ends.push((e["end"].as_u64().unwrap(), e["tx"].as_u64().unwrap()))
            }
            _ => {}
        }
    }
    let mut lossy = BTreeSet::new();
    for e in events {
        if e["kind"] != "link" || e["fate"] == "delivered" {
            continue;
        }
        let s = &sent[&key(e)];
        if s["len"].as_u64().unwrap() == 0 {
            continue;
        }
        let host = s["host"].as_u64().unwrap();
        let offset = (s["seq"].as_u64().unwrap() + (1 << 32) - iss[&host] - 1) % (1 << 32);
        let tx = if host == 1 {
            // The server's bytes: the response that starts at or before them.
            response_starts.iter().filter(|&&st| st <= offset).count() as u64 - 1
        } else {
            request_ends
                .iter()
                .find(|(end, _)| *end > offset)
                .unwrap()
                .1
        };
        lossy.insert(tx);
    }
    lossy
}

/// `--server-delay 50ms`: 50 ms of every transaction is `server`. On a pipelined
/// page the server answers in order, so the second and third objects wait at the
/// server behind the processing of those before them: 50 and 100 ms more of
/// `queued` than the first object.
#[test]
fn server_time_and_head_of_line_blocking() {
    let r = run_json("--rtt 100ms --bandwidth unlimited --requests 4 --server-delay 50ms");
    assert_adds_up(&r);
    for t in transactions(&r) {
        assert_eq!(blame(t, "server"), 50.0, "{t}");
    }
    let r = run_json(
        "--rtt 100ms --bandwidth unlimited --page 1k+3x1k --strategy pipelined --server-delay 50ms",
    );
    assert_adds_up(&r);
    let objects = &transactions(&r)[1..];
    for t in objects {
        assert_eq!(blame(t, "server"), 50.0, "{t}");
    }
    let queued: Vec<f64> = objects.iter().map(|t| blame(t, "queued")).collect();
    assert_eq!(queued, [queued[0], queued[0] + 50.0, queued[0] + 100.0]);
}

/// The handshake is followed like the rest. At RTT 1,100 ms the client's SYN timer
/// (1 s) fires before the SYN-ACK arrives; the SYN-ACK answers the first SYN, so
/// the round trip that connected is all `handshake` (1,100 ms) and the spurious
/// retransmission costs nothing. With every frame lost the SYNs leave at 0, 1, 3,
/// 7, 15, 31 and 63 s and connect gives up at 127 s: all `syn_retransmit`.
#[test]
fn handshake_and_syn_retransmissions() {
    let r = run_json("--rtt 1100ms --bandwidth unlimited --requests 1");
    assert_adds_up(&r);
    assert_eq!(blame(&r, "handshake"), 1100.0);
    assert_eq!(blame(&r, "syn_retransmit"), 0.0);
    let r = run_json("--loss 1 --requests 1 --max-time 200s");
    assert_adds_up(&r);
    assert_eq!(blame(&r, "syn_retransmit"), 127_000.0);
    assert_eq!(total_ms(&r), 127_000.0);
}
