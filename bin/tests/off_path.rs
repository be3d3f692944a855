//! The CLI off the happy path: handshakes slower than the initial RTO, heavy loss,
//! links so slow that every segment is retransmitted. The packet-level derivations
//! are in the stack's trace tests (stack/tests/handshake_trace.rs); these check the
//! symptom a user would see.

mod common;

use common::{
    assert_all_ok, assert_between, connections_of, run_json, serialization_ms, total_ms,
    transactions, GBIT,
};
use tcpknobs_stack::pcap::read_capture;

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

/// Sizes of the TCP payloads the server (port 80) sent, from a raw-IP capture.
fn server_payloads(capture: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for frame in read_capture(capture).expect("a readable capture").frames {
        let ip = &frame.data[..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let tcp = &ip[ihl..];
        let data_offset = usize::from(tcp[12] >> 4) * 4;
        if u16::from_be_bytes([tcp[0], tcp[1]]) == 80 {
            out.push(total - ihl - data_offset);
        }
    }
    out
}

/// Bulk responses leave in full segments; the only sub-MSS data segment of each
/// response is its tail (sender-side silly-window avoidance, RFC 9293 §3.8.6.2.1).
/// Two things used to cut segments short mid-stream: the server generates a body
/// 64 KiB at a time (each piece a write of its own), and smoltcp's 2 MiB send ring
/// cuts a segment where it wraps. Two 5 MiB responses cross both many times.
#[test]
fn bulk_responses_have_no_short_segments_mid_stream() {
    let dir = std::env::temp_dir().join(format!("tcpknobs-sws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bulk.pcap");
    let r = run_json(&format!(
        "--requests 2 --size 5m --strategy persistent --pcap {}",
        path.to_str().unwrap()
    ));
    assert_all_ok(&r, 2, 5 * 1024 * 1024);
    let payloads = server_payloads(&std::fs::read(&path).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    let short: Vec<usize> = payloads
        .iter()
        .copied()
        .filter(|&n| n > 0 && n < 1460)
        .collect();
    assert_eq!(short.len(), 2, "one tail per response: {short:?}");
}

/// 20 x 10 MiB on one connection at 1 Gbit/s and 100 ms RTT, the linux profile.
/// The bandwidth-delay product (12.5 MB) is larger than the 2 MiB socket buffers, so
/// after slow start each response is window-limited: W = min(the client's 2 MiB
/// receive window, the server's send ring, 2 MiB rounded down to whole 1,460-byte
/// segments = 2,096,560) bytes per RTT. A response of S bytes (body + head) then
/// takes ceil(S / W) rounds, the last leaving ceil(S / W) - 1 RTT after the request
/// arrives; with the request's and the last data's half RTTs, one response follows
/// the previous by ceil(S / W) RTT = 6 RTT = 600 ms. The whole run lands within 1 %
/// of ns-3 3.37's 13,107 ms on the same link (NewReno, 2 MiB buffers, no SACK).
/// ns-3's NewReno adds one segment per ACK in slow start, so the comparison runs with
/// RFC 5681's growth (`--abc-limit 1`); with Linux's, slow start reaches the window
/// limit sooner and the run takes 12,708 ms.
#[test]
fn bulk_transfers_are_window_limited_as_the_formula_says() {
    let r = run_json("--requests 20 --size 10m --strategy persistent --abc-limit 1");
    assert_all_ok(&r, 20, 10 * 1024 * 1024);
    let server = common::connections_of(&r, "server");
    assert_eq!(server.len(), 1);
    assert_eq!(server[0]["retransmissions"], 0);
    let s = server[0]["bytes_out"].as_u64().unwrap() / 20;
    let w = (2 * 1024 * 1024) / 1460 * 1460;
    let rounds = s.div_ceil(w);
    assert_eq!(rounds, 6);
    let done: Vec<f64> = common::transactions(&r)
        .iter()
        .map(|t| t["done_at_ms"].as_f64().unwrap())
        .collect();
    for pair in done.windows(2) {
        assert_between(
            "one response after the previous",
            pair[1] - pair[0],
            rounds as f64 * common::RTT_MS,
            serialization_ms(4 * rounds + 4, GBIT),
        );
    }
    let total = total_ms(&r);
    assert!(
        (total - 13_107.0).abs() <= 131.07,
        "{total} ms, ns-3: 13,107 ms"
    );
}

/// A handshake that is never answered fails as a connect timeout, named as such,
/// after Linux's 6 SYN retransmissions: SYNs at 0, 1, 3, 7, 15, 31 and 63 s, given up
/// when the last RTO (64 s) runs out at 127 s. The response timeout does not apply
/// to the handshake, and a connect that failed is not retried.
#[test]
fn an_unanswered_handshake_is_a_connect_timeout() {
    let out = common::tcpknobs(&["run", "--loss", "1", "--requests", "1", "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let t = &common::transactions(&r)[0];
    assert_eq!(t["error"], "connect timed out after 7 SYNs");
    assert_eq!(t["retries"], 0);
    assert_eq!(total_ms(&r), 127_000.0);
    let client = common::connections_of(&r, "client");
    assert_eq!(client.len(), 1);
    assert_eq!(client[0]["segments_out"], 7);
    assert_eq!(client[0]["resets_out"], 0);
}

/// Chapter item 14: a server limits what parallel connections cost it. With 4
/// workers, 50 parallel connections are served 4 at a time while the rest wait
/// in the accept queue: with nginx's backlog of 511 they all fit, and the run takes
/// the handshake plus ceil(50 / 4) = 13 rounds of (1 RTT + 100 ms of processing) =
/// 100 + 13 x 200 = 2,700 ms.
///
/// With a backlog of 1 both of Linux's queues overflow. The 50 SYNs arrive together;
/// backlog + 1 = 2 fit in the SYN queue, and the other 48 are answered with SYN
/// cookies. Their ACKs, and the requests behind them, find the accept queue full
/// (2 waiting) most of the time and are dropped, as Linux drops them; the clients
/// resend their requests on their retransmission timers, each time bringing the
/// cookie back, until one finds room.
///
/// With cookies off (`tcp_syncookies` = 0) the 48 SYNs are dropped instead, and
/// the clients resend them together at 1, 3, 7, 15, 31 and 63 s: each time the
/// queue is empty again and takes 2 of them. So 2 + 6 x 2 = 14 connections are
/// made and 36 fail at 127 s (six retries, Linux's `tcp_syn_retries`), having lost
/// 48 + 46 + 44 + 42 + 40 + 38 + 36 = 294 SYNs.
#[test]
fn a_full_accept_queue_drops_handshakes() {
    let base = "--strategy parallel --connections 50 --requests 50 --server-delay 100ms \
                --server-workers 4 --client-timeout 1h";
    let r = run_json(&format!("{base} --backlog 511"));
    assert_all_ok(&r, 50, 100);
    assert_between(
        "511",
        total_ms(&r),
        100.0 + 13.0 * 200.0,
        serialization_ms(200, GBIT),
    );
    let server = common::connections_of(&r, "server");
    assert!(server
        .iter()
        .all(|c| c["syn_retransmits"] == 0 && c["dropped_in"] == 0));

    let r = run_json(&format!("{base} --backlog 1"));
    assert_all_ok(&r, 50, 100);
    let listen = &r["listen"]["server"];
    assert_eq!(listen["syncookies_sent"], 48);
    assert_eq!(listen["syn_queue_drops"], 0);
    let overflows = listen["listen_overflows"].as_u64().unwrap();
    assert!(overflows > 0, "{listen}");
    // Every cookie ACK dropped for the full accept queue came back until it made one
    // of the 48 connections.
    assert_eq!(listen["syncookies_recv"].as_u64().unwrap(), 48 + overflows);
    let resent: u64 = common::connections_of(&r, "client")
        .iter()
        .map(|c| c["retransmissions"].as_u64().unwrap())
        .sum();
    assert!(resent > 0);
    assert!(
        total_ms(&r) > 2700.0 + 1000.0,
        "at least one retransmission timeout more"
    );

    let r = run_json(&format!("{base} --backlog 1 --server-syn-cookies off"));
    assert_eq!(
        (r["succeeded"].as_u64(), r["failed"].as_u64()),
        (Some(14), Some(36))
    );
    assert_eq!(r["listen"]["server"]["syn_queue_drops"], 294);
    assert_eq!(r["listen"]["server"]["syncookies_sent"], 0);
    assert_eq!(total_ms(&r), 127_000.0);
}

/// A connection made by a SYN cookie costs what any other does, and the blame says
/// why. Six parallel connections meet a backlog of 1 at 100 ms RTT: 2 handshakes fit
/// in the SYN queue and the other 4 SYNs get cookies; the server accepts each
/// connection as it comes, so no accept queue fills and no cookie ACK is dropped.
/// Every transaction takes a handshake round trip plus one for the request and its
/// response, 200 ms: `handshake` 100 and `propagation` 100 (plus serialization and
/// queueing of microseconds, each trip split into its stages), nothing `other`. The server saw neither the SYN nor
/// its cookie SYN-ACK as a connection's, so its side counts one segment less each
/// way than a stateful handshake's: the SYN in, the SYN-ACK out.
#[test]
fn connections_made_by_syn_cookies_are_blamed_like_any_other() {
    let r = run_json("--backlog 1 --strategy parallel --connections 6 --requests 6 --blame");
    assert_all_ok(&r, 6, 100);
    assert_eq!(r["listen"]["server"]["syncookies_sent"], 4);
    assert_eq!(r["listen"]["server"]["syncookies_recv"], 4);
    for t in r["transactions"].as_array().unwrap() {
        let b = &t["blame"];
        let id = &t["id"];
        assert_between(
            &format!("{id} total"),
            t["total_ms"].as_f64().unwrap(),
            200.0,
            0.1,
        );
        assert_between(
            &format!("{id} handshake"),
            b["handshake_ms"].as_f64().unwrap(),
            100.0,
            0.01,
        );
        assert_between(
            &format!("{id} propagation"),
            b["propagation_ms"].as_f64().unwrap(),
            100.0,
            0.01,
        );
        assert!(b["serialization_ms"].as_f64().unwrap() > 0.0, "{id}: {b}");
        assert_eq!(b["other_ms"], 0.0, "{id}: {b}");
    }
    let server = common::connections_of(&r, "server");
    let ins: Vec<u64> = server
        .iter()
        .map(|c| c["segments_in"].as_u64().unwrap())
        .collect();
    let stateful = ins.iter().copied().max().unwrap();
    assert_eq!(
        ins.iter().filter(|&&n| n == stateful - 1).count(),
        4,
        "{ins:?}"
    );
    // The table says so under the connections.
    let out = common::tcpknobs(&[
        "run",
        "--backlog",
        "1",
        "--strategy",
        "parallel",
        "--connections",
        "6",
        "--requests",
        "6",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "server listen queues (--backlog): 4 SYNs answered with a SYN cookie \
             (SYN queue full), cookies back in 4 ACKs\n"
        ),
        "{text}"
    );
}

/// `--max-time` bounds the run, so what is unfinished is unfinished at the limit, even
/// when the last thing that happened was long before it. 300 serial requests on 10
/// ports with a 10 s TIME_WAIT: the first 10 take 2 ms each (1 ms handshake, 1 ms
/// request), then every port is held and nothing can happen until the first is
/// freed at 10 s, after the 2 s limit. The run ends at 2 s: its total is 2,000 ms,
/// each unfinished transaction has waited until then since it was queued, and each
/// client connection in TIME_WAIT has held its tuple until then. (Before, the run
/// reported the moment of its last event instead: a total of 21.5 ms.)
#[test]
fn a_time_limit_ends_the_run_at_the_limit() {
    let r = run_json(
        "--rtt 1ms --bandwidth unlimited --requests 300 --ports 50000-50009 --time-wait 10s \
         --on-exhaustion wait --max-time 2s",
    );
    assert_eq!(r["end"], "time_limit");
    assert_eq!(
        (r["succeeded"].as_u64(), r["failed"].as_u64()),
        (Some(10), Some(290))
    );
    assert_eq!(total_ms(&r), 2000.0);
    for t in transactions(&r).iter().filter(|t| !t["error"].is_null()) {
        let queued = t["queued_at_ms"].as_f64().expect("queued");
        assert_eq!(t["total_ms"].as_f64(), Some(2000.0 - queued), "{t}");
    }
    let held: Vec<f64> = connections_of(&r, "client")
        .iter()
        .filter_map(|c| Some(c["time_wait_held_ms"].as_f64()? + c["opened_at_ms"].as_f64()?))
        .collect();
    assert_eq!(held.len(), 10);
    // Connection k opens at 2k ms; its response is in 2 ms later (handshake and
    // request), when the client closes; the FINs cross in one more round trip, so
    // TIME_WAIT starts at 2k + 3 ms and lasts until the limit: opened + held = 1,997.
    for h in held {
        assert!((h - 1997.0).abs() < 1e-6, "{h}");
    }
}
