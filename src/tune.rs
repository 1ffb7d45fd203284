//! Hyper-parameter tuning with an equal budget (`cargo xtask tune`): for each method, the same
//! number of trials of a seeded random search over its declared space
//! ([`metarec_methods::space`]), each trial meta-trained on the suite's meta-train users and
//! scored on its meta-validation users only. Test users are never read: the split's test tasks
//! are not passed to anything here.
//!
//! Reference methods (the oracle) are bounds and are not tuned. Trial 0 is the method's resolved values (defaults < suite file < `--config` < `--set`), so a
//! tuned choice is never worse on validation than the untuned one; trials 1.. draw every key of
//! the space independently. Each trial meta-trains with the stream of the bench cell
//! (suite, method, seed), so trial 0 is the model `bench` trains at that seed. The score is the
//! RMSE of every validation task's query ratings after adaptation to its support set (the loss
//! the methods' early stopping uses; the mean prediction, as RMSE scores it in the leaderboard),
//! pooled over ratings; a trial that fails or diverges scores infinity. Ties keep the lower
//! trial index.
//!
//! The outcome is a config file: `[methods.NAME]` with the chosen values of the tuned keys, which
//! `bench --config` takes, and `[tuning]` with the budget, every trial and the choice, which the
//! run's spec (and so its manifest) records and its reports state.

use crate::RunError;
use crate::runner::cell_seed;
use crate::spec::{BenchRequest, resolve};
use metarec_methods::{Ctx, MethodKind, Registry, SupportSet, TrainData, space};
use metarec_suites::suite::Materialized;
use metarec_suites::{Rng, Task};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What `cargo xtask tune` asks for.
#[derive(Clone, Debug, Default)]
pub struct TuneRequest {
    pub suite: String,
    /// Method names; `None`: the registry's default run.
    pub methods: Option<Vec<String>>,
    /// Trials per method (the budget), trial 0 included.
    pub trials: usize,
    /// The seed of the meta-training stream and of the search.
    pub seed: u64,
    /// A config file and `--set` overrides: the base values (trial 0).
    pub config: Option<String>,
    pub sets: Vec<String>,
    pub jobs: usize,
}

/// One trial: the values of the tuned keys and their validation score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub values: toml::Table,
    /// Pooled RMSE over the meta-validation users' query ratings (absent when the trial failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    #[serde(default)]
    pub steps: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One method's search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodTuning {
    pub name: String,
    /// `key range` per tuned key (empty: nothing to tune; one trial, the defaults).
    pub space: Vec<String>,
    /// Values of keys outside the space that `--config` or `--set` changed from the suite's
    /// (every trial ran with them; the config file carries them beside the choice).
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub fixed: toml::Table,
    /// Index of the chosen trial.
    pub chosen: usize,
    pub trials: Vec<Trial>,
}

impl MethodTuning {
    /// The chosen trial.
    pub fn choice(&self) -> &Trial {
        &self.trials[self.chosen]
    }
}

/// The record of a tuning run, written as `[tuning]` of the config file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    pub suite: String,
    pub data_sha256: String,
    pub split_sha256: String,
    pub seed: u64,
    /// Trials per method: the same budget for every method with a search space.
    pub trials: usize,
    pub validation_users: usize,
    pub search: String,
    pub scoring: String,
    pub methods: Vec<MethodTuning>,
}

/// Runs the search; `on_trial` is called as each trial finishes (method, trial index, trial).
pub fn tune(
    req: &TuneRequest,
    registry: &Registry,
    data_dir: Option<&Path>,
    on_trial: &(dyn Fn(&str, usize, &Trial) + Sync),
) -> Result<Tuning, RunError> {
    if req.trials == 0 {
        return Err(RunError::Input("--trials: must be at least 1".into()));
    }
    let spec = resolve(
        &BenchRequest {
            suites: vec![req.suite.clone()],
            methods: req.methods.clone(),
            seeds: Some(vec![req.seed]),
            device: None,
            config: req.config.clone(),
            sets: req.sets.clone(),
            ..BenchRequest::default()
        },
        registry,
    )?;
    let loaded = spec.load_suites()?.remove(0);
    // Trials are scored by rating RMSE on meta-validation users: an online or off-policy suite
    // has no such score.
    if loaded.def.interactive.is_some() || loaded.def.data.kind == metarec_suites::offline::OPEN_BANDIT_KIND {
        return Err(RunError::Input(format!(
            "--suite {}: tuning scores rating predictions of meta-validation users; an interactive or \
             off-policy suite has none",
            req.suite
        )));
    }
    let data = loaded.materialize_in(&metarec_suites::store::resolve_data_dir(data_dir)).map_err(RunError::Suite)?;
    tune_on(&spec, &data, req, registry, on_trial)
}

