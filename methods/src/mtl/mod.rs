//! Multi-task learning: one network predicts every objective of a multi-objective suite
//! ([`metarec_suites::objectives`]), with the parameter sharing of each scheme.
//!
//! Every scheme reads the same input, the concatenated field embeddings of [`crate::nn`]
//! (`x`, width `(user fields + item fields) * embed_dim + numeric`), runs a *bottom* of two
//! ReLU layers of width `hidden` and one *tower* per objective (`hidden -> tower -> 1`, ReLU
//! between). The schemes differ in what they share (one file each):
//!
//! | method         | sharing |
//! |----------------|---------|
//! | `mtl-single`   | none: one embedding, bottom and tower per objective (the reference) |
//! | `mtl-hard`     | embeddings and bottom shared, one tower per objective |
//! | `mtl-soft`     | as `mtl-single`, plus `lambda * sum_{t<t'} ||theta_t - theta_t'||^2` over corresponding embedding and bottom parameters |
//! | `cross-stitch` | as `mtl-single`, each bottom layer's outputs mixed across objectives by a learned `T x T` alpha |
//! | `mtl-hier`     | embeddings and first bottom layer shared (root), second per user group (the task tree's middle level), towers per objective |
//! | `mmoe`         | shared embeddings, `experts` bottoms, one softmax gate per objective over them |
//! | `ple`          | `levels` extraction layers of per-objective and shared experts with gates; the shared gate is skipped at the last level |
//!
//! **Initialisation** draws each parameter from a generator labelled by its *role*, not its
//! copy: every objective's bottom in `mtl-single` starts equal to `mtl-hard`'s shared bottom,
//! `mmoe`'s first expert too, `mtl-hier`'s group layers equal `mtl-hard`'s second layer. So the
//! identities of the issue hold exactly (`mtl-soft` with `lambda = 0` is `mtl-single`, one group
//! is `mtl-hard`, one expert is `mtl-hard`, identity alpha is `mtl-single`), given one seed.
//!
//! **Meta-training** (on meta-train users only): Adam on mini-batches of meta-train ratings;
//! each objective's loss (squared error for the rating and continuous objectives, binary
//! cross-entropy on the logit for binary ones) averages over the rows that carry its label
//! (the low-data objective's unseen labels are NaN and masked). The total is
//! `sum_t weight_t * L_t` (`weights`, default all 1), or, with `uncertainty = true`, Kendall et
//! al.'s (2018) weighting with a learned log-variance `s_t` per objective:
//! `sum_t exp(-s_t) L_t / 2 + s_t / 2` (regression), `exp(-s_t) L_t + s_t / 2` (binary).
//! Every `eval_every` steps the same weighted loss (fixed weights) on the meta-validation users'
//! query ratings, without adaptation, is the early-stopping criterion (`patience` evaluations).
//! Test users never reach training or selection: the runner passes the labels of meta-train
//! histories and validation tasks only.
//!
//! **Adaptation per cold user**: the meta-trained network is fine-tuned on the user's support
//! set (`adapt_steps` full-batch SGD steps at `adapt_lr`, fixed weights, every objective label
//! the support carries). By default every trainable parameter adapts (`adapt_scope =
//! "network"`): the user's field embeddings and the shared layers too, so what one
//! objective's support labels teach about the user reaches the other objectives through the
//! parameters they share (that is where sharing can pay per user: the low-data objective
//! has about `low_data_fraction` of a label per support rating). `mtl-soft`'s coupling applies
//! with SGD directions. `adapt_scope = "towers"` fine-tunes the towers only, the shared layers
//! stay as meta-trained. With an empty support set the meta-trained network predicts.
//!
//! Common hyper-parameters (each scheme adds its own). The bottom is narrow (`hidden = 8`) so
//! that a shared bottom must choose what it represents: on development worlds (the shipped
//! `mtl-*` suite files with data seeds 1018 and 2018, never a shipped suite's users; seeds 0-2,
//! user-cold) width 32 left `mtl-hard` no worse than `mtl-single` on the unrelated objective
//! (no capacity to compete for), width 4 cost `mtl-soft` its gain on the related one in one
//! world, and width 8 gave what the suite pair is built to show in both: gains on the related
//! low-data objective for `mtl-hard` and `mtl-soft`, negative transfer on the unrelated one
//! for `mtl-hard`.
//!
//! | parameter     | default | meaning | valid |
//! |---------------|---------|---------|-------|
//! | `embed_dim`   | 4       | embedding width per field | >= 1 |
//! | `hidden`      | 8       | width of the two bottom layers (and of every expert) | >= 1 |
//! | `tower`       | 16      | hidden width of each tower | >= 1 |
//! | `lr`          | 0.005   | Adam rate | > 0 |
//! | `batch_size`  | 256     | ratings per step | >= 1 |
//! | `steps`       | 2000    | maximum steps | >= 1 |
//! | `eval_every`  | 100     | steps between validation evaluations | >= 1 |
//! | `patience`    | 5       | evaluations without gain before stopping | >= 1 |
//! | `weights`     | []      | loss weight per objective, suite order (empty: all 1) | >= 0, one per objective |
//! | `uncertainty` | false   | learned uncertainty weighting instead of `weights` | |
//! | `adapt_steps` | 10      | fine-tuning steps on the support set | >= 0 |
//! | `adapt_lr`    | 0.01    | their SGD rate | > 0 |
//! | `adapt_scope` | network | what they fine-tune: `network` (every trainable parameter) or `towers` | one of the two |

pub mod cross_stitch;
pub mod hard;
pub mod hier;
pub mod mmoe;
pub mod ple;
pub mod single;
pub mod soft;

