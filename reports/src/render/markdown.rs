//! The Markdown renderer: headings `#` to `####`, prose with names as code spans, pipe tables
//! (a titled table under a `####` heading, its notes as lines below it), lists. Figures are
//! left to the HTML report.

use std::fmt::Write as _;

use crate::doc::Provenance;
use crate::doc::{Block, Cell, Document, Mark, Section, Table, spans};

/// Escapes text for Markdown (also inside table cells): backslash before the
/// characters that could start emphasis, code, links, HTML, entities or a
/// cell boundary; control characters (line breaks) become spaces.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '!' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A name as a Markdown code span: a fence one backtick longer than any run of backticks in
/// it; control characters become spaces.
pub fn md_code(s: &str) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let (mut run, mut longest) = (0, 0);
    for c in clean.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if clean.starts_with('`') || clean.ends_with('`') || clean.is_empty() { " " } else { "" };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

/// Prose: our own text as it is (escaped with [`md`] in table heads, which name data), names
/// as code spans.
fn prose(text: &str, in_table: bool) -> String {
    let mut out = String::new();
    for (is_code, s) in spans(text) {
        out.push_str(&match (is_code, in_table) {
            (true, _) => md_code(s),
            (false, true) => md(s),
            (false, false) => s.to_owned(),
        });
    }
    out
}

fn cell(c: &Cell) -> String {
    let (text, bold, mark, name) = c.parts();
    let text = if name { md(&text) } else { text };
    let text = if bold { format!("**{text}**") } else { text };
    mark.iter().fold(text, |t, m| match m {
        Mark::Star => format!("{t}\\*"),
        m => format!("{t} {}", m.symbol()),
    })
}

fn table(out: &mut String, t: &Table) {
    if !t.title.is_empty() {
        let _ = writeln!(out, "\n#### {}", prose(&t.title, false));
    }
    let heads: Vec<String> = t.columns.iter().map(|c| prose(&c.head, true)).collect();
    let _ = writeln!(out, "\n| {} |", heads.join(" | "));
    let rule: Vec<&str> = t.columns.iter().map(|c| if c.numeric { "---:" } else { "---" }).collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for r in &t.rows {
        let cells: Vec<String> = r.cells.iter().map(cell).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if !t.notes.is_empty() {
        out.push('\n');
    }
    for n in &t.notes {
        let _ = writeln!(out, "{}", prose(n, false));
    }
}

/// `doc` as Markdown.
pub fn render(doc: &Document) -> String {
    let mut out = format!("# {}\n", doc.title);
    if let Some(p) = &doc.provenance {
        out.push('\n');
        provenance(&mut out, p);
    }
    if !doc.lede.is_empty() {
        let _ = writeln!(out, "\n{}", prose(&doc.lede, false));
    }
    for s in &doc.sections {
        section(&mut out, s);
    }
    out
}

/// The provenance as a list.
fn provenance(out: &mut String, p: &Provenance) {
    let dirty = if p.dirty { " (dirty)" } else { "" };
    let _ = writeln!(out, "- commit: `{}`{dirty}\n- config: `{}`\n- run: `{}`", p.commit, p.config_hash, p.run_id);
    let mut data: Vec<_> = p.data_hashes.iter().collect();
    data.sort();
    if data.is_empty() {
        out.push_str("- data: none\n");
    } else {
        out.push_str("- data (sha256):\n");
        for (name, hash) in data {
            let _ = writeln!(out, "  - {name}: `{hash}`");
        }
    }
}

/// One section, appended to `out`.
pub fn section(out: &mut String, s: &Section) {
    if !s.title.is_empty() {
        let _ = writeln!(out, "\n## {}", prose(&s.title, false));
    }
    for b in &s.blocks {
        match b {
            Block::Heading(level, t) => {
                let _ = writeln!(out, "\n{} {}", "#".repeat(usize::from(*level)), prose(t, false));
            }
            Block::Paragraph(t) | Block::Note(t) => {
                let _ = writeln!(out, "\n{}", prose(t, false));
            }
            Block::List(items) => {
                out.push('\n');
                for i in items {
                    let _ = writeln!(out, "- {}", prose(i, false));
                }
            }
            Block::Table(t) => table(out, t),
            Block::Figure(_) => {}
        }
    }
}
