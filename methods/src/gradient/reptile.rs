//! `reptile`: Nichol, Achiam & Schulman (2018), "On First-Order Meta-Learning Algorithms".
//!
//! Per task, `k` steps of SGD or Adam from the meta-parameters on the task's rows (support and
//! query together during meta-training) give `phi_t`; the outer update moves the
//! meta-parameters towards their mean (batched Reptile, Algorithm 2):
//! `theta <- theta + epsilon * (1/T) sum_t (phi_t - theta)`. At test time the same `k` inner
//! steps run on the user's support set.
//!
//! Per-task copies of the embedding tables are explicit (`[T * V, e]`, looked up with task
//! offsets) so that inner Adam acts on table entries exactly as it would on a copied model.
//!
//! | parameter     | default | meaning                                              | valid |
//! |---------------|---------|------------------------------------------------------|-------|
//! | `embed_dim`   | 32      | embedding width per categorical field                | >= 1  |
//! | `hidden`      | [64, 64]| widths of the hidden ReLU layers                     | each >= 1 |
//! | `adapt`       | "all"   | parameters the inner loop adapts: "all" or "decision"| |
//! | `inner_lr`    | 0.05    | inner SGD or Adam learning rate                      | > 0   |
//! | `inner_steps` | 1       | inner steps k (meta-training and test time)          | >= 1  |
//! | `inner_optimizer` | "sgd" | "sgd" or "adam" (betas 0.9, 0.999; eps 1e-8)       | |
//! | `epsilon`     | 0.5     | outer interpolation step                             | (0, 1] |
//! | `meta_batch`  | 32      | tasks per meta-step                                  | >= 1  |
//! | `meta_steps`  | 1500    | maximum meta-steps                                   | >= 1  |
//! | `eval_every`  | 100     | meta-steps between validation checks                 | >= 1  |
//! | `patience`    | 4       | checks without gain before stopping                  | >= 1  |
//! | `support`, `query` | 10, 10 | episode sizes sampled from meta-train users    | >= 1  |
//! | `outer_lr`    | 0.001   | unused by Reptile (kept for a uniform table)         | > 0   |
//!
//! `inner_steps` was documented as 5, but a flattening bug in the parameter parser kept it at
//! the common default of 1 in every run until the parser was fixed; with 5 steps at `inner_lr`
//! 0.05 Reptile diverges on MovieLens-100k (NaN in 5 of 5 seeds), so 1 is the stated default now.

use super::functional::{self, Deltas, Rows};
use super::{CommonParams, GradientMethod, Outer};
use crate::nn::NetShape;
use crate::params::{self, Check};
use crate::space::Dim;
use crate::{Ctx, Method, Model, Result, TrainData};
use candle_core::{DType, Tensor, Var};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InnerOptimizer {
    Sgd,
    Adam,
}

/// The tuner's search space (see [`crate::space`]): the inner rate and the outer step
/// (`outer_lr` is unused by Reptile).
pub const SPACE: &[Dim] = &[
    Dim::Real { key: "inner_lr", lo: 1e-3, hi: 0.5, log: true },
    Dim::Real { key: "epsilon", lo: 0.05, hi: 1.0, log: true },
];

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ReptileParams {
    #[serde(flatten)]
    pub common: CommonParams,
    pub inner_optimizer: InnerOptimizer,
    pub epsilon: f64,
}

impl Default for ReptileParams {
    fn default() -> Self {
        ReptileParams { common: CommonParams::default(), inner_optimizer: InnerOptimizer::Sgd, epsilon: 0.5 }
    }
}

impl Check for ReptileParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()?;
        if !(self.epsilon > 0.0 && self.epsilon <= 1.0) {
            return Err(("epsilon", format!("must be in (0, 1], got {}", self.epsilon)));
        }
        Ok(())
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    let p: ReptileParams = params::parse("reptile", table)?;
    Ok(Box::new(GradientMethod {
        name: "reptile",
        table: params::to_table(&p),
        outer: Outer::Reptile { epsilon: p.epsilon, inner_adam: p.inner_optimizer == InnerOptimizer::Adam },
        common: p.common,
    }))
}

impl Method for GradientMethod {
    fn name(&self) -> &str {
        self.name
    }
    fn params(&self) -> toml::Table {
        self.table.clone()
    }
    fn meta_train(&self, data: &TrainData<'_>, ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        self.train(data, ctx)
    }
}

/// The adapted state of a batch of tasks after Reptile's inner loop.
pub struct InnerResult {
    pub deltas: Deltas,
    /// Per field, `[T * V_f, e]` table deltas (`None` with `adapt = "decision"`).
    pub tables: Option<Vec<Tensor>>,
    /// Mean loss at the last inner step, before its update.
    pub loss: f64,
}

struct AdamState {
    m: Tensor,
    v: Tensor,
}

