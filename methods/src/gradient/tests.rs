//! Gradient checks of the gradient-based methods in f64 on a tiny network: the hand-written
//! inner gradient against candle's autograd and central finite differences, MAML's second-order
//! meta-gradient and Meta-SGD's gradient with respect to its rates against finite differences,
//! the first-order variant against the second-order one (so that dropping the second-order
//! term is caught), the row-space embedding update against explicit table updates, and
//! Reptile's inner loop against autograd SGD.

use super::functional::{self, Deltas, Rows};
use super::{AdaptLayers, CommonParams, Learner, reptile, rows, taped};
use crate::nn::NetShape;
use candle_core::{DType, Device, Tensor, Var};
use metarec_suites::{Features, Field, Rating, Rng, Schema};

pub(super) fn features() -> Features {
    let schema = Schema {
        user_fields: vec![Field { name: "a".into(), vocab: 3 }, Field { name: "b".into(), vocab: 2 }],
        item_fields: vec![Field { name: "c".into(), vocab: 4 }],
        item_numeric: vec!["x".into()],
    };
    let n_users = 4;
    let n_items = 6;
    Features {
        schema,
        user_cat: (0..n_users).flat_map(|u| [u % 3, u % 2]).collect(),
        item_cat: (0..n_items).map(|i| i % 4).collect(),
        item_num: (0..n_items).map(|i| 0.3 * i as f32 - 0.7).collect(),
        user_ids: (0..n_users as u64).collect(),
        item_ids: (0..n_items as u64).collect(),
    }
}

pub(super) fn shape(f: &Features) -> NetShape {
    NetShape::new(&f.schema, 2, &[3])
}

/// Two tasks with 3 support and 2 query ratings; items repeat so match matrices matter.
pub(super) fn tasks() -> (Vec<Vec<Rating>>, Vec<Vec<Rating>>) {
    let r = |user, item, value| Rating { user, item, value };
    let support = vec![vec![r(0, 0, 4.0), r(0, 4, 2.0), r(0, 1, 5.0)], vec![r(3, 2, 1.0), r(3, 3, 3.0), r(3, 2, 2.0)]];
    let query = vec![vec![r(0, 4, 3.0), r(0, 5, 1.0)], vec![r(3, 2, 4.0), r(3, 1, 2.0)]];
    (support, query)
}

pub(super) fn theta(shape: &NetShape) -> Vec<Tensor> {
    let mut rng = Rng::new(11);
    shape
        .init(&mut rng, 3.0, &Device::Cpu)
        .unwrap()
        .into_iter()
        .map(|t| {
            // Embeddings large enough that the inputs matter; f64 throughout.
            let t = t.to_dtype(DType::F64).unwrap();
            if t.rank() == 2 && t.dim(1).unwrap() == 2 { (t * 5.0).unwrap() } else { t }
        })
        .collect()
}

pub(super) fn batch(f: &Features, s: &[Vec<Rating>]) -> Rows {
    let refs: Vec<&[Rating]> = s.iter().map(|x| x.as_slice()).collect();
    rows(f, &refs, DType::F64, &Device::Cpu).unwrap()
}

fn learner(
    shape: &NetShape,
    theta: Vec<Tensor>,
    adapt: AdaptLayers,
    first_order: bool,
    rates: Option<Vec<Tensor>>,
) -> Learner {
    Learner { shape: shape.clone(), adapt, inner_lr: 0.3, first_order, theta, rates }
}

/// The meta-loss: query MSE after `k` inner steps.
fn meta_loss(l: &Learner, s: &Rows, q: &Rows, k: usize) -> Tensor {
    let a = l.adapt_batch(s, Some(q), k, false).unwrap();
    functional::mse(&a.query_pred.unwrap(), &q.target).unwrap()
}

pub(super) fn flat(ts: &[Tensor]) -> Vec<f64> {
    ts.iter().flat_map(|t| t.flatten_all().unwrap().to_vec1::<f64>().unwrap()).collect()
}

/// Central finite differences of `f` over every entry of `params[which]`, h = 1e-6.
pub(super) fn finite_differences(params: &[Tensor], which: &[usize], f: &dyn Fn(&[Tensor]) -> f64) -> Vec<f64> {
    let h = 1e-6;
    let mut out = Vec::new();
    for &p in which {
        let base = params[p].flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for i in 0..base.len() {
            let at = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                let mut ps = params.to_vec();
                ps[p] = Tensor::from_vec(v, params[p].shape(), &Device::Cpu).unwrap();
                f(&ps)
            };
            out.push((at(h) - at(-h)) / (2.0 * h));
        }
    }
    out
}

pub(super) fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    num / den
}

/// Autograd gradient of the meta-loss with respect to every parameter.
fn meta_gradient(shape: &NetShape, th: &[Tensor], adapt: AdaptLayers, first_order: bool, k: usize) -> Vec<f64> {
    let f = features();
    let (s, q) = tasks();
    let vars: Vec<Var> = th.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let l = learner(shape, vars.iter().map(|v| v.as_tensor().clone()).collect(), adapt, first_order, None);
    let loss = meta_loss(&l, &batch(&f, &s), &batch(&f, &q), k);
    let grads = loss.backward().unwrap();
    flat(&vars.iter().map(|v| grads.get(v).cloned().unwrap_or_else(|| v.zeros_like().unwrap())).collect::<Vec<_>>())
}

#[test]
fn maml_meta_gradient_matches_finite_differences() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, q) = tasks();
    let (sr, qr) = (batch(&f, &s), batch(&f, &q));
    let every: Vec<usize> = (0..th.len()).collect();
    for adapt in [AdaptLayers::All, AdaptLayers::Decision] {
        for k in [1, 3] {
            let exact = meta_gradient(&sh, &th, adapt, false, k);
            let fd = finite_differences(&th, &every, &|ps| {
                meta_loss(&learner(&sh, ps.to_vec(), adapt, false, None), &sr, &qr, k).to_scalar::<f64>().unwrap()
            });
            let e = rel_err(&exact, &fd);
            assert!(e < 1e-6, "{adapt:?} k={k}: relative error {e}");
            // First order is a different number: a silent fallback would be caught.
            let fo = meta_gradient(&sh, &th, adapt, true, k);
            let d = rel_err(&fo, &exact);
            assert!(d > 1e-2, "{adapt:?} k={k}: first order within {d} of second order");
        }
    }
}

