//! The `results.csv` format: one [`ResultRow`] per (suite, scenario, method,
//! seed, perturbation, user, metric), read and written with a fixed header.
//!
//! Values are written with Rust's `{}` Display for `f64` (shortest string that
//! round-trips), so writing is deterministic and reading gives back the exact
//! bits. A NaN or infinite value is an error on write and on read: the runner
//! fails a cell instead of recording a non-finite number. This is the only
//! module of the crate that does I/O.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// One per-user metric value of one run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResultRow {
    pub suite: String,
    pub scenario: String,
    pub method: String,
    pub seed: u64,
    pub perturbation: String,
    pub user: u64,
    pub metric: String,
    pub value: f64,
}

/// The header line of `results.csv`, in column order.
pub const HEADER: [&str; 8] = [
    "suite",
    "scenario",
    "method",
    "seed",
    "perturbation",
    "user",
    "metric",
    "value",
];

/// Errors of reading or writing `results.csv`. `path` is the file name (or the
/// `source` name given to [`read_rows_from`], `<writer>` when writing); `line`
/// is 1-based and counts the header line.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: I/O error: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:1: header is {found:?}, expected {HEADER:?}")]
    Header { path: String, found: Vec<String> },
    #[error("{path}:{line}: {message}")]
    Row {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path}:{line}: value {value} of metric {metric:?} is not finite")]
    NonFinite {
        path: String,
        line: u64,
        metric: String,
        value: f64,
    },
}

/// Name used for `path` in errors of [`write_rows`].
const WRITER: &str = "<writer>";

/// Writes `rows` as CSV, preceded by [`HEADER`] when `header` is true (pass
/// `false` to append to a file that already has one). Every value is checked
/// before anything is written, so a non-finite value leaves `w` untouched.
pub fn write_rows<W: Write>(w: W, rows: &[ResultRow], header: bool) -> Result<(), ReportError> {
    let first_line = if header { 2 } else { 1 };
    for (line, row) in (first_line..).zip(rows) {
        check_finite(row, WRITER, line)?;
    }
    let io = |e: csv::Error| csv_error(e, WRITER, 0);
    let mut out = csv::Writer::from_writer(w);
    if header {
        out.write_record(HEADER).map_err(io)?;
    }
    for r in rows {
        let (seed, user, value) = (r.seed.to_string(), r.user.to_string(), r.value.to_string());
        out.write_record([
            r.suite.as_str(),
            &r.scenario,
            &r.method,
            &seed,
            &r.perturbation,
            &user,
            &r.metric,
            &value,
        ])
        .map_err(io)?;
    }
    out.flush().map_err(|source| ReportError::Io {
        path: WRITER.to_owned(),
        source,
    })
}

/// Reads `results.csv` at `path`; see [`read_rows_from`].
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>, ReportError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReportError::Io {
        path: name.clone(),
        source,
    })?;
    read_rows_from(file, &name)
}

/// Reads CSV rows from `r`; `source` names the input in errors. The first line
/// must be exactly [`HEADER`]. Fields are not trimmed. A row whose key (every
/// column but `value`) repeats an earlier row is an error, since summaries
/// would silently count it twice.
pub fn read_rows_from<R: Read>(r: R, source: &str) -> Result<Vec<ResultRow>, ReportError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(r);
    let mut records = reader.records();
    let header = match records.next() {
        None => Vec::new(),
        Some(rec) => rec.map_err(|e| csv_error(e, source, 1))?.iter().map(str::to_owned).collect(),
    };
    if header != HEADER {
        return Err(ReportError::Header {
            path: source.to_owned(),
            found: header,
        });
    }
    let mut rows = Vec::new();
    let mut seen: BTreeMap<ResultKey, u64> = BTreeMap::new();
    for rec in records {
        let rec = rec.map_err(|e| csv_error(e, source, 0))?;
        let line = rec.position().map_or(0, |p| p.line());
        let row = parse_row(&rec).map_err(|message| ReportError::Row {
            path: source.to_owned(),
            line,
            message,
        })?;
        check_finite(&row, source, line)?;
        if let Some(first) = seen.insert(key(&row), line) {
            return Err(ReportError::Row {
                path: source.to_owned(),
                line,
                message: format!("duplicate of line {first} (same columns except value)"),
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Every column but `value`.
type ResultKey = (String, String, String, u64, String, u64, String);

fn key(r: &ResultRow) -> ResultKey {
    let (s, c, m, p, x) = (&r.suite, &r.scenario, &r.method, &r.perturbation, &r.metric);
    (s.clone(), c.clone(), m.clone(), r.seed, p.clone(), r.user, x.clone())
}

/// Parses one record whose length the CSV reader has already matched to the header.
fn parse_row(rec: &csv::StringRecord) -> Result<ResultRow, String> {
    let text = |i: usize| rec[i].to_owned();
    let number = |i: usize| {
        rec[i]
            .parse::<u64>()
            .map_err(|e| format!("column {}: {:?} is not an unsigned integer: {e}", HEADER[i], &rec[i]))
    };
    Ok(ResultRow {
        suite: text(0),
        scenario: text(1),
        method: text(2),
        seed: number(3)?,
        perturbation: text(4),
        user: number(5)?,
        metric: text(6),
        value: rec[7]
            .parse::<f64>()
            .map_err(|e| format!("column value: {:?} is not a number: {e}", &rec[7]))?,
    })
}

fn check_finite(row: &ResultRow, path: &str, line: u64) -> Result<(), ReportError> {
    if row.value.is_finite() {
        return Ok(());
    }
    Err(ReportError::NonFinite {
        path: path.to_owned(),
        line,
        metric: row.metric.clone(),
        value: row.value,
    })
}

/// Maps a csv error to ours, taking the line from the error when it has one
/// (`fallback` otherwise).
fn csv_error(e: csv::Error, path: &str, fallback: u64) -> ReportError {
    let line = e.position().map_or(fallback, |p| p.line());
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReportError::Io {
            path: path.to_owned(),
            source,
        },
        _ => ReportError::Row {
            path: path.to_owned(),
            line,
            message,
        },
    }
}
