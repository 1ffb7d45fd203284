//! The robustness section: for every perturbation of a run (rows whose `perturbation` is not
//! `none`), each method's metric under the perturbation against its clean value, on the same
//! users.
//!
//! The numbers are those of [`crate::compare`] with the clean rows as run A and the perturbed
//! rows as run B: per user the value averaged over seeds, the mean drop (perturbed − clean, in
//! the metric's units), the two-sided Wilcoxon signed-rank test with Holm over the comparisons
//! of one perturbation, and the verdict at a 1% relative threshold. A summary per method gives
//! the mean relative change over the scenarios and metrics, signed so that negative is worse.
//!
//! The same content is rendered as Markdown ([`render_robustness_markdown`]), a LaTeX fragment
//! ([`render_robustness_latex`], escaped and split as the fairness section's tables) and an HTML
//! `<section>` ([`render_robustness_html`]) that also shows the shot curves
//! ([`crate::section_figures`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::compare::{CompareOptions, Comparison, Verdict, compare};
use crate::fairness_report::{LATEX_MAX_LINES, tex, texttt};
use crate::leaderboard::{LeaderboardOptions, METRIC_ORDER, SCENARIO_ORDER, direction_label, ordered};
use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::section_figures::{ShotCurve, shot_curve_figure};
use crate::svg::escape;

/// One perturbation compared with the clean rows.
#[derive(Clone, Debug, PartialEq)]
pub struct PerturbationResult {
    pub perturbation: String,
    pub comparisons: Vec<Comparison>,
}

/// Every perturbation present in `rows`, in name order.
pub fn analyze_robustness(rows: &[ResultRow], opts: &CompareOptions) -> Vec<PerturbationResult> {
    let labels: BTreeSet<&str> = rows.iter().map(|r| r.perturbation.as_str()).filter(|p| *p != "none").collect();
    let clean: Vec<ResultRow> = rows.iter().filter(|r| r.perturbation == "none").cloned().collect();
    labels
        .into_iter()
        .map(|label| {
            let perturbed: Vec<ResultRow> = rows
                .iter()
                .filter(|r| r.perturbation == label)
                .map(|r| ResultRow { perturbation: "none".into(), ..r.clone() })
                .collect();
            // Against the clean cells of the same seeds: a perturbation that retrains every
            // method may run on fewer seeds than the clean grid.
            let seeds: BTreeSet<(&str, &str, u64)> =
                perturbed.iter().map(|r| (r.suite.as_str(), r.method.as_str(), r.seed)).collect();
            let same_seeds: Vec<ResultRow> = clean
                .iter()
                .filter(|r| seeds.contains(&(r.suite.as_str(), r.method.as_str(), r.seed)))
                .cloned()
                .collect();
            let mut comparisons = compare(&same_seeds, &perturbed, opts).comparisons;
            comparisons.sort_by(|a, b| {
                (&a.suite, ordered(&a.scenario, &SCENARIO_ORDER), ordered(&a.metric, &METRIC_ORDER), &a.method).cmp(&(
                    &b.suite,
                    ordered(&b.scenario, &SCENARIO_ORDER),
                    ordered(&b.metric, &METRIC_ORDER),
                    &b.method,
                ))
            });
            PerturbationResult { perturbation: label.to_string(), comparisons }
        })
        .collect()
}

/// Relative change of a comparison, signed so that negative is worse; `None` when undefined.
fn signed_relative(c: &Comparison) -> Option<f64> {
    let sign = match direction(&c.metric)? {
        Direction::LowerIsBetter => -1.0,
        Direction::HigherIsBetter => 1.0,
    };
    (c.users > 0 && c.mean_a != 0.0 && c.diff.is_finite()).then(|| sign * c.diff / c.mean_a.abs())
}

/// `x` with `digits` decimals, or `None` when not finite (each format writes its own dash).
fn fmt(x: f64, digits: usize) -> Option<String> {
    x.is_finite().then(|| format!("{x:.digits$}"))
}

/// The drop with its sign, 4 decimals.
fn drop_text(c: &Comparison) -> Option<String> {
    c.diff.is_finite().then(|| format!("{:+.4}", c.diff))
}

/// The Holm-adjusted p with 4 decimals, `<0.0001` below that.
fn p_text(c: &Comparison) -> Option<String> {
    c.p_adjusted.and_then(|p| if p < 1e-4 { Some("<0.0001".to_owned()) } else { fmt(p, 4) })
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Regressed => "worse",
        Verdict::Improved => "better",
        Verdict::Unchanged => "no change",
    }
}

