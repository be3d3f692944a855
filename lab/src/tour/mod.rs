//! The tour: chapter 4 of *HTTP: The Definitive Guide* as a runnable lab. One
//! experiment per measurable claim, each with two or more settings side by side, a
//! prediction from the formula in [`predict`] (the same functions the chapter tests
//! assert), the measurement on the stack, the cause that took the most time, and the
//! `tcpknobs run ...` command that reproduces it.
//!
//! A prediction holds when the measured time is at least the predicted time and at
//! most the predicted time plus the serialization of the frames on the critical path
//! (nothing beats propagation delay; only serialization is left out of the formulas).
//! A prediction that fails is reported as failing.

mod experiments;
pub mod predict;
mod setup;
mod text;
mod text_en;
mod text_ko;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tcpknobs_http::blame::Cause;
use tcpknobs_stack::Profile;

pub use experiments::experiments;
pub use setup::{default_link, Setup};
pub use text::{Key, Lang};

use crate::{Experiment, LabError, Outputs, Report};

/// The experiments of the tour, by the name `--only` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Name {
    /// Item 5: where a transaction's time goes.
    Latency,
    /// Item 6: the handshake's share.
    Handshake,
    /// Item 7: the delayed-ACK timer.
    DelayedAck,
    /// Item 8: slow start.
    SlowStart,
    /// Item 9: Nagle and the delayed ACK.
    Nagle,
    /// Item 9: classic Nagle against Minshall's on a response's tail.
    NagleTail,
    /// Item 10: TIME_WAIT's connection-rate ceiling.
    TimeWait,
    /// Item 12: serial loading and the four ways out.
    Serial,
    /// Item 13: parallel connections.
    Parallel,
    /// Item 14: parallel connections on a narrow link.
    NarrowLink,
    /// Item 16: persistent connections.
    Persistent,
    /// Item 17: HTTP/1.0 keep-alive.
    KeepAlive,
    /// Item 18: the dumb proxy.
    DumbProxy,
    /// Item 19: `Connection: close`.
    ConnectionClose,
    /// Item 20: pipelining.
    Pipelining,
    /// Item 22: truncated responses.
    Truncation,
    /// Item 23: retrying idempotent requests only.
    Retry,
    /// Item 24: the reset after a full close.
    Reset,
}

impl Name {
    /// Every experiment, in chapter order.
    pub const ALL: [Name; 18] = [
        Name::Latency,
        Name::Handshake,
        Name::DelayedAck,
        Name::SlowStart,
        Name::Nagle,
        Name::NagleTail,
        Name::TimeWait,
        Name::Serial,
        Name::Parallel,
        Name::NarrowLink,
        Name::Persistent,
        Name::KeepAlive,
        Name::DumbProxy,
        Name::ConnectionClose,
        Name::Pipelining,
        Name::Truncation,
        Name::Retry,
        Name::Reset,
    ];

    /// The name as `--only` and JSON spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Latency => "latency",
            Name::Handshake => "handshake",
            Name::DelayedAck => "delayed-ack",
            Name::SlowStart => "slow-start",
            Name::Nagle => "nagle",
            Name::NagleTail => "nagle-tail",
            Name::TimeWait => "time-wait",
            Name::Serial => "serial",
            Name::Parallel => "parallel",
            Name::NarrowLink => "narrow-link",
            Name::Persistent => "persistent",
            Name::KeepAlive => "keep-alive",
            Name::DumbProxy => "dumb-proxy",
            Name::ConnectionClose => "connection-close",
            Name::Pipelining => "pipelining",
            Name::Truncation => "truncation",
            Name::Retry => "retry",
            Name::Reset => "reset",
        }
    }

    /// The chapter item the experiment demonstrates (the numbering `tour --list` shows).
    pub fn item(self) -> u32 {
        match self {
            Name::Latency => 5,
            Name::Handshake => 6,
            Name::DelayedAck => 7,
            Name::SlowStart => 8,
            Name::Nagle | Name::NagleTail => 9,
            Name::TimeWait => 10,
            Name::Serial => 12,
            Name::Parallel => 13,
            Name::NarrowLink => 14,
            Name::Persistent => 16,
            Name::KeepAlive => 17,
            Name::DumbProxy => 18,
            Name::ConnectionClose => 19,
            Name::Pipelining => 20,
            Name::Truncation => 22,
            Name::Retry => 23,
            Name::Reset => 24,
        }
    }
}

/// What `--only` selects: a chapter item (every experiment of it) or one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every experiment.
    All,
    /// The experiments of one chapter item.
    Item(u32),
    /// One experiment.
    Name(Name),
}

