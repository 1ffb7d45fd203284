//! The figures with several series: the line plot over categorical x positions
//! ([`CurvePlot`], the shot curve of the robustness section) and the group gaps ([`GapPlot`],
//! the fairness section). The conventions are those of [`crate::plot`]; these figures also
//! carry a visible title, since they are meant to be pasted into papers without the report
//! around them. Colours per series are Okabe-Ito ([`GROUP_COLORS`]); after 8 series the marker
//! shape changes (circle, square, diamond, triangle).

use std::fmt::Write as _;

use super::{
    CHAR_WIDTH, COLOR_AXIS, COLOR_BAND, COLOR_GRID, COLOR_REFERENCE, COLOR_TEXT, Figure, SMALL_FONT_SIZE, Scale, Ticks,
    c, cut, escape, label_text, label_width, line, nice_ticks, open_svg, text,
};
use crate::format::num;

/// Colours of the series (Okabe-Ito, yellow last).
pub const GROUP_COLORS: [&str; 8] =
    ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

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

/// The visible title, cut to fit `width` px.
fn title_text(out: &mut String, title: &str, width: f64) {
    let max = ((width - 20.0) / TITLE_CHAR_W).max(10.0) as usize;
    let attrs = format!(" font-size=\"{TITLE_FONT_SIZE}\" font-weight=\"bold\" fill=\"{COLOR_TEXT}\"");
    text(out, 10.0, 23.0, "start", &attrs, &cut(title, max));
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
    ticks: Ticks,
    legend_x: f64,
    width: f64,
    height: f64,
}

