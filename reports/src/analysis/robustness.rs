//! The robustness section: for every perturbation of a run (rows whose `perturbation` is not
//! `none`), each method's metric under the perturbation against its clean value, on the same
//! users.
//!
//! The numbers are those of [`crate::analysis::compare`] with the clean rows as run A and the perturbed
//! rows as run B: per user the value averaged over seeds, the mean drop (perturbed − clean, in
//! the metric's units), the two-sided Wilcoxon signed-rank test with Holm over the comparisons
//! of one perturbation, and the verdict at a 1% relative threshold. A summary per method gives
//! the mean relative change over the scenarios and metrics, signed so that negative is worse.
//!
//! The shot curves ([`shot_curves`]) follow a metric against the number of support ratings K.
//! Rendering is [`crate::build::robustness`]'s.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::compare::{CompareOptions, Comparison, compare};
use crate::analysis::table::{METRIC_ORDER, SCENARIO_ORDER, ordered};
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

/// Sort key of a comparison's table: suite, then scenario and metric in leaderboard order.
pub(crate) type TableKey = (String, (usize, String), (usize, String));

pub(crate) fn table_key(c: &Comparison) -> TableKey {
    let (si, s) = ordered(&c.scenario, &SCENARIO_ORDER);
    let (mi, m) = ordered(&c.metric, &METRIC_ORDER);
    (c.suite.clone(), (si, s.to_string()), (mi, m.to_string()))
}

/// The comparisons of one perturbation by table, in leaderboard order.
pub(crate) fn tables(r: &PerturbationResult) -> BTreeMap<TableKey, Vec<&Comparison>> {
    let mut tables: BTreeMap<TableKey, Vec<&Comparison>> = BTreeMap::new();
    for c in &r.comparisons {
        tables.entry(table_key(c)).or_default().push(c);
    }
    tables
}

/// Per method (name order), its mean signed relative change under each perturbation of
/// `results`, in percent; `None` where nothing was compared.
pub(crate) fn summary(results: &[PerturbationResult]) -> Vec<(&str, Vec<Option<f64>>)> {
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
                    (!v.is_empty()).then(|| 100.0 * v.iter().sum::<f64>() / v.len() as f64)
                })
                .collect();
            (m, cells)
        })
        .collect()
}

/// K of a shot perturbation label: `shots(K)` with K written in decimal
/// digits only; `None` for every other label.
pub fn shots_k(label: &str) -> Option<usize> {
    let k = label.strip_prefix("shots(")?.strip_suffix(')')?;
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    k.parse().ok()
}

/// The shot curve of one (suite, scenario, metric).
#[derive(Clone, Debug, PartialEq)]
pub struct ShotCurve {
    pub suite: String,
    pub scenario: String,
    pub metric: String,
    /// The clean run's K when known; then it is one of [`ShotCurve::ks`].
    pub clean_k: Option<usize>,
    /// The distinct K of the curve, ascending: the x positions.
    pub ks: Vec<usize>,
    /// One per method, by method name.
    pub lines: Vec<ShotLine>,
}

/// One method of a [`ShotCurve`].
#[derive(Clone, Debug, PartialEq)]
pub struct ShotLine {
    pub method: String,
    /// (K, mean over users of the per-user mean over seeds), K ascending; a
    /// K at which the method was not scored is absent.
    pub points: Vec<(usize, f64)>,
}

