//! The robustness section: for every perturbation of a run (rows whose `perturbation` is not
//! `none`), each method's metric under the perturbation against its clean value, on the same
//! users.
//!
//! The numbers are those of [`crate::compare`] with the clean rows as run A and the perturbed
//! rows as run B: per user the value averaged over seeds, the mean drop (perturbed − clean, in
//! the metric's units), the two-sided Wilcoxon signed-rank test with Holm over the comparisons
//! of one perturbation, and the verdict at a 1% relative threshold. A summary per method gives
//! the mean relative change over the scenarios and metrics, signed so that negative is worse.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::compare::{CompareOptions, Comparison, Verdict, compare};
use crate::leaderboard::{METRIC_ORDER, SCENARIO_ORDER, ordered};
use crate::metrics::{Direction, direction};
use crate::results::ResultRow;

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
            let mut comparisons = compare(&clean, &perturbed, opts).comparisons;
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

fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "—".into() }
}

/// The section as Markdown (empty when the run has no perturbed rows).
pub fn render_robustness_markdown(results: &[PerturbationResult], opts: &CompareOptions) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut out = String::from("## Robustness\n\n");
    let _ = writeln!(
        out,
        "Each perturbation (recorded in the manifest under `data.robustness`) is scored with the same \
         meta-trained models as the clean tables; queries are never perturbed. Per user, values are \
         averaged over seeds; drop = perturbed − clean mean over the users scored both ways; p: two-sided \
         Wilcoxon signed-rank test, Holm over the comparisons of one perturbation; worse / better: p < {} and \
         a change beyond {:.0}% of the clean mean.\n",
        opts.alpha,
        opts.threshold * 100.0
    );
    // Summary: per method, the mean signed relative change under each perturbation.
    let methods: BTreeSet<&str> =
        results.iter().flat_map(|r| r.comparisons.iter().map(|c| c.method.as_str())).collect();
    let _ = writeln!(out, "### Summary: mean relative change over scenarios and metrics (negative is worse)\n");
    let _ = writeln!(
        out,
        "| method | {} |",
        results.iter().map(|r| format!("`{}`", r.perturbation)).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---:|".repeat(results.len()));
    for m in &methods {
        let cells: Vec<String> = results
            .iter()
            .map(|r| {
                let v: Vec<f64> = r.comparisons.iter().filter(|c| c.method == *m).filter_map(signed_relative).collect();
                if v.is_empty() {
                    "—".into()
                } else {
                    // `+ 0.0` turns -0.0 into 0.0.
                    format!("{:+.1}%", 100.0 * v.iter().sum::<f64>() / v.len() as f64 + 0.0)
                }
            })
            .collect();
        let _ = writeln!(out, "| {m} | {} |", cells.join(" | "));
    }
    out.push('\n');
    for r in results {
        let _ = writeln!(out, "### `{}`\n", r.perturbation);
        let mut tables: BTreeMap<(String, (usize, String), (usize, String)), Vec<&Comparison>> = BTreeMap::new();
        for c in &r.comparisons {
            let (si, s) = ordered(&c.scenario, &SCENARIO_ORDER);
            let (mi, m) = ordered(&c.metric, &METRIC_ORDER);
            tables.entry((c.suite.clone(), (si, s.to_string()), (mi, m.to_string()))).or_default().push(c);
        }
        for ((suite, (_, scenario), (_, metric)), cs) in tables {
            let _ = writeln!(out, "#### {suite} / {scenario} / {metric}\n");
            out.push_str("| method | clean | perturbed | drop | p (Holm) | users | verdict |\n|---|---:|---:|---:|---:|---:|---|\n");
            for c in cs {
                let verdict = match c.verdict {
                    Verdict::Regressed => "worse",
                    Verdict::Improved => "better",
                    Verdict::Unchanged => "no change",
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {verdict} |",
                    c.method,
                    fmt(c.mean_a, 4),
                    fmt(c.mean_b, 4),
                    if c.diff.is_finite() { format!("{:+.4}", c.diff) } else { "—".into() },
                    c.p_adjusted.map_or("—".into(), |p| if p < 1e-4 { "<0.0001".into() } else { fmt(p, 4) }),
                    c.users
                );
            }
            out.push('\n');
        }
    }
    out
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
    fn no_perturbations_no_section() {
        let rows = vec![row("m", "none", 0, 1.0)];
        assert!(analyze_robustness(&rows, &CompareOptions::default()).is_empty());
        assert_eq!(render_robustness_markdown(&[], &CompareOptions::default()), "");
    }
}
