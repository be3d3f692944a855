//! Sender-side congestion control kept above smoltcp: the RFC 5681 congestion
//! window. The retransmission timer it is paired with is in [`crate::retransmit`].
//!
//! smoltcp 0.14 runs with `CongestionControl::None`, so the only limit it
//! applies on its own is the peer's receive window. This module decides how
//! many bytes the lab's sender may put in flight on top of that. It is pure
//! logic: it never reads a clock (every `now` is a parameter), never does I/O,
//! and never panics (all arithmetic saturates).
//!
//! Units: the congestion window and `ssthresh` are in bytes, like RFC 5681
//! (and unlike Linux, which counts segments in `snd_cwnd`).

use smoltcp::time::{Duration, Instant};

/// Sentinel used in [`CwndSample`] for "no limit": an unbounded `ssthresh`
/// (RFC 5681 §3.1 lets the initial `ssthresh` be "arbitrarily high") or a
/// disabled congestion window. Serialises as `null`.
pub const UNLIMITED: u64 = u64::MAX;

/// Linux's timer tick as the idle restart counts it: HZ = 250, the `CONFIG_HZ` of the
/// common distribution kernels (Debian, Ubuntu; some build 1000, i.e. 1 ms).
pub const LINUX_JIFFY: Duration = Duration::from_millis(4);

/// Knobs of the slow-start experiment.
///
/// Why a struct of its own: the lab varies these per run and records them
/// next to the results, hence `Serialize`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SlowStartConfig {
    /// Initial window in segments (RFC 5681 §3.1 "IW"; RFC 3390 allows up to
    /// about 4, RFC 6928 and Linux's `TCP_INIT_CWND` use 10). A value of 0 is
    /// treated as 1: a zero window could never send, so no ACK would ever open it.
    pub initial_window: u32,
    /// Initial slow-start threshold in bytes. `None` means "arbitrarily high"
    /// (RFC 5681 §3.1), which is also what Linux starts with
    /// (`TCP_INFINITE_SSTHRESH`).
    pub ssthresh: Option<u32>,
    /// `false` removes the congestion window entirely: the sender is limited
    /// only by the peer's receive window, as smoltcp would be on its own.
    pub enabled: bool,
    /// Whether to collapse the window after an idle period (RFC 5681 §4.1;
    /// Linux `net.ipv4.tcp_slow_start_after_idle`, default on).
    pub restart_after_idle: bool,
    /// How the window restarts after an idle period, when `restart_after_idle` is
    /// on: Linux's gradual rule (`tcp_cwnd_restart`) or RFC 5681 §4.1's restart
    /// window at once. Implemented by [`CongestionWindow::on_send`].
    pub idle_restart: IdleRestart,
    /// The most segments one ACK may add to the window in slow start, `None` for no
    /// limit. RFC 5681 §3.1 (the classic value): 1, so a receiver that ACKs every
    /// second segment grows the window by 1.5x per round trip instead of 2x;
    /// RFC 3465 §2.2 (appropriate byte counting): L = 2; Linux (`tcp_slow_start`):
    /// no limit, every newly acknowledged segment counts, so the window doubles per
    /// round trip however the receiver batches its ACKs. Implemented by
    /// [`CongestionWindow::on_ack`].
    pub abc_limit: Option<u32>,
    /// What a loss halves into the new `ssthresh`: RFC 5681's FlightSize (§3.1 eq. 4,
    /// §3.2 step 2) or Linux's congestion window (`tcp_reno_ssthresh`: cwnd / 2 in
    /// whole segments). They differ when the sender is limited by the application
    /// (flight below cwnd) or, with SACK, when flight counts data the peer holds.
    pub loss_ssthresh: LossSsthresh,
}

/// What the slow-start threshold is computed from when a loss is detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossSsthresh {
    /// `max(FlightSize / 2, 2 MSS)`, RFC 5681 §3.1 equation 4.
    Flight,
    /// `max(cwnd / 2, 2)` segments, Linux's `tcp_reno_ssthresh`.
    Cwnd,
}

