//! The handshake off the happy path, as packet traces: SYNs and SYN-ACKs that are
//! retransmitted or lost, and resets that arrive while a connection is being set up.

mod common;

use std::cell::Cell;
use std::rc::Rc;

use common::{
    net_with_rtt, probe, run, stats, Call, Capture, CaptureFormat, Got, Raw, Script, PORT,
};
use smoltcp::phy::Medium;
use smoltcp::wire::{Ipv4Address, TcpControl};
use tcpknobs_stack::congestion::CwndCause;
use tcpknobs_stack::segment::Segment;
use tcpknobs_stack::trace::{EventKind, SendReason};
use tcpknobs_stack::{ConnId, HostId, Instant, RunEnd};

const CLIENT: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const SERVER: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);

/// An RTT above the 1 s initial RTO (RFC 6298 §2.1) makes both ends retransmit their
/// handshake segment once, spuriously, and that must cost nothing: no RST, no lost
/// window, and the exchange takes the 2 RTT it takes on any path.
///
/// RTT 1,100 ms (550 ms each way). Client SYN at 0, resent at 1,000 (RTO 1 s). The
/// server answers the first at 550; its SYN-ACK timer resends at 1,550, when the
/// client's second SYN arrives too (dropped: the SYN-ACK is already going out). The
/// first SYN-ACK reaches the client at 1,100: it ACKs with its request, which reaches
/// the server at 1,650; the answer arrives at 1,650 + 550 = 2,200 = 2 RTT. smoltcp's
/// backed-off RTO is 2 s by then (RFC 6298 §5.5; §5.7 would even say 3 s), above the
/// RTT, so the request is not resent. The second SYN-ACK reaches the established
/// client at 2,100 and gets an ACK (RFC 5961 §4.2's challenge ACK).
#[test]
fn rtt_above_initial_rto_costs_nothing() {
    let mut net = net_with_rtt(1100);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut server = Script::new(&[
        (0, Call::Listen),
        (1650, Call::Accept),
        (1650, Call::Recv),
        (1650, Call::Send(b"answer")),
    ]);
    let mut client = Script::new(&[
        (0, Call::Connect),
        (0, Call::Send(b"ask")),
        (2199, Call::Recv),
        (2200, Call::Recv),
    ]);
    assert_eq!(run(&mut net, &mut client, &mut server, 5000), RunEnd::Done);
    assert_eq!(server.got, vec![(1650, Got::Data(b"ask".to_vec()))]);
    assert_eq!(
        client.got,
        vec![(2199, Got::Nothing), (2200, Got::Data(b"answer".to_vec()))]
    );
    let segments = capture.segments();
    assert!(segments.iter().all(|s| !s.rst), "no RST: {segments:?}");
    let (c, s) = (stats(&net, 0), stats(&net, 1));
    assert_eq!((c.syn_retransmits, s.syn_retransmits), (1, 1));
    assert_eq!((c.timeouts, s.timeouts), (0, 0), "no data timeout");
    assert_eq!(c.challenge_acks, 1, "the late SYN-ACK is ACKed");
    for st in [&c, &s] {
        assert!(
            st.cwnd_history
                .iter()
                .all(|x| x.cause != CwndCause::HandshakeLoss && x.cause != CwndCause::Timeout),
            "one spurious handshake retransmission keeps the initial window: {:?}",
            st.cwnd_history
        );
    }
}

