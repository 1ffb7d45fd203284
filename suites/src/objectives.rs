//! Several objectives per interaction (multi-task learning): the suite file's `[objectives]`
//! table, the synthetic world's generator of objective labels, and the label table methods and
//! the scorer read.
//!
//! Synthetic objectives follow the generator of MMoE (Ma et al., KDD 2018, section 3.2): for each
//! user, orthogonal unit vectors `u1, u2` and two objective vectors `w1 = c u1`,
//! `w2 = c (p u1 + sqrt(1 - p^2) u2)` whose cosine is the relatedness `p`; for an item with
//! latent vector `x` (the world's `q_i`), `y_t = w_t.x + sum_j sin(alpha_j w_t.x + beta_j) + e`.
//! Here `u1` is the direction of the user's own rating preference `p_u` (so the first objective is
//! related to the rating) and `u2` is the user's cluster's random direction made orthogonal to
//! `u1`. Objectives:
//! - `rating`: the world's rating (the main objective, every interaction labelled);
//! - `engagement`: `y_1`, continuous, every interaction labelled;
//! - `like`: `1[y_2 > 0]`, binary; the low-data objective by default: only a pinned fraction of
//!   interactions carries its label for training (the test queries are scored on every label).
//!
//! The user-group tree for hierarchical sharing is built from what every method observes of a
//! user, never from the hidden cluster: all users -> the world's `group` feature (majority,
//! minority) -> its `age` bucket. Its leaves, `majority/age0`, ..., `minority/age{n_ages-1}`
//! ([`synthetic_leaves`]), are the groups of the tree's middle level (one per leaf), or the
//! coarser groups `[objectives.tree]` declares by merging leaves.
//! Every constant is in the suite file; the labels are appended to the world's canonical bytes,
//! so the suite's `data.sha256` pins them too. A suite without `[objectives]` is unchanged.

use crate::data::Truth;
use crate::rng::Rng;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What an objective's label is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectiveKind {
    /// The rating on the suite's scale (MAE, RMSE, ranking metrics).
    Rating,
    /// A continuous value (MAE, RMSE).
    Continuous,
    /// 0 or 1 (AUC, log-loss); methods predict a probability.
    Binary,
}

/// `[objectives]` of a suite file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectivesConfig {
    /// The objectives used, in order; the first is the main one (single-objective methods are
    /// scored on it). Each must be one the data provides.
    pub names: Vec<String>,
    /// The objective with few training labels, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_data: Option<String>,
    /// Share of interactions whose `low_data` label is seen in training (meta-train, validation
    /// supports and test supports alike); test queries are scored on every label.
    #[serde(default = "one")]
    pub low_data_fraction: f64,
    /// Relatedness `p` (cosine of `w1` and `w2`).
    #[serde(default)]
    pub relatedness: f64,
    /// Scale `c` of the objective vectors.
    #[serde(default = "one")]
    pub scale: f64,
    /// `alpha_j` of the sine terms (their number is the length).
    #[serde(default)]
    pub sine_alpha: Vec<f64>,
    /// `beta_j` of the sine terms.
    #[serde(default)]
    pub sine_beta: Vec<f64>,
    /// Standard deviation of the label noise `e`.
    #[serde(default)]
    pub noise_sd: f64,
    /// MovieLens suites: sampled unrated items per rating of each meta-train and validation
    /// user, the `rated` objective's negatives in training (test users' negatives are the
    /// candidate protocol's sampled items). Serialised only when not 1, so synthetic worlds'
    /// hashes do not change.
    #[serde(default = "one_usize", skip_serializing_if = "is_one")]
    pub unrated_ratio: usize,
    /// Coarser user groups: `group name -> [leaf names]` (each leaf of the task tree in exactly
    /// one).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tree: BTreeMap<String, Vec<String>>,
}

fn one() -> f64 {
    1.0
}

fn one_usize() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// An `[objectives]` value that cannot be used; names the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("objectives.{key}: {message}")]
pub struct ObjectivesError {
    pub key: String,
    pub message: String,
}

