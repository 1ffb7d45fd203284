//! The Open Bandit Dataset sample (obp 0.4.1's wheel, installed by `cargo xtask data add
//! open-bandit obp-0.4.1-py3-none-any.whl` into `<data-dir>/open-bandit/extracted/obp/`).
//!
//! [`read_logs`] reads `dataset/obd/{random,bts}/{all,men,women}/{campaign}.csv` the way obp's
//! `OpenBanditDataset` does (`obp/dataset/real.py`): `item_id` is the action, `position` 1-3
//! becomes 0-2 (obp: dense rank minus one), `click` the reward, `propensity_score` the logging
//! policy's probability of the action at that position. obp sorts by timestamp; the files are
//! already in timestamp order (checked for obp 0.4.1's six files), so file order is kept. The
//! number of actions is the largest item id plus one, as obp's `n_actions`. The user features
//! and affinities are not read: every evaluation policy and the reward model here are
//! context-free.
//!
//! [`read_prior`] reads `policy/conf/prior_bts.yaml`, Bernoulli TS's production prior (obp's
//! `is_zozotown_prior=True`): per campaign, `alpha` and `beta` lists. Errors name file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An error in the data, naming the file and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum ObdError {
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Bad { path: String, line: u64, message: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// Logged bandit feedback: one entry per round, in file (time) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Logs {
    /// Where they were read from (for messages and the manifest).
    pub source: String,
    pub n_actions: usize,
    /// Positions per impression (obp's `len_list`): largest position plus one.
    pub len_list: usize,
    pub action: Vec<u32>,
    /// 0-based.
    pub position: Vec<u8>,
    pub reward: Vec<f64>,
    /// The logging policy's probability of the action at its position, in (0, 1].
    pub pscore: Vec<f64>,
}

impl Logs {
    pub fn n_rounds(&self) -> usize {
        self.action.len()
    }

    /// The on-policy value of the logging policy: the mean reward.
    pub fn mean_reward(&self) -> f64 {
        self.reward.iter().sum::<f64>() / self.n_rounds() as f64
    }

    /// Checks lengths and ranges of logs built in memory (the reader checks them per line).
    pub fn check(&self) -> Result<(), String> {
        let n = self.action.len();
        if n == 0 {
            return Err(format!("{}: no rounds", self.source));
        }
        if self.position.len() != n || self.reward.len() != n || self.pscore.len() != n {
            return Err(format!("{}: action, position, reward and pscore differ in length", self.source));
        }
        for i in 0..n {
            if self.action[i] as usize >= self.n_actions || self.position[i] as usize >= self.len_list {
                return Err(format!("{}: round {i}: action or position out of range", self.source));
            }
            if !(self.pscore[i] > 0.0 && self.pscore[i] <= 1.0) || !self.reward[i].is_finite() {
                return Err(format!("{}: round {i}: pscore {} not in (0, 1]", self.source, self.pscore[i]));
            }
        }
        Ok(())
    }
}

/// `<root>/dataset/obd/<behavior>/<campaign>/<campaign>.csv`, `root` being the installed `obp/`.
pub fn logs_path(root: &Path, behavior: &str, campaign: &str) -> PathBuf {
    root.join("dataset").join("obd").join(behavior).join(campaign).join(format!("{campaign}.csv"))
}

/// `<root>/policy/conf/prior_bts.yaml`.
pub fn prior_path(root: &Path) -> PathBuf {
    root.join("policy").join("conf").join("prior_bts.yaml")
}

/// The columns read, by header name.
const COLUMNS: [&str; 4] = ["item_id", "position", "click", "propensity_score"];

/// Reads one log file (see the module docs).
pub fn read_logs(path: &Path) -> Result<Logs, ObdError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| ObdError::Io { path: shown.clone(), error })?;
    parse_logs(file, &shown)
}