#[test]
fn hand_written_inner_gradient_equals_autograd_and_finite_differences() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, _) = tasks();
    let sr = batch(&f, &s);
    let nt = 3;
    // Per-task deltas, so that the gradient's (W + dW) paths are exercised.
    let mut rng = Rng::new(5);
    let dense = &th[nt..];
    let mut deltas = Deltas::zeros(dense.len() / 2);
    for l in 0..dense.len() / 2 {
        let (i, o) = dense[2 * l].dims2().unwrap();
        let v: Vec<f64> = (0..2 * i * o).map(|_| 0.1 * rng.normal()).collect();
        deltas.w[l] = Some(Tensor::from_vec(v, (2, i, o), &Device::Cpu).unwrap());
        let v: Vec<f64> = (0..2 * o).map(|_| 0.1 * rng.normal()).collect();
        deltas.b[l] = Some(Tensor::from_vec(v, (2, o), &Device::Cpu).unwrap());
    }
    let loss_of = |dense: &[Tensor], emb: &Tensor| -> Tensor {
        let (y, _) = functional::forward(dense, &deltas, emb, sr.numeric.as_ref()).unwrap();
        // Sum over tasks of the per-task mean squared error.
        (y - &sr.target).unwrap().sqr().unwrap().mean(1).unwrap().sum_all().unwrap()
    };
    let emb = functional::embed(&th[..nt], &sr).unwrap();
    let (y, cache) = functional::forward(dense, &deltas, &emb, sr.numeric.as_ref()).unwrap();
    let g = functional::backward(dense, &deltas, &cache, &y, &sr.target, 1.0).unwrap();
    // Autograd of the same loss with respect to the per-task deltas and the input rows.
    let dvars: Vec<Var> =
        deltas.w.iter().chain(&deltas.b).map(|d| Var::from_tensor(d.as_ref().unwrap()).unwrap()).collect();
    let emb_var = Var::from_tensor(&emb).unwrap();
    let nl = dense.len() / 2;
    let d2 = Deltas {
        w: dvars[..nl].iter().map(|v| Some(v.as_tensor().clone())).collect(),
        b: dvars[nl..].iter().map(|v| Some(v.as_tensor().clone())).collect(),
        ..Deltas::default()
    };
    let (y2, _) = functional::forward(dense, &d2, emb_var.as_tensor(), sr.numeric.as_ref()).unwrap();
    let loss = (y2 - &sr.target).unwrap().sqr().unwrap().mean(1).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let auto: Vec<Tensor> = dvars.iter().map(|v| grads.get(v).unwrap().clone()).collect();
    let hand: Vec<Tensor> = (0..g.b.len()).map(|l| g.w(l).clone()).chain(g.b.iter().cloned()).collect();
    assert!(rel_err(&flat(&hand), &flat(&auto)) < 1e-12);
    let ge = grads.get(&emb_var).unwrap();
    let emb_width = emb.dim(2).unwrap();
    assert!(rel_err(&flat(&[g.emb.narrow(2, 0, emb_width).unwrap()]), &flat(&[ge.clone()])) < 1e-12);
    // And against finite differences of the input rows.
    let fd = finite_differences(&[emb.clone()], &[0], &|ps| loss_of(dense, &ps[0]).to_scalar::<f64>().unwrap());
    let e = rel_err(&flat(&[g.emb.narrow(2, 0, emb_width).unwrap()]), &fd);
    assert!(e < 1e-6, "input-row gradient relative error {e}");
}

#[test]
fn meta_sgd_rate_gradient_matches_finite_differences() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, q) = tasks();
    let (sr, qr) = (batch(&f, &s), batch(&f, &q));
    let mut rng = Rng::new(9);
    let rates: Vec<Tensor> = th
        .iter()
        .map(|t| {
            let n = t.elem_count();
            let v: Vec<f64> = (0..n).map(|_| 0.2 + 0.1 * rng.uniform()).collect();
            Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap()
        })
        .collect();
    for k in [1, 2] {
        let rvars: Vec<Var> = rates.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let l = learner(
            &sh,
            th.clone(),
            AdaptLayers::All,
            false,
            Some(rvars.iter().map(|v| v.as_tensor().clone()).collect()),
        );
        let grads = meta_loss(&l, &sr, &qr, k).backward().unwrap();
        let exact = flat(
            &rvars.iter().map(|v| grads.get(v).cloned().unwrap_or_else(|| v.zeros_like().unwrap())).collect::<Vec<_>>(),
        );
        let every: Vec<usize> = (0..rates.len()).collect();
        let fd = finite_differences(&rates, &every, &|rs| {
            meta_loss(&learner(&sh, th.clone(), AdaptLayers::All, false, Some(rs.to_vec())), &sr, &qr, k)
                .to_scalar::<f64>()
                .unwrap()
        });
        let e = rel_err(&exact, &fd);
        assert!(e < 1e-6, "k={k}: rate gradient relative error {e}");
    }
}

#[test]
fn row_space_embedding_update_equals_explicit_tables() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, q) = tasks();
    for k in [1, 3] {
        for t in 0..2 {
            let (sr, qr) = (batch(&f, &s[t..t + 1]), batch(&f, &q[t..t + 1]));
            let l = learner(&sh, th.clone(), AdaptLayers::All, true, None);
            let a = l.adapt_batch(&sr, Some(&qr), k, true).unwrap();
            let via_rows = flat(&[a.query_pred.unwrap()]);
            // Explicit: updated tables, looked up at the query rows.
            let tables: Vec<Tensor> =
                th[..3].iter().zip(a.table_deltas.as_ref().unwrap()).map(|(t, d)| (t + d).unwrap()).collect();
            let emb = functional::embed(&tables, &qr).unwrap();
            let (y, _) = functional::forward(&th[3..], &a.deltas, &emb, qr.numeric.as_ref()).unwrap();
            assert!(rel_err(&via_rows, &flat(&[y])) < 1e-12, "k={k} task {t}");
        }
    }
}

