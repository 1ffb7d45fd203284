//! The batched functional network with its backward pass written as candle ops.
//!
//! Every gradient-based method (MAML, first-order MAML, Meta-SGD, MeLU, Reptile) runs the
//! network of [`crate::nn::NetShape`] through this module: a meta-batch of `T` tasks with `n`
//! rows each, one matmul per layer for all tasks, and per-task *deltas* to the shared
//! parameters (the fast weights are `theta + delta_t`).
//!
//! candle's `backward()` returns detached gradients, so it cannot differentiate through an
//! inner-loop gradient. Here the inner gradient is computed by [`backward`], an ordinary
//! candle expression of the parameters; the outer `backward()` then differentiates through it,
//! which gives the exact second-order meta-gradient (checked against finite differences and
//! against PyTorch in the tests). First order is the same expression with the inner gradient
//! detached: an explicit choice, never a silent fallback.
//!
//! Shapes: `h_0 = [emb | num]: [T, n, d_0]`, `z_l = h_l (W_l + dW_l) + b_l + db_l`,
//! `h_{l+1} = relu(z_l)`, output `y = z_{L-1}: [T, n]`. Shared weights multiply the rows of all
//! tasks as one `[T n, d_l] x [d_l, d_{l+1}]` matmul; per-task deltas as a batched matmul.
//!
//! Embedding tables adapt in the inner loop in *row space*: a table update
//! `E'_t = E - a * sum_s onehot(idx_s) g_s` looked up at row `q` equals
//! `E[idx_q] - a * sum_s M_t[q, s] g_s` with the match matrix `M_t[q, s] = [idx_q == idx_s]`,
//! so the update of looked-up rows is a batched matmul with a constant matrix: exact, and
//! differentiable to second order.

use crate::nn::add_bcast;
use candle_core::{DType, Device, Result, Tensor};

/// Rows of a meta-batch: the per-field indices and numeric features of `T x n` (user, item)
/// pairs, with their targets.
#[derive(Clone, Debug)]
pub struct Rows {
    /// Per categorical field (user fields then item fields), `[T * n]` u32 indices.
    pub idx: Vec<Tensor>,
    /// Host copy of `idx`, `[field][T * n]`, for match matrices.
    pub idx_host: Vec<Vec<u32>>,
    /// `[T, n, m]` numeric features, if any.
    pub numeric: Option<Tensor>,
    /// `[T, n]` targets (zeros where unknown, e.g. items to predict).
    pub target: Tensor,
    pub t: usize,
    pub n: usize,
}

impl Rows {
    /// The rows of tasks `range` (tasks are stored one after another).
    pub fn tasks(&self, range: std::ops::Range<usize>) -> Result<Rows> {
        let (start, len) = (range.start, range.len());
        let n = self.n;
        Ok(Rows {
            idx: self.idx.iter().map(|i| i.narrow(0, start * n, len * n)).collect::<Result<_>>()?,
            idx_host: self.idx_host.iter().map(|h| h[start * n..(start + len) * n].to_vec()).collect(),
            numeric: self.numeric.as_ref().map(|x| x.narrow(0, start, len)).transpose()?,
            target: self.target.narrow(0, start, len)?,
            t: len,
            n,
        })
    }
}

/// Per-task deltas to the shared parameters (`None` = zero).
///
/// A weight delta is held densely (`w`) or, where that is cheaper, as low-rank factors
/// (`w_factors`): an inner step of plain SGD changes `W_l` by `-a h_l^T dz_l`, a matrix of rank
/// at most `n_s` (the support rows), so `x (W + sum_k A_k^T B_k) = x W + sum_k (x A_k^T) B_k`
/// is exact and costs `n_s (d_l + d_{l+1})` per row instead of `d_l d_{l+1}`, with no
/// `[T, d_l, d_{l+1}]` tensor made in the forward pass or its backward.
#[derive(Clone, Debug, Default)]
pub struct Deltas {
    /// `[T, d_l, d_{l+1}]` per dense layer.
    pub w: Vec<Option<Tensor>>,
    /// Per dense layer, factors `(A: [T, n_s, d_l], B: [T, n_s, d_{l+1}])` whose products
    /// `A^T B` add to the layer's weight delta (empty or absent: none).
    pub w_factors: Vec<Vec<(Tensor, Tensor)>>,
    /// `[T, d_{l+1}]` per dense layer.
    pub b: Vec<Option<Tensor>>,
    /// Deltas of the looked-up embedding rows of the support rows: `[T, n_s, F e]`.
    pub emb_support: Option<Tensor>,
    /// The same for the query rows: `[T, n_q, F e]`.
    pub emb_query: Option<Tensor>,
}

