//! A sweep's rows written out: an aligned table, CSV, Markdown, JSON and JSON lines,
//! and CSV shards merged back into the file one machine would have written.

use std::io::{Read, Write};

use serde::Serialize;

use super::{settings, Columns, Row};

/// The header of every format: the varied names, the columns, `error`.
fn header(axes: &[String], columns: &Columns) -> Vec<String> {
    axes.iter()
        .cloned()
        .chain(columns.names.iter().cloned())
        .chain(std::iter::once("error".to_owned()))
        .collect()
}

/// The columns a reader's table keeps: all but the blame causes no row has time in
/// (of the causes, a simulated sweep usually sees three or four).
fn shown(columns: &Columns, rows: &[Row]) -> Vec<bool> {
    columns
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            !name.starts_with("blame.")
                || rows.iter().any(|r| {
                    r.figures
                        .get(i)
                        .copied()
                        .flatten()
                        .is_some_and(|v| v != 0.0)
                })
        })
        .collect()
}

/// The header and cells of the human tables (text and Markdown).
fn human(axes: &[String], columns: &Columns, rows: &[Row]) -> (Vec<String>, Vec<Vec<String>>) {
    let keep = shown(columns, rows);
    let pick = |cells: Vec<String>| -> Vec<String> {
        let (values, rest) = cells.split_at(axes.len().min(cells.len()));
        values
            .iter()
            .cloned()
            .chain(
                rest.iter()
                    .enumerate()
                    .filter(|(i, _)| keep.get(*i).copied().unwrap_or(true))
                    .map(|(_, c)| c.clone()),
            )
            .collect()
    };
    let head = pick(header(axes, columns));
    let body = rows
        .iter()
        .map(|r| {
            pick(
                r.values
                    .iter()
                    .map(|(_, v)| v.clone())
                    .chain(r.cells(columns))
                    .collect(),
            )
        })
        .collect();
    (head, body)
}

/// The rows as an aligned text table: the varied values, then the columns (blame
/// causes without time in any row left out).
pub fn table(axes: &[String], columns: &Columns, rows: &[Row]) -> String {
    let (head, body) = human(axes, columns, rows);
    let mut widths: Vec<usize> = head.iter().map(String::len).collect();
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&head).chain(&body) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The rows as a Markdown table to paste, the same columns as [`table`], numbers
/// right-aligned.
pub fn markdown(axes: &[String], columns: &Columns, rows: &[Row]) -> String {
    let (head, body) = human(axes, columns, rows);
    let escape = |c: &str| c.replace('|', "\\|");
    let mut out = String::new();
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    out.push_str(&line(&head));
    let rule: Vec<String> = head
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if i < axes.len() || name == "error" {
                "---".to_owned()
            } else {
                "---:".to_owned()
            }
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in &body {
        out.push_str(&line(row));
    }
    out
}

/// Write the rows as CSV: a header (`point`, the varied names, every setting of the
/// point, every column, `error`), then one record per point. `experiments[i]` is
/// what set row i (an [`Experiment`](crate::Experiment), or a TAP sweep's `get`): its
/// settings ([`super::settings`]) are worked out as the record is written, so they
/// cost no memory per point. Every column is there, empty or not, so that files of
/// different sweeps with the same axes line up.
pub fn csv<W: Write, E: Serialize>(
    axes: &[String],
    columns: &Columns,
    rows: &[Row],
    experiments: &[E],
    out: W,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let names: Vec<String> = experiments
        .first()
        .map(|e| settings(e).into_iter().map(|(n, _)| n).collect())
        .unwrap_or_default();
    let mut head = vec!["point".to_owned()];
    head.extend(axes.iter().cloned());
    head.extend(names.iter().cloned());
    head.extend(header(&[], columns));
    w.write_record(&head)?;
    for (row, experiment) in rows.iter().zip(experiments) {
        let values: Vec<String> = settings(experiment).into_iter().map(|(_, v)| v).collect();
        let cells = std::iter::once(row.point.to_string())
            .chain(row.values.iter().map(|(_, v)| v.clone()))
            .chain(values)
            .chain(row.cells(columns));
        w.write_record(cells)?;
    }
    w.flush()?;
    Ok(())
}

