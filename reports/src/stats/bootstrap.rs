//! Bootstrap confidence intervals of a mean: percentile and BCa (Efron 1987;
//! Efron & Tibshirani 1993, 14.3), seeded, following `scipy.stats.bootstrap`
//! (1.17.1) step for step so that only the random resamples differ.

use super::rng::Rng;
use super::{StatsError, check_finite, mean, norm_cdf, norm_ppf};

/// Which bootstrap interval [`bootstrap_mean_ci`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootstrapMethod {
    /// Quantiles alpha/2 and 1 - alpha/2 of the bootstrap means.
    Percentile,
    /// Bias-corrected and accelerated quantiles.
    Bca,
}

/// A bootstrap confidence interval of the mean.
#[derive(Clone, Debug, PartialEq)]
pub struct BootstrapCi {
    /// The sample mean.
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    pub level: f64,
    pub method: BootstrapMethod,
    pub resamples: usize,
}

/// Two-sided bootstrap confidence interval at `level` of the mean of `x`,
/// from `resamples` resamples with replacement drawn by `Rng::new(seed)`.
///
/// As in `scipy.stats.bootstrap(..., method=...)`:
/// - interval ends are quantiles of the bootstrap means with linear
///   interpolation (`numpy.quantile`'s default, type 7);
/// - BCa: z0 = Phi^-1((#{theta* < theta} + #{theta* <= theta}) / 2B) and the
///   jackknife acceleration a = sum U^3 / (6 (sum U^2)^(3/2)), U_i = (n-1)
///   (mean of the leave-one-out means - i-th leave-one-out mean), which for
///   the mean is U_i = x_i - mean(x); the levels are
///   Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for z = Phi^-1(alpha/2) and
///   Phi^-1(1 - alpha/2).
///
/// A constant sample gives the interval [x, x] (scipy: NaN for BCa).
/// Errors: n < 2, a non-finite value, `level` outside (0, 1), `resamples`
/// < 2, or a BCa interval whose z0 is infinite (the mean lies outside every
/// bootstrap mean; more resamples help).
pub fn bootstrap_mean_ci(
    x: &[f64],
    level: f64,
    method: BootstrapMethod,
    resamples: usize,
    seed: u64,
) -> Result<BootstrapCi, StatsError> {
    if x.len() < 2 {
        return Err(StatsError::TooFewObservations { what: "bootstrap interval", needed: 2, got: x.len() });
    }
    check_finite(x, "bootstrap interval")?;
    if !(level > 0.0 && level < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "level",
            value: level,
            reason: "a confidence level must lie in (0, 1)",
        });
    }
    if resamples < 2 {
        return Err(StatsError::InvalidParameter {
            name: "resamples",
            value: resamples as f64,
            reason: "a bootstrap needs at least 2 resamples",
        });
    }
    let estimate = mean(x);
    let ci = |low, high| BootstrapCi { estimate, low, high, level, method, resamples };
    if x.iter().all(|&v| v == x[0]) {
        return Ok(ci(x[0], x[0]));
    }

    let mut rng = Rng::new(seed);
    let n = x.len();
    let mut theta: Vec<f64> =
        (0..resamples).map(|_| (0..n).map(|_| x[rng.below(n as u64) as usize]).sum::<f64>() / n as f64).collect();
    let alpha = (1.0 - level) / 2.0;
    let (p_low, p_high) = match method {
        BootstrapMethod::Percentile => (alpha, 1.0 - alpha),
        BootstrapMethod::Bca => {
            let z0 = bias_correction(&theta, estimate);
            if !z0.is_finite() {
                return Err(StatsError::Degenerate {
                    what: "BCa interval",
                    reason: format!("the sample mean {estimate} lies outside all {resamples} bootstrap means"),
                });
            }
            bca_levels(z0, jackknife_acceleration(x), alpha)
        }
    };
    if !(p_low.is_finite() && p_high.is_finite()) {
        return Err(StatsError::Degenerate {
            what: "BCa interval",
            reason: "the adjusted quantile levels are not finite".into(),
        });
    }
    theta.sort_by(f64::total_cmp);
    Ok(ci(quantile_linear(&theta, p_low), quantile_linear(&theta, p_high)))
}

