//! `pooled` and `pooled-finetune`: the feature network of [`crate::nn`] trained on all
//! meta-train ratings at once, as an ordinary regression (no episodes, no meta-learning).
//!
//! `pooled` predicts with the trained network for every user: users differ only through their
//! features. `pooled-finetune` then fine-tunes a copy of all parameters on each new user's
//! support set with `finetune_steps` full-batch SGD steps on the mean squared error; with an
//! empty support set it predicts as `pooled`.
//!
//! Training: Adam on the mean squared error over shuffled mini-batches, for at most `epochs`
//! epochs; after each epoch the RMSE on the meta-validation users' query sets (without
//! adaptation) is measured, and the parameters of the best epoch are kept (early stopping with
//! `patience`). The chosen epoch goes into the manifest.
//!
//! | parameter        | default | meaning                                      | valid   |
//! |------------------|---------|----------------------------------------------|---------|
//! | `embed_dim`      | 8       | embedding width per categorical field        | >= 1    |
//! | `hidden`         | [32]    | widths of the hidden ReLU layers             | each >= 1 |
//! | `lr`             | 0.005   | Adam learning rate                           | > 0     |
//! | `epochs`         | 30      | maximum epochs                               | >= 1    |
//! | `batch_size`     | 256     | ratings per mini-batch                       | >= 1    |
//! | `patience`       | 4       | epochs without validation gain before stop   | >= 1    |
//! | `finetune_lr`    | 0.01    | SGD learning rate on the support set (`pooled-finetune` only) | > 0 |
//! | `finetune_steps` | 20      | SGD steps on the support set (`pooled-finetune` only) | >= 1 |

use crate::adam::Adam;
use crate::early_stopping::EarlyStopping;
use crate::nn::{self, Inputs, NetShape};
use crate::params::{self, Check};
use crate::space::Dim;
use crate::{Adapted, Ctx, Method, MethodError, Model, Predictions, Result, SupportSet, TrainData, TrainReport};
use candle_core::{Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use metarec_suites::{Features, Rating, Task};

/// Hyper-parameters of `pooled`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PooledParams {
    pub embed_dim: usize,
    pub hidden: Vec<usize>,
    pub lr: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub patience: usize,
}

impl Default for PooledParams {
    fn default() -> Self {
        PooledParams { embed_dim: 8, hidden: vec![32], lr: 0.005, epochs: 30, batch_size: 256, patience: 4 }
    }
}

impl Check for PooledParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::at_least("embed_dim", self.embed_dim, 1)?;
        if let Some(w) = self.hidden.iter().find(|w| **w == 0) {
            return Err(("hidden", format!("layer widths must be at least 1, got {w}")));
        }
        params::positive("lr", self.lr)?;
        params::at_least("epochs", self.epochs, 1)?;
        params::at_least("batch_size", self.batch_size, 1)?;
        params::at_least("patience", self.patience, 1)
    }
}

/// The tuner's search space of `pooled` (see [`crate::space`]).
pub const SPACE: &[Dim] = &[Dim::Real { key: "lr", lo: 1e-4, hi: 3e-2, log: true }];

/// The tuner's search space of `pooled-finetune`.
pub const FINETUNE_SPACE: &[Dim] = &[
    Dim::Real { key: "lr", lo: 1e-4, hi: 3e-2, log: true },
    Dim::Real { key: "finetune_lr", lo: 1e-3, hi: 1e-1, log: true },
    Dim::Int { key: "finetune_steps", lo: 5, hi: 40 },
];

/// Hyper-parameters of `pooled-finetune`: those of `pooled` plus the fine-tuning ones.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FinetuneParams {
    #[serde(flatten)]
    pub pooled: PooledParams,
    pub finetune_lr: f64,
    pub finetune_steps: usize,
}

impl Default for FinetuneParams {
    fn default() -> Self {
        FinetuneParams { pooled: PooledParams::default(), finetune_lr: 0.01, finetune_steps: 20 }
    }
}

impl Check for FinetuneParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        self.pooled.check()?;
        params::positive("finetune_lr", self.finetune_lr)?;
        params::at_least("finetune_steps", self.finetune_steps, 1)
    }
}

