//! The kernel-like socket semantics the chapter depends on, as traces:
//! scripted socket calls at virtual times on a two-host simulated network with a
//! 100 ms RTT, then what each side saw and what went on the wire.

mod common;

use common::{net, run, stats, Call, Capture, CaptureFormat, Got, Script, PORT};
use smoltcp::phy::Medium;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber,
};
use tcpknobs_stack::segment::Segment;
use tcpknobs_stack::{ConnId, Duration, Host, Instant, RunEnd, SocketError};

/// close() with unread input resets the connection (RFC 2525 §2.17), and the peer's
/// next read reports the reset. Client: connect at 0, handshake done at 100 ms, sends
/// at 100 ms (arrives 150 ms). Server: closes at 200 ms without reading.
#[test]
fn close_with_unread_input_sends_rst() {
    let mut net = net();
    let mut server = Script::new(&[(0, Call::Listen), (200, Call::Accept), (200, Call::Close)]);
    let mut client = Script::new(&[
        (0, Call::Connect),
        (100, Call::Send(b"hello")),
        (400, Call::Recv),
    ]);
    run(&mut net, &mut client, &mut server, 1000);
    assert_eq!(stats(&net, 1).resets_out, 1, "the server sent one RST");
    assert_eq!(stats(&net, 0).resets_in, 1);
    assert_eq!(
        client.got,
        vec![(400, Got::Err(SocketError::ConnectionReset))]
    );
}

/// A received RST discards input that arrived but was not read yet (chapter item 24:
/// the client "loses response data it had already received"). The server sends at
/// 150 ms (arrives 200 ms), aborts at 150 ms (RST arrives right behind); the client
/// reads only at 400 ms and gets the reset, not the data.
#[test]
fn received_rst_discards_unread_input() {
    let mut net = net();
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Send(b"response")),
        (150, Call::Abort),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (400, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 1000);
    assert_eq!(stats(&net, 0).bytes_in, 8, "the data did arrive");
    assert_eq!(
        client.got,
        vec![(400, Got::Err(SocketError::ConnectionReset))]
    );
}

/// Data arriving after a full close is answered with RST. The client closes at 100 ms
/// (FIN arrives 150 ms); the server sends at 160 ms (arrives 210 ms) and its next read
/// after the RST comes back (260 ms) reports the reset.
#[test]
fn data_after_full_close_is_reset() {
    let mut net = net();
    let mut server = Script::new(&[
        (0, Call::Listen),
        (160, Call::Accept),
        (160, Call::Send(b"late")),
        (300, Call::Recv),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (100, Call::Close)]);
    run(&mut net, &mut client, &mut server, 1000);
    assert_eq!(
        stats(&net, 0).resets_out,
        1,
        "the closed client answered with RST"
    );
    assert_eq!(
        server.got,
        vec![(300, Got::Err(SocketError::ConnectionReset))]
    );
}

/// shutdown(Write) sends FIN and keeps reading: the graceful half-close. The client
/// sends a request and half-closes at 100 ms; the server reads it and EOF at 200 ms,
/// answers and closes; the client finds nothing to read at 100 ms, and reads the
/// answer and EOF at 400 ms.
#[test]
fn half_close_keeps_reading() {
    let mut net = net();
    let mut server = Script::new(&[
        (0, Call::Listen),
        (200, Call::Accept),
        (200, Call::Recv),
        (200, Call::Recv),
        (200, Call::Send(b"answer")),
        (200, Call::Close),
    ]);
    let mut client = Script::new(&[
        (0, Call::Connect),
        (100, Call::Send(b"ask")),
        (100, Call::Shutdown),
        (100, Call::Recv),
        (400, Call::Recv),
        (400, Call::Recv),
    ]);
    assert_eq!(run(&mut net, &mut client, &mut server, 2000), RunEnd::Done);
    assert_eq!(
        server.got,
        vec![(200, Got::Data(b"ask".to_vec())), (200, Got::Eof)]
    );
    assert_eq!(
        client.got,
        vec![
            (100, Got::Nothing),
            (400, Got::Data(b"answer".to_vec())),
            (400, Got::Eof)
        ]
    );
    // `readable_now` before each read: nothing yet at 100 ms; the data, then the end
    // of the stream behind it (the answer and the FIN both arrived at 250 ms).
    assert_eq!(client.readable, [false, true, true]);
    assert_eq!(server.readable, [true, true]);
    // No reset anywhere; the client closed first and holds TIME_WAIT.
    assert_eq!(stats(&net, 0).resets_in + stats(&net, 1).resets_in, 0);
    assert_eq!(
        stats(&net, 0).closed_first,
        Some(tcpknobs_stack::Closer::Local)
    );
    assert_eq!(net.host(tcpknobs_stack::HostId(0)).time_wait_len(), 1);
    assert_eq!(net.host(tcpknobs_stack::HostId(1)).time_wait_len(), 0);
}

