//! `tcpknobs run`: one experiment on the simulated link, printed as tables or JSON.

use anyhow::Context;
use tcpknobs_lab::har::Har;
use tcpknobs_lab::{LabError, Outputs};

use crate::cli::RunArgs;
use crate::output::{create_output, print_json, print_stdout, Outcome};
use crate::table;

/// Run the experiment the flags describe and print its report.
pub fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let har = match &args.har {
        Some(path) => Some((path, create_output("--har", path)?)),
        None => None,
    };
    // The files the lab writes: a path that cannot be written fails here, before
    // the run, as `--har` does.
    for (flag, path) in [
        ("--pcap", &args.pcap),
        ("--trace", &args.trace),
        ("--timeline", &args.timeline),
    ] {
        if let Some(path) = path {
            create_output(flag, path)?;
        }
    }
    let outputs = Outputs {
        pcap: args.pcap.clone(),
        trace: args.trace.clone(),
        timeline: args.timeline.clone(),
    };
    let report = args.experiment().run_with(&outputs).map_err(|e| {
        let flag = match e {
            _ if e.is_capture() => Some("--pcap"),
            LabError::TraceWrite { .. } => Some("--trace"),
            LabError::TimelineWrite { .. } => Some("--timeline"),
            _ => None,
        };
        let e = anyhow::Error::new(e);
        match flag {
            Some(flag) => e.context(flag),
            None => e,
        }
    })?;
    if let Some((path, file)) = har {
        Har::of_run(&report)
            .write(file)
            .with_context(|| format!("--har '{}'", path.display()))?;
    }
    if args.json {
        print_json(&report)?;
    } else if args.blame {
        print_stdout(&table::render_blame(&report))?;
    } else {
        print_stdout(&table::render(&report))?;
    }
    Ok(Outcome::of_failures(report.totals.failed))
}
