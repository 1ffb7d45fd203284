//! Gradient-based meta-learners: MAML (second and first order), MeLU, Meta-SGD, Reptile, and
//! Meta-LSTM (a learned update rule, [`meta_lstm`]).
//!
//! They share one learner: the feature network of [`crate::nn::NetShape`] run through the
//! batched functional forward and hand-written backward of [`functional`], one inner loop
//! ([`Learner::adapt_batch`]), episode sampling from meta-train users, early stopping on
//! meta-validation users, and test-time adaptation. The files `maml.rs`, `meta_sgd.rs` and
//! `reptile.rs` hold what differs: hyper-parameters and the outer update.
//!
//! Inner loop (Finn et al. 2017, eq. 1): `theta'_t = theta - a * grad L_t(theta)` for `k`
//! steps on task `t`'s support set, on the decision layers (`adapt = "decision"`, as MeLU) or
//! on every parameter including the embedding tables (`adapt = "all"`).

pub mod functional;
pub mod maml;
pub mod meta_lstm;
pub mod meta_sgd;
pub mod reptile;
pub mod tape;
pub mod taped;

use crate::adam::Adam;
use crate::early_stopping::EarlyStopping;
use crate::nn::{self, NetShape};
use crate::params;
use crate::registry::{MethodInfo, MethodKind};
use crate::space::Dim;
use crate::{Adapted, Ctx, MethodError, Model, Predictions, Result, SupportSet, TrainData, TrainReport};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use functional::{Deltas, Rows};
use metarec_suites::{Features, History, Rating, Rng, Task};
use std::sync::Arc;

/// The gradient-based methods' registry entries.
pub fn infos() -> Vec<MethodInfo> {
    vec![
        MethodInfo {
            name: "maml",
            kind: MethodKind::MetaLearner,
            summary: "MAML with the exact second-order meta-gradient (Finn et al. 2017).",
            build: maml::build_maml,
            default_run: true,
        },
        MethodInfo {
            name: "fomaml",
            kind: MethodKind::MetaLearner,
            summary: "First-order MAML: the inner gradient is not differentiated (Finn et al. 2017, sec. 5.2).",
            build: maml::build_fomaml,
            default_run: true,
        },
        MethodInfo {
            name: "melu",
            kind: MethodKind::MetaLearner,
            summary: "MeLU (Lee et al. 2019): MAML with local updates on the decision layers only.",
            build: maml::build_melu,
            default_run: true,
        },
        MethodInfo {
            name: "melu-5",
            kind: MethodKind::MetaLearner,
            summary: "MeLU-5 (Lee et al. 2019, Table 2): MeLU with five local updates.",
            build: maml::build_melu5,
            default_run: false,
        },
        MethodInfo {
            name: "meta-sgd",
            kind: MethodKind::MetaLearner,
            summary: "Meta-SGD (Li et al. 2017): MAML with learned per-parameter inner learning rates.",
            build: meta_sgd::build,
            default_run: true,
        },
        MethodInfo {
            name: "reptile",
            kind: MethodKind::MetaLearner,
            summary: "Reptile (Nichol et al. 2018): k inner steps, then move towards the adapted weights.",
            build: reptile::build,
            default_run: true,
        },
        MethodInfo {
            name: "meta-lstm",
            kind: MethodKind::MetaLearner,
            summary: "Meta-LSTM (Ravi & Larochelle 2017): a coordinate-wise LSTM learns the update rule and the initialisation.",
            build: meta_lstm::build,
            default_run: true,
        },
    ]
}

/// Which parameters the inner loop adapts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdaptLayers {
    /// Every parameter: embedding tables and dense layers.
    All,
    /// The dense (decision) layers only; embeddings change only in the outer loop (MeLU).
    Decision,
}

/// The tuner's search space of MAML, FOMAML, MeLU and Meta-SGD (see [`crate::space`]): the
/// two learning rates. MeLU's published rates (5e-6, 5e-5) lie below it: within this suite's
/// step budget they leave the network nearly untrained (see `suites/synthetic.toml`).
pub const SPACE: &[Dim] = &[
    Dim::Real { key: "inner_lr", lo: 1e-3, hi: 0.5, log: true },
    Dim::Real { key: "outer_lr", lo: 1e-4, hi: 1e-2, log: true },
];

/// Hyper-parameters every gradient-based method has.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CommonParams {
    pub embed_dim: usize,
    pub hidden: Vec<usize>,
    pub adapt: AdaptLayers,
    pub inner_lr: f64,
    pub inner_steps: usize,
    pub meta_batch: usize,
    pub outer_lr: f64,
    pub meta_steps: usize,
    pub eval_every: usize,
    pub patience: usize,
    pub support: usize,
    pub query: usize,
}

impl Default for CommonParams {
    fn default() -> Self {
        CommonParams {
            embed_dim: 32,
            hidden: vec![64, 64],
            adapt: AdaptLayers::All,
            inner_lr: 0.05,
            inner_steps: 1,
            meta_batch: 32,
            outer_lr: 1e-3,
            meta_steps: 1500,
            eval_every: 100,
            patience: 4,
            support: 10,
            query: 10,
        }
    }
}

