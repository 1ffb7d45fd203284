//! Unit tests of every baseline against values computed by hand on a tiny world: three users,
//! four items, a handful of meta-train ratings.

use crate::{Ctx, MethodError, Predictions, Registry, SupportSet, TrainData};
use candle_core::Device;
use metarec_suites::{Features, Field, History, Rating, Rng, Schema, Task, Truth};
use std::sync::Arc;

fn features() -> Arc<Features> {
    let schema = Schema {
        user_fields: vec![Field { name: "a".into(), vocab: 2 }],
        item_fields: vec![Field { name: "c".into(), vocab: 3 }],
        item_numeric: vec![],
    };
    Arc::new(Features {
        schema,
        user_cat: vec![0, 1, 0],
        item_cat: vec![0, 1, 2, 1],
        item_num: vec![],
        user_ids: (0..3).collect(),
        item_ids: (0..4).collect(),
    })
}

fn r(user: u32, item: u32, value: f32) -> Rating {
    Rating { user, item, value }
}

/// Item 0 rated 5 and 5, item 1 rated 1, items 2 and 3 never: global mean 11/3.
fn histories() -> Vec<History> {
    vec![
        History { user: 0, ratings: vec![r(0, 0, 5.0), r(0, 1, 1.0)] },
        History { user: 1, ratings: vec![r(1, 0, 5.0)] },
    ]
}

fn data<'a>(f: &'a Arc<Features>, h: &'a [History], v: &'a [Task], truth: Option<&'a Truth>) -> TrainData<'a> {
    TrainData { features: f, meta_train: h, validation: v, rating_min: 1.0, rating_max: 5.0, truth }
}

fn ctx() -> Ctx {
    Ctx { rng: Rng::new(3), device: Device::Cpu }
}

/// Builds `name` with `params`, meta-trains on `d` and predicts `items` for user 2 after adapting
/// to `support`.
fn predict(name: &str, params: toml::Table, d: &TrainData, support: &[Rating], items: &[u32]) -> Predictions {
    let method = (Registry::default().get(name).unwrap().build)(&params).unwrap();
    let model = method.meta_train(d, &mut ctx()).unwrap();
    let f = features();
    let adapted = model.adapt(&SupportSet { user: 2, support, features: &f }, &mut ctx()).unwrap();
    adapted.predict(items).unwrap()
}

