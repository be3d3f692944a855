//! Captures of a run's frames, for Wireshark, tshark and tcpdump, written and read
//! through the `pcap-file` crate.
//!
//! Two formats, chosen by [`CaptureFormat::for_path`] from the file name:
//!
//! * **Classic pcap** (pcap-savefile(5); IETF draft-ietf-opsawg-pcap, "PCAP Capture
//!   File Format"): one global header, then a 16-byte header per record. Every tool
//!   reads it, but it has one link type per file and no place for annotations.
//! * **pcapng** (IETF draft-ietf-opsawg-pcapng, "PCAP Now Generic"): a Section Header
//!   Block, one Interface Description Block per capture point, then an Enhanced
//!   Packet Block per frame naming its interface. The simulator gives each sending
//!   host its own interface ("client", "server", "proxy"), so a viewer can filter by
//!   who sent a frame (`frame.interface_name`), and each frame can carry a comment
//!   (the `opt_comment` option): the simulator says there why a frame never arrived,
//!   which a capture taken at the sender cannot otherwise show.
//!
//! Why a crate: block and option framing, padding and length trailers are easy to
//! get subtly wrong by hand, and the same crate reads the files back in the tests, so
//! what the tests check is what a standard parser sees.
//!
//! Why nanoseconds: the simulator's clock is in ns and sub-µs spacing (a 40-byte
//! frame at 1 Gbit/s is 320 ns) would collapse to equal timestamps at µs resolution.
//! Classic pcap says so with its nanosecond magic number (0xA1B23C4D); pcapng with
//! each interface's `if_tsresol` option set to 9 (units of 10^-9 s; without it
//! readers assume µs).
//!
//! Deterministic: everything is written little-endian whatever the host (readers
//! detect the byte order), and the section header names only the application, never
//! the OS, the machine or the time, so the same run gives a byte-identical file.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use byteorder_slice::LittleEndian;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};

/// Frames longer than this are cut in the file (their original length is kept): the
/// customary maximum, larger than any frame the stack sends.
pub const SNAPLEN: u32 = 65_535;

/// The application named in a pcapng Section Header Block (`shb_userappl`).
const USER_APPLICATION: &str = "tcpknobs";

/// `if_tsresol` value for nanoseconds: the high bit clear means a power of ten, the
/// rest the negative exponent (pcapng, "Interface Description Block" options).
const TSRESOL_NANOS: u8 = 9;

/// The `if_tsresol` readers assume when an interface has none: microseconds.
const TSRESOL_DEFAULT: u8 = 6;

/// First four bytes of a pcapng file: the Section Header Block's type, a palindrome
/// so it reads the same in either byte order.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// What the captured bytes start with; tells readers how to decode them.
///
/// Values are LINKTYPE_* numbers from the tcpdump.org link-type registry (not DLT_*
/// values, which differ between platforms for raw IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// LINKTYPE_RAW (101): frames are bare IPv4/IPv6 packets, as on the simulator's
    /// IP-medium link.
    RawIp,
    /// LINKTYPE_ETHERNET (1): frames start with an Ethernet II header, as on a TAP
    /// device.
    Ethernet,
}

impl LinkType {
    /// The LINKTYPE_* number stored in the file.
    pub fn code(self) -> u32 {
        u32::from(self.data_link())
    }

    fn data_link(self) -> DataLink {
        match self {
            LinkType::RawIp => DataLink::RAW,
            LinkType::Ethernet => DataLink::ETHERNET,
        }
    }

    fn from_data_link(link: DataLink) -> Option<LinkType> {
        match link {
            DataLink::RAW => Some(LinkType::RawIp),
            DataLink::ETHERNET => Some(LinkType::Ethernet),
            _ => None,
        }
    }
}

/// Which file format a [`Capture`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap, nanosecond variant: every tool reads it; no interfaces, no
    /// comments.
    Pcap,
    /// pcapng: one interface per capture point, a comment per frame where there is
    /// something to say.
    Pcapng,
}

