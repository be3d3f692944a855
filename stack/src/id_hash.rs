//! Hash maps keyed by the small integers a program hands out itself (connection
//! ids, an application's connection indexes): the key itself, with seven mixed bits
//! on top, instead of std's keyed SipHash. Keys that a peer chooses (addresses,
//! ports) keep a keyed hash, so that no one can make them collide on purpose: a
//! fast one with a random key per process ([`TupleHashMap`]).
//!
//! Why the key itself. The table picks a bucket by the hash's low bits and tells
//! entries of a group apart by its top seven. Ids are handed out in order and mostly
//! given up in order, so the live ones are a run of consecutive integers: with their
//! own low bits they take consecutive buckets, no two the same while fewer are live
//! than there are buckets, and a pass over connections in the order they opened (ten
//! thousand that opened together, answered together) walks the table's memory
//! front to back, which the CPU prefetches. A multiplicative hash (Fibonacci hashing,
//! used before) scattered them, and each lookup was a cache miss. The top seven bits
//! come from that multiplication, so that entries of a group still differ there.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// See the module docs.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    /// The key in the low bits, seven bits of `n` times 2^64 over the golden ratio
    /// on top (see the module docs).
    fn write_usize(&mut self, n: usize) {
        let n = n as u64;
        self.0 = n ^ (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) & (0x7f << 57));
    }
}

/// A hash map whose keys are ids the program hands out (see the module docs).
pub type IdHashMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A hash map keyed by what a peer chooses (its address and port): foldhash, one
/// folded multiplication of the key mixed with a random 128-bit secret drawn once
/// per process. Linux keys its established-connection table the same way, with a
/// fast non-cryptographic hash (Jenkins' `jhash`) and a boot-time secret
/// (`inet_ehashfn`), not SipHash: the secret is what keeps a peer from choosing
/// colliding ports. std's SipHash-1-3 took 170 instructions a lookup, and every
/// segment takes two (the bulk benchmark spent 1.9 % of its instructions there).
pub type TupleHashMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn ids_keep_their_order_in_the_low_bits_and_differ_on_top() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let mut tags = std::collections::BTreeSet::new();
        for n in 0..4096usize {
            let h = build.hash_one(n);
            // Consecutive ids, consecutive buckets.
            assert_eq!(h & 0xffff_ffff, n as u64);
            tags.insert(h >> 57);
        }
        // The seven bits that tell a group's entries apart take all their values.
        assert_eq!(tags.len(), 128);
    }
}