/// Autograd gradient of the MSE of one batch of rows at `th` (no adaptation), per parameter.
fn task_gradients(th: &[Tensor], r: &Rows) -> Vec<Tensor> {
    let vars: Vec<Var> = th.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let emb = functional::embed(&ts[..3], r).unwrap();
    let (y, _) = functional::forward(&ts[3..], &Deltas::zeros(2), &emb, r.numeric.as_ref()).unwrap();
    let grads = functional::mse(&y, &r.target).unwrap().backward().unwrap();
    vars.iter().map(|v| grads.get(v).unwrap().clone()).collect()
}

/// The network, its parameters, the first task's support rows and one inner SGD step at rate 0.1
/// on every parameter: the setting of the inner-loop checks below.
fn one_task_inner_setup() -> (NetShape, Vec<Tensor>, Rows, CommonParams) {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, _) = tasks();
    let sr = batch(&f, &s[..1]);
    let c = CommonParams { inner_lr: 0.1, inner_steps: 1, adapt: AdaptLayers::All, ..CommonParams::default() };
    (sh, th, sr, c)
}

/// The inner loop's change of parameter `i` for a one-task batch (tables first, then w, b).
fn inner_delta(r: &reptile::InnerResult, i: usize) -> Tensor {
    if i < 3 {
        r.tables.as_ref().unwrap()[i].clone()
    } else {
        let l = (i - 3) / 2;
        let d = if (i - 3) % 2 == 0 { r.deltas.weight(l).unwrap() } else { r.deltas.b[l].clone() };
        d.unwrap().squeeze(0).unwrap()
    }
}

#[test]
fn reptile_inner_step_is_sgd_on_the_task_loss() {
    let (sh, th, sr, c) = one_task_inner_setup();
    let r = reptile::inner_loop(&sh, &th, &sr, &c, false).unwrap();
    // Autograd SGD step on a copy of the model.
    for (i, g) in task_gradients(&th, &sr).iter().enumerate() {
        let step = (g * -0.1).unwrap();
        assert!(rel_err(&flat(&[inner_delta(&r, i)]), &flat(&[step])) < 1e-12, "parameter {i}");
    }
}

/// Batched Reptile's outer update with one inner SGD step: `phi_t - theta = -lr grad L_t(theta)`,
/// so `theta' = theta - epsilon lr / T sum_t grad L_t(theta)`, with each task's gradient taken by
/// candle's autograd on that task alone (support and query rows together, as in meta-training).
/// Checked for every parameter (tables and dense layers), and an update that forgot the 1/T or
/// epsilon would be off by a factor of 2.
#[test]
fn reptile_outer_update_moves_theta_by_epsilon_times_the_mean_task_step() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, q) = tasks();
    // Each task's rows: support then query (both tasks have 5 rows).
    let both: Vec<Vec<Rating>> = s.iter().zip(&q).map(|(a, b)| a.iter().chain(b).copied().collect()).collect();
    let (lr, epsilon) = (0.1, 0.5);
    let c = CommonParams { inner_lr: lr, inner_steps: 1, adapt: AdaptLayers::All, ..CommonParams::default() };
    let vars: Vec<Var> = th.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    reptile::outer_step(&sh, &vars, &batch(&f, &both), &c, epsilon, false).unwrap();
    let mut want: Vec<Vec<f64>> = th.iter().map(|t| flat(std::slice::from_ref(t))).collect();
    for task in &both {
        for (w, g) in want.iter_mut().zip(task_gradients(&th, &batch(&f, std::slice::from_ref(task)))) {
            for (x, gi) in w.iter_mut().zip(flat(&[g])) {
                *x -= epsilon * lr / both.len() as f64 * gi;
            }
        }
    }
    for (i, (v, w)) in vars.iter().zip(&want).enumerate() {
        let got = flat(&[v.as_tensor().clone()]);
        let before = flat(&[th[i].clone()]);
        let moved: Vec<f64> = w.iter().zip(&before).map(|(a, b)| a - b).collect();
        let got_moved: Vec<f64> = got.iter().zip(&before).map(|(a, b)| a - b).collect();
        if moved.iter().all(|x| *x == 0.0) {
            assert!(got_moved.iter().all(|x| *x == 0.0), "parameter {i} moved without a gradient");
        } else {
            assert!(rel_err(&got_moved, &moved) < 1e-10, "parameter {i}: {got_moved:?} against {moved:?}");
        }
    }
}

/// The inner Adam's first step is `lr * g / (|g| + eps)` per entry (bias correction makes
/// `m_hat = g`, `v_hat = g^2`), with `g` the task loss's autograd gradient: checked for every
/// parameter of a one-task batch.
#[test]
fn reptile_inner_adam_first_step_is_the_signed_rate() {
    let (sh, th, sr, c) = one_task_inner_setup();
    let r = reptile::inner_loop(&sh, &th, &sr, &c, true).unwrap();
    for (i, g) in task_gradients(&th, &sr).into_iter().enumerate() {
        let want: Vec<f64> = flat(&[g]).iter().map(|g| -0.1 * g / (g.abs() + 1e-8)).collect();
        let got = flat(&[inner_delta(&r, i)]);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9, "parameter {i}: {got:?} against {want:?}");
        }
    }
}