/// A handshake that needed more than one retransmission starts from one segment
/// (RFC 5681 §3.1, applied as Linux's `tcp_init_transfer` does), and the lost
/// SYN-ACKs are not taken for lost data.
///
/// RTT 100 ms; the server's first two SYN-ACKs are dropped. Client SYN at 0, 1,000 and
/// 3,000 ms (RTO 1 s, doubled); the server's SYN-ACK leaves at 50, 1,050 and 3,050 ms
/// (its timer is half an RTT behind the client's), the third arrives at 3,100 and the
/// handshake's last ACK reaches the server at 3,150 ms plus serialization. Sent at
/// 3,151 ms, its 10 segments leave 1, 2, 4, 3 per round trip: the window started at
/// one segment, not ten.
#[test]
fn lost_syn_acks_start_from_one_segment() {
    static BURST: [u8; 14_600] = [b'x'; 14_600];
    // 1 Gbit/s, so that each segment of a burst gets its own ACK (see
    // congestion_trace.rs, slow_start_doubles_each_round_trip).
    let mut knobs = common::knobs();
    knobs.slow_start.initial_window = 10;
    let mut net = common::gigabit_net(knobs);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let dropped = Rc::new(Cell::new(0));
    let count = dropped.clone();
    net.set_fault(Box::new(move |_, from, _, frame| {
        let syn = Segment::parse(Medium::Ip, frame).is_some_and(|s| s.syn);
        let drop = from == HostId(1) && syn && count.get() < 2;
        count.set(count.get() + u32::from(drop));
        drop
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (3151, Call::Accept),
        (3151, Call::Send(&BURST)),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (4000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 6000);
    assert_eq!(dropped.get(), 2);
    let syn_acks: Vec<u64> = capture
        .timed_segments()
        .into_iter()
        .filter(|(_, s)| s.syn && s.src_port == PORT)
        .map(|(t, _)| t / 1_000_000)
        .collect();
    assert_eq!(
        syn_acks,
        vec![50, 1050, 3050],
        "captured as sent, before the link drops them"
    );
    let rounds = capture.rounds_from(PORT);
    assert_eq!(rounds, vec![(3151, 1), (3251, 2), (3351, 4), (3451, 3)]);
    let s = stats(&net, 1);
    assert_eq!((s.syn_retransmits, s.timeouts), (2, 0));
    assert!(s
        .cwnd_history
        .iter()
        .any(|x| x.cause == CwndCause::HandshakeLoss));
    assert_eq!(client.got.len(), 1);
}

/// In pcapng each host is an interface of its own, every frame says why it was sent,
/// and the frames a fault rule dropped say so: exactly the two SYN-ACKs the rule
/// picked, on the server's interface, the second sent again by the server's
/// handshake timer (1 s after the first).
#[test]
fn pcapng_names_hosts_and_comments_fault_drops() {
    let mut net = common::gigabit_net(common::knobs());
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcapng);
    let dropped = Rc::new(Cell::new(0));
    let count = dropped.clone();
    net.set_fault(Box::new(move |_, from, _, frame| {
        let syn = Segment::parse(Medium::Ip, frame).is_some_and(|s| s.syn);
        let drop = from == HostId(1) && syn && count.get() < 2;
        count.set(count.get() + u32::from(drop));
        drop
    }));
    let mut server = Script::new(&[(0, Call::Listen), (3151, Call::Accept)]);
    let mut client = Script::new(&[(0, Call::Connect)]);
    run(&mut net, &mut client, &mut server, 4000);
    net.finish_capture().unwrap();
    let contents = capture.contents();
    let names: Vec<&str> = contents
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["client", "server"]);
    assert!(contents.frames.iter().all(|f| f.comment.is_some()));
    let commented: Vec<(u64, u32, &str)> = contents
        .frames
        .iter()
        .filter_map(|f| {
            let c = f.comment.as_deref().filter(|c| c.contains("dropped"))?;
            Some((f.ts_ns / 1_000_000, f.interface.0, c))
        })
        .collect();
    assert_eq!(
        commented,
        [
            (50, 1, "SYN-ACK; dropped by a fault rule"),
            (
                1050,
                1,
                "SYN-ACK retransmission #1: the handshake's timer fired; dropped by a fault rule"
            )
        ]
    );
}

/// SYN, SYN-ACK, RST: smoltcp sends its socket back to LISTEN, and a listener pool
/// that missed it would hold a socket that takes the next SYN and never answers.
/// After 10,000 such resets the server still has exactly its pool of listening
/// sockets and answers the next request.
#[test]
fn handshake_resets_leave_the_listener_whole() {
    let mut net = net_with_rtt(100);
    let pool = tcpknobs_stack::host::LISTEN_POOL;
    let server_host = net.host_mut(HostId(1));
    server_host.listen(PORT);
    let at = Instant::from_millis(0);
    for i in 0..10_000u32 {
        let port = 1024 + (i % 60_000) as u16;
        let mut syn = Raw::new((CLIENT, port), (SERVER, PORT));
        syn.control = TcpControl::Syn;
        syn.seq = i.wrapping_mul(7919);
        let answer = probe(server_host, syn.frame(), at);
        assert!(
            answer.len() == 1 && answer[0].syn && answer[0].ack == Some(syn.seq + 1),
            "a SYN-ACK: {answer:?}"
        );
        let mut rst = Raw::new((CLIENT, port), (SERVER, PORT));
        rst.control = TcpControl::Rst;
        rst.seq = syn.seq + 1;
        assert!(probe(server_host, rst.frame(), at).is_empty());
    }
    assert_eq!(
        server_host.socket_count(),
        pool,
        "only the listening pool is left"
    );
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Recv),
        (150, Call::Send(b"still here")),
    ]);
    let mut client = Script::new(&[
        (0, Call::Connect),
        (100, Call::Send(b"hi")),
        (300, Call::Recv),
    ]);
    run(&mut net, &mut client, &mut server, 1000);
    assert_eq!(server.got, vec![(150, Got::Data(b"hi".to_vec()))]);
    assert_eq!(client.got, vec![(300, Got::Data(b"still here".to_vec()))]);
}