use crate::early_stopping::EarlyStopping;
use crate::nn::Inputs;
use crate::params::{self, Check};
use crate::registry::{MethodInfo, MethodKind};
use crate::{Adapted, Ctx, Method, MethodError, Model, Predictions, Result, SupportSet, TrainData, TrainReport};
use candle_core::{D, DType, Device, Tensor, Var};
use metarec_suites::{Features, ObjectiveKind, Objectives, Rating, Rng};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The registry entries (none in the default run: they need a multi-objective suite).
/// Whether `method` is one of the multi-task methods, which need a multi-objective suite (the
/// runner skips them elsewhere, with the reason).
pub fn needs_objectives(method: &str) -> bool {
    infos().iter().any(|i| i.name == method)
}

pub fn infos() -> Vec<MethodInfo> {
    let e = |name, summary, build| MethodInfo { name, kind: MethodKind::Baseline, summary, build, default_run: false };
    vec![
        e("mtl-single", "One network per objective: the reference of every transfer gain.", single::build),
        e("mtl-hard", "Hard sharing: shared embeddings and bottom, one tower per objective.", hard::build),
        e("mtl-soft", "Soft sharing: per-objective networks tied by an L2 penalty (lambda).", soft::build),
        e(
            "cross-stitch",
            "Cross-stitch networks (Misra et al. 2016): per-objective layers mixed by alpha.",
            cross_stitch::build,
        ),
        e("mtl-hier", "Hierarchical sharing along the user-group tree: root -> group -> objective.", hier::build),
        e("mmoe", "Multi-gate mixture of experts (Ma et al. 2018).", mmoe::build),
        e("ple", "Progressive layered extraction (Tang et al. 2020).", ple::build),
    ]
}

/// Hyper-parameters every scheme shares (flattened into each scheme's own).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Common {
    pub embed_dim: usize,
    pub hidden: usize,
    pub tower: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub steps: usize,
    pub eval_every: usize,
    pub patience: usize,
    pub weights: Vec<f64>,
    pub uncertainty: bool,
    pub adapt_steps: usize,
    pub adapt_lr: f64,
    pub adapt_scope: String,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            embed_dim: 4,
            hidden: 8,
            tower: 16,
            lr: 0.005,
            batch_size: 256,
            steps: 2000,
            eval_every: 100,
            patience: 5,
            weights: Vec::new(),
            uncertainty: false,
            adapt_steps: 10,
            adapt_lr: 0.01,
            adapt_scope: "network".into(),
        }
    }
}

impl Check for Common {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::at_least("embed_dim", self.embed_dim, 1)?;
        params::at_least("hidden", self.hidden, 1)?;
        params::at_least("tower", self.tower, 1)?;
        params::positive("lr", self.lr)?;
        params::at_least("batch_size", self.batch_size, 1)?;
        params::at_least("steps", self.steps, 1)?;
        params::at_least("eval_every", self.eval_every, 1)?;
        params::at_least("patience", self.patience, 1)?;
        for w in &self.weights {
            params::non_negative("weights", *w)?;
        }
        if !ADAPT_SCOPES.contains(&self.adapt_scope.as_str()) {
            return Err((
                "adapt_scope",
                format!("must be one of {}, got `{}`", ADAPT_SCOPES.join(", "), self.adapt_scope),
            ));
        }
        params::positive("adapt_lr", self.adapt_lr)
    }
}

/// What a cold user's support set fine-tunes: every trainable parameter, or the towers only.
pub const ADAPT_SCOPES: [&str; 2] = ["network", "towers"];

/// Sizes a scheme builds its parameters from.
#[derive(Clone, Debug)]
pub struct Dims {
    pub tables: Vec<usize>,
    pub n_user_fields: usize,
    pub n_numeric: usize,
    pub embed: usize,
    pub hidden: usize,
    pub tower: usize,
    /// Objectives, in suite order.
    pub kinds: Vec<ObjectiveKind>,
    pub n_groups: usize,
}

impl Dims {
    pub fn input(&self) -> usize {
        self.tables.len() * self.embed + self.n_numeric
    }
    pub fn n_obj(&self) -> usize {
        self.kinds.len()
    }
}

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `N(0, 0.1^2)` (embedding tables).
    Embedding,
    /// `N(0, gain / in)` for a `[in, out]` weight.
    Weight { gain: f64 },
    /// A constant.
    Constant(f64),
    /// A square cross-stitch matrix: `self_weight` on the diagonal, the rest of each row
    /// spread evenly over the other columns (rows sum to 1).
    Stitch(f64),
}

/// One parameter: its name, the role label its initial values are drawn from (copies of one
/// role start equal), its shape, its initialisation and whether it trains.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub role: String,
    pub shape: Vec<usize>,
    pub init: Init,
    pub trainable: bool,
}

impl Spec {
    pub fn new(name: impl Into<String>, role: impl Into<String>, shape: &[usize], init: Init) -> Spec {
        Spec { name: name.into(), role: role.into(), shape: shape.to_vec(), init, trainable: true }
    }
}

/// Parameters by name.
pub type P = BTreeMap<String, Tensor>;

/// The batch a forward pass reads.
pub struct Batch {
    pub inputs: Inputs,
    /// Per user group, a `[n, 1]` 0/1 mask of the rows whose user is in it.
    pub group_masks: Vec<Tensor>,
}

