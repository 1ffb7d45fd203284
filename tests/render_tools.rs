//! The reports as outside tools meet them: `leaderboard.tex` compiles unchanged with pdflatex,
//! and `report.html` opens in headless Chromium with no console message. Both are built as
//! `write_reports` builds them ([`render_documents`]), with the fairness section, the robustness
//! section and their figures (shot curves, group gaps).
//!
//! This test binary has no libtest harness (`harness = false` in Cargo.toml), so what it prints
//! is never captured: when pdflatex or Chromium is missing it says so on the test output, in
//! capitals, instead of passing silently. With `METAREC_REQUIRE_TOOLS=1` (set by `.ci/run`,
//! which installs both from Debian's packages) a missing tool is a failure.

use metarec::report::{Documents, render_documents};
use metarec_reports::ResultRow;
use metarec_reports::analysis::leaderboard::LeaderboardOptions;
use metarec_reports::analysis::reproduction::{Published, PublishedValue};
use metarec_reports::build::RunNotes;
use metarec_reports::build::run_notes::{SkippedMethod, TunedMethod, Tuning, TuningRecord};
use metarec_reports::doc::Provenance;
use metarec_reports::read::{CandidateRow, GroupRow, ItemRow, ItemSideData, RankingRow};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The perturbations of [`rows`] with the change they make to every value: the shot curve
/// (K = 1 and 5 against the clean K = 10) and noisy support labels.
const PERTURBATIONS: [(&str, f64); 4] =
    [("none", 0.0), ("shots(1)", 0.15), ("shots(5)", 0.05), ("label-noise(random;0.2;support)", 0.03)];

/// The clean run's number of support ratings of [`rows`].
const CLEAN_K: usize = 10;

/// A small but complete results table: three scenarios, three metrics, five methods (one a
/// bound, one with LaTeX-special characters in its name), three seeds, 25 users, each clean and
/// under the [`PERTURBATIONS`].
fn rows() -> Vec<ResultRow> {
    let mut rows = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let methods = [("oracle", 0.0), ("maml", 0.1), ("meta_sgd & co", 0.12), ("item-mean", 0.2), ("global-mean", 0.3)];
    for scenario in ["warm", "user-cold", "item-cold"] {
        for (method, offset) in methods {
            for seed in 0..3u64 {
                for user in 0..25u64 {
                    for (metric, base) in [("mae", 0.6), ("rmse", 0.8), ("ndcg@3", 0.9)] {
                        for (perturbation, worse) in PERTURBATIONS {
                            // the oracle does not use the support set
                            let worse = if method == "oracle" { 0.0 } else { worse };
                            let noise = 0.1 * next();
                            let value = if metric == "ndcg@3" {
                                base - offset / 2.0 + noise / 2.0 - worse / 2.0
                            } else {
                                base + offset + noise + worse
                            };
                            rows.push(ResultRow {
                                suite: "synthetic".into(),
                                scenario: scenario.into(),
                                method: method.into(),
                                seed,
                                perturbation: perturbation.into(),
                                user,
                                metric: metric.into(),
                                value,
                            });
                        }
                    }
                }
            }
        }
    }
    rows
}

/// The 25 users of [`rows`] by gender (2 groups) and age (3 groups).
fn groups() -> Vec<GroupRow> {
    let group = |user: u64, attribute: &str, group: String| GroupRow {
        suite: "synthetic".into(),
        user,
        attribute: attribute.into(),
        group,
    };
    (0..25u64)
        .flat_map(|u| {
            let gender = if u % 2 == 0 { "F" } else { "M" };
            [group(u, "gender", gender.into()), group(u, "age", format!("age {}", u % 3))]
        })
        .collect()
}

