//! The plotting module: every figure of the reports is drawn here from a plot specification
//! ([`Plot`]): a confidence-interval plot ([`ci_plot`]), a box plot of per-user values
//! ([`box_plot`]), a critical difference diagram ([`cd_diagram`], Demsar 2006), a line plot over
//! categorical x positions (the shot curve, [`series::CurvePlot`]) and group gaps
//! ([`series::GapPlot`]). Each is a pure function of its specification and returns a
//! [`Figure`]; [`draw`] dispatches.
//!
//! **Conventions.** Every figure is a standalone `<svg>` element (with the SVG
//! namespace, a `<title>`, a white background and presentation attributes
//! rather than CSS classes), so it can also be copied out of the report.
//! Coordinates are written with 2 decimals, so output is deterministic.
//! Colours are from the Okabe-Ito palette, which reads in grey scale and for
//! colour-blind readers: ranked methods [`COLOR_METHOD`], the best ranked
//! method [`COLOR_BEST`], reference methods [`COLOR_REFERENCE`] (dashed).
//! Text is escaped ([`escape`]); labels longer than 40 characters are cut
//! with an ellipsis.
//!
//! **Non-finite values** are never drawn or printed: the element that would
//! need one is left out, the figure says so in its place where it can, and
//! [`Figure::omitted`] lists it for the caption.
//!
//! **Box plots** use numpy's default quantiles (linear interpolation between
//! order statistics, Hyndman and Fan type 7; see [`quantile`]) and Tukey's
//! whiskers: each whisker reaches the most extreme value within 1.5 IQR of
//! its quartile; values beyond are drawn as open circles (as matplotlib's
//! `boxplot` does by default).
//!
//! **Critical difference diagrams** put rank 1 (best) on the left. Methods
//! whose average ranks differ by at most the critical difference are joined
//! by a thick bar; the bars are the maximal such groups ([`cliques`]), as in
//! Orange's `graph_ranks`. The critical difference itself is a bar at the top,
//! drawn to the scale of the rank axis.

pub mod series;

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::format::num;
pub use series::{CurvePlot, GAP_MARK, GROUP_COLORS, GapPlot, GapRow, Series};

/// What to draw: one variant per kind of figure.
#[derive(Clone, Debug, PartialEq)]
pub enum Plot {
    /// Mean and interval per row ([`ci_plot`]).
    Intervals { title: String, axis: String, rows: Vec<CiRow> },
    /// Distribution per row ([`box_plot`]).
    Boxes { title: String, axis: String, rows: Vec<BoxRow> },
    /// Average ranks with the critical difference ([`cd_diagram`]).
    CriticalDifference { title: String, ranks: Vec<(String, f64)>, cd: f64 },
    /// Lines over categorical x positions ([`series::CurvePlot`]).
    Curves(CurvePlot),
    /// Group means per row with their gap ([`series::GapPlot`]).
    Gaps(GapPlot),
}

/// Draws `plot`.
pub fn draw(plot: &Plot) -> Figure {
    match plot {
        Plot::Intervals { title, axis, rows } => ci_plot(title, axis, rows),
        Plot::Boxes { title, axis, rows } => box_plot(title, axis, rows),
        Plot::CriticalDifference { title, ranks, cd } => cd_diagram(title, ranks, *cd),
        Plot::Curves(c) => series::curve_figure(c),
        Plot::Gaps(g) => series::gap_figure(g),
    }
}

/// Colour of ranked methods (Okabe-Ito blue).
pub const COLOR_METHOD: &str = "#0072B2";
/// Colour of the best ranked method (Okabe-Ito vermillion).
pub const COLOR_BEST: &str = "#D55E00";
/// Colour of reference methods such as the oracle (grey; drawn dashed).
pub const COLOR_REFERENCE: &str = "#7A7A7A";
/// Axes, ticks and the lines of the critical difference diagram.
pub(crate) const COLOR_AXIS: &str = "#333333";
/// Grid lines.
pub(crate) const COLOR_GRID: &str = "#E2E2E2";
/// Shading of every other row.
pub(crate) const COLOR_BAND: &str = "#F6F7F9";
/// Labels and other text.
pub(crate) const COLOR_TEXT: &str = "#1A1A1A";
/// Notes drawn in place of an element that is left out.
pub(crate) const COLOR_NOTE: &str = "#666666";
const FONT_FAMILY: &str = "Helvetica, Arial, sans-serif";
/// Font size of labels, in px.
pub(crate) const FONT_SIZE: f64 = 13.0;
/// Font size of tick labels and notes, in px.
pub(crate) const SMALL_FONT_SIZE: f64 = 12.0;
/// Estimated advance of one character at [`FONT_SIZE`], for layout.
pub(crate) const CHAR_WIDTH: f64 = 7.2;
/// Labels are cut to this many characters in figures (tables show them whole).
const MAX_LABEL_CHARS: usize = 40;

/// How a method is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A ranked method (or any method of a metric with unknown direction).
    Method,
    /// The best ranked method: vermillion, bold label.
    Best,
    /// A reference method such as the oracle: grey, dashed.
    Reference,
}

impl Role {
    fn color(self) -> &'static str {
        match self {
            Role::Method => COLOR_METHOD,
            Role::Best => COLOR_BEST,
            Role::Reference => COLOR_REFERENCE,
        }
    }

    /// Extra attributes of a label.
    fn label_attrs(self) -> &'static str {
        match self {
            Role::Best => " font-weight=\"bold\"",
            Role::Reference => " font-style=\"italic\"",
            Role::Method => "",
        }
    }

    /// Extra attributes of a line.
    fn dash(self) -> &'static str {
        if self == Role::Reference { " stroke-dasharray=\"4 3\"" } else { "" }
    }
}

/// A built figure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Figure {
    /// The `<svg>` element; `None` when nothing finite was left to draw.
    pub svg: Option<String>,
    /// Elements left out because a value was not finite, each as
    /// `"label (why)"`, in drawing order.
    pub omitted: Vec<String>,
}

