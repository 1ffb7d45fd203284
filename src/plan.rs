//! Planned runs: a run directory whose cells are run by independent processes (Slurm array
//! tasks, or anything else) and assembled afterwards by [`crate::merge`].
//!
//! `plan` resolves the grid as `bench` does and writes, without running anything:
//!
//! ```text
//! DIR/manifest.toml   the resolved spec, data hashes, provenance; status `planned`
//! DIR/plan.toml       the cells in plan order with stable ids, and the array task of each
//! DIR/array.sbatch    #SBATCH --array=0-(T-1)%K; each task runs `BINARY cell DIR --task $SLURM_ARRAY_TASK_ID`
//! DIR/logs/           Slurm's per-task logs, %A_%a.out
//! ```
//!
//! A task runs its cells ([`run_planned`]) into `DIR/cells/` exactly as `bench` would, each
//! written atomically, a finished one skipped; it never writes the manifest, so any number of
//! tasks may run at once on a shared file system. Every cell record carries the spec's hash,
//! the commit and dirty-diff hash, the host, CPU features, device, Slurm task and start/end.
//!
//! When the grid has more cells than the site allows array tasks (Slurm's `MaxArraySize`,
//! 1001 by default: indices 0..=1000), several cells are packed into one task.

use crate::RunError;
use crate::provenance;
use crate::rundir::{CellRecord, Manifest, write_atomic};
use crate::runner::{self, Event, Grid, RunOptions, Stamp, load_grid};
use crate::spec::RunSpec;
use metarec_methods::Registry;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The cell list of a planned run, `DIR/plan.toml`.
pub const PLAN_FILE: &str = "plan.toml";
/// The Slurm job array script of a planned run.
pub const SBATCH_FILE: &str = "array.sbatch";

/// How the grid goes onto Slurm: resources of one array task, the concurrency cap, packing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Time limit of one task, in Slurm's syntax (`30`, `1:00:00`, `1-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// CPUs of one task; its cells run on that many threads.
    pub cpus_per_task: usize,
    /// Memory of one task, in Slurm's syntax (`4G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Generic resources of one task (`gpu:1`); `gpu:1` by default for a `--device cuda` run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
    /// At most this many tasks at once (`%K`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Cells per task (raised when the tasks would exceed `array_limit`).
    pub cells_per_task: usize,
    /// The site's `MaxArraySize`: task indices stay below it.
    pub array_limit: usize,
    /// The binary every task runs (absolute; on a file system every node sees).
    pub binary: PathBuf,
    /// The working directory of every task: the repository, so cells record its commit.
    pub repo: PathBuf,
    /// The data directory passed to every task, when not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

/// One cell of `plan.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedCell {
    pub index: usize,
    /// Stable id: the cell's file stem under `cells/`.
    pub id: String,
    /// The array task that runs it.
    pub task: usize,
}

/// `plan.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    pub config_sha256: String,
    pub tasks: usize,
    pub cells_per_task: usize,
    pub slurm: SlurmOptions,
    pub cells: Vec<PlannedCell>,
}

impl PlanFile {
    /// Reads `DIR/plan.toml`; `None` when there is none (a `bench --shard` run).
    pub fn read(dir: &Path) -> Result<Option<PlanFile>, RunError> {
        let path = dir.join(PLAN_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|source| RunError::Io { path: path.display().to_string(), source })?;
        toml::from_str(&text).map(Some).map_err(|e| RunError::Manifest {
            path: path.display().to_string(),
            message: metarec_suites::suite::one_line(&e.to_string()),
        })
    }

    /// The plan indices of the cells of array task `task`.
    pub fn task_cells(&self, task: usize) -> std::ops::Range<usize> {
        let n = self.cells.len();
        (task * self.cells_per_task).min(n)..((task + 1) * self.cells_per_task).min(n)
    }

    /// The `sbatch` command that submits only the array tasks of the cells `cells` (plan
    /// indices) of the run in `dir`.
    pub fn resubmit_line(&self, dir: &Path, cells: &[usize]) -> String {
        let mut tasks: Vec<usize> = cells.iter().map(|k| k / self.cells_per_task).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let cap = self.slurm.concurrency.map(|k| format!("%{k}")).unwrap_or_default();
        let script = dir.join(SBATCH_FILE);
        format!("sbatch --array={}{cap} {}", ranges(&tasks), shell_quote(&script.display().to_string()))
    }
}

