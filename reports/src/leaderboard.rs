//! Markdown leaderboard: provenance, then one table per (suite, scenario,
//! metric) ranking methods by their [`Summary`].
//!
//! Only rows with `perturbation == "none"` are shown; rows with any other
//! perturbation are ignored for now (a later issue adds robustness sections).
//! The output depends only on the set of rows, not on their order.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write;

use crate::metrics::{Direction, direction};
use crate::results::ResultRow;
use crate::summary::{Summary, summarize};

/// Where the numbers come from, printed above the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub commit: String,
    pub dirty: bool,
    pub config_hash: String,
    /// (dataset name, sha256); printed sorted by name.
    pub data_hashes: Vec<(String, String)>,
    pub run_id: String,
}

/// Rendering choices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderboardOptions {
    /// Methods such as `"oracle"` that bound what is attainable: shown in
    /// sorted position, marked "(bound)", but not ranked and never bold.
    pub reference_methods: Vec<String>,
}

/// Scenarios listed first, in this order; others follow alphabetically.
const SCENARIO_ORDER: [&str; 4] = ["warm", "user-cold", "item-cold", "user-item-cold"];
/// Metrics listed first, in this order; others follow alphabetically.
const METRIC_ORDER: [&str; 2] = ["mae", "rmse"];

const TABLE_HEAD: &str = "| rank | method | mean | 95% CI | seed sd | users |\n\
                          |---:|---|---:|---|---:|---:|\n";
const CI_NOTE: &str = "95% t-interval over users; values averaged over seeds per user.";

/// Sort key putting the names of `first` first, in that order, then the rest
/// alphabetically.
type Ordered<'a> = (usize, &'a str);

fn ordered<'a>(name: &'a str, first: &[&str]) -> Ordered<'a> {
    (
        first.iter().position(|f| *f == name).unwrap_or(first.len()),
        name,
    )
}

/// (seed, user, value) of one method in one table.
type Values = Vec<(u64, u64, f64)>;
/// suite -> scenario -> metric -> method -> values.
type Cells<'a> =
    BTreeMap<&'a str, BTreeMap<Ordered<'a>, BTreeMap<Ordered<'a>, BTreeMap<&'a str, Values>>>>;

/// Renders the leaderboard of `rows` (see the module docs) as Markdown.
///
/// For each suite (alphabetical), scenario (warm, user-cold, item-cold,
/// user-item-cold, then others alphabetically) and metric (mae, rmse, then
/// others alphabetically) a table `| rank | method | mean | 95% CI | seed sd |
/// users |` lists the methods best first by [`direction`], ties broken by
/// method name; the best ranked method's mean is bold. A metric of unknown
/// direction is listed by method name, unranked, with a note. Numbers have 4
/// decimals.
pub fn render_markdown(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions) -> String {
    let mut cells: Cells = BTreeMap::new();
    for r in rows.iter().filter(|r| r.perturbation == "none") {
        cells
            .entry(&r.suite)
            .or_default()
            .entry(ordered(&r.scenario, &SCENARIO_ORDER))
            .or_default()
            .entry(ordered(&r.metric, &METRIC_ORDER))
            .or_default()
            .entry(&r.method)
            .or_default()
            .push((r.seed, r.user, r.value));
    }

    let mut out = String::from("# metarec leaderboard\n\n");
    provenance(&mut out, prov);
    if cells.is_empty() {
        out.push_str("\n_No results with perturbation `none`._\n");
    }
    for (suite, scenarios) in &cells {
        let _ = write!(out, "\n## Suite `{suite}`\n");
        for ((_, scenario), metrics) in scenarios {
            let _ = write!(out, "\n### {suite} / {scenario}\n");
            for ((_, metric), methods) in metrics {
                table(&mut out, metric, methods, opts);
            }
        }
    }
    out
}