fn err<T>(key: impl Into<String>, message: impl Into<String>) -> Result<T, ObjectivesError> {
    Err(ObjectivesError { key: key.into(), message: message.into() })
}

/// The objectives the synthetic world provides.
pub const SYNTHETIC_OBJECTIVES: [(&str, ObjectiveKind); 3] =
    [("rating", ObjectiveKind::Rating), ("engagement", ObjectiveKind::Continuous), ("like", ObjectiveKind::Binary)];

/// The objectives a MovieLens suite provides: the rating, `liked` (rating >= 4) and `rated`
/// (1 for a rated item, 0 for a sampled unrated one).
pub const MOVIELENS_OBJECTIVES: [(&str, ObjectiveKind); 3] =
    [("rating", ObjectiveKind::Rating), ("liked", ObjectiveKind::Binary), ("rated", ObjectiveKind::Binary)];

/// A rating at or above this is `liked` (MovieLens's 1-5 stars; the usual convention).
pub const LIKED_AT: f32 = 4.0;

impl ObjectivesConfig {
    /// Checks the constants and that every named objective is one of `available`.
    pub fn check(&self, available: &[(&str, ObjectiveKind)]) -> Result<(), ObjectivesError> {
        let known = available.iter().map(|a| a.0).collect::<Vec<_>>().join(", ");
        if self.names.is_empty() {
            return err("names", "must name at least one objective");
        }
        for (i, n) in self.names.iter().enumerate() {
            if !available.iter().any(|a| a.0 == n) {
                return err(format!("names[{i}]"), format!("objective `{n}` is not in the data (known: {known})"));
            }
            if self.names[..i].contains(n) {
                return err(format!("names[{i}]"), format!("objective `{n}` is named twice"));
            }
        }
        if available.iter().find(|a| a.0 == self.names[0]).map(|a| a.1) != Some(ObjectiveKind::Rating) {
            return err(
                "names[0]",
                format!(
                    "the main objective `{}` must be the rating (single-objective methods are scored on it)",
                    self.names[0]
                ),
            );
        }
        if let Some(l) = &self.low_data
            && !self.names.contains(l)
        {
            return err("low_data", format!("objective `{l}` is not in objectives.names ({})", self.names.join(", ")));
        }
        if !(self.low_data_fraction > 0.0 && self.low_data_fraction <= 1.0) {
            return err("low_data_fraction", format!("{} is not in (0, 1]", self.low_data_fraction));
        }
        if !(-1.0..=1.0).contains(&self.relatedness) {
            return err("relatedness", format!("{} is not in [-1, 1]", self.relatedness));
        }
        for (key, v) in [("scale", self.scale), ("noise_sd", self.noise_sd)] {
            if !(v.is_finite() && v >= 0.0) {
                return err(key, format!("{v} must be finite and non-negative"));
            }
        }
        if self.sine_alpha.len() != self.sine_beta.len() {
            return err(
                "sine_beta",
                format!("has {} terms but sine_alpha has {}", self.sine_beta.len(), self.sine_alpha.len()),
            );
        }
        if let Some(x) = self.sine_alpha.iter().chain(&self.sine_beta).find(|x| !x.is_finite()) {
            return err("sine_alpha", format!("{x} is not finite"));
        }
        Ok(())
    }

    /// Group index per leaf from `tree` (identity without one); `clusters` are the data's leaf
    /// names. Errors name the tree key that refers to an unknown or repeated leaf.
    pub fn groups(&self, clusters: &[String]) -> Result<(Vec<String>, Vec<u32>), ObjectivesError> {
        if self.tree.is_empty() {
            return Ok((clusters.to_vec(), (0..clusters.len() as u32).collect()));
        }
        let mut of = vec![None; clusters.len()];
        let names: Vec<String> = self.tree.keys().cloned().collect();
        for (g, (name, members)) in self.tree.iter().enumerate() {
            for m in members {
                let Some(c) = clusters.iter().position(|x| x == m) else {
                    return err(
                        format!("tree.{name}"),
                        format!("unknown group `{m}` (known: {})", clusters.join(", ")),
                    );
                };
                if of[c].is_some() {
                    return err(format!("tree.{name}"), format!("group `{m}` is in two branches"));
                }
                of[c] = Some(g as u32);
            }
        }
        if let Some(c) = of.iter().position(Option::is_none) {
            return err("tree", format!("group `{}` is in no branch", clusters[c]));
        }
        Ok((names, of.into_iter().map(|g| g.expect("checked")).collect()))
    }
}