/// Escapes text for HTML and XML (text and attribute values): `&`, `<`, `>`,
/// `"` and `'` become references, and characters that XML 1.0 does not allow
/// (control characters other than tab, line feed and carriage return, U+FFFE,
/// U+FFFF) become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// Appends `c` escaped as [`escape`] does.
pub(crate) fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        '\t' | '\n' | '\r' => out.push(c),
        c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
        c => out.push(c),
    }
}

/// A label as drawn: at most [`MAX_LABEL_CHARS`] characters, escaped.
pub(crate) fn label_text(s: &str) -> String {
    cut(s, MAX_LABEL_CHARS)
}

/// `s` cut with an ellipsis to at most `max` characters, escaped.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        escape(s)
    } else {
        format!("{}…", escape(&s.chars().take(max.saturating_sub(1)).collect::<String>()))
    }
}

/// Estimated width of a label as drawn, in px.
pub(crate) fn label_width(s: &str) -> f64 {
    s.chars().count().min(MAX_LABEL_CHARS) as f64 * CHAR_WIDTH
}

/// A coordinate with 2 decimals (never `-0.00`).
pub(crate) fn c(x: f64) -> String {
    num(x, 2)
}

/// Linear map from a data interval to a pixel interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Data value mapped to `r0`.
    pub d0: f64,
    /// Data value mapped to `r1`.
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    /// Pixel position of `v`; the middle of the range when `d0 == d1`.
    pub fn map(&self, v: f64) -> f64 {
        if self.d1 == self.d0 {
            (self.r0 + self.r1) / 2.0
        } else {
            self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
        }
    }
}

/// Axis ticks at "nice" numbers: multiples of a step 1, 2 or 5 x 10^e.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticks {
    /// Tick values, ascending; the first is at or below the data, the last
    /// at or above it, so they also give the axis range.
    pub values: Vec<f64>,
    pub step: f64,
    /// Decimals that write every tick exactly (0 for steps of 1 and more).
    pub decimals: usize,
}

impl Ticks {
    /// Tick label of `v` with [`Ticks::decimals`] decimals (never `-0`).
    pub fn label(&self, v: f64) -> String {
        num(v, self.decimals)
    }
}

/// 10^e, exactly rounded for the exponents of axis steps.
fn pow10(e: i32) -> f64 {
    if e >= 0 { 10f64.powi(e) } else { 1.0 / 10f64.powi(-e) }
}

/// Nice number near `x` as (mantissa 1, 2 or 5; exponent): rounded when
/// `round`, else the smallest nice number at or above `x` (Heckbert 1990).
fn nice(x: f64, round: bool) -> (u32, i32) {
    let e = x.log10().floor() as i32;
    let f = x / pow10(e);
    let m = if round {
        match f {
            f if f < 1.5 => 1,
            f if f < 3.0 => 2,
            f if f < 7.0 => 5,
            _ => 10,
        }
    } else {
        match f {
            f if f <= 1.0 => 1,
            f if f <= 2.0 => 2,
            f if f <= 5.0 => 5,
            _ => 10,
        }
    };
    if m == 10 { (1, e + 1) } else { (m, e) }
}

/// About `target` ticks covering `[lo, hi]` at multiples of a nice step
/// (Heckbert's "nice numbers for graph labels", 1990): the data span is
/// rounded up to 1, 2 or 5 x 10^e, divided by `target - 1`, and that rounded
/// to 1, 2 or 5 x 10^e; the ticks run from the last multiple at or below `lo`
/// to the first at or above `hi`. Tick values are computed as
/// `(i * mantissa) / 10^-e`, so they are the doubles nearest the decimals.
///
/// A zero span is widened by 10% of the value on each side (by 1 around 0).
/// Returns `None` for non-finite bounds, `lo > hi`, or a span too large to
/// represent.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Option<Ticks> {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return None;
    }
    let (lo, hi) = if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    };
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return None;
    }
    let (rm, re) = nice(span, false);
    let (m, e) = nice(f64::from(rm) * pow10(re) / (target.max(2) - 1) as f64, true);
    let step = f64::from(m) * pow10(e);
    if !(step.is_finite() && step > 0.0) {
        return None;
    }
    // a little slack so that 0.3 / 0.1 = 2.9999999999999996 counts as 3
    let first = (lo / step + 1e-9).floor();
    let last = (hi / step - 1e-9).ceil();
    if !(first.is_finite() && last.is_finite() && last - first <= 1000.0) {
        return None;
    }
    let value = |i: f64| {
        let units = i * f64::from(m);
        if e >= 0 { units * pow10(e) } else { units / pow10(-e) }
    };
    let values = (first as i64..=last as i64).map(|i| value(i as f64)).collect();
    Some(Ticks { values, step, decimals: if e >= 0 { 0 } else { (-e).min(17) as usize } })
}

/// Quantile `p` in [0, 1] of ascending `sorted` values by linear
/// interpolation between order statistics (numpy's default, Hyndman and Fan
/// type 7): with h = (n - 1) p, x[floor h] + (h - floor h)(x[floor h + 1] -
/// x[floor h]). NaN for an empty slice.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = last as f64 * p.clamp(0.0, 1.0);
    let i = (h.floor() as usize).min(last);
    let j = (i + 1).min(last);
    sorted[i] + (h - i as f64) * (sorted[j] - sorted[i])
}

/// The five numbers and outliers of a box plot (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct BoxStats {
    /// Number of finite values.
    pub n: usize,
    pub min: f64,
    /// First quartile ([`quantile`] 0.25).
    pub q1: f64,
    pub median: f64,
    /// Third quartile ([`quantile`] 0.75).
    pub q3: f64,
    pub max: f64,
    /// Smallest value at or above q1 - 1.5 IQR.
    pub whisker_low: f64,
    /// Largest value at or below q3 + 1.5 IQR.
    pub whisker_high: f64,
    /// Values beyond the whiskers, ascending.
    pub outliers: Vec<f64>,
}

