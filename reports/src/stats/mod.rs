//! Statistical tests, effect sizes, bootstrap intervals and multiple-comparison
//! corrections for comparing methods over paired per-user (or per-seed) scores.
//!
//! Every p-value here equals scipy's (1.17.1) or statsmodels' (0.15.0) on the
//! same data to 1e-6 or better; each function names the reference it follows.
//! Where scipy returns NaN (zero variance, all differences zero, too few
//! observations) these functions return a [`StatsError`] naming the problem
//! instead, so no NaN ever reaches a report.
//!
//! | what | function | reference |
//! |---|---|---|
//! | paired Student t | [`ttest_rel`] | `scipy.stats.ttest_rel` |
//! | Wilcoxon signed-rank | [`wilcoxon`] | `scipy.stats.wilcoxon(x, y)` |
//! | sign test | [`sign_test`] | `scipy.stats.binomtest(k, n, 0.5)` |
//! | paired permutation (mean) | [`permutation_test`] | exact: `scipy.stats.permutation_test` |
//! | bootstrap CI of the mean | [`bootstrap_mean_ci`] | `scipy.stats.bootstrap` (percentile, BCa) |
//! | Almost Stochastic Order | [`aso`] | `deepsig.aso` 1.2.8 (Dror et al. 2019) |
//! | Holm, Benjamini-Hochberg | [`holm`], [`benjamini_hochberg`] | statsmodels `multipletests` |
//! | effect sizes | [`cohens_d_paired`], [`cliffs_delta`] | by definition |
//! | Friedman, average ranks | [`friedman`], [`average_ranks`] | `scipy.stats.friedmanchisquare` |
//! | Nemenyi critical difference | [`nemenyi_cd`], [`studentized_range_ppf`] | Demsar 2006; `scipy.stats.studentized_range` |
//!
//! Random resampling (Monte Carlo permutation, bootstrap, ASO) draws from the
//! seeded [`rng::Rng`] only, so every result is a pure function of its inputs
//! and seed.

mod aso;
mod bootstrap;
mod multiple;
mod paired;
mod ranks;
pub mod rng;

pub use aso::{Aso, AsoOptions, aso, violation_ratio};
pub use bootstrap::{BootstrapCi, BootstrapMethod, bootstrap_mean_ci};
pub use multiple::{benjamini_hochberg, holm};
pub use paired::{
    PERMUTATION_EXACT_MAX, PERMUTATION_RESAMPLES, Permutation, SignTest, TTest, Wilcoxon, WilcoxonMethod, cliffs_delta,
    cohens_d_paired, permutation_test, permutation_test_with, sign_test, ttest_rel, wilcoxon,
};
pub use ranks::{Friedman, average_ranks, friedman, nemenyi_cd, studentized_range_cdf, studentized_range_ppf};

use statrs::function::erf::{erfc, erfc_inv};

/// What is wrong with the input of a statistic.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("paired samples differ in length: {a} and {b}")]
    LengthMismatch { a: usize, b: usize },
    #[error("{what} needs at least {needed} observations, got {got}")]
    TooFewObservations { what: &'static str, needed: usize, got: usize },
    #[error("{what}: value {value} at index {index} is not finite")]
    NonFinite { what: &'static str, index: usize, value: f64 },
    #[error("all {n} paired differences are zero: there is nothing to test")]
    AllDifferencesZero { n: usize },
    #[error(
        "all {n} paired differences equal {value}: their standard deviation is zero, \
         so the t statistic and Cohen's d are infinite"
    )]
    ConstantDifferences { n: usize, value: f64 },
    #[error("{name} = {value} is invalid: {reason}")]
    InvalidParameter { name: &'static str, value: f64, reason: &'static str },
    #[error("ASO needs at least 2 per-seed scores for each method; {which} has {got}")]
    TooFewSeeds { which: &'static str, got: usize },
    #[error("block {block} has {got} values, expected {expected} (one per method)")]
    RaggedBlocks { block: usize, got: usize, expected: usize },
    #[error("every block ties all {k} methods: the Friedman statistic is undefined")]
    AllBlocksTied { k: usize },
    #[error("{what} is undefined: {reason}")]
    Degenerate { what: &'static str, reason: String },
}

/// Fails on the first non-finite value of `xs`.
fn check_finite(xs: &[f64], what: &'static str) -> Result<(), StatsError> {
    match xs.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(StatsError::NonFinite { what, index, value: xs[index] }),
        None => Ok(()),
    }
}

