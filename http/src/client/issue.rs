//! Issuing requests: making transactions, deciding when each request may go (after
//! the one it waits for, and the think time), queueing it, and handing each finished
//! transaction to the sink while remembering how those that others wait for ended.

use std::sync::Arc;

use tcpknobs_stack::Instant;

use super::queue::{Readiness, Unissued};
use super::{Client, Sink};
use crate::message::Method;
use crate::transaction::{Transaction, TransactionError};

impl<S: Sink> Client<S> {
    /// A fresh transaction for request `tx`.
    pub(super) fn make(&self, tx: usize) -> Transaction {
        match self.workload.request(tx) {
            Some(r) => Transaction::new(tx, r.method.clone(), r.target.clone()),
            None => Transaction::new(tx, Method::Other(String::new()), Arc::from("")),
        }
    }

    /// Request `tx`'s method is idempotent (safe to pipeline behind and to replay).
    pub(super) fn idempotent(&self, tx: usize) -> bool {
        self.workload
            .request(tx)
            .is_some_and(|r| r.method.is_idempotent())
    }

    /// Give every transaction that finished to the sink, remembering how those that
    /// others wait for ended.
    pub(super) fn hand_over(&mut self) {
        // Taken and put back, so its room is kept for the next step's.
        let mut finished = std::mem::take(&mut self.finished);
        for tx in finished.drain(..) {
            let Some(t) = self.live.remove(&tx).map(|t| *t) else {
                continue;
            };
            let conn = t
                .connection
                .and_then(|ci| self.conns.get(&ci))
                .map(|c| c.id);
            let failed = t.error.is_some();
            self.done_trace.push((conn, tx, failed));
            if let Some(done) = t.timing.done {
                let chained = matches!(self.unissued, Unissued::Repeated { chained: true, .. });
                if chained || self.awaited.contains(&tx) {
                    self.outcomes.insert(tx, (done, t.error.is_some()));
                }
            }
            self.sink.finished(t);
        }
        self.finished = finished;
    }

    /// How request `dep` ended, once it has: when, and whether it failed.
    fn outcome(&self, dep: usize) -> Option<(Instant, bool)> {
        match self.live.get(&dep) {
            Some(t) => t.timing.done.map(|done| (done, t.error.is_some())),
            None => self.outcomes.get(&dep).copied(),
        }
    }

    /// When request `i` may be issued, from what it waits for.
    fn readiness(&self, i: usize, now: Instant) -> Readiness {
        match self.workload.after(i) {
            None => Readiness::At(now),
            Some(dep) => match self.outcome(dep) {
                Some((_, true)) => Readiness::DependencyFailed,
                Some((done, false)) => Readiness::At(done + self.config.think_time),
                None => Readiness::Unknown,
            },
        }
    }

    /// Issue the transactions whose time has come.
    pub(super) fn issue(&mut self, now: Instant) {
        match &mut self.unissued {
            Unissued::Listed(ids) => {
                let ids = std::mem::take(ids);
                let mut still = Vec::with_capacity(ids.len());
                for (i, _) in ids {
                    let ready = match self.readiness(i, now) {
                        Readiness::At(at) => Some(at),
                        Readiness::Unknown => None,
                        Readiness::DependencyFailed => {
                            if let Some(t) = self.live.get_mut(&i) {
                                t.timing.queued = Some(now);
                                t.fail(TransactionError::DependencyFailed, now);
                            }
                            self.finished.push(i);
                            continue;
                        }
                    };
                    if ready.is_some_and(|t| t <= now) {
                        if let Some(t) = self.live.get_mut(&i) {
                            t.timing.queued = Some(now);
                        }
                        self.queue.push_back(i);
                    } else {
                        still.push((i, ready));
                    }
                }
                self.unissued = Unissued::Listed(still);
            }
            Unissued::Repeated {
                next,
                count,
                chained: false,
                ..
            } => {
                self.queue.push_range(*next..*count, now);
                *next = *count;
            }
            Unissued::Repeated { chained: true, .. } => self.issue_chained(now),
        }
    }

    /// A chained repeated workload: issue `next` once the one before it has finished
    /// (and the think time passed); fail it, and on down the chain, if that failed.
    fn issue_chained(&mut self, now: Instant) {
        while let Unissued::Repeated { next, count, .. } = self.unissued {
            if next >= count {
                return;
            }
            let ready = self.readiness(next, now);
            if let Readiness::At(at) = ready {
                if at > now {
                    if let Unissued::Repeated { at: slot, .. } = &mut self.unissued {
                        *slot = Some(at);
                    }
                    return;
                }
            }
            if let Readiness::Unknown = ready {
                return;
            }
            let mut t = self.make(next);
            t.timing.queued = Some(now);
            if let Readiness::DependencyFailed = ready {
                t.fail(TransactionError::DependencyFailed, now);
                self.live.insert(next, Box::new(t));
                self.finished.push(next);
                self.hand_over();
            } else {
                self.live.insert(next, Box::new(t));
                self.queue.push_back(next);
            }
            if let Some(dep) = next.checked_sub(1) {
                self.outcomes.remove(&dep);
            }
            self.unissued = Unissued::Repeated {
                next: next + 1,
                count,
                chained: true,
                at: None,
            };
        }
    }
}
