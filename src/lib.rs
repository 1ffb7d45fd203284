//! metarec: the run orchestration of the benchmark suite.
//!
//! A run goes `BenchRequest` -> [`spec::resolve`] -> [`RunSpec`] (the fully resolved grid,
//! recorded in the manifest) -> [`runner::run`] (cells in parallel, each written atomically) ->
//! [`report::write_reports`] (a pure function of the run directory). [`reproduce::reproduce`]
//! runs a manifest's spec again and compares. [`plan::plan`] writes the same grid as a Slurm
//! job array whose tasks run [`plan::run_planned`]; [`merge::merge`] assembles their cells.
//!
//! Invariant: this crate is the only one that touches the file system (run directories) and
//! git; methods never do I/O, reports never know candle.

pub mod compare;
pub mod interactive;
pub mod merge;
pub mod objectives;
pub mod offline;
pub mod plan;
pub mod provenance;
pub mod report;
pub mod reproduce;
pub mod rundir;
pub mod runner;
pub mod score;
pub mod spec;
pub mod tune;

pub use interactive::registry;
pub use metarec_methods::Registry;
pub use spec::{BenchRequest, RunSpec};

/// Errors of a run; each names the input, file or cell concerned, in one line.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Suite(#[from] metarec_suites::SuiteError),
    #[error(transparent)]
    Method(#[from] metarec_methods::MethodError),
    #[error(transparent)]
    Report(#[from] metarec_reports::ReportError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    OutDir(String),
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    #[error("{failed} of {total} cells failed (results of the others are in {dir}): {list}")]
    CellsFailed { failed: usize, total: usize, dir: String, list: String },
    #[error("run interrupted; run the same command with --out {dir} to resume")]
    Interrupted { dir: String },
}

/// Names of the embedded suites.
pub fn suite_names() -> Vec<&'static str> {
    metarec_suites::suite::embedded_names()
}

/// One-line description of an embedded suite.
pub fn spec_suite(name: &str) -> String {
    match metarec_suites::load_suite(name) {
        Ok(s) => s.def.suite.description.clone(),
        Err(e) => e.to_string(),
    }
}
