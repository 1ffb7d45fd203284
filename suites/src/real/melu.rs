//! `melu-ml1m`: MeLU's own MovieLens-1M split (Lee et al., KDD 2019) as a suite, read from the
//! files MeLU's authors published (github.com/hoyeoplee/MeLU, `movielens/ml-1m/`).
//!
//! # Files
//!
//! - `users.dat` (GroupLens's, latin-1): `UserID::Gender::Age::Occupation::Zip-code`.
//! - `movies_extrainfos.dat` (UTF-8, MeLU's OMDb side information): `movie_id::title::year::rate::
//!   released::genre::director::writer::actors::plot::poster`.
//! - Per state, `STATE.json` (`{"user id": ["movie id", ...]}`) and `STATE_y.json` (`{"user id":
//!   [rating, ...]}`, the same order). States and our scenarios: `warm_state` = warm,
//!   `user_cold_state` = user-cold, `item_cold_state` = item-cold, `user_and_item_cold_state` =
//!   user-item-cold. A missing state file (or its labels) is named in
//!   [`MeluReport::warnings`] and its scenario is left out; the others still run.
//!
//! # Tasks, as MeLU's `data_generation.py` makes them
//!
//! Per state, every user with `13 <= n <= 100` rated items in that state is a task (others are
//! skipped); the indices `0..n` are shuffled, the last 10 are the query set and the rest the
//! support set, in shuffled order. MeLU's `random.shuffle` is unseeded (its README says the
//! seeds were not published), so ours is seeded: one generator per (data seed, state, user id),
//! so the tasks are fixed per suite and do not depend on file order.
//!
//! # Features, as MeLU's `item_converting` / `user_converting` encode them
//!
//! Users: `gender`, `age` (the code), `occupation` (the code), `zip` (the first five
//! characters), categorical. Items: `rate` categorical; `genre`, `director` and `actors` are
//! multi-valued (`, `-separated; each director with its parenthesised notes removed, as MeLU's
//! `re.sub(r'\([^()]*\)', '', director)`; a field pandas reads as missing, e.g. `N/A`, is the
//! value `nan`, as `str(NaN)` in MeLU). MeLU embeds a multi-valued field as
//! `Linear(multi-hot) / count` without bias, the mean of its values' embeddings; we give each
//! value a numeric column `field:value` holding `1/count` when the item has it and 0 otherwise
//! (not standardised), so the first dense layer of a network computes exactly that map (without
//! MeLU's rank-32 bottleneck). MeLU's vocabularies list every value of the data set (its
//! `m_*.txt`); ours too (not only existing users and items, unlike our other real suites).
//! [`MeluOptions::max_values`] can keep only the most frequent values of `director` and `actors`
//! (about 2,186 and 8,030 columns otherwise).
//!
//! # Meta-train and meta-validation users
//!
//! MeLU meta-trains on every `warm_state` task and publishes no evaluation code.
//! - Route `warm-state` (warm_state.json present): the warm tasks' users are shuffled
//!   (seeded); a `validation_fraction` of them are validation users (their warm tasks), a
//!   `warm_fraction` test users (the warm scenario), and the rest meta-train users (all their
//!   warm ratings). Item-cold users are existing users and may be meta-train users, as in
//!   MeLU.
//! - Route `user-cold-portion` (no warm_state.json, as in public snapshots of the repository,
//!   which drop files over 4 MiB): there is no set MeLU trained on. We meta-train on a seeded
//!   portion ([`MeluOptions::fallback_train_fraction`]) of the user-cold state's task users,
//!   with their ratings of existing items only; a `validation_fraction` of that portion are
//!   validation users (their user-cold tasks). Those users are removed from every test
//!   scenario (user-cold and user-item-cold); item-cold keeps all its users (none is ever
//!   trained on, and no new item is). So no test user is ever in meta-train or validation, and
//!   new items stay unseen. The user-cold and user-item-cold test sets are then smaller than
//!   MeLU's; the report says how many.
//!
//! # Errors
//!
//! A state file that names a user missing from `users.dat`, or a movie missing from
//! `movies_extrainfos.dat`, or whose labels differ in length from its items, or a rating
//! outside 1..=5, is an error naming the file and the user id (the JSON key).

use super::features::Vocab;
use super::movielens::table_from;
use super::reader::{LineReader, split_colons};
use super::{AGE_BUCKETS, Counts, FileReport, RealError, int};
use crate::data::{Dataset, Features, Field, Rating, Schema};
use crate::rng::Rng;
use crate::split::{History, Protocol, Scenario, Split, Task};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

/// The state files and the scenario each one is.
pub const STATES: [(&str, Scenario); 4] = [
    ("warm_state", Scenario::Warm),
    ("user_cold_state", Scenario::UserCold),
    ("item_cold_state", Scenario::ItemCold),
    ("user_and_item_cold_state", Scenario::UserItemCold),
];

/// The strings pandas' `read_csv` reads as missing by default (`na_values`); MeLU then sees
/// `str(nan)`, the value `nan`.
const PANDAS_NA: [&str; 19] = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
];

