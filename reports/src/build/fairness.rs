//! The user-side fairness section ([`crate::analysis::fairness::FairnessReport`]): per suite and
//! attribute one table per scenario and metric (a column `mean [CI]` per group, then gap,
//! ratio and the Holm-adjusted p with ‡), its notes and its group gap figure; then what was
//! skipped.

use std::fmt::Write as _;

use crate::analysis::fairness::{FairnessReport, FairnessTable};
use crate::analysis::leaderboard::LeaderboardOptions;
use crate::analysis::table::direction_label;
use crate::doc::{Block, Cell, Column, Figure, Mark, Row, RowStyle, Section, Table, code, users_text};
use crate::metrics::direction;
use crate::plot::{GAP_MARK, GapPlot, GapRow, Plot};

fn is_reference(method: &str, opts: &LeaderboardOptions) -> bool {
    opts.reference_methods.iter().any(|r| r == method)
}

/// The section of `report`.
pub fn section(report: &FairnessReport, opts: &LeaderboardOptions) -> Section {
    let alpha = report.options.alpha;
    let mut s = Section::new("Fairness", "fairness");
    s.push(Block::Note(section_note(report)));
    if report.tables.is_empty() {
        s.push(Block::Paragraph(format!(
            "No fairness table: no results with perturbation {} could be joined with user groups.",
            code("none")
        )));
    }
    let mut current: Option<(&str, &str)> = None;
    for t in &report.tables {
        if current != Some((&t.suite, &t.attribute)) {
            current = Some((&t.suite, &t.attribute));
            s.push(Block::Heading(3, format!("Suite {}, attribute {}", code(&t.suite), code(&t.attribute))));
        }
        let mut columns = vec![Column::text("method")];
        columns.extend(t.groups.iter().map(|g| Column::num(g)));
        columns.extend([Column::num("gap"), Column::num("ratio"), Column::num("p (Holm)")]);
        let rows = t
            .rows
            .iter()
            .map(|r| {
                let bound = is_reference(&r.method, opts);
                let mut cells = vec![Cell::tagged(&r.method, opts.tag(&r.method, &t.metric))];
                cells.extend(t.groups.iter().map(|g| match r.groups.iter().find(|s| s.group == *g) {
                    Some(s) => Cell::Estimate { mean: s.mean, low: s.ci_low, high: s.ci_high },
                    None => Cell::Missing,
                }));
                match &r.gap {
                    Some(g) => cells.extend([
                        Cell::num(g.gap),
                        g.ratio.map_or(Cell::Missing, Cell::num),
                        Cell::P(g.p_adjusted).mark_if(g.p_adjusted < alpha, Mark::DoubleDagger),
                    ]),
                    None => cells.extend([Cell::Missing, Cell::Missing, Cell::Missing]),
                }
                Row { cells, style: if bound { RowStyle::Bound } else { RowStyle::Plain } }
            })
            .collect();
        let label = direction_label(direction(&t.metric));
        let title = format!("{} / {} ({label})", t.scenario, t.metric);
        s.push(Block::Table(Table { title, columns, rows, notes: table_notes(t) }));
        s.push(Block::Figure(gap_figure(t, opts, alpha)));
    }
    let lines = skipped_lines(report);
    if !lines.is_empty() {
        s.push(Block::Heading(3, "Skipped".into()));
        s.push(Block::List(lines));
    }
    s
}

/// The group gap figure of one table.
pub(crate) fn gap_figure(t: &FairnessTable, opts: &LeaderboardOptions, alpha: f64) -> Figure {
    let rows = t
        .rows
        .iter()
        .map(|r| {
            let reference = is_reference(&r.method, opts);
            GapRow {
                label: Cell::tagged(&r.method, opts.tag(&r.method, &t.metric)).text(),
                reference,
                significant: r.gap.as_ref().is_some_and(|g| g.p_adjusted < alpha),
                groups: r
                    .groups
                    .iter()
                    .filter_map(|g| Some((t.groups.iter().position(|x| *x == g.group)?, g.mean, g.ci_low, g.ci_high)))
                    .collect(),
                gap: r.gap.as_ref().map(|g| g.gap),
            }
        })
        .collect();
    let plot = GapPlot {
        title: format!("{} / {} / {}: group means by {}", t.suite, t.scenario, t.metric, t.attribute),
        title_detail: "(95% t-intervals, gap per method)".into(),
        axis: format!("{} (mean over users, 95% t-interval)", t.metric),
        groups: t.groups.clone(),
        rows,
    };
    Figure {
        plot: Plot::Gaps(plot),
        caption: format!(
            "Group means of {} by {} per method, with 95% t-intervals over users (values averaged over seeds per \
             user); colours and shapes mark the groups (legend below the axis). On the right: the gap between the \
             largest and the smallest group mean, {GAP_MARK} where its Holm-adjusted permutation p < {alpha}.",
            t.metric,
            code(&t.attribute)
        ),
        file: Some(["group-gap", &t.suite, &t.attribute, &t.scenario, &t.metric].map(String::from).to_vec()),
        place: format!("{} / {} / {} by {}", t.suite, t.scenario, t.metric, t.attribute),
        what: "group gap figure".into(),
    }
}

