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

/// How a run's hyper-parameters were tuned: `record` is `cargo xtask tune`'s record when the
/// run's config came from it; `methods` are the run's methods.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tuning {
    pub record: Option<TuningRecord>,
    pub methods: Vec<String>,
}

/// The budget and choices of one tuning run.
#[derive(Clone, Debug, PartialEq)]
pub struct TuningRecord {
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
    let Some(r) = &t.record else {
        sec.push(Block::Paragraph(
            "No method was tuned by `cargo xtask tune`: every method ran on its defaults as layered by the suite \
             file's [methods] tables, --config and --set (the manifest records the values), so the tuning effort \
             of the methods is not known to be equal."
                .into(),
        ));
        return sec;
    };
    sec.push(Block::Paragraph(format!(
        "Hyper-parameters chosen by `cargo xtask tune`: a seeded random search (seed {}) with the same budget of {} \
         trials for every method with a search space (trial 0 is the untuned values), each trial scored by the RMSE \
         of the {} meta-validation users of suite `{}` after adaptation; test users were not read.",
        r.seed, r.trials, r.validation_users, r.suite
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
        t.methods.iter().filter(|m| !r.methods.iter().any(|x| &x.name == *m)).map(String::as_str).collect();
    let mut notes = vec!["Validation RMSE: pooled over the meta-validation users' query ratings.".to_string()];
    if !untuned.is_empty() {
        notes.push(format!(
            "Not tuned (absent from the tuning record; reference methods are bounds and never tuned): {}.",
            untuned.join(", ")
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
    sec
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
        let none = tuning_section(&Tuning { record: None, methods: vec!["maml".into()] });
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
        let record =
            TuningRecord { suite: "s".into(), seed: 3, trials: 8, validation_users: 40, methods: vec![m("a"), m("b")] };
        let sec = tuning_section(&Tuning { record: Some(record), methods: vec!["a".into(), "b".into(), "c".into()] });
        let text = paragraphs(&sec);
        assert!(text.contains("same budget of 8 trials") && text.contains("40 meta-validation users"), "{text}");
        let Some(Block::Table(t)) = sec.blocks.iter().find(|b| matches!(b, Block::Table(_))) else { panic!() };
        assert_eq!(t.rows.len(), 2);
        assert!(t.notes.iter().any(|n| n.contains("Not tuned") && n.contains('c')), "{:?}", t.notes);
    }
}
