//! The figures of the robustness and fairness sections: the **shot curve**
//! ([`shot_curve_figure`]: a metric against the number of support ratings K,
//! one line per method) and the **group gaps** ([`group_gap_figure`]: per
//! method the group means with their 95% intervals), shown inline in
//! `report.html` and saved as files of a run directory under safe,
//! deterministic names ([`figure_files`]).
//!
//! The conventions are those of [`crate::svg`]: a standalone `<svg>` with the
//! SVG namespace, a `<title>` and a white background, coordinates with 2
//! decimals, Okabe-Ito colours ([`GROUP_COLORS`]; after 8 series the marker
//! shape changes: circle, square, diamond, triangle), escaped text, labels cut
//! at 40 characters, and non-finite values never drawn (they are listed in
//! [`Figure::omitted`]). These figures also carry a visible title, since they
//! are meant to be pasted into papers without the report around them.
//!
//! **Shot curve.** The x axis is categorical: the distinct K of the curve,
//! ascending and evenly spaced (not to scale), the clean run's K labelled
//! "clean". y is the mean over users of the per-user mean over seeds, as in
//! [`crate::compare`]: at `shots(K)` the comparison's perturbed mean
//! (`mean_b`), at the clean K the clean mean (`mean_a`). Reference methods
//! (the oracle) are grey and dashed. The legend is to the right, one row per
//! method, so that names never overlap.
//!
//! **Group gaps.** One row per method, within it one marker per group (colour
//! and shape per group, legend below the axis) with a whisker over its 95%
//! t-interval; on the right the gap between the largest and the smallest
//! group mean. Rows whose gap is significant after Holm (adjusted p below
//! `alpha`) have a bold label and gap and carry [`GAP_MARK`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::compare::Comparison;
use crate::fairness::GroupSummary;
use crate::fairness_report::{FairnessReport, FairnessTable, GAP_MARK, GROUP_COLORS, is_reference, num};
use crate::leaderboard::{LeaderboardOptions, direction_label};
use crate::metrics::direction;
use crate::robustness::{PerturbationResult, TableKey, table_key};
use crate::svg::{
    CHAR_WIDTH, COLOR_AXIS, COLOR_BAND, COLOR_GRID, COLOR_REFERENCE, COLOR_TEXT, Figure, SMALL_FONT_SIZE, Scale, c,
    escape, label_text, label_width, line, nice_ticks, open_svg, text,
};

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/// Height of the band holding the visible title.
const TITLE_H: f64 = 36.0;
/// Font size of the visible title, in px.
const TITLE_FONT_SIZE: f64 = 14.0;
/// Estimated advance of one bold character of the title.
const TITLE_CHAR_W: f64 = 8.2;
/// Height of one legend row.
const LEGEND_ROW: f64 = 20.0;

/// The colour and the marker shape (0 circle, 1 square, 2 diamond, 3
/// triangle) of series `j`.
fn series_style(j: usize) -> (&'static str, usize) {
    (GROUP_COLORS[j % GROUP_COLORS.len()], (j / GROUP_COLORS.len()) % 4)
}

/// The marker of series `j` centred at (x, y), filled with `color`.
pub(crate) fn marker(j: usize, color: &str, x: f64, y: f64) -> String {
    let style = format!("fill=\"{color}\" stroke=\"{COLOR_AXIS}\" stroke-width=\"0.6\"");
    let points = |p: &[(f64, f64)]| p.iter().map(|(px, py)| format!("{},{}", c(x + px), c(y + py))).collect::<Vec<_>>();
    match series_style(j).1 {
        0 => format!("<circle cx=\"{}\" cy=\"{}\" r=\"3.8\" {style}/>", c(x), c(y)),
        1 => format!("<rect x=\"{}\" y=\"{}\" width=\"7\" height=\"7\" {style}/>", c(x - 3.5), c(y - 3.5)),
        2 => format!(
            "<polygon points=\"{}\" {style}/>",
            points(&[(0.0, -4.5), (4.5, 0.0), (0.0, 4.5), (-4.5, 0.0)]).join(" ")
        ),
        _ => format!("<polygon points=\"{}\" {style}/>", points(&[(0.0, -4.5), (4.2, 3.6), (-4.2, 3.6)]).join(" ")),
    }
}

