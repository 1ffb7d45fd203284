//! Significance of the differences between each method and the best one, per
//! leaderboard table, plus a rank summary across tables (Friedman + Nemenyi).
//!
//! **Unit and pairing.** As in the leaderboard, only rows with perturbation
//! `"none"` count, and a table is one (suite, scenario, metric). The unit is
//! the user: each method's values are averaged over seeds per user, and two
//! methods are paired on the users present for both (users only one of them
//! has are left out of that comparison). The split is fixed by the suite, so
//! seeds of different methods evaluate the same users.
//!
//! **Comparisons.** The best method of a table is rank 1 of the leaderboard:
//! the best mean over users by [`direction`] (ties by name), reference
//! methods (such as the oracle) excluded. Every other non-reference method
//! is compared with it (`method_a` = best, `method_b` = the other) by the
//! paired tests chosen in [`SignificanceOptions::tests`], on d = a - b:
//! paired t ([`stats::ttest_rel`]), Wilcoxon signed-rank ([`stats::wilcoxon`]),
//! sign test ([`stats::sign_test`]) and sign-flip permutation of the mean
//! ([`stats::permutation_test`]), and by ASO ([`stats::aso`]) over per-seed
//! scores (each seed's mean over the paired users) when both methods have at
//! least 2 seeds. p-values of each test are Holm-adjusted within the table
//! (over that test's comparisons with the best). ASO gives eps_min, no
//! p-value; its confidence level is Bonferroni-adjusted over the table's
//! comparisons instead.
//!
//! **Nothing is NaN.** A comparison or test that cannot be made (unknown
//! metric direction, a single ranked method, too few common users, all
//! differences zero, a single seed for ASO, ...) produces a [`Skipped`] entry
//! naming what and why, not a row.
//!
//! **Rank summary.** Per metric, the (suite, scenario) tables are blocks;
//! methods present in every block are ranked within each block by their mean
//! (rank 1 = best), average ranks are compared by the Friedman test
//! ([`stats::friedman`], at least 3 methods) and the Nemenyi critical
//! difference ([`stats::nemenyi_cd`], Demsar 2006).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;

use crate::analysis::table::{Cells, Values, better_first, group_rows, user_means};
use crate::metrics::{Direction, direction};
use crate::results::{ReportError, ResultRow};
use crate::stats::{self, AsoOptions, StatsError, rng::derive_seed};
use crate::summary::summarize;

/// A test comparing a method with the best one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Test {
    /// Paired Student t-test; statistic t.
    TTest,
    /// Wilcoxon signed-rank test; statistic min(R+, R-).
    Wilcoxon,
    /// Sign test; statistic the number of users with a > b.
    Sign,
    /// Sign-flip permutation test; statistic mean(a - b).
    Permutation,
    /// Almost Stochastic Order over per-seed scores; statistic eps_min.
    Aso,
}

impl Test {
    /// Every test, in the order rows are written.
    pub const ALL: [Test; 5] = [Test::TTest, Test::Wilcoxon, Test::Sign, Test::Permutation, Test::Aso];

    /// Name in the `test` column.
    pub fn name(self) -> &'static str {
        match self {
            Test::TTest => "ttest",
            Test::Wilcoxon => "wilcoxon",
            Test::Sign => "sign",
            Test::Permutation => "permutation",
            Test::Aso => "aso",
        }
    }

    /// Describes the test in a sentence fragment, for notes under tables.
    pub fn describe(self) -> &'static str {
        match self {
            Test::TTest => "two-sided paired t-test",
            Test::Wilcoxon => "two-sided Wilcoxon signed-rank test",
            Test::Sign => "two-sided sign test",
            Test::Permutation => "two-sided paired permutation test of the mean",
            Test::Aso => "Almost Stochastic Order test over per-seed scores",
        }
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the p-values of one table's comparisons with the best are adjusted (`--correction`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Correction {
    /// Holm's step-down adjustment (family-wise error rate).
    #[default]
    Holm,
    /// Benjamini-Hochberg (false discovery rate).
    Bh,
}

impl Correction {
    /// Parses `holm` or `bh`.
    pub fn parse(s: &str) -> Option<Correction> {
        match s {
            "holm" => Some(Correction::Holm),
            "bh" => Some(Correction::Bh),
            _ => None,
        }
    }

    /// The name in prose: "Holm" or "Benjamini-Hochberg".
    pub fn describe(self) -> &'static str {
        match self {
            Correction::Holm => "Holm",
            Correction::Bh => "Benjamini-Hochberg",
        }
    }

    /// The adjusted p-values of `p`.
    pub fn adjust(self, p: &[f64]) -> Result<Vec<f64>, StatsError> {
        match self {
            Correction::Holm => stats::holm(p),
            Correction::Bh => stats::benjamini_hochberg(p),
        }
    }
}

