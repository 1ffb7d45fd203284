//! Metric-based meta-learners: `protonet`, `matchingnet` and `relationnet`, which share one
//! encoder, one episode sampler, one training loop and one way of turning a class
//! distribution into predictions. Only the *head* (how a query is compared with the support
//! set) differs; each method's file holds its head and its paper.
//!
//! # Shared encoder
//!
//! `f(u, i) = MLP([E_u1[x_u1], .., E_uF[x_uF], E_i1[x_i1], .., E_iG[x_iG], E_id[id(i)], x_num])`:
//! one embedding table per categorical field of users and items, an item-id table, and the
//! items' numeric features (the inputs of [`crate::nn`], built with [`Inputs`]), then dense
//! layers with ReLU and a linear output of width `out_dim`. The encoder embeds a (user context,
//! item) pair, so a support or query item is seen through its user's features.
//!
//! The item-id table (`item_id_dim` wide; `item_id_dim = 0` removes it and leaves the features
//! alone) has one row per item rated in meta-training and one shared *unseen* row used for every
//! other item, so new items (item-cold) are embedded from their features and the unseen row.
//! During training each (episode, item) row uses the unseen row with probability `id_dropout`
//! (drawn from [`Ctx::rng`]), so that row and the feature path are trained for items without an
//! id (the "dropout for cold start" idea of Volkovs et al., DropoutNet, NeurIPS 2017). Why the
//! ids: in the synthetic world item features explain only part of an item's bias and latent
//! vector (`item_feature_share`, item-bias noise; see `suites/src/synthetic.rs`), so an encoder
//! of features alone cannot see what distinguishes two items of one genre and year; on
//! meta-validation users the id table lowers every method's RMSE by about 0.03 (two seeds).
//! There is no user id: users are represented by their features and their support set.
//!
//! # Classes
//!
//! A rating is a class. With `classes = "levels"` the classes are the unit steps of the scale
//! from [`TrainData::rating_min`] to [`TrainData::rating_max`] (1..5 for the synthetic suite;
//! a rating is put in the class of its rounded offset from the minimum). With
//! `classes = "like-dislike"` there are two: dislike (`rating < like_threshold`) and like.
//! A class's *value* is the mean support rating of that class in the user's support set (for
//! levels and integer ratings, exactly the level). A class with no support rating is *absent*:
//! its probability is exactly 0 (it is masked, never given a zero prototype), so predictions
//! use only the classes the user has shown.
//!
//! # Predictions
//!
//! For every query item a head gives a distribution `p` over the present classes. `mean` is
//! the expected rating `sum_k p_k v_k` (scored by RMSE and ranked by nDCG) and `median` the
//! smallest class value `v_k` whose cumulative probability reaches 1/2 (scored by MAE; the
//! median minimises the expected absolute error).
//!
//! Fallbacks, so every user gets a finite prediction:
//! - **empty support set**: the meta-train rating prior: class frequencies of all meta-train
//!   ratings with the meta-train class means as values, so `mean` is the global meta-train
//!   mean and `median` the prior's median, for every item;
//! - **one rating** (or a support set of a single class): that class is the only present class,
//!   so it gets probability 1 and every item is predicted as that rating (mean = median). This
//!   falls out of the masking; no special case is needed.
//!
//! # Episodic training
//!
//! Each step samples `meta_batch` distinct meta-train users (from [`TrainData::meta_train`])
//! with more than `support` ratings, and from each user's history, without replacement, a
//! support set of `support` ratings and a query set of `min(query, n - support)` other ratings
//! (shorter query sets are padded with zero-weight rows). All sampling uses [`Ctx::rng`]. The
//! loss is on the query ratings (`loss`):
//! - `cross-entropy`: `-log p(y_q)` averaged over the query ratings whose class is
//!   present in the support set (a query of an absent class has probability 0 under every head,
//!   so it carries no gradient and is left out; with `like-dislike` this is rare);
//! - `expected-mse`: `(sum_k p_k v_k - y_q)^2` averaged over all query ratings;
//! - `both` (default): the sum of the two.
//!
//! Cross-entropy alone is the papers' objective; it treats rating levels as unordered labels.
//! Adding the expected-rating error tells the heads that classes are ordered. The default was
//! chosen on the synthetic suite's meta-validation users only (validation RMSE, seeds 0 and 1,
//! default settings otherwise):
//!
//! | method      | cross-entropy   | expected-mse    | both            |
//! |-------------|-----------------|-----------------|-----------------|
//! | protonet    | 0.9381 / 0.9426 | 0.9197 / 0.9341 | 0.9204 / 0.9322 |
//! | matchingnet | 0.9940 / 0.9993 | 0.9533 / 0.9554 | 0.9633 / 0.9597 |
//! | relationnet | 0.9591 / 0.9439 | 0.9463 / 0.9496 | 0.9442 / 0.9193 |
//!
//! `both` is better than cross-entropy alone for every method and seed, and close to the best
//! of the three everywhere, so the three methods share it.
//!
//! Adam (no weight decay) updates the encoder and the head together. Every `eval_every` steps
//! (and before the first step) the model is adapted to each meta-validation user's support set
//! and scored on their query set, with exactly the code path of test users; the score is the
//! RMSE of the expected rating. The parameters of the best evaluation are kept; training stops
//! after `patience` evaluations without improvement or after `max_steps`. The chosen step and
//! its validation RMSE go into the [`TrainReport`]. A non-finite training loss or validation
//! score is [`MethodError::Diverged`].
//!
//! # Shared hyper-parameters
//!
//! | parameter        | default         | meaning                                               | valid |
//! |------------------|-----------------|-------------------------------------------------------|-------|
//! | `embed_dim`      | 8               | embedding width per categorical field                 | >= 1 |
//! | `hidden`         | [64]            | widths of the encoder's hidden ReLU layers            | each >= 1 |
//! | `out_dim`        | 32              | width of the encoder's output (the metric space)      | >= 1 |
//! | `support`        | 10              | support ratings per training episode (the protocol's K) | >= 1 |
//! | `query`          | 10              | query ratings per training episode                    | >= 1 |
//! | `meta_batch`     | 32              | episodes (users) per Adam step                        | >= 1 |
//! | `lr`             | 0.003           | Adam learning rate                                    | > 0 |
//! | `max_steps`      | 3000            | maximum Adam steps                                    | >= 1 |
//! | `eval_every`     | 100             | steps between meta-validation evaluations             | >= 1 |
//! | `patience`       | 5               | evaluations without improvement before stopping       | >= 1 |
//! | `classes`        | "levels"        | `"levels"` (one class per rating step) or `"like-dislike"` | either |
//! | `like_threshold` | 4.0             | ratings `>=` this are "like" (`like-dislike` only)    | finite; inside the scale at training |
//! | `loss`           | "both"          | `"cross-entropy"`, `"expected-mse"` or `"both"` on query ratings | one of these |
//! | `item_id_dim`    | 8               | width of the item-id embedding; 0 = features only     | >= 0 |
//! | `id_dropout`     | 0.2             | probability a training row uses the unseen-item row   | [0, 1) |
//!
//! Each method adds its own parameters (see its file).

pub mod matchingnet;
pub mod protonet;
pub mod relationnet;

use crate::adam::Adam;
use crate::early_stopping::EarlyStopping;
use crate::nn::Inputs;
use crate::params::{self, Check};
use crate::registry::{MethodInfo, MethodKind};
use crate::space::Dim;
use crate::{Adapted, Ctx, Method, MethodError, Model, Predictions, Result, SupportSet, TrainData, TrainReport};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use metarec_suites::{Features, History, Rating, Rng, Schema, Task};
use std::sync::Arc;

