//! RecBole atomic files (`.inter`, `.user`, `.item`): the reader.
//!
//! Format (RecBole's documentation, "Atomic Files"): UTF-8 text, one record per line, fields
//! separated by a tab. The first line is the header: one `name:type` per column, where type is
//! one of `token` (a single discrete value), `token_seq` (space-separated discrete values),
//! `float` (a number) or `float_seq` (space-separated numbers). For example, MovieLens-100k in
//! RecBole's `dataset_example/ml-100k/`:
//!
//! ```text
//! ml-100k.inter  user_id:token  item_id:token  rating:float  timestamp:float
//! ml-100k.user   user_id:token  age:token  gender:token  occupation:token  zip_code:token
//! ml-100k.item   item_id:token  movie_title:token_seq  release_year:token  class:token_seq
//! ```
//!
//! A header with an unknown type, a column without a type or a repeated column name is an
//! error naming the file, line 1 and the column. Data rows are read by [`AtomicReader::next_row`];
//! what a row means (and whether it is bad) is the caller's business, with [`float`] and [`seq`]
//! as the parsers of the typed fields.

use super::RealError;
use super::reader::LineReader;
use std::path::Path;

/// The type of an atomic-file column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicType {
    Token,
    TokenSeq,
    Float,
    FloatSeq,
}

impl AtomicType {
    pub fn parse(s: &str) -> Option<AtomicType> {
        match s {
            "token" => Some(AtomicType::Token),
            "token_seq" => Some(AtomicType::TokenSeq),
            "float" => Some(AtomicType::Float),
            "float_seq" => Some(AtomicType::FloatSeq),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AtomicType::Token => "token",
            AtomicType::TokenSeq => "token_seq",
            AtomicType::Float => "float",
            AtomicType::FloatSeq => "float_seq",
        }
    }
}

/// One column of the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: AtomicType,
}

/// Reads one atomic file: the typed header, then the data rows.
pub struct AtomicReader {
    rd: LineReader,
    path: String,
    buf: String,
    pub columns: Vec<Column>,
}

impl AtomicReader {
    /// Opens `path` and parses its header.
    pub fn open(path: &Path) -> Result<AtomicReader, RealError> {
        let mut rd = LineReader::open_utf8(path)?;
        let shown = path.display().to_string();
        let format = |message: String| RealError::Format { path: shown.clone(), line: 1, message };
        let header = match rd.next_line()? {
            Some((_, text)) => text.to_string(),
            None => return Err(format("empty file: no header line (`name:type` per column)".into())),
        };
        let mut columns: Vec<Column> = Vec::new();
        for (k, spec) in header.split('\t').enumerate() {
            let Some((name, kind)) = spec.rsplit_once(':') else {
                return Err(format(format!(
                    "column {} `{spec}` has no type (RecBole headers are `name:type`, e.g. `user_id:token`)",
                    k + 1
                )));
            };
            let Some(kind) = AtomicType::parse(kind.trim()) else {
                return Err(format(format!(
                    "column {} `{spec}` has the unknown type `{kind}` (known: token, token_seq, float, float_seq)",
                    k + 1
                )));
            };
            let name = name.trim().to_string();
            if name.is_empty() || columns.iter().any(|c| c.name == name) {
                return Err(format(format!("column {} `{spec}`: empty or repeated column name", k + 1)));
            }
            columns.push(Column { name, kind });
        }
        Ok(AtomicReader { rd, path: shown, buf: String::new(), columns })
    }

