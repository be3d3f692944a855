//! The view of a TCP segment that our layer needs, read straight off a frame.
//!
//! smoltcp does not tell us what each segment did to a socket, so the host reads every
//! frame it sends and receives: that is how it counts segments and pure ACKs, sees ACKs
//! of new data for the congestion window, spots retransmissions, learns the peer's MSS
//! and answers for tuples in TIME_WAIT after the smoltcp socket is gone.

use smoltcp::phy::Medium;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv4Packet, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet,
    TcpOption, TcpPacket, TcpSeqNumber,
};

/// Ethernet II header length; frames on a TAP device carry it, raw-IP frames do not.
pub const ETHERNET_HEADER: usize = 14;

/// One TCP segment in an IPv4 packet, as seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Sender's address.
    pub src_addr: Ipv4Address,
    /// Sender's port.
    pub src_port: u16,
    /// Receiver's address.
    pub dst_addr: Ipv4Address,
    /// Receiver's port.
    pub dst_port: u16,
    /// Sequence number of the first octet (or of the SYN).
    pub seq: u32,
    /// Acknowledgment number, when the ACK flag is set.
    pub ack: Option<u32>,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
    /// PSH flag: the sender has no more data queued for now (the end of a write, or of
    /// a TSO/GSO burst).
    pub psh: bool,
    /// Payload bytes.
    pub payload_len: usize,
    /// Raw (unscaled) window field.
    pub window: u16,
    /// MSS option, only present on SYNs.
    pub mss: Option<u16>,
    /// Window-scale option (RFC 7323 §2), only present on SYNs.
    pub window_scale: Option<u8>,
    /// Whether it carries SACK blocks (RFC 2018 §3): the peer holds data above a hole.
    pub sack: bool,
}

impl Segment {
    /// Read the TCP segment in `frame`, or `None` for anything else (ARP, other
    /// protocols, fragments, malformed packets): those pass through untouched.
    pub fn parse(medium: Medium, frame: &[u8]) -> Option<Segment> {
        let ip_bytes = match medium {
            Medium::Ethernet => {
                let eth = EthernetFrame::new_checked(frame).ok()?;
                if eth.ethertype() != EthernetProtocol::Ipv4 {
                    return None;
                }
                frame.get(ETHERNET_HEADER..)?
            }
            _ => frame,
        };
        let ip = Ipv4Packet::new_checked(ip_bytes).ok()?;
        if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
            return None;
        }
        let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
        let mut mss = None;
        let mut window_scale = None;
        let mut sack = false;
        let mut options = tcp.options();
        while !options.is_empty() {
            let Ok((rest, option)) = TcpOption::parse(options) else {
                break;
            };
            match option {
                TcpOption::EndOfList => break,
                TcpOption::MaxSegmentSize(m) if tcp.syn() => mss = Some(m),
                TcpOption::WindowScale(s) if tcp.syn() => window_scale = Some(s),
                TcpOption::SackRange(blocks) => sack = blocks.iter().any(Option::is_some),
                _ => {}
            }
            options = rest;
        }
        Some(Segment {
            src_addr: ip.src_addr(),
            src_port: tcp.src_port(),
            dst_addr: ip.dst_addr(),
            dst_port: tcp.dst_port(),
            seq: tcp.seq_number().0 as u32,
            ack: tcp.ack().then(|| tcp.ack_number().0 as u32),
            syn: tcp.syn(),
            fin: tcp.fin(),
            rst: tcp.rst(),
            psh: tcp.psh(),
            payload_len: tcp.payload().len(),
            window: tcp.window_len(),
            mss,
            window_scale,
            sack,
        })
    }

    /// Whether a receiver coalescing a burst (Linux GRO, `tcp_gro_receive`) would end
    /// the burst with this segment: PSH, SYN, FIN or RST each flush it.
    pub fn ends_burst(&self) -> bool {
        self.psh || self.syn || self.fin || self.rst
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32 + u32::from(self.syn) + u32::from(self.fin)
    }

    /// Sequence number just past this segment.
    pub fn seq_end(&self) -> u32 {
        self.seq.wrapping_add(self.seq_len())
    }

    /// An ACK that carries no data, SYN, FIN or RST: the segments the delayed-ACK timer
    /// exists to save.
    pub fn is_pure_ack(&self) -> bool {
        self.ack.is_some() && self.seq_len() == 0 && !self.rst
    }
}

