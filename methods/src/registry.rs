//! The registry: method names to constructors, so configs and the CLI name methods by string.

use crate::{Method, MethodError, Result, baselines};

/// What kind of row a method is in a leaderboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    /// A bound, not a competitor (the oracle): shown, marked, not ranked.
    Reference,
    /// A non-meta baseline.
    Baseline,
    /// A meta-learner.
    MetaLearner,
}

impl MethodKind {
    pub fn name(self) -> &'static str {
        match self {
            MethodKind::Reference => "reference",
            MethodKind::Baseline => "baseline",
            MethodKind::MetaLearner => "meta-learner",
        }
    }
}

/// One registered method.
#[derive(Clone)]
pub struct MethodInfo {
    pub name: &'static str,
    pub kind: MethodKind,
    pub summary: &'static str,
    /// Builds the method from a table of hyper-parameter overrides (validated).
    pub build: fn(&toml::Table) -> Result<Box<dyn Method>>,
    /// Whether `cargo xtask bench` runs it when no `--methods` is given.
    pub default_run: bool,
}

/// Name -> constructor, in a fixed order (the order of the default run).
#[derive(Clone)]
pub struct Registry {
    methods: Vec<MethodInfo>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            methods: baselines::infos()
                .into_iter()
                .chain(crate::gradient::infos())
                .chain(crate::metric_based::infos())
                .chain(crate::mtl::infos())
                .collect(),
        }
    }
}

impl Registry {
    /// An empty registry (tests register their own methods).
    pub fn empty() -> Registry {
        Registry { methods: Vec::new() }
    }

    /// Adds or replaces a method.
    pub fn register(&mut self, info: MethodInfo) {
        self.methods.retain(|m| m.name != info.name);
        self.methods.push(info);
    }

    pub fn all(&self) -> &[MethodInfo] {
        &self.methods
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.methods.iter().map(|m| m.name).collect()
    }

    pub fn get(&self, name: &str) -> Result<&MethodInfo> {
        self.methods
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| MethodError::Unknown { name: name.to_string(), known: self.names().join(", ") })
    }

    /// The methods a plain `cargo xtask bench` runs.
    pub fn default_names(&self) -> Vec<&'static str> {
        self.methods.iter().filter(|m| m.default_run).map(|m| m.name).collect()
    }
}
