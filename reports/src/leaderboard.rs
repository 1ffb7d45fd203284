//! Markdown (and LaTeX) leaderboard: provenance, then one table per (suite,
//! scenario, metric) ranking methods by their [`Summary`], with a mark on the
//! methods that differ significantly from the best one (see
//! [`crate::significance`]), then average ranks across tables.
//!
//! Only rows with `perturbation == "none"` are shown; rows with any other
//! perturbation are ignored for now (a later issue adds robustness sections).
//! The output depends only on the set of rows, not on their order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::significance::{
    RankSummary, SignificanceOptions, SignificanceRow, Skipped, Table, Test, analyze, compare_table, group_rows,
};
use crate::summary::{Summary, summarize};

/// Where the numbers come from, printed above the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub commit: String,
    pub dirty: bool,
    pub config_hash: String,
    /// (dataset name, sha256); printed sorted by name.
    pub data_hashes: Vec<(String, String)>,
    pub run_id: String,
}

/// Rendering choices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderboardOptions {
    /// Methods such as `"oracle"` that bound what is attainable: shown in
    /// sorted position, marked "(bound)", but not ranked and never bold.
    pub reference_methods: Vec<String>,
    /// Baselines (such as `"item-mean"`) against which every method's win/tie/loss counts
    /// are given after the tables (see [`crate::wtl`]); none: no such section.
    pub baseline_methods: Vec<String>,
}

/// Scenarios listed first, in this order; others follow alphabetically.
pub(crate) const SCENARIO_ORDER: [&str; 4] = ["warm", "user-cold", "item-cold", "user-item-cold"];
/// Metrics listed first, in this order; others follow alphabetically.
pub(crate) const METRIC_ORDER: [&str; 2] = ["mae", "rmse"];

const TABLE_HEAD: &str = "| rank | method | mean | 95% CI | seed sd | users |\n\
                          |---:|---|---:|---|---:|---:|\n";
pub(crate) const CI_NOTE: &str = "95% t-interval over users; values averaged over seeds per user.";

/// Sort key putting the names of `first` first, in that order, then the rest
/// alphabetically.
pub(crate) type Ordered<'a> = (usize, &'a str);

pub(crate) fn ordered<'a>(name: &'a str, first: &[&str]) -> Ordered<'a> {
    (first.iter().position(|f| *f == name).unwrap_or(first.len()), name)
}

/// (seed, user, value) of one method in one table.
pub(crate) type Values = Vec<(u64, u64, f64)>;
/// suite -> scenario -> metric -> method -> values.
pub(crate) type Cells<'a> = BTreeMap<&'a str, BTreeMap<Ordered<'a>, BTreeMap<Ordered<'a>, BTreeMap<&'a str, Values>>>>;

/// Significance marks and the rank summary of the rendered leaderboards.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkOptions {
    /// Test whose result marks a method with [`MARK`]; `None` renders no
    /// marks (and no note). Default: [`Test::Wilcoxon`].
    pub test: Option<Test>,
    /// A method is marked when its Holm-adjusted p-value against the best
    /// method is below `alpha` (default 0.05); also the level of the Nemenyi
    /// critical difference.
    pub alpha: f64,
    /// With [`Test::Aso`]: a method is marked when eps_min of the best over it
    /// is below this (default 0.2, the threshold of Ulmer et al. 2022).
    pub aso_threshold: f64,
    /// Base seed of the Monte Carlo permutation test and the ASO bootstrap.
    pub seed: u64,
    /// Append, per metric, average ranks over the (suite, scenario) tables
    /// with the Friedman test and the Nemenyi critical difference (default
    /// true; shown only for metrics in at least 2 tables).
    pub rank_summary: bool,
}

impl Default for MarkOptions {
    fn default() -> Self {
        MarkOptions { test: Some(Test::Wilcoxon), alpha: 0.05, aso_threshold: 0.2, seed: 0, rank_summary: true }
    }
}

/// The mark of a method that differs significantly from the best one.
pub const MARK: &str = "†";

/// Renders the leaderboard of `rows` (see the module docs) as Markdown, with
/// the default [`MarkOptions`] (Wilcoxon marks, Holm, alpha 0.05, rank
/// summary); see [`render_markdown_with`].
pub fn render_markdown(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions) -> String {
    render_markdown_with(rows, prov, opts, &MarkOptions::default())
}

