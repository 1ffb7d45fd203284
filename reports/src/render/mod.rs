//! The renderers of the document model ([`crate::doc`]): Markdown ([`markdown`]), LaTeX
//! ([`latex`]) and the self-contained HTML page with inline SVG ([`html`]). Each knows the model
//! and its own format's escaping and markup, none knows a section. The figures of a document
//! that are also saved as files are collected by [`figure_files`].

pub mod html;
pub mod latex;
pub mod markdown;

use std::collections::BTreeSet;

use crate::doc::{Block, Document, Figure};
use crate::plot::{FigureFile, draw, file_stem, unique_name};

/// Every figure of `doc`, in document order.
pub fn figures(doc: &Document) -> impl Iterator<Item = &Figure> {
    doc.sections.iter().flat_map(|s| &s.blocks).filter_map(|b| match b {
        Block::Figure(f) => Some(f),
        _ => None,
    })
}

/// The figures of `doc` that carry a file name, drawn, as `figures/NAME.svg` files: names by
/// [`file_stem`], a name already taken gets `-2`, `-3`, ...; figures with nothing to draw are
/// left out. The SVGs are those shown inline in the HTML.
pub fn figure_files(doc: &Document) -> Vec<FigureFile> {
    let mut used = BTreeSet::new();
    let mut files = Vec::new();
    for f in figures(doc) {
        let Some(parts) = &f.file else { continue };
        if let Some(svg) = draw(&f.plot).svg {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            files.push(FigureFile { name: unique_name(&mut used, &file_stem(&parts)), svg });
        }
    }
    files
}
