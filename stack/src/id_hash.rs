//! Hash maps keyed by the small integers a program hands out itself (connection
//! ids, an application's connection indexes): one multiplication (Fibonacci
//! hashing) instead of std's keyed SipHash. Keys that a peer chooses (addresses,
//! ports) keep the keyed hash, so that no one can make them collide on purpose.

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
