//! The run directory: its files, atomic writes, and the manifest.
//!
//! ```text
//! DIR/manifest.toml      spec, provenance, data hashes, per-cell status and timings
//! DIR/results.csv.gz     suite,scenario,method,seed,perturbation,user,metric,value (gzip)
//! DIR/rankings.csv.gz    the top-k lists (candidate protocol; gzip), candidates.csv.gz beside
//! DIR/groups.csv         suite,user,attribute,group  (user groups for fairness reports)
//! DIR/leaderboard.md     per suite, scenario and metric: mean, 95% CI, rank
//! DIR/dirty.patch        the uncommitted diff, when the tree was dirty
//! DIR/cells/SUITE/METHOD/seed-N.toml           one cell's record
//! DIR/cells/SUITE/METHOD/seed-N.csv.gz         its rows, one gzip member (until compacted)
//! DIR/cells/SUITE/METHOD/seed-N.rankings.csv.gz  its top-k lists, likewise
//! DIR/plan.toml          a planned run (`cargo xtask plan`): the cell list and the Slurm options
//! DIR/array.sbatch       the Slurm job array of a planned run; DIR/logs/ its per-task logs
//! ```
//! Every file is written to a temporary name and renamed into place, so a crash leaves either
//! the old file or the new one, never half of one.
//!
//! The large files are gzip ([`metarec_reports::gz`]): results.csv.gz is one member of its
//! header followed by every finished cell's row file, in plan order, byte for byte (a
//! concatenation of members is a gzip file of the concatenated text). Once every cell of a run
//! has finished and results.csv.gz is written, the cells' row files are removed
//! ([`compact`](crate::runner)): each is a member of results.csv.gz (and of rankings.csv.gz),
//! from where a later assembly takes it back, so no value is stored twice and none is lost.

use crate::RunError;
use crate::provenance::Provenance;
use crate::spec::RunSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let io = |source| RunError::Io { path: path.display().to_string(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension(format!(
        "{}.tmp{}",
        path.extension().and_then(|e| e.to_str()).unwrap_or(""),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).map_err(|source| RunError::Io { path: tmp.display().to_string(), source })?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The run as a whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: String,
    /// The command line that started the run (the first start, for a resumed run).
    pub command: Vec<String>,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<String>,
    /// `running`, `complete`, `failed` (some cells failed) or `interrupted`.
    pub status: String,
    /// Worker threads running cells.
    pub jobs: usize,
    /// Later starts that resumed this run: `(time, command)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumed: Vec<String>,
    /// The merge that assembled a planned or sharded run: `time command`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<String>,
}

/// One suite's data as loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub suite: String,
    pub sha256: String,
    pub split_sha256: String,
    pub n_users: usize,
    pub n_items: usize,
    pub n_ratings: usize,
    pub meta_train_users: usize,
    pub validation_users: usize,
    /// Test users per scenario.
    pub scenarios: BTreeMap<String, usize>,
    /// The suite definition with every default filled in (world parameters, protocol).
    pub resolved: toml::Table,
    /// Real data: rows read, kept and refused per file, counts before and after the filter, the
    /// cold-start thresholds used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_report: Option<toml::Table>,
    /// The suite's `[[robustness]]` evaluations: label, perturbed split hash, what changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robustness: Vec<RobustnessInfo>,
}

/// One robustness evaluation as recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustnessInfo {
    /// The `perturbation` column of its rows in results.csv.
    pub perturbation: String,
    pub split_sha256: String,
    /// Counts of what the steps changed (labels, support ratings dropped, features, ...).
    pub changes: toml::Table,
}

/// One cell (suite x method x seed; every scenario of the suite inside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    pub suite: String,
    pub method: String,
    pub seed: u64,
    /// The robustness evaluation whose perturbed meta-train data this cell trains on (its
    /// `perturbation` label); absent for the clean cell, which also scores the test-time ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<String>,
    /// `ok`, `failed` or `pending`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall time of meta-training, seconds.
    #[serde(default)]
    pub meta_train_s: f64,
    /// Wall time of adaptation and prediction over all test tasks, seconds.
    #[serde(default)]
    pub adapt_s: f64,
    #[serde(default)]
    pub steps: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
    /// Where, when and from which code the cell ran (absent while pending, and in records
    /// written before cells recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran: Option<CellRun>,
}

/// Where, when and from which code one cell ran: what lets a run assembled from many starts,
/// machines or array tasks say which code made each number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellRun {
    /// The config hash of the spec the cell ran under.
    pub config_sha256: String,
    pub commit: String,
    pub dirty: bool,
    /// SHA-256 of the uncommitted diff (empty when clean).
    pub diff_sha256: String,
    pub host: String,
    pub cpu_features: Vec<String>,
    pub device: String,
    pub started: String,
    pub finished: String,
    /// The Slurm array task that ran it (`JOB_TASK`), when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<String>,
}

/// One code version that contributed cells to a run: the manifest lists every one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub commit: String,
    pub dirty: bool,
    pub diff_sha256: String,
    /// Cells (finished or failed) this version ran.
    pub cells: usize,
}

/// The code versions of `records`, in order of first appearance, with their cell counts.
pub fn contributions(records: &[CellRecord]) -> Vec<Contribution> {
    let mut out: Vec<Contribution> = Vec::new();
    for r in records.iter().filter_map(|r| r.ran.as_ref()) {
        match out.iter_mut().find(|c| c.commit == r.commit && c.diff_sha256 == r.diff_sha256) {
            Some(c) => c.cells += 1,
            None => out.push(Contribution {
                commit: r.commit.clone(),
                dirty: r.dirty,
                diff_sha256: r.diff_sha256.clone(),
                cells: 1,
            }),
        }
    }
    out
}

