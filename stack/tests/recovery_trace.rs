//! The retransmission timer's floor and NewReno's partial-ACK recovery, seen on the
//! wire: when a timeout fires by each rule, and how a window that lost two or three
//! segments is repaired.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::{net_with, run, stats, Call, Capture, CaptureFormat, Script, PORT};
use tcpknobs_stack::retransmit::{LossRecovery, RetransmitConfig, RtoRule};
use tcpknobs_stack::trace::{Event, EventKind, SendReason, Tracer};
use tcpknobs_stack::{Duration, HostId, Knobs};

const MSS: usize = 1460;

/// Ten full segments: the linux profile's initial window.
static BURST: [u8; 10 * MSS] = [b'x'; 10 * MSS];

/// 200 full segments.
static BULK: [u8; 200 * MSS] = [b'x'; 200 * MSS];

fn knobs(retransmit: RetransmitConfig) -> Knobs {
    Knobs {
        retransmit,
        ..common::knobs()
    }
}

/// The server's data segments as (departure in ns, sequence number).
fn data_out(capture: &Capture) -> Vec<(u64, u32)> {
    capture
        .timed_segments()
        .into_iter()
        .filter(|(_, s)| s.src_port == PORT && s.payload_len > 0)
        .map(|(t, s)| (t, s.seq))
        .collect()
}

