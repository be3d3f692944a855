//! One experiment on the simulated network: a client host and a server host, a
//! workload, knobs per side; the result as a [`RunReport`].
//!
//! Each transaction is folded into the run's [`Summary`] as it finishes and kept as a
//! row only if [`Rows`] asks for it, so what a run holds does not grow with its
//! number of requests.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use hdrhistogram::Histogram;
use serde::Serialize;
use tcpknobs_http::client::{Client, ClientConfig, Sink, Strategy};
use tcpknobs_http::proxy::{Proxy, ProxyConfig, ProxyMode, ProxyStats};
use tcpknobs_http::server::{CloseMode, Server, ServerConfig};
use tcpknobs_http::transaction::{Transaction, TransactionReport};
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
    /// Which transactions keep a row in the report.
    #[serde(skip)]
    pub rows: Rows,
}

/// Runs with at most this many transactions keep every row unless told otherwise;
/// larger ones keep none (the summary always has them all).
pub const ROWS_BY_DEFAULT: usize = 10_000;

/// Which transactions keep a full row in the report (`--rows`). The summary counts
/// every transaction whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rows {
    /// Every row up to [`ROWS_BY_DEFAULT`] transactions, none above.
    #[default]
    Auto,
    /// Every row.
    All,
    /// The first N in workload order (0: none).
    First(usize),
}

impl Rows {
    /// Rows are kept for the transactions whose id is below this, in a run of
    /// `transactions`.
    pub fn below(self, transactions: usize) -> usize {
        match self {
            Rows::Auto if transactions <= ROWS_BY_DEFAULT => transactions,
            Rows::Auto => 0,
            Rows::All => transactions,
            Rows::First(n) => n.min(transactions),
        }
    }
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
    fn new(
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
            connections_per_s: if total_ms > 0.0 {
                opened as f64 / (total_ms / 1000.0)
            } else {
                0.0
            },
        }
    }
}

/// Significant decimal digits the timing histograms keep: values are recorded in
/// µs, exactly below 2,048 µs and within 1/1,024 above (HdrHistogram's buckets).
pub const HISTOGRAM_DIGITS: u8 = 3;

/// The percentiles reported for each timing, and their names (`p99.9`: `p99_9_ms` in JSON).
pub const PERCENTILES: [(f64, &str); 4] =
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")];

/// One timing (`total_ms`, `connect_ms`, ...) over the transactions that succeeded:
/// count, sum, minimum and maximum exactly, percentiles from an HDR histogram.
#[derive(Clone, Debug)]
struct TimingFold {
    count: u64,
    sum_us: u64,
    min_us: u64,
    max_us: u64,
    histogram: Histogram<u64>,
}

impl TimingFold {
    fn new() -> Result<TimingFold, hdrhistogram::CreationError> {
        Ok(TimingFold {
            count: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
            // 1 µs up, growing to the largest value recorded: sized for what the run
            // measured, not for the 2^63 µs the clock could hold (2 MB of zeroes).
            histogram: Histogram::new(HISTOGRAM_DIGITS)?,
        })
    }

    fn add(&mut self, value: Duration) {
        let us = value.total_micros();
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        if self.histogram.record(us).is_err() {
            // Only when growing would overflow the address space: keep the count.
            self.histogram.saturating_record(us);
        }
    }

    /// HdrHistogram's value at `quantile` (the top of the bucket holding the exact
    /// order statistic), no more than the exact maximum.
    fn percentile_us(&self, quantile: f64) -> Option<u64> {
        (self.count > 0).then(|| self.histogram.value_at_quantile(quantile).min(self.max_us))
    }

    fn summary(&self) -> TimingSummary {
        let us_ms = |us: u64| us as f64 / 1000.0;
        let at = |q: f64| self.percentile_us(q).map(us_ms);
        let [p50, p90, p99, p99_9] = PERCENTILES.map(|(q, _)| at(q));
        TimingSummary {
            count: self.count,
            sum_ms: us_ms(self.sum_us),
            min_ms: (self.count > 0).then(|| us_ms(self.min_us)),
            p50_ms: p50,
            p90_ms: p90,
            p99_ms: p99,
            p99_9_ms: p99_9,
            max_ms: (self.count > 0).then(|| us_ms(self.max_us)),
        }
    }
}

/// The failures of one kind.
#[derive(Clone, Debug)]
struct FailureFold {
    count: u64,
    first_id: usize,
    first_error: String,
}

/// A run's transactions folded one at a time into exact aggregates, in memory that
/// does not grow with their number (the histograms grow with the log of the largest
/// value: about 150 kB each for values up to an hour).
#[derive(Clone, Debug)]
pub struct Summarizer {
    succeeded: usize,
    failed: usize,
    retries: u32,
    last_done: Option<Instant>,
    /// wait, connect, ttfb, transfer, total: the order of a transaction's life.
    timings: [TimingFold; 5],
    failures: BTreeMap<&'static str, FailureFold>,
}

