//! The body and send timeouts (nginx's `client_body_timeout` and `send_timeout`): each
//! bounds one gap (between two reads of a body, between two writes of a response the
//! socket took), each runs only in its own phase, and each is exact to the
//! microsecond of virtual time.
//!
//! Timeline at 100 ms RTT: the client connects at 0, the server accepts at 150 ms; a
//! segment sent at t reaches the other side at t + 50.

mod server_support;

use server_support::*;
use tcpknobs_http::message::Method;
use tcpknobs_http::payload;
use tcpknobs_http::server::{CloseReason, Server, ServerConfig, ServerConnStats};
use tcpknobs_stack::{ConnState, Duration, RunEnd};

/// Ten body bytes: what the trickling clients send at a time.
const PIECE: &[u8] = b"0123456789";

/// One way of the 100 ms RTT.
const ONE_WAY_MS: f64 = 50.0;

/// The head of `POST /bytes/1` announcing a body of `len` bytes.
fn post(len: u64) -> Vec<u8> {
    format!("POST /bytes/1 HTTP/1.1\r\nHost: 192.0.2.2\r\nContent-Length: {len}\r\n\r\n")
        .into_bytes()
}

fn only_stats(server: &Server) -> ServerConnStats {
    let stats = server.connection_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    stats[0].clone()
}

/// When the server's socket got room for more of the response (ms): the client's ACKs
/// of new data, on arrival. A writer blocked on a full socket writes at exactly these
/// instants, so the last one is its last successful write.
fn room_at_server_ms(lab: &Lab) -> Vec<f64> {
    lab.ack_advances_ms(CLIENT)
        .into_iter()
        .map(|t| t + ONE_WAY_MS)
        .collect()
}

/// A body may take as long as the client likes while no gap between two reads reaches
/// body_timeout: 1000 bytes as 10 bytes every 30 s (100 gaps of 30 s, each under the
/// default 60 s) take 3,000 s, and the request is answered then.
#[test]
fn trickled_body_keeps_the_connection() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let head = post(1000);
    let mut sends: Vec<(i64, &[u8])> = vec![(100, &head)];
    sends.extend((1..=100).map(|k| (100 + k * 30_000, PIECE)));
    let mut client = ScriptClient::sends(&sends);
    assert_eq!(lab.run(&mut client, &mut server, 4_000_000), RunEnd::Done);

    // The last piece leaves at 100 + 100 x 30,000 = 3,000,100 ms and completes the
    // body at the server 50 ms later; the response reaches the client 50 ms after that.
    assert_eq!(client.data_ms(0), vec![3_000_200.0]);
    let got = responses(&client.bytes(0), &[Method::Post], true);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status(), 200);
    assert_eq!(got[0].body.len(), 1);
    let stats = only_stats(&server);
    assert_eq!(stats.requests_served, 1);
    // then idle: the keep-alive timer, from the response at 3,000,150
    assert_eq!(stats.reason, Some(CloseReason::KeepAliveTimeout));
    assert_eq!(stats.closed_ms, Some(3_000_150.0 + 75_000.0));
    assert_eq!(lab.resets(), 0);
}

/// A body that stops arriving is dropped exactly body_timeout after the last read that
/// brought some of it (or after the head, if none came), without a response: nginx logs
/// 408 and closes without sending it. The server closes gracefully (FIN), so nothing is
/// reset.
#[test]
fn stalled_body_is_dropped_body_timeout_after_its_last_byte() {
    // (body_timeout, gap between pieces, pieces, when the server closes)
    let cases = [
        // one piece, arriving at 30,100 + 50 = 30,150; then 60 s of nothing
        (60_000, 30_000, 1, 30_150.0 + 60_000.0),
        // pieces arrive at 20,150, 40,150 and 60,150 (gaps of 20 s < 25 s); the
        // last one starts the 25 s that expire
        (25_000, 20_000, 3, 60_150.0 + 25_000.0),
        // the first piece would arrive at 30,150, but the head completed at 150 and
        // 25 s of nothing expire first
        (25_000, 30_000, 3, 150.0 + 25_000.0),
    ];
    for (timeout_ms, gap_ms, pieces, expected) in cases {
        let mut lab = Lab::new(100);
        let mut server = new_server(ServerConfig {
            body_timeout: Duration::from_millis(timeout_ms),
            ..ServerConfig::default()
        });
        let head = post(1000);
        let mut sends: Vec<(i64, &[u8])> = vec![(100, &head)];
        sends.extend((1..=pieces).map(|k| (100 + k * gap_ms as i64, PIECE)));
        let mut client = ScriptClient::sends(&sends);
        assert_eq!(lab.run(&mut client, &mut server, 300_000), RunEnd::Done);

        let case = format!("timeout {timeout_ms} ms, {pieces} pieces every {gap_ms} ms");
        let fins = lab.sent(SERVER, FIN);
        assert_eq!(fins.len(), 1, "{case}");
        assert_eq!(fins[0].ms(), expected, "{case}");
        assert_eq!(client.bytes(0), b"", "{case}: no response");
        assert_eq!(client.eof_ms(0), Some(expected + ONE_WAY_MS), "{case}");
        let stats = only_stats(&server);
        assert_eq!(stats.reason, Some(CloseReason::BodyTimeout), "{case}");
        assert_eq!(stats.closed_ms, Some(expected), "{case}");
        assert!(stats.closed_by_server, "{case}");
        assert_eq!(stats.requests_served, 0, "{case}");
        assert_eq!(lab.resets(), 0, "{case}");
    }
}

