//! The tour's experiments: for each claim, the settings side by side and what the
//! chapter's formulas ([`predict`]) say each one costs under the chosen profile.

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::proxy::ProxyMode;
use tcpknobs_http::server::CloseMode;
use tcpknobs_stack::{Knobs, Nagle};

use super::predict::{self, serialization_ms};
use super::{CountKind, Name, Options, Prediction, Setting, Setup, TourExperiment};

/// The round trip of every experiment but item 10's, ms.
const RTT: f64 = 100.0;
/// MSS on the default 1500-byte MTU.
const MSS: u64 = 1460;

/// A setting whose prediction is a time.
fn timed(label: &str, setup: Setup, ms: f64, numbers: String, frames: u64) -> Setting {
    let (experiment, command) = setup.build();
    let bps = experiment.link.bandwidth_bps.map_or(0.0, |b| b as f64);
    Setting {
        label: label.to_string(),
        experiment,
        command,
        prediction: Prediction {
            ms: Some(ms),
            numbers,
            tolerance_ms: serialization_ms(frames, bps),
            count: None,
        },
    }
}

/// A setting that also predicts a count, exactly.
fn counted(mut setting: Setting, kind: CountKind, count: u64) -> Setting {
    setting.prediction.count = Some((kind, count));
    setting
}

fn nagle_flag(n: Nagle) -> &'static str {
    match n {
        Nagle::On => "on",
        Nagle::Off => "off",
        Nagle::Minshall => "minshall",
    }
}

