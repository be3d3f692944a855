//! A sweep as a picture (SVG, drawn with plotters): a metric against the first varied
//! option, one line per combination of the others (with `--repeat`, the median and a
//! p5-p95 band), or a heatmap of two varied options.
//!
//! plotters is used without its font features: SVG text is laid out by the browser,
//! so nothing here loads a system font and no C library is linked.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Axis, Columns, Row};
use crate::values::parse_duration;

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlotKind {
    /// The metric against the first varied option, a line per combination of the
    /// others.
    #[default]
    Lines,
    /// The first varied option across, the second up, the metric in each cell.
    Heatmap,
}

/// Why a plot cannot be drawn.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlotError {
    /// `--metric` names no numeric column.
    #[error("--metric '{metric}' is not a column of this sweep; one of: {valid}")]
    UnknownMetric {
        /// As given.
        metric: String,
        /// The metrics a plot takes.
        valid: String,
    },
    /// A heatmap needs exactly two varied options.
    #[error("--plot-kind heatmap needs exactly two --vary options (this sweep has {axes})")]
    Heatmap {
        /// How many it has.
        axes: usize,
    },
    /// plotters failed to draw.
    #[error("drawing the plot: {0}")]
    Draw(String),
}

/// Check before any run that `metric` can be drawn as `kind` over `axes`.
pub fn check(axes: &[Axis], metric: &str, kind: PlotKind) -> Result<(), PlotError> {
    let metrics: Vec<String> = Columns::metrics().into_iter().map(|(n, _)| n).collect();
    if !metrics.iter().any(|m| m == metric) {
        return Err(PlotError::UnknownMetric {
            metric: metric.to_owned(),
            valid: metrics.join(", "),
        });
    }
    if kind == PlotKind::Heatmap && axes.len() != 2 {
        return Err(PlotError::Heatmap { axes: axes.len() });
    }
    Ok(())
}

/// How a value of an axis sits along a plot's axis.
struct Scale {
    /// Each value's coordinate (log10 of it on a log scale, its index when the
    /// values are not numbers).
    coords: Vec<f64>,
    /// Numbers read from the values (durations as ms).
    numeric: bool,
    /// On a log scale.
    log: bool,
    /// Shown after the name: ` (ms)` for durations.
    unit: &'static str,
}