/// The slow-body attack: 300 connections announce a 1 GB body and send nothing. Each
/// is dropped body_timeout after its head completed (150 + 60,000 ms), and the server
/// keeps no state for any of them afterwards.
#[test]
fn announced_bodies_that_never_come_are_all_dropped() {
    const CONNS: usize = 300;
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut steps: Vec<(i64, usize, Op)> = (0..CONNS).map(|c| (0, c, Op::Connect)).collect();
    steps.extend((0..CONNS).map(|c| (100, c, Op::Send(post(1_000_000_000)))));
    let mut client = ScriptClient::new(steps);

    assert_eq!(lab.run(&mut client, &mut server, 60_149), RunEnd::TimeLimit);
    assert_eq!(server.open_connections(), CONNS, "all held until 60,150");
    assert_eq!(lab.run(&mut client, &mut server, 120_000), RunEnd::Done);
    assert_eq!(server.open_connections(), 0);
    let stats = server.connection_stats();
    assert_eq!(stats.len(), CONNS);
    for s in &stats {
        assert_eq!(s.reason, Some(CloseReason::BodyTimeout), "{s:?}");
        assert_eq!(s.closed_ms, Some(150.0 + 60_000.0), "{s:?}");
    }
    assert_eq!(lab.sent(SERVER, FIN).len(), CONNS);
    assert_eq!(lab.resets(), 0);
}

/// Each timer runs only in its own phase. The first of two pipelined requests takes
/// 90 s to process (`delay`); the second's body stops after 10 bytes, which arrived
/// with it at 150 ms. Neither the body timer nor the send timer runs while the first
/// is processed (either would fire at 150 + 60,000); the body timer starts when the
/// first response is out, at 90,150, and fires 60 s later.
#[test]
fn body_timer_waits_for_earlier_responses() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig {
        delay: Duration::from_secs(90),
        ..ServerConfig::default()
    });
    let stream = [get(1, ""), post(100), PIECE.to_vec()].concat();
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 300_000), RunEnd::Done);

    assert_eq!(client.data_ms(0), vec![90_150.0 + ONE_WAY_MS]);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Post], true);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].status(), 200);
    assert_eq!(lab.sent(SERVER, FIN)[0].ms(), 90_150.0 + 60_000.0);
    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::BodyTimeout));
    assert_eq!(stats.requests_served, 1);
}

