//! The host's smoltcp sockets, each in a socket set of its own, and the queue of
//! their deadlines.
//!
//! smoltcp's `Interface` visits every socket of the set it is given: on every egress
//! poll, for every received segment (to find the socket that accepts it) and for
//! every `poll_at`. With one set for the host each frame cost time in proportion to
//! the connections open, and a run with thousands at once went quadratic. Here each
//! socket has a set of one, so the interface sees only the socket the host hands it:
//! * a received segment goes to the socket smoltcp would have picked, found through
//!   the host's own tables (`Host::target`);
//! * an egress pass visits only the sockets touched since the last pass (borrowing
//!   one mutably touches it) and those whose deadline has come;
//! * the deadlines wait in a queue (a binary heap, stale entries skipped when they
//!   surface), so "when next" costs a look at its head.
//!
//! A socket left out of a pass has not changed since smoltcp last found nothing to
//! send in it, and its deadline is still ahead: smoltcp's `poll_at` mirrors what its
//! `dispatch` would do, so visiting it could send nothing. Slots are handed out
//! lowest free first and every pass goes in slot order, as smoltcp's `SocketSet`
//! does with its handles: the frames several sockets send in one instant leave in
//! the order they did with one set, and seeded runs stay byte for byte the same.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::stale_heap::StaleHeap;

use super::*;

/// One socket of the host: the slot it occupies (see the module docs for why the
/// order of slots matters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct SockId(usize);

impl SockId {
    pub(super) const MIN: SockId = SockId(0);
    pub(super) const MAX: SockId = SockId(usize::MAX);
}

struct Slot {
    /// A set of exactly this socket.
    set: SocketSet<'static>,
    handle: SocketHandle,
    /// In `Sockets::touched`.
    touched: bool,
    /// Its entry in the deadline queue, if it has one: (when, stamp). Entries that
    /// do not match are stale.
    queued: Option<(Instant, u64)>,
    /// The connection it serves; `None` for a listening socket of the pool not
    /// taken yet. Kept beside the socket rather than in a map of its own: every
    /// egress pass asks it of each socket visited, and with thousands of
    /// connections a map's entry is a cache miss the slot, just used, is not.
    owner: Option<ConnId>,
}

/// Every smoltcp socket of a host. See the module docs.
pub(super) struct Sockets {
    slots: Vec<Option<Slot>>,
    free: BinaryHeap<Reverse<usize>>,
    len: usize,
    /// Touched since the last egress pass (or due): the next pass visits them.
    touched: Vec<SockId>,
    /// Whether `touched` is in slot order.
    sorted: bool,
    /// Deadlines of untouched sockets, earliest first: (when, socket, stamp).
    deadlines: StaleHeap<(Instant, SockId, u64)>,
    next_stamp: u64,
    /// For frames no socket accepts: smoltcp answers them with its RST.
    none: SocketSet<'static>,
}

impl Default for Sockets {
    fn default() -> Sockets {
        Sockets {
            slots: Vec::new(),
            free: BinaryHeap::new(),
            len: 0,
            touched: Vec::new(),
            sorted: true,
            deadlines: StaleHeap::default(),
            next_stamp: 1,
            none: SocketSet::new(Vec::new()),
        }
    }
}

impl Sockets {
    /// Keep `socket` until it is removed.
    pub(super) fn add(&mut self, socket: tcp::Socket<'static>) -> SockId {
        let mut set = SocketSet::new(Vec::with_capacity(1));
        let handle = set.add(socket);
        let slot = Slot {
            set,
            handle,
            touched: false,
            queued: None,
            owner: None,
        };
        let index = match self.free.pop() {
            Some(Reverse(i)) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.len += 1;
        let id = SockId(index);
        self.touch(id);
        id
    }

    /// Drop a socket, and its buffers with it.
    pub(super) fn remove(&mut self, id: SockId) {
        if let Some(slot) = self.slots.get_mut(id.0).and_then(Option::take) {
            if slot.touched {
                self.touched.retain(|&t| t != id);
            }
            drop(slot);
            self.free.push(Reverse(id.0));
            self.len -= 1;
        }
    }

    /// Socket `id` serves connection `owner` from now on.
    pub(super) fn set_owner(&mut self, id: SockId, owner: ConnId) {
        self.slot_mut(id).owner = Some(owner);
    }

    /// The connection socket `id` serves, if it is still kept and serves one.
    pub(super) fn owner(&self, id: SockId) -> Option<ConnId> {
        self.slots.get(id.0)?.as_ref()?.owner
    }

    /// Sockets kept.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn slot(&self, id: SockId) -> &Slot {
        self.slots[id.0]
            .as_ref()
            .expect("a socket the host still keeps")
    }

    fn slot_mut(&mut self, id: SockId) -> &mut Slot {
        self.slots[id.0]
            .as_mut()
            .expect("a socket the host still keeps")
    }

