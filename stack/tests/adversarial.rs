//! A live connection under attack: segments forged for its 4-tuple by an attacker who
//! knows the tuple and guesses at the sequence numbers, and what RFC 9293 §3.10.7.4 and
//! RFC 5961 let the attacked host do about each one.
//!
//! The property test sets up a connection between the two simulated hosts (client
//! 192.0.2.1, server 192.0.2.2, 100 ms RTT), exchanges a request and a response, then
//! feeds one host random segments: any combination of SYN, ACK, FIN, RST and PSH, at
//! sequence numbers around and outside the receive window and acknowledgment numbers
//! around and far from SND.NXT, while the peer may keep sending. A reference model of
//! the rules says, for every forged segment, what the host must send back and what it
//! must do with the bytes; afterwards the peer sends more data and the attacked host
//! answers with its own, and the run is held to the outcome the model predicts.
//!
//! The model is written from the RFCs, not from the host. Where smoltcp makes a choice
//! the RFCs leave open, or is stricter than they are in a way that only costs the
//! attacker, the model accepts it and says so at that rule.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::LazyLock;

use common::{tcp_payload, Capture, CaptureFormat, Flags, Got, Raw, PORT};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use smoltcp::phy::Medium;
use smoltcp::wire::Ipv4Address;
use tcpknobs_stack::segment::Segment;
use tcpknobs_stack::{
    AppSlot, Application, ConnId, ConnState, Host, HostId, Instant, Readable, RunEnd, SimNet,
    SocketError,
};

const CLIENT: Ipv4Address = Ipv4Address::new(192, 0, 2, 1);
const SERVER: Ipv4Address = Ipv4Address::new(192, 0, 2, 2);
/// Half the 100 ms RTT.
const ONE_WAY_NS: u64 = 50_000_000;
/// 8 Mbit/s: a byte takes exactly 1 µs to serialize, so every event falls on the
/// microsecond clock the hosts see, and a burst's segments arrive one by one and are
/// acknowledged one by one (slow start grows as it should, README "Known limits").
const BANDWIDTH_BPS: u64 = 8_000_000;
const NS_PER_BYTE: u64 = 1000;
const MS: u64 = 1_000_000;
/// RFC 5961 §7's challenge-ACK limit as the README states it for this stack (Linux
/// `tcp_invalid_ratelimit`): at most one per 500 ms per connection.
const CHALLENGE_INTERVAL_NS: u64 = 500 * MS;
/// The longest a challenge ACK may be withheld: smoltcp's own limiter allows one per
/// second (`challenge_ack_reply`), which RFC 5961 §7 permits (the rate is the
/// implementation's choice). An owed challenge ACK with no limited ACK in the second
/// before it must go out.
const CHALLENGE_WITHHOLD_NS: u64 = 1000 * MS;

const REQUEST: &[u8] = b"GET /forged HTTP/1.1\r\nHost: 192.0.2.2\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
/// What the peer sends after the attack: more than any attack can have pushed the
/// attacked host's RCV.NXT past the peer's own stream (30 x 2,000 forged bytes), so a
/// host the attack did not desynchronize is back in step once it has arrived.
const AFTER_ATTACK: usize = 64 * 1024;
/// What the attacked host sends after the attack, to show it still can.
const REPLY: usize = 256 * 1024;
/// Slow start from the initial window puts the last of `REPLY` on the wire 427 ms
/// after the write when nothing happened before; an acceptable forged segment may
/// have closed the send window, which costs one zero-window probe, a round trip.
/// More than this means the host's sending was crippled.
const REPLY_WITHIN_NS: u64 = 1000 * MS;

/// The peer's bytes: a lowercase pattern in which a byte one place off shows. Forged
/// bytes are all >= 0x80.
static PEER_STREAM: LazyLock<Vec<u8>> = LazyLock::new(|| pattern(1 << 20, 3));
static REPLY_STREAM: LazyLock<Vec<u8>> = LazyLock::new(|| pattern(REPLY, 11));

fn pattern(len: usize, salt: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((i * 7 + i / 26 + salt) % 26) as u8)
        .collect()
}

/// The byte a forged segment carries at sequence number `seq`: which segment and
/// where can be told from it (with 30 segments, mostly), and it is never legitimate.
fn forged_byte(index: usize, seq: u32) -> u8 {
    0x80 | ((seq.wrapping_mul(31) ^ (index as u32).wrapping_mul(97)) & 0x7f) as u8
}

// ---- applications ---------------------------------------------------------------------

/// One socket call at a virtual time (ms).
#[derive(Clone, Debug)]
enum Step {
    Listen,
    Accept,
    Connect,
    Send(&'static [u8]),
    Recv,
}

/// A scripted socket user that, unlike `common::Script`, takes errors as results: the
/// attack may reset the connection under it.
#[derive(Default)]
struct Endpoint {
    steps: VecDeque<(i64, Step)>,
    conn: Option<ConnId>,
    got: Vec<(i64, Got)>,
}

impl Endpoint {
    fn new(steps: &[(i64, Step)]) -> Endpoint {
        Endpoint {
            steps: steps.iter().cloned().collect(),
            ..Endpoint::default()
        }
    }

    fn on(conn: ConnId, steps: &[(i64, Step)]) -> Endpoint {
        Endpoint {
            conn: Some(conn),
            ..Endpoint::new(steps)
        }
    }

    /// Everything read, in order, up to the first EOF or error, and how reading ended.
    fn stream(&self) -> (Vec<u8>, Option<Got>) {
        let mut bytes = Vec::new();
        for (_, got) in &self.got {
            match got {
                Got::Data(d) => bytes.extend_from_slice(d),
                Got::Nothing => {}
                other => return (bytes, Some(other.clone())),
            }
        }
        (bytes, None)
    }
}

fn read(host: &mut Host, conn: ConnId) -> Got {
    let mut buf = Vec::new();
    match host.recv(conn, &mut buf) {
        Ok(Readable::Data(_)) => Got::Data(buf),
        Ok(Readable::Nothing) => Got::Nothing,
        Ok(Readable::Eof) => Got::Eof,
        Err(e) => Got::Err(e),
    }
}

impl Application for Endpoint {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now().total_millis();
        while let Some((at, step)) = self.steps.front().cloned() {
            if at > now {
                return Some(Instant::from_millis(at));
            }
            self.steps.pop_front();
            match step {
                Step::Listen => host.listen(PORT),
                Step::Accept => self.conn = host.accept(PORT),
                Step::Connect => self.conn = Some(host.connect(SERVER, PORT).unwrap()),
                // A write on a reset connection fails; the outcome checks say
                // whether it should have been reset.
                Step::Send(data) => drop(host.send(self.conn.unwrap(), data)),
                Step::Recv => {
                    let got = read(host, self.conn.unwrap());
                    self.got.push((now, got));
                }
            }
        }
        None
    }

    fn is_done(&self) -> bool {
        self.steps.is_empty()
    }
}

// ---- the connection -------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A connection after its handshake, a request and a response, with nothing in
/// flight: both sides' sequence numbers are known from the capture.
struct Live {
    net: SimNet,
    capture: Capture,
    /// The attacked host and its peer.
    a: HostId,
    b: HostId,
    a_end: (Ipv4Address, u16),
    b_end: (Ipv4Address, u16),
    /// The attacked host's SND.NXT (= SND.UNA: everything it sent is acknowledged).
    snd_nxt: u32,
    /// The attacked host's RCV.NXT (the peer's SND.NXT).
    rcv_nxt: u32,
    /// The right edge of the window the attacked host last advertised.
    edge: u32,
    /// The attacked host's window-scale shift (both SYNs carried the option).
    a_shift: u8,
    /// MAX.SND.WND (RFC 5961 §5.2): the largest window the peer has offered, bytes.
    max_snd_wnd: u32,
    /// Where the capture stood when the setup ended (frames).
    capture_at: usize,
    /// When the setup ended, ms.
    t0: i64,
}

