//! The leaderboard sections: per suite one table per (scenario, metric) ranking the methods by
//! their [`crate::summary::Summary`] with the significance marks of [`crate::analysis::leaderboard::view`],
//! each followed by an interval plot and a box plot; the average ranks across tables with their
//! critical difference diagrams; win/tie/loss against the baselines; and what the significance
//! analysis skipped.

use crate::analysis::leaderboard::{
    CI_NOTE, LeaderboardOptions, Line, MARK, MarkOptions, View, mark_sentence, rank_summary, view,
};
use crate::analysis::significance::{RankSummary, SignificanceOptions, Skipped, Table as Place, analyze};
use crate::analysis::table::{Values, direction_label};
use crate::analysis::table::{group_rows, user_means};
use crate::analysis::wtl::{WtlTable, win_tie_loss};
use crate::doc::{Block, Cell, Column, Figure, Mark, Row, RowStyle, Section, Table, code, num, p_text};
use crate::metrics::direction;
use crate::plot::{BoxRow, CiRow, Plot, Role};
use crate::results::ResultRow;
use std::collections::BTreeMap;

/// The leaderboard sections of `rows` (perturbation `none`). `also_skipped` are more skipped
/// entries for the "Skipped" section (those of the analysis behind `significance.csv`).
pub fn sections(
    rows: &[ResultRow],
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
    also_skipped: &[Skipped],
) -> Vec<Section> {
    let cells = group_rows(rows);
    let mut out = Vec::new();
    if cells.is_empty() {
        let mut s = Section::new("", "leaderboard");
        s.push(Block::Paragraph(format!("No results with perturbation {}.", code("none"))));
        out.push(s);
    }
    for (suite, scenarios) in &cells {
        let mut s = Section::new(format!("Suite {}", code(suite)), "leaderboard");
        for ((_, scenario), metrics) in scenarios {
            s.push(Block::Heading(3, format!("{suite} / {scenario}")));
            for ((_, metric), methods) in metrics {
                let place = Place { suite, scenario, metric };
                table(&mut s, &place, methods, &view(&place, methods, opts, marks));
            }
        }
        out.push(s);
    }
    let sig = SignificanceOptions {
        reference_methods: opts.reference_methods.clone(),
        tests: marks.test.into_iter().collect(),
        min_users: 2,
        seed: marks.seed,
        alpha: marks.alpha,
    };
    let mut skipped = analyze(rows, &sig).skipped;
    for s in also_skipped {
        if !skipped.contains(s) {
            skipped.push(s.clone());
        }
    }
    skipped.retain(|s| marks.rank_summary || !s.suite.is_empty());
    if marks.rank_summary {
        let (ranks, rank_skipped) = rank_summary(rows, opts, marks);
        if !ranks.is_empty() {
            let mut s = Section::new("Average ranks across tables", "ranks");
            for r in &ranks {
                rank_table(&mut s, r, &rank_skipped);
            }
            out.push(s);
        }
    }
    out.extend(wtl_section(&win_tie_loss(rows, opts, marks.alpha), marks.alpha));
    if !skipped.is_empty() {
        let mut s = Section::new("Skipped", "skipped");
        s.push(Block::Note(
            "Comparisons, tests and summaries of the significance analysis that were not computed, and why.".into(),
        ));
        let rows = skipped
            .iter()
            .map(|s| {
                let place = if s.suite.is_empty() {
                    format!("{} (rank summary across tables)", s.metric)
                } else {
                    format!("{} / {} / {}", s.suite, s.scenario, s.metric)
                };
                Row::new(vec![Cell::Text(place), Cell::Text(s.what.clone()), Cell::Text(s.reason.clone())])
            })
            .collect();
        let columns = vec![Column::text("where"), Column::text("what"), Column::text("why")];
        s.push(Block::Table(Table { title: String::new(), columns, rows, notes: Vec::new() }));
        out.push(s);
    }
    out
}

/// How a method is drawn in the figures.
fn role(l: &Line) -> Role {
    match (l.bound, l.rank) {
        (true, _) => Role::Reference,
        (false, Some(1)) => Role::Best,
        _ => Role::Method,
    }
}

