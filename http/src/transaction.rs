//! One HTTP request/response exchange and where its time went.
//!
//! The timestamps follow the transaction's life (the same names in every output, the
//! table's columns and `docs/json.md`); chapter item 5 splits latency the same way:
//! connect, send request, server processing, response transfer.

use std::sync::Arc;

use serde::Serialize;

use crate::blame::{Blame, BlameSpan};
use crate::message::Method;
use tcpknobs_stack::{Duration, Instant};

/// The moments of one transaction, in the client host's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// The workload issued the request.
    pub queued: Option<Instant>,
    /// A connection was opened for it, or it was given an open one.
    pub connect_start: Option<Instant>,
    /// The handshake completed (equal to `connect_start` when reused).
    pub connected: Option<Instant>,
    /// The last request byte was offered to TCP.
    pub request_sent: Option<Instant>,
    /// The first response byte was read, an interim (1xx) response's included: it
    /// shows the server has the request.
    pub first_byte: Option<Instant>,
    /// The last body byte was read, or the transaction failed.
    pub done: Option<Instant>,
}

impl Timing {
    /// The durations between the moments, each once both ends are known.
    pub fn spans(&self) -> Spans {
        let span = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        Spans {
            wait: span(self.queued, self.connect_start),
            connect: span(self.connect_start, self.connected),
            ttfb: span(self.request_sent, self.first_byte),
            transfer: span(self.first_byte, self.done),
            total: span(self.queued, self.done),
        }
    }
}

/// Where a transaction's time went: the `*_ms` durations of every output, computed in
/// one place so the rows and the aggregates over them agree to the microsecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spans {
    /// Queued until given a connection.
    pub wait: Option<Duration>,
    /// The handshake (zero on a reused connection).
    pub connect: Option<Duration>,
    /// Request sent until the first response byte.
    pub ttfb: Option<Duration>,
    /// First response byte until the last.
    pub transfer: Option<Duration>,
    /// Queued until done.
    pub total: Option<Duration>,
}

/// The request and response heads byte for byte as they crossed the wire, kept for
/// archives that show them (HAR's request and response objects list the header fields
/// and the size of each head). Raw bytes, two allocations, are the smallest form; the
/// parsers of [`message`](crate::message) read them back. Held only while the
/// transaction is, and by the rows a report keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Heads {
    /// The request head the client wrote: request line, fields and the empty line (the
    /// last attempt's, when retried); empty until written.
    pub request: Vec<u8>,
    /// Body bytes the request declared.
    pub request_body: u64,
    /// The final response's head as read: status line, fields and the empty line
    /// (interim 1xx heads are not kept); empty until it arrived.
    pub response: Vec<u8>,
}

/// Why a transaction failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransactionError {
    /// No ephemeral port was free (chapter item 10).
    #[error("{detail}")]
    PortsExhausted {
        /// The stack's message, which says "ports exhausted" and why.
        detail: String,
    },
    /// The server (or a middlebox) reset the connection.
    #[error("connection reset by peer")]
    ConnectionReset,
    /// Nothing accepted the connection.
    #[error("connection refused")]
    ConnectionRefused,
    /// The handshake went unanswered through every SYN retransmission
    /// (`--syn-retries`).
    #[error("connect timed out after {syns} SYNs")]
    ConnectTimeout {
        /// SYNs sent, the first included.
        syns: u32,
    },
    /// The next hop on a TAP never answered ARP: not even a SYN left.
    #[error("no ARP reply from {addr}")]
    NoArpReply {
        /// The neighbour asked (the server, or the gateway).
        addr: String,
    },
    /// The connection closed before any response byte arrived.
    #[error("connection closed before the response")]
    ClosedEarly,
    /// The body ended before its declared length (chapter item 22): never trust it.
    #[error("truncated: received {received} of {} body bytes", expected.map_or("an unknown number of".to_string(), |e| e.to_string()))]
    Truncated {
        /// Body bytes that arrived.
        received: u64,
        /// Declared length, if known.
        expected: Option<u64>,
    },
    /// The response could not be parsed.
    #[error("malformed response: {detail}")]
    MalformedResponse {
        /// What was wrong.
        detail: String,
    },
    /// A body byte differed from the pattern the server sends.
    #[error("body mismatch at offset {offset}")]
    BodyMismatch {
        /// Offset of the first wrong byte.
        offset: u64,
    },
    /// No complete response within the client's timeout (`--client-timeout`), e.g.
    /// behind a dumb proxy that never forwards a second keep-alive request (item 18).
    #[error("timeout: no complete response after {after_ms} ms")]
    Timeout {
        /// How long the client waited, whole milliseconds.
        after_ms: u64,
    },
    /// The request it depended on (a page's HTML) failed, so it was never issued.
    #[error("not issued: the request it depends on failed")]
    DependencyFailed,
    /// The server switched protocols (101) although the request asked for no upgrade:
    /// a protocol error (RFC 9110 §15.2.2), and what follows on the connection is not
    /// HTTP/1.1.
    #[error("101 Switching Protocols without an Upgrade request")]
    UnrequestedUpgrade,
    /// The run ended (time limit or a hang) before the response completed.
    #[error("unfinished when the run ended")]
    Unfinished,
}