/// `--only`'s value did not name an experiment or a covered chapter item.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{given}' is not a tour experiment: use a chapter item ({items}) or a name ({names})")]
pub struct UnknownExperiment {
    /// What was asked for.
    pub given: String,
    /// The items the tour covers, comma-separated.
    pub items: String,
    /// The names, comma-separated.
    pub names: String,
}

impl Selection {
    /// Parse `--only`'s value: a chapter item number or an experiment's name.
    pub fn parse(s: &str) -> Result<Selection, UnknownExperiment> {
        let s = s.trim();
        let found = match s.parse::<u32>() {
            Ok(item) => Name::ALL
                .iter()
                .any(|n| n.item() == item)
                .then_some(Selection::Item(item)),
            Err(_) => Name::ALL
                .into_iter()
                .find(|n| n.as_str().eq_ignore_ascii_case(s))
                .map(Selection::Name),
        };
        found.ok_or_else(|| {
            let mut items: Vec<u32> = Name::ALL.iter().map(|n| n.item()).collect();
            items.dedup();
            UnknownExperiment {
                given: s.to_string(),
                items: items
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                names: Name::ALL.map(Name::as_str).join(", "),
            }
        })
    }

    /// Whether `name` is selected.
    pub fn selects(self, name: Name) -> bool {
        match self {
            Selection::All => true,
            Selection::Item(item) => name.item() == item,
            Selection::Name(n) => n == name,
        }
    }
}

/// How the tour is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The knobs both sides start from; the predictions follow them.
    pub profile: Profile,
    /// Item 10 with the profile's own ports and 2MSL (minutes of virtual time)
    /// instead of both scaled down a hundredfold (the same ceiling).
    pub full: bool,
}

/// An extra prediction: a count rather than a time, exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountKind {
    /// Response bytes the client had received on the first connection that was then
    /// reset, beyond the responses it completed on it (item 24).
    LostBytes,
    /// Transactions that failed (item 22).
    Failed,
    /// Retries over the run (item 23).
    Retries,
}

impl CountKind {
    /// The name JSON uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CountKind::LostBytes => "lost_bytes",
            CountKind::Failed => "failed",
            CountKind::Retries => "retries",
        }
    }

    fn key(self) -> Key {
        match self {
            CountKind::LostBytes => Key::LostBytes,
            CountKind::Failed => Key::FailedTransactions,
            CountKind::Retries => Key::Retries,
        }
    }

    /// The count in `report`.
    pub fn measure(self, report: &Report) -> u64 {
        match self {
            CountKind::LostBytes => lost_bytes(report),
            CountKind::Failed => report.totals.failed as u64,
            CountKind::Retries => u64::from(report.totals.retries),
        }
    }
}

/// Bytes the client received on the first connection the peer reset beyond the heads
/// and bodies of the responses completed on it: data that arrived and was lost to
/// the RST.
fn lost_bytes(report: &Report) -> u64 {
    let client = report.connections.iter().filter(|c| c.host == "client");
    client
        .enumerate()
        .find(|(_, c)| c.stats.resets_in > 0)
        .map_or(0, |(i, c)| {
            let completed: u64 = report
                .transactions
                .iter()
                .filter(|t| t.connection == Some(i) && t.error.is_none())
                .map(|t| t.heads.response.len() as u64 + t.bytes)
                .sum();
            c.stats.bytes_in.saturating_sub(completed)
        })
}

/// What a setting predicts.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The run's total time, ms; `None` when the count is the prediction.
    pub ms: Option<f64>,
    /// The formula with the setting's numbers: `4 x (100 + 100) = 800 ms`.
    pub numbers: String,
    /// How much later than predicted the run may end: serialization, ms.
    pub tolerance_ms: f64,
    /// An exact count, when the claim is about one.
    pub count: Option<(CountKind, u64)>,
}

/// One setting: what is varied, the experiment, its command and its prediction.
#[derive(Clone, Debug)]
pub struct Setting {
    /// What distinguishes it from the experiment's other settings, as flags.
    pub label: String,
    /// The run.
    pub experiment: Experiment,
    /// The `tcpknobs run ...` command that runs the same experiment.
    pub command: String,
    /// What the chapter's formula says.
    pub prediction: Prediction,
}

/// One claim of the chapter and the settings that show it.
#[derive(Clone, Debug)]
pub struct TourExperiment {
    /// Which one.
    pub name: Name,
    /// Side by side.
    pub settings: Vec<Setting>,
}

