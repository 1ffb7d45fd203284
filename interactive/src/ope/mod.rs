//! Off-policy estimators with bootstrap intervals, following obp's definitions
//! (`obp/ope/estimators.py`, obp 0.4.1) for context-free evaluation policies.
//!
//! Notation: round i logged action a_i at position k_i with reward r_i and propensity p_i;
//! π_e(a | k) is the evaluation policy's probability of action a at position k; the weight is
//! w_i = π_e(a_i | k_i) / p_i; q̂_i(a, k) is the reward model's prediction for round i.
//!
//! - IPW: (1/n) Σ r_i w_i (obp's `InverseProbabilityWeighting`, no clipping);
//! - SNIPW: (1/n) Σ r_i w_i / mean(w) (`SelfNormalizedInverseProbabilityWeighting`);
//! - DM: (1/n) Σ_i Σ_a π_e(a | k_i) q̂_i(a, k_i) (`DirectMethod`: the policy at the logged
//!   position);
//! - DR: DM's round value + w_i (r_i − q̂_i(a_i, k_i)) (`DoublyRobust`).
//!
//! Each estimator is the mean of per-round values ([`round_values`]); the interval is obp's
//! `estimate_confidence_interval_by_bootstrap`: resample the per-round values with replacement
//! `n_bootstrap` times, take the mean of each resample, and report the mean of those means and
//! their `alpha/2` and `1 − alpha/2` percentiles (numpy's linear interpolation). As in obp,
//! SNIPW's normaliser is that of the full sample, not recomputed per resample. [`bootstrap`]
//! resamples the rounds once for all value columns (obp passes the same `random_state` to every
//! estimator, so its estimators share their resamples too).
//!
//! The reward model ([`RewardModel`]) is ours, not obp's quickstart's (a logistic regression on
//! the user features and the item's features, 3-fold cross-fitted): per (item, position), the
//! click rate shrunk towards the position's click rate by `m` pseudo-rounds,
//! q̂(a, k) = (clicks(a, k) + m · ctr(k)) / (shows(a, k) + m), cross-fitted over seeded folds.
//! It ignores the user context, as every policy evaluated here does.

pub mod evaluate;
pub mod policy;

use metarec_suites::Rng;

use crate::obd::Logs;

/// A context-free evaluation policy's distribution: `p[a * len_list + k]` = π_e(a | k).
#[derive(Clone, Debug, PartialEq)]
pub struct ActionDist {
    pub n_actions: usize,
    pub len_list: usize,
    pub p: Vec<f64>,
}

impl ActionDist {
    pub fn get(&self, action: usize, position: usize) -> f64 {
        self.p[action * self.len_list + position]
    }

    /// Checks that it covers `logs` and that each position's column is a distribution.
    pub fn check(&self, logs: &Logs) -> Result<(), String> {
        if self.n_actions < logs.n_actions || self.len_list < logs.len_list {
            return Err(format!(
                "the evaluation policy has {} actions and {} positions; {} needs {} and {}",
                self.n_actions, self.len_list, logs.source, logs.n_actions, logs.len_list
            ));
        }
        for k in 0..self.len_list {
            let total: f64 = (0..self.n_actions).map(|a| self.get(a, k)).sum();
            if (total - 1.0).abs() > 1e-9 || (0..self.n_actions).any(|a| !(self.get(a, k) >= 0.0)) {
                return Err(format!("the evaluation policy's probabilities at position {} sum to {total}", k + 1));
            }
        }
        Ok(())
    }
}

/// An off-policy estimator of obp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Estimator {
    Ipw,
    Snipw,
    Dm,
    Dr,
}

impl Estimator {
    pub fn parse(s: &str) -> Option<Estimator> {
        Some(match s {
            "ipw" => Estimator::Ipw,
            "snipw" => Estimator::Snipw,
            "dm" => Estimator::Dm,
            "dr" => Estimator::Dr,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Estimator::Ipw => "ipw",
            Estimator::Snipw => "snipw",
            Estimator::Dm => "dm",
            Estimator::Dr => "dr",
        }
    }

    /// Whether it needs the reward model.
    pub fn uses_model(self) -> bool {
        matches!(self, Estimator::Dm | Estimator::Dr)
    }
}

/// Per-round predictions of the reward model: `q[i * n_actions * len_list + a * len_list + k]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RewardModel {
    pub n_actions: usize,
    pub len_list: usize,
    /// For each round, the table of the fold that did not see it.
    fold_of: Vec<usize>,
    tables: Vec<Vec<f64>>,
}