fn provenance(out: &mut String, prov: &Provenance) {
    let dirty = if prov.dirty { " (dirty)" } else { "" };
    let _ = writeln!(out, "- commit: `{}`{dirty}", prov.commit);
    let _ = writeln!(out, "- config: `{}`", prov.config_hash);
    let _ = writeln!(out, "- run: `{}`", prov.run_id);
    let mut data: Vec<_> = prov.data_hashes.iter().collect();
    data.sort();
    if data.is_empty() {
        out.push_str("- data: none\n");
    } else {
        out.push_str("- data (sha256):\n");
        for (name, hash) in data {
            let _ = writeln!(out, "  - {name}: `{hash}`");
        }
    }
}

fn table(
    out: &mut String,
    metric: &str,
    methods: &BTreeMap<&str, Values>,
    opts: &LeaderboardOptions,
) {
    let dir = direction(metric);
    let label = match dir {
        Some(Direction::LowerIsBetter) => "lower is better",
        Some(Direction::HigherIsBetter) => "higher is better",
        None => "direction unknown",
    };
    let _ = write!(out, "\n#### {metric} ({label})\n\n{TABLE_HEAD}");

    // `methods` iterates by name, and the sort is stable: ties stay in name order.
    let mut lines: Vec<(&str, Summary)> = methods
        .iter()
        .filter_map(|(m, v)| Some((*m, summarize(v)?)))
        .collect();
    if let Some(d) = dir {
        lines.sort_by(|a, b| better_first(a.1.mean, b.1.mean, d));
    }

    let mut rank = 0;
    for (method, s) in &lines {
        let is_reference = opts.reference_methods.iter().any(|r| r == method);
        let (rank_cell, name, mean) = if is_reference || dir.is_none() {
            let bound = if is_reference { " (bound)" } else { "" };
            (
                "—".to_owned(),
                format!("{}{bound}", escape(method)),
                num(s.mean),
            )
        } else {
            rank += 1;
            let mean = if rank == 1 {
                format!("**{}**", num(s.mean))
            } else {
                num(s.mean)
            };
            (rank.to_string(), escape(method), mean)
        };
        let _ = writeln!(
            out,
            "| {rank_cell} | {name} | {mean} | [{}, {}] | {} | {} |",
            num(s.ci_low),
            num(s.ci_high),
            num(s.seed_sd),
            s.n_units
        );
    }
    out.push('\n');
    if dir.is_none() {
        let _ = writeln!(
            out,
            "Direction of `{metric}` is unknown: methods are listed by name, not ranked."
        );
    }
    let _ = writeln!(out, "{CI_NOTE}");
}

/// Orders means best first for `dir`, NaN last.
fn better_first(a: f64, b: f64, dir: Direction) -> Ordering {
    let by_value = match dir {
        Direction::LowerIsBetter => a.partial_cmp(&b),
        Direction::HigherIsBetter => b.partial_cmp(&a),
    };
    a.is_nan()
        .cmp(&b.is_nan())
        .then(by_value.unwrap_or(Ordering::Equal))
}

fn num(x: f64) -> String {
    format!("{x:.4}")
}

