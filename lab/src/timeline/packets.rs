//! The packet sequence diagram, in the manner of Wireshark's flow graph and the
//! ladder diagrams of TCP textbooks: one vertical lane per host (client, proxy,
//! server), time running downwards, every segment an arrow from its sender's lane
//! at the moment it left to the receiver's lane at the moment the link delivered
//! it. A lost frame's arrow stops halfway under a cross.
//!
//! The vertical scale is ordered by events rather than linear in time: every
//! distinct instant gets its own line, and the space between two instants grows
//! with the logarithm of the time between them. A linear scale would stack a burst
//! of segments sent within microseconds onto one pixel and spend most of the page
//! on idle round trips; this one keeps order, separates every instant, and still
//! shows a 40 ms delayed-ACK wait as longer than a 12 µs serialization. The ms
//! labels on the left are the clock.
//!
//! Holds are brackets beside a host's lane, from when they began to when they
//! ended: a delayed ACK owed (RFC 1122 §4.2.3.2), Nagle's algorithm (RFC 896)
//! holding a small segment, a full congestion or receive window. They use the
//! waterfall's colours for the causes they lead to.

use std::collections::BTreeMap;

use tcpknobs_http::blame::Cause;
use tcpknobs_stack::trace::{
    Event, EventKind, Hold, LinkFate, SegmentInfo, SendReason, StatelessReason,
};

use super::svg::{esc, ms, n, Svg};
use super::Picture;
use super::{colour, Frame, TimelineRecorder, MAX_EVENTS};

/// How arrows, their labels and crosses look: one rule each rather than the same
/// attributes on every one of hundreds of elements.
pub(crate) const STYLE: &str = ".seg{stroke:#222;marker-end:url(#arrow)}.seg.a{stroke:#999}.seg.c{stroke:#1f77b4}.seg.r{stroke:#d62728;stroke-dasharray:5 3}.seg.x{marker-end:none}.lbl{font-size:9px;text-anchor:middle;fill:#222;stroke:#fff;stroke-width:2.5px;paint-order:stroke}.lbl.a{fill:#888}.lbl.c{fill:#1f77b4}.lbl.r{fill:#d62728}.lost{stroke:#d62728;stroke-width:2}";

/// The most segments the diagram draws; beyond that it covers only the start of
/// the run, which is where handshakes, slow start and the first losses are.
pub const MAX_DRAWN: usize = 300;

/// One segment and what the link did with it.
#[derive(Clone, Debug)]
pub(crate) struct Seg {
    pub(crate) from: usize,
    pub(crate) to: usize,
    /// The connection it was sent for; `None` for a segment sent for none.
    pub(crate) conn: Option<usize>,
    pub(crate) sent_ns: u64,
    /// Delivery time; `None` when the link dropped it.
    pub(crate) arrival_ns: Option<u64>,
    /// Where a lost frame would have been, for placing its cross.
    pub(crate) would_arrive_ns: u64,
    pub(crate) fate: &'static str,
    pub(crate) info: SegmentInfo,
    pub(crate) why: Why,
}

/// Why a drawn segment was sent: for a connection, or for none (its `conn` is then
/// `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    Conn(SendReason),
    Stateless(StatelessReason),
}

/// What the link did with each frame, by (sending host, frame): (the receiving host,
/// when its serialization ended, its fate).
type Links = BTreeMap<(usize, u64), (usize, u64, LinkFate)>;

impl Seg {
    /// Segment `info`, sent in `e` as frame `frame`, with what the link did to it;
    /// `None` if no link event names the frame.
    fn on_link(
        e: &Event,
        frame: u64,
        conn: Option<usize>,
        info: SegmentInfo,
        why: Why,
        links: &Links,
        one_way_ns: u64,
    ) -> Option<Seg> {
        let &(to, ser_end, fate) = links.get(&(e.host, frame))?;
        let (arrival_ns, fate) = match fate {
            LinkFate::Delivered { arrival_ns } => (Some(arrival_ns), "delivered"),
            LinkFate::Lost => (None, "lost"),
            LinkFate::QueueFull => (None, "queue full"),
            LinkFate::Oversize => (None, "oversize"),
            LinkFate::Fault => (None, "fault"),
        };
        Some(Seg {
            from: e.host,
            to,
            conn,
            sent_ns: e.at_ns,
            arrival_ns,
            would_arrive_ns: ser_end.max(e.at_ns).saturating_add(one_way_ns),
            fate,
            info,
            why,
        })
    }

