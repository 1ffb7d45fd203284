//! The runner end to end on the tiny synthetic suite: determinism, resume after a stop,
//! failing cells, bad input, reproduce.

mod common;

use common::*;
use metarec::rundir::Manifest;
use metarec::runner::{RunOptions, run};
use metarec::spec::{BenchRequest, resolve};
use metarec::{Registry, RunError};
use metarec_methods::{Adapted, Ctx, Method, MethodInfo, MethodKind, Model, Predictions, SupportSet, TrainData};

const METHODS: &[&str] = &["oracle", "global-mean", "item-mean", "pooled-finetune"];

#[test]
fn same_command_twice_and_any_jobs_give_identical_results() {
    let dir = temp_dir("determinism");
    let req = request(METHODS, &[0, 1]);
    run_request(&req, &dir.join("a"), 1).unwrap();
    run_request(&req, &dir.join("b"), 2).unwrap();
    run_request(&req, &dir.join("c"), 2).unwrap();
    let a = read(&dir.join("a/results.csv"));
    assert_eq!(a, read(&dir.join("b/results.csv")), "--jobs 1 and --jobs 2 differ");
    assert_eq!(a, read(&dir.join("c/results.csv")), "two runs with --jobs 2 differ");
    let text = String::from_utf8(a).unwrap();
    assert!(text.starts_with("suite,scenario,method,seed,perturbation,user,metric,value\n"));
    // Every method, scenario and metric is present.
    for m in METHODS {
        for s in ["warm", "user-cold", "item-cold", "user-item-cold"] {
            for metric in ["mae", "rmse", "ndcg@3"] {
                let needle = format!("synthetic-tiny,{s},{m},1,none,");
                assert!(
                    text.lines().any(|l| l.starts_with(&needle) && l.contains(&format!(",{metric},"))),
                    "missing {m} {s} {metric}"
                );
            }
        }
    }
    let md = String::from_utf8(read(&dir.join("a/leaderboard.md"))).unwrap();
    assert!(md.contains("oracle (bound)"));
    // Reports are a pure function of the run directory: rebuilding gives the same bytes, figures
    // included; SVG files that the report no longer writes are removed, other files kept.
    let files = metarec::report::REPORT_FILES;
    let before: Vec<Vec<u8>> = files.iter().map(|f| read(&dir.join("a").join(f))).collect();
    let figures_before = figures(&dir.join("a"));
    assert!(figures_before.keys().any(|f| f.starts_with("figures/group-gap-")), "{:?}", figures_before.keys());
    for f in std::fs::read_dir(dir.join("a")).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        if files.contains(&name.as_str()) {
            std::fs::remove_file(dir.join("a").join(&name)).unwrap();
        }
    }
    let first_figure = figures_before.keys().next().unwrap().clone();
    std::fs::remove_file(dir.join("a").join(&first_figure)).unwrap();
    std::fs::write(dir.join("a/figures/stale.svg"), "<svg/>").unwrap();
    std::fs::write(dir.join("a/figures/notes.txt"), "mine").unwrap();
    let written = metarec::report::write_reports(&dir.join("a"), &Registry::default()).unwrap();
    assert_eq!(written[..files.len()], files.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    let mut written_figures = written[files.len()..].to_vec();
    written_figures.sort();
    assert_eq!(written_figures, figures_before.keys().cloned().collect::<Vec<_>>());
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&read(&dir.join("a").join(f)), b, "{f} changed when rebuilt");
    }
    assert_eq!(figures(&dir.join("a")), figures_before, "the figures changed when rebuilt");
    assert_eq!(read(&dir.join("a/figures/notes.txt")), b"mine");
    // Every report names the run's commit and config hash.
    let m = Manifest::read(&dir.join("a")).unwrap();
    for (f, b) in files.iter().zip(&before) {
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.contains(&m.provenance.commit) && text.contains(&m.config_sha256), "{f} lacks provenance");
        assert!(text.contains(&m.data[0].sha256), "{f} lacks the data hash");
    }
    let sig = String::from_utf8(before[3].clone()).unwrap();
    let header = sig.lines().find(|l| !l.starts_with('#')).unwrap();
    assert_eq!(header, "suite,scenario,metric,method_a,method_b,test,statistic,p_value,p_adjusted,effect");
    let m = Manifest::read(&dir.join("a")).unwrap();
    assert_eq!(m.run.status, "complete");
    assert_eq!(m.cells.len(), 8);
    assert!(m.cells.iter().all(|c| c.status == "ok"));
    assert_eq!(m.data[0].n_ratings, 10418);
    assert!(!m.provenance.commit.is_empty() && !m.provenance.cargo_lock_sha256.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SVG files under `figures/` of a run directory: relative path -> bytes.
fn figures(dir: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".svg"))
        .map(|name| (format!("figures/{name}"), read(&dir.join("figures").join(&name))))
        .collect()
}

