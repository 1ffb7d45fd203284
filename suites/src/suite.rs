//! Suite definitions: the TOML files under `suites/` that name a dataset, its pin, the split
//! protocol, the default seeds and per-suite hyper-parameter overrides.
//!
//! ```toml
//! [suite]
//! name = "synthetic"
//! description = "..."
//! seeds = [0, 1, 2, 3, 4]
//! [data]
//! kind = "synthetic"      # or movielens-100k, movielens-1m, bookcrossing, melu-ml1m, recbole
//! seed = 20261124         # generator seed of the world (real data: seed of the split)
//! sha256 = "..."          # pin: the world's canonical serialization, or the real archive
//! path = "dir"            # real data only, optional: an extracted folder instead of the data
//!                         # directory's verified install (its pin is then the folder's hash)
//! [world]                 # WorldConfig fields; omitted ones take their defaults
//! [real]                  # RealOptions fields (cold-start rule, filter, expected counts)
//! [recbole]               # kind = "recbole": files and their pins, column mapping (real::recbole)
//! [melu]                  # kind = "melu-ml1m": MeLU's task options (real::melu)
//! [[robustness]]          # one evaluation under perturbation (repeatable); its steps compose
//! steps = [{ kind = "shots", k = 1 }, { kind = "label-noise", rate = 0.2 }]
//! [[robustness]]          # a meta-train perturbation: cells of its own (optionally some seeds)
//! steps = [{ kind = "shilling", profiles = 50, targets = [3, 17], filler = 20 }]
//! seeds = [0]
//! [interactive]           # optional: the online protocol (interactive::Interactive): env, slate, horizons
//! [protocol]              # Protocol fields
//! [protocol.candidates]   # optional: candidate ranking (item-side fairness, popularity bias)
//! sampled = 100           # unrated items sampled per test user, ranked with the query items
//! k = 10                  # top-k list length (default 10)
//! like = 4                # query ratings >= like are relevant (default 4)
//! [methods.pooled]        # hyper-parameter overrides for this suite (optional)
//! ```

use crate::data::Dataset;
use crate::real::{RealError, RealKind, RealOptions};
use crate::split::{Protocol, ProtocolError, Split, hex, make_split};
use crate::store::StoreError;
use crate::synthetic::{WorldConfig, WorldError, generate};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `data.kind` of a dataset in RecBole's atomic files, mapped by `[recbole]`.
pub const RECBOLE_KIND: &str = "recbole";
/// `data.kind` of MeLU's own ML-1M split.
pub const MELU_KIND: &str = "melu-ml1m";

/// The suites shipped inside the binary: `(name, file name, TOML text)`.
pub const EMBEDDED: &[(&str, &str, &str)] = &[
    ("synthetic", "suites/synthetic.toml", include_str!("../synthetic.toml")),
    ("synthetic-tiny", "suites/synthetic-tiny.toml", include_str!("../synthetic-tiny.toml")),
    ("movielens-100k", "suites/movielens-100k.toml", include_str!("../movielens-100k.toml")),
    ("movielens-1m", "suites/movielens-1m.toml", include_str!("../movielens-1m.toml")),
    ("bookcrossing", "suites/bookcrossing.toml", include_str!("../bookcrossing.toml")),
    ("melu-ml1m", "suites/melu-ml1m.toml", include_str!("../melu-ml1m.toml")),
    ("open-bandit", "suites/open-bandit.toml", include_str!("../open-bandit.toml")),
    ("interactive", "suites/interactive.toml", include_str!("../interactive.toml")),
    (
        "movielens-100k-interactive",
        "suites/movielens-100k-interactive.toml",
        include_str!("../movielens-100k-interactive.toml"),
    ),
    ("mtl-related", "suites/mtl-related.toml", include_str!("../mtl-related.toml")),
    ("mtl-unrelated", "suites/mtl-unrelated.toml", include_str!("../mtl-unrelated.toml")),
    ("movielens-100k-mtl", "suites/movielens-100k-mtl.toml", include_str!("../movielens-100k-mtl.toml")),
];