/// The multi-valued item fields, in MeLU's order.
pub const BAG_FIELDS: [&str; 3] = ["genre", "director", "actors"];

/// `[melu]` options of a suite file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeluOptions {
    /// Fewest and most rated items of a task user in a state (MeLU: 13 and 100).
    pub min_ratings: usize,
    pub max_ratings: usize,
    /// Query size (MeLU: the last 10 shuffled indices).
    pub query: usize,
    /// Without warm_state.json: the share of the user-cold state's task users used for
    /// meta-training and validation (removed from the tests).
    pub fallback_train_fraction: f64,
    /// Keep only this many most frequent values of `director` and `actors` (`None`: all, as
    /// MeLU); the others are dropped from the item's values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_values: Option<usize>,
}

impl Default for MeluOptions {
    fn default() -> Self {
        MeluOptions { min_ratings: 13, max_ratings: 100, query: 10, fallback_train_fraction: 0.5, max_values: None }
    }
}

impl MeluOptions {
    pub fn check(&self) -> Result<(), RealError> {
        let bad = |message: String| Err(RealError::Options { message });
        if self.query == 0 || self.min_ratings <= self.query || self.max_ratings < self.min_ratings {
            return bad(format!(
                "melu: query = {}, min_ratings = {}, max_ratings = {} must satisfy 1 <= query < min <= max",
                self.query, self.min_ratings, self.max_ratings
            ));
        }
        if !(self.fallback_train_fraction > 0.0 && self.fallback_train_fraction < 1.0) {
            return bad(format!("melu.fallback_train_fraction = {} is not in (0, 1)", self.fallback_train_fraction));
        }
        if self.max_values == Some(0) {
            return bad("melu.max_values must be at least 1".into());
        }
        Ok(())
    }
}

/// One state file as read.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StateReport {
    pub state: String,
    pub scenario: String,
    /// Whether both the state file and its labels were read.
    pub present: bool,
    /// Users in the file, and those with `min..=max` items (MeLU's tasks).
    pub users: u64,
    pub task_users: u64,
    pub ratings: u64,
    /// Task users kept as test tasks (after meta-train and validation users are removed).
    pub test_users: u64,
}

/// What loading MeLU's split did, for the run manifest.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MeluReport {
    pub kind: String,
    /// `warm-state` or `user-cold-portion` (see the module docs).
    pub route: String,
    pub route_note: String,
    pub states: Vec<StateReport>,
    /// Missing files and what was left out because of them.
    pub warnings: Vec<String>,
    pub meta_train_users: u64,
    pub validation_users: u64,
    pub dataset: Counts,
    /// Columns of each multi-valued field.
    pub bag_columns: BTreeMap<String, u64>,
    pub files: Vec<FileReport>,
    pub shuffle: String,
}

/// The loaded suite data: dataset, MeLU's tasks as a split, and the report.
#[derive(Clone, Debug)]
pub struct MeluData {
    pub dataset: Dataset,
    pub split: Split,
    pub report: MeluReport,
}

struct User {
    gender: String,
    age: String,
    occupation: String,
    zip: String,
}

struct Movie {
    rate: String,
    bags: [Vec<String>; 3],
}

/// A field as MeLU sees it after pandas: a missing value is `nan`.
fn pandas(s: &str) -> &str {
    if PANDAS_NA.contains(&s) { "nan" } else { s }
}