/// Renders the leaderboard of `rows` (see the module docs) as Markdown.
///
/// For each suite (alphabetical), scenario (warm, user-cold, item-cold,
/// user-item-cold, then others alphabetically) and metric (mae, rmse, then
/// others alphabetically) a table `| rank | method | mean | 95% CI | seed sd |
/// users |` lists the methods best first by [`direction`], ties broken by
/// method name; the best ranked method's mean is bold. A metric of unknown
/// direction is listed by method name, unranked, with a note. Numbers have 4
/// decimals.
///
/// With `marks.test` set, every ranked method whose difference from the best
/// one is significant (see [`MarkOptions`] and [`crate::significance`]: users
/// paired, values averaged over seeds per user, Holm over the table's
/// comparisons) gets [`MARK`] after its name, and a note under the table says
/// what the mark means and which comparisons could not be tested and why.
/// With `marks.rank_summary`, a final section gives per metric the average
/// ranks over the (suite, scenario) tables, the Friedman test and the
/// Nemenyi critical difference.
pub fn render_markdown_with(
    rows: &[ResultRow],
    prov: &Provenance,
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
) -> String {
    let cells = group_rows(rows);
    let mut out = String::from("# metarec leaderboard\n\n");
    provenance(&mut out, prov);
    if cells.is_empty() {
        out.push_str("\n_No results with perturbation `none`._\n");
    }
    for (suite, scenarios) in &cells {
        let _ = write!(out, "\n## Suite `{suite}`\n");
        for ((_, scenario), metrics) in scenarios {
            let _ = write!(out, "\n### {suite} / {scenario}\n");
            for ((_, metric), methods) in metrics {
                let t = Table { suite, scenario, metric };
                markdown_table(&mut out, &view(&t, methods, opts, marks));
            }
        }
    }
    if marks.rank_summary {
        let (ranks, skipped) = rank_summary(rows, opts, marks);
        markdown_ranks(&mut out, &ranks, &skipped);
    }
    let wtl = crate::wtl::render_markdown(&crate::wtl::win_tie_loss(rows, opts, marks.alpha), marks.alpha);
    if !wtl.is_empty() {
        out.push('\n');
        out.push_str(&wtl);
    }
    out
}

fn provenance(out: &mut String, prov: &Provenance) {
    let dirty = if prov.dirty { " (dirty)" } else { "" };
    let _ = writeln!(out, "- commit: `{}`{dirty}", prov.commit);
    let _ = writeln!(out, "- config: `{}`", prov.config_hash);
    let _ = writeln!(out, "- run: `{}`", prov.run_id);
    let mut data: Vec<_> = prov.data_hashes.iter().collect();
    data.sort();
    if data.is_empty() {
        out.push_str("- data: none\n");
    } else {
        out.push_str("- data (sha256):\n");
        for (name, hash) in data {
            let _ = writeln!(out, "  - {name}: `{hash}`");
        }
    }
}

/// One line of a table.
pub(crate) struct Line<'a> {
    /// `None` for reference methods and unknown directions.
    pub(crate) rank: Option<usize>,
    pub(crate) method: &'a str,
    pub(crate) bound: bool,
    pub(crate) summary: Summary,
    pub(crate) marked: bool,
}

/// What the significance note under a table says.
pub(crate) struct MarkNote {
    pub(crate) test: Test,
    pub(crate) best: String,
    /// Comparisons that were tested (the Holm family size).
    pub(crate) tested: usize,
    pub(crate) any_marked: bool,
    pub(crate) skipped: Vec<Skipped>,
}

/// Everything a renderer needs of one table.
pub(crate) struct View<'a> {
    pub(crate) metric: &'a str,
    pub(crate) dir: Option<Direction>,
    pub(crate) lines: Vec<Line<'a>>,
    pub(crate) note: Option<MarkNote>,
    pub(crate) alpha: f64,
    pub(crate) aso_threshold: f64,
}

pub(crate) fn view<'a>(
    t: &Table<'a>,
    methods: &'a BTreeMap<&'a str, Values>,
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
) -> View<'a> {
    let dir = direction(t.metric);
    // `methods` iterates by name, and the sort is stable: ties stay in name order.
    let mut sorted: Vec<(&str, Summary)> = methods.iter().filter_map(|(m, v)| Some((*m, summarize(v)?))).collect();
    if let Some(d) = dir {
        sorted.sort_by(|a, b| better_first(a.1.mean, b.1.mean, d));
    }
    let mut rank = 0;
    let mut lines: Vec<Line> = sorted
        .into_iter()
        .map(|(method, summary)| {
            let bound = opts.reference_methods.iter().any(|r| r == method);
            let rank = if bound || dir.is_none() {
                None
            } else {
                rank += 1;
                Some(rank)
            };
            Line { rank, method, bound, summary, marked: false }
        })
        .collect();

    let mut note = None;
    let ranked = lines.iter().filter(|l| l.rank.is_some()).count();
    if let (Some(test), Some(_), true) = (marks.test, dir, ranked >= 2) {
        let sig = SignificanceOptions {
            reference_methods: opts.reference_methods.clone(),
            tests: vec![test],
            min_users: 2,
            seed: marks.seed,
            alpha: marks.alpha,
        };
        let (rows, skipped) = compare_table(t, methods, &sig);
        let significant = |r: &SignificanceRow| match test {
            Test::Aso => r.effect.is_some_and(|e| e < marks.aso_threshold),
            _ => r.p_adjusted.is_some_and(|p| p < marks.alpha),
        };
        let marked: BTreeSet<&str> = rows.iter().filter(|r| significant(r)).map(|r| r.method_b.as_str()).collect();
        for l in &mut lines {
            l.marked = l.rank.is_some() && marked.contains(l.method);
        }
        let best = lines.iter().find(|l| l.rank == Some(1)).map_or_else(String::new, |l| l.method.to_owned());
        note = Some(MarkNote { test, best, tested: rows.len(), any_marked: !marked.is_empty(), skipped });
    }
    View { metric: t.metric, dir, lines, note, alpha: marks.alpha, aso_threshold: marks.aso_threshold }
}

