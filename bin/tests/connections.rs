//! HTTP connection management (chapter items 12-20), checked from the command line on
//! the simulated link. Expected values come from the formula in each comment; the
//! only slack is serialization, bounded as if every frame were a full MTU.

mod common;

use common::*;

/// Client connections the run opened.
fn client_connections(r: &serde_json::Value) -> usize {
    connections_of(r, "client").len()
}

const PAGE: &str = "--rtt 100ms --bandwidth 1gbit --page 1k+3x1k";

/// Chapter item 12: one HTML object then three images, each on a new connection, one
/// after another: 4 x (1 RTT handshake + 1 RTT request) = 8 RTT.
#[test]
fn serial_page_costs_eight_round_trips() {
    let r = run_json(&format!("{PAGE} --strategy serial"));
    assert_ok(&r);
    assert_between(
        "serial",
        total_ms(&r),
        8.0 * RTT_MS,
        serialization_ms(16, GBIT),
    );
    assert_eq!(client_connections(&r), 4);
}

/// Item 13: the HTML on one connection (2 RTT), then the three images on three new
/// connections at once (2 RTT): 4 RTT.
#[test]
fn parallel_page_overlaps_the_images() {
    let r = run_json(&format!("{PAGE} --strategy parallel"));
    assert_ok(&r);
    assert_between(
        "parallel",
        total_ms(&r),
        4.0 * RTT_MS,
        serialization_ms(16, GBIT),
    );
    assert_eq!(client_connections(&r), 4);
    // The three images overlap: they start together, after the HTML.
    let starts: Vec<f64> = transactions(&r)[1..]
        .iter()
        .map(|t| t["connect_start"].as_f64().unwrap())
        .collect();
    assert!(starts.iter().all(|&s| s == starts[0]), "{starts:?}");
}

/// Item 16: one connection: 1 RTT handshake + 4 requests x 1 RTT = 5 RTT.
#[test]
fn persistent_page_pays_one_handshake() {
    let r = run_json(&format!("{PAGE} --strategy persistent"));
    assert_ok(&r);
    assert_between(
        "persistent",
        total_ms(&r),
        5.0 * RTT_MS,
        serialization_ms(12, GBIT),
    );
    assert_eq!(client_connections(&r), 1);
}

/// Item 14: on a narrow link parallel connections only split the bandwidth. At
/// 1 Mbit/s four 100 KiB objects are 4 x ceil((102,400 + 100) / 1460) = 4 x 71 frames
/// of at most 1500 bytes: about 3.4 s of serialization whatever the strategy. Both
/// strategies pay that; persistent pays at most 3 more request round trips (its four
/// requests go one after another, parallel's at once). At 1 Gbit/s serialization is
/// negligible and those round trips decide.
#[test]
fn parallel_barely_helps_on_a_narrow_link() {
    let narrow = "--rtt 100ms --bandwidth 1mbit --page 1k+4x100k";
    let par = run_json(&format!("{narrow} --strategy parallel"));
    let per = run_json(&format!("{narrow} --strategy persistent"));
    assert_ok(&par);
    assert_ok(&per);
    // The serialization of the objects' payload alone (1460-byte payload per frame is
    // a lower bound on the bytes on the wire): 4 x 102,400 x 8 / 1e6 s.
    let payload_s = 4.0 * 102_400.0 * 8.0 / 1e6 * 1000.0;
    let (t_par, t_per) = (total_ms(&par), total_ms(&per));
    assert!(t_par > payload_s && t_per > payload_s, "{t_par} {t_per}");
    assert!(
        t_per > t_par,
        "persistent still pays its request round trips"
    );
    assert!(t_per - t_par <= 3.0 * RTT_MS, "{t_per} - {t_par}");
    let narrow_ratio = t_per / t_par;

    let wide = "--rtt 100ms --bandwidth 1gbit --page 1k+4x100k";
    let par = run_json(&format!("{wide} --strategy parallel"));
    let per = run_json(&format!("{wide} --strategy persistent"));
    let wide_ratio = total_ms(&per) / total_ms(&par);
    assert!(
        narrow_ratio < 1.1 && wide_ratio > 1.3,
        "persistent/parallel: {narrow_ratio:.2} at 1 Mbit/s, {wide_ratio:.2} at 1 Gbit/s"
    );
}

/// Item 17: HTTP/1.0 persists only when the server echoes keep-alive. With the echo,
/// one connection: 1 + 4 RTT = 500 ms; without it (server keep-alive off) every
/// request needs a connection of its own and still succeeds: 4 x 2 RTT = 800 ms.
#[test]
fn http10_keep_alive_needs_the_echo() {
    let base = "--rtt 100ms --bandwidth 1gbit --http 1.0 --strategy persistent --requests 4";
    let r = run_json(base);
    assert_ok(&r);
    assert_between(
        "1.0 keep-alive",
        total_ms(&r),
        5.0 * RTT_MS,
        serialization_ms(12, GBIT),
    );
    assert_eq!(client_connections(&r), 1);

    let r = run_json(&format!("{base} --server-keep-alive off"));
    assert_ok(&r);
    assert_between(
        "1.0 no echo",
        total_ms(&r),
        8.0 * RTT_MS,
        serialization_ms(16, GBIT),
    );
    assert_eq!(client_connections(&r), 4);
}

/// Item 20: a client must not pipeline requests with side effects: POSTs go one at a
/// time, so the page costs what persistent costs (5 RTT) and nothing is pipelined.
#[test]
fn post_is_never_pipelined() {
    let post = run_json(&format!("{PAGE} --method POST --strategy pipelined"));
    assert_ok(&post);
    assert!(transactions(&post).iter().all(|t| t["pipelined"] == false));
    assert_between(
        "POST",
        total_ms(&post),
        5.0 * RTT_MS,
        serialization_ms(12, GBIT),
    );
}
