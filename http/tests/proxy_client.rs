//! The lab's own client through the proxy, as the experiment runner will use it:
//! hosts client 192.0.2.1, proxy 192.0.2.2:8080, server 192.0.2.3:80, every link
//! R = 100 ms RTT, and the client pointed at the proxy.

mod proxy_common;

use proxy_common::*;
use tcpknobs_http::client::{Client, ClientConfig, Strategy};
use tcpknobs_http::message::{Method, Version};
use tcpknobs_http::proxy::ProxyMode;
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_http::workload::RequestSpec;
use tcpknobs_stack::{AppSlot, Duration, Instant, RunEnd};

struct Outcome {
    end: RunEnd,
    /// Done time of each transaction, ms, or its error.
    results: Vec<Result<f64, String>>,
    proxy: tcpknobs_http::proxy::ProxyStats,
}

fn through_proxy(mode: ProxyMode, config: ClientConfig, n: usize) -> Outcome {
    through_proxy_to(
        mode,
        config,
        n,
        ServerConfig {
            port: 80,
            ..Default::default()
        },
    )
}

fn through_proxy_to(
    mode: ProxyMode,
    config: ClientConfig,
    n: usize,
    server: ServerConfig,
) -> Outcome {
    let (mut net, c, p, s) = three_hosts();
    let config = ClientConfig {
        server: PROXY_ADDR,
        port: PROXY_PORT,
        ..config
    };
    let specs = vec![RequestSpec::bytes(Method::Get, 100); n];
    let mut client = Client::new(config, specs);
    let mut proxy = proxy(mode);
    let mut server = Server::new(server);
    let end = net.run(
        &mut [
            AppSlot {
                host: c,
                app: &mut client,
                is_server: false,
            },
            AppSlot {
                host: p,
                app: &mut proxy,
                is_server: true,
            },
            AppSlot {
                host: s,
                app: &mut server,
                is_server: true,
            },
        ],
        Instant::from_secs(60),
    );
    let results = client
        .transactions()
        .iter()
        .map(|t| match (&t.error, t.timing.done) {
            (Some(e), _) => Err(e.to_string()),
            (None, Some(done)) => Ok(done.total_micros() as f64 / 1000.0),
            (None, None) => Err("unfinished".into()),
        })
        .collect();
    Outcome {
        end,
        results,
        proxy: proxy.stats(),
    }
}

#[test]
fn lab_client_persistent_through_the_smart_proxy() {
    // 4 R for the first request (two handshakes), 2 R for each next one, for HTTP/1.1
    // and for HTTP/1.0 keep-alive alike: the proxy speaks HTTP/1.1 upstream.
    for version in [Version::Http11, Version::Http10] {
        let config = ClientConfig {
            strategy: Strategy::Persistent,
            version,
            ..ClientConfig::default()
        };
        let out = through_proxy(ProxyMode::Smart, config, 3);
        assert_eq!(out.end, RunEnd::Done);
        assert_eq!(
            out.results,
            [Ok(4.0 * RTT_MS), Ok(6.0 * RTT_MS), Ok(8.0 * RTT_MS)],
            "{version}"
        );
        assert_eq!(out.proxy.client_connections, 1);
        assert_eq!(out.proxy.upstream_connections, 1);
    }
}

#[test]
fn lab_client_pipelined_through_the_smart_proxy() {
    // The client pipelines requests 2 and 3 once the first answer shows the
    // connection persists (4 R); the proxy forwards them one at a time: 6 R, 7 R.
    let config = ClientConfig {
        strategy: Strategy::Pipelined,
        ..ClientConfig::default()
    };
    let out = through_proxy(ProxyMode::Smart, config, 3);
    assert_eq!(out.end, RunEnd::Done);
    assert_eq!(
        out.results,
        [Ok(4.0 * RTT_MS), Ok(6.0 * RTT_MS), Ok(7.0 * RTT_MS)]
    );
}

#[test]
fn lab_client_times_out_behind_the_dumb_proxy() {
    // HTTP/1.0 keep-alive through the dumb proxy: the first answer at 4 R, the second
    // request is ignored and the client gives up after its timeout (3 s, shorter than
    // any server keep-alive timeout that would end the hang another way).
    let config = ClientConfig {
        strategy: Strategy::Persistent,
        version: Version::Http10,
        timeout: Some(Duration::from_secs(3)),
        max_retries: 0,
        ..ClientConfig::default()
    };
    let out = through_proxy(ProxyMode::Dumb, config, 2);
    assert_eq!(out.results[0], Ok(4.0 * RTT_MS));
    assert!(out.results[1]
        .as_ref()
        .is_err_and(|e| e.contains("timeout")));
}

#[test]
fn behind_the_dumb_proxy_the_server_timeout_ends_the_hang_and_a_retry_succeeds() {
    // The same hang, ended by the server: it closes the idle keep-alive connection 5 s
    // after offering its response (3 R + 5 s), the dumb proxy relays the close (1 R
    // more across both links), and the client, whose second request got no byte back,
    // retries it on a new connection (4 R): 3 R + 5 s + 1 R + 4 R = 5.8 s.
    let config = ClientConfig {
        strategy: Strategy::Persistent,
        version: Version::Http10,
        ..ClientConfig::default()
    };
    let server = ServerConfig {
        port: 80,
        keep_alive_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let out = through_proxy_to(ProxyMode::Dumb, config, 2, server);
    assert_eq!(out.end, RunEnd::Done);
    assert_eq!(
        out.results,
        [Ok(4.0 * RTT_MS), Ok(3.0 * RTT_MS + 5_000.0 + 5.0 * RTT_MS)]
    );
    assert_eq!(out.proxy.client_connections, 2);
    assert_eq!(out.proxy.upstream_connections, 2);
}