/// A client that asks for 10 MiB and never reads. The server writes until the socket
/// buffers are full: the client's receive buffer (2 MiB, less what its 64-byte
/// window-scale unit cannot announce) and the server's send side, which takes writes
/// while our queue plus smoltcp's ring hold less than twice `tx_buffer` (2 x 2 MiB).
/// Its last successful write is when the last ACK of new data reaches it; exactly
/// send_timeout later it aborts (RST), and the server's state for the connection is
/// gone.
#[test]
fn send_timeout_aborts_a_client_that_never_reads() {
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::non_reader(10 << 20, 70_000);
    assert_eq!(lab.run(&mut client, &mut server, 80_000), RunEnd::Done);

    let last_write = *room_at_server_ms(&lab).last().expect("ACKs of data");
    // Slow start fills the buffers within seconds; the timeout is what takes long.
    assert!(last_write < 10_000.0, "{last_write}");
    let rsts = lab.sent(SERVER, RST);
    assert_eq!(rsts[0].ms(), last_write + 60_000.0);
    assert!(lab.sent(SERVER, FIN).is_empty(), "aborted, not closed");

    let stats = only_stats(&server);
    assert_eq!(stats.reason, Some(CloseReason::SendTimeout));
    assert_eq!(stats.closed_ms, Some(last_write + 60_000.0));
    assert!(stats.closed_by_server);
    assert_eq!(stats.requests_served, 1);
    // Both of the server's buffers, full, and what the client's 2 MiB receive
    // window took (less what its 64-byte window-scale unit cannot announce): the
    // writes stopped exactly when nothing more fit.
    let server_side = 2 * knobs().tx_buffer as u64;
    let received = stats.response_bytes - server_side;
    assert!(received < 2 << 20 && received > (2 << 20) - 64, "{stats:?}");
    // The RST reached the client inside its window (at the window's edge, not at the
    // server's SND.NXT that a zero-window probe moved past it), so its read at 70 s
    // reports the reset, and the unread response is gone with it (RFC 9293: a reset
    // discards what was not read).
    assert_eq!(
        client.error(0),
        Some(tcpknobs_stack::SocketError::ConnectionReset)
    );
    assert!(client.bytes(0).is_empty());

    // Nothing of it is left, in the server or in its host (an abort leaves no
    // TIME_WAIT), only the figures.
    assert_eq!(server.open_connections(), 0);
    assert_eq!(server.buffered(stats.conn), None);
    let host = lab.net.host(SERVER);
    assert_eq!(host.state(stats.conn), ConnState::Closed);
    assert_eq!(host.live_connection_count(), 0);
    assert_eq!(host.time_wait_len(), 0);
    assert_eq!(lab.host_stats(SERVER, stats.conn).resets_out, 1);
}

/// A slow reader is not a dead one: reading 16 KiB every 30 s (16 KiB receive buffer;
/// the server's send buffers 2 x 16 KiB) lets the server write a little every 30 s,
/// each gap under the default 60 s, and the 256 KiB response arrives whole after 16
/// reads. The same reader with a 20 s send_timeout is aborted at its first gap: 20 s
/// after the last write before its first read.
#[test]
fn slow_reader_is_timed_out_only_by_a_shorter_send_timeout() {
    for timeout_ms in [60_000u64, 20_000] {
        let small = |mut k: tcpknobs_stack::Knobs| {
            k.rx_buffer = 16 * 1024;
            k.tx_buffer = 16 * 1024;
            k
        };
        let mut lab = Lab::with_knobs(100, small(knobs()), small(knobs()));
        let mut server = new_server(ServerConfig {
            send_timeout: Duration::from_millis(timeout_ms),
            ..ServerConfig::default()
        });
        let mut steps = vec![(0, 0, Op::Connect), (100, 0, Op::Send(get(256 << 10, "")))];
        steps.extend((1..=20).map(|k| (k * 30_000, 0, Op::Read)));
        // (a client that reads to the end has closed by then)
        steps.push((630_000, 0, Op::Close));
        let mut client = ScriptClient::new(steps);
        client.reads_as_data_arrives = false;
        assert_eq!(lab.run(&mut client, &mut server, 1_000_000), RunEnd::Done);

        let rooms = room_at_server_ms(&lab);
        let gaps: Vec<f64> = rooms.windows(2).map(|w| w[1] - w[0]).collect();
        let longest = gaps.iter().copied().fold(0.0, f64::max);
        let stats = only_stats(&server);
        if timeout_ms == 60_000 {
            // the reads leave gaps of nearly 30 s, every one under 60 s
            assert!((29_000.0..60_000.0).contains(&longest), "{gaps:?}");
            let got = responses(&client.bytes(0), &[Method::Get], true);
            assert_eq!(got[0].body.len(), 256 << 10);
            assert!(got[0].complete);
            assert_eq!(payload::verify(0, &got[0].body), Ok(()));
            assert_eq!(stats.reason, Some(CloseReason::KeepAliveTimeout));
            assert_eq!(stats.response_bytes, client.bytes(0).len() as u64);
            assert_eq!(lab.resets(), 0);
        } else {
            // aborted in the stall before the first read: no room came after it
            let last_write = *rooms.last().expect("ACKs of data");
            assert!(last_write < 30_000.0, "{rooms:?}");
            assert_eq!(lab.sent(SERVER, RST)[0].ms(), last_write + 20_000.0);
            assert_eq!(stats.reason, Some(CloseReason::SendTimeout));
            assert_eq!(stats.closed_ms, Some(last_write + 20_000.0));
            assert_eq!(server.open_connections(), 0);
        }
    }
}