fn live(side: Side) -> Live {
    let mut net = SimNet::new(
        tcpknobs_stack::LinkProfile {
            one_way_delay_ns: ONE_WAY_NS,
            bandwidth_bps: Some(BANDWIDTH_BPS),
            ..Default::default()
        },
        1,
    );
    net.add_host("client", common::knobs());
    net.add_host("server", common::knobs());
    let capture = Capture::default();
    capture.attach(&mut net, CaptureFormat::Pcap);
    let mut server = Endpoint::new(&[
        (0, Step::Listen),
        (200, Step::Accept),
        (200, Step::Recv),
        (200, Step::Send(RESPONSE)),
    ]);
    let mut client = Endpoint::new(&[
        (0, Step::Connect),
        (100, Step::Send(REQUEST)),
        (400, Step::Recv),
    ]);
    let end = drive(
        &mut net,
        &mut [(HostId(1), &mut server), (HostId(0), &mut client)],
        1000,
    );
    assert_eq!(end, RunEnd::Done);
    assert_eq!(server.stream().0, REQUEST);
    assert_eq!(client.stream().0, RESPONSE);
    let port = net
        .host(HostId(0))
        .local_port(ConnId(0))
        .expect("connected");
    let (a, b, a_end, b_end) = match side {
        Side::Client => (HostId(0), HostId(1), (CLIENT, port), (SERVER, PORT)),
        Side::Server => (HostId(1), HostId(0), (SERVER, PORT), (CLIENT, port)),
    };
    let segments = capture.segments();
    let from = |addr: Ipv4Address| segments.iter().filter(move |s| s.src_addr == addr);
    let syn_of = |addr| from(addr).find(|s| s.syn).unwrap().window_scale.unwrap();
    let (a_shift, b_shift) = (syn_of(a_end.0), syn_of(b_end.0));
    // Each side's SND.NXT: the end of the furthest segment it sent.
    let next = |addr| {
        from(addr)
            .map(Segment::seq_end)
            .reduce(|m, e| if after(e, m) { e } else { m })
            .unwrap()
    };
    let (snd_nxt, rcv_nxt) = (next(a_end.0), next(b_end.0));
    let last_a = from(a_end.0).next_back().unwrap();
    let max_snd_wnd = from(b_end.0)
        .filter(|s| !s.syn)
        .map(|s| u32::from(s.window) << b_shift)
        .max()
        .unwrap();
    assert_eq!(
        last_a.ack,
        Some(rcv_nxt),
        "the attacked host has acknowledged everything"
    );
    Live {
        capture_at: capture.timed_frames_from(0).1,
        t0: net.now().total_millis(),
        net,
        capture,
        a,
        b,
        a_end,
        b_end,
        snd_nxt,
        rcv_nxt,
        edge: last_a
            .ack
            .unwrap()
            .wrapping_add(u32::from(last_a.window) << a_shift),
        a_shift,
        max_snd_wnd,
    }
}

/// Run the net with `apps` (each on its host, none a server) until `until_ms`.
fn drive(net: &mut SimNet, apps: &mut [(HostId, &mut dyn Application)], until_ms: i64) -> RunEnd {
    let mut slots: Vec<AppSlot<'_>> = apps
        .iter_mut()
        .map(|(host, app)| AppSlot {
            host: *host,
            app: &mut **app,
            is_server: false,
        })
        .collect();
    net.run(&mut slots, Instant::from_millis(until_ms))
}

// ---- the rules ------------------------------------------------------------------------

/// `a` before `b` in sequence space as smoltcp orders it (`TcpSeqNumber`: the signed
/// difference; two numbers 2^31 apart count the first as before the second).
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// ESTABLISHED.
    Established,
    /// CLOSE-WAIT: a FIN was accepted.
    CloseWait,
    /// An RST was accepted: the connection is CLOSED (RFC 9293 §3.10.7.4).
    Reset,
}

/// What the attacked host must send in answer to one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Nothing at all.
    Nothing,
    /// Exactly one ACK <SEQ=SND.NXT><ACK=RCV.NXT>, never rate-limited: it acknowledges
    /// accepted data or a FIN, or answers data outside the window (RFC 9293
    /// §3.10.7.4, "If an incoming segment is not acceptable, an acknowledgment should
    /// be sent"; Linux `tcp_oow_rate_limited` exempts segments with data too).
    Ack,
    /// A challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT> (RFC 5961 §3.2, §4.2, §5.2; RFC 9293
    /// §3.10.7.4 for a bare segment outside the window), subject to the limit of §7.
    Challenge,
    /// The RFCs call for an ACK here, smoltcp stays silent; the rule that produces
    /// this says why that is accepted. At most a challenge ACK, counted as one.
    MayAck,
    /// The RST is accepted: nothing is sent, the connection reports `ConnectionReset`.
    Reset,
    /// The connection is gone; answers are those of CLOSED (RFC 9293 §3.10.7.1: an RST
    /// for anything but an RST) or of a listener taking a new SYN. Held to the RST rule
    /// only.
    Dead,
}

/// The attacked host's side of the connection as the RFCs define it.
struct Model {
    phase: Phase,
    rcv_nxt: u32,
    /// SND.UNA and SND.NXT. They are equal while the host is attacked (it has nothing
    /// in flight then, so a forged ACK can never acknowledge data its peer did not
    /// get); SND.NXT moves on with what the host sends after the attack.
    snd_una: u32,
    snd_nxt: u32,
    max_snd_wnd: u32,
    /// RCV.NXT when the attack began; offsets in `held` count from it.
    base: u32,
    /// Bytes accepted in order since the attack began: what the application reads.
    delivered: Vec<u8>,
    /// Out-of-order bytes waiting for reassembly, by offset from `base`. smoltcp writes
    /// every accepted segment into its ring, so a later write over the same position
    /// wins until the position is delivered.
    held: BTreeMap<u32, u8>,
    /// The receive buffer (the application does not read while it is attacked).
    capacity: usize,
}

/// smoltcp's reassembly keeps at most this many separate ranges
/// (`ASSEMBLER_MAX_SEGMENT_COUNT`); a segment that would make one more is dropped.
const REASSEMBLY_RANGES: usize = 4;

