//! metarec-methods: the common [`Method`] trait, the registry, baselines and meta-learners.
//!
//! A method is built from validated hyper-parameters, meta-trained once on the meta-train users
//! ([`Method::meta_train`] gives a [`Model`]), adapted to each new user's support set
//! ([`Model::adapt`] gives an [`Adapted`] model) and asked for predictions on item ids
//! ([`Adapted::predict`]). The query labels never reach a method: only query item ids do.
//!
//! Invariants: nothing here reads files, the clock or a global random source; all randomness
//! comes from [`Ctx::rng`], all placement from [`Ctx::device`].

pub mod adam;
pub mod baselines;
pub mod early_stopping;
pub mod gradient;
pub mod jobs;
pub mod metric_based;
pub mod mtl;
pub mod nn;
pub mod params;
pub mod registry;
pub mod relu;
pub mod rows;
pub mod space;

use candle_core::Device;
use metarec_suites::{Features, History, Objectives, Rating, Rng, Task, Truth};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use registry::{MethodInfo, MethodKind, Registry};

/// Errors of methods; each names the method and the field or task concerned.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    #[error("unknown method `{name}` (known: {known})")]
    Unknown { name: String, known: String },
    #[error("method `{method}`: hyper-parameter {message}")]
    Params { method: String, message: String },
    #[error("method `{method}`: {reason}")]
    Unsupported { method: String, reason: String },
    #[error("method `{method}` diverged: {context}")]
    Diverged { method: String, context: String },
    #[error("method `{method}`: {context}: {source}")]
    Candle { method: String, context: String, source: candle_core::Error },
}

/// Result alias for methods.
pub type Result<T> = std::result::Result<T, MethodError>;

/// What a method gets from the outside world.
pub struct Ctx {
    /// The cell's generator, seeded from (suite, method, seed).
    pub rng: Rng,
    /// Where tensors live.
    pub device: Device,
}

/// Everything meta-training may see: meta-train users' ratings, meta-validation tasks (with
/// labels, for early stopping), the features of all users and items, the rating scale.
pub struct TrainData<'a> {
    pub features: &'a Arc<Features>,
    pub meta_train: &'a [History],
    pub validation: &'a [Task],
    pub rating_min: f32,
    pub rating_max: f32,
    /// The world's truth; `Some` only for synthetic suites, and read only by the `oracle`.
    pub truth: Option<&'a Truth>,
}

impl<'a> TrainData<'a> {
    /// The clean meta-training view of a materialised suite, as the runner gives it to a method
    /// that is not a reference (no truth).
    pub fn of(m: &'a metarec_suites::Materialized) -> TrainData<'a> {
        TrainData {
            features: &m.dataset.features,
            meta_train: &m.split.meta_train,
            validation: &m.split.validation,
            rating_min: m.dataset.rating_min,
            rating_max: m.dataset.rating_max,
            truth: None,
        }
    }
}

/// One new user's support set: what adaptation may see.
pub struct SupportSet<'a> {
    pub user: u32,
    pub support: &'a [Rating],
    pub features: &'a Features,
}

/// Point predictions for a list of items.
///
/// `mean` is the method's prediction of the rating (scored by RMSE, and by its order for
/// ranking metrics). A method that models the rating distribution may also give `median`,
/// which is then what MAE scores (the median minimises expected absolute error); otherwise MAE
/// scores `mean`.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub mean: Vec<f64>,
    pub median: Option<Vec<f64>>,
}

/// What meta-training reports, recorded in the manifest per cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainReport {
    /// Steps (or epochs) taken.
    pub steps: u64,
    /// The step chosen by early stopping on meta-validation users, if the method stops early.
    pub chosen_step: Option<u64>,
    /// The meta-validation loss at the chosen step.
    pub validation_loss: Option<f64>,
    /// Free-form facts worth keeping (e.g. the fitted global mean).
    pub notes: BTreeMap<String, String>,
}

/// A method under benchmark: a baseline, a reference or a meta-learner.
pub trait Method: Send + Sync {
    /// The registry name.
    fn name(&self) -> &str;
    /// The resolved hyper-parameters, as recorded in the manifest.
    fn params(&self) -> toml::Table;
    /// Meta-trains on the meta-train users.
    fn meta_train(&self, data: &TrainData<'_>, ctx: &mut Ctx) -> Result<Box<dyn Model>>;
    /// Meta-trains on a multi-objective suite. `labels` holds the objective labels of the
    /// meta-train histories and validation tasks only (the low-data objective's unseen labels
    /// are NaN). A single-objective method ignores them and trains on the main objective (the
    /// rating), which is this default.
    fn meta_train_objectives(
        &self,
        data: &TrainData<'_>,
        labels: &Objectives,
        ctx: &mut Ctx,
    ) -> Result<Box<dyn Model>> {
        let _ = labels;
        self.meta_train(data, ctx)
    }
}

/// A meta-trained model.
pub trait Model: Send + Sync {
    /// Adapts to one new user's support set (which may be empty).
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>>;
    /// Adapts on a multi-objective suite: `labels[j]` are the objective labels of
    /// `task.support[j]` (NaN where unseen). Default: ignores them.
    fn adapt_objectives<'m>(
        &'m self,
        task: &SupportSet<'_>,
        labels: &[Vec<f32>],
        ctx: &mut Ctx,
    ) -> Result<Box<dyn Adapted + 'm>> {
        let _ = labels;
        self.adapt(task, ctx)
    }
    /// What meta-training did.
    fn report(&self) -> TrainReport {
        TrainReport::default()
    }
}

/// A model adapted to one user.
pub trait Adapted {
    /// Predicts the user's ratings of `items`.
    fn predict(&self, items: &[u32]) -> Result<Predictions>;
    /// Multi-objective methods: one prediction list per objective of the suite, in its order
    /// (a probability for a binary objective). `None` (the default): a single-objective method,
    /// scored on the main objective through [`Adapted::predict`].
    fn predict_objectives(&self, items: &[u32]) -> Result<Option<Vec<Vec<f64>>>> {
        let _ = items;
        Ok(None)
    }
}
