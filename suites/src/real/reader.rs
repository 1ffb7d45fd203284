//! Streaming line reading for the real datasets: latin-1 decoding, line numbers, per-file row
//! accounting with a bad-row threshold, and the field splitters of the three formats.
//!
//! All three dumps are ISO-8859-1 (latin-1). Decoding is one byte to one char (`U+0000..=U+00FF`),
//! so no byte sequence is ever invalid and no dependency is needed. Lines end at `\n`; a trailing
//! `\r` is removed. Blank lines are not rows (they are neither counted nor reported).

use super::{BadRow, FileReport, RealError};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// How many offending lines a [`FileReport`] keeps for the message.
pub const FIRST_BAD_KEPT: usize = 5;

/// Reads a file line by line, decoding latin-1 and counting lines (1-based).
pub struct LineReader {
    path: PathBuf,
    inner: BufReader<File>,
    bytes: Vec<u8>,
    line: String,
    line_no: u64,
    utf8: bool,
}

impl LineReader {
    /// Opens `path`; a missing or unreadable file is an error naming the path.
    pub fn open(path: &Path) -> Result<LineReader, RealError> {
        let file = File::open(path).map_err(|source| RealError::Io { path: path.display().to_string(), source })?;
        Ok(LineReader {
            path: path.to_path_buf(),
            inner: BufReader::with_capacity(1 << 16, file),
            bytes: Vec::new(),
            line: String::new(),
            line_no: 0,
            utf8: false,
        })
    }

    /// Opens a UTF-8 file (RecBole's atomic files, MeLU's side information): a line that is
    /// not valid UTF-8 is an error naming the file and line.
    pub fn open_utf8(path: &Path) -> Result<LineReader, RealError> {
        Ok(LineReader { utf8: true, ..LineReader::open(path)? })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next line as `(line number, text)` without its line ending, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &str)>, RealError> {
        self.bytes.clear();
        let n = self
            .inner
            .read_until(b'\n', &mut self.bytes)
            .map_err(|source| RealError::Io { path: self.path.display().to_string(), source })?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let mut end = self.bytes.len();
        if end > 0 && self.bytes[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && self.bytes[end - 1] == b'\r' {
            end -= 1;
        }
        self.line.clear();
        if self.utf8 {
            let text = std::str::from_utf8(&self.bytes[..end]).map_err(|e| RealError::Format {
                path: self.path.display().to_string(),
                line: self.line_no,
                message: format!("not valid UTF-8 ({e})"),
            })?;
            // A byte-order mark at the start of the file is not data.
            self.line.push_str(if self.line_no == 1 { text.trim_start_matches('\u{feff}') } else { text });
        } else {
            self.line.extend(self.bytes[..end].iter().map(|b| char::from(*b)));
        }
        Ok(Some((self.line_no, &self.line)))
    }
}

/// Decodes latin-1 bytes: each byte is the code point of the same value.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

/// Row accounting of one file: rows read, kept, bad (with the first offending lines), skipped
/// (well-formed rows left out for a stated reason) and implicit ratings.
pub struct FileStats {
    path: PathBuf,
    report: FileReport,
}

impl FileStats {
    pub fn new(path: &Path) -> FileStats {
        let file = path.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default();
        FileStats {
            path: path.to_path_buf(),
            report: FileReport {
                file,
                rows_read: 0,
                rows_kept: 0,
                bad_rows: 0,
                first_bad: Vec::new(),
                skipped: BTreeMap::new(),
                implicit: 0,
            },
        }
    }

    /// A data row was read (call once per non-blank row, before classifying it).
    pub fn read(&mut self) {
        self.report.rows_read += 1;
    }
    pub fn kept(&mut self) {
        self.report.rows_kept += 1;
    }
    pub fn implicit(&mut self) {
        self.report.implicit += 1;
    }
    pub fn skipped(&mut self, reason: &str) {
        *self.report.skipped.entry(reason.to_string()).or_insert(0) += 1;
    }
    /// Keeps a parsed row in `out`, or counts it as bad at `line`.
    pub fn push<T>(&mut self, out: &mut Vec<T>, line: u64, row: Result<T, String>) {
        match row {
            Ok(r) => {
                self.kept();
                out.push(r);
            }
            Err(reason) => self.bad(line, reason),
        }
    }
    pub fn bad(&mut self, line: u64, reason: String) {
        self.report.bad_rows += 1;
        if self.report.first_bad.len() < FIRST_BAD_KEPT {
            self.report.first_bad.push(BadRow { line, reason });
        }
    }

