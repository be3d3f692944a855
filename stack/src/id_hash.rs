//! Hash maps keyed by the small integers a program hands out itself (connection
//! ids, an application's connection indexes): a multiplication (Fibonacci hashing)
//! instead of std's keyed SipHash. Keys that a peer chooses (addresses, ports) keep
//! a keyed hash, so that no one can make them collide on purpose: a fast one with a
//! random key per process ([`TupleHashMap`]).
//!
//! Ids are handed out in order, and a run handles connections in about the order
//! they opened (ten thousand that opened together are answered together). So eight
//! consecutive ids hash to eight consecutive buckets, whose entries share cache
//! lines, and only the blocks of eight are scattered by the multiplication: a pass
//! over many connections meets a cold block once per eight ids instead of a cold
//! bucket per id (the scale benchmark's (c): 2.2 % less wall time, interleaved
//! pairs). Not the id itself: hashbrown finds an absent key by probing until a group
//! has an empty bucket, and ids packed into one long run of full buckets would make
//! that walk grow with the square root of the run (a stale timer's lookup among a
//! million connections). Blocks scattered leave empty buckets between them, as any
//! hash does. The top seven bits, which tell the entries of a group apart, differ
//! within a block.

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

    /// The block of eight `n` is in, times 2^64 over the golden ratio, with `n`'s
    /// place in its block in the low bits and in the top ones (see the module docs).
    fn write_usize(&mut self, n: usize) {
        let n = n as u64;
        let block = (n >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(32);
        self.0 = (block & !7) ^ (n & 7) ^ ((n & 7) << 57);
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
    fn blocks_of_eight_ids_take_consecutive_buckets_and_blocks_scatter() {
        let build = BuildHasherDefault::<IdHasher>::default();
        let mut blocks = std::collections::BTreeSet::new();
        for block in 0..4096usize {
            let first = build.hash_one(8 * block);
            let mut tags = std::collections::BTreeSet::new();
            for lane in 0..8usize {
                let h = build.hash_one(8 * block + lane);
                // The bucket after the one before, in any table of 8 buckets or more.
                assert_eq!(h & !(0x7f << 57), (first & !(0x7f << 57)) + lane as u64);
                tags.insert(h >> 57);
            }
            // The entries of a group differ in the bits that tell them apart.
            assert_eq!(tags.len(), 8);
            // Where the block lands in a table of 2^16 buckets.
            blocks.insert((first >> 3) & 0x1fff);
        }
        // 4,096 blocks over 8,192 places: spread as a random placement would be
        // (about 3,200 distinct expected), not packed into one run of places.
        assert!(blocks.len() > 3000, "{} distinct places", blocks.len());
        let mut longest = 0;
        let mut run = 0;
        for place in 0..0x2000u64 {
            run = if blocks.contains(&place) { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        assert!(longest < 64, "a run of {longest} places");
    }
}
