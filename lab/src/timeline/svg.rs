//! Writing SVG by hand: escaped text, rounded numbers, time axes.
//!
//! The picture is plain SVG 1.1 with no script and no external resource, so any
//! browser or image viewer opens it. Coordinates are rounded to a tenth of a
//! pixel: finer is invisible and only makes the file larger, and a fixed format
//! keeps the output byte-for-byte the same for the same run.

use std::fmt::Write as _;

/// An SVG document being written.
#[derive(Debug, Default)]
pub(crate) struct Svg {
    out: String,
}

impl Svg {
    /// Append one raw line (already well-formed markup).
    pub(crate) fn line(&mut self, markup: std::fmt::Arguments<'_>) {
        let _ = self.out.write_fmt(markup);
        self.out.push('\n');
    }

    /// A text element at `(x, y)` with extra attributes `attrs` (markup).
    pub(crate) fn text(&mut self, x: f64, y: f64, attrs: &str, text: &str) {
        self.line(format_args!(
            r#"<text x="{}" y="{}"{}{attrs}>{}</text>"#,
            n(x),
            n(y),
            if attrs.is_empty() { "" } else { " " },
            esc(text)
        ));
    }

    /// Finish the document.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Escape text for SVG character data and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in
            // XML 1.0 at all, escaped or not.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate or length, rounded to 0.1 and written without a trailing `.0`;
/// anything not finite is written as 0 so the document stays valid.
pub(crate) fn n(x: f64) -> String {
    if !x.is_finite() {
        return "0".to_string();
    }
    let tenths = (x * 10.0).round();
    let tenths = if tenths == 0.0 { 0.0 } else { tenths };
    if tenths % 10.0 == 0.0 {
        format!("{}", tenths / 10.0)
    } else {
        format!("{:.1}", tenths / 10.0)
    }
}

/// Milliseconds as a label: whole ms when large, more digits when small.
pub(crate) fn ms(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.3} ms")
    }
}

/// Tick spacing for an axis spanning `span_ns`: 1, 2 or 5 times a power of ten
/// ms (or of ns below a ms), the convention of plotting libraries, so that there are
/// between about 5 and 12 ticks.
pub(crate) fn tick_step_ns(span_ns: u64) -> u64 {
    let span = span_ns.max(1) as f64;
    let mut step = 1.0_f64;
    while span / step > 12.0 {
        let decade = step;
        step = if span / (2.0 * decade) <= 12.0 {
            2.0 * decade
        } else if span / (5.0 * decade) <= 12.0 {
            5.0 * decade
        } else {
            10.0 * decade
        };
    }
    step as u64
}

/// Tick label for `ns` when ticks are `step_ns` apart: enough decimals to tell
/// neighbours apart.
pub(crate) fn tick_label(ns: u64, step_ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    let decimals = match step_ns {
        s if s >= 1_000_000 => 0,
        s if s >= 100_000 => 1,
        s if s >= 10_000 => 2,
        _ => 3,
    };
    format!("{ms:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_rounded() {
        assert_eq!(n(1.0), "1");
        assert_eq!(n(1.04), "1");
        assert_eq!(n(1.06), "1.1");
        assert_eq!(n(-0.01), "0");
        assert_eq!(n(f64::NAN), "0");
        assert_eq!(n(123.45678), "123.5");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc(r#"a<b>&"c'"#), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(esc("a\u{1}b"), "a?b");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step_ns(1_000_000_000), 100_000_000);
        assert_eq!(tick_step_ns(2_865_000_000), 500_000_000);
        assert_eq!(tick_step_ns(0), 1);
        assert_eq!(
            tick_step_ns(u64::MAX / 2).max(1),
            tick_step_ns(u64::MAX / 2)
        );
        assert_eq!(tick_label(300_000_000, 100_000_000), "300");
        assert_eq!(tick_label(1_500_000, 500_000), "1.5");
    }
}
