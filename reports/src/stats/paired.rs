//! Paired two-sample tests on `a[i] - b[i]` (paired Student t, Wilcoxon
//! signed-rank, sign test, sign-flip permutation test) and effect sizes
//! (paired Cohen's d, Cliff's delta).
//!
//! All tests are two-sided. Degenerate input that makes scipy return NaN or a
//! meaningless p = 1 is an error instead:
//! - fewer observations than the test needs: [`StatsError::TooFewObservations`];
//! - every difference zero (identical samples): [`StatsError::AllDifferencesZero`]
//!   for all four tests (scipy: t-test NaN; Wilcoxon and permutation p = 1;
//!   `binomtest(0, 0)` raises);
//! - t-test and Cohen's d when all differences are equal but not zero (zero
//!   standard deviation): [`StatsError::ConstantDifferences`] (scipy: t = ±inf, p = 0).

use statrs::distribution::{ContinuousCDF, StudentsT};
use statrs::function::factorial::ln_binomial;

use super::rng::Rng;
use super::{StatsError, average_ranks_of, check_finite, differences, mean, norm_sf, sample_var};

/// Result of [`ttest_rel`].
#[derive(Clone, Debug, PartialEq)]
pub struct TTest {
    /// t = mean(d) / (sd(d) / sqrt(n)), d = a - b, sd with ddof = 1.
    pub statistic: f64,
    /// Degrees of freedom n - 1.
    pub df: f64,
    pub p_value: f64,
}

/// Paired Student t-test of `a` against `b`, two-sided; equals
/// `scipy.stats.ttest_rel(a, b)`.
///
/// Errors: lengths differ, a value is not finite, n < 2, all differences zero
/// ([`StatsError::AllDifferencesZero`]), or all differences equal and non-zero
/// ([`StatsError::ConstantDifferences`]; scipy gives t = ±inf, p = 0).
pub fn ttest_rel(a: &[f64], b: &[f64]) -> Result<TTest, StatsError> {
    let d = differences(a, b, "t-test")?;
    let n = d.len();
    if n < 2 {
        return Err(StatsError::TooFewObservations { what: "paired t-test", needed: 2, got: n });
    }
    let (m, var) = (mean(&d), sample_var(&d));
    if var == 0.0 {
        return Err(constant_error(&d));
    }
    let statistic = m / (var / n as f64).sqrt();
    let df = (n - 1) as f64;
    let p_value = match StudentsT::new(0.0, 1.0, df) {
        Ok(t) => (2.0 * t.sf(statistic.abs())).min(1.0),
        Err(_) => f64::NAN, // unreachable: df >= 1
    };
    Ok(TTest { statistic, df, p_value })
}

/// The error for differences with zero variance.
fn constant_error(d: &[f64]) -> StatsError {
    if d.iter().all(|&x| x == 0.0) {
        StatsError::AllDifferencesZero { n: d.len() }
    } else {
        StatsError::ConstantDifferences { n: d.len(), value: d[0] }
    }
}

/// How [`wilcoxon`] computed its p-value (the choice of scipy's
/// `method="auto"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WilcoxonMethod {
    /// Exact null distribution of the signed-rank sum.
    Exact,
    /// Exact enumeration of all sign flips of the tie-averaged ranks.
    Permutation,
    /// Normal approximation with tie correction, no continuity correction.
    Normal,
}

/// Result of [`wilcoxon`].
#[derive(Clone, Debug, PartialEq)]
pub struct Wilcoxon {
    /// min(R+, R-), as scipy reports for the two-sided test.
    pub statistic: f64,
    /// Sum of the ranks of the positive differences.
    pub r_plus: f64,
    pub p_value: f64,
    /// Differences left after dropping zeros (the ranked ones).
    pub n_nonzero: usize,
    /// Zero differences dropped.
    pub n_zero: usize,
    pub method: WilcoxonMethod,
    /// z of the normal approximation (two-sided, so `-|z|` as scipy); `None`
    /// for the exact and permutation methods.
    pub z: Option<f64>,
}