/// A TCP segment from the server to the client's held tuple.
fn segment_to_client(local_port: u16, seq: u32, ack: u32, fin: bool, payload: &[u8]) -> Vec<u8> {
    let (client, server) = (
        smoltcp::wire::Ipv4Address::new(192, 0, 2, 1),
        smoltcp::wire::Ipv4Address::new(192, 0, 2, 2),
    );
    let tcp = TcpRepr {
        src_port: PORT,
        dst_port: local_port,
        control: if fin {
            TcpControl::Fin
        } else {
            TcpControl::None
        },
        seq_number: TcpSeqNumber(seq as i32),
        ack_number: Some(TcpSeqNumber(ack as i32)),
        window_len: 1000,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let ip = Ipv4Repr {
        src_addr: server,
        dst_addr: client,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut frame = vec![0; ip.buffer_len() + tcp.buffer_len()];
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[..]);
    ip.emit(&mut packet, &smoltcp::phy::ChecksumCapabilities::default());
    tcp.emit(
        &mut smoltcp::wire::TcpPacket::new_unchecked(packet.payload_mut()),
        &IpAddress::Ipv4(server),
        &IpAddress::Ipv4(client),
        &smoltcp::phy::ChecksumCapabilities::default(),
    );
    frame
}

/// TIME_WAIT after the smoltcp socket is gone: a retransmitted FIN for the held tuple
/// is answered with the same final ACK (RFC 9293 §3.10.7.4), and so is old data;
/// nothing is reset; the tuple is held for 2MSL = 10 s from the last FIN.
#[test]
fn time_wait_reacks_a_retransmitted_fin_and_old_data() {
    let mut net = net();
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    // The client closes at 100 ms; the server reads EOF and closes at 150 ms; its FIN
    // reaches the client at 200 ms, which ACKs it and enters TIME_WAIT.
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Recv),
        (150, Call::Close),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (100, Call::Close)]);
    run(&mut net, &mut client, &mut server, 2000);
    let final_ack = capture
        .segments()
        .into_iter()
        .rev()
        .find(|s| s.src_port != PORT)
        .expect("the client's last segment");
    assert!(final_ack.is_pure_ack());
    let client_host = net.host_mut(tcpknobs_stack::HostId(0));
    assert_eq!(client_host.time_wait_len(), 1);
    assert_eq!(
        client_host.socket_count(),
        0,
        "TIME_WAIT lives in our table only"
    );
    let port = client_host.local_port(ConnId(0)).expect("connected");

    let now = client_host.now() + Duration::from_millis(100);
    let probe = |host: &mut Host, frame: Vec<u8>, at: Instant| {
        host.receive_frame(frame);
        host.poll(at);
        host.take_frames()
    };
    // A data segment for the held tuple (outside the window): the TIME-WAIT ACK, no
    // RST (Linux `tcp_timewait_state_process`).
    let out = probe(client_host, segment_to_client(port, 1, 1, false, b"x"), now);
    assert_eq!(out.len(), 1, "one ACK");
    let ack = Segment::parse(Medium::Ip, &out[0]).unwrap();
    assert!(ack.is_pure_ack());
    assert_eq!((ack.seq, ack.ack), (final_ack.seq, final_ack.ack));
    // A FIN for the held tuple: re-ACKed with seq = our snd_nxt, ack = their FIN + 1.
    let out = probe(client_host, segment_to_client(port, 7, 9, true, b""), now);
    assert_eq!(out.len(), 1, "one ACK");
    let ack = Segment::parse(Medium::Ip, &out[0]).unwrap();
    assert!(ack.is_pure_ack());
    assert_eq!((ack.src_port, ack.dst_port), (port, PORT));
    assert_eq!(
        (ack.seq, ack.ack),
        (final_ack.seq, final_ack.ack),
        "the same final ACK"
    );

    // Held until 2MSL after it entered TIME_WAIT; then the port is free and gone from
    // the table, and the connection reports its time in TIME_WAIT.
    let later = now + Duration::from_secs(11);
    client_host.poll(later);
    assert_eq!(client_host.time_wait_len(), 0);
    let held = client_host.stats(ConnId(0)).unwrap().time_wait_ms.unwrap();
    // The FIN re-ACK restarted the timer (RFC 9293), so the hold lasted from entry to
    // re-ACK plus a full 2MSL.
    assert!(held > 10_000.0, "held {held} ms");
}