/// One leaderboard table with its notes and figures.
fn table(s: &mut Section, t: &Place, methods: &BTreeMap<&str, Values>, v: &View) {
    let label = direction_label(v.dir);
    let rows = v
        .lines
        .iter()
        .map(|l| {
            let m = &l.summary;
            let mean = if l.rank == Some(1) { Cell::num(m.mean).strong() } else { Cell::num(m.mean) };
            Row {
                cells: vec![
                    Cell::Rank(l.rank),
                    Cell::name(l.method, l.bound).mark_if(l.marked, Mark::Dagger),
                    mean,
                    Cell::Interval { low: m.ci_low, high: m.ci_high },
                    Cell::num(m.seed_sd),
                    Cell::Int(m.n_units as u64),
                ],
                style: match role(l) {
                    Role::Reference => RowStyle::Bound,
                    Role::Best => RowStyle::Best,
                    Role::Method => RowStyle::Plain,
                },
            }
        })
        .collect();
    let mut notes = vec![format!(
        "{CI_NOTE} Seed sd: standard deviation over seeds of the per-seed means. Users: users with a value."
    )];
    notes.push(match v.dir {
        None => format!("Direction of {} is unknown: methods are listed by name, not ranked.", code(t.metric)),
        Some(_) => "The best ranked mean is bold.".to_owned(),
    });
    if v.lines.iter().any(|l| l.bound) {
        notes.push("(bound): a reference method, shown for scale but not ranked.".to_owned());
    }
    let not_finite: Vec<String> = v
        .lines
        .iter()
        .filter(|l| {
            ![l.summary.mean, l.summary.ci_low, l.summary.ci_high, l.summary.seed_sd].iter().all(|x| x.is_finite())
        })
        .map(|l| code(l.method))
        .collect();
    if !not_finite.is_empty() {
        notes.push(format!("n/a: not finite (a value of {} is NaN or infinite), so not shown.", not_finite.join(", ")));
    }
    if let Some(note) = &v.note {
        notes.push(mark_sentence(note, v, code));
        notes.extend(note.skipped.iter().map(|s| format!("Not tested: {} ({}).", s.what, s.reason)));
    }
    let columns = vec![
        Column::num("rank"),
        Column::text("method"),
        Column::num("mean"),
        Column::num("95% CI"),
        Column::num("seed sd"),
        Column::num("users"),
    ];
    s.push(Block::Table(Table { title: format!("{} ({label})", t.metric), columns, rows, notes }));

    let axis = format!("{} ({label})", t.metric);
    let title = format!("{} / {}, {}", t.suite, t.scenario, t.metric);
    let place = format!("{} / {} / {}", t.suite, t.scenario, t.metric);
    let line_label = |l: &Line| Cell::name(l.method, l.bound).mark_if(l.marked, Mark::Dagger).label();
    let ci_rows = v
        .lines
        .iter()
        .map(|l| CiRow {
            label: line_label(l),
            mean: l.summary.mean,
            low: l.summary.ci_low,
            high: l.summary.ci_high,
            role: role(l),
        })
        .collect();
    s.push(Block::Figure(Figure {
        plot: Plot::Intervals {
            title: format!("{title}: mean and 95% CI per method"),
            axis: axis.clone(),
            rows: ci_rows,
        },
        caption: format!(
            "{title}: mean over users (dot) and 95% t-interval over users (whisker) of each method, values averaged \
             over seeds per user; in table order. Vermillion: the best ranked method; grey, dashed: reference \
             methods (bound); {MARK}: differs significantly from the best (see the table's note)."
        ),
        file: None,
        place: place.clone(),
        what: "CI plot".into(),
    }));
    let box_rows = v
        .lines
        .iter()
        .map(|l| BoxRow {
            label: line_label(l),
            values: methods.get(l.method).map(|vals| user_means(vals).into_values().collect()).unwrap_or_default(),
            role: role(l),
        })
        .collect();
    s.push(Block::Figure(Figure {
        plot: Plot::Boxes { title: format!("{title}: per-user values per method"), axis, rows: box_rows },
        caption: format!(
            "{title}: distribution over users of each method's per-user value (averaged over seeds per user). Box: \
             first to third quartile (linear interpolation between order statistics, numpy's default); thick line: \
             median; whiskers: the most extreme values within 1.5 IQR of the box (Tukey); circles: values beyond. \
             Colours as in the interval plot above."
        ),
        file: None,
        place,
        what: "box plot".into(),
    }));
}

