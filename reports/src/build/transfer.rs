//! The multi-task transfer section ([`crate::analysis::transfer`]): per (suite, scenario), one
//! table of every shared model's gain over the reference on each objective metric, then one
//! summary table (`Delta_m`, negative transfer, seesaw, parameter counts). No renderer code.

use crate::analysis::transfer::{Transfer, TransferOptions};
use crate::doc::{Block, Cell, Column, Mark, Row, Section, Table, code};
use std::collections::BTreeMap;

/// The section (`None` when no multi-objective suite has the reference). `parameters` maps
/// (suite, method) to the trainable parameter count the cells recorded.
pub fn section(
    transfers: &[Transfer],
    opts: &TransferOptions,
    parameters: &BTreeMap<(String, String), u64>,
) -> Option<Section> {
    if transfers.is_empty() {
        return None;
    }
    let mut s = Section::new("Multi-task transfer", "transfer");
    s.push(Block::Paragraph(format!(
        "Each shared model against {} (no sharing) on every objective metric: the means over test users \
         (seeds averaged per user), the paired difference (model − reference) with its 95% t-interval, and the \
         paired t-test's p-value. {} marks a significant gain, {} a significant loss (p < {}). Metric names \
         carry the objective.",
        code(&opts.reference),
        Mark::Dagger.symbol(),
        Mark::Star.symbol(),
        opts.alpha
    )));
    let mut keys: Vec<(&str, &str)> = transfers.iter().map(|t| (t.suite.as_str(), t.scenario.as_str())).collect();
    keys.dedup();
    for (suite, scenario) in keys {
        let these: Vec<&Transfer> = transfers.iter().filter(|t| t.suite == suite && t.scenario == scenario).collect();
        let columns = vec![
            Column::text("metric"),
            Column::text("method"),
            Column::num("reference"),
            Column::num("method"),
            Column::num("difference [95% CI]"),
            Column::num("p"),
            Column::num("relative gain"),
            Column::num("users"),
        ];
        let mut rows = Vec::new();
        let mut metrics: Vec<&str> = these.iter().flat_map(|t| t.gains.iter().map(|g| g.metric.as_str())).collect();
        metrics.sort_unstable();
        metrics.dedup();
        for metric in metrics {
            for t in &these {
                let Some(g) = t.gains.iter().find(|g| g.metric == metric) else { continue };
                let diff = Cell::Estimate { mean: g.diff, low: g.low, high: g.high };
                let diff = match g.significant(opts.alpha) {
                    Some(true) => Cell::Marked(Box::new(diff), Mark::Dagger),
                    Some(false) => Cell::Marked(Box::new(diff), Mark::Star),
                    None => diff,
                };
                rows.push(Row::new(vec![
                    Cell::Text(g.metric.clone()),
                    Cell::name(&t.method),
                    Cell::num(g.reference_mean),
                    Cell::num(g.method_mean),
                    diff,
                    g.p.map_or(Cell::Missing, Cell::P),
                    Cell::Percent(100.0 * g.relative()),
                    Cell::Int(g.users as u64),
                ]));
            }
        }
        s.push(Block::Table(Table {
            title: format!("{suite}, {scenario}: gains over {}", opts.reference),
            columns,
            rows,
            notes: vec![
                "Relative gain: (model − reference) / reference, sign turned so that positive is better.".into(),
            ],
        }));
        let columns = vec![
            Column::text("method"),
            Column::num("Δm"),
            Column::text("negative transfer"),
            Column::text("seesaw"),
            Column::num("parameters"),
        ];
        let mut rows = Vec::new();
        if let Some(n) = parameters.get(&(suite.to_string(), opts.reference.clone())) {
            rows.push(Row::new(vec![
                Cell::name(&opts.reference),
                Cell::Missing,
                Cell::Missing,
                Cell::Missing,
                Cell::Int(*n),
            ]));
        }
        for t in &these {
            rows.push(Row::new(vec![
                Cell::name(&t.method),
                t.delta_m.map_or(Cell::Missing, Cell::Percent),
                Cell::Text(if t.negative_transfer.is_empty() { "no".into() } else { t.negative_transfer.join(", ") }),
                Cell::Text(if t.seesaw { "yes" } else { "no" }.into()),
                parameters.get(&(suite.to_string(), t.method.clone())).map_or(Cell::Missing, |n| Cell::Int(*n)),
            ]));
        }
        s.push(Block::Table(Table {
            title: format!("{suite}, {scenario}: summary"),
            columns,
            rows,
            notes: vec![
                "Δm (Vandenhende et al. 2021): mean over objectives of the relative gain on the objective's primary \
                 metric (MAE for ratings and continuous objectives, AUC for binary ones)."
                    .into(),
                "Negative transfer: the objectives whose primary metric is significantly worse than the reference's; \
                 seesaw: significantly better on one objective and significantly worse on another."
                    .into(),
                "Parameters: trainable parameters the cells recorded (single-objective models are not counted).".into(),
            ],
        }));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::transfer::Gain;

    #[test]
    fn marks_flags_and_counts_reach_the_tables() {
        let g = Gain {
            objective: "like".into(),
            metric: "like/auc".into(),
            lower_is_better: false,
            users: 3,
            reference_mean: 0.7,
            method_mean: 0.6,
            diff: -0.1,
            low: -0.15,
            high: -0.05,
            p: Some(0.01),
            primary: true,
        };
        let t = Transfer {
            suite: "s".into(),
            scenario: "user-cold".into(),
            method: "mtl-hard".into(),
            gains: vec![g],
            delta_m: Some(-100.0 / 7.0),
            negative_transfer: vec!["like".into()],
            seesaw: false,
        };
        let params = BTreeMap::from([(("s".to_string(), "mtl-hard".to_string()), 1234u64)]);
        let s = section(&[t], &TransferOptions::default(), &params).unwrap();
        let tables: Vec<&Table> = s
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .collect();
        assert_eq!(tables.len(), 2);
        assert!(matches!(tables[0].rows[0].cells[4], Cell::Marked(_, Mark::Star)));
        assert_eq!(tables[0].rows[0].cells[6].text(), "-14.3%");
        assert_eq!(tables[1].rows[0].cells[2].text(), "like");
        assert_eq!(tables[1].rows[0].cells[4].text(), "1234");
        assert!(section(&[], &TransferOptions::default(), &params).is_none());
    }
}
