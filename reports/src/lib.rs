//! metarec reports: per-user metrics, the `results.csv` format, seed/user
//! summaries with Student-t confidence intervals, and Markdown leaderboards.
//!
//! This crate reads and writes tables of numbers only; it knows nothing of
//! candle or of the methods being benchmarked. The only I/O is in [`results`].

pub mod leaderboard;
pub mod metrics;
pub mod results;
pub mod summary;

pub use results::{ReportError, ResultRow};
