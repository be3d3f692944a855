//! Settling an instant, and finding the next one: the loop both runners share.
//!
//! At one instant a poll can make more work for the same instant: a host answers a
//! frame another host just sent, an application writes what it just read, a host sends
//! what the application just wrote. So a runner polls in rounds until a round moves no
//! frame, no host has input waiting and no application has work left for the instant
//! ([`crate::sim::Application::has_work_now`]). That last, quiet round is left out
//! when every application drives only what its host's news names
//! ([`crate::sim::Application::settles_on_news`]) and nothing is left for the instant
//! that such a round could find: no host work or unread news ([`Host::needs_poll`]),
//! no application with work, no deadline come. The simulator ([`crate::sim`]) and the
//! real-time runner ([`crate::realtime`]) differ only in where the frames go (onto
//! emulated links; through the in-process path to a device) and in what else has a
//! deadline (links, a time limit): an [`Outlet`] and the caller supply those parts,
//! [`settle`] and [`next_deadline_ns`] the rest.
//!
//! The order inside a round is fixed, because seeded runs must repeat byte for byte:
//! every host is polled, in index order; then every application, in slot order, on its
//! host; then the round's host events are stamped; then each host's frames are handed
//! on, host by host, in the order sent; then the round ends. After a host is polled,
//! every application on it is polled before the host is polled again, so an
//! application sees each state its host settles into.

use smoltcp::time::Instant;

use crate::host::Host;
use crate::sim::{AppSlot, HostId};
use crate::trace::{Event, EventKind};

/// Rounds at one instant before the loop gives up on quiescence; each round moves at
/// least one frame, so only a feedback storm could reach it.
const MAX_ROUNDS_PER_INSTANT: usize = 10_000;

/// The hosts a settle polls, and which one each application runs on.
pub(crate) enum Hosts<'h> {
    /// Each application runs on the host its slot names (the simulator).
    Each(&'h mut [Host]),
    /// One host runs every application, whatever its slot names (a real-time run has
    /// one host, so a slot's host means nothing there).
    One(&'h mut Host),
}

impl Hosts<'_> {
    fn all(&mut self) -> &mut [Host] {
        match self {
            Hosts::Each(hosts) => hosts,
            Hosts::One(host) => std::slice::from_mut(&mut **host),
        }
    }

    fn of(&mut self, id: HostId) -> &mut Host {
        match self {
            Hosts::Each(hosts) => &mut hosts[id.0],
            Hosts::One(host) => host,
        }
    }
}

/// Where the frames of a settle go, and who reads its trace: a runner's side of
/// [`settle`].
pub(crate) trait Outlet {
    /// Why handing a frame on can fail (never, in the simulator).
    type Error;

    /// The round's trace when events are recorded, `None` when they are not. [`settle`]
    /// stamps the hosts' events into it before any frame is handed on; the outlet may
    /// add its own (what a link did to a frame) as frames pass.
    fn trace(&mut self) -> Option<&mut RoundTrace>;

    /// The hosts' events of the round are in [`Outlet::trace`], and no frame of the
    /// round has been handed on yet (the moment a capture's narrator reads them).
    fn traced(&mut self) {}

    /// Hand on the frames host `from` sent in the round, oldest first, at `now_ns`,
    /// taking them out of `frames` (the emptied list goes back to the host).
    /// `host` is that host: the frames' numbers end at its [`Host::frames_out`].
    fn send(
        &mut self,
        from: usize,
        host: &mut Host,
        frames: &mut Vec<Vec<u8>>,
        now_ns: u64,
    ) -> Result<(), Self::Error>;

    /// The round is over: its frames were all handed on and [`Outlet::trace`] holds
    /// its events, the hosts' first. `hosts` take back the buffers of frames done with.
    fn end_round(&mut self, hosts: &mut [Host]) -> Result<(), Self::Error>;
}

/// One round's events, stamped with the instant and the host that recorded them, and
/// the buffers reused from round to round.
#[derive(Debug, Default)]
pub(crate) struct RoundTrace {
    /// One host's events before stamping.
    kinds: Vec<EventKind>,
    /// The round's events so far.
    events: Vec<Event>,
}

