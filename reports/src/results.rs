//! The `results.csv` format: one [`ResultRow`] per (suite, scenario, method,
//! seed, perturbation, user, metric), read and written with a fixed header.
//!
//! Values are written with Rust's `{}` Display for `f64` (shortest string that
//! round-trips), so writing is deterministic and reading gives back the exact
//! bits. A NaN or infinite value is an error on write and on read: the runner
//! fails a cell instead of recording a non-finite number. Reading goes through
//! [`crate::read`].

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
pub const HEADER: [&str; 8] = ["suite", "scenario", "method", "seed", "perturbation", "user", "metric", "value"];

pub use crate::read::ReportError;

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
    let io = |e: csv::Error| crate::read::csv_error(e, WRITER, 0);
    let mut out = csv::Writer::from_writer(w);
    if header {
        out.write_record(HEADER).map_err(io)?;
    }
    for r in rows {
        let (seed, user, value) = (r.seed.to_string(), r.user.to_string(), r.value.to_string());
        out.write_record([r.suite.as_str(), &r.scenario, &r.method, &seed, &r.perturbation, &user, &r.metric, &value])
            .map_err(io)?;
    }
    out.flush().map_err(|source| ReportError::Io { path: WRITER.to_owned(), source })
}

/// Reads `results.csv` (or `results.csv.gz`, decompressed) at `path`; see [`read_rows_from`].
pub fn read_rows(path: &Path) -> Result<Vec<ResultRow>, ReportError> {
    let (file, name) = crate::read::open(path)?;
    read_rows_from(file, &name)
}

/// Reads CSV rows from `r` with [`crate::read::read_csv`]; `source` names the input in errors.
/// The first line must be exactly [`HEADER`]. Fields are not trimmed. A non-finite value is an
/// error, and so is a row whose key (every column but `value`) repeats an earlier row, since
/// summaries would silently count it twice; the first such row is the one named.
pub fn read_rows_from<R: Read>(r: R, source: &str) -> Result<Vec<ResultRow>, ReportError> {
    let mut lines = Vec::new();
    let rows = crate::read::read_csv(r, source, &HEADER, &[], |row: &ResultRow, line| {
        if !row.value.is_finite() {
            return Err(format!("value {} of metric {:?} is not finite", row.value, row.metric));
        }
        lines.push(line);
        Ok(())
    })?;
    match first_duplicate(&rows) {
        Some((first, dup)) => Err(ReportError::Row {
            path: source.to_owned(),
            line: lines[dup],
            message: format!("duplicate of line {} (same columns except value)", lines[first]),
        }),
        None => Ok(rows),
    }
}

/// The first row (in order) whose key, every column but `value`, repeats an earlier row's, as
/// (the earlier row, that row). Rows are indexed by a hash of their key and compared in full
/// where hashes meet, so a collision is never taken for a duplicate; the index holds no copy of
/// a key (a run's results.csv has millions of rows).
fn first_duplicate(rows: &[ResultRow]) -> Option<(usize, usize)> {
    use std::hash::{Hash, Hasher};
    first_duplicate_by(rows, |r| {
        let mut h = std::hash::DefaultHasher::new();
        key(r).hash(&mut h);
        h.finish()
    })
}

/// [`first_duplicate`] with the hash given (the tests make every hash collide).
fn first_duplicate_by(rows: &[ResultRow], hash: impl Fn(&ResultRow) -> u64) -> Option<(usize, usize)> {
    use std::collections::HashMap;
    // The first row of each hash, and the rows after it whose hash collides but key differs.
    let mut first: HashMap<u64, usize> = HashMap::with_capacity(rows.len());
    let mut more: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let h = hash(row);
        let Some(&j) = first.get(&h) else {
            first.insert(h, i);
            continue;
        };
        let others = more.entry(h).or_default();
        if let Some(&earlier) = std::iter::once(&j).chain(others.iter()).find(|&&k| key(&rows[k]) == key(row)) {
            return Some((earlier, i));
        }
        others.push(i);
    }
    None
}

/// Every column but `value`.
fn key(r: &ResultRow) -> (&str, &str, &str, u64, &str, u64, &str) {
    (&r.suite, &r.scenario, &r.method, r.seed, &r.perturbation, r.user, &r.metric)
}