/// Average ranks of one metric with the Friedman test, the critical difference and its diagram.
fn rank_table(s: &mut Section, r: &RankSummary, skipped: &[Skipped]) {
    let label = direction_label(direction(&r.metric));
    let blocks: Vec<String> = r.blocks.iter().map(|(s, c)| format!("{s} / {c}")).collect();
    let n_blocks = r.blocks.len();
    let k = r.average_ranks.len();
    let friedman = match r.friedman {
        Some((chi2, p)) if chi2.is_finite() && p.is_finite() => {
            let p = if p < 0.0001 { format!("p {}", p_text(p)) } else { format!("p = {}", p_text(p)) };
            format!("Friedman test: chi-square = {} (df {}), {p}.", num(chi2, 4), k.saturating_sub(1))
        }
        Some(_) => "Friedman test: not shown (not finite).".to_owned(),
        None => {
            let why = skipped.iter().find(|s| s.metric == r.metric && s.what == "Friedman test");
            format!("Friedman test: not computed ({}).", why.map_or("", |s| s.reason.as_str()))
        }
    };
    let cd = num(r.critical_difference, 4);
    let mut notes = vec![
        format!(
            "Ranked by mean within each of the {n_blocks} tables ({}); rank 1 = best, ties averaged.",
            blocks.join(", ")
        ),
        friedman.clone(),
        format!(
            "Nemenyi critical difference at alpha = {}: {cd}; two methods whose average ranks differ by more than \
             this differ significantly (Demsar 2006).",
            r.alpha
        ),
    ];
    for s in skipped.iter().filter(|s| s.metric == r.metric) {
        if let Some(m) = s.what.strip_prefix("rank summary: ") {
            notes.push(format!("Not ranked: {m} ({}).", s.reason));
        }
    }
    let rows = r.average_ranks.iter().map(|(m, rank)| Row::new(vec![Cell::name(m, false), Cell::num(*rank)])).collect();
    let columns = vec![Column::text("method"), Column::num("average rank")];
    s.push(Block::Table(Table { title: format!("{} ({label})", r.metric), columns, rows, notes }));
    s.push(Block::Figure(Figure {
        plot: Plot::CriticalDifference {
            title: format!("Critical difference diagram of {}", r.metric),
            ranks: r.average_ranks.clone(),
            cd: r.critical_difference,
        },
        caption: format!(
            "Critical difference diagram of {} over the {n_blocks} (suite, scenario) tables (Demsar 2006): each \
             method at its average rank, rank 1 (best) on the left. Methods joined by a thick bar have average ranks \
             at most the Nemenyi critical difference CD = {cd} apart (alpha = {}; the bar at the top is CD drawn to \
             scale), so they do not differ significantly; the bars are the maximal such groups, as in Orange. \
             {friedman}",
            code(&r.metric),
            r.alpha
        ),
        file: None,
        place: format!("{} (rank summary)", r.metric),
        what: "critical difference diagram".into(),
    }));
}

/// Win/tie/loss of every method against each baseline (nothing when there is no baseline).
fn wtl_section(table: &WtlTable, alpha: f64) -> Option<Section> {
    let mut baselines: Vec<&String> = table.values().flat_map(|m| m.keys()).collect();
    baselines.sort();
    baselines.dedup();
    if baselines.is_empty() {
        return None;
    }
    let mut columns = vec![Column::text("method")];
    columns.extend(baselines.iter().map(|b| Column::num(&format!("vs {}", code(b)))));
    let rows = table
        .iter()
        .map(|(method, counts)| {
            let mut cells = vec![Cell::name(method, false)];
            cells.extend(
                baselines.iter().map(|b| counts.get(*b).map_or(Cell::Missing, |c| Cell::Counts(c.win, c.tie, c.loss))),
            );
            Row::new(cells)
        })
        .collect();
    let notes = vec![format!(
        "W/T/L over the (suite, scenario, metric) tables: a win or loss is a Holm-adjusted two-sided Wilcoxon p < \
         {alpha} (per user, values averaged over seeds; Holm over one baseline's comparisons in one table) in the \
         method's favour or against it; anything else is a tie."
    )];
    let mut s = Section::new("Win/tie/loss against the baselines", "wtl");
    s.push(Block::Table(Table { title: String::new(), columns, rows, notes }));
    Some(s)
}
