//! Fairness and popularity-bias metrics: user-side group gaps with a
//! permutation test, per-user top-k accuracy with binary relevance (HR@k,
//! nDCG@k), and item-side popularity bias of recommendation lists (ARP, APLT,
//! exposure Gini, catalogue coverage, PopRSP, PopREO).
//!
//! Like the rest of this crate, everything here takes plain slices and numbers
//! and knows nothing of models or methods. Item ids are `u32` indices into the
//! catalogue `0..n_items`; a recommendation list must not repeat an item.
//!
//! Unlike [`crate::metrics`], nothing here returns NaN: ill-formed input (empty
//! input, `k == 0`, an item id out of range, a repeated item, a non-finite
//! value) and quantities that are undefined for the data (a user without
//! relevant items, a group without candidates, zero total exposure) are a
//! [`FairnessError`] naming the problem, and a ratio that is undefined is
//! `None`.
//!
//! | what | function | reference |
//! |---|---|---|
//! | per-group mean and 95% t-interval | [`group_summaries`] | [`crate::summary::t_interval`] |
//! | max - min gap of group means, permutation p | [`group_gap`], [`group_gap_samples`] | `scipy.stats.permutation_test(..., permutation_type="independent", alternative="greater")` |
//! | hit ratio, binary nDCG | [`hit_ratio_at`], [`ndcg_binary_at`] | nDCG: Jarvelin & Kekalainen 2002, with the 1/log2(rank+1) discount |
//! | ARP, APLT | [`average_recommendation_popularity`], [`long_tail_share`] | Abdollahpouri, Burke & Mobasher 2019 (FLAIRS) |
//! | head / long-tail split | [`popularity_groups`] | cumulative-share cut of the popularity-sorted catalogue |
//! | exposure Gini, coverage | [`exposure_gini`], [`catalogue_coverage`] | sorted-formula Gini (Damgaard & Weiner 2000) |
//! | PopRSP, PopREO | [`pop_rsp`], [`pop_reo`] | Zhu, Wang & Caverlee 2020 (SIGIR) |
//!
//! Tests over several attributes (gender, age, ...) are corrected by the
//! caller, e.g. with [`crate::stats::holm`] over the [`GroupGap::p_value`]s;
//! see [`group_gap`].

use std::collections::{BTreeMap, HashSet};

use crate::stats::rng::Rng;
use crate::summary::t_interval;