/// `0,2-4,7` for `[0, 2, 3, 4, 7]` (sorted, distinct).
pub fn ranges(xs: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < xs.len() {
        let mut j = i;
        while j + 1 < xs.len() && xs[j + 1] == xs[j] + 1 {
            j += 1;
        }
        parts.push(if j == i { xs[i].to_string() } else { format!("{}-{}", xs[i], xs[j]) });
        i = j + 1;
    }
    parts.join(",")
}

/// `s` as one shell word: unchanged when it is plain, else single-quoted.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:@%,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What [`plan`] wrote.
#[derive(Debug)]
pub struct Planned {
    pub dir: PathBuf,
    pub plan: PlanFile,
    /// Cells already finished in the directory (a re-plan of a started run).
    pub already_done: usize,
    /// Packing was raised above the requested cells per task to stay under the array limit.
    pub packed: bool,
}

impl Planned {
    /// The command that submits the whole array.
    pub fn submit_line(&self) -> String {
        format!("sbatch {}", shell_quote(&self.dir.join(SBATCH_FILE).display().to_string()))
    }
}

/// A value written into an `#SBATCH` line or the task script: one line, no quotes.
fn check_value(what: &str, v: &str) -> Result<(), RunError> {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control() || "'\"\\`$#".contains(c)) {
        return Err(RunError::Input(format!("{what} `{v}`: empty, or holds a space, quote or shell character")));
    }
    Ok(())
}

/// A path written into the script: absolute, and no character that Slurm's `#SBATCH` parser
/// or its `%` file-name patterns would change.
fn check_path(what: &str, p: &Path) -> Result<(), RunError> {
    let s = p.display().to_string();
    if !p.is_absolute() || s.chars().any(|c| c.is_whitespace() || c.is_control() || "'\"\\`$#%".contains(c)) {
        return Err(RunError::Input(format!(
            "{what} {s}: must be an absolute path without spaces, quotes, `$`, `#` or `%` (Slurm reads it from \
             #SBATCH lines)"
        )));
    }
    Ok(())
}

/// Plans the grid of `spec` into `opts.out` for Slurm: manifest, `plan.toml`, `array.sbatch`
/// and `logs/`. Runs nothing. An existing run of the same spec is re-planned (its finished
/// cells stay finished); anything else is refused.
pub fn plan(
    spec: &RunSpec,
    registry: &Registry,
    opts: &RunOptions,
    slurm: &SlurmOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Planned, RunError> {
    for (what, v) in [("--cpus-per-task", slurm.cpus_per_task), ("--cells-per-task", slurm.cells_per_task)]
        .into_iter()
        .chain([("--array-limit", slurm.array_limit), ("--concurrency", slurm.concurrency.unwrap_or(1))])
    {
        if v == 0 {
            return Err(RunError::Input(format!("{what}: must be at least 1")));
        }
    }
    for (what, v) in
        [("--partition", &slurm.partition), ("--time", &slurm.time), ("--mem", &slurm.mem), ("--gres", &slurm.gres)]
    {
        if let Some(v) = v {
            check_value(what, v)?;
        }
    }
    check_path("--binary", &slurm.binary)?;
    if !slurm.binary.is_file() {
        return Err(RunError::Input(format!("--binary {}: no such file", slurm.binary.display())));
    }
    check_path("the repository", &slurm.repo)?;
    if let Some(d) = &slurm.data_dir {
        check_path("--data-dir", d)?;
    }
    let out = std::path::absolute(&opts.out)
        .map_err(|source| RunError::Io { path: opts.out.display().to_string(), source })?;
    check_path("--out", &out)?;
    runner::validate_methods(spec, registry)?;
    let previous = runner::prepare_dir(spec, opts)?;
    let dir =
        opts.out.canonicalize().map_err(|source| RunError::Io { path: opts.out.display().to_string(), source })?;
    check_path("--out", &dir)?;
    let (prov, diff) = provenance::collect(&opts.repo);
    if let Some(old) = &previous {
        runner::check_same_code(&dir, &old.provenance, &prov, opts.force)?;
    }
    let grid = load_grid(spec, registry, slurm.data_dir.as_deref(), on_event)?;
    let n = grid.len();
    let per = slurm.cells_per_task.max(n.div_ceil(slurm.array_limit));
    let tasks = n.div_ceil(per);
    let cells: Vec<PlannedCell> = (0..n).map(|k| PlannedCell { index: k, id: grid.id(k), task: k / per }).collect();
    let mut slurm = slurm.clone();
    if spec.device == crate::spec::DeviceKind::Cuda && slurm.gres.is_none() {
        slurm.gres = Some("gpu:1".into());
    }
    let packed = per > slurm.cells_per_task;
    let plan = PlanFile { config_sha256: spec.config_hash(), tasks, cells_per_task: per, slurm, cells };

    let records: Vec<CellRecord> = (0..n).map(|k| grid.finished(&dir, k).unwrap_or_else(|| grid.pending(k))).collect();
    let already_done = records.iter().filter(|r| r.status == "ok").count();
    let now = provenance::utc_now();
    let run = match previous {
        Some(m) => crate::rundir::RunInfo {
            status: "planned".into(),
            resumed: [m.run.resumed, vec![format!("{now} {}", opts.command.join(" "))]].concat(),
            ..m.run
        },
        None => crate::rundir::RunInfo {
            id: dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(),
            command: opts.command.clone(),
            started: now,
            finished: None,
            status: "planned".into(),
            jobs: task_jobs(spec.device, &plan.slurm),
            resumed: Vec::new(),
            merged: None,
        },
    };
    let manifest = Manifest {
        run,
        provenance: prov,
        config_sha256: spec.config_hash(),
        data: grid.infos.clone(),
        spec: spec.clone(),
        skipped: grid.skipped.clone(),
        cells: records,
        commits: Vec::new(),
    };
    std::fs::create_dir_all(dir.join("logs"))
        .map_err(|source| RunError::Io { path: dir.join("logs").display().to_string(), source })?;
    if let Some(d) = &diff {
        write_atomic(&dir.join("dirty.patch"), d.as_bytes())?;
    }
    let text = toml::to_string(&plan).expect("plan serialises");
    write_atomic(&dir.join(PLAN_FILE), text.as_bytes())?;
    write_atomic(&dir.join(SBATCH_FILE), sbatch_script(&dir, &plan, n, spec.device).as_bytes())?;
    set_executable(&dir.join(SBATCH_FILE));
    manifest.write(&dir)?;
    Ok(Planned { dir, plan, already_done, packed })
}

#[cfg(unix)]
fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
}

