//! `mtl-soft`: soft parameter sharing (Duong et al. 2015): the separate networks of
//! `mtl-single` plus `lambda * sum_{t<t'} ||theta_t - theta_t'||^2` over corresponding
//! parameters of the embeddings and the bottom (the towers are per objective in every scheme).
//! `lambda = 0` is `mtl-single`; a large `lambda` ties the copies together, towards `mtl-hard`.
//!
//! **How it trains, and why.** Write the copies of one parameter as a shared part plus
//! deviations, `theta_t = s + delta_t` with `s = (1/T) sum_t theta_t`, so `sum_t delta_t = 0`.
//! The penalty only sees the deviations:
//!
//! ```text
//! sum_{t<t'} ||theta_t - theta_t'||^2 = sum_{t<t'} ||delta_t - delta_t'||^2
//!   = (1/2) sum_{t,t'} (||delta_t||^2 + ||delta_t'||^2 - 2 delta_t . delta_t')
//!   = T sum_t ||delta_t||^2 - ||sum_t delta_t||^2 = T sum_t ||delta_t||^2,
//! ```
//!
//! so `lambda * sum_{t<t'} ||theta_t - theta_t'||^2 = lambda T sum_t ||delta_t||^2`, and the
//! loss's gradient with respect to the shared part `s` is `sum_t g_t` (`g_t`: the gradient of
//! copy `t`), exactly what `mtl-hard`'s shared parameter gets. Each step has two parts:
//! 1. *Adam* on the objectives' loss (rate `lr`): copy `t` moves by
//!    `lr ((1 - rho) A_t + rho A_s)`, `A_t` the Adam direction of its own gradient `g_t`,
//!    `A_s` the Adam direction of `sum_t g_t` (moments of its own; [`super::Coupling`]);
//! 2. the exact *proximal step* of `lr * lambda T sum_t ||delta_t||^2`: `s` stays,
//!    `delta_t <- delta_t / (1 + 2 lr lambda T)`.
//!
//! `rho = 1 - 1 / (1 + 2 lr lambda T)` is the share of a deviation the proximal step removes:
//! what survives moves as a free copy, what is removed moves as the shared part. The two
//! limits are the identities the tests check: `lambda = 0` gives `rho = 0` and an identity
//! proximal step, so every copy takes its own Adam step: `mtl-single`, bit for bit. A very
//! large `lambda` gives `rho -> 1`: every copy takes the one Adam step of the summed gradient
//! and the proximal step removes what is left of the deviations, so the copies are `mtl-hard`'s
//! shared parameters (predictions within 1e-4 in the test, 3e-6 measured: float rounding, as
//! the summed gradient is added up per copy, not through one shared bottom). Two alternatives
//! fail a limit: per-copy Adam alone moves tied copies by the mean of per-copy Adam steps,
//! not by the Adam step of the summed gradient (measured: no match with `mtl-hard`); Adam on
//! `s` and on `delta_t` as separate variables moves a copy by `A_s + A_t` even at
//! `lambda = 0`, which is not `mtl-single`. The penalty added to the loss instead swamps
//! Adam's per-coordinate normalisation at a large `lambda` and freezes the shared layers near
//! their start. A cold user's fine-tuning takes the same two parts with SGD directions (`g_t`
//! and `sum_t g_t` in place of `A_t` and `A_s`, rate `adapt_lr`).
//!
//! | parameter | default | meaning | valid |
//! |-----------|---------|---------|-------|
//! | `lambda`  | 10      | strength of the L2 tie | >= 0 |
//!
//! The default was chosen on development worlds, never on a shipped suite's users: the
//! `mtl-related` and `mtl-unrelated` suite files with the data seed 1018 instead of 18 (a
//! different draw of the same generator), with the runner (seeds 0-2, user-cold; then 400
//! users and `hidden = 32`, before the suites and the width took their present values). Of `lambda`
//! in {0.01, 1, 10, 100, 1000}, 10 had the best mean `Delta_m` over the two against
//! `mtl-single` (related / unrelated: 0.01 +3.2% / +0.4%, 1 +2.9% / -0.5%, 10 +5.1% / +1.4%,
//! 100 +5.4% / 0.0%, 1000 +5.6% / +0.2%).

use super::single::Separate;
use super::{Batch, Common, Coupling, Dims, P, Scheme, Spec, build_with};
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
        SoftParams { common: Common::default(), lambda: 10.0 }
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

    fn coupling(&self, names: &[&str], lr: f64) -> Option<Coupling> {
        let t_all = copies(names.iter().copied());
        if t_all < 2 {
            return None;
        }
        let first = Separate::prefix(0);
        let groups = names
            .iter()
            .filter_map(|n| n.strip_prefix(first.as_str()))
            .map(|k| {
                (0..t_all)
                    .map(|t| names.iter().position(|n| *n == format!("{}{k}", Separate::prefix(t))))
                    .collect::<Option<Vec<usize>>>()
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Coupling { groups, joint: 1.0 - self.shrink(lr, t_all) })
    }

    fn after_step(&self, vars: &BTreeMap<String, Var>, lr: f64) -> candle_core::Result<()> {
        let t_all = copies(vars.keys().map(String::as_str));
        if t_all < 2 {
            return Ok(());
        }
        let shrink = self.shrink(lr, t_all);
        if shrink == 1.0 {
            // lambda = 0: nothing to shrink (the copies are mtl-single's)
            return Ok(());
        }
        let first = Separate::prefix(0);
        for k in vars.keys().filter_map(|k| k.strip_prefix(first.as_str())) {
            let copies: Vec<&Var> = (0..t_all).map(|t| &vars[&format!("{}{k}", Separate::prefix(t))]).collect();
            let mut sum = copies[0].as_tensor().clone();
            for c in &copies[1..] {
                sum = sum.add(c.as_tensor())?;
            }
            let mean = sum.affine(1.0 / t_all as f64, 0.0)?;
            for c in copies {
                // mean + shrink * (theta - mean)
                c.set(&mean.add(&c.as_tensor().sub(&mean)?.affine(shrink, 0.0)?)?)?;
            }
        }
        Ok(())
    }
}

/// The number of objectives whose separate copies are among `names`.
fn copies<'a>(names: impl Iterator<Item = &'a str> + Clone) -> usize {
    (0..).take_while(|t| names.clone().any(|k| k.starts_with(&Separate::prefix(*t)))).count()
}

impl Soft {
    /// `1 / (1 + 2 lr lambda T)`: what the proximal step keeps of a deviation.
    fn shrink(&self, lr: f64, t_all: usize) -> f64 {
        1.0 / (1.0 + 2.0 * lr * self.lambda * t_all as f64)
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<SoftParams>("mtl-soft", table, |q| Arc::new(Soft { lambda: q.lambda }))
}
