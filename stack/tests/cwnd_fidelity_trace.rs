//! Slow start's growth per ACK and the restart after idle, Linux's way and the RFCs',
//! seen on the wire: the server's data leaves in bursts one round trip apart, and each
//! burst's size is the congestion window of that round.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{run, Call, Capture, CaptureFormat, Script, PORT};
use smoltcp::phy::Medium;
use tcpknobs_stack::congestion::IdleRestart;
use tcpknobs_stack::retransmit::RetransmitConfig;
use tcpknobs_stack::segment::{seq_gt, Segment};
use tcpknobs_stack::{HostId, Knobs, LinkProfile, SimNet};

const MSS: usize = 1460;

/// 150 full segments: the rounds 10 + 20 + 40 + 80 of a window that doubles from IW 10.
static BULK: [u8; 150 * MSS] = [b'x'; 150 * MSS];

/// 200 full segments, sent after the idle period.
static AFTER_IDLE: [u8; 200 * MSS] = [b'y'; 200 * MSS];

/// Client and server 100 ms apart on a 1 Gbit/s link, so the segments of one burst
/// arrive 12 us apart and each can get its own ACK (frames arriving at the very same
/// instant would be processed together and share one).
fn net(knobs: Knobs) -> (SimNet, Capture) {
    let mut net = SimNet::new(
        LinkProfile {
            one_way_delay_ns: 50_000_000,
            bandwidth_bps: Some(1_000_000_000),
            ..Default::default()
        },
        1,
    );
    net.add_host("client", knobs.clone());
    net.add_host("server", knobs);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    (net, capture)
}

/// The server's data segments grouped into bursts: a gap of more than 20 ms (a fifth
/// of the RTT) starts a new one. Returns (first departure in ms, segments).
fn bursts(capture: &Capture) -> Vec<(u64, usize)> {
    let mut out: Vec<(u64, usize)> = Vec::new();
    let mut last_ns = 0;
    for (t, s) in capture.timed_segments() {
        if s.src_port != PORT || s.payload_len == 0 {
            continue;
        }
        assert_eq!(s.payload_len, MSS, "full segments only");
        match out.last_mut() {
            Some((_, n)) if t - last_ns <= 20_000_000 => *n += 1,
            _ => out.push((t / 1_000_000, 1)),
        }
        last_ns = t;
    }
    out
}

/// A receiver that acknowledges every `every` segments: the client ACKs each segment
/// (no delayed ACK), and the link drops its pure ACKs except those that cover `every`
/// more segments than the last one let through, or everything the server has sent
/// (the end of a burst, which a delayed-ACK timer would acknowledge on its own).
fn ack_every(net: &mut SimNet, every: u32) {
    let snd_max = Rc::new(Cell::new(None::<u32>));
    let mut kept: Option<u32> = None;
    net.set_fault(Box::new(move |_now, from, _to, frame| {
        let Some(s) = Segment::parse(Medium::Ip, frame) else {
            return false;
        };
        if from == HostId(1) {
            let end = s.seq_end();
            if snd_max.get().is_none_or(|m| seq_gt(end, m)) {
                snd_max.set(Some(end));
            }
            return false;
        }
        let Some(ack) = s.ack else {
            return false;
        };
        if s.payload_len > 0 || s.syn || s.fin || s.rst {
            return false;
        }
        let whole = snd_max.get() == Some(ack);
        let enough = kept.is_none_or(|k| ack.wrapping_sub(k) >= every * MSS as u32);
        if whole || enough {
            kept = Some(ack);
            false
        } else {
            true
        }
    }));
}