impl params::Check for CommonParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::at_least("embed_dim", self.embed_dim, 1)?;
        if let Some(w) = self.hidden.iter().find(|w| **w == 0) {
            return Err(("hidden", format!("layer widths must be at least 1, got {w}")));
        }
        params::positive("inner_lr", self.inner_lr)?;
        params::at_least("inner_steps", self.inner_steps, 1)?;
        params::at_least("meta_batch", self.meta_batch, 1)?;
        params::positive("outer_lr", self.outer_lr)?;
        params::at_least("meta_steps", self.meta_steps, 1)?;
        params::at_least("eval_every", self.eval_every, 1)?;
        params::at_least("patience", self.patience, 1)?;
        params::at_least("support", self.support, 1)?;
        params::at_least("query", self.query, 1)
    }
}

/// The outer update rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outer {
    /// MAML: Adam on the query loss after adaptation; `first_order` detaches the inner gradient.
    Maml { first_order: bool },
    /// Meta-SGD: as second-order MAML, with learned per-parameter inner rates.
    MetaSgd,
    /// Reptile: `theta += epsilon * mean_t(phi_t - theta)` after `inner_steps` steps on the
    /// task's support and query rows; inner SGD or Adam.
    Reptile { epsilon: f64, inner_adam: bool },
}

/// A configured gradient-based method.
pub struct GradientMethod {
    pub name: &'static str,
    pub common: CommonParams,
    pub outer: Outer,
    pub table: toml::Table,
}

impl GradientMethod {
    fn candle<T>(&self, what: &str, r: candle_core::Result<T>) -> Result<T> {
        r.map_err(|source| MethodError::Candle { method: self.name.into(), context: what.into(), source })
    }
}

/// The network's parameters and, for Meta-SGD, the inner rates.
pub struct Learner {
    pub shape: NetShape,
    pub adapt: AdaptLayers,
    pub inner_lr: f64,
    pub first_order: bool,
    pub theta: Vec<Tensor>,
    /// Meta-SGD's per-parameter rates, same layout as `theta` (tables used only with `All`).
    pub rates: Option<Vec<Tensor>>,
}

/// The result of adapting a batch of tasks.
pub struct Adaptation {
    pub deltas: Deltas,
    /// Predictions of the query rows, `[T, n_q]`, when query rows were given.
    pub query_pred: Option<Tensor>,
    /// Explicit per-table deltas (for `T = 1` test-time adaptation with `All`).
    pub table_deltas: Option<Vec<Tensor>>,
}

impl Learner {
    fn n_tables(&self) -> usize {
        self.shape.user_vocab.len() + self.shape.item_vocab.len()
    }

