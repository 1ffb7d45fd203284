//! `kind = "recbole"`: any dataset in RecBole's atomic files, mapped by the suite file.
//!
//! RecBole (recbole.io) distributes dozens of recommendation datasets as atomic files
//! (`NAME.inter`, `NAME.user`, `NAME.item`; format in [`super::atomic`]). A suite file names the
//! dataset, pins each file it reads and maps columns to the roles metarec needs:
//!
//! ```toml
//! [data]
//! kind = "recbole"
//! seed = 1
//! [recbole]
//! dataset = "ml-100k"                 # files NAME.inter, NAME.user, NAME.item; the data store name
//! files = { inter = "SHA-256", user = "SHA-256", item = "SHA-256" }   # every file read is pinned
//! user = "user_id"                    # .inter columns (token)
//! item = "item_id"
//! rating = "rating"                   # float
//! time = "timestamp"                  # optional (float): users split by first-rating time, else seeded
//! rating_scale = [1.0, 5.0]           # ratings outside are bad rows
//! year = "release_year"               # optional .item column: items split by year
//! title = "movie_title"               # optional .item column, for reports
//! groups = ["gender", "age"]          # user features also used as fairness groups
//! [[recbole.user_features]]
//! column = "age"
//! transform = "age-bucket"            # none (default), age-bucket, zip-region, decade
//! [[recbole.item_features]]
//! column = "class"
//! kind = "flags"                      # category (default), first, flags, number
//! ```
//!
//! Feature kinds: `category` (a token, after its transform, one categorical field); `first` (the
//! first token of a token_seq, categorical); `flags` (one numeric 0/1 column `name:value` per value
//! of a token_seq, in the order of `values` when given, else sorted; a value outside `values`
//! makes the row bad); `number` (a float column). Categorical vocabularies come from existing
//! users and items only, numeric columns are standardised on existing items, as for the other
//! real datasets; the existing/new rule and the 13..=100 filter are `[real]`'s (see the parent
//! module). The data come from `data.path`, or from the data store, where
//! `cargo xtask data add NAME DIR` registers a folder of atomic files; either way each file is
//! hashed and checked against `files` before it is read.

use super::atomic::{AtomicReader, AtomicType as T, float, seq};
use super::reader::FileStats;
use super::{
    Counts, ItemRow, Layout, Parsed, RawRating, RealData, RealError, RealOptions, UserRow, UserRule, age_bucket,
    decade, int,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

/// `[recbole]` of a suite file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecboleSpec {
    pub dataset: String,
    /// SHA-256 per atomic file read, by extension (`inter`, `user`, `item`).
    pub files: BTreeMap<String, String>,
    pub user: String,
    pub item: String,
    pub rating: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub rating_scale: (f32, f32),
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub user_features: Vec<FeatureSpec>,
    #[serde(default)]
    pub item_features: Vec<FeatureSpec>,
}

/// One mapped feature column.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub column: String,
    /// The feature's name (default: the column's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub kind: FeatureKind,
    #[serde(default)]
    pub transform: Transform,
    /// `flags`: the values, in column order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// Categorical: keep the most frequent values only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureKind {
    #[default]
    Category,
    First,
    Flags,
    Number,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    #[default]
    None,
    AgeBucket,
    ZipRegion,
    Decade,
}

impl FeatureSpec {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.column)
    }
}

