//! The LaTeX renderer: an `article` needing only `fontenc` (T1), `booktabs` and `longtable`.
//! Sections are `\section*`, headings `\subsection*` and `\subsubsection*`; every table is a
//! `longtable` (it breaks across pages, and floats never pile up) whose caption is the table's
//! title and notes; a table wider than the text is split into several tables that repeat its
//! first column. Figures are left to the HTML report. All text goes through [`tex`].

use std::fmt::Write as _;

use crate::doc::Provenance;
use crate::doc::{Block, Cell, Document, Mark, Section, Table, spans};

/// Estimated characters across the text width in the tables' font (`\footnotesize`).
const WIDTH: usize = 84;
/// Estimated characters taken by the space between two columns.
const GAP: usize = 2;

/// Escapes text for LaTeX with the T1 font encoding: the special characters
/// `\ & % $ # _ { } ~ ^` and `< > | "` and backtick, `--` kept from
/// becoming a dash; the symbols of the document model (`≤ ± − — † ‡`) as LaTeX;
/// control characters become spaces (so a name cannot end a
/// paragraph inside a caption), and characters outside ASCII other than
/// Latin-1 letters become `?` (pdflatex has no glyph for most of them).
pub fn tex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '<' => out.push_str("$<$"),
            '>' => out.push_str("$>$"),
            '|' => out.push_str("\\textbar{}"),
            '"' => out.push_str("\\textquotedbl{}"),
            '`' => out.push_str("\\textasciigrave{}"),
            '-' if chars.peek() == Some(&'-') => out.push_str("-{}"),
            '≤' => out.push_str("$\\le$"),
            '±' => out.push_str("$\\pm$"),
            '−' => out.push_str("$-$"),
            '—' => out.push_str("--"),
            '†' => out.push_str("$^\\dagger$"),
            '‡' => out.push_str("$^\\ddagger$"),
            '§' => out.push_str("$^\\S$"),
            c if c.is_control() => out.push(' '),
            c if c.is_ascii() => out.push(c),
            c if ('\u{C0}'..='\u{FF}').contains(&c) && c.is_alphabetic() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Prose: text escaped, names in `\texttt`.
fn prose(text: &str) -> String {
    spans(text)
        .into_iter()
        .map(|(is_code, s)| if is_code { format!("\\texttt{{{}}}", tex(s)) } else { tex(s) })
        .collect()
}

fn cell(c: &Cell) -> String {
    let (text, bold, mark, _) = c.parts();
    let text = if bold { format!("\\textbf{{{}}}", tex(&text)) } else { tex(&text) };
    mark.iter().fold(text, |t, m| match m {
        Mark::Star => format!("{t}$^{{*}}$"),
        m => format!("{t}{}", tex(m.symbol())),
    })
}

/// The columns of `t` in tables that fit the text width: each part repeats column 0.
fn parts(t: &Table) -> Vec<Vec<usize>> {
    let width = |i: usize| {
        let cells = t.rows.iter().map(|r| r.cells.get(i).map_or(0, |c| c.text().chars().count() + 2));
        cells.chain([t.columns[i].head.chars().count()]).max().unwrap_or(0) + GAP
    };
    let first = width(0);
    let mut parts: Vec<Vec<usize>> = Vec::new();
    let mut used = WIDTH;
    for i in 1..t.columns.len() {
        let w = width(i);
        if used + w > WIDTH {
            parts.push(vec![0]);
            used = first;
        }
        used += w;
        if let Some(p) = parts.last_mut() {
            p.push(i);
        }
    }
    if parts.is_empty() {
        parts.push(vec![0]);
    }
    parts
}