/// The tuning records (`cargo xtask tune` outputs) that embedded suites name in `suite.tuning`,
/// by path from the repository root.
pub const TUNING_RECORDS: &[(&str, &str)] = &[
    ("suites/tuning/synthetic.toml", include_str!("../tuning/synthetic.toml")),
    ("suites/tuning/movielens-100k.toml", include_str!("../tuning/movielens-100k.toml")),
];

/// The text of the tuning record `rel` named by the suite file `source` (relative to the suite
/// file's folder): an embedded record for the embedded suites, else the file. Returns the
/// record's path and text.
pub fn tuning_record(source: &str, rel: &str) -> Result<(String, String), SuiteError> {
    let path = std::path::Path::new(source).parent().unwrap_or(std::path::Path::new("")).join(rel);
    let path = path.to_string_lossy().into_owned();
    if EMBEDDED.iter().any(|e| e.1 == source) {
        return TUNING_RECORDS.iter().find(|r| r.0 == path).map(|r| (path.clone(), r.1.to_owned())).ok_or_else(|| {
            SuiteError::Parse { path: source.to_owned(), message: format!("suite.tuning: no embedded record `{path}`") }
        });
    }
    std::fs::read_to_string(&path)
        .map(|text| (path.clone(), text))
        .map_err(|e| SuiteError::Parse { path: source.to_owned(), message: format!("suite.tuning: {path}: {e}") })
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteMeta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds run when the command line gives none.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// The `cargo xtask tune` output this suite's [methods] tables were copied from, relative to
    /// the suite file (see [`tuning_record`]); the run records it and its report states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<String>,
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
    /// Real data: an extracted folder to read instead of the data directory's install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A parsed suite file.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDef {
    pub suite: SuiteMeta,
    pub data: DataSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldConfig>,
    /// Real data: loader options (the `sha256` and `seed` fields are taken from `[data]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real: Option<RealOptions>,
    /// `recbole`: the atomic files, their pins and the column mapping (see `real::recbole`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recbole: Option<crate::real::recbole::RecboleSpec>,
    /// `melu-ml1m`: MeLU's task options (see `real::melu`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub melu: Option<crate::real::melu::MeluOptions>,
    /// `open-bandit`: the logs, policies, estimators and bootstrap of an off-policy suite
    /// (see [`crate::offline`]).
    #[serde(default, rename = "open-bandit", skip_serializing_if = "Option::is_none")]
    pub open_bandit: Option<crate::offline::OpenBanditSpec>,
    #[serde(default)]
    pub protocol: Protocol,
    /// Per-method hyper-parameter overrides, `[methods.NAME]` tables.
    #[serde(default)]
    pub methods: toml::Table,
    /// Robustness evaluations: each is scored besides the clean one, with its label in the
    /// `perturbation` column of results.csv.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub robustness: Vec<Robustness>,
    /// The online interactive protocol (`metarec-interactive`): when present, cells play
    /// episodes of recommendations instead of scoring query ratings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive: Option<crate::interactive::Interactive>,
    /// Published results of this protocol, put beside ours in the reports (a reproduction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
    /// Several objectives per interaction (multi-task learning; see [`crate::objectives`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objectives: Option<crate::objectives::ObjectivesConfig>,
}

/// `[published]`: numbers a paper reports for this protocol, each tied to one of our methods,
/// a scenario and a metric of results.csv. The reports' reproduction section puts our mean and
/// 95% interval beside each; `notes` say what is known about why they may differ.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// The citation, e.g. `Lee et al. 2019 (MeLU), Table 2`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub values: Vec<PublishedValue>,
}

/// One published number.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedValue {
    /// Our method (registry name) that reproduces it.
    pub method: String,
    /// The paper's name for it (`MeLU-1`).
    pub label: String,
    pub scenario: String,
    /// A metric name of results.csv (`mae`, `ndcg@3`).
    pub metric: String,
    pub value: f64,
}

/// One robustness evaluation: perturbations applied in order to the clean split.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Robustness {
    pub steps: Vec<crate::perturb::Perturbation>,
    /// Meta-train perturbations only: the run seeds that get a cell of their own (default:
    /// every seed), to bound the cost of retraining; reports compare with the clean cells of
    /// the same seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<u64>>,
}

