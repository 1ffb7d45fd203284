//! `meta-lstm`: Ravi & Larochelle (2017), "Optimization as a Model for Few-Shot Learning"
//! (ICLR): a learned optimiser. Reference code: the authors' `twitter/meta-learning-lstm`
//! (`model/lstm/meta-learner-lstm.lua`, `lstm-helper.lua`) and the PyTorch port
//! `markdtw/meta-learning-lstm-pytorch` (which draws the forget bias from U(4, 6); we follow the
//! authors' U(4, 5)).
//!
//! The learner is our feature network ([`crate::nn::NetShape`], run through [`super::functional`]).
//! The meta-learner is the paper's two-layer, coordinate-wise LSTM: its weights are shared by
//! every scalar parameter ("coordinate") of the learner, and every coordinate has its own hidden
//! and cell state, so its size does not depend on the learner's.
//!
//! - **Inputs**, per coordinate and update `t`: the learner's support loss `L_t` (the task's
//!   mean squared error, broadcast to all its coordinates) and the coordinate's gradient `g_t`,
//!   each preprocessed with `p` (the paper's, from Andrychowicz et al. 2016):
//!   `x -> (log|x| / p, sign x)` when `|x| >= e^-p`, else `(-1, e^p x)`.
//! - **Layer 1**: an ordinary LSTM, 4 inputs `[L_t (2), g_t (2)]`, `lstm_hidden` units:
//!   `[i, f, o] = sigmoid([x_t, h_{t-1}] W_1 + b_1)`, `u = tanh(...)`, `s_t = f s_{t-1} + i u`,
//!   `h_t = o tanh(s_t)`, from `h_0 = s_0 = 0` (one bias per gate; the port's two biases per
//!   gate are the same function).
//! - **Layer 2**, the cell whose state is the learner's parameters:
//!   `c_t = sigmoid(fN_t) c_{t-1} - sigmoid(iN_t) g_t` (the raw gradient), with
//!   `fN_t = [h_t, c_{t-1}, fN_{t-1}] W_F + b_F`, `iN_t = [h_t, c_{t-1}, iN_{t-1}] W_I + b_I`
//!   (the previous gate fed back before its sigmoid, `fN_0 = iN_0 = 0`) and `c_0` the
//!   meta-learned initial parameters.
//! - **Initialisation** as the authors' code: every LSTM weight and layer-1 bias U(-0.01, 0.01),
//!   `b_F` U(4, 5), `b_I` U(-5, -4); `c_0` is the feature network's own initialisation. At the
//!   first update the rule is therefore SGD with rate `sigmoid(b_I)` in [0.0067, 0.018] and
//!   shrinkage `1 - sigmoid(b_F)` in [0.67%, 1.8%]: for `|c_0| <= 3` each coordinate's forget
//!   factor is within 1e-3 of `sigmoid(b_F)` and its rate within 4% of `sigmoid(b_I)` (a test).
//!
//! **Meta-training**: `inner_steps` (T) updates on each task's support set; the meta-loss is the
//! query MSE after the last update, averaged over the meta-batch. It is back-propagated through
//! the unrolled trajectory into the LSTM's weights and `c_0` (and the embedding tables, through
//! the query predictions), the global gradient norm is clipped to `clip_norm`, and Adam
//! (`outer_lr`) steps. **The learner's gradients and losses are inputs, not differentiated
//! through**, as the paper does (its "gradient independence assumption"): they are computed on
//! detached parameters, so `g_t` is a constant in both the raw-gradient term and the
//! preprocessed input (the meta-gradient is checked against finite differences of the
//! trajectory with those inputs held fixed). Early stopping on meta-validation users chooses
//! the checkpoint; validation tasks of any support and query sizes count.
//!
//! **What adapts**: the decision (dense) layers only, as MeLU; the embedding tables are
//! meta-learned by the outer loop alone. The functional network's row-space embedding update
//! assumes an update linear in the gradient, which the LSTM's is not (every table entry,
//! touched or not, is shrunk by its forget gate), so adapting tables would need per-task copies
//! of them: `T x sum(vocab) x embed_dim` more LSTM coordinates per task, which is small on the
//! synthetic world (58 rows x 32) but thousands of rows on the MovieLens suites (actors,
//! directors). On the synthetic world's network the decision layers are 14,657 coordinates.
//!
//! **Cost and budget**: every update runs the LSTM on `T x P` coordinates (`P` = 14,657 on the
//! synthetic world's network), far more per episode than MAML's inner step on 20 rows. On the
//! CPU the elementwise work of both layers runs as two fused ops (`fused`, over
//! `metarec_kernels`' vectorised loops) instead of about twenty candle ops per update. The
//! defaults (2 tasks per meta-step, near the paper's one episode per step; T = 3; up to 1500
//! meta-steps with early stopping) then cost about 80 ms per meta-step on one core of our
//! development machine (a 2-core Xeon with AVX-512; 190 ms with the composed ops), so a
//! synthetic cell's meta-training takes about two minutes at the full 1500 steps.
//!
//! **Test time**: the same T updates on the new user's support set (an empty support set keeps
//! `c_0`).
//!
//! | parameter     | default  | meaning                                                  | valid |
//! |---------------|----------|----------------------------------------------------------|-------|
//! | `embed_dim`   | 32       | embedding width per categorical field                    | >= 1  |
//! | `hidden`      | [64, 64] | widths of the learner's hidden (decision) layers         | each >= 1 |
//! | `inner_steps` | 3        | updates T, in meta-training and at test time             | >= 1  |
//! | `lstm_hidden` | 20       | hidden units of the meta-learner's first layer           | >= 1  |
//! | `preprocess_p`| 10       | the preprocessing constant `p`                           | > 0   |
//! | `meta_batch`  | 2        | tasks per meta-step (the paper: one)                     | >= 1  |
//! | `outer_lr`    | 0.001    | Adam learning rate of the meta-learner and `c_0`         | > 0   |
//! | `clip_norm`   | 0.25     | global norm the meta-gradient is clipped to              | > 0   |
//! | `meta_steps`  | 1500     | maximum meta-steps                                       | >= 1  |
//! | `eval_every`  | 100      | meta-steps between validation checks                     | >= 1  |
//! | `patience`    | 4        | checks without gain before stopping                      | >= 1  |
//! | `support`, `query` | 10, 10 | episode sizes sampled from meta-train users         | >= 1  |