impl RewardModel {
    /// Fits the shrunk (item, position) click rates on `logs` with `folds`-fold cross-fitting
    /// (rounds assigned to folds by a seeded shuffle, as scikit-learn's `KFold(shuffle=True)`;
    /// `folds` = 1 fits on every round and predicts every round with it).
    pub fn fit(logs: &Logs, folds: usize, shrinkage: f64, rng: &mut Rng) -> RewardModel {
        let n = logs.n_rounds();
        let folds = folds.clamp(1, n.max(1));
        let mut order: Vec<usize> = (0..n).collect();
        if folds > 1 {
            rng.shuffle(&mut order);
        }
        let mut fold_of = vec![0; n];
        for (j, i) in order.iter().enumerate() {
            // Contiguous chunks of the shuffled order, the first n % folds one longer (KFold).
            fold_of[*i] = chunk_of(j, n, folds);
        }
        let tables = (0..folds)
            .map(|f| {
                let train: Vec<usize> = (0..n).filter(|i| folds == 1 || fold_of[*i] != f).collect();
                Self::table(logs, &train, shrinkage)
            })
            .collect();
        RewardModel { n_actions: logs.n_actions, len_list: logs.len_list, fold_of, tables }
    }

    fn table(logs: &Logs, rounds: &[usize], m: f64) -> Vec<f64> {
        let (na, nk) = (logs.n_actions, logs.len_list);
        let mut shows = vec![0.0; na * nk];
        let mut clicks = vec![0.0; na * nk];
        let mut pos_shows = vec![0.0; nk];
        let mut pos_clicks = vec![0.0; nk];
        for &i in rounds {
            let (a, k) = (logs.action[i] as usize, logs.position[i] as usize);
            shows[a * nk + k] += 1.0;
            clicks[a * nk + k] += logs.reward[i];
            pos_shows[k] += 1.0;
            pos_clicks[k] += logs.reward[i];
        }
        (0..na * nk)
            .map(|c| {
                let k = c % nk;
                let ctr = if pos_shows[k] > 0.0 { pos_clicks[k] / pos_shows[k] } else { 0.0 };
                if shows[c] + m > 0.0 { (clicks[c] + m * ctr) / (shows[c] + m) } else { ctr }
            })
            .collect()
    }

    /// q̂_i(a, k).
    pub fn predict(&self, round: usize, action: usize, position: usize) -> f64 {
        self.tables[self.fold_of[round]][action * self.len_list + position]
    }
}

/// The fold of the `j`-th index of `n` split into `folds` contiguous chunks, the first `n % folds`
/// one longer (scikit-learn's `KFold`).
fn chunk_of(j: usize, n: usize, folds: usize) -> usize {
    let (base, extra) = (n / folds, n % folds);
    let long = extra * (base + 1);
    if j < long { j / (base + 1) } else { extra + (j - long) / base.max(1) }
}

/// The per-round values whose mean is `estimator`'s estimate (obp's `_estimate_round_rewards`).
/// DM and DR need `model`.
pub fn round_values(
    estimator: Estimator,
    logs: &Logs,
    pi: &ActionDist,
    model: Option<&RewardModel>,
) -> Result<Vec<f64>, String> {
    pi.check(logs)?;
    let n = logs.n_rounds();
    let w: Vec<f64> =
        (0..n).map(|i| pi.get(logs.action[i] as usize, logs.position[i] as usize) / logs.pscore[i]).collect();
    let model_value = |i: usize, q: &RewardModel| -> f64 {
        let k = logs.position[i] as usize;
        (0..logs.n_actions).map(|a| pi.get(a, k) * q.predict(i, a, k)).sum()
    };
    let need = || model.ok_or_else(|| format!("{} needs a reward model", estimator.name()));
    Ok(match estimator {
        Estimator::Ipw => (0..n).map(|i| logs.reward[i] * w[i]).collect(),
        Estimator::Snipw => {
            let mean_w = w.iter().sum::<f64>() / n as f64;
            if mean_w <= 0.0 {
                return Err(format!(
                    "snipw: the evaluation policy gives probability 0 to every logged action of {}",
                    logs.source
                ));
            }
            (0..n).map(|i| logs.reward[i] * w[i] / mean_w).collect()
        }
        Estimator::Dm => {
            let q = need()?;
            (0..n).map(|i| model_value(i, q)).collect()
        }
        Estimator::Dr => {
            let q = need()?;
            (0..n)
                .map(|i| {
                    let (a, k) = (logs.action[i] as usize, logs.position[i] as usize);
                    model_value(i, q) + w[i] * (logs.reward[i] - q.predict(i, a, k))
                })
                .collect()
        }
    })
}