/// RFC 5961 on an established connection. The server sends "hello" at 150 ms; the
/// client has read it by 300 ms, so its RCV.NXT is the server's ISS + 1 + 5. Then
/// forged segments arrive at the client:
/// * an RST inside the window but not at RCV.NXT: a challenge ACK (SEQ = SND.NXT,
///   ACK = RCV.NXT), the connection lives;
/// * a second one 100 ms later: no second challenge ACK (at most one per 500 ms);
/// * an RST outside the window: dropped silently;
/// * a SYN: a challenge ACK, the connection lives (and still receives data);
/// * an RST at exactly RCV.NXT: accepted; the next read reports the reset.
#[test]
fn blind_resets_and_syns_get_challenge_acks() {
    let mut net = net_with_rtt(100);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Send(b"hello")),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (300, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 400);
    assert_eq!(client.got, vec![(300, Got::Data(b"hello".to_vec()))]);
    let segments = capture.segments();
    let iss = segments
        .iter()
        .find(|s| s.syn && s.src_port == PORT)
        .unwrap()
        .seq;
    let client_next = segments
        .iter()
        .rev()
        .find(|s| s.src_port != PORT)
        .unwrap()
        .seq_end();
    let rcv_nxt = iss.wrapping_add(1 + 5);
    let port = net
        .host(HostId(0))
        .local_port(ConnId(0))
        .expect("connected");
    let forged = |control: TcpControl, seq: u32| {
        let mut raw = Raw::new((SERVER, PORT), (CLIENT, port));
        raw.control = control;
        raw.seq = seq;
        raw.frame()
    };
    let host = net.host_mut(HostId(0));
    host.set_tracing(true);
    let t0 = host.now();
    let ms = |n: u64| t0 + tcpknobs_stack::Duration::from_millis(n);

    let answer = probe(
        host,
        forged(TcpControl::Rst, rcv_nxt.wrapping_add(1000)),
        ms(10),
    );
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(answer[0].is_pure_ack());
    assert_eq!((answer[0].seq, answer[0].ack), (client_next, Some(rcv_nxt)));
    let again = probe(
        host,
        forged(TcpControl::Rst, rcv_nxt.wrapping_add(2000)),
        ms(110),
    );
    assert!(again.is_empty(), "rate-limited: {again:?}");
    let outside = probe(
        host,
        forged(TcpControl::Rst, rcv_nxt.wrapping_sub(1)),
        ms(700),
    );
    assert!(outside.is_empty(), "dropped: {outside:?}");
    let syn = probe(host, forged(TcpControl::Syn, 12345), ms(800));
    assert_eq!(syn.len(), 1, "{syn:?}");
    assert!(syn[0].is_pure_ack() && syn[0].ack == Some(rcv_nxt));
    // Both challenge ACKs are in the trace, as the last two frames the host sent,
    // ACKs that acknowledge nothing new.
    let mut events = Vec::new();
    host.take_trace(&mut events);
    let out: Vec<(u64, SendReason)> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::SegmentOut { frame, why, .. } => Some((*frame, *why)),
            EventKind::StatelessSegmentOut { frame, .. } => Some((*frame, SendReason::Rst)),
            _ => None,
        })
        .collect();
    let n = host.frames_out();
    assert_eq!(
        out,
        [
            (n - 2, SendReason::DuplicateAck),
            (n - 1, SendReason::DuplicateAck)
        ]
    );
    let s = stats(&net, 0);
    assert_eq!((s.challenge_acks, s.resets_in, s.dropped_in), (2, 3, 1));

    // Still alive: the server's next data is delivered.
    let later = net.now().total_millis() + 1000;
    let mut server = Script::new(&[(later, Call::Send(b"more"))]);
    server.conn = Some(ConnId(0));
    let mut client = Script::new(&[(later + 100, Call::Recv)]);
    client.conn = Some(ConnId(0));
    run(&mut net, &mut client, &mut server, later + 200);
    assert_eq!(client.got, vec![(later + 100, Got::Data(b"more".to_vec()))]);

    // An RST at exactly RCV.NXT (now 5 + 4 bytes past the ISS) is accepted.
    let host = net.host_mut(HostId(0));
    let at = host.now() + tcpknobs_stack::Duration::from_millis(1);
    let exact = probe(host, forged(TcpControl::Rst, iss.wrapping_add(1 + 9)), at);
    assert!(exact.iter().all(|s| !s.rst), "{exact:?}");
    let mut buf = Vec::new();
    assert_eq!(
        host.recv(ConnId(0), &mut buf),
        Err(tcpknobs_stack::SocketError::ConnectionReset)
    );
}

