//! TAP mode against real peers: the Linux kernel's TCP, curl and python3's http.server.
//!
//! Each test makes its own network namespace (named after this process and the test),
//! a TAP in it with the kernel's side at 10.77.0.1/24, runs every peer inside that
//! namespace, and deletes the namespace afterwards (a Drop guard, also on failure).
//! Traffic never leaves the namespace. Without root, /dev/net/tun, `ip` or a peer
//! program, a test prints "SKIPPED: <why>" and passes. Every wait is bounded.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tcpknobs_http::payload;
use tcpknobs_stack::pcap::{read_capture, CaptureFormat, CapturedInterface, LinkType};

const BIN: &str = env!("CARGO_BIN_EXE_tcpknobs");
const KERNEL: &str = "10.77.0.1";
const LAB: &str = "10.77.0.2";
const LAB_CIDR: &str = "10.77.0.2/24";
/// A file that is not the pattern: only its length is checked.
const HELLO: &[u8] = b"hello from the kernel's side\n";
/// Longest any single step may take before the test fails instead of hanging: a
/// guard against hangs, not a measurement, so generous enough for a machine whose
/// cores are all busy.
const STEP: Duration = Duration::from_secs(60);

// ---- when to skip -------------------------------------------------------------

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why this test cannot run here, if it cannot; `peers` are the programs it needs.
fn skip_reason(peers: &[&str]) -> Option<String> {
    if effective_uid() != Some(0) {
        return Some("needs root (network namespaces and a TAP device)".into());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun is missing (no TUN/TAP support)".into());
    }
    for program in std::iter::once(&"ip").chain(peers) {
        if !have(program) {
            return Some(format!("`{program}` is not installed"));
        }
    }
    let help = Command::new(BIN).args(["serve", "--help"]).output().ok()?;
    if String::from_utf8_lossy(&help.stderr).contains("unrecognized subcommand") {
        return Some("this tcpknobs has no `serve`/`get` subcommands yet".into());
    }
    None
}

/// One TAP test at a time: they are real-time exchanges with bounded waits, and on a
/// two-core machine a sibling test's debug-build stack processing a 100 kB burst
/// delays timers by several ms.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Skip (print why, pass) unless the machine can run a TAP test with `peers`; else
/// hold the one-at-a-time lock for the rest of the test.
macro_rules! skip_unless_ready {
    ($($peer:expr),*) => {
        if let Some(why) = skip_reason(&[$($peer),*]) {
            eprintln!("SKIPPED: {why}");
            return;
        }
        let _one_at_a_time = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    };
}

// ---- namespace and processes ----------------------------------------------------

/// A namespace with TAP `tk0` (kernel side 10.77.0.1/24), removed on drop with
/// everything still running in it.
struct Netns {
    name: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    fn create(tag: &str) -> Netns {
        remove_stale_namespaces();
        let ns = Netns {
            name: format!("tktest-{}-{tag}", std::process::id()),
        };
        let n = ns.name.as_str();
        let steps: [&[&str]; 6] = [
            &["netns", "add", n],
            &["-n", n, "tuntap", "add", "dev", "tk0", "mode", "tap"],
            &["-n", n, "addr", "add", "10.77.0.1/24", "dev", "tk0"],
            &["-n", n, "link", "set", "lo", "up"],
            &["-n", n, "link", "set", "tk0", "up"],
            // The kernel's minimum RTO (200 ms) would race a 200 ms delayed ACK with
            // retransmissions; a 1 s floor keeps every exchange here free of them.
            &[
                "-n",
                n,
                "route",
                "replace",
                "10.77.0.0/24",
                "dev",
                "tk0",
                "src",
                KERNEL,
                "rto_min",
                "1000ms",
            ],
        ];
        for step in steps {
            if let Err(e) = ip(step) {
                panic!("setting up namespace {n}: {e}");
            }
        }
        // IPv6 chatter (router solicitations, MLD) would only clutter captures.
        let _ = ns
            .exec(&["sysctl", "-qw", "net.ipv6.conf.tk0.disable_ipv6=1"])
            .output();
        ns
    }

    /// `ip netns exec NAME args...`; `ip` execs the program, so the child's pid is
    /// the program's.
    fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_namespace_processes(&self.name);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn kill_namespace_processes(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if pid.bytes().all(|b| b.is_ascii_digit()) {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

/// Namespaces left by a test process that no longer exists (killed mid-test).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("tktest-")
            .and_then(|r| r.split('-').next())
        else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit()) && !Path::new("/proc").join(pid).exists() {
            kill_namespace_processes(name);
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// A child process killed (if still running) and reaped on drop.
struct Running {
    child: Child,
    what: String,
}

impl Running {
    fn spawn(mut command: Command, what: &str) -> Running {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what}: {e}"));
        Running {
            child,
            what: what.to_string(),
        }
    }

    /// Wait for a line of stderr (or stdout, `from_stdout`) containing `needle`.
    fn wait_for_line(&mut self, needle: &str, from_stdout: bool) -> String {
        let (tx, rx) = mpsc::channel();
        let stream: Box<dyn Read + Send> = if from_stdout {
            Box::new(self.child.stdout.take().expect("stdout piped"))
        } else {
            Box::new(self.child.stderr.take().expect("stderr piped"))
        };
        let needle_owned = needle.to_string();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(&needle_owned) {
                    let _ = tx.send(Ok(seen.clone()));
                    // Keep draining so the child never blocks on a full pipe.
                    seen.clear();
                }
            }
            let _ = tx.send(Err(seen));
        });
        match rx.recv_timeout(STEP) {
            Ok(Ok(seen)) => seen,
            Ok(Err(seen)) => panic!(
                "{} ended before printing {needle:?}; it printed:\n{seen}",
                self.what
            ),
            Err(_) => panic!("{} did not print {needle:?} within {STEP:?}", self.what),
        }
    }

    /// SIGTERM, then the exit status and output (of the streams not taken).
    fn terminate(self) -> Output {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.finish()
    }

    /// Wait at most STEP for the exit, reading the output meanwhile (a child blocked
    /// on a full pipe would never exit).
    fn finish(mut self) -> Output {
        let drain = |s: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                if let Some(mut s) = s {
                    let _ = s.read_to_end(&mut v);
                }
                v
            })
        };
        let out = drain(self.child.stdout.take().map(|s| Box::new(s) as _));
        let err = drain(self.child.stderr.take().map(|s| Box::new(s) as _));
        let deadline = Instant::now() + STEP;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => panic!("{} did not exit within {STEP:?}", self.what),
            }
        };
        Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run to completion within STEP (killed and failed otherwise).
fn run_bounded(command: Command, what: &str) -> Output {
    Running::spawn(command, what).finish()
}

fn pattern(len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    payload::fill(0, &mut v);
    v
}

/// A fresh directory, removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tcpknobs-tap-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `tcpknobs COMMAND` on the namespace's TAP at the lab's address, with JSON output and
/// a time limit, then `extra`.
fn lab_command<'a>(command: &'a str, max_time: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        BIN,
        command,
        "--tap",
        "tk0",
        "--ip",
        LAB_CIDR,
        "--json",
        "--max-time",
        max_time,
    ];
    args.extend_from_slice(extra);
    args
}

