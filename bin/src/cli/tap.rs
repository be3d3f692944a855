//! The TAP commands' options (`serve`, `get`): where the host sits on the TAP, and the
//! `http://IP[:PORT]/PATH` and CIDR arguments.

use super::*;

/// Where the host sits: the TAP, its address, what the process adds to the path.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "TAP")]
pub struct TapFlags {
    /// The TAP interface (sudo scripts/tap-up.sh creates tk0 in namespace tcpknobs).
    #[arg(long, value_name = "IF", default_value = "tk0")]
    pub tap: String,
    /// This host's address and prefix; the kernel's side of tk0 is 10.77.0.1/24.
    #[arg(long, value_name = "CIDR", default_value = "10.77.0.2/24", value_parser = parse_cidr)]
    pub ip: Ipv4Cidr,
    /// Default gateway for addresses outside the subnet (must be inside it).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<Ipv4Addr>,
    /// Round trip added inside the process (half each way), on top of the real path.
    #[arg(long, value_name = "DUR", value_parser = parse_rtt)]
    pub rtt: Option<StdDuration>,
    /// Drop probability added inside the process, each direction (0.02 or 2%).
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub loss: Option<f64>,
    /// Seed for the added loss and the initial sequence numbers (default: from the
    /// clock, so a run does not repeat the last run's ports and initial sequence
    /// numbers: a kernel still holding that tuple answers the SYN with the old
    /// connection's ACK, which costs an RST and a 1 s SYN timeout).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Capture the frames crossing the TAP to FILE (Ethernet, wall-clock ns); the format
    /// follows the extension: .pcapng gives pcapng with one interface named after the
    /// TAP, anything else classic pcap.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Frames already waiting on the TAP handed to the stack at once, up to N (1-64), and
    /// answered after the last, as Linux's NAPI poll with GRO handles a burst (a segment
    /// with PSH, SYN, FIN or RST ends one): a bulk burst is acknowledged once, a lone
    /// segment is processed alone. 1: every frame is
    /// processed and answered on its own, so a receiver that falls behind still ACKs
    /// every second segment (about half the bulk throughput; README, Performance).
    #[arg(long, value_name = "N", default_value_t = MAX_RX_BATCH as u32, value_parser = parse_rx_batch)]
    pub rx_batch: u32,
}

impl TapFlags {
    /// The setup these flags describe.
    pub fn setup(&self) -> TapSetup {
        TapSetup {
            tap: self.tap.clone(),
            ip: self.ip,
            gateway: self.gateway,
            rtt: self.rtt,
            loss: self.loss,
            seed: self.seed,
            pcap: self.pcap.clone(),
            rx_batch: self.rx_batch,
        }
    }
}

/// Options of `serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub tap: TapFlags,

    /// Port to listen on.
    #[arg(long, value_name = "P", default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    #[command(flatten)]
    pub server: ServerFlags,

    /// The server's knobs (`serve` plays the server side: the --client-X forms are
    /// refused).
    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Default knob values.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,

    /// Stop by itself after this long (default: run until Ctrl-C or SIGTERM).
    #[arg(long, value_name = "DUR", value_parser = parse_span, help_heading = "Output")]
    pub max_time: Option<StdDuration>,

    /// Print the final statistics as one JSON object instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Write this host's event trace to this file as the server runs, one JSON
    /// object a line, times in ns since it started: every segment sent (and why)
    /// and received, what held written data, when an ACK was owed, the server's
    /// HTTP moments. docs/json.md lists the fields.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub trace: Option<PathBuf>,

    /// When it stops, draw the congestion window of every connection it served, on
    /// one time axis, as one SVG (`run --timeline`'s picture of a server; it has no
    /// transactions of its own, and over a TAP only this host is traced).
    #[arg(long, value_name = "FILE.svg", help_heading = "Output")]
    pub timeline: Option<PathBuf>,
}

/// Options of `get`.
#[derive(Args, Debug, Clone)]
pub struct GetArgs {
    #[command(flatten)]
    pub tap: TapFlags,

    /// http://IP[:PORT]/PATH, one request each, all to the same server (no DNS, no
    /// https). /bytes/N targets are checked byte by byte against the lab's pattern.
    #[arg(value_name = "URL", required = true, value_parser = parse_url)]
    // `[:PORT]` is help text for clap, not a rustdoc link.
    #[allow(rustdoc::broken_intra_doc_links)]
    pub urls: Vec<Url>,

