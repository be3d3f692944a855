//! The event trace as a file (`--trace F.jsonl`): one JSON object a line, in the
//! order the events happened, times in ns. Written as the run goes, so a long run's
//! trace costs disk, not memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tcpknobs_stack::trace::Event;

use crate::LabError;

/// Writes events as JSON lines; the first error is kept and reported by
/// [`TraceWriter::finish`] (events after it are not written).
pub struct TraceWriter {
    path: PathBuf,
    out: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl TraceWriter {
    /// Create (or truncate) the file.
    pub fn create(path: &Path) -> Result<TraceWriter, LabError> {
        let file = File::create(path).map_err(|source| LabError::TraceWrite {
            path: path.to_owned(),
            source,
        })?;
        Ok(TraceWriter {
            path: path.to_owned(),
            out: BufWriter::new(file),
            error: None,
        })
    }

    /// Append events.
    pub fn write(&mut self, events: &[Event]) {
        if self.error.is_some() {
            return;
        }
        for e in events {
            let line = serde_json::to_writer(&mut self.out, e)
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"));
            if let Err(e) = line {
                self.error = Some(e);
                return;
            }
        }
    }

    /// Flush, and report the first error.
    pub fn finish(mut self) -> Result<(), LabError> {
        let result = match self.error.take() {
            Some(e) => Err(e),
            None => self.out.flush(),
        };
        result.map_err(|source| LabError::TraceWrite {
            path: self.path,
            source,
        })
    }
}
