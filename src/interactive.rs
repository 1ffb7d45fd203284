//! The runner's side of the online protocol (suites with `[interactive]`): a cell meta-trains a
//! policy (or a rating method, wrapped so that it plays) and plays every test user's episode
//! (`metarec_interactive::protocol::cell`); its rows go to results.csv like rating metrics.
//!
//! Seeds as for rating cells: meta-training draws from (suite, method, seed, "meta-train"),
//! each user's episode from (suite, method, seed, scenario, user); the environment's draws from
//! (suite, data seed, run seed, scenario, user), the same for every method.

use metarec_interactive::policy::{self, PolicyData, PolicyModel, wrapper::RatingPolicy};
use metarec_interactive::protocol::{self, CellInput};
use metarec_methods::{Ctx, MethodKind, Registry, TrainData};
use metarec_reports::ResultRow;
use metarec_suites::interactive::Interactive;
use metarec_suites::{LoadedSuite, Materialized, Rng};

/// The method registry with the interactive policies added (every policy `default_run = false`).
pub fn registry() -> Registry {
    let mut r = Registry::default();
    for info in policy::infos() {
        r.register(info);
    }
    r
}

/// Why `method` is not run on `suite`: a policy plays only on suites with `[interactive]`.
pub(crate) fn skip_reason(method: &str, params: &toml::Table, suite: &LoadedSuite) -> Option<String> {
    (suite.def.interactive.is_none() && policy::build(method, params).is_some())
        .then(|| "an interactive policy; this suite has no [interactive] table (no online protocol)".into())
}

/// The resolved `[interactive]` of a suite, if it has one.
pub(crate) fn config(suite: &LoadedSuite) -> Option<&Interactive> {
    suite.def.interactive.as_ref()
}

/// Runs one cell of an interactive suite; returns its rows, the meta-training report and the
/// meta-training time in seconds.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cell(
    loaded: &LoadedSuite,
    data: &Materialized,
    cfg: &Interactive,
    method_name: &str,
    params: &toml::Table,
    seed: u64,
    base: u64,
    registry: &Registry,
    device: &candle_core::Device,
) -> Result<(Vec<ResultRow>, metarec_methods::TrainReport, f64), String> {
    let info = registry.get(method_name).map_err(|e| e.to_string())?;
    let ds = &data.dataset;
    let split = &data.split;
    let like = cfg.like.unwrap_or_else(|| loaded.def.protocol.like_threshold());
    let mut ctx = crate::runner::meta_train_ctx(base, device);
    let t0 = std::time::Instant::now();
    let model: Box<dyn PolicyModel> = match policy::build(method_name, params) {
        Some(p) => {
            let p = p.map_err(|e| e.to_string())?;
            let pd = PolicyData {
                features: &ds.features,
                meta_train: &split.meta_train,
                like,
                truth: if info.kind == MethodKind::Reference { ds.truth.as_ref() } else { None },
                slate: cfg.slate,
                rounds: cfg.rounds(),
            };
            p.meta_train(&pd, &mut ctx).map_err(|e| e.to_string())?
        }
        None => {
            let method = (info.build)(params).map_err(|e| e.to_string())?;
            let train = TrainData {
                features: &ds.features,
                meta_train: &split.meta_train,
                validation: &split.validation,
                rating_min: ds.rating_min,
                rating_max: ds.rating_max,
                truth: if info.kind == MethodKind::Reference { ds.truth.as_deref() } else { None },
            };
            let model = method.meta_train(&train, &mut ctx).map_err(|e| e.to_string())?;
            Box::new(RatingPolicy { name: method_name.to_string(), model, features: ds.features.clone() })
        }
    };
    let report = model.report();
    let meta_train_s = t0.elapsed().as_secs_f64();
    let input = CellInput {
        suite: loaded.name(),
        dataset: ds,
        split,
        config: cfg,
        like,
        data_seed: loaded.def.data.seed,
        run_seed: seed,
    };
    let ctx_for = |sc: metarec_suites::Scenario, user: u32| Ctx {
        rng: Rng::from_labels(base, &[sc.name(), &user.to_string()]),
        device: device.clone(),
    };
    let rows = protocol::cell(&input, model.as_ref(), method_name, &ctx_for)?;
    let rows = rows
        .into_iter()
        .map(|(scenario, user, metric, value)| ResultRow {
            suite: loaded.name().to_string(),
            scenario: scenario.name().to_string(),
            method: method_name.to_string(),
            seed,
            perturbation: "none".into(),
            user: ds.features.user_ids[user as usize],
            metric,
            value,
        })
        .collect();
    Ok((rows, report, meta_train_s))
}
