//! One experiment on the simulated network: a client host and a server host, a
//! workload, knobs per side; the result as a [`RunReport`].

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use tcpknobs_http::client::{Client, ClientConfig, Strategy};
use tcpknobs_http::message::Version;
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_http::transaction::TransactionReport;
use tcpknobs_http::workload;
use tcpknobs_stack::{AppSlot, ConnStats, Duration, Knobs, LinkProfile, RunEnd, SimNet};

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
    /// Connection strategy.
    pub strategy: Strategy,
    /// Number of requests.
    pub requests: u32,
    /// Response body bytes per request.
    pub size: u64,
    /// write() calls per request.
    pub request_writes: u32,
    /// write() calls per response.
    pub response_writes: u32,
    /// HTTP version of the requests.
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
    /// Virtual-time limit.
    #[serde(skip)]
    pub max_time: Duration,
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
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
    /// The figures.
    #[serde(flatten)]
    pub stats: ConnStats,
}

/// The result of a run; `run --json` prints exactly this.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunReport {
    /// ms from the first request issued to the last transaction finished.
    pub total_ms: f64,
    /// How the run ended: `done`, `stalled` (a hang: nothing left to happen) or
    /// `time_limit`.
    pub end: &'static str,
    /// Transactions that finished without error.
    pub succeeded: usize,
    /// Transactions that failed.
    pub failed: usize,
    /// Client connections opened per second of `total_ms`.
    pub connections_per_s: f64,
    /// Every transaction, in workload order.
    pub transactions: Vec<TransactionReport>,
    /// Every connection, client side first.
    pub connections: Vec<ConnectionReport>,
    /// The knobs of each side.
    pub knobs: SideKnobs,
    /// The link.
    pub link: LinkProfile,
    /// The workload and strategy.
    pub workload: WorkloadReport,
    /// Seed.
    pub seed: u64,
}

/// The workload part of a report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    /// Strategy.
    pub strategy: Strategy,
    /// Requests.
    pub requests: u32,
    /// Body bytes per response.
    pub size: u64,
    /// write() calls per request.
    pub request_writes: u32,
    /// write() calls per response.
    pub response_writes: u32,
    /// HTTP version.
    pub http: String,
}

const SERVER_PORT: u16 = 80;

impl Experiment {
    /// Run it on a fresh simulated network; `pcap` captures every frame.
    pub fn run(&self, pcap: Option<&Path>) -> anyhow::Result<RunReport> {
        let mut net = SimNet::new(self.link.clone(), self.seed);
        let client_host = net.add_host("client", self.client_knobs.clone());
        let server_host = net.add_host("server", self.server_knobs.clone());
        if let Some(path) = pcap {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--pcap: cannot create {}", path.display()))?;
            net.capture_to(Box::new(std::io::BufWriter::new(file)))
                .with_context(|| format!("--pcap: cannot write {}", path.display()))?;
        }
        let mut server = Server::new(ServerConfig {
            port: SERVER_PORT,
            response_writes: self.response_writes,
            keep_alive: true,
        });
        let mut client = Client::new(
            ClientConfig {
                server: net.host(server_host).addr(),
                port: SERVER_PORT,
                strategy: self.strategy,
                request_writes: self.request_writes,
                version: self.version,
            },
            workload::repeated(self.requests, self.size),
        );
        let epoch = net.now();
        let limit = epoch + self.max_time;
        let end = {
            let mut apps = [
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
            net.run(&mut apps, limit)
        };
        client.finish(net.now());
        if let Some(path) = pcap {
            net.finish_capture()
                .with_context(|| format!("--pcap: cannot write {}", path.display()))?;
        }

        let transactions: Vec<TransactionReport> = client
            .transactions()
            .iter()
            .map(|t| t.report(epoch))
            .collect();
        let last_done = client
            .transactions()
            .iter()
            .filter_map(|t| t.timing.done)
            .max()
            .unwrap_or(epoch);
        let total_ms = ms(last_done - epoch);
        let failed = transactions.iter().filter(|t| t.error.is_some()).count();
        let mut connections: Vec<ConnectionReport> = net
            .host(client_host)
            .all_stats()
            .into_iter()
            .map(|stats| ConnectionReport {
                host: "client",
                stats,
            })
            .collect();
        let opened = connections.len();
        connections.extend(net.host(server_host).all_stats().into_iter().map(|stats| {
            ConnectionReport {
                host: "server",
                stats,
            }
        }));
        Ok(RunReport {
            total_ms,
            end: match end {
                RunEnd::Done => "done",
                RunEnd::Stalled => "stalled",
                RunEnd::TimeLimit => "time_limit",
            },
            succeeded: transactions.len() - failed,
            failed,
            connections_per_s: if total_ms > 0.0 {
                opened as f64 / (total_ms / 1000.0)
            } else {
                0.0
            },
            transactions,
            connections,
            knobs: SideKnobs {
                client: self.client_knobs.clone(),
                server: self.server_knobs.clone(),
            },
            link: self.link.clone(),
            workload: WorkloadReport {
                strategy: self.strategy,
                requests: self.requests,
                size: self.size,
                request_writes: self.request_writes,
                response_writes: self.response_writes,
                http: self.version.to_string(),
            },
            seed: self.seed,
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}
