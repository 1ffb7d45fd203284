//! Tests of `meta-lstm`, in f64 on the tiny network of the gradient tests: the update rule
//! against SGD (forget gate 1, constant input gate) and against SGD plus shrinkage at the
//! authors' initialisation, the meta-gradient of the unrolled trajectory against central finite
//! differences with the learner's gradients held fixed (and that holding them fixed matters),
//! the meta-learner's size against the learner's, validation over tasks of mixed sizes, bad
//! hyper-parameters, a diverging run and determinism.

use super::super::tests::{
    batch, features, finite_differences, flat, rel_err, shape, tasks, theta, tiny_suite, train_data,
};
use super::super::{AdaptLayers, Learner};
use super::{MetaLstm, MetaLstmParams, init_meta, preprocess, unroll, validation_rmse};
use crate::nn::NetShape;
use candle_core::{DType, Device, Tensor, Var};
use metarec_suites::{Rating, Rng, Task};

const N_TABLES: usize = 3;

fn uniform(rng: &mut Rng, shape: &[usize], lo: f64, hi: f64) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * rng.uniform()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn sigmoid(x: f64) -> f64 {
    // As candle's kernel computes it.
    ((-x).exp() + 1.0).recip()
}

fn scalar(t: &Tensor) -> f64 {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0]
}

/// A meta-learner with `H = 3` and weights large enough that every path matters.
fn strong_lstm(rng: &mut Rng) -> MetaLstm {
    MetaLstm {
        w1: uniform(rng, &[12, 7], -0.5, 0.5),
        b1: uniform(rng, &[12, 1], -0.5, 0.5),
        w_f: uniform(rng, &[1, 5], -0.3, 0.3),
        b_f: Tensor::new(&[[1.5f64]], &Device::Cpu).unwrap(),
        w_i: uniform(rng, &[1, 5], -0.3, 0.3),
        b_i: Tensor::new(&[[-1.0f64]], &Device::Cpu).unwrap(),
        p: 10.0,
    }
}

#[test]
fn preprocessing_follows_the_paper() {
    let p = 10.0;
    let xs = [3.0, -0.5, 1e-3, -(-p as f64).exp() * 0.5, 0.0, (-p as f64).exp()];
    let x = Tensor::from_vec(xs.to_vec(), (1, xs.len()), &Device::Cpu).unwrap();
    let got = preprocess(&x, p).unwrap().t().unwrap().to_vec2::<f64>().unwrap();
    for (x, row) in xs.iter().zip(got) {
        let want = if x.abs() >= (-p).exp() { [x.abs().ln() / p, x.signum()] } else { [-1.0, p.exp() * x] };
        assert!((row[0] - want[0]).abs() < 1e-12 && (row[1] - want[1]).abs() < 1e-12, "x = {x}: {row:?} vs {want:?}");
    }
}

#[test]
fn forget_gate_one_and_constant_input_gate_is_sgd() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let (s, q) = tasks();
    let (sr, qr) = (batch(&f, &s), batch(&f, &q));
    let mut rng = Rng::new(3);
    // Layer 1 arbitrary (and large): with zero gate weights it must not matter.
    let mut lstm = strong_lstm(&mut rng);
    lstm.w_f = lstm.w_f.zeros_like().unwrap();
    lstm.w_i = lstm.w_i.zeros_like().unwrap();
    lstm.b_f = Tensor::new(&[[40.0f64]], &Device::Cpu).unwrap();
    assert_eq!(sigmoid(40.0), 1.0, "the forget gate is exactly 1");
    let b_i = -0.8f64;
    lstm.b_i = Tensor::new(&[[b_i]], &Device::Cpu).unwrap();
    let rate = sigmoid(b_i);
    for k in [1, 3] {
        let u = unroll(&lstm, &th, N_TABLES, &sr, Some(&qr), k, None).unwrap();
        let sgd = Learner {
            shape: sh.clone(),
            adapt: AdaptLayers::Decision,
            inner_lr: rate,
            first_order: true,
            theta: th.clone(),
            rates: None,
        };
        let a = sgd.adapt_batch(&sr, Some(&qr), k, false).unwrap();
        let deltas = |d: &super::Deltas| -> Vec<f64> {
            let ts: Vec<Tensor> = d.w.iter().chain(&d.b).map(|x| x.clone().unwrap()).collect();
            flat(&ts)
        };
        let e = rel_err(&deltas(&u.deltas), &deltas(&a.deltas));
        assert!(e < 1e-12, "k={k}: parameters differ from SGD's by {e}");
        let e = rel_err(&flat(&[u.query_pred.unwrap()]), &flat(&[a.query_pred.unwrap()]));
        assert!(e < 1e-12, "k={k}: query predictions differ from SGD's by {e}");
    }
}

