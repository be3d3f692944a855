//! What a run reports: the figures every output prints (`run --json` is [`Report`]
//! serialized), the report forms of the client's and server's settings, and the
//! per-connection rows. `serve` and `get` reuse the parts that mean the same there.

use serde::Serialize;
use tcpknobs_http::blame::Blame;
use tcpknobs_http::client::{Client, ClientConfig, Sink, Strategy};
use tcpknobs_http::proxy::ProxyStats;
use tcpknobs_http::server::{CloseMode, Server, ServerConfig};
use tcpknobs_http::transaction::TransactionReport;
use tcpknobs_stack::host::ListenCounters;
use tcpknobs_stack::link::LinkStats;
use tcpknobs_stack::{ConnStats, Duration, Host, Instant, Knobs, LinkProfile};

use crate::summary::Summary;

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
    /// Client connections opened per second of `total_ms`; `None` when `total_ms` is
    /// 0 (no rate over no time).
    pub connections_per_s: Option<f64>,
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
        let failed = transactions.iter().filter(|t| t.error.is_some()).count();
        Totals::new(
            last_done - epoch,
            transactions.len() - failed,
            failed,
            transactions.iter().map(|t| t.retries).sum(),
            opened,
        )
    }

    /// The figures from their parts: `total` from the first issue to the last
    /// finish, and `opened` client connections.
    pub(crate) fn new(
        total: Duration,
        succeeded: usize,
        failed: usize,
        retries: u32,
        opened: usize,
    ) -> Totals {
        let total_ms = ms(total);
        Totals {
            total_ms,
            succeeded,
            failed,
            retries,
            connections_per_s: (total_ms > 0.0).then(|| opened as f64 / (total_ms / 1000.0)),
        }
    }
}

/// Rows left out of the report, and how to get them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowsOmitted {
    /// Transactions without a row.
    pub count: usize,
    /// The flag that prints them.
    pub hint: String,
}

impl RowsOmitted {
    /// `Some` when `kept` of `count` transactions have rows and others do not.
    pub fn of(kept: usize, count: usize) -> Option<RowsOmitted> {
        (kept < count).then(|| RowsOmitted {
            count: count - kept,
            hint: "--rows all prints every transaction, --rows N the first N".to_string(),
        })
    }
}

/// The result of a run; `run --json` prints exactly this.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The headline figures (flattened: `total_ms`, `succeeded`, ... at top level).
    #[serde(flatten)]
    pub totals: Totals,
    /// How the run ended: `done`, `stalled` (a hang: nothing left to happen) or
    /// `time_limit`.
    pub end: &'static str,
    /// Aggregates over every transaction.
    pub summary: Summary,
    /// The transactions without a row, when [`Rows`](crate::Rows) left some out.
    pub rows_omitted: Option<RowsOmitted>,
    /// The transactions [`Rows`](crate::Rows) kept, in workload order.
    pub transactions: Vec<TransactionReport>,
    /// Every connection, client side first; with transaction rows left out
    /// (`--rows`), only the first that many connections of each host.
    pub connections: Vec<ConnectionReport>,
    /// Connections without a row in `connections`, all hosts together.
    pub connections_omitted: usize,
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
    /// What the listeners did with SYNs beyond their queues and with SYN cookies.
    pub listen: ListenReport,
    /// Where the time of every transaction went, summed over the run (`null` when
    /// the run kept no trace): the same causes as each transaction's `blame`.
    pub blame: Option<Blame>,
    /// Seed.
    pub seed: u64,
}

/// The listening hosts' [`ListenCounters`]: the server's, and the proxy's when there
/// is one.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ListenReport {
    /// The server host's.
    pub server: ListenCounters,
    /// The proxy host's; `None` without a proxy.
    pub proxy: Option<ListenCounters>,
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

/// The client host's connections with what each carried.
pub fn client_connections<S: Sink>(host: &Host, client: &Client<S>) -> Vec<ConnectionReport> {
    let carried: std::collections::HashMap<usize, usize> = client
        .connection_summaries()
        .iter()
        .map(|c| (c.id.0, c.requests))
        .collect();
    host.all_stats()
        .into_iter()
        .enumerate()
        .map(|(i, stats)| ConnectionReport {
            host: "client",
            requests: carried.get(&i).copied(),
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

/// Ports / 2MSL, per second.
pub fn time_wait_ceiling(knobs: &Knobs) -> Option<f64> {
    let two_msl_s = knobs.time_wait.total_micros() as f64 / 1e6;
    (two_msl_s > 0.0).then(|| f64::from(knobs.ports.len()) / two_msl_s)
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rate needs time: 4 connections over 200 ms are 20 a second; over no time
    /// there is no rate, not a rate of 0.
    #[test]
    fn the_connection_rate_is_over_the_run_and_absent_without_one() {
        let t = Totals::new(Duration::from_millis(200), 4, 0, 0, 4);
        assert_eq!(t.connections_per_s, Some(20.0));
        let t = Totals::new(Duration::ZERO, 0, 1, 0, 1);
        assert_eq!(t.connections_per_s, None);
    }
}
