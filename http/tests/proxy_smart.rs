//! The smart proxy (chapter items 11 and 19): hop-by-hop headers removed both ways,
//! its own persistent connections to the server, and the client side's persistence as
//! each client asked.
//!
//! Hosts: client 192.0.2.1, proxy 192.0.2.2:8080, server 192.0.2.3:80; every link
//! R = 100 ms RTT. Timing of a small request through the proxy:
//! * both connections new: 4 R = the client's handshake (1 R) + request to the proxy
//!   (0.5 R) + the proxy's handshake (1 R) + request to the server (0.5 R) + response
//!   back across both links (0.5 R + 0.5 R);
//! * both connections warm: 2 R (one round trip on each link);
//! * new client connection, warm upstream: 3 R.

mod proxy_common;

use proxy_common::*;
use tcpknobs_http::payload;
use tcpknobs_http::proxy::{ClientEnd, ProxyMode, RELAY_HIGH_WATER};
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_stack::knobs::DEFAULT_BUFFER;
use tcpknobs_stack::{Application, ConnId, RunEnd};

fn origin() -> Server {
    Server::new(ServerConfig {
        port: 80,
        ..Default::default()
    })
}

#[test]
fn smart_strips_hop_by_hop_headers_both_ways() {
    let (mut net, c, p, s) = three_hosts();
    let request = get(
        "/a",
        "HTTP/1.1",
        &[
            ("Host", "origin"),
            ("Connection", "X-Secret, Keep-Alive"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic eA=="),
            ("X-End", "kept"),
        ],
    );
    let mut client = RawClient::new(&[&request]);
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = RawServer::new(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop\r\nX-Hop: secret\r\n\
          Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\n\
          X-Back: kept\r\n\r\nok",
    );
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    let (forwarded, _) = &server.requests[0];
    assert_eq!(names(&forwarded.headers), ["Host", "X-End", "Via"]);
    assert_eq!(forwarded.headers.get("via"), Some("1.1 tcpknobs"));
    assert_eq!(forwarded.target, "/a");
    assert_eq!(client.responses.len(), 1);
    let seen = &client.responses[0];
    assert_eq!(
        names(&seen.head.headers),
        ["X-Back", "Content-Length", "Via"]
    );
    assert_eq!(seen.body, b"ok");
    let stats = proxy.stats();
    // 7 field lines in the request, 5 in the response.
    assert_eq!(stats.hop_by_hop_removed, 7 + 5);
    assert_eq!(client.times(), [4.0 * RTT_MS]);
}

#[test]
fn smart_http10_keep_alive_gets_two_responses_on_one_connection() {
    // Either spelling of the HTTP/1.0 request for keep-alive works through the smart
    // proxy, which answers with its own `Connection: keep-alive` and forwards as
    // HTTP/1.1 on a persistent upstream connection: 4 R, then 2 R warm.
    for field in ["Connection", "Proxy-Connection"] {
        let (mut net, c, p, s) = three_hosts();
        let first = get("/bytes/100", "HTTP/1.0", &[(field, "Keep-Alive")]);
        let second = get("/bytes/200", "HTTP/1.0", &[(field, "Keep-Alive")]);
        let mut client = RawClient::new(&[&first, &second]);
        let mut proxy = proxy(ProxyMode::Smart);
        let mut server = origin();
        let end = run(
            &mut net,
            (c, p, s),
            &mut [&mut client],
            &mut proxy,
            &mut server,
            10_000,
        );
        assert_eq!(end, RunEnd::Done, "{field}");
        assert_eq!(client.times(), [4.0 * RTT_MS, 6.0 * RTT_MS], "{field}");
        for (seen, len) in client.responses.iter().zip([100, 200]) {
            assert!(seen.head.headers.has_connection_token("keep-alive"));
            assert!(
                !seen.head.headers.contains("keep-alive"),
                "server's hint removed"
            );
            assert_eq!(seen.body.len(), len);
            assert_eq!(payload::verify(0, &seen.body), Ok(()));
        }
        assert_eq!(client.eof_at_ms, None, "the client closed, not the proxy");
        let stats = proxy.stats();
        assert_eq!(stats.client_connections, 1);
        assert_eq!(stats.upstream_connections, 1);
        assert_eq!(stats.clients[0].responses, 2);
        assert_eq!(stats.clients[0].upstreams, [0, 0]);
        assert_eq!(stats.clients[0].end, ClientEnd::ClientClosed);
    }
}

#[test]
fn smart_reuses_one_upstream_connection_for_several_requests() {
    // One HTTP/1.1 client, three requests in turn: 4 R, 6 R, 8 R. Then a second
    // client whose HTTP/1.0 request (no keep-alive) arrives on a new client
    // connection at 2 s: 3 R, on the same upstream connection, and only the client
    // side is closed after it (chapter item 19: separate connections each side).
    let (mut net, c, p, s) = three_hosts();
    let reqs: Vec<Vec<u8>> = [10, 20, 30]
        .iter()
        .map(|n| get(&format!("/bytes/{n}"), "HTTP/1.1", &[("Host", "origin")]))
        .collect();
    let mut a = RawClient::new(&[&reqs[0], &reqs[1], &reqs[2]]);
    let mut b = RawClient::new(&[&get("/bytes/40", "HTTP/1.0", &[])]).starting_at(2_000);
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = origin();
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut a, &mut b],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(a.times(), [4.0 * RTT_MS, 6.0 * RTT_MS, 8.0 * RTT_MS]);
    assert_eq!(b.times(), [2_000.0 + 3.0 * RTT_MS]);
    assert!(b.responses[0].head.headers.has_connection_token("close"));
    let stats = proxy.stats();
    assert_eq!(stats.client_connections, 2);
    assert_eq!(stats.upstream_connections, 1);
    assert_eq!(stats.upstreams[0].requests, 4);
    assert_eq!(stats.requests_forwarded, 4);
    assert_eq!(stats.responses_relayed, 4);
    assert_eq!(stats.clients[1].end, ClientEnd::NotPersistent);
    assert_eq!(server.responses(), 4);
    // The server saw one connection, still open.
    assert_eq!(net.host(s).connection_count(), 1);
    assert_eq!(open_connections(net.host(s)), 1);
}

