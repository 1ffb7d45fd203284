//! The leaderboard sections: per suite one table per (scenario, metric) ranking the methods by
//! their [`crate::summary::Summary`] with the significance marks of [`crate::analysis::leaderboard::view`],
//! each followed by an interval plot and a box plot; the average ranks across tables with their
//! critical difference diagrams; win/tie/loss against the baselines; and what the significance
//! analysis skipped.

use crate::analysis::leaderboard::{
    CI_NOTE, CI_NOTE_USERS_SEEDS, Interval, LeaderboardOptions, Line, MARK, MarkOptions, View, mark_sentence,
    rank_summary, view,
};
use crate::analysis::significance::{
    Correction, FRIEDMAN_MIN_BLOCKS, FRIEDMAN_MIN_METHODS, PAIRED_RESAMPLES, RankSummary, SignificanceOptions, Skipped,
    Table as Place, analyze, paired_differences,
};
use crate::analysis::table::{Values, direction_label};
use crate::analysis::table::{group_rows, user_means};
use crate::analysis::wtl::{WtlTable, win_tie_loss};
use crate::doc::{Block, Cell, Column, Figure, Mark, Row, RowStyle, Section, Table, Tag, code, num, p_text};
use crate::metrics::MaeEstimate;
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
                table(&mut s, &place, methods, &view(&place, methods, opts, marks), opts);
                if opts.paired_differences {
                    paired_table(&mut s, &place, methods, opts, marks);
                }
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
        correction: opts.correction,
        ..SignificanceOptions::default()
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
    out.extend(wtl_section(&win_tie_loss(rows, opts, marks.alpha), marks.alpha, opts.correction));
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

/// The notes on the reference methods of a table of `metric` (what "(bound)" and "(reference)"
/// mean there), the point estimate each method's MAE scored, and the probable leaks.
fn reference_notes(metric: &str, v: &View, opts: &LeaderboardOptions) -> Vec<String> {
    let mut notes = Vec::new();
    if v.lines.iter().any(|l| l.tag == Tag::Bound) {
        let why = if metric == "mae" {
            "MAE scores its conditional median, which minimises the expected absolute error"
        } else if crate::metrics::is_online(metric) {
            "the oracle policy shows the items of highest click probability every round, which maximises the \
             expected reward"
        } else {
            "its conditional mean minimises the expected squared error"
        };
        notes.push(format!(
            "(bound): a reference method that is Bayes-optimal for {} ({why}): no method can beat it in \
             expectation; shown for scale but not ranked.",
            code(metric)
        ));
    }
    if v.lines.iter().any(|l| l.tag == Tag::Reference) {
        let why = if metric == "mae" {
            "MAE scores the mean here, not the median that minimises absolute error"
        } else {
            "ranking by the expected rating need not maximise it"
        };
        notes.push(format!(
            "(reference): a reference method that is not Bayes-optimal for {} ({why}), so not a bound; shown \
             for scale but not ranked.",
            code(metric)
        ));
    }
    if metric == "mae" {
        notes.push(mae_estimate_note(v.lines.iter().map(|l| l.method), opts));
    }
    for leak in &v.leaks {
        notes.push(format!(
            "{} Probable leak: {} beats the bound {} (mean {}) beyond its own 95% interval (which ends at {}); no \
             method can beat a Bayes-optimal bound in expectation, so it has probably seen test labels or the truth.",
            Mark::Leak.symbol(),
            code(&leak.method),
            code(&leak.bound),
            num(leak.bound_mean, 4),
            num(leak.edge, 4)
        ));
    }
    notes
}

/// Which point estimate each method's MAE scores: the run's `--mae-estimate` and, where the
/// manifest records it, per method.
pub(crate) fn mae_estimate_note<'a>(methods: impl Iterator<Item = &'a str>, opts: &LeaderboardOptions) -> String {
    let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for m in methods {
        let e = opts.mae_scored.get(m).map_or("not recorded", String::as_str);
        by.entry(e).or_default().push(code(m));
    }
    let per: Vec<String> = by.iter().map(|(e, ms)| format!("{e}: {}", ms.join(", "))).collect();
    format!(
        "MAE scores each method's point estimate as chosen by {} ({}): {}.",
        code(&format!("--mae-estimate {}", opts.mae_estimate.name())),
        match opts.mae_estimate {
            MaeEstimate::Own => "the median where a method gives one, else the mean",
            MaeEstimate::Mean => "the mean for every method",
            MaeEstimate::Median => "the median where a method gives one, else its point prediction",
        },
        per.join("; ")
    )
}

