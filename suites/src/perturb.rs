//! Robustness perturbations: named, seeded, composable transformations of a split (and of the
//! feature table) that a suite file declares and the manifest records.
//!
//! ```toml
//! [[perturbations]]
//! kind = "label-noise"     # ratings replaced at random ("random") or moved one level ("shift")
//! rate = 0.2
//! mode = "random"
//! target = "support"       # default; or "meta-train"
//! [[perturbations]]
//! kind = "shots"           # the shot curve: keep k of each test support set
//! k = 3
//! [[perturbations]]
//! kind = "feature-noise"   # missing ("missing") or random ("random") features
//! rate = 0.5
//! mode = "missing"
//! side = "both"            # "user", "item" or "both"
//! [[perturbations]]
//! kind = "shilling"        # average attack: fake profiles in meta-train push target items
//! profiles = 50
//! targets = [3, 17, 42]
//! filler = 20
//! rating_max_for_targets = true   # default (push); false rates targets at the minimum (nuke)
//! [[perturbations]]
//! kind = "shift"           # meta-train on one user group, test on another
//! by = { attribute = "group", train = "majority", test = "minority" }
//! ```
//!
//! [`apply`] runs a list in order; step `i` draws from its own generator
//! `Rng::from_labels(seed, &["perturb", i, name])` (shots: `["perturb", i, "shots"]`, see
//! below), so a step's randomness does not depend on the steps before it. Pass the suite's data
//! seed, as the split does: then every method and run seed sees the same perturbed tasks and
//! per-user results pair across them.
//!
//! What each perturbation touches (nothing else changes; query sets never do):
//!
//! | kind | changes |
//! |------|---------|
//! | `label-noise`, target `support` | values of test tasks' support ratings (every scenario) |
//! | `label-noise`, target `meta-train` | values of meta-train ratings |
//! | `shots` | test tasks' support sets, cut to `k` ratings (or grown to `k` from the task's pool); tasks that cannot reach `k` |
//! | `feature-noise` | feature rows of test-task users (`user`) and of items in test tasks' support or query sets (`item`) |
//! | `shilling` | appends fake users: meta-train histories, feature rows, `user_is_new` entries |
//! | `shift` | drops meta-train histories and validation tasks of users outside the train group, test tasks of users outside the test group |
//!
//! Design choices:
//! - **Validation stays clean.** Validation tasks drive early stopping: perturbing them would
//!   mix the method's robustness with a corrupted selection signal, and a benchmark should ask
//!   "how does a model chosen on clean held-out data fare on noisy users". The one exception is
//!   `shift`: validation is the training side's held-out data, so it keeps only train-group
//!   users (test-group users there would leak the target distribution into early stopping).
//! - **Labels** live on the scale `rating_min, rating_min + 1, ..., rating_max`. `random`
//!   replaces a chosen rating by a level drawn uniformly among the *other* levels (so a chosen
//!   label always changes); `shift` moves it one level, up or down with equal probability, and
//!   inward at an end of the scale (so it always changes by exactly one level and stays in the
//!   scale). Each rating is chosen independently with probability `rate`.
//! - **Shots** keep the first `k` of each support set after a seeded shuffle, in their original
//!   order. The shuffle's generator is labelled `"shots"` rather than by the name `shots(k)`, so
//!   for one seed and position the sets are nested (`shots(1)` within `shots(3)` within
//!   `shots(5)`) and a shot curve measures the amount of data, not a fresh draw per point. Above
//!   the support size, a task keeps its whole support set and appends `k - support` ratings of
//!   its pool ([`crate::split::Task::pool`]: the user's ratings that neither meta-training nor
//!   the task uses), in pool order after a seeded shuffle of its own (`"shots-pool"`), so the
//!   clean set lies within `shots(20)` and `shots(20)` within `shots(30)`. A task that cannot
//!   reach `k` ratings leaves the variant (`tasks_dropped`): every user of `shots(k)` adapts on
//!   exactly `k` ratings, and reports compare with the clean run on the users both have. A `k`
//!   that no test task reaches is an error.
//! - **Features** form one table shared by meta-training and evaluation ([`Perturbed::features`]
//!   replaces it for the whole cell). Each chosen row's cells (categorical fields, and numeric
//!   columns for items) are chosen independently with probability `rate`. `missing` sets a
//!   categorical index to 0 (the "unknown" index of real data; in the synthetic world, whose
//!   fields reserve no unknown index, 0 is its first category) and a numeric value to 0 (the
//!   standardised mean); `random` draws a categorical index uniformly among the field's other
//!   indices and a numeric value from N(0, 1). Warm and item-cold test users are meta-train users
//!   too, and most test items are existing items, so their noisy rows are what meta-training
//!   reads as well: the model of a corrupted feature store. A runner that wants strictly
//!   test-time noise gives meta-training `Dataset::features` and adaptation these features
//!   (rows are index-aligned; only fake users are appended).
//! - **Shilling** is the average attack (Lam & Riedl, "Shilling recommender systems for fun and
//!   profit", WWW 2004; Mobasher, Burke, Bhaumik & Williams, "Toward trustworthy recommender
//!   systems: an analysis of attack models and algorithm robustness", ACM TOIT 7(4), 2007). Each
//!   fake profile rates every target at the scale's maximum (`rating_max_for_targets = false`:
//!   the minimum, a nuke attack) and `filler` other existing items, drawn uniformly, at
//!   `round(mean_i + sd_i * N(0, 1))` clamped to the scale, where `mean_i`, `sd_i` are the item's
//!   meta-train mean and standard deviation (the global ones when the item has fewer than two
//!   meta-train ratings). A fake user copies the feature row (and the group labels) of a real
//!   meta-train user drawn uniformly, gets the index after the last user and an id above every
//!   existing id, and is marked existing (`user_is_new = false`). Targets must be existing items:
//!   rating new items in meta-train would break the cold-start split. [`prediction_shift`] and
//!   [`hit_ratio`] score the attack.
//! - **Shift** filters by a user attribute of [`Dataset::user_groups`] (a period shift is an
//!   attribute such as `period` with values `early` / `late`). Warm tasks of test-group users
//!   keep their held-out ratings while their histories leave meta-train.
//! - **Labels for results.csv** ([`Perturbation::name`], [`label`]) contain no comma: parameters
//!   are separated by `;`, e.g. `label-noise(random;0.2;support)`, `shots(3)`,
//!   `feature-noise(missing;0.5;both)`, `shilling(50;targets=3@1f2e3d4c;filler=20;push)` (the
//!   target count and the low 32 bits of the FNV-1a hash of the targets joined by `/`),
//!   `shift(group:majority->minority)`. Commas, quotes and control characters in attribute
//!   values become `_`. A list is labelled by its names joined by `+`, and `none` when empty.
//! - **`Split::sha256`** of the result is recomputed over the perturbed listing in the exact
//!   format of `split::make_split`, so an identity perturbation keeps the hash and any change of
//!   ratings changes it. Feature changes are not in the listing; the manifest records the
//!   perturbations, the seed and the [`ChangeLog`].

use crate::data::{Dataset, Features, Rating};
use crate::rng::{Rng, hash_label};
use crate::split::{History, Scenario, Split, Task, hex};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Label noise: how a chosen rating changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseMode {
    /// A level drawn uniformly among the scale's other levels.
    Random,
    /// One level up or down (inward at an end of the scale).
    Shift,
}

/// Label noise: which ratings it may change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Test tasks' support sets (every scenario).
    #[default]
    Support,
    /// Meta-train histories.
    MetaTrain,
}

/// Feature noise: how a chosen cell changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureMode {
    /// Categorical index 0 (unknown), numeric 0.
    Missing,
    /// A uniform other index of the field's vocabulary; numeric N(0, 1).
    Random,
}

/// Feature noise: whose rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Users of test tasks.
    User,
    /// Items in test tasks' support or query sets.
    Item,
    Both,
}

/// A distribution shift: meta-train (and validate) on users whose `attribute` is `train`, test
/// on users whose `attribute` is `test`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftBy {
    /// A name in [`Dataset::user_groups`], e.g. `group`.
    pub attribute: String,
    pub train: String,
    pub test: String,
}

fn yes() -> bool {
    true
}

