//! The item-side fairness and popularity-bias section
//! ([`crate::analysis::item_side::ItemSideReport`]): the explanation, then per suite (and per
//! perturbation, after the clean tables) and scenario a table of the methods with users, seeds
//! and the eight metrics as `mean ± half-width`, a table of the head and long-tail rates behind
//! PopRSP and PopREO, and the notes; then the skipped entries.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::analysis::item_side::{
    ITEM_SIDE_TITLE, ItemMetric, ItemSideOptions, ItemSideReport, ItemSideRow, ItemSideTable, PertOrder, pert_order,
};
use crate::analysis::leaderboard::LeaderboardOptions;
use crate::doc::{Block, Cell, Column, Mark, Row, RowStyle, Section, Table, Tag, code, short, users_text};

/// The section of `report`.
pub fn section(report: &ItemSideReport, opts: &LeaderboardOptions) -> Section {
    let mut s = Section::new(ITEM_SIDE_TITLE, "item-fairness");
    s.push(Block::Note(section_note(&report.options)));
    if report.tables.is_empty() {
        s.push(Block::Paragraph("No item-side table: no ranking could be scored (see Skipped).".into()));
    }
    for ((suite, perturbation), tables) in groups(report) {
        s.push(Block::Heading(3, section_heading(suite, perturbation)));
        for t in tables {
            s.push(Block::Heading(4, t.scenario.clone()));
            s.push(Block::Note(table_lede(t)));
            let table = |metrics: &[ItemMetric], counts: bool, notes: Vec<String>| {
                let mut columns = vec![Column::text("method")];
                if counts {
                    columns.extend([Column::num("users"), Column::num("seeds")]);
                }
                columns.extend(metrics.iter().map(|m| Column::num(&m.name(t.k))));
                let rows = t.rows.iter().map(|r| row(r, metrics, counts, opts)).collect();
                Block::Table(Table { title: String::new(), columns, rows, notes })
            };
            s.push(table(&ItemMetric::MAIN, true, Vec::new()));
            s.push(table(&ItemMetric::RATES, false, table_notes(t)));
        }
    }
    let lines = skipped_lines(report);
    if !lines.is_empty() {
        s.push(Block::Heading(3, "Skipped".into()));
        s.push(Block::List(lines));
    }
    s
}

/// One method's row: name, (users and seeds,) each metric as `mean ± half-width`, * where over
/// fewer seeds than the method has.
fn row(r: &ItemSideRow, metrics: &[ItemMetric], counts: bool, opts: &LeaderboardOptions) -> Row {
    let bound = opts.reference_methods.contains(&r.method);
    // The item-side metrics are ranking metrics: a reference method is no bound there.
    let mut cells = vec![Cell::tagged(&r.method, Tag::of(bound, false))];
    if counts {
        cells.extend([Cell::Int(r.users as u64), Cell::Int(r.seeds as u64)]);
    }
    cells.extend(metrics.iter().map(|&m| {
        match r.get(m) {
            None => Cell::Missing,
            Some(e) => Cell::PlusMinus { mean: e.mean, half: e.ci.map(|(low, high)| (high - low) / 2.0) }
                .mark_if(e.seeds < r.seeds, Mark::Star),
        }
    }));
    Row { cells, style: if bound { RowStyle::Bound } else { RowStyle::Plain } }
}

/// The explanation printed once at the top of the section.
fn section_note(opts: &ItemSideOptions) -> String {
    format!(
        "Protocol: for every test user of a scenario, the candidate set is the user's query items plus items the \
         user did not rate, sampled by the runner ({candidates}); each method (per seed and perturbation) ranks \
         the candidates and its top-k list is recorded ({rankings}; k is the list length). Liked candidates: query \
         items the user rated at or above the suite's like threshold. Popularity of an item: its number of \
         meta-train ratings ({items}). Head: the most popular items of the suite (ties by item id) that together \
         hold {share}% of its meta-train ratings; all other items are the long tail. Catalogue of a table: the \
         items in the candidate set of some test user of the scenario. Each column is computed per seed over that \
         seed's users; shown is the mean over seeds ± the half-width of the {}% Student-t interval over \
         seeds (the mean alone with one seed; *: over fewer seeds than the method has, see Skipped; —: \
         undefined). HR@k: share of users with a liked candidate in their top-k; nDCG@k: binary-relevance nDCG@k \
         (both over the users with a liked candidate; higher is better). ARP: mean over users of the average \
         popularity of their top-k (lower: less popularity bias). APLT: mean share of long-tail items in the top-k \
         (higher: more long tail). Gini: Gini coefficient of exposure (the number of top-k lists holding an item) \
         over the catalogue (lower: exposure spread more evenly). Coverage: share of the catalogue in some top-k \
         list (higher: more diverse). PopRSP: standard deviation over mean of the head and long-tail rates of \
         recommendation (recommended candidates of the group over its candidates); PopREO: the same for liked \
         candidates (recommended liked candidates of the group over its liked candidates); 0 is parity, lower \
         means less popularity bias; the rates themselves are in the second table. (reference): a reference method \
         such as the oracle, not Bayes-optimal for these ranking metrics, so not a bound.",
        short((1.0 - opts.alpha) * 100.0),
        candidates = code("candidates.csv"),
        rankings = code("rankings.csv"),
        items = code("items.csv"),
        share = short(opts.head_share * 100.0),
    )
}

