//! The runner: plan the grid, run its cells in parallel, write the run directory.
//!
//! A cell is (suite, method, seed). It meta-trains the method once on the suite's meta-train
//! users, then adapts and scores on every scenario's test tasks: all four cold-start scenarios
//! share the same meta-train data, so training once per cell instead of once per scenario gives
//! the same numbers at a quarter of the cost. Each cell's randomness is a generator seeded from
//! (suite, method, seed) for meta-training and from (suite, method, seed, scenario, user) for
//! each adaptation, so results do not depend on the order or thread that runs them.

use crate::RunError;
use crate::provenance::{self, utc_now};
use crate::rundir::{self, CellRecord, DataInfo, Manifest, RobustnessInfo, RunInfo, write_atomic};
use crate::score;
use crate::spec::{DeviceKind, RunSpec};
use candle_core::Device;
use metarec_methods::{Ctx, MethodKind, Registry, SupportSet, TrainData};
use metarec_reports::ResultRow;
use metarec_suites::{LoadedSuite, Materialized, Rng};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Worker threads, one cell each.
    pub jobs: usize,
    /// The run directory.
    pub out: PathBuf,
    /// The command line, for the manifest.
    pub command: Vec<String>,
    /// Where to look for the git repository (the current directory for the CLI).
    pub repo: PathBuf,
    /// Test hook: stop (as if killed) after this many cells have finished in this start.
    pub stop_after: Option<usize>,
    /// Where real datasets are installed (`None`: `$METAREC_DATA`, else the user's cache).
    pub data_dir: Option<PathBuf>,
}

/// Progress reported to the caller.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan: total cells, and how many a previous start already finished.
    Planned { total: usize, already_done: usize, dir: &'a Path },
    /// A suite was loaded and split.
    SuiteReady { info: &'a DataInfo },
    /// A cell finished (ok or failed).
    CellFinished { record: &'a CellRecord },
}

/// What a finished run looks like.
#[derive(Debug)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Default run directory name: `runs/<utc-time>-<short-commit>`.
pub fn default_out(repo: &Path) -> PathBuf {
    let (prov, _) = provenance::collect(repo);
    let time = utc_now().replace([':', '-'], "");
    let short: String = prov.commit.chars().take(7).collect();
    provenance::repo_root(repo).join("runs").join(format!("{time}-{short}"))
}

fn make_device(kind: DeviceKind) -> Result<Device, RunError> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda => Device::new_cuda(0).map_err(|e| {
            RunError::Input(format!("--device cuda: {e} (build with `--features cuda`; see README, GPU)"))
        }),
    }
}

/// Prepares the run directory: new, or a resumable run of the same spec. Never overwrites
/// anything else.
fn prepare_dir(spec: &RunSpec, opts: &RunOptions) -> Result<Option<Manifest>, RunError> {
    let out = &opts.out;
    if out.exists() && !out.is_dir() {
        return Err(RunError::OutDir(format!("--out {}: exists and is not a directory", out.display())));
    }
    if out.join("manifest.toml").is_file() {
        let old = Manifest::read(out)?;
        if old.spec != *spec {
            return Err(RunError::OutDir(format!(
                "--out {}: holds a run of another config (config {} vs {}); choose another --out",
                out.display(),
                short(&old.config_sha256),
                short(&spec.config_hash())
            )));
        }
        return Ok(Some(old));
    }
    if out.is_dir() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false) {
        return Err(RunError::OutDir(format!(
            "--out {}: not empty and not a metarec run directory; refusing to write into it",
            out.display()
        )));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| RunError::OutDir(format!("--out {}: cannot create: {e}", out.display())))?;
    // Probe writability before any work.
    write_atomic(&out.join(".write-test"), b"")
        .map_err(|e| RunError::OutDir(format!("--out {}: not writable: {e}", out.display())))?;
    let _ = std::fs::remove_file(out.join(".write-test"));
    Ok(None)
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

struct SuiteRun {
    loaded: LoadedSuite,
    data: Materialized,
}

