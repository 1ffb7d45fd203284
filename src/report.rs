//! Reports are a pure function of the run directory: `results.csv`, `groups.csv`,
//! `off-policy.csv` (off-policy suites) and `manifest.toml` in, `leaderboard.md`, `leaderboard.tex`, `report.html`, `significance.csv`,
//! `model-index.yml` and the figures of the robustness and fairness sections
//! (`figures/*.svg`) out. Each report carries the run's provenance (commit, dirty flag, config
//! hash, data hashes): the CSV in `#` comment lines above its header (pandas: `comment="#"`).

use crate::RunError;
use crate::rundir::{Manifest, write_atomic};
use metarec_methods::{MethodKind, Registry};
use metarec_reports::analysis::leaderboard::{Interval, LeaderboardOptions};
use metarec_reports::analysis::off_policy::PublishedEstimate;
use metarec_reports::analysis::reproduction::{Published, PublishedValue};
use metarec_reports::build::RunNotes;
use metarec_reports::build::run_notes::{SkippedMethod, TunedMethod, Tuning, TuningRecord};
use metarec_reports::off_policy::load_off_policy;
use metarec_reports::read::{load_item_side, read_groups};
use metarec_reports::report::render_reports;
pub use metarec_reports::report::{Documents, FigureFile, REPORT_FILES, render_documents};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The folder of a run directory that holds the figures of the robustness and fairness sections,
/// one SVG file each (`shot-curve-*.svg`, `group-gap-*.svg`; see
/// [`metarec_reports::render::figure_files`]).
pub const FIGURES_DIR: &str = "figures";

/// Rebuilds every report of the run in `dir`; returns the files written, relative to `dir`:
/// [`REPORT_FILES`], then the figures (`figures/NAME.svg`, in the order of
/// [`Documents::figures`]). SVG files of `figures/` that this report does not write (left by
/// an earlier one) are removed.
pub fn write_reports(dir: &Path, registry: &Registry) -> Result<Vec<String>, RunError> {
    let manifest = Manifest::read(dir)?;
    let results = crate::rundir::run_file(dir, crate::rundir::RESULTS);
    // The reports run when no cell does: their parallel parts (reading results.csv beside the
    // item-side files, the fairness section's permutation tests beside the robustness section)
    // get every core this process may use, on a pool of their own, since the CLI keeps rayon's
    // global pool at one thread for the cells. Bytes do not depend on the threads.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cores)
        .build()
        .map_err(|e| RunError::Input(format!("cannot start {cores} threads for the reports: {e}")))?;
    let (rows, item_side) = pool.install(|| {
        rayon::join(
            || {
                let mut rows = metarec_reports::results::read_rows(&results)?;
                // The attack diagnostics last (a stable sort: each metric's rows keep their
                // order), so that the reports take the other rows as a slice, not a copy.
                rows.sort_by_key(metarec_reports::report::is_diagnostic);
                Ok(rows)
            },
            || load_item_side(dir),
        )
    });
    let rows = rows.map_err(RunError::Report)?;
    let names = |kind: MethodKind| -> Vec<String> {
        registry.all().iter().filter(|m| m.kind == kind).map(|m| m.name.to_string()).collect()
    };
    // What each method's MAE scored, from its cells' records (the first that says).
    let mut mae_scored = BTreeMap::new();
    for c in &manifest.cells {
        if let Some(e) = c.notes.get("mae_scores") {
            mae_scored.entry(c.method.clone()).or_insert_with(|| e.clone());
        }
    }
    let opts = LeaderboardOptions {
        reference_methods: names(MethodKind::Reference),
        baseline_methods: names(MethodKind::Baseline),
        mae_estimate: manifest.spec.mae_estimate,
        mae_scored,
        correction: manifest.spec.correction,
        paired_differences: manifest.spec.paired_differences,
        interval: Interval::UsersAndSeeds,
    };
    let prov = crate::runner::provenance_for_reports(&manifest);
    let groups_path = dir.join("groups.csv");
    let groups = if groups_path.is_file() { Some(read_groups(&groups_path).map_err(RunError::Report)?) } else { None };
    let item_side = item_side.map_err(RunError::Report)?;
    let clean = clean_support(&manifest);
    let mut notes = run_notes(&manifest);
    notes.off_policy = load_off_policy(dir).map_err(RunError::Report)?.unwrap_or_default();
    let files = pool
        .install(|| {
            render_reports(
                &rows,
                groups.as_deref(),
                item_side.as_ref(),
                &prov,
                &opts,
                &|suite, scenario| clean_k(&clean, suite, scenario),
                &notes,
            )
        })
        .map_err(RunError::Report)?;
    for (name, bytes) in &files.files {
        write_atomic(&dir.join(name), bytes)?;
    }
    let mut written: Vec<String> = REPORT_FILES.iter().map(|f| f.to_string()).collect();
    written.extend(write_figures(dir, &files.figures)?);
    Ok(written)
}