impl Deltas {
    pub fn zeros(n_layers: usize) -> Deltas {
        Deltas {
            w: vec![None; n_layers],
            w_factors: vec![Vec::new(); n_layers],
            b: vec![None; n_layers],
            emb_support: None,
            emb_query: None,
        }
    }

    /// Adds `A^T B` to layer `l`'s weight delta as low-rank factors, stacked along the rank
    /// with those already there, so that the layer costs two matmuls however many steps.
    pub fn push_factor(&mut self, l: usize, a: Tensor, b: Tensor) -> Result<()> {
        if self.w_factors.len() <= l {
            self.w_factors.resize(l + 1, Vec::new());
        }
        let stacked = match self.w_factors[l].pop() {
            Some((a0, b0)) => (Tensor::cat(&[&a0, &a], 1)?, Tensor::cat(&[&b0, &b], 1)?),
            None => (a, b),
        };
        self.w_factors[l].push(stacked);
        Ok(())
    }

    /// Whether a weight delta built by `steps` plain-SGD steps on `n` rows per task is cheaper
    /// as low-rank factors than dense, for a `d_in x d_out` layer: `steps n (d_in + d_out)`
    /// multiply-adds per row against `d_in d_out`.
    pub fn low_rank_pays(steps: usize, n: usize, d_in: usize, d_out: usize) -> bool {
        steps * n * (d_in + d_out) <= d_in * d_out
    }

    /// The sum over tasks of layer `l`'s weight delta, `[d_l, d_{l+1}]` (`None` when it has
    /// none): the factors' part as one matmul over the rows of all tasks.
    pub fn weight_sum(&self, l: usize) -> Result<Option<Tensor>> {
        let mut out = match self.w.get(l).cloned().flatten() {
            Some(d) => Some(d.sum(0)?),
            None => None,
        };
        for (a, b) in self.factors(l) {
            let (t, r, d) = a.dims3()?;
            let e = b.dim(2)?;
            let p = a.reshape((t * r, d))?.t()?.matmul(&b.reshape((t * r, e))?)?;
            out = Some(match out {
                Some(x) => (x + p)?,
                None => p,
            });
        }
        Ok(out)
    }