fn adam_step(g: &Tensor, state: &mut Option<AdamState>, step: usize, lr: f64) -> candle_core::Result<Tensor> {
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let (m, v) = match state.take() {
        Some(s) => (((s.m * b1)? + (g * (1.0 - b1))?)?, ((s.v * b2)? + (g.sqr()? * (1.0 - b2))?)?),
        None => ((g * (1.0 - b1))?, (g.sqr()? * (1.0 - b2))?),
    };
    let t = step as i32 + 1;
    let m_hat = (&m / (1.0 - b1.powi(t)))?;
    let v_hat = (&v / (1.0 - b2.powi(t)))?;
    let update = (m_hat / (v_hat.sqrt()? + eps)?)?.affine(lr, 0.0)?;
    *state = Some(AdamState { m, v });
    Ok(update)
}

/// `k` inner steps of SGD or Adam on every task of `rows` from `theta` (no graph kept).
pub fn inner_loop(
    shape: &NetShape,
    theta: &[Tensor],
    rows: &Rows,
    c: &CommonParams,
    adam: bool,
) -> candle_core::Result<InnerResult> {
    let nt = shape.user_vocab.len() + shape.item_vocab.len();
    let (tables, dense) = theta.split_at(nt);
    let n_layers = dense.len() / 2;
    let e = shape.embed_dim;
    let all = c.adapt == super::AdaptLayers::All;
    let vocab: Vec<usize> = shape.user_vocab.iter().chain(&shape.item_vocab).copied().collect();
    // Row indices into the per-task tables: t * V_f + idx.
    let offset_idx: Vec<Tensor> = rows
        .idx_host
        .iter()
        .zip(&vocab)
        .map(|(ix, v)| {
            let off: Vec<u32> = ix.iter().enumerate().map(|(r, i)| (r / rows.n * v) as u32 + i).collect();
            Tensor::from_vec(off, ix.len(), tables[0].device())
        })
        .collect::<candle_core::Result<_>>()?;
    let emb0 = functional::embed(tables, rows)?;
    // Plain SGD keeps a layer's weight delta as low-rank factors where they are the cheaper
    // form (see `functional::Deltas`); Adam's per-weight scaling needs it dense.
    let low_rank: Vec<bool> =
        shape.layers().iter().map(|(d, o)| !adam && Deltas::low_rank_pays(c.inner_steps, rows.n, *d, *o)).collect();
    let dense_w: Vec<bool> = low_rank.iter().map(|x| !x).collect();
    let mut deltas = Deltas::zeros(n_layers);
    let mut tdeltas: Option<Vec<Tensor>> = None;
    let n_states = 2 * n_layers + nt;
    let mut states: Vec<Option<AdamState>> = (0..n_states).map(|_| None).collect();
    let mut loss = f64::NAN;
    for step in 0..c.inner_steps {
        let emb = match &tdeltas {
            Some(td) => {
                let parts = td
                    .iter()
                    .zip(&offset_idx)
                    .map(|(t, i)| t.index_select(i, 0))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                (&emb0 + Tensor::cat(&parts, 1)?.reshape((rows.t, rows.n, nt * e))?)?
            }
            None => emb0.clone(),
        };
        let (y, cache) = functional::forward(dense, &deltas, &emb, rows.numeric.as_ref())?;
        loss = functional::mse(&y, &rows.target)?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let g = functional::backward_parts(dense, &deltas, &cache, &y, &rows.target, 1.0, &dense_w)?;
        let mut update = |k: usize, g: &Tensor| -> candle_core::Result<Tensor> {
            if adam { adam_step(g, &mut states[k], step, c.inner_lr) } else { g.affine(c.inner_lr, 0.0) }
        };
        for l in 0..n_layers {
            if low_rank[l] {
                deltas.push_factor(l, cache.h[l].clone(), g.dz[l].affine(-c.inner_lr, 0.0)?)?;
            } else {
                let uw = update(2 * l, g.w(l))?;
                deltas.w[l] = Some(match &deltas.w[l] {
                    Some(d) => (d - uw)?,
                    None => uw.neg()?,
                });
            }
            let ub = update(2 * l + 1, &g.b[l])?;
            deltas.b[l] = Some(match &deltas.b[l] {
                Some(d) => (d - ub)?,
                None => ub.neg()?,
            });
        }
        if all {
            let ge = g.emb.narrow(2, 0, nt * e)?.reshape((rows.t * rows.n, nt * e))?;
            let mut next = Vec::with_capacity(nt);
            for f in 0..nt {
                let zeros = Tensor::zeros((rows.t * vocab[f], e), ge.dtype(), ge.device())?;
                let gt = zeros.index_add(&offset_idx[f], &ge.narrow(1, f * e, e)?.contiguous()?, 0)?;
                let u = update(2 * n_layers + f, &gt)?;
                next.push(match &tdeltas {
                    Some(td) => (&td[f] - u)?,
                    None => u.neg()?,
                });
            }
            tdeltas = Some(next);
        }
    }
    Ok(InnerResult { deltas, tables: tdeltas, loss })
}

