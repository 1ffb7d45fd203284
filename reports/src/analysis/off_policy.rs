//! Off-policy estimates ([`crate::off_policy`] rows): per suite, seed and evaluated logs, every
//! (policy, estimator) estimate with its bootstrap interval, beside the published value of the
//! same (policy, estimator) where the suite declares one, and the relative error against the
//! on-policy value of the logs the policy itself collected (obp's `relative-ee`,
//! |estimate − on-policy| / on-policy), where the run has them.

use crate::off_policy::OffPolicyRow;

/// One published off-policy number (a suite's `[[open-bandit.published]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedEstimate {
    pub suite: String,
    pub policy: String,
    pub estimator: String,
    pub value: f64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub source: String,
}

/// One line of a table: an estimate and what it is compared with.
#[derive(Clone, Debug, PartialEq)]
pub struct EstimateLine {
    pub row: OffPolicyRow,
    pub published: Option<PublishedEstimate>,
    /// The on-policy row of the logs this policy collected (same suite and seed), if any.
    pub on_policy: Option<OffPolicyRow>,
}

impl EstimateLine {
    /// obp's relative estimation error against the on-policy value (`None` without one, or
    /// when that value is 0).
    pub fn relative_error(&self) -> Option<f64> {
        let truth = self.on_policy.as_ref()?.estimate;
        (truth != 0.0).then(|| (self.row.estimate - truth).abs() / truth)
    }
}

/// The estimates of one suite and seed on one set of logs, then the on-policy rows.
#[derive(Clone, Debug, PartialEq)]
pub struct OffPolicyTable {
    pub suite: String,
    pub seed: u64,
    /// The evaluated logs (`random/all`).
    pub logs: String,
    pub lines: Vec<EstimateLine>,
    /// The on-policy rows of the suite and seed (every logs).
    pub on_policy: Vec<OffPolicyRow>,
}

/// Groups `rows` into tables in file order of (suite, seed, logs); on-policy rows go to every
/// table of their suite and seed.
pub fn off_policy_tables(rows: &[OffPolicyRow], published: &[PublishedEstimate]) -> Vec<OffPolicyTable> {
    let on = |r: &OffPolicyRow| r.estimator == "on-policy";
    let mut tables: Vec<OffPolicyTable> = Vec::new();
    for r in rows.iter().filter(|r| !on(r)) {
        let pos = tables.iter().position(|t| t.suite == r.suite && t.seed == r.seed && t.logs == r.logs);
        let i = pos.unwrap_or_else(|| {
            let on_policy = rows.iter().filter(|o| on(o) && o.suite == r.suite && o.seed == r.seed).cloned().collect();
            tables.push(OffPolicyTable {
                suite: r.suite.clone(),
                seed: r.seed,
                logs: r.logs.clone(),
                lines: Vec::new(),
                on_policy,
            });
            tables.len() - 1
        });
        let line = EstimateLine {
            row: r.clone(),
            published: published
                .iter()
                .find(|p| p.suite == r.suite && p.policy == r.policy && p.estimator == r.estimator)
                .cloned(),
            on_policy: tables[i].on_policy.iter().find(|o| o.policy == r.policy).cloned(),
        };
        tables[i].lines.push(line);
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(logs: &str, policy: &str, estimator: &str, estimate: f64) -> OffPolicyRow {
        OffPolicyRow {
            suite: "s".into(),
            seed: 0,
            logs: logs.into(),
            policy: policy.into(),
            estimator: estimator.into(),
            estimate,
            boot_mean: estimate,
            ci_low: 0.0,
            ci_high: 1.0,
            n_rounds: 10,
            n_bootstrap: 100,
            alpha: 0.05,
        }
    }

    #[test]
    fn estimates_meet_their_published_value_and_on_policy_truth() {
        let rows = vec![
            row("random/all", "bts", "ipw", 0.0046),
            row("random/all", "popularity", "ipw", 0.001),
            row("bts/all", "bts", "on-policy", 0.0042),
            row("random/all", "random", "on-policy", 0.0038),
        ];
        let published = vec![PublishedEstimate {
            suite: "s".into(),
            policy: "bts".into(),
            estimator: "ipw".into(),
            value: 0.004553,
            ci_low: None,
            ci_high: None,
            source: "obp".into(),
        }];
        let t = off_policy_tables(&rows, &published);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].logs.as_str(), t[0].lines.len(), t[0].on_policy.len()), ("random/all", 2, 2));
        assert_eq!(t[0].lines[0].published.as_ref().map(|p| p.value), Some(0.004553));
        // |0.0046 − 0.0042| / 0.0042
        assert!((t[0].lines[0].relative_error().unwrap() - 0.0004 / 0.0042).abs() < 1e-12);
        assert_eq!((t[0].lines[1].published.as_ref(), t[0].lines[1].relative_error()), (None, None));
    }
}
