//! Reports are a pure function of the run directory: `results.csv` and `manifest.toml` in,
//! `leaderboard.md` out.

use crate::RunError;
use crate::rundir::{Manifest, write_atomic};
use metarec_methods::{MethodKind, Registry};
use metarec_reports::leaderboard::{LeaderboardOptions, render_markdown};
use std::path::Path;

/// Rebuilds every report of the run in `dir`; returns the files written.
pub fn write_reports(dir: &Path, registry: &Registry) -> Result<Vec<String>, RunError> {
    let manifest = Manifest::read(dir)?;
    let rows = metarec_reports::results::read_rows(&dir.join("results.csv")).map_err(RunError::Report)?;
    let reference_methods = registry.all().iter().filter(|m| m.kind == MethodKind::Reference).map(|m| m.name.to_string()).collect();
    let prov = crate::runner::provenance_for_reports(&manifest);
    let md = render_markdown(&rows, &prov, &LeaderboardOptions { reference_methods });
    write_atomic(&dir.join("leaderboard.md"), md.as_bytes())?;
    Ok(vec!["leaderboard.md".into()])
}