/// The rule that shrinks the congestion window when a connection sends again after
/// more than one RTO of silence with nothing in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleRestart {
    /// Linux's `tcp_cwnd_restart`: ssthresh becomes max(ssthresh, 3/4 cwnd), then
    /// cwnd is halved once per RTO that elapsed idle (beyond the first), never below
    /// the restart window min(IW, cwnd). A pause of just over one RTO costs half the
    /// window, not all of it.
    Linux,
    /// RFC 5681 §4.1: cwnd goes straight to the restart window min(IW, cwnd), and
    /// ssthresh is left alone.
    Rfc5681,
}

impl SlowStartConfig {
    /// Linux's: IW 10 (RFC 6928), infinite `ssthresh`, congestion control on, slow
    /// start after idle on by Linux's rule, no per-ACK limit in slow start, a loss
    /// halving the window.
    pub const LINUX: SlowStartConfig = SlowStartConfig {
        initial_window: 10,
        ssthresh: None,
        enabled: true,
        restart_after_idle: true,
        idle_restart: IdleRestart::Linux,
        abc_limit: None,
        loss_ssthresh: LossSsthresh::Cwnd,
    };

    /// The book's classic stack: IW 1, one segment of growth per ACK (RFC 5681's
    /// limit), RFC 5681's restart after idle, a loss halving the data in flight.
    pub const BOOK: SlowStartConfig = SlowStartConfig {
        initial_window: 1,
        ssthresh: None,
        enabled: true,
        restart_after_idle: true,
        idle_restart: IdleRestart::Rfc5681,
        abc_limit: Some(1),
        loss_ssthresh: LossSsthresh::Flight,
    };
}

impl Default for SlowStartConfig {
    /// [`SlowStartConfig::LINUX`].
    fn default() -> Self {
        SlowStartConfig::LINUX
    }
}

/// What made the congestion window or `ssthresh` change, so a plot of
/// [`CwndSample`]s can be annotated with the RFC 5681 rule that acted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CwndCause {
    /// The initial window, IW*MSS (RFC 5681 §3.1).
    Start,
    /// Growth on an ACK of new data: slow start (§3.1 eq. 2) or congestion
    /// avoidance (§3.1, byte counting per RFC 3465).
    Ack,
    /// Retransmission timeout: `cwnd` to the loss window (§3.1 eq. 4).
    Timeout,
    /// Fast retransmit after three duplicate ACKs (§3.2).
    FastRetransmit,
    /// Restart after idle: RFC 5681 §4.1's restart window, or Linux's halving per
    /// idle RTO (`tcp_cwnd_restart`).
    IdleRestart,
    /// The peer's MSS became known before any data was acknowledged, so the
    /// initial window was recomputed as IW*MSS.
    MssChange,
    /// The SYN or SYN-ACK was retransmitted more than once: the connection starts
    /// from one segment instead of IW (RFC 5681 §3.1, as Linux applies it).
    HandshakeLoss,
}

/// One point of the congestion-window time series, recorded whenever `cwnd`
/// or `ssthresh` actually changes, so the lab can plot slow start (RFC 5681 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CwndSample {
    /// Time of the change, in microseconds of the caller's clock
    /// (`Instant::total_micros`).
    pub at_us: i64,
    /// Congestion window in bytes after the change ([`UNLIMITED`] if disabled).
    #[serde(serialize_with = "crate::stats::unlimited_as_null")]
    pub cwnd: u64,
    /// Slow-start threshold in bytes after the change ([`UNLIMITED`] if infinite).
    #[serde(serialize_with = "crate::stats::unlimited_as_null")]
    pub ssthresh: u64,
    /// The rule that produced the change.
    pub cause: CwndCause,
}