/// Every experiment of the tour under `options`, in chapter order.
pub fn experiments(options: Options) -> Vec<TourExperiment> {
    let p = options.profile;
    let knobs = Knobs::profile(p);
    let base = || Setup::new(p);
    let delack = knobs.delayed_ack.map(|d| d.total_millis() as f64);
    let d = delack.unwrap_or(0.0);
    let iw = u64::from(knobs.slow_start.initial_window);
    let mut out = Vec::new();
    let mut add = |name: Name, settings: Vec<Setting>| {
        out.push(TourExperiment { name, settings });
    };

    // Item 5.
    add(
        Name::Latency,
        [0u64, 50]
            .into_iter()
            .map(|delay| {
                timed(
                    &format!("--server-delay {delay}ms"),
                    base().requests(1).server_delay_ms(delay),
                    2.0 * RTT + delay as f64,
                    format!("{RTT} + {RTT} + {delay} = {} ms", 2.0 * RTT + delay as f64),
                    4,
                )
            })
            .collect(),
    );

    // Item 6.
    add(
        Name::Handshake,
        vec![
            timed(
                "--strategy serial",
                base().requests(2).strategy(Strategy::Serial),
                predict::serial_ms(2, RTT),
                format!("2 x (100 + 100) = {} ms", predict::serial_ms(2, RTT)),
                8,
            ),
            timed(
                "--strategy persistent",
                base().requests(2).strategy(Strategy::Persistent),
                predict::persistent_ms(2, RTT),
                format!("(1 + 2) x 100 = {} ms", predict::persistent_ms(2, RTT)),
                6,
            ),
        ],
    );

    // Item 7.
    add(
        Name::DelayedAck,
        [None, Some(40u64), Some(200)]
            .into_iter()
            .map(|timer| {
                let t = timer.map_or(0.0, |t| t as f64);
                let total = 2.0 * RTT + predict::nagle_stall_ms(RTT, t);
                let label = timer.map_or("--delayed-ack off".into(), |t| {
                    format!("--delayed-ack {t}ms")
                });
                timed(
                    &label,
                    base()
                        .requests(1)
                        .request_writes(2)
                        .strategy(Strategy::Persistent)
                        .nagle(Nagle::On)
                        .quickack(0)
                        .delayed_ack_ms(timer),
                    total,
                    format!("2 x 100 + {t} + 100 = {total} ms"),
                    6,
                )
            })
            .collect(),
    );

    // Item 8.
    let segments = predict::segments(65_536 + predict::response_head_bytes(65_536), MSS);
    let slow = |iw: Option<u64>| {
        let setup = base()
            .requests(1)
            .size(65_536)
            .delayed_ack_ms(None)
            .nagle(Nagle::Off);
        match iw {
            Some(iw) => {
                let rounds = predict::slow_start_rounds(iw, segments);
                let total = (1 + rounds) as f64 * RTT;
                timed(
                    &format!("--initial-window {iw}"),
                    setup.initial_window(iw as u32),
                    total,
                    format!("(1 + {rounds} rounds for {segments} segments) x 100 = {total} ms"),
                    segments + 6,
                )
            }
            None => timed(
                "--slow-start off",
                setup.no_slow_start(),
                2.0 * RTT,
                format!("(1 + 1 round) x 100 = {} ms", 2.0 * RTT),
                segments + 6,
            ),
        }
    };
    add(
        Name::SlowStart,
        vec![slow(Some(1)), slow(Some(10)), slow(None)],
    );

    // Item 9: the request in two writes.
    let two_writes = || {
        base()
            .requests(1)
            .request_writes(2)
            .strategy(Strategy::Persistent)
    };
    let mut nagle = Vec::new();
    let stall = |quickack: u32| {
        let hold = predict::ack_hold_ms(delack, quickack);
        let total = 2.0 * RTT + predict::nagle_stall_ms(RTT, hold);
        (total, format!("2 x 100 + {hold} + 100 = {total} ms"))
    };
    let (total, numbers) = stall(knobs.quickack);
    nagle.push(timed(
        &format!("--nagle {}", nagle_flag(knobs.nagle)),
        two_writes().nagle(knobs.nagle),
        total,
        numbers,
        6,
    ));
    if knobs.quickack > 0 {
        let (total, numbers) = stall(0);
        nagle.push(timed(
            &format!("--nagle {} --quickack 0", nagle_flag(knobs.nagle)),
            two_writes().nagle(knobs.nagle).quickack(0),
            total,
            numbers,
            6,
        ));
    }
    nagle.push(timed(
        "--nagle off",
        two_writes().nagle(Nagle::Off),
        2.0 * RTT,
        format!("2 x 100 = {} ms", 2.0 * RTT),
        6,
    ));
    add(Name::Nagle, nagle);

    // Item 9: a 2000-byte response, one full segment and a 540-byte tail.
    add(
        Name::NagleTail,
        [Nagle::On, Nagle::Minshall, Nagle::Off]
            .into_iter()
            .map(|mode| {
                // The tail is held by classic Nagle, and by a window of one segment
                // whatever Nagle does.
                let (total, numbers) = if mode == Nagle::On || iw < 2 {
                    let total = 2.0 * RTT + predict::nagle_stall_ms(RTT, d);
                    (total, format!("2 x 100 + {d} + 100 = {total} ms"))
                } else {
                    (2.0 * RTT, format!("2 x 100 = {} ms", 2.0 * RTT))
                };
                timed(
                    &format!("--nagle {}", nagle_flag(mode)),
                    base()
                        .requests(1)
                        .size(2000)
                        .strategy(Strategy::Persistent)
                        .quickack(0)
                        .nagle(mode),
                    total,
                    numbers,
                    6,
                )
            })
            .collect(),
    );

    // Item 10.
    add(Name::TimeWait, time_wait(options, &knobs));

    let hold = predict::ack_hold_ms(delack, knobs.quickack);
    // Responses ready together, as segments: three 1 KiB images, or three 100-byte
    // responses.
    let pipelined_of = |body: u64| {
        let bytes = 3 * (body + predict::response_head_bytes(body));
        let segments = predict::segments(bytes, MSS);
        let total = predict::pipelined_ms(segments, iw, hold, RTT);
        let held = segments.saturating_sub(iw);
        let numbers = if held == 0 {
            format!("2 x 100 + 100 = {total} ms")
        } else {
            format!("2 x 100 + 100 + {held} x ({hold} + 100) = {total} ms")
        };
        (total, numbers)
    };
    let (pipelined, pipelined_numbers) = pipelined_of(1024);

    // Item 12: the book's page, serially and the ways out.
    let page = || base().page(1024, 3, 1024);
    // The page over one persistent connection: items 12 and 20 both compare with it.
    let persistent_page = || {
        timed(
            "--strategy persistent",
            page().strategy(Strategy::Persistent),
            predict::persistent_ms(4, RTT),
            format!("(1 + 4) x 100 = {} ms", predict::persistent_ms(4, RTT)),
            12,
        )
    };
    add(
        Name::Serial,
        vec![
            timed(
                "--strategy serial",
                page().strategy(Strategy::Serial),
                predict::serial_ms(4, RTT),
                format!("4 x (100 + 100) = {} ms", predict::serial_ms(4, RTT)),
                16,
            ),
            persistent_page(),
            timed(
                "--strategy parallel",
                page().strategy(Strategy::Parallel),
                predict::parallel_page_ms(3, 4, RTT),
                format!(
                    "2 x 100 + 2 x 100 = {} ms",
                    predict::parallel_page_ms(3, 4, RTT)
                ),
                16,
            ),
            timed(
                "--strategy pipelined",
                page().strategy(Strategy::Pipelined),
                pipelined,
                pipelined_numbers.clone(),
                12,
            ),
        ],
    );

    // Item 13.
    add(
        Name::Parallel,
        [1u64, 2, 4]
            .into_iter()
            .map(|n| {
                let total = predict::parallel_page_ms(3, n, RTT);
                let waves = 3u64.div_ceil(n);
                timed(
                    &format!("--connections {n}"),
                    page().strategy(Strategy::Parallel).connections(n as usize),
                    total,
                    format!("2 x 100 x (1 + {waves} waves) = {total} ms"),
                    16,
                )
            })
            .collect(),
    );

    // Item 14.
    let narrow_bps = 1e6;
    let bodies = [1024, 102_400, 102_400, 102_400, 102_400];
    let wire = predict::wire_ms(&bodies, MSS, narrow_bps);
    let narrow = |strategy: Strategy| {
        let parallel = strategy == Strategy::Parallel;
        let total = predict::narrow_page_ms(4, parallel, RTT, wire);
        let rtts = (total - wire) / RTT;
        timed(
            if parallel {
                "--strategy parallel"
            } else {
                "--strategy persistent"
            },
            base()
                .mbit(1)
                .page(1024, 4, 102_400)
                .abc_limit(1)
                .rfc6298_rto()
                .initial_window(10)
                .delayed_ack_ms(Some(40))
                .nagle(Nagle::Minshall)
                .quickack(16)
                .strategy(strategy),
            total,
            format!("{rtts} x 100 + {wire:.1} on the wire = {total:.1} ms"),
            5,
        )
    };
    add(
        Name::NarrowLink,
        vec![narrow(Strategy::Parallel), narrow(Strategy::Persistent)],
    );

    // Item 16.
    add(
        Name::Persistent,
        vec![
            timed(
                "--strategy serial",
                base().requests(4).strategy(Strategy::Serial),
                predict::serial_ms(4, RTT),
                format!("4 x (100 + 100) = {} ms", predict::serial_ms(4, RTT)),
                16,
            ),
            timed(
                "--strategy persistent",
                base().requests(4).strategy(Strategy::Persistent),
                predict::persistent_ms(4, RTT),
                format!("(1 + 4) x 100 = {} ms", predict::persistent_ms(4, RTT)),
                10,
            ),
        ],
    );

    // Item 17.
    let http10 = || base().http10().strategy(Strategy::Persistent).requests(4);
    add(
        Name::KeepAlive,
        vec![
            timed(
                "--server-keep-alive on",
                http10(),
                predict::persistent_ms(4, RTT),
                format!("(1 + 4) x 100 = {} ms", predict::persistent_ms(4, RTT)),
                12,
            ),
            timed(
                "--server-keep-alive off",
                http10().no_server_keep_alive(),
                predict::serial_ms(4, RTT),
                format!("4 x (100 + 100) = {} ms", predict::serial_ms(4, RTT)),
                16,
            ),
        ],
    );

    // Item 18.
    let timeout = 5000.0;
    let proxied = |mode: ProxyMode| {
        base()
            .http10()
            .strategy(Strategy::Persistent)
            .requests(2)
            .client_timeout_ms(timeout as u64)
            .via_proxy(mode)
    };
    add(
        Name::DumbProxy,
        vec![
            timed(
                "--via-proxy smart",
                proxied(ProxyMode::Smart),
                predict::smart_proxy_ms(RTT),
                format!("4 x 100 + 2 x 100 = {} ms", predict::smart_proxy_ms(RTT)),
                24,
            ),
            timed(
                "--via-proxy dumb",
                proxied(ProxyMode::Dumb),
                predict::dumb_proxy_ms(RTT, timeout),
                format!(
                    "4 x 100 + {timeout} timeout = {} ms",
                    predict::dumb_proxy_ms(RTT, timeout)
                ),
                24,
            ),
        ],
    );

    // Item 19.
    let pipelined4 = || base().strategy(Strategy::Pipelined).requests(4);
    add(
        Name::ConnectionClose,
        vec![
            timed(
                "no limit",
                pipelined4(),
                pipelined_of(100).0,
                pipelined_of(100).1,
                12,
            ),
            counted(
                timed(
                    "--server-keep-alive-max 2",
                    pipelined4().keep_alive_max(2),
                    predict::keep_alive_max_two_ms(RTT),
                    format!(
                        "(2 + 1) x 100 + (2 + 1) x 100 = {} ms",
                        predict::keep_alive_max_two_ms(RTT)
                    ),
                    24,
                ),
                CountKind::Retries,
                2,
            ),
        ],
    );

    // Item 20.
    add(
        Name::Pipelining,
        vec![
            persistent_page(),
            timed(
                "--strategy pipelined",
                page().strategy(Strategy::Pipelined),
                pipelined,
                pipelined_numbers.clone(),
                12,
            ),
            timed(
                "--strategy pipelined --method post",
                page().method(Method::Post).strategy(Strategy::Pipelined),
                predict::persistent_ms(4, RTT),
                format!("(1 + 4) x 100 = {} ms", predict::persistent_ms(4, RTT)),
                12,
            ),
        ],
    );

    // Items 22 and 23.
    let short = || base().requests(1).size(1000);
    add(
        Name::Truncation,
        vec![
            counted(
                timed(
                    "whole response",
                    short().retries(0),
                    predict::attempts_ms(0, RTT),
                    format!("100 + 100 = {} ms", predict::attempts_ms(0, RTT)),
                    4,
                ),
                CountKind::Failed,
                0,
            ),
            counted(
                timed(
                    "--server-truncate 500",
                    short().retries(0).truncate(500),
                    predict::attempts_ms(0, RTT),
                    format!("100 + 100 = {} ms", predict::attempts_ms(0, RTT)),
                    4,
                ),
                CountKind::Failed,
                1,
            ),
        ],
    );
    add(
        Name::Retry,
        vec![
            counted(
                timed(
                    "--method get --retries 2",
                    short().method(Method::Get).retries(2).truncate(500),
                    predict::attempts_ms(2, RTT),
                    format!("(1 + 2) x 2 x 100 = {} ms", predict::attempts_ms(2, RTT)),
                    12,
                ),
                CountKind::Retries,
                2,
            ),
            counted(
                timed(
                    "--method post --retries 2",
                    short().method(Method::Post).retries(2).truncate(500),
                    predict::attempts_ms(0, RTT),
                    format!("2 x 100 = {} ms", predict::attempts_ms(0, RTT)),
                    4,
                ),
                CountKind::Retries,
                0,
            ),
        ],
    );

    // Item 24.
    let reset = |mode: CloseMode, lost: u64| {
        let (experiment, command) = base()
            .page(1024, 3, 65_536)
            .strategy(Strategy::Pipelined)
            .keep_alive_max(2)
            .close(mode)
            .build();
        Setting {
            label: format!(
                "--close {}",
                if mode == CloseMode::Abrupt {
                    "abrupt"
                } else {
                    "graceful"
                }
            ),
            experiment,
            command,
            prediction: Prediction {
                ms: None,
                numbers: if lost == 0 {
                    "0 bytes".into()
                } else {
                    format!("IW {iw} x {MSS} = {lost} bytes")
                },
                tolerance_ms: 0.0,
                count: Some((CountKind::LostBytes, lost)),
            },
        }
    };
    add(
        Name::Reset,
        vec![
            reset(CloseMode::Graceful, 0),
            reset(CloseMode::Abrupt, iw * MSS),
        ],
    );
    out
}

