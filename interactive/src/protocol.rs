//! The online protocol: per test user, `T` rounds of slate, feedback, adaptation; the per-user
//! metrics at each reported horizon.
//!
//! Metrics of one user at horizon `T` (rows of results.csv, like rating metrics, so the
//! paired tests and intervals apply as they are):
//! - `reward@T`: clicks in rounds `1..=T` (realised);
//! - `regret@T`: `sum_{t <= T} (oracle's expected reward at t - expected reward of the slate
//!   shown at t)`, the pseudo-regret against the oracle policy, computed from the
//!   environment's exact expectations ([`Env::expected`], [`Env::oracle_round`]): exact on
//!   synthetic worlds, and on replay (where rewards are deterministic) the oracle's clicks
//!   minus the policy's;
//! - `ctr@T`: `reward@T / (T k)`.
//!
//! [`cell`] plays every test user of every scenario of a split for one policy model; the
//! runner writes its rows.

use crate::env::{Env, ReplayEnv, TruthEnv};
use crate::policy::{Policy, PolicyModel};
use metarec_methods::Ctx;
use metarec_suites::interactive::{EnvKind, Interactive};
use metarec_suites::{Dataset, Rng, Scenario, Split};

/// One user's episode: per round, clicks, the expected reward of the slate and the oracle's.
#[derive(Clone, Debug, PartialEq)]
pub struct Episode {
    pub clicks: Vec<f64>,
    pub expected: Vec<f64>,
    pub oracle: Vec<f64>,
}

/// Plays `rounds` rounds of slates of `k` between `policy` and `env`. A slate that is not `k`
/// distinct available items is an error naming `method`.
pub fn play(
    env: &mut dyn Env,
    policy: &mut dyn Policy,
    k: usize,
    rounds: usize,
    rng: &mut Rng,
    method: &str,
) -> Result<Episode, String> {
    let mut ep = Episode { clicks: Vec::new(), expected: Vec::new(), oracle: Vec::new() };
    let mut shown: Vec<u32> = Vec::new();
    for t in 1..=rounds {
        let available: Vec<u32> = if env.repeats() {
            env.candidates().to_vec()
        } else {
            env.candidates().iter().copied().filter(|i| shown.binary_search(i).is_err()).collect()
        };
        let slate = policy.slate(&available, k, rng).map_err(|e| format!("{e} (round {t})"))?;
        let mut sorted = slate.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if slate.len() != k || sorted.len() != k || sorted.iter().any(|i| available.binary_search(i).is_err()) {
            return Err(format!("method `{method}` proposed {slate:?}, not {k} distinct available items (round {t})"));
        }
        ep.expected.push(env.expected(&slate));
        ep.oracle.push(env.oracle_round(t, k));
        let fb = env.show(&slate);
        ep.clicks.push(fb.iter().filter(|f| f.click).count() as f64);
        policy.observe(&fb, rng).map_err(|e| format!("{e} (round {t})"))?;
        for i in sorted {
            if let Err(p) = shown.binary_search(&i) {
                shown.insert(p, i);
            }
        }
    }
    Ok(ep)
}

/// `reward@T`, `regret@T`, `ctr@T` for each horizon, in that order per horizon.
pub fn metrics(ep: &Episode, horizons: &[usize], k: usize) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for &h in horizons {
        let reward: f64 = ep.clicks[..h].iter().sum();
        let regret: f64 = ep.oracle[..h].iter().zip(&ep.expected[..h]).map(|(o, e)| o - e).sum();
        out.push((format!("reward@{h}"), reward));
        out.push((format!("regret@{h}"), regret));
        out.push((format!("ctr@{h}"), reward / (h * k) as f64));
    }
    out
}

/// The metric names of a suite's horizons (for documentation and checks).
pub fn metric_names(horizons: &[usize]) -> Vec<String> {
    horizons.iter().flat_map(|h| [format!("reward@{h}"), format!("regret@{h}"), format!("ctr@{h}")]).collect()
}