pub(crate) fn direction_label(dir: Option<Direction>) -> &'static str {
    match dir {
        Some(Direction::LowerIsBetter) => "lower is better",
        Some(Direction::HigherIsBetter) => "higher is better",
        None => "direction unknown",
    }
}

fn markdown_table(out: &mut String, v: &View) {
    let metric = v.metric;
    let label = direction_label(v.dir);
    let _ = write!(out, "\n#### {metric} ({label})\n\n{TABLE_HEAD}");
    for l in &v.lines {
        let s = &l.summary;
        let rank_cell = l.rank.map_or_else(|| "—".to_owned(), |r| r.to_string());
        let bound = if l.bound { " (bound)" } else { "" };
        let mark = if l.marked { format!(" {MARK}") } else { String::new() };
        let name = format!("{}{bound}{mark}", escape(l.method));
        let mean = if l.rank == Some(1) { format!("**{}**", num(s.mean)) } else { num(s.mean) };
        let _ = writeln!(
            out,
            "| {rank_cell} | {name} | {mean} | [{}, {}] | {} | {} |",
            num(s.ci_low),
            num(s.ci_high),
            num(s.seed_sd),
            s.n_units
        );
    }
    out.push('\n');
    if v.dir.is_none() {
        let _ = writeln!(out, "Direction of `{metric}` is unknown: methods are listed by name, not ranked.");
    }
    let _ = writeln!(out, "{CI_NOTE}");
    if let Some(note) = &v.note {
        let _ = writeln!(out, "{}", mark_sentence(note, v, |m| format!("`{m}`")));
        for s in &note.skipped {
            let _ = writeln!(out, "Not tested: {} ({}).", s.what, s.reason);
        }
    }
}

/// The sentence under a table explaining [`MARK`]; `code` formats a method name.
pub(crate) fn mark_sentence(note: &MarkNote, v: &View, code: impl Fn(&str) -> String) -> String {
    let best = code(&note.best);
    let n = note.tested;
    if n == 0 {
        return format!("No difference from the best method ({best}) could be tested by the {}.", note.test.describe());
    }
    let s = if n == 1 { "" } else { "s" };
    match note.test {
        Test::Aso => {
            let detail = format!(
                "{} with 1000 bootstrap iterations, confidence level 0.95 Bonferroni-adjusted over \
                 the {n} comparison{s} in this table",
                note.test.describe()
            );
            if note.any_marked {
                format!(
                    "{MARK}: the best method ({best}) is almost stochastically dominant over it, \
                     eps_min < {} ({detail}).",
                    v.aso_threshold
                )
            } else {
                format!(
                    "The best method ({best}) is not almost stochastically dominant \
                     (eps_min < {}) over any other ({detail}).",
                    v.aso_threshold
                )
            }
        }
        test => {
            let detail = format!(
                "{} over the users present for both methods, values averaged over seeds per \
                 user; Holm over the {n} comparison{s} with the best in this table",
                test.describe()
            );
            if note.any_marked {
                format!(
                    "{MARK}: differs significantly from the best method ({best}), Holm-adjusted \
                     p < {} ({detail}).",
                    v.alpha
                )
            } else {
                format!(
                    "No method differs significantly from the best method ({best}) at \
                     Holm-adjusted p < {} ({detail}).",
                    v.alpha
                )
            }
        }
    }
}

/// Rank summaries and their skipped entries under the leaderboard's options.
fn rank_summary(
    rows: &[ResultRow],
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
) -> (Vec<RankSummary>, Vec<Skipped>) {
    let sig = SignificanceOptions {
        reference_methods: opts.reference_methods.clone(),
        tests: Vec::new(),
        alpha: marks.alpha,
        ..SignificanceOptions::default()
    };
    let report = analyze(rows, &sig);
    let skipped = report.skipped.into_iter().filter(|s| s.suite.is_empty()).collect();
    (report.ranks, skipped)
}

/// p-value with 4 decimals, or "< 0.0001".
fn p_text(p: f64) -> String {
    if p < 0.0001 { "< 0.0001".to_owned() } else { format!("{p:.4}") }
}

