//! The analyses: each takes rows of the run's files and gives typed results (numbers, tests,
//! what was skipped and why), knowing nothing of any output format. [`table`] groups the
//! clean rows into the leaderboard's tables, which the others share.

pub mod compare;
pub mod fairness;
pub mod interactive;
pub mod item_side;
pub mod leaderboard;
pub mod off_policy;
pub mod reproduction;
pub mod robustness;
pub mod significance;
pub mod table;
pub mod transfer;
pub mod users;
pub mod wtl;
