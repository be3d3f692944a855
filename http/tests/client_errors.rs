//! The client against a scripted server: every malformed response is a transaction
//! error that names what was wrong, never a panic and never a success; interim (1xx)
//! responses are skipped, never taken for the answer; and a server that says it
//! closes is left to close first.
//!
//! Two hosts, client 192.0.2.1 and server 192.0.2.2, R = 10 ms RTT, no bandwidth
//! limit: a small exchange on a new connection is done at 2 R (handshake, request),
//! each further one on the same connection 1 R later.

use tcpknobs_http::client::{Client, ClientConfig, Strategy, SERVER_FIN_WAIT};
use tcpknobs_http::message::{Method, Version};
use tcpknobs_http::payload;
use tcpknobs_http::transaction::TransactionError;
use tcpknobs_http::workload::RequestSpec;
use tcpknobs_stack::{
    AppSlot, Application, Closer, ConnId, Duration, Host, HostId, Instant, Knobs, LinkProfile,
    Readable, RunEnd, SimNet,
};

/// Round trip, ms.
const R: f64 = 10.0;

/// A server that answers from a script: the `k`th connection it accepts (the last
/// script for any later one) answers its `j`th request head with `scripts[k][j]`,
/// and sends its FIN `fin` after the last reply (`None`: never). It closes when the
/// client does, noting when the client's FIN arrived.
struct CannedServer {
    scripts: Vec<Vec<Vec<u8>>>,
    fin: Option<Duration>,
    conns: Vec<Canned>,
    listening: bool,
}

struct Canned {
    id: ConnId,
    script: usize,
    inbuf: Vec<u8>,
    answered: usize,
    /// When the FIN is due, once the script is done.
    fin_at: Option<Instant>,
    /// When the client's FIN (or reset) arrived.
    eof_at: Option<Instant>,
}

impl CannedServer {
    fn new(scripts: &[&[&[u8]]], fin: Option<Duration>) -> CannedServer {
        CannedServer {
            scripts: scripts
                .iter()
                .map(|s| s.iter().map(|r| r.to_vec()).collect())
                .collect(),
            fin,
            conns: Vec::new(),
            listening: false,
        }
    }

    /// Answers `reply` to one request on each connection, then FIN at once.
    fn replying(reply: &[u8]) -> CannedServer {
        CannedServer::new(&[&[reply]], Some(Duration::ZERO))
    }

    /// When the client's FIN reached each connection, ms.
    fn client_fins_ms(&self) -> Vec<Option<f64>> {
        self.conns.iter().map(|c| c.eof_at.map(ms)).collect()
    }
}

impl Application for CannedServer {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        if !self.listening {
            host.listen(80);
            self.listening = true;
        }
        while let Some(id) = host.accept(80) {
            let script = self.conns.len().min(self.scripts.len() - 1);
            self.conns.push(Canned {
                id,
                script,
                inbuf: Vec::new(),
                answered: 0,
                fin_at: None,
                eof_at: None,
            });
        }
        for c in self.conns.iter_mut().filter(|c| c.eof_at.is_none()) {
            let eof = loop {
                match host.recv(c.id, &mut c.inbuf) {
                    Ok(Readable::Data(_)) => {}
                    Ok(Readable::Nothing) => break false,
                    Ok(Readable::Eof) | Err(_) => break true,
                }
            };
            // Replies to requests read together go out in one write, as a server
            // answering pipelined requests batches them (Nagle would hold the second).
            let script = &self.scripts[c.script];
            let mut out = Vec::new();
            while let Some(end) = c.inbuf.windows(4).position(|w| w == b"\r\n\r\n") {
                c.inbuf.drain(..end + 4);
                if let Some(reply) = script.get(c.answered) {
                    out.extend_from_slice(reply);
                    c.answered += 1;
                    if c.answered == script.len() {
                        c.fin_at = self.fin.map(|d| now + d);
                    }
                }
            }
            if !out.is_empty() {
                let _ = host.send(c.id, &out);
            }
            if c.fin_at.is_some_and(|at| at <= now) {
                host.shutdown_write(c.id);
                c.fin_at = None;
            }
            if eof {
                c.eof_at = Some(now);
                host.close(c.id);
            }
        }
        self.conns.iter().filter_map(|c| c.fin_at).min()
    }

    fn is_done(&self) -> bool {
        false
    }
}