/// What is wrong with the input of a fairness metric, or why the metric is
/// undefined for it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FairnessError {
    #[error("{what} is empty")]
    EmptyInput { what: &'static str },
    #[error("k must be at least 1, got 0")]
    ZeroK,
    #[error("{list}: item id {item} is out of range for a catalogue of {n_items} items")]
    ItemOutOfRange { list: String, item: u32, n_items: usize },
    #[error("{list}: item id {item} appears more than once")]
    DuplicateItem { list: String, item: u32 },
    #[error("{list} is empty, so its mean is undefined")]
    EmptyList { list: String },
    #[error("{list}: item id {item} is not among the user's candidates")]
    NotACandidate { list: String, item: u32 },
    #[error("{what}: value {value} at index {index} is not finite")]
    NonFinite { what: String, index: usize, value: f64 },
    #[error("{what}: value {value} at index {index} is negative")]
    Negative { what: &'static str, index: usize, value: f64 },
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter { name: &'static str, value: f64, reason: &'static str },
    #[error("{what} needs at least 2 groups, got {got}")]
    TooFewGroups { what: &'static str, got: usize },
    #[error("group {group:?} has no values")]
    EmptyGroup { group: String },
    #[error("group {group:?} is given more than once")]
    DuplicateGroup { group: String },
    #[error("{what}: {a} users against {b} users")]
    LengthMismatch { what: &'static str, a: usize, b: usize },
    #[error("the user has no relevant items, so {what} is undefined")]
    NoRelevantItems { what: &'static str },
    #[error("{what} is undefined: {reason}")]
    Undefined { what: &'static str, reason: String },
}

// ---------------------------------------------------------------------------
// User-side group fairness
// ---------------------------------------------------------------------------

/// Mean and 95% confidence interval of a metric over the users of one group.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSummary {
    /// The group label (e.g. `"F"`, `"18-24"`).
    pub group: String,
    /// Number of values (users) in the group.
    pub n: usize,
    /// Mean of the group's values.
    pub mean: f64,
    /// Lower end of the two-sided 95% Student-t interval (df = n - 1); equals
    /// the mean when n = 1 or the values are all equal.
    pub ci_low: f64,
    /// Upper end of the two-sided 95% Student-t interval.
    pub ci_high: f64,
}

/// Per-group n, mean and two-sided 95% Student-t interval
/// ([`t_interval`], scipy's `t.interval(0.95, n-1, loc=mean, scale=sem)`) of
/// `(group, value)` pairs, e.g. one per-user nDCG per user labelled with the
/// user's gender. Sorted by group name; within a group, values are summed in
/// input order. A group with one value has the interval `[mean, mean]`.
/// Empty input gives an empty result.
///
/// Errors: a non-finite value ([`FairnessError::NonFinite`], with its index
/// in `values`).
pub fn group_summaries(values: &[(String, f64)]) -> Result<Vec<GroupSummary>, FairnessError> {
    Ok(by_group(values)?
        .into_iter()
        .map(|(group, xs)| {
            let (mean, ci_low, ci_high) = t_interval(&xs, 0.95);
            GroupSummary { group: group.to_string(), n: xs.len(), mean, ci_low, ci_high }
        })
        .collect())
}

/// Values grouped by label in name order, after checking finiteness.
fn by_group(values: &[(String, f64)]) -> Result<BTreeMap<&str, Vec<f64>>, FairnessError> {
    let mut groups: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (index, (group, v)) in values.iter().enumerate() {
        if !v.is_finite() {
            return Err(FairnessError::NonFinite { what: "group values".into(), index, value: *v });
        }
        groups.entry(group.as_str()).or_default().push(*v);
    }
    Ok(groups)
}

/// Result of [`group_gap`]: the best- and worst-served groups and a
/// permutation test of the gap between them.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupGap {
    /// Group with the largest mean (the first in group order on ties).
    pub max_group: String,
    pub max_mean: f64,
    /// Group with the smallest mean (the first in group order on ties).
    pub min_group: String,
    pub min_mean: f64,
    /// `max_mean - min_mean`, the test statistic; >= 0.
    pub gap: f64,
    /// `min_mean / max_mean` (the "disparate impact" ratio, 1 = parity);
    /// `None` when a group mean is <= 0, where the ratio is undefined or
    /// meaningless.
    pub ratio: Option<f64>,
    /// Monte Carlo permutation p-value of the gap, `(b + 1) / (m + 1)`.
    pub p_value: f64,
    /// Number of random relabellings m.
    pub resamples: usize,
}

/// Relative tolerance (to the largest |value|) under which a resampled gap
/// counts as equal to the observed one, so that gaps equal in exact arithmetic
/// but summed in a different order are not missed. scipy uses 100 eps times
/// the observed statistic; rounding errors of a mean scale with the values,
/// not with the gap, hence the different scale.
const GAP_REL_TOL: f64 = 1e-12;

/// Gap between the best and worst group means of `(group, value)` pairs and
/// an unpaired permutation test of it; groups are formed and ordered as in
/// [`group_summaries`], then [`group_gap_samples`] does the work.
///
/// Test: H0 = the group labels are exchangeable (every group's values come
/// from the same distribution). Statistic T = max over groups of the mean -
/// min over groups of the mean, over all groups at once. Its null
/// distribution is that of T under random reassignment of the pooled values
/// to groups of the observed sizes ("label exchange"). The number of such
/// assignments, n! / (n_1! ... n_g!), is astronomically large for real user
/// groups, so m = `resamples` uniformly random relabellings (Fisher-Yates
/// shuffles from [`Rng::new`]`(seed)`) are drawn and
///
/// p = (b + 1) / (m + 1), b = #{resamples with T* >= T},
///
/// which counts the observed labelling once, is never 0, and is a valid
/// (slightly conservative) p-value (Phipson & Smyth 2010). This is the
/// Monte Carlo convention of `scipy.stats.permutation_test(groups, stat,
/// permutation_type="independent", alternative="greater", n_resamples=m)`
/// (scipy adds 1 to both counts when it does not enumerate). The test is
/// one-sided in T because T >= 0 already measures a gap in either direction.
/// T* counts as >= T when it is within 1e-12 x max |value| of it.
///
/// The p-value is a pure function of the values, their order and `seed`; use
/// [`crate::stats::rng::derive_seed`] to give each attribute its own stream.
///
/// Errors: fewer than 2 groups, a non-finite value, `resamples == 0`.
///
/// Several attributes make several tests; correct them together, e.g. with
/// Holm's method:
///
/// ```
/// use metarec_reports::fairness::group_gap;
/// use metarec_reports::stats::{holm, rng::derive_seed};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // per-user nDCG@10 labelled by gender and by age band
/// let ndcg = [0.61, 0.55, 0.72, 0.40, 0.58, 0.66, 0.49, 0.70];
/// let gender = ["F", "M", "F", "M", "M", "F", "M", "F"];
/// let age = ["<25", "<25", "25-44", "45+", "25-44", "45+", "<25", "25-44"];
/// let label = |groups: &[&str]| -> Vec<(String, f64)> {
///     groups.iter().zip(ndcg).map(|(g, v)| (g.to_string(), v)).collect()
/// };
/// let mut p = Vec::new();
/// for (attribute, groups) in [("gender", &gender), ("age", &age)] {
///     let gap = group_gap(&label(groups), 9_999, derive_seed(42, &["fairness", attribute]))?;
///     p.push(gap.p_value);
/// }
/// let adjusted = holm(&p)?; // family-wise error over the two attributes
/// assert!(adjusted.iter().zip(&p).all(|(a, raw)| a >= raw));
/// # Ok(())
/// # }
/// ```
pub fn group_gap(values: &[(String, f64)], resamples: usize, seed: u64) -> Result<GroupGap, FairnessError> {
    let groups = by_group(values)?;
    let named: Vec<(&str, &[f64])> = groups.iter().map(|(g, xs)| (*g, xs.as_slice())).collect();
    group_gap_samples(&named, resamples, seed)
}

/// [`group_gap`] on values already grouped, as `(group, values)` in the order
/// given (which fixes tie-breaking of max/min groups and the resampling
/// stream). See [`group_gap`] for the test.
///
/// Errors: fewer than 2 groups, a group without values
/// ([`FairnessError::EmptyGroup`]), a group name given twice, a non-finite
/// value, `resamples == 0`.
pub fn group_gap_samples(groups: &[(&str, &[f64])], resamples: usize, seed: u64) -> Result<GroupGap, FairnessError> {
    if groups.len() < 2 {
        return Err(FairnessError::TooFewGroups { what: "a group gap", got: groups.len() });
    }
    let mut names = HashSet::new();
    for (name, xs) in groups {
        if !names.insert(*name) {
            return Err(FairnessError::DuplicateGroup { group: name.to_string() });
        }
        if xs.is_empty() {
            return Err(FairnessError::EmptyGroup { group: name.to_string() });
        }
        if let Some(index) = xs.iter().position(|x| !x.is_finite()) {
            return Err(FairnessError::NonFinite { what: format!("group {name:?}"), index, value: xs[index] });
        }
    }
    if resamples == 0 {
        return Err(FairnessError::InvalidParameter {
            name: "resamples",
            value: 0.0,
            reason: "the Monte Carlo permutation test needs at least one resample",
        });
    }

    let means: Vec<f64> = groups.iter().map(|(_, xs)| xs.iter().sum::<f64>() / xs.len() as f64).collect();
    let (mut hi, mut lo) = (0, 0);
    for (g, &m) in means.iter().enumerate() {
        if m > means[hi] {
            hi = g;
        }
        if m < means[lo] {
            lo = g;
        }
    }
    let (max_mean, min_mean) = (means[hi], means[lo]);
    let gap = max_mean - min_mean;
    let ratio = (min_mean > 0.0).then(|| min_mean / max_mean);

    let sizes: Vec<usize> = groups.iter().map(|(_, xs)| xs.len()).collect();
    let mut pooled: Vec<f64> = groups.iter().flat_map(|(_, xs)| xs.iter().copied()).collect();
    let scale = pooled.iter().fold(0.0f64, |acc, x| acc.max(x.abs()));
    let threshold = gap - GAP_REL_TOL * scale;
    let mut rng = Rng::new(seed);
    let mut count = 0u64;
    for _ in 0..resamples {
        shuffle(&mut pooled, &mut rng);
        count += u64::from(gap_of(&pooled, &sizes) >= threshold);
    }
    Ok(GroupGap {
        max_group: groups[hi].0.to_string(),
        max_mean,
        min_group: groups[lo].0.to_string(),
        min_mean,
        gap,
        ratio,
        p_value: (count + 1) as f64 / (resamples + 1) as f64,
        resamples,
    })
}

/// Uniform random permutation of `xs` in place (Fisher-Yates).
fn shuffle(xs: &mut [f64], rng: &mut Rng) {
    for i in (1..xs.len()).rev() {
        let j = rng.below((i + 1) as u64) as usize;
        xs.swap(i, j);
    }
}

/// max - min of the means of consecutive chunks of `pooled` of the given sizes.
fn gap_of(pooled: &[f64], sizes: &[usize]) -> f64 {
    let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
    let mut start = 0;
    for &n in sizes {
        let m = pooled[start..start + n].iter().sum::<f64>() / n as f64;
        hi = hi.max(m);
        lo = lo.min(m);
        start += n;
    }
    hi - lo
}

// ---------------------------------------------------------------------------
// Per-user top-k accuracy with binary relevance
// ---------------------------------------------------------------------------

/// HR@k (hit ratio) of one user's ranked list: 1 if any of the first `k`
/// items of `ranked` is in `relevant` (the user's held-out items), else 0. A
/// list shorter than `k` is used whole.
///
/// Errors: `k == 0`, an item repeated in `ranked` or `relevant`, or no
/// relevant items ([`FairnessError::NoRelevantItems`]: such a user is left
/// out of the average, as in the usual leave-out protocols, rather than
/// counted as a miss).
pub fn hit_ratio_at(k: usize, ranked: &[u32], relevant: &[u32]) -> Result<f64, FairnessError> {
    let relevant = check_one_user(k, ranked, relevant, "HR@k")?;
    Ok(if ranked.iter().take(k).any(|i| relevant.contains(i)) { 1.0 } else { 0.0 })
}

/// nDCG@k of one user's ranked list with binary relevance (nDCG: Jarvelin &
/// Kekalainen 2002, here with the 1/log2(rank + 1) discount usual in
/// recommender evaluation, as [`crate::metrics::ndcg_at`]): gain 1 for an item
/// in `relevant`, 0 otherwise, rank from 1,
///
/// DCG@k = sum over ranks r <= k with ranked\[r-1\] relevant of 1/log2(r + 1),
/// IDCG@k = sum over r = 1..=min(k, |relevant|) of 1/log2(r + 1),
///
/// and nDCG@k = DCG@k / IDCG@k in [0, 1]. A list shorter than `k` is not
/// padded: the missing ranks earn nothing, while the ideal still has
/// min(k, |relevant|) hits. (Scores with ties: see [`crate::metrics::ndcg_at`].)
///
/// Errors: as [`hit_ratio_at`].
pub fn ndcg_binary_at(k: usize, ranked: &[u32], relevant: &[u32]) -> Result<f64, FairnessError> {
    let relevant = check_one_user(k, ranked, relevant, "nDCG@k")?;
    let dcg: f64 =
        ranked.iter().take(k).enumerate().filter(|(_, i)| relevant.contains(i)).map(|(r, _)| discount(r)).sum();
    let idcg: f64 = (0..k.min(relevant.len())).map(discount).sum();
    Ok(dcg / idcg)
}

/// 1/log2(rank + 1) of the 0-based position `pos` (rank = pos + 1).
fn discount(pos: usize) -> f64 {
    1.0 / ((pos + 2) as f64).log2()
}

/// Checks `k`, that `ranked` and `relevant` repeat no item and that some item
/// is relevant; returns the relevant set.
fn check_one_user(
    k: usize,
    ranked: &[u32],
    relevant: &[u32],
    what: &'static str,
) -> Result<HashSet<u32>, FairnessError> {
    if k == 0 {
        return Err(FairnessError::ZeroK);
    }
    distinct(ranked, "ranked list")?;
    let set = distinct(relevant, "relevant items")?;
    if set.is_empty() {
        return Err(FairnessError::NoRelevantItems { what });
    }
    Ok(set)
}

/// The items of `list` as a set; an error on the first repeated item.
fn distinct(list: &[u32], name: &str) -> Result<HashSet<u32>, FairnessError> {
    let mut set = HashSet::with_capacity(list.len());
    for &item in list {
        if !set.insert(item) {
            return Err(FairnessError::DuplicateItem { list: name.to_string(), item });
        }
    }
    Ok(set)
}

// ---------------------------------------------------------------------------
// Popularity bias of recommendation lists
// ---------------------------------------------------------------------------

/// Checks that `lists` is non-empty and that every list has distinct items in
/// `0..n_items`.
fn check_lists(lists: &[Vec<u32>], n_items: usize, what: &'static str) -> Result<(), FairnessError> {
    if lists.is_empty() {
        return Err(FairnessError::EmptyInput { what });
    }
    let mut seen = vec![usize::MAX; n_items]; // seen[i] = last user whose list holds i
    for (user, list) in lists.iter().enumerate() {
        for &item in list {
            let i = item as usize;
            if i >= n_items {
                return Err(FairnessError::ItemOutOfRange { list: format!("{what} of user {user}"), item, n_items });
            }
            if seen[i] == user {
                return Err(FairnessError::DuplicateItem { list: format!("{what} of user {user}"), item });
            }
            seen[i] = user;
        }
    }
    Ok(())
}

/// Checks that popularity values are finite and >= 0.
fn check_popularity(popularity: &[f64]) -> Result<(), FairnessError> {
    for (index, &value) in popularity.iter().enumerate() {
        if !value.is_finite() {
            return Err(FairnessError::NonFinite { what: "popularity".into(), index, value });
        }
        if value < 0.0 {
            return Err(FairnessError::Negative { what: "popularity", index, value });
        }
    }
    Ok(())
}

/// Mean over users of `f(item)` averaged over each user's list.
fn mean_of_list_means(lists: &[Vec<u32>], what: &'static str, f: impl Fn(usize) -> f64) -> Result<f64, FairnessError> {
    let mut total = 0.0;
    for (user, list) in lists.iter().enumerate() {
        if list.is_empty() {
            return Err(FairnessError::EmptyList { list: format!("{what} of user {user}") });
        }
        total += list.iter().map(|&i| f(i as usize)).sum::<f64>() / list.len() as f64;
    }
    Ok(total / lists.len() as f64)
}

/// Average Recommendation Popularity (ARP; Abdollahpouri, Burke & Mobasher
/// 2019, "Managing Popularity Bias in Recommender Systems with Personalized
/// Re-ranking", FLAIRS):
///
/// ARP = 1/|U| sum over users u of (sum over i in L_u of phi(i)) / |L_u|,
///
/// with L_u the user's recommendation (top-k) list and phi(i) =
/// `popularity[i]`, e.g. the item's number of training ratings. Lower means
/// less popular recommendations.
///
/// Errors: no lists, an empty list (its mean is undefined), an item id
/// `>= popularity.len()` or repeated within a list, a popularity that is not
/// finite or is negative.
pub fn average_recommendation_popularity(lists: &[Vec<u32>], popularity: &[f64]) -> Result<f64, FairnessError> {
    check_popularity(popularity)?;
    check_lists(lists, popularity.len(), "recommendation list")?;
    mean_of_list_means(lists, "recommendation list", |i| popularity[i])
}

/// Average Percentage of Long Tail items (APLT; Abdollahpouri, Burke &
/// Mobasher 2019, FLAIRS), as a fraction:
///
/// APLT = 1/|U| sum over users u of |{i in L_u : i in long tail}| / |L_u|,
///
/// with `is_long_tail[i]` marking the long tail (e.g. from
/// [`popularity_groups`]). Higher means more long-tail items recommended.
///
/// Errors: no lists, an empty list, an item id `>= is_long_tail.len()` or
/// repeated within a list.
pub fn long_tail_share(lists: &[Vec<u32>], is_long_tail: &[bool]) -> Result<f64, FairnessError> {
    check_lists(lists, is_long_tail.len(), "recommendation list")?;
    mean_of_list_means(lists, "recommendation list", |i| f64::from(u8::from(is_long_tail[i])))
}

/// Gini coefficient of item exposure over the whole catalogue: x_i = number
/// of lists that contain item i, for every i in `0..n_items` (items never
/// recommended count as 0); with x sorted ascending and i = 1..=n,
///
/// G = sum_i (2i - n - 1) x_i / (n sum_i x_i)
///
/// (the sorted form of the mean-absolute-difference Gini, e.g. Damgaard &
/// Weiner 2000). 0 when every item is recommended equally often; (n - 1)/n,
/// the maximum, when one item gets all exposure.
///
/// Errors: `n_items == 0`, no lists, an item id out of range or repeated
/// within a list, no exposure at all (every list empty: G is 0/0).
pub fn exposure_gini(lists: &[Vec<u32>], n_items: usize) -> Result<f64, FairnessError> {
    check_catalogue(n_items)?;
    check_lists(lists, n_items, "recommendation list")?;
    let mut counts = vec![0u64; n_items];
    for &item in lists.iter().flatten() {
        counts[item as usize] += 1;
    }
    counts.sort_unstable();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Err(FairnessError::Undefined {
            what: "exposure Gini",
            reason: "every recommendation list is empty".into(),
        });
    }
    let n = n_items as f64;
    let weighted: f64 = counts.iter().enumerate().map(|(i, &x)| (2.0 * (i + 1) as f64 - n - 1.0) * x as f64).sum();
    Ok(weighted / (n * total as f64))
}

/// Catalogue coverage: the number of distinct items in any list over
/// `n_items`, in [0, 1].
///
/// Errors: `n_items == 0`, no lists, an item id out of range or repeated
/// within a list.
pub fn catalogue_coverage(lists: &[Vec<u32>], n_items: usize) -> Result<f64, FairnessError> {
    check_catalogue(n_items)?;
    check_lists(lists, n_items, "recommendation list")?;
    let mut hit = vec![false; n_items];
    for &item in lists.iter().flatten() {
        hit[item as usize] = true;
    }
    Ok(hit.iter().filter(|&&h| h).count() as f64 / n_items as f64)
}

fn check_catalogue(n_items: usize) -> Result<(), FairnessError> {
    if n_items == 0 {
        return Err(FairnessError::InvalidParameter {
            name: "n_items",
            value: 0.0,
            reason: "the catalogue needs at least one item",
        });
    }
    Ok(())
}

/// Head / long-tail split of the catalogue by popularity (the split behind
/// APLT in Abdollahpouri et al. 2019): items are sorted by `popularity`
/// descending, ties broken by ascending item id, and the head is the shortest
/// prefix of that order whose popularity sums to at least `head_share` of the
/// total, i.e. item i is head iff the popularity of the items before it is
/// `< head_share * total`. The head may thus hold slightly more than the
/// share; items with popularity 0 are never head.
///
/// Returns `is_long_tail` indexed by item id: `true` for the long tail, `false`
/// for the head, ready for [`long_tail_share`]. `head_share = 0` makes every
/// item long tail; `head_share = 1` makes every item of positive popularity
/// head.
///
/// Errors: empty `popularity`, a popularity not finite or negative,
/// `head_share` outside [0, 1].
pub fn popularity_groups(popularity: &[f64], head_share: f64) -> Result<Vec<bool>, FairnessError> {
    if popularity.is_empty() {
        return Err(FairnessError::EmptyInput { what: "popularity" });
    }
    check_popularity(popularity)?;
    if !(0.0..=1.0).contains(&head_share) {
        return Err(FairnessError::InvalidParameter {
            name: "head_share",
            value: head_share,
            reason: "the head's share of interactions must lie in [0, 1]",
        });
    }
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[b].total_cmp(&popularity[a]).then(a.cmp(&b)));
    let target = head_share * popularity.iter().sum::<f64>();
    let mut is_long_tail = vec![true; popularity.len()];
    let mut before = 0.0;
    for i in order {
        // sorted descending, so once an item has popularity 0 all the rest do
        if before >= target || popularity[i] == 0.0 {
            break;
        }
        is_long_tail[i] = false;
        before += popularity[i];
    }
    Ok(is_long_tail)
}

// ---------------------------------------------------------------------------
// PopRSP / PopREO
// ---------------------------------------------------------------------------

/// One user's lists for [`pop_rsp`] and [`pop_reo`]. Items are ids in the
/// catalogue `0..item_group.len()`; no list may repeat an item.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UserRanking<'a> {
    /// Items the model ranked for this user: in Zhu et al. every item not in
    /// the user's training data (I \ I_u^+), or the protocol's sampled
    /// candidate list.
    pub candidates: &'a [u32],
    /// The user's top-k recommendations, a subset of `candidates` (k is the
    /// list length; it may differ between users).
    pub top_k: &'a [u32],
    /// The user's relevant held-out (test) items, a subset of `candidates`;
    /// may be empty.
    pub relevant: &'a [u32],
}

