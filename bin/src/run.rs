//! `tcpknobs run`: one experiment on the simulated link, printed as tables or JSON.

use anyhow::Context;
use tcpknobs_lab::har::Har;

use crate::cli::RunArgs;
use crate::output::{create_output, print_json, print_stdout, Outcome};
use crate::table;

/// Run the experiment the flags describe and print its report.
pub fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let har = match &args.har {
        Some(path) => Some((path, create_output("--har", path)?)),
        None => None,
    };
    let report = args.experiment().run(args.pcap.as_deref()).map_err(|e| {
        let capture = e.is_capture();
        let e = anyhow::Error::new(e);
        if capture {
            e.context("--pcap")
        } else {
            e
        }
    })?;
    if let Some((path, file)) = har {
        Har::of_run(&report)
            .write(file)
            .with_context(|| format!("--har '{}'", path.display()))?;
    }
    if args.json {
        print_json(&report)?;
    } else {
        print_stdout(&table::render(&report))?;
    }
    Ok(Outcome::of_failures(report.totals.failed))
}
