//! What the benches share: the meta-training view of a materialised suite.

use metarec_methods::TrainData;
use metarec_suites::Materialized;

/// Meta-training data of `m` as the runner gives it to a non-reference method (no truth).
pub fn train_data(m: &Materialized) -> TrainData<'_> {
    TrainData {
        features: &m.dataset.features,
        meta_train: &m.split.meta_train,
        validation: &m.split.validation,
        rating_min: m.dataset.rating_min,
        rating_max: m.dataset.rating_max,
        truth: None,
    }
}
