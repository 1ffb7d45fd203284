//! `cargo xtask speed`: one MAML meta-train step at the MeLU shape, metarec (candle) beside
//! PyTorch written three ways, as one table, at each thread count asked for (default: 1 and the
//! number of cores).
//!
//! metarec's times come from the criterion bench `benches/meta_step.rs` (median, written under the
//! target directory that `cargo metadata` reports, per thread count and round, [`ROUNDS`]);
//! PyTorch's from `benches/torch/maml_speed.py` (median of 50 steps) run with the same thread
//! count.
//! The arithmetic floor is the step's matmul FLOPs over the best sgemm rate measured here:
//! SO = 3T[K(4nP + 2nA) + 2nP], FO = T[K(4nP + 2nA) + 6nP] (DESIGN.md), T tasks, n rows per
//! set, P multiply-adds per row of all layers, A those of the layers whose input gradient an
//! inner step needs. DESIGN.md's setting adapts only the MLP, so there A leaves out the first
//! layer; this step adapts every parameter, the embeddings too, whose gradient passes through
//! the first layer, so A = P. PyTorch's own count agrees: `maml_speed.py` prints what
//! `torch.utils.flop_counter.FlopCounterMode` counts on its `bmm` step for each shape, and
//! [`run`] stops if that differs from [`flops`].

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use std::path::Path;
use std::process::Command;

const SHAPES: [(&str, &str, usize, bool); 3] =
    [("SO K=1", "maml/so-k1", 1, false), ("SO K=5", "maml/so-k5", 5, false), ("FO K=1", "maml/fo-k1", 1, true)];

/// The step's matmul FLOPs (see the module's documentation).
fn flops(k: usize, first_order: bool) -> f64 {
    let (t, n) = (32.0, 10.0);
    let p = (256 * 64 + 64 * 64 + 64) as f64;
    // Every layer's input gradient: the embeddings adapt.
    let a = p;
    let k = k as f64;
    if first_order {
        t * (k * (4.0 * n * p + 2.0 * n * a) + 6.0 * n * p)
    } else {
        3.0 * t * (k * (4.0 * n * p + 2.0 * n * a) + 2.0 * n * p)
    }
}

/// Best sgemm rate of candle on this machine, GFLOP/s (1024^3, best of 20).
fn sgemm_gflops() -> Result<f64> {
    let a = Tensor::ones((1024, 1024), candle_core::DType::F32, &Device::Cpu)?;
    let b = Tensor::ones((1024, 1024), candle_core::DType::F32, &Device::Cpu)?;
    let mut best = f64::INFINITY;
    for _ in 0..20 {
        let t0 = std::time::Instant::now();
        let c = a.matmul(&b)?;
        std::hint::black_box(c.sum_all()?.to_scalar::<f32>()?);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok(2.0 * 1024f64.powi(3) / best / 1e9)
}

fn json_number(text: &str, key: &str) -> Option<f64> {
    let rest = &text[text.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start_matches([':', ' ']);
    rest.split([',', '}']).next()?.trim().parse().ok()
}

fn json_string(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(&format!("\"{key}\""))? + key.len() + 2..];
    let rest = rest.trim_start_matches([':', ' ']).strip_prefix('"')?;
    Some(rest.split('"').next()?.to_string())
}

/// The folder criterion writes to for a run at `threads` threads: under the workspace's target
/// directory (from `cargo metadata`, so `CARGO_TARGET_DIR` is honoured), one per thread count so
/// that the two runs of one `speed` call do not overwrite each other.
fn criterion_home(repo: &Path, threads: usize) -> Result<std::path::PathBuf> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(repo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let target = json_string(&text, "target_directory").context("cargo metadata: no target_directory")?;
    Ok(Path::new(&target).join("criterion-speed").join(format!("threads-{threads}")))
}

/// Runs candle's sgemm with `threads` matmul threads (candle reads `RAYON_NUM_THREADS` per call).
fn sgemm_at(threads: usize) -> Result<f64> {
    // SAFETY: the CLI is single-threaded here; candle reads the variable when it multiplies.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    sgemm_gflops()
}

/// Rounds per thread count by default (`--rounds`), each an sgemm rate, the criterion bench of the three shapes, and
/// an sgemm rate again: this machine's speed moves by a third within minutes (ARCHITECTURE.md),
/// so each round's ratio to the floor pairs the step with the sgemm rates measured just before
/// and after it (the higher, which makes the floor lower), and the table gives the rounds' medians.
pub const ROUNDS: usize = 3;

/// One round at one thread count.
struct Round {
    /// Criterion's median per shape, ms.
    ours: Vec<f64>,
    /// sgemm GFLOP/s before and after the bench.
    before: f64,
    after: f64,
}

impl Round {
    /// The rate the round's floor uses: the higher of the two.
    fn gflops(&self) -> f64 {
        self.before.max(self.after)
    }
    /// Per shape, the step's time over the floor at this round's rate.
    fn to_floor(&self) -> Vec<f64> {
        SHAPES.iter().zip(&self.ours).map(|((_, _, k, fo), ms)| ms / floor_ms(*k, *fo, self.gflops())).collect()
    }
}

/// The floor in ms at `gflops`.
fn floor_ms(k: usize, first_order: bool, gflops: f64) -> f64 {
    flops(k, first_order) / (gflops * 1e9) * 1e3
}

/// The median (the mean of the middle two for an even count: the reports' type-7 quantile at
/// one half); NaN for none.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    metarec_reports::plot::quantile(&v, 0.5)
}

