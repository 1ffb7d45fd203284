//! Per-user metric functions (rating error, tie-aware nDCG, AUC) and the
//! direction ("lower/higher is better") of each metric name in `results.csv`.
//!
//! None of these functions panic: ill-formed input (empty or unequal-length
//! slices, NaN) yields `f64::NAN`, which the runner turns into a failed cell.

use std::cmp::Ordering;

/// Which point estimate of a method's predictions MAE scores (`--mae-estimate`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaeEstimate {
    /// Each method's own: the median where it gives one (the oracle, the metric-based
    /// methods), the mean otherwise.
    #[default]
    Own,
    /// The mean for every method.
    Mean,
    /// The median where a method gives one; a method that gives a point prediction only (no
    /// distribution) is scored on it, which is then its mean and median alike.
    Median,
}

impl MaeEstimate {
    /// Parses `own`, `mean` or `median`.
    pub fn parse(s: &str) -> Option<MaeEstimate> {
        match s {
            "own" => Some(MaeEstimate::Own),
            "mean" => Some(MaeEstimate::Mean),
            "median" => Some(MaeEstimate::Median),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MaeEstimate::Own => "own",
            MaeEstimate::Mean => "mean",
            MaeEstimate::Median => "median",
        }
    }

    /// Whether MAE scores the median of a method that gives one.
    pub fn uses_median(self) -> bool {
        self != MaeEstimate::Mean
    }
}

/// Whether a reference method that knows each rating's distribution (the oracle: conditional
/// mean and median) is Bayes-optimal on `metric`, and so a bound no method can beat in
/// expectation: RMSE (the conditional mean minimises squared error) and MAE when it is scored
/// on the median (the conditional median minimises absolute error). Not on the ranking metrics
/// (nDCG, AUC, candidate hit rates): ranking by the expected rating is not what maximises their
/// expectation, so there it is only a reference. On the online protocol's metrics (`reward@T`,
/// `regret@T`, `ctr@T`) the reference is the oracle policy, which shows the items of highest
/// click probability every round and so maximises the expected reward: a bound there too.
pub fn oracle_is_bound(metric: &str, mae: MaeEstimate) -> bool {
    match metric {
        "rmse" => true,
        "mae" => mae.uses_median(),
        m => is_online(m),
    }
}

/// A metric of the online protocol (`reward@T`, `regret@T`, `ctr@T`).
pub fn is_online(metric: &str) -> bool {
    ["reward@", "regret@", "ctr@"].iter().any(|p| metric.starts_with(p))
}

/// Mean absolute error. Panics-free: returns `f64::NAN` for empty input or
/// slices of different lengths.
pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    paired_mean(pred, truth, |e| e.abs())
}

/// Root mean squared error. Returns `f64::NAN` for empty input or slices of
/// different lengths.
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    paired_mean(pred, truth, |e| e * e).sqrt()
}

/// Mean of `f(pred - truth)` over pairs; NaN when empty or lengths differ.
fn paired_mean(pred: &[f64], truth: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    if pred.is_empty() || pred.len() != truth.len() {
        return f64::NAN;
    }
    let total: f64 = pred.iter().zip(truth).map(|(p, t)| f(p - t)).sum();
    total / pred.len() as f64
}

/// nDCG@k of the ranking induced by `scores` (descending) against graded
/// relevance `truth` (linear gain = the rating itself, discount
/// 1/log2(rank+1), rank from 1).
///
/// Ties in `scores` are handled tie-aware (McSherry & Najork 2008): the
/// expected DCG over all orderings of tied items, i.e. each tied group's mean
/// gain times the sum of the discounts of the positions the group occupies
/// within the top k. The ideal DCG sorts by truth. If the ideal DCG is 0 the
/// value is 0 (not NaN); this includes empty input and `k == 0`. `k` larger
/// than the list is cut to the list length.
///
/// Returns `f64::NAN` when the slices differ in length, a score is NaN, or a
/// relevance is negative or not finite (gains must be ratings `>= 0`).
pub fn ndcg_at(k: usize, scores: &[f64], truth: &[f64]) -> f64 {
    if scores.len() != truth.len()
        || scores.iter().any(|s| s.is_nan())
        || truth.iter().any(|t| !t.is_finite() || *t < 0.0)
    {
        return f64::NAN;
    }
    let k = k.min(truth.len());

    let mut ideal = truth.to_vec();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal[..k].iter().enumerate().map(|(i, g)| g * discount(i)).sum();
    if idcg == 0.0 {
        return 0.0;
    }

    // Stable sort, descending score; `partial_cmp` treats 0.0 and -0.0 as tied
    // (NaN was rejected above, so the fallback never fires).
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(Ordering::Equal));

    let mut dcg = 0.0;
    let mut start = 0;
    while start < k {
        let head = scores[order[start]];
        let len = order[start..].iter().take_while(|&&i| scores[i] == head).count();
        let end = start + len;
        let mean_gain = order[start..end].iter().map(|&i| truth[i]).sum::<f64>() / len as f64;
        let discounts: f64 = (start..end.min(k)).map(discount).sum();
        dcg += mean_gain * discounts;
        start = end;
    }
    dcg / idcg
}