/// Sort key of a comparison's table: suite, then scenario and metric in leaderboard order.
pub(crate) type TableKey = (String, (usize, String), (usize, String));

pub(crate) fn table_key(c: &Comparison) -> TableKey {
    let (si, s) = ordered(&c.scenario, &SCENARIO_ORDER);
    let (mi, m) = ordered(&c.metric, &METRIC_ORDER);
    (c.suite.clone(), (si, s.to_string()), (mi, m.to_string()))
}

/// The comparisons of one perturbation by table, in leaderboard order.
fn tables(r: &PerturbationResult) -> BTreeMap<TableKey, Vec<&Comparison>> {
    let mut tables: BTreeMap<TableKey, Vec<&Comparison>> = BTreeMap::new();
    for c in &r.comparisons {
        tables.entry(table_key(c)).or_default().push(c);
    }
    tables
}

/// Per method (name order), its mean signed relative change under each perturbation of
/// `results`, as a percentage with one decimal and a sign; `None` where nothing was compared.
fn summary(results: &[PerturbationResult]) -> Vec<(&str, Vec<Option<String>>)> {
    let methods: BTreeSet<&str> =
        results.iter().flat_map(|r| r.comparisons.iter().map(|c| c.method.as_str())).collect();
    methods
        .into_iter()
        .map(|m| {
            let cells = results
                .iter()
                .map(|r| {
                    let v: Vec<f64> =
                        r.comparisons.iter().filter(|c| c.method == m).filter_map(signed_relative).collect();
                    // `+ 0.0` turns -0.0 into 0.0.
                    (!v.is_empty()).then(|| format!("{:+.1}", 100.0 * v.iter().sum::<f64>() / v.len() as f64 + 0.0))
                })
                .collect();
            (m, cells)
        })
        .collect()
}

/// How [`intro`] writes code, symbols and the percent sign in one output format.
struct Style<'a> {
    code: &'a dyn Fn(&str) -> String,
    minus: &'a str,
    lt: &'a str,
    percent: &'a str,
}

/// The sentence at the top of the section.
fn intro(opts: &CompareOptions, st: &Style) -> String {
    format!(
        "Each perturbation (recorded in the manifest under {}) is compared with the clean results of \
         the same methods and seeds: test-time perturbations reuse the clean meta-trained models, \
         perturbations of meta-train data retrain them; queries are never perturbed. For a shilling \
         attack, the drop of target-score is the prediction shift of its targets. Per user, values are \
         averaged over seeds; drop = perturbed {} clean mean over the users scored both ways; p: two-sided \
         Wilcoxon signed-rank test, Holm over the comparisons of one perturbation; worse / better: p {} {} and \
         a change beyond {:.0}{} of the clean mean.",
        (st.code)("data.robustness"),
        st.minus,
        st.lt,
        opts.alpha,
        opts.threshold * 100.0,
        st.percent
    )
}

const SUMMARY_TITLE: &str = "Summary: mean relative change over scenarios and metrics (negative is worse)";

/// The section as Markdown (empty when the run has no perturbed rows).
pub fn render_robustness_markdown(results: &[PerturbationResult], opts: &CompareOptions) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Robustness\n\n");
    let style = Style { code: &|s| format!("`{s}`"), minus: "−", lt: "<", percent: "%" };
    let _ = writeln!(out, "{}\n", intro(opts, &style));
    let _ = writeln!(out, "### {SUMMARY_TITLE}\n");
    let _ = writeln!(
        out,
        "| method | {} |",
        results.iter().map(|r| format!("`{}`", r.perturbation)).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(results.len()));
    for (m, cells) in summary(results) {
        let cells: Vec<String> = cells.into_iter().map(|c| c.map_or_else(|| "—".into(), |c| format!("{c}%"))).collect();
        let _ = writeln!(out, "| {m} | {} |", cells.join(" | "));
    }
    out.push('\n');
    for r in results {
        let _ = writeln!(out, "### `{}`\n", r.perturbation);
        for ((suite, (_, scenario), (_, metric)), cs) in tables(r) {
            let _ = writeln!(out, "#### {suite} / {scenario} / {metric}\n");
            out.push_str("| method | clean | perturbed | drop | p (Holm) | users | verdict |\n|---|---:|---:|---:|---:|---:|---|\n");
            for c in cs {
                let dash = || "—".to_owned();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    c.method,
                    fmt(c.mean_a, 4).unwrap_or_else(dash),
                    fmt(c.mean_b, 4).unwrap_or_else(dash),
                    drop_text(c).unwrap_or_else(dash),
                    p_text(c).unwrap_or_else(dash),
                    c.users,
                    verdict_text(c.verdict)
                );
            }
            out.push('\n');
        }
    }
    out
}

