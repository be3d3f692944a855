//! The shared harness of the stack's trace tests: scripted socket calls at virtual
//! times on a two-host simulated network (client 192.0.2.1, server 192.0.2.2, 100 ms
//! RTT), and a capture the test can read back.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;

use smoltcp::phy::Medium;
pub use tcpknobs_stack::pcap::CaptureFormat;
use tcpknobs_stack::pcap::{read_capture, CaptureContents};
use tcpknobs_stack::segment::Segment;
use tcpknobs_stack::{
    AppSlot, Application, ConnId, Duration, Host, Instant, Knobs, LinkProfile, Readable, RunEnd,
    SimNet, SocketError,
};

pub const PORT: u16 = 80;

/// A pcap sink the test can read back.
#[derive(Clone, Default)]
pub struct Capture(Rc<RefCell<Vec<u8>>>);

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
    /// The data segments `port` sent, grouped by departure time in whole ms: (ms,
    /// segments), one entry per burst (slow start's rounds).
    pub fn rounds_from(&self, port: u16) -> Vec<(u64, usize)> {
        let mut rounds: Vec<(u64, usize)> = Vec::new();
        for (t, s) in self.timed_segments() {
            if s.src_port == port && s.payload_len > 0 {
                let ms = t / 1_000_000;
                match rounds.last_mut() {
                    Some((at, n)) if *at == ms => *n += 1,
                    _ => rounds.push((ms, 1)),
                }
            }
        }
        rounds
    }

    /// Record `net`'s frames here, in `format`.
    pub fn attach(&self, net: &mut SimNet, format: CaptureFormat) {
        net.capture_to(Box::new(self.clone()), format)
            .expect("capture started");
    }

    /// The capture read back through `pcap-file` (either format).
    pub fn contents(&self) -> CaptureContents {
        read_capture(&self.0.borrow()).expect("a readable capture")
    }

    /// Every TCP segment in the capture, in order.
    pub fn segments(&self) -> Vec<Segment> {
        self.timed_segments().into_iter().map(|(_, s)| s).collect()
    }

    /// Every captured frame, in order.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.contents().frames.into_iter().map(|f| f.data).collect()
    }

    /// Every TCP segment with its capture time in ns.
    pub fn timed_segments(&self) -> Vec<(u64, Segment)> {
        self.contents()
            .frames
            .iter()
            .filter_map(|f| Segment::parse(Medium::Ip, &f.data).map(|s| (f.ts_ns, s)))
            .collect()
    }
}

