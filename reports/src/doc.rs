//! The format-neutral document model of the reports: a [`Document`] is a title, the run's
//! provenance and a list of [`Section`]s; a section holds [`Block`]s (headings, paragraphs,
//! notes, lists, tables, figures). Table cells are typed ([`Cell`]): how a number, an interval,
//! an estimate, a rank, a p-value or a method with its marks is written is decided here, once,
//! by [`Cell::text`]; the renderers ([`crate::render`]) only escape that text for their format
//! and add emphasis. Builders ([`crate::build`]) turn analyses into this model and know no
//! format; renderers know no section.
//!
//! **Text.** Prose is a `String` in which names (of files, suites, methods, perturbations)
//! are wrapped by [`code`]; each renderer writes them as code (`` `x` ``, `\texttt{x}`,
//! `<code>x</code>`). Symbols are written as Unicode (`<`, `≤`, `±`, `−`, `—`, `†`, `‡`, `%`)
//! and translated by the renderer where its format needs it (LaTeX).

pub use crate::format::{num, p_text, short, users_text};
use crate::plot::Plot;

/// Opens a name in prose; see [`code`].
pub const CODE_OPEN: char = '\u{1}';
/// Closes a name in prose.
pub const CODE_CLOSE: char = '\u{2}';

/// `name` marked as code inside prose (its own control characters become spaces, so only
/// [`CODE_OPEN`] and [`CODE_CLOSE`] delimit it).
pub fn code(name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    format!("{CODE_OPEN}{clean}{CODE_CLOSE}")
}

/// Pieces of prose: plain text and names (see [`code`]), in order.
pub fn spans(text: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(CODE_OPEN) {
        if open > 0 {
            out.push((false, &rest[..open]));
        }
        let after = &rest[open + CODE_OPEN.len_utf8()..];
        let close = after.find(CODE_CLOSE).unwrap_or(after.len());
        out.push((true, &after[..close]));
        rest = after.get(close + CODE_CLOSE.len_utf8()..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

/// Where the numbers come from, printed above the tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub commit: String,
    pub dirty: bool,
    pub config_hash: String,
    /// (dataset name, sha256); printed sorted by name.
    pub data_hashes: Vec<(String, String)>,
    pub run_id: String,
}

/// A whole report.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub title: String,
    /// The paragraph under the title.
    pub lede: String,
    /// Where the numbers come from; printed under the title.
    pub provenance: Option<Provenance>,
    pub sections: Vec<Section>,
}

/// A top-level section: a heading (level 2) and its blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub title: String,
    /// Names the section in the HTML (`<section class="...">`).
    pub class: String,
    pub blocks: Vec<Block>,
}

impl Section {
    pub fn new(title: impl Into<String>, class: &str) -> Section {
        Section { title: title.into(), class: class.to_owned(), blocks: Vec::new() }
    }

    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }
}

/// A block of a section.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A heading of level 3 or 4 (its text is prose).
    Heading(u8, String),
    /// A paragraph of prose.
    Paragraph(String),
    /// A small-print note.
    Note(String),
    /// A bulleted list of prose items.
    List(Vec<String>),
    Table(Table),
    Figure(Figure),
}

/// A table: its title (a heading above it, or the caption in LaTeX; none when empty), columns,
/// rows and the notes under it.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Prose; the text after it in parentheses (the metric's direction) is muted in HTML.
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// A column head and how its cells align.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub head: String,
    pub numeric: bool,
}

impl Column {
    /// A left-aligned column (names, text).
    pub fn text(head: &str) -> Column {
        Column { head: head.to_owned(), numeric: false }
    }

    /// A right-aligned column (numbers).
    pub fn num(head: &str) -> Column {
        Column { head: head.to_owned(), numeric: true }
    }
}

/// How a row is set off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStyle {
    Plain,
    /// The best ranked method.
    Best,
    /// A reference method (a bound).
    Bound,
}

/// A table row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub style: RowStyle,
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Row {
        Row { cells, style: RowStyle::Plain }
    }
}

/// A mark after a cell's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// † (LaTeX `$^\dagger$`): differs significantly from the best method.
    Dagger,
    /// ‡ (LaTeX `$^\ddagger$`): a significant gap between groups.
    DoubleDagger,
    /// * (LaTeX `$^{*}$`): over fewer seeds than the method has.
    Star,
    /// § (LaTeX `$^\S$`): beats a Bayes-optimal bound beyond its own interval, a probable leak.
    Leak,
}

impl Mark {
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Dagger => crate::format::DAGGER,
            Mark::DoubleDagger => crate::format::DOUBLE_DAGGER,
            Mark::Star => crate::format::STAR,
            Mark::Leak => crate::format::SECTION,
        }
    }
}

/// What a method name says of a reference method (the oracle) in a table of one metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Not a reference method.
    None,
    /// A reference method on a metric where it is Bayes-optimal: "(bound)".
    Bound,
    /// A reference method on a metric where it is not Bayes-optimal (the ranking metrics, or MAE
    /// scored on the mean): "(reference)".
    Reference,
}

