//! Sweeps: one experiment per point of a grid of varied values.
//!
//! A sweep is described by its axes ([`Axis`], `NAME=V1,V2,...` with integer and
//! duration ranges). The grid is their cartesian product, first axis outermost
//! ([`grid`]). What a value means is up to the front end (the command line parses each
//! point as `run` would); this module only expands the lists, runs the experiments in
//! parallel ([`run_all`]) and turns the reports into rows ([`Row`]) written as CSV or
//! JSON. Results are collected in point order, so the output is the same for any
//! number of threads.

use std::io::Write;
use std::time::Duration;

use rayon::prelude::*;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::values::{format_duration, parse_duration};
use crate::{Experiment, LabError, Report};

/// The most points one range, or one whole grid, may have: a grid is held in memory
/// and each point is a run, so anything larger is a typo (`1..100000000`) rather than
/// an experiment.
pub const MAX_POINTS: u64 = 10_000_000;

/// Why a sweep's description is refused, before anything runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SweepError {
    /// `--vary` without `NAME=`.
    #[error("'{spec}': expected NAME=V1,V2,... (e.g. nagle=on,off or rtt=10ms..300ms/10ms)")]
    NoName {
        /// The whole `--vary` value.
        spec: String,
    },
    /// `NAME=` with nothing after it.
    #[error("'{spec}': the list of values for {name} is empty")]
    EmptyList {
        /// The whole `--vary` value.
        spec: String,
        /// The varied name.
        name: String,
    },
    /// One item of the list is empty (`a,,b`).
    #[error("'{spec}': value {position} is empty")]
    EmptyValue {
        /// The whole `--vary` value.
        spec: String,
        /// 1-based position in the list.
        position: usize,
    },
    /// A range that cannot be expanded.
    #[error("'{spec}': value {position}, range '{range}': {problem}")]
    Range {
        /// The whole `--vary` value.
        spec: String,
        /// 1-based position in the list.
        position: usize,
        /// The range as written.
        range: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The same name varied twice: the product would set one option twice.
    #[error("{name} is varied twice; give all its values in one --vary")]
    Repeated {
        /// The varied name.
        name: String,
    },
    /// The grid is larger than [`MAX_POINTS`].
    #[error("the sweep has {count} points, more than {MAX_POINTS}")]
    TooManyPoints {
        /// Its number of points (saturated at `u64::MAX`).
        count: u64,
    },
}

/// One varied option and its values, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The option's name without the dashes (`delayed-ack`).
    pub name: String,
    /// Its values as the option takes them; ranges are expanded (`1..3` gives `1`,
    /// `2`, `3`; `10ms..30ms/10ms` gives `10ms`, `20ms`, `30ms`).
    pub values: Vec<String>,
}

impl Axis {
    /// Parse `NAME=V1,V2,...`. An item `A..B` is an inclusive integer range,
    /// `A..B/STEP` an inclusive range of integers or durations with that step.
    pub fn parse(spec: &str) -> Result<Axis, SweepError> {
        let Some((name, list)) = spec.split_once('=') else {
            return Err(SweepError::NoName { spec: spec.into() });
        };
        let name = name.trim().trim_start_matches("--");
        if name.is_empty() {
            return Err(SweepError::NoName { spec: spec.into() });
        }
        if list.trim().is_empty() {
            return Err(SweepError::EmptyList {
                spec: spec.into(),
                name: name.into(),
            });
        }
        let mut values = Vec::new();
        for (i, item) in list.split(',').enumerate() {
            let item = item.trim();
            let position = i + 1;
            if item.is_empty() {
                return Err(SweepError::EmptyValue {
                    spec: spec.into(),
                    position,
                });
            }
            match item.split_once("..") {
                None => values.push(item.to_owned()),
                Some((from, rest)) => {
                    let range_error = |problem: String| SweepError::Range {
                        spec: spec.into(),
                        position,
                        range: item.into(),
                        problem,
                    };
                    let (to, step) = match rest.split_once('/') {
                        Some((to, step)) => (to, Some(step)),
                        None => (rest, None),
                    };
                    expand(from.trim(), to.trim(), step.map(str::trim), &mut values)
                        .map_err(range_error)?;
                }
            }
            if values.len() as u64 > MAX_POINTS {
                return Err(SweepError::TooManyPoints {
                    count: values.len() as u64,
                });
            }
        }
        Ok(Axis {
            name: name.into(),
            values,
        })
    }
}

/// How many values `from..=to` by `step` holds, refusing an empty or oversized range.
fn range_len(from: u128, to: u128, step: u128) -> Result<u64, String> {
    if step == 0 {
        return Err("the step must be more than zero".into());
    }
    if from > to {
        return Err("it has no points (the start is past the end)".into());
    }
    let count = (to - from) / step + 1;
    if count > u128::from(MAX_POINTS) {
        return Err(format!("it has {count} points, more than {MAX_POINTS}"));
    }
    Ok(count as u64)
}

