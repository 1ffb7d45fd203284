//! Cold-start splits: who and what is new, and the tasks of each scenario.
//!
//! The four scenarios follow MeLU (Lee et al., KDD 2019): users and items are each *existing* or
//! *new*; meta-training sees only existing users' ratings of existing items.
//!
//! | scenario         | task users                      | task items |
//! |------------------|---------------------------------|------------|
//! | `warm`           | existing (held-out ratings)     | existing   |
//! | `user-cold`      | new                             | existing   |
//! | `item-cold`      | existing                        | new        |
//! | `user-item-cold` | new                             | new        |
//!
//! A user enters a scenario's test tasks when they have at least `support + query` ratings in
//! that state; the support set is `support` ratings and the query set `query` other ratings, both
//! drawn at random from the split's seed. For `warm`, a fraction of existing users have
//! `support + query` of their ratings held out of meta-training (so warm test ratings are never
//! trained on). Validation users are a further slice of the existing users, removed from
//! meta-training; their tasks use existing items, like `user-cold`.

use crate::data::{Dataset, Rating};
use crate::rng::Rng;
use sha2::{Digest, Sha256};
use std::fmt;

/// A cold-start scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    Warm,
    UserCold,
    ItemCold,
    UserItemCold,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [Scenario::Warm, Scenario::UserCold, Scenario::ItemCold, Scenario::UserItemCold];

    /// The name used in results.csv and suite files.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Warm => "warm",
            Scenario::UserCold => "user-cold",
            Scenario::ItemCold => "item-cold",
            Scenario::UserItemCold => "user-item-cold",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One few-shot task: a user with a support set to adapt on and a query set to score.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub user: u32,
    pub support: Vec<Rating>,
    pub query: Vec<Rating>,
    /// The user's other ratings in the task's item state that neither meta-training nor this
    /// task uses (empty for warm and `support_rest` tasks): where `shots` with `k` above the
    /// support size draws its extra ratings.
    pub pool: Vec<Rating>,
    /// Candidate-ranking protocol: items of the scenario's item state that the user never
    /// rated, sampled (sorted by index); ranked together with the query items. Empty when the
    /// protocol has no `[protocol.candidates]`.
    pub negatives: Vec<u32>,
}

/// The ratings of one meta-training user, from which methods sample their own episodes.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    pub user: u32,
    pub ratings: Vec<Rating>,
}

/// Split parameters, from the suite file's `[protocol]` table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Support-set size K of every test and validation task.
    #[serde(default = "default_support")]
    pub support: usize,
    /// Query-set size of every test and validation task.
    #[serde(default = "default_query")]
    pub query: usize,
    /// Fraction of existing users used as meta-validation users.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Fraction of the remaining existing users whose warm test ratings are held out.
    #[serde(default = "default_warm_fraction")]
    pub warm_fraction: f64,
    /// Scenarios to build (names as in results.csv).
    #[serde(default = "default_scenarios")]
    pub scenarios: Vec<String>,
    /// MeLU's tasks: `query` ratings drawn at random and *all the others* as the support set,
    /// with `support` as the fewest a task may have. Applies to validation, user-cold,
    /// item-cold and user-item-cold tasks; warm tasks keep exactly `support` ratings (their
    /// support and query are held out of the user's meta-train history, which must keep the
    /// rest).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub support_rest: bool,
    /// The candidate-ranking protocol (item-side fairness and popularity bias), when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Candidates>,
    /// A query rating at or above this is "liked" (per-user AUC). Unset: the candidates'
    /// `like` when declared, else 4 (see [`Protocol::like_threshold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub like: Option<f32>,
}