/// [`read_logs`] from any reader; `shown` names it in errors.
pub fn parse_logs(reader: impl std::io::Read, shown: &str) -> Result<Logs, ObdError> {
    let mut r = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(reader);
    let bad = |line: u64, message: String| ObdError::Bad { path: shown.into(), line, message };
    let header = r.headers().map_err(|e| bad(1, e.to_string()))?.clone();
    let mut idx = [0usize; 4];
    for (k, name) in COLUMNS.iter().enumerate() {
        idx[k] = header
            .iter()
            .position(|h| h == *name)
            .ok_or_else(|| bad(1, format!("no column `{name}` (the header needs {})", COLUMNS.join(", "))))?;
    }
    let mut logs = Logs {
        source: shown.into(),
        n_actions: 0,
        len_list: 0,
        action: Vec::new(),
        position: Vec::new(),
        reward: Vec::new(),
        pscore: Vec::new(),
    };
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad(line, crate::obd::one_line(&e.to_string()))
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |k: usize| rec.get(idx[k]).unwrap_or("").trim();
        let item: u32 =
            field(0).parse().map_err(|_| bad(line, format!("item_id `{}` is not a non-negative integer", field(0))))?;
        let position: u8 = match field(1).parse::<u8>() {
            Ok(p @ 1..=32) => p - 1,
            _ => return Err(bad(line, format!("position `{}` is not an integer from 1 to 32", field(1)))),
        };
        let click = match field(2) {
            "0" => 0.0,
            "1" => 1.0,
            other => return Err(bad(line, format!("click `{other}` is not 0 or 1"))),
        };
        let pscore: f64 =
            field(3).parse().map_err(|_| bad(line, format!("propensity_score `{}` is not a number", field(3))))?;
        if !(pscore > 0.0 && pscore <= 1.0) {
            return Err(bad(
                line,
                format!(
                    "propensity_score {pscore} is not in (0, 1]: inverse propensity weighting divides by it \
                     (a logging policy that could not have shown this item)"
                ),
            ));
        }
        logs.action.push(item);
        logs.position.push(position);
        logs.reward.push(click);
        logs.pscore.push(pscore);
    }
    if logs.action.is_empty() {
        return Err(ObdError::File { path: shown.into(), message: "no logged rounds".into() });
    }
    logs.n_actions = logs.action.iter().max().map_or(0, |m| *m as usize + 1);
    logs.len_list = logs.position.iter().max().map_or(0, |m| *m as usize + 1);
    Ok(logs)
}

/// Collapses a multi-line message to one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Beta priors per action.
#[derive(Clone, Debug, PartialEq)]
pub struct BetaPrior {
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
}

/// Reads obp's `prior_bts.yaml`: campaign → prior.
pub fn read_prior(path: &Path) -> Result<BTreeMap<String, BetaPrior>, ObdError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| ObdError::Io { path: shown.clone(), error })?;
    parse_prior(&text, &shown)
}