/// One thread count's measurements: the rounds, PyTorch's time per (variant, shape), and what
/// PyTorch printed besides.
struct AtThreads {
    threads: usize,
    rounds: Vec<Round>,
    torch: std::collections::BTreeMap<(String, String), f64>,
    /// PyTorch's count of the step's matmul FLOPs per shape (`FlopCounterMode`), if printed.
    torch_flops: std::collections::BTreeMap<String, f64>,
    notes: Vec<String>,
}

impl AtThreads {
    /// Per shape, the median over rounds of criterion's medians.
    fn ours(&self) -> Vec<f64> {
        (0..SHAPES.len()).map(|i| median(self.rounds.iter().map(|r| r.ours[i]).collect())).collect()
    }
    /// The median over rounds of the rate each round's floor uses.
    fn gflops(&self) -> f64 {
        median(self.rounds.iter().map(Round::gflops).collect())
    }
    /// Per shape, the median over rounds of the round's ratio to its floor.
    fn to_floor(&self) -> Vec<f64> {
        let per_round: Vec<Vec<f64>> = self.rounds.iter().map(Round::to_floor).collect();
        (0..SHAPES.len()).map(|i| median(per_round.iter().map(|r| r[i]).collect())).collect()
    }
}

/// Criterion's median per shape, ms, from a run written under `home`.
fn read_criterion(home: &Path) -> Result<Vec<f64>> {
    let mut ours = Vec::new();
    for (_, id, _, _) in SHAPES {
        // Criterion names the folder after the id with `/` replaced by `_`.
        let path = home.join(id.replace('/', "_")).join("new/estimates.json");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("{} (run without --skip-rust)", path.display()))?;
        let median = text.find("\"median\"").map(|i| &text[i..]).and_then(|t| json_number(t, "point_estimate"));
        ours.push(median.context("no median in criterion's estimates")? / 1e6);
    }
    Ok(ours)
}

/// An earlier run's rounds at `threads` threads, read back from `home`, with one sgemm rate
/// measured now (so not paired with the step times).
fn read_rounds(home: &Path, threads: usize) -> Result<Vec<Round>> {
    let now = sgemm_at(threads)?;
    let mut rounds = Vec::new();
    while home.join(format!("round-{}", rounds.len())).exists() {
        let ours = read_criterion(&home.join(format!("round-{}", rounds.len())))?;
        rounds.push(Round { ours, before: now, after: now });
    }
    if rounds.is_empty() {
        bail!("{}: no criterion results (run without --skip-rust)", home.join("round-0").display());
    }
    Ok(rounds)
}

/// `n_rounds` rounds at `threads` threads, written under `home` (an earlier run's removed first,
/// so that a later `--skip-rust` reads only these).
fn run_rounds(repo: &Path, home: &Path, threads: usize, n_rounds: usize) -> Result<Vec<Round>> {
    if home.exists() {
        std::fs::remove_dir_all(home).with_context(|| format!("removing {}", home.display()))?;
    }
    let mut rounds = Vec::new();
    for r in 0..n_rounds {
        let round_home = home.join(format!("round-{r}"));
        let before = sgemm_at(threads)?;
        println!(
            "round {}/{n_rounds} at {threads} threads: sgemm {before:.0} GFLOP/s, then the criterion bench (cargo bench --bench meta_step -- maml/)",
            r + 1
        );
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(repo)
            .args(["bench", "--bench", "meta_step", "--", "maml/", "--warm-up-time", "1", "--measurement-time", "3"])
            .args(["--noplot"])
            .env("RAYON_NUM_THREADS", threads.to_string())
            // as `bench` runs cells: candle's elementwise pool off (see xtask's main)
            .env("CANDLE_NUM_THREADS", "1")
            .env("CRITERION_HOME", &round_home)
            .status()
            .context("cargo bench")?;
        if !st.success() {
            bail!("cargo bench --bench meta_step failed");
        }
        let ours = read_criterion(&round_home)?;
        let after = sgemm_at(threads)?;
        rounds.push(Round { ours, before, after });
    }
    Ok(rounds)
}

