//! Hash maps keyed by the small integers a program hands out itself (connection
//! ids, an application's connection indexes): one multiplication (Fibonacci
//! hashing) instead of std's keyed SipHash. Keys that a peer chooses (addresses,
//! ports) keep a keyed hash, so that no one can make them collide on purpose: a
//! fast one with a random key per process ([`TupleHashMap`]).

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

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
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
