//! `cargo xtask device-check --device cuda`: the same MAML meta-gradient at the MeLU shape on
//! the CPU and on the device, their relative difference, and the time of a meta-step on each.
//! Used to verify a CUDA build on a GPU machine (see README, GPU).

use anyhow::Result;
use candle_core::{Device, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use metarec_methods::gradient::reference::{self, inputs};

fn meta_gradient(device: &Device, k: usize) -> Result<Vec<f64>> {
    let (shape, params, s, q) = inputs(device);
    let mut out = Vec::new();
    for g in reference::meta_gradient(&shape, &params, &s, &q, k, false)? {
        out.extend(g.flatten_all()?.to_dtype(candle_core::DType::F64)?.to_device(&Device::Cpu)?.to_vec1::<f64>()?);
    }
    Ok(out)
}

fn step_ms(device: &Device, k: usize, first_order: bool) -> Result<f64> {
    let (shape, params, s, q) = inputs(device);
    let vars: Vec<Var> = params.iter().map(Var::from_tensor).collect::<candle_core::Result<_>>()?;
    let mut opt = AdamW::new(vars.clone(), ParamsAdamW { lr: 1e-4, weight_decay: 0.0, ..Default::default() })?;
    let mut times = Vec::new();
    for i in 0..25 {
        let t0 = std::time::Instant::now();
        let loss = reference::meta_loss(&shape, &vars, None, &s, &q, k, first_order)?;
        opt.backward_step(&loss)?;
        let _ = loss.to_device(&Device::Cpu)?.to_scalar::<f32>()?; // synchronise
        if i >= 5 {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub fn run(device: &Device) -> Result<()> {
    println!("MAML meta-gradient at the MeLU shape (8x100x32 -> 256 -> 64 -> 64 -> 1, 32 tasks, 10+10 rows), f32");
    for k in [1, 5] {
        let cpu = meta_gradient(&Device::Cpu, k)?;
        let dev = meta_gradient(device, k)?;
        let num: f64 = cpu.iter().zip(&dev).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        let den: f64 = cpu.iter().map(|a| a * a).sum::<f64>().sqrt();
        let max = cpu.iter().zip(&dev).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!("SO K={k}: |g_device - g_cpu| / |g_cpu| = {:.3e}, max abs difference {max:.3e}", num / den);
    }
    for (label, k, fo) in [("SO K=1", 1, false), ("SO K=5", 5, false), ("FO K=1", 1, true)] {
        println!(
            "meta-step {label}: cpu {:.2} ms, device {:.2} ms (median of 20)",
            step_ms(&Device::Cpu, k, fo)?,
            step_ms(device, k, fo)?
        );
    }
    Ok(())
}