/// One robustness perturbation, as declared in a suite file's `[[perturbations]]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Perturbation {
    /// Each rating of the target changes with probability `rate`.
    LabelNoise {
        rate: f64,
        mode: NoiseMode,
        #[serde(default)]
        target: Target,
    },
    /// Give each test task exactly `k >= 1` support ratings (module docs).
    Shots { k: usize },
    /// Each feature cell of the chosen rows changes with probability `rate`.
    FeatureNoise { rate: f64, mode: FeatureMode, side: Side },
    /// The average attack: `profiles` fake users in meta-train rating `targets` (item indices)
    /// at the scale's maximum and `filler` other existing items around their mean.
    Shilling {
        profiles: usize,
        targets: Vec<u32>,
        filler: usize,
        /// `true` (default): targets at the maximum (push); `false`: at the minimum (nuke).
        #[serde(default = "yes")]
        rating_max_for_targets: bool,
    },
    /// Meta-train on one user group, test on another.
    Shift { by: ShiftBy },
}

/// Replaces characters that would need quoting in CSV (and control characters) by `_`.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c == ',' || c == '"' || c.is_control() { '_' } else { c }).collect()
}

impl NoiseMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NoiseMode::Random => "random",
            NoiseMode::Shift => "shift",
        }
    }
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Support => "support",
            Target::MetaTrain => "meta-train",
        }
    }
}

impl FeatureMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureMode::Missing => "missing",
            FeatureMode::Random => "random",
        }
    }
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::User => "user",
            Side::Item => "item",
            Side::Both => "both",
        }
    }
    fn users(self) -> bool {
        matches!(self, Side::User | Side::Both)
    }
    fn items(self) -> bool {
        matches!(self, Side::Item | Side::Both)
    }
}

impl Perturbation {
    /// The stable short label of results.csv's `perturbation` column (no commas; see the module
    /// docs for the format).
    pub fn name(&self) -> String {
        match self {
            Perturbation::LabelNoise { rate, mode, target } => {
                format!("label-noise({};{rate};{})", mode.as_str(), target.as_str())
            }
            Perturbation::Shots { k } => format!("shots({k})"),
            Perturbation::FeatureNoise { rate, mode, side } => {
                format!("feature-noise({};{rate};{})", mode.as_str(), side.as_str())
            }
            Perturbation::Shilling { profiles, targets, filler, rating_max_for_targets } => {
                let list = targets.iter().map(u32::to_string).collect::<Vec<_>>().join("/");
                let hash = hash_label(&list) as u32;
                let push = if *rating_max_for_targets { "push" } else { "nuke" };
                format!("shilling({profiles};targets={}@{hash:08x};filler={filler};{push})", targets.len())
            }
            Perturbation::Shift { by } => {
                format!("shift({}:{}->{})", clean(&by.attribute), clean(&by.train), clean(&by.test))
            }
        }
    }

    /// Whether the perturbation changes what meta-training reads (meta-train histories,
    /// validation tasks or the shared feature table), so a model trained without it cannot be
    /// reused; `shots` and support label noise change test support sets only.
    pub fn changes_meta_train(&self) -> bool {
        match self {
            Perturbation::LabelNoise { target, .. } => *target == Target::MetaTrain,
            Perturbation::Shots { .. } => false,
            Perturbation::FeatureNoise { .. } | Perturbation::Shilling { .. } | Perturbation::Shift { .. } => true,
        }
    }
}

/// The label of a list of perturbations: `none` when empty, else the names joined by `+`.
pub fn label(perturbations: &[Perturbation]) -> String {
    if perturbations.is_empty() {
        return "none".into();
    }
    perturbations.iter().map(Perturbation::name).collect::<Vec<_>>().join("+")
}

/// A perturbation that cannot be applied; names the key (`perturbations[1].rate` from
/// [`apply`] and [`check_all`], `rate` from [`check`]).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{key}: {message}")]
pub struct PerturbError {
    pub key: String,
    pub message: String,
}

impl PerturbError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> PerturbError {
        PerturbError { key: key.into(), message: message.into() }
    }

    /// The same error with the key placed under `perturbations[index]`.
    pub fn at(self, index: usize) -> PerturbError {
        PerturbError { key: format!("perturbations[{index}].{}", self.key), message: self.message }
    }
}

/// Counts of what one perturbation (or a list) changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// Ratings whose value changed (label noise).
    pub labels_changed: usize,
    /// Support ratings removed (shots).
    pub support_ratings_dropped: usize,
    /// Support ratings added from the tasks' pools (shots above the support size).
    #[serde(default)]
    pub support_ratings_added: usize,
    /// Feature cells chosen for noise.
    pub features_selected: usize,
    /// Feature cells whose value changed (`missing` leaves a cell already 0 as it is).
    pub features_changed: usize,
    /// Fake users added (shilling).
    pub profiles_added: usize,
    /// Ratings of fake users added to meta-train (shilling).
    pub ratings_added: usize,
    /// Meta-train users removed (shift).
    pub users_dropped: usize,
    /// Test tasks removed (shift).
    pub tasks_dropped: usize,
    /// Validation tasks removed (shift).
    pub validation_tasks_dropped: usize,
}

impl Changes {
    fn add(&mut self, o: &Changes) {
        self.labels_changed += o.labels_changed;
        self.support_ratings_added += o.support_ratings_added;
        self.support_ratings_dropped += o.support_ratings_dropped;
        self.features_selected += o.features_selected;
        self.features_changed += o.features_changed;
        self.profiles_added += o.profiles_added;
        self.ratings_added += o.ratings_added;
        self.users_dropped += o.users_dropped;
        self.tasks_dropped += o.tasks_dropped;
        self.validation_tasks_dropped += o.validation_tasks_dropped;
    }
}

/// What one step of a list changed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLog {
    /// [`Perturbation::name`].
    pub name: String,
    pub changes: Changes,
}

/// What [`apply`] changed: totals and one entry per step, for the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeLog {
    pub total: Changes,
    pub steps: Vec<StepLog>,
}

/// A perturbed cell input: the feature table and split to use in place of the clean ones.
#[derive(Clone, Debug)]
pub struct Perturbed {
    /// The feature table (the dataset's own `Arc` when no step changed it).
    pub features: Arc<Features>,
    /// The perturbed split; `sha256` is recomputed over its listing.
    pub split: Split,
    pub changes: ChangeLog,
}

fn rate_ok(rate: f64) -> Result<(), PerturbError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(PerturbError::new("rate", format!("{rate} is not in [0, 1]")))
    }
}

