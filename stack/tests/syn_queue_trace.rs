//! A listener's SYN queue off the happy path, as packet traces: a flood of SYNs that
//! never complete, SYN cookies coming back, forged ACKs, and cookies turned off.
//!
//! Linux bounds the handshakes under way on a listener by its backlog
//! (`inet_csk_reqsk_queue_is_full`: more than `backlog`), so backlog + 1 fit; beyond
//! that a SYN gets a SYN cookie (`tcp_syncookies` = 1) or is dropped (= 0).

mod common;

use common::{probe, Raw, PORT};
use smoltcp::phy::Medium;
use smoltcp::wire::{Ipv4Address, TcpControl};
use tcpknobs_stack::host::LISTEN_POOL;
use tcpknobs_stack::segment::Segment;
use tcpknobs_stack::trace::{Endpoint, EventKind, SegmentInfo, StatelessReason};
use tcpknobs_stack::{Host, HostConfig, Instant, Knobs, Readable};

const CLIENT: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const SERVER: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);
const BACKLOG: usize = 4;
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

/// The server, listening on `PORT` with a backlog of `BACKLOG`, cookies on or off.
fn server(cookies: bool) -> Host {
    listening(
        Medium::Ip,
        Knobs {
            backlog: BACKLOG,
            syn_cookies: cookies,
            delayed_ack: None,
            ..Knobs::default()
        },
    )
}

/// The server on Ethernet (a TAP), with `backlog`.
fn ethernet_server(backlog: usize) -> Host {
    listening(
        Medium::Ethernet,
        Knobs {
            backlog,
            delayed_ack: None,
            ..Knobs::default()
        },
    )
}

fn listening(medium: Medium, knobs: Knobs) -> Host {
    listening_checksummed(medium, knobs, true)
}

fn listening_checksummed(medium: Medium, knobs: Knobs, checksums: bool) -> Host {
    let config = HostConfig {
        name: "server".into(),
        addr: tcpknobs_stack::Ipv4Cidr::new(SERVER, 24),
        medium,
        mac: smoltcp::wire::EthernetAddress(SERVER_MAC),
        gateway: None,
        mtu: 1500,
        seed: 1,
        knobs,
        checksums,
    };
    let mut host = Host::new(config, at(0));
    host.listen(PORT);
    host
}

fn syn(port: u16, isn: u32) -> Raw {
    let mut syn = Raw::new((CLIENT, port), (SERVER, PORT));
    syn.control = TcpControl::Syn;
    syn.seq = isn;
    syn
}

fn ack(port: u16, seq: u32, ack: u32, payload: &[u8]) -> Raw {
    let mut seg = Raw::new((CLIENT, port), (SERVER, PORT));
    seg.seq = seq;
    seg.ack = Some(ack);
    seg.payload = payload.to_vec();
    seg
}

fn at(ms: i64) -> Instant {
    Instant::from_millis(ms)
}

fn ms_poll(host: &mut Host, ms: i64) -> Vec<Segment> {
    host.poll(at(ms));
    host.take_frames()
        .iter()
        .filter_map(|f| Segment::parse(Medium::Ip, f))
        .collect()
}

