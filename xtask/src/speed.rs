//! `cargo xtask speed`: one MAML meta-train step at the MeLU shape, metarec (candle) beside
//! PyTorch written three ways, as one table.
//!
//! metarec's times come from the criterion bench `benches/meta_step.rs` (median); PyTorch's
//! from `benches/torch/maml_speed.py` (median of 50 steps) run with the same thread count.
//! The arithmetic floor is the step's matmul FLOPs over the best sgemm rate measured here:
//! SO = 3T[K(4nP + 2nA) + 2nP], FO = T[K(4nP + 2nA) + 6nP] (DESIGN.md), T tasks, n rows per
//! set, P multiply-adds per row of all layers, A those of the layers above the first.

use anyhow::{Context, Result, bail};
use candle_core::{Device, Tensor};
use std::path::Path;
use std::process::Command;

const SHAPES: [(&str, &str, usize, bool); 3] =
    [("SO K=1", "maml/so-k1", 1, false), ("SO K=5", "maml/so-k5", 5, false), ("FO K=1", "maml/fo-k1", 1, true)];

fn flops(k: usize, first_order: bool) -> f64 {
    let (t, n) = (32.0, 10.0);
    let p = (256 * 64 + 64 * 64 + 64) as f64;
    let a = (64 * 64 + 64) as f64;
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

pub fn run(repo: &Path, python: &str, skip_rust: bool) -> Result<()> {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "2".into());
    if !skip_rust {
        println!("running the criterion bench (cargo bench --bench meta_step) with {threads} threads");
        let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(repo)
            .args(["bench", "--bench", "meta_step"])
            .env("RAYON_NUM_THREADS", &threads)
            .status()
            .context("cargo bench")?;
        if !st.success() {
            bail!("cargo bench --bench meta_step failed");
        }
    }
    let mut ours = Vec::new();
    for (_, id, _, _) in SHAPES {
        // Criterion names the folder after the id with `/` replaced by `_`.
        let path = repo.join("target/criterion").join(id.replace('/', "_")).join("new/estimates.json");
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("{} (run without --skip-rust)", path.display()))?;
        let median = text.find("\"median\"").map(|i| &text[i..]).and_then(|t| json_number(t, "point_estimate"));
        ours.push(median.context("no median in criterion's estimates")? / 1e6);
    }
    println!("running {python} benches/torch/maml_speed.py --threads {threads}");
    let out = Command::new(python)
        .current_dir(repo.join("benches/torch"))
        .args(["maml_speed.py", "--threads", &threads])
        .output()
        .with_context(|| format!("{python} (set --python to a Python with torch)"))?;
    if !out.status.success() {
        bail!("maml_speed.py failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut torch = std::collections::BTreeMap::new();
    let mut notes = Vec::new();
    for line in text.lines() {
        match (json_string(line, "variant"), json_string(line, "shape"), json_number(line, "ms")) {
            (Some(v), Some(s), Some(ms)) => {
                torch.insert((v, s), ms);
            }
            _ => notes.push(line.to_string()),
        }
    }
    let gflops = sgemm_gflops()?;
    println!(
        "\nOne MAML meta-train step, MeLU shape (8x100x32 -> 256 -> 64 -> 64 -> 1, meta-batch 32, 10+10 rows), f32, {threads} threads"
    );
    println!("sgemm rate (candle, 1024^3, best of 20): {gflops:.0} GFLOP/s\n");
    let variants = ["l2l", "vmap", "bmm"];
    println!(
        "| shape | metarec ms | {} | floor ms | metarec / floor |",
        variants.map(|v| format!("torch {v} ms (ratio)")).join(" | ")
    );
    println!("|---|---:|{}---:|---:|", "---:|".repeat(variants.len()));
    for ((label, _, k, fo), ms) in SHAPES.iter().zip(&ours) {
        let floor = flops(*k, *fo) / (gflops * 1e9) * 1e3;
        let cols: Vec<String> = variants
            .iter()
            .map(|v| match torch.get(&(v.to_string(), label.to_string())) {
                Some(t) => format!("{t:.2} ({:.2}x)", t / ms),
                None => "n/a".into(),
            })
            .collect();
        println!("| {label} | {ms:.2} | {} | {floor:.2} | {:.1}x |", cols.join(" | "), ms / floor);
    }
    println!("\nratio = PyTorch time / metarec time (above 1: metarec is faster)");
    for n in notes {
        println!("note: {n}");
    }
    Ok(())
}
