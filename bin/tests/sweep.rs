//! `tcpknobs sweep`: the grid, its rows and their order, and the input it refuses.
//!
//! Expected values are written from the formula above each test, never copied from a
//! run; the only slack is the serialization of the frames on the critical path.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// A file name of this test's own in the temporary directory.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tcpknobs-sweep-{}-{name}", std::process::id()))
}

/// The CSV's records, each split into cells (the rows these tests read quote nothing).
fn records(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("the CSV was written");
    text.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// The stall sweep of the README, with `--jobs N` and the picture.
fn stall_sweep(jobs: &str, csv: &Path, svg: &Path) -> std::process::Output {
    tcpknobs(&[
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
        "--jobs",
        jobs,
        "--out",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ])
}

/// Nagle meets the delayed ACK (README, "A first session"), over a grid. A request in
/// two writes: with Nagle on the second waits for the first one's ACK, which the server
/// delays by D (no quick-ACK): handshake 1 RTT, first part at the server at 1.5 RTT,
/// its ACK back at 2 RTT + D, the second part there at 2.5 RTT + D, the response at
/// 3 RTT + D (D = 0 when the delayed ACK is off: 300 ms; 200 ms: 500 ms): 2 RTT +
/// D + 1 RTT. Nagle off: both parts go at once, 2 RTT = 200 ms whatever D is. The
/// first --vary is outermost. The blame columns say the same: 1 RTT of Nagle's hold
/// (the first part's round trip) and D of delayed ACK when Nagle is on, neither off.
/// The picture is an SVG document with a line per Nagle setting, and the CSV is the
/// same byte for byte with one thread or two.
#[test]
fn nagle_by_delayed_ack_follows_the_stall_formula() {
    let (out, svg) = (temp("stall.csv"), temp("stall.svg"));
    let o = stall_sweep("1", &out, &svg);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let csv_one = std::fs::read(&out).expect("the CSV");
    let rows = records(&out);
    let header = &rows[0];
    assert_eq!(header[..3], ["point", "delayed-ack", "nagle"]);
    // Then every setting of the point's experiment, then the metrics.
    let metrics_at = header
        .iter()
        .position(|h| h == "total_ms")
        .expect("total_ms");
    let settings = &header[3..metrics_at];
    for knob in [
        "link.one_way_delay_ns",
        "seed",
        "client_knobs.nagle",
        "client_knobs.delayed_ack_ms",
        "server_knobs.quickack",
    ] {
        assert!(settings.iter().any(|h| h == knob), "{knob} in {settings:?}");
    }
    assert_eq!(
        header[metrics_at..metrics_at + 8],
        [
            "total_ms",
            "connect_ms",
            "ttfb_ms",
            "transfer_ms",
            "succeeded",
            "failed",
            "retransmissions",
            "blame.queued_ms",
        ]
    );
    assert_eq!(header.last().map(String::as_str), Some("error"));
    // A varied knob's column follows it: delayed ACK off, 40 and 200 ms.
    let delack = header
        .iter()
        .position(|h| h == "client_knobs.delayed_ack_ms")
        .expect("the column");
    let seen: Vec<&str> = rows[1..].iter().map(|r| r[delack].as_str()).collect();
    assert_eq!(seen, ["", "", "40.0", "40.0", "200.0", "200.0"]);
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let mut expected = Vec::new();
    for (delack, d) in [("off", 0.0), ("40ms", 40.0), ("200ms", 200.0)] {
        expected.push((delack, "on", 2.0 * RTT_MS + d + RTT_MS, d));
        expected.push((delack, "off", 2.0 * RTT_MS, 0.0));
    }
    assert_eq!(rows.len(), 1 + expected.len());
    let slack = serialization_ms(6, GBIT);
    for (i, (row, (delack, nagle, total, d))) in rows[1..].iter().zip(expected).enumerate() {
        assert_eq!(row[0], i.to_string());
        assert_eq!((row[1].as_str(), row[2].as_str()), (delack, nagle));
        let at = |name: &str| -> f64 { row[col(name)].parse().expect(name) };
        assert_between(&format!("{delack} {nagle}"), at("total_ms"), total, slack);
        // connect: the handshake, 1 RTT.
        assert_between("connect", at("connect_ms"), RTT_MS, slack);
        // The linux profile's RTO after the handshake's one sample R is
        // R + max(4 x R/2, 200 ms) = 300 ms, which is also when a 200 ms delayed ACK
        // returns (RTT + 200 ms): the timer fires first (the ACK still pays its
        // serialization) and resends the first piece with the held second one. The
        // total is the same; the time is the timer's, not Nagle's or the ACK's.
        let raced = nagle == "on" && d >= 200.0;
        let rto = RTT_MS + (2.0 * RTT_MS).max(200.0);
        let (nagle_ms, delayed_ms, loss_ms) = match (nagle, raced) {
            (_, true) => (0.0, 0.0, rto),
            ("on", false) => (RTT_MS, d, 0.0),
            _ => (0.0, 0.0, 0.0),
        };
        assert_between("blame.nagle_ms", at("blame.nagle_ms"), nagle_ms, slack);
        assert_between(
            "blame.delayed_ack_ms",
            at("blame.delayed_ack_ms"),
            delayed_ms,
            slack,
        );
        assert_between(
            "blame.loss_recovery_ms",
            at("blame.loss_recovery_ms"),
            loss_ms,
            slack,
        );
        let retransmissions = if raced { "1" } else { "0" };
        assert_eq!(
            [
                &row[col("succeeded")],
                &row[col("failed")],
                &row[col("retransmissions")],
                &row[col("error")]
            ],
            ["1", "0", retransmissions, ""],
            "{row:?}"
        );
    }
    let table = String::from_utf8_lossy(&o.stdout);
    assert_eq!(table.lines().count(), 7, "{table}");
    assert!(table.starts_with("delayed-ack  nagle  total_ms"), "{table}");

    let text = std::fs::read_to_string(&svg).expect("the SVG");
    let doc = roxmltree::Document::parse(&text).expect("the SVG is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in ["nagle=on", "nagle=off", "delayed-ack", "total (ms)", "40ms"] {
        assert!(texts.contains(&label), "{label}: {texts:?}");
    }

    let o = stall_sweep("2", &out, &svg);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&out).expect("the CSV"), csv_one);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&svg);
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
    let total = |p: &Value| p["total_ms"].as_f64().expect("a mean");
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
    assert_eq!(v[1]["total_ms"], Value::Null);
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
            ".csv, .json, .jsonl or .md",
        ),
        (
            vec!["--vary", "nagle=on", "--plot", "x.png"],
            "must end in .svg",
        ),
        (
            vec!["--vary", "nagle=on", "--plot", "x.svg", "--metric", "speed"],
            "one of: total_ms",
        ),
        (
            vec![
                "--vary",
                "nagle=on",
                "--plot",
                "x.svg",
                "--plot-kind",
                "heatmap",
            ],
            "exactly two --vary",
        ),
        (vec!["--vary", "nagle=on", "--shard", "3/3"], "below N"),
        (vec!["--vary", "nagle=on", "--shard", "1"], "expected K/N"),
        (vec!["--vary", "nagle=on", "--repeat", "0"], "--repeat"),
        (vec!["--vary", "loss=0.1..0.01*5"], "no points"),
        (vec!["--vary", "loss=0..0.1*5"], "above zero"),
        (
            vec!["--vary", "nagle=on", "--out", "/nonexistent-dir/x.csv"],
            "--out '/nonexistent-dir/x.csv': cannot create the file",
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
        assert!(!Path::new("x.svg").exists(), "{args:?}");
    }
}