/// 1,000 SYNs from different ports at once, none ever completed: the first
/// backlog + 1 = 5 become connections in SYN-RECEIVED, the other 995 are answered
/// with cookies and leave nothing behind. All 1,000 get a SYN-ACK; the cookie ones
/// carry our MSS (1500 - 40) and no window scale. At 63 s (5 SYN-ACK retries, Linux's
/// `tcp_synack_retries`) the five are given up and only the listening socket is left.
#[test]
fn a_syn_flood_holds_at_most_backlog_plus_one_handshakes() {
    let mut host = server(true);
    let mut answers = Vec::new();
    for i in 0..1000u16 {
        answers.extend(probe(
            &mut host,
            syn(10_000 + i, 7 * u32::from(i)).frame(),
            at(0),
        ));
    }
    assert_eq!(answers.len(), 1000);
    for (i, a) in answers.iter().enumerate() {
        assert!(
            a.syn && !a.rst && a.ack == Some(7 * i as u32 + 1),
            "{i}: {a:?}"
        );
        assert_eq!(a.dst_port, 10_000 + i as u16);
        if i > BACKLOG {
            assert_eq!((a.mss, a.window_scale), (Some(1460), None), "{i}: a cookie");
        }
    }
    assert_eq!(host.socket_count(), LISTEN_POOL + BACKLOG + 1);
    assert_eq!(host.live_connection_count(), BACKLOG + 1);
    let c = host.listen_counters();
    assert_eq!(c.syncookies_sent, 1000 - (BACKLOG as u64 + 1));
    assert_eq!(
        (c.syncookies_recv, c.syncookies_failed, c.syn_queue_drops),
        (0, 0, 0)
    );
    for s in (1..=63).map(|s| s * 1000) {
        ms_poll(&mut host, s);
    }
    assert_eq!(host.socket_count(), LISTEN_POOL);
    assert_eq!(host.live_connection_count(), 0);
    // The handshakes given up left the queue: the next SYN is kept, not a cookie.
    let sent = host.listen_counters().syncookies_sent;
    probe(&mut host, syn(30_000, 1).frame(), at(63_000));
    assert_eq!(host.socket_count(), LISTEN_POOL + 1);
    assert_eq!(host.listen_counters().syncookies_sent, sent);
}

/// A completed handshake leaves the SYN queue: backlog + 1 = 5 handshakes, completed
/// and accepted, make room for 5 more kept ones; the 6th of those gets a cookie.
#[test]
fn completed_handshakes_leave_the_syn_queue() {
    let mut host = server(true);
    for round in 0..2u16 {
        for i in 0..=BACKLOG as u16 {
            let port = 10_000 + 100 * round + i;
            let synack = probe(&mut host, syn(port, 1).frame(), at(0))[0];
            assert_eq!(synack.window_scale, None, "a Raw SYN offers no scaling");
            probe(
                &mut host,
                ack(port, 2, synack.seq + 1, b"").frame(),
                at(100),
            );
            assert!(host.accept(PORT).is_some(), "round {round}, {i}");
        }
    }
    assert_eq!(host.listen_counters().syncookies_sent, 0);
    for i in 0..=BACKLOG as u16 {
        probe(&mut host, syn(20_000 + i, 1).frame(), at(200));
    }
    assert_eq!(host.listen_counters().syncookies_sent, 0);
    probe(&mut host, syn(30_000, 1).frame(), at(200));
    assert_eq!(host.listen_counters().syncookies_sent, 1);
}

/// With cookies off (`tcp_syncookies` = 0) the SYNs beyond the queue get nothing:
/// their clients' SYN timers try again.
#[test]
fn without_cookies_syns_beyond_the_queue_are_dropped() {
    let mut host = server(false);
    let mut answered = 0;
    for i in 0..100u16 {
        answered += probe(&mut host, syn(10_000 + i, 1).frame(), at(0)).len();
    }
    assert_eq!(answered, BACKLOG + 1);
    assert_eq!(host.socket_count(), LISTEN_POOL + BACKLOG + 1);
    assert_eq!(
        host.listen_counters().syn_queue_drops,
        100 - (BACKLOG as u64 + 1)
    );
}

/// Fill the queue, then one more SYN from port 20,000 with ISN 5,000: the cookie
/// SYN-ACK it gets.
fn cookie_handshake(host: &mut Host) -> Segment {
    for i in 0..=BACKLOG as u16 {
        probe(host, syn(10_000 + i, 1).frame(), at(0));
    }
    let answer = probe(host, syn(20_000, 5000).frame(), at(0));
    assert_eq!(answer.len(), 1);
    assert_eq!(host.listen_counters().syncookies_sent, 1);
    answer[0]
}

