//! Results as a `model-index.yml` in the style of Papers with Code: a
//! `Provenance` mapping and a `Models` list, one entry per method with one
//! result per (suite, scenario) dataset.
//!
//! ```yaml
//! Provenance:
//!   commit: "abc1234"
//!   dirty: false
//!   config_hash: "cfg9"
//!   data_hashes:
//!     - name: "movielens-1m"
//!       sha256: "e3b0"
//!   run_id: "run-7"
//! Models:
//!   - Name: "maml"
//!     Metadata:
//!       Reference: false
//!     Results:
//!       - Task: "Cold-start rating prediction"
//!         Dataset: "ml/warm"
//!         Metrics:
//!           "mae": 1.0
//!           "mae 95% CI low": 0.5031724576499332
//!           "mae 95% CI high": 1.4968275423500668
//! ```
//!
//! **Values** are those of the leaderboard ([`crate::summary::summarize`]):
//! only rows with perturbation `"none"`; `"<metric>"` is the mean over users
//! of the per-user mean over seeds, `"<metric> 95% CI low"` and `"... high"`
//! the two-sided 95% Student-t interval over users (the flat form of the
//! Papers-with-Code `Metrics` mapping, whose values are numbers). Numbers are
//! written in Rust's shortest round-trip form with a decimal point, so a YAML
//! parser reads back the exact `f64`. A non-finite value is not written: a
//! YAML comment in its place says it was left out.
//!
//! **Order**: models by method name; results in leaderboard order (suite
//! alphabetically, then the scenario order of the leaderboard); metrics in
//! leaderboard order (mae, rmse, then alphabetically). Reference methods
//! (such as the oracle) are listed too, with `Metadata: Reference: true`.
//! Every string scalar, keys of metrics included, is double-quoted with YAML
//! escapes. The output depends only on the set of rows.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::analysis::leaderboard::LeaderboardOptions;
use crate::analysis::table::group_rows;
use crate::doc::Provenance;
use crate::results::ResultRow;
use crate::summary::{Summary, summarize};

/// The `Task` of every result.
pub const TASK: &str = "Cold-start rating prediction";

/// Results of one method on one (suite, scenario): the key and its metrics.
type ModelResult<'a> = ((&'a str, &'a str), Vec<(&'a str, Summary)>);

/// Renders `rows` as a `model-index.yml` (see the module docs).
pub fn render_model_index(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions) -> String {
    let cells = group_rows(rows);
    let mut models: BTreeMap<&str, Vec<ModelResult>> = BTreeMap::new();
    for (suite, scenarios) in &cells {
        for ((_, scenario), metrics) in scenarios {
            for ((_, metric), methods) in metrics {
                for (method, values) in methods {
                    let Some(s) = summarize(values) else { continue };
                    let results = models.entry(method).or_default();
                    // a method's results of one (suite, scenario) arrive together
                    match results.last_mut() {
                        Some((key, metrics)) if *key == (*suite, *scenario) => metrics.push((metric, s)),
                        _ => results.push(((suite, scenario), vec![(metric, s)])),
                    }
                }
            }
        }
    }

    let mut out = String::from(
        "# model-index.yml of a metarec run, in the style of Papers with Code.\n\
         # \"<metric>\": mean over users of the per-user mean over seeds (perturbation \"none\");\n\
         # \"<metric> 95% CI low\" / \"high\": two-sided 95% Student-t interval over users.\n",
    );
    let _ = write!(
        out,
        "Provenance:\n  commit: {}\n  dirty: {}\n  config_hash: {}\n",
        quote(&prov.commit),
        prov.dirty,
        quote(&prov.config_hash)
    );
    let mut data: Vec<_> = prov.data_hashes.iter().collect();
    data.sort();
    if data.is_empty() {
        out.push_str("  data_hashes: []\n");
    } else {
        out.push_str("  data_hashes:\n");
        for (name, hash) in data {
            let _ = write!(out, "    - name: {}\n      sha256: {}\n", quote(name), quote(hash));
        }
    }
    let _ = writeln!(out, "  run_id: {}", quote(&prov.run_id));
    if models.is_empty() {
        out.push_str("Models: []\n");
        return out;
    }
    out.push_str("Models:\n");
    for (method, results) in &models {
        let reference = opts.reference_methods.iter().any(|r| r == method);
        let _ = write!(out, "  - Name: {}\n    Metadata:\n      Reference: {reference}\n    Results:\n", quote(method));
        for ((suite, scenario), metrics) in results {
            let _ = write!(
                out,
                "      - Task: {}\n        Dataset: {}\n",
                quote(TASK),
                quote(&format!("{suite}/{scenario}"))
            );
            let mut entries = String::new();
            let mut left_out = String::new();
            for (metric, s) in metrics {
                let keys = [metric.to_string(), format!("{metric} 95% CI low"), format!("{metric} 95% CI high")];
                for (key, value) in keys.iter().zip([s.mean, s.ci_low, s.ci_high]) {
                    if value.is_finite() {
                        let _ = writeln!(entries, "          {}: {}", quote(key), number(value));
                    } else {
                        let _ = writeln!(left_out, "          # {}: not finite, left out", quote(key));
                    }
                }
            }
            if entries.is_empty() {
                out.push_str("        Metrics: {}\n");
            } else {
                out.push_str("        Metrics:\n");
                out.push_str(&entries);
            }
            out.push_str(&left_out);
        }
    }
    out
}

