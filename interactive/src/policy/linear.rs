//! Linear policies on item features: `linucb`, `lin-ts` (obp's semantics) and `meta-ts` (Kveton
//! et al. 2021).
//!
//! **The model.** Every policy here keeps, per test user, a Gaussian linear model of the click
//! `r = x_i' theta + noise` over the item's feature vector `x_i` ([`crate::env::item_vector`]:
//! 1, one-hot categorical fields, numeric features). In the online protocol one episode is one
//! user, so the user is the learner and items are the arms described by `x_i`. obp's linear
//! policies are *disjoint per arm* over user contexts; we keep their arithmetic exactly (prior
//! covariance `A^-1 = I`, i.e. ridge 1; `b = sum r x`; `theta_hat = A^-1 b`; Sherman-Morrison
//! updates of `A^-1` after each observed item; noise variance 1) but apply it to the one
//! learner of the episode, because per-arm models would carry nothing from one item to another
//! within a user's episode of tens of rounds.
//! - `linucb`: score `x' theta_hat + alpha sqrt(x' A^-1 x)` (obp's `LinUCB`, whose width is
//!   called `epsilon` there, default 0; Li et al. 2010's alpha; default 1 here), top `k`.
//! - `lin-ts`: each round one `theta ~ N(theta_hat, A^-1)` (obp's `LinTS`), top `k` of `x' theta`.
//! - `meta-ts`: Kveton et al. 2021, *Meta-Thompson Sampling* (ICML), the linear-Gaussian case
//!   (their Section 4.2 / Appendix): users' parameters are `theta_u ~ N(mu*, Sigma_0)` with an
//!   unknown prior mean `mu* ~ N(0, sigma_q^2 I)` and `Sigma_0 = sigma_0^2 I`, clicks
//!   `N(x' theta_u, sigma^2)`. The meta-posterior of `mu*` after users `1..n` is Gaussian with
//!   precision `Lambda_q = I / sigma_q^2 + sum_u X_u' (sigma^2 I + X_u Sigma_0 X_u')^-1 X_u` and
//!   `Lambda_q m_q = sum_u X_u' (sigma^2 I + X_u Sigma_0 X_u')^-1 y_u` (the marginal likelihood
//!   of `mu*` with `theta_u` integrated out), computed in `d x d` form through Woodbury
//!   (`G = X'X / sigma^2`: `X'(..)^-1 X = G - G (Sigma_0^-1 + G)^-1 G`). Meta-train users are the
//!   tasks of the paper's sequence; their data are their logged ratings (click = rating at or
//!   above `like`), all of them at once (the update is exchangeable). At test time the
//!   meta-posterior is frozen (test users are scored independently, so results do not depend
//!   on their order: a deviation from the paper, whose later tasks also update it); each user
//!   samples `mu~ ~ N(m_q, Lambda_q^-1)` once (MetaTS), then runs Thompson sampling with prior
//!   `N(mu~, Sigma_0)`. With `mu~ = 0`, `sigma_0 = sigma = 1` this is `lin-ts` exactly.

use super::linalg::{dot, mat_vec, sample_normal, sherman_morrison, spd_inverse};
use super::{Policy, PolicyData, PolicyMethod, PolicyModel, PolicySpec, top_k};
use crate::env::{Feedback, item_vector};
use metarec_methods::params::{self, Check};
use metarec_methods::{Ctx, Result, TrainReport};
use metarec_suites::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A Gaussian posterior over `theta` with prior `N(mean0, cov0)` and noise variance `noise`.
#[derive(Clone, Debug)]
pub struct Posterior {
    /// Posterior covariance (obp's `A_inv` when the prior is `N(0, I)` and `noise = 1`).
    pub cov: Vec<f64>,
    /// `Sigma_0^-1 mean0 + sum r x / noise` (obp's `b` under the same prior).
    pub b: Vec<f64>,
    pub noise: f64,
}

impl Posterior {
    pub fn new(mean0: &[f64], prior_var: f64, noise: f64) -> Posterior {
        let d = mean0.len();
        let mut cov = vec![0.0; d * d];
        for i in 0..d {
            cov[i * d + i] = prior_var;
        }
        Posterior { cov, b: mean0.iter().map(|m| m / prior_var).collect(), noise }
    }