/// `s` cut with an ellipsis to at most `max` characters, escaped.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        escape(s)
    } else {
        format!("{}…", escape(&s.chars().take(max.saturating_sub(1)).collect::<String>()))
    }
}

/// The visible title, cut to fit `width` px.
fn title_text(out: &mut String, title: &str, width: f64) {
    let max = ((width - 20.0) / TITLE_CHAR_W).max(10.0) as usize;
    let attrs = format!(" font-size=\"{TITLE_FONT_SIZE}\" font-weight=\"bold\" fill=\"{COLOR_TEXT}\"");
    text(out, 10.0, 23.0, "start", &attrs, &cut(title, max));
}

/// A method's name as labelled in figures: "(bound)" after reference methods.
fn method_label(method: &str, board: &LeaderboardOptions) -> String {
    if is_reference(method, board) { format!("{method} (bound)") } else { method.to_owned() }
}

// ---------------------------------------------------------------------------
// Shot curve
// ---------------------------------------------------------------------------

/// K of a shot perturbation label: `shots(K)` with K written in decimal
/// digits only; `None` for every other label.
pub fn shots_k(label: &str) -> Option<usize> {
    let k = label.strip_prefix("shots(")?.strip_suffix(')')?;
    if k.is_empty() || !k.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    k.parse().ok()
}

/// The shot curve of one (suite, scenario, metric).
#[derive(Clone, Debug, PartialEq)]
pub struct ShotCurve {
    pub suite: String,
    pub scenario: String,
    pub metric: String,
    /// The clean run's K when known; then it is one of [`ShotCurve::ks`].
    pub clean_k: Option<usize>,
    /// The distinct K of the curve, ascending: the x positions.
    pub ks: Vec<usize>,
    /// One per method, by method name.
    pub lines: Vec<ShotLine>,
}

/// One method of a [`ShotCurve`].
#[derive(Clone, Debug, PartialEq)]
pub struct ShotLine {
    pub method: String,
    /// (K, mean over users of the per-user mean over seeds), K ascending; a
    /// K at which the method was not scored is absent.
    pub points: Vec<(usize, f64)>,
}

/// The shot curves of `results` ([`crate::robustness::analyze_robustness`]):
/// per (suite, scenario, metric) with a `shots(K)` perturbation ([`shots_k`]),
/// each method's perturbed mean at every such K and, when `clean_k(suite,
/// scenario)` gives the clean run's K (`None` where it is not fixed, e.g.
/// when every other rating is support), its clean mean there. The clean mean of a method is
/// taken from its comparison with the most users (the smallest K on ties);
/// all agree when every perturbation scores the same users. At a K that is
/// both clean and perturbed, the clean mean is drawn. Curves with fewer than
/// 2 distinct K are left out. In leaderboard order (suite, scenario, metric).
pub fn shot_curves(results: &[PerturbationResult], clean_k: &dyn Fn(&str, &str) -> Option<usize>) -> Vec<ShotCurve> {
    // table -> method -> K -> perturbed mean
    let mut perturbed: BTreeMap<TableKey, BTreeMap<String, BTreeMap<usize, f64>>> = BTreeMap::new();
    // (table, method) -> (users, K, clean mean) of the comparison chosen for the clean mean
    let mut clean: BTreeMap<(TableKey, String), (usize, usize, f64)> = BTreeMap::new();
    for r in results {
        let Some(k) = shots_k(&r.perturbation) else { continue };
        for cmp in &r.comparisons {
            let key = table_key(cmp);
            perturbed.entry(key.clone()).or_default().entry(cmp.method.clone()).or_default().insert(k, cmp.mean_b);
            let best = clean.entry((key, cmp.method.clone())).or_insert((cmp.users, k, cmp.mean_a));
            if better_clean_source(cmp, k, best) {
                *best = (cmp.users, k, cmp.mean_a);
            }
        }
    }
    let mut curves = Vec::new();
    for (key, methods) in perturbed {
        let ck = clean_k(&key.0, &(key.1).1);
        let mut ks: BTreeSet<usize> = BTreeSet::new();
        let mut lines = Vec::new();
        for (method, mut points) in methods {
            if let (Some(k), Some(&(_, _, mean))) = (ck, clean.get(&(key.clone(), method.clone()))) {
                points.insert(k, mean);
            }
            ks.extend(points.keys());
            lines.push(ShotLine { method, points: points.into_iter().collect() });
        }
        if ks.len() < 2 {
            continue;
        }
        let (suite, (_, scenario), (_, metric)) = key;
        curves.push(ShotCurve { suite, scenario, metric, clean_k: ck, ks: ks.into_iter().collect(), lines });
    }
    curves
}

