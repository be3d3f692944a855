//! Where a transaction's time went, by cause: the type every report carries. The
//! analysis that fills it in, from the event trace, is the lab's (`tcpknobs_lab::blame`).

use serde::ser::SerializeMap;
use serde::Serialize;

/// One reason a transaction's time passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Waiting for a connection slot, or behind earlier transactions on a
    /// persistent or pipelined connection (head-of-line blocking).
    Queued,
    /// Sent before on a connection that failed; sent again.
    Retry,
    /// No ephemeral port was free: waiting for one to leave TIME_WAIT.
    PortWait,
    /// SYN or SYN-ACK retransmissions: from the first SYN to the last one sent.
    SynRetransmit,
    /// The handshake's round trip.
    Handshake,
    /// Bits on their way along the link.
    Propagation,
    /// Bits being clocked onto the link at its bandwidth.
    Serialization,
    /// Frames waiting in the link's queue behind earlier ones.
    LinkQueue,
    /// The server working on the request (processing time).
    Server,
    /// Nagle's algorithm (or Minshall's) holding a small segment.
    Nagle,
    /// The sender waiting for an ACK that the receiver's delayed-ACK timer holds.
    DelayedAck,
    /// Data ready, the congestion window full.
    SlowStart,
    /// Data ready, the receiver's window full.
    ReceiveWindow,
    /// Waiting for a lost segment to be retransmitted and acknowledged.
    LossRecovery,
    /// Over a TAP, the part our side cannot see into: from the moment the request's
    /// last byte left us to the response's last byte arriving, the network and the
    /// peer's server and TCP together.
    Peer,
    /// After the point where the transaction failed.
    Failure,
    /// Time the trace could not attribute to any of the above.
    Other,
}

impl Cause {
    /// Every cause, in the order tables and JSON list them.
    pub const ALL: [Cause; 17] = [
        Cause::Queued,
        Cause::Retry,
        Cause::PortWait,
        Cause::SynRetransmit,
        Cause::Handshake,
        Cause::Propagation,
        Cause::Serialization,
        Cause::LinkQueue,
        Cause::Server,
        Cause::Nagle,
        Cause::DelayedAck,
        Cause::SlowStart,
        Cause::ReceiveWindow,
        Cause::LossRecovery,
        Cause::Peer,
        Cause::Failure,
        Cause::Other,
    ];

    /// The name as JSON and tables spell it.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Queued => "queued",
            Cause::Retry => "retry",
            Cause::PortWait => "port_wait",
            Cause::SynRetransmit => "syn_retransmit",
            Cause::Handshake => "handshake",
            Cause::Propagation => "propagation",
            Cause::Serialization => "serialization",
            Cause::LinkQueue => "link_queue",
            Cause::Server => "server",
            Cause::Nagle => "nagle",
            Cause::DelayedAck => "delayed_ack",
            Cause::SlowStart => "slow_start",
            Cause::ReceiveWindow => "receive_window",
            Cause::LossRecovery => "loss_recovery",
            Cause::Peer => "peer",
            Cause::Failure => "failure",
            Cause::Other => "other",
        }
    }

    fn index(self) -> usize {
        Cause::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// Time per cause, ns. Serialized as `{"<cause>_ms": ms, ...}` with every cause
/// present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blame {
    ns: [u64; Cause::ALL.len()],
}

impl Blame {
    /// Time blamed on `cause`, ns.
    pub fn ns(&self, cause: Cause) -> u64 {
        self.ns[cause.index()]
    }

    /// Time blamed on `cause`, ms.
    pub fn ms(&self, cause: Cause) -> f64 {
        self.ns(cause) as f64 / 1e6
    }

    /// Add `ns` to `cause`.
    pub fn add(&mut self, cause: Cause, ns: u64) {
        let slot = &mut self.ns[cause.index()];
        *slot = slot.saturating_add(ns);
    }

    /// Everything, ns: the transaction's total.
    pub fn total_ns(&self) -> u64 {
        self.ns.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Add another blame to this one (a run's sum).
    pub fn merge(&mut self, other: &Blame) {
        for cause in Cause::ALL {
            self.add(cause, other.ns(cause));
        }
    }

    /// The causes with time in them, in [`Cause::ALL`] order.
    pub fn nonzero(&self) -> impl Iterator<Item = (Cause, u64)> + '_ {
        Cause::ALL
            .into_iter()
            .map(|c| (c, self.ns(c)))
            .filter(|(_, ns)| *ns > 0)
    }
}

impl Serialize for Blame {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(Cause::ALL.len()))?;
        for cause in Cause::ALL {
            map.serialize_entry(&format!("{}_ms", cause.name()), &self.ms(cause))?;
        }
        map.end()
    }
}

/// One stretch of a transaction's time and its cause: the pieces a waterfall bar is
/// drawn from. A transaction's spans are contiguous, in time order, from `queued` to
/// `done`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlameSpan {
    /// Start, ns since the run began.
    pub start_ns: u64,
    /// End, ns since the run began.
    pub end_ns: u64,
    /// Why the time passed.
    pub cause: Cause,
}
