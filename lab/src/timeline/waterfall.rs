//! The waterfall: WebPageTest's connection view. One row per client connection,
//! time to the right; each transaction is a bar split into its blame stretches and
//! coloured by cause, so a glance shows which connection waited on what.
//!
//! A transaction's time before its connection took it (the leading `queued`
//! stretch) is drawn as a thin strip on top of the row rather than a full bar: on a
//! persistent connection every request is queued from the start, and full bars
//! would hide each other. Transactions that really overlap on one connection
//! (pipelining) get a track each within the row.

use tcpknobs_http::blame::{BlameSpan, Cause};
use tcpknobs_http::transaction::TransactionReport;

use super::svg::{esc, ms, n, Svg};
use super::Picture;
use super::{colour, Frame};

const BAR_H: f64 = 14.0;
const STRIP_H: f64 = 3.0;
const GAP: f64 = 4.0;

/// One transaction's bar: the leading queued stretches and the rest.
struct Bar<'a> {
    t: &'a TransactionReport,
    queued: &'a [BlameSpan],
    body: &'a [BlameSpan],
}

impl<'a> Bar<'a> {
    fn of(t: &'a TransactionReport) -> Bar<'a> {
        let split = t
            .spans
            .iter()
            .position(|s| s.cause != Cause::Queued)
            .unwrap_or(t.spans.len());
        let (queued, body) = t.spans.split_at(split);
        Bar { t, queued, body }
    }

    fn start(&self) -> u64 {
        self.body.first().map_or(0, |s| s.start_ns)
    }

    fn end(&self) -> u64 {
        self.body.last().map_or(0, |s| s.end_ns)
    }
}

/// A connection's row: its bars by track.
struct Row<'a> {
    label: String,
    tracks: Vec<Vec<Bar<'a>>>,
}

/// The rows of `report`, client connections in index order, transactions that
/// never got a connection last.
fn rows<'a>(report: &Picture<'a>) -> Vec<Row<'a>> {
    let mut conns: Vec<Option<usize>> = report.transactions.iter().map(|t| t.connection).collect();
    // `None` sorts first; the unconnected row goes last.
    conns.sort_unstable_by_key(|c| (c.is_none(), *c));
    conns.dedup();
    conns
        .into_iter()
        .map(|conn| {
            let mut bars: Vec<Bar<'_>> = report
                .transactions
                .iter()
                .filter(|t| t.connection == conn)
                .map(Bar::of)
                .collect();
            bars.sort_by_key(|b| (b.start(), b.t.id));
            let mut tracks: Vec<Vec<Bar<'_>>> = Vec::new();
            for bar in bars {
                let free = tracks
                    .iter()
                    .position(|tr| tr.last().is_none_or(|last| last.end() <= bar.start()));
                match free {
                    Some(i) => tracks[i].push(bar),
                    None => tracks.push(vec![bar]),
                }
            }
            if tracks.is_empty() {
                tracks.push(Vec::new());
            }
            Row {
                label: match conn {
                    Some(c) => format!("connection {c}"),
                    None => "no connection".to_string(),
                },
                tracks,
            }
        })
        .collect()
}

/// The causes with a stretch in some transaction, in [`Cause::ALL`] order.
pub(crate) fn causes_present(report: &Picture<'_>) -> Vec<Cause> {
    Cause::ALL
        .into_iter()
        .filter(|c| {
            report
                .transactions
                .iter()
                .any(|t| t.spans.iter().any(|s| s.cause == *c))
        })
        .collect()
}

