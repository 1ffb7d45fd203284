//! On the default synthetic suite: the oracle is the bound, and pooled-then-fine-tune beats the
//! global mean: the 95% interval of their paired per-user difference excludes zero.

mod common;

use common::*;
use metarec::spec::BenchRequest;
use metarec_reports::summary::{summarize, t_interval};
use std::collections::BTreeMap;

#[test]
fn oracle_is_best_and_finetuning_beats_the_global_mean() {
    let dir = temp_dir("quality");
    let req = BenchRequest {
        suites: vec!["synthetic".into()],
        methods: Some(vec![
            "oracle".into(),
            "global-mean".into(),
            "item-mean".into(),
            "pooled".into(),
            "pooled-finetune".into(),
        ]),
        seeds: Some(vec![0, 1]),
        ..Default::default()
    };
    run_request(&req, &dir, 2).unwrap();
    let rows = metarec_reports::results::read_rows(&dir.join("results.csv.gz")).unwrap();
    let summary = |scenario: &str, method: &str, metric: &str| {
        let v: Vec<(u64, u64, f64)> = rows
            .iter()
            .filter(|r| r.scenario == scenario && r.method == method && r.metric == metric)
            .map(|r| (r.seed, r.user, r.value))
            .collect();
        summarize(&v).unwrap_or_else(|| panic!("no rows for {scenario} {method} {metric}"))
    };
    for scenario in ["warm", "user-cold", "item-cold", "user-item-cold"] {
        for metric in ["mae", "rmse"] {
            let oracle = summary(scenario, "oracle", metric);
            for m in ["global-mean", "item-mean", "pooled", "pooled-finetune"] {
                let s = summary(scenario, m, metric);
                assert!(oracle.mean < s.mean, "{scenario} {metric}: {m} {} beats the oracle {}", s.mean, oracle.mean);
            }
        }
        let oracle = summary(scenario, "oracle", "ndcg@3");
        for m in ["global-mean", "item-mean", "pooled", "pooled-finetune"] {
            let s = summary(scenario, m, "ndcg@3");
            assert!(oracle.mean > s.mean, "{scenario} ndcg@3: {m} {} beats the oracle {}", s.mean, oracle.mean);
        }
        for metric in ["mae", "rmse"] {
            // Per user: global-mean error minus fine-tuned error, averaged over seeds.
            let mut diff: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.scenario == scenario && r.metric == metric) {
                let sign = match r.method.as_str() {
                    "global-mean" => 1.0,
                    "pooled-finetune" => -1.0,
                    _ => continue,
                };
                diff.entry(r.user).or_default().push(sign * r.value);
            }
            let per_user: Vec<f64> = diff.values().map(|v| v.iter().sum::<f64>() / 2.0).collect();
            let (mean, low, high) = t_interval(&per_user, 0.95);
            assert!(low > 0.0, "{scenario} {metric}: pooled-finetune gains {mean} [{low}, {high}] over global-mean");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