#[test]
fn at_initialisation_the_update_is_sgd_with_shrinkage() {
    let (t, p) = (4, 50);
    for seed in 0..5 {
        let mut rng = Rng::new(100 + seed);
        let lstm = MetaLstm::init(20, 10.0, &mut rng, DType::F64, &Device::Cpu).unwrap();
        let (bf, bi) = (sigmoid(scalar(&lstm.b_f)), sigmoid(scalar(&lstm.b_i)));
        assert!((sigmoid(4.0)..=sigmoid(5.0)).contains(&bf), "forget factor {bf}");
        assert!((sigmoid(-5.0)..=sigmoid(-4.0)).contains(&bi), "rate {bi}");
        let c0: Vec<f64> = (0..t * p).map(|_| 6.0 * rng.uniform() - 3.0).collect();
        // Gradients over nine orders of magnitude, both signs, both preprocessing branches.
        let g: Vec<f64> = (0..t * p)
            .map(|_| {
                let sign = if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                sign * 10f64.powf(9.0 * rng.uniform() - 8.0)
            })
            .collect();
        let loss: Vec<f64> = (0..t).map(|_| 3.0 * rng.uniform()).collect();
        let update = |c0: &[f64], g: &[f64]| -> Vec<f64> {
            let c = Tensor::from_vec(c0.to_vec(), (1, t * p), &Device::Cpu).unwrap();
            let grad = Tensor::from_vec(g.to_vec(), (t, p), &Device::Cpu).unwrap();
            let loss = Tensor::from_vec(loss.clone(), t, &Device::Cpu).unwrap();
            let x = lstm.inputs(&loss, &grad).unwrap();
            let (c1, _) = lstm.step(&x, &grad.reshape((1, t * p)).unwrap(), &c, None).unwrap();
            c1.flatten_all().unwrap().to_vec1::<f64>().unwrap()
        };
        // The forget factor alone (zero gradient) and the rate alone (zero parameters).
        let zeros = vec![0.0; t * p];
        for (c, c1) in c0.iter().zip(update(&c0, &zeros)) {
            assert!((c1 / c - bf).abs() <= 1e-3, "seed {seed}: forget factor {} vs {bf}", c1 / c);
        }
        for (g, c1) in g.iter().zip(update(&zeros, &g)) {
            assert!((-c1 / g / bi - 1.0).abs() <= 0.04, "seed {seed}: rate {} vs {bi}", -c1 / g);
        }
        for ((c, g), c1) in c0.iter().zip(&g).zip(update(&c0, &g)) {
            let sgd = bf * c - bi * g;
            assert!((c1 - sgd).abs() <= 1e-3 * c.abs() + 0.04 * bi * g.abs(), "seed {seed}: {c1} vs {sgd}");
        }
    }
}

/// The meta-loss of `params` (learner then meta-learner), with the learner's inputs recomputed
/// (`frozen = None`) or held at the given ones.
fn meta_loss(params: &[Tensor], n_theta: usize, frozen: Option<&[super::StepInputs]>) -> Tensor {
    let f = features();
    let (s, q) = tasks();
    let (sr, qr) = (batch(&f, &s), batch(&f, &q));
    let lstm = MetaLstm::from_tensors(&params[n_theta..], 10.0);
    let u = unroll(&lstm, &params[..n_theta], N_TABLES, &sr, Some(&qr), 3, frozen).unwrap();
    super::functional::mse(&u.query_pred.unwrap(), &qr.target).unwrap()
}