/// Top-5 lists of the methods of [`rows`] over 15 candidates per user among 40 items (item `i`
/// has `40 - i` meta-train ratings), so that the item-side section has every column.
fn item_side() -> ItemSideData {
    let suite = || "synthetic".to_string();
    let items = (0..40u64).map(|item| ItemRow { suite: suite(), item, ratings: 40 - item }).collect();
    let (mut candidates, mut rankings) = (Vec::new(), Vec::new());
    let methods = ["oracle", "maml", "meta_sgd & co", "item-mean", "global-mean"];
    for scenario in ["warm", "user-cold", "item-cold"] {
        for user in 0..25u64 {
            let cands: Vec<u64> = (0..15).map(|j| (user + 2 * j) % 40).collect();
            candidates.push(CandidateRow {
                suite: suite(),
                scenario: scenario.into(),
                user,
                candidates: cands.clone(),
                relevant: cands[..3].to_vec(),
            });
            for (m, method) in methods.iter().enumerate() {
                for seed in 0..3u64 {
                    let top = (0..5).map(|j| cands[(j * (m + 1) + seed as usize) % 15]).collect();
                    rankings.push(RankingRow {
                        suite: suite(),
                        scenario: scenario.into(),
                        method: method.to_string(),
                        seed,
                        perturbation: "none".into(),
                        user,
                        top,
                    });
                }
            }
        }
    }
    ItemSideData { items, candidates, rankings }
}

/// What a manifest adds: a method not run and published values beside ours (one that the run
/// has, one that it has not), with LaTeX-special characters in the prose.
fn notes() -> RunNotes {
    let value = |method: &str, v: f64| PublishedValue {
        method: method.into(),
        label: "MAML_1 & co".into(),
        scenario: "warm".into(),
        metric: "mae".into(),
        value: v,
    };
    RunNotes {
        skipped: vec![SkippedMethod {
            suite: "synthetic".into(),
            method: "meta_sgd & co".into(),
            reason: "needs 100% of the truth_table; #1 reason".into(),
        }],
        published: vec![Published {
            suite: "synthetic".into(),
            source: "Doe & Roe 2020, Table_2 (50% of #users)".into(),
            notes: vec!["Differs: {braces}, ~tilde, ^caret, $dollar.".into()],
            values: vec![value("maml", 0.75), value("reptile", 0.7)],
        }],
        tuning: Some(Tuning {
            records: vec![TuningRecord {
                from: "the [methods] tables of suite file `suites/synthetic.toml`".into(),
                changed: vec!["maml".into()],
                suite: "synthetic".into(),
                seed: 0,
                trials: 8,
                validation_users: 90,
                methods: vec![TunedMethod {
                    name: "maml".into(),
                    trials: 8,
                    space: vec!["inner_lr [1e-3, 5e-1] log".into(), "loss {cross-entropy, both}".into()],
                    chosen: "inner_lr = 0.0123, loss = \"both\"".into(),
                    untuned_rmse: Some(0.95),
                    chosen_rmse: Some(0.93),
                }],
            }],
            methods: vec!["maml".into(), "meta_sgd & co".into()],
        }),
        ..RunNotes::default()
    }
}

/// The reports of [`rows`] as `write_reports` builds them.
fn documents() -> Documents {
    let item_side = item_side();
    render_documents(
        &rows(),
        Some(&groups()),
        Some(&item_side),
        &provenance(),
        &options(),
        &|_, _| Some(CLEAN_K),
        &[],
        &notes(),
    )
}

fn provenance() -> Provenance {
    Provenance {
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        dirty: true,
        config_hash: "c0ffee".repeat(10) + "c0ff",
        data_hashes: vec![("synthetic".into(), "ab".repeat(32))],
        run_id: "render_tools_run".into(),
    }
}