/// The metric-based meta-learners' registry entries, in leaderboard order.
pub fn infos() -> Vec<MethodInfo> {
    vec![
        MethodInfo {
            name: protonet::NAME,
            kind: MethodKind::MetaLearner,
            summary: "Prototypical Networks: rating classes as prototypes of support embeddings; softmax over distances.",
            build: protonet::build,
            default_run: true,
        },
        MethodInfo {
            name: matchingnet::NAME,
            kind: MethodKind::MetaLearner,
            summary: "Matching Networks: cosine attention over the support set gives a rating-class distribution.",
            build: matchingnet::build,
            default_run: true,
        },
        MethodInfo {
            name: relationnet::NAME,
            kind: MethodKind::MetaLearner,
            summary: "Relation Networks: a learned relation module scores a query against each class prototype.",
            build: relationnet::build,
            default_run: true,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// Hyper-parameters shared by the three methods.

/// How ratings become classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassKind {
    /// One class per unit step of the rating scale.
    Levels,
    /// Two classes: `rating < like_threshold` and `rating >= like_threshold`.
    LikeDislike,
}

/// The training loss on query ratings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Negative log-probability of the query's class (queries of absent classes left out).
    CrossEntropy,
    /// Squared error of the expected rating.
    ExpectedMse,
    /// The sum of the two.
    Both,
}

/// The tuner's search space of the three metric-based methods (see [`crate::space`]): the
/// rate, the item-id dropout, and the training loss (which the papers leave to the task).
pub const SPACE: &[Dim] = &[
    Dim::Real { key: "lr", lo: 3e-4, hi: 1e-2, log: true },
    Dim::Real { key: "id_dropout", lo: 0.0, hi: 0.5, log: false },
    Dim::Choice { key: "loss", options: &["cross-entropy", "expected-mse", "both"] },
];

/// Hyper-parameters every metric-based method has (parsed beside each method's own struct by
/// [`parse_params`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EpisodicParams {
    pub embed_dim: usize,
    pub hidden: Vec<usize>,
    pub out_dim: usize,
    pub support: usize,
    pub query: usize,
    pub meta_batch: usize,
    pub lr: f64,
    pub max_steps: usize,
    pub eval_every: usize,
    pub patience: usize,
    pub classes: ClassKind,
    pub like_threshold: f64,
    pub loss: Loss,
    pub item_id_dim: usize,
    pub id_dropout: f64,
}

impl Default for EpisodicParams {
    fn default() -> Self {
        EpisodicParams {
            embed_dim: 8,
            hidden: vec![64],
            out_dim: 32,
            support: 10,
            query: 10,
            meta_batch: 32,
            lr: 0.003,
            max_steps: 3000,
            eval_every: 100,
            patience: 5,
            classes: ClassKind::Levels,
            like_threshold: 4.0,
            loss: Loss::Both,
            item_id_dim: 8,
            id_dropout: 0.2,
        }
    }
}

impl Check for EpisodicParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::at_least("embed_dim", self.embed_dim, 1)?;
        check_widths("hidden", &self.hidden)?;
        params::at_least("out_dim", self.out_dim, 1)?;
        params::at_least("support", self.support, 1)?;
        params::at_least("query", self.query, 1)?;
        params::at_least("meta_batch", self.meta_batch, 1)?;
        params::positive("lr", self.lr)?;
        params::at_least("max_steps", self.max_steps, 1)?;
        params::at_least("eval_every", self.eval_every, 1)?;
        params::at_least("patience", self.patience, 1)?;
        if !self.like_threshold.is_finite() {
            return Err(("like_threshold", format!("must be finite, got {}", self.like_threshold)));
        }
        if !(0.0..1.0).contains(&self.id_dropout) {
            return Err(("id_dropout", format!("must be in [0, 1), got {}", self.id_dropout)));
        }
        Ok(())
    }
}

/// Parses a method's own hyper-parameters `P` and the shared [`EpisodicParams`] from one table
/// of overrides; returns both and the resolved table (the union, as the manifest records it).
///
/// The two structs are parsed separately rather than with `#[serde(flatten)]`, so that every
/// error (a wrong type, a bad enum value, an invalid number) names its field; an unknown key is
/// reported with every known key of the method.
pub(crate) fn parse_params<P>(method: &str, table: &toml::Table) -> Result<(EpisodicParams, P, toml::Table)>
where
    P: serde::de::DeserializeOwned + serde::Serialize + Default + Check,
{
    let shared_keys = params::to_table(&EpisodicParams::default());
    let own_keys = params::to_table(&P::default());
    let (mut shared, mut own) = (toml::Table::new(), toml::Table::new());
    for (key, value) in table {
        if shared_keys.contains_key(key) {
            shared.insert(key.clone(), value.clone());
        } else if own_keys.contains_key(key) {
            own.insert(key.clone(), value.clone());
        } else {
            let mut known: Vec<&str> = shared_keys.keys().chain(own_keys.keys()).map(String::as_str).collect();
            known.sort();
            return Err(MethodError::Params {
                method: method.to_string(),
                message: format!("`{key}`: unknown key (known: {})", known.join(", ")),
            });
        }
    }
    let e: EpisodicParams = params::parse(method, &shared)?;
    let p: P = params::parse(method, &own)?;
    let mut resolved = params::to_table(&e);
    resolved.extend(params::to_table(&p));
    Ok((e, p, resolved))
}

