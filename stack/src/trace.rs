//! The event trace: what the hosts, the links and the applications did, and why.
//!
//! A person turning a knob wants to know where the time went, and the stack already
//! knows every timer, window and hold it applies; the trace writes those decisions
//! down instead of discarding them. Hosts record [`EventKind`]s as they happen; the
//! simulator stamps each with the virtual time of the instant it was recorded in and
//! the host it came from, adds the links' own events, and hands them out in order,
//! quinn-proto's poll style: nothing is pushed at a caller, the caller drains
//! ([`Host::take_trace`](crate::Host::take_trace), [`crate::SimNet::set_tracer`]).
//!
//! Tracing is off unless asked for ([`crate::Host::set_tracing`]): with it off, the
//! only cost is a branch on a flag where an event would be recorded.
//!
//! Sequence numbers are the wire's (what a capture shows); stream offsets
//! (`AppWrite`, `AppRead`) count application bytes from 0 in each direction, so a
//! reader maps between them with the initial sequence number of the SYN.

use serde::Serialize;

use crate::host::ConnId;
use crate::segment::Segment;

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Virtual (or, over TAP, wall-clock) time since the run started, ns.
    pub at_ns: u64,
    /// The host it happened on (its index in the network; 0 over TAP); for a link
    /// event, the sending host.
    pub host: usize,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Connection ids are the host's own ([`ConnId`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A connection's 4-tuple became known (active open: port chosen; passive open:
    /// SYN taken). The peer's connection is the one on the other host with the
    /// mirrored tuple.
    Open {
        /// The connection.
        conn: ConnId,
        /// Our address and port.
        local: Endpoint,
        /// The peer's.
        remote: Endpoint,
        /// We sent the SYN.
        active: bool,
    },
    /// A SYN cookie came back and made this connection (just opened): its SYN and
    /// our cookie SYN-ACK crossed the wire before it existed, the SYN-ACK sent
    /// without state (a [`EventKind::StatelessSegmentOut`]).
    SynCookie {
        /// The connection.
        conn: ConnId,
        /// Our initial sequence number: the cookie.
        iss: u32,
        /// The peer's initial sequence number.
        irs: u32,
    },
    /// A segment left the host.
    SegmentOut {
        /// The connection.
        conn: ConnId,
        /// This host's running number of the frame, so link events can name it.
        frame: u64,
        /// Its header.
        #[serde(flatten)]
        seg: SegmentInfo,
        /// Why it was sent.
        why: SendReason,
    },
    /// A segment left the host for no connection it keeps (so there is no
    /// `segment_out`): a SYN cookie's SYN-ACK, or an RST to a segment nothing takes.
    StatelessSegmentOut {
        /// This host's running number of the frame, so link events can name it.
        frame: u64,
        /// Our address and port (the segment's source).
        local: Endpoint,
        /// The peer's (its destination).
        remote: Endpoint,
        /// Its header.
        #[serde(flatten)]
        seg: SegmentInfo,
        /// Why it was sent.
        why: StatelessReason,
    },
    /// A segment arrived and was processed.
    SegmentIn {
        /// The connection.
        conn: ConnId,
        /// The frame as its sender numbered it: (sending host, frame), when known.
        from: Option<FrameRef>,
        /// Its header.
        #[serde(flatten)]
        seg: SegmentInfo,
        /// The in-order receive edge (RCV.NXT, wire) after it: what the
        /// application could read up to.
        rcv_nxt: u32,
    },
    /// The application handed bytes to TCP; `end` is the stream offset after them.
    AppWrite {
        /// The connection.
        conn: ConnId,
        /// Bytes in this write.
        len: u64,
        /// Stream offset after the write.
        end: u64,
        /// `MSG_MORE`: the writer said more of the message follows at once.
        more: bool,
    },
    /// The application read bytes; `end` is the stream offset after them.
    AppRead {
        /// The connection.
        conn: ConnId,
        /// Bytes read.
        len: u64,
        /// Stream offset after them.
        end: u64,
    },
    /// The application closed (or shut down writing on) the connection.
    AppClose {
        /// The connection.
        conn: ConnId,
        /// Only the write side (shutdown), not a full close.
        write_only: bool,
    },
    /// Written data started or stopped waiting to be sent, and what holds it:
    /// recorded whenever the reason changes (`hold: None` when nothing written is
    /// waiting any more).
    Hold {
        /// The connection.
        conn: ConnId,
        /// The reason, or `None`.
        hold: Option<Hold>,
    },
    /// Data arrived that the host did not acknowledge at once (`owed: true`: the
    /// delayed-ACK timer runs), or the ACK for it left (`owed: false`).
    AckOwed {
        /// The connection.
        conn: ConnId,
        /// Whether an acknowledgment is now owed.
        owed: bool,
    },
    /// The connection waits for an ephemeral port to leave TIME_WAIT
    /// (`waiting: true`), or got one.
    PortWait {
        /// The connection.
        conn: ConnId,
        /// Waiting or done waiting.
        waiting: bool,
    },
    /// The host started (`held: true`) or stopped holding the connection's tuple in
    /// TIME_WAIT.
    TimeWait {
        /// The connection.
        conn: ConnId,
        /// Entered or left.
        held: bool,
    },
    /// A frame met the link towards `to`.
    Link {
        /// The sender's frame number.
        frame: u64,
        /// The receiving host.
        to: usize,
        /// Frame length, bytes.
        len: usize,
        /// Serialization starts (after the frames queued ahead of it), ns.
        serialization_start_ns: u64,
        /// Serialization ends, ns.
        serialization_end_ns: u64,
        /// What became of it.
        #[serde(flatten)]
        fate: LinkFate,
    },
    /// An HTTP-level moment.
    Http {
        /// The connection, when there is one.
        conn: Option<ConnId>,
        /// The client's transaction id, on the client.
        tx: Option<usize>,
        /// What happened.
        #[serde(flatten)]
        event: HttpEvent,
    },
}

