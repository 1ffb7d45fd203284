//! The functional feature network shared by the gradient-based methods.
//!
//! `r_hat = MLP([E_u1[x_u1], .., E_uF[x_uF], E_i1[x_i1], .., E_iG[x_iG], x_num])`: one embedding
//! table per categorical field of users and items, concatenated with the items' numeric
//! features, then dense layers with ReLU and one linear rating output.
//!
//! The forward pass takes its parameters as an explicit slice, so a method can run it on its
//! meta-parameters, on per-user fast weights or on fine-tuned copies with the same code.
//! Parameter layout (see [`NetShape::param_names`]): user embedding tables, item embedding
//! tables, then `W_0, b_0, .., W_L, b_L` with `W_l: [in, out]`; the last layer has `out = 1`.

use candle_core::{DType, Device, Tensor, Var};
use metarec_suites::{Features, Rating, Rng, Schema};

/// Sizes of the network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetShape {
    pub user_vocab: Vec<usize>,
    pub item_vocab: Vec<usize>,
    pub n_numeric: usize,
    pub embed_dim: usize,
    pub hidden: Vec<usize>,
}

impl NetShape {
    pub fn new(schema: &Schema, embed_dim: usize, hidden: &[usize]) -> NetShape {
        NetShape {
            user_vocab: schema.user_fields.iter().map(|f| f.vocab).collect(),
            item_vocab: schema.item_fields.iter().map(|f| f.vocab).collect(),
            n_numeric: schema.item_numeric.len(),
            embed_dim,
            hidden: hidden.to_vec(),
        }
    }

    /// Width of the concatenated input of the first dense layer.
    pub fn input_dim(&self) -> usize {
        (self.user_vocab.len() + self.item_vocab.len()) * self.embed_dim + self.n_numeric
    }

    pub(crate) fn n_tables(&self) -> usize {
        self.user_vocab.len() + self.item_vocab.len()
    }

    /// Widths of the dense layers as `(in, out)`.
    pub fn layers(&self) -> Vec<(usize, usize)> {
        let mut dims = vec![self.input_dim()];
        dims.extend(&self.hidden);
        dims.push(1);
        dims.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// Names of the parameters, in layout order.
    pub fn param_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.user_vocab.len()).map(|f| format!("embed.user.{f}")).collect();
        names.extend((0..self.item_vocab.len()).map(|f| format!("embed.item.{f}")));
        for l in 0..self.layers().len() {
            names.push(format!("dense.{l}.weight"));
            names.push(format!("dense.{l}.bias"));
        }
        names
    }

    /// Initial parameters from our generator: embeddings `N(0, 0.1^2)`, dense weights He-normal
    /// (`N(0, 2/in)`; `N(0, 1/in)` for the linear output), biases 0 except the output bias,
    /// which starts at `output_bias` (the training mean) so training starts from the mean.
    pub fn init(&self, rng: &mut Rng, output_bias: f32, device: &Device) -> candle_core::Result<Vec<Tensor>> {
        let mut normal = |n: usize, sd: f64| -> Vec<f32> { (0..n).map(|_| (sd * rng.normal()) as f32).collect() };
        let mut out = Vec::new();
        for v in self.user_vocab.iter().chain(&self.item_vocab) {
            out.push(Tensor::from_vec(normal(v * self.embed_dim, 0.1), (*v, self.embed_dim), device)?);
        }
        let layers = self.layers();
        for (l, (i, o)) in layers.iter().enumerate() {
            let gain = if l + 1 == layers.len() { 1.0 } else { 2.0 };
            out.push(Tensor::from_vec(normal(i * o, (gain / *i as f64).sqrt()), (*i, *o), device)?);
            let bias = if l + 1 == layers.len() { vec![output_bias; *o] } else { vec![0f32; *o] };
            out.push(Tensor::from_vec(bias, *o, device)?);
        }
        Ok(out)
    }

    /// Predicted ratings `[n]` for the rows of `x`.
    pub fn forward(&self, params: &[Tensor], x: &Inputs) -> candle_core::Result<Tensor> {
        let t = self.n_tables();
        let mut parts = Vec::with_capacity(t + 1);
        for (table, idx) in params[..t].iter().zip(x.user_idx.iter().chain(&x.item_idx)) {
            parts.push(table.index_select(idx, 0)?);
        }
        if let Some(num) = &x.numeric {
            parts.push(num.clone());
        }
        let mut h = Tensor::cat(&parts, 1)?;
        let dense = &params[t..];
        let n_layers = dense.len() / 2;
        for l in 0..n_layers {
            h = h.matmul(&dense[2 * l])?.broadcast_add(&dense[2 * l + 1])?;
            if l + 1 < n_layers {
                h = crate::relu::relu(&h)?;
            }
        }
        h.squeeze(1)
    }
}

/// The network's inputs for `n` (user, item) pairs.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub user_idx: Vec<Tensor>,
    pub item_idx: Vec<Tensor>,
    pub numeric: Option<Tensor>,
    pub n: usize,
}