#[test]
fn smart_answers_pipelined_requests_in_order() {
    // Three requests in one go. The proxy forwards them one at a time, each when the
    // previous answer is complete: the first at 4 R, then one more every R (the
    // proxy-server round trip), arriving at 5 R and 6 R.
    let (mut net, c, p, s) = three_hosts();
    let reqs: Vec<Vec<u8>> = [10, 20, 30]
        .iter()
        .map(|n| get(&format!("/bytes/{n}"), "HTTP/1.1", &[("Host", "origin")]))
        .collect();
    let mut client = RawClient::new(&[&reqs[0], &reqs[1], &reqs[2]]).pipelined();
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = origin();
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(client.times(), [4.0 * RTT_MS, 5.0 * RTT_MS, 6.0 * RTT_MS]);
    let lens: Vec<usize> = client.responses.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, [10, 20, 30]);
    assert_eq!(proxy.stats().upstream_connections, 1);
}

#[test]
fn smart_streams_large_bodies() {
    // 1 MiB and 4 MiB responses, every byte verified; the proxy relays them through a
    // bounded window of user-space buffer (RELAY_HIGH_WATER), not whole.
    let (mut net, c, p, s) = three_hosts();
    let reqs = [1usize << 20, 4 << 20]
        .map(|n| get(&format!("/bytes/{n}"), "HTTP/1.1", &[("Host", "origin")]));
    let mut client = RawClient::new(&[&reqs[0], &reqs[1]]).giving_up_at(60_000);
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = origin();
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        60_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(client.error, None);
    let lens: Vec<usize> = client.responses.iter().map(|r| r.body.len()).collect();
    assert_eq!(lens, [1 << 20, 4 << 20]);
    for r in &client.responses {
        assert_eq!(payload::verify(0, &r.body), Ok(()));
    }
    let stats = proxy.stats();
    assert_eq!(stats.upstream_connections, 1);
    // Never the whole body: at most what one read returns (a receive buffer) on
    // top of the high-water mark.
    let bound = RELAY_HIGH_WATER + DEFAULT_BUFFER as u64;
    assert!(stats.peak_buffered_bytes <= bound, "{stats:?}");
    assert!(stats.peak_buffered_bytes > 0);
}

