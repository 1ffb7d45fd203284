//! The user-side fairness section of the reports: per (suite, attribute,
//! scenario, metric) a table of the methods' group means with 95% intervals,
//! the gap between the best- and worst-served group, its ratio and a
//! permutation test of the gap, Holm-corrected across attributes.
//!
//! **Input.** The rows of `results.csv` ([`ResultRow`]; only perturbation
//! `"none"`) and the rows of the run's `groups.csv` ([`GroupRow`]:
//! `suite,user,attribute,group`, one per test user and attribute, read with
//! [`read_groups`]).
//!
//! **Unit and statistics** ([`analyze_fairness`]). For every (suite,
//! scenario, metric, method) each user's values are averaged over seeds (as
//! in the leaderboard and [`crate::analysis::significance`]); for every attribute of the
//! suite the users are joined with their group. Users without a group row for
//! the attribute, or with two different ones, are left out and counted
//! ([`FairnessRow::ungrouped`]). Groups with fewer than
//! [`FairnessOptions::min_group_users`] users are left out of the comparison
//! and listed as skipped. Per group: n, mean and the two-sided 95% Student-t
//! interval over its users ([`crate::fairness::group_summaries`]). The gap
//! (largest - smallest group mean), the ratio (smallest / largest, `None`
//! when a mean is <= 0) and the Monte Carlo permutation p-value of the gap come
//! from [`crate::fairness::group_gap`], with the seed
//! [`derive_seed`]`(opts.seed, [suite, scenario, metric, method, attribute])`,
//! so every test has its own stream whatever the order of computation. The
//! p-values of the attributes of one (suite, scenario, metric, method) are
//! one family, Holm-corrected together ([`holm`]).
//!
//! Nothing here panics or produces NaN: whatever cannot be computed (a
//! suite without group rows, an attribute with one group, a group too small,
//! a non-finite value, an error of [`crate::fairness`]) is a
//! [`FairnessSkipped`] entry saying what and why. The report depends only on
//! the sets of rows, not on their order, and is deterministic.
//!
//! **Rendering** is [`crate::build::fairness`]'s.

use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::analysis::table::{METRIC_ORDER, Ordered, SCENARIO_ORDER, ordered};
use crate::analysis::table::{group_rows, user_means};
use crate::doc::users_text;
use crate::fairness::{GroupSummary, group_gap, group_summaries};
use crate::read::GroupRow;
use crate::results::ResultRow;
use crate::stats::holm;
use crate::stats::rng::derive_seed;

// ---------------------------------------------------------------------------
// groups.csv
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------

/// Parameters of [`analyze_fairness`].
#[derive(Clone, Debug, PartialEq)]
pub struct FairnessOptions {
    /// Random relabellings of the permutation test (default 9999, so the
    /// smallest possible p is 1/10000).
    pub resamples: usize,
    /// Base seed of the permutation tests.
    pub seed: u64,
    /// Holm-adjusted p-values below this are marked with [`crate::plot::GAP_MARK`]
    /// (default 0.05).
    pub alpha: f64,
    /// Groups with fewer users are left out of the comparison (default 2, so
    /// that every interval has a spread; values below 1 count as 1).
    pub min_group_users: usize,
}

impl Default for FairnessOptions {
    fn default() -> Self {
        FairnessOptions { resamples: 9_999, seed: 0, alpha: 0.05, min_group_users: 2 }
    }
}

/// Gap and permutation test of one method in one table.
#[derive(Clone, Debug, PartialEq)]
pub struct GapTest {
    /// Group with the largest mean (the first in name order on ties).
    pub max_group: String,
    /// Group with the smallest mean (the first in name order on ties).
    pub min_group: String,
    /// Largest minus smallest group mean, >= 0.
    pub gap: f64,
    /// Smallest / largest group mean; `None` when a group mean is <= 0.
    pub ratio: Option<f64>,
    /// Monte Carlo permutation p-value, `(b + 1) / (resamples + 1)`.
    pub p_value: f64,
    /// Holm-adjusted over the attributes tested for the same (suite,
    /// scenario, metric, method).
    pub p_adjusted: f64,
    /// Size of that Holm family.
    pub family: usize,
    pub resamples: usize,
}

/// One method in one table.
#[derive(Clone, Debug, PartialEq)]
pub struct FairnessRow {
    pub method: String,
    /// Users of the method with a group for the attribute (before small
    /// groups are left out).
    pub users: usize,
    /// Users of the method left out because they have no group row for the
    /// attribute (or more than one group).
    pub ungrouped: usize,
    /// The compared groups, in name order (groups that are too small are not
    /// here; see [`FairnessReport::skipped`]).
    pub groups: Vec<GroupSummary>,
    /// `None` when fewer than 2 groups are left or the test failed (the
    /// reason is in [`FairnessReport::skipped`]).
    pub gap: Option<GapTest>,
}

/// One (suite, attribute, scenario, metric) table.
#[derive(Clone, Debug, PartialEq)]
pub struct FairnessTable {
    pub suite: String,
    pub attribute: String,
    pub scenario: String,
    pub metric: String,
    /// Every group shown for some method, in name order: the columns.
    pub groups: Vec<String>,
    /// One per method with at least one group shown, by method name.
    pub rows: Vec<FairnessRow>,
}

/// Something [`analyze_fairness`] could not compute, and why. Fields that do
/// not apply are empty: `attribute` (and the rest) for a whole suite,
/// `scenario`, `metric` and `method` for a whole attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FairnessSkipped {
    pub suite: String,
    pub attribute: String,
    pub scenario: String,
    pub metric: String,
    pub method: String,
    /// The group concerned, when the entry is about one group.
    pub group: Option<String>,
    pub reason: String,
}

impl FairnessSkipped {
    /// What was skipped, in plain text (names unescaped).
    pub fn what(&self) -> String {
        let mut what = format!("suite {}", self.suite);
        if !self.attribute.is_empty() {
            let _ = write!(what, ", attribute {}", self.attribute);
        }
        if let Some(g) = &self.group {
            let _ = write!(what, ", group {g}");
        }
        if !self.method.is_empty() {
            let _ = write!(what, " ({} / {} / {})", self.scenario, self.metric, self.method);
        }
        what
    }
}

