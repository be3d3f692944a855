//! The requests a client connection has sent, or is sending, and not yet had
//! answered, oldest first.
//!
//! A pipelining client can have thousands outstanding on one connection, and two
//! questions are asked of them often: whether every one is idempotent (only then may
//! another be pipelined behind them, RFC 9112 §9.3.2), asked for each request handed
//! out, and which requests' last bytes have left since the last look, asked on every
//! drive. Both are kept up to date here as requests come and go, so neither costs a
//! walk over the queue.

use std::collections::VecDeque;

/// One outstanding request.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The transaction.
    tx: usize,
    /// Where the request ends in the connection's send stream.
    end: u64,
    idempotent: bool,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    queue: VecDeque<Entry>,
    /// How many entries at the front were already found sent by
    /// [`InFlight::newly_sent`].
    seen_sent: usize,
    /// Entries whose method is not idempotent.
    not_idempotent: usize,
}

impl InFlight {
    /// Request `tx`, ending at `end` in the send stream, goes out after the others.
    pub(crate) fn push_back(&mut self, tx: usize, end: u64, idempotent: bool) {
        if !idempotent {
            self.not_idempotent += 1;
        }
        self.queue.push_back(Entry {
            tx,
            end,
            idempotent,
        });
    }

    /// The oldest request's transaction has its answer (or is given up): it leaves.
    pub(crate) fn pop_front(&mut self) -> Option<usize> {
        let e = self.queue.pop_front()?;
        if !e.idempotent {
            self.not_idempotent -= 1;
        }
        self.seen_sent = self.seen_sent.saturating_sub(1);
        Some(e.tx)
    }

    /// Every outstanding transaction, oldest first; none is left.
    pub(crate) fn take_all(&mut self) -> Vec<usize> {
        self.seen_sent = 0;
        self.not_idempotent = 0;
        self.queue.drain(..).map(|e| e.tx).collect()
    }

    /// The oldest outstanding transaction.
    pub(crate) fn front(&self) -> Option<usize> {
        self.queue.front().map(|e| e.tx)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Every outstanding transaction, oldest first.
    pub(crate) fn transactions(&self) -> impl Iterator<Item = usize> + '_ {
        self.queue.iter().map(|e| e.tx)
    }

    /// Whether every outstanding request may be replayed, so that one more may be
    /// pipelined behind them.
    pub(crate) fn all_idempotent(&self) -> bool {
        self.not_idempotent == 0
    }

    /// The transactions whose requests end at or before `offered` (bytes of the send
    /// stream handed to TCP) and that an earlier call did not return. Requests leave
    /// in order and `offered` only grows, so each is returned once.
    pub(crate) fn newly_sent(&mut self, offered: u64) -> impl Iterator<Item = (usize, u64)> + '_ {
        let from = self.seen_sent;
        let upto = from
            + self
                .queue
                .range(from..)
                .take_while(|e| e.end <= offered)
                .count();
        self.seen_sent = upto;
        self.queue.range(from..upto).map(|e| (e.tx, e.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_pushes_and_pops() {
        let mut q = InFlight::default();
        q.push_back(1, 100, true);
        q.push_back(2, 200, false);
        q.push_back(3, 300, true);
        assert!(!q.all_idempotent());
        assert_eq!(q.newly_sent(250).collect::<Vec<_>>(), [(1, 100), (2, 200)]);
        assert_eq!(q.newly_sent(250).count(), 0);
        assert_eq!(q.pop_front(), Some(1));
        assert_eq!(q.pop_front(), Some(2));
        assert!(q.all_idempotent());
        assert_eq!(q.newly_sent(300).collect::<Vec<_>>(), [(3, 300)]);
        q.push_back(4, 400, false);
        assert_eq!(q.take_all(), [3, 4]);
        assert!(q.all_idempotent() && q.is_empty());
        q.push_back(5, 500, true);
        assert_eq!(q.newly_sent(500).collect::<Vec<_>>(), [(5, 500)]);
    }

    #[test]
    fn a_request_answered_before_it_was_seen_sent_is_not_returned() {
        let mut q = InFlight::default();
        q.push_back(1, 100, true);
        q.push_back(2, 200, true);
        assert_eq!(q.pop_front(), Some(1));
        assert_eq!(q.newly_sent(200).collect::<Vec<_>>(), [(2, 200)]);
    }
}
