//! The embedded synthetic world: a seeded generative model of users, items and ratings with
//! known ground truth.
//!
//! Generative story (every constant is a field of [`WorldConfig`], recorded in the manifest):
//! 1. Items get a genre (Zipf-like genre shares), a release time `t ~ U(0,1)`, a popularity
//!    `pop ~ LogNormal(0, 1)`. The newest `new_item_fraction` of items are *new* (item-cold).
//!    The latent vector mixes a genre centre with item noise:
//!    `q_i = sqrt(item_feature_share) * G[genre] + sqrt(1 - item_feature_share) * e_i`, so the
//!    features explain a known share of it and item-cold is learnable from features.
//! 2. Users get a group (the minority group with probability `minority_fraction`), an age
//!    bucket and an occupation. Their preference is drawn around a cluster centre, the cluster
//!    drawn with feature-dependent probabilities `P(k | group, age) ~ exp(Theta[group][k] +
//!    Phi[age][k])`: `p_u = C[k] + spread[group] * z_u`. The minority group is more spread out,
//!    so a model without per-user adaptation fits it worse: a fairness gap by construction.
//! 3. Each user rates `n_u ~ U{min_ratings..=max_ratings}` distinct items, chosen without
//!    replacement with weights `pop^popularity_exponent * exp(preference_weight * a_ui) *
//!    (new_item_boost if new)`, where `a_ui = interaction_scale * <p_u, q_i>`.
//! 4. The rating is `clamp(round(mu + b_u + b_i + a_ui + e), 1, 5)`, `e ~ N(0, noise_sd^2)`,
//!    with `b_u` from group, age and occupation effects plus noise and `b_i` from genre and
//!    popularity effects plus noise.
//!
//! Every real-valued parameter is rounded to 6 decimals when drawn, so the canonical
//! serialization (whose SHA-256 the suite file pins) holds the exact values the oracle uses.

use crate::data::{Dataset, Features, Field, Rating, Schema, Truth};
use crate::rng::Rng;
use crate::split::hex;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::sync::Arc;

/// Parameters of the synthetic world (the suite file's `[world]` table).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldConfig {
    pub n_users: usize,
    pub n_items: usize,
    pub latent_dim: usize,
    pub n_genres: usize,
    pub n_year_buckets: usize,
    pub n_ages: usize,
    pub n_occupations: usize,
    pub n_clusters: usize,
    pub minority_fraction: f64,
    pub new_user_fraction: f64,
    pub new_item_fraction: f64,
    pub min_ratings: usize,
    pub max_ratings: usize,
    pub mu: f64,
    pub noise_sd: f64,
    pub interaction_scale: f64,
    pub item_feature_share: f64,
    pub majority_spread: f64,
    pub minority_spread: f64,
    pub user_bias_sd: f64,
    pub item_bias_sd: f64,
    pub popularity_exponent: f64,
    pub preference_weight: f64,
    pub new_item_boost: f64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            n_users: 1000,
            n_items: 500,
            latent_dim: 8,
            n_genres: 8,
            n_year_buckets: 5,
            n_ages: 5,
            n_occupations: 8,
            n_clusters: 6,
            minority_fraction: 0.3,
            new_user_fraction: 0.2,
            new_item_fraction: 0.2,
            min_ratings: 13,
            max_ratings: 100,
            mu: 3.0,
            noise_sd: 0.6,
            interaction_scale: 2.5,
            item_feature_share: 0.7,
            majority_spread: 0.3,
            minority_spread: 1.5,
            user_bias_sd: 0.35,
            item_bias_sd: 0.3,
            popularity_exponent: 0.8,
            preference_weight: 0.5,
            new_item_boost: 2.5,
        }
    }
}

/// A world parameter that cannot be used; names the key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("world.{key}: {message}")]
pub struct WorldError {
    pub key: &'static str,
    pub message: String,
}

