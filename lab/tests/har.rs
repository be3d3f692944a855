//! The HAR export of simulated runs, read back by the `har` crate (the HAR 1.2
//! specification's types), and its timings against the chapter's formula.

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::har::Har;
use tcpknobs_lab::{Experiment, Report};
use tcpknobs_stack::LinkProfile;

/// 100 ms round trip, no loss, no rate limit.
fn ideal_100ms() -> LinkProfile {
    LinkProfile {
        one_way_delay_ns: 50_000_000,
        ..LinkProfile::default()
    }
}

/// The archive of `report` as a file would hold it, parsed back by the `har` crate,
/// and as plain JSON for the custom fields the crate does not know.
fn written(report: &Report) -> (har::v1_2::Log, serde_json::Value) {
    let mut bytes = Vec::new();
    Har::of_run(report).write(&mut bytes).expect("written");
    let text = String::from_utf8(bytes).expect("UTF-8");
    let parsed = har::from_str(&text).expect("a valid HAR");
    assert_eq!(parsed.version(), har::HarVersion::V1_2);
    let har::Spec::V1_2(log) = parsed.log else {
        panic!("not 1.2");
    };
    (log, serde_json::from_str(&text).expect("JSON"))
}

/// The timings that apply (not -1) add up to `time`, as the specification says.
fn assert_sums(log: &har::v1_2::Log) {
    for (i, e) in log.entries.iter().enumerate() {
        let t = &e.timings;
        let parts = [
            t.blocked.unwrap_or(-1.0),
            t.dns.unwrap_or(-1.0),
            t.connect.unwrap_or(-1.0),
            t.send,
            t.wait,
            t.receive,
            t.ssl.unwrap_or(-1.0),
        ];
        assert!(
            parts.iter().all(|&p| p == -1.0 || p >= 0.0),
            "entry {i}: {parts:?}"
        );
        let sum: f64 = parts.iter().filter(|&&p| p >= 0.0).sum();
        assert!(
            (sum - e.time).abs() < 1e-6,
            "entry {i}: {sum} vs {}",
            e.time
        );
    }
}

