//! Win/tie/loss of every method against each baseline, over the leaderboard's tables.
//!
//! In each (suite, scenario, metric) table, every ranked method is compared with each baseline
//! present on the users both have (values averaged over seeds per user) by the two-sided
//! Wilcoxon signed-rank test; the p-values of one baseline's comparisons in one table are
//! corrected together by the leaderboard's `--correction` (Holm by default, as its marks are). A
//! **win** is an adjusted p < `alpha` with the method better in the metric's direction, a **loss** the same with the
//! method worse, a **tie** anything else (including identical values and tables where no test
//! was possible). Counts are summed over the tables.

use std::collections::BTreeMap;

use crate::analysis::leaderboard::LeaderboardOptions;
use crate::analysis::table::{group_rows, user_means};
use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::stats::wilcoxon;

/// Counts of one (method, baseline) pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wtl {
    pub win: usize,
    pub tie: usize,
    pub loss: usize,
}

/// `method -> baseline -> counts`, methods and baselines in name order.
pub type WtlTable = BTreeMap<String, BTreeMap<String, Wtl>>;

/// Counts over every table of `rows` (perturbation `none`). Methods in
/// `opts.reference_methods` are neither counted nor used as baselines; a baseline is not
/// compared with itself.
pub fn win_tie_loss(rows: &[ResultRow], opts: &LeaderboardOptions, alpha: f64) -> WtlTable {
    let mut out = WtlTable::new();
    let cells = group_rows(rows);
    for scenarios in cells.values() {
        for metrics in scenarios.values() {
            for ((_, metric), methods) in metrics {
                let Some(dir) = direction(metric) else { continue };
                for baseline in opts.baseline_methods.iter().filter(|b| methods.contains_key(b.as_str())) {
                    let base = user_means(&methods[baseline.as_str()]);
                    // (method, signed improvement, p) for this baseline in this table.
                    let mut tested: Vec<(&str, f64, Option<f64>)> = Vec::new();
                    for (method, values) in methods {
                        if *method == baseline.as_str() || opts.reference_methods.iter().any(|r| r == method) {
                            continue;
                        }
                        let mine = user_means(values);
                        let shared: Vec<u64> = mine.keys().filter(|u| base.contains_key(u)).copied().collect();
                        let a: Vec<f64> = shared.iter().map(|u| mine[u]).collect();
                        let b: Vec<f64> = shared.iter().map(|u| base[u]).collect();
                        let mean_diff = if shared.is_empty() {
                            0.0
                        } else {
                            a.iter().zip(&b).map(|(x, y)| x - y).sum::<f64>() / shared.len() as f64
                        };
                        let better = match dir {
                            Direction::LowerIsBetter => -mean_diff,
                            Direction::HigherIsBetter => mean_diff,
                        };
                        let p = if a == b { None } else { wilcoxon(&a, &b).ok().map(|w| w.p_value) };
                        tested.push((method, better, p));
                    }
                    let ps: Vec<f64> = tested.iter().filter_map(|t| t.2).collect();
                    let adjusted = opts.correction.adjust(&ps).unwrap_or_default();
                    let mut next = adjusted.iter();
                    for (method, better, p) in tested {
                        let p_adj = p.and_then(|_| next.next().copied());
                        let e = out.entry(method.to_string()).or_default().entry(baseline.clone()).or_default();
                        match p_adj {
                            Some(p) if p < alpha && better > 0.0 => e.win += 1,
                            Some(p) if p < alpha && better < 0.0 => e.loss += 1,
                            _ => e.tie += 1,
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(method: &str, metric: &str, f: impl Fn(u64) -> f64) -> Vec<ResultRow> {
        (0..20)
            .map(|user| ResultRow {
                suite: "s".into(),
                scenario: "warm".into(),
                method: method.into(),
                seed: 0,
                perturbation: "none".into(),
                user,
                metric: metric.into(),
                value: f(user),
            })
            .collect()
    }

    #[test]
    fn counts_wins_ties_and_losses_in_the_metrics_direction() {
        let mut all = Vec::new();
        for metric in ["mae", "ndcg@3"] {
            all.extend(rows("base", metric, |u| 0.5 + u as f64 / 100.0));
            // Lower on every user: a win on MAE, a loss on nDCG.
            all.extend(rows("good", metric, |u| 0.4 + u as f64 / 100.0 - u as f64 / 1000.0));
            // Equal: a tie on both.
            all.extend(rows("same", metric, |u| 0.5 + u as f64 / 100.0));
            all.extend(rows("oracle", metric, |_| 0.0));
        }
        let opts = LeaderboardOptions {
            reference_methods: vec!["oracle".into()],
            baseline_methods: vec!["base".into()],
            ..Default::default()
        };
        let t = win_tie_loss(&all, &opts, 0.05);
        assert_eq!(t["good"]["base"], Wtl { win: 1, tie: 0, loss: 1 });
        assert_eq!(t["same"]["base"], Wtl { win: 0, tie: 2, loss: 0 });
        assert!(!t.contains_key("oracle") && !t.contains_key("base"));
        let prov = crate::doc::Provenance {
            commit: "c".into(),
            dirty: false,
            config_hash: "h".into(),
            data_hashes: Vec::new(),
            run_id: "r".into(),
        };
        let md = crate::testing::render_markdown(&all, &prov, &opts);
        let section = md.split("## Win/tie/loss against the baselines").nth(1).unwrap_or_default();
        assert!(section.contains("| good | 1/0/1 |") && section.contains("| same | 0/2/0 |"), "{md}");
    }

    #[test]
    fn no_baselines_no_section() {
        let all = rows("a", "mae", |u| u as f64);
        let t = win_tie_loss(&all, &LeaderboardOptions::default(), 0.05);
        assert!(t.is_empty());
    }
}