    /// Sent again: drawn dashed and red.
    fn retransmission(&self) -> bool {
        match self.why {
            Why::Conn(why) => why == SendReason::SynRetransmit || why.resends_data(),
            Why::Stateless(_) => false,
        }
    }

    /// The arrow's short label: flags or payload length, and why when it explains.
    pub(crate) fn label(&self) -> String {
        let s = &self.info;
        let what = if s.rst {
            "RST".to_string()
        } else if s.syn {
            if s.ack.is_some() { "SYN-ACK" } else { "SYN" }.to_string()
        } else {
            let mut parts = Vec::new();
            if s.len > 0 {
                parts.push(s.len.to_string());
            }
            if s.fin {
                parts.push("FIN".to_string());
            }
            if parts.is_empty() {
                parts.push("ACK".to_string());
            }
            parts.join(" ")
        };
        let why = match self.why {
            Why::Conn(why) => why,
            Why::Stateless(StatelessReason::SynCookie) => return format!("{what} cookie"),
            Why::Stateless(StatelessReason::Rst) => return what,
        };
        match why {
            SendReason::SynRetransmit | SendReason::Retransmit => format!("{what} rtx"),
            SendReason::Rto => format!("{what} RTO"),
            SendReason::FastRetransmit => format!("{what} fast rtx"),
            SendReason::PartialAck => format!("{what} partial-ACK rtx"),
            SendReason::SackHole => format!("{what} SACK rtx"),
            SendReason::DelayedAck => format!("delayed {what}"),
            SendReason::DuplicateAck => format!("dup {what}"),
            SendReason::WindowUpdate => format!("{what} win update"),
            SendReason::TimeWaitAck => format!("{what} TIME_WAIT"),
            SendReason::Syn | SendReason::NewData | SendReason::Ack | SendReason::Rst => what,
        }
    }
}

/// A stretch a host held something back on a connection.
#[derive(Clone, Debug)]
pub(crate) struct Bracket {
    pub(crate) host: usize,
    pub(crate) conn: usize,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) label: &'static str,
    pub(crate) cause: Cause,
}

/// The hold reasons drawn, their labels and the cause whose colour they take.
fn hold_style(hold: Hold) -> Option<(&'static str, Cause)> {
    match hold {
        Hold::Nagle => Some(("Nagle", Cause::Nagle)),
        Hold::Minshall => Some(("Minshall", Cause::Nagle)),
        Hold::CongestionWindow => Some(("cwnd full", Cause::SlowStart)),
        Hold::ReceiveWindow => Some(("rwnd full", Cause::ReceiveWindow)),
        Hold::Cork => Some(("cork", Cause::Other)),
        Hold::SendBuffer => Some(("send buffer", Cause::Other)),
        // The handshake shows as SYN arrows; unexplained holds have nothing to say.
        Hold::Handshake | Hold::Other => None,
    }
}

/// Everything the diagram can draw, from the kept events.
pub(crate) struct Trace {
    pub(crate) segs: Vec<Seg>,
    pub(crate) brackets: Vec<Bracket>,
}

