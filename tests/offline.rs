//! An off-policy suite end to end through `runner::run`, on a small generated folder laid out
//! as obp's (`data.path`, so no wheel is needed): off-policy.csv, its determinism across runs
//! and on resume, the report section, and bad input (a propensity of 0, a mixed spec).

mod common;

use common::*;
use metarec::Registry;
use metarec::spec::{BenchRequest, resolve};
use metarec_suites::Rng;
use std::fmt::Write as _;
use std::path::Path;

/// `dir/obp/...`: uniform random logs and Bernoulli-TS-like logs over 5 items and 2 positions
/// (click rates rising with the item id), and a prior favouring item 4.
fn write_obp(dir: &Path, zero_pscore_at: Option<usize>) {
    let obd = dir.join("obp/dataset/obd");
    for (b, seed) in [("random", 1), ("bts", 2)] {
        let mut rng = Rng::new(seed);
        let mut csv = String::from(",timestamp,item_id,position,click,propensity_score,user_feature_0\n");
        for i in 0..800 {
            let item = rng.below(5);
            let click = u8::from(rng.uniform() < 0.05 * (item + 1) as f64);
            let pscore = if Some(i) == zero_pscore_at {
                0.0
            } else if b == "random" {
                0.2
            } else {
                0.35
            };
            writeln!(csv, "{i},t{i:05},{item},{},{click},{pscore},u", 1 + rng.below(2)).unwrap();
        }
        std::fs::create_dir_all(obd.join(b).join("all")).unwrap();
        std::fs::write(obd.join(b).join("all/all.csv"), csv).unwrap();
    }
    let conf = dir.join("obp/policy/conf");
    std::fs::create_dir_all(&conf).unwrap();
    let list = |v: &[f64]| v.iter().map(|x| format!("    - {x:?}\n")).collect::<String>();
    let prior = format!("all:\n  alpha:\n{}  beta:\n{}", list(&[1.0, 1.0, 2.0, 3.0, 20.0]), list(&[20.0; 5]));
    std::fs::write(conf.join("prior_bts.yaml"), prior).unwrap();
}

const SUITE: &str = r#"[suite]
name = "obd-fixture"
description = "a generated open-bandit folder"
seeds = [0, 1]
[data]
kind = "open-bandit"
path = "obp"
[open-bandit]
policies = ["bts", "random", "popularity", "bts-fitted"]
n_bootstrap = 200
n_sim = 500
[[open-bandit.published]]
policy = "bts"
estimator = "ipw"
value = 0.123456
source = "a made-up source"
"#;

fn request(suite: &Path) -> BenchRequest {
    BenchRequest { suites: vec![suite.display().to_string()], ..Default::default() }
}

fn rows(path: &Path) -> Vec<Vec<String>> {
    let text = String::from_utf8(read(path)).unwrap();
    text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn an_off_policy_suite_runs_deterministically_into_off_policy_csv_and_the_report() {
    let dir = temp_dir("offline");
    write_obp(&dir, None);
    let suite = dir.join("obd.toml");
    std::fs::write(&suite, SUITE).unwrap();
    let registry = Registry::default();
    let spec = resolve(&request(&suite), &registry).unwrap();
    assert!(spec.suites[0].methods.is_empty(), "an off-policy suite has no methods");
    run_spec(&spec, &registry, &dir.join("a"), 1).unwrap();
    run_spec(&spec, &registry, &dir.join("b"), 2).unwrap();
    let a = read(&dir.join("a/off-policy.csv"));
    assert_eq!(a, read(&dir.join("b/off-policy.csv")), "two runs differ");
    // Resuming (the same --out) recomputes the same bytes.
    run_spec(&spec, &registry, &dir.join("a"), 1).unwrap();
    assert_eq!(a, read(&dir.join("a/off-policy.csv")), "a resumed run differs");
    let rows = rows(&dir.join("a/off-policy.csv"));
    assert_eq!(rows.len(), 2 * (4 * 4 + 2), "two seeds of 4 policies x 4 estimators + 2 on-policy rows");
    let value = |seed: &str, policy: &str, estimator: &str| -> f64 {
        let r = rows.iter().find(|r| r[1] == seed && r[3] == policy && r[4] == estimator).unwrap();
        r[5].parse().unwrap()
    };
    // The uniform policy on uniform logs: IPW is the on-policy mean, whatever the seed.
    for seed in ["0", "1"] {
        assert_eq!(value(seed, "random", "ipw"), value(seed, "random", "on-policy"));
    }
    // The seed changes the Monte-Carlo policy and the intervals, not the uniform policy's estimate.
    assert_ne!(value("0", "bts", "ipw"), value("1", "bts", "ipw"));
    let md = String::from_utf8(read(&dir.join("a/leaderboard.md"))).unwrap();
    assert!(md.contains("## Off-policy estimates") && md.contains("0.123456"), "{md}");
    assert!(results_text(&dir.join("a")).lines().count() == 1);
    let manifest = String::from_utf8(read(&dir.join("a/manifest.toml"))).unwrap();
    assert!(manifest.contains("route = \"path\"") && manifest.contains("clicks ="), "{manifest}");
    // `reproduce` compares off-policy.csv too: identical, then not once the file is changed.
    let again = |out: &str| {
        let opts = metarec::runner::RunOptions { out: dir.join(out), ..options(&dir.join(out), 1) };
        metarec::reproduce::reproduce(&dir.join("a"), &registry, &opts, &|_| {}).unwrap()
    };
    assert!(again("r1").identical);
    let changed = String::from_utf8(a).unwrap().replacen(",0,random/all,bts,ipw,", ",0,random/all,bts,ipw,9", 1);
    std::fs::write(dir.join("a/off-policy.csv"), changed).unwrap();
    let r = again("r2");
    assert!(!r.identical && r.differences.iter().any(|d| d.1.starts_with("off-policy.csv: ")), "{:?}", r.differences);
}

#[test]
fn bad_input_is_named_a_zero_propensity_by_file_and_line_a_mixed_spec_by_suite() {
    let dir = temp_dir("offline-bad");
    write_obp(&dir, Some(6));
    let suite = dir.join("obd.toml");
    std::fs::write(&suite, SUITE).unwrap();
    let registry = Registry::default();
    let spec = resolve(&request(&suite), &registry).unwrap();
    let err = run_spec(&spec, &registry, &dir.join("run"), 1).unwrap_err().to_string();
    let file = dir.join("obp/dataset/obd/random/all/all.csv");
    assert!(err.contains(&format!("{}:8: propensity_score 0 is not in (0, 1]", file.display())), "{err}");
    assert!(!dir.join("run/off-policy.csv").exists());
    let mixed = BenchRequest {
        suites: vec![suite.display().to_string(), "synthetic-tiny".into()],
        methods: Some(vec!["global-mean".into()]),
        ..Default::default()
    };
    let spec = resolve(&mixed, &registry).unwrap();
    let err = run_spec(&spec, &registry, &dir.join("mixed"), 1).unwrap_err().to_string();
    assert!(err.contains("obd-fixture evaluated offline") && err.contains("cannot share a run"), "{err}");
    let bad = SUITE.replace("n_sim = 500", "n_sim = 0");
    std::fs::write(&suite, bad).unwrap();
    let err = resolve(&request(&suite), &registry).unwrap_err().to_string();
    assert!(err.contains("open-bandit.n_sim: must be at least 1"), "{err}");
}