    /// Closes the file's account: refuses it when `bad_rows / rows_read` exceeds `max_bad_fraction`.
    pub fn finish(self, max_bad_fraction: f64) -> Result<FileReport, RealError> {
        let r = self.report;
        let fraction = if r.rows_read == 0 { 0.0 } else { r.bad_rows as f64 / r.rows_read as f64 };
        if fraction > max_bad_fraction {
            return Err(RealError::TooManyBadRows {
                path: self.path.display().to_string(),
                bad: r.bad_rows,
                read: r.rows_read,
                threshold: max_bad_fraction,
                first: r
                    .first_bad
                    .iter()
                    .map(|b| format!("line {}: {}", b.line, b.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            });
        }
        Ok(r)
    }
}

/// Splits on a one-character separator (`\t` for u.data, `|` for u.user and u.item).
pub fn split_char(line: &str, sep: char) -> Vec<&str> {
    line.split(sep).collect()
}

/// Splits on `::` (the ML-1M `.dat` files).
pub fn split_colons(line: &str) -> Vec<&str> {
    line.split("::").collect()
}

/// Splits one Book-Crossing CSV line: `;`-separated fields, each either double-quoted or bare
/// (`NULL` ages are bare).
///
/// A quoted field ends only at a `"` that is followed by `;` or by the end of the line, so `;` and
/// `"` inside a field are kept as they are. This also reads the dump's known `\";` lines
/// (`"...Readers)\";"James Buckley";...`) as the intended 8 fields; [`clean_text`] then drops the
/// stray backslash. A field holding `";` itself cannot be told from a field boundary: such a
/// line has the wrong number of fields and is counted as bad.
pub fn split_bx(line: &str) -> Result<Vec<&str>, String> {
    let b = line.as_bytes();
    let n = b.len();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        if i < n && b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            let close = loop {
                match b[j.min(n)..].iter().position(|c| *c == b'"') {
                    None => return Err(format!("unterminated quote in field {}", fields.len() + 1)),
                    Some(p) => {
                        let k = j + p;
                        if k + 1 == n || b[k + 1] == b';' {
                            break k;
                        }
                        j = k + 1;
                    }
                }
            };
            fields.push(&line[start..close]);
            i = close + 1;
        } else {
            let end = b[i..].iter().position(|c| *c == b';').map_or(n, |p| i + p);
            fields.push(&line[i..end]);
            i = end;
        }
        if i >= n {
            break;
        }
        // b[i] is the separator.
        i += 1;
        if i == n {
            fields.push("");
            break;
        }
    }
    Ok(fields)
}

/// Cleans a Book-Crossing text field: decodes the HTML entities the dump carries (`&amp;`,
/// `&quot;`, `&lt;`, `&gt;`, `&#39;`, `&apos;`), unescapes `\"`, drops a trailing backslash
/// and trims whitespace.
pub fn clean_text(s: &str) -> String {
    let mut out = s.replace("\\\"", "\"");
    if out.contains('&') {
        for (from, to) in
            [("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">"), ("&#39;", "'"), ("&apos;", "'"), ("&amp;", "&")]
        {
            out = out.replace(from, to);
        }
    }
    let trimmed = out.trim().trim_end_matches('\\').trim_end();
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("metarec-real-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn lines_decode_latin1_and_strip_endings() {
        let path = temp_file("lines.txt", b"Caf\xe9 Society\r\n\nlast\xff");
        let mut r = LineReader::open(&path).unwrap();
        let (n, l) = r.next_line().unwrap().unwrap();
        assert_eq!((n, l), (1, "Caf\u{e9} Society"));
        assert_eq!(l.chars().nth(3), Some('é'));
        assert_eq!(r.next_line().unwrap().unwrap(), (2, ""));
        assert_eq!(r.next_line().unwrap().unwrap(), (3, "last\u{ff}"));
        assert!(r.next_line().unwrap().is_none());
        assert_eq!(latin1(&[0x4d, 0xe9, 0x6c]), "Mél");
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = std::env::temp_dir().join("metarec-real-no-such-dir/u.data");
        let err = LineReader::open(&path).err().unwrap().to_string();
        assert!(err.contains("metarec-real-no-such-dir/u.data"), "{err}");
    }

    #[test]
    fn bad_rows_over_threshold_are_refused_with_file_count_and_lines() {
        let mut s = FileStats::new(Path::new("/data/ml/u.data"));
        for line in 1..=100 {
            s.read();
            if line == 7 || line == 40 {
                s.bad(line, "rating `x` is not an integer".into());
            } else {
                s.kept();
            }
        }
        let err = s.finish(0.01).err().unwrap().to_string();
        for want in ["/data/ml/u.data", "2 of 100 rows", "0.01", "line 7", "line 40"] {
            assert!(err.contains(want), "`{want}` not in: {err}");
        }
        let mut s = FileStats::new(Path::new("u.data"));
        s.read();
        s.bad(3, "x".into());
        for _ in 0..99 {
            s.read();
            s.kept();
        }
        let r = s.finish(0.01).unwrap();
        assert_eq!((r.rows_read, r.rows_kept, r.bad_rows), (100, 99, 1));
        assert_eq!(r.first_bad, vec![BadRow { line: 3, reason: "x".into() }]);
    }

    #[test]
    fn bx_fields_keep_inner_quotes_and_semicolons() {
        let f = split_bx(r#""1";"nyc, new york, usa";NULL"#).unwrap();
        assert_eq!(f, vec!["1", "nyc, new york, usa", "NULL"]);
        let f = split_bx(r#""0789466953";"DK Readers (Level 4)\";"James Buckley";"2000""#).unwrap();
        assert_eq!(f, vec!["0789466953", r"DK Readers (Level 4)\", "James Buckley", "2000"]);
        assert_eq!(clean_text(f[1]), "DK Readers (Level 4)");
        let f = split_bx(r#""1";"Love; War and "Peace"";"Simon &amp; Schuster""#).unwrap();
        assert_eq!(f, vec!["1", r#"Love; War and "Peace""#, "Simon &amp; Schuster"]);
        assert_eq!(clean_text(f[2]), "Simon & Schuster");
        assert_eq!(split_bx(r#""a";"b"#).err().unwrap(), "unterminated quote in field 2");
        assert_eq!(split_bx(r#""a";"#).unwrap(), vec!["a", ""]);
        assert_eq!(split_bx("").unwrap(), vec![""]);
    }
}