/// A bootstrap interval of a mean (obp's `estimate_confidence_interval_by_bootstrap`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The mean of the resample means.
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// Percentile bootstrap of the mean of every column of `values` (equal lengths), sharing one
/// resample of the rounds across columns: `n_bootstrap` resamples, interval at `alpha/2` and
/// `1 − alpha/2`.
pub fn bootstrap(values: &[&[f64]], n_bootstrap: usize, alpha: f64, rng: &mut Rng) -> Vec<Interval> {
    let n = values.first().map_or(0, |v| v.len());
    assert!(values.iter().all(|v| v.len() == n) && n > 0 && n_bootstrap > 0, "bootstrap: bad input");
    let mut means = vec![Vec::with_capacity(n_bootstrap); values.len()];
    let mut sums = vec![0.0; values.len()];
    for _ in 0..n_bootstrap {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for _ in 0..n {
            let i = rng.below(n);
            for (s, v) in sums.iter_mut().zip(values) {
                *s += v[i];
            }
        }
        for (m, s) in means.iter_mut().zip(&sums) {
            m.push(s / n as f64);
        }
    }
    means
        .into_iter()
        .map(|mut m| {
            let mean = m.iter().sum::<f64>() / m.len() as f64;
            m.sort_by(f64::total_cmp);
            Interval {
                mean,
                low: percentile(&m, 100.0 * alpha / 2.0),
                high: percentile(&m, 100.0 * (1.0 - alpha / 2.0)),
            }
        })
        .collect()
}

