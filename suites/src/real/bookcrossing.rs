//! Book-Crossing (BX-CSV-Dump, Ziegler et al. 2005) parser: `BX-Book-Ratings.csv`,
//! `BX-Users.csv`, `BX-Books.csv`.
//!
//! Format: `;`-separated, one header line, fields double-quoted except bare `NULL` ages, latin-1:
//! - `"User-ID";"ISBN";"Book-Rating"`: 1..=10 explicit, 0 implicit (counted, not used).
//! - `"User-ID";"Location";"Age"`: Location `city, state, country`; Age an integer or `NULL`.
//! - `"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";"Image-URL-M";"Image-URL-L"`.
//!
//! The dump is dirty: HTML entities (`&amp;`), `\"` inside titles, `;` and `"` inside fields.
//! [`split_bx`] reads those; text fields go through [`clean_text`]. ISBNs are trimmed and
//! upper-cased (the ratings file has some lower-case `x` check digits). A row is bad when it has
//! the wrong number of fields, a non-integer user id, rating, age or year, or a rating outside
//! 0..=10. Skipped (well-formed, left out): ISBNs not of the ISBN-10 form `[0-9]{9}[0-9X]`,
//! repeated ids. A wrong header refuses the file (it is probably not the file named).

use super::reader::{FileStats, LineReader, clean_text, split_bx};
use super::{
    Counts, ItemRow, Layout, Parsed, RawRating, RealError, RealOptions, UserRow, UserRule, age_bucket, decade, int,
};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub const RATINGS: &str = "BX-Book-Ratings.csv";
pub const USERS: &str = "BX-Users.csv";
pub const BOOKS: &str = "BX-Books.csv";

/// Publication years outside this range (0 marks unknown in the dump; some are in the future)
/// are treated as unknown.
pub const VALID_YEARS: std::ops::RangeInclusive<i32> = 1900..=2005;
/// Ages outside this range (the dump has 0 and 244) are treated as unknown.
pub const VALID_AGES: std::ops::RangeInclusive<u32> = 5..=100;

const NOT_ISBN10: &str = "isbn not in ISBN-10 form";

/// Packs an ISBN-10 (`[0-9]{9}[0-9X]`, already upper-cased) into a `u64`: the first nine digits
/// times 100 plus the check digit, X = 10. Order-preserving and injective on that form.
pub fn isbn_key(isbn: &str) -> Option<u64> {
    let b = isbn.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let check = match b[9] {
        c @ b'0'..=b'9' => u64::from(c - b'0'),
        b'X' => 10,
        _ => return None,
    };
    let prefix: u64 = isbn[..9].parse().ok()?;
    Some(prefix * 100 + check)
}

fn normalize_isbn(s: &str) -> String {
    clean_text(s).to_ascii_uppercase()
}

/// Lower-cases and collapses whitespace, for vocabulary labels; empty becomes `None`.
fn label(s: &str) -> Option<String> {
    let t = clean_text(s).to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() { None } else { Some(t) }
}

/// The country: the last comma-separated part of Location.
pub fn country(location: &str) -> Option<String> {
    let last = location.rsplit(',').next().unwrap_or("");
    label(last).filter(|c| c != "n/a")
}