/// Keeps a name from breaking the table.
fn escape(name: &str) -> String {
    name.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        scenario: &str,
        method: &str,
        metric: &str,
        seed: u64,
        user: u64,
        value: f64,
    ) -> ResultRow {
        ResultRow {
            suite: "ml".into(),
            scenario: scenario.into(),
            method: method.into(),
            seed,
            perturbation: "none".into(),
            user,
            metric: metric.into(),
            value,
        }
    }

    /// `values[s][u]` is the value of seed s+1 and user u+1.
    fn cell(method: &str, metric: &str, values: [[f64; 3]; 2]) -> Vec<ResultRow> {
        (0..2)
            .flat_map(|s| (0..3).map(move |u| (s, u)))
            .map(|(s, u)| {
                row(
                    "warm",
                    method,
                    metric,
                    s as u64 + 1,
                    u as u64 + 1,
                    values[s][u],
                )
            })
            .collect()
    }

    fn prov(dirty: bool, data: &[(&str, &str)]) -> Provenance {
        Provenance {
            commit: "abc1234".into(),
            dirty,
            config_hash: "cfg9".into(),
            data_hashes: data
                .iter()
                .map(|(n, h)| (n.to_string(), h.to_string()))
                .collect(),
            run_id: "run-7".into(),
        }
    }

    fn oracle() -> LeaderboardOptions {
        LeaderboardOptions {
            reference_methods: vec!["oracle".into()],
        }
    }

    /// 2 methods + oracle, 3 users, 2 seeds, plus a perturbed row to ignore.
    fn example_rows() -> Vec<ResultRow> {
        let mut rows = [
            cell("maml", "mae", [[0.7, 0.9, 1.1], [0.9, 1.1, 1.3]]),
            cell("protonet", "mae", [[1.0, 1.1, 1.5], [1.2, 1.3, 1.9]]),
            cell("oracle", "mae", [[0.5; 3]; 2]),
            cell("maml", "ndcg@10", [[0.3; 3]; 2]),
            cell("protonet", "ndcg@10", [[0.4; 3]; 2]),
            cell("oracle", "ndcg@10", [[1.0; 3]; 2]),
        ]
        .concat();
        let mut perturbed = row("warm", "maml", "mae", 1, 1, 100.0);
        perturbed.perturbation = "noise-0.1".into();
        rows.push(perturbed);
        rows
    }

    // mae, maml: per-user means (0.7+0.9)/2 = 0.8, 1.0, 1.2 -> mean 1.0, sd 0.2,
    //   sem 0.2/sqrt(3) = 0.11547005, t_{0.975,2} = 4.30265273 (closed form
    //   0.95*sqrt(2/0.0975)), half 0.49682754 -> [0.5032, 1.4968];
    //   per-seed means 2.7/3 = 0.9 and 3.3/3 = 1.1 -> sd 0.2/sqrt(2) = 0.1414.
    // mae, protonet: per-user 1.1, 1.2, 1.7 -> mean 4/3 = 1.3333, sd
    //   sqrt(0.2066667/2) = 0.32145503, sem 0.18559215, half 0.79853855
    //   -> [0.5348, 2.1319]; per-seed 3.6/3 = 1.2, 4.4/3 = 1.46667 -> sd
    //   0.26667/sqrt(2) = 0.1886.
    // oracle and all ndcg@10 cells are constant: CI = [mean, mean], sd 0.
    // mae is lower-is-better (oracle 0.5 < maml 1.0 < protonet 1.3333);
    // ndcg@10 is higher-is-better (oracle 1.0 > protonet 0.4 > maml 0.3).
    const EXPECTED: &str = "\
# metarec leaderboard

- commit: `abc1234` (dirty)
- config: `cfg9`
- run: `run-7`
- data (sha256):
  - movielens-1m: `e3b0`
  - netflix: `9f86`

## Suite `ml`

### ml / warm

#### mae (lower is better)

| rank | method | mean | 95% CI | seed sd | users |
|---:|---|---:|---|---:|---:|
| — | oracle (bound) | 0.5000 | [0.5000, 0.5000] | 0.0000 | 3 |
| 1 | maml | **1.0000** | [0.5032, 1.4968] | 0.1414 | 3 |
| 2 | protonet | 1.3333 | [0.5348, 2.1319] | 0.1886 | 3 |

95% t-interval over users; values averaged over seeds per user.

#### ndcg@10 (higher is better)

| rank | method | mean | 95% CI | seed sd | users |
|---:|---|---:|---|---:|---:|
| — | oracle (bound) | 1.0000 | [1.0000, 1.0000] | 0.0000 | 3 |
| 1 | protonet | **0.4000** | [0.4000, 0.4000] | 0.0000 | 3 |
| 2 | maml | 0.3000 | [0.3000, 0.3000] | 0.0000 | 3 |