/// Choices of [`analyze`].
#[derive(Clone, Debug, PartialEq)]
pub struct SignificanceOptions {
    /// Methods such as `"oracle"` that are neither the best nor compared.
    pub reference_methods: Vec<String>,
    /// Tests to run (default: all of [`Test::ALL`]); duplicates count once.
    pub tests: Vec<Test>,
    /// Fewest users present for both methods for a comparison (default 2).
    pub min_users: usize,
    /// Base seed of the permutation Monte Carlo and the ASO bootstrap; each
    /// comparison derives its own seed from it and its labels.
    pub seed: u64,
    /// Level of the Nemenyi critical difference (default 0.05).
    pub alpha: f64,
    /// How p-values are adjusted per table and test (default Holm).
    pub correction: Correction,
    /// Fewest seeds per method for ASO (default [`ASO_MIN_SEEDS`]); with fewer it is skipped
    /// with the reason.
    pub aso_min_seeds: usize,
}

/// ASO compares the distributions of per-seed scores; with a handful of seeds those are
/// mostly noise (Ulmer et al. 2022 run it over 5 or more seeds; Dror et al. 2019 the same), so
/// fewer than 5 seeds per method skip it.
pub const ASO_MIN_SEEDS: usize = 5;

impl Default for SignificanceOptions {
    fn default() -> Self {
        SignificanceOptions {
            reference_methods: Vec::new(),
            tests: Test::ALL.to_vec(),
            min_users: 2,
            seed: 0,
            alpha: 0.05,
            correction: Correction::Holm,
            aso_min_seeds: ASO_MIN_SEEDS,
        }
    }
}

/// One test of one method against the best of its table.
#[derive(Clone, Debug, PartialEq)]
pub struct SignificanceRow {
    pub suite: String,
    pub scenario: String,
    pub metric: String,
    /// The best method of the table.
    pub method_a: String,
    /// The method compared with it.
    pub method_b: String,
    pub test: Test,
    /// See [`Test`] for what the statistic is; differences are a - b.
    pub statistic: f64,
    /// Two-sided p-value; `None` for ASO.
    pub p_value: Option<f64>,
    /// Holm-adjusted p-value within the table and test; `None` for ASO.
    pub p_adjusted: Option<f64>,
    /// Paired Cohen's d of a - b for the paired tests (`None` when the
    /// differences have zero variance); eps_min for ASO.
    pub effect: Option<f64>,
}

/// A comparison, test or summary that was not computed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Empty for the rank summary, which spans suites.
    pub suite: String,
    /// Empty for the rank summary, which spans scenarios.
    pub scenario: String,
    pub metric: String,
    /// What was skipped, e.g. `"wilcoxon: maml vs protonet"`.
    pub what: String,
    pub reason: String,
}

/// Demšar (2006, JMLR 7, section 3.2.2) on the Friedman test: its statistic follows the
/// chi-square distribution with k - 1 degrees of freedom "when N and k are big enough (as a rule
/// of a thumb, N > 10 and k > 5)"; the Nemenyi critical difference rests on the same
/// large-sample approximation. Fewer blocks (N) than this are warned about.
pub const FRIEDMAN_MIN_BLOCKS: usize = 11;
/// The same rule's k > 5: fewer methods than this are warned about.
pub const FRIEDMAN_MIN_METHODS: usize = 6;

/// Friedman test and Nemenyi critical difference of one metric over the
/// (suite, scenario) blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct RankSummary {
    pub metric: String,
    /// The (suite, scenario) blocks, in leaderboard order.
    pub blocks: Vec<(String, String)>,
    /// Methods present in every block with their average rank (1 = best),
    /// best first, ties by name.
    pub average_ranks: Vec<(String, f64)>,
    /// Friedman chi-square and p; `None` with fewer than 3 methods or when
    /// every block is a complete tie (see the matching [`Skipped`]).
    pub friedman: Option<(f64, f64)>,
    /// Nemenyi critical difference of average ranks at `alpha`.
    pub critical_difference: f64,
    pub alpha: f64,
}

/// Everything [`analyze`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignificanceReport {
    pub rows: Vec<SignificanceRow>,
    pub skipped: Vec<Skipped>,
    pub ranks: Vec<RankSummary>,
}

/// Header of the significance CSV, in column order.
pub const SIGNIFICANCE_HEADER: [&str; 10] =
    ["suite", "scenario", "metric", "method_a", "method_b", "test", "statistic", "p_value", "p_adjusted", "effect"];

/// Runs the comparisons of every table and the rank summaries (see the module
/// docs). Rows come in leaderboard order: suite, scenario, metric, then the
/// compared methods best first, then tests in [`Test::ALL`] order. The result
/// depends only on the set of rows and the options.
pub fn analyze(rows: &[ResultRow], opts: &SignificanceOptions) -> SignificanceReport {
    let cells = group_rows(rows);
    let mut report = SignificanceReport::default();
    for (suite, scenarios) in &cells {
        for ((_, scenario), metrics) in scenarios {
            for ((_, metric), methods) in metrics {
                let table = Table { suite, scenario, metric };
                let (r, s) = compare_table(&table, methods, opts);
                report.rows.extend(r);
                report.skipped.extend(s);
            }
        }
    }
    let (ranks, skipped) = rank_summaries(&cells, opts);
    report.ranks = ranks;
    report.skipped.extend(skipped);
    report
}

/// Labels of one table.
pub(crate) struct Table<'a> {
    pub suite: &'a str,
    pub scenario: &'a str,
    pub metric: &'a str,
}

