//! Which of an application's connections need driving at a poll, so that a poll
//! costs what is happening rather than what is open.
//!
//! Driving a connection (write what is queued, read what arrived, parse, close when
//! done) changes nothing unless something changed for it since it was last driven:
//! the host says which connections that may be ([`Host::read_news`]), the
//! application knows what it did itself (a request handed to a connection), and
//! its own timers say when time alone matters (a response timeout, a wait for the
//! server's FIN). An application drives exactly those, in key order, which is the
//! order in which it would have driven every connection: what a pass does, and so
//! every frame and every figure of a seeded run, is the same as when it drove them
//! all.
//!
//! Each connection is driven until a drive changes nothing ([`until_still`]), as
//! a program reads a socket until it would block: a read that returns the last data
//! leaves the end of the stream for the next read, and that read happens at once.
//! A connection woken for the next pass is work for the same instant
//! ([`Wakeups::has_woken`]): the application says so (`Application::has_work_now`)
//! and the settling loop polls it again before time moves on. When the next pass
//! was left to whatever event came next, a body delimited by the close whose last
//! segment arrived alone was seen to end only when the client's delayed ACK fired,
//! 40 ms late, with nothing to explain the wait.
//!
//! A connection's own calls into the host while it is driven are news about itself
//! only, and it has just seen them; what they do to *other* connections (a close
//! runs an egress pass over every socket touched so far) is news for those: a
//! connection later in key order is driven later in the same pass, as it would have
//! been, and one earlier in the next pass.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tcpknobs_stack::id_hash::IdHashMap;
use tcpknobs_stack::stale_heap::StaleHeap;
use tcpknobs_stack::{ConnId, Host, Instant, News, NewsReader};

/// Drives of one connection in a row, each of which changed it, before it is left
/// for the next pass instead (a bound that a connection coming to rest never meets:
/// see [`until_still`]).
const DRIVES_IN_A_ROW: usize = 64;

/// Where driving a connection until it is still left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rest {
    /// A drive changed nothing: driving it again before something happens to it
    /// would change nothing either.
    Still,
    /// Still changing after [`DRIVES_IN_A_ROW`] drives: the caller wakes it for the
    /// next pass.
    Moving,
    /// A drive ended the connection.
    Gone,
}

/// Drive a connection again and again until a drive changes nothing. `drive` drives
/// it once and says whether that changed it (`None`: the connection is gone). A
/// drive that moved it may have left more to do (a read returns the data before the
/// end of the stream, a parsed response lets the connection close), and doing that
/// at once is what the next drive would have done, as a program reads a socket
/// until it would block.
pub(crate) fn until_still(mut drive: impl FnMut() -> Option<bool>) -> Rest {
    for _ in 0..DRIVES_IN_A_ROW {
        match drive() {
            None => return Rest::Gone,
            Some(false) => return Rest::Still,
            Some(true) => {}
        }
    }
    Rest::Moving
}

/// See the module docs. Keys are the application's names for its connections, in
/// the order it drives them.
#[derive(Default)]
pub(crate) struct Wakeups {
    reader: Option<NewsReader>,
    /// Keys to drive in the next pass (a key may be in it more than once).
    next_pass: BinaryHeap<Reverse<usize>>,
    /// The storage of the latest pass, kept for the next: a pass then allocates
    /// nothing.
    spare: BinaryHeap<Reverse<usize>>,
    /// Each connection's own deadline, by key, while it has one.
    deadlines: IdHashMap<usize, Instant>,
    /// The same deadlines, earliest first: (when, key). An entry is current while
    /// `deadlines` still says so; others are skipped as they surface.
    timers: StaleHeap<(Instant, usize)>,
    scratch: Vec<ConnId>,
}

impl Wakeups {
    /// Drive `key` in the next pass.
    pub(crate) fn wake(&mut self, key: usize) {
        self.next_pass.push(Reverse(key));
    }

    /// Connection `key`'s deadline is now `at` (`None`: it has none).
    pub(crate) fn set_timer(&mut self, key: usize, at: Option<Instant>) {
        match at {
            Some(at) => {
                if self.deadlines.insert(key, at) != Some(at) {
                    self.timers.push((at, key));
                }
            }
            None => {
                self.deadlines.remove(&key);
            }
        }
    }