/// Distinct labels of one attribute, sorted.
fn known_values(labels: &[String]) -> String {
    labels.iter().collect::<BTreeSet<_>>().into_iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Validates one perturbation's parameters against the dataset; keys are
/// relative to the perturbation (`rate`, `k`, `targets[2]`, `by.test`). [`apply`] also refuses
/// what needs the split to see: targets that are new items, more filler than existing items, a
/// shift that leaves meta-train or the test tasks empty.
pub fn check(p: &Perturbation, data: &Dataset) -> Result<(), PerturbError> {
    match p {
        Perturbation::LabelNoise { rate, .. } => {
            rate_ok(*rate)?;
            let span = data.rating_max - data.rating_min;
            if span.is_nan() || span < 1.0 {
                return Err(PerturbError::new(
                    "mode",
                    format!("the rating scale [{}, {}] has fewer than two levels", data.rating_min, data.rating_max),
                ));
            }
        }
        Perturbation::Shots { k } => {
            if *k == 0 {
                return Err(PerturbError::new("k", "must be at least 1"));
            }
        }
        Perturbation::FeatureNoise { rate, .. } => rate_ok(*rate)?,
        Perturbation::Shilling { profiles, targets, filler, .. } => {
            if *profiles == 0 {
                return Err(PerturbError::new("profiles", "must be at least 1"));
            }
            if targets.is_empty() {
                return Err(PerturbError::new("targets", "must name at least one item"));
            }
            let n_items = data.features.n_items();
            for (j, t) in targets.iter().enumerate() {
                if *t as usize >= n_items {
                    return Err(PerturbError::new(
                        format!("targets[{j}]"),
                        format!("item {t} is out of range (the dataset has {n_items} items, 0..{n_items})"),
                    ));
                }
                if targets[..j].contains(t) {
                    return Err(PerturbError::new(format!("targets[{j}]"), format!("item {t} is listed twice")));
                }
            }
            let others = n_items - targets.len();
            if *filler > others {
                return Err(PerturbError::new(
                    "filler",
                    format!("{filler} exceeds the {others} items that are not targets"),
                ));
            }
        }
        Perturbation::Shift { by } => {
            let Some((_, labels)) = data.user_groups.iter().find(|(a, _)| *a == by.attribute) else {
                let known = data.user_groups.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ");
                return Err(PerturbError::new(
                    "by.attribute",
                    format!("unknown user attribute `{}` (known: {known})", by.attribute),
                ));
            };
            for (key, value) in [("by.train", &by.train), ("by.test", &by.test)] {
                if !labels.contains(value) {
                    return Err(PerturbError::new(
                        key,
                        format!("unknown value `{value}` of `{}` (known: {})", by.attribute, known_values(labels)),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// [`check`] for every entry of a list, keys under `perturbations[i]`.
pub fn check_all(perturbations: &[Perturbation], data: &Dataset) -> Result<(), PerturbError> {
    for (i, p) in perturbations.iter().enumerate() {
        check(p, data).map_err(|e| e.at(i))?;
    }
    Ok(())
}

/// The state threaded through the steps.
struct State {
    features: Arc<Features>,
    split: Split,
    /// `Dataset::user_groups`, grown with fake users.
    groups: Vec<(String, Vec<String>)>,
}

/// Applies `perturbations` in order to `split` (made from `data`). The inputs
/// are not modified; query sets never change; validation tasks change only under `shift`.
pub fn apply(
    data: &Dataset,
    split: &Split,
    perturbations: &[Perturbation],
    seed: u64,
) -> Result<Perturbed, PerturbError> {
    check_all(perturbations, data)?;
    let mut st = State { features: data.features.clone(), split: split.clone(), groups: data.user_groups.clone() };
    let mut log = ChangeLog::default();
    for (i, p) in perturbations.iter().enumerate() {
        let name = p.name();
        let index = i.to_string();
        // Shots: one stream for every k, so shot curves are nested (module docs).
        let stream = if matches!(p, Perturbation::Shots { .. }) { "shots" } else { name.as_str() };
        let mut rng = Rng::from_labels(seed, &["perturb", &index, stream]);
        let mut pool_rng = Rng::from_labels(seed, &["perturb", &index, "shots-pool"]);
        let changes = step(p, data, &mut st, &mut rng, &mut pool_rng).map_err(|e| e.at(i))?;
        log.total.add(&changes);
        log.steps.push(StepLog { name, changes });
    }
    st.split.sha256 = listing_sha256(&st.split);
    Ok(Perturbed { features: st.features, split: st.split, changes: log })
}

fn step(
    p: &Perturbation,
    data: &Dataset,
    st: &mut State,
    rng: &mut Rng,
    pool_rng: &mut Rng,
) -> Result<Changes, PerturbError> {
    let mut c = Changes::default();
    match p {
        Perturbation::LabelNoise { rate, mode, target } => {
            let scale = Scale { min: data.rating_min, max: data.rating_max };
            let mut noise = |r: &mut Rating| {
                if rng.uniform() < *rate {
                    let v = scale.noisy(r.value, *mode, rng);
                    if v != r.value {
                        c.labels_changed += 1;
                    }
                    r.value = v;
                }
            };
            match target {
                Target::Support => {
                    for (_, tasks) in &mut st.split.test {
                        tasks.iter_mut().flat_map(|t| t.support.iter_mut()).for_each(&mut noise);
                    }
                }
                Target::MetaTrain => st.split.meta_train.iter_mut().flat_map(|h| h.ratings.iter_mut()).for_each(noise),
            }
        }
        Perturbation::Shots { k } => shots(*k, st, rng, pool_rng, &mut c)?,
        Perturbation::FeatureNoise { rate, mode, side } => feature_noise(*rate, *mode, *side, st, rng, &mut c),
        Perturbation::Shilling { profiles, targets, filler, rating_max_for_targets } => {
            shilling(*profiles, targets, *filler, *rating_max_for_targets, data, st, rng, &mut c)?
        }
        Perturbation::Shift { by } => shift(by, st, &mut c)?,
    }
    Ok(c)
}

/// Cuts (or, from the task's pool, grows) every test support set to `k` ratings.
fn shots(k: usize, st: &mut State, rng: &mut Rng, pool_rng: &mut Rng, c: &mut Changes) -> Result<(), PerturbError> {
    let mut most = 0;
    for (_, tasks) in &mut st.split.test {
        let before = tasks.len();
        tasks.retain_mut(|t| {
            // Whole permutations per task, whatever k: the draws, and so the shot curve's
            // nesting, do not depend on k.
            let n = t.support.len();
            let order = rng.sample_indices(n, n);
            let extra = pool_rng.sample_indices(t.pool.len(), t.pool.len());
            most = most.max(n + t.pool.len());
            if n >= k {
                let mut keep = order[..k].to_vec();
                keep.sort_unstable();
                t.support = keep.iter().map(|i| t.support[*i]).collect();
                c.support_ratings_dropped += n - k;
                return true;
            }
            if n + t.pool.len() < k {
                return false;
            }
            let mut add: Vec<usize> = extra[..k - n].to_vec();
            add.sort_unstable();
            t.support.extend(add.iter().map(|i| t.pool[*i]));
            c.support_ratings_added += k - n;
            true
        });
        c.tasks_dropped += before - tasks.len();
    }
    if test_tasks(&st.split).next().is_none() {
        return Err(PerturbError::new(
            "k",
            format!(
                "{k} exceeds the support size of every test task (its support set plus unused ratings; the most is {most})"
            ),
        ));
    }
    Ok(())
}

/// The rating scale's levels `min, min + 1, ..., max`.
struct Scale {
    min: f32,
    max: f32,
}

impl Scale {
    fn levels(&self) -> usize {
        (self.max - self.min).round() as usize + 1
    }

    fn noisy(&self, v: f32, mode: NoiseMode, rng: &mut Rng) -> f32 {
        match mode {
            NoiseMode::Random => {
                let n = self.levels();
                let pos = v - self.min;
                let on_level = pos.fract() == 0.0 && pos >= 0.0 && (pos as usize) < n;
                if on_level {
                    let mut j = rng.below(n - 1);
                    if j >= pos as usize {
                        j += 1;
                    }
                    self.min + j as f32
                } else {
                    self.min + rng.below(n) as f32
                }
            }
            NoiseMode::Shift => {
                let up = rng.uniform() < 0.5;
                let up = if v + 1.0 > self.max {
                    false
                } else if v - 1.0 < self.min {
                    true
                } else {
                    up
                };
                if up { v + 1.0 } else { v - 1.0 }
            }
        }
    }

    /// `x` rounded to a level and clamped to the scale.
    fn snap(&self, x: f64) -> f32 {
        let j = (x - self.min as f64).round().clamp(0.0, (self.levels() - 1) as f64);
        self.min + j as f32
    }
}

fn test_tasks(split: &Split) -> impl Iterator<Item = &Task> {
    split.test.iter().flat_map(|(_, ts)| ts.iter())
}

fn feature_noise(rate: f64, mode: FeatureMode, side: Side, st: &mut State, rng: &mut Rng, c: &mut Changes) {
    let users: BTreeSet<u32> = test_tasks(&st.split).map(|t| t.user).collect();
    let items: BTreeSet<u32> =
        test_tasks(&st.split).flat_map(|t| t.support.iter().chain(&t.query)).map(|r| r.item).collect();
    let f = Arc::make_mut(&mut st.features);
    let cat = |cell: &mut u32, vocab: usize, rng: &mut Rng, c: &mut Changes| {
        if rng.uniform() >= rate {
            return;
        }
        c.features_selected += 1;
        let v = match mode {
            FeatureMode::Missing => 0,
            FeatureMode::Random if vocab >= 2 => {
                let mut j = rng.below(vocab - 1) as u32;
                if j >= *cell {
                    j += 1;
                }
                j
            }
            FeatureMode::Random => *cell,
        };
        if v != *cell {
            c.features_changed += 1;
        }
        *cell = v;
    };
    if side.users() {
        let vocabs: Vec<usize> = f.schema.user_fields.iter().map(|x| x.vocab).collect();
        for u in &users {
            let row = &mut f.user_cat[*u as usize * vocabs.len()..(*u as usize + 1) * vocabs.len()];
            for (cell, vocab) in row.iter_mut().zip(&vocabs) {
                cat(cell, *vocab, rng, c);
            }
        }
    }
    if side.items() {
        let vocabs: Vec<usize> = f.schema.item_fields.iter().map(|x| x.vocab).collect();
        let n_num = f.schema.item_numeric.len();
        for i in &items {
            let i = *i as usize;
            for (cell, vocab) in f.item_cat[i * vocabs.len()..(i + 1) * vocabs.len()].iter_mut().zip(&vocabs) {
                cat(cell, *vocab, rng, c);
            }
            for cell in &mut f.item_num[i * n_num..(i + 1) * n_num] {
                if rng.uniform() >= rate {
                    continue;
                }
                c.features_selected += 1;
                let v = match mode {
                    FeatureMode::Missing => 0.0,
                    FeatureMode::Random => rng.normal() as f32,
                };
                if v.to_bits() != cell.to_bits() {
                    c.features_changed += 1;
                }
                *cell = v;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn shilling(
    profiles: usize,
    targets: &[u32],
    filler: usize,
    push: bool,
    data: &Dataset,
    st: &mut State,
    rng: &mut Rng,
    c: &mut Changes,
) -> Result<(), PerturbError> {
    let item_is_new = &st.split.item_is_new;
    for (j, t) in targets.iter().enumerate() {
        if item_is_new[*t as usize] {
            return Err(PerturbError::new(
                format!("targets[{j}]"),
                format!("item {t} is a new item; meta-train holds existing items only"),
            ));
        }
    }
    let candidates: Vec<u32> =
        (0..item_is_new.len() as u32).filter(|i| !item_is_new[*i as usize] && !targets.contains(i)).collect();
    if filler > candidates.len() {
        return Err(PerturbError::new(
            "filler",
            format!("{filler} exceeds the {} existing items that are not targets", candidates.len()),
        ));
    }
    let n_real = data.features.n_users() as u32;
    let donors: Vec<u32> = st.split.meta_train.iter().map(|h| h.user).filter(|u| *u < n_real).collect();
    if donors.is_empty() {
        return Err(PerturbError::new("profiles", "meta-train has no real user whose features a fake user could copy"));
    }

    // Item means and standard deviations over meta-train (global ones for items with < 2).
    let n_items = item_is_new.len();
    let mut acc = vec![(0usize, 0f64, 0f64); n_items];
    let mut all = (0usize, 0f64, 0f64);
    for r in st.split.meta_train.iter().flat_map(|h| &h.ratings) {
        let v = r.value as f64;
        let a = &mut acc[r.item as usize];
        *a = (a.0 + 1, a.1 + v, a.2 + v * v);
        all = (all.0 + 1, all.1 + v, all.2 + v * v);
    }
    let moments = |(n, s, ss): (usize, f64, f64)| {
        let m = s / n as f64;
        (m, (ss / n as f64 - m * m).max(0.0).sqrt())
    };
    let global = if all.0 > 0 { moments(all) } else { ((data.rating_min + data.rating_max) as f64 / 2.0, 1.0) };
    let scale = Scale { min: data.rating_min, max: data.rating_max };
    let target_value = if push { data.rating_max } else { data.rating_min };

    let f = Arc::make_mut(&mut st.features);
    let n_fields = f.schema.user_fields.len();
    let first_id = f.user_ids.iter().max().map_or(0, |m| m + 1);
    for j in 0..profiles {
        let donor = donors[rng.below(donors.len())];
        let user = f.n_users() as u32;
        let row = f.user_cat(donor).to_vec();
        f.user_cat.extend(row);
        debug_assert_eq!(f.user_cat.len(), (user as usize + 1) * n_fields);
        f.user_ids.push(first_id + j as u64);
        st.split.user_is_new.push(false);
        for (_, labels) in &mut st.groups {
            let l = labels.get(donor as usize).cloned().unwrap_or_default();
            labels.push(l);
        }
        let mut ratings: Vec<Rating> = targets.iter().map(|t| Rating { user, item: *t, value: target_value }).collect();
        for k in rng.sample_indices(candidates.len(), filler) {
            let item = candidates[k];
            let a = acc[item as usize];
            let (m, sd) = if a.0 >= 2 { moments(a) } else { global };
            let value = scale.snap(m + sd * rng.normal());
            ratings.push(Rating { user, item, value });
        }
        ratings.sort_by_key(|r| r.item);
        c.ratings_added += ratings.len();
        c.profiles_added += 1;
        st.split.meta_train.push(History { user, ratings });
    }
    Ok(())
}

fn shift(by: &ShiftBy, st: &mut State, c: &mut Changes) -> Result<(), PerturbError> {
    let labels = &st.groups.iter().find(|(a, _)| *a == by.attribute).expect("checked").1;
    let is = |user: u32, value: &str| labels.get(user as usize).is_some_and(|l| l == value);
    let before = st.split.meta_train.len();
    st.split.meta_train.retain(|h| is(h.user, &by.train));
    c.users_dropped = before - st.split.meta_train.len();
    if st.split.meta_train.is_empty() {
        return Err(PerturbError::new("by.train", format!("no meta-train user has {} = `{}`", by.attribute, by.train)));
    }
    let before = st.split.validation.len();
    st.split.validation.retain(|t| is(t.user, &by.train));
    c.validation_tasks_dropped = before - st.split.validation.len();
    for (_, tasks) in &mut st.split.test {
        let before = tasks.len();
        tasks.retain(|t| is(t.user, &by.test));
        c.tasks_dropped += before - tasks.len();
    }
    if test_tasks(&st.split).next().is_none() {
        return Err(PerturbError::new("by.test", format!("no test task's user has {} = `{}`", by.attribute, by.test)));
    }
    Ok(())
}

/// SHA-256 of a split's listing, in the format of `split::make_split` (a test pins the two
/// together).
pub fn listing_sha256(split: &Split) -> String {
    let mut h = Sha256::new();
    for m in &split.meta_train {
        for r in &m.ratings {
            h.update(format!("train,{},{},{}\n", r.user, r.item, r.value).as_bytes());
        }
    }
    let mut tasks = |name: &str, ts: &[Task]| {
        for t in ts {
            for r in &t.support {
                h.update(format!("{name},support,{},{},{}\n", r.user, r.item, r.value).as_bytes());
            }
            for r in &t.query {
                h.update(format!("{name},query,{},{},{}\n", r.user, r.item, r.value).as_bytes());
            }
            for i in &t.negatives {
                h.update(format!("{name},candidate,{},{i}\n", t.user).as_bytes());
            }
        }
    };
    tasks("validation", &split.validation);
    for (sc, ts) in &split.test {
        tasks(Scenario::name(*sc), ts);
    }
    hex(&h.finalize())
}

/// Average prediction shift of an attack (Mobasher et al. 2007): the mean of `after - before`
/// over (user, target) pairs, given in the same order. `None` when empty.
pub fn prediction_shift(before: &[f64], after: &[f64]) -> Option<f64> {
    assert_eq!(before.len(), after.len(), "prediction_shift: one prediction after the attack per one before");
    if before.is_empty() {
        return None;
    }
    Some(after.iter().zip(before).map(|(a, b)| a - b).sum::<f64>() / before.len() as f64)
}

/// Hit ratio of an attack (Mobasher et al. 2007): over users and targets, the fraction of
/// (user, target) pairs whose target is among the user's top `n` recommendations. `scores[u]`
/// holds `(item, predicted score)` for the items user `u` could be recommended (those not rated);
/// a target absent from a user's list is skipped. Ties count against the target (a constant
/// predictor does not hit). `None` when no pair counts.
pub fn hit_ratio(scores: &[Vec<(u32, f64)>], targets: &[u32], n: usize) -> Option<f64> {
    let (mut pairs, mut hits) = (0usize, 0usize);
    for list in scores {
        for t in targets {
            let Some(s) = list.iter().find(|(i, _)| i == t).map(|x| x.1) else { continue };
            let ahead = list.iter().filter(|(i, x)| i != t && *x >= s).count();
            pairs += 1;
            hits += usize::from(ahead < n);
        }
    }
    (pairs > 0).then(|| hits as f64 / pairs as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::split::{Protocol, make_split};
    use crate::synthetic::{World, WorldConfig, generate};

    fn world(seed: u64) -> World {
        let cfg = WorldConfig { n_users: 120, n_items: 80, max_ratings: 60, min_ratings: 24, ..Default::default() };
        generate(&cfg, seed, "t").unwrap()
    }

    fn protocol() -> Protocol {
        Protocol { support: 5, query: 5, ..Default::default() }
    }

    fn setup() -> (World, Split) {
        let w = world(11);
        let s = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &protocol(), 11).unwrap();
        assert!(s.test.iter().all(|(_, ts)| !ts.is_empty()), "every scenario has tasks");
        (w, s)
    }

    fn run(w: &World, s: &Split, ps: &[Perturbation], seed: u64) -> Result<Perturbed, PerturbError> {
        apply(&w.dataset, s, ps, seed)
    }

    /// Ratings compared bit for bit.
    fn bits(rs: &[Rating]) -> Vec<(u32, u32, u32)> {
        rs.iter().map(|r| (r.user, r.item, r.value.to_bits())).collect()
    }

    fn same_tasks(a: &[Task], b: &[Task]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| x.user == y.user && bits(&x.support) == bits(&y.support))
            && same_queries(a, b)
    }

    fn same_queries(a: &[Task], b: &[Task]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.user == y.user && bits(&x.query) == bits(&y.query))
    }

    fn same_meta_train(a: &Split, b: &Split) -> bool {
        a.meta_train.len() == b.meta_train.len()
            && a.meta_train
                .iter()
                .zip(&b.meta_train)
                .all(|(x, y)| x.user == y.user && bits(&x.ratings) == bits(&y.ratings))
    }

    fn same_test(a: &Split, b: &Split) -> bool {
        a.test.len() == b.test.len() && a.test.iter().zip(&b.test).all(|(x, y)| x.0 == y.0 && same_tasks(&x.1, &y.1))
    }

    fn same_split(a: &Split, b: &Split) -> bool {
        same_meta_train(a, b)
            && same_tasks(&a.validation, &b.validation)
            && same_test(a, b)
            && a.item_is_new == b.item_is_new
            && a.user_is_new == b.user_is_new
            && a.sha256 == b.sha256
    }

    fn same_features(a: &Features, b: &Features) -> bool {
        a.schema == b.schema
            && a.user_cat == b.user_cat
            && a.item_cat == b.item_cat
            && a.item_num.iter().map(|x| x.to_bits()).eq(b.item_num.iter().map(|x| x.to_bits()))
            && a.user_ids == b.user_ids
            && a.item_ids == b.item_ids
    }

    fn noise(rate: f64, mode: NoiseMode, target: Target) -> Perturbation {
        Perturbation::LabelNoise { rate, mode, target }
    }

    fn support_pairs<'a>(a: &'a Split, b: &'a Split) -> impl Iterator<Item = (&'a Rating, &'a Rating)> {
        test_tasks(a).zip(test_tasks(b)).flat_map(|(x, y)| x.support.iter().zip(&y.support))
    }

    #[test]
    fn listing_hash_matches_make_split() {
        let (_, s) = setup();
        assert_eq!(listing_sha256(&s), s.sha256, "perturb.rs's listing format drifted from split.rs");
    }

    #[test]
    fn label_noise_rate_zero_is_the_identity() {
        let (w, s) = setup();
        for mode in [NoiseMode::Random, NoiseMode::Shift] {
            for target in [Target::Support, Target::MetaTrain] {
                let p = run(&w, &s, &[noise(0.0, mode, target)], 1).unwrap();
                assert!(same_split(&p.split, &s), "{mode:?} {target:?}");
                assert!(Arc::ptr_eq(&p.features, &w.dataset.features));
                assert_eq!(p.changes.total, Changes::default());
            }
        }
        let p = run(&w, &s, &[], 1).unwrap();
        assert!(same_split(&p.split, &s));
    }

    #[test]
    fn label_noise_rate_one_random_changes_every_support_label_to_another_level() {
        let (w, s) = setup();
        let p = run(&w, &s, &[noise(1.0, NoiseMode::Random, Target::Support)], 3).unwrap();
        let mut n = 0;
        for (a, b) in support_pairs(&s, &p.split) {
            assert_eq!((a.user, a.item), (b.user, b.item));
            assert_ne!(a.value, b.value, "a chosen label changes");
            assert!(b.value.fract() == 0.0 && (1.0..=5.0).contains(&b.value), "{}", b.value);
            n += 1;
        }
        assert_eq!(p.changes.total.labels_changed, n);
        assert!(n > 100, "{n} support labels");
        // The replacement is spread over the other levels, not always the same one.
        let moved: BTreeSet<u32> = support_pairs(&s, &p.split).map(|(_, b)| b.value as u32).collect();
        assert_eq!(moved.len(), 5);
        for (x, y) in s.test.iter().zip(&p.split.test) {
            assert!(same_queries(&x.1, &y.1));
        }
        assert!(same_meta_train(&p.split, &s));
        assert!(same_tasks(&p.split.validation, &s.validation), "validation stays clean");
        assert_ne!(p.split.sha256, s.sha256);
    }

    #[test]
    fn label_noise_changes_about_the_rate_and_never_queries_or_validation() {
        let (w, s) = setup();
        let rate = 0.3;
        let p = run(&w, &s, &[noise(rate, NoiseMode::Random, Target::Support)], 5).unwrap();
        let n = support_pairs(&s, &p.split).count() as f64;
        let changed = support_pairs(&s, &p.split).filter(|(a, b)| a.value != b.value).count();
        assert_eq!(changed, p.changes.total.labels_changed);
        let se = (n * rate * (1.0 - rate)).sqrt();
        assert!((changed as f64 - n * rate).abs() < 4.0 * se, "{changed} of {n} changed at rate {rate}");
        for (x, y) in s.test.iter().zip(&p.split.test) {
            assert!(same_queries(&x.1, &y.1), "query sets untouched");
        }
        assert!(same_tasks(&p.split.validation, &s.validation), "validation byte for byte");
        assert!(same_meta_train(&p.split, &s));
    }

    #[test]
    fn label_noise_on_meta_train_changes_only_meta_train() {
        let (w, s) = setup();
        let p = run(&w, &s, &[noise(0.5, NoiseMode::Random, Target::MetaTrain)], 2).unwrap();
        assert!(same_test(&p.split, &s));
        assert!(same_tasks(&p.split.validation, &s.validation));
        let pairs: Vec<_> =
            s.meta_train.iter().zip(&p.split.meta_train).flat_map(|(a, b)| a.ratings.iter().zip(&b.ratings)).collect();
        assert!(pairs.iter().all(|(a, b)| (a.user, a.item) == (b.user, b.item)));
        let changed = pairs.iter().filter(|(a, b)| a.value != b.value).count();
        assert_eq!(changed, p.changes.total.labels_changed);
        let n = pairs.len() as f64;
        assert!((changed as f64 - n / 2.0).abs() < 4.0 * (n / 4.0).sqrt(), "{changed} of {n}");
        assert!(
            Perturbation::LabelNoise { rate: 0.5, mode: NoiseMode::Random, target: Target::MetaTrain }
                .changes_meta_train()
        );
    }

    #[test]
    fn label_noise_shift_moves_exactly_one_level_within_the_scale() {
        let (w, s) = setup();
        let p = run(&w, &s, &[noise(1.0, NoiseMode::Shift, Target::Support)], 4).unwrap();
        let (mut up, mut down, mut ends) = (0, 0, 0);
        for (a, b) in support_pairs(&s, &p.split) {
            assert_eq!((b.value - a.value).abs(), 1.0, "{} -> {}", a.value, b.value);
            assert!((1.0..=5.0).contains(&b.value));
            if a.value == 1.0 || a.value == 5.0 {
                ends += 1;
            } else if b.value > a.value {
                up += 1;
            } else {
                down += 1;
            }
        }
        assert!(ends > 0 && up > 0 && down > 0, "{ends} {up} {down}");
        let n = (up + down) as f64;
        assert!((up as f64 - n / 2.0).abs() < 4.0 * (n / 4.0).sqrt(), "direction is a fair coin: {up} up of {n}");
    }

    #[test]
    fn shots_keep_k_of_the_original_support_and_nest() {
        let (w, s) = setup();
        let mut previous: Option<Split> = None;
        for k in 1..=5 {
            let p = run(&w, &s, &[Perturbation::Shots { k }], 9).unwrap();
            let mut dropped = 0;
            for (a, b) in test_tasks(&s).zip(test_tasks(&p.split)) {
                assert_eq!(b.support.len(), k);
                assert!(b.support.iter().all(|r| a.support.contains(r)), "a subset of the original");
                let order: Vec<usize> =
                    b.support.iter().map(|r| a.support.iter().position(|x| x == r).unwrap()).collect();
                assert!(order.windows(2).all(|w| w[0] < w[1]), "original order kept");
                assert_eq!(bits(&a.query), bits(&b.query));
                dropped += a.support.len() - k;
            }
            assert_eq!(p.changes.total.support_ratings_dropped, dropped);
            assert!(same_meta_train(&p.split, &s) && same_tasks(&p.split.validation, &s.validation));
            if let Some(prev) = &previous {
                for (small, big) in test_tasks(prev).zip(test_tasks(&p.split)) {
                    assert!(
                        small.support.iter().all(|r| big.support.contains(r)),
                        "shots({}) within shots({k})",
                        k - 1
                    );
                }
            }
            previous = Some(p.split);
        }
        // k = support keeps everything.
        assert!(same_split(&run(&w, &s, &[Perturbation::Shots { k: 5 }], 9).unwrap().split, &s));
        assert!(!Perturbation::Shots { k: 1 }.changes_meta_train());
    }

    #[test]
    fn shots_above_the_support_size_grow_from_the_pool_and_nest() {
        let (w, s) = setup();
        let clean: Vec<&Task> = test_tasks(&s).collect();
        assert!(clean.iter().any(|t| !t.pool.is_empty()), "cold tasks keep their unused ratings");
        let p8 = run(&w, &s, &[Perturbation::Shots { k: 8 }], 9).unwrap();
        let p12 = run(&w, &s, &[Perturbation::Shots { k: 12 }], 9).unwrap();
        let (mut added, mut dropped) = (0, 0);
        for (sc, tasks) in &s.test {
            let grown = p8.split.tasks(*sc);
            let mut it = grown.iter().peekable();
            for a in tasks {
                let Some(b) = it.next_if(|b| b.user == a.user) else {
                    assert!(a.support.len() + a.pool.len() < 8, "only tasks that cannot reach k leave");
                    dropped += 1;
                    continue;
                };
                assert_eq!(b.support.len(), 8);
                assert_eq!(&b.support[..a.support.len()], &a.support[..], "the clean support set comes first, whole");
                assert!(b.support[a.support.len()..].iter().all(|r| a.pool.contains(r)), "the rest from the pool");
                assert_eq!(bits(&a.query), bits(&b.query));
                added += 8 - a.support.len();
            }
        }
        assert!(dropped > 0 && added > 0, "{dropped} {added}");
        assert_eq!(p8.changes.total.support_ratings_added, added);
        assert_eq!(p8.changes.total.tasks_dropped, dropped);
        assert!(same_meta_train(&p8.split, &s));
        // Nested: shots(8) within shots(12) for every user in both.
        for (sc, big) in &p12.split.test {
            for b in big {
                let a = p8.split.tasks(*sc).iter().find(|t| t.user == b.user).expect("a user of shots(12) has 8");
                assert!(a.support.iter().all(|r| b.support.contains(r)), "shots(8) within shots(12)");
            }
        }
    }

    #[test]
    fn shots_out_of_range_are_errors_naming_the_key_and_numbers() {
        let (w, s) = setup();
        let most = test_tasks(&s).map(|t| t.support.len() + t.pool.len()).max().unwrap();
        let k = most + 1;
        let e =
            run(&w, &s, &[noise(0.1, NoiseMode::Random, Target::Support), Perturbation::Shots { k }], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[1].k");
        assert_eq!(
            e.message,
            format!(
                "{k} exceeds the support size of every test task (its support set plus unused ratings; the most is {most})"
            )
        );
        let e = run(&w, &s, &[Perturbation::Shots { k: 0 }], 1).unwrap_err();
        assert_eq!(e, PerturbError { key: "perturbations[0].k".into(), message: "must be at least 1".into() });
        let e = check(&Perturbation::Shots { k: 0 }, &w.dataset).unwrap_err();
        assert_eq!(e.key, "k");
    }

    #[test]
    fn rates_out_of_range_and_nan_are_refused() {
        let (w, _) = setup();
        for rate in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
            for p in [
                noise(rate, NoiseMode::Shift, Target::Support),
                Perturbation::FeatureNoise { rate, mode: FeatureMode::Missing, side: Side::Both },
            ] {
                let e = check_all(&[p], &w.dataset).unwrap_err();
                assert_eq!(e.key, "perturbations[0].rate");
                assert_eq!(e.message, format!("{rate} is not in [0, 1]"));
            }
        }
    }

    /// Users and items of test tasks.
    fn test_rows(s: &Split) -> (BTreeSet<u32>, BTreeSet<u32>) {
        let users = test_tasks(s).map(|t| t.user).collect();
        let items = test_tasks(s).flat_map(|t| t.support.iter().chain(&t.query)).map(|r| r.item).collect();
        (users, items)
    }

    #[test]
    fn feature_noise_rate_zero_is_the_identity() {
        let (w, s) = setup();
        for mode in [FeatureMode::Missing, FeatureMode::Random] {
            let p = run(&w, &s, &[Perturbation::FeatureNoise { rate: 0.0, mode, side: Side::Both }], 1).unwrap();
            assert!(same_features(&p.features, &w.dataset.features));
            assert!(same_split(&p.split, &s));
            assert_eq!(p.changes.total, Changes::default());
        }
    }

    #[test]
    fn feature_noise_missing_zeroes_about_the_rate_on_the_chosen_side_only() {
        let (w, s) = setup();
        let clean = &w.dataset.features;
        let (users, items) = test_rows(&s);
        let rate = 0.4;
        for side in [Side::User, Side::Item, Side::Both] {
            let p = run(&w, &s, &[Perturbation::FeatureNoise { rate, mode: FeatureMode::Missing, side }], 6).unwrap();
            let f = &p.features;
            let (mut cells, mut zeroed, mut nonzero_before) = (0usize, 0usize, 0usize);
            let mut changed = 0usize;
            for u in 0..clean.n_users() as u32 {
                let (a, b) = (clean.user_cat(u), f.user_cat(u));
                if !(side.users() && users.contains(&u)) {
                    assert_eq!(a, b, "user {u} is not chosen ({side:?})");
                    continue;
                }
                for (x, y) in a.iter().zip(b) {
                    assert!(x == y || *y == 0);
                    cells += 1;
                    nonzero_before += usize::from(*x != 0);
                    zeroed += usize::from(*x != 0 && *y == 0);
                    changed += usize::from(x != y);
                }
            }
            for i in 0..clean.n_items() as u32 {
                let (a, b) = (clean.item_cat(i), f.item_cat(i));
                let (an, bn) = (clean.item_num(i), f.item_num(i));
                if !(side.items() && items.contains(&i)) {
                    assert_eq!(a, b, "item {i} is not chosen ({side:?})");
                    assert_eq!(an, bn);
                    continue;
                }
                for (x, y) in a.iter().zip(b) {
                    assert!(x == y || *y == 0);
                    cells += 1;
                    nonzero_before += usize::from(*x != 0);
                    zeroed += usize::from(*x != 0 && *y == 0);
                    changed += usize::from(x != y);
                }
                for (x, y) in an.iter().zip(bn) {
                    assert!(x == y || *y == 0.0);
                    cells += 1;
                    nonzero_before += usize::from(*x != 0.0);
                    zeroed += usize::from(*x != 0.0 && *y == 0.0);
                    changed += usize::from(x != y);
                }
            }
            assert_eq!(changed, p.changes.total.features_changed);
            let c = &p.changes.total;
            let n = cells as f64;
            let se = (n * rate * (1.0 - rate)).sqrt();
            assert!(
                (c.features_selected as f64 - n * rate).abs() < 4.0 * se,
                "{side:?}: {} of {n}",
                c.features_selected
            );
            let m = nonzero_before as f64;
            let se = (m * rate * (1.0 - rate)).sqrt();
            assert!((zeroed as f64 - m * rate).abs() < 4.0 * se, "{side:?}: {zeroed} of {m} non-zero cells zeroed");
            assert!(same_split(&p.split, &s), "feature noise leaves the split alone");
        }
    }

    #[test]
    fn feature_noise_random_stays_in_the_vocabulary_and_changes_every_chosen_cell() {
        let (w, s) = setup();
        let p =
            run(&w, &s, &[Perturbation::FeatureNoise { rate: 1.0, mode: FeatureMode::Random, side: Side::User }], 6)
                .unwrap();
        let (users, _) = test_rows(&s);
        let clean = &w.dataset.features;
        let vocabs: Vec<usize> = clean.schema.user_fields.iter().map(|f| f.vocab).collect();
        for u in &users {
            for ((x, y), v) in clean.user_cat(*u).iter().zip(p.features.user_cat(*u)).zip(&vocabs) {
                assert!((*y as usize) < *v);
                assert_ne!(x, y);
            }
        }
        assert_eq!(p.changes.total.features_changed, users.len() * vocabs.len());
        assert_eq!(clean.item_cat, p.features.item_cat);
    }

    fn attack(profiles: usize, targets: Vec<u32>, filler: usize) -> Perturbation {
        Perturbation::Shilling { profiles, targets, filler, rating_max_for_targets: true }
    }

    fn existing_items(s: &Split, n: usize) -> Vec<u32> {
        (0..s.item_is_new.len() as u32).filter(|i| !s.item_is_new[*i as usize]).take(n).collect()
    }

    #[test]
    fn shilling_adds_profiles_that_push_the_targets() {
        let (w, s) = setup();
        let targets = existing_items(&s, 3);
        let (profiles, filler) = (7, 10);
        let p = run(&w, &s, &[attack(profiles, targets.clone(), filler)], 8).unwrap();
        let clean = &w.dataset.features;
        let n = clean.n_users();
        assert_eq!(p.features.n_users(), n + profiles);
        assert_eq!(p.features.user_cat.len(), (n + profiles) * clean.schema.user_fields.len());
        assert_eq!(&p.features.user_cat[..clean.user_cat.len()], &clean.user_cat[..]);
        assert_eq!(p.split.user_is_new.len(), n + profiles);
        assert!(p.split.user_is_new[n..].iter().all(|x| !x));
        let max_id = clean.user_ids.iter().max().unwrap();
        assert!(p.features.user_ids[n..].iter().all(|id| id > max_id));
        assert_eq!(p.split.meta_train.len(), s.meta_train.len() + profiles);
        assert_eq!(&p.split.meta_train[..s.meta_train.len()], &s.meta_train[..]);
        let donors: BTreeSet<&[u32]> = s.meta_train.iter().map(|h| clean.user_cat(h.user)).collect();
        for (j, h) in p.split.meta_train[s.meta_train.len()..].iter().enumerate() {
            assert_eq!(h.user as usize, n + j);
            assert!(donors.contains(p.features.user_cat(h.user)), "features copied from a real meta-train user");
            assert_eq!(h.ratings.len(), targets.len() + filler);
            for r in &h.ratings {
                assert_eq!(r.user, h.user);
                assert!(!s.item_is_new[r.item as usize], "existing items only");
                if targets.contains(&r.item) {
                    assert_eq!(r.value, 5.0);
                } else {
                    assert!(r.value.fract() == 0.0 && (1.0..=5.0).contains(&r.value));
                }
            }
            let distinct: BTreeSet<u32> = h.ratings.iter().map(|r| r.item).collect();
            assert_eq!(distinct.len(), h.ratings.len());
        }
        assert!(same_test(&p.split, &s), "test tasks unchanged");
        assert!(same_tasks(&p.split.validation, &s.validation));
        let c = &p.changes.total;
        assert_eq!((c.profiles_added, c.ratings_added), (profiles, profiles * (targets.len() + filler)));
        // Nuke: the minimum.
        let nuke =
            Perturbation::Shilling { profiles: 2, targets: targets.clone(), filler: 0, rating_max_for_targets: false };
        let p = run(&w, &s, &[nuke], 8).unwrap();
        assert!(p.split.meta_train[s.meta_train.len()..].iter().flat_map(|h| &h.ratings).all(|r| r.value == 1.0));
    }

    #[test]
    fn shilling_parameters_out_of_range_are_errors() {
        let (w, s) = setup();
        let e = run(&w, &s, &[attack(5, vec![1, 80], 3)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].targets[1]");
        assert!(e.message.contains("80") && e.message.contains("out of range"), "{e}");
        let e = run(&w, &s, &[attack(0, vec![1], 3)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].profiles");
        let e = run(&w, &s, &[attack(1, vec![], 3)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].targets");
        let e = run(&w, &s, &[attack(1, vec![2, 2], 3)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].targets[1]");
        let e = run(&w, &s, &[attack(1, vec![2], 80)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].filler");
        let existing = s.item_is_new.iter().filter(|x| !**x).count();
        let e = run(&w, &s, &[attack(1, vec![existing_items(&s, 1)[0]], existing)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].filler");
        assert!(e.message.contains(&(existing - 1).to_string()), "{e}");
        let new_item = s.item_is_new.iter().position(|x| *x).unwrap() as u32;
        let e = run(&w, &s, &[attack(1, vec![new_item], 3)], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].targets[0]");
        assert!(e.message.contains("new item"), "{e}");
    }

    fn shift(train: &str, test: &str) -> Perturbation {
        Perturbation::Shift { by: ShiftBy { attribute: "group".into(), train: train.into(), test: test.into() } }
    }

    #[test]
    fn shift_keeps_only_the_chosen_groups_on_each_side() {
        let (w, s) = setup();
        let group = |u: u32| if w.user_group[u as usize] == 1 { "minority" } else { "majority" };
        let p = run(&w, &s, &[shift("majority", "minority")], 1).unwrap();
        assert!(!p.split.meta_train.is_empty() && p.split.meta_train.iter().all(|h| group(h.user) == "majority"));
        assert!(p.split.validation.iter().all(|t| group(t.user) == "majority"));
        assert!(test_tasks(&p.split).count() > 0 && test_tasks(&p.split).all(|t| group(t.user) == "minority"));
        // Exactly the others were dropped, and the kept ones are untouched.
        let kept: Vec<&History> = s.meta_train.iter().filter(|h| group(h.user) == "majority").collect();
        assert_eq!(p.split.meta_train.iter().collect::<Vec<_>>(), kept);
        for ((sc, a), (sc2, b)) in s.test.iter().zip(&p.split.test) {
            assert_eq!(sc, sc2);
            let want: Vec<Task> = a.iter().filter(|t| group(t.user) == "minority").cloned().collect();
            assert!(same_tasks(&want, b));
        }
        let c = &p.changes.total;
        assert_eq!(c.users_dropped, s.meta_train.len() - kept.len());
        assert_eq!(c.tasks_dropped, test_tasks(&s).count() - test_tasks(&p.split).count());
        assert_eq!(c.validation_tasks_dropped, s.validation.len() - p.split.validation.len());
    }

    #[test]
    fn shift_names_unknown_attributes_and_values() {
        let (w, s) = setup();
        let e = run(&w, &s, &[shift("majority", "martian")], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].by.test");
        assert_eq!(e.message, "unknown value `martian` of `group` (known: majority, minority)");
        let e = run(&w, &s, &[shift("elves", "minority")], 1).unwrap_err();
        assert_eq!(e.key, "perturbations[0].by.train");
        let bad =
            Perturbation::Shift { by: ShiftBy { attribute: "planet".into(), train: "a".into(), test: "b".into() } };
        let e = run(&w, &s, &[bad], 1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "perturbations[0].by.attribute: unknown user attribute `planet` (known: group, age, activity)"
        );
    }

    #[test]
    fn shilling_then_shift_keeps_fakes_of_the_train_group() {
        let (w, s) = setup();
        let ps = [attack(20, existing_items(&s, 2), 5), shift("majority", "minority")];
        let p = run(&w, &s, &ps, 3).unwrap();
        let n = w.dataset.features.n_users() as u32;
        let fakes: Vec<&History> = p.split.meta_train.iter().filter(|h| h.user >= n).collect();
        assert!(!fakes.is_empty() && fakes.len() < 20, "{} fakes kept", fakes.len());
        // A fake's group is its donor's, which is its copied `group` feature (0 = majority).
        assert!(fakes.iter().all(|h| p.features.user_cat(h.user)[0] == 0));
        assert_eq!(p.changes.steps.len(), 2);
        assert_eq!(p.changes.steps[0].changes.profiles_added, 20);
        assert_eq!(p.changes.steps[1].changes.users_dropped, s.meta_train.len() + 20 - p.split.meta_train.len());
    }

    #[test]
    fn composition_is_ordered_and_seeded() {
        let (w, s) = setup();
        let ps = [Perturbation::Shots { k: 3 }, noise(1.0, NoiseMode::Random, Target::Support)];
        let p = run(&w, &s, &ps, 21).unwrap();
        for (a, b) in test_tasks(&s).zip(test_tasks(&p.split)) {
            assert_eq!(b.support.len(), 3);
            let changed =
                b.support.iter().filter(|r| a.support.iter().any(|x| x.item == r.item && x.value != r.value)).count();
            assert_eq!(changed, 3);
        }
        assert_eq!(p.changes.total.labels_changed, 3 * test_tasks(&s).count());
        assert_eq!(
            p.changes.steps.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
            ["shots(3)", "label-noise(random;1;support)"]
        );
        let again = run(&w, &s, &ps, 21).unwrap();
        assert!(same_split(&p.split, &again.split));
        assert_eq!(p.changes, again.changes);
        let other = run(&w, &s, &ps, 22).unwrap();
        assert!(!same_split(&p.split, &other.split));
        assert_ne!(p.split.sha256, other.split.sha256);
        // Step i draws from its own stream: what an earlier step did does not move a later one.
        let after = |first: f64| {
            run(&w, &s, &[noise(first, NoiseMode::Random, Target::MetaTrain), ps[0].clone()], 21).unwrap().split
        };
        assert!(same_test(&after(1.0), &after(0.5)));
    }

    #[test]
    fn validation_stays_clean_except_under_shift() {
        let (w, s) = setup();
        let ps = [
            noise(1.0, NoiseMode::Random, Target::Support),
            noise(1.0, NoiseMode::Shift, Target::MetaTrain),
            Perturbation::Shots { k: 1 },
            Perturbation::FeatureNoise { rate: 1.0, mode: FeatureMode::Random, side: Side::Both },
            attack(3, existing_items(&s, 2), 4),
        ];
        let p = run(&w, &s, &ps, 5).unwrap();
        assert!(same_tasks(&p.split.validation, &s.validation));
        // Validation users are never test users, so their feature rows are clean too.
        let (users, _) = test_rows(&s);
        for t in &s.validation {
            assert!(!users.contains(&t.user));
            assert_eq!(p.features.user_cat(t.user), w.dataset.features.user_cat(t.user));
        }
    }

    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct File {
        perturbations: Vec<Perturbation>,
    }

    #[test]
    fn suite_file_tables_parse_with_defaults_and_refuse_unknown_keys() {
        let text = r#"
            [[perturbations]]
            kind = "label-noise"
            rate = 0.2
            mode = "random"

            [[perturbations]]
            kind = "shots"
            k = 3

            [[perturbations]]
            kind = "feature-noise"
            rate = 1
            mode = "missing"
            side = "both"

            [[perturbations]]
            kind = "shilling"
            profiles = 50
            targets = [3, 17, 42]
            filler = 20

            [[perturbations]]
            kind = "shift"
            by = { attribute = "group", train = "majority", test = "minority" }
        "#;
        let f: File = toml::from_str(text).unwrap();
        assert_eq!(
            f.perturbations,
            [
                noise(0.2, NoiseMode::Random, Target::Support),
                Perturbation::Shots { k: 3 },
                Perturbation::FeatureNoise { rate: 1.0, mode: FeatureMode::Missing, side: Side::Both },
                attack(50, vec![3, 17, 42], 20),
                shift("majority", "minority"),
            ]
        );
        // The manifest's resolved form round-trips.
        let back: File = toml::from_str(&toml::to_string(&f).unwrap()).unwrap();
        assert_eq!(back, f);

        let err = |t: &str| crate::suite::one_line(&toml::from_str::<File>(t).unwrap_err().to_string());
        let e = err("[[perturbations]]\nkind = \"label-noise\"\nrate = 0.2\nmode = \"random\"\nrat = 1\n");
        assert!(e.contains("unknown field `rat`"), "{e}");
        let e = err("[[perturbations]]\nkind = \"shots\"\nk = 3\nside = \"user\"\n");
        assert!(e.contains("unknown field `side`"), "{e}");
        let e =
            err("[[perturbations]]\nkind = \"shift\"\nby = { attribute = \"group\", train = \"a\", tset = \"b\" }\n");
        assert!(e.contains("unknown field `tset`"), "{e}");
        let e = err("[[perturbations]]\nkind = \"label-noize\"\nrate = 0.2\n");
        assert!(e.contains("label-noize"), "{e}");
        let e = err("[[perturbations]]\nkind = \"label-noise\"\nrate = 0.2\nmode = \"gaussian\"\n");
        assert!(e.contains("gaussian"), "{e}");
    }

    #[test]
    fn names_are_stable_and_comma_free() {
        let ps = [
            (noise(0.2, NoiseMode::Random, Target::Support), "label-noise(random;0.2;support)"),
            (noise(1.0, NoiseMode::Shift, Target::MetaTrain), "label-noise(shift;1;meta-train)"),
            (Perturbation::Shots { k: 3 }, "shots(3)"),
            (
                Perturbation::FeatureNoise { rate: 0.5, mode: FeatureMode::Missing, side: Side::Both },
                "feature-noise(missing;0.5;both)",
            ),
            (
                Perturbation::FeatureNoise { rate: 0.05, mode: FeatureMode::Random, side: Side::Item },
                "feature-noise(random;0.05;item)",
            ),
            (attack(50, vec![3, 17, 42], 20), "shilling(50;targets=3@778e987a;filler=20;push)"),
            (shift("majority", "minority"), "shift(group:majority->minority)"),
            (
                Perturbation::Shift {
                    by: ShiftBy { attribute: "occupation".into(), train: "a,b".into(), test: "c\"d".into() },
                },
                "shift(occupation:a_b->c_d)",
            ),
        ];
        for (p, want) in &ps {
            assert_eq!(p.name(), *want);
            assert!(!p.name().contains(','));
        }
        assert_ne!(attack(50, vec![3, 17, 42], 20).name(), attack(50, vec![3, 17, 43], 20).name());
        let nuke = Perturbation::Shilling { profiles: 1, targets: vec![0], filler: 0, rating_max_for_targets: false };
        assert!(nuke.name().ends_with(";nuke)"));
        assert_eq!(label(&[]), "none");
        assert_eq!(
            label(&[Perturbation::Shots { k: 3 }, noise(1.0, NoiseMode::Random, Target::Support)]),
            "shots(3)+label-noise(random;1;support)"
        );
    }

    #[test]
    fn attack_metrics() {
        assert_eq!(prediction_shift(&[3.0, 2.0], &[4.0, 4.0]), Some(1.5));
        assert_eq!(prediction_shift(&[], &[]), None);
        let scores = vec![
            vec![(0, 4.0), (1, 3.0), (7, 3.5)], // target 7 is 2nd: a hit in the top 2
            vec![(0, 4.0), (1, 4.5), (7, 3.5)], // 3rd: a miss
            vec![(0, 3.0), (7, 3.0), (2, 1.0)], // tie with item 0: counts against it at n = 1
            vec![(0, 3.0)],                     // target not a candidate: skipped
        ];
        assert_eq!(hit_ratio(&scores, &[7], 2), Some(2.0 / 3.0));
        assert_eq!(hit_ratio(&scores, &[7], 1), Some(0.0));
        assert_eq!(hit_ratio(&scores, &[9], 1), None);
    }
}
