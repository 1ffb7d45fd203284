//! The methods a run did not run, with the reason (a reference method on a suite without known
//! truth): one table, so that a reader of any report format sees why a method has no row.

use crate::doc::{Block, Cell, Column, Row, Section, Table};

/// A method of the run's spec that has no cells on a suite.
#[derive(Clone, Debug, PartialEq)]
pub struct SkippedMethod {
    pub suite: String,
    pub method: String,
    pub reason: String,
}

/// The section of `skipped` (`None` when every method ran).
pub fn section(skipped: &[SkippedMethod]) -> Option<Section> {
    if skipped.is_empty() {
        return None;
    }
    let rows = skipped
        .iter()
        .map(|s| {
            Row::new(vec![
                Cell::Text(s.suite.clone()),
                Cell::Name { name: s.method.clone(), tag: crate::doc::Tag::None },
                Cell::Text(s.reason.clone()),
            ])
        })
        .collect();
    let mut sec = Section::new("Methods not run", "not-run");
    sec.push(Block::Table(Table {
        title: String::new(),
        columns: vec![Column::text("suite"), Column::text("method"), Column::text("reason")],
        rows,
        notes: vec!["These methods were asked for but have no cells on the suite, hence no rows above.".into()],
    }));
    Some(sec)
}
