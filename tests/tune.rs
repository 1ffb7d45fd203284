//! `cargo xtask tune`'s library side: the search reads meta-train and meta-validation users only
//! (test labels changed, every trial and choice the same), is reproducible, gives every method
//! the same budget, and its config file is what `bench --config` takes and records.

mod common;

use metarec::Registry;
use metarec::spec::{BenchRequest, resolve};
use metarec::tune::{TuneRequest, Tuning, config_text, tune_on};

const SUITE: &str = "synthetic-tiny";

fn request() -> TuneRequest {
    TuneRequest {
        suite: SUITE.into(),
        methods: Some(vec!["oracle".into(), "global-mean".into(), "item-mean".into(), "pooled".into()]),
        trials: 3,
        seed: 0,
        config: None,
        sets: vec!["pooled.epochs=2".into()],
        jobs: 2,
    }
}

fn run(data: &metarec_suites::suite::Materialized) -> Tuning {
    let registry = Registry::default();
    let req = request();
    let spec = resolve(
        &BenchRequest {
            suites: vec![SUITE.into()],
            methods: req.methods.clone(),
            seeds: Some(vec![req.seed]),
            sets: req.sets.clone(),
            ..BenchRequest::default()
        },
        &registry,
    )
    .unwrap();
    tune_on(&spec, data, &req, &registry, &|_, _, _| {}).unwrap()
}

fn materialize() -> metarec_suites::suite::Materialized {
    let loaded = metarec_suites::load_suite(SUITE).unwrap();
    loaded.materialize_in(std::path::Path::new("/nonexistent")).unwrap()
}

#[test]
fn test_labels_do_not_reach_the_search() {
    let mut data = materialize();
    let first = run(&data);
    // Every test user's query and support labels turned upside down (and the negatives cleared):
    // a search that read them would score or choose differently.
    let (lo, hi) = (data.dataset.rating_min, data.dataset.rating_max);
    let mut changed = 0;
    for (_, tasks) in data.split.test.iter_mut() {
        for t in tasks.iter_mut() {
            for r in t.query.iter_mut().chain(t.support.iter_mut()) {
                r.value = lo + hi - r.value;
                changed += 1;
            }
            t.negatives.clear();
        }
    }
    assert!(changed > 100, "the split has test labels to change ({changed})");
    let second = run(&data);
    assert_eq!(first, second);

    assert!(first.methods.iter().all(|m| m.name != "oracle"), "a reference method is not tuned");
    // The budget: the same number of trials for every method with a space, one (the defaults)
    // for a method without; trial 0 is the untuned value; the choice is the lowest RMSE.
    for m in &first.methods {
        let want = if m.name == "global-mean" { 1 } else { 3 };
        assert_eq!(m.trials.len(), want, "{}", m.name);
        let best = m.trials.iter().filter_map(|t| t.rmse).fold(f64::INFINITY, f64::min);
        assert_eq!(m.choice().rmse, Some(best), "{}", m.name);
    }
    let item_mean = first.methods.iter().find(|m| m.name == "item-mean").unwrap();
    assert_eq!(item_mean.trials[0].values.get("shrinkage").and_then(|v| v.as_float()), Some(5.0));
    assert!(item_mean.trials[1].values != item_mean.trials[2].values, "trials draw different values");
    assert_eq!(first.validation_users, data.split.validation.len());
}

