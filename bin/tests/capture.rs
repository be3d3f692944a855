//! `--pcap`: the format follows the file name, the capture holds every frame of the
//! run, and in pcapng each host is an interface and each dropped frame says why.
//! Captures are read back through `pcap-file`, a parser this crate does not own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_json, tcpknobs};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
use pcap_file::pcapng::PcapNgReader;
use pcap_file::DataLink;
use serde_json::Value;
use tcpknobs_stack::pcap::{read_capture, CaptureContents, CaptureFormat, LinkType};

/// A lossy run: of its 56 frames the link loses 17.
const LOSSY: &str = "--loss 0.3 --seed 3";
const LOSS_COMMENT: &str = "dropped by the link: loss";

/// A directory of the test's own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tcpknobs-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `run ARGS --pcap PATH --json`: the report and the capture's bytes.
fn run_captured(args: &str, path: &Path) -> (Value, Vec<u8>) {
    let r = run_json(&format!("{args} --pcap {}", path.to_str().expect("utf-8")));
    (r, std::fs::read(path).expect("capture written"))
}

fn read(bytes: &[u8]) -> CaptureContents {
    read_capture(bytes).expect("a readable capture")
}

/// The sender of a raw IPv4 frame: the last byte of its source address (client .1,
/// server .2, proxy .3).
fn sender(frame: &[u8]) -> u8 {
    frame[15]
}

#[test]
fn pcapng_has_an_interface_per_host_and_a_comment_on_each_lost_frame() {
    let dir = TempDir::new("pcapng");
    let (r, bytes) = run_captured(LOSSY, &dir.join("run.pcapng"));

    // Section header and interfaces as the crate's own reader sees them.
    let mut reader = PcapNgReader::new(&bytes[..]).expect("pcapng");
    while let Some(block) = reader.next_block() {
        block.expect("a well-formed block");
    }
    assert!(reader
        .section()
        .options
        .contains(&SectionHeaderOption::UserApplication("tcpknobs".into())));
    assert!(
        !reader.section().options.iter().any(|o| matches!(
            o,
            SectionHeaderOption::OS(_) | SectionHeaderOption::Hardware(_)
        )),
        "nothing about the machine: the same run gives the same file"
    );
    let mut names = Vec::new();
    for idb in reader.interfaces() {
        assert_eq!(idb.linktype, DataLink::RAW);
        assert!(
            idb.options
                .contains(&InterfaceDescriptionOption::IfTsResol(9)),
            "ns resolution: {idb:?}"
        );
        for o in &idb.options {
            if let InterfaceDescriptionOption::IfName(n) = o {
                names.push(n.to_string());
            }
        }
    }
    assert_eq!(names, ["client", "server"]);

    // Every frame either host put on the link (the wire's count, which also has the
    // frames no connection's figures claim, such as a reset to a closed port), on its
    // sender's interface.
    let contents = read(&bytes);
    let wire = &r["wire"];
    assert_eq!(
        wire["frames_sent"].as_u64(),
        Some(contents.frames.len() as u64)
    );
    for f in &contents.frames {
        assert_eq!(u32::from(sender(&f.data)), f.interface.0 + 1, "{f:?}");
    }

    // Every frame says why it was sent; the lost ones, and only those, that the
    // link lost them.
    let lost = contents
        .frames
        .iter()
        .filter(|f| {
            f.comment
                .as_deref()
                .is_some_and(|c| c.ends_with(LOSS_COMMENT))
        })
        .count() as u64;
    let commented = contents
        .frames
        .iter()
        .filter(|f| f.comment.is_some())
        .count();
    assert_eq!(wire["dropped_loss"].as_u64(), Some(lost));
    assert!(lost > 0, "the lossy run lost nothing");
    assert_eq!(commented, contents.frames.len());
    // Loss shows in the reasons too: frames sent again because of it.
    assert!(contents.frames.iter().any(|f| f
        .comment
        .as_deref()
        .is_some_and(|c| c.contains("retransmi"))));

    // Deterministic: the same run again gives the same bytes.
    let (_, again) = run_captured(LOSSY, &dir.join("again.pcapng"));
    assert!(again == bytes, "pcapng differs between identical runs");
}

