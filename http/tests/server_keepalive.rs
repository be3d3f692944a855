//! Persistent connections as the server manages them (RFC 9112 §9.3; chapter items 16,
//! 17 and 19): keep-alive and header timeouts to the microsecond of virtual time,
//! `keep_alive_max`, HTTP/1.0 keep-alive negotiation and every kind of Connection option.
//!
//! Timeline at 100 ms RTT: the client connects at 0, its handshake is done at 100 ms,
//! the server accepts at 150 ms (the final ACK's arrival); a request sent at t reaches
//! the server at t + 50 and its response the client at t + 100.

mod server_support;

use server_support::*;
use tcpknobs_http::message::Method;
use tcpknobs_http::server::{CloseReason, ServerConfig, ServerConnStats};
use tcpknobs_stack::{Closer, ConnId, Duration, RunEnd};

fn only_stats(server: &tcpknobs_http::server::Server) -> ServerConnStats {
    let stats = server.connection_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    stats[0].clone()
}

/// An idle persistent connection is closed by the server exactly keep_alive_timeout
/// after its last response was written, and the server (closing first) holds the
/// TIME_WAIT. A second request restarts the timer.
#[test]
fn keep_alive_timeout_is_exact() {
    for (timeout_ms, sends) in [(3000, vec![100]), (3000, vec![100, 1100]), (250, vec![100])] {
        let mut lab = Lab::new(100);
        let mut server = new_server(ServerConfig {
            keep_alive_timeout: Duration::from_millis(timeout_ms),
            ..ServerConfig::default()
        });
        let req = get(10, "");
        let script: Vec<(i64, &[u8])> = sends.iter().map(|&t| (t, &req[..])).collect();
        let mut client = ScriptClient::sends(&script);
        assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);

        let last_response = (*sends.last().unwrap() + 50) as f64;
        let expected = last_response + timeout_ms as f64;
        let fins = lab.sent(SERVER, FIN);
        assert_eq!(fins.len(), 1);
        assert_eq!(fins[0].ms(), expected, "server FIN for {sends:?}");
        assert_eq!(client.eof_ms(0), Some(expected + 50.0));
        let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
        assert_eq!(got.len(), sends.len());
        assert!(got
            .iter()
            .all(|r| r.status() == 200 && r.header("Connection").is_none()));

        let stats = only_stats(&server);
        assert_eq!(stats.reason, Some(CloseReason::KeepAliveTimeout));
        assert!(stats.closed_by_server);
        assert_eq!(stats.closed_ms, Some(expected));
        assert_eq!(stats.accepted_ms, 150.0);
        assert_eq!(stats.requests_served, sends.len() as u32);
        assert_eq!(
            lab.host_stats(SERVER, stats.conn).closed_first,
            Some(Closer::Local),
            "the server closed first"
        );
        assert_eq!(lab.net.host(SERVER).time_wait_len(), 1);
        assert_eq!(lab.resets(), 0);
    }
}

/// A connection that sends nothing is dropped header_timeout after accept.
#[test]
fn silent_connection_dropped_after_header_timeout() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::new(vec![(0, 0, Op::Connect)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let fins = lab.sent(SERVER, FIN);
    assert_eq!(fins.len(), 1);
    assert_eq!(fins[0].ms(), 150.0 + 10_000.0, "accept + the 10 s default");
    assert_eq!(client.bytes(0), b"", "dropped without a response");
    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::HeaderTimeout));
    assert_eq!(stats.requests_served, 0);
}

/// On a persistent connection the header timer starts with the first byte of the next
/// head and stops the keep-alive timer: a head still incomplete header_timeout after
/// its first byte is dropped, even though the keep-alive timeout is longer; bytes that
/// keep trickling in do not restart it. A head that completes in time is served.
#[test]
fn header_timer_runs_from_the_first_byte() {
    let config = ServerConfig {
        keep_alive_timeout: Duration::from_secs(5),
        header_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let mut lab = Lab::new(100);
    let mut server = new_server(config.clone());
    let mut client = ScriptClient::sends(&[
        (100, &get(1, "")),
        (1100, b"GET /bytes/2 HTTP/1.1\r\n"),
        (2100, b"Host: x\r\n"),
        (3000, b"X-Slow: 1\r\n"),
    ]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    // first byte of the second head arrives at 1150
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 1150.0 + 2000.0);
    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::HeaderTimeout));
    assert_eq!(stats.requests_served, 1);

    let mut lab = Lab::new(100);
    let mut server = new_server(config);
    let mut client = ScriptClient::sends(&[
        (100, &get(1, "")),
        (1100, b"GET /bytes/2 HTTP/1.1\r\n"),
        (2900, b"Host: x\r\n\r\n"),
    ]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].body.len(), 2);
    // answered at 2950, then idle: keep-alive timeout from there
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 2950.0 + 5000.0);
    assert_eq!(
        only_stats(&server).reason,
        Some(CloseReason::KeepAliveTimeout)
    );
}

