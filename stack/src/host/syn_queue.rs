//! The SYN queue: handshakes under way on a listening port. Linux bounds it by the
//! backlog (`inet_csk_reqsk_queue_is_full`: more than `backlog` request sockets);
//! beyond it a SYN is answered with a SYN cookie and no state, or dropped when
//! cookies are off ([`Knobs::syn_cookies`]). So a flood of SYNs that never complete
//! their handshakes holds at most backlog + 1 connections, each until its SYN-ACK
//! retries give up, however many SYNs arrive.
//!
//! When a cookie comes back in an ACK, the connection is made as if its SYN had just
//! arrived: a SYN rebuilt from the cookie (the peer's ISN and the MSS it kept) is
//! handed to the listening socket, which answers with a SYN-ACK of its own; that one
//! is not sent but renumbered to the cookie (`take_replayed_synack`), and the ACK then
//! goes to the socket as any handshake's ACK would. The replayed SYN and SYN-ACK never
//! crossed the wire at that time, so they are not counted or traced: a cookie
//! connection's figures begin with the ACK that made it, as Linux's socket begins then.

use super::*;

/// What listeners did with SYNs they could not queue and with cookies coming back,
/// named after Linux's counters of the same events (`nstat`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ListenCounters {
    /// SYNs and handshake-completing ACKs dropped because the accept queue was full
    /// (`ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs dropped because the SYN queue was full and cookies are off
    /// (`TCPReqQFullDrop`).
    pub syn_queue_drops: u64,
    /// SYN-ACKs sent with a cookie because the SYN queue was full (`SyncookiesSent`).
    pub syncookies_sent: u64,
    /// ACKs that brought back a valid cookie (`SyncookiesRecv`). One that finds the
    /// accept queue full is dropped and counts in `listen_overflows` too; the peer's
    /// next segment brings the cookie again.
    pub syncookies_recv: u64,
    /// ACKs for no connection on a listening port, at a time a cookie could have been
    /// coming back, whose cookie was not valid (`SyncookiesFailed`): answered with RST.
    pub syncookies_failed: u64,
}

impl ListenCounters {
    /// What was counted from `before` to these (the kernel's counters wrap).
    pub fn since(&self, before: &ListenCounters) -> ListenCounters {
        ListenCounters {
            listen_overflows: self.listen_overflows.wrapping_sub(before.listen_overflows),
            syn_queue_drops: self.syn_queue_drops.wrapping_sub(before.syn_queue_drops),
            syncookies_sent: self.syncookies_sent.wrapping_sub(before.syncookies_sent),
            syncookies_recv: self.syncookies_recv.wrapping_sub(before.syncookies_recv),
            syncookies_failed: self
                .syncookies_failed
                .wrapping_sub(before.syncookies_failed),
        }
    }

    /// Add `other`'s counts to these (several runs' worth).
    pub fn add(&mut self, other: &ListenCounters) {
        self.listen_overflows += other.listen_overflows;
        self.syn_queue_drops += other.syn_queue_drops;
        self.syncookies_sent += other.syncookies_sent;
        self.syncookies_recv += other.syncookies_recv;
        self.syncookies_failed += other.syncookies_failed;
    }
}

/// How long after the last cookie was sent an ACK is checked for one (Linux's
/// `TCP_SYNCOOKIE_VALID`: two cookie periods): at other times an ACK for no
/// connection is answered with RST without looking.
const COOKIES_RECENT: Duration = Duration::from_secs(120);

impl Host {
    /// The listeners' counters (see [`ListenCounters`]).
    pub fn listen_counters(&self) -> ListenCounters {
        self.listen
    }

    /// More handshakes are under way on `port` than the backlog allows.
    pub(super) fn syn_queue_full(&self, port: u16) -> bool {
        self.listeners
            .get(&port)
            .is_some_and(|l| l.half_open > self.config.knobs.backlog)
    }

    /// A SYN that finds the SYN queue full (Linux `tcp_conn_request` with
    /// `want_cookie`): answered with a cookie, or dropped when cookies are off. The
    /// accept queue is checked after the SYN queue, as Linux does, so a SYN both
    /// queues refuse counts as a SYN-queue drop when cookies are off.
    pub(super) fn syn_beyond_queue(&mut self, frame: &[u8], seg: &Segment, tuple: &FourTuple) {
        if !self.config.knobs.syn_cookies {
            self.listen.syn_queue_drops += 1;
            return;
        }
        if self.accept_queue_full(seg.dst_port) {
            self.listen.listen_overflows += 1;
            return;
        }
        let peer_mss = seg.mss.unwrap_or(DEFAULT_MSS as u16);
        let cookie = self.cookies.make(tuple, seg.seq, peer_mss, self.now);
        let window = self.config.knobs.rx_buffer.min(usize::from(u16::MAX)) as u16;
        let our_mss = self.mss().min(usize::from(u16::MAX)) as u16;
        let reply = crate::segment::build_synack_reply(
            self.config.medium,
            frame,
            seg,
            cookie,
            window,
            our_mss,
        );
        if let Some(l) = self.listeners.get_mut(&seg.dst_port) {
            l.last_cookie_at = Some(self.now);
        }
        self.listen.syncookies_sent += 1;
        if self.tracing() {
            if let Some(out) = Segment::parse(self.config.medium, &reply) {
                self.trace_stateless_out(&out, StatelessReason::SynCookie);
            }
        }
        self.push_out(reply);
    }

