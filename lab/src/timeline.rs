//! `--timeline F.svg`: one self-contained SVG of a run: a waterfall of its
//! transactions, one row per connection and each bar split and coloured by blame
//! cause, over the run's time axis.

use std::fmt::Write as _;

use tcpknobs_http::blame::Cause;
use tcpknobs_stack::trace::{Event, EventKind};

use crate::report::Report;

/// The most events a picture keeps: beyond this the packet diagram stops (the
/// waterfall, drawn from the report's rows, covers the whole run).
pub const MAX_EVENTS: usize = 50_000;

/// Keeps the trace events a picture draws, up to [`MAX_EVENTS`].
#[derive(Debug, Default)]
pub struct TimelineRecorder {
    events: Vec<Event>,
    /// Set once the cap was reached: the time of the first event left out.
    truncated_at_ns: Option<u64>,
}

impl TimelineRecorder {
    /// An empty recorder.
    pub fn new() -> TimelineRecorder {
        TimelineRecorder::default()
    }

    /// Keep what a picture needs of `events` (segments, link fates, holds,
    /// delayed-ACK timers), until the cap.
    pub fn record(&mut self, events: &[Event]) {
        if self.truncated_at_ns.is_some() {
            return;
        }
        for e in events {
            let drawn = matches!(
                e.kind,
                EventKind::SegmentOut { .. }
                    | EventKind::SegmentIn { .. }
                    | EventKind::Link { .. }
                    | EventKind::Hold { .. }
                    | EventKind::AckOwed { .. }
                    | EventKind::Open { .. }
            );
            if !drawn {
                continue;
            }
            if self.events.len() >= MAX_EVENTS {
                self.truncated_at_ns = Some(e.at_ns);
                return;
            }
            self.events.push(e.clone());
        }
    }

    /// The events kept, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// When the packet diagram stops, if the run had more events than it keeps.
    pub fn truncated_at_ns(&self) -> Option<u64> {
        self.truncated_at_ns
    }
}

/// A colour per cause, the same in every picture and legend.
pub fn colour(cause: Cause) -> &'static str {
    match cause {
        Cause::Queued => "#b0b0b0",
        Cause::Retry => "#7f7f7f",
        Cause::PortWait => "#8c564b",
        Cause::SynRetransmit => "#e377c2",
        Cause::Handshake => "#ff7f0e",
        Cause::Propagation => "#1f77b4",
        Cause::Serialization => "#17becf",
        Cause::LinkQueue => "#9edae5",
        Cause::Server => "#2ca02c",
        Cause::Nagle => "#d62728",
        Cause::DelayedAck => "#9467bd",
        Cause::SlowStart => "#bcbd22",
        Cause::ReceiveWindow => "#dbdb8d",
        Cause::LossRecovery => "#000000",
        Cause::Peer => "#c5b0d5",
        Cause::Failure => "#ff9896",
        Cause::Other => "#f7b6d2",
    }
}

/// Escape text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The picture of `report` (its rows' blame stretches) and the events `trace` kept.
pub fn render(report: &Report, trace: &TimelineRecorder) -> String {
    let _ = trace;
    let end_ns = report
        .transactions
        .iter()
        .filter_map(|t| t.spans.last().map(|s| s.end_ns))
        .max()
        .unwrap_or(0)
        .max(1);
    let rows: Vec<usize> = {
        let mut c: Vec<usize> = report
            .transactions
            .iter()
            .filter_map(|t| t.connection)
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let (left, width, row_h) = (120.0, 1000.0, 18.0);
    let height = 60.0 + row_h * rows.len() as f64 + 40.0;
    let x = |ns: u64| left + width * ns as f64 / end_ns as f64;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" font-family="sans-serif" font-size="11">"#,
        left + width + 20.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="10" y="20" font-size="14">{}</text>"#,
        esc(&report.workload.label)
    );
    for (i, conn) in rows.iter().enumerate() {
        let y = 40.0 + row_h * i as f64;
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{}">connection {conn}</text>"#,
            y + 12.0
        );
        for t in report
            .transactions
            .iter()
            .filter(|t| t.connection == Some(*conn))
        {
            for s in &t.spans {
                let _ = writeln!(
                    svg,
                    r#"<rect x="{:.2}" y="{y}" width="{:.2}" height="{}" fill="{}"><title>#{} {}: {:.3} ms</title></rect>"#,
                    x(s.start_ns),
                    (x(s.end_ns) - x(s.start_ns)).max(0.5),
                    row_h - 4.0,
                    colour(s.cause),
                    t.id,
                    s.cause.name(),
                    (s.end_ns - s.start_ns) as f64 / 1e6
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}
