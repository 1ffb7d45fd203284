//! Self-contained HTML report of a leaderboard: the tables of the Markdown
//! leaderboard ([`crate::leaderboard`]) with figures, as one HTML5 file.
//!
//! The file needs nothing else: the style sheet is inline, figures are inline
//! SVG ([`crate::svg`]), there is no script, no link and no image. It holds,
//! in order: the provenance; per (suite, scenario, metric) table, in
//! leaderboard order and with rows of perturbation `"none"` only, the ranked
//! table (same ranks, bold, "(bound)" and [`MARK`]s as the Markdown, from the
//! same code), a confidence-interval plot and a box plot of per-user values;
//! per metric with a rank summary, the average ranks and a critical
//! difference diagram with the Friedman test in its caption; and a
//! "Skipped" section listing what the significance analysis could not
//! compute and why, and which values were not shown because they are not
//! finite.
//!
//! All text is escaped; numbers have fixed decimals (4 in tables and
//! captions); a non-finite number is never printed (tables show "n/a" and say
//! why, figures leave the element out and say so). The output depends only
//! on the set of rows and is the same byte for byte on every call.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::leaderboard::{
    CI_NOTE, LeaderboardOptions, Line, MARK, MarkOptions, Provenance, Values, direction_label, mark_sentence, view,
};
use crate::metrics::direction;
use crate::results::ResultRow;
use crate::significance::{RankSummary, SignificanceOptions, Skipped, Table, analyze, group_rows, user_means};
use crate::svg::{self, BoxRow, CiRow, Figure, Role, escape, push_escaped};