/// With `--tap`, what the lab cannot vary against a real server is refused before
/// anything touches the network: the TAP named does not exist, so an error about the
/// parameter (status 2, the TAP never opened) rather than about the TAP (status 1)
/// shows the check came first. Server knobs and options, the simulated link and
/// workload, parallel points, and URLs of two servers; a bad value is named by its
/// place in its list, as `get` words it.
#[test]
fn tap_sweep_refuses_what_it_cannot_vary_before_opening_the_tap() {
    let out = temp("never-tap.csv");
    let o = out.to_str().unwrap();
    let url = "http://10.77.0.1:8000/";
    for (args, says) in [
        (
            vec!["--vary", "server-nagle=on,off"],
            "--server-nagle does not apply with --tap",
        ),
        (
            vec!["--vary", "server-nagle=on,off"],
            "scripts/sweep-tap-server.sh",
        ),
        (
            vec!["--vary", "server-delayed-ack=off,40ms"],
            "the server is the real one",
        ),
        (
            vec!["--vary", "response-writes=1,2"],
            "--response-writes does not apply with --tap",
        ),
        (vec!["--vary", "backlog=1,2"], "--backlog does not apply"),
        (
            vec!["--server-nagle", "off", "--vary", "rtt=20ms,60ms"],
            "--server-nagle does not apply with --tap",
        ),
        (
            vec!["--vary", "bandwidth=1mbit,10mbit"],
            "adds only --rtt and --loss",
        ),
        (vec!["--vary", "page=1k+3x1k"], "fetches the URLs given"),
        (vec!["--requests", "3", "--vary", "rtt=1ms"], "--requests"),
        (vec!["--vary", "on-exhaustion=wait"], "has no such option"),
        (
            vec!["--vary", "ip=10.77.0.3/24"],
            "set once for the whole sweep",
        ),
        (
            vec!["--vary", "rtt=20ms,60ms", "--jobs", "2"],
            "--jobs 2: with --tap the points share one TAP",
        ),
        (
            vec!["--vary", "client-nagle=on,maybe"],
            "--vary client-nagle: value 2 of 2 ('maybe')",
        ),
        (
            vec!["--vary", "foo=1"],
            "sweep --tap varies one of: rtt, loss",
        ),
    ] {
        let mut all = vec!["sweep", "--tap", "tk-nonexistent9", "--out", o];
        all.extend(args.iter().copied());
        all.push(url);
        let r = tcpknobs(&all);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("no TAP device"), "{args:?}: {stderr}");
        assert!(r.stdout.is_empty(), "{args:?}");
        assert!(!out.exists(), "{args:?}");
    }
    // URLs of two servers, no URL, URLs without --tap.
    for (args, says) in [
        (
            vec!["--tap", "tk-nonexistent9", url, "http://10.77.0.3:8000/"],
            "all URLs must name the same server",
        ),
        (
            vec!["--tap", "tk-nonexistent9"],
            "give the URLs each point fetches",
        ),
        (vec![url], "--tap"),
        (vec!["--ip", "10.77.0.2/24"], "--tap"),
    ] {
        let mut all = vec!["sweep", "--vary", "rtt=20ms,60ms"];
        all.extend(args.iter().copied());
        let r = tcpknobs(&all);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Good input gets as far as the TAP, which is missing: status 1, and it says so.
    let r = tcpknobs(&[
        "sweep",
        "--tap",
        "tk-nonexistent9",
        "--vary",
        "rtt=20ms,60ms",
        "--vary",
        "client-nagle=on,off",
        url,
    ]);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tk-nonexistent9"), "{stderr}");
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
    let got = v[0]["total_ms"].as_f64().expect("a mean");
    assert_between("rtt", got, 2.0 * RTT_MS, serialization_ms(4, GBIT));
}