    /// The low-rank factors of layer `l`'s weight delta.
    fn factors(&self, l: usize) -> &[(Tensor, Tensor)] {
        self.w_factors.get(l).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Layer `l`'s whole weight delta `[T, d_l, d_{l+1}]` (dense part plus the factors'
    /// products), or `None` when it has none.
    pub fn weight(&self, l: usize) -> Result<Option<Tensor>> {
        let mut out = self.w.get(l).cloned().flatten();
        for (a, b) in self.factors(l) {
            let p = a.transpose(1, 2)?.matmul(b)?;
            out = Some(match out {
                Some(d) => (d + p)?,
                None => p,
            });
        }
        Ok(out)
    }
}

/// What the forward pass keeps for the backward pass.
pub struct Cache {
    /// Inputs of each dense layer, `[T, n, d_l]`.
    pub h: Vec<Tensor>,
    /// ReLU masks of the hidden layers (constants), `[T, n, d_{l+1}]`.
    pub mask: Vec<Tensor>,
}

/// Per-task gradients of the per-task mean squared error, times a scale (the inner rate).
pub struct Grads {
    /// `h_l^T dz_l`, for the layers whose dense gradient was asked for (see [`backward_parts`]).
    pub w: Vec<Option<Tensor>>,
    /// The scaled gradient at each layer's output, `dz_l: [T, n, d_{l+1}]`.
    pub dz: Vec<Tensor>,
    pub b: Vec<Tensor>,
    /// Gradient with respect to the input rows, `[T, n, d_0]` (embedding columns first).
    pub emb: Tensor,
}

impl Grads {
    /// Layer `l`'s dense weight gradient (asked for of every layer by [`backward`]).
    pub fn w(&self, l: usize) -> &Tensor {
        self.w[l].as_ref().expect("dense weight gradient asked for")
    }
}

/// The embedding part of the input rows: `[T, n, F e]`, looked up from the shared tables.
pub fn embed(tables: &[Tensor], rows: &Rows) -> Result<Tensor> {
    let parts = tables.iter().zip(&rows.idx).map(|(t, i)| t.index_select(i, 0)).collect::<Result<Vec<_>>>()?;
    let e = Tensor::cat(&parts, 1)?;
    let width = e.dim(1)?;
    e.reshape((rows.t, rows.n, width))
}

/// `z [T, n, e] + b [T, e]`, each task's row `b_t` added to its `n` rows (see [`crate::rows`]).
fn add_task_rows(z: &Tensor, b: &Tensor) -> Result<Tensor> {
    z + crate::rows::repeat_rows(b, z.dim(1)?)?
}

/// `sum_i x[t, i, :]` of `x [T, n, e]` (see [`crate::rows`]).
fn sum_task_rows(x: &Tensor) -> Result<Tensor> {
    crate::rows::sum_rows(x)
}

/// `h [T, n, d] x W [d, e]` as one matmul over all rows.
fn shared_matmul(h: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (t, n, d) = h.dims3()?;
    let e = w.dim(1)?;
    h.reshape((t * n, d))?.matmul(w)?.reshape((t, n, e))
}

/// Forward pass. `emb` is the looked-up embedding part (`[T, n, F e]`, deltas included).
/// Returns `y: [T, n]` and the cache for [`backward`].
pub fn forward(dense: &[Tensor], deltas: &Deltas, emb: &Tensor, numeric: Option<&Tensor>) -> Result<(Tensor, Cache)> {
    let mut h = match numeric {
        Some(num) => Tensor::cat(&[emb, num], 2)?,
        None => emb.clone(),
    };
    let n_layers = dense.len() / 2;
    let mut cache = Cache { h: Vec::with_capacity(n_layers), mask: Vec::with_capacity(n_layers) };
    for l in 0..n_layers {
        let mut z = add_bcast(&shared_matmul(&h, &dense[2 * l])?, &dense[2 * l + 1])?;
        if let Some(dw) = &deltas.w[l] {
            z = (z + h.matmul(dw)?)?;
        }
        for (a, b) in deltas.factors(l) {
            z = (z + h.matmul(&a.transpose(1, 2)?)?.matmul(b)?)?;
        }
        if let Some(db) = &deltas.b[l] {
            z = add_task_rows(&z, db)?;
        }
        cache.h.push(h);
        if l + 1 < n_layers {
            let mask = crate::relu::step(&z, false)?;
            h = (&z * &mask)?;
            cache.mask.push(mask);
        } else {
            h = z;
        }
    }
    Ok((h.squeeze(2)?, cache))
}

/// Backward pass of the per-task loss `L_t = (1/n) sum_i (y_ti - r_ti)^2`, written as candle
/// ops so that it can itself be differentiated. Every gradient is multiplied by `scale`
/// (folded into the small output gradient, the cheapest place).
pub fn backward(
    dense: &[Tensor],
    deltas: &Deltas,
    cache: &Cache,
    y: &Tensor,
    target: &Tensor,
    scale: f64,
) -> Result<Grads> {
    backward_parts(dense, deltas, cache, y, target, scale, &vec![true; dense.len() / 2])
}

/// [`backward`], computing the dense weight gradient `h_l^T dz_l` only of the layers where
/// `dense_w[l]` (the others keep `dz_l` and `h_l` as low-rank factors, see [`Deltas`]).
pub fn backward_parts(
    dense: &[Tensor],
    deltas: &Deltas,
    cache: &Cache,
    y: &Tensor,
    target: &Tensor,
    scale: f64,
    dense_w: &[bool],
) -> Result<Grads> {
    let (_, n) = y.dims2()?;
    let n_layers = dense.len() / 2;
    // dL_t/dy = 2 (y - r) / n
    let mut dz = ((y - target)? * (2.0 * scale / n as f64))?.unsqueeze(2)?;
    let mut w = vec![None; n_layers];
    let mut dzs = vec![None; n_layers];
    let mut b = vec![None; n_layers];
    let mut emb = None;
    for l in (0..n_layers).rev() {
        let h = &cache.h[l];
        if dense_w[l] {
            w[l] = Some(h.transpose(1, 2)?.matmul(&dz)?);
        }
        b[l] = Some(sum_task_rows(&dz)?);
        // dh_l = dz_l (W_l + dW_l)^T
        let wt = dense[2 * l].t()?;
        let mut dh = shared_matmul(&dz, &wt)?;
        if let Some(dw) = &deltas.w[l] {
            dh = (dh + dz.matmul(&dw.transpose(1, 2)?)?)?;
        }
        for (fa, fb) in deltas.factors(l) {
            dh = (dh + dz.matmul(&fb.transpose(1, 2)?)?.matmul(fa)?)?;
        }
        dzs[l] = Some(dz.clone());
        if l > 0 {
            dz = (dh * &cache.mask[l - 1])?;
        } else {
            emb = Some(dh);
        }
    }
    let emb = emb.expect("at least one layer");
    Ok(Grads {
        w,
        dz: dzs.into_iter().map(|x| x.expect("set")).collect(),
        b: b.into_iter().map(|x| x.expect("set")).collect(),
        emb,
    })
}

/// Per-field match matrices `M[t, f, a, s] = [idx_f(a) == idx_f(s)]` between rows `a` and
/// support rows `s` of each task, as one `[T * F, n_a, n_s]` tensor of `dtype` (task-major), so
/// that every field's update is one batched matmul.
pub fn match_matrices(a: &Rows, support: &Rows, dtype: DType, device: &Device) -> Result<Tensor> {
    let m = match_values(&a.idx_host, &support.idx_host, a.t, a.n, support.n, 0f32, 1f32);
    Tensor::from_vec(m, (a.t * a.idx_host.len(), a.n, support.n), device)?.to_dtype(dtype)
}

/// The values of [`match_matrices`] in host memory, `zero` and `one` of the caller's type, from
/// per-field indices of `t` tasks with `na` and `ns` rows each (task-major).
pub fn match_values<T: Copy>(
    a: &[Vec<u32>],
    support: &[Vec<u32>],
    t: usize,
    na: usize,
    ns: usize,
    zero: T,
    one: T,
) -> Vec<T> {
    let nf = a.len();
    let mut m = Vec::with_capacity(t * nf * na * ns);
    // Element (task, f, i, j) in that order, each written once and without a branch (whether
    // ids match is data, which a branch would mispredict).
    for task in 0..t {
        for (ia, is) in a.iter().zip(support) {
            let s_ids = &is[task * ns..][..ns];
            for &va in &ia[task * na..][..na] {
                m.extend(s_ids.iter().map(|&id| if id == va { one } else { zero }));
            }
        }
    }
    m
}

/// Row-space update of looked-up embeddings: `delta -= M_f g_f` for every field `f` (blocks of
/// width `e`) of `g: [T, n_s, F e]` (rates and scale already applied), as one batched matmul.
pub fn embedding_step(delta: Option<&Tensor>, matches: &Tensor, g: &Tensor, e: usize) -> Result<Tensor> {
    let (t, ns, width) = g.dims3()?;
    let nf = width / e;
    let na = matches.dim(1)?;
    // [T, n_s, F, e] -> [T, F, n_s, e] -> [T F, n_s, e]
    let g = g.reshape((t, ns, nf, e))?.transpose(1, 2)?.contiguous()?.reshape((t * nf, ns, e))?;
    let step = matches.matmul(&g)?.reshape((t, nf, na, e))?.transpose(1, 2)?.contiguous()?.reshape((t, na, width))?;
    match delta {
        Some(d) => d - step,
        None => step.neg(),
    }
}

/// Mean squared error over all rows of all tasks.
pub fn mse(y: &Tensor, target: &Tensor) -> Result<Tensor> {
    (y - target)?.sqr()?.mean_all()
}