impl WorldConfig {
    /// Validates every field once, before generation.
    pub fn check(&self) -> Result<(), WorldError> {
        let bad = |key, message: String| Err(WorldError { key, message });
        for (key, v, min) in [
            ("n_users", self.n_users, 2),
            ("n_items", self.n_items, 2),
            ("latent_dim", self.latent_dim, 1),
            ("n_genres", self.n_genres, 1),
            ("n_year_buckets", self.n_year_buckets, 1),
            ("n_ages", self.n_ages, 1),
            ("n_occupations", self.n_occupations, 1),
            ("n_clusters", self.n_clusters, 1),
            ("min_ratings", self.min_ratings, 1),
        ] {
            if v < min {
                return bad(key, format!("{v} is below the minimum {min}"));
            }
        }
        if self.max_ratings < self.min_ratings {
            return bad("max_ratings", format!("{} is below min_ratings {}", self.max_ratings, self.min_ratings));
        }
        if self.max_ratings > self.n_items {
            return bad("max_ratings", format!("{} exceeds n_items {}", self.max_ratings, self.n_items));
        }
        for (key, v) in [
            ("minority_fraction", self.minority_fraction),
            ("new_user_fraction", self.new_user_fraction),
            ("new_item_fraction", self.new_item_fraction),
            ("item_feature_share", self.item_feature_share),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, format!("{v} is not in [0, 1]"));
            }
        }
        for (key, v) in [("noise_sd", self.noise_sd), ("new_item_boost", self.new_item_boost)] {
            if !(v > 0.0 && v.is_finite()) {
                return bad(key, format!("{v} must be positive"));
            }
        }
        for (key, v) in [
            ("mu", self.mu),
            ("interaction_scale", self.interaction_scale),
            ("majority_spread", self.majority_spread),
            ("minority_spread", self.minority_spread),
            ("user_bias_sd", self.user_bias_sd),
            ("item_bias_sd", self.item_bias_sd),
            ("popularity_exponent", self.popularity_exponent),
            ("preference_weight", self.preference_weight),
        ] {
            if !v.is_finite() || (key != "mu" && v < 0.0) {
                return bad(key, format!("{v} must be finite and non-negative"));
            }
        }
        Ok(())
    }
}

/// A generated world: the dataset (with its truth) and who is new.
#[derive(Clone, Debug)]
pub struct World {
    pub dataset: Dataset,
    pub user_is_new: Vec<bool>,
    pub item_is_new: Vec<bool>,
    /// Group index per user: 0 majority, 1 minority.
    pub user_group: Vec<u32>,
    /// Cluster index per user (hidden: it draws the multi-task suites' second objective direction).
    pub user_cluster: Vec<u32>,
    /// Canonical serialization, whose SHA-256 is `dataset.sha256`.
    pub canonical: String,
}

fn q6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn normals(rng: &mut Rng, n: usize, sd: f64) -> Vec<f64> {
    (0..n).map(|_| q6(sd * rng.normal())).collect()
}

