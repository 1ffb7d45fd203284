//! The grid as a Slurm job array, against a real single-node Slurm that this test starts
//! itself (the recipe of `../shared/SLURM.md`): munged, `slurmctld -D` and `slurmd -D` in the
//! background under a temporary folder, on free localhost ports, stopped by their process ids
//! in a guard that also runs when the test fails.
//!
//! 1. `plan` a small grid, `sbatch` its array.sbatch, wait for the array, `merge`: results.csv
//!    is byte-identical to `bench` of the same grid on this machine, and every cell's record
//!    names the array task that ran it.
//! 2. The same grid again, one task killed mid-cell with `scancel`: merge refuses, printing the
//!    `sbatch --array=...` line for that task alone; running that line and merging again gives
//!    the same results.csv.
//!
//! It prints the wall time of the grid run locally and as an array. This test binary has no
//! libtest harness (`harness = false`), so what it prints is never captured: when Slurm or
//! munge is missing, or it does not run as root, it says NOT RUN, and with
//! `METAREC_REQUIRE_TOOLS=1` (set by `.ci/run`, which installs Debian's `slurmctld`, `slurmd`,
//! `slurm-client` and `munge`) that is a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOOLS: [&str; 8] = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"];

/// The grid: two cheap methods, two seeds; pooled trains long enough (a few seconds) that a
/// task can be killed while its cell runs.
const GRID: [&str; 10] = [
    "--suite",
    "synthetic-tiny",
    "--methods",
    "global-mean,pooled",
    "--seeds",
    "0..2",
    "--set",
    "pooled.epochs=300",
    "--set",
    "pooled.patience=300",
];

/// A tool on `PATH`, or in the system directories that a non-root `PATH` may lack.
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn xtask() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_xtask"));
    c.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Two distinct free localhost ports (both held until both are chosen).
