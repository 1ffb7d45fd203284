//! The reproduction section ([`crate::analysis::reproduction`]): per suite with published
//! values, one table of the paper's numbers beside ours, then the notes on why they may differ.

use crate::analysis::reproduction::{Published, reproduce};
use crate::doc::{Block, Cell, Column, Row, Section, Table, code};
use crate::results::ResultRow;

/// The section of every suite's published values (`None` when no suite declares any).
pub fn section(rows: &[ResultRow], published: &[Published]) -> Option<Section> {
    if published.is_empty() {
        return None;
    }
    let mut s = Section::new("Published results beside ours", "reproduction");
    s.push(Block::Paragraph(
        "Each number a paper reports for a suite's protocol, with our clean result of the method that reproduces \
         it: mean over test users of the per-user value (seeds averaged per user) and its 95% t-interval over \
         users. Published numbers are single runs without intervals; \"inside\" says whether the published value \
         lies in our interval."
            .into(),
    ));
    for p in published {
        let columns = vec![
            Column::text("scenario"),
            Column::text("metric"),
            Column::text("published as"),
            Column::text("method"),
            Column::num("published"),
            Column::num("ours [95% CI]"),
            Column::num("ours − published"),
            Column::num("users"),
            Column::text("inside"),
        ];
        let table_rows = reproduce(rows, p)
            .into_iter()
            .map(|r| {
                let (ours, users) = match &r.ours {
                    Some(o) => {
                        (Cell::Estimate { mean: o.mean, low: o.ci_low, high: o.ci_high }, Cell::Int(o.n_units as u64))
                    }
                    None => (Cell::Text("no results".into()), Cell::Missing),
                };
                Row::new(vec![
                    Cell::Text(r.published.scenario.clone()),
                    Cell::Text(r.published.metric.clone()),
                    Cell::Text(r.published.label.clone()),
                    Cell::Name { name: r.published.method.clone(), tag: crate::doc::Tag::None },
                    Cell::Num { value: r.published.value, digits: 4 },
                    ours,
                    r.difference().map_or(Cell::Missing, |d| Cell::Signed { value: d, digits: 4 }),
                    users,
                    match r.inside() {
                        Some(true) => Cell::Text("yes".into()),
                        Some(false) => Cell::Text("no".into()),
                        None => Cell::Missing,
                    },
                ])
            })
            .collect();
        let mut notes = vec![format!("Source: {}.", p.source)];
        notes.extend(p.notes.iter().cloned());
        s.push(Block::Table(Table { title: format!("Suite {}", code(&p.suite)), columns, rows: table_rows, notes }));
    }
    Some(s)
}