/// What the manifest adds to the reports: the methods not run (`[[skipped]]`) and every suite's
/// `[published]` values (from its resolved definition in `[[data]]`).
fn run_notes(m: &Manifest) -> RunNotes {
    let skipped = m
        .skipped
        .iter()
        .map(|s| SkippedMethod { suite: s.suite.clone(), method: s.method.clone(), reason: s.reason.clone() })
        .collect();
    let published = m
        .data
        .iter()
        .filter_map(|d| {
            let p: metarec_suites::suite::Published = d.resolved.get("published")?.clone().try_into().ok()?;
            Some(Published {
                suite: d.suite.clone(),
                source: p.source,
                notes: p.notes,
                values: p
                    .values
                    .into_iter()
                    .map(|v| PublishedValue {
                        method: v.method,
                        label: v.label,
                        scenario: v.scenario,
                        metric: v.metric,
                        value: v.value,
                    })
                    .collect(),
            })
        })
        .collect();
    let off_policy_published = m
        .data
        .iter()
        .filter_map(|d| {
            let spec: metarec_suites::offline::OpenBanditSpec =
                d.resolved.get("open-bandit")?.clone().try_into().ok()?;
            Some(spec.published.into_iter().map(|p| PublishedEstimate {
                suite: d.suite.clone(),
                policy: p.policy,
                estimator: p.estimator,
                value: p.value,
                ci_low: p.ci_low,
                ci_high: p.ci_high,
                source: p.source,
            }))
        })
        .flatten()
        .collect();
    // Trainable parameter counts (multi-task methods note them), the same for every seed.
    let parameters = m
        .cells
        .iter()
        .filter_map(|c| Some(((c.suite.clone(), c.method.clone()), c.notes.get("parameters")?.parse().ok()?)))
        .collect();
    RunNotes {
        skipped,
        published,
        off_policy: Vec::new(),
        off_policy_published,
        tuning: Some(tuning_note(m)).filter(|t| !t.methods.is_empty()),
        parameters,
    }
}

/// The tuning section's input: the `--config` file's `[tuning]` record (from `cargo xtask tune`)
/// and the records the suite files name for theirs (a suite's own record gives way to a
/// `--config` record of the same suite), with the methods whose chosen values the run replaced.
fn tuning_note(m: &Manifest) -> Tuning {
    let mut methods: Vec<String> = Vec::new();
    for s in &m.spec.suites {
        for x in &s.methods {
            if !methods.contains(&x.name) {
                methods.push(x.name.clone());
            }
        }
    }
    let config = m.spec.tuning.iter().map(|t| (t, "the `--config` file".to_owned()));
    let suites = m.spec.suites.iter().filter_map(|s| {
        let t = s.tuning.as_ref()?;
        let superseded = m.spec.tuning.as_ref().is_some_and(|c| c.suite == s.name);
        (!superseded).then(|| (t, format!("the [methods] tables of suite file `{}`", s.source)))
    });
    let records = config
        .chain(suites)
        .map(|(t, from)| {
            let ran = m.spec.suites.iter().find(|s| s.name == t.suite);
            let changed = t
                .methods
                .iter()
                .filter(|x| {
                    let params = ran.and_then(|s| s.methods.iter().find(|r| r.name == x.name)).map(|r| &r.params);
                    params.is_some_and(|p| x.choice().values.iter().any(|(k, v)| p.get(k) != Some(v)))
                })
                .map(|x| x.name.clone())
                .collect();
            TuningRecord {
                from,
                changed,
                suite: t.suite.clone(),
                seed: t.seed,
                trials: t.trials,
                validation_users: t.validation_users,
                methods: t
                    .methods
                    .iter()
                    .map(|x| TunedMethod {
                        name: x.name.clone(),
                        trials: x.trials.len(),
                        space: x.space.clone(),
                        chosen: x
                            .choice()
                            .values
                            .iter()
                            .map(|(k, v)| format!("{k} = {v}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        untuned_rmse: x.trials.first().and_then(|t| t.rmse),
                        chosen_rmse: x.choice().rmse,
                    })
                    .collect(),
            }
        })
        .collect();
    Tuning { records, methods }
}

/// Per suite, the clean run's support size and whether every other rating is support
/// (`support_rest`), from the resolved suite definitions in the manifest's `[[data]]`.
fn clean_support(m: &Manifest) -> BTreeMap<String, (usize, bool)> {
    m.data
        .iter()
        .filter_map(|d| {
            let protocol = d.resolved.get("protocol")?.as_table()?;
            let support = usize::try_from(protocol.get("support")?.as_integer()?).ok()?;
            let rest = protocol.get("support_rest").and_then(|v| v.as_bool()).unwrap_or(false);
            Some((d.suite.clone(), (support, rest)))
        })
        .collect()
}

/// The clean K of a scenario: the protocol's `support`, except where every other rating is
/// support (`support_rest`: all scenarios but warm, whose tasks keep `support` ratings; see
/// `suites::split`), where K varies by user and is `None`.
fn clean_k(clean: &BTreeMap<String, (usize, bool)>, suite: &str, scenario: &str) -> Option<usize> {
    let &(support, rest) = clean.get(suite)?;
    (!rest || scenario == "warm").then_some(support)
}

/// Writes `files` under [`FIGURES_DIR`] (atomically) and removes the SVG files there that a
/// previous report wrote and this one does not (the folder too, when that leaves it empty);
/// returns the paths written, relative to `dir`.
fn write_figures(dir: &Path, files: &[FigureFile]) -> Result<Vec<String>, RunError> {
    let folder = dir.join(FIGURES_DIR);
    for f in files {
        write_atomic(&folder.join(&f.name), f.svg.as_bytes())?;
    }
    if folder.is_dir() {
        let keep: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for entry in std::fs::read_dir(&folder).map_err(|e| io_error(&folder, e))? {
            let path = entry.map_err(|e| io_error(&folder, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_file() && name.ends_with(".svg") && !keep.contains(name) {
                std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            }
        }
        if files.is_empty() && std::fs::read_dir(&folder).map_err(|e| io_error(&folder, e))?.next().is_none() {
            std::fs::remove_dir(&folder).map_err(|e| io_error(&folder, e))?;
        }
    }
    Ok(files.iter().map(|f| format!("{FIGURES_DIR}/{}", f.name)).collect())
}

fn io_error(path: &Path, source: std::io::Error) -> RunError {
    RunError::Io { path: path.display().to_string(), source }
}
