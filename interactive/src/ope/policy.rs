//! Context-free evaluation policies as action distributions ([`super::ActionDist`]).
//!
//! - [`bernoulli_ts`]: obp's `BernoulliTS.compute_batch_action_dist` (obp/policy/contextfree.py):
//!   `n_sim` times, draw θ_a ~ Beta(α_a + clicks_a, β_a + shows_a − clicks_a) for every action,
//!   recommend the `len_list` largest in decreasing order, and count each action at each
//!   position; the distribution is the counts over `n_sim`. With obp's `is_zozotown_prior` the
//!   prior is the production one (`prior_bts.yaml`) and the counts are zero. The draws come from
//!   our seeded generator, not numpy's, so the distribution equals obp's up to Monte-Carlo error.
//! - [`uniform`]: obp's `Random`: 1 / n_actions at every position.
//! - [`popularity`]: ours: the `len_list` most clicked items of the fitting logs, the most
//!   clicked at the first position (ties: the lower item id); a deterministic policy.

use super::ActionDist;
use crate::obd::{BetaPrior, Logs};
use metarec_suites::Rng;

/// obp's `Random` policy.
pub fn uniform(n_actions: usize, len_list: usize) -> ActionDist {
    ActionDist { n_actions, len_list, p: vec![1.0 / n_actions as f64; n_actions * len_list] }
}

/// Clicks and shows per item of `logs` (all positions together, as obp's `update_params`).
pub fn item_counts(logs: &Logs, n_actions: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut clicks, mut shows) = (vec![0.0; n_actions], vec![0.0; n_actions]);
    for i in 0..logs.n_rounds() {
        let a = logs.action[i] as usize;
        if a < n_actions {
            clicks[a] += logs.reward[i];
            shows[a] += 1.0;
        }
    }
    (clicks, shows)
}

/// The posterior of `prior` after `clicks` in `shows` per action (Beta-Bernoulli).
pub fn posterior(prior: &BetaPrior, clicks: &[f64], shows: &[f64]) -> BetaPrior {
    BetaPrior {
        alpha: prior.alpha.iter().zip(clicks).map(|(a, c)| a + c).collect(),
        beta: prior.beta.iter().zip(clicks.iter().zip(shows)).map(|(b, (c, s))| b + s - c).collect(),
    }
}

/// obp's `BernoulliTS.compute_batch_action_dist` with Beta parameters `prior` (see the module docs).
pub fn bernoulli_ts(prior: &BetaPrior, len_list: usize, n_sim: usize, rng: &mut Rng) -> Result<ActionDist, String> {
    let n = prior.alpha.len();
    if n == 0 || prior.beta.len() != n || len_list == 0 || len_list > n || n_sim == 0 {
        return Err(format!(
            "bernoulli-ts: {} alpha, {} beta values, {len_list} positions, {n_sim} simulations",
            n,
            prior.beta.len()
        ));
    }
    let mut counts = vec![0u64; n * len_list];
    let mut theta = vec![0.0; n];
    let mut order: Vec<usize> = (0..n).collect();
    for _ in 0..n_sim {
        for (a, t) in theta.iter_mut().enumerate() {
            *t = rng.beta(prior.alpha[a], prior.beta[a]);
        }
        order.sort_unstable_by(|x, y| theta[*y].total_cmp(&theta[*x]).then(x.cmp(y)));
        for (k, a) in order.iter().take(len_list).enumerate() {
            counts[a * len_list + k] += 1;
        }
        // Deterministic regardless of the previous order: re-sort from the identity next time.
        order.sort_unstable();
    }
    Ok(ActionDist { n_actions: n, len_list, p: counts.iter().map(|c| *c as f64 / n_sim as f64).collect() })
}

/// The `len_list` most clicked items of `fit` (ties: the lower item id), position by position.
pub fn popularity(fit: &Logs, n_actions: usize, len_list: usize) -> ActionDist {
    let (clicks, _) = item_counts(fit, n_actions);
    let mut order: Vec<usize> = (0..n_actions).collect();
    order.sort_by(|x, y| clicks[*y].total_cmp(&clicks[*x]).then(x.cmp(y)));
    let mut p = vec![0.0; n_actions * len_list];
    for (k, a) in order.iter().take(len_list).enumerate() {
        p[a * len_list + k] = 1.0;
    }
    ActionDist { n_actions, len_list, p }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bernoulli_ts_matches_its_closed_form_on_two_arms() {
        // θ_0 ~ Beta(2, 1) (density 2x), θ_1 ~ Beta(1, 1): P(θ_0 > θ_1) = E[θ_0] = 2/3.
        let prior = BetaPrior { alpha: vec![2.0, 1.0], beta: vec![1.0, 1.0] };
        let d = bernoulli_ts(&prior, 2, 60_000, &mut Rng::new(1)).unwrap();
        assert!((d.get(0, 0) - 2.0 / 3.0).abs() < 0.01, "{:?}", d.p);
        for k in 0..2 {
            assert!((d.get(0, k) + d.get(1, k) - 1.0).abs() < 1e-12);
        }
        assert!((d.get(1, 1) - d.get(0, 0)).abs() < 1e-12); // second place is the other arm
        // Seeded: same seed, same distribution.
        assert_eq!(d, bernoulli_ts(&prior, 2, 60_000, &mut Rng::new(1)).unwrap());
    }

    #[test]
    fn popularity_and_uniform_are_distributions() {
        let fit = Logs {
            source: "fit".into(),
            n_actions: 4,
            len_list: 2,
            action: vec![2, 2, 1, 3, 3],
            position: vec![0, 1, 0, 1, 0],
            reward: vec![1.0, 1.0, 0.0, 1.0, 0.0],
            pscore: vec![1.0; 5],
        };
        let d = popularity(&fit, 4, 2);
        assert_eq!((d.get(2, 0), d.get(3, 1)), (1.0, 1.0));
        assert_eq!(d.check(&fit), Ok(()));
        assert_eq!(uniform(4, 2).check(&fit), Ok(()));
        let post = posterior(
            &BetaPrior { alpha: vec![1.0; 4], beta: vec![1.0; 4] },
            &[0.0, 0.0, 2.0, 1.0],
            &[0.0, 1.0, 2.0, 2.0],
        );
        assert_eq!((post.alpha[2], post.beta[2], post.beta[1], post.beta[3]), (3.0, 1.0, 2.0, 2.0));
        assert_eq!(item_counts(&fit, 4), (vec![0.0, 0.0, 2.0, 1.0], vec![0.0, 1.0, 2.0, 2.0]));
    }
}
