//! The way a frame goes through the host. In (`ingress`): a segment for no live
//! connection meets the TIME_WAIT table and the accept queue, one for a live connection
//! the RFC 5961 screen and the window clamp, and smoltcp is handed it for the one socket
//! that would take it (`feed`). Out (`egress`, `collect_tx`): smoltcp transmits, and each
//! segment it sends is renumbered to the wire's sequence space, dropped if it is a SYN
//! past its retries or a second fast retransmit, and observed before it leaves.

use super::*;

impl Host {
    /// Hand smoltcp one frame: to the socket that accepts it, as smoltcp would have
    /// chosen among all the host's sockets. `seg` is the frame's TCP segment (`None`
    /// if it has none), `own` the socket of the connection it names, if any.
    pub(super) fn feed(&mut self, frame: Vec<u8>, seg: Option<&Segment>, own: Option<SockId>) {
        let target = match seg {
            Some(seg) => self.target(seg, own),
            None => {
                if self.config.medium == Medium::Ethernet {
                    // ARP may have answered a socket waiting for its neighbor.
                    self.sockets.touch_all();
                }
                None
            }
        };
        self.device.load(frame);
        self.sockets
            .ingress(&mut self.iface, self.now, &mut self.device, target);
        if let Some(id) = target {
            let socket = self.sockets.get(id);
            if socket.state() == tcp::State::Listen && !self.in_pool(id) {
                let port = socket.listen_endpoint().port;
                self.strays.insert((port, id));
            }
        }
    }

    /// The socket smoltcp gives a segment to: the first, in slot order, whose
    /// `accepts` takes it. Only the socket of the connection it names (`own`) and
    /// sockets listening on its port can: the host's tables name them all.
    fn target(&self, seg: &Segment, own: Option<SockId>) -> Option<SockId> {
        let pool = self
            .listeners
            .get(&seg.dst_port)
            .into_iter()
            .flat_map(|l| l.pool.iter().copied());
        let strays = self
            .strays
            .range((seg.dst_port, SockId::MIN)..=(seg.dst_port, SockId::MAX))
            .map(|&(_, id)| id);
        own.into_iter()
            .chain(pool)
            .chain(strays)
            .filter(|&id| accepts(self.sockets.get(id), seg))
            .min()
    }

    fn in_pool(&self, id: SockId) -> bool {
        self.listeners.values().any(|l| l.pool.contains(&id))
    }

    pub(super) fn ingress(&mut self, mut frame: Vec<u8>) {
        let medium = self.config.medium;
        let Some(seg) = Segment::parse(medium, &frame) else {
            // ARP and anything else: smoltcp's business.
            self.feed(frame, None, None);
            self.collect_tx();
            return;
        };
        let tuple = FourTuple {
            local_addr: seg.dst_addr,
            local_port: seg.dst_port,
            remote_addr: seg.src_addr,
            remote_port: seg.src_port,
        };
        let conn_id = self.live.get(&tuple).copied();
        if let Some(id) = conn_id {
            self.conns.note(id);
        } else {
            let verdict = self
                .time_wait
                .on_segment(&tuple, Arrival::from(&seg), self.now);
            let ended = self.time_wait.take_ended();
            self.release_held(ended);
            match verdict {
                Verdict::Ack { seq, ack } => {
                    let reack = build_reack(medium, &frame, &seg, seq, ack, u16::MAX);
                    if let Some(&id) = self.held_by.get(&tuple).filter(|_| self.tracing()) {
                        if let Some(out) = Segment::parse(medium, &reack) {
                            self.trace_segment_out(id, &out, SendReason::TimeWaitAck);
                        }
                    }
                    self.push_out(reack);
                    return;
                }
                Verdict::Drop | Verdict::Kill => return,
                // A new connection on the tuple: the listener takes the SYN.
                Verdict::Reopen | Verdict::NotHeld => {}
            }
            let listening = self.listeners.contains_key(&seg.dst_port);
            if listening && seg.syn && seg.ack.is_none() && !seg.rst {
                // Linux `tcp_conn_request`: a full SYN queue (unless the SYN reopens
                // a tuple from TIME_WAIT) means a cookie or a drop; then a full
                // accept queue drops the SYN, and the client tries again after its
                // SYN timeout.
                if verdict != Verdict::Reopen && self.syn_queue_full(seg.dst_port) {
                    self.syn_beyond_queue(&frame, &seg, &tuple);
                    return;
                }
                if self.accept_queue_full(seg.dst_port) {
                    self.listen.listen_overflows += 1;
                    return;
                }
            }
            if listening && seg.ack.is_some() && !seg.syn && !seg.rst {
                match self.cookie_ack(frame, &seg, &tuple) {
                    Some(back) => frame = back,
                    None => return,
                }
            }
        }
        let mut seg = seg;
        if let Some(id) = conn_id {
            let mut acceptable = true;
            match self.screen(id, &seg) {
                Screen::Pass => {}
                Screen::Unacceptable => acceptable = false,
                Screen::Rewrite(how) => {
                    let new = self.rewritten(id, &frame, &seg, how);
                    let Some(parsed) = Segment::parse(medium, &new) else {
                        return;
                    };
                    frame = new;
                    seg = parsed;
                }
                Screen::Drop => {
                    self.count_in(id, &seg);
                    self.conns[id].stats.dropped_in += 1;
                    return;
                }
                Screen::ChallengeAck => {
                    self.count_in(id, &seg);
                    self.send_challenge_ack(id, &frame, &seg);
                    return;
                }
                Screen::Overflow => {
                    self.count_in(id, &seg);
                    self.conns[id].stats.dropped_in += 1;
                    self.listen.listen_overflows += 1;
                    return;
                }
            }
            // Only data the application could still have read counts as "data after
            // close" (Linux `tcp_rcv_state_process`: the segment ends beyond RCV.NXT);
            // a retransmission of bytes already received is just re-ACKed.
            let t = &self.conns[id].track;
            let new_data = acceptable
                && seg.payload_len > 0
                && seq_gt(seg.seq.wrapping_add(seg.payload_len as u32), t.rcv_nxt);
            if acceptable {
                self.on_segment_in(id, &seg);
            } else {
                self.count_in(id, &seg);
            }
            if medium == Medium::Ethernet {
                if let Some(h) = frame.get(..crate::segment::ETHERNET_HEADER) {
                    self.conns[id].track.link_header.copy_from_slice(h);
                }
            }
            if let Some(limit) = self.window_limit(id, seg.syn) {
                clamp_window(medium, &mut frame, limit);
            }
            let conn = &self.conns[id];
            if conn.app_closed && new_data && conn.error.is_none() {
                // Data for a fully closed socket: the kernel answers with RST.
                self.abort(id);
                return;
            }
            if seg.payload_len > 0 {
                self.choose_ack_delay(id);
            }
            if let Some(offset) = self.conns[id].track.isn_offset {
                shift_sequence(medium, &mut frame, true, offset.wrapping_neg());
            }
        }
        // Sequence numbers may have been shifted and the window clamped, but not
        // the tuple or the flags `accepts` looks at.
        let own = conn_id.and_then(|id| self.conns[id].handle);
        self.feed(frame, Some(&seg), own);
        match conn_id {
            Some(id) => self.after_ingress(id),
            None => self.adopt_from_pool(seg.dst_port, &seg, false),
        }
        self.collect_tx();
    }