/// After keep_alive_max requests the response says `Connection: close` and the server
/// closes right after writing it.
#[test]
fn keep_alive_max_retires_the_connection() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        keep_alive_max: Some(2),
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::sends(&[(100, &get(5, "")), (300, &get(6, ""))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("Connection"), None);
    assert_eq!(got[1].header("Connection"), Some("close"));
    assert_eq!(
        lab.sent(SERVER, FIN)[0].ms(),
        350.0,
        "FIN right behind the response"
    );
    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::KeepAliveMax));
    assert_eq!(stats.requests_served, 2);
    assert_eq!(stats.closed_ms, Some(350.0));
    assert_eq!(lab.resets(), 0);
}

/// HTTP/1.0 (chapter item 17): keep-alive only when asked; the server echoes
/// `Connection: keep-alive` and adds `Keep-Alive: timeout, max`; max counts down, and
/// the last allowed response says close. Without the request the server closes first.
#[test]
fn http10_keep_alive_negotiation() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        keep_alive_max: Some(3),
        keep_alive_timeout: Duration::from_secs(15),
        ..ServerConfig::default()
    });
    let ka = get10(3, "Connection: Keep-Alive\r\n");
    let mut client = ScriptClient::sends(&[(100, &ka), (300, &ka), (500, &ka)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(
        &client.bytes(0),
        &[Method::Get, Method::Get, Method::Get],
        true,
    );
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].head.version, tcpknobs_http::message::Version::Http10);
    assert_eq!(got[0].header("Connection"), Some("keep-alive"));
    assert_eq!(got[0].header("Keep-Alive"), Some("timeout=15, max=2"));
    assert_eq!(got[1].header("Keep-Alive"), Some("timeout=15, max=1"));
    assert_eq!(got[2].header("Connection"), Some("close"));
    assert_eq!(got[2].header("Keep-Alive"), None);
    assert_eq!(only_stats(&server).reason, Some(CloseReason::KeepAliveMax));

    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&[(100, &get10(3, ""))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].header("Connection"), Some("close"));
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 150.0);
    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::ConnectionClose));
    assert_eq!(
        lab.host_stats(SERVER, stats.conn).closed_first,
        Some(Closer::Local)
    );
    assert_eq!(lab.resets(), 0, "the graceful close leaves no reset");
}

/// Every Connection option is honoured (RFC 9110 §7.6.1, chapter item 11): header
/// names and unknown options change nothing, `close` in any field, any case, among
/// other options, ends the connection after this response.
#[test]
fn connection_options() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let hop = get(
        1,
        "Connection: X-Trace, Upgrade, x-unknown-option\r\nX-Trace: 1\r\nUpgrade: h2c\r\n",
    );
    let close = get(2, "Connection: foo\r\nConnection: bar, CLOSE\r\n");
    let mut client = ScriptClient::sends(&[(100, &hop), (300, &close)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].status(), 200);
    assert_eq!(got[0].header("Connection"), None, "still persistent");
    assert_eq!(got[0].header("Upgrade"), None, "no upgrade happened");
    assert_eq!(got[1].header("Connection"), Some("close"));
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 350.0);
    assert_eq!(
        only_stats(&server).reason,
        Some(CloseReason::ConnectionClose)
    );

    // HTTP/1.0: keep-alive among other options still counts
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&[(100, &get10(1, "Connection: x-foo, keep-alive\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 120_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].header("Connection"), Some("keep-alive"));
    assert_eq!(got[0].header("Keep-Alive"), Some("timeout=75"));
}

/// `--server-keep-alive off`: every response closes, whatever the client asks.
#[test]
fn keep_alive_off() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        keep_alive: false,
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::sends(&[(100, &get(1, "Connection: keep-alive\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].header("Connection"), Some("close"));
    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::ConnectionClose));
    assert_eq!(stats.conn, ConnId(0));
}