#[test]
fn bad_hyper_parameters_name_their_field() {
    let cases: &[(&str, &str, toml::Value, &str)] = &[
        ("maml", "inner_lr", toml::Value::Float(0.0), "method `maml`: hyper-parameter `inner_lr`: must be positive"),
        (
            "fomaml",
            "outer_lr",
            toml::Value::Float(-1.0),
            "method `fomaml`: hyper-parameter `outer_lr`: must be positive",
        ),
        (
            "melu",
            "inner_steps",
            toml::Value::Integer(0),
            "method `melu`: hyper-parameter `inner_steps`: must be at least 1",
        ),
        (
            "meta-sgd",
            "support",
            toml::Value::Integer(0),
            "method `meta-sgd`: hyper-parameter `support`: must be at least 1",
        ),
        (
            "reptile",
            "epsilon",
            toml::Value::Float(1.5),
            "method `reptile`: hyper-parameter `epsilon`: must be in (0, 1]",
        ),
        (
            "reptile",
            "inner_optimizer",
            toml::Value::String("lbfgs".into()),
            "method `reptile`: hyper-parameter `inner_optimizer`",
        ),
        ("maml", "adapt", toml::Value::String("some".into()), "method `maml`: hyper-parameter `adapt`"),
    ];
    let registry = crate::Registry::default();
    for (method, key, value, want) in cases {
        let mut t = toml::Table::new();
        t.insert(key.to_string(), value.clone());
        match (registry.get(method).unwrap().build)(&t) {
            Err(e) => assert!(e.to_string().starts_with(want), "{method}.{key}: {e}"),
            Ok(_) => panic!("{method}.{key} = {value} was accepted"),
        }
    }
}

/// The synthetic-tiny suite, materialised.
pub(super) fn tiny_suite() -> metarec_suites::Materialized {
    metarec_suites::load_suite("synthetic-tiny").unwrap().materialize().unwrap()
}

/// What meta-training sees of a materialised suite (no truth).
pub(super) fn train_data(m: &metarec_suites::Materialized) -> crate::TrainData<'_> {
    crate::TrainData {
        features: &m.dataset.features,
        meta_train: &m.split.meta_train,
        validation: &m.split.validation,
        rating_min: 1.0,
        rating_max: 5.0,
        truth: None,
    }
}

#[test]
fn a_diverging_configuration_is_caught_as_non_finite() {
    let m = tiny_suite();
    let data = train_data(&m);
    for method in ["maml", "reptile"] {
        let mut t = toml::Table::new();
        t.insert("inner_lr".into(), toml::Value::Float(1e30));
        t.insert("meta_steps".into(), toml::Value::Integer(20));
        let built = (crate::Registry::default().get(method).unwrap().build)(&t).unwrap();
        let mut ctx = crate::Ctx { rng: Rng::new(1), device: Device::Cpu };
        match built.meta_train(&data, &mut ctx) {
            Err(crate::MethodError::Diverged { method: name, context }) => {
                assert_eq!(name, method);
                assert!(context.contains("inner_lr"), "{context}");
            }
            Err(e) => panic!("{method}: expected divergence, got {e}"),
            Ok(_) => panic!("{method}: inner_lr = 1e30 trained without diverging"),
        }
    }
}

/// Validation tasks of different support and query sizes (as under `support_rest`) all count:
/// the pooled RMSE equals the one assembled from each task scored alone, weighted by its query
/// size, for plain adaptation, an empty support set and Reptile's inner loop alike.
#[test]
fn validation_counts_tasks_of_every_size() {
    let f = features();
    let sh = shape(&f);
    let r = |user, item, value| Rating { user, item, value };
    let task = |user, support: Vec<Rating>, query: Vec<Rating>| metarec_suites::Task {
        user,
        support,
        query,
        pool: vec![],
        negatives: vec![],
    };
    let tasks = vec![
        task(0, vec![r(0, 0, 4.0), r(0, 4, 2.0), r(0, 1, 5.0)], vec![r(0, 4, 3.0), r(0, 5, 1.0)]),
        task(1, vec![r(1, 2, 1.0)], vec![r(1, 3, 3.0), r(1, 2, 2.0), r(1, 0, 5.0)]),
        task(2, vec![], vec![r(2, 1, 2.0)]),
        task(3, vec![r(3, 2, 1.0), r(3, 3, 3.0), r(3, 2, 2.0)], vec![r(3, 2, 4.0), r(3, 1, 2.0)]),
        task(1, vec![r(1, 5, 4.0), r(1, 1, 2.0)], vec![]),
    ];
    let c = CommonParams { inner_lr: 0.3, inner_steps: 2, ..Default::default() };
    for reptile_cfg in [None, Some((c.clone(), false))] {
        let l = learner(&sh, theta(&sh), AdaptLayers::All, false, None);
        let val = |ts: &[metarec_suites::Task]| {
            super::validation_rmse(&l, &f, ts, 2, reptile_cfg.as_ref(), &Device::Cpu).unwrap()
        };
        let pooled = val(&tasks).expect("four tasks have a query set");
        let (mut se, mut n) = (0.0, 0.0);
        for t in tasks.iter().filter(|t| !t.query.is_empty()) {
            let alone = val(std::slice::from_ref(t)).unwrap();
            se += alone * alone * t.query.len() as f64;
            n += t.query.len() as f64;
        }
        let want = (se / n).sqrt();
        assert!((pooled - want).abs() < 1e-12, "pooled {pooled} against per-task {want}");
        // The first task's sizes alone (the old rule) give another value: the test can fail.
        let first_only = val(&tasks[..1]).unwrap();
        assert!((pooled - first_only).abs() > 1e-6);
        assert_eq!(val(&tasks[4..]), None, "no query rating, no validation loss");
    }
}

/// Each method's own defaults reach it when the table leaves them out, also through
/// `#[serde(flatten)]`: MeLU keeps its paper's rates and decision-layer adaptation, MeLU-5 its
/// five local updates; a key given still wins.
#[test]
fn flattened_defaults_are_the_methods_own() {
    let registry = crate::Registry::default();
    let params = |method: &str, table: &toml::Table| (registry.get(method).unwrap().build)(table).unwrap().params();
    let empty = toml::Table::new();
    let melu = params("melu", &empty);
    assert_eq!(melu["adapt"].as_str(), Some("decision"));
    assert_eq!(melu["inner_lr"].as_float(), Some(5e-6));
    assert_eq!(melu["outer_lr"].as_float(), Some(5e-5));
    assert_eq!(melu["meta_steps"].as_integer(), Some(460));
    let melu5 = params("melu-5", &empty);
    assert_eq!(melu5["inner_steps"].as_integer(), Some(5));
    assert_eq!(melu5["inner_lr"].as_float(), Some(5e-6));
    assert_eq!(params("reptile", &empty)["epsilon"].as_float(), Some(0.5));
    assert_eq!(params("maml", &empty)["inner_lr"].as_float(), Some(0.05));
    let mut t = toml::Table::new();
    t.insert("inner_lr".into(), toml::Value::Float(0.01));
    let melu = params("melu", &t);
    assert_eq!((melu["inner_lr"].as_float(), melu["adapt"].as_str()), (Some(0.01), Some("decision")));
}