/// Discount of the 0-based position `pos`: 1/log2(rank+1) with rank = pos+1.
fn discount(pos: usize) -> f64 {
    1.0 / ((pos + 2) as f64).log2()
}

/// Area under the ROC curve of `scores` against binary labels `liked`: the probability that a
/// liked item scores above a not-liked one, ties counting one half (the Mann-Whitney statistic
/// divided by `n_pos * n_neg`; scikit-learn's `roc_auc_score` on the same input).
///
/// `None` when the user has one class only (every item liked, or none): AUC is undefined there,
/// and such users get no `auc` value rather than an arbitrary one. `Some(NaN)` when the slices
/// differ in length or a score is NaN.
pub fn auc(scores: &[f64], liked: &[bool]) -> Option<f64> {
    if scores.len() != liked.len() || scores.iter().any(|s| s.is_nan()) {
        return Some(f64::NAN);
    }
    let n_pos = liked.iter().filter(|l| **l).count();
    let n_neg = liked.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    // Midranks (1-based) of the scores in ascending order; the liked items' rank sum gives U.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(Ordering::Equal));
    let mut rank_sum_pos = 0.0;
    let mut start = 0;
    while start < order.len() {
        let head = scores[order[start]];
        let len = order[start..].iter().take_while(|&&i| scores[i] == head).count();
        let midrank = start as f64 + (len as f64 + 1.0) / 2.0;
        rank_sum_pos += midrank * order[start..start + len].iter().filter(|&&i| liked[i]).count() as f64;
        start += len;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos * n_neg) as f64)
}

/// Which direction of a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    LowerIsBetter,
    HigherIsBetter,
}

/// Direction of a metric name as written to `results.csv`: `"mae"` and
/// `"rmse"` are lower-is-better; names starting with `"ndcg@"`, `"hr@"`,
/// `"cand-ndcg@"`, `"cand-hr@"` (the candidate-ranking protocol) or `"auc"` are
/// higher-is-better; any other name is unknown (`None`), among them the attack
/// diagnostics `target-score` and `target-hr@k`, which say how far an attack
/// moved the targets, not how good a method is.
///
/// A multi-objective suite's names carry the objective (`like/auc`, `rating/mae`): the part
/// after the last `/` decides; `logloss` is lower-is-better.
pub fn direction(metric: &str) -> Option<Direction> {
    let metric = metric.rsplit_once('/').map_or(metric, |(_, m)| m);
    match metric {
        "mae" | "rmse" | "logloss" => Some(Direction::LowerIsBetter),
        // The online protocol's metrics (metarec-interactive).
        m if m.starts_with("regret@") => Some(Direction::LowerIsBetter),
        m if ["ndcg@", "hr@", "cand-ndcg@", "cand-hr@", "auc", "reward@", "ctr@"].iter().any(|p| m.starts_with(p)) => {
            Some(Direction::HigherIsBetter)
        }
        _ => None,
    }
}

