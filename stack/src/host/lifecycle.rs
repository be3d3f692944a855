//! Where connections begin and end: ephemeral ports, active opens, retiring sockets
//! into the TIME_WAIT table.

use super::*;

impl Host {
    /// Tuples that left TIME_WAIT: their connections record until when.
    pub(super) fn release_held(&mut self, held: Vec<HeldTuple>) {
        for h in held {
            self.port_freed(h.tuple.local_port);
            if let Some(id) = self.held_by.remove(&h.tuple) {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.time_wait_until = Some(h.expires);
                }
                self.trace_event(EventKind::TimeWait {
                    conn: id,
                    held: false,
                });
                self.free_if_done(id);
            }
        }
    }

    pub(super) fn expire_time_wait(&mut self) {
        let expired = self.time_wait.expire(self.now);
        self.release_held(expired);
        while let Some(&(id, port)) = self.awaiting_port.front() {
            let remote = self.conns[id].tuple.remote_addr;
            let Ok(local_port) = self.allocate_port(remote, port) else {
                break;
            };
            self.awaiting_port.pop_front();
            self.trace_event(EventKind::PortWait {
                conn: id,
                waiting: false,
            });
            if let Err(e) = self.start_connect(id, local_port) {
                let conn = &mut self.conns[id];
                conn.awaiting_port = false;
                conn.finished = true;
                conn.error = Some(SocketError::Closed);
                let _ = e;
            }
        }
    }

    /// Retire the sockets whose part is over. Only sockets this egress pass
    /// visited can have reached such a state since the last pass (see `sockets`),
    /// and they are looked at in slot order, as before.
    pub(super) fn retire_sockets(&mut self) {
        let mut touched = std::mem::take(&mut self.retire_scratch);
        self.sockets.touched_into(&mut touched);
        for handle in touched.drain(..) {
            let Some(id) = self.sockets.owner(handle) else {
                continue;
            };
            // smoltcp looked at the socket: its state may have moved on its own (a
            // timer), which the application sees.
            self.conns.note(id);
            let socket = self.sockets.get_mut(handle);
            let state = socket.state();
            let conn = &mut self.conns[id];
            let done = match state {
                // An RST during the handshake sends smoltcp's socket back to LISTEN
                // on its own; its place in the pool was refilled when it took the
                // SYN, so it is freed, or it would swallow the next connection.
                tcp::State::Closed | tcp::State::Listen => true,
                // Take TIME_WAIT over once the ACK of the peer's FIN has left.
                tcp::State::TimeWait => conn.track.unacked_since.is_none(),
                _ => false,
            };
            if !done {
                continue;
            }
            // Keep unread input readable after the socket is gone.
            while socket.recv_queue() > 0 {
                let got = socket.recv(|d| {
                    conn.leftover.extend(d.iter());
                    (d.len(), d.len())
                });
                if !matches!(got, Ok(n) if n > 0) {
                    break;
                }
            }
            if state == tcp::State::TimeWait {
                self.time_wait
                    .hold(conn.tuple, conn.track.snd_max, conn.track.rcv_nxt, self.now);
                conn.time_wait_since = Some(self.now);
                if self.time_wait.two_msl() == Duration::ZERO {
                    conn.time_wait_until = Some(self.now);
                } else {
                    self.held_by.insert(conn.tuple, id);
                    self.trace_event(EventKind::TimeWait {
                        conn: id,
                        held: true,
                    });
                }
            } else if conn.error.is_none() && !conn.track.fin_in {
                // Closed without the peer's FIN: we aborted.
                conn.error = Some(SocketError::Aborted);
            }
            self.release_socket(id);
        }
        self.retire_scratch = touched;
    }

    /// The connection is over for TCP: its smoltcp socket and the memory behind it
    /// go, the tuple leaves the live table, and the connection itself goes too
    /// unless something may still ask about it (`free_if_done`).
    pub(super) fn release_socket(&mut self, id: ConnId) {
        let conn = &mut self.conns[id];
        let Some(handle) = conn.handle.take() else {
            return;
        };
        conn.finished = true;
        // Nothing more can be sent: give the queue's memory back now.
        conn.pending = SendQueue::default();
        let tuple = conn.tuple;
        if conn.role == Role::Server && conn.accept == Accept::Backlog {
            // A handshake that never completed (Linux drops the request socket).
            self.leave_syn_queue(tuple.local_port);
        }
        self.remove_socket(handle);
        self.live.remove(&tuple);
        if !self.time_wait.is_held(&tuple, self.now) {
            // Its port is free, unless TIME_WAIT took the tuple over.
            self.port_freed(tuple.local_port);
        }
        self.free_if_done(id);
    }

    pub(super) fn port_in_use(
        &self,
        local_port: u16,
        remote: Ipv4Address,
        remote_port: u16,
    ) -> bool {
        let tuple = FourTuple {
            local_addr: self.addr(),
            local_port,
            remote_addr: remote,
            remote_port,
        };
        self.live.contains_key(&tuple)
            || self.time_wait.is_held(&tuple, self.now)
            || self.listeners.contains_key(&local_port)
    }

    pub(super) fn allocate_port(
        &mut self,
        remote: Ipv4Address,
        port: u16,
    ) -> Result<u16, ConnectError> {
        let mut ports = std::mem::replace(&mut self.ports, EphemeralPorts::new(1, 1));
        let earliest_hold = self.time_wait.next_expiry();
        let result = match self.ports_full.take() {
            // No hold has lapsed unreleased since: only ports freed since can be free.
            Some(mut full)
                if full.remote == remote
                    && full.port == port
                    && earliest_hold.is_none_or(|t| self.now < t) =>
            {
                let result =
                    ports.allocate_among(&full.freed, |p| self.port_in_use(p, remote, port));
                // Whatever is still free stays a candidate; the rest is in use again.
                full.freed
                    .retain(|&p| result != Ok(p) && !self.port_in_use(p, remote, port));
                self.ports_full = Some(full);
                result
            }
            _ => {
                let result = ports.allocate(|p| self.port_in_use(p, remote, port));
                if result.is_err() {
                    self.ports_full = Some(PortsFull {
                        remote,
                        port,
                        freed: Vec::new(),
                    });
                }
                result
            }
        };
        self.ports = ports;
        result.map_err(|_| ConnectError::PortsExhausted {
            ports: self.config.knobs.ports.len(),
            remote: format!("{remote}:{port}"),
        })
    }

    pub(super) fn start_connect(
        &mut self,
        id: ConnId,
        local_port: u16,
    ) -> Result<(), ConnectError> {
        let remote = self.conns[id].tuple;
        let mut socket = self.new_socket();
        // `context()` before `sockets.add()` (smoltcp: avoids a double borrow).
        let cx = self.iface.context();
        if let Err(e) = socket.connect(cx, (remote.remote_addr, remote.remote_port), local_port) {
            // The port stays free.
            self.port_freed(local_port);
            return Err(ConnectError::Stack(e.to_string()));
        }
        let handle = self.add_socket(socket);
        let now = self.now;
        let conn = &mut self.conns[id];
        conn.tuple.local_port = local_port;
        conn.handle = Some(handle);
        conn.awaiting_port = false;
        conn.opened = now;
        self.live.insert(conn.tuple, id);
        self.sockets.set_owner(handle, id);
        self.trace_open(id);
        let limit = handshake_limit(self.config.knobs.syn_retries);
        self.watch_handshake(now + limit, id, HandshakeCheck::Answered);
        if self.config.medium == Medium::Ethernet {
            self.watch_handshake(now + ARP_TIMEOUT, id, HandshakeCheck::Resolved);
        }
        self.egress();
        Ok(())
    }

    /// Let a connection go once nothing can refer to it any more: its socket is
    /// gone, the application has closed it (or never saw it: a passive open that
    /// did not complete), and its tuple is not held in TIME_WAIT on its behalf.
    /// Its final figures go to the closed-connection record if that is kept.
    pub(super) fn free_if_done(&mut self, id: ConnId) {
        let Some(c) = self.conns.get(id) else {
            return;
        };
        let released = c.app_closed || (c.role == Role::Server && c.accept.handshaking());
        let held = self.held_by.get(&c.tuple) == Some(&id);
        if !c.finished || c.handle.is_some() || c.awaiting_port || !released || held {
            return;
        }
        if let Some(conn) = self.conns.remove(id) {
            if id.0 < self.keep_stats_below {
                let stats = self.snapshot(&conn);
                self.closed_stats.insert(id, stats);
            }
        }
    }
}

/// Every ephemeral port toward one remote endpoint was live or held in TIME_WAIT at
/// a full try, and the ports freed since. A full try walks the whole range: once
/// ports run out, a client that opens connections as fast as TIME_WAIT lets it made
/// one such walk per connection and per poll while it waited (60,000 ports, each a
/// lookup in two tables). A port can become free only by leaving the live table or
/// the TIME_WAIT table, which note it here, or by a hold lapsing before the table
/// releases it, which ends the use of this record: so the first free port from the
/// allocator's cursor is the first among those noted, the same port a walk finds.
#[derive(Clone, Debug)]
pub(super) struct PortsFull {
    remote: Ipv4Address,
    port: u16,
    /// Local ports whose tuples left a table since (toward any remote: each is
    /// checked again).
    freed: Vec<u16>,
}

impl Host {
    /// A tuple with this local port left the live or the TIME_WAIT table.
    fn port_freed(&mut self, local_port: u16) {
        if let Some(full) = self.ports_full.as_mut() {
            full.freed.push(local_port);
        }
    }
}