    /// Runs `steps` inner steps on `support` and predicts `query` (if given) with the fast
    /// weights. Second order unless `first_order`: every op is differentiable in `theta`.
    pub fn adapt_batch(
        &self,
        support: &Rows,
        query: Option<&Rows>,
        steps: usize,
        explicit_tables: bool,
    ) -> candle_core::Result<Adaptation> {
        let nt = self.n_tables();
        let (tables, dense) = self.theta.split_at(nt);
        let e = self.shape.embed_dim;
        let n_layers = dense.len() / 2;
        let dtype = dense[0].dtype();
        let device = dense[0].device().clone();
        let emb_s0 = functional::embed(tables, support)?;
        let emb_q0 = query.map(|q| functional::embed(tables, q)).transpose()?;
        let all = self.adapt == AdaptLayers::All;
        let m_ss =
            if all && steps > 1 { Some(functional::match_matrices(support, support, dtype, &device)?) } else { None };
        let m_qs = match (all, query) {
            (true, Some(q)) => Some(functional::match_matrices(q, support, dtype, &device)?),
            _ => None,
        };
        // Meta-SGD rates of the tables, looked up at the support rows.
        let rate_rows = match (&self.rates, all) {
            (Some(r), true) => Some(functional::embed(&r[..nt], support)?),
            _ => None,
        };
        let scale = if self.rates.is_some() { 1.0 } else { self.inner_lr };
        // Plain SGD steps keep a layer's weight delta as low-rank factors where they are the
        // cheaper form (see `functional::Deltas`); Meta-SGD's per-weight rates need it dense.
        let low_rank: Vec<bool> = self
            .shape
            .layers()
            .iter()
            .map(|(d, o)| self.rates.is_none() && Deltas::low_rank_pays(steps, support.n, *d, *o))
            .collect();
        let no_dense_w = vec![false; n_layers];
        let mut deltas = Deltas::zeros(n_layers);
        let mut table_deltas: Option<Vec<Tensor>> = None;
        let mut ge_sum: Option<Tensor> = None;
        for step in 0..steps {
            let emb_s = match &deltas.emb_support {
                Some(d) => (&emb_s0 + d)?,
                None => emb_s0.clone(),
            };
            let (y, cache) = functional::forward(dense, &deltas, &emb_s, support.numeric.as_ref())?;
            let g = functional::backward_parts(dense, &deltas, &cache, &y, &support.target, scale, &no_dense_w)?;
            let fix = |t: Tensor| if self.first_order { t.detach() } else { t };
            for l in 0..n_layers {
                let mut gb = fix(g.b[l].clone());
                if let Some(r) = &self.rates {
                    gb = nn::mul_bcast(&gb, &r[nt + 2 * l + 1])?;
                }
                // The step's change of W_l is h^T (-dz) (the rate already in dz): negated on
                // the small dz, not on the [T, d_in, d_out] product.
                let neg_dz = g.dz[l].neg()?;
                if low_rank[l] {
                    deltas.push_factor(l, fix(cache.h[l].clone()), fix(neg_dz))?;
                } else {
                    let mut change = fix(cache.h[l].transpose(1, 2)?.matmul(&neg_dz)?);
                    if let Some(r) = &self.rates {
                        change = nn::mul_bcast(&change, &r[nt + 2 * l])?;
                    }
                    deltas.w[l] = Some(match &deltas.w[l] {
                        Some(d) => (d + change)?,
                        None => change,
                    });
                }
                deltas.b[l] = Some(match &deltas.b[l] {
                    Some(d) => (d - gb)?,
                    None => gb.neg()?,
                });
            }
            if all {
                let mut ge = fix(g.emb.narrow(2, 0, nt * e)?);
                if let Some(r) = &rate_rows {
                    ge = (ge * r)?;
                }
                if step + 1 < steps {
                    let m = m_ss.as_ref().expect("built when steps > 1");
                    deltas.emb_support = Some(functional::embedding_step(deltas.emb_support.as_ref(), m, &ge, e)?);
                }
                if m_qs.is_some() {
                    // The query rows' update is linear in the steps' gradients: one embedding
                    // step with their sum after the loop, M (g_1 + .. + g_K).
                    ge_sum = Some(match ge_sum.take() {
                        Some(sum) => (sum + &ge)?,
                        None => ge.clone(),
                    });
                }
                if explicit_tables {
                    let rows = ge.reshape((support.t * support.n, nt * e))?;
                    let mut out = Vec::with_capacity(nt);
                    for (f, table) in tables.iter().enumerate() {
                        let prev = match &table_deltas {
                            Some(t) => t[f].clone(),
                            None => table.zeros_like()?,
                        };
                        let src = rows.narrow(1, f * e, e)?.contiguous()?;
                        out.push(prev.index_add(&support.idx[f], &src.neg()?, 0)?);
                    }
                    table_deltas = Some(out);
                }
            }
        }
        if let (Some(m), Some(g)) = (&m_qs, &ge_sum) {
            deltas.emb_query = Some(functional::embedding_step(None, m, g, e)?);
        }
        let query_pred = match (query, emb_q0) {
            (Some(q), Some(emb_q0)) => {
                let emb_q = match &deltas.emb_query {
                    Some(d) => (&emb_q0 + d)?,
                    None => emb_q0,
                };
                Some(functional::forward(dense, &deltas, &emb_q, q.numeric.as_ref())?.0)
            }
            _ => None,
        };
        Ok(Adaptation { deltas, query_pred, table_deltas })
    }
}

/// The outer loss and gradient of a meta-batch: the mean query loss over all tasks after
/// `steps` inner steps, and its gradient with respect to `vars`.
///
/// The tasks are cut into fixed parts, each adapted, scored and differentiated on its own
/// rayon task when called on a rayon pool (in parallel when the pool has a second thread; the
/// runner runs a cell with spare cores on one), one after the other otherwise, and
/// the parts' losses and gradients are combined weighted by their tasks ([`in_parts`]). The cut
/// does not depend on the thread count, so neither do results.
///
/// On the CPU (MAML, first-order MAML, MeLU, Meta-SGD) the gradient is recorded on the lean tape
/// of [`taped`], in parts of at most [`taped_part`] tasks; on a GPU through candle's autograd in
/// two halves, [`meta_batch_gradient_autograd`]. The two agree to rounding (`gradient::tests`).
pub fn meta_batch_gradient(
    learner: &Learner,
    support: &Rows,
    query: &Rows,
    steps: usize,
    vars: &[Var],
) -> candle_core::Result<(f64, candle_core::backprop::GradStore)> {
    let (loss, g) = meta_batch_gradient_parts(learner, support, query, steps, vars)?;
    Ok((loss, g.into_store()?))
}

/// [`meta_batch_gradient`] with the taped parts' gradients left unsummed ([`MetaGradient`]), for
/// an optimiser that sums them inside its own pass ([`Adam::step_meta`]).
pub fn meta_batch_gradient_parts(
    learner: &Learner,
    support: &Rows,
    query: &Rows,
    steps: usize,
    vars: &[Var],
) -> candle_core::Result<(f64, MetaGradient)> {
    // The variables must be theta and then the rates, if any, as the tape returns them.
    let params: Vec<&Tensor> = learner.theta.iter().chain(learner.rates.iter().flatten()).collect();
    let taped = learner.theta.first().is_some_and(|t| t.device().is_cpu())
        && vars.len() == params.len()
        && vars.iter().zip(&params).all(|(v, t)| v.as_tensor().id() == t.id());
    match learner.theta[0].dtype() {
        DType::F32 if taped => {
            let (loss, parts) = taped_parts::<f32>(learner, &params, support, query, steps)?;
            Ok((loss, MetaGradient::F32(Parts { parts, vars: vars.to_vec() })))
        }
        DType::F64 if taped => {
            let (loss, parts) = taped_parts::<f64>(learner, &params, support, query, steps)?;
            Ok((loss, MetaGradient::F64(Parts { parts, vars: vars.to_vec() })))
        }
        _ => {
            let (loss, store) = meta_batch_gradient_autograd(learner, support, query, steps, vars)?;
            Ok((loss, MetaGradient::Store(store)))
        }
    }
}

