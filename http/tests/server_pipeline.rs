//! Pipelining, processing delay and response framing (RFC 9112 §6, §7.1, §9.3.2;
//! chapter items 17, 20 and 22), with exact virtual times at 100 ms RTT: a request
//! sent at t reaches the server at t + 50, whose response reaches the client 50 ms
//! after it is written.

mod server_support;

use proptest::prelude::*;
use server_support::*;
use tcpknobs_http::message::Method;
use tcpknobs_http::payload;
use tcpknobs_http::server::{CloseReason, ServerConfig};
use tcpknobs_stack::{Duration, RunEnd};

/// Pipelined requests are answered in request order, each in its own write.
#[test]
fn pipelined_responses_in_order() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let stream = [get(30, ""), get(10, ""), get(20, "Connection: close\r\n")].concat();
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(
        &client.bytes(0),
        &[Method::Get, Method::Get, Method::Get],
        true,
    );
    let lens: Vec<usize> = got.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, vec![30, 10, 20]);
    assert!(got.iter().all(|r| payload::verify(0, &r.body).is_ok()));
    assert_eq!(
        client.data_ms(0),
        vec![200.0],
        "all three at once: no delay"
    );
    let stats = &server.connection_stats()[0];
    assert_eq!(stats.requests_served, 3);
    assert_eq!(stats.reason, Some(CloseReason::ConnectionClose));
}

/// `--server-delay D` adds exactly D to each response; requests are processed one at
/// a time, so the kth pipelined response waits k x D (one slow response holds back
/// every response behind it, chapter item 20), while sequential requests each see
/// RTT + D.
#[test]
fn server_delay_is_exact_and_serial() {
    let delay = ServerConfig {
        delay: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let stream = [get(1, ""), get(2, ""), get(3, "Connection: close\r\n")].concat();
    let mut lab = Lab::new(100);
    let mut server = new_server(delay.clone());
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    assert_eq!(client.data_ms(0), vec![500.0, 800.0, 1100.0]);
    let got = responses(
        &client.bytes(0),
        &[Method::Get, Method::Get, Method::Get],
        true,
    );
    let lens: Vec<usize> = got.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, vec![1, 2, 3]);

    // sequential: each request waits only for its own processing
    let mut lab = Lab::new(100);
    let mut server = new_server(delay);
    let mut client =
        ScriptClient::sends(&[(100, &get(1, "")), (600, &get(2, "Connection: close\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    assert_eq!(
        client.data_ms(0),
        vec![500.0, 1000.0],
        "ttfb = RTT + D each"
    );
}

/// A request arriving while an earlier one is processed waits for it, then takes its
/// own full processing time.
#[test]
fn late_pipelined_request_queues_behind_a_slow_one() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        delay: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let mut client =
        ScriptClient::sends(&[(100, &get(1, "")), (200, &get(2, "Connection: close\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    // first: 150 + 300 = 450 written; second arrived at 250, starts at 450, out at 750
    assert_eq!(client.data_ms(0), vec![500.0, 800.0]);
}

/// Chunked responses (HTTP/1.1 only): one chunk per body write, the body pattern
/// intact; an HTTP/1.0 request gets Content-Length instead.
#[test]
fn chunked_responses() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        chunked: true,
        response_writes: 3,
        ..ServerConfig::default()
    });
    let size = 100_000;
    let stream = [
        get(size, ""),
        get(0, ""),
        b"HEAD /bytes/5 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        get(7, "Connection: close\r\n"),
    ]
    .concat();
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let methods = [Method::Get, Method::Get, Method::Head, Method::Get];
    let got = responses(&client.bytes(0), &methods, true);
    assert_eq!(got.len(), 4);
    for r in &got {
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(r.header("Content-Length"), None);
        assert!(r.complete);
        assert_eq!(payload::verify(0, &r.body), Ok(()));
    }
    let lens: Vec<usize> = got.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, vec![size as usize, 0, 0, 7]);
    let text = String::from_utf8_lossy(&client.bytes(0)).into_owned();
    // 100000 over 2 writes: two chunks of 50000 (0xc350)
    assert_eq!(
        text.matches("\r\nc350\r\n").count(),
        2,
        "one chunk per write"
    );

    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        chunked: true,
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::sends(&[(100, &get10(9, ""))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].header("Content-Length"), Some("9"));
    assert_eq!(got[0].header("Transfer-Encoding"), None);
}

/// `--server-no-length`: no Content-Length, the body ends with the server's close
/// (RFC 9112 §6.3 item 8), so the connection cannot persist.
#[test]
fn no_length_body_ends_at_close() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        no_length: true,
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::sends(&[(100, &get(5000, ""))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].header("Content-Length"), None);
    assert_eq!(got[0].header("Connection"), Some("close"));
    assert!(got[0].complete);
    assert_eq!(got[0].body.len(), 5000);
    assert_eq!(payload::verify(0, &got[0].body), Ok(()));
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 150.0);
    assert_eq!(
        server.connection_stats()[0].reason,
        Some(CloseReason::ConnectionClose)
    );
}