impl Model {
    /// RFC 9293 §3.10.7.4's acceptability test, with SEG.LEN counting a FIN.
    fn acceptable(&self, seq: u32, seg_len: u32, edge: u32) -> bool {
        let wnd = edge.wrapping_sub(self.rcv_nxt);
        let inside = |s: u32| s.wrapping_sub(self.rcv_nxt) < wnd;
        match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => inside(seq),
            (_, 0) => false,
            _ => inside(seq) || inside(seq.wrapping_add(seg_len - 1)),
        }
    }

    /// Whether smoltcp's reassembly can take `len` bytes at `offset` (from `base`): the
    /// union of what it holds and the new range, in ranges that touch or overlap merged,
    /// must fit its slots.
    fn fits(&self, offset: u32, len: u32) -> bool {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for &at in self.held.keys() {
            match ranges.last_mut() {
                Some((_, end)) if *end == at => *end += 1,
                _ => ranges.push((at, at + 1)),
            }
        }
        ranges.push((offset, offset + len));
        ranges.sort();
        let mut merged: Vec<(u32, u32)> = Vec::new();
        for (s, e) in ranges {
            match merged.last_mut() {
                Some((_, end)) if s <= *end => *end = (*end).max(e),
                _ => merged.push((s, e)),
            }
        }
        merged.len() <= REASSEMBLY_RANGES
    }

    /// One segment reaches the host; `edge` is the right edge of the window it last
    /// advertised. Returns what the host must answer and updates the connection.
    fn arrive(&mut self, seg: &Segment, payload: &[u8], edge: u32) -> Expect {
        if self.phase == Phase::Reset {
            return Expect::Dead;
        }
        if seg.rst {
            // RFC 5961 §3.2, ahead of everything else (RFC 9293 checks the sequence
            // number first, and an RST at exactly RCV.NXT passes that check): exactly
            // RCV.NXT resets, elsewhere in the window gets a challenge ACK, outside it
            // is dropped silently. Whatever else the segment carries.
            if seg.seq == self.rcv_nxt {
                self.phase = Phase::Reset;
                self.held.clear();
                return Expect::Reset;
            }
            let offset = seg.seq.wrapping_sub(self.rcv_nxt);
            if offset < edge.wrapping_sub(self.rcv_nxt) {
                return Expect::Challenge;
            }
            // Between the advertised edge and the free buffer space: the screen uses
            // the latter, which differs from the advertised window only by its
            // rounding to the window scale (RFC 7323 §2.3); either is RCV.WND.
            let free = self.capacity.saturating_sub(self.delivered.len());
            if (offset as usize) < free {
                return Expect::MayAck;
            }
            return Expect::Nothing;
        }
        if seg.syn {
            // RFC 5961 §4.2: a SYN in a synchronized state, whatever its sequence
            // number, gets a challenge ACK and is dropped.
            return Expect::Challenge;
        }
        let len = payload.len() as u32;
        let seg_len = len + u32::from(seg.fin);
        let Some(ack) = seg.ack else {
            // RFC 9293 §3.10.7.4, fifth: "if the ACK bit is off, drop the segment".
            // An unacceptable one should be ACKed first (first check); smoltcp looks
            // at the ACK bit before the window and drops it silently, which only
            // costs a peer that sends segments without ACK, i.e. none.
            return if self.acceptable(seg.seq, seg_len, edge) {
                Expect::Nothing
            } else {
                Expect::MayAck
            };
        };
        if after(ack, self.snd_nxt) {
            // RFC 5961 §5.2 and RFC 9293 §3.10.7.4: it acknowledges something not yet
            // sent: send an ACK, drop the segment. smoltcp tests this before the
            // window, so data outside the window is answered this way too.
            return Expect::Challenge;
        }
        if before(ack, self.snd_una.wrapping_sub(self.max_snd_wnd)) {
            // RFC 5961 §5.2: below SND.UNA - MAX.SND.WND the segment MUST be discarded
            // and an ACK sent back. smoltcp discards it silently. The ACK would help
            // only a peer that far out of step, which ends in a reset either way, so
            // its absence is let pass here.
            return Expect::MayAck;
        }
        if before(ack, self.snd_una) {
            // An old ACK: RFC 5961 §5.2 finds it acceptable and RFC 9293 processes the
            // segment's text ("If the ACK is a duplicate, it can be ignored"). smoltcp
            // drops any segment that acknowledges less than SND.UNA, silently. The
            // attacker loses the data it tried to inject; a real peer's reordered
            // segment costs a retransmission.
            return Expect::Nothing;
        }
        if !self.acceptable(seg.seq, seg_len, edge) {
            return if len > 0 {
                Expect::Ack
            } else {
                Expect::Challenge
            };
        }
        // RFC 9293 §3.10.7.4, fifth: SND.UNA <- SEG.ACK.
        self.snd_una = ack;
        if self.phase == Phase::CloseWait {
            // RFC 9293 §3.10.7.4, seventh, CLOSE-WAIT: "This should not occur, since a
            // FIN has been received from the remote side. Ignore the segment text."
            // Eighth: a FIN remains in CLOSE-WAIT.
            return Expect::Nothing;
        }
        let start = seg.seq;
        let end = start.wrapping_add(len);
        let from = if after(start, self.rcv_nxt) {
            start
        } else {
            self.rcv_nxt
        };
        let to = if before(end, edge) { end } else { edge };
        let data: &[u8] = if len > 0 && after(to, from) {
            &payload[from.wrapping_sub(start) as usize..to.wrapping_sub(start) as usize]
        } else {
            &[]
        };
        if !data.is_empty() {
            let offset = from.wrapping_sub(self.base);
            // In-order bytes always fit: they fill the first hole or join the range
            // after it (`add_then_remove_front`).
            if from != self.rcv_nxt && !self.fits(offset, data.len() as u32) {
                // No room to hold it: as if it never arrived (smoltcp sends nothing;
                // the RFCs leave out-of-order queueing to the implementation).
                return Expect::Nothing;
            }
            for (i, &b) in data.iter().enumerate() {
                self.held.insert(offset + i as u32, b);
            }
            // RFC 9293 §3.10.7.4, eighth: bytes held beyond an in-order FIN are not
            // part of the stream. smoltcp 0.14 applies the FIN after reassembly, so
            // they join the stream and the FIN is taken at their end; the model
            // follows smoltcp here (README, known limits): only a sender of data
            // beyond its own FIN, that is a forger, can cause it, and the hand-written
            // `held_bytes_beyond_a_fin_are_not_read` keeps the RFC's expectation.
            let mut next = self.rcv_nxt.wrapping_sub(self.base);
            while let Some(b) = self.held.remove(&next) {
                self.delivered.push(b);
                next += 1;
            }
            self.rcv_nxt = self.base.wrapping_add(next);
        }
        // RFC 9293 §3.10.7.4, eighth: the FIN counts once every byte before it has
        // arrived. One beyond a hole is not held for later (a SHOULD, §3.10.7.4
        // first check, "held for later processing"): smoltcp drops such a FIN, and
        // the peer retransmits it.
        let fin = seg.fin && !before(self.rcv_nxt, end);
        if fin {
            self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
            self.phase = Phase::CloseWait;
        }
        if !data.is_empty() || fin {
            Expect::Ack
        } else {
            Expect::Nothing
        }
    }
}

// ---- the attack -----------------------------------------------------------------------

/// Where a forged sequence number falls, resolved against the host's RCV.NXT and
/// window at the moment of injection.
#[derive(Clone, Copy, Debug)]
enum SeqAt {
    /// Exactly RCV.NXT.
    Exact,
    /// RCV.NXT plus a few.
    Near(i32),
    /// Old data that ends exactly at RCV.NXT.
    EndsAtRcvNxt,
    /// A little past RCV.NXT, where out-of-order segments pile up.
    Ahead(u16),
    /// Somewhere strictly inside the window.
    InWindow(u32),
    /// Around the right edge of the advertised window.
    Edge(i8),
    /// At least 4 MiB away on either side: outside any window.
    Far(u32),
    /// Half the sequence space away, where "before" and "after" swap.
    HalfSpace(i8),
    Any(u32),
}

/// Where a forged acknowledgment number falls, against SND.NXT (= SND.UNA).
#[derive(Clone, Copy, Debug)]
enum AckAt {
    Exact,
    Near(i32),
    /// Below SND.UNA, within MAX.SND.WND: acceptable to RFC 5961 §5.2.
    Old(u32),
    /// Below SND.UNA - MAX.SND.WND.
    BelowOld(u16),
    HalfSpace(i8),
    Any(u32),
}

#[derive(Clone, Debug)]
struct Spec {
    flags: Flags,
    seq: SeqAt,
    ack: AckAt,
    window: u16,
    len: usize,
    /// Time since the previous forged segment (or the attack's start), µs.
    gap_us: u64,
}

/// One segment that reached the attacked host, and what the model made of it.
#[derive(Clone, Debug)]
struct Arrival {
    at: u64,
    seg: Segment,
    /// The forged segment's index in the attack.
    forged: Option<usize>,
    expect: Expect,
    rcv_before: u32,
    rcv_after: u32,
    phase_before: Phase,
    phase_after: Phase,
}

/// The attacker and the referee: injects the forged segments into the attacked host at
/// their times, and feeds the model every segment that reaches that host, forged or
/// from the peer, in the order the host sees them.
struct Attacker {
    specs: VecDeque<Spec>,
    index: usize,
    /// When the next forged segment is due, ns.
    next_at: u64,
    model: Model,
    /// The host's SND.NXT when the attack began.
    snd_start: u32,
    capture: Capture,
    capture_at: usize,
    a_end: (Ipv4Address, u16),
    b_end: (Ipv4Address, u16),
    a_shift: u8,
    /// The right edge of the window the host last advertised, from its latest segment.
    edge: u32,
    /// The peer's frames on their way: (arrival ns, segment, payload).
    in_flight: VecDeque<(u64, Segment, Vec<u8>)>,
    /// When the peer's link is next free to serialize a frame, ns.
    wire_free: u64,
    /// The host's frames not yet seen by the referee.
    sent: VecDeque<(u64, Segment)>,
    arrivals: Vec<Arrival>,
    outputs: Vec<(u64, Segment)>,
}

