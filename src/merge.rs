//! `merge`: assemble a planned (`plan`) or sharded (`bench --shard`) run from its cell files.
//!
//! Merge checks that every cell of the plan has a record, that each record is the cell the
//! plan puts there, and that it ran under the plan's spec (config hash) and code (commit and
//! dirty diff). Cells from another spec or code are refused, every one named, unless forced;
//! a forced merge records every code version that contributed in the manifest (`commits`).
//! When cells are missing it writes nothing and gives the `sbatch --array=...` line that
//! resubmits only their array tasks. When every cell has a record, it assembles results.csv.gz
//! in plan order and writes the reports exactly as `bench` does (compacting the cells when all
//! finished), so the file equals `bench`'s byte for byte; cells that failed are listed, with the
//! line that reruns them.

use crate::RunError;
use crate::plan::{self, PlanFile};
use crate::provenance::utc_now;
use crate::rundir::CellRecord;
use crate::runner::{self, Event};
use metarec_methods::Registry;
use std::path::{Path, PathBuf};

/// How to merge.
#[derive(Clone, Debug, Default)]
pub struct MergeOptions {
    /// Merge cells from another spec or code version too (each is recorded).
    pub force: bool,
    /// The command line, for the manifest.
    pub command: Vec<String>,
    pub data_dir: Option<PathBuf>,
}

/// What a merge found and did.
#[derive(Debug)]
pub struct Merged {
    pub dir: PathBuf,
    pub total: usize,
    /// Cells with no finished record: `(plan index, id)`.
    pub missing: Vec<(usize, String)>,
    /// Cells whose record says failed: `(plan index, id, error)`.
    pub failed: Vec<(usize, String, String)>,
    /// Cells merged although they ran under another spec or code (forced): `(id, why)`.
    pub forced: Vec<(String, String)>,
    /// The `sbatch` line that reruns the missing and failed cells (planned runs only).
    pub resubmit: Option<String>,
    /// results.csv and the reports were written (every cell has a record).
    pub assembled: bool,
}

impl Merged {
    /// Every cell finished and results.csv was written.
    pub fn complete(&self) -> bool {
        self.assembled && self.missing.is_empty() && self.failed.is_empty()
    }
}

/// Merges the run in `dir`.
pub fn merge(
    dir: &Path,
    registry: &Registry,
    opts: &MergeOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Merged, RunError> {
    let (mut manifest, plan, grid) = plan::open(dir, registry, opts.data_dir.as_deref(), on_event)?;
    let config = manifest.config_sha256.clone();
    let code = (&manifest.provenance.commit, &manifest.provenance.diff_sha256);
    let mut records = Vec::with_capacity(grid.len());
    let (mut missing, mut failed, mut foreign) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..grid.len() {
        let (_, rec) = grid.paths(dir, k);
        let id = grid.id(k);
        let record = match std::fs::read_to_string(&rec) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(RunError::Io { path: rec.display().to_string(), source }),
            Ok(text) => Some(toml::from_str::<CellRecord>(&text).map_err(|e| RunError::Manifest {
                path: rec.display().to_string(),
                message: metarec_suites::suite::one_line(&e.to_string()),
            })?),
        };
        let Some(record) = record.filter(|r| r.status != "pending") else {
            missing.push((k, id));
            records.push(grid.pending(k));
            continue;
        };
        let want = grid.pending(k);
        if (&record.suite, &record.method, record.seed, &record.perturbation)
            != (&want.suite, &want.method, want.seed, &want.perturbation)
        {
            return Err(RunError::Input(format!(
                "{}: holds the record of `{}`, but cell {k} of the plan is `{}`",
                rec.display(),
                record.name(),
                want.name()
            )));
        }
        if let Some(c) = plan::foreign_config(&record, &config) {
            foreign.push((id.clone(), format!("config {c}, the plan's is {}", runner::short(&config))));
        } else if let Some(r) = record.ran.as_ref().filter(|r| (&r.commit, &r.diff_sha256) != code) {
            let p = &manifest.provenance;
            foreign.push((
                id.clone(),
                format!(
                    "ran at {}, the plan at {}",
                    runner::code_version(&r.commit, r.dirty, &r.diff_sha256),
                    runner::code_version(&p.commit, p.dirty, &p.diff_sha256)
                ),
            ));
        }
        match record.status.as_str() {
            "ok" if grid.rows_present(dir, k) => {}
            "ok" => missing.push((k, id)),
            _ => failed.push((k, id, record.error.clone().unwrap_or_else(|| record.status.clone()))),
        }
        records.push(record);
    }
    if !foreign.is_empty() && !opts.force {
        let list: Vec<String> = foreign.iter().map(|(id, why)| format!("{id} ({why})")).collect();
        return Err(RunError::Input(format!(
            "{}: {} of {} cells ran under another spec or code: {}; --force merges them anyway and records every \
             commit",
            dir.display(),
            foreign.len(),
            grid.len(),
            list.join("; ")
        )));
    }
    let rerun: Vec<usize> = missing.iter().map(|m| m.0).chain(failed.iter().map(|f| f.0)).collect();
    let resubmit = plan.as_ref().filter(|_| !rerun.is_empty()).map(|p: &PlanFile| p.resubmit_line(dir, &rerun));
    let mut merged = Merged {
        dir: dir.to_path_buf(),
        total: grid.len(),
        missing,
        failed,
        forced: foreign,
        resubmit,
        assembled: false,
    };
    if !merged.missing.is_empty() {
        return Ok(merged);
    }
    manifest.cells = records;
    manifest.run.merged = Some(format!("{} {}", utc_now(), opts.command.join(" ")));
    match grid.finish(dir, &mut manifest, registry) {
        Ok(()) | Err(RunError::CellsFailed { .. }) => {}
        Err(e) => return Err(e),
    }
    merged.assembled = true;
    Ok(merged)
}
