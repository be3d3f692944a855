//! Why an experiment could not be run. A run that ran but whose transactions failed is
//! not an error: its [`Report`](crate::Report) says what failed and why.

use std::path::PathBuf;

/// Why [`Experiment::run`](crate::Experiment::run) produced no report.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The capture file could not be created.
    #[error("cannot create {}", path.display())]
    CaptureCreate {
        /// The file asked for.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// Writing the capture failed (the run itself may have completed).
    #[error("cannot write {}", path.display())]
    CaptureWrite {
        /// The file asked for.
        path: PathBuf,
        /// What the file system or the capture writer said.
        #[source]
        source: tcpknobs_stack::pcap::CaptureError,
    },
    /// The trace file could not be created or written.
    #[error("cannot write {}", path.display())]
    TraceWrite {
        /// The file asked for.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The timeline picture could not be written.
    #[error("cannot write {}", path.display())]
    TimelineWrite {
        /// The file asked for.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The timing histograms could not be set up.
    #[error("the timing histograms")]
    Histogram(#[source] hdrhistogram::CreationError),
}

impl LabError {
    /// Whether the capture file is to blame (a front end names its capture flag).
    pub fn is_capture(&self) -> bool {
        matches!(
            self,
            LabError::CaptureCreate { .. } | LabError::CaptureWrite { .. }
        )
    }
}