/// `tcpknobs sweep` on the namespace's TAP, `extra` after the set-up flags.
fn sweep_command<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![BIN, "sweep", "--tap", "tk0", "--ip", LAB_CIDR];
    args.extend_from_slice(extra);
    args
}

fn tcpknobs_serve(ns: &Netns, extra: &[&str]) -> Running {
    let args = lab_command("serve", "30s", extra);
    let mut serve = Running::spawn(ns.exec(&args), "tcpknobs serve");
    serve.wait_for_line("serving http://10.77.0.2:80/", false);
    serve
}

/// `tcpknobs get` on the namespace's TAP, bounded, `extra` after the set-up flags;
/// its output and its JSON report.
fn tcpknobs_get(ns: &Netns, extra: &[&str]) -> (Output, Value) {
    let args = lab_command("get", "10s", extra);
    let out = run_bounded(ns.exec(&args), "tcpknobs get");
    let what = format!(
        "get --json (stderr: {})",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&String::from_utf8_lossy(&out.stdout), &what);
    (out, r)
}

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}; output:\n{text}"))
}

/// Every field of a `get` or `serve` report is in docs/json.md: in the command's own
/// section, the `tap` object's, or `run`'s (whose names and meanings they share).
fn assert_documented(report: &Value, command: &str) {
    let mut documented = common::documented_fields(&format!("## Fields of `{command} --json`"));
    documented.extend(common::documented_fields("## The `tap` object"));
    documented.extend(common::documented_fields("## Fields of `run --json`"));
    for path in common::field_paths(report) {
        // `tap.added` has the fields of `run`'s `link`, `tap.tx` and `tap.rx` those of
        // its `wire`.
        let alias = [
            ("tap.added.", "link."),
            ("tap.tx.", "wire."),
            ("tap.rx.", "wire."),
        ]
        .iter()
        .find_map(|(from, to)| path.strip_prefix(from).map(|rest| format!("{to}{rest}")))
        .unwrap_or_else(|| path.clone());
        assert!(
            documented.contains(&alias),
            "`{command} --json` emits {path}, which docs/json.md does not document"
        );
    }
}

/// `python3 -m http.server PORT` on the kernel's side of the namespace, serving `root`,
/// once it is listening.
fn python_http_server(ns: &Netns, root: &Path, port: &str, protocol: &str) -> Running {
    let root = root.to_str().expect("utf-8 path");
    let mut s = Running::spawn(
        ns.exec(&[
            "python3",
            "-u",
            "-m",
            "http.server",
            port,
            "--bind",
            KERNEL,
            "--directory",
            root,
            "--protocol",
            protocol,
        ]),
        "python3 -m http.server",
    );
    s.wait_for_line("Serving HTTP", true);
    s
}

/// A namespace of its own (`tag`) whose kernel serves 1 MiB of the pattern at `url`,
/// from python3's http.server (HTTP/1.1). Fields drop in order: the server stops
/// before its directory and the namespace go.
struct BigFile {
    _server: Running,
    _dir: TempDir,
    ns: Netns,
    url: String,
}

fn big_file_from_python(tag: &str) -> BigFile {
    let ns = Netns::create(tag);
    let dir = TempDir::new(tag);
    std::fs::write(dir.join("big.bin"), pattern(1 << 20)).expect("file");
    BigFile {
        _server: python_http_server(&ns, &dir, "8000", "HTTP/1.1"),
        _dir: dir,
        ns,
        url: format!("http://{KERNEL}:8000/big.bin"),
    }
}

