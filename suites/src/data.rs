//! The data model every suite produces and every method consumes.
//!
//! Users and items are dense indices into feature tables. Categorical features are one index per
//! field (vocabulary sizes in the [`Schema`]); numeric features are `f32` columns. A dataset may
//! carry a [`Truth`]: the known generative parameters of a synthetic world, which only the oracle
//! reads.

use std::sync::Arc;

/// A categorical feature field: its name and vocabulary size (indices `0..vocab`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub vocab: usize,
}

/// The feature layout of one dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schema {
    pub user_fields: Vec<Field>,
    pub item_fields: Vec<Field>,
    /// Names of the numeric item features (already standardised by the suite).
    pub item_numeric: Vec<String>,
}

/// One observed rating.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    pub user: u32,
    pub item: u32,
    pub value: f32,
}

/// Features of all users and items, row-major.
#[derive(Clone, Debug)]
pub struct Features {
    pub schema: Schema,
    /// `n_users x user_fields.len()` categorical indices.
    pub user_cat: Vec<u32>,
    /// `n_items x item_fields.len()` categorical indices.
    pub item_cat: Vec<u32>,
    /// `n_items x item_numeric.len()` numeric values.
    pub item_num: Vec<f32>,
    /// The id each user has in the source data (written to results.csv).
    pub user_ids: Vec<u64>,
    /// The id each item has in the source data.
    pub item_ids: Vec<u64>,
}

impl Features {
    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }
    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }
    pub fn user_cat(&self, user: u32) -> &[u32] {
        let f = self.schema.user_fields.len();
        &self.user_cat[user as usize * f..(user as usize + 1) * f]
    }
    pub fn item_cat(&self, item: u32) -> &[u32] {
        let f = self.schema.item_fields.len();
        &self.item_cat[item as usize * f..(item as usize + 1) * f]
    }
    pub fn item_num(&self, item: u32) -> &[f32] {
        let f = self.schema.item_numeric.len();
        &self.item_num[item as usize * f..(item as usize + 1) * f]
    }
}

/// The true generative model of a synthetic world: what the oracle knows.
///
/// A rating is `clamp(round(mu + user_bias + item_bias + <user_latent, item_latent> + e), lo, hi)`
/// with `e ~ N(0, noise_sd^2)`, so each rating's distribution is known exactly.
#[derive(Clone, Debug)]
pub struct Truth {
    pub mu: f64,
    pub noise_sd: f64,
    pub rating_min: i32,
    pub rating_max: i32,
    pub latent_dim: usize,
    pub user_bias: Vec<f64>,
    pub item_bias: Vec<f64>,
    /// `n_users x latent_dim`.
    pub user_latent: Vec<f64>,
    /// `n_items x latent_dim`.
    pub item_latent: Vec<f64>,
}

impl Truth {
    /// The noise-free score `mu + b_u + b_i + <p_u, q_i>`.
    pub fn score(&self, user: u32, item: u32) -> f64 {
        let d = self.latent_dim;
        let (u, i) = (user as usize, item as usize);
        let dot: f64 = self.user_latent[u * d..(u + 1) * d]
            .iter()
            .zip(&self.item_latent[i * d..(i + 1) * d])
            .map(|(a, b)| a * b)
            .sum();
        self.mu + self.user_bias[u] + self.item_bias[i] + dot
    }

    /// The exact distribution of the rating: `P(r = k)` for `k` in `rating_min..=rating_max`.
    pub fn rating_distribution(&self, user: u32, item: u32) -> Vec<f64> {
        let s = self.score(user, item);
        let cdf = |x: f64| normal_cdf((x - s) / self.noise_sd);
        (self.rating_min..=self.rating_max)
            .map(|k| {
                let lo = if k == self.rating_min { 0.0 } else { cdf(k as f64 - 0.5) };
                let hi = if k == self.rating_max { 1.0 } else { cdf(k as f64 + 0.5) };
                hi - lo
            })
            .collect()
    }

    /// Conditional mean of the rating (Bayes-optimal for squared error).
    pub fn expected_rating(&self, user: u32, item: u32) -> f64 {
        self.rating_distribution(user, item).iter().zip(self.rating_min..).map(|(p, k)| p * k as f64).sum()
    }

    /// Conditional median of the rating (Bayes-optimal for absolute error): the smallest `k`
    /// with `P(r <= k) >= 1/2`.
    pub fn median_rating(&self, user: u32, item: u32) -> f64 {
        let mut acc = 0.0;
        for (p, k) in self.rating_distribution(user, item).iter().zip(self.rating_min..) {
            acc += p;
            if acc >= 0.5 {
                return k as f64;
            }
        }
        self.rating_max as f64
    }
}