/// z0 = Phi^-1 of the "mean" percentile of `estimate` among the bootstrap
/// values (scipy's `_percentile_of_score`): (#{< estimate} + #{<= estimate}) / 2B.
pub(crate) fn bias_correction(theta: &[f64], estimate: f64) -> f64 {
    let below = theta.iter().filter(|&&t| t < estimate).count();
    let not_above = theta.iter().filter(|&&t| t <= estimate).count();
    norm_ppf((below + not_above) as f64 / (2 * theta.len()) as f64)
}

/// Jackknife acceleration of the mean: sum U^3 / (6 (sum U^2)^(3/2)) with
/// U_i = x_i - mean(x) (the jackknife influence values of the mean); 0 for a
/// constant sample.
pub(crate) fn jackknife_acceleration(x: &[f64]) -> f64 {
    let m = mean(x);
    let (s2, s3) = x.iter().fold((0.0, 0.0), |(s2, s3), v| {
        let u = v - m;
        (s2 + u * u, s3 + u * u * u)
    });
    if s2 == 0.0 { 0.0 } else { s3 / (6.0 * s2.powf(1.5)) }
}

/// BCa quantile levels for bias correction `z0`, acceleration `a` and
/// two-sided tail `alpha` (scipy's `_bca_interval`).
pub(crate) fn bca_levels(z0: f64, a: f64, alpha: f64) -> (f64, f64) {
    let z = norm_ppf(alpha);
    let level = |zz: f64| {
        let num = z0 + zz;
        norm_cdf(z0 + num / (1.0 - a * num))
    };
    (level(z), level(-z))
}

