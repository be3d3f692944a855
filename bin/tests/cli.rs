//! The command line's contract with its user: exit statuses, error messages, the
//! help text, and refusals of flags that could not do what they say.

mod common;

use std::process::{Command, Output};

use common::*;
use tcpknobs_stack::{Knobs, Profile};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tcpknobs ARGS` with `RUST_BACKTRACE=1`, as a developer's shell has it.
fn with_backtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpknobs"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the binary runs")
}

/// 0: every transaction succeeded.
#[test]
fn exit_status_0_when_every_transaction_succeeds() {
    let out = tcpknobs(&["run", "--requests", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 ok, 0 failed"), "{}", stdout(&out));
}

/// 3: the run completed, some transactions failed, and their rows say why: every
/// frame lost, or ports exhausted.
#[test]
fn exit_status_3_when_some_transactions_fail() {
    let out = tcpknobs(&["run", "--loss", "1", "--max-time", "10s"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("0 ok, 4 failed"), "{table}");
    assert!(table.contains("unfinished when the run ended"), "{table}");

    let r =
        run_json("--rtt 1ms --requests 150 --strategy serial --ports 50000-50099 --time-wait 10s");
    assert_eq!(
        (r["succeeded"].as_u64(), r["failed"].as_u64()),
        (Some(100), Some(50))
    );
}

/// 1: the run could not be done. The error is one line, the chain of causes, with
/// no backtrace even under RUST_BACKTRACE=1 (backtraces are for panics). (An output
/// file that cannot be created is found before the run: status 2, capture.rs.)
#[test]
fn exit_status_1_when_the_run_cannot_be_done() {
    // A TAP that does not exist (never created: opening one only attaches).
    let out = with_backtrace(&["get", "--tap", "tknotthere0", "http://10.77.0.1/"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with("tcpknobs: error: "), "{err}");
    assert!(err.contains("tknotthere0"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// 2: a usage error, in clap's words: the flag and what it accepts.
#[test]
fn exit_status_2_on_usage_errors() {
    for args in [
        vec!["run", "--no-such-flag"],
        vec!["run", "--rtt", "fast"],
        vec!["get"],
        vec!["frobnicate"],
    ] {
        let out = tcpknobs(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: "),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // Help is not an error.
    let out = tcpknobs(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
}

/// `--help` documents the exit statuses of `run` and `get`.
#[test]
fn help_documents_the_exit_statuses() {
    for cmd in [vec!["--help"], vec!["run", "--help"], vec!["get", "--help"]] {
        let help = stdout(&tcpknobs(&cmd));
        for line in [
            "0  every transaction succeeded",
            "3  the run completed but some transactions failed",
            "1  the run could not be done",
            "2  usage error",
        ] {
            assert!(help.contains(line), "{cmd:?} lacks {line:?}:\n{help}");
        }
    }
}

/// Every file of the repository a `--help` or the README sends the reader to exists.
#[test]
fn help_and_readme_name_only_files_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root");
    let mut texts = vec![(
        "README.md".to_string(),
        std::fs::read_to_string(root.join("README.md")).expect("README.md"),
    )];
    for cmd in [
        &["--help"][..],
        &["run", "--help"],
        &["serve", "--help"],
        &["get", "--help"],
        &["sweep", "--help"],
        &["sweep", "merge", "--help"],
        &["tour", "--help"],
    ] {
        texts.push((format!("{cmd:?}"), stdout(&tcpknobs(cmd))));
    }
    let mut named = 0;
    for (what, text) in &texts {
        for (at, _) in text.match_indices("docs/") {
            let path: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'))
                .collect();
            let path = path.trim_end_matches('.');
            if path.ends_with(".md") || path.ends_with(".svg") {
                named += 1;
                assert!(
                    root.join(path).is_file(),
                    "{what} names {path}, which does not exist"
                );
            }
        }
    }
    assert!(named >= 10, "only {named} files named: the scan is broken");
}

/// A stack error wrapped by the client reads once.
#[test]
fn errors_do_not_repeat_themselves() {
    let r =
        run_json("--rtt 1ms --requests 101 --strategy serial --ports 50000-50099 --time-wait 10s");
    let error = transactions(&r)[100]["error"]
        .as_str()
        .expect("an error")
        .to_string();
    assert_eq!(
        error,
        "ports exhausted: all 100 ephemeral ports toward 192.0.2.2:80 are in use or in TIME_WAIT"
    );
}

/// A queue smaller than one full frame is refused when parsed, naming the flag and
/// the smallest useful value, the MTU, whichever --mtu says.
#[test]
fn a_queue_smaller_than_a_frame_is_refused() {
    for (args, mtu) in [
        (vec!["run", "--queue", "0"], "1500"),
        (vec!["run", "--queue", "100"], "1500"),
        (vec!["run", "--queue", "1499"], "1500"),
        (vec!["run", "--mtu", "9000", "--queue", "8k"], "9000"),
        (vec!["run", "--queue", "4k", "--mtu", "9000"], "9000"),
    ] {
        let out = tcpknobs(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("--queue"), "{args:?}: {err}");
        assert!(
            err.contains(&format!("at least --queue {mtu}")),
            "{args:?}: {err}"
        );
    }
    // One full frame is the smallest queue that works.
    let r = run_json("--queue 1500 --bandwidth 10mbit --requests 1 --size 10k");
    assert_all_ok(&r, 1, 10 * 1024);
}

/// Every profile default in `run --help` is the value the code uses: the profile
/// list and each knob's line, checked against `Knobs::profile` itself.
#[test]
fn help_prints_each_profiles_actual_values() {
    let help = stdout(&tcpknobs(&["run", "--help"]));
    let line_of = |start: &str| -> String {
        help.lines()
            .map(str::trim)
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{help}"))
            .to_string()
    };
    let secs = |d: tcpknobs_stack::Duration| format!("{}s", d.total_millis() / 1000);
    let nagle = |k: &Knobs| match k.nagle {
        tcpknobs_stack::Nagle::On => "on",
        tcpknobs_stack::Nagle::Off => "off",
        tcpknobs_stack::Nagle::Minshall => "minshall",
    };
    let delack = |k: &Knobs| {
        k.delayed_ack
            .map_or("off".to_string(), |d| format!("{}ms", d.total_millis()))
    };
    let profiles = [("linux", Profile::Linux), ("book", Profile::Book)];
    for (name, profile) in profiles {
        let k = Knobs::profile(profile);
        let line = line_of(&format!("- {name}:"));
        for expected in [
            format!("IW {}", k.slow_start.initial_window),
            format!("Nagle {}", nagle(&k)),
            format!("quick-ACK {}", k.quickack),
            format!("delayed ACK {}", delack(&k)),
            format!("TIME_WAIT {}", secs(k.time_wait)),
            format!(
                "ports {}-{} ({} ports)",
                k.ports.lo,
                k.ports.hi,
                k.ports.len()
            ),
        ] {
            assert!(
                line.contains(&expected),
                "{name}: {expected:?} not in {line:?}"
            );
        }
    }
    // Each knob's own line gives every profile's value of it.
    let knob_values = |f: &dyn Fn(&Knobs) -> String| -> String {
        let v: Vec<String> = profiles
            .iter()
            .map(|(name, p)| format!("{name}: {}", f(&Knobs::profile(*p))))
            .collect();
        format!("[{}]", v.join("; "))
    };
    for (flag, values) in [
        ("--nagle", knob_values(&|k| nagle(k).to_string())),
        ("--quickack", knob_values(&|k| k.quickack.to_string())),
        ("--delayed-ack", knob_values(&delack)),
        (
            "--initial-window",
            knob_values(&|k| k.slow_start.initial_window.to_string()),
        ),
        ("--time-wait", knob_values(&|k| secs(k.time_wait))),
        (
            "--ports",
            knob_values(&|k| format!("{}-{}", k.ports.lo, k.ports.hi)),
        ),
        ("--backlog", knob_values(&|k| k.backlog.to_string())),
    ] {
        let at = help
            .find(&format!("      {flag} <"))
            .unwrap_or_else(|| panic!("{flag} not in help"));
        let paragraph = help[at..].split("\n\n").next().unwrap_or_default();
        assert!(
            paragraph.contains(&values),
            "{flag}: {values:?} not in {paragraph:?}"
        );
    }
    // The linux profile is Minshall's Nagle, not RFC 896's.
    assert!(!line_of("- linux:").contains("Nagle on"));
}

/// The README's knob table quotes the profiles too; it must say what the code does.
#[test]
fn the_readme_quotes_each_profiles_actual_values() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `--profile"))
        .expect("the --profile row of the knob table");
    for (name, profile) in [("linux", Profile::Linux), ("book", Profile::Book)] {
        let k = Knobs::profile(profile);
        let at = row.find(&format!("{name} = ")).expect("the profile's part");
        let part = &row[at..];
        for expected in [
            format!("IW {}", k.slow_start.initial_window),
            format!(
                "delayed ACK {} ms",
                k.delayed_ack.map_or(0, |d| d.total_millis())
            ),
            format!("{} s", k.time_wait.total_millis() / 1000),
            format!("ports {}-{}", k.ports.lo, k.ports.hi),
        ] {
            assert!(
                part.contains(&expected),
                "{name}: {expected:?} not in {part:?}"
            );
        }
    }
}

