//! The flags of the lab's HTTP client (shared by `run` and `get`) and of its server
//! (shared by `run` and `serve`), and the configurations they become.

use super::*;

/// How the lab's client uses connections: shared by `run` and `get`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Client")]
pub struct ClientFlags {
    /// How the client uses connections.
    #[arg(long, value_enum, default_value = "serial", ignore_case = true)]
    pub strategy: StrategyArg,

    /// Connections open at once (default: 4 for parallel, 1 otherwise).
    #[arg(long, value_name = "N", value_parser = parse_positive_u32)]
    pub connections: Option<u32>,

    /// write() calls the client uses per request (2 exposes Nagle x delayed ACK).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive_u32)]
    pub request_writes: u32,

    /// HTTP version of the client's requests.
    #[arg(long, value_enum, default_value = "1.1")]
    pub http: HttpVersion,

    /// Client pause between a response and the next request that waits for it; when set,
    /// each of run's --requests and get's URLs waits for the one before.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_span)]
    pub think_time: StdDuration,

    /// Give up on a response this long after its request got a connection, or off.
    #[arg(long, value_name = "off|DUR", value_parser = parse_off_or_timeout, help = timeout_help())]
    pub client_timeout: Option<OffOr>,

    /// Retries of an idempotent request whose connection closed before its response.
    #[arg(long, value_name = "N", default_value = "2", value_parser = parse_count)]
    pub retries: u32,
}

/// `run`'s response timeout when `--client-timeout` is not given: none. A slow link is
/// the experiment there, not a fault, and `--max-time` already bounds the run.
pub const RUN_RESPONSE_TIMEOUT: Option<StdDuration> = None;

/// `get`'s response timeout when `--client-timeout` is not given: 5 minutes, about a
/// browser's patience with a real server that has stopped answering.
pub const GET_RESPONSE_TIMEOUT: Option<StdDuration> = Some(StdDuration::from_secs(300));

fn timeout_help() -> String {
    let show = |t: Option<StdDuration>| t.map_or("off".into(), format_duration);
    format!(
        "Give up on a response this long after its request got a connection, or off \
         [run: {}, since --max-time bounds a run; get: {}]; e.g. 5s ends the dumb-proxy hang",
        show(RUN_RESPONSE_TIMEOUT),
        show(GET_RESPONSE_TIMEOUT)
    )
}

impl ClientFlags {
    /// The client these flags describe (server address and port filled in later);
    /// `default_timeout` applies when `--client-timeout` was not given.
    pub fn config(&self, default_timeout: Option<StdDuration>) -> ClientConfig {
        let timeout = self.client_timeout.map_or(default_timeout, |t| t.0);
        ClientConfig {
            strategy: self.strategy.into(),
            connections: self.connections.map(|n| n as usize),
            request_writes: self.request_writes,
            version: match self.http {
                HttpVersion::V10 => Version::Http10,
                HttpVersion::V11 => Version::Http11,
            },
            timeout: timeout.map(to_smol),
            max_retries: self.retries,
            think_time: to_smol(self.think_time),
            ..ClientConfig::default()
        }
    }
}

/// How the lab's server behaves: shared by `run` and `serve`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Server")]
pub struct ServerFlags {
    /// write() calls the server uses per response (head alone first when >= 2).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive_u32)]
    pub response_writes: u32,

    /// Whether the server lets connections persist at all.
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub server_keep_alive: bool,

    /// Idle time after which the server closes a persistent connection (it closes
    /// first, so it holds the TIME_WAIT); the default is nginx's `keepalive_timeout`.
    #[arg(long, value_name = "DUR", default_value = "75s", value_parser = parse_span)]
    pub server_keep_alive_timeout: StdDuration,

    /// Requests per connection; the last response says `Connection: close`.
    #[arg(long, value_name = "N", value_parser = parse_positive_u32)]
    pub server_keep_alive_max: Option<u32>,

    /// Processing time per request; pipelined requests queue behind it.
    #[arg(long, value_name = "DUR", default_value = "0", value_parser = parse_span)]
    pub server_delay: StdDuration,

    /// Frame response bodies with chunked transfer coding (HTTP/1.1 requests).
    #[arg(long)]
    pub server_chunked: bool,

    /// Send no Content-Length: the body ends at close (the connection cannot persist).
    #[arg(long)]
    pub server_no_length: bool,

    /// How the server closes: graceful (half-close, drain input, then close) or abrupt
    /// (close at once: unread input makes the stack send RST).
    #[arg(long, value_enum, default_value = "graceful", ignore_case = true)]
    pub close: CloseArg,

    /// How long a graceful close keeps draining input before it closes for good.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_span)]
    pub server_linger: StdDuration,

    /// Misbehave: send only this many body bytes of each response, then close.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub server_truncate: Option<u64>,

    /// Drop a connection whose request head has not arrived within this time.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_span)]
    pub server_header_timeout: StdDuration,

    /// Drop a connection whose request body stops arriving: the longest gap between two
    /// reads of a body (nginx's client_body_timeout). No response is sent, as nginx
    /// sends none.
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_span)]
    pub server_body_timeout: StdDuration,

    /// Abort (RST) a connection whose client stops reading: the longest gap between two
    /// writes of a response the socket accepted (nginx's send_timeout with
    /// reset_timedout_connection on).
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = parse_span)]
    pub server_send_timeout: StdDuration,

    /// The server's listen backlog: connections that may wait to be accepted (past it,
    /// SYNs and handshake ACKs are dropped) and handshakes that may be under way (past
    /// it, SYNs get SYN cookies or are dropped, `--syn-cookies`), as Linux does. The
    /// default is the profile's (nginx's 511).
    #[arg(long, value_name = "N", value_parser = parse_positive_u32, help = knob_help(
        "The server's listen backlog: connections that may wait to be accepted (past it, \
         SYNs and handshake ACKs are dropped) and handshakes that may be under way (past it, \
         SYNs get SYN cookies, or are dropped with --syn-cookies off), as Linux does",
        |k| k.backlog.to_string(),
    ))]
    pub backlog: Option<u32>,

    /// Connections the server serves at once (a worker pool; default: all, an event
    /// loop). The rest wait in the accept queue, and past `--backlog` their handshakes
    /// are dropped and retried.
    #[arg(long, value_name = "N", value_parser = parse_positive_u32)]
    pub server_workers: Option<u32>,
}

impl ServerFlags {
    /// The server these flags describe (port filled in later).
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            response_writes: self.response_writes,
            keep_alive: self.server_keep_alive,
            keep_alive_timeout: to_smol(self.server_keep_alive_timeout),
            keep_alive_max: self.server_keep_alive_max,
            delay: to_smol(self.server_delay),
            chunked: self.server_chunked,
            no_length: self.server_no_length,
            close: match self.close {
                CloseArg::Graceful => CloseMode::Graceful,
                CloseArg::Abrupt => CloseMode::Abrupt,
            },
            linger: to_smol(self.server_linger),
            truncate: self.server_truncate,
            header_timeout: to_smol(self.server_header_timeout),
            body_timeout: to_smol(self.server_body_timeout),
            send_timeout: to_smol(self.server_send_timeout),
            workers: self.server_workers,
            ..ServerConfig::default()
        }
    }

    /// Apply `--backlog` to the server host's knobs.
    pub fn apply_backlog(&self, knobs: &mut Knobs) {
        if let Some(n) = self.backlog {
            knobs.backlog = n as usize;
        }
    }
}
