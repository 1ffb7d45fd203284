//! How numbers are written in every report, once: with fixed decimals (never `-0.00…`),
//! `n/a` when not finite, p-values with `< 0.0001` below that, and counts of users.

/// `x` with `digits` decimals, never `-0.00…`; "n/a" when not finite.
pub fn num(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return "n/a".to_owned();
    }
    let s = format!("{x:.digits$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') { s[1..].to_owned() } else { s }
}

/// The text of a p-value (see [`Cell::P`]).
pub fn p_text(p: f64) -> String {
    if p < 0.0001 { "< 0.0001".to_owned() } else { num(p, 4) }
}

/// `1 user`, `n users`.
pub fn users_text(n: usize) -> String {
    if n == 1 { "1 user".to_owned() } else { format!("{n} users") }
}

/// `x` with at most 2 decimals and no trailing zeros (a percentage: `95`, `20`, `12.5`).
pub fn short(x: f64) -> String {
    let s = num(x, 2);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The mark of a method that differs significantly from the best one.
pub const DAGGER: &str = "†";
/// The mark of a significant gap between groups.
pub const DOUBLE_DAGGER: &str = "‡";
/// The mark of a value over fewer seeds than its method has.
pub const STAR: &str = "*";
/// The mark of a method that beats a Bayes-optimal bound beyond its own interval (a probable leak).
pub const SECTION: &str = "§";