/// The "users per group" and "left out" sentences under a table.
fn table_notes(t: &FairnessTable) -> Vec<String> {
    let mut notes = Vec::new();
    let sizes: Vec<String> = t
        .rows
        .iter()
        .map(|r| r.groups.iter().map(|g| format!("{} {}", code(&g.group), g.n)).collect::<Vec<_>>().join(", "))
        .collect();
    if sizes.iter().all(|s| *s == sizes[0]) {
        notes.push(format!("Users per group: {}.", sizes[0]));
    } else {
        let per: Vec<String> = t.rows.iter().zip(&sizes).map(|(r, s)| format!("{}: {s}", code(&r.method))).collect();
        notes.push(format!("Users per group: {}.", per.join("; ")));
    }
    let left: Vec<usize> = t.rows.iter().map(|r| r.ungrouped).collect();
    let attribute = code(&t.attribute);
    if left.iter().all(|n| *n == left[0]) {
        if left[0] > 0 {
            notes.push(format!("Left out: {} with no {attribute} group.", users_text(left[0])));
        }
    } else {
        let per: Vec<String> = t.rows.iter().map(|r| format!("{} {}", code(&r.method), r.ungrouped)).collect();
        notes.push(format!("Users left out with no {attribute} group: {}.", per.join(", ")));
    }
    if t.rows.iter().any(|r| r.gap.is_none()) {
        notes.push("A gap shown as — was not tested (see Skipped).".to_owned());
    }
    notes
}

/// The explanation printed once at the top of the section.
fn section_note(report: &FairnessReport) -> String {
    let o = &report.options;
    format!(
        "Unit: the user. For every method, scenario and metric (perturbation {none}), each test user's values \
         are averaged over seeds and the user is placed in their group of the attribute in {groups}; users \
         without a group for the attribute are left out and counted under each table. Per group: mean and \
         95% Student-t interval over its users, as mean [low, high]; groups with fewer than {min_users} are \
         left out of the comparison (see Skipped). Gap: largest minus smallest group mean; ratio: smallest / \
         largest group mean (— when a group mean is ≤ 0). p: one-sided Monte Carlo permutation test of \
         the gap (the users' group labels shuffled {resamples} times; p = (b + 1) / ({resamples} + 1)), \
         Holm-corrected across the attributes tested for the same suite, scenario, metric and method; {GAP_MARK}: \
         Holm-adjusted p < {alpha}. (bound): a reference method such as the oracle on a metric where it is \
         Bayes-optimal (RMSE, MAE on its median); (reference): one on a metric where it is not.",
        none = code("none"),
        groups = code("groups.csv"),
        min_users = users_text(o.min_group_users.max(1)),
        resamples = o.resamples,
        alpha = o.alpha,
    )
}

/// The skipped entries, merged by (suite, attribute, group, reason), each as one sentence.
fn skipped_lines(report: &FairnessReport) -> Vec<String> {
    // (suite, attribute, group, reason) -> (scenario, metric, method)s
    type Key<'a> = (&'a str, &'a str, Option<&'a str>, &'a str);
    type Places<'a> = Vec<(&'a str, &'a str, &'a str)>;
    let mut merged: Vec<(Key, Places)> = Vec::new();
    for s in &report.skipped {
        let key = (s.suite.as_str(), s.attribute.as_str(), s.group.as_deref(), s.reason.as_str());
        let place = (s.scenario.as_str(), s.metric.as_str(), s.method.as_str());
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some((_, places)) => places.push(place),
            None => merged.push((key, vec![place])),
        }
    }
    merged
        .into_iter()
        .map(|((suite, attribute, group, reason), places)| {
            let mut line = format!("Suite {}", code(suite));
            if !attribute.is_empty() {
                let _ = write!(line, ", attribute {}", code(attribute));
            }
            if let Some(g) = group {
                let _ = write!(line, ", group {}", code(g));
            }
            let _ = write!(line, ": {reason}");
            // (scenario, metric) -> methods, in order of appearance
            let mut tables: Vec<((&str, &str), Vec<&str>)> = Vec::new();
            for (scenario, metric, method) in places.into_iter().filter(|p| !p.2.is_empty()) {
                match tables.iter_mut().find(|(k, _)| *k == (scenario, metric)) {
                    Some((_, methods)) => methods.push(method),
                    None => tables.push(((scenario, metric), vec![method])),
                }
            }
            const SHOWN: usize = 4;
            if !tables.is_empty() {
                let listed: Vec<String> = tables
                    .iter()
                    .take(SHOWN)
                    .map(|((scenario, metric), methods)| {
                        let methods: Vec<String> = methods.iter().map(|m| code(m)).collect();
                        format!("{scenario} / {metric}: {}", methods.join(", "))
                    })
                    .collect();
                let more = match tables.len().saturating_sub(SHOWN) {
                    0 => String::new(),
                    1 => "; and 1 more table".to_owned(),
                    n => format!("; and {n} more tables"),
                };
                let _ = write!(line, " (in {}{more})", listed.join("; "));
            }
            line.push('.');
            line
        })
        .collect()
}