/// Opens a file and checks its header line.
fn open(path: &Path, header: &[&str]) -> Result<LineReader, RealError> {
    let mut rd = LineReader::open(path)?;
    let found = match rd.next_line()? {
        None => None,
        Some((_, text)) => split_bx(text).ok().map(|f| f.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
    };
    if found.as_deref().map(|f| f.iter().map(String::as_str).eq(header.iter().copied())) != Some(true) {
        return Err(RealError::Format {
            path: path.display().to_string(),
            line: 1,
            message: format!("expected the header \"{}\"", header.join("\";\"")),
        });
    }
    Ok(rd)
}

fn fields(text: &str, n: usize) -> Result<Vec<&str>, String> {
    let f = split_bx(text)?;
    if f.len() == n { Ok(f) } else { Err(format!("expected {n} fields, found {}", f.len())) }
}

/// Parses the three files in `dir`.
pub(crate) fn parse(dir: &Path, opts: &RealOptions, max_bad: f64) -> Result<Parsed, RealError> {
    // Ratings.
    let path = dir.join(RATINGS);
    let mut rd = open(&path, &["User-ID", "ISBN", "Book-Rating"])?;
    let mut st = FileStats::new(&path);
    let mut ratings = Vec::new();
    let (mut seen_users, mut seen_items) = (HashSet::new(), HashSet::new());
    let (mut n_explicit, mut implicit, mut not_isbn) = (0u64, 0u64, 0u64);
    while let Some((line, text)) = rd.next_line()? {
        if text.trim().is_empty() {
            continue;
        }
        st.read();
        let row = (|| {
            let f = fields(text, 3)?;
            let user: u64 = int(f[0], "user id")?;
            let value: u8 = int(f[2], "rating")?;
            if value > 10 {
                return Err(format!("rating {value} is not in 0..=10"));
            }
            Ok((user, normalize_isbn(f[1]), value))
        })();
        match row {
            Err(reason) => st.bad(line, reason),
            Ok((_, _, 0)) => {
                st.implicit();
                implicit += 1;
            }
            Ok((user, isbn, value)) => {
                n_explicit += 1;
                seen_users.insert(user);
                match isbn_key(&isbn) {
                    Some(item) => {
                        st.kept();
                        ratings.push(RawRating { user, item, value: f32::from(value), time: None });
                    }
                    None => {
                        st.skipped(NOT_ISBN10);
                        not_isbn += 1;
                    }
                }
                seen_items.insert(isbn);
            }
        }
    }
    let parsed = Counts { ratings: n_explicit, users: seen_users.len() as u64, items: seen_items.len() as u64 };
    let r_rep = st.finish(max_bad)?;

    // Users.
    let path = dir.join(USERS);
    let mut rd = open(&path, &["User-ID", "Location", "Age"])?;
    let mut st = FileStats::new(&path);
    let mut users = HashMap::new();
    while let Some((line, text)) = rd.next_line()? {
        if text.trim().is_empty() {
            continue;
        }
        st.read();
        let row = (|| {
            let f = fields(text, 3)?;
            let id: u64 = int(f[0], "user id")?;
            let age = match f[2].trim() {
                "NULL" | "" => None,
                a => Some(int::<u32>(a, "age")?).filter(|a| VALID_AGES.contains(a)),
            };
            Ok((id, UserRow { cats: vec![age.map(|a| age_bucket(a).to_string()), country(f[1])] }))
        })();
        match row {
            Err(reason) => st.bad(line, reason),
            Ok((id, row)) => {
                if let std::collections::hash_map::Entry::Vacant(e) = users.entry(id) {
                    e.insert(row);
                    st.kept();
                } else {
                    st.skipped("duplicate id");
                }
            }
        }
    }
    let u_rep = st.finish(max_bad)?;

    // Books.
    let path = dir.join(BOOKS);
    let header = [
        "ISBN",
        "Book-Title",
        "Book-Author",
        "Year-Of-Publication",
        "Publisher",
        "Image-URL-S",
        "Image-URL-M",
        "Image-URL-L",
    ];
    let mut rd = open(&path, &header)?;
    let mut st = FileStats::new(&path);
    let mut items = HashMap::new();
    while let Some((line, text)) = rd.next_line()? {
        if text.trim().is_empty() {
            continue;
        }
        st.read();
        let row = (|| {
            let f = fields(text, 8)?;
            let year: i32 = int(f[3], "year")?;
            Ok((
                normalize_isbn(f[0]),
                clean_text(f[1]),
                label(f[2]),
                Some(year).filter(|y| VALID_YEARS.contains(y)),
                label(f[4]),
            ))
        })();
        match row {
            Err(reason) => st.bad(line, reason),
            Ok((isbn, title, author, year, publisher)) => match isbn_key(&isbn) {
                None => st.skipped(NOT_ISBN10),
                Some(key) => {
                    if let std::collections::hash_map::Entry::Vacant(e) = items.entry(key) {
                        e.insert(ItemRow {
                            key: isbn,
                            title,
                            year,
                            cats: vec![year.map(decade), publisher, author],
                            num: vec![year.map(|y| y as f32)],
                        });
                        st.kept();
                    } else {
                        st.skipped("duplicate id");
                    }
                }
            },
        }
    }
    let b_rep = st.finish(max_bad)?;

    Ok(Parsed {
        files: vec![r_rep, u_rep, b_rep],
        parsed,
        implicit,
        unknown_item: not_isbn,
        ratings,
        users,
        items,
        layout: Layout {
            user_fields: vec![("age".into(), None), ("country".into(), Some(opts.max_countries))],
            item_fields: vec![
                ("decade".into(), None),
                ("publisher".into(), Some(opts.max_vocab)),
                ("author".into(), Some(opts.max_vocab)),
            ],
            item_numeric: vec!["year".into()],
            group_fields: vec!["age".into()],
            user_rule: UserRule::Hash,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{copy, fixture};
    use super::super::{RealData, RealKind, load};
    use super::*;

    // The fixture (suites/testdata/bookcrossing) follows the MovieLens plan (30 users, 150 rated
    // books, 1468 explicit ratings of them; books 121..=150 published 2002..=2004, the rest
    // 1950..=2001, book 60 with year 0) plus: 90 implicit 0 ratings, 4 explicit ratings of ISBNs
    // missing from BX-Books.csv, one of a non-ISBN key (B00009NDAN, also a row of BX-Books.csv),
    // a two-field row at line 40, lower-case `x` check digits in half the X rows, 5 users without
    // ratings, NULL ages (every sixth user), age 244 (user 1091), location country `n/a` (user
    // 1084), and titles with latin-1 bytes, `;`, inner quotes and the dump's `\";` ending.

    fn bx(opts: &RealOptions) -> Result<RealData, RealError> {
        load(RealKind::BookCrossing, &fixture("bookcrossing"), opts)
    }

    fn item(d: &RealData, isbn: &str) -> usize {
        d.item_keys.iter().position(|k| k == isbn).unwrap()
    }

    #[test]
    fn counts_and_implicit_ratings_are_separated() {
        let d = bx(&RealOptions::default()).unwrap();
        let r = &d.report;
        let ratings = &r.files[0];
        assert_eq!(ratings.file, RATINGS);
        assert_eq!((ratings.rows_read, ratings.rows_kept, ratings.bad_rows, ratings.implicit), (1564, 1472, 1, 90));
        assert_eq!(ratings.skipped.get(NOT_ISBN10), Some(&1));
        assert_eq!(ratings.first_bad[0].line, 40);
        assert!(ratings.first_bad[0].reason.contains("expected 3 fields, found 2"), "{:?}", ratings.first_bad);
        assert_eq!(r.implicit_ratings, 90);
        // Explicit ratings with their distinct users and ISBNs (upper-cased), as parsed.
        assert_eq!(r.parsed, Counts { ratings: 1473, users: 30, items: 155 });
        assert_eq!((r.dropped_unknown_item, r.dropped_unknown_user, r.dropped_duplicate), (5, 0, 0));
        assert_eq!(r.before_filter, Counts { ratings: 1468, users: 30, items: 150 });
        assert_eq!(r.after_filter, Counts { ratings: 1329, users: 29, items: 150 });
        assert_eq!((r.files[1].rows_read, r.files[1].rows_kept), (35, 35));
        assert_eq!((r.files[2].rows_read, r.files[2].rows_kept), (151, 150));
        assert_eq!(r.files[2].skipped.get(NOT_ISBN10), Some(&1));
        assert_eq!(r.cold.item_new_from_year, Some(2002));
        assert_eq!(r.cold.items_without_year, 1);
        assert_eq!(r.cold.user_new_from_time, None);
        assert_eq!((d.dataset.rating_min, d.dataset.rating_max), (1.0, 10.0));
        assert!(d.dataset.ratings.iter().all(|x| (1.0..=10.0).contains(&x.value)));
        assert!(d.dataset.ratings.iter().any(|x| x.value == 10.0));
    }

    #[test]
    fn quoted_fields_entities_and_latin1_titles() {
        let d = bx(&RealOptions::default()).unwrap();
        assert_eq!(d.item_titles[item(&d, "1000098729")], "Les Mis\u{e9}rables");
        assert_eq!(d.item_titles[item(&d, "1000111067")], "Love; War and \"Peace\"");
        assert_eq!(
            d.item_titles[item(&d, "1000123405")],
            "DK Readers: Creating the X-Men (Level 4: Proficient Readers)"
        );
        let publishers = &d.vocabularies.iter().find(|v| v.0 == "publisher").unwrap().1;
        assert!(publishers.contains(&"simon & schuster".to_string()), "{publishers:?}");
        // ISBN-10s pack into ids that sort like the ISBNs.
        let f = &d.dataset.features;
        assert!(f.item_ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(f.item_ids[item(&d, "1000098729")], 100_009_872 * 100 + 9);
    }

    #[test]
    fn ages_and_countries_map_missing_values_to_unknown() {
        let d = bx(&RealOptions::default()).unwrap();
        let f = &d.dataset.features;
        let u = |id: u64| f.user_ids.iter().position(|x| *x == id).unwrap();
        let ages = &d.dataset.user_groups.iter().find(|g| g.0 == "age").unwrap().1;
        // 1042 (NULL) and 1091 (244) have no usable age; 1007 is 18.
        for id in [1042, 1091] {
            assert_eq!(f.user_cat(u(id) as u32)[0], 0, "{id}");
            assert_eq!(ages[u(id)], "unknown");
        }
        assert_eq!(ages[u(1007)], "18-24");
        assert!(f.user_cat(u(1007) as u32)[0] > 0);
        // 1084's country is `n/a`.
        assert_eq!(f.user_cat(u(1084) as u32)[1], 0);
        let countries = &d.vocabularies[1].1;
        assert!(countries.contains(&"usa".to_string()) && !countries.contains(&"n/a".to_string()));
        assert_eq!(f.schema.user_fields.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(), ["age", "country"]);
        let groups: Vec<&str> = d.dataset.user_groups.iter().map(|g| g.0.as_str()).collect();
        assert_eq!(groups, ["age", "activity"]);
    }

    #[test]
    fn vocabularies_come_from_existing_books_and_are_limited() {
        let d = bx(&RealOptions::default()).unwrap();
        let f = &d.dataset.features;
        // Only book 150 (new) is from Brand New Press.
        let i = item(&d, "1001851005");
        assert!(d.item_is_new[i]);
        assert_eq!(d.item_titles[i], "Book 150");
        assert_eq!(f.item_cat(i as u32)[1], 0);
        assert!(!d.vocabularies.iter().any(|v| v.1.contains(&"brand new press".to_string())));
        // The 2000s decade is known from existing books up to 2001; 2002+ books keep it.
        assert!(f.item_cat(i as u32)[0] > 0);
        // Limits: the 2 most frequent publishers and authors among existing books.
        let d = bx(&RealOptions { max_vocab: 2, ..RealOptions::default() }).unwrap();
        let fields = &d.dataset.features.schema.item_fields;
        assert_eq!((fields[1].vocab, fields[2].vocab), (3, 3));
        assert!(d.report.item_fields[1].unknown_existing > 0);
    }

    #[test]
    fn user_split_is_seeded_and_deterministic() {
        let a = bx(&RealOptions { seed: 1, ..RealOptions::default() }).unwrap();
        let b = bx(&RealOptions { seed: 1, ..RealOptions::default() }).unwrap();
        assert_eq!(a.user_is_new, b.user_is_new);
        assert_eq!(a.dataset.ratings, b.dataset.ratings);
        assert_eq!(a.dataset.features.item_cat, b.dataset.features.item_cat);
        assert_eq!(a.report, b.report);
        // The same users' states, drawn per user id.
        let ids = &a.dataset.features.user_ids;
        let want = super::super::cold::users_by_hash(ids, 0.2, 1);
        assert_eq!(a.user_is_new, want);
        assert!(a.report.cold.user_rule.contains("deviation"));
        let seeds_differ = (2..6)
            .any(|s| bx(&RealOptions { seed: s, ..RealOptions::default() }).unwrap().user_is_new != a.user_is_new);
        assert!(seeds_differ);
    }

    #[test]
    fn wrong_header_bad_rows_and_dump_folder() {
        // The dump's own folder name is accepted as a parent.
        let dir = copy("bookcrossing", "bx-folder", "BX-CSV-Dump", &[]);
        let d = load(RealKind::BookCrossing, &dir, &RealOptions::default()).unwrap();
        assert_eq!(d.report.after_filter.ratings, 1329);
        // A users file with a MovieLens line for a header is refused at line 1.
        let users = dir.join("BX-CSV-Dump").join(USERS);
        let text = std::fs::read(&users).unwrap();
        let mut bad = b"1|24|M|technician|85711\n".to_vec();
        bad.extend_from_slice(&text[text.iter().position(|b| *b == b'\n').unwrap() + 1..]);
        std::fs::write(&users, &bad).unwrap();
        let err = load(RealKind::BookCrossing, &dir, &RealOptions::default()).unwrap_err().to_string();
        assert!(err.contains("BX-Users.csv:1: expected the header"), "{err}");
        // 1 bad row of 1564 is within 0.01 but not within 0.0001.
        let err =
            bx(&RealOptions { max_bad_fraction: Some(0.0001), ..RealOptions::default() }).unwrap_err().to_string();
        assert!(
            err.contains("BX-Book-Ratings.csv") && err.contains("1 of 1564 rows") && err.contains("line 40"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn isbns_pack_injectively_and_in_order() {
        assert_eq!(isbn_key("034545104X"), Some(3_454_510_410));
        assert_eq!(isbn_key("0345451040"), Some(3_454_510_400));
        assert!(isbn_key("0345451040") < isbn_key("034545104X"));
        assert!(isbn_key("0345451049") < isbn_key("034545104X"));
        for bad in ["034545104x", "03454510", "B000234N76", "0345 51040", ""] {
            assert_eq!(isbn_key(bad), None, "{bad}");
        }
        assert_eq!(normalize_isbn(" 034545104x "), "034545104X");
    }

    #[test]
    fn locations_give_countries() {
        assert_eq!(country("nyc, new york, usa"), Some("usa".into()));
        assert_eq!(country("porto, v.n.gaia, Portugal "), Some("portugal".into()));
        assert_eq!(country("farnborough, hants, n/a"), None);
        assert_eq!(country("somewhere, , "), None);
        assert_eq!(label("Simon &amp;  Schuster"), Some("simon & schuster".into()));
    }
}
