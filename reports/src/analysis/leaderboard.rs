//! The leaderboard's analysis: per (suite, scenario, metric) table the methods ranked by their
//! [`Summary`] ([`view`]), with a mark on those that differ significantly from the best one
//! (see [`crate::analysis::significance`]) and the sentence that explains the mark; the average
//! ranks across tables ([`rank_summary`]); the run's provenance and the report's options.
//! [`crate::build::leaderboard`] turns these into the document.
//!
//! Only rows with `perturbation == "none"` count; the robustness section compares the others.
//! The result depends only on the set of rows, not on their order.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::significance::{
    RankSummary, SignificanceOptions, SignificanceRow, Skipped, Table, Test, analyze, compare_table,
};
use crate::analysis::table::{Values, better_first};
use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::summary::{Summary, summarize};

/// Rendering choices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderboardOptions {
    /// Methods such as `"oracle"` that bound what is attainable: shown in
    /// sorted position, marked "(bound)", but not ranked and never bold.
    pub reference_methods: Vec<String>,
    /// Baselines (such as `"item-mean"`) against which every method's win/tie/loss counts
    /// are given after the tables (see [`crate::analysis::wtl`]); none: no such section.
    pub baseline_methods: Vec<String>,
}

pub(crate) const CI_NOTE: &str = "95% t-interval over users; values averaged over seeds per user.";

/// Significance marks and the rank summary of the leaderboards.
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
pub const MARK: &str = crate::format::DAGGER;

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

/// Everything the builder needs of one table.
pub(crate) struct View<'a> {
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
    View { dir, lines, note, alpha: marks.alpha, aso_threshold: marks.aso_threshold }
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
pub(crate) fn rank_summary(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Provenance;
    use crate::render::latex::tex;
    use crate::testing::{render_latex, render_markdown, render_markdown_with};

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
|---:|---|---:|---:|---:|---:|
| — | oracle (bound) | 0.5000 | [0.5000, 0.5000] | 0.0000 | 3 |
| 1 | maml | **1.0000** | [0.5032, 1.4968] | 0.1414 | 3 |
| 2 | protonet | 1.3333 | [0.5348, 2.1319] | 0.1886 | 3 |

95% t-interval over users; values averaged over seeds per user. Seed sd: standard deviation over seeds of the per-seed means. Users: users with a value.
The best ranked mean is bold.
(bound): a reference method, shown for scale but not ranked.

#### ndcg@10 (higher is better)

| rank | method | mean | 95% CI | seed sd | users |
|---:|---|---:|---:|---:|---:|
| — | oracle (bound) | 1.0000 | [1.0000, 1.0000] | 0.0000 | 3 |
| 1 | protonet | **0.4000** | [0.4000, 0.4000] | 0.0000 | 3 |
| 2 | maml | 0.3000 | [0.3000, 0.3000] | 0.0000 | 3 |

95% t-interval over users; values averaged over seeds per user. Seed sd: standard deviation over seeds of the per-seed means. Users: users with a value.
The best ranked mean is bold.
(bound): a reference method, shown for scale but not ranked.
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
        let ci = "(bound): a reference method, shown for scale but not ranked.\n";
        let mut parts = EXPECTED_PLAIN.split(ci);
        let (head, mid, tail) =
            (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        // one table per metric: no rank summary, which the Skipped section says
        let skipped = "\n## Skipped\n\nComparisons, tests and summaries of the significance analysis that were not \
                       computed, and why.\n\n| where | what | why |\n|---|---|---|\n\
                       | mae (rank summary across tables) | rank summary | only 1 (suite, scenario) block has this metric |\n\
                       | ndcg@10 (rank summary across tables) | rank summary | only 1 (suite, scenario) block has this metric |\n";
        format!("{head}{ci}{}{mid}{ci}{}{tail}{skipped}", note("maml"), note("protonet"))
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
             95% t-interval over users; values averaged over seeds per user. Seed sd: standard deviation over \
             seeds of the per-seed means. Users: users with a value.\n\
             Direction of `loss` is unknown: methods are listed by name, not ranked.\n"
        ));
    }

    #[test]
    fn only_perturbed_rows_gives_note() {
        let mut r = row("warm", "a", "mae", 1, 1, 0.5);
        r.perturbation = "drop".into();
        let md = render_markdown(&[r], &prov(false, &[]), &oracle());
        assert!(md.ends_with("- data: none\n\nNo results with perturbation `none`.\n"), "{md}");
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
            tex_out.contains("rank & method & mean & 95\\% CI & seed sd & users \\\\\n\\midrule\n\\endfirsthead"),
            "{tex_out}"
        );
        assert!(
            tex_out.contains(
                "-- & oracle (bound) & 0.0000 & [0.0000, 0.0000] & 0.0000 & 12 \\\\\n\
             1 & good & \\textbf{0.5650} & "
            ),
            "{tex_out}"
        );
        assert!(tex_out.contains("3 & bad$^\\dagger$ & 0.6715 & "), "{tex_out}");
        assert!(tex_out.contains("$^\\dagger$: differs significantly from the best method (\\texttt{good})"));
        assert_eq!(tex_out.matches("\\begin{longtable}").count(), 3); // 2 tables + ranks
        assert_eq!(tex_out.matches('{').count(), tex_out.matches('}').count());
        assert_eq!(
            tex("a_b&c%d$e#f{g}h~i^j\\k|l<m"),
            "a\\_b\\&c\\%d\\$e\\#f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j\\textbackslash{}k\\textbar{}l$<$m"
        );
    }
}
