//! Non-meta baselines and the oracle, behind the same [`Method`](crate::Method) trait as the
//! meta-learners, so every row of a leaderboard is scored by the same code.

pub mod global_mean;
pub mod item_mean;
pub mod oracle;
pub mod pooled;

use crate::registry::{MethodInfo, MethodKind};

/// The baselines' registry entries, in leaderboard order.
pub fn infos() -> Vec<MethodInfo> {
    vec![
        MethodInfo {
            name: "oracle",
            kind: MethodKind::Reference,
            summary: "Knows the synthetic world's truth: Bayes-optimal for RMSE and MAE (the bound there).",
            build: oracle::build,
            default_run: true,
        },
        MethodInfo {
            name: "global-mean",
            kind: MethodKind::Baseline,
            summary: "Predicts the mean of all meta-train ratings.",
            build: global_mean::build,
            default_run: true,
        },
        MethodInfo {
            name: "item-mean",
            kind: MethodKind::Baseline,
            summary: "Per-item mean of meta-train ratings, shrunk towards the global mean.",
            build: item_mean::build,
            default_run: true,
        },
        MethodInfo {
            name: "pooled",
            kind: MethodKind::Baseline,
            summary: "Feature network trained on all meta-train ratings; no per-user adaptation.",
            build: pooled::build_pooled,
            default_run: true,
        },
        MethodInfo {
            name: "pooled-finetune",
            kind: MethodKind::Baseline,
            summary: "The pooled network fine-tuned on each user's support set by a few SGD steps.",
            build: pooled::build_finetune,
            default_run: true,
        },
    ]
}

/// Mean of all meta-train ratings (the middle of the scale when there are none).
pub(crate) fn global_mean(data: &crate::TrainData<'_>) -> f64 {
    global_mean_of(data.meta_train, data.rating_min, data.rating_max)
}

/// Mean of the ratings of `histories` (the middle of `[lo, hi]` when there are none).
pub(crate) fn global_mean_of(histories: &[metarec_suites::History], lo: f32, hi: f32) -> f64 {
    let (sum, n) =
        histories.iter().flat_map(|h| &h.ratings).fold((0.0f64, 0usize), |(s, n), r| (s + f64::from(r.value), n + 1));
    if n == 0 { 0.5 * f64::from(lo + hi) } else { sum / n as f64 }
}

#[cfg(test)]
mod tests;