use super::functional::{self, Deltas, Rows};
use super::{AdaptLayers, Adaptation, CommonParams, ForUser, grouped_query_rmse, rows, sample_episodes, unadapted};
use crate::adam::Adam;
use crate::early_stopping::EarlyStopping;
use crate::nn::{self, NetShape};
use crate::params::{self, Check};
use crate::space::Dim;
use crate::{Adapted, Ctx, Method, MethodError, Model, Result, SupportSet, TrainData, TrainReport};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::ops::sigmoid;
use candle_nn::{Optimizer, ParamsAdamW};
use metarec_suites::{Features, History, Rating, Rng, Task};
use std::collections::BTreeMap;
use std::sync::Arc;

const NAME: &str = "meta-lstm";

/// The tuner's search space (see [`crate::space`]): the meta-learner's Adam rate (the LSTM
/// learns the inner rates).
pub const SPACE: &[Dim] = &[Dim::Real { key: "outer_lr", lo: 1e-4, hi: 1e-2, log: true }];

/// Hyper-parameters (see the module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MetaLstmParams {
    pub embed_dim: usize,
    pub hidden: Vec<usize>,
    pub inner_steps: usize,
    pub lstm_hidden: usize,
    pub preprocess_p: f64,
    pub meta_batch: usize,
    pub outer_lr: f64,
    pub clip_norm: f64,
    pub meta_steps: usize,
    pub eval_every: usize,
    pub patience: usize,
    pub support: usize,
    pub query: usize,
}

impl Default for MetaLstmParams {
    fn default() -> Self {
        MetaLstmParams {
            embed_dim: 32,
            hidden: vec![64, 64],
            inner_steps: 3,
            lstm_hidden: 20,
            preprocess_p: 10.0,
            meta_batch: 2,
            outer_lr: 1e-3,
            clip_norm: 0.25,
            meta_steps: 1500,
            eval_every: 100,
            patience: 4,
            support: 10,
            query: 10,
        }
    }
}

