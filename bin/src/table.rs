//! The human-readable form of a [`Report`]: one row per transaction (those
//! `--rows` kept), the aggregates over all of them, one row per connection, and a
//! summary line, in the same units and names as the JSON.

use std::fmt::Write as _;

use tcpknobs_http::blame::{Blame, Cause};
use tcpknobs_http::transaction::TransactionReport;

use crate::cli::format_smol;
use tcpknobs_lab::report::{ConnectionReport, Report, RowsOmitted, Totals};
use tcpknobs_lab::summary::{Summary, TimingSummary, PERCENTILES};
use tcpknobs_lab::tap::{KernelDrops, TapReport};
use tcpknobs_lab::values::{format_duration, format_rate};
use tcpknobs_stack::host::ListenCounters;

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

/// A value, or `-` where there is none.
fn or_dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Render the report as plain-text tables.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let w = &r.workload;
    let strategy = serde_json::to_value(w.strategy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}, {}, strategy {strategy}, rtt {}, bandwidth {}, loss {}, seed {}",
        w.label,
        w.client.version,
        format_duration(std::time::Duration::from_nanos(
            r.link.one_way_delay_ns.saturating_mul(2)
        )),
        format_rate(r.link.bandwidth_bps),
        r.link.loss,
        r.seed
    );
    out.push('\n');
    if !r.transactions.is_empty() {
        out.push_str(&transactions(&r.transactions));
    }
    if let Some(omitted) = &r.rows_omitted {
        out.push_str(&rows_omitted(omitted));
    }
    out.push('\n');
    out.push_str(&summary(&r.summary));
    out.push('\n');
    out.push_str(&connections(&r.connections));
    if r.connections_omitted > 0 {
        let _ = writeln!(
            out,
            "{} left out (as many as transaction rows are kept per host: --rows)",
            plural(r.connections_omitted, "connection row", "connection rows")
        );
    }
    let w = &r.wire;
    if w.dropped_loss + w.dropped_queue + w.dropped_oversize > 0 {
        let _ = writeln!(
            out,
            "\nwire: {} frames sent, {} dropped by loss, {} by the queue limit",
            w.frames_sent, w.dropped_loss, w.dropped_queue
        );
    }
    out.push_str(&listen(&r.listen.server, "server"));
    if let Some(proxy) = &r.listen.proxy {
        out.push_str(&listen(proxy, "proxy"));
    }
    out.push_str(&totals(&r.totals, r.end));
    if let Some(ceiling) = r.time_wait_ceiling_per_s {
        let k = &r.knobs.client;
        let _ = writeln!(
            out,
            "TIME_WAIT ceiling: {} new connections/s ({} ports / {} 2MSL)",
            significant(ceiling),
            k.ports.len(),
            format_smol(k.time_wait)
        );
    }
    out
}

/// `run --blame`: the header line, then a row per transaction (`--rows` decides
/// which) with a column per cause that has time in any of them, the run's sums as a
/// last row, and the summary line. Each row's causes add up to its `total_ms`.
pub fn render_blame(r: &Report) -> String {
    let mut out = render(r)
        .lines()
        .next()
        .map(|l| format!("{l}\n\n"))
        .unwrap_or_default();
    out.push_str(&blame_rows(&r.transactions));
    if let Some(omitted) = &r.rows_omitted {
        out.push_str(&rows_omitted(omitted));
    }
    match &r.blame {
        Some(run) if r.rows_omitted.is_some() => {
            let causes: Vec<String> = run
                .nonzero()
                .map(|(c, ns)| format!("{} {:.3}", c.name(), ns as f64 / 1e6))
                .collect();
            let _ = writeln!(out, "every transaction, ms: {}", causes.join(", "));
        }
        Some(_) => {}
        None => out.push_str("no blame: the run kept no trace\n"),
    }
    out.push_str(&totals(&r.totals, r.end));
    out
}

