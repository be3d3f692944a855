//! The Linux kernel's own TCP counters for the calling process's network namespace:
//! what the peer on the kernel's side of a TAP did, seen from the kernel.
//!
//! Over a TAP the lab's host talks to the kernel's TCP (curl, python3's http.server,
//! wrk), and some of what decides a transaction's time happens there, where the lab
//! cannot see it: a listener whose accept queue overflows drops the handshake's last
//! ACK and answers only when its SYN-ACK timer fires; the kernel resends after its own
//! timeouts and tail-loss probes; its delayed-ACK timer holds ACKs. Linux counts all of
//! it (`nstat`, RFC 4022's `Tcp` group in `/proc/net/snmp`, its own `TcpExt` in
//! `/proc/net/netstat`), per network namespace: in the lab's own namespace, those are
//! the peer's figures. Read before and after a run, their difference says what the peer
//! did during it ([`KernelTcp::since`]).

use std::collections::HashMap;
use std::io;

use serde::Serialize;

use crate::host::ListenCounters;

/// The kernel's counters for its TCP, summed over its whole network namespace. Each
/// is a Linux counter, named as `nstat` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KernelTcp {
    /// Segments resent (`TcpRetransSegs`), for any reason.
    pub retrans_segs: u64,
    /// Retransmission timeouts (`TcpExtTCPTimeouts`).
    pub timeouts: u64,
    /// Tail-loss probes (`TcpExtTCPLossProbes`, RFC 8985): the last segment resent
    /// when its ACK is late, before a timeout.
    pub loss_probes: u64,
    /// SYN and SYN-ACK retransmissions (`TcpExtTCPSynRetrans`).
    pub syn_retrans: u64,
    /// ACKs the delayed-ACK timer sent (`TcpExtDelayedACKs`).
    pub delayed_acks: u64,
    /// Resets sent (`TcpOutRsts`).
    pub out_rsts: u64,
    /// What its listeners did beyond their queues: the counters the lab's own hosts
    /// keep under the same names (`ListenOverflows`, `TCPReqQFullDrop`, the SYN
    /// cookie counters).
    pub listen: ListenCounters,
}

/// Where the kernel shows them, for the calling process's network namespace (`/proc/net`
/// is the namespace of whoever reads it; `/proc/self/net` says so explicitly).
const SNMP: &str = "/proc/self/net/snmp";
const NETSTAT: &str = "/proc/self/net/netstat";
/// The namespace's default congestion control: `/proc/sys/net` shows the sysctls of
/// the network namespace of whoever reads it.
const CONGESTION_CONTROL: &str = "/proc/sys/net/ipv4/tcp_congestion_control";

