//! The synthetic world and its splits: statistics match the generator's parameters, the pins
//! hold, and no user, item or rating leaks across the split.

use metarec_suites::synthetic::{WorldConfig, generate};
use metarec_suites::{Scenario, load_suite, parse_suite};
use std::collections::HashSet;

#[test]
fn embedded_suites_match_their_pins() {
    // The synthetic ones: real suites need their archives (see the loader's fixture tests).
    for name in metarec_suites::suite::embedded_names() {
        let suite = load_suite(name).unwrap();
        if suite.def.data.kind != "synthetic" {
            continue;
        }
        let m = suite.materialize().unwrap_or_else(|e| panic!("{e}"));
        let sizes: Vec<_> = m.split.test.iter().map(|(s, t)| (s.name(), t.len())).collect();
        eprintln!(
            "{name}: sha256 {} ratings {} train users {} validation {} tests {sizes:?}",
            m.dataset.sha256,
            m.dataset.ratings.len(),
            m.split.meta_train.len(),
            m.split.validation.len()
        );
        assert_eq!(Some(&m.dataset.sha256), suite.def.data.sha256.as_ref());
    }
}

#[test]
fn a_wrong_pin_is_refused_with_both_hashes() {
    let text = include_str!("../synthetic-tiny.toml").replace("sha256 = \"", "sha256 = \"00");
    let suite = parse_suite(&text, "suites/synthetic-tiny.toml").unwrap();
    let err = suite.materialize().unwrap_err().to_string();
    assert!(err.contains("suites/synthetic-tiny.toml: data.sha256 pins 00"), "{err}");
}

#[test]
fn generated_statistics_match_the_parameters() {
    let cfg = WorldConfig::default();
    let w = generate(&cfg, 11, "t").unwrap();
    let truth = w.dataset.truth.as_ref().unwrap();
    // Ratings per user within [min, max], every (user, item) at most once.
    let mut per_user = vec![0usize; cfg.n_users];
    let mut pairs = HashSet::new();
    for r in &w.dataset.ratings {
        per_user[r.user as usize] += 1;
        assert!(pairs.insert((r.user, r.item)), "duplicate rating");
        assert!((1.0..=5.0).contains(&r.value) && r.value.fract() == 0.0);
    }
    assert!(per_user.iter().all(|n| (cfg.min_ratings..=cfg.max_ratings).contains(n)));
    let mean_n = per_user.iter().sum::<usize>() as f64 / cfg.n_users as f64;
    assert!((mean_n - 56.5).abs() < 2.0, "mean ratings per user {mean_n}"); // U{13..100}: 56.5
    // Group imbalance: minority share near 0.3 (sd of the share over 1000 users is 0.0145).
    let minority = w.user_group.iter().filter(|g| **g == 1).count() as f64 / cfg.n_users as f64;
    assert!((minority - 0.3).abs() < 0.05, "minority share {minority}");
    // Exactly the newest 20% of items are new.
    assert_eq!(w.item_is_new.iter().filter(|x| **x).count(), 100);
    // Observed ratings agree with the truth's conditional mean (sd of the mean ~0.004).
    let n = w.dataset.ratings.len() as f64;
    let obs = w.dataset.ratings.iter().map(|r| r.value as f64).sum::<f64>() / n;
    let exp = w.dataset.ratings.iter().map(|r| truth.expected_rating(r.user, r.item)).sum::<f64>() / n;
    assert!((obs - exp).abs() < 0.02, "observed mean {obs} vs expected {exp}");
    // Residual variance equals the truth's conditional variance on average.
    let (mut res2, mut var) = (0.0, 0.0);
    for r in &w.dataset.ratings {
        let p = truth.rating_distribution(r.user, r.item);
        let m = truth.expected_rating(r.user, r.item);
        res2 += (r.value as f64 - m).powi(2);
        var += p.iter().enumerate().map(|(k, pk)| pk * ((k + 1) as f64 - m).powi(2)).sum::<f64>();
    }
    assert!((res2 / var - 1.0).abs() < 0.03, "residual/conditional variance {}", res2 / var);
    // The minority group is more spread out in latent space.
    let d = cfg.latent_dim;
    let spread = |g: u32| {
        let us: Vec<usize> = (0..cfg.n_users).filter(|u| w.user_group[*u] == g).collect();
        let norm2: f64 =
            us.iter().map(|u| truth.user_latent[u * d..(u + 1) * d].iter().map(|x| x * x).sum::<f64>()).sum();
        norm2 / us.len() as f64
    };
    assert!(spread(1) > spread(0) * 1.5, "minority {} majority {}", spread(1), spread(0));
    // Same seed, same bytes; another seed, another world.
    assert_eq!(generate(&cfg, 11, "t").unwrap().dataset.sha256, w.dataset.sha256);
    assert_ne!(generate(&cfg, 12, "t").unwrap().dataset.sha256, w.dataset.sha256);
}