fn free_ports() -> (u16, u16) {
    let (a, b) = (TcpListener::bind("127.0.0.1:0").unwrap(), TcpListener::bind("127.0.0.1:0").unwrap());
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ready() {
        assert!(t0.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A single-node Slurm under one folder; its daemons are stopped when it is dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    /// (name, process), in start order.
    daemons: Vec<(&'static str, Child)>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let tool = |n: &str| find_tool(n).unwrap();
        let munge = dir.join("munge");
        for d in ["munge", "state", "spool", "log"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        chmod(dir, 0o755);
        chmod(&munge, 0o755);
        let key = munge.join("munge.key");
        let o = Command::new(tool("mungekey")).args(["-c", "-k"]).arg(&key).output().unwrap();
        assert!(o.status.success(), "mungekey: {}", text(&o));
        chmod(&key, 0o600);
        let socket = munge.join("munge.socket");
        let mut cluster = Cluster { dir: dir.to_path_buf(), conf: dir.join("slurm.conf"), daemons: Vec::new() };
        let spawn = |cmd: &mut Command, log: &str| {
            let f = std::fs::File::create(dir.join("log").join(log)).unwrap();
            cmd.stdin(Stdio::null()).stdout(f.try_clone().unwrap()).stderr(f).spawn().unwrap()
        };
        let munged = spawn(
            Command::new(tool("munged"))
                .args(["-F", "-f", "-S"])
                .arg(&socket)
                .arg(format!("--key-file={}", key.display()))
                .arg(format!("--log-file={}", munge.join("munged.log").display()))
                .arg(format!("--pid-file={}", munge.join("munged.pid").display()))
                .arg(format!("--seed-file={}", munge.join("munged.seed").display())),
            "munged.out",
        );
        cluster.daemons.push(("munged", munged));
        wait_for("munged's socket", Duration::from_secs(20), || socket.exists());

        let d = dir.display();
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let (ctld_port, slurmd_port) = free_ports();
        let conf = format!(
            "ClusterName=metarectest\nSlurmctldHost=localhost\nSlurmctldPort={}\nSlurmdPort={}\nSlurmUser=root\n\
             SlurmdUser=root\nAuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={}\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\nSlurmctldPidFile={d}/slurmctld.pid\n\
             SlurmdPidFile={d}/slurmd.pid\nSlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\nJobAcctGatherType=jobacct_gather/none\n\
             AccountingStorageType=accounting_storage/none\nJobCompType=jobcomp/none\nMpiDefault=none\n\
             SwitchType=switch/none\nMailProg=/bin/true\nReturnToService=2\nSchedulerType=sched/backfill\n\
             SchedulerParameters=batch_sched_delay=0\n\
             NodeName=node0 NodeAddr=127.0.0.1 NodeHostname=localhost CPUs={cpus} RealMemory=1024 State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            ctld_port,
            slurmd_port,
            socket.display()
        );
        std::fs::write(&cluster.conf, conf).unwrap();
        let ctld = spawn(Command::new(tool("slurmctld")).arg("-D").arg("-f").arg(&cluster.conf), "slurmctld.out");
        cluster.daemons.push(("slurmctld", ctld));
        let slurmd =
            spawn(Command::new(tool("slurmd")).args(["-D", "-N", "node0", "-f"]).arg(&cluster.conf), "slurmd.out");
        cluster.daemons.push(("slurmd", slurmd));
        wait_for("the node to be idle (sinfo)", Duration::from_secs(60), || {
            let o = cluster.cmd("sinfo").args(["-h", "-o", "%T"]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim() == "idle"
        });
        cluster
    }

    /// A Slurm client command for this cluster.
    fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(find_tool(tool).unwrap());
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// Waits until job `id` has left the queue.
    fn wait(&self, id: &str) {
        wait_for(&format!("job {id} to end"), Duration::from_secs(600), || {
            let o = self.cmd("squeue").args(["-h", "-j", id]).output().unwrap();
            o.status.success() && o.stdout.iter().all(u8::is_ascii_whitespace)
        });
    }

    /// Submits `script`; returns the job id.
    fn submit(&self, script: &Path) -> String {
        let o = self.cmd("sbatch").arg("--parsable").arg(script).output().unwrap();
        assert!(o.status.success(), "sbatch {}: {}", script.display(), text(&o));
        String::from_utf8_lossy(&o.stdout).trim().split(';').next().unwrap().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // TERM to slurmd and slurmctld at once, then munged; KILL whatever outlives 10 s.
        let stop = |ds: &mut [(&'static str, Child)]| {
            for (_, c) in ds.iter() {
                let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            }
            let t0 = Instant::now();
            for (name, c) in ds.iter_mut() {
                while c.try_wait().ok().flatten().is_none() && t0.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if c.try_wait().ok().flatten().is_none() {
                    eprintln!("{name} did not stop on TERM; killing it");
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        };
        let split = self.daemons.len().min(1);
        let (munge, slurm) = self.daemons.split_at_mut(split);
        stop(slurm);
        stop(munge);
        if std::thread::panicking() {
            for log in ["slurmctld.log", "slurmd.log"] {
                let tail = std::fs::read_to_string(self.dir.join("log").join(log)).unwrap_or_default();
                let lines: Vec<&str> = tail.lines().collect();
                eprintln!("--- {log} (last lines)\n{}", lines[lines.len().saturating_sub(15)..].join("\n"));
            }
        }
    }
}

fn plan(dir: &Path, extra: &[&str]) -> PathBuf {
    let o = xtask().arg("plan").args(GRID).args(["--out", dir.to_str().unwrap()]).args(extra).output().unwrap();
    assert!(o.status.success(), "plan: {}", text(&o));
    dir.join("array.sbatch")
}

fn merge(dir: &Path) -> Output {
    xtask().args(["merge", dir.to_str().unwrap()]).output().unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn slurm_job_array(tmp: &Path) {
    // The grid on this machine.
    let local = tmp.join("local");
    let t0 = Instant::now();
    let o = xtask().arg("bench").args(GRID).args(["--out", local.to_str().unwrap()]).output().unwrap();
    let local_s = t0.elapsed().as_secs_f64();
    assert!(o.status.success(), "bench: {}", text(&o));
    let want = read(&local.join("results.csv.gz"));

    let t0 = Instant::now();
    let cluster = Cluster::start(&tmp.join("slurm"));
    let start_s = t0.elapsed().as_secs_f64();

    // 1. The whole array: plan, submit, wait, merge.
    let array = tmp.join("array");
    let t0 = Instant::now();
    let script = plan(&array, &[]);
    let job = cluster.submit(&script);
    cluster.wait(&job);
    let o = merge(&array);
    let array_s = t0.elapsed().as_secs_f64();
    assert!(o.status.success(), "merge: {}", text(&o));
    assert!(read(&array.join("results.csv.gz")) == want, "results.csv of the array differs from bench's");
    let m = metarec::rundir::Manifest::read(&array).unwrap();
    assert_eq!(m.run.status, "complete");
    assert_eq!(m.cells.len(), 4);
    for (k, c) in m.cells.iter().enumerate() {
        let ran = c.ran.as_ref().unwrap_or_else(|| panic!("cell {k} records nowhere it ran"));
        assert_eq!(ran.slurm.as_deref(), Some(format!("{job}_{k}").as_str()), "cell {k}");
        assert_eq!(ran.commit, m.provenance.commit);
        let log = String::from_utf8_lossy(&read(&array.join(format!("logs/{job}_{k}.out")))).to_string();
        assert!(log.contains(&format!("started cell {k} ")), "logs/{job}_{k}.out: {log}");
    }
    assert_eq!(m.commits.len(), 1);
    assert_eq!(m.commits[0].cells, 4);

    // 2. A task killed while its cell runs, then resubmitted with the line merge prints.
    let killed = tmp.join("killed");
    let script = plan(&killed, &["--concurrency", "2"]);
    let job = cluster.submit(&script);
    // Cell 2 (pooled, seed 0) is array task 2: kill it once it has started its cell.
    let log = killed.join(format!("logs/{job}_2.out"));
    let (csv, record) = (
        killed.join("cells/synthetic-tiny/pooled/seed-0.csv.gz"),
        killed.join("cells/synthetic-tiny/pooled/seed-0.toml"),
    );
    wait_for("task 2 to start its cell", Duration::from_secs(300), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started cell 2 "))
    });
    assert!(!record.exists(), "cell 2 finished before it could be killed; make it slower");
    let o = cluster.cmd("scancel").arg(format!("{job}_2")).output().unwrap();
    assert!(o.status.success(), "scancel: {}", text(&o));
    cluster.wait(&job);
    assert!(!record.exists() && !csv.exists(), "the killed cell left files");
    let o = merge(&killed);
    assert_eq!(o.status.code(), Some(1), "merge of an incomplete run: {}", text(&o));
    assert!(!killed.join("results.csv.gz").exists(), "merge of an incomplete run wrote results.csv");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("missing 1 of 4 cells: synthetic-tiny/pooled/seed-0"), "{out}");
    let line = out.lines().map(str::trim).find(|l| l.starts_with("sbatch ")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(line, format!("sbatch --array=2%2 {}", script.display()));
    let o = Command::new("sh").args(["-c", line]).env("SLURM_CONF", &cluster.conf).output().unwrap();
    assert!(o.status.success(), "{line}: {}", text(&o));
    let resubmitted = String::from_utf8_lossy(&o.stdout).split_whitespace().last().unwrap().to_string();
    cluster.wait(&resubmitted);
    let o = merge(&killed);
    assert!(o.status.success(), "merge after the resubmission: {}", text(&o));
    assert!(read(&killed.join("results.csv.gz")) == want, "results.csv after the resubmission differs from bench's");
    let m = metarec::rundir::Manifest::read(&killed).unwrap();
    let ran = m.cells[2].ran.as_ref().unwrap();
    assert_eq!(ran.slurm.as_deref(), Some(format!("{resubmitted}_2").as_str()));
    drop(cluster);

    println!(
        "slurm: the grid (4 cells) took {local_s:.1} s with bench on this machine, {array_s:.1} s as a job array \
         (plan + sbatch + wait + merge) on the single-node cluster, which took {start_s:.1} s to start"
    );
}

fn main() {
    let require = std::env::var_os("METAREC_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| find_tool(t).is_none()).collect();
    // The daemons run as the Slurm user root (SlurmUser=root), as on the CI machines.
    let root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")));
    if !missing.is_empty() || !root {
        let msg = if missing.is_empty() {
            "the single-node cluster needs root (its daemons run as SlurmUser=root)".to_string()
        } else {
            format!("{} not found (Debian: apt-get install slurmctld slurmd slurm-client munge)", missing.join(", "))
        };
        if require {
            println!("test slurm_job_array ... FAILED (METAREC_REQUIRE_TOOLS=1): {msg}");
            std::process::exit(1);
        }
        println!("test slurm_job_array ... NOT RUN: {msg}");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("metarec-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    slurm_job_array(&tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    println!("test slurm_job_array ... ok");
}
