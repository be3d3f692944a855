//! `--har FILE`: the archive a run writes, read back by the `har` crate (the HAR 1.2
//! specification's types), and the flag's errors.

mod common;

use std::path::PathBuf;

use common::{serialization_ms, tcpknobs, GBIT, RTT_MS};

/// A fresh path in a directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcpknobs-har-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{name}.har"))
}

/// `tcpknobs run ARGS --har PATH`: the exit status and the archive, parsed.
fn run_har(args: &str, path: &std::path::Path) -> (Option<i32>, har::v1_2::Log, serde_json::Value) {
    let mut all = vec!["run"];
    all.extend(args.split_whitespace());
    let p = path.to_str().expect("utf-8 path");
    all.extend(["--har", p]);
    let out = tcpknobs(&all);
    let parsed = har::from_path(path).unwrap_or_else(|e| {
        panic!(
            "{all:?}: {e}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let har::Spec::V1_2(log) = parsed.log else {
        panic!("not HAR 1.2");
    };
    let json = serde_json::from_slice(&std::fs::read(path).expect("read")).expect("JSON");
    (out.status.code(), log, json)
}

/// Each entry's timings that apply (not -1) add up to its `time`.
fn assert_sums(log: &har::v1_2::Log) {
    for (i, e) in log.entries.iter().enumerate() {
        let t = &e.timings;
        let sum: f64 = [
            t.blocked.unwrap_or(-1.0),
            t.dns.unwrap_or(-1.0),
            t.connect.unwrap_or(-1.0),
            t.send,
            t.wait,
            t.receive,
            t.ssl.unwrap_or(-1.0),
        ]
        .into_iter()
        .filter(|&p| p >= 0.0)
        .sum();
        assert!(
            (sum - e.time).abs() < 1e-6,
            "entry {i}: {sum} vs {}",
            e.time
        );
    }
}

/// A 1+3 object page on one persistent connection, 100 ms round trip: the HTML's
/// handshake and its request take a round trip each; the objects go on the reused
/// connection (connect -1), one round trip each, queued behind one another.
#[test]
fn a_page_archive_has_the_formula_timings() {
    let path = scratch("page");
    let (status, log, _) = run_har("--page 100+3x100 --rtt 100ms --strategy persistent", &path);
    assert_eq!(status, Some(0));
    assert_eq!(log.entries.len(), 4);
    assert_sums(&log);
    // A few small frames at 1 Gbit/s on each side of the formula.
    let slack = serialization_ms(4, GBIT);
    let near = |got: f64, want: f64| (got - want).abs() <= slack;
    let html = &log.entries[0].timings;
    assert!(
        near(html.connect.unwrap_or(-1.0), RTT_MS),
        "{:?}",
        html.connect
    );
    assert!(near(html.wait, RTT_MS), "{}", html.wait);
    for (i, e) in log.entries.iter().enumerate().skip(1) {
        let t = &e.timings;
        assert_eq!(t.connect, Some(-1.0), "entry {i}: reused");
        assert!(near(t.wait, RTT_MS), "entry {i}: {}", t.wait);
        assert!(
            near(t.blocked.unwrap_or(-1.0), (i - 1) as f64 * RTT_MS),
            "entry {i}: {:?}",
            t.blocked
        );
        assert_eq!(e.connection.as_deref(), Some("0"));
        assert_eq!(e.response.status, 200);
    }
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

/// Every packet lost: the run completes with a failed transaction (status 3), and the
/// archive holds it, status 0 with `_error`.
#[test]
fn a_failed_transaction_is_archived_with_its_error() {
    let path = scratch("lost");
    let (status, log, json) = run_har("--requests 1 --loss 1 --syn-retries 1", &path);
    assert_eq!(status, Some(3));
    assert_eq!(log.entries.len(), 1);
    assert_sums(&log);
    assert_eq!(log.entries[0].response.status, 0);
    // A HAR field, not the report's: read by pointer.
    let error = json
        .pointer("/log/entries/0/_error")
        .and_then(|e| e.as_str())
        .expect("_error");
    assert!(error.starts_with("connect timed out"), "{error}");
    let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
}

/// A path that cannot be written is a usage error found before anything runs: the
/// flag, the path and the system's reason on one line, status 2, nothing on stdout.
#[test]
fn an_unwritable_path_fails_before_the_run() {
    let path = "/nonexistent-dir/x.har";
    for args in [
        vec!["run", "--har", path],
        // Before the TAP is opened: no TAP is needed to see it.
        vec![
            "get",
            "--tap",
            "tknotthere0",
            "--har",
            path,
            "http://10.77.0.1/",
        ],
    ] {
        let out = tcpknobs(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            "tcpknobs: error: --har '/nonexistent-dir/x.har': cannot create the file: \
             No such file or directory (os error 2)\n",
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