impl Attacker {
    fn new(live: &Live, specs: Vec<Spec>, start_ns: u64) -> Attacker {
        let first = specs.first().map_or(0, |s| s.gap_us * 1000);
        Attacker {
            specs: specs.into(),
            index: 0,
            next_at: start_ns + first,
            model: Model {
                phase: Phase::Established,
                rcv_nxt: live.rcv_nxt,
                snd_una: live.snd_nxt,
                snd_nxt: live.snd_nxt,
                max_snd_wnd: live.max_snd_wnd,
                base: live.rcv_nxt,
                delivered: Vec::new(),
                held: BTreeMap::new(),
                capacity: common::knobs().rx_buffer,
            },
            snd_start: live.snd_nxt,
            capture: live.capture.clone(),
            capture_at: live.capture_at,
            a_end: live.a_end,
            b_end: live.b_end,
            a_shift: live.a_shift,
            edge: live.edge,
            in_flight: VecDeque::new(),
            wire_free: 0,
            sent: VecDeque::new(),
            arrivals: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Feed the model everything that reached the host, and note everything the host
    /// sent, up to `until` (ns), in the host's order: at one instant, what arrived
    /// before what it sent.
    fn catch_up(&mut self, until: u64) {
        let (frames, at) = self.capture.timed_frames_from(self.capture_at);
        self.capture_at = at;
        for (t, frame) in frames {
            let Some(seg) = Segment::parse(Medium::Ip, &frame) else {
                continue;
            };
            if seg.src_addr == self.a_end.0 {
                self.sent.push_back((t, seg));
            } else {
                // The link's own arithmetic (`link.rs`): serialization in turn, then
                // the propagation delay.
                self.wire_free = t.max(self.wire_free) + frame.len() as u64 * NS_PER_BYTE;
                let arrival = self.wire_free + ONE_WAY_NS;
                self.in_flight
                    .push_back((arrival, seg, tcp_payload(&frame)));
            }
        }
        loop {
            let arrival = self.in_flight.front().map(|x| x.0).filter(|&t| t <= until);
            let output = self.sent.front().map(|x| x.0).filter(|&t| t <= until);
            match (arrival, output) {
                (Some(a), o) if o.is_none_or(|o| a <= o) => {
                    let (at, seg, payload) = self.in_flight.pop_front().unwrap();
                    self.arrive(at, seg, &payload, None);
                }
                (_, Some(_)) => {
                    let (at, seg) = self.sent.pop_front().unwrap();
                    // smoltcp accepts against the window it advertised itself. The
                    // challenge ACKs our layer writes for an RST or a SYN announce the
                    // free buffer space instead, up to 2^scale - 1 bytes more, which
                    // smoltcp never hears of: they do not move the edge.
                    let screened = self
                        .arrivals
                        .iter()
                        .rev()
                        .take_while(|a| a.at == at)
                        .any(|a| a.seg.rst || a.seg.syn);
                    if let (Some(ack), false, false, false) = (seg.ack, seg.rst, seg.syn, screened)
                    {
                        self.edge = ack.wrapping_add(u32::from(seg.window) << self.a_shift);
                        if after(seg.seq_end(), self.model.snd_nxt)
                            && self.model.phase != Phase::Reset
                        {
                            self.model.snd_nxt = seg.seq_end();
                        }
                    }
                    self.outputs.push((at, seg));
                }
                _ => break,
            }
        }
    }

    fn arrive(&mut self, at: u64, seg: Segment, payload: &[u8], forged: Option<usize>) {
        let (rcv_before, phase_before) = (self.model.rcv_nxt, self.model.phase);
        let expect = self.model.arrive(&seg, payload, self.edge);
        self.arrivals.push(Arrival {
            at,
            seg,
            forged,
            expect,
            rcv_before,
            rcv_after: self.model.rcv_nxt,
            phase_before,
            phase_after: self.model.phase,
        });
    }

    /// The forged segment `spec`, its numbers resolved against the host's state now.
    fn forge(&self, spec: &Spec) -> (Vec<u8>, Vec<u8>) {
        let rcv = self.model.rcv_nxt;
        let snd = self.model.snd_nxt;
        let wnd = self.edge.wrapping_sub(rcv).max(2);
        let len = spec.len as u32;
        let seq = match spec.seq {
            SeqAt::Exact => rcv,
            SeqAt::Near(d) => rcv.wrapping_add_signed(d),
            SeqAt::EndsAtRcvNxt => rcv.wrapping_sub(len.max(1)),
            SeqAt::Ahead(x) => rcv.wrapping_add(4 + u32::from(x) % 4000),
            SeqAt::InWindow(x) => rcv.wrapping_add(1 + x % (wnd - 1)),
            SeqAt::Edge(d) => self.edge.wrapping_add_signed(i32::from(d)),
            SeqAt::Far(x) => rcv.wrapping_add((1 << 22) + x % (u32::MAX - (1 << 23))),
            SeqAt::HalfSpace(d) => rcv.wrapping_add(1 << 31).wrapping_add_signed(i32::from(d)),
            SeqAt::Any(x) => x,
        };
        let ack = match spec.ack {
            AckAt::Exact => snd,
            AckAt::Near(d) => snd.wrapping_add_signed(d),
            AckAt::Old(x) => snd.wrapping_sub(1 + x % self.model.max_snd_wnd),
            AckAt::BelowOld(x) => snd
                .wrapping_sub(self.model.max_snd_wnd)
                .wrapping_sub(1 + u32::from(x)),
            AckAt::HalfSpace(d) => snd.wrapping_add(1 << 31).wrapping_add_signed(i32::from(d)),
            AckAt::Any(x) => x,
        };
        let payload: Vec<u8> = (0..len)
            .map(|k| forged_byte(self.index, seq.wrapping_add(k)))
            .collect();
        let raw = Raw {
            seq,
            ack: Some(ack),
            window: spec.window,
            payload: payload.clone(),
            ..Raw::new(self.b_end, self.a_end)
        };
        (raw.frame_with(spec.flags), payload)
    }
}

impl Application for Attacker {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let spec = self.specs.front()?.clone();
        let now = host.now().total_micros() as u64 * 1000;
        if now >= self.next_at {
            self.catch_up(now);
            let busy = self.arrivals.last().is_some_and(|a| a.at == now)
                || self.outputs.last().is_some_and(|o| o.0 == now);
            if busy {
                // The host is answering its peer at this instant: one microsecond
                // later, so that whatever it sends can be told apart.
                self.next_at = now + 1000;
            } else {
                let (frame, payload) = self.forge(&spec);
                let seg = Segment::parse(Medium::Ip, &frame).expect("a TCP segment");
                host.receive_frame(frame);
                self.arrive(now, seg, &payload, Some(self.index));
                self.index += 1;
                self.specs.pop_front();
                let gap = self.specs.front()?.gap_us;
                self.next_at = now + gap * 1000;
            }
        }
        Some(Instant::from_micros((self.next_at / 1000) as i64))
    }

    fn is_done(&self) -> bool {
        self.specs.is_empty()
    }
}

// ---- the verdict ----------------------------------------------------------------------

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// A segment, its numbers relative to the attacked host's RCV.NXT and SND.NXT when the
/// attack began (`rel_seq` for its sequence number, `rel_ack` for its ACK).
fn show(seg: &Segment, rel_seq: u32, rel_ack: u32) -> String {
    let flags: String = [
        (seg.syn, 'S'),
        (seg.fin, 'F'),
        (seg.rst, 'R'),
        (seg.psh, 'P'),
        (seg.ack.is_some(), 'A'),
    ]
    .iter()
    .map(|&(on, c)| if on { c } else { '.' })
    .collect();
    let rel = |x: u32, base: u32| x.wrapping_sub(base) as i32;
    format!(
        "{flags} seq={:+} ack={} len={} win={}",
        rel(seg.seq, rel_seq),
        seg.ack
            .map_or("-".into(), |a| format!("{:+}", rel(a, rel_ack))),
        seg.payload_len,
        seg.window
    )
}

/// Lines of a failure report kept after the attack, where bulk data follows.
const TRACE_AFTER_ATTACK: usize = 30;

/// Everything that reached and left the attacked host, in order, for a failure report:
/// all of the attack, then the first lines after `resume`.
fn trace(att: &Attacker, rcv0: u32, snd0: u32, resume: u64) -> String {
    let mut lines: Vec<(u64, u8, String)> = Vec::new();
    for a in &att.arrivals {
        let who = a
            .forged
            .map_or("peer   ".to_string(), |i| format!("forged {i:<2}"));
        lines.push((
            a.at,
            0,
            format!(
                "-> {who} {}  => {:?}, RCV.NXT {:+}",
                show(&a.seg, rcv0, snd0),
                a.expect,
                a.rcv_after.wrapping_sub(rcv0) as i32
            ),
        ));
    }
    for (t, o) in &att.outputs {
        lines.push((*t, 1, format!("<- host      {}", show(o, snd0, rcv0))));
    }
    lines.sort_by_key(|l| (l.0, l.1));
    let during = lines.iter().filter(|l| l.0 < resume).count();
    let shown = lines.len().min(during + TRACE_AFTER_ATTACK);
    let mut out: String = lines[..shown]
        .iter()
        .map(|(t, _, l)| format!("  {:>12}  {l}\n", ms(*t)))
        .collect();
    if shown < lines.len() {
        out += &format!("  ... {} more\n", lines.len() - shown);
    }
    out
}

/// The rules every answer of the attacked host is held to, over the whole run; returns
/// the violations.
fn judge(att: &Attacker, resume: u64) -> Vec<String> {
    let mut bad = Vec::new();
    let snd = att.snd_start;
    let mut arrivals_at: BTreeMap<u64, Vec<&Arrival>> = BTreeMap::new();
    for a in &att.arrivals {
        arrivals_at.entry(a.at).or_default().push(a);
    }
    let mut outputs_at: BTreeMap<u64, Vec<&Segment>> = BTreeMap::new();
    for (t, o) in &att.outputs {
        outputs_at.entry(*t).or_default().push(o);
    }
    // The model's RCV.NXT and phase just before instant t.
    let state_before = |t: u64| {
        att.arrivals
            .iter()
            .rev()
            .find(|a| a.at < t)
            .map_or((att.model.base, Phase::Established), |a| {
                (a.rcv_after, a.phase_after)
            })
    };
    let mut limited: Vec<u64> = Vec::new();
    for (&t, outs) in &outputs_at {
        let arr: &[&Arrival] = arrivals_at.get(&t).map_or(&[], Vec::as_slice);
        let (rcv0, phase0) = state_before(t);
        let dead = phase0 == Phase::Reset || arr.iter().any(|a| a.phase_after == Phase::Reset);
        let mut acks = vec![rcv0];
        acks.extend(arr.iter().map(|a| a.rcv_after));
        for o in outs {
            if o.rst {
                // While the connection is synchronized nothing calls for an RST: an
                // unacceptable segment gets an ACK (RFC 9293 §3.10.7.4, first check;
                // RFC 5961 §3.2, §4.2, §5.2), and the application never aborts or
                // closes with unread input here. Once it is gone, an RST answers a
                // segment that is not an RST, at SEG.ACK, or at 0 when the segment has
                // no ACK (§3.10.7.1, CLOSED; §3.10.7.4, SYN-RECEIVED, for an embryonic
                // connection a forged SYN opened on the tuple).
                let answers = arr.iter().any(|a| {
                    a.phase_before == Phase::Reset
                        && !a.seg.rst
                        && a.seg.ack.map_or(o.seq == 0, |ack| o.seq == ack)
                });
                if !answers {
                    bad.push(format!(
                        "{}: an RST with no cause: {}",
                        ms(t),
                        show(o, snd, rcv0)
                    ));
                }
                continue;
            }
            if dead {
                continue;
            }
            if o.ack.is_some_and(|ack| !acks.contains(&ack)) {
                bad.push(format!(
                    "{}: ACK {} is not RCV.NXT ({:+})",
                    ms(t),
                    show(o, snd, att.model.base),
                    rcv0.wrapping_sub(att.model.base) as i32
                ));
            }
            if t < resume && (o.seq_len() > 0 || o.seq != snd) {
                bad.push(format!(
                    "{}: sent {} while it had nothing to send",
                    ms(t),
                    show(o, snd, att.model.base)
                ));
            }
            // A rate-limited ACK: it acknowledges nothing new and answers segments
            // without data, or a segment the rules answer with a challenge ACK.
            let challenged = arr.iter().all(|a| a.seg.payload_len == 0)
                || arr
                    .iter()
                    .any(|a| matches!(a.expect, Expect::Challenge | Expect::MayAck));
            if o.is_pure_ack() && !arr.is_empty() && challenged && o.ack == Some(arr[0].rcv_before)
            {
                limited.push(t);
            }
        }
    }
    for w in limited.windows(2) {
        if w[1] - w[0] < CHALLENGE_INTERVAL_NS {
            bad.push(format!(
                "challenge ACKs at {} and {}: more than one per 500 ms (RFC 5961 §7)",
                ms(w[0]),
                ms(w[1])
            ));
        }
    }
    for a in &att.arrivals {
        let alone = arrivals_at[&a.at].len() == 1;
        if a.forged.is_none() && !(alone && a.at < resume) {
            continue;
        }
        let outs: &[&Segment] = outputs_at.get(&a.at).map_or(&[], Vec::as_slice);
        let right = |o: &Segment| o.is_pure_ack() && o.seq == snd && o.ack == Some(a.rcv_after);
        let who = a.forged.map_or("the peer's segment".to_string(), |i| {
            format!("forged segment {i}")
        });
        let wrong = match a.expect {
            Expect::Nothing | Expect::Reset => !outs.is_empty(),
            Expect::Ack => !(outs.len() == 1 && right(outs[0])),
            Expect::Challenge | Expect::MayAck => outs.len() > 1 || !outs.iter().all(|o| right(o)),
            Expect::Dead => false,
        };
        let withheld = a.expect == Expect::Challenge
            && outs.is_empty()
            && !limited
                .iter()
                .any(|&l| l < a.at && a.at - l < CHALLENGE_WITHHOLD_NS);
        if wrong || withheld {
            bad.push(format!(
                "{}: {who} should get {:?} (RCV.NXT {:+}), got {:?}",
                ms(a.at),
                a.expect,
                a.rcv_after.wrapping_sub(att.model.base) as i32,
                outs.iter()
                    .map(|o| show(o, snd, att.model.base))
                    .collect::<Vec<_>>()
            ));
        }
    }
    bad
}

/// smoltcp sockets are the listener's pool plus one per connection that is still
/// connecting or open: none left behind by a reset or an abort.
fn sockets_accounted(host: &Host, listening: bool) -> Option<String> {
    let live = (0..host.connection_count())
        .filter(|&i| {
            matches!(
                host.state(ConnId(i)),
                ConnState::Connecting | ConnState::Open
            )
        })
        .count();
    let pool = if listening {
        tcpknobs_stack::host::LISTEN_POOL
    } else {
        0
    };
    let states: Vec<ConnState> = (0..host.connection_count())
        .map(|i| host.state(ConnId(i)))
        .collect();
    (host.socket_count() != pool + live).then(|| {
        format!(
            "{}: {} smoltcp sockets for a pool of {pool} and {live} live connections ({states:?})",
            host.name(),
            host.socket_count()
        )
    })
}

/// When the last byte of `REPLY` first left the attacked host, ns.
fn reply_sent(att: &Attacker) -> Option<u64> {
    let last = att.snd_start.wrapping_add(REPLY as u32 - 1);
    att.outputs
        .iter()
        .find(|(_, o)| o.payload_len > 0 && last.wrapping_sub(o.seq) < o.payload_len as u32)
        .map(|(t, _)| *t)
}

/// How the attacked connection ended, against what the model says it must be.
fn outcome(
    live: &Live,
    att: &Attacker,
    host_app: &Endpoint,
    peer: &Endpoint,
    resume: u64,
) -> Vec<String> {
    let mut bad = Vec::new();
    let model = &att.model;
    let (a, b) = (live.net.host(live.a), live.net.host(live.b));
    let state = a.state(ConnId(0));
    let (bytes, end) = host_app.stream();
    let (peer_bytes, peer_end) = peer.stream();
    match model.phase {
        Phase::Reset => {
            // RFC 5961 §3.2: the RST at exactly RCV.NXT closed the connection; the
            // peer learns of it from the RST that answers its next segment (RFC 9293
            // §3.10.7.1), which is at its RCV.NXT.
            let reset = ConnState::Failed(SocketError::ConnectionReset);
            if state != reset || end != Some(Got::Err(SocketError::ConnectionReset)) {
                bad.push(format!(
                    "an RST at RCV.NXT was accepted, yet the host says {state:?}, reads {end:?}"
                ));
            }
            if b.state(ConnId(0)) != reset {
                bad.push(format!("the peer ends {:?}, not reset", b.state(ConnId(0))));
            }
        }
        Phase::Established | Phase::CloseWait => {
            if state != ConnState::Open {
                bad.push(format!("the connection should be open, it is {state:?}"));
            }
            let want_end = (model.phase == Phase::CloseWait).then_some(Got::Eof);
            if bytes != model.delivered || end != want_end {
                let first = bytes
                    .iter()
                    .zip(&model.delivered)
                    .position(|(x, y)| x != y)
                    .unwrap_or(bytes.len().min(model.delivered.len()));
                let forged = |v: &[u8]| v.iter().filter(|&&b| b >= 0x80).count();
                bad.push(format!(
                    "the application read {} bytes ({} forged) then {end:?}; the rules deliver {} ({} forged) then {want_end:?}; first difference at {first}",
                    bytes.len(),
                    forged(&bytes),
                    model.delivered.len(),
                    forged(&model.delivered),
                ));
            }
            let peer_nxt = att
                .arrivals
                .iter()
                .filter(|x| x.forged.is_none() && !x.seg.rst)
                .map(|x| x.seg.seq_end())
                .fold(model.base, |m, e| if after(e, m) { e } else { m });
            if model.phase == Phase::Established && peer_nxt == model.rcv_nxt {
                // In step with its peer: the host's own data must get through, in
                // about the time slow start from the initial window takes.
                if peer_bytes != *REPLY_STREAM || peer_end.is_some() {
                    bad.push(format!(
                        "the peer read {} of the host's {REPLY} bytes, then {peer_end:?}",
                        peer_bytes.len()
                    ));
                }
                let sent_at = reply_sent(att);
                if sent_at.is_none_or(|t| t - resume > REPLY_WITHIN_NS) {
                    bad.push(format!(
                        "the host's {REPLY} bytes were all sent {} after the attack, not within {}",
                        sent_at.map_or("never".into(), |t| ms(t - resume)),
                        ms(REPLY_WITHIN_NS)
                    ));
                }
            }
        }
    }
    bad.extend(sockets_accounted(a, live.a == HostId(1)));
    bad.extend(sockets_accounted(b, live.b == HostId(1)));
    bad
}

/// The peer's writes during the attack: when (per mille of the attack's span) and how
/// many bytes.
type Chunk = (u16, usize);

/// One attack, run to its end.
struct Attacked {
    side: Side,
    live: Live,
    attacker: Attacker,
    /// The attacked host's application and its peer's.
    host_app: Endpoint,
    peer: Endpoint,
    /// When both sides started sending again after the attack, ms.
    resume: i64,
}

impl Attacked {
    /// Set up a connection, attack `side` with `specs` while the peer writes `chunks`
    /// and the attacked application reads at `reads` (ms after the attack began); one
    /// second after the last forged segment the peer sends `AFTER_ATTACK` bytes and
    /// the attacked host `REPLY`, and both read at 4 and 8 s, and once more at the end.
    fn run(side: Side, specs: Vec<Spec>, mut chunks: Vec<Chunk>, reads: &[i64]) -> Attacked {
        let mut live = live(side);
        let start = live.t0 + 100;
        let span_us: u64 = specs.iter().map(|s| s.gap_us).sum();
        let resume = start + (span_us / 1000) as i64 + 1000;
        chunks.sort();
        let mut peer_steps = Vec::new();
        let mut offset = 0;
        for (permille, len) in chunks {
            let at = start + (span_us * u64::from(permille) / 1_000_000) as i64;
            peer_steps.push((at, Step::Send(&PEER_STREAM[offset..offset + len])));
            offset += len;
        }
        peer_steps.push((
            resume,
            Step::Send(&PEER_STREAM[offset..offset + AFTER_ATTACK]),
        ));
        peer_steps.extend([(resume + 4000, Step::Recv), (resume + 8000, Step::Recv)]);
        let mut host_steps: Vec<(i64, Step)> =
            reads.iter().map(|&r| (start + r, Step::Recv)).collect();
        host_steps.extend([
            (resume, Step::Send(&REPLY_STREAM[..])),
            (resume + 4000, Step::Recv),
            (resume + 8000, Step::Recv),
        ]);
        let mut peer = Endpoint::on(ConnId(0), &peer_steps);
        let mut host_app = Endpoint::on(ConnId(0), &host_steps);
        let mut attacker = Attacker::new(&live, specs, start as u64 * MS);
        drive(
            &mut live.net,
            &mut [
                (live.a, &mut attacker),
                (live.a, &mut host_app),
                (live.b, &mut peer),
            ],
            resume + 20_000,
        );
        attacker.catch_up(u64::MAX);
        host_app
            .got
            .push((i64::MAX, read(live.net.host_mut(live.a), ConnId(0))));
        peer.got
            .push((i64::MAX, read(live.net.host_mut(live.b), ConnId(0))));
        Attacked {
            side,
            live,
            attacker,
            host_app,
            peer,
            resume,
        }
    }