/// Most perturbation columns of one LaTeX summary table; more continue in another, so that the
/// table never outgrows the text width.
const LATEX_SUMMARY_COLUMNS: usize = 5;

/// The section as a LaTeX fragment (empty when the run has no perturbed rows): the same
/// content as [`render_robustness_markdown`] in booktabs tables. The summary names its
/// perturbations P1, P2, ... in the caption and has at most 5 of them per table; every
/// per-perturbation table is split after [`LATEX_MAX_LINES`] methods; a `\clearpage` follows
/// every perturbation (and every 10 tables), so floats never pile up. Names are escaped as in
/// the fairness section. Compiles with pdflatex in an article with `\usepackage[T1]{fontenc}`
/// and `\usepackage{booktabs}`.
pub fn render_robustness_latex(results: &[PerturbationResult], opts: &CompareOptions) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut out = String::from("\\section*{Robustness}\n");
    let style = Style { code: &texttt, minus: "$-$", lt: "$<$", percent: "\\%" };
    let _ = writeln!(out, "{{\\small {}}}\n", intro(opts, &style));
    latex_summary(&mut out, results);
    out.push_str("\\clearpage\n");
    for r in results {
        let _ = writeln!(out, "\\subsection*{{Perturbation {}}}", texttt(&r.perturbation));
        let mut floats = 0;
        for ((suite, (_, scenario), (_, metric)), cs) in tables(r) {
            let chunks: Vec<&[&Comparison]> = cs.chunks(LATEX_MAX_LINES).collect();
            for (part, chunk) in chunks.iter().enumerate() {
                if floats == 10 {
                    out.push_str("\\clearpage\n");
                    floats = 0;
                }
                floats += 1;
                let mut caption = format!(
                    "{}: {} / {} / {} ({})",
                    texttt(&r.perturbation),
                    tex(&suite),
                    tex(&scenario),
                    tex(&metric),
                    direction_label(direction(&metric))
                );
                if chunks.len() > 1 {
                    let _ = write!(caption, ", part {} of {}", part + 1, chunks.len());
                }
                latex_table(&mut out, &caption, chunk);
            }
        }
        out.push_str("\\clearpage\n");
    }
    out
}

/// The summary tables, [`LATEX_SUMMARY_COLUMNS`] perturbations at a time.
fn latex_summary(out: &mut String, results: &[PerturbationResult]) {
    let rows = summary(results);
    let parts = results.len().div_ceil(LATEX_SUMMARY_COLUMNS);
    for part in 0..parts {
        let first = part * LATEX_SUMMARY_COLUMNS;
        let cols = first..(first + LATEX_SUMMARY_COLUMNS).min(results.len());
        let names: Vec<String> =
            cols.clone().map(|i| format!("P{}: {}", i + 1, texttt(&results[i].perturbation))).collect();
        let more = if parts > 1 { format!(" (part {} of {parts})", part + 1) } else { String::new() };
        let _ = write!(
            out,
            "\\begin{{table}}[htbp]\n\\centering\n\\caption{{{SUMMARY_TITLE}{more}, in percent. {}.}}\n\
             \\footnotesize\n\\begin{{tabular}}{{l{}}}\n\\toprule\nMethod",
            names.join("; "),
            "r".repeat(cols.len())
        );
        for i in cols.clone() {
            let _ = write!(out, " & P{}", i + 1);
        }
        out.push_str(" \\\\\n\\midrule\n");
        for (m, cells) in &rows {
            out.push_str(&tex(m));
            for cell in &cells[cols.clone()] {
                let _ = write!(out, " & {}", cell.as_deref().unwrap_or("--"));
            }
            out.push_str(" \\\\\n");
        }
        out.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
    }
}

