//! The builders: each turns the typed results of one analysis into sections of the document
//! model ([`crate::doc`]), knowing no output format. [`document`] assembles the report of a run.

pub mod compare;
pub mod fairness;
pub mod interactive;
pub mod item_side;
pub mod leaderboard;
pub mod off_policy;
pub mod reproduction;
pub mod robustness;
pub mod run_notes;
pub mod transfer;
pub mod users;

use crate::analysis::compare::CompareOptions;
use crate::analysis::fairness::{FairnessOptions, analyze_fairness};
use crate::analysis::item_side::{ItemSideOptions, analyze_item_side};
use crate::analysis::leaderboard::{LeaderboardOptions, MarkOptions};
use crate::analysis::robustness::{analyze_robustness, shot_curves};
use crate::analysis::significance::Skipped;
use crate::analysis::users::user_counts;
use crate::doc::Provenance;
use crate::doc::{Document, code};
use crate::read::{GroupRow, ItemSideData};
use crate::results::ResultRow;

/// What the report of a run is made of: its rows (perturbation `none` for the leaderboard,
/// the others for robustness), `groups.csv`, the item-side files, and how it is annotated.
pub struct Inputs<'a> {
    pub rows: &'a [ResultRow],
    /// `rows` without the attack diagnostics (`target-*`), in the same order: the rows of every
    /// section but robustness ([`crate::report::board_rows`]).
    pub board: &'a [ResultRow],
    pub groups: Option<&'a [GroupRow]>,
    pub item_side: Option<&'a ItemSideData>,
    pub prov: &'a Provenance,
    pub opts: &'a LeaderboardOptions,
    pub marks: &'a MarkOptions,
    /// The clean run's number of support ratings of a (suite, scenario), where it is fixed.
    pub clean_k: &'a dyn Fn(&str, &str) -> Option<usize>,
    /// Skipped entries of the significance analysis behind `significance.csv`.
    pub also_skipped: &'a [Skipped],
    /// What the run's manifest adds: methods not run, published values to put beside ours.
    pub notes: &'a RunNotes,
}

/// What a run's manifest adds to its rows: the methods it did not run (with the reason) and the
/// published values its suites declare.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunNotes {
    pub skipped: Vec<run_notes::SkippedMethod>,
    pub published: Vec<crate::analysis::reproduction::Published>,
    /// How the hyper-parameters were tuned (`None`: not known, no section).
    pub tuning: Option<run_notes::Tuning>,
    /// An off-policy suite's estimates (`off-policy.csv`) and the published values beside them.
    pub off_policy: Vec<crate::off_policy::OffPolicyRow>,
    pub off_policy_published: Vec<crate::analysis::off_policy::PublishedEstimate>,
    /// Trainable parameter counts the cells recorded (multi-task methods), per (suite, method).
    pub parameters: std::collections::BTreeMap<(String, String), u64>,
}