/// RFC 5681 congestion window of one connection, in bytes.
///
/// Why: smoltcp's own controller is switched off, so this is the only thing
/// that stops the lab's sender from dumping a whole receive window onto the
/// path at once. It implements slow start and congestion avoidance (§3.1),
/// the ssthresh/cwnd response to a timeout (§3.1) and to fast retransmit
/// (§3.2, without NewReno window inflation), and the restart after idle (§4.1, or
/// Linux's gradual rule). Growth per ACK in slow start is limited as RFC 5681
/// asks, or not at all as in Linux (`abc_limit`). It does not implement RFC 7661
/// (cwnd validation): the window grows on every ACK even when the sender was
/// application-limited.
#[derive(Clone, Debug)]
pub struct CongestionWindow {
    enabled: bool,
    restart_after_idle: bool,
    idle_restart: IdleRestart,
    /// Most bytes one ACK may add in slow start (`abc_limit` x MSS, kept as a count
    /// so that a later MSS change applies); `None`: no limit.
    abc_limit: Option<u64>,
    loss_ssthresh: LossSsthresh,
    /// Initial window in segments, at least 1.
    initial_window: u64,
    /// Sender MSS in bytes, at least 1.
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    /// RFC 3465 `bytes_acked` accumulator, used in congestion avoidance only.
    bytes_acked: u64,
    max_cwnd: u64,
    /// No byte acknowledged and no loss signalled yet: `set_mss` may rescale.
    pristine: bool,
    /// An RTO fired and no new data has been acknowledged since, so a further
    /// RTO is a retransmission of the same segment (ssthresh is held constant).
    timed_out: bool,
    /// The handshake lost a segment: the initial window is one segment.
    handshake_lost: bool,
    last_send: Option<Instant>,
    history: Vec<CwndSample>,
}

impl CongestionWindow {
    /// Starts a connection's window at IW*MSS (RFC 5681 §3.1) and records the
    /// `Start` sample. `mss` is the sender MSS known so far (RFC 9293 §3.7.1
    /// default 536 until the peer's option arrives; see [`Self::set_mss`]).
    /// An `mss` of 0 is treated as 1 byte so that the window can still grow.
    pub fn new(config: &SlowStartConfig, mss: usize, now: Instant) -> Self {
        let initial_window = u64::from(config.initial_window.max(1));
        let mss = clamp_mss(mss);
        let cwnd = if config.enabled {
            initial_window.saturating_mul(mss)
        } else {
            UNLIMITED
        };
        let ssthresh = config.ssthresh.map_or(UNLIMITED, u64::from);
        let mut cw = CongestionWindow {
            enabled: config.enabled,
            restart_after_idle: config.restart_after_idle,
            idle_restart: config.idle_restart,
            abc_limit: config.abc_limit.map(u64::from),
            loss_ssthresh: config.loss_ssthresh,
            initial_window,
            mss,
            cwnd,
            ssthresh,
            bytes_acked: 0,
            max_cwnd: cwnd,
            pristine: true,
            timed_out: false,
            handshake_lost: false,
            last_send: None,
            history: Vec::new(),
        };
        cw.history.push(cw.sample(CwndCause::Start, now));
        cw
    }

    /// The peer's MSS option became known (RFC 9293 §3.7.1). Later growth
    /// uses the new MSS; if nothing has been acknowledged and no loss has been
    /// signalled yet, the initial window is recomputed as IW*new_mss (and the
    /// maximum window restarts from it), because the window computed from the
    /// default MSS was never the one RFC 5681 §3.1 asks for.
    pub fn set_mss(&mut self, mss: usize, now: Instant) {
        self.mss = clamp_mss(mss);
        if self.enabled && self.pristine {
            self.cwnd = if self.handshake_lost {
                self.mss
            } else {
                self.initial_window_bytes()
            };
            self.max_cwnd = self.cwnd;
            self.record(CwndCause::MssChange, now);
        }
    }

    /// The SYN or SYN-ACK was sent again; `count` is how many times so far.
    ///
    /// RFC 5681 §3.1: if the SYN or SYN-ACK is lost, the initial window "MUST be
    /// one segment". Linux (`tcp_init_transfer`) applies this only after more than
    /// one retransmission: with RFC 6298's 1 s initial RTO, any path slower than
    /// 1 s retransmits its SYN once spuriously, and that should not cost the
    /// connection its initial window. The lab follows Linux. The handshake itself
    /// is no loss of data: nothing else changes (no ssthresh cut).
    pub fn on_handshake_retransmit(&mut self, count: u64, now: Instant) {
        if !self.enabled || count < 2 || self.handshake_lost {
            return;
        }
        self.handshake_lost = true;
        if self.pristine {
            self.cwnd = self.mss;
            self.max_cwnd = self.cwnd;
            self.record(CwndCause::HandshakeLoss, now);
        }
    }

