//! Off-policy suites (`data.kind = "open-bandit"`): logged bandit feedback evaluated offline.
//!
//! Such a suite has no rating split and no methods: its `[open-bandit]` table names the logs
//! (behaviour policy and campaign of the Open Bandit Dataset sample), the evaluation policies,
//! the estimators and the bootstrap. The runner (`metarec::offline`) evaluates it with
//! `metarec_interactive::ope`; this module only parses and checks the table.
//!
//! ```toml
//! [data]
//! kind = "open-bandit"
//! [open-bandit]
//! campaign = "all"              # all, men or women
//! behavior = "random"           # the logs evaluated on (random or bts)
//! on_policy = "bts"             # the logs whose mean click is put beside the estimates
//! fit = "bts"                   # the logs our own policies are fitted on (disjoint rounds)
//! policies = ["bts", "random", "popularity"]
//! estimators = ["ipw", "snipw", "dm", "dr"]
//! n_bootstrap = 10000           # obp's estimate_interval default
//! alpha = 0.05                  # 95% intervals
//! n_sim = 100000                # Monte-Carlo draws of Bernoulli TS's action distribution
//! dm_folds = 3                  # cross-fitting folds of the reward model (1: fit on all rounds)
//! dm_shrinkage = 10.0           # pseudo-rounds of the reward model's shrinkage to the position mean
//! [[open-bandit.published]]     # obp's published quickstart values, put beside ours
//! ```

/// `data.kind` of an off-policy suite on the Open Bandit Dataset sample.
pub const OPEN_BANDIT_KIND: &str = "open-bandit";
/// The store's name of the Open Bandit Dataset sample (obp's wheel).
pub const OPEN_BANDIT_DATA: &str = "open-bandit";

/// The evaluation policies an off-policy suite may name.
pub const POLICIES: [&str; 4] = ["bts", "bts-fitted", "random", "popularity"];
/// The estimators an off-policy suite may name (obp's definitions).
pub const ESTIMATORS: [&str; 4] = ["ipw", "snipw", "dm", "dr"];
/// The campaigns of the Open Bandit Dataset.
pub const CAMPAIGNS: [&str; 3] = ["all", "men", "women"];
/// The behaviour policies that logged the Open Bandit Dataset.
pub const BEHAVIORS: [&str; 2] = ["random", "bts"];

/// `[open-bandit]` of an off-policy suite.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBanditSpec {
    #[serde(default = "default_campaign")]
    pub campaign: String,
    #[serde(default = "default_behavior")]
    pub behavior: String,
    /// The logs whose mean click (the on-policy value of their behaviour policy) is reported.
    #[serde(default = "default_on_policy")]
    pub on_policy: String,
    /// The logs our own policies (`popularity`, `bts-fitted`) are fitted on; must differ from
    /// `behavior`, so that fitting and evaluation never share a round.
    #[serde(default = "default_on_policy")]
    pub fit: String,
    #[serde(default = "default_policies")]
    pub policies: Vec<String>,
    #[serde(default = "default_estimators")]
    pub estimators: Vec<String>,
    #[serde(default = "default_bootstrap")]
    pub n_bootstrap: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_n_sim")]
    pub n_sim: usize,
    #[serde(default = "default_folds")]
    pub dm_folds: usize,
    #[serde(default = "default_shrinkage")]
    pub dm_shrinkage: f64,
    /// Published values (obp's quickstart), put beside ours in the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub published: Vec<PublishedEstimate>,
}

/// One published off-policy estimate.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedEstimate {
    pub policy: String,
    /// An estimator of [`ESTIMATORS`] or `on-policy`.
    pub estimator: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_high: Option<f64>,
    /// The citation, e.g. `obp 0.4.1, examples/quickstart/obd.ipynb`.
    pub source: String,
}

