//! Multi-objective suites in the runner: what labels a method sees, and the per-objective
//! metrics of one task.
//!
//! Meta-training gets the objective labels of the meta-train histories and the validation
//! tasks only (`SuiteObjectives::for_training`: the training view, where the low-data
//! objective's unseen labels are NaN); adaptation gets the labels of the user's support set,
//! same view (`SuiteObjectives::for_support`). Test queries are scored on every
//! label. Metric names carry the objective: the main objective (the rating) gets the names of
//! [`crate::score::METRICS`] prefixed (`rating/mae`), a continuous objective `NAME/mae` and
//! `NAME/rmse`, a binary one `NAME/auc` (where the user's query has both classes) and
//! `NAME/logloss`. Single-objective methods are scored on the main objective only.

use metarec_reports::metrics;
use metarec_suites::{ObjectiveKind, Objectives, Rating};

/// Per-objective metrics of one task: the main objective's from `main` (the single-objective
/// metrics), the others from `per_objective` when the method gives them.
pub fn score(
    o: &Objectives,
    main: Vec<(&'static str, f64)>,
    per_objective: Option<&[Vec<f64>]>,
    query: &[Rating],
) -> Result<Vec<(String, f64)>, String> {
    let mut out: Vec<(String, f64)> = main.into_iter().map(|(m, v)| (format!("{}/{m}", o.names[0]), v)).collect();
    let Some(pred) = per_objective else { return Ok(out) };
    if pred.len() != o.len() || pred.iter().any(|p| p.len() != query.len()) {
        return Err(format!(
            "predicted {} objectives of lengths {:?} for {} objectives and {} query items",
            pred.len(),
            pred.iter().map(Vec::len).collect::<Vec<_>>(),
            o.len(),
            query.len()
        ));
    }
    if let Some(bad) = pred.iter().flatten().find(|x| !x.is_finite()) {
        return Err(format!("diverged: predicted {bad}"));
    }
    for t in 1..o.len() {
        let (p, y): (Vec<f64>, Vec<f64>) = query
            .iter()
            .zip(&pred[t])
            .filter_map(|(r, p)| o.label(r.user, r.item, t).map(|y| (*p, f64::from(y))))
            .unzip();
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
