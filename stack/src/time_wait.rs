//! TIME-WAIT kept outside smoltcp.
//!
//! The side that closes first must hold the connection's 4-tuple for 2*MSL
//! after the close (RFC 9293 §3.3.2 state TIME-WAIT, §3.6 "Closing a
//! Connection"), so that delayed segments of the old connection cannot be
//! taken for a new one with the same tuple, and so that a lost final ACK can
//! be repeated when the peer retransmits its FIN. smoltcp 0.14's own
//! TIME-WAIT lasts a fixed 10 s and keeps a whole socket alive, which costs a
//! socket scan on every poll; the lab instead removes the smoltcp socket and
//! remembers only the tuple and two sequence numbers here. Pure logic: the
//! time is always a parameter and nothing panics.

use std::fmt;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv4Address;

use crate::id_hash::TupleHashMap;
use crate::segment::seq_gt;
use crate::stale_heap::StaleHeap;

/// 2*MSL with RFC 9293's MSL of 2 minutes (§3.4.2 "Knowing When to Keep
/// Quiet"): 240 s, the textbook value.
pub const RFC9293_TWO_MSL: Duration = Duration::from_secs(240);

/// Linux's TIME-WAIT length, fixed at 60 s (`TCP_TIMEWAIT_LEN` in
/// `include/net/tcp.h`; there is no sysctl for it).
pub const LINUX_TWO_MSL: Duration = Duration::from_secs(60);

/// A connection's identity seen from our side, the key of the TIME-WAIT table
/// (RFC 9293 §3.3.1: a connection is named by its pair of sockets).
///
/// Ordered field by field, so tables keyed by it iterate deterministically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct FourTuple {
    /// Our IPv4 address.
    pub local_addr: Ipv4Address,
    /// Our port (the ephemeral port, for an active opener).
    pub local_port: u16,
    /// The peer's IPv4 address.
    pub remote_addr: Ipv4Address,
    /// The peer's port.
    pub remote_port: u16,
}

impl std::hash::Hash for FourTuple {
    /// All four fields as one 128-bit word: the tables keyed by tuples keep their
    /// keyed hasher (a peer picks its address and port), which then takes one write
    /// instead of four (two lookups per segment).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(
            u128::from(self.local_addr.to_bits()) << 64
                | u128::from(self.remote_addr.to_bits()) << 32
                | u128::from(self.local_port) << 16
                | u128::from(self.remote_port),
        );
    }
}

impl fmt::Display for FourTuple {
    /// `local:port -> remote:port`, for logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{}",
            self.local_addr, self.local_port, self.remote_addr, self.remote_port
        )
    }
}

/// Linux answers at most one out-of-window segment per socket in this time
/// (`tcp_invalid_ratelimit`, 500 ms), whether from TIME-WAIT or with a challenge
/// ACK (RFC 5961 §7), so forged segments cannot make a host an ACK amplifier.
pub const OUT_OF_WINDOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// One tuple in TIME-WAIT: what RFC 9293 §3.10.7.4 still needs from the TCB
/// (the sequence numbers to re-ACK a retransmitted FIN) plus counters the lab
/// reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldTuple {
    /// The connection that was closed.
    pub tuple: FourTuple,
    /// When TIME-WAIT was entered (first `hold`), for "time in TIME_WAIT".
    pub since: Instant,
    /// When the tuple becomes free: `since + 2MSL`, pushed back by each
    /// acknowledged segment that carried an ACK (a retransmitted FIN).
    pub expires: Instant,
    /// Our SND.NXT after our FIN: the sequence number of the re-ACK.
    pub snd_nxt: u32,
    /// Our RCV.NXT: the peer's FIN sequence number + 1, the re-ACK's ACK field.
    pub rcv_nxt: u32,
    /// How many segments were answered with the TIME-WAIT ACK.
    pub acks: u32,
    /// How many other segments for the tuple were discarded.
    pub dropped_segments: u32,
    /// When the latest rate-limited ACK left.
    last_ack_at: Option<Instant>,
}

/// What the TIME-WAIT rules need to know of an arriving segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrival {
    /// Its sequence number.
    pub seq: u32,
    /// Sequence space it occupies: payload, plus one each for SYN and FIN.
    pub len: u32,
    /// SYN set.
    pub syn: bool,
    /// ACK set.
    pub ack: bool,
    /// RST set.
    pub rst: bool,
}