#[cfg(not(unix))]
fn set_executable(_: &Path) {}

/// Cells one array task runs at a time: one per CPU of the task, or one at a time on a GPU, where
/// the cells' contexts share the task's one device and slow each other down (ARCHITECTURE, "GPU").
pub fn task_jobs(device: crate::spec::DeviceKind, slurm: &SlurmOptions) -> usize {
    if device == crate::spec::DeviceKind::Cuda { 1 } else { slurm.cpus_per_task }
}

/// The job array script.
fn sbatch_script(dir: &Path, plan: &PlanFile, cells: usize, device: crate::spec::DeviceKind) -> String {
    let s = &plan.slurm;
    let d = dir.display();
    let name: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect())
        .unwrap_or_default();
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!(
            "# metarec: {cells} cells of the run {d}, {} per array task (written by `cargo xtask plan`).",
            plan.cells_per_task
        ),
        format!("# Submit: sbatch {d}/{SBATCH_FILE}; when every task has ended: {} merge {d}", s.binary.display()),
        format!("#SBATCH --job-name=metarec-{name}"),
        format!(
            "#SBATCH --array=0-{}{}",
            plan.tasks.saturating_sub(1),
            s.concurrency.map(|k| format!("%{k}")).unwrap_or_default()
        ),
        format!("#SBATCH --output={d}/logs/%A_%a.out"),
        format!("#SBATCH --chdir={}", s.repo.display()),
        format!("#SBATCH --cpus-per-task={}", s.cpus_per_task),
        "#SBATCH --ntasks=1".to_string(),
    ];
    for (key, v) in [("partition", &s.partition), ("time", &s.time), ("mem", &s.mem), ("gres", &s.gres)] {
        if let Some(v) = v {
            lines.push(format!("#SBATCH --{key}={v}"));
        }
    }
    let data = s.data_dir.as_ref().map(|p| format!(" --data-dir {}", p.display())).unwrap_or_default();
    lines.extend([
        "set -euo pipefail".to_string(),
        format!(
            "exec {} cell {d} --task \"$SLURM_ARRAY_TASK_ID\" --jobs {}{data}",
            s.binary.display(),
            task_jobs(device, s)
        ),
    ]);
    lines.join("\n") + "\n"
}

/// Which cells of a planned run to run.
#[derive(Clone, Copy, Debug)]
pub enum Select {
    /// One cell, by plan index.
    Cell(usize),
    /// The cells of one array task.
    Task(usize),
}

/// How one task runs.
#[derive(Clone, Debug)]
pub struct CellOptions {
    /// Threads (one cell each).
    pub jobs: usize,
    /// Run under another commit or dirty diff than the plan's, or over a record of another spec.
    pub force: bool,
    /// Where to look for the git repository.
    pub repo: PathBuf,
    pub data_dir: Option<PathBuf>,
}