/// Wilcoxon signed-rank test of `a` against `b`, two-sided; equals
/// `scipy.stats.wilcoxon(a, b)` with its defaults (`zero_method="wilcox"`,
/// `correction=False`, `method="auto"`) as of scipy 1.17.1:
///
/// - zero differences are dropped; |d| are ranked with ties averaged (ties are
///   exact floating-point equality of |a - b|);
/// - if n (counted *with* the zeros) > 50: normal approximation;
/// - else if there are no ties and no zeros: exact distribution of R+;
/// - else if n (with zeros) <= 13: exact permutation distribution over all sign
///   flips of the tie-averaged ranks (what scipy's `PermutationMethod` gives,
///   since 2^13 < its 9999 resamples);
/// - else: normal approximation with the tie correction sum(t^3 - t)/48 to the
///   variance.
///
/// The p-value is `min(1, 2 * min(P(R+ <= r), P(R+ >= r)))`. (Older scipy
/// releases, without the permutation fallback, used the normal approximation
/// whenever zeros or ties were present; this follows 1.17.1.)
///
/// Errors: lengths differ, a value is not finite, n = 0, or every difference
/// is zero ([`StatsError::AllDifferencesZero`]; scipy returns p = 1).
pub fn wilcoxon(a: &[f64], b: &[f64]) -> Result<Wilcoxon, StatsError> {
    let d = differences(a, b, "Wilcoxon test")?;
    if d.is_empty() {
        return Err(StatsError::TooFewObservations { what: "Wilcoxon test", needed: 1, got: 0 });
    }
    let nonzero: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    let (m, n_zero) = (nonzero.len(), d.len() - nonzero.len());
    if m == 0 {
        return Err(StatsError::AllDifferencesZero { n: d.len() });
    }
    let abs: Vec<f64> = nonzero.iter().map(|x| x.abs()).collect();
    let (ranks, groups) = average_ranks_of(&abs);
    let r_plus: f64 = nonzero.iter().zip(&ranks).filter(|(x, _)| **x > 0.0).map(|(_, r)| r).sum();
    let total = (m * (m + 1)) as f64 / 2.0;
    let statistic = r_plus.min(total - r_plus);
    let has_ties = groups.iter().any(|&g| g > 1);

    let (method, p_value, z) = if d.len() > 50 || ((has_ties || n_zero > 0) && d.len() > 13) {
        let mf = m as f64;
        let tie: f64 = groups
            .iter()
            .map(|&t| {
                let t = t as f64; // in f64: t^3 overflows usize for huge tie groups
                t * t * t - t
            })
            .sum();
        let se = ((mf * (mf + 1.0) * (2.0 * mf + 1.0) - tie / 2.0) / 24.0).sqrt();
        let z = (r_plus - mf * (mf + 1.0) / 4.0) / se;
        let p = (2.0 * norm_sf(z.abs())).min(1.0);
        (WilcoxonMethod::Normal, p, Some(-z.abs()))
    } else if !has_ties && n_zero == 0 {
        (WilcoxonMethod::Exact, signed_rank_exact_p(m, r_plus), None)
    } else {
        (WilcoxonMethod::Permutation, signed_rank_permutation_p(&nonzero, &ranks), None)
    };
    Ok(Wilcoxon { statistic, r_plus, p_value, n_nonzero: m, n_zero, method, z })
}

/// Two-sided exact p of R+ = `r_plus` (an integer) for ranks 1..=m, m <= 50:
/// counts of each rank sum by dynamic programming (they fit in u64 since
/// 2^50 does).
fn signed_rank_exact_p(m: usize, r_plus: f64) -> f64 {
    let max = m * (m + 1) / 2;
    let mut counts = vec![0u64; max + 1];
    counts[0] = 1;
    for rank in 1..=m {
        for s in (rank..=max).rev() {
            counts[s] += counts[s - rank];
        }
    }
    let r = r_plus.round() as usize; // exact integer without ties
    let le: u128 = counts[..=r.min(max)].iter().map(|&c| u128::from(c)).sum();
    let ge: u128 = counts[r.min(max)..].iter().map(|&c| u128::from(c)).sum();
    let total = (1u128 << m) as f64;
    (2.0 * le.min(ge) as f64 / total).min(1.0)
}

/// Two-sided p of R+ over all 2^m sign flips of tie-averaged ranks (m <= 13).
/// Ranks are doubled into integers, so the comparisons are exact.
fn signed_rank_permutation_p(nonzero: &[f64], ranks: &[f64]) -> f64 {
    let doubled: Vec<u64> = ranks.iter().map(|r| (2.0 * r).round() as u64).collect();
    let observed: u64 = nonzero.iter().zip(&doubled).filter(|(x, _)| **x > 0.0).map(|(_, r)| r).sum();
    let m = doubled.len();
    let (mut le, mut ge) = (0u64, 0u64);
    for mask in 0u64..(1 << m) {
        let s: u64 = (0..m).filter(|i| mask >> i & 1 == 1).map(|i| doubled[i]).sum();
        le += u64::from(s <= observed);
        ge += u64::from(s >= observed);
    }
    (2.0 * le.min(ge) as f64 / (1u64 << m) as f64).min(1.0)
}