/// One scripted socket call.
#[derive(Clone, Debug)]
pub enum Call {
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
pub enum Got {
    Data(Vec<u8>),
    Nothing,
    Eof,
    Err(SocketError),
}

/// Calls at fixed virtual times (ms since the start), one connection per script.
pub struct Script {
    steps: VecDeque<(i64, Call)>,
    pub conn: Option<ConnId>,
    pub got: Vec<(i64, Got)>,
    /// What `Host::readable_now` said before each `Recv`.
    pub readable: Vec<bool>,
}

impl Script {
    pub fn new(steps: &[(i64, Call)]) -> Script {
        Script {
            steps: steps.iter().cloned().collect(),
            conn: None,
            got: Vec::new(),
            readable: Vec::new(),
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
                    let id = self.conn.expect("a connection");
                    let readable = host.readable_now(id);
                    let mut buf = Vec::new();
                    let got = match host.recv(id, &mut buf) {
                        Ok(Readable::Data(_)) => Got::Data(buf),
                        Ok(Readable::Nothing) => Got::Nothing,
                        Ok(Readable::Eof) => Got::Eof,
                        Err(e) => Got::Err(e),
                    };
                    // The promise applications rely on to skip a read.
                    assert!(
                        readable || got == Got::Nothing,
                        "readable_now said no, the read got {got:?}"
                    );
                    self.readable.push(readable);
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

pub fn knobs() -> Knobs {
    Knobs {
        delayed_ack: None,
        nagle: tcpknobs_stack::Nagle::Off,
        time_wait: Duration::from_secs(10),
        // The traces here are derived with RFC 6298's timer (1 s floor) and Reno's
        // recovery; the tests of the linux profile's timer and NewReno set them.
        retransmit: tcpknobs_stack::retransmit::RetransmitConfig::RFC,
        ..Knobs::default()
    }
}

/// Client at 192.0.2.1, server at 192.0.2.2, 100 ms RTT, no loss.
pub fn net() -> SimNet {
    net_with_rtt(100)
}

pub fn run(net: &mut SimNet, client: &mut Script, server: &mut Script, until_ms: i64) -> RunEnd {
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

pub fn stats(net: &SimNet, host: usize) -> tcpknobs_stack::ConnStats {
    net.host(tcpknobs_stack::HostId(host))
        .stats(ConnId(0))
        .expect("one connection")
}

/// A hand-made TCP segment on the simulated link (raw IP), for the tests that play a
/// hostile or broken peer.
#[derive(Clone, Debug)]
pub struct Raw {
    pub src: (smoltcp::wire::Ipv4Address, u16),
    pub dst: (smoltcp::wire::Ipv4Address, u16),
    pub seq: u32,
    pub ack: Option<u32>,
    pub control: smoltcp::wire::TcpControl,
    pub window: u16,
    /// The MSS option a SYN carries.
    pub mss: u16,
    pub payload: Vec<u8>,
}

impl Raw {
    /// A segment from `src` to `dst` with no flags but ACK (when `ack` is set).
    pub fn new(
        src: (smoltcp::wire::Ipv4Address, u16),
        dst: (smoltcp::wire::Ipv4Address, u16),
    ) -> Raw {
        Raw {
            src,
            dst,
            seq: 0,
            ack: None,
            control: smoltcp::wire::TcpControl::None,
            window: 65535,
            mss: 1460,
            payload: Vec::new(),
        }
    }

    /// The frame: IPv4 and TCP headers with valid checksums, then the payload.
    pub fn frame(&self) -> Vec<u8> {
        use smoltcp::wire::{
            IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpPacket, TcpRepr, TcpSeqNumber,
        };
        let syn = self.control == smoltcp::wire::TcpControl::Syn;
        let tcp = TcpRepr {
            src_port: self.src.1,
            dst_port: self.dst.1,
            control: self.control,
            seq_number: TcpSeqNumber(self.seq as i32),
            ack_number: self.ack.map(|a| TcpSeqNumber(a as i32)),
            window_len: self.window,
            window_scale: None,
            max_seg_size: syn.then_some(self.mss),
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &self.payload,
        };
        let ip = Ipv4Repr {
            src_addr: self.src.0,
            dst_addr: self.dst.0,
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        };
        let mut frame = vec![0; ip.buffer_len() + tcp.buffer_len()];
        let mut packet = Ipv4Packet::new_unchecked(&mut frame[..]);
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        ip.emit(&mut packet, &caps);
        tcp.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &IpAddress::Ipv4(self.src.0),
            &IpAddress::Ipv4(self.dst.0),
            &caps,
        );
        frame
    }
}

/// Hand `frame` to `host` at `at` and return the segments it sent in answer.
pub fn probe(host: &mut Host, frame: Vec<u8>, at: Instant) -> Vec<Segment> {
    host.receive_frame(frame);
    host.poll(at);
    host.take_frames()
        .iter()
        .filter_map(|f| Segment::parse(Medium::Ip, f))
        .collect()
}

/// A net like [`net`] with another round-trip time.
pub fn net_with_rtt(rtt_ms: u64) -> SimNet {
    net_with(rtt_ms, knobs(), knobs())
}

/// Client and server with the same `knobs`, 100 ms apart on a 1 Gbit/s link: each
/// segment of a burst arrives on its own and gets its own ACK (frames arriving at
/// the very same instant would share one).
pub fn gigabit_net(knobs: Knobs) -> SimNet {
    let mut net = SimNet::new(
        LinkProfile {
            one_way_delay_ns: 50_000_000,
            bandwidth_bps: Some(1_000_000_000),
            ..LinkProfile::default()
        },
        1,
    );
    net.add_host("client", knobs.clone());
    net.add_host("server", knobs);
    net
}

/// Client and server with their own knobs, `rtt_ms` apart, no loss.
pub fn net_with(rtt_ms: u64, client: Knobs, server: Knobs) -> SimNet {
    let mut net = SimNet::new(
        LinkProfile {
            one_way_delay_ns: rtt_ms * 1_000_000 / 2,
            ..LinkProfile::default()
        },
        1,
    );
    net.add_host("client", client);
    net.add_host("server", server);
    net
}

/// TCP flags in any combination, including ones no honest sender uses (SYN with FIN,
/// RST with SYN), for tests that play an attacker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    /// The ACK flag; the number is [`Raw::ack`].
    pub ack: bool,
}

impl Raw {
    /// [`Raw::frame`] with exactly `flags` set (the ACK number is sent only with the
    /// ACK flag; [`Raw::control`] is ignored).
    pub fn frame_with(&self, flags: Flags) -> Vec<u8> {
        use smoltcp::wire::{IpAddress, Ipv4Packet, TcpPacket, TcpSeqNumber};
        let plain = Raw {
            control: smoltcp::wire::TcpControl::None,
            ack: Some(self.ack.unwrap_or(0)),
            ..self.clone()
        };
        let mut frame = plain.frame();
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[..]);
        let mut tcp = TcpPacket::new_unchecked(ip.payload_mut());
        tcp.set_syn(flags.syn);
        tcp.set_fin(flags.fin);
        tcp.set_rst(flags.rst);
        tcp.set_psh(flags.psh);
        tcp.set_ack(flags.ack);
        if !flags.ack {
            tcp.set_ack_number(TcpSeqNumber(0));
        }
        tcp.fill_checksum(&IpAddress::Ipv4(self.src.0), &IpAddress::Ipv4(self.dst.0));
        frame
    }
}

impl Capture {
    /// The frames captured from frame `from` on (0 for all of them), each with its
    /// capture time in ns, and the frame to continue from next time.
    pub fn timed_frames_from(&self, from: usize) -> (Vec<(u64, Vec<u8>)>, usize) {
        let frames = self.contents().frames;
        let next = frames.len();
        let out = frames
            .into_iter()
            .skip(from)
            .map(|f| (f.ts_ns, f.data))
            .collect();
        (out, next)
    }
}

/// The TCP payload of a raw-IP frame (empty for anything else).
pub fn tcp_payload(frame: &[u8]) -> Vec<u8> {
    let Ok(ip) = smoltcp::wire::Ipv4Packet::new_checked(frame) else {
        return Vec::new();
    };
    smoltcp::wire::TcpPacket::new_checked(ip.payload())
        .map(|tcp| tcp.payload().to_vec())
        .unwrap_or_default()
}
