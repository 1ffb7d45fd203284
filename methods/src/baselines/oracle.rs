//! `oracle`: the accuracy bound on a synthetic world.
//!
//! It knows every rating's exact distribution (see [`metarec_suites::Truth`]) and predicts the
//! conditional mean (Bayes-optimal for RMSE) and the conditional median (Bayes-optimal for MAE).
//! On those two metrics no method can beat it in expectation, and the reports flag one that does
//! beyond its interval as a probable leak; ranking by the conditional mean is not what maximises
//! nDCG or AUC, so there it is only a reference. A reference row in leaderboards, not a
//! competitor. It refuses to run on a
//! suite without known truth. Hyper-parameters: none.

use crate::params::{self, Check};
use crate::{Adapted, Ctx, Method, MethodError, Model, Predictions, Result, SupportSet, TrainData};
use metarec_suites::Truth;
use std::sync::Arc;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OracleParams {}

impl Check for OracleParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        Ok(())
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    let _: OracleParams = params::parse("oracle", table)?;
    Ok(Box::new(Oracle))
}

struct Oracle;

struct Fitted(Arc<Truth>);

impl Method for Oracle {
    fn name(&self) -> &str {
        "oracle"
    }
    fn params(&self) -> toml::Table {
        toml::Table::new()
    }
    fn meta_train(&self, data: &TrainData<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        let truth = data.truth.ok_or_else(|| MethodError::Unsupported {
            method: "oracle".into(),
            reason: "needs a suite with known ground truth (a synthetic world)".into(),
        })?;
        Ok(Box::new(Fitted(Arc::new(truth.clone()))))
    }
}

impl Model for Fitted {
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, _ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        Ok(Box::new(ForUser { truth: &self.0, user: task.user }))
    }
}

struct ForUser<'m> {
    truth: &'m Truth,
    user: u32,
}

impl Adapted for ForUser<'_> {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        Ok(Predictions {
            mean: items.iter().map(|i| self.truth.expected_rating(self.user, *i)).collect(),
            median: Some(items.iter().map(|i| self.truth.median_rating(self.user, *i)).collect()),
        })
    }
}