fn markdown_ranks(out: &mut String, ranks: &[RankSummary], skipped: &[Skipped]) {
    if ranks.is_empty() {
        return;
    }
    out.push_str("\n## Average ranks across tables\n");
    for r in ranks {
        let label = direction_label(direction(&r.metric));
        let _ = write!(out, "\n#### {} ({label})\n\n| method | average rank |\n|---|---:|\n", r.metric);
        for (m, rank) in &r.average_ranks {
            let _ = writeln!(out, "| {} | {} |", escape(m), num(*rank));
        }
        let blocks: Vec<String> = r.blocks.iter().map(|(s, c)| format!("{s} / {c}")).collect();
        let _ = writeln!(
            out,
            "\nRanked by mean within each of the {} tables ({}); rank 1 = best, ties averaged.",
            r.blocks.len(),
            blocks.join(", ")
        );
        let k = r.average_ranks.len();
        match r.friedman {
            Some((chi2, p)) => {
                let _ = writeln!(out, "Friedman test: chi-square = {} (df {}), p = {}.", num(chi2), k - 1, p_text(p));
            }
            None => {
                let why = skipped
                    .iter()
                    .find(|s| s.metric == r.metric && s.what == "Friedman test")
                    .map_or("", |s| s.reason.as_str());
                let _ = writeln!(out, "Friedman test: not computed ({why}).");
            }
        }
        let _ = writeln!(
            out,
            "Nemenyi critical difference at alpha = {}: {}; two methods whose average ranks differ \
             by more than this differ significantly (Demsar 2006).",
            r.alpha,
            num(r.critical_difference)
        );
        for s in skipped.iter().filter(|s| s.metric == r.metric && s.what.starts_with("rank summary: ")) {
            let _ = writeln!(out, "Not ranked: {} ({}).", s.what.trim_start_matches("rank summary: "), s.reason);
        }
    }
}

/// Renders the same tables as [`render_markdown_with`] as a LaTeX document:
/// one booktabs table per (suite, scenario, metric), whose caption explains
/// the interval, the bold best mean, "(bound)" and [`MARK`] (typeset
/// `$^\dagger$`), plus the rank summary tables. Needs only the `booktabs`
/// package; method names are escaped.
pub fn render_latex(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions, marks: &MarkOptions) -> String {
    let cells = group_rows(rows);
    let mut out = String::from(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n\
         \\begin{document}\n\\section*{metarec leaderboard}\n",
    );
    let dirty = if prov.dirty { " (dirty)" } else { "" };
    let mut data: Vec<_> = prov.data_hashes.iter().collect();
    data.sort();
    let data: Vec<String> = data.iter().map(|(n, h)| format!("\\quad {}: \\texttt{{{}}}", tex(n), tex(h))).collect();
    // One fact per line in a small font, so 64-character hashes fit the text width.
    let _ = writeln!(
        out,
        "\\begin{{flushleft}}\\footnotesize\nCommit \\texttt{{{}}}{dirty}\\\\\nConfig \\texttt{{{}}}\\\\\n\
         Run \\texttt{{{}}}\\\\\nData (sha256):{}\n\\end{{flushleft}}\n",
        tex(&prov.commit),
        tex(&prov.config_hash),
        tex(&prov.run_id),
        if data.is_empty() { " none".to_owned() } else { format!("\\\\\n{}", data.join("\\\\\n")) }
    );
    if cells.is_empty() {
        out.push_str("No results with perturbation \\texttt{none}.\n");
    }
    for (suite, scenarios) in &cells {
        let _ = writeln!(out, "\\subsection*{{Suite \\texttt{{{}}}}}", tex(suite));
        for ((_, scenario), metrics) in scenarios {
            for ((_, metric), methods) in metrics {
                let t = Table { suite, scenario, metric };
                latex_table(&mut out, &t, &view(&t, methods, opts, marks));
            }
            out.push_str("\\clearpage\n");
        }
    }
    if marks.rank_summary {
        let (ranks, skipped) = rank_summary(rows, opts, marks);
        for r in &ranks {
            latex_ranks(&mut out, r, &skipped);
        }
    }
    out.push_str(&crate::wtl::render_latex(&crate::wtl::win_tie_loss(rows, opts, marks.alpha), marks.alpha, &tex));
    out.push_str("\\end{document}\n");
    out
}

