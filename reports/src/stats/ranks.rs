//! Rank-based comparison of k methods over N blocks (Demsar 2006): average
//! ranks, the Friedman test (`scipy.stats.friedmanchisquare`, with its tie
//! correction) and the Nemenyi critical difference, which needs quantiles of
//! the studentized range distribution with infinite degrees of freedom
//! (statrs has none, so it is integrated here).

use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::{StatsError, average_ranks_of, check_finite, norm_cdf, norm_sf};

/// Result of [`friedman`].
#[derive(Clone, Debug, PartialEq)]
pub struct Friedman {
    /// Tie-corrected chi-square statistic.
    pub statistic: f64,
    /// Degrees of freedom k - 1.
    pub df: f64,
    pub p_value: f64,
    /// Average rank of each method (column), rank 1 = smallest value.
    pub average_ranks: Vec<f64>,
    /// Number of blocks N.
    pub n_blocks: usize,
}

/// Checks that every block has the same number k >= `min_k` of finite values.
fn check_blocks(blocks: &[Vec<f64>], min_k: usize, what: &'static str) -> Result<usize, StatsError> {
    let Some(first) = blocks.first() else {
        return Err(StatsError::TooFewObservations { what, needed: 1, got: 0 });
    };
    let k = first.len();
    if k < min_k {
        return Err(StatsError::TooFewObservations { what, needed: min_k, got: k });
    }
    for (block, values) in blocks.iter().enumerate() {
        if values.len() != k {
            return Err(StatsError::RaggedBlocks { block, got: values.len(), expected: k });
        }
        check_finite(values, what)?;
    }
    Ok(k)
}

/// Average over blocks of each column's within-block rank (rank 1 = smallest
/// value; ties get average ranks). `blocks[i][j]` is method j on block i.
/// To rank the best method first, pass values where smaller is better.
///
/// Errors: no blocks, fewer than 2 methods, blocks of different lengths, or a
/// non-finite value.
pub fn average_ranks(blocks: &[Vec<f64>]) -> Result<Vec<f64>, StatsError> {
    let k = check_blocks(blocks, 2, "average ranks")?;
    Ok(rank_sums(blocks, k).0.iter().map(|s| s / blocks.len() as f64).collect())
}

/// Per-column rank sums and the tie term sum of t(t^2 - 1) over all blocks.
fn rank_sums(blocks: &[Vec<f64>], k: usize) -> (Vec<f64>, f64) {
    let mut sums = vec![0.0; k];
    let mut ties = 0.0;
    for values in blocks {
        let (ranks, groups) = average_ranks_of(values);
        for (s, r) in sums.iter_mut().zip(&ranks) {
            *s += r;
        }
        ties += groups
            .iter()
            .map(|&t| {
                let t = t as f64;
                t * (t * t - 1.0)
            })
            .sum::<f64>();
    }
    (sums, ties)
}

/// Friedman test of k >= 3 methods over N blocks, equal to
/// `scipy.stats.friedmanchisquare(*columns)`: ranks within each block (ties
/// averaged), R_j the rank sums, c = 1 - sum t(t^2-1) / (k(k^2-1)N),
/// statistic = (12 / (N k (k+1)) sum R_j^2 - 3 N (k+1)) / c, p from
/// chi-square with k - 1 degrees of freedom.
///
/// Errors: no blocks, fewer than 3 methods (as scipy), ragged blocks, a
/// non-finite value, or every block entirely tied ([`StatsError::AllBlocksTied`];
/// scipy: NaN).
pub fn friedman(blocks: &[Vec<f64>]) -> Result<Friedman, StatsError> {
    let k = check_blocks(blocks, 3, "Friedman test")?;
    let n = blocks.len() as f64;
    let kf = k as f64;
    let (sums, ties) = rank_sums(blocks, k);
    let c = 1.0 - ties / (kf * (kf * kf - 1.0) * n);
    if c <= 0.0 {
        return Err(StatsError::AllBlocksTied { k });
    }
    let ssbn: f64 = sums.iter().map(|r| r * r).sum();
    let statistic = (12.0 / (kf * n * (kf + 1.0)) * ssbn - 3.0 * n * (kf + 1.0)) / c;
    let df = kf - 1.0;
    let p_value = match ChiSquared::new(df) {
        Ok(chi2) => chi2.sf(statistic).min(1.0),
        Err(_) => f64::NAN, // unreachable: df >= 2
    };
    Ok(Friedman { statistic, df, p_value, average_ranks: sums.iter().map(|s| s / n).collect(), n_blocks: blocks.len() })
}

