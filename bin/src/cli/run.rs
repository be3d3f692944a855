//! `run`'s options, and the [`Experiment`] they describe.

use super::*;

/// Options of `run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub link: LinkFlags,

    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Default knob values for both sides.
    #[arg(
        long,
        value_enum,
        default_value = "linux",
        help_heading = "TCP knobs (plain flag: both sides; --client-X / --server-X: one side)"
    )]
    pub profile: ProfileArg,

    /// When every ephemeral port is live or in TIME_WAIT: fail the connect, or wait
    /// for the first tuple to expire.
    #[arg(
        long,
        value_enum,
        default_value = "fail",
        help_heading = "TCP knobs (plain flag: both sides; --client-X / --server-X: one side)"
    )]
    pub on_exhaustion: ExhaustionArg,

    /// A page instead of --requests: the HTML object first, then groups of objects the
    /// client learns about only from it (e.g. 10k+3x20k, the book's example).
    #[arg(long, value_name = "HTML+NxSIZE", value_parser = parse_page, conflicts_with_all = ["requests", "size"], help_heading = "Workload")]
    pub page: Option<PageSpec>,

    /// Number of requests.
    #[arg(long, value_name = "N", default_value = "4", value_parser = parse_positive_u32, help_heading = "Workload")]
    pub requests: u32,

    /// Response body size of each request (e.g. 100, 64k, 1m).
    #[arg(long, value_name = "BYTES", default_value = "100", value_parser = parse_bytes, help_heading = "Workload")]
    pub size: u64,

    /// Request method (a page's HTML is always fetched with GET).
    #[arg(
        long,
        value_enum,
        default_value = "get",
        ignore_case = true,
        help_heading = "Workload"
    )]
    pub method: MethodArg,

    #[command(flatten)]
    pub client: ClientFlags,

    #[command(flatten)]
    pub server: ServerFlags,

    /// Put a proxy host between client and server: smart (strips hop-by-hop headers,
    /// its own persistent connections) or dumb (relays blindly: the keep-alive hang).
    #[arg(long, value_enum, ignore_case = true, help_heading = "Server")]
    pub via_proxy: Option<ProxyArg>,

    /// Give up when virtual time passes this (unfinished transactions are reported).
    #[arg(long, value_name = "DUR", default_value = "1h", value_parser = parse_span, help_heading = "Output")]
    pub max_time: StdDuration,

    /// Print one JSON object instead of the table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Transactions that get a row in the table or JSON: all, none, or N (the first N
    /// in workload order). The summary (counts, sums, min, max, percentiles, failures
    /// by kind) always covers every transaction. When rows are left out, each host
    /// lists only as many connections (its first N), so a long run's memory follows
    /// its live connections. [default: all up to 10,000 transactions, none above]
    #[arg(long, value_name = "all|none|N", value_parser = parse_rows, help_heading = "Output")]
    pub rows: Option<Rows>,

    /// Write every frame of the run to FILE (raw IP, ns timestamps); the format follows
    /// the extension: .pcapng gives pcapng with one interface per host and a comment on
    /// each dropped frame, anything else classic pcap.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub pcap: Option<PathBuf>,

    /// Also write the transactions that have a row (--rows) as an HTTP Archive (HAR
    /// 1.2), the JSON format browsers' developer tools export: open it in Chrome or Firefox DevTools
    /// (Network panel, import) or any HAR viewer for a waterfall of each request's
    /// blocked, connect, send, wait and receive times, with the heads sent and
    /// received. Failed transactions are entries with status 0 and `_error`.
    /// The file is created before the run.
    #[arg(long, value_name = "FILE.har", help_heading = "Output")]
    pub har: Option<PathBuf>,

    /// Write the event trace to this file, one JSON object a line, times in ns:
    /// every segment sent (and why: new data, delayed ACK, RTO retransmission, ...)
    /// and received, what held written data (congestion window, Nagle, ...), when
    /// an ACK was owed, what the link did with each frame, and the HTTP moments.
    /// docs/json.md ("Fields of `run --trace`") lists the fields.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub trace: Option<PathBuf>,

    /// Draw the run as one self-contained SVG (any browser opens it): a waterfall of
    /// the transactions, one row per connection, each bar split and coloured by
    /// where its time went (the causes of --blame); the congestion windows; and a
    /// packet sequence diagram of the first 300 segments.
    #[arg(long, value_name = "FILE.svg", help_heading = "Output")]
    pub timeline: Option<PathBuf>,

    /// Show where each transaction's time went: a row per transaction with a column
    /// per cause (handshake, propagation, slow_start, nagle, delayed_ack, queued,
    /// ...), and the sums over the run. The causes of a transaction add up to its
    /// total. JSON always carries them (`blame`).
    #[arg(long, help_heading = "Output")]
    pub blame: bool,
}

/// `--rows`: `all`, `none` or a number of rows.
fn parse_rows(s: &str) -> Result<Rows, String> {
    match s {
        "all" => Ok(Rows::All),
        "none" => Ok(Rows::First(0)),
        n => n
            .parse()
            .map(Rows::First)
            .map_err(|_| format!("expected all, none or a number of rows, got '{s}'")),
    }
}

impl RunArgs {
    /// The experiment these flags describe.
    pub fn experiment(&self) -> Experiment {
        let mut client = side_knobs(self.profile, &self.knobs, Side::Client);
        let mut server = side_knobs(self.profile, &self.knobs, Side::Server);
        let on_exhaustion = match self.on_exhaustion {
            ExhaustionArg::Fail => OnExhaustion::Fail,
            ExhaustionArg::Wait => OnExhaustion::Wait,
        };
        client.on_exhaustion = on_exhaustion;
        server.on_exhaustion = on_exhaustion;
        self.server.apply_backlog(&mut server);
        let l = &self.link;
        let link = LinkProfile {
            one_way_delay_ns: u64::try_from(l.rtt.as_nanos() / 2).unwrap_or(u64::MAX),
            bandwidth_bps: l.bandwidth,
            loss: l.loss,
            queue_bytes: l.queue.map(|q| usize::try_from(q).unwrap_or(usize::MAX)),
            mtu: l.mtu,
        };
        let method = Method::from(self.method);
        let (workload, label) = workload_of(self.page.as_ref(), self.requests, self.size, &method);
        let workload = if self.client.think_time.is_zero() || self.page.is_some() {
            workload
        } else {
            workload.chained()
        };
        Experiment {
            link,
            seed: l.seed,
            client_knobs: client,
            server_knobs: server,
            client: self.client.config(RUN_RESPONSE_TIMEOUT),
            server: self.server.config(),
            proxy: self.via_proxy.map(|p| match p {
                ProxyArg::Smart => ProxyMode::Smart,
                ProxyArg::Dumb => ProxyMode::Dumb,
            }),
            workload,
            workload_label: label,
            max_time: to_smol(self.max_time),
            rows: self.rows.unwrap_or_default(),
            blame: true,
        }
    }
}
