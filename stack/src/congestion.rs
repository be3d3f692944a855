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

impl Default for SlowStartConfig {
    /// Linux's defaults: IW 10 (RFC 6928), infinite `ssthresh`, congestion
    /// control on, slow start after idle on by Linux's rule, no per-ACK limit
    /// in slow start.
    fn default() -> Self {
        SlowStartConfig {
            initial_window: 10,
            ssthresh: None,
            enabled: true,
            restart_after_idle: true,
            idle_restart: IdleRestart::Linux,
            abc_limit: None,
            loss_ssthresh: LossSsthresh::Cwnd,
        }
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
mod tests {
    use super::*;

    const MSS: usize = 1460;

    fn cfg(iw: u32, ssthresh: Option<u32>) -> SlowStartConfig {
        SlowStartConfig {
            initial_window: iw,
            ssthresh,
            enabled: true,
            restart_after_idle: true,
            idle_restart: IdleRestart::Rfc5681,
            abc_limit: Some(1),
            loss_ssthresh: LossSsthresh::Flight,
        }
    }

    fn ms(t: i64) -> Instant {
        Instant::from_millis(t)
    }

    /// Runs `rounds` round trips (RTT 100 ms, RTO 1 s) of a bulk sender with
    /// an unlimited receive window, advancing the caller's clock `t_ms`: each
    /// round sends as many full segments as the window allows at `t_ms`, and
    /// one RTT later every one of them is ACKed individually. Returns cwnd
    /// (in segments) at the start of each round.
    fn rounds(cw: &mut CongestionWindow, rounds: usize, t_ms: &mut i64) -> Vec<usize> {
        let mut seen = Vec::new();
        for _ in 0..rounds {
            seen.push(cw.window() / MSS);
            let segments = cw.allowance(0) / MSS;
            cw.on_send(0, Duration::from_secs(1), ms(*t_ms));
            *t_ms += 100;
            for _ in 0..segments {
                cw.on_ack(MSS, ms(*t_ms));
            }
        }
        seen
    }

    #[test]
    fn slow_start_iw1_doubles_every_round() {
        // IW 1, MSS 1460, ssthresh infinite. Each round, every one of the
        // cwnd/MSS segments gets its own ACK and adds min(1460, MSS) = 1 MSS
        // (RFC 5681 eq. 2), so cwnd doubles per round: 1, 2, 4, 8, 16.
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(1, None), MSS, ms(t));
        assert!(cw.in_slow_start());
        assert_eq!(rounds(&mut cw, 5, &mut t), vec![1, 2, 4, 8, 16]);
        // After round 5 (16 ACKs): 16 + 16 = 32 segments.
        assert_eq!(cw.window(), 32 * MSS);
    }

    #[test]
    fn slow_start_iw10_doubles_every_round() {
        // IW 10: 10, 20, 40, 80 segments at the start of rounds 1..4.
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(10, None), MSS, ms(t));
        assert_eq!(cw.window(), 14_600); // 10 * 1460
        assert_eq!(rounds(&mut cw, 4, &mut t), vec![10, 20, 40, 80]);
    }

    #[test]
    fn ack_of_more_than_one_mss_adds_only_one_mss_in_slow_start() {
        // Delayed ACK covering 2 segments: cwnd += min(2920, 1460) = 1460.
        let mut cw = CongestionWindow::new(&cfg(2, None), MSS, ms(0));
        cw.on_ack(2 * MSS, ms(10));
        assert_eq!(cw.window(), 3 * MSS);
        // A partial ACK of 100 bytes adds 100 bytes.
        cw.on_ack(100, ms(20));
        assert_eq!(cw.window(), 3 * MSS + 100);
    }

    #[test]
    fn slow_start_is_not_capped_at_ssthresh() {
        // ssthresh = 2000 bytes, cwnd = 1460 < 2000: slow start.
        // ACK of 1460 → cwnd = 2920, beyond ssthresh (no cap), now in CA.
        let mut cw = CongestionWindow::new(&cfg(1, Some(2000)), MSS, ms(0));
        assert!(cw.in_slow_start());
        cw.on_ack(MSS, ms(1));
        assert_eq!(cw.window(), 2920);
        assert!(!cw.in_slow_start());
    }