impl CaptureFormat {
    /// pcapng when the file name ends in `.pcapng` (any case), classic pcap
    /// otherwise, as Wireshark's own "Save As" names them.
    pub fn for_path(path: &Path) -> CaptureFormat {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("pcapng") => CaptureFormat::Pcapng,
            _ => CaptureFormat::Pcap,
        }
    }
}

/// One capture point of a [`Capture`], as returned by [`Capture::add_interface`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceId(pub u32);

/// Why a capture could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The sink or source failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// Classic pcap stores whole seconds in 32 bits (until 2106).
    #[error("timestamp {ts_ns} ns is beyond classic pcap's 32-bit seconds")]
    TimestampRange {
        /// The rejected timestamp.
        ts_ns: u64,
    },
    /// Both formats store a frame's length in 32 bits.
    #[error("a frame of {len} bytes is beyond the 32-bit length field")]
    FrameTooLong {
        /// The rejected frame's length.
        len: usize,
    },
    /// pcapng options (names, comments) hold at most 65535 bytes.
    #[error("a {what} of {len} bytes is beyond pcapng's 16-bit option length")]
    OptionTooLong {
        /// Which option.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The interface was never added to this capture.
    #[error("no interface {0} in this capture")]
    UnknownInterface(u32),
    /// A classic pcap file has one link type for all its frames.
    #[error("classic pcap holds one link type: the file has {file:?}, not {asked:?}")]
    MixedLinkTypes {
        /// The file's link type (the first interface's).
        file: LinkType,
        /// The link type of the interface refused.
        asked: LinkType,
    },
    /// A frame was written before any interface was added.
    #[error("no interface added before the first frame")]
    NoInterface,
    /// The file is not one this module can read (not pcap, not pcapng, or an
    /// unsupported timestamp resolution).
    #[error("unreadable capture: {0}")]
    Format(String),
}

impl From<PcapError> for CaptureError {
    fn from(e: PcapError) -> CaptureError {
        match e {
            PcapError::IoError(io) => CaptureError::Io(io),
            PcapError::InvalidInterfaceId(id) => CaptureError::UnknownInterface(id),
            other => CaptureError::Format(other.to_string()),
        }
    }
}

enum Sink<W: Write> {
    /// Classic pcap; the global header is written with the first interface, whose
    /// link type it records.
    Pcap {
        out: W,
        link_type: Option<LinkType>,
    },
    Pcapng(PcapNgWriter<W>),
}

/// Writes frames in either [`CaptureFormat`] to any `Write` sink.
///
/// Not buffered by itself (a record is several small writes): wrap a `File` in a
/// `BufWriter`.
pub struct Capture<W: Write> {
    sink: Sink<W>,
    interfaces: u32,
}

impl<W: Write> std::fmt::Debug for Capture<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("format", &self.format())
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

