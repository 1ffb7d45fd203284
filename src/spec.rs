//! The run specification: what to run, fully resolved. It is recorded in the manifest and is
//! all that `reproduce` needs to run the same grid again.

use crate::RunError;
use metarec_methods::Registry;
pub use metarec_reports::analysis::significance::Correction;
pub use metarec_reports::metrics::MaeEstimate;
use metarec_suites::{LoadedSuite, load_suite, parse_suite};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Where tensors run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
}

impl DeviceKind {
    pub fn parse(s: &str) -> Result<DeviceKind, RunError> {
        match s {
            "cpu" => Ok(DeviceKind::Cpu),
            "cuda" => Ok(DeviceKind::Cuda),
            other => Err(RunError::Input(format!("--device: unknown device `{other}` (known: cpu, cuda)"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        }
    }
}

/// One method with its resolved hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodSpec {
    pub name: String,
    pub params: toml::Table,
}

/// One suite with its exact definition, seeds and methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteSpec {
    pub name: String,
    /// The suite as named on the command line or its file.
    pub source: String,
    pub seeds: Vec<u64>,
    pub methods: Vec<MethodSpec>,
    /// The suite file's exact text.
    pub toml: String,
    /// The `cargo xtask tune` record the suite file's [methods] tables came from
    /// (`suite.tuning`), checked to hold the same values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<crate::tune::Tuning>,
}

/// The resolved grid: suites x methods x seeds on a device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub device: DeviceKind,
    pub suites: Vec<SuiteSpec>,
    /// The `[tuning]` record of the `--config` file, when `cargo xtask tune` wrote it: the
    /// budget, every trial and the choice (see [`crate::tune`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<crate::tune::Tuning>,
    /// What MAE scores (`--mae-estimate`); left out of the recorded spec when `own` (the
    /// default), so a default run's spec and config hash are as before the option existed.
    #[serde(default, skip_serializing_if = "is_own")]
    pub mae_estimate: MaeEstimate,
    /// How the reports adjust the comparisons with the best (`--correction`); left out when
    /// Holm (the default).
    #[serde(default, skip_serializing_if = "is_holm")]
    pub correction: Correction,
    /// Whether the reports add the paired differences from the best with BCa intervals, Cohen's
    /// d and Cliff's delta (`--paired-differences`); left out when not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paired_differences: bool,
}

fn is_holm(c: &Correction) -> bool {
    *c == Correction::Holm
}

fn is_own(m: &MaeEstimate) -> bool {
    *m == MaeEstimate::Own
}

impl RunSpec {
    /// SHA-256 of the spec's TOML: the config hash shown in reports.
    pub fn config_hash(&self) -> String {
        let text = toml::to_string(self).expect("spec serialises");
        metarec_suites::split::hex(&Sha256::digest(text.as_bytes()))
    }

    /// Re-parses each suite's recorded text.
    pub fn load_suites(&self) -> Result<Vec<LoadedSuite>, RunError> {
        self.suites.iter().map(|s| parse_suite(&s.toml, &s.source).map_err(RunError::Suite)).collect()
    }
}

/// What the command line asks for, before resolution.
#[derive(Clone, Debug, Default)]
pub struct BenchRequest {
    /// Suite names or paths; empty means `synthetic`.
    pub suites: Vec<String>,
    /// Method names; `None` means the registry's default run.
    pub methods: Option<Vec<String>>,
    /// Seeds; `None` means each suite's own.
    pub seeds: Option<Vec<u64>>,
    pub device: Option<String>,
    /// A TOML file with `[methods.NAME]` tables.
    pub config: Option<String>,
    /// `NAME.key=value` overrides.
    pub sets: Vec<String>,
    /// `--mae-estimate`: what MAE scores for every method.
    pub mae_estimate: MaeEstimate,
    /// `--correction`.
    pub correction: Correction,
    /// `--paired-differences`.
    pub paired_differences: bool,
}

