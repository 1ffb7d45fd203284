//! Mean and confidence interval of one leaderboard cell, with the user as the
//! unit of the interval and the spread over seeds reported separately.

use std::collections::BTreeMap;

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Summary of one (suite, scenario, method, metric) cell.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Mean over users of the per-user seed means.
    pub mean: f64,
    /// Lower end of the two-sided 95% Student-t interval over users.
    pub ci_low: f64,
    /// Upper end of the two-sided 95% Student-t interval over users.
    pub ci_high: f64,
    /// Number of distinct users (the unit of the interval).
    pub n_units: usize,
    /// Sample standard deviation (ddof = 1) over seeds of the per-seed means;
    /// 0 with one seed.
    pub seed_sd: f64,
    /// Number of distinct seeds.
    pub n_seeds: usize,
}

/// Values of one (suite, scenario, method, metric) cell of a leaderboard:
/// `(seed, user, value)` rows over users x seeds.
///
/// The unit of the CI is the user: values are first averaged over seeds per
/// user, then mean and a two-sided 95% Student-t interval (df = n-1) are taken
/// over users. With one user the interval is [mean, mean]. `seed_sd` is the
/// sample standard deviation (ddof = 1) over seeds of the per-seed means
/// (0 with one seed); each per-seed mean is over the users that seed has.
/// The result does not depend on the order of `values`. Returns `None` if
/// `values` is empty; NaN values propagate to NaN fields.
pub fn summarize(values: &[(u64, u64, f64)]) -> Option<Summary> {
    if values.is_empty() {
        return None;
    }
    // Sorting fixes the order of every floating-point sum below.
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    let per_user = group_means(sorted.iter().map(|&(_, user, v)| (user, v)));
    let per_seed = group_means(sorted.iter().map(|&(seed, _, v)| (seed, v)));
    let (mean, ci_low, ci_high) = t_interval(&per_user, 0.95);
    let seed_sd = if per_seed.len() > 1 { sample_sd(&per_seed) } else { 0.0 };
    Some(Summary { mean, ci_low, ci_high, n_units: per_user.len(), seed_sd, n_seeds: per_seed.len() })
}

/// Two-sided Student-t interval for the mean of `values` at confidence
/// `level`, as scipy's `t.interval(level, n-1, loc=mean, scale=sem)` with
/// sem = sd(ddof=1)/sqrt(n). Returns `(mean, low, high)`.
///
/// Never panics: empty input gives all NaN; a `level` outside (0, 1) gives
/// NaN bounds; one value gives `(x, x, x)`.
pub fn t_interval(values: &[f64], level: f64) -> (f64, f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = mean(values);
    if !(level > 0.0 && level < 1.0) {
        return (mean, f64::NAN, f64::NAN);
    }
    if n == 1 {
        return (mean, mean, mean);
    }
    let sem = sample_sd(values) / (n as f64).sqrt();
    let t = match StudentsT::new(0.0, 1.0, (n - 1) as f64) {
        Ok(dist) => dist.inverse_cdf((1.0 + level) / 2.0),
        Err(_) => f64::NAN, // unreachable: df >= 1
    };
    (mean, mean - t * sem, mean + t * sem)
}