#[test]
fn tuned_config_is_what_bench_runs_and_records() {
    let tuning = run(&materialize());
    let dir = std::env::temp_dir().join(format!("metarec-tune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tuned.toml");
    std::fs::write(&path, config_text(&tuning, "cargo xtask tune --trials 3")).unwrap();
    let spec = resolve(
        &BenchRequest {
            suites: vec![SUITE.into()],
            methods: Some(vec!["item-mean".into(), "pooled".into()]),
            config: Some(path.display().to_string()),
            ..BenchRequest::default()
        },
        &Registry::default(),
    )
    .unwrap();
    assert_eq!(spec.tuning.as_ref(), Some(&tuning), "the spec (and so the manifest) records the search");
    let pooled = tuning.methods.iter().find(|t| t.name == "pooled").unwrap();
    assert_eq!(pooled.fixed.get("epochs").and_then(|v| v.as_integer()), Some(2), "--set values travel with the choice");
    for m in &spec.suites[0].methods {
        let tuned = tuning.methods.iter().find(|t| t.name == m.name).unwrap();
        for (k, v) in &tuned.fixed {
            assert_eq!(m.params.get(k), Some(v), "{}.{k}", m.name);
        }
        for (k, v) in &tuned.choice().values {
            assert_eq!(m.params.get(k), Some(v), "{}.{k}", m.name);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// An online or off-policy suite has no rating RMSE to score trials by: refused, naming it.
#[test]
fn suites_without_a_rating_score_are_refused() {
    for suite in ["interactive", "open-bandit"] {
        let req = TuneRequest { suite: suite.into(), methods: None, trials: 2, jobs: 1, ..TuneRequest::default() };
        let registry = metarec::interactive::registry();
        let e = metarec::tune::tune(&req, &registry, None, &|_, _, _| {}).unwrap_err().to_string();
        assert!(e.contains(&format!("--suite {suite}")) && e.contains("none"), "{e}");
    }
}

/// A suite file whose [methods] tables came from a tuning record names it (`suite.tuning`): the
/// spec records it, a value that differs from the record's choice is refused naming the key, a
/// record of another suite is refused, and a run that replaces a chosen value with `--set` says
/// so in its report.
#[test]
fn a_suite_file_names_its_tuning_record_and_cannot_drift_from_it() {
    let tuning = run(&materialize());
    let dir = common::temp_dir("suite-tuning");
    let record = config_text(&tuning, "cargo xtask tune --trials 3");
    std::fs::write(dir.join("tuned.toml"), &record).unwrap();
    let tables = &record[record.find("\n[methods.").unwrap() + 1..record.find("\n[tuning]\n").unwrap()];
    let tiny = metarec_suites::suite::load_suite(SUITE).unwrap().text;
    let suite_text = format!("{}\n{tables}", tiny.replacen("[suite]\n", "[suite]\ntuning = \"tuned.toml\"\n", 1));
    let write_suite = |text: &str| {
        let p = dir.join("suite.toml");
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let resolve_suite = |path: &str, sets: &[&str]| {
        resolve(
            &BenchRequest {
                suites: vec![path.into()],
                methods: Some(vec!["item-mean".into()]),
                seeds: Some(vec![0]),
                sets: sets.iter().map(|s| s.to_string()).collect(),
                ..BenchRequest::default()
            },
            &Registry::default(),
        )
    };
    let path = write_suite(&suite_text);
    let spec = resolve_suite(&path, &[]).unwrap();
    assert_eq!(spec.suites[0].tuning.as_ref(), Some(&tuning));
    assert_eq!(spec.tuning, None, "no --config record");

    let chosen = tuning.methods.iter().find(|m| m.name == "item-mean").unwrap().choice().values["shrinkage"].clone();
    let drifted = suite_text.replacen(&format!("shrinkage = {chosen}"), "shrinkage = 123.0", 1);
    assert_ne!(drifted, suite_text);
    let e = resolve_suite(&write_suite(&drifted), &[]).unwrap_err().to_string();
    assert!(e.contains("[methods.item-mean].shrinkage") && e.contains("tuned.toml") && e.contains("123"), "{e}");

    let other = record.replacen(&format!("suite = \"{SUITE}\""), "suite = \"synthetic\"", 1);
    std::fs::write(dir.join("tuned.toml"), other).unwrap();
    let e = resolve_suite(&write_suite(&suite_text), &[]).unwrap_err().to_string();
    assert!(e.contains("suite.tuning") && e.contains("tuned suite `synthetic`"), "{e}");
    std::fs::write(dir.join("tuned.toml"), &record).unwrap();

    // --set after tuning: the report names the method whose chosen value the run replaced
    let req = BenchRequest {
        suites: vec![path.clone()],
        methods: Some(vec!["item-mean".into(), "global-mean".into()]),
        seeds: Some(vec![0]),
        sets: vec!["item-mean.shrinkage=3.0".into()],
        ..BenchRequest::default()
    };
    common::run_request(&req, &dir.join("run"), 1).unwrap();
    let md = String::from_utf8(common::read(&dir.join("run/leaderboard.md"))).unwrap();
    assert!(md.contains(&format!("the [methods] tables of suite file `{path}`")), "{md}");
    assert!(md.contains("Changed after tuning") && md.contains("): item-mean."), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