/// [`read_prior`] from text. The file's shape is fixed (obp writes it): `campaign:` at column 0,
/// `alpha:`/`beta:` indented by two, `- number` items indented by four. Anything else is an
/// error naming the line.
pub fn parse_prior(text: &str, shown: &str) -> Result<BTreeMap<String, BetaPrior>, ObdError> {
    let bad = |line: usize, message: String| ObdError::Bad { path: shown.into(), line: line as u64, message };
    let mut out: BTreeMap<String, BetaPrior> = BTreeMap::new();
    let mut campaign: Option<String> = None;
    let mut key: Option<&str> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim_end();
        if content.trim().is_empty() {
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let body = content.trim_start();
        match (indent, body.strip_suffix(':')) {
            (0, Some(name)) if !name.is_empty() => {
                if out.contains_key(name) {
                    return Err(bad(line, format!("campaign `{name}` appears twice")));
                }
                out.insert(name.into(), BetaPrior { alpha: vec![], beta: vec![] });
                campaign = Some(name.into());
                key = None;
            }
            (2, Some(k @ ("alpha" | "beta"))) if campaign.is_some() => {
                key = Some(if k == "alpha" { "alpha" } else { "beta" })
            }
            _ => {
                let (Some(c), Some(k), Some(item)) = (&campaign, key, body.strip_prefix("- ")) else {
                    return Err(bad(
                        line,
                        format!("expected `campaign:`, `  alpha:`, `  beta:` or `    - number`, found `{body}`"),
                    ));
                };
                let v: f64 =
                    item.trim().parse().map_err(|_| bad(line, format!("`{}` is not a number", item.trim())))?;
                if !(v > 0.0 && v.is_finite()) {
                    return Err(bad(line, format!("{k} {v} is not a positive number (a Beta prior's parameter)")));
                }
                let p = out.get_mut(c).expect("inserted above");
                if k == "alpha" { p.alpha.push(v) } else { p.beta.push(v) }
            }
        }
    }
    for (c, p) in &out {
        if p.alpha.is_empty() || p.alpha.len() != p.beta.len() {
            return Err(ObdError::File {
                path: shown.into(),
                message: format!(
                    "campaign `{c}`: {} alpha and {} beta values (want as many, at least one)",
                    p.alpha.len(),
                    p.beta.len()
                ),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = ",timestamp,item_id,position,click,propensity_score,user_feature_0\n";

    #[test]
    fn logs_are_read_as_obp_reads_them() {
        let text = format!("{HEADER}0,t0,3,1,0,0.25,a\n1,t1,0,3,1,0.5,b\n2,t2,1,2,0,1.0,c\n");
        let logs = parse_logs(text.as_bytes(), "x.csv").unwrap();
        assert_eq!(logs.action, [3, 0, 1]);
        assert_eq!(logs.position, [0, 2, 1]);
        assert_eq!(logs.reward, [0.0, 1.0, 0.0]);
        assert_eq!(logs.pscore, [0.25, 0.5, 1.0]);
        assert_eq!((logs.n_actions, logs.len_list, logs.n_rounds()), (4, 3, 3));
        assert!((logs.mean_reward() - 1.0 / 3.0).abs() < 1e-15);
        assert_eq!(logs.check(), Ok(()));
    }

    #[test]
    fn a_propensity_of_zero_is_refused_naming_file_and_line() {
        let text = format!("{HEADER}0,t0,3,1,0,0.25,a\n1,t1,0,3,1,0.0,b\n");
        let err = parse_logs(text.as_bytes(), "random/all/all.csv").unwrap_err().to_string();
        assert!(err.starts_with("random/all/all.csv:3: propensity_score 0 is not in (0, 1]"), "{err}");
        for (bad, want) in [
            ("0,t,3,1,2,0.5,a", ":2: click `2`"),
            ("0,t,3,0,0,0.5,a", ":2: position `0`"),
            ("0,t,-1,1,0,0.5,a", ":2: item_id `-1`"),
            ("0,t,3,1,0,nan,a", ":2: propensity_score NaN"),
            ("0,t,3,1,0,1.5,a", ":2: propensity_score 1.5"),
            ("0,t,3,1,0", ":2:"),
        ] {
            let err = parse_logs(format!("{HEADER}{bad}\n").as_bytes(), "f.csv").unwrap_err().to_string();
            assert!(err.starts_with(&format!("f.csv{want}")), "{bad}: {err}");
        }
        let err = parse_logs(",item_id,position,click\n".as_bytes(), "h.csv").unwrap_err().to_string();
        assert!(err.starts_with("h.csv:1: no column `propensity_score`"), "{err}");
        let err = parse_logs(HEADER.as_bytes(), "e.csv").unwrap_err().to_string();
        assert_eq!(err, "e.csv: no logged rounds");
    }

    #[test]
    fn the_prior_file_is_read_with_errors_naming_the_line() {
        let text = concat!(
            "all:\n  alpha:\n    - 47.0\n    - 8.0\n  beta:\n    - 12198.0\n    - 3566.0\n",
            "men:\n  alpha:\n    - 1.0\n  beta:\n    - 2.0\n\n"
        );
        let p = parse_prior(text, "prior_bts.yaml").unwrap();
        assert_eq!(p["all"], BetaPrior { alpha: vec![47.0, 8.0], beta: vec![12198.0, 3566.0] });
        assert_eq!(p["men"].alpha, [1.0]);
        let err = parse_prior(&text.replace("- 8.0", "- eight"), "p.yaml").unwrap_err().to_string();
        assert_eq!(err, "p.yaml:4: `eight` is not a number");
        let err = parse_prior(&text.replace("- 8.0", "- 0.0"), "p.yaml").unwrap_err().to_string();
        assert!(err.starts_with("p.yaml:4: alpha 0 is not a positive number"), "{err}");
        let err = parse_prior(&text.replace("  beta:\n    - 12198.0\n", "  beta:\n"), "p.yaml").unwrap_err();
        assert!(err.to_string().starts_with("p.yaml: campaign `all`: 2 alpha and 1 beta"), "{err}");
        let err = parse_prior(&text.replace("  alpha:", "  gamma:"), "p.yaml").unwrap_err().to_string();
        assert!(err.starts_with("p.yaml:2: expected"), "{err}");
    }
}
