//! metarec-suites: datasets, their pins, the embedded synthetic world, cold-start splits and
//! the task types every method consumes.
//!
//! Invariant: this crate reads suite files and dataset files, and writes only through
//! `store`, which installs dataset archives into the data directory (never the network).

pub mod archive;
pub mod data;
pub mod interactive;
pub mod objectives;
pub mod offline;
pub mod perturb;
pub mod real;
pub mod rng;
pub mod split;
pub mod store;
pub mod suite;
pub mod synthetic;

pub use data::{Dataset, Features, Field, Rating, Schema, Truth};
pub use objectives::{ObjectiveKind, Objectives, SuiteObjectives};
pub use rng::Rng;
pub use split::{History, Protocol, Scenario, Split, Task};
pub use suite::{LoadedSuite, Materialized, SuiteDef, SuiteError, load_suite, parse_suite};