/// The blame table of `rows`: a column per cause with time in any row, a row per
/// transaction, and their sum.
pub fn blame_rows(rows: &[TransactionReport]) -> String {
    let mut sum = Blame::default();
    for b in rows.iter().filter_map(|t| t.blame.as_ref()) {
        sum.merge(b);
    }
    let causes: Vec<Cause> = Cause::ALL.into_iter().filter(|c| sum.ns(*c) > 0).collect();
    let width = |c: &Cause| c.name().len().max(9);
    let mut out = String::new();
    let _ = write!(out, "{:>6} {:>11}", "id", "total_ms");
    for c in &causes {
        let _ = write!(out, " {:>w$}", c.name(), w = width(c));
    }
    out.push('\n');
    let row = |out: &mut String, label: &str, total: Option<f64>, blame: &Blame| {
        let _ = write!(out, "{label:>6} {:>11}", cell(total));
        for c in &causes {
            let ms = blame.ms(*c);
            let v = if ms > 0.0 {
                format!("{ms:.3}")
            } else {
                "-".to_string()
            };
            let _ = write!(out, " {v:>w$}", w = width(c));
        }
        out.push('\n');
    };
    for t in rows {
        if let Some(b) = &t.blame {
            row(&mut out, &t.id.to_string(), t.total_ms, b);
        }
    }
    row(&mut out, "sum", Some(sum.total_ns() as f64 / 1e6), &sum);
    out
}

/// A line on what a listener did beyond its queues (`listen` in the JSON), if
/// anything: `who` names the host.
pub fn listen(c: &ListenCounters, who: &str) -> String {
    listen_words(c).map_or_else(String::new, |words| {
        format!("\n{who} listen queues (--backlog): {words}\n")
    })
}