/// A perturbed copy of the suite's split. Test-time variants are scored with the clean
/// meta-trained model; variants that change meta-train data ([`Variant::trains`]) are cells of
/// their own, meta-trained on the perturbed split and features.
#[derive(Clone, Debug)]
pub struct Variant {
    /// [`crate::perturb::label`] of the steps: the `perturbation` column of results.csv.
    pub label: String,
    /// Whether a step changes meta-train data, validation tasks or the shared feature table
    /// ([`crate::perturb::Perturbation::changes_meta_train`]).
    pub trains: bool,
    /// For a variant that trains: the seeds it runs (`None`: every seed of the run).
    pub seeds: Option<Vec<u64>>,
    pub features: std::sync::Arc<crate::data::Features>,
    pub split: Split,
    pub changes: crate::perturb::ChangeLog,
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
    #[error(
        "{path}: data.kind `{kind}` is not supported (known: synthetic, movielens-100k, movielens-1m, bookcrossing, \
         melu-ml1m, recbole, open-bandit)"
    )]
    Kind { path: String, kind: String },
    #[error(
        "{path}: data.sha256 pins {pinned} but the generated world hashes to {actual}; the generator or [world] changed (update the pin only if that was intended)"
    )]
    Checksum { path: String, pinned: String, actual: String },
    #[error("{path}: data.sha256 pins {pinned} but {what} hashes to {actual}")]
    DataChecksum { path: String, what: String, pinned: String, actual: String },
    #[error("{path}: {source}")]
    Real { path: String, source: RealError },
    #[error("{path}: {source}")]
    Store { path: String, source: StoreError },
    #[error("{path}: {source}")]
    Objectives { path: String, source: crate::objectives::ObjectivesError },
    #[error("{path}: robustness[{index}].steps: {source}")]
    Perturb { path: String, index: usize, source: crate::perturb::PerturbError },
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
        RECBOLE_KIND => {
            let spec = def.recbole.as_ref().ok_or_else(|| SuiteError::Parse {
                path: source.to_string(),
                message: "data.kind = \"recbole\" needs a [recbole] table (files, columns, features)".into(),
            })?;
            let real = def.real.clone().unwrap_or_default();
            spec.check()
                .and_then(|_| real.check())
                .map_err(|e| SuiteError::Real { path: source.to_string(), source: e })?;
        }
        MELU_KIND => {
            def.melu
                .clone()
                .unwrap_or_default()
                .check()
                .map_err(|e| SuiteError::Real { path: source.to_string(), source: e })?;
        }
        crate::offline::OPEN_BANDIT_KIND => {
            def.open_bandit
                .clone()
                .unwrap_or_default()
                .check()
                .map_err(|message| SuiteError::Parse { path: source.to_string(), message })?;
        }
        other => match RealKind::parse(other) {
            Some(_) => {
                if let Some(real) = &def.real {
                    real.check().map_err(|e| SuiteError::Real { path: source.to_string(), source: e })?;
                }
            }
            None => return Err(SuiteError::Kind { path: source.to_string(), kind: other.to_string() }),
        },
    }
    if let Some(i) = &def.interactive {
        if !def.robustness.is_empty() {
            return Err(SuiteError::Parse {
                path: source.to_string(),
                message:
                    "robustness: [[robustness]] evaluations are not defined for the online protocol ([interactive])"
                        .into(),
            });
        }
        i.check().map_err(|e| SuiteError::Parse { path: source.to_string(), message: e.to_string() })?;
        if i.env == crate::interactive::EnvKind::Truth && def.data.kind != "synthetic" {
            return Err(SuiteError::Parse {
                path: source.to_string(),
                message: format!(
                    "interactive.env: \"truth\" needs a synthetic world (data.kind = \"synthetic\"), not `{}`; use \"replay\"",
                    def.data.kind
                ),
            });
        }
    }
    if let Some(p) = &def.published {
        let bad = |message: String| SuiteError::Parse { path: source.to_string(), message };
        for (i, v) in p.values.iter().enumerate() {
            if crate::split::Scenario::parse(&v.scenario).is_none() {
                return Err(bad(format!(
                    "published.values[{i}].scenario: unknown scenario `{}` (known: warm, user-cold, item-cold, \
                     user-item-cold)",
                    v.scenario
                )));
            }
            if !v.value.is_finite() {
                return Err(bad(format!("published.values[{i}].value: {} is not a number", v.value)));
            }
            if v.method.is_empty() || v.metric.is_empty() {
                return Err(bad(format!("published.values[{i}]: method and metric must not be empty")));
            }
        }
    }
    if let Some(o) = &def.objectives {
        let oerr = |e| SuiteError::Objectives { path: source.to_string(), source: e };
        // The synthetic world and MovieLens provide objectives besides the rating.
        let movielens = matches!(def.data.kind.as_str(), "movielens-100k" | "movielens-1m");
        let available: &[(&str, crate::objectives::ObjectiveKind)] = if def.data.kind == "synthetic" {
            &crate::objectives::SYNTHETIC_OBJECTIVES
        } else if movielens {
            &crate::objectives::MOVIELENS_OBJECTIVES
        } else {
            &crate::objectives::SYNTHETIC_OBJECTIVES[..1]
        };
        o.check(available).map_err(oerr)?;
        if def.data.kind == "synthetic" {
            let n_ages = def.world.clone().unwrap_or_default().n_ages;
            o.groups(&crate::objectives::synthetic_leaves(n_ages)).map_err(oerr)?;
        }
        // MovieLens's tree leaves (gender/age pairs) are known once the data is read.
        if def.data.kind != "synthetic" && !movielens && !o.tree.is_empty() {
            return Err(oerr(crate::objectives::ObjectivesError {
                key: "tree".into(),
                message: format!("data.kind `{}` has no user-group tree", def.data.kind),
            }));
        }
    }
    let mut labels = std::collections::BTreeSet::new();
    let mut shilling_targets: Option<Vec<u32>> = None;
    for (i, r) in def.robustness.iter().enumerate() {
        let bad = |message: String| SuiteError::Parse { path: source.to_string(), message };
        if r.steps.is_empty() {
            return Err(bad(format!("robustness[{i}].steps must name at least one perturbation")));
        }
        if r.seeds.as_ref().is_some_and(|s| s.is_empty()) {
            return Err(bad(format!("robustness[{i}].seeds must name at least one seed (or be left out: every seed)")));
        }
        if r.seeds.is_some() && !r.steps.iter().any(|p| p.changes_meta_train()) {
            return Err(bad(format!(
                "robustness[{i}].seeds: only perturbations of meta-train data run cells of their own; `{}` is \
                 scored in every clean cell",
                crate::perturb::label(&r.steps)
            )));
        }
        for (j, p) in r.steps.iter().enumerate() {
            if let crate::perturb::Perturbation::Shilling { targets, .. } = p {
                match &shilling_targets {
                    None => shilling_targets = Some(targets.clone()),
                    Some(t) if t == targets => {}
                    Some(t) => {
                        return Err(bad(format!(
                            "robustness[{i}].steps[{j}].targets: {targets:?} differ from an earlier attack's {t:?}; \
                             every shilling attack of a suite must share its targets (the target metrics compare \
                             each attack with the clean run)"
                        )));
                    }
                }
            }
        }
        if !labels.insert(crate::perturb::label(&r.steps)) {
            return Err(bad(format!("robustness[{i}] repeats `{}`", crate::perturb::label(&r.steps))));
        }
    }
    Ok(LoadedSuite { def, source: source.to_string(), text: text.to_string() })
}