/// `Err` naming `field` if a layer width is 0.
pub(crate) fn check_widths(field: &'static str, widths: &[usize]) -> std::result::Result<(), (&'static str, String)> {
    match widths.iter().find(|w| **w == 0) {
        Some(w) => Err((field, format!("layer widths must be at least 1, got {w}"))),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Dense layers and the encoder.

/// Initial weights of dense layers `dims[0] -> dims[1] -> ..`: He-normal `N(0, 2/in)` for
/// layers followed by ReLU, `N(0, 1/in)` for the linear last one; biases 0.
fn init_mlp(dims: &[usize], rng: &mut Rng, dev: &Device) -> candle_core::Result<Vec<Tensor>> {
    let mut out = Vec::new();
    for (l, w) in dims.windows(2).enumerate() {
        let (i, o) = (w[0], w[1]);
        let gain = if l + 2 == dims.len() { 1.0 } else { 2.0 };
        out.push(normal_tensor(rng, (i, o), (gain / i as f64).sqrt(), dev)?);
        out.push(Tensor::zeros(o, DType::F32, dev)?);
    }
    Ok(out)
}

fn normal_tensor(rng: &mut Rng, shape: (usize, usize), sd: f64, dev: &Device) -> candle_core::Result<Tensor> {
    let v: Vec<f32> = (0..shape.0 * shape.1).map(|_| (sd * rng.normal()) as f32).collect();
    Tensor::from_vec(v, shape, dev)
}

/// Dense layers on the last dimension of `x` (`params = [W_0, b_0, ..]`, `W_l: [in, out]`),
/// ReLU between layers, linear output.
fn mlp(params: &[Tensor], x: &Tensor) -> candle_core::Result<Tensor> {
    let n = params.len() / 2;
    let mut h = x.clone();
    for l in 0..n {
        h = crate::nn::add_bcast(&crate::nn::rows_matmul(&h, &params[2 * l])?, &params[2 * l + 1])?;
        if l + 1 < n {
            h = crate::relu::relu(&h)?;
        }
    }
    Ok(h)
}

/// The shared encoder of (user context, item) pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoder {
    pub user_vocab: Vec<usize>,
    pub item_vocab: Vec<usize>,
    pub n_numeric: usize,
    pub embed_dim: usize,
    pub hidden: Vec<usize>,
    pub out_dim: usize,
    /// Rows of the item-id table (`n_items + 1`, the last one for unseen items), or 0 without.
    pub id_rows: usize,
    pub id_dim: usize,
}

impl Encoder {
    /// The encoder for a schema; `n_items > 0` and `id_dim > 0` add the item-id table.
    pub fn new(schema: &Schema, p: &EpisodicParams, n_items: usize) -> Encoder {
        let with_ids = p.item_id_dim > 0 && n_items > 0;
        Encoder {
            user_vocab: schema.user_fields.iter().map(|f| f.vocab).collect(),
            item_vocab: schema.item_fields.iter().map(|f| f.vocab).collect(),
            n_numeric: schema.item_numeric.len(),
            embed_dim: p.embed_dim,
            hidden: p.hidden.clone(),
            out_dim: p.out_dim,
            id_rows: if with_ids { n_items + 1 } else { 0 },
            id_dim: if with_ids { p.item_id_dim } else { 0 },
        }
    }

    /// Number of embedding tables (the item-id table included).
    fn n_tables(&self) -> usize {
        self.user_vocab.len() + self.item_vocab.len() + usize::from(self.id_rows > 0)
    }

    fn dims(&self) -> Vec<usize> {
        let fields = self.user_vocab.len() + self.item_vocab.len();
        let mut d = vec![fields * self.embed_dim + self.id_dim + self.n_numeric];
        d.extend(&self.hidden);
        d.push(self.out_dim);
        d
    }

    /// Number of parameter tensors: the tables, then `W, b` per dense layer.
    pub fn n_params(&self) -> usize {
        self.n_tables() + 2 * (self.hidden.len() + 1)
    }

    /// Initial parameters from our generator: embeddings `N(0, 0.1^2)`, dense layers as
    /// [`init_mlp`].
    pub fn init(&self, rng: &mut Rng, dev: &Device) -> candle_core::Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for v in self.user_vocab.iter().chain(&self.item_vocab) {
            out.push(normal_tensor(rng, (*v, self.embed_dim), 0.1, dev)?);
        }
        if self.id_rows > 0 {
            out.push(normal_tensor(rng, (self.id_rows, self.id_dim), 0.1, dev)?);
        }
        out.extend(init_mlp(&self.dims(), rng, dev)?);
        Ok(out)
    }

    /// Embeddings `[n, out_dim]` of the rows of `x`; `ids` are the rows of the item-id table
    /// (required when the encoder has one).
    pub fn forward(&self, params: &[Tensor], x: &Inputs, ids: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let fields = self.user_vocab.len() + self.item_vocab.len();
        let mut parts = Vec::with_capacity(fields + 2);
        for (table, idx) in params[..fields].iter().zip(x.user_idx.iter().chain(&x.item_idx)) {
            parts.push(table.index_select(idx, 0)?);
        }
        if self.id_rows > 0 {
            let ids = ids.ok_or_else(|| candle_core::Error::Msg("the encoder needs item-id rows".into()))?;
            parts.push(params[fields].index_select(ids, 0)?);
        }
        if let Some(num) = &x.numeric {
            parts.push(num.clone());
        }
        mlp(&params[self.n_tables()..], &Tensor::cat(&parts, 1)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Classes and the rating prior.

/// The map from ratings to classes, fixed at meta-training from the rating scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Classes {
    kind: ClassKind,
    min: f32,
    n: usize,
    threshold: f32,
}

impl Classes {
    /// Classes for a rating scale; `Err((field, message))` when the scale does not allow them.
    pub fn new(
        kind: ClassKind,
        rating_min: f32,
        rating_max: f32,
        like_threshold: f64,
    ) -> std::result::Result<Classes, (&'static str, String)> {
        if !(rating_min.is_finite() && rating_max.is_finite() && rating_max > rating_min) {
            return Err(("classes", format!("the rating scale [{rating_min}, {rating_max}] is empty")));
        }
        match kind {
            ClassKind::Levels => {
                let steps = f64::from(rating_max - rating_min).round();
                if steps > 100.0 {
                    return Err((
                        "classes",
                        format!("the scale [{rating_min}, {rating_max}] has more than 101 levels"),
                    ));
                }
                Ok(Classes { kind, min: rating_min, n: steps as usize + 1, threshold: f32::NAN })
            }
            ClassKind::LikeDislike => {
                let t = like_threshold as f32;
                if !(t > rating_min && t <= rating_max) {
                    return Err((
                        "like_threshold",
                        format!(
                            "{like_threshold} must lie in ({rating_min}, {rating_max}] so that both classes can occur"
                        ),
                    ));
                }
                Ok(Classes { kind, min: rating_min, n: 2, threshold: t })
            }
        }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false: there are at least two classes.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The class of a rating.
    pub fn of(&self, value: f32) -> usize {
        match self.kind {
            ClassKind::Levels => ((value - self.min).round().max(0.0) as usize).min(self.n - 1),
            ClassKind::LikeDislike => usize::from(value >= self.threshold),
        }
    }
}

/// Class counts and class means of a list of ratings: `(present, value)` per class, the value
/// being the mean rating of the class (0 for an absent class, which is never used).
fn class_stats(classes: &Classes, ratings: impl IntoIterator<Item = f32>) -> (Vec<f64>, Vec<f64>) {
    let mut count = vec![0f64; classes.len()];
    let mut sum = vec![0f64; classes.len()];
    for v in ratings {
        let c = classes.of(v);
        count[c] += 1.0;
        sum[c] += f64::from(v);
    }
    let value = sum.iter().zip(&count).map(|(s, n)| if *n > 0.0 { s / n } else { 0.0 }).collect();
    (count, value)
}

/// The empty-support fallback: class frequencies and class means of all meta-train ratings.
#[derive(Clone, Debug, PartialEq)]
pub struct Prior {
    pub probs: Vec<f64>,
    pub values: Vec<f64>,
}

impl Prior {
    fn fit(classes: &Classes, meta_train: &[History], rating_min: f32, rating_max: f32) -> Prior {
        let (count, mut values) =
            class_stats(classes, meta_train.iter().flat_map(|h| h.ratings.iter().map(|r| r.value)));
        let total: f64 = count.iter().sum();
        if total == 0.0 {
            // No meta-train ratings at all: the middle of the scale.
            let mid = 0.5 * f64::from(rating_min + rating_max);
            let mut probs = vec![0.0; classes.len()];
            let c = classes.of(mid as f32);
            probs[c] = 1.0;
            values[c] = mid;
            return Prior { probs, values };
        }
        Prior { probs: count.iter().map(|n| n / total).collect(), values }
    }
}

/// Expected value and median of a distribution over ordered classes. Classes with `present`
/// false get probability exactly 0; the rest are renormalised. The median is the smallest
/// class value with positive probability whose cumulative probability reaches 1/2 (the largest
/// such value if rounding keeps the sum below 1/2).
pub fn summarize(probs: &[f64], values: &[f64], present: &[bool]) -> (f64, f64) {
    let p: Vec<f64> = probs.iter().zip(present).map(|(p, ok)| if *ok { *p } else { 0.0 }).collect();
    let total: f64 = p.iter().sum();
    if !total.is_finite() || total <= 0.0 {
        // Only a diverged head gets here; NaN makes the runner fail the cell with the reason.
        return (f64::NAN, f64::NAN);
    }
    let mean = p.iter().zip(values).map(|(p, v)| p * v).sum::<f64>() / total;
    let mut acc = 0.0;
    let mut median = f64::NAN;
    for k in 0..p.len() {
        if p[k] <= 0.0 {
            // Absent, or present with no mass (e.g. an unrated level in the prior): never the
            // median, even when rounding leaves the cumulative sum a hair below 1/2.
            continue;
        }
        acc += p[k] / total;
        median = values[k];
        if acc >= 0.5 {
            break;
        }
    }
    (mean, median)
}

// ---------------------------------------------------------------------------------------------
// Episodes.

/// `T` tasks of `K` support and `Q` query ratings each, row-major, on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Episodes {
    pub t: usize,
    pub k: usize,
    pub q: usize,
    /// `T x K` support ratings.
    pub support: Vec<Rating>,
    /// `T x Q` query ratings (padding rows repeat a real query with weight 0).
    pub query: Vec<Rating>,
    /// `T x Q` query weights: 1 for a real query rating, 0 for padding.
    pub query_weight: Vec<f32>,
}

impl Episodes {
    /// Samples `meta_batch` episodes from distinct users among `eligible` (indices of histories
    /// with more than `support` ratings): support and query without replacement.
    pub fn sample(
        histories: &[History],
        eligible: &[usize],
        support: usize,
        query: usize,
        meta_batch: usize,
        rng: &mut Rng,
    ) -> Episodes {
        let users = rng.sample_indices(eligible.len(), meta_batch);
        let t = users.len();
        let mut ep =
            Episodes { t, k: support, q: query, support: Vec::new(), query: Vec::new(), query_weight: Vec::new() };
        for u in users {
            let ratings = &histories[eligible[u]].ratings;
            let q = query.min(ratings.len() - support);
            let idx = rng.sample_indices(ratings.len(), support + q);
            ep.support.extend(idx[..support].iter().map(|i| ratings[*i]));
            let real: Vec<Rating> = idx[support..].iter().map(|i| ratings[*i]).collect();
            ep.push_query(&real, query);
        }
        ep
    }

    /// Episodes of given tasks, which must all have `k` support ratings; query sets are padded
    /// to the longest.
    pub fn of_tasks(tasks: &[&Task], k: usize) -> Episodes {
        let q = tasks.iter().map(|t| t.query.len()).max().unwrap_or(0);
        let mut ep =
            Episodes { t: tasks.len(), k, q, support: Vec::new(), query: Vec::new(), query_weight: Vec::new() };
        for t in tasks {
            debug_assert_eq!(t.support.len(), k);
            ep.support.extend(&t.support);
            ep.push_query(&t.query, q);
        }
        ep
    }

    fn push_query(&mut self, real: &[Rating], q: usize) {
        for j in 0..q {
            match real.get(j) {
                Some(r) => {
                    self.query.push(*r);
                    self.query_weight.push(1.0);
                }
                None => {
                    self.query.push(real.first().copied().unwrap_or(self.support[self.support.len() - 1]));
                    self.query_weight.push(0.0);
                }
            }
        }
    }
}

/// What a head compares: support and query embeddings of `T` tasks with the support labels.
pub struct EpisodeTensors {
    /// `[T, K, D]` support embeddings.
    pub support: Tensor,
    /// `[T, K, C]` one-hot support classes.
    pub onehot: Tensor,
    /// `[T, C]` 1 for a class present in the task's support set, else 0.
    pub present: Tensor,
    /// `[T, Q, D]` query embeddings.
    pub query: Tensor,
}

/// Host-side labels of a batch of tasks' support sets.
struct SupportLabels {
    /// `T x K x C` one-hot.
    onehot: Vec<f32>,
    /// `T x C` presence.
    present: Vec<bool>,
    /// `T x C` class values (mean support rating per class).
    values: Vec<f64>,
}

fn support_labels(classes: &Classes, support: &[Rating], t: usize, k: usize) -> SupportLabels {
    let c = classes.len();
    let mut out = SupportLabels { onehot: vec![0.0; t * k * c], present: Vec::new(), values: Vec::new() };
    for task in 0..t {
        let rows = &support[task * k..(task + 1) * k];
        for (j, r) in rows.iter().enumerate() {
            out.onehot[(task * k + j) * c + classes.of(r.value)] = 1.0;
        }
        let (count, values) = class_stats(classes, rows.iter().map(|r| r.value));
        out.present.extend(count.iter().map(|n| *n > 0.0));
        out.values.extend(values);
    }
    out
}

/// Mean embedding per class (Snell et al. 2017, Eq. 1): `[T, C, D]` from support embeddings
/// `[T, K, D]` and one-hot labels `[T, K, C]`. An absent class's row is 0 and must be masked.
pub fn class_means(support: &Tensor, onehot: &Tensor) -> candle_core::Result<Tensor> {
    let counts = onehot.sum(1)?.clamp(1f32, f32::INFINITY)?; // [T, C]
    onehot.transpose(1, 2)?.contiguous()?.matmul(&support.contiguous()?)?.broadcast_div(&counts.unsqueeze(2)?)
}

/// Log-softmax over classes of `logits: [T, Q, C]` with absent classes (`present: [T, C]` = 0)
/// pushed to -1e30, so their probability underflows to exactly 0 and they get no gradient.
pub fn masked_log_softmax(logits: &Tensor, present: &Tensor) -> candle_core::Result<Tensor> {
    let penalty = ((present - 1.0)? * 1e30)?.unsqueeze(1)?; // [T, 1, C]: 0 or -1e30
    candle_nn::ops::log_softmax(&logits.broadcast_add(&penalty)?, D::Minus1)
}

/// A method's comparison of queries with a support set.
pub trait Head: Send + Sync + 'static {
    /// Initial head parameters for an encoder of output width `dim` (may be empty).
    fn init(&self, dim: usize, rng: &mut Rng, dev: &Device) -> candle_core::Result<Vec<Tensor>>;
    /// Class log-probabilities `[T, Q, C]` of the queries; absent classes must come out with
    /// probability 0 after `exp` (log-probability about -1e30).
    fn log_probs(&self, params: &[Tensor], ep: &EpisodeTensors) -> candle_core::Result<Tensor>;
}

// ---------------------------------------------------------------------------------------------
// The method, its training, its adapted model.

/// A metric-based method: the shared parameters plus a head.
pub struct MetricMethod<H> {
    name: &'static str,
    table: toml::Table,
    p: EpisodicParams,
    head: Arc<H>,
}

impl<H: Head> MetricMethod<H> {
    pub fn new(name: &'static str, table: toml::Table, p: EpisodicParams, head: H) -> MetricMethod<H> {
        MetricMethod { name, table, p, head: Arc::new(head) }
    }
}

/// `(RMSE of the expected rating, MAE of the median)` on meta-validation query sets.
type ValScore = (f64, f64);

/// Everything needed to embed and compare: shared by training, validation and prediction.
struct Net<H> {
    name: &'static str,
    encoder: Encoder,
    head: Arc<H>,
    classes: Classes,
    features: Arc<Features>,
    /// Per item: rated in meta-training, so its id row is trained (else the unseen row is used).
    seen: Vec<bool>,
}

impl<H: Head> Net<H> {
    /// Item-id table rows of `rows`' items: the item's own row if it was seen in meta-training,
    /// else the shared unseen row; with `dropout = (rng, p)` each row is replaced by the unseen
    /// row with probability `p` (training only). `None` without an item-id table.
    fn id_rows(
        &self,
        rows: &[Rating],
        dropout: Option<(&mut Rng, f64)>,
        dev: &Device,
    ) -> candle_core::Result<Option<Tensor>> {
        let unseen = match self.encoder.id_rows {
            0 => return Ok(None),
            n => (n - 1) as u32,
        };
        let mut ids: Vec<u32> = rows
            .iter()
            .map(|r| if self.seen.get(r.item as usize).copied().unwrap_or(false) { r.item } else { unseen })
            .collect();
        if let Some((rng, p)) = dropout {
            if p > 0.0 {
                for id in &mut ids {
                    if rng.uniform() < p {
                        *id = unseen;
                    }
                }
            }
        }
        let n = ids.len();
        Tensor::from_vec(ids, n, dev).map(Some)
    }

    fn candle<T>(&self, context: &str, r: candle_core::Result<T>) -> Result<T> {
        r.map_err(|source| MethodError::Candle { method: self.name.into(), context: context.into(), source })
    }

    /// Embeds the support and query rows of `ep` in one encoder pass and labels the support.
    fn tensors(
        &self,
        params: &[Tensor],
        ep: &Episodes,
        labels: &SupportLabels,
        dropout: Option<(&mut Rng, f64)>,
        dev: &Device,
    ) -> candle_core::Result<EpisodeTensors> {
        let (t, k, q, c) = (ep.t, ep.k, ep.q, self.classes.len());
        let rows: Vec<Rating> = ep.support.iter().chain(&ep.query).copied().collect();
        let x = Inputs::for_ratings(&self.features, &rows, dev)?;
        let ids = self.id_rows(&rows, dropout, dev)?;
        let emb = self.encoder.forward(&params[..self.encoder.n_params()], &x, ids.as_ref())?;
        let d = self.encoder.out_dim;
        let support = emb.narrow(0, 0, t * k)?.reshape((t, k, d))?;
        let query = emb.narrow(0, t * k, t * q)?.reshape((t, q, d))?;
        let onehot = Tensor::from_vec(labels.onehot.clone(), (t, k, c), dev)?;
        let present: Vec<f32> = labels.present.iter().map(|b| f32::from(u8::from(*b))).collect();
        let present = Tensor::from_vec(present, (t, c), dev)?;
        Ok(EpisodeTensors { support, onehot, present, query })
    }

    /// Class log-probabilities `[T, Q, C]` of the query rows of `ep`.
    fn log_probs(
        &self,
        params: &[Tensor],
        ep: &Episodes,
        labels: &SupportLabels,
        dropout: Option<(&mut Rng, f64)>,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let x = self.tensors(params, ep, labels, dropout, dev)?;
        self.head.log_probs(&params[self.encoder.n_params()..], &x)
    }

    /// The episodic loss of a batch, or `None` when no query rating counts.
    fn loss(
        &self,
        params: &[Tensor],
        ep: &Episodes,
        loss: Loss,
        dropout: (&mut Rng, f64),
        dev: &Device,
    ) -> candle_core::Result<Option<Tensor>> {
        let labels = support_labels(&self.classes, &ep.support, ep.t, ep.k);
        let logp = self.log_probs(params, ep, &labels, Some(dropout), dev)?; // [T, Q, C]
        match loss {
            Loss::CrossEntropy => self.cross_entropy(&logp, ep, &labels),
            Loss::ExpectedMse => self.expected_mse(&logp, ep, &labels).map(Some),
            Loss::Both => match self.cross_entropy(&logp, ep, &labels)? {
                Some(ce) => Ok(Some((ce + self.expected_mse(&logp, ep, &labels)?)?)),
                None => self.expected_mse(&logp, ep, &labels).map(Some),
            },
        }
    }

    /// Mean negative log-probability of the query ratings whose class is present in their
    /// support set (Snell et al. Eq. 2 / Vinyals et al. Eq. 1 trained by maximum likelihood);
    /// `None` when there is none.
    fn cross_entropy(
        &self,
        logp: &Tensor,
        ep: &Episodes,
        labels: &SupportLabels,
    ) -> candle_core::Result<Option<Tensor>> {
        let (t, q, c) = (ep.t, ep.q, self.classes.len());
        let mut target = vec![0f32; t * q * c];
        let mut total = 0f32;
        for (j, r) in ep.query.iter().enumerate() {
            let class = self.classes.of(r.value);
            if ep.query_weight[j] > 0.0 && labels.present[(j / q) * c + class] {
                target[j * c + class] = 1.0;
                total += 1.0;
            }
        }
        if total == 0.0 {
            return Ok(None);
        }
        let target = Tensor::from_vec(target, (t, q, c), logp.device())?;
        ((logp * target)?.sum_all()?.neg()? / f64::from(total)).map(Some)
    }

    /// Mean squared error of the expected rating over all (non-padding) query ratings.
    fn expected_mse(&self, logp: &Tensor, ep: &Episodes, labels: &SupportLabels) -> candle_core::Result<Tensor> {
        let (t, q, c) = (ep.t, ep.q, self.classes.len());
        let dev = logp.device();
        let values: Vec<f32> = labels.values.iter().map(|v| *v as f32).collect();
        let values = Tensor::from_vec(values, (t, 1, c), dev)?;
        let expected = logp.exp()?.broadcast_mul(&values)?.sum(2)?; // [T, Q]
        let y: Vec<f32> = ep.query.iter().map(|r| r.value).collect();
        let y = Tensor::from_vec(y, (t, q), dev)?;
        let w = Tensor::from_vec(ep.query_weight.clone(), (t, q), dev)?;
        let total: f32 = ep.query_weight.iter().sum();
        ((expected - y)?.sqr()? * w)?.sum_all()?.affine(1.0 / f64::from(total), 0.0)
    }

    /// `(mean, median)` for every query row of `ep` (padding rows included).
    fn predict_episodes(&self, params: &[Tensor], ep: &Episodes, dev: &Device) -> candle_core::Result<Vec<(f64, f64)>> {
        let labels = support_labels(&self.classes, &ep.support, ep.t, ep.k);
        let c = self.classes.len();
        let logp = self.log_probs(params, ep, &labels, None, dev)?;
        let logp = logp.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(ep.t * ep.q);
        for (j, row) in logp.chunks(c).enumerate() {
            let task = j / ep.q;
            let probs: Vec<f64> = row.iter().map(|l| f64::from(*l).exp()).collect();
            let present = &labels.present[task * c..(task + 1) * c];
            let values = &labels.values[task * c..(task + 1) * c];
            out.push(summarize(&probs, values, present));
        }
        Ok(out)
    }

    /// Validation RMSE of the expected rating and MAE of the median over the query sets of
    /// `tasks`, adapting on each task's support set exactly as for test users.
    fn validate(
        &self,
        params: &[Tensor],
        prior: &Prior,
        tasks: &[Task],
        dev: &Device,
    ) -> candle_core::Result<Option<ValScore>> {
        let mut by_k: std::collections::BTreeMap<usize, Vec<&Task>> = Default::default();
        for t in tasks.iter().filter(|t| !t.query.is_empty()) {
            by_k.entry(t.support.len()).or_default().push(t);
        }
        let (mut se, mut ae, mut n) = (0.0, 0.0, 0usize);
        let present = vec![true; prior.probs.len()];
        let (prior_mean, prior_median) = summarize(&prior.probs, &prior.values, &present);
        for (k, group) in by_k {
            let preds = if k == 0 {
                let q = group.iter().map(|t| t.query.len()).max().unwrap_or(0);
                vec![(prior_mean, prior_median); group.len() * q]
            } else {
                self.predict_episodes(params, &Episodes::of_tasks(&group, k), dev)?
            };
            let ep = Episodes::of_tasks(&group, k);
            for ((r, w), (mean, median)) in ep.query.iter().zip(&ep.query_weight).zip(preds) {
                if *w > 0.0 {
                    se += (mean - f64::from(r.value)).powi(2);
                    ae += (median - f64::from(r.value)).abs();
                    n += 1;
                }
            }
        }
        Ok((n > 0).then(|| ((se / n as f64).sqrt(), ae / n as f64)))
    }
}

/// One episodic training step at a time: what `meta_train` loops over, and what the criterion
/// bench times.
pub trait EpisodeStep {
    /// Samples a meta-batch of episodes from `rng` and takes one Adam step; returns the loss
    /// (`None` when no query rating counted and no step was taken).
    fn step(&mut self, rng: &mut Rng) -> Result<Option<f64>>;
}

struct Trainer<'a, H> {
    net: Net<H>,
    p: EpisodicParams,
    histories: &'a [History],
    eligible: Vec<usize>,
    vars: Vec<Var>,
    opt: Adam,
    device: Device,
    steps: u64,
}

