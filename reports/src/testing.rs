//! Test helpers: one analysis's section (or the leaderboard alone) built and rendered, under the
//! names the section renderers had before the document model.

use crate::analysis::compare::{CompareOptions, Comparison, Verdict};
use crate::analysis::fairness::FairnessReport;
use crate::analysis::item_side::ItemSideReport;
use crate::analysis::leaderboard::{LeaderboardOptions, MarkOptions};
use crate::analysis::robustness::{PerturbationResult, ShotCurve};
use crate::build;
use crate::doc::Provenance;
use crate::doc::{Document, Section};
use crate::render::{html, latex, markdown};
use crate::results::ResultRow;

/// The leaderboard sections of `rows` as a document.
pub fn leaderboard(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions, marks: &MarkOptions) -> Document {
    Document {
        title: "metarec leaderboard".into(),
        lede: String::new(),
        provenance: Some(prov.clone()),
        sections: build::leaderboard::sections(rows, opts, marks, &[]),
    }
}

pub fn render_markdown(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions) -> String {
    render_markdown_with(rows, prov, opts, &MarkOptions::default())
}

pub fn render_markdown_with(rows: &[ResultRow], p: &Provenance, o: &LeaderboardOptions, m: &MarkOptions) -> String {
    markdown::render(&leaderboard(rows, p, o, m))
}

pub fn render_latex(rows: &[ResultRow], p: &Provenance, o: &LeaderboardOptions, m: &MarkOptions) -> String {
    latex::render(&leaderboard(rows, p, o, m))
}

pub fn render_html(rows: &[ResultRow], p: &Provenance, o: &LeaderboardOptions, m: &MarkOptions) -> String {
    html::render(&leaderboard(rows, p, o, m))
}

fn md(s: &Section) -> String {
    let mut out = String::new();
    markdown::section(&mut out, s);
    out
}

fn tex(s: &Section) -> String {
    let mut out = String::new();
    latex::section(&mut out, s);
    out
}

/// A LaTeX fragment in a minimal document, as `leaderboard.tex` has it.
pub fn tex_document(fragment: &str) -> String {
    format!(
        "\\documentclass{{article}}\n\\usepackage[T1]{{fontenc}}\n\\usepackage{{booktabs}}\n\\usepackage{{longtable}}\n\
         \\begin{{document}}\n{fragment}\\end{{document}}\n"
    )
}

pub fn render_fairness_markdown(r: &FairnessReport, o: &LeaderboardOptions) -> String {
    md(&build::fairness::section(r, o))
}

pub fn render_fairness_latex(r: &FairnessReport, o: &LeaderboardOptions) -> String {
    tex(&build::fairness::section(r, o))
}

pub fn render_fairness_html(r: &FairnessReport, o: &LeaderboardOptions) -> String {
    html::section(&build::fairness::section(r, o))
}

pub fn render_item_side_markdown(r: &ItemSideReport, o: &LeaderboardOptions) -> String {
    md(&build::item_side::section(r, o))
}

pub fn render_item_side_latex(r: &ItemSideReport, o: &LeaderboardOptions) -> String {
    tex(&build::item_side::section(r, o))
}

pub fn render_item_side_html(r: &ItemSideReport, o: &LeaderboardOptions) -> String {
    html::section(&build::item_side::section(r, o))
}

fn robustness(
    r: &[PerturbationResult],
    o: &CompareOptions,
    c: &[ShotCurve],
    b: &LeaderboardOptions,
) -> Option<Section> {
    build::robustness::section(r, o, c, b)
}

pub fn render_robustness_markdown(r: &[PerturbationResult], o: &CompareOptions) -> String {
    robustness(r, o, &[], &LeaderboardOptions::default()).map_or_else(String::new, |s| md(&s))
}

pub fn render_robustness_latex(r: &[PerturbationResult], o: &CompareOptions) -> String {
    robustness(r, o, &[], &LeaderboardOptions::default()).map_or_else(String::new, |s| tex(&s))
}

pub fn render_robustness_html(
    r: &[PerturbationResult],
    o: &CompareOptions,
    c: &[ShotCurve],
    b: &LeaderboardOptions,
) -> String {
    robustness(r, o, c, b).map_or_else(String::new, |s| html::section(&s))
}

/// Wraps `fragment` in an article and compiles it with pdflatex; `None`
/// (after saying so) when pdflatex is not installed. Fails on errors and
/// on warnings that mean lost or overflowing content.
pub fn compile_latex(fragment: &str, name: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(pdflatex) = std::env::split_paths(&path).map(|d| d.join("pdflatex")).find(|p| p.is_file()) else {
        println!("pdflatex not found: the LaTeX section `{name}` was NOT compiled");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("metarec-fairness-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let doc = tex_document(fragment);
    std::fs::write(dir.join("f.tex"), &doc).unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(pdflatex)
        .args(["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "f.tex"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("running pdflatex: {e}"));
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && dir.join("f.pdf").is_file(), "pdflatex failed:\n{log}\n{doc}");
    for bad in [
        "Undefined control sequence",
        "Missing character",
        "Overfull \\hbox",
        "Float too large",
        "Unicode character",
        "LaTeX Warning",
    ] {
        assert!(!log.contains(bad), "pdflatex log contains `{bad}`:\n{log}\n{doc}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Some(log)
}

pub fn cmp(method: &str, users: usize, mean_a: f64, mean_b: f64) -> Comparison {
    Comparison {
        suite: "s".into(),
        scenario: "warm".into(),
        method: method.into(),
        metric: "mae".into(),
        users,
        mean_a,
        mean_b,
        diff: mean_b - mean_a,
        p_value: None,
        p_adjusted: None,
        effect: None,
        verdict: Verdict::Unchanged,
        note: None,
    }
}

pub fn shot_perturbation(label: &str, comparisons: Vec<Comparison>) -> PerturbationResult {
    PerturbationResult { perturbation: label.into(), comparisons }
}

/// shots(20), shots(3) and shots(1) (in name order, as analyze_robustness gives them) and
/// a label noise that is no shot perturbation.
pub fn shot_results() -> Vec<PerturbationResult> {
    vec![
        shot_perturbation("label-noise(random;0.2;support)", vec![cmp("a", 10, 0.8, 0.95)]),
        shot_perturbation("shots(1)", vec![cmp("a", 10, 0.8, 1.1), cmp("b", 10, 0.9, 1.0)]),
        shot_perturbation("shots(20)", vec![cmp("a", 10, 0.8, 0.7)]),
        shot_perturbation("shots(3)", vec![cmp("a", 10, 0.8, 0.9), cmp("b", 8, 0.85, 0.95)]),
    ]
}

/// A clean (`perturbation` none) row.
pub fn clean_row(
    suite: &str,
    scenario: &str,
    method: &str,
    metric: &str,
    seed: u64,
    user: u64,
    value: f64,
) -> ResultRow {
    ResultRow {
        suite: suite.into(),
        scenario: scenario.into(),
        method: method.into(),
        seed,
        perturbation: "none".into(),
        user,
        metric: metric.into(),
        value,
    }
}

/// A clean (`perturbation` none) row of suite `s`, scenario `user-cold`.
pub fn cold_row(method: &str, seed: u64, user: u64, metric: &str, value: f64) -> ResultRow {
    clean_row("s", "user-cold", method, metric, seed, user, value)
}
