//! Policies of the online protocol: one trait family for bandit baselines, the oracle and the
//! meta-learned policies, plus the wrapper that lets every rating method play.
//!
//! Three types, as for rating methods: a [`PolicyMethod`] (hyper-parameters) is meta-trained
//! once per cell into a [`PolicyModel`], which [`PolicyModel::start`]s one [`Policy`] per test
//! user; the policy proposes slates and [`Policy::observe`]s their feedback. Policies see only
//! what a method may see: meta-train histories, features, and the feedback of their own slates
//! (the `oracle-policy`, a reference, also reads the world's truth).
//!
//! Policies are registered in the method registry ([`infos`]), so `--methods` names them and
//! resolution validates their hyper-parameters; as rating methods they refuse to run
//! (`meta_train` errs), and the runner skips them on suites without `[interactive]`. Every
//! policy has `default_run = false`, so a plain `bench` on the rating suites is unchanged.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `random` | baseline | `k` distinct available items, uniformly |
//! | `popularity` | baseline | most liked items of meta-training (ratings `>= like`), no adaptation |
//! | `eps-greedy` | baseline | obp's EpsilonGreedy: per-item mean click rate of this user, random slate w.p. `epsilon` |
//! | `linucb` | baseline | obp's LinUCB on item features ([`linear`]) |
//! | `lin-ts` | baseline | obp's LinTS on item features ([`linear`]) |
//! | `bernoulli-ts` | baseline | obp's BernoulliTS: Beta(alpha, beta) per item |
//! | `oracle-policy` | reference | the `k` items of largest true click probability |
//! | `meta-ts` | meta-learner | meta Thompson sampling (Kveton et al. 2021) ([`linear`]) |
//! | `mpo` | meta-learner | meta-policy optimisation ([`mpo`]) |

pub mod linalg;
pub mod linear;
pub mod mpo;
pub mod wrapper;

use crate::env::Feedback;
use metarec_methods::params::{self, Check};
use metarec_methods::{Ctx, Method, MethodError, MethodInfo, MethodKind, Result, TrainData, TrainReport};
use metarec_suites::{Features, History, Rng, Truth};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One user's online policy.
pub trait Policy {
    /// Proposes `k` distinct items of `available` (the candidates, less those shown before when
    /// the environment shows each item once).
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>>;
    /// Learns from the feedback on the last slate.
    fn observe(&mut self, feedback: &[Feedback], rng: &mut Rng) -> Result<()>;
}

/// A meta-trained policy: starts one [`Policy`] per test user.
pub trait PolicyModel: Send + Sync {
    /// The policy of one new user, before any feedback.
    fn start<'m>(&'m self, user: u32, ctx: &mut Ctx) -> Result<Box<dyn Policy + 'm>>;
    fn report(&self) -> TrainReport {
        TrainReport::default()
    }
}

/// What meta-training of a policy may see.
pub struct PolicyData<'a> {
    pub features: &'a Arc<Features>,
    pub meta_train: &'a [History],
    /// A rating at or above this is a click.
    pub like: f32,
    /// The world's truth; `Some` only for the reference `oracle-policy` on synthetic suites.
    pub truth: Option<&'a Arc<Truth>>,
    /// The protocol's slate size and episode length (meta-training may mimic them).
    pub slate: usize,
    pub rounds: usize,
}

/// A policy under benchmark (hyper-parameters), meta-trained once per cell.
pub trait PolicyMethod: Send + Sync {
    fn meta_train(&self, data: &PolicyData<'_>, ctx: &mut Ctx) -> Result<Box<dyn PolicyModel>>;
}

/// Hyper-parameters of a policy, and how it is built from them.
pub trait PolicySpec: PolicyMethod + Sized + 'static {
    const NAME: &'static str;
    type Params: Serialize + for<'de> Deserialize<'de> + Default + Check;
    fn new(p: Self::Params) -> Self;
    fn params(&self) -> &Self::Params;
}

/// The registry's view of a policy: a `Method` that names itself and its parameters, and
/// refuses to be meta-trained as a rating method.
struct AsMethod<P: PolicySpec>(P);