/// What differs between the schemes: their parameters, their forward pass and an optional
/// step after each optimiser step. Towers are the parameters whose name starts with `tower.`.
pub trait Scheme: Send + Sync {
    fn specs(&self, d: &Dims) -> Vec<Spec>;
    /// One output per objective, `[n]`: the prediction (rating, continuous) or the logit
    /// (binary).
    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>>;
    /// A step applied after each optimiser step with rate `lr` (`mtl-soft`'s proximal step).
    fn after_step(&self, _vars: &BTreeMap<String, Var>, _lr: f64) -> candle_core::Result<()> {
        Ok(())
    }
    /// Multiplier of the Adam rate of a parameter (cross-stitch's alpha may have its own).
    fn rate_scale(&self, _name: &str) -> f64 {
        1.0
    }
    /// Copies of one parameter tied by a coupling, as indices into `names` (the trainable
    /// parameters in order), and the share of each Adam step taken in their joint direction
    /// at rate `lr` (`mtl-soft`; see [`Coupling`]). `None`: no coupling.
    fn coupling(&self, _names: &[&str], _lr: f64) -> Option<Coupling> {
        None
    }
}

/// Tied copies of parameters and how much of each step they take together: copy `k` of group
/// `g` moves by `lr * ((1 - joint) * A_k + joint * A_g)`, where `A_k` is the copy's own Adam
/// direction (from its own gradient) and `A_g` the Adam direction of the group's summed
/// gradient (with its own moments). `joint = 0` is plain Adam on every copy, bit for bit;
/// `joint = 1` moves every copy by the one Adam step of a single shared parameter. Cold
/// adaptation (SGD) uses the same split with gradients in place of Adam directions.
#[derive(Clone, Debug, PartialEq)]
pub struct Coupling {
    pub groups: Vec<Vec<usize>>,
    pub joint: f64,
}

// ---- building blocks the schemes share ----

/// Embedding tables `{prefix}embed.{f}` (role `embed.{f}`).
pub fn embed_specs(prefix: &str, d: &Dims) -> Vec<Spec> {
    d.tables
        .iter()
        .enumerate()
        .map(|(f, v)| Spec::new(format!("{prefix}embed.{f}"), format!("embed.{f}"), &[*v, d.embed], Init::Embedding))
        .collect()
}

/// A dense layer `{name}.w`, `{name}.b` with role `{role}.w`, `{role}.b`.
pub fn dense_specs(name: &str, role: &str, i: usize, o: usize, gain: f64) -> Vec<Spec> {
    vec![
        Spec::new(format!("{name}.w"), format!("{role}.w"), &[i, o], Init::Weight { gain }),
        Spec::new(format!("{name}.b"), format!("{role}.b"), &[o], Init::Constant(0.0)),
    ]
}

/// The two bottom layers `{prefix}bottom.{0,1}` (roles `{role}bottom.{0,1}`).
pub fn bottom_specs(prefix: &str, role: &str, d: &Dims) -> Vec<Spec> {
    let mut s = dense_specs(&format!("{prefix}bottom.0"), &format!("{role}bottom.0"), d.input(), d.hidden, 2.0);
    s.extend(dense_specs(&format!("{prefix}bottom.1"), &format!("{role}bottom.1"), d.hidden, d.hidden, 2.0));
    s
}

/// A gate `{name}` (`[in, k]` weight and bias) for `k` experts.
pub fn gate_specs(name: &str, i: usize, k: usize) -> Vec<Spec> {
    dense_specs(name, name, i, k, 1.0)
}

/// `sum_e softmax(input W + b)[:, e] * experts[e]`.
pub fn gated(p: &P, gate: &str, input: &Tensor, experts: &[Tensor]) -> candle_core::Result<Tensor> {
    let g = candle_nn::ops::softmax(&dense(p, gate, input, false)?, D::Minus1)?;
    let mut out: Option<Tensor> = None;
    for (e, h) in experts.iter().enumerate() {
        let term = h.broadcast_mul(&g.narrow(1, e, 1)?)?;
        out = Some(match out {
            None => term,
            Some(a) => a.add(&term)?,
        });
    }
    Ok(out.expect("at least one expert"))
}

/// One tower per objective, `tower.{t}.{0,1}`; the output bias starts at `out_bias[t]` (set by
/// the trainer from the training labels).
pub fn tower_specs(d: &Dims) -> Vec<Spec> {
    let mut s = Vec::new();
    for t in 0..d.n_obj() {
        s.extend(dense_specs(&format!("tower.{t}.0"), &format!("tower.{t}.0"), d.hidden, d.tower, 2.0));
        s.extend(dense_specs(&format!("tower.{t}.1"), &format!("tower.{t}.1"), d.tower, 1, 1.0));
    }
    s
}

/// The concatenated embeddings and numeric features `[n, input]`.
pub fn embed(p: &P, prefix: &str, d: &Dims, x: &Inputs) -> candle_core::Result<Tensor> {
    let mut parts = Vec::with_capacity(d.tables.len() + 1);
    for (f, idx) in x.user_idx.iter().chain(&x.item_idx).enumerate() {
        parts.push(p[&format!("{prefix}embed.{f}")].index_select(idx, 0)?);
    }
    if let Some(num) = &x.numeric {
        parts.push(num.clone());
    }
    Tensor::cat(&parts, 1)
}

/// `h W + b`, then ReLU when `relu`.
pub fn dense(p: &P, name: &str, h: &Tensor, relu: bool) -> candle_core::Result<Tensor> {
    let y = h.matmul(&p[&format!("{name}.w")])?.broadcast_add(&p[&format!("{name}.b")])?;
    if relu { crate::relu::relu(&y) } else { Ok(y) }
}

/// The two bottom layers.
pub fn bottom(p: &P, prefix: &str, x: &Tensor) -> candle_core::Result<Tensor> {
    let h = dense(p, &format!("{prefix}bottom.0"), x, true)?;
    dense(p, &format!("{prefix}bottom.1"), &h, true)
}