/// `a` comes before `b` in sequence space (RFC 9293 §3.4, modulo 2^32).
pub fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a` comes after `b` in sequence space.
pub fn seq_gt(a: u32, b: u32) -> bool {
    seq_lt(b, a)
}

/// Build the ACK a TIME_WAIT tuple sends in answer to a retransmitted FIN (RFC 9293
/// §3.10.7.4, TIME-WAIT: "acknowledge it, and restart the 2 MSL timeout").
///
/// `incoming` is the frame that carried the FIN: on Ethernet its addresses are swapped,
/// so no neighbour lookup is needed for a socket that no longer exists.
pub fn build_reack(
    medium: Medium,
    incoming: &[u8],
    seg: &Segment,
    seq: u32,
    ack: u32,
    window: u16,
) -> Vec<u8> {
    let (link, reply) = reply_to(medium, incoming, seg);
    build_ack(medium, &link, &reply, seq, ack, window)
}

/// A SYN-ACK answering the SYN in `incoming` without a socket: a SYN cookie
/// ([`crate::syn_cookie`]). It carries our MSS and nothing else: no window scale and
/// no SACK-permitted, which a cookie cannot remember.
pub fn build_synack_reply(
    medium: Medium,
    incoming: &[u8],
    seg: &Segment,
    seq: u32,
    window: u16,
    mss: u16,
) -> Vec<u8> {
    let (link, reply) = reply_to(medium, incoming, seg);
    let ack = Some(seg.seq.wrapping_add(1));
    build_segment(medium, &link, &reply, seq, ack, window, Some(mss))
}

/// The SYN that an ACK carrying a valid SYN cookie stands for, replayed to a listening
/// socket: from the same peer, sequence number one below the ACK's, the MSS the cookie
/// kept, no other option (the frame `incoming` lends its link header).
pub fn build_syn_replay(medium: Medium, incoming: &[u8], ack: &Segment, mss: u16) -> Vec<u8> {
    let mut link = [0u8; ETHERNET_HEADER];
    if medium == Medium::Ethernet && incoming.len() >= ETHERNET_HEADER {
        link.copy_from_slice(&incoming[..ETHERNET_HEADER]);
    }
    let seq = ack.seq.wrapping_sub(1);
    build_segment(medium, &link, ack, seq, None, ack.window, Some(mss))
}

/// The link header and addresses of an answer to `seg`, which came in `incoming`: on
/// Ethernet its addresses are swapped, so no neighbour lookup is needed.
fn reply_to(medium: Medium, incoming: &[u8], seg: &Segment) -> ([u8; ETHERNET_HEADER], Segment) {
    let mut link = [0u8; ETHERNET_HEADER];
    if medium == Medium::Ethernet && incoming.len() >= ETHERNET_HEADER {
        // Destination = the incoming source, source = the incoming destination.
        link[0..6].copy_from_slice(&incoming[6..12]);
        link[6..12].copy_from_slice(&incoming[0..6]);
        link[12..14].copy_from_slice(&incoming[12..14]);
    }
    let reply = Segment {
        src_addr: seg.dst_addr,
        src_port: seg.dst_port,
        dst_addr: seg.src_addr,
        dst_port: seg.src_port,
        ..*seg
    };
    (link, reply)
}

/// A bare ACK segment with the addresses and ports of `addrs` (its other fields are
/// ignored), inside an Ethernet header `link` when the medium is Ethernet.
pub fn build_ack(
    medium: Medium,
    link: &[u8; ETHERNET_HEADER],
    addrs: &Segment,
    seq: u32,
    ack: u32,
    window: u16,
) -> Vec<u8> {
    build_segment(medium, link, addrs, seq, Some(ack), window, None)
}

/// A segment without payload with the addresses and ports of `addrs`: an ACK when
/// `ack` is given, a SYN (with an MSS option) when `syn_mss` is, a SYN-ACK with both.
fn build_segment(
    medium: Medium,
    link: &[u8; ETHERNET_HEADER],
    addrs: &Segment,
    seq: u32,
    ack: Option<u32>,
    window: u16,
    syn_mss: Option<u16>,
) -> Vec<u8> {
    const IP_HEADER: usize = 20;
    // The MSS option, 4 bytes, keeps the header a multiple of 32 bits.
    let tcp_header = if syn_mss.is_some() { 24 } else { 20 };
    let link_len = if medium == Medium::Ethernet {
        ETHERNET_HEADER
    } else {
        0
    };
    let mut frame = vec![0u8; link_len + IP_HEADER + tcp_header];
    frame[..link_len].copy_from_slice(&link[..link_len]);
    {
        let mut ip = Ipv4Packet::new_unchecked(&mut frame[link_len..]);
        ip.set_version(4);
        ip.set_header_len(IP_HEADER as u8);
        ip.set_total_len((IP_HEADER + tcp_header) as u16);
        ip.set_dont_frag(true);
        ip.set_hop_limit(64);
        ip.set_next_header(IpProtocol::Tcp);
        ip.set_src_addr(addrs.src_addr);
        ip.set_dst_addr(addrs.dst_addr);
        ip.fill_checksum();
    }
    let mut tcp = TcpPacket::new_unchecked(&mut frame[link_len + IP_HEADER..]);
    tcp.set_src_port(addrs.src_port);
    tcp.set_dst_port(addrs.dst_port);
    tcp.set_seq_number(TcpSeqNumber(seq as i32));
    tcp.set_ack_number(TcpSeqNumber(ack.unwrap_or(0) as i32));
    tcp.set_header_len(tcp_header as u8);
    tcp.clear_flags();
    tcp.set_ack(ack.is_some());
    if let Some(mss) = syn_mss {
        tcp.set_syn(true);
        // Within the 4 bytes made for it just above.
        let _ = TcpOption::MaxSegmentSize(mss).emit(tcp.options_mut());
    }
    tcp.set_window_len(window);
    tcp.set_urgent_at(0);
    tcp.fill_checksum(
        &IpAddress::Ipv4(addrs.src_addr),
        &IpAddress::Ipv4(addrs.dst_addr),
    );
    frame
}

/// Fill in the checksums of the raw IPv4 packet `frame`: its header's, and its TCP
/// segment's or ICMP message's. A simulated host leaves them out (see
/// [`crate::HostConfig::checksums`]); the capture fills them in on its copy, as a
/// NIC with checksum offload fills them in on the wire. Anything that is not IPv4
/// is left as it is.
pub fn fill_checksums(frame: &mut [u8]) {
    let Ok(mut ip) = Ipv4Packet::new_checked(&mut *frame) else {
        return;
    };
    ip.fill_checksum();
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    match ip.next_header() {
        IpProtocol::Tcp => {
            if let Ok(mut tcp) = TcpPacket::new_checked(ip.payload_mut()) {
                tcp.fill_checksum(&src, &dst);
            }
        }
        IpProtocol::Icmp => {
            if let Ok(mut icmp) = Icmpv4Packet::new_checked(ip.payload_mut()) {
                icmp.fill_checksum();
            }
        }
        _ => {}
    }
}

/// Lower the window field of the TCP segment in `frame` to at most `limit`,
/// patching the checksum incrementally (RFC 1624); returns whether it changed. Used
/// to make smoltcp's send window min(receive window, congestion window), as RFC 5681
/// §2 defines it. The patch gives what recomputing would for a segment whose
/// checksum was right, and keeps a wrong one wrong, so a segment damaged on the way
/// is still dropped by smoltcp's check, as the kernel drops it.
pub fn clamp_window(medium: Medium, frame: &mut [u8], limit: u16) -> bool {
    let Some(tcp) = tcp_header_mut(medium, frame) else {
        return false;
    };
    let old = u16::from_be_bytes([tcp[14], tcp[15]]);
    if old <= limit {
        return false;
    }
    tcp[14..16].copy_from_slice(&limit.to_be_bytes());
    let check = checksum_replace(u16::from_be_bytes([tcp[16], tcp[17]]), old, limit);
    tcp[16..18].copy_from_slice(&check.to_be_bytes());
    true
}

/// The TCP header of `frame`, options included, if it holds an IPv4 TCP segment.
fn tcp_header_mut(medium: Medium, frame: &mut [u8]) -> Option<&mut [u8]> {
    let link_len = if medium == Medium::Ethernet {
        ETHERNET_HEADER
    } else {
        0
    };
    let packet = Ipv4Packet::new_checked(frame.get(link_len..)?).ok()?;
    if packet.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp_at = link_len + usize::from(packet.header_len());
    let header_len = usize::from(*frame.get(tcp_at + 12)? >> 4) * 4;
    frame.get_mut(tcp_at..tcp_at + header_len.max(20))
}

/// Add `delta` to the sequence number of the TCP segment in `frame` (or to its
/// acknowledgment number with `ack`, if the segment has one, and then to the edges of
/// its SACK blocks, which name the same sequence space, RFC 2018 §3), patching the
/// checksum incrementally (RFC 1624). Our layer uses it to move smoltcp's sequence
/// space to the one on the wire (see the host's initial sequence numbers). Returns
/// whether the frame was a TCP segment it could change.
pub fn shift_sequence(medium: Medium, frame: &mut [u8], ack: bool, delta: u32) -> bool {
    let Some(tcp) = tcp_header_mut(medium, frame) else {
        return false;
    };
    const ACK_FLAG: u8 = 0x10;
    if ack && tcp[13] & ACK_FLAG == 0 {
        return false;
    }
    shift_word(tcp, if ack { 8 } else { 4 }, delta);
    if ack {
        let header_len = usize::from(tcp[12] >> 4) * 4;
        let mut at = 20;
        while at < header_len.min(tcp.len()) {
            match tcp[at] {
                0 => break,
                1 => at += 1,
                kind => {
                    let len = usize::from(*tcp.get(at + 1).unwrap_or(&0));
                    if len < 2 || at + len > header_len.min(tcp.len()) {
                        break;
                    }
                    if kind == TCP_OPTION_SACK {
                        for edge in (at + 2..at + len).step_by(4) {
                            if edge + 4 <= at + len {
                                shift_word(tcp, edge, delta);
                            }
                        }
                    }
                    at += len;
                }
            }
        }
    }
    true
}

/// The SACK option's kind (RFC 2018 §3).
const TCP_OPTION_SACK: u8 = 5;

/// Adds `delta` to the 32-bit word at `at` of the TCP header `tcp`, patching its
/// checksum.
fn shift_word(tcp: &mut [u8], at: usize, delta: u32) {
    let old = u32::from_be_bytes([tcp[at], tcp[at + 1], tcp[at + 2], tcp[at + 3]]);
    let new = old.wrapping_add(delta);
    tcp[at..at + 4].copy_from_slice(&new.to_be_bytes());
    let mut check = u16::from_be_bytes([tcp[16], tcp[17]]);
    for (o, n) in [(old >> 16, new >> 16), (old & 0xffff, new & 0xffff)] {
        check = checksum_replace(check, o as u16, n as u16);
    }
    tcp[16..18].copy_from_slice(&check.to_be_bytes());
}

/// TCP flag bits, as in the header's 13th byte.
pub const FLAG_FIN: u8 = 0x01;
/// SYN.
pub const FLAG_SYN: u8 = 0x02;
/// RST.
pub const FLAG_RST: u8 = 0x04;

/// Clear the TCP flags in `clear` and set those in `set` on the segment in `frame`,
/// patching the checksum incrementally (RFC 1624). Returns whether the frame was a
/// TCP segment.
pub fn rewrite_flags(medium: Medium, frame: &mut [u8], set: u8, clear: u8) -> bool {
    let Some(tcp) = tcp_header_mut(medium, frame) else {
        return false;
    };
    let old = u16::from_be_bytes([tcp[12], tcp[13]]);
    tcp[13] = (tcp[13] & !clear) | set;
    let new = u16::from_be_bytes([tcp[12], tcp[13]]);
    let check = checksum_replace(u16::from_be_bytes([tcp[16], tcp[17]]), old, new);
    tcp[16..18].copy_from_slice(&check.to_be_bytes());
    true
}

/// RFC 1624 eqn. 3: the Internet checksum after one 16-bit word changed from `old`
/// to `new`, HC' = ~(~HC + ~m + m').
fn checksum_replace(check: u16, old: u16, new: u16) -> u16 {
    let mut sum = u32::from(!check) + u32::from(!old) + u32::from(new);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `repr` in an IPv4 packet from `src` to `dst`, checksums filled in (raw IP, as
    /// on the simulated link).
    fn ip_frame(src: Ipv4Address, dst: Ipv4Address, repr: &smoltcp::wire::TcpRepr<'_>) -> Vec<u8> {
        let ip = smoltcp::wire::Ipv4Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Tcp,
            payload_len: repr.buffer_len(),
            hop_limit: 64,
        };
        let caps = smoltcp::phy::ChecksumCapabilities::default();
        let mut frame = vec![0u8; ip.buffer_len() + repr.buffer_len()];
        let mut packet = Ipv4Packet::new_unchecked(&mut frame[..]);
        ip.emit(&mut packet, &caps);
        repr.emit(
            &mut TcpPacket::new_unchecked(packet.payload_mut()),
            &src.into(),
            &dst.into(),
            &caps,
        );
        frame
    }

    fn fin_segment() -> Segment {
        Segment {
            src_addr: Ipv4Address::new(192, 0, 2, 2),
            src_port: 80,
            dst_addr: Ipv4Address::new(192, 0, 2, 1),
            dst_port: 40000,
            seq: 1000,
            ack: Some(5000),
            syn: false,
            fin: true,
            rst: false,
            psh: false,
            payload_len: 0,
            window: 1024,
            mss: None,
            window_scale: None,
            sack: false,
        }
    }

    #[test]
    fn reack_parses_back_as_the_mirror_image() {
        let fin = fin_segment();
        let frame = build_reack(Medium::Ip, &[], &fin, 5000, 1001, 512);
        let ack = Segment::parse(Medium::Ip, &frame).expect("a TCP segment");
        assert_eq!(ack.src_addr, fin.dst_addr);
        assert_eq!(ack.dst_addr, fin.src_addr);
        assert_eq!((ack.src_port, ack.dst_port), (40000, 80));
        assert_eq!((ack.seq, ack.ack), (5000, Some(1001)));
        assert!(ack.is_pure_ack());
        let ip = Ipv4Packet::new_checked(&frame[..]).unwrap();
        assert!(ip.verify_checksum());
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(tcp.verify_checksum(
            &IpAddress::Ipv4(ack.src_addr),
            &IpAddress::Ipv4(ack.dst_addr)
        ));
    }

    #[test]
    fn shifted_sequence_numbers_keep_a_valid_checksum() {
        let fin = fin_segment();
        for delta in [1u32, 0x8000_0000, u32::MAX, 0x1234_5678] {
            let mut frame = build_reack(Medium::Ip, &[], &fin, 5000, 1001, 512);
            assert!(shift_sequence(Medium::Ip, &mut frame, false, delta));
            assert!(shift_sequence(
                Medium::Ip,
                &mut frame,
                true,
                delta.wrapping_mul(3)
            ));
            let seg = Segment::parse(Medium::Ip, &frame).unwrap();
            assert_eq!(seg.seq, 5000u32.wrapping_add(delta));
            assert_eq!(seg.ack, Some(1001u32.wrapping_add(delta.wrapping_mul(3))));
            let ip = Ipv4Packet::new_checked(&frame[..]).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            assert!(tcp.verify_checksum(
                &IpAddress::Ipv4(seg.src_addr),
                &IpAddress::Ipv4(seg.dst_addr)
            ));
        }
        assert!(!shift_sequence(Medium::Ip, &mut [0u8; 10], false, 1));
    }

    #[test]
    fn an_acks_shift_moves_its_sack_blocks_too() {
        use smoltcp::phy::ChecksumCapabilities;
        use smoltcp::wire::{TcpControl, TcpRepr};
        let (src, dst) = (
            Ipv4Address::new(192, 0, 2, 1),
            Ipv4Address::new(192, 0, 2, 2),
        );
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            control: TcpControl::None,
            seq_number: TcpSeqNumber(7),
            ack_number: Some(TcpSeqNumber(1000)),
            window_len: 100,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [Some((2000, 3000)), Some((4000, 4500)), None],
            timestamp: None,
            payload: &[],
        };
        let caps = ChecksumCapabilities::default();
        let mut frame = ip_frame(src, dst, &repr);
        let delta = 0u32.wrapping_sub(1500);
        assert!(shift_sequence(Medium::Ip, &mut frame, true, delta));
        let packet = Ipv4Packet::new_checked(&frame[..]).unwrap();
        let tcp = TcpPacket::new_checked(packet.payload()).unwrap();
        assert!(tcp.verify_checksum(&src.into(), &dst.into()));
        let back = TcpRepr::parse(&tcp, &src.into(), &dst.into(), &caps).unwrap();
        assert_eq!(back.seq_number, TcpSeqNumber(7));
        assert_eq!(back.ack_number, Some(TcpSeqNumber(1000 - 1500)));
        let shifted = |n: u32| n.wrapping_add(delta);
        assert_eq!(
            back.sack_ranges,
            [
                Some((shifted(2000), shifted(3000))),
                Some((shifted(4000), shifted(4500))),
                None
            ]
        );
    }

    #[test]
    fn sequence_comparison_wraps() {
        assert!(seq_lt(u32::MAX - 1, 2));
        assert!(seq_gt(2, u32::MAX - 1));
        assert!(!seq_lt(5, 5));
    }

    #[test]
    fn garbage_is_not_a_segment() {
        assert_eq!(Segment::parse(Medium::Ip, &[]), None);
        assert_eq!(Segment::parse(Medium::Ip, &[0x45; 30]), None);
        assert_eq!(Segment::parse(Medium::Ethernet, &[0; 10]), None);
    }

    /// The incremental patch agrees with recomputing the checksum over random
    /// segments and windows, and a damaged segment stays damaged.
    #[test]
    fn clamping_the_window_patches_the_checksum_as_recomputing_would() {
        use smoltcp::wire::{TcpControl, TcpRepr};
        let (src, dst) = (Ipv4Address::new(10, 0, 0, 1), Ipv4Address::new(10, 0, 0, 2));
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let payload: Vec<u8> = (0..next() % 300).map(|_| next() as u8).collect();
            let repr = TcpRepr {
                src_port: next() as u16,
                dst_port: next() as u16,
                control: TcpControl::None,
                seq_number: TcpSeqNumber(next() as i32),
                ack_number: Some(TcpSeqNumber(next() as i32)),
                window_len: next() as u16,
                window_scale: None,
                max_seg_size: None,
                sack_permitted: false,
                sack_ranges: [None, None, None],
                timestamp: None,
                payload: &payload,
            };
            let mut frame = ip_frame(src, dst, &repr);
            let limit = next() as u16;
            let mut recomputed = frame.clone();
            let changed = clamp_window(Medium::Ip, &mut frame, limit);
            assert_eq!(changed, repr.window_len > limit);
            {
                let mut packet = Ipv4Packet::new_unchecked(&mut recomputed[..]);
                let mut tcp = TcpPacket::new_unchecked(packet.payload_mut());
                tcp.set_window_len(repr.window_len.min(limit));
                tcp.fill_checksum(&src.into(), &dst.into());
            }
            assert_eq!(frame, recomputed);
            // One bit flipped in the payload: clamping does not make it valid.
            if let (true, Some(last)) = (changed, payload.len().checked_sub(1)) {
                let mut damaged = frame.clone();
                let at = damaged.len() - 1 - last % 8;
                damaged[at] ^= 0x10;
                let mut packet = Ipv4Packet::new_unchecked(&mut damaged[..]);
                TcpPacket::new_unchecked(packet.payload_mut()).set_window_len(u16::MAX);
                assert!(clamp_window(Medium::Ip, &mut damaged, limit));
                let packet = Ipv4Packet::new_checked(&damaged[..]).unwrap();
                let tcp = TcpPacket::new_checked(packet.payload()).unwrap();
                assert!(!tcp.verify_checksum(&src.into(), &dst.into()));
            }
        }
    }
}