impl MetaLstmParams {
    /// The keys shared with the other gradient-based methods, for their checks and episode
    /// sampler. `inner_lr` is not a key of `meta-lstm` (the LSTM learns its rates); the value
    /// here is a placeholder that nothing reads.
    fn common(&self) -> CommonParams {
        CommonParams {
            embed_dim: self.embed_dim,
            hidden: self.hidden.clone(),
            adapt: AdaptLayers::Decision,
            inner_lr: 1.0,
            inner_steps: self.inner_steps,
            meta_batch: self.meta_batch,
            outer_lr: self.outer_lr,
            meta_steps: self.meta_steps,
            eval_every: self.eval_every,
            patience: self.patience,
            support: self.support,
            query: self.query,
        }
    }
}

impl Check for MetaLstmParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common().check()?;
        params::at_least("lstm_hidden", self.lstm_hidden, 1)?;
        params::positive("preprocess_p", self.preprocess_p)?;
        params::positive("clip_norm", self.clip_norm)
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    let p: MetaLstmParams = params::parse(NAME, table)?;
    Ok(Box::new(MetaLstmMethod { table: params::to_table(&p), p }))
}

/// The meta-learner's weights, shared by every coordinate of the learner. `H = lstm_hidden`.
///
/// Coordinates are columns: every per-coordinate quantity is `[features, N]`, so that each
/// gate's block is a contiguous run of rows (the weights below are the transposes of the
/// row-vector convention of the module docs).
#[derive(Clone, Debug)]
pub struct MetaLstm {
    /// Layer 1, `[4 H, 4 + H]`: row blocks are the gates i, f, o and the cell input u, `H`
    /// each; columns are the 4 inputs then `h_{t-1}`.
    pub w1: Tensor,
    /// Layer 1 biases, `[4 H, 1]`.
    pub b1: Tensor,
    /// Forget gate of layer 2, `[1, H + 2]`: columns `h_t`, `c_{t-1}`, `fN_{t-1}`.
    pub w_f: Tensor,
    /// `[1, 1]`.
    pub b_f: Tensor,
    /// Input gate of layer 2, `[1, H + 2]`: columns `h_t`, `c_{t-1}`, `iN_{t-1}`.
    pub w_i: Tensor,
    /// `[1, 1]`.
    pub b_i: Tensor,
    /// The preprocessing constant.
    pub p: f64,
}

/// Per-coordinate state between updates (`N` coordinates).
pub struct CellState {
    /// Layer 1's hidden and cell state, `[H, N]`.
    h: Tensor,
    s: Tensor,
    /// Layer 2's gates before their sigmoid, `[1, N]`.
    f_n: Tensor,
    i_n: Tensor,
}

impl MetaLstm {
    /// The authors' initialisation (see the module docs), from `rng`.
    pub fn init(hidden: usize, p: f64, rng: &mut Rng, dtype: DType, device: &Device) -> candle_core::Result<MetaLstm> {
        let mut uniform = |n: usize, lo: f64, hi: f64, shape: &[usize]| -> candle_core::Result<Tensor> {
            let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect();
            Tensor::from_vec(v, shape, device)?.to_dtype(dtype)
        };
        let h = hidden;
        Ok(MetaLstm {
            w1: uniform((4 + h) * 4 * h, -0.01, 0.01, &[4 * h, 4 + h])?,
            b1: uniform(4 * h, -0.01, 0.01, &[4 * h, 1])?,
            w_f: uniform(h + 2, -0.01, 0.01, &[1, h + 2])?,
            b_f: uniform(1, 4.0, 5.0, &[1, 1])?,
            w_i: uniform(h + 2, -0.01, 0.01, &[1, h + 2])?,
            b_i: uniform(1, -5.0, -4.0, &[1, 1])?,
            p,
        })
    }