impl<P: PolicySpec> Method for AsMethod<P> {
    fn name(&self) -> &str {
        P::NAME
    }
    fn params(&self) -> toml::Table {
        params::to_table(self.0.params())
    }
    fn meta_train(&self, _: &TrainData<'_>, _: &mut Ctx) -> Result<Box<dyn metarec_methods::Model>> {
        Err(MethodError::Unsupported {
            method: P::NAME.into(),
            reason: "an interactive policy: it plays only on suites with an [interactive] table".into(),
        })
    }
}

fn build_method<P: PolicySpec>(t: &toml::Table) -> Result<Box<dyn Method>> {
    Ok(Box::new(AsMethod(P::new(params::parse::<P::Params>(P::NAME, t)?))))
}

fn build_policy<P: PolicySpec>(t: &toml::Table) -> Result<Box<dyn PolicyMethod>> {
    Ok(Box::new(P::new(params::parse::<P::Params>(P::NAME, t)?)))
}

type PolicyBuild = fn(&toml::Table) -> Result<Box<dyn PolicyMethod>>;

fn table() -> Vec<(MethodInfo, PolicyBuild)> {
    fn entry<P: PolicySpec>(kind: MethodKind, summary: &'static str) -> (MethodInfo, PolicyBuild) {
        let info = MethodInfo { name: P::NAME, kind, summary, build: build_method::<P>, default_run: false };
        (info, build_policy::<P>)
    }
    use MethodKind::{Baseline, MetaLearner, Reference};
    vec![
        entry::<OraclePolicy>(Reference, "Interactive: the k items of largest true click probability (regret 0)."),
        entry::<RandomPolicy>(Baseline, "Interactive: k distinct items uniformly at random."),
        entry::<Popularity>(Baseline, "Interactive: the items most liked in meta-training; no adaptation."),
        entry::<EpsGreedy>(Baseline, "Interactive: obp's epsilon-greedy on per-item click rates."),
        entry::<linear::LinUcb>(Baseline, "Interactive: obp's LinUCB (ridge 1, Sherman-Morrison) on item features."),
        entry::<linear::LinTs>(Baseline, "Interactive: obp's LinTS, theta ~ N(theta_hat, A^-1), on item features."),
        entry::<BernoulliTs>(Baseline, "Interactive: obp's Bernoulli Thompson sampling, Beta(1, 1) per item."),
        entry::<linear::MetaTs>(MetaLearner, "Interactive: meta Thompson sampling (Kveton et al. 2021)."),
        entry::<mpo::Mpo>(MetaLearner, "Interactive: meta-policy optimisation, softmax policy, KL trust region."),
    ]
}

/// The policies' registry entries (all `default_run = false`).
pub fn infos() -> Vec<MethodInfo> {
    table().into_iter().map(|e| e.0).collect()
}

/// Builds the policy `name` from its resolved hyper-parameters; `None` if `name` is not a policy
/// (a rating method, which plays through [`wrapper`]).
pub fn build(name: &str, params: &toml::Table) -> Option<Result<Box<dyn PolicyMethod>>> {
    table().into_iter().find(|e| e.0.name == name).map(|e| (e.1)(params))
}

/// The top `k` of `items` by `scores`, ties in a random order drawn from `rng`.
pub fn top_k(items: &[u32], scores: &[f64], k: usize, rng: &mut Rng) -> Vec<u32> {
    let mut order = rng.sample_indices(items.len(), items.len());
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    order.into_iter().take(k).map(|i| items[i]).collect()
}

/// Parameters of policies that have none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Check for NoParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        Ok(())
    }
}

macro_rules! no_params {
    ($t:ident, $name:literal) => {
        impl PolicySpec for $t {
            const NAME: &'static str = $name;
            type Params = NoParams;
            fn new(_: NoParams) -> Self {
                $t(NoParams {})
            }
            fn params(&self) -> &NoParams {
                &self.0
            }
        }
    };
}

/// A policy whose slates depend on fixed per-item scores only (no adaptation).
struct FixedScores {
    /// Score per item index.
    scores: Vec<f64>,
}

