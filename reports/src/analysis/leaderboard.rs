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
    Correction, RankSummary, SignificanceOptions, SignificanceRow, Skipped, Table, Test, analyze, compare_table,
};
use crate::analysis::table::{Values, better_first};
use crate::doc::Tag;
use crate::metrics::{Direction, MaeEstimate, direction, oracle_is_bound};
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
    /// The point estimate MAE scored (the run's `--mae-estimate`): whether the reference
    /// methods are a bound on MAE ([`oracle_is_bound`]).
    pub mae_estimate: MaeEstimate,
    /// Per method, the point estimate its MAE scored (`median` or `mean`), where known (from
    /// the manifest); the report states it under each MAE table.
    pub mae_scored: BTreeMap<String, String>,
    /// How the comparisons with the best are adjusted (`--correction`; default Holm).
    pub correction: Correction,
    /// Add under each table the paired differences from the best with BCa intervals, Cohen's d
    /// and Cliff's delta (`--paired-differences`).
    pub paired_differences: bool,
    /// Which 95% interval the tables show (the run's reports: [`Interval::UsersAndSeeds`]).
    pub interval: Interval,
}

/// The leaderboard's 95% interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interval {
    /// Student-t over users, values averaged over seeds per user (seeds' spread left out).
    #[default]
    Users,
    /// Over users and seeds: crossed variance components with Satterthwaite's degrees of
    /// freedom ([`crate::summary::users_seeds_interval`]); the users-only interval where the
    /// layout does not allow it (one seed, or a user missing a seed), marked in the note.
    UsersAndSeeds,
}

impl LeaderboardOptions {
    /// Whether `method` is a reference method.
    pub fn is_reference(&self, method: &str) -> bool {
        self.reference_methods.iter().any(|r| r == method)
    }

    /// The tag of `method`'s name in a table of `metric`: "(bound)" for a reference method where
    /// it is Bayes-optimal, "(reference)" elsewhere.
    pub fn tag(&self, method: &str, metric: &str) -> Tag {
        Tag::of(self.is_reference(method), oracle_is_bound(metric, self.mae_estimate))
    }
}

pub(crate) const CI_NOTE: &str = "95% t-interval over users; values averaged over seeds per user.";

/// The note of [`Interval::UsersAndSeeds`].
pub(crate) const CI_NOTE_USERS_SEEDS: &str = "95% interval over users and seeds: the mean's variance from the \
    crossed users x seeds layout ((MS_users + MS_seeds) / (users x seeds) from the two-way ANOVA, conservative by \
    the residual variance over users x seeds), with Satterthwaite's degrees of freedom for the t quantile; with few \
    seeds the seed variance is poorly known and the interval is wide.";

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
    /// A reference method (shown, not ranked).
    pub(crate) reference: bool,
    /// How its name is tagged: "(bound)" only where the metric makes it one.
    pub(crate) tag: Tag,
    pub(crate) summary: Summary,
    pub(crate) marked: bool,
    /// Beats a bound beyond its own 95% interval: a probable leak.
    pub(crate) leak: bool,
}

/// A method that beats a bound beyond its interval.
pub(crate) struct Leak {
    pub(crate) method: String,
    /// The end of its 95% interval nearest the bound.
    pub(crate) edge: f64,
    pub(crate) bound: String,
    pub(crate) bound_mean: f64,
}

/// What the significance note under a table says.
pub(crate) struct MarkNote {
    pub(crate) test: Test,
    pub(crate) best: String,
    /// Comparisons that were tested (the Holm family size).
    pub(crate) tested: usize,
    pub(crate) any_marked: bool,
    pub(crate) skipped: Vec<Skipped>,
    /// "Holm" or "Benjamini-Hochberg".
    pub(crate) correction: &'static str,
}

/// Everything the builder needs of one table.
pub(crate) struct View<'a> {
    pub(crate) dir: Option<Direction>,
    pub(crate) lines: Vec<Line<'a>>,
    pub(crate) note: Option<MarkNote>,
    pub(crate) alpha: f64,
    pub(crate) aso_threshold: f64,
    pub(crate) leaks: Vec<Leak>,
    /// Methods whose users-and-seeds interval could not be computed (users-only shown).
    pub(crate) fallback: Vec<&'a str>,
}