/// The outer gradient of a meta-batch: candle's gradient store (autograd, any device), or the
/// taped parts' gradients with their weights, whose sum `w_0 g_0 + w_1 g_1 + ...` (in that
/// order, per element) is the gradient. [`MetaGradient::into_store`] makes the sum;
/// [`Adam::step_meta`] makes it chunk by chunk inside its update, the same bits without the
/// summed gradient's pass through memory.
pub enum MetaGradient {
    Store(candle_core::backprop::GradStore),
    F32(Parts<f32>),
    F64(Parts<f64>),
}

/// The parts of a [`MetaGradient`]: per part its weight (its share of the tasks) and its
/// gradient, one buffer per variable of `vars`, in order.
pub struct Parts<T> {
    pub parts: Weighted<T>,
    pub vars: Vec<Var>,
}

/// Per part, its weight and its gradient (one buffer per variable).
pub type Weighted<T> = Vec<(T, Vec<Vec<T>>)>;

/// The sum of a [`MetaGradient`]'s parts, `w_0 g_0 + w_1 g_1 + ...` per element in that order,
/// wherever it is made: `out` holds `w_0 g_0`, and the later parts are added to it.
fn add_weighted<'g, T: tape::Real>(out: &mut [T], rest: impl Iterator<Item = (T, &'g [T])>) {
    for (w, g) in rest {
        out.iter_mut().zip(g).for_each(|(x, b)| *x = *x + *b * w);
    }
}

impl<T: tape::Real> Parts<T> {
    /// Elements `at .. at + len` of variable `v`'s summed gradient, appended to `out` (which
    /// need not be initialised memory: no zeroing before the first part is written).
    pub fn sum_to(&self, v: usize, at: usize, len: usize, out: &mut Vec<T>) {
        let (w0, g0) = &self.parts[0];
        let start = out.len();
        out.extend(g0[v][at..at + len].iter().map(|g| *g * *w0));
        add_weighted(&mut out[start..], self.parts[1..].iter().map(|(w, g)| (*w, &g[v][at..])));
    }
}

impl MetaGradient {
    /// The summed gradient as candle's store.
    pub fn into_store(self) -> candle_core::Result<candle_core::backprop::GradStore> {
        match self {
            MetaGradient::Store(s) => Ok(s),
            MetaGradient::F32(p) => p.into_store(),
            MetaGradient::F64(p) => p.into_store(),
        }
    }
}

impl<T: tape::Real + candle_core::WithDType> Parts<T> {
    fn into_store(self) -> candle_core::Result<candle_core::backprop::GradStore> {
        // candle makes no empty gradient store: this one holds only a constant's own gradient,
        // which no optimiser looks up, beside the parameters' inserted below.
        let mut store = Tensor::zeros((), DType::F32, &Device::Cpu)?.backward()?;
        // Per variable, the sum in the first part's buffer, in chunks that the pool's threads
        // share (`crate::jobs`).
        let mut parts = self.parts.into_iter();
        let (w0, mut sums) = parts.next().expect("at least one part");
        let rest: Weighted<T> = parts.collect();
        let chunk = crate::jobs::CHUNK;
        let jobs: Vec<(usize, usize, &mut [T])> = sums
            .iter_mut()
            .enumerate()
            .flat_map(|(v, sum)| sum.chunks_mut(chunk).enumerate().map(move |(c, x)| (v, c * chunk, x)))
            .collect();
        crate::jobs::run(jobs, |(v, at, xs)| {
            xs.iter_mut().for_each(|x| *x *= w0);
            add_weighted(xs, rest.iter().map(|(w, g)| (*w, &g[v][at..])));
        });
        for (v, sum) in self.vars.iter().zip(sums) {
            store.insert(v.as_tensor(), Tensor::from_vec(sum, v.shape(), &Device::Cpu)?);
        }
        Ok(store)
    }
}

/// Runs `part` on `n_parts` fixed contiguous parts of the meta-batch's `t` tasks (sizes within
/// one of each other), and returns each part's weight (its share of the tasks) with its result,
/// in order. On a rayon pool the parts are split in two, recursively, and the two sides may run
/// at once; off a pool they run one after the other on this thread (`rayon::join` would hand
/// them to the global pool, whose one thread the cells of a grid would then queue for). The
/// parts do not depend on the thread count, so neither do results.
fn in_parts<R: Send>(
    t: usize,
    n_parts: usize,
    part: impl Fn(std::ops::Range<usize>) -> candle_core::Result<R> + Sync,
) -> candle_core::Result<Vec<(f64, R)>> {
    let n_parts = n_parts.clamp(1, t.max(1));
    let ranges: Vec<std::ops::Range<usize>> =
        (0..n_parts).map(|i| (i * t / n_parts)..((i + 1) * t / n_parts)).collect();
    fn run<R: Send>(
        ranges: &[std::ops::Range<usize>],
        part: &(impl Fn(std::ops::Range<usize>) -> candle_core::Result<R> + Sync),
        pooled: bool,
    ) -> Vec<candle_core::Result<R>> {
        if ranges.len() <= 1 || !pooled {
            return ranges.iter().map(|r| part(r.clone())).collect();
        }
        let (a, b) = ranges.split_at(ranges.len() / 2);
        let (mut x, y) = rayon::join(|| run(a, part, pooled), || run(b, part, pooled));
        x.extend(y);
        x
    }
    let results = run(&ranges, &part, rayon::current_thread_index().is_some());
    ranges.iter().zip(results).map(|(r, x)| Ok((r.len() as f64 / t.max(1) as f64, x?))).collect()
}

