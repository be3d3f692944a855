//! One experiment on the simulated network: a client host and a server host, a
//! workload, knobs per side; the result as a [`RunReport`].

use std::path::Path;

use anyhow::Context;

use serde::Serialize;
use tcpknobs_http::client::{Client, ClientConfig, Strategy};
use tcpknobs_http::proxy::{Proxy, ProxyConfig, ProxyMode, ProxyStats};
use tcpknobs_http::server::{CloseMode, Server, ServerConfig};
use tcpknobs_http::transaction::TransactionReport;
use tcpknobs_http::workload::Workload;
use tcpknobs_stack::link::LinkStats;
use tcpknobs_stack::{
    AppSlot, ConnStats, Duration, Host, Instant, Knobs, LinkProfile, RunEnd, SimNet,
};

/// Everything that determines a run (same experiment + same seed = same output).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Experiment {
    /// The link between the hosts, both directions.
    pub link: LinkProfile,
    /// Seed for loss and initial sequence numbers.
    pub seed: u64,
    /// The client host's knobs.
    pub client_knobs: Knobs,
    /// The server host's knobs.
    pub server_knobs: Knobs,
    /// The client (its server address is filled in by the run).
    pub client: ClientConfig,
    /// The server.
    pub server: ServerConfig,
    /// A proxy host between client and server, if any (it uses the server's knobs).
    pub proxy: Option<ProxyMode>,
    /// What the client asks for.
    #[serde(skip)]
    pub workload: Workload,
    /// The workload as a person would say it.
    pub workload_label: String,
    /// Virtual-time limit.
    #[serde(skip)]
    pub max_time: Duration,
}

/// Per-side knobs, as printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SideKnobs {
    /// Client host.
    pub client: Knobs,
    /// Server host.
    pub server: Knobs,
}

/// A connection's figures, with the host it was seen from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionReport {
    /// `client` or `server`.
    pub host: &'static str,
    /// Requests the connection carried: client side, sent on it (retries included);
    /// server side, answered on it (`requests_served`).
    pub requests: Option<usize>,
    /// The figures.
    #[serde(flatten)]
    pub stats: ConnStats,
}

/// A run's headline figures, the same in `run` and `get` output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    /// ms from the first request issued to the last transaction finished.
    pub total_ms: f64,
    /// Transactions that finished without error.
    pub succeeded: usize,
    /// Transactions that failed.
    pub failed: usize,
    /// Retries, summed over transactions.
    pub retries: u32,
    /// Client connections opened per second of `total_ms`.
    pub connections_per_s: f64,
}

impl Totals {
    /// The figures of a client's transactions, timed from `epoch`, with `opened`
    /// client connections.
    pub fn of(
        transactions: &[TransactionReport],
        client: &Client,
        epoch: Instant,
        opened: usize,
    ) -> Totals {
        let last_done = client
            .transactions()
            .iter()
            .filter_map(|t| t.timing.done)
            .max()
            .unwrap_or(epoch);
        let total_ms = ms(last_done - epoch);
        let failed = transactions.iter().filter(|t| t.error.is_some()).count();
        Totals {
            total_ms,
            succeeded: transactions.len() - failed,
            failed,
            retries: transactions.iter().map(|t| t.retries).sum(),
            connections_per_s: if total_ms > 0.0 {
                opened as f64 / (total_ms / 1000.0)
            } else {
                0.0
            },
        }
    }
}

/// The result of a run; `run --json` prints exactly this.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// The headline figures (flattened: `total_ms`, `succeeded`, ... at top level).
    #[serde(flatten)]
    pub totals: Totals,
    /// How the run ended: `done`, `stalled` (a hang: nothing left to happen) or
    /// `time_limit`.
    pub end: &'static str,
    /// Every transaction, in workload order.
    pub transactions: Vec<TransactionReport>,
    /// Every connection, client side first.
    pub connections: Vec<ConnectionReport>,
    /// The knobs of each side.
    pub knobs: SideKnobs,
    /// The most connections per second the client can open toward one server:
    /// ephemeral ports / 2MSL (chapter item 10: 60,000 / 120 s = 500/s). `null` with
    /// no TIME_WAIT.
    pub time_wait_ceiling_per_s: Option<f64>,
    /// The link.
    pub link: LinkProfile,
    /// What the links did to the frames: sent, delivered, dropped by `--loss`, by the
    /// `--queue` limit (the losses behind the retransmissions).
    pub wire: LinkStats,
    /// The workload and the HTTP settings.
    pub workload: WorkloadReport,
    /// What the proxy did, when there was one.
    pub proxy: Option<ProxyStats>,
    /// Seed.
    pub seed: u64,
}

/// The workload part of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    /// What the client asked for, as a person would say it.
    pub label: String,
    /// Strategy.
    pub strategy: Strategy,
    /// The client's settings.
    pub client: ClientReport,
    /// The server's settings.
    pub server: ServerReport,
}

