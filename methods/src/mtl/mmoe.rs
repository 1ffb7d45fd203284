//! `mmoe`: multi-gate mixture of experts (Ma et al., KDD 2018). Shared embeddings; `experts`
//! bottoms (each the two-layer bottom of `mtl-hard`; the first starts equal to it); per
//! objective a softmax gate over the experts, computed from the input, whose mixture feeds the
//! objective's tower. With one expert every gate is 1 and this is `mtl-hard`.
//!
//! | parameter | default | meaning | valid |
//! |-----------|---------|---------|-------|
//! | `experts` | 4       | number of experts | >= 1 |

use super::{
    Batch, Common, Dims, P, Scheme, Spec, bottom, bottom_specs, build_with, embed, embed_specs, gate_specs, gated,
    tower, tower_specs,
};
use crate::params::{self, Check};
use crate::{Method, Result};
use candle_core::Tensor;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MmoeParams {
    #[serde(flatten)]
    pub common: Common,
    pub experts: usize,
}

impl Default for MmoeParams {
    fn default() -> Self {
        MmoeParams { common: Common::default(), experts: 4 }
    }
}

impl Check for MmoeParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()?;
        params::at_least("experts", self.experts, 1)
    }
}

impl AsRef<Common> for MmoeParams {
    fn as_ref(&self) -> &Common {
        &self.common
    }
}

pub struct Mmoe {
    pub experts: usize,
}

fn expert(e: usize) -> (String, String) {
    (format!("expert.{e}."), if e == 0 { String::new() } else { format!("expert.{e}.") })
}

impl Scheme for Mmoe {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        let mut s = embed_specs("", d);
        for e in 0..self.experts {
            let (prefix, role) = expert(e);
            s.extend(bottom_specs(&prefix, &role, d));
        }
        for t in 0..d.n_obj() {
            s.extend(gate_specs(&format!("gate.{t}"), d.input(), self.experts));
        }
        s.extend(tower_specs(d));
        s
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>> {
        let x = embed(p, "", d, &b.inputs)?;
        let hs: Vec<Tensor> =
            (0..self.experts).map(|e| bottom(p, &expert(e).0, &x)).collect::<candle_core::Result<_>>()?;
        (0..d.n_obj()).map(|t| tower(p, t, &gated(p, &format!("gate.{t}"), &x, &hs)?)).collect()
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<MmoeParams>("mmoe", table, |q| Arc::new(Mmoe { experts: q.experts }))
}