/// Box plot numbers of the finite values of `values` (any order); `None` if
/// none is finite.
pub fn box_stats(values: &[f64]) -> Option<BoxStats> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let (&min, &max) = (v.first()?, v.last()?);
    let (q1, median, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    let iqr = q3 - q1;
    let (lo_fence, hi_fence) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    let inside: Vec<f64> = v.iter().copied().filter(|x| (lo_fence..=hi_fence).contains(x)).collect();
    // q1 and q3 lie between order statistics, so some value is always inside
    let whisker_low = inside.first().copied().unwrap_or(q1);
    let whisker_high = inside.last().copied().unwrap_or(q3);
    let outliers = v.iter().copied().filter(|x| !(lo_fence..=hi_fence).contains(x)).collect();
    Some(BoxStats { n: v.len(), min, q1, median, q3, max, whisker_low, whisker_high, outliers })
}

/// Groups of methods that a critical difference diagram joins with a bar:
/// the maximal sets of methods whose average ranks pairwise differ by at
/// most `cd` (as Orange's `graph_ranks`: `|r_i - r_j| <= cd`), each of at
/// least 2 methods. Sorted by rank such sets are runs of neighbours, so each
/// group is the longest run starting at a method that no earlier run covers.
///
/// Returns indices into `ranks` (any order), each group ascending by rank
/// (ties by index) and the groups by their best rank. Non-finite ranks are
/// in no group; a non-finite or negative `cd` gives no groups.
pub fn cliques(ranks: &[f64], cd: f64) -> Vec<Vec<usize>> {
    if !(cd.is_finite() && cd >= 0.0) {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..ranks.len()).filter(|&i| ranks[i].is_finite()).collect();
    idx.sort_by(|&a, &b| ranks[a].total_cmp(&ranks[b]).then(a.cmp(&b)));
    let mut groups = Vec::new();
    let mut covered_to = 0; // runs end at an index > 0 whenever there are any
    for i in 0..idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && ranks[idx[j + 1]] - ranks[idx[i]] <= cd {
            j += 1;
        }
        if j > i && j > covered_to {
            groups.push(idx[i..=j].to_vec());
            covered_to = j;
        }
    }
    groups
}

/// Writes the opening `<svg>` element, its `<title>` and a white background.
pub(crate) fn open_svg(out: &mut String, width: f64, height: f64, title: &str) {
    let (w, h) = (c(width), c(height));
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"{FONT_FAMILY}\" font-size=\"{FONT_SIZE}\" role=\"img\">\n\
         <title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n",
        escape(title)
    );
}

pub(crate) fn line(out: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64, extra: &str) {
    let _ = writeln!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{stroke}\" stroke-width=\"{width}\"{extra}/>",
        c(x1),
        c(y1),
        c(x2),
        c(y2)
    );
}

pub(crate) fn text(out: &mut String, x: f64, y: f64, anchor: &str, attrs: &str, content: &str) {
    let _ = writeln!(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\"{attrs}>{content}</text>", c(x), c(y));
}

/// Layout of a figure with one row per method and a value axis at the bottom.
struct Rows {
    /// Right end of the labels; the plot starts here.
    label_w: f64,
    x: Scale,
    ticks: Ticks,
    n: usize,
    width: f64,
    height: f64,
}

const TOP: f64 = 10.0;
const ROW_H: f64 = 26.0;
const PLOT_W: f64 = 440.0;
const RIGHT: f64 = 30.0;
const AXIS_H: f64 = 52.0;

impl Rows {
    /// Layout of `labels.len()` rows over values `lo..=hi`; `None` when they
    /// give no axis.
    fn new(labels: &[&str], lo: f64, hi: f64) -> Option<Rows> {
        let ticks = nice_ticks(lo, hi, 6)?;
        let label_w = labels.iter().map(|l| label_width(l)).fold(0.0, f64::max).max(60.0) + 20.0;
        let (&d0, &d1) = (ticks.values.first()?, ticks.values.last()?);
        let x = Scale { d0, d1, r0: label_w, r1: label_w + PLOT_W };
        let n = labels.len();
        Some(Rows { label_w, x, ticks, n, width: label_w + PLOT_W + RIGHT, height: TOP + n as f64 * ROW_H + AXIS_H })
    }

    /// Vertical centre of row `i`.
    fn cy(&self, i: usize) -> f64 {
        TOP + (i as f64 + 0.5) * ROW_H
    }

    fn axis_y(&self) -> f64 {
        TOP + self.n as f64 * ROW_H
    }

    /// Background bands, grid, axis with ticks and its title.
    fn frame(&self, out: &mut String, axis_label: &str) {
        for i in (1..self.n).step_by(2) {
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{COLOR_BAND}\"/>",
                c(self.label_w),
                c(TOP + i as f64 * ROW_H),
                c(PLOT_W),
                c(ROW_H)
            );
        }
        let y = self.axis_y();
        for &t in &self.ticks.values {
            let x = self.x.map(t);
            line(out, x, TOP, x, y, COLOR_GRID, 1.0, "");
        }
        line(out, self.x.r0, y, self.x.r1, y, COLOR_AXIS, 1.0, "");
        for &t in &self.ticks.values {
            let x = self.x.map(t);
            line(out, x, y, x, y + 5.0, COLOR_AXIS, 1.0, "");
            let size = format!(" font-size=\"{SMALL_FONT_SIZE}\" fill=\"{COLOR_AXIS}\"");
            text(out, x, y + 18.0, "middle", &size, &self.ticks.label(t));
        }
        let mid = (self.x.r0 + self.x.r1) / 2.0;
        text(out, mid, y + 40.0, "middle", &format!(" fill=\"{COLOR_AXIS}\""), &escape(axis_label));
    }

    /// The label of row `i`.
    fn label(&self, out: &mut String, i: usize, label: &str, role: Role) {
        let attrs = format!(
            " fill=\"{}\"{}",
            if role == Role::Reference { COLOR_REFERENCE } else { "#1A1A1A" },
            role.label_attrs()
        );
        text(out, self.label_w - 12.0, self.cy(i) + 4.5, "end", &attrs, &label_text(label));
    }

    /// A note in the plot area of row `i`, for an element left out.
    fn note(&self, out: &mut String, i: usize, note: &str) {
        let attrs = format!(" font-size=\"{SMALL_FONT_SIZE}\" font-style=\"italic\" fill=\"{COLOR_NOTE}\"");
        text(out, self.label_w + 8.0, self.cy(i) + 4.0, "start", &attrs, note);
    }
}