impl<W: Write> Capture<W> {
    /// Start a capture: pcapng writes its Section Header Block now; classic pcap
    /// writes its header with the first [`Capture::add_interface`].
    pub fn new(out: W, format: CaptureFormat) -> Result<Capture<W>, CaptureError> {
        let sink = match format {
            CaptureFormat::Pcap => Sink::Pcap {
                out,
                link_type: None,
            },
            CaptureFormat::Pcapng => {
                let section = SectionHeaderBlock {
                    endianness: Endianness::Little,
                    major_version: 1,
                    minor_version: 0,
                    // Unknown: the file is written as the run goes.
                    section_length: -1,
                    options: vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                        USER_APPLICATION,
                    ))],
                };
                Sink::Pcapng(PcapNgWriter::with_section_header(out, section)?)
            }
        };
        Ok(Capture {
            sink,
            interfaces: 0,
        })
    }

    /// The format being written.
    pub fn format(&self) -> CaptureFormat {
        match self.sink {
            Sink::Pcap { .. } => CaptureFormat::Pcap,
            Sink::Pcapng(_) => CaptureFormat::Pcapng,
        }
    }

    /// A capture point named `name` whose frames start as `link_type` says. In pcapng
    /// an Interface Description Block (name, ns resolution); in classic pcap, which has
    /// no interfaces, the first call fixes the file's link type and later ones must
    /// agree with it.
    pub fn add_interface(
        &mut self,
        name: &str,
        link_type: LinkType,
    ) -> Result<InterfaceId, CaptureError> {
        match &mut self.sink {
            Sink::Pcap { out, link_type: lt } => match *lt {
                Some(file) if file != link_type => {
                    return Err(CaptureError::MixedLinkTypes {
                        file,
                        asked: link_type,
                    })
                }
                Some(_) => {}
                None => {
                    let header = PcapHeader {
                        version_major: 2,
                        version_minor: 4,
                        ts_correction: 0,
                        ts_accuracy: 0,
                        snaplen: SNAPLEN,
                        datalink: link_type.data_link(),
                        ts_resolution: TsResolution::NanoSecond,
                        endianness: Endianness::Little,
                    };
                    header.write_to(out)?;
                    *lt = Some(link_type);
                }
            },
            Sink::Pcapng(w) => {
                check_option("interface name", name)?;
                let idb = InterfaceDescriptionBlock {
                    linktype: link_type.data_link(),
                    snaplen: SNAPLEN,
                    options: vec![
                        InterfaceDescriptionOption::IfName(Cow::Borrowed(name)),
                        InterfaceDescriptionOption::IfTsResol(TSRESOL_NANOS),
                    ],
                };
                w.write_pcapng_block(idb)?;
            }
        }
        let id = InterfaceId(self.interfaces);
        self.interfaces += 1;
        Ok(id)
    }

    /// Append one frame seen on `interface` at `ts_ns` (ns since the Unix epoch; the
    /// simulator's virtual time counts from 0, which readers show as 1970). pcapng
    /// stores `comment` on the frame; classic pcap has no place for it.
    ///
    /// Checks everything before writing, so a rejected frame leaves no partial record.
    pub fn write_frame(
        &mut self,
        ts_ns: u64,
        interface: InterfaceId,
        frame: &[u8],
        comment: Option<&str>,
    ) -> Result<(), CaptureError> {
        if interface.0 >= self.interfaces {
            return Err(if self.interfaces == 0 {
                CaptureError::NoInterface
            } else {
                CaptureError::UnknownInterface(interface.0)
            });
        }
        let orig_len = u32::try_from(frame.len())
            .map_err(|_| CaptureError::FrameTooLong { len: frame.len() })?;
        let kept = frame.get(..SNAPLEN as usize).unwrap_or(frame);
        let timestamp = Duration::from_nanos(ts_ns);
        match &mut self.sink {
            Sink::Pcap { out, .. } => {
                if u32::try_from(ts_ns / 1_000_000_000).is_err() {
                    return Err(CaptureError::TimestampRange { ts_ns });
                }
                PcapPacket::new(timestamp, orig_len, kept).write_to::<_, LittleEndian>(
                    out,
                    TsResolution::NanoSecond,
                    SNAPLEN,
                )?;
            }
            Sink::Pcapng(w) => {
                let options = match comment {
                    Some(text) => {
                        check_option("comment", text)?;
                        vec![EnhancedPacketOption::Comment(Cow::Borrowed(text))]
                    }
                    None => Vec::new(),
                };
                w.write_pcapng_block(EnhancedPacketBlock {
                    interface_id: interface.0,
                    timestamp,
                    original_len: orig_len,
                    data: Cow::Borrowed(kept),
                    options,
                })?;
            }
        }
        Ok(())
    }

    /// Flush the sink, so the capture can be read while the run continues.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        match &mut self.sink {
            Sink::Pcap { out, .. } => out.flush()?,
            Sink::Pcapng(w) => w.get_mut().flush()?,
        }
        Ok(())
    }

    /// Give back the sink (not flushed: call [`Capture::flush`] first if it buffers).
    pub fn into_inner(self) -> W {
        match self.sink {
            Sink::Pcap { out, .. } => out,
            Sink::Pcapng(w) => w.into_inner(),
        }
    }
}