impl Table<'_> {
    fn skipped(&self, what: impl Into<String>, reason: impl Into<String>) -> Skipped {
        Skipped {
            suite: self.suite.to_owned(),
            scenario: self.scenario.to_owned(),
            metric: self.metric.to_owned(),
            what: what.into(),
            reason: reason.into(),
        }
    }

    fn row(
        &self,
        a: &str,
        b: &str,
        test: Test,
        statistic: f64,
        p: Option<f64>,
        effect: Option<f64>,
    ) -> SignificanceRow {
        SignificanceRow {
            suite: self.suite.to_owned(),
            scenario: self.scenario.to_owned(),
            metric: self.metric.to_owned(),
            method_a: a.to_owned(),
            method_b: b.to_owned(),
            test,
            statistic,
            p_value: p,
            p_adjusted: None,
            effect,
        }
    }
}

/// Non-reference methods of a table with their mean, best first (ties by
/// name), as the leaderboard ranks them; `None` when the direction is unknown.
pub(crate) fn ranked<'a>(
    metric: &str,
    methods: &BTreeMap<&'a str, Values>,
    reference: &[String],
) -> Option<Vec<(&'a str, f64)>> {
    let dir = direction(metric)?;
    let mut lines: Vec<(&str, f64)> = methods
        .iter()
        .filter(|(m, _)| !reference.iter().any(|r| r == *m))
        .filter_map(|(m, v)| Some((*m, summarize(v)?.mean)))
        .collect();
    lines.sort_by(|a, b| better_first(a.1, b.1, dir));
    Some(lines)
}

/// One method's paired difference from the best method of a table.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedDifference {
    pub method: String,
    /// Users present for both.
    pub users: usize,
    /// Mean over those users of (method - best), values averaged over seeds per user.
    pub mean: f64,
    /// 95% BCa bootstrap interval of that mean ([`PAIRED_RESAMPLES`] resamples), where defined.
    pub bca: Option<(f64, f64)>,
    /// Paired Cohen's d of (method - best), where defined (not with constant differences).
    pub cohens_d: Option<f64>,
    /// Cliff's delta of the method's per-user values over the best's (all pairs).
    pub cliffs_delta: Option<f64>,
}

/// Bootstrap resamples of the paired-difference intervals.
pub const PAIRED_RESAMPLES: usize = 2000;

/// The paired differences of every ranked method from the best one of a table, in rank order
/// (empty when the direction is unknown or fewer than two methods are ranked); each interval is
/// seeded from `opts.seed` and the table's and methods' labels.
pub fn paired_differences(
    table_suite: &str,
    table_scenario: &str,
    metric: &str,
    methods: &BTreeMap<&str, Values>,
    opts: &SignificanceOptions,
) -> Vec<PairedDifference> {
    let Some(lines) = ranked(metric, methods, &opts.reference_methods) else { return Vec::new() };
    let Some(&(best, _)) = lines.first() else { return Vec::new() };
    let best_users = user_means(&methods[best]);
    let mut out = Vec::new();
    for &(other, _) in &lines[1..] {
        let other_users = user_means(&methods[other]);
        let common: Vec<u64> = best_users.keys().filter(|u| other_users.contains_key(u)).copied().collect();
        if common.is_empty() {
            continue;
        }
        let a: Vec<f64> = common.iter().map(|u| other_users[u]).collect();
        let b: Vec<f64> = common.iter().map(|u| best_users[u]).collect();
        let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let seed = derive_seed(opts.seed, &[table_suite, table_scenario, metric, best, other, "bca"]);
        let bca = stats::bootstrap_mean_ci(&d, 0.95, stats::BootstrapMethod::Bca, PAIRED_RESAMPLES, seed)
            .ok()
            .map(|ci| (ci.low, ci.high));
        out.push(PairedDifference {
            method: other.to_owned(),
            users: common.len(),
            mean: d.iter().sum::<f64>() / d.len() as f64,
            bca,
            cohens_d: stats::cohens_d_paired(&a, &b).ok(),
            cliffs_delta: stats::cliffs_delta(&a, &b).ok(),
        });
    }
    out
}