/// One method of a [`ci_plot`].
#[derive(Clone, Debug, PartialEq)]
pub struct CiRow {
    /// Drawn left of the row, e.g. `"oracle (bound)"` or `"bad †"`.
    pub label: String,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    pub role: Role,
}

/// Confidence-interval plot: one row per entry of `rows`, in order, with a
/// dot at the mean and a whisker with end caps from `low` to `high`, over a
/// labelled value axis (nice ticks, grid lines, `axis_label` below). A row
/// with a non-finite mean or bound keeps its label, says "not finite: not
/// drawn" and is listed in [`Figure::omitted`]. `title` is the SVG's
/// `<title>` (for screen readers and tooltips).
pub fn ci_plot(title: &str, axis_label: &str, rows: &[CiRow]) -> Figure {
    let finite = |r: &CiRow| r.mean.is_finite() && r.low.is_finite() && r.high.is_finite();
    let omitted: Vec<String> =
        rows.iter().filter(|r| !finite(r)).map(|r| format!("{} (mean or interval not finite)", r.label)).collect();
    let drawn = rows.iter().filter(|r| finite(r));
    let lo = drawn.clone().map(|r| r.low.min(r.mean)).fold(f64::INFINITY, f64::min);
    let hi = drawn.map(|r| r.high.max(r.mean)).fold(f64::NEG_INFINITY, f64::max);
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let Some(layout) = Rows::new(&labels, lo, hi) else {
        return Figure { svg: None, omitted };
    };
    let mut out = String::new();
    open_svg(&mut out, layout.width, layout.height, title);
    layout.frame(&mut out, axis_label);
    for (i, r) in rows.iter().enumerate() {
        layout.label(&mut out, i, &r.label, r.role);
        if !finite(r) {
            layout.note(&mut out, i, "not finite: not drawn");
            continue;
        }
        let (y, color, dash) = (layout.cy(i), r.role.color(), r.role.dash());
        let (xl, xm, xh) = (layout.x.map(r.low), layout.x.map(r.mean), layout.x.map(r.high));
        line(&mut out, xl, y, xh, y, color, 2.0, dash);
        line(&mut out, xl, y - 5.0, xl, y + 5.0, color, 2.0, "");
        line(&mut out, xh, y - 5.0, xh, y + 5.0, color, 2.0, "");
        let _ = writeln!(out, "<circle cx=\"{}\" cy=\"{}\" r=\"4.5\" fill=\"{color}\"/>", c(xm), c(y));
    }
    out.push_str("</svg>");
    Figure { svg: Some(out), omitted }
}

/// One method of a [`box_plot`].
#[derive(Clone, Debug, PartialEq)]
pub struct BoxRow {
    /// Drawn left of the row.
    pub label: String,
    /// The values summarised by the box (per-user values in the report).
    pub values: Vec<f64>,
    pub role: Role,
}

/// Box plot: one row per entry of `rows`, in order, with a box from the
/// first to the third quartile, a thick line at the median, Tukey whiskers
/// and outliers as open circles (see the module docs and [`box_stats`]), over
/// a labelled value axis. Non-finite values are left out of their box and
/// counted in [`Figure::omitted`]; a row with no finite value says so.
pub fn box_plot(title: &str, axis_label: &str, rows: &[BoxRow]) -> Figure {
    let stats: Vec<Option<BoxStats>> = rows.iter().map(|r| box_stats(&r.values)).collect();
    let mut omitted = Vec::new();
    for r in rows {
        let bad = r.values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            let s = if bad == 1 { "" } else { "s" };
            omitted.push(format!("{} ({bad} non-finite value{s} left out)", r.label));
        }
    }
    let lo = stats.iter().flatten().map(|s| s.min).fold(f64::INFINITY, f64::min);
    let hi = stats.iter().flatten().map(|s| s.max).fold(f64::NEG_INFINITY, f64::max);
    let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
    let Some(layout) = Rows::new(&labels, lo, hi) else {
        return Figure { svg: None, omitted };
    };
    let mut out = String::new();
    open_svg(&mut out, layout.width, layout.height, title);
    layout.frame(&mut out, axis_label);
    for (i, (r, s)) in rows.iter().zip(&stats).enumerate() {
        layout.label(&mut out, i, &r.label, r.role);
        let Some(s) = s else {
            layout.note(&mut out, i, "no finite value: not drawn");
            continue;
        };
        let (y, color, dash) = (layout.cy(i), r.role.color(), r.role.dash());
        let x = |v: f64| layout.x.map(v);
        line(&mut out, x(s.whisker_low), y, x(s.q1), y, color, 1.4, dash);
        line(&mut out, x(s.q3), y, x(s.whisker_high), y, color, 1.4, dash);
        line(&mut out, x(s.whisker_low), y - 4.0, x(s.whisker_low), y + 4.0, color, 1.4, "");
        line(&mut out, x(s.whisker_high), y - 4.0, x(s.whisker_high), y + 4.0, color, 1.4, "");
        let _ = writeln!(
            out,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"14\" fill=\"{color}\" fill-opacity=\"0.18\" \
             stroke=\"{color}\" stroke-width=\"1.4\"{dash}/>",
            c(x(s.q1)),
            c(y - 7.0),
            c(x(s.q3) - x(s.q1))
        );
        line(&mut out, x(s.median), y - 7.0, x(s.median), y + 7.0, color, 2.6, "");
        for &o in &s.outliers {
            let _ = writeln!(
                out,
                "<circle cx=\"{}\" cy=\"{}\" r=\"2.6\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.2\"/>",
                c(x(o)),
                c(y)
            );
        }
    }
    out.push_str("</svg>");
    Figure { svg: Some(out), omitted }
}

