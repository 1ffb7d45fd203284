//! Vocabularies built from meta-train (existing) users and items only, and standardisation of
//! numeric item columns with existing-item statistics.
//!
//! Index 0 of every categorical field is reserved for "unknown": a missing value, a category
//! seen only among new users or items, or one cut by a vocabulary limit. Known categories get
//! `1..=n` in ascending label order, so the encoding does not depend on row order.

use std::collections::HashMap;

/// The label every field uses for index 0.
pub const UNKNOWN: &str = "unknown";

/// A categorical vocabulary: labels `1..=n` (index 0 is unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    /// Known labels in index order; `labels[k]` has index `k + 1`.
    pub labels: Vec<String>,
    index: HashMap<String, u32>,
}

impl Vocab {
    /// Builds a vocabulary from the values of existing rows. With `limit`, only the `limit`
    /// most frequent labels are kept (ties broken by label, ascending); the rest map to 0.
    pub fn build<'a>(values: impl IntoIterator<Item = Option<&'a str>>, limit: Option<usize>) -> Vocab {
        let mut counts: HashMap<&str, u64> = HashMap::new();
        for v in values.into_iter().flatten() {
            *counts.entry(v).or_insert(0) += 1;
        }
        let mut by_count: Vec<(&str, u64)> = counts.into_iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if let Some(n) = limit {
            by_count.truncate(n);
        }
        let mut labels: Vec<String> = by_count.into_iter().map(|(l, _)| l.to_string()).collect();
        labels.sort();
        let index = labels.iter().enumerate().map(|(k, l)| (l.clone(), k as u32 + 1)).collect();
        Vocab { labels, index }
    }

    /// The index of a value: its label's index, or 0 when missing or unknown.
    pub fn encode(&self, value: Option<&str>) -> u32 {
        value.and_then(|v| self.index.get(v).copied()).unwrap_or(0)
    }

    /// Vocabulary size including the unknown index.
    pub fn size(&self) -> usize {
        self.labels.len() + 1
    }

    /// All labels in index order, `unknown` first.
    pub fn all_labels(&self) -> Vec<String> {
        std::iter::once(UNKNOWN.to_string()).chain(self.labels.iter().cloned()).collect()
    }
}

/// Standardises `n_rows x n_cols` row-major values column by column with the mean and
/// population standard deviation of the rows where `existing` is true and the value is present.
/// Missing values become 0 (the existing mean); a constant column is only centred.
pub fn standardize(values: &[Option<f32>], n_cols: usize, existing: &[bool]) -> Vec<f32> {
    let n_rows = existing.len();
    assert_eq!(values.len(), n_rows * n_cols);
    let mut out = vec![0f32; values.len()];
    for c in 0..n_cols {
        let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
        for r in (0..n_rows).filter(|r| existing[*r]) {
            if let Some(v) = values[r * n_cols + c] {
                n += 1.0;
                sum += f64::from(v);
                sq += f64::from(v) * f64::from(v);
            }
        }
        let mean = if n > 0.0 { sum / n } else { 0.0 };
        let var = if n > 0.0 { (sq / n - mean * mean).max(0.0) } else { 0.0 };
        let sd = if var > 1e-12 { var.sqrt() } else { 1.0 };
        for r in 0..n_rows {
            if let Some(v) = values[r * n_cols + c] {
                out[r * n_cols + c] = ((f64::from(v) - mean) / sd) as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocab_reserves_zero_and_limits_by_frequency() {
        let v = Vocab::build([Some("b"), Some("a"), None, Some("b"), Some("c"), Some("c"), Some("c")], None);
        assert_eq!(v.labels, ["a", "b", "c"]);
        assert_eq!(v.size(), 4);
        assert_eq!([v.encode(Some("a")), v.encode(Some("c")), v.encode(Some("zzz")), v.encode(None)], [1, 3, 0, 0]);
        assert_eq!(v.all_labels(), ["unknown", "a", "b", "c"]);
        // Top 2 by count: c (3), b (2); a (1) is cut and maps to unknown.
        let v = Vocab::build([Some("b"), Some("a"), Some("b"), Some("c"), Some("c"), Some("c")], Some(2));
        assert_eq!(v.labels, ["b", "c"]);
        assert_eq!(v.encode(Some("a")), 0);
        // Ties at the cut go to the smaller label.
        let v = Vocab::build([Some("y"), Some("x"), Some("z")], Some(2));
        assert_eq!(v.labels, ["x", "y"]);
    }

    #[test]
    fn standardize_uses_existing_rows_only() {
        // Column 0: existing rows 1, 3 (mean 2, sd 1); the new row's 10 is scaled with those.
        let values = [Some(1.0), Some(3.0), Some(10.0), None];
        let out = standardize(&values, 1, &[true, true, false, false]);
        assert_eq!(out, [-1.0, 1.0, 8.0, 0.0]);
        // A constant column is centred, not divided by zero.
        let out = standardize(&[Some(1.0), Some(1.0), Some(2.0)], 1, &[true, true, false]);
        assert_eq!(out, [0.0, 0.0, 1.0]);
    }
}
