//! The bookkeeping after each drive and pass: when the client and each connection
//! next need a poll, which connections may take a request, how many only drain the
//! server's FIN, letting go of closed connections, and the progress measure the poll
//! loop repeats on.

use tcpknobs_stack::Instant;

use super::conn::ClientConn;
use super::queue::Unissued;
use super::{Client, Sink};

impl<S: Sink> Client<S> {
    /// The earliest time the client must act without network input.
    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        let issues: Option<Instant> = match &self.unissued {
            Unissued::Listed(ids) => ids.iter().filter_map(|&(_, at)| at).min(),
            Unissued::Repeated {
                next, count, at, ..
            } => at.filter(|_| next < count),
        };
        issues.into_iter().chain(self.wakeups.next_timer()).min()
    }

    /// When connection `ci` must be driven with nothing arriving: its response
    /// timeout, or the end of its wait for the server's FIN while it only waits
    /// for that.
    fn conn_deadline(&self, c: &ClientConn) -> Option<Instant> {
        let timeout = self.config.timeout.and_then(|limit| {
            let tx = c.in_flight.front()?;
            Some(self.live.get(&tx)?.timing.connected? + limit)
        });
        let fin = c.fin_due.filter(|_| c.is_draining());
        timeout.into_iter().chain(fin).min()
    }

    /// Whether `ci` may take a request now, kept in `ready`.
    pub(super) fn mark_ready(&mut self, ci: usize) {
        if self.conns.get(&ci).is_some_and(|c| c.takes_request()) {
            self.ready.insert(ci);
        } else {
            self.ready.remove(&ci);
        }
    }

    /// After driving `ci`: queue its deadline, count it as draining or not, and
    /// note whether it may take a request.
    pub(super) fn settle(&mut self, ci: usize) {
        self.mark_ready(ci);
        let Some(c) = self.conns.get(&ci) else {
            return;
        };
        let at = self.conn_deadline(c);
        let draining = c.is_draining();
        self.wakeups.set_timer(ci, at);
        let Some(c) = self.conns.get_mut(&ci) else {
            return;
        };
        if draining != c.draining {
            c.draining = draining;
            if draining {
                self.draining += 1;
            } else {
                self.draining -= 1;
            }
        }
    }

    /// Let go of the connections closed in this pass (`closing`), keeping what they
    /// carried.
    pub(super) fn forget_closed(&mut self) {
        for ci in self.closing.drain(..) {
            let Some(c) = self.conns.remove(&ci) else {
                continue;
            };
            self.ready.remove(&ci);
            self.by_id.remove(&c.id);
            self.wakeups.forget(ci);
            self.carried_open -= c.carried;
            self.answered_open -= c.answered;
            if c.draining {
                self.draining -= 1;
            }
            if c.id.0 < self.keep_summaries_below {
                self.closed.push((ci, c.summary()));
            }
        }
    }

    /// A measure that changes whenever the client moves on: a request issued or
    /// dispatched, a connection opened or closed, a request sent, a response done
    /// or failed. Only live state is looked at, so a poll costs what is in flight.
    pub(super) fn progress(&self) -> [usize; 6] {
        // Separate counts, never a sum: a response completing moves one request from
        // in flight to answered, which a sum would not see.
        [
            self.queue.len(),
            self.unissued.len(),
            self.opened,
            self.conns.len(),
            self.carried_open,
            self.answered_open,
        ]
    }
}
