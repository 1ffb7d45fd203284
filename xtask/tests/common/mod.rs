//! Shared by the real-data checks (`real_data.rs`, `open_bandit.rs`): run the xtask binary, and
//! print a check's verdict plainly (these binaries have no libtest harness), NOT RUN without its
//! wheel unless `METAREC_REQUIRE_TOOLS=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn xtask(args: &[&str]) -> Output {
    // Cells run one at a time per core as in a user's run; the checks ask for nothing faster.
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run the xtask binary")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

/// Runs `run` on the wheel named by the environment variable `env` and prints the verdict of
/// the check `name`; exits 1 on failure, and on a missing wheel under `METAREC_REQUIRE_TOOLS=1`.
pub fn verdict(name: &str, env: &str, wheel: &str, how: &str, run: impl FnOnce(&Path) -> Result<(), String>) {
    let require = std::env::var_os("METAREC_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    println!("\nrunning 1 real-data check");
    let path = std::env::var_os(env).map(PathBuf::from);
    let verdict = match path.filter(|w| w.is_file()) {
        None => Err(format!("no {wheel} (set {env} to its path; `{how}` fetches it)")),
        Some(w) => Ok(run(&w)),
    };
    match verdict {
        Ok(Ok(())) => println!("check {name} end to end ... ok"),
        Ok(Err(msg)) => {
            println!("check {name} end to end ... FAILED: {msg}");
            std::process::exit(1);
        }
        Err(msg) if require => {
            println!("check {name} end to end ... FAILED (METAREC_REQUIRE_TOOLS=1): {msg}");
            std::process::exit(1);
        }
        Err(msg) => println!("check {name} end to end ... NOT RUN: {msg}"),
    }
}
