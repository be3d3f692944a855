//! One experiment on the simulated network: a client host and a server host (and a
//! proxy host between them, if asked), a workload, knobs per side; the result as a
//! [`Report`].
//!
//! Each transaction is folded into the run's [`Summary`](crate::Summary) as it
//! finishes and kept as a row only if [`Rows`] asks for it, so what a run holds does
//! not grow with its number of requests.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;
use tcpknobs_http::client::{Client, ClientConfig, Sink};
use tcpknobs_http::proxy::{Proxy, ProxyConfig, ProxyMode};
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_http::transaction::{Transaction, TransactionReport};
use tcpknobs_http::workload::Workload;
use tcpknobs_stack::link::LinkStats;
use tcpknobs_stack::pcap::CaptureFormat;
use tcpknobs_stack::trace::{Event, Tracer};
use tcpknobs_stack::{AppSlot, Duration, Instant, Knobs, LinkProfile, RunEnd, SimNet};

use crate::blame::{Blame, Blamer};
use crate::timeline::{render, TimelineRecorder};
use crate::trace_file::TraceWriter;

use crate::report::{
    client_connections, host_connections, server_connections, time_wait_ceiling, ClientReport,
    ConnectionReport, ListenReport, Report, RowsOmitted, ServerReport, SideKnobs, WorkloadReport,
};
use crate::summary::Summarizer;
use crate::LabError;

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
    /// Record the event trace and blame every transaction's time on its causes
    /// ([`crate::blame`]). On by default; off saves the tracing's time in sweeps
    /// that need only totals.
    #[serde(skip)]
    pub blame: bool,
}

/// The files a run writes besides its report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outputs {
    /// Every frame, as a capture.
    pub pcap: Option<PathBuf>,
    /// The event trace, one JSON object a line ([`tcpknobs_stack::trace`]).
    pub trace: Option<PathBuf>,
    /// The run as a picture ([`crate::timeline`]).
    pub timeline: Option<PathBuf>,
}

/// The virtual-time limit of [`Experiment::new`]: an hour, far beyond any chapter
/// figure, short enough that a hang ends (as `stalled` if nothing is left to happen,
/// as `time_limit` if timers keep firing).
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(3600);

impl Experiment {
    /// `workload` over `link` with the defaults everywhere else: the linux profile on
    /// both sides, [`ClientConfig::default`] and [`ServerConfig::default`] (serial,
    /// no response timeout), no proxy, seed 1, [`DEFAULT_MAX_TIME`], [`Rows::Auto`].
    /// Set the public fields to change the rest.
    pub fn new(link: LinkProfile, workload: Workload, label: impl Into<String>) -> Experiment {
        Experiment {
            link,
            seed: 1,
            client_knobs: Knobs::default(),
            server_knobs: Knobs::default(),
            client: ClientConfig::default(),
            server: ServerConfig::default(),
            proxy: None,
            workload,
            workload_label: label.into(),
            max_time: DEFAULT_MAX_TIME,
            rows: Rows::Auto,
            blame: true,
        }
    }
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

/// The run's sink: every transaction into the [`Summarizer`], those with an id below
/// `rows_below` into rows. With a [`Blamer`], a finished transaction waits for the
/// trace of the instant it finished in, then is blamed and folded.
struct Collector {
    epoch: Instant,
    rows_below: usize,
    rows: Vec<TransactionReport>,
    summarizer: Summarizer,
    blamer: Option<Blamer>,
    /// Finished, waiting for the rest of their instant's trace.
    waiting: Vec<Transaction>,
    /// The sum over every blamed transaction.
    blame: Blame,
    /// Where the trace is written too (`--trace`), and the first error doing so.
    trace_out: Option<TraceWriter>,
    /// The network has stopped: no more events will come.
    run_over: bool,
    /// What `--timeline` draws, when asked for.
    timeline: Option<TimelineRecorder>,
}

impl Collector {
    fn fold(&mut self, transaction: Transaction) {
        let blamed = self.blamer.as_mut().and_then(|b| b.blame(&transaction));
        if let Some(b) = &blamed {
            self.blame.merge(&b.blame);
        }
        self.summarizer.add(&transaction);
        if transaction.id < self.rows_below {
            let mut row = transaction.report(self.epoch);
            if let Some(b) = blamed {
                row.blame = Some(b.blame);
                row.spans = b.spans;
            }
            self.rows.push(row);
        }
    }

