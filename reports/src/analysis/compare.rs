//! Comparing two runs: per (suite, scenario, method, metric), the paired difference of run B
//! against run A on the users both have, its test and effect size, and a verdict. Regressions
//! (B worse than A beyond a threshold, and significantly so) make `cargo xtask compare` exit
//! non-zero, so it can gate CI.
//!
//! Pairing: within each run, a user's values are averaged over that run's seeds; the two runs
//! are then paired by user. The test is the two-sided Wilcoxon signed-rank test of B - A (scipy's
//! defaults, see [`crate::stats::paired::wilcoxon`]), Holm-corrected over every comparison of the
//! report; the effect size is the paired Cohen's d of B - A.
//!
//! A comparison is a **regression** when B is worse than A (in the metric's direction) by more
//! than `threshold x |mean of A|` and, when a test was possible, its Holm-adjusted p-value is
//! below `alpha`. It is an **improvement** under the mirrored rule, and **unchanged** otherwise.
//! With every difference exactly zero the p-value is 1 (scipy's convention).
//!
//! Only rows with `perturbation == "none"` are compared here; deciding whether two runs may be
//! compared at all (same data, same configs) is the caller's job, which knows the manifests.

use std::collections::{BTreeMap, BTreeSet};

use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::stats::{StatsError, cohens_d_paired, holm, wilcoxon};

/// Choices of [`compare`].
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// Relative change, as a fraction of |mean of A|, beyond which a worse B is a regression
    /// (default 0.01, i.e. 1%).
    pub threshold: f64,
    /// Level of the Holm-adjusted test (default 0.05).
    pub alpha: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { threshold: 0.01, alpha: 0.05 }
    }
}

/// The verdict of one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Unchanged,
    Regressed,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Regressed => "regressed",
        }
    }
}

/// One (suite, scenario, method, metric) compared across the two runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub suite: String,
    pub scenario: String,
    pub method: String,
    pub metric: String,
    /// Users present in both runs.
    pub users: usize,
    /// Mean over the shared users of A's per-user seed means.
    pub mean_a: f64,
    pub mean_b: f64,
    /// `mean_b - mean_a`.
    pub diff: f64,
    /// Wilcoxon p-value of B - A; `None` when no test was possible (see `note`).
    pub p_value: Option<f64>,
    /// Holm-adjusted over every tested comparison of the report.
    pub p_adjusted: Option<f64>,
    /// Paired Cohen's d of B - A; `None` when the differences have zero variance.
    pub effect: Option<f64>,
    pub verdict: Verdict,
    /// Why a test or effect is missing, when one is.
    pub note: Option<String>,
}

/// Everything [`compare`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompareReport {
    pub comparisons: Vec<Comparison>,
    /// `suite/scenario/method/metric` present only in A, or only in B.
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
}

impl CompareReport {
    pub fn regressions(&self) -> impl Iterator<Item = &Comparison> {
        self.comparisons.iter().filter(|c| c.verdict == Verdict::Regressed)
    }
}

type Key = (String, String, String, String);

/// Per key, per user, the mean over seeds (sorted sums, so the result does not depend on row order).
fn per_user_means(rows: &[ResultRow]) -> BTreeMap<Key, BTreeMap<u64, f64>> {
    let mut acc: BTreeMap<Key, BTreeMap<u64, Vec<(u64, f64)>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.perturbation == "none") {
        acc.entry((r.suite.clone(), r.scenario.clone(), r.method.clone(), r.metric.clone()))
            .or_default()
            .entry(r.user)
            .or_default()
            .push((r.seed, r.value));
    }
    acc.into_iter()
        .map(|(k, users)| {
            let users = users
                .into_iter()
                .map(|(u, mut v)| {
                    v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
                    (u, v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64)
                })
                .collect();
            (k, users)
        })
        .collect()
}