/// pcapng option values carry a 16-bit length; the crate would cut a longer one.
fn check_option(what: &'static str, text: &str) -> Result<(), CaptureError> {
    if text.len() > usize::from(u16::MAX) {
        return Err(CaptureError::OptionTooLong {
            what,
            len: text.len(),
        });
    }
    Ok(())
}

/// One interface of a capture read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedInterface {
    /// Its name (`if_name`); empty in classic pcap.
    pub name: String,
    /// Its link type.
    pub link_type: LinkType,
}

/// One frame of a capture read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedFrame {
    /// Timestamp in ns.
    pub ts_ns: u64,
    /// Index into [`CaptureContents::interfaces`].
    pub interface: InterfaceId,
    /// The bytes kept (at most the snapshot length).
    pub data: Vec<u8>,
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// The frame's comment (pcapng only).
    pub comment: Option<String>,
}

/// A whole capture read back by [`read_capture`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureContents {
    /// The format found.
    pub format: CaptureFormat,
    /// The capture points; classic pcap has exactly one, unnamed.
    pub interfaces: Vec<CapturedInterface>,
    /// Every frame, in file order.
    pub frames: Vec<CapturedFrame>,
}

/// Read a capture in either format (told apart by its first bytes) through
/// `pcap-file`'s readers. Handles what [`Capture`] writes: one pcapng section, raw-IP
/// or Ethernet link types, power-of-ten timestamp resolutions.
pub fn read_capture(bytes: &[u8]) -> Result<CaptureContents, CaptureError> {
    if bytes.starts_with(&PCAPNG_MAGIC) {
        read_pcapng(bytes)
    } else {
        read_pcap(bytes)
    }
}

fn link_type_of(link: DataLink) -> Result<LinkType, CaptureError> {
    LinkType::from_data_link(link)
        .ok_or_else(|| CaptureError::Format(format!("unsupported link type {link:?}")))
}

fn read_pcap(bytes: &[u8]) -> Result<CaptureContents, CaptureError> {
    let mut reader = PcapReader::new(bytes)?;
    let header = reader.header();
    let interfaces = vec![CapturedInterface {
        name: String::new(),
        link_type: link_type_of(header.datalink)?,
    }];
    let frac_ns = match header.ts_resolution {
        TsResolution::NanoSecond => 1,
        TsResolution::MicroSecond => 1_000,
    };
    let mut frames = Vec::new();
    // Raw records: the crate's checked ones refuse a frame longer than the snapshot
    // length, which is exactly the case a snapshot length is for.
    while let Some(packet) = reader.next_raw_packet() {
        let packet = packet?;
        let frac = u64::from(packet.ts_frac) * frac_ns;
        if frac >= 1_000_000_000 {
            return Err(CaptureError::Format(
                "record timestamp fraction of a second >= 1 s".to_string(),
            ));
        }
        frames.push(CapturedFrame {
            ts_ns: u64::from(packet.ts_sec) * 1_000_000_000 + frac,
            interface: InterfaceId(0),
            data: packet.data.into_owned(),
            orig_len: packet.orig_len,
            comment: None,
        });
    }
    Ok(CaptureContents {
        format: CaptureFormat::Pcap,
        interfaces,
        frames,
    })
}