fn measure(repo: &Path, python: &str, skip_rust: bool, threads: usize, n_rounds: usize) -> Result<AtThreads> {
    let home = criterion_home(repo, threads)?;
    let rounds = if skip_rust { read_rounds(&home, threads)? } else { run_rounds(repo, &home, threads, n_rounds)? };
    println!("running {python} benches/torch/maml_speed.py --threads {threads}");
    let out = Command::new(python)
        .current_dir(repo.join("benches/torch"))
        .args(["maml_speed.py", "--threads", &threads.to_string()])
        .output()
        .with_context(|| format!("{python} (set --python to a Python with torch)"))?;
    if !out.status.success() {
        bail!("maml_speed.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut torch = std::collections::BTreeMap::new();
    let mut torch_flops = std::collections::BTreeMap::new();
    let mut notes = Vec::new();
    for line in text.lines() {
        match (json_string(line, "variant"), json_string(line, "shape"), json_number(line, "ms")) {
            (Some(v), Some(s), Some(ms)) => {
                torch.insert((v, s), ms);
            }
            _ => match (json_string(line, "shape"), json_number(line, "flops")) {
                (Some(s), Some(f)) => {
                    torch_flops.insert(s, f);
                }
                _ => notes.push(format!("{threads} threads: {line}")),
            },
        }
    }
    check_flops(&torch_flops)?;
    Ok(AtThreads { threads, rounds, torch, torch_flops, notes })
}

/// Stops where PyTorch counted other matmul FLOPs than [`flops`] for a shape: the floor would
/// then not be the step's.
fn check_flops(counted: &std::collections::BTreeMap<String, f64>) -> Result<()> {
    for (label, _, k, fo) in SHAPES {
        if let Some(&c) = counted.get(label) {
            let ours = flops(k, fo);
            if (c - ours).abs() > 0.5 {
                bail!(
                    "{label}: PyTorch's FlopCounterMode counts {c} matmul FLOPs per step, the floor's formula {ours}; \
                     the workload of benches/torch/maml_speed.py and xtask/src/speed.rs's flops() differ"
                );
            }
        }
    }
    Ok(())
}

/// Measures at each thread count of `threads` (default: 1 and the number of cores) and prints
/// one table: per thread count and shape, metarec's time, every PyTorch formulation's time with
/// its ratio, the fastest one's ratio, the sgemm rate and the floor.
pub fn run(repo: &Path, python: &str, skip_rust: bool, threads: Option<Vec<usize>>, rounds: usize) -> Result<()> {
    if rounds == 0 {
        bail!("--rounds: at least 1");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = threads.unwrap_or_else(|| vec![1, cores]);
    threads.dedup();
    if threads.contains(&0) {
        bail!("--threads: thread counts must be at least 1");
    }
    let runs = threads.iter().map(|t| measure(repo, python, skip_rust, *t, rounds)).collect::<Result<Vec<_>>>()?;
    println!(
        "\nOne MAML meta-train step, MeLU shape (8x100x32 -> 256 -> 64 -> 64 -> 1, meta-batch 32, 10+10 rows), f32"
    );
    let counted: Vec<String> = SHAPES
        .iter()
        .map(|(label, _, k, fo)| {
            let checked = runs.iter().any(|r| r.torch_flops.contains_key(*label));
            format!("{label} {:.1}{}", flops(*k, *fo) / 1e6, if checked { "" } else { " (unchecked)" })
        })
        .collect();
    println!(
        "sgemm rate: candle, 1024^3, best of 20, at the row's thread count; floor = the step's matmul FLOPs / that rate\n\
         matmul MFLOP per step: {} (the dense formulation's, every parameter adapted, as PyTorch's FlopCounterMode\n\
         counts them on its bmm step, checked in this run unless marked; metarec's low-rank deltas need fewer at K=1\n\
         and more at K=5, see ARCHITECTURE.md)\n\
         {} round(s) per thread count, each: sgemm, the criterion bench, sgemm; metarec ms and sgemm are the rounds' medians\n\
         (a round's rate is the higher of its two), metarec / floor the median of the rounds' own ratios\n",
        counted.join(", "),
        runs.iter().map(|r| r.rounds.len()).max().unwrap_or(0)
    );
    let variants = ["l2l", "vmap", "bmm"];
    println!(
        "| threads | shape | metarec ms | {} | fastest PyTorch / metarec | sgemm GFLOP/s | floor ms | metarec / floor |",
        variants.map(|v| format!("torch {v} ms (ratio)")).join(" | ")
    );
    println!("|---:|---|---:|{}---:|---:|---:|---:|", "---:|".repeat(variants.len()));
    for r in &runs {
        let (ours, gflops, to_floor) = (r.ours(), r.gflops(), r.to_floor());
        for (((label, _, k, fo), ms), ratio) in SHAPES.iter().zip(&ours).zip(&to_floor) {
            let times: Vec<Option<f64>> =
                variants.iter().map(|v| r.torch.get(&(v.to_string(), label.to_string())).copied()).collect();
            let cols: Vec<String> =
                times.iter().map(|t| t.map_or_else(|| "n/a".into(), |t| format!("{t:.2} ({:.2}x)", t / ms))).collect();
            let fastest = times.iter().flatten().copied().fold(f64::INFINITY, f64::min);
            let best = if fastest.is_finite() { format!("{:.2}x", fastest / ms) } else { "n/a".into() };
            println!(
                "| {} | {label} | {ms:.2} | {} | {best} | {gflops:.0} | {:.2} | {ratio:.1}x |",
                r.threads,
                cols.join(" | "),
                floor_ms(*k, *fo, gflops),
            );
        }
    }
    println!("\nThe rounds (sgemm before / after, GFLOP/s; per shape metarec ms and its ratio to the round's floor):");
    for r in &runs {
        for (i, round) in r.rounds.iter().enumerate() {
            let shapes: Vec<String> = SHAPES
                .iter()
                .zip(&round.ours)
                .zip(round.to_floor())
                .map(|(((label, ..), ms), x)| format!("{label} {ms:.2} ({x:.1}x)"))
                .collect();
            println!(
                "- {} threads, round {}: sgemm {:.0} / {:.0}; {}",
                r.threads,
                i + 1,
                round.before,
                round.after,
                shapes.join(", ")
            );
        }
    }
    if skip_rust {
        println!(
            "\n--skip-rust: metarec's times are an earlier run's rounds, the sgemm rate is this run's, so the ratios to the floor are not paired"
        );
    }
    println!("\nratio = PyTorch time / metarec time (above 1: metarec is faster)");
    for n in runs.iter().flat_map(|r| &r.notes) {
        println!("note: {n}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor's FLOPs against PyTorch's count of the same step: `FlopCounterMode` on
    /// `maml_speed.py`'s `bmm` step (and its `vmap` step, the same), torch 2.15.0.
    #[test]
    fn flops_match_pytorchs_count() {
        let counted = [("SO K=1", 157_777_920.0), ("SO K=5", 631_111_680.0), ("FO K=1", 78_888_960.0)];
        for ((label, _, k, fo), (shape, c)) in SHAPES.iter().zip(counted) {
            assert_eq!(*label, shape);
            assert_eq!(flops(*k, *fo), c, "{label}");
        }
        assert!(check_flops(&counted.iter().map(|(s, c)| (s.to_string(), *c)).collect()).is_ok());
    }

    #[test]
    fn a_count_that_differs_stops_the_run() {
        let counted = [("SO K=5".to_string(), 473_825_280.0)].into_iter().collect();
        let e = check_flops(&counted).unwrap_err().to_string();
        assert!(e.contains("SO K=5") && e.contains("473825280"), "{e}");
    }

    /// A round's ratio pairs its own times and rate; the table's ratio is the median of those,
    /// not the median time over the median rate.
    #[test]
    fn ratios_to_the_floor_are_paired_by_round() {
        let f = |k, fo| floor_ms(k, fo, 100.0);
        let (a, b, c) = (f(1, false), f(5, false), f(1, true));
        let round = |scale: f64, rate: f64| Round {
            ours: vec![2.0 * a * scale, 3.0 * b * scale, 4.0 * c * scale],
            before: rate * 0.9,
            after: rate,
        };
        // A slow round (everything at half speed) and two at full speed: the ratios are the same
        // in every round.
        let at = AtThreads {
            threads: 1,
            rounds: vec![round(1.0, 100.0), round(2.0, 50.0), round(1.0, 100.0)],
            torch: Default::default(),
            torch_flops: Default::default(),
            notes: vec![],
        };
        for (x, want) in at.to_floor().iter().zip([2.0, 3.0, 4.0]) {
            assert!((x - want).abs() < 1e-12, "{x} vs {want}");
        }
        assert_eq!(at.gflops(), 100.0);
        assert!((at.ours()[0] - 2.0 * a).abs() < 1e-12);
        assert_eq!(median(vec![3.0, 1.0]), 2.0);
        assert!(median(vec![]).is_nan());
    }

    #[test]
    fn flop_lines_of_maml_speed_py_parse() {
        let line = r#"{"shape": "SO K=1", "flops": 157777920, "counter": "FlopCounterMode"}"#;
        assert_eq!(json_string(line, "shape").as_deref(), Some("SO K=1"));
        assert_eq!(json_number(line, "flops"), Some(157_777_920.0));
        assert_eq!(json_number(line, "ms"), None);
    }
}
