//! What every command ends with: its outcome (the exit status tells them apart), its
//! result on stdout, and the files output flags name, created before the run.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// A file an output flag names could not be created. The flag's value is at fault, so
/// it is a usage error (status 2), found before the run rather than after it.
#[derive(Debug)]
pub struct OutputFileError {
    /// The flag, e.g. `--har`.
    pub flag: String,
    /// The file asked for.
    pub path: PathBuf,
    /// What the file system said.
    pub source: std::io::Error,
}

impl std::fmt::Display for OutputFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} '{}': cannot create the file: {}",
            self.flag,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for OutputFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Create (or truncate) the file output flag `flag` names, before the run: a path that
/// cannot be written fails at once instead of after a long run whose result would be
/// lost. Every output flag that writes a file after the run opens it here.
pub fn create_output(flag: &str, path: &Path) -> Result<File, OutputFileError> {
    File::create(path).map_err(|source| OutputFileError {
        flag: flag.to_string(),
        path: path.to_owned(),
        source,
    })
}

/// An output file created up front ([`create_output`]) and written once the run is
/// over: its flag and path name it in any error.
pub struct OutputFile {
    flag: &'static str,
    path: PathBuf,
    file: File,
}

impl OutputFile {
    /// Create the file `flag` names, if it names one.
    pub fn create(
        flag: &'static str,
        path: Option<&Path>,
    ) -> Result<Option<OutputFile>, OutputFileError> {
        path.map(|path| {
            Ok(OutputFile {
                flag,
                path: path.to_owned(),
                file: create_output(flag, path)?,
            })
        })
        .transpose()
    }

    /// Write `text` to it.
    pub fn write(mut self, text: &str) -> anyhow::Result<()> {
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| anyhow::anyhow!("{} '{}': {e}", self.flag, self.path.display()))
    }
}