/// `[protocol.candidates]`: per test user, the query items plus `sampled` items of the
/// scenario's item state that the user never rated are ranked by the method's predicted
/// rating; the top `k` form the user's list, and query items rated at least `like` are its
/// relevant items (HR@k, nDCG@k, popularity bias and exposure metrics).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidates {
    /// Unrated items sampled per test user.
    pub sampled: usize,
    /// Length of each top-k list.
    #[serde(default = "default_rank_k")]
    pub k: usize,
    /// A query rating at or above this is relevant.
    #[serde(default = "default_like")]
    pub like: f32,
}

fn default_rank_k() -> usize {
    10
}
fn default_like() -> f32 {
    4.0
}

fn default_support() -> usize {
    10
}
fn default_query() -> usize {
    10
}
fn default_validation_fraction() -> f64 {
    0.1
}
fn default_warm_fraction() -> f64 {
    0.3
}
fn default_scenarios() -> Vec<String> {
    Scenario::ALL.iter().map(|s| s.name().to_string()).collect()
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            support: default_support(),
            query: default_query(),
            validation_fraction: default_validation_fraction(),
            warm_fraction: default_warm_fraction(),
            scenarios: default_scenarios(),
            support_rest: false,
            candidates: None,
            like: None,
        }
    }
}

/// A protocol value that cannot be used; names the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("protocol.{key}: {message}")]
pub struct ProtocolError {
    pub key: &'static str,
    pub message: String,
}

impl Protocol {
    /// The "liked" threshold of per-user AUC: `like`, else the candidates' `like`, else 4.
    pub fn like_threshold(&self) -> f32 {
        self.like.or(self.candidates.as_ref().map(|c| c.like)).unwrap_or_else(default_like)
    }