    /// The weights in a fixed order (for optimisers and snapshots).
    pub fn tensors(&self) -> Vec<Tensor> {
        vec![self.w1.clone(), self.b1.clone(), self.w_f.clone(), self.b_f.clone(), self.w_i.clone(), self.b_i.clone()]
    }

    /// The inverse of [`MetaLstm::tensors`].
    pub fn from_tensors(t: &[Tensor], p: f64) -> MetaLstm {
        MetaLstm {
            w1: t[0].clone(),
            b1: t[1].clone(),
            w_f: t[2].clone(),
            b_f: t[3].clone(),
            w_i: t[4].clone(),
            b_i: t[5].clone(),
            p,
        }
    }

    /// Number of scalar weights: `4 H (4 + H + 1) + 2 (H + 2) + 2`, whatever the learner.
    pub fn n_weights(&self) -> usize {
        self.tensors().iter().map(|t| t.elem_count()).sum()
    }

    fn hidden(&self) -> candle_core::Result<usize> {
        Ok(self.w1.dim(0)? / 4)
    }

    /// The 4 inputs of every coordinate, `[4, T P]`: the preprocessed loss of its task
    /// (`loss: [T]`) and its preprocessed gradient (`grad: [T, P]`).
    pub fn inputs(&self, loss: &Tensor, grad: &Tensor) -> candle_core::Result<Tensor> {
        let (t, p) = grad.dims2()?;
        let l = preprocess(&loss.unsqueeze(0)?, self.p)?.unsqueeze(2)?.broadcast_as((2, t, p))?.reshape((2, t * p))?;
        let g = preprocess(&grad.reshape((1, t * p))?, self.p)?;
        Tensor::cat(&[l, g], 0)
    }

    /// One update of `N` coordinates: `x: [4, N]` from [`MetaLstm::inputs`], the raw gradient
    /// `grad: [1, N]` and the parameters `c: [1, N]`; returns `c_t: [1, N]` and the new state.
    pub fn step(
        &self,
        x: &Tensor,
        grad: &Tensor,
        c: &Tensor,
        state: Option<&CellState>,
    ) -> candle_core::Result<(Tensor, CellState)> {
        self.step_with(x, grad, c, state, fused::applies(x))
    }

    /// [`MetaLstm::step`] through the fused CPU ops (`fused`) or candle's composed ones.
    fn step_with(
        &self,
        x: &Tensor,
        grad: &Tensor,
        c: &Tensor,
        state: Option<&CellState>,
        fused: bool,
    ) -> candle_core::Result<(Tensor, CellState)> {
        let n = x.dim(1)?;
        let h = self.hidden()?;
        // Biases as weights of a row of ones: one matmul per layer, no broadcast adds. At the first
        // update the state is zero (`h_0 = s_0 = 0`, `fN_0 = iN_0 = 0`), and the products skip
        // its columns (layer 1's inner dimension 5 instead of 5 + H).
        let ones = Tensor::ones((1, n), x.dtype(), x.device())?;
        let (z, s_prev) = match state {
            Some(st) => {
                let w1 = Tensor::cat(&[&self.w1, &self.b1], 1)?;
                (w1.matmul(&Tensor::cat(&[x, &st.h, &ones], 0)?)?, st.s.clone())
            }
            None => {
                let w1 = Tensor::cat(&[&self.w1.narrow(1, 0, 4)?, &self.b1], 1)?;
                (w1.matmul(&Tensor::cat(&[x, &ones], 0)?)?, Tensor::zeros((h, n), x.dtype(), x.device())?)
            }
        };
        let (h_t, s) = if fused {
            let hs = fused::cell(&z, &s_prev, h)?;
            (hs.narrow(0, 0, h)?, hs.narrow(0, h, h)?)
        } else {
            let gates = sigmoid(&z.narrow(0, 0, 3 * h)?)?;
            let (i, f, o) = (gates.narrow(0, 0, h)?, gates.narrow(0, h, h)?, gates.narrow(0, 2 * h, h)?);
            let u = z.narrow(0, 3 * h, h)?.tanh()?;
            let s = ((f * s_prev)? + (i * u)?)?;
            ((o * s.tanh()?)?, s)
        };
        // Both gates of layer 2 in one matmul over `[h_t, c, fN_{t-1}, iN_{t-1}, 1]`
        // (`[h_t, c, 1]` at the first update).
        let shared = |w: &Tensor| w.narrow(1, 0, h + 1);
        let gates2 = match state {
            Some(st) => {
                let zero = self.b_f.zeros_like()?;
                let w2 = Tensor::cat(
                    &[
                        Tensor::cat(&[&shared(&self.w_f)?, &self.w_f.narrow(1, h + 1, 1)?, &zero, &self.b_f], 1)?,
                        Tensor::cat(&[&shared(&self.w_i)?, &zero, &self.w_i.narrow(1, h + 1, 1)?, &self.b_i], 1)?,
                    ],
                    0,
                )?;
                w2.matmul(&Tensor::cat(&[&h_t, c, &st.f_n, &st.i_n, &ones], 0)?)?
            }
            None => {
                let w2 = Tensor::cat(
                    &[
                        Tensor::cat(&[&shared(&self.w_f)?, &self.b_f], 1)?,
                        Tensor::cat(&[&shared(&self.w_i)?, &self.b_i], 1)?,
                    ],
                    0,
                )?;
                w2.matmul(&Tensor::cat(&[&h_t, c, &ones], 0)?)?
            }
        };
        let (f_n, i_n) = (gates2.narrow(0, 0, 1)?, gates2.narrow(0, 1, 1)?);
        let c_t =
            if fused { fused::update(&gates2, c, grad)? } else { ((sigmoid(&f_n)? * c)? - (sigmoid(&i_n)? * grad)?)? };
        Ok((c_t, CellState { h: h_t, s, f_n, i_n }))
    }
}

