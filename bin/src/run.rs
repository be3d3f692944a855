//! `tcpknobs run`: one experiment on the simulated link, printed as tables or JSON.

use crate::cli::RunArgs;
use crate::output::{print_json, print_stdout, Outcome};
use crate::table;
use tcpknobs_lab::{LabError, Outputs};

/// Run the experiment the flags describe and print its report.
pub fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let outputs = Outputs {
        pcap: args.pcap.clone(),
        trace: args.trace.clone(),
    };
    let report = args.experiment().run_with(&outputs).map_err(|e| {
        let flag = if e.is_capture() {
            Some("--pcap")
        } else if matches!(e, LabError::TraceWrite { .. }) {
            Some("--trace")
        } else {
            None
        };
        let e = anyhow::Error::new(e);
        match flag {
            Some(flag) => e.context(flag),
            None => e,
        }
    })?;
    if args.json {
        print_json(&report)?;
    } else if args.blame {
        print_stdout(&table::render_blame(&report))?;
    } else {
        print_stdout(&table::render(&report))?;
    }
    Ok(Outcome::of_failures(report.totals.failed))
}
