//! Reports are a pure function of the run directory: `results.csv`, `groups.csv` and
//! `manifest.toml` in, `leaderboard.md`, `leaderboard.tex`, `report.html`, `significance.csv`,
//! `model-index.yml` and the figures of the robustness and fairness sections
//! (`figures/*.svg`) out. Each report carries the run's provenance (commit, dirty flag, config
//! hash, data hashes): the CSV in `#` comment lines above its header (pandas: `comment="#"`).

use crate::RunError;
use crate::rundir::{Manifest, write_atomic};
use metarec_methods::{MethodKind, Registry};
use metarec_reports::ResultRow;
use metarec_reports::compare::CompareOptions;
use metarec_reports::fairness_report::{
    FairnessOptions, GroupRow, analyze_fairness, read_groups, render_fairness_html, render_fairness_latex,
    render_fairness_markdown,
};
use metarec_reports::html::render_html_with;
use metarec_reports::item_fairness::{
    ItemSideData, ItemSideOptions, analyze_item_side, load_item_side, render_item_side_html, render_item_side_latex,
    render_item_side_markdown,
};
use metarec_reports::leaderboard::{LeaderboardOptions, MarkOptions, Provenance, render_latex, render_markdown};
use metarec_reports::model_index::render_model_index;
use metarec_reports::robustness::{
    analyze_robustness, render_robustness_html, render_robustness_latex, render_robustness_markdown,
};
use metarec_reports::section_figures::{FigureFile, figure_files, shot_curves};
use metarec_reports::significance::{SignificanceOptions, Skipped, analyze, write_significance_csv};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The files [`write_reports`] writes, in the order it writes them; the figures follow.
pub const REPORT_FILES: [&str; 5] =
    ["leaderboard.md", "leaderboard.tex", "report.html", "significance.csv", "model-index.yml"];

/// The folder of a run directory that holds the figures of the robustness and fairness sections,
/// one SVG file each (`shot-curve-*.svg`, `group-gap-*.svg`; see
/// [`metarec_reports::section_figures::figure_files`]).
pub const FIGURES_DIR: &str = "figures";

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

/// The Markdown, LaTeX and HTML reports of a run and the figures of their sections, before they
/// are written.
#[derive(Clone, Debug, PartialEq)]
pub struct Documents {
    /// `leaderboard.md`.
    pub markdown: String,
    /// `leaderboard.tex`.
    pub latex: String,
    /// `report.html`.
    pub html: String,
    /// The shot curves and group gaps, also inline in the HTML (`figures/NAME.svg`).
    pub figures: Vec<FigureFile>,
}

/// The leaderboards of `rows` with, appended, the fairness section (when `groups`, the rows of
/// `groups.csv`, are given) and the robustness section with its shot curves;
/// `clean_k(suite, scenario)` is the clean run's number of support ratings where it is fixed.
/// `also_skipped` are the skipped entries of the significance analysis, listed in the HTML. A
/// pure function: the same inputs give the same bytes.
#[allow(clippy::too_many_arguments)]
pub fn render_documents(
    rows: &[ResultRow],
    groups: Option<&[GroupRow]>,
    item_side: Option<&ItemSideData>,
    prov: &Provenance,
    opts: &LeaderboardOptions,
    clean_k: &dyn Fn(&str, &str) -> Option<usize>,
    also_skipped: &[Skipped],
) -> Documents {
    let marks = MarkOptions::default();
    let board = board_rows(rows);
    let mut md = render_markdown(&board, prov, opts);
    let mut tex = render_latex(&board, prov, opts, &marks);
    let mut html = render_html_with(&board, prov, opts, &marks, also_skipped);
    // Fairness: per user group, appended to each report.
    let fairness = groups.map(|g| analyze_fairness(&board, g, &FairnessOptions::default()));
    if let Some(f) = &fairness {
        md.push('\n');
        md.push_str(&render_fairness_markdown(f, opts));
        insert_before(&mut tex, "\\end{document}", &render_fairness_latex(f, opts));
        insert_before(&mut html, "</body>", &render_fairness_html(f, opts));
    }
    // Item side: popularity bias and exposure of the top-k lists (candidate-ranking protocol).
    if let Some(d) = item_side {
        let r = analyze_item_side(&d.items, &d.candidates, &d.rankings, &ItemSideOptions::default());
        md.push('\n');
        md.push_str(&render_item_side_markdown(&r, opts));
        insert_before(&mut tex, "\\end{document}", &render_item_side_latex(&r, opts));
        insert_before(&mut html, "</body>", &render_item_side_html(&r, opts));
    }
    // Robustness: perturbed rows against the clean ones, with the shot curves.
    let robust_opts = CompareOptions::default();
    let robust = analyze_robustness(rows, &robust_opts);
    let curves = shot_curves(&robust, clean_k);
    if !robust.is_empty() {
        md.push('\n');
        md.push_str(&render_robustness_markdown(&robust, &robust_opts));
        insert_before(&mut tex, "\\end{document}", &render_robustness_latex(&robust, &robust_opts));
        insert_before(&mut html, "</body>", &render_robustness_html(&robust, &robust_opts, &curves, opts));
    }
    let figures = figure_files(&curves, fairness.as_ref(), opts);
    Documents { markdown: md, latex: tex, html, figures }
}