/// Per-group rates and their relative standard deviation, from [`pop_rsp`]
/// or [`pop_reo`].
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRates {
    /// Rate of each item group, indexed by group.
    pub rates: Vec<f64>,
    /// std(rates) / mean(rates), std with ddof = 0; 0 = parity.
    pub value: f64,
}

/// Per-group counts over all users: top-k items, candidates, top-k relevant
/// items, relevant items.
struct GroupCounts {
    top_k: Vec<u64>,
    candidates: Vec<u64>,
    top_k_relevant: Vec<u64>,
    relevant: Vec<u64>,
}

/// Validates `users` and `item_group` and counts per item group.
fn group_counts(users: &[UserRanking], item_group: &[usize], what: &'static str) -> Result<GroupCounts, FairnessError> {
    if users.is_empty() {
        return Err(FairnessError::EmptyInput { what: "users" });
    }
    if item_group.is_empty() {
        return Err(FairnessError::EmptyInput { what: "item_group" });
    }
    let n_items = item_group.len();
    let n_groups = item_group.iter().max().map_or(0, |&g| g + 1);
    // every group must hold an item, so there are at most n_items groups
    if n_groups > n_items {
        return Err(FairnessError::Undefined {
            what,
            reason: format!(
                "group index {} exceeds the number of items {n_items}: some group has no item",
                n_groups - 1
            ),
        });
    }
    let mut items_per_group = vec![0usize; n_groups];
    for &g in item_group {
        items_per_group[g] += 1;
    }
    if let Some(g) = items_per_group.iter().position(|&c| c == 0) {
        return Err(FairnessError::Undefined { what, reason: format!("group {g} has no item") });
    }
    if n_groups < 2 {
        return Err(FairnessError::TooFewGroups { what, got: n_groups });
    }

    let zeros = vec![0u64; n_groups];
    let mut c =
        GroupCounts { top_k: zeros.clone(), candidates: zeros.clone(), top_k_relevant: zeros.clone(), relevant: zeros };
    // last user whose candidates / top-k / relevant items hold the item
    let mut in_candidates = vec![usize::MAX; n_items];
    let mut in_top_k = vec![usize::MAX; n_items];
    let mut in_relevant = vec![usize::MAX; n_items];
    for (user, u) in users.iter().enumerate() {
        check_user_list(u.candidates, "candidates", user, n_items, &mut in_candidates, None)?;
        check_user_list(u.top_k, "top-k list", user, n_items, &mut in_top_k, Some(&in_candidates))?;
        check_user_list(u.relevant, "relevant items", user, n_items, &mut in_relevant, Some(&in_candidates))?;
        for &item in u.candidates {
            c.candidates[item_group[item as usize]] += 1;
        }
        for &item in u.relevant {
            c.relevant[item_group[item as usize]] += 1;
        }
        for &item in u.top_k {
            let g = item_group[item as usize];
            c.top_k[g] += 1;
            if in_relevant[item as usize] == user {
                c.top_k_relevant[g] += 1;
            }
        }
    }
    Ok(c)
}

