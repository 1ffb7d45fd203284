//! The readers of a run directory's CSV files: `results.csv` ([`crate::results`]),
//! `groups.csv`, `items.csv`, `candidates.csv` and `rankings.csv`, each read compressed
//! (`.gz`, see [`crate::gz`]) or plain. Every file goes through
//! [`read_csv`]: the header must be exactly the file's, each record becomes a serde-derived
//! row, and every error names the file (or the `source` given) and the 1-based line, counting
//! the header: `groups.csv:7: column user: "x" is not an unsigned integer: ...`. Fields are not
//! trimmed. What a file must hold beyond its types (no duplicate keys, lists that agree with
//! the other files) is checked row by row, also with the line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};

/// Errors of reading or writing the run's CSV files. `path` is the file name (or the `source`
/// name given to a reader, `<writer>` when writing); `line` is 1-based and counts the header line.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: I/O error: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:1: header is {found:?}, expected {expected:?}")]
    Header { path: String, found: Vec<String>, expected: Vec<String> },
    #[error("{path}:{line}: {message}")]
    Row { path: String, line: u64, message: String },
    #[error("{path}:{line}: value {value} of metric {metric:?} is not finite")]
    NonFinite { path: String, line: u64, metric: String, value: f64 },
}

/// Reads the rows of a CSV file from `r`: the first line must be exactly `header`, the columns
/// at `nonempty` must not be empty, each record deserializes into a `T`, and `check` (given the
/// row and its line) may refuse it with a message. `source` names the input in errors.
pub fn read_csv<T: DeserializeOwned>(
    r: impl Read,
    source: &str,
    header: &[&str],
    nonempty: &[usize],
    mut check: impl FnMut(&T, u64) -> Result<(), String>,
) -> Result<Vec<T>, ReportError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(r);
    let mut records = reader.records();
    let found: Vec<String> = match records.next() {
        None => Vec::new(),
        Some(rec) => rec.map_err(|e| csv_error(e, source, 1))?.iter().map(str::to_owned).collect(),
    };
    if !found.iter().map(String::as_str).eq(header.iter().copied()) {
        let expected = header.iter().map(|h| h.to_string()).collect();
        return Err(ReportError::Header { path: source.to_owned(), found, expected });
    }
    let mut rows = Vec::new();
    for rec in records {
        let rec = rec.map_err(|e| csv_error(e, source, 0))?;
        let line = rec.position().map_or(0, |p| p.line());
        let error = |message: String| ReportError::Row { path: source.to_owned(), line, message };
        if let Some(&i) = nonempty.iter().find(|&&i| rec[i].is_empty()) {
            return Err(error(format!("column {} is empty", header[i])));
        }
        let row: T = rec.deserialize(None).map_err(|e| error(field_error(&e, &rec, header)))?;
        check(&row, line).map_err(error)?;
        rows.push(row);
    }
    Ok(rows)
}

/// What is wrong with a field, as `column NAME: "value" is not ...: why`.
fn field_error(e: &csv::Error, rec: &csv::StringRecord, header: &[&str]) -> String {
    let csv::ErrorKind::Deserialize { err, .. } = e.kind() else { return e.to_string() };
    // serde's custom errors (those of `ids`) carry no field: the column is the one they come from
    let from_ids = |i: &usize| parse_ids(&rec[*i]).err().is_some_and(|m| err.to_string().ends_with(&m));
    let i = err.field().map_or_else(|| (0..rec.len()).find(from_ids).unwrap_or(0), |f| f as usize);
    let (column, value) = (header.get(i).copied().unwrap_or("?"), rec.get(i).unwrap_or(""));
    match err.kind() {
        csv::DeserializeErrorKind::ParseInt(why) => {
            format!("column {column}: {value:?} is not an unsigned integer: {why}")
        }
        csv::DeserializeErrorKind::ParseFloat(why) => format!("column {column}: {value:?} is not a number: {why}"),
        csv::DeserializeErrorKind::Message(why) => format!("column {column}: {why}"),
        why => format!("column {column}: {value:?}: {why}"),
    }
}

/// Maps a csv error to ours, taking the line from the error when it has one
/// (`fallback` otherwise).
pub(crate) fn csv_error(e: csv::Error, path: &str, fallback: u64) -> ReportError {
    let line = e.position().map_or(fallback, |p| p.line());
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReportError::Io { path: path.to_owned(), source },
        _ => ReportError::Row { path: path.to_owned(), line, message },
    }
}