#[test]
fn meta_gradient_matches_finite_differences_with_the_learner_gradients_fixed() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let n_theta = th.len();
    let mut params = th.clone();
    params.extend(strong_lstm(&mut Rng::new(21)).tensors());
    let vars: Vec<Var> = params.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let tracked: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = meta_loss(&tracked, n_theta, None).backward().unwrap();
    let exact = flat(
        &vars.iter().map(|v| grads.get(v).cloned().unwrap_or_else(|| v.zeros_like().unwrap())).collect::<Vec<_>>(),
    );
    // The learner's losses and gradients of the unperturbed trajectory, held fixed.
    let (s, q) = tasks();
    let lstm = MetaLstm::from_tensors(&params[n_theta..], 10.0);
    let inputs = unroll(&lstm, &th, N_TABLES, &batch(&f, &s), Some(&batch(&f, &q)), 3, None).unwrap().inputs;
    let every: Vec<usize> = (0..params.len()).collect();
    let fd = finite_differences(&params, &every, &|ps| meta_loss(ps, n_theta, Some(&inputs)).to_scalar().unwrap());
    let e = rel_err(&exact, &fd);
    assert!(e < 1e-6, "relative error {e}");
    // Every kind of meta-parameter gets a gradient: c_0 (dense), tables (via the query), LSTM.
    let count = |range: std::ops::Range<usize>| params[range].iter().map(|t| t.elem_count()).sum::<usize>();
    let (n_tab, n_dense) = (count(0..N_TABLES), count(N_TABLES..n_theta));
    for (what, part) in [
        ("tables", &exact[..n_tab]),
        ("c_0", &exact[n_tab..n_tab + n_dense]),
        ("meta-learner", &exact[n_tab + n_dense..]),
    ] {
        assert!(part.iter().any(|g| g.abs() > 1e-6), "{what}: no gradient");
    }
    // Holding the learner's gradients fixed is a real approximation: differentiating through
    // them gives a different meta-gradient, so a test of the wrong treatment would fail.
    let full = finite_differences(&params, &every, &|ps| meta_loss(ps, n_theta, None).to_scalar().unwrap());
    let d = rel_err(&full, &fd);
    assert!(d > 1e-3, "differentiating through the learner's gradients changes nothing ({d})");
}

#[test]
fn meta_learner_size_does_not_grow_with_the_learner() {
    let f = features();
    let p = MetaLstmParams::default();
    let h = p.lstm_hidden;
    let mut sizes = Vec::new();
    for (embed, hidden) in [(2, vec![3]), (16, vec![64, 64, 32])] {
        let sh = NetShape::new(&f.schema, embed, &hidden);
        let (theta, lstm) = init_meta(&sh, &p, 3.0, &mut Rng::new(1), &Device::Cpu).unwrap();
        let c0: usize = theta.iter().map(|t| t.elem_count()).sum();
        sizes.push((c0, lstm.n_weights()));
    }
    assert_eq!(sizes[0].1, 4 * h * (4 + h + 1) + 2 * (h + 2) + 2);
    assert_eq!(sizes[0].1, sizes[1].1, "meta-learner size changed with the learner: {sizes:?}");
    assert!(sizes[1].0 > 10 * sizes[0].0, "the learners differ in size: {sizes:?}");
}