/// Append the values of the range `from..to[/step]` to `out`.
fn expand(from: &str, to: &str, step: Option<&str>, out: &mut Vec<String>) -> Result<(), String> {
    if let (Ok(a), Ok(b)) = (from.parse::<u64>(), to.parse::<u64>()) {
        let step = match step {
            None => 1,
            Some(s) => s
                .parse::<u64>()
                .map_err(|_| format!("the step '{s}' of an integer range must be an integer"))?,
        };
        let count = range_len(a.into(), b.into(), step.into())?;
        out.extend((0..count).map(|i| (a + i * step).to_string()));
        return Ok(());
    }
    let duration = |s: &str| parse_duration(s).map_err(|e| e.to_string());
    let (a, b) = match (duration(from), duration(to)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Err(format!(
                "a range takes integers (1..10) or durations with a step \
                 (10ms..300ms/10ms): {e}"
            ))
        }
    };
    let Some(step) = step else {
        return Err("a range of durations needs a step, e.g. 10ms..300ms/10ms".into());
    };
    let step = duration(step)?;
    let count = range_len(a.as_nanos(), b.as_nanos(), step.as_nanos())?;
    // Every value lies between a and b, so each one is a Duration: its seconds fit u64.
    out.extend((0..count).map(|i| {
        let nanos = a.as_nanos() + u128::from(i) * step.as_nanos();
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        format_duration(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    }));
    Ok(())
}

/// Every point of the grid the axes span, as one value index per axis: the cartesian
/// product with the first axis outermost and the last varying fastest, so the order
/// reads as nested loops in the order the options were given.
pub fn grid(axes: &[Axis]) -> Result<Vec<Vec<usize>>, SweepError> {
    let mut seen: Vec<&str> = Vec::new();
    for axis in axes {
        if seen.contains(&axis.name.as_str()) {
            return Err(SweepError::Repeated {
                name: axis.name.clone(),
            });
        }
        seen.push(&axis.name);
    }
    let count = axes.iter().try_fold(1u64, |n, a| {
        n.checked_mul(a.values.len() as u64)
            .filter(|n| *n <= MAX_POINTS)
            .ok_or(SweepError::TooManyPoints {
                count: axes
                    .iter()
                    .fold(1u64, |n, a| n.saturating_mul(a.values.len() as u64)),
            })
    })?;
    let mut points = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for mut k in 0..count {
        let mut point = vec![0; axes.len()];
        for (slot, axis) in point.iter_mut().zip(axes).rev() {
            let len = axis.values.len() as u64;
            *slot = (k % len) as usize;
            k /= len;
        }
        points.push(point);
    }
    Ok(points)
}

/// Run every experiment, `jobs` at a time (`None`: one per core), and return the
/// results in the order of `experiments`, whatever order they finished in.
pub fn run_all(
    experiments: &[Experiment],
    jobs: Option<usize>,
) -> Result<Vec<Result<Report, LabError>>, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()?;
    Ok(pool.install(|| experiments.par_iter().map(|e| e.run(None)).collect()))
}

/// The figures a sweep keeps of each run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean total time of the transactions that succeeded (`null`: none did).
    pub mean_total_ms: Option<f64>,
    /// Mean handshake time of those that succeeded.
    pub mean_connect_ms: Option<f64>,
    /// Mean time from request sent to first response byte.
    pub mean_ttfb_ms: Option<f64>,
    /// Mean time from first to last response byte.
    pub mean_transfer_ms: Option<f64>,
    /// Transactions that succeeded.
    pub succeeded: usize,
    /// Transactions that failed.
    pub failed: usize,
    /// Retransmissions, summed over every connection of both hosts.
    pub retransmissions: u64,
}

impl Metrics {
    /// The figures of one report, from its summary aggregates.
    pub fn of(report: &Report) -> Metrics {
        let t = &report.summary.timings;
        let mean = |s: &crate::summary::TimingSummary| {
            (s.count > 0).then(|| round_us(s.sum_ms / s.count as f64))
        };
        Metrics {
            mean_total_ms: mean(&t.total),
            mean_connect_ms: mean(&t.connect),
            mean_ttfb_ms: mean(&t.ttfb),
            mean_transfer_ms: mean(&t.transfer),
            succeeded: report.summary.succeeded,
            failed: report.summary.failed,
            retransmissions: report
                .connections
                .iter()
                .map(|c| c.stats.retransmissions)
                .sum(),
        }
    }
}

