//! SYN cookies (RFC 4987 §3.6), as Linux makes them (`net/ipv4/syncookies.c`).
//!
//! A listener whose SYN queue is full does not keep state for a new SYN: it answers
//! with a SYN-ACK whose initial sequence number encodes what it would have kept, and
//! builds the connection only if an ACK comes back acknowledging that number. A flood
//! of SYNs from addresses that never answer therefore costs the server nothing but
//! the SYN-ACKs. What a cookie can carry is 32 bits, so Linux keeps only the peer's
//! MSS, rounded down to one of four values, plus a clock that makes a cookie expire;
//! window scaling and SACK are carried only in TCP timestamps, which the lab's hosts
//! do not send, so a cookie connection has neither (as on Linux without timestamps).
//!
//! The layout, after Linux's `secure_tcp_syn_cookie`: with `h1`, `h2` keyed hashes
//! of the 4-tuple (the second also of the clock), the peer's ISN `isn`, the clock
//! `count` in minutes and the MSS index `m`:
//!
//! `cookie = h1 + isn + (count << 24) + ((h2(count) + m) mod 2^24)`
//!
//! Checking subtracts `h1 + isn`, reads the clock from the top 8 bits, accepts it if
//! it is at most one minute old (Linux's `MAX_SYNCOOKIE_AGE` 2: this minute or the
//! last), and then `m` from the low 24 bits, which must name a table entry. A forged
//! ACK passes with probability about 4 in 2^24 for each clock value tried.
//!
//! The hashes are SipHash-2-4 with a 128-bit key drawn from the host's seed, the
//! keyed function Linux uses, so a peer that sees cookies cannot predict the next.

use siphasher::sip::SipHasher24;
use smoltcp::time::Instant;

use crate::time_wait::FourTuple;

/// The MSS values a cookie can carry (Linux's `msstab` for IPv4): the largest not
/// above the peer's announced MSS is kept.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// Linux's `COOKIEBITS`: the low bits carry the MSS index under a keyed hash, the
/// high bits the clock.
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Linux's `TCP_SYNCOOKIE_PERIOD`: the cookie clock ticks once a minute.
const PERIOD_MS: i64 = 60_000;
/// Linux's `MAX_SYNCOOKIE_AGE`: a cookie made this minute or the one before is valid.
const MAX_AGE: u32 = 2;

/// Makes and checks cookies for one host. See the module docs.
#[derive(Clone, Debug)]
pub struct SynCookies {
    key: (u64, u64),
}

/// What a valid cookie gave back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The peer's MSS, rounded down to [`MSS_TABLE`].
    pub mss: u16,
}

impl SynCookies {
    /// Cookies keyed from `seed` (each host draws its own seed).
    pub fn new(seed: u64) -> SynCookies {
        SynCookies {
            key: (
                crate::rng::derive_seed(seed, COOKIE_STREAM),
                crate::rng::derive_seed(seed, COOKIE_STREAM + 1),
            ),
        }
    }

    /// The cookie clock at `now`: minutes since the clock's origin.
    pub fn clock(now: Instant) -> u32 {
        (now.total_millis().max(0) / PERIOD_MS) as u32
    }

