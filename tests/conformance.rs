//! One conformance test, run over every registered method: a wrongly typed hyper-parameter is
//! an `Err` naming the key (never a panic), the same seed gives the same predictions, and empty,
//! one-shot and full support sets give finite predictions of the right length. A new method
//! gets these checks by being registered.

use candle_core::Device;
use metarec_methods::{Ctx, Registry, SupportSet, TrainData};
use metarec_suites::{Rng, Scenario, load_suite};

/// Keys that bound training time, set small so the test stays fast.
const BUDGET: &[(&str, i64)] =
    &[("meta_steps", 30), ("max_steps", 30), ("steps", 30), ("epochs", 2), ("eval_every", 10)];

#[test]
fn every_registered_method_conforms() {
    let registry = Registry::default();
    let single = load_suite("synthetic-tiny").unwrap().materialize().unwrap();
    // Multi-task methods train on a multi-objective suite, through the objective-aware calls.
    let multi = load_suite("mtl-related").unwrap().materialize().unwrap();
    for info in registry.all() {
        let objectives = metarec_methods::mtl::needs_objectives(info.name);
        let m = if objectives { &multi } else { &single };
        let labels = m.objectives.as_ref().map(|o| o.for_training(&m.split));
        let train = |reference: bool| TrainData {
            features: &m.dataset.features,
            meta_train: &m.split.meta_train,
            validation: &m.split.validation,
            rating_min: m.dataset.rating_min,
            rating_max: m.dataset.rating_max,
            truth: if reference { m.dataset.truth.as_deref() } else { None },
        };
        let task = &m.split.tasks(Scenario::UserCold)[0];
        let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
        let defaults = (info.build)(&toml::Table::new())
            .unwrap_or_else(|e| panic!("{}: defaults rejected: {e}", info.name))
            .params();
        // A wrongly typed value of every key is an error that names the key.
        for key in defaults.keys() {
            let mut bad = toml::Table::new();
            bad.insert(key.clone(), toml::Value::String("not-a-value".into()));
            match (info.build)(&bad) {
                Err(e) => assert!(
                    e.to_string().contains(key.as_str()),
                    "{}: error for `{key}` does not name it: {e}",
                    info.name
                ),
                Ok(_) => panic!("{}: `{key}` = \"not-a-value\" was accepted", info.name),
            }
        }
        let mut table = toml::Table::new();
        for (k, v) in BUDGET {
            if defaults.contains_key(*k) {
                table.insert(k.to_string(), toml::Value::Integer(*v));
            }
        }
        let method = (info.build)(&table).unwrap_or_else(|e| panic!("{}: {e}", info.name));
        let reference = info.kind == metarec_methods::MethodKind::Reference;
        let predict = |support: &[metarec_suites::Rating]| -> Vec<f64> {
            let mut ctx = Ctx { rng: Rng::new(3), device: Device::Cpu };
            let model = match (objectives, &labels) {
                (true, Some(l)) => method.meta_train_objectives(&train(reference), l, &mut ctx),
                _ => method.meta_train(&train(reference), &mut ctx),
            }
            .unwrap_or_else(|e| panic!("{}: {e}", info.name));
            let s = SupportSet { user: task.user, support, features: &m.dataset.features };
            let adapted = match m.objectives.as_ref().filter(|_| objectives) {
                Some(o) => {
                    let mut sub = task.clone();
                    sub.support = support.to_vec();
                    model.adapt_objectives(&s, &o.for_support(&sub), &mut ctx)
                }
                None => model.adapt(&s, &mut ctx),
            }
            .unwrap_or_else(|e| panic!("{}: adapt: {e}", info.name));
            let p = adapted.predict(&items).unwrap_or_else(|e| panic!("{}: predict: {e}", info.name));
            if objectives {
                let per = adapted.predict_objectives(&items).unwrap().expect("per-objective predictions");
                assert!(per.iter().all(|o| o.len() == items.len() && o.iter().all(|x| x.is_finite())), "{}", info.name);
            }
            assert_eq!(p.mean.len(), items.len(), "{}", info.name);
            assert!(
                p.mean.iter().chain(p.median.iter().flatten()).all(|x| x.is_finite()),
                "{}: non-finite prediction",
                info.name
            );
            p.mean
        };
        let full = predict(&task.support);
        assert_eq!(full, predict(&task.support), "{}: same seed, different predictions", info.name);
        predict(&task.support[..1]);
        predict(&[]);
    }
}
