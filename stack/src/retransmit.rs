//! The retransmission timer and loss recovery: the RFC 6298 RTO estimator our layer
//! keeps beside smoltcp's, and the knobs that choose how both compute the RTO's floor
//! and how a window with several losses is repaired.
//!
//! smoltcp retransmits; this module decides nothing on the wire. The knobs reach
//! smoltcp as socket settings (`set_rto_floor`, `set_newreno`, added by the patch set
//! in `vendor/smoltcp`), and [`RttEstimator`] computes the same RTO from the same
//! samples so that our layer's rules that depend on it (restart after idle, RFC 5681
//! §4.1) see what smoltcp's timer does. Pure logic: every time is a parameter.

use serde::Serialize;
use smoltcp::time::Duration;

/// Upper bound on the RTO: RFC 6298 §2.5 allows a maximum "provided it is at
/// least 60 seconds" (Linux `TCP_RTO_MAX` is 120 s). smoltcp uses 60 s.
pub const MAX_RTO: Duration = Duration::from_secs(60);

/// The RTO before any RTT sample, RFC 6298 §2.1 (Linux `TCP_TIMEOUT_INIT` is the
/// same 1 s); it also times the SYN's retransmissions.
pub const INITIAL_RTO: Duration = Duration::from_secs(1);

/// Clock granularity G of RFC 6298 §2: this lab's clock ticks in microseconds
/// but timers are serviced on millisecond polls, so G = 1 ms.
pub const CLOCK_GRANULARITY: Duration = Duration::from_millis(1);

/// How the RTO's minimum applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RtoRule {
    /// RFC 6298 §2.4: the computed `SRTT + max(G, 4*RTTVAR)` is rounded up to the
    /// minimum, so a steady path's RTO settles *at* the minimum.
    Rfc6298,
    /// Linux (`tcp_set_rto`, `tcp_rtt_estimator`): the minimum bounds the variance
    /// term, `SRTT + max(4*RTTVAR, min)`, so the RTO stays at least one minimum above
    /// the smoothed RTT (about 300 ms on a steady 100 ms path with the 200 ms
    /// `TCP_RTO_MIN`). Linux's variance also decays more slowly than RFC 6298's (it
    /// tracks the largest deviation of the last round trip, `mdev_max`); this rule
    /// keeps RFC 6298's variance and takes only the floor from Linux.
    Linux,
}

/// What repairs a window that lost more than one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossRecovery {
    /// RFC 5681 §3.2 fast retransmit / fast recovery: the third duplicate ACK
    /// resends the first unacknowledged segment, once per loss episode; any further
    /// hole in the same window waits for the retransmission timer.
    Reno,
    /// RFC 6582 NewReno: during recovery (until everything sent before the fast
    /// retransmit is acknowledged) each partial ACK resends the next unacknowledged
    /// segment at once, so a window with k losses is repaired in about k round trips
    /// without a timeout.
    NewReno,
    /// NewReno plus the receiver's SACK blocks (RFC 2018), in part as RFC 6675 uses
    /// them: fast retransmit starts once more than two segments' worth of data above
    /// the first hole is SACKed, even if duplicate ACKs were lost or changed the
    /// window, and each ACK during recovery resends the lowest hole the SACK blocks
    /// show lost, so several holes are repaired in one round trip. Linux's SACK
    /// recovery goes further: after a timeout it resends only what was not SACKed, and
    /// RACK-TLP (RFC 8985) detects lost retransmissions and probes a lost tail, which
    /// this lab does not model.
    Sack,
}

/// The retransmission knobs of one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RetransmitConfig {
    /// The RTO's minimum: RFC 6298 §2.4 recommends 1 s; Linux's `TCP_RTO_MIN` is
    /// 200 ms. Every loss the timer repairs costs at least this.
    #[serde(rename = "rto_min_ms", serialize_with = "crate::knobs::ser_duration")]
    pub rto_min: Duration,
    /// How the minimum applies.
    pub rto_rule: RtoRule,
    /// How several losses in one window are repaired.
    pub recovery: LossRecovery,
}

