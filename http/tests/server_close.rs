//! How the server closes (RFC 9112 §9.6; chapter items 21 and 24): gracefully
//! (half-close, read and discard, close when the peer does or the linger time is up)
//! or abruptly, and what each does to requests still in flight; plus the per-connection
//! figures the server keeps.

mod server_support;

use server_support::*;
use tcpknobs_http::message::Method;
use tcpknobs_http::server::{CloseMode, CloseReason, ServerConfig};
use tcpknobs_stack::{Duration, RunEnd, SocketError};

/// Three pipelined requests; the server may answer only one (keep_alive_max 1).
fn pipelined_past_the_last_response(
    close: CloseMode,
) -> (Lab, ScriptClient, tcpknobs_http::server::Server) {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        keep_alive_max: Some(1),
        close,
        ..ServerConfig::default()
    });
    let stream = [get(1000, ""), get(2, ""), get(3, "")].concat();
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    (lab, client, server)
}

/// Abrupt: close() with pipelined requests unanswered resets the connection; the RST
/// arrives right behind the response, and the client loses the response it had
/// received but not yet read (chapter item 24).
#[test]
fn abrupt_close_with_pipelined_requests_resets() {
    let (lab, client, server) = pipelined_past_the_last_response(CloseMode::Abrupt);
    let rsts = lab.sent(SERVER, RST);
    assert_eq!(rsts.len(), 1, "the server reset");
    assert_eq!(rsts[0].ms(), 150.0, "right after writing the response");
    assert!(lab.sent(SERVER, FIN).is_empty());
    assert_eq!(client.error(0), Some(SocketError::ConnectionReset));
    assert_eq!(
        client.bytes(0),
        b"",
        "the response was received, then destroyed"
    );
    let stats = &server.connection_stats()[0];
    assert_eq!(stats.reason, Some(CloseReason::KeepAliveMax));
    assert_eq!(stats.requests_served, 1);
}

/// Graceful: the same input, but the server half-closes and keeps reading, so the
/// client reads the whole response and EOF, and no reset happens anywhere.
#[test]
fn graceful_close_with_pipelined_requests_does_not_reset() {
    let (lab, client, server) = pipelined_past_the_last_response(CloseMode::Graceful);
    assert_eq!(lab.resets(), 0);
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 150.0);
    assert_eq!(client.error(0), None);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
    assert_eq!(got.len(), 1, "only the first request is answered");
    assert_eq!(got[0].body.len(), 1000);
    assert_eq!(got[0].header("Connection"), Some("close"));
    assert_eq!(client.eof_ms(0), Some(200.0));
    assert_eq!(
        server.connection_stats()[0].reason,
        Some(CloseReason::KeepAliveMax)
    );
}

/// A request that arrives after the server's last response (it crossed the server's
/// FIN) is discarded while the server lingers, without a reset; data arriving after
/// the linger time, once the server has closed for good, is answered with RST.
#[test]
fn linger_discards_then_closes_at_exactly_linger() {
    let run = |late_ms: i64| {
        let mut lab = Lab::new(100);
        let mut server = new_server(ServerConfig {
            linger: Duration::from_millis(1000),
            ..ServerConfig::default()
        });
        let mut client = ScriptClient::sends(&[
            (100, &get(1, "Connection: close\r\n")),
            (late_ms, &[get(2, ""), get(3, "")].concat()),
        ]);
        client.close_on_eof = false;
        lab.run(&mut client, &mut server, 5_000);
        (lab, server)
    };
    // FIN at 150, final close at 1150: a request arriving at 1149 is discarded...
    let (lab, server) = run(1099);
    assert_eq!(lab.resets(), 0);
    assert_eq!(server.connection_stats()[0].closed_ms, Some(150.0));
    // ...one arriving at 1151 meets a closed socket
    let (lab, _) = run(1101);
    let rsts = lab.sent(SERVER, RST);
    assert_eq!(rsts.len(), 1);
    assert_eq!(rsts[0].ms(), 1151.0);
}

/// The graceful close ends as soon as the peer closes: no need to wait for the linger
/// time, and the client's own FIN is what the server waits for.
#[test]
fn graceful_close_ends_when_the_peer_closes() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&[(100, &get(1, "Connection: close\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let fins: Vec<f64> = lab
        .wire
        .borrow()
        .iter()
        .filter(|w| w.has(FIN))
        .map(Wire::ms)
        .collect();
    assert_eq!(fins, vec![150.0, 200.0], "server FIN, then the client's");
    assert_eq!(lab.resets(), 0);
    assert_eq!(lab.net.host(SERVER).time_wait_len(), 1);
}

/// Abrupt close with nothing unanswered is an ordinary FIN.
#[test]
fn abrupt_close_without_pending_input_is_a_fin() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        close: CloseMode::Abrupt,
        keep_alive_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::sends(&[(100, &get(1, ""))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    assert_eq!(lab.resets(), 0);
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 1150.0);
}

/// The client half-closes after its request: the server still answers, then closes
/// (the peer closed first).
#[test]
fn peer_half_close_is_answered_then_closed() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::new(vec![
        (0, 0, Op::Connect),
        (100, 0, Op::Send(get(7, ""))),
        (100, 0, Op::Shutdown),
    ]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].body.len(), 7);
    let stats = &server.connection_stats()[0];
    assert_eq!(stats.reason, Some(CloseReason::PeerClosed));
    assert!(!stats.closed_by_server);
    assert_eq!(stats.closed_ms, Some(150.0));
    assert_eq!(lab.resets(), 0);
}

/// A reset from the client ends the connection with reason `reset`.
#[test]
fn client_reset_is_recorded() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::new(vec![
        (0, 0, Op::Connect),
        (100, 0, Op::Send(b"GET /bytes/1 HT".to_vec())),
        (300, 0, Op::Abort),
    ]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let stats = &server.connection_stats()[0];
    assert_eq!(stats.reason, Some(CloseReason::Reset));
    assert!(!stats.closed_by_server);
    assert_eq!(stats.closed_ms, Some(350.0));
}

/// Figures are kept for every connection, closed ones too, in accept order.
#[test]
fn connection_stats_in_accept_order() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        keep_alive_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    });
    let mut client = ScriptClient::new(vec![
        (0, 0, Op::Connect),
        (100, 0, Op::Send(get(1, "Connection: close\r\n"))),
        (1000, 1, Op::Connect),
        (1100, 1, Op::Send(get(1, ""))),
        (1100, 1, Op::Send(get(2, ""))),
    ]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let stats = server.connection_stats();
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0].accepted_ms, 150.0);
    assert_eq!(stats[1].accepted_ms, 1150.0);
    assert_eq!(
        stats.iter().map(|s| s.reason).collect::<Vec<_>>(),
        vec![
            Some(CloseReason::ConnectionClose),
            Some(CloseReason::KeepAliveTimeout)
        ]
    );
    assert_eq!(stats[1].requests_served, 2);
    assert_eq!(stats[1].closed_ms, Some(3150.0));
}