/// Generates the world for `seed`. Pure: same config and seed, same bytes.
pub fn generate(cfg: &WorldConfig, seed: u64, name: &str) -> Result<World, WorldError> {
    cfg.check()?;
    let d = cfg.latent_dim;
    let unit = 1.0 / (d as f64).sqrt();
    let mut root = Rng::from_labels(seed, &["synthetic-world"]);
    let mut rng_params = root.fork("params");
    let mut rng_items = root.fork("items");
    let mut rng_users = root.fork("users");
    let mut rng_ratings = root.fork("ratings");

    // Global parameters.
    let genre_centre = normals(&mut rng_params, cfg.n_genres * d, unit);
    let cluster_centre = normals(&mut rng_params, cfg.n_clusters * d, unit);
    let theta = normals(&mut rng_params, 2 * cfg.n_clusters, 1.0);
    let phi = normals(&mut rng_params, cfg.n_ages * cfg.n_clusters, 1.0);
    let genre_bias = normals(&mut rng_params, cfg.n_genres, 0.3);
    let group_bias = normals(&mut rng_params, 2, 0.2);
    let age_bias = normals(&mut rng_params, cfg.n_ages, 0.2);
    let occupation_bias = normals(&mut rng_params, cfg.n_occupations, 0.1);
    let genre_share: Vec<f64> = (0..cfg.n_genres).map(|g| 1.0 / (g as f64 + 1.0)).collect();

    // Items.
    let ni = cfg.n_items;
    let mut genre = vec![0u32; ni];
    let mut time = vec![0f64; ni];
    let mut log_pop = vec![0f64; ni];
    let mut item_latent = vec![0f64; ni * d];
    let mut item_bias = vec![0f64; ni];
    let (a, b) = (cfg.item_feature_share.sqrt(), (1.0 - cfg.item_feature_share).sqrt());
    for i in 0..ni {
        let g = rng_items.categorical(&genre_share);
        genre[i] = g as u32;
        time[i] = q6(rng_items.uniform());
        log_pop[i] = q6(rng_items.normal());
        for k in 0..d {
            item_latent[i * d + k] = q6(a * genre_centre[g * d + k] + b * unit * rng_items.normal());
        }
        item_bias[i] = q6(genre_bias[g] + 0.3 * log_pop[i] + cfg.item_bias_sd * rng_items.normal());
    }
    // The newest items are new.
    let mut by_time: Vec<usize> = (0..ni).collect();
    by_time.sort_by(|x, y| time[*x].total_cmp(&time[*y]).then(x.cmp(y)));
    let n_new_items = (ni as f64 * cfg.new_item_fraction).round() as usize;
    let mut item_is_new = vec![false; ni];
    for i in &by_time[ni - n_new_items..] {
        item_is_new[*i] = true;
    }

    // Users.
    let nu = cfg.n_users;
    let mut group = vec![0u32; nu];
    let mut age = vec![0u32; nu];
    let mut occupation = vec![0u32; nu];
    let mut user_latent = vec![0f64; nu * d];
    let mut user_bias = vec![0f64; nu];
    let mut user_is_new = vec![false; nu];
    let mut user_cluster = vec![0u32; nu];
    for u in 0..nu {
        let gr = usize::from(rng_users.uniform() < cfg.minority_fraction);
        let ag = rng_users.below(cfg.n_ages);
        let oc = rng_users.below(cfg.n_occupations);
        let w: Vec<f64> = (0..cfg.n_clusters)
            .map(|k| (theta[gr * cfg.n_clusters + k] + phi[ag * cfg.n_clusters + k]).exp())
            .collect();
        let k = rng_users.categorical(&w);
        user_cluster[u] = k as u32;
        let spread = if gr == 1 { cfg.minority_spread } else { cfg.majority_spread };
        // The truth stores the scaled vector `interaction_scale * p_u`, so `Truth::score`'s dot
        // product is `a_ui` itself.
        for j in 0..d {
            user_latent[u * d + j] =
                q6(cfg.interaction_scale * (cluster_centre[k * d + j] + spread * unit * rng_users.normal()));
        }
        user_bias[u] = q6(group_bias[gr] + age_bias[ag] + occupation_bias[oc] + cfg.user_bias_sd * rng_users.normal());
        group[u] = gr as u32;
        age[u] = ag as u32;
        occupation[u] = oc as u32;
        user_is_new[u] = rng_users.uniform() < cfg.new_user_fraction;
    }

    let truth = Truth {
        mu: q6(cfg.mu),
        noise_sd: q6(cfg.noise_sd),
        rating_min: 1,
        rating_max: 5,
        latent_dim: d,
        user_bias,
        item_bias,
        user_latent,
        item_latent,
    };

    // Ratings: weighted sampling without replacement (Efraimidis & Spirakis 2006).
    let mut ratings = Vec::new();
    let span = cfg.max_ratings - cfg.min_ratings + 1;
    for u in 0..nu as u32 {
        let n = cfg.min_ratings + rng_ratings.below(span);
        let mut keys: Vec<(f64, u32)> = (0..ni as u32)
            .map(|i| {
                let inter = truth.score(u, i) - truth.mu - truth.user_bias[u as usize] - truth.item_bias[i as usize];
                let mut w = log_pop[i as usize] * cfg.popularity_exponent + cfg.preference_weight * inter;
                if item_is_new[i as usize] {
                    w += cfg.new_item_boost.ln();
                }
                // key = ln(U) / weight, weight = exp(w): larger is better.
                let uni = 1.0 - rng_ratings.uniform();
                (uni.ln() * (-w).exp(), i)
            })
            .collect();
        keys.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        let mut chosen: Vec<u32> = keys[..n].iter().map(|k| k.1).collect();
        chosen.sort();
        for i in chosen {
            let s = truth.score(u, i) + truth.noise_sd * rng_ratings.normal();
            let r = s.round().clamp(1.0, 5.0);
            ratings.push(Rating { user: u, item: i, value: r as f32 });
        }
    }

    // Features.
    let year_bucket: Vec<u32> =
        time.iter().map(|t| ((t * cfg.n_year_buckets as f64) as u32).min(cfg.n_year_buckets as u32 - 1)).collect();
    let schema = Schema {
        user_fields: vec![
            Field { name: "group".into(), vocab: 2 },
            Field { name: "age".into(), vocab: cfg.n_ages },
            Field { name: "occupation".into(), vocab: cfg.n_occupations },
        ],
        item_fields: vec![
            Field { name: "genre".into(), vocab: cfg.n_genres },
            Field { name: "year".into(), vocab: cfg.n_year_buckets },
        ],
        item_numeric: vec!["release_time".into(), "log_popularity".into()],
    };
    let mut user_cat = Vec::with_capacity(nu * 3);
    for u in 0..nu {
        user_cat.extend([group[u], age[u], occupation[u]]);
    }
    let mut item_cat = Vec::with_capacity(ni * 2);
    let mut item_num = Vec::with_capacity(ni * 2);
    for i in 0..ni {
        item_cat.extend([genre[i], year_bucket[i]]);
        // Standardised: U(0,1) has sd 1/sqrt(12).
        item_num.extend([((time[i] - 0.5) * 12f64.sqrt()) as f32, log_pop[i] as f32]);
    }
    let features = Features {
        schema,
        user_cat,
        item_cat,
        item_num,
        user_ids: (0..nu as u64).collect(),
        item_ids: (0..ni as u64).collect(),
    };

    let canonical = canonical(cfg, seed, &features, &truth, &ratings, &user_is_new, &item_is_new);
    let sha256 = hex(&Sha256::digest(canonical.as_bytes()));
    let user_groups = vec![
        (
            "group".to_string(),
            group.iter().map(|g| if *g == 1 { "minority" } else { "majority" }.to_string()).collect(),
        ),
        ("age".to_string(), age.iter().map(|a| format!("age{a}")).collect()),
        ("activity".to_string(), crate::data::activity_groups(nu, &ratings).0),
    ];
    let dataset = Dataset {
        name: name.to_string(),
        features: Arc::new(features),
        ratings,
        truth: Some(Arc::new(truth)),
        rating_min: 1.0,
        rating_max: 5.0,
        sha256,
        user_groups,
    };
    Ok(World { dataset, user_is_new, item_is_new, user_group: group, user_cluster, canonical })
}