impl TransactionError {
    /// The variant's name as JSON spells it in `error_kind.kind` (`ports_exhausted`,
    /// `timeout`, ...), without its details: what failures are grouped by.
    pub fn kind(&self) -> &'static str {
        match self {
            TransactionError::PortsExhausted { .. } => "ports_exhausted",
            TransactionError::ConnectionReset => "connection_reset",
            TransactionError::ConnectionRefused => "connection_refused",
            TransactionError::ConnectTimeout { .. } => "connect_timeout",
            TransactionError::NoArpReply { .. } => "no_arp_reply",
            TransactionError::ClosedEarly => "closed_early",
            TransactionError::Truncated { .. } => "truncated",
            TransactionError::MalformedResponse { .. } => "malformed_response",
            TransactionError::BodyMismatch { .. } => "body_mismatch",
            TransactionError::Timeout { .. } => "timeout",
            TransactionError::DependencyFailed => "dependency_failed",
            TransactionError::UnrequestedUpgrade => "unrequested_upgrade",
            TransactionError::Unfinished => "unfinished",
        }
    }

    /// The connection was never established: refused, unanswered, or unreachable.
    pub fn is_connect_failure(&self) -> bool {
        matches!(
            self,
            TransactionError::ConnectionRefused
                | TransactionError::ConnectTimeout { .. }
                | TransactionError::NoArpReply { .. }
        )
    }
}

/// One request and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    /// Position in the workload.
    pub id: usize,
    /// Request method.
    pub method: Method,
    /// Request target (its workload spec's, shared).
    pub target: Arc<str>,
    /// The heads sent and received.
    pub heads: Heads,
    /// When things happened.
    pub timing: Timing,
    /// Final response status, once its head arrived.
    pub status: Option<u16>,
    /// Interim (1xx) responses read and skipped before the final one (RFC 9110 §15.2).
    pub interim_responses: u32,
    /// Body bytes received (and verified).
    pub bytes: u64,
    /// Carried on a connection that had served an earlier request.
    pub reused: bool,
    /// Index of the client connection that carried it.
    pub connection: Option<usize>,
    /// Local port of that connection.
    pub local_port: Option<u16>,
    /// Why it failed.
    pub error: Option<TransactionError>,
    /// Times it was sent again on a new connection after its connection closed or
    /// reset before the full response (idempotent methods only, chapter item 23).
    pub retries: u32,
    /// Sent while an earlier request on the same connection was still unanswered.
    pub pipelined: bool,
}

impl Transaction {
    /// A fresh, unissued transaction.
    pub fn new(id: usize, method: Method, target: Arc<str>) -> Transaction {
        Transaction {
            id,
            method,
            target,
            heads: Heads::default(),
            timing: Timing::default(),
            status: None,
            interim_responses: 0,
            bytes: 0,
            reused: false,
            connection: None,
            local_port: None,
            error: None,
            retries: 0,
            pipelined: false,
        }
    }

    /// Start over for a retry: everything but `queued` and the retry count.
    pub fn reset_for_retry(&mut self) {
        let queued = self.timing.queued;
        self.timing = Timing {
            queued,
            ..Timing::default()
        };
        self.heads = Heads::default();
        self.status = None;
        self.interim_responses = 0;
        self.bytes = 0;
        self.connection = None;
        self.local_port = None;
        self.pipelined = false;
        self.retries += 1;
    }