/// A SYN-ACK sent for no connection (a SYN cookie: the server's SYN queue holds two
/// handshakes, `--backlog 1`, and six SYNs come at once) says why too, like every
/// other frame.
#[test]
fn cookie_syn_acks_say_why() {
    let dir = TempDir::new("cookies");
    let args = "--backlog 1 --strategy parallel --connections 6 --requests 6";
    let (r, bytes) = run_captured(args, &dir.join("run.pcapng"));
    let contents = read(&bytes);
    assert!(contents.frames.iter().all(|f| f.comment.is_some()));
    let cookies = contents
        .frames
        .iter()
        .filter(|f| {
            f.comment
                .as_deref()
                .is_some_and(|c| c.starts_with("SYN-ACK with a SYN cookie"))
        })
        .count() as u64;
    assert_eq!(
        r["listen"]["server"]["syncookies_sent"].as_u64(),
        Some(cookies)
    );
    assert_eq!(cookies, 4, "six SYNs at once, two kept");
}

/// Classic pcap is what it was: nanosecond magic, version 2.4, no time zone or
/// accuracy, snaplen 65535, LINKTYPE_RAW, records tiling the file; the same frames
/// and timestamps as the pcapng capture of the same run, without comments.
#[test]
fn classic_pcap_keeps_its_format() {
    let dir = TempDir::new("classic");
    let (_, pcap) = run_captured(LOSSY, &dir.join("run.pcap"));
    let (_, pcapng) = run_captured(LOSSY, &dir.join("run.pcapng"));
    #[rustfmt::skip]
    let header: [u8; 24] = [
        0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff, 0, 0, 101, 0, 0, 0,
    ];
    assert_eq!(pcap[..24], header);
    let classic = read(&pcap);
    let records: usize = classic.frames.iter().map(|f| 16 + f.data.len()).sum();
    assert_eq!(24 + records, pcap.len(), "records tile the file");
    assert_eq!(classic.format, CaptureFormat::Pcap);
    assert_eq!(classic.interfaces.len(), 1);
    assert_eq!(classic.interfaces[0].link_type, LinkType::RawIp);
    assert!(classic.frames.iter().all(|f| f.comment.is_none()));
    let strip = |c: &CaptureContents| -> Vec<(u64, Vec<u8>)> {
        c.frames.iter().map(|f| (f.ts_ns, f.data.clone())).collect()
    };
    assert_eq!(strip(&classic), strip(&read(&pcapng)));
    let (_, again) = run_captured(LOSSY, &dir.join("again.pcap"));
    assert!(again == pcap, "pcap differs between identical runs");
}

/// A proxy is a host of its own: three interfaces.
#[test]
fn pcapng_with_a_proxy_has_three_interfaces() {
    let dir = TempDir::new("pcapng-proxy");
    let (_, bytes) = run_captured("--via-proxy smart --requests 2", &dir.join("p.pcapng"));
    let contents = read(&bytes);
    let names: Vec<&str> = contents
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["client", "server", "proxy"]);
    for i in 0..3 {
        assert!(
            contents.frames.iter().any(|f| f.interface.0 == i),
            "interface {i} sent nothing"
        );
    }
}

/// Cross-check with Wireshark's own parser: tshark shows the loss comments. Returns
/// early, saying so on stderr, when tshark is not installed.
#[test]
fn tshark_shows_the_comments_if_installed() {
    let dir = TempDir::new("tshark");
    let path = dir.join("run.pcapng");
    let (r, _) = run_captured(LOSSY, &path);
    let out = match Command::new("tshark")
        .args([
            "-r",
            path.to_str().expect("utf-8"),
            "-T",
            "fields",
            "-e",
            "frame.comment",
        ])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("tshark not installed: skipping the tshark cross-check of frame comments");
            return;
        }
        Err(e) => panic!("tshark: {e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lost = text.lines().filter(|l| l.ends_with(LOSS_COMMENT)).count() as u64;
    assert_eq!(r["wire"]["dropped_loss"].as_u64(), Some(lost), "{text}");
    assert_eq!(
        text.lines().count() as u64,
        r["wire"]["frames_sent"].as_u64().unwrap()
    );
}

/// An output file that cannot be created stops the run before it starts, naming the
/// flag, the file and the OS's reason: exit status 2 (the command line asked for
/// something that cannot be done), no report. The same for every file a run writes.
#[test]
fn unwritable_outputs_fail_before_the_run() {
    for (flag, file) in [
        ("--pcap", "x.pcapng"),
        ("--pcap", "x.pcap"),
        ("--trace", "x.jsonl"),
        ("--timeline", "x.svg"),
        ("--har", "x.har"),
    ] {
        let path = format!("/nonexistent-dir/{file}");
        let out = tcpknobs(&["run", flag, &path]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "tcpknobs: error: {flag} '{path}': cannot create the file: \
                 No such file or directory (os error 2)\n"
            ),
            "{flag}"
        );
        assert!(out.stdout.is_empty(), "{flag}");
    }
}