/// A [`ClientConfig`] as reports print it: durations in fields named `_ms`, and no
/// response timeout as `null` rather than the long duration that stands for it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientReport {
    /// Server (or proxy) address.
    pub server: String,
    /// Server (or proxy) port.
    pub port: u16,
    /// Connection strategy.
    pub strategy: Strategy,
    /// `--connections`; `None`: the strategy's default.
    pub connections: Option<usize>,
    /// write() calls per request.
    pub request_writes: u32,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// `--client-timeout`, ms; `None` when off.
    pub timeout_ms: Option<f64>,
    /// `--retries`.
    pub max_retries: u32,
    /// `--think-time`, ms.
    pub think_time_ms: f64,
}

impl ClientReport {
    /// The report form of `config`.
    pub fn of(config: &ClientConfig) -> ClientReport {
        // Destructured, so that a new setting cannot go unreported.
        let ClientConfig {
            server,
            port,
            strategy,
            connections,
            request_writes,
            version,
            timeout,
            max_retries,
            think_time,
        } = config;
        ClientReport {
            server: server.to_string(),
            port: *port,
            strategy: *strategy,
            connections: *connections,
            request_writes: *request_writes,
            version: version.to_string(),
            timeout_ms: timeout.map(ms),
            max_retries: *max_retries,
            think_time_ms: ms(*think_time),
        }
    }
}

/// A [`ServerConfig`] as reports print it: durations in fields named `_ms`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerReport {
    /// Listening port.
    pub port: u16,
    /// write() calls per response.
    pub response_writes: u32,
    /// Whether connections may persist.
    pub keep_alive: bool,
    /// Idle time before the server closes a persistent connection, ms.
    pub keep_alive_timeout_ms: f64,
    /// Requests per connection; `None`: unlimited.
    pub keep_alive_max: Option<u32>,
    /// Processing time per request, ms.
    pub delay_ms: f64,
    /// Chunked response bodies.
    pub chunked: bool,
    /// No Content-Length: the body ends at close.
    pub no_length: bool,
    /// `graceful` or `abrupt`.
    pub close: CloseMode,
    /// How long a graceful close drains input, ms.
    pub linger_ms: f64,
    /// Body bytes sent before closing on purpose; `None`: whole responses.
    pub truncate: Option<u64>,
    /// How long a request head may take to arrive, ms.
    pub header_timeout_ms: f64,
    /// Longest gap between two reads of a request body, ms.
    pub body_timeout_ms: f64,
    /// Longest gap between two writes of a response the socket took, ms.
    pub send_timeout_ms: f64,
    /// Connections served at once; `None`: all of them (an event loop).
    pub workers: Option<u32>,
}

impl ServerReport {
    /// The report form of `config`.
    pub fn of(config: &ServerConfig) -> ServerReport {
        // Destructured, so that a new setting cannot go unreported.
        let ServerConfig {
            port,
            response_writes,
            keep_alive,
            keep_alive_timeout,
            keep_alive_max,
            delay,
            chunked,
            no_length,
            close,
            linger,
            truncate,
            header_timeout,
            body_timeout,
            send_timeout,
            workers,
        } = config;
        ServerReport {
            port: *port,
            response_writes: *response_writes,
            keep_alive: *keep_alive,
            keep_alive_timeout_ms: ms(*keep_alive_timeout),
            keep_alive_max: *keep_alive_max,
            delay_ms: ms(*delay),
            chunked: *chunked,
            no_length: *no_length,
            close: *close,
            linger_ms: ms(*linger),
            truncate: *truncate,
            header_timeout_ms: ms(*header_timeout),
            body_timeout_ms: ms(*body_timeout),
            send_timeout_ms: ms(*send_timeout),
            workers: *workers,
        }
    }
}

const SERVER_PORT: u16 = 80;
const PROXY_PORT: u16 = 8080;

impl Experiment {
    /// Run it on a fresh simulated network; `pcap` captures every frame.
    pub fn run(&self, pcap: Option<&Path>) -> anyhow::Result<RunReport> {
        let mut net = SimNet::new(self.link.clone(), self.seed);
        // Hosts in address order: client .1, server .2, proxy .3 (every pair linked
        // with the same profile, so each hop has it).
        let client_host = net.add_host("client", self.client_knobs.clone());
        let server_host = net.add_host("server", self.server_knobs.clone());
        let proxy_host = self
            .proxy
            .map(|_| net.add_host("proxy", self.server_knobs.clone()));
        if let Some(path) = pcap {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--pcap: cannot create {}", path.display()))?;
            net.capture_to(Box::new(std::io::BufWriter::new(file)))
                .with_context(|| format!("--pcap: cannot write {}", path.display()))?;
        }
        let server_config = ServerConfig {
            port: SERVER_PORT,
            ..self.server.clone()
        };
        let mut proxy = self.proxy.map(|mode| {
            Proxy::new(ProxyConfig {
                listen_port: PROXY_PORT,
                upstream: net.host(server_host).addr(),
                upstream_port: SERVER_PORT,
                mode,
            })
        });
        let (target, port) = match proxy_host {
            Some(p) => (net.host(p).addr(), PROXY_PORT),
            None => (net.host(server_host).addr(), SERVER_PORT),
        };
        let client_config = ClientConfig {
            server: target,
            port,
            ..self.client.clone()
        };
        let mut server = Server::new(server_config.clone());
        let mut client = Client::with_workload(client_config.clone(), self.workload.clone());
        let epoch = net.now();
        let end = {
            let mut apps = vec![
                AppSlot {
                    host: server_host,
                    app: &mut server,
                    is_server: true,
                },
                AppSlot {
                    host: client_host,
                    app: &mut client,
                    is_server: false,
                },
            ];
            if let (Some(host), Some(proxy)) = (proxy_host, proxy.as_mut()) {
                apps.push(AppSlot {
                    host,
                    app: proxy,
                    is_server: true,
                });
            }
            net.run(&mut apps, epoch + self.max_time)
        };
        client.finish(net.now());
        if let Some(path) = pcap {
            net.finish_capture()
                .with_context(|| format!("--pcap: cannot write {}", path.display()))?;
        }
        let mut connections = client_connections(net.host(client_host), &client);
        let opened = connections.len();
        if let Some(p) = proxy_host {
            connections.extend(host_connections(net.host(p), "proxy"));
        }
        connections.extend(server_connections(net.host(server_host), &server));
        let mut report = report(
            self,
            &client,
            epoch,
            end,
            opened,
            connections,
            WorkloadReport {
                label: self.workload_label.clone(),
                strategy: client_config.strategy,
                client: ClientReport::of(&client_config),
                server: ServerReport::of(&server_config),
            },
        );
        report.proxy = proxy.map(|p| p.stats());
        report.wire = net.wire_stats();
        Ok(report)
    }
}

