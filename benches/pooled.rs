//! Criterion benches of the spine's hot paths on the default synthetic suite (1000 users x
//! 500 items, 56,752 ratings): world generation and split, pooled meta-training, and one
//! user's fine-tuning (K = 10 support ratings, 20 SGD steps) plus prediction of 10 query items.
//!
//! Run: `cargo bench --bench pooled` (release profile, one matmul thread unless
//! `RAYON_NUM_THREADS` says otherwise).

use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use metarec_methods::{Ctx, Registry, SupportSet, TrainData};
use metarec_suites::{Rng, Scenario, load_suite};
use std::hint::black_box;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn benches(c: &mut Criterion) {
    let suite = load_suite("synthetic").unwrap();
    c.bench_function("synthetic/generate+split (1000 users x 500 items)", |b| {
        b.iter(|| black_box(suite.materialize().unwrap()))
    });

    let m = suite.materialize().unwrap();
    let train = TrainData::of(&m);
    let registry = Registry::default();
    let mut g = c.benchmark_group("pooled");
    g.sample_size(10);
    let pooled = (registry.get("pooled").unwrap().build)(&toml::Table::new()).unwrap();
    g.bench_function("meta-train (early stopping, 33k ratings)", |b| {
        b.iter(|| {
            let mut ctx = Ctx { rng: Rng::new(0), device: Device::Cpu };
            black_box(pooled.meta_train(&train, &mut ctx).unwrap().report())
        })
    });
    g.finish();

    let ft = (registry.get("pooled-finetune").unwrap().build)(&toml::Table::new()).unwrap();
    let mut ctx = Ctx { rng: Rng::new(0), device: Device::Cpu };
    let model = ft.meta_train(&train, &mut ctx).unwrap();
    let task = &m.split.tasks(Scenario::UserCold)[0];
    let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
    c.bench_function("pooled-finetune/adapt+predict one user (K=10, 20 steps)", |b| {
        b.iter(|| {
            let support = SupportSet { user: task.user, support: &task.support, features: &m.dataset.features };
            let adapted = model.adapt(&support, &mut ctx).unwrap();
            black_box(adapted.predict(&items).unwrap())
        })
    });
}

criterion_group!(spine, benches);
criterion_main!(spine);