pub fn build_pooled(table: &toml::Table) -> Result<Box<dyn Method>> {
    let p: PooledParams = params::parse("pooled", table)?;
    Ok(Box::new(Pooled { name: "pooled", table: params::to_table(&p), pooled: p, finetune: None }))
}

pub fn build_finetune(table: &toml::Table) -> Result<Box<dyn Method>> {
    let p: FinetuneParams = params::parse("pooled-finetune", table)?;
    Ok(Box::new(Pooled {
        name: "pooled-finetune",
        table: params::to_table(&p),
        pooled: p.pooled.clone(),
        finetune: Some((p.finetune_lr, p.finetune_steps)),
    }))
}

struct Pooled {
    name: &'static str,
    table: toml::Table,
    pooled: PooledParams,
    /// `(lr, steps)` for `pooled-finetune`.
    finetune: Option<(f64, usize)>,
}

struct Fitted {
    name: &'static str,
    shape: NetShape,
    params: Vec<Tensor>,
    finetune: Option<(f64, usize)>,
    features: std::sync::Arc<Features>,
    range: (f32, f32),
    report: TrainReport,
}

impl Pooled {
    fn candle<T>(&self, context: &str, r: candle_core::Result<T>) -> Result<T> {
        r.map_err(|source| MethodError::Candle { method: self.name.into(), context: context.into(), source })
    }
}

/// Validation RMSE of `params` on the query sets of `tasks`, without adaptation.
fn validation_rmse(
    shape: &NetShape,
    params: &[Tensor],
    f: &Features,
    tasks: &[Task],
    dev: &Device,
) -> candle_core::Result<Option<f64>> {
    let query: Vec<Rating> = tasks.iter().flat_map(|t| t.query.iter().copied()).collect();
    if query.is_empty() {
        return Ok(None);
    }
    let x = Inputs::for_ratings(f, &query, dev)?;
    let loss = nn::mse(&shape.forward(params, &x)?, &nn::targets(&query, dev)?)?;
    Ok(Some(f64::from(loss.to_scalar::<f32>()?).sqrt()))
}

impl Method for Pooled {
    fn name(&self) -> &str {
        self.name
    }
    fn params(&self) -> toml::Table {
        self.table.clone()
    }
    fn meta_train(&self, data: &TrainData<'_>, ctx: &mut Ctx) -> Result<Box<dyn Model>> {
        let p = &self.pooled;
        let dev = ctx.device.clone();
        let shape = NetShape::new(&data.features.schema, p.embed_dim, &p.hidden);
        let mut ratings: Vec<Rating> = data.meta_train.iter().flat_map(|h| h.ratings.iter().copied()).collect();
        let mu = super::global_mean(data) as f32;
        let init = self.candle("init", shape.init(&mut ctx.rng, mu, &dev))?;
        let vars: Vec<Var> = self.candle("init", nn::to_vars(&init))?;
        let mut opt = self.candle(
            "optimizer",
            Adam::new(vars.clone(), ParamsAdamW { lr: p.lr, weight_decay: 0.0, ..Default::default() }),
        )?;
        let mut stopping = EarlyStopping::new(p.patience, 0, None, init.clone());
        let mut epochs = 0u64;
        for epoch in 1..=p.epochs as u64 {
            epochs = epoch;
            ctx.rng.shuffle(&mut ratings);
            for (b, batch) in ratings.chunks(p.batch_size).enumerate() {
                let mut step = || -> candle_core::Result<f32> {
                    let x = Inputs::for_ratings(data.features, batch, &dev)?;
                    let params: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
                    let loss = nn::mse(&shape.forward(&params, &x)?, &nn::targets(batch, &dev)?)?;
                    opt.backward_step(&loss)?;
                    loss.to_scalar::<f32>()
                };
                let loss = self.candle("training step", step())?;
                if !loss.is_finite() {
                    return Err(MethodError::Diverged {
                        method: self.name.into(),
                        context: format!("training loss is {loss} at epoch {epoch}, batch {b} (lr = {})", p.lr),
                    });
                }
            }
            let now = self.candle("snapshot", nn::snapshot(&vars))?;
            let val = self.candle("validation", validation_rmse(&shape, &now, data.features, data.validation, &dev))?;
            if let Some(v) = val.filter(|v| !v.is_finite()) {
                return Err(MethodError::Diverged {
                    method: self.name.into(),
                    context: format!("validation RMSE is {v} at epoch {epoch}"),
                });
            }
            if stopping.observe(epoch, val, || Ok::<_, MethodError>(now))? {
                break;
            }
        }
        let (chosen, validation_loss, params) = stopping.finish();
        let report = TrainReport {
            steps: epochs,
            chosen_step: Some(chosen),
            validation_loss,
            notes: [("unit".to_string(), "epoch".to_string())].into(),
        };
        Ok(Box::new(Fitted {
            name: self.name,
            shape,
            params,
            finetune: self.finetune,
            features: data.features.clone(),
            range: (data.rating_min, data.rating_max),
            report,
        }))
    }
}

