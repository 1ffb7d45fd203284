//! `ple`: progressive layered extraction (Tang et al., RecSys 2020). `levels` extraction layers;
//! at each, every objective has `task_experts` experts and all share `shared_experts` (each
//! expert one dense ReLU layer of width `hidden`). Objective `t`'s gate mixes its own and the
//! shared experts (from its own branch's input); the shared branch's gate mixes every expert,
//! and is skipped at the last level, whose objective outputs feed the towers.
//!
//! | parameter        | default | meaning | valid |
//! |------------------|---------|---------|-------|
//! | `levels`         | 2       | extraction layers | >= 1 |
//! | `task_experts`   | 1       | experts per objective per level | >= 1 |
//! | `shared_experts` | 2       | shared experts per level | >= 1 |

use super::{
    Batch, Common, Dims, P, Scheme, Spec, build_with, dense, dense_specs, embed, embed_specs, gate_specs, gated, tower,
    tower_specs,
};
use crate::params::{self, Check};
use crate::{Method, Result};
use candle_core::Tensor;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PleParams {
    #[serde(flatten)]
    pub common: Common,
    pub levels: usize,
    pub task_experts: usize,
    pub shared_experts: usize,
}

impl Default for PleParams {
    fn default() -> Self {
        PleParams { common: Common::default(), levels: 2, task_experts: 1, shared_experts: 2 }
    }
}

impl Check for PleParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.common.check()?;
        params::at_least("levels", self.levels, 1)?;
        params::at_least("task_experts", self.task_experts, 1)?;
        params::at_least("shared_experts", self.shared_experts, 1)
    }
}

impl AsRef<Common> for PleParams {
    fn as_ref(&self) -> &Common {
        &self.common
    }
}

pub struct Ple {
    pub levels: usize,
    pub task_experts: usize,
    pub shared_experts: usize,
}

impl Scheme for Ple {
    fn specs(&self, d: &Dims) -> Vec<Spec> {
        let mut s = embed_specs("", d);
        let t_all = d.n_obj();
        for l in 0..self.levels {
            let i = if l == 0 { d.input() } else { d.hidden };
            for t in 0..t_all {
                for e in 0..self.task_experts {
                    let n = format!("ple.{l}.task.{t}.{e}");
                    s.extend(dense_specs(&n, &n, i, d.hidden, 2.0));
                }
                s.extend(gate_specs(&format!("ple.{l}.gate.{t}"), i, self.task_experts + self.shared_experts));
            }
            for e in 0..self.shared_experts {
                let n = format!("ple.{l}.shared.{e}");
                s.extend(dense_specs(&n, &n, i, d.hidden, 2.0));
            }
            if l + 1 < self.levels {
                s.extend(gate_specs(
                    &format!("ple.{l}.gate.shared"),
                    i,
                    t_all * self.task_experts + self.shared_experts,
                ));
            }
        }
        s.extend(tower_specs(d));
        s
    }

    fn forward(&self, p: &P, d: &Dims, b: &Batch) -> candle_core::Result<Vec<Tensor>> {
        let x = embed(p, "", d, &b.inputs)?;
        let t_all = d.n_obj();
        let mut task_in: Vec<Tensor> = vec![x.clone(); t_all];
        let mut shared_in = x;
        for l in 0..self.levels {
            let shared: Vec<Tensor> = (0..self.shared_experts)
                .map(|e| dense(p, &format!("ple.{l}.shared.{e}"), &shared_in, true))
                .collect::<candle_core::Result<_>>()?;
            let mut all_task = Vec::new();
            let mut next = Vec::with_capacity(t_all);
            for t in 0..t_all {
                let mut own: Vec<Tensor> = (0..self.task_experts)
                    .map(|e| dense(p, &format!("ple.{l}.task.{t}.{e}"), &task_in[t], true))
                    .collect::<candle_core::Result<_>>()?;
                all_task.extend(own.iter().cloned());
                own.extend(shared.iter().cloned());
                next.push(gated(p, &format!("ple.{l}.gate.{t}"), &task_in[t], &own)?);
            }
            if l + 1 < self.levels {
                all_task.extend(shared);
                shared_in = gated(p, &format!("ple.{l}.gate.shared"), &shared_in, &all_task)?;
            }
            task_in = next;
        }
        (0..t_all).map(|t| tower(p, t, &task_in[t])).collect()
    }
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    build_with::<PleParams>("ple", table, |q| {
        Arc::new(Ple { levels: q.levels, task_experts: q.task_experts, shared_experts: q.shared_experts })
    })
}