impl ShotLayout {
    fn new(curve: &CurvePlot, labels: &[String], lo: f64, hi: f64) -> Option<ShotLayout> {
        let ticks = nice_ticks(lo, hi, 6)?;
        let (&d0, &d1) = (ticks.values.first()?, ticks.values.last()?);
        let tick_w = ticks.values.iter().map(|&t| ticks.label(t).len()).max().unwrap_or(1) as f64 * 6.8;
        let left = 40.0 + tick_w;
        let axis_y = TITLE_H + SC_PLOT_H;
        let legend_x = left + SC_PLOT_W + 24.0;
        let legend_w = labels.iter().map(|l| label_width(l)).fold(40.0, f64::max) + 34.0;
        Some(ShotLayout {
            left,
            slot: SC_PLOT_W / curve.xs.len().max(1) as f64,
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
    fn frame(&self, out: &mut String, curve: &CurvePlot) {
        let (right, axis_y) = (self.left + SC_PLOT_W, self.axis_y());
        let small = format!(" font-size=\"{SMALL_FONT_SIZE}\" fill=\"{COLOR_AXIS}\"");
        for &t in &self.ticks.values {
            let y = self.y.map(t);
            line(out, self.left, y, right, y, COLOR_GRID, 1.0, "");
            line(out, self.left - 5.0, y, self.left, y, COLOR_AXIS, 1.0, "");
            text(out, self.left - 8.0, y + 4.0, "end", &small, &self.ticks.label(t));
        }
        for (i, k) in curve.xs.iter().enumerate() {
            let x = self.x(i);
            line(out, x, TITLE_H, x, axis_y, COLOR_GRID, 1.0, "");
            line(out, x, axis_y, x, axis_y + 5.0, COLOR_AXIS, 1.0, "");
            text(out, x, axis_y + 18.0, "middle", &small, &escape(k));
            if curve.marked_x == Some(i) {
                text(out, x, axis_y + 32.0, "middle", &format!("{small} font-style=\"italic\""), "clean");
            }
        }
        line(out, self.left, TITLE_H, self.left, axis_y, COLOR_AXIS, 1.0, "");
        line(out, self.left, axis_y, right, axis_y, COLOR_AXIS, 1.0, "");
        let axis = format!(" fill=\"{COLOR_AXIS}\"");
        text(out, self.left + SC_PLOT_W / 2.0, axis_y + 56.0, "middle", &axis, &escape(&curve.x_label));
        let y_label = &curve.y_label;
        let (yx, yy) = (16.0, TITLE_H + SC_PLOT_H / 2.0);
        let rotate = format!("{axis} transform=\"rotate(-90 {} {})\"", c(yx), c(yy));
        text(out, yx, yy, "middle", &rotate, &cut(y_label, (SC_PLOT_H / CHAR_WIDTH) as usize));
    }
}

/// A line plot over a categorical x axis (the shot curve: a metric against the number of
/// support ratings K): per series a line through its finite points with a marker at each,
/// x evenly spaced (not to scale), the value axis with nice ticks, the legend to the right.
/// Non-finite points are left out and listed in [`Figure::omitted`]; no finite point at all
/// gives no SVG.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePlot {
    /// The visible title (the SVG's `<title>` adds `title_detail`).
    pub title: String,
    pub title_detail: String,
    pub x_label: String,
    /// Names an x position in the list of what was not drawn (`K = 5`).
    pub x_name: String,
    pub y_label: String,
    /// The tick labels of the x positions.
    pub xs: Vec<String>,
    /// The x position labelled "clean" below its tick.
    pub marked_x: Option<usize>,
    pub series: Vec<Series>,
}

/// One line of a [`CurvePlot`].
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub label: String,
    /// Drawn grey and dashed (a reference method).
    pub reference: bool,
    /// (x position, value), x ascending; a missing x is not drawn.
    pub points: Vec<(usize, f64)>,
}

pub(crate) fn curve_figure(curve: &CurvePlot) -> Figure {
    let mut omitted = Vec::new();
    for l in &curve.series {
        for (i, _) in l.points.iter().filter(|p| !p.1.is_finite()) {
            omitted.push(format!("{} at {} = {} (mean not finite)", l.label, curve.x_name, curve.xs[*i]));
        }
    }
    let finite = || curve.series.iter().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let labels: Vec<String> = curve.series.iter().map(|l| l.label.clone()).collect();
    let Some(g) = ShotLayout::new(curve, &labels, lo, hi) else {
        return Figure { svg: None, omitted };
    };
    let mut out = String::new();
    open_svg(&mut out, g.width, g.height, &format!("{} {}", curve.title, curve.title_detail));
    title_text(&mut out, &curve.title, g.width);
    g.frame(&mut out, curve);
    for (j, (l, label)) in curve.series.iter().zip(&labels).enumerate() {
        let reference = l.reference;
        let color = if reference { COLOR_REFERENCE } else { series_style(j).0 };
        let dash = if reference { " stroke-dasharray=\"4 3\"" } else { "" };
        let points: Vec<(f64, f64)> =
            l.points.iter().filter(|p| p.1.is_finite()).map(|&(i, v)| (g.x(i), g.y.map(v))).collect();
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

/// Per row (method) one marker per group (colour and shape per group, legend below the axis)
/// with a whisker over its interval, and on the right the gap between the largest and the
/// smallest group mean; significant rows have a bold label and gap and carry [`GAP_MARK`].
#[derive(Clone, Debug, PartialEq)]
pub struct GapPlot {
    pub title: String,
    pub title_detail: String,
    pub axis: String,
    /// The groups, in legend order.
    pub groups: Vec<String>,
    pub rows: Vec<GapRow>,
}

/// One method of a [`GapPlot`].
#[derive(Clone, Debug, PartialEq)]
pub struct GapRow {
    pub label: String,
    pub reference: bool,
    pub significant: bool,
    /// (group index, mean, low, high).
    pub groups: Vec<(usize, f64, f64, f64)>,
    /// The gap between the largest and the smallest group mean; `None` when not tested.
    pub gap: Option<f64>,
}

/// The mark of a significant gap.
pub const GAP_MARK: &str = crate::format::DOUBLE_DAGGER;

fn finite_group(g: &(usize, f64, f64, f64)) -> bool {
    g.1.is_finite() && g.2.is_finite() && g.3.is_finite()
}

const GAP_PLOT_W: f64 = 440.0;
/// Room right of the plot for the gap.
const GAP_RIGHT_W: f64 = 140.0;
/// Vertical distance between the groups of one method.
const GAP_SUB: f64 = 9.0;
/// Below the plot: tick labels and the axis label.
const GAP_AXIS_H: f64 = 52.0;

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

pub(crate) fn gap_figure(t: &GapPlot) -> Figure {
    let omitted: Vec<String> = t
        .rows
        .iter()
        .flat_map(|r| r.groups.iter().filter(|g| !finite_group(g)).map(move |g| (r, g)))
        .map(|(r, g)| format!("{}, group {} (mean or interval not finite)", r.label, t.groups[g.0]))
        .collect();
    let drawn = || t.rows.iter().flat_map(|r| r.groups.iter()).filter(|g| finite_group(g));
    let lo = drawn().map(|g| g.2.min(g.1)).fold(f64::INFINITY, f64::min);
    let hi = drawn().map(|g| g.3.max(g.1)).fold(f64::NEG_INFINITY, f64::max);
    let Some(ticks) = nice_ticks(lo, hi, 6) else {
        return Figure { svg: None, omitted };
    };
    let (Some(&d0), Some(&d1)) = (ticks.values.first(), ticks.values.last()) else {
        return Figure { svg: None, omitted };
    };
    let labels: Vec<String> = t.rows.iter().map(|r| r.label.clone()).collect();
    let label_w = labels.iter().map(|l| label_width(l) + 10.0).fold(60.0, f64::max) + 20.0;
    let x = Scale { d0, d1, r0: label_w, r1: label_w + GAP_PLOT_W };
    let row_h = (t.groups.len().max(1) as f64 * GAP_SUB + 12.0).max(26.0);
    let width = label_w + GAP_PLOT_W + GAP_RIGHT_W;
    let axis_y = TITLE_H + t.rows.len() as f64 * row_h;
    let legend = legend_flow(&t.groups, label_w, width - 10.0);
    let legend_top = axis_y + GAP_AXIS_H + 6.0;
    let legend_rows = legend.last().map_or(1, |l| l.1 + 1);
    let height = legend_top + legend_rows as f64 * LEGEND_ROW + 6.0;

    let mut out = String::new();
    open_svg(&mut out, width, height, &format!("{} {}", t.title, t.title_detail));
    title_text(&mut out, &t.title, width);
    gap_frame(&mut out, &ticks, &x, t.rows.len(), row_h, &t.axis);
    for (i, (r, label)) in t.rows.iter().zip(&labels).enumerate() {
        let top = TITLE_H + i as f64 * row_h;
        let (bound, significant) = (r.reference, r.significant);
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
        for &(j, mean, low, high) in r.groups.iter().filter(|g| finite_group(g)) {
            let y = top + offset + (j as f64 + 0.5) * GAP_SUB;
            let color = series_style(j).0;
            let (xl, xh) = (x.map(low), x.map(high));
            line(&mut out, xl, y, xh, y, color, 1.6, dash);
            line(&mut out, xl, y - 3.0, xl, y + 3.0, color, 1.6, "");
            line(&mut out, xh, y - 3.0, xh, y + 3.0, color, 1.6, "");
            let _ = writeln!(out, "{}", marker(j, color, x.map(mean), y));
        }
        let gap = match r.gap {
            Some(g) if significant => format!("gap {} {GAP_MARK}", num(g, 4)),
            Some(g) => format!("gap {}", num(g, 4)),
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
fn gap_frame(out: &mut String, ticks: &Ticks, x: &Scale, rows: usize, row_h: f64, label: &str) {
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
    text(out, (x.r0 + x.r1) / 2.0, axis_y + 40.0, "middle", &format!(" fill=\"{COLOR_AXIS}\""), &escape(label));
}
