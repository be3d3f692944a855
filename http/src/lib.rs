//! # tcpknobs-http
//!
//! HTTP/1.x for the lab, as sans-IO state machines over a
//! [`tcpknobs_stack::Host`]'s socket API, so the same code runs on the simulated link
//! and on a TAP device.
//!
//! * [`message`], [`body`]: message heads (httparse) and body framing (Content-Length,
//!   chunked, until close), strict about the ambiguities that enable request smuggling.
//! * [`payload`]: the deterministic body pattern every response carries and every
//!   client verifies byte by byte.
//! * [`outbox`]: messages as a chosen number of write() calls.
//! * [`server`]: the origin server; [`client`]: the connection manager and its
//!   strategies; [`workload`]: what the client asks for.
//! * [`transaction`]: one exchange's timing, as every output names it; [`blame`]:
//!   where its time went, by cause.
#![warn(missing_docs)]

pub mod blame;
pub mod body;
pub mod client;
mod in_flight;
pub mod message;
pub mod outbox;
pub mod payload;
pub mod proxy;
mod read_buffer;
pub mod server;
pub mod transaction;
mod wakeups;
pub mod workload;

/// Seeded numbers for the unit tests' random operations: each call gives one below
/// its bound, and a seed always gives the same sequence (a linear congruential
/// generator's high bits: plenty for shuffling test operations, no dependency).
#[cfg(test)]
pub(crate) fn test_numbers(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |bound| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize % bound
    }
}
