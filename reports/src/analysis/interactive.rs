//! Learning curves of the online protocol: for each (suite, scenario) with `regret@T` or
//! `reward@T` rows, the mean over users (each user's values averaged over seeds first) of each
//! method at every horizon `T` present.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::table::{Ordered, SCENARIO_ORDER, ordered};
use crate::results::ResultRow;

/// One method's curve: `(T, mean over users)`, `T` ascending.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveLine {
    pub method: String,
    pub points: Vec<(usize, f64)>,
}

/// The curves of one (suite, scenario, metric family).
#[derive(Clone, Debug, PartialEq)]
pub struct LearningCurve {
    pub suite: String,
    pub scenario: String,
    /// `regret` or `reward`.
    pub family: String,
    /// Every horizon with a value, ascending.
    pub horizons: Vec<usize>,
    pub lines: Vec<CurveLine>,
}

/// The families drawn, in order.
pub const FAMILIES: [&str; 2] = ["regret", "reward"];

/// The learning curves of the clean rows of `rows`, by suite, scenario (leaderboard order) and
/// family; methods by name.
pub fn learning_curves(rows: &[ResultRow]) -> Vec<LearningCurve> {
    type Key<'a> = (&'a str, Ordered<'a>, usize);
    // (suite, scenario, family) -> method -> horizon -> user -> (sum, n) over seeds.
    let mut acc: BTreeMap<Key, BTreeMap<&str, BTreeMap<usize, BTreeMap<u64, (f64, usize)>>>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.perturbation == "none") {
        let Some((fam, h)) = r.metric.split_once('@') else { continue };
        let Some(f) = FAMILIES.iter().position(|x| *x == fam) else { continue };
        let Ok(h) = h.parse::<usize>() else { continue };
        let e = acc
            .entry((&r.suite, ordered(&r.scenario, &SCENARIO_ORDER), f))
            .or_default()
            .entry(&r.method)
            .or_default()
            .entry(h)
            .or_default()
            .entry(r.user)
            .or_default();
        e.0 += r.value;
        e.1 += 1;
    }
    acc.into_iter()
        .map(|((suite, (_, scenario), f), methods)| {
            let horizons: BTreeSet<usize> = methods.values().flat_map(|m| m.keys().copied()).collect();
            let lines = methods
                .into_iter()
                .map(|(method, by_h)| CurveLine {
                    method: method.to_owned(),
                    points: by_h
                        .into_iter()
                        .map(|(h, users)| {
                            let n = users.len() as f64;
                            (h, users.values().map(|(s, k)| s / *k as f64).sum::<f64>() / n)
                        })
                        .collect(),
                })
                .collect();
            LearningCurve {
                suite: suite.to_owned(),
                scenario: scenario.to_owned(),
                family: FAMILIES[f].to_owned(),
                horizons: horizons.into_iter().collect(),
                lines,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::cold_row as row;

    #[test]
    fn users_are_averaged_over_seeds_then_over_users() {
        let rows = vec![
            row("a", 0, 1, "regret@1", 1.0),
            row("a", 1, 1, "regret@1", 3.0),
            row("a", 0, 2, "regret@1", 5.0),
            row("a", 0, 1, "regret@10", 4.0),
            row("b", 0, 1, "regret@10", 2.0),
            row("a", 0, 1, "ctr@10", 0.5),
            row("a", 0, 1, "mae", 0.5),
        ];
        let c = learning_curves(&rows);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].family.as_str(), c[0].horizons.clone()), ("regret", vec![1, 10]));
        // user 1: (1 + 3) / 2 = 2; user 2: 5; mean 3.5.
        assert_eq!(c[0].lines[0].points, vec![(1, 3.5), (10, 4.0)]);
        assert_eq!(c[0].lines[1], CurveLine { method: "b".into(), points: vec![(10, 2.0)] });
    }
}