    /// The initial sequence number of a cookie SYN-ACK answering a SYN with sequence
    /// number `peer_isn` and MSS option `peer_mss` (536 if it had none, RFC 9293
    /// §3.7.1) on `tuple` (named from the listener's side). [`SynCookies::check`]
    /// gives back the MSS the connection will use.
    pub fn make(&self, tuple: &FourTuple, peer_isn: u32, peer_mss: u16, now: Instant) -> u32 {
        let index = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
        let count = Self::clock(now);
        self.hash(tuple, 0, 0)
            .wrapping_add(peer_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(self.hash(tuple, count, 1).wrapping_add(index as u32) & COOKIE_MASK)
    }

    /// Whether an ACK with sequence number `seq` and acknowledgment number `ack`
    /// completes a handshake this host answered with a cookie at most a minute ago
    /// (by the clock); if so, what the cookie kept.
    pub fn check(&self, tuple: &FourTuple, seq: u32, ack: u32, now: Instant) -> Option<Decoded> {
        let peer_isn = seq.wrapping_sub(1);
        let cookie = ack.wrapping_sub(1);
        let count = Self::clock(now);
        let rest = cookie
            .wrapping_sub(self.hash(tuple, 0, 0))
            .wrapping_sub(peer_isn);
        // The clock's low 8 bits, as the cookie stored them.
        let age = count.wrapping_sub(rest >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if age >= MAX_AGE {
            return None;
        }
        let made = count.wrapping_sub(age);
        let index = rest.wrapping_sub(self.hash(tuple, made, 1)) & COOKIE_MASK;
        MSS_TABLE.get(index as usize).map(|&mss| Decoded { mss })
    }

    fn hash(&self, tuple: &FourTuple, count: u32, which: u8) -> u32 {
        let mut bytes = [0u8; 17];
        bytes[0..4].copy_from_slice(&tuple.remote_addr.octets());
        bytes[4..8].copy_from_slice(&tuple.local_addr.octets());
        bytes[8..10].copy_from_slice(&tuple.remote_port.to_be_bytes());
        bytes[10..12].copy_from_slice(&tuple.local_port.to_be_bytes());
        bytes[12..16].copy_from_slice(&count.to_be_bytes());
        bytes[16] = which;
        SipHasher24::new_with_keys(self.key.0, self.key.1).hash(&bytes) as u32
    }
}

/// Keys the cookie secret apart from the host's other seeded streams.
const COOKIE_STREAM: u64 = 4987;

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::Ipv4Address;

    fn tuple() -> FourTuple {
        FourTuple {
            local_addr: Ipv4Address::new(10, 0, 0, 2),
            local_port: 80,
            remote_addr: Ipv4Address::new(10, 0, 0, 1),
            remote_port: 40_000,
        }
    }

    fn at_s(s: i64) -> Instant {
        Instant::from_secs(s)
    }

    #[test]
    fn a_cookie_comes_back_with_the_mss_rounded_down_to_the_table() {
        let c = SynCookies::new(7);
        for (announced, kept) in [
            (1460, 1460),
            (1448, 1440),
            (1400, 1300),
            (536, 536),
            (100, 536),
            (9000, 1460),
        ] {
            let cookie = c.make(&tuple(), 1000, announced, at_s(5));
            let back = c.check(&tuple(), 1001, cookie.wrapping_add(1), at_s(5));
            assert_eq!(back, Some(Decoded { mss: kept }), "announced {announced}");
        }
    }

    #[test]
    fn a_cookie_is_valid_this_minute_and_the_next_only() {
        let c = SynCookies::new(7);
        let cookie = c.make(&tuple(), u32::MAX, 1460, at_s(59));
        // The peer's ISN wraps: its ACK carries ISN + 1 = 0.
        let ok = |s| {
            c.check(&tuple(), 0, cookie.wrapping_add(1), at_s(s))
                .is_some()
        };
        assert!(ok(59));
        assert!(ok(60));
        assert!(ok(119));
        assert!(!ok(120));
    }

    #[test]
    fn a_cookie_names_its_tuple_peer_isn_and_secret() {
        let c = SynCookies::new(7);
        let cookie = c.make(&tuple(), 5000, 1460, at_s(1));
        let ack = cookie.wrapping_add(1);
        let mut other = tuple();
        other.remote_port += 1;
        assert!(c.check(&other, 5001, ack, at_s(1)).is_none());
        // As in Linux, the peer's ISN is added in the clear: one a little off moves
        // the index (5002 would decode as 1440), one further off names no entry.
        assert!(c.check(&tuple(), 5101, ack, at_s(1)).is_none());
        assert!(SynCookies::new(8)
            .check(&tuple(), 5001, ack, at_s(1))
            .is_none());
        assert!(c.check(&tuple(), 5001, ack, at_s(1)).is_some());
    }

    #[test]
    fn forged_acks_rarely_pass() {
        // The low 24 bits must decode to one of 4 indexes and the top 8 to one of 2
        // clock values: about 2 * 4 / 2^32 of random ACK numbers pass.
        let c = SynCookies::new(7);
        let mut rng = crate::rng::Rng::new(1);
        let passed = (0..200_000)
            .filter(|_| {
                let ack = rng.next_u64() as u32;
                c.check(&tuple(), 5001, ack, at_s(1)).is_some()
            })
            .count();
        assert_eq!(passed, 0);
    }
}
