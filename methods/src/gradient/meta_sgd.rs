//! `meta-sgd`: Li, Zhou, Chen & Li (2017), "Meta-SGD: Learning to Learn Quickly for Few-Shot
//! Learning".
//!
//! As second-order MAML, but the inner update is `theta'_t = theta - alpha (.) grad L_t(theta)`
//! (eq. 3) with a learned vector `alpha` of the same shape as `theta`, initialised to
//! `inner_lr` and meta-learned with `theta` by Adam on the query loss (eq. 4).
//!
//! | parameter     | default | meaning                                          | valid |
//! |---------------|---------|--------------------------------------------------|-------|
//! | `embed_dim`   | 32      | embedding width per categorical field            | >= 1  |
//! | `hidden`      | [64, 64]| widths of the hidden layers                      | each >= 1 |
//! | `adapt`       | "all"   | what the inner loop adapts: "all" or "decision"  | |
//! | `inner_lr`    | 0.05    | initial value of every learned rate              | > 0   |
//! | `inner_steps` | 1       | inner steps                                      | >= 1  |
//! | `meta_batch`  | 32      | tasks per meta-step                              | >= 1  |
//! | `outer_lr`    | 0.001   | Adam learning rate for `theta` and `alpha`       | > 0   |
//! | `meta_steps`  | 1500    | maximum meta-steps                               | >= 1  |
//! | `eval_every`  | 100     | meta-steps between validation checks             | >= 1  |
//! | `patience`    | 4       | checks without gain before stopping              | >= 1  |
//! | `support`, `query` | 10, 10 | episode sizes                               | >= 1  |

use super::maml::MamlParams;
use super::{GradientMethod, Outer};
use crate::params;
use crate::{Method, Result};

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    let p: MamlParams = params::parse("meta-sgd", table)?;
    Ok(Box::new(GradientMethod {
        name: "meta-sgd",
        table: params::to_table(&p),
        common: p.common,
        outer: Outer::MetaSgd,
    }))
}
