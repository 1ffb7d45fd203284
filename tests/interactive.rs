//! The online protocol through the runner: a tiny interactive suite runs end to end (cells,
//! resume, results.csv rows per user and horizon, the learning-curve figures), is identical
//! with one or three jobs, policies are skipped on rating suites, and bad `[interactive]`
//! values fail before any work with the key named.

mod common;

use common::{read, results_gz, results_text, temp_dir};
use metarec::runner::{RunOptions, run};
use metarec::spec::{BenchRequest, resolve};

const TINY: &str = r#"
[suite]
name = "interactive-tiny"
seeds = [0, 1]
[data]
kind = "synthetic"
seed = 3
[world]
n_users = 120
n_items = 60
min_ratings = 15
max_ratings = 30
[protocol]
support = 3
query = 3
scenarios = ["user-cold"]
[interactive]
env = "truth"
slate = 2
horizons = [1, 5, 10]
methods = ["oracle-policy", "random", "linucb", "mpo", "item-mean"]
[methods.mpo]
meta_steps = 20
"#;

fn suite_file(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("interactive-tiny.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn options(out: &std::path::Path, jobs: usize) -> RunOptions {
    let mut o = common::options(out, jobs);
    o.command = vec!["test".into()];
    o
}

#[test]
fn a_tiny_interactive_suite_runs_end_to_end_with_reports() {
    let dir = temp_dir("interactive-e2e");
    let suite = suite_file(&dir, TINY);
    let registry = metarec::registry();
    // No --methods: the suite's own list.
    let req = BenchRequest { suites: vec![suite], ..Default::default() };
    let spec = resolve(&req, &registry).unwrap();
    let names: Vec<&str> = spec.suites[0].methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["oracle-policy", "random", "linucb", "mpo", "item-mean"]);
    let one = dir.join("one");
    run(&spec, &registry, &options(&one, 1), &|_| {}).unwrap();
    let text = results_text(&one);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    // 5 methods x 2 seeds x users x 3 horizons x 3 metrics.
    let users: std::collections::BTreeSet<&str> = rows.iter().map(|l| l.split(',').nth(5).unwrap()).collect();
    assert_eq!(rows.len(), 5 * 2 * users.len() * 9, "{}", rows.len());
    for m in ["reward@1", "regret@5", "ctr@10"] {
        assert!(rows.iter().any(|l| l.split(',').nth(6) == Some(m)), "{m}");
    }
    assert!(
        rows.iter()
            .filter(|l| l.contains(",oracle-policy,") && l.contains(",regret@"))
            .all(|l| l.ends_with(",0") || l.ends_with(",0.0")),
        "oracle regret not 0"
    );
    let md = String::from_utf8(read(&one.join("leaderboard.md"))).unwrap();
    assert!(md.contains("regret@10") && md.contains("Interactive: learning curves"), "{md}");
    for f in
        ["learning-curve-interactive-tiny-user-cold-regret.svg", "learning-curve-interactive-tiny-user-cold-reward.svg"]
    {
        assert!(one.join("figures").join(f).is_file(), "{f}");
    }
    // Three jobs: byte-identical results; a rerun resumes with nothing to do.
    let three = dir.join("three");
    run(&spec, &registry, &options(&three, 3), &|_| {}).unwrap();
    assert_eq!(results_gz(&one), results_gz(&three));
    run(&spec, &registry, &options(&three, 3), &|_| {}).unwrap();
    assert_eq!(results_gz(&one), results_gz(&three));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn policies_are_skipped_on_rating_suites_and_bad_values_name_their_key() {
    let dir = temp_dir("interactive-bad");
    let registry = metarec::registry();
    let req = BenchRequest {
        suites: vec!["synthetic-tiny".into()],
        methods: Some(vec!["global-mean".into(), "linucb".into()]),
        seeds: Some(vec![0]),
        ..Default::default()
    };
    let spec = resolve(&req, &registry).unwrap();
    let out = run(&spec, &registry, &options(&dir.join("rating"), 1), &|_| {}).unwrap();
    assert_eq!(out.manifest.skipped.len(), 1);
    assert!(out.manifest.skipped[0].reason.contains("[interactive]"), "{:?}", out.manifest.skipped);
    // The default run of the rating suites has no policy.
    assert!(
        registry.default_names().iter().all(|n| metarec_interactive::policy::build(n, &Default::default()).is_none())
    );

    for (bad, key) in [
        (TINY.replace("horizons = [1, 5, 10]", "horizons = [0, 5]"), "interactive.horizons"),
        (TINY.replace("slate = 2", "slate = 2\ncandidates = 1"), "interactive.slate"),
        (TINY.replace("slate = 2", "slate = 61"), "interactive.slate"),
    ] {
        let suite = suite_file(&dir, &bad);
        let req = BenchRequest { suites: vec![suite], methods: Some(vec!["random".into()]), ..Default::default() };
        let out = dir.join(format!("bad-{}", key.len()));
        let err = resolve(&req, &registry).and_then(|spec| run(&spec, &registry, &options(&out, 1), &|_| {}));
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains(key), "{key}: {msg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
