//! `cargo xtask build-cuda`: builds the CUDA binary on a machine without CUDA.
//!
//! The route (see README, "GPU"): CUDA from PyPI wheels into a virtualenv under
//! `target/cuda-venv-VERSION`; unversioned library links and a stub `libcuda.so` (soname
//! `libcuda.so.1`, the driver's functions returning an error) under `target/cuda-lib` for the
//! linker; `cargo build --release --features cuda` with the CUDA environment; the binary copied
//! to `gpu-bin/metarec` (git-ignored). On the GPU machine the real driver's `libcuda.so.1` and
//! CUDA 13's libraries on `LD_LIBRARY_PATH` replace the stub and the wheels.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Wheels of one CUDA release, `VERSION` replaced. The kernels are compiled to PTX that the
/// GPU machine's driver JIT-compiles, so the version must not be newer than the driver's CUDA
/// (driver 580 is CUDA 13.0: PTX from nvcc 13.4 fails there with
/// CUDA_ERROR_UNSUPPORTED_PTX_VERSION); cudarc 0.19 (candle 0.11.1) panics on nvcc newer than 13.4.
const WHEELS: &[&str] = &[
    "nvidia-cuda-nvcc==VERSION",
    "nvidia-cuda-crt==VERSION",
    "nvidia-cuda-runtime==VERSION",
    "nvidia-cuda-nvrtc==VERSION",
    "nvidia-nvvm==VERSION",
    "nvidia-cuda-cccl",
    "nvidia-cublas",
    "nvidia-curand",
];

fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output> {
    let out = cmd.output().with_context(|| format!("{what}: cannot start {cmd:?}"))?;
    Ok(out)
}

fn cuda_root(venv: &Path) -> Result<PathBuf> {
    let lib = venv.join("lib");
    for entry in std::fs::read_dir(&lib).with_context(|| format!("{}", lib.display()))? {
        let root = entry?.path().join("site-packages/nvidia/cu13");
        if root.join("bin/nvcc").is_file() {
            return Ok(root);
        }
    }
    bail!("no nvidia/cu13/bin/nvcc under {}", lib.display())
}

/// Builds the CUDA binary; returns its path.
pub fn build(repo: &Path, compute_cap: &str, version: &str) -> Result<PathBuf> {
    let target = repo.join("target");
    let venv = target.join(format!("cuda-venv-{version}"));
    if cuda_root(&venv).is_err() {
        println!("installing CUDA {version} wheels into {}", venv.display());
        let o = run(Command::new("python3").args(["-m", "venv"]).arg(&venv), "venv")?;
        if !o.status.success() {
            bail!("python3 -m venv failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        let wheels: Vec<String> = WHEELS.iter().map(|w| w.replace("VERSION", version)).collect();
        let o = run(Command::new(venv.join("bin/pip")).args(["install", "--quiet"]).args(&wheels), "pip")?;
        if !o.status.success() {
            bail!("pip install of the CUDA wheels failed: {}", String::from_utf8_lossy(&o.stderr));
        }
    }
    let root = cuda_root(&venv)?;
    let lib = target.join("cuda-lib");
    std::fs::create_dir_all(&lib)?;
    // Unversioned names for the linker: libcublas.so -> libcublas.so.13, ...
    for entry in std::fs::read_dir(root.join("lib"))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
        if name.contains(".alt.") {
            continue;
        }
        if let Some((stem, _)) = name.split_once(".so.") {
            let link = lib.join(format!("{stem}.so"));
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&path, &link)?;
        }
    }
    let cargo_build = |lib: &Path| -> Result<std::process::Output> {
        let path = format!("{}:{}", root.join("bin").display(), std::env::var("PATH").unwrap_or_default());
        run(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(repo)
                .args(["build", "--release", "-p", "xtask", "--features", "cuda"])
                .env("CUDA_HOME", &root)
                .env("CUDA_PATH", &root)
                .env("CUDA_ROOT", &root)
                .env("CUDA_COMPUTE_CAP", compute_cap)
                .env("PATH", path)
                .env("RUSTFLAGS", format!("-L native={}", lib.display()))
                .env("CARGO_TARGET_DIR", target.join("cuda")),
            "cargo build",
        )
    };
    println!("building with --features cuda (a clean build takes 10 to 20 minutes on 2 cores)");
    // No wheel has the driver's libcuda: link against a stub whose functions the real driver
    // replaces at run time. The linker names the functions the binary uses (rust-lld stops at
    // 20 errors a run), so start empty and add what it asks for until it links.
    let mut symbols: BTreeSet<String> = BTreeSet::new();
    for attempt in 0.. {
        let c: String = symbols.iter().map(|s| format!("int {s}(void) {{ return 999; }}\n")).collect();
        let src = lib.join("libcuda-stub.c");
        std::fs::write(&src, c)?;
        let o = run(
            Command::new("cc")
                .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
                .arg(lib.join("libcuda.so"))
                .arg(&src),
            "cc",
        )?;
        if !o.status.success() {
            bail!("compiling the libcuda stub failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        let out = cargo_build(&lib)?;
        if out.status.success() {
            break;
        }
        let log = String::from_utf8_lossy(&out.stderr).to_string();
        let before = symbols.len();
        for marker in ["undefined symbol: ", "undefined reference to `"] {
            for rest in log.split(marker).skip(1) {
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if name.starts_with("cu") {
                    symbols.insert(name);
                }
            }
        }
        if symbols.len() == before || attempt > 50 {
            bail!("cargo build --features cuda failed:\n{}", tail(&log, 40));
        }
        println!("stubbing {} CUDA driver functions", symbols.len());
    }
    let built = target.join("cuda/release/xtask");
    let dest_dir = repo.join("gpu-bin");
    std::fs::create_dir_all(&dest_dir)?;
    let dest = dest_dir.join("metarec");
    std::fs::copy(&built, &dest).with_context(|| format!("copy {} to {}", built.display(), dest.display()))?;
    let _ = Command::new("strip").arg(&dest).status();
    Ok(dest)
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
