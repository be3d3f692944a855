//! `tcpknobs sweep`: `run` over a grid of option values, one row per point; with
//! `--tap`, `get` over the grid instead, against a real server.
//!
//! Each point is parsed as `run` (or `get`) would parse it: the sweep's own options,
//! then `--NAME=VALUE` for each varied option, through the same clap definitions, so
//! every option, default and error message is that command's. Every point is parsed,
//! and every output file created, before any runs: bad input is a usage error
//! (status 2) and nothing has been spent on it. Both kinds of sweep fold each run into
//! the same [`Metrics`] and write the same rows, files and plot.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::Context;
use clap::error::ErrorKind;
use rayon::prelude::*;
use serde::Serialize;
use tcpknobs_http::blame::Blame;
use tcpknobs_http::client::ClientConfig;
use tcpknobs_lab::sweep::plot::{self, PlotKind};
use tcpknobs_lab::sweep::{self, write, Axis, Columns, Metrics, Row};
use tcpknobs_lab::tap::{KernelDrops, Rig, TapTrace};
use tcpknobs_lab::Experiment;
use tcpknobs_stack::host::ListenCounters;
use tcpknobs_stack::{Clock, Knobs, LinkProfile, RealtimeEnd, Stop, TapDevice};

use crate::cli::{
    self, side_knobs, Command, GetArgs, PlotKindArg, Side, SweepAction, SweepArgs,
    GET_RESPONSE_TIMEOUT,
};
use crate::get;
use crate::output::{create_output, print_json, print_stdout, Outcome};

/// What `sweep` will do, decided before anything runs.
pub struct Plan(Job);

enum Job {
    /// Run the points.
    Sweep {
        axes: Vec<Axis>,
        /// Each point's index in the whole grid and its values.
        points: Vec<(usize, Vec<(String, String)>)>,
        /// What each point runs.
        runs: Runs,
        /// The output files, created.
        outputs: Vec<(PathBuf, File)>,
        plot: Option<(PathBuf, File)>,
    },
    /// `sweep merge`.
    Merge(Vec<PathBuf>),
}

/// The points' runs: experiments on the simulator, or `get`s over a TAP.
enum Runs {
    Sim(Vec<Experiment>),
    Tap(Vec<GetArgs>),
}

/// One point parsed: a `run` or a `get`.
enum Parsed {
    Sim(Box<Experiment>),
    Tap(Box<GetArgs>),
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

/// How a sweep's points are parsed: as `run`, or as `get` with the URLs after the
/// options.
struct Form<'a> {
    /// `run` or `get`.
    command: &'static str,
    /// The sweep's options for every point (the varied ones left out).
    base: Vec<OsString>,
    /// After the point's values: `--` and the URLs (`get`).
    tail: &'a [OsString],
}

/// Parse one point as `form` says: the sweep's options, then the point's values,
/// with the command line's definitions built before (`cmd`).
fn parse_point(
    cmd: &mut clap::Command,
    form: &Form,
    values: &[(&str, &str)],
) -> Result<Parsed, clap::Error> {
    let mut args: Vec<OsString> = vec!["tcpknobs".into(), form.command.into()];
    args.extend(form.base.iter().cloned());
    args.extend(values.iter().map(|(n, v)| format!("--{n}={v}").into()));
    args.extend(form.tail.iter().cloned());
    match cli::parse_with(cmd, args)? {
        Command::Run(run) => Ok(Parsed::Sim(Box::new(run.experiment()))),
        Command::Get(get) => Ok(Parsed::Tap(get)),
        _ => Err(usage(ErrorKind::InvalidSubcommand, "not a run".into())),
    }
}