/// The paper's preprocessing of a row `x: [1, N]` into `[2, N]`:
/// `(log|x| / p, sign x)` when `|x| >= e^-p`, else `(-1, e^p x)`.
pub fn preprocess(x: &Tensor, p: f64) -> candle_core::Result<Tensor> {
    let threshold = (-p).exp();
    let abs = x.abs()?;
    let big = abs.ge(threshold)?;
    // The clamp keeps the unused branch finite (log 0 would be -inf).
    let a = big.where_cond(&(abs.maximum(threshold)?.log()? / p)?, &x.ones_like()?.neg()?)?;
    let b = big.where_cond(&x.sign()?, &(x * p.exp())?)?;
    Tensor::cat(&[a, b], 0)
}

/// What one update saw: the learner's per-task support loss `[T]` and gradient `[T, P]`.
#[derive(Clone)]
pub struct StepInputs {
    pub loss: Tensor,
    pub grad: Tensor,
}

/// The result of unrolling the meta-learner on a batch of tasks.
pub struct Unrolled {
    /// Final decision-layer parameters per task, `[T, P]`.
    pub c: Tensor,
    /// The same as deltas from `c_0` (the learner's layout).
    pub deltas: Deltas,
    /// Predictions of the query rows, `[T, n_q]`, when query rows were given.
    pub query_pred: Option<Tensor>,
    /// Every update's inputs (constants).
    pub inputs: Vec<StepInputs>,
}

