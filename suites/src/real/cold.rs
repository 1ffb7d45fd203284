//! The MeLU existing/new rule: items by release (publication) year, users by the time of their
//! first rating, about 8:2; and, for Book-Crossing users (no timestamps), a seeded hash split.
//!
//! See the [module docs](super) for the source and the deviations. Every function here is pure
//! and deterministic: same inputs (and seed), same output.

use crate::rng::derive_seed;

/// Items released in `new_from_year` or later are new (`None`: no item is new).
#[derive(Clone, Debug, PartialEq)]
pub struct YearCut {
    pub new_from_year: Option<i32>,
    pub is_new: Vec<bool>,
}

/// Users whose first rating is at `new_from_time` (Unix seconds) or later are new.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeCut {
    pub new_from_time: Option<i64>,
    pub is_new: Vec<bool>,
}

/// Items by year. With `fixed` the threshold is taken as given; otherwise it is the year `Y`
/// whose share of new items (items with a known year `>= Y`, among items with a known year) is
/// closest to `new_fraction`; on a tie the later year (fewer new items) wins. Years are whole,
/// so the share is only approximately `new_fraction`. Items without a year are existing.
pub fn items_by_year(years: &[Option<i32>], new_fraction: f64, fixed: Option<i32>) -> YearCut {
    let cut = match fixed {
        Some(y) => Some(y),
        None => {
            let mut known: Vec<i32> = years.iter().flatten().copied().collect();
            known.sort_unstable();
            let n = known.len();
            // Candidate "no new item" first, then every distinct year from the latest down.
            let mut best: (f64, Option<i32>) = (new_fraction, None);
            let mut distinct = known.clone();
            distinct.dedup();
            for y in distinct.into_iter().rev() {
                let n_new = n - known.partition_point(|v| *v < y);
                let gap = (n_new as f64 / n as f64 - new_fraction).abs();
                if gap < best.0 {
                    best = (gap, Some(y));
                }
            }
            best.1
        }
    };
    let is_new = years.iter().map(|y| matches!((y, cut), (Some(y), Some(c)) if *y >= c)).collect();
    YearCut { new_from_year: cut, is_new }
}

/// Users by first-rating time. With `fixed` the threshold is taken as given; otherwise it is the
/// first-rating time of the user at position `round(n * (1 - new_fraction))` in time order, so
/// the latest `new_fraction` of users are new (users tied with that time are new too).
pub fn users_by_first_time(first: &[i64], new_fraction: f64, fixed: Option<i64>) -> TimeCut {
    let cut = match fixed {
        Some(t) => Some(t),
        None => {
            let mut sorted = first.to_vec();
            sorted.sort_unstable();
            let n = sorted.len();
            let idx = ((n as f64) * (1.0 - new_fraction)).round() as usize;
            sorted.get(idx).copied()
        }
    };
    let is_new = first.iter().map(|t| cut.is_some_and(|c| *t >= c)).collect();
    TimeCut { new_from_time: cut, is_new }
}

/// Users by a seeded hash of their source id: new when `U(seed, id) < new_fraction`, with `U`
/// uniform in `[0, 1)` from [`derive_seed`]. Independent of the order and number of users, so a
/// user keeps their state when others are added or removed.
pub fn users_by_hash(ids: &[u64], new_fraction: f64, seed: u64) -> Vec<bool> {
    ids.iter().map(|id| hash_uniform(seed, *id) < new_fraction).collect()
}

fn hash_uniform(seed: u64, id: u64) -> f64 {
    let h = derive_seed(seed, &["bookcrossing-user", &id.to_string()]);
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix seconds of a UTC calendar date (days-from-civil, Howard Hinnant's algorithm).
    fn utc(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146_097 + doe - 719_468) * 86_400
    }

    #[test]
    fn calendar_helper_is_right() {
        assert_eq!(utc(1970, 1, 1), 0);
        assert_eq!(utc(2000, 12, 31), 978_220_800); // date -u -d 2000-12-31 +%s
        assert_eq!(utc(1997, 9, 20), 874_713_600);
    }

    #[test]
    fn items_split_at_the_year_closest_to_eight_to_two() {
        // 10 items with years; 1998 and later is 2 of 10 = 20%.
        let years = [1990, 1991, 1993, 1995, 1995, 1996, 1997, 1997, 1998, 2000].map(Some).to_vec();
        let cut = items_by_year(&years, 0.2, None);
        assert_eq!(cut.new_from_year, Some(1998));
        assert_eq!(cut.is_new, [false, false, false, false, false, false, false, false, true, true]);
        // 1997 would give 40%, 2000 10%: 1998 is closest. A missing year is existing.
        let mut with_missing = years.clone();
        with_missing.push(None);
        let cut = items_by_year(&with_missing, 0.2, None);
        assert_eq!(cut.new_from_year, Some(1998));
        assert!(!cut.is_new[10]);
        // Ties go to the later year: 4 items, target 0.375 lies between 1/4 and 2/4.
        let cut = items_by_year(&[Some(1), Some(2), Some(3), Some(4)], 0.375, None);
        assert_eq!(cut.new_from_year, Some(4));
        // A fixed threshold is used as given; fraction 0 makes nothing new.
        assert_eq!(items_by_year(&years, 0.2, Some(1996)).is_new.iter().filter(|x| **x).count(), 5);
        assert_eq!(items_by_year(&years, 0.0, None), YearCut { new_from_year: None, is_new: vec![false; 10] });
    }

    #[test]
    fn users_split_by_first_rating_date() {
        // Five users whose first ratings fall on hand-made dates; the latest 20% (one) is new.
        let first = [
            utc(2000, 4, 26),
            utc(2000, 5, 1),
            utc(2000, 11, 20),
            utc(2000, 12, 3), // newest
            utc(2000, 6, 15),
        ];
        let cut = users_by_first_time(&first, 0.2, None);
        assert_eq!(cut.new_from_time, Some(utc(2000, 12, 3)));
        assert_eq!(cut.is_new, [false, false, false, true, false]);
        // 40%: position round(5 * 0.6) = 3 in time order is 2000-11-20.
        let cut = users_by_first_time(&first, 0.4, None);
        assert_eq!(cut.new_from_time, Some(utc(2000, 11, 20)));
        assert_eq!(cut.is_new, [false, false, true, true, false]);
        // A fixed date: users first seen on or after 2000-06-01.
        let cut = users_by_first_time(&first, 0.2, Some(utc(2000, 6, 1)));
        assert_eq!(cut.is_new, [false, false, true, true, true]);
        assert_eq!(users_by_first_time(&first, 0.0, None).is_new, [false; 5]);
    }

    #[test]
    fn hash_split_is_seeded_stable_and_near_the_fraction() {
        let ids: Vec<u64> = (1..=10_000).collect();
        let a = users_by_hash(&ids, 0.2, 7);
        assert_eq!(a, users_by_hash(&ids, 0.2, 7));
        assert_ne!(a, users_by_hash(&ids, 0.2, 8));
        let share = a.iter().filter(|x| **x).count() as f64 / ids.len() as f64;
        assert!((share - 0.2).abs() < 0.02, "{share}");
        // A user's state does not depend on the other users.
        assert_eq!(users_by_hash(&ids[500..501], 0.2, 7)[0], a[500]);
    }
}