pub(crate) fn view<'a>(
    t: &Table<'a>,
    methods: &'a BTreeMap<&'a str, Values>,
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
) -> View<'a> {
    let dir = direction(t.metric);
    // `methods` iterates by name, and the sort is stable: ties stay in name order.
    let mut fallback = Vec::new();
    let mut sorted: Vec<(&str, Summary)> = methods
        .iter()
        .filter_map(|(m, v)| {
            let mut s = summarize(v)?;
            if opts.interval == Interval::UsersAndSeeds {
                match s.users_seeds {
                    Some((low, high)) => (s.ci_low, s.ci_high) = (low, high),
                    None => fallback.push(*m),
                }
            }
            Some((*m, s))
        })
        .collect();
    if let Some(d) = dir {
        sorted.sort_by(|a, b| better_first(a.1.mean, b.1.mean, d));
    }
    let mut rank = 0;
    let mut lines: Vec<Line> = sorted
        .into_iter()
        .map(|(method, summary)| {
            let reference = opts.is_reference(method);
            let rank = if reference || dir.is_none() {
                None
            } else {
                rank += 1;
                Some(rank)
            };
            let tag = opts.tag(method, t.metric);
            Line { rank, method, reference, tag, summary, marked: false, leak: false }
        })
        .collect();
    let leaks = find_leaks(&mut lines, dir);

    let mut note = None;
    let ranked = lines.iter().filter(|l| l.rank.is_some()).count();
    if let (Some(test), Some(_), true) = (marks.test, dir, ranked >= 2) {
        let sig = SignificanceOptions {
            reference_methods: opts.reference_methods.clone(),
            tests: vec![test],
            min_users: 2,
            seed: marks.seed,
            alpha: marks.alpha,
            correction: opts.correction,
            ..SignificanceOptions::default()
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
        note = Some(MarkNote {
            test,
            best,
            tested: rows.len(),
            any_marked: !marked.is_empty(),
            skipped,
            correction: opts.correction.describe(),
        });
    }
    View { dir, lines, note, alpha: marks.alpha, aso_threshold: marks.aso_threshold, leaks, fallback }
}