/// Tower `t` on its input.
pub fn tower(p: &P, t: usize, h: &Tensor) -> candle_core::Result<Tensor> {
    let h = dense(p, &format!("tower.{t}.0"), h, true)?;
    dense(p, &format!("tower.{t}.1"), &h, false)?.squeeze(1)
}

// ---- the method, model and trainer shared by every scheme ----

/// A scheme with its resolved hyper-parameters.
pub struct MtlMethod {
    pub name: &'static str,
    pub common: Common,
    pub scheme: Arc<dyn Scheme>,
    /// The resolved table (for the manifest).
    pub table: toml::Table,
}

impl Method for MtlMethod {
    fn name(&self) -> &str {
        self.name
    }
    fn params(&self) -> toml::Table {
        self.table.clone()
    }
    fn meta_train(&self, _data: &TrainData<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        Err(MethodError::Unsupported {
            method: self.name.into(),
            reason: "needs a multi-objective suite (one with an [objectives] table)".into(),
        })
    }
    fn meta_train_objectives(
        &self,
        data: &TrainData<'_>,
        labels: &Objectives,
        ctx: &mut Ctx,
    ) -> Result<Box<dyn Model>> {
        Ok(Box::new(train(self, data, labels, ctx)?))
    }
}

/// A meta-trained multi-task network.
pub struct MtlModel {
    name: &'static str,
    common: Common,
    scheme: Arc<dyn Scheme>,
    dims: Dims,
    params: P,
    /// Names of the trainable parameters (what `adapt_scope = "network"` fine-tunes).
    trainable: std::collections::BTreeSet<String>,
    features: Arc<Features>,
    user_group: Vec<u32>,
    weights: Vec<f64>,
    rating: (f32, f32),
    device: Device,
    report: TrainReport,
}

fn candle(method: &str, context: &str) -> impl FnOnce(candle_core::Error) -> MethodError {
    let (method, context) = (method.to_string(), context.to_string());
    move |source| MethodError::Candle { method, context, source }
}

/// Per-row labels of one batch: `[n]` values (0 where absent) and `[n]` 0/1 masks, per objective.
struct Labels {
    values: Vec<Tensor>,
    masks: Vec<Tensor>,
    counts: Vec<f64>,
}

