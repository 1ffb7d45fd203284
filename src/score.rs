//! Scoring one task's predictions against its query labels: the per-user metric values.

use metarec_methods::Predictions;
use metarec_reports::metrics::{self, MaeEstimate};
use metarec_suites::Rating;

/// The metrics written per user, in results.csv order. `auc` is left out for a user whose query
/// items are all liked or all not liked (AUC is undefined there; see [`metrics::auc`]).
pub const METRICS: [&str; 5] = ["mae", "rmse", "ndcg@1", "ndcg@3", "auc"];

/// The point estimate MAE scores under `mae` (`--mae-estimate`), and its name (`median` or
/// `mean`): the median when the method gives one and `mae` allows it (see [`Predictions`]).
pub fn mae_point(pred: &Predictions, mae: MaeEstimate) -> (&[f64], &'static str) {
    match &pred.median {
        Some(m) if mae.uses_median() => (m, "median"),
        _ => (&pred.mean, "mean"),
    }
}

/// Per-user metric values. MAE scores the point estimate of [`mae_point`]; RMSE scores the mean; nDCG@1 and nDCG@3 rank the query items by the mean,
/// with the true ratings as graded relevance (MeLU's Table 2 reports both); AUC ranks them by the
/// mean against "liked" (a rating at or above `like`).
pub fn score(pred: &Predictions, query: &[Rating], like: f32, mae: MaeEstimate) -> Vec<(&'static str, f64)> {
    let truth: Vec<f64> = query.iter().map(|r| f64::from(r.value)).collect();
    let point_mae = mae_point(pred, mae).0;
    let mut out = vec![
        ("mae", metrics::mae(point_mae, &truth)),
        ("rmse", metrics::rmse(&pred.mean, &truth)),
        ("ndcg@1", metrics::ndcg_at(1, &pred.mean, &truth)),
        ("ndcg@3", metrics::ndcg_at(3, &pred.mean, &truth)),
    ];
    let liked: Vec<bool> = query.iter().map(|r| r.value >= like).collect();
    if let Some(a) = metrics::auc(&pred.mean, &liked) {
        out.push(("auc", a));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One user, by hand: predictions 4, 2, 3 (mean) for ratings 5, 1, 4 with `like` = 4.
    #[test]
    fn one_user_by_hand() {
        let r = |item, value| Rating { user: 0, item, value };
        let query = [r(0, 5.0), r(1, 1.0), r(2, 4.0)];
        let pred = Predictions { mean: vec![4.0, 2.0, 3.0], median: None };
        let got = score(&pred, &query, 4.0, MaeEstimate::Own);
        let names: Vec<&str> = got.iter().map(|x| x.0).collect();
        assert_eq!(names, METRICS);
        let v = |m: &str| got.iter().find(|x| x.0 == m).unwrap().1;
        // errors 1, 1, 1
        assert_eq!(v("mae"), 1.0);
        assert_eq!(v("rmse"), 1.0);
        // top-1 by prediction is the 5: nDCG@1 = 5/5; top-3 is the ideal order: 1
        assert_eq!(v("ndcg@1"), 1.0);
        assert_eq!(v("ndcg@3"), 1.0);
        // liked {5, 4} both above the not-liked 1
        assert_eq!(v("auc"), 1.0);
        // A worse top-1: nDCG@1 = 4/5. With `like` = 6 nobody likes anything: no auc value.
        let pred = Predictions { mean: vec![3.0, 2.0, 4.0], median: None };
        let got = score(&pred, &query, 6.0, MaeEstimate::Own);
        assert_eq!(got.iter().find(|x| x.0 == "ndcg@1").unwrap().1, 0.8);
        assert!(got.iter().all(|x| x.0 != "auc"));
    }

    /// `--mae-estimate`: with a median 5, 1, 5 beside the mean 4, 2, 3 (ratings 5, 1, 4), MAE is
    /// 1/3 on the median (`own`, `median`) and 1 on the mean (`mean`); RMSE is the mean's, 1, in
    /// every case; a method without a median is scored on its mean whatever the option.
    #[test]
    fn the_mae_estimate_chooses_what_mae_scores() {
        let r = |item, value| Rating { user: 0, item, value };
        let query = [r(0, 5.0), r(1, 1.0), r(2, 4.0)];
        let pred = Predictions { mean: vec![4.0, 2.0, 3.0], median: Some(vec![5.0, 1.0, 5.0]) };
        let v = |e: MaeEstimate, m: &str| score(&pred, &query, 4.0, e).into_iter().find(|x| x.0 == m).unwrap().1;
        assert_eq!(v(MaeEstimate::Own, "mae"), 1.0 / 3.0);
        assert_eq!(v(MaeEstimate::Median, "mae"), 1.0 / 3.0);
        assert_eq!(v(MaeEstimate::Mean, "mae"), 1.0);
        for e in [MaeEstimate::Own, MaeEstimate::Mean, MaeEstimate::Median] {
            assert_eq!(v(e, "rmse"), 1.0);
        }
        assert_eq!(mae_point(&pred, MaeEstimate::Mean).1, "mean");
        assert_eq!(mae_point(&pred, MaeEstimate::Own).1, "median");
        let point = Predictions { mean: vec![4.0, 2.0, 3.0], median: None };
        assert_eq!(mae_point(&point, MaeEstimate::Median), (&point.mean[..], "mean"));
    }
}