/// On a path of `rtt_ms`, the server sends ten segments once the handshake is done
/// (its only RTT sample so far is the handshake's, exactly `rtt_ms`); every frame
/// from the client after that is lost for 2 s, so only the timer can resend. Returns
/// the time from the first departure of the first segment to its retransmission, in
/// ms (smoltcp keeps its timer in whole milliseconds).
fn first_timeout_ms(retransmit: RetransmitConfig, rtt_ms: u64) -> u64 {
    let k = knobs(retransmit);
    let mut net = net_with(rtt_ms, k.clone(), k);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let accept = (rtt_ms * 3 / 2 + 1) as i64;
    let from_ns = accept as u64 * 1_000_000;
    net.set_fault(Box::new(move |now_ns, from, _to, _frame| {
        from == HostId(0) && (from_ns..from_ns + 2_000_000_000).contains(&now_ns)
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (accept, Call::Accept),
        (accept, Call::Send(&BURST)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (5000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 8000);
    let data = data_out(&capture);
    let first = data[0];
    let again = data[1..]
        .iter()
        .find(|(_, seq)| *seq == first.1)
        .expect("the first segment is resent");
    assert!(stats(&net, 1).timeouts >= 1);
    (again.0 - first.0) / 1_000_000
}

/// RFC 6298 with `--rto-min 200ms` on a 10 ms path: one sample R = 10 ms gives
/// SRTT + 4 RTTVAR = 10 + 4 x 5 = 30 ms, rounded up to the 200 ms minimum (§2.4).
#[test]
fn rfc6298_rule_rounds_the_rto_up_to_its_minimum() {
    let config = RetransmitConfig {
        rto_min: Duration::from_millis(200),
        rto_rule: RtoRule::Rfc6298,
        recovery: LossRecovery::Reno,
    };
    assert_eq!(first_timeout_ms(config, 10), 200);
}

/// Linux's rule on a 100 ms path: SRTT + max(4 RTTVAR, 200 ms) = 100 + max(4 x 50,
/// 200) = 300 ms; on a 10 ms path 10 + 200 = 210 ms, where the RFC rule gives 200.
#[test]
fn linux_rule_puts_the_floor_under_the_variance() {
    assert_eq!(first_timeout_ms(RetransmitConfig::LINUX, 100), 300);
    assert_eq!(first_timeout_ms(RetransmitConfig::LINUX, 10), 210);
}

/// RFC 6298's 1 s minimum, the book profile's: R = 100 ms gives 300 ms, rounded up to
/// 1 s.
#[test]
fn rfc6298_default_minimum_is_one_second() {
    assert_eq!(first_timeout_ms(RetransmitConfig::RFC, 100), 1000);
}

/// Why each of the server's data segments left, in order.
#[derive(Clone, Default)]
struct Reasons(Rc<RefCell<Vec<(u32, SendReason)>>>);

impl Tracer for Reasons {
    fn events(&mut self, events: &[Event]) {
        for e in events {
            if let EventKind::SegmentOut { seg, why, .. } = &e.kind {
                if e.host == 1 && seg.len > 0 {
                    self.0.borrow_mut().push((seg.seq, *why));
                }
            }
        }
    }
}

/// What happened to a bulk transfer that lost the data frames numbered `lost`
/// (counting from 1) once each.
struct Lossy {
    /// Departures of every lost sequence number, in ns.
    copies: Vec<Vec<u64>>,
    timeouts: u64,
    fast_retransmits: u64,
    retransmissions: u64,
    reasons: Vec<(u32, SendReason)>,
}

/// The server sends 200 segments on a 1 Gbit/s, 100 ms link, each acknowledged on
/// its own; the link loses the data frames numbered in `lost` once. IW 10 doubles to
/// rounds of 10, 20, 40: frames 31 to 70 leave in one window.
fn bulk_losing(recovery: LossRecovery, lost: &'static [u32]) -> Lossy {
    let mut net = common::gigabit_net(knobs(RetransmitConfig {
        recovery,
        ..RetransmitConfig::RFC
    }));
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let reasons = Reasons::default();
    net.set_tracer(Box::new(reasons.clone()));
    let mut data_frames = 0u32;
    net.set_fault(Box::new(move |_, from, _, frame| {
        let data = from == HostId(1) && frame.len() > 100;
        data_frames += u32::from(data);
        data && lost.contains(&data_frames)
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (160, Call::Accept),
        (160, Call::Send(&BULK)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (5000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 8000);
    assert_eq!(client.got.len(), 1);
    let data = data_out(&capture);
    let copies = lost
        .iter()
        .map(|&n| {
            let seq = data[n as usize - 1].1;
            data.iter()
                .filter(|(_, s)| *s == seq)
                .map(|(t, _)| *t)
                .collect()
        })
        .collect();
    let s = stats(&net, 1);
    let reasons = reasons.0.borrow().clone();
    Lossy {
        copies,
        timeouts: s.timeouts,
        fast_retransmits: s.fast_retransmits,
        retransmissions: s.retransmissions,
        reasons,
    }
}

/// One fast retransmission, then one retransmission by `later` per further loss, no
/// timeout, each lost segment sent exactly twice.
fn assert_repaired_without_a_timeout(r: &Lossy, lost: &[u32], later: SendReason) {
    assert_eq!(r.timeouts, 0, "{lost:?}");
    assert_eq!(r.fast_retransmits, 1, "{lost:?}");
    assert_eq!(r.retransmissions, lost.len() as u64, "{lost:?}");
    for c in &r.copies {
        assert_eq!(c.len(), 2, "{lost:?}: sent at {c:?}");
    }
    let why: Vec<SendReason> = r
        .reasons
        .iter()
        .filter(|(_, why)| why.resends_data())
        .map(|&(_, why)| why)
        .collect();
    let mut expected = vec![SendReason::FastRetransmit];
    expected.extend(std::iter::repeat_n(later, lost.len() - 1));
    assert_eq!(why, expected, "{lost:?}");
}

/// NewReno (RFC 6582): the third duplicate ACK resends the first hole; the ACK for
/// it covers everything up to the next hole (a partial ACK), which is resent at once,
/// and so on: k losses in one window cost k retransmissions, one round trip apart,
/// and no timeout. Each lost segment leaves exactly twice.
#[test]
fn newreno_repairs_two_and_three_losses_in_a_window_without_a_timeout() {
    for lost in [&[40u32, 45][..], &[40, 45, 50][..]] {
        let r = bulk_losing(LossRecovery::NewReno, lost);
        assert_repaired_without_a_timeout(&r, lost, SendReason::PartialAck);
        // The first retransmission is ACK-clocked (well within a round trip and a
        // burst); each next one follows the partial ACK of the one before, one
        // round trip (100 ms plus serialization) later.
        let again: Vec<u64> = r.copies.iter().map(|c| c[1]).collect();
        assert!(again[0] - r.copies[0][0] < 200_000_000, "{again:?}");
        for w in again.windows(2) {
            let gap = w[1] - w[0];
            assert!((100_000_000..101_000_000).contains(&gap), "{again:?}");
        }
    }
}

/// SACK (the linux profile's recovery): the receiver's duplicate ACKs carry SACK
/// blocks, so once more than two segments above the second hole are SACKed the
/// sender knows it is lost too and resends it at once, in the same round trip as the
/// first, instead of one round trip later on a partial ACK. Each lost segment leaves
/// exactly twice, no timeout.
#[test]
fn sack_repairs_every_hole_of_a_window_in_one_round_trip() {
    for lost in [&[40u32, 45][..], &[40, 45, 50][..]] {
        let r = bulk_losing(LossRecovery::Sack, lost);
        assert_repaired_without_a_timeout(&r, lost, SendReason::SackHole);
        // Every hole is resent while the first round trip of duplicate ACKs is still
        // arriving: within the 12 us x (segments after it + 3) of the flight's
        // serialization, far less than the 100 ms a partial ACK would take.
        let first = r.copies[0][1];
        for c in &r.copies[1..] {
            assert!(c[1] - first < 2_000_000, "{lost:?}: {:?}", r.copies);
        }
    }
}

/// Ten holes in one window: the receiver keeps every segment that arrives above them
/// (ten ranges out of order at once) and the sender's scoreboard every block it hears
/// of, as Linux does, so the sender resends the ten lost segments and nothing else.
/// smoltcp's receiver kept at most four such ranges and dropped, unanswered, each
/// segment that would have opened a fifth (six holes cost 43 retransmissions), and the
/// scoreboard kept eight blocks (ten holes cost 12).
#[test]
fn sack_repairs_ten_holes_and_resends_nothing_that_arrived() {
    let lost = &[40u32, 43, 46, 49, 52, 55, 58, 61, 64, 67];
    let r = bulk_losing(LossRecovery::Sack, lost);
    assert_repaired_without_a_timeout(&r, lost, SendReason::SackHole);
}

/// Reno (RFC 5681 §3.2), the same two losses: the fast retransmission repairs the
/// first; the second hole is resent only by the retransmission timer (1 s after the
/// partial ACK restarted it), and with it, go-back-N, whatever smoltcp still holds.
#[test]
fn reno_leaves_the_second_loss_in_a_window_to_the_timer() {
    let r = bulk_losing(LossRecovery::Reno, &[40, 45]);
    assert_eq!(r.fast_retransmits, 1);
    assert_eq!(r.timeouts, 1);
    let gap = r.copies[1][1] - r.copies[0][1];
    assert!(
        gap >= 1_000_000_000,
        "second hole resent {gap} ns after the first"
    );
}

/// The simulated hosts leave checksums out (their link never damages a frame) and
/// the capture fills them in: every captured frame of a transfer that lost frames,
/// with its retransmissions, clamped windows and shifted sequence numbers, carries
/// the IPv4 and TCP checksums a receiver would verify.
#[test]
fn captured_frames_carry_right_checksums() {
    use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket};
    let k = knobs(RetransmitConfig::default());
    let mut net = net_with(10, k.clone(), k);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcapng);
    let mut dropped = 0;
    net.set_fault(Box::new(move |_now_ns, from, _to, frame| {
        // Every 17th data frame from the server, the first ten of them.
        let lose = from == HostId(1) && frame.len() > 1000 && dropped < 170;
        if lose {
            dropped += 1;
        }
        lose && dropped % 17 == 0
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (20, Call::Accept),
        (20, Call::Send(&BULK)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (5000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 8000);
    assert!(stats(&net, 1).retransmissions >= 10);
    let frames = capture.frames();
    assert!(frames.len() > 300, "{} frames", frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let ip = Ipv4Packet::new_checked(&frame[..]).expect("an IPv4 packet");
        assert!(ip.verify_checksum(), "frame {i}: IPv4 header checksum");
        let tcp = TcpPacket::new_checked(ip.payload()).expect("a TCP segment");
        let (src, dst) = (
            IpAddress::Ipv4(ip.src_addr()),
            IpAddress::Ipv4(ip.dst_addr()),
        );
        assert!(tcp.verify_checksum(&src, &dst), "frame {i}: TCP checksum");
    }
}
