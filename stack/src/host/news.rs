//! Which connections may have changed since an application last looked: the host's
//! answer to epoll.
//!
//! An application that asks every connection it holds for its state on every poll
//! pays for all of them each time one frame arrives, and a run with ten thousand at
//! once goes quadratic. Instead the host notes each connection that anything could
//! have changed for: every mutable access to its entry in the connection table (a
//! segment in or out, a timer, a port freed, the connection leaving the table) and
//! every pass smoltcp makes over its socket. An application reads the list with its
//! own [`NewsReader`] and drives only those connections, plus what it changed
//! itself and what its own timers say.
//!
//! The list is a superset, never a subset: a connection named in it may have nothing
//! new, but one left out has not changed in any way the socket API could show since
//! the reader last read. Should a reader fall too far behind (the list is capped so
//! that a reader that stops reading cannot make it grow without end), it is told to
//! look at everything once.

use super::ConnId;

/// One application's place in a host's news (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewsReader(usize);

/// What [`crate::Host::read_news`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum News {
    /// Every connection that may have changed is in the list.
    Listed,
    /// The reader fell behind: any connection may have changed.
    Everything,
}

/// The log of connections that may have changed, with a place per reader.
#[derive(Debug)]
pub(super) struct NewsLog {
    entries: Vec<ConnId>,
    /// Per reader: how much of `entries` it has read, or `None` once it fell behind.
    readers: Vec<Option<usize>>,
    /// Bumped on every read: a connection is logged again after any reader has read
    /// it, and only once between two reads.
    epoch: u64,
}

impl Default for NewsLog {
    fn default() -> NewsLog {
        NewsLog {
            entries: Vec::new(),
            readers: Vec::new(),
            epoch: 1,
        }
    }
}

/// Entries kept beyond one per connection before readers are told to look at
/// everything instead.
const SLACK: usize = 4096;

impl NewsLog {
    /// Note that connection `id`, last noted at `*mark`, may have changed.
    pub(super) fn note(&mut self, id: ConnId, mark: &mut u64) {
        if *mark != self.epoch && !self.readers.is_empty() {
            *mark = self.epoch;
            self.entries.push(id);
        }
    }

    /// Note a connection whose mark is gone (it left the table).
    pub(super) fn note_gone(&mut self, id: ConnId) {
        if !self.readers.is_empty() {
            self.entries.push(id);
        }
    }

    /// Keep the log within `live` connections plus some slack: past that, every
    /// reader looks at everything once and the log starts afresh.
    pub(super) fn bound(&mut self, live: usize) {
        if self.entries.len() > 2 * live + SLACK {
            self.entries.clear();
            for r in &mut self.readers {
                *r = None;
            }
        }
    }

    /// Whether some reader has not read everything logged (or fell behind).
    pub(super) fn has_unread(&self) -> bool {
        let len = self.entries.len();
        self.readers.iter().any(|&r| r != Some(len))
    }

    pub(super) fn new_reader(&mut self) -> NewsReader {
        // A new reader knows nothing yet: its first read is "everything".
        self.readers.push(None);
        NewsReader(self.readers.len() - 1)
    }

    /// Append what `reader` has not read to `out`.
    pub(super) fn read(&mut self, reader: NewsReader, out: &mut Vec<ConnId>) -> News {
        let Some(place) = self.readers.get_mut(reader.0) else {
            return News::Everything;
        };
        let news = match *place {
            // Nothing logged since this reader's last read: nothing is noted at the
            // current epoch either, so it need not move, and the log stays as it is.
            Some(from) if from == self.entries.len() => return News::Listed,
            Some(from) => {
                out.extend_from_slice(&self.entries[from..]);
                News::Listed
            }
            None => News::Everything,
        };
        *place = Some(self.entries.len());
        self.epoch += 1;
        let len = self.entries.len();
        if self.readers.iter().all(|&r| r == Some(len)) {
            self.entries.clear();
            for r in &mut self.readers {
                *r = Some(0);
            }
        }
        news
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reader_sees_each_change_once_read() {
        let mut log = NewsLog::default();
        let (a, b) = (log.new_reader(), log.new_reader());
        let mut out = Vec::new();
        assert_eq!(log.read(a, &mut out), News::Everything);
        assert_eq!(log.read(b, &mut out), News::Everything);
        let (mut m1, mut m2) = (0, 0);
        log.note(ConnId(1), &mut m1);
        log.note(ConnId(1), &mut m1);
        log.note(ConnId(2), &mut m2);
        assert_eq!(log.read(a, &mut out), News::Listed);
        assert_eq!(out, [ConnId(1), ConnId(2)]);
        // Changed again after a read: logged again, for both readers.
        log.note(ConnId(1), &mut m1);
        out.clear();
        assert_eq!(log.read(b, &mut out), News::Listed);
        assert_eq!(out, [ConnId(1), ConnId(2), ConnId(1)]);
        out.clear();
        assert_eq!(log.read(a, &mut out), News::Listed);
        assert_eq!(out, [ConnId(1)]);
        // Both caught up: the log is empty again.
        assert!(log.entries.is_empty());
    }

    /// Reads that find nothing new change nothing: a change made after them is
    /// logged once and seen once by each reader, however often one of them looked.
    #[test]
    fn empty_reads_change_nothing() {
        let mut log = NewsLog::default();
        let (a, b) = (log.new_reader(), log.new_reader());
        let mut out = Vec::new();
        log.read(a, &mut out);
        log.read(b, &mut out);
        let mut mark = 0;
        for _ in 0..3 {
            assert_eq!(log.read(a, &mut out), News::Listed);
            assert!(out.is_empty());
        }
        log.note(ConnId(1), &mut mark);
        log.note(ConnId(1), &mut mark);
        for _ in 0..3 {
            assert_eq!(log.read(b, &mut out), News::Listed);
        }
        assert_eq!(out, [ConnId(1)]);
        out.clear();
        assert_eq!(log.read(a, &mut out), News::Listed);
        assert_eq!(out, [ConnId(1)]);
        assert!(log.entries.is_empty());
    }

    #[test]
    fn a_reader_far_behind_looks_at_everything() {
        let mut log = NewsLog::default();
        let a = log.new_reader();
        let mut out = Vec::new();
        log.read(a, &mut out);
        let mut marks = vec![0; 2 * SLACK];
        for (i, m) in marks.iter_mut().enumerate() {
            log.note(ConnId(i), m);
            log.bound(1);
        }
        assert!(log.entries.len() <= 2 + SLACK);
        assert_eq!(log.read(a, &mut out), News::Everything);
        log.note(ConnId(7), &mut 0);
        out.clear();
        assert_eq!(log.read(a, &mut out), News::Listed);
        assert_eq!(out, [ConnId(7)]);
    }
}