impl RecboleSpec {
    /// Checks what can be checked without the files; names the key.
    pub fn check(&self) -> Result<(), RealError> {
        let bad = |message: String| Err(RealError::Options { message: format!("recbole.{message}") });
        if self.dataset.is_empty() || self.dataset.contains(['/', '\\']) {
            return bad(format!("dataset `{}` must be a plain name (the atomic files' stem)", self.dataset));
        }
        for (ext, sha) in &self.files {
            if !["inter", "user", "item"].contains(&ext.as_str()) {
                return bad(format!("files.{ext}: only inter, user and item files are read"));
            }
            if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return bad(format!("files.{ext} = `{sha}` is not a SHA-256 (64 lowercase hex digits)"));
            }
        }
        if !self.files.contains_key("inter") {
            return bad("files.inter: the interactions file must be pinned".into());
        }
        for (side, feats) in [("user", &self.user_features), ("item", &self.item_features)] {
            if !feats.is_empty() && !self.files.contains_key(side) {
                return bad(format!("{side}_features need files.{side} (the .{side} file, pinned)"));
            }
            let mut seen = BTreeSet::new();
            for f in feats {
                // A categorical field and numeric columns (`name:value`) may share a name.
                let numeric = matches!(f.kind, FeatureKind::Flags | FeatureKind::Number);
                if !seen.insert((f.name(), numeric)) {
                    return bad(format!("{side}_features: `{}` appears twice (give one a `name`)", f.name()));
                }
                if side == "user" && matches!(f.kind, FeatureKind::Flags | FeatureKind::Number) {
                    return bad(format!("user_features.{}: users have categorical features only", f.name()));
                }
            }
        }
        for g in &self.groups {
            if !self.user_features.iter().any(|f| f.name() == g && f.kind == FeatureKind::Category) {
                return bad(format!("groups: `{g}` is not a categorical user feature"));
            }
        }
        let (lo, hi) = self.rating_scale;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return bad(format!("rating_scale = [{lo}, {hi}] is not a range"));
        }
        Ok(())
    }
}

fn transform(t: Transform, s: &str) -> Result<Option<String>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    Ok(Some(match t {
        Transform::None => s.to_string(),
        Transform::AgeBucket => age_bucket(int(s, "age")?).to_string(),
        Transform::ZipRegion => match s.chars().next() {
            Some(c) if c.is_ascii_digit() => c.to_string(),
            _ => "non-us".to_string(),
        },
        Transform::Decade => decade(int(s, "year")?),
    }))
}

/// Checks every pinned file in `dir` against its pin.
fn check_pins(dir: &Path, spec: &RecboleSpec) -> Result<(), RealError> {
    for (ext, pin) in &spec.files {
        let path = dir.join(format!("{}.{ext}", spec.dataset));
        let (sha, size) =
            crate::store::sha256_file(&path).map_err(|e| RealError::Options { message: e.to_string() })?;
        if sha != *pin {
            return Err(RealError::Format {
                path: path.display().to_string(),
                line: 0,
                message: format!("SHA-256 {sha} ({size} bytes), but the suite's recbole.files.{ext} pins {pin}"),
            });
        }
    }
    Ok(())
}