/// Everything one cell needs besides the policy.
pub struct CellInput<'a> {
    pub suite: &'a str,
    pub dataset: &'a Dataset,
    pub split: &'a Split,
    pub config: &'a Interactive,
    pub like: f32,
    /// The suite's data seed (candidate sampling) and the run seed (environment draws).
    pub data_seed: u64,
    pub run_seed: u64,
}

/// One row: scenario, user (dense index), metric, value.
pub type Row = (Scenario, u32, String, f64);

/// The candidate set of `user` in `scenario`: the items of the scenario's item state (new items
/// for the item-cold scenarios, existing ones otherwise), less the user's meta-train items
/// under replay, then `config.candidates` of them sampled (seeded by the data seed, scenario
/// and user) when set.
pub fn candidates(input: &CellInput<'_>, scenario: Scenario, user: u32) -> Vec<u32> {
    let new_items = matches!(scenario, Scenario::ItemCold | Scenario::UserItemCold);
    let mut trained: Vec<u32> = input
        .split
        .meta_train
        .iter()
        .filter(|h| h.user == user)
        .flat_map(|h| h.ratings.iter().map(|r| r.item))
        .collect();
    trained.sort_unstable();
    let replay = input.config.env == EnvKind::Replay;
    let items: Vec<u32> = (0..input.split.item_is_new.len() as u32)
        .filter(|i| input.split.item_is_new[*i as usize] == new_items)
        .filter(|i| !replay || trained.binary_search(i).is_err())
        .collect();
    match input.config.candidates {
        Some(n) if n < items.len() => {
            let mut rng =
                Rng::from_labels(input.data_seed, &["interactive-candidates", scenario.name(), &user.to_string()]);
            let mut pick: Vec<u32> = rng.sample_indices(items.len(), n).into_iter().map(|k| items[k]).collect();
            pick.sort_unstable();
            pick
        }
        _ => items,
    }
}

/// The environment of one test user.
pub fn environment(input: &CellInput<'_>, scenario: Scenario, user: u32) -> Result<Box<dyn Env>, String> {
    let cands = candidates(input, scenario, user);
    let user_id = input.dataset.features.user_ids[user as usize];
    input.config.check_candidates(user_id, cands.len()).map_err(|e| format!("{e} (scenario {scenario})"))?;
    let seed = metarec_suites::rng::derive_seed(
        input.data_seed,
        &[input.suite, "interactive-env", &input.run_seed.to_string(), scenario.name(), &user.to_string()],
    );
    Ok(match input.config.env {
        EnvKind::Truth => {
            let truth = input.dataset.truth.clone().ok_or("interactive.env = \"truth\" needs a synthetic world")?;
            Box::new(TruthEnv::new(truth, user, cands, input.like, seed))
        }
        EnvKind::Replay => {
            let rated: Vec<(u32, f32)> =
                input.dataset.ratings.iter().filter(|r| r.user == user).map(|r| (r.item, r.value)).collect();
            Box::new(ReplayEnv::new(user, cands, &rated, input.like))
        }
    })
}

/// Plays every test user of every scenario with `model`; `ctx_for(scenario, user)` gives each
/// user's generator (seeded by the caller from the cell and the user).
pub fn cell(
    input: &CellInput<'_>,
    model: &dyn PolicyModel,
    method: &str,
    ctx_for: &dyn Fn(Scenario, u32) -> Ctx,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let k = input.config.slate;
    for (scenario, tasks) in &input.split.test {
        for task in tasks {
            let user_id = input.dataset.features.user_ids[task.user as usize];
            let where_ = format!("scenario {scenario}, user {user_id}");
            let mut env = environment(input, *scenario, task.user)?;
            let mut ctx = ctx_for(*scenario, task.user);
            let mut policy = model.start(task.user, &mut ctx).map_err(|e| format!("{e} ({where_})"))?;
            let ep = play(env.as_mut(), policy.as_mut(), k, input.config.rounds(), &mut ctx.rng, method)
                .map_err(|e| format!("{e} ({where_})"))?;
            for (m, v) in metrics(&ep, &input.config.horizons, k) {
                rows.push((*scenario, task.user, m, v));
            }
        }
    }
    Ok(rows)
}