/// Result of [`sign_test`].
#[derive(Clone, Debug, PartialEq)]
pub struct SignTest {
    /// Pairs with a > b.
    pub positives: usize,
    /// Pairs with a < b.
    pub negatives: usize,
    /// positives + negatives (ties a == b are dropped).
    pub n: usize,
    pub p_value: f64,
}

/// Two-sided sign test: the number of pairs with `a > b` among the pairs with
/// `a != b` against Binomial(n, 1/2); equals `scipy.stats.binomtest(k, n, 0.5)`.
/// With p = 1/2 the binomial is symmetric, so scipy's two-sided rule (sum of
/// all outcomes no more likely than k) is `min(1, 2 P(X <= min(k, n - k)))`.
///
/// Errors: lengths differ, a value is not finite, no pairs, or every pair tied
/// ([`StatsError::AllDifferencesZero`]).
pub fn sign_test(a: &[f64], b: &[f64]) -> Result<SignTest, StatsError> {
    let d = differences(a, b, "sign test")?;
    let positives = d.iter().filter(|&&x| x > 0.0).count();
    let negatives = d.iter().filter(|&&x| x < 0.0).count();
    let n = positives + negatives;
    if d.is_empty() {
        return Err(StatsError::TooFewObservations { what: "sign test", needed: 1, got: 0 });
    }
    if n == 0 {
        return Err(StatsError::AllDifferencesZero { n: d.len() });
    }
    let p_value = (2.0 * binomial_half_cdf(positives.min(negatives) as u64, n as u64)).min(1.0);
    Ok(SignTest { positives, negatives, n, p_value })
}

/// P(X <= k) for X ~ Binomial(n, 1/2), k <= n/2, summing the pmf from the
/// smallest term up.
fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    (0..=k).map(|i| (ln_binomial(n, i) - ln_half_n).exp()).sum()
}

/// Default number of Monte Carlo sign-flip resamples of
/// [`permutation_test`] when there are more than [`PERMUTATION_EXACT_MAX`]
/// non-zero differences: p is then a multiple of 1/10000 and its Monte Carlo
/// standard error at most 0.005 (at p = 0.5; 0.0022 at p = 0.05).
pub const PERMUTATION_RESAMPLES: usize = 9_999;

/// Largest number of non-zero differences for which [`permutation_test`]
/// enumerates all 2^n sign flips (2^20 = 1048576).
pub const PERMUTATION_EXACT_MAX: usize = 20;

/// Relative tolerance (to sum |d|) under which a resampled |sum| counts as
/// equal to the observed one, so that sums equal in exact arithmetic but
/// rounded differently still count (scipy uses 100 eps relative to the
/// observed statistic, for the same reason).
const PERMUTATION_REL_TOL: f64 = 1e-12;

/// Result of [`permutation_test`].
#[derive(Clone, Debug, PartialEq)]
pub struct Permutation {
    /// mean(a - b) over all pairs (zeros included).
    pub statistic: f64,
    pub p_value: f64,
    /// True when all 2^n sign flips were enumerated.
    pub exact: bool,
    /// 2^n when exact, else the number of Monte Carlo resamples B.
    pub resamples: u64,
}

/// Paired permutation test of the mean difference, two-sided, with the
/// defaults [`PERMUTATION_RESAMPLES`] and [`PERMUTATION_EXACT_MAX`]; see
/// [`permutation_test_with`].
pub fn permutation_test(a: &[f64], b: &[f64], seed: u64) -> Result<Permutation, StatsError> {
    permutation_test_with(a, b, PERMUTATION_RESAMPLES, seed)
}

