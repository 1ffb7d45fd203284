//! Criterion benches of the metric-based meta-learners on the default synthetic suite: one
//! episodic training step of `protonet`, `matchingnet` and `relationnet` with their default
//! hyper-parameters (a meta-batch of 32 meta-train users, K = 10 support and 10 query ratings
//! each: episode sampling, the encoder on 640 (user, item) pairs, the head, the loss and one
//! Adam update), and of `matchingnet` with full context embeddings.
//!
//! Run: `cargo bench --bench metric_based` (release profile, one matmul thread unless
//! `RAYON_NUM_THREADS` says otherwise).

use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use metarec_methods::metric_based::episode_trainer;
use metarec_methods::{Ctx, TrainData};
use metarec_suites::{Rng, load_suite};
use std::hint::black_box;

fn benches(c: &mut Criterion) {
    let m = load_suite("synthetic").unwrap().materialize().unwrap();
    let train = TrainData::of(&m);
    let mut fce = toml::Table::new();
    fce.insert("full_context_embeddings".into(), true.into());
    let mut g = c.benchmark_group("metric_based");
    for (name, label, table) in [
        ("protonet", "protonet", toml::Table::new()),
        ("matchingnet", "matchingnet", toml::Table::new()),
        ("matchingnet", "matchingnet (full context embeddings)", fce),
        ("relationnet", "relationnet", toml::Table::new()),
    ] {
        let mut ctx = Ctx { rng: Rng::new(0), device: Device::Cpu };
        let mut trainer = episode_trainer(name, &table, &train, &mut ctx).unwrap();
        let mut rng = Rng::new(1);
        g.bench_function(format!("{label}/one episode step (32 users, K=10, Q=10)"), |b| {
            b.iter(|| black_box(trainer.step(&mut rng).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(metric_based, benches);
criterion_main!(metric_based);
