//! Every report of a run as bytes, before anything is written: `leaderboard.md`,
//! `leaderboard.tex`, `report.html`, `significance.csv`, `model-index.yml` and the figures of
//! the robustness and fairness sections. A pure function of the rows of the run's CSV files,
//! its provenance and the options: the same inputs give the same bytes.

use crate::ResultRow;
use crate::compare::CompareOptions;
use crate::fairness_report::{
    FairnessOptions, GroupRow, analyze_fairness, render_fairness_html, render_fairness_latex, render_fairness_markdown,
};
use crate::html::render_html_with;
use crate::item_fairness::{
    ItemSideData, ItemSideOptions, analyze_item_side, render_item_side_html, render_item_side_latex,
    render_item_side_markdown,
};
use crate::leaderboard::{LeaderboardOptions, MarkOptions, Provenance, render_latex, render_markdown};
use crate::model_index::render_model_index;
use crate::results::ReportError;
use crate::robustness::{
    analyze_robustness, render_robustness_html, render_robustness_latex, render_robustness_markdown,
};
pub use crate::section_figures::FigureFile;
use crate::section_figures::{figure_files, shot_curves};
use crate::significance::{SignificanceOptions, Skipped, analyze, write_significance_csv};

/// The files [`render_reports`] gives, in order; the figures follow.
pub const REPORT_FILES: [&str; 5] =
    ["leaderboard.md", "leaderboard.tex", "report.html", "significance.csv", "model-index.yml"];

/// Provenance as `#` comment lines, for CSV files.
pub fn comment_lines(prov: &Provenance) -> String {
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
pub fn board_rows(rows: &[ResultRow]) -> Vec<ResultRow> {
    rows.iter().filter(|r| !r.metric.starts_with("target-")).cloned().collect()
}

/// Every report of a run, as bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Reports {
    /// The files of [`REPORT_FILES`], in that order.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// The figures (`figures/NAME.svg`), also inline in `report.html`.
    pub figures: Vec<FigureFile>,
}

/// Every report of a run (see [`Reports`]): the documents of [`render_documents`], the
/// significance tests of every table as CSV under provenance comment lines, and the model index.
pub fn render_reports(
    rows: &[ResultRow],
    groups: Option<&[GroupRow]>,
    item_side: Option<&ItemSideData>,
    prov: &Provenance,
    opts: &LeaderboardOptions,
    clean_k: &dyn Fn(&str, &str) -> Option<usize>,
) -> Result<Reports, ReportError> {
    let board = board_rows(rows);
    let sig =
        SignificanceOptions { reference_methods: opts.reference_methods.clone(), ..SignificanceOptions::default() };
    let report = analyze(&board, &sig);
    let docs = render_documents(rows, groups, item_side, prov, opts, clean_k, &report.skipped);
    let mut csv = comment_lines(prov).into_bytes();
    write_significance_csv(&mut csv, &report.rows)?;
    let contents = [
        docs.markdown.into_bytes(),
        docs.latex.into_bytes(),
        docs.html.into_bytes(),
        csv,
        render_model_index(&board, prov, opts).into_bytes(),
    ];
    Ok(Reports { files: REPORT_FILES.into_iter().zip(contents).collect(), figures: docs.figures })
}
