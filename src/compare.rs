//! `compare`: run B (the candidate) against run A (the baseline), from their run directories.
//!
//! Two runs are comparable when, for every suite they share, the data and split hashes, the
//! resolved suite definition and the seeds are equal, for every (suite, method) they share the
//! resolved hyper-parameters are equal, and the device is the same. Anything else is refused
//! with every reason listed, unless forced; a forced comparison says in its report what
//! differed. The numbers come from [`metarec_reports::analysis::compare`].
//!
//! Baselines shipped with the repository live in `baselines/NAME/` (its `manifest.toml` and
//! `results.csv`, compressed or not); `--baseline NAME` takes A from there.

use crate::RunError;
use crate::rundir::{Manifest, RESULTS, run_file};
use metarec_reports::analysis::compare::compare;
pub use metarec_reports::analysis::compare::{CompareOptions, CompareReport, Verdict};
use metarec_reports::build::compare::render_markdown;
use std::path::{Path, PathBuf};

/// Where the repository's stored baseline runs live, relative to the repository root.
pub const BASELINES_DIR: &str = "baselines";

/// The outcome of [`compare_dirs`].
#[derive(Debug)]
pub struct Compared {
    pub report: CompareReport,
    /// The Markdown report (what `compare` prints and writes).
    pub markdown: String,
    /// Config or data differences that a forced comparison went past.
    pub forced_past: Vec<String>,
}

impl Compared {
    pub fn regressions(&self) -> usize {
        self.report.regressions().count()
    }
}

/// The run directory of the stored baseline `name` under `repo`, or an error listing those
/// that exist.
pub fn baseline_dir(repo: &Path, name: &str) -> Result<PathBuf, RunError> {
    let root = repo.join(BASELINES_DIR);
    let dir = root.join(name);
    if dir.join("manifest.toml").is_file() && run_file(&dir, RESULTS).is_file() {
        return Ok(dir);
    }
    let mut known: Vec<String> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("manifest.toml").is_file())
                .filter_map(|e| e.file_name().to_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    Err(RunError::Input(format!(
        "--baseline: no stored baseline `{name}` in {} (known: {})",
        root.display(),
        if known.is_empty() { "none".to_string() } else { known.join(", ") }
    )))
}

/// Why runs `a` and `b` may not be compared; empty when they may.
pub fn incompatibilities(a: &Manifest, b: &Manifest) -> Vec<String> {
    let mut why = Vec::new();
    if a.spec.device != b.spec.device {
        why.push(format!("device differs: A ran on {}, B on {}", a.spec.device.name(), b.spec.device.name()));
    }
    let mut shared = 0;
    for sa in &a.spec.suites {
        let Some(sb) = b.spec.suites.iter().find(|s| s.name == sa.name) else { continue };
        shared += 1;
        let (da, db) = (a.data.iter().find(|d| d.suite == sa.name), b.data.iter().find(|d| d.suite == sa.name));
        match (da, db) {
            (Some(da), Some(db)) => {
                if da.sha256 != db.sha256 {
                    why.push(format!("suite {}: data sha256 differs ({} vs {})", sa.name, da.sha256, db.sha256));
                }
                if da.split_sha256 != db.split_sha256 {
                    why.push(format!(
                        "suite {}: split sha256 differs ({} vs {})",
                        sa.name, da.split_sha256, db.split_sha256
                    ));
                }
                if da.resolved != db.resolved {
                    why.push(format!("suite {}: the resolved suite definitions differ", sa.name));
                }
            }
            _ => why.push(format!("suite {}: a manifest has no data record for it", sa.name)),
        }
        if sa.seeds != sb.seeds {
            why.push(format!("suite {}: seeds differ ({:?} vs {:?})", sa.name, sa.seeds, sb.seeds));
        }
        for ma in &sa.methods {
            if let Some(mb) = sb.methods.iter().find(|m| m.name == ma.name)
                && ma.params != mb.params
            {
                let keys: Vec<String> = ma
                    .params
                    .keys()
                    .chain(mb.params.keys())
                    .filter(|k| ma.params.get(*k) != mb.params.get(*k))
                    .cloned()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                why.push(format!(
                    "suite {} method {}: hyper-parameters differ ({})",
                    sa.name,
                    ma.name,
                    keys.join(", ")
                ));
            }
        }
    }
    if shared == 0 {
        why.push("the runs share no suite".to_string());
    }
    why
}

fn label(dir: &Path, m: &Manifest) -> String {
    format!(
        "`{}` (run `{}`, commit `{}`{}, config `{}`)",
        dir.display(),
        m.run.id,
        m.provenance.commit,
        if m.provenance.dirty { ", dirty" } else { "" },
        &m.config_sha256[..m.config_sha256.len().min(12)]
    )
}

/// Compares the run in `dir_b` against the run in `dir_a`. Incompatible runs are an error
/// listing every reason unless `force` (the report then lists them); runs sharing no suite are
/// always an error.
pub fn compare_dirs(dir_a: &Path, dir_b: &Path, opts: &CompareOptions, force: bool) -> Result<Compared, RunError> {
    let (ma, mb) = (Manifest::read(dir_a)?, Manifest::read(dir_b)?);
    let why = incompatibilities(&ma, &mb);
    if why.iter().any(|w| w == "the runs share no suite") || (!why.is_empty() && !force) {
        return Err(RunError::Input(format!(
            "refusing to compare {} with {}: {}{}",
            dir_a.display(),
            dir_b.display(),
            why.join("; "),
            if force { "" } else { " (pass --force to compare anyway)" }
        )));
    }
    let rows_a = metarec_reports::results::read_rows(&run_file(dir_a, RESULTS))?;
    let rows_b = metarec_reports::results::read_rows(&run_file(dir_b, RESULTS))?;
    let report = compare(&rows_a, &rows_b, opts);
    let mut markdown = render_markdown(&report, &label(dir_a, &ma), &label(dir_b, &mb), opts);
    if !why.is_empty() {
        markdown.push_str("\n## Compared with --force despite\n\n");
        for w in &why {
            markdown.push_str(&format!("- {w}\n"));
        }
    }
    Ok(Compared { report, markdown, forced_past: why })
}
