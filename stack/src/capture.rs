//! Capture points: the frames that pass one place in a run, written to a capture file
//! ([`crate::pcap`]) as they pass, the way smoltcp's `PcapWriter` wraps a device.
//!
//! A [`FrameCapture`] is the file and its ports, one interface each: the simulator
//! opens a port per host and records each frame as it leaves its host, with the
//! narrator's comment; a real-time run wraps its device in a [`CapturedDevice`], one
//! port named after the device, which records each frame that crosses it (after the
//! in-process TX delay, before the RX delay), stamped with wall time so the capture
//! lines up with a tcpdump taken on the kernel's side.
//!
//! A write that fails does not stop the frames: the capture keeps its first error for
//! the runner to report ([`FrameCapture::check`], [`FrameCapture::finish`]), so how
//! the run goes never depends on whether it is being captured.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use crate::pcap::{Capture, CaptureError, CaptureFormat, InterfaceId, LinkType};
use crate::realtime::{Clock, FrameDevice};

/// A capture file and its ports, by index in the order added. See the module docs.
pub struct FrameCapture<W: Write> {
    writer: Capture<W>,
    ports: Vec<InterfaceId>,
    /// The first write that failed.
    error: Option<CaptureError>,
}

impl<W: Write> FrameCapture<W> {
    /// Start a capture in `format` on `out`, with no port yet.
    pub fn new(out: W, format: CaptureFormat) -> Result<FrameCapture<W>, CaptureError> {
        Ok(FrameCapture {
            writer: Capture::new(out, format)?,
            ports: Vec::new(),
            error: None,
        })
    }

    /// The format being written.
    pub fn format(&self) -> CaptureFormat {
        self.writer.format()
    }

    /// Add the next port: an interface named `name` whose frames start as `link`
    /// says.
    pub fn add_port(&mut self, name: &str, link: LinkType) {
        match self.writer.add_interface(name, link) {
            Ok(id) => self.ports.push(id),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Record `frame` as seen at port `port` at `ts_ns` (ns; the Unix epoch for wall
    /// time), with `comment` where the format has room for one.
    pub fn record(&mut self, ts_ns: u64, port: usize, frame: &[u8], comment: Option<&str>) {
        let written = match self.ports.get(port) {
            Some(&interface) => self.writer.write_frame(ts_ns, interface, frame, comment),
            None => Err(CaptureError::UnknownInterface(port as u32)),
        };
        if let Err(e) = written {
            self.error.get_or_insert(e);
        }
    }

    /// The first error so far, if any (taken: a later call reports a later one).
    pub fn check(&mut self) -> Result<(), CaptureError> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// Flush, so the capture can be read while the run continues; the first error so
    /// far instead, if any.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.check()?;
        self.writer.flush()
    }

    /// End the capture: flushed, or the first error of the run.
    pub fn finish(mut self) -> Result<(), CaptureError> {
        self.flush()
    }
}

/// A [`FrameDevice`] that passes every frame to and from the device it wraps and, when
/// capturing, records each frame it reads or writes successfully, stamped with the wall
/// time of the run's [`Clock`] (the one clock of a real-time run). A frame the device
/// refuses is not recorded: it never crossed.
pub struct CapturedDevice<'d, D> {
    device: &'d mut D,
    capture: Option<FileCapture>,
    clock: Clock,
}

/// A capture to a file, which errors name.
struct FileCapture {
    frames: FrameCapture<BufWriter<File>>,
    path: PathBuf,
}

impl<'d, D: FrameDevice> CapturedDevice<'d, D> {
    /// `device`, capturing to `path` if given (Ethernet; pcapng with one interface
    /// named after the device if the name ends in `.pcapng`, classic pcap otherwise),
    /// stamped with the wall time of `clock`.
    pub fn new(
        device: &'d mut D,
        path: Option<&Path>,
        clock: Clock,
    ) -> io::Result<CapturedDevice<'d, D>> {
        let capture = match path {
            Some(path) => {
                let file = File::create(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
                })?;
                let mut frames =
                    FrameCapture::new(BufWriter::new(file), CaptureFormat::for_path(path))
                        .map_err(|e| capture_error(path, e))?;
                frames.add_port(device.name(), LinkType::Ethernet);
                frames.check().map_err(|e| capture_error(path, e))?;
                Some(FileCapture {
                    frames,
                    path: path.to_path_buf(),
                })
            }
            None => None,
        };
        Ok(CapturedDevice {
            device,
            capture,
            clock,
        })
    }

    /// Whether frames are being recorded.
    pub fn is_capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// The first capture error since the last check, naming the file.
    pub fn check(&mut self) -> io::Result<()> {
        match self.capture.as_mut() {
            Some(c) => c.frames.check().map_err(|e| capture_error(&c.path, e)),
            None => Ok(()),
        }
    }

    /// Flush the capture (or report its first error), so it can be read while the run
    /// continues.
    pub fn flush(&mut self) -> io::Result<()> {
        match self.capture.as_mut() {
            Some(c) => c.frames.flush().map_err(|e| capture_error(&c.path, e)),
            None => Ok(()),
        }
    }

    fn record(&mut self, frame: &[u8]) {
        if let Some(c) = self.capture.as_mut() {
            let ts_ns = self.clock.wall_ns(self.clock.elapsed_ns());
            c.frames.record(ts_ns, 0, frame, None);
        }
    }
}

