//! The congestion window above smoltcp, seen on the wire.

mod common;

use common::{net, run, stats, Call, Capture, CaptureFormat, Script, PORT};
use tcpknobs_stack::congestion::CwndCause;
use tcpknobs_stack::HostId;

/// Ten full segments: exactly the linux profile's initial window (IW 10 x MSS 1460).
static BURST: [u8; 14_600] = [b'x'; 14_600];

const MSS: usize = 1460;

/// A retransmission timeout collapses the window to one segment (RFC 5681 §3.1), and
/// that must hold for smoltcp's go-back-N resend too: at the timeout the server
/// resends one segment, not its whole flight.
///
/// The server sends IW = 10 segments at 150 ms; every ACK from the client before
/// 1000 ms is dropped, so the server hears nothing until its RTO (smoltcp's 1 s
/// minimum) fires. It then resends one segment; the client, which has all ten,
/// answers with a cumulative ACK and nothing more is resent. ssthresh becomes
/// max(flight / 2, 2 MSS) = 14,600 / 2 = 7,300 bytes, cwnd 1 MSS.
///
/// smoltcp learns the window in the peer's window-scale units (64 bytes here, for a
/// 2 MiB receive buffer), so one MSS is rounded up to 23 x 64 = 1,472 bytes and, with
/// Nagle off, smoltcp fills the difference with a 12-byte sliver. The test allows
/// exactly that: the full segment plus less than one scale unit.
#[test]
fn timeout_resends_one_segment_not_the_flight() {
    let mut net = net();
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    net.set_fault(Box::new(|now_ns, from, _to, _frame| {
        from == HostId(0) && (190_000_000..1_000_000_000).contains(&now_ns)
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Send(&BURST)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (3000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 5000);
    assert_eq!(client.got.len(), 1);

    let data: Vec<(u64, u32, usize)> = capture
        .timed_segments()
        .into_iter()
        .filter(|(_, s)| s.src_port == PORT && s.payload_len > 0)
        .map(|(t, s)| (t / 1_000_000, s.seq, s.payload_len))
        .collect();
    assert!(
        data[..10].iter().all(|&(t, _, len)| t == 150 && len == MSS),
        "{data:?}"
    );
    let (rto_at, rto_seq, rto_len) = data[10];
    assert_eq!(
        (rto_seq, rto_len),
        (data[0].1, MSS),
        "the first segment is resent"
    );
    assert!(
        rto_at >= 1150,
        "not before the 1 s minimum RTO: {rto_at} ms"
    );
    let resent: usize = data[10..].iter().map(|&(_, _, len)| len).sum();
    assert!(
        resent < MSS + 64,
        "one MSS (plus a sub-unit sliver), not the flight: {data:?}"
    );
    assert!(data[10..].iter().all(|&(t, _, _)| t == rto_at), "{data:?}");

    let s = stats(&net, 1);
    assert_eq!((s.timeouts, s.fast_retransmits), (1, 0));
    let timeout = s
        .cwnd_history
        .iter()
        .find(|x| x.cause == CwndCause::Timeout)
        .expect("a timeout sample");
    assert_eq!(timeout.cwnd, MSS as u64);
    assert_eq!(timeout.ssthresh, (10 * MSS / 2) as u64);
}

/// Slow start per round trip with IW 1 and an ACK per segment: the server's window
/// doubles each RTT, so its data leaves in bursts of 1, 2, 4, 8 segments, one RTT
/// apart (chapter item 8). The link runs at 1 Gbit/s so that segments of one burst
/// arrive 12 us apart and each gets its own ACK; frames arriving at the very same
/// instant are processed together and share one cumulative ACK (like GRO), which
/// RFC 5681's byte counting credits as one MSS.
#[test]
fn slow_start_doubles_each_round_trip() {
    let mut knobs = common::knobs();
    knobs.slow_start.initial_window = 1;
    let mut net = common::gigabit_net(knobs);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    // The handshake's last ACK reaches the server a few microseconds after 150 ms.
    let mut server = Script::new(&[
        (0, Call::Listen),
        (151, Call::Accept),
        (151, Call::Send(&BURST)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (2000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 5000);

    let rounds = capture.rounds_from(PORT);
    // 10 segments: 1 + 2 + 4 + 3 (the rest), one RTT apart from 151 ms.
    assert_eq!(rounds, vec![(151, 1), (251, 2), (351, 4), (451, 3)]);
}

/// 200 full segments: enough in flight that a loss is followed by many duplicate ACKs.
static BULK: [u8; 292_000] = [b'y'; 292_000];

/// One lost segment in the middle of a flight is sent again exactly once, by fast
/// retransmit (RFC 5681 §3.2: one retransmission per loss episode, then recovery),
/// not once more when a few more duplicate ACKs arrive. smoltcp counts duplicate ACKs
/// afresh after any change of the window it is shown, and our layer shows it the cut
/// congestion window right after the fast retransmit: three more duplicate ACKs made
/// smoltcp resend the same segment a second time.
///
/// The server sends 292,000 bytes on a 1 Gbit/s, 100 ms link, every segment acked
/// on its own; the link loses the 40th data segment once. Expected on the wire: that
/// sequence number twice (the original and the fast retransmission, one round trip
/// later), no timeout.
#[test]
fn a_fast_retransmission_leaves_once() {
    let mut net = common::gigabit_net(common::knobs());
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut data_frames = 0u32;
    net.set_fault(Box::new(move |_, from, _, frame| {
        let data = from == HostId(1) && frame.len() > 100;
        data_frames += u32::from(data);
        data && data_frames == 40
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (160, Call::Accept),
        (160, Call::Send(&BULK)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (3000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 5000);

    let data: Vec<(u64, u32)> = capture
        .timed_segments()
        .into_iter()
        .filter(|(_, s)| s.src_port == PORT && s.payload_len > 0)
        .map(|(t, s)| (t, s.seq))
        .collect();
    let lost = data[39].1;
    let sent: Vec<u64> = data
        .iter()
        .filter(|(_, seq)| *seq == lost)
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(sent.len(), 2, "sent at {sent:?} ns");
    // The retransmission is ACK-clocked: within the round trip after the loss plus
    // the flight's serialization, long before a 1 s timeout.
    assert!(sent[1] - sent[0] < 200_000_000, "{sent:?}");
    let server_stats = stats(&net, 1);
    assert_eq!(server_stats.fast_retransmits, 1);
    assert_eq!(server_stats.timeouts, 0);
    assert_eq!(server_stats.retransmissions, 1);
}