/// Checks one list of user `user`: ids in `0..n_items`, no repeats (`seen[i]
/// == user` marks an item already in this list; it is set here), and, given
/// `candidates`, membership in the user's candidates.
fn check_user_list(
    list: &[u32],
    name: &str,
    user: usize,
    n_items: usize,
    seen: &mut [usize],
    candidates: Option<&[usize]>,
) -> Result<(), FairnessError> {
    let list_name = || format!("{name} of user {user}");
    for &item in list {
        let i = item as usize;
        if i >= n_items {
            return Err(FairnessError::ItemOutOfRange { list: list_name(), item, n_items });
        }
        if seen[i] == user {
            return Err(FairnessError::DuplicateItem { list: list_name(), item });
        }
        if candidates.is_some_and(|c| c[i] != user) {
            return Err(FairnessError::NotACandidate { list: list_name(), item });
        }
        seen[i] = user;
    }
    Ok(())
}

/// Rates num/den per group and their relative standard deviation.
fn relative_std(num: &[u64], den: &[u64], what: &'static str, denominators: &str) -> Result<GroupRates, FairnessError> {
    if let Some(g) = den.iter().position(|&d| d == 0) {
        return Err(FairnessError::Undefined { what, reason: format!("item group {g} has no {denominators}") });
    }
    let rates: Vec<f64> = num.iter().zip(den).map(|(&n, &d)| n as f64 / d as f64).collect();
    let k = rates.len() as f64;
    let mean = rates.iter().sum::<f64>() / k;
    if mean == 0.0 {
        return Err(FairnessError::Undefined { what, reason: "every group's rate is 0, so std/mean is 0/0".into() });
    }
    if rates.iter().all(|&r| r == rates[0]) {
        // exact parity; the rounded mean of equal rates may differ from them
        return Ok(GroupRates { value: 0.0, rates });
    }
    let var = rates.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / k;
    Ok(GroupRates { value: var.sqrt() / mean, rates })
}

