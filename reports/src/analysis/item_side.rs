//! The item-side fairness and popularity-bias section of the reports: for
//! every (suite, scenario, perturbation) a table of the methods' top-k
//! accuracy (HR@k, nDCG@k) and popularity bias (ARP, APLT, exposure Gini,
//! catalogue coverage, PopRSP, PopREO with their per-group rates), each the
//! mean over seeds with a Student-t interval over seeds.
//!
//! **Input.** Three files of a run directory, read with [`read_items`],
//! [`read_candidates`] and [`read_rankings`] (or all at once with
//! [`load_item_side`], which gives `None` when one of them is absent):
//!
//! | file | header | one row per |
//! |---|---|---|
//! | `items.csv` | `suite,item,ratings` | item of the suite's dataset; `ratings` = its number of meta-train ratings (its popularity) |
//! | `candidates.csv` | `suite,scenario,user,candidates,relevant` | test user and scenario; space-separated item ids: the candidate set (query items plus sampled unrated items) and the liked candidates (may be empty) |
//! | `rankings.csv` | `suite,scenario,method,seed,perturbation,user,top` | cell, scenario, perturbation and user; `top` = the method's top-k of the user's candidates, best first |
//!
//! **Statistics** ([`analyze_item_side`]). Per (suite, scenario,
//! perturbation, method) each metric is computed per seed over that seed's
//! users with the functions of [`crate::fairness`]; then the mean over seeds
//! and the two-sided (1 - alpha) Student-t interval over seeds
//! ([`t_interval`], df = seeds - 1) are reported, the mean alone with one
//! seed. Definitions:
//!
//! - k is the length of the suite's top lists (the longest list of the suite;
//!   a list may be shorter only when it holds all of its user's candidates).
//! - Popularity of an item = its `ratings` in `items.csv`. The head
//!   ("popular") items of a suite are those of
//!   [`popularity_groups`]`(ratings of every item of items.csv, head_share)`:
//!   the most popular items (ties by ascending item id) that together hold
//!   `head_share` of the suite's meta-train ratings; all others are the long
//!   tail.
//! - The catalogue of a (suite, scenario) is its candidate pool: every item in
//!   the candidate set of some test user of the scenario in `candidates.csv`
//!   (what the methods could recommend; items outside every candidate set
//!   cannot be recommended, so they are not counted against anyone). Exposure
//!   Gini and coverage are over this catalogue, PopRSP and PopREO over its
//!   head / long-tail split.
//! - HR@k and nDCG@k (binary relevance: the liked candidates) average over the
//!   users with at least one liked candidate; the others are left out and
//!   counted ([`ItemSideRow::users_without_liked`]).
//!
//! Nothing here panics or produces NaN: a value that is undefined (no user
//! with a liked candidate, no head item among the candidates, ...) is absent
//! and an [`ItemSideSkipped`] entry says why; rows that do not match each
//! other (which the readers refuse, but the analysis may be given anything)
//! leave the affected method and seed out, also with a reason. The result
//! depends only on the sets of rows, not on their order.
//!
//! **Rendering** is [`crate::build::item_side`]'s.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::analysis::table::{Ordered, SCENARIO_ORDER, ordered};
use crate::fairness::{
    FairnessError, UserRanking, average_recommendation_popularity, catalogue_coverage, exposure_gini, hit_ratio_at,
    long_tail_share, ndcg_binary_at, pop_reo, pop_rsp, popularity_groups,
};
use crate::read::{CandidateRow, ItemRow, RankingRow};
use crate::summary::t_interval;

// ---------------------------------------------------------------------------
// Rows and readers
// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------

/// Parameters of [`analyze_item_side`].
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSideOptions {
    /// Share of the suite's meta-train ratings held by the head ("popular")
    /// items, in [0, 1] (default 0.2); see [`popularity_groups`].
    pub head_share: f64,
    /// The intervals over seeds have confidence 1 - alpha (default 0.05: 95%).
    pub alpha: f64,
}

impl Default for ItemSideOptions {
    fn default() -> Self {
        ItemSideOptions { head_share: 0.2, alpha: 0.05 }
    }
}

/// The quantities of a table row, in column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemMetric {
    /// HR@k over the users with a liked candidate; higher is better.
    HitRatio,
    /// Binary-relevance nDCG@k over the users with a liked candidate; higher is better.
    Ndcg,
    /// Average recommendation popularity; lower = less popularity bias.
    Arp,
    /// Average share of long-tail items in the lists; higher = more long tail.
    Aplt,
    /// Gini coefficient of item exposure over the catalogue; lower = more even.
    Gini,
    /// Share of the catalogue in some list; higher = more diverse.
    Coverage,
    /// Relative std of the groups' recommendation rates; lower = more parity.
    PopRsp,
    /// Relative std of the groups' recall of liked candidates; lower = more parity.
    PopReo,
    /// Head rate behind PopRSP: recommended / candidate head items.
    RspHead,
    /// Long-tail rate behind PopRSP.
    RspTail,
    /// Head rate behind PopREO: recommended / liked head candidates.
    ReoHead,
    /// Long-tail rate behind PopREO.
    ReoTail,
}

impl ItemMetric {
    /// Every quantity, in column order (the index into [`ItemSideRow::estimates`]).
    pub const ALL: [ItemMetric; 12] = [
        ItemMetric::HitRatio,
        ItemMetric::Ndcg,
        ItemMetric::Arp,
        ItemMetric::Aplt,
        ItemMetric::Gini,
        ItemMetric::Coverage,
        ItemMetric::PopRsp,
        ItemMetric::PopReo,
        ItemMetric::RspHead,
        ItemMetric::RspTail,
        ItemMetric::ReoHead,
        ItemMetric::ReoTail,
    ];

    /// The main columns (the rest are the per-group rates).
    pub const MAIN: [ItemMetric; 8] = [
        ItemMetric::HitRatio,
        ItemMetric::Ndcg,
        ItemMetric::Arp,
        ItemMetric::Aplt,
        ItemMetric::Gini,
        ItemMetric::Coverage,
        ItemMetric::PopRsp,
        ItemMetric::PopReo,
    ];

    /// The per-group rates behind PopRSP and PopREO.
    pub const RATES: [ItemMetric; 4] =
        [ItemMetric::RspHead, ItemMetric::RspTail, ItemMetric::ReoHead, ItemMetric::ReoTail];

    /// Position in [`ItemMetric::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The column name, with `k` for HR@k and nDCG@k.
    pub fn name(self, k: usize) -> String {
        match self {
            ItemMetric::HitRatio => format!("HR@{k}"),
            ItemMetric::Ndcg => format!("nDCG@{k}"),
            ItemMetric::Arp => "ARP".into(),
            ItemMetric::Aplt => "APLT".into(),
            ItemMetric::Gini => "Gini".into(),
            ItemMetric::Coverage => "coverage".into(),
            ItemMetric::PopRsp => "PopRSP".into(),
            ItemMetric::PopReo => "PopREO".into(),
            ItemMetric::RspHead => "PopRSP head rate".into(),
            ItemMetric::RspTail => "PopRSP tail rate".into(),
            ItemMetric::ReoHead => "PopREO head rate".into(),
            ItemMetric::ReoTail => "PopREO tail rate".into(),
        }
    }
}

/// Mean over seeds of one quantity and its interval over seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Mean of the per-seed values.
    pub mean: f64,
    /// Two-sided (1 - alpha) Student-t interval over seeds (df = seeds - 1),
    /// `(low, high)`; `None` with one seed.
    pub ci: Option<(f64, f64)>,
    /// Seeds for which the quantity is defined (the values averaged).
    pub seeds: usize,
}