/// The paired differences of every ranked method from the best of a table
/// (`--paired-differences`): mean difference, 95% BCa interval, Cohen's d and Cliff's delta.
fn paired_table(
    s: &mut Section,
    t: &Place,
    methods: &BTreeMap<&str, Values>,
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
) {
    let sig = SignificanceOptions {
        reference_methods: opts.reference_methods.clone(),
        seed: marks.seed,
        ..SignificanceOptions::default()
    };
    let diffs = paired_differences(t.suite, t.scenario, t.metric, methods, &sig);
    if diffs.is_empty() {
        return;
    }
    let opt = |x: Option<f64>| x.map_or(Cell::Missing, |v| Cell::Signed { value: v, digits: 4 });
    let rows = diffs
        .iter()
        .map(|d| {
            Row::new(vec![
                Cell::name(&d.method),
                Cell::Int(d.users as u64),
                Cell::Signed { value: d.mean, digits: 4 },
                d.bca.map_or(Cell::Missing, |(low, high)| Cell::Interval { low, high }),
                opt(d.cohens_d),
                opt(d.cliffs_delta),
            ])
        })
        .collect();
    let columns = vec![
        Column::text("method"),
        Column::num("users"),
        Column::num("difference"),
        Column::num("95% BCa CI"),
        Column::num("Cohen's d"),
        Column::num("Cliff's delta"),
    ];
    let best = best_of(t, methods, opts).unwrap_or_default();
    let notes = vec![format!(
        "Difference: mean over the users present for both of the method's value minus the best method's ({}), \
         values averaged over seeds per user. 95% BCa CI: bias-corrected and accelerated bootstrap interval of \
         that mean ({PAIRED_RESAMPLES} resamples of users, seeded; Efron 1987). Cohen's d: the mean paired \
         difference over its standard deviation (d_z). Cliff's delta: P(method > best) - P(method < best) over \
         all pairs of per-user values, in [-1, 1]. —: not defined (constant differences or too few users).",
        code(&best)
    )];
    let title = format!("{}: paired differences from the best", t.metric);
    s.push(Block::Table(Table { title, columns, rows, notes }));
}

/// The best ranked method of a table.
fn best_of(t: &Place, methods: &BTreeMap<&str, Values>, opts: &LeaderboardOptions) -> Option<String> {
    let lines = crate::analysis::significance::ranked(t.metric, methods, &opts.reference_methods)?;
    lines.first().map(|(m, _)| m.to_string())
}

/// How a method is drawn in the figures.
fn role(l: &Line) -> Role {
    match (l.reference, l.rank) {
        (true, _) => Role::Reference,
        (false, Some(1)) => Role::Best,
        _ => Role::Method,
    }
}

