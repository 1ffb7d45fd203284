//! Real suites whichever way their data came: ML-100k from GroupLens's files or from RecBole's
//! atomic files gives the same dataset and split; MeLU's split runs as a suite. (On fixtures of
//! our own: the real files are pinned in the data store and never committed.)

use metarec_suites::parse_suite;
use metarec_suites::suite::Materialized;
use std::path::Path;

fn testdata(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name).display().to_string()
}

/// Asserts that two materialized suites have the same dataset (but its hash) and split.
fn assert_same_suite(a: &Materialized, b: &Materialized) {
    assert_eq!(a.dataset.ratings, b.dataset.ratings);
    let (fa, fb) = (&a.dataset.features, &b.dataset.features);
    assert_eq!((&fa.user_cat, &fa.item_cat, &fa.item_num), (&fb.user_cat, &fb.item_cat, &fb.item_num));
    assert_eq!((&fa.schema, &fa.user_ids, &fa.item_ids), (&fb.schema, &fb.user_ids, &fb.item_ids));
    assert_eq!(a.dataset.user_groups, b.dataset.user_groups);
    assert_eq!(a.split.sha256, b.split.sha256);
}

#[test]
fn ml100k_official_and_recbole_files_give_the_same_suite() {
    let text = std::fs::read_to_string(testdata("ml-100k-fixture.toml")).unwrap();
    let official = parse_suite(&text, &testdata("ml-100k-fixture.toml")).unwrap();
    // The same suite over the RecBole form of the same fixture (its folder hash differs).
    let recbole_text: String = text
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| if l.starts_with("path") { "path = \"ml-100k-recbole\"" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let recbole = parse_suite(&recbole_text, &testdata("ml-100k-fixture.toml")).unwrap();
    let nowhere = Path::new("/nonexistent-metarec-data");
    let (a, b) = (official.materialize_in(nowhere).unwrap(), recbole.materialize_in(nowhere).unwrap());
    assert_same_suite(&a, &b);
    assert!(!a.split.test.iter().all(|(_, t)| t.is_empty()));
    // The install is recorded: here the `data.path` folder and its hash.
    let install = |m: &Materialized| m.load_report.as_ref().unwrap()["install"].clone();
    assert_eq!(install(&a)["route"].as_str(), Some("path"));
    assert!(install(&b)["source"].as_str().unwrap().ends_with("ml-100k-recbole"));
    assert_ne!(a.dataset.sha256, b.dataset.sha256);
}

#[test]
fn melu_split_runs_as_a_suite_and_records_its_route() {
    let text = metarec_suites::suite::EMBEDDED.iter().find(|e| e.0 == "melu-ml1m").unwrap().2;
    let text = text
        .replace("seed = 20190804", &format!("seed = 5\npath = {:?}", testdata("melu-ml1m")))
        .replace("min_ratings = 13", "min_ratings = 4")
        .replace("max_ratings = 100", "max_ratings = 6")
        .replace("query = 10\nfallback", "query = 2\nfallback")
        .replace("query = 10\nvalidation", "query = 2\nvalidation");
    let suite = parse_suite(&text, "suites/melu-ml1m.toml").unwrap();
    let m = suite.materialize_in(Path::new("/nonexistent-metarec-data")).unwrap();
    let report = m.load_report.unwrap();
    assert_eq!(report["route"].as_str(), Some("user-cold-portion"));
    assert!(report["warnings"].as_array().unwrap()[0].as_str().unwrap().contains("warm_state.json"));
    let sizes: Vec<(&str, usize)> = m.split.test.iter().map(|(s, t)| (s.name(), t.len())).collect();
    assert_eq!(sizes.iter().map(|s| s.0).collect::<Vec<_>>(), ["user-cold", "item-cold", "user-item-cold"]);
    assert_eq!(sizes[1].1, 4);
    assert_eq!(m.split.meta_train.len() + m.split.validation.len(), 2);
    // A bad `[melu]` value is refused by name.
    let bad = text.replace("fallback_train_fraction = 0.5", "fallback_train_fraction = 1.5");
    let err = parse_suite(&bad, "suites/melu-ml1m.toml").unwrap_err().to_string();
    assert!(err.contains("melu.fallback_train_fraction"), "{err}");
}

/// A `kind = "recbole"` suite over the RecBole fixture, mapped as the ML-100k loader maps it.
fn recbole_suite(pins: [&str; 3]) -> String {
    format!(
        r#"
[suite]
name = "recbole-fixture"
seeds = [0]
[data]
kind = "recbole"
seed = 7
path = {path:?}
[real]
expect_counts = {{ ratings = 1468, users = 30, items = 150 }}
[recbole]
dataset = "ml-100k"
files = {{ inter = "{i}", user = "{u}", item = "{t}" }}
user = "user_id"
item = "item_id"
rating = "rating"
time = "timestamp"
rating_scale = [1.0, 5.0]
year = "release_year"
title = "movie_title"
groups = ["gender", "age", "occupation"]
user_features = [
  {{ column = "gender" }},
  {{ column = "age", transform = "age-bucket" }},
  {{ column = "occupation" }},
  {{ column = "zip_code", name = "zip", transform = "zip-region" }},
]
item_features = [
  {{ column = "class", name = "genre", kind = "first" }},
  {{ column = "release_year", name = "decade", transform = "decade" }},
  {{ column = "release_year", name = "year", kind = "number" }},
  {{ column = "class", name = "genre", kind = "flags", values = ["unknown", "Action", "Adventure", "Animation",
     "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical",
     "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"] }},
]
[protocol]
support = 3
support_rest = true
query = 5
validation_fraction = 0.2
warm_fraction = 0.3
"#,
        path = testdata("ml-100k-recbole"),
        i = pins[0],
        u = pins[1],
        t = pins[2]
    )
}

fn fixture_pins() -> [String; 3] {
    ["inter", "user", "item"].map(|e| {
        metarec_suites::store::sha256_file(&Path::new(&testdata("ml-100k-recbole")).join(format!("ml-100k.{e}")))
            .unwrap()
            .0
    })
}

#[test]
fn a_recbole_suite_maps_columns_and_checks_every_pin() {
    let pins = fixture_pins();
    let text = recbole_suite([&pins[0], &pins[1], &pins[2]]);
    let suite = parse_suite(&text, "recbole-fixture.toml").unwrap();
    let nowhere = Path::new("/nonexistent-metarec-data");
    let m = suite.materialize_in(nowhere).unwrap();
    // Mapped like the ML-100k loader maps the same data: the same dataset (but its name).
    let official = std::fs::read_to_string(testdata("ml-100k-fixture.toml")).unwrap();
    let a = parse_suite(&official, &testdata("ml-100k-fixture.toml")).unwrap().materialize_in(nowhere).unwrap();
    assert_same_suite(&a, &m);
    assert_eq!(m.dataset.name, "ml-100k");

    // A file that is not the pinned one is named, with both hashes.
    let wrong = "0".repeat(64);
    let text = recbole_suite([&pins[0], &wrong, &pins[2]]);
    let err = parse_suite(&text, "recbole-fixture.toml").unwrap().materialize_in(nowhere).unwrap_err().to_string();
    assert!(err.contains("ml-100k.user") && err.contains(&pins[1]) && err.contains(&wrong), "{err}");
    // Bad mappings are refused by key when the suite is parsed.
    let text = recbole_suite([&pins[0], &pins[1], &pins[2]]).replace("groups = [\"gender\"", "groups = [\"colour\"");
    let err = parse_suite(&text, "recbole-fixture.toml").unwrap_err().to_string();
    assert!(err.contains("recbole.groups: `colour`"), "{err}");
    let text = recbole_suite(["abc", &pins[1], &pins[2]]);
    let err = parse_suite(&text, "recbole-fixture.toml").unwrap_err().to_string();
    assert!(err.contains("recbole.files.inter = `abc`"), "{err}");
}

#[test]
fn a_recbole_folder_registered_in_the_data_store_loads_by_name() {
    let pins = fixture_pins();
    let data = std::env::temp_dir().join(format!("metarec-recbole-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let installed =
        metarec_suites::store::add(&data, "ml-100k", Path::new(&testdata("ml-100k-recbole")), None).unwrap();
    assert_eq!(installed.route, "recbole-folder");
    let text = recbole_suite([&pins[0], &pins[1], &pins[2]])
        .replace(&format!("path = {:?}\n", testdata("ml-100k-recbole")), "");
    let m = parse_suite(&text, "recbole-fixture.toml").unwrap().materialize_in(&data).unwrap();
    assert_eq!(m.dataset.ratings.len(), 1329);
    let install = &m.load_report.as_ref().unwrap()["install"];
    assert_eq!(install["route"].as_str(), Some("recbole-folder"));
    assert_eq!(install["members"]["ml-100k.inter"].as_str(), Some(pins[0].as_str()));
    let _ = std::fs::remove_dir_all(&data);
}
