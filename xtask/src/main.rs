//! `cargo xtask`: the metarec command line. Thin: parses arguments, calls the `metarec`
//! library, prints progress.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use metarec::runner::{Event, RunOptions};
use metarec::spec::{BenchRequest, parse_seeds, resolve};
use metarec::{Registry, RunError};
use std::path::PathBuf;
use std::sync::Mutex;

mod cuda;
mod data;
mod device_check;
mod speed;

// candle allocates a buffer per op; glibc's allocator sends the larger ones through mmap and
// page faults (DESIGN.md measured about 30% of a MAML step). mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "metarec: benchmark meta-learning methods for personalized recommendation",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the grid suite x method x seed and write a run directory.
    ///
    /// Example: cargo xtask bench --suite synthetic --methods pooled,item-mean --seeds 0..3
    Bench(BenchArgs),
    /// Tune hyper-parameters with the same budget for every method: a seeded random search over
    /// each method's declared space, scored on meta-validation users only; writes a config file
    /// for `bench --config` that also records every trial.
    ///
    /// Example: cargo xtask tune --suite synthetic --trials 8 --out tuned/synthetic.toml
    Tune(TuneArgs),
    /// Plan the grid as a Slurm job array (DIR/array.sbatch); runs nothing.
    ///
    /// Writes the run directory with its manifest, the cell list (plan.toml) and a job array
    /// script (array.sbatch), one array task per cell (or per pack of cells). Submit with
    /// `sbatch DIR/array.sbatch`, then `merge DIR`. Takes every argument of `bench`.
    ///
    /// Example: cargo xtask plan --suite synthetic --seeds 0..10 --out /shared/runs/grid --partition cpu
    ///          --time 2:00:00 --concurrency 50
    Plan(PlanArgs),
    /// Run cells of a planned run: what one Slurm array task does.
    ///
    /// Finished cells are skipped; each cell is written atomically with its host, CPU
    /// features, device, commit and start/end.
    Cell(CellArgs),
    /// Assemble a planned or sharded run into results.csv and the reports.
    ///
    /// Checks that every cell finished under the plan's spec and code, prints the
    /// `sbatch --array=...` line that reruns missing or failed cells, and writes results.csv
    /// and the reports as `bench` does. Exits 1 unless every cell finished.
    Merge {
        /// The run directory.
        dir: PathBuf,
        /// Merge cells that ran under another spec, commit or dirty diff (each is recorded).
        #[arg(long)]
        force: bool,
        /// Where real datasets are installed (see `bench`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Rebuild every report of a run from its results.csv and manifest.toml.
    Report {
        /// The run directory.
        dir: PathBuf,
    },
    /// Re-run a run's recorded spec and check that results.csv is byte-identical.
    Reproduce {
        /// The run directory.
        dir: PathBuf,
        /// Cells run in parallel (default: the number of cores; 1 for a run made with `--device cuda`)
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Compare run B against run A (or a stored baseline): per suite, scenario, method and
    /// metric, the paired difference on shared users, its test and effect size. Exits 2 when
    /// there is a regression, 1 on an error or a refusal (different data or configs).
    ///
    /// Example: cargo xtask compare runs/old runs/new --threshold 0.02
    ///          cargo xtask compare runs/new --baseline synthetic-tiny
    Compare(CompareArgs),
    /// Manage real datasets: list, fetch, verify, add (an archive downloaded by hand).
    ///
    /// Example: cargo xtask data add movielens-100k ~/Downloads/ml-100k.zip
    Data(data::DataArgs),
    /// List the registered methods.
    Methods,
    /// List the embedded suites.
    Suites,
    /// Time one MAML meta-step at the MeLU shape against PyTorch (bmm, vmap, learn2learn), at 1
    /// thread and at the number of cores (or --threads).
    Speed {
        /// A Python with torch (and optionally learn2learn).
        #[arg(long, default_value = "python3")]
        python: String,
        /// Reuse the last criterion results instead of running the bench.
        #[arg(long)]
        skip_rust: bool,
        /// Thread counts to measure, comma-separated (default: 1 and the number of cores).
        #[arg(long, value_delimiter = ',')]
        threads: Option<Vec<usize>>,
        /// Rounds per thread count (sgemm, the criterion bench, sgemm); the table gives medians.
        #[arg(long, default_value_t = speed::ROUNDS)]
        rounds: usize,
    },
    /// Compare the MeLU-shape meta-gradient and meta-step time on CPU and a device.
    DeviceCheck {
        /// cuda (needs a build with `--features cuda`), or cpu.
        #[arg(long, default_value = "cuda")]
        device: String,
    },
    /// Build the CUDA binary (gpu-bin/metarec) on a machine without CUDA, from PyPI wheels.
    BuildCuda {
        /// Compute capability to compile kernels for (90: H100/H200).
        #[arg(long, default_value = "90")]
        compute_cap: String,
        /// CUDA wheels' version: not newer than the GPU machine's driver (13.0 for driver 580).
        #[arg(long, default_value = "13.0.88")]
        cuda_version: String,
    },
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Suite name or path to a suite .toml file (repeat or comma-separate for several).
    #[arg(long, value_delimiter = ',', default_value = "synthetic")]
    suite: Vec<String>,
    /// Methods to run, comma-separated (default: every registered method of the default run).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Seeds: a half-open range `0..5`, a list `0,1,7`, or one seed (default: the suite's).
    #[arg(long)]
    seeds: Option<String>,
    /// cpu, or cuda (needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Cells run in parallel (default: the number of cores; 1 with `--device cuda`, where every
    /// cell's context shares the one GPU).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run directory (default: runs/<utc-time>-<short-commit>). An existing run of the same
    /// config is resumed: finished cells are skipped.
    #[arg(long)]
    out: Option<PathBuf>,
    /// TOML file of hyper-parameters: [methods.NAME] tables.
    #[arg(long)]
    config: Option<String>,
    /// Override one hyper-parameter: METHOD.KEY=VALUE (repeatable), e.g. pooled.lr=0.01.
    #[arg(long = "set")]
    sets: Vec<String>,
    /// What MAE scores for every method: `own` (the median where a method gives one, else the
    /// mean; the default), `mean` or `median`. Recorded in the spec; the reports say it.
    #[arg(long, default_value = "own", value_parser = parse_mae_estimate)]
    mae_estimate: metarec::spec::MaeEstimate,
    /// How the reports adjust each table's p-values of the comparisons with the best and of the
    /// win/tie/loss counts: `holm` (family-wise error, the default) or `bh` (Benjamini-Hochberg,
    /// false discovery rate).
    #[arg(long, default_value = "holm", value_parser = parse_correction)]
    correction: metarec::spec::Correction,
    /// Add under each leaderboard table the paired differences from the best method with 95% BCa
    /// bootstrap intervals, Cohen's d and Cliff's delta.
    #[arg(long)]
    paired_differences: bool,
    /// Where real datasets are installed (default: $METAREC_DATA, else the user's cache
    /// directory + /metarec); see `cargo xtask data`.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Run only shard i of n (the cells whose plan index is i modulo n) into --out; when every
    /// shard has run, `cargo xtask merge DIR` assembles results.csv. Give every shard the same
    /// arguments and --out (a shared folder), e.g. --shard 0/4 .. --shard 3/4.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Resume a run begun under another commit or dirty diff (each cell records its own; the
    /// manifest lists them all). Without it such a resume is refused.
    #[arg(long)]
    force: bool,
}

fn parse_mae_estimate(s: &str) -> std::result::Result<metarec::spec::MaeEstimate, String> {
    metarec::spec::MaeEstimate::parse(s).ok_or_else(|| format!("`{s}`: want own, mean or median"))
}

fn parse_correction(s: &str) -> std::result::Result<metarec::spec::Correction, String> {
    metarec::spec::Correction::parse(s).ok_or_else(|| format!("`{s}`: want holm or bh"))
}

fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("`{s}`: want i/n with 0 <= i < n, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

#[derive(clap::Args)]
struct TuneArgs {
    /// Suite name or path to a suite .toml file (its meta-validation users score the trials).
    #[arg(long, default_value = "synthetic")]
    suite: String,
    /// Methods to tune, comma-separated (default: every method of the default run).
    #[arg(long, value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Trials per method (the budget; trial 0 is the untuned values).
    #[arg(long, default_value_t = 8)]
    trials: usize,
    /// Seed of the search and of each trial's meta-training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Base values (trial 0): a config file of [methods.NAME] tables.
    #[arg(long)]
    config: Option<String>,
    /// Override one base value: METHOD.KEY=VALUE (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Trials run in parallel (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// The config file to write (default: tuned-SUITE-seedN.toml).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where real datasets are installed (see `bench`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct PlanArgs {
    #[command(flatten)]
    bench: BenchArgs,
    /// Slurm partition of every task (default: the cluster's default).
    #[arg(long)]
    partition: Option<String>,
    /// Time limit of one task, Slurm syntax (e.g. 30, 2:00:00, 1-0).
    #[arg(long)]
    time: Option<String>,
    /// CPUs per task; the task's cells run on that many threads.
    #[arg(long, default_value_t = 1)]
    cpus_per_task: usize,
    /// Memory per task, Slurm syntax (e.g. 4G).
    #[arg(long)]
    mem: Option<String>,
    /// Generic resources per task (default gpu:1 with --device cuda).
    #[arg(long)]
    gres: Option<String>,
    /// At most this many tasks at once (the array's %K).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Cells per array task (raised automatically to stay under --array-limit).
    #[arg(long, default_value_t = 1)]
    cells_per_task: usize,
    /// The site's MaxArraySize (scontrol show config): array task indices stay below it.
    #[arg(long, default_value_t = 1001)]
    array_limit: usize,
    /// The binary that tasks run (default: this one); on a file system every node sees.
    #[arg(long)]
    binary: Option<PathBuf>,
}

#[derive(clap::Args)]
struct CellArgs {
    /// The planned run directory.
    dir: PathBuf,
    /// The cell to run, by its plan index (plan.toml).
    #[arg(long, required_unless_present = "task", conflicts_with = "task")]
    index: Option<usize>,
    /// The array task whose cells to run ($SLURM_ARRAY_TASK_ID).
    #[arg(long)]
    task: Option<usize>,
    /// Cells run in parallel.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Run under another commit or dirty diff than the plan's.
    #[arg(long)]
    force: bool,
    /// Where real datasets are installed (see `bench`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Progress: a bar on stderr and one line per finished cell on stdout.
fn progress() -> (Mutex<Option<ProgressBar>>, impl Fn(&Event<'_>, &Mutex<Option<ProgressBar>>) + Sync) {
    let bar: Mutex<Option<ProgressBar>> = Mutex::new(None);
    let handler = |e: &Event<'_>, bar: &Mutex<Option<ProgressBar>>| {
        let mut guard = bar.lock().expect("progress lock");
        match e {
            Event::SuiteReady { info } => println!("{}", metarec::runner::describe(info)),
            Event::MethodSkipped { skipped } => {
                println!("skipped {} on {}: {}", skipped.method, skipped.suite, skipped.reason)
            }
            Event::Planned { total, already_done, dir } => {
                println!("run directory: {}", dir.display());
                if *already_done > 0 {
                    println!("resuming: {already_done} of {total} cells already finished");
                }
                let pb = ProgressBar::new(*total as u64);
                pb.set_style(
                    ProgressStyle::with_template("{bar:40} {pos}/{len} cells  {elapsed_precise}").expect("template"),
                );
                pb.set_position(*already_done as u64);
                *guard = Some(pb);
            }
            Event::CellStarted { .. } => {}
            Event::CellFinished { record } => {
                let line = match &record.error {
                    None => format!(
                        "done   {}  meta-train {:.2}s  adapt {:.2}s{}",
                        record.name(),
                        record.meta_train_s,
                        record.adapt_s,
                        record.chosen_step.map(|s| format!("  chosen step {s}")).unwrap_or_default()
                    ),
                    Some(err) => format!("FAILED {}: {err}", record.name()),
                };
                match guard.as_ref() {
                    Some(pb) => {
                        pb.suspend(|| println!("{line}"));
                        pb.inc(1);
                    }
                    None => println!("{line}"),
                }
            }
        }
    };
    (bar, handler)
}

fn run_options(out: PathBuf, jobs: Option<usize>) -> Result<RunOptions> {
    Ok(RunOptions {
        jobs: jobs.unwrap_or_else(default_jobs),
        out,
        command: std::iter::once("cargo xtask".to_string()).chain(std::env::args().skip(1)).collect(),
        repo: std::env::current_dir().context("current directory")?,
        stop_after: std::env::var("METAREC_STOP_AFTER_CELLS").ok().and_then(|s| s.parse().ok()),
        data_dir: None,
        force: false,
        shard: None,
    })
}

/// The resolved spec and run options of `bench`'s arguments (shared by `plan`).
fn bench_setup(args: BenchArgs, registry: &Registry) -> Result<(metarec::RunSpec, RunOptions)> {
    let req = BenchRequest {
        suites: args.suite,
        methods: args.methods,
        seeds: args.seeds.as_deref().map(parse_seeds).transpose()?,
        device: Some(args.device),
        config: args.config,
        sets: args.sets,
        mae_estimate: args.mae_estimate,
        correction: args.correction,
        paired_differences: args.paired_differences,
    };
    let spec = resolve(&req, registry)?;
    let cwd = std::env::current_dir().context("current directory")?;
    let out = args.out.unwrap_or_else(|| metarec::runner::default_out(&cwd));
    // Cells sharing one GPU slow each other down (ARCHITECTURE, "GPU").
    let jobs = bench_jobs(args.jobs, spec.device);
    let opts = RunOptions { data_dir: args.data_dir, force: args.force, shard: args.shard, ..run_options(out, jobs)? };
    Ok((spec, opts))
}

/// `--jobs` as given, else 1 on a GPU and `None` (the number of cores) on the CPU.
fn bench_jobs(jobs: Option<usize>, device: metarec::spec::DeviceKind) -> Option<usize> {
    jobs.or((device == metarec::spec::DeviceKind::Cuda).then_some(1))
}

fn bench(args: BenchArgs, registry: &Registry) -> Result<()> {
    let (spec, opts) = bench_setup(args, registry)?;
    let (bar, handler) = progress();
    let result = metarec::runner::run(&spec, registry, &opts, &|e| handler(e, &bar));
    if let Some(pb) = bar.lock().expect("progress lock").take() {
        pb.finish_and_clear();
    }
    let outcome = result?;
    let d = outcome.dir.display();
    if let Some((i, n)) = opts.shard {
        println!("shard {i}/{n} finished; when every shard has: cargo xtask merge {d}");
        return Ok(());
    }
    println!("wrote {d}/results.csv.gz, {d}/leaderboard.md, {d}/report.html, {d}/manifest.toml");
    Ok(())
}

fn plan(args: PlanArgs, registry: &Registry) -> Result<()> {
    if args.bench.shard.is_some() {
        bail!("--shard: not for plan (each array task is a shard of its own)");
    }
    let data_dir = args.bench.data_dir.clone();
    let (spec, opts) = bench_setup(args.bench, registry)?;
    let binary = match args.binary {
        Some(b) => std::path::absolute(&b).with_context(|| format!("--binary {}", b.display()))?,
        None => std::env::current_exe().context("the path of this binary")?,
    };
    let slurm = metarec::plan::SlurmOptions {
        partition: args.partition,
        time: args.time,
        cpus_per_task: args.cpus_per_task,
        mem: args.mem,
        gres: args.gres,
        concurrency: args.concurrency,
        cells_per_task: args.cells_per_task,
        array_limit: args.array_limit,
        binary,
        repo: metarec::provenance::repo_root(&opts.repo),
        data_dir: data_dir.map(|d| std::path::absolute(&d)).transpose().context("--data-dir")?,
    };
    let p = metarec::plan::plan(&spec, registry, &opts, &slurm, &|e| {
        if let Event::SuiteReady { info } = e {
            println!("{}", metarec::runner::describe(info))
        }
    })?;
    let d = p.dir.display();
    println!("run directory: {d}");
    println!(
        "planned {} cells as {} array tasks ({} cells per task{}){}",
        p.plan.cells.len(),
        p.plan.tasks,
        p.plan.cells_per_task,
        if p.packed { ", packed to stay under --array-limit" } else { "" },
        if p.already_done > 0 { format!("; {} already finished", p.already_done) } else { String::new() }
    );
    println!("submit with:\n  {}", p.submit_line());
    println!("then, when every task has ended:\n  cargo xtask merge {d}");
    Ok(())
}

fn cell(args: CellArgs, registry: &Registry) -> Result<()> {
    let select = match (args.index, args.task) {
        (Some(i), _) => metarec::plan::Select::Cell(i),
        (None, Some(t)) => metarec::plan::Select::Task(t),
        (None, None) => bail!("give --index I or --task T"),
    };
    let opts = metarec::plan::CellOptions {
        jobs: args.jobs,
        force: args.force,
        repo: std::env::current_dir().context("current directory")?,
        data_dir: args.data_dir,
    };
    let host = metarec::provenance::host();
    let out = metarec::plan::run_planned(&args.dir, registry, select, &opts, &|e| match e {
        Event::CellStarted { id, index } => println!("started cell {index} {id} on {host}"),
        Event::CellFinished { record } => match &record.error {
            None => println!(
                "done    {}  meta-train {:.2}s  adapt {:.2}s",
                record.name(),
                record.meta_train_s,
                record.adapt_s
            ),
            Some(err) => println!("FAILED  {}: {err}", record.name()),
        },
        _ => {}
    })?;
    for k in &out.skipped {
        println!("skipped cell {k} (already finished)");
    }
    Ok(())
}

fn merge(dir: PathBuf, force: bool, data_dir: Option<PathBuf>, registry: &Registry) -> Result<bool> {
    let opts = metarec::merge::MergeOptions {
        force,
        command: std::iter::once("cargo xtask".to_string()).chain(std::env::args().skip(1)).collect(),
        data_dir,
    };
    let m = metarec::merge::merge(&dir, registry, &opts, &|_| {})?;
    for (id, why) in &m.forced {
        println!("forced: {id} ({why})");
    }
    let d = m.dir.display();
    if m.assembled {
        println!("wrote {d}/results.csv.gz, {d}/leaderboard.md, {d}/report.html, {d}/manifest.toml");
    }
    if m.complete() {
        println!("merged: all {} cells", m.total);
        return Ok(true);
    }
    let ids = |xs: &mut dyn Iterator<Item = &String>| xs.cloned().collect::<Vec<_>>().join(", ");
    if !m.missing.is_empty() {
        println!("missing {} of {} cells: {}", m.missing.len(), m.total, ids(&mut m.missing.iter().map(|x| &x.1)));
    }
    for (_, id, err) in &m.failed {
        println!("failed: {id}: {err}");
    }
    match &m.resubmit {
        Some(line) => println!("resubmit them with:\n  {line}"),
        None => println!("rerun the shards that hold them (bench --shard i/n with the same arguments and --out)"),
    }
    eprintln!(
        "error: {d}: {} of {} cells missing, {} failed{}",
        m.missing.len(),
        m.total,
        m.failed.len(),
        if m.assembled { " (results.csv.gz holds the others)" } else { "; nothing written" }
    );
    Ok(false)
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Run directories: A (the baseline) then B (the candidate); only B with --baseline.
    #[arg(num_args = 1..=2, required = true)]
    dirs: Vec<PathBuf>,
    /// Take A from the stored baseline run `baselines/NAME/` of this repository.
    #[arg(long)]
    baseline: Option<String>,
    /// Relative worsening, as a fraction of A's mean, beyond which a significant change is a
    /// regression.
    #[arg(long, default_value_t = 0.01)]
    threshold: f64,
    /// Level of the Holm-adjusted Wilcoxon test.
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Compare even when data hashes, seeds, device or hyper-parameters differ.
    #[arg(long)]
    force: bool,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn compare(args: CompareArgs) -> Result<bool> {
    let (a, b) = match (&args.baseline, args.dirs.as_slice()) {
        (Some(name), [b]) => {
            let cwd = std::env::current_dir().context("current directory")?;
            (metarec::compare::baseline_dir(&metarec::provenance::repo_root(&cwd), name)?, b.clone())
        }
        (Some(_), _) => bail!("with --baseline give one run directory (the candidate)"),
        (None, [a, b]) => (a.clone(), b.clone()),
        (None, _) => bail!("give two run directories (A then B), or one with --baseline NAME"),
    };
    if !(args.threshold >= 0.0 && args.threshold.is_finite()) {
        bail!("--threshold: {} must be a non-negative number", args.threshold);
    }
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha: {} is not in (0, 1)", args.alpha);
    }
    let opts = metarec::compare::CompareOptions { threshold: args.threshold, alpha: args.alpha };
    let c = metarec::compare::compare_dirs(&a, &b, &opts, args.force)?;
    print!("{}", c.markdown);
    if let Some(out) = &args.out {
        metarec::rundir::write_atomic(out, c.markdown.as_bytes())?;
    }
    let n = c.regressions();
    if n > 0 {
        eprintln!("error: {n} regression(s) of B against A");
    }
    Ok(n == 0)
}

fn tune(args: TuneArgs, registry: &Registry) -> Result<()> {
    let req = metarec::tune::TuneRequest {
        suite: args.suite.clone(),
        methods: args.methods.clone(),
        trials: args.trials,
        seed: args.seed,
        config: args.config.clone(),
        sets: args.sets.clone(),
        jobs: args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("tuned-{}-seed{}.toml", args.suite, args.seed)));
    let print = |m: &str, t: usize, trial: &metarec::tune::Trial| {
        let score = trial
            .rmse
            .map_or_else(|| format!("failed: {}", trial.error.as_deref().unwrap_or("")), |r| format!("{r:.4}"));
        let values: Vec<String> = trial.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("{m:<16} trial {t:>2}  validation RMSE {score}  {}", values.join(" "));
    };
    let tuning = metarec::tune::tune(&req, registry, args.data_dir.as_deref(), &print)?;
    let command: Vec<String> = std::env::args().skip(1).collect();
    let text = metarec::tune::config_text(&tuning, &format!("cargo xtask {}", command.join(" ")));
    metarec::rundir::write_atomic(&out, text.as_bytes())?;
    for m in &tuning.methods {
        let c = m.choice();
        let values: Vec<String> = c.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:<16} trial {:>2} of {}: validation RMSE {}  {}",
            m.name,
            m.chosen,
            m.trials.len(),
            c.rmse.map_or("-".into(), |r| format!("{r:.4}")),
            values.join(" ")
        );
    }
    println!("wrote {} (use: cargo xtask bench --config {})", out.display(), out.display());
    Ok(())
}