/// Check the sweep's input, parse every point and create every output file, before
/// anything runs.
pub fn plan(args: &SweepArgs) -> Result<Plan, clap::Error> {
    if let Some(SweepAction::Merge { files }) = &args.action {
        return Ok(Plan(Job::Merge(files.clone())));
    }
    let tap = args.tap.is_some();
    let names = if tap {
        cli::tap_sweep_names()
    } else {
        cli::sweep_names()
    };
    let mut axes = Vec::with_capacity(args.vary.len());
    for spec in &args.vary {
        let axis =
            Axis::parse(spec).map_err(|e| usage(ErrorKind::InvalidValue, format!("--vary {e}")))?;
        if let Some(why) = tap.then(|| cli::tap_refusal(&axis.name)).flatten() {
            return Err(usage(
                ErrorKind::InvalidValue,
                format!(
                    "--vary '{spec}': {why}; sweep --tap varies one of: {}",
                    names.join(", ")
                ),
            ));
        }
        if tap && !names.contains(&axis.name) {
            return Err(usage(
                ErrorKind::InvalidValue,
                format!(
                    "--vary '{spec}': '{}' takes no value; sweep --tap varies one of: {}",
                    axis.name,
                    names.join(", ")
                ),
            ));
        }
        if !tap && !names.contains(&axis.name) {
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

    let mut given = args.run_args.clone();
    let mut tail = Vec::new();
    if let Some(device) = &args.tap {
        // The options given for every point must be `get`'s too: a server or
        // simulated-link option would be dropped without a word otherwise.
        for a in &args.run_args {
            let name = a
                .to_str()
                .and_then(|a| a.strip_prefix("--"))
                .map(|a| a.split_once('=').map_or(a, |(n, _)| n));
            if let Some(why) = name.and_then(cli::tap_refusal) {
                return Err(usage(ErrorKind::ArgumentConflict, why));
            }
        }
        let first = get::one_server(&args.urls).map_err(|e| usage(ErrorKind::InvalidValue, e))?;
        let mut own: Vec<OsString> = vec![format!("--tap={device}").into()];
        own.extend(args.ip.map(|ip| format!("--ip={ip}").into()));
        own.extend(args.gateway.map(|g| format!("--gateway={g}").into()));
        own.extend(args.rx_batch.map(|n| format!("--rx-batch={n}").into()));
        own.append(&mut given);
        given = own;
        tail.push("--".into());
        tail.extend(args.urls.iter().map(|u| OsString::from(u.to_string())));
        // Addressing that cannot work is refused before the TAP is opened.
        let mut setup = tcpknobs_lab::tap::TapSetup::new(
            device.clone(),
            args.ip.unwrap_or_else(default_tap_ip),
        );
        setup.gateway = args.gateway;
        setup
            .check_addressing(Some(first.addr))
            .map_err(|e| usage(ErrorKind::InvalidValue, e.to_string()))?;
    }
    // The varied options are set by the points, not by the sweep's own arguments.
    let base: Vec<OsString> = given
        .into_iter()
        .filter(|a| {
            !axes.iter().any(|axis| {
                a.to_str()
                    .is_some_and(|a| a.starts_with(&format!("--{}=", axis.name)))
            })
        })
        .collect();
    let form = Form {
        command: if tap { "get" } else { "run" },
        base,
        tail: &tail,
    };

    let mut command = cli::command();
    // Each value alone first, so that a bad one is named by its place in its list.
    for axis in &axes {
        for (i, value) in axis.values.iter().enumerate() {
            parse_point(&mut command, &form, &[(&axis.name, value)]).map_err(|e| {
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
                let mut parsed = parse_point(command, &form, &values).map_err(|e| {
                    let set: Vec<String> = values.iter().map(|(n, v)| format!("{n}={v}")).collect();
                    usage(
                        ErrorKind::InvalidValue,
                        format!("point {} ({}): {}", n + 1, set.join(" "), clap_message(&e)),
                    )
                })?;
                if let Parsed::Sim(experiment) = &mut parsed {
                    experiment.blame = !args.no_blame;
                }
                let values = values
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect();
                Ok((values, parsed))
            })
            .collect::<Vec<Result<(Vec<(String, String)>, Parsed), clap::Error>>>()
    };
    let parsed = pool.install(parse);
    let mut points = Vec::with_capacity(parsed.len());
    let mut experiments = Vec::new();
    let mut gets = Vec::new();
    for ((n, _), result) in mine.iter().zip(parsed) {
        let (values, parsed) = result?;
        points.push((*n, values));
        match parsed {
            Parsed::Sim(e) => experiments.push(*e),
            Parsed::Tap(g) => gets.push(*g),
        }
    }
    let runs = if tap {
        Runs::Tap(gets)
    } else {
        Runs::Sim(experiments)
    };

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
        runs,
        outputs,
        plot,
    }))
}

/// `get --ip`'s default, for checking the addressing of a sweep without `--ip`.
fn default_tap_ip() -> tcpknobs_stack::Ipv4Cidr {
    tcpknobs_stack::Ipv4Cidr::new(Ipv4Addr::new(10, 77, 0, 2), 24)
}

/// A progress bar of `total` runs on stderr, when it is a terminal and not `--quiet`.
fn progress(args: &SweepArgs, total: usize) -> Option<indicatif::ProgressBar> {
    (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs, {per_sec}, ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    })
}

