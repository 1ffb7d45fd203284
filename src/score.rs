//! Scoring one task's predictions against its query labels: the per-user metric values.

use metarec_methods::Predictions;
use metarec_reports::metrics;
use metarec_suites::Rating;

/// The metrics written for every user, in results.csv order.
pub const METRICS: [&str; 3] = ["mae", "rmse", "ndcg@3"];

/// Per-user metric values. MAE scores the median when the method gives one (see
/// [`Predictions`]); RMSE scores the mean; nDCG@3 ranks the query items by the mean, with the
/// true ratings as graded relevance.
pub fn score(pred: &Predictions, query: &[Rating]) -> Vec<(&'static str, f64)> {
    let truth: Vec<f64> = query.iter().map(|r| f64::from(r.value)).collect();
    let point_mae = pred.median.as_ref().unwrap_or(&pred.mean);
    vec![
        ("mae", metrics::mae(point_mae, &truth)),
        ("rmse", metrics::rmse(&pred.mean, &truth)),
        ("ndcg@3", metrics::ndcg_at(3, &pred.mean, &truth)),
    ]
}
