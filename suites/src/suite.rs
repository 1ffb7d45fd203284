//! Suite definitions: the TOML files under `suites/` that name a dataset, its pin, the split
//! protocol, the default seeds and per-suite hyper-parameter overrides.
//!
//! ```toml
//! [suite]
//! name = "synthetic"
//! description = "..."
//! seeds = [0, 1, 2, 3, 4]
//! [data]
//! kind = "synthetic"      # the only kind so far; real suites come with their loaders
//! seed = 20261124         # generator seed of the world
//! sha256 = "..."          # pin of the world's canonical serialization (optional for own worlds)
//! [world]                 # WorldConfig fields; omitted ones take their defaults
//! [protocol]              # Protocol fields
//! [methods.pooled]        # hyper-parameter overrides for this suite (optional)
//! ```

use crate::data::Dataset;
use crate::split::{Protocol, ProtocolError, Split, make_split};
use crate::synthetic::{WorldConfig, WorldError, generate};
use std::path::Path;

/// The suites shipped inside the binary: `(name, file name, TOML text)`.
pub const EMBEDDED: &[(&str, &str, &str)] = &[
    ("synthetic", "suites/synthetic.toml", include_str!("../synthetic.toml")),
    ("synthetic-tiny", "suites/synthetic-tiny.toml", include_str!("../synthetic-tiny.toml")),
];

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteMeta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds run when the command line gives none.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
}

fn default_seeds() -> Vec<u64> {
    (0..5).collect()
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    pub kind: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A parsed suite file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDef {
    pub suite: SuiteMeta,
    pub data: DataSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldConfig>,
    #[serde(default)]
    pub protocol: Protocol,
    /// Per-method hyper-parameter overrides, `[methods.NAME]` tables.
    #[serde(default)]
    pub methods: toml::Table,
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("unknown suite `{name}` (known: {known}; or give a path to a .toml file)")]
    Unknown { name: String, known: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {source}")]
    Protocol { path: String, source: ProtocolError },
    #[error("{path}: {source}")]
    World { path: String, source: WorldError },
    #[error("{path}: data.kind `{kind}` is not supported (known: synthetic)")]
    Kind { path: String, kind: String },
    #[error(
        "{path}: data.sha256 pins {pinned} but the generated world hashes to {actual}; the generator or [world] changed (update the pin only if that was intended)"
    )]
    Checksum { path: String, pinned: String, actual: String },
}

/// A suite definition with where it came from.
#[derive(Clone, Debug)]
pub struct LoadedSuite {
    pub def: SuiteDef,
    /// `suites/NAME.toml` for embedded suites, else the path given.
    pub source: String,
    /// The exact TOML text (recorded in the manifest, so a run can be reproduced without it).
    pub text: String,
}

/// Names of the embedded suites.
pub fn embedded_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|e| e.0).collect()
}

/// Resolves a suite by embedded name or by path to a `.toml` file.
pub fn load_suite(name_or_path: &str) -> Result<LoadedSuite, SuiteError> {
    if let Some((_, file, text)) = EMBEDDED.iter().find(|e| e.0 == name_or_path) {
        return parse_suite(text, file);
    }
    if name_or_path.ends_with(".toml") || Path::new(name_or_path).exists() {
        let text = std::fs::read_to_string(name_or_path)
            .map_err(|source| SuiteError::Io { path: name_or_path.to_string(), source })?;
        return parse_suite(&text, name_or_path);
    }
    Err(SuiteError::Unknown { name: name_or_path.to_string(), known: embedded_names().join(", ") })
}

/// Parses suite TOML text; `source` names it in errors.
pub fn parse_suite(text: &str, source: &str) -> Result<LoadedSuite, SuiteError> {
    let def: SuiteDef = toml::from_str(text)
        .map_err(|e| SuiteError::Parse { path: source.to_string(), message: one_line(&e.to_string()) })?;
    def.protocol.check().map_err(|e| SuiteError::Protocol { path: source.to_string(), source: e })?;
    if def.suite.seeds.is_empty() {
        return Err(SuiteError::Parse { path: source.to_string(), message: "suite.seeds must not be empty".into() });
    }
    match def.data.kind.as_str() {
        "synthetic" => {
            def.world
                .clone()
                .unwrap_or_default()
                .check()
                .map_err(|e| SuiteError::World { path: source.to_string(), source: e })?;
        }
        other => return Err(SuiteError::Kind { path: source.to_string(), kind: other.to_string() }),
    }
    Ok(LoadedSuite { def, source: source.to_string(), text: text.to_string() })
}

/// Collapses a multi-line parser message (toml prints a source excerpt) to one line.
pub fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A suite made concrete: its dataset and split.
#[derive(Clone, Debug)]
pub struct Materialized {
    pub dataset: Dataset,
    pub split: Split,
}

impl LoadedSuite {
    pub fn name(&self) -> &str {
        &self.def.suite.name
    }

    /// The definition with every default filled in, for the manifest.
    pub fn resolved(&self) -> toml::Table {
        let mut def = self.def.clone();
        if def.data.kind == "synthetic" && def.world.is_none() {
            def.world = Some(WorldConfig::default());
        }
        toml::Table::try_from(&def).expect("suite definition serialises")
    }

    /// Generates or loads the data, checks its pin, and builds the split.
    pub fn materialize(&self) -> Result<Materialized, SuiteError> {
        let path = self.source.clone();
        match self.def.data.kind.as_str() {
            "synthetic" => {
                let cfg = self.def.world.clone().unwrap_or_default();
                let world = generate(&cfg, self.def.data.seed, self.name())
                    .map_err(|e| SuiteError::World { path: path.clone(), source: e })?;
                if let Some(pin) = &self.def.data.sha256
                    && *pin != world.dataset.sha256
                {
                    return Err(SuiteError::Checksum {
                        path,
                        pinned: pin.clone(),
                        actual: world.dataset.sha256.clone(),
                    });
                }
                let split = make_split(
                    &world.dataset,
                    world.user_is_new,
                    world.item_is_new,
                    &self.def.protocol,
                    self.def.data.seed,
                )
                .map_err(|e| SuiteError::Protocol { path, source: e })?;
                Ok(Materialized { dataset: world.dataset, split })
            }
            other => Err(SuiteError::Kind { path, kind: other.to_string() }),
        }
    }
}
