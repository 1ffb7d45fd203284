//! Multiple-comparison adjustments of p-values: Holm's step-down (family-wise
//! error) and Benjamini-Hochberg's step-up (false discovery rate), as
//! statsmodels' `multipletests(p, method="holm")` and `method="fdr_bh"`.
//! Adjusted values are returned in the input order.

use super::StatsError;

/// Holm-adjusted p-values: with p sorted ascending, p_adj(i) = max over j <= i
/// of min(1, (m - j) p(j)) (0-based j), returned in input order. Tied p-values
/// get equal adjusted values whatever their order. Empty input gives an empty
/// result.
///
/// Errors: a p-value that is NaN or outside [0, 1].
pub fn holm(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    let order = sorted_order(p)?;
    let m = p.len();
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (j, &i) in order.iter().enumerate() {
        running = running.max((m - j) as f64 * p[i]);
        out[i] = running.min(1.0);
    }
    Ok(out)
}

/// Benjamini-Hochberg-adjusted p-values (q-values): with p sorted ascending,
/// p_adj(i) = min over j >= i of min(1, m p(j) / (j + 1)) (0-based), returned
/// in input order. Empty input gives an empty result.
///
/// Errors: a p-value that is NaN or outside [0, 1].
pub fn benjamini_hochberg(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    let order = sorted_order(p)?;
    let m = p.len();
    let mut out = vec![0.0; m];
    let mut running: f64 = 1.0;
    for (j, &i) in order.iter().enumerate().rev() {
        running = running.min(m as f64 * p[i] / (j + 1) as f64);
        out[i] = running;
    }
    Ok(out)
}

/// Indices of `p` by ascending value (stable), after validating every value.
fn sorted_order(p: &[f64]) -> Result<Vec<usize>, StatsError> {
    if let Some(&bad) = p.iter().find(|x| !(0.0..=1.0).contains(*x)) {
        return Err(StatsError::InvalidParameter {
            name: "p-value",
            value: bad,
            reason: "p-values must lie in [0, 1]",
        });
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_all(got: &[f64], want: &[f64]) -> bool {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-15)
    }

    #[test]
    fn match_statsmodels_in_input_order() -> Result<(), StatsError> {
        // statsmodels 0.15.0: multipletests(p, method='holm')[1], method='fdr_bh'
        let p = [0.01, 0.04, 0.03, 0.005, 0.04, 0.5, 0.2];
        // holm  -> [0.06, 0.16, 0.15, 0.035, 0.16, 0.5, 0.4]
        // fdr_bh-> [0.035, 0.056, 0.056, 0.035, 0.056, 0.5, 0.23333333333333336]
        assert!(close_all(&holm(&p)?, &[0.06, 0.16, 0.15, 0.035, 0.16, 0.5, 0.4]));
        assert!(close_all(&benjamini_hochberg(&p)?, &[0.035, 0.056, 0.056, 0.035, 0.056, 0.5, 0.23333333333333336]));
        let p = [0.001, 0.01, 0.02, 0.03, 0.04, 0.05];
        // holm -> [0.006, 0.05, 0.08, 0.09, 0.09, 0.09]; fdr_bh -> [0.006, 0.03, 0.04, 0.045, 0.048, 0.05]
        assert!(close_all(&holm(&p)?, &[0.006, 0.05, 0.08, 0.09, 0.09, 0.09]));
        assert!(close_all(&benjamini_hochberg(&p)?, &[0.006, 0.03, 0.04, 0.045, 0.048, 0.05]));
        Ok(())
    }

    #[test]
    fn ties_edges_and_errors() -> Result<(), StatsError> {
        // [0.02]*3: holm -> [0.06]*3, fdr_bh -> [0.02]*3
        assert!(close_all(&holm(&[0.02; 3])?, &[0.06; 3]));
        assert!(close_all(&benjamini_hochberg(&[0.02; 3])?, &[0.02; 3]));
        // [0, 0.5, 1]: holm -> [0, 1, 1], fdr_bh -> [0, 0.75, 1]
        assert!(close_all(&holm(&[0.0, 0.5, 1.0])?, &[0.0, 1.0, 1.0]));
        assert!(close_all(&benjamini_hochberg(&[0.0, 0.5, 1.0])?, &[0.0, 0.75, 1.0]));
        assert_eq!(holm(&[1.0])?, vec![1.0]);
        assert!(holm(&[])?.is_empty() && benjamini_hochberg(&[])?.is_empty());
        for bad in [f64::NAN, -0.1, 1.5] {
            assert!(matches!(holm(&[0.1, bad]), Err(StatsError::InvalidParameter { .. })));
            assert!(matches!(benjamini_hochberg(&[bad]), Err(StatsError::InvalidParameter { .. })));
        }
        Ok(())
    }
}