impl RetransmitConfig {
    /// RFC 6298 with its 1 s minimum and Reno's recovery: what smoltcp 0.14 does
    /// unpatched, and the book's classic behaviour.
    pub const RFC: RetransmitConfig = RetransmitConfig {
        rto_min: Duration::from_millis(1000),
        rto_rule: RtoRule::Rfc6298,
        recovery: LossRecovery::Reno,
    };

    /// Linux's floor (200 ms under the variance term) and SACK-driven recovery.
    pub const LINUX: RetransmitConfig = RetransmitConfig {
        rto_min: Duration::from_millis(200),
        rto_rule: RtoRule::Linux,
        recovery: LossRecovery::Sack,
    };

    /// The setting smoltcp's socket takes for this floor. smoltcp keeps its RTO in
    /// whole milliseconds.
    pub fn smoltcp_floor(&self) -> smoltcp::socket::tcp::RtoFloor {
        use smoltcp::socket::tcp::RtoFloor;
        match self.rto_rule {
            RtoRule::Rfc6298 => RtoFloor::Total(self.rto_min),
            RtoRule::Linux => RtoFloor::Variance(self.rto_min),
        }
    }
}

impl Default for RetransmitConfig {
    fn default() -> Self {
        RetransmitConfig::LINUX
    }
}

/// RFC 6298 retransmission-timeout estimator (SRTT, RTTVAR, RTO).
///
/// Why: with smoltcp's congestion control off, our layer needs its own RTO for the
/// idle-restart test of RFC 5681 §4.1. It follows the same rule and floor as the
/// socket's timer. Samples must follow Karn's algorithm (RFC 6298 §3): never feed
/// an RTT measured on a retransmitted segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RttEstimator {
    min_rto: Duration,
    rule: RtoRule,
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl RttEstimator {
    /// Before any sample the RTO is `initial_rto` (RFC 6298 §2.1 recommends 1 s),
    /// clamped to `[min_rto, MAX_RTO]`. A `min_rto` above [`MAX_RTO`] is lowered
    /// to it.
    pub fn new(min_rto: Duration, rule: RtoRule, initial_rto: Duration) -> Self {
        let min_rto = min_rto.min(MAX_RTO);
        RttEstimator {
            min_rto,
            rule,
            srtt: None,
            rttvar: Duration::ZERO,
            rto: clamp_rto(initial_rto, min_rto),
        }
    }

    /// The estimator a connection with these knobs starts with.
    pub fn for_config(config: &RetransmitConfig) -> Self {
        RttEstimator::new(config.rto_min, config.rto_rule, INITIAL_RTO)
    }

    /// Folds in one RTT measurement R (RFC 6298 §2.2–2.3).
    ///
    /// First sample: `SRTT = R`, `RTTVAR = R/2`. Later samples, with
    /// alpha = 1/8 and beta = 1/4, RTTVAR first (it uses the old SRTT):
    /// `RTTVAR = 3/4*RTTVAR + 1/4*|SRTT - R|`, `SRTT = 7/8*SRTT + 1/8*R`.
    /// Then `RTO = SRTT + max(G, 4*RTTVAR)` clamped to the minimum (§2.4) by the
    /// RFC rule, or `SRTT + max(G, 4*RTTVAR, min)` by Linux's; at most
    /// [`MAX_RTO`] (§2.5). A sample also replaces any backed-off RTO (§5.7).
    /// Arithmetic is in whole microseconds, truncating.
    pub fn on_sample(&mut self, rtt: Duration) {
        let r = u128::from(rtt.total_micros());
        let (srtt, rttvar) = match self.srtt {
            None => (r, r / 2),
            Some(old) => {
                let s = u128::from(old.total_micros());
                let v = u128::from(self.rttvar.total_micros());
                ((7 * s + r) / 8, (3 * v + s.abs_diff(r)) / 4)
            }
        };
        let g = u128::from(CLOCK_GRANULARITY.total_micros());
        let margin = g.max(rttvar.saturating_mul(4));
        self.srtt = Some(micros(srtt));
        self.rttvar = micros(rttvar);
        self.rto = match self.rule {
            RtoRule::Rfc6298 => clamp_rto(micros(srtt.saturating_add(margin)), self.min_rto),
            RtoRule::Linux => {
                let floor = u128::from(self.min_rto.total_micros());
                micros(srtt.saturating_add(margin.max(floor))).min(MAX_RTO)
            }
        };
    }

    /// Current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// Smoothed RTT, `None` until the first sample (RFC 6298 §2.1).
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation, `None` until the first sample (RFC 6298 §2.2).
    pub fn rttvar(&self) -> Option<Duration> {
        self.srtt.map(|_| self.rttvar)
    }

    /// The retransmission timer expired: `RTO = RTO * 2` ("back off the
    /// timer", RFC 6298 §5.5), capped at [`MAX_RTO`] (§2.5).
    pub fn on_backoff(&mut self) {
        let doubled = Duration::from_micros(self.rto.total_micros().saturating_mul(2));
        self.rto = clamp_rto(doubled, self.min_rto);
    }
}