/// Per-interaction labels of several objectives, and the user-group tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Objectives {
    pub names: Vec<String>,
    pub kinds: Vec<ObjectiveKind>,
    /// `(user, item) -> label per objective` (NaN: no label).
    labels: BTreeMap<(u32, u32), Vec<f32>>,
    /// Group names of the tree's middle level.
    pub group_names: Vec<String>,
    /// Group index per user.
    pub user_group: Vec<u32>,
    /// Sampled unrated `(user, item)` pairs that carry labels (the `rated` objective's
    /// negatives; empty for synthetic worlds), sorted.
    pub unrated: Vec<(u32, u32)>,
}

impl Objectives {
    pub fn new(
        names: Vec<String>,
        kinds: Vec<ObjectiveKind>,
        labels: BTreeMap<(u32, u32), Vec<f32>>,
        group_names: Vec<String>,
        user_group: Vec<u32>,
    ) -> Objectives {
        Objectives { names, kinds, labels, group_names, user_group, unrated: Vec::new() }
    }

    /// The labels of one interaction (NaN where absent), or `None` for an unknown pair.
    pub fn labels(&self, user: u32, item: u32) -> Option<&[f32]> {
        self.labels.get(&(user, item)).map(Vec::as_slice)
    }

    /// One label, `None` when absent.
    pub fn label(&self, user: u32, item: u32, objective: usize) -> Option<f32> {
        self.labels(user, item).and_then(|l| l.get(objective).copied()).filter(|x| !x.is_nan())
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The labels of the given pairs only (what a method may see of a split).
    pub fn restrict(&self, pairs: impl IntoIterator<Item = (u32, u32)>) -> Objectives {
        let labels: BTreeMap<(u32, u32), Vec<f32>> =
            pairs.into_iter().filter_map(|p| self.labels.get(&p).map(|l| (p, l.clone()))).collect();
        let unrated = self.unrated.iter().filter(|p| labels.contains_key(p)).copied().collect();
        Objectives { labels, unrated, ..self.clone_meta() }
    }

    fn clone_meta(&self) -> Objectives {
        Objectives {
            names: self.names.clone(),
            kinds: self.kinds.clone(),
            labels: BTreeMap::new(),
            group_names: self.group_names.clone(),
            user_group: self.user_group.clone(),
            unrated: Vec::new(),
        }
    }

    /// A copy with one label replaced (tests use it to show what labels reach).
    pub fn with_label(&self, user: u32, item: u32, objective: usize, value: f32) -> Objectives {
        self.with_labels(&[(user, item, objective, value)])
    }

    /// A copy with several labels replaced, `(user, item, objective, value)` each.
    pub fn with_labels(&self, changes: &[(u32, u32, usize, f32)]) -> Objectives {
        let mut o = self.clone();
        for (user, item, objective, value) in changes {
            if let Some(l) = o.labels.get_mut(&(*user, *item)) {
                l[*objective] = *value;
            }
        }
        o
    }
}

/// The objectives of a suite: every label (what test queries are scored on) and the training
/// view, where the low-data objective keeps only its observed labels.
#[derive(Clone, Debug)]
pub struct SuiteObjectives {
    pub full: std::sync::Arc<Objectives>,
    pub train: std::sync::Arc<Objectives>,
}

impl SuiteObjectives {
    /// The labels meta-training may see: those of the meta-train histories and the validation
    /// tasks, in the training view. Test users' labels are not in it.
    /// Sampled unrated pairs of meta-train and validation users come along (the `rated`
    /// objective's negatives); test users' do not.
    pub fn for_training(&self, split: &crate::split::Split) -> Objectives {
        let users: std::collections::BTreeSet<u32> =
            split.meta_train.iter().map(|h| h.user).chain(split.validation.iter().map(|t| t.user)).collect();
        let pairs = split
            .meta_train
            .iter()
            .flat_map(|h| &h.ratings)
            .chain(split.validation.iter().flat_map(|t| t.support.iter().chain(&t.query)))
            .map(|r| (r.user, r.item))
            .chain(self.train.unrated.iter().filter(|p| users.contains(&p.0)).copied());
        self.train.restrict(pairs)
    }

