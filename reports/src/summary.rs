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
    /// The 95% interval over users and seeds of [`users_seeds_interval`], where the layout
    /// allows it (at least 2 users and 2 seeds, every user scored under every seed once).
    pub users_seeds: Option<(f64, f64)>,
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
    let users_seeds = users_seeds_interval(&sorted, 0.95).map(|(_, low, high, _)| (low, high));
    Some(Summary { mean, ci_low, ci_high, n_units: per_user.len(), seed_sd, n_seeds: per_seed.len(), users_seeds })
}

/// A two-sided interval at `level` for the mean of a crossed users x seeds layout that accounts
/// for both sources of variance: the model `y_us = mu + a_u + b_s + e_us` (user effect, seed
/// effect, residual), whose grand mean has variance `s_a^2 / U + s_b^2 / S + s_e^2 / (U S)`.
/// From the two-way ANOVA mean squares, `E[MS_users + MS_seeds] / (U S)` is that variance plus
/// `s_e^2 / (U S)` once more: this conservative estimate is used rather than the unbiased
/// `(MS_u + MS_s - MS_e) / (U S)`, whose negative term can drive Satterthwaite's degrees of
/// freedom towards 0 and the interval to absurd widths. Degrees of freedom (Satterthwaite
/// 1946): `(MS_u + MS_s)^2 / (MS_u^2 / (U - 1) + MS_s^2 / (S - 1))`, at least `min(U, S) - 1`,
/// for a Student-t quantile. Returns `(mean, low, high, df)`; `None` unless there are at least 2
/// users and 2 seeds and every user has exactly one value under every seed (`values` are
/// `(seed, user, value)`), or when the variance estimate is not positive (all values equal).
pub fn users_seeds_interval(values: &[(u64, u64, f64)], level: f64) -> Option<(f64, f64, f64, f64)> {
    let mut cells: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    for &(seed, user, v) in values {
        if cells.insert((user, seed), v).is_some() {
            return None;
        }
    }
    let users: Vec<u64> = cells.keys().map(|k| k.0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let seeds: Vec<u64> = cells.keys().map(|k| k.1).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let (nu, ns) = (users.len(), seeds.len());
    if nu < 2 || ns < 2 || cells.len() != nu * ns || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let y = |u: usize, s: usize| cells[&(users[u], seeds[s])];
    let grand = cells.values().sum::<f64>() / (nu * ns) as f64;
    let um: Vec<f64> = (0..nu).map(|u| (0..ns).map(|s| y(u, s)).sum::<f64>() / ns as f64).collect();
    let sm: Vec<f64> = (0..ns).map(|s| (0..nu).map(|u| y(u, s)).sum::<f64>() / nu as f64).collect();
    let (fu, fs) = (nu as f64, ns as f64);
    let ms_u = fs * um.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (fu - 1.0);
    let ms_s = fu * sm.iter().map(|m| (m - grand).powi(2)).sum::<f64>() / (fs - 1.0);
    let combined = ms_u + ms_s;
    if !(combined > 0.0) {
        return None;
    }
    let df = combined.powi(2) / (ms_u.powi(2) / (fu - 1.0) + ms_s.powi(2) / (fs - 1.0));
    let t = StudentsT::new(0.0, 1.0, df).ok()?.inverse_cdf((1.0 + level) / 2.0);
    let half = t * (combined / (fu * fs)).sqrt();
    Some((grand, grand - half, grand + half, df))
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

    /// A worked 2 x 2 layout by hand: users 1, 2 and seeds 1, 2 with y = [[1, 2], [3, 6]]:
    /// grand 3, user means 1.5, 4.5, seed means 2, 4; MS_u = 2 * ((1.5)^2 + (1.5)^2) / 1 = 9,
    /// MS_s = 2 * (1 + 1) / 1 = 4; variance (9 + 4) / 4 = 3.25; df = 169 / (81 + 16) = 1.742268;
    /// t_{0.975, 1.742268} from statrs (between the quantiles of df 1 and 2: 12.706 > t > 4.303).
    #[test]
    fn users_seeds_interval_by_hand() {
        let v = [(1, 1, 1.0), (2, 1, 2.0), (1, 2, 3.0), (2, 2, 6.0)];
        let (mean, low, high, df) = users_seeds_interval(&v, 0.95).unwrap_or_default();
        assert_eq!(mean, 3.0);
        assert!(close(df, 169.0 / 97.0, 1e-12), "{df}");
        let half = (high - low) / 2.0;
        let t = half / 3.25f64.sqrt();
        assert!(t < 12.7062 && t > T2, "{t}");
        assert!(close(mean - low, half, 1e-12));
        // incomplete layouts and single seeds give none
        assert_eq!(users_seeds_interval(&v[..3], 0.95), None);
        assert_eq!(users_seeds_interval(&[(1, 1, 1.0), (1, 2, 3.0)], 0.95), None);
        assert_eq!(users_seeds_interval(&[(1, 1, 1.0), (1, 1, 2.0), (2, 1, 3.0), (2, 2, 4.0)], 0.95), None);
    }

    /// Coverage on a simulated benchmark with known user and seed variance: y = 1 + a_u + b_s +
    /// e_us, a ~ N(0, 0.3^2), b ~ N(0, 0.1^2), e ~ N(0, 0.2^2), 40 users x 5 seeds, 2,000
    /// simulated benchmarks (Monte Carlo standard error of a 95% coverage: 0.49 points). The
    /// users-and-seeds interval covers the true mean 1 within two points of 95%; the t-interval
    /// over users (seeds averaged) leaves the seed variance out and covers about 85% here, so a
    /// leaderboard that went back to it would fail the first assertion.
    #[test]
    fn users_seeds_interval_covers_95_percent_of_simulated_benchmarks() {
        let mut rng = crate::stats::rng::Rng::new(20261203);
        let mut normal = move || {
            let u1 = 1.0 - rng.uniform();
            let u2 = rng.uniform();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let (benchmarks, users, seeds) = (2000, 40u64, 5u64);
        let (mut covered, mut covered_users_only) = (0usize, 0usize);
        for _ in 0..benchmarks {
            let a: Vec<f64> = (0..users).map(|_| 0.3 * normal()).collect();
            let b: Vec<f64> = (0..seeds).map(|_| 0.1 * normal()).collect();
            let mut v = Vec::with_capacity((users * seeds) as usize);
            for s in 0..seeds {
                for u in 0..users {
                    v.push((s, u, 1.0 + a[u as usize] + b[s as usize] + 0.2 * normal()));
                }
            }
            let sm = summarize(&v).unwrap_or_else(|| panic!("no summary"));
            let (low, high) = sm.users_seeds.unwrap_or((f64::NAN, f64::NAN));
            covered += usize::from(low <= 1.0 && 1.0 <= high);
            covered_users_only += usize::from(sm.ci_low <= 1.0 && 1.0 <= sm.ci_high);
        }
        let coverage = covered as f64 / benchmarks as f64;
        let users_only = covered_users_only as f64 / benchmarks as f64;
        assert!((coverage - 0.95).abs() <= 0.02, "users-and-seeds coverage {coverage}");
        assert!(users_only < 0.90, "users-only coverage {users_only}: the simulation does not tell them apart");
    }

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
