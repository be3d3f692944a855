//! The send path above smoltcp: the congestion window, sender-side silly-window
//! avoidance and Minshall's Nagle decide what smoltcp may send.

use super::*;
use crate::send_queue::Generated;
use crate::trace::Hold;

impl Host {
    /// [`Host::send_more_with`] (or [`Host::send_with`], `more` false) of `literal`
    /// and then `len - literal.len()` bytes that `fill(at, ..)` generates: one write.
    /// The generated part stays unwritten in the queue until TCP takes it, so a bulk
    /// body is not held as megabytes of queue (out of cache by the time TCP takes
    /// them) nor copied once more; the bytes sent are the same.
    pub fn send_generated(
        &mut self,
        id: ConnId,
        len: usize,
        more: bool,
        literal: &[u8],
        fill: fn(u64, &mut [u8]),
        at: u64,
    ) -> Result<usize, SocketError> {
        let source = Generated { literal, fill, at };
        self.offer(id, len, more, source)
    }

    /// smoltcp's send buffer is a ring, and a segment never spans its wrap: the
    /// bytes before the end go out as one short segment and the rest as another
    /// (its `get_allocated` returns the contiguous part only). Once the buffer has
    /// drained, smoltcp starts writing at the ring's beginning again, so a
    /// response's segments are aligned to the ring: with a capacity that is a
    /// whole number of segments, the wrap falls between two of them. Any other
    /// capacity put two sub-MSS segments on the wire every 2 MiB of a bulk
    /// transfer, and Minshall's Nagle then held the response's tail behind them.
    /// Aligned to our own MSS, which is the segment size whenever the peer's MSS
    /// option is not smaller.
    pub(super) fn segment_aligned(&self, bytes: usize) -> usize {
        let mss = self.mss();
        (bytes / mss * mss).max(mss)
    }

    /// The MSS this connection sends with: the peer's MSS option, capped by our MTU.
    pub(super) fn mss_for(&self, id: ConnId) -> usize {
        let peer = self.conns[id]
            .track
            .peer_mss
            .map_or(DEFAULT_MSS, usize::from);
        peer.min(self.mss())
    }

    /// The window field smoltcp may see from this connection's peer: the congestion
    /// window in the peer's window-scale units (rounded up, so a whole MSS fits), or
    /// `None` when slow start is off. smoltcp then sends at most min(rwnd, cwnd) past
    /// SND.UNA, retransmissions included (RFC 5681 §2, "send window").
    pub(super) fn window_limit(&self, id: ConnId, syn: bool) -> Option<u16> {
        let conn = &self.conns[id];
        let cwnd = conn.cwnd.window();
        if cwnd == usize::MAX {
            return None;
        }
        // SACKed bytes have left the network: the window reaches past them (the pipe
        // of RFC 6675 §4 is what is in flight less what the peer holds).
        let sacked = conn
            .handle
            .map_or(0, |h| self.sockets.get(h).sacked_bytes());
        let units = cwnd
            .saturating_add(sacked)
            .div_ceil(1usize << conn.track.peer_shift(syn));
        Some(u16::try_from(units).unwrap_or(u16::MAX))
    }

    /// Tell smoltcp, as if from the peer, that the window is now the (collapsed)
    /// congestion window: a bare ACK of SND.UNA at RCV.NXT. smoltcp updates its send
    /// window from every acceptable segment and does not count a window change as a
    /// duplicate ACK, so this only stops the go-back-N burst after a timeout.
    pub(super) fn send_window_update(&mut self, id: ConnId) {
        let Some(limit) = self.window_limit(id, false) else {
            return;
        };
        let conn = &self.conns[id];
        let Some(handle) = conn.handle else {
            return;
        };
        // smoltcp answers an ACK in SYN-SENT or SYN-RECEIVED with `RST seq=ISS`: the
        // window of an unsynchronized connection is never touched.
        if !is_synchronized(self.sockets.get(handle).state()) {
            return;
        }
        let t = &conn.track;
        let from_peer = Segment {
            src_addr: conn.tuple.remote_addr,
            src_port: conn.tuple.remote_port,
            dst_addr: conn.tuple.local_addr,
            dst_port: conn.tuple.local_port,
            seq: 0,
            ack: None,
            syn: false,
            fin: false,
            rst: false,
            psh: false,
            payload_len: 0,
            window: 0,
            mss: None,
            window_scale: None,
            sack: false,
        };
        // smoltcp's sequence space, not the wire's.
        let snd_una = t.snd_una.wrapping_sub(t.isn_offset.unwrap_or(0));
        let frame = build_ack(
            self.config.medium,
            &t.link_header,
            &from_peer,
            t.rcv_nxt,
            snd_una,
            limit,
        );
        let seg = Segment::parse(self.config.medium, &frame);
        let own = self.conns[id].handle;
        self.feed(frame, seg.as_ref(), own);
    }