    /// Connection `key` is gone: its deadline with it.
    pub(crate) fn forget(&mut self, key: usize) {
        self.deadlines.remove(&key);
    }

    /// Wake the connections the host has news of. `key_of` names the application's
    /// key for a host connection (`None`: not one it drives); `all` lists every key,
    /// for when any connection may have changed.
    pub(crate) fn collect_news(
        &mut self,
        host: &mut Host,
        key_of: impl Fn(ConnId) -> Option<usize>,
        all: impl Iterator<Item = usize>,
    ) {
        let reader = *self.reader.get_or_insert_with(|| host.news_reader());
        self.scratch.clear();
        match host.read_news(reader, &mut self.scratch) {
            News::Listed => self.next_pass.extend(
                self.scratch
                    .iter()
                    .filter_map(|&id| key_of(id).map(Reverse)),
            ),
            News::Everything => self.next_pass.extend(all.map(Reverse)),
        }
    }

    /// Whether a connection was woken for the next pass: work for this same instant
    /// (see `Application::has_work_now`).
    pub(crate) fn has_woken(&self) -> bool {
        !self.next_pass.is_empty()
    }

    /// Whether, news collected, no connection needs driving at `now`: none woken
    /// and no deadline come (a stale one counts, to be safe). With nothing else
    /// changed since its last poll, an application can then answer at once.
    pub(crate) fn is_idle(&self, now: Instant) -> bool {
        self.next_pass.is_empty() && self.timers.peek().is_none_or(|&(at, _)| at > now)
    }

    /// The keys to drive in a pass starting now, in order: those woken, those whose
    /// deadline has come, and those the host has news of (see
    /// [`Wakeups::collect_news`] for `key_of` and `all`).
    pub(crate) fn begin_pass(
        &mut self,
        host: &mut Host,
        now: Instant,
        key_of: impl Fn(ConnId) -> Option<usize>,
        all: impl Iterator<Item = usize>,
    ) -> Pass {
        self.collect_news(host, key_of, all);
        let mut pass = self.take_woken();
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if is_current(&self.deadlines, &(at, key)) {
                pass.insert(key);
                due.push((at, key));
            }
        }
        // A deadline that has come stays the connection's until driving it moves
        // it: it still counts for `next_timer`, and wakes the connection in every
        // pass until then, as driving every connection did.
        self.timers.extend(due);
        pass
    }

    /// The keys woken so far, as a pass; the next pass starts empty in the room
    /// of the latest one.
    fn take_woken(&mut self) -> Pass {
        let spare = std::mem::take(&mut self.spare);
        Pass {
            keys: std::mem::replace(&mut self.next_pass, spare),
            last: None,
        }
    }

    /// The pass is over: keep its storage for the next.
    pub(crate) fn end_pass(&mut self, pass: Pass) {
        let mut keys = pass.keys;
        keys.clear();
        self.spare = keys;
    }

    /// After driving `driven` in `pass`: what its calls into the host did to other
    /// connections is news for them, later in this pass or in the next.
    pub(crate) fn after_drive(
        &mut self,
        host: &mut Host,
        driven: usize,
        pass: &mut Pass,
        key_of: impl Fn(ConnId) -> Option<usize>,
        all: impl Iterator<Item = usize>,
    ) {
        let Some(reader) = self.reader else {
            return;
        };
        self.scratch.clear();
        if host.read_news(reader, &mut self.scratch) == News::Everything {
            // Fell behind: look at everything again in the next pass.
            self.next_pass.extend(all.map(Reverse));
            return;
        }
        for key in self.scratch.iter().filter_map(|&id| key_of(id)) {
            if key > driven {
                pass.insert(key);
            } else if key < driven {
                self.next_pass.push(Reverse(key));
            }
        }
    }

    /// The earliest current deadline, stale entries dropped on the way; the queue
    /// kept within its bound (a busy server moves every connection's keep-alive
    /// deadline on each response, and an old entry leaves only when its time comes).
    pub(crate) fn next_timer(&mut self) -> Option<Instant> {
        let deadlines = &self.deadlines;
        self.timers
            .bound(deadlines.len(), |entry| is_current(deadlines, entry));
        self.timers
            .drop_stale_top(|entry| is_current(deadlines, entry));
        self.timers.peek().map(|&(at, _)| at)
    }
}