fn read_pcapng(bytes: &[u8]) -> Result<CaptureContents, CaptureError> {
    let mut reader = PcapNgReader::new(bytes)?;
    let mut interfaces = Vec::new();
    // Per interface: multiply or divide raw ticks to get ns.
    let mut scales: Vec<Scale> = Vec::new();
    let mut frames = Vec::new();
    while let Some(block) = reader.next_block() {
        match block? {
            Block::InterfaceDescription(idb) => {
                let mut name = String::new();
                let mut tsresol = TSRESOL_DEFAULT;
                for option in &idb.options {
                    match option {
                        InterfaceDescriptionOption::IfName(n) => name = n.to_string(),
                        InterfaceDescriptionOption::IfTsResol(r) => tsresol = *r,
                        _ => {}
                    }
                }
                scales.push(Scale::from_tsresol(tsresol)?);
                interfaces.push(CapturedInterface {
                    name,
                    link_type: link_type_of(idb.linktype)?,
                });
            }
            Block::EnhancedPacket(epb) => {
                let scale = scales
                    .get(epb.interface_id as usize)
                    .ok_or(CaptureError::UnknownInterface(epb.interface_id))?;
                // The crate hands back the raw 64-bit tick count as nanoseconds.
                let ticks = duration_ns(epb.timestamp)?;
                let comment = epb.options.iter().find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                });
                frames.push(CapturedFrame {
                    ts_ns: scale.to_ns(ticks)?,
                    interface: InterfaceId(epb.interface_id),
                    data: epb.data.into_owned(),
                    orig_len: epb.original_len,
                    comment,
                });
            }
            Block::SectionHeader(_) if !interfaces.is_empty() => {
                return Err(CaptureError::Format(
                    "more than one pcapng section".to_string(),
                ));
            }
            _ => {}
        }
    }
    Ok(CaptureContents {
        format: CaptureFormat::Pcapng,
        interfaces,
        frames,
    })
}

fn duration_ns(d: Duration) -> Result<u64, CaptureError> {
    u64::try_from(d.as_nanos())
        .map_err(|_| CaptureError::Format("timestamp beyond 64-bit ns".to_string()))
}

/// How an interface's timestamp ticks convert to ns.
#[derive(Clone, Copy)]
enum Scale {
    Times(u64),
    Over(u64),
}

impl Scale {
    fn from_tsresol(tsresol: u8) -> Result<Scale, CaptureError> {
        if tsresol & 0x80 != 0 {
            return Err(CaptureError::Format(format!(
                "power-of-two timestamp resolution 2^-{}",
                tsresol & 0x7f
            )));
        }
        let exp = u32::from(tsresol);
        let scale = if exp <= 9 {
            Scale::Times(10u64.pow(9 - exp))
        } else {
            10u64
                .checked_pow(exp - 9)
                .map(Scale::Over)
                .ok_or_else(|| CaptureError::Format(format!("timestamp resolution 10^-{exp}")))?
        };
        Ok(scale)
    }

    fn to_ns(self, ticks: u64) -> Result<u64, CaptureError> {
        match self {
            Scale::Times(k) => ticks
                .checked_mul(k)
                .ok_or_else(|| CaptureError::Format("timestamp beyond 64-bit ns".to_string())),
            Scale::Over(k) => Ok(ticks / k),
        }
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
        // tcpdump.org link-type registry: LINKTYPE_ETHERNET = 1, LINKTYPE_RAW = 101.
        assert_eq!(LinkType::Ethernet.code(), 1);
        assert_eq!(LinkType::RawIp.code(), 101);
    }

    #[test]
    fn format_follows_the_extension() {
        for (path, format) in [
            ("run.pcapng", CaptureFormat::Pcapng),
            ("/tmp/RUN.PcapNG", CaptureFormat::Pcapng),
            ("run.pcap", CaptureFormat::Pcap),
            ("run", CaptureFormat::Pcap),
            ("run.pcapng.gz", CaptureFormat::Pcap),
            ("pcapng", CaptureFormat::Pcap),
        ] {
            assert_eq!(CaptureFormat::for_path(Path::new(path)), format, "{path}");
        }
    }