/// An address and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    /// IPv4 address.
    pub addr: [u8; 4],
    /// Port.
    pub port: u16,
}

/// A frame named by its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct FrameRef {
    /// The sending host.
    pub host: usize,
    /// Its frame number there.
    pub frame: u64,
}

/// The header fields of a segment that analysis and pictures need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentInfo {
    /// Sequence number (wire).
    pub seq: u32,
    /// Acknowledgment number, when the ACK flag is set.
    pub ack: Option<u32>,
    /// Payload bytes.
    pub len: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// Window field, as sent (unscaled).
    pub window: u16,
}

impl From<&Segment> for SegmentInfo {
    fn from(s: &Segment) -> SegmentInfo {
        SegmentInfo {
            seq: s.seq,
            ack: s.ack,
            len: u32::try_from(s.payload_len).unwrap_or(u32::MAX),
            syn: s.syn,
            fin: s.fin,
            rst: s.rst,
            window: s.window,
        }
    }
}

/// Why a segment was sent, as the host that sent it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendReason {
    /// The first SYN or SYN-ACK.
    Syn,
    /// A SYN or SYN-ACK sent again by the handshake's timer.
    SynRetransmit,
    /// New data (or a FIN) the first time.
    NewData,
    /// Data sent again because the retransmission timer expired.
    Rto,
    /// Data sent again on the third duplicate ACK (RFC 5681 §3.2).
    FastRetransmit,
    /// Data sent again because an ACK during fast recovery covered only part of what
    /// was in flight: the next hole, resent at once (NewReno, RFC 6582 §3.2 step 5).
    PartialAck,
    /// Data sent again during fast recovery because the peer's SACK blocks showed it
    /// lost (more than two segments SACKed above it, RFC 6675's IsLost).
    SackHole,
    /// Data sent again ACK-clocked after a timeout (the rest of the flight).
    Retransmit,
    /// A bare ACK sent as soon as the data arrived (quick-ACK, or every second
    /// segment).
    Ack,
    /// A bare ACK sent when the delayed-ACK timer fired.
    DelayedAck,
    /// A bare ACK repeating the last acknowledgment with a new window.
    WindowUpdate,
    /// A bare ACK that acknowledged nothing new and opened no window (a duplicate
    /// ACK, an answer to an out-of-window segment, RFC 5961's challenge ACK).
    DuplicateAck,
    /// A reset.
    Rst,
    /// The ACK a connection in TIME_WAIT sends when the peer's FIN (or another
    /// segment) arrives again: its last ACK was lost (RFC 9293 §3.6.1).
    TimeWaitAck,
}

