//! `tcpknobs sweep`: the grid, its rows and their order, and the input it refuses.
//!
//! Expected values are written from the formula above each test, never copied from a
//! run; the only slack is the serialization of the frames on the critical path.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;

/// A file name of this test's own in the temporary directory.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tcpknobs-sweep-{}-{name}", std::process::id()))
}

/// The CSV's records, each split into cells (the rows these tests read quote nothing).
fn records(path: &PathBuf) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("the CSV was written");
    text.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// Nagle meets the delayed ACK (README, "A first session"), over a grid. A request in
/// two writes: with Nagle on the second waits for the first one's ACK, which the server
/// delays by D (no quick-ACK): handshake 1 RTT, first part at the server at 1.5 RTT,
/// its ACK back at 2 RTT + D, the second part there at 2.5 RTT + D, the response at
/// 3 RTT + D (D = 0 when the delayed ACK is off: 300 ms; 200 ms: 500 ms). Nagle off:
/// both parts go at once, 2 RTT = 200 ms whatever D is. The first --vary is outermost.
#[test]
fn nagle_by_delayed_ack_follows_the_stall_formula() {
    let out = temp("stall.csv");
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "delayed-ack=off,40ms,200ms",
        "--vary",
        "nagle=on,off",
        "--rtt",
        "100ms",
        "--bandwidth",
        "1gbit",
        "--requests",
        "1",
        "--request-writes",
        "2",
        "--strategy",
        "persistent",
        "--quickack",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rows = records(&out);
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        rows[0],
        [
            "delayed-ack",
            "nagle",
            "mean_total_ms",
            "mean_connect_ms",
            "mean_ttfb_ms",
            "mean_transfer_ms",
            "succeeded",
            "failed",
            "retransmissions",
            "error"
        ]
    );
    let mut expected = Vec::new();
    for (delack, d) in [("off", 0.0), ("40ms", 40.0), ("200ms", 200.0)] {
        expected.push((delack, "on", 3.0 * RTT_MS + d));
        expected.push((delack, "off", 2.0 * RTT_MS));
    }
    assert_eq!(rows.len(), 1 + expected.len());
    let slack = serialization_ms(6, GBIT);
    for (row, (delack, nagle, total)) in rows[1..].iter().zip(expected) {
        assert_eq!((row[0].as_str(), row[1].as_str()), (delack, nagle));
        let got: f64 = row[2].parse().expect("a total");
        assert_between(&format!("{delack} {nagle}"), got, total, slack);
        // connect: the handshake, 1 RTT.
        let connect: f64 = row[3].parse().expect("a connect time");
        assert_between("connect", connect, RTT_MS, slack);
        assert_eq!(&row[6..], ["1", "0", "0", ""], "{row:?}");
    }
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.lines().count(), 7, "{table}");
    assert!(
        table.starts_with("delayed-ack  nagle  mean_total_ms"),
        "{table}"
    );
}

/// Points run in parallel, but the rows are collected in point order: the output does
/// not depend on the number of threads.
#[test]
fn output_is_the_same_for_any_number_of_jobs() {
    let run = |jobs: &str| {
        let out = temp(&format!("jobs{jobs}.csv"));
        let o = tcpknobs(&[
            "sweep",
            "--vary",
            "initial-window=1..4",
            "--vary",
            "rtt=10ms..40ms/10ms",
            "--requests",
            "2",
            "--size",
            "64k",
            "--loss",
            "0.01",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
        ]);
        let csv = std::fs::read(&out).expect("the CSV was written");
        let _ = std::fs::remove_file(&out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (csv, o.stdout)
    };
    let one = run("1");
    let two = run("2");
    assert_eq!(one.0.iter().filter(|b| **b == b'\n').count(), 1 + 16);
    assert_eq!(one, two);
}

/// `--out F.json`: one object per point, the varied values in the order given.
#[test]
fn json_has_one_object_per_point() {
    let out = temp("points.json");
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "strategy=serial,persistent",
        "--vary",
        "rtt=100ms",
        "--requests",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&out).expect("the JSON was written");
    let _ = std::fs::remove_file(&out);
    assert!(text.find("\"strategy\"") < text.find("\"rtt\""), "{text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let points = v.as_array().expect("an array");
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["values"]["strategy"], "serial");
    assert_eq!(points[1]["values"]["strategy"], "persistent");
    assert_eq!(points[0]["error"], Value::Null);
    // 4 small requests, all queued at the start, each waiting for the one before it:
    // serial 2 RTT each, done at 2, 4, 6, 8 RTT, a mean of 5 RTT; persistent 1 RTT
    // each after one handshake, done at 2, 3, 4, 5 RTT, a mean of 3.5 RTT.
    let slack = serialization_ms(16, GBIT);
    let total = |p: &Value| p["mean_total_ms"].as_f64().expect("a mean");
    assert_between("serial", total(&points[0]), 5.0 * RTT_MS, slack);
    assert_between("persistent", total(&points[1]), 3.5 * RTT_MS, slack);
}

