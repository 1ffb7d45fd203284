//! Tests of the multi-task schemes: the identities between them, what reaches model selection,
//! and bad input.

use crate::{Ctx, Method, TrainData, TrainReport};
use candle_core::Device;
use metarec_suites::{Materialized, Objectives, Rng, Task};
use std::sync::OnceLock;

/// The related suite, materialised once.
fn suite() -> &'static Materialized {
    static S: OnceLock<Materialized> = OnceLock::new();
    S.get_or_init(|| metarec_suites::load_suite("mtl-related").unwrap().materialize().unwrap())
}

fn train_data(m: &Materialized) -> TrainData<'_> {
    TrainData {
        features: &m.dataset.features,
        meta_train: &m.split.meta_train,
        validation: &m.split.validation,
        rating_min: m.dataset.rating_min,
        rating_max: m.dataset.rating_max,
        truth: None,
    }
}

/// Short training, so the tests stay fast.
fn table(extra: &str) -> toml::Table {
    format!("steps = 60\neval_every = 20\nbatch_size = 64\nhidden = 8\ntower = 4\nadapt_steps = 3\n{extra}")
        .parse()
        .unwrap()
}

fn build(name: &str, extra: &str) -> Box<dyn Method> {
    (crate::Registry::default().get(name).unwrap().build)(&table(extra)).unwrap()
}

fn test_tasks(m: &Materialized) -> &[Task] {
    &m.split.test[0].1[..6]
}

/// Meta-trains with one seed, adapts to a few test users, and returns every prediction of
/// every objective (users in order), with the training report.
fn run(method: &dyn Method, labels: &Objectives) -> (Vec<f64>, TrainReport) {
    let m = suite();
    let o = m.objectives.as_ref().unwrap();
    let mut ctx = Ctx { rng: Rng::new(5), device: Device::Cpu };
    let model = method.meta_train_objectives(&train_data(m), labels, &mut ctx).unwrap();
    let mut out = Vec::new();
    for task in test_tasks(m) {
        let support = crate::SupportSet { user: task.user, support: &task.support, features: &m.dataset.features };
        let mut ctx = Ctx { rng: Rng::new(6), device: Device::Cpu };
        let a = model.adapt_objectives(&support, &o.for_support(task), &mut ctx).unwrap();
        let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
        let per = a.predict_objectives(&items).unwrap().unwrap();
        assert_eq!(per[0], a.predict(&items).unwrap().mean, "predict gives the main objective");
        out.extend(per.into_iter().flatten());
    }
    (out, model.report())
}

fn labels() -> Objectives {
    let m = suite();
    m.objectives.as_ref().unwrap().for_training(&m.split)
}

#[test]
fn soft_with_zero_lambda_is_single_and_large_lambda_ties_the_copies() {
    let l = labels();
    let (single, _) = run(&*build("mtl-single", ""), &l);
    let (soft0, _) = run(&*build("mtl-soft", "lambda = 0.0"), &l);
    assert_eq!(single, soft0, "lambda = 0 must be mtl-single exactly");
    // A very large lambda ties the copies: after training, every copy of every embedding and
    // bottom parameter equals the others (relative spread below 1e-5), where lambda = 0 leaves
    // them apart. (Its predictions do not match mtl-hard's within a tolerance worth stating:
    // the tied copies move by the mean of per-objective Adam updates, mtl-hard by the Adam
    // update of the summed gradient; see the report.)
    let spread = |lambda: f64| -> f64 {
        let m = suite();
        let method = super::MtlMethod {
            name: "mtl-soft",
            common: crate::params::parse::<super::Common>("mtl-soft", &table("")).unwrap(),
            scheme: std::sync::Arc::new(super::soft::Soft { lambda }),
            table: toml::Table::new(),
        };
        let mut ctx = Ctx { rng: Rng::new(5), device: Device::Cpu };
        let model = super::train(&method, &train_data(m), &l, &mut ctx).unwrap();
        let mut worst = 0.0f64;
        for (k, v0) in model.params.iter().filter(|(k, _)| k.starts_with("task.0.")) {
            let v0: Vec<f32> = v0.flatten_all().unwrap().to_vec1().unwrap();
            for t in 1..3 {
                let other = &model.params[&k.replacen("task.0.", &format!("task.{t}."), 1)];
                let v: Vec<f32> = other.flatten_all().unwrap().to_vec1().unwrap();
                let scale = v0.iter().map(|x| x.abs()).fold(1e-6f32, f32::max);
                let d = v0.iter().zip(&v).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                worst = worst.max(f64::from(d / scale));
            }
        }
        worst
    };
    let (apart, tied) = (spread(0.0), spread(1e9));
    assert!(apart > 1e-3 && tied < 1e-5, "relative spread: lambda 0 {apart}, lambda 1e9 {tied}");
}

