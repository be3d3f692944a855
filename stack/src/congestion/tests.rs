//! The congestion window, checked rule by rule: slow start, congestion avoidance, loss, idle restart.

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