/// Loads a RecBole dataset from `dir` (holding `NAME.inter` ...) as `spec` maps it.
pub fn load(dir: &Path, spec: &RecboleSpec, opts: &RealOptions) -> Result<RealData, RealError> {
    spec.check()?;
    opts.check()?;
    let dir = super::resolve_dir(dir, &format!("{}.inter", spec.dataset), &spec.dataset)?;
    check_pins(&dir, spec)?;
    let max_bad = opts.max_bad_fraction.unwrap_or(0.001);
    let file = |ext: &str| dir.join(format!("{}.{ext}", spec.dataset));

    // Interactions.
    let path = file("inter");
    let mut rd = AtomicReader::open(&path)?;
    let (cu, ci) = (rd.column(&spec.user, &[T::Token])?, rd.column(&spec.item, &[T::Token])?);
    let cr = rd.column(&spec.rating, &[T::Float])?;
    let ct = spec.time.as_deref().map(|t| rd.column(t, &[T::Float])).transpose()?;
    let mut st = FileStats::new(&path);
    let mut keys: HashMap<String, u64> = HashMap::new();
    let key_of = |s: &str, keys: &mut HashMap<String, u64>| -> u64 {
        let n = keys.len() as u64;
        *keys.entry(s.trim().to_string()).or_insert(n)
    };
    let mut user_keys: HashMap<String, u64> = HashMap::new();
    let mut ratings = Vec::new();
    let (lo, hi) = spec.rating_scale;
    while let Some((line, row)) = rd.next_row()? {
        st.read();
        let parsed = row.and_then(|f| {
            let value = float(f[cr], &spec.rating)? as f32;
            if !(lo..=hi).contains(&value) {
                return Err(format!("{} {value} is outside rating_scale [{lo}, {hi}]", spec.rating));
            }
            let time = ct.map(|c| float(f[c], "time").map(|t| t as i64)).transpose()?;
            Ok((f[cu].to_string(), f[ci].to_string(), value, time))
        });
        match parsed {
            Ok((u, i, value, time)) => {
                st.kept();
                let user = key_of(&u, &mut user_keys);
                let item = key_of(&i, &mut keys);
                ratings.push(RawRating { user, item, value, time });
            }
            Err(reason) => st.bad(line, reason),
        }
    }
    let users_seen: HashSet<u64> = ratings.iter().map(|r| r.user).collect();
    let items_seen: HashSet<u64> = ratings.iter().map(|r| r.item).collect();
    let parsed =
        Counts { ratings: ratings.len() as u64, users: users_seen.len() as u64, items: items_seen.len() as u64 };
    let mut files = vec![st.finish(max_bad)?];

    // Users: categorical features; every rated user is known even without a .user file.
    let ufields: Vec<&FeatureSpec> = spec.user_features.iter().collect();
    let mut users: HashMap<u64, UserRow> =
        users_seen.iter().map(|u| (*u, UserRow { cats: vec![None; ufields.len()] })).collect();
    if spec.files.contains_key("user") {
        let path = file("user");
        let mut rd = AtomicReader::open(&path)?;
        let cid = rd.column(&spec.user, &[T::Token])?;
        let cols: Vec<usize> =
            ufields.iter().map(|f| rd.column(&f.column, &[T::Token, T::Float])).collect::<Result<_, _>>()?;
        let mut st = FileStats::new(&path);
        while let Some((line, row)) = rd.next_row()? {
            st.read();
            let parsed = row.and_then(|f| {
                let cats = ufields
                    .iter()
                    .zip(&cols)
                    .map(|(s, c)| transform(s.transform, f[*c]))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((f[cid].trim().to_string(), cats))
            });
            match parsed {
                Ok((key, cats)) => match user_keys.get(&key) {
                    Some(u) => {
                        st.kept();
                        users.insert(*u, UserRow { cats });
                    }
                    None => st.skipped("no rating"),
                },
                Err(reason) => st.bad(line, reason),
            }
        }
        files.push(st.finish(max_bad)?);
    }

    // Items.
    let mut item_fields = Vec::new();
    let mut item_numeric = Vec::new();
    let item_path = file("item");
    let mut flag_values: Vec<Vec<String>> = Vec::new();
    let mut items: HashMap<u64, ItemRow> = HashMap::new();
    let key_by_id: HashMap<u64, String> = keys.iter().map(|(k, v)| (*v, k.clone())).collect();
    for i in &items_seen {
        let key = key_by_id[i].clone();
        items.insert(*i, ItemRow { key: key.clone(), title: key, year: None, cats: Vec::new(), num: Vec::new() });
    }
    let feats = &spec.item_features;
    if spec.files.contains_key("item") {
        let mut rd = AtomicReader::open(&item_path)?;
        let cid = rd.column(&spec.item, &[T::Token])?;
        let cols: Vec<usize> = feats
            .iter()
            .map(|f| match f.kind {
                FeatureKind::Category => rd.column(&f.column, &[T::Token, T::Float]),
                FeatureKind::First | FeatureKind::Flags => rd.column(&f.column, &[T::TokenSeq, T::Token]),
                FeatureKind::Number => rd.column(&f.column, &[T::Float, T::Token]),
            })
            .collect::<Result<_, _>>()?;
        let cyear = spec.year.as_deref().map(|y| rd.column(y, &[T::Token, T::Float])).transpose()?;
        let ctitle = spec.title.as_deref().map(|t| rd.column(t, &[T::TokenSeq, T::Token])).transpose()?;
        // Flags need their value lists before rows are encoded: read the rows once.
        let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
        let mut st = FileStats::new(&item_path);
        while let Some((line, row)) = rd.next_row()? {
            st.read();
            match row {
                Ok(f) if keys.contains_key(f[cid].trim()) => {
                    rows.push((line, f.iter().map(|s| s.to_string()).collect()))
                }
                Ok(_) => st.skipped("no rating"),
                Err(reason) => st.bad(line, reason),
            }
        }
        for (f, c) in feats.iter().zip(&cols) {
            if f.kind == FeatureKind::Flags {
                let values = match &f.values {
                    Some(v) => v.clone(),
                    None => rows
                        .iter()
                        .flat_map(|(_, r)| seq(&r[*c]).map(str::to_string))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                };
                item_numeric.extend(values.iter().map(|v| format!("{}:{v}", f.name())));
                flag_values.push(values);
            } else if f.kind == FeatureKind::Number {
                item_numeric.push(f.name().to_string());
                flag_values.push(Vec::new());
            } else {
                item_fields.push((f.name().to_string(), f.limit));
                flag_values.push(Vec::new());
            }
        }
        for (line, r) in rows {
            let parsed = (|| -> Result<ItemRow, String> {
                let year = cyear.and_then(|c| super::movielens::year4(&r[c]));
                let (mut cats, mut num) = (Vec::new(), Vec::new());
                for ((f, c), values) in feats.iter().zip(&cols).zip(&flag_values) {
                    match f.kind {
                        FeatureKind::Category => cats.push(transform(f.transform, &r[*c])?),
                        FeatureKind::First => {
                            cats.push(seq(&r[*c]).next().map(|v| transform(f.transform, v)).transpose()?.flatten())
                        }
                        FeatureKind::Number => {
                            let s = r[*c].trim();
                            num.push(if s.is_empty() { None } else { Some(float(s, &f.column)? as f32) })
                        }
                        FeatureKind::Flags => {
                            let mut flags = vec![Some(0.0f32); values.len()];
                            for v in seq(&r[*c]) {
                                let k = values
                                    .iter()
                                    .position(|x| x == v)
                                    .ok_or(format!("{} `{v}` is not in its values", f.column))?;
                                flags[k] = Some(1.0);
                            }
                            num.extend(flags);
                        }
                    }
                }
                let key = r[cid].trim().to_string();
                let title = ctitle.map_or(key.clone(), |c| r[c].trim().to_string());
                Ok(ItemRow { key, title, year, cats, num })
            })();
            match parsed {
                Ok(row) => {
                    st.kept();
                    items.insert(keys[&row.key], row);
                }
                Err(reason) => st.bad(line, reason),
            }
        }
        files.push(st.finish(max_bad)?);
    }
    // Items without a row in the .item file: every feature missing.
    let (nf, nn) = (item_fields.len(), item_numeric.len());
    for row in items.values_mut() {
        if row.cats.len() != nf || row.num.len() != nn {
            row.cats = vec![None; nf];
            row.num = vec![None; nn];
        }
    }
    let layout = Layout {
        user_fields: ufields.iter().map(|f| (f.name().to_string(), f.limit)).collect(),
        item_fields,
        item_numeric,
        group_fields: spec.groups.clone(),
        user_rule: if spec.time.is_some() { UserRule::FirstRating } else { UserRule::Hash },
    };
    // Source ids: the keys themselves when all are integers, else their rank in text order
    // (from 1; the key stays the item's text key).
    let renumber = |m: &HashMap<String, u64>| -> HashMap<u64, u64> {
        if m.keys().all(|k| k.parse::<u64>().is_ok()) {
            return m.iter().map(|(k, v)| (*v, k.parse().expect("checked"))).collect();
        }
        let mut ks: Vec<(&String, &u64)> = m.iter().collect();
        ks.sort();
        ks.iter().enumerate().map(|(k, (_, v))| (**v, k as u64 + 1)).collect()
    };
    let (ru, ri) = (renumber(&user_keys), renumber(&keys));
    let ratings = ratings.into_iter().map(|r| RawRating { user: ru[&r.user], item: ri[&r.item], ..r }).collect();
    let users = users.into_iter().map(|(k, v)| (ru[&k], v)).collect();
    let items = items.into_iter().map(|(k, v)| (ri[&k], v)).collect();
    let p = Parsed { files, parsed, implicit: 0, unknown_item: 0, ratings, users, items, layout };
    super::assemble(&spec.dataset, spec.rating_scale, p, opts, max_bad)
}
