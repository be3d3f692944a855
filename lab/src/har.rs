//! A run's transactions as an HTTP Archive (HAR 1.2), the format browser developer
//! tools export and HAR viewers (Chrome and Firefox DevTools' network panels, online
//! HAR viewers) open: one entry per transaction, with its heads and a waterfall of
//! where its time went.
//!
//! The HAR 1.2 specification's objects are the `har` crate's types; this module fills
//! them from the rows a report keeps. Transactions without a row (`--rows`, or runs
//! too large for rows by default) are not in the archive: the summary's aggregates
//! have no per-request form.
//!
//! Timings follow the specification's `timings` object: `blocked` (queued until given
//! a connection), `dns` (none here: -1), `connect` (the handshake; -1 on a reused
//! connection, as the specification asks), `send` (the connection ready until the last
//! request byte went to TCP), `wait` (until the first response byte), `receive` (until
//! the last) and `ssl` (none: -1). The specification makes `time` the sum of the
//! timings that are not -1, and so it is here, entry by entry.
//!
//! A failed transaction is an entry too, with status 0 as browsers record a request
//! that got no usable response, the reason in the custom field `_error` (the
//! specification reserves names starting with an underscore for such fields), and
//! the timings it reached: the phase it failed in ends when it failed, the phases it
//! never began are -1. Its request headers are those the client queued, as browsers
//! show provisional headers; the request's sizes are -1 unless it went out whole.
//!
//! Each entry also carries the transaction's latency blame as the custom field
//! `_blame` (the report's `blame`: `<cause>_ms` fields that add up to `time`), so a
//! HAR viewer's waterfall can be read next to the TCP reason for each part of it.

use std::io::Write;

use har::v1_2::{
    Cache, Content, Creator, Entries, Headers, QueryString, Request, Response, Timings,
};
use serde::Serialize;
use tcpknobs_http::blame::Blame;
use tcpknobs_http::message::{parse_request, parse_response, Parsed};
use tcpknobs_http::transaction::TransactionReport;

use crate::report::{ClientReport, Report};
use crate::tap::GetReport;

/// A HAR 1.2 document over a report's rows: the specification's `log` object under a
/// top-level `log`. Each entry is made as it is written, so a run's archive costs the
/// rows it already has and no copy of them.
#[derive(Clone, Copy, Debug)]
pub struct Har<'a> {
    transactions: &'a [TransactionReport],
    client: &'a ClientReport,
    started_unix_ms: u64,
}

/// The specification's `entry` object and the custom field for failures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// The standard fields.
    #[serde(flatten)]
    pub entry: Entries,
    /// Why the transaction failed (the report's `error`); absent when it succeeded.
    #[serde(rename = "_error", skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the transaction's time went, by cause (the report's `blame`: the same
    /// `<cause>_ms` fields, adding up to `time`); absent when the run kept no trace.
    #[serde(rename = "_blame", skip_serializing_if = "Option::is_none")]
    pub blame: Option<Blame>,
}

/// Why a HAR could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    /// Writing (or encoding) the document failed.
    #[error("cannot write the HAR")]
    Write(#[source] std::io::Error),
}

impl<'a> Har<'a> {
    /// The archive of a simulated run. Its clock starts at the Unix epoch
    /// (1970-01-01T00:00:00Z), so each entry's `startedDateTime` is the moment it was
    /// queued on the virtual clock and the file, like the run, is the same every time.
    pub fn of_run(report: &'a Report) -> Har<'a> {
        Har::of(&report.transactions, &report.workload.client, 0)
    }

    /// The archive of a `get` on a TAP: `started_unix_ms` is the wall-clock time, in
    /// milliseconds since the Unix epoch, at which the report's clock reads zero (the
    /// first request was queued).
    pub fn of_get(report: &'a GetReport, started_unix_ms: u64) -> Har<'a> {
        Har::of(
            &report.transactions,
            &report.workload.client,
            started_unix_ms,
        )
    }

    /// The archive of `transactions` made by a client with `client`'s settings, their
    /// times offsets from `started_unix_ms`.
    pub fn of(
        transactions: &'a [TransactionReport],
        client: &'a ClientReport,
        started_unix_ms: u64,
    ) -> Har<'a> {
        Har {
            transactions,
            client,
            started_unix_ms,
        }
    }

    /// The log's `creator`: `tcpknobs` and its version.
    pub fn creator() -> Creator {
        Creator {
            name: "tcpknobs".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            comment: None,
        }
    }

    /// The entries, one per row, in workload order.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + 'a {
        let (client, started) = (self.client, self.started_unix_ms);
        self.transactions
            .iter()
            .map(move |t| entry(t, client, started))
    }