/// Opens `path` for a reader, decompressing a `.gz` file ([`crate::gz::reader`]); the name in
/// errors is the path.
pub(crate) fn open(path: &Path) -> Result<(Box<dyn Read>, String), ReportError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReportError::Io { path: name.clone(), source })?;
    Ok((crate::gz::reader(std::io::BufReader::new(file), crate::gz::is_gz(path)), name))
}

/// A list of item ids separated by single spaces (the empty field is the empty list); an id
/// may not repeat.
fn parse_ids(field: &str) -> Result<Vec<u64>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for token in field.split(' ').filter(|_| !field.is_empty()) {
        let id = token.parse::<u64>().map_err(|e| format!("{token:?} is not an item id (an unsigned integer): {e}"))?;
        if !seen.insert(id) {
            return Err(format!("item {id} appears more than once"));
        }
        out.push(id);
    }
    Ok(out)
}

/// Deserializes a column with [`parse_ids`].
fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    parse_ids(&String::deserialize(d)?).map_err(D::Error::custom)
}

/// One row of `groups.csv`: the group of one test user for one attribute.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
pub struct GroupRow {
    pub suite: String,
    pub user: u64,
    /// E.g. `"gender"`, `"age"`, `"activity"`.
    pub attribute: String,
    /// E.g. `"F"`, `"age2"`, `"inactive"`.
    pub group: String,
}

/// The header line of `groups.csv`, in column order.
pub const GROUPS_HEADER: [&str; 4] = ["suite", "user", "attribute", "group"];

/// Reads `groups.csv` at `path`; see [`read_groups_from`].
pub fn read_groups(path: &Path) -> Result<Vec<GroupRow>, ReportError> {
    let (file, name) = open(path)?;
    read_groups_from(file, &name)
}

/// Reads `groups.csv` rows from `r` ([`read_csv`]): `suite`, `attribute` and `group` must not
/// be empty and `user` must be an unsigned integer. A second row for the same (suite, user,
/// attribute) is an error, even with the same group.
pub fn read_groups_from<R: Read>(r: R, source: &str) -> Result<Vec<GroupRow>, ReportError> {
    let mut seen: BTreeMap<(String, u64, String), u64> = BTreeMap::new();
    read_csv(r, source, &GROUPS_HEADER, &[0, 2, 3], |row: &GroupRow, line| {
        match seen.insert((row.suite.clone(), row.user, row.attribute.clone()), line) {
            Some(first) => Err(format!("duplicate of line {first} (same suite, user and attribute)")),
            None => Ok(()),
        }
    })
}

/// One row of `items.csv`: an item of a suite's dataset and its popularity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
pub struct ItemRow {
    /// The suite whose dataset holds the item.
    pub suite: String,
    /// The external item id.
    pub item: u64,
    /// Number of the item's ratings in the meta-train data.
    pub ratings: u64,
}

/// The header line of `items.csv`, in column order.
pub const ITEMS_HEADER: [&str; 3] = ["suite", "item", "ratings"];

/// One row of `candidates.csv`: the candidate set of one test user in one
/// scenario.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
pub struct CandidateRow {
    /// The suite of the test user.
    pub suite: String,
    /// The scenario (e.g. `warm`, `user-cold`).
    pub scenario: String,
    /// The external id of the test user.
    pub user: u64,
    /// External item ids: the user's query items plus sampled items the user
    /// did not rate; not empty, no repeats.
    #[serde(deserialize_with = "ids")]
    pub candidates: Vec<u64>,
    /// The candidates the user liked (query items rated at or above the
    /// suite's like threshold); may be empty.
    #[serde(deserialize_with = "ids")]
    pub relevant: Vec<u64>,
}

/// The header line of `candidates.csv`, in column order.
pub const CANDIDATES_HEADER: [&str; 5] = ["suite", "scenario", "user", "candidates", "relevant"];

/// One row of `rankings.csv`: a method's top-k list for one user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
pub struct RankingRow {
    /// The suite of the cell.
    pub suite: String,
    /// The scenario the user was ranked in.
    pub scenario: String,
    /// The method that ranked.
    pub method: String,
    /// The run seed of the cell.
    pub seed: u64,
    /// `none`, or the label of the robustness perturbation.
    pub perturbation: String,
    /// The external id of the test user.
    pub user: u64,
    /// External item ids of the top-k of the user's candidates, best first;
    /// not empty, no repeats.
    #[serde(deserialize_with = "ids")]
    pub top: Vec<u64>,
}

