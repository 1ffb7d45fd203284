//! Every report of a run as bytes, before anything is written: `leaderboard.md`,
//! `leaderboard.tex`, `report.html`, `significance.csv`, `model-index.yml` and the figures of
//! the robustness and fairness sections. A pure function of the rows of the run's CSV files,
//! its provenance and the options: the same inputs give the same bytes.

use crate::ResultRow;
use crate::analysis::leaderboard::{LeaderboardOptions, MarkOptions};
use crate::analysis::significance::{SignificanceOptions, Skipped, analyze, write_significance_csv};
use crate::build::{Inputs, RunNotes, document};
use crate::doc::Provenance;
use crate::model_index::render_model_index;
pub use crate::plot::FigureFile;
use crate::read::{GroupRow, ItemSideData};
use crate::render::{figure_files, html, latex, markdown};
use crate::results::ReportError;

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

/// The report of a run ([`crate::build::document`]) rendered three ways, with its figure files;
/// `clean_k(suite, scenario)` is the clean run's number of support ratings where it is fixed,
/// `also_skipped` the skipped entries of the significance analysis. A pure function: the same
/// inputs give the same bytes.
pub fn render_documents(
    rows: &[ResultRow],
    groups: Option<&[GroupRow]>,
    item_side: Option<&ItemSideData>,
    prov: &Provenance,
    opts: &LeaderboardOptions,
    clean_k: &dyn Fn(&str, &str) -> Option<usize>,
    also_skipped: &[Skipped],
    notes: &RunNotes,
) -> Documents {
    documents_of(rows, &board_of(rows), groups, item_side, prov, opts, clean_k, also_skipped, notes)
}

/// [`render_documents`] with `board = board_rows(rows)` given.
fn documents_of(
    rows: &[ResultRow],
    board: &[ResultRow],
    groups: Option<&[GroupRow]>,
    item_side: Option<&ItemSideData>,
    prov: &Provenance,
    opts: &LeaderboardOptions,
    clean_k: &dyn Fn(&str, &str) -> Option<usize>,
    also_skipped: &[Skipped],
    notes: &RunNotes,
) -> Documents {
    let marks = MarkOptions::default();
    let inputs = Inputs { rows, board, groups, item_side, prov, opts, marks: &marks, clean_k, also_skipped, notes };
    let doc = document(&inputs);
    Documents {
        markdown: markdown::render(&doc),
        latex: latex::render(&doc),
        html: html::render(&doc),
        figures: figure_files(&doc),
    }
}

/// The rows of the leaderboards, significance tests, fairness tables and model index: all but
/// the attack diagnostics (`target-*`), which only mean something against the clean run, in the
/// robustness section.
pub fn board_rows(rows: &[ResultRow]) -> Vec<ResultRow> {
    rows.iter().filter(|r| !is_diagnostic(r)).cloned().collect()
}

/// Whether `r` is an attack diagnostic (`target-*`), left out of [`board_rows`].
pub fn is_diagnostic(r: &ResultRow) -> bool {
    r.metric.starts_with("target-")
}

/// [`board_rows`] without a copy when the diagnostics are all at the end of `rows` (as
/// `metarec`'s `write_reports` orders them: a run's results.csv has millions of rows).
fn board_of(rows: &[ResultRow]) -> std::borrow::Cow<'_, [ResultRow]> {
    let k = rows.iter().position(is_diagnostic).unwrap_or(rows.len());
    if rows[k..].iter().all(is_diagnostic) { rows[..k].into() } else { board_rows(rows).into() }
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
    notes: &RunNotes,
) -> Result<Reports, ReportError> {
    let board = board_of(rows);
    let sig = SignificanceOptions {
        reference_methods: opts.reference_methods.clone(),
        correction: opts.correction,
        ..SignificanceOptions::default()
    };
    let report = analyze(&board, &sig);
    let docs = documents_of(rows, &board, groups, item_side, prov, opts, clean_k, &report.skipped, notes);
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