    #[test]
    fn classic_global_header_bytes() {
        // pcap-savefile(5): magic, major 2, minor 4, thiszone 0, sigfigs 0, snaplen,
        // linktype; little-endian. Nanosecond magic 0xA1B23C4D is stored 4D 3C B2 A1.
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcap).unwrap();
        assert!(c.format() == CaptureFormat::Pcap);
        c.add_interface("client", LinkType::RawIp).unwrap();
        c.add_interface("server", LinkType::RawIp).unwrap();
        #[rustfmt::skip]
        let expected: [u8; 24] = [
            0x4d, 0x3c, 0xb2, 0xa1, // magic
            0x02, 0x00,             // version_major = 2
            0x04, 0x00,             // version_minor = 4
            0, 0, 0, 0,             // thiszone
            0, 0, 0, 0,             // sigfigs
            0xff, 0xff, 0x00, 0x00, // snaplen = 65535
            101, 0, 0, 0,           // LINKTYPE_RAW
        ];
        assert_eq!(c.into_inner(), expected);
    }

    #[test]
    fn classic_record_bytes() {
        // ts = 3_000_000_123 ns = 3 s + 123 ns; the comment has nowhere to go.
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcap).unwrap();
        let eth = c.add_interface("tk0", LinkType::Ethernet).unwrap();
        let frame: Vec<u8> = (0..=9).collect();
        c.write_frame(3_000_000_123, eth, &frame, Some("ignored"))
            .unwrap();
        c.flush().unwrap();
        let b = c.into_inner();
        assert_eq!(u32_at(&b, 20), 1);
        assert_eq!(b.len(), 24 + 16 + 10);
        let r = &b[24..];
        assert_eq!(u32_at(r, 0), 3); // ts_sec
        assert_eq!(u32_at(r, 4), 123); // ts_nsec
        assert_eq!(u32_at(r, 8), 10); // incl_len
        assert_eq!(u32_at(r, 12), 10); // orig_len
        assert_eq!(&r[16..], &frame[..]);
    }

    #[test]
    fn classic_pcap_has_one_link_type() {
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcap).unwrap();
        c.add_interface("a", LinkType::RawIp).unwrap();
        let err = c.add_interface("b", LinkType::Ethernet).unwrap_err();
        assert!(matches!(err, CaptureError::MixedLinkTypes { .. }), "{err}");
    }

    #[test]
    fn long_frames_are_cut_to_the_snaplen_but_keep_their_length() {
        for format in [CaptureFormat::Pcap, CaptureFormat::Pcapng] {
            let mut c = Capture::new(Vec::new(), format).unwrap();
            let i = c.add_interface("x", LinkType::RawIp).unwrap();
            c.write_frame(1, i, &[7u8; 70_000], None).unwrap();
            let back = read_capture(&c.into_inner()).unwrap();
            assert_eq!(back.frames[0].data.len(), SNAPLEN as usize, "{format:?}");
            assert_eq!(back.frames[0].orig_len, 70_000, "{format:?}");
        }
    }

    #[test]
    fn pcapng_round_trip() {
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcapng).unwrap();
        let client = c.add_interface("client", LinkType::RawIp).unwrap();
        let server = c.add_interface("server", LinkType::RawIp).unwrap();
        c.write_frame(320, client, &[1, 2, 3], None).unwrap();
        c.write_frame(
            5_000_000_001,
            server,
            &[4; 41],
            Some("dropped by the link: loss"),
        )
        .unwrap();
        let bytes = c.into_inner();
        // Section Header Block type, then the byte-order magic 0x1A2B3C4D little-endian.
        assert_eq!(&bytes[0..4], &PCAPNG_MAGIC);
        assert_eq!(&bytes[8..12], &[0x4d, 0x3c, 0x2b, 0x1a]);
        let back = read_capture(&bytes).unwrap();
        assert_eq!(back.format, CaptureFormat::Pcapng);
        let names: Vec<&str> = back.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["client", "server"]);
        assert!(back
            .interfaces
            .iter()
            .all(|i| i.link_type == LinkType::RawIp));
        let f = &back.frames;
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].ts_ns, f[0].interface, f[0].comment.as_deref()),
            (320, client, None)
        );
        assert_eq!(f[0].data, [1, 2, 3]);
        assert_eq!(
            (f[1].ts_ns, f[1].interface, f[1].comment.as_deref()),
            (5_000_000_001, server, Some("dropped by the link: loss"))
        );
        assert_eq!(f[1].data, [4; 41]);
        // Every interface says ns, as the crate's own reader sees it.
        let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
        while let Some(block) = reader.next_block() {
            block.unwrap();
        }
        for idb in reader.interfaces() {
            assert!(idb
                .options
                .contains(&InterfaceDescriptionOption::IfTsResol(9)));
        }
        assert!(reader
            .section()
            .options
            .contains(&SectionHeaderOption::UserApplication("tcpknobs".into())));
    }

    #[test]
    fn same_input_same_bytes() {
        let write = |format| {
            let mut c = Capture::new(Vec::new(), format).unwrap();
            let i = c.add_interface("client", LinkType::RawIp).unwrap();
            c.write_frame(42, i, &[9; 60], Some("x")).unwrap();
            c.into_inner()
        };
        for format in [CaptureFormat::Pcap, CaptureFormat::Pcapng] {
            assert_eq!(write(format), write(format), "{format:?}");
        }
    }

    #[test]
    fn rejected_frames_write_nothing() {
        // Largest classic timestamp: (2^32 - 1) s + 999_999_999 ns.
        let max_ok = u64::from(u32::MAX) * 1_000_000_000 + 999_999_999;
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcap).unwrap();
        let err = c.write_frame(0, InterfaceId(0), &[1], None).unwrap_err();
        assert!(matches!(err, CaptureError::NoInterface), "{err}");
        let i = c.add_interface("x", LinkType::RawIp).unwrap();
        c.write_frame(max_ok, i, &[1], None).unwrap();
        let err = c.write_frame(max_ok + 1, i, &[1], None).unwrap_err();
        assert!(matches!(err, CaptureError::TimestampRange { .. }), "{err}");
        let err = c.write_frame(0, InterfaceId(1), &[1], None).unwrap_err();
        assert!(matches!(err, CaptureError::UnknownInterface(1)), "{err}");
        assert_eq!(c.into_inner().len(), 24 + 16 + 1);

        // pcapng's 64-bit timestamps take any u64 ns; option lengths are 16-bit.
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcapng).unwrap();
        let i = c.add_interface("x", LinkType::RawIp).unwrap();
        let before = c.into_inner().len();
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcapng).unwrap();
        c.add_interface("x", LinkType::RawIp).unwrap();
        let long = "c".repeat(70_000);
        let err = c.write_frame(0, i, &[1], Some(&long)).unwrap_err();
        assert!(matches!(err, CaptureError::OptionTooLong { .. }), "{err}");
        assert!(c.add_interface(&long, LinkType::RawIp).is_err());
        c.write_frame(u64::MAX, i, &[1], None).unwrap();
        let bytes = c.into_inner();
        assert_eq!(bytes.len(), before + 32 + 4);
        assert_eq!(read_capture(&bytes).unwrap().frames[0].ts_ns, u64::MAX);
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
        assert!(matches!(
            Capture::new(Full, CaptureFormat::Pcapng),
            Err(CaptureError::Io(_))
        ));
        let mut c = Capture::new(Full, CaptureFormat::Pcap).unwrap();
        assert!(matches!(
            c.add_interface("x", LinkType::RawIp),
            Err(CaptureError::Io(_))
        ));
    }

    #[test]
    fn reading_garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            &b"not a capture at all"[..],
            &PCAPNG_MAGIC[..],
            &[0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0][..],
        ] {
            assert!(read_capture(bytes).is_err(), "{bytes:?}");
        }
        // A truncated real file.
        let mut c = Capture::new(Vec::new(), CaptureFormat::Pcapng).unwrap();
        let i = c.add_interface("x", LinkType::RawIp).unwrap();
        c.write_frame(1, i, &[1; 20], Some("y")).unwrap();
        let bytes = c.into_inner();
        for cut in 0..bytes.len() {
            let _ = read_capture(&bytes[..cut]);
        }
    }

    #[test]
    fn microsecond_interfaces_read_as_ns() {
        // An interface without if_tsresol counts µs (pcapng's default).
        assert_eq!(
            Scale::from_tsresol(TSRESOL_DEFAULT)
                .unwrap()
                .to_ns(7)
                .unwrap(),
            7_000
        );
        assert_eq!(Scale::from_tsresol(12).unwrap().to_ns(7_000).unwrap(), 7);
        assert!(Scale::from_tsresol(0x8a).is_err());
        assert!(Scale::from_tsresol(127).is_err());
        assert!(Scale::from_tsresol(0).unwrap().to_ns(u64::MAX).is_err());
    }
}