/// numpy's `percentile` with its default linear interpolation, of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// The mean of a column.
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two actions, one position: rounds (action, reward, pscore).
    fn tiny() -> Logs {
        Logs {
            source: "tiny".into(),
            n_actions: 2,
            len_list: 1,
            action: vec![0, 1, 0, 1],
            position: vec![0; 4],
            reward: vec![1.0, 0.0, 0.0, 1.0],
            pscore: vec![0.5, 0.25, 0.5, 0.25],
        }
    }

    fn dist(p: &[f64], len_list: usize) -> ActionDist {
        ActionDist { n_actions: p.len() / len_list, len_list, p: p.to_vec() }
    }

    fn estimate(e: Estimator, logs: &Logs, pi: &ActionDist, q: Option<&RewardModel>) -> f64 {
        mean(&round_values(e, logs, pi, q).unwrap())
    }

    #[test]
    fn ipw_and_snipw_equal_hand_computed_values() {
        // π_e = (0.8, 0.2). Weights: 0.8/0.5 = 1.6, 0.2/0.25 = 0.8, 1.6, 0.8.
        // IPW = (1·1.6 + 0 + 0 + 1·0.8) / 4 = 0.6; mean weight 1.2, SNIPW = 0.6 / 1.2 = 0.5.
        let (logs, pi) = (tiny(), dist(&[0.8, 0.2], 1));
        assert!((estimate(Estimator::Ipw, &logs, &pi, None) - 0.6).abs() < 1e-15);
        assert!((estimate(Estimator::Snipw, &logs, &pi, None) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn dm_and_dr_equal_hand_computed_values() {
        // Model on all rounds (one fold), shrinkage m = 2. Position ctr = 2/4 = 0.5.
        // Action 0: 1 click in 2 shows: (1 + 2·0.5)/(2 + 2) = 0.5; action 1: same, 0.5.
        let (logs, pi) = (tiny(), dist(&[0.8, 0.2], 1));
        let q = RewardModel::fit(&logs, 1, 2.0, &mut Rng::new(0));
        assert_eq!((q.predict(0, 0, 0), q.predict(3, 1, 0)), (0.5, 0.5));
        // DM = 0.8·0.5 + 0.2·0.5 = 0.5 on every round.
        assert!((estimate(Estimator::Dm, &logs, &pi, Some(&q)) - 0.5).abs() < 1e-15);
        // DR rounds: 0.5 + 1.6(1 − 0.5) = 1.3; 0.5 + 0.8(0 − 0.5) = 0.1; 0.5 + 1.6(−0.5) = −0.3;
        // 0.5 + 0.8(0.5) = 0.9; mean 0.5.
        let dr = round_values(Estimator::Dr, &logs, &pi, Some(&q)).unwrap();
        let want = [1.3, 0.1, -0.3, 0.9];
        assert!(dr.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{dr:?}");
        // Unequal counts: action 0 clicked once in 3 shows, action 1 never in 1; m = 0 gives the raw rates.
        let logs2 = Logs { action: vec![0, 0, 0, 1], reward: vec![1.0, 0.0, 0.0, 0.0], ..tiny() };
        let q0 = RewardModel::fit(&logs2, 1, 0.0, &mut Rng::new(0));
        assert_eq!((q0.predict(0, 0, 0), q0.predict(0, 1, 0)), (1.0 / 3.0, 0.0));
        // DM = 0.8 · 1/3 + 0.2 · 0 on every round; DR adds w_i (r_i − q̂(a_i)) with weights
        // 0.8/0.5, 0.8/0.25, 0.8/0.5 and 0.2/0.25 (the last residual is 0 − 0).
        let dr2 = estimate(Estimator::Dr, &logs2, &pi, Some(&q0));
        let w = [1.6, 3.2, 1.6, 0.8];
        let hand = 0.8 / 3.0 + (w[0] * (1.0 - 1.0 / 3.0) + w[1] * (-1.0 / 3.0) + w[2] * (-1.0 / 3.0)) / 4.0;
        assert!((dr2 - hand).abs() < 1e-15, "{dr2} vs {hand}");
        assert!(round_values(Estimator::Dm, &logs, &pi, None).unwrap_err().contains("reward model"));
    }

    #[test]
    fn ipw_of_the_uniform_logging_policy_is_the_on_policy_mean() {
        // Uniform logging over 5 actions and 3 positions, evaluation policy equal to it.
        let mut rng = Rng::new(11);
        let n = 3000;
        let action: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
        let position: Vec<u8> = (0..n).map(|_| rng.below(3) as u8).collect();
        let reward: Vec<f64> = action.iter().map(|a| f64::from(rng.uniform() < 0.1 * f64::from(*a))).collect();
        let logs =
            Logs { source: "u".into(), n_actions: 5, len_list: 3, action, position, reward, pscore: vec![0.2; n] };
        let pi = dist(&[0.2; 15], 3);
        let on_policy = logs.mean_reward();
        for e in [Estimator::Ipw, Estimator::Snipw] {
            assert!((estimate(e, &logs, &pi, None) - on_policy).abs() < 1e-12, "{}", e.name());
        }
        // DR with weights 1 is the on-policy mean plus (DM − mean q̂ at the logged actions),
        // which has mean zero only in expectation; it stays close here.
        let q = RewardModel::fit(&logs, 3, 10.0, &mut Rng::new(1));
        assert!((estimate(Estimator::Dr, &logs, &pi, Some(&q)) - on_policy).abs() < 0.01);
    }

    #[test]
    fn folds_follow_kfold_and_cross_fitting_never_sees_the_round() {
        assert_eq!((0..10).map(|j| chunk_of(j, 10, 3)).collect::<Vec<_>>(), [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        // One click, on round 0: its own fold's table must not know it.
        let logs = Logs { reward: vec![1.0, 0.0, 0.0, 0.0], ..tiny() };
        let q = RewardModel::fit(&logs, 4, 0.0, &mut Rng::new(5));
        assert_eq!(q.predict(0, 0, 0), 0.0);
        assert!((1..4).all(|i| q.predict(i, 0, 0) > 0.0));
    }

    #[test]
    fn bootstrap_matches_obp_conventions() {
        // numpy: np.percentile([1, 2, 3, 4], 2.5) = 1.075, 97.5 → 3.925.
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 2.5) - 1.075).abs() < 1e-12);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 97.5) - 3.925).abs() < 1e-12);
        // A constant column has a zero-width interval; resamples are shared across columns, so a
        // column and its double give intervals that are exact doubles.
        let a = [0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
        let b: Vec<f64> = a.iter().map(|x| 2.0 * x).collect();
        let c = [0.3; 8];
        let r = bootstrap(&[&a, &b, &c], 2000, 0.05, &mut Rng::new(3));
        assert_eq!((r[1].low, r[1].high), (2.0 * r[0].low, 2.0 * r[0].high));
        assert!((r[2].low - 0.3).abs() < 1e-15 && (r[2].high - 0.3).abs() < 1e-15);
        assert!(r[0].low < 0.25 && r[0].high > 0.25 && (r[0].mean - 0.25).abs() < 0.01, "{:?}", r[0]);
        // Seeded: the same seed gives the same interval.
        assert_eq!(bootstrap(&[&a], 500, 0.05, &mut Rng::new(4)), bootstrap(&[&a], 500, 0.05, &mut Rng::new(4)));
    }
}