#[test]
fn smart_reframes_chunked_bodies() {
    // A chunked request body is decoded and re-chunked upstream. A chunked response
    // reaches an HTTP/1.1 client chunked, and an HTTP/1.0 client (which must never
    // get chunked, RFC 9112 §6.1) as a body delimited by the close.
    let (mut net, c, p, s) = three_hosts();
    let post = b"POST /up HTTP/1.1\r\nHost: origin\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let mut a = RawClient::new(&[post]);
    let mut b = RawClient::new(&[&get("/b", "HTTP/1.0", &[("Connection", "keep-alive")])])
        .starting_at(2_000);
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = RawServer::new(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    );
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut a, &mut b],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    let (forwarded, body) = &server.requests[0];
    assert_eq!(forwarded.headers.get("transfer-encoding"), Some("chunked"));
    assert_eq!(body, b"hello world");
    let to_a = &a.responses[0];
    assert_eq!(to_a.head.headers.get("transfer-encoding"), Some("chunked"));
    assert_eq!(to_a.body, b"ok");
    assert_eq!(a.eof_at_ms, None);
    let to_b = &b.responses[0];
    assert!(!to_b.head.headers.contains("transfer-encoding"));
    assert!(to_b.head.headers.has_connection_token("close"));
    assert_eq!(to_b.body, b"ok");
    assert_eq!(b.eof_at_ms, Some(2_000.0 + 3.0 * RTT_MS));
    let stats = proxy.stats();
    assert_eq!(stats.upstream_connections, 1);
    assert_eq!(stats.clients[1].end, ClientEnd::NotPersistent);
}

#[test]
fn smart_retries_when_the_server_closed_an_idle_connection() {
    // The server closes an idle connection 1 s after its last response (at 3 R + 1 s
    // = 1.3 s); the second client's request reaches the proxy at 1.15 s + 1.5 R =
    // 1.3 s, just as the FIN leaves the server, and goes out on the pooled connection.
    // The FIN reaches the proxy at 1.35 s: no answer can come, and a GET on a reused
    // connection is safe to retry (chapter item 19; RFC 9112 §9.3.1). New upstream
    // handshake 1 R, exchange 1 R, back to the client 0.5 R: 1.6 s.
    let mut scene = IdleCloseScene::new(1_150);
    let end = scene.run(10_000);
    let IdleCloseScene {
        a,
        b,
        proxy,
        server,
        ..
    } = scene;
    assert_eq!(end, RunEnd::Done);
    assert_eq!(a.times(), [4.0 * RTT_MS]);
    assert_eq!(b.times(), [1_600.0]);
    assert_eq!(b.error, None);
    let stats = proxy.stats();
    assert_eq!(stats.retries, 1);
    assert_eq!(stats.upstream_connections, 2);
    assert_eq!(stats.clients[1].upstreams, [0, 1]);
    assert_eq!(server.requests.len(), 2, "the first copy was never read");
}