fn labels_of(rows: &[&[f32]], n_obj: usize, device: &Device) -> candle_core::Result<Labels> {
    let n = rows.len();
    let (mut values, mut masks, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    for t in 0..n_obj {
        let v: Vec<f32> = rows.iter().map(|r| if r[t].is_nan() { 0.0 } else { r[t] }).collect();
        let m: Vec<f32> = rows.iter().map(|r| if r[t].is_nan() { 0.0 } else { 1.0 }).collect();
        counts.push(m.iter().map(|x| f64::from(*x)).sum());
        values.push(Tensor::from_vec(v, n, device)?);
        masks.push(Tensor::from_vec(m, n, device)?);
    }
    Ok(Labels { values, masks, counts })
}

/// Per-objective mean losses over labelled rows (`None` for an objective without labels).
fn objective_losses(out: &[Tensor], l: &Labels, kinds: &[ObjectiveKind]) -> candle_core::Result<Vec<Option<Tensor>>> {
    let mut res = Vec::new();
    for (t, z) in out.iter().enumerate() {
        if l.counts[t] == 0.0 {
            res.push(None);
            continue;
        }
        let y = &l.values[t];
        let per_row = match kinds[t] {
            ObjectiveKind::Binary => {
                // max(z, 0) - z y + log(1 + exp(-|z|)), stable for any z.
                let soft = z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
                crate::relu::relu(&z)?.sub(&z.mul(y)?)?.add(&soft)?
            }
            _ => z.sub(y)?.sqr()?,
        };
        res.push(Some(per_row.mul(&l.masks[t])?.sum_all()?.affine(1.0 / l.counts[t], 0.0)?));
    }
    Ok(res)
}

/// `sum_t w_t L_t`, or the uncertainty-weighted total with log-variances `s`.
fn total_loss(
    losses: &[Option<Tensor>],
    weights: &[f64],
    kinds: &[ObjectiveKind],
    s: Option<&Tensor>,
) -> candle_core::Result<Option<Tensor>> {
    let mut total: Option<Tensor> = None;
    for (t, l) in losses.iter().enumerate() {
        let Some(l) = l else { continue };
        let term = match s {
            None => l.affine(weights[t], 0.0)?,
            Some(s) => {
                let st = s.narrow(0, t, 1)?.squeeze(0)?;
                let scale = if kinds[t] == ObjectiveKind::Binary { 1.0 } else { 0.5 };
                st.neg()?.exp()?.mul(l)?.affine(scale, 0.0)?.add(&st.affine(0.5, 0.0)?)?
            }
        };
        total = Some(match total {
            None => term,
            Some(a) => a.add(&term)?,
        });
    }
    Ok(total)
}

fn batch_for(
    features: &Features,
    pairs: &[(u32, u32)],
    user_group: &[u32],
    n_groups: usize,
    device: &Device,
) -> candle_core::Result<Batch> {
    let inputs = Inputs::for_pairs(features, pairs, device)?;
    let n = pairs.len();
    let group_masks = (0..n_groups)
        .map(|g| {
            let m: Vec<f32> =
                pairs.iter().map(|(u, _)| if user_group[*u as usize] == g as u32 { 1.0 } else { 0.0 }).collect();
            Tensor::from_vec(m, (n, 1), device)
        })
        .collect::<candle_core::Result<_>>()?;
    Ok(Batch { inputs, group_masks })
}

/// Initial parameters: each drawn from a generator labelled by its role.
fn init(specs: &[Spec], seed: u64, out_bias: &[f64], device: &Device) -> candle_core::Result<P> {
    let mut p = P::new();
    for s in specs {
        let n: usize = s.shape.iter().product();
        let mut rng = Rng::from_labels(seed, &[&s.role]);
        let v: Vec<f32> = match s.init {
            Init::Embedding => (0..n).map(|_| (0.1 * rng.normal()) as f32).collect(),
            Init::Weight { gain } => {
                let sd = (gain / s.shape[0] as f64).sqrt();
                (0..n).map(|_| (sd * rng.normal()) as f32).collect()
            }
            Init::Stitch(a) => {
                let k = s.shape[0];
                let off = if k > 1 { (1.0 - a) / (k - 1) as f64 } else { 0.0 };
                (0..k * k).map(|i| if i / k == i % k { a as f32 } else { off as f32 }).collect()
            }
            Init::Constant(c) => {
                // A tower's output bias starts at its objective's training mean (logit of the
                // base rate for a binary one), so training starts from the mean.
                let c = match s.name.strip_prefix("tower.").and_then(|r| r.strip_suffix(".1.b")) {
                    Some(t) => t.parse::<usize>().map(|t| out_bias[t]).unwrap_or(c),
                    None => c,
                };
                vec![c as f32; n]
            }
        };
        p.insert(s.name.clone(), Tensor::from_vec(v, s.shape.as_slice(), device)?);
    }
    Ok(p)
}

/// A copy of the parameters that later optimiser steps leave alone (`detach` alone would share
/// the variables' storage, so the kept parameters would be the last step's).
fn snapshot(name: &str, p: &P) -> Result<P> {
    p.iter().map(|(k, t)| Ok((k.clone(), t.detach().copy().map_err(candle(name, "snapshot"))?))).collect()
}

/// Adam over named variables; `scale` multiplies the rate of a parameter. With a
/// [`Coupling`], each tied group also keeps the moments of its summed gradient.
struct Adam {
    lr: f64,
    t: i32,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    coupling: Option<Coupling>,
    /// Per coupled group, the moments of the summed gradient.
    gm: Vec<Tensor>,
    gv: Vec<Tensor>,
}

impl Adam {
    fn new(vars: &[(String, Var)], lr: f64, coupling: Option<Coupling>) -> candle_core::Result<Adam> {
        let z = |v: &Var| v.as_tensor().zeros_like();
        let coupling = coupling.filter(|c| c.joint > 0.0 && !c.groups.is_empty());
        let groups = coupling.as_ref().map(|c| c.groups.as_slice()).unwrap_or_default();
        Ok(Adam {
            lr,
            t: 0,
            m: vars.iter().map(|(_, v)| z(v)).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(|(_, v)| z(v)).collect::<candle_core::Result<_>>()?,
            gm: groups.iter().map(|g| z(&vars[g[0]].1)).collect::<candle_core::Result<_>>()?,
            gv: groups.iter().map(|g| z(&vars[g[0]].1)).collect::<candle_core::Result<_>>()?,
            coupling,
        })
    }

    /// One moment update of `(m, v)` by gradient `g`; returns the bias-corrected direction.
    fn direction(m: &mut Tensor, v: &mut Tensor, g: &Tensor, c: (f64, f64)) -> candle_core::Result<Tensor> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        *m = m.affine(b1, 0.0)?.add(&g.affine(1.0 - b1, 0.0)?)?;
        *v = v.affine(b2, 0.0)?.add(&g.sqr()?.affine(1.0 - b2, 0.0)?)?;
        let mh = m.affine(1.0 / c.0, 0.0)?;
        let vh = v.affine(1.0 / c.1, 0.0)?.sqrt()?.affine(1.0, eps)?;
        mh.div(&vh)
    }

    fn step(
        &mut self,
        vars: &[(String, Var)],
        grads: &candle_core::backprop::GradStore,
        scale: &[f64],
    ) -> candle_core::Result<()> {
        let (b1, b2) = (0.9f64, 0.999f64);
        self.t += 1;
        let c = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        // The joint direction of each coupled group, from its summed gradient.
        let (joint_of, sums) = joint_gradients(self.coupling.as_ref(), vars, grads)?;
        let mut joint_dir = Vec::with_capacity(sums.len());
        for (gi, sum) in sums.iter().enumerate() {
            joint_dir.push(Adam::direction(&mut self.gm[gi], &mut self.gv[gi], sum, c)?);
        }
        for (k, (_, var)) in vars.iter().enumerate() {
            // A coupled copy without a gradient of its own still takes the joint step.
            let Some(g) = own_gradient(grads, var, joint_of[k].is_some())? else { continue };
            let own = Adam::direction(&mut self.m[k], &mut self.v[k], &g, c)?;
            let upd = match joint_of[k] {
                None => own.affine(self.lr * scale[k], 0.0)?,
                Some((gi, rho)) => own
                    .affine(self.lr * scale[k] * (1.0 - rho), 0.0)?
                    .add(&joint_dir[gi].affine(self.lr * scale[k] * rho, 0.0)?)?,
            };
            var.set(&var.as_tensor().sub(&upd)?)?;
        }
        Ok(())
    }
}

/// The gradient of `var`; zeros when it has none but is `coupled` (it still takes its group's
/// joint step: an objective without labels in a batch leaves its copy without a gradient).
fn own_gradient(
    grads: &candle_core::backprop::GradStore,
    var: &Var,
    coupled: bool,
) -> candle_core::Result<Option<Tensor>> {
    match grads.get(var.as_tensor()) {
        Some(g) => Ok(Some(g.clone())),
        None if coupled => var.as_tensor().zeros_like().map(Some),
        None => Ok(None),
    }
}