/// One method in one table.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSideRow {
    /// The method's name as in `rankings.csv`.
    pub method: String,
    /// Seeds with rankings that could be scored.
    pub seeds: usize,
    /// Distinct users ranked over those seeds.
    pub users: usize,
    /// Of [`ItemSideRow::users`], those without a liked candidate: left out of
    /// HR@k and nDCG@k.
    pub users_without_liked: usize,
    /// Indexed by [`ItemMetric::index`]; `None` where the quantity is undefined
    /// for every seed (the reason is in [`ItemSideReport::skipped`]).
    pub estimates: [Option<Estimate>; 12],
}

impl ItemSideRow {
    /// The estimate of `m`, if defined.
    pub fn get(&self, m: ItemMetric) -> Option<&Estimate> {
        self.estimates[m.index()].as_ref()
    }
}

/// One (suite, scenario, perturbation) table.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSideTable {
    /// The suite.
    pub suite: String,
    /// The scenario.
    pub scenario: String,
    /// `none` for the clean rankings, else the perturbation's label.
    pub perturbation: String,
    /// Length of the suite's top-k lists.
    pub k: usize,
    /// Items in the scenario's candidate pool (the catalogue of Gini and
    /// coverage).
    pub catalogue: usize,
    /// Of those, head items.
    pub head_items: usize,
    /// Test users of the scenario in `candidates.csv`.
    pub candidate_users: usize,
    /// Size of the smallest candidate set of the scenario.
    pub candidates_min: usize,
    /// Size of the largest candidate set of the scenario.
    pub candidates_max: usize,
    /// One per method with a scored seed, by method name.
    pub rows: Vec<ItemSideRow>,
}

/// Something [`analyze_item_side`] could not compute, and why. Fields that do
/// not apply are empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemSideSkipped {
    /// The suite concerned; empty for the whole report.
    pub suite: String,
    /// The scenario concerned; empty for a whole suite.
    pub scenario: String,
    /// The perturbation concerned; empty for a whole suite or scenario.
    pub perturbation: String,
    /// The method concerned; empty for a whole scenario.
    pub method: String,
    /// The quantity concerned ([`ItemMetric::name`]), or empty for the whole
    /// method (or scenario, or suite).
    pub what: String,
    /// The seeds concerned; empty: every seed of the method.
    pub seeds: Vec<u64>,
    /// Why.
    pub reason: String,
}

/// Everything the item-side section shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSideReport {
    /// The options the report was computed with.
    pub options: ItemSideOptions,
    /// By suite (name), scenario (leaderboard order), perturbation (`none`
    /// first, then by name).
    pub tables: Vec<ItemSideTable>,
    /// In the order of the tables they concern.
    pub skipped: Vec<ItemSideSkipped>,
}

/// Perturbation order: `none` first, then by name.
pub(crate) type PertOrder<'a> = (bool, &'a str);

pub(crate) fn pert_order(p: &str) -> PertOrder<'_> {
    (p != "none", p)
}

/// A (suite, scenario) with its candidates mapped to catalogue indices.
struct Scenario {
    /// Sorted external ids; the position is the catalogue index.
    pool: Vec<u64>,
    index: HashMap<u64, u32>,
    popularity: Vec<f64>,
    is_long_tail: Vec<bool>,
    /// 0 = head, 1 = long tail.
    group: Vec<usize>,
    head_items: usize,
    /// user -> (candidates, relevant) as catalogue indices.
    users: BTreeMap<u64, (Vec<u32>, Vec<u32>)>,
}

/// A suite's ratings per item and its head items, or why they are unusable.
type SuitePopularity = Result<(HashMap<u64, u64>, HashSet<u64>), String>;

/// Head items of every suite, or why the suite's popularity is unusable.
fn head_sets(items: &[ItemRow], head_share: f64) -> BTreeMap<&str, SuitePopularity> {
    let mut by_suite: BTreeMap<&str, BTreeMap<u64, BTreeSet<u64>>> = BTreeMap::new();
    for i in items {
        by_suite.entry(&i.suite).or_default().entry(i.item).or_default().insert(i.ratings);
    }
    by_suite
        .into_iter()
        .map(|(suite, items)| {
            let result = (|| {
                if let Some((item, _)) = items.iter().find(|(_, r)| r.len() > 1) {
                    return Err(format!("items.csv gives item {item} two different numbers of ratings"));
                }
                let ids: Vec<u64> = items.keys().copied().collect();
                let ratings: HashMap<u64, u64> =
                    items.iter().filter_map(|(i, r)| Some((*i, *r.iter().next()?))).collect();
                let popularity: Vec<f64> = ids.iter().map(|i| ratings[i] as f64).collect();
                let tail = popularity_groups(&popularity, head_share).map_err(|e| e.to_string())?;
                let head = ids.iter().zip(tail).filter(|(_, t)| !t).map(|(i, _)| *i).collect();
                Ok((ratings, head))
            })();
            (suite, result)
        })
        .collect()
}

/// The scenario's catalogue, or why it cannot be scored.
fn scenario(users: &BTreeMap<u64, Vec<&CandidateRow>>, heads: Option<&SuitePopularity>) -> Result<Scenario, String> {
    let (ratings, head) = match heads {
        None => return Err("items.csv has no rows for this suite".to_owned()),
        Some(Err(e)) => return Err(e.clone()),
        Some(Ok(h)) => h,
    };
    let mut rows: BTreeMap<u64, &CandidateRow> = BTreeMap::new();
    for (user, list) in users {
        if list.iter().any(|c| c != &list[0]) {
            return Err(format!("candidates.csv has two different rows for user {user}"));
        }
        rows.insert(*user, list[0]);
    }
    let pool: Vec<u64> =
        rows.values().flat_map(|c| c.candidates.iter().copied()).collect::<BTreeSet<u64>>().into_iter().collect();
    if let Some(item) = pool.iter().find(|i| !ratings.contains_key(i)) {
        return Err(format!("candidate item {item} is not in items.csv"));
    }
    let index: HashMap<u64, u32> = pool.iter().enumerate().map(|(i, id)| (*id, i as u32)).collect();
    let is_long_tail: Vec<bool> = pool.iter().map(|i| !head.contains(i)).collect();
    let mut local = BTreeMap::new();
    for (user, c) in rows {
        if let Some(item) = c.relevant.iter().find(|i| !c.candidates.contains(i)) {
            return Err(format!("relevant item {item} of user {user} is not among the user's candidates"));
        }
        let map = |ids: &[u64]| ids.iter().map(|i| index[i]).collect::<Vec<u32>>();
        local.insert(user, (map(&c.candidates), map(&c.relevant)));
    }
    Ok(Scenario {
        popularity: pool.iter().map(|i| ratings[i] as f64).collect(),
        group: is_long_tail.iter().map(|&t| usize::from(t)).collect(),
        head_items: is_long_tail.iter().filter(|t| !**t).count(),
        is_long_tail,
        index,
        pool,
        users: local,
    })
}

/// The per-seed values of one method, indexed like [`ItemMetric::ALL`].
struct SeedValues {
    users: Vec<u64>,
    values: Vec<Result<f64, String>>,
}

