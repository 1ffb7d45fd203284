//! The report of `cargo xtask compare` ([`crate::analysis::compare`]): what was compared with
//! what and the rule, the regressions, every comparison, what only one run has, and the notes.

use crate::analysis::compare::{CompareOptions, CompareReport, Comparison};
use crate::doc::{Block, Cell, Column, Document, Row, Section, Table};
use crate::render::markdown;

/// The comparison of run B (`label_b`, the candidate) against run A (`label_a`, the baseline).
pub fn document(report: &CompareReport, label_a: &str, label_b: &str, opts: &CompareOptions) -> Document {
    let mut head = Section::new("", "compare");
    head.push(Block::List(vec![
        format!("A (baseline): {label_a}"),
        format!("B (candidate): {label_b}"),
        format!(
            "rule: regressed when B is worse than A by more than {:.2}% of A's mean and the Holm-adjusted two-sided \
             Wilcoxon p (B - A, per user, seeds averaged) is below {}",
            opts.threshold * 100.0,
            opts.alpha
        ),
    ]));
    let regressions: Vec<&Comparison> = report.regressions().collect();
    let mut sections = vec![head];
    let mut s = Section::new(format!("Regressions: {}", regressions.len()), "regressions");
    if !regressions.is_empty() {
        s.push(Block::Table(table(&regressions)));
    }
    sections.push(s);
    let mut s = Section::new("All comparisons", "comparisons");
    s.push(Block::Table(table(&report.comparisons.iter().collect::<Vec<_>>())));
    sections.push(s);
    for (title, list) in [("Only in A", &report.only_a), ("Only in B", &report.only_b)] {
        if !list.is_empty() {
            let mut s = Section::new(format!("{title} (not compared)"), "only");
            s.push(Block::List(list.clone()));
            sections.push(s);
        }
    }
    let notes: Vec<String> = report
        .comparisons
        .iter()
        .filter_map(|c| Some(format!("{}/{}/{}/{}: {}", c.suite, c.scenario, c.method, c.metric, c.note.as_deref()?)))
        .collect();
    if !notes.is_empty() {
        let mut s = Section::new("Notes", "notes");
        s.push(Block::List(notes));
        sections.push(s);
    }
    Document { title: "metarec compare".into(), lede: String::new(), provenance: None, sections }
}

/// The report as Markdown.
pub fn render_markdown(report: &CompareReport, label_a: &str, label_b: &str, opts: &CompareOptions) -> String {
    markdown::render(&document(report, label_a, label_b, opts))
}

fn table(cs: &[&Comparison]) -> Table {
    let columns = [
        Column::text("suite"),
        Column::text("scenario"),
        Column::text("method"),
        Column::text("metric"),
        Column::num("users"),
        Column::num("A"),
        Column::num("B"),
        Column::num("B - A"),
        Column::num("p (Holm)"),
        Column::num("d"),
        Column::text("verdict"),
    ];
    let opt = |x: Option<f64>, digits: usize| x.map_or(Cell::Missing, |value| Cell::Num { value, digits });
    let rows = cs
        .iter()
        .map(|c| {
            Row::new(vec![
                Cell::Text(c.suite.clone()),
                Cell::Text(c.scenario.clone()),
                Cell::Text(c.method.clone()),
                Cell::Text(c.metric.clone()),
                Cell::Int(c.users as u64),
                opt(c.mean_a.is_finite().then_some(c.mean_a), 4),
                opt(c.mean_b.is_finite().then_some(c.mean_b), 4),
                if c.diff.is_finite() { Cell::Signed { value: c.diff, digits: 4 } } else { Cell::Missing },
                opt(c.p_adjusted, 4),
                opt(c.effect, 3),
                Cell::Text(c.verdict.name().into()),
            ])
        })
        .collect();
    Table { title: String::new(), columns: columns.to_vec(), rows, notes: Vec::new() }
}