/// Everything the fairness section shows.
#[derive(Clone, Debug, PartialEq)]
pub struct FairnessReport {
    /// The options the report was computed with (the renderers cite them).
    pub options: FairnessOptions,
    /// By suite, attribute (name order), scenario and metric (leaderboard order).
    pub tables: Vec<FairnessTable>,
    /// In the same order as the tables they concern.
    pub skipped: Vec<FairnessSkipped>,
}

/// Where a skipped entry belongs.
struct Scope<'a> {
    suite: &'a str,
    attribute: &'a str,
    scenario: &'a str,
    metric: &'a str,
    method: &'a str,
}

impl Scope<'_> {
    fn skip(&self, group: Option<&str>, reason: impl Into<String>) -> FairnessSkipped {
        FairnessSkipped {
            suite: self.suite.to_owned(),
            attribute: self.attribute.to_owned(),
            scenario: self.scenario.to_owned(),
            metric: self.metric.to_owned(),
            method: self.method.to_owned(),
            group: group.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

/// Computes the fairness tables of `rows` (perturbation `"none"` only) with
/// the user groups of `groups`; see the module docs for the statistics.
///
/// Tables come by suite (name order), attribute (name order), scenario
/// (warm, user-cold, item-cold, user-item-cold, then others) and metric (mae,
/// rmse, then others), as in the leaderboard; rows by method name. A suite
/// without group rows, an attribute whose users are all in one group, a user
/// with two groups, a method none of whose users has a group, a group with
/// fewer than `opts.min_group_users` users and a comparison left with fewer
/// than 2 groups are [`FairnessSkipped`] entries. The result depends only on
/// the sets of `rows` and `groups` (a duplicated group row counts once).
pub fn analyze_fairness(rows: &[ResultRow], groups: &[GroupRow], opts: &FairnessOptions) -> FairnessReport {
    // suite -> attribute -> user -> groups
    type Membership<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<u64, BTreeSet<&'a str>>>>;
    let mut membership: Membership = BTreeMap::new();
    for g in groups {
        membership
            .entry(&g.suite)
            .or_default()
            .entry(&g.attribute)
            .or_default()
            .entry(g.user)
            .or_default()
            .insert(&g.group);
    }
    let cells = group_rows(rows);
    let mut skipped = Vec::new();
    let mut tables: BTreeMap<(&str, &str, Ordered, Ordered), Vec<FairnessRow>> = BTreeMap::new();
    for (suite, scenarios) in &cells {
        let Some(attributes) = membership.get(suite) else {
            skipped.push(whole(suite, "").skip(None, "groups.csv has no rows for this suite"));
            continue;
        };
        // attribute -> user -> its one group
        let mut usable: Vec<(&str, BTreeMap<u64, &str>)> = Vec::new();
        for (attribute, users) in attributes {
            let conflicting: Vec<String> =
                users.iter().filter(|(_, g)| g.len() > 1).map(|(u, _)| u.to_string()).collect();
            if !conflicting.is_empty() {
                let listed: Vec<&str> = conflicting.iter().take(5).map(String::as_str).collect();
                let more = if conflicting.len() > 5 { ", ..." } else { "" };
                let verb = if conflicting.len() == 1 { "has" } else { "have" };
                let reason = format!(
                    "{} ({}{more}) {verb} more than one group: left out as users without a group",
                    users_text(conflicting.len()),
                    listed.join(", ")
                );
                skipped.push(whole(suite, attribute).skip(None, reason));
            }
            let single: BTreeMap<u64, &str> =
                users.iter().filter(|(_, g)| g.len() == 1).filter_map(|(u, g)| Some((*u, *g.iter().next()?))).collect();
            let distinct: BTreeSet<&str> = single.values().copied().collect();
            if distinct.len() < 2 {
                let group = distinct.iter().next().copied();
                let reason = match group {
                    Some(_) => {
                        format!("all {} with a group are in this one group: there is no gap", users_text(single.len()))
                    }
                    None => "no user has exactly one group".to_owned(),
                };
                skipped.push(whole(suite, attribute).skip(group, reason));
                continue;
            }
            usable.push((attribute, single));
        }
        // One family per (scenario, metric, method): its permutation tests are the work, and
        // each has its own derived seed, so the families run in parallel and are merged in
        // this order, which gives the same tables and skipped entries at any thread count.
        let work: Vec<_> = scenarios
            .iter()
            .flat_map(|(scenario_key, metrics)| {
                metrics.iter().flat_map(move |(metric_key, methods)| {
                    methods.iter().map(move |(method, values)| (scenario_key, metric_key, method, values))
                })
            })
            .collect();
        let families: Vec<_> = work
            .par_iter()
            .map(|&(scenario_key, metric_key, method, values)| {
                let (scenario, metric) = (scenario_key.1, metric_key.1);
                let means = user_means(values);
                let mut skipped = Vec::new();
                let mut family: Vec<(&str, FairnessRow)> = Vec::new();
                for (attribute, member) in &usable {
                    let scope = Scope { suite, attribute, scenario, metric, method };
                    if let Some(row) = compare_groups(&scope, &means, member, opts, &mut skipped) {
                        family.push((attribute, row));
                    }
                }
                holm_family(&mut family, &Scope { suite, attribute: "", scenario, metric, method }, &mut skipped);
                (scenario_key, metric_key, family, skipped)
            })
            .collect();
        for (scenario_key, metric_key, family, family_skipped) in families {
            skipped.extend(family_skipped);
            for (attribute, row) in family {
                tables.entry((*suite, attribute, *scenario_key, *metric_key)).or_default().push(row);
            }
        }
    }
    let tables = tables
        .into_iter()
        .map(|((suite, attribute, (_, scenario), (_, metric)), rows)| {
            let groups: BTreeSet<&str> = rows.iter().flat_map(|r| r.groups.iter().map(|g| g.group.as_str())).collect();
            FairnessTable {
                suite: suite.to_owned(),
                attribute: attribute.to_owned(),
                scenario: scenario.to_owned(),
                metric: metric.to_owned(),
                groups: groups.into_iter().map(str::to_owned).collect(),
                rows,
            }
        })
        .collect();
    skipped.sort_by(|a, b| skip_key(a).cmp(&skip_key(b)));
    FairnessReport { options: opts.clone(), tables, skipped }
}

/// The scope of a whole suite (`attribute` empty) or attribute.
fn whole<'a>(suite: &'a str, attribute: &'a str) -> Scope<'a> {
    Scope { suite, attribute, scenario: "", metric: "", method: "" }
}

/// (suite, attribute, scenario, metric, method, group, reason).
type SkipKey<'a> = (&'a str, &'a str, (usize, &'a str), (usize, &'a str), &'a str, Option<&'a str>, &'a str);

/// Order of skipped entries: as the tables (suite and attribute by name,
/// scenario and metric in leaderboard order), whole-suite and whole-attribute
/// entries first.
fn skip_key(s: &FairnessSkipped) -> SkipKey<'_> {
    (
        &s.suite,
        &s.attribute,
        skip_order(&s.scenario, &SCENARIO_ORDER),
        skip_order(&s.metric, &METRIC_ORDER),
        &s.method,
        s.group.as_deref(),
        &s.reason,
    )
}