impl KernelTcp {
    /// The counters now.
    pub fn read() -> io::Result<KernelTcp> {
        let mut text = std::fs::read_to_string(SNMP)?;
        text.push_str(&std::fs::read_to_string(NETSTAT)?);
        KernelTcp::parse(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no Tcp and TcpExt counters in {SNMP} and {NETSTAT}"),
            )
        })
    }

    /// The counters in the text of `/proc/net/snmp` and `/proc/net/netstat`: for each
    /// group a line of names (`Tcp: RtoAlgorithm RtoMin ...`) and a line of values.
    /// `None` if a group is missing; a counter an older kernel lacks reads 0.
    pub fn parse(text: &str) -> Option<KernelTcp> {
        let mut values: HashMap<(&str, &str), u64> = HashMap::new();
        let mut groups = 0;
        let mut lines = text.lines();
        while let (Some(names), Some(numbers)) = (lines.next(), lines.next()) {
            let (Some((group, names)), Some((again, numbers))) =
                (names.split_once(':'), numbers.split_once(':'))
            else {
                return None;
            };
            if group != again {
                return None;
            }
            if group == "Tcp" || group == "TcpExt" {
                groups += 1;
            }
            for (name, number) in names.split_whitespace().zip(numbers.split_whitespace()) {
                // Gauges such as Tcp's MaxConn can be -1; none of those is read here.
                values.insert((group, name), number.parse().unwrap_or(0));
            }
        }
        if groups < 2 {
            return None;
        }
        let tcp = |name| values.get(&("Tcp", name)).copied().unwrap_or(0);
        let ext = |name| values.get(&("TcpExt", name)).copied().unwrap_or(0);
        Some(KernelTcp {
            retrans_segs: tcp("RetransSegs"),
            timeouts: ext("TCPTimeouts"),
            loss_probes: ext("TCPLossProbes"),
            syn_retrans: ext("TCPSynRetrans"),
            delayed_acks: ext("DelayedACKs"),
            out_rsts: tcp("OutRsts"),
            listen: ListenCounters {
                listen_overflows: ext("ListenOverflows"),
                syn_queue_drops: ext("TCPReqQFullDrop"),
                syncookies_sent: ext("SyncookiesSent"),
                syncookies_recv: ext("SyncookiesRecv"),
                syncookies_failed: ext("SyncookiesFailed"),
            },
        })
    }

    /// The congestion control the kernel gives a new TCP socket in this namespace
    /// (`net.ipv4.tcp_congestion_control`), which decides most of what the peer's
    /// sender does after a loss: Reno and CUBIC cut their window for each loss
    /// episode, BBR paces at the rate it measured and largely ignores random loss. A
    /// program may choose another for its own sockets (`TCP_CONGESTION`); python3's
    /// http.server and nginx do not unless told to.
    pub fn default_congestion_control() -> io::Result<String> {
        let name = std::fs::read_to_string(CONGESTION_CONTROL)?;
        Ok(name.trim().to_string())
    }

    /// What was counted from `before` to `self` (the counters wrap as the kernel's do).
    pub fn since(&self, before: &KernelTcp) -> KernelTcp {
        KernelTcp {
            retrans_segs: self.retrans_segs.wrapping_sub(before.retrans_segs),
            timeouts: self.timeouts.wrapping_sub(before.timeouts),
            loss_probes: self.loss_probes.wrapping_sub(before.loss_probes),
            syn_retrans: self.syn_retrans.wrapping_sub(before.syn_retrans),
            delayed_acks: self.delayed_acks.wrapping_sub(before.delayed_acks),
            out_rsts: self.out_rsts.wrapping_sub(before.out_rsts),
            listen: self.listen.since(&before.listen),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux 6.18's files, cut to the groups and a few of their columns, in their
    /// order: names and values pair by position, other groups are skipped, and a
    /// counter the kernel does not have reads 0.
    #[test]
    fn counters_from_proc() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens RetransSegs InErrs OutRsts\n\
                    Tcp: 1 200 120000 -1 93 17 0 49\n\
                    Udp: InDatagrams\nUdp: 5\n\
                    TcpExt: SyncookiesSent SyncookiesRecv SyncookiesFailed DelayedACKs ListenOverflows ListenDrops TCPTimeouts TCPLossProbes TCPSynRetrans\n\
                    TcpExt: 58 334 2 11 281 281 3 887 11\n\
                    IpExt: InNoRoutes\nIpExt: 0\n";
        let k = KernelTcp::parse(text).expect("both groups");
        assert_eq!(
            k,
            KernelTcp {
                retrans_segs: 17,
                timeouts: 3,
                loss_probes: 887,
                syn_retrans: 11,
                delayed_acks: 11,
                out_rsts: 49,
                listen: ListenCounters {
                    listen_overflows: 281,
                    syn_queue_drops: 0,
                    syncookies_sent: 58,
                    syncookies_recv: 334,
                    syncookies_failed: 2,
                },
            }
        );
        let later = KernelTcp {
            retrans_segs: 20,
            out_rsts: 49,
            ..k
        };
        assert_eq!(
            later.since(&k),
            KernelTcp {
                retrans_segs: 3,
                ..KernelTcp::default()
            }
        );
        assert_eq!(KernelTcp::parse("Ip: Forwarding\nIp: 1\n"), None);
        assert_eq!(KernelTcp::parse("Tcp: RetransSegs\nTcpExt: 1\n"), None);
    }

    /// This machine's own files parse (every Linux has both groups).
    #[test]
    fn this_kernel_has_them() {
        if std::path::Path::new(SNMP).exists() {
            assert!(KernelTcp::read().is_ok());
        }
    }
}
