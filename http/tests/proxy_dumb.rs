//! The dumb proxy (chapter item 18): every header forwarded unchanged, the server's
//! close taken as the end of the response, and so the HTTP/1.0 keep-alive hang.
//!
//! Hosts: client 192.0.2.1, proxy 192.0.2.2:8080, server 192.0.2.3:80; every link
//! R = 100 ms RTT. Through the proxy, a fresh request costs 4 R: the client's
//! handshake (1 R), half a trip to the proxy, the proxy's own handshake to the server
//! (1 R), then request and response across both links (0.5 R + 0.5 R + 0.5 R).

mod proxy_common;

use proxy_common::*;
use tcpknobs_http::proxy::{ClientEnd, ProxyMode};
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_stack::{Duration, RunEnd};

#[test]
fn dumb_forwards_every_header_unchanged() {
    let (mut net, c, p, s) = three_hosts();
    let request = get(
        "/a",
        "HTTP/1.0",
        &[
            ("Host", "origin"),
            ("Connection", "Keep-Alive, X-Secret"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Upgrade", "h2c"),
        ],
    );
    let response: &[u8] =
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5\r\n\r\nok";
    let mut client = RawClient::new(&[&request]);
    let mut proxy = proxy(ProxyMode::Dumb);
    let mut server = RawServer::new(response);
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    // Byte for byte, both ways.
    assert_eq!(server.raw, [request]);
    assert_eq!(client.responses.len(), 1);
    let mut seen = Vec::new();
    client.responses[0].head.write_head(&mut seen);
    seen.extend_from_slice(&client.responses[0].body);
    assert_eq!(seen, response);
    assert_eq!(client.times(), [4.0 * RTT_MS]);
    let stats = proxy.stats();
    assert_eq!(stats.hop_by_hop_removed, 0);
    assert_eq!(stats.requests_forwarded, 1);
    assert_eq!(stats.upstream_connections, 1);
}

#[test]
fn dumb_proxy_works_when_the_server_closes() {
    // HTTP/1.0 without keep-alive: the server closes after the response, which is the
    // end the dumb proxy waits for; it closes the client side in turn. The FIN leaves
    // the server with the response (3 R), reaches the proxy at 3.5 R and the proxy's
    // own FIN reaches the client at 4 R, with the response.
    let (mut net, c, p, s) = three_hosts();
    let mut client = RawClient::new(&[&get("/bytes/100", "HTTP/1.0", &[])]);
    let mut proxy = proxy(ProxyMode::Dumb);
    let mut server = Server::new(ServerConfig {
        port: 80,
        ..Default::default()
    });
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(client.times(), [4.0 * RTT_MS]);
    assert_eq!(client.responses[0].body.len(), 100);
    let stats = proxy.stats();
    assert_eq!(stats.responses_relayed, 1);
    assert_eq!(stats.clients[0].end, ClientEnd::UpstreamClosed);
}

#[test]
fn dumb_proxy_hangs_http10_keep_alive() {
    // Chapter item 18. The client asks for keep-alive; the dumb proxy forwards the
    // header, the server agrees (the echo reaches the client at 4 R) and keeps its
    // connection open; the client, seeing the echo, sends its second request on the
    // same connection at 4 R. The proxy never looks at it: still waiting for the
    // server's close, it never answers. This server never times out idle connections,
    // so the client hangs until its own timeout (10 s).
    let (mut net, c, p, s) = three_hosts();
    let first = get("/bytes/100", "HTTP/1.0", &[("Connection", "Keep-Alive")]);
    let second = get("/bytes/200", "HTTP/1.0", &[("Connection", "Keep-Alive")]);
    let mut client = RawClient::new(&[&first, &second]).giving_up_at(10_000);
    let mut proxy = proxy(ProxyMode::Dumb);
    let mut server =
        RawServer::new(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\nok");
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        20_000,
    );
    assert_eq!(end, RunEnd::Done, "the client gave up; nothing else moves");
    assert!(client.gave_up, "the client had to time out");
    assert_eq!(client.error, None);
    assert_eq!(client.eof_at_ms, None, "nobody closed on the client");
    assert_eq!(client.times(), [4.0 * RTT_MS], "exactly one response");
    let head = &client.responses[0].head;
    assert!(head.headers.has_connection_token("keep-alive"), "the echo");
    // The server answered once and still holds its connection to the proxy open.
    assert_eq!(server.requests.len(), 1);
    assert_eq!(open_connections(net.host(s)), 1);
    let stats = proxy.stats();
    assert_eq!(stats.requests_forwarded, 1);
    assert_eq!(stats.responses_relayed, 0, "still waiting for the close");
    assert_eq!(stats.clients[0].ignored_bytes, second.len() as u64);
    assert_eq!(stats.clients[0].end, ClientEnd::Open);
}

#[test]
fn dumb_proxy_hang_with_the_origin_server() {
    // The same hang with the lab's own server, which agrees to keep-alive and closes
    // an idle connection after its keep-alive timeout (pinned to 5 s here). Until then
    // the client's second request is never answered; then the server's FIN (3 R + 5 s)
    // reaches the proxy, which closes the client side (1 R after the server's FIN): the
    // client sees its connection end at 5.4 s with the request unanswered.
    let (mut net, c, p, s) = three_hosts();
    let first = get("/bytes/100", "HTTP/1.0", &[("Connection", "Keep-Alive")]);
    let second = get("/bytes/200", "HTTP/1.0", &[("Connection", "Keep-Alive")]);
    let mut client = RawClient::new(&[&first, &second]).giving_up_at(10_000);
    let mut proxy = proxy(ProxyMode::Dumb);
    let mut server = Server::new(ServerConfig {
        port: 80,
        keep_alive_timeout: Duration::from_secs(5),
        ..Default::default()
    });
    // 3 s in: one answer, the second request read by the proxy and ignored, the
    // server's connection still open.
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        3_000,
    );
    assert_eq!(end, RunEnd::TimeLimit);
    assert_eq!(client.times(), [4.0 * RTT_MS]);
    assert!(client.responses[0]
        .head
        .headers
        .has_connection_token("keep-alive"));
    assert_eq!(server.responses(), 1);
    assert_eq!(open_connections(net.host(s)), 1);
    let stats = proxy.stats();
    assert_eq!(stats.clients[0].ignored_bytes, second.len() as u64);
    assert_eq!(stats.responses_relayed, 0);
    // To the end: the server's timeout, relayed as a close; never a second answer.
    let end = run(
        &mut net,
        (c, p, s),
        &mut [&mut client],
        &mut proxy,
        &mut server,
        20_000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(client.times(), [4.0 * RTT_MS], "exactly one response");
    assert_eq!(client.eof_at_ms, Some(3.0 * RTT_MS + 5_000.0 + RTT_MS));
    assert_eq!(server.responses(), 1);
    let stats = proxy.stats();
    assert_eq!(stats.responses_relayed, 1, "the close ended 'the response'");
    assert_eq!(stats.clients[0].end, ClientEnd::UpstreamClosed);
}