/// Per-seed means over the users in `users`, by seed.
fn seed_means(values: &Values, users: &BTreeSet<u64>) -> Vec<f64> {
    let mut sorted = values.clone();
    sorted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    let mut sums: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (seed, user, v) in sorted {
        if users.contains(&user) {
            let e = sums.entry(seed).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    sums.values().map(|(s, n)| s / *n as f64).collect()
}

/// Comparisons of one table (see the module docs), Holm-adjusted per test.
pub(crate) fn compare_table(
    table: &Table,
    methods: &BTreeMap<&str, Values>,
    opts: &SignificanceOptions,
) -> (Vec<SignificanceRow>, Vec<Skipped>) {
    let (mut rows, mut skipped) = (Vec::new(), Vec::new());
    if opts.tests.is_empty() {
        return (rows, skipped);
    }
    let Some(lines) = ranked(table.metric, methods, &opts.reference_methods) else {
        skipped.push(table.skipped(
            "comparisons with the best",
            format!("the direction of metric `{}` is unknown, so there is no best method", table.metric),
        ));
        return (rows, skipped);
    };
    let Some(&(best, _)) = lines.first() else {
        return (rows, skipped); // only reference methods
    };
    if lines.len() < 2 {
        skipped.push(table.skipped("comparisons with the best", format!("`{best}` is the only ranked method")));
        return (rows, skipped);
    }
    let higher_better = direction(table.metric) == Some(Direction::HigherIsBetter);
    // each test once, in `Test::ALL` order
    let tests: BTreeSet<Test> = opts.tests.iter().copied().collect();
    let best_users = user_means(&methods[best]);
    let comparisons = lines.len() - 1;
    for &(other, _) in &lines[1..] {
        let pair = format!("{best} vs {other}");
        let other_users = user_means(&methods[other]);
        let common: BTreeSet<u64> = best_users.keys().filter(|u| other_users.contains_key(u)).copied().collect();
        if common.len() < opts.min_users.max(1) {
            skipped.push(table.skipped(
                pair,
                format!("{} user(s) present for both methods, fewer than {}", common.len(), opts.min_users.max(1)),
            ));
            continue;
        }
        let a: Vec<f64> = common.iter().map(|u| best_users[u]).collect();
        let b: Vec<f64> = common.iter().map(|u| other_users[u]).collect();
        let d = stats::cohens_d_paired(&a, &b).ok();
        for &test in &tests {
            let labels = [table.suite, table.scenario, table.metric, best, other, test.name()];
            let result: Result<(f64, Option<f64>, Option<f64>), StatsError> = match test {
                Test::TTest => stats::ttest_rel(&a, &b).map(|r| (r.statistic, Some(r.p_value), d)),
                Test::Wilcoxon => stats::wilcoxon(&a, &b).map(|r| (r.statistic, Some(r.p_value), d)),
                Test::Sign => stats::sign_test(&a, &b).map(|r| (r.positives as f64, Some(r.p_value), d)),
                Test::Permutation => stats::permutation_test(&a, &b, derive_seed(opts.seed, &labels))
                    .map(|r| (r.statistic, Some(r.p_value), d)),
                Test::Aso => {
                    // oriented so that higher is better, A = the best method
                    let orient = |v: Vec<f64>| -> Vec<f64> {
                        if higher_better { v } else { v.into_iter().map(|x| -x).collect() }
                    };
                    let sa = orient(seed_means(&methods[best], &common));
                    let sb = orient(seed_means(&methods[other], &common));
                    let fewest = sa.len().min(sb.len());
                    if fewest < opts.aso_min_seeds {
                        skipped.push(table.skipped(
                            format!("{test}: {pair}"),
                            format!(
                                "ASO needs at least {} seeds per method to compare score distributions; {} has {}",
                                opts.aso_min_seeds,
                                if sa.len() <= sb.len() { best } else { other },
                                fewest
                            ),
                        ));
                        continue;
                    }
                    let aso_opts = AsoOptions {
                        num_comparisons: comparisons,
                        seed: derive_seed(opts.seed, &labels),
                        ..AsoOptions::default()
                    };
                    stats::aso(&sa, &sb, &aso_opts).map(|r| (r.epsilon_min, None, Some(r.epsilon_min)))
                }
            };
            match result {
                Ok((statistic, p, effect))
                    if statistic.is_finite() && p.is_none_or(f64::is_finite) && effect.is_none_or(f64::is_finite) =>
                {
                    rows.push(table.row(best, other, test, statistic, p, effect));
                }
                Ok(_) => skipped.push(table.skipped(format!("{test}: {pair}"), "the test gave a non-finite value")),
                Err(e) => skipped.push(table.skipped(format!("{test}: {pair}"), e.to_string())),
            }
        }
    }
    adjust_per_test(&mut rows, opts.correction);
    // rows in method rank order, then test order
    let rank: BTreeMap<&str, usize> = lines.iter().enumerate().map(|(i, (m, _))| (*m, i)).collect();
    rows.sort_by_key(|r| (rank.get(r.method_b.as_str()).copied(), r.test));
    (rows, skipped)
}

/// Fills `p_adjusted` with `correction`'s adjustment over the rows of each test.
fn adjust_per_test(rows: &mut [SignificanceRow], correction: Correction) {
    let tests: BTreeSet<Test> = rows.iter().map(|r| r.test).collect();
    for test in tests {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].test == test && rows[i].p_value.is_some()).collect();
        let p: Vec<f64> = idx.iter().filter_map(|&i| rows[i].p_value).collect();
        if let Ok(adjusted) = correction.adjust(&p) {
            for (&i, q) in idx.iter().zip(adjusted) {
                rows[i].p_adjusted = Some(q);
            }
        }
    }
}