/// Geometry of a critical difference diagram.
struct CdLayout {
    /// Methods with finite ranks, best first (ties by name): (name, rank).
    methods: Vec<(String, f64)>,
    /// Average rank -> x.
    x: Scale,
    /// Highest rank on the axis (the number of methods).
    axis_max: usize,
    /// y of the rank axis.
    axis_y: f64,
    /// y of the critical difference bar.
    cd_y: f64,
    /// Groups joined by a bar, as indices into `methods`, with their y.
    bars: Vec<(Vec<usize>, f64)>,
    /// Per method: y of its label row and whether the label is on the left.
    rows: Vec<(f64, bool)>,
    width: f64,
    height: f64,
}

const CD_AXIS_W: f64 = 440.0;
const CD_ROW_H: f64 = 20.0;

/// Geometry of [`cd_diagram`]; `cd` is used only when finite and positive.
fn cd_layout(ranks: &[(String, f64)], cd: f64) -> CdLayout {
    let mut methods: Vec<(String, f64)> = ranks.iter().filter(|(_, r)| r.is_finite()).cloned().collect();
    methods.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let k = methods.len();
    let max_rank = methods.iter().map(|m| m.1).fold(1.0, f64::max);
    let axis_max = (k.max(2)).max(max_rank.ceil() as usize);
    let cd_ok = cd.is_finite() && cd > 0.0;
    // the CD bar starts at rank 1 and is drawn to scale, so the scale reaches 1 + CD
    let d1 = if cd_ok { (axis_max as f64).max(1.0 + cd) } else { axis_max as f64 };
    let half = k.div_ceil(2);
    let label = |i: usize| cd_label(&methods[i]);
    let left_w = (0..half).map(|i| label_width(&label(i))).fold(40.0, f64::max) + 28.0;
    let right_w = (half..k).map(|i| label_width(&label(i))).fold(40.0, f64::max) + 28.0;
    let x = Scale { d0: 1.0, d1, r0: left_w, r1: left_w + CD_AXIS_W };
    let (cd_y, axis_y) = (26.0, 58.0);
    let rank_values: Vec<f64> = methods.iter().map(|m| m.1).collect();
    let groups = if cd_ok { cliques(&rank_values, cd) } else { Vec::new() };
    let bars: Vec<(Vec<usize>, f64)> =
        groups.into_iter().enumerate().map(|(j, g)| (g, axis_y + 14.0 + 8.0 * j as f64)).collect();
    let first_row = axis_y + 14.0 + 8.0 * bars.len() as f64 + 16.0;
    // left: best at the top; right: worst at the top, so no lines cross
    let rows: Vec<(f64, bool)> = (0..k)
        .map(|i| {
            if i < half {
                (first_row + CD_ROW_H * i as f64, true)
            } else {
                (first_row + CD_ROW_H * (k - 1 - i) as f64, false)
            }
        })
        .collect();
    let height = first_row + CD_ROW_H * (half.max(1) - 1) as f64 + 16.0;
    CdLayout { methods, x, axis_max, axis_y, cd_y, bars, rows, width: left_w + CD_AXIS_W + right_w, height }
}

/// Label of a method in a critical difference diagram: name and average rank.
fn cd_label((name, rank): &(String, f64)) -> String {
    format!("{name} ({rank:.2})")
}