/// The line under a table heading: lists, candidate sets, catalogue.
fn table_lede(t: &ItemSideTable) -> String {
    let sizes = if t.candidates_min == t.candidates_max {
        format!("{}", t.candidates_min)
    } else {
        format!("{}—{}", t.candidates_min, t.candidates_max)
    };
    format!(
        "Top-{} lists over candidate sets of {sizes} items ({} in {}); catalogue: {} items, {} of them head.",
        t.k,
        users_text(t.candidate_users),
        code("candidates.csv"),
        t.catalogue,
        t.head_items
    )
}

/// The sentences under a table: users left out of HR and nDCG.
fn table_notes(t: &ItemSideTable) -> Vec<String> {
    let mut notes = Vec::new();
    let hr = format!("HR@{} and nDCG@{}", t.k, t.k);
    let left: Vec<usize> = t.rows.iter().map(|r| r.users_without_liked).collect();
    if left.iter().all(|n| *n == left[0]) {
        if left[0] > 0 {
            notes.push(format!("Left out of {hr}: {} without a liked candidate.", users_text(left[0])));
        }
    } else {
        let per: Vec<String> = t.rows.iter().map(|r| format!("{} {}", r.method, r.users_without_liked)).collect();
        notes.push(format!("Users without a liked candidate, left out of {hr}: {}.", per.join(", ")));
    }
    notes
}

/// The skipped entries merged by (suite, scenario, perturbation, what,
/// reason), each one sentence listing the methods (and seeds).
fn skipped_lines(report: &ItemSideReport) -> Vec<String> {
    type Key<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);
    type Places<'a> = Vec<(&'a str, &'a [u64])>;
    let mut merged: Vec<(Key, Places)> = Vec::new();
    for s in &report.skipped {
        let key = (s.suite.as_str(), s.scenario.as_str(), s.perturbation.as_str(), s.what.as_str(), s.reason.as_str());
        let place = (s.method.as_str(), s.seeds.as_slice());
        match merged.iter_mut().find(|(k, _)| *k == key) {
            Some((_, places)) => places.push(place),
            None => merged.push((key, vec![place])),
        }
    }
    merged
        .into_iter()
        .map(|((suite, scenario, perturbation, what, reason), places)| {
            let mut line = String::new();
            if !suite.is_empty() {
                let _ = write!(line, "Suite {}", code(suite));
            }
            if !scenario.is_empty() {
                let _ = write!(line, ", {}", scenario);
            }
            if !perturbation.is_empty() && perturbation != "none" {
                let _ = write!(line, ", perturbation {}", code(perturbation));
            }
            if !what.is_empty() {
                let sep = if line.is_empty() { "" } else { ", " };
                let _ = write!(line, "{sep}{}", what);
            }
            let _ = write!(line, ": {}", reason);
            let methods: Vec<String> = places
                .iter()
                .filter(|(m, _)| !m.is_empty())
                .map(|(m, seeds)| {
                    if seeds.is_empty() {
                        code(m)
                    } else {
                        let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
                        let noun = if seeds.len() == 1 { "seed" } else { "seeds" };
                        format!("{} ({noun} {})", code(m), seeds.join(", "))
                    }
                })
                .collect();
            if !methods.is_empty() {
                let _ = write!(line, " ({})", methods.join(", "));
            }
            line.push('.');
            line
        })
        .collect()
}

/// The tables of `report` grouped for rendering: per suite, the clean tables,
/// then per perturbation its tables, each group in scenario order.
fn groups(report: &ItemSideReport) -> Vec<((&str, &str), Vec<&ItemSideTable>)> {
    let mut groups: BTreeMap<(&str, PertOrder), Vec<&ItemSideTable>> = BTreeMap::new();
    for t in &report.tables {
        groups.entry((&t.suite, pert_order(&t.perturbation))).or_default().push(t);
    }
    groups.into_iter().map(|((suite, (_, p)), tables)| ((suite, p), tables)).collect()
}

/// Heading text of a group of tables, with names formatted by `code`.
fn section_heading(suite: &str, perturbation: &str) -> String {
    if perturbation == "none" {
        format!("Suite {}", code(suite))
    } else {
        format!("Suite {}, perturbation {}", code(suite), code(perturbation))
    }
}
