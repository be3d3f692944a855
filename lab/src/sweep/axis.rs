//! The axes of a sweep (`NAME=V1,V2,...` with ranges), the grid they span, and the
//! shards a grid is split into.

use std::time::Duration;

use super::{SweepError, MAX_POINTS};
use crate::values::{format_duration, parse_duration};

/// One varied option and its values, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The option's name without the dashes (`delayed-ack`).
    pub name: String,
    /// Its values as the option takes them; ranges are expanded (`1..3` gives `1`,
    /// `2`, `3`; `10ms..30ms/10ms` gives `10ms`, `20ms`, `30ms`).
    pub values: Vec<String>,
    /// Some of its values come from a log-spaced range (`A..B*N`): plots draw this
    /// axis on a log scale, where such a range is evenly spaced.
    pub log: bool,
}

impl Axis {
    /// Parse `NAME=V1,V2,...`. An item `A..B` is an inclusive integer range,
    /// `A..B/STEP` an inclusive range of integers or durations with that step, and
    /// `A..B*N` N points from A to B spaced evenly on a log scale (numbers or
    /// durations; loss rates and RTTs span decades, where a linear step wastes
    /// points at one end).
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
        let mut log = false;
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
                    if let Some((to, count)) = rest.split_once('*') {
                        log = true;
                        expand_log(from.trim(), to.trim(), count.trim(), &mut values)
                            .map_err(range_error)?;
                    } else {
                        let (to, step) = match rest.split_once('/') {
                            Some((to, step)) => (to, Some(step)),
                            None => (rest, None),
                        };
                        expand(from.trim(), to.trim(), step.map(str::trim), &mut values)
                            .map_err(range_error)?;
                    }
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
            log,
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

/// Append the `count` values of the log-spaced range `from..to*count` to `out`: the
/// ends as written, the points between rounded to 6 significant digits (so that they
/// read as typed numbers; integers to the nearest integer, repeats dropped).
fn expand_log(from: &str, to: &str, count: &str, out: &mut Vec<String>) -> Result<(), String> {
    let n: u64 = count
        .parse()
        .map_err(|_| format!("the number of points '{count}' must be an integer"))?;
    if n == 0 {
        return Err("it has no points (*0)".into());
    }
    if n > MAX_POINTS {
        return Err(format!("it has {n} points, more than {MAX_POINTS}"));
    }
    let spaced = |a: f64, b: f64| -> Result<Vec<f64>, String> {
        if !(a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite()) {
            return Err("a log-spaced range needs both ends above zero".into());
        }
        if a > b {
            return Err("it has no points (the start is past the end)".into());
        }
        if n == 1 && a != b {
            return Err("one point cannot span two different ends; give *2 or more".into());
        }
        let ratio = (b / a).ln();
        Ok((0..n)
            .map(|i| match i {
                0 => a,
                i if i == n - 1 => b,
                i => significant(a * (ratio * i as f64 / (n - 1) as f64).exp()),
            })
            .collect())
    };
    if let (Ok(a), Ok(b)) = (from.parse::<u64>(), to.parse::<u64>()) {
        for v in spaced(a as f64, b as f64)? {
            let v = (v.round() as u64).clamp(a, b).to_string();
            if out.last() != Some(&v) {
                out.push(v);
            }
        }
        return Ok(());
    }
    if let (Ok(a), Ok(b)) = (from.parse::<f64>(), to.parse::<f64>()) {
        for (i, v) in spaced(a, b)?.into_iter().enumerate() {
            out.push(match i {
                0 => from.to_owned(),
                i if i as u64 == n - 1 => to.to_owned(),
                _ => v.to_string(),
            });
        }
        return Ok(());
    }
    let duration = |s: &str| parse_duration(s).map_err(|e| e.to_string());
    let (a, b) = match (duration(from), duration(to)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Err(format!(
                "a log-spaced range takes numbers (0.001..0.1*10) or durations \
                 (1ms..1s*4): {e}"
            ))
        }
    };
    for v in spaced(a.as_nanos() as f64, b.as_nanos() as f64)? {
        let nanos = v.round().clamp(a.as_nanos() as f64, b.as_nanos() as f64) as u128;
        let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
        let v = format_duration(Duration::new(secs, (nanos % 1_000_000_000) as u32));
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    Ok(())
}

/// `v` rounded to 6 significant digits: what a person would type for a point between
/// two decades, without the float's last-bit noise.
fn significant(v: f64) -> f64 {
    format!("{v:.5e}").parse().unwrap_or(v)
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

/// One of N slices of a grid: the points whose index is K modulo N, so that N
/// machines (a job array) each run one and `sweep merge` puts them back in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// K, from 0.
    pub index: u64,
    /// N, 1 or more.
    pub count: u64,
}

impl Shard {
    /// Parse `K/N`, `0 <= K < N`.
    pub fn parse(spec: &str) -> Result<Shard, SweepError> {
        let problem = |problem: &str| SweepError::Shard {
            spec: spec.into(),
            problem: problem.into(),
        };
        let (k, n) = spec
            .split_once('/')
            .ok_or_else(|| problem("expected K/N, e.g. 0/4 (the first of 4 shards)"))?;
        let k: u64 = k
            .trim()
            .parse()
            .map_err(|_| problem("K must be a whole number"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| problem("N must be a whole number"))?;
        if n == 0 {
            return Err(problem("N must be 1 or more"));
        }
        if k >= n {
            return Err(problem(
                "K counts from 0, so it must be below N (0/N .. N-1/N)",
            ));
        }
        Ok(Shard { index: k, count: n })
    }

    /// Whether the point with this index (from 0, in grid order) is this shard's.
    pub fn holds(&self, point: usize) -> bool {
        point as u64 % self.count == self.index
    }
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
        assert_eq!(
            values("loss=0.001..0.1*5"),
            ["0.001", "0.00316228", "0.01", "0.0316228", "0.1"]
        );
        assert_eq!(values("rtt=1ms..1s*4"), ["1ms", "10ms", "100ms", "1s"]);
        assert_eq!(values("initial-window=1..10*4"), ["1", "2", "5", "10"]);
        assert_eq!(values("loss=0.001..0.1*10").len(), 10);
        assert!(Axis::parse("loss=0.001..0.1*10").is_ok_and(|a| a.log));
        assert!(Axis::parse("rtt=1..2").is_ok_and(|a| !a.log));
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
            ("loss=0..0.1*10", "above zero"),
            ("loss=0.1..0.01*10", "no points"),
            ("loss=0.01..0.1*0", "no points"),
            ("loss=0.01..0.1*x", "must be an integer"),
            ("loss=0.01..0.1*20000000", "more than 10000000"),
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
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "1/0", "x/2", "2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
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
