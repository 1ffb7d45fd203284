//! `cargo xtask data`: the data store for real datasets (list, fetch, verify, add). Thin: the
//! registry, hashing, safe extraction and the data directory live in
//! `metarec_suites::store`; this file parses arguments, downloads and prints.
//!
//! Downloads use the system's `curl` (through `std::process::Command`) rather than an HTTP
//! crate: no TLS stack to build, and curl brings the platform's certificates and proxy
//! settings. Trust comes from the pinned SHA-256, not from the transport. curl's output is
//! streamed into a temporary file in the data directory while being hashed (with an indicatif
//! progress bar); the file is then installed by the same `store::add` as `data add`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use metarec_suites::store::{self, HashingWriter, Pin, Status};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Arguments of `cargo xtask data`.
#[derive(Args)]
#[command(
    after_help = "The data directory holds <name>/<archive>, <name>/extracted/ and <name>/metarec.toml per dataset."
)]
pub struct DataArgs {
    /// Data directory (default: $METAREC_DATA, else the user's cache directory + /metarec).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// List the registered datasets: URL, pinned SHA-256, and whether each is installed and verified.
    List,
    /// Download a dataset's archive, check its SHA-256 and install it.
    ///
    /// Example: cargo xtask data fetch movielens-100k
    Fetch {
        /// A registered dataset (see `data list`).
        name: String,
        /// Download from this URL instead of the registered one (a mirror); the hash is checked all the same.
        #[arg(long)]
        url: Option<String>,
        /// SHA-256 you trust, for a dataset without a pinned hash.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
    },
    /// Re-check installed datasets: the archive's hash and every extracted file's size.
    ///
    /// With NAME, fails unless that dataset is ok; without, checks every registered dataset and fails if one
    /// that is installed is corrupt or incomplete (datasets not installed are listed as missing).
    Verify {
        /// A registered dataset (default: all).
        name: Option<String>,
    },
    /// Install a dataset from an archive, package or folder you downloaded yourself.
    ///
    /// FILE is the pinned archive; or a pinned package that carries the dataset (RecBole's wheel for
    /// movielens-100k); or a folder, or any zip, holding the files the loader reads, each matching its own pin
    /// (an extracted or re-packed official archive; MeLU's movielens/ml-1m/ for melu-ml1m); or, for a NAME the
    /// registry does not know, a folder holding NAME.inter (RecBole atomic files; the suite file pins them).
    ///
    /// Examples: cargo xtask data add movielens-1m ~/Downloads/ml-1m.zip;
    /// cargo xtask data add movielens-100k recbole-1.2.1-py3-none-any.whl;
    /// cargo xtask data add melu-ml1m MeLU/movielens/ml-1m
    Add {
        /// A registered dataset (see `data list`), or the name of a folder of RecBole atomic files.
        name: String,
        /// The archive, package or folder.
        file: PathBuf,
        /// SHA-256 you trust, for a dataset without a pinned hash (`add` prints the file's hash when it is missing).
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
    },
}

/// Runs `cargo xtask data ...`.
pub fn run(args: DataArgs) -> Result<()> {
    let dir = store::resolve_data_dir(args.data_dir.as_deref());
    match args.command {
        DataCommand::List => list(&dir),
        DataCommand::Fetch { name, url, sha256 } => fetch(&dir, &name, url.as_deref(), sha256.as_deref()),
        DataCommand::Verify { name } => verify(&dir, name.as_deref()),
        DataCommand::Add { name, file, sha256 } => {
            let installed = store::add(&dir, &name, &file, sha256.as_deref())?;
            report(&installed);
            if let Ok(m) = store::read_marker(&dir, &name) {
                for f in &m.members {
                    println!("  {} sha256 {} ({} bytes)", f.file, f.sha256, f.size);
                }
            }
            Ok(())
        }
    }
}

fn list(dir: &Path) -> Result<()> {
    println!("data directory: {}", dir.display());
    for (pin, status) in store::list(dir) {
        println!("{:<16} {:<11} {}", pin.name, status.label(), pin.url);
        match pin.sha256 {
            Some(sha) => {
                let size = pin.size.map(|s| format!(", {s} bytes")).unwrap_or_default();
                println!("{:<16} sha256 {sha} ({}{size})", "", pin.file);
            }
            None if !pin.has_archive() && pin.file_sets.is_empty() => {
                println!("{:<16} no archive: a package that carries it, its files each pinned", "")
            }
            None if !pin.has_archive() => println!("{:<16} no archive: a folder of its files, each pinned", ""),
            None => println!("{:<16} sha256 not pinned ({})", "", pin.file),
        }
        for p in pin.packages {
            println!("{:<16} or package {} sha256 {} ({} bytes; `{}`)", "", p.file, p.sha256, p.size, p.how);
        }
        for set in pin.file_sets {
            let files: Vec<&str> = set.members.iter().map(|m| m.file).collect();
            println!("{:<16} or a folder/zip of {} (route {}, each file pinned)", "", files.join(", "), set.route);
        }
        if let Ok(m) = store::read_marker(dir, pin.name)
            && status.is_ok()
        {
            println!("{:<16} installed by route {} from {}", "", m.route, m.source);
        }
        if !pin.note.is_empty() {
            println!("{:<16} note: {}", "", pin.note);
        }
        if !matches!(status, Status::Ok { pinned: true, .. } | Status::Missing) {
            println!("{:<16} {}", "", status.describe());
        }
    }
    Ok(())
}

