//! `run --json` and docs/json.md describe the same fields: every field a run emits is
//! documented, and every documented field is emitted by one of a few representative
//! runs, so neither can change without the other.

mod common;

use std::collections::BTreeSet;

use common::*;

/// Runs that between them exercise every part of the report: a proxy of each kind
/// (one hanging until the client's timeout), loss and retransmission, a page over a
/// pipelined connection, port exhaustion, a truncated body, slow start off behind a
/// drop-tail queue, delayed ACKs off and no TIME_WAIT, a server that never answers a
/// SYN, rows left out by `--rows`.
const RUNS: &[&str] = &[
    "--via-proxy smart --requests 3 --strategy persistent",
    "--via-proxy dumb --http 1.0 --strategy persistent --requests 2 --client-timeout 5s",
    "--loss 0.02 --seed 7 --requests 20 --size 100000 --strategy persistent --ssthresh 64k",
    "--page 1k+3x1k --strategy pipelined",
    "--rtt 1ms --requests 150 --ports 50000-50099 --time-wait 10s",
    "--requests 1 --size 1000 --server-truncate 500",
    "--loss 1 --requests 1 --max-time 200s",
    "--slow-start off --time-wait 0 --delayed-ack off --queue 16k --bandwidth 10mbit \
     --size 1m --requests 2 --server-keep-alive-max 1 --connections 2 --strategy persistent",
    "--requests 3 --rows 1",
];

/// Documented fields no run of the simulator can produce, and why.
const NOT_FROM_THE_SIMULATOR: &[(&str, &str)] = &[
    (
        "transactions[].error_kind.offset",
        "a body that differs from the pattern: only a foreign server over TAP sends one",
    ),
    (
        "transactions[].error_kind.addr",
        "no ARP reply: the simulated link has no ARP (raw IP)",
    ),
    (
        "proxy.clients[].end.bad_request",
        "the lab's client sends only requests the proxy accepts",
    ),
    (
        "proxy.clients[].end.bad_request.status",
        "the lab's client sends only requests the proxy accepts",
    ),
];

#[test]
fn every_field_is_documented_and_every_documented_field_is_emitted() {
    let documented = documented_fields("## Fields of `run --json`");
    let mut emitted = BTreeSet::new();
    for args in RUNS {
        let fields = field_paths(&run_json(args));
        let undocumented: Vec<&String> = fields.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "`run {args} --json` emits fields docs/json.md does not document: {undocumented:?}"
        );
        emitted.extend(fields);
    }
    for (field, why) in NOT_FROM_THE_SIMULATOR {
        assert!(documented.contains(*field), "{field} is not documented");
        assert!(
            !emitted.contains(*field),
            "{field} was emitted after all ({why})"
        );
        emitted.insert((*field).to_string());
    }
    let never: Vec<&String> = documented.difference(&emitted).collect();
    assert!(
        never.is_empty(),
        "docs/json.md documents fields no representative run emits: {never:?}"
    );
}

