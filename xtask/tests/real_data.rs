//! Real data end to end, in CI: MovieLens-100k from RecBole's PyPI wheel (`.ci/run` fetches it
//! with `pip download --no-deps recbole==1.2.1` and passes its path in
//! `METAREC_RECBOLE_WHEEL`). The wheel is installed with `cargo xtask data add`, every default
//! method is benched on the `movielens-100k` suite with small step budgets
//! (`suites/testdata/ci-small-budgets.toml`), and the test checks the counts of the data as read
//! (100,000 ratings, 943 users, 1,682 items), the pins in the manifest, that the oracle is skipped
//! with its reason rather than failed, that every trainable method chose a step above 0, and that
//! every report section renders in Markdown, LaTeX and HTML.
//!
//! Like `tests/render_tools.rs`, this binary has no libtest harness, so its verdict is printed,
//! never captured: without the wheel it says NOT RUN, and with `METAREC_REQUIRE_TOOLS=1` (set by
//! `.ci/run`) a missing wheel is a failure.

mod common;

use common::{check, text, verdict, xtask};
use std::path::Path;

/// The pinned wheel (its SHA-256 is checked again by `data add`).
const WHEEL: &str = "recbole-1.2.1-py3-none-any.whl";
/// The wheel's SHA-256 as PyPI publishes it.
const WHEEL_SHA256: &str = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407";
/// The atomic files inside it, as pinned in `suites/src/store.rs`.
const MEMBERS: [(&str, &str); 3] = [
    ("ml-100k.inter", "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
    ("ml-100k.user", "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"),
    ("ml-100k.item", "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
];

fn run(wheel: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("metarec-real-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let data = dir.join("data");
    let out = dir.join("run");
    let (d, w) = (data.to_str().unwrap(), wheel.to_str().unwrap());
    let o = xtask(&["data", "--data-dir", d, "add", "movielens-100k", w]);
    check(o.status.success(), &format!("data add movielens-100k {w} failed:\n{}", text(&o)))?;
    let o = xtask(&[
        "bench",
        "--suite",
        "movielens-100k",
        "--data-dir",
        d,
        "--seeds",
        "0",
        "--config",
        "suites/testdata/ci-small-budgets.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    check(o.status.success(), &format!("bench --suite movielens-100k failed:\n{}", text(&o)))?;
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).map_err(|e| e.to_string())?;
    let m: toml::Table = toml::from_str(&manifest).map_err(|e| e.to_string())?;
    let info = &m["data"].as_array().ok_or("no [[data]]")?[0];
    let before = &info["load_report"]["before_filter"];
    for (key, want) in [("ratings", 100_000), ("users", 943), ("items", 1682)] {
        check(before[key].as_integer() == Some(want), &format!("{key} read: {:?}, want {want}", before.get(key)))?;
    }
    // The pins in the manifest: the wheel's published SHA-256 as the dataset hash, the route,
    // and the hashes of the three atomic files read.
    check(info["sha256"].as_str() == Some(WHEEL_SHA256), &format!("data sha256 {:?}", info.get("sha256")))?;
    let install = &info["load_report"]["install"];
    check(install["route"].as_str() == Some("recbole-wheel"), &format!("install route {:?}", install.get("route")))?;
    let members = install["members"].as_table().ok_or("no member hashes in the manifest")?;
    for (file, pin) in MEMBERS {
        check(members.get(file).and_then(|v| v.as_str()) == Some(pin), &format!("{file}: {:?}", members.get(file)))?;
    }
    // The oracle is skipped with its reason; every other default method ran, and every
    // trainable one chose a step above 0 on the variable-size validation tasks.
    let skipped = m["skipped"].as_array().ok_or("no [[skipped]]")?;
    check(skipped.iter().any(|s| s["method"].as_str() == Some("oracle")), "the oracle is not listed as skipped")?;
    let cells = m["cells"].as_array().ok_or("no [[cells]]")?;
    let methods = m["spec"]["suites"][0]["methods"].as_array().ok_or("no methods in the spec")?;
    check(methods.len() >= 12, &format!("only {} default methods in the spec", methods.len()))?;
    for method in methods {
        let name = method["name"].as_str().ok_or("a method without a name")?;
        let Some(cell) = cells.iter().find(|c| c["method"].as_str() == Some(name)) else {
            check(name == "oracle", &format!("no cell for default method {name}"))?;
            continue;
        };
        check(cell["status"].as_str() == Some("ok"), &format!("{name}: {:?}", cell.get("error")))?;
        if let Some(step) = cell.get("chosen_step").and_then(|s| s.as_integer()) {
            check(step > 0, &format!("{name}: early stopping chose step {step}"))?;
        }
    }
    // Every report section, in every format.
    let md = std::fs::read_to_string(out.join("leaderboard.md")).map_err(|e| e.to_string())?;
    let tex = std::fs::read_to_string(out.join("leaderboard.tex")).map_err(|e| e.to_string())?;
    let html = std::fs::read_to_string(out.join("report.html")).map_err(|e| e.to_string())?;
    for section in ["Average ranks", "Win/tie/loss", "Methods not run", "Fairness", "Item-side fairness", "Robustness"]
    {
        check(md.contains(&format!("## {section}")), &format!("leaderboard.md lacks the section {section}"))?;
        check(tex.contains(section), &format!("leaderboard.tex lacks the section {section}"))?;
        check(html.contains(section), &format!("report.html lacks the section {section}"))?;
    }
    for scenario in ["warm", "user-cold", "item-cold", "user-item-cold"] {
        check(md.contains(&format!("### movielens-100k / {scenario}")), &format!("no {scenario} leaderboard"))?;
    }
    for metric in ["mae", "rmse", "ndcg@1", "ndcg@3", "auc", "cand-hr@10"] {
        check(md.contains(&format!("#### {metric} (")), &format!("no {metric} table"))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    verdict("movielens-100k", "METAREC_RECBOLE_WHEEL", WHEEL, "pip download --no-deps recbole==1.2.1", run);
}