/// The leaderboards of the clean rows (attack diagnostics `target-*` left out), users per
/// scenario, fairness (with `groups`), the item side (with its files) and robustness.
pub fn document(i: &Inputs) -> Document {
    let board = i.board;
    // An off-policy run has estimates and no per-user rows: no leaderboard to show.
    let mut sections = if board.is_empty() && !i.notes.off_policy.is_empty() {
        Vec::new()
    } else {
        leaderboard::sections(board, i.opts, i.marks, i.also_skipped)
    };
    sections.extend(run_notes::section(&i.notes.skipped));
    sections.extend(i.notes.tuning.as_ref().map(run_notes::tuning_section));
    sections.extend(reproduction::section(board, &i.notes.published));
    sections.extend(off_policy::section(&i.notes.off_policy, &i.notes.off_policy_published));
    sections.extend(users::section(&user_counts(board)));
    let transfer_opts = crate::analysis::transfer::TransferOptions::default();
    let transfers = crate::analysis::transfer::analyze_transfer(board, &transfer_opts);
    sections.extend(transfer::section(&transfers, &transfer_opts, &i.notes.parameters));
    // The three costliest analyses, independent of each other, at once where threads allow.
    let robust_opts = CompareOptions::default();
    let (rows, groups, item_side) = (i.rows, i.groups, i.item_side);
    let (fair, (item, robust)) = rayon::join(
        || groups.map(|g| analyze_fairness(board, g, &FairnessOptions::default())),
        || {
            rayon::join(
                || {
                    item_side
                        .map(|d| analyze_item_side(&d.items, &d.candidates, &d.rankings, &ItemSideOptions::default()))
                },
                || analyze_robustness(rows, &robust_opts),
            )
        },
    );
    if let Some(f) = &fair {
        sections.push(fairness::section(f, i.opts));
    }
    if let Some(r) = &item {
        sections.push(item_side::section(r, i.opts));
    }
    let curves = shot_curves(&robust, i.clean_k);
    sections.extend(robustness::section(&robust, &robust_opts, &curves, i.opts));
    let learning = crate::analysis::interactive::learning_curves(board);
    sections.extend(interactive::section(&learning, i.opts));
    Document {
        title: "metarec leaderboard".into(),
        lede: format!(
            "One table per suite, scenario and metric (rows with perturbation {}), methods best first by the \
             metric's direction. In the HTML report each table is followed by a plot of means with 95% confidence \
             intervals and a box plot of per-user values; the rank summary compares methods across tables.",
            code("none")
        ),
        provenance: Some(i.prov.clone()),
        sections,
    }
}

#[cfg(test)]
mod figure_tests {
    use super::*;

    use crate::analysis::fairness::{FairnessRow, FairnessTable, GapTest};
    use crate::analysis::robustness::{ShotCurve, ShotLine};
    use crate::doc::{Block, Section};
    use crate::fairness::GroupSummary;
    use crate::plot::{Figure, GAP_MARK, GROUP_COLORS, draw, file_stem};
    use crate::render::figure_files;