/// `run --trace` and docs/json.md describe the same event fields, both ways, over
/// runs that between them record every kind of event: loss (lost frames, RTO and
/// fast retransmissions), a drop-tail queue, delayed ACKs and Nagle holds, waiting
/// for a port, TIME_WAIT, a SYN cookie.
#[test]
fn every_trace_field_is_documented_and_emitted() {
    let documented = documented_fields("## Fields of `run --trace`");
    let dir = std::env::temp_dir().join(format!("tcpknobs-trace-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("t.jsonl");
    let mut emitted = BTreeSet::new();
    for args in [
        "--loss 0.05 --seed 3 --requests 5 --size 100000 --strategy persistent",
        "--bandwidth 10mbit --queue 8k --requests 2 --size 200k --strategy parallel",
        "--requests 2 --request-writes 2 --nagle on --delayed-ack 200ms --quickack 0 --strategy persistent",
        "--rtt 1ms --requests 3 --ports 50000-50001 --time-wait 1s --on-exhaustion wait",
        "--backlog 1 --strategy parallel --connections 3 --requests 3",
    ] {
        run_json(&format!("{args} --trace {}", file.display()));
        let text = std::fs::read_to_string(&file).expect("the trace");
        for line in text.lines() {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let fields = field_paths(&event);
            let undocumented: Vec<&String> = fields.difference(&documented).collect();
            assert!(undocumented.is_empty(), "{args}: {undocumented:?} in {line}");
            emitted.extend(fields);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let never: Vec<&String> = documented.difference(&emitted).collect();
    assert!(never.is_empty(), "documented, never emitted: {never:?}");
}

/// One unit convention: a field named in milliseconds holds a number, and no number
/// anywhere is a sentinel (u64::MAX for "unlimited").
#[test]
fn units_are_in_the_names_and_no_number_is_a_sentinel() {
    fn check(v: &serde_json::Value, at: &str) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map {
                    if k.ends_with("_ms") {
                        assert!(
                            child.is_number() || child.is_null(),
                            "{at}.{k} is not a number: {child}"
                        );
                    }
                    check(child, &format!("{at}.{k}"));
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| check(i, at)),
            serde_json::Value::Number(n) => {
                assert!(
                    n.as_u64().is_none_or(|n| n < u64::from(u32::MAX) * 1000),
                    "{at} = {n} looks like a sentinel"
                );
            }
            _ => {}
        }
    }
    for args in RUNS {
        check(&run_json(args), "");
    }
    // An unlimited ssthresh is null, in the knobs and in the history.
    let r = run_json("--requests 1");
    let c = &r["connections"][0];
    assert_eq!(c["cwnd_history"][0]["ssthresh"], serde_json::Value::Null);
    assert_eq!(c["cwnd_history"][0]["cause"], "start");
    assert_eq!(
        r["knobs"]["client"]["slow_start"]["ssthresh"],
        serde_json::Value::Null
    );
}

/// Every key the tests read from a report (`r[KEY]`, a literal) is a documented field, so a
/// renamed field cannot leave an assertion that passes because it reads `null`.
#[test]
fn the_tests_read_only_documented_fields() {
    let mut names = BTreeSet::new();
    for heading in [
        "## Fields of `run --json`",
        "## Fields of `run --trace`",
        "## Fields of `get --json`",
        "## Fields of `serve --json`",
        "## Fields of `sweep --json`",
        "## Fields of `tour --json`",
        "## The `tap` object",
    ] {
        for path in documented_fields(heading) {
            let last = path.rsplit(['.', '[']).next().unwrap_or(&path);
            names.insert(last.trim_end_matches(']').to_string());
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let mut files = vec![];
    for entry in std::fs::read_dir(dir).expect("bin/tests") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    assert!(files.len() > 3, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("test source");
        for (at, _) in text.match_indices("[\"") {
            // An index into a value (`r[`, `t[`, `][`), not a list literal (`&[`, `![`).
            let before = text[..at].chars().next_back().unwrap_or(' ');
            if !(before.is_ascii_alphanumeric() || before == '_' || before == ']') {
                continue;
            }
            let Some(key) = text[at + 2..].split("\"]").next() else {
                continue;
            };
            if key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                assert!(
                    names.contains(key),
                    "{} reads [\"{key}\"], which docs/json.md does not document",
                    file.display()
                );
            }
        }
    }
}

/// A connection still waiting for a free ephemeral port when the run ends has no
/// port: `null` in the JSON, `-` in the table, never 0. Two proxy ports and four
/// upstream connections, each held open by the dumb proxy's keep-alive hang: two
/// wait until the time limit ends the run.
#[test]
fn a_connection_waiting_for_a_port_has_no_port() {
    const ARGS: &str = "--via-proxy dumb --strategy parallel --connections 4 --requests 4 \
                        --server-ports 40000-40001 --on-exhaustion wait --max-time 5s";
    let r = run_json(ARGS);
    assert_eq!(r["end"], "time_limit");
    let upstreams: Vec<Option<u64>> = r["proxy"]["upstreams"]
        .as_array()
        .expect("upstream records")
        .iter()
        .map(|u| u["local_port"].as_u64())
        .collect();
    assert_eq!(upstreams, [Some(40001), Some(40000), None, None]);
    let portless: Vec<&serde_json::Value> = connections_of(&r, "proxy")
        .into_iter()
        .filter(|c| c["local_port"].is_null())
        .collect();
    assert_eq!(portless.len(), 2);
    assert!(portless
        .iter()
        .all(|c| c["role"] == "client" && c["segments_out"] == 0));
    assert!(r["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .all(|c| c["local_port"] != 0));

    let mut args = vec!["run"];
    args.extend(ARGS.split_whitespace());
    let table = String::from_utf8(tcpknobs(&args).stdout).expect("UTF-8");
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.split_whitespace().take(2).eq(["proxy", "-"]))
        .collect();
    assert_eq!(rows.len(), 2, "{table}");
}