/// `--server-truncate N`: the full Content-Length is declared, N body bytes sent, then
/// the server closes; the client can only tell from the short body (chapter item 22).
#[test]
fn truncated_response() {
    for chunked in [false, true] {
        let mut lab = Lab::new(100);
        let mut server = new_server(ServerConfig {
            truncate: Some(100),
            chunked,
            ..ServerConfig::default()
        });
        let mut client = ScriptClient::sends(&[(100, &get(1000, ""))]);
        assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
        let got = responses(&client.bytes(0), &[Method::Get], true);
        assert_eq!(got[0].header("Connection"), None, "looks persistent");
        assert!(!got[0].complete, "the client sees a short body");
        assert_eq!(got[0].body.len(), 100);
        assert_eq!(payload::verify(0, &got[0].body), Ok(()));
        let stats = &server.connection_stats()[0];
        assert_eq!(stats.reason, Some(CloseReason::Truncated));
        assert!(stats.closed_by_server);
        assert_eq!(lab.resets(), 0);
    }
    // a body no longer than the limit goes out whole
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        truncate: Some(100),
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::sends(&[(100, &get(100, "Connection: close\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    assert!(responses(&client.bytes(0), &[Method::Get], true)[0].complete);
    assert_eq!(
        server.connection_stats()[0].reason,
        Some(CloseReason::ConnectionClose)
    );
}

/// Request bodies of every framing are read and discarded, leaving the next pipelined
/// request intact.
#[test]
fn request_bodies_are_skipped() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let stream = [
        b"POST /bytes/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        b"PUT /bytes/4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n".to_vec(),
        get(5, "Connection: close\r\n"),
    ]
    .concat();
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(
        &client.bytes(0),
        &[Method::Post, Method::Put, Method::Get],
        true,
    );
    let lens: Vec<usize> = got.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, vec![3, 4, 5]);
}

/// The stream of valid requests the property below splits.
fn request_stream() -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        (0u64..3000).prop_map(|n| get(n, "")),
        (0u64..100).prop_map(|n| format!("HEAD /bytes/{n} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()),
        (0u64..50, 0usize..40).prop_map(|(n, len)| {
            let mut r = format!("POST /bytes/{n} HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n\r\n").into_bytes();
            r.resize(r.len() + len, b'b');
            r
        }),
        (0u64..50, 1usize..20).prop_map(|(n, len)| {
            let mut r = format!("PUT /bytes/{n} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{len:x};ext=1\r\n").into_bytes();
            r.resize(r.len() + len, b'c');
            r.extend_from_slice(b"\r\n0\r\n\r\n");
            r
        }),
        Just(b"\r\nGET /nothing HTTP/1.1\r\nHost: h\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n".to_vec()),
    ];
    proptest::collection::vec(one, 1..5).prop_map(|reqs| {
        let mut all = reqs.concat();
        all.extend_from_slice(&get(1, "Connection: close\r\n"));
        all
    })
}

/// What the client reads for `stream` written as pieces cut at `cuts`, the pieces
/// `gap_ms` apart.
fn served(stream: &[u8], cuts: &[usize], gap_ms: i64) -> Vec<u8> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    bounds.extend([0, stream.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    let pieces: Vec<(i64, &[u8])> = bounds
        .windows(2)
        .enumerate()
        .map(|(i, w)| (100 + i as i64 * gap_ms, &stream[w[0]..w[1]]))
        .collect();
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&pieces);
    assert_eq!(lab.run(&mut client, &mut server, 600_000), RunEnd::Done);
    assert_eq!(lab.resets(), 0);
    client.bytes(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any split of a valid pipelined request stream into writes, sent at once or
    /// spread out in time, yields the same responses, byte for byte.
    #[test]
    fn any_split_gives_the_same_responses(
        stream in request_stream(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        gap_ms in prop_oneof![Just(0i64), Just(1), Just(70)],
    ) {
        let whole = served(&stream, &[], 0);
        prop_assert!(!whole.is_empty());
        prop_assert_eq!(served(&stream, &cuts, gap_ms), whole);
    }
}

/// More pipelined requests than the server parses ahead (32), in one write, are all
/// answered, in order, at once.
#[test]
fn long_pipeline_is_answered_in_full() {
    for delay_ms in [0, 10] {
        let mut lab = Lab::new(100);
        let mut server = new_server(ServerConfig {
            delay: Duration::from_millis(delay_ms),
            ..ServerConfig::default()
        });
        let mut stream: Vec<u8> = (0..99).flat_map(|i| get(i, "")).collect();
        stream.extend_from_slice(&get(99, "Connection: close\r\n"));
        let mut client = ScriptClient::sends(&[(100, &stream)]);
        assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
        let methods = vec![Method::Get; 100];
        let got = responses(&client.bytes(0), &methods, true);
        let lens: Vec<usize> = got.iter().map(|r| r.body.len()).collect();
        assert_eq!(lens, (0..100).collect::<Vec<_>>());
        let last = *client.data_ms(0).last().unwrap();
        assert_eq!(last, 200.0 + 100.0 * delay_ms as f64);
    }
}
