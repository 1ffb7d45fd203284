//! The runner: plan the grid, run its cells in parallel, write the run directory.
//!
//! A cell is (suite, method, seed). It meta-trains the method once on the suite's meta-train
//! users, then adapts and scores on every scenario's test tasks: all four cold-start scenarios
//! share the same meta-train data, so training once per cell instead of once per scenario gives
//! the same numbers at a quarter of the cost. Each cell's randomness is a generator seeded from
//! (suite, method, seed) for meta-training and from (suite, method, seed, scenario, user) for
//! each adaptation, so results do not depend on the order or thread that runs them.
//!
//! [`Grid`] is the loaded data and the plan of cells; `run` (bench), `plan::run_planned` (one
//! Slurm array task) and `merge` share it: the cells run the same way wherever they run, and
//! results.csv is assembled the same way from the cell files.

use crate::RunError;
use crate::provenance::{self, Provenance, utc_now};
use crate::rundir::{
    self, CellRecord, CellRun, DataInfo, Manifest, RobustnessInfo, RunInfo, SkippedMethod, write_atomic,
};
use crate::score;
use crate::spec::{DeviceKind, RunSpec};
use candle_core::Device;
use metarec_methods::{Ctx, MethodKind, Model, Predictions, Registry, SupportSet, TrainData};
use metarec_reports::ResultRow;
use metarec_reports::fairness;
use metarec_reports::gz;
use metarec_suites::split::{Scenario, Split, Task};
use metarec_suites::suite::Variant;
use metarec_suites::{Features, LoadedSuite, Materialized, Rng};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Go on with a run started under another commit or dirty diff (every cell records its
    /// own, and the manifest lists them all); without it that is refused.
    pub force: bool,
    /// `bench --shard i/n`: run only the cells whose plan index is `i` modulo `n`, and leave
    /// results.csv and the reports to `merge`.
    pub shard: Option<(usize, usize)>,
}

