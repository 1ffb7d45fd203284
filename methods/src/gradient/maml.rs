//! `maml`, `fomaml`, `melu` and `melu-5`.
//!
//! MAML: Finn, Abbeel & Levine (2017), "Model-Agnostic Meta-Learning for Fast Adaptation of
//! Deep Networks". Inner loop eq. (1): `theta'_t = theta - a grad L_t^support(theta)`
//! (`inner_steps` times); outer objective eq. (3): `min_theta sum_t L_t^query(theta'_t)`,
//! optimised with Adam. `maml` differentiates through the inner gradient (the exact
//! second-order meta-gradient); `fomaml` treats the inner gradient as a constant (sec. 5.2).
//!
//! MeLU: Lee, Im, Jang, Cho & Chung (2019), "MeLU: Meta-Learned User Preference Estimator for
//! Cold-Start Recommendation" (KDD). MAML on the feature network where the local update
//! (inner loop) touches only the decision layers and the embeddings are updated only by the
//! global update. Defaults are the paper's and its public code's: embedding 32 per field,
//! decision layers 64-64, local learning rate 5e-6, global learning rate 5e-5, one local
//! update, batch 32, 20 epochs (as meta-steps: 20 epochs of the synthetic suite's ~700
//! meta-train users in batches of 32 is about 460 steps). Suites may override them in their
//! `[methods.melu]` table, and the run's manifest records what was used.
//!
//! `melu-5` is MeLU-5 of the paper's Table 2: the same method and defaults with five local
//! updates (`inner_steps = 5`) in meta-training and at test time; MeLU-1 is `melu`.
//!
//! | parameter     | maml / fomaml | melu    | meaning                                    | valid |
//! |---------------|---------------|---------|--------------------------------------------|-------|
//! | `embed_dim`   | 32            | 32      | embedding width per categorical field      | >= 1  |
//! | `hidden`      | [64, 64]      | [64, 64]| widths of the hidden (decision) layers     | each >= 1 |
//! | `adapt`       | "all"         | "decision" | what the inner loop adapts: "all" or "decision" | |
//! | `inner_lr`    | 0.05          | 5e-6    | inner (local) SGD learning rate `a`        | > 0   |
//! | `inner_steps` | 1             | 1       | inner steps, in meta-training and at test time | >= 1 |
//! | `meta_batch`  | 32            | 32      | tasks per meta-step                        | >= 1  |
//! | `outer_lr`    | 0.001         | 5e-5    | Adam learning rate of the outer (global) update | > 0 |
//! | `meta_steps`  | 1500          | 460     | maximum meta-steps                         | >= 1  |
//! | `eval_every`  | 100           | 100     | meta-steps between validation checks       | >= 1  |
//! | `patience`    | 4             | 4       | checks without gain before stopping        | >= 1  |
//! | `support`, `query` | 10, 10   | 10, 10  | episode sizes sampled from meta-train users | >= 1 |

use super::{AdaptLayers, CommonParams, GradientMethod, Outer};
use crate::params::{self, Check};
use crate::{Method, Result};

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MamlParams {
    #[serde(flatten)]
    pub common: CommonParams,
}

impl Check for MamlParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()
    }
}

/// MeLU's defaults (see the module docs).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MeluParams {
    #[serde(flatten)]
    pub common: CommonParams,
}

impl Default for MeluParams {
    fn default() -> Self {
        MeluParams {
            common: CommonParams {
                adapt: AdaptLayers::Decision,
                inner_lr: 5e-6,
                outer_lr: 5e-5,
                inner_steps: 1,
                meta_steps: 460,
                ..CommonParams::default()
            },
        }
    }
}

impl Check for MeluParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()
    }
}

fn build(name: &'static str, table: &toml::Table, first_order: bool) -> Result<Box<dyn Method>> {
    let p: MamlParams = params::parse(name, table)?;
    Ok(Box::new(GradientMethod {
        name,
        table: params::to_table(&p),
        common: p.common,
        outer: Outer::Maml { first_order },
    }))
}

pub fn build_maml(table: &toml::Table) -> Result<Box<dyn Method>> {
    build("maml", table, false)
}

pub fn build_fomaml(table: &toml::Table) -> Result<Box<dyn Method>> {
    build("fomaml", table, true)
}

pub fn build_melu(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_melu_named("melu", 1, table)
}

pub fn build_melu5(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_melu_named("melu-5", 5, table)
}

/// MeLU with `local_updates` inner steps by default (the table may still override them).
fn build_melu_named(name: &'static str, local_updates: usize, table: &toml::Table) -> Result<Box<dyn Method>> {
    let mut table = table.clone();
    table.entry("inner_steps").or_insert(toml::Value::Integer(local_updates as i64));
    let p: MeluParams = params::parse(name, &table)?;
    Ok(Box::new(GradientMethod {
        name,
        table: params::to_table(&p),
        common: p.common,
        outer: Outer::Maml { first_order: false },
    }))
}
