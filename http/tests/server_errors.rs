//! Bad input (RFC 9112 §3, §5, §6.3, §7.1; RFC 9110 §15.5): every kind is answered
//! with its status and `Connection: close`, and the connection is then closed
//! gracefully, so the client reads the error in full and nobody sees a reset, even
//! with more input queued behind the bad request. Nothing is guessed: a request whose
//! framing is ambiguous is refused, so none can be smuggled past the server.

mod server_support;

use server_support::*;
use tcpknobs_http::message::Method;
use tcpknobs_http::server::{CloseMode, CloseReason, ServerConfig};
use tcpknobs_stack::RunEnd;

/// Sends `input` at 100 ms (then more junk), returns what the client read.
fn answer(
    config: ServerConfig,
    input: &[u8],
) -> (
    Vec<Parsed1>,
    ScriptClient,
    Lab,
    tcpknobs_http::server::Server,
) {
    let mut lab = Lab::new(100);
    let mut server = new_server(config);
    let mut client = ScriptClient::sends(&[(100, input), (100, &get(1, ""))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
    (got, client, lab, server)
}

fn big_head() -> Vec<u8> {
    let mut r = b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    r.resize(9000, b'a');
    r.extend_from_slice(b"\r\n\r\n");
    r
}

#[test]
fn every_bad_input_gets_its_status_and_a_graceful_close() {
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("malformed request line", b"BAD REQUEST LINE\r\n\r\n".to_vec(), 400),
        ("bad method token", b"G@T /bytes/1 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        ("bare LF mid-line", b"GET /bytes/1 HTTP/1.1\rHost: x\r\n\r\n".to_vec(), 400),
        ("header without colon", b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\n".to_vec(), 400),
        ("space before colon", b"GET /bytes/1 HTTP/1.1\r\nHost : x\r\n\r\n".to_vec(), 400),
        ("obs-fold", b"GET /bytes/1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  2\r\n\r\n".to_vec(), 400),
        ("head over 8 KiB", big_head(), 431),
        (
            "Content-Length and Transfer-Encoding",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "invalid Content-Length",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5a\r\n\r\nhello".to_vec(),
            400,
        ),
        (
            "negative Content-Length",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "duplicated Content-Length",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            400,
        ),
        (
            "Content-Length list",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello".to_vec(),
            400,
        ),
        (
            "chunked not final",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".to_vec(),
            400,
        ),
        (
            "unsupported transfer coding",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(),
            501,
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            b"POST /bytes/1 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        ("HTTP/1.1 without Host", b"GET /bytes/1 HTTP/1.1\r\n\r\n".to_vec(), 400),
        ("two Hosts", b"GET /bytes/1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("invalid Host", b"GET /bytes/1 HTTP/1.1\r\nHost: a b/c\r\n\r\n".to_vec(), 400),
        ("unsupported version", b"GET /bytes/1 HTTP/2.0\r\nHost: x\r\n\r\n".to_vec(), 505),
        ("malformed version", b"GET /bytes/1 HTTX/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        (
            "malformed chunk size",
            b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            400,
        ),
    ];
    for (what, input, status) in cases {
        // abrupt mode too: error responses always close gracefully
        for close in [CloseMode::Graceful, CloseMode::Abrupt] {
            let config = ServerConfig {
                close,
                ..ServerConfig::default()
            };
            let (got, client, lab, server) = answer(config, &input);
            assert_eq!(got.len(), 1, "{what}: exactly one response");
            assert_eq!(got[0].status(), status, "{what}");
            assert_eq!(got[0].header("Connection"), Some("close"), "{what}");
            assert!(got[0].complete, "{what}: the client read the whole error");
            assert!(client.eof_ms(0).is_some(), "{what}: closed");
            assert_eq!(lab.resets(), 0, "{what}: no reset ({close:?})");
            let stats = &server.connection_stats()[0];
            assert_eq!(stats.reason, Some(CloseReason::ErrorStatus), "{what}");
            assert_eq!(stats.requests_served, 0, "{what}");
        }
    }
}

/// A bad request behind good pipelined ones is answered in its turn; nothing after it
/// is read (its framing is unknown).
#[test]
fn error_after_pipelined_requests_comes_in_order() {
    let stream = [
        get(3, ""),
        get(4, ""),
        b"POST /bytes/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
            .to_vec(),
        get(5, ""),
    ]
    .concat();
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&[(100, &stream)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let methods = [Method::Get, Method::Get, Method::Post, Method::Get];
    let got = responses(&client.bytes(0), &methods, true);
    let statuses: Vec<u16> = got.iter().map(Parsed1::status).collect();
    assert_eq!(statuses, vec![200, 200, 400]);
    assert_eq!(lab.resets(), 0);
    let stats = &server.connection_stats()[0];
    assert_eq!(stats.requests_served, 2);
    assert_eq!(stats.reason, Some(CloseReason::ErrorStatus));
    assert_eq!(server.responses(), 3);
}

/// A head of exactly 8 KiB is served; 8 KiB that do not end the head are 431 at once,
/// without waiting for the rest.
#[test]
fn head_limit_is_exact() {
    let mut ok = b"GET /bytes/2 HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    ok.resize(8192 - 4, b'p');
    ok.extend_from_slice(b"\r\n\r\n");
    assert_eq!(ok.len(), 8192);
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&[(100, &ok), (300, &get(1, "Connection: close\r\n"))]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get, Method::Get], true);
    assert_eq!(
        got.iter().map(Parsed1::status).collect::<Vec<_>>(),
        vec![200, 200]
    );

    let mut over = ok[..8192 - 4].to_vec();
    over.extend_from_slice(b"pppp");
    let mut lab = Lab::new(100);
    let mut server = new_server(ServerConfig::default());
    let mut client = ScriptClient::sends(&[(100, &over)]);
    assert_eq!(lab.run(&mut client, &mut server, 60_000), RunEnd::Done);
    let got = responses(&client.bytes(0), &[Method::Get], true);
    assert_eq!(got[0].status(), 431);
}