    /// Every rule the run broke.
    fn violations(&self) -> Vec<String> {
        let resume = self.resume as u64 * MS;
        let mut bad = judge(&self.attacker, resume);
        bad.extend(outcome(
            &self.live,
            &self.attacker,
            &self.host_app,
            &self.peer,
            resume,
        ));
        bad
    }

    /// The violations and the trace, for a failure message.
    fn report(&self, bad: &[String]) -> String {
        const SHOWN: usize = 12;
        let mut listed = bad[..bad.len().min(SHOWN)].join("\n");
        if bad.len() > SHOWN {
            listed += &format!("\n... {} more", bad.len() - SHOWN);
        }
        format!(
            "{:?} attacked; numbers are relative to its RCV.NXT and SND.NXT when the attack began\n{listed}\ntrace:\n{}",
            self.side,
            trace(
                &self.attacker,
                self.rcv(),
                self.snd(),
                self.resume as u64 * MS
            )
        )
    }

    /// What the host sent at the instant the `i`th forged segment arrived.
    fn answers(&self, i: usize) -> Vec<Segment> {
        let at = self
            .attacker
            .arrivals
            .iter()
            .find(|a| a.forged == Some(i))
            .unwrap()
            .at;
        self.attacker
            .outputs
            .iter()
            .filter(|(t, _)| *t == at)
            .map(|(_, s)| *s)
            .collect()
    }