    /// The training-view labels of a task's support ratings (NaN where unseen).
    pub fn for_support(&self, task: &crate::split::Task) -> Vec<Vec<f32>> {
        let n = self.train.len();
        task.support
            .iter()
            .map(|r| self.train.labels(r.user, r.item).map(<[f32]>::to_vec).unwrap_or_else(|| vec![f32::NAN; n]))
            .collect()
    }
}

/// The leaves of the synthetic world's task tree, in group-major order: `majority/age0`, ...,
/// `minority/age{n_ages-1}`; a user with group `g` and age bucket `a` is in leaf
/// `g * n_ages + a`.
pub fn synthetic_leaves(n_ages: usize) -> Vec<String> {
    ["majority", "minority"].iter().flat_map(|g| (0..n_ages).map(move |a| format!("{g}/age{a}"))).collect()
}

/// Generates the synthetic objectives for `ratings` (as `(user, item, rating)`), returning them
/// with their canonical text (appended to the world's before hashing). `user_cluster` (the
/// hidden cluster) draws the second objective direction; `user_leaf` indexes `leaves` (the
/// observable task tree, [`synthetic_leaves`]).
#[allow(clippy::too_many_arguments)]
pub fn generate_synthetic(
    cfg: &ObjectivesConfig,
    truth: &Truth,
    user_cluster: &[u32],
    n_clusters: usize,
    leaves: &[String],
    user_leaf: &[u32],
    ratings: &[crate::data::Rating],
    seed: u64,
) -> Result<(SuiteObjectives, String), ObjectivesError> {
    cfg.check(&SYNTHETIC_OBJECTIVES)?;
    let d = truth.latent_dim;
    let mut rng = Rng::from_labels(seed, &["synthetic-objectives"]);
    let mut rng_dirs = rng.fork("directions");
    let mut rng_labels = rng.fork("labels");
    let mut rng_mask = rng.fork("low-data");
    let unit = |v: Vec<f64>| -> Vec<f64> {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.into_iter().map(|x| q6(x / n)).collect()
    };
    let cluster_dir: Vec<Vec<f64>> = (0..n_clusters).map(|_| (0..d).map(|_| rng_dirs.normal()).collect()).collect();
    let n_users = user_cluster.len();
    let p = cfg.relatedness;
    let (mut w1, mut w2) = (Vec::with_capacity(n_users), Vec::with_capacity(n_users));
    for u in 0..n_users {
        let u1 = unit(truth.user_latent[u * d..(u + 1) * d].to_vec());
        let v = &cluster_dir[user_cluster[u] as usize];
        let dot: f64 = v.iter().zip(&u1).map(|(a, b)| a * b).sum();
        let u2 = unit(v.iter().zip(&u1).map(|(a, b)| a - dot * b).collect());
        w1.push(u1.iter().map(|x| q6(cfg.scale * x)).collect::<Vec<_>>());
        let s = (1.0 - p * p).max(0.0).sqrt();
        w2.push(u1.iter().zip(&u2).map(|(a, b)| q6(cfg.scale * (p * a + s * b))).collect::<Vec<_>>());
    }
    let f = |w: &[f64], item: u32| -> f64 {
        let x = &truth.item_latent[item as usize * d..(item as usize + 1) * d];
        let s: f64 = w.iter().zip(x).map(|(a, b)| a * b).sum();
        s + cfg.sine_alpha.iter().zip(&cfg.sine_beta).map(|(a, b)| (a * s + b).sin()).sum::<f64>()
    };
    let pos = |n: &str| cfg.names.iter().position(|x| x == n);
    let low = cfg.low_data.as_deref().and_then(pos);
    let mut full = BTreeMap::new();
    let mut train = BTreeMap::new();
    let mut canon = String::from("metarec synthetic objectives v1\n");
    let _ = writeln!(canon, "{}", toml::to_string(cfg).expect("objectives config serialises"));
    for r in ratings {
        let y1 = q6(f(&w1[r.user as usize], r.item) + cfg.noise_sd * rng_labels.normal());
        let y2 = f(&w2[r.user as usize], r.item) + cfg.noise_sd * rng_labels.normal();
        let like = if y2 > 0.0 { 1.0 } else { 0.0 };
        let seen = rng_mask.uniform() < cfg.low_data_fraction;
        let all: Vec<f32> = cfg
            .names
            .iter()
            .map(|n| match n.as_str() {
                "rating" => r.value,
                "engagement" => y1 as f32,
                _ => like,
            })
            .collect();
        let mut tr = all.clone();
        if let Some(l) = low
            && !seen
        {
            tr[l] = f32::NAN;
        }
        let _ = writeln!(canon, "obj,{},{},{y1:.6},{like},{}", r.user, r.item, u8::from(seen));
        full.insert((r.user, r.item), all);
        train.insert((r.user, r.item), tr);
    }
    let (group_names, of_leaf) = cfg.groups(leaves)?;
    let user_group: Vec<u32> = user_leaf.iter().map(|c| of_leaf[*c as usize]).collect();
    let kinds: Vec<ObjectiveKind> =
        cfg.names.iter().map(|n| SYNTHETIC_OBJECTIVES.iter().find(|a| a.0 == n).expect("checked").1).collect();
    let make = |labels| {
        std::sync::Arc::new(Objectives::new(
            cfg.names.clone(),
            kinds.clone(),
            labels,
            group_names.clone(),
            user_group.clone(),
        ))
    };
    Ok((SuiteObjectives { full: make(full), train: make(train) }, canon))
}

/// The objectives of a MovieLens suite ([`MOVIELENS_OBJECTIVES`]) from its ratings and split:
/// `rating`, `liked` (`rating >= 4`, [`LIKED_AT`]) and `rated`. `rated` is 1 on every rating; its
/// negatives are sampled unrated items: for each meta-train and validation user,
/// `unrated_ratio` items per rating of theirs, drawn without replacement (seeded by `seed`)
/// from the items of meta-training that the user never rated; for a test user, the candidate
/// protocol's sampled items (`task.negatives`), scored beside the query. The task tree is
/// all users -> gender -> age band: its leaves are the `gender/age` pairs the data has
/// (`F/18-24`, ...), from the user attributes every method sees. No low-data objective.
pub fn generate_movielens(
    cfg: &ObjectivesConfig,
    dataset: &crate::data::Dataset,
    split: &crate::split::Split,
    seed: u64,
) -> Result<SuiteObjectives, ObjectivesError> {
    cfg.check(&MOVIELENS_OBJECTIVES)?;
    if cfg.low_data.is_some() {
        return err("low_data", "MovieLens objectives have no low-data objective");
    }
    if cfg.unrated_ratio == 0 {
        return err("unrated_ratio", "must be at least 1");
    }
    let attr = |name: &str| {
        dataset.user_groups.iter().find(|g| g.0 == name).map(|g| &g.1).ok_or_else(|| ObjectivesError {
            key: "tree".into(),
            message: format!("the data has no `{name}` user attribute for the task tree"),
        })
    };
    let (gender, age) = (attr("gender")?, attr("age")?);
    let leaf_of: Vec<String> = gender.iter().zip(age).map(|(g, a)| format!("{g}/{a}")).collect();
    let leaves: Vec<String> = leaf_of.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let (group_names, of_leaf) = cfg.groups(&leaves)?;
    let user_group: Vec<u32> =
        leaf_of.iter().map(|l| of_leaf[leaves.binary_search(l).expect("a leaf of the data")]).collect();
    let row = |name: &str, value: Option<f32>| -> f32 {
        match (name, value) {
            ("rating", Some(v)) => v,
            ("liked", Some(v)) => f32::from(u8::from(v >= LIKED_AT)),
            ("rated", Some(_)) => 1.0,
            ("rated", None) => 0.0,
            _ => f32::NAN,
        }
    };
    let label = |value: Option<f32>| -> Vec<f32> { cfg.names.iter().map(|n| row(n, value)).collect() };
    let mut labels: BTreeMap<(u32, u32), Vec<f32>> =
        dataset.ratings.iter().map(|r| ((r.user, r.item), label(Some(r.value)))).collect();
    let n_users = dataset.features.user_ids.len();
    let rated = crate::data::rated_items(n_users, &dataset.ratings);
    let pool: Vec<u32> = split
        .meta_train
        .iter()
        .flat_map(|h| h.ratings.iter().map(|r| r.item))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut rng = Rng::from_labels(seed, &["movielens-objectives", "unrated"]);
    let mut unrated = Vec::new();
    let train_users = split
        .meta_train
        .iter()
        .map(|h| (h.user, h.ratings.len()))
        .chain(split.validation.iter().map(|t| (t.user, t.support.len() + t.query.len())));
    for (user, n) in train_users {
        let free: Vec<u32> = pool.iter().copied().filter(|i| rated[user as usize].binary_search(i).is_err()).collect();
        let k = (n * cfg.unrated_ratio).min(free.len());
        let mut pick: Vec<u32> = rng.sample_indices(free.len(), k).into_iter().map(|j| free[j]).collect();
        pick.sort_unstable();
        unrated.extend(pick.into_iter().map(|i| (user, i)));
    }
    for task in split.test.iter().flat_map(|s| &s.1) {
        unrated.extend(task.negatives.iter().map(|i| (task.user, *i)));
    }
    unrated.sort_unstable();
    unrated.dedup();
    for p in &unrated {
        labels.insert(*p, label(None));
    }
    let kinds = cfg.names.iter().map(|n| MOVIELENS_OBJECTIVES.iter().find(|a| a.0 == n).expect("checked").1).collect();
    let mut o = Objectives::new(cfg.names.clone(), kinds, labels, group_names, user_group);
    o.unrated = unrated;
    let o = std::sync::Arc::new(o);
    Ok(SuiteObjectives { full: o.clone(), train: o })
}

fn q6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ObjectivesConfig {
        ObjectivesConfig {
            names: vec!["rating".into(), "engagement".into(), "like".into()],
            low_data: Some("like".into()),
            low_data_fraction: 0.2,
            relatedness: 0.9,
            scale: 3.0,
            sine_alpha: vec![1.0],
            sine_beta: vec![0.5],
            noise_sd: 0.1,
            unrated_ratio: 1,
            tree: BTreeMap::new(),
        }
    }