/// Leaderboard order of a scenario or metric, the empty name first.
fn skip_order<'a>(name: &'a str, first: &[&str]) -> (usize, &'a str) {
    if name.is_empty() { (0, "") } else { (ordered(name, first).0 + 1, name) }
}

/// The row of one method for one attribute, or `None` (with its reasons in
/// `skipped`) when no group can be shown.
fn compare_groups(
    scope: &Scope,
    means: &BTreeMap<u64, f64>,
    member: &BTreeMap<u64, &str>,
    opts: &FairnessOptions,
    skipped: &mut Vec<FairnessSkipped>,
) -> Option<FairnessRow> {
    let min_users = opts.min_group_users.max(1);
    // in user order, which fixes every sum below
    let mut labelled: Vec<(String, f64)> = Vec::new();
    let mut ungrouped = 0;
    for (user, v) in means {
        match member.get(user) {
            Some(g) if !v.is_finite() => {
                skipped
                    .push(scope.skip(Some(g), format!("the value of user {user}, averaged over seeds, is not finite")));
                return None;
            }
            Some(g) => labelled.push(((*g).to_owned(), *v)),
            None => ungrouped += 1,
        }
    }
    if labelled.is_empty() {
        let reason = format!("none of its {} has a group for this attribute", users_text(means.len()));
        skipped.push(scope.skip(None, reason));
        return None;
    }
    let users = labelled.len();
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, _) in &labelled {
        *sizes.entry(g.as_str()).or_default() += 1;
    }
    let small: BTreeSet<String> = sizes.iter().filter(|(_, n)| **n < min_users).map(|(g, _)| (*g).to_owned()).collect();
    for g in &small {
        let reason = format!("{}, fewer than {min_users}: left out of the comparison", users_text(sizes[g.as_str()]));
        skipped.push(scope.skip(Some(g), reason));
    }
    labelled.retain(|(g, _)| !small.contains(g));
    if labelled.is_empty() {
        skipped.push(scope.skip(None, format!("no group has at least {}", users_text(min_users))));
        return None;
    }
    let summaries = match group_summaries(&labelled) {
        Ok(s) => s,
        Err(e) => {
            skipped.push(scope.skip(None, e.to_string()));
            return None;
        }
    };
    if let Some(bad) = summaries.iter().find(|s| !(s.mean.is_finite() && s.ci_low.is_finite() && s.ci_high.is_finite()))
    {
        skipped.push(scope.skip(Some(&bad.group), "its mean or interval is not finite"));
        return None;
    }
    let gap = if summaries.len() < 2 {
        let reason = format!("the only group with at least {}: there is no gap to test", users_text(min_users));
        skipped.push(scope.skip(Some(&summaries[0].group), reason));
        None
    } else {
        let seed = derive_seed(opts.seed, &[scope.suite, scope.scenario, scope.metric, scope.method, scope.attribute]);
        match group_gap(&labelled, opts.resamples, seed) {
            Ok(g) if g.gap.is_finite() && g.ratio.is_none_or(f64::is_finite) => Some(GapTest {
                max_group: g.max_group,
                min_group: g.min_group,
                gap: g.gap,
                ratio: g.ratio,
                p_value: g.p_value,
                p_adjusted: g.p_value,
                family: 1,
                resamples: g.resamples,
            }),
            Ok(_) => {
                skipped.push(scope.skip(None, "the gap is not finite: not tested"));
                None
            }
            Err(e) => {
                skipped.push(scope.skip(None, format!("gap not tested: {e}")));
                None
            }
        }
    };
    Some(FairnessRow { method: scope.method.to_owned(), users, ungrouped, groups: summaries, gap })
}