/// The cookie comes back 100 ms later in the ACK that carries the client's first
/// bytes: the connection is made then, in the accept queue, the data readable, and
/// our ACK of it follows the cookie's sequence space (SEQ = cookie + 1). The SYN and
/// SYN-ACK were never this connection's: it counts one segment in and one out.
#[test]
fn a_returning_cookie_makes_the_connection() {
    let mut host = server(true);
    let synack = cookie_handshake(&mut host);
    let cookie = synack.seq;
    let live = host.live_connection_count();
    let out = probe(
        &mut host,
        ack(20_000, 5001, cookie + 1, b"GET /").frame(),
        at(100),
    );
    assert_eq!(host.live_connection_count(), live + 1);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].seq, out[0].ack),
        (cookie.wrapping_add(1), Some(5001 + 5))
    );
    assert!(!out[0].syn && !out[0].rst);
    // Without window scaling the window field is the window, at most 65,535.
    assert_eq!(out[0].window, u16::MAX);
    let id = host
        .accept(PORT)
        .expect("the cookie connection is in the accept queue");
    assert!(host.accept(PORT).is_none(), "the others never completed");
    let mut buf = Vec::new();
    assert_eq!(host.recv(id, &mut buf), Ok(Readable::Data(5)));
    assert_eq!(buf, b"GET /");
    let stats = host.stats(id).unwrap();
    assert_eq!((stats.segments_in, stats.segments_out), (1, 1));
    let c = host.listen_counters();
    assert_eq!((c.syncookies_recv, c.syncookies_failed), (1, 0));
    // Its first data leaves in the cookie's sequence space.
    host.send(id, b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
    let out = ms_poll(&mut host, 100);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, cookie.wrapping_add(1));
}

/// The handshake gave no RTT sample (Linux takes none for a cookie without TCP
/// timestamps): data the server sends and nobody ACKs is resent after the initial
/// RTO, 1 s, not after the 200 ms a zero-length sample would give with Linux's
/// minimum. A stateful handshake, whose SYN-ACK left at 0 and was ACKed at 100 ms,
/// resends at SRTT + max(4 RTTVAR, 200 ms) = 100 + max(4 x 50, 200) = 300 ms after.
#[test]
fn a_cookie_handshake_gives_no_rtt_sample() {
    let resent_after = |host: &mut Host, from: i64| -> i64 {
        let id = host.accept(PORT).expect("a connection");
        host.send(id, b"response").unwrap();
        assert_eq!(ms_poll(host, from).len(), 1);
        let mut t = from;
        loop {
            t += 1;
            if ms_poll(host, t).iter().any(|s| s.payload_len > 0) {
                return t - from;
            }
            assert!(t < from + 5000, "no retransmission");
        }
    };
    let mut host = server(true);
    let synack = cookie_handshake(&mut host);
    probe(
        &mut host,
        ack(20_000, 5001, synack.seq + 1, b"").frame(),
        at(100),
    );
    assert_eq!(resent_after(&mut host, 100), 1000);

    let mut host = server(true);
    let synack = probe(&mut host, syn(20_000, 5000).frame(), at(0))[0];
    probe(
        &mut host,
        ack(20_000, 5001, synack.seq + 1, b"").frame(),
        at(100),
    );
    assert_eq!(resent_after(&mut host, 100), 300);
}

/// An ACK for no connection whose cookie does not check out (a guess, or a cookie
/// for another port) is answered with RST and makes nothing; so is any ACK when no
/// cookie has been sent for two minutes (Linux `tcp_synq_no_recent_overflow`), and
/// then the cookie is not even looked at.
#[test]
fn a_forged_cookie_gets_a_reset() {
    let mut host = server(true);
    let synack = cookie_handshake(&mut host);
    let live = host.live_connection_count();
    for (port, ack_no) in [(20_000, synack.seq + 2), (20_001, synack.seq + 1)] {
        let out = probe(&mut host, ack(port, 5001, ack_no, b"").frame(), at(100));
        assert!(out.len() == 1 && out[0].rst, "{out:?}");
    }
    assert_eq!(host.live_connection_count(), live);
    assert_eq!(host.listen_counters().syncookies_failed, 2);
    // 120 s after the cookie the right ACK is refused unchecked, at 121 s too.
    let out = probe(
        &mut host,
        ack(20_000, 5001, synack.seq + 1, b"").frame(),
        at(120_001),
    );
    assert!(out.len() == 1 && out[0].rst, "{out:?}");
    let c = host.listen_counters();
    assert_eq!((c.syncookies_recv, c.syncookies_failed), (0, 2));
}