/// In a namespace of its own (`tag`), `get` with `flags` of a small file `count` times
/// from python3's http.server (HTTP/1.0); it must succeed with every response a 200.
/// The report and its transactions.
fn get_hello_from_python(tag: &str, flags: &[&str], count: usize) -> (Value, Vec<Value>) {
    let ns = Netns::create(tag);
    let dir = TempDir::new(tag);
    std::fs::write(dir.join("hello.txt"), HELLO).expect("file");
    let _server = python_http_server(&ns, &dir, "8000", "HTTP/1.0");
    let url = format!("http://{KERNEL}:8000/hello.txt");
    let mut args = flags.to_vec();
    args.extend(std::iter::repeat_n(url.as_str(), count));
    let (out, r) = tcpknobs_get(&ns, &args);
    assert!(
        out.status.success(),
        "get failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["end"], "done", "{r}");
    let txs = r["transactions"].as_array().expect("transactions").clone();
    assert_eq!(txs.len(), count, "{r}");
    for t in &txs {
        assert_eq!(t["status"], 200, "{t}");
    }
    (r, txs)
}

/// A millisecond field of a transaction report.
fn ms(t: &Value, field: &str) -> f64 {
    t[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing: {t}"))
}

// ---- tests ------------------------------------------------------------------------

/// curl (the kernel's TCP) fetches two /bytes/N bodies from our server on one
/// connection; every byte is the pattern, and the server's trace has both responses.
#[test]
fn curl_reuses_one_connection_to_our_server() {
    skip_unless_ready!("curl");
    let ns = Netns::create("curl");
    let dir = TempDir::new("curl");
    let trace = dir.join("serve.jsonl");
    let timeline = dir.join("serve.svg");
    let serve = tcpknobs_serve(
        &ns,
        &[
            "--trace",
            trace.to_str().expect("utf-8 path"),
            "--timeline",
            timeline.to_str().expect("utf-8 path"),
        ],
    );
    let (a, b) = (dir.join("a"), dir.join("b"));
    let out = run_bounded(
        ns.exec(&[
            "curl",
            "-sS",
            "-v",
            "--max-time",
            "10",
            "-o",
            a.to_str().expect("utf-8 path"),
            "-o",
            b.to_str().expect("utf-8 path"),
            &format!("http://{LAB}/bytes/100000"),
            &format!("http://{LAB}/bytes/70001"),
        ]),
        "curl",
    );
    let verbose = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed:\n{verbose}");
    assert!(
        verbose.contains("Re-using existing connection"),
        "curl opened a second connection:\n{verbose}"
    );
    assert!(std::fs::read(&a).expect("first body") == pattern(100_000));
    assert!(std::fs::read(&b).expect("second body") == pattern(70_001));

    let out = serve.terminate();
    assert!(out.status.success(), "serve failed");
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    assert_eq!(report["end"], "stopped");
    assert_eq!(report["responses"], 2);
    let conns = report["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(
        conns[0]["requests"], 2,
        "requests answered on the connection"
    );
    let body_and_heads = conns[0]["bytes_out"].as_u64().expect("bytes_out");
    assert!(body_and_heads > 170_001, "{body_and_heads}");
    assert_eq!(conns[0]["resets_out"], 0);
    assert_documented(&report, "serve");
    // `--trace`: the server's own events, both responses' heads among them.
    let heads = std::fs::read_to_string(&trace)
        .expect("the trace")
        .lines()
        .map(|l| json(l, "a trace line"))
        .filter(|e| e["kind"] == "http" && e["http"] == "response_head")
        .count();
    assert_eq!(heads, 2, "response heads in the trace");
    // `--timeline`: the connection's congestion window as a line.
    let svg = std::fs::read_to_string(&timeline).expect("the timeline");
    let doc = roxmltree::Document::parse(&svg).expect("the timeline is XML");
    assert!(
        doc.descendants()
            .any(|n| n.has_tag_name("path") && n.attribute("class") == Some("cwnd")),
        "no window line: {svg}"
    );
}

/// A path slower than the 1 s initial RTO, with the kernel as the client: our
/// SYN-ACK is retransmitted once, spuriously, and that is all. No RST goes on the
/// wire (the congestion-window layer leaves an unsynchronized connection alone),
/// and curl gets its body.
#[test]
fn serve_over_a_path_slower_than_the_initial_rto() {
    skip_unless_ready!("curl");
    let ns = Netns::create("slow");
    let serve = tcpknobs_serve(&ns, &["--rtt", "1500ms"]);
    let out = run_bounded(
        ns.exec(&[
            "curl",
            "-sS",
            "--max-time",
            "12",
            "-o",
            "/dev/null",
            &format!("http://{LAB}/bytes/1000"),
        ]),
        "curl",
    );
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = serve.terminate();
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    assert_eq!(report["responses"], 1);
    let conns = report["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert_eq!(conns[0]["resets_out"], 0, "{:?}", conns[0]);
    assert!(
        conns[0]["syn_retransmits"]
            .as_u64()
            .expect("syn_retransmits")
            >= 1
    );
}

/// The kernel's TCP takes our SYN cookies. 30 python3 clients connect at once to a
/// server with a backlog of 8 behind 400 ms of added round trip, so every SYN
/// arrives before the first handshake can complete: 9 fit in the SYN queue and the
/// other 21 are answered with cookies (MSS only: the kernel then turns off window
/// scaling, SACK and timestamps for them). The kernel's ACKs bring the cookies back,
/// and each client gets its 1,000-byte response whole. ACKs that find the accept
/// queue full (9 waiting: they arrive together, before the server's next accept)
/// are dropped; the kernel resends its request, and the cookie with it, on its
/// retransmission timer, so a few rounds of backoff pass before all are in.
#[test]
fn kernel_clients_connect_through_syn_cookies() {
    skip_unless_ready!("python3");
    let ns = Netns::create("cookie");
    let serve = tcpknobs_serve(&ns, &["--backlog", "8", "--rtt", "400ms"]);
    let script = format!(
        "import select, socket, time\n\
         socks = []\n\
         for i in range(30):\n\
         \x20   s = socket.socket()\n\
         \x20   s.setblocking(False)\n\
         \x20   s.connect_ex(('{LAB}', 80))\n\
         \x20   socks.append(s)\n\
         pending, deadline = set(socks), time.time() + 20\n\
         while pending and time.time() < deadline:\n\
         \x20   _, w, _ = select.select([], list(pending), [], 1)\n\
         \x20   pending -= set(w)\n\
         whole = 0\n\
         for s in socks:\n\
         \x20   s.setblocking(True)\n\
         \x20   s.settimeout(20)\n\
         \x20   s.sendall(b'GET /bytes/1000 HTTP/1.1\\r\\nHost: lab\\r\\nConnection: close\\r\\n\\r\\n')\n\
         for s in socks:\n\
         \x20   buf = b''\n\
         \x20   while True:\n\
         \x20       d = s.recv(65536)\n\
         \x20       if not d:\n\
         \x20           break\n\
         \x20       buf += d\n\
         \x20   head, _, body = buf.partition(b'\\r\\n\\r\\n')\n\
         \x20   whole += head.startswith(b'HTTP/1.1 200') and len(body) == 1000\n\
         print(whole)\n"
    );
    let clients = run_bounded(ns.exec(&["python3", "-c", &script]), "python3 clients");
    let out = serve.terminate();
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    assert!(
        clients.status.success(),
        "python3 failed: {}\nserver: {} {:#}",
        String::from_utf8_lossy(&clients.stderr),
        report["listen"],
        report["connections"]
    );
    assert_eq!(String::from_utf8_lossy(&clients.stdout).trim(), "30");
    assert_eq!(report["responses"], 30);
    let listen = &report["listen"];
    assert_eq!(listen["syncookies_sent"], 21, "{listen}");
    assert_eq!(listen["syncookies_failed"], 0, "{listen}");
    let recv = listen["syncookies_recv"].as_u64().expect("syncookies_recv");
    let overflows = listen["listen_overflows"]
        .as_u64()
        .expect("listen_overflows");
    // Each cookie came back once to make its connection, and once more for each of
    // its ACKs the full accept queue dropped (the overflows also count the stateful
    // handshakes' dropped ACKs).
    assert!(recv >= 21 && recv - 21 <= overflows, "{listen}");
    assert_eq!(
        report["connections"].as_array().expect("connections").len(),
        30
    );
}

/// The kernel's count of frames it dropped on their way to the TAP's reader
/// (`tx_dropped` of tk0 in the namespace, from `ip -s link`).
fn kernel_tx_dropped(ns: &Netns) -> u64 {
    let out = run_bounded(
        ns.exec(&["ip", "-s", "-s", "link", "show", "tk0"]),
        "ip -s link",
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // "TX:  bytes packets errors dropped carrier collsns" and the numbers below it.
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("TX:"))
        .unwrap_or_else(|| panic!("no TX counters in:\n{text}"));
    let column = lines[at]
        .split_whitespace()
        .position(|w| w == "dropped")
        .expect("a dropped column");
    lines[at + 1]
        .split_whitespace()
        .nth(column - 1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no TX dropped count in:\n{text}"))
}

/// Frames the kernel sends while the TAP's queue toward tcpknobs is full are dropped
/// before tcpknobs can read them, which only the kernel's counters show; `serve`
/// reports them as the kernel counts them, and says so while it runs. The queue is
/// made 4 frames long and `serve` is stopped (SIGSTOP) while the kernel sends it 20
/// UDP datagrams: 4 wait in the queue and 16 are dropped.
#[test]
fn frames_the_kernel_drops_at_the_taps_queue_are_reported() {
    skip_unless_ready!("python3");
    let ns = Netns::create("qlen");
    ip(&["-n", &ns.name, "link", "set", "tk0", "txqueuelen", "4"])
        .unwrap_or_else(|e| panic!("{e}"));
    // Its stderr is read once, below, for the warning; that it serves shows in the
    // fetch, which tries again until it does.
    let mut serve = Running::spawn(ns.exec(&lab_command("serve", "30s", &[])), "tcpknobs serve");
    // One request first, so the kernel knows our MAC address and sends the datagrams
    // at once (unresolved, it would hold them in its neighbour queue instead).
    let fetch = format!(
        "import urllib.request, time\n\
         for attempt in range(100):\n\
         \x20   try:\n\
         \x20       body = urllib.request.urlopen('http://{LAB}/bytes/10', timeout=20).read()\n\
         \x20       break\n\
         \x20   except OSError:\n\
         \x20       time.sleep(0.1)\n\
         assert len(body) == 10\n\
         time.sleep(0.3)\n"
    );
    let fetched = run_bounded(ns.exec(&["python3", "-c", &fetch]), "python3 fetch");
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let before = kernel_tx_dropped(&ns);
    let pid = serve.child.id().to_string();
    let signal = |sig: &str| {
        let status = Command::new("kill").args([sig, &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {sig} {pid}");
    };
    signal("-STOP");
    // A dropped datagram may come back as ENOBUFS: that is the drop, not a failure.
    let burst = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for i in range(20):\n\
         \x20   try:\n\
         \x20       s.sendto(b'x' * 100, ('{LAB}', 9))\n\
         \x20   except OSError:\n\
         \x20       pass\n"
    );
    let sent = run_bounded(ns.exec(&["python3", "-c", &burst]), "python3 burst");
    let after = kernel_tx_dropped(&ns);
    signal("-CONT");
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // Said while serving, within a second or so of the drops.
    let said = serve.wait_for_line("warning: while serving", false);
    assert!(
        said.contains(
            "the kernel dropped 16 frames at tk0's queue toward this host (txqueuelen 4,"
        ),
        "{said}"
    );
    let out = serve.terminate();
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    assert_documented(&report, "serve");
    assert_eq!(after - before, 16, "the kernel's own count");
    let drops = &report["tap"]["kernel_drops"];
    assert_eq!(drops["queue_len"], 4, "{drops}");
    assert_eq!(drops["to_host"], 16, "{drops}");
    assert_eq!(drops["from_host"], 0, "{drops}");
    assert_eq!(report["responses"], 1);
}

/// The resident memory of `pid` once it is at most `bound`, waiting up to 30 s for it
/// (on a machine whose cores are all busy the last aborts and frees can lag the
/// client's exit by seconds; the wait ends as soon as the bound is met), or the last
/// reading.
fn resident_settled(pid: u32, bound: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = resident_bytes(pid, "VmRSS:");
        if now <= bound || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The resident memory of a process, from /proc, in bytes.
fn resident_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a kB figure");
    kb * 1024
}

/// A server left running gives its memory back: 200 downloads of 1 MB from curl, ten
/// connections at a time, each closed by the server (`Connection: close`), take
/// `serve` up by the buffers of the connections open at once, and once they are done
/// its resident memory is back within 20 MB of what it was idle (socket buffers are
/// unmapped with their sockets; a closed connection keeps only its TIME_WAIT tuple and
/// its report row).
#[test]
fn serve_gives_memory_back_after_a_load() {
    skip_unless_ready!("curl");
    let ns = Netns::create("mem");
    let serve = tcpknobs_serve(&ns, &[]);
    let pid = serve.child.id();
    let idle = resident_bytes(pid, "VmRSS:");
    let url = format!("http://{LAB}/bytes/1000000");
    let mut args = vec![
        "curl",
        "-sS",
        "--fail",
        "-Z",
        "--parallel-max",
        "10",
        "--max-time",
        "60",
        "-H",
        "Connection: close",
    ];
    for _ in 0..200 {
        args.extend_from_slice(&["-o", "/dev/null", &url]);
    }
    let out = run_bounded(ns.exec(&args), "curl");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = resident_settled(pid, idle + 20 * 1024 * 1024);
    let peak = resident_bytes(pid, "VmHWM:");
    eprintln!("serve RSS: idle {idle} B, peak {peak} B, after {after} B");
    assert!(
        after <= idle + 20 * 1024 * 1024,
        "idle {idle} B, after the load {after} B (peak {peak} B)"
    );
    let out = serve.terminate();
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    assert_eq!(report["responses"], 200);
}

/// Clients that stop reading cost a server nothing for long: 100 kernel clients ask
/// for 100 MB each and never read. The server fills what their windows and its own
/// buffers take (about 4 MiB each: two 2 MiB buffers), then, `--server-send-timeout` (2 s here) after its last write that
/// went through, aborts each (nginx's `send_timeout` with `reset_timedout_connection`),
/// and its resident memory is back within 20 MB of idle.
#[test]
fn serve_aborts_clients_that_stop_reading() {
    skip_unless_ready!("python3");
    let ns = Netns::create("stall");
    let serve = tcpknobs_serve(&ns, &["--server-send-timeout", "2s"]);
    let pid = serve.child.id();
    let idle = resident_bytes(pid, "VmRSS:");
    let script = format!(
        "import socket, time\n\
         socks = []\n\
         for i in range(100):\n\
         \x20   s = socket.socket()\n\
         \x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\n\
         \x20   s.connect(('{LAB}', 80))\n\
         \x20   s.sendall(b'GET /bytes/100000000 HTTP/1.1\\r\\nHost: lab\\r\\n\\r\\n')\n\
         \x20   socks.append(s)\n\
         time.sleep(10)\n"
    );
    let out = run_bounded(ns.exec(&["python3", "-c", &script]), "python3 non-readers");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = resident_settled(pid, idle + 20 * 1024 * 1024);
    let peak = resident_bytes(pid, "VmHWM:");
    eprintln!("serve RSS: idle {idle} B, peak {peak} B, after {after} B");
    let out = serve.terminate();
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    let conns = report["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), 100);
    let aborted = conns.iter().filter(|c| c["resets_out"] == 1).count();
    assert_eq!(aborted, 100, "every stalled client aborted once");
    assert!(
        after <= idle + 20 * 1024 * 1024,
        "idle {idle} B, after the aborts {after} B (peak {peak} B)"
    );
}

/// Our client fetches files from python3's http.server, serial over HTTP/1.0 and
/// persistent over HTTP/1.1; the files hold the pattern, so the client's byte-by-byte
/// check compares every byte with the file served.
#[test]
fn get_from_python_http_server() {
    skip_unless_ready!("python3");
    let ns = Netns::create("py");
    let dir = TempDir::new("py");
    std::fs::create_dir_all(dir.join("bytes")).expect("dir");
    for len in [100_000, 3_000] {
        std::fs::write(dir.join("bytes").join(len.to_string()), pattern(len)).expect("file");
    }
    std::fs::write(dir.join("hello.txt"), HELLO).expect("file");
    let servers: Vec<Running> = [("8000", "HTTP/1.0"), ("8001", "HTTP/1.1")]
        .into_iter()
        .map(|(port, protocol)| python_http_server(&ns, &dir, port, protocol))
        .collect();

    let get = |strategy: &str, port: u16| -> Value {
        let urls: Vec<String> = ["/bytes/100000", "/hello.txt", "/bytes/3000"]
            .iter()
            .map(|p| format!("http://{KERNEL}:{port}{p}"))
            .collect();
        let mut args = vec!["--strategy", strategy];
        args.extend(urls.iter().map(String::as_str));
        let (out, r) = tcpknobs_get(&ns, &args);
        assert!(
            out.status.success(),
            "get failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        r
    };

    for (strategy, port, connections) in [("serial", 8000, 3), ("persistent", 8001, 1)] {
        let r = get(strategy, port);
        assert_eq!(r["end"], "done", "{strategy}: {r}");
        assert_eq!(r["failed"], 0, "{strategy}: {r}");
        let txs = r["transactions"].as_array().expect("transactions");
        let sizes = [100_000, HELLO.len() as u64, 3_000];
        for (t, size) in txs.iter().zip(sizes) {
            assert_eq!(t["status"], 200, "{strategy}: {t}");
            assert_eq!(t["bytes"], size, "{strategy}: {t}");
            assert_eq!(t["error"], Value::Null, "{strategy}: {t}");
        }
        let reused: Vec<bool> = txs.iter().map(|t| t["reused"] == true).collect();
        assert_eq!(
            reused,
            [false, connections == 1, connections == 1],
            "{strategy}"
        );
        let conns = r["connections"].as_array().expect("connections");
        assert_eq!(conns.len(), connections, "{strategy}: {conns:?}");
        // When a loaded machine answers a burst late, the kernel's tail-loss probe
        // resends the last segment and FIN after our close; that retransmission is
        // not new data, so it must not draw an RST (Linux resets only for data
        // beyond RCV.NXT).
        for c in conns {
            assert_eq!(c["resets_in"], 0, "{strategy}: {c}");
            assert_eq!(c["resets_out"], 0, "{strategy}: {c}");
        }
        assert_documented(&r, "get");
    }
    drop(servers);
}

/// `get` of a port nothing listens on: the kernel refuses the connection, the run
/// completes, and the exit status (3) says that some transactions failed.
#[test]
fn get_from_a_refused_port_exits_3() {
    skip_unless_ready!();
    let ns = Netns::create("refused");
    let (out, r) = tcpknobs_get(&ns, &[&format!("http://{KERNEL}:9/")]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["end"], "done", "{r}");
    assert_eq!(r["failed"], 1, "{r}");
    assert_eq!(
        r["transactions"][0]["error_kind"]["kind"],
        "connection_refused"
    );
    // The kernel's side of it: the one reset that refused our SYN.
    assert_eq!(r["tap"]["kernel_tcp"]["out_rsts"], 1, "{}", r["tap"]);
}

/// The kernel's TCP counters of the namespace (`nstat`'s), read from inside it.
fn kernel_nstat(ns: &Netns) -> Value {
    let script = "import json\n\
                  d = {}\n\
                  for path in ('/proc/net/snmp', '/proc/net/netstat'):\n\
                  \x20   lines = open(path).read().splitlines()\n\
                  \x20   for names, values in zip(lines[::2], lines[1::2]):\n\
                  \x20       group = names.split(':')[0]\n\
                  \x20       for n, v in zip(names.split()[1:], values.split()[1:]):\n\
                  \x20           d[group + n] = int(v)\n\
                  print(json.dumps(d))\n";
    let out = run_bounded(ns.exec(&["python3", "-c", script]), "python3 nstat");
    json(&String::from_utf8_lossy(&out.stdout), "nstat")
}

/// A kernel server on port 8081 that listens with a backlog of 1 and accepts nothing
/// for its first second, then answers each request with `ok` and closes.
fn slow_listener(ns: &Netns) -> Running {
    let server = format!(
        "import socket, time\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{KERNEL}', 8081))\n\
         s.listen(1)\n\
         print('listening', flush=True)\n\
         time.sleep(1)\n\
         while True:\n\
         \x20   c, _ = s.accept()\n\
         \x20   buf = b''\n\
         \x20   while b'\\r\\n\\r\\n' not in buf:\n\
         \x20       buf += c.recv(4096)\n\
         \x20   c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok')\n\
         \x20   c.close()\n"
    );
    let mut python = Running::spawn(ns.exec(&["python3", "-c", &server]), "python3 server");
    python.wait_for_line("listening", true);
    python
}

/// A second `get` with the same `--seed` reuses the first one's port. The first was
/// killed in the middle of its download, so the kernel still holds that connection,
/// established, and answers the new SYN with the old connection's ACK (RFC 5961 §4.2's
/// challenge ACK, Linux `tcp_validate_incoming`), whatever the SYN's sequence number.
/// Our client answers an ACK that does not acknowledge its SYN with an RST at the ACK's
/// acknowledgment number (RFC 9293 §3.10.7.3), which is the old connection's RCV.NXT,
/// so the kernel drops the old connection; the SYN timer sends the SYN again 1 s later:
/// one SYN timeout, then the exchange. The client used to take the old ACK's numbers as
/// its own and drop everything after, until `--max-time`. (A kernel in TIME_WAIT does
/// the same to a SYN not above the old sequence numbers, which a reused seed's often
/// is; how far above it is depends on timing, so this test does not use it.)
#[test]
fn get_again_with_the_same_seed_meets_the_kernels_old_connection_and_recovers() {
    skip_unless_ready!("python3");
    let big = big_file_from_python("reseed");
    let (ns, url) = (&big.ns, &big.url);
    // 1 MiB at 200 ms added: a download of several round trips, cut after its first.
    let args = lab_command("get", "30s", &["--seed", "5", "--rtt", "200ms", url]);
    let first = Running::spawn(ns.exec(&args), "tcpknobs get (to be killed)");
    let deadline = Instant::now() + STEP;
    loop {
        let ss = run_bounded(
            ns.exec(&["ss", "-Htn", "state", "established", "( sport = :8000 )"]),
            "ss",
        );
        if !String::from_utf8_lossy(&ss.stdout).trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no connection within {STEP:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: nothing is closed, and the kernel keeps its side.
    drop(first);
    let (out, again) = tcpknobs_get(ns, &["--seed", "5", url]);
    assert_eq!(out.status.code(), Some(0), "{again}");
    assert_eq!(again["succeeded"], 1, "{again}");
    let conn = &again["connections"][0];
    assert_eq!(
        (&conn["syn_retransmits"], &conn["resets_out"]),
        (&1.into(), &1.into()),
        "{conn}"
    );
    let connect = ms(&again["transactions"][0], "connect_ms");
    assert!((1000.0..3000.0).contains(&connect), "connect_ms {connect}");
}

/// Data that arrives out of order is kept, however many holes the losses leave, as
/// Linux keeps it: 1 MB from python3's http.server with 20 ms and 5 % loss added each
/// way loses about 36 of the kernel's 720 data segments on their way in, and the kernel
/// resends about that many (its own count, `tap.kernel_tcp.retrans_segs`, against the
/// frames our side dropped, `tap.rx.dropped_loss`). When the receiver kept at most four
/// out-of-order ranges (smoltcp's default) and dropped segments that would open a
/// fifth, the kernel had to resend 7 to 9 times as many (314-492 for 42-65 lost, four
/// seeds). The bound leaves room for a spurious resend or a probe on a loaded machine.
#[test]
fn get_over_a_lossy_path_keeps_what_arrives_out_of_order() {
    skip_unless_ready!("python3");
    let big = big_file_from_python("ooo");
    let (ns, url) = (&big.ns, &big.url);
    let (_, r) = tcpknobs_get(ns, &["--rtt", "20ms", "--loss", "5%", "--seed", "1", url]);
    assert_eq!(r["succeeded"], 1, "{r}");
    let lost = r["tap"]["rx"]["dropped_loss"].as_u64().expect("a count");
    let resent = r["tap"]["kernel_tcp"]["retrans_segs"]
        .as_u64()
        .expect("a count");
    eprintln!("{lost} of the kernel's frames lost on the way in; it resent {resent}");
    assert!(lost >= 10, "{r}");
    assert!(resent <= 2 * lost + 5, "lost {lost}, resent {resent}");
}

/// What the peer's kernel did, which the lab cannot see, is in `get`'s report as the
/// kernel counted it. A server that listens with a backlog of 1 (its accept queue holds
/// two, its SYN queue two) and accepts nothing for its first second gets four
/// connections at once: two handshakes complete into the accept queue, the two SYNs
/// beyond the SYN queue get cookies, and the ACKs that bring those back are dropped for
/// the full queue (each again as our client resends its request, until the server
/// accepts). The report's counts are the kernel's own, read by the test around the run,
/// and it names the congestion control the test set for the namespace.
#[test]
fn get_reports_what_the_kernels_tcp_did() {
    skip_unless_ready!("python3");
    let ns = Netns::create("ktcp");
    // The namespace's own congestion control, whatever the first namespace's is (any
    // namespace may choose reno).
    let set = run_bounded(
        ns.exec(&["sysctl", "-qw", "net.ipv4.tcp_congestion_control=reno"]),
        "sysctl",
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let python = slow_listener(&ns);
    let before = kernel_nstat(&ns);
    let urls: Vec<String> = (0..4)
        .map(|i| format!("http://{KERNEL}:8081/{i}"))
        .collect();
    let mut args = vec!["--strategy", "parallel", "--connections", "4"];
    args.extend(urls.iter().map(String::as_str));
    let (out, r) = tcpknobs_get(&ns, &args);
    let after = kernel_nstat(&ns);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["succeeded"], 4, "{r}");
    let k = &r["tap"]["kernel_tcp"];
    let delta = |name: &str| after[name].as_u64().unwrap() - before[name].as_u64().unwrap();
    let listen = &k["listen"];
    assert_eq!(listen["syncookies_sent"], 2, "{k}");
    assert_eq!(
        listen["syncookies_sent"],
        delta("TcpExtSyncookiesSent"),
        "{k}"
    );
    let overflows = listen["listen_overflows"]
        .as_u64()
        .expect("listen_overflows");
    assert!(overflows >= 2, "{k}");
    assert_eq!(overflows, delta("TcpExtListenOverflows"), "{k}");
    assert_eq!(k["retrans_segs"], delta("TcpRetransSegs"), "{k}");
    assert_eq!(k["out_rsts"], delta("TcpOutRsts"), "{k}");
    assert_eq!(
        r["tap"]["kernel_congestion_control"], "reno",
        "{}",
        r["tap"]
    );
    drop(python);
}

/// `get --har`: the archive of a real exchange, read back by the `har` crate (HAR 1.2):
/// one entry per URL with the heads python's http.server sent, dates from the wall
/// clock within the test's own span, and timings that add up to each entry's time.
#[test]
fn get_writes_a_har_archive() {
    skip_unless_ready!("python3");
    let out_dir = TempDir::new("har-out");
    let path = out_dir.join("get.har");
    let before = tcpknobs_lab::har::iso8601(unix_ms(std::time::SystemTime::now()));
    let (_, txs) = get_hello_from_python("har", &["--har", path.to_str().expect("utf-8")], 2);
    let after = tcpknobs_lab::har::iso8601(unix_ms(std::time::SystemTime::now()));
    let har::Spec::V1_2(log) = har::from_path(&path).expect("a HAR").log else {
        panic!("not HAR 1.2");
    };
    assert_eq!(log.entries.len(), txs.len());
    for (e, t) in log.entries.iter().zip(&txs) {
        // ISO 8601 in UTC with milliseconds sorts as it reads.
        assert!(
            before <= e.started_date_time && e.started_date_time <= after,
            "{before} <= {} <= {after}",
            e.started_date_time
        );
        assert_eq!(e.request.url, format!("http://{KERNEL}:8000/hello.txt"));
        assert_eq!(e.server_ip_address.as_deref(), Some(KERNEL));
        let response = &e.response;
        assert_eq!(
            (response.status, response.status_text.as_str()),
            (200, "OK")
        );
        assert_eq!(response.http_version, "HTTP/1.0");
        assert_eq!(response.content.size, HELLO.len() as i64);
        assert!(
            response.headers.iter().any(|h| h.name == "Server"),
            "{:?}",
            response.headers
        );
        let timings = &e.timings;
        let sum: f64 = [
            timings.blocked.unwrap_or(-1.0),
            timings.connect.unwrap_or(-1.0),
            timings.send,
            timings.wait,
            timings.receive,
        ]
        .into_iter()
        .filter(|&p| p >= 0.0)
        .sum();
        assert!((sum - e.time).abs() < 1e-6, "{sum} vs {}", e.time);
        assert!(
            (e.time - ms(t, "total_ms")).abs() < 1e-6,
            "{} vs {t}",
            e.time
        );
    }
}

/// Milliseconds since the Unix epoch.
fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `get --rtt 100ms` of one small file pays the added RTT on IP only: the handshake
/// takes 1 RTT (connect_ms about 100), not 2, since the ARP exchange before the SYN is
/// on the local segment and passes undelayed; handshake plus request is 2 RTT. The
/// lower bounds are exact (the delay is added in process); the upper one leaves 80 ms
/// of scheduling slack under the 200 ms a delayed ARP exchange would cost.
#[test]
fn added_rtt_spares_arp() {
    skip_unless_ready!("python3");
    let (r, txs) = get_hello_from_python("arp", &["--rtt", "100ms"], 1);
    let connect_ms = ms(&txs[0], "connect_ms");
    let total_ms = ms(&txs[0], "total_ms");
    eprintln!("--rtt 100ms: connect_ms {connect_ms}, total_ms {total_ms}");
    assert!(
        (99.99..180.0).contains(&connect_ms),
        "connect_ms {connect_ms}: the handshake should take the added 100 ms once"
    );
    assert!(total_ms >= 199.99, "total_ms {total_ms}: {}", txs[0]);
    assert_eq!(r["tap"]["added"]["one_way_delay_ns"], 50_000_000, "{r}");
}

/// `get` blames what its own host can see: with 100 ms added to the round trip, the
/// handshake is that round trip (at least 100 ms), and from the moment the request's
/// last byte left to the last response byte is `peer` (the added round trip plus
/// python's server: at least 100 ms). Nothing is left unattributed, and the causes
/// add up to the total, to the microsecond. `--trace` writes this host's events
/// (its SYN among them) and `--timeline` a waterfall bar per blame stretch.
#[test]
fn get_blames_its_side_and_the_peer() {
    skip_unless_ready!("python3");
    let dir = TempDir::new("blame-files");
    let trace = dir.join("get.jsonl");
    let timeline = dir.join("get.svg");
    let (trace_arg, timeline_arg) = (
        trace.to_str().expect("utf-8").to_string(),
        timeline.to_str().expect("utf-8").to_string(),
    );
    let (_, txs) = get_hello_from_python(
        "blame",
        &[
            "--rtt",
            "100ms",
            "--trace",
            &trace_arg,
            "--timeline",
            &timeline_arg,
        ],
        1,
    );
    let t = &txs[0];
    let blame = &t["blame"];
    let us = |v: &Value| (v.as_f64().unwrap_or(f64::NAN) * 1000.0).round() as i64;
    let causes = blame.as_object().expect("a blame object");
    let sum: i64 = causes.values().map(us).sum();
    eprintln!("get --rtt 100ms: {blame}");
    assert_eq!(sum, us(&t["total_ms"]), "{t}");
    assert!(ms(t, "total_ms") >= 199.99, "{t}");
    for cause in ["handshake_ms", "peer_ms"] {
        assert!(
            blame[cause].as_f64().unwrap_or(0.0) >= 99.99,
            "{cause}: {blame}"
        );
    }
    assert_eq!(blame["other_ms"], 0.0, "{blame}");

    let events: Vec<Value> = std::fs::read_to_string(&trace)
        .expect("the trace")
        .lines()
        .map(|l| json(l, "a trace line"))
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "segment_out" && e["why"] == "syn"),
        "no SYN in the trace"
    );
    let svg = std::fs::read_to_string(&timeline).expect("the timeline");
    let doc = roxmltree::Document::parse(&svg).expect("the timeline is XML");
    let stretches: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("class") == Some("span"))
        .map(|n| n.descendants().filter_map(|d| d.text()).collect())
        .collect();
    for cause in ["handshake", "peer"] {
        assert!(
            stretches.iter().any(|s| s.contains(cause)),
            "no {cause} stretch in the waterfall: {stretches:?}"
        );
    }
}

/// `get --think-time 300ms` of two URLs: the second is issued, and its connection
/// opened, at least 300 ms after the first response was complete (without the think
/// time, serial `get` opens it at once).
#[test]
fn get_waits_the_think_time_between_urls() {
    skip_unless_ready!("python3");
    let (r, txs) = get_hello_from_python("think", &["--think-time", "300ms"], 2);
    let first_done = ms(&txs[0], "done_at_ms");
    let second_queued = ms(&txs[1], "queued_at_ms");
    let second_connect = ms(&txs[1], "connect_start_at_ms");
    eprintln!(
        "--think-time 300ms: first done at {first_done} ms, second queued at \
         {second_queued} ms, connecting at {second_connect} ms"
    );
    for (what, at) in [("queued", second_queued), ("connect_start", second_connect)] {
        assert!(
            at - first_done >= 299.99,
            "second {what} {:.3} ms after the first was done",
            at - first_done
        );
    }
    assert_eq!(r["workload"]["client"]["think_time_ms"], 300.0, "{r}");
}

/// With `--delayed-ack 200ms` (book profile: no quick-ACK), our server's ACK of a
/// half request is sent by the timer, never before 200 ms after that data arrived, as
/// its own capture of the TAP shows: a python3 client sends the first half, waits
/// 600 ms, sends the rest; three times.
#[test]
fn delayed_ack_leaves_200ms_after_the_data() {
    skip_unless_ready!("python3");
    let ns = Netns::create("delack");
    let dir = TempDir::new("delack");
    let pcap = dir.join("server.pcapng");
    let serve = tcpknobs_serve(
        &ns,
        &[
            "--profile",
            "book",
            "--delayed-ack",
            "200ms",
            "--pcap",
            pcap.to_str().expect("utf-8 path"),
        ],
    );
    const FIRST: &str = "GET /bytes/10 HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n";
    const EXCHANGES: usize = 3;
    let client = format!(
        r#"
import socket, time
for _ in range({EXCHANGES}):
    s = socket.create_connection(("{LAB}", 80), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"{first}")
    time.sleep(0.6)
    s.sendall(b"\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data
    assert data.endswith(b"\r\n\r\n" + b"{body}"), data
print("ok")
"#,
        first = FIRST.escape_default(),
        body = String::from_utf8(pattern(10)).expect("ascii"),
    );
    let out = run_bounded(ns.exec(&["python3", "-c", &client]), "python3 client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = serve.terminate();
    assert!(out.status.success(), "serve failed");
    let report = json(&String::from_utf8_lossy(&out.stdout), "serve --json");
    let conns = report["connections"].as_array().expect("connections");
    assert_eq!(conns.len(), EXCHANGES, "{conns:?}");
    for c in conns {
        assert_eq!(c["delayed_acks"], 1, "{c}");
    }

    let capture = std::fs::read(&pcap).expect("capture");
    let frames = read_pcap(&capture);
    let mut offsets_us = Vec::new();
    for data in frames
        .iter()
        .filter(|f| f.dst_port == 80 && f.payload_len == FIRST.len())
    {
        let resent = frames
            .iter()
            .filter(|f| f.src_port == data.src_port && f.seq == data.seq && f.payload_len > 0)
            .count();
        assert_eq!(resent, 1, "the kernel resent a first half");
        let end = data.seq.wrapping_add(FIRST.len() as u32);
        let ack = frames
            .iter()
            .find(|f| {
                f.dst_port == data.src_port
                    && f.ack == end
                    && f.payload_len == 0
                    && f.ts_ns > data.ts_ns
            })
            .expect("our ACK of the first half in the capture");
        offsets_us.push((ack.ts_ns - data.ts_ns) / 1000);
    }
    eprintln!("delayed ACKs left {offsets_us:?} us after the data they acknowledge");
    assert_eq!(offsets_us.len(), EXCHANGES);
    // The timer never fires early, and it fires on its own: well before the second
    // half, 600 ms after the first, would have drawn an ACK anyway. How close to
    // 200 ms it fires depends on the machine's load; scripts/interop.sh measures that
    // on a quiet machine (within 2 ms), not this test, which runs beside others.
    assert!(
        offsets_us.iter().all(|us| (199_000..=500_000).contains(us)),
        "{offsets_us:?}"
    );
}

/// One TCP segment of an Ethernet capture, as the test needs it.
#[derive(Debug)]
struct Frame {
    ts_ns: u64,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    payload_len: usize,
}

/// The IPv4/TCP frames of a TAP capture: pcapng, one Ethernet interface named after
/// the TAP.
fn read_pcap(bytes: &[u8]) -> Vec<Frame> {
    let u16be = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    let u32be = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let contents = read_capture(bytes).expect("a readable capture");
    assert_eq!(contents.format, CaptureFormat::Pcapng);
    assert_eq!(
        contents.interfaces,
        [CapturedInterface {
            name: "tk0".to_string(),
            link_type: LinkType::Ethernet
        }]
    );
    let mut frames = Vec::new();
    for captured in &contents.frames {
        let (ts_ns, f) = (captured.ts_ns, &captured.data[..]);
        // Ethernet II carrying IPv4 carrying TCP.
        if f.len() < 14 + 20 || u16be(f, 12) != 0x0800 || f[14 + 9] != 6 {
            continue;
        }
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let total = usize::from(u16be(f, 16));
        let tcp = 14 + ihl;
        if f.len() < tcp + 20 {
            continue;
        }
        let data_offset = usize::from(f[tcp + 12] >> 4) * 4;
        frames.push(Frame {
            ts_ns,
            src_port: u16be(f, tcp),
            dst_port: u16be(f, tcp + 2),
            seq: u32be(f, tcp + 4),
            ack: u32be(f, tcp + 8),
            payload_len: total.saturating_sub(ihl + data_offset),
        });
    }
    frames
}

/// A CSV record's cells, quotes undone (`""` inside quotes is one `"`).
fn csv_cells(line: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().expect("a cell").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(String::new()),
            (c, _) => cells.last_mut().expect("a cell").push(c),
        }
    }
    cells
}

/// `sweep --tap` over rtt 20 ms and 60 ms x client Nagle on/off, two URLs fetched
/// serially (a connection each) from python3's http.server: one row per point, in
/// grid order, every transaction a success. Each handshake pays the point's added RTT
/// once (SYN delayed half of it, the SYN-ACK the other half; ARP passes undelayed),
/// so connect_ms is at least that RTT, exactly (the delay is added in process), and
/// a point still on the previous point's delay would be 40 ms short at 60 ms. A
/// handshake that paid the RTT twice (ARP delayed too, or both directions given the
/// whole RTT) takes at least twice the RTT, so the upper bound is just under that:
/// the rest, 20 ms or more, is scheduling slack (a loaded 2-core machine has delayed
/// a handshake here by 10 ms). The total is at least 2 RTT (handshake, then request
/// and response). The CSV has the header and a record per point, with the point's
/// added delay among its settings.
#[test]
fn sweep_over_the_tap_adds_each_points_rtt() {
    skip_unless_ready!("python3");
    let ns = Netns::create("sweep");
    let dir = TempDir::new("sweep");
    std::fs::write(dir.join("hello.txt"), HELLO).expect("file");
    let _server = python_http_server(&ns, &dir, "8000", "HTTP/1.1");
    let url = format!("http://{KERNEL}:8000/hello.txt");
    let csv = dir.join("sweep.csv");
    let csv_arg = csv.to_str().expect("utf-8").to_string();
    let args = sweep_command(&[
        "--vary",
        "rtt=20ms,60ms",
        "--vary",
        "client-nagle=on,off",
        "--strategy",
        "serial",
        "--max-time",
        "10s",
        "--json",
        "--out",
        &csv_arg,
        &url,
        &url,
    ]);
    let out = run_bounded(ns.exec(&args), "tcpknobs sweep --tap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sweep --tap failed: {stderr}");
    assert!(!stderr.contains("warning: point"), "{stderr}");
    let sysctl = run_bounded(
        ns.exec(&["sysctl", "-n", "net.ipv4.tcp_congestion_control"]),
        "sysctl",
    );
    let namespace_congestion_control = String::from_utf8_lossy(&sysctl.stdout).trim().to_string();
    assert!(!namespace_congestion_control.is_empty());
    let rows = json(&String::from_utf8_lossy(&out.stdout), "sweep --json");
    let rows = rows.as_array().expect("an array of rows");
    let grid = [
        ("20ms", "on"),
        ("20ms", "off"),
        ("60ms", "on"),
        ("60ms", "off"),
    ];
    assert_eq!(rows.len(), grid.len(), "one row per point: {rows:?}");
    for (i, (row, (rtt, nagle))) in rows.iter().zip(grid).enumerate() {
        assert_eq!(row["point"], i, "{row}");
        assert_eq!(
            row["values"],
            serde_json::json!({"rtt": rtt, "client-nagle": nagle}),
            "{row}"
        );
        assert_eq!(row["succeeded"], 2, "{row}");
        assert_eq!(row["failed"], 0, "{row}");
        assert_eq!(row["error"], Value::Null, "{row}");
        let added: f64 = rtt.trim_end_matches("ms").parse().expect("ms");
        let connect = ms(row, "connect_ms");
        eprintln!("rtt {rtt}, client-nagle {nagle}: connect_ms {connect}");
        assert!(
            (added - 0.01..2.0 * added - 0.5).contains(&connect),
            "connect_ms {connect} at an added rtt of {rtt}: {row}"
        );
        assert!(ms(row, "total_ms") >= 2.0 * added - 0.01, "{row}");
    }

    let text = std::fs::read_to_string(&csv).expect("the CSV");
    let lines: Vec<Vec<String>> = text.lines().map(csv_cells).collect();
    let head = &lines[0];
    assert_eq!(head[..3], ["point", "rtt", "client-nagle"], "{head:?}");
    let col = |name: &str| {
        head.iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} column: {head:?}"))
    };
    assert_eq!(lines.len(), 1 + grid.len(), "{text}");
    for (i, (record, (rtt, _))) in lines[1..].iter().zip(grid).enumerate() {
        assert_eq!(record.len(), head.len(), "{record:?}");
        assert_eq!(record[0], i.to_string());
        assert_eq!(record[1], rtt);
        let half_ns = rtt.trim_end_matches("ms").parse::<u64>().expect("ms") * 500_000;
        assert_eq!(record[col("added.one_way_delay_ns")], half_ns.to_string());
        assert_eq!(record[col("succeeded")], "2", "{record:?}");
        assert_eq!(
            record[col("kernel_congestion_control")],
            namespace_congestion_control,
            "{record:?}"
        );
        assert!(
            record[col("connect_ms")].parse::<f64>().is_ok(),
            "{record:?}"
        );
    }
}

/// A TAP sweep's `retransmissions` counts both ends, as a simulated sweep's does: the
/// server is the kernel's, so its resent segments are the kernel's `TcpRetransSegs`
/// over the run. One point fetches 1 MB from python3's http.server with 5 % loss added
/// each way: about 36 of the kernel's 720 data segments are lost and resent, and
/// our client, which sends one request, resends a segment or two at most. The test
/// reads the kernel's counter around the whole sweep; only segments the kernel resends
/// after the run's last reading (its FIN, lost, in the moments before the process
/// exits) can be in the test's count and not the sweep's, hence the slack of 3.
#[test]
fn sweep_over_the_tap_counts_the_kernels_retransmissions() {
    skip_unless_ready!("python3");
    let big = big_file_from_python("sweepr");
    let (ns, url) = (&big.ns, &big.url);
    let args = sweep_command(&[
        "--vary",
        "loss=5%",
        "--seed",
        "7",
        "--max-time",
        "60s",
        "--json",
        url,
    ]);
    let before = kernel_nstat(ns);
    let out = run_bounded(ns.exec(&args), "tcpknobs sweep --tap");
    let after = kernel_nstat(ns);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sweep --tap failed: {stderr}");
    let rows = json(&String::from_utf8_lossy(&out.stdout), "sweep --json");
    let row = &rows[0];
    assert_eq!(row["succeeded"], 1, "{row}");
    let kernel = after["TcpRetransSegs"].as_u64().expect("a count")
        - before["TcpRetransSegs"].as_u64().expect("a count");
    let counted = row["retransmissions"].as_u64().expect("a count");
    eprintln!("kernel resent {kernel} segments; the sweep counted {counted}");
    assert!(
        kernel >= 10,
        "5 % of 720 segments lost, yet the kernel resent {kernel}"
    );
    assert!(
        counted + 3 >= kernel,
        "the sweep counted {counted} retransmissions, the kernel resent {kernel}: {row}"
    );
}

/// A TAP sweep names the points whose runs met a kernel listener's full queues (no
/// knob of the sweep asks for that): four connections at once to the slow listener
/// (backlog 1), two of them by SYN cookie, as in `get_reports_what_the_kernels_tcp_did`.
#[test]
fn sweep_over_the_tap_names_points_that_met_full_listen_queues() {
    skip_unless_ready!("python3");
    let ns = Netns::create("sweepq");
    let _python = slow_listener(&ns);
    let urls: Vec<String> = (0..4)
        .map(|i| format!("http://{KERNEL}:8081/{i}"))
        .collect();
    let mut args = sweep_command(&[
        "--vary",
        "rtt=1ms",
        "--strategy",
        "parallel",
        "--connections",
        "4",
        "--max-time",
        "10s",
        "--json",
    ]);
    args.extend(urls.iter().map(String::as_str));
    let out = run_bounded(ns.exec(&args), "tcpknobs sweep --tap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "sweep --tap failed: {stderr}");
    assert!(
        stderr.contains(
            "warning: point 0 (rtt=1ms): the kernel's listeners over its runs: 2 SYNs \
             answered with a SYN cookie (SYN queue full)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped for a full accept queue"),
        "{stderr}"
    );
}
