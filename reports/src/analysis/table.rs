//! The leaderboard's tables: the rows of perturbation `none` grouped by suite, scenario and
//! metric (in the leaderboard's order) and method, with the per-user means that every
//! analysis pairs users on.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::metrics::Direction;
use crate::results::ResultRow;

/// Scenarios listed first, in this order; others follow alphabetically.
pub(crate) const SCENARIO_ORDER: [&str; 4] = ["warm", "user-cold", "item-cold", "user-item-cold"];
/// Metrics listed first, in this order; others follow alphabetically.
pub(crate) const METRIC_ORDER: [&str; 2] = ["mae", "rmse"];

/// Sort key putting the names of `first` first, in that order, then the rest
/// alphabetically.
pub(crate) type Ordered<'a> = (usize, &'a str);

pub(crate) fn ordered<'a>(name: &'a str, first: &[&str]) -> Ordered<'a> {
    (first.iter().position(|f| *f == name).unwrap_or(first.len()), name)
}

/// (seed, user, value) of one method in one table.
pub(crate) type Values = Vec<(u64, u64, f64)>;
/// suite -> scenario -> metric -> method -> values.
pub(crate) type Cells<'a> = BTreeMap<&'a str, BTreeMap<Ordered<'a>, BTreeMap<Ordered<'a>, BTreeMap<&'a str, Values>>>>;

/// How a metric's direction is written.
pub fn direction_label(dir: Option<Direction>) -> &'static str {
    match dir {
        Some(Direction::LowerIsBetter) => "lower is better",
        Some(Direction::HigherIsBetter) => "higher is better",
        None => "direction unknown",
    }
}

/// Orders means best first for `dir`, NaN last.
pub(crate) fn better_first(a: f64, b: f64, dir: Direction) -> Ordering {
    let by_value = match dir {
        Direction::LowerIsBetter => a.partial_cmp(&b),
        Direction::HigherIsBetter => b.partial_cmp(&a),
    };
    a.is_nan().cmp(&b.is_nan()).then(by_value.unwrap_or(Ordering::Equal))
}

/// Groups the `"none"`-perturbation rows into leaderboard tables.
pub(crate) fn group_rows(rows: &[ResultRow]) -> Cells<'_> {
    let mut cells: Cells = BTreeMap::new();
    for r in rows.iter().filter(|r| r.perturbation == "none") {
        cells
            .entry(&r.suite)
            .or_default()
            .entry(ordered(&r.scenario, &SCENARIO_ORDER))
            .or_default()
            .entry(ordered(&r.metric, &METRIC_ORDER))
            .or_default()
            .entry(&r.method)
            .or_default()
            .push((r.seed, r.user, r.value));
    }
    cells
}

/// Per-user seed means, by user.
pub(crate) fn user_means(values: &Values) -> BTreeMap<u64, f64> {
    let mut sums: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    let mut sorted = values.clone();
    sorted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    for (_, user, v) in sorted {
        let e = sums.entry(user).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    sums.into_iter().map(|(u, (s, n))| (u, s / n as f64)).collect()
}
