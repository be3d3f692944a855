//! Driving one connection: connect, write what is queued, read what arrived, parse
//! responses, and close or abandon it, retrying idempotent requests that a closed or
//! reset connection left unanswered and failing the others.

use tcpknobs_stack::trace::HttpEvent;
use tcpknobs_stack::{ConnState, Host, Instant, Readable, SocketError};

use super::conn::{Flow, ReadState, OPEN};
use super::{Client, Sink};
use crate::body::BodyError;
use crate::transaction::TransactionError;
use crate::wakeups::{until_still, Rest};

impl<S: Sink> Client<S> {
    /// Send `tx` again on another connection if that is safe, or fail it with `err`.
    fn retry_or_fail(&mut self, tx: usize, err: TransactionError, now: Instant) -> bool {
        let idempotent = self.idempotent(tx);
        let Some(t) = self.live.get_mut(&tx) else {
            return false;
        };
        if t.is_finished() {
            return false;
        }
        if idempotent && t.retries < self.config.max_retries {
            t.reset_for_retry();
            true
        } else {
            t.fail(err, now);
            self.finished.push(tx);
            false
        }
    }

    /// The connection ended with `err` for the response being read and its
    /// outstanding requests: retry or fail each, oldest first at the head of the queue.
    fn abandon(&mut self, ci: usize, err: TransactionError, now: Instant) {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        c.closed = true;
        c.retiring = true;
        let in_flight = c.in_flight.take_all();
        if err.is_connect_failure() {
            // Nothing was sent, and TCP already retried the handshake as often as
            // it was told to: a further connect would only repeat the wait (curl
            // does not retry these either).
            for tx in in_flight {
                if let Some(t) = self.live.get_mut(&tx) {
                    t.fail(err.clone(), now);
                }
                self.finished.push(tx);
            }
            return;
        }
        let mut retry = Vec::new();
        for (i, tx) in in_flight.into_iter().enumerate() {
            // Only the response being read was cut short; later ones never started.
            let e = if i == 0 {
                err.clone()
            } else {
                TransactionError::ClosedEarly
            };
            if self.retry_or_fail(tx, e, now) {
                retry.push(tx);
            }
        }
        for tx in retry.into_iter().rev() {
            self.queue.push_front(tx);
        }
    }

    /// Drive connection `ci` until it is at rest ([`until_still`]), or wake it for
    /// the next pass if it will not come to rest.
    pub(super) fn drive_to_rest(&mut self, host: &mut Host, ci: usize) {
        let rest = until_still(|| {
            let before = self.conns.get(&ci).map(|c| (c.id, c.print()));
            self.drive(host, ci);
            let after = self.conns.get(&ci).map(|c| c.print());
            // A drive that only read and consumed what it read is at rest unless the
            // next read would get something: the data past a segment of a body, or
            // the end of the stream behind the last one. Asking the host spares the
            // drive that would read nothing, once per segment of a bulk response.
            let at_rest = match (before, after) {
                (Some((id, b)), Some(a)) => {
                    a == b || (a.only_read_all_since(&b) && !host.readable_now(id))
                }
                (None, None) => true,
                _ => false,
            };
            Some(!at_rest)
        });
        if rest == Rest::Moving {
            self.wakeups.wake(ci);
        }
    }

