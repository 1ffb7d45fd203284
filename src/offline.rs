//! Off-policy suites in a run (`data.kind = "open-bandit"`): logged bandit feedback evaluated
//! offline by `metarec_interactive::ope`, outside the grid of cells.
//!
//! Such a suite has no rating split, no methods and no per-user values: for each of its seeds,
//! every (policy, estimator) estimate with its bootstrap interval, plus the on-policy rows,
//! goes to `off-policy.csv` (format: `metarec_reports::off_policy`; why not results.csv: see
//! there). The run directory gets the manifest (with the data's install record and a summary of
//! the logs read), an empty `results.csv` (header only) and the reports, whose "Off-policy
//! estimates" section reads `off-policy.csv`. The evaluation takes seconds, so a resumed run
//! recomputes it, byte-identically (every random stream is seeded from the suite and seed).
//! A spec that mixes off-policy and rating suites is refused: run them separately.

use crate::RunError;
use crate::provenance::{self, utc_now};
use crate::rundir::{DataInfo, Manifest, write_atomic};
use crate::runner::{Event, RunOptions, RunOutcome, check_same_code, prepare_dir, run_info};
use crate::spec::RunSpec;
use metarec_interactive::ope::evaluate::{evaluate, read_suite_data};
use metarec_methods::Registry;
use metarec_reports::off_policy::{OFF_POLICY_FILE, write_off_policy};
use metarec_suites::LoadedSuite;
use metarec_suites::offline::{OPEN_BANDIT_DATA, OPEN_BANDIT_KIND};

/// Whether `suite` is an off-policy suite.
pub(crate) fn is_offline(suite: &LoadedSuite) -> bool {
    suite.def.data.kind == OPEN_BANDIT_KIND
}

/// `Some(suites)` when every suite of `spec` is an off-policy one, `None` when none is; an error
/// naming them when the spec mixes both.
pub(crate) fn offline_suites(spec: &RunSpec) -> Result<Option<Vec<LoadedSuite>>, RunError> {
    let suites = spec.load_suites()?;
    let offline: Vec<&str> = suites.iter().filter(|s| is_offline(s)).map(|s| s.name()).collect();
    if offline.is_empty() {
        return Ok(None);
    }
    if offline.len() < suites.len() {
        return Err(RunError::Input(format!(
            "--suite: {} evaluated offline (data.kind = \"{OPEN_BANDIT_KIND}\") and cannot share a run with rating \
             suites; run them with a bench of their own",
            offline.join(", ")
        )));
    }
    Ok(Some(suites))
}

/// Evaluates the off-policy suites of `spec` into `opts.out` (see the module docs).
pub(crate) fn run(
    spec: &RunSpec,
    suites: &[LoadedSuite],
    registry: &Registry,
    opts: &RunOptions,
    on_event: &(dyn Fn(&Event<'_>) + Sync),
) -> Result<RunOutcome, RunError> {
    if opts.shard.is_some() {
        return Err(RunError::Input("--shard: an off-policy suite has no cells to shard; run it whole".into()));
    }
    let previous = prepare_dir(spec, opts)?;
    let out = opts.out.clone();
    let (prov, diff) = provenance::collect(&opts.repo);
    if let Some(old) = &previous {
        check_same_code(&out, &old.provenance, &prov, opts.force)?;
    }
    let data_dir = metarec_suites::store::resolve_data_dir(opts.data_dir.as_deref());
    let mut infos = Vec::new();
    let mut rows = Vec::new();
    for (loaded, s) in suites.iter().zip(&spec.suites) {
        let ob = loaded.def.open_bandit.clone().unwrap_or_default();
        let (dir, install) = loaded.data_folder(OPEN_BANDIT_DATA, &data_dir).map_err(RunError::Suite)?;
        let data = read_suite_data(&ob, &dir).map_err(|e| RunError::Input(format!("{}: {e}", loaded.source)))?;
        let mut report = toml::Table::new();
        for (key, logs) in [("behavior", &data.behavior), ("on_policy", &data.on_policy), ("fit", &data.fit)] {
            let mut t = toml::Table::new();
            t.insert("file".into(), logs.source.clone().into());
            t.insert("rounds".into(), (logs.n_rounds() as i64).into());
            t.insert("clicks".into(), (logs.reward.iter().sum::<f64>() as i64).into());
            t.insert("actions".into(), (logs.n_actions as i64).into());
            t.insert("positions".into(), (logs.len_list as i64).into());
            report.insert(key.into(), t.into());
        }
        let info = DataInfo {
            suite: loaded.name().to_string(),
            sha256: install.sha256.clone(),
            split_sha256: String::new(),
            n_users: 0,
            n_items: data.behavior.n_actions,
            n_ratings: data.behavior.n_rounds(),
            meta_train_users: 0,
            validation_users: 0,
            scenarios: Default::default(),
            resolved: loaded.resolved(),
            load_report: Some(install.record(report)),
            robustness: Vec::new(),
        };
        on_event(&Event::SuiteReady { info: &info });
        infos.push(info);
        for &seed in &s.seeds {
            rows.extend(
                evaluate(&ob, &data, loaded.name(), seed)
                    .map_err(|e| RunError::Input(format!("{}: seed {seed}: {e}", loaded.source)))?,
            );
        }
    }
    let mut csv = Vec::new();
    write_off_policy(&mut csv, &rows).map_err(RunError::Report)?;
    let mut results = Vec::new();
    metarec_reports::results::write_rows(&mut results, &[], true).map_err(RunError::Report)?;

    let mut manifest = Manifest {
        run: run_info(previous.as_ref(), opts),
        provenance: prov,
        config_sha256: spec.config_hash(),
        data: infos,
        spec: spec.clone(),
        skipped: Vec::new(),
        cells: Vec::new(),
        commits: Vec::new(),
    };
    on_event(&Event::Planned { total: 0, already_done: 0, dir: &out });
    if let Some(d) = &diff {
        write_atomic(&out.join("dirty.patch"), d.as_bytes())?;
    }
    write_atomic(&out.join(OFF_POLICY_FILE), &csv)?;
    write_atomic(&crate::rundir::written(&out, crate::rundir::RESULTS), &metarec_reports::gz::compress(&results))?;
    manifest.run.status = "complete".into();
    manifest.run.finished = Some(utc_now());
    manifest.write(&out)?;
    crate::report::write_reports(&out, registry)?;
    Ok(RunOutcome { dir: out, manifest })
}
