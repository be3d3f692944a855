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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::Ipv4Address;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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
    /// re-ACKed FIN.
    pub expires: Instant,
    /// Our SND.NXT after our FIN: the sequence number of the re-ACK.
    pub snd_nxt: u32,
    /// Our RCV.NXT: the peer's FIN sequence number + 1, the re-ACK's ACK field.
    pub rcv_nxt: u32,
    /// How many retransmitted FINs were acknowledged again.
    pub fin_reacks: u32,
    /// How many other segments for the tuple were silently dropped.
    pub dropped_segments: u32,
}

/// What to do with a segment that arrived for a 4-tuple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Verdict {
    /// A retransmitted FIN: answer with a bare ACK carrying this sequence and
    /// acknowledgment number. RFC 9293 §3.10.7.4 (TIME-WAIT): "The only thing
    /// that can arrive in this state is a retransmission of the remote FIN.
    /// Acknowledge it, and restart the 2 MSL timeout." The timer has been
    /// restarted.
    ReAckFin {
        /// SEQ of the ACK: our SND.NXT.
        seq: u32,
        /// ACK of the ACK: the peer's FIN + 1.
        ack: u32,
    },
    /// Any other segment for a held tuple (data, bare ACK, RST, SYN): dropped
    /// without an answer and without restarting the timer.
    ///
    /// A deliberate lab simplification. Linux (`tcp_timewait_state_process`,
    /// `net/ipv4/tcp_minisocks.c`) instead: answers out-of-window segments
    /// with a (rate-limited) duplicate ACK; accepts an in-window bare ACK and
    /// restarts the timer; lets an in-window RST end TIME-WAIT early unless
    /// `net.ipv4.tcp_rfc1337=1` (RFC 1337 "TIME-WAIT assassination"); and may
    /// accept a new SYN with a higher sequence number or timestamp to reuse
    /// the tuple (RFC 6191). Linux does not answer with RST from TIME-WAIT.
    Drop,
    /// The tuple is not in TIME-WAIT (never held, or its 2MSL has passed):
    /// process the segment normally.
    NotHeld,
}

/// The table of 4-tuples in TIME-WAIT, ordered by expiry.
///
/// Why a table instead of smoltcp sockets: a freed socket slot and an
/// `expire` that only looks at the entries that are due (O(log n) each)
/// instead of a scan of every socket per poll. Lookups by tuple are O(log n);
/// iteration order is deterministic (`BTreeMap`/`BTreeSet`, no hashing).
#[derive(Clone, Debug)]
pub struct TimeWaitTable {
    two_msl: Duration,
    entries: BTreeMap<FourTuple, HeldTuple>,
    by_expiry: BTreeSet<(Instant, FourTuple)>,
}

impl TimeWaitTable {
    /// A table that holds each closed tuple for `two_msl` (2*MSL, RFC 9293
    /// §3.3.2; see [`RFC9293_TWO_MSL`] and [`LINUX_TWO_MSL`]). Zero disables
    /// TIME-WAIT, which the lab uses to show what it protects against.
    pub fn new(two_msl: Duration) -> Self {
        TimeWaitTable {
            two_msl,
            entries: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
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
                fin_reacks: 0,
                dropped_segments: 0,
            },
        );
        self.by_expiry.insert((expires, tuple));
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

    /// Classifies a segment that arrived for `tuple` (RFC 9293 §3.10.7.4,
    /// TIME-WAIT). With `fin` set it is taken to be a retransmission of the
    /// peer's FIN (its sequence number is not checked): the answer is
    /// [`Verdict::ReAckFin`] and the 2MSL timer restarts from `now`. Anything
    /// else for a held tuple is [`Verdict::Drop`]ped (see there for how Linux
    /// differs). An unheld or already expired tuple gives
    /// [`Verdict::NotHeld`]; an expired entry stays for [`Self::expire`] to
    /// report.
    pub fn on_segment(&mut self, tuple: &FourTuple, fin: bool, now: Instant) -> Verdict {
        if !self.is_held(tuple, now) {
            return Verdict::NotHeld;
        }
        let new_expiry = add(now, self.two_msl);
        let Some(entry) = self.entries.get_mut(tuple) else {
            return Verdict::NotHeld;
        };
        if !fin {
            entry.dropped_segments = entry.dropped_segments.saturating_add(1);
            return Verdict::Drop;
        }
        entry.fin_reacks = entry.fin_reacks.saturating_add(1);
        let old_expiry = entry.expires;
        // `max`: a clock that steps backwards must not shorten the hold.
        entry.expires = old_expiry.max(new_expiry);
        let verdict = Verdict::ReAckFin {
            seq: entry.snd_nxt,
            ack: entry.rcv_nxt,
        };
        let expires = entry.expires;
        self.by_expiry.remove(&(old_expiry, *tuple));
        self.by_expiry.insert((expires, *tuple));
        verdict
    }

    /// Removes and returns every entry whose `expires <= now`, earliest first
    /// (ties by tuple order), so the caller can record the time each tuple
    /// spent in TIME-WAIT (`expires - since`). Costs O(log n) per removed
    /// entry; entries not yet due are not looked at.
    pub fn expire(&mut self, now: Instant) -> Vec<HeldTuple> {
        let mut out = Vec::new();
        while let Some(&(expires, tuple)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.by_expiry.pop_first();
            if let Some(entry) = self.entries.remove(&tuple) {
                out.push(entry);
            }
        }
        out
    }