/// A YAML double-quoted scalar: `"` and `\` escaped, and every character
/// that is not printable in YAML or would break the line (C0 and C1
/// controls, DEL, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF) written as an
/// escape (`\n`, `\t`, `\r`, else `\uXXXX`).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}') => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A finite number in Rust's shortest round-trip form, with a decimal point
/// so that YAML reads a float (`1` becomes `1.0`).
fn number(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::Value;

    fn row(scenario: &str, method: &str, metric: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        crate::testing::clean_row("ml", scenario, method, metric, seed, user, value)
    }

    fn prov() -> Provenance {
        Provenance {
            commit: "abc1234".into(),
            dirty: true,
            config_hash: "cfg9".into(),
            data_hashes: vec![("netflix".into(), "9f86".into()), ("movielens-1m".into(), "e3b0".into())],
            run_id: "run-7".into(),
        }
    }

    fn oracle() -> LeaderboardOptions {
        LeaderboardOptions { reference_methods: vec!["oracle".into()], ..Default::default() }
    }

    /// maml and protonet on 3 users x 2 seeds (the leaderboard's example), the
    /// oracle, a second scenario, and a perturbed row to ignore.
    fn example_rows() -> Vec<ResultRow> {
        let mut rows = Vec::new();
        let cell = |rows: &mut Vec<ResultRow>, scenario: &str, method: &str, metric: &str, v: [[f64; 3]; 2]| {
            for (s, seed) in v.iter().enumerate() {
                for (u, x) in seed.iter().enumerate() {
                    rows.push(row(scenario, method, metric, s as u64 + 1, u as u64 + 1, *x));
                }
            }
        };
        cell(&mut rows, "warm", "maml", "mae", [[0.7, 0.9, 1.1], [0.9, 1.1, 1.3]]);
        cell(&mut rows, "warm", "protonet", "mae", [[1.0, 1.1, 1.5], [1.2, 1.3, 1.9]]);
        cell(&mut rows, "warm", "oracle", "mae", [[0.5; 3]; 2]);
        cell(&mut rows, "warm", "maml", "ndcg@10", [[0.3; 3]; 2]);
        cell(&mut rows, "user-cold", "maml", "mae", [[1.0; 3]; 2]);
        let mut perturbed = row("warm", "maml", "mae", 1, 1, 100.0);
        perturbed.perturbation = "noise-0.1".into();
        rows.push(perturbed);
        rows
    }

    #[test]
    fn small_example_renders_exactly() {
        let rows = [
            row("user-cold", "maml", "rmse", 1, 1, 0.8),
            row("user-cold", "maml", "mae", 1, 1, 0.75),
            row("warm", "maml", "mae", 1, 1, 1.0),
            row("warm", "oracle", "mae", 1, 1, 0.5),
        ];
        let p = Provenance { data_hashes: Vec::new(), dirty: false, ..prov() };
        // one user: CI = [mean, mean]; warm before user-cold, mae before rmse
        let want = "\
# model-index.yml of a metarec run, in the style of Papers with Code.
# \"<metric>\": mean over users of the per-user mean over seeds (perturbation \"none\");
# \"<metric> 95% CI low\" / \"high\": two-sided 95% Student-t interval over users.
Provenance:
  commit: \"abc1234\"
  dirty: false
  config_hash: \"cfg9\"
  data_hashes: []
  run_id: \"run-7\"
Models:
  - Name: \"maml\"
    Metadata:
      Reference: false
    Results:
      - Task: \"Cold-start rating prediction\"
        Dataset: \"ml/warm\"
        Metrics:
          \"mae\": 1.0
          \"mae 95% CI low\": 1.0
          \"mae 95% CI high\": 1.0
      - Task: \"Cold-start rating prediction\"
        Dataset: \"ml/user-cold\"
        Metrics:
          \"mae\": 0.75
          \"mae 95% CI low\": 0.75
          \"mae 95% CI high\": 0.75
          \"rmse\": 0.8
          \"rmse 95% CI low\": 0.8
          \"rmse 95% CI high\": 0.8
  - Name: \"oracle\"
    Metadata:
      Reference: true
    Results:
      - Task: \"Cold-start rating prediction\"
        Dataset: \"ml/warm\"
        Metrics:
          \"mae\": 0.5
          \"mae 95% CI low\": 0.5
          \"mae 95% CI high\": 0.5
";
        assert_eq!(render_model_index(&rows, &p, &oracle()), want);
        let empty = render_model_index(&[], &p, &oracle());
        assert!(empty.ends_with("  run_id: \"run-7\"\nModels: []\n"), "{empty}");
        let parsed: Value = serde_yaml_ng::from_str(&empty).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed["Models"].as_sequence().map(Vec::len), Some(0));
    }

    fn parse(yaml: &str) -> Value {
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("not YAML ({e}):\n{yaml}"))
    }

    fn metric(result: &Value, key: &str) -> Option<f64> {
        result["Metrics"].get(key).and_then(Value::as_f64)
    }

    #[test]
    fn values_round_trip_through_a_yaml_parser() {
        let rows = example_rows();
        let yaml = render_model_index(&rows, &prov(), &oracle());
        let v = parse(&yaml);
        let p = &v["Provenance"];
        assert_eq!(p["commit"].as_str(), Some("abc1234"));
        assert_eq!(p["dirty"].as_bool(), Some(true));
        assert_eq!(p["config_hash"].as_str(), Some("cfg9"));
        assert_eq!(p["run_id"].as_str(), Some("run-7"));
        assert_eq!(p["data_hashes"][0]["name"].as_str(), Some("movielens-1m"));
        assert_eq!(p["data_hashes"][1]["sha256"].as_str(), Some("9f86"));

        let models = v["Models"].as_sequence().cloned().unwrap_or_default();
        let names: Vec<&str> = models.iter().filter_map(|m| m["Name"].as_str()).collect();
        assert_eq!(names, ["maml", "oracle", "protonet"]);
        let refs: Vec<Option<bool>> = models.iter().map(|m| m["Metadata"]["Reference"].as_bool()).collect();
        assert_eq!(refs, [Some(false), Some(true), Some(false)]);
        // maml: warm (mae, ndcg@10) then user-cold (mae); values exactly those of summarize
        let maml = models[0]["Results"].as_sequence().cloned().unwrap_or_default();
        let datasets: Vec<&str> = maml.iter().filter_map(|r| r["Dataset"].as_str()).collect();
        assert_eq!(datasets, ["ml/warm", "ml/user-cold"]);
        assert!(maml.iter().all(|r| r["Task"].as_str() == Some(TASK)));
        let warm: Vec<(u64, u64, f64)> = rows
            .iter()
            .filter(|r| r.method == "maml" && r.scenario == "warm" && r.metric == "mae" && r.perturbation == "none")
            .map(|r| (r.seed, r.user, r.value))
            .collect();
        let s = summarize(&warm).unwrap_or_else(|| panic!("no values"));
        // hand values (leaderboard tests): mean 1.0, CI [0.5032, 1.4968]
        assert!((s.mean - 1.0).abs() < 1e-12 && (s.ci_low - 0.5032).abs() < 1e-4);
        assert_eq!(metric(&maml[0], "mae"), Some(s.mean));
        assert_eq!(metric(&maml[0], "mae 95% CI low"), Some(s.ci_low));
        assert_eq!(metric(&maml[0], "mae 95% CI high"), Some(s.ci_high));
        assert_eq!(metric(&maml[0], "ndcg@10"), Some(0.3));
        assert_eq!(metric(&maml[1], "mae"), Some(1.0));
        assert_eq!(maml[0]["Metrics"].as_mapping().map(|m| m.len()), Some(6));
    }

    #[test]
    fn hostile_strings_round_trip() {
        let hostile = "a\"b\\c\n\td: #{}[]&*!|>'%@`,? -\u{0}\u{7f}\u{85}\u{2028}\u{feff}ü🦀";
        let rows = [row(hostile, hostile, hostile, 1, 1, 0.25)];
        let p = Provenance {
            commit: hostile.into(),
            config_hash: "\"".into(),
            data_hashes: vec![(hostile.into(), "\\".into())],
            run_id: "- x: y".into(),
            dirty: false,
        };
        let yaml = render_model_index(&rows, &p, &LeaderboardOptions::default());
        let v = parse(&yaml);
        assert_eq!(v["Provenance"]["commit"].as_str(), Some(hostile));
        assert_eq!(v["Provenance"]["config_hash"].as_str(), Some("\""));
        assert_eq!(v["Provenance"]["data_hashes"][0]["name"].as_str(), Some(hostile));
        assert_eq!(v["Provenance"]["data_hashes"][0]["sha256"].as_str(), Some("\\"));
        assert_eq!(v["Provenance"]["run_id"].as_str(), Some("- x: y"));
        let model = &v["Models"][0];
        assert_eq!(model["Name"].as_str(), Some(hostile));
        assert_eq!(model["Results"][0]["Dataset"].as_str(), Some(format!("ml/{hostile}").as_str()));
        assert_eq!(metric(&model["Results"][0], hostile), Some(0.25));
        assert_eq!(metric(&model["Results"][0], &format!("{hostile} 95% CI high")), Some(0.25));
        // one line per scalar: escapes keep line breaks out of strings
        assert_eq!(yaml.lines().filter(|l| l.contains("ü🦀")).count(), 7);
    }

    #[test]
    fn order_independent_and_non_finite_left_out() {
        let rows = example_rows();
        let first = render_model_index(&rows, &prov(), &oracle());
        let mut reversed = rows.clone();
        reversed.reverse();
        assert_eq!(render_model_index(&reversed, &prov(), &oracle()), first);
        let n = rows.len();
        let shuffled: Vec<ResultRow> = (0..n).map(|i| rows[i * 5 % n].clone()).collect();
        assert_ne!(n % 5, 0);
        assert_eq!(render_model_index(&shuffled, &prov(), &oracle()), first);

        let broken = [row("warm", "x", "mae", 1, 1, f64::NAN), row("warm", "x", "rmse", 1, 1, 0.5)];
        let yaml = render_model_index(&broken, &prov(), &oracle());
        let numbers = yaml.replace("Provenance", "");
        assert!(!numbers.contains("NaN") && !numbers.contains("nan") && !numbers.contains("inf"), "{yaml}");
        assert!(yaml.contains("          # \"mae\": not finite, left out\n"), "{yaml}");
        let v = parse(&yaml);
        let result = &v["Models"][0]["Results"][0];
        assert_eq!(metric(result, "mae"), None);
        assert_eq!(metric(result, "rmse"), Some(0.5));
        let only_nan = render_model_index(&broken[..1], &prov(), &oracle());
        assert!(only_nan.contains("        Metrics: {}\n"), "{only_nan}");
        assert_eq!(parse(&only_nan)["Models"][0]["Results"][0]["Metrics"].as_mapping().map(|m| m.len()), Some(0));
    }
}
