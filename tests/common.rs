//! Shared helpers of the runner tests: small grids on the tiny synthetic suite.

#![allow(dead_code)]

use metarec::runner::{RunOptions, run};
use metarec::spec::{BenchRequest, resolve};
use metarec::{Registry, RunError, RunSpec};
use std::path::{Path, PathBuf};

/// A fresh, empty temporary directory unique to `name` and this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metarec-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn request(methods: &[&str], seeds: &[u64]) -> BenchRequest {
    BenchRequest {
        suites: vec!["synthetic-tiny".into()],
        methods: Some(methods.iter().map(|s| s.to_string()).collect()),
        seeds: Some(seeds.to_vec()),
        ..Default::default()
    }
}

/// A gradient-based and a metric-based meta-learner with tiny budgets (`--set`), so that the
/// determinism and resume tests cover meta-training in seconds.
pub const META_SETS: &[&str] = &[
    "fomaml.meta_steps=6",
    "fomaml.eval_every=3",
    "fomaml.meta_batch=4",
    "protonet.max_steps=6",
    "protonet.eval_every=3",
    "protonet.meta_batch=4",
];

/// [`request`] with the overrides `sets`.
pub fn request_with(methods: &[&str], seeds: &[u64], sets: &[&str]) -> BenchRequest {
    BenchRequest { sets: sets.iter().map(|s| s.to_string()).collect(), ..request(methods, seeds) }
}

pub fn options(out: &Path, jobs: usize) -> RunOptions {
    RunOptions {
        data_dir: None,
        jobs,
        out: out.to_path_buf(),
        command: vec!["test".into()],
        repo: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        stop_after: None,
        force: false,
        shard: None,
    }
}

pub fn run_spec(
    spec: &RunSpec,
    registry: &Registry,
    out: &Path,
    jobs: usize,
) -> Result<metarec::runner::RunOutcome, RunError> {
    run(spec, registry, &options(out, jobs), &|_| {})
}

pub fn run_request(req: &BenchRequest, out: &Path, jobs: usize) -> Result<metarec::runner::RunOutcome, RunError> {
    let registry = Registry::default();
    let spec = resolve(req, &registry)?;
    run_spec(&spec, &registry, out, jobs)
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The bytes of `dir`'s results.csv.gz, as the run wrote them.
pub fn results_gz(dir: &Path) -> Vec<u8> {
    read(&dir.join("results.csv.gz"))
}

/// The text of `dir`'s results.csv (results.csv.gz decompressed).
pub fn results_text(dir: &Path) -> String {
    let bytes = metarec::rundir::read_run_file(dir, metarec::rundir::RESULTS).unwrap();
    String::from_utf8(bytes).unwrap()
}
