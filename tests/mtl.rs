//! Multi-task learning end to end: a small multi-objective suite run by the runner gives
//! per-objective metric names (single-objective methods only the main objective's), the same
//! bytes for any number of jobs, and the transfer section; bad `[objectives]` are named.

mod common;

use common::*;
use metarec::Registry;
use metarec::spec::{BenchRequest, resolve};

const SUITE: &str = r#"[suite]
name = "mtl-small"
seeds = [0]

[data]
kind = "synthetic"
seed = 3

[world]
n_users = 120
n_items = 80
n_clusters = 3
min_ratings = 20
max_ratings = 40

[objectives]
names = ["rating", "engagement", "like"]
low_data = "like"
low_data_fraction = 0.3
relatedness = 0.9
scale = 3.0
sine_alpha = [1.0]
sine_beta = [0.5]
noise_sd = 0.2

[protocol]
support = 5
query = 8
scenarios = ["user-cold"]
"#;

fn suite_file(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_multi_objective_suite_scores_every_objective() {
    let dir = temp_dir("mtl");
    let file = suite_file(&dir, "mtl-small.toml", SUITE);
    let fast = ["steps=40", "eval_every=20", "hidden=8", "tower=4"];
    let mut sets = Vec::new();
    for m in ["mtl-single", "mtl-hard"] {
        sets.extend(fast.iter().map(|s| format!("{m}.{s}")));
    }
    let req = BenchRequest {
        suites: vec![file],
        methods: Some(vec!["mtl-single".into(), "mtl-hard".into(), "global-mean".into()]),
        seeds: Some(vec![0]),
        sets,
        ..Default::default()
    };
    run_request(&req, &dir.join("a"), 1).unwrap();
    run_request(&req, &dir.join("b"), 2).unwrap();
    let a = results_gz(&dir.join("a"));
    assert_eq!(a, results_gz(&dir.join("b")), "--jobs 1 and --jobs 2 differ");
    let text = results_text(&dir.join("a"));
    let metrics = |method: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| l.contains(&format!(",{method},")))
            .map(|l| l.split(',').nth(6).unwrap().to_string())
            .collect()
    };
    let hard = metrics("mtl-hard");
    for m in ["rating/mae", "rating/rmse", "engagement/mae", "engagement/rmse", "like/logloss", "like/auc"] {
        assert!(hard.contains(m), "mtl-hard lacks {m}: {hard:?}");
    }
    assert!(hard.iter().all(|m| m.contains('/')), "{hard:?}");
    let single_objective = metrics("global-mean");
    assert!(!single_objective.is_empty() && single_objective.iter().all(|m| m.starts_with("rating/")));
    let md = String::from_utf8(read(&dir.join("a/leaderboard.md"))).unwrap();
    assert!(md.contains("Multi-task transfer") && md.contains("mtl-small, user-cold: summary"), "no transfer section");
    let manifest = String::from_utf8(read(&dir.join("a/manifest.toml"))).unwrap();
    assert!(manifest.contains("parameters = "));
}

#[test]
fn bad_objectives_are_named() {
    let dir = temp_dir("mtl-bad");
    let registry = Registry::default();
    let err = |name: &str, text: String| {
        let file = suite_file(&dir, name, &text);
        let req = BenchRequest { suites: vec![file], methods: Some(vec!["mtl-hard".into()]), ..Default::default() };
        resolve(&req, &registry).unwrap_err().to_string()
    };
    let e = err("absent.toml", SUITE.replace("\"engagement\", \"like\"]", "\"engagement\", \"dwell\"]"));
    assert!(
        e.contains("absent.toml") && e.contains("objectives.names[2]: objective `dwell` is not in the data"),
        "{e}"
    );
    let e = err(
        "tree.toml",
        format!(
            "{SUITE}\n[objectives.tree]\nyoung = [\"majority/age0\", \"majority/age9\"]\nold = [\"minority/age1\"]\n"
        ),
    );
    assert!(e.contains("tree.toml") && e.contains("objectives.tree.young: unknown group `majority/age9`"), "{e}");
    let req = BenchRequest {
        suites: vec![suite_file(&dir, "ok.toml", SUITE)],
        methods: Some(vec!["mtl-soft".into()]),
        sets: vec!["mtl-soft.lambda=-0.5".into()],
        ..Default::default()
    };
    let e = resolve(&req, &registry).unwrap_err().to_string();
    assert!(e.contains("`lambda`: must be non-negative"), "{e}");
}

/// MovieLens objectives through the runner, on the ML-100k fixture: `rated` is scored against
/// the sampled unrated items, `liked` on the query, and mtl-hier runs on the gender/age tree.
#[test]
fn movielens_objectives_run_end_to_end() {
    let dir = temp_dir("mtl-ml");
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/testdata");
    let text = std::fs::read_to_string(fixture.join("ml-100k-fixture.toml")).unwrap();
    let text = text
        .replace("path = \"ml-100k\"", &format!("path = {:?}", fixture.join("ml-100k").display().to_string()))
        .replace("warm_fraction = 0.3", "warm_fraction = 0.3\nscenarios = [\"user-cold\"]");
    let text = format!(
        "{text}\n[objectives]\nnames = [\"rating\", \"liked\", \"rated\"]\n\n[protocol.candidates]\nsampled = 20\nk = 5\nlike = 4\n"
    );
    let file = suite_file(&dir, "ml-mtl.toml", &text);
    let methods = ["mtl-single", "mtl-hier"];
    let sets = methods
        .iter()
        .flat_map(|m| ["steps=20", "eval_every=10", "hidden=4", "tower=2"].map(|s| format!("{m}.{s}")))
        .collect();
    let req = BenchRequest {
        suites: vec![file],
        methods: Some(methods.iter().map(|m| m.to_string()).collect()),
        seeds: Some(vec![0]),
        sets,
        ..Default::default()
    };
    run_request(&req, &dir.join("run"), 1).unwrap();
    let text = results_text(&dir.join("run"));
    for method in methods {
        let metrics: std::collections::BTreeSet<&str> =
            text.lines().filter(|l| l.contains(&format!(",{method},"))).map(|l| l.split(',').nth(6).unwrap()).collect();
        for m in ["rating/mae", "liked/auc", "liked/logloss", "rated/auc", "rated/logloss"] {
            assert!(metrics.contains(m), "{method} lacks {m}: {metrics:?}");
        }
    }
}