fn default_campaign() -> String {
    "all".into()
}
fn default_behavior() -> String {
    "random".into()
}
fn default_on_policy() -> String {
    "bts".into()
}
fn default_policies() -> Vec<String> {
    vec!["bts".into(), "random".into(), "popularity".into()]
}
fn default_estimators() -> Vec<String> {
    ESTIMATORS.iter().map(|s| s.to_string()).collect()
}
fn default_bootstrap() -> usize {
    10_000
}
fn default_alpha() -> f64 {
    0.05
}
fn default_n_sim() -> usize {
    100_000
}
fn default_folds() -> usize {
    3
}
fn default_shrinkage() -> f64 {
    10.0
}

impl Default for OpenBanditSpec {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl OpenBanditSpec {
    /// Checks every key; the error names it.
    pub fn check(&self) -> Result<(), String> {
        let one_of = |key: &str, v: &str, known: &[&str]| {
            if known.contains(&v) {
                Ok(())
            } else {
                Err(format!("open-bandit.{key}: unknown value `{v}` (known: {})", known.join(", ")))
            }
        };
        one_of("campaign", &self.campaign, &CAMPAIGNS)?;
        one_of("behavior", &self.behavior, &BEHAVIORS)?;
        one_of("on_policy", &self.on_policy, &BEHAVIORS)?;
        one_of("fit", &self.fit, &BEHAVIORS)?;
        if self.fit == self.behavior {
            return Err(format!(
                "open-bandit.fit: `{}` are the logs evaluated on (behavior); our policies are fitted on the other logs",
                self.fit
            ));
        }
        for (key, list, known) in
            [("policies", &self.policies, &POLICIES[..]), ("estimators", &self.estimators, &ESTIMATORS[..])]
        {
            if list.is_empty() {
                return Err(format!("open-bandit.{key}: must name at least one (known: {})", known.join(", ")));
            }
            let mut seen = std::collections::BTreeSet::new();
            for v in list {
                one_of(key, v, known)?;
                if !seen.insert(v) {
                    return Err(format!("open-bandit.{key}: `{v}` is listed twice"));
                }
            }
        }
        if self.n_bootstrap < 100 {
            return Err(format!("open-bandit.n_bootstrap: {} is too few (at least 100)", self.n_bootstrap));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(format!("open-bandit.alpha: {} is not in (0, 1)", self.alpha));
        }
        if self.n_sim == 0 {
            return Err("open-bandit.n_sim: must be at least 1".into());
        }
        if self.dm_folds == 0 {
            return Err("open-bandit.dm_folds: must be at least 1 (1: fit on every round)".into());
        }
        if !(self.dm_shrinkage >= 0.0 && self.dm_shrinkage.is_finite()) {
            return Err(format!("open-bandit.dm_shrinkage: {} is not a finite number >= 0", self.dm_shrinkage));
        }
        for (i, p) in self.published.iter().enumerate() {
            let ok = p.value.is_finite()
                && p.ci_low.is_none_or(f64::is_finite)
                && p.ci_high.is_none_or(f64::is_finite)
                && (p.estimator == "on-policy" || ESTIMATORS.contains(&p.estimator.as_str()));
            if !ok {
                return Err(format!(
                    "open-bandit.published[{i}]: needs finite values and an estimator of {} or on-policy",
                    ESTIMATORS.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_check_and_bad_keys_are_named() {
        let spec = OpenBanditSpec::default();
        assert_eq!(spec.check(), Ok(()));
        assert_eq!((spec.n_bootstrap, spec.n_sim, spec.alpha), (10_000, 100_000, 0.05));
        let bad = OpenBanditSpec { policies: vec!["linucb".into()], ..OpenBanditSpec::default() };
        assert!(bad.check().unwrap_err().starts_with("open-bandit.policies: unknown value `linucb`"));
        let same = OpenBanditSpec { fit: "random".into(), ..OpenBanditSpec::default() };
        assert!(same.check().unwrap_err().starts_with("open-bandit.fit:"));
        let twice = OpenBanditSpec { estimators: vec!["ipw".into(), "ipw".into()], ..OpenBanditSpec::default() };
        assert_eq!(twice.check().unwrap_err(), "open-bandit.estimators: `ipw` is listed twice");
        let alpha = OpenBanditSpec { alpha: 1.0, ..OpenBanditSpec::default() };
        assert!(alpha.check().unwrap_err().starts_with("open-bandit.alpha"));
    }
}
