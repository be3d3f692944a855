//! `tcpknobs sweep`: `run` over a grid of option values, one row per point.
//!
//! Each point is parsed as `run` would parse it: the sweep's own `run` options, then
//! `--NAME=VALUE` for each varied option, through the same clap definitions, so every
//! option, default and error message is `run`'s. Every point is parsed before any
//! runs: bad input is a usage error (status 2) and nothing has been spent on it.

use std::ffi::OsString;
use std::fs::File;
use std::io::BufWriter;

use anyhow::Context;
use clap::error::ErrorKind;
use tcpknobs_lab::sweep::{self, Axis, Metrics, Row, METRIC_COLUMNS};
use tcpknobs_lab::Experiment;

use crate::cli::{self, Command, SweepArgs};
use crate::output::{print_json, print_stdout, Outcome};

/// A sweep ready to run: its axes, each point's values and experiment.
pub struct Plan {
    axes: Vec<Axis>,
    points: Vec<Vec<(String, String)>>,
    experiments: Vec<Experiment>,
}

/// A usage error of `sweep`, as clap words and prints its own (status 2).
fn usage(kind: ErrorKind, message: String) -> clap::Error {
    let mut cmd = cli::command();
    cmd.build();
    match cmd.find_subcommand_mut("sweep") {
        Some(sub) => sub.error(kind, message),
        None => cmd.error(kind, message),
    }
}

/// The first line of a clap error, without its `error: ` prefix: the part that names
/// the flag and what it accepts.
fn clap_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let line = rendered.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}

/// Parse one point as `run`: the sweep's `run` options, then the point's values.
fn parse_point(base: &[OsString], values: &[(&str, &str)]) -> Result<Experiment, clap::Error> {
    let mut args: Vec<OsString> = vec!["tcpknobs".into(), "run".into()];
    args.extend(base.iter().cloned());
    args.extend(values.iter().map(|(n, v)| format!("--{n}={v}").into()));
    match cli::parse(args)? {
        Command::Run(run) => Ok(run.experiment()),
        _ => Err(usage(ErrorKind::InvalidSubcommand, "not a run".into())),
    }
}

/// Check the sweep's input and parse every point, before anything runs.
pub fn plan(args: &SweepArgs) -> Result<Plan, clap::Error> {
    let names = cli::sweep_names();
    let mut axes = Vec::with_capacity(args.vary.len());
    for spec in &args.vary {
        let axis =
            Axis::parse(spec).map_err(|e| usage(ErrorKind::InvalidValue, format!("--vary {e}")))?;
        if !names.contains(&axis.name) {
            return Err(usage(
                ErrorKind::InvalidValue,
                format!(
                    "--vary '{spec}': '{}' is not a run option; a sweep varies one of: {}",
                    axis.name,
                    names.join(", ")
                ),
            ));
        }
        axes.push(axis);
    }
    let grid = sweep::grid(&axes).map_err(|e| usage(ErrorKind::InvalidValue, e.to_string()))?;

    // The varied options are set by the points, not by the sweep's own arguments.
    let base: Vec<OsString> = args
        .run_args
        .iter()
        .filter(|a| {
            !axes.iter().any(|axis| {
                a.to_str()
                    .is_some_and(|a| a.starts_with(&format!("--{}=", axis.name)))
            })
        })
        .cloned()
        .collect();

    // Each value alone first, so that a bad one is named by its place in its list.
    for axis in &axes {
        for (i, value) in axis.values.iter().enumerate() {
            parse_point(&base, &[(&axis.name, value)]).map_err(|e| {
                usage(
                    ErrorKind::InvalidValue,
                    format!(
                        "--vary {}: value {} of {} ('{value}'): {}",
                        axis.name,
                        i + 1,
                        axis.values.len(),
                        clap_message(&e)
                    ),
                )
            })?;
        }
    }

    let mut points = Vec::with_capacity(grid.len());
    let mut experiments = Vec::with_capacity(grid.len());
    for (n, indices) in grid.iter().enumerate() {
        let values: Vec<(&str, &str)> = axes
            .iter()
            .zip(indices)
            .map(|(a, &i)| (a.name.as_str(), a.values.get(i).map_or("", String::as_str)))
            .collect();
        let experiment = parse_point(&base, &values).map_err(|e| {
            let set: Vec<String> = values.iter().map(|(n, v)| format!("{n}={v}")).collect();
            usage(
                ErrorKind::InvalidValue,
                format!("point {} ({}): {}", n + 1, set.join(" "), clap_message(&e)),
            )
        })?;
        points.push(
            values
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        );
        experiments.push(experiment);
    }
    Ok(Plan {
        axes,
        points,
        experiments,
    })
}

/// Run the planned points and print their rows (and write `--out`).
pub fn run(args: &SweepArgs, plan: Plan) -> anyhow::Result<Outcome> {
    let results = sweep::run_all(&plan.experiments, args.jobs).context("starting the threads")?;
    let rows: Vec<Row> = plan
        .points
        .into_iter()
        .zip(results)
        .map(|(values, result)| Row {
            values,
            outcome: result.map(|r| Metrics::of(&r)).map_err(|e| causes(&e)),
        })
        .collect();
    if let Some(path) = &args.out {
        let file = File::create(path).with_context(|| format!("--out {}", path.display()))?;
        let w = BufWriter::new(file);
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_writer_pretty(w, &rows)
                .with_context(|| format!("--out {}", path.display()))?;
        } else {
            sweep::write_csv(&plan.axes, &rows, w)
                .with_context(|| format!("--out {}", path.display()))?;
        }
    }
    if args.run.json {
        print_json(&rows)?;
    } else {
        print_stdout(&table(&plan.axes, &rows))?;
    }
    let all_good = rows
        .iter()
        .all(|r| r.outcome.as_ref().is_ok_and(|m| m.failed == 0));
    Ok(if all_good {
        Outcome::AllSucceeded
    } else {
        Outcome::SomeFailed
    })
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

/// The rows as an aligned table: the varied values, then the metrics.
fn table(axes: &[Axis], rows: &[Row]) -> String {
    let header: Vec<String> = axes
        .iter()
        .map(|a| a.name.clone())
        .chain(METRIC_COLUMNS.iter().map(|c| c.to_string()))
        .collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.values
                .iter()
                .map(|(_, v)| v.clone())
                .chain(r.metric_cells())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&body) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
