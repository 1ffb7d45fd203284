//! The meta-gradient of the SGD-inner-loop methods (MAML second and first order, MeLU,
//! Meta-SGD) on the CPU, recorded on the lean [`Tape`] instead of candle's autograd.
//!
//! The computation is [`Learner::adapt_batch`] with query rows followed by the query MSE, op
//! for op: [`super::functional`]'s forward and hand-written inner backward, low-rank weight deltas
//! where they pay ([`Deltas::low_rank_pays`]; dense under Meta-SGD's per-weight rates), row-space
//! embedding updates with match matrices, the query rows' embedding update made once from the
//! summed inner gradients. The tape's reverse pass differentiates through the inner backward, so
//! the result is the exact second-order meta-gradient (with respect to Meta-SGD's rates too);
//! first order detaches the inner gradients, as `adapt_batch` does. The inner backward skips the
//! input rows' gradient when embeddings do not adapt (MeLU), where nothing would read it.
//!
//! `gradient::tests` checks it against candle's autograd (f64, to 1e-12) and central finite
//! differences; `reference` against PyTorch (f32, MeLU shape).

use super::functional::{Deltas, Rows};
use super::tape::{Dims, Id, Real, Tape, transposed};
use super::{AdaptLayers, Learner};

/// Rows of a meta-batch in host memory (see [`Rows`]).
pub struct HostRows<T> {
    pub idx: Vec<Vec<u32>>,
    /// `[t, n, m]`, if any.
    pub numeric: Option<Vec<T>>,
    pub m: usize,
    /// `[t, n]`.
    pub target: Vec<T>,
    pub t: usize,
    pub n: usize,
}

/// A matrix on the tape with its transpose, so that products with it and their adjoints read
/// row-major right operands (see [`Tape::matmul_twin`]).
#[derive(Clone, Copy)]
struct Twin {
    m: Id,
    t: Id,
}

impl Twin {
    /// The transpose (whose twin is this matrix).
    fn t(self) -> Twin {
        Twin { m: self.t, t: self.m }
    }
}

/// `a b` on the tape.
fn mm<T: Real>(tp: &mut Tape<T>, a: Id, b: Twin) -> Id {
    tp.matmul_twin(a, b.m, b.t)
}

/// Per-task deltas on the tape (see [`Deltas`]): dense, as stacked low-rank factors `(A, B)`
/// (`[t, r, d_l]`, `[t, r, d_{l+1}]`), and biases `[t, 1, d_{l+1}]`.
struct TapeDeltas {
    w: Vec<Option<Id>>,
    factors: Vec<Option<(Id, Id)>>,
    b: Vec<Option<Id>>,
}

/// What the forward pass keeps: each layer's input and the hidden layers' ReLU masks.
struct TapeCache {
    h: Vec<Id>,
    mask: Vec<Id>,
}

/// The inner gradients (scaled by the inner rate): each layer's output gradient and bias
/// gradient, and the input rows' gradient when asked for.
struct TapeGrads {
    dz: Vec<Id>,
    b: Vec<Id>,
    emb: Option<Id>,
}

/// `acc + x dW_l` through layer `l`'s deltas, dense and low-rank (`(x A^T) B`); with `transposed`,
/// `acc + x dW_l^T` (`(x B^T) A`), the inner backward's products. Each product is accumulated
/// into the sum ([`Tape::matmul_add`]), so `acc`'s value must not be read afterwards.
fn add_delta_products<T: Real>(tp: &mut Tape<T>, acc: Id, x: Id, d: &TapeDeltas, l: usize, transposed: bool) -> Id {
    let mut acc = acc;
    if let Some(dw) = d.w[l] {
        acc = tp.matmul_add(acc, x, false, dw, transposed);
    }
    if let Some((a, b)) = d.factors[l] {
        let (first, second) = if transposed { (b, a) } else { (a, b) };
        let p = tp.matmul(x, false, first, true);
        acc = tp.matmul_add(acc, p, false, second, false);
    }
    acc
}

