//! The congestion window of each connection that sent responses, as a step line on
//! the waterfall's time axis: slow start's doubling per round trip, the halving of
//! fast retransmit and the collapse to one segment after a timeout (RFC 5681 §3.1
//! and §3.2) line up with the bars they slowed.
//!
//! The window changes only at recorded samples ([`CwndSample`]), so the line is
//! drawn as steps, not interpolated.

use tcpknobs_stack::congestion::{CwndSample, UNLIMITED};

use super::svg::{n, Svg};
use super::Frame;
use super::Picture;

const PLOT_H: f64 = 110.0;

/// Line colours, one per connection in turn (the Tableau 10 palette, as the
/// waterfall's causes use it, darker so lines stay visible when thin).
const LINES: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
];

/// A connection's series: label and (time ns, cwnd bytes) steps.
struct Series {
    label: String,
    points: Vec<(u64, u64)>,
    /// Where the last step ends.
    until_ns: u64,
}

fn series(
    report: &Picture<'_>,
    last_seen: &dyn Fn(&str, usize) -> Option<u64>,
    end_ns: u64,
) -> Vec<Series> {
    let mut per_host = std::collections::BTreeMap::<&str, usize>::new();
    let mut out = Vec::new();
    for c in report.connections {
        let index = per_host.entry(c.host).or_insert(0);
        let conn = *index;
        *index += 1;
        // Responses flow from the server (and, through a proxy, from the proxy to
        // the client): those windows are the ones that pace the transfer.
        if c.host == "client" {
            continue;
        }
        let points: Vec<(u64, u64)> = c
            .stats
            .cwnd_history
            .iter()
            .filter(|s: &&CwndSample| s.cwnd != UNLIMITED)
            .map(|s| {
                (
                    u64::try_from(s.at_us).unwrap_or(0).saturating_mul(1000),
                    s.cwnd,
                )
            })
            .collect();
        let Some(&(last_at, _)) = points.last() else {
            continue;
        };
        let until_ns = last_seen(c.host, conn)
            .unwrap_or(end_ns)
            .max(last_at)
            .min(end_ns.max(last_at));
        out.push(Series {
            label: format!("{} connection {conn}", c.host),
            points,
            until_ns,
        });
    }
    out
}

/// Draw the chart with its top at `y` and return the y below it; nothing when no
/// connection recorded a window. `last_seen(host, conn)` is when that connection was
/// last seen in the trace, where its line stops.
pub(crate) fn draw(
    svg: &mut Svg,
    report: &Picture<'_>,
    frame: &Frame,
    last_seen: &dyn Fn(&str, usize) -> Option<u64>,
    y: f64,
) -> f64 {
    let all = series(report, last_seen, frame.end_ns);
    if all.is_empty() {
        return y;
    }
    let max = all
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(1)
        .max(1);
    let mut y = y;
    svg.text(
        frame.left,
        y + 12.0,
        r#"font-size="13" font-weight="bold""#,
        "Congestion window of the sending side (bytes, step line per connection)",
    );
    y += 22.0;
    let top = y;
    let bottom = y + PLOT_H;
    let yv = |v: u64| bottom - PLOT_H * v as f64 / max as f64;
    // The y axis: 0, half and the maximum, in kB.
    for v in [0, max / 2, max] {
        svg.line(format_args!(
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ddd"/>"##,
            n(frame.left),
            n(yv(v)),
            n(frame.left + frame.width),
            n(yv(v))
        ));
        svg.text(
            frame.left - 6.0,
            yv(v) + 4.0,
            r#"text-anchor="end" font-size="10""#,
            &bytes(v),
        );
    }
    for (i, s) in all.iter().enumerate() {
        let mut d = String::new();
        for (k, &(at, cwnd)) in s.points.iter().enumerate() {
            let x = frame.x(at);
            if k == 0 {
                d.push_str(&format!("M{} {}", n(x), n(yv(cwnd))));
            } else {
                d.push_str(&format!("H{}V{}", n(x), n(yv(cwnd))));
            }
        }
        d.push_str(&format!("H{}", n(frame.x(s.until_ns))));
        svg.line(format_args!(
            r#"<path class="cwnd" d="{d}" fill="none" stroke="{}" stroke-width="1.2"><title>{}: up to {}</title></path>"#,
            LINES[i % LINES.len()],
            s.label,
            bytes(s.points.iter().map(|p| p.1).max().unwrap_or(0))
        ));
    }
    frame.axis(svg, top, bottom);
    bottom + 30.0
}

/// Bytes as an axis label: kB below a megabyte, MB above.
fn bytes(v: u64) -> String {
    if v >= 1_000_000 {
        format!("{:.1} MB", v as f64 / 1e6)
    } else {
        format!("{:.1} kB", v as f64 / 1e3)
    }
}
