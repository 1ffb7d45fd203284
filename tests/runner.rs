//! The runner end to end on the tiny synthetic suite: determinism, resume after a stop,
//! failing cells, bad input, reproduce.

mod common;

use common::*;
use metarec::rundir::Manifest;
use metarec::runner::{RunOptions, run};
use metarec::spec::{BenchRequest, resolve};
use metarec::{Registry, RunError};
use metarec_methods::{Adapted, Ctx, Method, MethodInfo, MethodKind, Model, Predictions, SupportSet, TrainData};

const METHODS: &[&str] = &["oracle", "global-mean", "item-mean", "pooled-finetune", "fomaml", "protonet"];

#[test]
fn same_command_twice_and_any_jobs_give_identical_results() {
    let dir = temp_dir("determinism");
    let req = request_with(METHODS, &[0, 1], META_SETS);
    run_request(&req, &dir.join("a"), 1).unwrap();
    run_request(&req, &dir.join("b"), 2).unwrap();
    run_request(&req, &dir.join("c"), 2).unwrap();
    let a = results_gz(&dir.join("a"));
    assert_eq!(a, results_gz(&dir.join("b")), "--jobs 1 and --jobs 2 differ");
    assert_eq!(a, results_gz(&dir.join("c")), "two runs with --jobs 2 differ");
    let text = results_text(&dir.join("a"));
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
    assert_eq!(m.cells.len(), 12);
    assert!(m.cells.iter().all(|c| c.status == "ok"));
    // The tiny budgets reached the meta-learners: 6 steps at most.
    for c in m.cells.iter().filter(|c| c.method == "fomaml" || c.method == "protonet") {
        assert!(c.steps >= 1 && c.steps <= 6, "{c:?}");
    }
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
    let spec = resolve(&request_with(METHODS, &[0, 1], META_SETS), &registry).unwrap();
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
    assert!(!out.join("results.csv.gz").exists());
    // Resume: only the 9 remaining cells run; with 12 cells and 3 done, at least one of the four
    // meta-learner cells is among them, and every finished one is reused.
    let finished = std::sync::atomic::AtomicUsize::new(0);
    run(&spec, &registry, &options(&out, 2), &|e| {
        if let metarec::runner::Event::CellFinished { .. } = e {
            finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .unwrap();
    assert_eq!(finished.into_inner(), 9);
    assert_eq!(results_gz(&out), results_gz(&dir.join("full")));
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
    let results = results_text(&dir);
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
    let text = results_text(&original);
    let line = text.lines().nth(5).unwrap().to_string();
    let (key, _) = line.rsplit_once(',').unwrap();
    let tampered = text.replacen(&line, &format!("{key},9.5"), 1);
    std::fs::write(original.join("results.csv.gz"), metarec_reports::gz::compress(tampered.as_bytes())).unwrap();
    let r = metarec::reproduce::reproduce(&original, &registry, &options(&dir.join("third"), 1), &|_| {}).unwrap();
    assert!(!r.identical);
    assert_eq!(r.differences.len(), 1);
    assert_eq!(r.differences[0].0, 6);
    assert!(r.max_abs_diff.values().all(|d| *d > 0.0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rewrites the commit of the cell record `rec` (a `.toml` under `cells/`).
fn set_cell_commit(rec: &std::path::Path, commit: &str) {
    let mut r: metarec::rundir::CellRecord = toml::from_str(&std::fs::read_to_string(rec).unwrap()).unwrap();
    r.ran.as_mut().unwrap().commit = commit.into();
    std::fs::write(rec, toml::to_string(&r).unwrap()).unwrap();
}

#[test]
fn a_resume_under_another_commit_is_refused_unless_forced_and_then_lists_every_commit() {
    let dir = temp_dir("resume-commit");
    let registry = Registry::default();
    let spec = resolve(&request(&["global-mean", "item-mean"], &[0, 1]), &registry).unwrap();
    let out = dir.join("run");
    let stop = RunOptions { stop_after: Some(1), ..options(&out, 1) };
    assert!(matches!(run(&spec, &registry, &stop, &|_| {}), Err(RunError::Interrupted { .. })));
    // Every cell record carries the spec's hash and the code it ran under.
    let m = Manifest::read(&out).unwrap();
    let first = m.cells.iter().find(|c| c.status == "ok").unwrap();
    let ran = first.ran.as_ref().unwrap();
    assert_eq!((&ran.commit, &ran.diff_sha256), (&m.provenance.commit, &m.provenance.diff_sha256));
    assert_eq!(ran.config_sha256, m.config_sha256);
    assert!(!ran.host.is_empty() && ran.device == "cpu" && !ran.started.is_empty() && !ran.finished.is_empty());

    // As if the run had been begun, and its first cell run, at another commit.
    let old = "0123456789abcdef0123456789abcdef01234567";
    let mut begun = m.clone();
    begun.provenance.commit = old.into();
    begun.write(&out).unwrap();
    set_cell_commit(&out.join("cells/synthetic-tiny/global-mean/seed-0.toml"), old);
    match run(&spec, &registry, &options(&out, 1), &|_| {}) {
        Err(e @ RunError::OutDir(_)) => {
            let msg = e.to_string();
            assert!(msg.contains("begun at commit 0123456789ab") && msg.contains("--force"), "{msg}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(Manifest::read(&out).unwrap(), begun, "a refused resume changed the manifest");
    let forced = RunOptions { force: true, ..options(&out, 1) };
    run(&spec, &registry, &forced, &|_| {}).unwrap();
    let m = Manifest::read(&out).unwrap();
    assert_eq!(m.commits.len(), 2, "{:?}", m.commits);
    assert_eq!((m.commits[0].commit.as_str(), m.commits[0].cells), (old, 1));
    assert_eq!((&m.commits[1].commit, m.commits[1].cells), (&m.provenance.commit, 3));
    // The reports name both.
    let md = String::from_utf8(read(&out.join("leaderboard.md"))).unwrap();
    assert!(md.contains(&format!("{old} + {}", m.provenance.commit)), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn merge_refuses_a_cell_from_another_commit_unless_forced() {
    let dir = temp_dir("merge-commit");
    let registry = Registry::default();
    let spec = resolve(&request(&["global-mean", "item-mean"], &[0]), &registry).unwrap();
    let out = dir.join("run");
    for i in 0..2 {
        run(&spec, &registry, &RunOptions { shard: Some((i, 2)), ..options(&out, 1) }, &|_| {}).unwrap();
    }
    let full = dir.join("full");
    run_spec(&spec, &registry, &full, 1).unwrap();
    set_cell_commit(
        &out.join("cells/synthetic-tiny/item-mean/seed-0.toml"),
        "feedfacefeedfacefeedfacefeedfacefeedface",
    );
    let opts = metarec::merge::MergeOptions { command: vec!["test".into()], ..Default::default() };
    let err = metarec::merge::merge(&out, &registry, &opts, &|_| {}).unwrap_err().to_string();
    assert!(
        err.contains(
            "1 of 2 cells ran under another spec or code: synthetic-tiny/item-mean/seed-0 (ran at commit feedfacefeed"
        ),
        "{err}"
    );
    assert!(!out.join("results.csv.gz").exists());
    let forced = metarec::merge::MergeOptions { force: true, ..opts };
    let m = metarec::merge::merge(&out, &registry, &forced, &|_| {}).unwrap();
    assert!(m.complete() && m.forced.len() == 1, "{m:?}");
    assert_eq!(results_gz(&out), results_gz(&full));
    let manifest = Manifest::read(&out).unwrap();
    assert_eq!(manifest.commits.len(), 2);
    assert_eq!(manifest.commits[1].commit, "feedfacefeedfacefeedfacefeedfacefeedface");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_planned_run_merges_around_a_failed_cell_and_resubmits_its_task() {
    let dir = temp_dir("planned-failure");
    let registry = registry_with_broken();
    let spec = resolve(&request(&["global-mean", "nan", "item-mean"], &[0, 1]), &registry).unwrap();
    let out = dir.join("run");
    let slurm = metarec::plan::SlurmOptions {
        partition: Some("debug".into()),
        time: Some("10:00".into()),
        cpus_per_task: 1,
        mem: None,
        gres: None,
        concurrency: Some(2),
        cells_per_task: 1,
        // 6 cells under an array limit of 4: packed two per task, three tasks.
        array_limit: 4,
        binary: std::env::current_exe().unwrap(),
        repo: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        data_dir: None,
    };
    let p = metarec::plan::plan(&spec, &registry, &options(&out, 1), &slurm, &|_| {}).unwrap();
    assert!(p.packed && p.plan.tasks == 3 && p.plan.cells_per_task == 2, "{:?}", p.plan);
    let sbatch = String::from_utf8(read(&out.join("array.sbatch"))).unwrap();
    for want in ["#SBATCH --array=0-2%2\n", "#SBATCH --partition=debug\n", "#SBATCH --time=10:00\n", " --task "] {
        assert!(sbatch.contains(want), "array.sbatch lacks `{want}`:\n{sbatch}");
    }
    // Cells in plan order: global-mean 0, 1 (task 0), nan 0, 1 (task 1), item-mean 0, 1 (task 2).
    let opts = metarec::plan::CellOptions { jobs: 1, force: false, repo: options(&out, 1).repo, data_dir: None };
    let task = |t| metarec::plan::run_planned(&out, &registry, metarec::plan::Select::Task(t), &opts, &|_| {});
    assert_eq!(task(0).unwrap().ran.len(), 2);
    let err = task(1).unwrap_err().to_string();
    assert!(err.starts_with("2 of 2 cells failed") && err.contains("method `nan` diverged"), "{err}");
    assert_eq!(task(2).unwrap().ran.len(), 2);
    // A finished cell is skipped when its task runs again; a failed one runs again.
    let again = task(0).unwrap();
    assert_eq!((again.skipped.len(), again.ran.len()), (2, 0));
    assert!(task(1).is_err());

    let merge_opts = metarec::merge::MergeOptions { command: vec!["test".into()], ..Default::default() };
    let m = metarec::merge::merge(&out, &registry, &merge_opts, &|_| {}).unwrap();
    assert!(m.assembled && !m.complete() && m.missing.is_empty());
    let failed: Vec<&str> = m.failed.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(failed, ["synthetic-tiny/nan/seed-0", "synthetic-tiny/nan/seed-1"]);
    let dir_c = out.canonicalize().unwrap();
    assert_eq!(m.resubmit.unwrap(), format!("sbatch --array=1%2 {}/array.sbatch", dir_c.display()));
    let results = results_text(&out);
    assert!(results.contains(",global-mean,1,") && results.contains(",item-mean,1,") && !results.contains(",nan,"));
    assert_eq!(Manifest::read(&out).unwrap().run.status, "failed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_cuda_plan_asks_for_a_gpu_and_bad_slurm_options_are_named() {
    let dir = temp_dir("plan-cuda");
    let registry = Registry::default();
    let spec =
        resolve(&BenchRequest { device: Some("cuda".into()), ..request(&["global-mean"], &[0]) }, &registry).unwrap();
    let slurm = metarec::plan::SlurmOptions {
        partition: None,
        time: None,
        cpus_per_task: 4,
        mem: Some("8G".into()),
        gres: None,
        concurrency: None,
        cells_per_task: 1,
        array_limit: 1001,
        binary: std::env::current_exe().unwrap(),
        repo: std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        data_dir: None,
    };
    // Planning needs no GPU: nothing runs.
    metarec::plan::plan(&spec, &registry, &options(&dir.join("run"), 1), &slurm, &|_| {}).unwrap();
    let sbatch = String::from_utf8(read(&dir.join("run/array.sbatch"))).unwrap();
    for want in ["#SBATCH --array=0-0\n", "#SBATCH --gres=gpu:1\n", "#SBATCH --cpus-per-task=4\n", "#SBATCH --mem=8G\n"]
    {
        assert!(sbatch.contains(want), "array.sbatch lacks `{want}`:\n{sbatch}");
    }
    // The task's cells share its one GPU, so they run one at a time (ARCHITECTURE, "GPU").
    assert!(sbatch.contains(" --jobs 1\n"), "{sbatch}");
    let bad = |s: metarec::plan::SlurmOptions, out: &str| {
        metarec::plan::plan(&spec, &registry, &options(&dir.join(out), 1), &s, &|_| {}).unwrap_err().to_string()
    };
    let e = bad(metarec::plan::SlurmOptions { time: Some("1:00 #x".into()), ..slurm.clone() }, "t");
    assert!(e.starts_with("--time `1:00 #x`: "), "{e}");
    let e = bad(metarec::plan::SlurmOptions { cells_per_task: 0, ..slurm.clone() }, "c");
    assert_eq!(e, "--cells-per-task: must be at least 1");
    let e = bad(slurm.clone(), "with space");
    assert!(e.starts_with("--out ") && e.contains("with space: must be an absolute path without spaces"), "{e}");
    assert!(!dir.join("t").exists() && !dir.join("c").exists() && !dir.join("with space").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--mae-estimate mean`: the oracle's MAE scores its mean instead of its median (other metrics
/// and methods without a median unchanged), the spec and the cells' records say so, and the
/// report marks the oracle a reference on MAE. The default (`own`) leaves the recorded spec, and
/// so the config hash, as they were before the option existed.
#[test]
fn the_mae_estimate_is_recorded_and_reported() {
    let dir = temp_dir("mae-estimate");
    let own = request(&["oracle", "global-mean"], &[0]);
    let mean = BenchRequest { mae_estimate: metarec::spec::MaeEstimate::Mean, ..own.clone() };
    let registry = Registry::default();
    let spec = resolve(&own, &registry).unwrap();
    let text = toml::to_string(&spec).unwrap();
    assert!(!text.contains("mae_estimate") && !text.contains("correction") && !text.contains("paired"), "{text}");
    run_request(&own, &dir.join("own"), 1).unwrap();
    run_request(&mean, &dir.join("mean"), 1).unwrap();
    let rows = |d: &str| -> Vec<String> { results_text(&dir.join(d)).lines().map(str::to_owned).collect() };
    let (a, b) = (rows("own"), rows("mean"));
    assert_eq!(a.len(), b.len());
    let differs =
        |keep: &dyn Fn(&str) -> bool| a.iter().zip(&b).filter(|(x, _)| keep(x)).filter(|(x, y)| x != y).count();
    assert!(differs(&|l| l.contains(",oracle,") && l.contains(",mae,")) > 0, "the oracle's MAE did not change");
    assert_eq!(differs(&|l| !(l.contains(",oracle,") && l.contains(",mae,"))), 0, "other rows changed");
    let m = Manifest::read(&dir.join("mean")).unwrap();
    assert_eq!(m.spec.mae_estimate, metarec::spec::MaeEstimate::Mean);
    let note =
        |m: &Manifest, method: &str| m.cells.iter().find(|c| c.method == method).unwrap().notes["mae_scores"].clone();
    assert_eq!((note(&m, "oracle"), note(&m, "global-mean")), ("mean".to_owned(), "mean".to_owned()));
    let m_own = Manifest::read(&dir.join("own")).unwrap();
    assert_eq!(note(&m_own, "oracle"), "median");
    let md = String::from_utf8(read(&dir.join("mean/leaderboard.md"))).unwrap();
    assert!(md.contains("| — | oracle (reference) |") && md.contains("`--mae-estimate mean`"), "{md}");
    let md = String::from_utf8(read(&dir.join("own/leaderboard.md"))).unwrap();
    assert!(md.contains("mean: `global-mean`; median: `oracle`"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--correction bh` and `--paired-differences` end to end: the spec records them, results.csv
/// is byte-identical to the default run's (they change the reports only), and the report says
/// which correction adjusted its p-values and shows the paired-differences table. The default run
/// says Holm and has no such table.
#[test]
fn report_options_are_recorded_and_change_the_reports_only() {
    let dir = temp_dir("report-options");
    let plain = request(&["global-mean", "item-mean", "pooled"], &[0, 1]);
    let chosen = BenchRequest { correction: metarec::spec::Correction::Bh, paired_differences: true, ..plain.clone() };
    run_request(&plain, &dir.join("plain"), 1).unwrap();
    run_request(&chosen, &dir.join("chosen"), 1).unwrap();
    assert_eq!(results_gz(&dir.join("plain")), results_gz(&dir.join("chosen")));
    let m = Manifest::read(&dir.join("chosen")).unwrap();
    assert_eq!((m.spec.correction, m.spec.paired_differences), (metarec::spec::Correction::Bh, true));
    let md = |d: &str| String::from_utf8(read(&dir.join(d).join("leaderboard.md"))).unwrap();
    let (plain_md, chosen_md) = (md("plain"), md("chosen"));
    // the leaderboard's marks and the win/tie/loss counts follow the choice (the fairness
    // section's correction over attributes is Holm whatever is chosen, and says so)
    assert!(chosen_md.contains("Benjamini-Hochberg-adjusted two-sided Wilcoxon"), "{chosen_md}");
    let dagger_notes = |md: &str, by: &str| md.lines().filter(|l| l.starts_with("†:") && l.contains(by)).count();
    assert!(dagger_notes(&chosen_md, "Benjamini-Hochberg-adjusted p") > 0, "{chosen_md}");
    assert_eq!(dagger_notes(&chosen_md, "Holm"), 0, "{chosen_md}");
    assert!(!chosen_md.contains("Holm-adjusted two-sided"), "{chosen_md}");
    assert!(plain_md.contains("Holm") && !plain_md.contains("Benjamini-Hochberg"), "{plain_md}");
    assert!(chosen_md.contains("Cliff's delta") && !plain_md.contains("Cliff's delta"), "{chosen_md}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The files under `dir`, relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_complete_run_stores_each_value_once_and_takes_compacted_cells_back() {
    let dir = temp_dir("compact");
    let registry = Registry::default();
    // The tiny suite with the candidate protocol, so that rankings.csv.gz is compacted too.
    let tiny =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/synthetic-tiny.toml"))
            .unwrap();
    let suite = dir.join("ranked.toml");
    std::fs::write(&suite, format!("{tiny}\n[protocol.candidates]\nsampled = 20\nk = 5\n")).unwrap();
    let req =
        BenchRequest { suites: vec![suite.display().to_string()], ..request(&["global-mean", "item-mean"], &[0, 1]) };
    let spec = resolve(&req, &registry).unwrap();
    let out = dir.join("run");
    run_spec(&spec, &registry, &out, 2).unwrap();
    let (results, rankings) = (results_gz(&out), read(&out.join("rankings.csv.gz")));
    // Only the cells' records are left: every row is in results.csv.gz once, as the member of
    // its cell after the header's.
    let cells = files_under(&out.join("cells"));
    assert_eq!(cells.len(), 4, "{cells:?}");
    assert!(cells.iter().all(|c| c.ends_with(".toml")), "{cells:?}");
    for file in [&results, &rankings] {
        assert_eq!(metarec_reports::gz::members(file, "file").unwrap().len(), 1 + 4);
    }
    let text = results_text(&out);
    assert!(text.contains(",global-mean,1,") && text.contains(",item-mean,0,"));
    assert!(!out.join("results.csv").exists() && !out.join("rankings.csv").exists());
    assert!(out.join("candidates.csv.gz").is_file());
    // The reports read the compressed files (the item-side section from candidates.csv.gz and
    // rankings.csv.gz).
    let md = String::from_utf8(read(&out.join("leaderboard.md"))).unwrap();
    assert!(md.contains("cand-hr@5") && md.contains(metarec_reports::analysis::item_side::ITEM_SIDE_TITLE), "{md}");
    assert!(!md.contains("No item-side table"), "{md}");

    let count = |opts: &RunOptions| {
        let finished = std::sync::atomic::AtomicUsize::new(0);
        let r = run(&spec, &registry, opts, &|e| {
            if let metarec::runner::Event::CellFinished { .. } = e {
                finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (r, finished.into_inner())
    };
    // A rerun finds every cell finished and writes the same bytes.
    let (r, n) = count(&options(&out, 2));
    r.unwrap();
    assert_eq!(n, 0);
    assert_eq!((results_gz(&out), read(&out.join("rankings.csv.gz"))), (results.clone(), rankings.clone()));
    // A cell whose record is gone runs again; the others come back from the assembled files.
    std::fs::remove_file(out.join("cells/synthetic-tiny/global-mean/seed-1.toml")).unwrap();
    let (r, n) = count(&options(&out, 1));
    r.unwrap();
    assert_eq!(n, 1);
    assert_eq!((results_gz(&out), read(&out.join("rankings.csv.gz"))), (results.clone(), rankings.clone()));
    assert_eq!(files_under(&out.join("cells")).len(), 4);
    // merge assembles a compacted run too.
    let opts = metarec::merge::MergeOptions { command: vec!["test".into()], ..Default::default() };
    let m = metarec::merge::merge(&out, &registry, &opts, &|_| {}).unwrap();
    assert!(m.complete(), "{m:?}");
    assert_eq!(results_gz(&out), results);
    // A damaged results.csv.gz cannot give a compacted cell back: the error names it.
    std::fs::write(out.join("results.csv.gz"), &results[..results.len() - 30]).unwrap();
    std::fs::remove_file(out.join("cells/synthetic-tiny/item-mean/seed-0.toml")).unwrap();
    let err = count(&options(&out, 1)).0.unwrap_err().to_string();
    assert!(err.contains(&format!("{}: I/O error: gzip member 5", out.join("results.csv.gz").display())), "{err}");
    // So can a file recompressed as one member (the same text): refused, naming both files.
    std::fs::write(out.join("results.csv.gz"), metarec_reports::gz::compress(text.as_bytes())).unwrap();
    let err = count(&options(&out, 1)).0.unwrap_err().to_string();
    assert!(err.contains("global-mean/seed-0.csv.gz: missing, and ") && err.contains("it has 1 gzip members"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