/// Marks every ranked line whose whole 95% interval is better than the mean of a bound (a
/// reference method on a metric where it is Bayes-optimal; the best one when there are
/// several): no method can beat a bound in expectation, so one that does beyond its own
/// uncertainty has probably seen what it must not (test labels, the truth).
fn find_leaks(lines: &mut [Line], dir: Option<Direction>) -> Vec<Leak> {
    let Some(d) = dir else { return Vec::new() };
    let better = |a: f64, b: f64| match d {
        Direction::LowerIsBetter => a < b,
        Direction::HigherIsBetter => a > b,
    };
    let Some((bound, bound_mean)) = lines
        .iter()
        .filter(|l| l.tag == Tag::Bound && l.summary.mean.is_finite())
        .map(|l| (l.method.to_owned(), l.summary.mean))
        .reduce(|a, b| if better(b.1, a.1) { b } else { a })
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for l in lines.iter_mut().filter(|l| l.rank.is_some()) {
        let edge = match d {
            Direction::LowerIsBetter => l.summary.ci_high,
            Direction::HigherIsBetter => l.summary.ci_low,
        };
        if edge.is_finite() && better(edge, bound_mean) {
            l.leak = true;
            out.push(Leak { method: l.method.to_owned(), edge, bound: bound.clone(), bound_mean });
        }
    }
    out
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
            let c = note.correction;
            let detail = format!(
                "{} over the users present for both methods, values averaged over seeds per \
                 user; {c} over the {n} comparison{s} with the best in this table",
                test.describe()
            );
            if note.any_marked {
                format!(
                    "{MARK}: differs significantly from the best method ({best}), {c}-adjusted \
                     p < {} ({detail}).",
                    v.alpha
                )
            } else {
                format!(
                    "No method differs significantly from the best method ({best}) at \
                     {c}-adjusted p < {} ({detail}).",
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
        crate::testing::clean_row("ml", scenario, method, metric, seed, user, value)
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
        let mae_scored = [("oracle", "median"), ("maml", "mean"), ("protonet", "median")];
        LeaderboardOptions {
            reference_methods: vec!["oracle".into()],
            mae_scored: mae_scored.iter().map(|(m, e)| (m.to_string(), e.to_string())).collect(),
            ..Default::default()
        }
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
(bound): a reference method that is Bayes-optimal for `mae` (MAE scores its conditional median, which minimises the expected absolute error): no method can beat it in expectation; shown for scale but not ranked.
MAE scores each method's point estimate as chosen by `--mae-estimate own` (the median where a method gives one, else the mean): mean: `maml`; median: `oracle`, `protonet`.

#### ndcg@10 (higher is better)

| rank | method | mean | 95% CI | seed sd | users |
|---:|---|---:|---:|---:|---:|
| — | oracle (reference) | 1.0000 | [1.0000, 1.0000] | 0.0000 | 3 |
| 1 | protonet | **0.4000** | [0.4000, 0.4000] | 0.0000 | 3 |
| 2 | maml | 0.3000 | [0.3000, 0.3000] | 0.0000 | 3 |

95% t-interval over users; values averaged over seeds per user. Seed sd: standard deviation over seeds of the per-seed means. Users: users with a value.
The best ranked mean is bold.
(reference): a reference method that is not Bayes-optimal for `ndcg@10` (ranking by the expected rating need not maximise it), so not a bound; shown for scale but not ranked.
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
        let (mae_end, ndcg_end) = ("`oracle`, `protonet`.\n", "shown for scale but not ranked.\n");
        let (head, rest) = EXPECTED_PLAIN.split_once(mae_end).unwrap_or_default();
        let (mid, tail) = rest.rsplit_once(ndcg_end).unwrap_or_default();
        // one table per metric: no rank summary, which the Skipped section says
        let skipped = "\n## Skipped\n\nComparisons, tests and summaries of the significance analysis that were not \
                       computed, and why.\n\n| where | what | why |\n|---|---|---|\n\
                       | mae (rank summary across tables) | rank summary | only 1 (suite, scenario) block has this metric |\n\
                       | ndcg@10 (rank summary across tables) | rank summary | only 1 (suite, scenario) block has this metric |\n";
        format!("{head}{mae_end}{}{mid}{ndcg_end}{}{tail}{skipped}", note("maml"), note("protonet"))
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
            "| — | oracle (reference) | 0.0000 | [0.0000, 0.0000] | 0.0000 | 1 |\n\
             | — | y\\|x | 0.9000 | [0.9000, 0.9000] | 0.0000 | 1 |\n\
             | — | z | 0.1000 | [0.1000, 0.1000] | 0.0000 | 1 |\n\n\
             95% t-interval over users; values averaged over seeds per user. Seed sd: standard deviation over \
             seeds of the per-seed means. Users: users with a value.\n\
             Direction of `loss` is unknown: methods are listed by name, not ranked.\n"
        ));
    }

    /// The oracle is "(bound)" on RMSE and on MAE scored on its median, "(reference)" on MAE
    /// scored on the mean and on ranking metrics; a method whose whole interval beats the bound is
    /// flagged as a probable leak, one that beats it within its interval is not.
    #[test]
    fn the_oracle_is_a_bound_only_where_bayes_optimal_and_beating_it_is_flagged() {
        // users 1..=4: oracle 0.5 each; leaky 0.30, 0.32, 0.34, 0.36 (mean 0.33, sd 0.02582,
        // t-interval half-width 3.18245 * 0.012910 = 0.04108 -> upper end 0.3711 < 0.5: flagged);
        // noisy 0.1, 0.9, 0.2, 0.8 (mean 0.5: not better); lucky 0.45, 0.55, 0.40, 0.50 (mean 0.475,
        // upper end 0.5777 > 0.5: below the bound on average but within its interval: not flagged).
        let values = [
            ("oracle", [0.5, 0.5, 0.5, 0.5]),
            ("leaky", [0.30, 0.32, 0.34, 0.36]),
            ("noisy", [0.1, 0.9, 0.2, 0.8]),
            ("lucky", [0.45, 0.55, 0.40, 0.50]),
        ];
        let rows: Vec<ResultRow> = ["rmse", "mae", "ndcg@3"]
            .iter()
            .flat_map(|metric| {
                values.iter().flat_map(move |(m, v)| {
                    v.iter().enumerate().map(move |(u, x)| row("warm", m, metric, 1, u as u64, *x))
                })
            })
            .collect();
        let table_of = |md: &str, metric: &str| -> String {
            md.split(&format!("#### {metric} ("))
                .nth(1)
                .unwrap_or_default()
                .split("\n#### ")
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let md = render_markdown(&rows, &prov(false, &[]), &oracle());
        let rmse = table_of(&md, "rmse");
        assert!(
            rmse.contains("| — | oracle (bound) |")
                && rmse.contains("(bound): a reference method that is Bayes-optimal"),
            "{rmse}"
        );
        assert!(
            rmse.contains(
                "Probable leak: `leaky` beats the bound `oracle` (mean 0.5000) beyond its own 95% interval (which \
                 ends at 0.3711)"
            ),
            "{rmse}"
        );
        assert_eq!(rmse.matches("Probable leak").count(), 1, "{rmse}");
        // the row itself carries the mark, and no other row does
        assert!(rmse.contains("| leaky § |"), "{rmse}");
        assert_eq!(rmse.matches(" § |").count(), 1, "{rmse}");
        let mae = table_of(&md, "mae");
        assert!(mae.contains("| — | oracle (bound) |") && mae.contains("Probable leak: `leaky`"), "{mae}");
        // higher is better on ndcg@3: leaky is the worst there, and the oracle is no bound
        let ndcg = table_of(&md, "ndcg@3");
        assert!(ndcg.contains("| — | oracle (reference) |") && !ndcg.contains("(bound)"), "{ndcg}");
        assert!(!ndcg.contains("Probable leak") && !ndcg.contains('§'), "{ndcg}");
        // MAE scored on the mean: the oracle's mean does not minimise absolute error
        let on_mean = LeaderboardOptions { mae_estimate: MaeEstimate::Mean, ..oracle() };
        let md = render_markdown(&rows, &prov(false, &[]), &on_mean);
        let mae = table_of(&md, "mae");
        assert!(mae.contains("| — | oracle (reference) |") && !mae.contains("Probable leak"), "{mae}");
        assert!(mae.contains("(MAE scores the mean here, not the median that minimises absolute error)"), "{mae}");
        assert!(mae.contains("as chosen by `--mae-estimate mean` (the mean for every method)"), "{mae}");
        assert!(table_of(&md, "rmse").contains("oracle (bound)"));
    }

    /// `--correction bh` adjusts by Benjamini-Hochberg and says so; the default says Holm. On
    /// marked_rows both give the same marks (two p-values, 0.00049 and 0.69), so the adjustment
    /// itself is checked on three p-values where the two differ.
    #[test]
    fn the_correction_is_chosen_and_stated() {
        let bh = LeaderboardOptions { correction: Correction::Bh, ..oracle() };
        let md = render_markdown(&marked_rows("warm"), &prov(false, &[]), &bh);
        assert!(
            md.contains("differs significantly from the best method (`good`), Benjamini-Hochberg-adjusted p < 0.05"),
            "{md}"
        );
        assert!(md.contains("Benjamini-Hochberg over the 2 comparisons with the best in this table"), "{md}");
        assert!(!md.contains("Holm-adjusted"), "{md}");
        // p = 0.01, 0.02, 0.03: Holm 0.03, 0.04, 0.04; BH 0.03, 0.03, 0.03
        let p = [0.01, 0.02, 0.03];
        let close = |a: Vec<f64>, b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(close(Correction::Holm.adjust(&p).unwrap_or_default(), [0.03, 0.04, 0.04]));
        assert!(close(Correction::Bh.adjust(&p).unwrap_or_default(), [0.03, 0.03, 0.03]));
    }

    /// `--paired-differences`: a table per leaderboard table with the mean paired difference from
    /// the best, its BCa interval, Cohen's d and Cliff's delta; absent by default.
    /// marked_rows: bad - good = 0.1 + 0.001 u for u = 1..12 (values by hand below).
    #[test]
    fn paired_differences_are_added_when_chosen() {
        let md = render_markdown(&marked_rows("warm"), &prov(false, &[]), &oracle());
        assert!(!md.contains("paired differences from the best"), "{md}");
        let on = LeaderboardOptions { paired_differences: true, ..oracle() };
        let md = render_markdown(&marked_rows("warm"), &prov(false, &[]), &on);
        let part = md.split("#### mae: paired differences from the best").nth(1).unwrap_or_default();
        assert!(part.contains("| method | users | difference | 95% BCa CI | Cohen's d | Cliff's delta |"), "{md}");
        let bad = part.lines().find(|l| l.starts_with("| bad |")).unwrap_or_default();
        // mean of 0.1 + 0.001 u, u = 1..12: 0.1065; sd 0.001 sqrt(13) = 0.0036056; d_z = 29.5378
        assert!(bad.starts_with("| bad | 12 | +0.1065 | ["), "{bad}");
        assert!(bad.contains("| +29.5378 |"), "{bad}");
        // Cliff's delta by hand: bad_u = 0.6 + 0.011 u, good_v = 0.5 + 0.01 v; bad_u > good_v iff
        // 0.1 + 0.011 u > 0.01 v, true for all v <= 12 when u >= 2 (0.122 > 0.12), and for u = 1
        // (0.111) when v <= 11: 143 of 144 pairs above, 1 below: (143 - 1) / 144 = 0.9861
        assert!(bad.ends_with("| +0.9861 |"), "{bad}");
        // the BCa interval lies around the mean and inside the range of the differences
        let ci = bad.split('[').nth(1).and_then(|x| x.split(']').next()).unwrap_or_default();
        let ends: Vec<f64> = ci.split(", ").filter_map(|x| x.parse().ok()).collect();
        assert!(ends.len() == 2 && ends[0] > 0.101 && ends[0] < 0.1065 && ends[1] > 0.1065 && ends[1] < 0.112, "{ci}");
        assert!(part.contains("95% BCa CI: bias-corrected and accelerated bootstrap interval"), "{part}");
    }

    /// The interval over users and seeds, when chosen, replaces the users-only one and says so;
    /// a method whose layout does not allow it (the constant oracle: no variance) keeps the
    /// users-only interval with a note. maml's mae: y = [[0.7, 0.9, 1.1], [0.9, 1.1, 1.3]]
    /// (seeds x users): MS_u = 2 * 0.08 / 2 = 0.08, MS_s = 3 * 0.02 = 0.06, MS_e = 0, variance
    /// 0.14 / 6, df = 0.0196 / (0.0032 + 0.0036) = 2.882: wider than seeds averaged away would be.
    #[test]
    fn the_interval_over_users_and_seeds_is_shown_when_chosen() {
        let p = prov(false, &[]);
        let both = LeaderboardOptions { interval: Interval::UsersAndSeeds, ..oracle() };
        let md = render_markdown(&example_rows(), &p, &both);
        assert!(
            md.contains("95% interval over users and seeds: the mean's variance from the crossed users x seeds"),
            "{md}"
        );
        let v: Vec<(u64, u64, f64)> = (0..2)
            .flat_map(|s| (0..3).map(move |u| (s as u64, u as u64, [[0.7, 0.9, 1.1], [0.9, 1.1, 1.3]][s][u])))
            .collect();
        let (_, low, high, df) = crate::summary::users_seeds_interval(&v, 0.95).unwrap_or_default();
        assert!((df - 0.0196 / 0.0068).abs() < 1e-9, "{df}");
        let want = format!("| 1 | maml | **1.0000** | [{low:.4}, {high:.4}] |");
        assert!(md.contains(&want), "{want}\n{md}");
        assert!(!md.contains("[0.5032, 1.4968]"), "{md}");
        assert!(
            md.contains("`oracle`: 95% t-interval over users, values averaged over seeds per user, as the"),
            "{md}"
        );
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
        // ASO needs 5 seeds per method; these rows have one
        let aso = MarkOptions { test: Some(Test::Aso), ..MarkOptions::default() };
        let md = render_markdown_with(&marked_rows("warm"), &prov(false, &[]), &oracle(), &aso);
        assert!(!md.contains(" † |"), "{md}");
        assert!(
            md.contains(
                "No difference from the best method (`good`) could be tested by the Almost \
             Stochastic Order test over per-seed scores.\n\
             Not tested: aso: good vs mixed (ASO needs at least 5 seeds per method to compare score \
             distributions; good has 1).\n\
             Not tested: aso: good vs bad (ASO needs at least 5 seeds per method to compare score \
             distributions; good has 1).\n"
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
             differ by more than this differ significantly (Demsar 2006).\n\
             Blocks: the 2 (suite, scenario) pairs, each ranking the 3 methods present in all of them. Caution: the \
             Friedman chi-square approximation and the Nemenyi difference need more than 10 blocks and more than 5 \
             methods to be reliable (Demsar 2006, section 3.2.2: \"as a rule of a thumb, N > 10 and k > 5\"); with 2 \
             blocks and 3 methods read the p-value and the critical difference as indicative only. The scenarios of \
             one suite are scored by the same meta-trained models, so its blocks are not independent.\n"
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
