//! `mtl-hier`: hierarchical sharing along the task tree root -> user group -> objective. The
//! embeddings and the first bottom layer are shared by everyone (root), the second bottom layer
//! is one per user group (the tree's middle level: its leaves, or the coarser groups
//! `[objectives.tree]` declares), the towers are per objective. The tree is built from what
//! every method observes of a user, never from hidden truth: on the synthetic worlds all users
//! -> the `group` feature -> the `age` bucket (leaves `majority/age0`, ...; see
//! [`metarec_suites::objectives::synthetic_leaves`]). A user's rows go through their group's
//! layer (every group layer starts from `mtl-hard`'s second layer, so with one group this is
//! `mtl-hard`).

use super::{
    Batch, Common, Dims, P, Scheme, Spec, build_with, dense, dense_specs, embed, embed_specs, tower, tower_specs,
};
use crate::{Method, Result};
use candle_core::Tensor;
use std::sync::Arc;

pub struct Hier;

impl Scheme for Hier {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        let mut s = embed_specs("", d);
        s.extend(dense_specs("bottom.0", "bottom.0", d.input(), d.hidden, 2.0));
        for g in 0..d.n_groups {
            s.extend(dense_specs(&format!("group.{g}.bottom.1"), "bottom.1", d.hidden, d.hidden, 2.0));
        }
        s.extend(tower_specs(d));
        s
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>> {
        let h1 = dense(p, "bottom.0", &embed(p, "", d, &b.inputs)?, true)?;
        let mut h2: Option<Tensor> = None;
        for (g, mask) in b.group_masks.iter().enumerate() {
            let term = dense(p, &format!("group.{g}.bottom.1"), &h1, true)?.broadcast_mul(mask)?;
            h2 = Some(match h2 {
                None => term,
                Some(a) => a.add(&term)?,
            });
        }
        let h2 = h2.expect("at least one group");
        (0..d.n_obj()).map(|t| tower(p, t, &h2)).collect()
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<Common>("mtl-hier", table, |_| Arc::new(Hier))
}