    #[test]
    fn crossover_into_congestion_avoidance_adds_one_mss_per_window() {
        // IW 4, ssthresh = 8 MSS = 11680.
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(4, Some(8 * 1460)), MSS, ms(t));
        // Round 1 in slow start: 4 ACKs, +1 MSS each → 8 segments.
        assert_eq!(rounds(&mut cw, 1, &mut t), vec![4]);
        assert_eq!(cw.window(), 8 * MSS);
        // cwnd == ssthresh → congestion avoidance.
        assert!(!cw.in_slow_start());
        // CA with byte counting: bytes_acked must reach cwnd = 8*1460 = 11680.
        // 7 ACKs (10220 bytes) change nothing...
        for _ in 0..7 {
            cw.on_ack(MSS, ms(t));
            assert_eq!(cw.window(), 8 * MSS);
        }
        // ...the 8th makes bytes_acked = 11680 ≥ 11680 → cwnd = 9 MSS, bytes_acked = 0.
        cw.on_ack(MSS, ms(t));
        assert_eq!(cw.window(), 9 * MSS);
        // Next increment needs 9 MSS of ACKs: 8 leave it, the 9th adds one.
        for _ in 0..8 {
            cw.on_ack(MSS, ms(t));
        }
        assert_eq!(cw.window(), 9 * MSS);
        cw.on_ack(MSS, ms(t));
        assert_eq!(cw.window(), 10 * MSS);
        // Whole rounds from here: +1 segment per round (10, 11, 12).
        assert_eq!(rounds(&mut cw, 3, &mut t), vec![10, 11, 12]);
        assert_eq!(cw.window(), 13 * MSS);
    }

    #[test]
    fn congestion_avoidance_adds_at_most_one_mss_per_ack_and_carries_surplus() {
        // ssthresh 0 → CA from the start. cwnd = 2*1460 = 2920.
        let mut cw = CongestionWindow::new(&cfg(2, Some(0)), MSS, ms(0));
        // One stretch ACK of 3*2920 = 8760 bytes: bytes_acked 8760 ≥ 2920 →
        // bytes_acked = 5840, cwnd = 4380 (one MSS only).
        cw.on_ack(3 * 2920, ms(1));
        assert_eq!(cw.window(), 4380);
        // 1 byte more: bytes_acked = 5841 ≥ 4380 → 1461 left, cwnd = 5840.
        cw.on_ack(1, ms(2));
        assert_eq!(cw.window(), 5840);
        // 1 byte more: 1462 < 5840 → unchanged.
        cw.on_ack(1, ms(3));
        assert_eq!(cw.window(), 5840);
    }

    #[test]
    fn timeout_sets_ssthresh_from_flight_and_cwnd_to_one_mss() {
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(10, None), MSS, ms(t));
        // flight 20 MSS = 29200 → ssthresh = max(14600, 2920) = 14600; cwnd = 1460.
        cw.on_timeout(20 * MSS, ms(t));
        assert_eq!(cw.ssthresh(), 14_600);
        assert_eq!(cw.window(), MSS);
        assert!(cw.in_slow_start());
        // Small flight: max(1000/2, 2*1460) = 2920.
        let mut small = CongestionWindow::new(&cfg(10, None), MSS, ms(0));
        small.on_timeout(1000, ms(1000));
        assert_eq!(small.ssthresh(), 2920);
        // Slow start resumes from 1 MSS: 1, 2, 4, 8 segments per round. In
        // round 4 the first 2 of 8 ACKs take cwnd 8 → 10 MSS = ssthresh; the
        // other 6 are congestion avoidance: bytes_acked 6*1460 < 10*1460.
        assert_eq!(rounds(&mut cw, 4, &mut t), vec![1, 2, 4, 8]);
        assert_eq!(cw.window(), 10 * MSS);
        assert!(!cw.in_slow_start());
    }

    #[test]
    fn repeated_timeout_holds_ssthresh_until_new_data_is_acked() {
        let mut cw = CongestionWindow::new(&cfg(10, None), MSS, ms(0));
        cw.on_timeout(20 * MSS, ms(1000)); // ssthresh = 10 MSS
                                           // The same segment times out again (no ACK in between): ssthresh is
                                           // held (RFC 5681 §3.1), cwnd stays at 1 MSS.
        cw.on_timeout(MSS, ms(3000));
        assert_eq!(cw.ssthresh(), 10 * MSS);
        assert_eq!(cw.window(), MSS);
        // New data acknowledged, then another RTO: now recomputed,
        // max(2920/2, 2920) = 2920.
        cw.on_ack(MSS, ms(3100));
        cw.on_timeout(2 * MSS, ms(5000));
        assert_eq!(cw.ssthresh(), 2 * MSS);
    }

    #[test]
    fn fast_retransmit_sets_cwnd_to_ssthresh_without_inflation() {
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(10, None), MSS, ms(t));
        // flight 30 MSS → ssthresh = max(15 MSS, 2 MSS) = 21900; cwnd = 21900.
        cw.on_fast_retransmit(30 * MSS, ms(t));
        assert_eq!(cw.ssthresh(), 15 * MSS);
        assert_eq!(cw.window(), 15 * MSS);
        assert!(!cw.in_slow_start());
        // Continues in CA: +1 MSS after 15 MSS of ACKs.
        assert_eq!(rounds(&mut cw, 2, &mut t), vec![15, 16]);
        // Tiny flight: floor of 2 MSS.
        cw.on_fast_retransmit(100, ms(t));
        assert_eq!(cw.window(), 2 * MSS);
        assert_eq!(cw.ssthresh(), 2 * MSS);
    }

    #[test]
    fn idle_restart_collapses_to_restart_window() {
        let rto = Duration::from_millis(300);
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(2, None), MSS, ms(t));
        rounds(&mut cw, 3, &mut t); // 2 → 4 → 8 → 16 segments; last send at 200 ms
        assert_eq!(cw.window(), 16 * MSS);
        // Idle exactly RTO (200 → 500 ms): not "more than" RTO → unchanged.
        cw.on_send(0, rto, ms(500));
        assert_eq!(cw.window(), 16 * MSS);
        // Idle 301 ms > 300 ms since the send at 500: RW = min(2*1460, cwnd).
        cw.on_send(0, rto, ms(801));
        assert_eq!(cw.window(), 2 * MSS);
        assert_eq!(cw.history().last().unwrap().cause, CwndCause::IdleRestart);
        // ssthresh untouched (still infinite).
        assert_eq!(cw.ssthresh(), usize::MAX);
    }

    #[test]
    fn no_idle_restart_with_data_in_flight_or_when_switched_off() {
        let rto = Duration::from_millis(300);
        let mut t = 0;
        let mut cw = CongestionWindow::new(&cfg(2, None), MSS, ms(t));
        rounds(&mut cw, 3, &mut t); // 16 segments, last send at 200 ms
                                    // One segment in flight: idle rule does not apply.
        cw.on_send(MSS, rto, ms(5000));
        assert_eq!(cw.window(), 16 * MSS);

        let mut off = SlowStartConfig {
            restart_after_idle: false,
            ..cfg(2, None)
        };
        let mut t = 0;
        let mut cw = CongestionWindow::new(&off, MSS, ms(t));
        rounds(&mut cw, 3, &mut t);
        cw.on_send(0, rto, ms(60_000));
        assert_eq!(cw.window(), 16 * MSS);

        // First send ever: nothing to be idle since.
        off.restart_after_idle = true;
        let mut cw = CongestionWindow::new(&off, MSS, ms(0));
        cw.on_send(0, rto, ms(60_000));
        assert_eq!(cw.window(), 2 * MSS);
        assert_eq!(cw.history().len(), 1);
    }

    #[test]
    fn idle_restart_never_raises_a_small_window() {
        // After a timeout cwnd = 1 MSS < RW = 2 MSS: min(...) keeps 1 MSS.
        let rto = Duration::from_millis(300);
        let mut cw = CongestionWindow::new(&cfg(2, None), MSS, ms(0));
        cw.on_send(0, rto, ms(0));
        cw.on_timeout(2 * MSS, ms(300));
        cw.on_send(0, rto, ms(10_000));
        assert_eq!(cw.window(), MSS);
    }

    /// Like [`rounds`], but the receiver ACKs every `every` segments (and the tail of
    /// a round at once, as its delayed-ACK timer would): the ACKs carry `every` MSS.
    fn rounds_acking(cw: &mut CongestionWindow, rounds: usize, every: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        for round in 0..rounds {
            seen.push(cw.window() / MSS);
            let mut segments = cw.allowance(0) / MSS;
            let at = ms(100 * round as i64 + 100);
            while segments > 0 {
                let covered = segments.min(every);
                cw.on_ack(covered * MSS, at);
                segments -= covered;
            }
        }
        seen
    }

    #[test]
    fn a_loss_halves_flight_or_cwnd_by_the_rule() {
        let at = |rule: LossSsthresh, flight_segments: usize| {
            let config = SlowStartConfig {
                loss_ssthresh: rule,
                ..cfg(10, None)
            };
            let mut cw = CongestionWindow::new(&config, MSS, ms(0));
            cw.on_fast_retransmit(flight_segments * MSS, ms(1));
            cw.ssthresh() / MSS
        };
        // IW 10. Flight 13 (SACKed data counted out of the window) or 4 (the
        // application had no more): RFC 5681 halves it, Linux halves the window.
        assert_eq!(at(LossSsthresh::Flight, 13), 6);
        assert_eq!(at(LossSsthresh::Flight, 4), 2);
        assert_eq!(at(LossSsthresh::Cwnd, 13), 5);
        assert_eq!(at(LossSsthresh::Cwnd, 4), 5);
        // Never below two segments: IW 3 halves to 1, raised to 2.
        let config = SlowStartConfig {
            loss_ssthresh: LossSsthresh::Cwnd,
            ..cfg(3, None)
        };
        let mut cw = CongestionWindow::new(&config, MSS, ms(0));
        cw.on_timeout(3 * MSS, ms(1));
        assert_eq!(cw.ssthresh(), 2 * MSS);
    }

    fn abc(limit: Option<u32>) -> SlowStartConfig {
        SlowStartConfig {
            abc_limit: limit,
            ..cfg(10, None)
        }
    }

    #[test]
    fn without_abc_limit_slow_start_doubles_whatever_the_ack_rate() {
        // Linux `tcp_slow_start`: every acknowledged segment adds one, so W → 2W per
        // round whether an ACK covers 1, 2 or 8 of them.
        for every in [1, 2, 8] {
            let mut cw = CongestionWindow::new(&abc(None), MSS, ms(0));
            assert_eq!(
                rounds_acking(&mut cw, 5, every),
                vec![10, 20, 40, 80, 160],
                "an ACK every {every}"
            );
        }
    }

    #[test]
    fn abc_limit_caps_growth_per_ack() {
        // L = 1 (RFC 5681): one MSS per ACK, W → W + ceil(W / every).
        let grow = |limit, every| {
            let mut cw = CongestionWindow::new(&abc(limit), MSS, ms(0));
            rounds_acking(&mut cw, 6, every)
        };
        assert_eq!(grow(Some(1), 1), vec![10, 20, 40, 80, 160, 320]);
        // 10 + 5 = 15, 15 + 8 = 23, 23 + 12 = 35, 35 + 18 = 53, 53 + 27 = 80: 1.5x.
        assert_eq!(grow(Some(1), 2), vec![10, 15, 23, 35, 53, 80]);
        // 10 + 2 = 12, 12 + 2 = 14, 14 + 2 = 16, 16 + 2 = 18, 18 + 3 = 21.
        assert_eq!(grow(Some(1), 8), vec![10, 12, 14, 16, 18, 21]);
        // L = 2 (RFC 3465): an ACK of two segments counts both, so ACK-every-2
        // doubles; ACK-every-8 gives W + 2 floor(W/8) + min(W mod 8, 2):
        // 10 + 2 + 2 = 14, 14 + 2 + 2 = 18, 18 + 4 + 2 = 24, 24 + 6 = 30, 30 + 6 + 2 = 38.
        assert_eq!(grow(Some(2), 2), vec![10, 20, 40, 80, 160, 320]);
        assert_eq!(grow(Some(2), 8), vec![10, 14, 18, 24, 30, 38]);
    }

    #[test]
    fn without_abc_limit_slow_start_stops_at_ssthresh_and_the_rest_counts_in_ca() {
        // cwnd 10 MSS, ssthresh 15 MSS. One stretch ACK of 10 MSS: slow start takes
        // cwnd to 15 MSS (Linux `tcp_slow_start` caps at ssthresh) and the other
        // 5 MSS go to byte counting: 5 < 15, no step yet.
        let mut cw = CongestionWindow::new(
            &SlowStartConfig {
                abc_limit: None,
                ..cfg(10, Some(15 * MSS as u32))
            },
            MSS,
            ms(0),
        );
        cw.on_ack(10 * MSS, ms(100));
        assert_eq!(cw.window(), 15 * MSS);
        assert!(!cw.in_slow_start());
        // 10 MSS more: bytes_acked 15 MSS ≥ cwnd → one MSS.
        cw.on_ack(10 * MSS, ms(200));
        assert_eq!(cw.window(), 16 * MSS);
    }

    /// A window of 80 segments (IW 10, three rounds) whose last send was at 200 ms,
    /// under `rule`, with infinite ssthresh.
    fn grown(rule: IdleRestart) -> CongestionWindow {
        let mut t = 0;
        let mut cw = CongestionWindow::new(
            &SlowStartConfig {
                idle_restart: rule,
                ..cfg(10, None)
            },
            MSS,
            ms(t),
        );
        rounds(&mut cw, 3, &mut t);
        assert_eq!(cw.window(), 80 * MSS);
        cw
    }

    #[test]
    fn linux_idle_restart_halves_once_per_idle_rto() {
        // RTO 300 ms; the last send was at 200 ms. Linux `tcp_cwnd_restart`: halve
        // while (idle -= RTO) > 0, not below RW = min(10, 80) segments.
        let rto = Duration::from_millis(300);
        let after = |idle: i64| {
            let mut cw = grown(IdleRestart::Linux);
            cw.on_send(0, rto, ms(200 + idle));
            cw.window() / MSS
        };
        // In 4 ms jiffies: the RTO is 75, the last send at tick 50.
        assert_eq!(after(150), 80, "0.5 RTO: not idle");
        assert_eq!(after(300), 80, "exactly 1 RTO: not more than one");
        assert_eq!(after(303), 80, "under one tick more: still 75 ticks");
        assert_eq!(after(304), 40, "76 ticks: one halving");
        assert_eq!(after(450), 40, "1.5 RTO: one halving");
        assert_eq!(after(603), 40, "150 ticks, exactly 2 RTO: still one");
        assert_eq!(after(604), 20, "151 ticks: two halvings");
        assert_eq!(after(750), 20, "2.5 RTO: two halvings");
        assert_eq!(after(904), 10, "just over 3 RTO: three, 80 → 10 = RW");
        assert_eq!(after(60_000), 10, "200 RTOs: the floor is RW");

        let mut cw = grown(IdleRestart::Linux);
        cw.on_send(0, rto, ms(200 + 450));
        let restart = cw.history().last().unwrap();
        assert_eq!(restart.cause, CwndCause::IdleRestart);
        assert_eq!(restart.cwnd, 40 * MSS as u64);
        // max(infinite, 3/4 cwnd) is still infinite.
        assert_eq!(restart.ssthresh, UNLIMITED);
    }

    #[test]
    fn linux_idle_restart_raises_ssthresh_to_three_quarters_of_cwnd() {
        // ssthresh 0: congestion avoidance from IW 4; four rounds take cwnd to 8
        // segments (one per round). After 2.5 RTO idle: ssthresh = max(0, 8/2 + 8/4)
        // = 6 segments (`tcp_current_ssthresh`), then 8 → 4 = RW, where halving stops.
        let rto = Duration::from_millis(300);
        let mut t = 0;
        let mut cw = CongestionWindow::new(
            &SlowStartConfig {
                idle_restart: IdleRestart::Linux,
                ..cfg(4, Some(0))
            },
            MSS,
            ms(t),
        );
        assert_eq!(rounds(&mut cw, 4, &mut t), vec![4, 5, 6, 7]);
        assert_eq!(cw.window(), 8 * MSS);
        cw.on_send(0, rto, ms(300 + 750));
        assert_eq!(cw.ssthresh(), 6 * MSS);
        assert_eq!(cw.window(), 4 * MSS);
        // Slow start back toward the old window: 4 → 6 = ssthresh, then CA.
        assert!(cw.in_slow_start());

        // A window at RW is not halved, but ssthresh still moves: IW 16, ssthresh 0.
        let mut cw = CongestionWindow::new(
            &SlowStartConfig {
                idle_restart: IdleRestart::Linux,
                ..cfg(16, Some(0))
            },
            MSS,
            ms(0),
        );
        cw.on_send(0, rto, ms(0));
        cw.on_send(0, rto, ms(5000));
        assert_eq!(cw.window(), 16 * MSS);
        assert_eq!(cw.ssthresh(), 12 * MSS);
        assert_eq!(cw.history().last().unwrap().cause, CwndCause::IdleRestart);
    }

    #[test]
    fn rfc5681_idle_restart_goes_straight_to_the_restart_window() {
        let rto = Duration::from_millis(300);
        let after = |idle: i64| {
            let mut cw = grown(IdleRestart::Rfc5681);
            cw.on_send(0, rto, ms(200 + idle));
            (cw.window() / MSS, cw.ssthresh())
        };
        assert_eq!(after(150), (80, usize::MAX), "0.5 RTO: not idle");
        assert_eq!(after(300), (80, usize::MAX), "exactly 1 RTO: not idle");
        assert_eq!(after(301), (10, usize::MAX), "just over 1 RTO: RW at once");
        assert_eq!(after(601), (10, usize::MAX), "2 RTO: RW");
    }

    #[test]
    fn disabled_window_never_limits() {
        let off = SlowStartConfig {
            enabled: false,
            ..cfg(1, Some(3000))
        };
        let mut cw = CongestionWindow::new(&off, MSS, ms(0));
        assert_eq!(cw.window(), usize::MAX);
        assert_eq!(cw.allowance(0), usize::MAX);
        assert_eq!(cw.allowance(1_000_000), usize::MAX);
        assert!(!cw.in_slow_start());
        cw.on_ack(MSS, ms(1));
        cw.on_timeout(10 * MSS, ms(2));
        cw.on_fast_retransmit(10 * MSS, ms(3));
        cw.on_send(0, Duration::ZERO, ms(4));
        cw.on_send(0, Duration::ZERO, ms(5));
        cw.set_mss(536, ms(6));
        assert_eq!(cw.allowance(0), usize::MAX);
        assert_eq!(cw.max_window(), usize::MAX);
        assert_eq!(
            cw.history(),
            &[CwndSample {
                at_us: 0,
                cwnd: UNLIMITED,
                ssthresh: 3000,
                cause: CwndCause::Start
            }]
        );
    }

    #[test]
    fn allowance_is_window_minus_flight() {
        let cw = CongestionWindow::new(&cfg(10, None), MSS, ms(0));
        assert_eq!(cw.allowance(0), 14_600);
        assert_eq!(cw.allowance(4_600), 10_000);
        assert_eq!(cw.allowance(14_600), 0);
        assert_eq!(cw.allowance(20_000), 0); // over the window: 0, not negative
    }

    #[test]
    fn mss_change_rescales_only_a_pristine_window() {
        // Default MSS 536 until the SYN-ACK: cwnd = 10 * 536 = 5360.
        let mut cw = CongestionWindow::new(&cfg(10, None), 536, ms(0));
        assert_eq!(cw.window(), 5360);
        cw.set_mss(1460, ms(1));
        assert_eq!(cw.window(), 14_600);
        assert_eq!(cw.max_window(), 14_600);
        cw.on_ack(1460, ms(2)); // 16060
                                // After an ACK only growth uses the new MSS: cwnd unchanged, no sample.
        let samples = cw.history().len();
        cw.set_mss(1000, ms(3));
        assert_eq!(cw.window(), 16_060);
        assert_eq!(cw.history().len(), samples);
        cw.on_ack(5000, ms(4)); // + min(5000, 1000)
        assert_eq!(cw.window(), 17_060);
        // Shrinking before any ACK also lowers the max (the old IW was never used).
        let mut cw = CongestionWindow::new(&cfg(10, None), 1460, ms(0));
        cw.set_mss(1000, ms(1));
        assert_eq!(cw.max_window(), 10_000);
    }

    #[test]
    fn ack_growth_is_sampled_by_eighths() {
        // 10,000 one-MSS ACKs in slow start from IW 10: cwnd grows from 10 to 10,010
        // segments. Samples at every eighth: log(10,010 / 10) / log(9 / 8) = 58.6, so at
        // most 60 samples (plus Start), and the last is within an eighth of the end.
        let mut cw = CongestionWindow::new(&cfg(10, None), MSS, ms(0));
        for i in 0..10_000 {
            cw.on_ack(MSS, ms(i + 1));
        }
        let samples = cw.history().len();
        assert!(samples <= 61, "{samples} samples");
        let last = cw.history()[samples - 1].cwnd as usize;
        assert!(last * 8 >= cw.window() * 7, "{last} vs {}", cw.window());
        assert_eq!(cw.max_window(), 10_010 * MSS, "the maximum is exact");
        // An event that is not an ACK is always kept, however small the change.
        let window = cw.window();
        cw.on_fast_retransmit(window, ms(20_000));
        assert_eq!(samples + 1, cw.history().len());
    }

    #[test]
    fn history_records_each_change_once() {
        let rto = Duration::from_millis(200);
        let mut cw = CongestionWindow::new(&cfg(1, None), 536, ms(0));
        cw.set_mss(1000, ms(1)); // cwnd 1000
        cw.set_mss(1000, ms(2)); // no-op: not recorded
        cw.on_send(0, rto, ms(3));
        cw.on_ack(0, ms(4)); // duplicate ACK: not recorded
        cw.on_ack(1000, ms(10)); // 2000
        cw.on_ack(1000, ms(11)); // 3000
        cw.on_timeout(3000, ms(500)); // ssthresh max(1500, 2000) = 2000, cwnd 1000
        cw.on_timeout(1000, ms(900)); // repeat: ssthresh held, cwnd 1000 → no change
        cw.on_ack(1000, ms(950)); // slow start: 2000
        cw.on_ack(1000, ms(951)); // CA: bytes_acked 1000 < 2000 → no change
        cw.on_ack(1000, ms(952)); // CA: 2000 ≥ 2000 → cwnd 3000
        cw.on_fast_retransmit(8000, ms(1000)); // ssthresh = cwnd = 4000
        cw.on_send(0, rto, ms(2000)); // idle 1997 ms > 200: cwnd min(4000, 1000)
        let inf = UNLIMITED;
        let s = |t: i64, cwnd: u64, ssthresh: u64, cause| CwndSample {
            at_us: t * 1000,
            cwnd,
            ssthresh,
            cause,
        };
        assert_eq!(
            cw.history(),
            &[
                s(0, 536, inf, CwndCause::Start),
                s(1, 1000, inf, CwndCause::MssChange),
                s(10, 2000, inf, CwndCause::Ack),
                s(11, 3000, inf, CwndCause::Ack),
                s(500, 1000, 2000, CwndCause::Timeout),
                s(950, 2000, 2000, CwndCause::Ack),
                s(952, 3000, 2000, CwndCause::Ack),
                s(1000, 4000, 4000, CwndCause::FastRetransmit),
                s(2000, 1000, 4000, CwndCause::IdleRestart),
            ]
        );
        assert_eq!(cw.max_window(), 4000);
    }

    #[test]
    fn degenerate_config_does_not_stall_or_panic() {
        // IW 0 → 1, MSS 0 → 1 byte.
        let mut cw = CongestionWindow::new(&cfg(0, None), 0, ms(0));
        assert_eq!(cw.window(), 1);
        cw.on_ack(10, ms(1));
        assert_eq!(cw.window(), 2);
        // Extreme values everywhere.
        let mut cw = CongestionWindow::new(&cfg(u32::MAX, Some(u32::MAX)), usize::MAX, ms(0));
        assert_eq!(cw.window(), usize::MAX);
        cw.on_ack(usize::MAX, Instant::from_micros(i64::MAX));
        cw.on_send(0, Duration::ZERO, Instant::from_micros(i64::MIN));
        cw.on_send(0, Duration::ZERO, Instant::from_micros(i64::MAX));
        cw.on_fast_retransmit(usize::MAX, Instant::from_micros(i64::MIN));
        cw.on_timeout(usize::MAX, Instant::from_micros(i64::MAX));
        cw.on_ack(usize::MAX, Instant::from_micros(i64::MAX));
        cw.on_ack(usize::MAX, Instant::from_micros(i64::MAX));
        assert_eq!(cw.allowance(usize::MAX), 0);
    }
}
