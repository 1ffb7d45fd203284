//! The HTML renderer: one self-contained HTML5 page. The style sheet is inline, figures are
//! inline SVG drawn by [`crate::plot`] from their specifications, numbered, with their
//! captions; there is no script, no link and no image. Levels 2 and 3 headings have ids and
//! are listed in the contents. All text is escaped ([`escape`]); a figure with nothing finite to
//! draw is replaced by a note, and what a figure leaves out is named in its caption.

use std::fmt::Write as _;

use crate::doc::Provenance;
use crate::doc::{Block, Cell, Document, Mark, RowStyle, Section, Table, spans};
use crate::plot::{draw, escape};

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

/// Prose: text escaped (quotes may stay in text), names in `<code>`.
fn prose(text: &str) -> String {
    spans(text)
        .into_iter()
        .map(
            |(is_code, s)| {
                if is_code { format!("<code>{}</code>", escape(s)) } else { escape(s).replace("&#39;", "'") }
            },
        )
        .collect()
}

/// A title whose last parenthesis (the metric's direction) is muted.
fn title(text: &str) -> String {
    match text.rfind(" (") {
        Some(i) if text.ends_with(')') && !text[i..].contains('\u{1}') => {
            format!("{} <span class=\"dir\">{}</span>", prose(&text[..i]), prose(&text[i + 1..]))
        }
        _ => prose(text),
    }
}

fn cell(c: &Cell) -> String {
    let (text, bold, mark, _) = c.parts();
    let text = if bold { format!("<strong>{}</strong>", escape(&text)) } else { escape(&text) };
    mark.iter().fold(text, |t, m| match m {
        Mark::Star => format!("{t}*"),
        m => format!("{t} <span class=\"mark\">{}</span>", m.symbol()),
    })
}

/// The body being written, with its contents and figure count.
#[derive(Default)]
struct Page {
    body: String,
    /// (level, id, heading HTML).
    toc: Vec<(u8, String, String)>,
    figures: usize,
}

impl Page {
    fn heading(&mut self, level: u8, html: String) {
        if level > 3 {
            let _ = writeln!(self.body, "<h{level}>{html}</h{level}>");
            return;
        }
        let id = format!("sec-{}", self.toc.len() + 1);
        let _ = writeln!(self.body, "<h{level} id=\"{id}\">{html}</h{level}>");
        self.toc.push((level, id, html));
    }