/// What listeners did beyond their queues, in words; `None` if nothing.
pub fn listen_words(c: &ListenCounters) -> Option<String> {
    let parts = listen_parts(c);
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// What listeners did beyond their queues, in words, a part per counter that is not 0.
fn listen_parts(c: &ListenCounters) -> Vec<String> {
    let mut parts = Vec::new();
    if c.syncookies_sent > 0 {
        parts.push(format!(
            "{} answered with a SYN cookie (SYN queue full), cookies back in {}",
            plural(c.syncookies_sent, "SYN", "SYNs"),
            plural(c.syncookies_recv, "ACK", "ACKs")
        ));
    }
    if c.syn_queue_drops > 0 {
        parts.push(format!(
            "{} dropped for a full SYN queue (cookies off)",
            plural(c.syn_queue_drops, "SYN", "SYNs")
        ));
    }
    if c.listen_overflows > 0 {
        parts.push(format!(
            "{} dropped for a full accept queue",
            plural(
                c.listen_overflows,
                "SYN or handshake ACK",
                "SYNs or handshake ACKs"
            )
        ));
    }
    if c.syncookies_failed > 0 {
        parts.push(format!(
            "{} with no valid cookie reset",
            plural(c.syncookies_failed, "ACK", "ACKs")
        ));
    }
    parts
}

/// A line on frames the kernel dropped at the TAP (`tap.kernel_drops` in the JSON),
/// if any: losses outside the path being measured, with what to do about them.
pub fn kernel_drops(tap: &TapReport) -> String {
    let Some(d) = tap.kernel_drops else {
        return String::new();
    };
    let mut out = String::new();
    if let Some(sentence) = queue_drops(&tap.tap, &d) {
        let _ = writeln!(out, "\n{sentence}");
    }
    if d.from_host > 0 {
        let _ = writeln!(
            out,
            "\nthe kernel dropped {} this host wrote to {}",
            plural(d.from_host, "frame", "frames"),
            tap.tap
        );
    }
    out
}

/// What the kernel dropped at `tap`'s queue toward this host, and what to do about
/// it, in one sentence; `None` if nothing.
pub fn queue_drops(tap: &str, d: &KernelDrops) -> Option<String> {
    (d.to_host > 0).then(|| {
        format!(
            "the kernel dropped {} at {tap}'s queue toward this host (txqueuelen {}, full \
             while tcpknobs was too slow for a burst): its side resent them after a \
             timeout, delays the path did not cause; a longer queue: sudo ip link set {tap} \
             txqueuelen {}",
            plural(d.to_host, "frame", "frames"),
            d.queue_len,
            d.suggested_queue_len()
        )
    })
}

/// A line on what the kernel's TCP in this network namespace (the peer's side, in the
/// lab's own namespace) counted during a TAP run (`tap.kernel_tcp` in the JSON), when
/// it dropped handshakes, sent cookies, resent or reset: what delayed the transactions
/// on the side the lab cannot see.
pub fn kernel_tcp(tap: &TapReport) -> String {
    let Some(k) = tap.kernel_tcp else {
        return String::new();
    };
    let mut parts = listen_parts(&k.listen);
    if k.retrans_segs > 0 {
        parts.push(format!(
            "{} resent ({} after a timeout, {}, {})",
            plural(k.retrans_segs, "segment", "segments"),
            k.timeouts,
            plural(k.loss_probes, "tail-loss probe", "tail-loss probes"),
            plural(k.syn_retrans, "SYN or SYN-ACK", "SYNs or SYN-ACKs")
        ));
    }
    if k.out_rsts > 0 {
        parts.push(plural(k.out_rsts, "reset sent", "resets sent"));
    }
    if parts.is_empty() {
        return String::new();
    }
    if k.delayed_acks > 0 {
        parts.push(plural(k.delayed_acks, "delayed ACK", "delayed ACKs"));
    }
    // Its congestion control explains most of what its sender did after a loss.
    let control = tap
        .kernel_congestion_control
        .as_deref()
        .map_or(String::new(), |c| format!(" ({c})"));
    format!(
        "\nthe kernel's TCP{control} in this namespace during the run: {}\n",
        parts.join(", ")
    )
}

/// The summary line: the same figures as the JSON's top level.
pub fn totals(t: &Totals, end: &str) -> String {
    format!(
        "\ntotal {:.3} ms ({end}), {} ok, {} failed, {}, {} connections/s\n",
        t.total_ms,
        t.succeeded,
        t.failed,
        plural(t.retries, "retry", "retries"),
        t.connections_per_s.map_or("-".to_string(), significant)
    )
}

/// `1 connection`, `2 connections`.
pub fn plural<N: std::fmt::Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    let word = if n == N::from(1) { one } else { many };
    format!("{n} {word}")
}

/// A rate with three significant digits (at least one decimal), trailing zeros
/// dropped: `0.04`, `19.8`, `470.5`, `10`. A fixed number of decimals would print a
/// slow rate as `0.0`.
pub fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).clamp(1, 12) as usize;
    let s = format!("{v:.decimals$}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One row per transaction: the waits and durations of its life (`wait_ms`: queued
/// until given a connection; `connect_ms`: the handshake; `ttfb_ms`: request sent
/// until the first response byte; `transfer_ms`: first to last byte; `total_ms`:
/// queued until done).
pub fn transactions(rows: &[TransactionReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4} {:>6} {:>6} {:>10} {:>6} {:>5} {:>7} {:>10} {:>10} {:>10} {:>11} {:>10}  error",
        "id",
        "status",
        "conn",
        "bytes",
        "reused",
        "pipe",
        "retries",
        "wait_ms",
        "connect_ms",
        "ttfb_ms",
        "transfer_ms",
        "total_ms"
    );
    for t in rows {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "{:>4} {:>6} {:>6} {:>10} {:>6} {:>5} {:>7} {:>10} {:>10} {:>10} {:>11} {:>10}  {}",
            t.id,
            or_dash(t.status),
            or_dash(t.connection),
            t.bytes,
            yes_no(t.reused),
            yes_no(t.pipelined),
            t.retries,
            cell(t.wait_ms),
            cell(t.connect_ms),
            cell(t.ttfb_ms),
            cell(t.transfer_ms),
            cell(t.total_ms),
            t.error.as_deref().unwrap_or("")
        );
    }
    out
}