/// Per variable, its coupled group and the group's joint share (`None`: not coupled), and per
/// group the sum of its members' gradients (a missing gradient counts as zero).
#[allow(clippy::type_complexity)]
fn joint_gradients(
    coupling: Option<&Coupling>,
    vars: &[(String, Var)],
    grads: &candle_core::backprop::GradStore,
) -> candle_core::Result<(Vec<Option<(usize, f64)>>, Vec<Tensor>)> {
    let mut joint_of = vec![None; vars.len()];
    let mut sums = Vec::new();
    let Some(cp) = coupling.filter(|c| c.joint > 0.0) else { return Ok((joint_of, sums)) };
    for (gi, group) in cp.groups.iter().enumerate() {
        let mut sum: Option<Tensor> = None;
        for k in group {
            joint_of[*k] = Some((gi, cp.joint));
            if let Some(g) = grads.get(vars[*k].1.as_tensor()) {
                sum = Some(match sum {
                    None => g.clone(),
                    Some(s) => s.add(g)?,
                });
            }
        }
        sums.push(match sum {
            Some(s) => s,
            None => vars[group[0]].1.as_tensor().zeros_like()?,
        });
    }
    Ok((joint_of, sums))
}

/// Trainable elements of `specs` (what the reports put beside quality).
pub fn parameter_count(specs: &[Spec]) -> usize {
    specs.iter().filter(|s| s.trainable).map(|s| s.shape.iter().product::<usize>()).sum()
}

/// Builds the sizes from the features and the objectives.
fn dims(c: &Common, features: &Features, labels: &Objectives) -> Dims {
    let s = &features.schema;
    Dims {
        tables: s.user_fields.iter().chain(&s.item_fields).map(|f| f.vocab).collect(),
        n_user_fields: s.user_fields.len(),
        n_numeric: s.item_numeric.len(),
        embed: c.embed_dim,
        hidden: c.hidden,
        tower: c.tower,
        kinds: labels.kinds.clone(),
        n_groups: labels.group_names.len().max(1),
    }
}