/// Low-rank weight deltas (`Deltas::w_factors`, two stacked factor pairs) give the forward
/// pass, the hand-written backward pass and the per-task sum of a dense delta equal to their
/// product `A^T B`.
#[test]
fn low_rank_deltas_equal_their_dense_product() {
    let f = features();
    let th = theta(&shape(&f));
    let (s, _) = tasks();
    let sr = batch(&f, &s);
    let dense = &th[3..];
    let mut rng = Rng::new(9);
    let mut normal = |shape: (usize, usize, usize)| {
        let v: Vec<f64> = (0..shape.0 * shape.1 * shape.2).map(|_| 0.3 * rng.normal()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    };
    let (mut low, mut full) = (Deltas::zeros(2), Deltas::zeros(2));
    for l in 0..2 {
        let (i, o) = dense[2 * l].dims2().unwrap();
        for _ in 0..2 {
            low.push_factor(l, normal((2, 3, i)), normal((2, 3, o))).unwrap();
        }
        assert_eq!(low.w_factors[l].len(), 1, "factors of a layer stack into one pair");
        full.w[l] = low.weight(l).unwrap();
        assert_eq!(full.w[l].as_ref().unwrap().dims(), &[2, i, o]);
        let sum = low.weight_sum(l).unwrap().unwrap();
        assert!(rel_err(&flat(&[sum]), &flat(&[full.w[l].as_ref().unwrap().sum(0).unwrap()])) < 1e-12);
    }
    let emb = functional::embed(&th[..3], &sr).unwrap();
    let run = |d: &Deltas| {
        let (y, cache) = functional::forward(dense, d, &emb, sr.numeric.as_ref()).unwrap();
        let g = functional::backward(dense, d, &cache, &y, &sr.target, 0.7).unwrap();
        let mut out = vec![y, g.emb.clone()];
        out.extend((0..2).map(|l| g.w(l).clone()));
        out.extend(g.b);
        out
    };
    let (a, b) = (run(&low), run(&full));
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(rel_err(&flat(&[x.clone()]), &flat(&[y.clone()])) < 1e-12, "output {k}");
    }
}

/// At a width where Reptile's plain-SGD inner step keeps the weight deltas as low-rank factors,
/// the step still equals SGD on the task loss, and the outer update moves the weights by
/// `epsilon` times the mean step.
#[test]
fn reptile_low_rank_inner_step_is_sgd_on_the_task_loss() {
    let f = features();
    let sh = NetShape::new(&f.schema, 8, &[16]);
    let th = theta(&sh);
    let (s, _) = tasks();
    let sr = batch(&f, &s[..1]);
    let c = CommonParams { inner_lr: 0.1, inner_steps: 1, adapt: AdaptLayers::All, ..CommonParams::default() };
    let r = reptile::inner_loop(&sh, &th, &sr, &c, false).unwrap();
    assert!(!r.deltas.w_factors[0].is_empty(), "the first layer's delta is low-rank at this width");
    for (i, g) in task_gradients(&th, &sr).iter().enumerate().skip(3) {
        let step = (g * -0.1).unwrap();
        assert!(rel_err(&flat(&[inner_delta(&r, i)]), &flat(&[step])) < 1e-12, "parameter {i}");
    }
    let vars: Vec<Var> = th.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    reptile::outer_step(&sh, &vars, &sr, &c, 0.5, false).unwrap();
    let moved = (vars[3].as_tensor() - &th[3]).unwrap();
    let want = (inner_delta(&r, 3) * 0.5).unwrap();
    assert!(rel_err(&flat(&[moved]), &flat(&[want])) < 1e-12);
}

/// The taped meta-gradient (`gradient::taped`) of the whole batch against candle's autograd, and
/// the two halves' combination ([`super::meta_batch_gradient`], taped on the CPU) against
/// [`super::meta_batch_gradient_autograd`]: every adaptation mode, 1 to 3 inner steps, second
/// and first order.
#[test]
fn taped_meta_gradient_equals_autograd() {
    let f = features();
    let (s, q) = tasks();
    let (sr, qr) = (batch(&f, &s), batch(&f, &q));
    let (hs, hq) = (taped::host_rows::<f64>(&sr).unwrap(), taped::host_rows::<f64>(&qr).unwrap());
    // The tiny shape's layers keep dense deltas; the wider one's first layer low-rank factors
    // (up to 3 steps) and its second dense ones (see `Deltas::low_rank_pays`).
    assert!(super::Deltas::low_rank_pays(3, 3, 13, 32) && !super::Deltas::low_rank_pays(1, 3, 7, 3));
    for sh in [shape(&f), NetShape::new(&f.schema, 4, &[32, 8])] {
        let th = theta(&sh);
        let host: Vec<Vec<f64>> = th.iter().map(|t| t.flatten_all().unwrap().to_vec1().unwrap()).collect();
        for adapt in [AdaptLayers::All, AdaptLayers::Decision] {
            for k in [1, 2, 3] {
                for first_order in [false, true] {
                    let what = format!("{:?} {adapt:?} k={k} first_order={first_order}", sh.hidden);
                    let l = learner(&sh, th.clone(), adapt, first_order, None);
                    let (loss, grads) = taped::meta_gradient(&l, &host, &hs, &hq, k);
                    let want_loss = meta_loss(&l, &sr, &qr, k).to_scalar::<f64>().unwrap();
                    assert!((loss - want_loss).abs() <= 1e-12 * want_loss, "{what}: loss {loss} vs {want_loss}");
                    let got: Vec<f64> = grads.concat();
                    let e = rel_err(&got, &meta_gradient(&sh, &th, adapt, first_order, k));
                    assert!(e < 1e-12, "{what}: whole batch, relative difference {e}");

                    let vars: Vec<Var> = th.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
                    let l =
                        learner(&sh, vars.iter().map(|v| v.as_tensor().clone()).collect(), adapt, first_order, None);
                    let (la, ga) = super::meta_batch_gradient_autograd(&l, &sr, &qr, k, &vars).unwrap();
                    let (lt, gt) = super::meta_batch_gradient(&l, &sr, &qr, k, &vars).unwrap();
                    let pick = |g: &candle_core::backprop::GradStore| {
                        flat(&vars.iter().map(|v| g.get(v).unwrap().clone()).collect::<Vec<_>>())
                    };
                    assert!((la - lt).abs() <= 1e-12 * la, "{what}: halves' loss {lt} vs {la}");
                    let e = rel_err(&pick(&gt), &pick(&ga));
                    assert!(e < 1e-12, "{what}: halves, relative difference {e}");
                }
            }
        }
    }
}