/// The inline style sheet.
const STYLE: &str = "\
:root { color-scheme: light; }
body { margin: 0; background: #ffffff; color: #1a1a1a;
  font: 15px/1.5 \"Helvetica Neue\", Helvetica, Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 28px 32px 56px; }
h1 { font-size: 1.75rem; margin: 0 0 0.3em; }
h2 { font-size: 1.35rem; margin: 2.2em 0 0.6em; padding-bottom: 0.25em; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.15rem; margin: 1.8em 0 0.5em; }
h4 { font-size: 1rem; margin: 1.6em 0 0.4em; }
.dir { font-weight: normal; color: #57606a; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, \"Liberation Mono\", monospace; font-size: 0.9em; }
p.lede { color: #333333; max-width: 75em; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1.2em; margin: 0; }
dl.prov dt { font-weight: 600; }
dl.prov dd { margin: 0; overflow-wrap: anywhere; }
dl.prov ul { margin: 0; padding-left: 1.2em; }
.dirty { color: #b35900; font-weight: 600; }
nav.toc ul { margin: 0.3em 0; padding-left: 1.2em; }
nav.toc li.sub { margin-left: 1.4em; list-style: circle; }
table { border-collapse: collapse; margin: 0.5em 0 0.6em; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #e4e7eb; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #1a1a1a; font-weight: 600; }
.num { text-align: right; white-space: nowrap; }
tr.bound td { color: #666666; font-style: italic; }
tr.best td { background: #fdf1e8; }
.mark { color: #D55E00; font-weight: 600; }
p.note { font-size: 0.87rem; color: #444444; margin: 0.25em 0; max-width: 75em; }
figure { margin: 1.2em 0 1.6em; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 0.87rem; color: #333333; margin-top: 0.4em; max-width: 75em; }
.fig-no { font-weight: 600; }
.empty { font-style: italic; color: #444444; }
footer { margin-top: 3em; padding-top: 0.6em; border-top: 1px solid #e4e7eb; font-size: 0.8rem; color: #666666; }
@media print {
  main { max-width: none; padding: 0; }
  figure, table { break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; }
}
";

/// Sentinels around method names in sentences of [`mark_sentence`], turned
/// into `<code>` tags after escaping (names have their control characters
/// replaced first, so only these are sentinels).
const CODE_OPEN: char = '\u{1}';
const CODE_CLOSE: char = '\u{2}';

/// Renders the leaderboard of `rows` as a self-contained HTML5 document (see
/// the module docs).
///
/// Tables and marks are those of
/// [`render_markdown_with`](crate::leaderboard::render_markdown_with) with
/// the same `opts` and `marks`. The rank summaries and the "Skipped" section
/// come from [`analyze`] with the leaderboard's options: its reference
/// methods, `marks.test` as the only test, at least 2 common users,
/// `marks.seed` and `marks.alpha`. With `marks.rank_summary` false there are
/// no rank summaries (and their skipped entries are not listed).
pub fn render_html(rows: &[ResultRow], prov: &Provenance, opts: &LeaderboardOptions, marks: &MarkOptions) -> String {
    render_html_with(rows, prov, opts, marks, &[])
}

/// As [`render_html`], with more skipped entries for the "Skipped" section: those of the
/// analysis behind `significance.csv` (every test, ASO among them), so the report says why a
/// test is missing there too. Entries equal to one already listed are not repeated.
pub fn render_html_with(
    rows: &[ResultRow],
    prov: &Provenance,
    opts: &LeaderboardOptions,
    marks: &MarkOptions,
    also_skipped: &[Skipped],
) -> String {
    let cells = group_rows(rows);
    let sig = SignificanceOptions {
        reference_methods: opts.reference_methods.clone(),
        tests: marks.test.into_iter().collect(),
        min_users: 2,
        seed: marks.seed,
        alpha: marks.alpha,
    };
    let mut analysis = analyze(rows, &sig);
    for s in also_skipped {
        if !analysis.skipped.contains(s) {
            analysis.skipped.push(s.clone());
        }
    }
    let mut r = Report::default();
    for (suite, scenarios) in &cells {
        r.heading(2, "suite", &format!("Suite <code>{}</code>", escape(suite)));
        for ((_, scenario), metrics) in scenarios {
            r.heading(3, "scenario", &format!("{} / {}", escape(suite), escape(scenario)));
            for ((_, metric), methods) in metrics {
                r.table(&Table { suite, scenario, metric }, methods, opts, marks);
            }
        }
    }
    let skipped: Vec<&Skipped> =
        analysis.skipped.iter().filter(|s| marks.rank_summary || !s.suite.is_empty()).collect();
    if marks.rank_summary && !analysis.ranks.is_empty() {
        r.heading(2, "ranks", "Average ranks across tables");
        for rank in &analysis.ranks {
            r.rank_summary(rank, &skipped);
        }
    }
    if !skipped.is_empty() || !r.not_shown.is_empty() {
        r.heading(2, "skipped", "Skipped");
        r.skipped(&skipped);
    }
    document(prov, &r, cells.is_empty())
}

/// The body of the report, built in order, with its table of contents.
#[derive(Default)]
struct Report {
    body: String,
    /// (heading level, id, heading HTML).
    toc: Vec<(u8, String, String)>,
    /// Figures numbered so far.
    figures: usize,
    /// Elements not shown because a value is not finite: (where, what).
    not_shown: Vec<(String, String)>,
}

impl Report {
    /// Writes a heading with a fresh id; levels 2 and 3 go into the contents.
    fn heading(&mut self, level: u8, class: &str, html: &str) {
        let id = format!("sec-{}", self.toc.len() + 1);
        let _ = writeln!(self.body, "<h{level} id=\"{id}\" class=\"{class}\">{html}</h{level}>");
        self.toc.push((level, id, html.to_owned()));
    }

    /// One leaderboard table with its notes and figures.
    fn table(&mut self, t: &Table, methods: &BTreeMap<&str, Values>, opts: &LeaderboardOptions, marks: &MarkOptions) {
        let v = view(t, methods, opts, marks);
        let label = direction_label(v.dir);
        let place = format!("{} / {} / {}", t.suite, t.scenario, t.metric);
        let _ = writeln!(self.body, "<h4>{} <span class=\"dir\">({label})</span></h4>", escape(t.metric));
        self.body.push_str(
            "<table class=\"board\">\n<thead><tr><th class=\"num\">Rank</th><th>Method</th>\
             <th class=\"num\">Mean</th><th class=\"num\">95% CI</th><th class=\"num\">Seed sd</th>\
             <th class=\"num\">Users</th></tr></thead>\n<tbody>\n",
        );
        let mut not_finite = Vec::new();
        for l in &v.lines {
            let s = &l.summary;
            if ![s.mean, s.ci_low, s.ci_high, s.seed_sd].iter().all(|x| x.is_finite()) {
                not_finite.push(l.method);
            }
            let class = if l.bound {
                " class=\"bound\""
            } else if l.rank == Some(1) {
                " class=\"best\""
            } else {
                ""
            };
            let rank = l.rank.map_or_else(|| "—".to_owned(), |r| r.to_string());
            let bound = if l.bound { " <span class=\"tag\">(bound)</span>" } else { "" };
            let mark = if l.marked { format!(" <span class=\"mark\">{MARK}</span>") } else { String::new() };
            let mean = if l.rank == Some(1) { format!("<strong>{}</strong>", num(s.mean)) } else { num(s.mean) };
            let _ = writeln!(
                self.body,
                "<tr{class}><td class=\"num\">{rank}</td><td>{}{bound}{mark}</td><td class=\"num\">{mean}</td>\
                 <td class=\"num\">[{}, {}]</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(l.method),
                num(s.ci_low),
                num(s.ci_high),
                num(s.seed_sd),
                s.n_units
            );
        }
        self.body.push_str("</tbody>\n</table>\n");
        let mut notes = vec![format!(
            "{} Seed sd: standard deviation over seeds of the per-seed means. Users: users with a value.",
            escape(CI_NOTE)
        )];
        if v.dir.is_none() {
            notes.push(format!(
                "Direction of <code>{}</code> is unknown: methods are listed by name, not ranked.",
                escape(t.metric)
            ));
        } else {
            notes.push("The best ranked mean is bold.".to_owned());
        }
        if v.lines.iter().any(|l| l.bound) {
            notes.push("(bound): a reference method, shown for scale but not ranked.".to_owned());
        }
        if !not_finite.is_empty() {
            let names: Vec<String> = not_finite.iter().map(|m| format!("<code>{}</code>", escape(m))).collect();
            notes.push(format!("n/a: not finite (a value of {} is NaN or infinite), so not shown.", names.join(", ")));
            for m in not_finite {
                self.not_shown.push((place.clone(), format!("table: {m} (mean, interval or seed sd not finite)")));
            }
        }
        if let Some(note) = &v.note {
            notes.push(sentence_html(&mark_sentence(note, &v, code_marked)));
            for s in &note.skipped {
                notes.push(format!("Not tested: {} ({}).", escape(&s.what), escape(&s.reason)));
            }
        }
        for n in notes {
            let _ = writeln!(self.body, "<p class=\"note\">{n}</p>");
        }

        let axis = format!("{} ({label})", t.metric);
        let title = format!("{} / {}, {}", t.suite, t.scenario, t.metric);
        let ci_rows: Vec<CiRow> = v
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
        let fig = svg::ci_plot(&format!("{title}: mean and 95% CI per method"), &axis, &ci_rows);
        let n = self.figures + 1;
        let caption = format!(
            "{}: mean over users (dot) and 95% t-interval over users (whisker) of each method, \
             values averaged over seeds per user; in table order. Vermillion: the best ranked \
             method; grey, dashed: reference methods (bound); {MARK}: differs significantly from \
             the best (see the table's note).",
            escape(&title)
        );
        self.figure(fig, &caption, &place, "CI plot");
        let box_rows: Vec<BoxRow> = v
            .lines
            .iter()
            .map(|l| BoxRow {
                label: line_label(l),
                values: methods.get(l.method).map(|vals| user_means(vals).into_values().collect()).unwrap_or_default(),
                role: role(l),
            })
            .collect();
        let fig = svg::box_plot(&format!("{title}: per-user values per method"), &axis, &box_rows);
        let caption = format!(
            "{}: distribution over users of each method's per-user value (averaged over seeds \
             per user). Box: first to third quartile (linear interpolation between order \
             statistics, numpy's default); thick line: median; whiskers: the most extreme values \
             within 1.5 IQR of the box (Tukey); circles: values beyond. Colours as in Figure {n}.",
            escape(&title)
        );
        self.figure(fig, &caption, &place, "box plot");
    }

    /// A numbered figure with its caption, or a note when nothing could be drawn.
    fn figure(&mut self, fig: Figure, caption: &str, place: &str, what: &str) {
        let mut caption = caption.to_owned();
        if !fig.omitted.is_empty() {
            let list: Vec<String> = fig.omitted.iter().map(|o| escape(o)).collect();
            let _ = write!(caption, " Not drawn because not finite: {}.", list.join("; "));
        }
        for o in &fig.omitted {
            self.not_shown.push((place.to_owned(), format!("{what}: {o}")));
        }
        match fig.svg {
            Some(svg) => {
                self.figures += 1;
                let _ = writeln!(
                    self.body,
                    "<figure>\n{svg}\n<figcaption><span class=\"fig-no\">Figure {}.</span> {caption}</figcaption>\n\
                     </figure>",
                    self.figures
                );
            }
            None => {
                let _ = writeln!(self.body, "<p class=\"note\">No {what}: no finite value to draw.</p>");
                self.not_shown.push((place.to_owned(), format!("{what} (no finite value to draw)")));
            }
        }
    }

    /// Average ranks of one metric with its critical difference diagram.
    fn rank_summary(&mut self, r: &RankSummary, skipped: &[&Skipped]) {
        let label = direction_label(direction(&r.metric));
        let _ = writeln!(self.body, "<h3>{} <span class=\"dir\">({label})</span></h3>", escape(&r.metric));
        self.body.push_str(
            "<table class=\"ranks\">\n<thead><tr><th>Method</th><th class=\"num\">Average rank</th></tr></thead>\n\
             <tbody>\n",
        );
        for (m, rank) in &r.average_ranks {
            let _ = writeln!(self.body, "<tr><td>{}</td><td class=\"num\">{}</td></tr>", escape(m), num(*rank));
        }
        self.body.push_str("</tbody>\n</table>\n");
        let blocks: Vec<String> = r.blocks.iter().map(|(s, c)| escape(&format!("{s} / {c}"))).collect();
        let n_blocks = r.blocks.len();
        let _ = writeln!(
            self.body,
            "<p class=\"note\">Ranked by mean within each of the {n_blocks} tables ({}); rank 1 = best, ties \
             averaged.</p>",
            blocks.join(", ")
        );
        let k = r.average_ranks.len();
        let friedman = match r.friedman {
            Some((chi2, p)) if chi2.is_finite() && p.is_finite() => {
                let p = if p < 0.0001 { "p &lt; 0.0001".to_owned() } else { format!("p = {p:.4}") };
                format!("Friedman test: chi-square = {} (df {}), {p}.", num(chi2), k.saturating_sub(1))
            }
            Some(_) => "Friedman test: not shown (not finite).".to_owned(),
            None => {
                let why = skipped
                    .iter()
                    .find(|s| s.suite.is_empty() && s.metric == r.metric && s.what == "Friedman test")
                    .map_or_else(String::new, |s| escape(&s.reason));
                format!("Friedman test: not computed ({why}).")
            }
        };
        let cd = r.critical_difference;
        let cd_text = if cd.is_finite() { num(cd) } else { "n/a (not finite)".to_owned() };
        let title = format!("Critical difference diagram of {}", r.metric);
        let fig = svg::cd_diagram(&title, &r.average_ranks, cd);
        let caption = format!(
            "Critical difference diagram of <code>{}</code> over the {n_blocks} (suite, scenario) tables \
             (Demsar 2006): each method at its average rank, rank 1 (best) on the left. Methods joined by a \
             thick bar have average ranks at most the Nemenyi critical difference CD = {cd_text} apart \
             (alpha = {}; the bar at the top is CD drawn to scale), so they do not differ significantly; \
             the bars are the maximal such groups, as in Orange. {friedman}",
            escape(&r.metric),
            r.alpha
        );
        self.figure(fig, &caption, &format!("{} (rank summary)", r.metric), "critical difference diagram");
        for s in skipped.iter().filter(|s| s.suite.is_empty() && s.metric == r.metric) {
            if let Some(m) = s.what.strip_prefix("rank summary: ") {
                let _ = writeln!(self.body, "<p class=\"note\">Not ranked: {} ({}).</p>", escape(m), escape(&s.reason));
            }
        }
    }

    /// The "Skipped" section.
    fn skipped(&mut self, skipped: &[&Skipped]) {
        if !skipped.is_empty() {
            self.body.push_str(
                "<p class=\"note\">Comparisons, tests and summaries of the significance analysis that \
                 were not computed, and why.</p>\n<table class=\"skipped\">\n<thead><tr><th>Where</th>\
                 <th>What</th><th>Why</th></tr></thead>\n<tbody>\n",
            );
            for s in skipped {
                let place = if s.suite.is_empty() {
                    format!("{} (rank summary across tables)", s.metric)
                } else {
                    format!("{} / {} / {}", s.suite, s.scenario, s.metric)
                };
                let _ = writeln!(
                    self.body,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&place),
                    escape(&s.what),
                    escape(&s.reason)
                );
            }
            self.body.push_str("</tbody>\n</table>\n");
        }
        if !self.not_shown.is_empty() {
            self.body.push_str(
                "<p class=\"note\">Values not shown because they are not finite (NaN or infinite).</p>\n\
                 <table class=\"not-shown\">\n<thead><tr><th>Where</th><th>What</th></tr></thead>\n<tbody>\n",
            );
            for (place, what) in &self.not_shown {
                let _ = writeln!(self.body, "<tr><td>{}</td><td>{}</td></tr>", escape(place), escape(what));
            }
            self.body.push_str("</tbody>\n</table>\n");
        }
    }
}

/// The whole document around the report's body.
fn document(prov: &Provenance, r: &Report, empty: bool) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"metarec-reports\">\n\
         <title>metarec leaderboard · run {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>metarec leaderboard</h1>\n",
        escape(&prov.run_id)
    );
    out.push_str(
        "<p class=\"lede\">One table per suite, scenario and metric (rows with perturbation \
         <code>none</code>), methods best first by the metric's direction. Each table is followed by \
         a plot of means with 95% confidence intervals and a box plot of per-user values; the \
         rank summary compares methods across tables.</p>\n",
    );
    provenance(&mut out, prov);
    if empty {
        out.push_str(
            "<p class=\"empty\">No results with perturbation <code>none</code>: there is nothing to show.</p>\n",
        );
    } else {
        out.push_str("<nav class=\"toc\">\n<h2>Contents</h2>\n<ul>\n");
        for (level, id, html) in &r.toc {
            let class = if *level > 2 { " class=\"sub\"" } else { "" };
            let _ = writeln!(out, "<li{class}><a href=\"#{id}\">{html}</a></li>");
        }
        out.push_str("</ul>\n</nav>\n");
    }
    out.push_str(&r.body);
    out.push_str(
        "<footer>Written by metarec-reports. Self-contained: styles and figures are inline, nothing \
         else is loaded.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// The provenance block: the facts `render_markdown` prints, data sorted by name.
fn provenance(out: &mut String, prov: &Provenance) {
    let dirty = if prov.dirty { " <span class=\"dirty\">(dirty: uncommitted changes)</span>" } else { " (clean)" };
    let _ = write!(
        out,
        "<section class=\"provenance\">\n<h2>Provenance</h2>\n<dl class=\"prov\">\n\
         <dt>commit</dt><dd><code>{}</code>{dirty}</dd>\n\
         <dt>config</dt><dd><code>{}</code></dd>\n\
         <dt>run</dt><dd><code>{}</code></dd>\n<dt>data (sha256)</dt><dd>",
        escape(&prov.commit),
        escape(&prov.config_hash),
        escape(&prov.run_id)
    );
    let mut data: Vec<_> = prov.data_hashes.iter().collect();
    data.sort();
    if data.is_empty() {
        out.push_str("none");
    } else {
        out.push_str("<ul>");
        for (name, hash) in data {
            let _ = write!(out, "<li>{}: <code>{}</code></li>", escape(name), escape(hash));
        }
        out.push_str("</ul>");
    }
    out.push_str("</dd>\n</dl>\n</section>\n");
}

/// Method label in figures: name, "(bound)", [`MARK`], as in the table.
fn line_label(l: &Line) -> String {
    let bound = if l.bound { " (bound)" } else { "" };
    let mark = if l.marked { format!(" {MARK}") } else { String::new() };
    format!("{}{bound}{mark}", l.method)
}

fn role(l: &Line) -> Role {
    if l.bound {
        Role::Reference
    } else if l.rank == Some(1) {
        Role::Best
    } else {
        Role::Method
    }
}

/// A number with 4 decimals, or "n/a" when not finite.
fn num(x: f64) -> String {
    if x.is_finite() { format!("{x:.4}") } else { "n/a".to_owned() }
}

/// A method name between the code sentinels, its other control characters
/// replaced as [`escape`] would.
fn code_marked(m: &str) -> String {
    let clean: String =
        m.chars().map(|c| if c.is_control() && !matches!(c, '\t' | '\n' | '\r') { '\u{FFFD}' } else { c }).collect();
    format!("{CODE_OPEN}{clean}{CODE_CLOSE}")
}

/// Escapes a sentence, turning the code sentinels into `<code>` tags.
fn sentence_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            CODE_OPEN => out.push_str("<code>"),
            CODE_CLOSE => out.push_str("</code>"),
            c => push_escaped(&mut out, c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaderboard::render_markdown_with;
    use crate::significance::Test;

    fn row(scenario: &str, method: &str, metric: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        ResultRow {
            suite: "ml".into(),
            scenario: scenario.into(),
            method: method.into(),
            seed,
            perturbation: "none".into(),
            user,
            metric: metric.into(),
            value,
        }
    }

    fn prov() -> Provenance {
        Provenance {
            commit: "abc1234".into(),
            dirty: true,
            config_hash: "cfg9".into(),
            data_hashes: vec![("netflix".into(), "9f86".into()), ("movielens-1m".into(), "e3b0".into())],
            run_id: "run-7".into(),
        }
    }

    fn oracle() -> LeaderboardOptions {
        LeaderboardOptions { reference_methods: vec!["oracle".into()], ..Default::default() }
    }

    /// 12 users, `seeds` seeds: `good` < `mixed` < `bad` in mae, plus the oracle
    /// (as in the leaderboard's tests; Wilcoxon marks `bad` only).
    fn marked_rows(scenario: &str, seeds: u64) -> Vec<ResultRow> {
        let mut rows = Vec::new();
        for seed in 1..=seeds {
            for u in 1..=12u64 {
                let good = 0.5 + 0.01 * u as f64 + 0.001 * seed as f64;
                let bad = good + 0.1 + 0.001 * u as f64;
                let step = 0.02 + 0.001 * u as f64;
                let mixed = if u % 2 == 0 { good + step } else { good - step + 0.001 };
                for (m, v) in [("good", good), ("bad", bad), ("mixed", mixed), ("oracle", 0.0)] {
                    rows.push(row(scenario, m, "mae", seed, u, v));
                }
            }
        }
        rows
    }

    /// Two scenarios, so there is a rank summary; nothing is skipped.
    fn two_tables() -> Vec<ResultRow> {
        [marked_rows("warm", 2), marked_rows("user-cold", 2)].concat()
    }

    fn render(rows: &[ResultRow]) -> String {
        render_html(rows, &prov(), &oracle(), &MarkOptions::default())
    }

    /// The document as XML: the HTML void `<meta>` elements and the doctype
    /// are the only parts that are not also well-formed XML.
    fn as_xml(html: &str) -> String {
        let body = html.strip_prefix("<!DOCTYPE html>\n").unwrap_or_else(|| panic!("no doctype"));
        body.lines().filter(|l| !l.starts_with("<meta ")).collect::<Vec<_>>().join("\n")
    }

    /// Parses the whole document (as XML) and every `<svg>` fragment on its own.
    fn check_well_formed(html: &str) -> usize {
        let xml = as_xml(html);
        if let Err(e) = roxmltree::Document::parse(&xml) {
            panic!("document is not well-formed: {e}\n{xml}");
        }
        let mut n = 0;
        for (start, _) in html.match_indices("<svg ") {
            let end = html[start..].find("</svg>").map(|e| start + e + "</svg>".len());
            let fragment = &html[start..end.unwrap_or_else(|| panic!("unclosed svg"))];
            let doc = roxmltree::Document::parse(fragment).unwrap_or_else(|e| panic!("bad svg ({e}): {fragment}"));
            assert_eq!(doc.root_element().tag_name().namespace(), Some("http://www.w3.org/2000/svg"));
            n += 1;
        }
        n
    }

    /// Texts of the cells of every row of the tables with class `class`.
    fn cells(html: &str, class: &str) -> Vec<Vec<String>> {
        let xml = as_xml(html);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
        let text = |n: roxmltree::Node| -> String {
            n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect()
        };
        doc.descendants()
            .filter(|n| n.has_tag_name("table") && n.attribute("class") == Some(class))
            .flat_map(|t| t.descendants().filter(|n| n.has_tag_name("tr")).collect::<Vec<_>>())
            .filter(|tr| tr.children().any(|c| c.has_tag_name("td")))
            .map(|tr| tr.children().filter(|c| c.has_tag_name("td")).map(text).collect())
            .collect()
    }

    #[test]
    fn document_is_complete_self_contained_and_well_formed() {
        let html = render(&two_tables());
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"));
        assert!(html.contains("<title>metarec leaderboard · run run-7</title>"));
        assert!(html.contains("<style>\n") && html.ends_with("</html>\n"));
        // 2 tables x (CI plot + box plot) + 1 critical difference diagram
        assert_eq!(check_well_formed(&html), 5);
        assert_eq!(html.matches("<figcaption>").count(), 5);
        assert!(html.contains("<span class=\"fig-no\">Figure 5.</span> Critical difference diagram"));
        // nothing external: the only URL is the SVG namespace, there is no script
        let xmlns = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
        assert_eq!(xmlns, 5);
        assert_eq!(html.matches("http://").count(), xmlns);
        assert_eq!(html.matches("https://").count(), 0);
        for bad in ["<script", "<link", "<img", "src=", "url(", "@import"] {
            assert!(!html.contains(bad), "{bad}");
        }
        // provenance: the facts of the Markdown, data sorted by name
        assert!(html.contains("<dt>commit</dt><dd><code>abc1234</code> <span class=\"dirty\">(dirty"));
        assert!(html.contains("<dt>config</dt><dd><code>cfg9</code></dd>"));
        assert!(html.contains("<dt>run</dt><dd><code>run-7</code></dd>"));
        assert!(html.contains("<li>movielens-1m: <code>e3b0</code></li><li>netflix: <code>9f86</code></li>"));
        // nothing skipped: no Skipped section
        assert!(!html.contains(">Skipped</h2>"), "{html}");
    }

    #[test]
    fn tables_and_marks_agree_with_the_markdown() {
        for test in [Some(Test::Wilcoxon), Some(Test::TTest), None] {
            let marks = MarkOptions { test, ..MarkOptions::default() };
            let rows = two_tables();
            let html = render_html(&rows, &prov(), &oracle(), &marks);
            let md = render_markdown_with(&rows, &prov(), &oracle(), &marks);
            let md_cells: Vec<Vec<String>> = md
                .lines()
                .filter(|l| l.starts_with("| ") && l.matches(" | ").count() == 5 && !l.starts_with("| rank "))
                .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().replace("**", "")).collect())
                .collect();
            let html_cells = cells(&html, "board");
            assert_eq!(html_cells.len(), 8);
            assert_eq!(html_cells, md_cells, "{test:?}");
            if test.is_some() {
                assert!(html_cells.iter().any(|c| c[1] == format!("bad {MARK}")), "{html_cells:?}");
                assert!(html.contains("<td class=\"num\"><strong>"));
            }
            let md_ranks: Vec<Vec<String>> = md
                .lines()
                .filter(|l| l.starts_with("| ") && l.matches(" | ").count() == 1 && !l.starts_with("| method "))
                .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_owned()).collect())
                .collect();
            assert_eq!(cells(&html, "ranks"), md_ranks);
        }
        let html = render(&two_tables());
        assert!(html.contains("<tr class=\"bound\"><td class=\"num\">—</td><td>oracle <span class=\"tag\">(bound)"));
        assert!(html.contains(
            "<p class=\"note\">†: differs significantly from the best method (<code>good</code>), Holm-adjusted p &lt; 0.05"
        ));
    }

    #[test]
    fn rank_summary_has_a_critical_difference_diagram() {
        // good < mixed < bad in both blocks: friedmanchisquare -> 4.0, p 0.1353;
        // CD = 2.3437 (see the leaderboard's rank_summary_section test)
        let html = render(&two_tables());
        let section = html.split(">Average ranks across tables</h2>").nth(1).unwrap_or_default();
        assert!(section.contains("CD = 2.34</text>"), "{section}");
        assert!(section.contains("Nemenyi critical difference CD = 2.3437 apart (alpha = 0.05;"));
        assert!(section.contains("Friedman test: chi-square = 4.0000 (df 2), p = 0.1353.</figcaption>"));
        assert!(section.contains(">good (1.00)</text>") && section.contains(">bad (3.00)</text>"));
        // all three within CD of each other: one bar
        assert_eq!(section.matches("stroke-width=\"4\"").count(), 1);
    }

    #[test]
    fn hostile_names_are_escaped() {
        let hostile = "<b>x</b>&\"q\"'\u{7}";
        let rows: Vec<ResultRow> = two_tables()
            .into_iter()
            .map(|mut r| {
                if r.method == "bad" {
                    r.method = hostile.into();
                }
                r.scenario = format!("{}<i>", r.scenario);
                r
            })
            .collect();
        let mut p = prov();
        p.commit = "<script>alert(1)</script>".into();
        p.data_hashes.push(("a&b".into(), "\"h\"".into()));
        let html = render_html(&rows, &p, &oracle(), &MarkOptions::default());
        check_well_formed(&html);
        for raw in ["<b>", "<i>", "<script>", "\u{7}"] {
            assert!(!html.contains(raw), "{raw} unescaped");
        }
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;&amp;&quot;q&quot;&#39;\u{FFFD}"));
        assert!(html.contains("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"));
        assert!(html.contains("<li>a&amp;b: <code>&quot;h&quot;</code></li>"));
        // the name in the table reads back exactly (control character replaced)
        let names: Vec<String> = cells(&html, "board").into_iter().map(|c| c[1].clone()).collect();
        assert!(names.contains(&format!("<b>x</b>&\"q\"'\u{FFFD} {MARK}")), "{names:?}");
    }

    #[test]
    fn output_is_deterministic_and_ignores_row_order() {
        let rows = [two_tables(), vec![row("warm", "solo", "loss", 1, 1, 0.5)]].concat();
        let first = render(&rows);
        assert_eq!(render(&rows), first);
        let n = rows.len();
        // permutation i -> 7i mod n (7 is prime and does not divide n = 193), then reversed
        assert_ne!(n % 7, 0);
        let mut shuffled: Vec<ResultRow> = (0..n).map(|i| rows[i * 7 % n].clone()).collect();
        assert_ne!(shuffled, rows);
        assert_eq!(render(&shuffled), first);
        shuffled.reverse();
        assert_eq!(render(&shuffled), first);
        // perturbed rows are ignored
        let mut perturbed = row("warm", "good", "mae", 1, 1, 100.0);
        perturbed.perturbation = "noise-0.1".into();
        assert_eq!(render(&[rows, vec![perturbed]].concat()), first);
    }

    #[test]
    fn skipped_section_says_what_and_why() {
        // one seed: ASO cannot run; `late` has a single user in common with the best
        let mut rows = marked_rows("warm", 1);
        rows.push(row("warm", "late", "mae", 1, 1, 0.9));
        let aso = MarkOptions { test: Some(Test::Aso), ..MarkOptions::default() };
        let html = render_html(&rows, &prov(), &oracle(), &aso);
        check_well_formed(&html);
        assert!(html.contains(">Skipped</h2>"), "no Skipped section: {html}");
        let skipped = cells(&html, "skipped");
        assert!(
            skipped.contains(&vec![
                "ml / warm / mae".to_owned(),
                "aso: good vs mixed".to_owned(),
                "ASO needs at least 2 per-seed scores for each method; A has 1".to_owned(),
            ]),
            "{skipped:?}"
        );
        assert!(
            skipped.contains(&vec![
                "ml / warm / mae".to_owned(),
                "good vs late".to_owned(),
                "1 user(s) present for both methods, fewer than 2".to_owned(),
            ]),
            "{skipped:?}"
        );
        // a single table: the rank summary is skipped, and says why
        assert!(skipped.contains(&vec![
            "mae (rank summary across tables)".to_owned(),
            "rank summary".to_owned(),
            "only 1 (suite, scenario) block has this metric".to_owned(),
        ]));
        // the table's own note says it too
        assert!(html.contains("<p class=\"note\">Not tested: good vs late (1 user(s) present for both methods"));
        assert!(html.contains("<a href=\"#sec-3\">Skipped</a>"), "{html}");
    }

    #[test]
    fn empty_input_says_there_is_nothing_to_show() {
        for rows in [Vec::new(), {
            let mut r = row("warm", "a", "mae", 1, 1, 0.5);
            r.perturbation = "drop".into();
            vec![r]
        }] {
            let html = render(&rows);
            assert_eq!(check_well_formed(&html), 0);
            assert!(html.contains("No results with perturbation <code>none</code>: there is nothing to show."));
            assert!(!html.contains("<table") && !html.contains("<nav"));
            assert!(html.contains("<h2>Provenance</h2>"));
        }
    }

    #[test]
    fn non_finite_values_are_never_printed() {
        let mut rows = two_tables();
        rows.push(row("warm", "broken", "mae", 1, 1, f64::NAN));
        rows.push(row("warm", "broken", "mae", 1, 2, 0.7));
        rows.push(row("warm", "good", "mae", 1, 99, f64::INFINITY));
        let html = render(&rows);
        check_well_formed(&html);
        // No number is printed as NaN or inf: everything but the reasons quoted
        // from the analysis ("Not tested" notes and the Skipped section, e.g.
        // "value NaN at index 0 is not finite") is free of them, apart from the
        // words of the note on "n/a" and "Provenance".
        let shown: String = html
            .split(">Skipped</h2>")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("<p class=\"note\">Not tested: "))
            .collect::<Vec<_>>()
            .join("\n")
            .replace("is NaN or infinite", "")
            .replace("rovenance", "");
        for bad in ["NaN", "nan", "inf"] {
            let lines: Vec<&str> = shown.lines().filter(|l| l.contains(bad)).collect();
            assert!(lines.is_empty(), "{bad} printed: {lines:?}");
        }
        let board = cells(&html, "board");
        let broken = board.iter().find(|c| c[1] == "broken").unwrap_or_else(|| panic!("{board:?}"));
        assert_eq!(broken[2..5], ["n/a", "[n/a, n/a]", "0.0000"]); // one seed: seed sd 0
        // good's infinite user ranks it after the finite means, broken (NaN) last
        assert!(html.contains("n/a: not finite (a value of <code>good</code>, <code>broken</code> is NaN"));
        assert!(html.contains(
            "Not drawn because not finite: good (mean or interval not finite); broken (mean or interval not \
             finite)."
        ));
        assert!(html.contains("broken (1 non-finite value left out)"));
        let not_shown = cells(&html, "not-shown");
        assert!(
            not_shown.contains(&vec![
                "ml / warm / mae".to_owned(),
                "table: broken (mean, interval or seed sd not finite)".to_owned()
            ]),
            "{not_shown:?}"
        );
    }
}
