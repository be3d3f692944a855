//! The chapter's predictions as plain functions of the knobs and the link: the tour
//! prints them next to what the stack measured, and the chapter tests assert the same
//! functions, so a formula lives in one place.
//!
//! Times are in milliseconds of virtual time and leave out serialization (the time a
//! frame takes to be clocked onto the link), which [`serialization_ms`] bounds.

/// Bytes of IP and TCP header per segment without options: 20 + 20.
pub const HEADER_BYTES: u64 = 40;

/// The largest frame, bytes: the link's usual MTU.
pub const FULL_FRAME_BYTES: u64 = 1500;

/// Maximum segment size on a link of `mtu` bytes: MTU - 40 (chapter item 2).
pub fn mss(mtu: u64) -> u64 {
    mtu.saturating_sub(HEADER_BYTES)
}

/// Segments needed for `bytes` of payload at `mss` bytes each.
pub fn segments(bytes: u64, mss: u64) -> u64 {
    bytes.div_ceil(mss.max(1))
}

/// Upper bound on the serialization of `frames` full 1500-byte frames at `bps` bits
/// per second, ms: the only slack a prediction allows.
pub fn serialization_ms(frames: u64, bps: f64) -> f64 {
    if bps <= 0.0 {
        return 0.0;
    }
    frames as f64 * FULL_FRAME_BYTES as f64 * 8.0 / bps * 1000.0
}

/// Serial loading (chapter item 12): every request opens a new connection, one after
/// another: 1 RTT handshake + 1 RTT request and response each, `n` x 2 RTT.
pub fn serial_ms(n: u64, rtt_ms: f64) -> f64 {
    n as f64 * 2.0 * rtt_ms
}

/// One persistent connection (chapter item 16): the handshake once, then one round
/// trip per request: (1 + `n`) RTT.
pub fn persistent_ms(n: u64, rtt_ms: f64) -> f64 {
    (1.0 + n as f64) * rtt_ms
}

/// A page of an HTML object and `objects` objects found in it, fetched on new
/// connections up to `connections` at once (chapter item 13): the HTML costs
/// 2 RTT, then each wave of `connections` objects 2 RTT more.
pub fn parallel_page_ms(objects: u64, connections: u64, rtt_ms: f64) -> f64 {
    let waves = objects.div_ceil(connections.max(1));
    2.0 * rtt_ms * (1 + waves) as f64
}

/// Small pipelined responses on one connection (chapter item 20): handshake and the
/// first request 2 RTT (only its response shows that the connection persists, and
/// on a page what to fetch), then the other requests in one write and the responses
/// back: 1 RTT more, when the server's window carries them all. The responses ready
/// together leave as `segments` segments: the first `initial_window` at once, each
/// later one after the ACK of the one before (the window, then classic Nagle), which
/// the client holds `ack_hold_ms` first: + (segments - IW) x (hold + RTT).
pub fn pipelined_ms(segments: u64, initial_window: u64, ack_hold_ms: f64, rtt_ms: f64) -> f64 {
    let held = segments.saturating_sub(initial_window) as f64;
    3.0 * rtt_ms + held * (ack_hold_ms + rtt_ms)
}

/// Slow start rounds (chapter item 8): with an initial window of IW segments and an
/// ACK per segment, the window doubles per round trip (IW, 2 IW, 4 IW ...), so
/// `segments` need this many round trips of data.
pub fn slow_start_rounds(initial_window: u64, segments: u64) -> u64 {
    let (mut sent, mut window, mut rounds) = (0u64, initial_window.max(1), 0u64);
    while sent < segments {
        sent = sent.saturating_add(window);
        window = window.saturating_mul(2);
        rounds += 1;
    }
    rounds
}

/// What Nagle's algorithm costs a small write that follows unacknowledged data
/// (chapter item 9): it waits for the ACK, one round trip, and the receiver holds
/// that ACK for its delayed-ACK timer first, `delayed_ack_ms` (0 when the timer is
/// off or quick-ACK answers at once): delayed ACK + RTT.
pub fn nagle_stall_ms(rtt_ms: f64, delayed_ack_ms: f64) -> f64 {
    delayed_ack_ms + rtt_ms
}

/// The delayed-ACK time a receiver adds to the first segments of a connection: none
/// while quick-ACK mode answers them (Linux, the first `quickack` segments), else
/// its timer (chapter item 7).
pub fn ack_hold_ms(delayed_ack_ms: Option<f64>, quickack: u32) -> f64 {
    match delayed_ack_ms {
        Some(d) if quickack == 0 => d,
        _ => 0.0,
    }
}

/// The most new connections per second a client can open toward one server
/// address and port (chapter item 10): every connection it closes first holds its
/// port for 2MSL, so ports / 2MSL.
pub fn time_wait_ceiling_per_s(ports: u64, two_msl_ms: f64) -> Option<f64> {
    (two_msl_ms > 0.0).then(|| ports as f64 / (two_msl_ms / 1000.0))
}