/// A setting as run: the JSON of `tour --json` (`experiments[].settings[]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SettingOutcome {
    /// What is varied.
    pub label: String,
    /// Predicted total time, ms (`null` when the count is the prediction).
    pub predicted_ms: Option<f64>,
    /// The formula with numbers.
    pub formula: String,
    /// Measured total time, ms.
    pub measured_ms: f64,
    /// Allowed lateness (serialization), ms.
    pub tolerance_ms: f64,
    /// The count predicted and measured, when there is one.
    pub count: Option<CountOutcome>,
    /// Whether the prediction held.
    pub pass: bool,
    /// The cause that took the most time in the run (Report.blame).
    pub blame: Option<&'static str>,
    /// The time of that cause, summed over the transactions, ms.
    pub blame_ms: Option<f64>,
    /// The command that reproduces it.
    pub command: String,
    /// The timeline picture, when asked for.
    pub timeline: Option<PathBuf>,
}

/// A count predicted and measured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountOutcome {
    /// What is counted.
    pub what: &'static str,
    /// Predicted.
    pub predicted: u64,
    /// Measured.
    pub measured: u64,
}

/// An experiment as run: `tour --json`'s `experiments[]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExperimentOutcome {
    /// The name `--only` takes.
    pub name: &'static str,
    /// The chapter item.
    pub chapter_item: u32,
    /// The claim, in one line.
    pub claim: &'static str,
    /// The formula in words.
    pub why: &'static str,
    /// The settings side by side.
    pub settings: Vec<SettingOutcome>,
}

impl ExperimentOutcome {
    /// Whether every setting's prediction held.
    pub fn pass(&self) -> bool {
        self.settings.iter().all(|s| s.pass)
    }

    /// The largest difference between two settings' measured times, ms, with the
    /// settings that made it (the fastest first).
    pub fn effect(&self) -> Option<(f64, &SettingOutcome, &SettingOutcome)> {
        let fast = self
            .settings
            .iter()
            .min_by(|a, b| a.measured_ms.total_cmp(&b.measured_ms))?;
        let slow = self
            .settings
            .iter()
            .max_by(|a, b| a.measured_ms.total_cmp(&b.measured_ms))?;
        Some((slow.measured_ms - fast.measured_ms, fast, slow))
    }
}

/// Whether `measured` holds `predicted` within `tolerance`: never earlier, at most
/// `tolerance` later. Compared in whole microseconds, the hosts' clock resolution.
pub fn holds(predicted: f64, measured: f64, tolerance: f64) -> bool {
    let us = |ms: f64| (ms * 1000.0).round() as i64;
    us(measured) >= us(predicted) && us(measured) <= us(predicted + tolerance)
}

/// The cause with the most time in a run, and that time, ms.
pub fn dominant(report: &Report) -> Option<(Cause, f64)> {
    let blame = report.blame.as_ref()?;
    blame
        .nonzero()
        .max_by_key(|(_, ns)| *ns)
        .map(|(c, ns)| (c, ns as f64 / 1e6))
}

impl TourExperiment {
    /// Run every setting, in `lang`; with `timeline_dir`, draw each setting's run
    /// as `DIR/NAME-K.svg` (K from 1).
    pub fn run(
        &self,
        lang: Lang,
        timeline_dir: Option<&Path>,
    ) -> Result<ExperimentOutcome, LabError> {
        let mut settings = Vec::with_capacity(self.settings.len());
        for (k, s) in self.settings.iter().enumerate() {
            let timeline =
                timeline_dir.map(|dir| dir.join(format!("{}-{}.svg", self.name.as_str(), k + 1)));
            let outputs = Outputs {
                timeline: timeline.clone(),
                ..Outputs::default()
            };
            let report = s.experiment.run_with(&outputs)?;
            let measured_ms = report.totals.total_ms;
            let p = &s.prediction;
            let time_ok = p.ms.is_none_or(|ms| holds(ms, measured_ms, p.tolerance_ms));
            let count = p.count.map(|(kind, predicted)| CountOutcome {
                what: kind.as_str(),
                predicted,
                measured: kind.measure(&report),
            });
            let count_ok = count.as_ref().is_none_or(|c| c.predicted == c.measured);
            let top = dominant(&report);
            settings.push(SettingOutcome {
                label: s.label.clone(),
                predicted_ms: p.ms,
                formula: p.numbers.clone(),
                measured_ms,
                tolerance_ms: p.tolerance_ms,
                count,
                pass: time_ok && count_ok,
                blame: top.map(|(c, _)| c.name()),
                blame_ms: top.map(|(_, ms)| ms),
                command: s.command.clone(),
                timeline,
            });
        }
        Ok(ExperimentOutcome {
            name: self.name.as_str(),
            chapter_item: self.name.item(),
            claim: lang.text(Key::Claim(self.name)),
            why: lang.text(Key::Why(self.name)),
            settings,
        })
    }
}

/// The words of a count's kind in `lang`.
pub fn count_label(lang: Lang, what: &str) -> &'static str {
    let kind = [CountKind::LostBytes, CountKind::Failed, CountKind::Retries]
        .into_iter()
        .find(|k| k.as_str() == what);
    kind.map_or("", |k| lang.text(k.key()))
}
