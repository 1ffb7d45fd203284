//! The MeLU-shape workload: inputs shared by the PyTorch reference test (below) and the
//! meta-step benches, and the test of the second-order meta-gradient against PyTorch.
//!
//! Shape of `../shared/DESIGN.md`: 8 categorical fields x vocab 100 x dim 32 -> 256 -> 64 ->
//! 64 -> 1, meta-batch 32, 10 support + 10 query rows per task, inner SGD (lr 0.01) on every
//! parameter, K = 1 and 5 inner steps, f32. Inputs come from metarec's generator; the script
//! `benches/torch/maml_reference.py` regenerates them with a Python port of the generator and
//! computes the meta-gradient with `torch.autograd.grad(loss, fast, create_graph=True)`:
//!
//! ```python
//! for t in range(TASKS):
//!     fast = params
//!     for _ in range(steps):
//!         loss = ((forward(fast, idx[t, :SUPPORT]) - target[t, :SUPPORT]) ** 2).mean()
//!         grads = torch.autograd.grad(loss, fast, create_graph=not first_order)
//!         fast = [p - LR * g for p, g in zip(fast, grads)]
//!     losses.append(((forward(fast, idx[t, SUPPORT:]) - target[t, SUPPORT:]) ** 2).mean())
//! outer = torch.stack(losses).mean()
//! return torch.autograd.grad(outer, params)
//! ```
//!
//! Compared per parameter: the sum of squares of the gradient and its dot product with a fixed
//! projection (uniform - 0.5 from `Rng::new(77)`), each to 1e-5 relative.

use super::functional::Rows;
use super::{AdaptLayers, Learner, functional, rows};
use crate::nn::NetShape;
use candle_core::{DType, Device, Tensor, Var};
use metarec_suites::{Features, Field, Rating, Rng, Schema};

pub const FIELDS: usize = 8;
pub const VOCAB: usize = 100;
pub const DIM: usize = 32;
pub const TASKS: usize = 32;
pub const SUPPORT: usize = 10;
pub const QUERY: usize = 10;
pub const LR: f64 = 0.01;

/// The MeLU-shape inputs: parameters, features (one user and one item per row) and the
/// support and query rows, all from `Rng::new(2026)` in the script's order.
pub fn inputs(device: &Device) -> (NetShape, Vec<Tensor>, Rows, Rows) {
    let mut rng = Rng::new(2026);
    let half = FIELDS / 2;
    let schema = Schema {
        user_fields: (0..half).map(|f| Field { name: format!("u{f}"), vocab: VOCAB }).collect(),
        item_fields: (0..half).map(|f| Field { name: format!("i{f}"), vocab: VOCAB }).collect(),
        item_numeric: vec![],
    };
    let shape = NetShape::new(&schema, DIM, &[64, 64]);
    let mut params = Vec::new();
    for _ in 0..FIELDS {
        let v: Vec<f32> = (0..VOCAB * DIM).map(|_| (rng.uniform() - 0.5) as f32).collect();
        params.push(Tensor::from_vec(v, (VOCAB, DIM), device).unwrap());
    }
    for (i, o) in shape.layers() {
        let w: Vec<f32> = (0..i * o).map(|_| ((rng.uniform() - 0.5) * 2.0 / (i as f64).sqrt()) as f32).collect();
        params.push(Tensor::from_vec(w, (i, o), device).unwrap());
        let b: Vec<f32> = (0..o).map(|_| ((rng.uniform() - 0.5) * 0.2) as f32).collect();
        params.push(Tensor::from_vec(b, o, device).unwrap());
    }
    let n_rows = TASKS * (SUPPORT + QUERY);
    let mut user_cat = Vec::with_capacity(n_rows * half);
    let mut item_cat = Vec::with_capacity(n_rows * half);
    let mut ratings = Vec::with_capacity(n_rows);
    for row in 0..n_rows {
        let idx: Vec<u32> = (0..FIELDS).map(|_| rng.below(VOCAB) as u32).collect();
        user_cat.extend(&idx[..half]);
        item_cat.extend(&idx[half..]);
        let value = (1 + rng.below(5)) as f32;
        ratings.push(Rating { user: row as u32, item: row as u32, value });
    }
    let features = Features {
        schema,
        user_cat,
        item_cat,
        item_num: vec![],
        user_ids: (0..n_rows as u64).collect(),
        item_ids: (0..n_rows as u64).collect(),
    };
    let per_task = SUPPORT + QUERY;
    let s: Vec<&[Rating]> = (0..TASKS).map(|t| &ratings[t * per_task..t * per_task + SUPPORT]).collect();
    let q: Vec<&[Rating]> = (0..TASKS).map(|t| &ratings[t * per_task + SUPPORT..(t + 1) * per_task]).collect();
    let sr = rows(&features, &s, DType::F32, device).unwrap();
    let qr = rows(&features, &q, DType::F32, device).unwrap();
    (shape, params, sr, qr)
}