impl RoundTrace {
    /// Take every host's events, in host order, stamped with `now_ns`.
    fn collect(&mut self, hosts: &mut [Host], now_ns: u64) {
        for (index, host) in hosts.iter_mut().enumerate() {
            host.take_trace(&mut self.kinds);
            self.events.extend(self.kinds.drain(..).map(|kind| Event {
                at_ns: now_ns,
                host: index,
                kind,
            }));
        }
    }

    /// Add an event the outlet recorded (it comes after the hosts' events).
    pub(crate) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// The round's events so far, in order.
    pub(crate) fn events(&self) -> &[Event] {
        &self.events
    }
}

/// Each application's own deadline (a timeout, a think time), as its last poll
/// returned it, by slot.
#[derive(Debug)]
pub(crate) struct AppDeadlines(Vec<Option<Instant>>);

impl AppDeadlines {
    /// No deadline yet for any of `apps` applications.
    pub(crate) fn new(apps: usize) -> AppDeadlines {
        AppDeadlines(vec![None; apps])
    }
}

/// Poll `hosts` and the applications at `now_ns` in rounds until one moves no frame and
/// no host has input waiting, or a next round could change nothing (see the module
/// docs for both, and for the order), handing each round's frames and trace to
/// `outlet`, and recording each application's deadline in `deadlines`. True if any
/// frame moved.
///
/// Inlined into each runner's loop: it runs once an instant (once a frame, in a bulk
/// simulation), and whether LLVM inlines it on its own flips as the host code it pulls
/// in grows; out of line it cost 0.6-0.8 % more instructions in the scale benchmark's
/// (a) and (c) (callgrind).
#[inline(always)]
pub(crate) fn settle<O: Outlet>(
    mut hosts: Hosts<'_>,
    apps: &mut [AppSlot<'_>],
    deadlines: &mut AppDeadlines,
    outlet: &mut O,
    now_ns: u64,
) -> Result<bool, O::Error> {
    let now = Instant::from_micros((now_ns / 1000) as i64);
    let mut moved = false;
    for _ in 0..MAX_ROUNDS_PER_INSTANT {
        for host in hosts.all() {
            host.poll(now);
        }
        for (slot, deadline) in apps.iter_mut().zip(deadlines.0.iter_mut()) {
            *deadline = slot.app.poll(hosts.of(slot.host));
        }
        if let Some(trace) = outlet.trace() {
            trace.collect(hosts.all(), now_ns);
            outlet.traced();
        }
        let mut round_moved = false;
        for (from, host) in hosts.all().iter_mut().enumerate() {
            let mut frames = host.take_frames();
            if !frames.is_empty() {
                round_moved = true;
                outlet.send(from, host, &mut frames, now_ns)?;
            }
            host.give_back_frame_list(frames);
        }
        outlet.end_round(hosts.all())?;
        if let Some(trace) = outlet.trace() {
            trace.events.clear();
        }
        moved |= round_moved;
        if apps.iter().any(|slot| slot.app.has_work_now()) {
            continue;
        }
        // A round that moved nothing, with no input waiting, ends the instant.
        let still = !round_moved && !hosts.all().iter().any(Host::has_pending_input);
        // So does one in which frames moved, but a next round could only find
        // everyone idle: the applications act on news alone and have none, no
        // deadline has come, and the hosts have nothing of their own to do (the frames
        // sent are on their way to a later instant, or back in a host's input, which
        // counts as work).
        if still
            || (apps.iter().all(|slot| slot.app.settles_on_news())
                && !deadlines.0.iter().flatten().any(|&at| at <= now)
                && !hosts.all().iter().any(|h| h.needs_poll(now)))
        {
            break;
        }
    }
    Ok(moved)
}

/// What a host's or an application's deadline that has already come means.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Overdue {
    /// Due now: the real-time loop wakes at once (and its spin guard stops a loop that
    /// keeps asking for that without moving a frame).
    Now,
    /// Due at the microsecond after `now_ns`, smoltcp's clock resolution: virtual time
    /// must advance, or a deadline that a poll does not clear would stop the clock.
    NextMicrosecond {
        /// The instant just settled, in ns.
        now_ns: u64,
    },
}

