//! Kernel-TCP ping-pong for scripts/bench-tap.sh: the leanest possible HTTP peer, so a
//! latency comparison measures the stacks, not an interpreter. Standard library only;
//! the script builds it with `rustc -O` (not part of the workspace, not run by CI).
//!
//!   pingpong server IP:PORT            answer every request head with one fixed
//!                                      response (HTTP/1.1, 1-byte body), keep-alive
//!   pingpong client IP:PORT COUNT      one connection, TCP_NODELAY, COUNT x (send a
//!                                      GET, read the whole response); prints
//!                                      "median_us p10_us p90_us min_us" of the
//!                                      exchanges after 10% warm-up

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nv";
const REQUEST: &[u8] = b"GET /bytes/1 HTTP/1.1\r\nHost: lab\r\n\r\n";
const TIMEOUT: Duration = Duration::from_secs(20);

fn serve(conn: TcpStream) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    let mut conn = conn;
    let mut buf = vec![0u8; 65536];
    let mut have = 0;
    loop {
        let n = conn.read(&mut buf[have..])?;
        if n == 0 {
            return Ok(());
        }
        have += n;
        // Answer every complete head in the buffer.
        while let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            conn.write_all(RESPONSE)?;
            buf.copy_within(end + 4..have, 0);
            have -= end + 4;
        }
        if have == buf.len() {
            return Ok(());
        }
    }
}

/// Read one whole response: a head and the body its Content-Length announces.
fn read_response(conn: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<()> {
    let mut have = 0;
    loop {
        let n = conn.read(&mut buf[have..])?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed mid-response"));
        }
        have += n;
        if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if have >= end + 4 + len {
                return Ok(());
            }
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("server") if args.len() == 3 => {
            let listener = TcpListener::bind(&args[2])?;
            println!("ready");
            for conn in listener.incoming() {
                let conn = conn?;
                std::thread::spawn(move || {
                    let _ = serve(conn);
                });
            }
            Ok(())
        }
        Some("client") if args.len() == 4 => {
            let count: usize = args[3].parse().map_err(std::io::Error::other)?;
            let mut conn = TcpStream::connect(&args[2])?;
            conn.set_nodelay(true)?;
            conn.set_read_timeout(Some(TIMEOUT))?;
            let mut buf = vec![0u8; 65536];
            let warmup = count / 10;
            let mut samples = Vec::with_capacity(count);
            for i in 0..warmup + count {
                let t0 = Instant::now();
                conn.write_all(REQUEST)?;
                read_response(&mut conn, &mut buf)?;
                if i >= warmup {
                    samples.push(t0.elapsed().as_secs_f64() * 1e6);
                }
            }
            samples.sort_by(f64::total_cmp);
            let n = samples.len();
            println!(
                "{:.1} {:.1} {:.1} {:.1}",
                samples[n / 2],
                samples[n / 10],
                samples[9 * n / 10],
                samples[0]
            );
            Ok(())
        }
        _ => {
            eprintln!("usage: pingpong server IP:PORT | pingpong client IP:PORT COUNT");
            std::process::exit(2);
        }
    }
}