/// Only *new* data after a full close is answered with RST (Linux resets when the
/// segment ends beyond RCV.NXT): a retransmission of bytes the application already
/// read is not. The server sends at 150 ms (arrives 200 ms); the client reads and
/// closes at 250 ms; then the server's data segment arrives again, as a retransmission
/// would.
#[test]
fn retransmitted_data_after_close_is_not_reset() {
    let mut net = net();
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Send(b"data")),
    ]);
    let mut client = Script::new(&[(0, Call::Connect), (250, Call::Recv), (250, Call::Close)]);
    run(&mut net, &mut client, &mut server, 260);
    assert_eq!(client.got, vec![(250, Got::Data(b"data".to_vec()))]);
    let frames = capture.frames();
    let data = frames
        .iter()
        .find(|f| {
            Segment::parse(Medium::Ip, f).is_some_and(|s| s.src_port == PORT && s.payload_len == 4)
        })
        .expect("the server's data segment")
        .clone();
    let host = net.host_mut(tcpknobs_stack::HostId(0));
    let later = host.now() + Duration::from_millis(10);
    host.receive_frame(data);
    host.poll(later);
    let answers: Vec<Segment> = host
        .take_frames()
        .iter()
        .filter_map(|f| Segment::parse(Medium::Ip, f))
        .collect();
    assert!(
        answers.iter().all(|s| !s.rst),
        "no RST for old data: {answers:?}"
    );
    assert_eq!(stats(&net, 0).resets_out, 0);
}

/// A simultaneous close (RFC 9293 §3.6, case 2): both sides send FIN before they see
/// the other's, both pass through CLOSING and both hold the TIME_WAIT, and the report
/// names the closer `both`. The handshake completes at the server at 150 ms; both
/// close then, so the FINs cross on the wire.
#[test]
fn a_simultaneous_close_is_reported_as_both() {
    let mut net = net();
    let mut server = Script::new(&[(0, Call::Listen), (150, Call::Accept), (150, Call::Close)]);
    let mut client = Script::new(&[(0, Call::Connect), (150, Call::Close)]);
    run(&mut net, &mut client, &mut server, 2000);
    for host in [0, 1] {
        assert_eq!(
            stats(&net, host).closed_first,
            Some(tcpknobs_stack::Closer::Both),
            "host {host}"
        );
        assert_eq!(net.host(tcpknobs_stack::HostId(host)).time_wait_len(), 1);
    }
}

/// Six KiB the server writes at once: more than the client's 4 KiB receive buffer.
static SIX_KIB: [u8; 6144] = [b'w'; 6144];