/// The earliest of the hosts' timers ([`Host::poll_at`]), the applications' deadlines
/// and `others` (in ns already: link arrivals, limits), in ns; host and application
/// deadlines that have come are read as `overdue` says. `None`: nothing is pending.
pub(crate) fn next_deadline_ns(
    hosts: &mut [Host],
    deadlines: &AppDeadlines,
    overdue: Overdue,
    others: impl IntoIterator<Item = u64>,
) -> Option<u64> {
    let floor_ns = match overdue {
        Overdue::Now => 0,
        Overdue::NextMicrosecond { now_ns } => (now_ns / 1000 + 1) * 1000,
    };
    let to_ns = |t: Instant| (t.total_micros().max(0) as u64 * 1000).max(floor_ns);
    let hosts = hosts.iter_mut().filter_map(|h| h.poll_at().map(to_ns));
    let apps = deadlines.0.iter().flatten().map(|t| to_ns(*t));
    others.into_iter().chain(hosts).chain(apps).min()
}

#[cfg(test)]
mod tests {
    use smoltcp::wire::Ipv4Address;

    use super::*;
    use crate::host::ConnState;
    use crate::sim::Application;

    /// Delivers each round's frames to the other of two hosts when the round ends
    /// (a wire with no delay), and notes who sent in which round. With `hold`, it
    /// keeps them instead: nothing arrives within the instant, as on a link with a
    /// delay.
    #[derive(Default)]
    struct Mirror {
        in_flight: Vec<(usize, Vec<u8>)>,
        senders: Vec<Vec<usize>>,
        round: Vec<usize>,
        hold: bool,
    }

    impl Outlet for Mirror {
        type Error = ();

        fn trace(&mut self) -> Option<&mut RoundTrace> {
            None
        }

        fn send(
            &mut self,
            from: usize,
            _: &mut Host,
            frames: &mut Vec<Vec<u8>>,
            _: u64,
        ) -> Result<(), ()> {
            self.round.push(from);
            self.in_flight
                .extend(frames.drain(..).map(|f| (1 - from, f)));
            Ok(())
        }

        fn end_round(&mut self, hosts: &mut [Host]) -> Result<(), ()> {
            for (to, frame) in self.in_flight.drain(..) {
                if !self.hold {
                    hosts[to].receive_frame(frame);
                }
            }
            self.senders.push(std::mem::take(&mut self.round));
            Ok(())
        }
    }

    /// Settle instant 0 with `app` alone, on host `on`: whether a frame moved, and the
    /// deadline the application's last poll returned.
    fn settle_one(
        hosts: &mut [Host],
        app: &mut dyn Application,
        on: usize,
        outlet: &mut Mirror,
    ) -> (Result<bool, ()>, Option<Instant>) {
        let mut apps = [AppSlot {
            host: HostId(on),
            app,
            is_server: true,
        }];
        let mut deadlines = AppDeadlines::new(1);
        let moved = settle(Hosts::Each(hosts), &mut apps, &mut deadlines, outlet, 0);
        (moved, deadlines.0[0])
    }

    /// Asks to be polled again at a fixed time, and counts its polls.
    struct Waiter {
        at: Instant,
        polls: usize,
    }

    impl Application for Waiter {
        fn poll(&mut self, _: &mut Host) -> Option<Instant> {
            self.polls += 1;
            Some(self.at)
        }

        fn is_done(&self) -> bool {
            false
        }
    }

