//! Driving one connection: read what the socket has, parse it into jobs, answer them
//! in order, and close when a response, a timer or the peer says so (gracefully, by
//! lingering, or abruptly). The [`Server`] methods here are everything a drive does
//! to a connection; which connections are driven when is in `mod.rs`.

use tcpknobs_stack::trace::HttpEvent;
use tcpknobs_stack::{Duration, Host, Instant, Readable};

use super::conn::{After, Conn, Job, Phase, Reading, Timer, Writing};
use super::pump::{flush, pump};
use super::request::parse;
use super::response::{build_response, error_response};
use super::stats::ms;
use super::{CloseMode, CloseReason, Server};

/// Unanswered input the server reads ahead before it stops reading (TCP's window then
/// holds the client back). A head is at most `MAX_HEAD_BYTES`, so this never stops a
/// head from completing.
const MAX_BUFFERED: usize = 64 * 1024;

impl Server {
    /// Make all progress possible on one connection; false once it is gone.
    pub(super) fn drive(&mut self, host: &mut Host, conn: &mut Conn) -> bool {
        let now = host.now();
        if let Phase::Lingering { until } = conn.phase {
            return self.linger(host, conn, now, until);
        }
        // Read, parse, answer; again while everything parsed got answered, since the
        // read-ahead limits may have left complete requests unread or unparsed, and
        // nothing else would wake the server for them.
        loop {
            let reading_open = !matches!(conn.reading, Reading::Closed);
            if reading_open && !conn.peer_eof && conn.inbuf.len() < MAX_BUFFERED {
                let room = MAX_BUFFERED - conn.inbuf.len();
                match host.recv_at_most(conn.id, conn.inbuf.appender(), room) {
                    Ok(Readable::Eof) => conn.peer_eof = true,
                    Ok(Readable::Data(n)) => {
                        conn.read_total += n as u64;
                        if let Reading::Body { since, .. } = &mut conn.reading {
                            // A read that brought body bytes restarts the body timer.
                            *since = now;
                        }
                    }
                    Ok(Readable::Nothing) => {}
                    Err(_) => return self.failed(conn, now),
                }
            }
            let read = host.read_so_far(conn.id);
            parse(conn, now, read);
            let queued = conn.jobs.len();
            if let Some(open) = self.write(host, conn, now) {
                return open;
            }
            if queued == 0 || !matches!(conn.writing, Writing::Idle { .. }) {
                break;
            }
        }
        let idle = matches!(conn.writing, Writing::Idle { .. }) && conn.jobs.is_empty();
        if idle && conn.peer_eof {
            // Everything the client sent is answered and no more can come.
            self.finish(conn, now, CloseReason::PeerClosed);
            host.close(conn.id);
            return false;
        }
        match conn.timer(&self.config) {
            Some((Timer::KeepAlive, at)) if at <= now => {
                self.begin_close(host, conn, now, CloseReason::KeepAliveTimeout)
            }
            Some((Timer::Header, at)) if at <= now => {
                self.begin_close(host, conn, now, CloseReason::HeaderTimeout)
            }
            Some((Timer::Body, at)) if at <= now => {
                // The request is abandoned: what arrived of its body was read, so a
                // close leaves nothing unread behind (no RST, unless more is in flight).
                conn.reading = Reading::Closed;
                self.begin_close(host, conn, now, CloseReason::BodyTimeout)
            }
            Some((Timer::Send, at)) if at <= now => {
                self.finish(conn, now, CloseReason::SendTimeout);
                host.abort(conn.id);
                false
            }
            _ => true,
        }
    }

