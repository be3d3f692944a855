//! A minimal classic-pcap writer, so simulated runs can be inspected in
//! Wireshark/tshark/tcpdump like real captures.
//!
//! Format: the libpcap savefile format (pcap-savefile(5),
//! <https://www.tcpdump.org/manpages/pcap-savefile.5.html>; IETF
//! draft-ietf-opsawg-pcap, "PCAP Capture File Format"). We use the
//! nanosecond-resolution variant (magic 0xA1B23C4D) because the simulator's
//! clock is in ns and sub-µs spacing (a 40-byte frame at 1 Gbit/s is 320 ns)
//! would otherwise collapse to equal timestamps.
//!
//! All fields are written little-endian regardless of host, so the same run
//! gives byte-identical files everywhere; readers detect the byte order from
//! the magic number.

use std::io::{self, Write};

/// Magic number of a nanosecond-resolution pcap file.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// The only format version readers expect for classic pcap: 2.4.
const VERSION_MAJOR: u16 = 2;
const VERSION_MINOR: u16 = 4;
const NS_PER_S: u64 = 1_000_000_000;

/// What the captured bytes start with; tells readers how to decode them.
///
/// Values are LINKTYPE_* numbers from <https://www.tcpdump.org/linktypes.html>
/// (not DLT_* values, which differ between platforms for raw IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_RAW (101): frames are bare IPv4/IPv6 packets, as on the
    /// simulator's IP-medium link.
    RawIp,
    /// LINKTYPE_ETHERNET (1): frames start with an Ethernet II header, as on
    /// a TAP device.
    Ethernet,
}

impl LinkType {
    /// The LINKTYPE_* number stored in the file header.
    pub fn code(self) -> u32 {
        match self {
            LinkType::RawIp => 101,
            LinkType::Ethernet => 1,
        }
    }
}