/// Whether comparison `cmp` at `k` is a better source of the clean mean than `best`: more
/// users, or as many at a smaller K.
fn better_clean_source(cmp: &Comparison, k: usize, best: &(usize, usize, f64)) -> bool {
    (cmp.users, std::cmp::Reverse(k)) > (best.0, std::cmp::Reverse(best.1))
}

/// Width of the plot area of a shot curve.
const SC_PLOT_W: f64 = 420.0;
/// Height of the plot area of a shot curve.
const SC_PLOT_H: f64 = 240.0;
/// Below the plot area: tick labels, "clean", the axis label.
const SC_BOTTOM: f64 = 70.0;

/// Geometry of a shot curve figure.
struct ShotLayout {
    /// Left end of the plot area.
    left: f64,
    /// K index -> x (evenly spaced slots).
    slot: f64,
    /// Mean -> y.
    y: Scale,
    ticks: crate::svg::Ticks,
    legend_x: f64,
    width: f64,
    height: f64,
}

impl ShotLayout {
    fn new(curve: &ShotCurve, labels: &[String], lo: f64, hi: f64) -> Option<ShotLayout> {
        let ticks = nice_ticks(lo, hi, 6)?;
        let (&d0, &d1) = (ticks.values.first()?, ticks.values.last()?);
        let tick_w = ticks.values.iter().map(|&t| ticks.label(t).len()).max().unwrap_or(1) as f64 * 6.8;
        let left = 40.0 + tick_w;
        let axis_y = TITLE_H + SC_PLOT_H;
        let legend_x = left + SC_PLOT_W + 24.0;
        let legend_w = labels.iter().map(|l| label_width(l)).fold(40.0, f64::max) + 34.0;
        Some(ShotLayout {
            left,
            slot: SC_PLOT_W / curve.ks.len().max(1) as f64,
            y: Scale { d0, d1, r0: axis_y, r1: TITLE_H },
            ticks,
            legend_x,
            width: legend_x + legend_w + 12.0,
            height: (axis_y + SC_BOTTOM).max(TITLE_H + labels.len() as f64 * LEGEND_ROW + 12.0),
        })
    }

    /// x of the `i`-th K.
    fn x(&self, i: usize) -> f64 {
        self.left + (i as f64 + 0.5) * self.slot
    }

    fn axis_y(&self) -> f64 {
        self.y.r0
    }