/// The line that stands for the rows `--rows` left out.
pub fn rows_omitted(omitted: &RowsOmitted) -> String {
    format!(
        "{} left out ({})\n",
        plural(omitted.count, "transaction row", "transaction rows"),
        omitted.hint
    )
}

/// The aggregates: each timing over the transactions that succeeded (count, sum,
/// min, percentiles, max), then the failures by kind.
pub fn summary(s: &Summary) -> String {
    let mut out = format!(
        "timings of the {} that succeeded ({} in all):\n",
        plural(s.succeeded, "transaction", "transactions"),
        s.count
    );
    let _ = write!(
        out,
        "{:>11} {:>9} {:>17} {:>10}",
        "", "count", "sum_ms", "min_ms"
    );
    for (_, name) in PERCENTILES {
        let _ = write!(out, " {:>10}", format!("{name}_ms"));
    }
    let _ = writeln!(out, " {:>10}", "max_ms");
    let t = &s.timings;
    for (name, timing) in [
        ("wait_ms", &t.wait),
        ("connect_ms", &t.connect),
        ("ttfb_ms", &t.ttfb),
        ("transfer_ms", &t.transfer),
        ("total_ms", &t.total),
    ] {
        out.push_str(&timing_row(name, timing));
    }
    for f in &s.failures {
        let _ = writeln!(
            out,
            "failed: {} {} (first: #{}, {})",
            f.count, f.kind, f.first_id, f.first_error
        );
    }
    out
}

fn timing_row(name: &str, t: &TimingSummary) -> String {
    let mut out = format!(
        "{name:>11} {:>9} {:>17.3} {:>10}",
        t.count,
        t.sum_ms,
        cell(t.min_ms)
    );
    for p in [t.p50_ms, t.p90_ms, t.p99_ms, t.p99_9_ms] {
        let _ = write!(out, " {:>10}", cell(p));
    }
    let _ = writeln!(out, " {:>10}", cell(t.max_ms));
    out
}

