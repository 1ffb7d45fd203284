//! The little dense linear algebra the linear policies need (dimensions are tens): row-major
//! square matrices, Sherman-Morrison, Cholesky.

/// `A x` for a row-major `d x d` matrix.
pub fn mat_vec(a: &[f64], x: &[f64]) -> Vec<f64> {
    let d = x.len();
    (0..d).map(|r| a[r * d..(r + 1) * d].iter().zip(x).map(|(p, q)| p * q).sum()).collect()
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

/// `A <- A - (A x)(A x)' / (s + x' A x)` for symmetric `A`: the inverse of `A^-1 + x x' / s`
/// (Sherman-Morrison), i.e. one observation with noise variance `s` added to a covariance.
pub fn sherman_morrison(a: &mut [f64], x: &[f64], s: f64) {
    let d = x.len();
    let ax = mat_vec(a, x);
    let denom = s + dot(x, &ax);
    for r in 0..d {
        for c in 0..d {
            a[r * d + c] -= ax[r] * ax[c] / denom;
        }
    }
}

/// Lower Cholesky factor `L` of a symmetric positive definite `A` (`A = L L'`); a tiny jitter
/// is added to the diagonal when rounding makes a pivot non-positive.
pub fn cholesky(a: &[f64], d: usize) -> Vec<f64> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                l[i * d + i] = (a[i * d + i] - s).max(1e-12).sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    l
}

/// Inverse of a symmetric positive definite matrix through its Cholesky factor.
pub fn spd_inverse(a: &[f64], d: usize) -> Vec<f64> {
    let l = cholesky(a, d);
    let mut inv = vec![0.0; d * d];
    for c in 0..d {
        // Solve L y = e_c, then L' x = y.
        let mut y = vec![0.0; d];
        for i in 0..d {
            let s: f64 = (0..i).map(|k| l[i * d + k] * y[k]).sum();
            y[i] = (if i == c { 1.0 } else { 0.0 } - s) / l[i * d + i];
        }
        let mut x = vec![0.0; d];
        for i in (0..d).rev() {
            let s: f64 = (i + 1..d).map(|k| l[k * d + i] * x[k]).sum();
            x[i] = (y[i] - s) / l[i * d + i];
        }
        for r in 0..d {
            inv[r * d + c] = x[r];
        }
    }
    inv
}

/// A draw from `N(mean, cov)`.
pub fn sample_normal(mean: &[f64], cov: &[f64], rng: &mut metarec_suites::Rng) -> Vec<f64> {
    let d = mean.len();
    let l = cholesky(cov, d);
    let z: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    (0..d).map(|r| mean[r] + (0..=r).map(|k| l[r * d + k] * z[k]).sum::<f64>()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sherman_morrison_equals_the_direct_inverse() {
        // A = [[2, 1], [1, 3]]; add x = (1, 2) with s = 0.5: inverse of A + x x' / s.
        let a = [2.0, 1.0, 1.0, 3.0];
        let mut inv = spd_inverse(&a, 2);
        // inverse by hand: det 5, [[3, -1], [-1, 2]] / 5
        for (g, w) in inv.iter().zip([0.6, -0.2, -0.2, 0.4]) {
            assert!((g - w).abs() < 1e-12);
        }
        sherman_morrison(&mut inv, &[1.0, 2.0], 0.5);
        let direct = spd_inverse(&[2.0 + 2.0, 1.0 + 4.0, 1.0 + 4.0, 3.0 + 8.0], 2);
        for (g, w) in inv.iter().zip(&direct) {
            assert!((g - w).abs() < 1e-12, "{inv:?} vs {direct:?}");
        }
    }
}