/// The meta-loss of this workload: the mean query loss after `steps` inner steps of SGD (lr
/// [`LR`]) on every parameter, with per-parameter rates when `rates` is given (Meta-SGD).
pub fn meta_loss(
    shape: &NetShape,
    params: &[Var],
    rates: Option<&[Var]>,
    s: &Rows,
    q: &Rows,
    steps: usize,
    first_order: bool,
) -> candle_core::Result<Tensor> {
    let a = learner(shape, params, rates, first_order).adapt_batch(s, Some(q), steps, false)?;
    functional::mse(&a.query_pred.expect("query rows given"), &q.target)
}

/// The meta-gradient of [`meta_loss`] with respect to every parameter.
pub fn meta_gradient(
    shape: &NetShape,
    params: &[Tensor],
    s: &Rows,
    q: &Rows,
    steps: usize,
    first_order: bool,
) -> candle_core::Result<Vec<Tensor>> {
    let vars: Vec<Var> = params.iter().map(Var::from_tensor).collect::<candle_core::Result<_>>()?;
    let grads = meta_loss(shape, &vars, None, s, q, steps, first_order)?.backward()?;
    Ok(vars.iter().map(|v| grads.get(v).expect("every parameter has a gradient").clone()).collect())
}

/// [`meta_gradient`] as meta-training computes it: the meta-batch in two halves, combined
/// ([`super::meta_batch_gradient`]), second order.
pub fn meta_gradient_in_halves(
    shape: &NetShape,
    params: &[Tensor],
    s: &Rows,
    q: &Rows,
    steps: usize,
) -> candle_core::Result<Vec<Tensor>> {
    let vars: Vec<Var> = params.iter().map(Var::from_tensor).collect::<candle_core::Result<_>>()?;
    let (_, grads) = super::meta_batch_gradient(&learner(shape, &vars, None, false), s, q, steps, &vars)?;
    Ok(vars.iter().map(|v| grads.get(v).expect("every parameter has a gradient").clone()).collect())
}

/// The learner of this workload: SGD at rate [`LR`] on every parameter.
pub fn learner(shape: &NetShape, params: &[Var], rates: Option<&[Var]>, first_order: bool) -> Learner {
    Learner {
        shape: shape.clone(),
        adapt: AdaptLayers::All,
        inner_lr: LR,
        first_order,
        theta: params.iter().map(|v| v.as_tensor().clone()).collect(),
        rates: rates.map(|r| r.iter().map(|v| v.as_tensor().clone()).collect()),
    }
}