fn clamp_rto(rto: Duration, min_rto: Duration) -> Duration {
    // min_rto <= MAX_RTO is guaranteed by `RttEstimator::new`.
    rto.max(min_rto).min(MAX_RTO)
}

fn micros(us: u128) -> Duration {
    Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(min: Duration, initial: Duration) -> RttEstimator {
        RttEstimator::new(min, RtoRule::Rfc6298, initial)
    }

    // ---- RFC 6298 ----

    fn ms_d(t: u64) -> Duration {
        Duration::from_millis(t)
    }

    #[test]
    fn rto_before_first_sample_is_initial() {
        let est = rfc(ms_d(200), ms_d(1000));
        assert_eq!(est.rto(), ms_d(1000));
        assert_eq!(est.srtt(), None);
        assert_eq!(est.rttvar(), None);
        // An initial RTO below the minimum is raised to it; above 60 s capped.
        assert_eq!(rfc(ms_d(200), ms_d(50)).rto(), ms_d(200));
        assert_eq!(rfc(ms_d(200), ms_d(90_000)).rto(), MAX_RTO);
    }

    #[test]
    fn rfc6298_first_and_second_sample() {
        let mut est = rfc(ms_d(200), ms_d(1000));
        // R = 100 ms: SRTT = 100, RTTVAR = 50, RTO = 100 + max(1, 4*50) = 300 ms.
        est.on_sample(ms_d(100));
        assert_eq!(est.srtt(), Some(ms_d(100)));
        assert_eq!(est.rttvar(), Some(ms_d(50)));
        assert_eq!(est.rto(), ms_d(300));
        // R' = 180 ms: RTTVAR = 3/4*50 + 1/4*|100-180| = 37.5 + 20 = 57.5 ms;
        // SRTT = 7/8*100 + 1/8*180 = 87.5 + 22.5 = 110 ms;
        // RTO = 110 + 4*57.5 = 340 ms.
        est.on_sample(ms_d(180));
        assert_eq!(est.rttvar(), Some(Duration::from_micros(57_500)));
        assert_eq!(est.srtt(), Some(ms_d(110)));
        assert_eq!(est.rto(), ms_d(340));
        // R'' = 110 ms (= SRTT): RTTVAR = 3/4*57.5 = 43.125 ms; SRTT stays 110;
        // RTO = 110 + 172.5 = 282.5 ms.
        est.on_sample(ms_d(110));
        assert_eq!(est.rttvar(), Some(Duration::from_micros(43_125)));
        assert_eq!(est.srtt(), Some(ms_d(110)));
        assert_eq!(est.rto(), Duration::from_micros(282_500));
    }

    #[test]
    fn rto_is_clamped_to_min_and_granularity_applies() {
        // RFC minimum 1 s: R = 100 ms gives 300 ms, rounded up to 1 s.
        let mut est = rfc(ms_d(1000), ms_d(1000));
        est.on_sample(ms_d(100));
        assert_eq!(est.rto(), ms_d(1000));
        // No minimum, R = 0: SRTT = 0, RTTVAR = 0, RTO = 0 + max(G, 0) = 1 ms.
        let mut est = rfc(Duration::ZERO, ms_d(1000));
        est.on_sample(Duration::ZERO);
        assert_eq!(est.rto(), CLOCK_GRANULARITY);
        // R = 200 µs: RTTVAR = 100 µs, 4*RTTVAR = 400 µs < G → 200 + 1000 µs.
        let mut est = rfc(Duration::ZERO, ms_d(1000));
        est.on_sample(Duration::from_micros(200));
        assert_eq!(est.rto(), Duration::from_micros(1200));
    }

    #[test]
    fn rto_is_capped_at_60_s() {
        // R = 30 s: 30 + 4*15 = 90 s → 60 s.
        let mut est = rfc(ms_d(200), ms_d(1000));
        est.on_sample(Duration::from_secs(30));
        assert_eq!(est.rto(), MAX_RTO);
        // A min_rto above 60 s is lowered to 60 s rather than inverting the clamp.
        let est = rfc(Duration::from_secs(100), ms_d(1000));
        assert_eq!(est.rto(), MAX_RTO);
    }

    #[test]
    fn backoff_doubles_up_to_60_s_and_a_sample_resets_it() {
        let mut est = rfc(ms_d(200), ms_d(1000));
        let mut seen = Vec::new();
        for _ in 0..8 {
            est.on_backoff();
            seen.push(est.rto().total_millis());
        }
        // 1 s doubled: 2, 4, 8, 16, 32, 64→60, 60, 60 s.
        assert_eq!(
            seen,
            vec![2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]
        );
        // First sample R = 100 ms → 300 ms, replacing the backed-off value.
        est.on_sample(ms_d(100));
        assert_eq!(est.rto(), ms_d(300));
    }

    #[test]
    fn extreme_samples_do_not_panic() {
        let mut est = rfc(Duration::MAX, Duration::MAX);
        est.on_sample(Duration::MAX);
        est.on_sample(Duration::ZERO);
        est.on_sample(Duration::MAX);
        est.on_backoff();
        assert_eq!(est.rto(), MAX_RTO);
    }

    #[test]
    fn linux_rule_keeps_the_floor_above_srtt() {
        let mut est = RttEstimator::for_config(&RetransmitConfig::LINUX);
        assert_eq!(est.rto(), ms_d(1000));
        // R = 100 ms: SRTT 100, RTTVAR 50: 100 + max(200, 200) = 300 ms, as RFC 6298.
        est.on_sample(ms_d(100));
        assert_eq!(est.rto(), ms_d(300));
        // Steady 100 ms samples: RTTVAR decays (3/4 per sample) and 4*RTTVAR drops
        // below the floor after 3 samples (4*50*(3/4)^3 = 84 ms): the RTO stays
        // SRTT + 200 ms, where RFC 6298 with a 200 ms minimum would fall to 200 ms.
        let mut rfc_est = rfc(ms_d(200), ms_d(1000));
        rfc_est.on_sample(ms_d(100));
        for _ in 0..20 {
            est.on_sample(ms_d(100));
            rfc_est.on_sample(ms_d(100));
        }
        assert_eq!(est.rto(), ms_d(300));
        assert_eq!(rfc_est.rto(), ms_d(200));
        // A variance above the floor counts in full: R = 400 ms after 100s:
        // RTTVAR = 3/4*v + 75 ms, SRTT = 137.5 ms.
        let v = est.rttvar().unwrap().total_micros();
        est.on_sample(ms_d(400));
        let rttvar = (3 * v + 300_000) / 4;
        let expected = 137_500 + (4 * rttvar).max(200_000);
        assert_eq!(est.rto(), Duration::from_micros(expected));
    }
}