fn train(m: &MtlMethod, data: &TrainData<'_>, labels: &Objectives, ctx: &mut Ctx) -> Result<MtlModel> {
    let name = m.name;
    let c = &m.common;
    let n_obj = labels.len();
    let weights = if c.weights.is_empty() { vec![1.0; n_obj] } else { c.weights.clone() };
    if weights.len() != n_obj {
        return Err(MethodError::Params {
            method: name.into(),
            message: format!(
                "`weights`: {} values for {} objectives ({})",
                weights.len(),
                n_obj,
                labels.names.join(", ")
            ),
        });
    }
    let d = dims(c, data.features, labels);
    let dev = &ctx.device;
    // Training rows: every meta-train rating with its labels, and the sampled unrated pairs of
    // meta-train users (MovieLens's `rated` negatives).
    let label_row = |u: u32, i: u32| labels.labels(u, i).map(<[f32]>::to_vec).unwrap_or_else(|| vec![f32::NAN; n_obj]);
    let train_users: std::collections::BTreeSet<u32> = data.meta_train.iter().map(|h| h.user).collect();
    let val_users: std::collections::BTreeSet<u32> = data.validation.iter().map(|t| t.user).collect();
    let unrated_of = |users: &std::collections::BTreeSet<u32>| -> Vec<(u32, u32)> {
        labels.unrated.iter().filter(|p| users.contains(&p.0)).copied().collect()
    };
    let rows: Vec<(u32, u32, Vec<f32>)> = data
        .meta_train
        .iter()
        .flat_map(|h| &h.ratings)
        .map(|r| (r.user, r.item))
        .chain(unrated_of(&train_users))
        .map(|(u, i)| (u, i, label_row(u, i)))
        .collect();
    if rows.is_empty() {
        return Err(MethodError::Unsupported { method: name.into(), reason: "no meta-train ratings".into() });
    }
    // Output biases from the training labels.
    let out_bias: Vec<f64> = (0..n_obj)
        .map(|t| {
            let v: Vec<f64> = rows.iter().map(|r| f64::from(r.2[t])).filter(|x| !x.is_nan()).collect();
            let mean = if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
            if d.kinds[t] == ObjectiveKind::Binary {
                let q = mean.clamp(1e-3, 1.0 - 1e-3);
                (q / (1.0 - q)).ln()
            } else {
                mean
            }
        })
        .collect();
    let specs = m.scheme.specs(&d);
    let seed = ctx.rng.next_u64();
    let mut batch_rng = ctx.rng.fork("batches");
    let p0 = init(&specs, seed, &out_bias, dev).map_err(candle(name, "init"))?;
    let mut vars: Vec<(String, Var)> = Vec::new();
    let mut fixed = P::new();
    for s in &specs {
        if s.trainable {
            vars.push((s.name.clone(), Var::from_tensor(&p0[&s.name]).map_err(candle(name, "init"))?));
        } else {
            fixed.insert(s.name.clone(), p0[&s.name].clone());
        }
    }
    let log_var = if c.uncertainty {
        let v = Var::zeros(n_obj, DType::F32, dev).map_err(candle(name, "init"))?;
        vars.push(("uncertainty.log_var".into(), v.clone()));
        Some(v)
    } else {
        None
    };
    let scale: Vec<f64> = vars.iter().map(|(n, _)| m.scheme.rate_scale(n)).collect();
    let by_name: BTreeMap<String, Var> = vars.iter().cloned().collect();
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    let coupling = m.scheme.coupling(&names, c.lr);
    let mut adam = Adam::new(&vars, c.lr, coupling).map_err(candle(name, "init"))?;
    let current = |vars: &[(String, Var)]| -> P {
        let mut p = fixed.clone();
        for (n, v) in vars {
            p.insert(n.clone(), v.as_tensor().clone());
        }
        p
    };
    // Validation: query ratings of the validation users, and their sampled unrated pairs, with labels.
    let val_pairs: Vec<(u32, u32)> =
        data.validation.iter().flat_map(|t| &t.query).map(|r| (r.user, r.item)).chain(unrated_of(&val_users)).collect();
    let val_rows: Vec<Vec<f32>> = val_pairs.iter().map(|(u, i)| label_row(*u, *i)).collect();
    let val = if val_pairs.is_empty() {
        None
    } else {
        let b = batch_for(data.features, &val_pairs, &labels.user_group, d.n_groups, dev)
            .map_err(candle(name, "validation"))?;
        let refs: Vec<&[f32]> = val_rows.iter().map(Vec::as_slice).collect();
        Some((b, labels_of(&refs, n_obj, dev).map_err(candle(name, "validation"))?))
    };
    let evaluate = |p: &P| -> Result<Option<f64>> {
        let Some((b, l)) = &val else { return Ok(None) };
        let out = m.scheme.forward(p, &d, b).map_err(candle(name, "validation"))?;
        let losses = objective_losses(&out, l, &d.kinds).map_err(candle(name, "validation"))?;
        let tot = total_loss(&losses, &weights, &d.kinds, None).map_err(candle(name, "validation"))?;
        match tot {
            None => Ok(None),
            Some(t) => Ok(Some(f64::from(t.to_scalar::<f32>().map_err(candle(name, "validation"))?))),
        }
    };
    let mut stop = EarlyStopping::new(c.patience, 0, evaluate(&current(&vars))?, snapshot(name, &current(&vars))?);
    let mut steps = 0u64;
    for step in 1..=c.steps {
        let idx: Vec<usize> = (0..c.batch_size.min(rows.len())).map(|_| batch_rng.below(rows.len())).collect();
        let pairs: Vec<(u32, u32)> = idx.iter().map(|i| (rows[*i].0, rows[*i].1)).collect();
        let refs: Vec<&[f32]> = idx.iter().map(|i| rows[*i].2.as_slice()).collect();
        let b = batch_for(data.features, &pairs, &labels.user_group, d.n_groups, dev).map_err(candle(name, "batch"))?;
        let l = labels_of(&refs, n_obj, dev).map_err(candle(name, "batch"))?;
        let p = current(&vars);
        let out = m.scheme.forward(&p, &d, &b).map_err(candle(name, "forward"))?;
        let losses = objective_losses(&out, &l, &d.kinds).map_err(candle(name, "loss"))?;
        let Some(loss) = total_loss(&losses, &weights, &d.kinds, log_var.as_ref().map(|v| v.as_tensor()))
            .map_err(candle(name, "loss"))?
        else {
            continue;
        };
        let lv = loss.to_scalar::<f32>().map_err(candle(name, "loss"))?;
        if !lv.is_finite() {
            return Err(MethodError::Diverged {
                method: name.into(),
                context: format!("training loss {lv} at step {step}"),
            });
        }
        let grads = loss.backward().map_err(candle(name, "backward"))?;
        adam.step(&vars, &grads, &scale).map_err(candle(name, "adam"))?;
        m.scheme.after_step(&by_name, c.lr).map_err(candle(name, "proximal step"))?;
        steps = step as u64;
        if step % c.eval_every == 0 {
            let p = current(&vars);
            let v = evaluate(&p)?;
            let snap = || snapshot(name, &p);
            if stop.observe(step as u64, v, snap)? {
                break;
            }
        }
    }
    let (chosen, vloss, best) = stop.finish();
    let mut notes = BTreeMap::new();
    notes.insert("parameters".into(), parameter_count(&specs).to_string());
    notes.insert("objectives".into(), labels.names.join(","));
    if let Some(v) = &log_var {
        let s: Vec<f32> = v.as_tensor().to_vec1().map_err(candle(name, "report"))?;
        notes.insert("log_variances".into(), s.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(","));
    }
    Ok(MtlModel {
        name,
        common: c.clone(),
        scheme: m.scheme.clone(),
        dims: d,
        params: best,
        trainable: specs.iter().filter(|s| s.trainable).map(|s| s.name.clone()).collect(),
        features: data.features.clone(),
        user_group: labels.user_group.clone(),
        weights,
        rating: (data.rating_min, data.rating_max),
        device: dev.clone(),
        report: TrainReport { steps, chosen_step: Some(chosen), validation_loss: vloss, notes },
    })
}

impl MtlModel {
    fn batch(&self, pairs: &[(u32, u32)]) -> candle_core::Result<Batch> {
        batch_for(&self.features, pairs, &self.user_group, self.dims.n_groups, &self.device)
    }
}

impl Model for MtlModel {
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        // Without objective labels only the rating is known: the main objective's.
        let n = self.dims.n_obj();
        let labels: Vec<Vec<f32>> =
            task.support.iter().map(|r| (0..n).map(|t| if t == 0 { r.value } else { f32::NAN }).collect()).collect();
        self.adapt_objectives(task, &labels, ctx)
    }

    fn adapt_objectives<'m>(
        &'m self,
        task: &SupportSet<'_>,
        labels: &[Vec<f32>],
        _ctx: &mut Ctx,
    ) -> Result<Box<dyn Adapted + 'm>> {
        let name = self.name;
        let mut params = self.params.clone();
        if !task.support.is_empty() && self.common.adapt_steps > 0 {
            params = self.finetune(task.support, labels).map_err(candle(name, "adapt"))?;
        }
        Ok(Box::new(MtlAdapted { model: self, user: task.user, params }))
    }

    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