#[test]
fn splits_do_not_leak() {
    let suite = load_suite("synthetic").unwrap();
    let m = suite.materialize().unwrap();
    let s = &m.split;
    let train_users: HashSet<u32> = s.meta_train.iter().map(|h| h.user).collect();
    let train_pairs: HashSet<(u32, u32)> =
        s.meta_train.iter().flat_map(|h| h.ratings.iter().map(|r| (r.user, r.item))).collect();
    let train_items: HashSet<u32> = train_pairs.iter().map(|p| p.1).collect();
    // Meta-training holds only existing users and existing items.
    assert!(train_users.iter().all(|u| !s.user_is_new[*u as usize]));
    assert!(train_items.iter().all(|i| !s.item_is_new[*i as usize]));
    for t in &s.validation {
        assert!(!train_users.contains(&t.user), "validation user {} in meta-train", t.user);
    }
    for (sc, tasks) in &s.test {
        assert!(!tasks.is_empty(), "{sc} has no tasks");
        for t in tasks {
            assert_eq!(t.support.len(), suite.def.protocol.support);
            assert_eq!(t.query.len(), suite.def.protocol.query);
            let support: HashSet<u32> = t.support.iter().map(|r| r.item).collect();
            for r in t.support.iter().chain(&t.query) {
                assert_eq!(r.user, t.user);
                // No test rating was ever trained on.
                assert!(
                    !train_pairs.contains(&(r.user, r.item)),
                    "{sc}: rating ({}, {}) in meta-train",
                    r.user,
                    r.item
                );
                let new_item = s.item_is_new[r.item as usize];
                assert_eq!(new_item, matches!(sc, Scenario::ItemCold | Scenario::UserItemCold), "{sc}: item state");
            }
            assert!(t.query.iter().all(|r| !support.contains(&r.item)), "query overlaps support");
            let cold_user = matches!(sc, Scenario::UserCold | Scenario::UserItemCold);
            assert_eq!(s.user_is_new[t.user as usize], cold_user, "{sc}: user state");
            if !cold_user {
                assert!(train_users.contains(&t.user), "{sc}: existing user {} not in meta-train", t.user);
            }
        }
    }
}

#[test]
fn interaction_scale_scales_the_personal_term() {
    // The same seed with the scale doubled draws the same p_u, stored scaled: every latent
    // coordinate doubles (up to the 6-decimal rounding of drawn values).
    let base = WorldConfig { n_users: 50, n_items: 120, interaction_scale: 1.0, ..WorldConfig::default() };
    let double = WorldConfig { interaction_scale: 2.0, ..base.clone() };
    let (a, b) = (generate(&base, 3, "t").unwrap(), generate(&double, 3, "t").unwrap());
    let (ta, tb) = (a.dataset.truth.unwrap(), b.dataset.truth.unwrap());
    for (x, y) in ta.user_latent.iter().zip(&tb.user_latent) {
        assert!((2.0 * x - y).abs() <= 2e-6, "{x} vs {y}");
    }
    assert_ne!(a.dataset.sha256, b.dataset.sha256);
    // In the default world the personal term carries a real share of the within-user variance
    // of the noise-free score (it is what personalised methods can learn): var(a_ui) over the
    // items a user rated, averaged over users, is at least half of var(b_i).
    let w = generate(&WorldConfig::default(), 11, "t").unwrap();
    let t = w.dataset.truth.as_ref().unwrap();
    let mut by_user: Vec<Vec<(f64, f64)>> = vec![Vec::new(); t.user_bias.len()];
    for r in &w.dataset.ratings {
        let bi = t.item_bias[r.item as usize];
        let a = t.score(r.user, r.item) - t.mu - t.user_bias[r.user as usize] - bi;
        by_user[r.user as usize].push((a, bi));
    }
    let var = |xs: &[f64]| {
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64
    };
    let (mut va, mut vb) = (0.0, 0.0);
    for u in &by_user {
        va += var(&u.iter().map(|p| p.0).collect::<Vec<_>>());
        vb += var(&u.iter().map(|p| p.1).collect::<Vec<_>>());
    }
    assert!(va > 0.5 * vb, "var(a_ui) {va} vs var(b_i) {vb}");
}

