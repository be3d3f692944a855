//! `tcpknobs sweep`: `run` over a grid of option values, one row per point.
//!
//! Each point is parsed as `run` would parse it: the sweep's own `run` options, then
//! `--NAME=VALUE` for each varied option, through the same clap definitions, so every
//! option, default and error message is `run`'s. Every point is parsed, and every
//! output file created, before any runs: bad input is a usage error (status 2) and
//! nothing has been spent on it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::error::ErrorKind;
use rayon::prelude::*;
use tcpknobs_lab::sweep::plot::{self, PlotKind};
use tcpknobs_lab::sweep::{self, write, Axis, Columns, Row};
use tcpknobs_lab::Experiment;

use crate::cli::{self, Command, PlotKindArg, SweepAction, SweepArgs};
use crate::output::{create_output, print_json, print_stdout, Outcome};

/// What `sweep` will do, decided before anything runs.
pub struct Plan(Job);

enum Job {
    /// Run the points.
    Sweep {
        axes: Vec<Axis>,
        /// Each point's index in the whole grid and its values.
        points: Vec<(usize, Vec<(String, String)>)>,
        experiments: Vec<Experiment>,
        /// The seed of each point's first run.
        seeds: Vec<u64>,
        /// The output files, created.
        outputs: Vec<(PathBuf, File)>,
        plot: Option<(PathBuf, File)>,
    },
    /// `sweep merge`.
    Merge(Vec<PathBuf>),
}

/// A point parsed: its `(name, value)` pairs and its experiment.
type Parsed = (Vec<(String, String)>, Experiment);

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

/// Parse one point as `run`: the sweep's `run` options, then the point's values, with
/// the command line's definitions built before (`cmd`).
fn parse_point(
    cmd: &mut clap::Command,
    base: &[OsString],
    values: &[(&str, &str)],
) -> Result<Experiment, clap::Error> {
    let mut args: Vec<OsString> = vec!["tcpknobs".into(), "run".into()];
    args.extend(base.iter().cloned());
    args.extend(values.iter().map(|(n, v)| format!("--{n}={v}").into()));
    match cli::parse_with(cmd, args)? {
        Command::Run(run) => Ok(run.experiment()),
        _ => Err(usage(ErrorKind::InvalidSubcommand, "not a run".into())),
    }
}