    /// Write the document as pretty JSON.
    pub fn write<W: Write>(&self, out: W) -> Result<(), HarError> {
        let mut out = std::io::BufWriter::new(out);
        serde_json::to_writer_pretty(&mut out, self)
            .map_err(std::io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(HarError::Write)
    }
}

impl Serialize for Har<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        /// The `log` object, its entries made one at a time.
        #[derive(Serialize)]
        struct Log<'h> {
            version: &'static str,
            creator: Creator,
            entries: Lazy<'h>,
        }
        struct Lazy<'h>(&'h Har<'h>);
        impl Serialize for Lazy<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.entries())
            }
        }
        #[derive(Serialize)]
        struct Document<'h> {
            log: Log<'h>,
        }
        Document {
            log: Log {
                version: "1.2",
                creator: Har::creator(),
                entries: Lazy(self),
            },
        }
        .serialize(s)
    }
}

/// The HAR timings of a transaction, in microseconds (-1: did not apply or was never
/// reached), and `time`, their sum over those that did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phases {
    /// Queued until given a connection (and, on a reused one, until it was ready).
    pub blocked: i64,
    /// The handshake; -1 on a reused connection.
    pub connect: i64,
    /// Connection ready until the last request byte went to TCP.
    pub send: i64,
    /// Last request byte until the first response byte.
    pub wait: i64,
    /// First response byte until the last.
    pub receive: i64,
    /// The sum of the phases that are not -1.
    pub time: i64,
}

impl Phases {
    /// From a row's moments: each phase runs from its moment to the next one known,
    /// so a failure ends the phase it happened in and the sum is queued-to-done.
    pub fn of(t: &TransactionReport) -> Phases {
        let us = |ms: Option<f64>| ms.map(|ms| (ms * 1000.0).round() as i64);
        // On a reused connection there is no handshake: the connection-ready moment
        // bounds `blocked` and `connect` does not apply.
        let connect_start = if t.reused { None } else { us(t.connect_start) };
        let moments = [
            us(t.queued),
            connect_start,
            us(t.connected),
            us(t.request_sent),
            us(t.first_byte),
            us(t.done),
        ];
        let mut phases = [-1i64; 5];
        for (i, phase) in phases.iter_mut().enumerate() {
            let Some(start) = moments[i] else {
                continue;
            };
            if let Some(end) = moments[i + 1..].iter().flatten().next() {
                *phase = end.saturating_sub(start).max(0);
            }
        }
        let [blocked, connect, send, wait, receive] = phases;
        Phases {
            blocked,
            connect,
            send,
            wait,
            receive,
            time: phases
                .iter()
                .filter(|&&p| p >= 0)
                .fold(0i64, |sum, &p| sum.saturating_add(p)),
        }
    }
}

/// Microseconds as HAR's milliseconds; -1 stays -1.
fn ms(us: i64) -> f64 {
    if us < 0 {
        -1.0
    } else {
        us as f64 / 1000.0
    }
}

fn entry(t: &TransactionReport, client: &ClientReport, started_unix_ms: u64) -> Entry {
    let phases = Phases::of(t);
    let first_moment = [t.queued, t.connect_start, t.done]
        .into_iter()
        .flatten()
        .next();
    let offset_ms = first_moment.map_or(0, |ms| ms.max(0.0).floor() as u64);
    let sent = match parse_request(&t.heads.request) {
        Ok(Parsed::Complete { message, .. }) => Some(message),
        _ => None,
    };
    let sent = sent.as_ref();
    let received = match parse_response(&t.heads.response) {
        Ok(Parsed::Complete { message, .. }) => Some(message),
        _ => None,
    };
    let received = received.as_ref();
    let failed = t.error.is_some();
    let request = Request {
        method: t.method.clone(),
        url: format!("http://{}:{}{}", client.server, client.port, t.target),
        http_version: sent.map_or_else(|| client.version.clone(), |r| r.version.to_string()),
        cookies: Vec::new(),
        headers: sent.map_or_else(Vec::new, |r| headers(&r.headers)),
        query_string: query_string(&t.target),
        post_data: None,
        // The sizes of a request that did not go out whole are not known.
        headers_size: sent
            .filter(|_| t.request_sent.is_some())
            .map_or(-1, |_| len(t.heads.request.len() as u64)),
        body_size: sent
            .filter(|_| t.request_sent.is_some())
            .map_or(-1, |_| len(t.heads.request_body)),
        comment: None,
    };
    let response = Response {
        status: if failed {
            0
        } else {
            t.status.map_or(0, i64::from)
        },
        status_text: match received {
            Some(r) if !failed => r.reason.clone(),
            _ => String::new(),
        },
        http_version: received.map_or_else(String::new, |r| r.version.to_string()),
        cookies: Vec::new(),
        headers: received.map_or_else(Vec::new, |r| headers(&r.headers)),
        content: Content {
            size: len(t.bytes),
            compression: None,
            // What Chrome writes when the response named no type.
            mime_type: Some(
                received
                    .and_then(|r| r.headers.get("Content-Type"))
                    .unwrap_or("x-unknown")
                    .to_string(),
            ),
            text: None,
            encoding: None,
            comment: None,
        },
        redirect_url: Some(
            received
                .and_then(|r| r.headers.get("Location"))
                .unwrap_or("")
                .to_string(),
        ),
        headers_size: received.map_or(-1, |_| len(t.heads.response.len() as u64)),
        body_size: len(t.bytes),
        comment: None,
    };
    Entry {
        entry: Entries {
            pageref: None,
            started_date_time: iso8601(started_unix_ms.saturating_add(offset_ms)),
            time: ms(phases.time),
            request,
            response,
            cache: Cache::default(),
            timings: Timings {
                blocked: Some(ms(phases.blocked)),
                dns: Some(-1.0),
                connect: Some(ms(phases.connect)),
                send: ms(phases.send),
                wait: ms(phases.wait),
                receive: ms(phases.receive),
                ssl: Some(-1.0),
                comment: None,
            },
            server_ip_address: Some(client.server.clone()),
            connection: t.connection.map(|c| c.to_string()),
            comment: None,
        },
        error: t.error.clone(),
        blame: t.blame,
    }
}

