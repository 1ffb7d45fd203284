//! `item-mean`: each item's mean meta-train rating, shrunk towards the global mean.
//!
//! `r_hat(i) = (sum_i + shrinkage * mu) / (n_i + shrinkage)`: an item never rated in
//! meta-training (every item in item-cold) gets the global mean `mu`.
//!
//! | parameter   | default | meaning                                   | valid |
//! |-------------|---------|-------------------------------------------|-------|
//! | `shrinkage` | 5.0     | pseudo-count of global-mean ratings added | >= 0  |

use crate::params::{self, Check};
use crate::space::Dim;
use crate::{Adapted, Ctx, Method, Model, Predictions, Result, SupportSet, TrainData};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ItemMeanParams {
    pub shrinkage: f64,
}

impl Default for ItemMeanParams {
    fn default() -> Self {
        ItemMeanParams { shrinkage: 5.0 }
    }
}

/// The tuner's search space (see [`crate::space`]).
pub const SPACE: &[Dim] = &[Dim::Real { key: "shrinkage", lo: 0.5, hi: 50.0, log: true }];

impl Check for ItemMeanParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::non_negative("shrinkage", self.shrinkage)
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    Ok(Box::new(ItemMean(params::parse("item-mean", table)?)))
}

struct ItemMean(ItemMeanParams);

struct Fitted {
    means: Vec<f64>,
}

impl Method for ItemMean {
    fn name(&self) -> &str {
        "item-mean"
    }
    fn params(&self) -> toml::Table {
        params::to_table(&self.0)
    }
    fn meta_train(&self, data: &TrainData<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        let mu = super::global_mean(data);
        let n_items = data.features.n_items();
        let mut sum = vec![0.0f64; n_items];
        let mut count = vec![0usize; n_items];
        for r in data.meta_train.iter().flat_map(|h| &h.ratings) {
            sum[r.item as usize] += f64::from(r.value);
            count[r.item as usize] += 1;
        }
        let lambda = self.0.shrinkage;
        let means = sum
            .iter()
            .zip(&count)
            .map(|(s, n)| if *n == 0 { mu } else { (s + lambda * mu) / (*n as f64 + lambda) })
            .collect();
        Ok(Box::new(Fitted { means }))
    }
}

impl Model for Fitted {
    fn adapt<'m>(&'m self, _task: &SupportSet<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        Ok(Box::new(Adapt(&self.means)))
    }
}

struct Adapt<'m>(&'m [f64]);

impl Adapted for Adapt<'_> {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        Ok(Predictions { mean: items.iter().map(|i| self.0[*i as usize]).collect(), median: None })
    }
}