/// Scores one seed's rankings (user -> rows) in scenario `sc` with lists of
/// length `k`; `Err` when the rankings do not fit the candidates.
fn seed_values(sc: &Scenario, k: usize, rankings: &BTreeMap<u64, Vec<&RankingRow>>) -> Result<SeedValues, String> {
    let mut users = Vec::new();
    let mut lists: Vec<Vec<u32>> = Vec::new();
    let mut ranked: Vec<(&[u32], &[u32])> = Vec::new();
    for (user, rows) in rankings {
        if rows.len() > 1 {
            return Err(format!("user {user} has more than one ranking"));
        }
        let Some((cands, relevant)) = sc.users.get(user) else {
            return Err(format!("user {user} has no row in candidates.csv"));
        };
        let mut list = Vec::with_capacity(rows[0].top.len());
        for item in &rows[0].top {
            match sc.index.get(item) {
                Some(&i) if cands.contains(&i) && !list.contains(&i) => list.push(i),
                Some(&i) if list.contains(&i) => return Err(format!("the top-k of user {user} repeats item {item}")),
                _ => return Err(format!("item {item} in the top-k of user {user} is not among the user's candidates")),
            }
        }
        if list.is_empty() {
            return Err(format!("the top-k of user {user} is empty"));
        }
        users.push(*user);
        lists.push(list);
        ranked.push((cands, relevant));
    }
    let err = |e: FairnessError| e.to_string();
    // HR@k and nDCG@k over the users with a liked candidate
    let (mut hr, mut ndcg, mut n) = (0.0, 0.0, 0usize);
    for (list, (_, relevant)) in lists.iter().zip(&ranked) {
        if !relevant.is_empty() {
            hr += hit_ratio_at(k, list, relevant).map_err(err)?;
            ndcg += ndcg_binary_at(k, list, relevant).map_err(err)?;
            n += 1;
        }
    }
    let accuracy = |sum: f64| {
        if n == 0 { Err("no ranked user has a liked candidate".to_owned()) } else { Ok(sum / n as f64) }
    };
    let users_ranked: Vec<UserRanking> = lists
        .iter()
        .zip(&ranked)
        .map(|(top_k, (candidates, relevant))| UserRanking { candidates, top_k, relevant })
        .collect();
    let has_tail = sc.head_items < sc.pool.len();
    let liked = |group: usize| ranked.iter().any(|(_, r)| r.iter().any(|&i| sc.group[i as usize] == group));
    let rsp = if sc.head_items == 0 {
        Err("no head item among the candidates".to_owned())
    } else if !has_tail {
        Err("no long-tail item among the candidates".to_owned())
    } else {
        pop_rsp(&users_ranked, &sc.group).map_err(err)
    };
    let reo = match &rsp {
        Err(e) => Err(e.clone()),
        Ok(_) if !liked(0) => Err("no liked head item among the candidates".to_owned()),
        Ok(_) if !liked(1) => Err("no liked long-tail item among the candidates".to_owned()),
        Ok(_) => pop_reo(&users_ranked, &sc.group).map_err(err),
    };
    let rate = |r: &Result<crate::fairness::GroupRates, String>, g: usize| {
        r.as_ref().map(|r| r.rates[g]).map_err(Clone::clone)
    };
    let values = vec![
        accuracy(hr),
        accuracy(ndcg),
        average_recommendation_popularity(&lists, &sc.popularity).map_err(err),
        long_tail_share(&lists, &sc.is_long_tail).map_err(err),
        exposure_gini(&lists, sc.pool.len()).map_err(err),
        catalogue_coverage(&lists, sc.pool.len()).map_err(err),
        rsp.as_ref().map(|r| r.value).map_err(Clone::clone),
        reo.as_ref().map(|r| r.value).map_err(Clone::clone),
        rate(&rsp, 0),
        rate(&rsp, 1),
        rate(&reo, 0),
        rate(&reo, 1),
    ];
    let values = values
        .into_iter()
        .map(|v| match v {
            Ok(x) if !x.is_finite() => Err(format!("the value {x} is not finite")),
            v => v,
        })
        .collect();
    Ok(SeedValues { users, values })
}

/// (suite, scenario, perturbation) of a table.
type TableKey<'a> = (&'a str, Ordered<'a>, PertOrder<'a>);
/// seed -> user -> rows (more than one row is an error of the input).
type SeedRows<'a> = BTreeMap<u64, BTreeMap<u64, Vec<&'a RankingRow>>>;

/// Computes the item-side tables; see the module docs for the definitions.
///
/// Tables come by suite (name order), scenario (warm, user-cold, item-cold,
/// user-item-cold, then others) and perturbation (`none` first, then by
/// name); rows by method name. A suite without items, a scenario without
/// candidates or whose candidates are not in `items`, a method and seed whose
/// rankings do not fit the candidates, and a quantity undefined for some seed
/// are [`ItemSideSkipped`] entries. Every sum runs in user and seed order,
/// so the result depends only on the sets of rows.
pub fn analyze_item_side(
    items: &[ItemRow],
    candidates: &[CandidateRow],
    rankings: &[RankingRow],
    opts: &ItemSideOptions,
) -> ItemSideReport {
    let heads = head_sets(items, opts.head_share);
    let mut by_scenario: BTreeMap<(&str, &str), BTreeMap<u64, Vec<&CandidateRow>>> = BTreeMap::new();
    for c in candidates {
        by_scenario.entry((&c.suite, &c.scenario)).or_default().entry(c.user).or_default().push(c);
    }
    let mut k: BTreeMap<&str, usize> = BTreeMap::new();
    let mut grouped: BTreeMap<TableKey, BTreeMap<&str, SeedRows>> = BTreeMap::new();
    for r in rankings {
        let e = k.entry(&r.suite).or_default();
        *e = (*e).max(r.top.len());
        grouped
            .entry((&r.suite, ordered(&r.scenario, &SCENARIO_ORDER), pert_order(&r.perturbation)))
            .or_default()
            .entry(&r.method)
            .or_default()
            .entry(r.seed)
            .or_default()
            .entry(r.user)
            .or_default()
            .push(r);
    }
    let level = 1.0 - opts.alpha;
    let mut scenarios: BTreeMap<(&str, &str), Result<Scenario, String>> = BTreeMap::new();
    let mut tables = Vec::new();
    let mut skipped = Vec::new();
    for ((suite, (_, scenario_name), (_, perturbation)), methods) in grouped {
        let skip = |method: &str, what: &str, seeds: Vec<u64>, reason: String| ItemSideSkipped {
            suite: suite.to_owned(),
            scenario: scenario_name.to_owned(),
            perturbation: perturbation.to_owned(),
            method: method.to_owned(),
            what: what.to_owned(),
            seeds,
            reason,
        };
        let sc =
            scenarios.entry((suite, scenario_name)).or_insert_with(|| match by_scenario.get(&(suite, scenario_name)) {
                None => Err("candidates.csv has no rows for this scenario".to_owned()),
                Some(users) => scenario(users, heads.get(suite)),
            });
        let sc = match sc {
            Ok(sc) => sc,
            Err(reason) => {
                skipped.push(skip("", "", Vec::new(), reason.clone()));
                continue;
            }
        };
        let k = k.get(suite).copied().unwrap_or(0);
        let mut rows = Vec::new();
        for (method, seeds) in methods {
            let mut scored: Vec<(u64, SeedValues)> = Vec::new();
            for (seed, users) in &seeds {
                match seed_values(sc, k, users) {
                    Ok(v) => scored.push((*seed, v)),
                    Err(reason) => skipped.push(skip(method, "", vec![*seed], reason)),
                }
            }
            if scored.is_empty() {
                continue;
            }
            let users: BTreeSet<u64> = scored.iter().flat_map(|(_, v)| v.users.iter().copied()).collect();
            let users_without_liked =
                users.iter().filter(|u| sc.users.get(u).is_some_and(|(_, r)| r.is_empty())).count();
            let estimates = ItemMetric::ALL.map(|m| {
                let mut values = Vec::new();
                let mut reasons: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
                for (seed, v) in &scored {
                    match &v.values[m.index()] {
                        Ok(x) => values.push(*x),
                        Err(reason) => reasons.entry(reason).or_default().push(*seed),
                    }
                }
                // the rates share their reasons with PopRSP and PopREO
                if ItemMetric::MAIN.contains(&m) {
                    for (reason, seeds) in reasons {
                        let seeds = if seeds.len() == scored.len() { Vec::new() } else { seeds };
                        skipped.push(skip(method, &m.name(k), seeds, reason.to_owned()));
                    }
                }
                estimate(&values, level)
            });
            rows.push(ItemSideRow {
                method: method.to_owned(),
                seeds: scored.len(),
                users: users.len(),
                users_without_liked,
                estimates,
            });
        }
        if rows.is_empty() {
            continue;
        }
        let sizes = sc.users.values().map(|(c, _)| c.len());
        tables.push(ItemSideTable {
            suite: suite.to_owned(),
            scenario: scenario_name.to_owned(),
            perturbation: perturbation.to_owned(),
            k,
            catalogue: sc.pool.len(),
            head_items: sc.head_items,
            candidate_users: sc.users.len(),
            candidates_min: sizes.clone().min().unwrap_or(0),
            candidates_max: sizes.max().unwrap_or(0),
            rows,
        });
    }
    if !(opts.alpha > 0.0 && opts.alpha < 1.0) {
        skipped.push(ItemSideSkipped {
            suite: String::new(),
            scenario: String::new(),
            perturbation: String::new(),
            method: String::new(),
            what: "intervals".into(),
            seeds: Vec::new(),
            reason: format!("alpha = {} is not in (0, 1): no interval over seeds is shown", opts.alpha),
        });
    }
    skipped.sort_by(|a, b| skip_key(a).cmp(&skip_key(b)));
    ItemSideReport { options: opts.clone(), tables, skipped }
}