impl<'a, H: Head> Trainer<'a, H> {
    fn new(m: &MetricMethod<H>, data: &TrainData<'a>, ctx: &mut Ctx) -> Result<Trainer<'a, H>> {
        let p = &m.p;
        let classes =
            Classes::new(p.classes, data.rating_min, data.rating_max, p.like_threshold).map_err(|(field, msg)| {
                MethodError::Unsupported { method: m.name.into(), reason: format!("hyper-parameter `{field}`: {msg}") }
            })?;
        let eligible: Vec<usize> =
            (0..data.meta_train.len()).filter(|i| data.meta_train[*i].ratings.len() > p.support).collect();
        if eligible.is_empty() {
            return Err(MethodError::Unsupported {
                method: m.name.into(),
                reason: format!(
                    "no meta-train user has more than `support` = {} ratings to form an episode",
                    p.support
                ),
            });
        }
        let n_items = data.features.n_items();
        let mut seen = vec![false; n_items];
        for r in data.meta_train.iter().flat_map(|h| &h.ratings) {
            seen[r.item as usize] = true;
        }
        let encoder = Encoder::new(&data.features.schema, p, n_items);
        let net = Net { name: m.name, encoder, head: m.head.clone(), classes, features: data.features.clone(), seen };
        let dev = ctx.device.clone();
        let init = net.candle(
            "init",
            (|| {
                let mut t = net.encoder.init(&mut ctx.rng, &dev)?;
                t.extend(net.head.init(net.encoder.out_dim, &mut ctx.rng, &dev)?);
                Ok(t)
            })(),
        )?;
        let vars = net.candle("init", init.iter().map(Var::from_tensor).collect::<candle_core::Result<Vec<Var>>>())?;
        let opt = net.candle(
            "optimizer",
            Adam::new(vars.clone(), ParamsAdamW { lr: p.lr, weight_decay: 0.0, ..Default::default() }),
        )?;
        Ok(Trainer { net, p: p.clone(), histories: data.meta_train, eligible, vars, opt, device: dev, steps: 0 })
    }

    fn params(&self) -> Vec<Tensor> {
        self.vars.iter().map(|v| v.as_tensor().clone()).collect()
    }

    fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.net.candle("snapshot", self.vars.iter().map(|v| v.as_tensor().detach().copy()).collect())
    }
}