/// The rows of the leaderboards, significance tests, fairness tables and model index: all but
/// the attack diagnostics (`target-*`), which only mean something against the clean run, in the
/// robustness section.
fn board_rows(rows: &[ResultRow]) -> Vec<ResultRow> {
    rows.iter().filter(|r| !r.metric.starts_with("target-")).cloned().collect()
}

/// Rebuilds every report of the run in `dir`; returns the files written, relative to `dir`:
/// [`REPORT_FILES`], then the figures (`figures/NAME.svg`, in the order of
/// [`Documents::figures`]). SVG files of `figures/` that this report does not write (left by
/// an earlier one) are removed.
pub fn write_reports(dir: &Path, registry: &Registry) -> Result<Vec<String>, RunError> {
    let manifest = Manifest::read(dir)?;
    let rows = metarec_reports::results::read_rows(&dir.join("results.csv")).map_err(RunError::Report)?;
    let names = |kind: MethodKind| -> Vec<String> {
        registry.all().iter().filter(|m| m.kind == kind).map(|m| m.name.to_string()).collect()
    };
    let opts = LeaderboardOptions {
        reference_methods: names(MethodKind::Reference),
        baseline_methods: names(MethodKind::Baseline),
    };
    let prov = crate::runner::provenance_for_reports(&manifest);
    let groups_path = dir.join("groups.csv");
    let groups = if groups_path.is_file() { Some(read_groups(&groups_path).map_err(RunError::Report)?) } else { None };
    let item_side = load_item_side(dir).map_err(RunError::Report)?;
    let board = board_rows(&rows);
    let report = analyze(
        &board,
        &SignificanceOptions { reference_methods: opts.reference_methods.clone(), ..SignificanceOptions::default() },
    );
    let clean = clean_support(&manifest);
    let docs = render_documents(
        &rows,
        groups.as_deref(),
        item_side.as_ref(),
        &prov,
        &opts,
        &|suite, scenario| clean_k(&clean, suite, scenario),
        &report.skipped,
    );
    write_atomic(&dir.join("leaderboard.md"), docs.markdown.as_bytes())?;
    write_atomic(&dir.join("leaderboard.tex"), docs.latex.as_bytes())?;
    write_atomic(&dir.join("report.html"), docs.html.as_bytes())?;
    let mut buf = comment_lines(&prov).into_bytes();
    write_significance_csv(&mut buf, &report.rows).map_err(RunError::Report)?;
    write_atomic(&dir.join("significance.csv"), &buf)?;
    write_atomic(&dir.join("model-index.yml"), render_model_index(&board, &prov, &opts).as_bytes())?;
    let mut written: Vec<String> = REPORT_FILES.iter().map(|f| f.to_string()).collect();
    written.extend(write_figures(dir, &docs.figures)?);
    Ok(written)
}

/// Per suite, the clean run's support size and whether every other rating is support
/// (`support_rest`), from the resolved suite definitions in the manifest's `[[data]]`.
fn clean_support(m: &Manifest) -> BTreeMap<String, (usize, bool)> {
    m.data
        .iter()
        .filter_map(|d| {
            let protocol = d.resolved.get("protocol")?.as_table()?;
            let support = usize::try_from(protocol.get("support")?.as_integer()?).ok()?;
            let rest = protocol.get("support_rest").and_then(|v| v.as_bool()).unwrap_or(false);
            Some((d.suite.clone(), (support, rest)))
        })
        .collect()
}

/// The clean K of a scenario: the protocol's `support`, except where every other rating is
/// support (`support_rest`: all scenarios but warm, whose tasks keep `support` ratings; see
/// `suites::split`), where K varies by user and is `None`.
fn clean_k(clean: &BTreeMap<String, (usize, bool)>, suite: &str, scenario: &str) -> Option<usize> {
    let &(support, rest) = clean.get(suite)?;
    (!rest || scenario == "warm").then_some(support)
}

/// Writes `files` under [`FIGURES_DIR`] (atomically) and removes the SVG files there that a
/// previous report wrote and this one does not (the folder too, when that leaves it empty);
/// returns the paths written, relative to `dir`.
fn write_figures(dir: &Path, files: &[FigureFile]) -> Result<Vec<String>, RunError> {
    let folder = dir.join(FIGURES_DIR);
    for f in files {
        write_atomic(&folder.join(&f.name), f.svg.as_bytes())?;
    }
    if folder.is_dir() {
        let keep: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for entry in std::fs::read_dir(&folder).map_err(|e| io_error(&folder, e))? {
            let path = entry.map_err(|e| io_error(&folder, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_file() && name.ends_with(".svg") && !keep.contains(name) {
                std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            }
        }
        if files.is_empty() && std::fs::read_dir(&folder).map_err(|e| io_error(&folder, e))?.next().is_none() {
            std::fs::remove_dir(&folder).map_err(|e| io_error(&folder, e))?;
        }
    }
    Ok(files.iter().map(|f| format!("{FIGURES_DIR}/{}", f.name)).collect())
}

fn io_error(path: &Path, source: std::io::Error) -> RunError {
    RunError::Io { path: path.display().to_string(), source }
}