/// The decision layers `[W_0, b_0, ..]` flattened into one `[P]` vector.
fn flatten(dense: &[Tensor]) -> candle_core::Result<Tensor> {
    let parts = dense.iter().map(|t| t.flatten_all()).collect::<candle_core::Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

/// Per-task flat vectors `[T, P]` back into per-layer deltas (`[T, d_l, d_{l+1}]`, `[T, d_{l+1}]`).
fn to_deltas(flat: &Tensor, dense: &[Tensor]) -> candle_core::Result<Deltas> {
    let t = flat.dim(0)?;
    let n_layers = dense.len() / 2;
    let mut d = Deltas::zeros(n_layers);
    let mut off = 0;
    for (k, p) in dense.iter().enumerate() {
        let n = p.elem_count();
        let mut shape = vec![t];
        shape.extend(p.dims());
        let x = Some(flat.narrow(1, off, n)?.reshape(shape)?);
        if k % 2 == 0 {
            d.w[k / 2] = x
        } else {
            d.b[k / 2] = x
        }
        off += n;
    }
    Ok(d)
}

/// Per-task gradients as `[T, P]`, in the layout of [`flatten`].
fn flat_grads(g: &functional::Grads) -> candle_core::Result<Tensor> {
    let t = g.b[0].dim(0)?;
    let mut parts = Vec::with_capacity(2 * g.w.len());
    for (l, b) in g.b.iter().enumerate() {
        let w = g.w(l);
        parts.push(w.reshape((t, w.elem_count() / t))?);
        parts.push(b.clone());
    }
    Tensor::cat(&parts, 1)
}

/// Runs `steps` updates of the meta-learner on every task of `support` from the learner's
/// parameters `theta` (the first `n_tables` are embedding tables, which do not adapt) and
/// predicts `query` (if given). The learner's loss and gradient are computed on detached
/// parameters (constants, see the module docs); with `frozen`, they are not computed at all
/// and the given ones are used instead (the finite-difference test holds them fixed).
pub fn unroll(
    lstm: &MetaLstm,
    theta: &[Tensor],
    n_tables: usize,
    support: &Rows,
    query: Option<&Rows>,
    steps: usize,
    frozen: Option<&[StepInputs]>,
) -> candle_core::Result<Unrolled> {
    if let Some(f) = frozen.filter(|f| f.len() < steps) {
        return Err(candle_core::Error::Msg(format!("{} frozen inputs for {steps} updates", f.len())));
    }
    let (tables, dense) = theta.split_at(n_tables);
    let c0 = flatten(dense)?;
    let p = c0.dim(0)?;
    let t = support.t;
    let dense_const: Vec<Tensor> = dense.iter().map(|x| x.detach()).collect();
    let emb_s = functional::embed(&tables.iter().map(|x| x.detach()).collect::<Vec<_>>(), support)?;
    let mut c = c0.unsqueeze(0)?.broadcast_as((t, p))?.contiguous()?;
    let mut state: Option<CellState> = None;
    let mut inputs = Vec::with_capacity(steps);
    for step in 0..steps {
        let x = match frozen {
            Some(f) => f[step].clone(),
            None => {
                let c_const = c.detach();
                let d = to_deltas(&c_const.broadcast_sub(&c0.detach())?, &dense_const)?;
                let (y, cache) = functional::forward(&dense_const, &d, &emb_s, support.numeric.as_ref())?;
                let g = functional::backward(&dense_const, &d, &cache, &y, &support.target, 1.0)?;
                let loss = (&y - &support.target)?.sqr()?.mean(1)?;
                StepInputs { loss, grad: flat_grads(&g)? }
            }
        };
        let features = lstm.inputs(&x.loss, &x.grad)?;
        let (next, s) = lstm.step(&features, &x.grad.reshape((1, t * p))?, &c.reshape((1, t * p))?, state.as_ref())?;
        c = next.reshape((t, p))?;
        state = Some(s);
        inputs.push(x);
    }
    let deltas = to_deltas(&c.broadcast_sub(&c0)?, dense)?;
    let query_pred = match query {
        Some(q) => {
            let emb_q = functional::embed(tables, q)?;
            Some(functional::forward(dense, &deltas, &emb_q, q.numeric.as_ref())?.0)
        }
        None => None,
    };
    Ok(Unrolled { c, deltas, query_pred, inputs })
}

/// The meta-parameters at the start of meta-training: the learner's parameters (`c_0` and the
/// embedding tables; `output_bias` is the training mean) and the meta-learner, in that order
/// from `rng`.
pub fn init_meta(
    shape: &NetShape,
    p: &MetaLstmParams,
    output_bias: f32,
    rng: &mut Rng,
    device: &Device,
) -> candle_core::Result<(Vec<Tensor>, MetaLstm)> {
    let theta = shape.init(rng, output_bias, device)?;
    let lstm = MetaLstm::init(p.lstm_hidden, p.preprocess_p, rng, theta[0].dtype(), device)?;
    Ok((theta, lstm))
}

/// One meta-train step: unroll on the support rows, query MSE, backward, clip the global
/// gradient norm to `clip_norm`, Adam. `vars` are the learner's parameters then the
/// meta-learner's weights ([`MetaLstm::tensors`] order). Returns the meta-loss and the
/// gradient norm before clipping.
#[allow(clippy::too_many_arguments)]
pub fn meta_train_step(
    vars: &[Var],
    n_tables: usize,
    p: f64,
    support: &Rows,
    query: &Rows,
    steps: usize,
    clip_norm: f64,
    opt: &mut Adam,
) -> candle_core::Result<(f64, f64)> {
    let n_theta = vars.len() - 6;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let lstm = MetaLstm::from_tensors(&ts[n_theta..], p);
    let u = unroll(&lstm, &ts[..n_theta], n_tables, support, Some(query), steps, None)?;
    let loss = functional::mse(&u.query_pred.expect("query given"), &query.target)?;
    let mut grads = loss.backward()?;
    let mut sq = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v) {
            sq += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
    }
    let norm = sq.sqrt();
    if norm > clip_norm {
        let scale = clip_norm / norm;
        for v in vars {
            if let Some(g) = grads.remove(v) {
                grads.insert(v, (g * scale)?);
            }
        }
    }
    let loss = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if loss.is_finite() && norm.is_finite() {
        opt.step(&grads)?;
    }
    Ok((loss, norm))
}