/// A 1+3 object page on one persistent connection over an ideal 100 ms round trip:
/// the HTML pays the handshake (connect 100 ms) and a round trip (wait 100 ms); each
/// object is sent on the reused connection (connect -1) once the one before it is
/// done, so the second waits one round trip and the third two (blocked).
#[test]
fn a_page_on_a_persistent_connection() {
    let mut experiment = Experiment::new(
        ideal_100ms(),
        Workload::page(100, &[(3, 100)], Method::Get),
        "page",
    );
    experiment.client.strategy = Strategy::Persistent;
    let report = experiment.run(None).expect("run");
    assert_eq!(report.totals.failed, 0);
    let (log, json) = written(&report);
    assert_eq!(log.creator.name, "tcpknobs");
    assert_eq!(log.creator.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(log.entries.len(), 4);
    assert_sums(&log);
    // Each entry's `_blame` is its row's, and its causes add up to `time`.
    for (i, e) in json["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let blame = e["_blame"].as_object().expect("_blame");
        let sum: f64 = blame.values().map(|v| v.as_f64().unwrap()).sum();
        assert!(
            (sum - e["time"].as_f64().unwrap()).abs() < 1e-6,
            "entry {i}"
        );
        let row = serde_json::to_value(report.transactions[i].blame).unwrap();
        assert_eq!(&e["_blame"], &row, "entry {i}");
    }
    // The HTML's handshake is blamed on `handshake`, a reused connection's wait
    // behind the object before on `queued`.
    let entries = &json["log"]["entries"];
    assert_eq!(entries[0]["_blame"]["handshake_ms"], 100.0);
    assert_eq!(entries[2]["_blame"]["queued_ms"], 100.0);

    // (blocked, connect, send, wait, receive, time, started)
    let expected = [
        (
            0.0,
            100.0,
            0.0,
            100.0,
            0.0,
            200.0,
            "1970-01-01T00:00:00.000Z",
        ),
        (
            0.0,
            -1.0,
            0.0,
            100.0,
            0.0,
            100.0,
            "1970-01-01T00:00:00.200Z",
        ),
        (
            100.0,
            -1.0,
            0.0,
            100.0,
            0.0,
            200.0,
            "1970-01-01T00:00:00.200Z",
        ),
        (
            200.0,
            -1.0,
            0.0,
            100.0,
            0.0,
            300.0,
            "1970-01-01T00:00:00.200Z",
        ),
    ];
    for (i, (e, want)) in log.entries.iter().zip(expected).enumerate() {
        let t = &e.timings;
        let got = (
            t.blocked.unwrap_or(f64::NAN),
            t.connect.unwrap_or(f64::NAN),
            t.send,
            t.wait,
            t.receive,
            e.time,
            e.started_date_time.as_str(),
        );
        assert_eq!(got, want, "entry {i}");
        assert_eq!((t.dns, t.ssl), (Some(-1.0), Some(-1.0)));
        assert_eq!(e.connection.as_deref(), Some("0"));
        assert_eq!(e.server_ip_address.as_deref(), Some("192.0.2.2"));
        let r = &e.request;
        assert_eq!(
            (r.method.as_str(), r.http_version.as_str()),
            ("GET", "HTTP/1.1")
        );
        assert_eq!(r.url, format!("http://192.0.2.2:80/bytes/100"));
        // The head as written: the request line, `Host`, the empty line.
        let head = "GET /bytes/100 HTTP/1.1\r\nHost: 192.0.2.2\r\n\r\n";
        assert_eq!(r.headers_size, head.len() as i64);
        assert_eq!(r.body_size, 0);
        assert_eq!(r.headers.len(), 1);
        assert_eq!(
            (r.headers[0].name.as_str(), r.headers[0].value.as_str()),
            ("Host", "192.0.2.2")
        );
        let s = &e.response;
        assert_eq!((s.status, s.status_text.as_str()), (200, "OK"));
        assert_eq!((s.body_size, s.content.size), (100, 100));
        assert!(s.headers_size > 0);
        assert!(s
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case("content-length") && h.value == "100"));
        assert!(json["log"]["entries"][i].get("_error").is_none());
    }

    // Deterministic, like the run.
    let again = experiment.run(None).expect("run");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    Har::of_run(&report).write(&mut a).expect("written");
    Har::of_run(&again).write(&mut b).expect("written");
    assert_eq!(a, b);
}

/// Every SYN lost: the transaction fails in its handshake. It is still an entry, status
/// 0 with `_error`, its connect phase lasting until it gave up and the phases it never
/// reached -1.
#[test]
fn a_failed_connect_is_an_entry_with_its_error() {
    let link = LinkProfile {
        loss: 1.0,
        ..ideal_100ms()
    };
    let mut experiment = Experiment::new(link, Workload::repeated(1, 100, Method::Get), "lost");
    experiment.client_knobs.syn_retries = 1;
    let report = experiment.run(None).expect("run");
    assert_eq!(report.totals.failed, 1);
    let (log, json) = written(&report);
    assert_sums(&log);
    let e = &log.entries[0];
    assert_eq!(e.response.status, 0);
    assert!(e.response.headers.is_empty());
    assert_eq!(e.request.headers_size, -1, "nothing was sent");
    assert_eq!(e.request.headers.len(), 1, "the headers it queued");
    let t = &e.timings;
    assert_eq!((t.send, t.wait, t.receive), (-1.0, -1.0, -1.0));
    assert_eq!(t.blocked, Some(0.0));
    assert!(t.connect.is_some_and(|c| c > 0.0) && t.connect == Some(e.time));
    let error = json["log"]["entries"][0]["_error"]
        .as_str()
        .expect("_error");
    assert_eq!(Some(error), report.transactions[0].error.as_deref());
    assert!(error.starts_with("connect timed out"), "{error}");
}

/// Rows left out of the report are not in the archive.
#[test]
fn only_rows_are_entries() {
    let mut experiment =
        Experiment::new(ideal_100ms(), Workload::repeated(5, 100, Method::Get), "5");
    experiment.rows = tcpknobs_lab::Rows::First(2);
    let report = experiment.run(None).expect("run");
    let (log, _) = written(&report);
    assert_eq!(log.entries.len(), 2);
    assert_sums(&log);
}