/// The shot curves of `results` ([`crate::analysis::robustness::analyze_robustness`]):
/// per (suite, scenario, metric) with a `shots(K)` perturbation ([`shots_k`]),
/// each method's perturbed mean at every such K and, when `clean_k(suite,
/// scenario)` gives the clean run's K (`None` where it is not fixed, e.g.
/// when every other rating is support), its clean mean there. The clean mean of a method is
/// taken from its comparison with the most users (the smallest K on ties);
/// all agree when every perturbation scores the same users. At a K that is
/// both clean and perturbed, the clean mean is drawn. Curves with fewer than
/// 2 distinct K are left out. In leaderboard order (suite, scenario, metric).
pub fn shot_curves(results: &[PerturbationResult], clean_k: &dyn Fn(&str, &str) -> Option<usize>) -> Vec<ShotCurve> {
    // table -> method -> K -> perturbed mean
    let mut perturbed: BTreeMap<TableKey, BTreeMap<String, BTreeMap<usize, f64>>> = BTreeMap::new();
    // (table, method) -> (users, K, clean mean) of the comparison chosen for the clean mean
    let mut clean: BTreeMap<(TableKey, String), (usize, usize, f64)> = BTreeMap::new();
    for r in results {
        let Some(k) = shots_k(&r.perturbation) else { continue };
        for cmp in &r.comparisons {
            let key = table_key(cmp);
            perturbed.entry(key.clone()).or_default().entry(cmp.method.clone()).or_default().insert(k, cmp.mean_b);
            let best = clean.entry((key, cmp.method.clone())).or_insert((cmp.users, k, cmp.mean_a));
            if better_clean_source(cmp, k, best) {
                *best = (cmp.users, k, cmp.mean_a);
            }
        }
    }
    let mut curves = Vec::new();
    for (key, methods) in perturbed {
        let ck = clean_k(&key.0, &(key.1).1);
        let mut ks: BTreeSet<usize> = BTreeSet::new();
        let mut lines = Vec::new();
        for (method, mut points) in methods {
            if let (Some(k), Some(&(_, _, mean))) = (ck, clean.get(&(key.clone(), method.clone()))) {
                points.insert(k, mean);
            }
            ks.extend(points.keys());
            lines.push(ShotLine { method, points: points.into_iter().collect() });
        }
        if ks.len() < 2 {
            continue;
        }
        let (suite, (_, scenario), (_, metric)) = key;
        curves.push(ShotCurve { suite, scenario, metric, clean_k: ck, ks: ks.into_iter().collect(), lines });
    }
    curves
}