impl Policy for FixedScores {
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>> {
        let s: Vec<f64> = available.iter().map(|i| self.scores[*i as usize]).collect();
        Ok(top_k(available, &s, k, rng))
    }
    fn observe(&mut self, _: &[Feedback], _: &mut Rng) -> Result<()> {
        Ok(())
    }
}

/// `random`.
pub struct RandomPolicy(NoParams);
no_params!(RandomPolicy, "random");

struct Uniform;
impl Policy for Uniform {
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>> {
        Ok(rng.sample_indices(available.len(), k).into_iter().map(|i| available[i]).collect())
    }
    fn observe(&mut self, _: &[Feedback], _: &mut Rng) -> Result<()> {
        Ok(())
    }
}
struct UniformModel;
impl PolicyModel for UniformModel {
    fn start<'m>(&'m self, _: u32, _: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        Ok(Box::new(Uniform))
    }
}
impl PolicyMethod for RandomPolicy {
    fn meta_train(&self, _: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        Ok(Box::new(UniformModel))
    }
}

/// `popularity`: items ranked by how many meta-train users liked them.
pub struct Popularity(NoParams);
no_params!(Popularity, "popularity");

struct ScoresModel(Vec<f64>);
impl PolicyModel for ScoresModel {
    fn start<'m>(&'m self, _: u32, _: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        Ok(Box::new(FixedScores { scores: self.0.clone() }))
    }
}
impl PolicyMethod for Popularity {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        let mut liked = vec![0.0; data.features.n_items()];
        for r in data.meta_train.iter().flat_map(|h| &h.ratings) {
            if r.value >= data.like {
                liked[r.item as usize] += 1.0;
            }
        }
        Ok(Box::new(ScoresModel(liked)))
    }
}

/// `oracle-policy`: the true click probabilities (a reference; needs the truth).
pub struct OraclePolicy(NoParams);
no_params!(OraclePolicy, "oracle-policy");

struct OracleModel {
    truth: Arc<Truth>,
    like: f32,
    n_items: usize,
}
impl PolicyModel for OracleModel {
    fn start<'m>(&'m self, user: u32, _: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        let scores =
            (0..self.n_items as u32).map(|i| crate::env::click_probability(&self.truth, user, i, self.like)).collect();
        Ok(Box::new(FixedScores { scores }))
    }
}
impl PolicyMethod for OraclePolicy {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        let truth = data.truth.ok_or_else(|| MethodError::Unsupported {
            method: Self::NAME.into(),
            reason: "needs the truth of a synthetic world".into(),
        })?;
        Ok(Box::new(OracleModel { truth: truth.clone(), like: data.like, n_items: data.features.n_items() }))
    }
}

/// `eps-greedy` parameters (obp's `EpsilonGreedy`, `epsilon` default 1.0 there; 0.1 here).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpsParams {
    /// Probability of a uniformly random slate in a round.
    pub epsilon: f64,
}
impl Default for EpsParams {
    fn default() -> Self {
        EpsParams { epsilon: 0.1 }
    }
}
impl Check for EpsParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if (0.0..=1.0).contains(&self.epsilon) {
            Ok(())
        } else {
            Err(("epsilon", format!("{} is not in [0, 1]", self.epsilon)))
        }
    }
}

/// `eps-greedy`: as obp's `EpsilonGreedy` (per-item click and show counts of this user, empty
/// items scoring 0, ties at random), with a whole random slate with probability `epsilon`.
pub struct EpsGreedy(EpsParams);
impl PolicySpec for EpsGreedy {
    const NAME: &'static str = "eps-greedy";
    type Params = EpsParams;
    fn new(p: EpsParams) -> Self {
        EpsGreedy(p)
    }
    fn params(&self) -> &EpsParams {
        &self.0
    }
}
/// Per-item click and show counts of one user, and the rule that turns them into a slate.
struct Counting {
    rule: CountRule,
    clicks: Vec<f64>,
    shows: Vec<f64>,
}

#[derive(Clone, Copy)]
enum CountRule {
    /// `eps-greedy`: a random slate with this probability, else the best mean click rates.
    Greedy(f64),
    /// `bernoulli-ts`: a draw from `Beta(alpha + clicks, beta + misses)` per item.
    Beta(f64, f64),
}