/// Per parameter: (sum of squares, dot with the projection), in f64.
pub fn summary(grads: &[Tensor]) -> Vec<(f64, f64)> {
    let mut proj = Rng::new(77);
    grads
        .iter()
        .map(|g| {
            let v = g.flatten_all().unwrap().to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap();
            let ss = v.iter().map(|x| x * x).sum();
            let dot = v.iter().map(|x| x * (proj.uniform() - 0.5)).sum();
            (ss, dot)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by `python3 benches/torch/maml_reference.py` (torch 2.15.0, CPU, float32):
    // K = 1: (sum of squares, projection) per parameter; first order differs by 0.0435 in norm
    const SO_K1: [(f64, f64); 14] = [
        (3.2745148538e-04, -1.6170134573e-03),
        (3.4774520896e-04, -3.3203680794e-03),
        (4.4203862074e-04, -1.4836431898e-03),
        (3.0129640961e-04, 6.7481907306e-04),
        (3.4811233328e-04, -9.3146107005e-04),
        (3.3627668356e-04, -4.1148286654e-03),
        (5.1538073093e-04, -6.3759886928e-03),
        (4.2270084545e-04, -2.9221841216e-03),
        (2.0590209040e-01, 1.0049688487e-01),
        (4.2523471433e-01, 2.9174176119e-01),
        (1.1812413315e+00, -3.6551556021e-01),
        (3.1268883363e+00, 7.7832188054e-01),
        (5.1775537687e+00, 1.9571678002e-01),
        (2.8549487806e+01, 2.4719336987e+00),
    ];
    // K = 5: (sum of squares, projection) per parameter; first order differs by 0.198 in norm
    const SO_K5: [(f64, f64); 14] = [
        (4.5727666411e-04, -9.1653621954e-04),
        (5.2975052879e-04, -3.6419031934e-03),
        (6.2904444236e-04, -3.0944377779e-03),
        (3.2173458784e-04, 6.3648311716e-04),
        (4.9131247579e-04, 2.5961329165e-03),
        (4.4456934761e-04, -4.1800801781e-03),
        (6.4094631246e-04, -9.7283513445e-03),
        (5.2323362420e-04, -1.9577375587e-03),
        (2.7097605723e-01, 1.0167256952e-01),
        (6.1728144752e-01, 2.0143811654e-01),
        (1.5757142043e+00, -3.7893912831e-01),
        (3.9273505662e+00, 7.6770201978e-01),
        (6.2438325288e+00, 3.4646808461e-01),
        (1.8080265120e+01, 1.9671616751e+00),
    ];

    fn compare(k: usize, want: &[(f64, f64)]) {
        let (shape, params, s, q) = inputs(&Device::Cpu);
        let whole = summary(&meta_gradient(&shape, &params, &s, &q, k, false).unwrap());
        let halves = summary(&meta_gradient_in_halves(&shape, &params, &s, &q, k).unwrap());
        for (p, ((ss, dot), (ss_ref, dot_ref))) in whole.iter().chain(&halves).zip(want.iter().cycle()).enumerate() {
            let p = p % want.len();
            assert!(
                (ss - ss_ref).abs() <= 1e-5 * ss_ref,
                "K={k} parameter {p}: sum of squares {ss} vs PyTorch {ss_ref}"
            );
            // The projection can be near 0: scale its tolerance by |g| |proj| (|proj|^2 ~ n / 12).
            let n = params[p].elem_count() as f64;
            let scale = (ss_ref * n / 12.0).sqrt();
            assert!(
                (dot - dot_ref).abs() <= 1e-5 * scale,
                "K={k} parameter {p}: projection {dot} vs PyTorch {dot_ref}"
            );
        }
        // Dropping the second-order term changes the gradient far beyond the tolerance.
        let fo = summary(&meta_gradient(&shape, &params, &s, &q, k, true).unwrap());
        let moved = fo.iter().zip(want).any(|((ss, _), (ss_ref, _))| (ss - ss_ref).abs() > 1e-3 * ss_ref);
        assert!(moved, "K={k}: first order agrees with PyTorch's second order");
    }

    #[test]
    fn second_order_meta_gradient_equals_pytorch_k1() {
        compare(1, &SO_K1);
    }

    #[test]
    fn second_order_meta_gradient_equals_pytorch_k5() {
        compare(5, &SO_K5);
    }
}