    pub fn mean(&self) -> Vec<f64> {
        mat_vec(&self.cov, &self.b)
    }

    /// One observed click `r` of an item with features `x`.
    pub fn update(&mut self, x: &[f64], r: f64) {
        sherman_morrison(&mut self.cov, x, self.noise);
        for (b, xi) in self.b.iter_mut().zip(x) {
            *b += r * xi / self.noise;
        }
    }
}

/// The per-user state shared by the three policies: item vectors and the posterior.
struct LinearUser<'m> {
    x: &'m [Vec<f64>],
    post: Posterior,
    rule: Rule,
}

#[derive(Clone, Copy)]
enum Rule {
    Ucb(f64),
    Thompson,
}

impl Policy for LinearUser<'_> {
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>> {
        let scores: Vec<f64> = match self.rule {
            Rule::Ucb(alpha) => {
                let theta = self.post.mean();
                available
                    .iter()
                    .map(|i| {
                        let x = &self.x[*i as usize];
                        dot(x, &theta) + alpha * dot(x, &mat_vec(&self.post.cov, x)).max(0.0).sqrt()
                    })
                    .collect()
            }
            Rule::Thompson => {
                let theta = sample_normal(&self.post.mean(), &self.post.cov, rng);
                available.iter().map(|i| dot(&self.x[*i as usize], &theta)).collect()
            }
        };
        Ok(top_k(available, &scores, k, rng))
    }
    fn observe(&mut self, feedback: &[Feedback], _: &mut Rng) -> Result<()> {
        for f in feedback {
            self.post.update(&self.x[f.item as usize], f64::from(u8::from(f.click)));
        }
        Ok(())
    }
}

/// A trained linear policy: item vectors and the prior (or meta-posterior) of users.
struct LinearModel {
    x: Vec<Vec<f64>>,
    rule: Rule,
    prior_var: f64,
    noise: f64,
    /// `meta-ts`: the meta-posterior `(mean, covariance)` of the prior mean.
    meta: Option<(Vec<f64>, Vec<f64>)>,
    report: TrainReport,
}

impl PolicyModel for LinearModel {
    fn start<'m>(&'m self, _: u32, ctx: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        let d = self.x[0].len();
        let mean0 = match &self.meta {
            Some((m, c)) => sample_normal(m, c, &mut ctx.rng),
            None => vec![0.0; d],
        };
        Ok(Box::new(LinearUser {
            x: &self.x,
            post: Posterior::new(&mean0, self.prior_var, self.noise),
            rule: self.rule,
        }))
    }
    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

fn item_vectors(data: &PolicyData<'_>) -> Vec<Vec<f64>> {
    (0..data.features.n_items() as u32).map(|i| item_vector(data.features, i)).collect()
}

/// `linucb` parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UcbParams {
    /// The confidence width (obp's `epsilon`, Li et al.'s alpha).
    pub alpha: f64,
}
impl Default for UcbParams {
    fn default() -> Self {
        UcbParams { alpha: 1.0 }
    }
}
impl Check for UcbParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::non_negative("alpha", self.alpha)
    }
}

/// `linucb`.
pub struct LinUcb(UcbParams);
impl PolicySpec for LinUcb {
    const NAME: &'static str = "linucb";
    type Params = UcbParams;
    fn new(p: UcbParams) -> Self {
        LinUcb(p)
    }
    fn params(&self) -> &UcbParams {
        &self.0
    }
}
impl PolicyMethod for LinUcb {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        let x = item_vectors(data);
        Ok(Box::new(LinearModel {
            x,
            rule: Rule::Ucb(self.0.alpha),
            prior_var: 1.0,
            noise: 1.0,
            meta: None,
            report: TrainReport::default(),
        }))
    }
}

/// `lin-ts`.
pub struct LinTs(super::NoParams);
impl PolicySpec for LinTs {
    const NAME: &'static str = "lin-ts";
    type Params = super::NoParams;
    fn new(p: super::NoParams) -> Self {
        LinTs(p)
    }
    fn params(&self) -> &super::NoParams {
        &self.0
    }
}
impl PolicyMethod for LinTs {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        Ok(Box::new(LinearModel {
            x: item_vectors(data),
            rule: Rule::Thompson,
            prior_var: 1.0,
            noise: 1.0,
            meta: None,
            report: TrainReport::default(),
        }))
    }
}