impl Tag {
    /// `reference`: the method is a reference method; `bound`: the metric is one where such a
    /// method is Bayes-optimal.
    pub fn of(reference: bool, bound: bool) -> Tag {
        match (reference, bound) {
            (false, _) => Tag::None,
            (true, true) => Tag::Bound,
            (true, false) => Tag::Reference,
        }
    }

    /// The text after the name.
    pub fn suffix(self) -> &'static str {
        match self {
            Tag::None => "",
            Tag::Bound => " (bound)",
            Tag::Reference => " (reference)",
        }
    }
}

/// A typed table cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text from the data (a group, a scenario): escaped as a name.
    Text(String),
    /// A method (or row) name; "(bound)" or "(reference)" after reference methods (see [`Tag`]).
    Name { name: String, tag: Tag },
    /// A count.
    Int(u64),
    /// A number with `digits` decimals.
    Num { value: f64, digits: usize },
    /// A signed number with `digits` decimals (`+0.0123`).
    Signed { value: f64, digits: usize },
    /// A signed percentage with 1 decimal (`+1.2%`).
    Percent(f64),
    /// A 95% interval, `[low, high]`.
    Interval { low: f64, high: f64 },
    /// A mean and its interval, `mean [low, high]`.
    Estimate { mean: f64, low: f64, high: f64 },
    /// A mean and the half-width of its interval, `mean ± half` (the mean alone without one).
    PlusMinus { mean: f64, half: Option<f64> },
    /// A rank; `None` (unranked) is a dash.
    Rank(Option<usize>),
    /// A p-value with 4 decimals, `< 0.0001` below that.
    P(f64),
    /// Nothing to show: a dash.
    Missing,
    /// Win/tie/loss counts.
    Counts(usize, usize, usize),
    /// A cell in bold (the best ranked mean).
    Strong(Box<Cell>),
    /// A cell followed by a mark.
    Marked(Box<Cell>, Mark),
}

impl Cell {
    pub fn num(value: f64) -> Cell {
        Cell::Num { value, digits: 4 }
    }

    /// A method name without a tag.
    pub fn name(name: &str) -> Cell {
        Cell::Name { name: name.to_owned(), tag: Tag::None }
    }

    /// A method name with its tag.
    pub fn tagged(name: &str, tag: Tag) -> Cell {
        Cell::Name { name: name.to_owned(), tag }
    }

    pub fn strong(self) -> Cell {
        Cell::Strong(Box::new(self))
    }

    /// The cell followed by `mark` when `on`.
    pub fn mark_if(self, on: bool, mark: Mark) -> Cell {
        if on { Cell::Marked(Box::new(self), mark) } else { self }
    }

    /// The text of the cell without its emphasis and mark (see [`Cell::parts`]).
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Name { name, tag } => format!("{name}{}", tag.suffix()),
            Cell::Int(n) => n.to_string(),
            Cell::Num { value, digits } => num(*value, *digits),
            Cell::Signed { value, digits } if value.is_finite() => format!("{:+.*}", digits, value + 0.0),
            Cell::Percent(x) if x.is_finite() => format!("{:+.1}%", x + 0.0),
            Cell::Signed { .. } | Cell::Percent(_) => "n/a".to_owned(),
            Cell::Interval { low, high } => format!("[{}, {}]", num(*low, 4), num(*high, 4)),
            Cell::Estimate { mean, low, high } => format!("{} [{}, {}]", num(*mean, 4), num(*low, 4), num(*high, 4)),
            Cell::PlusMinus { mean, half: Some(h) } => format!("{} ± {}", num(*mean, 4), num(*h, 4)),
            Cell::PlusMinus { mean, half: None } => num(*mean, 4),
            Cell::Rank(Some(r)) => r.to_string(),
            Cell::Rank(None) | Cell::Missing => "—".to_owned(),
            Cell::P(p) => p_text(*p),
            Cell::Counts(w, t, l) => format!("{w}/{t}/{l}"),
            Cell::Strong(c) | Cell::Marked(c, _) => c.text(),
        }
    }

    /// The plain text of the cell with its mark (`bad †`), as figures label a row.
    pub fn label(&self) -> String {
        let (text, _, marks, _) = self.parts();
        marks.iter().fold(text, |t, m| format!("{t} {}", m.symbol()))
    }

    /// (text, bold, marks innermost first, whether the text is a name to escape as such).
    pub fn parts(&self) -> (String, bool, Vec<Mark>, bool) {
        match self {
            Cell::Strong(c) => {
                let (t, _, m, n) = c.parts();
                (t, true, m, n)
            }
            Cell::Marked(c, mark) => {
                let (t, b, mut m, n) = c.parts();
                m.push(*mark);
                (t, b, m, n)
            }
            Cell::Text(_) | Cell::Name { .. } => (self.text(), false, Vec::new(), true),
            _ => (self.text(), false, Vec::new(), false),
        }
    }
}

/// A figure: what to draw, its caption (prose) and, when it is also saved as a file of the run
/// directory, the parts of its file name (see [`crate::plot::file_stem`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub plot: Plot,
    pub caption: String,
    pub file: Option<Vec<String>>,
    /// Where the figure is (for the list of what was not drawn), e.g. `suite / scenario / metric`.
    pub place: String,
    /// What it is, e.g. `CI plot`.
    pub what: String,
}
