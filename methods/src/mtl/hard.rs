//! `mtl-hard`: hard parameter sharing (Caruana 1997): shared embeddings and bottom, one tower
//! per objective.

use super::{
    Batch, Common, Dims, P, Scheme, Spec, bottom, bottom_specs, build_with, embed, embed_specs, tower, tower_specs,
};
use crate::{Method, Result};
use candle_core::Tensor;
use std::sync::Arc;

pub struct Hard;

impl Scheme for Hard {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        let mut s = embed_specs("", d);
        s.extend(bottom_specs("", "", d));
        s.extend(tower_specs(d));
        s
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>> {
        let h = bottom(p, "", &embed(p, "", d, &b.inputs)?)?;
        (0..d.n_obj()).map(|t| tower(p, t, &h)).collect()
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<Common>("mtl-hard", table, |_| Arc::new(Hard))
}