impl CellRecord {
    pub fn pending(suite: &str, method: &str, seed: u64, perturbation: Option<&str>) -> CellRecord {
        CellRecord {
            suite: suite.into(),
            method: method.into(),
            seed,
            perturbation: perturbation.map(str::to_string),
            status: "pending".into(),
            error: None,
            meta_train_s: 0.0,
            adapt_s: 0.0,
            steps: 0,
            chosen_step: None,
            validation_loss: None,
            notes: BTreeMap::new(),
            ran: None,
        }
    }

    /// `suite/method/seed N`, with ` [perturbation]` for a meta-train perturbation's cell.
    pub fn name(&self) -> String {
        let p = self.perturbation.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default();
        format!("{}/{}/seed {}{p}", self.suite, self.method, self.seed)
    }
}

/// `manifest.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub run: RunInfo,
    pub provenance: Provenance,
    /// The config hash: SHA-256 of `spec` as TOML.
    pub config_sha256: String,
    pub data: Vec<DataInfo>,
    pub spec: RunSpec,
    /// Methods of the spec that were not run on a suite, with the reason (a reference method
    /// that needs ground truth on a suite without it): no cells, no rows, named in every report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedMethod>,
    pub cells: Vec<CellRecord>,
    /// Every code version (commit and dirty diff) that ran cells of this run, with how many;
    /// more than one only when a resume or a merge was forced past a change of code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<Contribution>,
}

/// A method the run did not run on a suite, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedMethod {
    pub suite: String,
    pub method: String,
    pub reason: String,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Manifest, RunError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|source| RunError::Io { path: path.display().to_string(), source })?;
        toml::from_str(&text).map_err(|e| RunError::Manifest {
            path: path.display().to_string(),
            message: metarec_suites::suite::one_line(&e.to_string()),
        })
    }

    pub fn write(&self, dir: &Path) -> Result<(), RunError> {
        let text = toml::to_string(self).map_err(|e| RunError::Manifest {
            path: dir.join("manifest.toml").display().to_string(),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join("manifest.toml"), text.as_bytes())
    }
}

/// File names of one cell, relative to the run directory.
///
/// A meta-train perturbation's cell is `seed-N@HASH`, HASH the first 12 hex digits of the
/// SHA-256 of its label (labels hold characters file systems dislike; the record names it).
pub fn cell_paths(dir: &Path, suite: &str, method: &str, seed: u64, perturbation: Option<&str>) -> (PathBuf, PathBuf) {
    let base = dir.join("cells").join(sanitize(suite)).join(sanitize(method));
    let stem = match perturbation {
        None => format!("seed-{seed}"),
        Some(label) => {
            let h = metarec_suites::split::hex(&<sha2::Sha256 as sha2::Digest>::digest(label.as_bytes()));
            format!("seed-{seed}@{}", &h[..12])
        }
    };
    (base.join(format!("{stem}{CELL_ROWS}")), base.join(format!("{stem}.toml")))
}

/// The suffix of a cell's row file (one gzip member of its rows of results.csv).
const CELL_ROWS: &str = ".csv.gz";

/// results.csv, the contract: written as `results.csv.gz` ([`run_file`]).
pub const RESULTS: &str = "results.csv";
/// The top-k lists of the candidate protocol: written as `rankings.csv.gz`.
pub const RANKINGS: &str = "rankings.csv";
/// The candidate sets of the candidate protocol: written as `candidates.csv.gz`.
pub const CANDIDATES: &str = "candidates.csv";

/// The path `name` (one of [`RESULTS`], [`RANKINGS`], [`CANDIDATES`]) is written to in `dir`:
/// `name.gz`.
pub fn written(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", metarec_reports::gz::SUFFIX))
}

/// The path `name` is read from in `dir`: compressed, or plain in a run from before
/// compression ([`metarec_reports::gz::run_file`]).
pub fn run_file(dir: &Path, name: &str) -> PathBuf {
    metarec_reports::gz::run_file(dir, name)
}

/// The text of the run file `name` of `dir`, decompressed ([`run_file`]); errors name the file.
pub fn read_run_file(dir: &Path, name: &str) -> Result<Vec<u8>, RunError> {
    metarec_reports::gz::read_text(&run_file(dir, name)).map_err(RunError::Report)
}

/// A cell's stable id: its file stem under `cells/` (`SUITE/METHOD/seed-N`, `seed-N@HASH` for
/// a meta-train perturbation's cell).
pub fn cell_id(suite: &str, method: &str, seed: u64, perturbation: Option<&str>) -> String {
    let (csv, _) = cell_paths(Path::new(""), suite, method, seed, perturbation);
    let rel = csv.strip_prefix("cells").unwrap_or(&csv);
    let id = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    id.strip_suffix(CELL_ROWS).unwrap_or(&id).to_string()
}

/// A cell's top-k lists (candidate-ranking protocol), beside its row file.
pub fn rankings_path(cell_csv: &Path) -> PathBuf {
    let name = cell_csv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(CELL_ROWS).unwrap_or(&name);
    cell_csv.with_file_name(format!("{stem}.rankings{CELL_ROWS}"))
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') { c } else { '_' }).collect()
}
