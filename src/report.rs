//! Reports are a pure function of the run directory: `results.csv` and `manifest.toml` in,
//! `leaderboard.md`, `leaderboard.tex` and `significance.csv` out.

use crate::RunError;
use crate::rundir::{Manifest, write_atomic};
use metarec_methods::{MethodKind, Registry};
use metarec_reports::leaderboard::{LeaderboardOptions, MarkOptions, render_latex, render_markdown};
use metarec_reports::significance::{SignificanceOptions, analyze, write_significance_csv};
use std::path::Path;

/// Rebuilds every report of the run in `dir`; returns the files written.
pub fn write_reports(dir: &Path, registry: &Registry) -> Result<Vec<String>, RunError> {
    let manifest = Manifest::read(dir)?;
    let rows = metarec_reports::results::read_rows(&dir.join("results.csv")).map_err(RunError::Report)?;
    let reference_methods: Vec<String> =
        registry.all().iter().filter(|m| m.kind == MethodKind::Reference).map(|m| m.name.to_string()).collect();
    let prov = crate::runner::provenance_for_reports(&manifest);
    let opts = LeaderboardOptions { reference_methods: reference_methods.clone() };
    write_atomic(&dir.join("leaderboard.md"), render_markdown(&rows, &prov, &opts).as_bytes())?;
    write_atomic(&dir.join("leaderboard.tex"), render_latex(&rows, &prov, &opts, &MarkOptions::default()).as_bytes())?;
    let report = analyze(&rows, &SignificanceOptions { reference_methods, ..SignificanceOptions::default() });
    let mut buf = Vec::new();
    write_significance_csv(&mut buf, &report.rows).map_err(RunError::Report)?;
    write_atomic(&dir.join("significance.csv"), &buf)?;
    Ok(vec!["leaderboard.md".into(), "leaderboard.tex".into(), "significance.csv".into()])
}