/// A read that opens the receive window far enough is announced at once, as a pure
/// ACK at the instant of the read (smoltcp's rule: the window has at least doubled
/// since it was last advertised, here from 0); a read that opens it less sends
/// nothing. The client's receive buffer holds 4 KiB; the server writes 6 KiB at
/// 150 ms (when the handshake's ACK arrives), 4 KiB arrive at 200 ms and close the
/// window. The client reads them at 500 ms: the update leaves at 500 ms, the last 2
/// KiB arrive a round trip later (600 ms), and the ACK of those advertises 2 KiB.
/// Reading them at 800 ms opens 2 KiB to 4 KiB, a doubling: announced at 800 ms.
/// The server then writes 1 KiB more at 900 ms (arrives 950 ms, window 3 KiB): the
/// read at 1,100 ms takes the window to 4 KiB, under double, and sends nothing.
#[test]
fn a_read_announces_a_window_only_when_it_opened_far_enough() {
    let mut client_knobs = common::knobs();
    client_knobs.rx_buffer = 4096;
    let mut net = common::net_with(100, client_knobs, common::knobs());
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut server = Script::new(&[
        (0, Call::Listen),
        (150, Call::Accept),
        (150, Call::Send(&SIX_KIB)),
        (900, Call::Send(&SIX_KIB[..1024])),
    ]);
    let mut client = Script::new(&[
        (0, Call::Connect),
        (500, Call::Recv),
        (800, Call::Recv),
        (1100, Call::Recv),
    ]);
    run(&mut net, &mut client, &mut server, 2000);
    let lens: Vec<usize> = client
        .got
        .iter()
        .map(|(_, g)| match g {
            Got::Data(d) => d.len(),
            other => panic!("a read got {other:?}"),
        })
        .collect();
    assert_eq!(lens, [4096, 2048, 1024]);
    let from_client: Vec<(u64, Segment)> = capture
        .timed_segments()
        .into_iter()
        .filter(|(_, s)| s.src_port != PORT && !s.syn)
        .collect();
    let at = |ms: u64| -> Vec<u16> {
        from_client
            .iter()
            .filter(|(t, _)| *t == ms * 1_000_000)
            .map(|(_, s)| s.window)
            .collect()
    };
    assert_eq!(at(500), [4096], "the update from a closed window");
    assert_eq!(at(800), [4096], "the update from 2 KiB");
    assert_eq!(
        at(1100),
        Vec::<u16>::new(),
        "3 KiB to 4 KiB is not announced"
    );
    // The ACKs of the data in between say what the window was.
    assert_eq!(at(600), [2048]);
    assert_eq!(at(950), [3072]);
}

/// TIME-WAIT events, as (when in ns, held).
#[derive(Clone, Default)]
struct TimeWaits(std::rc::Rc<std::cell::RefCell<Vec<(u64, bool)>>>);

impl tcpknobs_stack::trace::Tracer for TimeWaits {
    fn events(&mut self, events: &[tcpknobs_stack::trace::Event]) {
        for e in events {
            if let tcpknobs_stack::trace::EventKind::TimeWait { held, .. } = e.kind {
                self.0.borrow_mut().push((e.at_ns, held));
            }
        }
    }
}

/// The trace says a tuple left TIME-WAIT when 2MSL (10 s here) ran out, not when
/// something next woke the host: the client closes first at 500 ms and holds the
/// tuple; nothing happens on either host until the client's last call at 15 s.
#[test]
fn the_trace_records_time_wait_ending_when_it_ends() {
    let mut net = net();
    let waits = TimeWaits::default();
    net.set_tracer(Box::new(waits.clone()));
    let mut server = Script::new(&[(0, Call::Listen), (200, Call::Accept), (700, Call::Close)]);
    let mut client = Script::new(&[(0, Call::Connect), (500, Call::Close), (15_000, Call::Recv)]);
    run(&mut net, &mut client, &mut server, 20_000);
    let waits = waits.0.borrow().clone();
    let [(start, true), (end, false)] = waits[..] else {
        panic!("one tuple held and released: {waits:?}");
    };
    // The host's clock counts microseconds: the end is at most 1 us early.
    let two_msl = 10_000_000_000;
    assert!(
        end - start <= two_msl && end - start > two_msl - 1_000,
        "held at {start} ns, released at {end} ns"
    );
}
