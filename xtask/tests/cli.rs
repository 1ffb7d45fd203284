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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
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
    assert!(!killed.join("results.csv").exists());

    let o = xtask().args(args(&killed)).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let resumed = stdout.lines().find(|l| l.starts_with("resuming: ")).unwrap_or_else(|| panic!("{stdout}"));
    let already: usize = resumed["resuming: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!((2..8).contains(&already), "{resumed}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("done ")).count(), 8 - already);
    assert_eq!(std::fs::read(killed.join("results.csv")).unwrap(), std::fs::read(full.join("results.csv")).unwrap());

    // And reproduce confirms the run from its manifest alone.
    let o = run(&["reproduce", killed.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("reproduced: results.csv is byte-identical"));
    let _ = std::fs::remove_dir_all(&dir);
}