/// Whether a queued timer is still its connection's deadline.
fn is_current(deadlines: &IdHashMap<usize, Instant>, &(at, key): &(Instant, usize)) -> bool {
    deadlines.get(&key) == Some(&at)
}

/// The keys of one pass, driven smallest first, each once however often it was
/// added. Keys added while a pass runs come after the one being driven
/// ([`Wakeups::after_drive`] sends the others to the next pass), so taking them
/// from a heap gives the order a sorted set would. A heap rather than a B-tree set
/// because a pass is filled and emptied at every poll: its storage is reused, where
/// a B-tree allocates and frees its nodes each time.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    keys: BinaryHeap<Reverse<usize>>,
    /// The key last taken, to skip its copies.
    last: Option<usize>,
}

impl Pass {
    /// Drive `key` in this pass (later than any key taken so far, or not at all if it
    /// was taken already).
    pub(crate) fn insert(&mut self, key: usize) {
        self.keys.push(Reverse(key));
    }

    /// The smallest key not yet taken.
    pub(crate) fn pop_first(&mut self) -> Option<usize> {
        while let Some(Reverse(key)) = self.keys.pop() {
            if self.last.is_none_or(|last| key > last) {
                self.last = Some(key);
                return Some(key);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pass gives what a sorted set would: its keys smallest first, each once,
    /// with keys added while it runs (always after the one being driven) in their
    /// place; and a reused pass starts afresh.
    #[test]
    fn a_pass_is_a_sorted_set() {
        let mut w = Wakeups::default();
        let mut next = crate::test_numbers(7);
        for _ in 0..200 {
            let mut oracle = std::collections::BTreeSet::new();
            for _ in 0..next(20) {
                let key = next(30);
                w.wake(key);
                oracle.insert(key);
            }
            let mut pass = w.take_woken();
            while let Some(key) = pass.pop_first() {
                assert_eq!(Some(key), oracle.pop_first());
                for _ in 0..next(3) {
                    let later = key + 1 + next(10);
                    pass.insert(later);
                    oracle.insert(later);
                }
            }
            assert!(oracle.is_empty());
            w.end_pass(pass);
            assert!(w.spare.is_empty());
        }
    }

    /// A connection is driven until a drive changes nothing, that drive included,
    /// and no more; one that never comes to rest is driven a bounded number of
    /// times and reported as still moving; one that ends is driven no more.
    #[test]
    fn a_connection_is_driven_until_a_drive_changes_nothing() {
        for moves in 0..5 {
            let mut drives = 0;
            let rest = until_still(|| {
                drives += 1;
                Some(drives <= moves)
            });
            assert_eq!((rest, drives), (Rest::Still, moves + 1));
        }
        let mut drives = 0;
        let rest = until_still(|| {
            drives += 1;
            Some(true)
        });
        assert_eq!((rest, drives), (Rest::Moving, DRIVES_IN_A_ROW));
        let mut drives = 0;
        let rest = until_still(|| {
            drives += 1;
            (drives < 3).then_some(true)
        });
        assert_eq!((rest, drives), (Rest::Gone, 3));
    }

    /// A deadline moved again and again leaves stale entries behind; the queue
    /// answers with the current one and is rebuilt before they pile up.
    #[test]
    fn moved_deadlines_stay_bounded() {
        let mut w = Wakeups::default();
        let mut recorded = [None; 3];
        for step in 0..10_000u64 {
            let key = (step % 3) as usize;
            let at = Instant::from_micros(1_000_000 + step as i64);
            w.set_timer(key, Some(at));
            recorded[key] = Some(at);
            assert_eq!(w.next_timer(), recorded.iter().flatten().min().copied());
            assert!(w.timers.len() <= 2 * 3 + tcpknobs_stack::stale_heap::SLACK + 1);
        }
        // A cleared deadline is no deadline, nor is a forgotten connection's.
        w.set_timer(0, None);
        w.forget(1);
        assert_eq!(w.next_timer(), recorded[2]);
        w.set_timer(2, None);
        assert_eq!(w.next_timer(), None);
    }
}