    /// A handshake between two hosts completes within one instant, a round per
    /// segment, each round's frames handed on host by host; the loop stops at the
    /// first round that moves nothing, with every application polled once a round.
    #[test]
    fn an_instant_settles_in_rounds_until_nothing_moves() {
        let mut hosts = [Host::for_tests(1), Host::for_tests(2)];
        hosts[1].listen(80);
        let id = hosts[0]
            .connect(Ipv4Address::new(192, 0, 2, 2), 80)
            .expect("connect");
        let mut waiter = Waiter {
            at: Instant::from_millis(7),
            polls: 0,
        };
        let mut outlet = Mirror::default();
        let (moved, deadline) = settle_one(&mut hosts, &mut waiter, 1, &mut outlet);
        assert_eq!(moved, Ok(true));
        assert_eq!(hosts[0].state(id), ConnState::Open);
        // SYN, SYN-ACK, ACK, then a quiet round.
        assert_eq!(outlet.senders, [vec![0], vec![1], vec![0], vec![]]);
        assert_eq!(waiter.polls, 4);
        assert_eq!(deadline, Some(Instant::from_millis(7)));
    }

    /// A handshake's deadline (127 s with six SYN retries) outlives the handshake by
    /// far, so the deadlines of connections that went on, or went, are dropped once
    /// they pile up: a server that completes thousands of handshakes keeps deadlines
    /// in proportion to the connections it holds, not to those it has seen.
    #[test]
    fn handshake_deadlines_follow_the_connections_held() {
        let mut hosts = [Host::for_tests(1), Host::for_tests(2)];
        hosts[1].listen(80);
        let mut outlet = Mirror::default();
        let mut settle_now = |hosts: &mut [Host; 2]| {
            settle(
                Hosts::Each(hosts),
                &mut [],
                &mut AppDeadlines::new(0),
                &mut outlet,
                0,
            )
        };
        // A SYN to an address no host has is never answered: that handshake's
        // deadline stays current through every rebuild, and still ends it.
        let stuck = hosts[0]
            .connect(Ipv4Address::new(192, 0, 2, 3), 80)
            .expect("connect");
        let connections = 3 * crate::stale_heap::SLACK;
        let mut most = [0; 2];
        for _ in 0..connections {
            let id = hosts[0]
                .connect(Ipv4Address::new(192, 0, 2, 2), 80)
                .expect("connect");
            assert_eq!(settle_now(&mut hosts), Ok(true));
            assert_eq!(hosts[0].state(id), ConnState::Open);
            let accepted = hosts[1].accept(80).expect("an accepted connection");
            hosts[0].abort(id);
            hosts[1].abort(accepted);
            assert_eq!(settle_now(&mut hosts), Ok(true));
            for (most, host) in most.iter_mut().zip(&hosts) {
                assert!(host.live_connection_count() <= 1);
                *most = (*most).max(host.handshake_deadlines());
            }
        }
        assert_eq!(hosts[1].connection_count(), connections);
        // A connection has at most two current deadlines, so the heap is rebuilt
        // once it holds more than twice that per connection held, plus the slack:
        // never anywhere near one per connection. Held when a deadline is queued:
        // the connection just opened and, on the client, the stuck one.
        for (most, held) in most.into_iter().zip([2, 1]) {
            assert!(
                most > crate::stale_heap::SLACK && most <= crate::stale_heap::SLACK + 2 * 2 * held,
                "{most} deadlines queued at most"
            );
        }
        assert_eq!(hosts[0].state(stuck), ConnState::Connecting);
        let limit_ns = 127_000_000_000;
        let settle_at = |hosts: &mut [Host; 2], now_ns| {
            settle(
                Hosts::Each(hosts),
                &mut [],
                &mut AppDeadlines::new(0),
                &mut Mirror::default(),
                now_ns,
            )
        };
        let _ = settle_at(&mut hosts, limit_ns - 1_000);
        assert_eq!(hosts[0].state(stuck), ConnState::Connecting);
        let _ = settle_at(&mut hosts, limit_ns);
        assert!(
            matches!(
                hosts[0].state(stuck),
                ConnState::Failed(crate::error::SocketError::ConnectTimedOut { .. })
            ),
            "{:?}",
            hosts[0].state(stuck)
        );
    }