/// `a[i] - b[i]`, after checking lengths and finiteness.
fn differences(a: &[f64], b: &[f64], what: &'static str) -> Result<Vec<f64>, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch { a: a.len(), b: b.len() });
    }
    check_finite(a, what)?;
    check_finite(b, what)?;
    Ok(a.iter().zip(b).map(|(x, y)| x - y).collect())
}

/// Arithmetic mean; NaN for empty input (callers check lengths first).
fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample variance (ddof = 1), two-pass; needs at least 2 values.
fn sample_var(xs: &[f64]) -> f64 {
    let m = mean(xs);
    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64
}

/// Average ranks (1-based; ties get the mean of the ranks they span, as
/// `scipy.stats.rankdata(method="average")`) and the sizes of the tie groups.
/// Ties are exact floating-point equality. NaN must be filtered out first.
fn average_ranks_of(xs: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        // -0.0 and 0.0 are equal (`==`) though `total_cmp` orders them
        let end = start + order[start..].iter().take_while(|&&i| xs[i] == xs[order[start]]).count();
        // ranks start+1 ..= end, mean (start + 1 + end) / 2
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        groups.push(end - start);
        start = end;
    }
    (ranks, groups)
}

/// Standard normal CDF.
fn norm_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Standard normal survival function, accurate in the upper tail.
fn norm_sf(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

/// Standard normal quantile; -inf at 0, +inf at 1, NaN outside [0, 1].
fn norm_ppf(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_ranks_with_ties_like_scipy() {
        // scipy.stats.rankdata([3, 2, 1, 2, 2, 2, 1]) -> [7, 4.5, 1.5, 4.5, 4.5, 4.5, 1.5]
        let (r, g) = average_ranks_of(&[3.0, 2.0, 1.0, 2.0, 2.0, 2.0, 1.0]);
        assert_eq!(r, vec![7.0, 4.5, 1.5, 4.5, 4.5, 4.5, 1.5]);
        assert_eq!(g, vec![2, 4, 1]);
        let (r, g) = average_ranks_of(&[0.0, -0.0]);
        assert_eq!((r, g), (vec![1.5, 1.5], vec![2]));
        assert_eq!(average_ranks_of(&[]), (vec![], vec![]));
    }

    #[test]
    fn normal_functions() {
        // scipy.stats.norm.ppf(0.975) = 1.959963984540054; norm.sf(5) = 2.866515718791933e-07.
        // statrs' erfc is accurate to about 3e-11 relative here, far below the
        // 1e-6 the p-values need.
        assert!((norm_ppf(0.975) - 1.959963984540054).abs() < 1e-12);
        assert!((norm_sf(5.0) / 2.866515718791933e-07 - 1.0).abs() < 1e-10);
        assert!((norm_cdf(-5.0) / 2.866515718791933e-07 - 1.0).abs() < 1e-10);
        assert!(norm_ppf(1.5).is_nan());
        assert_eq!(norm_ppf(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn input_checks_name_the_problem() {
        assert_eq!(
            differences(&[1.0], &[1.0, 2.0], "t").unwrap_err().to_string(),
            "paired samples differ in length: 1 and 2"
        );
        assert_eq!(
            differences(&[1.0, f64::NAN], &[1.0, 2.0], "t-test").unwrap_err().to_string(),
            "t-test: value NaN at index 1 is not finite"
        );
    }
}