fn len(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn headers(h: &tcpknobs_http::message::Headers) -> Vec<Headers> {
    h.iter()
        .map(|(name, value)| Headers {
            name: name.to_string(),
            value: value.to_string(),
            comment: None,
        })
        .collect()
}

/// The query's `name=value` pairs, as the specification's `queryString` lists them
/// (undecoded: the target is kept as sent).
fn query_string(target: &str) -> Vec<QueryString> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            QueryString {
                name: name.to_string(),
                value: value.to_string(),
                comment: None,
            }
        })
        .collect()
}

/// Milliseconds since the Unix epoch as ISO 8601 with milliseconds, in UTC
/// (`1970-01-01T00:00:00.100Z`), the form the specification gives for
/// `startedDateTime`.
pub fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(i64::MAX / 2));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
        unix_ms % 1000
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe.saturating_add(era.saturating_mul(400));
    (if m <= 2 { y.saturating_add(1) } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(100), "1970-01-01T00:00:00.100Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_764_642_750_123), "2025-12-02T02:32:30.123Z");
        // No panic at the far end.
        assert!(iso8601(u64::MAX).ends_with('Z'));
    }

    /// Whatever moments a row has, in any order, the phases that apply add up to
    /// `time`; in order, `time` is queued to done.
    #[test]
    fn phases_add_up() {
        use tcpknobs_http::message::Method;
        use tcpknobs_http::transaction::Transaction;
        use tcpknobs_stack::Instant;
        let values = [None, Some(0.0), Some(50.0), Some(120.5)];
        let mut row = Transaction::new(0, Method::Get, "/".into()).report(Instant::from_millis(0));
        for code in 0..values.len().pow(6) * 2 {
            let pick = |k: u32| values[code / values.len().pow(k) % values.len()];
            row.queued = pick(0);
            row.connect_start = pick(1);
            row.connected = pick(2);
            row.request_sent = pick(3);
            row.first_byte = pick(4);
            row.done = pick(5);
            row.reused = code >= values.len().pow(6);
            let p = Phases::of(&row);
            let all = [p.blocked, p.connect, p.send, p.wait, p.receive];
            assert!(all.iter().all(|&x| x >= -1), "{p:?}");
            assert_eq!(all.iter().filter(|&&x| x >= 0).sum::<i64>(), p.time);
            if row.reused {
                assert_eq!(p.connect, -1);
            }
            let moments = [
                row.queued,
                row.connect_start,
                row.connected,
                row.request_sent,
                row.first_byte,
                row.done,
            ];
            let known: Vec<f64> = moments.iter().flatten().copied().collect();
            if let (Some(q), Some(d)) = (row.queued, row.done) {
                if known.windows(2).all(|w| w[0] <= w[1]) {
                    assert_eq!(p.time, ((d - q) * 1000.0) as i64, "{moments:?}");
                }
            }
        }
    }

    #[test]
    fn queries() {
        let q = query_string("/a?x=1&y&&z=");
        let pairs: Vec<_> = q
            .iter()
            .map(|q| (q.name.as_str(), q.value.as_str()))
            .collect();
        assert_eq!(pairs, [("x", "1"), ("y", ""), ("z", "")]);
        assert!(query_string("/bytes/100").is_empty());
    }
}