impl MtlModel {
    /// `adapt_steps` full-batch SGD steps at `adapt_lr` on the support set, over every
    /// trainable parameter (`adapt_scope = "network"`) or the towers only (`"towers"`). A
    /// scheme's coupling and after-step apply as in meta-training, with SGD directions: a
    /// coupled copy moves by `adapt_lr ((1 - joint) g_k + joint sum_group g)`.
    fn finetune(&self, support: &[Rating], labels: &[Vec<f32>]) -> candle_core::Result<P> {
        let pairs: Vec<(u32, u32)> = support.iter().map(|r| (r.user, r.item)).collect();
        let b = self.batch(&pairs)?;
        let refs: Vec<&[f32]> = labels.iter().map(Vec::as_slice).collect();
        let l = labels_of(&refs, self.dims.n_obj(), &self.device)?;
        let lr = self.common.adapt_lr;
        let whole = self.common.adapt_scope == "network";
        let mut p = self.params.clone();
        let vars: Vec<(String, Var)> = self
            .params
            .iter()
            .filter(|(k, _)| if whole { self.trainable.contains(*k) } else { k.starts_with("tower.") })
            .map(|(k, t)| Ok((k.clone(), Var::from_tensor(t)?)))
            .collect::<candle_core::Result<_>>()?;
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        let coupling = self.scheme.coupling(&names, lr);
        let by_name: BTreeMap<String, Var> = vars.iter().cloned().collect();
        for _ in 0..self.common.adapt_steps {
            for (k, v) in &vars {
                p.insert(k.clone(), v.as_tensor().clone());
            }
            let out = self.scheme.forward(&p, &self.dims, &b)?;
            let losses = objective_losses(&out, &l, &self.dims.kinds)?;
            let Some(loss) = total_loss(&losses, &self.weights, &self.dims.kinds, None)? else { break };
            let grads = loss.backward()?;
            let (joint_of, sums) = joint_gradients(coupling.as_ref(), &vars, &grads)?;
            for (k, (_, v)) in vars.iter().enumerate() {
                let Some(g) = own_gradient(&grads, v, joint_of[k].is_some())? else { continue };
                let upd = match joint_of[k] {
                    None => g.affine(lr, 0.0)?,
                    Some((gi, rho)) => g.affine(lr * (1.0 - rho), 0.0)?.add(&sums[gi].affine(lr * rho, 0.0)?)?,
                };
                v.set(&v.as_tensor().sub(&upd)?)?;
            }
            self.scheme.after_step(&by_name, lr)?;
        }
        for (k, v) in &vars {
            p.insert(k.clone(), v.as_tensor().detach());
        }
        Ok(p)
    }
}

/// The network adapted to one user.
struct MtlAdapted<'m> {
    model: &'m MtlModel,
    user: u32,
    params: P,
}

impl MtlAdapted<'_> {
    fn outputs(&self, items: &[u32]) -> Result<Vec<Vec<f64>>> {
        let m = self.model;
        let name = m.name;
        if items.is_empty() {
            return Ok(vec![Vec::new(); m.dims.n_obj()]);
        }
        let pairs: Vec<(u32, u32)> = items.iter().map(|i| (self.user, *i)).collect();
        let b = m.batch(&pairs).map_err(candle(name, "predict"))?;
        let out = m.scheme.forward(&self.params, &m.dims, &b).map_err(candle(name, "predict"))?;
        let mut res = Vec::new();
        for (t, z) in out.iter().enumerate() {
            let z = match m.dims.kinds[t] {
                ObjectiveKind::Binary => candle_nn::ops::sigmoid(z).map_err(candle(name, "predict"))?,
                _ => z.clone(),
            };
            let v: Vec<f32> = z.to_dtype(DType::F32).and_then(|z| z.to_vec1()).map_err(candle(name, "predict"))?;
            let v = v.into_iter().map(f64::from);
            res.push(match m.dims.kinds[t] {
                ObjectiveKind::Rating => {
                    let (lo, hi) = (f64::from(m.rating.0), f64::from(m.rating.1));
                    v.map(|x| if x.is_nan() { x } else { x.clamp(lo, hi) }).collect()
                }
                _ => v.collect(),
            });
        }
        Ok(res)
    }
}

impl Adapted for MtlAdapted<'_> {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        let main = self.outputs(items)?.swap_remove(0);
        Ok(Predictions { mean: main, median: None })
    }
    fn predict_objectives(&self, items: &[u32]) -> Result<Option<Vec<Vec<f64>>>> {
        self.outputs(items).map(Some)
    }
}

/// Parses a scheme's parameters (`P` flattens [`Common`]) and builds the method.
pub(crate) fn build_with<Q>(
    name: &'static str,
    table: &toml::Table,
    scheme: impl FnOnce(&Q) -> Arc<dyn Scheme>,
) -> Result<Box<dyn Method>>
where
    Q: serde::de::DeserializeOwned + serde::Serialize + Default + Check + AsRef<Common>,
{
    let q: Q = params::parse(name, table)?;
    Ok(Box::new(MtlMethod { name, common: q.as_ref().clone(), scheme: scheme(&q), table: params::to_table(&q) }))
}

impl AsRef<Common> for Common {
    fn as_ref(&self) -> &Common {
        self
    }
}

#[cfg(test)]
mod tests;
