//! One connection as the host keeps it: its smoltcp socket (while it has one), our
//! send queue above it, the wire bookkeeping and its statistics.

use crate::stats::Counters;

use super::*;

/// Sequence-space bookkeeping for one connection, from the segments on the wire.
#[derive(Debug, Default)]
pub(super) struct WireTrack {
    pub(super) snd_una: u32,
    pub(super) snd_max: u32,
    pub(super) rcv_nxt: u32,
    pub(super) syn_seen: bool,
    pub(super) syn_out: bool,
    pub(super) syn_acked: bool,
    /// The peer's window-scale option (RFC 7323 §2.2); see [`WireTrack::peer_shift`].
    pub(super) peer_window_scale: Option<u8>,
    /// The Ethernet header of the peer's latest frame (dst = us, src = the peer), for
    /// segments we hand smoltcp on the peer's behalf.
    pub(super) link_header: [u8; crate::segment::ETHERNET_HEADER],
    pub(super) peer_mss: Option<u16>,
    pub(super) dup_acks: u32,
    /// The peer's latest ACK carried SACK blocks: with SACK-driven recovery, smoltcp
    /// may start a fast retransmit on it before the third duplicate ACK.
    pub(super) peer_sacked: bool,
    /// While `Some`, fast retransmits belong to the loss episode that ends when this is
    /// acknowledged: the window is cut once per episode (RFC 5681 §3.2).
    pub(super) recovery_until: Option<u32>,
    /// The segment fast-retransmitted in the current loss episode (see
    /// `Host::repeated_fast_retransmit`).
    pub(super) fast_retransmitted: Option<u32>,
    /// When the latest segment from the peer arrived. smoltcp does not say why it
    /// retransmits; the clock does: a retransmission at the instant an ACK arrived is
    /// ACK-clocked (fast retransmit, or go-back-N resuming after a timeout), one at
    /// any other instant is the retransmission timer.
    pub(super) last_in_at: Option<Instant>,
    /// When the latest timeout was handled: the further segments smoltcp resends at
    /// that same instant belong to it.
    pub(super) last_timeout_at: Option<Instant>,
    /// Arrival of the oldest data we have not acknowledged yet.
    pub(super) unacked_since: Option<Instant>,
    /// One timed segment at a time (RFC 6298 §3, Karn's rule on retransmission).
    pub(super) timed: Option<(u32, Instant)>,
    pub(super) fin_in: bool,
    pub(super) fin_out: bool,
    /// Data segments received (for quick-ACK at connection start).
    pub(super) data_segments_in: u32,
    /// End of the last sub-MSS segment sent (Linux `snd_sml`, for Minshall's Nagle).
    pub(super) small_end: Option<u32>,
    /// The window-scale option our SYN offered (RFC 7323 §2.2); see
    /// [`WireTrack::our_shift`].
    pub(super) our_window_scale: Option<u8>,
    /// Wire sequence number minus smoltcp's, for our side's sequence space (see
    /// [`Host::initial_sequence`]); `None` until our SYN or SYN-ACK leaves.
    pub(super) isn_offset: Option<u32>,
    /// The initial sequence number a SYN cookie gave this connection on the wire
    /// before it existed, until smoltcp's own SYN-ACK is renumbered to it and kept
    /// back (see `syn_queue`).
    pub(super) cookie: Option<u32>,
    /// The peer's receive window as of its latest acceptable segment, bytes (`None`
    /// before its SYN), and the largest it has offered (RFC 9293 §3.8.6.2.1's
    /// "maximum window").
    pub(super) peer_window: Option<usize>,
    pub(super) max_peer_window: usize,
    /// The right edge of the receive window we last offered (ACK + window), once we
    /// have offered one: RFC 9293's acceptability test needs it.
    pub(super) rcv_edge: Option<u32>,
    /// When the latest challenge ACK left: at most one per
    /// [`OUT_OF_WINDOW_ACK_INTERVAL`] (RFC 5961 §7).
    pub(super) last_challenge_at: Option<Instant>,
}

impl WireTrack {
    /// Our SYN or SYN-ACK left: our sequence space starts at its number.
    pub(super) fn note_syn_out(&mut self, seg: &Segment) {
        if seg.syn && !self.syn_out {
            self.syn_out = true;
            self.our_window_scale = seg.window_scale;
            self.snd_una = seg.seq;
            self.snd_max = seg.seq;
        }
    }

    /// The right edge of the window a segment we send offers, what the peer may send
    /// up to. The latest offer counts, as in smoltcp's acceptance test, even when
    /// rounding to the window scale moved the edge back a little.
    pub(super) fn note_offer(&mut self, seg: &Segment) {
        if let Some(ack) = seg.ack {
            self.rcv_edge =
                Some(ack.wrapping_add(u32::from(seg.window) << self.our_shift(seg.syn)));
        }
    }

    /// Whether an ACK-clocked retransmission now is a fast retransmit starting a loss
    /// episode: outside recovery, after the third duplicate ACK (RFC 5681 §3.2) or,
    /// with SACK-driven recovery, on an ACK whose SACK blocks showed the first hole
    /// lost. (A zero-window probe's byte resent on the peer's ACK is neither.)
    pub(super) fn fast_retransmit_starts(&self, sack_recovery: bool) -> bool {
        self.recovery_until.is_none() && (self.dup_acks >= 3 || (sack_recovery && self.peer_sacked))
    }