/// Draw the waterfall with its top at `y`, and return the y below it.
pub(crate) fn draw(svg: &mut Svg, report: &Picture<'_>, frame: &Frame, y: f64) -> f64 {
    let mut y = y;
    svg.text(
        frame.left,
        y + 12.0,
        r#"font-size="13" font-weight="bold""#,
        "Transactions by connection (waterfall; colour: where the time went)",
    );
    y += 22.0;
    let rows = rows(report);
    let top = y;
    if let Some(omitted) = report.rows_omitted {
        svg.text(
            frame.left,
            y + 12.0,
            r##"fill="#666""##,
            &format!(
                "{} transactions have no row and are not drawn ({})",
                omitted.count, omitted.hint
            ),
        );
        y += 20.0;
    } else if report.transactions.is_empty() {
        svg.text(frame.left, y + 12.0, r##"fill="#666""##, "no transactions");
        y += 20.0;
    }
    let with_spans = report.transactions.iter().any(|t| !t.spans.is_empty());
    if !report.transactions.is_empty() && !with_spans {
        svg.text(
            frame.left,
            y + 12.0,
            r##"fill="#666""##,
            "the run kept no blame: the bars need it",
        );
        y += 20.0;
    }
    for (i, row) in rows.iter().enumerate() {
        let h = STRIP_H + 1.0 + BAR_H * row.tracks.len() as f64 + GAP;
        if i % 2 == 1 {
            svg.line(format_args!(
                r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#f4f4f4"/>"##,
                n(0.0),
                n(y - 1.0),
                n(frame.left + frame.width),
                n(h)
            ));
        }
        svg.text(8.0, y + 4.0 + BAR_H * 0.75, "", &row.label);
        for (k, track) in row.tracks.iter().enumerate() {
            let ty = y + STRIP_H + 1.0 + BAR_H * k as f64;
            for bar in track {
                draw_bar(svg, frame, bar, y, ty);
            }
        }
        y += h;
    }
    frame.axis(svg, top, y);
    y += 26.0;
    legend(svg, report, frame, y)
}

/// One transaction: its queued strip, its stretches, and its id.
fn draw_bar(svg: &mut Svg, frame: &Frame, bar: &Bar<'_>, strip_y: f64, y: f64) {
    let id = bar.t.id;
    for (s, top, h) in bar
        .queued
        .iter()
        .map(|s| (s, strip_y, STRIP_H))
        .chain(bar.body.iter().map(|s| (s, y, BAR_H - 2.0)))
    {
        let x0 = frame.x(s.start_ns);
        let w = (frame.x(s.end_ns) - x0).max(0.5);
        svg.line(format_args!(
            r#"<rect class="span" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>#{id} {} {}</title></rect>"#,
            n(x0),
            n(top),
            n(w),
            n(h),
            colour(s.cause),
            s.cause.name(),
            ms(s.end_ns.saturating_sub(s.start_ns)),
        ));
    }
    if let Some(first) = bar.body.first().or(bar.queued.first()) {
        let failed = bar.t.error.as_deref().map(|e| format!(" failed: {e}"));
        svg.line(format_args!(
            r##"<text class="txid" x="{}" y="{}" font-size="10" stroke="#fff" stroke-width="2.5" paint-order="stroke">#{id}{}</text>"##,
            n(frame.x(first.start_ns) + 2.0),
            n(y + BAR_H - 4.5),
            esc(failed.as_deref().unwrap_or("")),
        ));
    }
}

/// The legend: one swatch per cause present, wrapped to the picture's width.
fn legend(svg: &mut Svg, report: &Picture<'_>, frame: &Frame, y: f64) -> f64 {
    let causes = causes_present(report);
    if causes.is_empty() {
        return y;
    }
    let (mut x, mut y) = (frame.left, y);
    for cause in causes {
        let w = 24.0 + 6.5 * cause.name().len() as f64;
        if x + w > frame.left + frame.width {
            x = frame.left;
            y += 16.0;
        }
        svg.line(format_args!(
            r#"<g class="legend"><rect x="{}" y="{}" width="12" height="10" fill="{}"/><text x="{}" y="{}">{}</text></g>"#,
            n(x),
            n(y),
            colour(cause),
            n(x + 16.0),
            n(y + 9.0),
            cause.name()
        ));
        x += w;
    }
    y + 22.0
}
