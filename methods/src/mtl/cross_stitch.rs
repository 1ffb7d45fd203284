//! `cross-stitch`: cross-stitch networks (Misra et al., CVPR 2016). The separate networks of
//! `mtl-single`; after each bottom layer (after its ReLU) objective `t`'s activations are
//! replaced by `sum_t' alpha_l[t, t'] h_t'`, with a learned `T x T` matrix `alpha_l` per layer,
//! initialised to `alpha_self` on the diagonal and `(1 - alpha_self) / (T - 1)` elsewhere
//! (0.9 / 0.1 for two objectives, as in the paper). The paper trains alpha at a larger rate than
//! the network; here its Adam rate is `alpha_rate` times `lr` (default 1: the same rate).
//! `alpha_self = 1` with `learn_alpha = false` is `mtl-single`.
//!
//! | parameter     | default | meaning | valid |
//! |---------------|---------|---------|-------|
//! | `alpha_self`  | 0.9     | initial diagonal of alpha | in [0, 1] |
//! | `learn_alpha` | true    | whether alpha trains | |
//! | `alpha_rate`  | 1.0     | alpha's rate as a multiple of `lr` | > 0 |

use super::single::Separate;
use super::{Batch, Common, Dims, Init, P, Scheme, Spec, build_with, dense, embed, tower};
use crate::params::{self, Check};
use crate::{Method, Result};
use candle_core::Tensor;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CrossStitchParams {
    #[serde(flatten)]
    pub common: Common,
    pub alpha_self: f64,
    pub learn_alpha: bool,
    pub alpha_rate: f64,
}

impl Default for CrossStitchParams {
    fn default() -> Self {
        CrossStitchParams { common: Common::default(), alpha_self: 0.9, learn_alpha: true, alpha_rate: 1.0 }
    }
}

impl Check for CrossStitchParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()?;
        if !(0.0..=1.0).contains(&self.alpha_self) {
            return Err(("alpha_self", format!("must be in [0, 1], got {}", self.alpha_self)));
        }
        params::positive("alpha_rate", self.alpha_rate)
    }
}

impl AsRef<Common> for CrossStitchParams {
    fn as_ref(&self) -> &Common {
        &self.common
    }
}

pub struct CrossStitch {
    pub alpha_self: f64,
    pub learn_alpha: bool,
    pub alpha_rate: f64,
}

/// `out[t] = sum_t' alpha[t, t'] hs[t']`.
fn stitch(alpha: &Tensor, hs: &[Tensor]) -> candle_core::Result<Vec<Tensor>> {
    let k = hs.len();
    (0..k)
        .map(|t| {
            let mut out: Option<Tensor> = None;
            for (u, h) in hs.iter().enumerate() {
                let a = alpha.narrow(0, t, 1)?.narrow(1, u, 1)?;
                let term = h.broadcast_mul(&a)?;
                out = Some(match out {
                    None => term,
                    Some(x) => x.add(&term)?,
                });
            }
            Ok(out.expect("at least one objective"))
        })
        .collect()
}

impl Scheme for CrossStitch {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        let mut s = Separate.specs(d);
        let k = d.n_obj();
        for l in 0..2 {
            let mut a = Spec::new(format!("stitch.{l}"), format!("stitch.{l}"), &[k, k], Init::Stitch(self.alpha_self));
            a.trainable = self.learn_alpha;
            s.push(a);
        }
        s
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>> {
        let k = d.n_obj();
        let mut hs: Vec<Tensor> =
            (0..k).map(|t| embed(p, &Separate::prefix(t), d, &b.inputs)).collect::<candle_core::Result<_>>()?;
        for l in 0..2 {
            let layer: Vec<Tensor> = (0..k)
                .map(|t| dense(p, &format!("{}bottom.{l}", Separate::prefix(t)), &hs[t], true))
                .collect::<candle_core::Result<_>>()?;
            hs = stitch(&p[&format!("stitch.{l}")], &layer)?;
        }
        (0..k).map(|t| tower(p, t, &hs[t])).collect()
    }

    fn rate_scale(&self, name: &str) -> f64 {
        if name.starts_with("stitch.") { self.alpha_rate } else { 1.0 }
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<CrossStitchParams>("cross-stitch", table, |q| {
        Arc::new(CrossStitch { alpha_self: q.alpha_self, learn_alpha: q.learn_alpha, alpha_rate: q.alpha_rate })
    })
}
