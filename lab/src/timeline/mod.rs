//! `--timeline F.svg`: one self-contained SVG of a run, to see at a glance where
//! its time went and what the packets did meanwhile.
//!
//! Three parts, top to bottom: the waterfall (`waterfall`, WebPageTest's
//! connection view, bars coloured by blame cause), the congestion windows on the
//! same time axis (`cwnd`), and the packet sequence diagram (`packets`,
//! Wireshark's flow graph). `svg` holds the writing conventions: escaped text,
//! numbers rounded to a tenth of a pixel, no script, and output that depends only
//! on the run, so the same run gives the same bytes.

mod cwnd;
mod packets;
mod svg;
mod waterfall;

use std::collections::BTreeMap;

use tcpknobs_http::blame::Cause;
use tcpknobs_stack::trace::{Event, EventKind};

use tcpknobs_http::transaction::TransactionReport;

use crate::report::{ConnectionReport, Report, RowsOmitted};
use crate::tap::{GetReport, ServeReport};
use svg::{n, Svg};

pub use packets::MAX_DRAWN;

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
                    | EventKind::StatelessSegmentOut { .. }
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

/// The horizontal time axis the waterfall and the window chart share: the whole
/// run, from its start to the last transaction's end.
pub(crate) struct Frame {
    /// Where time 0 is drawn.
    pub(crate) left: f64,
    /// Width of the plot.
    pub(crate) width: f64,
    /// The time drawn at the right edge, ns (at least 1).
    pub(crate) end_ns: u64,
}

impl Frame {
    /// The x of `ns`, kept inside the plot.
    pub(crate) fn x(&self, ns: u64) -> f64 {
        self.left + self.width * ns.min(self.end_ns) as f64 / self.end_ns.max(1) as f64
    }

    /// Grid lines from `top` to `bottom` and their ms labels below.
    pub(crate) fn axis(&self, svg: &mut Svg, top: f64, bottom: f64) {
        let step = svg::tick_step_ns(self.end_ns);
        let mut t = 0u64;
        while t <= self.end_ns {
            let x = self.x(t);
            svg.line(format_args!(
                r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ccc" stroke-width="0.5"/>"##,
                n(x),
                n(top),
                n(bottom + 4.0)
            ));
            svg.text(
                x,
                bottom + 15.0,
                r#"text-anchor="middle" font-size="10""#,
                &svg::tick_label(t, step),
            );
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        svg.text(
            self.left + self.width + 22.0,
            bottom + 15.0,
            r#"font-size="10""#,
            "ms",
        );
    }
}

/// When each (host, connection) was last seen in the kept events.
fn last_seen(trace: &TimelineRecorder) -> BTreeMap<(usize, usize), u64> {
    let mut seen = BTreeMap::new();
    for e in trace.events() {
        let conn = match &e.kind {
            EventKind::SegmentOut { conn, .. }
            | EventKind::SegmentIn { conn, .. }
            | EventKind::Hold { conn, .. }
            | EventKind::AckOwed { conn, .. }
            | EventKind::Open { conn, .. } => conn.0,
            _ => continue,
        };
        seen.insert((e.host, conn), e.at_ns);
    }
    seen
}

/// What a picture is drawn from: a run's rows and connections, and its titles. A
/// simulated run and a `get` over a TAP both make one.
pub struct Picture<'a> {
    /// The heading.
    pub title: String,
    /// The line under it: counts, total, the link.
    pub caption: String,
    /// The rows, with their blame stretches.
    pub transactions: &'a [TransactionReport],
    /// Every connection, each host's view, with its congestion window history.
    pub connections: &'a [ConnectionReport],
    /// The transactions without a row.
    pub rows_omitted: Option<&'a RowsOmitted>,
    /// Half the round trip, to scale the packet diagram.
    pub one_way_delay_ns: u64,
    /// Whether the trace has both ends of every segment (the simulator's does; over
    /// a TAP only this host is traced, and there is no packet diagram).
    pub packets: bool,
}