impl Trace {
    /// Pair each segment with its link event and close each hold, using
    /// `one_way_ns` to place lost frames.
    pub(crate) fn of(recorder: &TimelineRecorder, one_way_ns: u64) -> Trace {
        let events = recorder.events();
        let mut links = Links::new();
        for e in events {
            if let EventKind::Link {
                frame,
                to,
                serialization_end_ns,
                fate,
                ..
            } = &e.kind
            {
                links.insert((e.host, *frame), (*to, *serialization_end_ns, *fate));
            }
        }
        let mut segs = Vec::new();
        let mut brackets = Vec::new();
        let mut owed: BTreeMap<(usize, usize), u64> = BTreeMap::new();
        let mut held: BTreeMap<(usize, usize), (u64, Hold)> = BTreeMap::new();
        let end_ns = events.last().map_or(0, |e| e.at_ns);
        for e in events {
            match &e.kind {
                EventKind::SegmentOut {
                    conn,
                    frame,
                    seg,
                    why,
                } => {
                    let why = Why::Conn(*why);
                    segs.extend(Seg::on_link(
                        e,
                        *frame,
                        Some(conn.0),
                        *seg,
                        why,
                        &links,
                        one_way_ns,
                    ));
                }
                EventKind::StatelessSegmentOut {
                    frame, seg, why, ..
                } => {
                    let why = Why::Stateless(*why);
                    segs.extend(Seg::on_link(e, *frame, None, *seg, why, &links, one_way_ns));
                }
                EventKind::AckOwed { conn, owed: now } => {
                    let key = (e.host, conn.0);
                    if *now {
                        owed.entry(key).or_insert(e.at_ns);
                    } else if let Some(start_ns) = owed.remove(&key) {
                        brackets.push(Bracket {
                            host: e.host,
                            conn: conn.0,
                            start_ns,
                            end_ns: e.at_ns,
                            label: "ACK owed",
                            cause: Cause::DelayedAck,
                        });
                    }
                }
                EventKind::Hold { conn, hold } => {
                    let key = (e.host, conn.0);
                    let before = held.remove(&key);
                    if let Some((start_ns, h)) = before {
                        if hold == &Some(h) {
                            held.insert(key, (start_ns, h));
                            continue;
                        }
                        if let Some((label, cause)) = hold_style(h) {
                            brackets.push(Bracket {
                                host: e.host,
                                conn: conn.0,
                                start_ns,
                                end_ns: e.at_ns,
                                label,
                                cause,
                            });
                        }
                    }
                    if let Some(h) = hold {
                        held.insert(key, (e.at_ns, *h));
                    }
                }
                _ => {}
            }
        }
        // Still open when the trace ends: drawn to its end.
        for ((host, conn), start_ns) in owed {
            brackets.push(Bracket {
                host,
                conn,
                start_ns,
                end_ns: end_ns.max(start_ns),
                label: "ACK owed",
                cause: Cause::DelayedAck,
            });
        }
        for ((host, conn), (start_ns, h)) in held {
            if let Some((label, cause)) = hold_style(h) {
                brackets.push(Bracket {
                    host,
                    conn,
                    start_ns,
                    end_ns: end_ns.max(start_ns),
                    label,
                    cause,
                });
            }
        }
        brackets.sort_by_key(|b| (b.start_ns, b.host, b.conn, b.end_ns));
        Trace { segs, brackets }
    }

    /// Segments drawn: all of them, or those sent before the returned time, chosen
    /// so that at most [`MAX_DRAWN`] are.
    pub(crate) fn window(&self) -> (&[Seg], Option<u64>) {
        if self.segs.len() <= MAX_DRAWN {
            return (&self.segs, None);
        }
        let cut = self.segs[MAX_DRAWN].sent_ns;
        let drawn = self.segs.partition_point(|s| s.sent_ns < cut);
        if drawn == 0 {
            // More than MAX_DRAWN at the first instant: the first ones, in order.
            return (&self.segs[..MAX_DRAWN], Some(cut.saturating_add(1)));
        }
        (&self.segs[..drawn], Some(cut))
    }
}

/// An event-ordered time scale: each distinct instant its own y.
struct Scale {
    instants: Vec<(u64, f64)>,
}

impl Scale {
    fn new(mut times: Vec<u64>, top: f64) -> Scale {
        times.sort_unstable();
        times.dedup();
        let mut instants = Vec::with_capacity(times.len());
        let mut y = top;
        let mut prev: Option<u64> = None;
        for t in times {
            if let Some(p) = prev {
                let dt_us = (t - p) as f64 / 1000.0;
                y += 3.0 + 5.0 * (1.0 + dt_us / 100.0).log10();
            }
            instants.push((t, y));
            prev = Some(t);
        }
        Scale { instants }
    }

    /// The y of `t`, between its neighbours when it is not an instant of its own.
    fn y(&self, t: u64) -> f64 {
        let i = self.instants.partition_point(|&(at, _)| at < t);
        match (
            i.checked_sub(1).and_then(|p| self.instants.get(p)),
            self.instants.get(i),
        ) {
            (_, Some(&(at, y))) if at == t => y,
            (Some(&(a, ya)), Some(&(b, yb))) => {
                ya + (yb - ya) * (t - a) as f64 / (b - a).max(1) as f64
            }
            (None, Some(&(_, y))) => y,
            (Some(&(_, y)), None) => y,
            (None, None) => 0.0,
        }
    }