    /// An ACK (without SYN or RST) for no connection on a listening port: if it
    /// brings back a valid cookie, the connection is made and the ACK handed to it
    /// (`None` is returned); otherwise the frame comes back for the usual path, where
    /// smoltcp answers it with RST. An accept queue full at that moment drops the
    /// ACK (Linux `tcp_v4_syn_recv_sock`); the peer's next segment tries again.
    pub(super) fn cookie_ack(
        &mut self,
        frame: Vec<u8>,
        seg: &Segment,
        tuple: &FourTuple,
    ) -> Option<Vec<u8>> {
        let recent = self
            .listeners
            .get(&seg.dst_port)
            .and_then(|l| l.last_cookie_at)
            .is_some_and(|at| self.now <= at + COOKIES_RECENT);
        let Some(ack) = seg.ack.filter(|_| recent && self.config.knobs.syn_cookies) else {
            return Some(frame);
        };
        let Some(decoded) = self.cookies.check(tuple, seg.seq, ack, self.now) else {
            self.listen.syncookies_failed += 1;
            return Some(frame);
        };
        self.listen.syncookies_recv += 1;
        if self.accept_queue_full(seg.dst_port) {
            self.listen.listen_overflows += 1;
            return None;
        }
        let syn = crate::segment::build_syn_replay(self.config.medium, &frame, seg, decoded.mss);
        let syn_seg = Segment::parse(self.config.medium, &syn)?;
        self.feed(syn, Some(&syn_seg), None);
        self.adopt_from_pool(seg.dst_port, &syn_seg, true);
        let id = *self.live.get(tuple)?;
        self.learn_peer_syn(id, &syn_seg);
        let iss = ack.wrapping_sub(1);
        self.conns[id].track.cookie = Some(iss);
        self.trace_event(EventKind::SynCookie {
            conn: id,
            iss,
            irs: syn_seg.seq,
        });
        // smoltcp's SYN-ACK goes out of the socket now, and is taken back
        // (`take_replayed_synack`); then the ACK finds the connection. Only this
        // socket sends: the others answer the frames of this poll together, after
        // the last of them, as they would without the cookie.
        let handle = self.conns[id].handle?;
        self.sockets
            .egress_one(handle, &mut self.iface, self.now, &mut self.device);
        self.collect_tx();
        if self.conns[id].track.cookie.is_some() {
            // On Ethernet smoltcp asked ARP for the client first (it learns
            // neighbours only from ARP, and the SYN never reached it). The ACK is
            // dropped: once ARP answers, the SYN-ACK is taken back as above, and the
            // client's next segment, or its answer to smoltcp's SYN-ACK timer, finds
            // the connection.
            return None;
        }
        self.ingress(frame);
        None
    }

    /// smoltcp's answer to a replayed SYN (see the module docs), met on its way out:
    /// the connection's sequence space is the cookie's, the handshake's state is what
    /// the cookie's SYN-ACK set on the wire, and its RTT measurement is discarded
    /// (the ACK that follows at the same instant would read as a zero round trip;
    /// Linux takes no handshake sample for a cookie connection without timestamps).
    /// Returns whether `seg` was that SYN-ACK, which is then not sent.
    pub(super) fn take_replayed_synack(&mut self, id: ConnId, seg: &Segment) -> bool {
        if !seg.syn || seg.rst {
            return false;
        }
        let Some(cookie) = self.conns[id].track.cookie.take() else {
            return false;
        };
        let conn = &mut self.conns[id];
        conn.track.isn_offset = Some(cookie.wrapping_sub(seg.seq));
        let wire = Segment {
            seq: cookie,
            ..*seg
        };
        conn.track.note_syn_out(&wire);
        conn.track.snd_max = wire.seq_end();
        conn.track.note_offer(&wire);
        if let Some(handle) = conn.handle {
            self.sockets.get_mut(handle).discard_rtt_sample();
        }
        true
    }

    /// A connection of a listener has left its SYN queue: its handshake completed,
    /// or it ended before that.
    pub(super) fn leave_syn_queue(&mut self, port: u16) {
        if let Some(l) = self.listeners.get_mut(&port) {
            l.half_open = l.half_open.saturating_sub(1);
        }
    }
}