/// Whether comparison `cmp` at `k` is a better source of the clean mean than `best`: more
/// users, or as many at a smaller K.
fn better_clean_source(cmp: &Comparison, k: usize, best: &(usize, usize, f64)) -> bool {
    (cmp.users, std::cmp::Reverse(k)) > (best.0, std::cmp::Reverse(best.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::compare::Verdict;
    use crate::analysis::leaderboard::LeaderboardOptions;
    use crate::testing::{
        cmp, render_robustness_html, render_robustness_latex, render_robustness_markdown, shot_perturbation,
    };

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
        // perturbations in name order: label-noise, shots(1), shots(5)
        assert!(tex.contains("method & \\texttt{label-noise(random;0.2;support)} & \\texttt{shots(1)} & "), "{tex}");
        // 0.05 / 0.595 = 8.4% better
        assert!(tex.contains("meta\\_sgd \\& co & +0.0\\% & -18.4\\% & +8.4\\% \\\\\n"), "{tex}");
        assert!(
            tex.contains("meta\\_sgd \\& co & 0.5950 & 0.7045 & +0.1095 & $<$ 0.0001 & 20 & worse \\\\\n"),
            "{tex}"
        );
        assert!(tex.contains("meta\\_sgd \\& co & 0.5950 & 0.5450 & -0.0500 & $<$ 0.0001 & 20 & better \\\\\n"));
        assert!(tex.contains("& 0.5950 & 0.5950 & +0.0000 & 1.0000 & 20 & no change \\\\\n"), "{tex}");
        assert!(tex.contains("\\subsection*{Perturbation \\texttt{shots(1)}}\n"), "{tex}");
        assert!(tex.contains("\\caption{s / warm / mae (lower is better)}"), "{tex}");
        // the summary and one table per perturbation
        assert_eq!(tex.matches("\\begin{longtable}").count(), 4);
        assert_eq!(tex.matches("\\begin{longtable}").count(), tex.matches("\\end{longtable}").count());
        assert!(!tex.contains("NaN") && !tex.contains('−') && !tex.contains("—"), "{tex}");
    }

    #[test]
    fn html_section_has_the_markdown_numbers_and_the_shot_curve() {
        let opts = CompareOptions::default();
        let r = analyze_robustness(&three_perturbations(), &opts);
        let curves = shot_curves(&r, &|suite, scenario| ((suite, scenario) == ("s", "warm")).then_some(3));
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
        assert!(rows.contains(&want(&["meta_sgd & co", "0.5950", "0.7045", "+0.1095", "< 0.0001", "20", "worse"])));
        assert!(rows.contains(&want(&["meta_sgd & co", "0.5950", "0.5450", "-0.0500", "< 0.0001", "20", "better"])));
        assert_eq!(rows.len(), 4);
        // the shot curve: K = 1, 3 (clean), 5
        assert_eq!(html.matches("<svg ").count(), 1);
        assert!(html.contains("K = 3 is the clean run."), "{html}");
        assert!(!html.contains("NaN") && !html.contains("meta_sgd & co"), "{html}");
    }

    #[test]
    fn shot_labels_parse_strictly() {
        assert_eq!(shots_k("shots(1)"), Some(1));
        assert_eq!(shots_k("shots(20)"), Some(20));
        for bad in ["shots()", "shots(-1)", "shots( 1)", "shots(1;2)", "shots(1", "Shots(1)", "label-noise(1)"] {
            assert_eq!(shots_k(bad), None, "{bad}");
        }
    }

    #[test]
    fn shot_curves_put_points_in_k_order_with_the_clean_k() {
        let curves = shot_curves(&crate::testing::shot_results(), &|suite, scenario| {
            ((suite, scenario) == ("s", "warm")).then_some(5)
        });
        assert_eq!(curves.len(), 1);
        let c = &curves[0];
        assert_eq!((c.suite.as_str(), c.scenario.as_str(), c.metric.as_str()), ("s", "warm", "mae"));
        assert_eq!((c.ks.clone(), c.clean_k), (vec![1, 3, 5, 20], Some(5)));
        assert_eq!(c.lines[0].method, "a");
        assert_eq!(c.lines[0].points, vec![(1, 1.1), (3, 0.9), (5, 0.8), (20, 0.7)]);
        // b's clean mean comes from its comparison with the most users (shots(1), 10 users)
        assert_eq!(c.lines[1].points, vec![(1, 1.0), (3, 0.95), (5, 0.9)]);
        // without the clean K: the perturbed points only
        let curves = shot_curves(&crate::testing::shot_results(), &|_, _| None);
        assert_eq!((curves[0].ks.clone(), curves[0].clean_k), (vec![1, 3, 20], None));
        assert_eq!(curves[0].lines[1].points, vec![(1, 1.0), (3, 0.95)]);
        // a clean K equal to a shot K: the clean mean is drawn there
        let curves = shot_curves(&crate::testing::shot_results(), &|_, _| Some(3));
        assert_eq!(curves[0].lines[0].points, vec![(1, 1.1), (3, 0.8), (20, 0.7)]);
    }

    #[test]
    fn shot_curves_need_two_distinct_k() {
        let one = vec![shot_perturbation("shots(1)", vec![cmp("a", 10, 0.8, 1.1)])];
        assert!(shot_curves(&one, &|_, _| None).is_empty());
        assert!(shot_curves(&one, &|_, _| Some(1)).is_empty());
        assert!(shot_curves(&one, &|suite, _| (suite == "other").then_some(5)).is_empty());
        assert_eq!(shot_curves(&one, &|_, _| Some(5)).len(), 1);
        let noise = vec![shot_perturbation("label-noise(random;0.2;support)", vec![cmp("a", 10, 0.8, 1.1)])];
        assert!(shot_curves(&noise, &|_, _| Some(5)).is_empty());
    }
}