    /// Grid, axes, ticks and axis labels.
    fn frame(&self, out: &mut String, curve: &ShotCurve) {
        let (right, axis_y) = (self.left + SC_PLOT_W, self.axis_y());
        let small = format!(" font-size=\"{SMALL_FONT_SIZE}\" fill=\"{COLOR_AXIS}\"");
        for &t in &self.ticks.values {
            let y = self.y.map(t);
            line(out, self.left, y, right, y, COLOR_GRID, 1.0, "");
            line(out, self.left - 5.0, y, self.left, y, COLOR_AXIS, 1.0, "");
            text(out, self.left - 8.0, y + 4.0, "end", &small, &self.ticks.label(t));
        }
        for (i, k) in curve.ks.iter().enumerate() {
            let x = self.x(i);
            line(out, x, TITLE_H, x, axis_y, COLOR_GRID, 1.0, "");
            line(out, x, axis_y, x, axis_y + 5.0, COLOR_AXIS, 1.0, "");
            text(out, x, axis_y + 18.0, "middle", &small, &k.to_string());
            if curve.clean_k == Some(*k) {
                text(out, x, axis_y + 32.0, "middle", &format!("{small} font-style=\"italic\""), "clean");
            }
        }
        line(out, self.left, TITLE_H, self.left, axis_y, COLOR_AXIS, 1.0, "");
        line(out, self.left, axis_y, right, axis_y, COLOR_AXIS, 1.0, "");
        let axis = format!(" fill=\"{COLOR_AXIS}\"");
        let x_label = "support ratings per user, K (evenly spaced, not to scale)";
        text(out, self.left + SC_PLOT_W / 2.0, axis_y + 56.0, "middle", &axis, x_label);
        let y_label = format!("{} ({})", curve.metric, direction_label(direction(&curve.metric)));
        let (yx, yy) = (16.0, TITLE_H + SC_PLOT_H / 2.0);
        let rotate = format!("{axis} transform=\"rotate(-90 {} {})\"", c(yx), c(yy));
        text(out, yx, yy, "middle", &rotate, &cut(&y_label, (SC_PLOT_H / CHAR_WIDTH) as usize));
    }
}

/// The shot curve figure of `curve`: per method a line through its finite
/// points in K order with a marker at each, over a categorical K axis and a
/// value axis with nice ticks, and the legend to the right (see the module
/// docs). Non-finite points are left out and listed in [`Figure::omitted`];
/// no finite point at all gives no SVG.
pub fn shot_curve_figure(curve: &ShotCurve, board: &LeaderboardOptions) -> Figure {
    let mut omitted = Vec::new();
    for l in &curve.lines {
        for (k, _) in l.points.iter().filter(|p| !p.1.is_finite()) {
            omitted.push(format!("{} at K = {k} (mean not finite)", l.method));
        }
    }
    let finite = || curve.lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let labels: Vec<String> = curve.lines.iter().map(|l| method_label(&l.method, board)).collect();
    let Some(g) = ShotLayout::new(curve, &labels, lo, hi) else {
        return Figure { svg: None, omitted };
    };
    let title = format!("{} / {} / {}: shot curve (mean over users)", curve.suite, curve.scenario, curve.metric);
    let mut out = String::new();
    open_svg(&mut out, g.width, g.height, &format!("{title} (mean over users against K, one line per method)"));
    title_text(&mut out, &title, g.width);
    g.frame(&mut out, curve);
    for (j, (l, label)) in curve.lines.iter().zip(&labels).enumerate() {
        let reference = is_reference(&l.method, board);
        let color = if reference { COLOR_REFERENCE } else { series_style(j).0 };
        let dash = if reference { " stroke-dasharray=\"4 3\"" } else { "" };
        let points: Vec<(f64, f64)> = l
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .filter_map(|&(k, v)| Some((g.x(curve.ks.iter().position(|&x| x == k)?), g.y.map(v))))
            .collect();
        if points.len() >= 2 {
            let list: Vec<String> = points.iter().map(|(x, y)| format!("{},{}", c(*x), c(*y))).collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\"{dash}/>",
                list.join(" ")
            );
        }
        for (x, y) in &points {
            let _ = writeln!(out, "{}", marker(j, color, *x, *y));
        }
        let ly = TITLE_H + (j as f64 + 0.5) * LEGEND_ROW;
        line(&mut out, g.legend_x, ly, g.legend_x + 22.0, ly, color, 1.8, dash);
        let _ = writeln!(out, "{}", marker(j, color, g.legend_x + 11.0, ly));
        let attrs = if reference {
            format!(" fill=\"{COLOR_REFERENCE}\" font-style=\"italic\"")
        } else {
            format!(" fill=\"{COLOR_TEXT}\"")
        };
        text(&mut out, g.legend_x + 30.0, ly + 4.5, "start", &attrs, &label_text(label));
    }
    out.push_str("</svg>");
    Figure { svg: Some(out), omitted }
}

// ---------------------------------------------------------------------------
// Group gaps
// ---------------------------------------------------------------------------

