//! `global-mean`: predicts the mean of all meta-train ratings for every user and item.
//!
//! Hyper-parameters: none. With no meta-train ratings it predicts the middle of the scale.

use crate::params::{self, Check};
use crate::{Adapted, Ctx, Method, Model, Predictions, Result, SupportSet, TrainData, TrainReport};

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GlobalMeanParams {}

impl Check for GlobalMeanParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        Ok(())
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    let _: GlobalMeanParams = params::parse("global-mean", table)?;
    Ok(Box::new(GlobalMean))
}

struct GlobalMean;

struct Fitted(f64);

impl Method for GlobalMean {
    fn name(&self) -> &str {
        "global-mean"
    }
    fn params(&self) -> toml::Table {
        toml::Table::new()
    }
    fn meta_train(&self, data: &TrainData<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        Ok(Box::new(Fitted(super::global_mean(data))))
    }
}

impl Model for Fitted {
    fn adapt<'m>(&'m self, _task: &SupportSet<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        Ok(Box::new(Fitted(self.0)))
    }
    fn report(&self) -> TrainReport {
        let mut r = TrainReport::default();
        r.notes.insert("global_mean".into(), self.0.to_string());
        r
    }
}

impl Adapted for Fitted {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        Ok(Predictions { mean: vec![self.0; items.len()], median: None })
    }
}