/// The client host's connections with what each carried.
pub fn client_connections(host: &Host, client: &Client) -> Vec<ConnectionReport> {
    let carried = client.connection_summaries();
    host.all_stats()
        .into_iter()
        .enumerate()
        .map(|(i, stats)| ConnectionReport {
            host: "client",
            requests: carried.iter().find(|c| c.id.0 == i).map(|c| c.requests),
            stats,
        })
        .collect()
}

/// The server host's connections with the requests each answered.
pub fn server_connections(host: &Host, server: &Server) -> Vec<ConnectionReport> {
    let mut rows = host_connections(host, "server");
    for s in server.connection_stats() {
        if let Some(row) = rows.get_mut(s.conn.0) {
            row.requests = Some(s.requests_served as usize);
        }
    }
    rows
}

/// Every connection a host had, labelled.
pub fn host_connections(host: &Host, label: &'static str) -> Vec<ConnectionReport> {
    host.all_stats()
        .into_iter()
        .map(|stats| ConnectionReport {
            host: label,
            requests: None,
            stats,
        })
        .collect()
}

fn report(
    experiment: &Experiment,
    client: &Client,
    epoch: Instant,
    end: RunEnd,
    opened: usize,
    connections: Vec<ConnectionReport>,
    workload: WorkloadReport,
) -> RunReport {
    let transactions: Vec<TransactionReport> = client
        .transactions()
        .iter()
        .map(|t| t.report(epoch))
        .collect();
    RunReport {
        totals: Totals::of(&transactions, client, epoch, opened),
        end: match end {
            RunEnd::Done => "done",
            RunEnd::Stalled => "stalled",
            RunEnd::TimeLimit => "time_limit",
        },
        transactions,
        connections,
        knobs: SideKnobs {
            client: experiment.client_knobs.clone(),
            server: experiment.server_knobs.clone(),
        },
        time_wait_ceiling_per_s: time_wait_ceiling(&experiment.client_knobs),
        link: experiment.link.clone(),
        wire: LinkStats::default(),
        workload,
        proxy: None,
        seed: experiment.seed,
    }
}

/// Ports / 2MSL, per second.
pub fn time_wait_ceiling(knobs: &Knobs) -> Option<f64> {
    let two_msl_s = knobs.time_wait.total_micros() as f64 / 1e6;
    (two_msl_s > 0.0).then(|| f64::from(knobs.ports.len()) / two_msl_s)
}

fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpknobs_http::message::Method;

    /// A server host that accepts the connection in TCP but never answers: with no
    /// response timeout nothing is left to happen, and the run says so (`Stalled`);
    /// with one, the client gives up (`Done`, the transaction failed).
    #[test]
    fn a_hang_without_a_response_timeout_is_a_stall() {
        let run = |timeout: Option<Duration>| {
            let mut net = SimNet::new(LinkProfile::default(), 1);
            let client_host = net.add_host("client", Knobs::default());
            let server_host = net.add_host("server", Knobs::default());
            net.host_mut(server_host).listen(SERVER_PORT);
            let config = ClientConfig {
                server: net.host(server_host).addr(),
                port: SERVER_PORT,
                timeout,
                ..ClientConfig::default()
            };
            let mut client = Client::with_workload(config, Workload::repeated(1, 100, Method::Get));
            let limit = net.now() + Duration::from_secs(3600);
            net.run(
                &mut [AppSlot {
                    host: client_host,
                    app: &mut client,
                    is_server: false,
                }],
                limit,
            )
        };
        assert_eq!(run(None), RunEnd::Stalled);
        assert_eq!(run(Some(Duration::from_secs(5))), RunEnd::Done);
    }
}