/// Run the planned points and print their rows (and write `--out` and `--plot`), or
/// merge shards.
pub fn run(args: &SweepArgs, plan: Plan) -> anyhow::Result<Outcome> {
    let (axes, points, runs, outputs, plot_file) = match plan.0 {
        Job::Merge(files) => return merge(&files),
        Job::Sweep {
            axes,
            points,
            runs,
            outputs,
            plot,
        } => (axes, points, runs, outputs, plot),
    };
    let report = Report {
        args,
        axes: &axes,
        outputs,
        plot_file,
    };
    match runs {
        Runs::Sim(experiments) => {
            let bar = progress(args, experiments.len() * args.repeat);
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
            let rows: Vec<Row> = points
                .into_iter()
                .zip(results)
                .zip(&experiments)
                .map(|(((point, values), runs), e)| Row::new(point, values, &runs, e.seed))
                .collect();
            report.write(&rows, &experiments)
        }
        Runs::Tap(gets) => {
            let (rows, settings) = run_tap(args, points, &gets)?;
            report.write(&rows, &settings)
        }
    }
}

/// Where a sweep's rows go.
struct Report<'a> {
    args: &'a SweepArgs,
    axes: &'a [Axis],
    outputs: Vec<(PathBuf, File)>,
    plot_file: Option<(PathBuf, File)>,
}

impl Report<'_> {
    /// Write the rows to `--out` and `--plot` and print them; `settings[i]` is what
    /// set row i, for the CSV's columns.
    fn write<E: Serialize>(self, rows: &[Row], settings: &[E]) -> anyhow::Result<Outcome> {
        let args = self.args;
        let columns = Columns::new(args.repeat);
        let names: Vec<String> = self.axes.iter().map(|a| a.name.clone()).collect();
        for (path, file) in self.outputs {
            let mut w = BufWriter::new(file);
            let context = || format!("--out {}", path.display());
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => write::json(&columns, rows, &mut w).with_context(context)?,
                Some("jsonl") => write::jsonl(&columns, rows, &mut w).with_context(context)?,
                Some("md") => w
                    .write_all(write::markdown(&names, &columns, rows).as_bytes())
                    .with_context(context)?,
                _ => write::csv(&names, &columns, rows, settings, &mut w).with_context(context)?,
            }
            w.flush().with_context(context)?;
        }
        if let Some((path, file)) = self.plot_file {
            let kind = match args.plot_kind {
                PlotKindArg::Lines => PlotKind::Lines,
                PlotKindArg::Heatmap => PlotKind::Heatmap,
            };
            let svg = plot::svg(self.axes, &columns, rows, &args.metric, kind)
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
            print_stdout(&write::table(&names, &columns, rows))?;
        }
        Ok(if rows.iter().any(|r| r.any_failed) {
            Outcome::SomeFailed
        } else {
            Outcome::AllSucceeded
        })
    }
}

/// What set a point of a sweep over a TAP, as its CSV columns: the names of `get
/// --json`'s fields where it has them (`tap.added` is what the process adds, in
/// `run`'s `link` fields), `run`'s otherwise (`client_knobs`, `client`).
#[derive(Serialize)]
struct TapSettings {
    tap: String,
    ip: String,
    gateway: Option<Ipv4Addr>,
    rx_batch: u32,
    added: LinkProfile,
    /// The seed of the point's first run.
    seed: u64,
    client_knobs: Knobs,
    client: ClientConfig,
    urls: Vec<String>,
    /// The congestion control the kernel gives new sockets in the namespace, as the
    /// point's runs found it: what its sender did after a loss depends on it.
    kernel_congestion_control: Option<String>,
}

/// Why a run of a TAP sweep was not done after Ctrl-C or SIGTERM.
const STOPPED: &str = "stopped (Ctrl-C or SIGTERM) before this run finished";

