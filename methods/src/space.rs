//! Search spaces for hyper-parameter tuning: each method declares the keys a tuner may change,
//! with their ranges, beside its parameter table (`SPACE` constants in the method files), and
//! [`of`] maps a registry name to its space.
//!
//! A space lists only what is worth searching on a fixed budget: learning rates (log scale),
//! shrinkage and regularisation strengths, and the discrete choices a paper left open (the
//! metric-based loss). Architecture widths and step budgets stay fixed: widths so that methods
//! compare at the same network size, steps because early stopping on meta-validation users
//! already chooses them. A method with an empty space (the global mean, the oracle) gets one
//! trial, its defaults.

use metarec_suites::Rng;

/// One tunable key and its range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dim {
    /// A real number in `[lo, hi]`; `log`: drawn uniformly on the log scale.
    Real { key: &'static str, lo: f64, hi: f64, log: bool },
    /// An integer in `[lo, hi]`, drawn uniformly.
    Int { key: &'static str, lo: i64, hi: i64 },
    /// One of the listed strings, each equally likely.
    Choice { key: &'static str, options: &'static [&'static str] },
}

impl Dim {
    /// The hyper-parameter key.
    pub fn key(&self) -> &'static str {
        match self {
            Dim::Real { key, .. } | Dim::Int { key, .. } | Dim::Choice { key, .. } => key,
        }
    }

    /// The range as written in reports and records, e.g. `[1e-4, 1e-2] log`.
    pub fn describe(&self) -> String {
        match self {
            Dim::Real { lo, hi, log, .. } => format!("[{}, {}]{}", num(*lo), num(*hi), if *log { " log" } else { "" }),
            Dim::Int { lo, hi, .. } => format!("{{{lo}..={hi}}}"),
            Dim::Choice { options, .. } => format!("{{{}}}", options.join(", ")),
        }
    }

    /// Draws one value.
    pub fn draw(&self, rng: &mut Rng) -> toml::Value {
        match *self {
            Dim::Real { lo, hi, log, .. } => {
                let u = rng.uniform();
                let x = if log { (lo.ln() + u * (hi.ln() - lo.ln())).exp() } else { lo + u * (hi - lo) };
                // Four significant digits: a value a paper can print and a config can carry.
                toml::Value::Float(round_sig(x, 4))
            }
            Dim::Int { lo, hi, .. } => toml::Value::Integer(lo + rng.below((hi - lo + 1) as usize) as i64),
            Dim::Choice { options, .. } => toml::Value::String(options[rng.below(options.len())].to_string()),
        }
    }
}

/// A range end as written: plainly between 0.001 and 10^4 (and 0), else in `e` notation.
fn num(x: f64) -> String {
    if x == 0.0 || (1e-3..1e4).contains(&x.abs()) { format!("{x}") } else { format!("{x:e}") }
}

/// `x` rounded to `digits` significant digits.
pub fn round_sig(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// Draws one configuration: every key of `space` from `rng`, in the space's order.
pub fn draw(space: &[Dim], rng: &mut Rng) -> toml::Table {
    space.iter().map(|d| (d.key().to_string(), d.draw(rng))).collect()
}

/// The search space of the registered method `name` (empty for a method without one, such as
/// methods registered by other crates or tests).
pub fn of(name: &str) -> &'static [Dim] {
    use crate::{baselines, gradient, metric_based};
    match name {
        "item-mean" => baselines::item_mean::SPACE,
        "pooled" => baselines::pooled::SPACE,
        "pooled-finetune" => baselines::pooled::FINETUNE_SPACE,
        "maml" | "fomaml" | "melu" | "melu-5" | "meta-sgd" => gradient::SPACE,
        "reptile" => gradient::reptile::SPACE,
        "meta-lstm" => gradient::meta_lstm::SPACE,
        "protonet" | "matchingnet" | "relationnet" => metric_based::SPACE,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    /// Every drawn configuration of every registered method builds (the ranges are valid), and
    /// every key of a space is a key of the method's parameter table.
    #[test]
    fn every_space_draws_valid_parameters() {
        let reg = Registry::default();
        let mut rng = Rng::new(7);
        for info in reg.all() {
            let defaults = (info.build)(&toml::Table::new()).unwrap().params();
            for d in of(info.name) {
                assert!(defaults.contains_key(d.key()), "{}: `{}` is not a parameter", info.name, d.key());
            }
            for _ in 0..20 {
                let t = draw(of(info.name), &mut rng);
                (info.build)(&t).unwrap_or_else(|e| panic!("{}: {t:?}: {e}", info.name));
            }
        }
    }

    #[test]
    fn log_scale_draws_cover_the_range_evenly() {
        let d = Dim::Real { key: "lr", lo: 1e-4, hi: 1e-2, log: true };
        let mut rng = Rng::new(1);
        let xs: Vec<f64> = (0..4000).map(|_| d.draw(&mut rng).as_float().unwrap()).collect();
        assert!(xs.iter().all(|x| (1e-4..=1e-2).contains(x)));
        // Half the mass below the geometric midpoint 1e-3 (binomial sd 0.008 at n = 4000).
        let below = xs.iter().filter(|x| **x < 1e-3).count() as f64 / xs.len() as f64;
        assert!((below - 0.5).abs() < 0.03, "{below}");
        assert_eq!(round_sig(0.012345678, 4), 0.01235);
        assert_eq!(round_sig(12345.0, 2), 12000.0);
        assert_eq!(d.describe(), "[1e-4, 0.01] log");
        assert_eq!(Dim::Real { key: "p", lo: 0.0, hi: 0.5, log: false }.describe(), "[0, 0.5]");
        assert_eq!(Dim::Int { key: "k", lo: 5, hi: 40 }.describe(), "{5..=40}");
    }
}