/// One leaderboard table with its notes and figures.
fn table(s: &mut Section, t: &Place, methods: &BTreeMap<&str, Values>, v: &View, opts: &LeaderboardOptions) {
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
                    Cell::tagged(l.method, l.tag).mark_if(l.marked, Mark::Dagger).mark_if(l.leak, Mark::Leak),
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
    let ci_note = match opts.interval {
        Interval::Users => CI_NOTE,
        Interval::UsersAndSeeds => CI_NOTE_USERS_SEEDS,
    };
    let mut notes = vec![format!(
        "{ci_note} Seed sd: standard deviation over seeds of the per-seed means. Users: users with a value."
    )];
    if !v.fallback.is_empty() {
        let names: Vec<String> = v.fallback.iter().map(|m| code(m)).collect();
        notes.push(format!(
            "{}: 95% t-interval over users, values averaged over seeds per user, as the interval over users and seeds \
             is not defined there (one seed, a user without a value under every seed, or no variance).",
            names.join(", ")
        ));
    }
    notes.push(match v.dir {
        None => format!("Direction of {} is unknown: methods are listed by name, not ranked.", code(t.metric)),
        Some(_) => "The best ranked mean is bold.".to_owned(),
    });
    notes.extend(reference_notes(t.metric, v, opts));
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
    let line_label =
        |l: &Line| Cell::tagged(l.method, l.tag).mark_if(l.marked, Mark::Dagger).mark_if(l.leak, Mark::Leak).label();
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
            "{title}: mean over users (dot) and 95% {} (whisker) of each method, values averaged \
             over seeds per user; in table order. Vermillion: the best ranked method; grey, dashed: reference \
             methods (bound or reference); {MARK}: differs significantly from the best (see the table's note).",
            match opts.interval {
                Interval::Users => "t-interval over users",
                Interval::UsersAndSeeds => "interval over users and seeds (see the table's note)",
            }
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
/// The warning under a rank summary whose blocks or methods are too few for the Friedman test's
/// chi-square approximation and the Nemenyi difference (Demšar's rule of thumb, see
/// [`FRIEDMAN_MIN_BLOCKS`]), and that blocks of one suite share their trained models.
pub(crate) fn few_blocks_note(r: &RankSummary) -> Option<String> {
    let (n, k) = (r.blocks.len(), r.average_ranks.len());
    let mut per_suite: BTreeMap<&str, usize> = BTreeMap::new();
    for (suite, _) in &r.blocks {
        *per_suite.entry(suite).or_default() += 1;
    }
    let shared = per_suite.values().any(|c| *c > 1);
    if n >= FRIEDMAN_MIN_BLOCKS && k >= FRIEDMAN_MIN_METHODS && !shared {
        return None;
    }
    let mut out =
        format!("Blocks: the {n} (suite, scenario) pairs, each ranking the {k} methods present in all of them.");
    if n < FRIEDMAN_MIN_BLOCKS || k < FRIEDMAN_MIN_METHODS {
        out.push_str(&format!(
            " Caution: the Friedman chi-square approximation and the Nemenyi difference need more than {} blocks and \
             more than {} methods to be reliable (Demsar 2006, section 3.2.2: \"as a rule of a thumb, N > 10 and \
             k > 5\"); with {n} blocks and {k} methods read the p-value and the critical difference as indicative \
             only.",
            FRIEDMAN_MIN_BLOCKS - 1,
            FRIEDMAN_MIN_METHODS - 1
        ));
    }
    if shared {
        out.push_str(
            " The scenarios of one suite are scored by the same meta-trained models, so its blocks are not \
             independent.",
        );
    }
    Some(out)
}

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
    notes.extend(few_blocks_note(r));
    for s in skipped.iter().filter(|s| s.metric == r.metric) {
        if let Some(m) = s.what.strip_prefix("rank summary: ") {
            notes.push(format!("Not ranked: {m} ({}).", s.reason));
        }
    }
    let rows = r.average_ranks.iter().map(|(m, rank)| Row::new(vec![Cell::name(m), Cell::num(*rank)])).collect();
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
fn wtl_section(table: &WtlTable, alpha: f64, correction: Correction) -> Option<Section> {
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
            let mut cells = vec![Cell::name(method)];
            cells.extend(
                baselines.iter().map(|b| counts.get(*b).map_or(Cell::Missing, |c| Cell::Counts(c.win, c.tie, c.loss))),
            );
            Row::new(cells)
        })
        .collect();
    let c = correction.describe();
    let notes = vec![format!(
        "W/T/L over the (suite, scenario, metric) tables: a win or loss is a {c}-adjusted two-sided Wilcoxon p < \
         {alpha} (per user, values averaged over seeds; {c} over one baseline's comparisons in one table) in the \
         method's favour or against it; anything else is a tie."
    )];
    let mut s = Section::new("Win/tie/loss against the baselines", "wtl");
    s.push(Block::Table(Table { title: String::new(), columns, rows, notes }));
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The warning goes when there are enough blocks (11, one scenario in each of 11 suites) and
    /// methods (6), and comes back with 10 blocks, 5 methods, or two scenarios of one suite.
    #[test]
    fn few_blocks_are_warned_about_and_enough_are_not() {
        let summary = |blocks: Vec<(String, String)>, k: usize| RankSummary {
            metric: "mae".into(),
            blocks,
            average_ranks: (0..k).map(|i| (format!("m{i}"), i as f64 + 1.0)).collect(),
            friedman: None,
            critical_difference: 1.0,
            alpha: 0.05,
        };
        let suites = |n: usize| (0..n).map(|i| (format!("s{i}"), "warm".to_owned())).collect::<Vec<_>>();
        assert_eq!(few_blocks_note(&summary(suites(11), 6)), None);
        let ten = few_blocks_note(&summary(suites(10), 6)).unwrap_or_default();
        assert!(ten.contains("with 10 blocks and 6 methods") && !ten.contains("not independent"), "{ten}");
        let five = few_blocks_note(&summary(suites(11), 5)).unwrap_or_default();
        assert!(five.contains("with 11 blocks and 5 methods"), "{five}");
        let mut shared = suites(11);
        shared[1].0 = "s0".into();
        shared[1].1 = "user-cold".into();
        let s = few_blocks_note(&summary(shared, 6)).unwrap_or_default();
        assert!(s.starts_with("Blocks: the 11 (suite, scenario) pairs") && s.contains("not independent"), "{s}");
        assert!(!s.contains("Caution"), "{s}");
    }
}