    /// The attacked host's SND.NXT and RCV.NXT when the attack began.
    fn snd(&self) -> u32 {
        self.attacker.snd_start
    }

    fn rcv(&self) -> u32 {
        self.attacker.model.base
    }
}

/// Attack `side` with `specs` while the peer writes `chunks`; the violations with a
/// trace.
fn attack(side: Side, specs: Vec<Spec>, chunks: Vec<Chunk>) -> Result<(), String> {
    let run = Attacked::run(side, specs, chunks, &[]);
    let bad = run.violations();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(run.report(&bad))
    }
}

// ---- the property ---------------------------------------------------------------------

/// Any combination of flags; RST and FIN are rarer than the rest, as a single one at
/// exactly RCV.NXT ends the stream and leaves the rest of the attack less to test.
fn flags() -> impl Strategy<Value = Flags> {
    use proptest::bool::weighted;
    (
        weighted(0.15),
        weighted(0.12),
        weighted(0.05),
        weighted(0.5),
        weighted(0.85),
    )
        .prop_map(|(syn, fin, rst, psh, ack)| Flags {
            syn,
            fin,
            rst,
            psh,
            ack,
        })
}

fn seq_at() -> impl Strategy<Value = SeqAt> {
    prop_oneof![
        3 => Just(SeqAt::Exact),
        3 => (-3i32..=3).prop_map(SeqAt::Near),
        1 => Just(SeqAt::EndsAtRcvNxt),
        2 => any::<u16>().prop_map(SeqAt::Ahead),
        2 => any::<u32>().prop_map(SeqAt::InWindow),
        1 => (-2i8..=1).prop_map(SeqAt::Edge),
        2 => any::<u32>().prop_map(SeqAt::Far),
        1 => (-1i8..=1).prop_map(SeqAt::HalfSpace),
        1 => any::<u32>().prop_map(SeqAt::Any),
    ]
}

