//! The Open Bandit Dataset sample end to end, in CI: obp 0.4.1's PyPI wheel (`.ci/run` fetches
//! it with `pip download --no-deps --only-binary=:all: --python-version 3.10 obp==0.4.1` and
//! passes its path in `METAREC_OBP_WHEEL`) is installed with `cargo xtask data add open-bandit`
//! (a truncated copy first, which must be refused naming the file and both hashes, leaving
//! nothing installed), then `cargo xtask bench --suite open-bandit` runs the embedded suite. The
//! test checks the logs as read (10,000 rounds each; 38 clicks in random/all and 42 in bts/all,
//! counted from the CSV files independently), the pins in the manifest, that IPW and SNIPW of
//! the uniform policy on the uniform logs equal their on-policy mean exactly, that every
//! interval contains its bootstrap mean, and that the "Off-policy estimates" section renders in
//! Markdown, LaTeX and HTML.
//!
//! Like `real_data.rs`, this binary has no libtest harness: without the wheel it says NOT RUN,
//! and with `METAREC_REQUIRE_TOOLS=1` (set by `.ci/run`) a missing wheel is a failure.

mod common;

use common::{check, text, verdict, xtask};
use std::path::Path;

const WHEEL: &str = "obp-0.4.1-py3-none-any.whl";
/// The wheel's SHA-256 as PyPI publishes it.
const WHEEL_SHA256: &str = "87dec9caf4283c25ab13036532e0a24566f1c7bdcad1653a8ded43b2f5ef8208";

fn run(wheel: &Path) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("metarec-open-bandit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let data = dir.join("data");
    let out = dir.join("run");
    let (d, w) = (data.to_str().unwrap(), wheel.to_str().unwrap());
    // A truncated copy: refused, naming the file and both hashes; nothing installed.
    let bytes = std::fs::read(wheel).map_err(|e| e.to_string())?;
    let cut = dir.join(WHEEL);
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).map_err(|e| e.to_string())?;
    let o = xtask(&["data", "--data-dir", d, "add", "open-bandit", cut.to_str().unwrap()]);
    let msg = text(&o);
    check(!o.status.success(), "a truncated wheel was accepted")?;
    check(msg.contains(cut.to_str().unwrap()) && msg.contains(WHEEL_SHA256), &format!("wrong-hash message: {msg}"))?;
    check(!data.join("open-bandit").exists(), "a refused wheel left files behind")?;

    let o = xtask(&["data", "--data-dir", d, "add", "open-bandit", w]);
    check(o.status.success(), &format!("data add open-bandit {w} failed:\n{}", text(&o)))?;
    let o = xtask(&["bench", "--suite", "open-bandit", "--data-dir", d, "--out", out.to_str().unwrap()]);
    check(o.status.success(), &format!("bench --suite open-bandit failed:\n{}", text(&o)))?;

    // The logs as read, against clicks counted here from the installed CSV files.
    let root = data.join("open-bandit/extracted/obp/dataset/obd");
    let clicks = |b: &str| -> Result<i64, String> {
        let csv = std::fs::read_to_string(root.join(b).join("all/all.csv")).map_err(|e| e.to_string())?;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let col = header.iter().position(|h| *h == "click").ok_or("no click column")?;
        Ok(lines.map(|l| i64::from(l.split(',').nth(col) == Some("1"))).sum())
    };
    let (random_clicks, bts_clicks) = (clicks("random")?, clicks("bts")?);
    check((random_clicks, bts_clicks) == (38, 42), &format!("clicks counted: {random_clicks}, {bts_clicks}"))?;
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).map_err(|e| e.to_string())?;
    let m: toml::Table = toml::from_str(&manifest).map_err(|e| e.to_string())?;
    let info = &m["data"].as_array().ok_or("no [[data]]")?[0];
    check(info["sha256"].as_str() == Some(WHEEL_SHA256), &format!("data sha256 {:?}", info.get("sha256")))?;
    let report = &info["load_report"];
    check(report["install"]["route"].as_str() == Some("obp-wheel"), "install route")?;
    check(report["install"]["members"].as_table().is_some_and(|t| t.len() == 13), "member hashes")?;
    for (key, want) in [("behavior", random_clicks), ("on_policy", bts_clicks)] {
        check(report[key]["rounds"].as_integer() == Some(10_000), &format!("{key}: rounds"))?;
        check(report[key]["clicks"].as_integer() == Some(want), &format!("{key}: clicks"))?;
    }

    // off-policy.csv: every policy x estimator, the on-policy rows, intervals around their means.
    let csv = std::fs::read_to_string(out.join("off-policy.csv")).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    check(rows.len() == 4 * 4 + 2, &format!("{} rows in off-policy.csv", rows.len()))?;
    let value = |policy: &str, estimator: &str| -> Result<f64, String> {
        let r = rows.iter().find(|r| r[3] == policy && r[4] == estimator).ok_or(format!("no {policy}/{estimator}"))?;
        r[5].parse::<f64>().map_err(|e| e.to_string())
    };
    check(value("bts", "on-policy")? == bts_clicks as f64 / 10_000.0, "on-policy of bts/all")?;
    let random_on = value("random", "on-policy")?;
    check(random_on == random_clicks as f64 / 10_000.0, "on-policy of random/all")?;
    for e in ["ipw", "snipw"] {
        check((value("random", e)? - random_on).abs() < 1e-12, &format!("{e} of the uniform policy"))?;
    }
    for r in &rows {
        let v: Vec<f64> = r[5..9].iter().map(|x| x.parse().unwrap_or(f64::NAN)).collect();
        check(v[2] <= v[1] && v[1] <= v[3], &format!("interval of {r:?}"))?;
    }
    let bts_ipw = value("bts", "ipw")?;
    println!("bts on random/all: ipw {bts_ipw} (obp's quickstart: 0.004553)");

    let md = std::fs::read_to_string(out.join("leaderboard.md")).map_err(|e| e.to_string())?;
    let tex = std::fs::read_to_string(out.join("leaderboard.tex")).map_err(|e| e.to_string())?;
    let html = std::fs::read_to_string(out.join("report.html")).map_err(|e| e.to_string())?;
    check(md.contains("## Off-policy estimates") && md.contains("0.004553"), "leaderboard.md: off-policy section")?;
    check(tex.contains("Off-policy estimates") && html.contains("Off-policy estimates"), "tex/html section")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn main() {
    let how = "pip download --no-deps --only-binary=:all: --python-version 3.10 obp==0.4.1";
    verdict("open-bandit", "METAREC_OBP_WHEEL", WHEEL, how, run);
}