/// The taped meta-gradient against central finite differences of its own loss.
#[test]
fn taped_meta_gradient_matches_finite_differences() {
    let f = features();
    let sh = NetShape::new(&f.schema, 4, &[32, 8]);
    let th = theta(&sh);
    let (s, q) = tasks();
    let (hs, hq) = (taped::host_rows::<f64>(&batch(&f, &s)).unwrap(), taped::host_rows::<f64>(&batch(&f, &q)).unwrap());
    let host =
        |ts: &[Tensor]| -> Vec<Vec<f64>> { ts.iter().map(|t| t.flatten_all().unwrap().to_vec1().unwrap()).collect() };
    let every: Vec<usize> = (0..th.len()).collect();
    for adapt in [AdaptLayers::All, AdaptLayers::Decision] {
        let k = 3;
        let l = learner(&sh, th.clone(), adapt, false, None);
        let (_, grads) = taped::meta_gradient(&l, &host(&th), &hs, &hq, k);
        let fd = finite_differences(&th, &every, &|ps| taped::meta_gradient(&l, &host(ps), &hs, &hq, k).0);
        let e = rel_err(&grads.concat(), &fd);
        assert!(e < 1e-6, "{adapt:?}: relative error {e}");
    }
}

/// `2 x + [x > 0]`: a second differentiated value with `x`'s shape.
fn twice_plus_step(tp: &mut super::tape::Tape<f64>, x: super::tape::Id) -> super::tape::Id {
    let n = tp.dims(x);
    let two = tp.constant(&vec![2.0; n.len()], n);
    let p = tp.positive(x);
    let y = tp.mul_const(x, two);
    tp.add(y, p)
}

