//! The proxy's records at scale: each upstream record names the port its own
//! connection used, even when connections wait for a free ephemeral port, and a
//! proxy told to keep the records of its first connections only keeps that many
//! while its totals still count every connection.
//!
//! Hosts: client 192.0.2.1, proxy 192.0.2.2:8080, server 192.0.2.3:80; every link
//! R = 100 ms RTT.

mod proxy_common;

use proxy_common::*;
use tcpknobs_http::proxy::{ClientEnd, Proxy, ProxyMode};
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_stack::{Knobs, LinkProfile, OnExhaustion, PortSpan, Role, RunEnd, SimNet};

fn origin() -> Server {
    Server::new(ServerConfig {
        port: 80,
        ..Default::default()
    })
}

/// Client, proxy and server hosts as [`three_hosts`] builds them, but the proxy
/// has only `ports` ephemeral ports and waits for one when all are taken.
fn three_hosts_with_ports(ports: PortSpan) -> (SimNet, HostIds) {
    let link = LinkProfile {
        one_way_delay_ns: (RTT_MS * 1e6 / 2.0) as u64,
        ..LinkProfile::default()
    };
    let mut net = SimNet::new(link, 1);
    let proxy_knobs = Knobs {
        ports,
        on_exhaustion: OnExhaustion::Wait,
        ..Knobs::default()
    };
    let c = net.add_host("client", Knobs::default());
    let p = net.add_host("proxy", proxy_knobs);
    let s = net.add_host("server", Knobs::default());
    assert_eq!(net.host(p).addr(), PROXY_ADDR);
    (net, (c, p, s))
}

type HostIds = (
    tcpknobs_stack::HostId,
    tcpknobs_stack::HostId,
    tcpknobs_stack::HostId,
);

/// `n` HTTP/1.0 clients at once, one request each, through a proxy in `mode`
/// prepared by `setup`, whose host has `ports`: the clients, the proxy and the
/// ports the proxy's host used for its upstream connections, in opening order.
fn run_many(
    mode: ProxyMode,
    n: usize,
    ports: PortSpan,
    setup: impl FnOnce(&mut Proxy),
) -> (Vec<RawClient>, Proxy, Vec<u16>) {
    let (mut net, hosts) = three_hosts_with_ports(ports);
    let req = get("/bytes/300", "HTTP/1.0", &[]);
    let mut clients: Vec<RawClient> = (0..n).map(|_| RawClient::new(&[&req])).collect();
    let mut refs: Vec<&mut RawClient> = clients.iter_mut().collect();
    let mut proxy = proxy(mode);
    setup(&mut proxy);
    let mut server = origin();
    let end = run(&mut net, hosts, &mut refs, &mut proxy, &mut server, 60_000);
    assert_eq!(end, RunEnd::Done);
    let used = net
        .host(hosts.1)
        .all_stats()
        .into_iter()
        .filter(|s| s.role == Some(Role::Client))
        .map(|s| s.local_port.expect("a finished connection had a port"))
        .collect();
    (clients, proxy, used)
}

#[test]
fn dumb_upstream_records_name_their_own_ports_while_ports_are_scarce() {
    // Six clients at once, two ports: four upstream connections wait for a port.
    // Each record must hold the port its own connection got, not the port of
    // whichever connection happened to be driven while the newest record was
    // still waiting.
    let ports = PortSpan {
        lo: 40_000,
        hi: 40_001,
    };
    let (clients, proxy, used) = run_many(ProxyMode::Dumb, 6, ports, |_| {});
    assert_each_answered_once(&clients, 300);
    let stats = proxy.stats();
    assert_eq!(stats.upstream_connections, 6);
    assert_eq!(used.len(), 6);
    assert!(used.iter().all(|&p| ports.contains(p)));
    let recorded: Vec<Option<u16>> = stats.upstreams.iter().map(|u| u.local_port).collect();
    let used: Vec<Option<u16>> = used.into_iter().map(Some).collect();
    assert_eq!(recorded, used);
    // And each client's index leads to its own connection's record.
    for (i, c) in stats.clients.iter().enumerate() {
        assert_eq!(c.end, ClientEnd::UpstreamClosed);
        assert_eq!(c.upstreams.len(), 1);
        assert!(c.upstreams[0] < stats.upstreams.len(), "client {i}");
    }
}

/// Runs `n` clients through a proxy in `mode` twice, keeping every record and
/// keeping `kept`, and checks that the bounded run kept at most `kept` records of
/// each kind, counted the others, and agrees with the full run on every total and
/// on the records it kept.
fn bounded_agrees_with_full(mode: ProxyMode, n: usize, kept: usize) {
    let ports = Knobs::default().ports;
    let (_, full, _) = run_many(mode, n, ports, |_| {});
    let (clients, bounded, _) = run_many(mode, n, ports, |p| p.keep_records_below(kept));
    for client in &clients {
        assert_eq!(client.error, None);
        assert_eq!(client.responses.len(), 1);
    }
    let (full, bounded) = (full.stats(), bounded.stats());
    assert_eq!(full.client_connections, n as u64);
    assert_eq!(full.upstream_connections, n as u64);
    assert_eq!((full.clients_omitted, full.upstreams_omitted), (0, 0));
    assert_eq!((full.clients.len(), full.upstreams.len()), (n, n));

    assert_eq!(bounded.clients.len(), kept);
    assert_eq!(bounded.upstreams.len(), kept);
    assert_eq!(bounded.clients_omitted, (n - kept) as u64);
    assert_eq!(bounded.upstreams_omitted, (n - kept) as u64);
    assert_eq!(bounded.clients[..], full.clients[..kept]);
    assert_eq!(bounded.upstreams[..], full.upstreams[..kept]);
    // Every total is exact: the same as with every record kept.
    let totals = |s: &tcpknobs_http::proxy::ProxyStats| {
        (
            s.client_connections,
            s.upstream_connections,
            s.requests_forwarded,
            s.responses_relayed,
            s.hop_by_hop_removed,
            s.retries,
            s.peak_buffered_bytes,
        )
    };
    assert_eq!(totals(&bounded), totals(&full));
    assert_eq!(bounded.requests_forwarded, n as u64);
}

#[test]
fn smart_keeps_only_the_first_records_and_exact_totals() {
    bounded_agrees_with_full(ProxyMode::Smart, 30, 4);
}

#[test]
fn dumb_keeps_only_the_first_records_and_exact_totals() {
    bounded_agrees_with_full(ProxyMode::Dumb, 30, 4);
}

#[test]
fn no_records_at_all_still_counts_everything() {
    let ports = Knobs::default().ports;
    let (_, proxy, _) = run_many(ProxyMode::Smart, 12, ports, |p| p.keep_records_below(0));
    let stats = proxy.stats();
    assert!(stats.clients.is_empty() && stats.upstreams.is_empty());
    assert_eq!((stats.clients_omitted, stats.upstreams_omitted), (12, 12));
    assert_eq!(stats.client_connections, 12);
    assert_eq!(stats.responses_relayed, 12);
}

#[test]
fn records_already_kept_beyond_a_new_bound_are_let_go_and_counted() {
    let ports = Knobs::default().ports;
    let (_, mut proxy, _) = run_many(ProxyMode::Dumb, 5, ports, |_| {});
    let before = proxy.stats();
    proxy.keep_records_below(2);
    let after = proxy.stats();
    assert_eq!(after.clients[..], before.clients[..2]);
    assert_eq!(after.upstreams[..], before.upstreams[..2]);
    assert_eq!((after.clients_omitted, after.upstreams_omitted), (3, 3));
    assert_eq!(after.client_connections, 5);
}
