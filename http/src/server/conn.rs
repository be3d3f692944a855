//! One connection's state: the three small state machines the module doc names
//! (`Reading`, `Writing`, and `After` for what a response leaves behind), the `Job`s
//! between them, the `Phase` of its life, and which `Timer` may end it now. What
//! moves them is in `drive`; this file only says what a connection can be.

use std::collections::VecDeque;

use tcpknobs_stack::{ConnId, Instant};

use super::request::Asked;
use super::response::ResponseStream;
#[cfg(doc)]
use super::{pump::pump, Server};
use super::{CloseReason, ServerConfig, ServerConnStats};
use crate::body::BodyDecoder;
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;

/// A unit of work for the write side, in request order.
#[derive(Debug)]
pub(super) enum Job {
    /// A complete request (head parsed, body consumed and discarded) to answer.
    Request(Asked),
    /// Bad input: answer with this status and close.
    Reject {
        /// The status (RFC 9110 §15.5, §15.6).
        status: u16,
        /// Why, for the plain-text body.
        detail: String,
    },
}

/// The read side (hyper's `Reading`).
#[derive(Debug)]
pub(super) enum Reading {
    /// Waiting for a request head. `since` starts the header timer: at accept, and at
    /// the first byte of each later head; `None` while idle between requests (the
    /// keep-alive timer runs instead).
    Head { since: Option<Instant> },
    /// A head is parsed; its body is arriving and being discarded. `since` starts the
    /// body timer: when the head completed, then at every read that brought bytes.
    Body {
        request: Asked,
        decoder: BodyDecoder,
        since: Instant,
    },
    /// No more requests are read: a response says close, or the input was bad.
    Closed,
}

/// What a response leaves behind once it is fully offered (hyper's `KeepAlive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum After {
    /// Wait for the next request.
    KeepAlive,
    /// Close, for this reason.
    Close(CloseReason),
}

/// The write side (hyper's `Writing`).
#[derive(Debug)]
pub(super) enum Writing {
    /// Nothing to write. `since`: when the last response was fully offered to TCP, or
    /// the accept; the keep-alive and header timers count from it.
    Idle { since: Instant },
    /// Processing a request (`--server-delay`); its response is due at `ready_at`.
    Processing {
        job: Job,
        /// Receive stream offset just after the request.
        request_end: u64,
        ready_at: Instant,
    },
    /// Offering a response to TCP. `since`: when the socket last took some of it, or
    /// when it started; the send timer counts from it.
    Sending {
        stream: ResponseStream,
        then: After,
        since: Instant,
    },
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Reading requests and writing responses.
    Serving,
    /// Graceful close: FIN sent; reading and discarding until the peer's FIN or `until`.
    Lingering { until: Instant },
}

/// A timer that can end a connection whose peer has gone quiet; at most one runs at a
/// time, the one of the phase the connection is in (nginx's model: each directive
/// times one wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Idle between requests: [`ServerConfig::keep_alive_timeout`].
    KeepAlive,
    /// Waiting for the rest of a head: [`ServerConfig::header_timeout`].
    Header,
    /// Waiting for more of a body: [`ServerConfig::body_timeout`].
    Body,
    /// Waiting for the socket to take more of a response: [`ServerConfig::send_timeout`].
    Send,
}

/// Per-connection state.
pub(super) struct Conn {
    pub(super) id: ConnId,
    /// Its place in accept order.
    pub(super) accepted: u64,
    /// Its figures, for [`Server::connection_stats`].
    pub(super) stats: ServerConnStats,
    /// Bytes read and not yet parsed.
    pub(super) inbuf: ReadBuffer,
    /// The write being offered (the rest of one piece of a response).
    pub(super) outbox: Outbox,
    pub(super) reading: Reading,
    /// Requests parsed and not yet started, oldest first.
    /// With each, the receive stream offset just after its request.
    pub(super) jobs: VecDeque<(Job, u64)>,
    pub(super) writing: Writing,
    /// The outbox's last write is the end of a response held back because the next
    /// pipelined response is ready too: they go out together (see [`pump`]).
    pub(super) held: bool,
    /// The client closed its side; everything it sent has been read.
    pub(super) peer_eof: bool,
    pub(super) phase: Phase,
    /// Bytes read from the socket so far.
    pub(super) read_total: u64,
}

/// What driving a connection can change: a drive that left it as it was reached a
/// fixed point, and driving it again before something happens to it would change
/// nothing; one that moved it is driven again at once (see `wakeups::until_still`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct ConnPrint {
    read_total: u64,
    inbuf: usize,
    pending: u64,
    jobs: usize,
    reading: u8,
    writing: u8,
    held: bool,
    peer_eof: bool,
    phase: Phase,
}

impl Conn {
    pub(super) fn print(&self) -> ConnPrint {
        ConnPrint {
            read_total: self.read_total,
            inbuf: self.inbuf.len(),
            pending: self.outbox.pending_bytes(),
            jobs: self.jobs.len(),
            reading: match self.reading {
                Reading::Head { since: None } => 0,
                Reading::Head { since: Some(_) } => 1,
                Reading::Body { .. } => 2,
                Reading::Closed => 3,
            },
            writing: match self.writing {
                Writing::Idle { .. } => 0,
                Writing::Processing { .. } => 1,
                Writing::Sending { .. } => 2,
            },
            held: self.held,
            peer_eof: self.peer_eof,
            phase: self.phase,
        }
    }

    /// Whether input has arrived that no response answered: an unparsed byte, a
    /// request queued, or a body half read. The server parses ahead for its own
    /// bookkeeping, but a server that reads one request at a time would have left all
    /// of this in the kernel, so for close() it counts as unread input (chapter item 24).
    pub(super) fn has_unanswered_input(&self) -> bool {
        !self.inbuf.is_empty()
            || !self.jobs.is_empty()
            || matches!(self.reading, Reading::Body { .. })
    }

    /// The timer running now, and when it fires: the send timer while a response waits
    /// for the socket; otherwise, once every earlier request is answered, the timer of
    /// what the server waits for (the next request, the rest of its head or of its
    /// body). None while a request is being processed. A reading timer counts from the
    /// later of its own start and the moment the last response was out, so time spent
    /// writing earlier pipelined responses is never held against the next request.
    pub(super) fn timer(&self, config: &ServerConfig) -> Option<(Timer, Instant)> {
        if self.phase != Phase::Serving {
            return None;
        }
        let idle = match self.writing {
            Writing::Sending { since, .. } => {
                return Some((Timer::Send, since + config.send_timeout))
            }
            Writing::Processing { .. } => return None,
            Writing::Idle { since } => since,
        };
        if !self.jobs.is_empty() {
            return None;
        }
        match self.reading {
            Reading::Head { since: None } => {
                Some((Timer::KeepAlive, idle + config.keep_alive_timeout))
            }
            Reading::Head { since: Some(first) } => {
                Some((Timer::Header, first.max(idle) + config.header_timeout))
            }
            Reading::Body { since, .. } => {
                Some((Timer::Body, since.max(idle) + config.body_timeout))
            }
            Reading::Closed => None,
        }
    }

    /// When this connection next needs a poll with nothing arriving.
    pub(super) fn deadline(&self, config: &ServerConfig) -> Option<Instant> {
        match (self.phase, &self.writing) {
            (Phase::Lingering { until }, _) => Some(until),
            (Phase::Serving, Writing::Processing { ready_at, .. }) => Some(*ready_at),
            (Phase::Serving, _) => self.timer(config).map(|(_, at)| at),
        }
    }
}
