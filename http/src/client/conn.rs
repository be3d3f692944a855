//! One client connection: what the client knows about it (its requests in flight,
//! the response being read, whether it persists), the print that tells whether a
//! drive moved it, and the [`ClientConnSummary`] a report keeps of it. What moves a
//! connection is in `drive` and `response`.

use tcpknobs_stack::{ConnId, Duration, Instant};

use crate::body::BodyDecoder;
use crate::in_flight::InFlight;
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;

/// How long a connection whose server said it closes waits for the server's FIN
/// after the last body byte before the client closes it itself.
///
/// The server closes right after writing its response, so its FIN arrives with or
/// just behind the last body byte; it is late only when lost, and then its
/// retransmission comes one retransmission timeout later, at least 1 s (RFC 6298
/// §2.4, smoltcp's minimum as well). 2 s covers that one retransmission on any path
/// whose timeout stays near the minimum, and bounds what a server that never closes
/// can hold of the client; after it the client closes first, as it would had the
/// server not announced its close. The wait comes after the transaction is done and
/// does not move its timing.
pub const SERVER_FIN_WAIT: Duration = Duration::from_secs(2);

/// Connections are driven, closed and abandoned only while the client keeps them.
pub(super) const OPEN: &str = "a connection the client keeps";

/// The response being read on a connection.
pub(super) enum ReadState {
    /// Waiting for (more of) the head.
    Head,
    /// Head parsed; reading the body.
    Body {
        decoder: BodyDecoder,
        keep_alive: bool,
    },
}

/// What a connection is fit for after its input was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    /// Still HTTP/1.1: more input may come, and more requests may go if it persists.
    Http,
    /// The server switched to another protocol: nothing more can be read or sent.
    Switched,
}

/// What the client knows about a connection's persistence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Persistence {
    /// No response yet.
    Unknown,
    /// The last response said the connection stays open.
    Yes,
    /// The server will close it: send nothing more.
    No,
}

pub(super) struct ClientConn {
    pub(super) id: ConnId,
    /// Transactions sent (or being sent) on this connection, oldest first.
    pub(super) in_flight: InFlight,
    /// Requests this connection has carried (each retry counts on its own connection).
    pub(super) carried: usize,
    /// Responses completed on it.
    pub(super) answered: usize,
    pub(super) outbox: Outbox,
    /// Bytes pushed into the outbox so far.
    pub(super) pushed: u64,
    /// Bytes read and not yet parsed.
    pub(super) inbuf: ReadBuffer,
    pub(super) read: ReadState,
    pub(super) connected: bool,
    pub(super) persistence: Persistence,
    /// No further request may be sent (one-request strategies, or the server said
    /// close).
    pub(super) retiring: bool,
    /// The server said it closes after its last response: the client reads on until
    /// the server's FIN, waiting no later than this ([`SERVER_FIN_WAIT`] after the
    /// last body byte).
    pub(super) fin_due: Option<Instant>,
    pub(super) closed: bool,
    /// Counted among the draining connections (`Client::draining`).
    pub(super) draining: bool,
    /// Bytes read from the socket so far.
    pub(super) read_total: u64,
}

impl ClientConn {
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.outbox.is_empty()
    }

    /// Open for more requests and carrying none: the first such connection takes
    /// the next request.
    pub(super) fn takes_request(&self) -> bool {
        !self.closed && !self.retiring && self.is_idle()
    }

    /// What driving the connection can change. A drive that left it as it was
    /// reached a fixed point: driving it again before something happens to it would
    /// change nothing. One that moved it may have more to do, so it is driven again
    /// at once (see `wakeups::until_still`).
    pub(super) fn print(&self) -> ConnPrint {
        ConnPrint {
            read_total: self.read_total,
            inbuf: self.inbuf.len(),
            pushed: self.pushed,
            pending: self.outbox.pending_bytes(),
            in_flight: self.in_flight.len(),
            answered: self.answered,
            reading_head: matches!(self.read, ReadState::Head),
            connected: self.connected,
            persistence: self.persistence,
            retiring: self.retiring,
            fin_due: self.fin_due,
            closed: self.closed,
        }
    }

    /// Done with HTTP, only waiting for the server's FIN.
    pub(super) fn is_draining(&self) -> bool {
        self.fin_due.is_some() && self.is_idle()
    }
}

/// See [`ClientConn::print`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct ConnPrint {
    read_total: u64,
    inbuf: usize,
    pushed: u64,
    pending: u64,
    in_flight: usize,
    answered: usize,
    reading_head: bool,
    connected: bool,
    persistence: Persistence,
    retiring: bool,
    fin_due: Option<Instant>,
    closed: bool,
}

impl ConnPrint {
    /// Whether a drive that went from `before` to `self` only read, and parsed away
    /// everything it read, with nothing left to write: then it ran every step of a
    /// drive to the end, and a drive right after it could only read once more.
    pub(super) fn only_read_all_since(&self, before: &ConnPrint) -> bool {
        self.inbuf == 0
            && self.pending == 0
            && *self
                == ConnPrint {
                    read_total: self.read_total,
                    inbuf: self.inbuf,
                    ..*before
                }
    }
}

/// Figures for one client connection, for reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientConnSummary {
    /// The host's connection id.
    #[serde(skip)]
    pub id: ConnId,
    /// Requests it carried.
    pub requests: usize,
    /// Responses it completed.
    pub responses: usize,
}

impl ClientConn {
    pub(super) fn summary(&self) -> ClientConnSummary {
        ClientConnSummary {
            id: self.id,
            requests: self.carried,
            responses: self.answered,
        }
    }
}