/// One row per connection as its host saw it. `tw_held_ms` is how long this host
/// held the tuple in TIME_WAIT: the full 2MSL when it expired during the run, the
/// time until the run ended otherwise (a run ends when its transactions do, so a
/// 60 s TIME_WAIT usually shows as far less).
pub fn connections(rows: &[ConnectionReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:>6} {:>21} {:>4} {:>7} {:>7} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6} {:>8} {:>10}",
        "host",
        "port",
        "remote",
        "reqs",
        "segs>",
        "segs<",
        "bytes>",
        "bytes<",
        "acks>",
        "delack",
        "retrans",
        "rst<",
        "closer",
        "max_cwnd",
        "tw_held_ms"
    );
    for c in rows {
        let s = &c.stats;
        let _ = writeln!(
            out,
            "{:>6} {:>6} {:>21} {:>4} {:>7} {:>7} {:>9} {:>9} {:>6} {:>6} {:>7} {:>6} {:>6} {:>8} {:>10}",
            c.host,
            or_dash(s.local_port),
            s.remote,
            or_dash(c.requests),
            s.segments_out,
            s.segments_in,
            s.bytes_out,
            s.bytes_in,
            s.pure_acks_out,
            s.delayed_acks,
            s.retransmissions,
            s.resets_in,
            s.closed_first.map_or("-", |c| match c {
                tcpknobs_stack::Closer::Local => "local",
                tcpknobs_stack::Closer::Peer => "peer",
                tcpknobs_stack::Closer::Both => "both",
            }),
            s.max_cwnd.map_or_else(|| "off".into(), |c| c.to_string()),
            s.time_wait_ms
                .map_or_else(|| "-".into(), |t| format!("{t:.0}")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use tcpknobs_stack::{Ipv4Address, Ipv4Cidr, KernelTcp, LinkProfile, RealtimeEnd, RealtimeRun};

    use super::*;

    fn tap(kernel_drops: Option<KernelDrops>) -> TapReport {
        TapReport {
            tap: "tk0".into(),
            ip: Ipv4Cidr::new(Ipv4Address::new(10, 77, 0, 2), 24),
            gateway: None,
            mtu: 1500,
            added: LinkProfile::default(),
            run: RealtimeRun {
                end: RealtimeEnd::Stopped,
                frames_read: 0,
                frames_written: 0,
                write_drops: 0,
                tx: Default::default(),
                rx: Default::default(),
                wakeups: 0,
                spin_guards: 0,
            },
            kernel_drops,
            kernel_tcp: None,
            kernel_congestion_control: None,
        }
    }

    /// Nothing is said when the kernel dropped nothing (or could not be asked); drops
    /// toward the host come with the command that lengthens the queue.
    #[test]
    fn kernel_drops_in_words() {
        let drops = |queue_len, to_host, from_host| {
            kernel_drops(&tap(Some(KernelDrops {
                queue_len,
                to_host,
                from_host,
            })))
        };
        assert_eq!(kernel_drops(&tap(None)), "");
        assert_eq!(drops(1000, 0, 0), "");
        assert_eq!(
            drops(1000, 1309, 0),
            "\nthe kernel dropped 1309 frames at tk0's queue toward this host (txqueuelen \
             1000, full while tcpknobs was too slow for a burst): its side resent them \
             after a timeout, delays the path did not cause; a longer queue: sudo ip link \
             set tk0 txqueuelen 10000\n"
        );
        assert!(drops(5000, 1, 0).contains("1 frame at tk0's queue"));
        assert!(drops(5000, 1, 0).ends_with("txqueuelen 20000\n"));
        assert_eq!(
            drops(1000, 0, 2),
            "\nthe kernel dropped 2 frames this host wrote to tk0\n"
        );
    }

    /// Said only when the kernel's side dropped, cookied, resent or reset; its delayed
    /// ACKs then come along, and its congestion control when known.
    #[test]
    fn kernel_tcp_in_words() {
        let line = |k: KernelTcp| {
            kernel_tcp(&TapReport {
                kernel_tcp: Some(k),
                ..tap(None)
            })
        };
        assert_eq!(kernel_tcp(&tap(None)), "");
        let quiet = KernelTcp {
            delayed_acks: 3,
            ..KernelTcp::default()
        };
        assert_eq!(line(quiet), "");
        assert_eq!(
            line(KernelTcp {
                listen: ListenCounters {
                    listen_overflows: 281,
                    syncookies_sent: 58,
                    syncookies_recv: 30,
                    ..ListenCounters::default()
                },
                retrans_segs: 12,
                timeouts: 3,
                loss_probes: 1,
                syn_retrans: 5,
                ..quiet
            }),
            "\nthe kernel's TCP in this namespace during the run: 58 SYNs answered with \
             a SYN cookie (SYN queue full), cookies back in 30 ACKs, 281 SYNs or \
             handshake ACKs dropped for a full accept queue, 12 segments resent (3 after \
             a timeout, 1 tail-loss probe, 5 SYNs or SYN-ACKs), 3 delayed ACKs\n"
        );
        assert_eq!(
            line(KernelTcp {
                out_rsts: 1,
                ..KernelTcp::default()
            }),
            "\nthe kernel's TCP in this namespace during the run: 1 reset sent\n"
        );
        // Its congestion control, when known, explains what its sender did.
        let bbr = kernel_tcp(&TapReport {
            kernel_tcp: Some(KernelTcp {
                retrans_segs: 49,
                ..KernelTcp::default()
            }),
            kernel_congestion_control: Some("bbr".into()),
            ..tap(None)
        });
        assert_eq!(
            bbr,
            "\nthe kernel's TCP (bbr) in this namespace during the run: 49 segments resent \
             (0 after a timeout, 0 tail-loss probes, 0 SYNs or SYN-ACKs)\n"
        );
    }
}