/// Tasks per part of a meta-batch on the lean tape: small enough that a part's values stay in
/// the core's caches (measured at the MeLU shape, ARCHITECTURE.md).
pub const TAPED_PART: usize = 8;

/// Tasks per part with more than [`TAPED_PART_STEPS`] inner steps, whose tape grows with every
/// step (at the MeLU shape a part of 8 tasks held 6.4 MB of values at five steps, measured
/// before the tape's in-place ops): half of [`TAPED_PART`] (measured at five steps,
/// ARCHITECTURE.md).
pub const TAPED_PART_DEEP: usize = 4;

/// The most inner steps with parts of [`TAPED_PART`] tasks.
pub const TAPED_PART_STEPS: usize = 2;

/// Tasks per part of the lean tape at `steps` inner steps.
pub fn taped_part(steps: usize) -> usize {
    if steps <= TAPED_PART_STEPS { TAPED_PART } else { TAPED_PART_DEEP }
}

/// [`meta_batch_gradient`] on the lean tape ([`taped::meta_gradient`]): the loss and each part's
/// gradient with its weight (its share of the tasks), to be summed in order
/// ([`Parts::sum_to`]), as [`meta_batch_gradient_autograd`] combines its halves.
/// `params` are the learner's theta then rates.
fn taped_parts<T: tape::Real + candle_core::WithDType>(
    learner: &Learner,
    params: &[&Tensor],
    support: &Rows,
    query: &Rows,
    steps: usize,
) -> candle_core::Result<(f64, Weighted<T>)> {
    // The parameters read in place from their storage (as `rows::with_data`, for all of them at
    // once: the read locks are held until the parts are done).
    let contiguous = params.iter().map(|t| t.contiguous()).collect::<candle_core::Result<Vec<_>>>()?;
    let guards: Vec<_> = contiguous.iter().map(|t| t.storage_and_layout()).collect();
    let params = guards
        .iter()
        .map(|(storage, layout)| crate::rows::host_elements::<T>(storage, layout, "taped_gradient"))
        .collect::<candle_core::Result<Vec<&[T]>>>()?;
    // Parts of at most `taped_part(steps)` tasks, and at least two (one per core of a cell with
    // spare cores) when there are two tasks.
    let n_parts = support.t.div_ceil(taped_part(steps)).max(2);
    // The weights' transposes once for every part's tape; the tapes read them and the
    // parameters in place.
    let transposes = taped::weight_transposes(learner, &params);
    let parts = in_parts(support.t, n_parts, |range| {
        let s = taped::host_rows::<T>(&support.tasks(range.clone())?)?;
        let q = taped::host_rows::<T>(&query.tasks(range)?)?;
        Ok(taped::meta_gradient_with(learner, &params, &transposes, &s, &q, steps))
    })?;
    let loss = parts.iter().map(|(w, (l, _))| w * l).sum();
    Ok((loss, parts.into_iter().map(|(w, (_, g))| (<T as tape::Real>::from_f64(w), g)).collect()))
}

/// [`meta_batch_gradient`] through candle's autograd: any device, dtype and inner rule.
pub fn meta_batch_gradient_autograd(
    learner: &Learner,
    support: &Rows,
    query: &Rows,
    steps: usize,
    vars: &[Var],
) -> candle_core::Result<(f64, candle_core::backprop::GradStore)> {
    let t = support.t;
    let half = |range: std::ops::Range<usize>| -> candle_core::Result<(f64, candle_core::backprop::GradStore)> {
        let (s, q) = (support.tasks(range.clone())?, query.tasks(range)?);
        let a = learner.adapt_batch(&s, Some(&q), steps, false)?;
        let loss = functional::mse(&a.query_pred.expect("query given"), &q.target)?;
        Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, loss.backward()?))
    };
    let parts = in_parts(t, 2, half)?;
    // Per variable, the halves' gradients weighted by their tasks, summed in order; the first
    // half's store (candle makes no empty one) then holds the sums.
    let loss = parts.iter().map(|(w, (l, _))| w * l).sum();
    let mut sums = Vec::with_capacity(vars.len());
    for v in vars {
        let mut sum: Option<Tensor> = None;
        for (w, (_, g)) in &parts {
            if let Some(gv) = g.get(v) {
                let gv = (gv * *w)?;
                sum = Some(match sum {
                    Some(prev) => (prev + gv)?,
                    None => gv,
                });
            }
        }
        sums.push(sum);
    }
    let (_, (_, mut grads)) = parts.into_iter().next().expect("at least one part");
    for (v, sum) in vars.iter().zip(sums) {
        grads.remove(v);
        if let Some(sum) = sum {
            grads.insert(v, sum);
        }
    }
    Ok((loss, grads))
}

