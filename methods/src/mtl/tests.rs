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
    let model = method.meta_train_objectives(&TrainData::of(m), labels, &mut ctx).unwrap();
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

/// Largest absolute difference between two prediction lists.
fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// The tolerance of the large-lambda identity: predictions (ratings, engagement, like
/// probabilities) within 1e-4 of `mtl-hard`'s. What is left is float rounding: the summed
/// gradient of the tied copies is added up per copy rather than through one shared bottom.
const TIED_TOLERANCE: f64 = 1e-4;

#[test]
fn soft_with_zero_lambda_is_single_and_large_lambda_is_hard() {
    let l = labels();
    let (single, _) = run(&*build("mtl-single", ""), &l);
    let (soft0, _) = run(&*build("mtl-soft", "lambda = 0.0"), &l);
    assert_eq!(single, soft0, "lambda = 0 must be mtl-single exactly");
    let (hard, hard_report) = run(&*build("mtl-hard", ""), &l);
    let (tied, tied_report) = run(&*build("mtl-soft", "lambda = 1e9"), &l);
    let (d_tied, d_single) = (max_diff(&tied, &hard), max_diff(&single, &hard));
    assert!(
        d_tied < TIED_TOLERANCE,
        "lambda = 1e9 predicts within {d_tied} of mtl-hard, over the tolerance {TIED_TOLERANCE}"
    );
    // The test can fail: without sharing the predictions are far from mtl-hard's.
    assert!(d_single > 100.0 * TIED_TOLERANCE, "mtl-single is only {d_single} from mtl-hard");
    assert_eq!(tied_report.chosen_step, hard_report.chosen_step);
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
    // With the tree's observable groups (group x age) it differs (the test can fail).
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
    let changes: Vec<(u32, u32, usize, f32)> = m
        .split
        .test
        .iter()
        .flat_map(|s| &s.1)
        .flat_map(|task| &task.query)
        .flat_map(|r| (0..o.full.len()).map(|t| (r.user, r.item, t, 0.0)))
        .collect();
    changed.full = std::sync::Arc::new(o.full.with_labels(&changes));
    changed.train = std::sync::Arc::new(o.train.with_labels(&changes));
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
    let e = err("mtl-hard", "adapt_scope = \"bottom\"");
    assert!(e.contains("`adapt_scope`: must be one of network, towers, got `bottom`"), "{e}");
    // Weights must be one per objective of the suite.
    let m = suite();
    let mut ctx = Ctx { rng: Rng::new(1), device: Device::Cpu };
    let e = build("mtl-hard", "weights = [1.0, 1.0]")
        .meta_train_objectives(&TrainData::of(m), &labels(), &mut ctx)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`weights`: 2 values for 3 objectives"), "{e}");
    // Without objectives a multi-task method refuses, saying why.
    let e = build("mtl-hard", "").meta_train(&TrainData::of(m), &mut ctx).err().unwrap().to_string();
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

/// Early stopping keeps the parameters of the chosen step: training that stops at that step
/// ends with the same ones. (When the snapshot shared the variables' storage, the kept
/// parameters were the last step's and this failed.)
#[test]
fn early_stopping_keeps_the_chosen_steps_parameters() {
    let l = labels();
    let m = suite();
    let trained = |steps: usize| {
        let t: toml::Table =
            format!("steps = {steps}\neval_every = 20\nbatch_size = 64\nhidden = 8\ntower = 4\npatience = 100")
                .parse()
                .unwrap();
        let common = crate::params::parse::<super::Common>("mtl-hard", &t).unwrap();
        let scheme = std::sync::Arc::new(super::hard::Hard);
        let method = super::MtlMethod { name: "mtl-hard", common, scheme, table: toml::Table::new() };
        let mut ctx = Ctx { rng: Rng::new(5), device: Device::Cpu };
        super::train(&method, &TrainData::of(m), &l, &mut ctx).unwrap()
    };
    let full = trained(200);
    let chosen = full.report.chosen_step.unwrap() as usize;
    assert!(chosen > 0 && chosen < 200, "the test needs a chosen step before the last: {chosen}");
    let stopped = trained(chosen);
    let v = |model: &super::MtlModel| -> Vec<Vec<f32>> {
        model.params.values().map(|t| t.flatten_all().unwrap().to_vec1().unwrap()).collect()
    };
    assert_eq!(v(&full), v(&stopped));
}

/// Cold adaptation carries one objective's support labels to another only through shared
/// parameters: changing a user's engagement labels moves `mtl-hard`'s like predictions when
/// the whole network adapts, and leaves them alone when only the towers adapt, or without
/// sharing (`mtl-single`).
#[test]
fn adapting_the_network_transfers_between_objectives_through_what_is_shared() {
    let m = suite();
    let o = m.objectives.as_ref().unwrap();
    let task = &test_tasks(m)[0];
    let labels = o.for_support(task);
    let shifted: Vec<Vec<f32>> = labels.iter().map(|l| vec![l[0], l[1] + 5.0, l[2]]).collect();
    let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
    let like = |name: &str, extra: &str| -> (Vec<f64>, Vec<f64>) {
        let method = build(name, extra);
        let mut ctx = Ctx { rng: Rng::new(5), device: Device::Cpu };
        let model = method.meta_train_objectives(&TrainData::of(m), &o.for_training(&m.split), &mut ctx).unwrap();
        let support = crate::SupportSet { user: task.user, support: &task.support, features: &m.dataset.features };
        let mut go = |l: &[Vec<f32>]| {
            let a = model.adapt_objectives(&support, l, &mut ctx).unwrap();
            a.predict_objectives(&items).unwrap().unwrap().swap_remove(2)
        };
        (go(&labels), go(&shifted))
    };
    let (a, b) = like("mtl-hard", "");
    assert!(max_diff(&a, &b) > 1e-3, "mtl-hard's like predictions did not move: {}", max_diff(&a, &b));
    let (a, b) = like("mtl-hard", "adapt_scope = \"towers\"");
    assert_eq!(a, b);
    let (a, b) = like("mtl-single", "");
    assert_eq!(a, b);
}