fn options() -> LeaderboardOptions {
    LeaderboardOptions {
        reference_methods: vec!["oracle".into()],
        baseline_methods: vec!["item-mean".into(), "global-mean".into()],
        ..Default::default()
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metarec-render-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Outcome of one check.
enum Outcome {
    Passed(String),
    Failed(String),
    ToolMissing(String),
}

fn check_pdflatex() -> Outcome {
    let Some(pdflatex) = which("pdflatex") else {
        return Outcome::ToolMissing(
            "pdflatex not found: leaderboard.tex was NOT compiled (Debian: apt-get install texlive-latex-base \
             texlive-latex-recommended)"
                .into(),
        );
    };
    let dir = work_dir("latex");
    let tex = documents().latex;
    for section in [
        "\\section*{Fairness}",
        "\\section*{Robustness}",
        "\\texttt{shots(1)}",
        "\\section*{Methods not run}",
        "\\section*{Published results beside ours}",
    ] {
        if !tex.contains(section) {
            return Outcome::Failed(format!("leaderboard.tex lacks `{section}`"));
        }
    }
    std::fs::write(dir.join("leaderboard.tex"), &tex).unwrap();
    let out = Command::new(pdflatex)
        .args(["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "leaderboard.tex"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    let pdf = dir.join("leaderboard.pdf");
    if !out.status.success() || !pdf.is_file() {
        let tail: Vec<&str> = log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        return Outcome::Failed(format!(
            "pdflatex failed on {}:\n{}",
            dir.join("leaderboard.tex").display(),
            tail.join("\n")
        ));
    }
    // Undefined references or missing characters are warnings pdflatex survives; we do not.
    for bad in ["Undefined control sequence", "Missing character", "LaTeX Warning: Reference", "Overfull \\hbox"] {
        if log.contains(bad) {
            return Outcome::Failed(format!("pdflatex log of {} contains `{bad}`", dir.display()));
        }
    }
    let size = std::fs::metadata(&pdf).unwrap().len();
    let _ = std::fs::remove_dir_all(&dir);
    let tables = tex.matches("\\begin{longtable}").count();
    Outcome::Passed(format!(
        "leaderboard.tex with fairness and robustness sections compiled with pdflatex ({tables} tables, {size} \
         byte PDF)"
    ))
}

fn check_chromium() -> Outcome {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(which) else {
        return Outcome::ToolMissing(
            "Chromium not found: report.html was NOT opened in a browser (Debian: apt-get install chromium)".into(),
        );
    };
    let dir = work_dir("html");
    let docs = documents();
    let html = docs.html;
    let shot_curves = docs.figures.iter().filter(|f| f.name.starts_with("shot-curve-")).count();
    let group_gaps = docs.figures.iter().filter(|f| f.name.starts_with("group-gap-")).count();
    // 3 scenarios x 3 metrics shot curves; 2 attributes x 3 scenarios x 3 metrics group gaps
    if (shot_curves, group_gaps) != (9, 18) || docs.figures.iter().any(|f| !html.contains(&f.svg)) {
        return Outcome::Failed(format!(
            "expected 9 shot curves and 18 group gaps, all inline in report.html; got {shot_curves} and {group_gaps}"
        ));
    }
    for section in ["<section class=\"fairness\">", "<section class=\"robustness\">", "\">Shot curves</h3>"] {
        if !html.contains(section) {
            return Outcome::Failed(format!("report.html lacks `{section}`"));
        }
    }
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    // Flags as this workplace's machines need them: no sandbox as root, no GPU, and no
    // background networking (a closed network otherwise fills the log with refused connections).
    let out = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Outcome::Failed(format!("{} exited with {}:\n{log}", chromium.display(), out.status));
    }
    // Console messages (errors, warnings, uncaught exceptions) are logged as `:CONSOLE`.
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    if !console.is_empty() {
        return Outcome::Failed(format!("console messages on {}:\n{}", page.display(), console.join("\n")));
    }
    let svgs = dom.matches("<svg").count();
    if svgs != html.matches("<svg").count() || svgs == 0 || !dom.contains("</html>") {
        return Outcome::Failed(format!("the rendered DOM of {} lost content ({svgs} svg)", page.display()));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Outcome::Passed(format!(
        "report.html opened in headless Chromium: no console message, {svgs} SVG figures ({shot_curves} shot \
         curves, {group_gaps} group gaps)"
    ))
}

fn main() {
    let require = std::env::var_os("METAREC_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    let checks: Vec<(&str, fn() -> Outcome)> = vec![("pdflatex", check_pdflatex), ("chromium", check_chromium)];
    let mut failed = 0;
    println!("\nrunning {} external-tool checks", checks.len());
    for (name, check) in checks {
        match check() {
            Outcome::Passed(msg) => println!("check {name} ... ok: {msg}"),
            Outcome::Failed(msg) => {
                failed += 1;
                println!("check {name} ... FAILED: {msg}");
            }
            Outcome::ToolMissing(msg) if require => {
                failed += 1;
                println!("check {name} ... FAILED (METAREC_REQUIRE_TOOLS=1): {msg}");
            }
            Outcome::ToolMissing(msg) => println!("check {name} ... NOT RUN: {msg}"),
        }
    }
    if failed > 0 {
        println!("external-tool checks: {failed} FAILED\n");
        std::process::exit(1);
    }
    println!("external-tool checks: done\n");
}
