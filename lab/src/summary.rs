//! A run's transactions folded one at a time into exact aggregates (`summary` in
//! JSON): counts, and per timing the sum, minimum and maximum to the microsecond and
//! percentiles from an HDR histogram.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;
use tcpknobs_http::transaction::Transaction;
use tcpknobs_stack::{Duration, Instant};

use crate::report::Totals;
use crate::LabError;

/// Significant decimal digits the timing histograms keep: values are recorded in
/// µs, exactly below 2,048 µs and within 1/1,024 above (HdrHistogram's buckets).
pub const HISTOGRAM_DIGITS: u8 = 3;

/// The percentiles reported for each timing, and their names (`p99.9`: `p99_9_ms` in JSON).
pub const PERCENTILES: [(f64, &str); 4] =
    [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")];

/// One timing (`total_ms`, `connect_ms`, ...) over the transactions that succeeded:
/// count, sum, minimum and maximum exactly, percentiles from an HDR histogram.
#[derive(Clone, Debug)]
struct TimingFold {
    count: u64,
    sum_us: u64,
    min_us: u64,
    max_us: u64,
    histogram: Histogram<u64>,
}

impl TimingFold {
    fn new() -> Result<TimingFold, hdrhistogram::CreationError> {
        Ok(TimingFold {
            count: 0,
            sum_us: 0,
            min_us: u64::MAX,
            max_us: 0,
            // 1 µs up, growing to the largest value recorded: sized for what the run
            // measured, not for the 2^63 µs the clock could hold (2 MB of zeroes).
            histogram: Histogram::new(HISTOGRAM_DIGITS)?,
        })
    }

    fn add(&mut self, value: Duration) {
        let us = value.total_micros();
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.min_us = self.min_us.min(us);
        self.max_us = self.max_us.max(us);
        if self.histogram.record(us).is_err() {
            // Only when growing would overflow the address space: keep the count.
            self.histogram.saturating_record(us);
        }
    }

    /// HdrHistogram's value at `quantile` (the top of the bucket holding the exact
    /// order statistic), no more than the exact maximum.
    fn percentile_us(&self, quantile: f64) -> Option<u64> {
        (self.count > 0).then(|| self.histogram.value_at_quantile(quantile).min(self.max_us))
    }

    fn summary(&self) -> TimingSummary {
        let us_ms = |us: u64| us as f64 / 1000.0;
        let at = |q: f64| self.percentile_us(q).map(us_ms);
        let [p50, p90, p99, p99_9] = PERCENTILES.map(|(q, _)| at(q));
        TimingSummary {
            count: self.count,
            sum_ms: us_ms(self.sum_us),
            min_ms: (self.count > 0).then(|| us_ms(self.min_us)),
            p50_ms: p50,
            p90_ms: p90,
            p99_ms: p99,
            p99_9_ms: p99_9,
            max_ms: (self.count > 0).then(|| us_ms(self.max_us)),
        }
    }
}

/// The failures of one kind.
#[derive(Clone, Debug)]
struct FailureFold {
    count: u64,
    first_id: usize,
    first_error: String,
}

/// A run's transactions folded one at a time into exact aggregates, in memory that
/// does not grow with their number (the histograms grow with the log of the largest
/// value: about 150 kB each for values up to an hour).
#[derive(Clone, Debug)]
pub struct Summarizer {
    succeeded: usize,
    failed: usize,
    retries: u32,
    last_done: Option<Instant>,
    /// wait, connect, ttfb, transfer, total: the order of a transaction's life.
    timings: [TimingFold; 5],
    failures: BTreeMap<&'static str, FailureFold>,
}

impl Summarizer {
    /// Nothing folded yet.
    pub fn new() -> Result<Summarizer, LabError> {
        let fold = || TimingFold::new().map_err(LabError::Histogram);
        Ok(Summarizer {
            succeeded: 0,
            failed: 0,
            retries: 0,
            last_done: None,
            timings: [fold()?, fold()?, fold()?, fold()?, fold()?],
            failures: BTreeMap::new(),
        })
    }

    /// Fold in one finished transaction.
    pub fn add(&mut self, t: &Transaction) {
        self.retries = self.retries.saturating_add(t.retries);
        if let Some(done) = t.timing.done {
            self.last_done = Some(self.last_done.map_or(done, |d| d.max(done)));
        }
        let Some(error) = &t.error else {
            self.succeeded += 1;
            let s = t.timing.spans();
            for (fold, span) in self
                .timings
                .iter_mut()
                .zip([s.wait, s.connect, s.ttfb, s.transfer, s.total])
            {
                if let Some(span) = span {
                    fold.add(span);
                }
            }
            return;
        };
        self.failed += 1;
        let group = self
            .failures
            .entry(error.kind())
            .or_insert_with(|| FailureFold {
                count: 0,
                first_id: t.id,
                first_error: error.to_string(),
            });
        group.count += 1;
        if t.id < group.first_id {
            group.first_id = t.id;
            group.first_error = error.to_string();
        }
    }

    /// The headline figures, timed from `epoch`, with `opened` client connections.
    pub fn totals(&self, epoch: Instant, opened: usize) -> Totals {
        let last_done = self.last_done.unwrap_or(epoch);
        Totals::new(
            last_done - epoch,
            self.succeeded,
            self.failed,
            self.retries,
            opened,
        )
    }

    /// The aggregates as reported.
    pub fn summary(&self) -> Summary {
        let [wait, connect, ttfb, transfer, total] =
            self.timings.each_ref().map(TimingFold::summary);
        let mut failures: Vec<FailureSummary> = self
            .failures
            .iter()
            .map(|(kind, f)| FailureSummary {
                kind,
                count: f.count,
                first_id: f.first_id,
                first_error: f.first_error.clone(),
            })
            .collect();
        // The most frequent first; kinds in name order among equals (the map's).
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        Summary {
            count: self.succeeded + self.failed,
            succeeded: self.succeeded,
            failed: self.failed,
            timings: Timings {
                wait,
                connect,
                ttfb,
                transfer,
                total,
            },
            failures,
        }
    }
}

/// Exact aggregates over every transaction of a run (`summary` in JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Transactions, finished or not.
    pub count: usize,
    /// Those that succeeded.
    pub succeeded: usize,
    /// Those that failed.
    pub failed: usize,
    /// Each timing over the transactions that succeeded.
    pub timings: Timings,
    /// The failures grouped by error kind, the most frequent first.
    pub failures: Vec<FailureSummary>,
}

