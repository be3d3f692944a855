//! The requests not on a connection yet: those not issued ([`Unissued`], waiting for
//! their turn or for the request they depend on) and those issued and waiting for a
//! connection ([`Queue`]), kept so that a million requests of a repeated workload
//! cost one entry each, not a transaction each.

use std::collections::VecDeque;
use std::ops::Range;

use tcpknobs_stack::Instant;

/// Issued requests waiting for a connection, oldest first.
#[derive(Default)]
pub(super) struct Queue {
    entries: VecDeque<Waiting>,
    /// Requests in `entries`, counted as they come and go: every poll asks, several
    /// times.
    len: usize,
}

/// An entry of the [`Queue`].
enum Waiting {
    /// A transaction the client holds.
    One(usize),
    /// Requests of a repeated workload issued together at `queued`: their
    /// transactions are made as they leave the queue, so a million queued requests
    /// are one entry.
    Range { ids: Range<usize>, queued: Instant },
}

impl Queue {
    pub(super) fn push_back(&mut self, tx: usize) {
        self.entries.push_back(Waiting::One(tx));
        self.len += 1;
    }

    pub(super) fn push_front(&mut self, tx: usize) {
        self.entries.push_front(Waiting::One(tx));
        self.len += 1;
    }

    pub(super) fn push_range(&mut self, ids: Range<usize>, queued: Instant) {
        if !ids.is_empty() {
            self.len += ids.len();
            self.entries.push_back(Waiting::Range { ids, queued });
        }
    }

    /// The first waiting request, and when it was queued if its transaction is yet to
    /// be made.
    pub(super) fn front(&self) -> Option<(usize, Option<Instant>)> {
        match self.entries.front()? {
            Waiting::One(tx) => Some((*tx, None)),
            Waiting::Range { ids, queued } => Some((ids.start, Some(*queued))),
        }
    }

    pub(super) fn pop_front(&mut self) -> Option<(usize, Option<Instant>)> {
        let first = self.front()?;
        match self.entries.front_mut() {
            Some(Waiting::Range { ids, .. }) if ids.len() > 1 => ids.start += 1,
            _ => {
                self.entries.pop_front();
            }
        }
        self.len -= 1;
        Some(first)
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The requests not issued yet.
pub(super) enum Unissued {
    /// A listed workload's, in order, each with when it may be issued once that is
    /// known (every one is looked at on each poll: a page is small).
    Listed(Vec<(usize, Option<Instant>)>),
    /// A repeated workload's: `next..count`. Unchained, all are issued at the first
    /// poll; chained, only `next` can be ready, at `at` once that is known.
    Repeated {
        next: usize,
        count: usize,
        chained: bool,
        at: Option<Instant>,
    },
}

impl Unissued {
    pub(super) fn len(&self) -> usize {
        match self {
            Unissued::Listed(ids) => ids.len(),
            Unissued::Repeated { next, count, .. } => count.saturating_sub(*next),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a request may be issued, from what it waits for.
pub(super) enum Readiness {
    /// At this moment (now, or later after `--think-time`).
    At(Instant),
    /// Not known until what it waits for finishes.
    Unknown,
    /// What it waits for failed: it never will be.
    DependencyFailed,
}