fn verify(dir: &Path, name: Option<&str>) -> Result<()> {
    let results: Vec<(&Pin<'static>, Status)> = match name {
        Some(n) => {
            let pin = store::pin(n)?;
            vec![(pin, store::verify(dir, n)?)]
        }
        None => store::list(dir),
    };
    println!("data directory: {}", dir.display());
    let mut failed = 0;
    for (pin, status) in &results {
        let detail = match status {
            Status::Ok { .. } => store::dataset_dir(dir, pin.name).map(|p| p.display().to_string()).unwrap_or_default(),
            other => other.describe(),
        };
        println!("{:<16} {:<11} {detail}", pin.name, status.label());
        let counts = match status {
            Status::Ok { .. } => false,
            Status::Missing => name.is_some(),
            Status::Incomplete | Status::Corrupt(_) => true,
        };
        if counts {
            failed += 1;
            println!("{:<16} {}", "", store::install_hint(pin, dir));
        }
    }
    if failed > 0 {
        bail!("{failed} dataset(s) not ok");
    }
    Ok(())
}

fn report(installed: &store::Installed) {
    let how = if installed.pinned { "pinned" } else { "given with --sha256, not pinned" };
    let what = if installed.route == store::ARCHIVE_ROUTE { "archive sha256" } else { "sha256" };
    println!(
        "{} {} (route {}): {} files, {what} {} ({how}, {} bytes)",
        if installed.replaced { "reinstalled" } else { "installed" },
        installed.name,
        installed.route,
        installed.files,
        installed.sha256,
        installed.size
    );
    println!("dataset folder: {}", installed.dir.display());
}

fn fetch(dir: &Path, name: &str, url: Option<&str>, sha256: Option<&str>) -> Result<()> {
    let pin = store::pin(name)?;
    let Some((expected, _)) = store::expected_sha256(pin, sha256)? else {
        bail!(
            "{name} has no pinned SHA-256 ({}). Download {} yourself and run `cargo xtask data add {name} FILE`, which \
             prints its hash; or, with a hash you trust, `cargo xtask data fetch {name} --url URL --sha256 HEX`",
            pin.note,
            pin.file
        );
    };
    let url = url.unwrap_or(pin.url);
    let created = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let part = store::download_path(dir, name);
    let result = download(url, &part, pin.size)
        .map_err(|e| if pin.note.is_empty() { e } else { anyhow::anyhow!("{e:#} (note: {})", pin.note) })
        .and_then(|(actual, size)| {
            if actual != expected {
                bail!("{url}: downloaded {size} bytes with SHA-256 {actual}, but {name} needs {expected}; nothing installed");
            }
            store::add(dir, name, &part, sha256).with_context(|| format!("installing the download of {url}"))
        });
    let _ = std::fs::remove_file(&part);
    if created && result.is_err() {
        let _ = std::fs::remove_dir(dir); // only if still empty
    }
    let installed = result?;
    report(&installed);
    Ok(())
}

/// Downloads `url` into `part` with curl, hashing on the way; returns the SHA-256 and size.
/// Stops early when the download outgrows the pinned size.
fn download(url: &str, part: &Path, pinned_size: Option<u64>) -> Result<(String, u64)> {
    let limit = pinned_size.unwrap_or(4 << 30);
    let mut child = Command::new("curl")
        .args(["--fail", "--location", "--silent", "--show-error", "--proto", "=https,http", "--max-redirs", "10"])
        .args(["--connect-timeout", "30", "--retry", "2", "--", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running curl (install curl, or download the archive yourself and use `cargo xtask data add`)")?;
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut stdout = child.stdout.take().expect("piped stdout");

    let bar = match pinned_size {
        Some(size) => ProgressBar::new(size).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}")
                .expect("template"),
        ),
        None => ProgressBar::new_spinner()
            .with_style(ProgressStyle::with_template("{spinner} {bytes}  {bytes_per_sec}").expect("template")),
    };
    println!("downloading {url}");
    let copied = (|| -> Result<(String, u64)> {
        let file = std::fs::File::create_new(part).with_context(|| format!("creating {}", part.display()))?;
        let mut out = HashingWriter::new(std::io::BufWriter::new(file));
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading from curl"),
            };
            out.write_all(&buf[..n]).with_context(|| format!("writing {}", part.display()))?;
            bar.inc(n as u64);
            if out.bytes() > limit {
                bail!("{url}: more than the expected {limit} bytes; stopped");
            }
        }
        let (sha, size, w) = out.finish();
        let file = w.into_inner().map_err(|e| e.into_error()).with_context(|| format!("writing {}", part.display()))?;
        file.sync_all().with_context(|| format!("writing {}", part.display()))?;
        Ok((sha, size))
    })();
    bar.finish_and_clear();
    if copied.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for curl")?;
    let curl_err = stderr_reader.join().unwrap_or_default();
    let (sha, size) = copied?;
    if !status.success() {
        // With --retry, curl repeats its message per attempt: the last line says it.
        bail!("downloading {url} failed ({status}): {}", curl_err.trim().lines().last().unwrap_or(""));
    }
    Ok((sha, size))
}