    /// Blame and fold every transaction still waiting.
    fn settle(&mut self) {
        for t in std::mem::take(&mut self.waiting) {
            self.fold(t);
        }
    }
}

/// The collector, shared by the client (as its [`Sink`]) and the network (as its
/// [`Tracer`]) for the length of a run.
struct Shared(Rc<RefCell<Collector>>);

impl Sink for Shared {
    fn finished(&mut self, transaction: Transaction) {
        let mut c = self.0.borrow_mut();
        if c.blamer.is_some() && !c.run_over {
            c.waiting.push(transaction);
        } else {
            c.fold(transaction);
        }
    }
}

impl Tracer for Shared {
    fn events(&mut self, events: &[Event]) {
        let mut c = self.0.borrow_mut();
        if let Some(out) = c.trace_out.as_mut() {
            out.write(events);
        }
        if let Some(b) = c.blamer.as_mut() {
            b.ingest(events);
        }
        if let Some(t) = c.timeline.as_mut() {
            t.record(events);
        }
        c.settle();
    }
}

const SERVER_PORT: u16 = 80;
const PROXY_PORT: u16 = 8080;

impl Experiment {
    /// Run it on a fresh simulated network; `pcap` captures every frame (raw IP,
    /// nanosecond timestamps of the virtual clock): pcapng, one interface per host and
    /// a comment on each dropped frame, if the name ends in `.pcapng`, classic pcap
    /// otherwise.
    ///
    /// Deterministic: the same experiment gives the same report, field for field,
    /// whatever the machine or the wall clock.
    pub fn run(&self, pcap: Option<&Path>) -> Result<Report, LabError> {
        self.run_with(&Outputs {
            pcap: pcap.map(Path::to_path_buf),
            trace: None,
            timeline: None,
        })
    }