/// The server closes first and holds the tuple in TIME_WAIT; returns the net, the
/// client's port and the server's RCV.NXT for the tuple (the client's FIN + 1).
fn server_in_time_wait() -> (tcpknobs_stack::SimNet, u16, u32) {
    let mut net = net_with_rtt(100);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    // The server closes at 150 ms; the client reads EOF at 300 ms and closes; its FIN
    // reaches the server at 350 ms, which ACKs it and holds the tuple.
    let mut server = Script::new(&[(0, Call::Listen), (150, Call::Accept), (150, Call::Close)]);
    let mut client = Script::new(&[(0, Call::Connect), (300, Call::Recv), (300, Call::Close)]);
    run(&mut net, &mut client, &mut server, 1000);
    assert_eq!(client.got, vec![(300, Got::Eof)]);
    assert_eq!(net.host(HostId(1)).time_wait_len(), 1);
    let fin = capture
        .segments()
        .into_iter()
        .find(|s| s.fin && s.src_port != PORT)
        .expect("the client's FIN");
    (net, fin.src_port, fin.seq_end())
}

/// A SYN for a tuple the server holds in TIME_WAIT, beyond the old connection's
/// sequence numbers, cannot be an old duplicate: the tuple is reopened and the
/// listener answers at once with a SYN-ACK (RFC 6191; Linux
/// `tcp_timewait_state_process`).
#[test]
fn a_new_syn_reopens_a_tuple_in_time_wait() {
    let (mut net, port, rcv_nxt) = server_in_time_wait();
    let host = net.host_mut(HostId(1));
    let at = host.now() + tcpknobs_stack::Duration::from_millis(10);
    let mut syn = Raw::new((CLIENT, port), (SERVER, PORT));
    syn.control = TcpControl::Syn;
    syn.seq = rcv_nxt.wrapping_add(100_000);
    let answer = probe(host, syn.frame(), at);
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(answer[0].syn && answer[0].ack == Some(syn.seq.wrapping_add(1)));
    assert_eq!(host.time_wait_len(), 0);
    let held = host.stats(ConnId(0)).unwrap().time_wait_ms.unwrap();
    let expected = (at.total_micros() - 350_000) as f64 / 1000.0;
    assert_eq!(held, expected, "held from 350 ms until the SYN");
}