/// `sweep --json` emits exactly the fields docs/json.md lists for it (`NAME` stands for
/// each varied option, `CAUSE` for each cause under `--repeat`), for a point that ran
/// and one whose transactions all failed, with one run per point and with several.
#[test]
fn json_fields_are_documented() {
    let mut emitted = std::collections::BTreeSet::new();
    for repeat in ["1", "3"] {
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
            "--repeat",
            repeat,
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(EXIT_SOME_FAILED));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        for path in field_paths(&v) {
            let path = path
                .replace("values.loss", "values.NAME")
                .replace("values.rtt", "values.NAME");
            let path = match (repeat, path.strip_prefix("[].blame.")) {
                ("3", Some(rest)) => match rest.split_once("_ms_") {
                    Some((_, stat)) => format!("[].blame.CAUSE_ms_{stat}"),
                    None => path,
                },
                _ => path,
            };
            emitted.insert(path);
        }
    }
    assert_eq!(emitted, documented_fields("## Fields of `sweep --json`"));
}

/// `--repeat 20 --loss 0.02` on a page of 1 + 3 objects: each metric becomes its
/// statistics over seeds 1..=20, ordered min <= p5 <= median <= p95 <= max; loss
/// makes some points spread (a retransmission timeout costs one seed what another
/// does not pay); and the same command gives the same bytes again.
#[test]
fn repeat_gives_spread_columns_and_the_same_output_twice() {
    let run = || {
        tcpknobs(&[
            "sweep",
            "--vary",
            "rtt=20ms,100ms",
            "--repeat",
            "20",
            "--loss",
            "0.02",
            "--page",
            "1k+3x1k",
            "--json",
        ])
    };
    let o = run();
    assert!(o.status.code() == Some(0) || o.status.code() == Some(EXIT_SOME_FAILED));
    assert_eq!(o.stdout, run().stdout);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let points = v.as_array().expect("an array");
    assert_eq!(points.len(), 2);
    let mut spread = false;
    for p in points {
        let stat = |s: &str| p[format!("total_ms_{s}").as_str()].as_f64().expect(s);
        let order = ["min", "p5", "median", "p95", "max"].map(stat);
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        assert!(stat("mean") >= stat("min") && stat("mean") <= stat("max"));
        spread |= stat("max") > stat("min");
        assert!(
            p["total_ms"].is_null(),
            "no unsuffixed column with --repeat"
        );
        assert_eq!(p["succeeded_min"], 4.0, "every seed got the page");
    }
    assert!(spread, "2% loss over 20 seeds moved no total");
}