/// Mean and interval of per-seed values; `None` without values. An interval
/// that is not finite (an invalid level) is left out.
fn estimate(values: &[f64], level: f64) -> Option<Estimate> {
    if values.is_empty() {
        return None;
    }
    let (mean, low, high) = t_interval(values, level);
    let ci = (values.len() > 1 && low.is_finite() && high.is_finite()).then_some((low, high));
    Some(Estimate { mean, ci, seeds: values.len() })
}

/// (suite, scenario, perturbation, method); entries of one method keep the
/// order in which they were found (by seed, then column), as the sort is
/// stable.
type SkipKey<'a> = (&'a str, Ordered<'a>, PertOrder<'a>, &'a str);

fn skip_key(s: &ItemSideSkipped) -> SkipKey<'_> {
    (&s.suite, ordered(&s.scenario, &SCENARIO_ORDER), pert_order(&s.perturbation), &s.method)
}

/// Title of the section in every format.
pub const ITEM_SIDE_TITLE: &str = "Item-side fairness and popularity bias";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::leaderboard::LeaderboardOptions;
    use crate::read::*;
    use crate::results::ReportError;
    use crate::testing::{render_item_side_html, render_item_side_latex, render_item_side_markdown};

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-9 * want.abs().max(1.0)
    }

    fn oracle() -> LeaderboardOptions {
        LeaderboardOptions { reference_methods: vec!["oracle".into()], ..LeaderboardOptions::default() }
    }

    /// Item popularity of suite `s`: 25 meta-train ratings in all. With
    /// head_share 0.2 the head must hold 5 of them: in popularity order 10
    /// (10), then 20 and 70 (5 each, 20 first by id), ...; item 10 has 0 < 5
    /// ratings before it, so it is head; item 20 has 10 >= 5 before it, so
    /// the head is {10}. Item 70 is in no candidate set: it counts for the
    /// split but not in the catalogue.
    const ITEMS: &str = "suite,item,ratings\ns,10,10\ns,20,5\ns,30,3\ns,40,2\ns,50,0\ns,60,0\ns,70,5\n";

    /// Two users of scenario warm; catalogue {10, 20, 30, 40, 50, 60} (6
    /// items, head {10}).
    const CANDIDATES: &str =
        "suite,scenario,user,candidates,relevant\ns,warm,1,10 20 30 40,20 40\ns,warm,2,10 30 50 60,10 30\n";

    /// Two methods x two seeds x two users, k = 2.
    const RANKINGS: &str = "suite,scenario,method,seed,perturbation,user,top\n\
                            s,warm,maml,1,none,1,40 30\ns,warm,maml,1,none,2,50 60\n\
                            s,warm,maml,2,none,1,20 40\ns,warm,maml,2,none,2,30 50\n\
                            s,warm,pop,1,none,1,10 20\ns,warm,pop,1,none,2,10 30\n\
                            s,warm,pop,2,none,1,20 10\ns,warm,pop,2,none,2,30 10\n";

    fn parse(items: &str, candidates: &str, rankings: &str) -> ItemSideData {
        let items = read_items_from(items.as_bytes(), "items.csv").unwrap_or_else(|e| panic!("{e}"));
        let candidates =
            read_candidates_from(candidates.as_bytes(), "candidates.csv", &items).unwrap_or_else(|e| panic!("{e}"));
        let rankings =
            read_rankings_from(rankings.as_bytes(), "rankings.csv", &candidates).unwrap_or_else(|e| panic!("{e}"));
        ItemSideData { items, candidates, rankings }
    }

    fn analyze(d: &ItemSideData) -> ItemSideReport {
        analyze_item_side(&d.items, &d.candidates, &d.rankings, &ItemSideOptions::default())
    }

    fn row<'a>(t: &'a ItemSideTable, method: &str) -> &'a ItemSideRow {
        t.rows.iter().find(|r| r.method == method).unwrap_or_else(|| panic!("no row {method}"))
    }

    // t_{0.975, 1} (scipy.stats.t.ppf(0.975, 1) = 12.706204736174694): with
    // two seeds x1, x2 the half-width is t * |x1 - x2| / 2.
    const T1: f64 = 12.706204736174694;
    // 1/log2(r + 1) for ranks 1, 2
    const D2: f64 = 0.6309297535714574;

    #[test]
    fn two_methods_two_seeds_by_hand() {
        // Per seed, over users 1 (candidates 10 20 30 40, liked 20 40) and 2
        // (candidates 10 30 50 60, liked 10 30); popularity 10:10 20:5 30:3
        // 40:2 50:0 60:0; head {10}. Catalogue n = 6. Exposure Gini: counts
        // sorted ascending x_1..x_6, weights 2i - 7 = -5 -3 -1 1 3 5, divided
        // by 6 * sum. Checked with an independent numpy script.
        //
        // maml seed 1: u1 [40, 30], u2 [50, 60]
        //   HR: u1 1 (40), u2 0 -> 0.5; nDCG: u1 hit at rank 1 of 2 liked:
        //   1 / (1 + D2) = 0.6131471927654584, u2 0 -> 0.3065735963827292
        //   ARP: (2 + 3)/2 = 2.5, (0 + 0)/2 = 0 -> 1.25; APLT: 1, 1 -> 1
        //   exposure [0 0 1 1 1 1] (30 40 50 60): (-1 + 1 + 3 + 5)/24 = 1/3;
        //   coverage 4/6
        //   RSP: head 0 recommended of 2 head candidates = 0; tail 4 of 6 =
        //   2/3; mean 1/3, std 1/3 -> 1
        //   REO: head liked {u2: 10} found 0 -> 0; tail liked {u1: 20, 40,
        //   u2: 30} found 40 -> 1/3; mean 1/6, std 1/6 -> 1
        // maml seed 2: u1 [20, 40], u2 [30, 50]
        //   HR 1, 1 -> 1; nDCG: u1 1, u2 1 / (1 + D2) -> 0.8065735963827292
        //   ARP: (5 + 2)/2 = 3.5, (3 + 0)/2 = 1.5 -> 2.5; APLT 1
        //   exposure [0 0 1 1 1 1] -> 1/3; coverage 4/6
        //   RSP: head 0/2, tail 4/6 -> 1; REO: head 0/1, tail 3/3 -> 1
        // pop seed 1: u1 [10, 20], u2 [10, 30]
        //   HR 1, 1; nDCG: u1 D2 / (1 + D2) = 0.38685280723454163, u2 1 ->
        //   0.6934264036172708
        //   ARP: 7.5, 6.5 -> 7; APLT: 1/2, 1/2 -> 0.5
        //   exposure [0 0 0 1 1 2] (10 twice): (1 + 3 + 10)/24 = 7/12; coverage 3/6
        //   RSP: head 2/2 = 1, tail 2/6 = 1/3; mean 2/3, std 1/3 -> 0.5
        //   REO: head 1/1, tail (20, 30 of 20, 40, 30) 2/3; mean 5/6, std 1/6 -> 0.2
        // pop seed 2: u1 [20, 10], u2 [30, 10]: the same sets, so all as
        //   seed 1 but nDCG: u1 1 / (1 + D2), u2 1 -> 0.8065735963827292
        //
        // Over seeds, mean and t-interval half-width T1 * |x1 - x2| / 2:
        //   maml HR 0.75 +- T1 * 0.25 = 3.1765511840436735
        //   maml nDCG (0.3065735963827292 + 0.8065735963827292)/2 =
        //     0.5565735963827292 +- T1 * 0.25
        //   maml ARP 1.875 +- T1 * 0.625 = 7.941377960109184
        //   maml REO tail rate (1/3 + 1)/2 = 2/3 +- T1 / 3 = 4.235401578724898
        //   pop nDCG (0.6934264036172708 + 0.8065735963827292)/2 = 0.75
        //     (= (D2 + 1) / (1 + D2) / 4 + 2/4) +- T1 * 0.0565735963827292 =
        //     0.7188356983006692
        //   everything else is equal in both seeds: +- 0
        let d = parse(ITEMS, CANDIDATES, RANKINGS);
        let report = analyze(&d);
        assert_eq!(report.skipped, []);
        assert_eq!(report.tables.len(), 1);
        let t = &report.tables[0];
        assert_eq!((t.suite.as_str(), t.scenario.as_str(), t.perturbation.as_str()), ("s", "warm", "none"));
        assert_eq!((t.k, t.catalogue, t.head_items, t.candidate_users), (2, 6, 1, 2));
        assert_eq!((t.candidates_min, t.candidates_max), (4, 4));
        assert_eq!(t.rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["maml", "pop"]);
        use ItemMetric::*;
        let (third, two_thirds) = (1.0 / 3.0, 2.0 / 3.0);
        // (method, [(metric, mean, half-width of the interval)])
        type Expected<'a> = (&'a str, [(ItemMetric, f64, f64); 12]);
        let expected: [Expected; 2] = [
            (
                "maml",
                [
                    (HitRatio, 0.75, T1 * 0.25),
                    (Ndcg, (1.0 / (1.0 + D2) + 1.0 + 1.0 / (1.0 + D2)) / 4.0, T1 * 0.25),
                    (Arp, 1.875, T1 * 0.625),
                    (Aplt, 1.0, 0.0),
                    (Gini, third, 0.0),
                    (Coverage, two_thirds, 0.0),
                    (PopRsp, 1.0, 0.0),
                    (PopReo, 1.0, 0.0),
                    (RspHead, 0.0, 0.0),
                    (RspTail, two_thirds, 0.0),
                    (ReoHead, 0.0, 0.0),
                    (ReoTail, two_thirds, T1 * third),
                ],
            ),
            (
                "pop",
                [
                    (HitRatio, 1.0, 0.0),
                    (Ndcg, 0.75, T1 * 0.0565735963827292),
                    (Arp, 7.0, 0.0),
                    (Aplt, 0.5, 0.0),
                    (Gini, 7.0 / 12.0, 0.0),
                    (Coverage, 0.5, 0.0),
                    (PopRsp, 0.5, 0.0),
                    (PopReo, 0.2, 0.0),
                    (RspHead, 1.0, 0.0),
                    (RspTail, third, 0.0),
                    (ReoHead, 1.0, 0.0),
                    (ReoTail, two_thirds, 0.0),
                ],
            ),
        ];
        for (method, values) in expected {
            let r = row(t, method);
            assert_eq!((r.seeds, r.users, r.users_without_liked), (2, 2, 0), "{r:?}");
            for (m, mean, half) in values {
                let e = r.get(m).unwrap_or_else(|| panic!("{method} {m:?} undefined"));
                let (low, high) = e.ci.unwrap_or_else(|| panic!("{method} {m:?}: no interval"));
                assert_eq!(e.seeds, 2);
                assert!(close(e.mean, mean), "{method} {m:?}: {e:?} vs {mean}");
                assert!(close(high - e.mean, half) && close(e.mean - low, half), "{method} {m:?}: {e:?} vs +- {half}");
            }
        }
        // the numbers used above, spelled out
        assert!(close(row(t, "maml").get(Ndcg).map_or(0.0, |e| e.mean), 0.5565735963827292));
        assert!(close(T1 * 0.0565735963827292, 0.7188356983006692));
        assert!(close(T1 * 0.625, 7.941377960109184));

        let md_out = render_item_side_markdown(&report, &oracle());
        for want in [
            "## Item-side fairness and popularity bias\n",
            "\n### Suite `s`\n\n#### warm\n\nTop-2 lists over candidate sets of 4 items (2 users in \
             `candidates.csv`); catalogue: 6 items, 1 of them head.\n",
            "| method | users | seeds | HR@2 | nDCG@2 | ARP | APLT | Gini | coverage | PopRSP | PopREO |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            "| maml | 2 | 2 | 0.7500 ± 3.1766 | 0.5566 ± 3.1766 | 1.8750 ± 7.9414 | 1.0000 ± 0.0000 | \
             0.3333 ± 0.0000 | 0.6667 ± 0.0000 | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 |\n",
            "| pop | 2 | 2 | 1.0000 ± 0.0000 | 0.7500 ± 0.7188 | 7.0000 ± 0.0000 | 0.5000 ± 0.0000 | \
             0.5833 ± 0.0000 | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 | 0.2000 ± 0.0000 |\n",
            "| maml | 0.0000 ± 0.0000 | 0.6667 ± 0.0000 | 0.0000 ± 0.0000 | 0.6667 ± 4.2354 |\n",
            "| pop | 1.0000 ± 0.0000 | 0.3333 ± 0.0000 | 1.0000 ± 0.0000 | 0.6667 ± 0.0000 |\n",
            "hold 20% of its meta-train ratings",
            "95% Student-t interval over seeds",
        ] {
            assert!(md_out.contains(want), "missing {want:?} in\n{md_out}");
        }
        assert!(!md_out.contains("### Skipped") && !md_out.contains("Left out"), "{md_out}");
    }

    #[test]
    fn one_seed_gives_the_mean_alone() {
        let rankings: String = RANKINGS.lines().filter(|l| !l.contains(",2,none,")).map(|l| format!("{l}\n")).collect();
        let report = analyze(&parse(ITEMS, CANDIDATES, &rankings));
        let r = row(&report.tables[0], "pop");
        // pop seed 1 alone: nDCG 0.6934264036172708, no interval
        assert_eq!(r.seeds, 1);
        assert_eq!(r.get(ItemMetric::Ndcg), Some(&Estimate { mean: 0.6934264036172708, ci: None, seeds: 1 }));
        let md_out = render_item_side_markdown(&report, &oracle());
        assert!(md_out.contains("| pop | 2 | 1 | 1.0000 | 0.6934 | 7.0000 | 0.5000 | 0.5833 | 0.5000 |"), "{md_out}");
        let tex_out = render_item_side_latex(&report, &oracle());
        // one seed: the mean alone, no half-width
        assert!(tex_out.contains("pop & 2 & 1 & 1.0000 & 0.6934 & "), "{tex_out}");
    }

    /// Scenario user-cold: user 3 (candidates 10 20) likes nothing, user 4
    /// (candidates 30 40) likes 40; scenario item-cold: user 5 (candidates 50
    /// 60) likes nothing. One method, one seed, k = 1.
    fn no_liked_data() -> ItemSideData {
        let candidates = "suite,scenario,user,candidates,relevant\ns,user-cold,3,10 20,\ns,user-cold,4,30 40,40\n\
                          s,item-cold,5,50 60,\n";
        let rankings = "suite,scenario,method,seed,perturbation,user,top\ns,item-cold,m,1,none,5,50\n\
                        s,user-cold,m,1,none,3,10\ns,user-cold,m,1,none,4,30\n";
        parse(ITEMS, candidates, rankings)
    }

    #[test]
    fn users_without_liked_candidates_are_left_out_and_nothing_is_nan() {
        // user-cold: HR and nDCG over user 4 alone: top [30], liked {40}: 0, 0.
        // ARP (10 + 3)/2 = 6.5; APLT (0 + 1)/2 = 0.5; catalogue {10 20 30 40}:
        // exposure [0 0 1 1], weights -3 -1 1 3: (1 + 3)/(4 * 2) = 0.5;
        // coverage 2/4. RSP: head 1/1, tail 1/3 (20, 30, 40): mean 2/3, std
        // 1/3 -> 0.5. REO: no liked head item -> undefined.
        // item-cold: nobody likes anything -> HR, nDCG undefined; catalogue
        // {50 60}, both long tail -> RSP, REO undefined; ARP 0, APLT 1,
        // exposure [0 1]: (-1 * 0 + 1 * 1)/(2 * 1) = 0.5, coverage 0.5.
        let report = analyze(&no_liked_data());
        let order: Vec<&str> = report.tables.iter().map(|t| t.scenario.as_str()).collect();
        assert_eq!(order, ["user-cold", "item-cold"]);
        let r = row(&report.tables[0], "m");
        assert_eq!((r.users, r.users_without_liked, r.seeds), (2, 1, 1));
        let mean = |r: &ItemSideRow, m| r.get(m).map(|e| e.mean);
        use ItemMetric::*;
        let got: Vec<Option<f64>> = ItemMetric::ALL.iter().map(|&m| mean(r, m)).collect();
        let want = [
            Some(0.0),
            Some(0.0),
            Some(6.5),
            Some(0.5),
            Some(0.5),
            Some(0.5),
            Some(0.5),
            None,
            Some(1.0),
            Some(1.0 / 3.0),
            None,
            None,
        ];
        assert_eq!(got.len(), want.len());
        for (m, (g, w)) in ItemMetric::ALL.iter().zip(got.iter().zip(want)) {
            assert!(
                g.zip(w).is_some_and(|(g, w)| close(g, w)) || (g.is_none() && w.is_none()),
                "{m:?}: {g:?} vs {w:?}"
            );
        }
        let r = row(&report.tables[1], "m");
        assert_eq!((r.users, r.users_without_liked), (1, 1));
        let got: Vec<Option<f64>> =
            [HitRatio, Ndcg, Arp, Aplt, Gini, Coverage, PopRsp, PopReo].iter().map(|&m| mean(r, m)).collect();
        assert_eq!(got, [None, None, Some(0.0), Some(1.0), Some(0.5), Some(0.5), None, None]);
        let reasons: Vec<(&str, &str, &str)> =
            report.skipped.iter().map(|s| (s.scenario.as_str(), s.what.as_str(), s.reason.as_str())).collect();
        assert_eq!(
            reasons,
            [
                ("user-cold", "PopREO", "no liked head item among the candidates"),
                ("item-cold", "HR@1", "no ranked user has a liked candidate"),
                ("item-cold", "nDCG@1", "no ranked user has a liked candidate"),
                ("item-cold", "PopRSP", "no head item among the candidates"),
                ("item-cold", "PopREO", "no head item among the candidates"),
            ]
        );
        let md_out = render_item_side_markdown(&report, &oracle());
        assert!(
            md_out.contains("| m | 2 | 1 | 0.0000 | 0.0000 | 6.5000 | 0.5000 | 0.5000 | 0.5000 | 0.5000 | — |"),
            "{md_out}"
        );
        assert!(md_out.contains("Left out of HR@1 and nDCG@1: 1 user without a liked candidate.\n"), "{md_out}");
        assert!(
            md_out.contains("- Suite `s`, item-cold, PopRSP: no head item among the candidates (`m`).\n"),
            "{md_out}"
        );
        for out in [md_out, render_item_side_latex(&report, &oracle()), render_item_side_html(&report, &oracle())] {
            assert!(!out.contains("NaN") && !out.contains("inf") && !out.contains("n/a"), "{out}");
        }
    }

    #[test]
    fn output_ignores_row_order_and_orders_tables() {
        // scenarios warm and user-cold, perturbations none and "noise" (a
        // copy of the clean rankings), methods in reverse order
        let candidates = format!("{CANDIDATES}s,user-cold,1,10 20 30 40,20 40\ns,user-cold,2,10 30 50 60,10 30\n");
        let mut rankings = String::from(RANKINGS);
        for line in RANKINGS.lines().skip(1) {
            rankings.push_str(&line.replace(",none,", ",noise,"));
            rankings.push('\n');
            rankings.push_str(&line.replace("warm,", "user-cold,").replace("maml", "a-first"));
            rankings.push('\n');
        }
        let d = parse(ITEMS, &candidates, &rankings);
        let report = analyze(&d);
        let order: Vec<String> =
            report.tables.iter().map(|t| format!("{}/{}/{}", t.suite, t.scenario, t.perturbation)).collect();
        assert_eq!(order, ["s/warm/none", "s/warm/noise", "s/user-cold/none"]);
        assert_eq!(report.tables[2].rows.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), ["a-first", "pop"]);
        // the perturbed table repeats the clean numbers
        assert_eq!(report.tables[1].rows, report.tables[0].rows);
        fn rev<T: Clone>(v: &[T]) -> Vec<T> {
            v.iter().rev().cloned().collect()
        }
        let again =
            analyze_item_side(&rev(&d.items), &rev(&d.candidates), &rev(&d.rankings), &ItemSideOptions::default());
        assert_eq!(again, report);
        // rendering: clean tables of the suite first, then the perturbation's
        let md_out = render_item_side_markdown(&report, &oracle());
        let headings: Vec<&str> = md_out.lines().filter(|l| l.starts_with("###")).collect();
        assert_eq!(
            headings,
            ["### Suite `s`", "#### warm", "#### user-cold", "### Suite `s`, perturbation `noise`", "#### warm"]
        );
    }

    const HOSTILE: &str = "a_b & c % d #{x}~^\\ <i>";

    /// The hand example with a hostile method name, an oracle and large ARP.
    fn hostile_report(extra_methods: usize) -> ItemSideReport {
        let items = ITEMS.replace("s,10,10", "s,10,3428");
        let mut rankings = RANKINGS.replace("maml", HOSTILE).replace(",pop,", ",oracle,");
        rankings = rankings.replace(&format!("{HOSTILE},"), &format!("\"{HOSTILE}\","));
        for i in 0..extra_methods {
            for line in RANKINGS.lines().skip(1).filter(|l| l.contains(",pop,")) {
                rankings.push_str(&line.replace(",pop,", &format!(",method-{i:02},")));
                rankings.push('\n');
            }
        }
        analyze(&parse(&items, CANDIDATES, &rankings))
    }

    /// Counts `{` and `}` that are not escaped; panics on a `}` without its `{`.
    fn brace_balance(s: &str) -> i64 {
        let mut depth = 0i64;
        let mut escaped = false;
        for c in s.chars() {
            match c {
                '\\' if !escaped => {
                    escaped = true;
                    continue;
                }
                '{' if !escaped => depth += 1,
                '}' if !escaped => {
                    depth -= 1;
                    assert!(depth >= 0, "unbalanced }} in\n{s}");
                }
                _ => {}
            }
            escaped = false;
        }
        depth
    }

    #[test]
    fn latex_escapes_names_and_balances_braces() {
        let report = hostile_report(0);
        let tex_out = render_item_side_latex(&report, &oracle());
        assert_eq!(brace_balance(&tex_out), 0, "{tex_out}");
        assert!(tex_out.starts_with("\\section*{Item-side fairness and popularity bias}\n"), "{tex_out}");
        let name = "a\\_b \\& c \\% d \\#\\{x\\}\\textasciitilde{}\\textasciicircum{}\\textbackslash{} $<$i$>$";
        assert!(tex_out.contains(&format!("{name} & 2 & 2 & 0.7500 $\\pm$ 3.1766 & ")), "{tex_out}");
        assert!(
            tex_out.contains("oracle (reference) & 2 & 2 & 1.0000 $\\pm$ 0.0000 & 0.7500 $\\pm$ 0.7188 \\\\"),
            "{tex_out}"
        );
        // ARP of the oracle (pop's lists): u1 (3428 + 5)/2, u2 (3428 + 3)/2 -> 1716
        assert!(
            tex_out.contains("oracle (reference) & 1716.0000 $\\pm$ 0.0000 & 0.5000 $\\pm$ 0.0000 \\\\"),
            "{tex_out}"
        );
        // the tail rates behind PopRSP and PopREO
        assert!(tex_out.contains(&format!("{name} & 0.0000 $\\pm$ 0.0000 & 0.6667 $\\pm$ 0.0000 & ")), "{tex_out}");
        assert!(tex_out.contains(&format!("{name} & 0.6667 $\\pm$ 4.2354 \\\\")), "{tex_out}");
        assert!(!tex_out.contains("<i>") && !tex_out.contains("a_b"), "{tex_out}");
        assert!(tex_out.contains("(reference): a reference method such as the oracle, not Bayes-optimal for these ranking metrics, so not a bound."), "{tex_out}");
        for out in [tex_out, render_item_side_markdown(&report, &oracle()), render_item_side_html(&report, &oracle())] {
            assert!(!out.contains("NaN") && !out.contains("inf") && !out.contains("n/a"), "{out}");
        }
    }

    #[test]
    fn html_is_well_formed_and_escaped() {
        let report = hostile_report(0);
        let html = render_item_side_html(&report, &oracle());
        let doc = roxmltree::Document::parse(&html).unwrap_or_else(|e| panic!("not well-formed: {e}\n{html}"));
        assert!(doc.root_element().has_tag_name("section"));
        let first_cells: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("tr"))
            .filter_map(|tr| tr.children().find(|c| c.has_tag_name("td")))
            .map(|td| td.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect())
            .collect();
        let oracle_name = "oracle (reference)".to_owned();
        assert_eq!(first_cells, [HOSTILE.to_owned(), oracle_name.clone(), HOSTILE.to_owned(), oracle_name]);
        let bound = doc.descendants().filter(|n| n.has_tag_name("tr") && n.attribute("class") == Some("bound"));
        assert_eq!(bound.count(), 2);
        let headers: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("th")).filter_map(|n| n.text()).collect();
        assert_eq!(&headers[..5], ["method", "users", "seeds", "HR@2", "nDCG@2"]);
        assert!(html.contains("<td class=\"num\">0.7500 ± 0.7188</td>"), "{html}");
        assert!(!html.contains("http") && !html.contains("<i>"), "{html}");
    }

    #[test]
    fn latex_compiles_without_overfull_tables() {
        // 2 + 9 methods in blocks of 5 lines, at most 7 per table: 2 parts
        let report = hostile_report(9);
        let mut with_skips = no_liked_data();
        with_skips.rankings.iter_mut().for_each(|r| r.suite = "s".into());
        let tex_out = format!(
            "{}{}",
            render_item_side_latex(&report, &oracle()),
            render_item_side_latex(&analyze(&with_skips), &oracle())
        );
        // 11 methods fit a longtable; eight metrics of `mean ± half-width` do not fit the width
        assert!(tex_out.contains("Part 2 of "), "{tex_out}");
        assert!(tex_out.contains("\\subsection*{Skipped}"), "{tex_out}");
        assert_eq!(tex_out.matches("\\begin{longtable}").count(), tex_out.matches("\\end{longtable}").count());
        match crate::testing::compile_latex(&tex_out, "item-side") {
            Some(log) => assert!(log.contains("Output written on f.pdf"), "{log}"),
            None => println!("(skipped: no pdflatex)"),
        }
    }

    /// The error message of reading `text` with `read`.
    fn err<T: std::fmt::Debug>(r: Result<T, ReportError>) -> String {
        r.map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn reading_items_errors_name_file_and_line() {
        let items = |t: &str| err(read_items_from(t.as_bytes(), "items.csv"));
        assert_eq!(
            items("suite,item\ns,1\n"),
            "items.csv:1: header is [\"suite\", \"item\"], expected [\"suite\", \"item\", \"ratings\"]"
        );
        assert_eq!(items(""), "items.csv:1: header is [], expected [\"suite\", \"item\", \"ratings\"]");
        assert_eq!(
            items("suite,item,ratings\ns,1,2\ns,2,x\n"),
            "items.csv:3: column ratings: \"x\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(
            items("suite,item,ratings\ns,-1,2\n"),
            "items.csv:2: column item: \"-1\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(items("suite,item,ratings\n,1,2\n"), "items.csv:2: column suite is empty");
        assert_eq!(
            items("suite,item,ratings\ns,1,2\nt,1,2\ns,1,3\n"),
            "items.csv:4: duplicate of line 2 (same suite and item)"
        );
        let e = read_items_from("suite,item,ratings\ns,1\n".as_bytes(), "items.csv").map(|_| ()).unwrap_err();
        assert!(matches!(e, ReportError::Row { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn reading_candidates_errors_name_file_and_line() {
        let items = read_items_from(ITEMS.as_bytes(), "items.csv").unwrap_or_else(|e| panic!("{e}"));
        let head = "suite,scenario,user,candidates,relevant\n";
        let cands =
            |body: &str| err(read_candidates_from(format!("{head}{body}").as_bytes(), "candidates.csv", &items));
        assert_eq!(
            err(read_candidates_from("suite,scenario,user,candidates\n".as_bytes(), "candidates.csv", &items)),
            "candidates.csv:1: header is [\"suite\", \"scenario\", \"user\", \"candidates\"], expected \
             [\"suite\", \"scenario\", \"user\", \"candidates\", \"relevant\"]"
        );
        assert_eq!(
            cands("s,warm,x,10,\n"),
            "candidates.csv:2: column user: \"x\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(
            cands("s,warm,1,10 2x,\n"),
            "candidates.csv:2: column candidates: \"2x\" is not an item id (an unsigned integer): invalid digit \
             found in string"
        );
        assert_eq!(
            cands("s,warm,1,10  20,\n"),
            "candidates.csv:2: column candidates: \"\" is not an item id (an unsigned integer): cannot parse \
             integer from empty string"
        );
        assert_eq!(
            cands("s,warm,1,10 20,10\ns,warm,2,10 20,30\n"),
            "candidates.csv:3: relevant item 30 is not among the user's candidates"
        );
        assert_eq!(
            cands("s,warm,1,10 20 10,\n"),
            "candidates.csv:2: column candidates: item 10 appears more than once"
        );
        assert_eq!(
            cands("s,warm,1,10 20,20 20\n"),
            "candidates.csv:2: column relevant: item 20 appears more than once"
        );
        assert_eq!(
            cands("s,warm,1,10 20,\ns,warm,2,10 99,\n"),
            "candidates.csv:3: candidate item 99 is not in items.csv for suite \"s\""
        );
        assert_eq!(cands("t,warm,1,10,\n"), "candidates.csv:2: suite \"t\" has no rows in items.csv");
        assert_eq!(cands("s,warm,1,,\n"), "candidates.csv:2: column candidates is empty");
        assert_eq!(
            cands("s,warm,1,10,\ns,cold,1,10,\ns,warm,1,20,\n"),
            "candidates.csv:4: duplicate of line 2 (same suite, scenario and user)"
        );
    }

    #[test]
    fn reading_rankings_errors_name_file_and_line() {
        let d = parse(ITEMS, CANDIDATES, RANKINGS);
        let head = "suite,scenario,method,seed,perturbation,user,top\n";
        let ranks =
            |body: &str| err(read_rankings_from(format!("{head}{body}").as_bytes(), "rankings.csv", &d.candidates));
        assert_eq!(
            err(read_rankings_from("suite,scenario,method,seed,user,top\n".as_bytes(), "rankings.csv", &d.candidates)),
            "rankings.csv:1: header is [\"suite\", \"scenario\", \"method\", \"seed\", \"user\", \"top\"], expected \
             [\"suite\", \"scenario\", \"method\", \"seed\", \"perturbation\", \"user\", \"top\"]"
        );
        assert_eq!(
            ranks("s,warm,m,1,none,1,10 20\ns,warm,m,1.5,none,2,10 30\n"),
            "rankings.csv:3: column seed: \"1.5\" is not an unsigned integer: invalid digit found in string"
        );
        assert_eq!(
            ranks("s,warm,m,1,none,1,10 x\n"),
            "rankings.csv:2: column top: \"x\" is not an item id (an unsigned integer): invalid digit found in string"
        );
        // 50 is a candidate of user 2, not of user 1
        assert_eq!(
            ranks("s,warm,m,1,none,2,10 50\ns,warm,m,1,none,1,10 50\n"),
            "rankings.csv:3: item 50 of top is not among the candidates of user 1"
        );
        assert_eq!(
            ranks("s,warm,m,1,none,1,10 20\ns,warm,m,1,none,9,10 20\n"),
            "rankings.csv:3: no row in candidates.csv for suite \"s\", scenario \"warm\", user 9"
        );
        assert_eq!(
            ranks("s,cold,m,1,none,1,10 20\n"),
            "rankings.csv:2: no row in candidates.csv for suite \"s\", scenario \"cold\", user 1"
        );
        assert_eq!(ranks("s,warm,m,1,none,1,20 20\n"), "rankings.csv:2: column top: item 20 appears more than once");
        assert_eq!(ranks("s,warm,m,1,none,1,\n"), "rankings.csv:2: column top is empty");
        assert_eq!(ranks("s,warm,m,1,,1,10\n"), "rankings.csv:2: column perturbation is empty");
        assert_eq!(
            ranks("s,warm,m,1,none,1,10 20\ns,warm,m,2,none,1,10 20\ns,warm,m,1,none,1,20 10\n"),
            "rankings.csv:4: duplicate of line 2 (same suite, scenario, method, seed, perturbation and user)"
        );
        // k: a list shorter than its candidate set fixes k for the suite
        assert_eq!(
            ranks("s,warm,m,1,none,1,10 20\ns,warm,m,1,none,2,10 30 50\n"),
            "rankings.csv:3: top has 3 items, but the list on line 2 has 2: k differs within the suite"
        );
        assert_eq!(
            ranks("s,warm,m,1,none,1,10 20 30 40\ns,warm,m,1,none,2,10\n"),
            "rankings.csv:3: top has 1 items, but the list on line 2 has 4: k differs within the suite"
        );
        // ... but a list holding all its user's candidates may be shorter than k
        let c2 =
            read_candidates_from(format!("{CANDIDATES}s,warm,3,20 30,30\n").as_bytes(), "candidates.csv", &d.items)
                .unwrap_or_else(|e| panic!("{e}"));
        let rows = read_rankings_from(
            format!("{head}s,warm,m,1,none,1,10 20 30\ns,warm,m,1,none,3,30 20\n").as_bytes(),
            "rankings.csv",
            &c2,
        );
        assert_eq!(rows.map(|r| r.len()).ok(), Some(2));
        let e = read_rankings_from(format!("{head}s,warm,m,1,none,1\n").as_bytes(), "rankings.csv", &d.candidates)
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(e, ReportError::Row { line: 2, .. }), "{e:?}");
    }

    #[test]
    fn load_item_side_reads_a_run_directory_or_gives_none() {
        let dir = std::env::temp_dir().join(format!("metarec-item-side-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{e}"));
        let load = || load_item_side(&dir);
        // nothing, then each file but the last: no section
        assert!(matches!(load(), Ok(None)));
        write("items.csv", ITEMS);
        write("candidates.csv", CANDIDATES);
        assert!(matches!(load(), Ok(None)));
        write("rankings.csv", RANKINGS);
        let data = load().unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|| panic!("no data"));
        assert_eq!(data, parse(ITEMS, CANDIDATES, RANKINGS));
        std::fs::remove_file(dir.join("candidates.csv")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(load(), Ok(None)));
        // a bad file is an error naming its path and line
        write("candidates.csv", CANDIDATES);
        write("rankings.csv", &format!("{RANKINGS}s,warm,m,1,none,1,10 99\n"));
        let e = err(load());
        let want =
            format!("{}:10: item 99 of top is not among the candidates of user 1", dir.join("rankings.csv").display());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e, want);
    }

    #[test]
    fn mismatched_rows_are_skipped_with_reasons() {
        // rows built in code, bypassing the readers' checks
        let mut d = parse(ITEMS, CANDIDATES, RANKINGS);
        d.rankings[0].top = vec![99]; // maml seed 1, user 1
        d.rankings.push(RankingRow { scenario: "cold".into(), ..d.rankings[1].clone() });
        let report = analyze(&d);
        let reasons: Vec<String> =
            report.skipped.iter().map(|s| format!("{}/{}/{:?}: {}", s.scenario, s.method, s.seeds, s.reason)).collect();
        assert_eq!(
            reasons,
            [
                "warm/maml/[1]: item 99 in the top-k of user 1 is not among the user's candidates",
                "cold//[]: candidates.csv has no rows for this scenario",
            ]
        );
        // maml keeps seed 2 alone
        let r = row(&report.tables[0], "maml");
        assert_eq!(r.seeds, 1);
        assert_eq!(r.get(ItemMetric::HitRatio), Some(&Estimate { mean: 1.0, ci: None, seeds: 1 }));
        // an invalid head share or alpha: reasons, no NaN
        let bad = ItemSideOptions { head_share: 1.5, alpha: 2.0 };
        let report = analyze_item_side(&d.items, &d.candidates, &d.rankings, &bad);
        assert!(report.tables.is_empty());
        assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
        assert!(
            report.skipped.iter().any(|s| s.reason.contains("head_share = 1.5 is invalid")),
            "{:?}",
            report.skipped
        );
        let md_out = render_item_side_markdown(&report, &oracle());
        assert!(md_out.contains("\nNo item-side table: no ranking could be scored"), "{md_out}");
        assert!(!md_out.contains("NaN"), "{md_out}");
    }
}