/// The header line of `rankings.csv`, in column order.
pub const RANKINGS_HEADER: [&str; 7] = ["suite", "scenario", "method", "seed", "perturbation", "user", "top"];

/// The three files of the item-side protocol, as read by [`load_item_side`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemSideData {
    /// The rows of `items.csv`.
    pub items: Vec<ItemRow>,
    /// The rows of `candidates.csv`.
    pub candidates: Vec<CandidateRow>,
    /// The rows of `rankings.csv`.
    pub rankings: Vec<RankingRow>,
}

/// Reads `items.csv`, `candidates.csv` and `rankings.csv` of the run directory
/// `dir`, each compressed (`.gz`) or not ([`crate::gz::run_file`]), each checked against
/// the ones before (see [`read_rankings_from`]).
/// `Ok(None)` when any of the three is absent (older runs, suites without the
/// candidate protocol): then there is no item-side section.
pub fn load_item_side(dir: &Path) -> Result<Option<ItemSideData>, ReportError> {
    let paths = ["items.csv", "candidates.csv", "rankings.csv"].map(|f| crate::gz::run_file(dir, f));
    if !paths.iter().all(|p| p.is_file()) {
        return Ok(None);
    }
    let [items_path, candidates_path, rankings_path] = &paths;
    let items = read_items(items_path)?;
    let candidates = read_candidates(candidates_path, &items)?;
    let rankings = read_rankings(rankings_path, &candidates)?;
    Ok(Some(ItemSideData { items, candidates, rankings }))
}

/// Reads `items.csv` at `path`; see [`read_items_from`].
pub fn read_items(path: &Path) -> Result<Vec<ItemRow>, ReportError> {
    let (file, name) = open(path)?;
    read_items_from(file, &name)
}

/// Reads `candidates.csv` at `path`; see [`read_candidates_from`].
pub fn read_candidates(path: &Path, items: &[ItemRow]) -> Result<Vec<CandidateRow>, ReportError> {
    let (file, name) = open(path)?;
    read_candidates_from(file, &name, items)
}

/// Reads `rankings.csv` at `path`; see [`read_rankings_from`].
pub fn read_rankings(path: &Path, candidates: &[CandidateRow]) -> Result<Vec<RankingRow>, ReportError> {
    let (file, name) = open(path)?;
    read_rankings_from(file, &name, candidates)
}

/// Reads `items.csv` rows from `r`; `source` names the input in errors, which
/// give it with the 1-based line (counting the header), as
/// [`crate::analysis::fairness::read_groups_from`] does. The first line must be
/// exactly [`ITEMS_HEADER`]; `suite` must not be empty, `item` and `ratings`
/// are unsigned integers, and an item may appear once per suite.
pub fn read_items_from<R: Read>(r: R, source: &str) -> Result<Vec<ItemRow>, ReportError> {
    let mut seen: HashMap<(String, u64), u64> = HashMap::new();
    read_csv(r, source, &ITEMS_HEADER, &[0], |row: &ItemRow, line| {
        if let Some(first) = seen.insert((row.suite.clone(), row.item), line) {
            return Err(format!("duplicate of line {first} (same suite and item)"));
        }
        Ok(())
    })
}

/// Reads `candidates.csv` rows from `r`, checking them against the rows of
/// `items.csv`; errors name `source` and the line as [`read_items_from`].
/// The first line must be exactly [`CANDIDATES_HEADER`]; `suite` and
/// `scenario` must not be empty, `user` is an unsigned integer, `candidates`
/// a non-empty and `relevant` a possibly empty list of item ids separated by
/// single spaces, neither repeating an id. Every relevant item must be a
/// candidate, every candidate an item of the suite in `items`, and a (suite,
/// scenario, user) may appear once.
pub fn read_candidates_from<R: Read>(r: R, source: &str, items: &[ItemRow]) -> Result<Vec<CandidateRow>, ReportError> {
    let mut known: HashMap<&str, HashSet<u64>> = HashMap::new();
    for i in items {
        known.entry(i.suite.as_str()).or_default().insert(i.item);
    }
    let mut seen: HashMap<(String, String, u64), u64> = HashMap::new();
    read_csv(r, source, &CANDIDATES_HEADER, &[0, 1], |row: &CandidateRow, line| {
        if row.candidates.is_empty() {
            return Err("column candidates is empty".to_owned());
        }
        if let Some(&item) = row.relevant.iter().find(|i| !row.candidates.contains(i)) {
            return Err(format!("relevant item {item} is not among the user's candidates"));
        }
        let Some(suite_items) = known.get(row.suite.as_str()) else {
            return Err(format!("suite {:?} has no rows in items.csv", row.suite));
        };
        if let Some(&item) = row.candidates.iter().find(|i| !suite_items.contains(i)) {
            return Err(format!("candidate item {item} is not in items.csv for suite {:?}", row.suite));
        }
        if let Some(first) = seen.insert((row.suite.clone(), row.scenario.clone(), row.user), line) {
            return Err(format!("duplicate of line {first} (same suite, scenario and user)"));
        }
        Ok(())
    })
}