/// Parses `0..5`, `3`, or `0,1,7` (ranges are half-open, as in Rust).
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, RunError> {
    let bad = |why: &str| RunError::Input(format!("--seeds `{s}`: {why} (examples: 0..5, 0,1,7, 3)"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if let Some((a, b)) = part.split_once("..") {
            let a: u64 = a.trim().parse().map_err(|_| bad("not a range of integers"))?;
            let b: u64 = b.trim().parse().map_err(|_| bad("not a range of integers"))?;
            if b <= a {
                return Err(bad("empty range"));
            }
            out.extend(a..b);
        } else {
            out.push(part.parse().map_err(|_| bad("not an integer"))?);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = out.iter().find(|x| !seen.insert(**x)) {
        return Err(bad(&format!("seed {d} is listed twice")));
    }
    Ok(out)
}

/// Parses one `NAME.key=value` override; `value` is TOML (a bare word is taken as a string).
fn parse_set(s: &str) -> Result<(String, String, toml::Value), RunError> {
    let bad = || RunError::Input(format!("--set `{s}`: expected METHOD.KEY=VALUE, e.g. pooled.lr=0.01"));
    let (lhs, value) = s.split_once('=').ok_or_else(bad)?;
    let (method, key) = lhs.trim().split_once('.').ok_or_else(bad)?;
    if method.is_empty() || key.is_empty() {
        return Err(bad());
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    Ok((method.to_string(), key.to_string(), parsed))
}

/// Reads a config file's `[methods.NAME]` tables and its `[tuning]` record.
fn read_config(path: &str) -> Result<(toml::Table, Option<crate::tune::Tuning>), RunError> {
    let text = std::fs::read_to_string(path).map_err(|e| RunError::Input(format!("--config {path}: {e}")))?;
    parse_config(&text, path)
}

/// A config file's `[methods.NAME]` tables and its `[tuning]` record, from its text.
fn parse_config(text: &str, path: &str) -> Result<(toml::Table, Option<crate::tune::Tuning>), RunError> {
    let mut table: toml::Table = toml::from_str(text)
        .map_err(|e| RunError::Input(format!("{path}: {}", metarec_suites::suite::one_line(&e.to_string()))))?;
    if let Some(k) = table.keys().find(|k| *k != "methods" && *k != "tuning") {
        return Err(RunError::Input(format!(
            "{path}: unknown top-level key `{k}` (a config file holds [methods.NAME] tables and `cargo xtask \
             tune`'s [tuning])"
        )));
    }
    let tuning = match table.remove("tuning") {
        None => None,
        Some(v) => Some(v.try_into().map_err(|e: toml::de::Error| {
            RunError::Input(format!("{path}: [tuning]: {}", metarec_suites::suite::one_line(&e.to_string())))
        })?),
    };
    match table.remove("methods") {
        None => Ok((toml::Table::new(), tuning)),
        Some(toml::Value::Table(t)) => Ok((t, tuning)),
        Some(_) => Err(RunError::Input(format!("{path}: `methods` must be a table of [methods.NAME] tables"))),
    }
}

/// The tuning record a suite file names (`suite.tuning`). It must be a record of this suite, and
/// every value it chose must be the suite file's, so that the two cannot drift apart.
fn suite_tuning(loaded: &metarec_suites::suite::LoadedSuite) -> Result<Option<crate::tune::Tuning>, RunError> {
    let Some(rel) = &loaded.def.suite.tuning else { return Ok(None) };
    let source = &loaded.source;
    let (path, text) = metarec_suites::suite::tuning_record(source, rel).map_err(RunError::Suite)?;
    let (methods, tuning) = parse_config(&text, &path)?;
    let tuning = tuning.ok_or_else(|| {
        RunError::Input(format!(
            "{source}: suite.tuning: {path} has no [tuning] record (write it with `cargo xtask tune`)"
        ))
    })?;
    if tuning.suite != loaded.def.suite.name {
        return Err(RunError::Input(format!(
            "{source}: suite.tuning: {path} tuned suite `{}`, not `{}`",
            tuning.suite, loaded.def.suite.name
        )));
    }
    for (m, chosen) in &methods {
        let in_suite = loaded.def.methods.get(m).and_then(toml::Value::as_table);
        for (k, v) in chosen.as_table().into_iter().flatten() {
            let here = in_suite.and_then(|t| t.get(k));
            if here != Some(v) {
                return Err(RunError::Input(format!(
                    "{source}: [methods.{m}].{k}: the tuning record {path} chose {v}, the suite file has {} (copy the \
                     record's [methods] tables into the suite file)",
                    here.map_or("no value".to_owned(), ToString::to_string)
                )));
            }
        }
    }
    Ok(Some(tuning))
}

fn method_table(layer: &toml::Table, method: &str, origin: &str) -> Result<toml::Table, RunError> {
    match layer.get(method) {
        None => Ok(toml::Table::new()),
        Some(toml::Value::Table(t)) => Ok(t.clone()),
        Some(_) => Err(RunError::Input(format!("{origin}: `methods.{method}` must be a table"))),
    }
}

/// Resolves a request against the registry: loads suites, layers hyper-parameters, validates.
pub fn resolve(req: &BenchRequest, registry: &Registry) -> Result<RunSpec, RunError> {
    let device = DeviceKind::parse(req.device.as_deref().unwrap_or("cpu"))?;
    let names: Vec<String> = match &req.methods {
        Some(m) if m.is_empty() => return Err(RunError::Input("--methods: empty list".into())),
        Some(m) => m.clone(),
        None => registry.default_names().iter().map(|s| s.to_string()).collect(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for n in &names {
        registry.get(n).map_err(RunError::Method)?;
        if !seen.insert(n) {
            return Err(RunError::Input(format!("--methods: `{n}` is listed twice")));
        }
    }
    let (config, tuning) = match &req.config {
        Some(p) => read_config(p)?,
        None => (toml::Table::new(), None),
    };
    for k in config.keys() {
        registry
            .get(k)
            .map_err(|e| RunError::Input(format!("{}: [methods.{k}]: {e}", req.config.as_deref().unwrap_or(""))))?;
    }
    let sets = req.sets.iter().map(|s| parse_set(s)).collect::<Result<Vec<_>, _>>()?;
    for (m, _, _) in &sets {
        registry.get(m).map_err(|e| RunError::Input(format!("--set {m}.…: {e}")))?;
    }
    let suite_names = if req.suites.is_empty() { vec!["synthetic".to_string()] } else { req.suites.clone() };
    let mut suites = Vec::new();
    for s in &suite_names {
        let loaded = load_suite(s).map_err(RunError::Suite)?;
        let seeds = req.seeds.clone().unwrap_or_else(|| loaded.def.suite.seeds.clone());
        // Without --methods, an interactive suite runs the methods its `[interactive]` lists.
        let suite_default: Option<Vec<String>> = loaded
            .def
            .interactive
            .as_ref()
            .filter(|i| req.methods.is_none() && !i.methods.is_empty())
            .map(|i| i.methods.clone());
        if let Some(list) = &suite_default {
            for n in list {
                registry.get(n).map_err(|e| RunError::Input(format!("{}: interactive.methods: {e}", loaded.source)))?;
            }
        }
        let mut methods = Vec::new();
        // An off-policy suite has no methods: its policies are in its own file.
        let offline = loaded.def.data.kind == metarec_suites::offline::OPEN_BANDIT_KIND;
        for n in suite_default.as_ref().unwrap_or(&names).iter().filter(|_| !offline) {
            let mut table = method_table(&loaded.def.methods, n, &loaded.source)?;
            table.extend(method_table(&config, n, req.config.as_deref().unwrap_or(""))?);
            for (m, k, v) in &sets {
                if m == n {
                    table.insert(k.clone(), v.clone());
                }
            }
            let method = (registry.get(n).map_err(RunError::Method)?.build)(&table).map_err(RunError::Method)?;
            methods.push(MethodSpec { name: n.clone(), params: method.params() });
        }
        suites.push(SuiteSpec {
            name: loaded.def.suite.name.clone(),
            source: loaded.source.clone(),
            seeds,
            methods,
            toml: loaded.text.clone(),
            tuning: suite_tuning(&loaded)?,
        });
    }
    // Checked once every suite's methods are known (an interactive suite may run its own list).
    for (m, _, _) in &sets {
        if !suites.iter().any(|s| s.methods.iter().any(|x| x.name == *m)) {
            let run: Vec<&str> = suites.iter().flat_map(|s| s.methods.iter().map(|x| x.name.as_str())).collect();
            return Err(RunError::Input(format!(
                "--set: method `{m}` is not in this run (--methods {})",
                run.join(",")
            )));
        }
    }
    let mut names_seen = std::collections::BTreeSet::new();
    for s in &suites {
        if !names_seen.insert(&s.name) {
            return Err(RunError::Input(format!("--suite: two suites are named `{}`", s.name)));
        }
    }
    Ok(RunSpec {
        device,
        suites,
        tuning,
        mae_estimate: req.mae_estimate,
        correction: req.correction,
        paired_differences: req.paired_differences,
    })
}

/// Is `path` inside a directory that looks like a run (has a manifest)?
pub fn is_run_dir(path: &Path) -> bool {
    path.join("manifest.toml").is_file()
}