/// `meta-ts` parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaTsParams {
    /// `sigma_0`: spread of users around the prior mean.
    pub prior_sd: f64,
    /// `sigma`: click noise of the Gaussian model.
    pub noise_sd: f64,
    /// `sigma_q`: the meta-prior's spread of the prior mean.
    pub meta_prior_sd: f64,
}
impl Default for MetaTsParams {
    fn default() -> Self {
        MetaTsParams { prior_sd: 0.5, noise_sd: 0.5, meta_prior_sd: 1.0 }
    }
}
impl Check for MetaTsParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::positive("prior_sd", self.prior_sd)?;
        params::positive("noise_sd", self.noise_sd)?;
        params::positive("meta_prior_sd", self.meta_prior_sd)
    }
}

/// `meta-ts`.
pub struct MetaTs(MetaTsParams);
impl PolicySpec for MetaTs {
    const NAME: &'static str = "meta-ts";
    type Params = MetaTsParams;
    fn new(p: MetaTsParams) -> Self {
        MetaTs(p)
    }
    fn params(&self) -> &MetaTsParams {
        &self.0
    }
}

/// The meta-posterior `(mean, covariance)` of the prior mean after the tasks `(X_u, y_u)`.
pub fn meta_posterior(tasks: &[(Vec<Vec<f64>>, Vec<f64>)], d: usize, p: &MetaTsParams) -> (Vec<f64>, Vec<f64>) {
    let (s2, v0, vq) = (p.noise_sd * p.noise_sd, p.prior_sd * p.prior_sd, p.meta_prior_sd * p.meta_prior_sd);
    let mut prec = vec![0.0; d * d];
    for i in 0..d {
        prec[i * d + i] = 1.0 / vq;
    }
    let mut eta = vec![0.0; d];
    for (xs, ys) in tasks {
        // G = X'X / s2, c = X'y / s2; H = (Sigma_0^-1 + G)^-1.
        let mut g = vec![0.0; d * d];
        let mut c = vec![0.0; d];
        for (x, y) in xs.iter().zip(ys) {
            for r in 0..d {
                c[r] += x[r] * y / s2;
                for q in 0..d {
                    g[r * d + q] += x[r] * x[q] / s2;
                }
            }
        }
        let mut a = g.clone();
        for i in 0..d {
            a[i * d + i] += 1.0 / v0;
        }
        let h = spd_inverse(&a, d);
        // prec += G - G H G; eta += c - G H c.
        let hg: Vec<f64> = (0..d * d).map(|k| (0..d).map(|j| h[(k / d) * d + j] * g[j * d + k % d]).sum()).collect();
        let hc = mat_vec(&h, &c);
        for r in 0..d {
            eta[r] += c[r] - dot(&g[r * d..(r + 1) * d], &hc);
            for q in 0..d {
                prec[r * d + q] += g[r * d + q] - (0..d).map(|j| g[r * d + j] * hg[j * d + q]).sum::<f64>();
            }
        }
    }
    // Symmetrise against rounding before inverting.
    for r in 0..d {
        for q in 0..r {
            let m = 0.5 * (prec[r * d + q] + prec[q * d + r]);
            prec[r * d + q] = m;
            prec[q * d + r] = m;
        }
    }
    let cov = spd_inverse(&prec, d);
    (mat_vec(&cov, &eta), cov)
}

