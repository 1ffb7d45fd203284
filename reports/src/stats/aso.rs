//! Almost Stochastic Order (ASO) test of Dror, Shlomov & Reichart (2019),
//! "Deep Dominance - How to Properly Compare Deep Neural Models" (ACL), in
//! the form of del Barrio et al. (2018) as implemented by `deepsig.aso`
//! (deepsig 1.2.8).
//!
//! ASO compares two score *distributions* (here: one score per training seed)
//! rather than their means. The violation ratio eps_W2(F, G) is the share of
//! the squared Wasserstein-2 distance between the quantile functions of A and
//! B that lies where A's quantile is below B's (where "A better than B" is
//! violated, higher scores being better). [`aso`] returns eps_min, an upper
//! confidence bound of that ratio:
//!
//! - eps_min = 0: A stochastically dominates B;
//! - eps_min < 0.5: A is *almost* stochastically dominant over B (reject "A is
//!   not better than B"); the smaller, the stronger. Dror et al. use 0.5 as the
//!   cut; Ulmer et al. (2022, the deepsig paper) recommend the stricter
//!   threshold eps_min < 0.2 for claiming that A is better;
//! - eps_min >= 0.5: no evidence that A is better (test B against A to ask the
//!   reverse question).
//!
//! Differences from deepsig 1.2.8, deliberately:
//! - deepsig's numerator integral drops the first grid point t = dt
//!   (`diff[1:]`) while its denominator keeps it; here both integrals run over
//!   the same grid t = dt, 2dt, ... < 1. The two agree whenever A's quantile
//!   at t = dt is not below B's.
//! - Bonferroni: deepsig raises the confidence level to `level + (1 - level)
//!   / m` for m comparisons, which is Bonferroni's `1 - (1 - level) / m` only
//!   for m <= 2 (m = 3 at 0.95 gives 0.9667 instead of 0.9833); here it is
//!   `1 - (1 - level) / m`.
//! - fewer than 2 scores for either method is an error (deepsig accepts 1, for
//!   which the bootstrap spread is 0 and the bound meaningless).
//! - the bootstrap draws from the seeded [`Rng`], not numpy's global state, so
//!   eps_min agrees with deepsig's only up to Monte Carlo error.

use super::rng::Rng;
use super::{StatsError, check_finite, norm_ppf};

/// Settings of [`aso`]; the defaults are deepsig's.
#[derive(Clone, Debug, PartialEq)]
pub struct AsoOptions {
    /// Confidence level of the upper bound eps_min (default 0.95).
    pub confidence_level: f64,
    /// Number of comparisons for a Bonferroni correction of the confidence
    /// level to `1 - (1 - level) / num_comparisons` (default 1: none).
    pub num_comparisons: usize,
    /// Bootstrap iterations estimating the spread of the ratio (default 1000).
    pub bootstrap_iterations: usize,
    /// Step of the grid t = dt, 2dt, ... < 1 of the integrals (default 0.005).
    pub dt: f64,
    /// Seed of the bootstrap.
    pub seed: u64,
}

impl Default for AsoOptions {
    fn default() -> Self {
        AsoOptions { confidence_level: 0.95, num_comparisons: 1, bootstrap_iterations: 1000, dt: 0.005, seed: 0 }
    }
}

/// Result of [`aso`].
#[derive(Clone, Debug, PartialEq)]
pub struct Aso {
    /// Upper confidence bound of the violation ratio, in [0, 1]; see the
    /// module docs for how to read it.
    pub epsilon_min: f64,
    /// The violation ratio of the observed scores.
    pub violation_ratio: f64,
}