    /// Start, process and offer responses in request order until one must wait (for
    /// the socket or for `--server-delay`) or none is queued. `Some(open)` when the
    /// connection ended on the way (what [`Server::drive`] then returns).
    fn write(&mut self, host: &mut Host, conn: &mut Conn, now: Instant) -> Option<bool> {
        loop {
            match &mut conn.writing {
                Writing::Idle { .. } => {
                    let Some((job, request_end)) = conn.jobs.pop_front() else {
                        if conn.held {
                            conn.held = false;
                            match flush(&mut conn.outbox, host, conn.id) {
                                Ok((_, taken)) => conn.stats.response_bytes += taken,
                                Err(_) => return Some(self.failed(conn, now)),
                            }
                        }
                        return None;
                    };
                    host.trace_http(
                        Some(conn.id),
                        None,
                        HttpEvent::ProcessingStarted { request_end },
                    );
                    if self.config.delay > Duration::ZERO {
                        conn.writing = Writing::Processing {
                            job,
                            request_end,
                            ready_at: now + self.config.delay,
                        };
                    } else {
                        self.start_response(host, conn, job, request_end, now);
                    }
                }
                Writing::Processing { ready_at, .. } if *ready_at <= now => {
                    let idle = Writing::Idle { since: now };
                    if let Writing::Processing {
                        job, request_end, ..
                    } = std::mem::replace(&mut conn.writing, idle)
                    {
                        self.start_response(host, conn, job, request_end, now);
                    }
                }
                Writing::Processing { .. } => return None,
                Writing::Sending {
                    stream,
                    then,
                    since,
                } => {
                    // Apache's rule: while more pipelined requests are ready, do not
                    // flush the end of a response; the next one joins it, so a batch of
                    // small responses is one write and Nagle holds none of them.
                    let hold = matches!(then, After::KeepAlive)
                        && !conn.jobs.is_empty()
                        && self.config.delay == Duration::ZERO
                        && self.config.response_writes == 1;
                    match pump(
                        &mut conn.outbox,
                        stream,
                        host,
                        conn.id,
                        hold,
                        &mut conn.held,
                    ) {
                        Ok(pumped) => {
                            conn.stats.response_bytes += pumped.taken;
                            if !pumped.done {
                                if pumped.taken > 0 {
                                    // nginx's send_timeout counts from the last write
                                    // that got anywhere.
                                    *since = now;
                                }
                                return None;
                            }
                            match *then {
                                After::KeepAlive => conn.writing = Writing::Idle { since: now },
                                After::Close(reason) => {
                                    return Some(self.begin_close(host, conn, now, reason))
                                }
                            }
                        }
                        Err(_) => return Some(self.failed(conn, now)),
                    }
                }
            }
        }
    }

    /// Queue the response to `job` and decide what follows it.
    fn start_response(
        &mut self,
        host: &mut Host,
        conn: &mut Conn,
        job: Job,
        request_end: u64,
        now: Instant,
    ) {
        self.responses += 1;
        // The response's first byte follows whatever the outbox still holds.
        let start = host.written(conn.id) + conn.outbox.pending_bytes();
        host.trace_http(
            Some(conn.id),
            None,
            HttpEvent::ResponseHead { request_end, start },
        );
        let (stream, then) = match job {
            Job::Reject { status, detail } => (
                error_response(status, &detail),
                After::Close(CloseReason::ErrorStatus),
            ),
            Job::Request(request) => {
                let stats = &mut conn.stats;
                stats.requests_served = stats.requests_served.saturating_add(1);
                build_response(
                    &self.config,
                    &mut self.head,
                    &request,
                    stats.requests_served,
                )
            }
        };
        if let After::Close(_) = then {
            // No request after this one is read (RFC 9112 §9.6): what is queued stays
            // unanswered.
            conn.reading = Reading::Closed;
        }
        conn.writing = Writing::Sending {
            stream,
            then,
            since: now,
        };
    }

    /// The server ends the connection (RFC 9112 §9.6): abruptly, or by half-closing and
    /// lingering (chapter item 24). False once the connection is gone.
    fn begin_close(
        &mut self,
        host: &mut Host,
        conn: &mut Conn,
        now: Instant,
        reason: CloseReason,
    ) -> bool {
        self.finish(conn, now, reason);
        let mode = if reason == CloseReason::ErrorStatus {
            CloseMode::Graceful
        } else {
            self.config.close
        };
        match mode {
            CloseMode::Abrupt => {
                if conn.has_unanswered_input() {
                    host.abort(conn.id);
                } else {
                    // Resets anyway if unread bytes wait in the socket.
                    host.close(conn.id);
                }
                false
            }
            CloseMode::Graceful => {
                host.shutdown_write(conn.id);
                conn.reading = Reading::Closed;
                conn.jobs.clear();
                conn.inbuf.clear();
                let until = now + self.config.linger;
                conn.phase = Phase::Lingering { until };
                self.linger(host, conn, now, until)
            }
        }
    }

    /// Read and discard until the peer closes or `until`, then close. False once done.
    fn linger(&mut self, host: &mut Host, conn: &mut Conn, now: Instant, until: Instant) -> bool {
        loop {
            match host.recv(conn.id, conn.inbuf.appender()) {
                Ok(Readable::Data(n)) => {
                    conn.read_total += n as u64;
                    conn.inbuf.clear();
                }
                Ok(Readable::Eof) => {
                    host.close(conn.id);
                    return false;
                }
                Ok(Readable::Nothing) => break,
                // Reset while lingering: nothing left to protect.
                Err(_) => return false,
            }
        }
        if conn.peer_eof || until <= now {
            host.close(conn.id);
            return false;
        }
        true
    }

    /// The socket failed (reset, or closed under us).
    fn failed(&mut self, conn: &mut Conn, now: Instant) -> bool {
        self.finish(conn, now, CloseReason::Reset);
        false
    }

    /// Record the end of a connection (the first reason only).
    fn finish(&mut self, conn: &mut Conn, now: Instant, reason: CloseReason) {
        let stats = &mut conn.stats;
        if stats.reason.is_none() {
            stats.reason = Some(reason);
            stats.closed_ms = Some(ms(now));
            stats.closed_by_server = reason.by_server();
        }
    }
}
