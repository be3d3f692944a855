//! The client against a server that answers badly: every malformed response is a
//! transaction error that names what was wrong, never a panic and never a success.

use tcpknobs_http::client::{Client, ClientConfig, Strategy};
use tcpknobs_http::transaction::TransactionError;
use tcpknobs_http::workload::RequestSpec;
use tcpknobs_stack::{
    AppSlot, Application, ConnId, Host, Instant, Knobs, LinkProfile, Readable, RunEnd, SimNet,
};

/// Answers the first request head on each connection with `reply`, then closes.
struct CannedServer {
    reply: &'static [u8],
    conns: Vec<(ConnId, Vec<u8>, bool)>,
    listening: bool,
}

impl Application for CannedServer {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        if !self.listening {
            host.listen(80);
            self.listening = true;
        }
        while let Some(id) = host.accept(80) {
            self.conns.push((id, Vec::new(), false));
        }
        for (id, buf, answered) in &mut self.conns {
            let _ = host.recv(*id, buf);
            if !*answered && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                *answered = true;
                let _ = host.send(*id, self.reply);
                host.shutdown_write(*id);
            }
            if *answered && matches!(host.recv(*id, buf), Ok(Readable::Eof)) {
                host.close(*id);
            }
        }
        None
    }

    fn is_done(&self) -> bool {
        false
    }
}

/// One GET against a server that sends `reply`; the transaction's error.
fn fetch(reply: &'static [u8]) -> Option<TransactionError> {
    let mut net = SimNet::new(
        LinkProfile {
            one_way_delay_ns: 5_000_000,
            ..LinkProfile::default()
        },
        1,
    );
    let c = net.add_host("client", Knobs::default());
    let s = net.add_host("server", Knobs::default());
    let mut server = CannedServer {
        reply,
        conns: Vec::new(),
        listening: false,
    };
    let mut client = Client::new(
        ClientConfig {
            strategy: Strategy::Persistent,
            max_retries: 0,
            ..ClientConfig::default()
        },
        vec![RequestSpec::bytes(tcpknobs_http::message::Method::Get, 10)],
    );
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
    client.transactions()[0].error.clone()
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
