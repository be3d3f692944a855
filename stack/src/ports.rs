//! Ephemeral (local) port allocation for active opens.
//!
//! smoltcp 0.14 has none: `TcpSocket::connect` takes whatever local port the
//! caller passes. The lab needs many short connections toward one server, so
//! it must pick ports the way a real stack does and must see when the range
//! runs out because closed connections still sit in TIME-WAIT (RFC 9293
//! §3.6). Pure logic: the allocator does not know about sockets or
//! TIME-WAIT itself; the caller's closure answers "is this port taken?".

/// Linux's default `net.ipv4.ip_local_port_range`: 32768–60999 inclusive.
pub const LINUX_DEFAULT_RANGE: (u16, u16) = (32768, 60999);

/// Why a port could not be allocated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Every port of the range was rejected by the caller's `in_use` check
    /// (Linux: `connect()` fails with `EADDRNOTAVAIL`). Usually means too many
    /// recent connections toward one peer are in TIME-WAIT; the caller adds the
    /// peer's address to the message and can ask its TIME-WAIT table when the
    /// first port frees up.
    #[error("all {count} ephemeral ports ({lo}-{hi}) are in use or in TIME_WAIT")]
    Exhausted {
        /// First port of the range.
        lo: u16,
        /// Last port of the range (inclusive).
        hi: u16,
        /// Number of ports in the range, all of which were tried.
        count: u32,
    },
}

/// Round-robin allocator over an inclusive port range.
///
/// Why round robin: handing out the port after the last one used is the
/// traditional BSD scheme (RFC 6056 §2.2) and makes a just-closed port the
/// last to be reused, which keeps TIME-WAIT collisions rare and runs
/// reproducible. Linux instead starts from a keyed hash of the 4-tuple plus a
/// counter (RFC 6056 §3.3.4, `__inet_hash_connect`) to resist port guessing,
/// which is no goal of this lab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EphemeralPorts {
    lo: u16,
    hi: u16,
    /// The port tried first by the next `allocate`; always in `lo..=hi`.
    next: u16,
}

impl Default for EphemeralPorts {
    /// Linux's default range, [`LINUX_DEFAULT_RANGE`].
    fn default() -> Self {
        EphemeralPorts::new(LINUX_DEFAULT_RANGE.0, LINUX_DEFAULT_RANGE.1)
    }
}

impl EphemeralPorts {
    /// The inclusive range `lo..=hi`, like `ip_local_port_range`. Callers
    /// should pass `1 <= lo <= hi`; anything else is repaired rather than
    /// panicking: reversed bounds are swapped and port 0 (which means "any
    /// port" to socket APIs, never a real port) is raised to 1.
    pub fn new(lo: u16, hi: u16) -> Self {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let lo = lo.max(1);
        let hi = hi.max(lo);
        EphemeralPorts { lo, hi, next: lo }
    }

    /// Start the search at `offset` ports into the range (taken modulo its size)
    /// instead of at `lo`. RFC 6056 §3.3 asks for an unpredictable starting point, so
    /// that two runs do not reuse the same 4-tuples in the same order: a peer that
    /// still holds one in TIME_WAIT would answer the new SYN with a challenge ACK and
    /// cost a SYN retransmission (1 s).
    pub fn with_offset(mut self, offset: u64) -> Self {
        let span = u64::from(self.len());
        self.next = self.lo + (offset % span) as u16;
        self
    }

    /// Picks the next port in round-robin order, starting at the port after
    /// the last one handed out and wrapping from `hi` to `lo`, skipping every
    /// port for which `in_use(port)` is true (the caller checks live sockets
    /// and its TIME-WAIT table for the resulting 4-tuple). Each port is asked
    /// about at most once per call, in order. Deterministic. When every port
    /// is in use it returns [`PortError::Exhausted`] and the round-robin
    /// position is unchanged.
    pub fn allocate(&mut self, mut in_use: impl FnMut(u16) -> bool) -> Result<u16, PortError> {
        let count = self.len();
        let start = u32::from(self.next.saturating_sub(self.lo));
        for i in 0..count {
            // offset < count <= 65535, so lo + offset <= hi fits in u16.
            let offset = ((start + i) % count) as u16;
            let port = self.lo.saturating_add(offset);
            if !in_use(port) {
                self.next = if port >= self.hi { self.lo } else { port + 1 };
                return Ok(port);
            }
        }
        Err(PortError::Exhausted {
            lo: self.lo,
            hi: self.hi,
            count,
        })
    }