/// `--shard K/N` runs points K, K + N, ...; `sweep merge` of the three shards of a
/// sweep is the unsharded CSV, byte for byte, whatever order the files are given in.
#[test]
fn merged_shards_are_the_unsharded_file() {
    let sweep = |shard: Option<&str>, out: &Path| {
        let mut args = vec![
            "sweep",
            "--vary",
            "rtt=10ms..70ms/10ms",
            "--vary",
            "nagle=on,off",
            "--requests",
            "2",
            "--loss",
            "0.05",
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let o = tcpknobs(&args);
        assert!(
            o.status.code() != Some(2),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::read(out).expect("the CSV")
    };
    let whole = sweep(None, &temp("whole.csv"));
    let parts: Vec<PathBuf> = (0..3).map(|k| temp(&format!("part{k}.csv"))).collect();
    for (k, part) in parts.iter().enumerate() {
        let csv = sweep(Some(&format!("{k}/3")), part);
        let lines = csv.iter().filter(|b| **b == b'\n').count();
        assert_eq!(lines, 1 + [5, 5, 4][k], "shard {k}");
    }
    let o = tcpknobs(&[
        "sweep",
        "merge",
        parts[2].to_str().unwrap(),
        parts[0].to_str().unwrap(),
        parts[1].to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout, whole);

    // A missing shard, or one given twice, is named.
    let o = tcpknobs(&[
        "sweep",
        "merge",
        parts[0].to_str().unwrap(),
        parts[1].to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is in none of the files"));
    let o = tcpknobs(&[
        "sweep",
        "merge",
        parts[0].to_str().unwrap(),
        parts[0].to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("more than one file"));
    for p in parts.iter().chain([&temp("whole.csv")]) {
        let _ = std::fs::remove_file(p);
    }
}

/// A log-spaced range, the Markdown and JSON-lines outputs, and a heatmap of two
/// varied options: 4 loss rates a decade apart, a row per point in every format.
#[test]
fn log_ranges_markdown_jsonl_and_heatmap() {
    let (md, jsonl, svg) = (temp("log.md"), temp("log.jsonl"), temp("heat.svg"));
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "loss=0.0001..0.1*4",
        "--vary",
        "strategy=serial,persistent",
        "--page",
        "1k+3x1k",
        "--out",
        md.to_str().unwrap(),
        "--out",
        jsonl.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
        "--plot-kind",
        "heatmap",
        "--metric",
        "blame.handshake_ms",
    ]);
    assert!(
        o.status.code() != Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&md).expect("the Markdown");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2 + 8, "{text}");
    assert!(
        lines[0].starts_with("| loss | strategy | total_ms |"),
        "{text}"
    );
    assert!(lines[1].starts_with("|---|---|---:|"), "{text}");
    let loss: Vec<String> = std::fs::read_to_string(&jsonl)
        .expect("the JSON lines")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("one object a line");
            v["values"]["loss"].as_str().expect("a loss").to_owned()
        })
        .collect();
    assert_eq!(
        loss,
        ["0.0001", "0.0001", "0.001", "0.001", "0.01", "0.01", "0.1", "0.1"]
    );
    let text = std::fs::read_to_string(&svg).expect("the SVG");
    let doc = roxmltree::Document::parse(&text).expect("the SVG is XML");
    let cells = doc.descendants().filter(|n| n.has_tag_name("rect")).count();
    assert!(cells >= 8, "{cells} rects");
    for p in [md, jsonl, svg] {
        let _ = std::fs::remove_file(p);
    }
}

/// A point is the run `run` makes with the same options: its means are the run's
/// summary (sum / count, to the microsecond), its blame the run's sum per finished
/// transaction, whatever the other points and the threads.
#[test]
fn a_point_is_the_run_of_its_options() {
    let o = tcpknobs(&[
        "sweep",
        "--vary",
        "rtt=10ms,50ms",
        "--vary",
        "seed=1,2",
        "--requests",
        "5",
        "--size",
        "20k",
        "--loss",
        "0.05",
        "--jobs",
        "2",
        "--json",
    ]);
    assert!(
        o.status.code() != Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let points = v.as_array().expect("an array");
    assert_eq!(points.len(), 4);
    for p in points {
        // The varied values: rtt, then seed (their names sort in that order too).
        let values: Vec<&str> = p["values"]
            .as_object()
            .expect("the values")
            .values()
            .filter_map(Value::as_str)
            .collect();
        let [rtt, seed] = values[..] else {
            panic!("two values: {values:?}")
        };
        let r = run_json(&format!(
            "--rtt {rtt} --seed {seed} --requests 5 --size 20k --loss 0.05"
        ));
        let total = &r["summary"]["timings"]["total"];
        let count = total["count"].as_f64().expect("count");
        let mean = total["sum_ms"].as_f64().expect("sum") / count;
        let got = p["total_ms"].as_f64().expect("a mean");
        assert!((got - mean).abs() < 0.0006, "{rtt} {seed}: {got} vs {mean}");
        assert_eq!(p["succeeded"], r["summary"]["succeeded"]);
        assert_eq!(p["failed"], r["summary"]["failed"]);
        let finished = r["summary"]["succeeded"].as_f64().expect("succeeded")
            + r["summary"]["failed"].as_f64().expect("failed");
        for cause in ["queued_ms", "handshake_ms", "loss_recovery_ms"] {
            let run = r["blame"][cause].as_f64().expect("a run's blame") / finished;
            let point = p["blame"][cause].as_f64().expect("a point's blame");
            assert!((run - point).abs() < 0.0006, "{cause}: {point} vs {run}");
        }
    }
}