impl Policy for Counting {
    fn slate(&mut self, available: &[u32], k: usize, rng: &mut Rng) -> Result<Vec<u32>> {
        let counts = |i: &u32| (self.clicks[*i as usize], self.shows[*i as usize]);
        let s: Vec<f64> = match self.rule {
            CountRule::Greedy(epsilon) => {
                if rng.uniform() < epsilon {
                    return Ok(rng.sample_indices(available.len(), k).into_iter().map(|i| available[i]).collect());
                }
                available.iter().map(counts).map(|(c, n)| if n > 0.0 { c / n } else { 0.0 }).collect()
            }
            CountRule::Beta(a, b) => available.iter().map(counts).map(|(c, n)| rng.beta(a + c, b + n - c)).collect(),
        };
        Ok(top_k(available, &s, k, rng))
    }
    fn observe(&mut self, feedback: &[Feedback], _: &mut Rng) -> Result<()> {
        for f in feedback {
            self.shows[f.item as usize] += 1.0;
            self.clicks[f.item as usize] += f64::from(u8::from(f.click));
        }
        Ok(())
    }
}
struct CountingModel {
    rule: CountRule,
    n_items: usize,
}
impl PolicyModel for CountingModel {
    fn start<'m>(&'m self, _: u32, _: &mut Ctx) -> Result<Box<dyn Policy + 'm>> {
        let z = vec![0.0; self.n_items];
        Ok(Box::new(Counting { rule: self.rule, clicks: z.clone(), shows: z }))
    }
}
impl PolicyMethod for EpsGreedy {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        Ok(Box::new(CountingModel { rule: CountRule::Greedy(self.0.epsilon), n_items: data.features.n_items() }))
    }
}

/// `bernoulli-ts` parameters: obp's `BernoulliTS` prior (`alpha`, `beta`, default 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaParams {
    pub alpha: f64,
    pub beta: f64,
}
impl Default for BetaParams {
    fn default() -> Self {
        BetaParams { alpha: 1.0, beta: 1.0 }
    }
}
impl Check for BetaParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::positive("alpha", self.alpha)?;
        params::positive("beta", self.beta)
    }
}

/// `bernoulli-ts`: obp's `BernoulliTS` per user: each round, `Beta(alpha + clicks, beta +
/// shows - clicks)` is sampled per available item and the top `k` are shown.
pub struct BernoulliTs(BetaParams);
impl PolicySpec for BernoulliTs {
    const NAME: &'static str = "bernoulli-ts";
    type Params = BetaParams;
    fn new(p: BetaParams) -> Self {
        BernoulliTs(p)
    }
    fn params(&self) -> &BetaParams {
        &self.0
    }
}
impl PolicyMethod for BernoulliTs {
    fn meta_train(&self, data: &PolicyData<'_>, _: &mut Ctx) -> Result<Box<dyn PolicyModel>> {
        let rule = CountRule::Beta(self.0.alpha, self.0.beta);
        Ok(Box::new(CountingModel { rule, n_items: data.features.n_items() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_breaks_ties_at_random_and_keeps_order() {
        let mut rng = Rng::new(1);
        assert_eq!(top_k(&[10, 11, 12], &[0.1, 0.9, 0.5], 2, &mut rng), vec![11, 12]);
        let firsts: std::collections::BTreeSet<u32> =
            (0..50).map(|_| top_k(&[1, 2, 3], &[0.0, 0.0, 0.0], 1, &mut rng)[0]).collect();
        assert_eq!(firsts.len(), 3);
    }

    #[test]
    fn policies_are_named_and_validated() {
        let names: Vec<&str> = infos().iter().map(|i| i.name).collect();
        for n in [
            "random",
            "popularity",
            "eps-greedy",
            "linucb",
            "lin-ts",
            "bernoulli-ts",
            "oracle-policy",
            "meta-ts",
            "mpo",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert!(infos().iter().all(|i| !i.default_run));
        let mut t = toml::Table::new();
        t.insert("epsilon".into(), toml::Value::Float(1.5));
        let e = build("eps-greedy", &t).unwrap().err().unwrap().to_string();
        assert!(e.contains("epsilon"), "{e}");
        assert!(build("maml", &toml::Table::new()).is_none());
    }
}