const GAP_PLOT_W: f64 = 440.0;
/// Room right of the plot for the gap.
const GAP_RIGHT_W: f64 = 140.0;
/// Vertical distance between the groups of one method.
const GAP_SUB: f64 = 9.0;
/// Below the plot: tick labels and the axis label.
const GAP_AXIS_H: f64 = 52.0;

fn finite_group(g: &GroupSummary) -> bool {
    g.mean.is_finite() && g.ci_low.is_finite() && g.ci_high.is_finite()
}

/// The legend entries of `groups`, flowing left to right from `x0` and
/// wrapping before `right`: (x, legend row, group index).
fn legend_flow(groups: &[String], x0: f64, right: f64) -> Vec<(f64, usize, usize)> {
    let mut legend = Vec::new();
    let (mut lx, mut row) = (x0, 0);
    for (j, g) in groups.iter().enumerate() {
        let w = 22.0 + label_width(g) + 14.0;
        if lx + w > right && lx > x0 {
            lx = x0;
            row += 1;
        }
        legend.push((lx, row, j));
        lx += w;
    }
    legend
}

/// The "group gap" figure of one fairness table (see the module docs):
/// reference methods of `board` are labelled "(bound)" and drawn dashed; gaps
/// with a Holm-adjusted p below `alpha` are marked. Groups whose mean or
/// interval is not finite are left out and listed in [`Figure::omitted`]; no
/// finite group at all gives no SVG.
pub fn group_gap_figure(t: &FairnessTable, board: &LeaderboardOptions, alpha: f64) -> Figure {
    let omitted: Vec<String> = t
        .rows
        .iter()
        .flat_map(|r| r.groups.iter().filter(|g| !finite_group(g)).map(move |g| (r, g)))
        .map(|(r, g)| format!("{}, group {} (mean or interval not finite)", r.method, g.group))
        .collect();
    let drawn = || t.rows.iter().flat_map(|r| r.groups.iter()).filter(|g| finite_group(g));
    let lo = drawn().map(|g| g.ci_low.min(g.mean)).fold(f64::INFINITY, f64::min);
    let hi = drawn().map(|g| g.ci_high.max(g.mean)).fold(f64::NEG_INFINITY, f64::max);
    let Some(ticks) = nice_ticks(lo, hi, 6) else {
        return Figure { svg: None, omitted };
    };
    let (Some(&d0), Some(&d1)) = (ticks.values.first(), ticks.values.last()) else {
        return Figure { svg: None, omitted };
    };
    let labels: Vec<String> = t.rows.iter().map(|r| method_label(&r.method, board)).collect();
    let label_w = labels.iter().map(|l| label_width(l) + 10.0).fold(60.0, f64::max) + 20.0;
    let x = Scale { d0, d1, r0: label_w, r1: label_w + GAP_PLOT_W };
    let row_h = (t.groups.len().max(1) as f64 * GAP_SUB + 12.0).max(26.0);
    let width = label_w + GAP_PLOT_W + GAP_RIGHT_W;
    let axis_y = TITLE_H + t.rows.len() as f64 * row_h;
    let legend = legend_flow(&t.groups, label_w, width - 10.0);
    let legend_top = axis_y + GAP_AXIS_H + 6.0;
    let legend_rows = legend.last().map_or(1, |l| l.1 + 1);
    let height = legend_top + legend_rows as f64 * LEGEND_ROW + 6.0;

    let title = format!("{} / {} / {}: group means by {}", t.suite, t.scenario, t.metric, t.attribute);
    let mut out = String::new();
    open_svg(&mut out, width, height, &format!("{title} (95% t-intervals, gap per method)"));
    title_text(&mut out, &title, width);
    gap_frame(&mut out, &ticks, &x, t.rows.len(), row_h, &t.metric);
    for (i, (r, label)) in t.rows.iter().zip(&labels).enumerate() {
        let top = TITLE_H + i as f64 * row_h;
        let bound = is_reference(&r.method, board);
        let significant = r.gap.as_ref().is_some_and(|g| g.p_adjusted < alpha);
        let weight = if significant { " font-weight=\"bold\"" } else { "" };
        let attrs = if bound {
            format!(" fill=\"{COLOR_REFERENCE}\" font-style=\"italic\"{weight}")
        } else {
            format!(" fill=\"{COLOR_TEXT}\"{weight}")
        };
        let shown = if significant { format!("{} {GAP_MARK}", label_text(label)) } else { label_text(label) };
        text(&mut out, label_w - 12.0, top + row_h / 2.0 + 4.5, "end", &attrs, &shown);
        let offset = (row_h - t.groups.len() as f64 * GAP_SUB) / 2.0;
        let dash = if bound { " stroke-dasharray=\"4 3\"" } else { "" };
        for s in r.groups.iter().filter(|g| finite_group(g)) {
            let Some(j) = t.groups.iter().position(|g| *g == s.group) else { continue };
            let y = top + offset + (j as f64 + 0.5) * GAP_SUB;
            let color = series_style(j).0;
            let (xl, xh) = (x.map(s.ci_low), x.map(s.ci_high));
            line(&mut out, xl, y, xh, y, color, 1.6, dash);
            line(&mut out, xl, y - 3.0, xl, y + 3.0, color, 1.6, "");
            line(&mut out, xh, y - 3.0, xh, y + 3.0, color, 1.6, "");
            let _ = writeln!(out, "{}", marker(j, color, x.map(s.mean), y));
        }
        let gap = match &r.gap {
            Some(g) if significant => format!("gap {} {GAP_MARK}", num(g.gap)),
            Some(g) => format!("gap {}", num(g.gap)),
            None => "gap not tested".to_owned(),
        };
        let attrs = format!(" font-size=\"{SMALL_FONT_SIZE}\" fill=\"{COLOR_TEXT}\"{weight}");
        text(&mut out, x.r1 + 12.0, top + row_h / 2.0 + 4.5, "start", &attrs, &gap);
    }
    for (lx, lrow, j) in legend {
        let y = legend_top + (lrow as f64 + 0.5) * LEGEND_ROW;
        let color = series_style(j).0;
        line(&mut out, lx, y, lx + 16.0, y, color, 1.6, "");
        let _ = writeln!(out, "{}", marker(j, color, lx + 8.0, y));
        let attrs = format!(" font-size=\"{SMALL_FONT_SIZE}\" fill=\"{COLOR_TEXT}\"");
        text(&mut out, lx + 22.0, y + 4.5, "start", &attrs, &label_text(&t.groups[j]));
    }
    out.push_str("</svg>");
    Figure { svg: Some(out), omitted }
}