fn main() {
    // One matmul thread per cell unless the user says otherwise: cells run in parallel, and
    // this keeps results independent of how busy the machine is. Set before any thread starts.
    // When fewer cells than `--jobs` run at once, the runner gives each the spare cores
    // (`runner::set_spare_cores`; results do not change).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: single-threaded at this point; nothing else reads the environment yet.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
        metarec::runner::set_spare_cores(true);
    }
    // candle's pool for large elementwise ops spins, and serialises its callers: a cell's second
    // thread goes to the parts of a gradient meta-batch (`gradient::meta_batch_gradient`)
    // and to gemm instead.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: as above.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
    let cli = Cli::parse();
    // The rating methods and the interactive policies.
    let registry = metarec::registry();
    if matches!(cli.command, Command::Bench(_) | Command::Tune(_) | Command::Plan(_) | Command::Cell(_)) {
        let here = std::env::current_dir().unwrap_or_default();
        if let Some(w) = metarec::provenance::stale_binary_warning(&metarec::provenance::collect(&here).0) {
            eprintln!("{w}");
        }
    }
    let result = match cli.command {
        Command::Bench(args) => bench(args, &registry),
        Command::Tune(args) => tune(args, &registry),
        Command::Plan(args) => plan(args, &registry),
        Command::Cell(args) => cell(args, &registry),
        Command::Merge { dir, force, data_dir } => match merge(dir, force, data_dir, &registry) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(1),
            Err(e) => Err(e),
        },
        Command::Report { dir } => metarec::report::write_reports(&dir, &registry)
            .map(|files| {
                println!(
                    "wrote {}",
                    files.iter().map(|f| dir.join(f).display().to_string()).collect::<Vec<_>>().join(", ")
                )
            })
            .map_err(Into::into),
        Command::Reproduce { dir, jobs } => reproduce(&dir, jobs, &registry),
        Command::Compare(args) => match compare(args) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(2),
            Err(e) => Err(e),
        },
        Command::Data(args) => data::run(args),
        Command::Methods => {
            println!("{:<16} {:<13} summary", "name", "kind");
            for m in registry.all() {
                println!("{:<16} {:<13} {}", m.name, m.kind.name(), m.summary);
            }
            Ok(())
        }
        Command::BuildCuda { compute_cap, cuda_version } => std::env::current_dir()
            .context("current directory")
            .and_then(|cwd| cuda::build(&metarec::provenance::repo_root(&cwd), &compute_cap, &cuda_version))
            .map(|bin| {
                println!(
                    "built {} (run it on the GPU machine with CUDA 13 libraries on LD_LIBRARY_PATH)",
                    bin.display()
                )
            }),
        Command::Speed { python, skip_rust, threads, rounds } => std::env::current_dir()
            .context("current directory")
            .and_then(|cwd| speed::run(&metarec::provenance::repo_root(&cwd), &python, skip_rust, threads, rounds)),
        Command::DeviceCheck { device } => (|| -> Result<()> {
            let device = match device.as_str() {
                "cpu" => candle_core::Device::Cpu,
                "cuda" => candle_core::Device::new_cuda(0).context("--device cuda (build with --features cuda)")?,
                other => bail!("--device: unknown device `{other}` (known: cpu, cuda)"),
            };
            device_check::run(&device)
        })(),
        Command::Suites => {
            for name in metarec_suites_names() {
                let s = metarec::spec_suite(name);
                println!("{name:<16} {s}");
            }
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("error: {}", one_line(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line. Most of our errors already print their cause
/// (`path: cause`); a cause whose text is already there is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out.lines().map(str::trim).collect::<Vec<_>>().join(" ")
}

fn metarec_suites_names() -> Vec<&'static str> {
    metarec::suite_names()
}

fn reproduce(dir: &std::path::Path, jobs: Option<usize>, registry: &Registry) -> Result<()> {
    if !dir.join("manifest.toml").is_file() {
        bail!("{}: not a run directory (no manifest.toml)", dir.display());
    }
    // One cell at a time on a GPU unless --jobs says otherwise, as `bench`.
    let device = metarec::rundir::Manifest::read(dir)?.spec.device;
    let stamp = metarec::provenance::utc_now().replace([':', '-'], "");
    let opts = run_options(dir.join("reproduce").join(stamp), bench_jobs(jobs, device))?;
    let (bar, handler) = progress();
    let result = metarec::reproduce::reproduce(dir, registry, &opts, &|e| handler(e, &bar));
    if let Some(pb) = bar.lock().expect("progress lock").take() {
        pb.finish_and_clear();
    }
    let r = result?;
    for w in &r.warnings {
        println!("warning: {w}");
    }
    if r.identical {
        println!("reproduced: results.csv is byte-identical ({})", r.dir.display());
        return Ok(());
    }
    println!("NOT reproduced: results.csv differs ({})", r.dir.display());
    for (line, a, b) in &r.differences {
        println!("  line {line}:\n    run:        {a}\n    reproduced: {b}");
    }
    for (metric, d) in &r.max_abs_diff {
        println!("  largest difference in {metric}: {d:e}");
    }
    Err(RunError::Input("results differ".into()).into())
}

#[cfg(test)]
mod tests {
    use super::bench_jobs;
    use metarec::spec::DeviceKind;

    #[test]
    fn a_gpu_run_takes_one_cell_at_a_time_unless_told() {
        assert_eq!(bench_jobs(None, DeviceKind::Cuda), Some(1));
        assert_eq!(bench_jobs(Some(3), DeviceKind::Cuda), Some(3));
        assert_eq!(bench_jobs(None, DeviceKind::Cpu), None);
        assert_eq!(bench_jobs(Some(2), DeviceKind::Cpu), Some(2));
    }
}