fn table(pairs: &[(&str, toml::Value)]) -> toml::Table {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[test]
fn global_mean_is_the_mean_of_meta_train_ratings_or_the_middle_of_the_scale() {
    let f = features();
    let h = histories();
    let p = predict("global-mean", toml::Table::new(), &data(&f, &h, &[], None), &[r(2, 3, 1.0)], &[0, 3, 2]);
    // (5 + 1 + 5) / 3, for every item, whatever the support
    assert_eq!(p, Predictions { mean: vec![11.0 / 3.0; 3], median: None });
    let none = predict("global-mean", toml::Table::new(), &data(&f, &[], &[], None), &[], &[1]);
    assert_eq!(none.mean, vec![3.0]); // (1 + 5) / 2
}

#[test]
fn item_mean_shrinks_each_item_towards_the_global_mean() {
    let f = features();
    let h = histories();
    let d = data(&f, &h, &[], None);
    let mu = 11.0 / 3.0;
    // shrinkage 2: item 0 (5 + 5 + 2 mu) / (2 + 2) = 4.3333; item 1 (1 + 2 mu) / (1 + 2) = 2.7778;
    // items 2 and 3 unrated: mu
    let p = predict("item-mean", table(&[("shrinkage", toml::Value::Float(2.0))]), &d, &[], &[0, 1, 2, 3]);
    let want = [(10.0 + 2.0 * mu) / 4.0, (1.0 + 2.0 * mu) / 3.0, mu, mu];
    assert!(p.mean.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{:?}", p.mean);
    assert!((p.mean[0] - 4.333_333_333_333_333).abs() < 1e-12 && (p.mean[1] - 2.777_777_777_777_778).abs() < 1e-12);
    assert_eq!(p.median, None);
    // shrinkage 0: the plain item means; the default (5) differs from both
    let p0 = predict("item-mean", table(&[("shrinkage", toml::Value::Float(0.0))]), &d, &[r(2, 0, 1.0)], &[0, 1]);
    assert_eq!(p0.mean, vec![5.0, 1.0]);
    let p5 = predict("item-mean", toml::Table::new(), &d, &[], &[0]);
    assert!((p5.mean[0] - (10.0 + 5.0 * mu) / 7.0).abs() < 1e-12);
}

fn truth() -> Truth {
    // user 2's score with item 0 is 3 + 0 + (-0.3) + 0 = 2.7, with item 3 is 3 + 0 + 1.6 + 0 = 4.6
    Truth {
        mu: 3.0,
        noise_sd: 1.0,
        rating_min: 1,
        rating_max: 5,
        latent_dim: 1,
        user_bias: vec![0.0, 0.0, 0.0],
        item_bias: vec![-0.3, 0.0, 0.0, 1.6],
        user_latent: vec![0.0; 3],
        item_latent: vec![0.0; 4],
    }
}

#[test]
fn oracle_gives_the_conditional_mean_and_median_and_needs_truth() {
    let f = features();
    let h = histories();
    let t = truth();
    let p = predict("oracle", toml::Table::new(), &data(&f, &h, &[], Some(&t)), &[r(2, 0, 5.0)], &[0, 1, 3]);
    // Score s, noise sd 1, ratings 1..5 by rounding (ends open): P(k) = Phi(k + 0.5 - s) - Phi(k - 0.5 - s).
    // s = 2.7: P = 0.11507, 0.30567, 0.36740, 0.17593, 0.03593 -> mean 2.7119757569;
    //   P(r <= 2) = 0.4207 < 0.5 <= P(r <= 3) = 0.7881 -> median 3.
    // s = 3 (item 1): symmetric -> mean 3, median 3.
    // s = 4.6: mean 4.3853297526; P(r <= 4) = 0.4602 < 0.5 -> median 5 (not the rounded mean, 4).
    let want = [2.711_975_756_913_717_3, 3.0, 4.385_329_752_554_611];
    for (a, b) in p.mean.iter().zip(want) {
        // the erfc approximation is good to 1.2e-7
        assert!((a - b).abs() < 1e-6, "{:?}", p.mean);
    }
    assert_eq!(p.median, Some(vec![3.0, 3.0, 5.0]));
    // the support set changes nothing
    let q = predict("oracle", toml::Table::new(), &data(&f, &h, &[], Some(&t)), &[], &[0, 1, 3]);
    assert_eq!(p, q);
    let oracle = (Registry::default().get("oracle").unwrap().build)(&toml::Table::new()).unwrap();
    match oracle.meta_train(&data(&f, &h, &[], None), &mut ctx()) {
        Err(MethodError::Unsupported { method, reason }) => {
            assert_eq!(method, "oracle");
            assert!(reason.contains("ground truth"), "{reason}");
        }
        Err(e) => panic!("expected Unsupported, got {e}"),
        Ok(_) => panic!("the oracle trained without truth"),
    }
}

/// A world whose every rating is 4: `pooled` must learn the constant (its output bias starts
/// at the global mean, 4, and its weights are small), predict the same for every support set,
/// and stop early on the meta-validation task.
#[test]
fn pooled_learns_a_constant_world_and_ignores_the_support_set() {
    let f = features();
    let h: Vec<History> = (0..2)
        .map(|u| History { user: u, ratings: (0..4).flat_map(|i| [r(u, i, 4.0), r(u, i, 4.0)]).collect() })
        .collect();
    let v = vec![Task {
        user: 2,
        support: vec![],
        query: vec![r(2, 1, 4.0), r(2, 2, 4.0)],
        pool: vec![],
        negatives: vec![],
    }];
    let d = data(&f, &h, &v, None);
    let params = table(&[("epochs", toml::Value::Integer(40)), ("lr", toml::Value::Float(0.01))]);
    let a = predict("pooled", params.clone(), &d, &[], &[0, 1, 2, 3]);
    let b = predict("pooled", params, &d, &[r(2, 0, 1.0), r(2, 3, 1.0)], &[0, 1, 2, 3]);
    assert_eq!(a, b, "pooled adapted to the support set");
    assert!(a.mean.iter().all(|x| (x - 4.0).abs() < 0.05), "{:?}", a.mean);
    assert_eq!(a.median, None);
}

/// `pooled-finetune` with an empty support set predicts as `pooled`, with one it predicts otherwise.
#[test]
fn pooled_finetune_takes_the_sgd_step_of_its_support_set() {
    let f = features();
    let h = histories();
    let v = vec![Task { user: 2, support: vec![], query: vec![r(2, 1, 2.0)], pool: vec![], negatives: vec![] }];
    let d = data(&f, &h, &v, None);
    let common = [("epochs", toml::Value::Integer(2)), ("hidden", toml::Value::Array(vec![toml::Value::Integer(4)]))];
    let base = predict("pooled", table(&common), &d, &[], &[0, 1, 2, 3]);
    let mut ft = common.to_vec();
    ft.push(("finetune_steps", toml::Value::Integer(1)));
    ft.push(("finetune_lr", toml::Value::Float(0.05)));
    let empty = predict("pooled-finetune", table(&ft), &d, &[], &[0, 1, 2, 3]);
    assert_eq!(empty, base, "an empty support set must predict as pooled");
    // The step itself is checked by hand in `pooled::tests`; here: it happens through `adapt`.
    let support = [r(2, 2, 5.0), r(2, 3, 1.0)];
    let tuned = predict("pooled-finetune", table(&ft), &d, &support, &[0, 1, 2, 3]);
    assert_ne!(tuned, base, "fine-tuning changed nothing");
}