/// Progress reported to the caller.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan: total cells, and how many a previous start already finished.
    Planned { total: usize, already_done: usize, dir: &'a Path },
    /// A suite was loaded and split.
    SuiteReady { info: &'a DataInfo },
    /// A cell starts: its stable id (see [`rundir::cell_id`]) and plan index.
    CellStarted { id: &'a str, index: usize },
    /// A cell finished (ok or failed).
    CellFinished { record: &'a CellRecord },
    /// A method of the spec is not run on a suite (no cells), with the reason.
    MethodSkipped { skipped: &'a SkippedMethod },
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

pub(crate) fn make_device(kind: DeviceKind) -> Result<Device, RunError> {
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda => Device::new_cuda(0).map_err(|e| {
            RunError::Input(format!("--device cuda: {e} (build with `--features cuda`; see README, GPU)"))
        }),
    }
}

/// Builds every method once so that bad hyper-parameters fail before any work.
pub(crate) fn validate_methods(spec: &RunSpec, registry: &Registry) -> Result<(), RunError> {
    for s in &spec.suites {
        for m in &s.methods {
            (registry.get(&m.name).map_err(RunError::Method)?.build)(&m.params).map_err(RunError::Method)?;
        }
    }
    Ok(())
}

/// Prepares the run directory: new, or a resumable run of the same spec. Never overwrites
/// anything else.
pub(crate) fn prepare_dir(spec: &RunSpec, opts: &RunOptions) -> Result<Option<Manifest>, RunError> {
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

/// A code version in one phrase: the commit, and the diff hash when the tree was dirty.
pub(crate) fn code_version(commit: &str, dirty: bool, diff_sha256: &str) -> String {
    if dirty {
        format!("commit {} with uncommitted changes (diff sha256 {})", short(commit), short(diff_sha256))
    } else {
        format!("commit {}", short(commit))
    }
}

/// Refuses to add cells to a run begun under other code (commit or dirty diff), unless forced.
pub(crate) fn check_same_code(dir: &Path, begun: &Provenance, now: &Provenance, force: bool) -> Result<(), RunError> {
    if force || (begun.commit == now.commit && begun.diff_sha256 == now.diff_sha256) {
        return Ok(());
    }
    Err(RunError::OutDir(format!(
        "{}: the run was begun at {}, this is {}; its cells would mix code versions (--force goes on anyway: every \
         cell records its commit and the manifest lists them all)",
        dir.display(),
        code_version(&begun.commit, begun.dirty, &begun.diff_sha256),
        code_version(&now.commit, now.dirty, &now.diff_sha256)
    )))
}

pub(crate) fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

struct SuiteRun {
    loaded: LoadedSuite,
    data: Materialized,
    /// Per user, the items rated anywhere in the dataset (sorted): shilling targets a user
    /// rated are not scored for that user.
    rated: Vec<Vec<u32>>,
    /// What MAE scores (the spec's `--mae-estimate`).
    mae: metarec_reports::metrics::MaeEstimate,
}

/// One cell of the plan.
struct PlanCell {
    suite: usize,
    method: usize,
    seed: u64,
    name: String,
    /// Index into the suite's variants of the meta-train perturbation this cell trains on.
    variant: Option<usize>,
}

impl PlanCell {
    fn label<'a>(&self, suites: &'a [SuiteRun]) -> Option<&'a str> {
        self.variant.map(|v| suites[self.suite].data.variants[v].label.as_str())
    }
}

/// What every cell record of one process gets in its [`CellRun`]: the spec's hash, the code
/// version, the machine and the device.
pub(crate) struct Stamp {
    config_sha256: String,
    prov: Provenance,
    host: String,
    device: String,
    slurm: Option<String>,
}

impl Stamp {
    pub(crate) fn new(spec: &RunSpec, prov: &Provenance) -> Stamp {
        Stamp {
            config_sha256: spec.config_hash(),
            prov: prov.clone(),
            host: provenance::host(),
            device: spec.device.name().to_string(),
            slurm: provenance::slurm_task(),
        }
    }
}

/// A run's data and plan: every suite loaded and split, and the cells in plan order (suite,
/// method, seed, then the clean cell before the cells of meta-train perturbations in suite-file
/// order). The plan index of a cell is its place in this order.
pub(crate) struct Grid {
    spec: RunSpec,
    suites: Vec<SuiteRun>,
    pub(crate) infos: Vec<DataInfo>,
    plan: Vec<PlanCell>,
    /// Methods of the spec not run on a suite (no cells), with the reason.
    pub(crate) skipped: Vec<SkippedMethod>,
}

/// Loads and splits every suite of `spec`, and plans its cells.
pub(crate) fn load_grid(
    spec: &RunSpec,
    registry: &Registry,
    data_dir: Option<&Path>,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Grid, RunError> {
    let mut suites = Vec::new();
    let mut infos = Vec::new();
    for loaded in spec.load_suites()? {
        if crate::offline::is_offline(&loaded) {
            return Err(RunError::Input(format!("{}: an off-policy suite runs with `bench` only", loaded.source)));
        }
        let data_dir = metarec_suites::store::resolve_data_dir(data_dir);
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
        infos.push(info);
        let rated = metarec_suites::data::rated_items(data.dataset.features.n_users(), &data.dataset.ratings);
        suites.push(SuiteRun { loaded, data, rated, mae: spec.mae_estimate });
    }

    // A reference method that needs the world's truth is skipped on a suite without it.
    let mut plan = Vec::new();
    let mut skipped = Vec::new();
    for (si, s) in spec.suites.iter().enumerate() {
        let trains: Vec<usize> =
            (0..suites[si].data.variants.len()).filter(|v| suites[si].data.variants[*v].trains).collect();
        for (mi, m) in s.methods.iter().enumerate() {
            let reason = skip_reason(registry, &m.name, &suites[si].data)
                .or_else(|| crate::interactive::skip_reason(&m.name, &m.params, &suites[si].loaded));
            if let Some(reason) = reason {
                skipped.push(SkippedMethod { suite: s.name.clone(), method: m.name.clone(), reason });
                continue;
            }
            for seed in &s.seeds {
                let runs_seed =
                    |v: &usize| suites[si].data.variants[*v].seeds.as_ref().is_none_or(|s| s.contains(seed));
                for variant in std::iter::once(None).chain(trains.iter().filter(|v| runs_seed(v)).map(|v| Some(*v))) {
                    plan.push(PlanCell { suite: si, method: mi, seed: *seed, name: m.name.clone(), variant });
                }
            }
        }
    }
    for sk in &skipped {
        on_event(&Event::MethodSkipped { skipped: sk });
    }
    Ok(Grid { spec: spec.clone(), suites, infos, plan, skipped })
}

impl Grid {
    /// Cells in the plan.
    pub(crate) fn len(&self) -> usize {
        self.plan.len()
    }

    fn suite_name(&self, k: usize) -> &str {
        &self.spec.suites[self.plan[k].suite].name
    }

    /// The pending record of cell `k`.
    pub(crate) fn pending(&self, k: usize) -> CellRecord {
        let c = &self.plan[k];
        CellRecord::pending(self.suite_name(k), &c.name, c.seed, c.label(&self.suites))
    }

    /// The stable id of cell `k` (its file stem under `cells/`).
    pub(crate) fn id(&self, k: usize) -> String {
        let c = &self.plan[k];
        rundir::cell_id(self.suite_name(k), &c.name, c.seed, c.label(&self.suites))
    }

    /// Cell `k`'s results file and record in the run directory `out`.
    pub(crate) fn paths(&self, out: &Path, k: usize) -> (PathBuf, PathBuf) {
        let c = &self.plan[k];
        rundir::cell_paths(out, self.suite_name(k), &c.name, c.seed, c.label(&self.suites))
    }

    /// Cell `k`'s record in `out` when it finished (`ok`, with its rows there: see
    /// [`Grid::rows_present`]).
    pub(crate) fn finished(&self, out: &Path, k: usize) -> Option<CellRecord> {
        let (_, rec) = self.paths(out, k);
        let text = std::fs::read_to_string(&rec).ok()?;
        let r = toml::from_str::<CellRecord>(&text).ok()?;
        (r.status == "ok" && self.rows_present(out, k)).then_some(r)
    }

    /// Whether the rows of cell `k` (whose record says `ok`) are in `out`: its row file, or,
    /// once the run was compacted, its member of results.csv.gz. A cell writes its row file
    /// before its record, so an `ok` record without one is a compacted cell.
    pub(crate) fn rows_present(&self, out: &Path, k: usize) -> bool {
        self.paths(out, k).0.is_file() || rundir::written(out, rundir::RESULTS).is_file()
    }

    /// Runs the cells `cells` (plan indices) on `jobs` threads and writes each one's files
    /// atomically as it finishes; returns their records. With `stop_after`, stops (as if
    /// killed) once that many have finished.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_cells(
        &self,
        registry: &Registry,
        device: &Device,
        out: &Path,
        cells: &[usize],
        jobs: usize,
        stop_after: Option<usize>,
        stamp: &Stamp,
        on_event: &(dyn Fn(&Event<'_>) + Sync),
    ) -> Result<Vec<(usize, CellRecord)>, RunError> {
        let next = AtomicUsize::new(0);
        let finished_now = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, CellRecord)>> = Mutex::new(Vec::new());
        let io_error: Mutex<Option<RunError>> = Mutex::new(None);
        let workers = jobs.min(cells.len().max(1));
        // No cell to run: no matmul threads to set up.
        let spare = SpareCores::new(if cells.is_empty() { 1 } else { jobs }, workers)?;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        if stop_after.is_some_and(|n| finished_now.load(Ordering::SeqCst) >= n) {
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(&k) = cells.get(i) else { return };
                        on_event(&Event::CellStarted { id: &self.id(k), index: k });
                        let record = match spare.run(|| self.run_one(registry, device, out, k, stamp)) {
                            Ok(r) => r,
                            Err(e) => {
                                io_error.lock().expect("lock").get_or_insert(e);
                                return;
                            }
                        };
                        on_event(&Event::CellFinished { record: &record });
                        results.lock().expect("lock").push((k, record));
                        finished_now.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        drop(spare);
        if let Some(e) = io_error.into_inner().expect("lock") {
            return Err(e);
        }
        Ok(results.into_inner().expect("lock"))
    }

    /// Runs cell `k` and writes its rows, top-k lists and record (the record last).
    fn run_one(
        &self,
        registry: &Registry,
        device: &Device,
        out: &Path,
        k: usize,
        stamp: &Stamp,
    ) -> Result<CellRecord, RunError> {
        let cell = &self.plan[k];
        let suite = &self.suites[cell.suite];
        let mspec = &self.spec.suites[cell.suite].methods[cell.method];
        let variant = cell.variant.map(|v| &suite.data.variants[v]);
        let started = utc_now();
        let (mut record, out_rows) = run_cell(suite, &mspec.name, &mspec.params, cell.seed, variant, registry, device);
        let p = &stamp.prov;
        record.ran = Some(CellRun {
            config_sha256: stamp.config_sha256.clone(),
            commit: p.commit.clone(),
            dirty: p.dirty,
            diff_sha256: p.diff_sha256.clone(),
            host: stamp.host.clone(),
            cpu_features: p.cpu_features.clone(),
            device: stamp.device.clone(),
            started,
            finished: utc_now(),
            slurm: stamp.slurm.clone(),
        });
        let (csv_path, rec_path) = self.paths(out, k);
        if let Some(o) = &out_rows {
            let mut buf = Vec::new();
            metarec_reports::results::write_rows(&mut buf, &o.rows, false).map_err(RunError::Report)?;
            write_atomic(&csv_path, &gz::compress(&buf))?;
            write_atomic(&rundir::rankings_path(&csv_path), &gz::compress(&rankings_csv(&o.rankings, false)?))?;
        }
        let text = toml::to_string(&record).expect("cell record serialises");
        write_atomic(&rec_path, text.as_bytes())?;
        Ok(record)
    }

    /// Assembles results.csv.gz (and rankings.csv.gz) in plan order from the cells that
    /// `manifest` records as finished, writes groups.csv (and the candidate files), the manifest
    /// (status, end time, contributing code versions) and the reports; when every cell
    /// finished, then removes the cells' row files ([`Grid::compact`]). Errs after writing
    /// everything when some cells failed.
    pub(crate) fn finish(&self, out: &Path, manifest: &mut Manifest, registry: &Registry) -> Result<(), RunError> {
        let records = &manifest.cells;
        let ok: Vec<usize> = (0..records.len()).filter(|k| records[*k].status == "ok").collect();
        let mut header = Vec::new();
        metarec_reports::results::write_rows(&mut header, &[], true).map_err(RunError::Report)?;
        let results = self.assemble(out, rundir::RESULTS, &header, &ok, |csv| csv.to_path_buf())?;
        write_atomic(&rundir::written(out, rundir::RESULTS), &results)?;
        write_groups(out, &self.suites)?;
        if self.suites.iter().any(|s| s.loaded.def.protocol.candidates.is_some()) {
            let ranks = self.assemble(out, rundir::RANKINGS, &rankings_csv(&[], true)?, &ok, rundir::rankings_path)?;
            write_atomic(&rundir::written(out, rundir::RANKINGS), &ranks)?;
            write_candidates(out, &self.suites)?;
        }
        let failed = records.iter().any(|r| r.status != "ok");
        manifest.commits = rundir::contributions(records);
        manifest.run.status = if failed { "failed" } else { "complete" }.into();
        manifest.run.finished = Some(utc_now());
        manifest.write(out)?;
        crate::report::write_reports(out, registry)?;
        if !failed {
            self.compact(out)?;
        }
        all_ok(&manifest.cells, out)
    }

    /// The gzip file `name` of `out`: the member of `header`, then the member of every cell of
    /// `ok` (plan indices, in order), read from the cell's file (`file` of its row file's
    /// path) or, for a compacted cell, taken from the file `name` assembled before (which then
    /// holds one member per cell of the plan, in plan order).
    fn assemble(
        &self,
        out: &Path,
        name: &str,
        header: &[u8],
        ok: &[usize],
        file: impl Fn(&Path) -> PathBuf,
    ) -> Result<Vec<u8>, RunError> {
        let mut bytes = gz::compress(header);
        // The members of the file assembled before, split once when a compacted cell needs one.
        let mut before: Option<Vec<Vec<u8>>> = None;
        let old = rundir::written(out, name);
        for &k in ok {
            let path = file(&self.paths(out, k).0);
            match std::fs::read(&path) {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let members = match before.take() {
                        Some(m) => m,
                        None => self.members_before(&old, &path)?,
                    };
                    bytes.extend_from_slice(&members[k + 1]);
                    before = Some(members);
                }
                Err(source) => return Err(RunError::Io { path: path.display().to_string(), source }),
            }
        }
        Ok(bytes)
    }

    /// The members of `old`, the file assembled before, for the compacted cell whose file
    /// `cell` is missing: one for the header and one per cell of the plan, or an error.
    fn members_before(&self, old: &Path, cell: &Path) -> Result<Vec<Vec<u8>>, RunError> {
        let text = std::fs::read(old).map_err(|e| compacted_error(cell, old, &e.to_string()))?;
        let members = gz::members(&text, &old.display().to_string()).map_err(RunError::Report)?;
        if members.len() != self.len() + 1 {
            let why = format!("it has {} gzip members, not one per cell and the header", members.len());
            return Err(compacted_error(cell, old, &why));
        }
        Ok(members.into_iter().map(<[u8]>::to_vec).collect())
    }

    /// Removes the row and top-k files of every cell: once results.csv.gz (and rankings.csv.gz)
    /// of a run whose every cell finished is written, each is one of its members
    /// ([`Grid::assemble`] takes it back). The records stay.
    fn compact(&self, out: &Path) -> Result<(), RunError> {
        for k in 0..self.len() {
            let csv = self.paths(out, k).0;
            for path in [rundir::rankings_path(&csv), csv] {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(RunError::Io { path: path.display().to_string(), source: e });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// A compacted cell's rows that cannot be taken back from the assembled file `old`.
fn compacted_error(cell: &Path, old: &Path, why: &str) -> RunError {
    RunError::Input(format!(
        "{}: missing, and {} cannot give it back ({why}); remove the cell's record (.toml) to run it again",
        cell.display(),
        old.display()
    ))
}

/// Whether cells may use the cores that idle workers leave ([`set_spare_cores`]).
static SPARE_CORES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lets a cell's matmuls use the cores that `--jobs` leaves idle when fewer cells than jobs run
/// at once (one method and one seed, a Slurm task of one cell with two CPUs): each of the `w`
/// workers then gets `jobs / w` matmul threads, while the cells run (`RAYON_NUM_THREADS` for
/// candle, which reads it at every matmul, and a rayon pool of that many threads that runs
/// the cell, on which gemm splits its work); a full grid keeps one thread per cell. Results do
/// not change: gemm splits a matmul by blocks of the output, each summed over the same inner
/// dimension in the same order by one thread (`tests/cell_threads.rs` checks byte identity
/// with every matmul split). Off by default: it sets the environment variable, so only a
/// process that runs one grid at a time and whose user did not set `RAYON_NUM_THREADS`
/// (the CLI) turns it on, before any thread starts.
pub fn set_spare_cores(on: bool) {
    SPARE_CORES.store(on, Ordering::SeqCst);
}

/// The matmul threads of each cell while `workers` cells run on `jobs` threads: `jobs /
/// workers` when [`set_spare_cores`] is on, else 1.
pub fn cell_threads(jobs: usize, workers: usize) -> usize {
    if SPARE_CORES.load(Ordering::SeqCst) { (jobs / workers.max(1)).max(1) } else { 1 }
}

/// The matmul threads of the cells of one `run_cells`: with more than one, the pool that runs
/// each cell and the `RAYON_NUM_THREADS` it set (restored when dropped, after the workers).
struct SpareCores {
    pool: Option<rayon::ThreadPool>,
    before: Option<std::ffi::OsString>,
}

impl SpareCores {
    fn new(jobs: usize, workers: usize) -> Result<SpareCores, RunError> {
        let threads = cell_threads(jobs, workers);
        if threads <= 1 {
            return Ok(SpareCores { pool: None, before: None });
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| RunError::Input(format!("cannot start {threads} matmul threads: {e}")))?;
        let before = std::env::var_os("RAYON_NUM_THREADS");
        // SAFETY: spare cores are on only in a process that runs one grid at a time (the CLI);
        // no cell worker has started yet, and no other thread reads the environment.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
        Ok(SpareCores { pool: Some(pool), before })
    }

    /// Runs `f` (one cell) on the pool, or on this thread.
    fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(pool) => pool.install(f),
            None => f(),
        }
    }
}

impl Drop for SpareCores {
    fn drop(&mut self) {
        if self.pool.is_none() {
            return;
        }
        // SAFETY: as in `new`: the cell workers have ended.
        unsafe {
            match self.before.take() {
                Some(v) => std::env::set_var("RAYON_NUM_THREADS", v),
                None => std::env::remove_var("RAYON_NUM_THREADS"),
            }
        }
    }
}

/// `Err(CellsFailed)` naming every record of `records` that is not `ok`, with its reason.
pub(crate) fn all_ok<'a>(records: impl IntoIterator<Item = &'a CellRecord>, dir: &Path) -> Result<(), RunError> {
    let (mut total, mut list) = (0, Vec::new());
    for r in records {
        total += 1;
        if r.status != "ok" {
            list.push(format!("{}: {}", r.name(), r.error.as_deref().unwrap_or("unknown")));
        }
    }
    if list.is_empty() {
        return Ok(());
    }
    Err(RunError::CellsFailed { failed: list.len(), total, dir: dir.display().to_string(), list: list.join("; ") })
}

/// The `[run]` of a start: a new run's, or a resumed one's with this command added.
pub(crate) fn run_info(previous: Option<&Manifest>, opts: &RunOptions) -> RunInfo {
    let now = utc_now();
    match previous {
        Some(m) => {
            let mut r = m.run.clone();
            r.resumed.push(format!("{now} {}", opts.command.join(" ")));
            r.finished = None;
            r
        }
        None => RunInfo {
            id: opts.out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            command: opts.command.clone(),
            started: now,
            finished: None,
            status: "running".into(),
            jobs: opts.jobs,
            resumed: Vec::new(),
            merged: None,
        },
    }
}

/// Checks `--shard i/n`.
pub fn check_shard(shard: Option<(usize, usize)>) -> Result<(), RunError> {
    match shard {
        Some((i, n)) if n == 0 || i >= n => {
            Err(RunError::Input(format!("--shard {i}/{n}: want i/n with 0 <= i < n (e.g. 0/4, 1/4, 2/4, 3/4)")))
        }
        _ => Ok(()),
    }
}

/// Runs (or resumes) the grid of `spec`; with `opts.shard`, only that shard's cells.
pub fn run(
    spec: &RunSpec,
    registry: &Registry,
    opts: &RunOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<RunOutcome, RunError> {
    if opts.jobs == 0 {
        return Err(RunError::Input("--jobs: must be at least 1".into()));
    }
    check_shard(opts.shard)?;
    if let Some(suites) = crate::offline::offline_suites(spec)? {
        return crate::offline::run(spec, &suites, registry, opts, on_event);
    }
    let device = make_device(spec.device)?;
    validate_methods(spec, registry)?;
    let previous = prepare_dir(spec, opts)?;
    let out = opts.out.clone();
    let (prov, diff) = provenance::collect(&opts.repo);
    if let Some(old) = &previous {
        check_same_code(&out, &old.provenance, &prov, opts.force)?;
    }
    let grid = load_grid(spec, registry, opts.data_dir.as_deref(), on_event)?;
    let mut records: Vec<CellRecord> =
        (0..grid.len()).map(|k| grid.finished(&out, k).unwrap_or_else(|| grid.pending(k))).collect();
    let in_shard = |k: &usize| opts.shard.is_none_or(|(i, n)| k % n == i);
    let mine: Vec<usize> = (0..grid.len()).filter(in_shard).collect();
    let already_done = mine.iter().filter(|k| records[**k].status == "ok").count();

    let mut info = run_info(previous.as_ref(), opts);
    // A shard leaves the manifest to the first start and to `merge`: shards may run at once.
    info.status = if opts.shard.is_some() { "planned" } else { "running" }.into();
    info.jobs = opts.jobs;
    let mut manifest = Manifest {
        run: info,
        provenance: prov.clone(),
        config_sha256: spec.config_hash(),
        data: grid.infos.clone(),
        spec: spec.clone(),
        skipped: grid.skipped.clone(),
        cells: records.clone(),
        commits: Vec::new(),
    };
    if opts.shard.is_none() || previous.is_none() {
        manifest.write(&out)?;
    }
    if let Some(d) = &diff {
        write_atomic(&out.join("dirty.patch"), d.as_bytes())?;
    }
    on_event(&Event::Planned { total: mine.len(), already_done, dir: &out });

    let pending: Vec<usize> = mine.iter().copied().filter(|k| records[*k].status != "ok").collect();
    let stamp = Stamp::new(spec, &prov);
    for (k, r) in grid.run_cells(registry, &device, &out, &pending, opts.jobs, opts.stop_after, &stamp, on_event)? {
        records[k] = r;
    }
    manifest.cells = records.clone();
    let interrupted = mine.iter().any(|k| records[*k].status == "pending");
    if interrupted {
        if opts.shard.is_none() {
            manifest.run.status = "interrupted".into();
            manifest.write(&out)?;
        }
        return Err(RunError::Interrupted { dir: out.display().to_string() });
    }
    if opts.shard.is_some() {
        all_ok(mine.iter().map(|k| &records[*k]), &out)?;
        return Ok(RunOutcome { dir: out, manifest });
    }
    grid.finish(&out, &mut manifest, registry)?;
    Ok(RunOutcome { dir: out, manifest })
}

/// Why `method` is not run on `data`, if it is not: a reference method reads the world's truth,
/// which only synthetic suites have.
fn skip_reason(registry: &Registry, method: &str, data: &Materialized) -> Option<String> {
    let info = registry.get(method).ok()?;
    if metarec_methods::mtl::needs_objectives(method) && data.objectives.is_none() {
        return Some("a multi-task method that needs a multi-objective suite (an [objectives] table); this suite has one objective".into());
    }
    (info.kind == MethodKind::Reference && data.dataset.truth.is_none())
        .then(|| "a reference method that needs the ground truth of a synthetic world; this suite has none".into())
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

/// What a cell's meta-training gets: the stream labelled "meta-train" of the cell's seed `base`
/// (see [`cell_seed`]). Rating cells, interactive cells and tuning trials all start here, so a
/// tuning trial at the untuned values trains the bench cell's model.
pub(crate) fn meta_train_ctx(base: u64, device: &Device) -> Ctx {
    Ctx { rng: Rng::from_labels(base, &["meta-train"]), device: device.clone() }
}

/// One user's top-k list in a cell (candidate-ranking protocol): a row of `rankings.csv`.
struct RankRow {
    scenario: &'static str,
    perturbation: String,
    user: u64,
    /// External item ids, best first.
    top: Vec<u64>,
}

/// What a cell produces.
struct CellOutput {
    rows: Vec<ResultRow>,
    rankings: Vec<(String, String, u64, RankRow)>,
    /// The point estimate MAE scored (`median` or `mean`; the manifest's note `mae_scores`).
    mae_scored: Option<&'static str>,
}

/// `rankings.csv` bytes: `suite,scenario,method,seed,perturbation,user,top` (top: space-separated
/// external item ids, best first).
fn rankings_csv(rows: &[(String, String, u64, RankRow)], header: bool) -> Result<Vec<u8>, RunError> {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let err = |e: csv::Error| RunError::Io { path: "rankings.csv".into(), source: std::io::Error::other(e) };
    if header {
        w.write_record(["suite", "scenario", "method", "seed", "perturbation", "user", "top"]).map_err(err)?;
    }
    for (suite, method, seed, r) in rows {
        let top: Vec<String> = r.top.iter().map(u64::to_string).collect();
        w.write_record([
            suite.as_str(),
            r.scenario,
            method.as_str(),
            &seed.to_string(),
            &r.perturbation,
            &r.user.to_string(),
            &top.join(" "),
        ])
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| RunError::Io { path: "rankings.csv".into(), source: std::io::Error::other(e.to_string()) })
}

/// `candidates.csv` (`suite,scenario,user,candidates,relevant`: each test user's candidate items,
/// the query items first, and the liked ones) and `items.csv` (`suite,item,ratings`: every
/// item's number of meta-train ratings, its popularity as the methods could see it), for the
/// suites with the candidate-ranking protocol. Both come from the clean split: perturbations
/// never change queries or candidates.
fn write_candidates(out: &Path, suites: &[SuiteRun]) -> Result<(), RunError> {
    let io = |name: &str, e: String| RunError::Io {
        path: out.join(name).display().to_string(),
        source: std::io::Error::other(e),
    };
    let mut c = csv::Writer::from_writer(Vec::new());
    let mut it = csv::Writer::from_writer(Vec::new());
    c.write_record(["suite", "scenario", "user", "candidates", "relevant"])
        .map_err(|e| io("candidates.csv", e.to_string()))?;
    it.write_record(["suite", "item", "ratings"]).map_err(|e| io("items.csv", e.to_string()))?;
    for s in suites {
        let Some(proto) = &s.loaded.def.protocol.candidates else { continue };
        let f = &s.data.dataset.features;
        let name = s.loaded.name();
        for (scenario, tasks) in &s.data.split.test {
            for t in tasks {
                let ids = |items: &mut dyn Iterator<Item = u32>| {
                    items.map(|i| f.item_ids[i as usize].to_string()).collect::<Vec<_>>().join(" ")
                };
                let cands = ids(&mut t.query.iter().map(|r| r.item).chain(t.negatives.iter().copied()));
                let liked = ids(&mut t.query.iter().filter(|r| r.value >= proto.like).map(|r| r.item));
                let user = f.user_ids[t.user as usize].to_string();
                c.write_record([name, scenario.name(), &user, &cands, &liked])
                    .map_err(|e| io("candidates.csv", e.to_string()))?;
            }
        }
        let mut count = vec![0u64; f.n_items()];
        for r in s.data.split.meta_train.iter().flat_map(|h| &h.ratings) {
            count[r.item as usize] += 1;
        }
        for (i, n) in count.iter().enumerate() {
            it.write_record([name, &f.item_ids[i].to_string(), &n.to_string()])
                .map_err(|e| io("items.csv", e.to_string()))?;
        }
    }
    let c = c.into_inner().map_err(|e| io("candidates.csv", e.to_string()))?;
    let it = it.into_inner().map_err(|e| io("items.csv", e.to_string()))?;
    write_atomic(&rundir::written(out, rundir::CANDIDATES), &gz::compress(&c))?;
    write_atomic(&out.join("items.csv"), &it)
}

/// Runs one cell; never panics (a panicking method fails its cell).
fn run_cell(
    suite: &SuiteRun,
    method: &str,
    params: &toml::Table,
    seed: u64,
    variant: Option<&Variant>,
    registry: &Registry,
    device: &Device,
) -> (CellRecord, Option<CellOutput>) {
    let mut record = CellRecord::pending(suite.loaded.name(), method, seed, variant.map(|v| v.label.as_str()));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cell_body(suite, method, params, seed, variant, registry, device, &mut record)
    }));
    match outcome {
        Ok(Ok(out)) => {
            record.status = "ok".into();
            (record, Some(out))
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

/// One scoring pass: a split (clean or perturbed) with its feature table and label.
struct Pass<'a> {
    perturbation: &'a str,
    features: &'a Arc<Features>,
    split: &'a Split,
}

#[allow(clippy::too_many_arguments)]
fn cell_body(
    suite: &SuiteRun,
    method_name: &str,
    params: &toml::Table,
    seed: u64,
    variant: Option<&Variant>,
    registry: &Registry,
    device: &Device,
    record: &mut CellRecord,
) -> Result<CellOutput, String> {
    let info = registry.get(method_name).map_err(|e| e.to_string())?;
    let method = (info.build)(params).map_err(|e| e.to_string())?;
    let base = cell_seed(suite.loaded.name(), method_name, seed);
    let ds = &suite.data.dataset;
    // A meta-train perturbation's cell trains on its own split and features; the clean cell on
    // the clean ones.
    let (features, split) = match variant {
        Some(v) => (&v.features, &v.split),
        None => (&ds.features, &suite.data.split),
    };
    let train = TrainData {
        features,
        meta_train: &split.meta_train,
        validation: &split.validation,
        rating_min: ds.rating_min,
        rating_max: ds.rating_max,
        truth: if info.kind == MethodKind::Reference { ds.truth.as_deref() } else { None },
    };
    if let Some(cfg) = crate::interactive::config(&suite.loaded) {
        // The online protocol: episodes instead of query ratings (src/interactive.rs).
        let t0 = Instant::now();
        let (rows, report, meta_train_s) = crate::interactive::cell(
            &suite.loaded,
            &suite.data,
            cfg,
            method_name,
            params,
            seed,
            base,
            registry,
            device,
        )?;
        record.meta_train_s = round_ms(meta_train_s);
        record.adapt_s = round_ms(t0.elapsed().as_secs_f64() - meta_train_s);
        (record.steps, record.chosen_step, record.validation_loss, record.notes) =
            (report.steps, report.chosen_step, report.validation_loss, report.notes);
        return Ok(CellOutput { rows, rankings: Vec::new(), mae_scored: None });
    }
    let t0 = Instant::now();
    // The same meta-training stream as the clean cell: the perturbation is the only difference.
    let mut ctx = meta_train_ctx(base, device);
    let model = match &suite.data.objectives {
        Some(o) => method.meta_train_objectives(&train, &o.for_training(split), &mut ctx),
        None => method.meta_train(&train, &mut ctx),
    }
    .map_err(|e| e.to_string())?;
    record.meta_train_s = round_ms(t0.elapsed().as_secs_f64());
    let report = model.report();
    record.steps = report.steps;
    record.chosen_step = report.chosen_step;
    record.validation_loss = report.validation_loss;
    record.notes = report.notes;

    let t1 = Instant::now();
    // The clean cell scores the clean split, then each test-time variant (perturbed support
    // sets, same queries) with the one meta-trained model; a meta-train perturbation's cell
    // scores its own split.
    let passes: Vec<Pass> = match variant {
        Some(v) => vec![Pass { perturbation: &v.label, features, split }],
        None => std::iter::once(Pass { perturbation: "none", features, split })
            .chain(suite.data.variants.iter().filter(|v| !v.trains).map(|v| Pass {
                perturbation: &v.label,
                features: &v.features,
                split: &v.split,
            }))
            .collect(),
    };
    let mut out = CellOutput { rows: Vec::new(), rankings: Vec::new(), mae_scored: None };
    let scorer = Scorer { suite, method_name, seed, base, device };
    for pass in &passes {
        for (scenario, tasks) in &pass.split.test {
            for task in tasks {
                scorer.task(&*model, pass, *scenario, task, &mut out)?;
            }
        }
    }
    record.adapt_s = round_ms(t1.elapsed().as_secs_f64());
    if let Some(e) = out.mae_scored {
        record.notes.insert("mae_scores".into(), e.into());
    }
    Ok(out)
}

/// Adapts to and scores test tasks for one cell.
struct Scorer<'a> {
    suite: &'a SuiteRun,
    method_name: &'a str,
    seed: u64,
    base: u64,
    device: &'a Device,
}

impl Scorer<'_> {
    fn task(
        &self,
        model: &dyn Model,
        pass: &Pass,
        scenario: Scenario,
        task: &Task,
        out: &mut CellOutput,
    ) -> Result<(), String> {
        let (method_name, perturbation, features) = (self.method_name, pass.perturbation, pass.features);
        let user_id = features.user_ids[task.user as usize];
        let where_ = if perturbation == "none" {
            format!("scenario {scenario}, user {user_id}")
        } else {
            format!("scenario {scenario}, user {user_id}, perturbation {perturbation}")
        };
        // The clean adaptation's generator is labelled as before, so clean results do not
        // depend on which perturbations a suite declares.
        let mut labels = vec![scenario.name().to_string(), task.user.to_string()];
        if perturbation != "none" {
            labels.push(perturbation.to_string());
        }
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        let mut ctx = Ctx { rng: Rng::from_labels(self.base, &labels), device: self.device.clone() };
        let support = SupportSet { user: task.user, support: &task.support, features };
        let objectives = self.suite.data.objectives.as_ref();
        let adapted = match objectives {
            Some(o) => model.adapt_objectives(&support, &o.for_support(task), &mut ctx),
            None => model.adapt(&support, &mut ctx),
        }
        .map_err(|e| format!("{e} ({where_})"))?;
        let predict = |items: &[u32]| -> Result<Predictions, String> {
            let pred = adapted.predict(items).map_err(|e| format!("{e} ({where_})"))?;
            let lens_ok = pred.mean.len() == items.len() && pred.median.as_ref().is_none_or(|m| m.len() == items.len());
            if !lens_ok {
                return Err(format!(
                    "method `{method_name}` returned {} predictions for {} items ({where_})",
                    pred.mean.len(),
                    items.len()
                ));
            }
            if let Some(bad) = pred.mean.iter().chain(pred.median.iter().flatten()).find(|x| !x.is_finite()) {
                return Err(format!("method `{method_name}` diverged: predicted {bad} ({where_})"));
            }
            Ok(pred)
        };
        // One prediction call per user for everything scored below: the query items, then the
        // sampled unrated candidates, then the shilling targets the user has not rated (each
        // method's fixed cost per call, a forward pass over a handful of rows, is paid once).
        let items: Vec<u32> = task.query.iter().map(|r| r.item).collect();
        let proto = self.suite.loaded.def.protocol.candidates.as_ref();
        let cands_on = proto.is_some() && !task.negatives.is_empty();
        let targets = &self.suite.data.shilling_targets;
        let unrated: Vec<u32> = if !targets.is_empty() && matches!(scenario, Scenario::Warm | Scenario::UserCold) {
            let rated = &self.suite.rated[task.user as usize];
            targets.iter().copied().filter(|t| rated.binary_search(t).is_err()).collect()
        } else {
            Vec::new()
        };
        let mut all = items.clone();
        if cands_on {
            all.extend_from_slice(&task.negatives);
        }
        let n_cands = all.len();
        all.extend_from_slice(&unrated);
        let all_pred = predict(&all)?;
        let part = |r: std::ops::Range<usize>| Predictions {
            mean: all_pred.mean[r.clone()].to_vec(),
            median: all_pred.median.as_ref().map(|m| m[r].to_vec()),
        };
        let pred = part(0..items.len());
        out.mae_scored = Some(score::mae_point(&pred, self.suite.mae).1);
        let main = score::score(&pred, &task.query, self.suite.loaded.def.protocol.like_threshold(), self.suite.mae);
        let mut metrics: Vec<(String, f64)> = match objectives {
            // Multi-objective suites: names carry the objective.
            Some(o) => {
                let per = adapted.predict_objectives(&items).map_err(|e| format!("{e} ({where_})"))?;
                // The task's sampled unrated items, where the suite labels them (`rated`).
                let first = o.full.unrated.partition_point(|p| p.0 < task.user);
                let labelled = o.full.unrated.get(first).is_some_and(|p| p.0 == task.user);
                let neg = if per.is_some() && labelled && !task.negatives.is_empty() {
                    adapted.predict_objectives(&task.negatives).map_err(|e| format!("{e} ({where_})"))?
                } else {
                    None
                };
                let unrated = neg.as_deref().map(|p| (task.negatives.as_slice(), p));
                crate::objectives::score(&o.full, main, per.as_deref(), &task.query, unrated)
                    .map_err(|e| format!("method `{method_name}`: {e} ({where_})"))?
            }
            None => main.into_iter().map(|(m, v)| (m.to_string(), v)).collect(),
        };

        // Candidate ranking: the query items and the sampled unrated ones, by predicted rating;
        // ties in a seeded random order (the same for every perturbation of the user).
        let mut ranked: Vec<(u32, f64)> = Vec::new();
        if let Some(c) = proto.filter(|_| cands_on) {
            let cands = &all[..n_cands];
            let scores = &all_pred.mean[..n_cands];
            let mut order = Rng::from_labels(self.base, &[scenario.name(), &task.user.to_string(), "rank"])
                .sample_indices(cands.len(), cands.len());
            order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
            ranked = order.iter().map(|i| (cands[*i], scores[*i])).collect();
            let list: Vec<u32> = ranked.iter().map(|x| x.0).collect();
            let liked: Vec<u32> = task.query.iter().filter(|r| r.value >= c.like).map(|r| r.item).collect();
            if !liked.is_empty() {
                let hr = fairness::hit_ratio_at(c.k, &list, &liked).map_err(|e| format!("{e} ({where_})"))?;
                let nd = fairness::ndcg_binary_at(c.k, &list, &liked).map_err(|e| format!("{e} ({where_})"))?;
                metrics.push((format!("cand-hr@{}", c.k), hr));
                metrics.push((format!("cand-ndcg@{}", c.k), nd));
            }
            out.rankings.push((
                self.suite.loaded.name().to_string(),
                method_name.to_string(),
                self.seed,
                RankRow {
                    scenario: scenario.name(),
                    perturbation: perturbation.to_string(),
                    user: user_id,
                    top: list.iter().take(c.k).map(|i| features.item_ids[*i as usize]).collect(),
                },
            ));
        }

        // Shilling targets (existing items, so the warm and user-cold scenarios only): their
        // mean predicted rating, and how many reach the top k of the candidates.
        if !unrated.is_empty() {
            let tp = &all_pred.mean[n_cands..];
            metrics.push(("target-score".into(), tp.iter().sum::<f64>() / tp.len() as f64));
            if let Some(c) = proto.filter(|_| !ranked.is_empty()) {
                let mut list: Vec<(u32, f64)> = ranked.iter().copied().filter(|(i, _)| !unrated.contains(i)).collect();
                list.extend(unrated.iter().copied().zip(tp.iter().copied()));
                if let Some(hr) = metarec_suites::perturb::hit_ratio(&[list], &unrated, c.k) {
                    metrics.push((format!("target-hr@{}", c.k), hr));
                }
            }
        }

        for (metric, value) in metrics {
            out.rows.push(ResultRow {
                suite: self.suite.loaded.name().to_string(),
                scenario: scenario.name().to_string(),
                method: method_name.to_string(),
                seed: self.seed,
                perturbation: perturbation.to_string(),
                user: user_id,
                metric,
                value,
            });
        }
        Ok(())
    }
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

/// Provenance summary for reports. A run whose cells came from more than one code version
/// (a forced resume or merge) names every commit, joined by ` + `.
pub fn provenance_for_reports(m: &Manifest) -> metarec_reports::doc::Provenance {
    let mixed = m.commits.len() > 1;
    let mut commits: Vec<&str> = Vec::new();
    for c in &m.commits {
        if !commits.contains(&c.commit.as_str()) {
            commits.push(&c.commit);
        }
    }
    metarec_reports::doc::Provenance {
        commit: if mixed { commits.join(" + ") } else { m.provenance.commit.clone() },
        dirty: if mixed { m.commits.iter().any(|c| c.dirty) } else { m.provenance.dirty },
        config_hash: m.config_sha256.clone(),
        data_hashes: m.data.iter().map(|d| (d.suite.clone(), d.sha256.clone())).collect(),
        run_id: m.run.id.clone(),
    }
}