/// ASO test of "A is better than B" (higher scores better; negate scores of a
/// lower-is-better metric first) over per-seed `scores_a` and `scores_b`
/// (lengths may differ):
///
/// eps_min = clip(eps + sd(eps*) Phi^-1(level'), 0, 1), where eps is the
/// violation ratio of the scores, eps* are the ratios of
/// `bootstrap_iterations` resamples (with replacement, each sample resampled
/// to its own size), sd has ddof = 0 and level' is the Bonferroni-adjusted
/// confidence level. (deepsig writes this as eps - sigma / c * Phi^-1(1 -
/// level') with c = sqrt(n m / (n + m)) and sigma = sd(c (eps* - eps)).)
///
/// Errors: fewer than 2 scores for A or B ([`StatsError::TooFewSeeds`]), a
/// non-finite score, or invalid options.
pub fn aso(scores_a: &[f64], scores_b: &[f64], opts: &AsoOptions) -> Result<Aso, StatsError> {
    for (xs, which) in [(scores_a, "A"), (scores_b, "B")] {
        if xs.len() < 2 {
            return Err(StatsError::TooFewSeeds { which, got: xs.len() });
        }
        check_finite(xs, "ASO scores")?;
    }
    let level = opts.confidence_level;
    if !(level > 0.0 && level < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "confidence_level",
            value: level,
            reason: "a confidence level must lie in (0, 1)",
        });
    }
    if opts.num_comparisons == 0 {
        return Err(StatsError::InvalidParameter {
            name: "num_comparisons",
            value: 0.0,
            reason: "there is at least one comparison",
        });
    }
    if opts.bootstrap_iterations < 2 {
        return Err(StatsError::InvalidParameter {
            name: "bootstrap_iterations",
            value: opts.bootstrap_iterations as f64,
            reason: "the spread needs at least 2 bootstrap iterations",
        });
    }
    let level = 1.0 - (1.0 - level) / opts.num_comparisons as f64;
    let ratio = violation_ratio(scores_a, scores_b, opts.dt)?;

    let mut rng = Rng::new(opts.seed);
    let mut resample =
        |xs: &[f64]| -> Vec<f64> { (0..xs.len()).map(|_| xs[rng.below(xs.len() as u64) as usize]).collect() };
    let samples: Vec<f64> = (0..opts.bootstrap_iterations)
        .map(|_| {
            let (a, b) = (resample(scores_a), resample(scores_b));
            violation_ratio(&a, &b, opts.dt)
        })
        .collect::<Result<_, _>>()?;
    let m = samples.iter().sum::<f64>() / samples.len() as f64;
    let sd = (samples.iter().map(|s| (s - m) * (s - m)).sum::<f64>() / samples.len() as f64).sqrt();
    let epsilon_min = (ratio - sd * norm_ppf(1.0 - level)).clamp(0.0, 1.0);
    Ok(Aso { epsilon_min, violation_ratio: ratio })
}

