//! Dispatching requests: choosing the connection that takes the next queued request
//! (or opening one, as the strategy allows), and writing the request onto it.

use tcpknobs_stack::trace::HttpEvent;
use tcpknobs_stack::{ConnectError, Host, Instant};

use super::conn::{ClientConn, Persistence, ReadState, OPEN};
use super::{Client, ClientConfig, Sink, Strategy};
use crate::in_flight::InFlight;
use crate::message::{write_request_head, Decimal, Method, Version};
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;
use crate::transaction::TransactionError;
use crate::workload::RequestSpec;

impl<S: Sink> Client<S> {
    fn max_connections(&self) -> usize {
        self.config
            .connections
            .unwrap_or_else(|| self.config.strategy.default_connections())
            .max(1)
    }

    /// Connections that count against the strategy's limit: a connection only
    /// draining the server's FIN carries nothing and holds no place.
    fn open_connections(&self) -> usize {
        self.conns.len() - self.draining
    }

    /// The connection that may take `tx` now, if any.
    fn pick_connection(&self, tx: usize) -> Option<usize> {
        let strategy = self.config.strategy;
        if !strategy.reuses() {
            return None;
        }
        let usable = |c: &ClientConn| !c.closed && !c.retiring;
        debug_assert_eq!(
            self.ready.first().copied(),
            self.conns
                .iter()
                .filter(|(_, c)| c.takes_request())
                .map(|(&i, _)| i)
                .min(),
            "the ready set is the connections that take a request"
        );
        if let Some(&i) = self.ready.first() {
            return Some(i);
        }
        if strategy != Strategy::Pipelined || !self.idempotent(tx) {
            return None;
        }
        // Pipeline onto a connection known to persist whose outstanding requests are
        // all idempotent (RFC 9112 §9.3.2), the least loaded first.
        self.conns
            .iter()
            .filter(|(_, c)| usable(c) && c.persistence == Persistence::Yes)
            .filter(|(_, c)| c.in_flight.all_idempotent())
            .min_by_key(|&(&i, c)| (c.in_flight.len(), i))
            .map(|(&i, _)| i)
    }

    /// Take the first queued request off the queue, its transaction made now if it
    /// waited in a range.
    fn dequeue(&mut self) {
        if let Some((tx, Some(queued))) = self.queue.pop_front() {
            let mut t = self.make(tx);
            t.timing.queued = Some(queued);
            self.live.insert(tx, Box::new(t));
        }
    }

    /// Give queued transactions to connections, opening new ones as the strategy allows.
    pub(super) fn dispatch(&mut self, host: &mut Host) {
        let now = host.now();
        while let Some((tx, _)) = self.queue.front() {
            let conn = match self.pick_connection(tx) {
                Some(i) => i,
                None if self.open_connections() < self.max_connections() => {
                    match host.connect(self.config.server, self.config.port) {
                        Ok(id) => {
                            let ci = self.opened;
                            self.opened += 1;
                            self.by_id.insert(id, ci);
                            self.conns.insert(
                                ci,
                                Box::new(ClientConn {
                                    id,
                                    in_flight: InFlight::default(),
                                    carried: 0,
                                    answered: 0,
                                    outbox: Outbox::new(),
                                    pushed: 0,
                                    inbuf: ReadBuffer::default(),
                                    read: ReadState::Head,
                                    connected: false,
                                    persistence: Persistence::Unknown,
                                    retiring: false,
                                    fin_due: None,
                                    closed: false,
                                    draining: false,
                                    read_total: 0,
                                }),
                            );
                            ci
                        }
                        Err(e) => {
                            self.dequeue();
                            let err = match e {
                                ConnectError::PortsExhausted { .. } => {
                                    TransactionError::PortsExhausted {
                                        detail: e.to_string(),
                                    }
                                }
                                ConnectError::Stack(_) => TransactionError::ConnectionRefused,
                            };
                            if let Some(t) = self.live.get_mut(&tx) {
                                t.timing.connect_start = Some(now);
                                t.fail(err, now);
                            }
                            self.finished.push(tx);
                            continue;
                        }
                    }
                }
                None => break,
            };
            self.dequeue();
            self.send_on(host, conn, tx, now);
            self.mark_ready(conn);
            self.wakeups.wake(conn);
        }
    }

    fn send_on(&mut self, host: &mut Host, ci: usize, tx: usize, now: Instant) {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        host.trace_http(Some(c.id), Some(tx), HttpEvent::Dispatched);
        let (Some(t), Some(spec)) = (self.live.get_mut(&tx), self.workload.request(tx)) else {
            return;
        };
        t.connection = Some(ci);
        t.timing.connect_start = Some(now);
        t.reused = c.carried > 0;
        t.pipelined = !c.in_flight.is_empty();
        if c.connected {
            t.timing.connected = Some(now);
            t.local_port = host.local_port(c.id);
        }
        c.carried += 1;
        self.carried_open += 1;
        if !self.config.strategy.reuses() {
            c.retiring = true;
        }
        let (config, host) = (&self.config, &self.host);
        let head = self
            .head
            .get_or_write(self.workload.spec_index(tx), |out| {
                write_request(config, host, spec, out)
            })
            .to_vec();
        t.heads.request = head.clone();
        t.heads.request_body = spec.body_len;
        let len = head.len() as u64 + spec.body_len;
        let coalesce = self.config.request_writes == 1 && spec.body_len == 0;
        if coalesce && !c.in_flight.is_empty() && !c.outbox.is_empty() {
            // Requests pipelined at one moment go out in one write(), as pipelining
            // clients batch them; separate small writes would meet Nagle.
            c.outbox.extend_last_write(head);
        } else {
            c.outbox
                .push_message(head, spec.body_len, self.config.request_writes);
        }
        c.pushed += len;
        let idempotent = spec.method.is_idempotent();
        c.in_flight.push_back(tx, c.pushed, idempotent);
    }
}

/// Appends the head of request `spec` to `out`, with the fields the client sends;
/// `host` is the `Host` value.
fn write_request(config: &ClientConfig, host: &str, spec: &RequestSpec, out: &mut Vec<u8>) {
    let length = (spec.body_len > 0 || matches!(spec.method, Method::Post | Method::Put))
        .then(|| Decimal::new(spec.body_len));
    // Serial and parallel HTTP/1.1 send no `Connection: close`: the client closes after
    // the response, so the client (as a load generator would) holds the TIME_WAIT.
    let keep_alive = config.version == Version::Http10 && config.strategy.reuses();
    let fields = [
        Some(("Host", host)),
        length.as_ref().map(|l| ("Content-Length", l.as_str())),
        keep_alive.then_some(("Connection", "keep-alive")),
    ];
    write_request_head(
        out,
        &spec.method,
        &spec.target,
        config.version,
        fields.into_iter().flatten(),
    );
}