impl Fitted {
    fn fine_tune(&self, support: &[Rating], dev: &Device) -> candle_core::Result<Vec<Tensor>> {
        let Some((lr, steps)) = self.finetune else { return Ok(self.params.clone()) };
        if support.is_empty() {
            return Ok(self.params.clone());
        }
        // Only the embedding rows the support reads are tuned: every other row's gradient is
        // zero, so SGD leaves it as it is, and the full tables cost passes over every row at
        // every step. The rows' gradients add up in the same order either way (candle's
        // `index_add` goes through the support's rows in turn), so the result is the same to
        // the bit; `fine_tuning_the_used_rows_equals_fine_tuning_the_tables` checks it.
        let t = self.shape.n_tables();
        let mut x = Inputs::for_ratings(&self.features, support, dev)?;
        let mut used: Vec<Vec<u32>> = Vec::with_capacity(t);
        for idx in x.user_idx.iter_mut().chain(x.item_idx.iter_mut()) {
            let ids = idx.to_vec1::<u32>()?;
            let mut rows = ids.clone();
            rows.sort_unstable();
            rows.dedup();
            let local: Vec<u32> = ids.iter().map(|i| rows.partition_point(|r| r < i) as u32).collect();
            *idx = Tensor::from_vec(local, ids.len(), dev)?;
            used.push(rows);
        }
        let mut start = Vec::with_capacity(self.params.len());
        for (table, rows) in self.params.iter().zip(&used) {
            start.push(table.index_select(&Tensor::new(rows.as_slice(), dev)?, 0)?);
        }
        start.extend(self.params[t..].iter().cloned());
        let vars = nn::to_vars(&start)?;
        let y = nn::targets(support, dev)?;
        for _ in 0..steps {
            let params: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let loss = nn::mse(&self.shape.forward(&params, &x)?, &y)?;
            let grads = loss.backward()?;
            for v in &vars {
                if let Some(g) = grads.get(v) {
                    v.set(&v.as_tensor().sub(&(g * lr)?)?)?;
                }
            }
        }
        let tuned = nn::snapshot(&vars)?;
        // The full tables: the tuned rows in place of the originals (a gather from the table
        // followed by the tuned rows).
        let mut out = Vec::with_capacity(self.params.len());
        for ((table, rows), new) in self.params.iter().zip(&used).zip(&tuned) {
            let v = table.dim(0)?;
            let mut map: Vec<u32> = (0..v as u32).collect();
            for (j, r) in rows.iter().enumerate() {
                map[*r as usize] = (v + j) as u32;
            }
            out.push(Tensor::cat(&[table, new], 0)?.index_select(&Tensor::from_vec(map, v, dev)?, 0)?);
        }
        out.extend(tuned[t..].iter().cloned());
        Ok(out)
    }
}

impl Model for Fitted {
    fn adapt<'m>(&'m self, task: &SupportSet<'_>, ctx: &mut Ctx) -> Result<Box<dyn Adapted + 'm>> {
        let params = self.fine_tune(task.support, &ctx.device).map_err(|source| MethodError::Candle {
            method: self.name.into(),
            context: format!("fine-tuning on user {}", task.user),
            source,
        })?;
        Ok(Box::new(ForUser { fitted: self, params, user: task.user, device: ctx.device.clone() }))
    }
    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

struct ForUser<'m> {
    fitted: &'m Fitted,
    params: Vec<Tensor>,
    user: u32,
    device: Device,
}