fn label(k: &Key) -> String {
    format!("{}/{}/{}/{}", k.0, k.1, k.2, k.3)
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Compares run B (`b`, the candidate) against run A (`a`, the baseline). The result depends
/// only on the two sets of rows and the options.
pub fn compare(a: &[ResultRow], b: &[ResultRow], opts: &CompareOptions) -> CompareReport {
    let (ma, mb) = (per_user_means(a), per_user_means(b));
    let keys_a: BTreeSet<&Key> = ma.keys().collect();
    let keys_b: BTreeSet<&Key> = mb.keys().collect();
    let mut report = CompareReport {
        only_a: keys_a.difference(&keys_b).map(|k| label(k)).collect(),
        only_b: keys_b.difference(&keys_a).map(|k| label(k)).collect(),
        comparisons: Vec::new(),
    };
    for key in keys_a.intersection(&keys_b) {
        let (ua, ub) = (&ma[*key], &mb[*key]);
        let shared: Vec<u64> = ua.keys().filter(|u| ub.contains_key(u)).copied().collect();
        let va: Vec<f64> = shared.iter().map(|u| ua[u]).collect();
        let vb: Vec<f64> = shared.iter().map(|u| ub[u]).collect();
        let (mut p_value, mut note) = (None, None);
        let mut effect = None;
        if shared.is_empty() {
            note = Some("no user is present in both runs".to_string());
        } else if va == vb {
            p_value = Some(1.0);
            note = Some("identical per-user values".to_string());
        } else {
            match wilcoxon(&vb, &va) {
                Ok(w) => p_value = Some(w.p_value),
                Err(e) => note = Some(format!("no test: {e}")),
            }
            match cohens_d_paired(&vb, &va) {
                Ok(d) if d.is_finite() => effect = Some(d),
                Ok(_) | Err(StatsError::ConstantDifferences { .. }) => {}
                Err(e) => {
                    note.get_or_insert_with(|| format!("no effect size: {e}"));
                }
            }
        }
        let (mean_a, mean_b) = if shared.is_empty() { (f64::NAN, f64::NAN) } else { (mean(&va), mean(&vb)) };
        report.comparisons.push(Comparison {
            suite: key.0.clone(),
            scenario: key.1.clone(),
            method: key.2.clone(),
            metric: key.3.clone(),
            users: shared.len(),
            mean_a,
            mean_b,
            diff: mean_b - mean_a,
            p_value,
            p_adjusted: None,
            effect,
            verdict: Verdict::Unchanged,
            note,
        });
    }
    // Holm over every comparison that has a p-value.
    let tested: Vec<usize> =
        (0..report.comparisons.len()).filter(|&i| report.comparisons[i].p_value.is_some()).collect();
    let ps: Vec<f64> = tested.iter().map(|&i| report.comparisons[i].p_value.unwrap_or(1.0)).collect();
    if let Ok(adj) = holm(&ps) {
        for (&i, p) in tested.iter().zip(adj) {
            report.comparisons[i].p_adjusted = Some(p);
        }
    }
    for c in &mut report.comparisons {
        c.verdict = verdict(c, opts);
    }
    report
}

fn verdict(c: &Comparison, opts: &CompareOptions) -> Verdict {
    if c.users == 0 || !c.diff.is_finite() {
        return Verdict::Unchanged;
    }
    // Positive `worse` means B is worse than A.
    let worse = match direction(&c.metric) {
        Some(Direction::LowerIsBetter) => c.diff,
        Some(Direction::HigherIsBetter) => -c.diff,
        None => return Verdict::Unchanged,
    };
    let beyond = worse.abs() > opts.threshold * c.mean_a.abs();
    let significant = c.p_adjusted.is_none_or(|p| p < opts.alpha);
    match (beyond && significant, worse > 0.0) {
        (true, true) => Verdict::Regressed,
        (true, false) => Verdict::Improved,
        _ => Verdict::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::compare::render_markdown;

    fn rows(method: &str, metric: &str, values: &[(u64, u64, f64)]) -> Vec<ResultRow> {
        values
            .iter()
            .map(|&(seed, user, value)| crate::testing::clean_row("s", "warm", method, metric, seed, user, value))
            .collect()
    }

    fn users(n: u64, f: impl Fn(u64) -> f64) -> Vec<(u64, u64, f64)> {
        (0..n).map(|u| (0, u, f(u))).collect()
    }

    #[test]
    fn identical_runs_are_unchanged_with_p_one() {
        let a = rows("m", "mae", &users(20, |u| 0.5 + u as f64 / 100.0));
        let r = compare(&a, &a, &CompareOptions::default());
        assert_eq!(r.comparisons.len(), 1);
        let c = &r.comparisons[0];
        assert_eq!((c.users, c.diff, c.p_value, c.verdict), (20, 0.0, Some(1.0), Verdict::Unchanged));
        assert_eq!(r.regressions().count(), 0);
    }

    #[test]
    fn worse_mae_and_worse_ndcg_are_regressions_better_is_improvement() {
        // B adds 0.1 (+ a little per-user variation) to every MAE: worse, 20 users, exact
        // Wilcoxon p = 2 / 2^20.
        let a = rows("m", "mae", &users(20, |u| 0.5 + u as f64 / 100.0));
        let b = rows("m", "mae", &users(20, |u| 0.6 + u as f64 / 100.0 + u as f64 / 1000.0));
        let r = compare(&a, &b, &CompareOptions::default());
        let c = &r.comparisons[0];
        assert_eq!(c.verdict, Verdict::Regressed);
        assert!((c.p_value.unwrap() - 2.0 / 1_048_576.0).abs() < 1e-15, "{:?}", c.p_value);
        assert!(c.effect.unwrap() > 0.0);
        // The same change on a higher-is-better metric is an improvement.
        let a2 = rows("m", "ndcg@3", &users(20, |u| 0.5 + u as f64 / 100.0));
        let b2 = rows("m", "ndcg@3", &users(20, |u| 0.6 + u as f64 / 100.0 + u as f64 / 1000.0));
        assert_eq!(compare(&a2, &b2, &CompareOptions::default()).comparisons[0].verdict, Verdict::Improved);
        // Reversed runs: the MAE change is an improvement.
        assert_eq!(compare(&b, &a, &CompareOptions::default()).comparisons[0].verdict, Verdict::Improved);
    }

    #[test]
    fn small_or_insignificant_changes_are_unchanged() {
        let a = rows("m", "mae", &users(20, |u| 0.5 + u as f64 / 100.0));
        // +0.1% everywhere: significant but below the 1% threshold.
        let b = rows("m", "mae", &users(20, |u| (0.5 + u as f64 / 100.0) * 1.001 + u as f64 * 1e-7));
        assert_eq!(compare(&a, &b, &CompareOptions::default()).comparisons[0].verdict, Verdict::Unchanged);
        // Large but symmetric noise: beyond threshold on single users, mean change 0, not significant.
        let c = rows("m", "mae", &users(20, |u| 0.5 + u as f64 / 100.0 + if u % 2 == 0 { 0.2 } else { -0.2 }));
        let r = compare(&a, &c, &CompareOptions::default());
        assert_eq!(r.comparisons[0].verdict, Verdict::Unchanged);
        assert!(r.comparisons[0].p_value.unwrap() > 0.5);
    }

    #[test]
    fn pairs_on_shared_users_averaging_seeds_and_lists_unmatched() {
        // A has users 0..4 over seeds 0 and 1; B users 2..6 over seed 0 only.
        let mut a = Vec::new();
        for u in 0..4 {
            a.extend(rows("m", "mae", &[(0, u, 1.0), (1, u, 3.0)]));
        }
        let b = rows("m", "mae", &(2..6).map(|u| (0, u, 2.0)).collect::<Vec<_>>());
        let mut b = b;
        b.extend(rows("other", "mae", &[(0, 1, 1.0)]));
        let r = compare(&a, &b, &CompareOptions::default());
        let c = r.comparisons.iter().find(|c| c.method == "m").unwrap();
        // Shared users 2 and 3; A's seed means are 2.0, equal to B's.
        assert_eq!((c.users, c.mean_a, c.mean_b, c.p_value), (2, 2.0, 2.0, Some(1.0)));
        assert_eq!(r.only_b, vec!["s/warm/other/mae".to_string()]);
        assert!(r.only_a.is_empty());
    }

    #[test]
    fn no_shared_users_is_noted_not_a_regression() {
        let a = rows("m", "mae", &users(3, |_| 1.0));
        let b: Vec<ResultRow> = rows("m", "mae", &users(3, |_| 2.0))
            .into_iter()
            .map(|mut r| {
                r.user += 100;
                r
            })
            .collect();
        let r = compare(&a, &b, &CompareOptions::default());
        let c = &r.comparisons[0];
        assert_eq!((c.users, c.verdict), (0, Verdict::Unchanged));
        assert!(c.note.as_deref().unwrap().contains("no user"));
        let md = render_markdown(&r, "A", "B", &CompareOptions::default());
        assert!(!md.contains("NaN"), "{md}");
    }

    #[test]
    fn holm_spans_all_comparisons() {
        // Two identical worse shifts on two metrics: each raw p = 2/2^20, Holm multiplies the
        // smaller by 2 and takes the running max, so both adjusted p = 4/2^20.
        let mut a = rows("m", "mae", &users(20, |u| 0.5 + u as f64 / 100.0));
        a.extend(rows("m", "rmse", &users(20, |u| 0.5 + u as f64 / 100.0)));
        let mut b = rows("m", "mae", &users(20, |u| 0.6 + u as f64 / 100.0 + u as f64 / 1000.0));
        b.extend(rows("m", "rmse", &users(20, |u| 0.6 + u as f64 / 100.0 + u as f64 / 1000.0)));
        let r = compare(&a, &b, &CompareOptions::default());
        for c in &r.comparisons {
            assert!((c.p_adjusted.unwrap() - 4.0 / 1_048_576.0).abs() < 1e-15);
        }
        let md = render_markdown(&r, "A", "B", &CompareOptions::default());
        assert!(md.contains("## Regressions: 2"), "{md}");
    }
}
