//! The users-per-scenario section ([`crate::analysis::users::user_counts`]): one table, no renderer code.

use crate::analysis::users::UserCount;
use crate::doc::{Block, Cell, Column, Row, Section, Table, code};

/// The section of `counts` (`None` when there are none).
pub fn section(counts: &[UserCount]) -> Option<Section> {
    if counts.is_empty() {
        return None;
    }
    let columns = vec![
        Column::text("suite"),
        Column::text("scenario"),
        Column::num("users"),
        Column::num("methods"),
        Column::num("seeds"),
        Column::num("metrics"),
        Column::num("values"),
    ];
    let rows = counts
        .iter()
        .map(|c| {
            let n = |x: usize| Cell::Int(x as u64);
            Row::new(vec![
                Cell::Text(c.suite.clone()),
                Cell::Text(c.scenario.clone()),
                n(c.users),
                n(c.methods),
                n(c.seeds),
                n(c.metrics),
                n(c.values),
            ])
        })
        .collect();
    let notes = vec![format!(
        "Users: distinct test users with a value (perturbation {}); methods, seeds and metrics: how many were \
         scored for them; values: the per-user values of {}.",
        code("none"),
        code("results.csv")
    )];
    let mut s = Section::new("Users per scenario", "users");
    s.push(Block::Table(Table { title: String::new(), columns, rows, notes }));
    Some(s)
}
