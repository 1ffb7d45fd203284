//! `mtl-soft`: soft parameter sharing (Duong et al. 2015): the separate networks of
//! `mtl-single` plus `lambda * sum_{t<t'} ||theta_t - theta_t'||^2` over corresponding
//! parameters of the embeddings and the bottom (the towers are per objective in every scheme).
//! `lambda = 0` is `mtl-single`; a large `lambda` ties the copies together, towards `mtl-hard`.
//!
//! The penalty is minimised by proximal gradient: after each Adam step on the objectives' loss
//! (rate `lr`), the exact proximal step of `lr * penalty` keeps each parameter's mean over
//! the copies and shrinks every copy's deviation from it by `1 / (1 + 2 lr lambda T)`
//! (`T` objectives). Added to the loss instead, a large `lambda` swamps Adam's per-coordinate
//! normalisation and freezes the shared layers near their start (measured: a prediction
//! difference to `mtl-hard` larger than `mtl-single`'s at `lambda = 1000`); the proximal step is
//! stable for any `lambda` and reaches the tied limit.
//!
//! | parameter | default | meaning | valid |
//! |-----------|---------|---------|-------|
//! | `lambda`  | 0.01    | strength of the L2 tie | >= 0 |

use super::single::Separate;
use super::{Batch, Common, Dims, P, Scheme, Spec, build_with};
use crate::params::{self, Check};
use crate::{Method, Result};
use candle_core::{Tensor, Var};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SoftParams {
    #[serde(flatten)]
    pub common: Common,
    pub lambda: f64,
}

impl Default for SoftParams {
    fn default() -> Self {
        SoftParams { common: Common::default(), lambda: 0.01 }
    }
}

impl Check for SoftParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()?;
        params::non_negative("lambda", self.lambda)
    }
}

impl AsRef<Common> for SoftParams {
    fn as_ref(&self) -> &Common {
        &self.common
    }
}

pub struct Soft {
    pub lambda: f64,
}

impl Scheme for Soft {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        Separate.specs(d)
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>> {
        Separate.forward(p, d, b)
    }

    fn after_step(&self, vars: &BTreeMap<String, Var>, lr: f64) -> candle_core::Result<()> {
        let t_all = (0..).take_while(|t| vars.keys().any(|k| k.starts_with(&Separate::prefix(*t)))).count();
        if t_all < 2 {
            return Ok(());
        }
        let shrink = 1.0 / (1.0 + 2.0 * lr * self.lambda * t_all as f64);
        let first = Separate::prefix(0);
        for k in vars.keys().filter_map(|k| k.strip_prefix(first.as_str())) {
            let copies: Vec<&Var> = (0..t_all).map(|t| &vars[&format!("{}{k}", Separate::prefix(t))]).collect();
            let mut sum = copies[0].as_tensor().clone();
            for c in &copies[1..] {
                sum = sum.add(c.as_tensor())?;
            }
            let mean = sum.affine(1.0 / t_all as f64, 0.0)?;
            for c in copies {
                // mean + shrink * (theta - mean); exactly theta when lambda = 0.
                if shrink != 1.0 {
                    c.set(&mean.add(&c.as_tensor().sub(&mean)?.affine(shrink, 0.0)?)?)?;
                }
            }
        }
        Ok(())
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<SoftParams>("mtl-soft", table, |q| Arc::new(Soft { lambda: q.lambda }))
}