/// Runs (or resumes) the grid of `spec`.
pub fn run(
    spec: &RunSpec,
    registry: &Registry,
    opts: &RunOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<RunOutcome, RunError> {
    if opts.jobs == 0 {
        return Err(RunError::Input("--jobs: must be at least 1".into()));
    }
    let device = make_device(spec.device)?;
    // Build every method once up front so that bad hyper-parameters fail before any work.
    for s in &spec.suites {
        for m in &s.methods {
            (registry.get(&m.name).map_err(RunError::Method)?.build)(&m.params).map_err(RunError::Method)?;
        }
    }
    let previous = prepare_dir(spec, opts)?;
    let out = opts.out.clone();
    let (prov, diff) = provenance::collect(&opts.repo);

    // Load and split every suite.
    let mut suites = Vec::new();
    let mut data_infos = Vec::new();
    for loaded in spec.load_suites()? {
        let data_dir = metarec_suites::store::resolve_data_dir(opts.data_dir.as_deref());
        let data = loaded.materialize_in(&data_dir).map_err(RunError::Suite)?;
        let info = DataInfo {
            suite: loaded.name().to_string(),
            sha256: data.dataset.sha256.clone(),
            split_sha256: data.split.sha256.clone(),
            n_users: data.dataset.features.n_users(),
            n_items: data.dataset.features.n_items(),
            n_ratings: data.dataset.ratings.len(),
            meta_train_users: data.split.meta_train.len(),
            validation_users: data.split.validation.len(),
            scenarios: data.split.test.iter().map(|(s, t)| (s.name().to_string(), t.len())).collect(),
            resolved: loaded.resolved(),
            load_report: data.load_report.clone(),
            robustness: data
                .variants
                .iter()
                .map(|v| RobustnessInfo {
                    perturbation: v.label.clone(),
                    split_sha256: v.split.sha256.clone(),
                    changes: toml::Table::try_from(&v.changes.total).unwrap_or_default(),
                })
                .collect(),
        };
        on_event(&Event::SuiteReady { info: &info });
        data_infos.push(info);
        suites.push(SuiteRun { loaded, data });
    }

    // The plan, in a fixed order: suite, method, seed.
    let mut plan = Vec::new();
    for (si, s) in spec.suites.iter().enumerate() {
        for (mi, m) in s.methods.iter().enumerate() {
            for seed in &s.seeds {
                plan.push((si, mi, *seed, m.name.clone()));
            }
        }
    }
    let mut records: Vec<CellRecord> =
        plan.iter().map(|(si, _, seed, m)| CellRecord::pending(&spec.suites[*si].name, m, *seed)).collect();
    let mut done = vec![false; plan.len()];
    for (k, (si, _, seed, m)) in plan.iter().enumerate() {
        let (csv, rec) = rundir::cell_paths(&out, &spec.suites[*si].name, m, *seed);
        if let (true, Ok(text)) = (csv.is_file(), std::fs::read_to_string(&rec))
            && let Ok(r) = toml::from_str::<CellRecord>(&text)
            && r.status == "ok"
        {
            records[k] = r;
            done[k] = true;
        }
    }
    let already_done = done.iter().filter(|d| **d).count();

    let now = utc_now();
    let mut run_info = match &previous {
        Some(m) => {
            let mut r = m.run.clone();
            r.resumed.push(format!("{now} {}", opts.command.join(" ")));
            r.finished = None;
            r
        }
        None => RunInfo {
            id: out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            command: opts.command.clone(),
            started: now,
            finished: None,
            status: "running".into(),
            jobs: opts.jobs,
            resumed: Vec::new(),
        },
    };
    run_info.status = "running".into();
    run_info.jobs = opts.jobs;
    let mut manifest = Manifest {
        run: run_info,
        provenance: prov.clone(),
        config_sha256: spec.config_hash(),
        data: data_infos,
        spec: spec.clone(),
        cells: records.clone(),
    };
    manifest.write(&out)?;
    if let Some(d) = &diff {
        write_atomic(&out.join("dirty.patch"), d.as_bytes())?;
    }
    on_event(&Event::Planned { total: plan.len(), already_done, dir: &out });

    // Run the pending cells on `jobs` workers.
    let pending: Vec<usize> = (0..plan.len()).filter(|k| !done[*k]).collect();
    let next = AtomicUsize::new(0);
    let finished_now = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, CellRecord)>> = Mutex::new(Vec::new());
    let io_error: Mutex<Option<RunError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(pending.len().max(1)) {
            scope.spawn(|| {
                loop {
                    if opts.stop_after.is_some_and(|n| finished_now.load(Ordering::SeqCst) >= n) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&k) = pending.get(i) else { return };
                    let (si, mi, seed, _) = &plan[k];
                    let suite = &suites[*si];
                    let mspec = &spec.suites[*si].methods[*mi];
                    let (record, rows) = run_cell(suite, &mspec.name, &mspec.params, *seed, registry, &device);
                    let (csv_path, rec_path) = rundir::cell_paths(&out, &spec.suites[*si].name, &mspec.name, *seed);
                    let write = || -> Result<(), RunError> {
                        if let Some(rows) = &rows {
                            let mut buf = Vec::new();
                            metarec_reports::results::write_rows(&mut buf, rows, false).map_err(RunError::Report)?;
                            write_atomic(&csv_path, &buf)?;
                        }
                        let text = toml::to_string(&record).expect("cell record serialises");
                        write_atomic(&rec_path, text.as_bytes())
                    };
                    if let Err(e) = write() {
                        io_error.lock().expect("lock").get_or_insert(e);
                        return;
                    }
                    on_event(&Event::CellFinished { record: &record });
                    results.lock().expect("lock").push((k, record));
                    finished_now.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    if let Some(e) = io_error.into_inner().expect("lock") {
        return Err(e);
    }
    for (k, r) in results.into_inner().expect("lock") {
        done[k] = r.status == "ok";
        records[k] = r;
    }
    manifest.cells = records.clone();
    let interrupted = records.iter().any(|r| r.status == "pending");
    if interrupted {
        manifest.run.status = "interrupted".into();
        manifest.write(&out)?;
        return Err(RunError::Interrupted { dir: out.display().to_string() });
    }

    // Assemble results.csv in plan order from the finished cells.
    let mut buf = Vec::new();
    metarec_reports::results::write_rows(&mut buf, &[], true).map_err(RunError::Report)?;
    for (k, (si, _, seed, m)) in plan.iter().enumerate() {
        if records[k].status == "ok" {
            let (csv, _) = rundir::cell_paths(&out, &spec.suites[*si].name, m, *seed);
            let bytes =
                std::fs::read(&csv).map_err(|source| RunError::Io { path: csv.display().to_string(), source })?;
            buf.extend_from_slice(&bytes);
        }
    }
    write_atomic(&out.join("results.csv"), &buf)?;
    write_groups(&out, &suites)?;
    let failed: Vec<&CellRecord> = records.iter().filter(|r| r.status != "ok").collect();
    manifest.run.status = if failed.is_empty() { "complete" } else { "failed" }.into();
    manifest.run.finished = Some(utc_now());
    manifest.write(&out)?;
    crate::report::write_reports(&out, registry)?;
    if !failed.is_empty() {
        let list: Vec<String> = failed
            .iter()
            .map(|r| format!("{}/{}/seed {}: {}", r.suite, r.method, r.seed, r.error.as_deref().unwrap_or("unknown")))
            .collect();
        return Err(RunError::CellsFailed {
            failed: failed.len(),
            total: records.len(),
            dir: out.display().to_string(),
            list: list.join("; "),
        });
    }
    Ok(RunOutcome { dir: out, manifest })
}

/// `groups.csv`: the user groups of every test user, for fairness reports.
fn write_groups(out: &Path, suites: &[SuiteRun]) -> Result<(), RunError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| RunError::Io {
        path: out.join("groups.csv").display().to_string(),
        source: std::io::Error::other(e),
    };
    w.write_record(["suite", "user", "attribute", "group"]).map_err(csv_err)?;
    for s in suites {
        let mut users: Vec<u32> = s.data.split.test.iter().flat_map(|(_, ts)| ts.iter().map(|t| t.user)).collect();
        users.sort();
        users.dedup();
        for u in users {
            let id = s.data.dataset.features.user_ids[u as usize].to_string();
            for (attr, groups) in &s.data.dataset.user_groups {
                w.write_record([s.loaded.name(), &id, attr, &groups[u as usize]]).map_err(csv_err)?;
            }
        }
    }
    let bytes = w.into_inner().map_err(|e| RunError::Io {
        path: out.join("groups.csv").display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    write_atomic(&out.join("groups.csv"), &bytes)
}

/// Seed of a cell's generator.
pub fn cell_seed(suite: &str, method: &str, seed: u64) -> u64 {
    metarec_suites::rng::derive_seed(seed, &[suite, method])
}

/// Runs one cell; never panics (a panicking method fails its cell).
fn run_cell(
    suite: &SuiteRun,
    method: &str,
    params: &toml::Table,
    seed: u64,
    registry: &Registry,
    device: &Device,
) -> (CellRecord, Option<Vec<ResultRow>>) {
    let mut record = CellRecord::pending(suite.loaded.name(), method, seed);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cell_body(suite, method, params, seed, registry, device, &mut record)
    }));
    match outcome {
        Ok(Ok(rows)) => {
            record.status = "ok".into();
            (record, Some(rows))
        }
        Ok(Err(e)) => {
            record.status = "failed".into();
            record.error = Some(e);
            (record, None)
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            record.status = "failed".into();
            record.error = Some(format!("method `{method}` panicked: {msg}"));
            (record, None)
        }
    }
}

fn cell_body(
    suite: &SuiteRun,
    method_name: &str,
    params: &toml::Table,
    seed: u64,
    registry: &Registry,
    device: &Device,
    record: &mut CellRecord,
) -> Result<Vec<ResultRow>, String> {
    let info = registry.get(method_name).map_err(|e| e.to_string())?;
    let method = (info.build)(params).map_err(|e| e.to_string())?;
    let suite_name = suite.loaded.name();
    let base = cell_seed(suite_name, method_name, seed);
    let ds = &suite.data.dataset;
    let split = &suite.data.split;
    let train = TrainData {
        features: &ds.features,
        meta_train: &split.meta_train,
        validation: &split.validation,
        rating_min: ds.rating_min,
        rating_max: ds.rating_max,
        truth: if info.kind == MethodKind::Reference { ds.truth.as_deref() } else { None },
    };
    let t0 = Instant::now();
    let mut ctx = Ctx { rng: Rng::from_labels(base, &["meta-train"]), device: device.clone() };
    let model = method.meta_train(&train, &mut ctx).map_err(|e| e.to_string())?;
    record.meta_train_s = round_ms(t0.elapsed().as_secs_f64());
    let report = model.report();
    record.steps = report.steps;
    record.chosen_step = report.chosen_step;
    record.validation_loss = report.validation_loss;
    record.notes = report.notes;

    let t1 = Instant::now();
    let mut rows = Vec::new();
    // The clean split, then each robustness variant (perturbed support sets and features,
    // same queries), all scored with the one meta-trained model.
    let clean = [("none", &ds.features, split)];
    let variants = suite.data.variants.iter().map(|v| (v.label.as_str(), &v.features, &v.split));
    for (perturbation, features, split) in clean.into_iter().chain(variants) {
        for (scenario, tasks) in &split.test {
            for task in tasks {
                let user_id = features.user_ids[task.user as usize];
                let where_ = if perturbation == "none" {
                    format!("scenario {scenario}, user {user_id}")
                } else {
                    format!("scenario {scenario}, user {user_id}, perturbation {perturbation}")
                };
                // The clean adaptation's generator is labelled as before, so clean results do
                // not depend on which perturbations a suite declares.
                let mut labels = vec![scenario.name().to_string(), task.user.to_string()];
                if perturbation != "none" {
                    labels.push(perturbation.to_string());
                }
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                let mut ctx = Ctx { rng: Rng::from_labels(base, &labels), device: device.clone() };
                let support = SupportSet { user: task.user, support: &task.support, features };
                let adapted = model.adapt(&support, &mut ctx).map_err(|e| format!("{e} ({where_})"))?;
                let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
                let pred = adapted.predict(&items).map_err(|e| format!("{e} ({where_})"))?;
                let lens_ok =
                    pred.mean.len() == items.len() && pred.median.as_ref().is_none_or(|m| m.len() == items.len());
                if !lens_ok {
                    return Err(format!(
                        "method `{method_name}` returned {} predictions for {} query items ({where_})",
                        pred.mean.len(),
                        items.len()
                    ));
                }
                if let Some(bad) = pred.mean.iter().chain(pred.median.iter().flatten()).find(|x| !x.is_finite()) {
                    return Err(format!("method `{method_name}` diverged: predicted {bad} ({where_})"));
                }
                for (metric, value) in score::score(&pred, &task.query) {
                    rows.push(ResultRow {
                        suite: suite_name.to_string(),
                        scenario: scenario.name().to_string(),
                        method: method_name.to_string(),
                        seed,
                        perturbation: perturbation.to_string(),
                        user: user_id,
                        metric: metric.to_string(),
                        value,
                    });
                }
            }
        }
    }
    record.adapt_s = round_ms(t1.elapsed().as_secs_f64());
    Ok(rows)
}

fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

/// Summary of data per suite, for printing.
pub fn describe(info: &DataInfo) -> String {
    let sc: Vec<String> = info.scenarios.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!(
        "{}: {} users, {} items, {} ratings (sha256 {}); meta-train {} users, validation {}; test users: {}",
        info.suite,
        info.n_users,
        info.n_items,
        info.n_ratings,
        short(&info.sha256),
        info.meta_train_users,
        info.validation_users,
        sc.join(", ")
    )
}

/// Provenance summary for reports.
pub fn provenance_for_reports(m: &Manifest) -> metarec_reports::leaderboard::Provenance {
    metarec_reports::leaderboard::Provenance {
        commit: m.provenance.commit.clone(),
        dirty: m.provenance.dirty,
        config_hash: m.config_sha256.clone(),
        data_hashes: m.data.iter().map(|d| (d.suite.clone(), d.sha256.clone())).collect(),
        run_id: m.run.id.clone(),
    }
}
