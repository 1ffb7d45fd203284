//! Published numbers beside ours: for each value a paper reports (tied to one of our methods, a
//! scenario and a metric), our clean result's mean and 95% interval over users (seeds averaged
//! per user, as in the leaderboards), the difference, and whether the published value lies inside
//! our interval.

use crate::results::ResultRow;
use crate::summary::{Summary, summarize};

/// One published number, as a suite file declares it (`[published]`).
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedValue {
    pub method: String,
    /// The paper's name for the method (`MeLU-1`).
    pub label: String,
    pub scenario: String,
    pub metric: String,
    pub value: f64,
}

/// A suite's published numbers: where they come from and what is known of the differences.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub suite: String,
    pub source: String,
    pub notes: Vec<String>,
    pub values: Vec<PublishedValue>,
}

/// One published number against ours.
#[derive(Clone, Debug, PartialEq)]
pub struct Reproduced {
    pub published: PublishedValue,
    /// Our clean result (`None` when the run has no rows for it).
    pub ours: Option<Summary>,
}

impl Reproduced {
    /// Ours minus the published value.
    pub fn difference(&self) -> Option<f64> {
        self.ours.as_ref().map(|s| s.mean - self.published.value)
    }

    /// Whether the published value lies inside our 95% interval.
    pub fn inside(&self) -> Option<bool> {
        self.ours.as_ref().map(|s| s.ci_low <= self.published.value && self.published.value <= s.ci_high)
    }
}

/// Every published value of `published` against the clean rows of `rows` of its suite.
pub fn reproduce(rows: &[ResultRow], published: &Published) -> Vec<Reproduced> {
    published
        .values
        .iter()
        .map(|p| {
            let values: Vec<(u64, u64, f64)> = rows
                .iter()
                .filter(|r| {
                    r.suite == published.suite
                        && r.perturbation == "none"
                        && r.method == p.method
                        && r.scenario == p.scenario
                        && r.metric == p.metric
                })
                .map(|r| (r.seed, r.user, r.value))
                .collect();
            Reproduced { published: p.clone(), ours: summarize(&values) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        crate::testing::clean_row("s", "user-cold", method, "mae", seed, user, value)
    }

    /// By hand: users' seed means 0.7, 0.8, 0.9 give mean 0.8, sd 0.1, sem 0.1/sqrt(3), and
    /// t(0.975, 2) = 4.302652729749464 (scipy.stats.t.ppf), so the interval is
    /// 0.8 -+ 0.24841377... = [0.55158623, 1.04841377].
    #[test]
    fn ours_beside_published_by_hand() {
        let rows = vec![
            row("melu", 0, 0, 0.6),
            row("melu", 1, 0, 0.8),
            row("melu", 0, 1, 0.8),
            row("melu", 1, 1, 0.8),
            row("melu", 0, 2, 0.9),
            row("melu", 1, 2, 0.9),
            // another method, perturbation and suite: not ours for this value
            row("maml", 0, 0, 5.0),
            ResultRow { perturbation: "shots(1)".into(), ..row("melu", 0, 0, 5.0) },
            ResultRow { suite: "t".into(), ..row("melu", 0, 0, 5.0) },
        ];
        let value = |v: f64| PublishedValue {
            method: "melu".into(),
            label: "MeLU-1".into(),
            scenario: "user-cold".into(),
            metric: "mae".into(),
            value: v,
        };
        let p = Published { suite: "s".into(), source: "paper".into(), notes: vec![], values: vec![value(0.7884)] };
        let got = reproduce(&rows, &p);
        let ours = got[0].ours.as_ref().unwrap();
        assert!((ours.mean - 0.8).abs() < 1e-12);
        let half = 4.302652729749464 * 0.1 / 3f64.sqrt();
        assert!((ours.ci_low - (0.8 - half)).abs() < 1e-9 && (ours.ci_high - (0.8 + half)).abs() < 1e-9);
        assert_eq!(ours.n_units, 3);
        assert!((got[0].difference().unwrap() - (0.8 - 0.7884)).abs() < 1e-12);
        assert_eq!(got[0].inside(), Some(true));
        let p = Published { values: vec![value(0.5), PublishedValue { method: "x".into(), ..value(0.5) }], ..p };
        let got = reproduce(&rows, &p);
        assert_eq!(got[0].inside(), Some(false));
        assert_eq!(got[1].ours, None);
        assert_eq!(got[1].inside(), None);
    }
}