/// Transactions that fail make their point's row say so, and the exit status 3; the
/// other points still run.
#[test]
fn a_failing_point_is_a_row() {
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "loss=0,1",
        "--requests",
        "1",
        "--rtt",
        "1ms",
        "--max-time",
        "10s",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(EXIT_SOME_FAILED));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v[0]["succeeded"], 1);
    assert_eq!(v[1]["succeeded"], 0);
    assert_eq!(v[1]["failed"], 1);
    assert_eq!(v[1]["mean_total_ms"], Value::Null);
}

/// Bad input is refused before any point runs, with status 2 and a message naming the
/// problem; no output file is written.
#[test]
fn bad_input_is_a_usage_error() {
    let out = temp("never.csv");
    let o = out.to_str().unwrap();
    for (args, says) in [
        (vec!["--vary", "foo=1"], "'foo' is not a run option"),
        (vec!["--vary", "foo=1"], "delayed-ack, "),
        (
            vec!["--vary", "nagle="],
            "the list of values for nagle is empty",
        ),
        (vec!["--vary", "nagle"], "expected NAME=V1,V2"),
        (vec!["--vary", "nagle=on,,off"], "value 2 is empty"),
        (
            vec!["--vary", "delayed-ack=off,40ms,soon"],
            "--vary delayed-ack: value 3 of 3 ('soon')",
        ),
        (vec!["--vary", "initial-window=10..1"], "no points"),
        (
            vec!["--vary", "initial-window=1..20000000"],
            "more than 10000000",
        ),
        (vec!["--vary", "rtt=10ms..300ms"], "needs a step"),
        (
            vec!["--vary", "nagle=on", "--vary", "nagle=off"],
            "nagle is varied twice",
        ),
        (vec!["--vary", "nagle=on", "--jobs", "0"], "--jobs"),
        (
            vec!["--vary", "nagle=on", "--out", "x.txt"],
            ".csv or .json",
        ),
        (vec!["--vary", "nagle=on", "--pcap", "x.pcap"], "--pcap"),
        (vec!["--rtt", "1ms"], "--vary"),
    ] {
        let mut all = vec!["sweep"];
        all.extend(args.iter().copied());
        if !args.contains(&"--out") {
            all.extend(["--out", o]);
        }
        let r = tcpknobs(&all);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(r.stdout.is_empty(), "{args:?}");
        assert!(!out.exists(), "{args:?}");
    }
}

/// A value the sweep's own options also set is the point's: `--rtt 50ms` with
/// `--vary rtt=100ms` runs at 100 ms (1 RTT handshake + 1 RTT request).
#[test]
fn a_varied_value_overrides_the_same_option() {
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "rtt=100ms",
        "--rtt",
        "50ms",
        "--requests",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let got = v[0]["mean_total_ms"].as_f64().expect("a mean");
    assert_between("rtt", got, 2.0 * RTT_MS, serialization_ms(4, GBIT));
}

/// `sweep --json` emits exactly the fields docs/json.md lists for it (`NAME` stands for
/// each varied option), for a point that ran and one whose transactions all failed.
#[test]
fn json_fields_are_documented() {
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "loss=0,1",
        "--vary",
        "rtt=1ms",
        "--requests",
        "1",
        "--max-time",
        "10s",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(EXIT_SOME_FAILED));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let emitted: std::collections::BTreeSet<String> = field_paths(&v)
        .into_iter()
        .map(|p| {
            p.replace("values.loss", "values.NAME")
                .replace("values.rtt", "values.NAME")
        })
        .collect();
    assert_eq!(emitted, documented_fields("## Fields of `sweep --json`"));
}