    #[test]
    fn bad_keys_are_named() {
        let mut c = cfg();
        c.names.push("clicks".into());
        let e = c.check(&SYNTHETIC_OBJECTIVES).unwrap_err().to_string();
        assert!(e.starts_with("objectives.names[3]: objective `clicks` is not in the data"), "{e}");
        let mut c = cfg();
        c.low_data = Some("dwell".into());
        assert!(c.check(&SYNTHETIC_OBJECTIVES).unwrap_err().to_string().starts_with("objectives.low_data:"));
        let mut c = cfg();
        c.relatedness = 1.5;
        assert_eq!(c.check(&SYNTHETIC_OBJECTIVES).unwrap_err().key, "relatedness");
        let mut c = cfg();
        c.tree.insert("a".into(), vec!["c0".into(), "c9".into()]);
        let e = c.groups(&["c0".into(), "c1".into()]).unwrap_err().to_string();
        assert!(e.starts_with("objectives.tree.a: unknown group `c9`"), "{e}");
        let mut c = cfg();
        c.tree.insert("a".into(), vec!["c0".into()]);
        assert_eq!(c.groups(&["c0".into(), "c1".into()]).unwrap_err().key, "tree");
        c.tree.insert("b".into(), vec!["c1".into()]);
        assert_eq!(c.groups(&["c0".into(), "c1".into()]).unwrap(), (vec!["a".into(), "b".into()], vec![0, 1]));
    }