/// Nemenyi critical difference of average ranks (Demsar 2006, eq. 5):
/// CD = q_alpha sqrt(k (k+1) / (6 N)) with q_alpha = Q_{1-alpha}(k, inf) /
/// sqrt(2), Q the studentized range quantile. Two methods whose average ranks
/// over `n_blocks` blocks differ by more than CD differ significantly.
///
/// Errors: k < 2, no blocks, or `alpha` outside (0, 1).
pub fn nemenyi_cd(k: usize, n_blocks: usize, alpha: f64) -> Result<f64, StatsError> {
    if n_blocks == 0 {
        return Err(StatsError::TooFewObservations { what: "Nemenyi critical difference", needed: 1, got: 0 });
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(StatsError::InvalidParameter {
            name: "alpha",
            value: alpha,
            reason: "a significance level must lie in (0, 1)",
        });
    }
    let q = studentized_range_ppf(1.0 - alpha, k)? / std::f64::consts::SQRT_2;
    let kf = k as f64;
    Ok(q * (kf * (kf + 1.0) / (6.0 * n_blocks as f64)).sqrt())
}

/// CDF of the studentized range of `k` standard normals (infinite degrees of
/// freedom): P(Q <= q) = k * integral of phi(z) (Phi(z) - Phi(z - q))^(k-1) dz
/// (the df = inf case of Copenhaver & Holland 1988, as
/// `scipy.stats.studentized_range.cdf(q, k, np.inf)`), integrated by 20-point
/// Gauss-Legendre on 36 panels over z in [-9, 9], where phi > 1e-18.
/// 0 for q <= 0; NaN for k < 2 or NaN q.
pub fn studentized_range_cdf(q: f64, k: usize) -> f64 {
    if k < 2 || q.is_nan() {
        return f64::NAN;
    }
    if q <= 0.0 {
        return 0.0;
    }
    let (nodes, weights) = gauss_legendre_20();
    let (lo, panels, width) = (-9.0, 36, 0.5);
    let mut total = 0.0;
    for p in 0..panels {
        let mid = lo + (p as f64 + 0.5) * width;
        for (x, w) in nodes.iter().zip(&weights) {
            let z = mid + 0.5 * width * x;
            // Phi(z) - Phi(z - q) without cancellation in the upper tail
            let inner = if z > 0.0 { norm_sf(z - q) - norm_sf(z) } else { norm_cdf(z) - norm_cdf(z - q) };
            let phi = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            total += w * 0.5 * width * phi * inner.powi(k as i32 - 1);
        }
    }
    (k as f64 * total).clamp(0.0, 1.0)
}