impl Inputs {
    /// Inputs for arbitrary (user, item) pairs.
    pub fn for_pairs(features: &Features, pairs: &[(u32, u32)], device: &Device) -> candle_core::Result<Inputs> {
        let s = &features.schema;
        let n = pairs.len();
        let column = |k: usize, of_user: bool| -> candle_core::Result<Tensor> {
            let v: Vec<u32> = pairs
                .iter()
                .map(|(u, i)| if of_user { features.user_cat(*u)[k] } else { features.item_cat(*i)[k] })
                .collect();
            Tensor::from_vec(v, n, device)
        };
        let user_idx = (0..s.user_fields.len()).map(|k| column(k, true)).collect::<candle_core::Result<_>>()?;
        let item_idx = (0..s.item_fields.len()).map(|k| column(k, false)).collect::<candle_core::Result<_>>()?;
        let m = s.item_numeric.len();
        let numeric = if m == 0 {
            None
        } else {
            let v: Vec<f32> = pairs.iter().flat_map(|(_, i)| features.item_num(*i).iter().copied()).collect();
            Some(Tensor::from_vec(v, (n, m), device)?)
        };
        Ok(Inputs { user_idx, item_idx, numeric, n })
    }

    /// Inputs for observed ratings.
    pub fn for_ratings(features: &Features, ratings: &[Rating], device: &Device) -> candle_core::Result<Inputs> {
        let pairs: Vec<(u32, u32)> = ratings.iter().map(|r| (r.user, r.item)).collect();
        Inputs::for_pairs(features, &pairs, device)
    }

    /// Inputs for one user and a list of items.
    pub fn for_items(features: &Features, user: u32, items: &[u32], device: &Device) -> candle_core::Result<Inputs> {
        let pairs: Vec<(u32, u32)> = items.iter().map(|i| (user, *i)).collect();
        Inputs::for_pairs(features, &pairs, device)
    }
}

/// The ratings' values as a `[n]` f32 tensor.
pub fn targets(ratings: &[Rating], device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_vec(ratings.iter().map(|r| r.value).collect::<Vec<f32>>(), ratings.len(), device)
}

/// Mean squared error of `pred` against `target`.
pub fn mse(pred: &Tensor, target: &Tensor) -> candle_core::Result<Tensor> {
    pred.sub(target)?.sqr()?.mean_all()
}

/// Trainable copies of parameters.
pub fn to_vars(params: &[Tensor]) -> candle_core::Result<Vec<Var>> {
    params.iter().map(|t| Var::from_tensor(&t.copy()?)).collect()
}

/// The current values of variables, detached.
pub fn snapshot(vars: &[Var]) -> candle_core::Result<Vec<Tensor>> {
    vars.iter().map(|v| v.as_tensor().detach().copy()).collect()
}

/// `x * r` with `r` broadcast over the leading dimensions of `x` (`r`'s shape is `x`'s trailing
/// one), with `r` repeated as rows by [`crate::rows::repeat_rows`]: candle differentiates its own
/// broadcast with a strided sum (an integer division per element), `repeat_rows` with one pass
/// over the rows. Exact in the forward pass; the backward sums the same terms in another order.
pub fn mul_bcast(x: &Tensor, r: &Tensor) -> candle_core::Result<Tensor> {
    x * spread(r, x)?
}

/// `x + b` with `b` broadcast over the leading dimensions of `x`, as [`mul_bcast`].
pub fn add_bcast(x: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    x + spread(b, x)?
}

/// `x [.., d] W [d, e]` as one matmul over the rows of all leading dimensions: candle's
/// `broadcast_matmul` would differentiate `W`'s broadcast with a strided sum (see
/// [`mul_bcast`]).
pub fn rows_matmul(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let mut dims = x.dims().to_vec();
    let d = dims.pop().expect("at least one dimension");
    let m = x.elem_count() / d.max(1);
    dims.push(w.dim(1)?);
    x.reshape((m, d))?.matmul(w)?.reshape(dims)
}

/// `r` repeated over the leading dimensions of `like` ([`crate::rows::repeat_rows`]).
fn spread(r: &Tensor, like: &Tensor) -> candle_core::Result<Tensor> {
    let n = r.elem_count();
    let m = like.elem_count() / n.max(1);
    if m == 1 {
        return r.reshape(like.shape());
    }
    crate::rows::repeat_rows(&r.flatten_all()?, m)?.reshape(like.shape())
}

/// Predictions as `f64`, clamped to the rating scale (NaN stays NaN, so divergence is seen).
pub fn to_ratings(pred: &Tensor, lo: f32, hi: f32) -> candle_core::Result<Vec<f64>> {
    Ok(pred.to_dtype(DType::F32)?.to_vec1::<f32>()?.into_iter().map(|x| f64::from(x.clamp(lo, hi))).collect())
}