impl From<&crate::segment::Segment> for Arrival {
    fn from(seg: &crate::segment::Segment) -> Arrival {
        Arrival {
            seq: seg.seq,
            len: seg.seq_len(),
            syn: seg.syn,
            ack: seg.ack.is_some(),
            rst: seg.rst,
        }
    }
}

/// What to do with a segment that arrived for a 4-tuple: Linux's rules for a
/// TIME-WAIT socket (`tcp_timewait_state_process`, with the default
/// `tcp_rfc1337 = 0`), which refine RFC 9293 §3.10.7.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// Answer with a bare ACK carrying this sequence and acknowledgment number:
    /// the segment is outside the window (a retransmitted FIN whose ACK was
    /// lost, old data, a SYN that may be an old duplicate). RFC 9293: "The only
    /// thing that can arrive in this state is a retransmission of the remote FIN.
    /// Acknowledge it, and restart the 2 MSL timeout." The timer restarts when
    /// the segment carried an ACK.
    Ack {
        /// SEQ of the ACK: our SND.NXT.
        seq: u32,
        /// ACK of the ACK: the peer's FIN + 1.
        ack: u32,
    },
    /// A SYN without ACK whose sequence number is beyond the old connection's
    /// (RFC 1122 §4.2.2.13, RFC 6191): it cannot be an old duplicate, so the
    /// tuple leaves TIME-WAIT and the SYN goes to the listener as a new
    /// connection. A client that reuses its port (RFC 6056) gets through at
    /// once instead of waiting out the 2MSL.
    Reopen,
    /// An RST at exactly RCV.NXT ends TIME-WAIT early ("TIME-WAIT
    /// assassination", RFC 1337; Linux allows it unless `tcp_rfc1337` is set):
    /// the tuple is free and the RST is consumed.
    Kill,
    /// Discard silently: an in-window bare ACK (the timer restarts), an
    /// out-of-window RST, or an ACK suppressed by the rate limit.
    Drop,
    /// The tuple is not in TIME-WAIT (never held, or its 2MSL has passed):
    /// process the segment normally.
    NotHeld,
}

/// The table of 4-tuples in TIME-WAIT, ordered by expiry.
///
/// Why a table instead of smoltcp sockets: a freed socket slot and an
/// `expire` that only looks at the entries that are due (O(log n) each)
/// instead of a scan of every socket per poll. A lookup by tuple, which every
/// segment for no live connection makes, is a hash lookup: O(1) with a million
/// tuples held (a busy server's TIME_WAIT at 2MSL = 120 s). Whatever goes in an
/// order (expiry) goes by the expiry heap, so runs stay deterministic; the one walk
/// over the hash map takes a minimum, which no order changes.
///
/// The expiry index is a min-heap of (expiry, tuple) ([`StaleHeap`]), which pops in
/// the order an ordered set would, entries of a tuple that has left or whose expiry
/// moved skipped as they surface. Every entry goes in about 2MSL after the ones
/// before it, so a push rarely moves past the heap's last level: cheaper than an
/// ordered set's insertion and its node allocations, with ten thousands of tuples
/// entering TIME-WAIT at once.
#[derive(Clone, Debug)]
pub struct TimeWaitTable {
    two_msl: Duration,
    entries: TupleHashMap<FourTuple, HeldTuple>,
    /// (expiry, tuple) for every held tuple; and, until they surface, stale pairs
    /// whose tuple has left or expires at another time. The top is always current
    /// ([`Self::drop_stale_top`]), so [`Self::next_expiry`] is a peek.
    by_expiry: StaleHeap<(Instant, FourTuple)>,
    ended: Vec<HeldTuple>,
}

impl TimeWaitTable {
    /// A table that holds each closed tuple for `two_msl` (2*MSL, RFC 9293
    /// §3.3.2; see [`RFC9293_TWO_MSL`] and [`LINUX_TWO_MSL`]). Zero disables
    /// TIME-WAIT, which the lab uses to show what it protects against.
    pub fn new(two_msl: Duration) -> Self {
        TimeWaitTable {
            two_msl,
            entries: TupleHashMap::default(),
            by_expiry: StaleHeap::default(),
            ended: Vec::new(),
        }
    }