/// Why a segment was sent for no connection the host keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatelessReason {
    /// A SYN-ACK whose sequence number is a SYN cookie: the listener's SYN queue was
    /// full, so nothing is kept until the cookie comes back in the client's ACK
    /// (RFC 4987 §3.6; Linux `tcp_syncookies`).
    SynCookie,
    /// A reset answering a segment no connection or listener takes (RFC 9293
    /// §3.10.7.1), such as a SYN to a closed port or an ACK with no valid cookie.
    Rst,
}

impl SendReason {
    /// Whether the segment carried data sent before (by any timer or ACK rule).
    pub fn resends_data(self) -> bool {
        matches!(
            self,
            SendReason::Rto
                | SendReason::FastRetransmit
                | SendReason::PartialAck
                | SendReason::SackHole
                | SendReason::Retransmit
        )
    }
}

/// What keeps written data from being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// The handshake has not completed.
    Handshake,
    /// The congestion window is full (slow start or congestion avoidance).
    CongestionWindow,
    /// The peer's receive window is full.
    ReceiveWindow,
    /// Nagle's algorithm (RFC 896) holds a small segment while data is
    /// unacknowledged.
    Nagle,
    /// Minshall's variant holds a small segment while an earlier small one is
    /// unacknowledged.
    Minshall,
    /// The writer said more follows (`MSG_MORE`): a partial segment waits for it.
    Cork,
    /// Everything in the send buffer is in flight and the buffer is full: the
    /// writer waits for acknowledgments.
    SendBuffer,
    /// Unsent data the stack holds for none of the reasons above.
    Other,
}

/// What the link did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum LinkFate {
    /// It arrives at this time, ns.
    Delivered {
        /// Arrival, ns.
        arrival_ns: u64,
    },
    /// Serialized, then lost at random.
    Lost,
    /// Refused by the full drop-tail queue.
    QueueFull,
    /// Larger than the link's MTU.
    Oversize,
    /// Dropped by a test's fault rule.
    Fault,
}

/// HTTP moments (chapter item 5's parts of a transaction, on each side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "http", rename_all = "snake_case")]
pub enum HttpEvent {
    /// The client gave the request a connection (new or reused).
    Dispatched,
    /// The client offered the request's last byte to TCP; `end` is the stream
    /// offset after it.
    RequestSent {
        /// Stream offset after the request.
        end: u64,
    },
    /// The client read the first byte of the response.
    ResponseStarted,
    /// The client read the response's last byte (or gave up on it).
    Done {
        /// Whether it failed.
        failed: bool,
    },
    /// A server started working on the request that ends at receive offset
    /// `request_end` (at once, or after the responses ahead of it on the
    /// connection were written).
    ProcessingStarted {
        /// Receive stream offset after the request.
        request_end: u64,
    },
    /// The server wrote the response head for that request; `start` is the send
    /// stream offset of its first byte.
    ResponseHead {
        /// Receive stream offset after the request it answers.
        request_end: u64,
        /// Send stream offset of the response's first byte.
        start: u64,
    },
}

/// Where drained events go.
pub trait Tracer {
    /// Events of the instant just processed, in order.
    fn events(&mut self, events: &[Event]);
}