    /// Current congestion window in bytes; `usize::MAX` when disabled, so that
    /// `min(window(), rwnd)` leaves only the receive window (RFC 5681 §2 "the
    /// minimum of cwnd and rwnd").
    pub fn window(&self) -> usize {
        to_usize(self.cwnd)
    }

    /// Current slow-start threshold in bytes; `usize::MAX` while it is still
    /// "arbitrarily high" (RFC 5681 §3.1).
    pub fn ssthresh(&self) -> usize {
        to_usize(self.ssthresh)
    }

    /// True while `cwnd < ssthresh` (RFC 5681 §3.1: slow start; at equality
    /// this implementation uses congestion avoidance, which the RFC permits).
    /// Always false when the window is disabled.
    pub fn in_slow_start(&self) -> bool {
        self.enabled && self.cwnd < self.ssthresh
    }

    /// Bytes the sender may still put in flight: `cwnd - in_flight`, never
    /// negative (RFC 5681 §2: a sender MUST NOT send data beyond
    /// SND.UNA + min(cwnd, rwnd)). The caller still applies the receive window.
    pub fn allowance(&self, in_flight: usize) -> usize {
        if !self.enabled {
            return usize::MAX;
        }
        self.window().saturating_sub(in_flight)
    }

    /// One ACK that acknowledged `acked` new bytes (duplicate ACKs carry 0 and
    /// change nothing).
    ///
    /// Slow start (`cwnd < ssthresh`), by the `abc_limit` knob:
    /// * a limit of L segments: `cwnd += min(acked, L*MSS)` (RFC 5681 §3.1 eq. 2
    ///   with L = 1; RFC 3465 §2.2 with L = 2). The result is not capped at
    ///   `ssthresh`: slow start simply ends once `cwnd >= ssthresh`.
    /// * no limit, as Linux's `tcp_slow_start`: every acknowledged byte is added,
    ///   up to `ssthresh`; what is left of the ACK counts toward congestion
    ///   avoidance (Linux hands the remainder to `tcp_cong_avoid_ai`).
    ///
    /// Congestion avoidance: appropriate byte counting (RFC 5681 §3.1, RFC 3465
    /// §2.1): acknowledged bytes accumulate in `bytes_acked`; when it reaches
    /// `cwnd`, it is reduced by `cwnd` and `cwnd += MSS`. At most one MSS per
    /// ACK ("MUST NOT increment cwnd by more than SMSS bytes"); any surplus is
    /// carried to the next ACK. (Linux `tcp_cong_avoid_ai` instead adds several
    /// segments at once for a huge cumulative ACK.)
    pub fn on_ack(&mut self, acked: usize, now: Instant) {
        if !self.enabled || acked == 0 {
            return;
        }
        let mut acked = to_u64(acked);
        self.pristine = false;
        self.timed_out = false;
        if self.cwnd < self.ssthresh {
            match self.abc_limit {
                Some(limit) => {
                    let most = limit.max(1).saturating_mul(self.mss);
                    self.cwnd = self.cwnd.saturating_add(acked.min(most));
                    acked = 0;
                }
                None => {
                    let grown = acked.min(self.ssthresh - self.cwnd);
                    self.cwnd = self.cwnd.saturating_add(grown);
                    acked -= grown;
                }
            }
        }
        if acked > 0 && self.cwnd >= self.ssthresh {
            self.bytes_acked = self.bytes_acked.saturating_add(acked);
            if self.bytes_acked >= self.cwnd {
                self.bytes_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.mss);
            }
        }
        self.record(CwndCause::Ack, now);
    }

    /// The retransmission timer fired with `flight` bytes outstanding.
    ///
    /// RFC 5681 §3.1 eq. 4: `ssthresh = max(flight/2, 2*MSS)` — computed from
    /// FlightSize, not cwnd — and `cwnd = 1 MSS` (the loss window, regardless
    /// of IW). The paragraph after eq. 4: if the segment has already been
    /// retransmitted by the timer, `ssthresh` is held constant. This type
    /// treats an RTO with no new data acknowledged since the previous RTO as
    /// such a repeat (Linux `tcp_enter_loss` likewise does not recompute
    /// ssthresh when it is already in the Loss state without new ACKs).
    pub fn on_timeout(&mut self, flight: usize, now: Instant) {
        if !self.enabled {
            return;
        }
        if !self.timed_out {
            self.ssthresh = self.loss_ssthresh(flight);
        }
        self.timed_out = true;
        self.pristine = false;
        self.cwnd = self.mss;
        self.bytes_acked = 0;
        self.record(CwndCause::Timeout, now);
    }

    /// Fast retransmit after the third duplicate ACK (RFC 5681 §3.2 steps 2–3):
    /// `ssthresh = max(flight/2, 2*MSS)` and `cwnd = ssthresh`.
    ///
    /// Deliberate simplification: RFC 5681 §3.2 sets `cwnd = ssthresh + 3*MSS`,
    /// inflates it by one MSS per further duplicate ACK and deflates it to
    /// `ssthresh` when recovery ends; NewReno (RFC 6582) and Linux PRR
    /// (RFC 6937) refine that further. Here the window jumps straight to the
    /// post-recovery value, so fewer new segments leave during recovery.
    pub fn on_fast_retransmit(&mut self, flight: usize, now: Instant) {
        if !self.enabled {
            return;
        }
        self.ssthresh = self.loss_ssthresh(flight);
        self.pristine = false;
        self.cwnd = self.ssthresh;
        self.bytes_acked = 0;
        self.record(CwndCause::FastRetransmit, now);
    }

    /// Call before sending new data; records the send time.
    ///
    /// A sender that has sent nothing for longer than one RTO restarts its window,
    /// by the `idle_restart` knob. The restart window is `RW = min(IW*MSS, cwnd)`
    /// either way. Like Linux (`tcp_slow_start_after_idle_check`) this only applies
    /// when nothing is in flight, and the idle time is measured from the last send.
    /// * RFC 5681 §4.1: cwnd SHOULD go to at most RW; this goes straight to RW and
    ///   leaves ssthresh alone.
    /// * Linux `tcp_cwnd_restart`: ssthresh first becomes max(ssthresh, 3/4 cwnd)
    ///   (`tcp_current_ssthresh`), so the window regains its old size in slow
    ///   start; then cwnd is halved while `(idle -= RTO) > 0` and cwnd > RW, and
    ///   set to max(cwnd, RW). An idle time in (k, k+1] RTOs halves it k times.
    ///   Linux counts the window in packets; so does this arithmetic (whole
    ///   segments, rounded down, as `>> 1` does). Linux keeps ssthresh unchanged
    ///   while it is reducing the window after a loss (CWR or Recovery); with
    ///   nothing in flight that reduction is over, which this type assumes.
    ///
    /// Linux does this arithmetic in jiffies ([`LINUX_JIFFY`]): the RTO rounded up
    /// (`usecs_to_jiffies` in `__tcp_set_rto`), the idle time as the difference of two
    /// tick counts (`tcp_jiffies32 - lsndtime`). The Linux rule does the same, so a
    /// pause that exceeds the RTO by less than a tick, as a think time plus one round
    /// trip can on a steady path, restarts nothing, as on Linux. The RFC rule compares
    /// microseconds.
    pub fn on_send(&mut self, in_flight: usize, rto: Duration, now: Instant) {
        if self.enabled && self.restart_after_idle && in_flight == 0 {
            if let Some(last) = self.last_send {
                let (idle, rto) = match self.idle_restart {
                    IdleRestart::Linux => {
                        let tick = LINUX_JIFFY.total_micros();
                        let ticks = |t: Instant| t.total_micros().div_euclid(tick as i64);
                        let idle = ticks(now).saturating_sub(ticks(last)).max(0) as u64;
                        (idle, rto.total_micros().div_ceil(tick))
                    }
                    IdleRestart::Rfc5681 => (elapsed(last, now).total_micros(), rto.total_micros()),
                };
                if idle > rto {
                    self.restart_after_idle(idle, rto, now);
                }
            }
        }
        self.last_send = Some(now);
    }

    /// Applies the idle-restart rule after `idle` > `rto` of silence (both in the
    /// rule's units: jiffies for Linux's, microseconds for RFC 5681's).
    fn restart_after_idle(&mut self, idle: u64, rto: u64, now: Instant) {
        let before = self.cwnd;
        let rw = self.initial_window_bytes().min(self.cwnd);
        match self.idle_restart {
            IdleRestart::Rfc5681 => self.cwnd = rw,
            IdleRestart::Linux => {
                let segments = self.cwnd / self.mss;
                let three_quarters = ((segments >> 1) + (segments >> 2)).saturating_mul(self.mss);
                self.ssthresh = self.ssthresh.max(three_quarters);
                let rto = rto.max(1);
                let mut left = idle;
                let mut cwnd = self.cwnd;
                while left > rto && cwnd > rw {
                    left -= rto;
                    cwnd = ((cwnd / self.mss) >> 1).saturating_mul(self.mss);
                }
                self.cwnd = cwnd.max(rw);
            }
        }
        if self.cwnd != before {
            self.bytes_acked = 0;
        }
        self.record(CwndCause::IdleRestart, now);
    }

    /// Largest congestion window this connection reached, in bytes
    /// (`usize::MAX` when disabled): how far slow start got before the first
    /// loss, the lab's headline number.
    pub fn max_window(&self) -> usize {
        to_usize(self.max_cwnd)
    }

    /// Every change of `cwnd` or `ssthresh`, oldest first, starting with the
    /// `Start` sample; updates that change neither are not recorded. It grows
    /// without bound (at most one sample per ACK), which suits lab-length runs.
    pub fn history(&self) -> &[CwndSample] {
        &self.history
    }

    fn initial_window_bytes(&self) -> u64 {
        self.initial_window.saturating_mul(self.mss)
    }

    /// The threshold after a loss, by the `loss_ssthresh` rule: `max(flight/2,
    /// 2*MSS)` (RFC 5681 §3.1 eq. 4), or half the window in whole segments, at least
    /// two (Linux `tcp_reno_ssthresh`).
    fn loss_ssthresh(&self, flight: usize) -> u64 {
        let two = self.mss.saturating_mul(2);
        match self.loss_ssthresh {
            LossSsthresh::Flight => (to_u64(flight) / 2).max(two),
            LossSsthresh::Cwnd => ((self.cwnd / self.mss) >> 1)
                .saturating_mul(self.mss)
                .max(two),
        }
    }

    fn sample(&self, cause: CwndCause, now: Instant) -> CwndSample {
        CwndSample {
            at_us: now.total_micros(),
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            cause,
        }
    }

    /// Updates the maximum and appends a sample unless nothing changed.
    /// Keep a sample of a change. Growth by ACKs is sampled only once cwnd has moved by
    /// an eighth since the last sample: a 256 MiB transfer would otherwise keep one
    /// sample per ACK (63,000 of them, a 14 MB report), while every event that is not
    /// an ACK (start, timeout, fast retransmit, idle restart, MSS change) is kept.
    fn record(&mut self, cause: CwndCause, now: Instant) {
        self.max_cwnd = self.max_cwnd.max(self.cwnd);
        let skip = self.history.last().is_some_and(|s| {
            let same_ssthresh = s.ssthresh == self.ssthresh;
            let unchanged = s.cwnd == self.cwnd && same_ssthresh;
            let small_growth =
                cause == CwndCause::Ack && same_ssthresh && self.cwnd.abs_diff(s.cwnd) < s.cwnd / 8;
            unchanged || small_growth
        });
        if !skip {
            self.history.push(self.sample(cause, now));
        }
    }
}

fn clamp_mss(mss: usize) -> u64 {
    to_u64(mss).max(1)
}

fn to_u64(x: usize) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}

fn to_usize(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

/// `to - from`, or zero if `to` is not later (smoltcp's `Instant - Instant`
/// would return the absolute difference and can overflow).
fn elapsed(from: Instant, to: Instant) -> Duration {
    let d = to.total_micros().saturating_sub(from.total_micros());
    Duration::from_micros(u64::try_from(d).unwrap_or(0))
}

#[cfg(test)]
mod tests;