/// Quantile `p` of ascending `sorted` with linear interpolation between order
/// statistics (numpy's default, Hyndman & Fan type 7).
pub(crate) fn quantile_linear(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: [f64; 15] = [0.82, 1.10, 0.95, 1.40, 0.77, 2.60, 1.05, 0.91, 1.22, 0.88, 3.10, 1.01, 0.99, 1.35, 0.84];

    #[test]
    fn acceleration_by_hand_and_against_scipy() {
        // x = [1, 2, 3, 4, 10]: mean 4, U = x - 4 = [-3, -2, -1, 0, 6],
        // sum U^3 = -27 - 8 - 1 + 0 + 216 = 180, sum U^2 = 9 + 4 + 1 + 0 + 36 = 50,
        // a = 180 / (6 * 50^1.5) = 30 / 353.5533905932738 = 0.0848528137423857.
        // scipy: _bca_interval((x,), np.mean, axis=-1, alpha=0.05, theta_hat_b=tb,
        //        batch=None, xp=np)[2] = 0.0848528137423857 (the jackknife form)
        let a = jackknife_acceleration(&[1.0, 2.0, 3.0, 4.0, 10.0]);
        assert!((a - 0.0848528137423857).abs() < 1e-15, "{a}");
        assert_eq!(jackknife_acceleration(&[2.0, 2.0]), 0.0);
        // symmetric sample: no skew, no acceleration
        assert_eq!(jackknife_acceleration(&[1.0, 2.0, 3.0]), 0.0);
    }

    #[test]
    fn bca_internals_match_scipy_on_a_fixed_bootstrap_distribution() {
        // from scipy.stats._resampling import _bca_interval
        // xs = np.array([1., 2., 3., 4., 10.])
        // tb = np.array([2.2,3.0,3.4,3.8,4.0,4.0,4.6,5.2,6.0,7.4])
        // a1, a2, a = _bca_interval((xs,), np.mean, axis=-1, alpha=0.05,
        //                           theta_hat_b=tb, batch=None, xp=np)
        //   -> a1 = 0.07445420515803544, a2 = 0.9720404556531332
        // np.quantile(tb, [a1, a2]) = scipy.stats.quantile(tb, [a1, a2])
        //   -> [2.73607028..., 7.04770974...]
        let tb = [2.2, 3.0, 3.4, 3.8, 4.0, 4.0, 4.6, 5.2, 6.0, 7.4];
        // 4 values below 4.0 and 6 at or below: (4 + 6) / 20 = 0.5, so z0 = 0
        let z0 = bias_correction(&tb, 4.0);
        assert_eq!(z0, 0.0);
        // alpha = 0.05 per tail, i.e. a 90% interval
        let (a1, a2) = bca_levels(z0, jackknife_acceleration(&[1.0, 2.0, 3.0, 4.0, 10.0]), 0.05);
        assert!((a1 - 0.07445420515803544).abs() < 1e-10, "{a1}");
        assert!((a2 - 0.9720404556531332).abs() < 1e-10, "{a2}");
        // type 7: h = 9 * a1 = 0.670087846, 2.2 + 0.670087846 * 0.8 = 2.736070277
        let lo = quantile_linear(&tb, a1);
        let hi = quantile_linear(&tb, a2);
        assert!((lo - 2.736070277).abs() < 1e-8, "{lo}");
        assert!((hi - 7.047709740).abs() < 1e-8, "{hi}");
        // quantile ends and clamping
        assert_eq!(quantile_linear(&tb, 0.0), 2.2);
        assert_eq!(quantile_linear(&tb, 1.0), 7.4);
        assert_eq!(quantile_linear(&tb, 1.5), 7.4);
        // bias correction: all 10 below -> 20/20 -> +inf
        assert_eq!(bias_correction(&tb, 100.0), f64::INFINITY);
    }

    #[test]
    fn intervals_agree_with_scipy_up_to_monte_carlo_error() -> Result<(), StatsError> {
        // r = scipy.stats.bootstrap((X,), np.mean, method=m, n_resamples=9999,
        //                           rng=np.random.default_rng(seed)), seeds 0..19:
        //   BCa:        mean low 1.0219859622562315 (sd 0.0029), high 1.7583858390320681 (sd 0.0096)
        //   percentile: mean low 0.9823566666666668 (sd 0.0024), high 1.6330199999999997 (sd 0.0047)
        // Allow 4 seed-to-seed sd.
        let bca = bootstrap_mean_ci(&X, 0.95, BootstrapMethod::Bca, 9999, 11)?;
        assert!((bca.estimate - 1.266).abs() < 1e-12);
        assert!((bca.low - 1.0219859622562315).abs() < 0.012, "{bca:?}");
        assert!((bca.high - 1.7583858390320681).abs() < 0.039, "{bca:?}");
        let pct = bootstrap_mean_ci(&X, 0.95, BootstrapMethod::Percentile, 9999, 11)?;
        assert!((pct.low - 0.9823566666666668).abs() < 0.0095, "{pct:?}");
        assert!((pct.high - 1.6330199999999997).abs() < 0.019, "{pct:?}");
        // right-skewed data: BCa shifts both ends up relative to the percentile interval
        assert!(bca.low > pct.low && bca.high > pct.high);
        // seeded: same seed, same interval
        assert_eq!(bootstrap_mean_ci(&X, 0.95, BootstrapMethod::Bca, 9999, 11)?, bca);
        Ok(())
    }

    #[test]
    fn degenerate_inputs() {
        let ci = bootstrap_mean_ci(&[0.3; 4], 0.95, BootstrapMethod::Bca, 100, 0).expect("constant sample is defined");
        assert_eq!((ci.low, ci.high, ci.estimate), (0.3, 0.3, 0.3));
        assert!(matches!(
            bootstrap_mean_ci(&[1.0], 0.95, BootstrapMethod::Percentile, 100, 0),
            Err(StatsError::TooFewObservations { needed: 2, got: 1, .. })
        ));
        for level in [0.0, 1.0, f64::NAN] {
            assert!(matches!(
                bootstrap_mean_ci(&X, level, BootstrapMethod::Bca, 100, 0),
                Err(StatsError::InvalidParameter { name: "level", .. })
            ));
        }
        assert!(matches!(
            bootstrap_mean_ci(&X, 0.95, BootstrapMethod::Bca, 1, 0),
            Err(StatsError::InvalidParameter { name: "resamples", .. })
        ));
        // two values, 2 resamples that both repeat the larger one: mean 0.5 lies
        // below both bootstrap means, z0 = -inf -> an error, not NaN.
        let r = (0..200)
            .map(|seed| bootstrap_mean_ci(&[0.0, 1.0], 0.9, BootstrapMethod::Bca, 2, seed))
            .find(|r| r.is_err());
        assert!(matches!(r, Some(Err(StatsError::Degenerate { .. }))), "{r:?}");
    }
}