#[test]
fn validation_counts_tasks_of_every_size() {
    let f = features();
    let sh = shape(&f);
    let th = theta(&sh);
    let lstm = strong_lstm(&mut Rng::new(4));
    let r = |user, item, value| Rating { user, item, value };
    let task = |support: Vec<Rating>, query: Vec<Rating>| Task {
        user: query[0].user,
        support,
        query,
        pool: vec![],
        negatives: vec![],
    };
    let tasks = vec![
        task(vec![r(0, 0, 4.0), r(0, 4, 2.0), r(0, 1, 5.0)], vec![r(0, 4, 3.0), r(0, 5, 1.0)]),
        task(vec![r(1, 2, 1.0)], vec![r(1, 2, 4.0), r(1, 1, 2.0), r(1, 3, 5.0)]),
        task(vec![], vec![r(2, 0, 3.0)]),
        task(vec![r(3, 3, 3.0), r(3, 2, 2.0), r(3, 0, 4.0)], vec![r(3, 1, 1.0), r(3, 0, 2.0)]),
    ];
    for batch_size in [1, 2, 8] {
        let got = validation_rmse(&lstm, &th, N_TABLES, &f, &tasks, 2, batch_size, &Device::Cpu).unwrap().unwrap();
        // Each task alone: the squared errors of all seven query ratings.
        let mut sq = Vec::new();
        for t in &tasks {
            let one = validation_rmse(&lstm, &th, N_TABLES, &f, std::slice::from_ref(t), 2, 1, &Device::Cpu)
                .unwrap()
                .unwrap();
            sq.push(one * one * t.query.len() as f64);
        }
        let want = (sq.iter().sum::<f64>() / 8.0).sqrt();
        assert!((got - want).abs() < 1e-12, "batch {batch_size}: {got} vs {want}");
    }
    assert_eq!(validation_rmse(&lstm, &th, N_TABLES, &f, &[], 2, 4, &Device::Cpu).unwrap(), None);
}

#[test]
fn bad_hyper_parameters_name_their_key() {
    let cases: &[(&str, toml::Value, &str)] = &[
        ("lstm_hidden", toml::Value::Integer(0), "`lstm_hidden`: must be at least 1"),
        ("outer_lr", toml::Value::Float(-1e-3), "`outer_lr`: must be positive"),
        ("inner_steps", toml::Value::Integer(0), "`inner_steps`: must be at least 1"),
        ("clip_norm", toml::Value::Float(0.0), "`clip_norm`: must be positive"),
        ("preprocess_p", toml::Value::Float(-10.0), "`preprocess_p`: must be positive"),
        ("hidden", toml::Value::Array(vec![toml::Value::Integer(0)]), "`hidden`: layer widths must be at least 1"),
        ("inner_lr", toml::Value::Float(0.1), "`inner_lr`: unknown key"),
    ];
    for (key, value, want) in cases {
        let mut t = toml::Table::new();
        t.insert(key.to_string(), value.clone());
        match super::build(&t) {
            Err(e) => {
                let want = format!("method `meta-lstm`: hyper-parameter {want}");
                assert!(e.to_string().starts_with(&want), "{key}: {e}");
            }
            Ok(_) => panic!("{key} = {value} was accepted"),
        }
    }
}

fn tiny_run(overrides: &[(&str, toml::Value)]) -> toml::Table {
    let mut t = toml::Table::new();
    for (k, v) in [
        ("meta_steps", toml::Value::Integer(6)),
        ("eval_every", toml::Value::Integer(3)),
        ("inner_steps", toml::Value::Integer(2)),
        ("meta_batch", toml::Value::Integer(4)),
        ("embed_dim", toml::Value::Integer(4)),
        ("hidden", toml::Value::Array(vec![toml::Value::Integer(8)])),
        ("support", toml::Value::Integer(5)),
        ("query", toml::Value::Integer(5)),
    ] {
        t.insert(k.into(), v);
    }
    for (k, v) in overrides {
        t.insert(k.to_string(), v.clone());
    }
    t
}