/// Quantile `p` of the studentized range of `k` normals with infinite degrees
/// of freedom (`scipy.stats.studentized_range.ppf(p, k, np.inf)`), by
/// bisection of [`studentized_range_cdf`] to 1e-12.
///
/// Errors: k < 2 or p outside (0, 1).
pub fn studentized_range_ppf(p: f64, k: usize) -> Result<f64, StatsError> {
    if k < 2 {
        return Err(StatsError::TooFewObservations { what: "studentized range", needed: 2, got: k });
    }
    if !(p > 0.0 && p < 1.0) {
        return Err(StatsError::InvalidParameter { name: "p", value: p, reason: "a probability must lie in (0, 1)" });
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while studentized_range_cdf(hi, k) < p {
        lo = hi;
        hi *= 2.0;
        if hi > 1e3 {
            return Err(StatsError::InvalidParameter {
                name: "p",
                value: p,
                reason: "quantile beyond 1000 (p too close to 1)",
            });
        }
    }
    while hi - lo > 1e-12 {
        let mid = 0.5 * (lo + hi);
        if studentized_range_cdf(mid, k) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// Nodes and weights of 20-point Gauss-Legendre quadrature on [-1, 1], by
/// Newton's method on the Legendre polynomial P_20.
fn gauss_legendre_20() -> ([f64; 20], [f64; 20]) {
    const N: usize = 20;
    let (mut nodes, mut weights) = ([0.0; N], [0.0; N]);
    for i in 0..N / 2 {
        let mut z = (std::f64::consts::PI * (i as f64 + 0.75) / (N as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (1.0, 0.0);
            for j in 1..=N {
                let p3 = p2;
                p2 = p1;
                p1 = ((2 * j - 1) as f64 * z * p2 - (j - 1) as f64 * p3) / j as f64;
            }
            dp = N as f64 * (z * p1 - p2) / (z * z - 1.0);
            let step = p1 / dp;
            z -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        let w = 2.0 / ((1.0 - z * z) * dp * dp);
        nodes[i] = -z;
        nodes[N - 1 - i] = z;
        weights[i] = w;
        weights[N - 1 - i] = w;
    }
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks() -> Vec<Vec<f64>> {
        vec![
            vec![0.81, 0.79, 0.85, 0.90],
            vec![0.70, 0.70, 0.75, 0.72],
            vec![0.66, 0.61, 0.69, 0.69],
            vec![0.91, 0.88, 0.93, 0.95],
            vec![0.50, 0.52, 0.52, 0.52],
            vec![0.77, 0.74, 0.80, 0.79],
        ]
    }

    #[test]
    fn friedman_matches_scipy_with_ties() -> Result<(), StatsError> {
        // r = scipy.stats.friedmanchisquare(*np.array(blocks).T)
        //   -> statistic 13.666666666666679, pvalue 0.003395845171290931
        // np.array([scipy.stats.rankdata(b) for b in blocks]).mean(0)
        //   -> [1.75, 1.41666667, 3.41666667, 3.41666667]
        let r = friedman(&blocks())?;
        assert!((r.statistic - 13.666666666666679).abs() < 1e-9, "{r:?}");
        assert!((r.p_value - 0.003395845171290931).abs() < 1e-9, "{r:?}");
        assert_eq!((r.df, r.n_blocks), (3.0, 6));
        let want = [1.75, 8.5 / 6.0, 20.5 / 6.0, 20.5 / 6.0];
        for (g, w) in r.average_ranks.iter().zip(want) {
            assert!((g - w).abs() < 1e-12);
        }
        assert_eq!(average_ranks(&blocks())?, r.average_ranks);
        // friedmanchisquare([1,1,2],[2,3,1],[3,2,3]) -> 2.6666666666666643, 0.26359713811572705
        let b3 = vec![vec![1.0, 2.0, 3.0], vec![1.0, 3.0, 2.0], vec![2.0, 1.0, 3.0]];
        let r = friedman(&b3)?;
        assert!((r.statistic - 2.6666666666666643).abs() < 1e-9, "{r:?}");
        assert!((r.p_value - 0.26359713811572705).abs() < 1e-9, "{r:?}");
        Ok(())
    }

    #[test]
    fn friedman_errors() {
        assert!(matches!(
            friedman(&[vec![1.0, 2.0], vec![2.0, 1.0]]),
            Err(StatsError::TooFewObservations { needed: 3, got: 2, .. })
        ));
        assert!(matches!(friedman(&[]), Err(StatsError::TooFewObservations { .. })));
        assert_eq!(
            friedman(&[vec![1.0, 2.0, 3.0], vec![1.0, 2.0]]),
            Err(StatsError::RaggedBlocks { block: 1, got: 2, expected: 3 })
        );
        assert_eq!(friedman(&[vec![0.5; 3], vec![0.2; 3]]), Err(StatsError::AllBlocksTied { k: 3 }));
        // average ranks allow k = 2 and a single block
        assert_eq!(average_ranks(&[vec![0.2, 0.1]]), Ok(vec![2.0, 1.0]));
    }

    #[test]
    fn studentized_range_matches_scipy_and_demsar() -> Result<(), StatsError> {
        // q = scipy.stats.studentized_range.ppf(0.95, k, np.inf); q / np.sqrt(2):
        let scipy = [
            (2, 2.771807648699355),
            (3, 3.314493155398122),
            (4, 3.6331595749026278),
            (5, 3.857655510378623),
            (6, 4.030092053180576),
            (7, 4.169554155006547),
            (8, 4.286309409349043),
            (9, 4.38650911549537),
            (10, 4.474124221725907),
        ];
        // Demsar (2006), Table 5(a), q_0.05 for k = 2..10
        let demsar = [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164];
        for ((k, want), table) in scipy.into_iter().zip(demsar) {
            let q = studentized_range_ppf(0.95, k)?;
            assert!((q - want).abs() < 1e-8, "k={k}: {q} vs {want}");
            assert!((q / std::f64::consts::SQRT_2 - table).abs() < 1e-3, "k={k}");
        }
        // k = 2 in closed form: |Z1 - Z2| / sqrt(2) is half-normal, q = sqrt(2) * 1.959963984540054
        let q2 = studentized_range_ppf(0.95, 2)?;
        assert!((q2 - std::f64::consts::SQRT_2 * 1.959963984540054).abs() < 1e-9);
        // studentized_range.cdf(3, 4, np.inf) = 0.8537285189523403,
        // cdf(1, 2, np.inf) = 0.5204998778130465, cdf(5, 10, np.inf) = 0.9851425621122164
        assert!((studentized_range_cdf(3.0, 4) - 0.8537285189523403).abs() < 1e-10);
        assert!((studentized_range_cdf(1.0, 2) - 0.5204998778130465).abs() < 1e-10);
        assert!((studentized_range_cdf(5.0, 10) - 0.9851425621122164).abs() < 1e-10);
        // ppf(0.90, 5, np.inf) = 3.478280550703068
        assert!((studentized_range_ppf(0.90, 5)? - 3.478280550703068).abs() < 1e-8);
        assert_eq!(studentized_range_cdf(0.0, 3), 0.0);
        assert!(studentized_range_cdf(1.0, 1).is_nan());
        assert!(studentized_range_ppf(1.0, 3).is_err());
        assert!(studentized_range_ppf(0.5, 1).is_err());
        Ok(())
    }

    #[test]
    fn nemenyi_critical_difference() -> Result<(), StatsError> {
        // Demsar (2006), section 3.2.4 example: k = 4, N = 14, q_0.05 = 2.569,
        // CD = 2.569 sqrt(4*5 / (6*14)) = 1.25; with scipy's q:
        // 2.569031772546482 * sqrt(20/84) = 1.2535...
        let cd = nemenyi_cd(4, 14, 0.05)?;
        assert!((cd - 2.569031772546482 * (20.0f64 / 84.0).sqrt()).abs() < 1e-8, "{cd}");
        assert!((cd - 1.25).abs() < 0.005);
        assert!(nemenyi_cd(4, 0, 0.05).is_err());
        assert!(nemenyi_cd(1, 5, 0.05).is_err());
        assert!(nemenyi_cd(4, 5, 0.0).is_err());
        Ok(())
    }
}