/// What one task did.
#[derive(Debug)]
pub struct TaskOutcome {
    /// Plan indices of the cells selected.
    pub cells: Vec<usize>,
    /// Those already finished, skipped.
    pub skipped: Vec<usize>,
    /// Records of the cells run now.
    pub ran: Vec<(usize, CellRecord)>,
}

/// The planned run in `dir`: its manifest, plan file (if any) and loaded grid, checked against
/// each other and against the data as it loads here.
pub(crate) fn open(
    dir: &Path,
    registry: &Registry,
    data_dir: Option<&Path>,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<(Manifest, Option<PlanFile>, Grid), RunError> {
    if !dir.join("manifest.toml").is_file() {
        return Err(RunError::Input(format!(
            "{}: not a planned run (no manifest.toml); make one with `cargo xtask plan --out DIR` or `cargo xtask \
             bench --shard i/n --out DIR`",
            dir.display()
        )));
    }
    let manifest = Manifest::read(dir)?;
    let plan = PlanFile::read(dir)?;
    let grid = load_grid(&manifest.spec, registry, data_dir, on_event)?;
    for (want, got) in manifest.data.iter().zip(&grid.infos) {
        if want.sha256 != got.sha256 || want.split_sha256 != got.split_sha256 {
            return Err(RunError::Input(format!(
                "{}: suite `{}` loads here as data {} split {}, the plan has data {} split {} (another data \
                 directory or version?)",
                dir.display(),
                want.suite,
                runner::short(&got.sha256),
                runner::short(&got.split_sha256),
                runner::short(&want.sha256),
                runner::short(&want.split_sha256)
            )));
        }
    }
    if let Some(p) = &plan {
        let path = dir.join(PLAN_FILE);
        if p.config_sha256 != manifest.config_sha256 {
            return Err(RunError::Input(format!(
                "{}: planned for config {}, but the manifest's is {}",
                path.display(),
                runner::short(&p.config_sha256),
                runner::short(&manifest.config_sha256)
            )));
        }
        if p.cells.len() != grid.len() {
            return Err(RunError::Input(format!(
                "{}: lists {} cells, the manifest's spec has {}",
                path.display(),
                p.cells.len(),
                grid.len()
            )));
        }
        if let Some(c) = p.cells.iter().enumerate().find(|(k, c)| c.index != *k || c.id != grid.id(*k)).map(|x| x.1) {
            return Err(RunError::Input(format!(
                "{}: cell {} is `{}`, the manifest's spec gives `{}` there",
                path.display(),
                c.index,
                c.id,
                grid.id(c.index.min(grid.len() - 1))
            )));
        }
    }
    Ok((manifest, plan, grid))
}

/// The record of cell `k` in `dir` when it was run under another spec than `config`:
/// `Some(its config, or "none recorded")`.
pub(crate) fn foreign_config(record: &CellRecord, config: &str) -> Option<String> {
    match &record.ran {
        Some(r) if r.config_sha256 == config => None,
        Some(r) => Some(runner::short(&r.config_sha256).to_string()),
        None => Some("none recorded".into()),
    }
}

/// Runs the selected cells of the planned run in `dir` (what one array task does). A cell
/// already finished under this plan is skipped; the others run and are written atomically.
/// Errs when a cell fails, after writing its record.
pub fn run_planned(
    dir: &Path,
    registry: &Registry,
    select: Select,
    opts: &CellOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<TaskOutcome, RunError> {
    if opts.jobs == 0 {
        return Err(RunError::Input("--jobs: must be at least 1".into()));
    }
    let (manifest, plan, grid) = open(dir, registry, opts.data_dir.as_deref(), on_event)?;
    let n = grid.len();
    let cells: Vec<usize> = match select {
        Select::Cell(i) if i < n => vec![i],
        Select::Cell(i) => {
            return Err(RunError::Input(format!(
                "cell --index {i}: out of range: {} plans {n} cells (indices 0 to {})",
                dir.display(),
                n.saturating_sub(1)
            )));
        }
        Select::Task(t) => {
            let Some(p) = &plan else {
                return Err(RunError::Input(format!(
                    "cell --task {t}: {} has no {PLAN_FILE} (not planned for an array; use --index)",
                    dir.display()
                )));
            };
            if t >= p.tasks {
                return Err(RunError::Input(format!(
                    "cell --task {t}: out of range: {} plans {} array tasks (indices 0 to {})",
                    dir.display(),
                    p.tasks,
                    p.tasks.saturating_sub(1)
                )));
            }
            p.task_cells(t).collect()
        }
    };
    let (prov, _) = provenance::collect(&opts.repo);
    runner::check_same_code(dir, &manifest.provenance, &prov, opts.force)?;
    let device = runner::make_device(manifest.spec.device)?;
    runner::validate_methods(&manifest.spec, registry)?;
    let mut skipped = Vec::new();
    let mut todo = Vec::new();
    for &k in &cells {
        match grid.finished(dir, k) {
            Some(r) => match foreign_config(&r, &manifest.config_sha256) {
                None => skipped.push(k),
                Some(_) if opts.force => todo.push(k),
                Some(c) => {
                    return Err(RunError::Input(format!(
                        "cell {k} `{}`: {} holds a finished record of it from another plan (config {c}, this plan's \
                         is {}); --force runs it again over that record",
                        grid.id(k),
                        dir.display(),
                        runner::short(&manifest.config_sha256)
                    )));
                }
            },
            None => todo.push(k),
        }
    }
    let stamp = Stamp::new(&manifest.spec, &prov);
    let ran = grid.run_cells(registry, &device, dir, &todo, opts.jobs, None, &stamp, on_event)?;
    runner::all_ok(ran.iter().map(|(_, r)| r), dir)?;
    Ok(TaskOutcome { cells, skipped, ran })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_compress_runs_of_consecutive_tasks() {
        assert_eq!(ranges(&[0, 2, 3, 4, 7]), "0,2-4,7");
        assert_eq!(ranges(&[5]), "5");
        assert_eq!(ranges(&[1, 2]), "1-2");
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn shell_quote_leaves_plain_words_and_quotes_the_rest() {
        assert_eq!(shell_quote("/tmp/run-1/array.sbatch"), "/tmp/run-1/array.sbatch");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn packed_tasks_cover_every_cell_once() {
        let slurm = SlurmOptions {
            partition: None,
            time: None,
            cpus_per_task: 1,
            mem: None,
            gres: None,
            concurrency: Some(4),
            cells_per_task: 3,
            array_limit: 1001,
            binary: "/bin/true".into(),
            repo: "/".into(),
            data_dir: None,
        };
        let cells = (0..8).map(|k| PlannedCell { index: k, id: format!("c{k}"), task: k / 3 }).collect();
        let p = PlanFile { config_sha256: "x".into(), tasks: 3, cells_per_task: 3, slurm, cells };
        let all: Vec<usize> = (0..p.tasks).flat_map(|t| p.task_cells(t)).collect();
        assert_eq!(all, (0..8).collect::<Vec<_>>());
        assert_eq!(p.task_cells(2), 6..8);
        // Cells 1 and 7 are in tasks 0 and 2; cell 2 in task 0 too.
        assert_eq!(p.resubmit_line(Path::new("/r"), &[7, 1, 2]), "sbatch --array=0,2%4 /r/array.sbatch");
    }

    #[test]
    fn a_gpu_task_runs_its_cells_one_at_a_time() {
        use crate::spec::DeviceKind;
        let slurm = SlurmOptions {
            partition: None,
            time: None,
            cpus_per_task: 4,
            mem: None,
            gres: Some("gpu:1".into()),
            concurrency: None,
            cells_per_task: 8,
            array_limit: 1001,
            binary: "/bin/metarec".into(),
            repo: "/".into(),
            data_dir: None,
        };
        assert_eq!(task_jobs(DeviceKind::Cpu, &slurm), 4);
        assert_eq!(task_jobs(DeviceKind::Cuda, &slurm), 1);
        let cells = (0..8).map(|k| PlannedCell { index: k, id: format!("c{k}"), task: 0 }).collect();
        let p = PlanFile { config_sha256: "x".into(), tasks: 1, cells_per_task: 8, slurm, cells };
        let script = |d| sbatch_script(Path::new("/r"), &p, 8, d);
        assert!(
            script(DeviceKind::Cpu).contains("--task \"$SLURM_ARRAY_TASK_ID\" --jobs 4\n"),
            "{}",
            script(DeviceKind::Cpu)
        );
        let gpu = script(DeviceKind::Cuda);
        assert!(gpu.contains("--task \"$SLURM_ARRAY_TASK_ID\" --jobs 1\n"), "{gpu}");
        assert!(gpu.contains("#SBATCH --cpus-per-task=4\n") && gpu.contains("#SBATCH --gres=gpu:1\n"), "{gpu}");
    }
}