fn ms(t: Instant) -> f64 {
    t.total_micros() as f64 / 1000.0
}

/// A finished run: the client, the server, and the network with both hosts.
struct Run {
    client: Client,
    server: CannedServer,
    net: SimNet,
}

const CLIENT: HostId = HostId(0);
const SERVER: HostId = HostId(1);

impl Run {
    /// Who sent the first FIN on each of `host`'s connections, and its time in
    /// TIME_WAIT.
    fn closes(&self, host: HostId) -> Vec<(Option<Closer>, Option<f64>)> {
        let h = self.net.host(host);
        (0..h.connection_count())
            .filter_map(|i| h.stats(ConnId(i)))
            .map(|s| (s.closed_first, s.time_wait_ms))
            .collect()
    }

    /// Done time of each transaction, ms.
    fn done_ms(&self) -> Vec<f64> {
        self.client
            .transactions()
            .iter()
            .map(|t| t.timing.done.map_or(f64::NAN, ms))
            .collect()
    }
}

/// `requests` from a client with `config` against `server`, until the client is done.
fn run(mut server: CannedServer, config: ClientConfig, requests: Vec<RequestSpec>) -> Run {
    let mut net = SimNet::new(
        LinkProfile {
            one_way_delay_ns: (R * 1e6 / 2.0) as u64,
            ..LinkProfile::default()
        },
        1,
    );
    let c = net.add_host("client", Knobs::default());
    let s = net.add_host("server", Knobs::default());
    assert_eq!((c, s), (CLIENT, SERVER));
    let mut client = Client::new(config, requests);
    let end = net.run(
        &mut [
            AppSlot {
                host: s,
                app: &mut server,
                is_server: true,
            },
            AppSlot {
                host: c,
                app: &mut client,
                is_server: false,
            },
        ],
        Instant::from_secs(10),
    );
    assert_eq!(end, RunEnd::Done, "the client finishes");
    Run {
        client,
        server,
        net,
    }
}

/// Persistent HTTP/1.1 without retries.
fn persistent() -> ClientConfig {
    ClientConfig {
        strategy: Strategy::Persistent,
        max_retries: 0,
        ..ClientConfig::default()
    }
}

/// One GET against a server that sends `reply`; the transaction's error.
fn fetch(reply: &'static [u8]) -> Option<TransactionError> {
    let get = vec![RequestSpec::bytes(Method::Get, 10)];
    let r = run(CannedServer::replying(reply), persistent(), get);
    r.client.transactions()[0].error.clone()
}

/// `head` followed by `n` bytes of the body pattern.
fn with_body(head: &str, n: usize) -> Vec<u8> {
    let mut out = head.as_bytes().to_vec();
    let mut body = vec![0; n];
    payload::fill(0, &mut body);
    out.extend_from_slice(&body);
    out
}

fn malformed(reply: &'static [u8]) -> String {
    match fetch(reply) {
        Some(TransactionError::MalformedResponse { detail }) => detail,
        other => panic!(
            "{:?}: expected a malformed-response error, got {other:?}",
            String::from_utf8_lossy(reply)
        ),
    }
}

#[test]
fn a_bad_status_line_is_named() {
    let detail = malformed(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n");
    assert!(
        detail.contains("start line") || detail.contains("status"),
        "{detail}"
    );
}

#[test]
fn an_invalid_content_length_is_named() {
    let detail = malformed(b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n0123456789");
    assert!(detail.to_lowercase().contains("content-length"), "{detail}");
}

#[test]
fn two_content_lengths_are_named() {
    let detail =
        malformed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 11\r\n\r\n0123456789");
    assert!(detail.to_lowercase().contains("content-length"), "{detail}");
}

#[test]
fn a_bad_chunk_size_is_named() {
    let detail = malformed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n0123456789\r\n0\r\n\r\n",
    );
    assert!(detail.to_lowercase().contains("chunk"), "{detail}");
}

#[test]
fn garbage_is_not_a_response() {
    let detail = malformed(b"\x00\x01\x02 not http at all\r\n\r\n");
    assert!(!detail.is_empty());
}

#[test]
fn a_wrong_body_is_caught_by_the_pattern() {
    // The right length, the wrong bytes: the client checks every byte.
    match fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0000000000") {
        Some(TransactionError::BodyMismatch { offset }) => assert_eq!(offset, 0),
        other => panic!("expected a body mismatch, got {other:?}"),
    }
}