fn latex_table(out: &mut String, t: &Table, v: &View) {
    let mut caption = format!(
        "{} / {}: {} ({}). Mean over users of the per-user mean over seeds; 95\\% \
         t-interval over users; seed sd is the standard deviation of the per-seed means.",
        tex(t.suite),
        tex(t.scenario),
        tex(t.metric),
        direction_label(v.dir)
    );
    if v.dir.is_some() {
        caption.push_str(" The best ranked mean is bold.");
    } else {
        caption.push_str(" The direction of this metric is unknown: methods are listed by name, not ranked.");
    }
    if v.lines.iter().any(|l| l.bound) {
        caption.push_str(" (bound): a reference method, not ranked.");
    }
    if let Some(note) = &v.note {
        let sentence = mark_sentence(note, v, |m| format!("\\texttt{{{}}}", tex(m)))
            .replace(MARK, "$^\\dagger$")
            .replace("eps_min <", "$\\epsilon_{\\min} <$")
            .replace("p < ", "$p <$ ");
        let _ = write!(caption, " {sentence}");
        for s in &note.skipped {
            let _ = write!(caption, " Not tested: {} ({}).", tex(&s.what), tex(&s.reason));
        }
    }
    let _ = write!(
        out,
        "\\begin{{table}}[htbp]\n\\centering\n\\caption{{{caption}}}\n\
         \\begin{{tabular}}{{rlrcrr}}\n\\toprule\n\
         Rank & Method & Mean & 95\\% CI & Seed sd & Users \\\\\n\\midrule\n"
    );
    for l in &v.lines {
        let s = &l.summary;
        let rank = l.rank.map_or_else(|| "--".to_owned(), |r| r.to_string());
        let bound = if l.bound { " (bound)" } else { "" };
        let mark = if l.marked { "$^\\dagger$" } else { "" };
        let mean = if l.rank == Some(1) { format!("\\textbf{{{}}}", num(s.mean)) } else { num(s.mean) };
        let _ = writeln!(
            out,
            "{rank} & {}{bound}{mark} & {mean} & [{}, {}] & {} & {} \\\\",
            tex(l.method),
            num(s.ci_low),
            num(s.ci_high),
            num(s.seed_sd),
            s.n_units
        );
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
}

fn latex_ranks(out: &mut String, r: &RankSummary, skipped: &[Skipped]) {
    let k = r.average_ranks.len();
    let friedman = match r.friedman {
        Some((chi2, p)) => format!(
            "Friedman test: $\\chi^2 = {}$ (df {}), $p$ {}.",
            num(chi2),
            k - 1,
            if p < 0.0001 { "$< 0.0001$".to_owned() } else { format!("$= {p:.4}$") }
        ),
        None => {
            let why = skipped
                .iter()
                .find(|s| s.metric == r.metric && s.what == "Friedman test")
                .map_or("", |s| s.reason.as_str());
            format!("Friedman test not computed ({}).", tex(why))
        }
    };
    let _ = write!(
        out,
        "\\begin{{table}}[htbp]\n\\centering\n\\caption{{Average ranks of {} ({}) over {} \
         (suite, scenario) tables, rank 1 = best, ties averaged. {friedman} Nemenyi critical \
         difference at $\\alpha = {}$: {}; average ranks further apart differ significantly \
         (Demsar 2006).}}\n\\begin{{tabular}}{{lr}}\n\\toprule\nMethod & Average rank \\\\\n\\midrule\n",
        tex(&r.metric),
        direction_label(direction(&r.metric)),
        r.blocks.len(),
        r.alpha,
        num(r.critical_difference)
    );
    for (m, rank) in &r.average_ranks {
        let _ = writeln!(out, "{} & {} \\\\", tex(m), num(*rank));
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n\\end{table}\n");
}

/// Escapes LaTeX special characters in text.
fn tex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            '|' => out.push_str("\\textbar{}"),
            _ => out.push(c),
        }
    }
    out
}

/// Orders means best first for `dir`, NaN last.
pub(crate) fn better_first(a: f64, b: f64, dir: Direction) -> Ordering {
    let by_value = match dir {
        Direction::LowerIsBetter => a.partial_cmp(&b),
        Direction::HigherIsBetter => b.partial_cmp(&a),
    };
    a.is_nan().cmp(&b.is_nan()).then(by_value.unwrap_or(Ordering::Equal))
}

fn num(x: f64) -> String {
    format!("{x:.4}")
}

/// Keeps a name from breaking the table.
fn escape(name: &str) -> String {
    name.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, method: &str, metric: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        ResultRow {
            suite: "ml".into(),
            scenario: scenario.into(),
            method: method.into(),
            seed,
            perturbation: "none".into(),
            user,
            metric: metric.into(),
            value,
        }
    }

    /// `values[s][u]` is the value of seed s+1 and user u+1.
    fn cell(method: &str, metric: &str, values: [[f64; 3]; 2]) -> Vec<ResultRow> {
        (0..2)
            .flat_map(|s| (0..3).map(move |u| (s, u)))
            .map(|(s, u)| row("warm", method, metric, s as u64 + 1, u as u64 + 1, values[s][u]))
            .collect()
    }

    fn prov(dirty: bool, data: &[(&str, &str)]) -> Provenance {
        Provenance {
            commit: "abc1234".into(),
            dirty,
            config_hash: "cfg9".into(),
            data_hashes: data.iter().map(|(n, h)| (n.to_string(), h.to_string())).collect(),
            run_id: "run-7".into(),
        }
    }

    fn oracle() -> LeaderboardOptions {
        LeaderboardOptions { reference_methods: vec!["oracle".into()], ..Default::default() }
    }

    /// 2 methods + oracle, 3 users, 2 seeds, plus a perturbed row to ignore.
    fn example_rows() -> Vec<ResultRow> {
        let mut rows = [
            cell("maml", "mae", [[0.7, 0.9, 1.1], [0.9, 1.1, 1.3]]),
            cell("protonet", "mae", [[1.0, 1.1, 1.5], [1.2, 1.3, 1.9]]),
            cell("oracle", "mae", [[0.5; 3]; 2]),
            cell("maml", "ndcg@10", [[0.3; 3]; 2]),
            cell("protonet", "ndcg@10", [[0.4; 3]; 2]),
            cell("oracle", "ndcg@10", [[1.0; 3]; 2]),
        ]
        .concat();
        let mut perturbed = row("warm", "maml", "mae", 1, 1, 100.0);
        perturbed.perturbation = "noise-0.1".into();
        rows.push(perturbed);
        rows
    }

    // mae, maml: per-user means (0.7+0.9)/2 = 0.8, 1.0, 1.2 -> mean 1.0, sd 0.2,
    //   sem 0.2/sqrt(3) = 0.11547005, t_{0.975,2} = 4.30265273 (closed form
    //   0.95*sqrt(2/0.0975)), half 0.49682754 -> [0.5032, 1.4968];
    //   per-seed means 2.7/3 = 0.9 and 3.3/3 = 1.1 -> sd 0.2/sqrt(2) = 0.1414.
    // mae, protonet: per-user 1.1, 1.2, 1.7 -> mean 4/3 = 1.3333, sd
    //   sqrt(0.2066667/2) = 0.32145503, sem 0.18559215, half 0.79853855
    //   -> [0.5348, 2.1319]; per-seed 3.6/3 = 1.2, 4.4/3 = 1.46667 -> sd
    //   0.26667/sqrt(2) = 0.1886.
    // oracle and all ndcg@10 cells are constant: CI = [mean, mean], sd 0.
    // mae is lower-is-better (oracle 0.5 < maml 1.0 < protonet 1.3333);
    // ndcg@10 is higher-is-better (oracle 1.0 > protonet 0.4 > maml 0.3).
    const EXPECTED_PLAIN: &str = "\
# metarec leaderboard

