//! The kernel-like socket semantics the chapter depends on (DESIGN.md), as traces:
//! scripted socket calls at virtual times on a two-host simulated network with a
//! 100 ms RTT, then what each side saw and what went on the wire.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;

use smoltcp::phy::Medium;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber,
};
use tcpknobs_stack::segment::Segment;
use tcpknobs_stack::{
    AppSlot, Application, ConnId, Duration, Host, Instant, Knobs, LinkProfile, Readable, RunEnd,
    SimNet, SocketError,
};

const PORT: u16 = 80;

/// A pcap sink the test can read back.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Every TCP segment in the capture, in order (24-byte global header, then
    /// 16-byte record headers).
    fn segments(&self) -> Vec<Segment> {
        let bytes = self.0.borrow();
        let mut out = Vec::new();
        let mut at = 24;
        while at + 16 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
            let frame = &bytes[at + 16..at + 16 + len];
            out.extend(Segment::parse(Medium::Ip, frame));
            at += 16 + len;
        }
        out
    }
}

/// One scripted socket call.
#[derive(Clone, Debug)]
enum Call {
    Listen,
    Accept,
    Connect,
    Send(&'static [u8]),
    Recv,
    Shutdown,
    Close,
    Abort,
}

/// What a `Recv` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Data(Vec<u8>),
    Nothing,
    Eof,
    Err(SocketError),
}

/// Calls at fixed virtual times (ms since the start), one connection per script.
struct Script {
    steps: VecDeque<(i64, Call)>,
    conn: Option<ConnId>,
    got: Vec<(i64, Got)>,
}

impl Script {
    fn new(steps: &[(i64, Call)]) -> Script {
        Script {
            steps: steps.iter().cloned().collect(),
            conn: None,
            got: Vec::new(),
        }
    }
}

impl Application for Script {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now().total_millis();
        while let Some((at, call)) = self.steps.front().cloned() {
            if at > now {
                return Some(Instant::from_millis(at));
            }
            self.steps.pop_front();
            match call {
                Call::Listen => host.listen(PORT),
                Call::Accept => self.conn = host.accept(PORT),
                Call::Connect => {
                    let server = smoltcp::wire::Ipv4Address::new(192, 0, 2, 2);
                    self.conn = Some(host.connect(server, PORT).expect("a free port"));
                }
                Call::Send(data) => {
                    let n = host.send(self.conn.expect("a connection"), data).unwrap();
                    assert_eq!(n, data.len());
                }
                Call::Recv => {
                    let mut buf = Vec::new();
                    let got = match host.recv(self.conn.expect("a connection"), &mut buf) {
                        Ok(Readable::Data(_)) => Got::Data(buf),
                        Ok(Readable::Nothing) => Got::Nothing,
                        Ok(Readable::Eof) => Got::Eof,
                        Err(e) => Got::Err(e),
                    };
                    self.got.push((now, got));
                }
                Call::Shutdown => host.shutdown_write(self.conn.unwrap()),
                Call::Close => host.close(self.conn.unwrap()),
                Call::Abort => host.abort(self.conn.unwrap()),
            }
        }
        None
    }

    fn is_done(&self) -> bool {
        self.steps.is_empty()
    }
}

fn knobs() -> Knobs {
    Knobs {
        delayed_ack: None,
        nagle: tcpknobs_stack::Nagle::Off,
        time_wait: Duration::from_secs(10),
        ..Knobs::default()
    }
}

/// Client at 192.0.2.1, server at 192.0.2.2, 100 ms RTT, no loss.
fn net() -> SimNet {
    let mut net = SimNet::new(
        LinkProfile {
            one_way_delay_ns: 50_000_000,
            ..LinkProfile::default()
        },
        1,
    );
    net.add_host("client", knobs());
    net.add_host("server", knobs());
    net
}

fn run(net: &mut SimNet, client: &mut Script, server: &mut Script, until_ms: i64) -> RunEnd {
    let (c, s) = (tcpknobs_stack::HostId(0), tcpknobs_stack::HostId(1));
    let mut apps = [
        AppSlot {
            host: s,
            app: server,
            is_server: false,
        },
        AppSlot {
            host: c,
            app: client,
            is_server: false,
        },
    ];
    net.run(&mut apps, Instant::from_millis(until_ms))
}

fn stats(net: &SimNet, host: usize) -> tcpknobs_stack::ConnStats {
    net.host(tcpknobs_stack::HostId(host))
        .stats(ConnId(0))
        .expect("one connection")
}

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
/// answers and closes; the client reads the answer and EOF at 400 ms.
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
        vec![(400, Got::Data(b"answer".to_vec())), (400, Got::Eof)]
    );
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
/// is answered with the same final ACK (RFC 9293 §3.10.7.4); any other segment is
/// dropped silently, not reset; the tuple is held for exactly 2MSL = 10 s.
#[test]
fn time_wait_reacks_a_retransmitted_fin_and_drops_the_rest() {
    let mut net = net();
    let capture = Capture::default();
    net.capture_to(Box::new(capture.clone())).unwrap();
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
    let port = client_host.local_port(ConnId(0));

    let now = client_host.now() + Duration::from_millis(100);
    let probe = |host: &mut Host, frame: Vec<u8>, at: Instant| {
        host.receive_frame(frame);
        host.poll(at);
        host.take_frames()
    };
    // A data segment for the held tuple: dropped, no RST.
    let out = probe(client_host, segment_to_client(port, 1, 1, false, b"x"), now);
    assert!(out.is_empty(), "dropped silently, got {} frames", out.len());
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
