//! Passive opens: the listening socket per port, the accept queue and its backlog.

use super::*;

pub(super) struct Listener {
    pub(super) pool: Vec<SockId>,
    pub(super) accept_queue: VecDeque<ConnId>,
    /// Connections whose handshake is under way (Linux's SYN queue length).
    pub(super) half_open: usize,
    /// When the latest SYN cookie was sent (see `syn_queue`).
    pub(super) last_cookie_at: Option<Instant>,
}

impl Host {
    /// Start listening on `port`; `knobs.backlog` bounds its accept queue.
    pub fn listen(&mut self, port: u16) {
        if self.listeners.contains_key(&port) {
            return;
        }
        let mut pool = Vec::new();
        for _ in 0..LISTEN_POOL {
            pool.push(self.new_listening_socket(port));
        }
        self.listeners.insert(
            port,
            Listener {
                pool,
                accept_queue: VecDeque::new(),
                half_open: 0,
                last_cookie_at: None,
            },
        );
    }

    /// The next established connection on `port`, if any.
    pub fn accept(&mut self, port: u16) -> Option<ConnId> {
        let id = self.listeners.get_mut(&port)?.accept_queue.pop_front()?;
        self.conns[id].accept = Accept::Accepted;
        Some(id)
    }

    /// Whether an established connection waits on `port` for [`Host::accept`].
    pub fn has_pending_accept(&self, port: u16) -> bool {
        self.listeners
            .get(&port)
            .is_some_and(|l| !l.accept_queue.is_empty())
    }

    /// Linux's `sk_acceptq_is_full`: more connections wait to be accepted than the
    /// backlog allows (one more than the backlog fits, as in Linux).
    pub(super) fn accept_queue_full(&self, port: u16) -> bool {
        self.listeners
            .get(&port)
            .is_some_and(|l| l.accept_queue.len() > self.config.knobs.backlog)
    }

    /// A listening socket took a SYN: it becomes a connection, in the SYN queue, and a
    /// fresh socket takes its place in the pool. `from_cookie`: the SYN is one a
    /// returning cookie stood for, replayed (see `syn_queue`): it did not cross the
    /// wire now, and its connection is not in the SYN queue.
    pub(super) fn adopt_from_pool(&mut self, port: u16, seg: &Segment, from_cookie: bool) {
        let pool_len = self.listeners.get(&port).map_or(0, |l| l.pool.len());
        for slot in 0..pool_len {
            let Some(&handle) = self.listeners.get(&port).and_then(|l| l.pool.get(slot)) else {
                break;
            };
            if self.sockets.get(handle).state() == tcp::State::Listen {
                continue;
            }
            let fresh = self.new_listening_socket(port);
            if let Some(l) = self.listeners.get_mut(&port) {
                l.pool[slot] = fresh;
            }
            let socket = self.sockets.get(handle);
            let (Some(local), Some(remote)) = (socket.local_endpoint(), socket.remote_endpoint())
            else {
                self.remove_socket(handle);
                continue;
            };
            let (smoltcp::wire::IpAddress::Ipv4(la), smoltcp::wire::IpAddress::Ipv4(ra)) =
                (local.addr, remote.addr);
            let tuple = FourTuple {
                local_addr: la,
                local_port: local.port,
                remote_addr: ra,
                remote_port: remote.port,
            };
            let mut conn = self.new_conn(tuple, Some(handle), Role::Server);
            if from_cookie {
                conn.accept = Accept::Cookie;
            } else if let Some(l) = self.listeners.get_mut(&port) {
                l.half_open += 1;
            }
            let id = self.conns.insert(conn);
            self.live.insert(tuple, id);
            self.sockets.set_owner(handle, id);
            self.trace_open(id);
            let limit = handshake_limit(self.config.knobs.synack_retries);
            self.watch_handshake(self.now + limit, id, HandshakeCheck::Answered);
            if !from_cookie
                && tuple.remote_port == seg.src_port
                && tuple.remote_addr == seg.src_addr
            {
                self.on_segment_in(id, seg);
            }
        }
    }

    /// After smoltcp processed one segment of this connection: queue it for accept
    /// once the handshake is done, and refill the socket.
    pub(super) fn after_ingress(&mut self, id: ConnId) {
        let Some(handle) = self.conns[id].handle else {
            return;
        };
        let socket = self.sockets.get(handle);
        let queue = socket.send_queue();
        // A handshake reset in SYN-RECEIVED leaves the socket in LISTEN: not done.
        let handshake_done = is_synchronized(socket.state());
        let conn = &mut self.conns[id];
        conn.prev_send_queue = queue;
        if conn.accept.handshaking() && handshake_done {
            // The handshake completed: the connection enters the accept queue.
            let was = std::mem::replace(&mut conn.accept, Accept::Queued);
            let port = conn.tuple.local_port;
            if let Some(l) = self.listeners.get_mut(&port) {
                l.accept_queue.push_back(id);
            }
            if was == Accept::Backlog {
                self.leave_syn_queue(port);
            }
        }
        self.top_up(id);
    }

    pub(super) fn new_listening_socket(&mut self, port: u16) -> SockId {
        let mut socket = self.new_socket();
        // Listening on a fresh socket with a non-zero port cannot fail.
        let _ = socket.listen(port);
        self.add_socket(socket)
    }
}

/// Listening sockets kept per port. smoltcp has no accept queue: a SYN goes to a
/// socket in LISTEN, which becomes the connection; the host hands a fresh one to
/// the port before the next frame, so one is always enough. The backlog is
/// enforced on the SYN queue and the accept queue instead ([`Host::listen_counters`]).
pub const LISTEN_POOL: usize = 1;