/// Every segment the server sends is in its trace, those sent for no connection
/// too: the cookie SYN-ACK as a `stateless_segment_out` (why `syn_cookie`) under the
/// frame number it left with, from our endpoint to the client's, the cookie its
/// sequence number; the RST to a forged cookie (why `rst`). The `syn_cookie` event
/// of the connection the cookie makes names the same cookie. Counted over the run,
/// the out events (`segment_out` and `stateless_segment_out`) are the frames sent.
#[test]
fn segments_sent_for_no_connection_are_traced() {
    let mut host = server(true);
    host.set_tracing(true);
    let synack = cookie_handshake(&mut host);
    let mut events = Vec::new();
    host.take_trace(&mut events);
    let stateless =
        |events: &[EventKind]| -> Vec<(u64, Endpoint, Endpoint, SegmentInfo, StatelessReason)> {
            events
                .iter()
                .filter_map(|e| match e {
                    EventKind::StatelessSegmentOut {
                        frame,
                        local,
                        remote,
                        seg,
                        why,
                    } => Some((*frame, *local, *remote, *seg, *why)),
                    _ => None,
                })
                .collect()
        };
    let endpoint = |addr: Ipv4Address, port| Endpoint {
        addr: addr.octets(),
        port,
    };
    let out_events = |events: &[EventKind]| {
        events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    EventKind::SegmentOut { .. } | EventKind::StatelessSegmentOut { .. }
                )
            })
            .count() as u64
    };
    // The five stateful SYN-ACKs were frames 0-4; the cookie's is the last.
    assert_eq!(host.frames_out(), BACKLOG as u64 + 2);
    assert_eq!(
        stateless(&events),
        [(
            host.frames_out() - 1,
            endpoint(SERVER, PORT),
            endpoint(CLIENT, 20_000),
            SegmentInfo::from(&synack),
            StatelessReason::SynCookie
        )]
    );
    let mut sent = out_events(&events);

    let out = probe(
        &mut host,
        ack(20_001, 5001, synack.seq + 1, b"").frame(),
        at(100),
    );
    assert!(out.len() == 1 && out[0].rst, "{out:?}");
    events.clear();
    host.take_trace(&mut events);
    assert_eq!(
        stateless(&events),
        [(
            host.frames_out() - 1,
            endpoint(SERVER, PORT),
            endpoint(CLIENT, 20_001),
            SegmentInfo::from(&out[0]),
            StatelessReason::Rst
        )]
    );
    sent += out_events(&events);

    probe(
        &mut host,
        ack(20_000, 5001, synack.seq + 1, b"GET /").frame(),
        at(200),
    );
    events.clear();
    host.take_trace(&mut events);
    assert!(
        events.iter().any(|e| matches!(
            e,
            EventKind::SynCookie { iss, irs: 5000, .. } if *iss == synack.seq
        )),
        "{events:?}"
    );
    sent += out_events(&events);
    assert_eq!(sent, host.frames_out());
}

/// The cookie keeps the client's MSS, rounded down to Linux's table: a client that
/// announced 1,400 gets segments of 1,300 bytes (the table's entry below 1,400), the
/// most the server may send it if the cookie rounded the MSS down.
#[test]
fn a_cookie_connection_sends_segments_of_the_mss_the_cookie_kept() {
    let mut host = server(true);
    for i in 0..=BACKLOG as u16 {
        probe(&mut host, syn(10_000 + i, 1).frame(), at(0));
    }
    let mut first = syn(20_000, 5000);
    first.mss = 1400;
    let synack = probe(&mut host, first.frame(), at(0))[0];
    probe(
        &mut host,
        ack(20_000, 5001, synack.seq + 1, b"").frame(),
        at(100),
    );
    let id = host.accept(PORT).expect("the cookie connection");
    host.send(id, &[7u8; 5000]).unwrap();
    let sizes: Vec<usize> = ms_poll(&mut host, 100)
        .iter()
        .map(|s| s.payload_len)
        .collect();
    // The initial window (10 segments) takes all 5,000 bytes: 3 full and the rest.
    assert_eq!(sizes, vec![1300, 1300, 1300, 1100]);
}