impl PolicyMethod for MetaTs {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        let x = item_vectors(data);
        let d = x[0].len();
        let tasks: Vec<(Vec<Vec<f64>>, Vec<f64>)> = data
            .meta_train
            .iter()
            .map(|h| {
                let xs = h.ratings.iter().map(|r| x[r.item as usize].clone()).collect();
                let ys = h.ratings.iter().map(|r| f64::from(u8::from(r.value >= data.like))).collect();
                (xs, ys)
            })
            .collect();
        let (m, c) = meta_posterior(&tasks, d, &self.0);
        let mut report = TrainReport { steps: tasks.len() as u64, ..TrainReport::default() };
        report.notes.insert("meta_posterior_trace".into(), format!("{:.6}", (0..d).map(|i| c[i * d + i]).sum::<f64>()));
        let p = &self.0;
        Ok(Box::new(LinearModel {
            x,
            rule: Rule::Thompson,
            prior_var: p.prior_sd * p.prior_sd,
            noise: p.noise_sd * p.noise_sd,
            meta: Some((m, c)),
            report,
        }))
    }
}

/// Shared for tests: a linear policy over given item vectors (`Rule::Ucb(alpha)`).
pub fn linucb_over(x: Arc<Vec<Vec<f64>>>, alpha: f64) -> impl PolicyModel {
    struct M(Arc<Vec<Vec<f64>>>, f64);
    impl PolicyModel for M {
        fn start<'m>(&'m self, _: u32, _: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
            let d = self.0[0].len();
            Ok(Box::new(LinearUser {
                x: &self.0,
                post: Posterior::new(&vec![0.0; d], 1.0, 1.0),
                rule: Rule::Ucb(self.1),
            }))
        }
    }
    M(x, alpha)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `d x d` meta-posterior equals the direct one from the `n x n` marginal covariance
    /// `sigma^2 I + X Sigma_0 X'` (computed here by brute force for two tiny tasks).
    #[test]
    fn meta_posterior_matches_the_marginal_likelihood() {
        let p = MetaTsParams { prior_sd: 0.7, noise_sd: 0.4, meta_prior_sd: 1.3 };
        let tasks = vec![
            (vec![vec![1.0, 0.0], vec![1.0, 1.0], vec![0.5, -1.0]], vec![1.0, 0.0, 1.0]),
            (vec![vec![1.0, 2.0]], vec![1.0]),
        ];
        let (m, c) = meta_posterior(&tasks, 2, &p);
        // Direct: prec = I / vq + sum X' S^-1 X, eta = sum X' S^-1 y, S = s2 I + v0 X X'.
        let (s2, v0, vq) = (0.16, 0.49, 1.69);
        let mut prec = [1.0 / vq, 0.0, 0.0, 1.0 / vq];
        let mut eta = [0.0, 0.0];
        for (xs, ys) in &tasks {
            let n = xs.len();
            let mut s = vec![0.0; n * n];
            for a in 0..n {
                for b in 0..n {
                    s[a * n + b] = v0 * dot(&xs[a], &xs[b]) + if a == b { s2 } else { 0.0 };
                }
            }
            let si = spd_inverse(&s, n);
            for r in 0..2 {
                for a in 0..n {
                    for b in 0..n {
                        eta[r] += xs[a][r] * si[a * n + b] * ys[b];
                        for q in 0..2 {
                            prec[r * 2 + q] += xs[a][r] * si[a * n + b] * xs[b][q];
                        }
                    }
                }
            }
        }
        let cov = spd_inverse(&prec, 2);
        let mean = mat_vec(&cov, &eta);
        for (g, w) in m.iter().zip(&mean).chain(c.iter().zip(&cov)) {
            assert!((g - w).abs() < 1e-10, "{m:?} {c:?} vs {mean:?} {cov:?}");
        }
    }

    #[test]
    fn posterior_is_obps_ridge_under_the_unit_prior() {
        // After (x=(1,0), r=1) and (x=(1,1), r=0): A = I + sum x x' = [[3,1],[1,2]], b = (1, 0).
        let mut p = Posterior::new(&[0.0, 0.0], 1.0, 1.0);
        p.update(&[1.0, 0.0], 1.0);
        p.update(&[1.0, 1.0], 0.0);
        let inv = spd_inverse(&[3.0, 1.0, 1.0, 2.0], 2);
        for (g, w) in p.cov.iter().zip(&inv) {
            assert!((g - w).abs() < 1e-12);
        }
        // theta_hat = A^-1 b = (2, -1) / 5.
        let m = p.mean();
        assert!((m[0] - 0.4).abs() < 1e-12 && (m[1] + 0.2).abs() < 1e-12, "{m:?}");
    }
}