impl<H: Head> EpisodeStep for Trainer<'_, H> {
    fn step(&mut self, rng: &mut Rng) -> Result<Option<f64>> {
        let p = &self.p;
        let ep = Episodes::sample(self.histories, &self.eligible, p.support, p.query, p.meta_batch, rng);
        self.steps += 1;
        let params = self.params();
        let loss =
            self.net.candle("episode loss", self.net.loss(&params, &ep, p.loss, (rng, p.id_dropout), &self.device))?;
        let Some(loss) = loss else { return Ok(None) };
        let value = self.net.candle("episode loss", loss.to_scalar::<f32>())?;
        if !value.is_finite() {
            return Err(MethodError::Diverged {
                method: self.net.name.into(),
                context: format!("training loss is {value} at step {} (lr = {})", self.steps, p.lr),
            });
        }
        self.net.candle("Adam step", self.opt.backward_step(&loss))?;
        Ok(Some(f64::from(value)))
    }
}

/// A trainer of the named metric-based method, for benches: `step` is exactly one iteration of
/// its `meta_train` loop (without the periodic validation).
pub fn episode_trainer<'a>(
    name: &str,
    table: &toml::Table,
    data: &TrainData<'a>,
    ctx: &mut Ctx,
) -> Result<Box<dyn EpisodeStep + 'a>> {
    Ok(match name {
        protonet::NAME => Box::new(Trainer::new(&protonet::method(table)?, data, ctx)?),
        matchingnet::NAME => Box::new(Trainer::new(&matchingnet::method(table)?, data, ctx)?),
        relationnet::NAME => Box::new(Trainer::new(&relationnet::method(table)?, data, ctx)?),
        _ => {
            return Err(MethodError::Unknown {
                name: name.into(),
                known: [protonet::NAME, matchingnet::NAME, relationnet::NAME].join(", "),
            });
        }
    })
}