    pub(super) fn collect_tx(&mut self) {
        let mut frames = std::mem::take(&mut self.device.tx);
        for mut frame in frames.drain(..) {
            let parsed = Segment::parse(self.config.medium, &frame);
            // Segments of a connection we keep (smoltcp also answers segments for
            // no connection at all, with an RST of its own numbers).
            if let Some((id, mut seg)) =
                parsed.and_then(|s| Some((*self.live.get(&outgoing_tuple(&s))?, s)))
            {
                if self.take_replayed_synack(id, &seg) {
                    self.device.recycle(frame);
                    continue;
                }
                if let Some(delta) = self.outgoing_offset(id, &seg) {
                    shift_sequence(self.config.medium, &mut frame, false, delta);
                    seg.seq = seg.seq.wrapping_add(delta);
                }
                if self.beyond_syn_retries(id, &seg) || self.repeated_fast_retransmit(id, &seg) {
                    self.device.recycle(frame);
                    continue;
                }
                if let Some(delta) = self.reset_offset(id, &seg) {
                    shift_sequence(self.config.medium, &mut frame, false, delta);
                    seg.seq = seg.seq.wrapping_add(delta);
                }
                self.on_segment_out(id, &seg);
            } else if let Some(seg) = parsed.filter(|s| s.rst) {
                // smoltcp answers a segment for no connection only with its RST.
                self.trace_stateless_out(&seg, StatelessReason::Rst);
            }
            self.push_out(frame);
        }
        // Keep the (now empty) list's allocation for the next round.
        if self.device.tx.is_empty() {
            self.device.tx = frames;
        }
    }

    /// Transmit, then retire sockets whose part is over.
    pub(super) fn egress(&mut self) {
        self.sockets.take_due(self.now);
        // Each round sends at most one segment per socket; the bound only guards
        // against a runaway.
        for _ in 0..100_000 {
            let r = self
                .sockets
                .egress_round(&mut self.iface, self.now, &mut self.device);
            let sent = !self.device.tx.is_empty();
            self.collect_tx();
            for id in std::mem::take(&mut self.window_updates) {
                self.send_window_update(id);
            }
            if !sent && r == smoltcp::iface::PollResult::None {
                break;
            }
        }
        self.retire_sockets();
        self.sockets.settle(&mut self.iface, self.now);
        self.trace_states();
    }
}

/// smoltcp's `tcp::Socket::accepts` (crate-private there), from the socket's public
/// state: a closed socket takes nothing; a listening one takes segments to its port
/// without ACK or RST; a connected one, those of its 4-tuple.
fn accepts(socket: &tcp::Socket, seg: &Segment) -> bool {
    match socket.state() {
        tcp::State::Closed => return false,
        tcp::State::Listen if seg.ack.is_some() || seg.rst => return false,
        _ => {}
    }
    use smoltcp::wire::IpAddress;
    match (socket.local_endpoint(), socket.remote_endpoint()) {
        (Some(local), Some(remote)) => {
            local.addr == IpAddress::Ipv4(seg.dst_addr)
                && local.port == seg.dst_port
                && remote.addr == IpAddress::Ipv4(seg.src_addr)
                && remote.port == seg.src_port
        }
        _ => {
            let listen = socket.listen_endpoint();
            listen
                .addr
                .is_none_or(|a| a == IpAddress::Ipv4(seg.dst_addr))
                && seg.dst_port != 0
                && seg.dst_port == listen.port
        }
    }
}

/// The connection a segment we send belongs to, named from our side.
fn outgoing_tuple(seg: &Segment) -> FourTuple {
    FourTuple {
        local_addr: seg.src_addr,
        local_port: seg.src_port,
        remote_addr: seg.dst_addr,
        remote_port: seg.dst_port,
    }
}