    /// The configured 2*MSL.
    pub fn two_msl(&self) -> Duration {
        self.two_msl
    }

    /// Enters TIME-WAIT for `tuple` at `now` (we sent our FIN and acknowledged
    /// the peer's, RFC 9293 §3.6). `snd_nxt` is our next sequence number after
    /// our FIN, `rcv_nxt` the peer's FIN + 1. With `two_msl` zero nothing is
    /// held. Holding a tuple that is already held replaces the old entry (a
    /// new incarnation closed again); its counters start from zero.
    pub fn hold(&mut self, tuple: FourTuple, snd_nxt: u32, rcv_nxt: u32, now: Instant) {
        if self.two_msl == Duration::ZERO {
            return;
        }
        self.remove(&tuple);
        let expires = add(now, self.two_msl);
        self.entries.insert(
            tuple,
            HeldTuple {
                tuple,
                since: now,
                expires,
                snd_nxt,
                rcv_nxt,
                acks: 0,
                dropped_segments: 0,
                last_ack_at: None,
            },
        );
        self.push_expiry(expires, tuple);
    }

    /// Whether `tuple` is in TIME-WAIT at `now`: held and `now < expires`.
    /// An entry whose time has come counts as free even before
    /// [`Self::expire`] removes it.
    pub fn is_held(&self, tuple: &FourTuple, now: Instant) -> bool {
        self.entries.get(tuple).is_some_and(|h| now < h.expires)
    }

    /// The entry for `tuple`, expired or not, for inspection.
    pub fn get(&self, tuple: &FourTuple) -> Option<&HeldTuple> {
        self.entries.get(tuple)
    }

    /// Classifies a segment that arrived for `tuple` (see [`Verdict`]). An
    /// unheld or already expired tuple gives [`Verdict::NotHeld`]; an expired
    /// entry stays for [`Self::expire`] to report. [`Verdict::Reopen`] and
    /// [`Verdict::Kill`] remove the entry (its `expires` becomes `now`) and
    /// return it through [`Self::take_ended`].
    pub fn on_segment(&mut self, tuple: &FourTuple, seg: Arrival, now: Instant) -> Verdict {
        if !self.is_held(tuple, now) {
            return Verdict::NotHeld;
        }
        let restarted = add(now, self.two_msl);
        let Some(entry) = self.entries.get_mut(tuple) else {
            return Verdict::NotHeld;
        };
        let old_expiry = entry.expires;
        let in_window = seg.seq == entry.rcv_nxt && (seg.len == 0 || seg.rst);
        let verdict = if in_window {
            if seg.rst {
                Verdict::Kill
            } else {
                // A bare ACK: nothing to answer, but the peer is still there.
                entry.expires = entry.expires.max(restarted);
                Verdict::Drop
            }
        } else if seg.syn && !seg.ack && !seg.rst && seq_gt(seg.seq, entry.rcv_nxt) {
            Verdict::Reopen
        } else if seg.rst {
            Verdict::Drop
        } else {
            if seg.ack {
                // `max`: a clock that steps backwards must not shorten the hold.
                entry.expires = entry.expires.max(restarted);
            }
            // Data and FINs are never rate-limited: they cannot be part of an ACK
            // loop (Linux `tcp_oow_rate_limited`).
            let limited = (seg.len == 0 || seg.syn)
                && entry
                    .last_ack_at
                    .is_some_and(|at| now - at < OUT_OF_WINDOW_ACK_INTERVAL);
            if limited {
                Verdict::Drop
            } else {
                if seg.len == 0 || seg.syn {
                    entry.last_ack_at = Some(now);
                }
                Verdict::Ack {
                    seq: entry.snd_nxt,
                    ack: entry.rcv_nxt,
                }
            }
        };
        match verdict {
            Verdict::Ack { .. } => entry.acks = entry.acks.saturating_add(1),
            Verdict::Drop => entry.dropped_segments = entry.dropped_segments.saturating_add(1),
            _ => {}
        }
        let expires = entry.expires;
        if matches!(verdict, Verdict::Kill | Verdict::Reopen) {
            entry.expires = now;
            let ended = *entry;
            self.entries.remove(tuple);
            self.ended.push(ended);
            self.drop_stale_top();
        } else if expires != old_expiry {
            self.push_expiry(expires, *tuple);
            self.drop_stale_top();
        }
        verdict
    }

