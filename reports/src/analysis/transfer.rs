//! Transfer in multi-task learning: per objective, every shared model against the reference
//! without sharing (`mtl-single`), paired on test users.
//!
//! Rows: the clean rows of multi-objective suites, whose metric names carry the objective
//! (`like/auc`, `rating/mae`). Per (suite, scenario, method, metric), each user's value is the
//! mean over the seeds the user has; the gain is `method - reference` on the users both have,
//! with the mean difference, its Student-t 95% interval and the paired t-test's p-value
//! ([`crate::stats::ttest_rel`]). A difference is *significant* at `alpha` (0.05) when
//! the p-value is below it.
//!
//! Per objective one *primary* metric enters the summary: MAE for rating and continuous
//! objectives, AUC for binary ones. Then:
//! - `Delta_m` (Vandenhende et al., TPAMI 2021, eq. 16; Maninis et al. 2019): the mean over
//!   objectives of `(-1)^{l_t} (M_m,t - M_b,t) / M_b,t`, `l_t = 1` when lower is better, in
//!   percent: positive means the shared model is better on average;
//! - *negative transfer*: the model is significantly worse than the reference on an
//!   objective's primary metric;
//! - *seesaw*: on the primary metrics the model is significantly better on one objective and
//!   significantly worse on another.

use crate::analysis::table::user_means;
use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::stats::ttest_rel;
use crate::summary::t_interval;
use std::collections::BTreeMap;

/// What the analysis compares against and at what level.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferOptions {
    /// The model without sharing.
    pub reference: String,
    pub alpha: f64,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions { reference: "mtl-single".into(), alpha: 0.05 }
    }
}

/// One metric of one objective: a model against the reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Gain {
    /// The objective (the part of the metric name before `/`).
    pub objective: String,
    /// The full metric name (`like/auc`).
    pub metric: String,
    pub lower_is_better: bool,
    /// Users both have.
    pub users: usize,
    pub reference_mean: f64,
    pub method_mean: f64,
    /// Mean of `method - reference` with its 95% interval.
    pub diff: f64,
    pub low: f64,
    pub high: f64,
    /// Paired t-test p-value (`None` when undefined: fewer than 2 users, constant differences).
    pub p: Option<f64>,
    /// Whether this is the objective's primary metric.
    pub primary: bool,
}

impl Gain {
    /// `(-1)^l (method - reference) / reference`: positive when the model is better.
    pub fn relative(&self) -> f64 {
        let r = (self.method_mean - self.reference_mean) / self.reference_mean;
        if self.lower_is_better { -r } else { r }
    }

    /// `Some(true)` significantly better, `Some(false)` significantly worse, `None` neither.
    pub fn significant(&self, alpha: f64) -> Option<bool> {
        let better = if self.lower_is_better { self.diff < 0.0 } else { self.diff > 0.0 };
        self.p.filter(|p| *p < alpha).map(|_| better)
    }
}

/// One shared model on one (suite, scenario).
#[derive(Clone, Debug, PartialEq)]
pub struct Transfer {
    pub suite: String,
    pub scenario: String,
    pub method: String,
    pub gains: Vec<Gain>,
    /// Mean relative gain over objectives' primary metrics, in percent.
    pub delta_m: Option<f64>,
    /// Objectives whose primary metric is significantly worse than the reference's.
    pub negative_transfer: Vec<String>,
    /// Significantly better on one objective and significantly worse on another.
    pub seesaw: bool,
}

/// The primary metric's suffix of an objective whose metrics are `suffixes`.
/// MAE when the objective has it (a rating's `auc` ranks by the predicted rating and is not
/// its primary metric), else AUC (a binary objective).
fn primary(suffixes: &[&str]) -> Option<&'static str> {
    if suffixes.contains(&"mae") {
        Some("mae")
    } else if suffixes.contains(&"auc") {
        Some("auc")
    } else {
        None
    }
}

/// Per-user means over seeds of one (suite, scenario, method, metric).
fn per_user(rows: &[&ResultRow]) -> BTreeMap<u64, f64> {
    user_means(&rows.iter().map(|r| (r.seed, r.user, r.value)).collect())
}

