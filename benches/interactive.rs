//! Criterion benches of the interactive policies' per-round work on the shipped `interactive`
//! suite (400 users x 200 items, slates of 3 from every item): one LinUCB round (the UCB
//! scores of 200 items, then three Sherman-Morrison updates of the posterior) and one MPO
//! adaptation round (a Plackett-Luce slate of 3 from the softmax over 200 items with its
//! log-probability gradients and the KL gradient, then one policy-gradient step on the user's
//! weights). Rounds repeat on one user's policy, every item available, so each costs the same.
//!
//! Run: `cargo bench --bench interactive` (release profile).

use candle_core::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use metarec_interactive::env::Feedback;
use metarec_interactive::policy::{self, Policy, PolicyData};
use metarec_methods::Ctx;
use metarec_suites::{Rng, load_suite};
use std::hint::black_box;

/// One round: a slate, then its feedback (every other item clicked).
fn round(policy: &mut dyn Policy, available: &[u32], k: usize, rng: &mut Rng) -> usize {
    let slate = policy.slate(available, k, rng).unwrap();
    let feedback: Vec<Feedback> = slate
        .iter()
        .enumerate()
        .map(|(j, i)| Feedback { item: *i, click: j % 2 == 0, rating: Some(if j % 2 == 0 { 5.0 } else { 2.0 }) })
        .collect();
    policy.observe(&feedback, rng).unwrap();
    slate.len()
}

fn benches(c: &mut Criterion) {
    let suite = load_suite("interactive").unwrap();
    let cfg = suite.def.interactive.clone().unwrap();
    let m = suite.materialize().unwrap();
    let data = PolicyData {
        features: &m.dataset.features,
        meta_train: &m.split.meta_train,
        like: cfg.like.unwrap_or_else(|| suite.def.protocol.like_threshold()),
        truth: None,
        slate: cfg.slate,
        rounds: cfg.rounds(),
    };
    let available: Vec<u32> = (0..m.dataset.features.n_items() as u32).collect();
    let user = m.split.test.first().and_then(|(_, t)| t.first()).map(|t| t.user).unwrap();
    // MPO's adaptation costs the same whatever its meta-trained weights: two meta-steps keep the
    // setup short.
    let mut mpo = toml::Table::new();
    mpo.insert("meta_steps".into(), 2.into());
    let mut g = c.benchmark_group("interactive");
    for (name, params, label) in [
        ("linucb", toml::Table::new(), "linucb/one round (UCB over 200 items, 3 Sherman-Morrison updates)"),
        ("mpo", mpo, "mpo/one adaptation round (Plackett-Luce slate of 3 from 200, one policy-gradient step)"),
    ] {
        let method = policy::build(name, &params).unwrap().unwrap();
        let mut ctx = Ctx { rng: Rng::new(0), device: Device::Cpu };
        let model = method.meta_train(&data, &mut ctx).unwrap();
        let mut p = model.start(user, &mut ctx).unwrap();
        let mut rng = Rng::new(1);
        g.bench_function(label, |b| b.iter(|| black_box(round(p.as_mut(), &available, cfg.slate, &mut rng))));
    }
    g.finish();
}

criterion_group!(interactive, benches);
criterion_main!(interactive);