/// Item 10: serial connections at 0.1 ms RTT (5,000 a second if nothing held them
/// back, ten times the ceiling) through a small set of ports, waiting for a port
/// when none is free, two full generations and one more connection: with TIME_WAIT
/// each later generation waits for the 2MSL of the one before; without, nothing
/// waits. The default scales ports and 2MSL down a hundredfold (the same ceiling);
/// `full` uses the profile's own.
fn time_wait(options: Options, knobs: &Knobs) -> Vec<Setting> {
    let rtt = 0.1;
    let scale = if options.full { 1 } else { 100 };
    let ports = u64::from(knobs.ports.len()) / scale;
    let two_msl = knobs.time_wait.total_millis() / scale;
    let n = 2 * ports + 1;
    let ceiling = predict::time_wait_ceiling_per_s(ports, two_msl as f64).unwrap_or(0.0);
    let setup = |tw: u64| {
        let s = Setup::new(options.profile)
            .rtt_us(100)
            .requests(n as u32)
            .strategy(Strategy::Serial);
        let s = if options.full {
            s
        } else {
            let lo = 50_000u16;
            let hi = lo.saturating_add(u16::try_from(ports.saturating_sub(1)).unwrap_or(0));
            s.ports(lo, hi)
        };
        s.time_wait_ms(tw).wait_for_ports()
    };
    [two_msl, 0]
        .into_iter()
        .map(|tw| {
            let total = predict::time_wait_run_ms(n, ports, tw as f64, rtt);
            let numbers = if tw > 0 {
                format!(
                    "{ports} ports / {} s = {ceiling:.0}/s: {n} connections, \
                     2 x (0.3 + {tw}) + 0.2 = {total:.1} ms",
                    tw as f64 / 1000.0
                )
            } else {
                format!("{n} x 0.2 = {total:.1} ms")
            };
            timed(
                &format!(
                    "--time-wait {}",
                    if tw == 0 {
                        "0".into()
                    } else {
                        format!("{tw}ms")
                    }
                ),
                setup(tw),
                total,
                numbers,
                4 * n,
            )
        })
        .collect()
}
