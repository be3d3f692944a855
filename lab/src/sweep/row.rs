//! What a sweep keeps of each run ([`Metrics`]), the columns of its output
//! ([`Columns`]) and one point's row ([`Row`]): the metrics of its run, or with
//! `--repeat` their statistics across its seeds.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use tcpknobs_http::blame::{Blame, Cause};

use crate::{Report, Summary};

/// The statistics of a metric across a point's seeds, in column order (`total_ms_mean`,
/// `total_ms_median`, ...). p5 and p95 interpolate linearly between the two nearest
/// ranks (as numpy's and R's defaults do), so 20 seeds give a p95 between the 19th and
/// 20th values rather than the maximum.
pub const STATISTICS: [&str; 6] = ["mean", "median", "p5", "p95", "min", "max"];

/// The metrics before the blame, and whether each counts (an integer) or is a time.
const BASE: [(&str, bool); 7] = [
    ("total_ms", false),
    ("connect_ms", false),
    ("ttfb_ms", false),
    ("transfer_ms", false),
    ("succeeded", true),
    ("failed", true),
    ("retransmissions", true),
];

/// The figures a sweep keeps of each run.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Mean total time of the transactions that succeeded (`None`: none did).
    pub total_ms: Option<f64>,
    /// Mean handshake time of those that succeeded.
    pub connect_ms: Option<f64>,
    /// Mean time from request sent to first response byte.
    pub ttfb_ms: Option<f64>,
    /// Mean time from first to last response byte.
    pub transfer_ms: Option<f64>,
    /// Transactions that succeeded.
    pub succeeded: usize,
    /// Transactions that failed.
    pub failed: usize,
    /// Retransmissions, summed over every connection of both hosts.
    pub retransmissions: u64,
    /// The run's blame divided by its finished transactions, ms per cause in
    /// [`Cause::ALL`] order: the mean transaction's time per cause, which adds up to
    /// the mean total over every finished transaction (the same as `total_ms` when
    /// all succeeded). A mean rather than the run's sum, so that points with
    /// different numbers of requests compare. `None` when the run kept no trace.
    pub blame_ms: Option<Vec<f64>>,
}

impl Metrics {
    /// The figures of one report, from its summary aggregates and its blame.
    pub fn of(report: &Report) -> Metrics {
        Metrics::new(
            &report.summary,
            report
                .connections
                .iter()
                .map(|c| c.stats.retransmissions)
                .sum(),
            report.blame.as_ref(),
        )
    }

    /// The figures of a run from its summary aggregates, its retransmissions and
    /// the sum of its transactions' blame (`None`: no trace kept). A simulated run
    /// and a run over a TAP (which has no [`Report`]) give their figures here, so
    /// the two mean the same.
    pub fn new(summary: &Summary, retransmissions: u64, blame: Option<&Blame>) -> Metrics {
        let t = &summary.timings;
        let mean = |s: &crate::summary::TimingSummary| {
            (s.count > 0).then(|| round_us(s.sum_ms / s.count as f64))
        };
        let finished = summary.succeeded + summary.failed;
        let blame_ms = blame.map(|b| {
            Cause::ALL
                .iter()
                .map(|&c| {
                    if finished == 0 {
                        0.0
                    } else {
                        round_us(b.ms(c) / finished as f64)
                    }
                })
                .collect()
        });
        Metrics {
            total_ms: mean(&t.total),
            connect_ms: mean(&t.connect),
            ttfb_ms: mean(&t.ttfb),
            transfer_ms: mean(&t.transfer),
            succeeded: summary.succeeded,
            failed: summary.failed,
            retransmissions,
            blame_ms,
        }
    }

    /// Every figure, in the order of [`Columns::metrics`].
    pub fn figures(&self) -> Vec<Option<f64>> {
        let mut out = vec![
            self.total_ms,
            self.connect_ms,
            self.ttfb_ms,
            self.transfer_ms,
            Some(self.succeeded as f64),
            Some(self.failed as f64),
            Some(self.retransmissions as f64),
        ];
        match &self.blame_ms {
            Some(b) => out.extend(b.iter().map(|v| Some(*v))),
            None => out.extend(Cause::ALL.iter().map(|_| None)),
        }
        out
    }
}

/// A time to the microsecond, as the aggregates are: more digits are float noise.
fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The columns of a sweep's rows after the varied values: one per metric, or with
/// `--repeat` one per metric and statistic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    /// Runs per point.
    pub repeat: usize,
    /// The column names, in order (`blame.` ones name a field of the JSON's `blame`).
    pub names: Vec<String>,
    /// Whether each column holds a whole count (printed as an integer).
    pub counts: Vec<bool>,
}

impl Columns {
    /// The columns for `repeat` runs per point.
    pub fn new(repeat: usize) -> Columns {
        let repeat = repeat.max(1);
        let mut names = Vec::new();
        let mut counts = Vec::new();
        for (metric, count) in Columns::metrics() {
            if repeat == 1 {
                names.push(metric);
                counts.push(count);
            } else {
                for stat in STATISTICS {
                    names.push(format!("{metric}_{stat}"));
                    counts.push(false);
                }
            }
        }
        Columns {
            repeat,
            names,
            counts,
        }
    }

    /// The metrics of one run, each with whether it counts: `total_ms` ...
    /// `retransmissions`, then `blame.<cause>_ms` per cause.
    pub fn metrics() -> Vec<(String, bool)> {
        BASE.iter()
            .map(|(n, c)| (n.to_string(), *c))
            .chain(
                Cause::ALL
                    .iter()
                    .map(|c| (format!("blame.{}_ms", c.name()), false)),
            )
            .collect()
    }