    /// The cosine of `w1` and `w2` is the relatedness, for every user; labels are as the formula
    /// says for a hand-built world of one user and one item.
    #[test]
    fn objective_vectors_have_the_pinned_cosine() {
        let truth = Truth {
            mu: 3.0,
            noise_sd: 0.5,
            rating_min: 1,
            rating_max: 5,
            latent_dim: 2,
            user_bias: vec![0.0],
            item_bias: vec![0.0],
            user_latent: vec![3.0, 4.0],
            item_latent: vec![0.5, -0.25],
        };
        let mut c = cfg();
        c.noise_sd = 0.0;
        c.low_data_fraction = 1.0;
        let r = [crate::data::Rating { user: 0, item: 0, value: 4.0 }];
        let (o, canon) = generate_synthetic(&c, &truth, &[0], 1, &["all".into()], &[0], &r, 1).unwrap();
        // u1 = (0.6, 0.8); u2 is the unit vector orthogonal to it, (0.8, -0.6) or its negative.
        // w1.x = 3 * (0.3 - 0.2) = 0.3; engagement = 0.3 + sin(0.3 + 0.5).
        let want = 0.3 + (0.8f64).sin();
        assert!((f64::from(o.full.label(0, 0, 1).unwrap()) - want).abs() < 1e-5);
        assert_eq!(o.full.label(0, 0, 0), Some(4.0));
        // w2.x = 3 * (0.9 * 0.1 + sqrt(0.19) * (+-0.55)) = 0.27 +- 0.7192: the sign of the like.
        let s = 0.19f64.sqrt() * 0.55 * 3.0;
        let y_pos = 0.27 + s + (0.27 + s + 0.5).sin();
        let y_neg = 0.27 - s + (0.27 - s + 0.5).sin();
        let like = o.full.label(0, 0, 2).unwrap();
        assert!(like == f32::from(u8::from(y_pos > 0.0)) || like == f32::from(u8::from(y_neg > 0.0)));
        assert!(canon.contains("obj,0,0,"));
        assert_eq!(o.full, o.train);
    }

