//! Provenance of a run: git state (through git2), Cargo.lock, toolchain, machine.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What was run, from which source, on what.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// HEAD commit, or `unknown` outside a git repository.
    pub commit: String,
    /// Uncommitted changes to tracked files, or untracked files not ignored.
    pub dirty: bool,
    /// SHA-256 of the diff against HEAD (empty when clean).
    pub diff_sha256: String,
    pub cargo_lock_sha256: String,
    pub metarec_version: String,
    pub rustc: String,
    pub candle: String,
    pub os: String,
    pub cpu: String,
    /// CPU features that change matmul kernels (and so the last bits of results).
    pub cpu_features: Vec<String>,
    /// Threads candle's matmul may use (`RAYON_NUM_THREADS`, else all cores).
    pub matmul_threads: usize,
    /// Profile the binary was built with.
    pub profile: String,
    /// HEAD when the binary was built; differs from `commit` when a binary built earlier runs in
    /// a repository that has moved on (the code that ran is then this commit's, not `commit`'s).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub build_commit: String,
}

/// HEAD when this binary was built (`unknown` when built outside a git repository).
pub fn build_commit() -> &'static str {
    env!("METAREC_BUILD_COMMIT")
}

/// A warning when the binary was built at another commit than the repository's HEAD.
pub fn stale_binary_warning(p: &Provenance) -> Option<String> {
    (p.build_commit != p.commit && p.build_commit != "unknown" && p.commit != "unknown").then(|| {
        format!(
            "warning: this binary was built at commit {} but the repository is at {}: the manifest records both \
             (provenance.build_commit); rebuild (`cargo xtask ...` does) to run the code of the recorded commit",
            &p.build_commit[..p.build_commit.len().min(12)],
            &p.commit[..p.commit.len().min(12)]
        )
    })
}

/// The repository root: the git work tree containing `start`, else `start`.
pub fn repo_root(start: &Path) -> PathBuf {
    git2::Repository::discover(start)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
        .unwrap_or_else(|| start.to_path_buf())
}

/// Collects provenance; returns the diff text too when the tree is dirty.
pub fn collect(start: &Path) -> (Provenance, Option<String>) {
    let root = repo_root(start);
    let (commit, dirty, diff) = git_state(start);
    let cargo_lock_sha256 = std::fs::read(root.join("Cargo.lock"))
        .map(|b| metarec_suites::split::hex(&Sha256::digest(&b)))
        .unwrap_or_else(|_| "missing".into());
    let diff_sha256 =
        diff.as_ref().map(|d| metarec_suites::split::hex(&Sha256::digest(d.as_bytes()))).unwrap_or_default();
    let prov = Provenance {
        commit,
        dirty,
        diff_sha256,
        cargo_lock_sha256,
        metarec_version: env!("CARGO_PKG_VERSION").into(),
        rustc: env!("METAREC_RUSTC_VERSION").into(),
        candle: env!("METAREC_CANDLE_VERSION").into(),
        os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        cpu: cpu_model(),
        cpu_features: cpu_features(),
        matmul_threads: candle_core::utils::get_num_threads(),
        profile: if cfg!(debug_assertions) { "dev".into() } else { "release".into() },
        build_commit: build_commit().into(),
    };
    (prov, diff)
}

fn git_state(start: &Path) -> (String, bool, Option<String>) {
    let Ok(repo) = git2::Repository::discover(start) else {
        return ("unknown".into(), true, None);
    };
    let head = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let commit = head.as_ref().map(|c| c.id().to_string()).unwrap_or_else(|| "unborn".into());
    let tree = head.as_ref().and_then(|c| c.tree().ok());
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let Ok(diff) = repo.diff_tree_to_workdir_with_index(tree.as_ref(), Some(&mut opts)) else {
        return (commit, true, None);
    };
    let mut text = String::new();
    let _ = diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin());
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    });
    let dirty = diff.deltas().len() > 0;
    (commit, dirty, dirty.then_some(text))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

fn cpu_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            out.push("avx2".to_string());
        }
        if std::arch::is_x86_feature_detected!("fma") {
            out.push("fma".to_string());
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            out.push("avx512f".to_string());
        }
    }
    out
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `/etc/hostname`, else `unknown`).
pub fn host() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The Slurm array task this process runs in, as `JOB_TASK` (Slurm's `%A_%a`), if any.
pub fn slurm_task() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").or_else(|_| std::env::var("SLURM_JOB_ID")).ok()?;
    Some(match std::env::var("SLURM_ARRAY_TASK_ID") {
        Ok(task) => format!("{job}_{task}"),
        Err(_) => job,
    })
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format_utc(secs)
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (Howard Hinnant's civil_from_days).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_dates() {
        assert_eq!(super::format_utc(0), "1970-01-01T00:00:00Z");
        // date -u -d @1795000000 +%FT%TZ  ->  2026-11-18T11:06:40Z
        assert_eq!(super::format_utc(1_795_000_000), "2026-11-18T11:06:40Z");
        // 2000-02-29 (leap day): date -u -d 2000-02-29T12:00:00Z +%s -> 951825600
        assert_eq!(super::format_utc(951_825_600), "2000-02-29T12:00:00Z");
    }

    /// The build commit is recorded (a full hash, or `unknown` outside a repository), a binary
    /// of the repository's HEAD is not warned about, and one of another commit is named. (Not
    /// compared with the live HEAD: a commit made while the tests run would move it.)
    #[test]
    fn the_build_commit_is_recorded_and_a_stale_binary_is_named() {
        let (p, _) = super::collect(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
        assert_eq!(p.build_commit, super::build_commit());
        let b = &p.build_commit;
        assert!(b == "unknown" || (b.len() == 40 && b.chars().all(|c| c.is_ascii_hexdigit())), "{b}");
        let fresh = super::Provenance {
            commit: "0123456789abcdef".into(),
            build_commit: "0123456789abcdef".into(),
            ..p.clone()
        };
        assert_eq!(super::stale_binary_warning(&fresh), None);
        let old = super::Provenance { build_commit: "fedcba9876543210".into(), ..fresh };
        let w = super::stale_binary_warning(&old).unwrap();
        assert!(w.contains("built at commit fedcba987654 but the repository is at 0123456789ab"), "{w}");
    }
}