/// `n` serial 2-RTT transactions over `ports` ephemeral ports that each stay in
/// TIME_WAIT for 2MSL, the client waiting for a port when none is free (chapter
/// item 10): when the last one is done, ms. Connection k starts when the one before
/// is done and its port is free; the port enters TIME_WAIT when the server's FIN
/// arrives, 3 RTT after the connect, and is free 2MSL later. With three generations
/// of `ports` this is 2 x (3 RTT + 2MSL) + (ports - 1) x 2 RTT + 2 RTT.
pub fn time_wait_run_ms(n: u64, ports: u64, two_msl_ms: f64, rtt_ms: f64) -> f64 {
    let ports = ports.max(1) as usize;
    let mut starts: Vec<f64> = Vec::with_capacity(n.min(1 << 24) as usize);
    let mut done = 0.0f64;
    for i in 0..n as usize {
        let free = if i >= ports {
            starts
                .get(i - ports)
                .map_or(0.0, |s| s + 3.0 * rtt_ms + two_msl_ms)
        } else {
            0.0
        };
        let start = done.max(free);
        starts.push(start);
        done = start + 2.0 * rtt_ms;
    }
    done
}

/// The bytes of the lab server's response head for a body of `body` bytes:
/// `HTTP/1.1 200 OK`, `Content-Type: application/octet-stream` and
/// `Content-Length: N`, each with its CRLF, and the blank line: 77 bytes and the
/// digits of N.
pub fn response_head_bytes(body: u64) -> u64 {
    77 + body.to_string().len() as u64
}

/// Time to clock whole responses of `bodies` bytes onto a link of `bps` (chapter
/// item 14): head and body in segments of `mss`, each with 40 bytes of headers, ms.
pub fn wire_ms(bodies: &[u64], mss: u64, bps: f64) -> f64 {
    if bps <= 0.0 {
        return 0.0;
    }
    let bytes: u64 = bodies
        .iter()
        .map(|b| {
            let payload = b + response_head_bytes(*b);
            payload + segments(payload, mss) * HEADER_BYTES
        })
        .sum();
    bytes as f64 * 8.0 / bps * 1000.0
}

/// A page on a link whose bandwidth decides (chapter item 14): once the objects are
/// asked for, the link is never idle until their last byte, so the time is the
/// round trips plus the bytes' time on the wire. On `connections` >= objects new
/// connections at once: HTML 2 RTT, then handshake, request and the last byte's
/// trip 2 RTT, plus the wire: 4 RTT + wire. On one persistent connection each
/// object waits for its own request: HTML 2 RTT + 1 RTT per object + wire.
pub fn narrow_page_ms(objects: u64, parallel: bool, rtt_ms: f64, wire_ms: f64) -> f64 {
    let rtts = if parallel { 4 } else { 2 + objects };
    rtts as f64 * rtt_ms + wire_ms
}

/// The dumb-proxy hang (chapter item 18): the first request crosses two new
/// connections (client to proxy, proxy to server: 2 x 2 RTT, every hop with the
/// link's RTT), then the second is never answered and the client gives up after its
/// timeout.
pub fn dumb_proxy_ms(rtt_ms: f64, timeout_ms: f64) -> f64 {
    4.0 * rtt_ms + timeout_ms
}

/// Two requests through a smart proxy (chapter item 18): 4 RTT over two new
/// connections, then 2 RTT over the two kept-alive ones.
pub fn smart_proxy_ms(rtt_ms: f64) -> f64 {
    6.0 * rtt_ms
}

/// Four pipelined requests to a server that closes after `max` = 2 (chapter item
/// 19): the first connection pays its handshake and the first request (2 RTT) and
/// answers one of the pipelined batch (1 RTT), closing with the rest unanswered;
/// they are retried on a second connection: handshake and request (2 RTT) and the
/// last (1 RTT): 6 RTT.
pub fn keep_alive_max_two_ms(rtt_ms: f64) -> f64 {
    6.0 * rtt_ms
}

/// A request retried after truncated responses (chapter items 22 and 23): each
/// attempt opens a new connection, 2 RTT, and a GET is tried 1 + `retries` times.
pub fn attempts_ms(retries: u64, rtt_ms: f64) -> f64 {
    (1 + retries) as f64 * 2.0 * rtt_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_books_figures() {
        assert_eq!(serial_ms(4, 100.0), 800.0);
        assert_eq!(persistent_ms(4, 100.0), 500.0);
        assert_eq!(parallel_page_ms(3, 4, 100.0), 400.0);
        assert_eq!(parallel_page_ms(3, 1, 100.0), 800.0);
        assert_eq!(pipelined_ms(3, 10, 0.0, 100.0), 300.0);
        assert_eq!(pipelined_ms(3, 1, 200.0, 100.0), 900.0);
        assert_eq!(slow_start_rounds(1, 45), 6);
        assert_eq!(slow_start_rounds(10, 45), 3);
        assert_eq!(time_wait_ceiling_per_s(60_000, 120_000.0), Some(500.0));
        assert_eq!(time_wait_ceiling_per_s(60_000, 0.0), None);
        assert_eq!(nagle_stall_ms(100.0, 200.0), 300.0);
        assert_eq!(ack_hold_ms(Some(40.0), 16), 0.0);
        assert_eq!(ack_hold_ms(Some(200.0), 0), 200.0);
        assert_eq!(response_head_bytes(1024), 81);
    }

    /// The chapter test's churn: 300 requests, 100 ports, 2MSL 10 s, RTT 1 ms.
    #[test]
    fn time_wait_generations() {
        let expected = 2.0 * (3.0 + 10_000.0) + 99.0 * 2.0 + 2.0;
        assert_eq!(time_wait_run_ms(300, 100, 10_000.0, 1.0), expected);
        assert_eq!(time_wait_run_ms(300, 100, 0.0, 1.0), 600.0);
        assert_eq!(time_wait_run_ms(0, 100, 0.0, 1.0), 0.0);
    }
}