    /// How much of the connection's pending data may move into smoltcp now, and
    /// what keeps the rest back. One rule for [`Host::top_up`], which moves it, and
    /// for the trace, which says why the rest waits.
    pub(super) fn admit(&self, id: ConnId) -> Admit {
        let mss = self.mss_for(id);
        let conn = &self.conns[id];
        let pending = conn.pending.len();
        let Some(handle) = conn.handle else {
            return Admit::held(Hold::Handshake);
        };
        let socket = self.sockets.get(handle);
        if !socket.may_send() {
            return Admit::held(Hold::Handshake);
        }
        let in_flight = socket.send_queue();
        let t = &conn.track;
        // smoltcp sends whatever it holds up to min(cwnd, rwnd) past SND.UNA, so
        // both limits are applied here, before the data reaches it; what the peer
        // has SACKed counts out of the congestion window's share (RFC 6675's pipe).
        let cwnd_room = conn
            .cwnd
            .allowance(in_flight.saturating_sub(socket.sacked_bytes()));
        let rwnd_room = t
            .peer_window
            .map_or(usize::MAX, |w| w.saturating_sub(in_flight));
        let allowance = cwnd_room.min(rwnd_room);
        let window = if cwnd_room <= rwnd_room {
            Hold::CongestionWindow
        } else {
            Hold::ReceiveWindow
        };
        let room = socket.send_capacity() - in_flight;
        let mut n = pending.min(room);
        let mut held = (n < pending).then_some(Hold::SendBuffer);
        if n > allowance {
            // Whole segments only, as a packet-counting cwnd does and as Linux's
            // `tcp_snd_wnd_test` does at the edge of the peer's window: a
            // byte-exact allowance would cut a sub-MSS segment mid-stream.
            // Sender SWS avoidance (RFC 9293 §3.8.6.2.1) allows a partial
            // segment only when the peer's whole window is that small: at
            // least half the largest window it has offered.
            let small_window = rwnd_room < mss && rwnd_room >= t.max_peer_window / 2;
            n = if small_window {
                allowance
            } else {
                allowance / mss * mss
            };
            held = Some(window);
            if n == 0 && in_flight == 0 {
                // A closed window: smoltcp needs data to probe it with
                // (RFC 9293 §3.8.6.1), or a lost window update would stall
                // the connection for good.
                n = pending.min(room).min(mss);
            }
        }
        let small_in_flight = t.small_end.is_some_and(|end| seq_gt(end, t.snd_una));
        let unsent = in_flight.saturating_sub(t.snd_max.wrapping_sub(t.snd_una) as usize);
        if n < pending || conn.more {
            // Sender-side silly-window avoidance (RFC 9293 §3.8.6.2.1; Linux
            // `tcp_nagle_check`): while more data waits, here or in the
            // writer's hands, smoltcp gets whole segments only, so it never
            // sends a sub-MSS segment mid-stream because a queue happened to
            // end there.
            let cut = ((unsent + n) % mss).min(n);
            if cut > 0 {
                n -= cut;
                held = held.or(Some(if conn.more { Hold::Cork } else { window }));
            }
        }
        let tail = (unsent + n) % mss;
        if self.config.knobs.nagle == Nagle::Minshall && small_in_flight && tail > 0 {
            // Minshall: the sub-MSS tail waits while an earlier small segment is
            // unacknowledged; the ACK that frees it calls `top_up` again.
            n -= tail.min(n);
            held = held.or(Some(Hold::Minshall));
        }
        Admit {
            bytes: n,
            held: if n < pending {
                held.or(Some(Hold::Other))
            } else {
                None
            },
        }
    }

    /// Move application data into smoltcp as far as the congestion window allows.
    pub(super) fn top_up(&mut self, id: ConnId) {
        let now = self.now;
        let conn = &mut self.conns[id];
        let Some(handle) = conn.handle else {
            return;
        };
        let socket = self.sockets.get(handle);
        if !socket.may_send() {
            return;
        }
        if !conn.pending.is_empty() {
            if socket.send_queue() == 0 {
                // Restart after idle (if due) before the window is read.
                conn.cwnd.on_send(0, conn.rtt.rto(), now);
            }
            let n = self.admit(id).bytes;
            let conn = &mut self.conns[id];
            // Touched only if written to: a socket given nothing has nothing new to
            // send, and an egress pass over it would find that out at a cost (once per
            // ACK of a bulk sender whose writer tops up what the window holds back).
            let socket = if n > 0 {
                self.sockets.get_mut(handle)
            } else {
                self.sockets.get_mut_untouched(handle)
            };
            // Written in place: in one piece, or two where smoltcp's ring wraps.
            let mut moved = 0;
            while moved < n {
                let sent = socket
                    .send_at_most(n - moved, |buf| {
                        let k = conn.pending.take_into(buf);
                        (k, k)
                    })
                    .unwrap_or(0);
                if sent == 0 {
                    break;
                }
                moved += sent;
            }
            conn.prev_send_queue = socket.send_queue();
        }
        let conn = &mut self.conns[id];
        if conn.pending.is_empty() && conn.write_shut && !conn.fin_queued {
            self.sockets.get_mut(handle).close();
            conn.fin_queued = true;
        }
    }
}

/// What [`Host::admit`] allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Admit {
    /// Pending bytes that may move into smoltcp now.
    pub(super) bytes: usize,
    /// Why the rest may not, when some must wait.
    pub(super) held: Option<Hold>,
}

impl Admit {
    fn held(hold: Hold) -> Admit {
        Admit {
            bytes: 0,
            held: Some(hold),
        }
    }
}