/// Builds [`Rows`] from tasks of equal length: `ratings[t]` are task `t`'s rows.
pub fn rows(features: &Features, tasks: &[&[Rating]], dtype: DType, device: &Device) -> candle_core::Result<Rows> {
    let t = tasks.len();
    let n = tasks.first().map(|x| x.len()).unwrap_or(0);
    debug_assert!(tasks.iter().all(|x| x.len() == n));
    let s = &features.schema;
    let flat: Vec<&Rating> = tasks.iter().flat_map(|x| x.iter()).collect();
    let mut idx_host = Vec::new();
    for k in 0..s.user_fields.len() {
        idx_host.push(flat.iter().map(|r| features.user_cat(r.user)[k]).collect::<Vec<u32>>());
    }
    for k in 0..s.item_fields.len() {
        idx_host.push(flat.iter().map(|r| features.item_cat(r.item)[k]).collect::<Vec<u32>>());
    }
    let idx =
        idx_host.iter().map(|v| Tensor::from_vec(v.clone(), t * n, device)).collect::<candle_core::Result<Vec<_>>>()?;
    let m = s.item_numeric.len();
    let numeric = if m == 0 {
        None
    } else {
        let v: Vec<f32> = flat.iter().flat_map(|r| features.item_num(r.item).iter().copied()).collect();
        Some(Tensor::from_vec(v, (t, n, m), device)?.to_dtype(dtype)?)
    };
    let target =
        Tensor::from_vec(flat.iter().map(|r| r.value).collect::<Vec<f32>>(), (t, n), device)?.to_dtype(dtype)?;
    Ok(Rows { idx, idx_host, numeric, target, t, n })
}

/// Samples a meta-batch of episodes: `T` distinct users with at least `support + query`
/// ratings, each split at random into a support and a query set.
fn sample_episodes(eligible: &[&History], c: &CommonParams, rng: &mut Rng) -> (Vec<Vec<Rating>>, Vec<Vec<Rating>>) {
    let users = rng.sample_indices(eligible.len(), c.meta_batch.min(eligible.len()));
    let mut sup = Vec::with_capacity(users.len());
    let mut qry = Vec::with_capacity(users.len());
    for u in users {
        let h = eligible[u];
        let idx = rng.sample_indices(h.ratings.len(), c.support + c.query);
        sup.push(idx[..c.support].iter().map(|i| h.ratings[*i]).collect());
        qry.push(idx[c.support..].iter().map(|i| h.ratings[*i]).collect());
    }
    (sup, qry)
}

/// Validation RMSE after adaptation, over every query rating of every validation task (see
/// [`grouped_query_rmse`]); a task with an empty support set is scored without adaptation, as at
/// test time.
fn validation_rmse(
    learner: &Learner,
    features: &Features,
    tasks: &[Task],
    steps: usize,
    reptile: Option<&(CommonParams, bool)>,
    device: &Device,
) -> candle_core::Result<Option<f64>> {
    grouped_query_rmse(features, tasks, learner.theta[0].dtype(), device, usize::MAX, |support, query| {
        match (support, reptile) {
            (None, _) => unadapted(&learner.theta, learner.n_tables(), query),
            (Some(s), None) => Ok(learner.adapt_batch(s, Some(query), steps, false)?.query_pred.expect("query given")),
            (Some(s), Some((c, adam))) => {
                let inner = reptile::inner_loop(&learner.shape, &learner.theta, s, c, *adam)?;
                reptile::predict_rows(&learner.shape, &learner.theta, &inner, query)
            }
        }
    })
}

/// RMSE over every query rating of `tasks`, for protocols whose support and query sizes vary per
/// user (`support_rest`): tasks with a query set are grouped by (support size, query size), each
/// group predicted in batches of at most `chunk` tasks by `predict(support, query)` (`support` is
/// `None` for an empty support set), and the squared errors of all query ratings pooled.
pub(crate) fn grouped_query_rmse(
    features: &Features,
    tasks: &[Task],
    dtype: DType,
    device: &Device,
    chunk: usize,
    mut predict: impl FnMut(Option<&Rows>, &Rows) -> candle_core::Result<Tensor>,
) -> candle_core::Result<Option<f64>> {
    let mut groups: std::collections::BTreeMap<(usize, usize), Vec<&Task>> = Default::default();
    for t in tasks.iter().filter(|t| !t.query.is_empty()) {
        groups.entry((t.support.len(), t.query.len())).or_default().push(t);
    }
    let (mut sse, mut n) = (0.0f64, 0usize);
    for ((ks, kq), group) in groups {
        for part in group.chunks(chunk.max(1)) {
            let q: Vec<&[Rating]> = part.iter().map(|t| t.query.as_slice()).collect();
            let qr = rows(features, &q, dtype, device)?;
            let sr = if ks == 0 {
                None
            } else {
                let s: Vec<&[Rating]> = part.iter().map(|t| t.support.as_slice()).collect();
                Some(rows(features, &s, dtype, device)?)
            };
            let pred = predict(sr.as_ref(), &qr)?;
            sse += (pred - &qr.target)?.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            n += part.len() * kq;
        }
    }
    Ok((n > 0).then(|| (sse / n as f64).sqrt()))
}

