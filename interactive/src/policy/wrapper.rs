//! Every rating method plays the online protocol through one wrapper.
//!
//! The method is meta-trained as on a rating suite. For each test user it starts with an empty
//! support set; each round it adapts to the feedback so far (`Model::adapt` on the ratings
//! behind the shown items: drawn from the truth, or logged under replay; a replayed item the
//! user never rated has no rating and is not added), predicts the available items and shows
//! the `k` of highest predicted rating, greedily (no exploration beyond what adaptation does;
//! ties at random). Adaptation is redone from the meta-trained model every round, on the whole
//! feedback so far, with a generator forked per round, so a round's slate depends only on the
//! feedback before it.

use super::{Policy, PolicyModel, top_k};
use crate::env::Feedback;
use metarec_methods::{Ctx, MethodError, Model, Result, SupportSet, TrainReport};
use metarec_suites::{Features, Rating, Rng};
use std::sync::Arc;

/// A meta-trained rating method as a policy model.
pub struct RatingPolicy {
    pub name: String,
    pub model: Box<dyn Model>,
    pub features: Arc<Features>,
}

struct RatingUser<'m> {
    owner: &'m RatingPolicy,
    user: u32,
    support: Vec<Rating>,
    ctx: Ctx,
}

impl Policy for RatingUser<'_> {
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>> {
        let mut ctx = Ctx { rng: self.ctx.rng.fork("adapt"), device: self.ctx.device.clone() };
        let set = SupportSet { user: self.user, support: &self.support, features: &self.owner.features };
        let adapted = self.owner.model.adapt(&set, &mut ctx)?;
        let pred = adapted.predict(available)?.mean;
        if pred.len() != available.len() || pred.iter().any(|p| !p.is_finite()) {
            return Err(MethodError::Diverged {
                method: self.owner.name.clone(),
                context: format!("{} predictions for {} available items, or not finite", pred.len(), available.len()),
            });
        }
        Ok(top_k(available, &pred, k, rng))
    }
    fn observe(&mut self, feedback: &[Feedback], _: &mut Rng) -> Result<()> {
        for f in feedback {
            if let Some(value) = f.rating {
                self.support.push(Rating { user: self.user, item: f.item, value });
            }
        }
        Ok(())
    }
}

impl PolicyModel for RatingPolicy {
    fn start<'m>(&'m self, user: u32, ctx: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        let ctx = Ctx { rng: ctx.rng.fork("rating-method"), device: ctx.device.clone() };
        Ok(Box::new(RatingUser { owner: self, user, support: Vec::new(), ctx }))
    }
    fn report(&self) -> TrainReport {
        self.model.report()
    }
}