/// A SYN at or below RCV.NXT may be an old duplicate: it gets the TIME_WAIT ACK. A
/// client whose ISN really is lower answers that ACK with an RST at RCV.NXT, which
/// ends the TIME_WAIT (RFC 1337's assassination, allowed by Linux's default), and
/// its retransmitted SYN then opens the connection.
#[test]
fn an_old_syn_gets_the_time_wait_ack() {
    let (mut net, port, rcv_nxt) = server_in_time_wait();
    let host = net.host_mut(HostId(1));
    let t0 = host.now();
    let ms = |n: u64| t0 + tcpknobs_stack::Duration::from_millis(n);
    let mut syn = Raw::new((CLIENT, port), (SERVER, PORT));
    syn.control = TcpControl::Syn;
    syn.seq = rcv_nxt.wrapping_sub(100_000);
    let answer = probe(host, syn.frame(), ms(10));
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(answer[0].is_pure_ack() && answer[0].ack == Some(rcv_nxt));
    assert_eq!(host.time_wait_len(), 1);
    let mut rst = Raw::new((CLIENT, port), (SERVER, PORT));
    rst.control = TcpControl::Rst;
    rst.seq = rcv_nxt;
    assert!(probe(host, rst.frame(), ms(20)).is_empty());
    assert_eq!(host.time_wait_len(), 0, "the RST ended TIME_WAIT");
    let answer = probe(host, syn.frame(), ms(1010));
    assert!(answer.len() == 1 && answer[0].syn, "{answer:?}");
}

/// A SYN that is never answered: retransmitted `syn_retries` times with the RTO
/// doubling from 1 s, and the connect fails when the last RTO runs out, silently
/// (no RST toward a peer that never answered). Linux's default of 6: SYNs at 0, 1, 3,
/// 7, 15, 31 and 63 s, failure at 63 + 64 = 127 s. With 2: SYNs at 0, 1 and 3 s,
/// failure at 3 + 4 = 7 s.
#[test]
fn an_unanswered_syn_times_out_after_its_retries() {
    for (retries, sent_at, fails_at) in [
        (6, vec![0, 1, 3, 7, 15, 31, 63], 127),
        (2, vec![0, 1, 3], 7),
    ] {
        let client_knobs = tcpknobs_stack::Knobs {
            syn_retries: retries,
            ..common::knobs()
        };
        let mut net = common::net_with(100, client_knobs, common::knobs());
        let capture = Capture::default();
        capture.attach(&mut net, CaptureFormat::Pcap);
        net.set_fault(Box::new(|_, from, _, _| from == HostId(0)));
        let mut server = Script::new(&[(0, Call::Listen)]);
        let just_before = fails_at * 1000 - 1;
        let mut client = Script::new(&[
            (0, Call::Connect),
            (just_before, Call::Recv),
            (fails_at * 1000, Call::Recv),
        ]);
        run(&mut net, &mut client, &mut server, 200_000);
        let syns: Vec<i64> = capture
            .timed_segments()
            .into_iter()
            .map(|(t, s)| {
                assert!(s.syn && !s.rst, "only SYNs: {s:?}");
                (t / 1_000_000_000) as i64
            })
            .collect();
        assert_eq!(syns, sent_at, "syn_retries {retries}");
        let syns = sent_at.len() as u32;
        assert_eq!(
            client.got,
            vec![
                (just_before, Got::Nothing),
                (
                    fails_at * 1000,
                    Got::Err(tcpknobs_stack::SocketError::ConnectTimedOut { syns })
                )
            ]
        );
        assert_eq!(net.host(HostId(0)).socket_count(), 0);
    }
}