impl<D: FrameDevice> AsRawFd for CapturedDevice<'_, D> {
    fn as_raw_fd(&self) -> RawFd {
        self.device.as_raw_fd()
    }
}

impl<D: FrameDevice> FrameDevice for CapturedDevice<'_, D> {
    fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let read = self.device.read_frame(buf)?;
        if let Some(n) = read {
            self.record(&buf[..n]);
        }
        Ok(read)
    }

    fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.device.write_frame(frame)?;
        self.record(frame);
        Ok(())
    }

    fn name(&self) -> &str {
        self.device.name()
    }
}

/// A capture failure as the run's I/O error, naming the file.
fn capture_error(path: &Path, e: CaptureError) -> io::Error {
    let kind = match &e {
        CaptureError::Io(io) => io.kind(),
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::pcap::{read_capture, CapturedInterface};

    /// A device with frames waiting to be read, that accepts writes until told to
    /// refuse them (a full queue).
    struct Queue {
        inbound: VecDeque<Vec<u8>>,
        written: Vec<Vec<u8>>,
        full: bool,
    }

    impl AsRawFd for Queue {
        fn as_raw_fd(&self) -> RawFd {
            -1
        }
    }

    impl FrameDevice for Queue {
        fn read_frame(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
            Ok(self.inbound.pop_front().map(|f| {
                buf[..f.len()].copy_from_slice(&f);
                f.len()
            }))
        }

        fn write_frame(&mut self, frame: &[u8]) -> io::Result<()> {
            if self.full {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.written.push(frame.to_vec());
            Ok(())
        }

        fn name(&self) -> &str {
            "q0"
        }
    }

    /// What crosses the device is captured in order, on one interface named after it;
    /// a frame the device refuses is not.
    #[test]
    fn a_captured_device_records_what_crosses_it() {
        let dir = std::env::temp_dir().join(format!("tcpknobs-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("q0.pcapng");
        let mut queue = Queue {
            inbound: VecDeque::from([vec![1; 60]]),
            written: Vec::new(),
            full: false,
        };
        {
            let mut device = CapturedDevice::new(&mut queue, Some(&path), Clock::start())
                .expect("capture created");
            let mut buf = [0; 100];
            assert_eq!(device.read_frame(&mut buf).expect("read"), Some(60));
            assert_eq!(device.read_frame(&mut buf).expect("read"), None);
            device.write_frame(&[2; 70]).expect("written");
            device.device.full = true;
            let refused = device.write_frame(&[3; 80]).expect_err("refused");
            assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
            device.flush().expect("flushed");
        }
        let contents = read_capture(&std::fs::read(&path).expect("file")).expect("readable");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            contents.interfaces,
            [CapturedInterface {
                name: "q0".into(),
                link_type: LinkType::Ethernet,
            }]
        );
        let frames: Vec<Vec<u8>> = contents.frames.into_iter().map(|f| f.data).collect();
        assert_eq!(frames, [vec![1; 60], vec![2; 70]]);
        assert_eq!(queue.written, [vec![2; 70]]);
    }

    /// A frame for a port never added is not written; the error waits for the runner,
    /// and the frames after it are still recorded.
    #[test]
    fn a_failed_write_is_kept_for_the_runner() {
        let mut capture = FrameCapture::new(Vec::new(), CaptureFormat::Pcap).expect("started");
        capture.add_port("a", LinkType::RawIp);
        capture.record(1, 1, &[0x45; 20], None);
        capture.record(2, 0, &[0x45; 20], None);
        assert!(matches!(
            capture.check(),
            Err(CaptureError::UnknownInterface(1))
        ));
        assert!(capture.check().is_ok());
        let bytes = capture.writer.into_inner();
        let contents = read_capture(&bytes).expect("readable");
        assert_eq!(contents.frames.len(), 1);
        assert_eq!(contents.frames[0].ts_ns, 2);
    }
}