/// `serve` plays the server side and `get` the client side: a flag for the other
/// side is refused with the flags that would do it, and is not in their help.
#[test]
fn tap_commands_refuse_the_other_sides_knobs() {
    for (args, flag, says) in [
        (
            vec!["serve", "--client-nagle", "off"],
            "--client-nagle",
            "serve plays the server side; use --nagle or --server-nagle",
        ),
        (
            vec!["serve", "--client-time-wait", "1s"],
            "--client-time-wait",
            "serve plays the server side; use --time-wait or --server-time-wait",
        ),
        (
            vec!["get", "--server-delayed-ack", "200ms", "http://10.77.0.1/"],
            "--server-delayed-ack",
            "get plays the client side; use --delayed-ack or --client-delayed-ack",
        ),
    ] {
        let out = tcpknobs(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("{flag}: {says}")), "{args:?}: {err}");
    }
    let serve = stdout(&tcpknobs(&["serve", "--help"]));
    assert!(!serve.contains("--client-nagle"), "{serve}");
    assert!(serve.contains("--server-nagle"), "{serve}");
    let get = stdout(&tcpknobs(&["get", "--help"]));
    assert!(!get.contains("--server-nagle"), "{get}");
    assert!(get.contains("--client-nagle"), "{get}");
    // The own side's flag gets past parsing (to the missing TAP).
    let out = tcpknobs(&[
        "serve",
        "--tap",
        "tknotthere0",
        "--server-nagle",
        "off",
        "--max-time",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// The summary counts in words a person would use: a slow rate keeps its digits
/// (one connection in 25.2 s is 0.0397/s, not 0.0), one retry is "1 retry".
#[test]
fn summaries_keep_significant_digits_and_plurals() {
    let out = tcpknobs(&["run", "--requests", "1", "--server-delay", "25s"]);
    let table = stdout(&out);
    assert!(
        table.contains("1 ok, 0 failed, 0 retries, 0.0397 connections/s"),
        "{table}"
    );
    let out = tcpknobs(&[
        "run",
        "--requests",
        "1",
        "--size",
        "1000",
        "--server-truncate",
        "500",
        "--retries",
        "1",
    ]);
    assert!(stdout(&out).contains(" 1 retry, "), "{}", stdout(&out));
}

/// The connections table's TIME_WAIT column is the time held until the run ended,
/// not the 2MSL: a 60 s TIME_WAIT shows as a fraction of a second.
#[test]
fn the_time_wait_column_is_the_time_held() {
    let out = tcpknobs(&["run", "--requests", "1"]);
    let table = stdout(&out);
    let header = table
        .lines()
        .find(|l| l.trim_start().starts_with("host"))
        .expect("connections header");
    assert!(header.ends_with("tw_held_ms"), "{header}");
    let client = table
        .lines()
        .find(|l| l.trim_start().starts_with("client"))
        .expect("client row");
    let held: f64 = client
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(held < 1000.0, "held {held} ms of a 60 s TIME_WAIT");
}

/// A slow link is an experiment, not a fault: a 167 KiB page of 43 objects over
/// 28.8 kbit/s, HTTP/1.0 on four parallel connections, completes by default. Each of
/// the three 40 KiB images takes over a minute on its quarter of the link, so the
/// old 60 s response timeout lost them.
#[test]
fn a_slow_link_loses_nothing_to_a_default_timeout() {
    let page = "--page 8k+3x40k+39x1k --bandwidth 28.8kbit --http 1.0 --strategy parallel";
    let r = run_json(page);
    assert_eq!(r["end"], "done");
    assert_eq!(r["failed"], 0, "{}", r["transactions"]);
    assert_eq!(
        r["workload"]["client"]["timeout_ms"],
        serde_json::Value::Null
    );

    let r = run_json(&format!("{page} --client-timeout 60s"));
    let timeouts = transactions(&r)
        .iter()
        .filter(|t| t["error_kind"]["kind"] == "timeout")
        .count();
    assert!(
        timeouts > 0,
        "the 60 s timeout must cut some response short"
    );
}

/// The top of the HDR bucket holding `us` at 3 significant digits: 2,048 sub-buckets,
/// so values below 2,048 µs are buckets of their own, and from 2^(10+k) to
/// 2^(11+k) - 1 µs a bucket is 2^k µs wide.
fn hdr_bucket_top(us: u64) -> u64 {
    let k = (64 - us.leading_zeros()).saturating_sub(11);
    ((us >> k) << k) + (1 << k) - 1
}

/// A row's duration in µs (the JSON's ms carry µs exactly).
fn us(v: &serde_json::Value) -> u64 {
    (v.as_f64().expect("a duration") * 1000.0).round() as u64
}

/// The summary is the rows folded. A seeded lossy run, every row kept: count, sum,
/// min and max equal the rows' exactly, and each percentile equals the value computed
/// here from the rows the way HdrHistogram defines it (rank max(1, ceil(q n)), the
/// top of the 3-digit bucket holding that order statistic, capped at the maximum), not
/// just a value within its precision: the histogram is deterministic, so anything but
/// the exact value would be a bug in folding or reporting. The stated precision is
/// checked too: never below the exact order statistic, at most 1/1,024 above it.
#[test]
fn the_summary_is_the_rows_folded() {
    let r = run_json(
        "--loss 0.02 --seed 7 --requests 200 --size 10000 --strategy persistent --rows all",
    );
    let rows = transactions(&r);
    assert_eq!(rows.len(), 200);
    assert_eq!(r["rows_omitted"], serde_json::Value::Null);
    let s = &r["summary"];
    let ok: Vec<&serde_json::Value> = rows.iter().filter(|t| t["error"].is_null()).collect();
    assert_eq!(s["count"], 200);
    assert_eq!(s["succeeded"].as_u64(), Some(ok.len() as u64));
    assert_eq!(s["failed"].as_u64(), Some((200 - ok.len()) as u64));
    assert_eq!(
        (&s["succeeded"], &s["failed"]),
        (&r["succeeded"], &r["failed"])
    );
    assert!(ok.len() > 190, "the run mostly succeeds");
    assert!(
        r["wire"]["dropped_loss"].as_u64() > Some(10),
        "and it is lossy"
    );
    let mut above_exact = 0;
    for name in ["wait", "connect", "ttfb", "transfer", "total"] {
        let mut values: Vec<u64> = ok.iter().map(|t| us(&t[format!("{name}_ms")])).collect();
        values.sort_unstable();
        let n = values.len();
        let t = &s["timings"][name];
        let (min, max) = (values[0], values[n - 1]);
        assert_eq!(t["count"].as_u64(), Some(n as u64), "{name}");
        assert_eq!(us(&t["sum_ms"]), values.iter().sum::<u64>(), "{name}");
        assert_eq!(us(&t["min_ms"]), min, "{name}");
        assert_eq!(us(&t["max_ms"]), max, "{name}");
        for (q, key) in [
            (0.5, "p50_ms"),
            (0.9, "p90_ms"),
            (0.99, "p99_ms"),
            (0.999, "p99_9_ms"),
        ] {
            let rank = ((q * n as f64).ceil() as usize).max(1);
            let exact = values[rank - 1];
            let got = us(&t[key]);
            assert_eq!(got, hdr_bucket_top(exact).min(max), "{name} {key}");
            assert!(got >= exact && got - exact <= exact / 1024, "{name} {key}");
            above_exact += usize::from(got != exact);
        }
    }
    assert!(
        above_exact > 0,
        "some percentiles are past 2.048 ms, where buckets are wider"
    );
}

/// Failures are grouped by kind with the first in workload order, and the summary does
/// not depend on which rows were kept.
#[test]
fn the_summary_groups_failures_and_ignores_rows() {
    let args = "--rtt 1ms --requests 150 --ports 50000-50099 --time-wait 10s";
    let all = run_json(args);
    let rows = transactions(&all);
    assert_eq!(all["summary"]["failures"].as_array().map(Vec::len), Some(1));
    let f = &all["summary"]["failures"][0];
    assert_eq!(f["kind"], "ports_exhausted");
    assert_eq!(f["count"], 50);
    assert_eq!(f["first_id"], 100);
    assert_eq!(f["first_error"], rows[100]["error"]);

    let some = run_json(&format!("{args} --rows 5"));
    assert_eq!(some["summary"], all["summary"]);
    let ids: Vec<u64> = transactions(&some)
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids, [0, 1, 2, 3, 4]);
    assert_eq!(some["rows_omitted"]["count"], 145);
    let none = run_json(&format!("{args} --rows none"));
    assert!(transactions(&none).is_empty());
    assert_eq!(none["rows_omitted"]["count"], 150);
    assert_eq!(none["summary"], all["summary"]);
}

/// Past 10,000 transactions the rows are left out unless asked for, and both outputs
/// say how to get them; a bad --rows is a usage error naming the flag.
#[test]
fn large_runs_print_the_summary_and_say_how_to_get_rows() {
    let args = "--rtt 1ms --requests 10001 --strategy persistent";
    let r = run_json(args);
    assert!(transactions(&r).is_empty());
    assert_eq!(r["rows_omitted"]["count"], 10001);
    let hint = r["rows_omitted"]["hint"].as_str().expect("a hint");
    assert!(hint.contains("--rows all"), "{hint}");
    assert_eq!(r["summary"]["timings"]["total"]["count"], 10001);

    let mut argv: Vec<&str> = vec!["run"];
    argv.extend(args.split_whitespace());
    let table = stdout(&tcpknobs(&argv));
    assert!(
        table.contains("10001 transaction rows left out (--rows all prints every transaction"),
        "{table}"
    );
    assert!(
        table.contains("timings of the 10001 transactions that succeeded"),
        "{table}"
    );
    assert!(
        !table.contains("  id status"),
        "no transaction table: {table}"
    );

    // At the threshold every row is kept by default.
    let r = run_json("--rtt 1ms --requests 10000 --strategy persistent");
    assert_eq!(transactions(&r).len(), 10000);
    assert_eq!(r["rows_omitted"], serde_json::Value::Null);

    let out = tcpknobs(&["run", "--rows", "lots"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--rows"), "{}", stderr(&out));
    let help = stdout(&tcpknobs(&["run", "--help"]));
    assert!(help.contains("--rows <all|none|N>"), "{help}");
    assert!(help.contains("[default: all up to 10,000"), "{help}");
}