/// Paired permutation (sign-flip) test of H0: the differences d = a - b are
/// symmetric about 0. Statistic T = sum of d (equivalently the mean); under
/// H0 every sign pattern of the d is equally likely. Zero differences do not
/// change under a flip, so only the n non-zero differences are flipped.
///
/// p-value conventions (two-sided, counting |T*| >= |T|):
/// - n <= [`PERMUTATION_EXACT_MAX`]: exact, p = count / 2^n over all 2^n sign
///   patterns, the observed one included. This equals
///   `scipy.stats.permutation_test((d,), np.mean, permutation_type="samples")`
///   whenever scipy enumerates (2^n <= its n_resamples), because the null is
///   symmetric so scipy's `2 min(P(T* <= T), P(T* >= T))` is `P(|T*| >= |T|)`.
/// - otherwise Monte Carlo with `resamples` = B random sign patterns from
///   `Rng::new(seed)`: p = (count + 1) / (B + 1), the observed pattern counted
///   once (Phipson & Smyth 2010), so p is never 0. (scipy's Monte Carlo
///   two-sided p doubles the smaller one-sided p instead.)
///
/// Errors: lengths differ, a value is not finite, no pairs, all differences
/// zero, or `resamples == 0` when Monte Carlo is needed.
pub fn permutation_test_with(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Result<Permutation, StatsError> {
    let d = differences(a, b, "permutation test")?;
    if d.is_empty() {
        return Err(StatsError::TooFewObservations { what: "permutation test", needed: 1, got: 0 });
    }
    let statistic = mean(&d);
    let nz: Vec<f64> = d.iter().copied().filter(|&x| x != 0.0).collect();
    if nz.is_empty() {
        return Err(StatsError::AllDifferencesZero { n: d.len() });
    }
    let scale: f64 = nz.iter().map(|x| x.abs()).sum();
    let tol = PERMUTATION_REL_TOL * scale;
    if nz.len() <= PERMUTATION_EXACT_MAX {
        // Meet in the middle: every total is left[i] + right[j], each half
        // summed in index order, so equal patterns give bit-equal totals.
        let (l, r) = nz.split_at(nz.len() / 2);
        let (left, right) = (half_sums(l), half_sums(r));
        let observed = (left[0] + right[0]).abs(); // mask 0 = all signs kept
        let mut count = 0u64;
        for x in &left {
            count += right.iter().filter(|&&y| (x + y).abs() >= observed - tol).count() as u64;
        }
        let total = 1u64 << nz.len();
        return Ok(Permutation { statistic, p_value: count as f64 / total as f64, exact: true, resamples: total });
    }
    if resamples == 0 {
        return Err(StatsError::InvalidParameter {
            name: "resamples",
            value: 0.0,
            reason: "Monte Carlo needs at least one resample",
        });
    }
    let observed = nz.iter().sum::<f64>().abs();
    let mut rng = Rng::new(seed);
    let mut count = 0u64;
    for _ in 0..resamples {
        let mut sum = 0.0;
        for chunk in nz.chunks(64) {
            let bits = rng.next_u64();
            for (i, x) in chunk.iter().enumerate() {
                // flipping the sign bit is exactly negation, without a branch
                sum += f64::from_bits(x.to_bits() ^ ((bits >> i & 1) << 63));
            }
        }
        count += u64::from(sum.abs() >= observed - tol);
    }
    Ok(Permutation {
        statistic,
        p_value: (count + 1) as f64 / (resamples + 1) as f64,
        exact: false,
        resamples: resamples as u64,
    })
}

/// Sums of `xs` under all 2^len sign patterns; bit i of the index set flips
/// `xs[i]`, and each sum runs in index order.
fn half_sums(xs: &[f64]) -> Vec<f64> {
    (0u64..(1 << xs.len()))
        .map(|mask| xs.iter().enumerate().map(|(i, x)| if mask >> i & 1 == 1 { -x } else { *x }).sum())
        .collect()
}

/// Paired Cohen's d (often called d_z): mean(a - b) / sd(a - b), sd with
/// ddof = 1. Positive when `a` tends to exceed `b`.
///
/// Errors: lengths differ, a value is not finite, n < 2, all differences zero,
/// or all differences equal ([`StatsError::ConstantDifferences`]: d infinite).
pub fn cohens_d_paired(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    let d = differences(a, b, "Cohen's d")?;
    if d.len() < 2 {
        return Err(StatsError::TooFewObservations { what: "Cohen's d", needed: 2, got: d.len() });
    }
    let var = sample_var(&d);
    if var == 0.0 {
        return Err(constant_error(&d));
    }
    Ok(mean(&d) / var.sqrt())
}

/// Cliff's delta: (#{(i, j): a_i > b_j} - #{(i, j): a_i < b_j}) / (n_a n_b)
/// over all pairs of the two samples (not only matched ones), in [-1, 1];
/// positive when `a` tends to exceed `b`. Lengths may differ.
///
/// Errors: an empty sample or a non-finite value.
pub fn cliffs_delta(a: &[f64], b: &[f64]) -> Result<f64, StatsError> {
    for (xs, what) in [(a, "Cliff's delta (a)"), (b, "Cliff's delta (b)")] {
        if xs.is_empty() {
            return Err(StatsError::TooFewObservations { what, needed: 1, got: 0 });
        }
        check_finite(xs, what)?;
    }
    let mut sorted = b.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut dominance: i128 = 0;
    for &x in a {
        let below = sorted.partition_point(|&y| y < x) as i128;
        let not_above = sorted.partition_point(|&y| y <= x) as i128;
        let above = sorted.len() as i128 - not_above;
        dominance += below - above;
    }
    Ok(dominance as f64 / (a.len() as f64 * b.len() as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |got - want| <= 1e-9 (p-values must match scipy to 1e-6; most agree to
    /// the last few digits).
    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= 1e-9
    }

    fn zeros(n: usize) -> Vec<f64> {
        vec![0.0; n]
    }

    const A: [f64; 8] = [0.81, 0.93, 1.12, 0.77, 1.05, 0.98, 0.88, 1.20];
    const B: [f64; 8] = [0.90, 0.95, 1.10, 0.85, 1.15, 1.01, 0.87, 1.31];

    #[test]
    fn ttest_matches_scipy() -> Result<(), StatsError> {
        // scipy 1.17.1: r = scipy.stats.ttest_rel(A, B)
        //   r.statistic = -2.758386421836851, r.pvalue = 0.0281613969090088
        let r = ttest_rel(&A, &B)?;
        assert!(close(r.statistic, -2.758386421836851), "{r:?}");
        assert!(close(r.p_value, 0.0281613969090088), "{r:?}");
        assert_eq!(r.df, 7.0);
        // swapping the samples flips t, keeps p
        let s = ttest_rel(&B, &A)?;
        assert!(close(s.statistic, 2.758386421836851) && close(s.p_value, r.p_value));
        // n = 2, d = [1, 2]: mean 1.5, sd sqrt(0.5), t = 1.5 / 0.5 = 3, df 1;
        // Cauchy: p = 2 (1/2 - atan(3)/pi) = 0.20483276469913345
        let r = ttest_rel(&[1.0, 2.0], &[0.0, 0.0])?;
        assert!(close(r.statistic, 3.0) && close(r.p_value, 0.20483276469913345), "{r:?}");
        Ok(())
    }

    #[test]
    fn ttest_degenerate_inputs_are_errors() {
        // scipy: ttest_rel([1,2,3],[1,2,3]) -> nan, nan
        assert_eq!(ttest_rel(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), Err(StatsError::AllDifferencesZero { n: 3 }));
        // scipy: ttest_rel([1,2,3],[0,1,2]) -> inf, 0.0
        assert_eq!(
            ttest_rel(&[1.0, 2.0, 3.0], &[0.0, 1.0, 2.0]),
            Err(StatsError::ConstantDifferences { n: 3, value: 1.0 })
        );
        assert_eq!(
            ttest_rel(&[1.0], &[0.0]).unwrap_err().to_string(),
            "paired t-test needs at least 2 observations, got 1"
        );
        assert!(matches!(ttest_rel(&[1.0, 2.0], &[1.0]), Err(StatsError::LengthMismatch { a: 2, b: 1 })));
        assert!(matches!(ttest_rel(&[1.0, f64::INFINITY], &[1.0, 2.0]), Err(StatsError::NonFinite { index: 1, .. })));
    }

    #[test]
    fn wilcoxon_exact_without_ties() -> Result<(), StatsError> {
        // x = [1.83,0.50,1.62,2.48,1.68,1.88,1.55,3.06,1.30,0.8]
        // y = [0.878,0.647,0.598,2.05,1.06,1.29,1.06,3.15,1.29,0.9]
        // scipy.stats.wilcoxon(x, y) -> statistic 9.0, pvalue 0.064453125 (= 66/1024)
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30, 0.8];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.15, 1.29, 0.9];
        let r = wilcoxon(&x, &y)?;
        assert_eq!((r.statistic, r.method), (9.0, WilcoxonMethod::Exact));
        assert!(close(r.p_value, 0.064453125), "{r:?}");
        assert_eq!((r.n_nonzero, r.n_zero, r.z), (10, 0, None));
        Ok(())
    }

    #[test]
    fn wilcoxon_ties_and_zeros_small_n_use_permutation() -> Result<(), StatsError> {
        // scipy.stats.wilcoxon([1,2,2,-1,3,3,3,4,-2,5]) -> 5.5, 0.025390625
        let d = [1.0, 2.0, 2.0, -1.0, 3.0, 3.0, 3.0, 4.0, -2.0, 5.0];
        let r = wilcoxon(&d, &zeros(10))?;
        assert_eq!((r.statistic, r.method), (5.5, WilcoxonMethod::Permutation));
        assert!(close(r.p_value, 0.025390625), "{r:?}");
        // scipy.stats.wilcoxon([0,1.5,-0.5,2.5,0,3.5,4.5,-5.5,6.5,7.5,8.5]) -> 7.0, 0.07421875
        let d = [0.0, 1.5, -0.5, 2.5, 0.0, 3.5, 4.5, -5.5, 6.5, 7.5, 8.5];
        let r = wilcoxon(&d, &zeros(11))?;
        assert_eq!((r.statistic, r.method), (7.0, WilcoxonMethod::Permutation));
        assert_eq!((r.n_nonzero, r.n_zero), (9, 2));
        assert!(close(r.p_value, 0.07421875), "{r:?}");
        Ok(())
    }

    #[test]
    fn wilcoxon_ties_above_13_use_tie_corrected_normal() -> Result<(), StatsError> {
        // d = [1,2,2,-1,3,3,3,4,-2,5,5,6,-6,7,8,8,9,10,-3,11]
        // scipy.stats.wilcoxon(np.array(d, float)) -> 26.5, 0.0033331080120352773
        let d =
            [1.0, 2.0, 2.0, -1.0, 3.0, 3.0, 3.0, 4.0, -2.0, 5.0, 5.0, 6.0, -6.0, 7.0, 8.0, 8.0, 9.0, 10.0, -3.0, 11.0];
        let r = wilcoxon(&d, &zeros(20))?;
        assert_eq!((r.statistic, r.method), (26.5, WilcoxonMethod::Normal));
        assert!(close(r.p_value, 0.0033331080120352773), "{r:?}");
        assert!(r.z.is_some_and(|z| z < 0.0));
        Ok(())
    }

    #[test]
    fn wilcoxon_permutation_limit_is_13_counting_zeros() -> Result<(), StatsError> {
        // d13 = [1,2,2,3,4,-5,6,7,8,9,10,11,-12] (a tie), d13z = [0,1,2,3,4,-5,6,...,-12] (a zero)
        // scipy.stats.wilcoxon(d13)         -> 19.0, 0.065185546875      (permutation, n = 13)
        // scipy.stats.wilcoxon(d13 + [13.]) -> 19.0, 0.0354194374371645  (normal, n = 14)
        // scipy.stats.wilcoxon(d13z)         -> 17.0, 0.09228515625      (permutation)
        // scipy.stats.wilcoxon(d13z + [13.]) -> 17.0, 0.046399461870904636 (normal)
        let d13 = [1.0, 2.0, 2.0, 3.0, 4.0, -5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, -12.0];
        let mut d13z = d13;
        d13z[..3].copy_from_slice(&[0.0, 1.0, 2.0]);
        let cases = [
            (d13.to_vec(), 19.0, 0.065185546875, WilcoxonMethod::Permutation),
            ([&d13[..], &[13.0]].concat(), 19.0, 0.0354194374371645, WilcoxonMethod::Normal),
            (d13z.to_vec(), 17.0, 0.09228515625, WilcoxonMethod::Permutation),
            ([&d13z[..], &[13.0]].concat(), 17.0, 0.046399461870904636, WilcoxonMethod::Normal),
        ];
        for (d, stat, p, method) in cases {
            let r = wilcoxon(&d, &zeros(d.len()))?;
            assert_eq!((r.statistic, r.method), (stat, method), "{d:?}");
            assert!(close(r.p_value, p), "{r:?}");
        }
        Ok(())
    }

    /// d50 = [(i+1)*(1 if (i*7)%5 != 0 else -1) + 0.001*i for i in range(50)]
    fn d50() -> Vec<f64> {
        (0..50)
            .map(|i| {
                let sign = if (i * 7) % 5 != 0 { 1.0 } else { -1.0 };
                (i + 1) as f64 * sign + 0.001 * i as f64
            })
            .collect()
    }

    #[test]
    fn wilcoxon_exact_limit_is_50_counting_zeros() -> Result<(), StatsError> {
        // scipy.stats.wilcoxon(d50) -> 235.0, 5.121092026350027e-05 (exact, n = 50)
        let d = d50();
        let r = wilcoxon(&d, &zeros(50))?;
        assert_eq!((r.statistic, r.method), (235.0, WilcoxonMethod::Exact));
        assert!(close(r.p_value, 5.121092026350027e-05), "{r:?}");
        // scipy.stats.wilcoxon(d50 + [51.5]) -> 235.0, 6.0246353909228135e-05 (normal, n = 51)
        let mut d51 = d.clone();
        d51.push(51.5);
        let r = wilcoxon(&d51, &zeros(51))?;
        assert_eq!((r.statistic, r.method), (235.0, WilcoxonMethod::Normal));
        assert!(close(r.p_value, 6.0246353909228135e-05), "{r:?}");
        // 49 non-zero + 2 zeros: n = 51 with zeros, so normal although only 49 are ranked
        // scipy.stats.wilcoxon(d50[:49] + [0., 0.]) -> 235.0, 0.0001732697084248276
        let mut d49 = d[..49].to_vec();
        d49.extend([0.0, 0.0]);
        let r = wilcoxon(&d49, &zeros(51))?;
        assert_eq!((r.method, r.n_nonzero), (WilcoxonMethod::Normal, 49));
        assert!(close(r.p_value, 0.0001732697084248276), "{r:?}");
        // 48 non-zero + 2 zeros: n = 50 but zeros and n > 13, so normal too
        // scipy.stats.wilcoxon(d50[:48] + [0., 0.]) -> 235.0, 0.00029396558148186156
        let mut d48 = d[..48].to_vec();
        d48.extend([0.0, 0.0]);
        let r = wilcoxon(&d48, &zeros(50))?;
        assert_eq!(r.method, WilcoxonMethod::Normal);
        assert!(close(r.p_value, 0.00029396558148186156), "{r:?}");
        Ok(())
    }

    #[test]
    fn wilcoxon_tiny_and_degenerate() {
        // scipy.stats.wilcoxon([1.0], [0.0]) -> 0.0, 1.0; wilcoxon([-2.0, 0.0]) -> 0.0, 1.0
        let r = wilcoxon(&[1.0], &[0.0]).expect("n = 1 is defined");
        assert_eq!((r.statistic, r.p_value, r.method), (0.0, 1.0, WilcoxonMethod::Exact));
        let r = wilcoxon(&[-2.0, 0.0], &[0.0, 0.0]).expect("one non-zero difference");
        assert_eq!((r.statistic, r.p_value, r.method), (0.0, 1.0, WilcoxonMethod::Permutation));
        // scipy.stats.wilcoxon([0,0,0]) -> 0.0, 1.0; we refuse instead
        assert_eq!(wilcoxon(&[2.0; 3], &[2.0; 3]), Err(StatsError::AllDifferencesZero { n: 3 }));
        assert!(matches!(wilcoxon(&[], &[]), Err(StatsError::TooFewObservations { got: 0, .. })));
    }

    #[test]
    fn sign_test_matches_binomtest() -> Result<(), StatsError> {
        // scipy.stats.binomtest(k, n, 0.5).pvalue for (k, n):
        let cases = [
            (7, 10, 0.34375),
            (3, 15, 0.03515625),
            (10, 20, 1.0),
            (0, 5, 0.0625),
            (1, 1, 1.0),
            (60, 100, 0.05688793364098089),
            (520, 1000, 0.2174482932041415),
        ];
        for (k, n, want) in cases {
            // k positive differences, n - k negative, plus 3 ties that are dropped
            let mut a: Vec<f64> = (0..n).map(|i| if i < k { 1.0 } else { -1.0 }).collect();
            a.extend([0.0; 3]);
            let r = sign_test(&a, &zeros(n + 3))?;
            assert_eq!((r.positives, r.negatives, r.n), (k, n - k, n));
            assert!(close(r.p_value, want), "k={k} n={n}: {} vs {want}", r.p_value);
        }
        assert_eq!(sign_test(&[1.0, 2.0], &[1.0, 2.0]), Err(StatsError::AllDifferencesZero { n: 2 }));
        Ok(())
    }

    /// d20 = [((i*37)%11-4.5)/10+0.013*i for i in range(20)] (and d24 with 13,
    /// 5.0, 0.011 over 24), as in the reference script.
    fn formula(n: usize, modulus: usize, shift: f64, slope: f64) -> Vec<f64> {
        (0..n).map(|i| (((i * 37) % modulus) as f64 - shift) / 10.0 + slope * i as f64).collect()
    }

    #[test]
    fn permutation_exact_matches_scipy() -> Result<(), StatsError> {
        // def perm_exact(d):  # exact: n_resamples = 2**n enumerates every sign pattern
        //     return scipy.stats.permutation_test((np.asarray(d),), np.mean,
        //         permutation_type='samples', n_resamples=2**len(d), vectorized=True).pvalue
        // perm_exact(d10) = 0.029296875 (= 30/1024)
        let d10 = [0.12, -0.05, 0.31, 0.08, 0.22, -0.11, 0.17, 0.04, 0.26, 0.09];
        let r = permutation_test(&d10, &zeros(10), 1)?;
        assert!(r.exact && r.resamples == 1024);
        assert!(close(r.p_value, 0.029296875), "{r:?}");
        assert!(close(r.statistic, 0.113), "{r:?}");
        // sums equal in exact arithmetic but not in floating point (0.1 + 0.2 vs 0.3)
        // count as ties; one zero is skipped: perm_exact(d_tie) = 0.25
        let d_tie = [0.1, 0.2, -0.3, 0.1, 0.2, 0.3, -0.1, 0.0, 0.4];
        let r = permutation_test(&d_tie, &zeros(9), 1)?;
        assert!(r.exact && r.resamples == 256);
        assert!(close(r.p_value, 0.25), "{r:?}");
        // n = 20, the largest exact case: perm_exact(d20) = 0.04409027099609375
        let d20 = formula(20, 11, 4.5, 0.013);
        let r = permutation_test(&d20, &zeros(20), 1)?;
        assert!(r.exact && r.resamples == 1 << 20);
        assert!(close(r.p_value, 0.04409027099609375), "{r:?}");
        Ok(())
    }

    #[test]
    fn permutation_monte_carlo_above_20() -> Result<(), StatsError> {
        // exact p of d24 by brute force over all 2^24 patterns (meet in the middle):
        //   sl, sr = sign-flip sums of d[:12], d[12:]
        //   ((abs(sl[:,None] + sr[None,:]) >= abs(d.sum()) - 1e-12*abs(d).sum()).sum() / 2**24
        //   = 0.006054997444152832
        // Monte Carlo sd at B = 9999: sqrt(p(1-p)/B) = 0.00078; allow 4 sd.
        let d24 = formula(24, 13, 5.0, 0.011);
        let r = permutation_test(&d24, &zeros(24), 2024)?;
        assert!(!r.exact && r.resamples == PERMUTATION_RESAMPLES as u64);
        assert!((r.p_value - 0.006054997444152832).abs() < 0.0031, "{r:?}");
        // (count + 1) / (B + 1): a multiple of 1/10000, never 0
        let count = r.p_value * 10_000.0;
        assert!((count - count.round()).abs() < 1e-6 && count >= 1.0);
        // same seed, same p; B = 99 gives a multiple of 1/100
        assert_eq!(permutation_test(&d24, &zeros(24), 2024)?, r);
        let small = permutation_test_with(&d24, &zeros(24), 99, 5)?;
        assert!(((small.p_value * 100.0) - (small.p_value * 100.0).round()).abs() < 1e-9);
        assert!(matches!(permutation_test_with(&d24, &zeros(24), 0, 5), Err(StatsError::InvalidParameter { .. })));
        Ok(())
    }

    #[test]
    fn permutation_degenerate() {
        assert_eq!(permutation_test(&[0.5; 4], &[0.5; 4], 0), Err(StatsError::AllDifferencesZero { n: 4 }));
        // n = 1: both patterns have |sum| = |d|, p = 2/2 = 1
        let r = permutation_test(&[1.0], &[0.0], 0).expect("n = 1 is defined");
        assert_eq!((r.p_value, r.resamples), (1.0, 2));
    }

    #[test]
    fn effect_sizes() -> Result<(), StatsError> {
        // d = A - B; d.mean() / d.std(ddof=1) = -0.9752368720068669
        assert!(close(cohens_d_paired(&A, &B)?, -0.9752368720068669));
        assert_eq!(
            cohens_d_paired(&[1.0, 2.0], &[0.0, 1.0]),
            Err(StatsError::ConstantDifferences { n: 2, value: 1.0 })
        );
        assert!(matches!(cohens_d_paired(&[1.0], &[0.0]), Err(StatsError::TooFewObservations { .. })));
        // cliff(x, y) = np.sign(x[:,None] - y[None,:]).sum() / (len(x) * len(y))
        // cliff(A, B) = -0.15625; cliff([1,2,3], [2,2,5,0]) = 0.0
        assert!(close(cliffs_delta(&A, &B)?, -0.15625));
        assert_eq!(cliffs_delta(&[1.0, 2.0, 3.0], &[2.0, 2.0, 5.0, 0.0])?, 0.0);
        assert_eq!(cliffs_delta(&[3.0, 4.0], &[1.0])?, 1.0);
        assert_eq!(cliffs_delta(&[1.0], &[1.0])?, 0.0);
        assert!(matches!(cliffs_delta(&[], &[1.0]), Err(StatsError::TooFewObservations { .. })));
        Ok(())
    }
}
