//! Environments of the online protocol: who clicks what, seeded and deterministic.
//!
//! Two environments, one trait ([`Env`]):
//! - [`TruthEnv`] (suite `env = "truth"`, synthetic worlds): showing item `i` to user `u` draws a
//!   rating from the world's exact rating distribution (`Truth::rating_distribution`: the
//!   noise-free score plus `N(0, noise_sd^2)`, rounded and clamped to 1..5) and the user clicks
//!   when that rating is at least `like`. The click probability `p(u, i) = P(r >= like)` is
//!   therefore exact, and so are the oracle policy (the `k` candidates of largest `p`, every
//!   round) and the regret. Items may be shown again; each showing is a fresh draw. The only
//!   constants are the world's (suite `[world]`) and `like` (suite `[interactive]`).
//! - [`ReplayEnv`] (suite `env = "replay"`, real ratings; NICF's setting, Zou et al. 2020): a
//!   click is a logged rating at or above `like` of an item not shown before; an item the user
//!   never rated never clicks, and each item is shown at most once. **Bias:** the log holds only
//!   items the user chose to rate, so unrated items count as dislikes; policies that favour
//!   popular (often rated) items are rewarded for predicting *what was rated*, not only what is
//!   liked. The oracle knows the log: its reward at round `t` is `min(k, liked items left)`.
//!
//! Determinism: the draw for the `n`-th showing of item `i` comes from its own generator,
//! `Rng::from_labels(seed, [item, n])`, with `seed` derived from (suite, data seed, run seed,
//! scenario, user) and not from the method: every policy meets the same outcomes for the same
//! showings (common random numbers, so paired differences between methods are less noisy), and
//! nothing depends on scheduling or threads.

use metarec_suites::{Features, Rng, Truth};
use std::sync::Arc;

/// What the user did with one shown item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Feedback {
    pub item: u32,
    pub click: bool,
    /// The rating behind the click, when one is known (drawn under truth; logged under replay;
    /// `None` for an unrated item under replay).
    pub rating: Option<f32>,
}

/// One user's environment for one episode.
pub trait Env {
    /// The user (dense index).
    fn user(&self) -> u32;
    /// The items the policy may recommend, ascending.
    fn candidates(&self) -> &[u32];
    /// Whether an item may be shown again (truth) or only once (replay).
    fn repeats(&self) -> bool;
    /// The expected reward of `slate` now, before it is shown (exact).
    fn expected(&self, slate: &[u32]) -> f64;
    /// The oracle policy's expected reward at round `t` (1-based), slates of `k`.
    fn oracle_round(&self, t: usize, k: usize) -> f64;
    /// Shows `slate` and returns the feedback, in slate order.
    fn show(&mut self, slate: &[u32]) -> Vec<Feedback>;
}

/// Clicks drawn from a synthetic world's truth.
pub struct TruthEnv {
    user: u32,
    truth: Arc<Truth>,
    candidates: Vec<u32>,
    like: f32,
    /// Click probability per candidate (same order).
    p: Vec<f64>,
    /// Showings so far per candidate.
    shown: Vec<u32>,
    seed: u64,
}

/// `P(r >= like)` under the world's rating distribution.
pub fn click_probability(truth: &Truth, user: u32, item: u32, like: f32) -> f64 {
    truth
        .rating_distribution(user, item)
        .iter()
        .zip(truth.rating_min..)
        .filter(|(_, r)| *r as f32 >= like)
        .map(|(p, _)| p)
        .sum()
}

impl TruthEnv {
    pub fn new(truth: Arc<Truth>, user: u32, mut candidates: Vec<u32>, like: f32, seed: u64) -> TruthEnv {
        candidates.sort_unstable();
        candidates.dedup();
        let p = candidates.iter().map(|i| click_probability(&truth, user, *i, like)).collect();
        let shown = vec![0; candidates.len()];
        TruthEnv { user, truth, candidates, like, p, shown, seed }
    }

    fn pos(&self, item: u32) -> usize {
        self.candidates.binary_search(&item).unwrap_or_else(|_| panic!("item {item} is not a candidate"))
    }

