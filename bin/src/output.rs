//! What every command ends with: its outcome (the exit status tells them apart) and
//! its result on stdout.

use std::io::Write;

/// What a command that ran to its end found: the exit status tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every transaction succeeded (or there were none to make, as in `serve`).
    AllSucceeded,
    /// The run completed but some transactions failed; their rows say why.
    SomeFailed,
}

impl Outcome {
    /// From a run's count of failed transactions.
    pub fn of_failures(failed: usize) -> Outcome {
        if failed == 0 {
            Outcome::AllSucceeded
        } else {
            Outcome::SomeFailed
        }
    }
}

/// Print a command's result on stdout. A reader that stopped early (`| head`) is not
/// an error of the run.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}

/// Print `value` as pretty JSON on stdout, streamed: a report with a million rows is
/// never held as one string as well. A reader that stopped early is not an error.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing to stdout"))
        }
        _ => Ok(()),
    }
}