impl LoadedSuite {
    /// Applies every `[[robustness]]` evaluation to the clean split (seeded by the data seed,
    /// so every method and run seed sees the same perturbed tasks).
    fn with_variants(
        &self,
        dataset: Dataset,
        split: Split,
        load_report: Option<toml::Table>,
    ) -> Result<Materialized, SuiteError> {
        let mut variants = Vec::new();
        for (index, r) in self.def.robustness.iter().enumerate() {
            let err = |source| SuiteError::Perturb { path: self.source.clone(), index, source };
            crate::perturb::check_all(&r.steps, &dataset).map_err(err)?;
            let p = crate::perturb::apply(&dataset, &split, &r.steps, self.def.data.seed).map_err(err)?;
            variants.push(Variant {
                label: crate::perturb::label(&r.steps),
                trains: r.steps.iter().any(|p| p.changes_meta_train()),
                seeds: r.seeds.clone(),
                features: p.features,
                split: p.split,
                changes: p.changes,
            });
        }
        let shilling_targets = self
            .def
            .robustness
            .iter()
            .flat_map(|r| &r.steps)
            .find_map(|p| match p {
                crate::perturb::Perturbation::Shilling { targets, .. } => Some(targets.clone()),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Materialized { dataset, split, load_report, variants, shilling_targets, objectives: None })
    }

    fn materialize_real(&self, kind: RealKind, data_dir: &Path) -> Result<Materialized, SuiteError> {
        let path = self.source.clone();
        let (dir, install) = self.data_folder(kind.name(), data_dir)?;
        let sha256 = install.sha256.clone();
        let mut opts = self.def.real.clone().unwrap_or_default();
        opts.sha256 = sha256;
        opts.seed = self.def.data.seed;
        let data =
            crate::real::load(kind, &dir, &opts).map_err(|source| SuiteError::Real { path: path.clone(), source })?;
        let split =
            make_split(&data.dataset, data.user_is_new, data.item_is_new, &self.def.protocol, self.def.data.seed)
                .map_err(|e| SuiteError::Protocol { path: path.clone(), source: e })?;
        let load_report = toml::Table::try_from(&data.report).ok().map(|t| install.record(t));
        let objectives = match &self.def.objectives {
            Some(o) if matches!(kind, RealKind::MovieLens100k | RealKind::MovieLens1m) => Some(
                crate::objectives::generate_movielens(o, &data.dataset, &split, self.def.data.seed)
                    .map_err(|source| SuiteError::Objectives { path: path.clone(), source })?,
            ),
            Some(_) => {
                let message = format!("data.kind `{kind}` has no objectives besides the rating");
                let source = crate::objectives::ObjectivesError { key: "names".into(), message };
                return Err(SuiteError::Objectives { path, source });
            }
            None => None,
        };
        let mut m = self.with_variants(data.dataset, split, load_report)?;
        m.objectives = objectives;
        Ok(m)
    }

    /// The folder a real suite reads, and how it got there. With `data.path`, that folder (its
    /// pin is the folder's hash); else the data directory's verified install of `name`, whose
    /// `data.sha256` pin applies to the archive route only: the other routes (a package such
    /// as RecBole's wheel, or a folder of files) were checked file by file against the
    /// registry's pins when installed, and again now.
    pub fn data_folder(&self, name: &str, data_dir: &Path) -> Result<(PathBuf, Install), SuiteError> {
        let path = self.source.clone();
        match &self.def.data.path {
            Some(p) => {
                // Relative to the suite file's folder, so a suite file and its data can travel together.
                let base = Path::new(&self.source).parent().unwrap_or(Path::new("."));
                let dir = if Path::new(p).is_absolute() { PathBuf::from(p) } else { base.join(p) };
                let sha = folder_sha256(&dir).map_err(|source| SuiteError::Io {
                    path: format!("{path}: data.path {}", dir.display()),
                    source,
                })?;
                if let Some(pin) = &self.def.data.sha256
                    && *pin != sha
                {
                    let what = format!("the folder {}", dir.display());
                    return Err(SuiteError::DataChecksum { path, what, pinned: pin.clone(), actual: sha });
                }
                let install =
                    Install { route: "path".into(), source: dir.display().to_string(), sha256: sha, members: vec![] };
                Ok((dir, install))
            }
            None => {
                let store = |source| SuiteError::Store { path: path.clone(), source };
                let (dir, marker) = crate::store::installed_dir(data_dir, name).map_err(store)?;
                if marker.route == crate::store::ARCHIVE_ROUTE
                    && let Some(pin) = &self.def.data.sha256
                    && *pin != marker.sha256
                {
                    let what = format!("the installed archive of {name}");
                    return Err(SuiteError::DataChecksum { path, what, pinned: pin.clone(), actual: marker.sha256 });
                }
                let install = Install {
                    route: marker.route,
                    source: marker.source,
                    sha256: marker.sha256,
                    members: marker.members.into_iter().map(|m| (m.file, m.sha256)).collect(),
                };
                Ok((dir, install))
            }
        }
    }
}

/// How a real suite's data was installed (recorded in the manifest beside the load report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Install {
    /// The store's route (`archive`, `recbole-wheel`, `official-files`, ...), or `path` for
    /// `data.path`.
    pub route: String,
    pub source: String,
    /// The archive's SHA-256, or for installs without an archive the digest of the members.
    pub sha256: String,
    /// The files the loader reads with their SHA-256 (empty for archive installs).
    pub members: Vec<(String, String)>,
}