    /// The file as given (for messages).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The index of column `name`, which must have one of the types `kinds`; an error names the
    /// file, the column and what the header has.
    pub fn column(&self, name: &str, kinds: &[AtomicType]) -> Result<usize, RealError> {
        let have = || self.columns.iter().map(|c| format!("{}:{}", c.name, c.kind.name())).collect::<Vec<_>>();
        let format = |message: String| RealError::Format { path: self.path.clone(), line: 1, message };
        let k = self
            .columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| format(format!("no column `{name}` in the header (columns: {})", have().join(", "))))?;
        if !kinds.contains(&self.columns[k].kind) {
            let want: Vec<&str> = kinds.iter().map(|t| t.name()).collect();
            return Err(format(format!(
                "column `{name}` is {}, expected {}",
                self.columns[k].kind.name(),
                want.join(" or ")
            )));
        }
        Ok(k)
    }

    /// The next non-blank data row as `(line number, fields)`; `Err(reason)` in the inner
    /// result when the row's field count differs from the header's (the caller counts it as bad).
    #[allow(clippy::type_complexity)]
    pub fn next_row(&mut self) -> Result<Option<(u64, Result<Vec<&str>, String>)>, RealError> {
        let n = self.columns.len();
        let line = loop {
            let Some((line, text)) = self.rd.next_line()? else { return Ok(None) };
            if !text.trim().is_empty() {
                self.buf.clear();
                self.buf.push_str(text);
                break line;
            }
        };
        let fields: Vec<&str> = self.buf.split('\t').collect();
        let row = if fields.len() == n {
            Ok(fields)
        } else {
            Err(format!("expected {n} tab-separated fields (as the header), found {}", fields.len()))
        };
        Ok(Some((line, row)))
    }
}

/// Parses a `float` field, naming the column in the reason.
pub fn float(s: &str, column: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{column} `{s}` is not a number")),
    }
}

/// The values of a `token_seq` or `float_seq` field (space-separated; empty: none).
pub fn seq(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').map(str::trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("metarec-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn header_types_and_rows() {
        let path = temp_file(
            "a.item",
            "item_id:token\ttitle:token_seq\tyear:float\tv:float_seq\n1\tCaf\u{e9} X\t1995\t0.5 1\n\n2\tY\n",
        );
        let mut r = AtomicReader::open(&path).unwrap();
        let kinds: Vec<AtomicType> = r.columns.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [AtomicType::Token, AtomicType::TokenSeq, AtomicType::Float, AtomicType::FloatSeq]);
        assert_eq!(r.column("year", &[AtomicType::Float]).unwrap(), 2);
        let err = r.column("year", &[AtomicType::Token]).unwrap_err().to_string();
        assert!(err.contains("a.item:1") && err.contains("`year` is float, expected token"), "{err}");
        let err = r.column("genre", &[AtomicType::TokenSeq]).unwrap_err().to_string();
        assert!(err.contains("no column `genre`") && err.contains("title:token_seq"), "{err}");
        let (line, row) = r.next_row().unwrap().unwrap();
        assert_eq!((line, row.unwrap()), (2, vec!["1", "Caf\u{e9} X", "1995", "0.5 1"]));
        let (line, row) = r.next_row().unwrap().unwrap(); // the blank line 3 is skipped
        assert_eq!(line, 4);
        assert!(row.unwrap_err().contains("expected 4 tab-separated fields"));
        assert!(r.next_row().unwrap().is_none());
        assert_eq!(seq(" a  b ").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(float(" 3 ", "rating").unwrap(), 3.0);
        assert_eq!(float("five", "rating").unwrap_err(), "rating `five` is not a number");
        assert!(float("NaN", "rating").is_err());
    }

    #[test]
    fn unknown_types_and_untyped_columns_name_file_line_and_column() {
        let path = temp_file("bad.inter", "user_id:token\titem_id:token\trating:double\n1\t2\t3\n");
        let err = AtomicReader::open(&path).err().unwrap().to_string();
        assert!(err.contains("bad.inter:1:") && err.contains("column 3 `rating:double`"), "{err}");
        assert!(err.contains("unknown type `double`"), "{err}");
        let path = temp_file("untyped.inter", "user_id\titem_id:token\n");
        let err = AtomicReader::open(&path).err().unwrap().to_string();
        assert!(err.contains("untyped.inter:1:") && err.contains("column 1 `user_id` has no type"), "{err}");
        let path = temp_file("twice.inter", "a:token\ta:float\n");
        assert!(AtomicReader::open(&path).err().unwrap().to_string().contains("repeated"));
        let path = temp_file("empty.inter", "");
        assert!(AtomicReader::open(&path).err().unwrap().to_string().contains("no header line"));
        let path = temp_file("latin1.item", "a:token\n");
        std::fs::write(&path, b"a:token\nCaf\xe9\n").unwrap();
        let mut r = AtomicReader::open(&path).unwrap();
        let err = r.next_row().err().unwrap().to_string();
        assert!(err.contains("latin1.item:2:") && err.contains("UTF-8"), "{err}");
    }
}