/// Mean binary cross-entropy of probabilities `p` for labels `y` (natural log), each
/// probability clipped to `[1e-15, 1 - 1e-15]` (scikit-learn's `log_loss` clipping before 1.5).
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    assert_eq!(p.len(), y.len(), "log_loss: {} probabilities for {} labels", p.len(), y.len());
    let eps = 1e-15;
    let sum: f64 = p
        .iter()
        .zip(y)
        .map(|(p, y)| {
            let p = p.clamp(eps, 1.0 - eps);
            if *y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    sum / p.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle bounds RMSE, MAE on its median and the online metrics; nothing else.
    #[test]
    fn the_oracle_is_a_bound_exactly_where_it_is_optimal() {
        let bound = |m| oracle_is_bound(m, MaeEstimate::Own);
        assert!(bound("rmse") && bound("mae") && bound("regret@50") && bound("reward@1") && bound("ctr@10"));
        assert!(!bound("ndcg@3") && !bound("auc") && !bound("cand-hr@10") && !bound("like/auc"));
        assert!(!oracle_is_bound("mae", MaeEstimate::Mean));
    }

    #[test]
    fn log_loss_and_objective_directions() {
        // By hand: -(ln 0.9 + ln 0.8 + ln 0.6) / 3 = 0.2797765635793423
        assert!((log_loss(&[0.9, 0.2, 0.6], &[true, false, true]) - 0.279_776_563_579_342_3).abs() < 1e-12);
        assert!(log_loss(&[1.0], &[false]).is_finite());
        assert_eq!(direction("rating/mae"), Some(Direction::LowerIsBetter));
        assert_eq!(direction("like/logloss"), Some(Direction::LowerIsBetter));
        assert_eq!(direction("like/auc"), Some(Direction::HigherIsBetter));
        assert_eq!(direction("engagement/target-score"), None);
    }

    /// Golden values are compared to within a few ulps of the hand result.
    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-15 * want.abs().max(1.0)
    }

    // log2(3) = 1.584962500721156, so 1/log2(3) = 0.6309297535714574;
    // 1/log2(2) = 1 and 1/log2(4) = 0.5.
    const D2: f64 = 0.6309297535714574;

    #[test]
    fn mae_and_rmse_by_hand() {
        let (pred, truth) = ([1.0, 2.0, 3.0], [2.0, 2.0, 5.0]);
        // errors -1, 0, -2: (1 + 0 + 2) / 3 = 1
        assert!(close(mae(&pred, &truth), 1.0));
        // sqrt((1 + 0 + 4) / 3) = sqrt(5/3) = 1.2909944487358056
        assert!(close(rmse(&pred, &truth), 1.2909944487358056));
    }

    #[test]
    fn errors_are_nan_on_bad_input() {
        assert!(mae(&[], &[]).is_nan());
        assert!(rmse(&[], &[]).is_nan());
        assert!(mae(&[1.0], &[1.0, 2.0]).is_nan());
        assert!(rmse(&[1.0, 2.0], &[1.0]).is_nan());
    }

    #[test]
    fn ndcg_perfect_ranking_is_one() {
        // DCG = IDCG = 3 + 2*D2 + 1*0.5, ratio 1
        assert!(close(ndcg_at(3, &[0.9, 0.5, 0.1], &[3.0, 2.0, 1.0]), 1.0));
    }

    #[test]
    fn ndcg_reverse_ranking_by_hand() {
        // order by score: gains 1, 2, 3
        // DCG  = 1*1 + 2*D2 + 3*0.5 = 1 + 1.2618595071429148 + 1.5 = 3.761859507142915
        // IDCG = 3*1 + 2*D2 + 1*0.5 = 3 + 1.2618595071429148 + 0.5 = 4.761859507142915
        // 3.761859507142915 / 4.761859507142915 = 0.789998004246036
        let got = ndcg_at(3, &[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]);
        assert!(close(got, 0.789998004246036), "{got}");
    }

    #[test]
    fn ndcg_all_tied_is_expected_value_under_random_order() {
        // 6 orderings of gains {3, 2, 1}; each gain sits at each position in
        // 2 of them, so E[DCG] = mean gain 2 * (1 + D2 + 0.5)
        //   = 2 * 2.1309297535714574 = 4.261859507142915
        // IDCG = 4.761859507142915 (above); ratio = 0.8949990021230179
        let got = ndcg_at(3, &[7.0, 7.0, 7.0], &[3.0, 2.0, 1.0]);
        assert!(close(got, 0.8949990021230179), "{got}");
    }

    #[test]
    fn ndcg_tie_straddling_the_cutoff() {
        // scores 5 | 3 3 | 1 with k = 3: item 0 (gain 0) at rank 1; the tied
        // pair (gains 2, 1; mean 1.5) spans ranks 2-3, both inside the cut.
        // DCG  = 0*1 + 1.5*(D2 + 0.5) = 1.5*1.1309297535714574 = 1.696394630357186
        // IDCG = 3 + 2*D2 + 0.5 = 4.761859507142915
        // ratio = 0.3562462579613173
        let got = ndcg_at(3, &[5.0, 3.0, 3.0, 1.0], &[0.0, 2.0, 1.0, 3.0]);
        assert!(close(got, 0.3562462579613173), "{got}");
        // k = 2 keeps only rank 2 of the pair: DCG = 1.5*D2 = 0.9463946303571861,
        // IDCG@2 = 3 + 2*D2 = 4.261859507142915, ratio = 0.2220614332243989
        let got = ndcg_at(2, &[5.0, 3.0, 3.0, 1.0], &[0.0, 2.0, 1.0, 3.0]);
        assert!(close(got, 0.2220614332243989), "{got}");
    }

    #[test]
    fn ndcg_at_one_with_tied_top() {
        // top group {gain 3, gain 1} has mean gain 2 and only rank 1 is kept:
        // DCG@1 = 2*1, IDCG@1 = 3*1, ratio 2/3
        let got = ndcg_at(1, &[1.0, 1.0, 0.0], &[3.0, 1.0, 2.0]);
        assert!(close(got, 2.0 / 3.0), "{got}");
        // 0.0 and -0.0 are the same score, so they tie as well
        let got = ndcg_at(1, &[0.0, -0.0, -1.0], &[3.0, 1.0, 2.0]);
        assert!(close(got, 2.0 / 3.0), "{got}");
    }

    #[test]
    fn ndcg_k_beyond_length_is_cut() {
        // k = 10 -> 2: DCG = 0*1 + 1*D2, IDCG = 1*1 + 0*D2, ratio D2
        let got = ndcg_at(10, &[2.0, 1.0], &[0.0, 1.0]);
        assert!(close(got, D2), "{got}");
    }

    #[test]
    fn ndcg_zero_ideal_is_zero_and_bad_input_is_nan() {
        assert_eq!(ndcg_at(3, &[1.0, 2.0], &[0.0, 0.0]), 0.0);
        assert_eq!(ndcg_at(3, &[], &[]), 0.0);
        assert_eq!(ndcg_at(0, &[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!(ndcg_at(3, &[1.0], &[1.0, 2.0]).is_nan());
        assert!(ndcg_at(3, &[f64::NAN, 1.0], &[1.0, 2.0]).is_nan());
        assert!(ndcg_at(3, &[1.0, 2.0], &[-1.0, 2.0]).is_nan());
        assert!(ndcg_at(3, &[1.0, 2.0], &[f64::INFINITY, 2.0]).is_nan());
    }

    #[test]
    fn auc_by_hand() {
        // liked at scores 0.9 and 0.4, not liked at 0.7, 0.2, 0.1: of the 2 x 3 pairs the liked
        // item wins (0.9,0.7) (0.9,0.2) (0.9,0.1) (0.4,0.2) (0.4,0.1) and loses (0.4,0.7): 5/6.
        let got = auc(&[0.9, 0.7, 0.4, 0.2, 0.1], &[true, false, true, false, false]).unwrap();
        assert!(close(got, 5.0 / 6.0), "{got}");
        // A tie between a liked and a not-liked item counts one half: pairs (3,3) = 0.5,
        // (3,1) = 1, (2,3) = 0, (2,1) = 1: 2.5 / 4 (sklearn.metrics.roc_auc_score agrees).
        let got = auc(&[3.0, 2.0, 3.0, 1.0], &[true, true, false, false]).unwrap();
        assert!(close(got, 0.625), "{got}");
        // Perfect and reversed orders; every score tied is chance.
        assert_eq!(auc(&[2.0, 1.0], &[true, false]), Some(1.0));
        assert_eq!(auc(&[1.0, 2.0], &[true, false]), Some(0.0));
        assert_eq!(auc(&[5.0, 5.0, 5.0], &[true, false, false]), Some(0.5));
    }

    #[test]
    fn auc_one_class_is_undefined_and_bad_input_is_nan() {
        assert_eq!(auc(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(auc(&[1.0, 2.0], &[false, false]), None);
        assert_eq!(auc(&[], &[]), None);
        assert!(auc(&[1.0], &[true, false]).unwrap().is_nan());
        assert!(auc(&[f64::NAN, 1.0], &[true, false]).unwrap().is_nan());
    }

    #[test]
    fn directions() {
        assert_eq!(direction("mae"), Some(Direction::LowerIsBetter));
        assert_eq!(direction("rmse"), Some(Direction::LowerIsBetter));
        assert_eq!(direction("ndcg@10"), Some(Direction::HigherIsBetter));
        assert_eq!(direction("hr@5"), Some(Direction::HigherIsBetter));
        assert_eq!(direction("auc"), Some(Direction::HigherIsBetter));
        assert_eq!(direction("cand-hr@10"), Some(Direction::HigherIsBetter));
        assert_eq!(direction("cand-ndcg@10"), Some(Direction::HigherIsBetter));
        assert_eq!(direction("target-score"), None);
        assert_eq!(direction("target-hr@10"), None);
        assert_eq!(direction("ndcg"), None);
        assert_eq!(direction("MAE"), None);
        assert_eq!(direction("loss"), None);
    }
}