#[test]
fn same_seed_same_predictions_and_divergence_is_reported() {
    let m = tiny_suite();
    let data = train_data(&m);
    let task = &m.split.tasks(metarec_suites::Scenario::UserCold)[0];
    let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
    let predict = |seed: u64| -> Vec<f64> {
        let method = super::build(&tiny_run(&[])).unwrap();
        let mut ctx = crate::Ctx { rng: Rng::new(seed), device: Device::Cpu };
        let model = method.meta_train(&data, &mut ctx).unwrap();
        let report = model.report();
        assert!(report.validation_loss.is_some_and(f64::is_finite), "{report:?}");
        let support = crate::SupportSet { user: task.user, support: &task.support, features: &m.dataset.features };
        let adapted = model.adapt(&support, &mut ctx).unwrap();
        let p = adapted.predict(&items).unwrap().mean;
        assert!(p.iter().all(|x| x.is_finite()));
        p
    };
    let a = predict(5);
    assert_eq!(a, predict(5), "same seed, different predictions");
    assert_ne!(a, predict(6), "the seed changes nothing");
    let method = super::build(&tiny_run(&[("outer_lr", toml::Value::Float(1e30))])).unwrap();
    let mut ctx = crate::Ctx { rng: Rng::new(1), device: Device::Cpu };
    match method.meta_train(&data, &mut ctx) {
        Err(crate::MethodError::Diverged { method, context }) => {
            assert_eq!(method, "meta-lstm");
            assert!(context.contains("outer_lr"), "{context}");
        }
        Err(e) => panic!("expected divergence, got {e}"),
        Ok(_) => panic!("outer_lr = 1e30 trained without diverging"),
    }
}

/// Two updates of `N` coordinates through `step_with(.., fused)`, on CPU in `dtype`: the final
/// parameters and layer-1 output, and the gradients of `sum(w_c c_2) + sum(w_h h_2)` with respect
/// to `c_0` and every meta-learner weight.
fn two_updates(dtype: DType, fused: bool) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut rng = Rng::new(77);
    let (t, p) = (2, 40);
    let n = t * p;
    let lstm = strong_lstm(&mut rng);
    let c0 = uniform(&mut rng, &[1, n], -2.0, 2.0);
    let g: Vec<Tensor> = (0..2).map(|_| uniform(&mut rng, &[t, p], -1e-2, 1e-2)).collect();
    let loss = uniform(&mut rng, &[t], 0.0, 3.0);
    let (w_c, w_h) = (uniform(&mut rng, &[1, n], -1.0, 1.0), uniform(&mut rng, &[3, n], -1.0, 1.0));
    let cast = |x: &Tensor| x.to_dtype(dtype).unwrap();
    let vars: Vec<Var> = std::iter::once(cast(&c0))
        .chain(lstm.tensors().iter().map(cast))
        .map(|x| Var::from_tensor(&x).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let m = MetaLstm::from_tensors(&ts[1..], 10.0);
    let mut c = ts[0].clone();
    let mut state = None;
    for g in &g {
        let g = cast(g);
        let x = m.inputs(&cast(&loss), &g).unwrap();
        let (next, s) = m.step_with(&x, &g.reshape((1, n)).unwrap(), &c, state.as_ref(), fused).unwrap();
        c = next;
        state = Some(s);
    }
    let h = state.unwrap().h;
    let objective =
        ((&c * cast(&w_c)).unwrap().sum_all().unwrap() + (&h * cast(&w_h)).unwrap().sum_all().unwrap()).unwrap();
    let grads = objective.backward().unwrap();
    let to64 = |x: &Tensor| x.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let mut out = to64(&c);
    out.extend(to64(&h));
    (out, vars.iter().map(|v| to64(grads.get(v).expect("every weight has a gradient"))).collect())
}

#[test]
fn fused_cpu_ops_match_candles_composed_ones() {
    // f64: the same functions (the standard library's exp and tanh), so equal to rounding.
    // f32: the kernels' polynomial exp and tanh (within 3 ulp), against libm's through candle.
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
        let (out_f, grads_f) = two_updates(dtype, true);
        let (out_c, grads_c) = two_updates(dtype, false);
        let e = rel_err(&out_f, &out_c);
        assert!(e < tol, "{dtype:?}: outputs differ by {e}");
        for (k, (a, b)) in grads_f.iter().zip(&grads_c).enumerate() {
            let e = rel_err(a, b);
            assert!(e < tol, "{dtype:?}: gradient {k} differs by {e}");
            assert!(a.iter().any(|x| x.abs() > 1e-6), "{dtype:?}: gradient {k} is zero");
        }
    }
}