#[test]
fn one_group_hierarchy_and_one_expert_mixture_are_hard_sharing() {
    let l = labels();
    let (hard, _) = run(&*build("mtl-hard", ""), &l);
    let mut one = l.clone();
    one.group_names = vec!["all".into()];
    one.user_group = vec![0; one.user_group.len()];
    let (hier1, _) = run(&*build("mtl-hier", ""), &one);
    assert_eq!(hard, hier1, "mtl-hier with one group must be mtl-hard exactly");
    // With the world's clusters as groups it differs (the test can fail).
    let (hier, _) = run(&*build("mtl-hier", ""), &l);
    assert!(l.group_names.len() > 1 && hier != hard);
    let (mmoe1, _) = run(&*build("mmoe", "experts = 1"), &l);
    assert_eq!(hard, mmoe1, "mmoe with one expert must be mtl-hard exactly");
    let (mmoe, _) = run(&*build("mmoe", "experts = 2"), &l);
    assert_ne!(hard, mmoe);
}

#[test]
fn cross_stitch_with_identity_alpha_is_single() {
    let l = labels();
    let (single, _) = run(&*build("mtl-single", ""), &l);
    let (ident, _) = run(&*build("cross-stitch", "alpha_self = 1.0\nlearn_alpha = false"), &l);
    assert_eq!(single, ident, "identity alpha must be mtl-single exactly");
    let (stitched, _) = run(&*build("cross-stitch", ""), &l);
    assert_ne!(single, stitched);
    // PLE runs and predicts finite values and probabilities.
    let (ple, _) = run(&*build("ple", ""), &l);
    assert!(ple.iter().all(|x| x.is_finite()));
}

/// Changing test users' labels (every view) changes nothing the method sees: the chosen step,
/// its validation loss and the predictions are the same; changing a validation label does
/// change the validation loss, so the test can fail.
#[test]
fn test_labels_never_reach_model_selection() {
    let m = suite();
    let o = m.objectives.as_ref().unwrap();
    let method = build("mtl-hard", "");
    let (base, report) = run(&*method, &o.for_training(&m.split));
    let mut changed = o.clone();
    for task in m.split.test.iter().flat_map(|s| &s.1) {
        for r in &task.query {
            for t in 0..o.full.len() {
                changed.full = std::sync::Arc::new(changed.full.with_label(r.user, r.item, t, 0.0));
                changed.train = std::sync::Arc::new(changed.train.with_label(r.user, r.item, t, 0.0));
            }
        }
    }
    assert_ne!(changed.full, o.full);
    let (again, report2) = run(&*method, &changed.for_training(&m.split));
    assert_eq!((report.chosen_step, report.validation_loss), (report2.chosen_step, report2.validation_loss));
    assert_eq!(base, again);
    let v = &m.split.validation[0].query[0];
    let mut val = o.clone();
    val.train = std::sync::Arc::new(o.train.with_label(v.user, v.item, 1, 50.0));
    let (_, report3) = run(&*method, &val.for_training(&m.split));
    assert_ne!(report.validation_loss, report3.validation_loss);
}

#[test]
fn bad_parameters_name_the_key() {
    let reg = crate::Registry::default();
    let err = |name: &str, t: &str| (reg.get(name).unwrap().build)(&t.parse().unwrap()).err().unwrap().to_string();
    assert!(
        err("mtl-soft", "lambda = -1.0").contains("`lambda`: must be non-negative"),
        "{}",
        err("mtl-soft", "lambda = -1.0")
    );
    assert!(err("mmoe", "experts = 0").contains("`experts`"));
    assert!(err("cross-stitch", "alpha_self = 1.5").contains("`alpha_self`"));
    assert!(err("mtl-hard", "weights = [1.0, -2.0]").contains("`weights`"));
    // Weights must be one per objective of the suite.
    let m = suite();
    let mut ctx = Ctx { rng: Rng::new(1), device: Device::Cpu };
    let e = build("mtl-hard", "weights = [1.0, 1.0]")
        .meta_train_objectives(&train_data(m), &labels(), &mut ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`weights`: 2 values for 3 objectives"), "{e}");
    // Without objectives a multi-task method refuses, saying why.
    let e = build("mtl-hard", "").meta_train(&train_data(m), &mut ctx).err().unwrap().to_string();
    assert!(e.contains("needs a multi-objective suite"), "{e}");
}

/// Uncertainty weighting trains and records its learned log-variances.
#[test]
fn uncertainty_weighting_records_log_variances() {
    let (p, report) = run(&*build("mtl-hard", "uncertainty = true"), &labels());
    assert!(p.iter().all(|x| x.is_finite()));
    let s = &report.notes["log_variances"];
    assert_eq!(s.split(',').count(), 3, "{s}");
    assert!(report.notes["parameters"].parse::<usize>().unwrap() > 0);
}