/// Bands, grid, value axis with ticks and its label of a group gap figure.
fn gap_frame(out: &mut String, ticks: &crate::svg::Ticks, x: &Scale, rows: usize, row_h: f64, metric: &str) {
    for i in (1..rows).step_by(2) {
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{COLOR_BAND}\"/>",
            c(x.r0),
            c(TITLE_H + i as f64 * row_h),
            c(GAP_PLOT_W),
            c(row_h)
        );
    }
    let axis_y = TITLE_H + rows as f64 * row_h;
    for &tv in &ticks.values {
        line(out, x.map(tv), TITLE_H, x.map(tv), axis_y, COLOR_GRID, 1.0, "");
    }
    line(out, x.r0, axis_y, x.r1, axis_y, COLOR_AXIS, 1.0, "");
    let small = format!(" font-size=\"{SMALL_FONT_SIZE}\" fill=\"{COLOR_AXIS}\"");
    for &tv in &ticks.values {
        line(out, x.map(tv), axis_y, x.map(tv), axis_y + 5.0, COLOR_AXIS, 1.0, "");
        text(out, x.map(tv), axis_y + 18.0, "middle", &small, &ticks.label(tv));
    }
    let label = format!("{metric} (mean over users, 95% t-interval)");
    text(out, (x.r0 + x.r1) / 2.0, axis_y + 40.0, "middle", &format!(" fill=\"{COLOR_AXIS}\""), &escape(&label));
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