/// Friedman + Nemenyi per metric over the (suite, scenario) blocks.
fn rank_summaries(cells: &Cells, opts: &SignificanceOptions) -> (Vec<RankSummary>, Vec<Skipped>) {
    // metric -> [(suite, scenario, method -> mean)]
    type Block<'a> = (&'a str, &'a str, BTreeMap<&'a str, f64>);
    let mut by_metric: BTreeMap<(usize, &str), Vec<Block>> = BTreeMap::new();
    for (suite, scenarios) in cells {
        for ((_, scenario), metrics) in scenarios {
            for (metric_key, methods) in metrics {
                let Some(lines) = ranked(metric_key.1, methods, &opts.reference_methods) else {
                    continue; // direction unknown: the table's own skip says so
                };
                by_metric.entry(*metric_key).or_default().push((suite, scenario, lines.into_iter().collect()));
            }
        }
    }
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for ((_, metric), blocks) in by_metric {
        let skip = |what: String, reason: String| Skipped {
            suite: String::new(),
            scenario: String::new(),
            metric: metric.to_owned(),
            what,
            reason,
        };
        if blocks.len() < 2 {
            skipped.push(skip(
                "rank summary".into(),
                format!("only {} (suite, scenario) block has this metric", blocks.len()),
            ));
            continue;
        }
        let all: BTreeSet<&str> = blocks.iter().flat_map(|b| b.2.keys().copied()).collect();
        let mut common = Vec::new();
        for m in all {
            let missing = blocks.iter().filter(|b| !b.2.contains_key(m)).count();
            if missing == 0 {
                common.push(m);
            } else {
                skipped.push(skip(
                    format!("rank summary: {m}"),
                    format!("absent from {missing} of {} (suite, scenario) blocks", blocks.len()),
                ));
            }
        }
        if common.len() < 2 {
            skipped.push(skip(
                "rank summary".into(),
                format!("{} method(s) present in every block, fewer than 2", common.len()),
            ));
            continue;
        }
        let sign = match direction(metric) {
            Some(Direction::HigherIsBetter) => -1.0,
            _ => 1.0,
        };
        let matrix: Vec<Vec<f64>> = blocks.iter().map(|b| common.iter().map(|m| sign * b.2[m]).collect()).collect();
        let (avg, cd) = match (stats::average_ranks(&matrix), stats::nemenyi_cd(common.len(), blocks.len(), opts.alpha))
        {
            (Ok(avg), Ok(cd)) => (avg, cd),
            (Err(e), _) | (_, Err(e)) => {
                skipped.push(skip("rank summary".into(), e.to_string()));
                continue;
            }
        };
        let friedman = if common.len() < 3 {
            skipped.push(skip(
                "Friedman test".into(),
                "needs at least 3 methods (average ranks and CD are still given)".into(),
            ));
            None
        } else {
            match stats::friedman(&matrix) {
                Ok(f) => Some((f.statistic, f.p_value)),
                Err(e) => {
                    skipped.push(skip("Friedman test".into(), e.to_string()));
                    None
                }
            }
        };
        let mut average_ranks: Vec<(String, f64)> = common.iter().zip(avg).map(|(m, r)| (m.to_string(), r)).collect();
        average_ranks.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        out.push(RankSummary {
            metric: metric.to_owned(),
            blocks: blocks.iter().map(|b| (b.0.to_owned(), b.1.to_owned())).collect(),
            average_ranks,
            friedman,
            critical_difference: cd,
            alpha: opts.alpha,
        });
    }
    (out, skipped)
}

