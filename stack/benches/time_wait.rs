//! Cost of a TIME_WAIT lookup as the table grows: every segment for no live
//! connection asks the table about its tuple, and a busy server at the book's
//! 2MSL of 120 s holds hundreds of thousands of tuples. Prints ns per lookup of a
//! held and of an unheld tuple with 1,000, 100,000 and 1,000,000 tuples held
//! (`cargo bench -p tcpknobs-stack --bench time_wait`); no assertions (timings
//! belong in reports, not tests).

use std::hint::black_box;
use std::time::Instant as Wall;

use tcpknobs_stack::time_wait::{FourTuple, TimeWaitTable};
use tcpknobs_stack::{Duration, Instant, Ipv4Address};

/// Lookups per measurement.
const LOOKUPS: u64 = 2_000_000;

/// The `i`th tuple: clients spread over addresses and ports toward one server,
/// as a server's TIME_WAIT holds them.
fn tuple(i: u64) -> FourTuple {
    let host = (i / 60_000) as u32;
    FourTuple {
        local_addr: Ipv4Address::new(10, 0, 0, 1),
        local_port: 80,
        remote_addr: Ipv4Address::from_bits(0x0a01_0000 + host),
        remote_port: 1024 + (i % 60_000) as u16,
    }
}

/// SplitMix64: the lookups go all over the table, not down it in order.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn ns_per_lookup(table: &TimeWaitTable, pick: impl Fn(u64) -> FourTuple, now: Instant) -> f64 {
    let start = Wall::now();
    let mut held = 0u64;
    for k in 0..LOOKUPS {
        held += u64::from(table.is_held(black_box(&pick(k)), now));
    }
    black_box(held);
    start.elapsed().as_nanos() as f64 / LOOKUPS as f64
}

fn main() {
    println!("{:>10} {:>12} {:>12}", "held", "ns (held)", "ns (unheld)");
    for size in [1_000u64, 100_000, 1_000_000] {
        let mut table = TimeWaitTable::new(Duration::from_secs(120));
        let now = Instant::from_secs(0);
        for i in 0..size {
            table.hold(tuple(i), 1, 1, now);
        }
        let held = ns_per_lookup(&table, |k| tuple(mix(k) % size), now);
        let unheld = ns_per_lookup(&table, |k| tuple(size + mix(k) % size), now);
        println!("{size:>10} {held:>12.1} {unheld:>12.1}");
    }
}