/// A mean to the microsecond, as the aggregates are: more digits are float noise.
fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// One point of a sweep: the values it set and what its run gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `(name, value)` per axis, in axis order.
    pub values: Vec<(String, String)>,
    /// The run's figures, or why it could not be done.
    pub outcome: Result<Metrics, String>,
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The varied values as one object, keys in axis order.
        struct Values<'a>(&'a [(String, String)]);
        impl Serialize for Values<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        let metrics = self.outcome.as_ref().ok();
        let mut map = serializer.serialize_map(Some(9))?;
        map.serialize_entry("values", &Values(&self.values))?;
        map.serialize_entry("mean_total_ms", &metrics.and_then(|m| m.mean_total_ms))?;
        map.serialize_entry("mean_connect_ms", &metrics.and_then(|m| m.mean_connect_ms))?;
        map.serialize_entry("mean_ttfb_ms", &metrics.and_then(|m| m.mean_ttfb_ms))?;
        map.serialize_entry(
            "mean_transfer_ms",
            &metrics.and_then(|m| m.mean_transfer_ms),
        )?;
        map.serialize_entry("succeeded", &metrics.map(|m| m.succeeded))?;
        map.serialize_entry("failed", &metrics.map(|m| m.failed))?;
        map.serialize_entry("retransmissions", &metrics.map(|m| m.retransmissions))?;
        map.serialize_entry("error", &self.outcome.as_ref().err())?;
        map.end()
    }
}

/// The metric columns of the table and the CSV, after the varied names.
pub const METRIC_COLUMNS: [&str; 8] = [
    "mean_total_ms",
    "mean_connect_ms",
    "mean_ttfb_ms",
    "mean_transfer_ms",
    "succeeded",
    "failed",
    "retransmissions",
    "error",
];

impl Row {
    /// The row's cells after the varied values, as [`METRIC_COLUMNS`] names them; an
    /// absent figure is an empty cell.
    pub fn metric_cells(&self) -> Vec<String> {
        let ms = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        match &self.outcome {
            Ok(m) => vec![
                ms(m.mean_total_ms),
                ms(m.mean_connect_ms),
                ms(m.mean_ttfb_ms),
                ms(m.mean_transfer_ms),
                m.succeeded.to_string(),
                m.failed.to_string(),
                m.retransmissions.to_string(),
                String::new(),
            ],
            Err(e) => {
                let mut cells = vec![String::new(); METRIC_COLUMNS.len() - 1];
                cells.push(e.clone());
                cells
            }
        }
    }
}

/// Write the rows as CSV: a header of the varied names and [`METRIC_COLUMNS`], then
/// one record per point.
pub fn write_csv<W: Write>(axes: &[Axis], rows: &[Row], out: W) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let header = axes
        .iter()
        .map(|a| a.name.as_str())
        .chain(METRIC_COLUMNS.iter().copied());
    w.write_record(header)?;
    for row in rows {
        let cells = row
            .values
            .iter()
            .map(|(_, v)| v.clone())
            .chain(row.metric_cells());
        w.write_record(cells)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(spec: &str) -> Vec<String> {
        Axis::parse(spec).map(|a| a.values).unwrap_or_default()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(values("nagle=on,off"), ["on", "off"]);
        assert_eq!(values("initial-window=1..3"), ["1", "2", "3"]);
        assert_eq!(values("initial-window=1..7/3,10"), ["1", "4", "7", "10"]);
        assert_eq!(values("rtt=10ms..30ms/10ms"), ["10ms", "20ms", "30ms"]);
        assert_eq!(values("rtt=500ms..1.5s/500ms"), ["500ms", "1s", "1.5s"]);
        assert_eq!(
            values("time-wait=10000000h..10000002h/2h"),
            ["10000000h", "10000002h"]
        );
        assert_eq!(values("--rtt=1ms"), ["1ms"]);
    }

    #[test]
    fn refusals_name_the_problem() {
        for (spec, says) in [
            ("nagle", "expected NAME="),
            ("=on", "expected NAME="),
            ("nagle=", "empty"),
            ("nagle=on,,off", "value 2 is empty"),
            ("initial-window=5..1", "no points"),
            ("initial-window=1..100000000", "more than 10000000"),
            ("rtt=10ms..30ms", "needs a step"),
            ("rtt=10ms..30ms/0", "more than zero"),
            ("rtt=1..2/x", "must be an integer"),
            ("rtt=fast..slow/1ms", "integers (1..10)"),
        ] {
            let e = Axis::parse(spec).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }

    #[test]
    fn grid_is_nested_loops_first_axis_outermost() {
        let axes = [
            Axis::parse("a=1,2").unwrap(),
            Axis::parse("b=x,y,z").unwrap(),
        ];
        let g = grid(&axes).unwrap();
        assert_eq!(
            g,
            [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]].map(Vec::from)
        );
        let big = Axis::parse("a=1..10000").unwrap();
        let e = grid(&[
            big.clone(),
            Axis {
                name: "b".into(),
                ..big
            },
        ])
        .unwrap_err();
        assert_eq!(e, SweepError::TooManyPoints { count: 100_000_000 });
        let e = grid(&[axes[0].clone(), axes[0].clone()]).unwrap_err();
        assert!(e.to_string().contains("a is varied twice"));
    }
}