/// Every op of the lean tape (`gradient::tape`) against central finite differences in f64: a
/// scalar built from all of them, differentiated with respect to every input, including
/// products with each transpose flag, shared operands (one batch) and twins. (`detach` is a
/// stop-gradient, which finite differences do not see: the first-order meta-gradient's
/// comparison with candle's covers it.)
#[test]
fn tape_ops_match_finite_differences() {
    use super::tape::{Dims, Tape};
    let dims = [
        Dims::new(2, 3, 4), // x: [b, r, c]
        Dims::new(1, 4, 5), // w: shared weight
        Dims::new(2, 5, 3), // v: per-batch
        Dims::new(1, 1, 5), // bias
        Dims::new(2, 1, 5), // task bias
        Dims::new(4, 3, 2), // table 0 (vocab 4, e = 2)
        Dims::new(3, 1, 2), // table 1 (vocab 3, e = 2), rows [1, 2] each
    ];
    let mut rng = Rng::new(5);
    let init: Vec<Tensor> = dims
        .iter()
        .map(|d| {
            let v: Vec<f64> = (0..d.len()).map(|_| rng.uniform() - 0.5).collect();
            Tensor::from_vec(v, d.len(), &Device::Cpu).unwrap()
        })
        .collect();
    let f = |ps: &[Tensor], grads: bool| -> (f64, Vec<f64>) {
        let mut tp = Tape::<f64>::new();
        let vals: Vec<Vec<f64>> = ps.iter().map(|t| t.to_vec1().unwrap()).collect();
        let mut d = dims;
        d[5] = Dims::new(1, 4, 6);
        d[6] = Dims::new(1, 3, 2);
        let ids: Vec<_> = vals.iter().zip(&d).map(|(v, d)| tp.leaf(v, *d)).collect();
        let (x, w, v, bias, tbias) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
        let (tab0, tab1) = (ids[5], ids[6]);
        // [2, 3, 4] x [4, 5] (shared, folded), twin form, and transposed flags.
        let wt = tp.transpose(w);
        let a = tp.matmul(x, false, w, false);
        let a2 = tp.matmul_twin(x, w, wt);
        let a = tp.add(a, a2);
        let a = tp.add_bias(a, bias);
        let a = tp.add_task_bias(a, tbias);
        let vt = tp.transpose(v);
        let p = tp.matmul(a, false, vt, true); // [2, 3, 5] x [5, 3]: per batch
        let q = tp.matmul(x, true, p, false); // [2, 4, 3] x [2, 3, 3] -> [2, 4, 3]
        let q2 = tp.matmul(p, true, x, false); // [2, 3, 3]^T x [2, 3, 4] -> [2, 3, 4]
        let s = tp.sum_rows(q); // [2, 1, 3]
        let cols = tp.cols(q2, 1, 2); // [2, 3, 2]
        let m = tp.positive(q2);
        let masked = tp.mul_const(q2, m);
        let neg = tp.neg(masked);
        let cat = tp.concat_cols(neg, cols); // [2, 3, 6]
        let cat2 = tp.concat_rows(cat, cat); // [2, 6, 6]
        // A shared left operand: [4, 5] x [2, 5, 3] -> [2, 4, 3].
        let shared_a = tp.matmul(w, false, v, false);
        let sa = tp.sum_rows(shared_a);
        let sh = tp.matmul(x, false, w, false);
        let sh = tp.sum_rows(sh);
        // Gather: 2 fields (tables 0 and 1 as [4, 6] and [3, 2]) for 2 x 3 rows.
        let idx = vec![vec![0u32, 3, 1, 1, 2, 0], vec![2u32, 0, 2, 1, 1, 0]];
        let e = tp.dims(tab1).c;
        let tab0_e = tp.cols(tab0, 0, e);
        let gathered = tp.gather(&[tab0_e, tab1], &idx, 2, 3); // [2, 3, 4]
        let mvals: Vec<f64> = (0..2 * 2 * 3 * 3).map(|i| ((i * 7 + 3) % 3 == 0) as u8 as f64).collect();
        let mm = tp.constant(&mvals, Dims::new(4, 3, 3));
        let step = tp.emb_step(mm, gathered, e); // [2, 3, 4]
        let both = tp.sub(gathered, step);
        let both = tp.add(both, gathered);
        let target = tp.constant(&vec![0.3; 2 * 3 * 4], Dims::new(2, 3, 4));
        let sd = tp.scaled_diff(both, target, 0.7);
        let sd = tp.mul_const(sd, m);
        let z1 = tp.constant(&vec![0.1; 2 * 6 * 6], Dims::new(2, 6, 6));
        let z2 = tp.constant(&vec![-0.2; 2 * 3], Dims::new(2, 1, 3));
        let z3 = tp.constant(&vec![0.05; 2 * 5], Dims::new(2, 1, 5));
        let l1 = tp.mse(cat2, z1);
        let l2 = tp.mse(s, z2);
        let l3 = tp.mse(sh, z3);
        let l4 = tp.mse(sd, target);
        let l = tp.add(l1, l2);
        let l = tp.add(l, l3);
        let l = tp.add(l, l4);
        let z4 = tp.constant(&[0.4; 6], Dims::new(2, 1, 3));
        let l5 = tp.mse(sa, z4);
        let l = tp.add(l, l5);
        // Products of two differentiated values: per batch by a shared [1, 4, 5], and elementwise.
        let xa = tp.matmul(x, true, a, false); // [2, 4, 5]
        let ms = tp.mul_shared(xa, w);
        let q3 = twice_plus_step(&mut tp, q2);
        let sq = tp.mul(q2, q3);
        let ms = tp.sum_rows(ms);
        let z5 = tp.constant(&[0.2; 10], Dims::new(2, 1, 5));
        let l6 = tp.mse(ms, z5);
        let l7 = tp.mse(sq, target);
        let l = tp.add(l, l6);
        let l = tp.add(l, l7);
        // A product with the bias in its output (shared right operand, twin), a product added
        // into it (shared), and one added into a per-batch product (transposed right operand).
        let wb = tp.matmul_twin_bias(x, w, wt, bias); // [2, 3, 5]
        let wb = tp.matmul_add(wb, x, false, w, false);
        let r1 = tp.matmul(a, false, v, false); // [2, 3, 3]
        let r2 = tp.matmul_add(r1, a, false, vt, true);
        let z6 = tp.constant(&[0.1; 30], Dims::new(2, 3, 5));
        let z7 = tp.constant(&[-0.1; 18], Dims::new(2, 3, 3));
        let l8 = tp.mse(wb, z6);
        let l9 = tp.mse(r2, z7);
        let l = tp.add(l, l8);
        let l = tp.add(l, l9);
        // Elementwise ops written over an operand's buffer: a task bias, a constant factor, a
        // sum (first operand) and a difference (second operand).
        let c1 = tp.matmul(x, false, w, false); // [2, 3, 5]
        let c1 = tp.add_task_bias_consuming(c1, tbias);
        let c1m = tp.positive(c1);
        let c1 = tp.mul_const_consuming(c1, c1m);
        let wb2 = tp.matmul_twin_bias(x, w, wt, bias);
        let c1 = tp.add_consuming(c1, wb2, c1);
        let c2 = tp.matmul(x, false, w, false);
        let c1 = tp.sub_consuming(c2, c1, c1);
        let z8 = tp.constant(&[0.05; 30], Dims::new(2, 3, 5));
        let l10 = tp.mse(c1, z8);
        let l = tp.add(l, l10);
        let value = tp.val(l)[0];
        if !grads {
            return (value, Vec::new());
        }
        tp.backward(l);
        let mut g = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            g.extend(tp.grad(*id).map(|x| x.to_vec()).unwrap_or_else(|| vec![0.0; d[i].len()]));
        }
        (value, g)
    };
    // Table 0 is [4, 6] (its first 2 columns looked up), smooth values.
    let mut init = init;
    init[5] =
        Tensor::from_vec((0..24).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<f64>>(), 24, &Device::Cpu).unwrap();
    let (_, exact) = f(&init, true);
    let every: Vec<usize> = (0..init.len()).collect();
    let fd = finite_differences(&init, &every, &|ps| f(ps, false).0);
    let mut at = 0;
    let per: Vec<f64> = init
        .iter()
        .map(|t| {
            let n = t.elem_count();
            at += n;
            rel_err(&exact[at - n..at], &fd[at - n..at])
        })
        .collect();
    let e = rel_err(&exact, &fd);
    assert!(e < 1e-7, "relative error {e}, per input {per:?}");
    assert!(exact.iter().all(|x| x.is_finite()) && exact.iter().any(|x| *x != 0.0));
}