/// MeLU's `re.sub(r'\([^()]*\)', '', s)`: removes every innermost parenthesised group, once.
pub fn strip_parens(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('(') {
        let after = &rest[open + 1..];
        match after.find(['(', ')']) {
            Some(k) if after.as_bytes()[k] == b')' => {
                out.push_str(&rest[..open]);
                rest = &after[k + 1..];
            }
            _ => {
                // No group closes here: keep the `(` and look further.
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_users(path: &Path, max_bad: f64) -> Result<(HashMap<u64, User>, FileReport), RealError> {
    table_from(LineReader::open(path)?, max_bad, |text| {
        let f = split_colons(text);
        if f.len() != 5 {
            return Err(format!("expected 5 ::-separated fields, found {}", f.len()));
        }
        let id: u64 = int(f[0], "user id")?;
        let code: u32 = int(f[2], "age code")?;
        if !AGE_BUCKETS.iter().any(|(c, _)| *c == code) {
            return Err(format!("age code {code} is not an ML-1M code"));
        }
        let occ: usize = int(f[3], "occupation code")?;
        if occ >= super::movielens::OCCUPATIONS_1M.len() {
            return Err(format!("occupation code {occ} is not in 0..=20"));
        }
        let gender = f[1].trim();
        if gender != "M" && gender != "F" {
            return Err(format!("gender `{gender}` is not M or F"));
        }
        let zip: String = f[4].trim().chars().take(5).collect();
        Ok((id, User { gender: gender.into(), age: code.to_string(), occupation: occ.to_string(), zip }))
    })
}

fn parse_movies(path: &Path, max_bad: f64) -> Result<(HashMap<u64, Movie>, FileReport), RealError> {
    table_from(LineReader::open_utf8(path)?, max_bad, |text| {
        let f = split_colons(text);
        if f.len() != 11 {
            return Err(format!("expected 11 ::-separated fields, found {}", f.len()));
        }
        let id: u64 = int(f[0], "movie id")?;
        let list = |s: &str| -> Vec<String> { pandas(s).split(", ").map(str::to_string).collect() };
        let directors = list(f[6]).iter().map(|d| strip_parens(d)).collect();
        Ok((id, Movie { rate: pandas(f[3]).to_string(), bags: [list(f[5]), directors, list(f[8])] }))
    })
}

/// Reads a JSON object file as `T`, naming the file and line of a syntax error.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RealError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| RealError::Io { path: shown.clone(), source })?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| RealError::Format {
        path: shown,
        line: e.line() as u64,
        message: format!("not MeLU's state format ({{\"user id\": [...]}}): {e}"),
    })
}

/// One state: per user id, the (movie id, rating) pairs in file order.
type State = BTreeMap<u64, Vec<(u64, f32)>>;

fn read_state(
    dir: &Path,
    state: &str,
    users: &HashMap<u64, User>,
    movies: &HashMap<u64, Movie>,
) -> Result<Option<State>, RealError> {
    let (xp, yp) = (dir.join(format!("{state}.json")), dir.join(format!("{state}_y.json")));
    if !xp.is_file() || !yp.is_file() {
        return Ok(None);
    }
    let x: BTreeMap<String, Vec<serde_json::Value>> = read_json(&xp)?;
    let y: BTreeMap<String, Vec<serde_json::Value>> = read_json(&yp)?;
    let err = |path: &Path, key: &str, message: String| RealError::Key {
        path: path.display().to_string(),
        key: key.to_string(),
        message,
    };
    let mut out = State::new();
    for (key, items) in &x {
        let uid: u64 = key.trim().parse().map_err(|_| err(&xp, key, "the user id is not an integer".into()))?;
        if !users.contains_key(&uid) {
            return Err(err(&xp, key, format!("user {uid} is not in users.dat")));
        }
        let labels = y.get(key).ok_or_else(|| err(&yp, key, format!("no labels for user {uid} of {state}.json")))?;
        if labels.len() != items.len() {
            return Err(err(&yp, key, format!("{} labels for {} items in {state}.json", labels.len(), items.len())));
        }
        let mut rows = Vec::with_capacity(items.len());
        for (m, r) in items.iter().zip(labels) {
            let mid: u64 = match m {
                serde_json::Value::String(s) => s.trim().parse().ok(),
                serde_json::Value::Number(n) => n.as_u64(),
                _ => None,
            }
            .ok_or_else(|| err(&xp, key, format!("item `{m}` is not a movie id")))?;
            if !movies.contains_key(&mid) {
                return Err(err(&xp, key, format!("movie {mid} is not in movies_extrainfos.dat")));
            }
            let value = r.as_f64().filter(|v| (1.0..=5.0).contains(v) && v.fract() == 0.0);
            let value = value.ok_or_else(|| err(&yp, key, format!("rating `{r}` of movie {mid} is not in 1..=5")))?;
            rows.push((mid, value as f32));
        }
        out.insert(uid, rows);
    }
    if let Some(extra) = y.keys().find(|k| !x.contains_key(*k)) {
        return Err(err(&yp, extra, format!("labels for a user that {state}.json does not list")));
    }
    Ok(Some(out))
}

/// Meta-train histories from tasks: each user's support and query ratings, by item.
fn histories(tasks: Vec<Task>) -> Vec<History> {
    tasks
        .into_iter()
        .map(|t| {
            let mut ratings: Vec<Rating> = t.support.into_iter().chain(t.query).collect();
            ratings.sort_by_key(|x| x.item);
            History { user: t.user, ratings }
        })
        .collect()
}

/// MeLU's task of one user: shuffled indices, the last `query` the query set.
fn melu_task(user: u32, rows: &[Rating], query: usize, rng: &mut Rng) -> Task {
    let mut idx: Vec<usize> = (0..rows.len()).collect();
    rng.shuffle(&mut idx);
    let cut = rows.len() - query;
    Task {
        user,
        support: idx[..cut].iter().map(|i| rows[*i]).collect(),
        query: idx[cut..].iter().map(|i| rows[*i]).collect(),
        pool: Vec::new(),
        negatives: Vec::new(),
    }
}

/// Loads MeLU's split from `dir` (the folder holding `users.dat`, `movies_extrainfos.dat` and
/// the state files). `seed` seeds the shuffles; `sha256` becomes [`Dataset::sha256`].
pub fn load(
    dir: &Path,
    opts: &MeluOptions,
    protocol: &Protocol,
    seed: u64,
    sha256: &str,
) -> Result<MeluData, RealError> {
    opts.check()?;
    let scenarios = protocol.check().map_err(|e| RealError::Options { message: e.to_string() })?;
    let max_bad = 0.001;
    let dir = super::resolve_dir(dir, "movies_extrainfos.dat", "ml-1m")?;
    let (users, u_rep) = parse_users(&dir.join("users.dat"), max_bad)?;
    let (movies, m_rep) = parse_movies(&dir.join("movies_extrainfos.dat"), max_bad)?;

    let mut warnings = Vec::new();
    let mut states: Vec<(usize, State)> = Vec::new();
    for (k, (state, sc)) in STATES.iter().enumerate() {
        match read_state(&dir, state, &users, &movies)? {
            Some(s) => states.push((k, s)),
            None => {
                let missing: Vec<String> = [format!("{state}.json"), format!("{state}_y.json")]
                    .into_iter()
                    .filter(|f| !dir.join(f).is_file())
                    .collect();
                let what = if *sc == Scenario::Warm {
                    "no warm scenario, and no meta-train set as MeLU's (see the route)".to_string()
                } else {
                    format!("no {sc} scenario")
                };
                warnings.push(format!("{} missing in {}: {what}", missing.join(" and "), dir.display()));
            }
        }
    }
    if states.is_empty() {
        return Err(RealError::Missing {
            path: dir.join("user_cold_state.json").display().to_string(),
            alternative:
                "any of MeLU's state files (warm_state, user_cold_state, item_cold_state, user_and_item_cold_state)"
                    .into(),
        });
    }

    // Dense indices over every user and movie of the states read.
    let user_ids: Vec<u64> =
        states.iter().flat_map(|(_, s)| s.keys().copied()).collect::<BTreeSet<_>>().into_iter().collect();
    let item_ids: Vec<u64> = states
        .iter()
        .flat_map(|(_, s)| s.values().flatten().map(|r| r.0))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let uix: HashMap<u64, u32> = user_ids.iter().enumerate().map(|(k, u)| (*u, k as u32)).collect();
    let iix: HashMap<u64, u32> = item_ids.iter().enumerate().map(|(k, i)| (*i, k as u32)).collect();
    let mut user_is_new = vec![false; user_ids.len()];
    let mut item_is_new = vec![false; item_ids.len()];
    for (k, s) in &states {
        let sc = STATES[*k].1;
        for (u, rows) in s {
            if matches!(sc, Scenario::UserCold | Scenario::UserItemCold) {
                user_is_new[uix[u] as usize] = true;
            }
            if matches!(sc, Scenario::ItemCold | Scenario::UserItemCold) {
                for (m, _) in rows {
                    item_is_new[iix[m] as usize] = true;
                }
            }
        }
    }
    let dense = |u: u64, rows: &[(u64, f32)]| -> Vec<Rating> {
        rows.iter().map(|(m, v)| Rating { user: uix[&u], item: iix[m], value: *v }).collect()
    };
    let mut ratings: Vec<Rating> = states.iter().flat_map(|(_, s)| s.iter().flat_map(|(u, r)| dense(*u, r))).collect();
    ratings.sort_by_key(|r| (r.user, r.item));
    ratings.dedup_by_key(|r| (r.user, r.item));

    // MeLU's tasks per state.
    let in_range = |n: usize| (opts.min_ratings..=opts.max_ratings).contains(&n);
    let mut tasks: BTreeMap<Scenario, Vec<Task>> = BTreeMap::new();
    let mut state_reports = Vec::new();
    for (k, s) in &states {
        let (state, sc) = STATES[*k];
        let mut ts = Vec::new();
        for (u, rows) in s {
            if in_range(rows.len()) {
                let mut rng = Rng::from_labels(seed, &["melu", state, &u.to_string()]);
                ts.push(melu_task(uix[u], &dense(*u, rows), opts.query, &mut rng));
            }
        }
        state_reports.push(StateReport {
            state: state.into(),
            scenario: sc.name().into(),
            present: true,
            users: s.len() as u64,
            task_users: ts.len() as u64,
            ratings: s.values().map(|r| r.len() as u64).sum(),
            test_users: 0,
        });
        tasks.insert(sc, ts);
    }

    // Meta-train and validation users (module docs).
    let mut rng = Rng::from_labels(seed, &["melu", "users"]);
    let (route, route_note, meta_train, validation, removed) = if let Some(warm) = tasks.get_mut(&Scenario::Warm) {
        rng.shuffle(warm);
        let n_val = (warm.len() as f64 * protocol.validation_fraction).round() as usize;
        let n_test = (warm.len() as f64 * protocol.warm_fraction).round() as usize;
        let rest = warm.split_off(n_val);
        let validation = std::mem::replace(warm, rest);
        let train = warm.split_off(n_test.min(warm.len()));
        let meta_train = histories(train);
        warm.sort_by_key(|t| t.user);
        let note = format!(
            "warm_state.json present: of its {} task users, {} validation ({}), {} warm test ({}), the rest meta-train",
            meta_train.len() + validation.len() + warm.len(),
            validation.len(),
            protocol.validation_fraction,
            warm.len(),
            protocol.warm_fraction
        );
        ("warm-state", note, meta_train, validation, BTreeSet::new())
    } else {
        let uc = tasks.get_mut(&Scenario::UserCold).ok_or_else(|| RealError::Missing {
            path: dir.join("warm_state.json").display().to_string(),
            alternative: format!(
                "{}: without warm_state.json the meta-train users come from user_cold_state.json",
                dir.join("user_cold_state.json").display()
            ),
        })?;
        rng.shuffle(uc);
        let n_train = (uc.len() as f64 * opts.fallback_train_fraction).round() as usize;
        let n_val = (n_train as f64 * protocol.validation_fraction).round() as usize;
        let rest = uc.split_off(n_train);
        let mut portion = std::mem::replace(uc, rest);
        uc.sort_by_key(|t| t.user);
        let train = portion.split_off(n_val);
        let validation = portion;
        let removed: BTreeSet<u32> = train.iter().chain(&validation).map(|t| t.user).collect();
        let meta_train = histories(train);
        let note = format!(
            "warm_state.json absent (MeLU meta-trains on it): meta-train and validation users are a seeded {} of \
             user_cold_state.json's task users ({} meta-train, {} validation; their existing-item ratings only), \
             removed from the user-cold and user-item-cold tests; item-cold keeps every user",
            opts.fallback_train_fraction,
            meta_train.len(),
            validation.len()
        );
        ("user-cold-portion", note, meta_train, validation, removed)
    };
    let mut meta_train = meta_train;
    meta_train.sort_by_key(|h| h.user);
    let mut validation = validation;
    validation.sort_by_key(|t| t.user);

    let mut test = Vec::new();
    for sc in scenarios {
        let Some(ts) = tasks.remove(&sc) else { continue };
        let ts: Vec<Task> = ts.into_iter().filter(|t| !removed.contains(&t.user)).collect();
        if let Some(r) = state_reports.iter_mut().find(|r| r.scenario == sc.name()) {
            r.test_users = ts.len() as u64;
        }
        test.push((sc, ts));
    }
    for (state, sc) in STATES {
        if !state_reports.iter().any(|r| r.state == state) {
            state_reports.push(StateReport {
                state: state.into(),
                scenario: sc.name().into(),
                present: false,
                users: 0,
                task_users: 0,
                ratings: 0,
                test_users: 0,
            });
        }
    }

    // Features.
    let urows: Vec<&User> = user_ids.iter().map(|u| &users[u]).collect();
    let irows: Vec<&Movie> = item_ids.iter().map(|i| &movies[i]).collect();
    let mut vocabularies = Vec::new();
    let user_field = |name: &str, get: &dyn Fn(&User) -> &str, vocabularies: &mut Vec<(String, Vocab)>| {
        let v = Vocab::build(urows.iter().map(|u| Some(get(u))), None);
        vocabularies.push((name.to_string(), v));
    };
    user_field("gender", &|u| &u.gender, &mut vocabularies);
    user_field("age", &|u| &u.age, &mut vocabularies);
    user_field("occupation", &|u| &u.occupation, &mut vocabularies);
    user_field("zip", &|u| &u.zip, &mut vocabularies);
    let user_cat: Vec<u32> = urows
        .iter()
        .flat_map(|u| {
            let vals = [&u.gender, &u.age, &u.occupation, &u.zip];
            vals.into_iter().zip(&vocabularies).map(|(v, (_, voc))| voc.encode(Some(v))).collect::<Vec<_>>()
        })
        .collect();
    let rate = Vocab::build(irows.iter().map(|m| Some(m.rate.as_str())), None);
    let item_cat: Vec<u32> = irows.iter().map(|m| rate.encode(Some(&m.rate))).collect();
    let mut item_numeric = Vec::new();
    let mut bag_vocab = Vec::new();
    let mut bag_columns = BTreeMap::new();
    for (f, name) in BAG_FIELDS.iter().enumerate() {
        let limit = if f == 0 { None } else { opts.max_values };
        let v = Vocab::build(irows.iter().flat_map(|m| m.bags[f].iter().map(|s| Some(s.as_str()))), limit);
        item_numeric.extend(v.labels.iter().map(|l| format!("{name}:{l}")));
        bag_columns.insert(name.to_string(), v.labels.len() as u64);
        bag_vocab.push(v);
    }
    let n_num = item_numeric.len();
    let mut item_num = vec![0f32; irows.len() * n_num];
    for (i, m) in irows.iter().enumerate() {
        let mut offset = 0;
        for (f, v) in bag_vocab.iter().enumerate() {
            let mut cols: Vec<u32> = m.bags[f].iter().map(|s| v.encode(Some(s))).filter(|c| *c > 0).collect();
            cols.sort_unstable();
            cols.dedup();
            // MeLU: Linear(multi-hot) / (number of values).
            for c in &cols {
                item_num[i * n_num + offset + *c as usize - 1] = 1.0 / cols.len() as f32;
            }
            offset += v.labels.len();
        }
    }
    let schema = Schema {
        user_fields: vocabularies.iter().map(|(n, v)| Field { name: n.clone(), vocab: v.size() }).collect(),
        item_fields: vec![Field { name: "rate".into(), vocab: rate.size() }],
        item_numeric,
    };
    let features =
        Features { schema, user_cat, item_cat, item_num, user_ids: user_ids.clone(), item_ids: item_ids.clone() };

    // Fairness groups: raw labels (age bucket, occupation name), and activity.
    let age_label =
        |code: &str| AGE_BUCKETS.iter().find(|(c, _)| c.to_string() == code).map_or("unknown", |b| b.1).to_string();
    let occ_label = |code: &str| {
        code.parse::<usize>()
            .ok()
            .and_then(|k| super::movielens::OCCUPATIONS_1M.get(k))
            .map_or("unknown", |v| v)
            .to_string()
    };
    let (activity, _) = crate::data::activity_groups(user_ids.len(), &ratings);
    let user_groups = vec![
        ("gender".to_string(), urows.iter().map(|u| u.gender.clone()).collect()),
        ("age".to_string(), urows.iter().map(|u| age_label(&u.age)).collect()),
        ("occupation".to_string(), urows.iter().map(|u| occ_label(&u.occupation)).collect()),
        ("activity".to_string(), activity),
    ];
    let dataset = Dataset {
        name: "melu-ml1m".into(),
        features: Arc::new(features),
        ratings,
        truth: None,
        rating_min: 1.0,
        rating_max: 5.0,
        sha256: sha256.to_string(),
        user_groups,
    };
    if let Some(c) = &protocol.candidates {
        crate::split::sample_negatives(&dataset, &item_is_new, c.sampled, &mut test, &mut rng.fork("candidates"));
    }
    let split_sha = crate::split::split_hash(&meta_train, &validation, &test);
    let report = MeluReport {
        kind: "melu-ml1m".into(),
        route: route.into(),
        route_note,
        states: state_reports,
        warnings,
        meta_train_users: meta_train.len() as u64,
        validation_users: validation.len() as u64,
        dataset: Counts {
            ratings: dataset.ratings.len() as u64,
            users: user_ids.len() as u64,
            items: item_ids.len() as u64,
        },
        bag_columns,
        files: vec![u_rep, m_rep],
        shuffle: format!(
            "MeLU's random.shuffle is unseeded; ours: one generator per (data seed {seed}, state, user id), last {} \
             shuffled indices = query",
            opts.query
        ),
    };
    let split = Split { meta_train, validation, test, item_is_new, user_is_new, sha256: split_sha };
    Ok(MeluData { dataset, split, report })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{copy, fixture};
    use super::*;

    /// The fixture's sizes (testdata/melu-ml1m/make_fixture.py): tasks of 4..=6 items, query 2.
    fn opts() -> MeluOptions {
        MeluOptions { min_ratings: 4, max_ratings: 6, query: 2, ..MeluOptions::default() }
    }

    fn protocol() -> Protocol {
        Protocol { support: 1, query: 2, validation_fraction: 0.5, warm_fraction: 0.5, ..Protocol::default() }
    }

    fn ids(d: &MeluData, tasks: &[Task]) -> Vec<u64> {
        tasks.iter().map(|t| d.dataset.features.user_ids[t.user as usize]).collect()
    }

    /// The fixture with warm_state added.
    fn with_warm(label: &str) -> std::path::PathBuf {
        let dir = copy("melu-ml1m", label, "", &[]);
        for f in ["warm_state.json", "warm_state_y.json"] {
            std::fs::copy(fixture("melu-ml1m-warm").join(f), dir.join(f)).unwrap();
        }
        dir
    }

    #[test]
    fn tasks_are_melus_last_query_of_shuffled_indices() {
        let d = load(&fixture("melu-ml1m"), &opts(), &protocol(), 7, "abc").unwrap();
        let f = &d.dataset.features;
        assert_eq!((f.n_users(), f.n_items(), d.dataset.sha256.as_str()), (11, 12, "abc")); // user 6 rates nothing
        let states: Vec<(&str, u64, u64)> =
            d.report.states.iter().map(|s| (s.state.as_str(), s.users, s.task_users)).collect();
        assert_eq!(
            states,
            [
                ("user_cold_state", 6, 4),
                ("item_cold_state", 5, 4),
                ("user_and_item_cold_state", 3, 3),
                ("warm_state", 0, 0)
            ]
        );
        // Every task holds exactly the user's ratings of its state: query 2, support the rest.
        let x: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&std::fs::read_to_string(fixture("melu-ml1m/item_cold_state.json")).unwrap()).unwrap();
        let ic = d.split.tasks(Scenario::ItemCold);
        assert_eq!(ids(&d, ic), [1, 2, 3, 4]);
        for t in ic {
            assert_eq!((t.query.len(), t.support.len()), (2, 2));
            let mut got: Vec<u64> = t.support.iter().chain(&t.query).map(|r| f.item_ids[r.item as usize]).collect();
            got.sort();
            let uid = f.user_ids[t.user as usize].to_string();
            let mut want: Vec<u64> = x[&uid].iter().map(|m| m.parse().unwrap()).collect();
            want.sort();
            assert_eq!(got, want);
            assert!(t.support.iter().chain(&t.query).all(|r| r.user == t.user && d.split.item_is_new[r.item as usize]));
        }
        // Labels follow their items: user 1's rating of movie m is 1 + (7 + 3m) % 5.
        for r in ic[0].support.iter().chain(&ic[0].query) {
            let m = f.item_ids[r.item as usize];
            assert_eq!(r.value, (1 + (7 + 3 * m) % 5) as f32);
        }
        // Fixed per seed, and the seed matters.
        let again = load(&fixture("melu-ml1m"), &opts(), &protocol(), 7, "abc").unwrap();
        assert_eq!(again.split.test, d.split.test);
        assert_eq!(again.split.sha256, d.split.sha256);
        let other = load(&fixture("melu-ml1m"), &opts(), &protocol(), 8, "abc").unwrap();
        assert_ne!(other.split.sha256, d.split.sha256);
    }

    #[test]
    fn without_warm_state_a_user_cold_portion_trains_and_no_test_user_is_in_it() {
        let d = load(&fixture("melu-ml1m"), &opts(), &protocol(), 7, "").unwrap();
        assert_eq!(d.report.route, "user-cold-portion");
        assert_eq!(d.report.warnings.len(), 1);
        assert!(
            d.report.warnings[0].contains("warm_state.json and warm_state_y.json missing"),
            "{:?}",
            d.report.warnings
        );
        // 4 user-cold task users (8, 9, 10, 12): half train; half of that validates.
        assert_eq!((d.report.meta_train_users, d.report.validation_users), (1, 1));
        let trained: BTreeSet<u32> =
            d.split.meta_train.iter().map(|h| h.user).chain(d.split.validation.iter().map(|t| t.user)).collect();
        assert_eq!(trained.len(), 2);
        assert!(d.split.test.iter().all(|(_, ts)| ts.iter().all(|t| !trained.contains(&t.user))));
        assert_eq!(d.split.tasks(Scenario::UserCold).len(), 2);
        let uic_removed = [8u64, 9, 10]
            .iter()
            .filter(|u| trained.iter().any(|t| d.dataset.features.user_ids[*t as usize] == **u))
            .count();
        assert_eq!(d.split.tasks(Scenario::UserItemCold).len(), 3 - uic_removed);
        assert_eq!(d.split.tasks(Scenario::ItemCold).len(), 4);
        assert!(d.split.tasks(Scenario::Warm).is_empty());
        // Meta-train sees new users' existing-item ratings only: no new item ever.
        for h in &d.split.meta_train {
            assert!(d.split.user_is_new[h.user as usize]);
            assert!(h.ratings.iter().all(|r| !d.split.item_is_new[r.item as usize]));
        }
        let test_scenarios: Vec<Scenario> = d.split.test.iter().map(|(s, _)| *s).collect();
        assert_eq!(test_scenarios, [Scenario::UserCold, Scenario::ItemCold, Scenario::UserItemCold]);
    }

    #[test]
    fn with_warm_state_warm_users_split_into_train_validation_and_test() {
        let dir = with_warm("melu-warm");
        let d = load(&dir, &opts(), &protocol(), 7, "").unwrap();
        assert_eq!(d.report.route, "warm-state");
        assert!(d.report.warnings.is_empty());
        // Users 1..6 all have 4..6 warm items: of 6, 1 validation, 2 warm test, 3 meta-train.
        let p = Protocol { validation_fraction: 1.0 / 6.0, warm_fraction: 2.0 / 6.0, ..protocol() };
        let d = load(&dir, &opts(), &p, 7, "").unwrap();
        assert_eq!(
            (d.report.validation_users, d.split.tasks(Scenario::Warm).len(), d.report.meta_train_users),
            (1, 2, 3)
        );
        let val: BTreeSet<u32> = d.split.validation.iter().map(|t| t.user).collect();
        let warm: BTreeSet<u32> = d.split.tasks(Scenario::Warm).iter().map(|t| t.user).collect();
        let train: BTreeSet<u32> = d.split.meta_train.iter().map(|h| h.user).collect();
        assert!(val.is_disjoint(&warm) && val.is_disjoint(&train) && warm.is_disjoint(&train));
        // Meta-train histories are the users' whole warm state; user-cold keeps all its tasks.
        for h in &d.split.meta_train {
            assert!(h.ratings.len() >= 4 && h.ratings.iter().all(|r| !d.split.item_is_new[r.item as usize]));
        }
        assert_eq!(d.split.tasks(Scenario::UserCold).len(), 4);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn features_follow_melus_encoding() {
        let d = load(&fixture("melu-ml1m"), &opts(), &protocol(), 7, "").unwrap();
        let f = &d.dataset.features;
        let names: Vec<&str> = f.schema.user_fields.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["gender", "age", "occupation", "zip"]);
        assert_eq!(f.schema.item_fields[0].name, "rate");
        let col =
            |n: &str| f.schema.item_numeric.iter().position(|x| x == n).unwrap_or_else(|| panic!("no column {n}"));
        let item = |m: u64| f.item_ids.iter().position(|x| *x == m).unwrap() as u32;
        // Movie 4: three genres, two directors (notes in parentheses removed, as MeLU's regex:
        // the space before them stays), three actors.
        let m4 = f.item_num(item(4));
        assert_eq!((m4[col("genre:Action")], m4[col("genre:Drama")]), (1.0 / 3.0, 1.0 / 3.0));
        assert_eq!((m4[col("director:Jane Doe ")], m4[col("director:John Roe")]), (0.5, 0.5));
        assert_eq!(m4[col("actors:A4")], 1.0 / 3.0);
        assert!((m4.iter().sum::<f32>() - 3.0).abs() < 1e-6); // each field sums to 1
        // N/A is pandas' missing value, which MeLU sees as `nan`.
        assert_eq!(f.item_num(item(3))[col("genre:nan")], 1.0);
        assert_eq!(f.item_num(item(5))[col("director:nan")], 1.0);
        assert_eq!(f.item_num(item(7))[col("director:Cy Park")], 1.0);
        assert_eq!(d.report.bag_columns["genre"], 8); // Comedy Drama Romance nan Action Sci-Fi Family Horror
        // zip[:5]; vocabularies of every user (new ones too).
        let zip = &d.dataset.features.schema.user_fields[3];
        assert_eq!(zip.vocab, 12); // 11 users with distinct zips + unknown
        let u2 = f.user_ids.iter().position(|u| *u == 2).unwrap() as u32;
        assert!(f.user_cat(u2).iter().all(|c| *c > 0));
        assert_eq!(d.dataset.user_groups[1].1[u2 as usize], "18-24");
        // The cap on director and actor values.
        let capped =
            load(&fixture("melu-ml1m"), &MeluOptions { max_values: Some(2), ..opts() }, &protocol(), 7, "").unwrap();
        assert_eq!((capped.report.bag_columns["director"], capped.report.bag_columns["actors"]), (2, 2));
        assert_eq!(capped.report.bag_columns["genre"], 8);
    }

    #[test]
    fn a_missing_state_is_named_and_the_others_run() {
        let dir = copy("melu-ml1m", "melu-missing", "", &["item_cold_state_y.json"]);
        let d = load(&dir, &opts(), &protocol(), 7, "").unwrap();
        assert!(
            d.report
                .warnings
                .iter()
                .any(|w| w.contains("item_cold_state_y.json missing") && w.contains("no item-cold"))
        );
        assert!(d.split.tasks(Scenario::ItemCold).is_empty());
        assert!(!d.split.tasks(Scenario::UserCold).is_empty() && !d.split.tasks(Scenario::UserItemCold).is_empty());
        // Without user_cold_state either, there is nothing to meta-train on: named.
        std::fs::remove_file(dir.join("user_cold_state.json")).unwrap();
        let err = load(&dir, &opts(), &protocol(), 7, "").unwrap_err().to_string();
        assert!(err.contains("warm_state.json") && err.contains("user_cold_state.json"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_state_files_name_the_file_and_key() {
        let dir = copy("melu-ml1m", "melu-bad", "", &[]);
        let path = dir.join("user_and_item_cold_state.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"9\", \"10\"", "\"9\", \"99\"", 1)).unwrap();
        let err = load(&dir, &opts(), &protocol(), 7, "").unwrap_err().to_string();
        assert!(
            err.contains("user_and_item_cold_state.json: key \"8\"")
                && err.contains("movie 99 is not in movies_extrainfos.dat"),
            "{err}"
        );
        std::fs::write(&path, &text).unwrap();
        let ypath = dir.join("item_cold_state_y.json");
        let y = std::fs::read_to_string(&ypath).unwrap();
        std::fs::write(&ypath, y.replacen("[", "[7, ", 2)).unwrap();
        let err = load(&dir, &opts(), &protocol(), 7, "").unwrap_err().to_string();
        assert!(err.contains("item_cold_state_y.json: key \"1\"") && err.contains("5 labels for 4 items"), "{err}");
        std::fs::write(&ypath, "{\"1\": [1, 2,\n 3,]}").unwrap();
        let err = load(&dir, &opts(), &protocol(), 7, "").unwrap_err().to_string();
        assert!(err.contains("item_cold_state_y.json:2:"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn parentheses_go_as_in_melus_regex() {
        assert_eq!(strip_parens("Jane Doe (co-director)"), "Jane Doe ");
        assert_eq!(strip_parens("A(b)C(d)"), "AC");
        assert_eq!(strip_parens("A (b (c)) d"), "A (b ) d"); // one pass, innermost groups only
        assert_eq!(strip_parens("A (b"), "A (b");
        assert_eq!(pandas("N/A"), "nan");
        assert_eq!(pandas("NA"), "nan");
        assert_eq!(pandas("Drama"), "Drama");
    }
}