    /// [`EphemeralPorts::allocate`] when only `candidates` can be free (every other
    /// port is known to be in use): the same port, the first free one from the
    /// cursor on, found without walking the range.
    pub fn allocate_among(
        &mut self,
        candidates: &[u16],
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Result<u16, PortError> {
        let count = self.len();
        let start = u32::from(self.next.saturating_sub(self.lo));
        let distance = |p: u16| (u32::from(p - self.lo) + count - start) % count;
        let mut best: Option<u16> = None;
        for &p in candidates {
            if !(self.lo..=self.hi).contains(&p) || in_use(p) {
                continue;
            }
            if best.is_none_or(|b| distance(p) < distance(b)) {
                best = Some(p);
            }
        }
        match best {
            Some(port) => {
                self.next = if port >= self.hi { self.lo } else { port + 1 };
                Ok(port)
            }
            None => Err(PortError::Exhausted {
                lo: self.lo,
                hi: self.hi,
                count,
            }),
        }
    }

    /// Number of ports in the range (1 to 65535), as `u32` because
    /// 1..=65535 holds 65535 ports but 0..=65535 would not fit a `u16` count.
    pub fn len(&self) -> u32 {
        u32::from(self.hi - self.lo) + 1
    }

    /// Always false: the range holds at least one port (see [`Self::new`]).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// First port of the range (after any repair by [`Self::new`]).
    pub fn lo(&self) -> u16 {
        self.lo
    }

    /// Last port of the range, inclusive (after any repair by [`Self::new`]).
    pub fn hi(&self) -> u16 {
        self.hi
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn offset_sets_the_first_port_and_wraps() {
        let mut p = EphemeralPorts::new(100, 109).with_offset(3);
        assert_eq!(p.allocate(|_| false).unwrap(), 103);
        let mut p = EphemeralPorts::new(100, 109).with_offset(3 + 10 * 7);
        assert_eq!(
            p.allocate(|_| false).unwrap(),
            103,
            "taken modulo the range"
        );
        let mut p = EphemeralPorts::new(100, 109).with_offset(9);
        assert_eq!(p.allocate(|_| false).unwrap(), 109);
        assert_eq!(p.allocate(|_| false).unwrap(), 100, "then wraps");
        let mut full = EphemeralPorts::new(1, 65535).with_offset(u64::MAX);
        assert!(full.allocate(|_| false).is_ok());
    }
    use super::*;
    use std::collections::BTreeSet;

    fn free(_: u16) -> bool {
        false
    }

    #[test]
    fn allocate_among_finds_the_port_a_walk_finds() {
        // Every port of 100-109 in use but 101, 104 and 108; the cursor at 105.
        let free_ports = [101, 104, 108];
        let in_use = |p: u16| !free_ports.contains(&p);
        for start in 0..10 {
            let mut walk = EphemeralPorts::new(100, 109).with_offset(start);
            let mut among = walk.clone();
            let candidates = [108, 101, 104, 106, 200];
            assert_eq!(
                among.allocate_among(&candidates, in_use),
                walk.allocate(in_use)
            );
            assert_eq!(among, walk, "the cursor moves the same way");
        }
        let mut p = EphemeralPorts::new(100, 109);
        assert!(p.allocate_among(&[103], |_| true).is_err());
    }

    #[test]
    fn round_robin_from_lo_and_wraps() {
        // Range 100..=104 (5 ports), nothing in use: 100, 101, 102, 103, 104, then 100 again.
        let mut p = EphemeralPorts::new(100, 104);
        assert_eq!(p.len(), 5);
        let got: Vec<u16> = (0..6).map(|_| p.allocate(free).unwrap()).collect();
        assert_eq!(got, vec![100, 101, 102, 103, 104, 100]);
    }

    #[test]
    fn continues_after_last_port_even_if_earlier_ones_are_free() {
        let mut p = EphemeralPorts::new(100, 104);
        assert_eq!(p.allocate(free), Ok(100));
        assert_eq!(p.allocate(free), Ok(101));
        // 100 is free again, but round robin goes on from 102.
        assert_eq!(p.allocate(free), Ok(102));
    }

    #[test]
    fn skips_ports_in_use() {
        let mut p = EphemeralPorts::new(100, 104);
        let taken: BTreeSet<u16> = [101, 102, 104].into();
        // 100 free → 100; then 101, 102 taken → 103; then 104 taken, wrap → 100.
        assert_eq!(p.allocate(|q| taken.contains(&q)), Ok(100));
        assert_eq!(p.allocate(|q| taken.contains(&q)), Ok(103));
        assert_eq!(p.allocate(|q| taken.contains(&q)), Ok(100));
    }

    #[test]
    fn wraps_around_from_hi_and_asks_each_port_once_in_order() {
        let mut p = EphemeralPorts::new(100, 104);
        for _ in 0..3 {
            p.allocate(free).unwrap(); // 100, 101, 102 → next 103
        }
        // 103, 104, 100 taken: asked in that order, 101 is the answer.
        let mut asked = Vec::new();
        let port = p.allocate(|q| {
            asked.push(q);
            [103, 104, 100].contains(&q)
        });
        assert_eq!(port, Ok(101));
        assert_eq!(asked, vec![103, 104, 100, 101]);
        assert_eq!(p.allocate(free), Ok(102));
    }

    #[test]
    fn exhaustion_reports_the_range_and_keeps_the_position() {
        let mut p = EphemeralPorts::new(100, 104);
        p.allocate(free).unwrap(); // 100 → next 101
        let mut asked = 0;
        let err = p
            .allocate(|_| {
                asked += 1;
                true
            })
            .unwrap_err();
        assert_eq!(asked, 5); // every port tried exactly once
        assert_eq!(
            err,
            PortError::Exhausted {
                lo: 100,
                hi: 104,
                count: 5
            }
        );
        assert_eq!(
            err.to_string(),
            "all 5 ephemeral ports (100-104) are in use or in TIME_WAIT"
        );
        // Once something frees up, round robin resumes where it stood.
        assert_eq!(p.allocate(free), Ok(101));
    }

    #[test]
    fn single_port_range() {
        let mut p = EphemeralPorts::new(5000, 5000);
        assert_eq!(p.len(), 1);
        assert_eq!(p.allocate(free), Ok(5000));
        assert_eq!(p.allocate(free), Ok(5000));
        assert_eq!(
            p.allocate(|q| q == 5000),
            Err(PortError::Exhausted {
                lo: 5000,
                hi: 5000,
                count: 1
            })
        );
    }

    #[test]
    fn full_range_1_to_65535_without_overflow() {
        let mut p = EphemeralPorts::new(1, 65535);
        assert_eq!(p.len(), 65535);
        // Everything but 65535 in use: that one, and next wraps to 1.
        assert_eq!(p.allocate(|q| q != 65535), Ok(65535));
        assert_eq!(p.allocate(free), Ok(1));
        let mut asked = 0u32;
        let err = p.allocate(|_| {
            asked += 1;
            true
        });
        assert_eq!(asked, 65535);
        assert_eq!(
            err,
            Err(PortError::Exhausted {
                lo: 1,
                hi: 65535,
                count: 65535
            })
        );
    }

    #[test]
    fn invalid_bounds_are_repaired() {
        // Reversed: swapped.
        let p = EphemeralPorts::new(60999, 32768);
        assert_eq!((p.lo(), p.hi(), p.len()), (32768, 60999, 28232));
        // Port 0 raised to 1; 0..=0 becomes 1..=1.
        let p = EphemeralPorts::new(0, 10);
        assert_eq!((p.lo(), p.hi()), (1, 10));
        let mut p = EphemeralPorts::new(0, 0);
        assert_eq!((p.lo(), p.hi(), p.len()), (1, 1, 1));
        assert_eq!(p.allocate(free), Ok(1));
        assert!(!p.is_empty());
    }

    #[test]
    fn default_is_linux_range() {
        // 60999 - 32768 + 1 = 28232 ports.
        let mut p = EphemeralPorts::default();
        assert_eq!(p.len(), 28232);
        assert_eq!(p.allocate(free), Ok(32768));
    }
}