impl<H: Head> Method for MetricMethod<H> {
    fn name(&self) -> &str {
        self.name
    }
    fn params(&self) -> toml::Table {
        self.table.clone()
    }
    fn meta_train(&self, data: &TrainData<'_>, ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        let mut tr = Trainer::new(self, data, ctx)?;
        let p = &self.p;
        let prior = Prior::fit(&tr.net.classes, data.meta_train, data.rating_min, data.rating_max);
        let mut rng = ctx.rng.fork("episodes");
        let evaluate = |tr: &Trainer<'_, H>, step: u64| -> Result<(Option<ValScore>, Vec<Tensor>)> {
            let now = tr.snapshot()?;
            let v = tr.net.candle("validation", tr.net.validate(&now, &prior, data.validation, &tr.device))?;
            if let Some((rmse, mae)) = v {
                if !(rmse.is_finite() && mae.is_finite()) {
                    return Err(MethodError::Diverged {
                        method: self.name.into(),
                        context: format!("validation RMSE {rmse}, MAE {mae} at step {step}"),
                    });
                }
            }
            Ok((v, now))
        };
        let (v0, now) = evaluate(&tr, 0)?;
        let mut curve = Vec::new();
        if let Some((rmse, _)) = v0 {
            curve.push(format!("0:{rmse:.4}"));
        }
        // Kept with the parameters: the validation MAE of the best evaluation.
        let mut stopping = EarlyStopping::new(p.patience, 0, v0.map(|v| v.0), (v0.map(|v| v.1), now));
        let mut skipped = 0u64;
        while (tr.steps as usize) < p.max_steps {
            if tr.step(&mut rng)?.is_none() {
                skipped += 1;
            }
            if tr.steps % p.eval_every as u64 == 0 || tr.steps as usize == p.max_steps {
                let (v, now) = evaluate(&tr, tr.steps)?;
                if let Some((rmse, _)) = v {
                    curve.push(format!("{}:{rmse:.4}", tr.steps));
                }
                // Without validation users the last parameters are kept.
                if stopping.observe(tr.steps, v.map(|v| v.0), || Ok::<_, MethodError>((v.map(|v| v.1), now)))? {
                    break;
                }
            }
        }
        let (chosen, validation_loss, (validation_mae, params)) = stopping.finish();
        let mut notes: std::collections::BTreeMap<String, String> = [
            ("unit".to_string(), "Adam step of meta_batch episodes".to_string()),
            ("validation_metric".to_string(), "rmse of the expected rating on validation query sets".to_string()),
        ]
        .into();
        if let Some(mae) = validation_mae {
            notes.insert("validation_mae".into(), format!("{mae:.6}"));
        }
        if !curve.is_empty() {
            notes.insert("validation_curve".into(), curve.join(" "));
        }
        if skipped > 0 {
            notes.insert("steps_without_countable_query".into(), skipped.to_string());
        }
        let report = TrainReport { steps: tr.steps, chosen_step: Some(chosen), validation_loss, notes };
        let Trainer { net, .. } = tr;
        Ok(Box::new(Fitted { net, params, prior, range: (data.rating_min, data.rating_max), report }))
    }
}

struct Fitted<H> {
    net: Net<H>,
    params: Vec<Tensor>,
    prior: Prior,
    range: (f32, f32),
    report: TrainReport,
}

impl<H: Head> Model for Fitted<H> {
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        Ok(Box::new(ForUser {
            fitted: self,
            user: task.user,
            support: task.support.to_vec(),
            device: ctx.device.clone(),
        }))
    }
    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

/// A model adapted to one user: the metric-based methods adapt by conditioning on the support
/// set, with no parameter update, so adapting keeps the support set and prediction compares.
struct ForUser<'m, H> {
    fitted: &'m Fitted<H>,
    user: u32,
    support: Vec<Rating>,
    device: Device,
}

