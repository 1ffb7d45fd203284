//! Users per scenario: for every (suite, scenario) of the clean results, how many distinct test
//! users have a value, and over how many methods, seeds and metrics.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::table::{Ordered, SCENARIO_ORDER, ordered};
use crate::results::ResultRow;

/// The counts of one (suite, scenario).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCount {
    pub suite: String,
    pub scenario: String,
    /// Distinct users with a value.
    pub users: usize,
    /// Distinct methods, seeds and metrics scored.
    pub methods: usize,
    pub seeds: usize,
    pub metrics: usize,
    /// Rows (per-user values).
    pub values: usize,
}

/// The counts of `rows` with perturbation `none`, by suite and scenario in leaderboard order.
pub fn user_counts(rows: &[ResultRow]) -> Vec<UserCount> {
    type Sets<'a> = (BTreeSet<u64>, BTreeSet<&'a str>, BTreeSet<u64>, BTreeSet<&'a str>, usize);
    let mut by: BTreeMap<(&str, Ordered), Sets> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.perturbation == "none") {
        let e = by.entry((&r.suite, ordered(&r.scenario, &SCENARIO_ORDER))).or_default();
        e.0.insert(r.user);
        e.1.insert(&r.method);
        e.2.insert(r.seed);
        e.3.insert(&r.metric);
        e.4 += 1;
    }
    by.into_iter()
        .map(|((suite, (_, scenario)), (users, methods, seeds, metrics, values))| UserCount {
            suite: suite.to_owned(),
            scenario: scenario.to_owned(),
            users: users.len(),
            methods: methods.len(),
            seeds: seeds.len(),
            metrics: metrics.len(),
            values,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, method: &str, seed: u64, perturbation: &str, user: u64) -> ResultRow {
        ResultRow {
            suite: "s".into(),
            scenario: scenario.into(),
            method: method.into(),
            seed,
            perturbation: perturbation.into(),
            user,
            metric: "mae".into(),
            value: 0.5,
        }
    }

    #[test]
    fn counts_distinct_users_methods_and_seeds_of_clean_rows() {
        let rows = [
            row("user-cold", "a", 0, "none", 1),
            row("user-cold", "a", 1, "none", 1),
            row("user-cold", "b", 0, "none", 2),
            row("user-cold", "b", 0, "shots(1)", 9),
            row("warm", "a", 0, "none", 3),
        ];
        let counts = user_counts(&rows);
        // warm comes first in leaderboard order; the perturbed row's user 9 is not counted
        assert_eq!(counts.iter().map(|c| c.scenario.as_str()).collect::<Vec<_>>(), ["warm", "user-cold"]);
        let cold = &counts[1];
        assert_eq!((cold.users, cold.methods, cold.seeds, cold.metrics, cold.values), (2, 2, 2, 1, 3));
        assert_eq!((counts[0].users, counts[0].values), (1, 1));
    }
}
