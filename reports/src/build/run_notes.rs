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

/// How a run's hyper-parameters were tuned: `records` are `cargo xtask tune`'s records of the
/// run's values (from the `--config` file, or named by a suite file whose [methods] tables came
/// from one); `methods` are the run's methods.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tuning {
    pub records: Vec<TuningRecord>,
    pub methods: Vec<String>,
}

/// The budget and choices of one tuning run.
#[derive(Clone, Debug, PartialEq)]
pub struct TuningRecord {
    /// Where the run took the record's values from, in prose (e.g. "the `--config` file").
    pub from: String,
    /// Methods whose tuned values the run changed afterwards (`--config`, `--set`).
    pub changed: Vec<String>,
    pub suite: String,
    pub seed: u64,
    /// Trials per method with a search space.
    pub trials: usize,
    pub validation_users: usize,
    pub methods: Vec<TunedMethod>,
}

/// One method's search: its space, the chosen values and the validation RMSE of the untuned
/// values (trial 0) and of the choice.
#[derive(Clone, Debug, PartialEq)]
pub struct TunedMethod {
    pub name: String,
    pub trials: usize,
    pub space: Vec<String>,
    pub chosen: String,
    pub untuned_rmse: Option<f64>,
    pub chosen_rmse: Option<f64>,
}

/// The tuning section: the budget every method got, or that none was tuned.
pub fn tuning_section(t: &Tuning) -> Section {
    let mut sec = Section::new("Tuning", "tuning");
    if t.records.is_empty() {
        sec.push(Block::Paragraph(
            "No method was tuned by `cargo xtask tune`: every method ran on its defaults as layered by the suite \
             file's [methods] tables, --config and --set (the manifest records the values), so the tuning effort \
             of the methods is not known to be equal."
                .into(),
        ));
    }
    for r in &t.records {
        tuning_record(&mut sec, r, &t.methods);
    }
    sec
}

/// One record's paragraph and table.
fn tuning_record(sec: &mut Section, r: &TuningRecord, run_methods: &[String]) {
    sec.push(Block::Paragraph(format!(
        "Hyper-parameters of suite `{}` chosen by `cargo xtask tune` (the run took them from {}): a seeded random \
         search (seed {}) with the same budget of {} trials for every method with a search space (trial 0 is the \
         untuned values), each trial scored by the RMSE of the {} meta-validation users of suite `{}` after \
         adaptation; test users were not read.",
        r.suite, r.from, r.seed, r.trials, r.validation_users, r.suite
    )));
    let rmse = |x: Option<f64>| x.map_or(Cell::Missing, Cell::num);
    let rows = r
        .methods
        .iter()
        .map(|m| {
            Row::new(vec![
                Cell::name(&m.name),
                Cell::Int(m.trials as u64),
                if m.space.is_empty() { Cell::Missing } else { Cell::Text(m.space.join("; ")) },
                if m.chosen.is_empty() { Cell::Missing } else { Cell::Text(m.chosen.clone()) },
                rmse(m.untuned_rmse),
                rmse(m.chosen_rmse),
            ])
        })
        .collect();
    let untuned: Vec<&str> =
        run_methods.iter().filter(|m| !r.methods.iter().any(|x| &x.name == *m)).map(String::as_str).collect();
    let mut notes = vec!["Validation RMSE: pooled over the meta-validation users' query ratings.".to_string()];
    if !untuned.is_empty() {
        notes.push(format!(
            "Not tuned (absent from the tuning record; reference methods are bounds and never tuned): {}.",
            untuned.join(", ")
        ));
    }
    if !r.changed.is_empty() {
        notes.push(format!(
            "Changed after tuning (this run's --config or --set replaced a chosen value; the manifest records what \
             ran): {}.",
            r.changed.join(", ")
        ));
    }
    sec.push(Block::Table(Table {
        title: String::new(),
        columns: vec![
            Column::text("method"),
            Column::num("trials"),
            Column::text("searched"),
            Column::text("chosen"),
            Column::num("untuned RMSE"),
            Column::num("chosen RMSE"),
        ],
        rows,
        notes,
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paragraphs(s: &Section) -> String {
        s.blocks.iter().filter_map(|b| if let Block::Paragraph(p) = b { Some(p.as_str()) } else { None }).collect()
    }

    /// An untuned run says so; a tuned one states the budget, one row per tuned method, and
    /// names the run's methods the record does not cover.
    #[test]
    fn tuning_states_the_budget_or_its_absence() {
        let none = tuning_section(&Tuning { records: Vec::new(), methods: vec!["maml".into()] });
        assert!(paragraphs(&none).contains("No method was tuned"));
        assert!(!none.blocks.iter().any(|b| matches!(b, Block::Table(_))));
        let m = |name: &str| TunedMethod {
            name: name.into(),
            trials: 8,
            space: vec!["lr [1e-4, 1e-2] log".into()],
            chosen: "lr = 0.001".into(),
            untuned_rmse: Some(1.0),
            chosen_rmse: Some(0.9),
        };
        let record = TuningRecord {
            from: "the suite file".into(),
            changed: vec!["b".into()],
            suite: "s".into(),
            seed: 3,
            trials: 8,
            validation_users: 40,
            methods: vec![m("a"), m("b")],
        };
        let sec = tuning_section(&Tuning { records: vec![record], methods: vec!["a".into(), "b".into(), "c".into()] });
        let text = paragraphs(&sec);
        assert!(text.contains("same budget of 8 trials") && text.contains("40 meta-validation users"), "{text}");
        assert!(text.contains("took them from the suite file") && !text.contains("No method was tuned"), "{text}");
        let Some(Block::Table(t)) = sec.blocks.iter().find(|b| matches!(b, Block::Table(_))) else { panic!() };
        assert_eq!(t.rows.len(), 2);
        assert!(t.notes.iter().any(|n| n.contains("Not tuned") && n.contains('c')), "{:?}", t.notes);
        assert!(t.notes.iter().any(|n| n.starts_with("Changed after tuning") && n.contains('b')), "{:?}", t.notes);
    }
}