impl<H: Head> Adapted for ForUser<'_, H> {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        let f = self.fitted;
        let (lo, hi) = (f64::from(f.range.0), f64::from(f.range.1));
        let pairs: Vec<(f64, f64)> = if items.is_empty() {
            Vec::new()
        } else if self.support.is_empty() {
            let present = vec![true; f.prior.probs.len()];
            vec![summarize(&f.prior.probs, &f.prior.values, &present); items.len()]
        } else {
            let query: Vec<Rating> =
                items.iter().map(|i| Rating { user: self.user, item: *i, value: f32::NAN }).collect();
            let ep = Episodes {
                t: 1,
                k: self.support.len(),
                q: items.len(),
                support: self.support.clone(),
                query,
                query_weight: vec![1.0; items.len()],
            };
            f.net.candle(
                &format!("predicting for user {}", self.user),
                f.net.predict_episodes(&f.params, &ep, &self.device),
            )?
        };
        // Values are class means of observed ratings, already inside the scale; the clamp only
        // guards against rounding at the ends.
        let mean = pairs.iter().map(|(m, _)| if m.is_nan() { *m } else { m.clamp(lo, hi) }).collect();
        let median = pairs.iter().map(|(_, m)| if m.is_nan() { *m } else { m.clamp(lo, hi) }).collect();
        Ok(Predictions { mean, median: Some(median) })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use metarec_suites::Field;

    /// A tiny world: 6 users x 8 items, 1 user field, 1 item field, 1 numeric feature.
    pub fn tiny_features() -> Arc<Features> {
        let schema = Schema {
            user_fields: vec![Field { name: "g".into(), vocab: 2 }],
            item_fields: vec![Field { name: "genre".into(), vocab: 3 }],
            item_numeric: vec!["x".into()],
        };
        Arc::new(Features {
            schema,
            user_cat: (0..6).map(|u| u % 2).collect(),
            item_cat: (0..8).map(|i| i % 3).collect(),
            item_num: (0..8).map(|i| i as f32 / 8.0 - 0.5).collect(),
            user_ids: (0..6).collect(),
            item_ids: (0..8).collect(),
        })
    }

    pub fn r(user: u32, item: u32, value: f32) -> Rating {
        Rating { user, item, value }
    }

    /// Histories of 4 users rating all 8 items, a validation task and the training data.
    pub fn tiny_histories() -> (Vec<History>, Vec<Task>) {
        let h = (0..4u32)
            .map(|u| History { user: u, ratings: (0..8u32).map(|i| r(u, i, (1 + (i + u) % 5) as f32)).collect() })
            .collect();
        let v = vec![Task {
            user: 4,
            support: (0..4).map(|i| r(4, i, (1 + i % 5) as f32)).collect(),
            query: (4..8).map(|i| r(4, i, (1 + i % 5) as f32)).collect(),
            pool: Vec::new(),
            negatives: Vec::new(),
        }];
        (h, v)
    }

    /// Tiny, fast shared parameters.
    pub fn tiny_table(extra: &[(&str, toml::Value)]) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("embed_dim".into(), 2.into());
        t.insert("hidden".into(), toml::Value::Array(vec![4.into()]));
        t.insert("out_dim".into(), 3.into());
        t.insert("support".into(), 4.into());
        t.insert("query".into(), 3.into());
        t.insert("meta_batch".into(), 2.into());
        t.insert("max_steps".into(), 6.into());
        t.insert("eval_every".into(), 2.into());
        for (k, v) in extra {
            t.insert((*k).into(), v.clone());
        }
        t
    }

    /// Meta-trains `name` on the tiny world and checks the behaviours every head must have:
    /// finite predictions for empty, single-rating and full support sets; one-class support
    /// predicts that class; invariance to the support order; a report with a chosen step.
    pub fn check_method_end_to_end(name: &str, extra: &[(&str, toml::Value)], order_invariant: bool) {
        let features = tiny_features();
        let (hist, val) = tiny_histories();
        let data = TrainData {
            features: &features,
            meta_train: &hist,
            validation: &val,
            rating_min: 1.0,
            rating_max: 5.0,
            truth: None,
        };
        let info = infos().into_iter().find(|i| i.name == name).unwrap();
        let method = (info.build)(&tiny_table(extra)).unwrap();
        let mut ctx = Ctx { rng: Rng::new(1), device: Device::Cpu };
        let model = method.meta_train(&data, &mut ctx).unwrap();
        let rep = model.report();
        assert!(rep.chosen_step.is_some() && rep.validation_loss.is_some_and(f64::is_finite), "{rep:?}");
        assert!(rep.steps >= 2 && rep.steps <= 6, "{rep:?}");
        let items = [0u32, 3, 5, 7];
        let predict = |support: &[Rating]| {
            let s = SupportSet { user: 5, support, features: &features };
            let mut ctx = Ctx { rng: Rng::new(0), device: Device::Cpu };
            model.adapt(&s, &mut ctx).unwrap().predict(&items).unwrap()
        };
        // Empty support: the prior (mean = meta-train global mean).
        let empty = predict(&[]);
        let mu = hist.iter().flat_map(|h| &h.ratings).map(|r| f64::from(r.value)).sum::<f64>() / 32.0;
        for m in &empty.mean {
            assert!((m - mu).abs() < 1e-9, "{m} vs {mu}");
        }
        assert!(empty.median.as_ref().unwrap().iter().all(|m| m.is_finite()));
        // One rating: that rating, for every item.
        let one = predict(&[r(5, 2, 4.0)]);
        assert_eq!(one.mean, vec![4.0; 4]);
        assert_eq!(one.median, Some(vec![4.0; 4]));
        // One class with several ratings: that class.
        let same = predict(&[r(5, 1, 2.0), r(5, 2, 2.0), r(5, 6, 2.0)]);
        assert_eq!(same.mean, vec![2.0; 4]);
        // A full support set: finite, inside the scale, never an absent class, order-invariant.
        let support = [r(5, 0, 1.0), r(5, 1, 2.0), r(5, 2, 2.0), r(5, 4, 5.0), r(5, 6, 4.0)];
        let a = predict(&support);
        let mut rev = support;
        rev.reverse();
        let b = predict(&rev);
        for (x, y) in a.mean.iter().zip(&b.mean) {
            assert!(x.is_finite() && (1.0..=5.0).contains(x), "{x}");
            assert!(!order_invariant || (x - y).abs() < 1e-5, "order changes the prediction: {x} vs {y}");
        }
        for m in a.median.as_ref().unwrap() {
            assert!([1.0, 2.0, 4.0, 5.0].contains(m), "median {m} is not a present class");
        }
        if order_invariant {
            assert_eq!(a.median, b.median);
        }
        // No items: no predictions.
        assert!(predict(&support[..1]).mean.len() == 4);
        let s = SupportSet { user: 5, support: &support, features: &features };
        assert!(model.adapt(&s, &mut ctx).unwrap().predict(&[]).unwrap().mean.is_empty());
    }

    /// A hand-made one-task episode with 2-d embeddings: support rows and their classes,
    /// query rows, `c` classes.
    pub fn hand_episode(support: &[[f32; 2]], classes: &[usize], query: &[[f32; 2]], c: usize) -> EpisodeTensors {
        let dev = Device::Cpu;
        let k = support.len();
        let mut onehot = vec![0f32; k * c];
        let mut present = vec![0f32; c];
        for (i, y) in classes.iter().enumerate() {
            onehot[i * c + y] = 1.0;
            present[*y] = 1.0;
        }
        EpisodeTensors {
            support: Tensor::from_vec(support.concat(), (1, k, 2), &dev).unwrap(),
            onehot: Tensor::from_vec(onehot, (1, k, c), &dev).unwrap(),
            present: Tensor::from_vec(present, (1, c), &dev).unwrap(),
            query: Tensor::from_vec(query.concat(), (1, query.len(), 2), &dev).unwrap(),
        }
    }

    /// Builds `name` from the tiny table plus `(key, value)` and returns the error text.
    pub fn param_error(name: &str, key: &str, value: toml::Value) -> String {
        let info = infos().into_iter().find(|i| i.name == name).unwrap();
        match (info.build)(&tiny_table(&[(key, value)])) {
            Ok(_) => panic!("{name}: `{key}` was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn class_means_are_the_prototypes_and_absent_classes_are_zero_rows() {
        let dev = Device::Cpu;
        // One task, K = 4, D = 2, C = 3: classes 0, 2, 0, 2; class 1 absent.
        let support = Tensor::new(&[[[1f32, 2.], [3., 4.], [5., 6.], [7., 9.]]], &dev).unwrap();
        let onehot = Tensor::new(&[[[1f32, 0., 0.], [0., 0., 1.], [1., 0., 0.], [0., 0., 1.]]], &dev).unwrap();
        let m = class_means(&support, &onehot).unwrap().to_vec3::<f32>().unwrap();
        assert_eq!(m[0], vec![vec![3.0, 4.0], vec![0.0, 0.0], vec![5.0, 6.5]]);
    }

    #[test]
    fn masked_log_softmax_gives_absent_classes_exactly_zero() {
        let dev = Device::Cpu;
        let logits = Tensor::new(&[[[5f32, 100., -3.], [0., 0., 0.]]], &dev).unwrap();
        let present = Tensor::new(&[[1f32, 0., 1.]], &dev).unwrap();
        let p = masked_log_softmax(&logits, &present).unwrap().exp().unwrap().to_vec3::<f32>().unwrap();
        for row in &p[0] {
            assert_eq!(row[1], 0.0);
            assert!((row[0] + row[2] - 1.0).abs() < 1e-6);
        }
        assert!((p[0][1][0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn summarize_masks_and_takes_the_median() {
        let values = [1.0, 2.0, 3.0, 4.0, 5.0];
        // The absent class (index 4) gets nothing even if the head gave it mass.
        let (mean, median) = summarize(&[0.1, 0.1, 0.1, 0.2, 0.5], &values, &[true, true, true, true, false]);
        assert!((mean - (0.1 + 0.2 + 0.3 + 0.8) / 0.5).abs() < 1e-12);
        assert_eq!(median, 3.0); // cumulative 0.2, 0.4, 0.6
        let (mean, median) = summarize(&[0.0, 0.0, 1.0, 0.0, 0.0], &values, &[false, false, true, false, false]);
        assert_eq!((mean, median), (3.0, 3.0));
    }

    #[test]
    fn the_median_never_lands_on_a_class_without_mass() {
        // Mass between empty classes of value 0 (as in a prior with unrated levels).
        let (_, median) = summarize(&[0.2, 0.2, 0.0, 0.6, 0.0], &[1.0, 2.0, 0.0, 4.0, 0.0], &[true; 5]);
        assert_eq!(median, 4.0);
        let prior = Prior { probs: vec![0.0, 0.3, 0.7, 0.0, 0.0], values: vec![0.0, 2.0, 3.0, 0.0, 0.0] };
        let (mean, median) = summarize(&prior.probs, &prior.values, &[true; 5]);
        assert!((mean - 2.7).abs() < 1e-12);
        assert_eq!(median, 3.0);
    }

    #[test]
    fn classes_cover_the_scale() {
        let c = Classes::new(ClassKind::Levels, 1.0, 5.0, 4.0).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!([1.0, 2.4, 2.6, 5.0, 7.0].map(|v| c.of(v)), [0, 1, 2, 4, 4]);
        let l = Classes::new(ClassKind::LikeDislike, 1.0, 5.0, 4.0).unwrap();
        assert_eq!([1.0, 3.9, 4.0, 5.0].map(|v| l.of(v)), [0, 0, 1, 1]);
        let e = Classes::new(ClassKind::LikeDislike, 1.0, 5.0, 6.0).unwrap_err();
        assert_eq!(e.0, "like_threshold");
    }

    #[test]
    fn episodes_are_disjoint_samples_of_distinct_users() {
        let (hist, _) = tiny_histories();
        let mut rng = Rng::new(3);
        let ep = Episodes::sample(&hist, &[0, 1, 2, 3], 5, 10, 3, &mut rng);
        assert_eq!((ep.t, ep.k, ep.q, ep.support.len(), ep.query.len()), (3, 5, 10, 15, 30));
        for t in 0..3 {
            let user = ep.support[t * 5].user;
            let mut items: Vec<u32> = ep.support[t * 5..(t + 1) * 5].iter().map(|r| r.item).collect();
            // 8 ratings: 5 support, 3 real queries, 7 padding rows of weight 0.
            let w = &ep.query_weight[t * 10..(t + 1) * 10];
            assert_eq!(w.iter().sum::<f32>(), 3.0);
            items.extend(ep.query[t * 10..t * 10 + 3].iter().map(|r| r.item));
            assert!(ep.query[t * 10..(t + 1) * 10].iter().all(|r| r.user == user));
            items.sort();
            items.dedup();
            assert_eq!(items.len(), 8);
        }
        let users: std::collections::BTreeSet<u32> = (0..3).map(|t| ep.support[t * 5].user).collect();
        assert_eq!(users.len(), 3);
    }

    #[test]
    fn shared_parameter_errors_name_the_field() {
        for (key, value) in [
            ("support", toml::Value::Integer(0)),
            ("support", toml::Value::String("ten".into())),
            ("lr", toml::Value::Float(-1.0)),
            ("hidden", toml::Value::Array(vec![0.into()])),
            ("out_dim", toml::Value::Integer(0)),
            ("classes", toml::Value::String("stars".into())),
            ("loss", toml::Value::String("hinge".into())),
            ("like_threshold", toml::Value::Float(f64::NAN)),
        ] {
            for name in [protonet::NAME, matchingnet::NAME, relationnet::NAME] {
                let e = param_error(name, key, value.clone());
                assert!(e.contains(&format!("`{key}`")), "{name}: {e}");
            }
        }
    }

    #[test]
    fn like_dislike_and_expected_mse_train_and_predict() {
        for name in [protonet::NAME, matchingnet::NAME, relationnet::NAME] {
            let features = tiny_features();
            let (hist, val) = tiny_histories();
            let data = TrainData {
                features: &features,
                meta_train: &hist,
                validation: &val,
                rating_min: 1.0,
                rating_max: 5.0,
                truth: None,
            };
            let table = tiny_table(&[("classes", "like-dislike".into()), ("loss", "expected-mse".into())]);
            let info = infos().into_iter().find(|i| i.name == name).unwrap();
            let model = (info.build)(&table)
                .unwrap()
                .meta_train(&data, &mut Ctx { rng: Rng::new(2), device: Device::Cpu })
                .unwrap();
            let support = [r(5, 0, 1.0), r(5, 1, 2.0), r(5, 4, 5.0), r(5, 6, 4.0)];
            let s = SupportSet { user: 5, support: &support, features: &features };
            let p =
                model.adapt(&s, &mut Ctx { rng: Rng::new(0), device: Device::Cpu }).unwrap().predict(&[2, 3]).unwrap();
            // Class values are the support means of dislike (1.5) and like (4.5).
            for (m, med) in p.mean.iter().zip(p.median.unwrap()) {
                assert!((1.5..=4.5).contains(m), "{name}: {m}");
                assert!(med == 1.5 || med == 4.5, "{name}: {med}");
            }
            // A threshold outside the scale is refused at training, naming the field.
            let bad = tiny_table(&[("classes", "like-dislike".into()), ("like_threshold", 9.0.into())]);
            let e = (info.build)(&bad).unwrap().meta_train(&data, &mut Ctx { rng: Rng::new(2), device: Device::Cpu });
            assert!(e.err().unwrap().to_string().contains("`like_threshold`"));
        }
    }

    #[test]
    fn unseen_items_share_the_unseen_id_row_and_dropout_uses_it() {
        let features = tiny_features();
        let (hist, _) = tiny_histories();
        // Only items 0..6 are rated in meta-training.
        let hist: Vec<History> = hist
            .into_iter()
            .map(|h| History { user: h.user, ratings: h.ratings.into_iter().filter(|r| r.item < 6).collect() })
            .collect();
        let data = TrainData {
            features: &features,
            meta_train: &hist,
            validation: &[],
            rating_min: 1.0,
            rating_max: 5.0,
            truth: None,
        };
        let m = protonet::method(&tiny_table(&[])).unwrap();
        let tr = Trainer::new(&m, &data, &mut Ctx { rng: Rng::new(0), device: Device::Cpu }).unwrap();
        assert_eq!(tr.net.encoder.id_rows, 9);
        let rows: Vec<Rating> = (0..8).map(|i| r(5, i, 3.0)).collect();
        let ids = |d: Option<(&mut Rng, f64)>| {
            tr.net.id_rows(&rows, d, &Device::Cpu).unwrap().unwrap().to_vec1::<u32>().unwrap()
        };
        assert_eq!(ids(None), vec![0, 1, 2, 3, 4, 5, 8, 8]);
        assert_eq!(ids(Some((&mut Rng::new(1), 0.0))), vec![0, 1, 2, 3, 4, 5, 8, 8]);
        let dropped = ids(Some((&mut Rng::new(1), 0.5)));
        assert!(dropped.iter().zip(0..).all(|(id, i)| *id == 8 || *id == i) && dropped.contains(&8));
        let none = protonet::method(&tiny_table(&[("item_id_dim", 0.into())])).unwrap();
        let tr = Trainer::new(&none, &data, &mut Ctx { rng: Rng::new(0), device: Device::Cpu }).unwrap();
        assert!(tr.net.id_rows(&rows, None, &Device::Cpu).unwrap().is_none());
    }

    #[test]
    fn a_huge_learning_rate_is_reported_as_divergence() {
        let features = tiny_features();
        let (hist, val) = tiny_histories();
        let data = TrainData {
            features: &features,
            meta_train: &hist,
            validation: &val,
            rating_min: 1.0,
            rating_max: 5.0,
            truth: None,
        };
        for name in [protonet::NAME, matchingnet::NAME, relationnet::NAME] {
            let info = infos().into_iter().find(|i| i.name == name).unwrap();
            // Cross-entropy: its log-probabilities overflow once the weights explode. (With the
            // default `both`, relationnet's bounded relation scores can stay finite at lr 1e30
            // for 50 steps: no NaN, so nothing to report.)
            let m = (info.build)(&tiny_table(&[
                ("lr", 1e30.into()),
                ("max_steps", 50.into()),
                ("loss", "cross-entropy".into()),
            ]))
            .unwrap();
            match m.meta_train(&data, &mut Ctx { rng: Rng::new(0), device: Device::Cpu }) {
                Err(MethodError::Diverged { method, .. }) => assert_eq!(method, name),
                Err(e) => panic!("{name}: {e}"),
                Ok(_) => panic!("{name}: lr = 1e30 did not diverge"),
            }
        }
    }

    #[test]
    fn training_is_deterministic_given_the_seed() {
        let features = tiny_features();
        let (hist, val) = tiny_histories();
        let data = TrainData {
            features: &features,
            meta_train: &hist,
            validation: &val,
            rating_min: 1.0,
            rating_max: 5.0,
            truth: None,
        };
        let run = |seed| {
            let m = protonet::build(&tiny_table(&[])).unwrap();
            let model = m.meta_train(&data, &mut Ctx { rng: Rng::new(seed), device: Device::Cpu }).unwrap();
            let support = [r(5, 0, 1.0), r(5, 1, 2.0), r(5, 4, 5.0)];
            let s = SupportSet { user: 5, support: &support, features: &features };
            model.adapt(&s, &mut Ctx { rng: Rng::new(0), device: Device::Cpu }).unwrap().predict(&[2, 3, 7]).unwrap()
        };
        assert_eq!(run(7), run(7));
    }
}
