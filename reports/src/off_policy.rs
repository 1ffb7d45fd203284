//! The `off-policy.csv` format of an off-policy suite's run: one [`OffPolicyRow`] per (suite,
//! seed, logs, policy, estimator), an estimate with its bootstrap interval, written by the
//! runner (`metarec::offline`) and read by the reports' "Off-policy estimates" section.
//!
//! Not rows of `results.csv`: those are per-user values that the reports average over users
//! with t-intervals and pair across methods; an off-policy estimate is one number per policy
//! and estimator with its own bootstrap interval over logged rounds, and has no users. Values are
//! written with Rust's `{}` Display (shortest round-trip), as in results.csv.

use crate::read::{ReportError, csv_error, read_csv};
use std::io::{Read, Write};
use std::path::Path;

/// One estimate.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OffPolicyRow {
    pub suite: String,
    pub seed: u64,
    /// `behavior/campaign` of the logs, e.g. `random/all`.
    pub logs: String,
    pub policy: String,
    /// `ipw`, `snipw`, `dm`, `dr`, or `on-policy` (the mean reward of logs under their own policy).
    pub estimator: String,
    /// On the full logs.
    pub estimate: f64,
    /// The mean of the bootstrap means.
    pub boot_mean: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub n_rounds: u64,
    pub n_bootstrap: u64,
    /// The interval is at `alpha/2` and `1 − alpha/2`.
    pub alpha: f64,
}

/// The header line of `off-policy.csv`, in column order.
pub const OFF_POLICY_HEADER: [&str; 12] = [
    "suite",
    "seed",
    "logs",
    "policy",
    "estimator",
    "estimate",
    "boot_mean",
    "ci_low",
    "ci_high",
    "n_rounds",
    "n_bootstrap",
    "alpha",
];

/// The file name in a run directory.
pub const OFF_POLICY_FILE: &str = "off-policy.csv";

fn check(r: &OffPolicyRow) -> Result<(), String> {
    let values = [r.estimate, r.boot_mean, r.ci_low, r.ci_high, r.alpha];
    if values.iter().any(|v| !v.is_finite()) {
        return Err(format!("{} / {} / {}: a value is not finite", r.logs, r.policy, r.estimator));
    }
    if r.ci_low > r.ci_high || !(r.alpha > 0.0 && r.alpha < 1.0) {
        return Err(format!(
            "{} / {} / {}: interval [{}, {}] at alpha {}",
            r.logs, r.policy, r.estimator, r.ci_low, r.ci_high, r.alpha
        ));
    }
    Ok(())
}

/// Writes `rows` under the header; every row is checked first, so a bad one writes nothing.
pub fn write_off_policy<W: Write>(w: W, rows: &[OffPolicyRow]) -> Result<(), ReportError> {
    const WRITER: &str = "<writer>";
    for (line, r) in (2..).zip(rows) {
        check(r).map_err(|message| ReportError::Row { path: WRITER.into(), line, message })?;
    }
    let mut out = csv::Writer::from_writer(w);
    let io = |e: csv::Error| csv_error(e, WRITER, 0);
    out.write_record(OFF_POLICY_HEADER).map_err(io)?;
    for r in rows {
        let nums = [r.estimate, r.boot_mean, r.ci_low, r.ci_high].map(|v| v.to_string());
        out.write_record([
            r.suite.as_str(),
            &r.seed.to_string(),
            &r.logs,
            &r.policy,
            &r.estimator,
            &nums[0],
            &nums[1],
            &nums[2],
            &nums[3],
            &r.n_rounds.to_string(),
            &r.n_bootstrap.to_string(),
            &r.alpha.to_string(),
        ])
        .map_err(io)?;
    }
    out.flush().map_err(|source| ReportError::Io { path: WRITER.to_owned(), source })
}

/// Reads `off-policy.csv` rows from `r`; errors name `source` and the line.
pub fn read_off_policy_from(r: impl Read, source: &str) -> Result<Vec<OffPolicyRow>, ReportError> {
    read_csv(r, source, &OFF_POLICY_HEADER, &[0, 2, 3, 4], |row: &OffPolicyRow, _| check(row))
}

/// Reads `DIR/off-policy.csv` when there is one.
pub fn load_off_policy(dir: &Path) -> Result<Option<Vec<OffPolicyRow>>, ReportError> {
    let path = dir.join(OFF_POLICY_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let (file, name) = crate::read::open(&path)?;
    read_off_policy_from(file, &name).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn row(policy: &str, estimator: &str, estimate: f64) -> OffPolicyRow {
        OffPolicyRow {
            suite: "open-bandit".into(),
            seed: 0,
            logs: "random/all".into(),
            policy: policy.into(),
            estimator: estimator.into(),
            estimate,
            boot_mean: estimate,
            ci_low: estimate - 0.001,
            ci_high: estimate + 0.001,
            n_rounds: 10_000,
            n_bootstrap: 10_000,
            alpha: 0.05,
        }
    }

    #[test]
    fn rows_round_trip_exactly_and_bad_rows_name_the_line() {
        let rows = vec![row("bts", "ipw", 0.1 + 0.2), row("bts", "dm", 1.0 / 3.0)];
        let mut buf = Vec::new();
        write_off_policy(&mut buf, &rows).unwrap();
        assert_eq!(read_off_policy_from(buf.as_slice(), "o.csv").unwrap(), rows);
        let text = String::from_utf8(buf).unwrap().replace("0.30000000000000004,", "x,");
        let err = read_off_policy_from(text.as_bytes(), "o.csv").unwrap_err().to_string();
        assert!(err.starts_with("o.csv:2: column estimate"), "{err}");
        let bad = OffPolicyRow { ci_low: 1.0, ..row("bts", "ipw", 0.5) };
        let err = write_off_policy(Vec::new(), &[bad]).unwrap_err().to_string();
        assert!(err.contains(":2: random/all / bts / ipw: interval [1, 0.501]"), "{err}");
    }
}
