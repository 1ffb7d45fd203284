//! `mpo`: meta-policy optimisation, a softmax recommendation policy meta-learned across users
//! that adapts online to each new user.
//!
//! **Policy.** Item `i`'s logit for user `u` is `s_i = x_i' (W z_u + delta)`: `x_i` the item's
//! feature vector and `z_u` the user's ([`crate::env::item_vector`], [`crate::env::user_vector`]:
//! one-hot fields and a constant), `W` the meta-learned feature scorer (a bilinear map, so a cold
//! user's first slate already depends on their features), `delta` the user's adapted part
//! (zero at the start). A slate of `k` is drawn from the softmax over the available items
//! without replacement (Plackett-Luce), as the stochastic policies of MAML-RL and ProMP are
//! sampled; it stays stochastic at test time (on-policy, and its exploration).
//!
//! **Inner loop (online adaptation).** After each round, one policy-gradient step on `delta`:
//! `delta += inner_lr * [ sum_j (r_j - b) grad log pi(a_j | a_<j) - kl * grad KL(pi || pi_ref) ]`,
//! REINFORCE (Williams 1992) with each position credited with its own click, a baseline `b`
//! (the user's running click rate, starting at meta-training's), and the trust-region term:
//! `pi_ref` is the reference policy `pi_phi` of the mission's objective
//! `min E[log pi_theta(a|s) - log pi_phi(a|s)]` = `KL(pi_theta || pi_phi)`, here the user's
//! meta-learned policy before adaptation (`delta = 0`), the policy that MAML-TRPO (Finn et al.
//! 2017) and ProMP (Rothfuss et al. 2019) keep the adapted policy close to. As in PPO's penalty
//! form, the KL is a penalty with weight `kl`, not a hard constraint; it is exact over the
//! available items for one draw of the softmax.
//!
//! **Outer loop (meta-training).** The meta-objective is the expected cumulative click count of
//! an episode played *with* the inner loop, from `W`, on a meta-train user (the MAML principle:
//! train the initialisation for what adaptation makes of it). Episodes replay the meta-train
//! user's logged ratings (candidates: the items they rated, plus `unrated` sampled items they did
//! not rate, which never click; click = rating at or above `like`; each item once), with the
//! suite's slate size and up to its number of rounds. The meta-gradient is first-order (as
//! FOMAML; MAML-TRPO and ProMP differentiate through the inner step, which we do not): the sum
//! over the episode of `(r - b) grad log pi` at the adapted parameters of each round, chained to
//! `W` through `z_u`. Batches of `batch` users, Adam with step `meta_lr`, `meta_steps` steps,
//! users drawn from the cell's generator. No early stopping (no validation episodes).

use super::{Policy, PolicyData, PolicyMethod, PolicyModel, PolicySpec};
use crate::env::{Env, Feedback, ReplayEnv, item_vector, user_vector};
use metarec_methods::params::{self, Check};
use metarec_methods::{Ctx, MethodError, Result, TrainReport};
use metarec_suites::{Features, Rng};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `mpo` hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpoParams {
    /// Step of the online policy-gradient update of `delta`.
    pub inner_lr: f64,
    /// Weight of the KL trust-region term to the reference policy.
    pub kl: f64,
    /// Adam step of the meta-update of `W`.
    pub meta_lr: f64,
    pub meta_steps: usize,
    /// Meta-train users per meta-step.
    pub batch: usize,
    /// Unrated items (never clicking) added to each meta-train episode's candidates.
    pub unrated: usize,
}

impl Default for MpoParams {
    fn default() -> Self {
        MpoParams { inner_lr: 0.5, kl: 0.1, meta_lr: 0.05, meta_steps: 300, batch: 16, unrated: 0 }
    }
}

impl Check for MpoParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::non_negative("inner_lr", self.inner_lr)?;
        params::non_negative("kl", self.kl)?;
        params::positive("meta_lr", self.meta_lr)?;
        params::at_least("batch", self.batch, 1)
    }
}

