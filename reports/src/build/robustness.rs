//! The robustness section ([`crate::analysis::robustness`]): the explanation, the summary of the mean
//! relative change per method and perturbation, the shot curves, then per perturbation one
//! table per (suite, scenario, metric) of clean against perturbed values.

use crate::analysis::compare::{CompareOptions, Verdict};
use crate::analysis::leaderboard::LeaderboardOptions;
use crate::analysis::robustness::{PerturbationResult, ShotCurve, summary, tables};
use crate::analysis::table::direction_label;
use crate::doc::{Block, Cell, Column, Figure, Row, Section, Table, code};
use crate::metrics::direction;
use crate::plot::{CurvePlot, Plot, Series};

const SUMMARY_TITLE: &str = "Summary: mean relative change over scenarios and metrics (negative is worse)";

/// The section (`None` when the run has no perturbed rows).
pub fn section(
    results: &[PerturbationResult],
    opts: &CompareOptions,
    curves: &[ShotCurve],
    board: &LeaderboardOptions,
) -> Option<Section> {
    if results.is_empty() {
        return None;
    }
    let mut s = Section::new("Robustness", "robustness");
    s.push(Block::Note(format!(
        "Each perturbation (recorded in the manifest under {}) is compared with the clean results of the same \
         methods and seeds: test-time perturbations reuse the clean meta-trained models, perturbations of \
         meta-train data retrain them; queries are never perturbed. For a shilling attack, the drop of target-score \
         is the prediction shift of its targets. Per user, values are averaged over seeds; drop = perturbed − clean \
         mean over the users scored both ways; p: two-sided Wilcoxon signed-rank test, Holm over the comparisons of \
         one perturbation; worse / better: p < {} and a change beyond {:.0}% of the clean mean.",
        code("data.robustness"),
        opts.alpha,
        opts.threshold * 100.0
    )));
    s.push(Block::Heading(3, SUMMARY_TITLE.into()));
    let mut columns = vec![Column::text("method")];
    columns.extend(results.iter().map(|r| Column::num(&code(&r.perturbation))));
    let rows = summary(results)
        .into_iter()
        .map(|(m, cells)| {
            let mut row = vec![Cell::name(m)];
            row.extend(cells.into_iter().map(|c| c.map_or(Cell::Missing, Cell::Percent)));
            Row::new(row)
        })
        .collect();
    s.push(Block::Table(Table { title: String::new(), columns, rows, notes: Vec::new() }));
    if !curves.is_empty() {
        s.push(Block::Heading(3, "Shot curves".into()));
        s.push(Block::Note(format!(
            "Per suite, scenario and metric, the mean over users (per-user values averaged over seeds) at each \
             number of support ratings per user K (the {} perturbations and the clean run), one line per method. K \
             is evenly spaced, not to scale.",
            code("shots(K)")
        )));
        s.blocks.extend(curves.iter().map(|c| Block::Figure(shot_figure(c, board))));
    }
    for r in results {
        s.push(Block::Heading(3, format!("Perturbation {}", code(&r.perturbation))));
        for ((suite, (_, scenario), (_, metric)), cs) in tables(r) {
            let columns = ["clean", "perturbed", "drop", "p (Holm)", "users"].map(Column::num);
            let columns = [vec![Column::text("method")], columns.to_vec(), vec![Column::text("verdict")]].concat();
            let rows = cs
                .iter()
                .map(|c| {
                    Row::new(vec![
                        Cell::name(&c.method),
                        Cell::num(c.mean_a),
                        Cell::num(c.mean_b),
                        Cell::Signed { value: c.diff, digits: 4 },
                        c.p_adjusted.map_or(Cell::Missing, Cell::P),
                        Cell::Int(c.users as u64),
                        Cell::Text(
                            match c.verdict {
                                Verdict::Regressed => "worse",
                                Verdict::Improved => "better",
                                Verdict::Unchanged => "no change",
                            }
                            .into(),
                        ),
                    ])
                })
                .collect();
            let title = format!("{suite} / {scenario} / {metric} ({})", direction_label(direction(&metric)));
            s.push(Block::Table(Table { title, columns, rows, notes: Vec::new() }));
        }
    }
    Some(s)
}

/// One line per method of a curve plot whose x positions are `xs`: `(method, points at x
/// values)`; a point whose x is not in `xs` is not drawn; reference methods are marked.
pub(crate) fn curve_series<'a>(
    lines: impl Iterator<Item = (&'a str, &'a [(usize, f64)])>,
    xs: &[usize],
    metric: &str,
    board: &LeaderboardOptions,
) -> Vec<Series> {
    lines
        .map(|(method, points)| {
            let reference = board.reference_methods.iter().any(|m| m == method);
            Series {
                label: Cell::tagged(method, board.tag(method, metric)).text(),
                reference,
                points: points.iter().filter_map(|&(k, v)| Some((xs.iter().position(|&x| x == k)?, v))).collect(),
            }
        })
        .collect()
}

/// The shot curve of `curve` as a figure, saved as `shot-curve-SUITE-SCENARIO-METRIC.svg`.
pub(crate) fn shot_figure(curve: &ShotCurve, board: &LeaderboardOptions) -> Figure {
    let place = format!("{} / {} / {}", curve.suite, curve.scenario, curve.metric);
    let label = direction_label(direction(&curve.metric));
    let series = curve_series(
        curve.lines.iter().map(|l| (l.method.as_str(), l.points.as_slice())),
        &curve.ks,
        &curve.metric,
        board,
    );
    let plot = CurvePlot {
        title: format!("{place}: shot curve (mean over users)"),
        title_detail: "(mean over users against K, one line per method)".into(),
        x_label: "support ratings per user, K (evenly spaced, not to scale)".into(),
        x_name: "K".into(),
        y_label: format!("{} ({label})", curve.metric),
        xs: curve.ks.iter().map(usize::to_string).collect(),
        marked_x: curve.clean_k.and_then(|k| curve.ks.iter().position(|&x| x == k)),
        series,
    };
    let clean = match curve.clean_k {
        Some(k) => format!(" K = {k} is the clean run."),
        None => " The clean run's K is not fixed (or not known), so it is not drawn.".to_owned(),
    };
    Figure {
        plot: Plot::Curves(plot),
        caption: format!("Shot curve of {place}: {} ({label}), mean over users against K.{clean}", curve.metric),
        file: Some(["shot-curve", &curve.suite, &curve.scenario, &curve.metric].map(String::from).to_vec()),
        place,
        what: "shot curve".into(),
    }
}
