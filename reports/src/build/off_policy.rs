//! The "Off-policy estimates" section ([`crate::analysis::off_policy`]): per suite, seed and
//! evaluated logs, one table of every policy and estimator with its estimate and bootstrap
//! interval, the published value beside it and the relative error against the on-policy value
//! of the policy's own logs; then the on-policy rows.

use crate::analysis::off_policy::{OffPolicyTable, PublishedEstimate, off_policy_tables};
use crate::doc::{Block, Cell, Column, Row, Section, Table, code};
use crate::off_policy::OffPolicyRow;

/// Digits of click rates (about 0.004): six decimals, as obp prints them.
const DIGITS: usize = 6;

fn num(value: f64) -> Cell {
    Cell::Num { value, digits: DIGITS }
}

fn opt(value: Option<f64>) -> Cell {
    value.map_or(Cell::Missing, num)
}

/// The section (`None` when the run has no off-policy rows).
pub fn section(rows: &[OffPolicyRow], published: &[PublishedEstimate]) -> Option<Section> {
    if rows.is_empty() {
        return None;
    }
    let mut s = Section::new("Off-policy estimates", "off-policy");
    s.push(Block::Paragraph(format!(
        "Each policy's value (expected click per impression) estimated from logs another policy collected, by \
         obp's estimators: {} (inverse propensity weighting), {} (self-normalised), {} (direct method, our reward \
         model: per item and position click rates shrunk to the position's rate, cross-fitted) and {} (doubly \
         robust). Intervals are obp's percentile bootstrap over logged rounds. The on-policy rows are the mean \
         click of logs under the policy that collected them: the value an estimate of that policy should find; \
         relative error is obp's |estimate − on-policy| / on-policy.",
        code("ipw"),
        code("snipw"),
        code("dm"),
        code("dr")
    )));
    for t in off_policy_tables(rows, published) {
        s.push(Block::Table(table(&t)));
    }
    Some(s)
}

fn table(t: &OffPolicyTable) -> Table {
    let alpha = t.lines.first().map_or(0.05, |l| l.row.alpha);
    let level = format!("{}%", crate::format::short(100.0 * (1.0 - alpha)));
    let columns = vec![
        Column::text("policy"),
        Column::text("estimator"),
        Column::num("estimate"),
        Column::num(&format!("{level} CI low")),
        Column::num(&format!("{level} CI high")),
        Column::num("published"),
        Column::num("published CI low"),
        Column::num("published CI high"),
        Column::num("relative error"),
    ];
    let mut rows: Vec<Row> = t
        .lines
        .iter()
        .map(|l| {
            let p = l.published.as_ref();
            Row::new(vec![
                Cell::name(&l.row.policy),
                Cell::Text(l.row.estimator.clone()),
                num(l.row.estimate),
                num(l.row.ci_low),
                num(l.row.ci_high),
                opt(p.map(|p| p.value)),
                opt(p.and_then(|p| p.ci_low)),
                opt(p.and_then(|p| p.ci_high)),
                l.relative_error().map_or(Cell::Missing, |e| Cell::Num { value: e, digits: 4 }),
            ])
        })
        .collect();
    for o in &t.on_policy {
        rows.push(Row::new(vec![
            Cell::name(&o.policy),
            Cell::Text(format!("on-policy ({})", o.logs)),
            num(o.estimate),
            num(o.ci_low),
            num(o.ci_high),
            Cell::Missing,
            Cell::Missing,
            Cell::Missing,
            Cell::Missing,
        ]));
    }
    let n = t.lines.first().map_or(0, |l| l.row.n_rounds);
    let boots = t.lines.first().map_or(0, |l| l.row.n_bootstrap);
    let mut notes = vec![format!(
        "Logs {} ({n} rounds); {boots} bootstrap resamples, shared by every policy and estimator; seed {}.",
        code(&t.logs),
        t.seed
    )];
    let mut sources: Vec<&str> =
        t.lines.iter().filter_map(|l| l.published.as_ref()).map(|p| p.source.as_str()).collect();
    sources.dedup();
    for src in sources {
        notes.push(format!("Published: {src}."));
    }
    Table { title: format!("Suite {}, logs {}", code(&t.suite), code(&t.logs)), columns, rows, notes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::off_policy::PublishedEstimate;

    #[test]
    fn the_section_has_one_table_with_the_published_value_beside_ours() {
        let mut rows = Vec::new();
        for (logs, policy, estimator, v) in [
            ("random/all", "bts", "ipw", 0.0046),
            ("random/all", "bts", "dm", 0.0035),
            ("bts/all", "bts", "on-policy", 0.0042),
        ] {
            rows.push(OffPolicyRow {
                suite: "open-bandit".into(),
                seed: 0,
                logs: logs.into(),
                policy: policy.into(),
                estimator: estimator.into(),
                estimate: v,
                boot_mean: v,
                ci_low: v - 0.001,
                ci_high: v + 0.001,
                n_rounds: 10_000,
                n_bootstrap: 10_000,
                alpha: 0.05,
            });
        }
        let published = [PublishedEstimate {
            suite: "open-bandit".into(),
            policy: "bts".into(),
            estimator: "ipw".into(),
            value: 0.004553,
            ci_low: Some(0.001531),
            ci_high: Some(0.009254),
            source: "obp 0.4.1 quickstart".into(),
        }];
        let s = section(&rows, &published).unwrap();
        let tables: Vec<&Table> =
            s.blocks.iter().filter_map(|b| if let Block::Table(t) = b { Some(t) } else { None }).collect();
        assert_eq!(tables.len(), 1);
        let text: Vec<Vec<String>> = tables[0].rows.iter().map(|r| r.cells.iter().map(Cell::text).collect()).collect();
        assert_eq!(text[0][..6], ["bts", "ipw", "0.004600", "0.003600", "0.005600", "0.004553"]);
        assert_eq!(text[0][8], "0.0952"); // |0.0046 − 0.0042| / 0.0042
        assert_eq!(text[1][5], "—");
        assert_eq!(text[2][..3], ["bts", "on-policy (bts/all)", "0.004200"]);
        assert!(tables[0].columns[3].head.starts_with("95% CI"));
        assert!(section(&[], &published).is_none());
    }
}