/// A cookie ACK may carry the whole request and the client's FIN: the connection is
/// made, the request is readable, then the end of the stream, and the server's ACK
/// covers the FIN too.
#[test]
fn a_cookie_ack_with_data_and_fin_makes_a_half_closed_connection() {
    let mut host = server(true);
    let synack = cookie_handshake(&mut host);
    let mut last = ack(20_000, 5001, synack.seq + 1, b"GET / HTTP/1.0\r\n\r\n");
    last.control = TcpControl::Fin;
    let out = probe(&mut host, last.frame(), at(100));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, Some(5001 + 18 + 1), "data and FIN acknowledged");
    let id = host.accept(PORT).expect("the cookie connection");
    let mut buf = Vec::new();
    assert_eq!(host.recv(id, &mut buf), Ok(Readable::Data(18)));
    assert_eq!(host.recv(id, &mut buf), Ok(Readable::Eof));
}

/// `ip` in an Ethernet frame from the client to the server.
fn on_ethernet(ip: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + ip.len());
    frame.extend_from_slice(&SERVER_MAC);
    frame.extend_from_slice(&CLIENT_MAC);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(ip);
    frame
}

/// The client's answer to the server's ARP request for it.
fn arp_reply() -> Vec<u8> {
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        EthernetRepr,
    };
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: EthernetAddress(CLIENT_MAC),
        source_protocol_addr: CLIENT,
        target_hardware_addr: EthernetAddress(SERVER_MAC),
        target_protocol_addr: SERVER,
    };
    let eth = EthernetRepr {
        src_addr: EthernetAddress(CLIENT_MAC),
        dst_addr: EthernetAddress(SERVER_MAC),
        ethertype: EthernetProtocol::Arp,
    };
    let mut frame = vec![0u8; eth.buffer_len() + arp.buffer_len()];
    let mut f = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
    frame
}

/// Hand `frame` to `host` at `ms` and return the frames it sent.
fn eth(host: &mut Host, frame: Vec<u8>, ms: i64) -> Vec<Vec<u8>> {
    host.receive_frame(frame);
    host.poll(at(ms));
    host.take_frames()
}

/// The TCP segments among Ethernet `frames`.
fn tcp(frames: &[Vec<u8>]) -> Vec<Segment> {
    frames
        .iter()
        .filter_map(|f| Segment::parse(Medium::Ethernet, f))
        .collect()
}

/// On Ethernet (a TAP), smoltcp learns a neighbour's address only from ARP, and a
/// SYN answered with a cookie never reached it: when the cookie comes back, the
/// listening socket asks ARP for the client before it can answer the replayed SYN.
/// The ACK that brought the cookie is dropped then. Once ARP answers, the socket's
/// SYN-ACK is taken back all the same (it never reaches the wire), and the client's
/// retransmission of its request makes the connection: its data is read whole, and
/// the server's ACK of it is in the cookie's sequence space.
#[test]
fn a_cookie_waits_for_arp_on_ethernet() {
    let mut host = ethernet_server(0);
    // The first SYN fills the queue (backlog 0: one fits); its SYN-ACK waits for ARP.
    let out = eth(&mut host, on_ethernet(&syn(10_000, 1).frame()), 0);
    assert!(tcp(&out).is_empty(), "an ARP request, no SYN-ACK yet");
    // The second gets a cookie at once, addressed back to the frame's sender.
    let out = eth(&mut host, on_ethernet(&syn(20_000, 5000).frame()), 0);
    let cookie = tcp(&out)[0];
    assert!(cookie.syn && cookie.ack == Some(5001));
    assert_eq!(&out[0][0..6], &CLIENT_MAC);
    let live = host.live_connection_count();
    // The cookie comes back with the request: the connection is made, but smoltcp
    // must ask ARP before its SYN-ACK, so the ACK is dropped.
    let request = ack(20_000, 5001, cookie.seq + 1, b"GET /").frame();
    let out = eth(&mut host, on_ethernet(&request), 100);
    assert!(tcp(&out).is_empty(), "{:?}", tcp(&out));
    assert_eq!(host.live_connection_count(), live + 1);
    assert!(host.accept(PORT).is_none(), "not established yet");
    // ARP answers: the first handshake's SYN-ACK leaves, the cookie one's does not.
    let out = tcp(&eth(&mut host, arp_reply(), 101));
    assert!(out.iter().all(|s| s.dst_port == 10_000), "{out:?}");
    // The client resends its request: now it finds the connection.
    let out = tcp(&eth(&mut host, on_ethernet(&request), 400));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].seq, out[0].ack), (cookie.seq + 1, Some(5001 + 5)));
    let id = host.accept(PORT).expect("established");
    let mut buf = Vec::new();
    assert_eq!(host.recv(id, &mut buf), Ok(Readable::Data(5)));
    // The cookie was checked once: the retransmission found the connection it made.
    assert_eq!(host.listen_counters().syncookies_recv, 1);
    // The dropped ACK never reached the connection's figures, nor its window: one
    // segment in, and the window the initial 10 segments (of the default MSS until
    // the replayed SYN told the client's, as for any passive open).
    let stats = host.stats(id).unwrap();
    assert_eq!(stats.segments_in, 1);
    let cwnd: Vec<u64> = stats.cwnd_history.iter().map(|c| c.cwnd).collect();
    assert_eq!(cwnd, vec![10 * 536, 10 * 1460]);
}