/// Writes a classic pcap (nanosecond) file to any `Write` sink.
///
/// Unbuffered by itself: each record is one `write_all` of header then data,
/// so wrap a `File` in a `BufWriter` for long runs.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header; frames longer than `snaplen` are
    /// truncated in the file (their original length is still recorded).
    pub fn new(mut out: W, link_type: LinkType, snaplen: u32) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        header[4..6].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
        header[6..8].copy_from_slice(&VERSION_MINOR.to_le_bytes());
        // 8..12 thiszone (GMT offset) and 12..16 sigfigs: always 0.
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&link_type.code().to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out, snaplen })
    }

    /// Appends one record stamped `ts_ns` (virtual ns since the run start,
    /// which readers show as seconds since the Unix epoch, i.e. 1970).
    ///
    /// Fails with `InvalidInput`, writing nothing, if the timestamp's seconds
    /// or the frame length do not fit the format's 32-bit fields.
    pub fn write_frame(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(ts_ns / NS_PER_S).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcap timestamp seconds exceed 32 bits",
            )
        })?;
        // Always < 1e9, so it fits.
        let nanos = (ts_ns % NS_PER_S) as u32;
        let orig_len = u32::try_from(frame.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame longer than pcap's 32-bit length field",
            )
        })?;
        let incl_len = orig_len.min(self.snaplen);

        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&nanos.to_le_bytes());
        header[8..12].copy_from_slice(&incl_len.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        // incl_len <= frame.len(), so the slice is in bounds.
        let data = frame.get(..incl_len as usize).unwrap_or(frame);
        self.out.write_all(data)
    }

    /// Flushes the sink, so a capture can be read while the run continues.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Gives back the sink (not flushed: call [`PcapWriter::flush`] first if
    /// it buffers).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    #[test]
    fn link_type_codes() {
        // tcpdump.org/linktypes.html: LINKTYPE_ETHERNET = 1, LINKTYPE_RAW = 101.
        assert_eq!(LinkType::Ethernet.code(), 1);
        assert_eq!(LinkType::RawIp.code(), 101);
    }

    #[test]
    fn global_header_bytes() {
        // pcap-savefile(5): magic, major 2, minor 4, thiszone 0, sigfigs 0,
        // snaplen, linktype; little-endian. Nanosecond magic 0xA1B23C4D is
        // stored as 4D 3C B2 A1.
        let w = PcapWriter::new(Vec::new(), LinkType::RawIp, 65535).unwrap();
        let b = w.into_inner();
        #[rustfmt::skip]
        let expected: [u8; 24] = [
            0x4d, 0x3c, 0xb2, 0xa1, // magic
            0x02, 0x00,             // version_major = 2
            0x04, 0x00,             // version_minor = 4
            0, 0, 0, 0,             // thiszone
            0, 0, 0, 0,             // sigfigs
            0xff, 0xff, 0x00, 0x00, // snaplen = 65535 = 0x0000ffff
            101, 0, 0, 0,           // LINKTYPE_RAW
        ];
        assert_eq!(b, expected);

        let b = PcapWriter::new(Vec::new(), LinkType::Ethernet, 0x0102_0304)
            .unwrap()
            .into_inner();
        assert_eq!(&b[16..20], &[0x04, 0x03, 0x02, 0x01]);
        assert_eq!(u32_at(&b, 20), 1);
    }

    #[test]
    fn record_header_and_data() {
        // ts = 3_000_000_123 ns = 3 s + 123 ns.
        let mut w = PcapWriter::new(Vec::new(), LinkType::RawIp, 65535).unwrap();
        let frame: Vec<u8> = (0..=9).collect();
        w.write_frame(3_000_000_123, &frame).unwrap();
        w.flush().unwrap();
        let b = w.into_inner();
        assert_eq!(b.len(), 24 + 16 + 10);
        let r = &b[24..];
        assert_eq!(u32_at(r, 0), 3); // ts_sec
        assert_eq!(u32_at(r, 4), 123); // ts_nsec
        assert_eq!(u32_at(r, 8), 10); // incl_len
        assert_eq!(u32_at(r, 12), 10); // orig_len
        assert_eq!(&r[16..], &frame[..]);
    }

    #[test]
    fn snaplen_truncates_but_keeps_orig_len() {
        // snaplen 4, frame 10 B: incl_len = min(10, 4) = 4, orig_len = 10.
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 4).unwrap();
        w.write_frame(999_999_999, &[7u8; 10]).unwrap();
        w.write_frame(1_000_000_000, &[8u8; 2]).unwrap();
        let b = w.into_inner();
        let r = &b[24..];
        assert_eq!(u32_at(r, 0), 0);
        assert_eq!(u32_at(r, 4), 999_999_999);
        assert_eq!(u32_at(r, 8), 4);
        assert_eq!(u32_at(r, 12), 10);
        assert_eq!(&r[16..20], &[7u8; 4]);
        // Second record follows right after 16 + 4 bytes: 1 s, 0 ns, 2/2.
        let r = &r[20..];
        assert_eq!(u32_at(r, 0), 1);
        assert_eq!(u32_at(r, 4), 0);
        assert_eq!(u32_at(r, 8), 2);
        assert_eq!(u32_at(r, 12), 2);
        assert_eq!(&r[16..], &[8u8; 2]);
    }

    #[test]
    fn timestamp_beyond_32_bit_seconds_is_an_error() {
        // Largest accepted: (2^32 - 1) s + 999_999_999 ns.
        let max_ok = u64::from(u32::MAX) * NS_PER_S + 999_999_999;
        let mut w = PcapWriter::new(Vec::new(), LinkType::RawIp, 100).unwrap();
        w.write_frame(max_ok, &[1]).unwrap();
        let err = w.write_frame(max_ok + 1, &[1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Nothing of the rejected record was written.
        assert_eq!(w.into_inner().len(), 24 + 16 + 1);
    }

    #[test]
    fn sink_errors_propagate() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::other("disk full"))
            }
        }
        assert!(PcapWriter::new(Full, LinkType::RawIp, 100).is_err());
    }
}