    /// Finished, with a response or an error.
    pub fn is_finished(&self) -> bool {
        self.timing.done.is_some()
    }

    /// Mark failed at `now` (only the first failure counts).
    pub fn fail(&mut self, error: TransactionError, now: Instant) {
        if self.timing.done.is_none() {
            self.error = Some(error);
            self.timing.done = Some(now);
        }
    }

    /// The report form: milliseconds since `epoch` and derived durations.
    pub fn report(&self, epoch: Instant) -> TransactionReport {
        let at = |t: Option<Instant>| t.map(|t| ms(t - epoch));
        let t = &self.timing;
        let spans = t.spans();
        TransactionReport {
            id: self.id,
            method: self.method.as_str().to_string(),
            target: self.target.to_string(),
            heads: self.heads.clone(),
            status: self.status,
            interim_responses: self.interim_responses,
            bytes: self.bytes,
            reused: self.reused,
            connection: self.connection,
            local_port: self.local_port,
            error: self.error.as_ref().map(ToString::to_string),
            error_kind: self.error.clone(),
            retries: self.retries,
            pipelined: self.pipelined,
            queued: at(t.queued),
            connect_start: at(t.connect_start),
            connected: at(t.connected),
            request_sent: at(t.request_sent),
            first_byte: at(t.first_byte),
            done: at(t.done),
            wait_ms: spans.wait.map(ms),
            connect_ms: spans.connect.map(ms),
            ttfb_ms: spans.ttfb.map(ms),
            transfer_ms: spans.transfer.map(ms),
            total_ms: spans.total.map(ms),
            blame: None,
            spans: Vec::new(),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.total_micros() as f64 / 1000.0
}

/// A transaction as printed: moments in ms since the run started (`*_at_ms` in JSON),
/// and the durations between them (`*_ms`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TransactionReport {
    /// Position in the workload.
    pub id: usize,
    /// Method.
    pub method: String,
    /// Target.
    pub target: String,
    /// The heads, for the HAR export; not part of the JSON report.
    #[serde(skip)]
    pub heads: Heads,
    /// Final response status.
    pub status: Option<u16>,
    /// Interim (1xx) responses skipped before the final one.
    pub interim_responses: u32,
    /// Body bytes received and verified.
    pub bytes: u64,
    /// Carried on a connection that had served an earlier request.
    pub reused: bool,
    /// Client connection index.
    pub connection: Option<usize>,
    /// Local port.
    pub local_port: Option<u16>,
    /// Human-readable error.
    pub error: Option<String>,
    /// Machine-readable error.
    pub error_kind: Option<TransactionError>,
    /// Times it was retried on a new connection.
    pub retries: u32,
    /// Sent while an earlier request on its connection was unanswered.
    pub pipelined: bool,
    /// ms: issued by the workload.
    #[serde(rename = "queued_at_ms")]
    pub queued: Option<f64>,
    /// ms: connection opened or assigned.
    #[serde(rename = "connect_start_at_ms")]
    pub connect_start: Option<f64>,
    /// ms: handshake done.
    #[serde(rename = "connected_at_ms")]
    pub connected: Option<f64>,
    /// ms: last request byte offered to TCP.
    #[serde(rename = "request_sent_at_ms")]
    pub request_sent: Option<f64>,
    /// ms: first response byte read.
    #[serde(rename = "first_byte_at_ms")]
    pub first_byte: Option<f64>,
    /// ms: last body byte read.
    #[serde(rename = "done_at_ms")]
    pub done: Option<f64>,
    /// queued -> connect_start.
    pub wait_ms: Option<f64>,
    /// connect_start -> connected.
    pub connect_ms: Option<f64>,
    /// request_sent -> first_byte.
    pub ttfb_ms: Option<f64>,
    /// first_byte -> done.
    pub transfer_ms: Option<f64>,
    /// queued -> done.
    pub total_ms: Option<f64>,
    /// Where the time from queued to done went, by cause (`null` when the run kept
    /// no trace to say).
    pub blame: Option<Blame>,
    /// The same time as contiguous stretches, for pictures; not part of the JSON.
    #[serde(skip)]
    pub spans: Vec<BlameSpan>,
}
