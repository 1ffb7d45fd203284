//! `mtl-single`: one network (embeddings, bottom, tower) per objective, nothing shared; the
//! reference every transfer gain is measured against. Also the body of `mtl-soft` and
//! `cross-stitch`, which add a penalty or mixing to these separate networks.

use super::{
    Batch, Common, Dims, P, Scheme, Spec, bottom, bottom_specs, build_with, embed, embed_specs, tower, tower_specs,
};
use crate::{Method, Result};
use std::sync::Arc;

/// Separate networks: objective `t` has `task.{t}.embed.*` and `task.{t}.bottom.*` (each copy
/// drawn from the shared role, so every copy starts equal) and its tower.
pub struct Separate;

impl Separate {
    pub fn prefix(t: usize) -> String {
        format!("task.{t}.")
    }
}

impl Scheme for Separate {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        let mut s = Vec::new();
        for t in 0..d.n_obj() {
            s.extend(embed_specs(&Separate::prefix(t), d));
            s.extend(bottom_specs(&Separate::prefix(t), "", d));
        }
        s.extend(tower_specs(d));
        s
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<candle_core::Tensor>> {
        (0..d.n_obj())
            .map(|t| {
                let x = embed(p, &Separate::prefix(t), d, &b.inputs)?;
                tower(p, t, &bottom(p, &Separate::prefix(t), &x)?)
            })
            .collect()
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<Common>("mtl-single", table, |_| Arc::new(Separate))
}
