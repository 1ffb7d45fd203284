//! metarec-interactive: interactive recommendation and logged bandit feedback.
//!
//! Online side: seeded environments (`env`), the per-user protocol of T rounds of slate,
//! feedback, adaptation (`protocol`), bandit baselines and meta-learned policies (`policy`).
//! Offline side: the Open Bandit Dataset sample from obp's wheel (`obd`) and off-policy
//! estimators with bootstrap intervals (`ope`).

pub mod env;
pub mod obd;
pub mod ope;
pub mod policy;
pub mod protocol;
