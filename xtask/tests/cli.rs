//! The command line as a user meets it: listings, one-line errors with non-zero exit codes,
//! and a bench killed midway that resumes to the results of an uninterrupted run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    c
}

fn run(args: &[&str]) -> Output {
    xtask().args(args).output().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metarec-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The command's stderr without the stale-binary warning (`provenance::stale_binary_warning`),
/// which a commit made while the tests run adds; every other line is kept.
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .split_inclusive('\n')
        .filter(|l| !l.starts_with("warning: this binary was built at commit "))
        .collect()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

#[test]
fn listings_name_every_method_and_suite() {
    let o = run(&["methods"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    for m in ["oracle", "global-mean", "item-mean", "pooled", "pooled-finetune"] {
        assert!(out.lines().any(|l| l.starts_with(&format!("{m} "))), "{m} missing from:\n{out}");
    }
    let o = run(&["suites"]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("synthetic ") && out.contains("synthetic-tiny "), "{out}");
}

#[test]
fn bad_input_is_one_line_and_a_failing_exit_code() {
    let dir = temp_dir("errors");
    let out = dir.join("run");
    let out_s = out.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["bench", "--methods", "nope", "--out", out_s], "error: unknown method `nope` (known: "),
        (vec!["bench", "--suite", "nope", "--out", out_s], "error: unknown suite `nope`"),
        (vec!["bench", "--seeds", "5..1", "--out", out_s], "error: --seeds `5..1`: empty range"),
        (
            vec!["bench", "--methods", "pooled", "--set", "pooled.epochs=\"x\"", "--out", out_s],
            "error: method `pooled`: hyper-parameter `epochs`: invalid type",
        ),
        (vec!["bench", "--device", "tpu", "--out", out_s], "error: --device: unknown device `tpu`"),
        (vec!["report", dir.to_str().unwrap()], "error: "),
    ];
    for (args, want) in cases {
        let o = run(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: not one line: {err}");
    }
    assert!(!out.exists(), "a failed command wrote its --out");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_bench_resumes_to_the_uninterrupted_result() {
    let dir = temp_dir("kill");
    let args = |out: &Path| -> Vec<String> {
        [
            "bench",
            "--suite",
            "synthetic-tiny",
            "--methods",
            "global-mean,item-mean,pooled,pooled-finetune",
            "--seeds",
            "0..2",
            "--jobs",
            "1",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let full = dir.join("full");
    let o = xtask().args(args(&full)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("done ")).count(), 8, "{stdout}");

    // Kill after two finished cells.
    let killed = dir.join("killed");
    let mut child = xtask().args(args(&killed)).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut done = 0;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if line.unwrap().starts_with("done ") {
            done += 1;
            if done == 2 {
                child.kill().unwrap();
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(done, 2);
    assert!(!killed.join("results.csv.gz").exists());

    let o = xtask().args(args(&killed)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let resumed = stdout.lines().find(|l| l.starts_with("resuming: ")).unwrap_or_else(|| panic!("{stdout}"));
    let already: usize = resumed["resuming: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!((2..8).contains(&already), "{resumed}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("done ")).count(), 8 - already);
    assert_eq!(
        std::fs::read(killed.join("results.csv.gz")).unwrap(),
        std::fs::read(full.join("results.csv.gz")).unwrap()
    );

    // And reproduce confirms the run from its manifest alone.
    let o = run(&["reproduce", killed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("reproduced: results.csv is byte-identical"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The text of `dir`'s results (results.csv.gz decompressed).
fn results_text(dir: &Path) -> String {
    String::from_utf8(metarec_reports::gz::read_text(&dir.join("results.csv.gz")).unwrap()).unwrap()
}

/// Writes `text` as `dir`'s results.csv.gz, compressed as a run writes it.
fn write_results(dir: &Path, text: &str) {
    std::fs::write(dir.join("results.csv.gz"), metarec_reports::gz::compress(text.as_bytes())).unwrap();
}

/// Rewrites `dir/results.csv.gz`, adding `delta` to every value of `method`'s `metric`.
fn shift_results(dir: &Path, method: &str, metric: &str, delta: f64) {
    let text = results_text(dir);
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        if i > 0 && f[2] == method && f[6] == metric {
            let v: f64 = f[7].parse().unwrap();
            out.push_str(&format!(
                "{},{}\n",
                f[..7].join(","),
                v + delta * (1.0 + f[5].parse::<f64>().unwrap() * 1e-4)
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    write_results(dir, &out);
}

#[test]
fn compare_gates_on_regressions_and_refuses_different_configs() {
    let dir = temp_dir("compare");
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    for (out, extra) in [(&a, None), (&b, None), (&c, Some("item-mean.shrinkage=2"))] {
        let mut args = vec!["bench", "--suite", "synthetic-tiny", "--methods", "global-mean,item-mean"];
        args.extend(["--seeds", "0", "--out", out.to_str().unwrap()]);
        if let Some(s) = extra {
            args.extend(["--set", s]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let (a_s, b_s, c_s) = (a.to_str().unwrap(), b.to_str().unwrap(), c.to_str().unwrap());
    // The same config twice: nothing changed, exit 0.
    let o = run(&["compare", a_s, b_s]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("## Regressions: 0") && out.contains("| unchanged |"), "{out}");
    // Different hyper-parameters: refused with the reason, exit 1; --force compares and says so.
    let o = run(&["compare", a_s, c_s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("method item-mean: hyper-parameters differ (shrinkage)") && err.contains("--force"), "{err}");
    let o = run(&["compare", a_s, c_s, "--force"]);
    assert!(o.status.code() == Some(0) || o.status.code() == Some(2), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Compared with --force despite"));
    // B's item-mean MAE made worse by 0.05 on every user: a regression, exit 2, listed.
    shift_results(&b, "item-mean", "mae", 0.05);
    let report = dir.join("compare.md");
    let o = run(&["compare", a_s, b_s, "--out", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let out = std::fs::read_to_string(&report).unwrap();
    assert!(out.contains("## Regressions: 4"), "{out}");
    assert!(
        out.lines().any(|l| l.contains("| item-cold | item-mean | mae |") && l.ends_with("| regressed |")),
        "{out}"
    );
    // Swapped, the same change is an improvement.
    assert!(run(&["compare", b_s, a_s]).status.success());
    // A stored baseline that does not exist is named with the known ones.
    let o = run(&["compare", b_s, "--baseline", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no stored baseline `nope`"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every path and file content under `dir` (empty when it does not exist).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.push((p.clone(), Vec::new()));
                out.extend(snapshot(&p));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_real_format_suite_runs_end_to_end_and_records_what_it_read() {
    let dir = temp_dir("real");
    let out = dir.join("run");
    let o = run(&[
        "bench",
        "--suite",
        "suites/testdata/ml-100k-fixture.toml",
        "--methods",
        "global-mean,item-mean,pooled,maml,protonet,oracle",
        "--out",
        out.to_str().unwrap(),
    ]);
    // The oracle needs a synthetic world's truth: on a real suite it is skipped with the reason,
    // not a failed cell, and the command succeeds.
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("skipped oracle on ml-100k-fixture: a reference method"), "{}", stdout(&o));
    let manifest = std::fs::read_to_string(out.join("manifest.toml")).unwrap();
    let m: toml::Table = toml::from_str(&manifest).unwrap();
    let skipped = m["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["method"].as_str(), Some("oracle"));
    assert!(skipped[0]["reason"].as_str().unwrap().contains("ground truth"));
    assert!(m["cells"].as_array().unwrap().iter().all(|c| c["method"].as_str() != Some("oracle")));
    assert!(m["cells"].as_array().unwrap().iter().all(|c| c["status"].as_str() == Some("ok")));
    // The malformed line of the fixture's u.data is counted with its line number, and the counts
    // before and after the 13..100 filter are recorded.
    for want in ["bad_rows = 1", "line = 101", "rows_read = 1469", "[data.load_report.after_filter]", "users = 29"] {
        assert!(manifest.contains(want), "manifest lacks `{want}`");
    }
    let results = results_text(&out);
    for s in ["warm", "user-cold", "item-cold", "user-item-cold"] {
        assert!(results.contains(&format!("ml-100k-fixture,{s},item-mean,")), "no {s} rows");
    }
    // A wrong pin is refused, naming both hashes.
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string("../suites/testdata/ml-100k-fixture.toml")
        .or_else(|_| std::fs::read_to_string("suites/testdata/ml-100k-fixture.toml"))
        .unwrap()
        .replace(
            "path = \"ml-100k\"",
            &format!(
                "path = \"{}\"",
                std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/testdata/ml-100k"))
                    .unwrap()
                    .display()
            ),
        )
        .replace("8c7024e2", "00000000");
    std::fs::write(&bad, text).unwrap();
    let o = run(&[
        "bench",
        "--suite",
        bad.to_str().unwrap(),
        "--methods",
        "item-mean",
        "--out",
        dir.join("r2").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("data.sha256 pins 00000000") && stderr(&o).contains("hashes to 8c7024e2"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_add_refuses_a_wrong_archive_and_leaves_the_data_dir_as_it_was() {
    let dir = temp_dir("data");
    let data = dir.join("data");
    let d = data.to_str().unwrap();
    let before = snapshot(&data);
    for (zip, want) in [("good.zip", "SHA-256"), ("truncated.zip", "SHA-256"), ("zip-slip.zip", "SHA-256")] {
        let o = run(&["data", "--data-dir", d, "add", "movielens-100k", &format!("suites/testdata/archives/{zip}")]);
        assert_eq!(o.status.code(), Some(1), "{zip}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want) && err.contains("50d2a982"), "{zip}: {err}");
        assert_eq!(snapshot(&data), before, "{zip} changed the data dir");
    }
    // Without an install, a real suite says how to get the data.
    let o = run(&["bench", "--suite", "movielens-100k", "--data-dir", d, "--out", dir.join("r").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cargo xtask data fetch movielens-100k"), "{}", stderr(&o));
    let o = run(&["data", "--data-dir", d, "list"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("movielens-1m"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn data_add_refuses_wrong_wheels_and_files_and_registers_recbole_folders() {
    let dir = temp_dir("data-routes");
    let data = dir.join("data");
    let d = data.to_str().unwrap();
    let before = snapshot(&data);
    // A "wheel" of the right name and the wrong bytes (our own zip of the fixture's files).
    let wheel = dir.join("recbole-1.2.1-py3-none-any.whl");
    std::fs::copy("../suites/testdata/archives/good.zip", &wheel)
        .or_else(|_| std::fs::copy("suites/testdata/archives/good.zip", &wheel))
        .unwrap();
    let o = run(&["data", "--data-dir", d, "add", "movielens-100k", wheel.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("recbole-1.2.1-py3-none-any.whl") && err.contains("SHA-256 mismatch"), "{err}");
    assert!(err.contains("9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"), "{err}");
    assert_eq!(snapshot(&data), before);
    // Folders whose files are not the pinned ones: the first differing file is named.
    for (name, folder, file, pin) in [
        ("movielens-100k", "ml-100k-recbole", "ml-100k.inter", "4edb74e2a81178c2"),
        ("movielens-100k", "ml-100k", "u.data", "06416e597f82b734"),
        ("melu-ml1m", "melu-ml1m", "users.dat", "1dc3a95300cb19f7"),
    ] {
        let o = run(&["data", "--data-dir", d, "add", name, &format!("suites/testdata/{folder}")]);
        assert_eq!(o.status.code(), Some(1), "{folder}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&format!("{folder}/{file}")) && err.contains(pin), "{folder}: {err}");
        assert_eq!(snapshot(&data), before, "{folder} changed the data dir");
    }
    // A folder of atomic files under a name the registry does not know registers as it is.
    let o = run(&["data", "--data-dir", d, "add", "ml-100k", "suites/testdata/ml-100k-recbole"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("route recbole-folder"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_names_bad_results_and_says_what_it_skipped() {
    let dir = temp_dir("report");
    let out = dir.join("run");
    let o = run(&["bench", "--suite", "synthetic-tiny", "--methods", "global-mean,item-mean", "--seeds", "0"]
        .into_iter()
        .chain(["--out", out.to_str().unwrap()])
        .collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    // One seed: ASO over seeds is impossible; the reports say so instead of failing.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("Skipped") && html.contains("aso"), "report.html does not say ASO was skipped");
    assert!(!html.contains("NaN"));
    let good = results_text(&out);
    let cases: Vec<(String, &str)> = vec![
        // A missing column.
        (
            good.replacen(
                "suite,scenario,method,seed,perturbation,user,metric,value",
                "suite,scenario,method,seed,user,metric,value",
                1,
            ),
            "results.csv.gz:1: header is",
        ),
        // A non-numeric value on line 3.
        (
            {
                let mut lines: Vec<String> = good.lines().map(String::from).collect();
                let f: Vec<&str> = lines[2].split(',').collect();
                lines[2] = format!("{},oops", f[..7].join(","));
                lines.join("\n") + "\n"
            },
            "results.csv.gz:3:",
        ),
    ];
    for (text, want) in cases {
        write_results(&out, &text);
        let before = std::fs::read(out.join("leaderboard.md")).unwrap();
        let o = run(&["report", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(want), "want `{want}` in: {}", stderr(&o));
        assert_eq!(std::fs::read(out.join("leaderboard.md")).unwrap(), before, "a failed report overwrote a file");
    }
    // A truncated results.csv.gz is named, and overwrites nothing either.
    let whole = metarec_reports::gz::compress(good.as_bytes());
    std::fs::write(out.join("results.csv.gz"), &whole[..whole.len() / 2]).unwrap();
    let before = std::fs::read(out.join("leaderboard.md")).unwrap();
    let o = run(&["report", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let want = format!("{}: I/O error", out.join("results.csv.gz").display());
    assert!(stderr(&o).contains(&want), "want `{want}` in: {}", stderr(&o));
    assert_eq!(std::fs::read(out.join("leaderboard.md")).unwrap(), before, "a failed report overwrote a file");
    // A method with fewer users than another: compared on the shared users, and said so.
    let mut lines: Vec<&str> = good.lines().collect();
    let first_item_mean_user = lines.iter().position(|l| l.contains(",item-mean,")).unwrap();
    let user = lines[first_item_mean_user].split(',').nth(5).unwrap().to_string();
    lines.retain(|l| !(l.contains(",item-mean,") && l.split(',').nth(5) == Some(user.as_str())));
    write_results(&out, &(lines.join("\n") + "\n"));
    let o = run(&["report", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(!md.contains("NaN"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fresh_run_does_not_regress_against_the_stored_baseline() {
    // The grid of baselines/README.md; it must match the stored run's config exactly.
    let dir = temp_dir("baseline");
    let out = dir.join("run");
    let o = run(&[
        "bench",
        "--suite",
        "synthetic-tiny",
        "--methods",
        "global-mean,item-mean,pooled,maml,protonet",
        "--seeds",
        "0,1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["compare", out.to_str().unwrap(), "--baseline", "synthetic-tiny"]);
    let report = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "regressions against baselines/synthetic-tiny:\n{report}\n{}", stderr(&o));
    assert!(report.contains("## Regressions: 0"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn robustness_variants_are_scored_beside_clean_results_which_they_leave_unchanged() {
    let dir = temp_dir("robust");
    let tiny =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/synthetic-tiny.toml")).unwrap();
    let with = dir.join("with.toml");
    std::fs::write(
        &with,
        format!(
            "{tiny}\n[[robustness]]\nsteps = [{{ kind = \"shots\", k = 1 }}]\n\n[[robustness]]\n\
             steps = [{{ kind = \"shots\", k = 3 }}, {{ kind = \"label-noise\", rate = 0.5, mode = \"random\" }}]\n"
        ),
    )
    .unwrap();
    let bench = |suite: &str, out: &Path| {
        run(&[
            "bench",
            "--suite",
            suite,
            "--methods",
            "item-mean,pooled-finetune",
            "--seeds",
            "0",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    assert!(bench("synthetic-tiny", &a).status.success());
    let o = bench(with.to_str().unwrap(), &b);
    assert!(o.status.success(), "{}", stderr(&o));
    let ra = results_text(&a);
    let rb = results_text(&b);
    let clean =
        |t: &str| t.lines().filter(|l| l.split(',').nth(4) == Some("none")).map(String::from).collect::<Vec<_>>();
    assert_eq!(clean(&ra), clean(&rb), "declaring perturbations changed the clean results");
    for label in ["shots(1)", "shots(3)+label-noise(random;0.5;support)"] {
        let n = rb.lines().filter(|l| l.split(',').nth(4) == Some(label)).count();
        assert_eq!(n, clean(&rb).len(), "{label}: one row per clean row");
    }
    let manifest = std::fs::read_to_string(b.join("manifest.toml")).unwrap();
    assert!(manifest.contains("perturbation = \"shots(1)\"") && manifest.contains("support_ratings_dropped"));
    let md = std::fs::read_to_string(b.join("leaderboard.md")).unwrap();
    assert!(md.contains("## Robustness") && md.contains("### Perturbation `shots(1)`"), "no robustness section");
    // K above every test user's support size (support set plus unused ratings) is refused,
    // naming the key and both numbers.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, format!("{tiny}\n[[robustness]]\nsteps = [{{ kind = \"shots\", k = 500 }}]\n")).unwrap();
    let o = bench(bad.to_str().unwrap(), &dir.join("c"));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("robustness[0].steps: perturbations[0].k: 500 exceeds the support size of every test task"),
        "{err}"
    );
    // A rate above 1 likewise.
    std::fs::write(
        &bad,
        format!("{tiny}\n[[robustness]]\nsteps = [{{ kind = \"label-noise\", rate = 1.5, mode = \"random\" }}]\n"),
    )
    .unwrap();
    let err = stderr(&bench(bad.to_str().unwrap(), &dir.join("d")));
    assert!(err.contains("robustness[0].steps: perturbations[0].rate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads a CSV file into maps from header name to value.
fn csv_rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = String::from_utf8(metarec_reports::gz::read_text(path).unwrap_or_else(|e| panic!("{e}"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

#[test]
fn meta_train_perturbations_are_cells_of_their_own_and_candidates_are_ranked() {
    let dir = temp_dir("attack");
    let tiny =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/synthetic-tiny.toml")).unwrap();
    let suite = dir.join("attack.toml");
    std::fs::write(
        &suite,
        format!(
            "{tiny}\n[protocol.candidates]\nsampled = 20\nk = 5\n\n\
             [[robustness]]\nsteps = [{{ kind = \"shots\", k = 8 }}]\n\n\
             [[robustness]]\nsteps = [{{ kind = \"shilling\", profiles = 40, targets = [5, 6, 8], filler = 10 }}]\n\n\
             [[robustness]]\nsteps = [{{ kind = \"shift\", by = {{ attribute = \"group\", train = \"majority\", test = \"minority\" }} }}]\n"
        ),
    )
    .unwrap();
    let bench = |suite: &str, out: &Path| {
        run(&[
            "bench",
            "--suite",
            suite,
            "--methods",
            "item-mean,pooled",
            "--seeds",
            "0",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    assert!(bench("synthetic-tiny", &a).status.success());
    let o = bench(suite.to_str().unwrap(), &b);
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("item-mean/seed 0 [shilling(40;targets=3@"), "{stdout}");

    // The clean rating metrics are those of the plain suite, byte for byte.
    let ra = csv_rows(&a.join("results.csv.gz"));
    let rb = csv_rows(&b.join("results.csv.gz"));
    let rating = |rows: &[std::collections::BTreeMap<String, String>]| {
        rows.iter()
            .filter(|r| r["perturbation"] == "none" && ["mae", "rmse", "ndcg@3"].contains(&r["metric"].as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(rating(&ra), rating(&rb));

    // Two cells per method and seed for each meta-train perturbation, recorded by label.
    let manifest = std::fs::read_to_string(b.join("manifest.toml")).unwrap();
    assert_eq!(manifest.matches("perturbation = \"shift(group:majority->minority)\"").count(), 3, "{manifest}");
    let cells: Vec<_> = std::fs::read_dir(b.join("cells/synthetic-tiny/pooled")).unwrap().collect();
    assert_eq!(cells.len(), 3, "the records of the clean cell and two perturbed ones; their rows are compacted");

    // Shift: only minority users are scored, with a model that never saw the minority.
    let groups = csv_rows(&b.join("groups.csv"));
    let minority: std::collections::BTreeSet<&str> = groups
        .iter()
        .filter(|g| g["attribute"] == "group" && g["group"] == "minority")
        .map(|g| g["user"].as_str())
        .collect();
    let shifted: Vec<_> = rb.iter().filter(|r| r["perturbation"].starts_with("shift(")).collect();
    assert!(!shifted.is_empty() && shifted.iter().all(|r| minority.contains(r["user"].as_str())));

    // Shilling: item-mean's predicted rating of the pushed targets rises for every user.
    let score = |p: &str, m: &str| -> std::collections::BTreeMap<(String, String), f64> {
        rb.iter()
            .filter(|r| r["metric"] == "target-score" && r["method"] == m && r["perturbation"].starts_with(p))
            .map(|r| ((r["scenario"].clone(), r["user"].clone()), r["value"].parse().unwrap()))
            .collect()
    };
    let (clean, attacked) = (score("none", "item-mean"), score("shilling(", "item-mean"));
    assert!(!clean.is_empty() && clean.len() == attacked.len());
    for (k, v) in &clean {
        assert!(attacked[k] > *v, "{k:?}: {} after the attack, {v} before", attacked[k]);
    }
    assert!(
        rb.iter()
            .filter(|r| r["metric"].starts_with("target-"))
            .all(|r| ["warm", "user-cold"].contains(&r["scenario"].as_str()))
    );
    assert!(rb.iter().any(|r| r["metric"] == "target-hr@5"));

    // Shots above the support size: 8 ratings, for the users who have them.
    assert!(rb.iter().any(|r| r["perturbation"] == "shots(8)"));

    // Candidate ranking: metrics in results.csv, lists among the user's candidates.
    assert!(rb.iter().any(|r| r["metric"] == "cand-hr@5") && rb.iter().any(|r| r["metric"] == "cand-ndcg@5"));
    let cands = csv_rows(&b.join("candidates.csv.gz"));
    let lists = csv_rows(&b.join("rankings.csv.gz"));
    let items = csv_rows(&b.join("items.csv"));
    assert_eq!(items.len(), 160);
    let of: std::collections::BTreeMap<(String, String), Vec<String>> = cands
        .iter()
        .map(|c| ((c["scenario"].clone(), c["user"].clone()), c["candidates"].split(' ').map(String::from).collect()))
        .collect();
    for ((scenario, _), c) in &of {
        // 5 query items and 20 sampled ones; fewer among the tiny world's 32 new items.
        let full = ["warm", "user-cold"].contains(&scenario.as_str());
        assert!(if full { c.len() == 25 } else { (6..=25).contains(&c.len()) }, "{scenario}: {}", c.len());
    }
    assert!(!lists.is_empty());
    for l in &lists {
        let top: Vec<&str> = l["top"].split(' ').collect();
        assert_eq!(top.len(), 5);
        let c = &of[&(l["scenario"].clone(), l["user"].clone())];
        assert!(top.iter().all(|i| c.iter().any(|x| x == i)), "{l:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two suites in one run: the average ranks and Friedman/Nemenyi take every (suite, scenario)
/// pair as a block, and the oracle runs on the synthetic suite while it is skipped, with the
/// reason, on the real-format one.
#[test]
fn two_suites_rank_over_suite_scenario_blocks() {
    let dir = temp_dir("two-suites");
    let out = dir.join("run");
    let o = run(&[
        "bench",
        "--suite",
        "synthetic-tiny,suites/testdata/ml-100k-fixture.toml",
        "--methods",
        "global-mean,item-mean,oracle",
        "--seeds",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let board = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    let blocks: Vec<String> = ["ml-100k-fixture", "synthetic-tiny"]
        .iter()
        .flat_map(|s| ["warm", "user-cold", "item-cold", "user-item-cold"].map(|c| format!("{s} / {c}")))
        .collect();
    let want = format!("Ranked by mean within each of the 8 tables ({})", blocks.join(", "));
    assert!(board.contains(&want), "no line `{want}` in leaderboard.md");
    // The blocks are stated, with the warning that 8 are too few and that scenarios share models.
    assert!(board.contains("Blocks: the 8 (suite, scenario) pairs, each ranking the 2 methods"), "{board}");
    assert!(board.contains("need more than 10 blocks and more than 5 methods"), "{board}");
    assert!(board.contains("## Suite `synthetic-tiny`") && board.contains("## Suite `ml-100k-fixture`"));
    let m: toml::Table = toml::from_str(&std::fs::read_to_string(out.join("manifest.toml")).unwrap()).unwrap();
    let skipped: Vec<(&str, &str)> = m["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["suite"].as_str().unwrap(), s["method"].as_str().unwrap()))
        .collect();
    assert_eq!(skipped, [("ml-100k-fixture", "oracle")]);
    // Every report names the skipped method with its reason.
    let tex = std::fs::read_to_string(out.join("leaderboard.tex")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for (name, text) in [("leaderboard.md", &board), ("leaderboard.tex", &tex), ("report.html", &html)] {
        assert!(text.contains("Methods not run") && text.contains("ground truth of a synthetic world"), "{name}");
    }
    let results = results_text(&out);
    assert!(results.contains("synthetic-tiny,warm,oracle,0,"));
    assert!(!results.contains("ml-100k-fixture,warm,oracle,"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copies every file under `from` into `to` (same relative paths), creating folders.
fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn shards_merge_to_the_bench_result_and_bad_plans_are_named() {
    let dir = temp_dir("shards");
    let grid = ["--suite", "synthetic-tiny", "--methods", "global-mean,item-mean", "--seeds", "0..2"];
    let bench = |out: &Path, extra: &[&str]| -> Output {
        xtask().arg("bench").args(grid).args(["--out", out.to_str().unwrap()]).args(extra).output().unwrap()
    };
    let full = dir.join("full");
    assert!(bench(&full, &[]).status.success());

    // Two shards into one folder: merge waits for both, then equals bench byte for byte.
    let sharded = dir.join("sharded");
    let s = sharded.to_str().unwrap();
    let o = bench(&sharded, &["--shard", "0/2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("cargo xtask merge {s}")));
    assert!(!sharded.join("results.csv.gz").exists(), "a shard assembled results.csv");
    let o = run(&["merge", s]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("missing 2 of 4 cells: synthetic-tiny/global-mean/seed-1, synthetic-tiny/item-mean/seed-1"),
        "{out}"
    );
    assert!(stderr(&o).starts_with(&format!("error: {s}: 2 of 4 cells missing, 0 failed; nothing written")));
    assert!(!sharded.join("results.csv.gz").exists());
    assert!(bench(&sharded, &["--shard", "1/2"]).status.success());
    let o = run(&["merge", s]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(sharded.join("results.csv.gz")).unwrap(),
        std::fs::read(full.join("results.csv.gz")).unwrap()
    );
    let manifest = std::fs::read_to_string(sharded.join("manifest.toml")).unwrap();
    assert!(manifest.contains("status = \"complete\"") && manifest.contains("merged = "), "{manifest}");

    // A planned run: an index or task out of range is named with the range.
    let planned = dir.join("planned");
    let p = planned.to_str().unwrap();
    let o = xtask().arg("plan").args(grid).args(["--out", p, "--cells-per-task", "3"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("planned 4 cells as 2 array tasks (3 cells per task)"));
    let sbatch = std::fs::read_to_string(planned.join("array.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=0-1\n") && sbatch.contains("--task \"$SLURM_ARRAY_TASK_ID\""));
    for (args, want) in [
        (
            vec!["cell", p, "--index", "4"],
            format!("error: cell --index 4: out of range: {p} plans 4 cells (indices 0 to 3)"),
        ),
        (
            vec!["cell", p, "--task", "2"],
            format!("error: cell --task 2: out of range: {p} plans 2 array tasks (indices 0 to 1)"),
        ),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr(&o).trim_end(), want);
    }
    // Task 1 holds cell 3 alone; merge names task 0 for the other three.
    assert!(run(&["cell", p, "--task", "1"]).status.success());
    let o = run(&["merge", p]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains(&format!("sbatch --array=0 {p}/array.sbatch")), "{out}");

    // A folder that is not a planned run.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for args in [vec!["merge", empty.to_str().unwrap()], vec!["cell", empty.to_str().unwrap(), "--index", "0"]] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).starts_with(&format!("error: {}: not a planned run (no manifest.toml)", empty.display())),
            "{}",
            stderr(&o)
        );
    }

    // Shards of two different plans (item-mean's shrinkage differs): into one folder, the second
    // is refused; gathered from two folders, merge names each foreign cell.
    let (a, b) = (dir.join("a"), dir.join("b"));
    assert!(bench(&a, &["--shard", "0/2"]).status.success());
    let o = bench(&a, &["--shard", "1/2", "--set", "item-mean.shrinkage=2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("--out {}: holds a run of another config", a.display())), "{}", stderr(&o));
    assert!(bench(&b, &["--shard", "1/2", "--set", "item-mean.shrinkage=2"]).status.success());
    copy_tree(&b.join("cells"), &a.join("cells"));
    let o = run(&["merge", a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("2 of 4 cells ran under another spec or code"), "{err}");
    assert!(
        err.contains("synthetic-tiny/global-mean/seed-1 (config ")
            && err.contains("synthetic-tiny/item-mean/seed-1 (config "),
        "{err}"
    );
    assert!(!a.join("results.csv.gz").exists());
    // Forced, it merges and says which cells it took.
    let o = run(&["merge", a.to_str().unwrap(), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.starts_with("forced: ")).count(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