95% t-interval over users; values averaged over seeds per user.
";

    #[test]
    fn example_renders_exactly() {
        let p = prov(true, &[("netflix", "9f86"), ("movielens-1m", "e3b0")]);
        assert_eq!(render_markdown(&example_rows(), &p, &oracle()), EXPECTED);
    }

    #[test]
    fn output_ignores_row_order() {
        let p = prov(true, &[("netflix", "9f86"), ("movielens-1m", "e3b0")]);
        let rows = example_rows();
        let n = rows.len();
        // permutation i -> 5i mod n (5 is coprime to n = 37), then reversed
        let mut shuffled: Vec<ResultRow> = (0..n).map(|i| rows[i * 5 % n].clone()).collect();
        assert_ne!(shuffled, rows);
        let first = render_markdown(&shuffled, &p, &oracle());
        shuffled.reverse();
        assert_eq!(first, EXPECTED);
        assert_eq!(render_markdown(&shuffled, &p, &oracle()), EXPECTED);
    }

    fn headings(md: &str, prefix: &str) -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn scenario_and_metric_order() {
        let scenarios = [
            "zeta",
            "user-item-cold",
            "alpha",
            "item-cold",
            "user-cold",
            "warm",
        ];
        let metrics = ["ndcg@5", "rmse", "loss", "mae", "auc"];
        let rows: Vec<ResultRow> = scenarios
            .iter()
            .flat_map(|s| metrics.iter().map(move |m| row(s, "a", m, 1, 1, 0.5)))
            .collect();
        let md = render_markdown(&rows, &prov(false, &[]), &LeaderboardOptions::default());
        let want: Vec<String> = [
            "warm",
            "user-cold",
            "item-cold",
            "user-item-cold",
            "alpha",
            "zeta",
        ]
        .iter()
        .map(|s| format!("### ml / {s}"))
        .collect();
        assert_eq!(headings(&md, "### "), want);
        let per_scenario = [
            "#### mae (lower is better)",
            "#### rmse (lower is better)",
            "#### auc (higher is better)",
            "#### loss (direction unknown)",
            "#### ndcg@5 (higher is better)",
        ];
        assert_eq!(headings(&md, "#### "), per_scenario.repeat(6));
        assert!(
            md.contains("- commit: `abc1234`\n- config: `cfg9`\n- run: `run-7`\n- data: none\n")
        );
    }

    #[test]
    fn ties_by_name_and_unknown_direction_unranked() {
        let rows = [
            row("warm", "b", "mae", 1, 1, 0.5),
            row("warm", "a", "mae", 1, 1, 0.5),
            row("warm", "z", "loss", 1, 1, 0.1),
            row("warm", "oracle", "loss", 1, 1, 0.0),
            row("warm", "y|x", "loss", 1, 1, 0.9),
        ];
        let md = render_markdown(&rows, &prov(false, &[]), &oracle());
        // equal means 0.5: "a" before "b"; one user so CI = [mean, mean]
        assert!(md.contains(
            "| 1 | a | **0.5000** | [0.5000, 0.5000] | 0.0000 | 1 |\n\
             | 2 | b | 0.5000 | [0.5000, 0.5000] | 0.0000 | 1 |\n"
        ));
        // unknown direction: name order ("oracle" < "y|x" < "z"), no rank, no bold
        assert!(md.contains(
            "| — | oracle (bound) | 0.0000 | [0.0000, 0.0000] | 0.0000 | 1 |\n\
             | — | y\\|x | 0.9000 | [0.9000, 0.9000] | 0.0000 | 1 |\n\
             | — | z | 0.1000 | [0.1000, 0.1000] | 0.0000 | 1 |\n\n\
             Direction of `loss` is unknown: methods are listed by name, not ranked.\n"
        ));
    }

    #[test]
    fn only_perturbed_rows_gives_note() {
        let mut r = row("warm", "a", "mae", 1, 1, 0.5);
        r.perturbation = "drop".into();
        let md = render_markdown(&[r], &prov(false, &[]), &oracle());
        assert!(
            md.ends_with("- data: none\n\n_No results with perturbation `none`._\n"),
            "{md}"
        );
    }
}