    pub(super) fn get(&self, id: SockId) -> &tcp::Socket<'static> {
        let slot = self.slot(id);
        slot.set.get::<tcp::Socket>(slot.handle)
    }

    /// The socket, to change: it is touched (the next egress pass visits it).
    pub(super) fn get_mut(&mut self, id: SockId) -> &mut tcp::Socket<'static> {
        self.touch(id);
        let slot = self.slot_mut(id);
        slot.set.get_mut::<tcp::Socket>(slot.handle)
    }

    /// The socket, to change in a way that cannot change what it sends or when,
    /// or that the caller follows with [`Sockets::touch`]: it is not touched.
    pub(super) fn get_mut_untouched(&mut self, id: SockId) -> &mut tcp::Socket<'static> {
        let slot = self.slot_mut(id);
        slot.set.get_mut::<tcp::Socket>(slot.handle)
    }

    /// The next egress pass visits this socket; until then its queued deadline is
    /// not looked at (the pass works out a new one).
    pub(super) fn touch(&mut self, id: SockId) {
        let Some(slot) = self.slots.get_mut(id.0).and_then(Option::as_mut) else {
            return;
        };
        if !slot.touched {
            slot.touched = true;
            if self.touched.last().is_some_and(|&last| last > id) {
                self.sorted = false;
            }
            self.touched.push(id);
        }
    }

    /// The next egress pass visits every socket: something every socket's
    /// `poll_at` depends on may have changed (the interface's neighbor cache).
    pub(super) fn touch_all(&mut self) {
        for i in 0..self.slots.len() {
            self.touch(SockId(i));
        }
    }

    /// Offer the frame loaded in `device` to smoltcp with `target` as the only
    /// socket (`None`: no socket accepts it).
    pub(super) fn ingress(
        &mut self,
        iface: &mut Interface,
        now: Instant,
        device: &mut FrameSlot,
        target: Option<SockId>,
    ) {
        let set = match target {
            Some(id) => {
                self.touch(id);
                &mut self.slot_mut(id).set
            }
            None => &mut self.none,
        };
        iface.poll_ingress_single(now, device, set);
    }

    /// The head of the deadline queue, once stale entries are gone and entries of
    /// touched sockets (whose deadlines the next pass works out anew) are dropped.
    fn head(&mut self) -> Option<(Instant, SockId)> {
        while let Some(&(at, id, stamp)) = self.deadlines.peek() {
            if let Some(slot) = self.slots.get_mut(id.0).and_then(Option::as_mut) {
                if slot.queued == Some((at, stamp)) {
                    if !slot.touched {
                        return Some((at, id));
                    }
                    slot.queued = None;
                }
            }
            self.deadlines.pop();
        }
        None
    }

    /// Whether an egress pass at `now` would visit any socket: one is touched, or
    /// the earliest queued deadline (perhaps a stale one) has come.
    pub(super) fn has_work(&self, now: Instant) -> bool {
        !self.touched.is_empty() || self.deadlines.peek().is_some_and(|&(at, _, _)| at <= now)
    }

    /// Sockets whose deadline has come are touched.
    pub(super) fn take_due(&mut self, now: Instant) {
        while let Some((at, id)) = self.head() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            self.slot_mut(id).queued = None;
            self.touch(id);
        }
    }

    /// One egress round: each touched socket, in slot order, may send one segment
    /// (what one `poll_egress` over a set of them all does).
    pub(super) fn egress_round(
        &mut self,
        iface: &mut Interface,
        now: Instant,
        device: &mut FrameSlot,
    ) -> smoltcp::iface::PollResult {
        self.sort();
        let mut result = smoltcp::iface::PollResult::None;
        for id in &self.touched {
            if let Some(slot) = self.slots[id.0].as_mut() {
                let r = iface.poll_egress(now, device, &mut slot.set);
                if r != smoltcp::iface::PollResult::None {
                    result = r;
                }
            }
        }
        result
    }

    /// One egress call on socket `id` alone, whatever else is touched: for a socket
    /// that must answer now, in the middle of a batch of arrivals that the other
    /// sockets answer together when the batch is done.
    pub(super) fn egress_one(
        &mut self,
        id: SockId,
        iface: &mut Interface,
        now: Instant,
        device: &mut FrameSlot,
    ) {
        if let Some(slot) = self.slots[id.0].as_mut() {
            iface.poll_egress(now, device, &mut slot.set);
        }
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.touched.sort_unstable();
            self.sorted = true;
        }
    }

    /// The sockets the coming (or current) egress pass visits, in slot order,
    /// into `out`.
    pub(super) fn touched_into(&mut self, out: &mut Vec<SockId>) {
        self.sort();
        out.extend_from_slice(&self.touched);
    }

    /// End an egress pass: queue each touched socket's next deadline, if it has one
    /// (an entry already queued for the same instant stays).
    pub(super) fn settle(&mut self, iface: &mut Interface, now: Instant) {
        for id in self.touched.drain(..) {
            let Some(slot) = self.slots[id.0].as_mut() else {
                continue;
            };
            slot.touched = false;
            let at = iface.poll_at(now, &slot.set);
            match (at, slot.queued) {
                (Some(at), Some((queued, _))) if at == queued => {}
                (Some(at), _) => {
                    let stamp = self.next_stamp;
                    self.next_stamp += 1;
                    slot.queued = Some((at, stamp));
                    self.deadlines.push((at, id, stamp));
                }
                (None, _) => slot.queued = None,
            }
        }
        self.sorted = true;
        // Stale entries leave when they surface, or all at once should they pile up
        // (many touches of sockets with far deadlines).
        let slots = &self.slots;
        self.deadlines.bound(self.len, |&(at, id, stamp)| {
            slots[id.0]
                .as_ref()
                .is_some_and(|s| s.queued == Some((at, stamp)))
        });
    }

    /// When the earliest socket needs an egress pass: the head of the queue, or
    /// a touched socket's own deadline.
    pub(super) fn poll_at(&mut self, iface: &mut Interface, now: Instant) -> Option<Instant> {
        let queued = self.head().map(|(at, _)| at);
        let touched = self
            .touched
            .iter()
            .filter_map(|id| self.slots[id.0].as_ref())
            .filter_map(|slot| iface.poll_at(now, &slot.set))
            .min();
        match (queued, touched) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