    /// Entries that [`Verdict::Reopen`] or [`Verdict::Kill`] ended before
    /// their time, oldest first, for the caller's records.
    pub fn take_ended(&mut self) -> Vec<HeldTuple> {
        std::mem::take(&mut self.ended)
    }

    /// Removes and returns every entry whose `expires <= now`, earliest first
    /// (ties by tuple order), so the caller can record the time each tuple
    /// spent in TIME-WAIT (`expires - since`). Costs O(log n) per removed
    /// entry; entries not yet due are not looked at.
    pub fn expire(&mut self, now: Instant) -> Vec<HeldTuple> {
        let mut out = Vec::new();
        while let Some(&(expires, tuple)) = self.by_expiry.peek() {
            if expires > now {
                break;
            }
            self.by_expiry.pop();
            if is_current(&self.entries, &(expires, tuple)) {
                out.extend(self.entries.remove(&tuple));
            }
        }
        self.drop_stale_top();
        out
    }

    /// When the next entry expires, so the caller's poll loop knows how long
    /// it may sleep (like smoltcp's `poll_delay`).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.peek().map(|&(at, _)| at)
    }

    /// Number of entries, including expired ones not yet removed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no tuple is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest expiry among entries with this local address and remote
    /// endpoint, whatever their local port. Why: when every ephemeral port
    /// toward a peer is taken, this says when one frees up (Linux reports
    /// `EADDRNOTAVAIL` and leaves the waiting to the user). An expiry at or
    /// before the caller's `now` means a port is already free. Looks at every
    /// entry: O(n), meant for the exhaustion path only.
    pub fn earliest_expiry_toward(
        &self,
        local_addr: Ipv4Address,
        remote_addr: Ipv4Address,
        remote_port: u16,
    ) -> Option<Instant> {
        self.entries
            .values()
            .filter(|h| {
                let t = &h.tuple;
                t.local_addr == local_addr
                    && t.remote_addr == remote_addr
                    && t.remote_port == remote_port
            })
            .map(|h| h.expires)
            .min()
    }

    fn remove(&mut self, tuple: &FourTuple) {
        if self.entries.remove(tuple).is_some() {
            self.drop_stale_top();
        }
    }

    /// Index `tuple` under `expires`, the heap kept within its bound (a peer that
    /// keeps sending in-window ACKs moves its tuple's expiry at each one).
    fn push_expiry(&mut self, expires: Instant, tuple: FourTuple) {
        self.by_expiry.push((expires, tuple));
        let entries = &self.entries;
        self.by_expiry
            .bound(entries.len(), |entry| is_current(entries, entry));
    }

    /// Pop stale pairs off the top, so that the top is a held tuple's expiry.
    fn drop_stale_top(&mut self) {
        let entries = &self.entries;
        self.by_expiry
            .drop_stale_top(|entry| is_current(entries, entry));
    }
}

/// Whether `(expires, tuple)` from the expiry heap is the tuple's current expiry.
fn is_current(
    entries: &TupleHashMap<FourTuple, HeldTuple>,
    &(expires, tuple): &(Instant, FourTuple),
) -> bool {
    entries.get(&tuple).is_some_and(|h| h.expires == expires)
}