/// Predictions of `query` with the meta-learned parameters, unadapted (an empty support set).
pub(crate) fn unadapted(theta: &[Tensor], n_tables: usize, query: &Rows) -> candle_core::Result<Tensor> {
    let (tables, dense) = theta.split_at(n_tables);
    let emb = functional::embed(tables, query)?;
    Ok(functional::forward(dense, &Deltas::zeros(dense.len() / 2), &emb, query.numeric.as_ref())?.0)
}

impl GradientMethod {
    /// Meta-trains: the shared loop of every gradient-based method.
    pub fn train(&self, data: &TrainData<'_>, ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        let c = &self.common;
        let dev = ctx.device.clone();
        let shape = NetShape::new(&data.features.schema, c.embed_dim, &c.hidden);
        let eligible: Vec<&History> =
            data.meta_train.iter().filter(|h| h.ratings.len() >= c.support + c.query).collect();
        if eligible.is_empty() {
            return Err(MethodError::Unsupported {
                method: self.name.into(),
                reason: format!("no meta-train user has support + query = {} ratings", c.support + c.query),
            });
        }
        let mu = super::baselines::global_mean_of(data.meta_train, data.rating_min, data.rating_max) as f32;
        let init = self.candle("init", shape.init(&mut ctx.rng, mu, &dev))?;
        let theta_vars: Vec<Var> = self.candle("init", nn::to_vars(&init))?;
        let rate_vars: Option<Vec<Var>> = match self.outer {
            Outer::MetaSgd => Some(
                self.candle(
                    "init rates",
                    init.iter()
                        .map(|t| Var::from_tensor(&t.ones_like()?.affine(c.inner_lr, 0.0)?))
                        .collect::<candle_core::Result<Vec<_>>>(),
                )?,
            ),
            _ => None,
        };
        let first_order = matches!(self.outer, Outer::Maml { first_order: true } | Outer::Reptile { .. });
        let learner_of = |theta: &[Var], rates: &Option<Vec<Var>>| Learner {
            shape: shape.clone(),
            adapt: c.adapt,
            inner_lr: c.inner_lr,
            first_order,
            theta: theta.iter().map(|v| v.as_tensor().clone()).collect(),
            rates: rates.as_ref().map(|r| r.iter().map(|v| v.as_tensor().clone()).collect()),
        };
        let mut all_vars = theta_vars.clone();
        if let Some(r) = &rate_vars {
            all_vars.extend(r.iter().cloned());
        }
        let outer_vars = all_vars.clone();
        let mut opt = self.candle(
            "optimizer",
            Adam::new(all_vars, ParamsAdamW { lr: c.outer_lr, weight_decay: 0.0, ..Default::default() }),
        )?;
        let snapshot =
            |theta: &[Var], rates: &Option<Vec<Var>>| -> candle_core::Result<(Vec<Tensor>, Option<Vec<Tensor>>)> {
                Ok((nn::snapshot(theta)?, rates.as_ref().map(|r| nn::snapshot(r)).transpose()?))
            };
        let reptile_cfg = match self.outer {
            Outer::Reptile { inner_adam, .. } => Some((c.clone(), inner_adam)),
            _ => None,
        };
        let validate = |theta: &[Var], rates: &Option<Vec<Var>>| {
            self.candle(
                "validation",
                validation_rmse(
                    &learner_of(theta, rates),
                    data.features,
                    data.validation,
                    c.inner_steps,
                    reptile_cfg.as_ref(),
                    &dev,
                ),
            )
        };
        let mut stopping = EarlyStopping::new(
            c.patience,
            0,
            validate(&theta_vars, &rate_vars)?,
            self.candle("snapshot", snapshot(&theta_vars, &rate_vars))?,
        );
        let mut steps_done = 0u64;
        for step in 1..=c.meta_steps as u64 {
            steps_done = step;
            let (sup, qry) = sample_episodes(&eligible, c, &mut ctx.rng);
            let loss = self.candle(
                "meta-train step",
                (|| -> candle_core::Result<f64> {
                    let s: Vec<&[Rating]> = sup.iter().map(|x| x.as_slice()).collect();
                    let q: Vec<&[Rating]> = qry.iter().map(|x| x.as_slice()).collect();
                    let dtype = init[0].dtype();
                    match self.outer {
                        Outer::Maml { .. } | Outer::MetaSgd => {
                            let (sr, qr) =
                                (rows(data.features, &s, dtype, &dev)?, rows(data.features, &q, dtype, &dev)?);
                            let (loss, grads) = meta_batch_gradient_parts(
                                &learner_of(&theta_vars, &rate_vars),
                                &sr,
                                &qr,
                                c.inner_steps,
                                &outer_vars,
                            )?;
                            opt.step_meta(grads)?;
                            Ok(loss)
                        }
                        Outer::Reptile { epsilon, inner_adam } => {
                            let both: Vec<Vec<Rating>> =
                                sup.iter().zip(&qry).map(|(a, b)| a.iter().chain(b).copied().collect()).collect();
                            let b: Vec<&[Rating]> = both.iter().map(|x| x.as_slice()).collect();
                            let r = rows(data.features, &b, dtype, &dev)?;
                            reptile::outer_step(&shape, &theta_vars, &r, c, epsilon, inner_adam)
                        }
                    }
                })(),
            )?;
            if !loss.is_finite() {
                return Err(MethodError::Diverged {
                    method: self.name.into(),
                    context: format!(
                        "meta-train loss is {loss} at step {step} (inner_lr = {}, outer_lr = {})",
                        c.inner_lr, c.outer_lr
                    ),
                });
            }
            if step % c.eval_every as u64 == 0 || step == c.meta_steps as u64 {
                let v = validate(&theta_vars, &rate_vars)?;
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    return Err(MethodError::Diverged {
                        method: self.name.into(),
                        context: format!("validation RMSE is {v} at step {step}"),
                    });
                }
                if stopping.observe(step, v, || self.candle("snapshot", snapshot(&theta_vars, &rate_vars)))? {
                    break;
                }
            }
        }
        let (chosen, validation_loss, (theta, rates)) = stopping.finish();
        let learner = Learner { shape, adapt: c.adapt, inner_lr: c.inner_lr, first_order: true, theta, rates };
        let report = TrainReport {
            steps: steps_done,
            chosen_step: Some(chosen),
            validation_loss,
            notes: [("unit".to_string(), "meta-step".to_string())].into(),
        };
        Ok(Box::new(Fitted {
            name: self.name,
            learner,
            steps: c.inner_steps,
            features: data.features.clone(),
            range: (data.rating_min, data.rating_max),
            report,
            reptile: reptile_cfg,
        }))
    }
}