/// Check the sweep's input, parse every point and create every output file, before
/// anything runs.
pub fn plan(args: &SweepArgs) -> Result<Plan, clap::Error> {
    if let Some(SweepAction::Merge { files }) = &args.action {
        return Ok(Plan(Job::Merge(files.clone())));
    }
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
    let kind = match args.plot_kind {
        PlotKindArg::Lines => PlotKind::Lines,
        PlotKindArg::Heatmap => PlotKind::Heatmap,
    };
    if args.plot.is_some() {
        plot::check(&axes, &args.metric, kind)
            .map_err(|e| usage(ErrorKind::InvalidValue, e.to_string()))?;
    }

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

    let mut command = cli::command();
    // Each value alone first, so that a bad one is named by its place in its list.
    for axis in &axes {
        for (i, value) in axis.values.iter().enumerate() {
            parse_point(&mut command, &base, &[(&axis.name, value)]).map_err(|e| {
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

    // Then every point of this shard, in parallel (each thread with its own
    // definitions); the first bad point in grid order is the one named.
    let mine: Vec<(usize, &Vec<usize>)> = grid
        .iter()
        .enumerate()
        .filter(|(n, _)| args.shard.is_none_or(|s| s.holds(*n)))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| usage(ErrorKind::Io, format!("starting the threads: {e}")))?;
    let parse = || {
        mine.par_iter()
            .map_init(cli::command, |command, (n, indices)| {
                let values: Vec<(&str, &str)> = axes
                    .iter()
                    .zip(indices.iter())
                    .map(|(a, &i)| (a.name.as_str(), a.values.get(i).map_or("", String::as_str)))
                    .collect();
                let mut experiment = parse_point(command, &base, &values).map_err(|e| {
                    let set: Vec<String> = values.iter().map(|(n, v)| format!("{n}={v}")).collect();
                    usage(
                        ErrorKind::InvalidValue,
                        format!("point {} ({}): {}", n + 1, set.join(" "), clap_message(&e)),
                    )
                })?;
                experiment.blame = !args.no_blame;
                let values = values
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                Ok((values, experiment))
            })
            .collect::<Vec<Result<Parsed, clap::Error>>>()
    };
    let parsed = pool.install(parse);
    let mut points = Vec::with_capacity(parsed.len());
    let mut experiments = Vec::with_capacity(parsed.len());
    let mut seeds = Vec::with_capacity(parsed.len());
    for ((n, _), result) in mine.iter().zip(parsed) {
        let (values, experiment) = result?;
        points.push((*n, values));
        seeds.push(experiment.seed);
        experiments.push(experiment);
    }

    let create = |flag: &str, path: &PathBuf| {
        create_output(flag, path)
            .map(|f| (path.clone(), f))
            .map_err(|e| usage(ErrorKind::Io, e.to_string()))
    };
    let outputs = args
        .out
        .iter()
        .map(|p| create("--out", p))
        .collect::<Result<Vec<_>, _>>()?;
    let plot = args
        .plot
        .as_ref()
        .map(|p| create("--plot", p))
        .transpose()?;
    Ok(Plan(Job::Sweep {
        axes,
        points,
        experiments,
        seeds,
        outputs,
        plot,
    }))
}

/// Run the planned points and print their rows (and write `--out` and `--plot`), or
/// merge shards.
pub fn run(args: &SweepArgs, plan: Plan) -> anyhow::Result<Outcome> {
    let (axes, points, experiments, seeds, outputs, plot_file) = match plan.0 {
        Job::Merge(files) => return merge(&files),
        Job::Sweep {
            axes,
            points,
            experiments,
            seeds,
            outputs,
            plot,
        } => (axes, points, experiments, seeds, outputs, plot),
    };
    let total = experiments.len() * args.repeat;
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs, {per_sec}, ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let done = |_: usize| {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let results = sweep::run_points(&experiments, args.repeat, args.jobs, &done)
        .context("starting the threads")?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let columns = Columns::new(args.repeat);
    let rows: Vec<Row> = points
        .into_iter()
        .zip(results)
        .zip(seeds)
        .map(|(((point, values), runs), seed)| Row::new(point, values, &runs, seed))
        .collect();
    let names: Vec<String> = axes.iter().map(|a| a.name.clone()).collect();
    for (path, file) in outputs {
        let mut w = BufWriter::new(file);
        let context = || format!("--out {}", path.display());
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => write::json(&columns, &rows, &mut w).with_context(context)?,
            Some("jsonl") => write::jsonl(&columns, &rows, &mut w).with_context(context)?,
            Some("md") => w
                .write_all(write::markdown(&names, &columns, &rows).as_bytes())
                .with_context(context)?,
            _ => write::csv(&names, &columns, &rows, &experiments, &mut w).with_context(context)?,
        }
        w.flush().with_context(context)?;
    }
    if let Some((path, file)) = plot_file {
        let kind = match args.plot_kind {
            PlotKindArg::Lines => PlotKind::Lines,
            PlotKindArg::Heatmap => PlotKind::Heatmap,
        };
        let svg = plot::svg(&axes, &columns, &rows, &args.metric, kind)
            .with_context(|| format!("--plot {}", path.display()))?;
        let mut w = BufWriter::new(file);
        w.write_all(svg.as_bytes())
            .and_then(|()| w.flush())
            .with_context(|| format!("--plot {}", path.display()))?;
    }
    if args.run.json {
        let all: Vec<_> = rows.iter().map(|r| r.json(&columns)).collect();
        print_json(&all)?;
    } else {
        print_stdout(&write::table(&names, &columns, &rows))?;
    }
    Ok(if rows.iter().any(|r| r.any_failed) {
        Outcome::SomeFailed
    } else {
        Outcome::AllSucceeded
    })
}

/// `sweep merge`: the shards' CSV back in point order on stdout.
fn merge(files: &[PathBuf]) -> anyhow::Result<Outcome> {
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
        inputs.push((path.display().to_string(), std::io::BufReader::new(file)));
    }
    let mut out = Vec::new();
    write::merge(inputs, &mut out).context("merging")?;
    print_stdout(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::AllSucceeded)
}
