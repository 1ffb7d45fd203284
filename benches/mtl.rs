//! Criterion benches of the multi-task family on the shipped `mtl-related` suite: meta-training
//! of `mtl-hard` (one shared bottom, a tower per objective) and `mmoe` (experts and a gate per
//! objective) with their default sizes (batches of 256 meta-train ratings, Adam), at two budgets:
//! 1 step and 21 steps, validation only before the first step. One step costs the difference
//! divided by 20 (batch assembly, the forward of every tower, the masked per-objective losses,
//! backward and one Adam update); the 1-step budget alone is the fixed part (training rows,
//! initialisation, one validation pass).
//!
//! Run: `cargo bench --bench mtl` (release profile, one matmul thread unless
//! `RAYON_NUM_THREADS` says otherwise).

use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use metarec_methods::{Ctx, Registry, TrainData};
use metarec_suites::{Rng, load_suite};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let m = load_suite("mtl-related").unwrap().materialize().unwrap();
    let train = TrainData::of(&m);
    let labels = m.objectives.as_ref().unwrap().for_training(&m.split);
    let registry = Registry::default();
    let mut g = c.benchmark_group("mtl");
    g.sample_size(10);
    for name in ["mtl-hard", "mmoe"] {
        for steps in [1i64, 21] {
            let mut t = toml::Table::new();
            t.insert("steps".into(), steps.into());
            t.insert("eval_every".into(), 1000.into());
            let method = (registry.get(name).unwrap().build)(&t).unwrap();
            g.bench_function(format!("{name}/meta-train {steps} step(s) (batch 256)"), |b| {
                b.iter(|| {
                    let mut ctx = Ctx { rng: Rng::new(0), device: Device::Cpu };
                    black_box(method.meta_train_objectives(&train, &labels, &mut ctx).unwrap().report())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(mtl, benches);
criterion_main!(mtl);