/// Per suite: (k, line) fixed by a list shorter than its candidate set, and
/// (length, line) of the longest list that holds its whole candidate set.
type ListLengths = (Option<(usize, u64)>, Option<(usize, u64)>);

/// Key of a ranking row: every column but `top`.
type RankingKey = (String, String, String, u64, String, u64);

/// Reads `rankings.csv` rows from `r`, checking them against the rows of
/// `candidates.csv`; errors name `source` and the line as
/// [`read_items_from`]. The first line must be exactly [`RANKINGS_HEADER`];
/// `suite`, `scenario`, `method` and `perturbation` must not be empty, `seed`
/// and `user` are unsigned integers, `top` a non-empty list of item ids
/// separated by single spaces without repeats. The (suite, scenario, user)
/// must have a row in `candidates` and every item of `top` must be among that
/// user's candidates. All lists of a suite have the same length k, except
/// that a list may be shorter when it holds all of its user's candidates. A
/// row may appear once per (suite, scenario, method, seed, perturbation,
/// user).
pub fn read_rankings_from<R: Read>(
    r: R,
    source: &str,
    candidates: &[CandidateRow],
) -> Result<Vec<RankingRow>, ReportError> {
    let index: HashMap<(&str, &str, u64), &[u64]> =
        candidates.iter().map(|c| ((c.suite.as_str(), c.scenario.as_str(), c.user), c.candidates.as_slice())).collect();
    let mut lengths: HashMap<String, ListLengths> = HashMap::new();
    let mut seen: HashMap<RankingKey, u64> = HashMap::new();
    read_csv(r, source, &RANKINGS_HEADER, &[0, 1, 2, 4], |row: &RankingRow, line| {
        if row.top.is_empty() {
            return Err("column top is empty".to_owned());
        }
        let Some(cands) = index.get(&(row.suite.as_str(), row.scenario.as_str(), row.user)) else {
            return Err(format!(
                "no row in candidates.csv for suite {:?}, scenario {:?}, user {}",
                row.suite, row.scenario, row.user
            ));
        };
        if let Some(&item) = row.top.iter().find(|i| !cands.contains(i)) {
            return Err(format!("item {item} of top is not among the candidates of user {}", row.user));
        }
        let (exact, full) = lengths.entry(row.suite.clone()).or_default();
        let n = row.top.len();
        if n < cands.len() {
            if let Some((k, at)) = *exact
                && k != n
            {
                return Err(format!(
                    "top has {n} items, but the list on line {at} has {k}: k differs within the suite"
                ));
            }
            if let Some((longer, at)) = *full
                && longer > n
            {
                return Err(format!(
                    "top has {n} items, but the list on line {at} has {longer}: k differs within the suite"
                ));
            }
            exact.get_or_insert((n, line));
        } else {
            if let Some((k, at)) = *exact
                && n > k
            {
                return Err(format!(
                    "top has {n} items, but the list on line {at} has {k}: k differs within the suite"
                ));
            }
            if full.is_none_or(|(longest, _)| n > longest) {
                *full = Some((n, line));
            }
        }
        let key =
            (row.suite.clone(), row.scenario.clone(), row.method.clone(), row.seed, row.perturbation.clone(), row.user);
        if let Some(first) = seen.insert(key, line) {
            return Err(format!(
                "duplicate of line {first} (same suite, scenario, method, seed, perturbation and user)"
            ));
        }
        Ok(())
    })
}