/// A meta-trained gradient-based model.
struct Fitted {
    name: &'static str,
    learner: Learner,
    steps: usize,
    features: Arc<Features>,
    range: (f32, f32),
    report: TrainReport,
    /// Reptile adapts with its own inner loop (SGD or Adam) at test time too.
    reptile: Option<(CommonParams, bool)>,
}

impl Model for Fitted {
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        if task.support.is_empty() {
            return Ok(Box::new(self.for_user(task.user, None, ctx)));
        }
        let run = || -> candle_core::Result<Adaptation> {
            let dtype = self.learner.theta[0].dtype();
            let sr = rows(&self.features, &[task.support], dtype, &ctx.device)?;
            match &self.reptile {
                None => self.learner.adapt_batch(&sr, None, self.steps, true),
                Some((c, adam)) => {
                    let r = reptile::inner_loop(&self.learner.shape, &self.learner.theta, &sr, c, *adam)?;
                    Ok(Adaptation { deltas: r.deltas, query_pred: None, table_deltas: r.tables })
                }
            }
        };
        let a = run().map_err(|source| MethodError::Candle {
            method: self.name.into(),
            context: format!("adapting to user {}", task.user),
            source,
        })?;
        Ok(Box::new(self.for_user(task.user, Some(a), ctx)))
    }
    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

impl Fitted {
    fn for_user(&self, user: u32, deltas: Option<Adaptation>, ctx: &Ctx) -> ForUser<'_> {
        ForUser {
            name: self.name,
            theta: &self.learner.theta,
            n_tables: self.learner.n_tables(),
            features: &self.features,
            range: self.range,
            user,
            deltas,
            device: ctx.device.clone(),
        }
    }
}

/// One user's adapted network: `theta` (its first `n_tables` entries the embedding tables)
/// plus the user's deltas (`None`: `theta` itself).
struct ForUser<'m> {
    name: &'static str,
    theta: &'m [Tensor],
    n_tables: usize,
    features: &'m Features,
    range: (f32, f32),
    user: u32,
    deltas: Option<Adaptation>,
    device: Device,
}

impl Adapted for ForUser<'_> {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        let run = || -> candle_core::Result<Vec<f64>> {
            let dtype = self.theta[0].dtype();
            let ratings: Vec<Rating> = items.iter().map(|i| Rating { user: self.user, item: *i, value: 0.0 }).collect();
            let q = rows(self.features, &[&ratings], dtype, &self.device)?;
            let (tables, dense) = self.theta.split_at(self.n_tables);
            let (deltas, tables): (Deltas, Vec<Tensor>) = match &self.deltas {
                None => (Deltas::zeros(dense.len() / 2), tables.to_vec()),
                Some(a) => {
                    let t = match &a.table_deltas {
                        Some(td) => {
                            tables.iter().zip(td).map(|(t, d)| t + d).collect::<candle_core::Result<Vec<_>>>()?
                        }
                        None => tables.to_vec(),
                    };
                    (a.deltas.clone(), t)
                }
            };
            let emb = functional::embed(&tables, &q)?;
            let (y, _) = functional::forward(
                dense,
                &Deltas { emb_support: None, emb_query: None, ..deltas },
                &emb,
                q.numeric.as_ref(),
            )?;
            nn::to_ratings(&y.squeeze(0)?, self.range.0, self.range.1)
        };
        let mean = run().map_err(|source| MethodError::Candle {
            method: self.name.into(),
            context: format!("predicting for user {}", self.user),
            source,
        })?;
        Ok(Predictions { mean, median: None })
    }
}

#[cfg(test)]
mod tests;

pub mod reference;