fn check_finite(row: &ResultRow, path: &str, line: u64) -> Result<(), ReportError> {
    if row.value.is_finite() {
        return Ok(());
    }
    Err(ReportError::NonFinite { path: path.to_owned(), line, metric: row.metric.clone(), value: row.value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        ResultRow {
            suite: "ml".into(),
            scenario: "warm".into(),
            method: method.into(),
            seed,
            perturbation: "none".into(),
            user,
            metric: "mae".into(),
            value,
        }
    }

    fn written(rows: &[ResultRow], header: bool) -> Result<String, ReportError> {
        let mut buf = Vec::new();
        write_rows(&mut buf, rows, header)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    fn read_str(text: &str) -> Result<Vec<ResultRow>, ReportError> {
        read_rows_from(text.as_bytes(), "r.csv")
    }

    #[test]
    fn writes_exact_text() -> Result<(), ReportError> {
        let rows = [
            // Display of 1.0 is "1"; of 0.1 + 0.2 is the shortest round-trip
            // string "0.30000000000000004"; of 1e-7 is "0.0000001" (no exponent)
            row("maml", 1, 7, 1.0),
            row("a,b", 2, 8, 0.1 + 0.2),
            row("x", 3, 9, -1e-7),
        ];
        let want = "suite,scenario,method,seed,perturbation,user,metric,value\n\
                    ml,warm,maml,1,none,7,mae,1\n\
                    ml,warm,\"a,b\",2,none,8,mae,0.30000000000000004\n\
                    ml,warm,x,3,none,9,mae,-0.0000001\n";
        assert_eq!(written(&rows, true)?, want);
        assert_eq!(written(&rows[..1], false)?, "ml,warm,maml,1,none,7,mae,1\n");
        Ok(())
    }

    #[test]
    fn round_trips_exact_bits_and_appends() -> Result<(), ReportError> {
        let rows = vec![
            row("maml", 1, 1, 0.1 + 0.2),
            row("maml", 1, 2, f64::MAX),
            row("maml", 1, 3, f64::MIN_POSITIVE),
            row("maml", 1, 4, -0.0),
            row("we\"ird\nname", u64::MAX, u64::MAX, 1.0 / 3.0),
        ];
        let mut text = written(&rows[..2], true)?;
        text += &written(&rows[2..], false)?;
        let back = read_str(&text)?;
        assert_eq!(back, rows);
        let bits = |rs: &[ResultRow]| rs.iter().map(|r| r.value.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&rows)); // also tells -0.0 from 0.0
        Ok(())
    }

    #[test]
    fn file_round_trip_and_missing_file() -> Result<(), ReportError> {
        let path = std::env::temp_dir().join(format!("metarec-reports-{}.csv", std::process::id()));
        let rows = vec![row("maml", 1, 1, 0.25)];
        let file = std::fs::File::create(&path)
            .map_err(|source| ReportError::Io { path: path.display().to_string(), source })?;
        write_rows(file, &rows, true)?;
        let back = read_rows(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(back?, rows);

        let missing = std::env::temp_dir().join("metarec-reports-no-such-dir/results.csv");
        let err = read_rows(&missing).map(|_| ()).unwrap_err();
        assert!(matches!(err, ReportError::Io { .. }), "{err:?}");
        assert!(err.to_string().starts_with(&format!("{}: I/O error: ", missing.display())));
        Ok(())
    }

    #[test]
    fn non_finite_is_refused_on_write_before_any_output() {
        let mut buf = Vec::new();
        let rows = [row("m", 1, 1, 0.5), row("m", 1, 2, f64::NAN)];
        let err = write_rows(&mut buf, &rows, true).unwrap_err();
        // header is line 1, so the second row is line 3
        assert_eq!(err.to_string(), "<writer>:3: value NaN of metric \"mae\" is not finite");
        assert!(buf.is_empty());
        let err = write_rows(&mut buf, &[row("m", 1, 1, f64::INFINITY)], false).unwrap_err();
        assert_eq!(err.to_string(), "<writer>:1: value inf of metric \"mae\" is not finite");
    }

    #[test]
    fn read_errors_name_source_and_line() {
        let head = "suite,scenario,method,seed,perturbation,user,metric,value\n";
        let ok = "ml,warm,m,1,none,1,mae,0.5\n";
        let msg = |text: String| read_str(&text).map(|_| ()).unwrap_err().to_string();

        assert_eq!(
            msg(format!("{ok}{ok}")),
            format!("r.csv:1: header is {:?}, expected {HEADER:?}", ok.trim_end().split(',').collect::<Vec<_>>())
        );
        assert_eq!(msg(String::new()), format!("r.csv:1: header is [], expected {HEADER:?}"));
        assert_eq!(
            msg(format!("{head}{ok}ml,warm,m,x,none,1,mae,0.5\n")),
            "r.csv:3: column seed: \"x\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(
            msg(format!("{head}ml,warm,m,1,none,-1,mae,0.5\n")),
            "r.csv:2: column user: \"-1\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(
            msg(format!("{head}ml,warm,m,1,none,1,mae, 0.5\n")),
            "r.csv:2: column value: \" 0.5\" is not a number: invalid float literal"
        );
        assert_eq!(
            msg(format!("{head}{ok}ml,warm,m,1,none,2,mae,NaN\n")),
            "r.csv:3: value NaN of metric \"mae\" is not finite"
        );
        assert_eq!(
            msg(format!("{head}ml,warm,m,1,none,2,mae,-inf\n")),
            "r.csv:2: value -inf of metric \"mae\" is not finite"
        );
        assert_eq!(
            msg(format!("{head}{ok}ml,warm,m,1,none,2,mae,0.7\n{ok}")),
            "r.csv:4: duplicate of line 2 (same columns except value)"
        );
        let err = read_str(&format!("{head}{ok}ml,warm,m,1\n")).map(|_| ()).unwrap_err();
        assert!(matches!(err, ReportError::Row { line: 3, .. }), "{err:?}");
        assert!(err.to_string().starts_with("r.csv:3: CSV error"), "{err}");
    }

    #[test]
    fn header_only_is_empty() -> Result<(), ReportError> {
        assert!(read_str("suite,scenario,method,seed,perturbation,user,metric,value\n")?.is_empty());
        Ok(())
    }

    #[test]
    fn hash_collisions_are_compared_in_full() {
        let row = |user: u64, metric: &str| ResultRow {
            suite: "s".into(),
            scenario: "warm".into(),
            method: "m".into(),
            seed: 0,
            perturbation: "none".into(),
            user,
            metric: metric.into(),
            value: 1.0,
        };
        let rows = vec![row(1, "mae"), row(2, "mae"), row(1, "rmse"), row(3, "mae"), row(2, "mae")];
        // Every row's hash collides with every other's: only the real duplicate is found.
        assert_eq!(first_duplicate_by(&rows, |_| 7), Some((1, 4)));
        assert_eq!(first_duplicate_by(&rows[..4], |_| 7), None);
        assert_eq!(first_duplicate(&rows), Some((1, 4)));
        assert_eq!(first_duplicate(&rows[..4]), None);
    }
}