impl Summarizer {
    /// Nothing folded yet.
    pub fn new() -> anyhow::Result<Summarizer> {
        let fold = || TimingFold::new().context("the timing histograms");
        Ok(Summarizer {
            succeeded: 0,
            failed: 0,
            retries: 0,
            last_done: None,
            timings: [fold()?, fold()?, fold()?, fold()?, fold()?],
            failures: BTreeMap::new(),
        })
    }

    /// Fold in one finished transaction.
    pub fn add(&mut self, t: &Transaction) {
        self.retries = self.retries.saturating_add(t.retries);
        if let Some(done) = t.timing.done {
            self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
        }
        let Some(error) = &t.error else {
            self.succeeded += 1;
            let s = t.timing.spans();
            for (fold, span) in self
                .timings
                .iter_mut()
                .zip([s.wait, s.connect, s.ttfb, s.transfer, s.total])
            {
                if let Some(span) = span {
                    fold.add(span);
                }
            }
            return;
        };
        self.failed += 1;
        let group = self
            .failures
            .entry(error.kind())
            .or_insert_with(|| FailureFold {
                count: 0,
                first_id: t.id,
                first_error: error.to_string(),
            });
        group.count += 1;
        if t.id < group.first_id {
            group.first_id = t.id;
            group.first_error = error.to_string();
        }
    }

    /// The headline figures, timed from `epoch`, with `opened` client connections.
    pub fn totals(&self, epoch: Instant, opened: usize) -> Totals {
        let last_done = self.last_done.unwrap_or(epoch);
        Totals::new(
            last_done - epoch,
            self.succeeded,
            self.failed,
            self.retries,
            opened,
        )
    }

    /// The aggregates as reported.
    pub fn summary(&self) -> Summary {
        let [wait, connect, ttfb, transfer, total] =
            self.timings.each_ref().map(TimingFold::summary);
        let mut failures: Vec<FailureSummary> = self
            .failures
            .iter()
            .map(|(kind, f)| FailureSummary {
                kind,
                count: f.count,
                first_id: f.first_id,
                first_error: f.first_error.clone(),
            })
            .collect();
        // The most frequent first; kinds in name order among equals (the map's).
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        Summary {
            count: self.succeeded + self.failed,
            succeeded: self.succeeded,
            failed: self.failed,
            timings: Timings {
                wait,
                connect,
                ttfb,
                transfer,
                total,
            },
            failures,
        }
    }
}

/// Exact aggregates over every transaction of a run (`summary` in JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Transactions, finished or not.
    pub count: usize,
    /// Those that succeeded.
    pub succeeded: usize,
    /// Those that failed.
    pub failed: usize,
    /// Each timing over the transactions that succeeded.
    pub timings: Timings,
    /// The failures grouped by error kind, the most frequent first.
    pub failures: Vec<FailureSummary>,
}

/// The five timings of the rows, in the order of a transaction's life.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timings {
    /// Queued until given a connection.
    pub wait: TimingSummary,
    /// The handshake.
    pub connect: TimingSummary,
    /// Request sent until the first response byte.
    pub ttfb: TimingSummary,
    /// First response byte until the last.
    pub transfer: TimingSummary,
    /// Queued until done.
    pub total: TimingSummary,
}

/// One timing's aggregates; the minimum, percentiles and maximum are `None` (null)
/// when no transaction had it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimingSummary {
    /// Transactions it was measured on.
    pub count: u64,
    /// The sum, exact.
    pub sum_ms: f64,
    /// The smallest, exact.
    pub min_ms: Option<f64>,
    /// The median (HdrHistogram, [`HISTOGRAM_DIGITS`] digits, capped at `max_ms`).
    pub p50_ms: Option<f64>,
    /// The 90th percentile.
    pub p90_ms: Option<f64>,
    /// The 99th percentile.
    pub p99_ms: Option<f64>,
    /// The 99.9th percentile.
    pub p99_9_ms: Option<f64>,
    /// The largest, exact.
    pub max_ms: Option<f64>,
}

/// The failures of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureSummary {
    /// The error kind, as in `transactions[].error_kind.kind`.
    pub kind: &'static str,
    /// Transactions that failed so.
    pub count: u64,
    /// The first of them in workload order.
    pub first_id: usize,
    /// Its error, in words.
    pub first_error: String,
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

/// The run's sink: every transaction into the [`Summarizer`], those with an id below
/// `rows_below` into rows.
struct Collector {
    epoch: Instant,
    rows_below: usize,
    rows: Vec<TransactionReport>,
    summarizer: Summarizer,
}

