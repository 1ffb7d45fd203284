//! Multi-objective suites in the runner: what labels a method sees, and the per-objective
//! metrics of one task.
//!
//! Meta-training gets the objective labels of the meta-train histories and the validation
//! tasks only (`SuiteObjectives::for_training`: the training view, where the low-data
//! objective's unseen labels are NaN); adaptation gets the labels of the user's support set,
//! same view (`SuiteObjectives::for_support`). Test queries are scored on every
//! label; where the suite samples unrated items (MovieLens's `rated` objective), a binary
//! objective is scored over the query items and the task's sampled unrated items together
//! (`negatives`: the candidate protocol's), on the labels each has. Metric names carry the objective: the main objective (the rating) gets the names of
//! [`crate::score::METRICS`] prefixed (`rating/mae`), a continuous objective `NAME/mae` and
//! `NAME/rmse`, a binary one `NAME/auc` (where the user's query has both classes) and
//! `NAME/logloss`. Single-objective methods are scored on the main objective only.

use metarec_reports::metrics;
use metarec_suites::{ObjectiveKind, Objectives, Rating};

/// Per-objective metrics of one task: the main objective's from `main` (the single-objective
/// metrics), the others from `per_objective` when the method gives them. `unrated`: the task's
/// sampled unrated items with the method's per-objective predictions of them (scored where
/// they carry a label).
pub fn score(
    o: &Objectives,
    main: Vec<(&'static str, f64)>,
    per_objective: Option<&[Vec<f64>]>,
    query: &[Rating],
    unrated: Option<(&[u32], &[Vec<f64>])>,
) -> Result<Vec<(String, f64)>, String> {
    let mut out: Vec<(String, f64)> = main.into_iter().map(|(m, v)| (format!("{}/{m}", o.names[0]), v)).collect();
    let Some(pred) = per_objective else { return Ok(out) };
    let check = |pred: &[Vec<f64>], n: usize, what: &str| -> Result<(), String> {
        if pred.len() != o.len() || pred.iter().any(|p| p.len() != n) {
            return Err(format!(
                "predicted {} objectives of lengths {:?} for {} objectives and {n} {what}",
                pred.len(),
                pred.iter().map(Vec::len).collect::<Vec<_>>(),
                o.len(),
            ));
        }
        match pred.iter().flatten().find(|x| !x.is_finite()) {
            Some(bad) => Err(format!("diverged: predicted {bad}")),
            None => Ok(()),
        }
    };
    check(pred, query.len(), "query items")?;
    if let Some((items, p)) = unrated {
        check(p, items.len(), "unrated items")?;
    }
    let user = query.first().map(|r| r.user);
    for t in 1..o.len() {
        let on_query = query.iter().zip(&pred[t]).map(|(r, p)| ((r.user, r.item), *p));
        let on_unrated = unrated
            .into_iter()
            .zip(user)
            .flat_map(|((items, p), u)| items.iter().zip(&p[t]).map(move |(i, p)| ((u, *i), *p)));
        let (p, y): (Vec<f64>, Vec<f64>) =
            on_query.chain(on_unrated).filter_map(|((u, i), p)| o.label(u, i, t).map(|y| (p, f64::from(y)))).unzip();
        if y.is_empty() {
            continue;
        }
        let name = &o.names[t];
        match o.kinds[t] {
            ObjectiveKind::Binary => {
                let liked: Vec<bool> = y.iter().map(|y| *y > 0.5).collect();
                if let Some(a) = metrics::auc(&p, &liked) {
                    out.push((format!("{name}/auc"), a));
                }
                out.push((format!("{name}/logloss"), metrics::log_loss(&p, &liked)));
            }
            ObjectiveKind::Continuous | ObjectiveKind::Rating => {
                out.push((format!("{name}/mae"), metrics::mae(&p, &y)));
                out.push((format!("{name}/rmse"), metrics::rmse(&p, &y)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use metarec_suites::ObjectiveKind::{Binary, Rating as R};
    use std::collections::BTreeMap;

    /// A hand-computed case: `rated` is scored over the query (positives) and the sampled
    /// unrated items (negatives), `liked` over the query only (the unrated items have no label).
    #[test]
    fn binary_objectives_score_the_query_with_the_unrated_items() {
        let nan = f32::NAN;
        let labels: BTreeMap<(u32, u32), Vec<f32>> = [
            ((0, 1), vec![4.0, 1.0, 1.0]),
            ((0, 2), vec![2.0, 0.0, 1.0]),
            ((0, 5), vec![nan, nan, 0.0]),
            ((0, 6), vec![nan, nan, 0.0]),
        ]
        .into();
        let names = vec!["rating".to_string(), "liked".into(), "rated".into()];
        let o = Objectives::new(names, vec![R, Binary, Binary], labels, vec!["all".into()], vec![0]);
        let query = [Rating { user: 0, item: 1, value: 4.0 }, Rating { user: 0, item: 2, value: 2.0 }];
        let pred = vec![vec![4.0, 2.5], vec![0.7, 0.3], vec![0.9, 0.4]];
        let unrated_pred = vec![vec![3.0, 3.0], vec![0.5, 0.5], vec![0.5, 0.1]];
        let get = |m: &[(String, f64)], k: &str| m.iter().find(|x| x.0 == k).map(|x| x.1);
        let m = score(&o, vec![("mae", 0.25)], Some(&pred), &query, Some((&[5, 6], &unrated_pred))).unwrap();
        // Positives 0.9, 0.4 against negatives 0.5, 0.1: 3 of 4 pairs ordered.
        assert_eq!(get(&m, "rated/auc"), Some(0.75));
        assert_eq!(get(&m, "liked/auc"), Some(1.0));
        assert_eq!(get(&m, "rating/mae"), Some(0.25));
        // Without the unrated items `rated` has one class: no AUC, a log-loss over positives.
        let m = score(&o, vec![("mae", 0.25)], Some(&pred), &query, None).unwrap();
        assert_eq!(get(&m, "rated/auc"), None);
        let want = -(0.9f64.ln() + 0.4f64.ln()) / 2.0;
        assert!((get(&m, "rated/logloss").unwrap() - want).abs() < 1e-12);
        // Predictions of the wrong length are an error naming what.
        let e = score(&o, vec![], Some(&pred), &query, Some((&[5], &unrated_pred))).unwrap_err();
        assert!(e.contains("1 unrated items"), "{e}");
    }
}