/// [`super::functional::forward`] on the tape: returns `y: [t, n, 1]`.
fn forward<T: Real>(tp: &mut Tape<T>, dense: &[Twin], d: &TapeDeltas, emb: Id, numeric: Option<Id>) -> (Id, TapeCache) {
    let mut h = match numeric {
        Some(x) => tp.concat_cols(emb, x),
        None => emb,
    };
    let n_layers = dense.len() / 2;
    let mut cache = TapeCache { h: Vec::with_capacity(n_layers), mask: Vec::with_capacity(n_layers) };
    for l in 0..n_layers {
        let z = tp.matmul_twin_bias(h, dense[2 * l].m, dense[2 * l].t, dense[2 * l + 1].m);
        let mut z = add_delta_products(tp, z, h, d, l, false);
        if let Some(db) = d.b[l] {
            z = tp.add_task_bias_consuming(z, db);
        }
        cache.h.push(h);
        if l + 1 < n_layers {
            let mask = tp.positive(z);
            h = tp.mul_const_consuming(z, mask);
            cache.mask.push(mask);
        } else {
            h = z;
        }
    }
    (h, cache)
}

/// [`super::functional::backward_parts`] on the tape, with no dense weight gradients (the caller makes
/// them from `h` and `dz`) and the input rows' gradient only when `need_emb`.
#[allow(clippy::too_many_arguments)]
fn backward<T: Real>(
    tp: &mut Tape<T>,
    dense: &[Twin],
    d: &TapeDeltas,
    cache: &TapeCache,
    y: Id,
    target: Id,
    scale: f64,
    need_emb: bool,
) -> TapeGrads {
    let n = tp.dims(y).r;
    let n_layers = dense.len() / 2;
    let mut dz = tp.scaled_diff(y, target, 2.0 * scale / n as f64);
    let mut dzs = vec![None; n_layers];
    let mut b = vec![None; n_layers];
    let mut emb = None;
    for l in (0..n_layers).rev() {
        b[l] = Some(tp.sum_rows(dz));
        dzs[l] = Some(dz);
        if l == 0 && !need_emb {
            break;
        }
        // dh_l = dz_l (W_l + dW_l)^T
        let dh = mm(tp, dz, dense[2 * l].t());
        let dh = add_delta_products(tp, dh, dz, d, l, true);
        if l > 0 {
            dz = tp.mul_const_consuming(dh, cache.mask[l - 1]);
        } else {
            emb = Some(dh);
        }
    }
    TapeGrads {
        dz: dzs.into_iter().map(|x| x.expect("set")).collect(),
        b: b.into_iter().map(|x| x.expect("set")).collect(),
        emb,
    }
}

/// [`super::functional::match_matrices`] in host memory.
fn match_matrices<T: Real>(a: &HostRows<T>, support: &HostRows<T>) -> Vec<T> {
    super::functional::match_values(&a.idx, &support.idx, a.t, a.n, support.n, T::ZERO, T::ONE)
}

/// The query MSE after `steps` inner SGD steps on `support` (as [`Learner::adapt_batch`] and
/// [`super::functional::mse`]) and its gradient with respect to every parameter, in `params`'
/// order. `params` holds the values (row-major) of `learner.theta`, then of `learner.rates`
/// when it has them (Meta-SGD: per-parameter inner rates, dense weight deltas);
/// `learner` gives shape, adaptation mode, order and rate.
pub fn meta_gradient<T: Real>(
    learner: &Learner,
    params: &[Vec<T>],
    support: &HostRows<T>,
    query: &HostRows<T>,
    steps: usize,
) -> (f64, Vec<Vec<T>>) {
    let params: Vec<&[T]> = params.iter().map(|p| p.as_slice()).collect();
    meta_gradient_with(learner, &params, &weight_transposes(learner, &params), support, query, steps)
}

/// The transposes of the learner's weights (`params` as in [`meta_gradient`]), made once for
/// the tapes of every part of a meta-batch.
pub fn weight_transposes<T: Real>(learner: &Learner, params: &[&[T]]) -> Vec<Vec<T>> {
    let nt = learner.n_tables();
    learner.shape.layers().iter().enumerate().map(|(l, (i, o))| transposed(params[nt + 2 * l], *i, *o)).collect()
}