/// A passive open whose SYN-ACKs go unanswered (a spoofed or vanished client) is
/// dropped after `synack_retries` retransmissions, silently, and its socket freed:
/// Linux's 5 send SYN-ACKs at 0, 1, 3, 7, 15 and 31 s after the SYN and give up at
/// 63 s.
#[test]
fn an_unanswered_syn_ack_is_given_up() {
    let mut net = net_with_rtt(100);
    let pool = tcpknobs_stack::host::LISTEN_POOL;
    let host = net.host_mut(HostId(1));
    host.listen(PORT);
    let mut syn = Raw::new((CLIENT, 40000), (SERVER, PORT));
    syn.control = TcpControl::Syn;
    syn.seq = 1;
    let mut sent = Vec::new();
    for at in (0..70_000).step_by(1000) {
        let now = Instant::from_millis(at);
        let out = if at == 0 {
            probe(host, syn.frame(), now)
        } else {
            host.poll(now);
            host.take_frames()
                .iter()
                .filter_map(|f| Segment::parse(Medium::Ip, f))
                .collect()
        };
        for s in out {
            assert!(s.syn && s.ack.is_some() && !s.rst, "{s:?}");
            sent.push(at / 1000);
        }
        if at == 62_000 {
            assert_eq!(host.socket_count(), pool + 1, "still in SYN-RECEIVED");
        }
    }
    assert_eq!(sent, vec![0, 1, 3, 7, 15, 31]);
    assert_eq!(host.socket_count(), pool, "freed at 63 s");
}

/// On Ethernet a SYN leaves only once the next hop answers ARP. A neighbour that
/// never does is unreachable after Linux's three probes a second apart: the connect
/// fails at 3 s with an error that says so, not as a response timeout.
#[test]
fn no_arp_reply_fails_the_connect() {
    let config = tcpknobs_stack::HostConfig {
        name: "client".into(),
        addr: tcpknobs_stack::Ipv4Cidr::new(CLIENT, 24),
        medium: Medium::Ethernet,
        mac: smoltcp::wire::EthernetAddress([2, 0, 0, 0, 0, 1]),
        gateway: None,
        mtu: 1500,
        seed: 1,
        knobs: common::knobs(),
        checksums: true,
    };
    let mut host = tcpknobs_stack::Host::new(config, Instant::from_millis(0));
    let id = host.connect(SERVER, PORT).unwrap();
    for at in (0..=3000).step_by(100) {
        host.poll(Instant::from_millis(at));
        for frame in host.take_frames() {
            assert_eq!(&frame[12..14], &[0x08, 0x06], "only ARP requests");
        }
        let expected = if at < 3000 {
            tcpknobs_stack::ConnState::Connecting
        } else {
            tcpknobs_stack::ConnState::Failed(tcpknobs_stack::SocketError::NoArpReply(SERVER))
        };
        assert_eq!(host.state(id), expected, "at {at} ms");
    }
    assert_eq!(
        tcpknobs_stack::SocketError::NoArpReply(SERVER).to_string(),
        "no ARP reply from 192.0.2.2"
    );
}

