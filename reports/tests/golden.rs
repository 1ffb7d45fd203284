//! Golden reports: the reports of a small fixed run (`tests/golden/inputs/`: results.csv,
//! groups.csv, items.csv, candidates.csv, rankings.csv; one suite, three scenarios, five
//! methods, two seeds, ten users, two shot perturbations) must equal, byte for byte, the files
//! in `tests/golden/outputs/` (leaderboard.md, leaderboard.tex, report.html, significance.csv,
//! model-index.yml, figures/*.svg). The provenance and the options are those a run directory's
//! manifest would give. With `METAREC_BLESS=1` the test writes the outputs instead of comparing
//! (and then fails, so that a blessed run is never mistaken for a passing one); every change of
//! a golden file must be listed and justified where it is committed.

use metarec_reports::analysis::leaderboard::{Interval, LeaderboardOptions};
use metarec_reports::doc::Provenance;
use metarec_reports::read::{load_item_side, read_groups};
use metarec_reports::report::{Reports, render_reports};
use metarec_reports::results::read_rows;
use std::path::{Path, PathBuf};

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The provenance of the golden run, as `runner::provenance_for_reports` reads it from a manifest.
fn provenance() -> Provenance {
    Provenance {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        dirty: false,
        config_hash: "c0ffee".repeat(10) + "c0ff",
        data_hashes: vec![("synthetic".into(), "ab".repeat(32))],
        run_id: "golden".into(),
    }
}

/// The method kinds of the registry: the oracle is a bound, item-mean and global-mean baselines.
fn options() -> LeaderboardOptions {
    LeaderboardOptions {
        reference_methods: vec!["oracle".into()],
        baseline_methods: vec!["global-mean".into(), "item-mean".into()],
        // as `metarec::report` builds them: the interval over users and seeds, and what each
        // method's MAE scored (the oracle its median, the others their mean)
        interval: Interval::UsersAndSeeds,
        mae_scored: [("oracle", "median"), ("global-mean", "mean"), ("item-mean", "mean"), ("maml", "mean")]
            .iter()
            .map(|(m, e)| (m.to_string(), e.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// The reports of the golden inputs; the clean run has K = 10 support ratings in every scenario.
fn reports() -> Reports {
    let inputs = golden().join("inputs");
    let rows = read_rows(&inputs.join("results.csv")).unwrap();
    let groups = read_groups(&inputs.join("groups.csv")).unwrap();
    let item_side = load_item_side(&inputs).unwrap();
    assert!(item_side.is_some(), "the golden inputs hold items.csv, candidates.csv and rankings.csv");
    render_reports(
        &rows,
        Some(&groups),
        item_side.as_ref(),
        &provenance(),
        &options(),
        &|_, _| Some(10),
        &Default::default(),
    )
    .unwrap()
}

/// Every rendered file as (path relative to the outputs folder, bytes).
fn rendered() -> Vec<(String, Vec<u8>)> {
    let r = reports();
    let mut files: Vec<(String, Vec<u8>)> = r.files.into_iter().map(|(n, b)| (n.to_string(), b)).collect();
    files.extend(r.figures.into_iter().map(|f| (format!("figures/{}", f.name), f.svg.into_bytes())));
    files
}

/// The first line where `got` and `want` differ, for the failure message.
fn first_difference(got: &[u8], want: &[u8]) -> String {
    let (got, want) = (String::from_utf8_lossy(got), String::from_utf8_lossy(want));
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if g != w {
            return format!("line {}:\n  got:  {g}\n  want: {w}", i + 1);
        }
    }
    format!("one is a prefix of the other ({} against {} lines)", got.lines().count(), want.lines().count())
}

#[test]
fn reports_equal_the_golden_files() {
    let outputs = golden().join("outputs");
    let files = rendered();
    if std::env::var_os("METAREC_BLESS").is_some_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&outputs);
        for (name, bytes) in &files {
            let path = outputs.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        panic!("METAREC_BLESS=1: wrote {} golden files to {}; run again without it", files.len(), outputs.display());
    }
    let mut figures: Vec<String> = std::fs::read_dir(outputs.join("figures"))
        .unwrap()
        .map(|e| format!("figures/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    figures.sort();
    let mut rendered_figures: Vec<String> =
        files.iter().filter(|(n, _)| n.starts_with("figures/")).map(|(n, _)| n.clone()).collect();
    rendered_figures.sort();
    assert_eq!(rendered_figures, figures, "the figures rendered and the golden figures differ");
    assert!(figures.iter().any(|f| f.contains("shot-curve")) && figures.iter().any(|f| f.contains("group-gap")));
    for (name, bytes) in &files {
        let want = std::fs::read(outputs.join(name)).unwrap();
        assert!(*bytes == want, "{name} differs from its golden copy at {}", first_difference(bytes, &want));
    }
}

#[test]
fn golden_inputs_are_small() {
    let inputs = golden().join("inputs");
    let total: u64 = std::fs::read_dir(&inputs).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(total < 400_000, "golden inputs are {total} bytes");
}
