//! Hyper-parameters: serde structs with defaults, merged from TOML layers, validated once.
//!
//! Layers, later ones winning: the struct's defaults, the suite file's `[methods.NAME]`, a
//! config file's `[methods.NAME]`, the command line's `--set NAME.key=value`. The resolved
//! struct is serialised back into the manifest, so a run is rebuilt from it exactly.

use crate::{MethodError, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Validation of a hyper-parameter struct; the error names the field.
pub trait Check {
    /// `Err((field, message))` for the first invalid value.
    fn check(&self) -> std::result::Result<(), (&'static str, String)>;
}

/// Parses and validates `P` from a TOML table of overrides.
pub fn parse<P: DeserializeOwned + Serialize + Default + Check>(method: &str, table: &toml::Table) -> Result<P> {
    let known = to_table(&P::default());
    if let Some(key) = table.keys().find(|k| !known.contains_key(*k)) {
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        return Err(MethodError::Params {
            method: method.to_string(),
            message: format!("`{key}`: unknown key (known: {})", names.join(", ")),
        });
    }
    // Missing keys take `P`'s defaults explicitly: with `#[serde(flatten)]` a container's
    // `#[serde(default)]` does not reach the flattened struct, which would otherwise fall back to
    // its own `Default` (MeLU's and Reptile's defaults silently became MAML's).
    let mut full = known.clone();
    full.extend(table.iter().map(|(k, v)| (k.clone(), v.clone())));
    let value = toml::Value::Table(full);
    let params: P = match serde_path_to_error::deserialize(value) {
        Ok(p) => p,
        Err(e) => {
            let mut path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                // `#[serde(flatten)]` hides the path: find the key by trying each one alone.
                path = table
                    .iter()
                    .find(|(k, v)| {
                        let mut one = known.clone();
                        one.insert((*k).clone(), (*v).clone());
                        serde_path_to_error::deserialize::<_, P>(toml::Value::Table(one)).is_err()
                    })
                    .map(|(k, _)| k.clone())
                    .unwrap_or(path);
            }
            let inner = inner.trim();
            let message = if path == "." { inner.to_string() } else { format!("`{path}`: {inner}") };
            return Err(MethodError::Params { method: method.to_string(), message });
        }
    };
    params.check().map_err(|(field, message)| MethodError::Params {
        method: method.to_string(),
        message: format!("`{field}`: {message}"),
    })?;
    Ok(params)
}

/// The resolved hyper-parameters as a TOML table.
pub fn to_table<P: Serialize>(params: &P) -> toml::Table {
    toml::Table::try_from(params).expect("hyper-parameters serialise to a TOML table")
}

/// `Err` unless `x` is finite and positive.
pub fn positive(field: &'static str, x: f64) -> std::result::Result<(), (&'static str, String)> {
    if x.is_finite() && x > 0.0 { Ok(()) } else { Err((field, format!("must be positive and finite, got {x}"))) }
}

/// `Err` unless `x` is finite and non-negative.
pub fn non_negative(field: &'static str, x: f64) -> std::result::Result<(), (&'static str, String)> {
    if x.is_finite() && x >= 0.0 { Ok(()) } else { Err((field, format!("must be non-negative and finite, got {x}"))) }
}

/// `Err` unless `n >= min`.
pub fn at_least(field: &'static str, n: usize, min: usize) -> std::result::Result<(), (&'static str, String)> {
    if n >= min { Ok(()) } else { Err((field, format!("must be at least {min}, got {n}"))) }
}