    /// The click probability of a candidate.
    pub fn p(&self, item: u32) -> f64 {
        self.p[self.pos(item)]
    }
}

impl Env for TruthEnv {
    fn user(&self) -> u32 {
        self.user
    }
    fn candidates(&self) -> &[u32] {
        &self.candidates
    }
    fn repeats(&self) -> bool {
        true
    }
    fn expected(&self, slate: &[u32]) -> f64 {
        // Summed largest first, as the oracle's, so that the oracle's own slates give 0 exactly.
        let mut p: Vec<f64> = slate.iter().map(|i| self.p(*i)).collect();
        p.sort_by(|a, b| b.total_cmp(a));
        p.iter().sum()
    }
    fn oracle_round(&self, _t: usize, k: usize) -> f64 {
        let mut p = self.p.clone();
        p.sort_by(|a, b| b.total_cmp(a));
        p.iter().take(k).sum()
    }
    fn show(&mut self, slate: &[u32]) -> Vec<Feedback> {
        slate
            .iter()
            .map(|item| {
                let pos = self.pos(*item);
                let n = self.shown[pos];
                self.shown[pos] += 1;
                let mut rng = Rng::from_labels(self.seed, &[&item.to_string(), &n.to_string()]);
                let dist = self.truth.rating_distribution(self.user, *item);
                let rating = (self.truth.rating_min + rng.categorical(&dist) as i32) as f32;
                Feedback { item: *item, click: rating >= self.like, rating: Some(rating) }
            })
            .collect()
    }
}

/// Replay of one user's logged ratings.
pub struct ReplayEnv {
    user: u32,
    candidates: Vec<u32>,
    /// The user's logged rating of each candidate (`None`: unrated).
    rating: Vec<Option<f32>>,
    like: f32,
    shown: Vec<bool>,
    liked_total: usize,
}

impl ReplayEnv {
    /// `ratings`: the user's logged `(item, rating)` pairs (any order).
    pub fn new(user: u32, mut candidates: Vec<u32>, ratings: &[(u32, f32)], like: f32) -> ReplayEnv {
        candidates.sort_unstable();
        candidates.dedup();
        let rating: Vec<Option<f32>> =
            candidates.iter().map(|i| ratings.iter().find(|(j, _)| j == i).map(|(_, r)| *r)).collect();
        let liked_total = rating.iter().filter(|r| r.is_some_and(|r| r >= like)).count();
        let shown = vec![false; candidates.len()];
        ReplayEnv { user, candidates, rating, like, shown, liked_total }
    }

    fn pos(&self, item: u32) -> usize {
        self.candidates.binary_search(&item).unwrap_or_else(|_| panic!("item {item} is not a candidate"))
    }

    fn clicks(&self, pos: usize) -> bool {
        !self.shown[pos] && self.rating[pos].is_some_and(|r| r >= self.like)
    }
}

impl Env for ReplayEnv {
    fn user(&self) -> u32 {
        self.user
    }
    fn candidates(&self) -> &[u32] {
        &self.candidates
    }
    fn repeats(&self) -> bool {
        false
    }
    fn expected(&self, slate: &[u32]) -> f64 {
        slate.iter().filter(|i| self.clicks(self.pos(**i))).count() as f64
    }
    fn oracle_round(&self, t: usize, k: usize) -> f64 {
        let before = (t - 1) * k;
        self.liked_total.saturating_sub(before).min(k) as f64
    }
    fn show(&mut self, slate: &[u32]) -> Vec<Feedback> {
        slate
            .iter()
            .map(|item| {
                let pos = self.pos(*item);
                let click = self.clicks(pos);
                self.shown[pos] = true;
                Feedback { item: *item, click, rating: self.rating[pos] }
            })
            .collect()
    }
}

/// The feature vector of an item that linear policies see: a constant 1, a one-hot block per
/// categorical item field, then the numeric item features.
pub fn item_vector(features: &Features, item: u32) -> Vec<f64> {
    let mut x = vec![1.0];
    for (f, c) in features.schema.item_fields.iter().zip(features.item_cat(item)) {
        let start = x.len();
        x.resize(start + f.vocab, 0.0);
        if (*c as usize) < f.vocab {
            x[start + *c as usize] = 1.0;
        }
    }
    x.extend(features.item_num(item).iter().map(|v| f64::from(*v)));
    x
}

