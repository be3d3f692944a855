//! The four TCP mechanisms a user can turn, for one side of a connection.
//!
//! Each field names its classic value (from *HTTP: The Definitive Guide*, ch. 4), the
//! Linux equivalent, and what implements it here (smoltcp or our layer above it).

use serde::Serialize;
use smoltcp::time::Duration;

use crate::congestion::SlowStartConfig;
use crate::retransmit::RetransmitConfig;

/// What `connect` does when every ephemeral port toward a server is live or in TIME_WAIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnExhaustion {
    /// Fail at once with [`crate::ConnectError::PortsExhausted`] (Linux: `EADDRNOTAVAIL`).
    Fail,
    /// Hold the connect until the first held tuple expires (what a patient load
    /// generator does), so the run shows the ports / 2MSL ceiling as elapsed time.
    Wait,
}

/// Which Nagle algorithm holds back small segments (chapter item 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nagle {
    /// Every write goes out at once (Linux: `TCP_NODELAY`).
    Off,
    /// RFC 896 as smoltcp implements it: a segment smaller than one MSS is held while
    /// *any* data is unacknowledged.
    On,
    /// Minshall's variant, as Linux does it (`tcp_nagle_check`, `tcp_minshall_check`):
    /// a small segment is held only while an earlier *small* segment is
    /// unacknowledged, so a response whose tail is below one MSS is not held behind
    /// its own full-sized segments. Implemented in our layer above smoltcp.
    Minshall,
}

/// Named default sets, so a sweep changes one knob against a known baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Today's Linux defaults: IW 10 (RFC 6928), slow start counting every
    /// acknowledged segment (`tcp_slow_start`), the window halved per idle RTO
    /// (`tcp_cwnd_restart`), an RTO of at least SRTT + 200 ms (`TCP_RTO_MIN`) with
    /// SACK-driven recovery, Nagle with Minshall's variant, quick-ACK for the first 16
    /// segments, delayed ACK 40 ms (`TCP_DELACK_MIN`), TIME_WAIT 60 s
    /// (`TCP_TIMEWAIT_LEN`), ports 32768-60999 (`ip_local_port_range`).
    Linux,
    /// The book's classic values: IW 1, at most one MSS per ACK in slow start and
    /// straight to the restart window after idle (RFC 5681 §3.1, §4.1), an RTO of at
    /// least 1 s (RFC 6298 §2.4) and Reno's fast recovery (RFC 5681 §3.2), RFC 896
    /// Nagle, no quick-ACK, delayed ACK 200 ms, 2MSL 120 s, 60,000 ports.
    Book,
}