/// One outer step of batched Reptile; returns the last inner loss.
pub fn outer_step(
    shape: &NetShape,
    theta: &[Var],
    rows: &Rows,
    c: &CommonParams,
    epsilon: f64,
    adam: bool,
) -> candle_core::Result<f64> {
    let values: Vec<Tensor> = theta.iter().map(|v| v.as_tensor().detach()).collect();
    let r = inner_loop(shape, &values, rows, c, adam)?;
    let nt = shape.user_vocab.len() + shape.item_vocab.len();
    let scale = epsilon / rows.t as f64;
    for (l, db) in r.deltas.b.iter().enumerate() {
        if let (Some(dw), Some(db)) = (r.deltas.weight_sum(l)?, db) {
            let (w, b) = (&theta[nt + 2 * l], &theta[nt + 2 * l + 1]);
            w.set(&(w.as_tensor() + (dw * scale)?)?)?;
            b.set(&(b.as_tensor() + (db.sum(0)? * scale)?)?)?;
        }
    }
    if let Some(td) = &r.tables {
        for (f, d) in td.iter().enumerate() {
            let (v, e) = theta[f].as_tensor().dims2()?;
            let mean = d.reshape((rows.t, v, e))?.sum(0)?;
            theta[f].set(&(theta[f].as_tensor() + (mean * scale)?)?)?;
        }
    }
    Ok(r.loss)
}

/// Predictions `[T, n_q]` of query rows with the per-task weights of `inner`.
pub fn predict_rows(
    shape: &NetShape,
    theta: &[Tensor],
    inner: &InnerResult,
    query: &Rows,
) -> candle_core::Result<Tensor> {
    let nt = shape.user_vocab.len() + shape.item_vocab.len();
    let (tables, dense) = theta.split_at(nt);
    let mut emb = functional::embed(tables, query)?;
    if let Some(td) = &inner.tables {
        let vocab: Vec<usize> = shape.user_vocab.iter().chain(&shape.item_vocab).copied().collect();
        let mut parts = Vec::with_capacity(nt);
        for f in 0..nt {
            let off: Vec<u32> =
                query.idx_host[f].iter().enumerate().map(|(r, i)| (r / query.n * vocab[f]) as u32 + i).collect();
            let off = Tensor::from_vec(off, query.t * query.n, emb.device())?;
            parts.push(td[f].index_select(&off, 0)?);
        }
        emb = (emb + Tensor::cat(&parts, 1)?.reshape((query.t, query.n, nt * shape.embed_dim))?)?;
    }
    Ok(functional::forward(dense, &inner.deltas, &emb, query.numeric.as_ref())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn vec1(t: &Tensor) -> Vec<f64> {
        t.to_vec1::<f64>().unwrap()
    }

    /// Two Adam steps by hand (betas 0.9, 0.999, eps 1e-8, lr 0.1) on gradients g1 = [0.5, -2],
    /// g2 = [1, 0.5]:
    /// step 1: m = 0.1 g1, v = 0.001 g1^2, m_hat = g1, v_hat = g1^2: update = lr g1 / (|g1| + eps)
    ///   = [0.099999998, -0.0999999995];
    /// step 2: m = 0.9 m + 0.1 g2 = [0.145, -0.13], v = 0.999 v + 0.001 g2^2 = [0.00124975, 0.004246],
    ///   m_hat = m / 0.19, v_hat = v / 0.001999: update = lr m_hat / (sqrt(v_hat) + eps)
    ///   = [0.0965182013614906, -0.0469468167986652]
    ///   (without the bias correction it would be lr m / sqrt(v) = [0.41, -0.20]).
    #[test]
    fn inner_adam_matches_two_steps_by_hand() {
        let g1 = Tensor::new(&[0.5f64, -2.0], &Device::Cpu).unwrap();
        let g2 = Tensor::new(&[1.0f64, 0.5], &Device::Cpu).unwrap();
        let mut state = None;
        let u1 = vec1(&adam_step(&g1, &mut state, 0, 0.1).unwrap());
        let u2 = vec1(&adam_step(&g2, &mut state, 1, 0.1).unwrap());
        let want1 = [0.09999999800000003, -0.0999999995];
        let want2 = [0.0965182013614906, -0.0469468167986652];
        for (got, want) in u1.iter().chain(&u2).zip(want1.iter().chain(&want2)) {
            assert!((got - want).abs() < 1e-12, "{u1:?} {u2:?}");
        }
        let s = state.unwrap();
        assert!((vec1(&s.m)[0] - 0.145).abs() < 1e-15 && (vec1(&s.v)[1] - 0.004246).abs() < 1e-15);
    }
}