    #[command(flatten)]
    pub client: ClientFlags,

    /// The client's knobs (`get` plays the client side: the --server-X forms are
    /// refused).
    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Default knob values.
    #[arg(long, value_enum, default_value = "linux")]
    pub profile: ProfileArg,

    /// Give up after this long (unfinished transactions are reported); default: run
    /// until every URL is answered or has failed, or Ctrl-C.
    #[arg(long, value_name = "DUR", value_parser = parse_span, help_heading = "Output")]
    pub max_time: Option<StdDuration>,

    /// Print one JSON object instead of the table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// Also write the transactions as an HTTP Archive (HAR 1.2), the JSON
    /// format browsers' developer tools export: open it in Chrome or Firefox DevTools
    /// (Network panel, import) or any HAR viewer for a waterfall of each request's
    /// blocked, connect, send, wait and receive times, with the heads sent and
    /// received. Failed transactions are entries with status 0 and `_error`.
    /// Dates are the wall clock's. The file is created before the run.
    #[arg(long, value_name = "FILE.har", help_heading = "Output")]
    pub har: Option<PathBuf>,

    /// Show where each transaction's time went, as `run --blame` does, from what this
    /// host can see: its handshake, what held its request (Nagle, the windows), its
    /// retransmissions; from the moment the request's last byte left to the last
    /// response byte is `peer` (the network and the real server together). JSON
    /// always carries it (`blame`).
    #[arg(long, help_heading = "Output")]
    pub blame: bool,

    /// Write this host's event trace to this file, one JSON object a line, times in
    /// ns since the run started: what `run --trace` writes, for our side only (the
    /// peer is a real stack). docs/json.md lists the fields.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub trace: Option<PathBuf>,

    /// Draw the transactions as one SVG: a waterfall, one row per connection, each
    /// bar split and coloured by where its time went (--blame's causes). No packet
    /// diagram over a TAP: only this host is traced (--pcap captures both
    /// directions).
    #[arg(long, value_name = "FILE.svg", help_heading = "Output")]
    pub timeline: Option<PathBuf>,
}

/// One `http://IP[:PORT]/PATH` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Server address.
    pub addr: Ipv4Addr,
    /// Server port.
    pub port: u16,
    /// Request target: path and query.
    pub target: String,
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.addr, self.port, self.target)
    }
}

/// `http://IP[:PORT][/PATH]`; anything else is refused with the reason.
pub fn parse_url(s: &str) -> Result<Url, String> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(format!(
            "'{s}' is not a URL: expected http://IP[:PORT]/PATH, e.g. http://10.77.0.1:8000/"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "'{s}': only http:// URLs are supported (tcpknobs speaks plain HTTP/1.x)"
        ));
    }
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let target = target.split('#').next().unwrap_or("/");
    if let Some(bad) = target.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "'{s}': the path may hold only visible ASCII characters (found {bad:?}); \
             percent-encode the rest"
        ));
    }
    if authority.starts_with('[') {
        return Err(format!(
            "'{s}': the host must be an IPv4 address (the lab's stack is IPv4 only)"
        ));
    }
    if authority.contains('@') {
        return Err(format!("'{s}': user information in URLs is not supported"));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("'{s}': the port must be a number from 1 to 65535"))?;
            (h, port)
        }
        None => (authority, 80),
    };
    let addr = host.parse::<Ipv4Addr>().map_err(|_| {
        format!("'{s}': the host must be an IPv4 address such as 10.77.0.1 (tcpknobs has no DNS)")
    })?;
    Ok(Url {
        addr,
        port,
        target: target.to_string(),
    })
}

/// `10.77.0.2/24`: an address with its prefix length.
pub fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let Some((addr, prefix)) = s.split_once('/') else {
        return Err(format!(
            "'{s}' needs a prefix length: an address and its subnet, e.g. 10.77.0.2/24"
        ));
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("'{addr}' is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=30).contains(p))
        .ok_or_else(|| {
            format!("'/{prefix}': the prefix length must be 1 to 30 (a subnet with a peer)")
        })?;
    let cidr = Ipv4Cidr::new(addr, prefix);
    if addr == cidr.network().address() || Some(addr) == cidr.broadcast() {
        return Err(format!(
            "{addr} is the network or broadcast address of {}: pick a host address",
            cidr.network()
        ));
    }
    Ok(cidr)
}