impl Adapted for ForUser<'_> {
    fn predict(&self, items: &[u32]) -> Result<Predictions> {
        let f = self.fitted;
        let run = || -> candle_core::Result<Vec<f64>> {
            let x = Inputs::for_items(&f.features, self.user, items, &self.device)?;
            nn::to_ratings(&f.shape.forward(&self.params, &x)?, f.range.0, f.range.1)
        };
        let mean = run().map_err(|source| MethodError::Candle {
            method: f.name.into(),
            context: format!("predicting for user {}", self.user),
            source,
        })?;
        Ok(Predictions { mean, median: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metarec_suites::{Field, Rng, Schema};

    /// One fine-tuning SGD step by hand: for the mean squared error over the support set, the
    /// gradient with respect to the output bias is `2 * mean(prediction - rating)`, and with
    /// respect to the output layer's weights `2/n * sum_j (prediction_j - rating_j) h_j`
    /// (`h_j` the last hidden activations); the step subtracts `lr` times them.
    #[test]
    fn one_finetune_step_is_sgd_on_the_support_mse() {
        let schema = Schema {
            user_fields: vec![Field { name: "a".into(), vocab: 2 }],
            item_fields: vec![Field { name: "c".into(), vocab: 3 }],
            item_numeric: vec![],
        };
        let features = std::sync::Arc::new(Features {
            schema,
            user_cat: vec![0, 1],
            item_cat: vec![0, 1, 2],
            item_num: vec![],
            user_ids: vec![0, 1],
            item_ids: vec![0, 1, 2],
        });
        let dev = Device::Cpu;
        let shape = NetShape::new(&features.schema, 2, &[3]);
        let params = shape.init(&mut Rng::new(5), 3.0, &dev).unwrap();
        let lr = 0.05;
        let fitted = Fitted {
            name: "pooled-finetune",
            shape: shape.clone(),
            params: params.clone(),
            finetune: Some((lr, 1)),
            features: features.clone(),
            range: (1.0, 5.0),
            report: TrainReport::default(),
        };
        let support = [Rating { user: 1, item: 0, value: 5.0 }, Rating { user: 1, item: 2, value: 1.0 }];
        let tuned = fitted.fine_tune(&support, &dev).unwrap();
        // Hand computation from the forward pass: predictions y_j and last hidden activations h_j.
        let x = Inputs::for_ratings(&features, &support, &dev).unwrap();
        let y: Vec<f32> = shape.forward(&params, &x).unwrap().to_vec1().unwrap();
        let n = support.len() as f32;
        let resid: Vec<f32> = y.iter().zip(&support).map(|(p, r)| p - r.value).collect();
        let k = params.len();
        let b_before: Vec<f32> = params[k - 1].to_vec1().unwrap();
        let b_after: Vec<f32> = tuned[k - 1].to_vec1().unwrap();
        let step = -lr as f32 * 2.0 * resid.iter().sum::<f32>() / n;
        assert!((b_after[0] - b_before[0] - step).abs() < 1e-5, "{b_before:?} -> {b_after:?}, step {step}");
        // The output weights: the hidden activations are relu(first layer), recomputed here.
        let w0: Vec<Vec<f32>> = params[k - 4].to_vec2().unwrap();
        let b0: Vec<f32> = params[k - 3].to_vec1().unwrap();
        let input: Vec<Vec<f32>> = x_rows(&params, &x);
        let hidden: Vec<Vec<f32>> = input
            .iter()
            .map(|row| {
                (0..3).map(|o| (b0[o] + row.iter().zip(&w0).map(|(a, w)| a * w[o]).sum::<f32>()).max(0.0)).collect()
            })
            .collect();
        let w1_before: Vec<Vec<f32>> = params[k - 2].to_vec2().unwrap();
        let w1_after: Vec<Vec<f32>> = tuned[k - 2].to_vec2().unwrap();
        for o in 0..3 {
            let g = 2.0 / n * (0..support.len()).map(|j| resid[j] * hidden[j][o]).sum::<f32>();
            let got = w1_after[o][0] - w1_before[o][0];
            assert!((got + lr as f32 * g).abs() < 1e-5, "output weight {o}: moved {got}, want {}", -lr as f32 * g);
        }
        // An empty support set, or `pooled` (no fine-tuning): the parameters as trained.
        assert_eq!(fitted.fine_tune(&[], &dev).unwrap().len(), k);
        let same = Fitted { finetune: None, ..fitted };
        let kept = same.fine_tune(&support, &dev).unwrap();
        assert_eq!(kept[k - 1].to_vec1::<f32>().unwrap(), b_before);
    }

    /// Fine-tuning only the embedding rows the support reads gives, to the bit, what SGD on the
    /// whole tables gives (the reference loop below is the one `fine_tune` used to run), with a
    /// support that reads some rows twice and leaves others unread.
    #[test]
    fn fine_tuning_the_used_rows_equals_fine_tuning_the_tables() {
        let schema = Schema {
            user_fields: vec![Field { name: "u".into(), vocab: 4 }, Field { name: "g".into(), vocab: 2 }],
            item_fields: vec![Field { name: "i".into(), vocab: 6 }],
            item_numeric: vec![],
        };
        let features = std::sync::Arc::new(Features {
            schema,
            user_cat: vec![0, 1, 1, 0, 2, 1, 3, 0],
            item_cat: vec![0, 1, 2, 3, 4, 5],
            item_num: vec![],
            user_ids: vec![0, 1, 2, 3],
            item_ids: vec![0, 1, 2, 3, 4, 5],
        });
        let dev = Device::Cpu;
        let shape = NetShape::new(&features.schema, 3, &[5, 4]);
        let params = shape.init(&mut Rng::new(11), 3.5, &dev).unwrap();
        let (lr, steps) = (0.07, 6);
        let fitted = Fitted {
            name: "pooled-finetune",
            shape: shape.clone(),
            params: params.clone(),
            finetune: Some((lr, steps)),
            features: features.clone(),
            range: (1.0, 5.0),
            report: TrainReport::default(),
        };
        let support: Vec<Rating> = [(2, 4, 5.0), (2, 1, 2.0), (2, 4, 4.0), (2, 0, 1.0)]
            .iter()
            .map(|&(user, item, value)| Rating { user, item, value })
            .collect();
        let got = fitted.fine_tune(&support, &dev).unwrap();
        let vars = nn::to_vars(&params).unwrap();
        let x = Inputs::for_ratings(&features, &support, &dev).unwrap();
        let y = nn::targets(&support, &dev).unwrap();
        for _ in 0..steps {
            let p: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let grads = nn::mse(&shape.forward(&p, &x).unwrap(), &y).unwrap().backward().unwrap();
            for v in &vars {
                if let Some(g) = grads.get(v) {
                    v.set(&v.as_tensor().sub(&(g * lr).unwrap()).unwrap()).unwrap();
                }
            }
        }
        let want = nn::snapshot(&vars).unwrap();
        assert_eq!(got.len(), want.len());
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert_eq!(a.dims(), b.dims(), "parameter {k}");
            let (a, b) = (
                a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "parameter {k}: {a:?} != {b:?}");
        }
        // The item rows the support read moved; the others did not.
        let (before, after) = (params[2].to_vec2::<f32>().unwrap(), got[2].to_vec2::<f32>().unwrap());
        for r in 0..6 {
            assert_eq!(before[r] != after[r], [0, 1, 4].contains(&r), "item row {r}");
        }
    }

    /// The network's input rows (looked-up embeddings, then numeric features), by hand from the
    /// tables: user field then item field, as [`NetShape::forward`] concatenates them.
    fn x_rows(params: &[Tensor], x: &Inputs) -> Vec<Vec<f32>> {
        let user: Vec<Vec<f32>> = params[0].to_vec2().unwrap();
        let item: Vec<Vec<f32>> = params[1].to_vec2().unwrap();
        let (ui, ii): (Vec<u32>, Vec<u32>) = (x.user_idx[0].to_vec1().unwrap(), x.item_idx[0].to_vec1().unwrap());
        ui.iter().zip(&ii).map(|(u, i)| [user[*u as usize].clone(), item[*i as usize].clone()].concat()).collect()
    }
}