    fn bottom(&self) -> f64 {
        self.instants.last().map_or(0.0, |&(_, y)| y)
    }
}

/// Where each host's lane is: client left, proxy in the middle, server right.
fn lanes(hosts: &[usize], frame: &Frame) -> BTreeMap<usize, f64> {
    let (l, r) = (frame.left + 170.0, frame.left + frame.width - 170.0);
    let order: Vec<usize> = [0, 2, 1]
        .into_iter()
        .filter(|h| hosts.contains(h))
        .chain(hosts.iter().copied().filter(|h| *h > 2))
        .collect();
    let k = order.len().saturating_sub(1).max(1) as f64;
    order
        .iter()
        .enumerate()
        .map(|(i, h)| (*h, l + (r - l) * i as f64 / k))
        .collect()
}

fn host_name(host: usize) -> String {
    match host {
        0 => "client".to_string(),
        1 => "server".to_string(),
        2 => "proxy".to_string(),
        h => format!("host {h}"),
    }
}

/// Draw the diagram with its top at `y`; return the y below it.
pub(crate) fn draw(
    svg: &mut Svg,
    report: &Picture<'_>,
    recorder: &TimelineRecorder,
    frame: &Frame,
    y: f64,
) -> f64 {
    let trace = Trace::of(recorder, report.one_way_delay_ns);
    let (drawn, cut) = trace.window();
    let mut y = y;
    svg.text(
        frame.left,
        y + 12.0,
        r#"font-size="13" font-weight="bold""#,
        "Packets (sequence diagram; time runs down, each instant its own line)",
    );
    y += 18.0;
    let mut captions = Vec::new();
    match cut {
        Some(cut) => captions.push(format!(
            "Only the first {} of the run: {} of the {} segments the trace kept (the waterfall above covers the whole run).",
            ms(cut),
            drawn.len(),
            trace.segs.len()
        )),
        None => captions.push(format!("All {} segments of the run.", drawn.len())),
    }
    if let Some(at) = recorder.truncated_at_ns() {
        captions.push(format!(
            "The trace kept its first {MAX_EVENTS} events, up to {}: later segments are not in it.",
            ms(at)
        ));
    }
    captions.push(
        "Red dashed: retransmission. Grey: bare ACK. A cross: lost on the link. Brackets beside a lane: what that host held back (ACK owed, Nagle, cwnd full).".to_string(),
    );
    for c in &captions {
        svg.text(frame.left, y + 12.0, r##"fill="#444""##, c);
        y += 15.0;
    }
    if drawn.is_empty() {
        svg.text(frame.left, y + 14.0, r##"fill="#666""##, "no segments");
        return y + 30.0;
    }
    let limit = cut.unwrap_or(u64::MAX);
    let mut hosts: Vec<usize> = drawn.iter().flat_map(|s| [s.from, s.to]).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let lane = lanes(&hosts, frame);
    let last_drawn = drawn
        .iter()
        .map(|s| s.arrival_ns.unwrap_or(s.would_arrive_ns).max(s.sent_ns))
        .max()
        .unwrap_or(0);
    let shown_until = last_drawn.max(cut.unwrap_or(0));
    let brackets: Vec<&Bracket> = trace
        .brackets
        .iter()
        .filter(|b| b.start_ns < limit && lane.contains_key(&b.host))
        .collect();
    let mut times: Vec<u64> = drawn
        .iter()
        .flat_map(|s| [s.sent_ns, s.arrival_ns.unwrap_or(s.would_arrive_ns)])
        .collect();
    times.extend(
        brackets
            .iter()
            .flat_map(|b| [b.start_ns, b.end_ns.min(shown_until)]),
    );
    let head = y + 24.0;
    let scale = Scale::new(times, head + 12.0);
    let bottom = scale.bottom() + 12.0;
    for (h, x) in &lane {
        svg.text(
            *x,
            head,
            r#"text-anchor="middle" font-weight="bold""#,
            &host_name(*h),
        );
        svg.line(format_args!(
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#444" stroke-width="1.5"/>"##,
            n(*x),
            n(head + 5.0),
            n(bottom)
        ));
    }
    clock(svg, &scale, frame);
    for b in &brackets {
        bracket(svg, b, &lane, &scale, shown_until);
    }
    let mut labels = Labels::default();
    for s in drawn {
        arrow(svg, s, &lane, &scale, &mut labels);
    }
    bottom + 20.0
}

/// The ms labels down the left edge, at instants far enough apart to read.
fn clock(svg: &mut Svg, scale: &Scale, frame: &Frame) {
    let mut last = f64::NEG_INFINITY;
    for &(t, y) in &scale.instants {
        if y - last < 14.0 {
            continue;
        }
        last = y;
        svg.line(format_args!(
            r##"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#ccc"/>"##,
            n(frame.left - 4.0),
            n(y),
            n(frame.left + 4.0),
        ));
        svg.text(
            frame.left - 8.0,
            y + 3.5,
            r##"text-anchor="end" font-size="10" fill="#555""##,
            &format!("{:.3} ms", t as f64 / 1e6),
        );
    }
}

/// Label places taken, so that labels do not print over each other; a label that
/// does not fit is left to the arrow's tooltip.
#[derive(Default)]
struct Labels {
    placed: Vec<(f64, f64)>,
}

impl Labels {
    fn take(&mut self, x: f64, y: f64) -> bool {
        let clash = self
            .placed
            .iter()
            .rev()
            .take(40)
            .any(|&(px, py)| (px - x).abs() < 70.0 && (py - y).abs() < 10.0);
        if !clash {
            self.placed.push((x, y));
        }
        !clash
    }
}

fn arrow(svg: &mut Svg, s: &Seg, lane: &BTreeMap<usize, f64>, scale: &Scale, labels: &mut Labels) {
    let (Some(&x1), Some(&x2)) = (lane.get(&s.from), lane.get(&s.to)) else {
        return;
    };
    let y1 = scale.y(s.sent_ns);
    let y2 = scale.y(s.arrival_ns.unwrap_or(s.would_arrive_ns));
    let bare_ack = s.info.len == 0 && !s.info.syn && !s.info.fin && !s.info.rst;
    // The look is in the stylesheet ([`STYLE`]): data, bare ACK, control, resent.
    let kind = if s.retransmission() {
        "r"
    } else if bare_ack {
        "a"
    } else if s.info.syn || s.info.fin || s.info.rst {
        "c"
    } else {
        "d"
    };
    let label = s.label();
    let title = format!(
        "{}→{} {}: {}, seq {}{}, win {}; {}→{}",
        host_name(s.from),
        host_name(s.to),
        s.conn
            .map_or_else(|| "no connection".to_string(), |c| format!("conn {c}")),
        label,
        s.info.seq,
        s.info.ack.map(|a| format!(" ack {a}")).unwrap_or_default(),
        s.info.window,
        ms(s.sent_ns),
        s.arrival_ns.map_or_else(|| s.fate.to_string(), ms),
    );
    let (ex, ey, lost) = match s.arrival_ns {
        Some(_) => (x2, y2, ""),
        None => ((x1 + x2) / 2.0, (y1 + y2) / 2.0, " x"),
    };
    svg.line(format_args!(
        r#"<line class="seg {kind}{lost}" x1="{}" y1="{}" x2="{}" y2="{}"><title>{}</title></line>"#,
        n(x1),
        n(y1),
        n(ex),
        n(ey),
        esc(&title)
    ));
    if s.arrival_ns.is_none() {
        svg.line(format_args!(
            r#"<path class="lost" d="M{} {}l8 8m0 -8l-8 8"><title>{} {}</title></path>"#,
            n(ex - 4.0),
            n(ey - 4.0),
            esc(&label),
            s.fate
        ));
    }
    // The label sits on the arrow near the sender, so the labels of a burst fan
    // out with the arrows.
    let (lx, ly) = (x1 + (ex - x1) * 0.3, y1 + (ey - y1) * 0.3 - 2.0);
    if labels.take(lx, ly) {
        svg.line(format_args!(
            r#"<text class="lbl {kind}" x="{}" y="{}">{}</text>"#,
            n(lx),
            n(ly),
            esc(&label)
        ));
    }
}

fn bracket(
    svg: &mut Svg,
    b: &Bracket,
    lane: &BTreeMap<usize, f64>,
    scale: &Scale,
    shown_until: u64,
) {
    let Some(&x) = lane.get(&b.host) else {
        return;
    };
    // The client's brackets hang left of its lane, everyone else's right, one
    // column per connection so that concurrent holds stay apart.
    let side = if b.host == 0 { -1.0 } else { 1.0 };
    let bx = x + side * (6.0 + 5.0 * (b.conn % 8) as f64);
    let y1 = scale.y(b.start_ns);
    let y2 = scale.y(b.end_ns.min(shown_until)).max(y1 + 1.0);
    let c = colour(b.cause);
    svg.line(format_args!(
        r#"<path class="hold" d="M{} {}h{}V{}h{}" fill="none" stroke="{c}" stroke-width="1.5"><title>{} on {} connection {}: {} ({} to {})</title></path>"#,
        n(bx - side * 3.0),
        n(y1),
        n(side * 3.0),
        n(y2),
        n(-side * 3.0),
        b.label,
        host_name(b.host),
        b.conn,
        ms(b.end_ns.saturating_sub(b.start_ns)),
        ms(b.start_ns),
        ms(b.end_ns),
    ));
    if y2 - y1 >= 12.0 {
        let anchor = if side < 0.0 { "end" } else { "start" };
        svg.line(format_args!(
            r#"<text x="{}" y="{}" text-anchor="{anchor}" font-size="9" fill="{c}">{}</text>"#,
            n(bx + side * (48.0 - 5.0 * (b.conn % 8) as f64)),
            n((y1 + y2) / 2.0 + 3.0),
            b.label
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(info: SegmentInfo, why: SendReason) -> Seg {
        Seg {
            why: Why::Conn(why),
            ..stateless(info, StatelessReason::Rst)
        }
    }

    fn stateless(info: SegmentInfo, why: StatelessReason) -> Seg {
        Seg {
            from: 0,
            to: 1,
            conn: None,
            sent_ns: 0,
            arrival_ns: Some(1),
            would_arrive_ns: 1,
            fate: "delivered",
            info,
            why: Why::Stateless(why),
        }
    }

    const BARE: SegmentInfo = SegmentInfo {
        seq: 1,
        ack: Some(1),
        len: 0,
        syn: false,
        fin: false,
        rst: false,
        window: 100,
    };

    #[test]
    fn labels_are_short_and_say_why() {
        let syn = SegmentInfo {
            syn: true,
            ack: None,
            ..BARE
        };
        assert_eq!(seg(syn, SendReason::Syn).label(), "SYN");
        let syn_ack = SegmentInfo { syn: true, ..BARE };
        assert_eq!(
            seg(syn_ack, SendReason::SynRetransmit).label(),
            "SYN-ACK rtx"
        );
        assert_eq!(seg(BARE, SendReason::Ack).label(), "ACK");
        assert_eq!(seg(BARE, SendReason::DelayedAck).label(), "delayed ACK");
        let data = SegmentInfo { len: 1460, ..BARE };
        assert_eq!(seg(data, SendReason::Rto).label(), "1460 RTO");
        assert_eq!(
            seg(data, SendReason::FastRetransmit).label(),
            "1460 fast rtx"
        );
        let fin = SegmentInfo { fin: true, ..data };
        assert_eq!(seg(fin, SendReason::NewData).label(), "1460 FIN");
        let rst = SegmentInfo { rst: true, ..BARE };
        assert_eq!(seg(rst, SendReason::Rst).label(), "RST");
        assert_eq!(
            stateless(syn_ack, StatelessReason::SynCookie).label(),
            "SYN-ACK cookie"
        );
        assert_eq!(stateless(rst, StatelessReason::Rst).label(), "RST");
    }

    #[test]
    fn the_scale_keeps_order_and_separates_instants() {
        let s = Scale::new(vec![0, 10, 10, 40_000_000, 5], 100.0);
        assert_eq!(s.instants.len(), 4);
        assert_eq!(s.y(0), 100.0);
        assert!(s.y(5) > s.y(0) && s.y(10) > s.y(5));
        // A time between instants falls between them; outside, at the ends.
        assert!(s.y(20_000_000) > s.y(10) && s.y(20_000_000) < s.y(40_000_000));
        assert_eq!(s.y(u64::MAX), s.bottom());
        assert_eq!(Scale::new(Vec::new(), 0.0).y(7), 0.0);
    }
}
