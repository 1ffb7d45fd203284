//! Reports are a pure function of the run directory: `results.csv` and `manifest.toml` in,
//! `leaderboard.md`, `leaderboard.tex`, `report.html`, `significance.csv` and
//! `model-index.yml` out. Each carries the run's provenance (commit, dirty flag, config hash,
//! data hashes): the CSV in `#` comment lines above its header (pandas: `comment="#"`).

use crate::RunError;
use crate::rundir::{Manifest, write_atomic};
use metarec_methods::{MethodKind, Registry};
use metarec_reports::fairness_report::{
    FairnessOptions, analyze_fairness, read_groups, render_fairness_html, render_fairness_latex,
    render_fairness_markdown,
};
use metarec_reports::html::render_html_with;
use metarec_reports::leaderboard::{LeaderboardOptions, MarkOptions, Provenance, render_latex, render_markdown};
use metarec_reports::model_index::render_model_index;
use metarec_reports::significance::{SignificanceOptions, analyze, write_significance_csv};
use std::path::Path;

/// The files [`write_reports`] writes, in the order it writes them.
pub const REPORT_FILES: [&str; 5] =
    ["leaderboard.md", "leaderboard.tex", "report.html", "significance.csv", "model-index.yml"];

/// Provenance as `#` comment lines, for CSV files.
fn comment_lines(prov: &Provenance) -> String {
    let mut data: Vec<_> = prov.data_hashes.iter().collect();
    data.sort();
    let mut out = format!(
        "# metarec run {}\n# commit {}{}\n# config sha256 {}\n",
        prov.run_id,
        prov.commit,
        if prov.dirty { " (dirty)" } else { "" },
        prov.config_hash
    );
    for (name, hash) in data {
        out.push_str(&format!("# data {name} sha256 {hash}\n"));
    }
    out
}

/// Inserts `text` before the last occurrence of `marker` (at the end when there is none).
fn insert_before(doc: &mut String, marker: &str, text: &str) {
    let at = doc.rfind(marker).unwrap_or(doc.len());
    doc.insert_str(at, text);
}

/// Rebuilds every report of the run in `dir`; returns the files written.
pub fn write_reports(dir: &Path, registry: &Registry) -> Result<Vec<String>, RunError> {
    let manifest = Manifest::read(dir)?;
    let rows = metarec_reports::results::read_rows(&dir.join("results.csv")).map_err(RunError::Report)?;
    let reference_methods: Vec<String> =
        registry.all().iter().filter(|m| m.kind == MethodKind::Reference).map(|m| m.name.to_string()).collect();
    let prov = crate::runner::provenance_for_reports(&manifest);
    let baseline_methods: Vec<String> =
        registry.all().iter().filter(|m| m.kind == MethodKind::Baseline).map(|m| m.name.to_string()).collect();
    let opts = LeaderboardOptions { reference_methods: reference_methods.clone(), baseline_methods };
    let marks = MarkOptions::default();
    // Fairness: per user group (groups.csv, written by the runner), appended to each report.
    let groups_path = dir.join("groups.csv");
    let fairness = if groups_path.is_file() {
        let groups = read_groups(&groups_path).map_err(RunError::Report)?;
        Some(analyze_fairness(&rows, &groups, &FairnessOptions::default()))
    } else {
        None
    };
    let mut md = render_markdown(&rows, &prov, &opts);
    let mut tex = render_latex(&rows, &prov, &opts, &marks);
    let report = analyze(&rows, &SignificanceOptions { reference_methods, ..SignificanceOptions::default() });
    let mut html = render_html_with(&rows, &prov, &opts, &marks, &report.skipped);
    if let Some(f) = &fairness {
        md.push('\n');
        md.push_str(&render_fairness_markdown(f, &opts));
        insert_before(&mut tex, "\\end{document}", &render_fairness_latex(f, &opts));
        insert_before(&mut html, "</body>", &render_fairness_html(f, &opts));
    }
    // Robustness: perturbed rows against the clean ones (Markdown for now).
    let robust_opts = metarec_reports::compare::CompareOptions::default();
    let robust = metarec_reports::robustness::analyze_robustness(&rows, &robust_opts);
    let robust_md = metarec_reports::robustness::render_robustness_markdown(&robust, &robust_opts);
    if !robust_md.is_empty() {
        md.push('\n');
        md.push_str(&robust_md);
    }
    write_atomic(&dir.join("leaderboard.md"), md.as_bytes())?;
    write_atomic(&dir.join("leaderboard.tex"), tex.as_bytes())?;
    write_atomic(&dir.join("report.html"), html.as_bytes())?;
    let mut buf = comment_lines(&prov).into_bytes();
    write_significance_csv(&mut buf, &report.rows).map_err(RunError::Report)?;
    write_atomic(&dir.join("significance.csv"), &buf)?;
    write_atomic(&dir.join("model-index.yml"), render_model_index(&rows, &prov, &opts).as_bytes())?;
    Ok(REPORT_FILES.iter().map(|f| f.to_string()).collect())
}