/// Writes `rows` as CSV with [`SIGNIFICANCE_HEADER`]. Numbers use Rust's
/// shortest round-trip `{}` form; an absent p-value or effect is an empty
/// field. A non-finite number (which [`analyze`] never produces) is refused
/// before anything is written.
pub fn write_significance_csv<W: Write>(w: W, rows: &[SignificanceRow]) -> Result<(), ReportError> {
    const WRITER: &str = "<writer>";
    for (line, r) in (2..).zip(rows) {
        let values = [Some(r.statistic), r.p_value, r.p_adjusted, r.effect];
        if let Some(value) = values.into_iter().flatten().find(|v| !v.is_finite()) {
            return Err(ReportError::NonFinite { path: WRITER.to_owned(), line, metric: r.metric.clone(), value });
        }
    }
    let err = |e: csv::Error| ReportError::Row {
        path: WRITER.to_owned(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let mut out = csv::Writer::from_writer(w);
    out.write_record(SIGNIFICANCE_HEADER).map_err(err)?;
    let opt = |v: Option<f64>| v.map_or_else(String::new, |x| x.to_string());
    for r in rows {
        out.write_record([
            r.suite.as_str(),
            &r.scenario,
            &r.metric,
            &r.method_a,
            &r.method_b,
            r.test.name(),
            &r.statistic.to_string(),
            &opt(r.p_value),
            &opt(r.p_adjusted),
            &opt(r.effect),
        ])
        .map_err(err)?;
    }
    out.flush().map_err(|source| ReportError::Io { path: WRITER.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, method: &str, metric: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        crate::testing::clean_row("s", scenario, method, metric, seed, user, value)
    }

    /// `values[s][u]` is seed s+1, user u+1.
    fn method(scenario: &str, name: &str, metric: &str, values: &[&[f64]]) -> Vec<ResultRow> {
        let mut out = Vec::new();
        for (s, seed_values) in values.iter().enumerate() {
            for (u, v) in seed_values.iter().enumerate() {
                out.push(row(scenario, name, metric, s as u64 + 1, u as u64 + 1, *v));
            }
        }
        out
    }

    const A: [&[f64]; 2] =
        [&[0.80, 0.92, 0.75, 1.01, 0.88, 0.79, 0.95, 0.83], &[0.82, 0.90, 0.79, 0.99, 0.86, 0.81, 0.97, 0.85]];
    const B: [&[f64]; 2] =
        [&[0.85, 0.97, 0.80, 1.00, 0.95, 0.84, 1.02, 0.86], &[0.87, 0.95, 0.78, 1.06, 0.93, 0.88, 1.00, 0.90]];
    const C: [&[f64]; 2] =
        [&[0.81, 0.95, 0.74, 1.04, 0.87, 0.83, 0.94, 0.86], &[0.83, 0.91, 0.80, 1.00, 0.89, 0.80, 0.99, 0.84]];

    fn warm_rows() -> Vec<ResultRow> {
        let mut rows = [
            method("warm", "a", "mae", &A),
            method("warm", "b", "mae", &B),
            method("warm", "c", "mae", &C),
            method("warm", "oracle", "mae", &[&[0.5; 8], &[0.5; 8]]),
        ]
        .concat();
        let mut perturbed = row("warm", "b", "mae", 1, 1, 0.0);
        perturbed.perturbation = "noise".into();
        rows.push(perturbed);
        rows
    }

    /// ASO's mechanics are checked on two seeds (against deepsig); the default needs 5.
    fn opts() -> SignificanceOptions {
        SignificanceOptions {
            reference_methods: vec!["oracle".into()],
            aso_min_seeds: 2,
            ..SignificanceOptions::default()
        }
    }

    fn close(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() < 1e-9)
    }

    // Reference (scipy 1.17.1, statsmodels 0.15.0), per-user means um[m][i] =
    // (seed1[i] + seed2[i]) / 2; means a 0.87 (best, mae), b 0.91625, c 0.88125.
    //   a, b = um["a"], um[o]; d = a - b
    //   ttest_rel(a, b); wilcoxon(a, b); binomtest((d>0).sum(), (d!=0).sum(), 0.5)
    //   permutation_test((d,), np.mean, permutation_type='samples', n_resamples=2**8)
    //   d.mean() / d.std(ddof=1); multipletests([p_b, p_c], method='holm')
    // b: t -8.186207059071144, p 7.8672109863843e-05; wilcoxon 0.0, 0.0078125;
    //    sign k=0, 0.0078125; permutation mean -0.046249999999999986, 0.0078125;
    //    Cohen's d -2.8942612618331953
    // c: t -4.582575694955848, p 0.0025359960802580775; wilcoxon 0.0, 0.015625
    //    (user 3 is a zero difference, so the permutation method); sign k=0,
    //    0.015625; permutation -0.011249999999999982, 0.015625; d -1.6201851746019678
    // holm: ttest [0.000157344219727686, 0.0025359960802580775];
    //       wilcoxon, sign, permutation [0.015625, 0.015625]
    #[test]
    fn comparisons_match_scipy_and_holm() {
        let report = analyze(&warm_rows(), &opts());
        let got: Vec<(&str, Test)> = report.rows.iter().map(|r| (r.method_b.as_str(), r.test)).collect();
        let mut want = Vec::new();
        for m in ["c", "b"] {
            // c (0.88125) ranks before b (0.91625)
            for t in Test::ALL {
                want.push((m, t));
            }
        }
        assert_eq!(got, want);
        assert!(report.rows.iter().all(|r| r.method_a == "a" && r.metric == "mae"));
        let find = |m: &str, t: Test| {
            report.rows.iter().find(|r| r.method_b == m && r.test == t).cloned().ok_or(format!("no row {m} {t}"))
        };
        let check = |m: &str, t: Test, stat: f64, p: f64, adj: f64, effect: f64| -> Result<(), String> {
            let r = find(m, t)?;
            let ok = (r.statistic - stat).abs() < 1e-9
                && close(r.p_value, p)
                && close(r.p_adjusted, adj)
                && close(r.effect, effect);
            if ok { Ok(()) } else { Err(format!("{r:?}")) }
        };
        let (db, dc) = (-2.8942612618331953, -1.6201851746019678);
        let cases = [
            ("b", Test::TTest, -8.186207059071144, 7.8672109863843e-05, 0.000157344219727686, db),
            ("c", Test::TTest, -4.582575694955848, 0.0025359960802580775, 0.0025359960802580775, dc),
            ("b", Test::Wilcoxon, 0.0, 0.0078125, 0.015625, db),
            ("c", Test::Wilcoxon, 0.0, 0.015625, 0.015625, dc),
            ("b", Test::Sign, 0.0, 0.0078125, 0.015625, db),
            ("c", Test::Sign, 0.0, 0.015625, 0.015625, dc),
            ("b", Test::Permutation, -0.046249999999999986, 0.0078125, 0.015625, db),
            ("c", Test::Permutation, -0.011249999999999982, 0.015625, 0.015625, dc),
        ];
        for (m, t, stat, p, adj, effect) in cases {
            assert_eq!(check(m, t, stat, p, adj, effect), Ok(()), "{m} {t}");
        }
        // ASO: eps_min of the best over each other method (negated mae), no p
        for m in ["b", "c"] {
            let r = find(m, Test::Aso).expect("aso row");
            assert_eq!((r.p_value, r.p_adjusted, r.effect), (None, None, Some(r.statistic)));
            assert!((0.0..=1.0).contains(&r.statistic));
        }
        // the per-seed means of a are below b's in both seeds: a dominates b
        assert_eq!(find("b", Test::Aso).map(|r| r.statistic < 0.5), Ok(true));
        // one (suite, scenario) block only: no rank summary, and it says so
        assert!(report.ranks.is_empty());
        let skipped: Vec<(&str, &str)> = report.skipped.iter().map(|s| (s.what.as_str(), s.reason.as_str())).collect();
        assert_eq!(skipped, [("rank summary", "only 1 (suite, scenario) block has this metric")]);
    }

    #[test]
    fn result_ignores_row_order() {
        let rows = warm_rows();
        let mut shuffled: Vec<ResultRow> = (0..rows.len()).map(|i| rows[i * 7 % rows.len()].clone()).collect();
        shuffled.reverse();
        assert_ne!(shuffled, rows);
        assert_eq!(analyze(&shuffled, &opts()), analyze(&rows, &opts()));
    }

    #[test]
    fn users_are_paired_on_the_common_ones() {
        // drop users 7 and 8 of b in seed 2 only: they keep their seed-1 value
        // as their mean; drop user 1 of b entirely: b is paired on users 2..8.
        let rows: Vec<ResultRow> = warm_rows()
            .into_iter()
            .filter(|r| r.method != "b" || (r.user != 1 && !(r.seed == 2 && r.user >= 7)))
            .collect();
        let report = analyze(&rows, &SignificanceOptions { tests: vec![Test::TTest], ..opts() });
        let r = report.rows.iter().find(|r| r.method_b == "b").expect("b row");
        // by hand: a = um_a[1..8], b = [0.96, 0.79, 1.03, 0.94, 0.86, 1.02, 0.86]
        let a: Vec<f64> = (1..8).map(|i| (A[0][i] + A[1][i]) / 2.0).collect();
        let mut b: Vec<f64> = (1..6).map(|i| (B[0][i] + B[1][i]) / 2.0).collect();
        b.extend([B[0][6], B[0][7]]);
        let t = stats::ttest_rel(&a, &b).expect("t-test");
        assert_eq!(r.statistic, t.statistic);
        assert_eq!(r.p_value, Some(t.p_value));
    }

    #[test]
    fn skips_say_what_and_why() {
        let rows = [
            // user-cold: a and b identical with one seed; c shares no user with a
            method("user-cold", "a", "mae", &[&[0.3, 0.4, 0.5]]),
            method("user-cold", "b", "mae", &[&[0.3, 0.4, 0.5]]),
            vec![row("user-cold", "c", "mae", 1, 9, 0.1)],
            // item-cold: one ranked method besides the oracle
            method("item-cold", "a", "mae", &[&[0.3, 0.4]]),
            method("item-cold", "oracle", "mae", &[&[0.0, 0.0]]),
            // an unknown direction
            method("warm", "a", "loss", &[&[0.3, 0.4]]),
            method("warm", "b", "loss", &[&[0.2, 0.4]]),
        ]
        .concat();
        let report = analyze(&rows, &opts());
        assert!(report.rows.is_empty(), "{:?}", report.rows);
        let got: Vec<(String, String, String, String)> = report
            .skipped
            .iter()
            .map(|s| (s.scenario.clone(), s.metric.clone(), s.what.clone(), s.reason.clone()))
            .collect();
        let zero = "all 3 paired differences are zero: there is nothing to test";
        let s = |sc: &str, m: &str, w: &str, r: &str| (sc.to_owned(), m.to_owned(), w.to_owned(), r.to_owned());
        // c ranks first at 0.1 (one user) and is the best here
        let want = vec![
            s(
                "warm",
                "loss",
                "comparisons with the best",
                "the direction of metric `loss` is unknown, so there is no best method",
            ),
            s("user-cold", "mae", "c vs a", "0 user(s) present for both methods, fewer than 2"),
            s("user-cold", "mae", "c vs b", "0 user(s) present for both methods, fewer than 2"),
            s("item-cold", "mae", "comparisons with the best", "`a` is the only ranked method"),
            s("", "mae", "rank summary: b", "absent from 1 of 2 (suite, scenario) blocks"),
            s("", "mae", "rank summary: c", "absent from 1 of 2 (suite, scenario) blocks"),
            s("", "mae", "rank summary", "1 method(s) present in every block, fewer than 2"),
        ];
        assert_eq!(got, want);
        // without c, a is the best and b is all-zero differences with one seed
        let rows: Vec<ResultRow> = rows.into_iter().filter(|r| r.method != "c").collect();
        let report = analyze(&rows, &opts());
        let user_cold: Vec<(String, String)> = report
            .skipped
            .iter()
            .filter(|s| s.scenario == "user-cold")
            .map(|s| (s.what.clone(), s.reason.clone()))
            .collect();
        let pair = |t: &str, r: &str| (format!("{t}: a vs b"), r.to_owned());
        assert_eq!(
            user_cold,
            vec![
                pair("ttest", zero),
                pair("wilcoxon", zero),
                pair("sign", zero),
                pair("permutation", zero),
                pair("aso", "ASO needs at least 2 seeds per method to compare score distributions; a has 1"),
            ]
        );
    }

    #[test]
    fn rank_summary_matches_scipy_friedman() {
        // ndcg@5 (higher is better), one user and seed per table:
        //   b = [[.50,.40,.45],[.30,.35,.20],[.60,.50,.55],[.25,.25,.10]]  (x, y, z)
        //   scipy.stats.friedmanchisquare(*(-b).T) -> 2.8, 0.24659696394160646
        //   ranks (1 = best): [1.375, 2.125, 2.5]
        //   CD = studentized_range.ppf(0.95, 3, np.inf) / sqrt(2) * sqrt(3*4 / (6*4))
        //      = 1.657246577699061
        let table = [
            ("warm", [0.50, 0.40, 0.45]),
            ("user-cold", [0.30, 0.35, 0.20]),
            ("item-cold", [0.60, 0.50, 0.55]),
            ("user-item-cold", [0.25, 0.25, 0.10]),
        ];
        let mut rows = Vec::new();
        for (scenario, values) in table {
            for (m, v) in ["x", "y", "z"].iter().zip(values) {
                rows.push(row(scenario, m, "ndcg@5", 1, 1, v));
            }
            rows.push(row(scenario, "oracle", "ndcg@5", 1, 1, 1.0));
        }
        let report = analyze(&rows, &opts());
        assert_eq!(report.ranks.len(), 1);
        let r = &report.ranks[0];
        assert_eq!(r.metric, "ndcg@5");
        let blocks: Vec<&str> = r.blocks.iter().map(|b| b.1.as_str()).collect();
        assert_eq!(blocks, ["warm", "user-cold", "item-cold", "user-item-cold"]);
        assert_eq!(r.average_ranks, vec![("x".to_owned(), 1.375), ("y".to_owned(), 2.125), ("z".to_owned(), 2.5)]);
        let (chi2, p) = r.friedman.expect("3 methods");
        assert!((chi2 - 2.8).abs() < 1e-9 && (p - 0.24659696394160646).abs() < 1e-9);
        assert!((r.critical_difference - 1.657246577699061).abs() < 1e-8);
        // one user per table: every paired comparison is skipped (1 < min_users)
        assert!(report.rows.is_empty());
        assert_eq!(report.skipped.len(), 8);
    }

    /// By default ASO runs only with at least 5 seeds per method: 4 seeds skip it with the
    /// reason, 5 seeds run it.
    #[test]
    fn aso_needs_five_seeds_by_default() {
        let seeds = |n: usize, shift: f64| -> Vec<Vec<f64>> {
            (0..n).map(|s| (0..6).map(|u| 0.5 + 0.05 * u as f64 + 0.01 * s as f64 + shift).collect()).collect()
        };
        let rows_with = |n: usize| -> Vec<ResultRow> {
            let (a, b) = (seeds(n, 0.0), seeds(n, 0.2));
            let a: Vec<&[f64]> = a.iter().map(Vec::as_slice).collect();
            let b: Vec<&[f64]> = b.iter().map(Vec::as_slice).collect();
            [method("warm", "a", "mae", &a), method("warm", "b", "mae", &b)].concat()
        };
        let opts = SignificanceOptions { tests: vec![Test::Aso], ..SignificanceOptions::default() };
        let four = analyze(&rows_with(4), &opts);
        assert!(four.rows.is_empty());
        let why: Vec<&str> =
            four.skipped.iter().filter(|s| s.what == "aso: a vs b").map(|s| s.reason.as_str()).collect();
        assert_eq!(why, ["ASO needs at least 5 seeds per method to compare score distributions; a has 4"]);
        let five = analyze(&rows_with(5), &opts);
        assert_eq!(five.rows.len(), 1, "{:?}", five.skipped);
        assert_eq!(five.rows[0].test, Test::Aso);
    }

    #[test]
    fn csv_has_the_header_and_empty_fields_for_aso() -> Result<(), ReportError> {
        let report = analyze(&warm_rows(), &opts());
        let mut buf = Vec::new();
        write_significance_csv(&mut buf, &report.rows[..1])?;
        let r = &report.rows[0];
        assert_eq!(
            String::from_utf8_lossy(&buf),
            format!(
                "suite,scenario,metric,method_a,method_b,test,statistic,p_value,p_adjusted,effect\n\
                 s,warm,mae,a,c,ttest,-4.582575694955848,{},{},{}\n",
                r.p_value.unwrap_or(0.0),
                r.p_adjusted.unwrap_or(0.0),
                r.effect.unwrap_or(0.0)
            )
        );
        let aso = report.rows.iter().find(|r| r.test == Test::Aso).cloned();
        let mut buf = Vec::new();
        write_significance_csv(&mut buf, &aso.into_iter().collect::<Vec<_>>())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let line = text.lines().nth(1).unwrap_or_default();
        assert!(line.starts_with("s,warm,mae,a,c,aso,"), "{line}");
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!((fields[7], fields[8]), ("", ""));
        assert_eq!(fields[6], fields[9]); // effect = eps_min = statistic
        // a NaN is refused before anything is written
        let mut bad = report.rows[0].clone();
        bad.effect = Some(f64::NAN);
        let mut buf = Vec::new();
        let err = write_significance_csv(&mut buf, &[bad]).map(|_| ()).unwrap_err();
        assert_eq!(err.to_string(), "<writer>:2: value NaN of metric \"mae\" is not finite");
        assert!(buf.is_empty());
        Ok(())
    }
}