impl Scale {
    fn of(axis: &Axis) -> Scale {
        let durations: Option<Vec<f64>> = axis
            .values
            .iter()
            .map(|v| parse_duration(v).ok().map(|d| d.as_secs_f64() * 1000.0))
            .collect();
        let numbers: Option<Vec<f64>> = axis
            .values
            .iter()
            .map(|v| v.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
            .collect();
        let (values, unit) = match (numbers, durations) {
            (Some(n), _) => (Some(n), ""),
            (None, Some(d)) => (Some(d), " (ms)"),
            (None, None) => (None, ""),
        };
        match values {
            Some(v) => {
                let log = axis.log && v.iter().all(|x| *x > 0.0);
                Scale {
                    coords: v.iter().map(|x| if log { x.log10() } else { *x }).collect(),
                    numeric: true,
                    log,
                    unit,
                }
            }
            None => Scale {
                coords: (0..axis.values.len()).map(|i| i as f64).collect(),
                numeric: false,
                log: false,
                unit,
            },
        }
    }

    /// The range to draw, padded so that no point sits on the frame.
    fn range(&self) -> std::ops::Range<f64> {
        let lo = self.coords.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .coords
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        if !lo.is_finite() || !hi.is_finite() {
            return 0.0..1.0;
        }
        let pad = if self.numeric {
            ((hi - lo) * 0.03).max(if hi == lo { 0.5 } else { 0.0 })
        } else {
            0.5
        };
        lo - pad..hi + pad
    }

    /// A tick's label: the number (10^x on a log scale), or the value's name.
    fn label(&self, axis: &Axis, x: f64) -> String {
        if self.numeric {
            let v = if self.log { 10f64.powf(x) } else { x };
            return short(v);
        }
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        axis.values.get(i as usize).cloned().unwrap_or_default()
    }
}

/// A number as a tick shows it: up to 4 significant digits, no trailing zeros.
fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The axis title of a metric: its name, and the unit when it is a time.
fn metric_title(metric: &str, repeat: usize) -> String {
    let stat = if repeat > 1 {
        format!(", median of {repeat} seeds, band p5-p95")
    } else {
        String::new()
    };
    match metric.strip_suffix("_ms") {
        Some(name) => format!("{name} (ms{stat})"),
        None if stat.is_empty() => metric.to_owned(),
        None => format!("{metric} ({})", stat.trim_start_matches(", ")),
    }
}

/// Draw `metric` of the rows as `kind`; the SVG as a string.
pub fn svg(
    axes: &[Axis],
    columns: &Columns,
    rows: &[Row],
    metric: &str,
    kind: PlotKind,
) -> Result<String, PlotError> {
    check(axes, metric, kind)?;
    let mut out = String::new();
    match kind {
        PlotKind::Lines => lines(axes, columns, rows, metric, &mut out)?,
        PlotKind::Heatmap => heatmap(axes, columns, rows, metric, &mut out)?,
    }
    Ok(out)
}

/// A drawing error in words.
fn draw<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The column of a row's figure: the metric itself, or with repeats one statistic.
fn column(columns: &Columns, metric: &str, stat: &str) -> Option<usize> {
    if columns.repeat > 1 {
        columns.index(&format!("{metric}_{stat}"))
    } else {
        columns.index(metric)
    }
}

fn figure(row: &Row, i: Option<usize>) -> Option<f64> {
    i.and_then(|i| row.figures.get(i).copied().flatten())
}

/// The lines: x the first axis, a series per combination of the other axes' values.
fn lines(
    axes: &[Axis],
    columns: &Columns,
    rows: &[Row],
    metric: &str,
    out: &mut String,
) -> Result<(), PlotError> {
    let Some(first) = axes.first() else {
        return Err(PlotError::Draw("nothing varied".into()));
    };
    let scale = Scale::of(first);
    let mid = column(columns, metric, "median");
    let (lo_col, hi_col) = (
        column(columns, metric, "p5"),
        column(columns, metric, "p95"),
    );
    let band = columns.repeat > 1;

    // Series in order of first appearance; points as (x, y, low, high).
    type Point = (f64, f64, f64, f64);
    let mut series: Vec<(String, Vec<Point>)> = Vec::new();
    for row in rows {
        let key: Vec<String> = row.values[1.min(row.values.len())..]
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let key = key.join(" ");
        let Some(x_index) = first
            .values
            .iter()
            .position(|v| Some(v) == row.values.first().map(|(_, v)| v))
        else {
            continue;
        };
        let Some(x) = scale.coords.get(x_index).copied() else {
            continue;
        };
        let Some(y) = figure(row, mid) else {
            continue;
        };
        let (lo, hi) = if band {
            (
                figure(row, lo_col).unwrap_or(y),
                figure(row, hi_col).unwrap_or(y),
            )
        } else {
            (y, y)
        };
        match series.iter_mut().find(|(k, _)| *k == key) {
            Some((_, points)) => points.push((x, y, lo, hi)),
            None => series.push((key, vec![(x, y, lo, hi)])),
        }
    }
    let y_hi = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.3))
        .fold(0.0f64, f64::max);
    let y_lo = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|p| p.2))
        .fold(0.0f64, f64::min);
    let y_range = y_lo..(if y_hi > y_lo { y_hi * 1.05 } else { y_lo + 1.0 });

    let root = SVGBackend::with_string(out, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let log_note = if scale.log { ", log scale" } else { "" };
    let x_desc = format!("{}{}{log_note}", first.name, scale.unit);
    let y_desc = metric_title(metric, columns.repeat);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{metric} by {}", first.name), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(scale.range(), y_range)
        .map_err(draw)?;
    let x_label = |x: &f64| scale.label(first, *x);
    let x_labels = if scale.numeric {
        10
    } else {
        first.values.len().min(30)
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(x_labels)
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| short(*y))
        .light_line_style(WHITE)
        .draw()
        .map_err(draw)?;
    let named = series.len() > 1 || !series.first().is_none_or(|(k, _)| k.is_empty());
    for (i, (key, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        if band {
            let upper = points.iter().map(|p| (p.0, p.3));
            let lower = points.iter().rev().map(|p| (p.0, p.2));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    upper.chain(lower).collect::<Vec<_>>(),
                    color.mix(0.2).filled(),
                )))
                .map_err(draw)?;
        }
        let line = chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))
            .map_err(draw)?;
        if named {
            line.label(key.clone()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if points.len() <= 60 {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|p| Circle::new((p.0, p.1), 3, color.filled())),
                )
                .map_err(draw)?;
        }
    }
    if named {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(draw)?;
    }
    root.present().map_err(draw)?;
    Ok(())
}