/// The feature vector of a user: a constant 1 and a one-hot block per categorical user field.
pub fn user_vector(features: &Features, user: u32) -> Vec<f64> {
    let mut x = vec![1.0];
    for (f, c) in features.schema.user_fields.iter().zip(features.user_cat(user)) {
        let start = x.len();
        x.resize(start + f.vocab, 0.0);
        if (*c as usize) < f.vocab {
            x[start + *c as usize] = 1.0;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn truth() -> Arc<Truth> {
        // One user, three items with scores 4.5, 3.0, 1.5 (latent dim 1, no biases).
        Arc::new(Truth {
            mu: 3.0,
            noise_sd: 0.8,
            rating_min: 1,
            rating_max: 5,
            latent_dim: 1,
            user_bias: vec![0.0],
            item_bias: vec![0.0; 3],
            user_latent: vec![1.0],
            item_latent: vec![1.5, 0.0, -1.5],
        })
    }

    #[test]
    fn click_probability_is_the_rating_tail() {
        let t = truth();
        // P(round(4.5 + e) >= 4) = P(e >= -1.0) = Phi(1.25) = 0.894350 (scipy.stats.norm.cdf(1.25)).
        assert!((click_probability(&t, 0, 0, 4.0) - 0.894_350_2).abs() < 1e-6);
        // Item 1: P(3 + e >= 3.5) = 1 - Phi(0.625) = 0.265986.
        assert!((click_probability(&t, 0, 1, 4.0) - 0.265_985_5).abs() < 1e-6);
        let env = TruthEnv::new(t.clone(), 0, vec![2, 0, 1], 4.0, 1);
        assert_eq!(env.candidates(), &[0, 1, 2]);
        assert!((env.oracle_round(1, 1) - env.p(0)).abs() < 1e-15);
        assert!((env.oracle_round(7, 2) - env.p(0) - env.p(1)).abs() < 1e-15);
    }

    #[test]
    fn truth_clicks_match_their_probability_and_repeat() {
        let mut env = TruthEnv::new(truth(), 0, vec![0, 1, 2], 4.0, 9);
        let n = 20_000;
        let clicks = (0..n).filter(|_| env.show(&[1])[0].click).count() as f64 / n as f64;
        // Binomial sd at p = 0.266, n = 20,000 is 0.0031; 4 sd.
        assert!((clicks - 0.265_985_5).abs() < 0.0125, "{clicks}");
        // Same seed and showings: the same outcomes, whatever else was shown in between.
        let mut a = TruthEnv::new(truth(), 0, vec![0, 1, 2], 4.0, 3);
        let mut b = TruthEnv::new(truth(), 0, vec![0, 1, 2], 4.0, 3);
        let fa: Vec<Feedback> = (0..50).flat_map(|_| a.show(&[0, 1])).collect();
        let fb: Vec<Feedback> = (0..50)
            .flat_map(|_| {
                b.show(&[2]);
                b.show(&[0, 1])
            })
            .collect();
        assert_eq!(fa, fb);
    }

    #[test]
    fn replay_clicks_once_on_liked_items() {
        let mut env = ReplayEnv::new(5, vec![1, 2, 3, 4], &[(1, 5.0), (2, 2.0), (4, 4.0)], 4.0);
        assert_eq!(env.oracle_round(1, 1), 1.0);
        assert_eq!(env.oracle_round(2, 1), 1.0);
        assert_eq!(env.oracle_round(3, 1), 0.0);
        assert_eq!(env.oracle_round(1, 3), 2.0);
        assert_eq!(env.expected(&[1, 2, 3]), 1.0);
        let f = env.show(&[1, 3]);
        assert_eq!((f[0].click, f[1].click, f[1].rating), (true, false, None));
        // Shown before: no second click.
        assert_eq!(env.expected(&[1, 4]), 1.0);
        assert!(!env.show(&[1])[0].click);
    }
}