/// Critical difference diagram in the style of Demsar (2006) and Orange: a
/// rank axis from 1 (best, left) to the number of methods with ticks every
/// half rank; each method a line from its average rank on the axis to its
/// label (name and average rank; the better half on the left, the rest on the
/// right); thick bars joining the [`cliques`] of methods whose average ranks
/// differ by at most `cd`; and a bar labelled "CD = x.xx" of length `cd` in
/// rank units at the top. `ranks` are (method, average rank) in any order.
///
/// Methods with a non-finite rank, and with a non-finite or non-positive
/// `cd` the bar and groups, are left out and listed in [`Figure::omitted`];
/// fewer than 2 drawable methods give no SVG.
pub fn cd_diagram(title: &str, ranks: &[(String, f64)], cd: f64) -> Figure {
    let mut omitted: Vec<String> =
        ranks.iter().filter(|(_, r)| !r.is_finite()).map(|(m, _)| format!("{m} (average rank not finite)")).collect();
    let cd_ok = cd.is_finite() && cd > 0.0;
    if !cd_ok {
        omitted.push("critical difference bar and groups (critical difference not finite and positive)".to_owned());
    }
    let g = cd_layout(ranks, cd);
    if g.methods.len() < 2 {
        return Figure { svg: None, omitted };
    }
    let mut out = String::new();
    open_svg(&mut out, g.width, g.height, title);
    let ink = COLOR_AXIS;
    // critical difference, to scale, from rank 1
    if cd_ok {
        let (x0, x1) = (g.x.map(1.0), g.x.map(1.0 + cd));
        line(&mut out, x0, g.cd_y, x1, g.cd_y, ink, 1.6, "");
        line(&mut out, x0, g.cd_y - 4.0, x0, g.cd_y + 4.0, ink, 1.6, "");
        line(&mut out, x1, g.cd_y - 4.0, x1, g.cd_y + 4.0, ink, 1.6, "");
        let label = format!("CD = {cd:.2}");
        text(&mut out, (x0 + x1) / 2.0, g.cd_y - 8.0, "middle", &format!(" font-size=\"{SMALL_FONT_SIZE}\""), &label);
    }
    // rank axis with ticks every half rank, labelled at whole ranks
    let (ax0, ax1) = (g.x.map(1.0), g.x.map(g.axis_max as f64));
    line(&mut out, ax0, g.axis_y, ax1, g.axis_y, ink, 1.2, "");
    for h in 2..=2 * g.axis_max {
        let r = h as f64 / 2.0;
        let x = g.x.map(r);
        let whole = h % 2 == 0;
        line(&mut out, x, g.axis_y, x, g.axis_y - if whole { 7.0 } else { 4.0 }, ink, 1.2, "");
        if whole {
            let attrs = format!(" font-size=\"{SMALL_FONT_SIZE}\"");
            text(&mut out, x, g.axis_y - 12.0, "middle", &attrs, &(h / 2).to_string());
        }
    }
    // methods: a line from the axis down to the label row, then out to the side
    let (left_end, right_end) = (g.x.r0 - 12.0, g.x.r1 + 12.0);
    for (m, (y, left)) in g.methods.iter().zip(&g.rows) {
        let x = g.x.map(m.1);
        let end = if *left { left_end } else { right_end };
        let _ = writeln!(
            out,
            "<polyline points=\"{},{} {},{} {},{}\" fill=\"none\" stroke=\"{ink}\" stroke-width=\"1.1\"/>",
            c(x),
            c(g.axis_y),
            c(x),
            c(*y),
            c(end),
            c(*y)
        );
        let _ = writeln!(out, "<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{ink}\"/>", c(x), c(g.axis_y));
        let (tx, anchor) = if *left { (end - 4.0, "end") } else { (end + 4.0, "start") };
        text(&mut out, tx, y + 4.5, anchor, "", &label_text(&cd_label(m)));
    }
    // groups that do not differ significantly
    for (group, y) in &g.bars {
        let (Some(&a), Some(&b)) = (group.first(), group.last()) else { continue };
        let (xa, xb) = (g.x.map(g.methods[a].1) - 4.0, g.x.map(g.methods[b].1) + 4.0);
        line(&mut out, xa, *y, xb, *y, "#000000", 4.0, " stroke-linecap=\"butt\"");
    }
    out.push_str("</svg>");
    Figure { svg: Some(out), omitted }
}

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
pub(crate) fn unique_name(used: &mut BTreeSet<String>, stem: &str) -> String {
    let mut name = format!("{stem}.svg");
    let mut i = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{i}.svg");
        i += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses an SVG string as XML and returns the document's text for checks.
    fn parse(svg: &str) -> roxmltree::Document<'_> {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML ({e}): {svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert_eq!(doc.root_element().tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
        doc
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn ticks_are_nice_numbers() {
        // span 1.629 -> 2; 2 / 5 = 0.4 -> 0.5; 0.5 <= 0.503 and 2.5 >= 2.132
        let t = nice_ticks(0.503, 2.132, 6).unwrap_or_else(|| panic!("no ticks"));
        assert_eq!(t.values, vec![0.5, 1.0, 1.5, 2.0, 2.5]);
        assert_eq!((t.step, t.decimals), (0.5, 1));
        assert_eq!(t.label(1.0), "1.0");
        // span 100 -> 100; 100 / 5 = 20 -> 2 x 10^1
        let t = nice_ticks(0.0, 100.0, 6).unwrap_or_else(|| panic!("no ticks"));
        assert_eq!(t.values, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(t.label(40.0), "40");
        // a constant 0.3 is widened to [0.27, 0.33]: span 0.06 -> 0.1, step 0.02;
        // values are the doubles nearest the decimals (0.3, not 0.30000000000000004)
        let t = nice_ticks(0.3, 0.3, 6).unwrap_or_else(|| panic!("no ticks"));
        assert_eq!(t.values, vec![0.26, 0.28, 0.3, 0.32, 0.34]);
        assert_eq!(t.decimals, 2);
        // around zero, negative values; "-0" is never written
        // span 0.11 -> 0.2; 0.2 / 5 = 0.04 -> 0.05
        let t = nice_ticks(-0.04, 0.07, 6).unwrap_or_else(|| panic!("no ticks"));
        assert_eq!(t.values, vec![-0.05, 0.0, 0.05, 0.1]);
        assert_eq!(t.label(-0.0), "0.00");
        for (lo, hi) in [(0.503, 2.132), (-3.7, 12.9), (1e-5, 3e-5), (0.0, 1.0), (123.0, 98765.0)] {
            let t = nice_ticks(lo, hi, 6).unwrap_or_else(|| panic!("no ticks"));
            let mantissa = t.step / 10f64.powf(t.step.log10().floor());
            assert!([1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-9), "{lo} {hi}: {t:?}");
            assert!(t.values[0] <= lo && *t.values.last().unwrap_or(&f64::NAN) >= hi, "{t:?}");
            assert!((3..=11).contains(&t.values.len()), "{lo} {hi}: {t:?}");
            for v in &t.values {
                let k = v / t.step;
                assert!((k - k.round()).abs() < 1e-9, "{v} is not a multiple of {}", t.step);
            }
        }
        assert_eq!(nice_ticks(f64::NAN, 1.0, 6), None);
        assert_eq!(nice_ticks(2.0, 1.0, 6), None);
    }

    #[test]
    fn quartiles_interpolate_linearly_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [25, 50, 75]) -> [1.75, 2.5, 3.25]:
        // h = 3p = 0.75, 1.5, 2.25
        let s = box_stats(&[4.0, 1.0, 3.0, 2.0]).unwrap_or_else(|| panic!("no stats"));
        assert_eq!((s.q1, s.median, s.q3), (1.75, 2.5, 3.25));
        assert_eq!((s.whisker_low, s.whisker_high, s.outliers.len()), (1.0, 4.0, 0));
        // [1, 2, 3, 4, 10]: h = 4p = 1, 2, 3 -> q1 2, median 3, q3 4; IQR 2,
        // fences -1 and 7: whiskers 1 and 4, 10 is an outlier
        let s = box_stats(&[10.0, 1.0, 4.0, 2.0, 3.0]).unwrap_or_else(|| panic!("no stats"));
        assert_eq!((s.min, s.q1, s.median, s.q3, s.max), (1.0, 2.0, 3.0, 4.0, 10.0));
        assert_eq!((s.whisker_low, s.whisker_high), (1.0, 4.0));
        assert_eq!(s.outliers, vec![10.0]);
        // [0.1, 0.4, 0.5, 0.9, 1.0, 1.2] (numpy: q1 0.425, median 0.7, q3 0.975):
        // h = 1.25 -> 0.4 + 0.25 * 0.1; h = 2.5 -> 0.7; h = 3.75 -> 0.9 + 0.75 * 0.1
        let s = box_stats(&[1.2, 0.1, 0.9, 0.4, 1.0, 0.5, f64::NAN]).unwrap_or_else(|| panic!("no stats"));
        assert!(close(s.q1, 0.425) && close(s.median, 0.7) && close(s.q3, 0.975), "{s:?}");
        assert_eq!(s.n, 6); // the NaN is left out
        assert_eq!(box_stats(&[f64::NAN]), None);
        assert_eq!(quantile(&[5.0], 0.75), 5.0);
    }

    #[test]
    fn cliques_join_methods_within_the_critical_difference() {
        // A, B within 0.5; C, D within 0.2; B, C 1.5 apart
        assert_eq!(cliques(&[1.0, 1.5, 3.0, 3.2], 1.0), vec![vec![0, 1], vec![2, 3]]);
        // the same ranks in another order: indices follow the input
        assert_eq!(cliques(&[3.2, 1.0, 3.0, 1.5], 1.0), vec![vec![1, 3], vec![2, 0]]);
        // overlapping groups: {1.0, 1.8} and {1.8, 2.6}, but 2.6 - 1.0 > 1; 4.0 alone
        assert_eq!(cliques(&[1.0, 1.8, 2.6, 4.0], 1.0), vec![vec![0, 1], vec![1, 2]]);
        // everything within CD: one group; exactly CD apart counts as joined (Orange: <=)
        assert_eq!(cliques(&[1.0, 2.0, 3.0], 2.5), vec![vec![0, 1, 2]]);
        assert_eq!(cliques(&[1.0, 2.0], 1.0), vec![vec![0, 1]]);
        // nothing within CD, or no usable CD
        assert!(cliques(&[1.0, 2.0, 3.0], 0.5).is_empty());
        assert!(cliques(&[1.0, 1.5], f64::NAN).is_empty());
    }

    fn named(ranks: &[(&str, f64)]) -> Vec<(String, f64)> {
        ranks.iter().map(|(m, r)| (m.to_string(), *r)).collect()
    }

    #[test]
    fn cd_diagram_maps_ranks_linearly_and_draws_groups() {
        let ranks = named(&[("C", 3.0), ("A", 1.0), ("D", 3.2), ("B", 1.5)]);
        let g = cd_layout(&ranks, 1.0);
        // 4 methods and 1 + CD = 2 < 4: the axis spans ranks 1..4 over CD_AXIS_W px
        assert_eq!(g.axis_max, 4);
        let (x1, x4) = (g.x.map(1.0), g.x.map(4.0));
        assert!(close(x4 - x1, CD_AXIS_W));
        assert!(close(g.x.map(2.5), (x1 + x4) / 2.0));
        assert!(close(g.x.map(1.5) - x1, CD_AXIS_W / 6.0));
        let names: Vec<&str> = g.methods.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "D"]);
        let groups: Vec<&Vec<usize>> = g.bars.iter().map(|b| &b.0).collect();
        assert_eq!(groups, [&vec![0, 1], &vec![2, 3]]);
        // left labels best on top, right labels worst on top
        assert_eq!(g.rows.iter().map(|r| r.1).collect::<Vec<_>>(), [true, true, false, false]);
        assert!(g.rows[0].0 < g.rows[1].0 && g.rows[3].0 < g.rows[2].0);

        let fig = cd_diagram("cd", &ranks, 1.0);
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        assert!(fig.omitted.is_empty());
        // B's tick at rank 1.5, the CD bar from rank 1 to rank 2, the bar of {C, D}
        assert!(svg.contains(&format!("<circle cx=\"{}\" cy=\"{}\"", c(g.x.map(1.5)), c(g.axis_y))), "{svg}");
        assert!(svg.contains(&format!("x1=\"{}\" y1=\"26.00\" x2=\"{}\" y2=\"26.00\"", c(x1), c(g.x.map(2.0)))));
        let bar =
            format!("x1=\"{}\" y1=\"{}\" x2=\"{}\"", c(g.x.map(3.0) - 4.0), c(g.bars[1].1), c(g.x.map(3.2) + 4.0));
        assert!(svg.contains(&bar), "{svg}");
        assert!(svg.contains(">CD = 1.00</text>"));
        assert!(svg.contains(">B (1.50)</text>") && svg.contains(">D (3.20)</text>"));
        assert_eq!(svg.matches("stroke-width=\"4\"").count(), 2);
    }

    #[test]
    fn cd_bar_larger_than_the_axis_is_drawn_to_scale() {
        // CD 2.34 with 3 methods: the scale reaches 3.34, the axis stops at 3
        let fig = cd_diagram("cd", &named(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]), 2.34);
        let g = cd_layout(&named(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]), 2.34);
        assert!(close(g.x.d1, 3.34));
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        assert!(svg.contains(&format!("x2=\"{}\" y2=\"26.00\"", c(g.x.r1))));
        assert_eq!(g.bars.len(), 1); // all within CD
        // no usable CD: methods only, and it says so
        let fig = cd_diagram("cd", &named(&[("a", 1.0), ("b", f64::NAN), ("c", 2.0)]), f64::INFINITY);
        assert_eq!(fig.omitted.len(), 2, "{:?}", fig.omitted);
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        assert!(!svg.contains("CD =") && !svg.contains("NaN") && !svg.contains("inf"));
        assert!(cd_diagram("cd", &named(&[("a", 1.0)]), 1.0).svg.is_none());
    }

    fn ci(label: &str, mean: f64, low: f64, high: f64, role: Role) -> CiRow {
        CiRow { label: label.into(), mean, low, high, role }
    }

    #[test]
    fn ci_plot_places_dots_and_whiskers_on_the_axis() {
        let rows = [
            ci("oracle (bound)", 0.5, 0.5, 0.5, Role::Reference),
            ci("maml", 1.0, 0.5032, 1.4968, Role::Best),
            ci("protonet †", 1.3333, 0.5348, 2.1319, Role::Method),
        ];
        let fig = ci_plot("ci", "mae (lower is better)", &rows);
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        // data 0.5..2.1319 -> ticks 0.5, 1.0, ..., 2.5 over PLOT_W px from the labels
        let t = nice_ticks(0.5, 2.1319, 6).unwrap_or_else(|| panic!("no ticks"));
        assert_eq!(t.values, vec![0.5, 1.0, 1.5, 2.0, 2.5]);
        for label in ["0.5", "1.0", "1.5", "2.0", "2.5"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}: {svg}");
        }
        let layout =
            Rows::new(&["oracle (bound)", "maml", "protonet †"], 0.5, 2.1319).unwrap_or_else(|| panic!("no layout"));
        let x = |v: f64| c(layout.label_w + (v - 0.5) / 2.0 * PLOT_W);
        // maml: dot at 1.0 in row 2, whisker 0.5032..1.4968, vermillion
        let dot = format!("<circle cx=\"{}\" cy=\"{}\" r=\"4.5\" fill=\"{COLOR_BEST}\"/>", x(1.0), c(layout.cy(1)));
        assert!(svg.contains(&dot), "{dot}\n{svg}");
        let y = c(layout.cy(1));
        assert!(svg.contains(&format!("x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"", x(0.5032), x(1.4968))));
        assert!(svg.contains(">mae (lower is better)</text>"));
        assert!(svg.contains("stroke-dasharray")); // the oracle
    }

    #[test]
    fn non_finite_elements_are_left_out_and_named() {
        let rows = [ci("a", 1.0, 0.5, 1.5, Role::Best), ci("b", f64::NAN, f64::NAN, f64::NAN, Role::Method)];
        let fig = ci_plot("ci", "x", &rows);
        assert_eq!(fig.omitted, vec!["b (mean or interval not finite)".to_owned()]);
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        assert!(svg.contains("not finite: not drawn") && !svg.contains("NaN"));
        let nothing = ci_plot("ci", "x", &rows[1..]);
        assert_eq!(nothing.svg, None);

        let boxes = [
            BoxRow { label: "a".into(), values: vec![1.0, f64::INFINITY, 2.0, 3.0], role: Role::Method },
            BoxRow { label: "b".into(), values: vec![f64::NAN, f64::NAN], role: Role::Method },
        ];
        let fig = box_plot("box", "x", &boxes);
        assert_eq!(
            fig.omitted,
            vec!["a (1 non-finite value left out)".to_owned(), "b (2 non-finite values left out)".to_owned()]
        );
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        assert!(svg.contains("no finite value: not drawn") && !svg.contains("inf") && !svg.contains("NaN"));
    }

    #[test]
    fn box_plot_draws_quartiles_whiskers_and_outliers() {
        let rows = [BoxRow { label: "m".into(), values: vec![10.0, 1.0, 4.0, 2.0, 3.0], role: Role::Method }];
        let fig = box_plot("box", "values", &rows);
        let svg = fig.svg.unwrap_or_default();
        parse(&svg);
        // ticks 0..10 by 2; q1 2, q3 4, median 3; outlier 10
        let layout = Rows::new(&["m"], 1.0, 10.0).unwrap_or_else(|| panic!("no layout"));
        assert_eq!(layout.ticks.values, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let x = |v: f64| layout.x.map(v);
        let y = layout.cy(0);
        assert!(svg.contains(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\"",
            c(x(2.0)),
            c(y - 7.0),
            c(x(4.0) - x(2.0))
        )));
        assert!(svg.contains(&format!("x1=\"{}\" y1=\"{}\" x2=\"{}\"", c(x(3.0)), c(y - 7.0), c(x(3.0)))));
        assert!(svg.contains(&format!("<circle cx=\"{}\" cy=\"{}\" r=\"2.6\" fill=\"none\"", c(x(10.0)), c(y))));
        assert_eq!(svg.matches("r=\"2.6\"").count(), 1);
    }

    #[test]
    fn text_is_escaped_and_long_labels_cut() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>\u{1}\u{FFFF}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;\u{FFFD}\u{FFFD}"
        );
        let hostile = "<script>alert(\"&\")</script>\u{0}";
        let fig = ci_plot(hostile, hostile, &[ci(hostile, 1.0, 0.0, 2.0, Role::Best)]);
        let svg = fig.svg.unwrap_or_default();
        let doc = parse(&svg);
        assert!(!svg.contains("<script"));
        let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains(&"<script>alert(\"&\")</script>\u{FFFD}"), "{texts:?}");
        let fig = cd_diagram(hostile, &[(hostile.to_owned(), 1.0), ("b".to_owned(), 2.0)], 1.0);
        parse(&fig.svg.unwrap_or_default());
        let long = "x".repeat(100);
        assert_eq!(label_text(&long).chars().count(), MAX_LABEL_CHARS);
        assert!(label_text(&long).ends_with('…'));
    }
}