/// Write the rows as one pretty JSON array (docs/json.md, `sweep --json`).
pub fn json<W: Write>(columns: &Columns, rows: &[Row], out: W) -> serde_json::Result<()> {
    let all: Vec<_> = rows.iter().map(|r| r.json(columns)).collect();
    serde_json::to_writer_pretty(out, &all)
}

/// Write the rows as JSON lines: the objects of [`json`], one a line.
pub fn jsonl<W: Write>(columns: &Columns, rows: &[Row], mut out: W) -> std::io::Result<()> {
    for r in rows {
        serde_json::to_writer(&mut out, &r.json(columns))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Why CSV shards could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file is not CSV as `sweep --out` writes it.
    #[error("{file}: {source}")]
    Csv {
        /// The file, as named.
        file: String,
        /// What the reader said.
        #[source]
        source: csv::Error,
    },
    /// A file whose first column is not `point`.
    #[error("{file}: not a sweep's CSV (the first column is not 'point')")]
    NotASweep {
        /// The file, as named.
        file: String,
    },
    /// Two files of different sweeps.
    #[error("{file}: its header differs from {first}'s: not a shard of the same sweep")]
    Header {
        /// The file, as named.
        file: String,
        /// The first file.
        first: String,
    },
    /// A record whose point is not a number.
    #[error("{file}, record {record}: the point '{point}' is not a number")]
    Point {
        /// The file, as named.
        file: String,
        /// 1-based, after the header.
        record: usize,
        /// As found.
        point: String,
    },
    /// The same point twice.
    #[error("point {point} is in more than one file (a shard given twice?)")]
    Duplicate {
        /// The point.
        point: u64,
    },
    /// A gap in the points.
    #[error("point {point} is in none of the files (a shard missing?)")]
    Missing {
        /// The first point missing.
        point: u64,
    },
    /// No files.
    #[error("no files to merge")]
    Empty,
}

/// Merge CSV shards (`--shard K/N` runs, `(name, contents)` in any order) into the
/// file the unsharded sweep writes: the header once, the records in point order.
/// Every point from 0 up to the largest must be there exactly once.
pub fn merge<R: Read, W: Write>(files: Vec<(String, R)>, out: W) -> Result<(), MergeError> {
    let mut first: Option<(String, csv::StringRecord)> = None;
    let mut records: Vec<(u64, csv::StringRecord)> = Vec::new();
    for (file, reader) in files {
        let csv_error = |source| MergeError::Csv {
            file: file.clone(),
            source,
        };
        let mut r = csv::Reader::from_reader(reader);
        let head = r.headers().map_err(csv_error)?.clone();
        if head.get(0) != Some("point") {
            return Err(MergeError::NotASweep { file });
        }
        match &first {
            None => first = Some((file.clone(), head)),
            Some((name, h)) if *h != head => {
                return Err(MergeError::Header {
                    file,
                    first: name.clone(),
                })
            }
            Some(_) => {}
        }
        for (i, record) in r.records().enumerate() {
            let record = record.map_err(csv_error)?;
            let text = record.get(0).unwrap_or_default();
            let point = text.parse().map_err(|_| MergeError::Point {
                file: file.clone(),
                record: i + 1,
                point: text.to_owned(),
            })?;
            records.push((point, record));
        }
    }
    let Some((_, head)) = first else {
        return Err(MergeError::Empty);
    };
    records.sort_by_key(|(p, _)| *p);
    for (expected, (point, _)) in records.iter().enumerate() {
        let expected = expected as u64;
        if *point < expected {
            return Err(MergeError::Duplicate { point: *point });
        }
        if *point > expected {
            return Err(MergeError::Missing { point: expected });
        }
    }
    let mut w = csv::Writer::from_writer(out);
    let written = w
        .write_record(&head)
        .and_then(|()| {
            records
                .iter()
                .try_for_each(|(_, record)| w.write_record(record))
        })
        .and_then(|()| w.flush().map_err(csv::Error::from));
    written.map_err(|source| MergeError::Csv {
        file: "the merged output".to_owned(),
        source,
    })
}