impl Install {
    /// `report` with an `install` table added: route, source, sha256 and the members' hashes.
    pub fn record(&self, mut report: toml::Table) -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("route".into(), self.route.clone().into());
        t.insert("source".into(), self.source.clone().into());
        t.insert("sha256".into(), self.sha256.clone().into());
        let members: toml::Table =
            self.members.iter().map(|(f, h)| (f.clone(), toml::Value::from(h.clone()))).collect();
        if !members.is_empty() {
            t.insert("members".into(), members.into());
        }
        report.insert("install".into(), t.into());
        report
    }
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
    /// Real data: what the loader read, kept and refused (recorded in the manifest).
    pub load_report: Option<toml::Table>,
    /// The `[[robustness]]` evaluations, in file order.
    pub variants: Vec<Variant>,
    /// The target items of the suite's shilling attacks (every attack of a suite shares them;
    /// empty without one): the runner scores their predicted rating and hit ratio in the clean
    /// and attacked cells alike.
    pub shilling_targets: Vec<u32>,
    /// The suite's objectives (multi-task suites only).
    pub objectives: Option<crate::objectives::SuiteObjectives>,
}

/// SHA-256 of a folder's files: for each file in sorted relative-path order, its path, a NUL,
/// its length as 8 little-endian bytes, then its bytes.
pub fn folder_sha256(dir: &Path) -> std::io::Result<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, base, out)?;
            } else {
                let rel = path.strip_prefix(base).unwrap_or(&path).to_string_lossy().replace('\\', "/");
                out.push((rel, path));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for (rel, path) in files {
        let bytes = std::fs::read(&path)?;
        h.update(rel.as_bytes());
        h.update([0u8]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(hex(&h.finalize()))
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

    /// Generates or loads the data, checks its pin, and builds the split. Real data is read
    /// from the data directory of [`crate::store::resolve_data_dir`] with no flag given.
    pub fn materialize(&self) -> Result<Materialized, SuiteError> {
        self.materialize_in(&crate::store::resolve_data_dir(None))
    }

    /// As [`LoadedSuite::materialize`], reading real data from `data_dir`.
    pub fn materialize_in(&self, data_dir: &Path) -> Result<Materialized, SuiteError> {
        let path = self.source.clone();
        match self.def.data.kind.as_str() {
            "synthetic" => {
                let cfg = self.def.world.clone().unwrap_or_default();
                let mut world = generate(&cfg, self.def.data.seed, self.name())
                    .map_err(|e| SuiteError::World { path: path.clone(), source: e })?;
                // Objectives extend the canonical bytes, so the pin covers their labels; a suite
                // without `[objectives]` hashes as before.
                let mut objectives = None;
                if let Some(o) = &self.def.objectives {
                    let truth = world.dataset.truth.as_deref().expect("synthetic worlds carry their truth");
                    // The task tree's leaf of each user: observable group x age bucket.
                    let leaves = crate::objectives::synthetic_leaves(cfg.n_ages);
                    let fields = world.dataset.features.schema.user_fields.len();
                    let age = world.dataset.features.schema.user_fields.iter().position(|f| f.name == "age");
                    let age = age.expect("the synthetic world has an age field");
                    let user_leaf: Vec<u32> = (0..world.user_group.len())
                        .map(|u| {
                            world.user_group[u] * cfg.n_ages as u32 + world.dataset.features.user_cat[u * fields + age]
                        })
                        .collect();
                    let (obj, canon) = crate::objectives::generate_synthetic(
                        o,
                        truth,
                        &world.user_cluster,
                        cfg.n_clusters,
                        &leaves,
                        &user_leaf,
                        &world.dataset.ratings,
                        self.def.data.seed,
                    )
                    .map_err(|source| SuiteError::Objectives { path: path.clone(), source })?;
                    world.canonical.push_str(&canon);
                    world.dataset.sha256 = crate::split::hex(&Sha256::digest(world.canonical.as_bytes()));
                    objectives = Some(obj);
                }
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
                let mut m = self.with_variants(world.dataset, split, None)?;
                m.objectives = objectives;
                Ok(m)
            }
            RECBOLE_KIND => {
                let spec = self.def.recbole.clone().expect("checked when parsed");
                let (dir, install) = self.data_folder(&spec.dataset, data_dir)?;
                let mut opts = self.def.real.clone().unwrap_or_default();
                opts.sha256 = install.sha256.clone();
                opts.seed = self.def.data.seed;
                let data = crate::real::recbole::load(&dir, &spec, &opts)
                    .map_err(|source| SuiteError::Real { path: path.clone(), source })?;
                let split = make_split(
                    &data.dataset,
                    data.user_is_new,
                    data.item_is_new,
                    &self.def.protocol,
                    self.def.data.seed,
                )
                .map_err(|e| SuiteError::Protocol { path: path.clone(), source: e })?;
                let load_report = toml::Table::try_from(&data.report).ok().map(|t| install.record(t));
                self.with_variants(data.dataset, split, load_report)
            }
            crate::offline::OPEN_BANDIT_KIND => Err(SuiteError::Parse {
                path,
                message: "an off-policy suite (data.kind = \"open-bandit\") has no rating split; `cargo xtask bench \
                          --suite` evaluates it on its own"
                    .into(),
            }),
            MELU_KIND => {
                let (dir, install) = self.data_folder(MELU_KIND, data_dir)?;
                let opts = self.def.melu.clone().unwrap_or_default();
                let data =
                    crate::real::melu::load(&dir, &opts, &self.def.protocol, self.def.data.seed, &install.sha256)
                        .map_err(|source| SuiteError::Real { path: path.clone(), source })?;
                let load_report = toml::Table::try_from(&data.report).ok().map(|t| install.record(t));
                self.with_variants(data.dataset, data.split, load_report)
            }
            other => {
                let kind = RealKind::parse(other)
                    .ok_or_else(|| SuiteError::Kind { path: path.clone(), kind: other.into() })?;
                self.materialize_real(kind, data_dir)
            }
        }
    }
}

#[cfg(test)]
mod published_tests {
    use super::*;

    #[test]
    fn published_values_are_checked_naming_the_key() {
        let base = "[suite]\nname = \"p\"\ndescription = \"d\"\nseeds = [0]\n[data]\nkind = \"synthetic\"\nseed = 1\n";
        let with = |v: &str| format!("{base}[published]\nsource = \"paper\"\nvalues = [{v}]\n");
        let ok = parse_suite(
            &with(
                "{ method = \"melu\", label = \"MeLU-1\", scenario = \"user-cold\", metric = \"mae\", value = 0.79 }",
            ),
            "p.toml",
        )
        .unwrap();
        assert_eq!(ok.def.published.as_ref().unwrap().values[0].value, 0.79);
        let err = parse_suite(
            &with("{ method = \"melu\", label = \"MeLU-1\", scenario = \"cold\", metric = \"mae\", value = 0.79 }"),
            "p.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("p.toml") && err.contains("published.values[0].scenario: unknown scenario `cold`"),
            "{err}"
        );
        let err = parse_suite(
            &with(
                "{ method = \"melu\", label = \"x\", scenario = \"warm\", metric = \"mae\", value = 0.7, extra = 1 }",
            ),
            "p.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("extra"), "{err}");
    }
}