/// [`meta_gradient`] given the weights' transposes ([`weight_transposes`]); the tape reads
/// `params` and `transposes` in place.
pub fn meta_gradient_with<'a, T: Real>(
    learner: &Learner,
    params: &[&'a [T]],
    transposes: &'a [Vec<T>],
    support: &HostRows<T>,
    query: &HostRows<T>,
    steps: usize,
) -> (f64, Vec<Vec<T>>) {
    let has_rates = learner.rates.is_some();
    let n_theta = learner.theta.len();
    assert_eq!(params.len(), if has_rates { 2 * n_theta } else { n_theta }, "parameters and rates");
    let (theta, rate_vals) = params.split_at(n_theta);
    let shape = &learner.shape;
    let nt = learner.n_tables();
    let e = shape.embed_dim;
    let layers = shape.layers();
    let n_layers = layers.len();
    let mut tp = Tape::<T>::new();
    let vocab: Vec<usize> = shape.user_vocab.iter().chain(&shape.item_vocab).copied().collect();
    let tables: Vec<Id> = (0..nt).map(|f| tp.leaf_ref(theta[f], Dims::new(1, vocab[f], e))).collect();
    // Weights with their transposes; biases (whose twins are never read) as themselves.
    let mut dense = Vec::with_capacity(2 * n_layers);
    for (l, (i, o)) in layers.iter().enumerate() {
        let w = tp.leaf_ref(theta[nt + 2 * l], Dims::new(1, *i, *o));
        dense.push(Twin { m: w, t: tp.transpose_given(w, &transposes[l]) });
        let b = tp.leaf_ref(theta[nt + 2 * l + 1], Dims::new(1, 1, *o));
        dense.push(Twin { m: b, t: b });
    }
    // Meta-SGD's rates, laid out as theta: tables' rates (read only with `All`), then per layer
    // the weight's `[1, d, o]` and the bias's `[1, 1, o]`.
    let rate_tables: Vec<Id> = if has_rates {
        (0..nt).map(|f| tp.leaf_ref(rate_vals[f], Dims::new(1, vocab[f], e))).collect()
    } else {
        Vec::new()
    };
    let mut rate_dense = Vec::new();
    if has_rates {
        for (l, (i, o)) in layers.iter().enumerate() {
            rate_dense.push(tp.leaf_ref(rate_vals[nt + 2 * l], Dims::new(1, *i, *o)));
            rate_dense.push(tp.leaf_ref(rate_vals[nt + 2 * l + 1], Dims::new(1, 1, *o)));
        }
    }
    let (t, ns, nq) = (support.t, support.n, query.n);
    let emb_s0 = tp.gather(&tables, &support.idx, t, ns);
    let emb_q0 = tp.gather(&tables, &query.idx, t, nq);
    let numeric =
        |tp: &mut Tape<T>, r: &HostRows<T>| r.numeric.as_ref().map(|v| tp.constant(v, Dims::new(r.t, r.n, r.m)));
    let (num_s, num_q) = (numeric(&mut tp, support), numeric(&mut tp, query));
    let target_s = tp.constant(&support.target, Dims::new(t, ns, 1));
    let target_q = tp.constant(&query.target, Dims::new(t, nq, 1));
    let all = learner.adapt == AdaptLayers::All;
    let nf = support.idx.len();
    let m_ss = (all && steps > 1).then(|| tp.constant(&match_matrices(support, support), Dims::new(t * nf, ns, ns)));
    let m_qs = all.then(|| tp.constant(&match_matrices(query, support), Dims::new(t * nf, nq, ns)));
    // Meta-SGD's rates looked up at the support rows.
    let rate_rows = (all && has_rates).then(|| tp.gather(&rate_tables, &support.idx, t, ns));
    let scale = if has_rates { 1.0 } else { learner.inner_lr };
    // Per-weight rates need the dense delta.
    let low_rank: Vec<bool> =
        layers.iter().map(|(d, o)| !has_rates && Deltas::low_rank_pays(steps, ns, *d, *o)).collect();
    let mut deltas = TapeDeltas { w: vec![None; n_layers], factors: vec![None; n_layers], b: vec![None; n_layers] };
    let mut emb_support: Option<Id> = None;
    let mut ge_sum: Option<Id> = None;
    let fix = |tp: &mut Tape<T>, x: Id| if learner.first_order { tp.detach(x) } else { x };
    for step in 0..steps {
        let emb_s = match emb_support {
            Some(d) => tp.add(emb_s0, d),
            None => emb_s0,
        };
        let (y, cache) = forward(&mut tp, &dense, &deltas, emb_s, num_s);
        let g = backward(&mut tp, &dense, &deltas, &cache, y, target_s, scale, all);
        for l in 0..n_layers {
            let mut gb = fix(&mut tp, g.b[l]);
            if has_rates {
                gb = tp.mul_shared(gb, rate_dense[2 * l + 1]);
            }
            let neg_dz = tp.neg(g.dz[l]);
            if low_rank[l] {
                let (a, b) = (fix(&mut tp, cache.h[l]), fix(&mut tp, neg_dz));
                deltas.factors[l] = Some(match deltas.factors[l] {
                    Some((a0, b0)) => (tp.concat_rows(a0, a), tp.concat_rows(b0, b)),
                    None => (a, b),
                });
            } else {
                let change = tp.matmul(cache.h[l], true, neg_dz, false);
                let mut change = fix(&mut tp, change);
                if has_rates {
                    change = tp.mul_shared(change, rate_dense[2 * l]);
                }
                // The earlier delta is a product's operand (the reverse pass reads it); the change
                // is read by nothing else.
                deltas.w[l] = Some(match deltas.w[l] {
                    Some(d) => tp.add_consuming(d, change, change),
                    None => change,
                });
            }
            deltas.b[l] = Some(match deltas.b[l] {
                Some(d) => tp.sub(d, gb),
                None => tp.neg(gb),
            });
        }
        if all {
            let emb = g.emb.expect("asked for");
            let ge = if tp.dims(emb).c == nt * e { emb } else { tp.cols(emb, 0, nt * e) };
            let mut ge = fix(&mut tp, ge);
            if let Some(r) = rate_rows {
                ge = tp.mul(ge, r);
            }
            if step + 1 < steps {
                let st = tp.emb_step(m_ss.expect("built when steps > 1"), ge, e);
                // The earlier update was read by `emb_s`'s addition only.
                emb_support = Some(match emb_support {
                    Some(d) => tp.sub_consuming(d, st, d),
                    None => tp.neg(st),
                });
            }
            // The earlier sum is read by nothing else (an inner step's `ge` by `emb_step`, which
            // does not keep it).
            ge_sum = Some(match ge_sum {
                Some(s) => tp.add_consuming(s, ge, s),
                None => ge,
            });
        }
    }
    let emb_q = match (m_qs, ge_sum) {
        (Some(m), Some(g)) => {
            // `emb_q0 - st`, the same bits as `emb_q0 + (-st)` without the negated copy.
            let st = tp.emb_step(m, g, e);
            tp.sub_consuming(emb_q0, st, st)
        }
        _ => emb_q0,
    };
    let (y, _) = forward(&mut tp, &dense, &deltas, emb_q, num_q);
    let loss = tp.mse(y, target_q);
    let value = tp.val(loss)[0].to_f64();
    tp.backward(loss);
    let grads = tables
        .iter()
        .chain(dense.iter().map(|d| &d.m))
        .chain(&rate_tables)
        .chain(&rate_dense)
        .map(|id| match tp.take_grad(*id) {
            Some(g) => g,
            None => vec![T::ZERO; tp.dims(*id).len()],
        })
        .collect();
    (value, grads)
}

/// `rows` in host memory.
pub fn host_rows<T: Real + candle_core::WithDType>(rows: &Rows) -> candle_core::Result<HostRows<T>> {
    let (numeric, m) = match &rows.numeric {
        Some(x) => (Some(x.flatten_all()?.to_vec1::<T>()?), x.dim(2)?),
        None => (None, 0),
    };
    Ok(HostRows {
        idx: rows.idx_host.clone(),
        numeric,
        m,
        target: rows.target.flatten_all()?.to_vec1::<T>()?,
        t: rows.t,
        n: rows.n,
    })
}