/// The fused products give the bits of the ops they replace, in `f32` (the small-product kernels
/// where the CPU has AVX-512, the `gemm` crate elsewhere): `matmul_twin_bias` is `add_bias` of
/// `matmul_twin`, `matmul_add` is `add` of `matmul`, values and adjoints, at the MeLU shape's
/// part sizes (80 rows of shared products, 10-row per-task products, transposed operands); so are
/// the elementwise ops written over an operand's buffer (`*_consuming`, either operand). A value
/// a fused product took over cannot be read.
#[test]
fn fused_products_are_the_ops_they_replace_bit_for_bit() {
    use super::tape::{Dims, Id, Tape};
    let mut rng = Rng::new(11);
    let mut vals = |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.uniform() - 0.5) as f32).collect() };
    let (h, w, b, dw, g) = (vals(8 * 10 * 48), vals(48 * 24), vals(24), vals(8 * 24 * 24), vals(8 * 10 * 24));
    let tb = vals(8 * 24);
    let run = |fused: bool| -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut tp = Tape::<f32>::new();
        let h = tp.leaf(&h, Dims::new(8, 10, 48));
        let w = tp.leaf(&w, Dims::new(1, 48, 24));
        let wt = tp.transpose(w);
        let b = tp.leaf(&b, Dims::new(1, 1, 24));
        let dw = tp.leaf(&dw, Dims::new(8, 24, 24));
        let g = tp.leaf(&g, Dims::new(8, 10, 24));
        let tb = tp.leaf(&tb, Dims::new(8, 1, 24));
        let out: Id = if fused {
            let z = tp.matmul_twin_bias(h, w, wt, b);
            let zi = z_input(&mut tp, z);
            let z = tp.matmul_add(z, zi, false, dw, false);
            let z = tp.matmul_add(z, g, false, dw, true);
            let z = tp.add_task_bias_consuming(z, tb);
            let m = tp.positive(z);
            let z = tp.mul_const_consuming(z, m);
            let z = tp.add_consuming(z, g, z);
            let z = tp.sub_consuming(g, z, z);
            let z2 = tp.mul_const(g, m);
            tp.sub_consuming(z, z2, z)
        } else {
            let z = tp.matmul_twin(h, w, wt);
            let z = tp.add_bias(z, b);
            let zi = z_input(&mut tp, z);
            let p = tp.matmul(zi, false, dw, false);
            let z = tp.add(z, p);
            let p = tp.matmul(g, false, dw, true);
            let z = tp.add(z, p);
            let z = tp.add_task_bias(z, tb);
            let m = tp.positive(z);
            let z = tp.mul_const(z, m);
            let z = tp.add(z, g);
            let z = tp.sub(g, z);
            let z2 = tp.mul_const(g, m);
            tp.sub(z, z2)
        };
        let target = tp.constant(&vec![0.25; 8 * 10 * 24], Dims::new(8, 10, 24));
        let value = tp.val(out).to_vec();
        let loss = tp.mse(out, target);
        tp.backward(loss);
        (value, [h, w, b, dw, g, tb].iter().map(|x| tp.grad(*x).expect("reached").to_vec()).collect())
    };
    // The second product's left operand: a function of the first sum (read before it is taken).
    fn z_input(tp: &mut Tape<f32>, z: Id) -> Id {
        let m = tp.positive(z);
        tp.mul_const(z, m)
    }
    let (fused, unfused) = (run(true), run(false));
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&fused.0), bits(&unfused.0), "values");
    for (i, (a, b)) in fused.1.iter().zip(&unfused.1).enumerate() {
        assert_eq!(bits(a), bits(b), "adjoint of input {i}");
    }
    // The sum's own value is gone once a product took it over.
    let taken = std::panic::catch_unwind(|| {
        let mut tp = Tape::<f32>::new();
        let x = tp.leaf(&[1.0; 4], Dims::new(1, 2, 2));
        let y = tp.leaf(&[2.0; 4], Dims::new(1, 2, 2));
        let s = tp.add(x, y);
        tp.matmul_add(s, x, false, y, false);
        tp.val(s).to_vec()
    });
    assert!(taken.is_err(), "a taken-over value was read");
}

/// Meta-SGD on the tape: the meta-gradient with respect to the parameters and the per-parameter
/// rates ([`super::meta_batch_gradient`], taped on the CPU) against candle's autograd, both
/// adaptation modes, 1 to 3 inner steps.
#[test]
fn taped_meta_sgd_gradient_equals_autograd() {
    let f = features();
    let (s, q) = tasks();
    let (sr, qr) = (batch(&f, &s), batch(&f, &q));
    let sh = NetShape::new(&f.schema, 4, &[32, 8]);
    let th = theta(&sh);
    let mut rng = Rng::new(8);
    let rates: Vec<Tensor> = th
        .iter()
        .map(|t| {
            let v: Vec<f64> = (0..t.elem_count()).map(|_| 0.05 + 0.3 * rng.uniform()).collect();
            Tensor::from_vec(v, t.shape(), &Device::Cpu).unwrap()
        })
        .collect();
    for adapt in [AdaptLayers::All, AdaptLayers::Decision] {
        for k in [1, 2, 3] {
            let vars: Vec<Var> = th.iter().chain(&rates).map(|t| Var::from_tensor(t).unwrap()).collect();
            let (tv, rv) = vars.split_at(th.len());
            let l = learner(
                &sh,
                tv.iter().map(|v| v.as_tensor().clone()).collect(),
                adapt,
                false,
                Some(rv.iter().map(|v| v.as_tensor().clone()).collect()),
            );
            let (la, ga) = super::meta_batch_gradient_autograd(&l, &sr, &qr, k, &vars).unwrap();
            let (lt, gt) = super::meta_batch_gradient(&l, &sr, &qr, k, &vars).unwrap();
            let pick = |g: &candle_core::backprop::GradStore| {
                flat(
                    &vars
                        .iter()
                        .map(|v| g.get(v).cloned().unwrap_or_else(|| v.zeros_like().unwrap()))
                        .collect::<Vec<_>>(),
                )
            };
            assert!((la - lt).abs() <= 1e-12 * la, "{adapt:?} k={k}: loss {lt} vs {la}");
            let (a, t) = (pick(&ga), pick(&gt));
            let e = rel_err(&t, &a);
            assert!(e < 1e-12, "{adapt:?} k={k}: relative difference {e}");
            // The rates' part is not zero (so it was compared).
            let n_theta: usize = th.iter().map(|x| x.elem_count()).sum();
            assert!(t[n_theta..].iter().any(|x| *x != 0.0), "{adapt:?} k={k}: no rate gradient");
        }
    }
}
