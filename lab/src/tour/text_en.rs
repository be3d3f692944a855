//! The tour in English.

use super::text::Key;
use super::Name;

/// The English text of `key`.
pub fn text(key: Key) -> &'static str {
    match key {
        Key::Title => "tcpknobs tour: chapter 4 of HTTP: The Definitive Guide, measured",
        Key::Profile => "profile",
        Key::Item => "item",
        Key::Predicted => "predicted",
        Key::Measured => "measured",
        Key::Within => "within",
        Key::Pass => "pass",
        Key::Fail => "FAIL",
        Key::Blame => "most time",
        Key::Reproduce => "reproduce",
        Key::Summary => "Summary",
        Key::Covered => "chapter items covered",
        Key::Passed => "predictions held",
        Key::Biggest => "biggest effects measured",
        Key::LostBytes => "response bytes lost to the RST",
        Key::FailedTransactions => "failed transactions",
        Key::Retries => "retries",
        Key::NoTimePrediction => "(the count is the prediction)",
        Key::Claim(name) => claim(name),
        Key::Why(name) => why(name),
    }
}

fn claim(name: Name) -> &'static str {
    match name {
        Name::Latency => "A small transaction's time is mostly TCP, not the server.",
        Name::Handshake => "A new connection spends a whole round trip on its handshake.",
        Name::DelayedAck => "A delayed ACK adds its timer to request/response traffic.",
        Name::SlowStart => "A new connection sends only a few segments per round trip.",
        Name::Nagle => "Nagle plus a delayed ACK stalls a small write.",
        Name::NagleTail => "Classic Nagle holds a response's small tail; Minshall's does not.",
        Name::TimeWait => "TIME_WAIT caps new connections at ports / 2MSL per second.",
        Name::Serial => "Serial loading pays a handshake per object.",
        Name::Parallel => "Parallel connections overlap their delays.",
        Name::NarrowLink => "On a narrow link parallel connections only split the bandwidth.",
        Name::Persistent => "A persistent connection pays the handshake once.",
        Name::KeepAlive => "HTTP/1.0 keeps a connection only if the server echoes Keep-Alive.",
        Name::DumbProxy => "A dumb proxy forwarding Keep-Alive hangs the client.",
        Name::ConnectionClose => "Connection: close ends persistence; unanswered GETs are retried.",
        Name::Pipelining => "Pipelining sends requests without waiting; never POSTs.",
        Name::Truncation => "A response shorter than its Content-Length is not trusted.",
        Name::Retry => "GET is retried after a broken response; POST never.",
        Name::Reset => "A full close with unread input resets: the peer loses data.",
    }
}

fn why(name: Name) -> &'static str {
    match name {
        Name::Latency => {
            "connect (1 RTT) + request and response (1 RTT) + server processing; no DNS \
             in the lab"
        }
        Name::Handshake => {
            "serial: 2 RTT per request, half of it handshake; persistent: the handshake \
             once, then 1 RTT per request"
        }
        Name::DelayedAck => {
            "the request's second write waits for the ACK of its first (Nagle), which \
             the server holds for its timer: 2 RTT + timer + 1 RTT"
        }
        Name::SlowStart => {
            "handshake 1 RTT + one RTT per round of a window doubling from IW (an ACK \
             per segment: the delayed ACK is off, since it slows the growth)"
        }
        Name::Nagle => {
            "2 RTT + the stall: the second write waits 1 RTT for the first one's ACK, \
             plus the delayed-ACK timer unless quick-ACK answers the first segments at once"
        }
        Name::NagleTail => {
            "classic Nagle holds the sub-MSS tail until the full segment is ACKed: \
             2 RTT + timer + 1 RTT; Minshall holds a small segment only behind an \
             earlier small one: 2 RTT (with an initial window of 1 the window holds \
             the tail whatever Nagle does)"
        }
        Name::TimeWait => {
            "serial 2-RTT connections; each port is free again 3 RTT + 2MSL after its \
             connect; the ceiling is ports / 2MSL per second"
        }
        Name::Serial => {
            "an HTML page and 3 images: serial 4 x 2 RTT; persistent 1 + 4 RTT; \
             parallel 2 RTT + 2 RTT; pipelined 2 RTT + 1 RTT"
        }
        Name::Parallel => "HTML 2 RTT, then each wave of N image connections 2 RTT",
        Name::NarrowLink => {
            "the link is busy once the images are asked for: parallel 4 RTT + bytes on \
             the wire; persistent 2 RTT + 1 RTT per image + bytes on the wire (window \
             growth pinned to one segment per ACK, and RFC 6298's 1 s RTO floor: as the \
             queue builds, Linux's 200 ms floor fires spuriously, which Linux detects \
             with F-RTO and this lab does not)"
        }
        Name::Persistent => "4 requests: serial 4 x 2 RTT; persistent (1 + 4) RTT",
        Name::KeepAlive => {
            "with the echo one connection, (1 + 4) RTT; without it a new connection per \
             request, 4 x 2 RTT"
        }
        Name::DumbProxy => {
            "first request over two new connections 4 RTT; the dumb proxy never answers \
             the second: + the client's timeout; a smart proxy answers it in 2 RTT"
        }
        Name::ConnectionClose => {
            "the server closes after 2 responses: 2 RTT + 1 RTT, then the unanswered \
             requests on a new connection 2 RTT + 1 RTT; without the limit 2 RTT + 1 RTT"
        }
        Name::Pipelining => {
            "HTML 2 RTT, then the images' requests in one write, 1 RTT (each response \
             beyond the initial window waits for the ACK of the one before: delayed ACK \
             + RTT); POSTs one at a time like persistent: (1 + 4) RTT"
        }
        Name::Truncation => {
            "a new connection per attempt, 2 RTT; the short response is reported as a \
             failure, never as success"
        }
        Name::Retry => "GET: (1 + retries) x 2 RTT; POST: one attempt, 2 RTT",
        Name::Reset => {
            "the server answers one image with Connection: close and closes with the \
             other requests unread: its stack sends RST after the first window (IW \
             segments) of the image, which the client received and loses; graceful: 0"
        }
    }
}