impl<'a> Picture<'a> {
    /// A simulated run.
    pub fn of_run(report: &'a Report) -> Picture<'a> {
        Picture {
            title: report.workload.label.clone(),
            caption: format!(
                "{} ok, {} failed, {:.1} ms ({}); link: {} one way, loss {}, seed {}",
                report.totals.succeeded,
                report.totals.failed,
                report.totals.total_ms,
                report.end,
                svg::ms(report.link.one_way_delay_ns),
                report.link.loss,
                report.seed
            ),
            transactions: &report.transactions,
            connections: &report.connections,
            rows_omitted: report.rows_omitted.as_ref(),
            one_way_delay_ns: report.link.one_way_delay_ns,
            packets: true,
        }
    }

    /// A `get` over a TAP: the waterfall of what this host saw.
    pub fn of_get(report: &'a GetReport) -> Picture<'a> {
        Picture {
            title: format!("get {}", report.workload.urls.join(" ")),
            caption: format!(
                "{} ok, {} failed, {:.1} ms; over the TAP {}, {} added one way, loss {}",
                report.totals.succeeded,
                report.totals.failed,
                report.totals.total_ms,
                report.tap.tap,
                svg::ms(report.tap.added.one_way_delay_ns),
                report.tap.added.loss,
            ),
            transactions: &report.transactions,
            connections: &report.connections,
            rows_omitted: None,
            one_way_delay_ns: report.tap.added.one_way_delay_ns,
            packets: false,
        }
    }
}

impl<'a> Picture<'a> {
    /// `serve` over a TAP: no transactions of its own, the congestion window of
    /// each connection it served.
    pub fn of_serve(report: &'a ServeReport) -> Picture<'a> {
        Picture {
            title: format!("serve on {}", report.tap.tap),
            caption: format!(
                "{} responses on {} connections; {} added one way, loss {}",
                report.responses,
                report.connections.len(),
                svg::ms(report.tap.added.one_way_delay_ns),
                report.tap.added.loss,
            ),
            transactions: &[],
            connections: &report.connections,
            rows_omitted: None,
            one_way_delay_ns: report.tap.added.one_way_delay_ns,
            packets: false,
        }
    }
}

/// The picture of a simulated run: see [`render_picture`].
pub fn render(report: &Report, trace: &TimelineRecorder) -> String {
    render_picture(&Picture::of_run(report), trace)
}

/// The picture of `report` (its rows' blame stretches and connections' windows)
/// and the events `trace` kept: the waterfall on top, the congestion windows on
/// the same time axis under it, the packet diagram last.
pub fn render_picture(report: &Picture<'_>, trace: &TimelineRecorder) -> String {
    // The run's end: its last transaction's, or (a server with no transactions of
    // its own) its connections' last change of window.
    let windows_end = report
        .connections
        .iter()
        .filter_map(|c| c.stats.cwnd_history.last())
        .map(|s| u64::try_from(s.at_us).unwrap_or(0).saturating_mul(1000));
    let end_ns = report
        .transactions
        .iter()
        .filter_map(|t| t.spans.last().map(|s| s.end_ns))
        .chain(windows_end)
        .max()
        .unwrap_or(0)
        .max(1);
    let frame = Frame {
        left: 130.0,
        width: 1100.0,
        end_ns,
    };
    let mut body = Svg::default();
    body.text(
        10.0,
        20.0,
        r#"font-size="15" font-weight="bold""#,
        &report.title,
    );
    body.text(10.0, 38.0, r##"fill="#444""##, &report.caption);
    let mut y = waterfall::draw(&mut body, report, &frame, 52.0);
    let seen = last_seen(trace);
    let host_index = |name: &str| match name {
        "client" => Some(0),
        "server" => Some(1),
        "proxy" => Some(2),
        _ => None,
    };
    let lookup =
        |host: &str, conn: usize| host_index(host).and_then(|h| seen.get(&(h, conn)).copied());
    y = cwnd::draw(&mut body, report, &frame, &lookup, y);
    if report.packets {
        y = packets::draw(&mut body, report, trace, &frame, y);
    } else {
        y += 24.0;
        body.text(
            10.0,
            y,
            r##"fill="#444""##,
            "Over a TAP only this host is traced, not the peer: no packet diagram (--pcap captures both directions).",
        );
        y += 12.0;
    }
    let mut svg = Svg::default();
    svg.line(format_args!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {0} {1}" font-family="sans-serif" font-size="11">"#,
        n(frame.left + frame.width + 40.0),
        n(y),
    ));
    svg.line(format_args!(
        r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="context-stroke"/></marker></defs>"##
    ));
    svg.line(format_args!("<style>{}</style>", packets::STYLE));
    svg.line(format_args!(
        r##"<rect width="100%" height="100%" fill="#fff"/>"##
    ));
    let mut out = svg.finish();
    out.push_str(&body.finish());
    out.push_str("</svg>\n");
    out
}
