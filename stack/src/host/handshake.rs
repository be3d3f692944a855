//! The limits of a handshake: SYN and SYN-ACK retransmissions, and ARP.

use super::*;

impl Host {
    /// Give up on handshakes whose time has come (see [`HandshakeCheck`]).
    pub(super) fn expire_handshakes(&mut self) {
        while let Some(&(due, id, check)) = self.handshakes.peek() {
            if due > self.now {
                break;
            }
            self.handshakes.pop();
            if !deadline_current(&self.conns, &self.sockets, &(due, id, check)) {
                continue;
            }
            let conn = &self.conns[id];
            let error = match check {
                HandshakeCheck::Resolved => {
                    SocketError::NoArpReply(self.next_hop(conn.tuple.remote_addr))
                }
                HandshakeCheck::Answered => SocketError::ConnectTimedOut {
                    syns: conn.stats.syn_retransmits as u32 + 1,
                },
            };
            self.drop_handshake(id, error);
        }
    }

    /// Check at `due` that connection `id` got as far as `check` asks.
    ///
    /// Most handshakes finish in a round trip, long before their deadline (127 s
    /// with Linux's six SYN retries), so most entries go stale. A server that
    /// accepts thousands of connections a second would hold hundreds of thousands
    /// of them; a connection has at most two current ones, so once the queue holds
    /// more than twice that for every connection the host keeps (plus the heap's
    /// slack), the stale ones are dropped: the queue follows the connections held,
    /// not the rate they came at.
    pub(super) fn watch_handshake(&mut self, due: Instant, id: ConnId, check: HandshakeCheck) {
        self.handshakes.push((due, id, check));
        let (conns, sockets) = (&self.conns, &self.sockets);
        self.handshakes.bound(2 * conns.len(), |entry| {
            deadline_current(conns, sockets, entry)
        });
    }

    /// Where frames to `addr` go first: the address itself on our subnet, the
    /// gateway otherwise.
    pub(super) fn next_hop(&self, addr: Ipv4Address) -> Ipv4Address {
        match self.config.gateway {
            Some(gw) if !self.config.addr.contains_addr(&addr) => gw,
            _ => addr,
        }
    }

    /// End a connection that never got synchronized, silently, as Linux does when
    /// connect times out or a request socket expires: no RST for a peer that
    /// never answered.
    pub(super) fn drop_handshake(&mut self, id: ConnId, error: SocketError) {
        self.conns[id].error.get_or_insert(error);
        self.release_socket(id);
    }

    /// Whether `seg` would be a SYN or SYN-ACK retransmission past the configured
    /// number (`syn_retries`, `synack_retries`): it is not sent, and the
    /// handshake's deadline ends the connection.
    pub(super) fn beyond_syn_retries(&self, id: ConnId, seg: &Segment) -> bool {
        if !seg.syn || seg.rst {
            return false;
        }
        let conn = &self.conns[id];
        let knobs = &self.config.knobs;
        let limit = match conn.role {
            Role::Client => knobs.syn_retries,
            Role::Server => knobs.synack_retries,
        };
        conn.track.syn_out
            && seq_lt(seg.seq, conn.track.snd_max)
            && conn.stats.syn_retransmits >= u64::from(limit)
    }
}

/// Whether a queued deadline can still end its handshake: the connection is still
/// being synchronized, and for the ARP check, no SYN has left yet.
fn deadline_current(
    conns: &ConnTable,
    sockets: &Sockets,
    &(_, id, check): &(Instant, ConnId, HandshakeCheck),
) -> bool {
    let Some(conn) = conns.get(id) else {
        return false;
    };
    let synchronizing = conn.handle.is_some_and(|handle| {
        matches!(
            sockets.get(handle).state(),
            tcp::State::SynSent | tcp::State::SynReceived
        )
    });
    synchronizing && !(check == HandshakeCheck::Resolved && conn.track.syn_out)
}

/// Linux's three ARP probes a second apart (`mcast_solicit`, `retrans_time_ms`):
/// a neighbour that has not answered by then is unreachable.
pub(super) const ARP_TIMEOUT: Duration = Duration::from_secs(3);
/// The initial RTO (RFC 6298 §2.1; smoltcp's and Linux's `TCP_TIMEOUT_INIT`).
pub(super) const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Linux's `TCP_RTO_MAX`: the backoff of handshake retransmissions stops here.
pub(super) const MAX_HANDSHAKE_RTO: Duration = Duration::from_secs(120);

/// How long a handshake with `retries` retransmissions lasts before it is given up:
/// the initial RTO doubled after each try, summed over the first transmission and
/// every retransmission (Linux `tcp_write_timeout` / `retransmits_timed_out`):
/// 6 retries = 1 + 2 + 4 + 8 + 16 + 32 + 64 = 127 s.
pub(super) fn handshake_limit(retries: u32) -> Duration {
    let mut total = Duration::ZERO;
    let mut rto = INITIAL_RTO;
    for _ in 0..=retries.min(64) {
        total += rto;
        rto = (rto * 2).min(MAX_HANDSHAKE_RTO);
    }
    total
}

/// What a handshake deadline checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum HandshakeCheck {
    /// The SYN left: the next hop answered ARP.
    Resolved,
    /// The handshake completed within its retransmissions.
    Answered,
}