/// The heatmap: the first axis across, the second up, a coloured cell per point with
/// its value written in it.
fn heatmap(
    axes: &[Axis],
    columns: &Columns,
    rows: &[Row],
    metric: &str,
    out: &mut String,
) -> Result<(), PlotError> {
    let (Some(a), Some(b)) = (axes.first(), axes.get(1)) else {
        return Err(PlotError::Heatmap { axes: axes.len() });
    };
    let mid = column(columns, metric, "median");
    let values: Vec<f64> = rows.iter().filter_map(|r| figure(r, mid)).collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (nx, ny) = (a.values.len() as f64, b.values.len() as f64);

    let root = SVGBackend::with_string(out, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(draw)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} by {} and {}",
                metric_title(metric, columns.repeat),
                a.name,
                b.name
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..nx, 0.0..ny)
        .map_err(draw)?;
    let label = |axis: &Axis, x: f64| -> String {
        let i = (x - 0.5).round();
        if (x - 0.5 - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        axis.values.get(i as usize).cloned().unwrap_or_default()
    };
    let x_label = |x: &f64| label(a, *x);
    let y_label = |y: &f64| label(b, *y);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(a.name.clone())
        .y_desc(b.name.clone())
        .x_labels(a.values.len() * 2 + 1)
        .y_labels(b.values.len() * 2 + 1)
        .x_label_formatter(&x_label)
        .y_label_formatter(&y_label)
        .draw()
        .map_err(draw)?;
    for row in rows {
        let (Some(i), Some(j)) = (
            row.values
                .first()
                .and_then(|(_, v)| a.values.iter().position(|x| x == v)),
            row.values
                .get(1)
                .and_then(|(_, v)| b.values.iter().position(|x| x == v)),
        ) else {
            continue;
        };
        let (x, y) = (i as f64, j as f64);
        let value = figure(row, mid);
        let t = match value {
            Some(v) if hi > lo => (v - lo) / (hi - lo),
            Some(_) => 0.5,
            None => 0.0,
        };
        let fill = match value {
            Some(_) => shade(t),
            None => RGBColor(220, 220, 220),
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x, y), (x + 1.0, y + 1.0)],
                fill.filled(),
            )))
            .map_err(draw)?;
        let text = value.map_or_else(|| "-".to_owned(), short);
        let ink = if t > 0.6 { WHITE } else { BLACK };
        chart
            .draw_series(std::iter::once(Text::new(
                text,
                (x + 0.5, y + 0.5),
                ("sans-serif", 14)
                    .into_font()
                    .color(&ink)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )))
            .map_err(draw)?;
    }
    root.present().map_err(draw)?;
    Ok(())
}

/// A colour from pale yellow (t = 0, the smallest value) to dark blue (t = 1).
fn shade(t: f64) -> RGBColor {
    let stops = [
        (255.0, 255.0, 204.0),
        (65.0, 182.0, 196.0),
        (8.0, 29.0, 88.0),
    ];
    let t = t.clamp(0.0, 1.0) * 2.0;
    let k = (t.floor() as usize).min(1);
    let f = t - k as f64;
    let (a, b) = (stops[k], stops[k + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