    /// Advance one connection: write, read, parse, and close when it is done.
    pub(super) fn drive(&mut self, host: &mut Host, ci: usize) {
        let now = host.now();
        if self.conns.get(&ci).is_none_or(|c| c.closed) {
            return;
        }
        let id = self.conns[&ci].id;
        match host.state(id) {
            ConnState::AwaitingPort | ConnState::Connecting => {
                self.check_timeouts(host, ci, now);
                return;
            }
            ConnState::Failed(e) => {
                self.abandon(ci, socket_error(e), now);
                return;
            }
            ConnState::Open | ConnState::Closed => {}
        }
        let c = self.conns.get_mut(&ci).expect(OPEN);
        if !c.connected {
            c.connected = true;
            // The port is known only now when the connect had to wait for one.
            let port = host.local_port(id);
            for tx in c.in_flight.transactions() {
                if let Some(t) = self.live.get_mut(&tx) {
                    t.timing.connected = Some(now);
                    t.local_port = port;
                }
            }
        }
        // Write whatever is queued; note each request whose last byte went out.
        match c.outbox.flush(host, id) {
            Ok(_) => {
                let offered = c.pushed - c.outbox.pending_bytes();
                for (tx, end) in c.in_flight.newly_sent(offered) {
                    let Some(t) = self.live.get_mut(&tx) else {
                        continue;
                    };
                    if t.timing.request_sent.is_none() {
                        t.timing.request_sent = Some(now);
                        host.trace_http(Some(id), Some(tx), HttpEvent::RequestSent { end });
                    }
                }
            }
            Err(e) => {
                self.abandon(ci, socket_error(e), now);
                return;
            }
        }
        // Read whatever arrived.
        let eof = match host.recv(id, c.inbuf.appender()) {
            Ok(Readable::Data(n)) => {
                c.read_total += n as u64;
                if let Some((tx, t)) = c
                    .in_flight
                    .front()
                    .and_then(|tx| Some((tx, self.live.get_mut(&tx)?)))
                {
                    if t.timing.first_byte.is_none() {
                        t.timing.first_byte = Some(now);
                        host.trace_http(Some(id), Some(tx), HttpEvent::ResponseStarted);
                    }
                }
                false
            }
            Ok(Readable::Nothing) => false,
            Ok(Readable::Eof) => true,
            Err(e) => {
                // A reset discards what was not read yet (chapter item 24).
                host.close(id);
                self.abandon(ci, socket_error(e), now);
                return;
            }
        };
        if self.parse_responses(ci, now) == Flow::Switched {
            // Requests behind the switched one go on another connection.
            host.close(id);
            self.abandon(ci, TransactionError::ClosedEarly, now);
            return;
        }
        if eof {
            self.on_eof(host, ci, now);
            return;
        }
        self.check_timeouts(host, ci, now);
        let nothing_left = self.queue.is_empty() && self.unissued.is_empty();
        let c = self.conns.get_mut(&ci).expect(OPEN);
        if !c.closed && c.is_idle() && (c.retiring || nothing_left) {
            if c.fin_due.is_some_and(|due| now < due) {
                // The server closes first and holds the TIME_WAIT; its FIN ends this
                // connection in `on_eof`.
                return;
            }
            // The client closes first: its host holds the TIME_WAIT.
            host.close(id);
            c.closed = true;
        }
    }

    fn check_timeouts(&mut self, host: &mut Host, ci: usize, now: Instant) {
        let Some(tx) = self.conns[&ci].in_flight.front() else {
            return;
        };
        // The response's clock starts once the connection is there: the handshake
        // has limits of its own (`Knobs::syn_retries`, the ARP timeout).
        let Some(limit) = self.config.timeout else {
            return;
        };
        let Some(start) = self.live.get(&tx).and_then(|t| t.timing.connected) else {
            return;
        };
        if now < start + limit {
            return;
        }
        let after_ms = (now - start).total_millis();
        // A timeout is reported, not retried: the server may be working on it.
        if let Some(t) = self.live.get_mut(&tx) {
            t.fail(TransactionError::Timeout { after_ms }, now);
        }
        self.finished.push(tx);
        host.abort(self.conns[&ci].id);
        self.conns.get_mut(&ci).expect(OPEN).in_flight.pop_front();
        self.abandon(ci, TransactionError::ClosedEarly, now);
    }

    /// The server closed: a close-delimited body ends here; anything else in flight
    /// was cut short.
    fn on_eof(&mut self, host: &mut Host, ci: usize, now: Instant) {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        host.close(c.id);
        c.closed = true;
        let mut err = TransactionError::ClosedEarly;
        if let Some(t) = c.in_flight.front().and_then(|tx| self.live.get_mut(&tx)) {
            match &mut c.read {
                ReadState::Body { decoder, .. } => match decoder.on_eof() {
                    Ok(()) => {
                        t.timing.done.get_or_insert(now);
                        self.finished.push(t.id);
                        c.answered += 1;
                        self.answered_open += 1;
                        c.in_flight.pop_front();
                    }
                    Err(BodyError::Truncated { received, expected }) => {
                        err = TransactionError::Truncated { received, expected };
                    }
                    Err(e) => {
                        err = TransactionError::MalformedResponse {
                            detail: e.to_string(),
                        }
                    }
                },
                ReadState::Head if !c.inbuf.is_empty() => {
                    err = TransactionError::MalformedResponse {
                        detail: "connection closed inside the response head".into(),
                    };
                }
                ReadState::Head => {}
            }
        }
        c.read = ReadState::Head;
        self.abandon(ci, err, now);
    }
}

fn socket_error(e: SocketError) -> TransactionError {
    match e {
        SocketError::ConnectionRefused => TransactionError::ConnectionRefused,
        SocketError::ConnectionReset => TransactionError::ConnectionReset,
        SocketError::ConnectTimedOut { syns } => TransactionError::ConnectTimeout { syns },
        SocketError::NoArpReply(addr) => TransactionError::NoArpReply {
            addr: addr.to_string(),
        },
        _ => TransactionError::ClosedEarly,
    }
}