    /// When the next entry expires, so the caller's poll loop knows how long
    /// it may sleep (like smoltcp's `poll_delay`).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|&(at, _)| at)
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
    /// before the caller's `now` means a port is already free. Walks entries
    /// in expiry order and stops at the first match: O(n) in the worst case,
    /// meant for the exhaustion path only.
    pub fn earliest_expiry_toward(
        &self,
        local_addr: Ipv4Address,
        remote_addr: Ipv4Address,
        remote_port: u16,
    ) -> Option<Instant> {
        self.by_expiry
            .iter()
            .find(|(_, t)| {
                t.local_addr == local_addr
                    && t.remote_addr == remote_addr
                    && t.remote_port == remote_port
            })
            .map(|&(at, _)| at)
    }

    fn remove(&mut self, tuple: &FourTuple) {
        if let Some(old) = self.entries.remove(tuple) {
            self.by_expiry.remove(&(old.expires, *tuple));
        }
    }
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

    #[test]
    fn retransmitted_fin_is_reacked_and_restarts_the_timer() {
        let mut tw = TimeWaitTable::new(MSL2);
        let t = tuple(40000);
        tw.hold(t, 1001, 5001, s(0)); // expires 60 s
                                      // t=30 s: our last ACK was lost, the peer retransmits its FIN.
                                      // Answer SEQ=snd_nxt=1001, ACK=rcv_nxt=5001; expiry = 30 + 60 = 90 s.
        assert_eq!(
            tw.on_segment(&t, true, s(30)),
            Verdict::ReAckFin {
                seq: 1001,
                ack: 5001
            }
        );
        assert_eq!(tw.next_expiry(), Some(s(90)));
        assert!(tw.is_held(&t, s(60)));
        assert!(tw.expire(s(89)).is_empty());
        let gone = tw.expire(s(90));
        assert_eq!(gone[0].since, s(0)); // since is not moved by the restart
        assert_eq!(gone[0].fin_reacks, 1);
    }

    #[test]
    fn other_segments_are_dropped_without_restarting_the_timer() {
        let mut tw = TimeWaitTable::new(MSL2);
        let t = tuple(40000);
        tw.hold(t, 1001, 5001, s(0));
        assert_eq!(tw.on_segment(&t, false, s(10)), Verdict::Drop);
        assert_eq!(tw.on_segment(&t, false, s(20)), Verdict::Drop);
        assert_eq!(tw.next_expiry(), Some(s(60)));
        assert_eq!(tw.get(&t).unwrap().dropped_segments, 2);
        assert_eq!(tw.get(&t).unwrap().fin_reacks, 0);
        // Another tuple, or ours after expiry: not held.
        assert_eq!(tw.on_segment(&tuple(1), true, s(10)), Verdict::NotHeld);
        assert_eq!(tw.on_segment(&t, true, s(60)), Verdict::NotHeld);
        // The late FIN did not revive it: expire still reports it, counters intact.
        let gone = tw.expire(s(60));
        assert_eq!(gone[0].dropped_segments, 2);
        assert_eq!(gone[0].fin_reacks, 0);
    }

    #[test]
    fn zero_two_msl_holds_nothing() {
        let mut tw = TimeWaitTable::new(Duration::ZERO);
        tw.hold(tuple(40000), 1, 1, s(0));
        assert!(tw.is_empty());
        assert!(!tw.is_held(&tuple(40000), s(0)));
        assert_eq!(tw.on_segment(&tuple(40000), true, s(0)), Verdict::NotHeld);
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
        tw.on_segment(&tuple(7), false, s(1));
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
            tw.on_segment(&tuple(1), true, end),
            Verdict::NotHeld // now == expires: free
        );
        // i64::MIN + 2^63-1 µs = -1 µs: already due at 0.
        tw.hold(tuple(2), 0, 0, Instant::from_micros(i64::MIN));
        assert_eq!(tw.on_segment(&tuple(2), true, s(0)), Verdict::NotHeld);
        // Held at 0 until the end of time; a FIN re-ACK saturates again.
        tw.hold(tuple(4), 7, 9, s(0));
        assert_eq!(
            tw.on_segment(&tuple(4), true, s(1)),
            Verdict::ReAckFin { seq: 7, ack: 9 }
        );
        let gone: Vec<u16> = tw.expire(s(0)).iter().map(|h| h.tuple.local_port).collect();
        assert_eq!(gone, vec![2]);
        // A clock stepping backwards does not shorten the hold.
        let mut tw = TimeWaitTable::new(MSL2);
        tw.hold(tuple(3), 0, 0, s(100)); // 160
        tw.on_segment(&tuple(3), true, s(50)); // would be 110: keeps 160
        assert_eq!(tw.next_expiry(), Some(s(160)));
        assert_eq!(tw.len(), 1);
    }

    #[test]
    fn four_tuple_displays_both_endpoints() {
        assert_eq!(tuple(40000).to_string(), "10.0.0.1:40000 -> 10.0.0.2:80");
    }
}