    /// The leaves are group-major, and `[objectives.tree]` merges them by name.
    #[test]
    fn tree_leaves_are_observable_group_by_age() {
        let leaves = synthetic_leaves(2);
        assert_eq!(leaves, ["majority/age0", "majority/age1", "minority/age0", "minority/age1"]);
        let mut c = cfg();
        c.tree.insert("old".into(), vec!["majority/age1".into(), "minority/age1".into()]);
        c.tree.insert("young".into(), vec!["majority/age0".into(), "minority/age0".into()]);
        assert_eq!(c.groups(&leaves).unwrap(), (vec!["old".into(), "young".into()], vec![1, 0, 1, 0]));
    }

    /// The low-data objective keeps about its fraction of training labels; the others all.
    #[test]
    fn low_data_masks_only_training_labels() {
        let n = 400;
        let truth = Truth {
            mu: 3.0,
            noise_sd: 0.5,
            rating_min: 1,
            rating_max: 5,
            latent_dim: 2,
            user_bias: vec![0.0],
            item_bias: vec![0.0; n],
            user_latent: vec![1.0, 0.5],
            item_latent: (0..2 * n).map(|i| ((i * 7919 % 13) as f64 - 6.0) / 6.0).collect(),
        };
        let r: Vec<_> = (0..n as u32).map(|i| crate::data::Rating { user: 0, item: i, value: 3.0 }).collect();
        let (o, _) = generate_synthetic(&cfg(), &truth, &[0], 1, &["all".into()], &[0], &r, 3).unwrap();
        let seen = (0..n as u32).filter(|i| o.train.label(0, *i, 2).is_some()).count();
        assert!((50..110).contains(&seen), "{seen} of {n} like labels seen at fraction 0.2");
        assert!((0..n as u32).all(|i| o.full.label(0, i, 2).is_some() && o.train.label(0, i, 1).is_some()));
    }
}