/// Longest file stem [`file_stem`] writes, in bytes.
const MAX_STEM: usize = 120;

/// `parts` as a safe file stem: each part lower-cased, every run of
/// characters other than ASCII letters and digits one `-`, no `-` at either
/// end (an empty part becomes `x`), the parts joined with `-`, and the whole
/// cut to 120 bytes. E.g. `["shot-curve", "synthetic", "user-cold", "ndcg@3"]`
/// gives `shot-curve-synthetic-user-cold-ndcg-3`.
pub fn file_stem(parts: &[&str]) -> String {
    let slug = |s: &str| {
        let mut out = String::new();
        for ch in s.chars() {
            if ch.is_ascii_alphanumeric() {
                out.push(ch.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        let out = out.trim_end_matches('-').to_owned();
        if out.is_empty() { "x".to_owned() } else { out }
    };
    let mut stem = parts.iter().map(|p| slug(p)).collect::<Vec<_>>().join("-");
    stem.truncate(MAX_STEM);
    stem.trim_end_matches('-').to_owned()
}

/// A figure saved as `figures/<name>` in a run directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FigureFile {
    /// The file name: `[a-z0-9-]` and `.svg`.
    pub name: String,
    pub svg: String,
}

/// `stem.svg`, or `stem-2.svg`, `stem-3.svg`, ... when taken; marks it taken.
fn unique_name(used: &mut BTreeSet<String>, stem: &str) -> String {
    let mut name = format!("{stem}.svg");
    let mut i = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{i}.svg");
        i += 1;
    }
    name
}

/// Every figure of the robustness and fairness sections as a file: the
/// shot curves of `curves` as `shot-curve-SUITE-SCENARIO-METRIC.svg`, then
/// the group gaps of `fairness` as
/// `group-gap-SUITE-ATTRIBUTE-SCENARIO-METRIC.svg` (names by [`file_stem`];
/// a name already taken gets `-2`, `-3`, ...). Figures with nothing to draw
/// are left out. The same inputs give the same files, byte for byte; the SVGs
/// are those shown inline in `report.html`.
pub fn figure_files(
    curves: &[ShotCurve],
    fairness: Option<&FairnessReport>,
    board: &LeaderboardOptions,
) -> Vec<FigureFile> {
    let mut used = BTreeSet::new();
    let mut files = Vec::new();
    for curve in curves {
        if let Some(svg) = shot_curve_figure(curve, board).svg {
            let stem = file_stem(&["shot-curve", &curve.suite, &curve.scenario, &curve.metric]);
            files.push(FigureFile { name: unique_name(&mut used, &stem), svg });
        }
    }
    for t in fairness.map_or(&[][..], |f| f.tables.as_slice()) {
        let alpha = fairness.map_or(0.05, |f| f.options.alpha);
        if let Some(svg) = group_gap_figure(t, board, alpha).svg {
            let stem = file_stem(&["group-gap", &t.suite, &t.attribute, &t.scenario, &t.metric]);
            files.push(FigureFile { name: unique_name(&mut used, &stem), svg });
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Comparison, Verdict};
    use crate::fairness_report::{FairnessOptions, FairnessRow, GapTest};

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

    fn cmp(method: &str, users: usize, mean_a: f64, mean_b: f64) -> Comparison {
        Comparison {
            suite: "s".into(),
            scenario: "warm".into(),
            method: method.into(),
            metric: "mae".into(),
            users,
            mean_a,
            mean_b,
            diff: mean_b - mean_a,
            p_value: None,
            p_adjusted: None,
            effect: None,
            verdict: Verdict::Unchanged,
            note: None,
        }
    }

    fn perturbation(label: &str, comparisons: Vec<Comparison>) -> PerturbationResult {
        PerturbationResult { perturbation: label.into(), comparisons }
    }

    /// shots(20), shots(3) and shots(1) (in name order, as analyze_robustness gives them) and
    /// a label noise that is no shot perturbation.
    fn results() -> Vec<PerturbationResult> {
        vec![
            perturbation("label-noise(random;0.2;support)", vec![cmp("a", 10, 0.8, 0.95)]),
            perturbation("shots(1)", vec![cmp("a", 10, 0.8, 1.1), cmp("b", 10, 0.9, 1.0)]),
            perturbation("shots(20)", vec![cmp("a", 10, 0.8, 0.7)]),
            perturbation("shots(3)", vec![cmp("a", 10, 0.8, 0.9), cmp("b", 8, 0.85, 0.95)]),
        ]
    }

    #[test]
    fn shot_labels_parse_strictly() {
        assert_eq!(shots_k("shots(1)"), Some(1));
        assert_eq!(shots_k("shots(20)"), Some(20));
        for bad in ["shots()", "shots(-1)", "shots( 1)", "shots(1;2)", "shots(1", "Shots(1)", "label-noise(1)"] {
            assert_eq!(shots_k(bad), None, "{bad}");
        }
    }

    #[test]
    fn shot_curves_put_points_in_k_order_with_the_clean_k() {
        let curves = shot_curves(&results(), &|suite, scenario| ((suite, scenario) == ("s", "warm")).then_some(5));
        assert_eq!(curves.len(), 1);
        let c = &curves[0];
        assert_eq!((c.suite.as_str(), c.scenario.as_str(), c.metric.as_str()), ("s", "warm", "mae"));
        assert_eq!((c.ks.clone(), c.clean_k), (vec![1, 3, 5, 20], Some(5)));
        assert_eq!(c.lines[0].method, "a");
        assert_eq!(c.lines[0].points, vec![(1, 1.1), (3, 0.9), (5, 0.8), (20, 0.7)]);
        // b's clean mean comes from its comparison with the most users (shots(1), 10 users)
        assert_eq!(c.lines[1].points, vec![(1, 1.0), (3, 0.95), (5, 0.9)]);
        // without the clean K: the perturbed points only
        let curves = shot_curves(&results(), &|_, _| None);
        assert_eq!((curves[0].ks.clone(), curves[0].clean_k), (vec![1, 3, 20], None));
        assert_eq!(curves[0].lines[1].points, vec![(1, 1.0), (3, 0.95)]);
        // a clean K equal to a shot K: the clean mean is drawn there
        let curves = shot_curves(&results(), &|_, _| Some(3));
        assert_eq!(curves[0].lines[0].points, vec![(1, 1.1), (3, 0.8), (20, 0.7)]);
    }

    #[test]
    fn shot_curves_need_two_distinct_k() {
        let one = vec![perturbation("shots(1)", vec![cmp("a", 10, 0.8, 1.1)])];
        assert!(shot_curves(&one, &|_, _| None).is_empty());
        assert!(shot_curves(&one, &|_, _| Some(1)).is_empty());
        assert!(shot_curves(&one, &|suite, _| (suite == "other").then_some(5)).is_empty());
        assert_eq!(shot_curves(&one, &|_, _| Some(5)).len(), 1);
        let noise = vec![perturbation("label-noise(random;0.2;support)", vec![cmp("a", 10, 0.8, 1.1)])];
        assert!(shot_curves(&noise, &|_, _| Some(5)).is_empty());
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

    #[test]
    fn shot_curve_figure_draws_one_line_per_method_in_k_order() {
        let mut curve = shot_curves(&results(), &|_, _| Some(5)).remove(0);
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
        assert_eq!(file_stem(&["a", &"b".repeat(300)]).len(), MAX_STEM);
        let board = LeaderboardOptions::default();
        let curves = shot_curves(&results(), &|_, _| Some(5));
        let mut t = fairness_table();
        t.attribute = "gender-age".into();
        let mut twin = t.clone();
        twin.attribute = "gender_age".into();
        let fairness = FairnessReport {
            options: FairnessOptions::default(),
            tables: vec![fairness_table(), t, twin],
            skipped: vec![],
        };
        let files = figure_files(&curves, Some(&fairness), &board);
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
        assert_eq!(files, figure_files(&curves, Some(&fairness), &board));
        assert_eq!(files[0].svg, shot_curve_figure(&curves[0], &board).svg.unwrap_or_default());
    }
}
