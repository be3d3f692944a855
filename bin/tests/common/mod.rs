//! Helpers shared by the CLI-level tests: run the binary, read its JSON, compare
//! virtual times with the formula allowing only serialization delay.
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

/// The round trip most tests use, ms.
pub const RTT_MS: f64 = 100.0;
/// 1 Gbit/s, the tests' usual link rate.
pub const GBIT: f64 = 1e9;

/// Run the binary with `args`.
pub fn tcpknobs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcpknobs"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Exit status of a run in which some transactions failed.
pub const EXIT_SOME_FAILED: i32 = 3;

/// `tcpknobs run ARGS --json`, parsed; `args` as typed on a command line. The run
/// must complete, and its exit status must say whether every transaction succeeded
/// (0) or some failed (3).
pub fn run_json(args: &str) -> Value {
    let mut all = vec!["run"];
    all.extend(args.split_whitespace());
    all.push("--json");
    let out = tcpknobs(&all);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "tcpknobs {all:?}: {e}; status {}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let expected = if r["failed"] == 0 {
        0
    } else {
        EXIT_SOME_FAILED
    };
    assert_eq!(
        out.status.code(),
        Some(expected),
        "tcpknobs {all:?}: {} failed; stderr: {}",
        r["failed"],
        String::from_utf8_lossy(&out.stderr)
    );
    r
}

/// The run's `total_ms`.
pub fn total_ms(r: &Value) -> f64 {
    r["total_ms"].as_f64().expect("total_ms")
}

/// The chapter's formulas: the same functions the tour prints its predictions with.
#[allow(unused_imports)]
pub use tcpknobs_lab::tour::predict::*;

/// `got` is `expected` up to `slack` of serialization (never less: nothing beats
/// propagation delay).
pub fn assert_between(what: &str, got: f64, expected: f64, slack: f64) {
    assert!(
        got >= expected && got <= expected + slack,
        "{what}: got {got} ms, expected {expected} ms (+ at most {slack:.3} ms serialization)"
    );
}

/// The run's transactions.
pub fn transactions(r: &Value) -> &Vec<Value> {
    r["transactions"].as_array().expect("transactions")
}

/// Every transaction succeeded with status 200.
pub fn assert_ok(r: &Value) {
    for t in transactions(r) {
        assert_eq!(t["error"], Value::Null, "transaction {t}");
        assert_eq!(t["status"], 200, "transaction {t}");
    }
}

/// Exactly `n` transactions, all successful with `size` body bytes each.
pub fn assert_all_ok(r: &Value, n: usize, size: u64) {
    assert_eq!(transactions(r).len(), n);
    assert_ok(r);
    for t in transactions(r) {
        assert_eq!(t["bytes"], size, "transaction {t}");
    }
}

/// The connections one host had.
pub fn connections_of<'a>(r: &'a Value, host: &str) -> Vec<&'a Value> {
    r["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter(|c| c["host"] == host)
        .collect()
}

/// Every key path in a JSON value: `a.b` for objects, `a[]` for array elements,
/// containers included (`knobs`, `knobs.client`, `knobs.client.nagle`).
pub fn field_paths(v: &Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    out.insert(path.clone());
                    walk(child, &path, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, "", &mut out);
    out
}

/// The field paths docs/json.md lists in the section whose heading starts with
/// `heading` (up to the next `## ` heading): the first cell of each table row, in
/// backticks, with `{a,b}` expanded to both.
pub fn documented_fields(heading: &str) -> std::collections::BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/json.md"))
        .expect("docs/json.md");
    let start = doc
        .find(&format!("\n{heading}"))
        .unwrap_or_else(|| panic!("docs/json.md has no section {heading:?}"));
    let section = &doc[start + 1..];
    let end = section[1..].find("\n## ").map_or(section.len(), |i| i + 1);
    let mut out = std::collections::BTreeSet::new();
    for line in section[..end].lines() {
        let Some(cell) = line.strip_prefix("| `") else {
            continue;
        };
        let Some(path) = cell.split('`').next() else {
            continue;
        };
        match (path.find('{'), path.find('}')) {
            (Some(open), Some(close)) if open < close => {
                for alt in path[open + 1..close].split(',') {
                    out.insert(format!("{}{alt}{}", &path[..open], &path[close + 1..]));
                }
            }
            _ => {
                out.insert(path.to_string());
            }
        }
    }
    assert!(
        !out.is_empty(),
        "no fields in docs/json.md section {heading:?}"
    );
    out
}
