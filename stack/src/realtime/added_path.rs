//! What the process adds to a real-time run's path (`--rtt`, `--loss`), one direction
//! at a time.

use std::collections::VecDeque;

use smoltcp::wire::{EthernetFrame, EthernetProtocol};

use crate::link::{LinkDirection, LinkProfile, LinkStats};

/// One direction of what the process adds to the path: IPv4 frames cross a
/// [`LinkDirection`] (`--rtt`, `--loss`); every other frame (ARP) is due at once and
/// never dropped, since `--rtt` stands for a path beyond the local segment and address
/// resolution happens on the segment. Its statistics count the IPv4 frames only.
#[derive(Debug)]
pub(super) struct AddedPath {
    link: LinkDirection,
    /// Frames that bypass the link, in order, each with when it was offered.
    local: VecDeque<(u64, Vec<u8>)>,
}

impl AddedPath {
    pub(super) fn new(profile: LinkProfile, seed: u64) -> AddedPath {
        AddedPath {
            link: LinkDirection::new(profile, seed),
            local: VecDeque::new(),
        }
    }

    /// Offer an Ethernet frame at `now_ns`.
    pub(super) fn transmit(&mut self, now_ns: u64, frame: Vec<u8>) {
        if is_ipv4(&frame) {
            self.link.transmit(now_ns, frame);
        } else {
            self.local.push_back((now_ns, frame));
        }
    }

    /// When the next frame is due.
    pub(super) fn next_arrival_ns(&self) -> Option<u64> {
        let local = self.local.front().map(|(t, _)| *t);
        match (local, self.link.next_arrival_ns()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The frame due earliest by `now_ns`, if any, one per call.
    pub(super) fn pop_arrived(&mut self, now_ns: u64) -> Option<Vec<u8>> {
        let local_due = self.local.front().map(|(t, _)| *t);
        match (local_due, self.link.next_arrival_ns()) {
            (Some(l), link) if l <= now_ns && link.is_none_or(|t| l <= t) => {
                self.local.pop_front().map(|(_, frame)| frame)
            }
            _ => self.link.pop_arrived(now_ns),
        }
    }

    /// The link's counters (IPv4 frames).
    pub(super) fn stats(&self) -> &LinkStats {
        self.link.stats()
    }
}

/// Whether an Ethernet frame carries IPv4.
fn is_ipv4(frame: &[u8]) -> bool {
    EthernetFrame::new_checked(frame).is_ok_and(|f| f.ethertype() == EthernetProtocol::Ipv4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::transparent;

    /// The added path delays and drops IPv4 frames only: with certain loss an ARP frame
    /// is still due at once and the IPv4 frame is lost; with 50 ms of one-way delay an
    /// ARP frame offered behind an IPv4 frame leaves first, and the IPv4 frame is due
    /// 50 ms after it was offered, not a nanosecond before.
    #[test]
    fn arp_bypasses_the_added_delay_and_loss() {
        const MS: u64 = 1_000_000;
        let frame = |ethertype: EthernetProtocol, tag: u8| {
            let mut f = vec![tag; 60];
            f[12..14].copy_from_slice(&u16::from(ethertype).to_be_bytes());
            f
        };
        let arp = frame(EthernetProtocol::Arp, 1);
        let ip = frame(EthernetProtocol::Ipv4, 2);
        let added = |loss| LinkProfile {
            one_way_delay_ns: 50 * MS,
            loss,
            ..transparent()
        };

        let mut lossy = AddedPath::new(added(1.0), 1);
        lossy.transmit(0, ip.clone());
        lossy.transmit(0, arp.clone());
        assert_eq!(lossy.next_arrival_ns(), Some(0));
        assert_eq!(lossy.pop_arrived(0), Some(arp.clone()));
        assert_eq!(lossy.pop_arrived(u64::MAX), None);
        assert_eq!(lossy.stats().dropped_loss, 1);

        let mut slow = AddedPath::new(added(0.0), 1);
        slow.transmit(0, ip.clone());
        slow.transmit(MS, arp.clone());
        assert_eq!(slow.next_arrival_ns(), Some(MS));
        assert_eq!(slow.pop_arrived(MS), Some(arp));
        assert_eq!(slow.next_arrival_ns(), Some(50 * MS));
        assert_eq!(slow.pop_arrived(50 * MS - 1), None);
        assert_eq!(slow.pop_arrived(50 * MS), Some(ip));
        assert_eq!(slow.next_arrival_ns(), None);
        assert_eq!(slow.stats().frames_sent, 1);
    }
}