/// Per method, the values that `req`'s `--config` and `--set` change from the suite's.
fn fixed_overrides(
    spec: &crate::RunSpec,
    req: &TuneRequest,
    registry: &Registry,
) -> Result<Vec<toml::Table>, RunError> {
    let plain = resolve(
        &BenchRequest {
            suites: vec![req.suite.clone()],
            methods: Some(spec.suites[0].methods.iter().map(|m| m.name.clone()).collect()),
            seeds: Some(vec![req.seed]),
            ..BenchRequest::default()
        },
        registry,
    )?;
    Ok(spec.suites[0]
        .methods
        .iter()
        .zip(&plain.suites[0].methods)
        .map(|(m, p)| {
            m.params.iter().filter(|(k, v)| p.params.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
        })
        .collect())
}

/// [`tune`] on materialised data: `spec` holds one suite (its resolved methods are trial 0) and
/// `data` is that suite's dataset and split. Only the split's meta-train and meta-validation
/// users are read.
pub fn tune_on(
    spec: &crate::RunSpec,
    data: &Materialized,
    req: &TuneRequest,
    registry: &Registry,
    on_trial: &(dyn Fn(&str, usize, &Trial) + Sync),
) -> Result<Tuning, RunError> {
    let suite = &spec.suites[0];
    if data.split.validation.is_empty() {
        return Err(RunError::Input(format!("suite `{}`: no meta-validation users to tune on", suite.name)));
    }
    let ds = &data.dataset;
    let train = TrainData::of(data);

    // Every (method, trial) with its overrides, drawn up front so the search does not depend on
    // scheduling.
    let mut work: Vec<(usize, usize, toml::Table, toml::Table)> = Vec::new();
    let mut methods = Vec::new();
    let fixed = fixed_overrides(spec, req, registry)?;
    for (mi, m) in suite.methods.iter().enumerate() {
        // A reference (the oracle) is a bound, not a competitor: never tuned; a multi-task method
        // is scored per objective, not by one rating RMSE: not tuned here either.
        if registry.get(&m.name).map_err(RunError::Method)?.kind == MethodKind::Reference
            || metarec_methods::mtl::needs_objectives(&m.name)
        {
            continue;
        }
        let dims = space::of(&m.name);
        let n = if dims.is_empty() { 1 } else { req.trials };
        let base: toml::Table =
            dims.iter().filter_map(|d| Some((d.key().to_string(), m.params.get(d.key())?.clone()))).collect();
        let mut rng = Rng::from_labels(cell_seed(&suite.name, &m.name, req.seed), &["tune"]);
        for t in 0..n {
            let values = if t == 0 { base.clone() } else { space::draw(dims, &mut rng) };
            let mut table = m.params.clone();
            table.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
            work.push((mi, t, values, table));
        }
        methods.push(MethodTuning {
            name: m.name.clone(),
            space: dims.iter().map(|d| format!("{} {}", d.key(), d.describe())).collect(),
            fixed: fixed[mi]
                .iter()
                .filter(|(k, _)| !dims.iter().any(|d| d.key() == k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            chosen: 0,
            trials: Vec::new(),
        });
    }

    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Trial)>> = Mutex::new(Vec::new());
    let device = crate::runner::make_device(spec.device)?;
    std::thread::scope(|scope| {
        for _ in 0..req.jobs.max(1).min(work.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((mi, t, values, table)) = work.get(i) else { return };
                    let name = &suite.methods[*mi].name;
                    let trial = run_trial(registry, name, table, values, &train, &suite.name, req.seed, &device);
                    on_trial(name, *t, &trial);
                    done.lock().expect("lock").push((i, trial));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("lock");
    done.sort_by_key(|(i, _)| *i);
    for (i, trial) in done {
        let name = &suite.methods[work[i].0].name;
        methods.iter_mut().find(|m| &m.name == name).expect("tuned method").trials.push(trial);
    }
    for m in &mut methods {
        let score = |t: &Trial| t.rmse.unwrap_or(f64::INFINITY);
        m.chosen =
            (0..m.trials.len()).fold(0, |best, t| if score(&m.trials[t]) < score(&m.trials[best]) { t } else { best });
    }
    Ok(Tuning {
        suite: suite.name.clone(),
        data_sha256: ds.sha256.clone(),
        split_sha256: data.split.sha256.clone(),
        seed: req.seed,
        trials: req.trials,
        validation_users: data.split.validation.len(),
        search: "seeded random search over each method's declared space; trial 0 is the method's resolved \
                 values (defaults < suite file < --config < --set)"
            .into(),
        scoring: "RMSE of the meta-validation users' query ratings after adaptation to their support sets, \
                  pooled over ratings; lowest wins; test users are not read"
            .into(),
        methods,
    })
}

#[allow(clippy::too_many_arguments)]
fn run_trial(
    registry: &Registry,
    name: &str,
    table: &toml::Table,
    values: &toml::Table,
    train: &TrainData<'_>,
    suite: &str,
    seed: u64,
    device: &candle_core::Device,
) -> Trial {
    let mut trial = Trial { values: values.clone(), rmse: None, steps: 0, chosen_step: None, error: None };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<_, String> {
        let method = (registry.get(name).map_err(|e| e.to_string())?.build)(table).map_err(|e| e.to_string())?;
        let base = cell_seed(suite, name, seed);
        let mut ctx = crate::runner::meta_train_ctx(base, device);
        let model = method.meta_train(train, &mut ctx).map_err(|e| e.to_string())?;
        let report = model.report();
        let rmse = validation_rmse(&*model, train, base, device)?;
        Ok((report, rmse))
    }));
    match outcome {
        Ok(Ok((report, rmse))) => {
            trial.steps = report.steps;
            trial.chosen_step = report.chosen_step;
            if rmse.is_finite() {
                trial.rmse = Some(rmse);
            } else {
                trial.error = Some(format!("validation RMSE is {rmse}"));
            }
        }
        Ok(Err(e)) => trial.error = Some(e),
        Err(_) => trial.error = Some(format!("method `{name}` panicked")),
    }
    trial
}

/// Pooled RMSE of `train.validation`'s query ratings after adapting to each support set.
fn validation_rmse(
    model: &dyn metarec_methods::Model,
    train: &TrainData<'_>,
    base: u64,
    device: &candle_core::Device,
) -> Result<f64, String> {
    let (mut sse, mut n) = (0.0f64, 0usize);
    for task in train.validation {
        let Task { user, support, query, .. } = task;
        let mut ctx =
            Ctx { rng: Rng::from_labels(base, &["tune-validation", &user.to_string()]), device: device.clone() };
        let adapted = model
            .adapt(&SupportSet { user: *user, support, features: train.features }, &mut ctx)
            .map_err(|e| e.to_string())?;
        let items: Vec<u32> = query.iter().map(|r| r.item).collect();
        let pred = adapted.predict(&items).map_err(|e| e.to_string())?;
        for (p, r) in pred.mean.iter().zip(query) {
            sse += (p - f64::from(r.value)).powi(2);
            n += 1;
        }
    }
    Ok(if n == 0 { f64::NAN } else { (sse / n as f64).sqrt() })
}

/// The config file of a tuning: `[methods.NAME]` with the chosen values, then `[tuning]`.
pub fn config_text(t: &Tuning, command: &str) -> String {
    let mut methods = toml::Table::new();
    for m in t.methods.iter().filter(|m| !m.space.is_empty() || !m.fixed.is_empty()) {
        let mut table = m.fixed.clone();
        table.extend(m.choice().values.iter().map(|(k, v)| (k.clone(), v.clone())));
        methods.insert(m.name.clone(), toml::Value::Table(table));
    }
    let mut doc = toml::Table::new();
    doc.insert("methods".into(), toml::Value::Table(methods));
    doc.insert("tuning".into(), toml::Value::try_from(t).expect("tuning serialises"));
    format!(
        "# Chosen by `{command}` ({} trials per method, scored on {} meta-validation users of suite `{}`).\n\
         # Use with `cargo xtask bench --config THIS_FILE`; [tuning] is recorded in the run's manifest.\n{}",
        t.trials,
        t.validation_users,
        t.suite,
        toml::to_string(&doc).expect("config serialises")
    )
}