impl Sink for Collector {
    fn finished(&mut self, transaction: Transaction) {
        self.summarizer.add(&transaction);
        if transaction.id < self.rows_below {
            self.rows.push(transaction.report(self.epoch));
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
    /// Aggregates over every transaction.
    pub summary: Summary,
    /// The transactions without a row, when [`Rows`] left some out.
    pub rows_omitted: Option<RowsOmitted>,
    /// The transactions [`Rows`] kept, in workload order.
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
        let epoch = net.now();
        let count = self.workload.len();
        let collector = Collector {
            epoch,
            rows_below: self.rows.below(count),
            rows: Vec::new(),
            summarizer: Summarizer::new()?,
        };
        let mut client = Client::with_sink(client_config.clone(), self.workload.clone(), collector);
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
        let Collector {
            mut rows,
            summarizer,
            ..
        } = client.into_sink();
        rows.sort_by_key(|t| t.id);
        let mut report = report(
            self,
            Transactions {
                rows,
                summarizer,
                count,
            },
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
pub fn client_connections<S: Sink>(host: &Host, client: &Client<S>) -> Vec<ConnectionReport> {
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

/// What a run kept of its transactions.
struct Transactions {
    /// The rows, in workload order.
    rows: Vec<TransactionReport>,
    /// Every transaction, folded.
    summarizer: Summarizer,
    /// How many there were.
    count: usize,
}

fn report(
    experiment: &Experiment,
    transactions: Transactions,
    epoch: Instant,
    end: RunEnd,
    opened: usize,
    connections: Vec<ConnectionReport>,
    workload: WorkloadReport,
) -> RunReport {
    let Transactions {
        rows,
        summarizer,
        count,
    } = transactions;
    RunReport {
        totals: summarizer.totals(epoch, opened),
        end: match end {
            RunEnd::Done => "done",
            RunEnd::Stalled => "stalled",
            RunEnd::TimeLimit => "time_limit",
        },
        summary: summarizer.summary(),
        rows_omitted: RowsOmitted::of(rows.len(), count),
        transactions: rows,
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
    use tcpknobs_http::transaction::TransactionError;

    /// Failures are grouped under the name JSON gives each error kind.
    #[test]
    fn failure_kinds_are_the_json_names() {
        let detail = String::from("x");
        for e in [
            TransactionError::PortsExhausted {
                detail: detail.clone(),
            },
            TransactionError::ConnectionReset,
            TransactionError::ConnectionRefused,
            TransactionError::ConnectTimeout { syns: 1 },
            TransactionError::NoArpReply {
                addr: detail.clone(),
            },
            TransactionError::ClosedEarly,
            TransactionError::Truncated {
                received: 1,
                expected: None,
            },
            TransactionError::MalformedResponse { detail },
            TransactionError::BodyMismatch { offset: 1 },
            TransactionError::Timeout { after_ms: 1 },
            TransactionError::DependencyFailed,
            TransactionError::UnrequestedUpgrade,
            TransactionError::Unfinished,
        ] {
            let json = serde_json::to_value(&e).expect("serializes");
            assert_eq!(json["kind"], e.kind(), "{e:?}");
        }
    }

    /// The default keeps every row up to the threshold and none above; a number is a
    /// prefix in workload order.
    #[test]
    fn rows_kept() {
        assert_eq!(Rows::Auto.below(ROWS_BY_DEFAULT), ROWS_BY_DEFAULT);
        assert_eq!(Rows::Auto.below(ROWS_BY_DEFAULT + 1), 0);
        assert_eq!(Rows::All.below(1_000_000), 1_000_000);
        assert_eq!(Rows::First(5).below(3), 3);
        assert_eq!(Rows::First(5).below(30), 5);
        assert_eq!(RowsOmitted::of(3, 3), None);
        assert_eq!(RowsOmitted::of(5, 30).map(|o| o.count), Some(25));
    }

    /// Durations under 2,048 µs are their own buckets: percentiles of them are exact.
    #[test]
    fn small_durations_have_exact_percentiles() {
        let mut fold = TimingFold::new().expect("a histogram");
        for us in 1..=2000 {
            fold.add(Duration::from_micros(us));
        }
        let s = fold.summary();
        assert_eq!((s.min_ms, s.max_ms), (Some(0.001), Some(2.0)));
        assert_eq!((s.p50_ms, s.p90_ms), (Some(1.0), Some(1.8)));
        assert_eq!((s.p99_ms, s.p99_9_ms), (Some(1.98), Some(1.998)));
        assert_eq!(s.sum_ms, 2001.0);
        let empty = TimingFold::new().expect("a histogram").summary();
        assert_eq!((empty.count, empty.min_ms, empty.p50_ms), (0, None, None));
    }

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