fn canonical(
    cfg: &WorldConfig,
    seed: u64,
    f: &Features,
    t: &Truth,
    ratings: &[Rating],
    user_is_new: &[bool],
    item_is_new: &[bool],
) -> String {
    let mut s = String::new();
    let cfg_toml = toml::to_string(cfg).expect("world config serialises");
    let _ = writeln!(s, "metarec synthetic world v1\nseed={seed}\n{cfg_toml}");
    let _ = writeln!(s, "mu={:.6} noise_sd={:.6}", t.mu, t.noise_sd);
    let d = t.latent_dim;
    for u in 0..f.n_users() {
        let _ = write!(
            s,
            "user,{u},{},{},{:.6}",
            f.user_cat(u as u32).iter().map(|c| c.to_string()).collect::<Vec<_>>().join(","),
            u8::from(user_is_new[u]),
            t.user_bias[u]
        );
        for x in &t.user_latent[u * d..(u + 1) * d] {
            let _ = write!(s, ",{x:.6}");
        }
        s.push('\n');
    }
    for i in 0..f.n_items() {
        let cat = f.item_cat(i as u32).iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
        let num = f.item_num(i as u32).iter().map(|x| format!("{x:.6}")).collect::<Vec<_>>().join(",");
        let _ = write!(s, "item,{i},{cat},{num},{},{:.6}", u8::from(item_is_new[i]), t.item_bias[i]);
        for x in &t.item_latent[i * d..(i + 1) * d] {
            let _ = write!(s, ",{x:.6}");
        }
        s.push('\n');
    }
    for r in ratings {
        let _ = writeln!(s, "rating,{},{},{}", r.user, r.item, r.value);
    }
    s
}