    /// Leaves work for the instant it was polled at on its first `left` polls.
    struct Busy {
        left: usize,
        polls: usize,
    }

    impl Application for Busy {
        fn poll(&mut self, _: &mut Host) -> Option<Instant> {
            self.polls += 1;
            None
        }

        fn has_work_now(&self) -> bool {
            self.polls <= self.left
        }

        fn is_done(&self) -> bool {
            false
        }
    }

    /// An application that left work for the instant is polled again at that instant
    /// even though no frame moves, until it has none left, and no more: work it left
    /// would otherwise wait for the next event, however far away.
    #[test]
    fn an_instant_settles_until_no_application_has_work_left() {
        let mut hosts = [Host::for_tests(1), Host::for_tests(2)];
        for left in 0..4 {
            let mut busy = Busy { left, polls: 0 };
            let mut outlet = Mirror::default();
            let (moved, _) = settle_one(&mut hosts, &mut busy, 0, &mut outlet);
            assert_eq!(moved, Ok(false));
            assert_eq!(busy.polls, left + 1);
            assert_eq!(outlet.senders.len(), left + 1);
        }
    }

    /// Counts its polls; acts on its host's news alone, and reads none of it.
    struct OnNews {
        polls: usize,
        reader: bool,
    }

    impl Application for OnNews {
        fn poll(&mut self, host: &mut Host) -> Option<Instant> {
            if self.polls == 0 && self.reader {
                let _ = host.news_reader();
            }
            self.polls += 1;
            None
        }

        fn settles_on_news(&self) -> bool {
            true
        }

        fn is_done(&self) -> bool {
            false
        }
    }

    /// A SYN leaves in the first round and cannot arrive within the instant. An
    /// application that acts on news alone, with none unread, ends the instant there;
    /// one that looks at its host directly, or news left unread, gets the quiet round
    /// that checks.
    #[test]
    fn an_instant_of_applications_on_news_ends_without_a_quiet_round() {
        let rounds = |app: &mut dyn Application| {
            let mut hosts = [Host::for_tests(1), Host::for_tests(2)];
            hosts[1].listen(80);
            hosts[0]
                .connect(Ipv4Address::new(192, 0, 2, 2), 80)
                .expect("connect");
            let mut outlet = Mirror {
                hold: true,
                ..Mirror::default()
            };
            let (moved, _) = settle_one(&mut hosts, app, 0, &mut outlet);
            assert_eq!(moved, Ok(true));
            outlet.senders
        };
        let mut on_news = OnNews {
            polls: 0,
            reader: false,
        };
        assert_eq!(rounds(&mut on_news), [vec![0]]);
        assert_eq!(on_news.polls, 1);
        // Its reader has the new connection unread.
        let mut unread = OnNews {
            polls: 0,
            reader: true,
        };
        assert_eq!(rounds(&mut unread), [vec![0], vec![]]);
        assert_eq!(unread.polls, 2);
        let mut waiter = Waiter {
            at: Instant::from_millis(7),
            polls: 0,
        };
        assert_eq!(rounds(&mut waiter), [vec![0], vec![]]);
        assert_eq!(waiter.polls, 2);
    }

    /// A deadline already passed is due now in real time, and at the next microsecond
    /// in the simulator; the earliest of all counts, whatever its kind.
    #[test]
    fn overdue_deadlines() {
        let deadlines = AppDeadlines(vec![None, Some(Instant::from_micros(5))]);
        let now_ns = 7_500;
        let next = |overdue, others: &[u64]| {
            next_deadline_ns(&mut [], &deadlines, overdue, others.iter().copied())
        };
        assert_eq!(next(Overdue::Now, &[]), Some(5_000));
        assert_eq!(next(Overdue::NextMicrosecond { now_ns }, &[]), Some(8_000));
        assert_eq!(
            next(Overdue::NextMicrosecond { now_ns }, &[7_600]),
            Some(7_600)
        );
        assert_eq!(
            next_deadline_ns(&mut [], &AppDeadlines::new(2), Overdue::Now, []),
            None
        );
    }
}