/// `at + d`, saturating at the end of time (smoltcp's `Instant + Duration`
/// overflows on large values).
fn add(at: Instant, d: Duration) -> Instant {
    let d = i64::try_from(d.total_micros()).unwrap_or(i64::MAX);
    Instant::from_micros(at.total_micros().saturating_add(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSL2: Duration = Duration::from_secs(60);

    fn s(t: i64) -> Instant {
        Instant::from_secs(t)
    }

    fn tuple(local_port: u16) -> FourTuple {
        FourTuple {
            local_addr: Ipv4Address::new(10, 0, 0, 1),
            local_port,
            remote_addr: Ipv4Address::new(10, 0, 0, 2),
            remote_port: 80,
        }
    }

    #[test]
    fn held_for_exactly_two_msl() {
        let mut tw = TimeWaitTable::new(MSL2);
        // t=10 s: we closed first; our FIN was seq 1000 (snd_nxt 1001), theirs 5000.
        tw.hold(tuple(40000), 1001, 5001, s(10));
        assert_eq!(tw.len(), 1);
        // expires = 10 + 60 = 70 s.
        assert_eq!(tw.next_expiry(), Some(s(70)));
        assert!(tw.is_held(&tuple(40000), s(10)));
        assert!(tw.is_held(&tuple(40000), Instant::from_micros(70_000_000 - 1)));
        assert!(!tw.is_held(&tuple(40000), s(70)));
        assert!(!tw.is_held(&tuple(40001), s(10)));
        // Nothing due at 69.999999 s; due at 70 s.
        assert!(tw.expire(Instant::from_micros(70_000_000 - 1)).is_empty());
        let gone = tw.expire(s(70));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].since, s(10));
        assert_eq!(gone[0].expires, s(70));
        assert!(tw.is_empty());
        assert_eq!(tw.next_expiry(), None);
    }

    /// The peer's retransmitted FIN: seq = its FIN's, one below RCV.NXT.
    fn fin(rcv_nxt: u32) -> Arrival {
        Arrival {
            seq: rcv_nxt.wrapping_sub(1),
            len: 1,
            ack: true,
            ..Arrival::default()
        }
    }

    fn syn(seq: u32) -> Arrival {
        Arrival {
            seq,
            len: 1,
            syn: true,
            ..Arrival::default()
        }
    }

    #[test]
    fn retransmitted_fin_is_reacked_and_restarts_the_timer() {
        let mut tw = TimeWaitTable::new(MSL2);
        let t = tuple(40000);
        tw.hold(t, 1001, 5001, s(0)); // expires 60 s
                                      // t=30 s: our last ACK was lost, the peer retransmits its FIN.
                                      // Answer SEQ=snd_nxt=1001, ACK=rcv_nxt=5001; expiry = 30 + 60 = 90 s.
        assert_eq!(
            tw.on_segment(&t, fin(5001), s(30)),
            Verdict::Ack {
                seq: 1001,
                ack: 5001
            }
        );
        assert_eq!(tw.next_expiry(), Some(s(90)));
        assert!(tw.is_held(&t, s(60)));
        assert!(tw.expire(s(89)).is_empty());
        let gone = tw.expire(s(90));
        assert_eq!(gone[0].since, s(0)); // since is not moved by the restart
        assert_eq!(gone[0].acks, 1);
    }

    #[test]
    fn in_window_ack_restarts_and_out_of_window_rst_is_dropped() {
        let mut tw = TimeWaitTable::new(MSL2);
        let t = tuple(40000);
        tw.hold(t, 1001, 5001, s(0));
        let ack = Arrival {
            seq: 5001,
            ack: true,
            ..Arrival::default()
        };
        assert_eq!(tw.on_segment(&t, ack, s(10)), Verdict::Drop);
        assert_eq!(tw.next_expiry(), Some(s(70)));
        let rst = Arrival {
            seq: 4000,
            rst: true,
            ..Arrival::default()
        };
        assert_eq!(tw.on_segment(&t, rst, s(20)), Verdict::Drop);
        assert_eq!(tw.next_expiry(), Some(s(70)));
        assert_eq!(tw.get(&t).unwrap().dropped_segments, 2);
        assert_eq!(tw.get(&t).unwrap().acks, 0);
        // Another tuple, or ours after expiry: not held.
        assert_eq!(tw.on_segment(&tuple(1), fin(5001), s(10)), Verdict::NotHeld);
        assert_eq!(tw.on_segment(&t, fin(5001), s(70)), Verdict::NotHeld);
        // The late FIN did not revive it: expire still reports it, counters intact.
        let gone = tw.expire(s(70));
        assert_eq!(gone[0].dropped_segments, 2);
    }

    /// A peer that keeps acknowledging in the window moves its tuple's expiry at
    /// every ACK: the expiry index skips the old ones and stays bounded, and the
    /// tuples still expire in the order of their current expiries.
    #[test]
    fn expiries_moved_by_many_acks_keep_their_order_and_a_bounded_index() {
        let mut tw = TimeWaitTable::new(MSL2);
        let (a, b) = (tuple(40000), tuple(40001));
        tw.hold(a, 1001, 5001, s(0));
        tw.hold(b, 1001, 5001, s(1));
        let ack = Arrival {
            seq: 5001,
            ack: true,
            ..Arrival::default()
        };
        for ms in 1..=10_000 {
            assert_eq!(
                tw.on_segment(&a, ack, Instant::from_millis(ms)),
                Verdict::Drop
            );
            assert!(tw.by_expiry.len() <= 2 * tw.len() + crate::stale_heap::SLACK);
        }
        // a now expires at 10 s + 60 s, after b (1 s + 60 s).
        assert_eq!(tw.next_expiry(), Some(s(61)));
        let gone = tw.expire(s(69));
        assert_eq!(gone.iter().map(|h| h.tuple).collect::<Vec<_>>(), [b]);
        assert_eq!(tw.next_expiry(), Some(s(70)));
        assert_eq!(
            tw.earliest_expiry_toward(a.local_addr, a.remote_addr, 80),
            Some(s(70))
        );
        let gone = tw.expire(s(70));
        assert_eq!(gone.iter().map(|h| h.tuple).collect::<Vec<_>>(), [a]);
        assert_eq!(tw.next_expiry(), None);
        assert!(tw.by_expiry.is_empty() && tw.is_empty());
    }

    /// Tuples that expire at the same instant leave in tuple order, however they
    /// came in.
    #[test]
    fn ties_expire_in_tuple_order() {
        let mut tw = TimeWaitTable::new(MSL2);
        for port in [40003, 40001, 40002] {
            tw.hold(tuple(port), 1001, 5001, s(0));
        }
        let gone = tw.expire(s(60));
        let ports: Vec<u16> = gone.iter().map(|h| h.tuple.local_port).collect();
        assert_eq!(ports, [40001, 40002, 40003]);
    }

    #[test]
    fn a_syn_beyond_the_old_sequence_space_reopens_the_tuple() {
        let mut tw = TimeWaitTable::new(MSL2);
        let t = tuple(40000);
        tw.hold(t, 1001, 5001, s(0));
        // An old duplicate (at or below RCV.NXT): the TIME-WAIT ACK, timer untouched.
        assert_eq!(
            tw.on_segment(&t, syn(5001), s(1)),
            Verdict::Ack {
                seq: 1001,
                ack: 5001
            }
        );
        assert_eq!(tw.next_expiry(), Some(s(60)));
        // Within 500 ms of that ACK, another one is suppressed.
        assert_eq!(tw.on_segment(&t, syn(4000), s(1)), Verdict::Drop);
        // Beyond it: a new connection; the entry ends now.
        assert_eq!(tw.on_segment(&t, syn(5002), s(2)), Verdict::Reopen);
        assert!(!tw.is_held(&t, s(2)));
        assert!(tw.is_empty() && tw.next_expiry().is_none());
        let ended = tw.take_ended();
        assert_eq!((ended.len(), ended[0].expires), (1, s(2)));
        assert!(tw.take_ended().is_empty());
    }

    #[test]
    fn an_rst_at_rcv_nxt_ends_time_wait() {
        let mut tw = TimeWaitTable::new(MSL2);
        let t = tuple(40000);
        tw.hold(t, 1001, 5001, s(0));
        let rst = Arrival {
            seq: 5001,
            rst: true,
            ..Arrival::default()
        };
        assert_eq!(tw.on_segment(&t, rst, s(3)), Verdict::Kill);
        assert!(tw.is_empty());
        assert_eq!(tw.take_ended()[0].expires, s(3));
    }

    #[test]
    fn zero_two_msl_holds_nothing() {
        let mut tw = TimeWaitTable::new(Duration::ZERO);
        tw.hold(tuple(40000), 1, 1, s(0));
        assert!(tw.is_empty());
        assert!(!tw.is_held(&tuple(40000), s(0)));
        assert_eq!(tw.on_segment(&tuple(40000), fin(1), s(0)), Verdict::NotHeld);
        assert_eq!(tw.next_expiry(), None);
    }

    #[test]
    fn expire_returns_due_entries_in_expiry_order() {
        let mut tw = TimeWaitTable::new(MSL2);
        tw.hold(tuple(3), 0, 0, s(5)); // expires 65
        tw.hold(tuple(1), 0, 0, s(10)); // expires 70
        tw.hold(tuple(2), 0, 0, s(5)); // expires 65 (ties ordered by tuple: 2 before 3)
        tw.hold(tuple(4), 0, 0, s(20)); // expires 80
        assert_eq!(tw.next_expiry(), Some(s(65)));
        let ports: Vec<u16> = tw
            .expire(s(70))
            .iter()
            .map(|h| h.tuple.local_port)
            .collect();
        assert_eq!(ports, vec![2, 3, 1]);
        assert_eq!(tw.len(), 1);
        assert_eq!(tw.next_expiry(), Some(s(80)));
    }

    #[test]
    fn holding_again_replaces_the_entry() {
        let mut tw = TimeWaitTable::new(MSL2);
        tw.hold(tuple(7), 1, 1, s(0));
        tw.on_segment(&tuple(7), syn(0), s(1));
        tw.hold(tuple(7), 2, 2, s(30)); // expires 90, old 60 entry gone
        assert_eq!(tw.len(), 1);
        assert_eq!(tw.next_expiry(), Some(s(90)));
        assert!(tw.expire(s(60)).is_empty());
        let h = *tw.get(&tuple(7)).unwrap();
        assert_eq!((h.since, h.snd_nxt, h.dropped_segments), (s(30), 2, 0));
    }

    #[test]
    fn earliest_expiry_toward_a_peer() {
        let mut tw = TimeWaitTable::new(MSL2);
        let other_peer = FourTuple {
            remote_port: 443,
            ..tuple(5)
        };
        tw.hold(other_peer, 0, 0, s(0)); // 60 s, but toward :443
        tw.hold(tuple(6), 0, 0, s(20)); // 80 s
        tw.hold(tuple(5), 0, 0, s(10)); // 70 s
        let local = Ipv4Address::new(10, 0, 0, 1);
        let remote = Ipv4Address::new(10, 0, 0, 2);
        assert_eq!(tw.earliest_expiry_toward(local, remote, 80), Some(s(70)));
        assert_eq!(tw.earliest_expiry_toward(local, remote, 443), Some(s(60)));
        assert_eq!(tw.earliest_expiry_toward(local, remote, 22), None);
        assert_eq!(tw.earliest_expiry_toward(remote, local, 80), None);
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let mut tw = TimeWaitTable::new(Duration::MAX);
        let end = Instant::from_micros(i64::MAX);
        tw.hold(tuple(1), u32::MAX, u32::MAX, end);
        assert_eq!(tw.next_expiry(), Some(end)); // saturated
        assert_eq!(
            tw.on_segment(&tuple(1), fin(u32::MAX), end),
            Verdict::NotHeld // now == expires: free
        );
        // i64::MIN + 2^63-1 µs = -1 µs: already due at 0.
        tw.hold(tuple(2), 0, 0, Instant::from_micros(i64::MIN));
        assert_eq!(tw.on_segment(&tuple(2), fin(0), s(0)), Verdict::NotHeld);
        // Held at 0 until the end of time; a FIN re-ACK saturates again.
        tw.hold(tuple(4), 7, 9, s(0));
        assert_eq!(
            tw.on_segment(&tuple(4), fin(9), s(1)),
            Verdict::Ack { seq: 7, ack: 9 }
        );
        let gone: Vec<u16> = tw.expire(s(0)).iter().map(|h| h.tuple.local_port).collect();
        assert_eq!(gone, vec![2]);
        // A clock stepping backwards does not shorten the hold.
        let mut tw = TimeWaitTable::new(MSL2);
        tw.hold(tuple(3), 0, 0, s(100)); // 160
        tw.on_segment(&tuple(3), fin(0), s(50)); // would be 110: keeps 160
        assert_eq!(tw.next_expiry(), Some(s(160)));
        assert_eq!(tw.len(), 1);
    }

    #[test]
    fn four_tuple_displays_both_endpoints() {
        assert_eq!(tuple(40000).to_string(), "10.0.0.1:40000 -> 10.0.0.2:80");
    }
}