/// Means of the values of each key, in key order.
fn group_means(pairs: impl Iterator<Item = (u64, f64)>) -> Vec<f64> {
    let mut groups: BTreeMap<u64, (f64, usize)> = BTreeMap::new();
    for (key, v) in pairs {
        let (sum, count) = groups.entry(key).or_insert((0.0, 0));
        *sum += v;
        *count += 1;
    }
    groups.values().map(|&(sum, count)| sum / count as f64).collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (ddof = 1), two-pass; needs at least 2 values.
fn sample_sd(values: &[f64]) -> f64 {
    let m = mean(values);
    let ss: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    (ss / (values.len() - 1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) -> bool {
        (got - want).abs() <= tol
    }

    // t_{0.975,2} in closed form: the df=2 cdf is 1/2 + t/(2 sqrt(2 + t^2)),
    // so t = a sqrt(2 / (1 - a^2)) with a = 2*0.975 - 1 = 0.95:
    // 0.95 * sqrt(2 / 0.0975) = 0.95 * 4.529108136578383 = 4.302652729749464
    const T2: f64 = 4.302652729749464;

    #[test]
    fn t_interval_matches_scipy() {
        // scipy.stats.t.interval(0.95, 4, loc=3, scale=sem), sem = sqrt(2.5/5)
        // = 0.7071067811865476, t_{0.975,4} = 2.7764451051977987 (scipy; the
        // exact value is 2.77644510519779436), half-width 1.963243161477561
        let (m, lo, hi) = t_interval(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95);
        assert_eq!(m, 3.0); // 15 / 5
        assert!(close(lo, 1.0367568385224393, 1e-12), "{lo}");
        assert!(close(hi, 4.963243161477561, 1e-12), "{hi}");
    }

    #[test]
    fn t_interval_df2_closed_form() {
        // mean 1.0; sd = sqrt((0.04 + 0 + 0.04) / 2) = 0.2; sem = 0.2 / sqrt(3)
        // = 0.11547005383792516; half = T2 * sem = 0.4968275423500662
        let (m, lo, hi) = t_interval(&[0.8, 1.0, 1.2], 0.95);
        assert!(close(m, 1.0, 1e-15), "{m}");
        assert!(close(lo, 0.5031724576499338, 1e-12), "{lo}"); // 1 - 0.4968275423500662
        assert!(close(hi, 1.496827542350066, 1e-12), "{hi}"); // 1 + 0.4968275423500662
        assert!(close(T2 * 0.2 / 3f64.sqrt(), 0.4968275423500662, 1e-15));
    }

    #[test]
    fn t_interval_degenerate_inputs() {
        let nan3 = |(a, b, c): (f64, f64, f64)| a.is_nan() && b.is_nan() && c.is_nan();
        assert!(nan3(t_interval(&[], 0.95)));
        assert_eq!(t_interval(&[2.5], 0.95), (2.5, 2.5, 2.5));
        assert_eq!(t_interval(&[2.0, 2.0, 2.0], 0.95), (2.0, 2.0, 2.0)); // sd 0
        for bad in [0.0, 1.0, -0.5, f64::NAN] {
            let (m, lo, hi) = t_interval(&[1.0, 3.0], bad);
            assert_eq!(m, 2.0); // (1 + 3) / 2
            assert!(lo.is_nan() && hi.is_nan(), "level {bad}");
        }
    }

    #[test]
    fn summarize_averages_seeds_per_user_first() {
        // seed 1: users 1..3 -> 1.0, 1.1, 1.5; seed 2 -> 1.2, 1.3, 1.9
        let v = [(1, 1, 1.0), (1, 2, 1.1), (1, 3, 1.5), (2, 1, 1.2), (2, 2, 1.3), (2, 3, 1.9)];
        let s = summarize(&v).expect("non-empty input");
        // per-user means 1.1, 1.2, 1.7; mean 4.0 / 3 = 1.3333333333333333
        assert!(close(s.mean, 4.0 / 3.0, 1e-15), "{}", s.mean);
        // deviations -0.2333.., -0.1333.., 0.3666..: ss = 0.2066666, sd = sqrt(0.1033333)
        // = 0.32145502536643183, sem = sd / sqrt(3) = 0.1855921454276674,
        // half = T2 * sem = 0.7985385511444126
        assert!(close(s.ci_low, 0.5347947821889207, 1e-12), "{}", s.ci_low);
        assert!(close(s.ci_high, 2.131871884477746, 1e-12), "{}", s.ci_high);
        // per-seed means 3.6/3 = 1.2 and 4.4/3 = 1.4666..; sd of two values is
        // |a - b| / sqrt(2) = 0.26666666666666666 / sqrt(2) = 0.18856180831641264
        assert!(close(s.seed_sd, 0.18856180831641264, 1e-14), "{}", s.seed_sd);
        assert_eq!((s.n_units, s.n_seeds), (3, 2));

        let mut shuffled = v;
        shuffled.reverse();
        shuffled.swap(0, 3);
        assert_eq!(summarize(&shuffled), Some(s));
    }

    #[test]
    fn summarize_small_cases() {
        assert_eq!(summarize(&[]), None);
        // one user, two seeds: interval collapses to the mean (0.2 + 0.4) / 2
        // = 0.30000000000000004 (float); seed sd = |0.2 - 0.4| / sqrt(2) = 0.1414213562373095
        let s = summarize(&[(1, 9, 0.2), (2, 9, 0.4)]).expect("non-empty input");
        assert_eq!((s.mean, s.ci_low, s.ci_high), (0.30000000000000004, s.mean, s.mean));
        assert!(close(s.seed_sd, 0.1414213562373095, 1e-15), "{}", s.seed_sd);
        assert_eq!((s.n_units, s.n_seeds), (1, 2));
        // one seed: seed sd is 0
        let s = summarize(&[(5, 1, 1.0), (5, 2, 3.0)]).expect("non-empty input");
        assert_eq!((s.mean, s.seed_sd, s.n_units, s.n_seeds), (2.0, 0.0, 2, 1));
    }
}