/// `mpo`.
pub struct Mpo(MpoParams);
impl PolicySpec for Mpo {
    const NAME: &'static str = "mpo";
    type Params = MpoParams;
    fn new(p: MpoParams) -> Self {
        Mpo(p)
    }
    fn params(&self) -> &MpoParams {
        &self.0
    }
}

/// The meta-trained scorer.
struct MpoModel {
    x: Vec<Vec<f64>>,
    features: Arc<Features>,
    /// `d_item x d_user`, row-major.
    w: Vec<f64>,
    p: MpoParams,
    base_rate: f64,
    report: TrainReport,
}

/// One user's adapting softmax policy.
pub struct MpoUser<'m> {
    x: &'m [Vec<f64>],
    /// `W z_u`: the reference policy's weights.
    v0: Vec<f64>,
    delta: Vec<f64>,
    inner_lr: f64,
    kl: f64,
    /// Baseline: clicks and items seen, with meta-training's rate as one slate's prior.
    clicks: f64,
    seen: f64,
    /// Per position of the last slate: `grad log pi(a_j | a_<j)` with respect to the weights.
    grads: Vec<Vec<f64>>,
    /// `grad KL(pi || pi_ref)` over the last round's available items.
    kl_grad: Vec<f64>,
    /// Accumulated `sum (r - b) grad log pi` (the first-order meta-gradient in item space).
    meta_grad: Vec<f64>,
}

fn softmax(logits: &[f64]) -> Vec<f64> {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

impl MpoUser<'_> {
    fn weights(&self) -> Vec<f64> {
        self.v0.iter().zip(&self.delta).map(|(a, b)| a + b).collect()
    }
}

impl Policy for MpoUser<'_> {
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>> {
        let w = self.weights();
        let d = w.len();
        let logit = |v: &[f64], i: u32| self.x[i as usize].iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        let s: Vec<f64> = available.iter().map(|i| logit(&w, *i)).collect();
        let s_ref: Vec<f64> = available.iter().map(|i| logit(&self.v0, *i)).collect();
        let (p, q) = (softmax(&s), softmax(&s_ref));
        // KL(p || q) and its gradient in the weights: sum_i p_i (log p_i - log q_i - KL) x_i.
        let lr: Vec<f64> = p.iter().zip(&q).map(|(a, b)| if *a > 0.0 { (a / b).ln() } else { 0.0 }).collect();
        let kl: f64 = p.iter().zip(&lr).map(|(a, l)| a * l).sum();
        self.kl_grad = vec![0.0; d];
        for (j, i) in available.iter().enumerate() {
            let c = p[j] * (lr[j] - kl);
            for (g, xv) in self.kl_grad.iter_mut().zip(&self.x[*i as usize]) {
                *g += c * xv;
            }
        }
        // Plackett-Luce draw without replacement.
        let mut left: Vec<usize> = (0..available.len()).collect();
        let mut out = Vec::with_capacity(k);
        self.grads.clear();
        for _ in 0..k {
            let pl = softmax(&left.iter().map(|j| s[*j]).collect::<Vec<_>>());
            let pick = rng.categorical(&pl);
            let mut g = self.x[available[left[pick]] as usize].clone();
            for (t, j) in left.iter().enumerate() {
                for (gv, xv) in g.iter_mut().zip(&self.x[available[*j] as usize]) {
                    *gv -= pl[t] * xv;
                }
            }
            self.grads.push(g);
            out.push(available[left[pick]]);
            left.remove(pick);
        }
        Ok(out)
    }

    fn observe(&mut self, feedback: &[Feedback], _: &mut Rng) -> Result<()> {
        let b = self.clicks / self.seen;
        let d = self.delta.len();
        let mut pg = vec![0.0; d];
        for (f, g) in feedback.iter().zip(&self.grads) {
            let adv = f64::from(u8::from(f.click)) - b;
            for (p, gv) in pg.iter_mut().zip(g) {
                *p += adv * gv;
            }
        }
        for r in 0..d {
            self.meta_grad[r] += pg[r];
            self.delta[r] += self.inner_lr * (pg[r] - self.kl * self.kl_grad[r]);
        }
        self.clicks += feedback.iter().filter(|f| f.click).count() as f64;
        self.seen += feedback.len() as f64;
        if self.delta.iter().any(|x| !x.is_finite()) {
            return Err(MethodError::Diverged { method: "mpo".into(), context: "the adapted weights".into() });
        }
        Ok(())
    }
}