/// Violation ratio eps_W2 of "A better than B" (Dror et al. 2019, eq. 4-5):
/// sum over t in {dt, 2dt, ... < 1} of (G^-1(t) - F^-1(t))^2 where F^-1(t) <
/// G^-1(t), divided by the same sum over all t; F^-1, G^-1 are the empirical
/// quantile functions of A and B (sorted[ceil(n t) - 1], as deepsig). 0.5 when
/// the two quantile functions coincide on the grid (deepsig's convention).
///
/// Errors: an empty sample, a non-finite score, or `dt` outside (0, 0.5].
pub fn violation_ratio(scores_a: &[f64], scores_b: &[f64], dt: f64) -> Result<f64, StatsError> {
    for xs in [scores_a, scores_b] {
        if xs.is_empty() {
            return Err(StatsError::TooFewObservations { what: "violation ratio", needed: 1, got: 0 });
        }
        check_finite(xs, "violation ratio scores")?;
    }
    if !(dt > 0.0 && dt <= 0.5) {
        return Err(StatsError::InvalidParameter {
            name: "dt",
            value: dt,
            reason: "the grid step must lie in (0, 0.5]",
        });
    }
    let sorted = |xs: &[f64]| {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let (fa, gb) = (sorted(scores_a), sorted(scores_b));
    let quantile = |v: &[f64], t: f64| {
        let i = (v.len() as f64 * t).ceil() as i64 - 1;
        v[i.clamp(0, v.len() as i64 - 1) as usize]
    };
    // numpy.arange(dt, 1, dt): ceil((1 - dt) / dt) points dt + i*dt
    let points = ((1.0 - dt) / dt).ceil() as usize;
    let (mut violation, mut total) = (0.0, 0.0);
    for i in 0..points {
        let t = dt + i as f64 * dt;
        let (f, g) = (quantile(&fa, t), quantile(&gb, t));
        let sq = (g - f) * (g - f) * dt;
        total += sq;
        if f < g {
            violation += sq;
        }
    }
    Ok(if total == 0.0 { 0.5 } else { violation / total })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference: deepsig 1.2.8 (numpy 2.4.6, scipy 1.17.1).
    //   from deepsig import aso
    //   from deepsig.aso import compute_violation_ratio, get_quantile_function
    //   def vr_fixed(a, b, dt=0.005):   # deepsig's ratio with both sums over one grid
    //       t = np.arange(dt, 1, dt)
    //       f = get_quantile_function(a)(t); g = get_quantile_function(b)(t)
    //       diff = g - f; w = np.sum(diff**2 * dt); diff[f >= g] = 0
    //       v = np.sum(diff**2 * dt)        # deepsig: np.sum(diff[1:]**2 * dt)
    //       return 0.5 if w == 0 else v / w
    //   # deepsig seeds bootstrap iteration i with seed + i, so nearby seeds share
    //   # most resamples; seeds 100003 apart give independent runs:
    //   eps = [aso(a, b, seed=s*100003, show_progress=False, **kw) for s in range(40)]
    const BETTER: ([f64; 5], [f64; 5]) = ([0.71, 0.74, 0.69, 0.73, 0.75], [0.66, 0.70, 0.68, 0.72, 0.65]);
    const OVERLAP: ([f64; 5], [f64; 5]) = ([0.70, 0.74, 0.66, 0.73, 0.69], [0.68, 0.71, 0.67, 0.75, 0.64]);

    #[test]
    fn violation_ratio_matches_deepsig() -> Result<(), StatsError> {
        // better: compute_violation_ratio = vr_fixed = 0.0
        assert_eq!(violation_ratio(&BETTER.0, &BETTER.1, 0.005)?, 0.0);
        // overlap: compute_violation_ratio = vr_fixed = 0.05743740795287217
        let r = violation_ratio(&OVERLAP.0, &OVERLAP.1, 0.005)?;
        assert!((r - 0.05743740795287217).abs() < 1e-14, "{r}");
        // violation at t = dt, where deepsig drops the point from the numerator only:
        // a = [0.60,0.74,0.78,0.80], b = [0.65,0.70,0.72,0.75,0.77,0.70]
        //   compute_violation_ratio = 0.46615700167816504, vr_fixed = 0.4708185716949466
        let a = [0.60, 0.74, 0.78, 0.80];
        let b = [0.65, 0.70, 0.72, 0.75, 0.77, 0.70];
        let r = violation_ratio(&a, &b, 0.005)?;
        assert!((r - 0.4708185716949466).abs() < 1e-14, "{r}");
        // a entirely below b: 1 (deepsig: 198/199 = 0.9949748743718593)
        assert_eq!(violation_ratio(&[0.5, 0.6], &[0.7, 0.8], 0.005)?, 1.0);
        // identical samples: W2 = 0 -> 0.5 (deepsig's convention)
        assert_eq!(violation_ratio(&[0.5, 0.6], &[0.6, 0.5], 0.005)?, 0.5);
        Ok(())
    }

    /// Mean eps_min over seeds 0..10 (each run has Monte Carlo sd ~0.013).
    fn mean_eps(a: &[f64], b: &[f64], opts: &AsoOptions) -> Result<f64, StatsError> {
        let mut sum = 0.0;
        for seed in 0..10 {
            let o = AsoOptions { seed, ..opts.clone() };
            sum += aso(a, b, &o)?.epsilon_min;
        }
        Ok(sum / 10.0)
    }

    #[test]
    fn epsilon_min_agrees_with_deepsig_up_to_monte_carlo_error() -> Result<(), StatsError> {
        // deepsig over 40 independent seeds, mean (sd of one run):
        //   better:  0.07157422033180445 (0.0124)
        //   overlap: 0.6133704736168459 (0.0120)
        //   overlap, kw = dict(confidence_level=1-0.05/3), i.e. Bonferroni over 3
        //     comparisons: 0.7766811701499385 (0.0155) (deepsig's own
        //     num_comparisons=3 uses level 0.9667 and gives about 0.677)
        //   overlap, kw = dict(num_comparisons=2) (deepsig's rule is Bonferroni
        //     for m = 2): 0.7198725138265671 (0.0142)
        // Our mean over 10 seeds has sd ~0.005, deepsig's over 40 ~0.002: allow
        // 0.02 (about 4 sd of the difference).
        let opts = AsoOptions::default();
        let r = aso(&BETTER.0, &BETTER.1, &opts)?;
        assert_eq!(r.violation_ratio, 0.0);
        let e = mean_eps(&BETTER.0, &BETTER.1, &opts)?;
        assert!((e - 0.07157422033180445).abs() < 0.02, "{e}");
        let e1 = mean_eps(&OVERLAP.0, &OVERLAP.1, &opts)?;
        assert!((e1 - 0.6133704736168459).abs() < 0.02, "{e1}");
        let bonferroni = |m| AsoOptions { num_comparisons: m, ..AsoOptions::default() };
        let e3 = mean_eps(&OVERLAP.0, &OVERLAP.1, &bonferroni(3))?;
        assert!((e3 - 0.7766811701499385).abs() < 0.02, "{e3}");
        let e2 = mean_eps(&OVERLAP.0, &OVERLAP.1, &bonferroni(2))?;
        assert!((e2 - 0.7198725138265671).abs() < 0.02, "{e2}");
        assert!(e1 < e2 && e2 < e3);
        // deterministic for a seed; B dominated by A gives eps_min = 1
        assert_eq!(aso(&OVERLAP.0, &OVERLAP.1, &opts)?, aso(&OVERLAP.0, &OVERLAP.1, &opts)?);
        assert_eq!(aso(&BETTER.1, &BETTER.0, &opts)?.epsilon_min, 1.0);
        Ok(())
    }

    #[test]
    fn too_few_seeds_and_bad_options_are_errors() {
        let opts = AsoOptions::default();
        assert_eq!(aso(&[0.7], &[0.6, 0.5], &opts), Err(StatsError::TooFewSeeds { which: "A", got: 1 }));
        assert_eq!(
            aso(&[0.7, 0.8], &[], &opts).unwrap_err().to_string(),
            "ASO needs at least 2 per-seed scores for each method; B has 0"
        );
        let bad = |o: AsoOptions| aso(&[0.7, 0.8], &[0.6, 0.5], &o);
        for (o, name) in [
            (AsoOptions { confidence_level: 1.0, ..AsoOptions::default() }, "confidence_level"),
            (AsoOptions { num_comparisons: 0, ..AsoOptions::default() }, "num_comparisons"),
            (AsoOptions { bootstrap_iterations: 1, ..AsoOptions::default() }, "bootstrap_iterations"),
            (AsoOptions { dt: 0.0, ..AsoOptions::default() }, "dt"),
        ] {
            assert!(matches!(bad(o), Err(StatsError::InvalidParameter { name: n, .. }) if n == name), "{name}");
        }
        assert!(matches!(aso(&[0.7, f64::NAN], &[0.6, 0.5], &opts), Err(StatsError::NonFinite { index: 1, .. })));
    }
}
