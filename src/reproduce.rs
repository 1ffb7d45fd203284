//! `reproduce`: run a manifest's spec again and compare results.csv (and, for off-policy
//! suites, off-policy.csv) byte for byte. The text is compared, decompressed: results.csv.gz of
//! either run, or a plain results.csv of a run from before compression.

use crate::RunError;
use crate::rundir::{Manifest, RESULTS, read_run_file};
use crate::runner::{Event, RunOptions, run};
use metarec_methods::Registry;
use std::collections::BTreeMap;
use std::path::Path;

/// The outcome of a reproduction.
#[derive(Debug)]
pub struct Reproduction {
    /// Where the new run was written.
    pub dir: std::path::PathBuf,
    pub identical: bool,
    /// Warnings about provenance differences (commit, dirty state, CPU features).
    pub warnings: Vec<String>,
    /// The first differing rows as `(line, original, reproduced)`.
    pub differences: Vec<(usize, String, String)>,
    /// Largest absolute difference per metric over rows that match in every key column.
    pub max_abs_diff: BTreeMap<String, f64>,
}

/// Re-runs the spec of the run in `dir` into `dir/reproduce/<time>` and compares.
pub fn reproduce(
    dir: &Path,
    registry: &Registry,
    opts: &RunOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<Reproduction, RunError> {
    let original = Manifest::read(dir)?;
    let before = read_run_file(dir, RESULTS)?;
    let (now, _) = crate::provenance::collect(&opts.repo);
    let mut warnings = Vec::new();
    if now.commit != original.provenance.commit {
        warnings.push(format!(
            "commit differs: the run was made at {}, this is {}",
            original.provenance.commit, now.commit
        ));
    }
    if original.provenance.dirty || now.dirty {
        warnings.push(format!(
            "dirty state: the run's tree was {}, this one is {}",
            if original.provenance.dirty { "dirty" } else { "clean" },
            if now.dirty { "dirty" } else { "clean" }
        ));
    }
    if now.cpu_features != original.provenance.cpu_features {
        warnings.push(format!(
            "CPU features differ ({} vs {}): matmul kernels may change the last bits",
            original.provenance.cpu_features.join(","),
            now.cpu_features.join(",")
        ));
    }
    let outcome = run(&original.spec, registry, opts, on_event);
    let new_dir = opts.out.clone();
    match outcome {
        Ok(_) | Err(RunError::CellsFailed { .. }) => {}
        Err(e) => return Err(e),
    }
    let after = read_run_file(&new_dir, RESULTS)?;
    let mut identical = before == after;
    let (mut differences, max_abs_diff) =
        if identical { (Vec::new(), BTreeMap::new()) } else { compare(&before, &after) };
    // An off-policy suite's estimates: the lines that differ, named by their file.
    let off = metarec_reports::off_policy::OFF_POLICY_FILE;
    if dir.join(off).is_file() {
        let read = |p: &Path| std::fs::read(p).map_err(|source| RunError::Io { path: p.display().to_string(), source });
        let (a, b) = (read(&dir.join(off))?, read(&new_dir.join(off))?);
        if a != b {
            identical = false;
            let (diffs, _) = compare(&a, &b);
            differences
                .extend(diffs.into_iter().map(|(line, x, y)| (line, format!("{off}: {x}"), format!("{off}: {y}"))));
        }
    }
    Ok(Reproduction { dir: new_dir, identical, warnings, differences, max_abs_diff })
}

fn compare(a: &[u8], b: &[u8]) -> (Vec<(usize, String, String)>, BTreeMap<String, f64>) {
    let a = String::from_utf8_lossy(a);
    let b = String::from_utf8_lossy(b);
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut diffs = Vec::new();
    let mut max = BTreeMap::new();
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i).copied().unwrap_or("<missing>"), lb.get(i).copied().unwrap_or("<missing>"));
        if x != y {
            if diffs.len() < 10 {
                diffs.push((i + 1, x.to_string(), y.to_string()));
            }
            if let (Some((kx, vx)), Some((ky, vy))) = (x.rsplit_once(','), y.rsplit_once(','))
                && kx == ky
                && let (Ok(vx), Ok(vy)) = (vx.parse::<f64>(), vy.parse::<f64>())
            {
                let metric = kx.rsplit(',').next().unwrap_or("").to_string();
                let d = (vx - vy).abs();
                let e = max.entry(metric).or_insert(0.0f64);
                *e = e.max(d);
            }
        }
    }
    (diffs, max)
}