/// Every model with objective metrics against the reference, per (suite, scenario). Suites
/// without the reference are left out; so are single-objective models (no metric of an
/// objective other than the first one they share with the reference would be compared, but
/// they are kept when they have any compared metric).
pub fn analyze_transfer(rows: &[ResultRow], opts: &TransferOptions) -> Vec<Transfer> {
    // (suite, scenario, method, metric) -> rows
    let mut groups: BTreeMap<(&str, &str, &str, &str), Vec<&ResultRow>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.perturbation == "none") {
        let Some((_, suffix)) = r.metric.split_once('/') else { continue };
        if !["mae", "rmse", "auc", "logloss"].contains(&suffix) {
            continue;
        }
        groups.entry((&r.suite, &r.scenario, &r.method, &r.metric)).or_default().push(r);
    }
    let mut cells: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    for (s, sc, m, metric) in groups.keys() {
        cells.entry((s, sc, m)).or_default().push(metric);
    }
    let mut out = Vec::new();
    for ((suite, scenario, method), metrics) in &cells {
        if *method == opts.reference || !cells.contains_key(&(suite, scenario, opts.reference.as_str())) {
            continue;
        }
        let mut gains = Vec::new();
        for metric in metrics {
            let Some(reference) = groups.get(&(suite, scenario, opts.reference.as_str(), metric)) else { continue };
            let (a, b) = (per_user(&groups[&(*suite, *scenario, *method, *metric)]), per_user(reference));
            let (x, y): (Vec<f64>, Vec<f64>) = a.iter().filter_map(|(u, v)| b.get(u).map(|w| (*v, *w))).unzip();
            if x.is_empty() {
                continue;
            }
            let d: Vec<f64> = x.iter().zip(&y).map(|(p, q)| p - q).collect();
            let (diff, low, high) = t_interval(&d, 0.95);
            let (objective, suffix) = metric.split_once('/').expect("filtered");
            let objective_suffixes: Vec<&str> = metrics
                .iter()
                .filter_map(|m| m.split_once('/'))
                .filter(|(o, _)| *o == objective)
                .map(|(_, s)| s)
                .collect();
            gains.push(Gain {
                objective: objective.to_string(),
                metric: metric.to_string(),
                lower_is_better: direction(metric) == Some(Direction::LowerIsBetter),
                users: x.len(),
                reference_mean: y.iter().sum::<f64>() / y.len() as f64,
                method_mean: x.iter().sum::<f64>() / x.len() as f64,
                diff,
                low,
                high,
                p: ttest_rel(&x, &y).ok().map(|t| t.p_value),
                primary: primary(&objective_suffixes) == Some(suffix),
            });
        }
        if gains.is_empty() {
            continue;
        }
        let prim: Vec<&Gain> = gains.iter().filter(|g| g.primary).collect();
        let delta_m =
            (!prim.is_empty()).then(|| 100.0 * prim.iter().map(|g| g.relative()).sum::<f64>() / prim.len() as f64);
        let negative_transfer: Vec<String> =
            prim.iter().filter(|g| g.significant(opts.alpha) == Some(false)).map(|g| g.objective.clone()).collect();
        let seesaw = !negative_transfer.is_empty() && prim.iter().any(|g| g.significant(opts.alpha) == Some(true));
        out.push(Transfer {
            suite: suite.to_string(),
            scenario: scenario.to_string(),
            method: method.to_string(),
            gains,
            delta_m,
            negative_transfer,
            seesaw,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::cold_row as row;

    /// Three users, by hand. Reference MAE 1.0, 1.2, 1.1 and AUC 0.6, 0.7, 0.8; the shared model
    /// MAE 0.9, 1.0, 1.0 (better: differences -0.1, -0.2, -0.1) and AUC 0.5, 0.55, 0.7 (worse:
    /// -0.1, -0.15, -0.1).
    #[test]
    fn gains_delta_m_and_flags_by_hand() {
        let mut rows = Vec::new();
        for (u, (rm, ra, mm, ma)) in
            [(1.0, 0.6, 0.9, 0.5), (1.2, 0.7, 1.0, 0.55), (1.1, 0.8, 1.0, 0.7)].into_iter().enumerate()
        {
            rows.push(row("mtl-single", 0, u as u64, "rating/mae", rm));
            rows.push(row("mtl-single", 0, u as u64, "like/auc", ra));
            // A rating's AUC is reported but is not its primary metric.
            rows.push(row("mtl-single", 0, u as u64, "rating/auc", 0.5));
            rows.push(row("mtl-hard", 0, u as u64, "rating/auc", 0.9 + 0.01 * u as f64));
            // Two seeds for the shared model, averaging to the values above.
            rows.push(row("mtl-hard", 0, u as u64, "rating/mae", mm - 0.05));
            rows.push(row("mtl-hard", 1, u as u64, "rating/mae", mm + 0.05));
            rows.push(row("mtl-hard", 0, u as u64, "like/auc", ma));
            rows.push(row("mtl-hard", 0, u as u64, "like/ndcg@3", 0.5));
        }
        let t = analyze_transfer(&rows, &TransferOptions::default());
        assert_eq!(t.len(), 1);
        let t = &t[0];
        let g = |m: &str| t.gains.iter().find(|g| g.metric == m).unwrap();
        let mae = g("rating/mae");
        assert!((mae.diff - (-0.4 / 3.0)).abs() < 1e-12 && mae.lower_is_better && mae.primary);
        // t = -4.0 on 2 degrees of freedom, whose two-sided p is 1 - t / sqrt(t^2 + 2) = 0.0571909584179365
        assert!((mae.p.unwrap() - (1.0 - 4.0 / 18f64.sqrt())).abs() < 1e-9, "{:?}", mae.p);
        // d = -0.1, -0.2, -0.1: sd 0.057735, t(0.975, 2) = 4.302653: half-width 0.143421
        assert!((mae.high - mae.low - 2.0 * 0.143_421).abs() < 1e-5);
        let auc = g("like/auc");
        // Relative gains: MAE (1.1 - 0.9667) / 1.1 = +12.12%; AUC (0.5833 - 0.7) / 0.7 = -16.67%.
        let want = 100.0 * ((1.1 - 2.9 / 3.0) / 1.1 + (1.75 / 3.0 - 0.7) / 0.7) / 2.0;
        assert!((t.delta_m.unwrap() - want).abs() < 1e-9, "{:?} vs {want}", t.delta_m);
        // AUC: d = -0.1, -0.15, -0.1, t = -7.0, p = 1 - 7 / sqrt(51) = 0.0198: significantly worse, a negative
        // transfer; MAE not significant at 0.05: no seesaw.
        assert!(auc.p.unwrap() < 0.05 && auc.significant(0.05) == Some(false));
        assert_eq!(t.negative_transfer, vec!["like".to_string()]);
        assert!(!t.seesaw);
        // At alpha = 0.1 the MAE gain counts too: a seesaw.
        let t = analyze_transfer(&rows, &TransferOptions { alpha: 0.1, ..Default::default() });
        assert!(t[0].seesaw);
        assert!(t[0].gains.iter().all(|g| g.metric != "like/ndcg@3"));
        assert!(t[0].gains.iter().any(|g| g.metric == "rating/auc" && !g.primary));
    }
}
