//! A min-heap of deadlines whose entries may go stale.
//!
//! A deadline that moves is pushed again rather than found and removed (a binary heap
//! cannot remove from the middle; an ordered set can, at the cost of a tree walk and
//! node allocations on every move). The owner knows which entry is current (a map of
//! each key's deadline, a stamp); stale ones are skipped as they surface. Left alone
//! they could pile up without bound, one per move (a busy server moves every
//! connection's keep-alive deadline on each response; a peer that keeps ACKing in
//! TIME-WAIT moves its tuple's expiry on each ACK), so once they outnumber the current
//! entries twice over (plus [`SLACK`]), the heap is rebuilt from the current ones:
//! its size follows the live deadlines, at O(1) amortized per push.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Entries a heap may hold besides twice its current ones before it is rebuilt, so
/// that a small heap is not rebuilt at every other push.
pub const SLACK: usize = 1024;

/// See the module docs. `T` orders the entries, earliest first: a tuple starting with
/// the deadline.
#[derive(Clone, Debug)]
pub struct StaleHeap<T> {
    heap: BinaryHeap<Reverse<T>>,
}

impl<T: Ord> Default for StaleHeap<T> {
    fn default() -> StaleHeap<T> {
        StaleHeap {
            heap: BinaryHeap::new(),
        }
    }
}

impl<T: Ord> StaleHeap<T> {
    /// Add an entry; stale or not, it comes out in its order.
    pub fn push(&mut self, entry: T) {
        self.heap.push(Reverse(entry));
    }

    /// The earliest entry, current or not.
    pub fn peek(&self) -> Option<&T> {
        self.heap.peek().map(|Reverse(entry)| entry)
    }

    /// Take the earliest entry, current or not.
    pub fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|Reverse(entry)| entry)
    }

    /// Drop stale entries off the top: the earliest current entry, if any, is then
    /// [`Self::peek`]'s.
    pub fn drop_stale_top(&mut self, mut is_current: impl FnMut(&T) -> bool) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if is_current(top) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Rebuild the heap from its current entries if stale ones outnumber the
    /// `current` ones twice over, plus [`SLACK`] (see the module docs).
    pub fn bound(&mut self, current: usize, mut is_current: impl FnMut(&T) -> bool) {
        if self.heap.len() > 2 * current + SLACK {
            self.heap.retain(|Reverse(entry)| is_current(entry));
        }
    }

    /// Entries held, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

impl<T: Ord> Extend<T> for StaleHeap<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, entries: I) {
        self.heap.extend(entries.into_iter().map(Reverse));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries come out earliest first; dropping the stale top leaves the earliest
    /// current entry on top; a rebuild keeps exactly the current entries, and only
    /// once the bound is passed.
    #[test]
    fn skips_stale_entries_and_rebuilds_past_the_bound() {
        let mut h = StaleHeap::default();
        // Key k's current deadline is 10 * k; stale ones are below it.
        let current = |&(at, k): &(u64, u64)| at == 10 * k;
        for k in 0..3 {
            h.push((10 * k, k));
        }
        h.extend([(1, 1), (2, 2)]);
        assert_eq!(h.peek(), Some(&(0, 0)));
        assert_eq!(h.pop(), Some((0, 0)));
        assert_eq!(h.peek(), Some(&(1, 1)));
        h.drop_stale_top(current);
        assert_eq!(h.peek(), Some(&(10, 1)));
        assert_eq!(h.len(), 2);
        // Stale entries up to the bound: 2 current, so 2 * 2 + SLACK in all.
        for i in 0..(2 * 2 + SLACK as u64 - 2) {
            h.push((i % 10, 2));
        }
        assert_eq!(h.len(), 2 * 2 + SLACK);
        h.bound(2, current);
        assert_eq!(h.len(), 2 * 2 + SLACK, "not past the bound yet");
        h.push((3, 2));
        h.bound(2, current);
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h.pop(), h.pop(), h.pop()),
            (Some((10, 1)), Some((20, 2)), None)
        );
        assert!(h.is_empty());
    }
}