#[test]
fn a_stopped_run_resumes_to_the_same_results() {
    let dir = temp_dir("resume");
    let registry = Registry::default();
    let spec = resolve(&request(METHODS, &[0, 1]), &registry).unwrap();
    run_spec(&spec, &registry, &dir.join("full"), 2).unwrap();

    let out = dir.join("partial");
    let stop = RunOptions { stop_after: Some(3), ..options(&out, 1) };
    match run(&spec, &registry, &stop, &|_| {}) {
        Err(RunError::Interrupted { .. }) => {}
        other => panic!("expected an interruption, got {other:?}"),
    }
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.run.status, "interrupted");
    assert_eq!(m.cells.iter().filter(|c| c.status == "ok").count(), 3);
    assert!(!out.join("results.csv").exists());
    // Resume: only the 5 remaining cells run.
    let finished = std::sync::atomic::AtomicUsize::new(0);
    run(&spec, &registry, &options(&out, 2), &|e| {
        if let metarec::runner::Event::CellFinished { .. } = e {
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .unwrap();
    assert_eq!(finished.into_inner(), 5);
    assert_eq!(read(&out.join("results.csv")), read(&dir.join("full/results.csv")));
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.run.status, "complete");
    assert_eq!(m.run.resumed.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A method that predicts NaN, or panics, for the failure tests.
struct Broken {
    panic: bool,
}
struct BrokenModel {
    panic: bool,
}
struct BrokenAdapted;

impl Method for Broken {
    fn name(&self) -> &str {
        if self.panic { "panics" } else { "nan" }
    }
    fn params(&self) -> toml::Table {
        toml::Table::new()
    }
    fn meta_train(&self, _: &TrainData<'_>, _: &mut Ctx) -> metarec_methods::Result<Box<dyn Model>> {
        Ok(Box::new(BrokenModel { panic: self.panic }))
    }
}
impl Model for BrokenModel {
    fn adapt<'m>(&'m self, _: &SupportSet<'_>, _: &mut Ctx) -> metarec_methods::Result<Box<dyn Adapted + 'm>> {
        assert!(!self.panic, "deliberate panic in adapt");
        Ok(Box::new(BrokenAdapted))
    }
}
impl Adapted for BrokenAdapted {
    fn predict(&self, items: &[u32]) -> metarec_methods::Result<Predictions> {
        Ok(Predictions { mean: vec![f64::NAN; items.len()], median: None })
    }
}

fn registry_with_broken() -> Registry {
    let mut r = Registry::default();
    for (name, panic) in [("nan", false), ("panics", true)] {
        r.register(MethodInfo {
            name,
            kind: MethodKind::Baseline,
            summary: "test",
            build: if panic {
                |_| Ok(Box::new(Broken { panic: true }))
            } else {
                |_| Ok(Box::new(Broken { panic: false }))
            },
            default_run: false,
        });
    }
    r
}

#[test]
fn a_nan_or_panicking_method_fails_only_its_own_cells() {
    let dir = temp_dir("nan");
    let registry = registry_with_broken();
    let spec = resolve(&request(&["global-mean", "nan", "panics", "item-mean"], &[0]), &registry).unwrap();
    let err = run_spec(&spec, &registry, &dir, 2).unwrap_err().to_string();
    assert!(err.starts_with("2 of 4 cells failed"), "{err}");
    assert!(err.contains("method `nan` diverged: predicted NaN"), "{err}");
    assert!(err.contains("method `panics` panicked: deliberate panic in adapt"), "{err}");
    let m = Manifest::read(&dir).unwrap();
    assert_eq!(m.run.status, "failed");
    let by: Vec<(&str, &str)> = m.cells.iter().map(|c| (c.method.as_str(), c.status.as_str())).collect();
    assert_eq!(by, [("global-mean", "ok"), ("nan", "failed"), ("panics", "failed"), ("item-mean", "ok")]);
    assert!(m.cells[1].error.as_deref().unwrap().contains("scenario warm"));
    let results = String::from_utf8(read(&dir.join("results.csv"))).unwrap();
    assert!(results.contains(",global-mean,") && results.contains(",item-mean,"));
    assert!(!results.contains(",nan,") && !results.contains(",panics,"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_diverging_configuration_fails_its_cell_with_the_reason() {
    let dir = temp_dir("diverge");
    let req = BenchRequest { sets: vec!["pooled.lr=1e30".into()], ..request(&["pooled", "global-mean"], &[0]) };
    let err = run_request(&req, &dir, 1).unwrap_err().to_string();
    assert!(err.contains("method `pooled` diverged"), "{err}");
    let m = Manifest::read(&dir).unwrap();
    assert!(m.cells[0].error.as_deref().unwrap().contains("diverged"));
    assert_eq!(m.cells[1].status, "ok");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_names_the_culprit_and_writes_nothing() {
    let registry = Registry::default();
    let err = |req: BenchRequest| resolve(&req, &registry).unwrap_err().to_string();
    let e = err(request(&["maml-typo"], &[0]));
    assert!(
        e.starts_with(
            "unknown method `maml-typo` (known: oracle, global-mean, item-mean, pooled, pooled-finetune, maml,"
        ),
        "{e}"
    );
    let e = err(BenchRequest { suites: vec!["nope".into()], ..Default::default() });
    assert!(e.starts_with("unknown suite `nope` (known: synthetic, synthetic-tiny"), "{e}");
    let e = err(BenchRequest { sets: vec!["pooled.lr=\"fast\"".into()], ..request(&["pooled"], &[0]) });
    assert!(e.starts_with("method `pooled`: hyper-parameter `lr`: invalid type: string \"fast\", expected f64"), "{e}");
    let e = err(BenchRequest { sets: vec!["pooled.lr=-1".into()], ..request(&["pooled"], &[0]) });
    assert_eq!(e, "method `pooled`: hyper-parameter `lr`: must be positive and finite, got -1");
    let e = err(BenchRequest { sets: vec!["pooled.lrr=1".into()], ..request(&["pooled"], &[0]) });
    assert!(e.starts_with("method `pooled`: hyper-parameter `lrr`: unknown key (known: "), "{e}");
    let e = err(BenchRequest {
        sets: vec!["pooled-finetune.finetune_steps=0".into()],
        ..request(&["pooled-finetune"], &[0])
    });
    assert_eq!(e, "method `pooled-finetune`: hyper-parameter `finetune_steps`: must be at least 1, got 0");

    let dir = temp_dir("bad-input");
    let bad_toml = dir.join("bad.toml");
    std::fs::write(&bad_toml, "[suite]\nname = \"x\"\nseeds = [0,\n").unwrap();
    let e = err(BenchRequest { suites: vec![bad_toml.display().to_string()], ..Default::default() });
    assert!(e.starts_with(&format!("{}: TOML parse error at line 3", bad_toml.display())), "{e}");
    assert!(!e.contains('\n'));
    let bad_key = dir.join("bad-key.toml");
    std::fs::write(&bad_key, "[suite]\nname = \"x\"\n[data]\nkind = \"synthetic\"\n[protocol]\nsupport = 0\n").unwrap();
    let e = err(BenchRequest { suites: vec![bad_key.display().to_string()], ..Default::default() });
    assert_eq!(e, format!("{}: protocol.support: must be at least 1", bad_key.display()));

    // An --out that cannot be created.
    let file = dir.join("a-file");
    std::fs::write(&file, "keep me").unwrap();
    let e = run_request(&request(&["global-mean"], &[0]), &file.join("sub"), 1).unwrap_err().to_string();
    assert!(e.starts_with(&format!("--out {}: cannot create", file.join("sub").display())), "{e}");
    let e = run_request(&request(&["global-mean"], &[0]), &file, 1).unwrap_err().to_string();
    assert_eq!(e, format!("--out {}: exists and is not a directory", file.display()));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

    // An --out holding another run is refused and left as it was.
    let run_dir = dir.join("run");
    run_request(&request(&["global-mean"], &[0]), &run_dir, 1).unwrap();
    let before = read(&run_dir.join("manifest.toml"));
    let e = run_request(&request(&["item-mean"], &[0]), &run_dir, 1).unwrap_err().to_string();
    assert!(e.contains("holds a run of another config"), "{e}");
    assert_eq!(before, read(&run_dir.join("manifest.toml")));
    // A non-empty directory that is not a run is refused.
    let e = run_request(&request(&["global-mean"], &[0]), &dir, 1).unwrap_err().to_string();
    assert!(e.contains("not empty and not a metarec run directory"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reproduce_finds_identical_results_and_reports_differences() {
    let dir = temp_dir("reproduce");
    let registry = Registry::default();
    let original = dir.join("run");
    run_request(&request(&["item-mean", "pooled"], &[3]), &original, 2).unwrap();
    let r = metarec::reproduce::reproduce(&original, &registry, &options(&dir.join("again"), 1), &|_| {}).unwrap();
    assert!(r.identical, "{:?}", r.differences);
    // Tamper with one value: reproduce must say which row differs.
    let path = original.join("results.csv");
    let text = String::from_utf8(read(&path)).unwrap();
    let line = text.lines().nth(5).unwrap().to_string();
    let (key, _) = line.rsplit_once(',').unwrap();
    std::fs::write(&path, text.replacen(&line, &format!("{key},9.5"), 1)).unwrap();
    let r = metarec::reproduce::reproduce(&original, &registry, &options(&dir.join("third"), 1), &|_| {}).unwrap();
    assert!(!r.identical);
    assert_eq!(r.differences.len(), 1);
    assert_eq!(r.differences[0].0, 6);
    assert!(r.max_abs_diff.values().all(|d| *d > 0.0));
    let _ = std::fs::remove_dir_all(&dir);
}