impl MpoModel {
    fn user<'m>(&'m self, w: &[f64], user: u32, k: usize) -> (MpoUser<'m>, Vec<f64>) {
        let z = user_vector(&self.features, user);
        let (di, du) = (self.x[0].len(), z.len());
        let v0: Vec<f64> = (0..di).map(|r| (0..du).map(|c| w[r * du + c] * z[c]).sum()).collect();
        let u = MpoUser {
            x: &self.x,
            v0,
            delta: vec![0.0; di],
            inner_lr: self.p.inner_lr,
            kl: self.p.kl,
            clicks: self.base_rate * k as f64,
            seen: k as f64,
            grads: Vec::new(),
            kl_grad: vec![0.0; di],
            meta_grad: vec![0.0; di],
        };
        (u, z)
    }
}

impl PolicyModel for MpoModel {
    fn start<'m>(&'m self, user: u32, _: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        // Slate size only sets the baseline's prior weight; one slate of meta-training's rate.
        Ok(Box::new(self.user(&self.w, user, 1).0))
    }
    fn report(&self) -> TrainReport {
        self.report.clone()
    }
}

impl PolicyMethod for Mpo {
    fn meta_train(&self, data: &PolicyData<'_>, ctx: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        let p = &self.0;
        let x: Vec<Vec<f64>> = (0..data.features.n_items() as u32).map(|i| item_vector(data.features, i)).collect();
        let (di, du) = (x[0].len(), user_vector(data.features, 0).len());
        let k = data.slate;
        let users: Vec<usize> = (0..data.meta_train.len()).filter(|u| data.meta_train[*u].ratings.len() >= k).collect();
        if users.is_empty() {
            return Err(MethodError::Unsupported {
                method: "mpo".into(),
                reason: format!("no meta-train user has {k} ratings (one slate)"),
            });
        }
        let all = data.meta_train.iter().flat_map(|h| &h.ratings);
        let (liked, n) = all.fold((0.0, 0.0), |(l, n), r| (l + f64::from(u8::from(r.value >= data.like)), n + 1.0));
        let mut model = MpoModel {
            x,
            features: data.features.clone(),
            w: vec![0.0; di * du],
            p: p.clone(),
            base_rate: liked / n,
            report: TrainReport::default(),
        };
        let (mut m1, mut m2) = (vec![0.0; di * du], vec![0.0; di * du]);
        let mut reward_sum = 0.0;
        let n_items = data.features.n_items();
        for step in 0..p.meta_steps {
            let mut grad = vec![0.0; di * du];
            let mut clicks = 0.0;
            for _ in 0..p.batch {
                let h = &data.meta_train[users[ctx.rng.below(users.len())]];
                let rated: Vec<(u32, f32)> = h.ratings.iter().map(|r| (r.item, r.value)).collect();
                let mut cands: Vec<u32> = rated.iter().map(|r| r.0).collect();
                cands.sort_unstable();
                let mut tries = 0;
                let want = cands.len() + p.unrated;
                while cands.len() < want && tries < 20 * p.unrated {
                    let i = ctx.rng.below(n_items) as u32;
                    if let Err(pos) = cands.binary_search(&i) {
                        cands.insert(pos, i);
                    }
                    tries += 1;
                }
                let rounds = data.rounds.min(cands.len() / k).max(1);
                let mut env = ReplayEnv::new(h.user, cands, &rated, data.like);
                let (mut pol, z) = model.user(&model.w, h.user, k);
                let mut shown: Vec<u32> = Vec::new();
                for _ in 0..rounds {
                    let avail: Vec<u32> = env.candidates().iter().copied().filter(|i| !shown.contains(i)).collect();
                    let slate = pol.slate(&avail, k, &mut ctx.rng)?;
                    let fb = env.show(&slate);
                    clicks += fb.iter().filter(|f| f.click).count() as f64;
                    pol.observe(&fb, &mut ctx.rng)?;
                    shown.extend(slate);
                }
                for r in 0..di {
                    for c in 0..du {
                        grad[r * du + c] += pol.meta_grad[r] * z[c] / p.batch as f64;
                    }
                }
            }
            reward_sum += clicks / p.batch as f64;
            // Adam ascent (Kingma & Ba 2015).
            let t = (step + 1) as i32;
            for j in 0..grad.len() {
                m1[j] = 0.9 * m1[j] + 0.1 * grad[j];
                m2[j] = 0.999 * m2[j] + 0.001 * grad[j] * grad[j];
                let mh = m1[j] / (1.0 - 0.9f64.powi(t));
                let vh = m2[j] / (1.0 - 0.999f64.powi(t));
                model.w[j] += p.meta_lr * mh / (vh.sqrt() + 1e-8);
            }
        }
        model.report.steps = p.meta_steps as u64;
        model
            .report
            .notes
            .insert("mean_episode_clicks".into(), format!("{:.4}", reward_sum / p.meta_steps.max(1) as f64));
        if model.w.iter().any(|x| !x.is_finite()) {
            return Err(MethodError::Diverged { method: "mpo".into(), context: "meta-training".into() });
        }
        Ok(Box::new(model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Plackett-Luce gradient of one position and the KL gradient against finite differences.
    #[test]
    fn gradients_match_finite_differences() {
        let x = vec![vec![1.0, 0.3], vec![1.0, -0.7], vec![1.0, 1.2]];
        let avail = [0u32, 1, 2];
        let v0 = vec![0.2, -0.4];
        let delta = vec![0.1, 0.5];
        let mk = |delta: Vec<f64>| MpoUser {
            x: &x,
            v0: v0.clone(),
            delta,
            inner_lr: 0.0,
            kl: 0.0,
            clicks: 0.0,
            seen: 1.0,
            grads: Vec::new(),
            kl_grad: vec![0.0; 2],
            meta_grad: vec![0.0; 2],
        };
        let logp_first = |delta: &[f64], item: usize| {
            let w: Vec<f64> = v0.iter().zip(delta).map(|(a, b)| a + b).collect();
            let s: Vec<f64> = x.iter().map(|xi| xi[0] * w[0] + xi[1] * w[1]).collect();
            softmax(&s)[item].ln()
        };
        let kl_of = |delta: &[f64]| {
            let w: Vec<f64> = v0.iter().zip(delta).map(|(a, b)| a + b).collect();
            let p = softmax(&x.iter().map(|xi| xi[0] * w[0] + xi[1] * w[1]).collect::<Vec<_>>());
            let q = softmax(&x.iter().map(|xi| xi[0] * v0[0] + xi[1] * v0[1]).collect::<Vec<_>>());
            p.iter().zip(&q).map(|(a, b)| a * (a / b).ln()).sum::<f64>()
        };
        let mut u = mk(delta.clone());
        let slate = u.slate(&avail, 1, &mut Rng::new(4)).unwrap();
        let h = 1e-6;
        for c in 0..2 {
            let mut up = delta.clone();
            up[c] += h;
            let mut dn = delta.clone();
            dn[c] -= h;
            let fd = (logp_first(&up, slate[0] as usize) - logp_first(&dn, slate[0] as usize)) / (2.0 * h);
            assert!((fd - u.grads[0][c]).abs() < 1e-7, "log pi: {fd} vs {}", u.grads[0][c]);
            let fd = (kl_of(&up) - kl_of(&dn)) / (2.0 * h);
            assert!((fd - u.kl_grad[c]).abs() < 1e-7, "KL: {fd} vs {}", u.kl_grad[c]);
        }
    }
}