/// A connection a cookie made is not in the SYN queue, even while smoltcp's socket
/// waits for ARP to finish the handshake the cookie stood for: Linux makes a cookie's
/// connection a full socket at once (`cookie_v4_check`). With a backlog of 1 (two
/// handshakes fit), two SYNs fill the queue and a third gets a cookie, which comes
/// back before ARP has answered. Once ARP answers and one of the two handshakes
/// completes, the queue holds one, so the next SYN is kept, not given a cookie.
#[test]
fn a_cookie_connection_waiting_for_arp_is_not_in_the_syn_queue() {
    let mut host = ethernet_server(1);
    let eth = |host: &mut Host, frame: Vec<u8>, ms: i64| tcp(&eth(host, frame, ms));
    let h = &mut host;
    assert!(eth(h, on_ethernet(&syn(10_000, 1).frame()), 0).is_empty());
    assert!(eth(h, on_ethernet(&syn(10_001, 1).frame()), 0).is_empty());
    let cookie = eth(h, on_ethernet(&syn(20_000, 5000).frame()), 0)[0];
    assert!(cookie.syn && cookie.dst_port == 20_000);
    let request = ack(20_000, 5001, cookie.seq + 1, b"GET /").frame();
    assert!(
        eth(h, on_ethernet(&request), 100).is_empty(),
        "waits for ARP"
    );
    let out = eth(h, arp_reply(), 101);
    let first = out
        .iter()
        .find(|s| s.dst_port == 10_000)
        .expect("the first handshake's SYN-ACK");
    let done = ack(10_000, 2, first.seq + 1, b"").frame();
    assert!(eth(h, on_ethernet(&done), 102).is_empty());
    let out = eth(h, on_ethernet(&syn(30_000, 7000).frame()), 103);
    assert!(out.len() == 1 && out[0].syn, "{out:?}");
    assert_eq!(host.listen_counters().syncookies_sent, 1, "kept, no cookie");
    assert!(host.accept(PORT).is_some(), "the completed handshake");
}

/// A SYN damaged on the way (one bit of its TCP checksum flipped) gets no answer from
/// a host that computes checksums, as over a TAP, where the undamaged SYN gets its
/// SYN-ACK. A simulated host does not verify them (its link never damages a frame,
/// as Linux trusts loopback and veth), so it answers the same damaged SYN.
#[test]
fn a_damaged_syn_is_dropped_where_checksums_are_verified() {
    let damaged = || {
        let mut frame = syn(40_000, 1000).frame();
        // Raw IP: the TCP header follows the 20-byte IPv4 header; its checksum is at 16.
        frame[20 + 16] ^= 0x01;
        frame
    };
    let mut verifying = listening_checksummed(Medium::Ip, Knobs::default(), true);
    assert!(probe(&mut verifying, damaged(), at(0)).is_empty());
    let answers = probe(&mut verifying, syn(40_000, 1000).frame(), at(1));
    assert!(answers.len() == 1 && answers[0].syn, "{answers:?}");

    let mut trusting = listening_checksummed(Medium::Ip, Knobs::default(), false);
    let answers = probe(&mut trusting, damaged(), at(0));
    assert!(answers.len() == 1 && answers[0].syn, "{answers:?}");
}