    fn table(&mut self, t: &Table) {
        if !t.title.is_empty() {
            self.heading(4, title(&t.title));
        }
        let num = |numeric: bool| if numeric { " class=\"num\"" } else { "" };
        self.body.push_str("<div style=\"overflow-x: auto\">\n<table>\n<thead><tr>");
        for c in &t.columns {
            let _ = write!(self.body, "<th{}>{}</th>", num(c.numeric), prose(&c.head));
        }
        self.body.push_str("</tr></thead>\n<tbody>\n");
        for r in &t.rows {
            let class = match r.style {
                RowStyle::Plain => "",
                RowStyle::Best => " class=\"best\"",
                RowStyle::Bound => " class=\"bound\"",
            };
            let _ = write!(self.body, "<tr{class}>");
            for (c, col) in r.cells.iter().zip(&t.columns) {
                let _ = write!(self.body, "<td{}>{}</td>", num(col.numeric), cell(c));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</tbody>\n</table>\n</div>\n");
        for n in &t.notes {
            let _ = writeln!(self.body, "<p class=\"note\">{}</p>", prose(n));
        }
    }

    fn figure(&mut self, f: &crate::doc::Figure) {
        let fig = draw(&f.plot);
        let mut caption = prose(&f.caption);
        if !fig.omitted.is_empty() {
            let list: Vec<String> = fig.omitted.iter().map(|o| escape(o)).collect();
            let _ = write!(caption, " Not drawn because not finite: {}.", list.join("; "));
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
                let _ = writeln!(
                    self.body,
                    "<p class=\"note\">No {} for {}: no finite value to draw.</p>",
                    escape(&f.what),
                    escape(&f.place)
                );
            }
        }
    }
}

impl Page {
    fn section(&mut self, s: &Section) {
        let _ = writeln!(self.body, "<section class=\"{}\">", escape(&s.class));
        if !s.title.is_empty() {
            self.heading(2, prose(&s.title));
        }
        for b in &s.blocks {
            match b {
                Block::Heading(level, t) => self.heading(*level, title(t)),
                Block::Paragraph(t) => {
                    let _ = writeln!(self.body, "<p>{}</p>", prose(t));
                }
                Block::Note(t) => {
                    let _ = writeln!(self.body, "<p class=\"note\">{}</p>", prose(t));
                }
                Block::List(items) => {
                    self.body.push_str("<ul>\n");
                    for i in items {
                        let _ = writeln!(self.body, "<li>{}</li>", prose(i));
                    }
                    self.body.push_str("</ul>\n");
                }
                Block::Table(t) => self.table(t),
                Block::Figure(f) => self.figure(f),
            }
        }
        self.body.push_str("</section>\n");
    }
}

/// One section as an HTML fragment (its figures numbered from 1).
pub fn section(s: &Section) -> String {
    let mut page = Page::default();
    page.section(s);
    page.body
}

/// `doc` as a self-contained HTML page.
pub fn render(doc: &Document) -> String {
    let mut page = Page::default();
    for s in &doc.sections {
        page.section(s);
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"metarec-reports\">\n\
         <title>{} · run {}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>{}</h1>\n<p class=\"lede\">{}</p>\n",
        escape(&doc.title),
        escape(doc.provenance.as_ref().map_or("", |p| p.run_id.as_str())),
        escape(&doc.title),
        prose(&doc.lede)
    );
    if let Some(p) = &doc.provenance {
        provenance(&mut out, p);
    }
    if !page.toc.is_empty() {
        out.push_str("<nav class=\"toc\">\n<h2>Contents</h2>\n<ul>\n");
        for (level, id, html) in &page.toc {
            let class = if *level > 2 { " class=\"sub\"" } else { "" };
            let _ = writeln!(out, "<li{class}><a href=\"#{id}\">{html}</a></li>");
        }
        out.push_str("</ul>\n</nav>\n");
    }
    out.push_str(&page.body);
    out.push_str(
        "<footer>Written by metarec-reports. Self-contained: styles and figures are inline, nothing \
         else is loaded.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}

/// The provenance block, data sorted by name.
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

#[cfg(test)]
mod tests {
    use crate::analysis::leaderboard::{LeaderboardOptions, MARK, MarkOptions};
    use crate::analysis::significance::Test;
    use crate::doc::Provenance;
    use crate::results::ResultRow;
    use crate::testing::{render_html, render_markdown_with};

    fn row(scenario: &str, method: &str, metric: &str, seed: u64, user: u64, value: f64) -> ResultRow {
        crate::testing::clean_row("ml", scenario, method, metric, seed, user, value)
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

    /// Texts of the cells of every row of the tables in the sections with class `class`.
    fn cells(html: &str, class: &str) -> Vec<Vec<String>> {
        let xml = as_xml(html);
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}"));
        let text = |n: roxmltree::Node| -> String {
            n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect()
        };
        doc.descendants()
            .filter(|n| n.has_tag_name("section") && n.attribute("class") == Some(class))
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
            let html_cells = cells(&html, "leaderboard");
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
        assert!(html.contains("<tr class=\"bound\"><td class=\"num\">—</td><td>oracle (bound)</td>"));
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
        let names: Vec<String> = cells(&html, "leaderboard").into_iter().map(|c| c[1].clone()).collect();
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
                "ASO needs at least 5 seeds per method to compare score distributions; good has 1".to_owned(),
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
            assert!(html.contains("<p>No results with perturbation <code>none</code>.</p>"));
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
        let board = cells(&html, "leaderboard");
        let broken = board.iter().find(|c| c[1] == "broken").unwrap_or_else(|| panic!("{board:?}"));
        assert_eq!(broken[2..5], ["n/a", "[n/a, n/a]", "0.0000"]); // one seed: seed sd 0
        // good's infinite user ranks it after the finite means, broken (NaN) last
        assert!(html.contains("n/a: not finite (a value of <code>good</code>, <code>broken</code> is NaN"));
        assert!(html.contains(
            "Not drawn because not finite: good (mean or interval not finite); broken (mean or interval not \
             finite)."
        ));
        assert!(html.contains("broken (1 non-finite value left out)"));
    }
}