    /// The shift of the windows the peer sends us: its scale, once both SYNs
    /// offered one; never on a SYN itself (RFC 7323 §2.2).
    pub(super) fn peer_shift(&self, syn: bool) -> u32 {
        self.shift(syn, self.peer_window_scale)
    }

    /// The shift of the windows we send the peer, by the same rule.
    pub(super) fn our_shift(&self, syn: bool) -> u32 {
        self.shift(syn, self.our_window_scale)
    }

    fn shift(&self, syn: bool, scale: Option<u8>) -> u32 {
        match (syn, self.our_window_scale, self.peer_window_scale) {
            (false, Some(_), Some(_)) => u32::from(scale.unwrap_or(0).min(14)),
            _ => 0,
        }
    }
}

pub(super) struct Conn {
    pub(super) tuple: FourTuple,
    pub(super) handle: Option<SockId>,
    pub(super) role: Role,
    pub(super) opened: Instant,
    /// Written by the application, not yet inside smoltcp (the congestion window is
    /// full, or the handshake is not done).
    pub(super) pending: SendQueue,
    /// Input left in a socket we removed (after TIME_WAIT takeover or close).
    pub(super) leftover: VecDeque<u8>,
    /// The latest write said more of it follows at once (`MSG_MORE`): its sub-MSS
    /// tail waits for the rest instead of leaving as a segment of its own.
    pub(super) more: bool,
    /// shutdown(Write) or close(): send FIN once `pending` is empty.
    pub(super) write_shut: bool,
    pub(super) fin_queued: bool,
    /// close(): no more reading; arriving data is answered with RST.
    pub(super) app_closed: bool,
    pub(super) error: Option<SocketError>,
    pub(super) finished: bool,
    pub(super) awaiting_port: bool,
    pub(super) accept: Accept,
    /// When this host started holding the tuple in TIME_WAIT, and when it let go.
    pub(super) time_wait_since: Option<Instant>,
    pub(super) time_wait_until: Option<Instant>,
    pub(super) cwnd: CongestionWindow,
    pub(super) rtt: RttEstimator,
    pub(super) track: WireTrack,
    pub(super) prev_send_queue: usize,
    pub(super) stats: Counters,
    /// What the trace last said of it.
    pub(super) trace: TraceState,
    /// When it was last noted in the table's news (see `news`).
    pub(super) news_mark: u64,
}

impl Conn {
    /// The local port, once it has one. An active open's tuple carries port 0 while
    /// it waits for a free ephemeral port; 0 is never handed out (RFC 6335 §6
    /// reserves it, and `--ports` accepts 1-65535 only).
    pub(super) fn local_port(&self) -> Option<u16> {
        (self.tuple.local_port != 0).then_some(self.tuple.local_port)
    }
}

/// A passive connection's way through the listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Accept {
    /// Active open: never accepted.
    NotListening,
    /// Handshake under way (the SYN queue).
    Backlog,
    /// Made by a returning SYN cookie, while smoltcp's socket finishes the handshake
    /// the cookie stood for (on Ethernet it may first wait for ARP). Not in the SYN
    /// queue: Linux's cookie connection never is (`cookie_v4_check` makes the full
    /// socket at once).
    Cookie,
    /// In the accept queue.
    Queued,
    /// Returned by `accept`.
    Accepted,
}

impl Accept {
    /// Passive, and its handshake not yet complete: in the SYN queue or made by a
    /// cookie.
    pub(super) fn handshaking(self) -> bool {
        matches!(self, Accept::Backlog | Accept::Cookie)
    }
}

impl Host {
    pub(super) fn new_conn(&self, tuple: FourTuple, handle: Option<SockId>, role: Role) -> Conn {
        Conn {
            tuple,
            handle,
            role,
            opened: self.now,
            pending: SendQueue::default(),
            leftover: VecDeque::new(),
            more: false,
            write_shut: false,
            fin_queued: false,
            app_closed: false,
            error: None,
            finished: false,
            awaiting_port: false,
            accept: if role == Role::Server {
                Accept::Backlog
            } else {
                Accept::NotListening
            },
            time_wait_since: None,
            time_wait_until: None,
            cwnd: CongestionWindow::new(&self.config.knobs.slow_start, DEFAULT_MSS, self.now),
            rtt: RttEstimator::for_config(&self.config.knobs.retransmit),
            track: WireTrack::default(),
            prev_send_queue: 0,
            stats: Counters::default(),
            trace: TraceState::default(),
            news_mark: 0,
        }
    }

    pub(super) fn snapshot(&self, c: &Conn) -> ConnStats {
        let mut s = c.stats.to_stats();
        s.local_port = c.local_port();
        s.remote = format!("{}:{}", c.tuple.remote_addr, c.tuple.remote_port);
        s.role = Some(c.role);
        s.opened_ms = ms_since(self.epoch, c.opened);
        if self.config.knobs.slow_start.enabled {
            s.max_cwnd = Some(c.cwnd.max_window() as u64);
        }
        s.cwnd_history = c.cwnd.history().to_vec();
        if let Some(since) = c.time_wait_since {
            // Still held at the end of the run: the time so far.
            let until = c.time_wait_until.unwrap_or(self.now);
            s.time_wait_ms = Some(ms_since(since, until));
        }
        s
    }
}

pub(super) fn ms_since(epoch: Instant, t: Instant) -> f64 {
    (t - epoch).total_micros() as f64 / 1000.0
}
