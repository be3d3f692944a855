//! Sweeps: one experiment per point of a grid of varied values.
//!
//! A sweep is described by its axes ([`Axis`], `NAME=V1,V2,...` with integer,
//! duration and log-spaced ranges). The grid is their cartesian product, first axis
//! outermost ([`grid`]); a [`Shard`] takes every N-th point of it. What a value means
//! is up to the front end (the command line parses each point as `run` would); this
//! module expands the lists, runs the experiments in parallel, each with one or more
//! seeds ([`run_points`]), folds each point's runs into a [`Row`] (the metrics, or
//! their statistics across seeds) and writes rows as a table, CSV, JSON, JSON lines,
//! Markdown ([`write`](mod@write)) or a plot ([`plot`]). Results are collected in point order,
//! so every output is the same for any number of threads.

mod axis;
pub mod plot;
mod row;
mod settings;
pub mod write;

use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

pub use axis::{grid, Axis, Shard};
pub use row::{quantile, Columns, Metrics, Row, STATISTICS};
pub use settings::settings;

use crate::Experiment;

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
    /// A `--shard` that is not `K/N` with `0 <= K < N`.
    #[error("--shard '{spec}': {problem}")]
    Shard {
        /// As given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Run every experiment `repeat` times, seed `seed + i` for run i, `jobs` runs at a
/// time (`None`: one per core), and return each experiment's runs in order, whatever
/// order they finished in. A run is kept as its [`Metrics`] (or its error) only, so
/// a sweep's memory does not grow with the size of its reports. `done` is called
/// once per finished run, from whichever thread ran it (a progress bar).
pub fn run_points(
    experiments: &[Experiment],
    repeat: usize,
    jobs: Option<usize>,
    done: &(dyn Fn(usize) + Sync),
) -> Result<Vec<Vec<Result<Metrics, String>>>, rayon::ThreadPoolBuildError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()?;
    let repeat = repeat.max(1);
    let finished = AtomicUsize::new(0);
    let flat: Vec<Result<Metrics, String>> = pool.install(|| {
        experiments
            .par_iter()
            .flat_map_iter(|e| (0..repeat).map(move |i| (e, i)))
            .map(|(e, i)| {
                let result = if i == 0 {
                    e.run(None)
                } else {
                    let mut e = e.clone();
                    e.seed = e.seed.wrapping_add(i as u64);
                    e.run(None)
                };
                done(finished.fetch_add(1, Ordering::Relaxed) + 1);
                result.map(|r| Metrics::of(&r)).map_err(|e| causes(&e))
            })
            .collect()
    });
    let mut flat = flat.into_iter();
    Ok((0..experiments.len())
        .map(|_| flat.by_ref().take(repeat).collect())
        .collect())
}

/// An error and its causes on one line.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
