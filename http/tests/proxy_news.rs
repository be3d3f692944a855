//! What makes the proxy act when it drives only the connections something happened
//! to: news of an upstream connection reaches the client connection it works for,
//! news of an idle pooled connection reaches the pool, and the lingering close is
//! a deadline of its own.
//!
//! Hosts: client 192.0.2.1, proxy 192.0.2.2:8080, server 192.0.2.3:80; every link
//! R = 100 ms RTT.

mod proxy_common;

use proxy_common::*;
use tcpknobs_http::proxy::{ClientEnd, Proxy, ProxyMode, LINGER};
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_stack::{
    AppSlot, Application, ConnId, ConnState, Host, HostId, Instant, RunEnd, SimNet,
};

fn origin() -> Server {
    Server::new(ServerConfig {
        port: 80,
        ..Default::default()
    })
}

/// `n` raw clients sending `requests` at once through a proxy in `mode` to the lab's
/// server, run until done: the clients and the proxy.
fn many_at_once(mode: ProxyMode, n: usize, requests: &[&[u8]]) -> (Vec<RawClient>, Proxy) {
    let (mut net, c, p, s) = three_hosts();
    let mut clients: Vec<RawClient> = (0..n).map(|_| RawClient::new(requests)).collect();
    let mut refs: Vec<&mut RawClient> = clients.iter_mut().collect();
    let mut proxy = proxy(mode);
    let mut server = origin();
    let end = run(
        &mut net,
        (c, p, s),
        &mut refs,
        &mut proxy,
        &mut server,
        10_000,
    );
    assert_eq!(end, RunEnd::Done);
    (clients, proxy)
}

#[test]
fn smart_serves_many_clients_at_once() {
    // Forty clients, two requests each on one connection, all at once: each
    // response comes back over an upstream connection of its own, whose news must
    // wake the client connection it works for: 4 R, then 2 R more on warm
    // connections.
    let req = get("/bytes/1000", "HTTP/1.1", &[("Host", "origin")]);
    let (clients, proxy) = many_at_once(ProxyMode::Smart, 40, &[&req, &req]);
    for client in &clients {
        assert_eq!(client.error, None);
        assert_eq!(client.times(), [4.0 * RTT_MS, 6.0 * RTT_MS]);
        assert!(client.responses.iter().all(|r| r.body.len() == 1000));
    }
    let stats = proxy.stats();
    assert_eq!(stats.upstream_connections, 40);
    assert_eq!(stats.requests_forwarded, 80);
    assert_eq!(stats.responses_relayed, 80);
    assert!(stats
        .clients
        .iter()
        .all(|c| c.end == ClientEnd::ClientClosed));
}

#[test]
fn dumb_serves_many_clients_at_once() {
    // Twenty HTTP/1.0 clients without keep-alive: each answer ends with the
    // server's close, which only the upstream connection sees.
    let req = get("/bytes/500", "HTTP/1.0", &[]);
    let (clients, proxy) = many_at_once(ProxyMode::Dumb, 20, &[&req]);
    assert_each_answered_once(&clients, 500);
    let stats = proxy.stats();
    assert_eq!(stats.upstream_connections, 20);
    assert!(stats
        .clients
        .iter()
        .all(|c| c.end == ClientEnd::UpstreamClosed));
    assert!(proxy.is_done());
}

#[test]
fn smart_closes_an_idle_pooled_connection_the_server_closed() {
    // One request, answered at 4 R; the client then closes. The server closes the
    // idle upstream connection 1 s after its response (1.3 s); its FIN reaches the
    // proxy at 1.35 s, when no client connection is left to drive: the pool's own
    // news makes the proxy close its side then, not when the next client comes (at
    // 5 s).
    let mut scene = IdleCloseScene::new(5_000);
    let p = scene.hosts.1;
    assert_eq!(scene.run(1_300), RunEnd::TimeLimit);
    assert_eq!(scene.a.times(), [4.0 * RTT_MS]);
    let upstream = ConnId(1);
    assert_eq!(scene.net.host(p).state(upstream), ConnState::Open);
    assert_eq!(scene.run(2_000), RunEnd::TimeLimit);
    assert_eq!(scene.net.host(p).state(upstream), ConnState::Closed);
    assert_eq!(open_connections(scene.net.host(p)), 0);
    assert_eq!(scene.proxy.stats().upstream_connections, 1);
}

/// A client that sends one request and then neither reads nor closes.
struct Silent {
    request: Vec<u8>,
    sent: bool,
}

impl Application for Silent {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        if !self.sent {
            if let Ok(id) = host.connect(PROXY_ADDR, PROXY_PORT) {
                let _ = host.send(id, &self.request);
            }
            self.sent = true;
        }
        None
    }

    fn is_done(&self) -> bool {
        false
    }
}

fn run_silent(
    net: &mut SimNet,
    (c, p, s): (HostId, HostId, HostId),
    client: &mut Silent,
    proxy: &mut Proxy,
    server: &mut Server,
    limit_ms: i64,
) -> RunEnd {
    let mut slots = [
        AppSlot {
            host: c,
            app: client,
            is_server: false,
        },
        AppSlot {
            host: p,
            app: proxy,
            is_server: true,
        },
        AppSlot {
            host: s,
            app: server,
            is_server: true,
        },
    ];
    net.run(&mut slots, Instant::from_millis(limit_ms))
}

#[test]
fn smart_lingering_close_ends_at_its_deadline() {
    // An HTTP/1.0 request without keep-alive: the response is written by 3.5 R, the
    // proxy half-closes and lingers for a client that never closes. Nothing else
    // happens after that; the lingering close itself is what ends the connection,
    // LINGER later.
    let (mut net, c, p, s) = three_hosts();
    let mut client = Silent {
        request: get("/bytes/10", "HTTP/1.0", &[]),
        sent: false,
    };
    let mut proxy = proxy(ProxyMode::Smart);
    let mut server = origin();
    let hosts = (c, p, s);
    let linger_ms = LINGER.total_millis() as i64;
    let before = 350 + linger_ms - 10;
    let end = run_silent(
        &mut net,
        hosts,
        &mut client,
        &mut proxy,
        &mut server,
        before,
    );
    assert_eq!(end, RunEnd::TimeLimit);
    assert_eq!(proxy.stats().responses_relayed, 1);
    assert!(!proxy.is_done(), "still lingering at {before} ms");
    let after = 350 + linger_ms + 10;
    run_silent(&mut net, hosts, &mut client, &mut proxy, &mut server, after);
    assert!(proxy.is_done(), "closed by {after} ms");
    assert_eq!(proxy.stats().clients[0].end, ClientEnd::NotPersistent);
}