    /// Parses an SVG string as XML: it must be well-formed, with the SVG namespace and a title.
    fn parse(svg: &str) -> roxmltree::Document<'_> {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML ({e}): {svg}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg");
        assert_eq!(root.tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
        assert!(root.children().any(|n| n.has_tag_name("title")), "no <title>: {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        doc
    }

    /// The (x, y) pairs of a polyline.
    fn polyline_points(node: roxmltree::Node) -> Vec<(f64, f64)> {
        let points = node.attribute("points").unwrap_or_else(|| panic!("no points"));
        points
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap_or_else(|| panic!("{p}"));
                (x.parse().unwrap_or(f64::NAN), y.parse().unwrap_or(f64::NAN))
            })
            .collect()
    }

    fn shot_curve_figure(curve: &ShotCurve, board: &LeaderboardOptions) -> Figure {
        draw(&robustness::shot_figure(curve, board).plot)
    }

    fn group_gap_figure(t: &FairnessTable, board: &LeaderboardOptions, alpha: f64) -> Figure {
        draw(&fairness::gap_figure(t, board, alpha).plot)
    }

    #[test]
    fn shot_curve_figure_draws_one_line_per_method_in_k_order() {
        let mut curve = shot_curves(&crate::testing::shot_results(), &|_, _| Some(5)).remove(0);
        curve.lines.push(ShotLine { method: "oracle".into(), points: vec![(1, 0.5), (5, 0.5), (20, 0.5)] });
        let board = LeaderboardOptions { reference_methods: vec!["oracle".into()], ..Default::default() };
        let fig = shot_curve_figure(&curve, &board);
        assert!(fig.omitted.is_empty());
        let svg = fig.svg.unwrap_or_default();
        let doc = parse(&svg);
        let lines: Vec<roxmltree::Node> = doc.descendants().filter(|n| n.has_tag_name("polyline")).collect();
        assert_eq!(lines.len(), 3);
        let a = polyline_points(lines[0]);
        assert_eq!(a.len(), 4);
        // evenly spaced in K order: 1, 3, 5, 20
        assert!(a.windows(2).all(|w| w[1].0 > w[0].0), "{a:?}");
        let step = a[1].0 - a[0].0;
        assert!(a.windows(2).all(|w| (w[1].0 - w[0].0 - step).abs() < 0.02), "{a:?}");
        // y: 1.1 highest on the page (smallest y), 0.7 lowest; the clean 0.8 between 0.9 and 0.7
        assert!(a[0].1 < a[1].1 && a[1].1 < a[2].1 && a[2].1 < a[3].1, "{a:?}");
        assert_eq!(polyline_points(lines[1]).len(), 3); // b: K 1, 3, 5
        assert!(lines[2].attribute("stroke-dasharray").is_some()); // the oracle
        let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
        for want in
            ["1", "3", "5", "20", "clean", "a", "b", "oracle (bound)", "s / warm / mae: shot curve (mean over users)"]
        {
            assert!(texts.contains(&want), "{want} not in {texts:?}");
        }
        assert!(texts.iter().any(|t| t.starts_with("support ratings per user, K")), "{texts:?}");
        assert!(texts.contains(&"mae (lower is better)"), "{texts:?}");
        // legend to the right of the plot: every legend label starts right of every point
        let last_x = a[3].0;
        let legend_x: Vec<f64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text") && matches!(n.text(), Some("a" | "b" | "oracle (bound)")))
            .filter_map(|n| n.attribute("x")?.parse().ok())
            .collect();
        assert!(legend_x.iter().all(|x| *x > last_x + 20.0), "{legend_x:?}");
        // deterministic
        assert_eq!(shot_curve_figure(&curve, &board).svg, Some(svg));
    }

    #[test]
    fn shot_curve_figure_leaves_out_non_finite_points() {
        let curve = ShotCurve {
            suite: "s".into(),
            scenario: "warm".into(),
            metric: "ndcg@3".into(),
            clean_k: None,
            ks: vec![1, 3],
            lines: vec![
                ShotLine { method: "a".into(), points: vec![(1, 0.5), (3, f64::NAN)] },
                ShotLine { method: "b".into(), points: vec![(1, 0.6), (3, 0.7)] },
            ],
        };
        let fig = shot_curve_figure(&curve, &LeaderboardOptions::default());
        assert_eq!(fig.omitted, vec!["a at K = 3 (mean not finite)".to_owned()]);
        let svg = fig.svg.unwrap_or_default();
        let doc = parse(&svg);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("polyline")).count(), 1);
        let nothing = ShotCurve { lines: vec![ShotLine { method: "a".into(), points: vec![(1, f64::NAN)] }], ..curve };
        assert_eq!(shot_curve_figure(&nothing, &LeaderboardOptions::default()).svg, None);
    }

    fn summary(group: &str, n: usize, mean: f64) -> GroupSummary {
        GroupSummary { group: group.into(), n, mean, ci_low: mean - 0.1, ci_high: mean + 0.1 }
    }

    fn gap(p_adjusted: f64) -> GapTest {
        GapTest {
            max_group: "g2".into(),
            min_group: "g1".into(),
            gap: 0.3,
            ratio: Some(0.5),
            p_value: p_adjusted,
            p_adjusted,
            family: 1,
            resamples: 999,
        }
    }

    fn fairness_table() -> FairnessTable {
        let groups = |m: f64| vec![summary("g1", 5, m), summary("g2", 6, m + 0.3), summary("g3", 4, m + 0.1)];
        let row = |method: &str, m: f64, p: f64| FairnessRow {
            method: method.into(),
            users: 15,
            ungrouped: 0,
            groups: groups(m),
            gap: Some(gap(p)),
        };
        FairnessTable {
            suite: "s".into(),
            attribute: "gender & age".into(),
            scenario: "warm".into(),
            metric: "mae".into(),
            groups: vec!["g1".into(), "g2".into(), "g3".into()],
            rows: vec![row("maml", 0.6, 0.001), row("oracle", 0.2, 0.9)],
        }
    }

    #[test]
    fn group_gap_figure_has_a_dot_per_group_and_marks_significant_rows() {
        let board = LeaderboardOptions { reference_methods: vec!["oracle".into()], ..Default::default() };
        let fig = group_gap_figure(&fairness_table(), &board, 0.05);
        let svg = fig.svg.unwrap_or_default();
        let doc = parse(&svg);
        // 2 methods x 3 groups, and one per group in the legend
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 2 * 3 + 3);
        let text_of = |t: &str| doc.descendants().find(|n| n.has_tag_name("text") && n.text() == Some(t));
        let maml = text_of(&format!("maml {GAP_MARK}")).unwrap_or_else(|| panic!("maml not marked: {svg}"));
        assert_eq!(maml.attribute("font-weight"), Some("bold"));
        let oracle = text_of("oracle (bound)").unwrap_or_else(|| panic!("no oracle row: {svg}"));
        assert_eq!(oracle.attribute("font-weight"), None);
        assert!(text_of(&format!("gap 0.3000 {GAP_MARK}")).is_some() && text_of("gap 0.3000").is_some());
        for want in ["g1", "g2", "g3", "s / warm / mae: group means by gender & age"] {
            assert!(text_of(want).is_some(), "{want}: {svg}");
        }
        assert!(text_of("mae (mean over users, 95% t-interval)").is_some());
        // maml's g2 dot at 0.9 with its whisker 0.8..1.0, in g2's colour
        let dots: Vec<roxmltree::Node> = doc.descendants().filter(|n| n.has_tag_name("circle")).collect();
        let cx = |n: &roxmltree::Node| n.attribute("cx").and_then(|x| x.parse::<f64>().ok()).unwrap_or(f64::NAN);
        assert_eq!(dots[1].attribute("fill"), Some(GROUP_COLORS[1]));
        assert!(cx(&dots[1]) > cx(&dots[2]) && cx(&dots[2]) > cx(&dots[0]));
    }

    #[test]
    fn group_gap_figure_leaves_out_non_finite_groups() {
        let mut t = fairness_table();
        t.rows[0].groups[2].ci_high = f64::INFINITY;
        let fig = group_gap_figure(&t, &LeaderboardOptions::default(), 0.05);
        assert_eq!(fig.omitted, vec!["maml, group g3 (mean or interval not finite)".to_owned()]);
        let svg = fig.svg.unwrap_or_default();
        let doc = parse(&svg);
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 5 + 3);
    }

    #[test]
    fn file_names_are_safe_unique_and_deterministic() {
        assert_eq!(
            file_stem(&["shot-curve", "synthetic", "user-cold", "ndcg@3"]),
            "shot-curve-synthetic-user-cold-ndcg-3"
        );
        assert_eq!(file_stem(&["group-gap", "ML 1M", "Gender", "warm", "MAE"]), "group-gap-ml-1m-gender-warm-mae");
        assert_eq!(file_stem(&["x", "../<é>/", ""]), "x-x-x");
        assert_eq!(file_stem(&["a", &"b".repeat(300)]).len(), 120);
        let board = LeaderboardOptions::default();
        let curves = shot_curves(&crate::testing::shot_results(), &|_, _| Some(5));
        let mut t = fairness_table();
        t.attribute = "gender-age".into();
        let mut twin = t.clone();
        twin.attribute = "gender_age".into();
        let mut s = Section::new("figures", "figures");
        s.push(Block::Figure(robustness::shot_figure(&curves[0], &board)));
        for t in [fairness_table(), t, twin] {
            s.push(Block::Figure(fairness::gap_figure(&t, &board, 0.05)));
        }
        let doc = Document { title: "t".into(), lede: String::new(), provenance: None, sections: vec![s] };
        let files = figure_files(&doc);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shot-curve-s-warm-mae.svg",
                "group-gap-s-gender-age-warm-mae.svg",
                "group-gap-s-gender-age-warm-mae-2.svg",
                "group-gap-s-gender-age-warm-mae-3.svg"
            ]
        );
        for f in &files {
            assert!(f.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
            parse(&f.svg);
        }
        assert_eq!(files, figure_files(&doc));
        assert_eq!(files[0].svg, shot_curve_figure(&curves[0], &board).svg.unwrap_or_default());
    }
}