#[test]
fn a_close_before_the_response_is_reported() {
    // The server closes after a partial head.
    match fetch(b"HTTP/1.1 200 OK\r\nContent-Len") {
        Some(TransactionError::MalformedResponse { detail }) => {
            assert!(
                detail.contains("closed inside the response head"),
                "{detail}"
            )
        }
        other => panic!("expected a cut head, got {other:?}"),
    }
}

/// One GET of `/bytes/N` for each size N.
fn gets(sizes: &[u64]) -> Vec<RequestSpec> {
    sizes
        .iter()
        .map(|&n| RequestSpec::bytes(Method::Get, n))
        .collect()
}

/// Interim responses come before the final one and have no body (RFC 9110 §15.2,
/// RFC 9112 §6.3 item 1): a 100 and a 103 with a Link field before the first 200, a
/// 103 before the second, none before the third. Each request gets its own 200 and
/// body. Persistent: 2 R, then 1 R each; pipelined: the second and third requests go
/// together once the first answer shows the connection persists, answered at 3 R.
#[test]
fn interim_responses_are_skipped_not_taken_for_the_answer() {
    let first = [
        b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload; as=style\r\n\r\n".to_vec(),
        with_body("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 10),
    ]
    .concat();
    let second = [
        b"HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload; as=script\r\n\r\n".to_vec(),
        with_body("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", 20),
    ]
    .concat();
    let third = with_body("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n", 30);
    let sizes = [10, 20, 30];
    for (strategy, done) in [
        (Strategy::Persistent, [2.0 * R, 3.0 * R, 4.0 * R]),
        (Strategy::Pipelined, [2.0 * R, 3.0 * R, 3.0 * R]),
    ] {
        let server = CannedServer::new(&[&[&first, &second, &third]], None);
        let config = ClientConfig {
            strategy,
            ..persistent()
        };
        let r = run(server, config, gets(&sizes));
        let txs = r.client.transactions();
        for (t, n) in txs.iter().zip(sizes) {
            assert_eq!(t.error, None, "{strategy:?} {t:?}");
            assert_eq!((t.status, t.bytes), (Some(200), n), "{strategy:?} {t:?}");
            assert_eq!(t.connection, Some(0), "{strategy:?} {t:?}");
        }
        let interim: Vec<u32> = txs.iter().map(|t| t.interim_responses).collect();
        assert_eq!(interim, [2, 1, 0], "{strategy:?}");
        assert_eq!(r.done_ms(), done, "{strategy:?}");
        let report = txs[0].report(Instant::ZERO);
        assert_eq!(report.interim_responses, 2);
    }
}

/// A 101 to a request that asked for no upgrade is a protocol error (RFC 9110
/// §15.2.2): the transaction fails saying so at 2 R, the client closes that
/// connection at once (its FIN reaches the server at 2.5 R) instead of reading the
/// other protocol as HTTP, and the next request goes on a new connection: 2 R + 2 R.
#[test]
fn an_unrequested_switch_fails_and_the_connection_is_not_reused() {
    let switch: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
        Upgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    let ok = with_body("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 10);
    let server = CannedServer::new(&[&[switch], &[&ok]], None);
    let r = run(server, persistent(), gets(&[10, 10]));
    let txs = r.client.transactions();
    assert_eq!(txs[0].error, Some(TransactionError::UnrequestedUpgrade));
    assert_eq!(txs[0].status, None);
    assert!(
        txs[0].report(Instant::ZERO).error.unwrap().contains("101"),
        "the error names the switch"
    );
    assert_eq!(txs[1].error, None);
    assert_eq!(
        (txs[1].status, txs[1].connection, txs[1].reused),
        (Some(200), Some(1), false)
    );
    assert_eq!(r.done_ms(), [2.0 * R, 4.0 * R]);
    assert_eq!(
        r.server.client_fins_ms(),
        [Some(2.5 * R), Some(4.5 * R)],
        "the switched connection is closed at once"
    );
}

/// A server that says it closes after its response (HTTP/1.0 without keep-alive,
/// `Connection: close`, or a body delimited by the close) closes first, so the
/// TIME_WAIT is its own (chapter item 10), not the client's. Its FIN comes 1 ms after
/// the response: on connection k, started at s_k, the response is read at s_k + 2 R
/// and the FIN at s_k + 2 R + 1 ms; only then does the client close, so its FIN
/// reaches the server at s_k + 2.5 R + 1 ms. The wait does not move the transaction:
/// done at s_k + 2 R (at the FIN itself for a close-delimited body), and the next
/// serial request starts then: s_1 = 0, s_2 = done_1.
#[test]
fn a_server_that_says_close_closes_first() {
    let cases = [
        (
            Version::Http10,
            "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n",
            0.0,
        ),
        (
            Version::Http11,
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\n",
            0.0,
        ),
        (Version::Http11, "HTTP/1.1 200 OK\r\n\r\n", 1.0),
    ];
    for (version, head, at_fin) in cases {
        let reply = with_body(head, 10);
        let server = CannedServer::new(&[&[&reply]], Some(Duration::from_millis(1)));
        let config = ClientConfig {
            version,
            strategy: Strategy::Serial,
            ..persistent()
        };
        let r = run(server, config, gets(&[10, 10]));
        assert!(r.client.transactions().iter().all(|t| t.error.is_none()));
        let done_1 = 2.0 * R + at_fin;
        assert_eq!(r.done_ms(), [done_1, done_1 + 2.0 * R + at_fin], "{head}");
        assert_eq!(
            r.server.client_fins_ms(),
            [Some(2.5 * R + 1.0), Some(done_1 + 2.5 * R + 1.0)],
            "{head}"
        );
        for (closer, time_wait) in r.closes(CLIENT) {
            assert_eq!((closer, time_wait), (Some(Closer::Peer), None), "{head}");
        }
        for (closer, time_wait) in r.closes(SERVER) {
            assert_eq!(closer, Some(Closer::Local), "{head}");
            assert!(
                time_wait.is_some(),
                "{head}: the server holds the TIME_WAIT"
            );
        }
    }
}

/// A server that says close and never closes cannot hold the client: it waits
/// [`SERVER_FIN_WAIT`] (2 s) after the last body byte, then closes itself and so
/// holds the TIME_WAIT. The transactions do not wait: done at 2 R and 4 R, the second
/// starting when the first is done; the client's FINs reach the server at
/// 2 R + 2 s + 0.5 R and 4 R + 2 s + 0.5 R.
#[test]
fn a_server_that_never_closes_is_given_up_on() {
    let reply = with_body("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n", 10);
    let server = CannedServer::new(&[&[&reply]], None);
    let config = ClientConfig {
        version: Version::Http10,
        strategy: Strategy::Serial,
        ..persistent()
    };
    let r = run(server, config, gets(&[10, 10]));
    assert!(r.client.transactions().iter().all(|t| t.error.is_none()));
    assert_eq!(r.done_ms(), [2.0 * R, 4.0 * R]);
    let wait = SERVER_FIN_WAIT.total_millis() as f64;
    assert_eq!(wait, 2000.0);
    assert_eq!(
        r.server.client_fins_ms(),
        [Some(2.5 * R + wait), Some(4.5 * R + wait)]
    );
    for (closer, time_wait) in r.closes(CLIENT) {
        assert_eq!(closer, Some(Closer::Local));
        assert!(time_wait.is_some());
    }
}
