//! One meta-train step of the gradient-based methods at the MeLU shape of DESIGN.md:
//! 8 categorical fields x vocab 100 x dim 32 -> 256 -> 64 -> 64 -> 1, meta-batch 32,
//! 10 support + 10 query rows per task, inner SGD on every parameter, outer Adam, f32.
//! A step is: inner loop, query loss, outer backward, Adam update. `meta-lstm/k5` is the same
//! workload for Meta-LSTM: 5 updates of the coordinate-wise LSTM (20 hidden units) on the
//! decision layers' 20,673 coordinates per task, backward through the unrolled trajectory,
//! clipped Adam. `autograd/*` are the MAML and Meta-SGD steps through candle's autograd instead
//! of the lean tape that meta-training uses on the CPU (`gradient::taped`): the tape's gain, side
//! by side.
//!
//! Run: `RAYON_NUM_THREADS=2 CANDLE_NUM_THREADS=1 cargo bench --bench meta_step`, as cells run: a
//! gradient step's parts take the two threads (`gradient::meta_batch_gradient`). The
//! comparison with PyTorch in `benches/torch/maml_speed.py` uses the same threads.

use candle_core::{DType, Device, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use criterion::{Criterion, criterion_group, criterion_main};
use metarec_methods::adam::Adam;
use metarec_methods::gradient::meta_lstm::{MetaLstm, meta_train_step};
use metarec_methods::gradient::reference::{FIELDS, LR, inputs, learner};
use metarec_methods::gradient::{MetaGradient, meta_batch_gradient_autograd, meta_batch_gradient_parts};
use metarec_suites::Rng;
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a step's meta-gradient is made: as meta-training makes it (the lean tape for MAML on the
/// CPU, `gradient::taped`), or through candle's autograd (what Meta-SGD and the GPU use).
#[derive(Clone, Copy, PartialEq)]
enum Path {
    AsTrained,
    Autograd,
}

fn step(c: &mut Criterion, name: &str, steps: usize, first_order: bool, meta_sgd: bool, path: Path) {
    let (shape, params, s, q) = inputs(&Device::Cpu);
    let vars: Vec<Var> = params.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let rates: Option<Vec<Var>> = meta_sgd
        .then(|| params.iter().map(|t| Var::from_tensor(&(t.ones_like().unwrap() * LR).unwrap()).unwrap()).collect());
    let mut all = vars.clone();
    all.extend(rates.iter().flatten().cloned());
    let mut opt = Adam::new(all.clone(), ParamsAdamW { lr: 1e-4, weight_decay: 0.0, ..Default::default() }).unwrap();
    // As the runner runs a cell with spare cores: the cell's steps inside one `install` on a
    // pool of RAYON_NUM_THREADS threads (here each of criterion's batches of steps, timed on the
    // pool), the meta-batch's parts as rayon tasks, the optimiser's update in chunks
    // (`metarec_methods::jobs`).
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            pool.install(|| {
                let t0 = std::time::Instant::now();
                for _ in 0..iters {
                    let learner = learner(&shape, &vars, rates.as_deref(), first_order);
                    let (loss, grads) = match path {
                        Path::AsTrained => meta_batch_gradient_parts(&learner, &s, &q, steps, &all),
                        Path::Autograd => meta_batch_gradient_autograd(&learner, &s, &q, steps, &all)
                            .map(|(l, g)| (l, MetaGradient::Store(g))),
                    }
                    .unwrap();
                    opt.step_meta(grads).unwrap();
                    black_box(loss);
                }
                t0.elapsed()
            })
        })
    });
}

fn meta_lstm(c: &mut Criterion) {
    let (_, params, s, q) = inputs(&Device::Cpu);
    let lstm = MetaLstm::init(20, 10.0, &mut Rng::new(1), DType::F32, &Device::Cpu).unwrap();
    let mut all = params;
    all.extend(lstm.tensors());
    let vars: Vec<Var> = all.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let mut opt = Adam::new(vars.clone(), ParamsAdamW { lr: 1e-3, weight_decay: 0.0, ..Default::default() }).unwrap();
    let mut group = c.benchmark_group("meta-lstm");
    group.sample_size(10);
    group.bench_function("k5", |b| {
        b.iter(|| black_box(meta_train_step(&vars, FIELDS, 10.0, &s, &q, 5, 0.25, &mut opt).unwrap()))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    step(c, "maml/so-k1", 1, false, false, Path::AsTrained);
    step(c, "maml/so-k5", 5, false, false, Path::AsTrained);
    step(c, "maml/fo-k1", 1, true, false, Path::AsTrained);
    step(c, "meta-sgd/k1", 1, false, true, Path::AsTrained);
    // The same steps through candle's autograd, for the tape's gain on one machine.
    step(c, "autograd/so-k1", 1, false, false, Path::Autograd);
    step(c, "autograd/so-k5", 5, false, false, Path::Autograd);
    step(c, "autograd/fo-k1", 1, true, false, Path::Autograd);
    step(c, "autograd/meta-sgd-k1", 1, false, true, Path::Autograd);
    meta_lstm(c);
}

criterion_group!(meta, benches);
criterion_main!(meta);
