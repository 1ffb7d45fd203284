//! An off-policy suite evaluated: every policy by every estimator on the behaviour logs, with
//! bootstrap intervals, beside the on-policy mean click of the logs named `on_policy` (and of
//! the behaviour logs themselves).
//!
//! Policies (`[open-bandit] policies`):
//! - `bts`: obp's Bernoulli TS with the production prior of the campaign (`is_zozotown_prior`),
//!   the policy that logged the `bts` logs;
//! - `bts-fitted`: ours, Bernoulli TS with a uniform Beta(1, 1) prior updated with the clicks
//!   and shows per item of the `fit` logs;
//! - `random`: obp's `Random` (uniform), the policy that logged the `random` logs;
//! - `popularity`: ours, the most clicked items of the `fit` logs.
//!
//! `fit` must differ from `behavior` (checked when the suite is parsed), so no round is used
//! both to fit a policy and to evaluate it. Random streams are labelled by (seed, suite, use):
//! each policy's Monte-Carlo draws, the reward model's folds, and one bootstrap resample of the
//! behaviour logs shared by every (policy, estimator) column.

use super::policy::{bernoulli_ts, item_counts, popularity, posterior, uniform};
use super::{ActionDist, Estimator, RewardModel, bootstrap, mean, round_values};
use crate::obd::{BetaPrior, Logs, ObdError, logs_path, prior_path, read_logs, read_prior};
use metarec_reports::off_policy::OffPolicyRow;
use metarec_suites::Rng;
use metarec_suites::offline::OpenBanditSpec;
use std::collections::BTreeMap;
use std::path::Path;

/// The estimator name of an on-policy row: the mean reward of logs under their own policy.
pub const ON_POLICY: &str = "on-policy";

/// The logs and prior an off-policy suite reads.
#[derive(Clone, Debug)]
pub struct SuiteData {
    pub behavior: Logs,
    pub on_policy: Logs,
    pub fit: Logs,
    pub prior: BTreeMap<String, BetaPrior>,
}

/// Reads the files `spec` names from the installed `obp/` folder `root`.
pub fn read_suite_data(spec: &OpenBanditSpec, root: &Path) -> Result<SuiteData, ObdError> {
    let logs = |b: &str| read_logs(&logs_path(root, b, &spec.campaign));
    Ok(SuiteData {
        behavior: logs(&spec.behavior)?,
        on_policy: logs(&spec.on_policy)?,
        fit: logs(&spec.fit)?,
        prior: read_prior(&prior_path(root))?,
    })
}

/// The action distribution of the policy `name` (see the module docs).
pub fn policy_dist(name: &str, spec: &OpenBanditSpec, data: &SuiteData, rng: &mut Rng) -> Result<ActionDist, String> {
    let (n_actions, len_list) = (data.behavior.n_actions, data.behavior.len_list);
    match name {
        "bts" => {
            let prior = data.prior.get(&spec.campaign).ok_or_else(|| {
                format!("prior_bts.yaml has no campaign `{}` (it has {:?})", spec.campaign, data.prior.keys())
            })?;
            if prior.alpha.len() != n_actions {
                return Err(format!(
                    "the production prior of `{}` has {} actions, {} has {n_actions}",
                    spec.campaign,
                    prior.alpha.len(),
                    data.behavior.source
                ));
            }
            bernoulli_ts(prior, len_list, spec.n_sim, rng)
        }
        "bts-fitted" => {
            let (clicks, shows) = item_counts(&data.fit, n_actions);
            let flat = BetaPrior { alpha: vec![1.0; n_actions], beta: vec![1.0; n_actions] };
            bernoulli_ts(&posterior(&flat, &clicks, &shows), len_list, spec.n_sim, rng)
        }
        "random" => Ok(uniform(n_actions, len_list)),
        "popularity" => Ok(popularity(&data.fit, n_actions, len_list)),
        other => Err(format!("unknown policy `{other}`")),
    }
}