    /// Validates every field once, before any work starts.
    pub fn check(&self) -> Result<Vec<Scenario>, ProtocolError> {
        let err = |key, message: String| Err(ProtocolError { key, message });
        if let Some(l) = self.like.filter(|l| !l.is_finite()) {
            return err("like", format!("{l} is not a rating"));
        }
        if self.support == 0 {
            return err("support", "must be at least 1".into());
        }
        if self.query == 0 {
            return err("query", "must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return err("validation_fraction", format!("{} is not in [0, 1)", self.validation_fraction));
        }
        if !(0.0..=1.0).contains(&self.warm_fraction) {
            return err("warm_fraction", format!("{} is not in [0, 1]", self.warm_fraction));
        }
        if self.scenarios.is_empty() {
            return err("scenarios", "must name at least one scenario".into());
        }
        if let Some(c) = &self.candidates {
            if c.sampled == 0 {
                return err(
                    "candidates.sampled",
                    "must be at least 1 (leave out [protocol.candidates] to switch the protocol off)".into(),
                );
            }
            if c.k == 0 {
                return err("candidates.k", "must be at least 1".into());
            }
            if !c.like.is_finite() {
                return err("candidates.like", format!("{} is not a rating", c.like));
            }
        }
        let mut out = Vec::new();
        for s in &self.scenarios {
            match Scenario::parse(s) {
                Some(sc) if !out.contains(&sc) => out.push(sc),
                Some(_) => return err("scenarios", format!("`{s}` is listed twice")),
                None => {
                    return err(
                        "scenarios",
                        format!("unknown scenario `{s}` (known: warm, user-cold, item-cold, user-item-cold)"),
                    );
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The meta-train / meta-validation / meta-test split of one dataset.
#[derive(Clone, Debug)]
pub struct Split {
    /// Existing users' ratings of existing items, minus validation users and warm held-out ratings.
    pub meta_train: Vec<History>,
    /// Meta-validation tasks (existing items), for early stopping.
    pub validation: Vec<Task>,
    /// Meta-test tasks per scenario, in [`Scenario`] order.
    pub test: Vec<(Scenario, Vec<Task>)>,
    /// Which items are new (never in meta-training).
    pub item_is_new: Vec<bool>,
    /// Which users are new (never in meta-training).
    pub user_is_new: Vec<bool>,
    /// SHA-256 of the split's canonical listing (recorded in the manifest).
    pub sha256: String,
}

impl Split {
    pub fn tasks(&self, scenario: Scenario) -> &[Task] {
        self.test.iter().find(|(s, _)| *s == scenario).map(|(_, t)| t.as_slice()).unwrap_or(&[])
    }
}

/// Builds the split. `user_is_new` and `item_is_new` come from the suite's rule (first-rating
/// time, release year, or, for the synthetic world, its generator).
pub fn make_split(
    data: &Dataset,
    user_is_new: Vec<bool>,
    item_is_new: Vec<bool>,
    protocol: &Protocol,
    seed: u64,
) -> Result<Split, ProtocolError> {
    let scenarios = protocol.check()?;
    let n_users = data.features.n_users();
    let mut rng = Rng::from_labels(seed, &["split"]);
    let need = protocol.support + protocol.query;

    // Ratings per user, split by item state, in the dataset's order.
    let mut old_items: Vec<Vec<Rating>> = vec![Vec::new(); n_users];
    let mut new_items: Vec<Vec<Rating>> = vec![Vec::new(); n_users];
    for r in &data.ratings {
        if item_is_new[r.item as usize] {
            new_items[r.user as usize].push(*r);
        } else {
            old_items[r.user as usize].push(*r);
        }
    }

    // Existing users: shuffle, take validation users off the front.
    let mut existing: Vec<u32> = (0..n_users as u32).filter(|u| !user_is_new[*u as usize]).collect();
    rng.shuffle(&mut existing);
    let n_val = (existing.len() as f64 * protocol.validation_fraction).round() as usize;
    let (val_users, train_users) = existing.split_at(n_val);
    let mut val_sorted = val_users.to_vec();
    val_sorted.sort();
    let mut train_sorted = train_users.to_vec();
    train_sorted.sort();

    let mut task_rng = rng.fork("tasks");
    let take_task = |user: u32, ratings: &[Rating], rng: &mut Rng| -> Option<(Task, Vec<Rating>)> {
        if ratings.len() < need {
            return None;
        }
        let idx = rng.sample_indices(ratings.len(), need);
        let support = idx[..protocol.support].iter().map(|i| ratings[*i]).collect();
        let query = idx[protocol.support..].iter().map(|i| ratings[*i]).collect();
        let rest: Vec<Rating> = (0..ratings.len()).filter(|i| !idx.contains(i)).map(|i| ratings[i]).collect();
        let task = Task { user, support, query, pool: rest.clone(), negatives: Vec::new() };
        Some((task, rest))
    };
    // With `support_rest`: `query` at random, every other rating (in data order) as support.
    let take_rest_task = |user: u32, ratings: &[Rating], rng: &mut Rng| -> Option<(Task, Vec<Rating>)> {
        if !protocol.support_rest {
            return take_task(user, ratings, rng);
        }
        if ratings.len() < need {
            return None;
        }
        let q = rng.sample_indices(ratings.len(), protocol.query);
        let query = q.iter().map(|i| ratings[*i]).collect();
        let support = (0..ratings.len()).filter(|i| !q.contains(i)).map(|i| ratings[i]).collect();
        Some((Task { user, support, query, pool: Vec::new(), negatives: Vec::new() }, Vec::new()))
    };

    let validation: Vec<Task> = val_sorted
        .iter()
        .filter_map(|u| take_rest_task(*u, &old_items[*u as usize], &mut task_rng).map(|(t, _)| t))
        .collect();

    // Warm: hold out a task from a fraction of the training users.
    let mut warm_tasks = Vec::new();
    let mut meta_train = Vec::new();
    let mut warm_rng = rng.fork("warm");
    for u in &train_sorted {
        let mut ratings = old_items[*u as usize].clone();
        let wants_warm = scenarios.contains(&Scenario::Warm) && warm_rng.uniform() < protocol.warm_fraction;
        // Keep at least `need` ratings for meta-training too.
        if wants_warm && ratings.len() >= 2 * need {
            let (mut task, rest) = take_task(*u, &ratings, &mut warm_rng).expect("length checked");
            // The rest is the user's meta-train history: no pool beyond the support set.
            task.pool.clear();
            warm_tasks.push(task);
            ratings = rest;
        }
        if !ratings.is_empty() {
            meta_train.push(History { user: *u, ratings });
        }
    }

    let new_users: Vec<u32> = (0..n_users as u32).filter(|u| user_is_new[*u as usize]).collect();
    let mut test = Vec::new();
    for sc in scenarios {
        let tasks = match sc {
            Scenario::Warm => std::mem::take(&mut warm_tasks),
            Scenario::UserCold => new_users
                .iter()
                .filter_map(|u| take_rest_task(*u, &old_items[*u as usize], &mut task_rng).map(|x| x.0))
                .collect(),
            Scenario::ItemCold => train_sorted
                .iter()
                .filter_map(|u| take_rest_task(*u, &new_items[*u as usize], &mut task_rng).map(|x| x.0))
                .collect(),
            Scenario::UserItemCold => new_users
                .iter()
                .filter_map(|u| take_rest_task(*u, &new_items[*u as usize], &mut task_rng).map(|x| x.0))
                .collect(),
        };
        test.push((sc, tasks));
    }
    if let Some(c) = &protocol.candidates {
        sample_negatives(data, &item_is_new, c.sampled, &mut test, &mut rng.fork("candidates"));
    }

    let sha256 = split_hash(&meta_train, &validation, &test);
    Ok(Split { meta_train, validation, test, item_is_new, user_is_new, sha256 })
}

/// Draws each test task's candidate negatives: `sampled` items (all there are, when fewer)
/// of the scenario's item state (existing items for warm and user-cold, new items for the
/// item-cold scenarios) that the user rated nowhere in the dataset. Tasks are visited in split
/// order with one generator, so the draw depends only on the split and the seed.
pub(crate) fn sample_negatives(
    data: &Dataset,
    item_is_new: &[bool],
    sampled: usize,
    test: &mut [(Scenario, Vec<Task>)],
    rng: &mut Rng,
) {
    let rated = crate::data::rated_items(data.features.n_users(), &data.ratings);
    for (sc, tasks) in test {
        let new_items = matches!(sc, Scenario::ItemCold | Scenario::UserItemCold);
        let state: Vec<u32> = (0..item_is_new.len() as u32).filter(|i| item_is_new[*i as usize] == new_items).collect();
        for t in tasks {
            let seen = &rated[t.user as usize];
            let eligible: Vec<u32> = state.iter().copied().filter(|i| seen.binary_search(i).is_err()).collect();
            let mut pick: Vec<u32> =
                rng.sample_indices(eligible.len(), sampled).into_iter().map(|k| eligible[k]).collect();
            pick.sort_unstable();
            t.negatives = pick;
        }
    }
}

pub(crate) fn split_hash(meta_train: &[History], validation: &[Task], test: &[(Scenario, Vec<Task>)]) -> String {
    let mut h = Sha256::new();
    let mut line = |s: String| h.update(s.as_bytes());
    for m in meta_train {
        for r in &m.ratings {
            line(format!("train,{},{},{}\n", r.user, r.item, r.value));
        }
    }
    let tasks = |name: &str, ts: &[Task], line: &mut dyn FnMut(String)| {
        for t in ts {
            for r in &t.support {
                line(format!("{name},support,{},{},{}\n", r.user, r.item, r.value));
            }
            for r in &t.query {
                line(format!("{name},query,{},{},{}\n", r.user, r.item, r.value));
            }
            for i in &t.negatives {
                line(format!("{name},candidate,{},{i}\n", t.user));
            }
        }
    };
    tasks("validation", validation, &mut line);
    for (sc, ts) in test {
        tasks(sc.name(), ts, &mut line);
    }
    hex(&h.finalize())
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
