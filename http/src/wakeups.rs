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
//! A connection's own calls into the host while it is driven are news about itself
//! only, and it has just seen them; what they do to *other* connections (a close
//! runs an egress pass over every socket touched so far) is news for those: a
//! connection later in key order is driven later in the same pass, as it would have
//! been, and one earlier in the next pass.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use tcpknobs_stack::id_hash::IdHashMap;
use tcpknobs_stack::{ConnId, Host, Instant, News, NewsReader};

/// See the module docs. Keys are the application's names for its connections, in
/// the order it drives them.
#[derive(Default)]
pub(crate) struct Wakeups {
    reader: Option<NewsReader>,
    /// Keys to drive in the next pass.
    next_pass: BTreeSet<usize>,
    /// Each connection's own deadline, by key, while it has one.
    deadlines: IdHashMap<usize, Instant>,
    /// The same deadlines, earliest first: (when, key). An entry is current while
    /// `deadlines` still says so; others are skipped as they surface.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    scratch: Vec<ConnId>,
}

impl Wakeups {
    /// Drive `key` in the next pass.
    pub(crate) fn wake(&mut self, key: usize) {
        self.next_pass.insert(key);
    }

    /// Connection `key`'s deadline is now `at` (`None`: it has none).
    pub(crate) fn set_timer(&mut self, key: usize, at: Option<Instant>) {
        match at {
            Some(at) => {
                if self.deadlines.insert(key, at) != Some(at) {
                    self.timers.push(Reverse((at, key)));
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

    /// Whether a queued entry is still connection `key`'s deadline.
    fn is_current(&self, key: usize, at: Instant) -> bool {
        self.deadlines.get(&key) == Some(&at)
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
            News::Listed => self
                .next_pass
                .extend(self.scratch.iter().filter_map(|&id| key_of(id))),
            News::Everything => self.next_pass.extend(all),
        }
    }

    /// Whether, news collected, no connection needs driving at `now`: none woken
    /// and no deadline come (a stale one counts, to be safe). With nothing else
    /// changed since its last poll, an application can then answer at once.
    pub(crate) fn is_idle(&self, now: Instant) -> bool {
        self.next_pass.is_empty() && self.timers.peek().is_none_or(|&Reverse((at, _))| at > now)
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
    ) -> BTreeSet<usize> {
        self.collect_news(host, key_of, all);
        let mut pass = std::mem::take(&mut self.next_pass);
        let mut due = Vec::new();
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.is_current(key, at) {
                pass.insert(key);
                due.push(Reverse((at, key)));
            }
        }
        // A deadline that has come stays the connection's until driving it moves
        // it: it still counts for `next_timer`, and wakes the connection in every
        // pass until then, as driving every connection did.
        self.timers.extend(due);
        pass
    }

    /// After driving `driven` in `pass`: what its calls into the host did to other
    /// connections is news for them, later in this pass or in the next.
    pub(crate) fn after_drive(
        &mut self,
        host: &mut Host,
        driven: usize,
        pass: &mut BTreeSet<usize>,
        key_of: impl Fn(ConnId) -> Option<usize>,
        all: impl Iterator<Item = usize>,
    ) {
        let Some(reader) = self.reader else {
            return;
        };
        self.scratch.clear();
        if host.read_news(reader, &mut self.scratch) == News::Everything {
            // Fell behind: look at everything again in the next pass.
            self.next_pass.extend(all);
            return;
        }
        for key in self.scratch.iter().filter_map(|&id| key_of(id)) {
            if key > driven {
                pass.insert(key);
            } else if key < driven {
                self.next_pass.insert(key);
            }
        }
    }

    /// The earliest current deadline, stale entries dropped on the way. Should
    /// stale entries pile up (a busy server moves every connection's keep-alive
    /// deadline on each response, and an old entry leaves only when its time
    /// comes), the queue is rebuilt from the current ones, so it stays within a
    /// few entries per connection.
    pub(crate) fn next_timer(&mut self) -> Option<Instant> {
        if self.timers.len() > 2 * self.deadlines.len() + 1024 {
            let deadlines = &self.deadlines;
            self.timers
                .retain(|&Reverse((at, key))| deadlines.get(&key) == Some(&at));
        }
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if self.is_current(key, at) {
                return Some(at);
            }
            self.timers.pop();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert!(w.timers.len() <= 2 * 3 + 1024 + 1);
        }
        // A cleared deadline is no deadline, nor is a forgotten connection's.
        w.set_timer(0, None);
        w.forget(1);
        assert_eq!(w.next_timer(), recorded[2]);
        w.set_timer(2, None);
        assert_eq!(w.next_timer(), None);
    }
}