/// Every estimate of the suite for one seed: the policies × estimators on the behaviour logs,
/// then the on-policy rows (the `on_policy` logs, then the behaviour logs), as rows of
/// `off-policy.csv` (`estimate` on the full logs as obp's `estimate_policy_value`, `boot_mean`
/// the mean of the bootstrap means as obp's interval `mean`).
pub fn evaluate(spec: &OpenBanditSpec, data: &SuiteData, suite: &str, seed: u64) -> Result<Vec<OffPolicyRow>, String> {
    spec.check()?;
    for logs in [&data.behavior, &data.on_policy, &data.fit] {
        logs.check()?;
    }
    let label = |b: &str| format!("{b}/{}", spec.campaign);
    let estimators: Vec<Estimator> = spec
        .estimators
        .iter()
        .map(|e| Estimator::parse(e).ok_or_else(|| format!("unknown estimator `{e}`")))
        .collect::<Result<_, _>>()?;
    let logs = &data.behavior;
    let model = if estimators.iter().any(|e| e.uses_model()) {
        let mut rng = Rng::from_labels(seed, &[suite, "reward-model"]);
        Some(RewardModel::fit(logs, spec.dm_folds, spec.dm_shrinkage, &mut rng))
    } else {
        None
    };
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    for p in &spec.policies {
        let mut rng = Rng::from_labels(seed, &[suite, "policy", p]);
        let pi = policy_dist(p, spec, data, &mut rng)?;
        for e in &estimators {
            columns.push(round_values(*e, logs, &pi, model.as_ref()).map_err(|m| format!("{p}: {m}"))?);
            keys.push((p.clone(), e.name().to_string()));
        }
    }
    let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let mut rng = Rng::from_labels(seed, &[suite, "bootstrap", &spec.behavior]);
    let intervals = bootstrap(&refs, spec.n_bootstrap, spec.alpha, &mut rng);
    let row =
        |logs: String, policy: String, estimator: String, estimate: f64, ci: super::Interval, n: usize| OffPolicyRow {
            suite: suite.to_string(),
            seed,
            logs,
            policy,
            estimator,
            estimate,
            boot_mean: ci.mean,
            ci_low: ci.low,
            ci_high: ci.high,
            n_rounds: n as u64,
            n_bootstrap: spec.n_bootstrap as u64,
            alpha: spec.alpha,
        };
    let mut out: Vec<OffPolicyRow> = keys
        .into_iter()
        .zip(columns.iter().zip(intervals))
        .map(|((policy, estimator), (v, ci))| row(label(&spec.behavior), policy, estimator, mean(v), ci, v.len()))
        .collect();
    // On-policy rows: the mean click of each logs under the policy that logged them.
    for (behavior, l) in [(&spec.on_policy, &data.on_policy), (&spec.behavior, &data.behavior)] {
        let mut rng = Rng::from_labels(seed, &[suite, "bootstrap", behavior]);
        let ci = bootstrap(&[&l.reward], spec.n_bootstrap, spec.alpha, &mut rng)[0];
        out.push(row(label(behavior), behavior.clone(), ON_POLICY.into(), l.mean_reward(), ci, l.n_rounds()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniform logs over 4 items and 2 positions with click rates by item.
    fn logs(seed: u64, name: &str) -> Logs {
        let mut rng = Rng::new(seed);
        let n = 4000;
        let action: Vec<u32> = (0..n).map(|_| rng.below(4) as u32).collect();
        let position: Vec<u8> = (0..n).map(|_| rng.below(2) as u8).collect();
        let reward = action.iter().map(|a| f64::from(rng.uniform() < [0.05, 0.1, 0.2, 0.4][*a as usize])).collect();
        Logs { source: name.into(), n_actions: 4, len_list: 2, action, position, reward, pscore: vec![0.25; n] }
    }

    fn data() -> SuiteData {
        let prior = BetaPrior { alpha: vec![1.0, 1.0, 1.0, 30.0], beta: vec![10.0, 10.0, 10.0, 10.0] };
        SuiteData {
            behavior: logs(1, "random"),
            on_policy: logs(2, "bts"),
            fit: logs(3, "bts"),
            prior: [("all".to_string(), prior)].into(),
        }
    }

    fn spec() -> OpenBanditSpec {
        OpenBanditSpec {
            policies: vec!["bts".into(), "bts-fitted".into(), "random".into(), "popularity".into()],
            n_bootstrap: 300,
            n_sim: 2000,
            ..OpenBanditSpec::default()
        }
    }

    #[test]
    fn every_policy_and_estimator_is_estimated_with_an_interval_and_seeded() {
        let (spec, data) = (spec(), data());
        let rows = evaluate(&spec, &data, "s", 0).unwrap();
        assert_eq!(rows.len(), 4 * 4 + 2);
        for r in &rows {
            assert!(r.ci_low <= r.boot_mean && r.boot_mean <= r.ci_high, "{r:?}");
            assert!(r.ci_low <= r.estimate + 0.02 && r.estimate - 0.02 <= r.ci_high, "{r:?}");
        }
        let get = |p: &str, e: &str| rows.iter().find(|r| r.policy == p && r.estimator == e).unwrap();
        // The uniform policy on uniform logs: IPW and SNIPW are the on-policy mean exactly.
        let on = get("random", ON_POLICY);
        assert_eq!(on.logs, "random/all");
        assert!((get("random", "ipw").estimate - on.estimate).abs() < 1e-12);
        assert!((get("random", "snipw").estimate - on.estimate).abs() < 1e-12);
        // Popularity shows items 3 then 2 (true rates 0.4, 0.2): IPW near their mean, 0.3.
        assert!((get("popularity", "ipw").estimate - 0.3).abs() < 0.04, "{:?}", get("popularity", "ipw"));
        assert!((get("popularity", "dm").estimate - 0.3).abs() < 0.03);
        // The production-like prior favours item 3: better than random by every estimator.
        for e in ["ipw", "snipw", "dm", "dr"] {
            assert!(get("bts", e).estimate > on.estimate, "{e}");
        }
        assert_eq!(get("bts", ON_POLICY).logs, "bts/all");
        // Same seed, same rows; another seed, other intervals.
        assert_eq!(rows, evaluate(&spec, &data, "s", 0).unwrap());
        assert_ne!(rows, evaluate(&spec, &data, "s", 1).unwrap());
    }

    #[test]
    fn a_prior_of_the_wrong_size_is_named() {
        let (spec, mut data) = (spec(), data());
        data.prior.get_mut("all").unwrap().alpha.pop();
        data.prior.get_mut("all").unwrap().beta.pop();
        let err = evaluate(&spec, &data, "s", 0).unwrap_err();
        assert!(err.contains("the production prior of `all` has 3 actions, random has 4"), "{err}");
    }
}