/// One per-perturbation table.
fn latex_table(out: &mut String, caption: &str, cs: &[&Comparison]) {
    let _ = write!(
        out,
        "\\begin{{table}}[htbp]\n\\centering\n\\caption{{{caption}.}}\n\\footnotesize\n\
         \\begin{{tabular}}{{lrrrrrl}}\n\\toprule\n\
         Method & Clean & Perturbed & Drop & $p_{{\\mathrm{{Holm}}}}$ & Users & Verdict \\\\\n\\midrule\n"
    );
    for c in cs {
        let dash = || "--".to_owned();
        let _ = writeln!(
            out,
            "{} & {} & {} & {} & {} & {} & {} \\\\",
            tex(&c.method),
            fmt(c.mean_a, 4).unwrap_or_else(dash),
            fmt(c.mean_b, 4).unwrap_or_else(dash),
            drop_text(c).unwrap_or_else(dash),
            p_text(c).map_or_else(dash, |p| p.replace('<', "$<$")),
            c.users,
            verdict_text(c.verdict)
        );
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
}

/// The section as an HTML fragment (empty when the run has no perturbed rows): one
/// `<section class="robustness">` with the content of [`render_robustness_markdown`] in
/// tables styled by [`crate::html`]'s style sheet (`num`, `note`, `mark` for "worse", `dir`),
/// and after the summary the shot curves of `curves` ([`shot_curve_figure`], inline SVG, each
/// with a caption). Well-formed XML; all text escaped; no external resource.
pub fn render_robustness_html(
    results: &[PerturbationResult],
    opts: &CompareOptions,
    curves: &[ShotCurve],
    board: &LeaderboardOptions,
) -> String {
    if results.is_empty() {
        return String::new();
    }
    let code = |s: &str| format!("<code>{}</code>", escape(s));
    let mut out = String::from("<section class=\"robustness\">\n<h2>Robustness</h2>\n");
    let style = Style { code: &code, minus: "−", lt: "&lt;", percent: "%" };
    let _ = writeln!(out, "<p class=\"note\">{}</p>", intro(opts, &style));
    let _ = write!(
        out,
        "<h3>{SUMMARY_TITLE}</h3>\n<div style=\"overflow-x: auto\">\n<table class=\"robustness-summary\">\n\
         <thead><tr><th>Method</th>"
    );
    for r in results {
        let _ = write!(out, "<th class=\"num\">{}</th>", code(&r.perturbation));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (m, cells) in summary(results) {
        let _ = write!(out, "<tr><td>{}</td>", escape(m));
        for cell in cells {
            let _ = write!(out, "<td class=\"num\">{}</td>", cell.map_or_else(|| "—".to_owned(), |c| format!("{c}%")));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n");
    html_shot_curves(&mut out, curves, board);
    for r in results {
        let _ = writeln!(out, "<h3>Perturbation {}</h3>", code(&r.perturbation));
        for ((suite, (_, scenario), (_, metric)), cs) in tables(r) {
            html_table(&mut out, &suite, &scenario, &metric, &cs);
        }
    }
    out.push_str("</section>\n");
    out
}

/// The shot curve figures, under their own heading (nothing when there are none).
fn html_shot_curves(out: &mut String, curves: &[ShotCurve], board: &LeaderboardOptions) {
    if curves.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Shot curves</h3>\n<p class=\"note\">Per suite, scenario and metric, the mean over users (per-user \
         values averaged over seeds) at each number of support ratings per user K (the <code>shots(K)</code> \
         perturbations and the clean run), one line per method. K is evenly spaced, not to scale.</p>\n",
    );
    for curve in curves {
        let fig = shot_curve_figure(curve, board);
        let place = format!("{} / {} / {}", curve.suite, curve.scenario, curve.metric);
        let Some(svg) = fig.svg else {
            let _ =
                writeln!(out, "<p class=\"note\">No shot curve for {}: no finite value to draw.</p>", escape(&place));
            continue;
        };
        let clean = match curve.clean_k {
            Some(k) => format!(" K = {k} is the clean run."),
            None => " The clean run's K is not fixed (or not known), so it is not drawn.".to_owned(),
        };
        let omitted = if fig.omitted.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = fig.omitted.iter().map(|o| escape(o)).collect();
            format!(" Not drawn because not finite: {}.", list.join("; "))
        };
        let _ = writeln!(
            out,
            "<figure>\n{svg}\n<figcaption>Shot curve of {}: {} ({}), mean over users against K.{clean}{omitted}\
             </figcaption>\n</figure>",
            escape(&place),
            escape(&curve.metric),
            direction_label(direction(&curve.metric))
        );
    }
}

/// One per-perturbation table.
fn html_table(out: &mut String, suite: &str, scenario: &str, metric: &str, cs: &[&Comparison]) {
    let _ = write!(
        out,
        "<h4>{} / {} / {} <span class=\"dir\">({})</span></h4>\n<table class=\"robustness\">\n<thead><tr>\
         <th>Method</th><th class=\"num\">Clean</th><th class=\"num\">Perturbed</th><th class=\"num\">Drop</th>\
         <th class=\"num\">p (Holm)</th><th class=\"num\">Users</th><th>Verdict</th></tr></thead>\n<tbody>\n",
        escape(suite),
        escape(scenario),
        escape(metric),
        direction_label(direction(metric))
    );
    for c in cs {
        let dash = || "—".to_owned();
        let verdict = match c.verdict {
            Verdict::Regressed => format!("<span class=\"mark\">{}</span>", verdict_text(c.verdict)),
            v => verdict_text(v).to_owned(),
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{verdict}</td></tr>",
            escape(&c.method),
            fmt(c.mean_a, 4).unwrap_or_else(dash),
            fmt(c.mean_b, 4).unwrap_or_else(dash),
            drop_text(c).unwrap_or_else(dash),
            escape(&p_text(c).unwrap_or_else(dash)),
            c.users
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, perturbation: &str, user: u64, value: f64) -> ResultRow {
        ResultRow {
            suite: "s".into(),
            scenario: "warm".into(),
            method: method.into(),
            seed: 0,
            perturbation: perturbation.into(),
            user,
            metric: "mae".into(),
            value,
        }
    }

    #[test]
    fn drops_are_paired_against_clean_rows_per_perturbation() {
        let mut rows = Vec::new();
        for u in 0..20 {
            let clean = 0.5 + u as f64 / 100.0;
            rows.push(row("m", "none", u, clean));
            // shots(1): every user worse by 0.1 (+ a little), a significant worsening.
            rows.push(row("m", "shots(1)", u, clean + 0.1 + u as f64 / 1000.0));
            // noise: unchanged.
            rows.push(row("m", "noise", u, clean));
        }
        let opts = CompareOptions::default();
        let r = analyze_robustness(&rows, &opts);
        assert_eq!(r.iter().map(|p| p.perturbation.as_str()).collect::<Vec<_>>(), ["noise", "shots(1)"]);
        let shots = &r[1].comparisons[0];
        assert_eq!(shots.users, 20);
        assert!((shots.diff - (0.1 + 0.0095)).abs() < 1e-12, "{}", shots.diff);
        assert_eq!(shots.verdict, Verdict::Regressed);
        assert_eq!(r[0].comparisons[0].verdict, Verdict::Unchanged);
        let md = render_robustness_markdown(&r, &opts);
        assert!(md.contains("| m | 0.5950 | 0.7045 | +0.1095 |"), "{md}");
        assert!(md.contains("| worse |") && md.contains("| no change |"), "{md}");
        // Summary: MAE rose 18.4% relative to 0.595: -18.4% (negative is worse).
        assert!(md.contains("| m | +0.0% | -18.4% |"), "{md}");
        assert!(!md.contains("NaN"));
    }

    #[test]
    fn a_perturbation_on_fewer_seeds_is_compared_with_the_clean_rows_of_those_seeds() {
        let mut rows = Vec::new();
        for u in 0..10 {
            // Clean: seed 0 at 0.5, seed 1 at 0.9; the attack runs on seed 0 only, at 0.6.
            rows.push(row("m", "none", u, 0.5));
            rows.push(ResultRow { seed: 1, ..row("m", "none", u, 0.9) });
            rows.push(row("m", "attack", u, 0.6));
        }
        let r = analyze_robustness(&rows, &CompareOptions::default());
        let c = &r[0].comparisons[0];
        assert!((c.mean_a - 0.5).abs() < 1e-12 && (c.diff - 0.1).abs() < 1e-12, "{c:?}");
    }

    #[test]
    fn no_perturbations_no_section() {
        let rows = vec![row("m", "none", 0, 1.0)];
        let opts = CompareOptions::default();
        assert!(analyze_robustness(&rows, &opts).is_empty());
        assert_eq!(render_robustness_markdown(&[], &opts), "");
        assert_eq!(render_robustness_latex(&[], &opts), "");
        assert_eq!(render_robustness_html(&[], &opts, &[], &LeaderboardOptions::default()), "");
    }

    /// The rows of the first test under a LaTeX-hostile method name, plus `shots(5)` (better by
    /// 0.05 for every user) and `label-noise(random;0.2;support)` (unchanged).
    fn three_perturbations() -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for u in 0..20 {
            let clean = 0.5 + u as f64 / 100.0;
            for (p, v) in [
                ("none", clean),
                ("shots(1)", clean + 0.1 + u as f64 / 1000.0),
                ("shots(5)", clean - 0.05),
                ("label-noise(random;0.2;support)", clean),
            ] {
                rows.push(row("meta_sgd & co", p, u, v));
            }
        }
        rows
    }

    #[test]
    fn latex_section_has_the_markdown_numbers() {
        let opts = CompareOptions::default();
        let r = analyze_robustness(&three_perturbations(), &opts);
        let tex = render_robustness_latex(&r, &opts);
        // P1 = label-noise (name order), P2 = shots(1), P3 = shots(5)
        assert!(tex.contains("P1: \\texttt{label-noise(random;0.2;support)}; P2: \\texttt{shots(1)}"), "{tex}");
        assert!(tex.contains("Method & P1 & P2 & P3 \\\\\n"), "{tex}");
        // 0.05 / 0.595 = 8.4% better
        assert!(tex.contains("meta\\_sgd \\& co & +0.0 & -18.4 & +8.4 \\\\\n"), "{tex}");
        assert!(tex.contains("meta\\_sgd \\& co & 0.5950 & 0.7045 & +0.1095 & $<$0.0001 & 20 & worse \\\\\n"), "{tex}");
        assert!(tex.contains("meta\\_sgd \\& co & 0.5950 & 0.5450 & -0.0500 & $<$0.0001 & 20 & better \\\\\n"));
        assert!(tex.contains("& 0.5950 & 0.5950 & +0.0000 & 1.0000 & 20 & no change \\\\\n"), "{tex}");
        assert!(tex.contains("\\texttt{shots(1)}: s / warm / mae (lower is better)"), "{tex}");
        assert_eq!(tex.matches("\\begin{table}").count(), 4);
        assert_eq!(tex.matches("\\begin{table}").count(), tex.matches("\\end{table}").count());
        assert!(!tex.contains("NaN") && !tex.contains('−') && !tex.contains("—"), "{tex}");
    }

    #[test]
    fn html_section_has_the_markdown_numbers_and_the_shot_curve() {
        let opts = CompareOptions::default();
        let r = analyze_robustness(&three_perturbations(), &opts);
        let curves = crate::section_figures::shot_curves(&r, &|suite, scenario| {
            ((suite, scenario) == ("s", "warm")).then_some(3)
        });
        assert_eq!(curves.len(), 1);
        let html = render_robustness_html(&r, &opts, &curves, &LeaderboardOptions::default());
        let doc = roxmltree::Document::parse(&html).unwrap_or_else(|e| panic!("not well-formed: {e}\n{html}"));
        assert!(doc.root_element().has_tag_name("section"));
        let rows: Vec<Vec<String>> = doc
            .descendants()
            .filter(|n| n.has_tag_name("tr"))
            .map(|tr| {
                let cells = tr.children().filter(|c| c.has_tag_name("td"));
                cells.map(|td| td.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect()).collect()
            })
            .filter(|cells: &Vec<String>| !cells.is_empty())
            .collect();
        let want = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(rows[0], want(&["meta_sgd & co", "+0.0%", "-18.4%", "+8.4%"]));
        assert!(rows.contains(&want(&["meta_sgd & co", "0.5950", "0.7045", "+0.1095", "<0.0001", "20", "worse"])));
        assert!(rows.contains(&want(&["meta_sgd & co", "0.5950", "0.5450", "-0.0500", "<0.0001", "20", "better"])));
        assert_eq!(rows.len(), 4);
        assert!(html.contains("<span class=\"mark\">worse</span>"));
        // the shot curve: K = 1, 3 (clean), 5
        assert_eq!(html.matches("<svg ").count(), 1);
        assert!(html.contains("K = 3 is the clean run."), "{html}");
        assert!(!html.contains("NaN") && !html.contains("meta_sgd & co"), "{html}");
    }
}