    /// [`Experiment::run`], writing the files `outputs` asks for.
    pub fn run_with(&self, outputs: &Outputs) -> Result<Report, LabError> {
        let pcap = outputs.pcap.as_deref();
        let mut net = SimNet::new(self.link.clone(), self.seed);
        // Hosts in address order: client .1, server .2, proxy .3 (every pair linked
        // with the same profile, so each hop has it).
        let client_host = net.add_host("client", self.client_knobs.clone());
        let server_host = net.add_host("server", self.server_knobs.clone());
        let proxy_host = self
            .proxy
            .map(|_| net.add_host("proxy", self.server_knobs.clone()));
        if let Some(path) = pcap {
            let file = std::fs::File::create(path).map_err(|source| LabError::CaptureCreate {
                path: path.to_owned(),
                source,
            })?;
            let format = CaptureFormat::for_path(path);
            net.capture_to(Box::new(std::io::BufWriter::new(file)), format)
                .map_err(|source| LabError::CaptureWrite {
                    path: path.to_owned(),
                    source,
                })?;
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
        let trace_out = match &outputs.trace {
            Some(path) => Some(TraceWriter::create(path)?),
            None => None,
        };
        let collector = Rc::new(RefCell::new(Collector {
            epoch,
            rows_below: self.rows.below(count),
            rows: Vec::new(),
            summarizer: Summarizer::new()?,
            blamer: self.blame.then(Blamer::new),
            waiting: Vec::new(),
            blame: Blame::default(),
            trace_out,
            run_over: false,
            timeline: outputs.timeline.as_ref().map(|_| TimelineRecorder::new()),
        }));
        if self.blame || outputs.trace.is_some() || outputs.timeline.is_some() {
            net.set_tracer(Box::new(Shared(Rc::clone(&collector))));
        }
        let mut client = Client::with_sink(
            client_config.clone(),
            self.workload.clone(),
            Shared(Rc::clone(&collector)),
        );
        // Connections get rows as transactions do: all of them when every
        // transaction has its row, else the first that many of each host, so that
        // a long run's memory follows its live connections.
        let rows_below = self.rows.below(count);
        let connection_rows = if rows_below >= count {
            usize::MAX
        } else {
            rows_below
        };
        for h in [Some(client_host), Some(server_host), proxy_host]
            .into_iter()
            .flatten()
        {
            net.host_mut(h).keep_stats_below(connection_rows);
        }
        client.keep_summaries_below(connection_rows);
        server.keep_stats_below(connection_rows);
        if let Some(proxy) = proxy.as_mut() {
            proxy.keep_records_below(connection_rows);
        }
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
        // Every event is in: what the client hands over now is blamed at once.
        collector.borrow_mut().settle();
        collector.borrow_mut().run_over = true;
        client.finish(net.now());
        if let Some(path) = pcap {
            net.finish_capture()
                .map_err(|source| LabError::CaptureWrite {
                    path: path.to_owned(),
                    source,
                })?;
        }
        let mut rows = client_connections(net.host(client_host), &client);
        if let Some(p) = proxy_host {
            rows.extend(host_connections(net.host(p), "proxy"));
        }
        rows.extend(server_connections(net.host(server_host), &server));
        let all: usize = [Some(client_host), Some(server_host), proxy_host]
            .into_iter()
            .flatten()
            .map(|h| net.host(h).connection_count())
            .sum();
        let connections = Connections {
            client_opened: net.host(client_host).connection_count(),
            omitted: all.saturating_sub(rows.len()),
            rows,
        };
        drop(client);
        let mut collector = collector.borrow_mut();
        if let Some(out) = collector.trace_out.take() {
            out.finish()?;
        }
        let mut rows = std::mem::take(&mut collector.rows);
        let summarizer = std::mem::replace(&mut collector.summarizer, Summarizer::new()?);
        let run_blame = collector.blamer.as_ref().map(|_| collector.blame);
        let timeline = collector.timeline.take();
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
            connections,
            WorkloadReport {
                label: self.workload_label.clone(),
                strategy: client_config.strategy,
                client: ClientReport::of(&client_config),
                server: ServerReport::of(&server_config),
            },
        );
        report.proxy = proxy.map(|p| p.stats());
        report.listen = ListenReport {
            server: net.host(server_host).listen_counters(),
            proxy: proxy_host.map(|h| net.host(h).listen_counters()),
        };
        report.blame = run_blame;
        if let (Some(path), Some(recorder)) = (&outputs.timeline, timeline) {
            std::fs::write(path, render(&report, &recorder)).map_err(|source| {
                LabError::TimelineWrite {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        report.wire = net.wire_stats();
        Ok(report)
    }
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

/// What a run kept of its connections.
struct Connections {
    /// The rows, each host's first that many (see [`Rows`]).
    rows: Vec<ConnectionReport>,
    /// Connections of all hosts without a row.
    omitted: usize,
    /// Connections the client opened, rows or not.
    client_opened: usize,
}

fn report(
    experiment: &Experiment,
    transactions: Transactions,
    epoch: Instant,
    end: RunEnd,
    connections: Connections,
    workload: WorkloadReport,
) -> Report {
    let Transactions {
        rows,
        summarizer,
        count,
    } = transactions;
    Report {
        totals: summarizer.totals(epoch, connections.client_opened),
        end: match end {
            RunEnd::Done => "done",
            RunEnd::Stalled => "stalled",
            RunEnd::TimeLimit => "time_limit",
        },
        summary: summarizer.summary(),
        rows_omitted: RowsOmitted::of(rows.len(), count),
        transactions: rows,
        connections: connections.rows,
        connections_omitted: connections.omitted,
        knobs: SideKnobs {
            client: experiment.client_knobs.clone(),
            server: experiment.server_knobs.clone(),
        },
        time_wait_ceiling_per_s: time_wait_ceiling(&experiment.client_knobs),
        link: experiment.link.clone(),
        wire: LinkStats::default(),
        workload,
        proxy: None,
        listen: ListenReport::default(),
        blame: None,
        seed: experiment.seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpknobs_http::message::Method;

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

    /// Connection rows follow transaction rows: with every transaction's row, every
    /// connection's; with the first N, each host's first N connections, the others
    /// counted. 20 serial requests open 20 connections on each side.
    #[test]
    fn connection_rows_follow_transaction_rows() {
        let run = |rows: Rows| {
            let mut e = Experiment::new(
                LinkProfile::default(),
                Workload::repeated(20, 100, Method::Get),
                "20 x 100 B",
            );
            e.rows = rows;
            e.blame = false;
            e.run(None).expect("the run completes")
        };
        let all = run(Rows::All);
        assert_eq!((all.connections.len(), all.connections_omitted), (40, 0));
        let three = run(Rows::First(3));
        assert_eq!(
            (three.connections.len(), three.connections_omitted),
            (6, 34)
        );
        let hosts: Vec<&str> = three.connections.iter().map(|c| c.host).collect();
        assert_eq!(
            hosts,
            ["client", "client", "client", "server", "server", "server"]
        );
        assert!(three.connections.iter().all(|c| c.requests == Some(1)));
        assert_eq!(three.connections[..3], all.connections[..3]);
        let none = run(Rows::First(0));
        assert_eq!((none.connections.len(), none.connections_omitted), (0, 40));
        assert_eq!(none.totals, all.totals);
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