/// The five timings of the rows, in the order of a transaction's life.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timings {
    /// Queued until given a connection.
    pub wait: TimingSummary,
    /// The handshake.
    pub connect: TimingSummary,
    /// Request sent until the first response byte.
    pub ttfb: TimingSummary,
    /// First response byte until the last.
    pub transfer: TimingSummary,
    /// Queued until done.
    pub total: TimingSummary,
}

/// One timing's aggregates; the minimum, percentiles and maximum are `None` (null)
/// when no transaction had it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimingSummary {
    /// Transactions it was measured on.
    pub count: u64,
    /// The sum, exact.
    pub sum_ms: f64,
    /// The smallest, exact.
    pub min_ms: Option<f64>,
    /// The median (HdrHistogram, [`HISTOGRAM_DIGITS`] digits, capped at `max_ms`).
    pub p50_ms: Option<f64>,
    /// The 90th percentile.
    pub p90_ms: Option<f64>,
    /// The 99th percentile.
    pub p99_ms: Option<f64>,
    /// The 99.9th percentile.
    pub p99_9_ms: Option<f64>,
    /// The largest, exact.
    pub max_ms: Option<f64>,
}

/// The failures of one kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureSummary {
    /// The error kind, as in `transactions[].error_kind.kind`.
    pub kind: &'static str,
    /// Transactions that failed so.
    pub count: u64,
    /// The first of them in workload order.
    pub first_id: usize,
    /// Its error, in words.
    pub first_error: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpknobs_http::transaction::TransactionError;

    /// Failures are grouped under the name JSON gives each error kind.
    #[test]
    fn failure_kinds_are_the_json_names() {
        let detail = String::from("x");
        for e in [
            TransactionError::PortsExhausted {
                detail: detail.clone(),
            },
            TransactionError::ConnectionReset,
            TransactionError::ConnectionRefused,
            TransactionError::ConnectTimeout { syns: 1 },
            TransactionError::NoArpReply {
                addr: detail.clone(),
            },
            TransactionError::ClosedEarly,
            TransactionError::Truncated {
                received: 1,
                expected: None,
            },
            TransactionError::MalformedResponse { detail },
            TransactionError::BodyMismatch { offset: 1 },
            TransactionError::Timeout { after_ms: 1 },
            TransactionError::DependencyFailed,
            TransactionError::UnrequestedUpgrade,
            TransactionError::Unfinished,
        ] {
            let json = serde_json::to_value(&e).expect("serializes");
            assert_eq!(json["kind"], e.kind(), "{e:?}");
        }
    }

    /// Durations under 2,048 µs are their own buckets: percentiles of them are exact.
    #[test]
    fn small_durations_have_exact_percentiles() {
        let mut fold = TimingFold::new().expect("a histogram");
        for us in 1..=2000 {
            fold.add(Duration::from_micros(us));
        }
        let s = fold.summary();
        assert_eq!((s.min_ms, s.max_ms), (Some(0.001), Some(2.0)));
        assert_eq!((s.p50_ms, s.p90_ms), (Some(1.0), Some(1.8)));
        assert_eq!((s.p99_ms, s.p99_9_ms), (Some(1.98), Some(1.998)));
        assert_eq!(s.sum_ms, 2001.0);
        let empty = TimingFold::new().expect("a histogram").summary();
        assert_eq!((empty.count, empty.min_ms, empty.p50_ms), (0, None, None));
    }
}