/// The knobs of one side (client or server) of every connection it makes or accepts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Knobs {
    /// Nagle's algorithm: off, RFC 896 classic (smoltcp) or Minshall's variant (Linux).
    pub nagle: Nagle,
    /// Delayed-ACK timer (RFC 1122 §4.2.3.2: at most 500 ms; classically 100-200 ms,
    /// Linux 40 ms minimum). `None` ACKs every segment at once. smoltcp's `set_ack_delay`;
    /// smoltcp still ACKs at once when more than one MSS is unacknowledged.
    #[serde(rename = "delayed_ack_ms", serialize_with = "ser_opt_duration")]
    pub delayed_ack: Option<Duration>,
    /// ACK the first this-many data segments of a connection at once, before the
    /// delayed-ACK timer applies: Linux's quick-ACK mode at connection start
    /// (`tcp_incr_quickack`, at most `TCP_MAX_QUICKACKS` = 16). 0 = never. Linux also
    /// leaves quick-ACK mode for interactive ("ping-pong") traffic; this lab does not
    /// model that: the count alone decides.
    pub quickack: u32,
    /// Slow start: our congestion window above smoltcp (RFC 5681).
    pub slow_start: SlowStartConfig,
    /// The retransmission timer's floor and how several losses in one window are
    /// repaired: smoltcp's timer and fast retransmit, with the settings our patch
    /// set on smoltcp adds (`vendor/smoltcp/PATCHES.md`).
    pub retransmit: RetransmitConfig,
    /// How long the side that closes first holds the 4-tuple (2MSL, RFC 9293 §3.6.1).
    /// Linux: 60 s, fixed (`TCP_TIMEWAIT_LEN`); the book: about 2 minutes; RFC 793's
    /// 2-minute MSL would make it 4. Zero holds nothing.
    #[serde(rename = "time_wait_ms", serialize_with = "ser_duration")]
    pub time_wait: Duration,
    /// Ephemeral ports for active opens, inclusive (Linux `ip_local_port_range`).
    pub ports: PortSpan,
    /// What connect does when no port is free.
    pub on_exhaustion: OnExhaustion,
    /// Receive buffer per socket; it is also the advertised window (with window
    /// scaling), so it must exceed the largest response or the window limits the run.
    pub rx_buffer: usize,
    /// Transmit buffer inside smoltcp per socket (bytes in flight plus unsent). Data the
    /// application writes beyond our congestion window waits in our own queue.
    pub tx_buffer: usize,
    /// listen(2)'s backlog: how many established connections may wait to be
    /// accepted. As in Linux (`sk_acceptq_is_full`), once more than this many wait,
    /// new SYNs and the ACKs that would complete a handshake are dropped, and the
    /// clients pay SYN or SYN-ACK retransmissions (chapter item 14: a server limits
    /// what parallel connections cost it). nginx's default is 511; Linux caps any
    /// backlog at `net.core.somaxconn` (4096).
    pub backlog: usize,
    /// SYN retransmissions before an active open gives up (Linux `tcp_syn_retries`,
    /// 6): with the RTO doubling from 1 s the SYNs leave at 0, 1, 3, 7, 15, 31 and
    /// 63 s and connect fails at 127 s. RFC 9293 §3.8.3 asks for at least 3 minutes
    /// in total; Linux's default is shorter.
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before a passive open in SYN-RECEIVED is dropped
    /// (Linux `tcp_synack_retries`, 5: given up 63 s after the SYN), so a SYN that
    /// never completes its handshake holds a socket only so long.
    pub synack_retries: u32,
    /// What a listener does with a SYN when more handshakes are under way than the
    /// backlog (Linux's SYN queue, `inet_csk_reqsk_queue_is_full`): answer with a SYN
    /// cookie and keep no state (Linux `tcp_syncookies` = 1, its default), or drop
    /// the SYN (`tcp_syncookies` = 0), so the client tries again after its SYN
    /// timeout. Either way a flood of SYNs that never complete holds at most
    /// backlog + 1 connections. A cookie connection has no window scaling and no
    /// SACK (see [`crate::syn_cookie`]).
    pub syn_cookies: bool,
}

/// An inclusive range of port numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortSpan {
    /// First port.
    pub lo: u16,
    /// Last port (inclusive).
    pub hi: u16,
}

impl PortSpan {
    /// Number of ports in the span (`hi - lo + 1`; 0 if built by hand with `lo > hi`).
    pub fn len(&self) -> u32 {
        (u32::from(self.hi) + 1).saturating_sub(u32::from(self.lo))
    }

    /// True only for a span built by hand with `lo > hi`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `port` lies within the span.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

impl std::fmt::Display for PortSpan {
    /// `LO-HI`, or `P` for a single port: the form `--ports` accepts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// Socket buffers big enough that a 1 MiB response is never limited by the receive
/// window (64 KiB buffers were measured to cost an extra RTT on a 64 KiB response).
pub const DEFAULT_BUFFER: usize = 2 * 1024 * 1024;

impl Knobs {
    /// The defaults of a profile.
    pub fn profile(profile: Profile) -> Knobs {
        match profile {
            Profile::Linux => Knobs {
                nagle: Nagle::Minshall,
                delayed_ack: Some(Duration::from_millis(40)),
                quickack: 16,
                slow_start: SlowStartConfig::LINUX,
                retransmit: RetransmitConfig::LINUX,
                time_wait: Duration::from_secs(60),
                ports: PortSpan {
                    lo: 32768,
                    hi: 60999,
                },
                on_exhaustion: OnExhaustion::Fail,
                rx_buffer: DEFAULT_BUFFER,
                tx_buffer: DEFAULT_BUFFER,
                backlog: 511,
                syn_retries: 6,
                synack_retries: 5,
                syn_cookies: true,
            },
            Profile::Book => Knobs {
                nagle: Nagle::On,
                delayed_ack: Some(Duration::from_millis(200)),
                quickack: 0,
                slow_start: SlowStartConfig::BOOK,
                retransmit: RetransmitConfig::RFC,
                time_wait: Duration::from_secs(120),
                ports: PortSpan {
                    lo: 5536,
                    hi: 65535,
                },
                on_exhaustion: OnExhaustion::Fail,
                rx_buffer: DEFAULT_BUFFER,
                tx_buffer: DEFAULT_BUFFER,
                backlog: 511,
                syn_retries: 6,
                synack_retries: 5,
                syn_cookies: true,
            },
        }
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs::profile(Profile::Linux)
    }
}

/// Durations print in milliseconds in JSON (`40.0`), the unit every timing uses.
pub(crate) fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.total_micros() as f64 / 1000.0)
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}