fn ack_at() -> impl Strategy<Value = AckAt> {
    prop_oneof![
        5 => Just(AckAt::Exact),
        2 => (-3i32..=3).prop_map(AckAt::Near),
        1 => any::<u32>().prop_map(AckAt::Old),
        1 => any::<u16>().prop_map(AckAt::BelowOld),
        1 => (-1i8..=1).prop_map(AckAt::HalfSpace),
        1 => any::<u32>().prop_map(AckAt::Any),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let window = prop_oneof![Just(0u16), Just(1), Just(u16::MAX), any::<u16>()];
    let len = prop_oneof![3 => Just(0usize), 2 => 1..=16usize, 2 => 17..=2000usize];
    // Gaps inside the challenge-ACK interval and well beyond it.
    let gap_us =
        prop_oneof![2 => 1..=2_000u64, 2 => 2_000..=600_000u64, 1 => 400_000..=1_100_000u64];
    (flags(), seq_at(), ack_at(), window, len, gap_us).prop_map(
        |(flags, seq, ack, window, len, gap_us)| Spec {
            flags,
            seq,
            ack,
            window,
            len,
            gap_us,
        },
    )
}

/// The property test's own seed: the same cases on every run and every machine,
/// whatever `PROPTEST_RNG_SEED` says.
const SEED: [u8; 32] = *b"tcpknobs adversarial segments 01";

/// Random forged segments against a live connection never make the host crash, send
/// an RST the rules do not call for, accept an RST anywhere but RCV.NXT, answer with
/// more than one challenge ACK per 500 ms, take bytes the rules refuse, or lose a
/// socket; and the connection either goes on with exactly the bytes the rules accept
/// and sends its own data in slow start's time, or ends with `ConnectionReset` after
/// an RST at exactly RCV.NXT. 128 cases, about 3 s in a debug build.
#[test]
fn forged_segments_against_a_live_connection() {
    let config = Config {
        cases: 128,
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
    let case = (
        prop_oneof![Just(Side::Client), Just(Side::Server)],
        proptest::collection::vec(spec(), 1..=30),
        proptest::collection::vec((0u16..1000, 1usize..=3000), 0..=3),
    );
    let result = runner.run(&case, |(side, specs, chunks)| {
        attack(side, specs, chunks).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---- by hand --------------------------------------------------------------------------

const NO_FLAGS: Flags = Flags {
    syn: false,
    fin: false,
    rst: false,
    psh: false,
    ack: false,
};
const ACK: Flags = Flags {
    ack: true,
    ..NO_FLAGS
};
const RST: Flags = Flags {
    rst: true,
    ..NO_FLAGS
};
const SYN: Flags = Flags {
    syn: true,
    ..NO_FLAGS
};
const FIN_ACK: Flags = Flags {
    fin: true,
    ack: true,
    ..NO_FLAGS
};

/// A forged segment with `flags` at exactly RCV.NXT, acknowledging exactly SND.NXT,
/// with a full window and no data, 1 ms after the one before.
fn forged(flags: Flags) -> Spec {
    Spec {
        flags,
        seq: SeqAt::Exact,
        ack: AckAt::Exact,
        window: u16::MAX,
        len: 0,
        gap_us: 1000,
    }
}

/// The bytes the `index`th forged segment carries, from `seq` on.
fn forged_bytes(index: usize, seq: u32, len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|k| forged_byte(index, seq.wrapping_add(k)))
        .collect()
}

fn assert_no_violations(run: &Attacked) {
    let bad = run.violations();
    assert!(bad.is_empty(), "{}", run.report(&bad));
}

/// RFC 5961 §5: a blind attacker who guesses RCV.NXT can inject data, and the ACK
/// number is what stands in its way: §5.2 accepts SND.UNA - MAX.SND.WND <= SEG.ACK <=
/// SND.NXT and drops anything else with an ACK. smoltcp is stricter below SND.UNA: with
/// nothing in flight it takes exactly SEG.ACK = SND.NXT. Four data segments at exactly
/// RCV.NXT, 1 ms apart:
/// 0. SEG.ACK = SND.NXT + 1, unsent data: dropped, ACK <SEQ=SND.NXT><ACK=RCV.NXT>;
/// 1. SEG.ACK = SND.NXT - 1, an old ACK §5.2 accepts: smoltcp drops it silently;
/// 2. no ACK bit: dropped (RFC 9293 §3.10.7.4, fifth);
/// 3. SEG.ACK = SND.NXT: accepted and acknowledged; the application reads its 100 bytes,
///    then the peer's stream from its 101st byte (its first 100 overlap the forgery).
#[test]
fn forged_data_at_rcv_nxt_needs_an_acceptable_ack() {
    let data = |ack, flags| Spec {
        ack,
        len: 100,
        ..forged(flags)
    };
    let run = Attacked::run(
        Side::Client,
        vec![
            data(AckAt::Near(1), ACK),
            data(AckAt::Near(-1), ACK),
            data(AckAt::Exact, NO_FLAGS),
            data(AckAt::Exact, ACK),
        ],
        vec![],
        &[],
    );
    let (snd, rcv) = (run.snd(), run.rcv());
    let challenge = run.answers(0);
    assert!(
        challenge.len() == 1
            && challenge[0].is_pure_ack()
            && (challenge[0].seq, challenge[0].ack) == (snd, Some(rcv)),
        "{challenge:?}"
    );
    assert_eq!(run.answers(1), vec![]);
    assert_eq!(run.answers(2), vec![]);
    let accepted = run.answers(3);
    assert!(
        accepted.len() == 1 && accepted[0].ack == Some(rcv.wrapping_add(100)),
        "{accepted:?}"
    );
    let (bytes, end) = run.host_app.stream();
    assert_eq!(end, None);
    assert_eq!(bytes[..100], forged_bytes(3, rcv, 100));
    assert_eq!(bytes[100..], PEER_STREAM[100..AFTER_ATTACK]);
}

/// A data segment the host refuses does not move RCV.NXT (RFC 9293 §3.10.7.4: an
/// unacceptable segment is dropped; here it lacks the ACK bit, "fifth"). An RST just
/// past its end is therefore in the window but not at RCV.NXT: it gets a challenge ACK
/// <SEQ=SND.NXT><ACK=RCV.NXT> and the connection lives (RFC 5961 §3.2). Were the
/// refused segment to count, a blind attacker would need to guess RCV.NXT only to
/// within a segment's length, not exactly: one data segment without ACK at a guess G,
/// then an RST at G + its length.
#[test]
fn refused_data_does_not_move_rcv_nxt_for_the_rst_check() {
    let run = Attacked::run(
        Side::Client,
        vec![
            Spec {
                seq: SeqAt::Near(-100),
                len: 1000,
                ..forged(NO_FLAGS)
            },
            Spec {
                seq: SeqAt::Near(900),
                ..forged(RST)
            },
        ],
        vec![],
        &[],
    );
    assert_eq!(run.answers(0), vec![], "dropped silently");
    let challenge = run.answers(1);
    assert!(
        challenge.len() == 1 && challenge[0].ack == Some(run.rcv()),
        "a challenge ACK of RCV.NXT, got {challenge:?}"
    );
    assert_eq!(
        run.live.net.host(run.live.a).state(ConnId(0)),
        ConnState::Open
    );
    assert_no_violations(&run);
}

/// The converse: after the same refused segment, the peer's own RST at exactly RCV.NXT
/// still resets the connection (RFC 5961 §3.2, RFC 9293 §3.10.7.4 second check).
#[test]
fn an_rst_at_rcv_nxt_resets_after_refused_data() {
    let run = Attacked::run(
        Side::Client,
        vec![
            Spec {
                seq: SeqAt::Near(-100),
                len: 1000,
                ..forged(NO_FLAGS)
            },
            forged(RST),
        ],
        vec![],
        &[],
    );
    assert_eq!(
        run.live.net.host(run.live.a).state(ConnId(0)),
        ConnState::Failed(SocketError::ConnectionReset)
    );
    assert_no_violations(&run);
}

/// An ACK of data never sent is dropped with an ACK (RFC 5961 §5.2, RFC 9293
/// §3.10.7.4), and nothing else: its window (0 here) and its ACK number must not reach
/// the congestion window or the send window. One such segment, then the host writes
/// 256 KiB: slow start puts it on the wire in 427 ms without the forgery, and it must
/// go about as fast with it.
#[test]
fn a_forged_ack_of_unsent_data_changes_nothing() {
    let run = Attacked::run(
        Side::Client,
        vec![Spec {
            ack: AckAt::Near(1 << 30),
            window: 0,
            ..forged(ACK)
        }],
        vec![],
        &[],
    );
    let challenge = run.answers(0);
    assert!(
        challenge.len() == 1 && challenge[0].ack == Some(run.rcv()),
        "{challenge:?}"
    );
    let took = reply_sent(&run.attacker).map(|t| t - run.resume as u64 * MS);
    assert!(
        took.is_some_and(|t| t <= REPLY_WITHIN_NS),
        "the host's 256 KiB took {:?}, 427 ms without the forged ACK",
        took.map(ms)
    );
    assert_no_violations(&run);
}

/// RFC 9293 §3.10.7.4 checks the sequence number, then the RST bit, then the SYN bit:
/// an RST at exactly RCV.NXT resets the connection whatever else it carries. It must
/// reset it wholly: the application sees `ConnectionReset`, the socket is freed, and
/// the tuple then answers the peer's data with RST (§3.10.7.1), so the peer learns it
/// too.
#[test]
fn an_rst_with_syn_or_fin_at_rcv_nxt_resets_wholly() {
    for flags in [Flags { syn: true, ..RST }, Flags { fin: true, ..RST }] {
        let run = Attacked::run(Side::Client, vec![forged(flags)], vec![], &[]);
        let (host, peer) = (run.live.net.host(run.live.a), run.live.net.host(run.live.b));
        let reset = ConnState::Failed(SocketError::ConnectionReset);
        assert_eq!(host.state(ConnId(0)), reset, "{flags:?}");
        assert_eq!(host.socket_count(), 0, "{flags:?}: the socket is freed");
        assert_eq!(
            peer.state(ConnId(0)),
            reset,
            "{flags:?}: the peer's data got an RST"
        );
        assert_no_violations(&run);
    }
}

/// At most one challenge ACK per 500 ms per connection (RFC 5961 §7; the README, after
/// Linux `tcp_invalid_ratelimit`), whichever rule calls for it. A SYN (§4.2) and, 1 µs
/// later, an ACK of unsent data (§5.2): one challenge ACK between them.
#[test]
fn one_challenge_ack_per_500_ms_whatever_the_cause() {
    let run = Attacked::run(
        Side::Client,
        vec![
            forged(SYN),
            Spec {
                ack: AckAt::Near(1),
                gap_us: 1,
                ..forged(ACK)
            },
        ],
        vec![],
        &[],
    );
    let answers = [run.answers(0), run.answers(1)].concat();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_no_violations(&run);
}

/// A FIN beyond RCV.NXT is not acted on (smoltcp drops it; the peer retransmits); one
/// at exactly RCV.NXT with an acceptable ACK ends the peer's stream, and an attacker
/// who guesses both numbers can do that. After it, text is ignored (RFC 9293
/// §3.10.7.4, seventh, CLOSE-WAIT: "Ignore the segment text"): the application that
/// read EOF reads EOF from then on, whatever the peer sends.
#[test]
fn nothing_is_read_after_a_fin() {
    let run = Attacked::run(
        Side::Client,
        vec![
            Spec {
                seq: SeqAt::Near(5),
                ..forged(FIN_ACK)
            },
            forged(FIN_ACK),
        ],
        vec![],
        &[10],
    );
    assert_eq!(run.answers(0), vec![], "a FIN beyond RCV.NXT");
    let ack = run.answers(1);
    assert!(
        ack.len() == 1 && ack[0].ack == Some(run.rcv().wrapping_add(1)),
        "the FIN is acknowledged: {ack:?}"
    );
    let reads: Vec<&Got> = run.host_app.got.iter().map(|(_, g)| g).collect();
    assert_eq!(reads[0], &Got::Eof);
    assert!(
        reads.iter().all(|g| **g == Got::Eof),
        "after EOF: {:?}",
        reads
            .iter()
            .map(|g| match g {
                Got::Data(d) => format!("{} bytes", d.len()),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    );
}

/// The FIN ends the stream where it is: bytes held out of order beyond it are not part
/// of the stream (RFC 9293 §3.10.7.4, eighth; text after the FIN is ignored). 100
/// bytes at RCV.NXT + 1 (held), then 1 byte and a FIN at RCV.NXT: the application
/// reads that 1 byte and EOF, and RCV.NXT is 2 past where it was.
#[test]
#[ignore = "smoltcp 0.14 delivers reassembled bytes beyond an in-order FIN (README, known limits)"]
fn held_bytes_beyond_a_fin_are_not_read() {
    let run = Attacked::run(
        Side::Client,
        vec![
            Spec {
                seq: SeqAt::Near(1),
                len: 100,
                ..forged(ACK)
            },
            Spec {
                len: 1,
                ..forged(FIN_ACK)
            },
        ],
        vec![],
        &[10],
    );
    let ack = run.answers(1);
    assert!(
        ack.len() == 1 && ack[0].ack == Some(run.rcv().wrapping_add(2)),
        "RCV.NXT advances over one byte and the FIN: {ack:?}"
    );
    assert_eq!(
        run.host_app.got[0].1,
        Got::Data(forged_bytes(1, run.rcv(), 1)),
        "one byte"
    );
}

/// SEG.LEN counts the FIN (RFC 9293 §3.4), so a retransmission of the last data with
/// the FIN, whose data has arrived but whose FIN has not, is acceptable: its FIN is at
/// exactly RCV.NXT (§3.10.7.4's acceptability test). Linux resends that way when the
/// FIN went alone and was lost: one byte already received and a FIN at RCV.NXT.
#[test]
fn old_data_with_a_new_fin_is_the_fin() {
    let run = Attacked::run(
        Side::Client,
        vec![Spec {
            seq: SeqAt::Near(-1),
            len: 1,
            ..forged(FIN_ACK)
        }],
        vec![],
        &[10],
    );
    let ack = run.answers(0);
    assert!(
        ack.len() == 1 && ack[0].ack == Some(run.rcv().wrapping_add(1)),
        "the FIN is acknowledged: {ack:?}"
    );
    assert_eq!(run.host_app.got[0].1, Got::Eof);
}

/// After an RST at exactly RCV.NXT the connection is gone (RFC 5961 §3.2): a later
/// segment for the tuple gets the CLOSED state's answer, <SEQ=SEG.ACK><CTL=RST>
/// (RFC 9293 §3.10.7.1), and so does the peer's next data, which resets the peer.
#[test]
fn after_an_accepted_rst_the_tuple_answers_with_rst() {
    let run = Attacked::run(Side::Client, vec![forged(RST), forged(ACK)], vec![], &[]);
    assert_eq!(run.answers(0), vec![]);
    let rst = run.answers(1);
    assert!(
        rst.len() == 1 && rst[0].rst && rst[0].seq == run.snd(),
        "RST at SEG.ACK: {rst:?}"
    );
    assert_no_violations(&run);
}
