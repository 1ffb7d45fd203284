//! MovieLens objectives (multi-task learning) on the ML-100k fixture: every rating's labels,
//! the sampled unrated items of the `rated` objective, what training may see, the task tree of
//! observable attributes, and bad `[objectives]` named by key.

use metarec_suites::parse_suite;
use metarec_suites::suite::Materialized;
use std::path::Path;

fn testdata(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name).display().to_string()
}

/// The fixture suite with `extra` appended (objectives and candidates).
fn suite(extra: &str) -> Result<Materialized, String> {
    let text = std::fs::read_to_string(testdata("ml-100k-fixture.toml")).unwrap();
    let text = text.replace("warm_fraction = 0.3", "warm_fraction = 0.3\nscenarios = [\"user-cold\"]");
    let text = format!("{text}\n{extra}");
    let s = parse_suite(&text, &testdata("ml-100k-fixture.toml")).map_err(|e| e.to_string())?;
    s.materialize_in(Path::new("/nonexistent-metarec-data")).map_err(|e| e.to_string())
}

const OBJECTIVES: &str = "[objectives]\nnames = [\"rating\", \"liked\", \"rated\"]\nunrated_ratio = 2\n\n\
                          [protocol.candidates]\nsampled = 20\nk = 5\nlike = 4\n";

#[test]
fn movielens_objectives_label_every_rating_and_sampled_unrated_items() {
    let m = suite(OBJECTIVES).unwrap();
    let o = m.objectives.as_ref().unwrap();
    let full = &o.full;
    assert_eq!(full.names, ["rating", "liked", "rated"]);
    for r in &m.dataset.ratings {
        assert_eq!(full.label(r.user, r.item, 0), Some(r.value));
        assert_eq!(full.label(r.user, r.item, 1), Some(if r.value >= 4.0 { 1.0 } else { 0.0 }));
        assert_eq!(full.label(r.user, r.item, 2), Some(1.0));
    }
    let rated = metarec_suites::data::rated_items(m.dataset.features.user_ids.len(), &m.dataset.ratings);
    assert!(!full.unrated.is_empty());
    for (u, i) in &full.unrated {
        assert!(rated[*u as usize].binary_search(i).is_err(), "({u}, {i}) is rated");
        assert_eq!((full.label(*u, *i, 0), full.label(*u, *i, 1), full.label(*u, *i, 2)), (None, None, Some(0.0)));
    }
    // Meta-train users: 2 unrated items per rating, from the meta-training items (all of those
    // the user never rated, when there are fewer).
    let pool: std::collections::BTreeSet<u32> =
        m.split.meta_train.iter().flat_map(|h| h.ratings.iter().map(|r| r.item)).collect();
    let mut capped = 0;
    for h in &m.split.meta_train {
        let mine: Vec<u32> = full.unrated.iter().filter(|p| p.0 == h.user).map(|p| p.1).collect();
        let free = pool.iter().filter(|i| rated[h.user as usize].binary_search(i).is_err()).count();
        assert_eq!(mine.len(), (2 * h.ratings.len()).min(free), "user {}", h.user);
        assert!(mine.iter().all(|i| pool.contains(i)));
        capped += usize::from(free < 2 * h.ratings.len());
    }
    assert!(capped < m.split.meta_train.len(), "every user capped: the test checks no ratio");
    // Test users: exactly their candidate negatives.
    let test = &m.split.test[0].1;
    assert!(!test.is_empty());
    for t in test {
        let mine: Vec<u32> = full.unrated.iter().filter(|p| p.0 == t.user).map(|p| p.1).collect();
        assert_eq!(mine, t.negatives);
    }
    // Training sees neither the test users' ratings nor their unrated items.
    let train = o.for_training(&m.split);
    assert!(!train.unrated.is_empty());
    for t in test {
        assert!(train.unrated.iter().all(|p| p.0 != t.user));
        assert!(t.query.iter().all(|r| train.labels(r.user, r.item).is_none()));
    }
    // Seeded: the same suite samples the same items.
    assert_eq!(suite(OBJECTIVES).unwrap().objectives.unwrap().full.unrated, full.unrated);
}

#[test]
fn the_task_tree_is_gender_then_age_band() {
    let m = suite(OBJECTIVES).unwrap();
    let o = &m.objectives.as_ref().unwrap().full;
    let attr = |name: &str| &m.dataset.user_groups.iter().find(|g| g.0 == name).unwrap().1;
    let (gender, age) = (attr("gender"), attr("age"));
    assert!(o.group_names.len() > 1);
    for u in 0..gender.len() {
        assert_eq!(o.group_names[o.user_group[u] as usize], format!("{}/{}", gender[u], age[u]));
    }
    // `[objectives.tree]` merges leaves into named groups: here by gender.
    let leaves = o.group_names.clone();
    let by = |g: &str| leaves.iter().filter(|l| l.starts_with(g)).map(|l| format!("\"{l}\"")).collect::<Vec<_>>();
    let tree = format!("[objectives.tree]\nwomen = [{}]\nmen = [{}]\n", by("F/").join(", "), by("M/").join(", "));
    let m2 = suite(&format!("{OBJECTIVES}{tree}")).unwrap();
    let o2 = &m2.objectives.as_ref().unwrap().full;
    assert_eq!(o2.group_names, ["men", "women"]);
    for u in 0..gender.len() {
        assert_eq!(o2.group_names[o2.user_group[u] as usize], if gender[u] == "F" { "women" } else { "men" });
    }
}

#[test]
fn bad_movielens_objectives_name_the_key() {
    let e = suite(&OBJECTIVES.replace("\"rated\"]", "\"engagement\"]")).unwrap_err();
    assert!(e.contains("objectives.names[2]: objective `engagement` is not in the data"), "{e}");
    let e = suite(&OBJECTIVES.replace("unrated_ratio = 2", "unrated_ratio = 0")).unwrap_err();
    assert!(e.contains("objectives.unrated_ratio"), "{e}");
    let e = suite(&OBJECTIVES.replace("unrated_ratio = 2", "low_data = \"liked\"")).unwrap_err();
    assert!(e.contains("objectives.low_data"), "{e}");
    let e = suite(&format!("{OBJECTIVES}[objectives.tree]\nall = [\"F/nobody\"]\n")).unwrap_err();
    assert!(e.contains("objectives.tree.all: unknown group `F/nobody`"), "{e}");
}