/// Validation RMSE after adaptation over every rating of every validation task, whatever their
/// support and query sizes: tasks are grouped by (support, query) size (in size order) and
/// each group is adapted in batches of `batch`. Tasks with an empty support set are predicted
/// by `c_0`. `None` without any query rating.
#[allow(clippy::too_many_arguments)]
fn validation_rmse(
    lstm: &MetaLstm,
    theta: &[Tensor],
    n_tables: usize,
    features: &Features,
    tasks: &[Task],
    steps: usize,
    batch: usize,
    device: &Device,
) -> candle_core::Result<Option<f64>> {
    grouped_query_rmse(features, tasks, theta[0].dtype(), device, batch, |support, query| match support {
        None => unadapted(theta, n_tables, query),
        Some(s) => Ok(unroll(lstm, theta, n_tables, s, Some(query), steps, None)?.query_pred.expect("query given")),
    })
}

/// A configured `meta-lstm`.
pub struct MetaLstmMethod {
    p: MetaLstmParams,
    table: toml::Table,
}

impl MetaLstmMethod {
    fn candle<T>(&self, what: &str, r: candle_core::Result<T>) -> Result<T> {
        r.map_err(|source| MethodError::Candle { method: NAME.into(), context: what.into(), source })
    }
}

impl Method for MetaLstmMethod {
    fn name(&self) -> &str {
        NAME
    }
    fn params(&self) -> toml::Table {
        self.table.clone()
    }
    fn meta_train(&self, data: &TrainData<'_>, ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        let p = &self.p;
        let common = p.common();
        let dev = ctx.device.clone();
        let shape = NetShape::new(&data.features.schema, p.embed_dim, &p.hidden);
        let nt = shape.user_vocab.len() + shape.item_vocab.len();
        let eligible: Vec<&History> =
            data.meta_train.iter().filter(|h| h.ratings.len() >= p.support + p.query).collect();
        if eligible.is_empty() {
            return Err(MethodError::Unsupported {
                method: NAME.into(),
                reason: format!("no meta-train user has support + query = {} ratings", p.support + p.query),
            });
        }
        let mu = crate::baselines::global_mean_of(data.meta_train, data.rating_min, data.rating_max) as f32;
        let (theta, lstm) = self.candle("init", init_meta(&shape, p, mu, &mut ctx.rng, &dev))?;
        let mut init = theta;
        init.extend(lstm.tensors());
        let vars = self.candle("init", nn::to_vars(&init))?;
        let n_theta = vars.len() - 6;
        let mut opt = self.candle(
            "optimizer",
            Adam::new(vars.clone(), ParamsAdamW { lr: p.outer_lr, weight_decay: 0.0, ..Default::default() }),
        )?;
        let validate = |vars: &[Var]| {
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().detach()).collect();
            let lstm = MetaLstm::from_tensors(&ts[n_theta..], p.preprocess_p);
            self.candle(
                "validation",
                validation_rmse(
                    &lstm,
                    &ts[..n_theta],
                    nt,
                    data.features,
                    data.validation,
                    p.inner_steps,
                    p.meta_batch,
                    &dev,
                ),
            )
        };
        let mut stopping =
            EarlyStopping::new(p.patience, 0, validate(&vars)?, self.candle("snapshot", nn::snapshot(&vars))?);
        let mut steps_done = 0u64;
        for step in 1..=p.meta_steps as u64 {
            steps_done = step;
            let (sup, qry) = sample_episodes(&eligible, &common, &mut ctx.rng);
            let (loss, norm) = self.candle(
                "meta-train step",
                (|| {
                    let dtype = init[0].dtype();
                    let s: Vec<&[Rating]> = sup.iter().map(|x| x.as_slice()).collect();
                    let q: Vec<&[Rating]> = qry.iter().map(|x| x.as_slice()).collect();
                    let (sr, qr) = (rows(data.features, &s, dtype, &dev)?, rows(data.features, &q, dtype, &dev)?);
                    meta_train_step(&vars, nt, p.preprocess_p, &sr, &qr, p.inner_steps, p.clip_norm, &mut opt)
                })(),
            )?;
            if !loss.is_finite() || !norm.is_finite() {
                return Err(MethodError::Diverged {
                    method: NAME.into(),
                    context: format!(
                        "meta-train loss {loss}, meta-gradient norm {norm} at step {step} (outer_lr = {}, \
                         inner_steps = {})",
                        p.outer_lr, p.inner_steps
                    ),
                });
            }
            if step % p.eval_every as u64 == 0 || step == p.meta_steps as u64 {
                let v = validate(&vars)?;
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    return Err(MethodError::Diverged {
                        method: NAME.into(),
                        context: format!("validation RMSE is {v} at step {step} (outer_lr = {})", p.outer_lr),
                    });
                }
                if stopping.observe(step, v, || self.candle("snapshot", nn::snapshot(&vars)))? {
                    break;
                }
            }
        }
        let (chosen, validation_loss, best) = stopping.finish();
        let lstm = MetaLstm::from_tensors(&best[n_theta..], p.preprocess_p);
        let mut notes: BTreeMap<String, String> = [("unit".to_string(), "meta-step".to_string())].into();
        notes.insert("meta-learner weights".into(), lstm.n_weights().to_string());
        let report = TrainReport { steps: steps_done, chosen_step: Some(chosen), validation_loss, notes };
        Ok(Box::new(Fitted {
            theta: best[..n_theta].to_vec(),
            lstm,
            n_tables: nt,
            steps: p.inner_steps,
            features: data.features.clone(),
            range: (data.rating_min, data.rating_max),
            report,
        }))
    }
}

/// A meta-trained `meta-lstm`: `c_0`, the embedding tables and the meta-learner.
struct Fitted {
    theta: Vec<Tensor>,
    lstm: MetaLstm,
    n_tables: usize,
    steps: usize,
    features: Arc<Features>,
    range: (f32, f32),
    report: TrainReport,
}

impl Model for Fitted {
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        let deltas = if task.support.is_empty() {
            None
        } else {
            let run = || -> candle_core::Result<Adaptation> {
                let sr = rows(&self.features, &[task.support], self.theta[0].dtype(), &ctx.device)?;
                let u = unroll(&self.lstm, &self.theta, self.n_tables, &sr, None, self.steps, None)?;
                Ok(Adaptation { deltas: u.deltas, query_pred: None, table_deltas: None })
            };
            Some(run().map_err(|source| MethodError::Candle {
                method: NAME.into(),
                context: format!("adapting to user {}", task.user),
                source,
            })?)
        };
        Ok(Box::new(ForUser {
            name: NAME,
            theta: &self.theta,
            n_tables: self.n_tables,
            features: &self.features,
            range: self.range,
            user: task.user,
            deltas,
            device: ctx.device.clone(),
        }))
    }
    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

mod fused;

#[cfg(test)]
mod tests;