/// A SYN answered by an old connection's ACK (a peer still holding the tuple in
/// TIME_WAIT answers a SYN whose sequence number is not above the old one with its
/// ACK, RFC 9293 §3.10.7.4 and Linux `tcp_timewait_state_process`), then a fresh
/// handshake: the connection must carry data afterwards. The client sends an RST at
/// the ACK's acknowledgment number (§3.10.7.3, SYN-SENT, "if the ACK bit is set ...
/// if SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset <SEQ=SEG.ACK><CTL=RST>"), which
/// clears the peer's old state, and its SYN timer sends the SYN again at 1 s.
///
/// RTT 100 ms. The client's first SYN (at 0) is lost on the way; at 60 ms the forged
/// old ACK arrives (seq 7,000, ack 9,000). The second SYN leaves at 1,000 and the
/// server answers; the server sends `hello` once it accepts, at 1,200, and the client
/// reads it at 1,300. Before the fix the client's wire bookkeeping kept the old ACK's
/// numbers and dropped every segment of the new connection as outside its window: the
/// data never arrived.
#[test]
fn an_old_connections_ack_in_syn_sent_leaves_the_next_handshake_whole() {
    let mut net = net_with_rtt(100);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let dropped = Rc::new(Cell::new(false));
    let first = dropped.clone();
    net.set_fault(Box::new(move |_, from, _, frame| {
        let syn = Segment::parse(Medium::Ip, frame).is_some_and(|s| s.syn);
        let drop = from == HostId(0) && syn && !first.get();
        first.set(first.get() || drop);
        drop
    }));
    let mut server = Script::new(&[
        (0, Call::Listen),
        (1200, Call::Accept),
        (1200, Call::Send(b"hello")),
    ]);
    let mut client = Script::new(&[(0, Call::Connect)]);
    run(&mut net, &mut client, &mut server, 60);
    assert!(dropped.get(), "the first SYN is lost");
    let port = net.host(HostId(0)).local_port(ConnId(0)).expect("a port");
    let mut old_ack = Raw::new((SERVER, PORT), (CLIENT, port));
    old_ack.seq = 7_000;
    old_ack.ack = Some(9_000);
    let host = net.host_mut(HostId(0));
    let at = host.now() + tcpknobs_stack::Duration::from_millis(1);
    let answer = probe(host, old_ack.frame(), at);
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(answer[0].rst && answer[0].seq == 9_000, "{answer:?}");

    let mut client = Script::new(&[(1300, Call::Recv)]);
    client.conn = Some(ConnId(0));
    run(&mut net, &mut client, &mut server, 1500);
    assert_eq!(client.got, vec![(1300, Got::Data(b"hello".to_vec()))]);
}

/// The server's side of the same rule: in SYN-RECEIVED an ACK that does not
/// acknowledge our SYN-ACK (RFC 9293 §3.10.7.4, SYN-RECEIVED: "If the segment
/// acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>") is
/// answered with an RST and changes nothing, so the client's real ACK still completes
/// the handshake.
///
/// RTT 100 ms: the SYN reaches the server at 50 ms and the client's ACK with its
/// request at 150. At 60 ms a forged ACK from the client's tuple acknowledges 1,000
/// bytes the server never sent. The server answers the request; the client reads it,
/// and its ACK of the answer counts. Before the fix the server took the forged number
/// as SND.UNA (and 1,000 bytes into its congestion window) and then dropped that ACK
/// as older than SND.UNA.
#[test]
fn a_bogus_ack_in_syn_received_leaves_the_handshake_whole() {
    let mut net = net_with_rtt(100);
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut server = Script::new(&[
        (0, Call::Listen),
        (200, Call::Accept),
        (200, Call::Send(b"hello")),
    ]);
    let mut client = Script::new(&[(0, Call::Connect)]);
    run(&mut net, &mut client, &mut server, 59);
    let syn_ack = capture
        .segments()
        .into_iter()
        .find(|s| s.syn && s.src_port == PORT)
        .expect("the SYN-ACK left at 50 ms");
    let mut bogus = Raw::new((CLIENT, syn_ack.dst_port), (SERVER, PORT));
    bogus.seq = syn_ack.ack.expect("it acknowledges the SYN");
    bogus.ack = Some(syn_ack.seq.wrapping_add(1 + 1000));
    let host = net.host_mut(HostId(1));
    let at = host.now() + tcpknobs_stack::Duration::from_millis(1);
    let answer = probe(host, bogus.frame(), at);
    assert_eq!(answer.len(), 1, "{answer:?}");
    assert!(
        answer[0].rst && answer[0].seq == bogus.ack.unwrap(),
        "{answer:?}"
    );

    let mut client = Script::new(&[(400, Call::Recv)]);
    client.conn = Some(ConnId(0));
    run(&mut net, &mut client, &mut server, 3000);
    assert_eq!(client.got, vec![(400, Got::Data(b"hello".to_vec()))]);
    // The client's ACK of `hello` counted: nothing was resent, nothing dropped.
    let s = stats(&net, 1);
    assert_eq!((s.retransmissions, s.dropped_in), (0, 0), "{s:?}");
}