/// Standard normal CDF via `erfc` (W. J. Cody's rational approximation is overkill here; this
/// uses the complementary error function of Numerical Recipes' `erfcc`, accurate to 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// A loaded dataset: features, every observed rating, and the truth when it is known.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub name: String,
    pub features: Arc<Features>,
    pub ratings: Vec<Rating>,
    pub truth: Option<Arc<Truth>>,
    /// Rating scale, inclusive.
    pub rating_min: f32,
    pub rating_max: f32,
    /// SHA-256 of the dataset's canonical bytes (the archive for real data, the canonical
    /// serialization for a synthetic world).
    pub sha256: String,
    /// User attributes for fairness groups: `(attribute, group label per user)`.
    pub user_groups: Vec<(String, Vec<String>)>,
}

/// Per user, the items rated anywhere in `ratings` (sorted, for binary search).
pub fn rated_items(n_users: usize, ratings: &[Rating]) -> Vec<Vec<u32>> {
    let mut rated: Vec<Vec<u32>> = vec![Vec::new(); n_users];
    for r in ratings {
        rated[r.user as usize].push(r.item);
    }
    rated.iter_mut().for_each(|v| v.sort_unstable());
    rated
}

/// The `activity` fairness attribute: `active` for the most active fifth of users (every user
/// with at least as many ratings as the user ranked at 20%, ties included), `inactive` for the
/// others, as in user-oriented group fairness (Li et al., 2021). Also returns that threshold.
pub fn activity_groups(n_users: usize, ratings: &[Rating]) -> (Vec<String>, u64) {
    let mut per_user = vec![0u64; n_users];
    for r in ratings {
        per_user[r.user as usize] += 1;
    }
    let mut desc = per_user.clone();
    desc.sort_unstable_by(|a, b| b.cmp(a));
    let k = ((n_users as f64) * 0.2).ceil().max(1.0) as usize;
    let active_min = desc.get(k.min(n_users).saturating_sub(1)).copied().unwrap_or(0);
    let labels = per_user.iter().map(|n| if *n >= active_min { "active" } else { "inactive" }.to_string()).collect();
    (labels, active_min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_marks_the_top_fifth_with_ties() {
        // Ten users with 1..=10 ratings: the top 20% are the users with 10 and 9 ratings.
        let mut ratings = Vec::new();
        for u in 0..10u32 {
            for i in 0..=u {
                ratings.push(Rating { user: u, item: i, value: 3.0 });
            }
        }
        let (g, min) = activity_groups(10, &ratings);
        let active: Vec<usize> = (0..10).filter(|u| g[*u] == "active").collect();
        assert_eq!((active, min), (vec![8, 9], 9));
        // A tie at the cut: user 7 also gets 9 ratings, and is active too.
        ratings.push(Rating { user: 7, item: 8, value: 3.0 });
        let (g, _) = activity_groups(10, &ratings);
        assert_eq!((0..10).filter(|u| g[*u] == "active").count(), 3);
        assert!(activity_groups(0, &[]).0.is_empty());
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        // scipy.stats.norm.cdf([0, 1, -1.96, 2.5]) = [0.5, 0.8413447460685429,
        // 0.024997895148220435, 0.9937903346742238]
        for (z, want) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746_068_542_9),
            (-1.96, 0.024_997_895_148_220_435),
            (2.5, 0.993_790_334_674_223_8),
        ] {
            assert!((normal_cdf(z) - want).abs() < 2e-7, "z={z}: {} vs {want}", normal_cdf(z));
        }
    }

    #[test]
    fn rating_distribution_sums_to_one_and_orders_estimators() {
        let t = Truth {
            mu: 3.0,
            noise_sd: 0.8,
            rating_min: 1,
            rating_max: 5,
            latent_dim: 1,
            user_bias: vec![1.0],
            item_bias: vec![0.4],
            user_latent: vec![1.0],
            item_latent: vec![0.2],
        };
        let p = t.rating_distribution(0, 0);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((t.score(0, 0) - 4.6).abs() < 1e-12);
        // The ceiling at 5 pulls the mean below the score; P(r=5) = P(e >= -0.1) = 0.55 > 1/2.
        assert!(t.expected_rating(0, 0) < 4.6);
        assert!((p[4] - 0.549_738).abs() < 1e-5, "{p:?}"); // scipy: 1 - norm.cdf(-0.1/0.8)
        assert_eq!(t.median_rating(0, 0), 5.0);
    }
}
