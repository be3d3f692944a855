//! Per-connection figures, counted from the segments the host actually sent and
//! received, so each one can be checked against a packet capture.

use serde::Serialize;

use crate::congestion::CwndSample;

/// Which end opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Active open (connect).
    Client,
    /// Passive open (listen/accept).
    Server,
}

/// Which end sent the first FIN (or RST): that end holds TIME_WAIT (chapter item 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Closer {
    /// This host closed first.
    Local,
    /// The peer closed first.
    Peer,
    /// A simultaneous close (RFC 9293 §3.6 case 2): each side sent its FIN before
    /// it saw the other's, so both go through CLOSING and both hold TIME_WAIT.
    Both,
}

/// What one connection did, as seen from one host.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ConnStats {
    /// Local port (ephemeral for clients); `None` while the connection waits for a
    /// free one.
    pub local_port: Option<u16>,
    /// The peer, as `addr:port`.
    pub remote: String,
    /// Active or passive open.
    pub role: Option<Role>,
    /// Virtual (or wall) time of connect/accept, ms since the run started
    /// (`opened_at_ms` in JSON: a moment, not a duration).
    #[serde(rename = "opened_at_ms")]
    pub opened_ms: f64,
    /// Who sent the first FIN or RST.
    pub closed_first: Option<Closer>,
    /// Segments sent.
    pub segments_out: u64,
    /// Segments received.
    pub segments_in: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// ACKs sent that carried no data, SYN, FIN or RST.
    pub pure_acks_out: u64,
    /// Pure ACKs sent because the delayed-ACK timer expired (the ACK left at least one
    /// delayed-ACK period after the data it acknowledges arrived).
    pub delayed_acks: u64,
    /// Segments sent again (SYN, data or FIN below the highest sequence sent).
    pub retransmissions: u64,
    /// Loss episodes handled as a retransmission timeout.
    pub timeouts: u64,
    /// Loss episodes handled by fast retransmit (three duplicate ACKs).
    pub fast_retransmits: u64,
    /// SYN or SYN-ACK retransmissions (also counted in `retransmissions`): a lost
    /// handshake segment, a full backlog, or an RTT above the 1 s initial RTO.
    pub syn_retransmits: u64,
    /// Challenge ACKs sent (RFC 5961), at most one per 500 ms: answers to an RST whose
    /// sequence number is in the window but not exactly RCV.NXT, to a SYN on a
    /// synchronized connection, to an ACK of data never sent, and to any other bare
    /// segment outside the window (RFC 9293 §3.10.7.4).
    pub challenge_acks: u64,
    /// Segments discarded before TCP saw them: an RST outside the window, an RST in
    /// SYN-SENT that does not acknowledge our SYN, a segment without ACK, an old
    /// duplicate ACK, a handshake ACK that found the accept queue full.
    pub dropped_in: u64,
    /// RSTs received.
    pub resets_in: u64,
    /// RSTs sent.
    pub resets_out: u64,
    /// Largest congestion window reached, bytes (`null` with slow start off).
    pub max_cwnd: Option<u64>,
    /// Time this host held the tuple in TIME_WAIT, ms (`null` if it did not): the whole
    /// 2MSL if it expired during the run, else the time until the run ended, which is
    /// usually far shorter (`time_wait_held_ms` in JSON, so it is not read as 2MSL).
    #[serde(rename = "time_wait_held_ms")]
    pub time_wait_ms: Option<f64>,
    /// Every change of cwnd/ssthresh, for plots.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cwnd_history: Vec<CwndSample>,
}

/// What a host counts on a connection while it lives: the counting fields of
/// [`ConnStats`], kept apart from the ones a snapshot fills in (the peer's address
/// as text, the window history, ...), so that the host's per-connection record, which
/// every segment reads, is 96 bytes (a cache line and a half) shorter.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Counters {
    pub(crate) closed_first: Option<Closer>,
    pub(crate) segments_out: u64,
    pub(crate) segments_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) bytes_in: u64,
    pub(crate) pure_acks_out: u64,
    pub(crate) delayed_acks: u64,
    pub(crate) retransmissions: u64,
    pub(crate) timeouts: u64,
    pub(crate) fast_retransmits: u64,
    pub(crate) syn_retransmits: u64,
    pub(crate) challenge_acks: u64,
    pub(crate) dropped_in: u64,
    pub(crate) resets_in: u64,
    pub(crate) resets_out: u64,
}

impl Counters {
    /// The figures so far, the snapshot's own fields left at their defaults.
    pub(crate) fn to_stats(self) -> ConnStats {
        ConnStats {
            closed_first: self.closed_first,
            segments_out: self.segments_out,
            segments_in: self.segments_in,
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            pure_acks_out: self.pure_acks_out,
            delayed_acks: self.delayed_acks,
            retransmissions: self.retransmissions,
            timeouts: self.timeouts,
            fast_retransmits: self.fast_retransmits,
            syn_retransmits: self.syn_retransmits,
            challenge_acks: self.challenge_acks,
            dropped_in: self.dropped_in,
            resets_in: self.resets_in,
            resets_out: self.resets_out,
            ..ConnStats::default()
        }
    }
}

/// Serializes a byte count whose "no limit" value is [`crate::congestion::UNLIMITED`]
/// as `null`, so JSON carries no sentinel number (`ssthresh` before the first loss).
pub(crate) fn unlimited_as_null<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    if *v == crate::congestion::UNLIMITED {
        s.serialize_none()
    } else {
        s.serialize_u64(*v)
    }
}