- commit: `abc1234` (dirty)
- config: `cfg9`
- run: `run-7`
- data (sha256):
  - movielens-1m: `e3b0`
  - netflix: `9f86`

## Suite `ml`

### ml / warm

#### mae (lower is better)

| rank | method | mean | 95% CI | seed sd | users |
|---:|---|---:|---|---:|---:|
| — | oracle (bound) | 0.5000 | [0.5000, 0.5000] | 0.0000 | 3 |
| 1 | maml | **1.0000** | [0.5032, 1.4968] | 0.1414 | 3 |
| 2 | protonet | 1.3333 | [0.5348, 2.1319] | 0.1886 | 3 |

95% t-interval over users; values averaged over seeds per user.

#### ndcg@10 (higher is better)

| rank | method | mean | 95% CI | seed sd | users |
|---:|---|---:|---|---:|---:|
| — | oracle (bound) | 1.0000 | [1.0000, 1.0000] | 0.0000 | 3 |
| 1 | protonet | **0.4000** | [0.4000, 0.4000] | 0.0000 | 3 |
| 2 | maml | 0.3000 | [0.3000, 0.3000] | 0.0000 | 3 |

95% t-interval over users; values averaged over seeds per user.
";

    // Significance notes of the default marks (two-sided Wilcoxon, Holm):
    // mae: per-user a - b = maml - protonet = [-0.3, -0.2, -0.5] (no ties, no
    //   zeros): exact, R+ = 0, p = 2 * 1/8 = 0.25 (scipy.stats.wilcoxon gives
    //   0.25); one comparison, so Holm leaves 0.25: not marked.
    // ndcg@10: protonet - maml = 0.1 for all 3 users (tied |d|): permutation
    //   method, p = 2 * 1/8 = 0.25: not marked. One table per metric: no rank summary.
    fn expected() -> String {
        let note = |best: &str| {
            format!(
                "No method differs significantly from the best method (`{best}`) at \
                 Holm-adjusted p < 0.05 (two-sided Wilcoxon signed-rank test over the users \
                 present for both methods, values averaged over seeds per user; Holm over the 1 \
                 comparison with the best in this table).\n"
            )
        };
        let ci = "95% t-interval over users; values averaged over seeds per user.\n";
        let mut parts = EXPECTED_PLAIN.split(ci);
        let (head, mid, tail) =
            (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        format!("{head}{ci}{}{mid}{ci}{}{tail}", note("maml"), note("protonet"))
    }

    #[test]
    fn example_renders_exactly() {
        let p = prov(true, &[("netflix", "9f86"), ("movielens-1m", "e3b0")]);
        assert_eq!(render_markdown(&example_rows(), &p, &oracle()), expected());
        // without marks and rank summary: the table-only leaderboard
        let plain = MarkOptions { test: None, rank_summary: false, ..MarkOptions::default() };
        assert_eq!(render_markdown_with(&example_rows(), &p, &oracle(), &plain), EXPECTED_PLAIN);
    }

    #[test]
    fn output_ignores_row_order() {
        let p = prov(true, &[("netflix", "9f86"), ("movielens-1m", "e3b0")]);
        let rows = example_rows();
        let n = rows.len();
        // permutation i -> 5i mod n (5 is coprime to n = 37), then reversed
        let mut shuffled: Vec<ResultRow> = (0..n).map(|i| rows[i * 5 % n].clone()).collect();
        assert_ne!(shuffled, rows);
        let first = render_markdown(&shuffled, &p, &oracle());
        shuffled.reverse();
        assert_eq!(first, expected());
        assert_eq!(render_markdown(&shuffled, &p, &oracle()), expected());
    }

    fn headings(md: &str, prefix: &str) -> Vec<String> {
        md.lines().filter(|l| l.starts_with(prefix)).map(str::to_owned).collect()
    }

    #[test]
    fn scenario_and_metric_order() {
        let scenarios = ["zeta", "user-item-cold", "alpha", "item-cold", "user-cold", "warm"];
        let metrics = ["ndcg@5", "rmse", "loss", "mae", "auc"];
        let rows: Vec<ResultRow> =
            scenarios.iter().flat_map(|s| metrics.iter().map(move |m| row(s, "a", m, 1, 1, 0.5))).collect();
        let md = render_markdown(&rows, &prov(false, &[]), &LeaderboardOptions::default());
        let want: Vec<String> = ["warm", "user-cold", "item-cold", "user-item-cold", "alpha", "zeta"]
            .iter()
            .map(|s| format!("### ml / {s}"))
            .collect();
        assert_eq!(headings(&md, "### "), want);
        let per_scenario = [
            "#### mae (lower is better)",
            "#### rmse (lower is better)",
            "#### auc (higher is better)",
            "#### loss (direction unknown)",
            "#### ndcg@5 (higher is better)",
        ];
        assert_eq!(headings(&md, "#### "), per_scenario.repeat(6));
        assert!(md.contains("- commit: `abc1234`\n- config: `cfg9`\n- run: `run-7`\n- data: none\n"));
    }

    #[test]
    fn ties_by_name_and_unknown_direction_unranked() {
        let rows = [
            row("warm", "b", "mae", 1, 1, 0.5),
            row("warm", "a", "mae", 1, 1, 0.5),
            row("warm", "z", "loss", 1, 1, 0.1),
            row("warm", "oracle", "loss", 1, 1, 0.0),
            row("warm", "y|x", "loss", 1, 1, 0.9),
        ];
        let md = render_markdown(&rows, &prov(false, &[]), &oracle());
        // equal means 0.5: "a" before "b"; one user so CI = [mean, mean]
        assert!(md.contains(
            "| 1 | a | **0.5000** | [0.5000, 0.5000] | 0.0000 | 1 |\n\
             | 2 | b | 0.5000 | [0.5000, 0.5000] | 0.0000 | 1 |\n"
        ));
        // unknown direction: name order ("oracle" < "y|x" < "z"), no rank, no bold
        assert!(md.contains(
            "| — | oracle (bound) | 0.0000 | [0.0000, 0.0000] | 0.0000 | 1 |\n\
             | — | y\\|x | 0.9000 | [0.9000, 0.9000] | 0.0000 | 1 |\n\
             | — | z | 0.1000 | [0.1000, 0.1000] | 0.0000 | 1 |\n\n\
             Direction of `loss` is unknown: methods are listed by name, not ranked.\n"
        ));
    }

    #[test]
    fn only_perturbed_rows_gives_note() {
        let mut r = row("warm", "a", "mae", 1, 1, 0.5);
        r.perturbation = "drop".into();
        let md = render_markdown(&[r], &prov(false, &[]), &oracle());
        assert!(md.ends_with("- data: none\n\n_No results with perturbation `none`._\n"), "{md}");
    }

    /// 12 users, one seed: `bad` is worse than `good` for every user, `mixed`
    /// alternates around it.
    fn marked_rows(scenario: &str) -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for u in 1..=12u64 {
            let good = 0.5 + 0.01 * u as f64;
            let bad = good + 0.1 + 0.001 * u as f64;
            let step = 0.02 + 0.001 * u as f64;
            let mixed = if u % 2 == 0 { good + step } else { good - step + 0.001 };
            for (m, v) in [("good", good), ("bad", bad), ("mixed", mixed), ("oracle", 0.0)] {
                rows.push(row(scenario, m, "mae", 1, u, v));
            }
        }
        rows
    }

    #[test]
    fn significant_methods_are_marked_and_explained() {
        let md = render_markdown(&marked_rows("warm"), &prov(false, &[]), &oracle());
        // scipy.stats.wilcoxon(good, bad) -> 0.0, 0.00048828125 (= 2 / 2^12, all 12
        //   differences negative); Holm over 2 comparisons: 0.0009765625 < 0.05: marked.
        // scipy.stats.wilcoxon(good, mixed) -> 33.5, 0.69287109375 (ties: permutation
        //   method): not marked.
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        assert!(lines[1].starts_with("| — | oracle (bound) |"), "{md}");
        assert!(lines[2].starts_with("| 1 | good | **"), "{md}");
        assert!(lines[3].starts_with("| 2 | mixed | "), "{md}");
        assert!(lines[4].starts_with("| 3 | bad † | "), "{md}");
        assert!(
            md.contains(
                "†: differs significantly from the best method (`good`), Holm-adjusted p < 0.05 \
             (two-sided Wilcoxon signed-rank test over the users present for both methods, \
             values averaged over seeds per user; Holm over the 2 comparisons with the best in \
             this table).\n"
            ),
            "{md}"
        );
        // t-test: ttest_rel(good, bad) -> p 9.706824575384145e-18 (marked);
        // ttest_rel(good, mixed) -> p 0.9016375191609917 (not marked)
        let t = MarkOptions { test: Some(Test::TTest), ..MarkOptions::default() };
        let md_t = render_markdown_with(&marked_rows("warm"), &prov(false, &[]), &oracle(), &t);
        assert!(md_t.contains("| 3 | bad † | ") && md_t.contains("| 2 | mixed | "), "{md_t}");
        assert!(md_t.contains("two-sided paired t-test over the users"), "{md_t}");
    }

    #[test]
    fn untestable_comparisons_are_listed() {
        // ASO needs 2 seeds per method; these rows have one
        let aso = MarkOptions { test: Some(Test::Aso), ..MarkOptions::default() };
        let md = render_markdown_with(&marked_rows("warm"), &prov(false, &[]), &oracle(), &aso);
        assert!(!md.contains(" † |"), "{md}");
        assert!(
            md.contains(
                "No difference from the best method (`good`) could be tested by the Almost \
             Stochastic Order test over per-seed scores.\n\
             Not tested: aso: good vs mixed (ASO needs at least 2 per-seed scores for each \
             method; A has 1).\n\
             Not tested: aso: good vs bad (ASO needs at least 2 per-seed scores for each \
             method; A has 1).\n"
            ),
            "{md}"
        );
        // identical methods: all differences zero
        let rows = [
            row("warm", "a", "mae", 1, 1, 0.5),
            row("warm", "a", "mae", 1, 2, 0.6),
            row("warm", "b", "mae", 1, 1, 0.5),
            row("warm", "b", "mae", 1, 2, 0.6),
        ];
        let md = render_markdown(&rows, &prov(false, &[]), &oracle());
        assert!(
            md.contains(
                "Not tested: wilcoxon: a vs b (all 2 paired differences are zero: there is \
             nothing to test).\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn rank_summary_section() {
        // good < mixed < bad in both scenarios (mae): ranks 1, 2, 3 in each block;
        // scipy.stats.friedmanchisquare([1,1],[2,2],[3,3]) -> 4.0, 0.1353352832366127;
        // CD = 2.343700586378409 * sqrt(3*4 / (6*2)) = 2.343700586378409
        let rows = [marked_rows("warm"), marked_rows("user-cold")].concat();
        let md = render_markdown(&rows, &prov(false, &[]), &oracle());
        let section = md.split("\n## Average ranks across tables\n").nth(1).unwrap_or_default();
        assert_eq!(
            section,
            "\n#### mae (lower is better)\n\n\
             | method | average rank |\n|---|---:|\n\
             | good | 1.0000 |\n| mixed | 2.0000 |\n| bad | 3.0000 |\n\n\
             Ranked by mean within each of the 2 tables (ml / warm, ml / user-cold); rank 1 = best, ties averaged.\n\
             Friedman test: chi-square = 4.0000 (df 2), p = 0.1353.\n\
             Nemenyi critical difference at alpha = 0.05: 2.3437; two methods whose average ranks \
             differ by more than this differ significantly (Demsar 2006).\n"
        );
    }

    #[test]
    fn latex_tables() {
        let p = prov(true, &[("net_flix", "9f86")]);
        let rows = [marked_rows("warm"), marked_rows("user-cold")].concat();
        let tex_out = render_latex(&rows, &p, &oracle(), &MarkOptions::default());
        assert!(tex_out.starts_with("\\documentclass{article}\n"));
        assert!(tex_out.ends_with("\\end{document}\n"));
        assert!(tex_out.contains("Data (sha256):\\\\\n\\quad net\\_flix: \\texttt{9f86}"), "{tex_out}");
        assert!(
            tex_out.contains(
                "Rank & Method & Mean & 95\\% CI & Seed sd & Users \\\\\n\\midrule\n\
             -- & oracle (bound) & 0.0000 & [0.0000, 0.0000] & 0.0000 & 12 \\\\\n\
             1 & good & \\textbf{0.5650} & "
            ),
            "{tex_out}"
        );
        assert!(tex_out.contains("3 & bad$^\\dagger$ & 0.6715 & "), "{tex_out}");
        assert!(tex_out.contains("$^\\dagger$: differs significantly from the best method (\\texttt{good})"));
        assert_eq!(tex_out.matches("\\begin{table}").count(), 3); // 2 tables + ranks
        assert_eq!(tex_out.matches('{').count(), tex_out.matches('}').count());
        assert_eq!(
            tex("a_b&c%d$e#f{g}h~i^j\\k|l<m"),
            "a\\_b\\&c\\%d\\$e\\#f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j\\textbackslash{}k\\textbar{}l\\textless{}m"
        );
    }
}
