//! metarec reports: per-user metrics, the `results.csv` format, seed/user
//! summaries with Student-t confidence intervals, statistical tests
//! ([`stats`]), significance of differences between methods
//! ([`significance`]), and Markdown/LaTeX leaderboards.
//!
//! This crate reads and writes tables of numbers only; it knows nothing of
//! candle or of the methods being benchmarked. The only file access is in
//! [`results`]; the CSV writers take any `std::io::Write`.

pub mod compare;
pub mod fairness;
pub mod fairness_report;
pub mod html;
pub mod item_fairness;
pub mod leaderboard;
pub mod metrics;
pub mod model_index;
pub mod report;
pub mod results;
pub mod robustness;
pub mod section_figures;
pub mod significance;
pub mod stats;
pub mod summary;
pub mod svg;
pub mod wtl;

pub use results::{ReportError, ResultRow};