#[test]
fn support_rest_gives_query_at_random_and_every_other_rating_as_support() {
    use metarec_suites::split::{Protocol, make_split};
    let cfg = WorldConfig { n_users: 120, n_items: 80, min_ratings: 13, max_ratings: 60, ..WorldConfig::default() };
    let w = generate(&cfg, 5, "t").unwrap();
    let protocol = Protocol { support: 3, query: 10, support_rest: true, ..Protocol::default() };
    let s = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &protocol, 9).unwrap();
    let fixed = Protocol { support: 3, query: 10, ..Protocol::default() };
    let f = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &fixed, 9).unwrap();
    assert_ne!(s.sha256, f.sha256);
    for (sc, tasks) in &s.test {
        assert!(!tasks.is_empty(), "{sc}: no tasks");
        for t in tasks {
            assert_eq!(t.query.len(), 10);
            if *sc == Scenario::Warm {
                assert_eq!(t.support.len(), 3, "warm keeps exactly K");
                continue;
            }
            // Support + query are exactly the user's ratings in the task's item state.
            let new_items = matches!(sc, Scenario::ItemCold | Scenario::UserItemCold);
            let mut all: Vec<u32> = w
                .dataset
                .ratings
                .iter()
                .filter(|r| r.user == t.user && w.item_is_new[r.item as usize] == new_items)
                .map(|r| r.item)
                .collect();
            let mut got: Vec<u32> = t.support.iter().chain(&t.query).map(|r| r.item).collect();
            all.sort();
            got.sort();
            assert_eq!(got, all, "{sc} user {}", t.user);
            assert!(t.support.len() >= 3);
        }
    }
    // Validation tasks follow the same rule; meta-train never holds a test or validation user
    // of the cold scenarios.
    assert!(s.validation.iter().all(|t| t.query.len() == 10 && t.support.len() >= 3));
}

#[test]
fn candidates_are_unrated_items_of_the_scenarios_state_and_pools_are_the_unused_ratings() {
    use metarec_suites::split::{Candidates, Protocol, make_split};
    let cfg = WorldConfig { n_users: 120, n_items: 80, min_ratings: 24, max_ratings: 60, ..WorldConfig::default() };
    let w = generate(&cfg, 5, "t").unwrap();
    let plain = Protocol { support: 5, query: 5, ..Protocol::default() };
    let with = Protocol { candidates: Some(Candidates { sampled: 20, k: 5, like: 4.0 }), ..plain.clone() };
    let a = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &plain, 9).unwrap();
    let b = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &with, 9).unwrap();
    let again = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &with, 9).unwrap();
    assert_ne!(a.sha256, b.sha256, "candidates are part of the split's hash");
    assert_eq!(b.sha256, again.sha256);
    let rated: HashSet<(u32, u32)> = w.dataset.ratings.iter().map(|r| (r.user, r.item)).collect();
    let (mut short, mut full) = (0, 0);
    for ((sc, ta), (_, tb)) in a.test.iter().zip(&b.test) {
        let new_items = matches!(sc, Scenario::ItemCold | Scenario::UserItemCold);
        let state = w.item_is_new.iter().filter(|n| **n == new_items).count();
        for (x, y) in ta.iter().zip(tb) {
            // Everything else is the split without candidates.
            assert_eq!((x.user, &x.support, &x.query, &x.pool), (y.user, &y.support, &y.query, &y.pool));
            assert!(x.negatives.is_empty());
            assert!(y.negatives.windows(2).all(|p| p[0] < p[1]), "sorted, distinct");
            for i in &y.negatives {
                assert!(!rated.contains(&(y.user, *i)), "{sc}: user {} rated candidate {i}", y.user);
                assert_eq!(w.item_is_new[*i as usize], new_items, "{sc}: candidate {i} of the wrong item state");
            }
            let unrated = (0..w.item_is_new.len() as u32)
                .filter(|i| w.item_is_new[*i as usize] == new_items && !rated.contains(&(y.user, *i)))
                .count();
            assert_eq!(y.negatives.len(), unrated.min(20), "{sc}: all there are when fewer ({state} in the state)");
            if unrated < 20 {
                short += 1
            } else {
                full += 1
            }
            // The pool: the user's other ratings in the item state, unused by the task (and by
            // meta-training: none for warm tasks, whose rest is the user's history).
            if *sc == Scenario::Warm {
                assert!(y.pool.is_empty());
            } else {
                let mut all: Vec<u32> = w
                    .dataset
                    .ratings
                    .iter()
                    .filter(|r| r.user == y.user && w.item_is_new[r.item as usize] == new_items)
                    .map(|r| r.item)
                    .collect();
                let mut got: Vec<u32> = y.support.iter().chain(&y.query).chain(&y.pool).map(|r| r.item).collect();
                all.sort();
                got.sort();
                assert_eq!(got, all, "{sc} user {}", y.user);
            }
        }
    }
    assert!(full > 0, "{short} {full}");
    assert!(b.validation.iter().all(|t| t.negatives.is_empty()), "validation tasks have no candidates");
    let bad = Protocol { candidates: Some(Candidates { sampled: 0, k: 5, like: 4.0 }), ..plain };
    let e = make_split(&w.dataset, w.user_is_new.clone(), w.item_is_new.clone(), &bad, 9).unwrap_err();
    assert!(e.to_string().starts_with("protocol.candidates.sampled: must be at least 1"), "{e}");
}