/// Holm over the p-values of one (suite, scenario, metric, method).
fn holm_family(family: &mut [(&str, FairnessRow)], scope: &Scope, skipped: &mut Vec<FairnessSkipped>) {
    let p: Vec<f64> = family.iter().filter_map(|(_, r)| r.gap.as_ref().map(|g| g.p_value)).collect();
    match holm(&p) {
        Ok(adjusted) => {
            let mut next = adjusted.into_iter();
            for g in family.iter_mut().filter_map(|(_, r)| r.gap.as_mut()) {
                g.p_adjusted = next.next().unwrap_or(1.0);
                g.family = p.len();
            }
        }
        // unreachable: permutation p-values lie in (0, 1]
        Err(e) => {
            for (attribute, r) in family.iter_mut() {
                if r.gap.take().is_some() {
                    let s = Scope { attribute, ..*scope };
                    skipped.push(s.skip(None, format!("Holm correction failed: {e}")));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::leaderboard::LeaderboardOptions;
    use crate::fairness::group_gap_samples;
    use crate::plot::GAP_MARK;
    use crate::read::{read_groups, read_groups_from};
    use crate::render::markdown::md_code;
    use crate::results::ReportError;
    use crate::testing::{compile_latex, render_fairness_html, render_fairness_latex, render_fairness_markdown};

    const FAST: FairnessOptions = FairnessOptions { resamples: 999, seed: 7, alpha: 0.05, min_group_users: 2 };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn row(suite: &str, scenario: &str, method: &str, metric: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        crate::testing::clean_row(suite, scenario, method, metric, seed, user, value)
    }

    fn grp(suite: &str, user: u64, attribute: &str, group: &str) -> GroupRow {
        GroupRow { suite: suite.into(), user, attribute: attribute.into(), group: group.into() }
    }

    /// One seed of `method` in ml / warm / mae: `values[i]` is the value of user i + 1.
    fn method_rows(method: &str, values: &[f64]) -> Vec<ResultRow> {
        values.iter().enumerate().map(|(i, v)| row("ml", "warm", method, "mae", 1, i as u64 + 1, *v)).collect()
    }

    /// `labels[i]` is the group of user i + 1 for `attribute` in suite ml.
    fn labels(attribute: &str, labels: &[&str]) -> Vec<GroupRow> {
        labels.iter().enumerate().map(|(i, g)| grp("ml", i as u64 + 1, attribute, g)).collect()
    }

    fn oracle() -> LeaderboardOptions {
        LeaderboardOptions { reference_methods: vec!["oracle".into()], ..Default::default() }
    }

    fn table<'a>(r: &'a FairnessReport, attribute: &str, metric: &str) -> &'a FairnessTable {
        r.tables
            .iter()
            .find(|t| t.attribute == attribute && t.metric == metric)
            .unwrap_or_else(|| panic!("no table {attribute} / {metric} in {r:#?}"))
    }

    fn gap(t: &FairnessTable, method: &str) -> GapTest {
        let r = t.rows.iter().find(|r| r.method == method).unwrap_or_else(|| panic!("no row {method}"));
        r.gap.clone().unwrap_or_else(|| panic!("no gap for {method}: {r:?}"))
    }

    /// Two seeds; per-user means: majority (users 1-3) 0.8, 1.0, 1.2 and
    /// minority (users 4-6) 1.5, 1.6, 1.7.
    fn two_group_rows() -> Vec<ResultRow> {
        let seeds = [[0.7, 0.9, 1.1, 1.4, 1.5, 1.6], [0.9, 1.1, 1.3, 1.6, 1.7, 1.8]];
        let mut rows = Vec::new();
        for (s, values) in seeds.iter().enumerate() {
            for (u, v) in values.iter().enumerate() {
                rows.push(row("ml", "warm", "maml", "mae", s as u64 + 1, u as u64 + 1, *v));
            }
        }
        rows
    }

    #[test]
    fn two_groups_by_hand() {
        let groups = labels("group", &["majority", "majority", "majority", "minority", "minority", "minority"]);
        let report = analyze_fairness(&two_group_rows(), &groups, &FAST);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!(report.tables.len(), 1);
        let t = &report.tables[0];
        assert_eq!((t.suite.as_str(), t.attribute.as_str(), t.scenario.as_str()), ("ml", "group", "warm"));
        assert_eq!(t.groups, ["majority", "minority"]);
        let r = &t.rows[0];
        assert_eq!((r.users, r.ungrouped), (6, 0));
        // majority: mean (0.8 + 1.0 + 1.2) / 3 = 1.0, sd 0.2, sem 0.2 / sqrt(3);
        // t(0.975, df 2) = 0.95 / sqrt(2 * 0.975 * 0.025) = 4.302652729749464,
        // half width 0.4968275423500661: [0.5031724576499341, 1.4968275423500659]
        // (scipy.stats.t.interval(0.95, 2, loc=1.0, scale=sem) gives the same)
        let (maj, min) = (&r.groups[0], &r.groups[1]);
        assert_eq!((maj.group.as_str(), maj.n, min.group.as_str(), min.n), ("majority", 3, "minority", 3));
        let half = 4.302652729749464 * 0.2 / 3f64.sqrt();
        assert!(close(maj.mean, 1.0) && close(maj.ci_low, 1.0 - half) && close(maj.ci_high, 1.0 + half), "{maj:?}");
        assert!(close(maj.ci_low, 0.5031724576499341) && close(maj.ci_high, 1.4968275423500659));
        // minority: mean 1.6, sd 0.1: [1.351586228824967, 1.8484137711750328]
        assert!(close(min.mean, 1.6) && close(min.ci_low, 1.351586228824967), "{min:?}");
        // gap 1.6 - 1.0 = 0.6, ratio 1.0 / 1.6 = 0.625
        let g = gap(t, "maml");
        assert_eq!((g.max_group.as_str(), g.min_group.as_str()), ("minority", "majority"));
        assert!(close(g.gap, 0.6) && close(g.ratio.unwrap_or(f64::NAN), 0.625), "{g:?}");
        // exact p: of the C(6, 3) = 20 splits only the observed one and its mirror
        // reach a gap of 0.6 (|2 S - 7.8| / 3 >= 0.6 needs a triple summing to 3.0):
        // p = 2/20 = 0.1; Monte Carlo with m = 999 is within 4 standard errors
        let se = (0.1f64 * 0.9 / 999.0).sqrt();
        assert!((g.p_value - 0.1).abs() < 4.0 * se + 1.0 / 1000.0, "{g:?}");
        // one attribute: Holm leaves p as it is
        assert_eq!((g.p_adjusted, g.family, g.resamples), (g.p_value, 1, 999));
        // and it is group_gap with the documented seed
        let seed = derive_seed(7, &["ml", "warm", "mae", "maml", "group"]);
        let direct = group_gap_samples(&[("majority", &[0.8, 1.0, 1.2]), ("minority", &[1.5, 1.6, 1.7])], 999, seed);
        assert!(direct.is_ok_and(|d| d.p_value == g.p_value));

        let md = render_fairness_markdown(&report, &oracle());
        let want = format!(
            "#### warm / mae (lower is better)\n\n\
             | method | majority | minority | gap | ratio | p (Holm) |\n|---|---:|---:|---:|---:|---:|\n\
             | maml | 1.0000 [0.5032, 1.4968] | 1.6000 [1.3516, 1.8484] | 0.6000 | 0.6250 | {:.4} |\n\n\
             Users per group: `majority` 3, `minority` 3.\n",
            g.p_adjusted
        );
        assert!(md.contains(&want), "{md}");
        assert!(md.starts_with("\n## Fairness\n\nUnit: the user."), "{md}");
        assert!(md.contains("\n### Suite `ml`, attribute `group`\n"), "{md}");
        assert!(!md.contains("### Skipped"), "{md}");
    }

    #[test]
    fn holm_across_two_attributes_by_hand() {
        // 10 users; "group" splits them by value (users 1-5 low), "parity" mixes them
        let values = [0.10, 0.20, 0.15, 0.12, 0.18, 0.80, 0.90, 0.85, 0.82, 0.88];
        let mut rows = method_rows("maml", &values);
        rows.extend(method_rows("oracle", &[0.5; 10]));
        let mut groups = labels("group", &["F", "F", "F", "F", "F", "M", "M", "M", "M", "M"]);
        groups.extend(labels("parity", &["odd", "even", "odd", "even", "odd", "even", "odd", "even", "odd", "even"]));
        let report = analyze_fairness(&rows, &groups, &FAST);
        let (a, b) = (gap(table(&report, "group", "mae"), "maml"), gap(table(&report, "parity", "mae"), "maml"));
        assert!(a.p_value < 0.05 && b.p_value > 0.05, "{a:?} {b:?}");
        // Holm with 2 p-values p(1) <= p(2): min(1, 2 p(1)) and max(that, p(2))
        let first = (2.0 * a.p_value).min(1.0);
        assert_eq!(a.p_adjusted, first);
        assert_eq!(b.p_adjusted, b.p_value.max(first));
        assert_eq!((a.family, b.family), (2, 2));
        // every p is group_gap's with its own derived seed
        for (attribute, g) in [("group", &a), ("parity", &b)] {
            let t = table(&report, attribute, "mae");
            let r = &t.rows.iter().find(|r| r.method == "maml").map(|r| r.groups.clone()).unwrap_or_default();
            let member: Vec<(String, f64)> = groups
                .iter()
                .filter(|x| x.attribute == attribute)
                .map(|x| (x.group.clone(), values[x.user as usize - 1]))
                .collect();
            let seed = derive_seed(7, &["ml", "warm", "mae", "maml", attribute]);
            assert_eq!(group_gap(&member, 999, seed).map(|d| d.p_value), Ok(g.p_value));
            assert_eq!(r.len(), 2);
        }
        // the oracle is its own family: constant values, gap 0, p = 1 for both
        let o = gap(table(&report, "group", "mae"), "oracle");
        assert_eq!((o.gap, o.p_value, o.p_adjusted, o.family), (0.0, 1.0, 1.0, 2));
        let md = render_fairness_markdown(&report, &oracle());
        assert!(
            md.contains(
                "| oracle (bound) | 0.5000 [0.5000, 0.5000] | 0.5000 [0.5000, 0.5000] | 0.0000 | 1.0000 | 1.0000 |\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn large_shift_gives_the_smallest_p() {
        // 20 + 20 users, fully separated: exact p = 2 / C(40, 20) = 1.45e-11, so
        // no random relabelling reaches the gap and p = 1 / (999 + 1)
        let values: Vec<f64> = (0..40).map(|i| if i < 20 { 0.01 * i as f64 } else { 10.0 + 0.01 * i as f64 }).collect();
        let names: Vec<&str> = (0..40).map(|i| if i < 20 { "majority" } else { "minority" }).collect();
        let report = analyze_fairness(&method_rows("maml", &values), &labels("group", &names), &FAST);
        let g = gap(&report.tables[0], "maml");
        assert_eq!((g.p_value, g.p_adjusted), (1.0 / 1000.0, 1.0 / 1000.0));
        assert!(close(g.gap, 10.2), "{g:?}"); // (10.2 + 10.39)/2... means 0.095 and 10.295
        let md = render_fairness_markdown(&report, &oracle());
        assert!(md.contains("| 10.2000 | 0.0092 | 0.0010 ‡ |\n"), "{md}");
        let html = render_fairness_html(&report, &oracle());
        assert!(html.contains("0.0010 <span class=\"mark\">‡</span></td>"), "{html}");
        assert!(html.contains(">gap 10.2000 ‡</text>"), "{html}");
    }

    #[test]
    fn identical_groups_have_no_gap() {
        // users 1, 3, 5 and 2, 4, 6 have the same values in the same order
        let values = [0.3, 0.3, 0.9, 0.9, 0.6, 0.6];
        let names = ["a", "b", "a", "b", "a", "b"];
        let report = analyze_fairness(&method_rows("maml", &values), &labels("group", &names), &FAST);
        let g = gap(&report.tables[0], "maml");
        assert_eq!((g.gap, g.ratio), (0.0, Some(1.0)));
        // every relabelling has a gap >= 0: p = (999 + 1) / (999 + 1)
        assert!(g.p_value > 0.99 && g.p_value <= 1.0, "{g:?}");
        let md = render_fairness_markdown(&report, &oracle());
        assert!(md.contains("| 0.0000 | 1.0000 | 1.0000 |\n") && !md.contains(" ‡ |"), "{md}");
    }

    #[test]
    fn users_without_a_group_are_left_out_and_counted() {
        // users 1-8 have results; only 1-6 have a group row, and user 7 two
        // conflicting ones (only possible when the rows do not come from
        // read_groups, which refuses them), so it counts as without a group
        let values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 5.0, 9.0];
        let mut groups = labels("group", &["a", "b", "a", "b", "a", "b"]);
        groups.extend([grp("ml", 7, "group", "a"), grp("ml", 7, "group", "b")]);
        let report = analyze_fairness(&method_rows("maml", &values), &groups, &FAST);
        let r = &report.tables[0].rows[0];
        assert_eq!((r.users, r.ungrouped), (6, 2));
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].reason, "1 user (7) has more than one group: left out as users without a group");
        assert_eq!(report.skipped[0].what(), "suite ml, attribute group");
        assert_eq!(r.groups.iter().map(|g| g.n).collect::<Vec<_>>(), [3, 3]);
        // a: 0.1, 0.3, 0.5 -> 0.3; b: 0.2, 0.4, 0.6 -> 0.4 (users 7 and 8 not counted)
        assert!(close(r.groups[0].mean, 0.3) && close(r.groups[1].mean, 0.4), "{r:?}");
        let md = render_fairness_markdown(&report, &oracle());
        assert!(md.contains("Users per group: `a` 3, `b` 3.\nLeft out: 2 users with no `group` group.\n"), "{md}");
        let tex = render_fairness_latex(&report, &oracle());
        assert!(tex.contains("Left out: 2 users with no \\texttt{group} group."), "{tex}");
    }

    #[test]
    fn what_cannot_be_compared_is_skipped_with_its_reason() {
        // users 1-6 have results in ml; user 7 has groups only
        let mut rows = method_rows("maml", &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
        rows.push(row("other", "warm", "maml", "mae", 1, 1, 0.5));
        let mut groups = labels("country", &["x"; 6]);
        groups.extend(labels("age", &["age0", "age0", "age0", "age1", "age1", "age2"]));
        groups.extend(labels("tier", &["a", "a", "a", "a", "a", "a", "b"]));
        let report = analyze_fairness(&rows, &groups, &FAST);
        let skip = |attribute: &str, group: Option<&str>, method: &str, reason: &str| FairnessSkipped {
            suite: "ml".into(),
            attribute: attribute.into(),
            scenario: if method.is_empty() { String::new() } else { "warm".into() },
            metric: if method.is_empty() { String::new() } else { "mae".into() },
            method: method.into(),
            group: group.map(str::to_owned),
            reason: reason.into(),
        };
        let no_groups = FairnessSkipped {
            suite: "other".into(),
            attribute: String::new(),
            scenario: String::new(),
            metric: String::new(),
            method: String::new(),
            group: None,
            reason: "groups.csv has no rows for this suite".into(),
        };
        assert_eq!(
            report.skipped,
            [
                skip("age", Some("age2"), "maml", "1 user, fewer than 2: left out of the comparison"),
                skip("country", Some("x"), "", "all 6 users with a group are in this one group: there is no gap"),
                skip("tier", Some("a"), "maml", "the only group with at least 2 users: there is no gap to test"),
                no_groups,
            ]
        );
        assert_eq!(report.skipped[0].what(), "suite ml, attribute age, group age2 (warm / mae / maml)");
        // country has no table; age compares age0 and age1; tier shows its one group untested
        assert!(report.tables.iter().all(|t| t.attribute != "country"));
        assert_eq!(table(&report, "age", "mae").groups, ["age0", "age1"]);
        let tier = table(&report, "tier", "mae");
        assert_eq!((tier.groups.len(), tier.rows[0].gap.is_none()), (1, true));
        // a single tested attribute left for maml: Holm over a family of 1
        assert_eq!(gap(table(&report, "age", "mae"), "maml").family, 1);

        let md = render_fairness_markdown(&report, &oracle());
        // tier: users 1-6 all in a: mean 0.35, sd 0.1870829, t(0.975, 5) = 2.5705818
        assert!(md.contains("| maml | 0.3500 [0.1537, 0.5463] | — | — | — |\n"), "{md}");
        assert!(md.contains("A gap shown as — was not tested (see Skipped).\n"), "{md}");
        let skipped = md.split("\n### Skipped\n\n").nth(1).unwrap_or_default();
        assert_eq!(
            skipped,
            "- Suite `ml`, attribute `age`, group `age2`: 1 user, fewer than 2: left out of the comparison \
             (in warm / mae: `maml`).\n\
             - Suite `ml`, attribute `country`, group `x`: all 6 users with a group are in this one group: \
             there is no gap.\n\
             - Suite `ml`, attribute `tier`, group `a`: the only group with at least 2 users: there is no gap \
             to test (in warm / mae: `maml`).\n\
             - Suite `other`: groups.csv has no rows for this suite.\n"
        );
    }

    #[test]
    fn errors_of_the_statistics_are_skipped_and_never_nan() {
        let mut rows = method_rows("maml", &[0.1, 0.2, 0.3, 0.4]);
        rows.extend(method_rows("broken", &[0.1, f64::NAN, 0.3, 0.4]));
        rows.extend(method_rows("huge", &[f64::MAX, f64::MAX, 0.3, 0.4]));
        let groups = labels("group", &["a", "a", "b", "b"]);
        // resamples 0 is an error of group_gap
        let opts = FairnessOptions { resamples: 0, ..FAST };
        let report = analyze_fairness(&rows, &groups, &opts);
        let reasons: Vec<(&str, &str)> =
            report.skipped.iter().map(|s| (s.method.as_str(), s.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                ("broken", "the value of user 2, averaged over seeds, is not finite"),
                ("huge", "its mean or interval is not finite"),
                (
                    "maml",
                    "gap not tested: resamples = 0 is invalid: the Monte Carlo permutation test needs at least \
                     one resample"
                ),
            ]
        );
        assert_eq!(report.tables[0].rows.len(), 1);
        assert!(report.tables[0].rows[0].gap.is_none());
        for out in [
            render_fairness_markdown(&report, &oracle()),
            render_fairness_latex(&report, &oracle()),
            render_fairness_html(&report, &oracle()),
        ] {
            assert!(!out.contains("NaN") && !out.contains("inf") && !out.contains("n/a"), "{out}");
        }
    }

    /// Two suites, two scenarios, two metrics, three methods, two seeds, 12
    /// users, attributes gender and age (user 12 has no age).
    fn rich_rows() -> (Vec<ResultRow>, Vec<GroupRow>) {
        let mut rows = Vec::new();
        let mut groups = Vec::new();
        for suite in ["ml", "bx"] {
            for u in 1..=12u64 {
                groups.push(grp(suite, u, "gender", if u % 3 == 0 { "F" } else { "M" }));
                if u < 12 {
                    groups.push(grp(suite, u, "age", ["age0", "age1", "age2"][(u % 3) as usize]));
                }
            }
            for scenario in ["user-cold", "warm"] {
                for metric in ["ndcg@10", "mae"] {
                    for (k, method) in ["protonet", "maml", "oracle"].iter().enumerate() {
                        for seed in 1..=2u64 {
                            for u in 1..=12u64 {
                                let shift = if u % 3 == 0 { 0.3 } else { 0.0 };
                                let v = 0.5 + 0.1 * k as f64 + shift + 0.01 * ((u * 7 + seed * 3) % 11) as f64;
                                rows.push(row(suite, scenario, method, metric, seed, u, v));
                            }
                        }
                    }
                }
            }
        }
        (rows, groups)
    }

    #[test]
    fn output_ignores_row_order() {
        let (rows, groups) = rich_rows();
        let report = analyze_fairness(&rows, &groups, &FAST);
        let n = rows.len(); // 576, coprime with 7
        let mut shuffled: Vec<ResultRow> = (0..n).map(|i| rows[i * 7 % n].clone()).collect();
        shuffled.reverse();
        let mut shuffled_groups: Vec<GroupRow> = groups.iter().rev().cloned().collect();
        shuffled_groups.push(groups[3].clone()); // a repeated row counts once
        assert_ne!(shuffled, rows);
        let again = analyze_fairness(&shuffled, &shuffled_groups, &FAST);
        assert_eq!(again, report);
        assert_eq!(render_fairness_markdown(&again, &oracle()), render_fairness_markdown(&report, &oracle()));
        assert_eq!(render_fairness_latex(&again, &oracle()), render_fairness_latex(&report, &oracle()));
        assert_eq!(render_fairness_html(&again, &oracle()), render_fairness_html(&report, &oracle()));
        // order: suite, attribute by name; scenario warm first; metric mae first
        let order: Vec<String> =
            report.tables.iter().map(|t| format!("{}/{}/{}/{}", t.suite, t.attribute, t.scenario, t.metric)).collect();
        assert_eq!(
            &order[..4],
            ["bx/age/warm/mae", "bx/age/warm/ndcg@10", "bx/age/user-cold/mae", "bx/age/user-cold/ndcg@10"]
        );
        assert_eq!(order.len(), 16);
        // gender: F is shifted up by 0.3 for every method -> marked everywhere
        let g = gap(table(&report, "gender", "mae"), "maml");
        assert_eq!(g.max_group, "F");
        assert!(g.p_adjusted < 0.05, "{g:?}");
        assert_eq!(table(&report, "age", "mae").rows[0].ungrouped, 1);
    }

    const HOSTILE: &str = "<b>m</b> & \"q\" 'a'_%$#{}~^\\|`x`--y\nz";

    #[test]
    fn hostile_names_are_escaped() {
        let mut rows = method_rows(HOSTILE, &[0.1, 0.2, 0.3, 0.9, 1.0, 1.1]);
        rows.extend(method_rows("oracle", &[0.0; 6]));
        let groups = labels("a_b&c", &["<g1>", "<g1>", "<g1>", "g|2", "g|2", "g|2"]);
        let report = analyze_fairness(&rows, &groups, &FAST);
        let md = render_fairness_markdown(&report, &oracle());
        assert!(
            md.contains(
                "| \\<b\\>m\\</b\\> \\& \"q\" 'a'\\_%\\$\\#{}\\~^\\\\\\|\\`x\\`--y z | 0.2000 [-0.0484, 0.4484] |"
            ),
            "{md}"
        );
        assert!(md.contains("| method | \\<g1\\> | g\\|2 | gap |"), "{md}");
        assert!(md.contains("attribute `a_b&c`") && !md.contains("<b>"), "{md}");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`x`"), "`` `x` ``");

        let tex_out = render_fairness_latex(&report, &oracle());
        assert!(
            tex_out.contains(
                "$<$b$>$m$<$/b$>$ \\& \\textquotedbl{}q\\textquotedbl{} 'a'\\_\\%\\$\\#\\{\\}\\textasciitilde{}\
                 \\textasciicircum{}\\textbackslash{}\\textbar{}\\textasciigrave{}x\\textasciigrave{}-{}-y z & \
                 0.2000 [-0.0484, 0.4484] \\\\\n"
            ),
            "{tex_out}"
        );
        assert!(tex_out.contains("method & $<$g1$>$ \\\\\n"), "{tex_out}");
        assert!(tex_out.contains("attribute \\texttt{a\\_b\\&c}"), "{tex_out}");
        assert_eq!(crate::render::latex::tex("é→€"), "é??");

        let html = render_fairness_html(&report, &oracle());
        let doc = roxmltree::Document::parse(&html).unwrap_or_else(|e| panic!("{e}\n{html}"));
        let first_cells: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("tr"))
            .filter_map(|tr| tr.children().find(|c| c.has_tag_name("td")))
            .map(|td| td.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect())
            .collect();
        assert_eq!(first_cells, [HOSTILE.to_owned(), "oracle (bound)".to_owned()]);
        let headers: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("th")).filter_map(|n| n.text()).collect();
        assert_eq!(&headers[..3], ["method", "<g1>", "g|2"]);
        assert!(!html.contains("<b>"), "{html}");
    }

    #[test]
    fn latex_compiles_with_many_groups_and_hostile_names() {
        let (mut rows, mut groups) = rich_rows();
        // 21 occupations over 63 users of ml (3 each), and a hostile method
        for u in 1..=63u64 {
            groups.push(grp("ml", u, "occupation", &format!("occupation {:02} (K-12)", u % 21)));
            for (method, base) in [("maml", 0.6), ("meta_sgd & co", 0.7), ("oracle", 0.2), (HOSTILE, 0.9)] {
                rows.push(row("ml", "warm", method, "rmse", 1, u, base + 0.01 * (u % 21) as f64));
            }
        }
        groups.push(grp("ml", 1, "single", "x"));
        let report = analyze_fairness(&rows, &groups, &FAST);
        let t = table(&report, "occupation", "rmse");
        assert_eq!((t.groups.len(), t.rows.len()), (21, 4));
        let tex_out = render_fairness_latex(&report, &oracle());
        // 21 group columns beside a long name do not fit the text width: the table is split into
        // parts that repeat the method column, each group in one part (its head on the first page
        // and on continued pages)
        for g in 0..21 {
            let head = format!("method & occupation {g:02} (K-12) ");
            assert_eq!(tex_out.matches(&head).count(), 2, "{g}: {tex_out}");
        }
        assert!(tex_out.contains("(part 2 of "), "{tex_out}");
        assert!(tex_out.contains("\n\\subsection*{Skipped}\n"), "{tex_out}");
        assert_eq!(tex_out.matches("\\begin{longtable}").count(), tex_out.matches("\\end{longtable}").count());
        match compile_latex(&tex_out, "rich") {
            Some(log) => assert!(log.contains("Output written on f.pdf"), "{log}"),
            None => println!("(skipped: no pdflatex)"),
        }
    }

    #[test]
    fn html_section_and_svg_figures_are_well_formed() {
        let (rows, groups) = rich_rows();
        let report = analyze_fairness(&rows, &groups, &FAST);
        let html = render_fairness_html(&report, &oracle());
        let doc = roxmltree::Document::parse(&html).unwrap_or_else(|e| panic!("not well-formed: {e}\n{html}"));
        assert!(doc.root_element().has_tag_name("section"));
        let mut figures = 0;
        for (start, _) in html.match_indices("<svg ") {
            let end = html[start..].find("</svg>").map(|e| start + e + "</svg>".len());
            let fragment = &html[start..end.unwrap_or_else(|| panic!("unclosed svg"))];
            let svg = roxmltree::Document::parse(fragment).unwrap_or_else(|e| panic!("bad svg ({e}): {fragment}"));
            assert_eq!(svg.root_element().tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
            figures += 1;
        }
        assert_eq!(figures, report.tables.len());
        // no external resource: the only URL is the SVG namespace
        assert_eq!(html.matches("http").count(), figures);
        assert!(!html.contains("href") && !html.contains("src="), "{html}");
        // the first table (bx / age / warm / mae): 3 methods x 3 groups, each a
        // marker (circle) with a whisker; the legend adds one marker per group
        let first = doc.descendants().find(|n| n.has_tag_name("svg")).unwrap_or_else(|| panic!("no svg"));
        let circles = first.descendants().filter(|n| n.has_tag_name("circle")).count();
        assert_eq!(circles, 3 * 3 + 3);
        let texts: Vec<&str> =
            first.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
        for want in ["age0", "age1", "age2"] {
            assert!(texts.contains(&want), "{want} not in {texts:?}");
        }
        // method labels carry the gap mark where the gap is significant
        for want in ["maml", "oracle (bound)", "protonet"] {
            assert!(texts.iter().any(|t| t.trim_end_matches(GAP_MARK).trim_end() == want), "{want} not in {texts:?}");
        }
        assert!(texts.iter().any(|t| t.starts_with("gap ")), "{texts:?}");
        // the oracle row is marked as a bound in the table
        let bound_rows = doc.descendants().filter(|n| n.has_tag_name("tr") && n.attribute("class") == Some("bound"));
        assert_eq!(bound_rows.count(), report.tables.len());
        // markers change shape after 8 colours
        let marker = |j| crate::plot::series::marker(j, "#000000", 1.0, 1.0);
        assert!(marker(8).starts_with("<rect") && marker(17).starts_with("<polygon"));
    }

    #[test]
    fn reads_groups_csv_and_names_source_and_line() {
        let head = "suite,user,attribute,group\n";
        let ok = format!("{head}ml,1,gender,F\nml,1,age,\"25-34, urban\"\nbx,1,gender,M\n");
        let rows = read_groups_from(ok.as_bytes(), "g.csv").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            rows,
            [grp("ml", 1, "gender", "F"), grp("ml", 1, "age", "25-34, urban"), grp("bx", 1, "gender", "M")]
        );
        let msg = |text: String| read_groups_from(text.as_bytes(), "g.csv").map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            msg("suite,user,group\n".into()),
            "g.csv:1: header is [\"suite\", \"user\", \"group\"], \
             expected [\"suite\", \"user\", \"attribute\", \"group\"]"
        );
        assert_eq!(
            msg(String::new()),
            "g.csv:1: header is [], expected [\"suite\", \"user\", \"attribute\", \"group\"]"
        );
        assert_eq!(
            msg(format!("{head}ml,1,age,a\nml,x,age,a\n")),
            "g.csv:3: column user: \"x\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(msg(format!("{head}ml,1,age,\n")), "g.csv:2: column group is empty");
        assert_eq!(
            msg(format!("{head}ml,1,age,a\nml,2,age,a\nml,1,age,b\n")),
            "g.csv:4: duplicate of line 2 (same suite, user and attribute)"
        );
        let err = read_groups_from(format!("{head}ml,1,age\n").as_bytes(), "g.csv").map(|_| ()).unwrap_err();
        assert!(matches!(err, ReportError::Row { line: 2, .. }), "{err:?}");
        // a file, and a missing one
        let path = std::env::temp_dir().join(format!("metarec-fairness-groups-{}.csv", std::process::id()));
        std::fs::write(&path, &ok).unwrap_or_else(|e| panic!("{e}"));
        let back = read_groups(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(back.map(|r| r.len()).ok(), Some(3));
        let missing = std::env::temp_dir().join("metarec-fairness-no-such-dir/groups.csv");
        let err = read_groups(&missing).map(|_| ()).unwrap_err();
        assert!(matches!(err, ReportError::Io { .. }) && err.to_string().starts_with(&missing.display().to_string()));
    }
}