#[test]
fn smart_answers_bad_requests_and_dead_upstreams() {
    // HTTP/1.1 without Host: 400 (RFC 9112 §3.2). Nothing listens upstream: 502.
    let (mut net, c, p, s) = three_hosts();
    let mut a = RawClient::new(&[&get("/", "HTTP/1.1", &[])]);
    let mut proxy = proxy(ProxyMode::Smart);
    let mut nothing = RawServer::new(b"");
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut a],
        &mut proxy,
        &mut nothing,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(a.responses[0].head.status, 400);
    assert_eq!(
        proxy.stats().clients[0].end,
        ClientEnd::BadRequest { status: 400 }
    );

    let (mut net, c, p, s) = three_hosts();
    let mut b = RawClient::new(&[&get("/", "HTTP/1.1", &[("Host", "x")])]);
    let mut proxy = tcpknobs_http::proxy::Proxy::new(tcpknobs_http::proxy::ProxyConfig {
        upstream_port: 81,
        ..tcpknobs_http::proxy::ProxyConfig::default()
    });
    let mut server = origin();
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut b],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(b.responses[0].head.status, 502);
    assert_eq!(proxy.stats().clients[0].end, ClientEnd::UpstreamFailed);

    // Garbage from the client: 400. Garbage from the server: 502.
    let (mut net, c, p, s) = three_hosts();
    let mut a = RawClient::new(&[b"\x00\x01 nonsense\r\n\r\n"]);
    let mut b = RawClient::new(&[&get("/", "HTTP/1.1", &[("Host", "x")])]).starting_at(1_000);
    let mut proxy = proxy_common::proxy(ProxyMode::Smart);
    let mut garbage = RawServer::new(b"HTTP/1.1 2000 What\r\n\r\n");
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut a, &mut b],
        &mut proxy,
        &mut garbage,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(a.responses[0].head.status, 400);
    assert_eq!(b.responses[0].head.status, 502);
    assert_eq!(proxy.stats().upstream_connections, 1);
}

#[test]
fn smart_closes_gracefully_over_unread_requests() {
    // An HTTP/1.0 client without keep-alive that pipelines anyway: the proxy answers
    // the first request with `Connection: close` and half-closes; the second request
    // is read and discarded while it lingers, so the client gets its response whole
    // (4 R) and then the FIN, not a reset that would destroy it (chapter item 24).
    let (mut net, c, p, s) = three_hosts();
    let first = get("/bytes/100", "HTTP/1.0", &[]);
    let second = get("/bytes/200", "HTTP/1.0", &[]);
    let mut client = RawClient::new(&[&first, &second]).pipelined();
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = origin();
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(client.error, None);
    assert_eq!(client.times(), [4.0 * RTT_MS]);
    assert_eq!(client.eof_at_ms, Some(4.0 * RTT_MS));
    let stats = proxy.stats();
    assert_eq!(stats.requests_forwarded, 1);
    assert_eq!(stats.clients[0].end, ClientEnd::NotPersistent);
    assert!(proxy.is_done(), "the proxy closed once the client did");
    assert_eq!(net.host(p).stats(ConnId(0)).map(|s| s.resets_out), Some(0));
}

#[test]
fn smart_forwards_interim_responses_to_http11_clients_only() {
    // The server sends a 103 with a Link field before its 200. An HTTP/1.1 client gets
    // it, ahead of the 200 and with the proxy's Via like any forwarded message (RFC
    // 9110 §7.6.3); an HTTP/1.0 client, which knows no 1xx, does not (RFC 9110 §15.2).
    // Both answers in one segment each way: 4 R.
    let early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    for (version, interim) in [("HTTP/1.1", 1), ("HTTP/1.0", 0)] {
        let mut client = RawClient::new(&[&get("/", version, &[("Host", "origin")])]);
        let mut server = RawServer::new(early);
        let (end, proxy) = run_one(&mut client, ProxyMode::Smart, &mut server);
        assert_eq!(end, RunEnd::Done, "{version}");
        assert_eq!(client.error, None, "{version}");
        assert_eq!(client.interim.len(), interim, "{version}");
        for seen in &client.interim {
            assert_eq!(seen.head.status, 103);
            assert_eq!(names(&seen.head.headers), ["Link", "Via"]);
            assert_eq!(seen.head.headers.get("link"), Some("</a.css>; rel=preload"));
            assert_eq!(seen.at_ms, 4.0 * RTT_MS);
        }
        assert_eq!(client.responses.len(), 1, "{version}");
        assert_eq!(client.responses[0].head.status, 200);
        assert_eq!(client.responses[0].body, b"ok");
        assert_eq!(client.times(), [4.0 * RTT_MS], "{version}");
        assert_eq!(proxy.stats().responses_relayed, 1);
    }
}