/// Run a TAP sweep's points one after another on one TAP, opened once: each run gets
/// a fresh host (the point's knobs) and the point's added RTT and loss, all on one
/// clock (see [`Rig::on`]). Run i of a point has seed `--seed` + i, or without
/// `--seed` the sweep's clock seed + i: as in a simulated sweep, every point meets
/// the same loss draws. Returns the rows and what set each.
fn run_tap(
    args: &SweepArgs,
    points: Vec<(usize, Vec<(String, String)>)>,
    gets: &[GetArgs],
) -> anyhow::Result<(Vec<Row>, Vec<TapSettings>)> {
    let Some(first) = gets.first() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let stop = Stop::new().context("creating the stop signal")?;
    let mut device = Some(TapDevice::open(&first.tap.tap)?);
    crate::tap::stop_on_signals(&stop)?;
    let clock = Clock::start();
    let sweep_seed = clock.run_seed();
    let repeat = args.repeat.max(1);
    let bar = progress(args, gets.len() * repeat);
    let mut rows = Vec::with_capacity(gets.len());
    let mut settings = Vec::with_capacity(gets.len());
    let mut warned = false;
    // The kernel's drops at the TAP over all runs: said once, at the end.
    let mut queue_drops = KernelDrops::default();
    for ((point, values), get) in points.into_iter().zip(gets) {
        let knobs = side_knobs(get.profile, &get.knobs, Side::Client);
        let first_seed = get.tap.seed.unwrap_or(sweep_seed);
        let mut runs = Vec::with_capacity(repeat);
        // What the server's listeners did beyond their queues in this point's runs:
        // no knob of the sweep asks for it, so it is said, per point.
        let mut listen = ListenCounters::default();
        let mut congestion_control = None;
        for i in 0..repeat {
            if stop.is_requested() {
                runs.push(Err(STOPPED.to_owned()));
                continue;
            }
            let Some(tap) = device.take() else {
                runs.push(Err(
                    "not run: an earlier run's set-up failed and closed the TAP".to_owned(),
                ));
                continue;
            };
            let mut setup = get.tap.setup();
            setup.seed = Some(first_seed.wrapping_add(i as u64));
            let rig = Rig::on(
                tap,
                &setup,
                knobs.clone(),
                get.max_time,
                stop.clone(),
                clock,
            );
            let mut rig = match rig {
                Ok(rig) => rig,
                // Before the first run it is the set-up that is wrong (the kernel
                // holds our address): nothing has run, nothing to report.
                Err(e) if !warned => return Err(e.into()),
                Err(e) => {
                    runs.push(Err(format!("setting up the run: {e}")));
                    continue;
                }
            };
            if !warned {
                for warning in &rig.warnings {
                    eprintln!("warning: {warning}");
                }
                warned = true;
            }
            let trace = if args.no_blame {
                None
            } else {
                Some(TapTrace::attach(&mut rig, None)?)
            };
            let fetched = get::fetch(&mut rig, get, knobs.clone(), trace.as_ref());
            if let Some(d) = rig.kernel_drops {
                queue_drops.to_host += d.to_host;
                queue_drops.queue_len = d.queue_len;
            }
            if let Some(k) = rig.kernel_tcp {
                listen.add(&k.listen);
            }
            // The peer's retransmissions are the kernel's: with ours, the column
            // counts both ends, as it does in the simulator.
            let peer_retransmissions = rig.kernel_tcp.map_or(0, |k| k.retrans_segs);
            congestion_control = rig.kernel_congestion_control.clone();
            device = Some(rig.tap);
            runs.push(match fetched {
                Ok(f) if f.report.end == RealtimeEnd::Stopped => Err(STOPPED.to_owned()),
                Ok(f) => {
                    let r = &f.report;
                    let blame = trace.is_some().then(|| {
                        let mut sum = Blame::default();
                        for b in r.transactions.iter().filter_map(|t| t.blame.as_ref()) {
                            sum.merge(b);
                        }
                        sum
                    });
                    let ours: u64 = r.connections.iter().map(|c| c.stats.retransmissions).sum();
                    let retransmissions = ours + peer_retransmissions;
                    Ok(Metrics::new(&f.summary, retransmissions, blame.as_ref()))
                }
                Err(e) => Err(crate::causes_once(&e)),
            });
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        let setup = get.tap.setup();
        let server = get.urls.first();
        settings.push(TapSettings {
            tap: setup.tap.clone(),
            ip: setup.ip.to_string(),
            gateway: setup.gateway,
            rx_batch: setup.rx_batch,
            added: setup.added_link(),
            seed: first_seed,
            client_knobs: knobs,
            client: ClientConfig {
                server: server.map_or(Ipv4Addr::UNSPECIFIED, |u| u.addr),
                port: server.map_or(0, |u| u.port),
                ..get.client.config(GET_RESPONSE_TIMEOUT)
            },
            urls: get.urls.iter().map(ToString::to_string).collect(),
            kernel_congestion_control: congestion_control,
        });
        if let Some(what) = crate::table::listen_words(&listen) {
            let set: Vec<String> = values.iter().map(|(n, v)| format!("{n}={v}")).collect();
            eprintln!(
                "warning: point {} ({}): the kernel's listeners over its runs: {what}",
                point,
                set.join(" ")
            );
        }
        rows.push(Row::new(point, values, &runs, first_seed));
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(sentence) = crate::table::queue_drops(&first.tap.tap, &queue_drops) {
        eprintln!("warning: over the sweep's runs, {sentence}");
    }
    Ok((rows, settings))
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
