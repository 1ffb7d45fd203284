//! metarec reports: a run's CSV files in, its reports out. Knows nothing of candle or of the
//! methods being benchmarked; file access is in [`read`] (and [`results`], which writes), the
//! other writers take any `std::io::Write` or return strings.
//!
//! The layers, each using only those before it:
//! - **readers** ([`read`], [`results`], [`gz`]): one serde-based CSV reader, errors with file and
//!   line, compressed files read transparently;
//! - **statistics** ([`stats`], [`summary`], [`metrics`], [`fairness`]): numbers in, numbers out;
//! - **analyses** ([`analysis`]): rows in, typed results out (tables, tests, skipped entries);
//! - **the document model** ([`doc`], with [`format`], how numbers are written) and its
//!   **builders** ([`build`]): one builder per section turns an analysis into the model;
//! - **renderers** ([`render`]: Markdown, LaTeX, HTML; [`plot`]: the SVG figures from plot
//!   specifications) and [`model_index`] (YAML); [`report`] puts a run's reports together.

pub mod analysis;
pub mod build;
pub mod doc;
pub mod fairness;
pub mod format;
pub mod gz;
pub mod metrics;
pub mod model_index;
pub mod off_policy;
pub mod plot;
pub mod read;
pub mod render;
pub mod report;
pub mod results;
pub mod stats;
pub mod summary;
#[cfg(test)]
pub(crate) mod testing;

pub use results::{ReportError, ResultRow};