    /// The index of a column by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// One point of a sweep: the values it set and what its runs gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The point's index in the whole grid (from 0): what `sweep merge` orders by.
    pub point: usize,
    /// `(name, value)` per axis, in axis order.
    pub values: Vec<(String, String)>,
    /// One figure per column of [`Columns`]; `None` when the point has none.
    pub figures: Vec<Option<f64>>,
    /// Why a run of the point could not be done (with `--repeat`: how many, and the
    /// first one's seed and reason); the other runs' figures still count.
    pub error: Option<String>,
    /// Whether any run had failed transactions or could not be done.
    pub any_failed: bool,
}

impl Row {
    /// Fold a point's runs (`runs[i]` had seed `seed + i`) into its row.
    pub fn new(
        point: usize,
        values: Vec<(String, String)>,
        runs: &[Result<Metrics, String>],
        seed: u64,
    ) -> Row {
        let metrics = Columns::metrics().len();
        let figures_of: Vec<Vec<Option<f64>>> = runs
            .iter()
            .filter_map(|r| r.as_ref().ok().map(Metrics::figures))
            .collect();
        let errors: Vec<(usize, &String)> = runs
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
            .collect();
        let error = match errors.first() {
            None => None,
            Some((_, e)) if runs.len() == 1 => Some((*e).clone()),
            Some((i, e)) => Some(format!(
                "{} of {} runs could not be done; seed {}: {e}",
                errors.len(),
                runs.len(),
                seed.wrapping_add(*i as u64)
            )),
        };
        let any_failed =
            !errors.is_empty() || runs.iter().any(|r| r.as_ref().is_ok_and(|m| m.failed > 0));
        let figures = if runs.len() <= 1 {
            figures_of
                .into_iter()
                .next()
                .unwrap_or_else(|| vec![None; metrics])
        } else {
            let mut out = Vec::with_capacity(metrics * STATISTICS.len());
            for m in 0..metrics {
                let mut v: Vec<f64> = figures_of.iter().filter_map(|f| f[m]).collect();
                v.sort_by(f64::total_cmp);
                out.extend(statistics(&v));
            }
            out
        };
        Row {
            point,
            values,
            figures,
            error,
            any_failed,
        }
    }

    /// The cells after the varied values: one per column, then the error; an absent
    /// figure is an empty cell.
    pub fn cells(&self, columns: &Columns) -> Vec<String> {
        self.figures
            .iter()
            .zip(&columns.counts)
            .map(|(v, &count)| match v {
                None => String::new(),
                Some(v) if count => format!("{}", *v as u64),
                Some(v) => v.to_string(),
            })
            .chain(std::iter::once(self.error.clone().unwrap_or_default()))
            .collect()
    }

    /// The row as JSON with its columns: `point`, `values` (an object, keys in axis
    /// order), each column (the `blame.` ones in an object `blame`), `error`.
    pub fn json<'a>(&'a self, columns: &'a Columns) -> impl Serialize + 'a {
        RowJson { row: self, columns }
    }
}

/// The statistics of sorted values, in [`STATISTICS`] order; `None` each when empty.
fn statistics(sorted: &[f64]) -> [Option<f64>; 6] {
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return [None; 6];
    };
    let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
    [
        Some(round_us(mean)),
        Some(round_us(quantile(sorted, 0.5))),
        Some(round_us(quantile(sorted, 0.05))),
        Some(round_us(quantile(sorted, 0.95))),
        Some(min),
        Some(max),
    ]
}

/// The q-quantile of sorted, non-empty values, interpolated between the closest ranks.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let (a, b) = (
        sorted.get(lo).copied().unwrap_or(0.0),
        sorted.get(lo + 1).copied().unwrap_or(0.0),
    );
    if lo + 1 >= sorted.len() {
        a
    } else {
        a + (h - lo as f64) * (b - a)
    }
}

struct RowJson<'a> {
    row: &'a Row,
    columns: &'a Columns,
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// Pairs as one object, keys in order.
        struct Pairs<'a, T: Serialize>(Vec<(&'a str, T)>);
        impl<T: Serialize> Serialize for Pairs<'_, T> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
            }
        }
        /// A figure: a count as an integer, a time as a number.
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Figure {
            Count(u64),
            Number(f64),
        }
        let figure = |i: usize| -> Option<Figure> {
            let v = self.row.figures.get(i).copied().flatten()?;
            Some(if self.columns.counts.get(i).copied().unwrap_or(false) {
                Figure::Count(v as u64)
            } else {
                Figure::Number(v)
            })
        };
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("point", &self.row.point)?;
        let values = self
            .row
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        map.serialize_entry("values", &Pairs(values))?;
        let mut blame = Vec::new();
        for (i, name) in self.columns.names.iter().enumerate() {
            match name.strip_prefix("blame.") {
                Some(cause) => blame.push((cause, figure(i))),
                None => map.serialize_entry(name, &figure(i))?,
            }
        }
        map.serialize_entry("blame", &Pairs(blame))?;
        map.serialize_entry("error", &self.row.error)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_interpolate_between_ranks() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = statistics(&v);
        assert_eq!(
            s,
            [
                Some(10.5),
                Some(10.5),
                Some(1.95),
                Some(19.05),
                Some(1.0),
                Some(20.0)
            ]
        );
        assert_eq!(statistics(&[]), [None; 6]);
        assert_eq!(statistics(&[3.0])[3], Some(3.0));
    }

    #[test]
    fn columns_name_metric_and_statistic() {
        let one = Columns::new(1);
        assert_eq!(one.names[0], "total_ms");
        assert!(one.names.contains(&"blame.nagle_ms".to_string()));
        let many = Columns::new(20);
        assert_eq!(many.names[..2], ["total_ms_mean", "total_ms_median"]);
        assert_eq!(many.names.len(), one.names.len() * 6);
    }
}
