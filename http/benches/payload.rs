//! Speed of the body pattern: what a server pays to generate a body and a client to
//! check one (`cargo bench -p tcpknobs-http --bench payload`). Prints MB/s; no
//! assertions (timings belong in reports, not tests).

use std::hint::black_box;
use std::time::Instant;

use tcpknobs_http::payload;

/// Bytes per call: the server's piece and the outbox's step.
const PIECE: usize = 64 * 1024;
/// Bytes per measurement.
const TOTAL: u64 = 1 << 30;

fn rate(label: &str, mut f: impl FnMut(u64)) {
    let start = Instant::now();
    let mut offset = 0;
    while offset < TOTAL {
        f(offset);
        offset += PIECE as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{label:<40} {:>8.0} MB/s", TOTAL as f64 / secs / 1e6);
}

fn main() {
    let mut buf = vec![0u8; PIECE];
    // An odd start: the unaligned head and tail paths run too.
    rate("fill, 64 KiB pieces", |o| {
        payload::fill(black_box(o + 3), &mut buf);
        black_box(&buf);
    });
    let mut body = vec![0u8; PIECE];
    payload::fill(3, &mut body);
    rate("verify, 64 KiB pieces (same piece)", |_| {
        black_box(payload::verify(black_box(3), &body)).ok();
    });
    // What a bulk client sees: one segment's payload at a time, at any offset.
    const SEGMENT: usize = 1460;
    rate("verify, 1,460-byte segments", |o| {
        for (k, piece) in body.chunks_exact(SEGMENT).enumerate() {
            let at = 3 + (k * SEGMENT) as u64;
            black_box(payload::verify(black_box(at), piece)).ok();
        }
        black_box(o);
    });
    rate("fill, 1,460-byte segments", |o| {
        for (k, piece) in buf.chunks_exact_mut(SEGMENT).enumerate() {
            payload::fill(black_box(o + 3 + (k * SEGMENT) as u64), piece);
        }
        black_box(&buf);
    });
    rate("byte_at per byte (the definition)", |o| {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = payload::byte_at(o + i as u64);
        }
        black_box(&buf);
    });
}