fn table(out: &mut String, t: &Table) {
    let parts = parts(t);
    for (n, cols) in parts.iter().enumerate() {
        let mut caption = prose(&t.title);
        if parts.len() > 1 {
            let part = if caption.is_empty() { "Part" } else { " (part" };
            let _ = write!(caption, "{part} {} of {}{}", n + 1, parts.len(), if caption.is_empty() { "" } else { ")" });
        }
        if n == 0 && !t.notes.is_empty() {
            let notes: Vec<String> = t.notes.iter().map(|n| prose(n)).collect();
            let sep = if caption.is_empty() { "" } else { ". " };
            let _ = write!(caption, "{sep}{}", notes.join(" "));
        }
        let spec: String = cols.iter().map(|&i| if t.columns[i].numeric { 'r' } else { 'l' }).collect();
        let heads: Vec<String> = cols.iter().map(|&i| prose(&t.columns[i].head)).collect();
        let head = format!("\\toprule\n{} \\\\\n\\midrule\n", heads.join(" & "));
        let _ = write!(
            out,
            "{{\\footnotesize\\setlength{{\\tabcolsep}}{{4pt}}\n\\begin{{longtable}}{{@{{}}{spec}@{{}}}}\n"
        );
        if !caption.is_empty() {
            let _ = writeln!(out, "\\caption{{{caption}}} \\\\");
        }
        let _ = write!(out, "{head}\\endfirsthead\n{head}\\endhead\n\\bottomrule\n\\endfoot\n");
        for r in &t.rows {
            let cells: Vec<String> = cols.iter().map(|&i| r.cells.get(i).map_or_else(String::new, cell)).collect();
            let _ = writeln!(out, "{} \\\\", cells.join(" & "));
        }
        out.push_str("\\end{longtable}}\n\n");
    }
}

/// `doc` as a LaTeX document.
pub fn render(doc: &Document) -> String {
    let mut out = format!(
        "\\documentclass{{article}}\n\\usepackage[T1]{{fontenc}}\n\\usepackage{{booktabs}}\n\
         \\usepackage{{longtable}}\n\\begin{{document}}\n\\section*{{{}}}\n",
        tex(&doc.title)
    );
    if let Some(p) = &doc.provenance {
        provenance(&mut out, p);
    }
    if !doc.lede.is_empty() {
        let _ = writeln!(out, "{}\n", prose(&doc.lede));
    }
    for s in &doc.sections {
        section(&mut out, s);
    }
    out.push_str("\\end{document}\n");
    out
}

/// The provenance, one fact per line in a small font, so 64-character hashes fit the text width.
fn provenance(out: &mut String, p: &Provenance) {
    let dirty = if p.dirty { " (dirty)" } else { "" };
    let mut data: Vec<_> = p.data_hashes.iter().collect();
    data.sort();
    let data: Vec<String> = data.iter().map(|(n, h)| format!("\\quad {}: \\texttt{{{}}}", tex(n), tex(h))).collect();
    let _ = writeln!(
        out,
        "\\begin{{flushleft}}\\footnotesize\nCommit \\texttt{{{}}}{dirty}\\\\\nConfig \\texttt{{{}}}\\\\\n\
         Run \\texttt{{{}}}\\\\\nData (sha256):{}\n\\end{{flushleft}}\n",
        tex(&p.commit),
        tex(&p.config_hash),
        tex(&p.run_id),
        if data.is_empty() { " none".to_owned() } else { format!("\\\\\n{}", data.join("\\\\\n")) }
    );
}

/// One section, appended to `out`.
pub fn section(out: &mut String, s: &Section) {
    if !s.title.is_empty() {
        let _ = writeln!(out, "\\section*{{{}}}", prose(&s.title));
    }
    for b in &s.blocks {
        match b {
            Block::Heading(level, t) => {
                let sub = if *level <= 3 { "sub" } else { "subsub" };
                let _ = writeln!(out, "\\{sub}section*{{{}}}", prose(t));
            }
            Block::Paragraph(t) => {
                let _ = writeln!(out, "{}\n", prose(t));
            }
            Block::Note(t) => {
                let _ = writeln!(out, "{{\\small {}}}\n", prose(t));
            }
            Block::List(items) => {
                out.push_str("{\\small\\raggedright\n\\begin{itemize}\n");
                for i in items {
                    let _ = writeln!(out, "\\item {}", prose(i));
                }
                out.push_str("\\end{itemize}\n}\n\n");
            }
            Block::Table(t) => table(out, t),
            Block::Figure(_) => {}
        }
    }
}
