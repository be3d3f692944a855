//! # tcpknobs-lab
//!
//! Experiments on the tcpknobs stack as one typed API: an [`Experiment`] in, a
//! [`Report`] out. The command line's `run`, and anything else that runs
//! experiments (tests, benchmarks, sweeps), call it directly instead of parsing a
//! subprocess's JSON.
//!
//! * [`experiment`]: [`Experiment`], everything that determines a run on the
//!   simulated network (link, seed, knobs per side, client, server, optional proxy,
//!   workload), and [`Experiment::run`], which builds the network, runs it on its
//!   virtual clock and collects the report.
//! * [`report`]: [`Report`], exactly what `run --json` prints (docs/json.md), and the
//!   parts the TAP commands share (totals, connection rows, the report forms of the
//!   client's and server's settings).
//! * [`summary`]: the exact aggregates every transaction is folded into as it
//!   finishes, so a run's memory does not grow with its number of requests.
//! * [`sweep`]: many experiments over a grid of varied values (`--vary`), run in
//!   parallel, collected in point order so the output does not depend on the threads.
//! * [`tap`]: one host on a Linux TAP device in real time, the same applications
//!   against real peers: [`tap::TapSetup`], [`tap::Rig`] and the reports of `serve`
//!   and `get` (not deterministic: the wall clock and the peer decide the timings).
//! * [`values`]: the value parsers every front end shares (durations, sizes, rates,
//!   probabilities, port ranges, pages), each the inverse of its formatter.
//!
//! ## The contract
//!
//! A run is deterministic: the same [`Experiment`] (its `seed` included) gives the
//! same [`Report`], and the same capture, byte for byte. Nothing here reads a clock
//! or a random source of its own: time is the simulator's virtual clock and every
//! random choice comes from the seed. A run that completed is `Ok` even when
//! transactions failed (the report says which and why); [`LabError`] is for a run
//! that could not be done.
//!
//! ```
//! use tcpknobs_http::message::Method;
//! use tcpknobs_http::workload::Workload;
//! use tcpknobs_lab::Experiment;
//! use tcpknobs_stack::LinkProfile;
//!
//! let link = LinkProfile { one_way_delay_ns: 50_000_000, ..LinkProfile::default() };
//! let experiment = Experiment::new(link, Workload::repeated(1, 100, Method::Get), "1 x GET 100");
//! let report = experiment.run(None)?;
//! // A new connection: one round trip to connect, one for the request.
//! assert_eq!(report.totals.total_ms, 200.0);
//! assert_eq!(report, experiment.run(None)?);
//! # Ok::<(), tcpknobs_lab::LabError>(())
//! ```
#![warn(missing_docs)]

pub mod blame;
pub mod error;
pub mod experiment;
pub mod har;
pub mod report;
pub mod summary;
pub mod sweep;
pub mod tap;
pub mod timeline;
pub mod tour;
pub mod trace_file;
pub mod values;

pub use error::LabError;
pub use experiment::{Experiment, Outputs, Rows, ROWS_BY_DEFAULT};
pub use report::Report;
pub use summary::Summary;