/// PopRSP, popularity-based ranking-based statistical parity (Zhu, Wang &
/// Caverlee 2020, "Measuring and Mitigating Item Under-Recommendation Bias in
/// Personalized Ranking Systems", SIGIR). For each item group g (e.g.
/// popularity groups; `item_group[i]` is the group of item i, groups
/// `0..=max`):
///
/// P(R@k | g) = (sum over users of #{top-k items in g}) /
///              (sum over users of #{candidate items in g}),
///
/// the probability that a candidate item of group g is recommended; then
/// PopRSP = std_g P(R@k | g) / mean_g P(R@k | g) (population std, ddof = 0).
/// 0 means every group is recommended in proportion to its candidates;
/// larger means less parity.
///
/// Errors: no users, empty `item_group`, fewer than 2 groups, a group index
/// with no item, an item id out of range or repeated within a list, a top-k
/// or relevant item that is not a candidate, a group without any candidate
/// (its rate is 0/0), or all rates 0.
pub fn pop_rsp(users: &[UserRanking], item_group: &[usize]) -> Result<GroupRates, FairnessError> {
    let c = group_counts(users, item_group, "PopRSP")?;
    relative_std(&c.top_k, &c.candidates, "PopRSP", "candidate item")
}

/// PopREO, popularity-based ranking-based equal opportunity (Zhu, Wang &
/// Caverlee 2020, SIGIR; see [`pop_rsp`]). For each item group g:
///
/// P(R@k | g, y = 1) = (sum over users of #{relevant top-k items in g}) /
///                     (sum over users of #{relevant items in g}),
///
/// the recall of group g's held-out positives; then PopREO = std_g / mean_g
/// of these (population std, ddof = 0). 0 means every group's positives are
/// found equally often. Users without relevant items contribute nothing.
///
/// Errors: as [`pop_rsp`], with "a group without any relevant item" in place
/// of "without any candidate".
pub fn pop_reo(users: &[UserRanking], item_group: &[usize]) -> Result<GroupRates, FairnessError> {
    let c = group_counts(users, item_group, "PopREO")?;
    relative_std(&c.top_k_relevant, &c.relevant, "PopREO", "relevant item")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::holm;

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-12 * want.abs().max(1.0)
    }

    fn labelled(groups: &[(&str, &[f64])]) -> Vec<(String, f64)> {
        groups.iter().flat_map(|(g, xs)| xs.iter().map(move |&x| (g.to_string(), x))).collect()
    }

    // 1/log2(r + 1) for ranks 1..4
    const D1: f64 = 1.0;
    const D2: f64 = 0.6309297535714574; // 1/log2(3)
    const D3: f64 = 0.5;
    const D4: f64 = 0.43067655807339306; // 1/log2(5)

    #[test]
    fn group_summaries_sorted_with_t_intervals() -> Result<(), FairnessError> {
        // group "b" comes first in the input but "a" first in the output.
        // a = [0.8, 1.0, 1.2]: mean 1, sd 0.2, sem 0.2/sqrt(3), t_{0.975,2} =
        // 4.302652729749464 (closed form, see summary.rs), half-width
        // 0.4968275423500662 -> [0.5031724576499338, 1.496827542350066];
        // b = [2.5]: one value, interval [2.5, 2.5]
        let v = labelled(&[("b", &[2.5]), ("a", &[0.8, 1.0, 1.2])]);
        let s = group_summaries(&v)?;
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].group.as_str(), s[0].n), ("a", 3));
        assert!(close(s[0].mean, 1.0) && close(s[0].ci_low, 0.5031724576499338), "{s:?}");
        assert!(close(s[0].ci_high, 1.496827542350066), "{s:?}");
        assert_eq!(s[1], GroupSummary { group: "b".into(), n: 1, mean: 2.5, ci_low: 2.5, ci_high: 2.5 });
        assert!(group_summaries(&[])?.is_empty());
        let bad = [("a".to_string(), 1.0), ("b".to_string(), f64::NAN)];
        assert!(matches!(group_summaries(&bad), Err(FairnessError::NonFinite { index: 1, .. })));
        Ok(())
    }

    #[test]
    fn group_gap_by_hand() -> Result<(), FairnessError> {
        // means: a = (0.5 + 1.5) / 2 = 1.0, b = (2 + 3) / 2 = 2.5, c = 2.0
        // max b, min a, gap 1.5, ratio 1.0 / 2.5 = 0.4
        let v = labelled(&[("c", &[2.0]), ("a", &[0.5, 1.5]), ("b", &[2.0, 3.0])]);
        let g = group_gap(&v, 99, 1)?;
        assert_eq!((g.max_group.as_str(), g.min_group.as_str()), ("b", "a"));
        assert_eq!((g.max_mean, g.min_mean, g.gap), (2.5, 1.0, 1.5));
        assert!(close(g.ratio.expect("positive means"), 0.4));
        assert_eq!(g.resamples, 99);
        // p is (b + 1) / 100 with 1 <= b + 1 <= 100
        let b1 = g.p_value * 100.0;
        assert!((b1 - b1.round()).abs() < 1e-9 && (1.0..=100.0).contains(&b1), "{g:?}");
        // a mean <= 0 makes the ratio undefined
        let v = labelled(&[("x", &[-1.0, 1.0]), ("y", &[2.0])]);
        assert_eq!(group_gap(&v, 9, 1)?.ratio, None);
        Ok(())
    }

    #[test]
    fn group_gap_errors() {
        let one = labelled(&[("a", &[1.0, 2.0])]);
        assert_eq!(group_gap(&one, 9, 0), Err(FairnessError::TooFewGroups { what: "a group gap", got: 1 }));
        assert!(matches!(group_gap(&[], 9, 0), Err(FairnessError::TooFewGroups { got: 0, .. })));
        let nan = labelled(&[("a", &[1.0]), ("b", &[f64::INFINITY])]);
        assert!(matches!(group_gap(&nan, 9, 0), Err(FairnessError::NonFinite { index: 1, .. })));
        let two = labelled(&[("a", &[1.0]), ("b", &[2.0])]);
        assert!(matches!(group_gap(&two, 0, 0), Err(FairnessError::InvalidParameter { name: "resamples", .. })));
        let empty: &[f64] = &[];
        assert_eq!(
            group_gap_samples(&[("a", &[1.0]), ("b", empty)], 9, 0),
            Err(FairnessError::EmptyGroup { group: "b".into() })
        );
        assert_eq!(
            group_gap_samples(&[("a", &[1.0]), ("a", &[2.0])], 9, 0),
            Err(FairnessError::DuplicateGroup { group: "a".into() })
        );
        let e = group_gap_samples(&[("a", &[1.0]), ("b", &[2.0, f64::NAN])], 9, 0).unwrap_err();
        assert_eq!(e.to_string(), "group \"b\": value NaN at index 1 is not finite");
    }

    #[test]
    fn identical_groups_give_large_p() -> Result<(), FairnessError> {
        // equal samples: gap 0, every relabelling has T* >= 0, so p = 1
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        let g = group_gap_samples(&[("a", &xs), ("b", &xs)], 999, 3)?;
        assert_eq!((g.gap, g.p_value, g.ratio), (0.0, 1.0, Some(1.0)));
        // interleaved samples [1,3,5,7] vs [2,4,6,8]: gap 1; exact p = 48/70 =
        // 0.6857142857142857 (scipy permutation_test, independent, greater,
        // enumerated); the Monte Carlo estimate is far from significance
        let g = group_gap_samples(&[("odd", &[1.0, 3.0, 5.0, 7.0]), ("even", &[2.0, 4.0, 6.0, 8.0])], 999, 3)?;
        assert_eq!(g.gap, 1.0);
        assert!(g.p_value > 0.5, "{g:?}");
        Ok(())
    }

    #[test]
    fn clear_shift_gives_minimal_p() -> Result<(), FairnessError> {
        // 15 vs 15 values, fully separated (b = a + 10): only the 2 labellings
        // that split the pooled values by size reach the observed gap, out of
        // C(30, 15) = 155117520, so b = 0 with near certainty: p = 1/(m+1)
        let a: Vec<f64> = (0..15).map(|i| i as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
        let m = 999;
        let g = group_gap_samples(&[("a", &a), ("b", &b)], m, 11)?;
        assert_eq!(g.p_value, 1.0 / (m + 1) as f64, "{g:?}");
        assert_eq!((g.max_group.as_str(), g.min_group.as_str()), ("b", "a"));
        assert!(close(g.gap, 10.0));
        Ok(())
    }

    #[test]
    fn same_seed_same_p() -> Result<(), FairnessError> {
        let v = labelled(&[("a", &[0.2, 0.5, 0.4, 0.9]), ("b", &[0.6, 0.7, 0.3]), ("c", &[0.8, 0.1, 0.55])]);
        let g1 = group_gap(&v, 500, 77)?;
        assert_eq!(group_gap(&v, 500, 77)?, g1);
        // another seed draws another stream (its p may or may not differ)
        let g2 = group_gap(&v, 500, 78)?;
        assert_eq!((g2.gap, &g2.max_group), (g1.gap, &g1.max_group));
        Ok(())
    }

    /// Exact permutation p by enumerating every assignment of the pooled
    /// values to groups of the observed sizes (all distinct label sequences),
    /// counting T* >= T - tol as in the implementation.
    fn exact_p(groups: &[&[f64]]) -> (f64, usize) {
        let pooled: Vec<f64> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        let sizes: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        let stat = |labels: &[usize]| {
            let means: Vec<f64> = (0..sizes.len())
                .map(|g| {
                    let xs: Vec<f64> = pooled.iter().zip(labels).filter(|(_, l)| **l == g).map(|(x, _)| *x).collect();
                    xs.iter().sum::<f64>() / xs.len() as f64
                })
                .collect();
            means.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - means.iter().fold(f64::INFINITY, |a, &b| a.min(b))
        };
        let observed: Vec<usize> = sizes.iter().enumerate().flat_map(|(g, &n)| std::iter::repeat_n(g, n)).collect();
        let t = stat(&observed);
        let tol = 1e-12 * pooled.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        let (mut hits, mut total) = (0, 0);
        // recursive enumeration of label sequences with the given counts
        fn rec(left: &mut Vec<usize>, seq: &mut Vec<usize>, n: usize, visit: &mut dyn FnMut(&[usize])) {
            if seq.len() == n {
                visit(seq);
                return;
            }
            for g in 0..left.len() {
                if left[g] > 0 {
                    left[g] -= 1;
                    seq.push(g);
                    rec(left, seq, n, visit);
                    seq.pop();
                    left[g] += 1;
                }
            }
        }
        rec(&mut sizes.clone(), &mut Vec::new(), pooled.len(), &mut |labels| {
            total += 1;
            hits += usize::from(stat(labels) >= t - tol);
        });
        (hits as f64 / total as f64, total)
    }

    #[test]
    fn monte_carlo_p_matches_exact_enumeration() -> Result<(), FairnessError> {
        // 3 + 3: a = [1.0, 2.5, 3.1] (mean 2.2), b = [2.0, 4.2, 5.6] (mean
        // 3.9333), gap 1.7333 <=> |2 sum(a*) - 18.4| >= 5.2 <=> sum(a*) <= 6.6
        // or >= 11.8. 3-subsets of {1, 2, 2.5, 3.1, 4.2, 5.6} with sum <= 6.6:
        // {1,2,2.5} = 5.5, {1,2,3.1} = 6.1, {1,2.5,3.1} = 6.6 (the observed
        // one); their 3 complements have sum >= 11.8. p = 6/20 = 0.3
        // (scipy.stats.permutation_test, independent, greater, exact: 0.3).
        // 2 + 2 + 2: means 1.5, 3.0, 5.0, gap 3.5; only the 3! relabellings of
        // the observed partition reach it: p = 6/90 = 0.0666 (scipy: 0.06666666666666667).
        let m = 20_000;
        let cases: [(&[&[f64]], usize, f64); 2] = [
            (&[&[1.0, 2.5, 3.1], &[2.0, 4.2, 5.6]], 20, 0.3),
            (&[&[1.0, 2.0], &[2.5, 3.5], &[4.0, 6.0]], 90, 6.0 / 90.0),
        ];
        for (seed, (groups, n_assign, want)) in cases.into_iter().enumerate() {
            let (exact, total) = exact_p(groups);
            assert_eq!(total, n_assign);
            assert!(close(exact, want), "exact {exact} vs hand {want}");
            let named: Vec<(&str, &[f64])> = groups.iter().zip(["a", "b", "c"]).map(|(xs, name)| (name, *xs)).collect();
            let g = group_gap_samples(&named, m, seed as u64 + 100)?;
            // standard error of the estimate; (b+1)/(m+1) adds a bias < 1/(m+1)
            let se = (exact * (1.0 - exact) / m as f64).sqrt();
            assert!((g.p_value - exact).abs() <= 4.0 * se + 1.0 / (m + 1) as f64, "{g:?} vs exact {exact}, se {se}");
        }
        Ok(())
    }

    #[test]
    fn holm_corrects_across_attributes() -> Result<(), Box<dyn std::error::Error>> {
        // one gap test per attribute, then Holm over the family: with 2
        // p-values sorted p(1) <= p(2), adjusted = min(1, 2 p(1)) and
        // max(that, p(2)).
        let shifted = labelled(&[("F", &[0.1, 0.2, 0.15, 0.12, 0.18]), ("M", &[0.8, 0.9, 0.85, 0.82, 0.88])]);
        let mixed = labelled(&[("young", &[0.1, 0.9, 0.5, 0.3, 0.7]), ("old", &[0.2, 0.8, 0.4, 0.6, 0.55])]);
        let p = [group_gap(&shifted, 999, 1)?.p_value, group_gap(&mixed, 999, 2)?.p_value];
        // exact p of the separated pair: 2 of C(10, 5) = 252 labellings = 0.0079
        assert!(p[0] < 0.05, "{p:?}");
        let adj = holm(&p)?;
        assert!(close(adj[0], (2.0 * p[0]).min(1.0)), "{p:?} {adj:?}");
        assert!(close(adj[1], p[1].max(adj[0])), "{p:?} {adj:?}");
        Ok(())
    }

    #[test]
    fn hit_ratio_and_ndcg_by_hand() -> Result<(), FairnessError> {
        let ranked = [5, 3, 9, 1];
        // item 1 is at rank 4
        assert_eq!(hit_ratio_at(3, &ranked, &[1])?, 0.0);
        assert_eq!(hit_ratio_at(4, &ranked, &[1])?, 1.0);
        assert_eq!(hit_ratio_at(1, &ranked, &[5, 8])?, 1.0);
        // relevant {3, 1, 7}, k = 4: hits at ranks 2 and 4
        // DCG = D2 + D4 = 0.6309297535714574 + 0.43067655807339306 = 1.0616063116448504
        // IDCG = min(4, 3) = 3 hits: D1 + D2 + D3 = 2.1309297535714574
        // nDCG = 0.49818925746641285
        let got = ndcg_binary_at(4, &ranked, &[3, 1, 7])?;
        assert!(close(got, 0.49818925746641285) && close(got, (D2 + D4) / (D1 + D2 + D3)), "{got}");
        // k = 2: DCG = D2, IDCG = D1 + D2 = 1.6309297535714574, nDCG = 0.38685280723454163
        assert!(close(ndcg_binary_at(2, &ranked, &[3, 1, 7])?, 0.38685280723454163));
        // perfect: relevant = the top 2
        assert!(close(ndcg_binary_at(4, &ranked, &[3, 5])?, 1.0));
        // no hit at all
        assert_eq!(ndcg_binary_at(4, &ranked, &[42])?, 0.0);
        Ok(())
    }

    #[test]
    fn ranking_metrics_edge_cases() {
        // k beyond the list: ranked [4, 2], relevant {2, 7, 8}, k = 5. The
        // list is used whole: DCG = D2; the ideal keeps min(5, 3) = 3 hits:
        // IDCG = D1 + D2 + D3 = 2.1309297535714574; nDCG = 0.2960819109658652
        let got = ndcg_binary_at(5, &[4, 2], &[2, 7, 8]).expect("valid");
        assert!(close(got, 0.2960819109658652), "{got}");
        assert_eq!(hit_ratio_at(5, &[4, 2], &[2, 7, 8]), Ok(1.0));
        // more relevant items than k: the ideal has k hits, so a top-k full
        // of hits scores 1 (k = 2, both ranked items relevant)
        assert_eq!(ndcg_binary_at(2, &[7, 8], &[2, 7, 8]), Ok(1.0));
        // an empty list earns nothing
        assert_eq!(ndcg_binary_at(3, &[], &[1]), Ok(0.0));
        assert_eq!(hit_ratio_at(3, &[], &[1]), Ok(0.0));
        // no relevant items: undefined, not 0 and not NaN
        assert_eq!(hit_ratio_at(3, &[1, 2], &[]), Err(FairnessError::NoRelevantItems { what: "HR@k" }));
        assert_eq!(ndcg_binary_at(3, &[1, 2], &[]), Err(FairnessError::NoRelevantItems { what: "nDCG@k" }));
        assert_eq!(ndcg_binary_at(0, &[1, 2], &[1]), Err(FairnessError::ZeroK));
        assert_eq!(hit_ratio_at(0, &[1, 2], &[1]), Err(FairnessError::ZeroK));
        assert_eq!(
            ndcg_binary_at(3, &[1, 2, 1], &[1]),
            Err(FairnessError::DuplicateItem { list: "ranked list".into(), item: 1 })
        );
        assert!(matches!(hit_ratio_at(3, &[1], &[4, 4]), Err(FairnessError::DuplicateItem { item: 4, .. })));
    }

    #[test]
    fn arp_and_aplt_by_hand() -> Result<(), FairnessError> {
        let popularity = [10.0, 4.0, 2.0, 0.0, 1.0];
        let tail = [false, false, true, true, true];
        let lists = vec![vec![0, 1], vec![2, 3, 4], vec![1, 2]];
        // ARP: user means (10 + 4)/2 = 7, (2 + 0 + 1)/3 = 1, (4 + 2)/2 = 3;
        // (7 + 1 + 3) / 3 = 11/3 = 3.6666666666666665
        assert!(close(average_recommendation_popularity(&lists, &popularity)?, 11.0 / 3.0));
        // APLT: 0/2, 3/3, 1/2 -> (0 + 1 + 0.5) / 3 = 0.5
        assert!(close(long_tail_share(&lists, &tail)?, 0.5));
        // errors
        assert_eq!(
            average_recommendation_popularity(&[vec![0], vec![]], &popularity),
            Err(FairnessError::EmptyList { list: "recommendation list of user 1".into() })
        );
        assert_eq!(long_tail_share(&[], &tail), Err(FairnessError::EmptyInput { what: "recommendation list" }));
        assert_eq!(
            long_tail_share(&[vec![0], vec![5]], &tail),
            Err(FairnessError::ItemOutOfRange { list: "recommendation list of user 1".into(), item: 5, n_items: 5 })
        );
        assert!(matches!(
            average_recommendation_popularity(&[vec![1, 1]], &popularity),
            Err(FairnessError::DuplicateItem { item: 1, .. })
        ));
        assert!(matches!(
            average_recommendation_popularity(&[vec![1]], &[1.0, -2.0]),
            Err(FairnessError::Negative { index: 1, .. })
        ));
        assert!(matches!(
            average_recommendation_popularity(&[vec![1]], &[f64::NAN, 2.0]),
            Err(FairnessError::NonFinite { index: 0, .. })
        ));
        Ok(())
    }

    #[test]
    fn gini_and_coverage_by_hand() -> Result<(), FairnessError> {
        // exposures over 4 items: item 3 in 3 lists, item 2 in 1, items 0, 1
        // never: x = [0, 0, 1, 3] sorted, n = 4, sum 4; weights 2i - n - 1 =
        // -3, -1, 1, 3: (0 + 0 + 1 + 9) / (4 * 4) = 10/16 = 0.625
        let lists = vec![vec![3, 2], vec![3], vec![3]];
        assert_eq!(exposure_gini(&lists, 4)?, 0.625);
        // coverage: {2, 3} of 4 items = 0.5
        assert_eq!(catalogue_coverage(&lists, 4)?, 0.5);
        // equal exposure of every item: Gini 0, coverage 1
        let uniform = vec![vec![0, 1], vec![2, 3], vec![3, 0, 1, 2]];
        assert_eq!(exposure_gini(&uniform, 4)?, 0.0);
        assert_eq!(catalogue_coverage(&uniform, 4)?, 1.0);
        // one item gets everything: (n - 1)/n = 3/4
        assert_eq!(exposure_gini(&[vec![2], vec![2], vec![2]], 4)?, 0.75);
        // one item in the catalogue: 0
        assert_eq!(exposure_gini(&[vec![0]], 1)?, 0.0);
        // x = [0, 1, 2] (items 0, 1, 2): weights -2, 0, 2: (0 + 0 + 4) / (3 * 3) = 4/9
        assert!(close(exposure_gini(&[vec![1, 2], vec![2]], 3)?, 4.0 / 9.0));
        // errors
        assert!(matches!(exposure_gini(&[vec![], vec![]], 4), Err(FairnessError::Undefined { .. })));
        assert!(matches!(exposure_gini(&lists, 0), Err(FairnessError::InvalidParameter { name: "n_items", .. })));
        assert!(matches!(catalogue_coverage(&lists, 3), Err(FairnessError::ItemOutOfRange { item: 3, .. })));
        assert_eq!(catalogue_coverage(&[], 3), Err(FairnessError::EmptyInput { what: "recommendation list" }));
        assert_eq!(catalogue_coverage(&[vec![], vec![]], 3)?, 0.0);
        Ok(())
    }

    #[test]
    fn popularity_groups_by_hand() -> Result<(), FairnessError> {
        // total 20; order by popularity desc: 0 (10), 1 (4), 5 (3), 2 (2), 4 (1), 3 (0)
        let pop = [10.0, 4.0, 2.0, 0.0, 1.0, 3.0];
        // share 0.5 -> target 10: item 0 (before 0 < 10) head; item 1 (before 10) tail
        assert_eq!(popularity_groups(&pop, 0.5)?, vec![false, true, true, true, true, true]);
        // share 0.6 -> target 12: items 0 (0 < 12), 1 (10 < 12) head; 5 (14) tail
        assert_eq!(popularity_groups(&pop, 0.6)?, vec![false, false, true, true, true, true]);
        // share 0: no head; share 1: every item with popularity > 0 is head
        assert_eq!(popularity_groups(&pop, 0.0)?, vec![true; 6]);
        assert_eq!(popularity_groups(&pop, 1.0)?, vec![false, false, false, true, false, false]);
        // ties broken by item id: [5, 5, 5, 5], share 0.5 -> target 10: items 0, 1 head
        assert_eq!(popularity_groups(&[5.0; 4], 0.5)?, vec![false, false, true, true]);
        // feeds long_tail_share (head = {0}): lists [0, 1] and [1, 4] -> (1/2 + 2/2)/2 = 0.75;
        // [0, 1] and [0, 4] -> (1/2 + 1/2)/2 = 0.5
        let tail = popularity_groups(&pop, 0.5)?;
        assert_eq!(long_tail_share(&[vec![0, 1], vec![1, 4]], &tail)?, 0.75);
        assert_eq!(long_tail_share(&[vec![0, 1], vec![0, 4]], &tail)?, 0.5);
        // errors
        assert_eq!(popularity_groups(&[], 0.5), Err(FairnessError::EmptyInput { what: "popularity" }));
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(popularity_groups(&pop, bad), Err(FairnessError::InvalidParameter { .. })));
        }
        assert!(matches!(popularity_groups(&[1.0, -1.0], 0.5), Err(FairnessError::Negative { .. })));
        Ok(())
    }

    #[test]
    fn pop_rsp_and_reo_two_groups_by_hand() -> Result<(), FairnessError> {
        // items 0, 1 in group 0 (head), items 2, 3 in group 1 (tail)
        let item_group = [0, 0, 1, 1];
        // user 0 may get any item; user 1 rated item 1 in training
        let users = [
            UserRanking { candidates: &[0, 1, 2, 3], top_k: &[0, 2], relevant: &[0, 3] },
            UserRanking { candidates: &[0, 2, 3], top_k: &[0, 2], relevant: &[2] },
        ];
        // RSP: group 0 recommended 1 + 1 = 2 of 2 + 1 = 3 candidates: 2/3;
        // group 1 recommended 1 + 1 = 2 of 2 + 2 = 4 candidates: 1/2.
        // mean 7/12, population std |2/3 - 1/2| / 2 = 1/12, PopRSP = 1/7
        let rsp = pop_rsp(&users, &item_group)?;
        assert!(close(rsp.rates[0], 2.0 / 3.0) && close(rsp.rates[1], 0.5), "{rsp:?}");
        assert!(close(rsp.value, 1.0 / 7.0), "{rsp:?}");
        // REO: group 0 positives {u0: 0}, found (0 in u0's top-k): 1/1 = 1;
        // group 1 positives {u0: 3, u1: 2}, found only u1's 2: 1/2.
        // mean 3/4, std 1/4, PopREO = 1/3
        let reo = pop_reo(&users, &item_group)?;
        assert_eq!(reo.rates, vec![1.0, 0.5]);
        assert!(close(reo.value, 1.0 / 3.0), "{reo:?}");
        Ok(())
    }

    #[test]
    fn pop_rsp_three_groups_and_parity() -> Result<(), FairnessError> {
        // 15 items, groups of 5 (items 0-4 -> 0, 5-9 -> 1, 10-14 -> 2); one
        // user with all 15 as candidates gets 1, 2 and 3 items of the groups:
        // rates 0.2, 0.4, 0.6, mean 0.4, std sqrt(0.08/3) = 0.16329931618554522,
        // PopRSP = 1/sqrt(6) = 0.4082482904638631
        let item_group: Vec<usize> = (0..15).map(|i| i / 5).collect();
        let all: Vec<u32> = (0..15).collect();
        let users = [UserRanking { candidates: &all, top_k: &[0, 5, 6, 10, 11, 12], relevant: &[] }];
        let rsp = pop_rsp(&users, &item_group)?;
        assert!(close(rsp.value, 1.0 / 6f64.sqrt()), "{rsp:?}");
        // parity: one item of each group -> all rates 0.2 -> 0
        let users = [UserRanking { candidates: &all, top_k: &[0, 5, 10], relevant: &[] }];
        assert_eq!(pop_rsp(&users, &item_group)?.value, 0.0);
        // no relevant items anywhere: REO's rates are 0/0
        assert!(matches!(pop_reo(&users, &item_group), Err(FairnessError::Undefined { what: "PopREO", .. })));
        Ok(())
    }

    #[test]
    fn pop_rsp_reo_errors() {
        let g = [0, 0, 1, 1];
        let ok = UserRanking { candidates: &[0, 1, 2, 3], top_k: &[0], relevant: &[2] };
        assert_eq!(pop_rsp(&[], &g), Err(FairnessError::EmptyInput { what: "users" }));
        assert_eq!(pop_rsp(&[ok], &[]), Err(FairnessError::EmptyInput { what: "item_group" }));
        assert_eq!(pop_rsp(&[ok], &[0, 0, 0, 0]), Err(FairnessError::TooFewGroups { what: "PopRSP", got: 1 }));
        // group 1 has no item
        assert!(matches!(pop_rsp(&[ok], &[0, 2, 2, 0]), Err(FairnessError::Undefined { .. })));
        assert!(matches!(pop_rsp(&[ok], &[0, 9, 0, 0]), Err(FairnessError::Undefined { .. })));
        let out = UserRanking { candidates: &[0, 1, 2, 7], top_k: &[0], relevant: &[] };
        assert!(matches!(pop_rsp(&[ok, out], &g), Err(FairnessError::ItemOutOfRange { item: 7, n_items: 4, .. })));
        let dup = UserRanking { candidates: &[0, 1, 2], top_k: &[0, 0], relevant: &[] };
        assert_eq!(
            pop_rsp(&[dup], &g),
            Err(FairnessError::DuplicateItem { list: "top-k list of user 0".into(), item: 0 })
        );
        let stray = UserRanking { candidates: &[0, 1, 2], top_k: &[3], relevant: &[] };
        assert_eq!(
            pop_rsp(&[ok, stray], &g),
            Err(FairnessError::NotACandidate { list: "top-k list of user 1".into(), item: 3 })
        );
        let stray = UserRanking { candidates: &[0, 1, 2], top_k: &[0], relevant: &[3] };
        assert!(matches!(pop_reo(&[stray], &g), Err(FairnessError::NotACandidate { item: 3, .. })));
        // group 1 has no candidates: rate 0/0
        let head_only = UserRanking { candidates: &[0, 1], top_k: &[0], relevant: &[] };
        assert!(matches!(pop_rsp(&[head_only], &g), Err(FairnessError::Undefined { what: "PopRSP", .. })));
        // nothing recommended: all rates 0, std/mean = 0/0
        let none = UserRanking { candidates: &[0, 1, 2, 3], top_k: &[], relevant: &[0, 2] };
        assert!(matches!(pop_rsp(&[none], &g), Err(FairnessError::Undefined { .. })));
        assert!(matches!(pop_reo(&[none], &g), Err(FairnessError::Undefined { .. })));
    }
}