/// The server sends [`BULK`] at once after the handshake to a receiver that ACKs
/// every `every` segments; the bursts it leaves in.
fn slow_start(abc_limit: Option<u32>, every: u32) -> Vec<usize> {
    let mut knobs = common::knobs();
    knobs.slow_start.abc_limit = abc_limit;
    let (mut net, capture) = net(knobs);
    ack_every(&mut net, every);
    // The handshake's last ACK reaches the server a few microseconds after 150 ms.
    let mut server = Script::new(&[
        (0, Call::Listen),
        (151, Call::Accept),
        (151, Call::Send(&BULK)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (3000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 5000);
    let bursts = bursts(&capture);
    // One round trip apart (the ACKs of a burst arrive 100 ms after it left).
    for (i, &(at, _)) in bursts.iter().enumerate() {
        assert_eq!(at, 151 + 100 * i as u64, "{bursts:?}");
    }
    assert_eq!(
        bursts.iter().map(|&(_, n)| n).sum::<usize>(),
        150,
        "{bursts:?}"
    );
    bursts.into_iter().map(|(_, n)| n).collect()
}

/// Linux (`tcp_slow_start`, no ABC limit): every acknowledged segment adds one to the
/// window, so it doubles each round trip whether the receiver ACKs every segment,
/// every second one or every eighth: 10, 20, 40, 80.
#[test]
fn without_abc_limit_the_window_doubles_per_rtt_at_any_ack_rate() {
    for every in [1, 2, 8] {
        assert_eq!(
            slow_start(None, every),
            vec![10, 20, 40, 80],
            "an ACK every {every}"
        );
    }
}

/// RFC 5681 §3.1 (ABC limit 1): one MSS per ACK. ACKing every segment still doubles
/// the window; ACKing every second segment grows a round of W into W + ceil(W / 2),
/// 1.5x per round trip: 10, 15, 23, 35, 53 and the 14 left of 150; every eighth,
/// W + ceil(W / 8): 10, 12, 14, 16, 18, 21, 24, 27 and the 8 left.
#[test]
fn abc_limit_one_adds_one_mss_per_ack() {
    assert_eq!(slow_start(Some(1), 1), vec![10, 20, 40, 80]);
    assert_eq!(slow_start(Some(1), 2), vec![10, 15, 23, 35, 53, 14]);
    assert_eq!(
        slow_start(Some(1), 8),
        vec![10, 12, 14, 16, 18, 21, 24, 27, 8]
    );
}

/// RFC 3465 §2.2 (ABC limit 2): an ACK of two segments counts both, so ACK-every-2
/// doubles; ACK-every-8 grows W into W + 2 floor(W / 8) + min(W mod 8, 2):
/// 10, 14, 18, 24, 30, 38 and the 16 left.
#[test]
fn abc_limit_two_counts_two_segments_per_ack() {
    assert_eq!(slow_start(Some(2), 2), vec![10, 20, 40, 80]);
    assert_eq!(slow_start(Some(2), 8), vec![10, 14, 18, 24, 30, 38, 16]);
}

/// The server sends [`BULK`] (rounds of 10, 20, 40, 80: the window ends at 160
/// segments), pauses `idle_ms` after the last of it left at 451 ms, then sends
/// [`AFTER_IDLE`]; the bursts of that second send. The RTO is RFC 6298's 1 s minimum
/// (the RTT is 100 ms), and the client ACKs every segment.
fn after_idle(rule: IdleRestart, idle_ms: i64) -> Vec<usize> {
    after_idle_with(RetransmitConfig::RFC, rule, idle_ms)
}

fn after_idle_with(retransmit: RetransmitConfig, rule: IdleRestart, idle_ms: i64) -> Vec<usize> {
    let mut knobs = common::knobs();
    knobs.slow_start.idle_restart = rule;
    knobs.retransmit = retransmit;
    let (mut net, capture) = net(knobs);
    let mut server = Script::new(&[
        (0, Call::Listen),
        (151, Call::Accept),
        (151, Call::Send(&BULK)),
        (452 + idle_ms, Call::Send(&AFTER_IDLE)),
    ]);
    let until = 452 + idle_ms + 1000;
    let mut client = Script::new(&[(0, Call::Connect), (until, Call::Recv)]);
    run(&mut net, &mut client, &mut server, until + 1000);
    let bursts = bursts(&capture);
    assert_eq!(
        bursts[..4].iter().map(|&(_, n)| n).collect::<Vec<_>>(),
        vec![10, 20, 40, 80]
    );
    assert_eq!(bursts[4].0, 452 + idle_ms as u64, "{bursts:?}");
    bursts[4..].iter().map(|&(_, n)| n).collect()
}

/// Linux (`tcp_cwnd_restart`): 160 segments, halved once per RTO of idle beyond the
/// first, not below IW 10; slow start then doubles from there (ssthresh stays
/// infinite: max(infinite, 3/4 cwnd)).
#[test]
fn linux_restart_after_idle_halves_per_rto() {
    let linux = IdleRestart::Linux;
    assert_eq!(after_idle(linux, 500), vec![160, 40], "0.5 RTO: unchanged");
    assert_eq!(
        after_idle(linux, 1500),
        vec![80, 120],
        "1.5 RTO: one halving"
    );
    assert_eq!(
        after_idle(linux, 2500),
        vec![40, 80, 80],
        "2.5 RTO: two halvings"
    );
    assert_eq!(
        after_idle(linux, 10_000),
        vec![10, 20, 40, 80, 50],
        "10 RTO: the floor, IW"
    );
}

/// The same rule with Linux's timer: on this steady 100 ms path the RTO is SRTT +
/// 200 ms, 300 ms and a few microseconds, which Linux's arithmetic rounds up to 76
/// jiffies of 4 ms (304 ms). The pause runs from the last segment of the 80-segment
/// round (about 1 ms before `idle_ms` starts): 290 ms is 72 or 73 ticks, under one
/// RTO; 330 ms about 82, over one (one halving); 640 ms about 160, over two (two
/// halvings); 2 s is six RTOs and more, down to IW.
#[test]
fn linux_restart_after_idle_counts_linux_rtos() {
    let (timer, linux) = (RetransmitConfig::LINUX, IdleRestart::Linux);
    assert_eq!(
        after_idle_with(timer, linux, 290),
        vec![160, 40],
        "under 1 RTO"
    );
    assert_eq!(
        after_idle_with(timer, linux, 330),
        vec![80, 120],
        "over 1 RTO"
    );
    assert_eq!(
        after_idle_with(timer, linux, 640),
        vec![40, 80, 80],
        "over 2 RTOs"
    );
    assert_eq!(
        after_idle_with(timer, linux, 2000),
        vec![10, 20, 40, 80, 50],
        "6 RTOs: the floor, IW"
    );
}

/// RFC 5681 §4.1: after more than one RTO the window is the restart window at once.
#[test]
fn rfc5681_restart_after_idle_goes_to_the_initial_window() {
    let rfc = IdleRestart::Rfc5681;
    assert_eq!(after_idle(rfc, 500), vec![160, 40], "0.5 RTO: unchanged");
    assert_eq!(
        after_idle(rfc, 1500),
        vec![10, 20, 40, 80, 50],
        "1.5 RTO: IW"
    );
}
