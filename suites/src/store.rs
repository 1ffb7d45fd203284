//! The data store for real datasets: a registry of pinned archives and the data directory
//! they are installed into. Nothing here touches the network; `cargo xtask data fetch`
//! downloads an archive to a temporary file and then installs it with [`add`] like any other.
//!
//! Layout of the data directory (see [`resolve_data_dir`] for where it is):
//!
//! ```text
//! <data-dir>/<name>/<archive file>     the archive, byte-identical to the pinned one
//! <data-dir>/<name>/extracted/...      its contents, extracted by crate::archive
//! <data-dir>/<name>/metarec.toml       marker: verified hash, size, extracted files and sizes
//! ```
//!
//! [`add`] hashes the archive (streaming) and compares it with the pin, copies it into a
//! staging folder inside `<data-dir>/<name>/` (hashing the copy again), extracts it there,
//! swaps the result into place and writes the marker last, atomically (temporary file +
//! rename). On any error the data directory is left as it was: the staging folder, and any
//! folder the call created, are removed, and a previous install is moved back. An add that is
//! killed midway leaves no marker, so [`verify`] reports the dataset as incomplete. Two adds
//! of the same dataset must not run at once.
//!
//! [`dataset_dir`] is what a loader calls: the verified extracted folder, or an error that
//! says which `cargo xtask data` command installs it.

use crate::archive::{self, ArchiveError, ExtractedFile, Limits};
use crate::split::hex;
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A dataset archive: where it comes from and what it must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin<'a> {
    /// Dataset name, also its folder in the data directory.
    pub name: &'a str,
    /// Official download URL.
    pub url: &'a str,
    /// File name of the archive.
    pub file: &'a str,
    /// SHA-256 of the archive, lowercase hex; `None` when no trustworthy published value is
    /// known (then `add` needs `--sha256` from the user).
    pub sha256: Option<&'a str>,
    /// Size of the archive in bytes, when known.
    pub size: Option<u64>,
    /// The folder the archive extracts to, relative to `extracted/`; empty when the archive
    /// puts its files at the top level.
    pub folder: &'a str,
    /// Caveats shown by `list` and in errors (dead URL, where a hash came from); may be empty.
    pub note: &'a str,
}

/// The registered datasets.
pub const REGISTRY: &[Pin<'static>] = &[
    // Size and SHA-256 of both MovieLens archives: TensorFlow Datasets,
    // github.com/tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt (one line
    // per GroupLens archive: URL, size, sha256). The ml-1m hash is also pinned in
    // github.com/tensorflow/examples, lite/examples/recommendation/ml/data/
    // example_generation_movielens.py (MOVIELENS_ZIP_HASH). GroupLens itself publishes MD5s
    // only (ml-100k 0e33842e24a9c977be4e0107933c0723, ml-1m c4d9eecfca2ab87c1945afe126590906).
    Pin {
        name: "movielens-100k",
        url: "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        file: "ml-100k.zip",
        sha256: Some("50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
        size: Some(4_924_029),
        folder: "ml-100k",
        note: "",
    },
    Pin {
        name: "movielens-1m",
        url: "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        file: "ml-1m.zip",
        sha256: Some("a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
        size: Some(5_917_549),
        folder: "ml-1m",
        note: "",
    },
    // Book-Crossing (Ziegler et al., WWW 2005). The Freiburg page is gone and no mirror of the
    // original zip with a published SHA-256 was found (Kaggle repackages the CSVs; GitHub
    // copies hold the CSVs, not the zip). The only fingerprint found: bookdata-tools,
    // github.com/PIReTship/bookdata-tools, data/BX-CSV-Dump.zip.dvc and data/dvc.lock, record
    // MD5 37d647ee9e18ba134ea6d78ee4fe5292 and the server's ETag "18e0884-3e62cb8b5be80",
    // whose first half is the size, 0x18e0884 = 26085508 bytes. Neither is pinned here (MD5
    // is not a pin; the size is inferred), but the note repeats them for a user to check a
    // copy before trusting it with `--sha256`. The archive holds BX-Book-Ratings.csv,
    // BX-Books.csv and BX-Users.csv at its top level.
    Pin {
        name: "bookcrossing",
        url: "http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip",
        file: "BX-CSV-Dump.zip",
        sha256: None,
        size: None,
        folder: "",
        note: "the original URL is dead (HTTP 404) and no SHA-256 has been published; bookdata-tools \
               (github.com/PIReTship/bookdata-tools) recorded MD5 37d647ee9e18ba134ea6d78ee4fe5292 and \
               26085508 bytes for the original zip: check a copy with `md5sum` before trusting it",
    },
];

/// The environment variable that names the data directory.
pub const DATA_ENV: &str = "METAREC_DATA";
/// Name of the marker file inside `<data-dir>/<name>/`.
pub const MARKER: &str = "metarec.toml";
/// Name of the folder the archive is extracted into, inside `<data-dir>/<name>/`.
pub const EXTRACTED: &str = "extracted";
const STAGING_PREFIX: &str = ".staging-";
const MARKER_TMP_PREFIX: &str = ".metarec.toml.tmp-";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unknown dataset `{name}` (known: {known})")]
    Unknown { name: String, known: String },
    // (The causes are fields named `error`, not `source`: the message includes them, and a
    // `source` would print them twice in an error chain.)
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error(
        "{file}: SHA-256 mismatch for {name}: expected {expected}, actual {actual} ({size} bytes{}); \
         not the pinned archive (truncated, corrupt or another release?)",
        .pinned_size.map(|s| format!(", pinned size {s}")).unwrap_or_default()
    )]
    Mismatch { name: String, file: String, expected: String, actual: String, size: u64, pinned_size: Option<u64> },
    #[error(
        "{name} has no pinned SHA-256, so {file} cannot be checked against a pin. It hashes to {actual} \
         ({size} bytes). If you trust this copy, run the command again with --sha256 {actual}{note}"
    )]
    Unpinned { name: String, file: String, actual: String, size: u64, note: String },
    #[error("--sha256 `{given}` is not a SHA-256 (64 hexadecimal digits)")]
    BadSha256 { given: String },
    #[error(
        "--sha256 {given} differs from the SHA-256 pinned for {name}, {pinned}; leave --sha256 out for pinned datasets"
    )]
    PinConflict { name: String, given: String, pinned: String },
    /// The archive's error names the file the user gave, and the entry.
    #[error("{error}")]
    Archive { file: String, error: ArchiveError },
    #[error("{file}: the archive has no folder `{folder}/`, where {name} keeps its files")]
    MissingFolder { name: String, file: String, folder: String },
    #[error("{path}: {message}")]
    Marker { path: String, message: String },
    #[error("{name}: invalid registry entry: {message}")]
    BadPin { name: String, message: String },
    #[error("dataset `{name}` is not ready in {data_dir}: {state}. {hint}")]
    NotReady { name: String, data_dir: String, state: String, hint: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::Io { path: path.display().to_string(), error }
}

/// The state of one dataset in the data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Installed and verified: the archive hashes to `sha256`, every extracted file is there
    /// with its recorded size. `pinned` is false when the hash came from `--sha256`.
    Ok { sha256: String, pinned: bool },
    /// Not installed: no `<data-dir>/<name>/`.
    Missing,
    /// `<data-dir>/<name>/` exists but has no marker: an add was interrupted.
    Incomplete,
    /// Installed but something is wrong; the reason says what.
    Corrupt(String),
}

impl Status {
    /// `ok`, `missing`, `incomplete` or `corrupt`.
    pub fn label(&self) -> &'static str {
        match self {
            Status::Ok { .. } => "ok",
            Status::Missing => "missing",
            Status::Incomplete => "incomplete",
            Status::Corrupt(_) => "corrupt",
        }
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, Status::Ok { .. })
    }

    /// One line: the label and, where there is one, the reason.
    pub fn describe(&self) -> String {
        match self {
            Status::Ok { pinned: true, .. } => "ok".into(),
            Status::Ok { pinned: false, sha256 } => format!("ok (hash {sha256} given with --sha256, not pinned)"),
            Status::Missing => "missing (not installed)".into(),
            Status::Incomplete => format!("incomplete (no {MARKER}: an add was interrupted)"),
            Status::Corrupt(reason) => format!("corrupt: {reason}"),
        }
    }
}

/// The marker `<data-dir>/<name>/metarec.toml`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    pub name: String,
    /// Archive file name, in `<data-dir>/<name>/`.
    pub archive: String,
    pub sha256: String,
    pub size: u64,
    /// False when the hash came from `--sha256` (the dataset has no pin).
    pub pinned: bool,
    /// The dataset's folder inside `extracted/` (empty: `extracted/` itself).
    pub folder: String,
    /// Every extracted regular file, relative to `extracted/`, with its size.
    pub files: Vec<ExtractedFile>,
}

/// What [`add`] installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    /// The dataset's folder (what [`dataset_dir`] returns).
    pub dir: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub pinned: bool,
    pub files: usize,
    /// Whether a previous install was replaced.
    pub replaced: bool,
}

/// The registry entry of `name`.
pub fn pin(name: &str) -> Result<&'static Pin<'static>, StoreError> {
    REGISTRY.iter().find(|p| p.name == name).ok_or_else(|| StoreError::Unknown {
        name: name.to_string(),
        known: REGISTRY.iter().map(|p| p.name).collect::<Vec<_>>().join(", "),
    })
}

/// The data directory: `explicit` if given, else `$METAREC_DATA` if set and not empty, else
/// the user's cache directory + `/metarec` (`$XDG_CACHE_HOME` or `~/.cache` on Linux and other
/// Unixes, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows), else (no home at all)
/// the system temporary directory + `/metarec`.
pub fn resolve_data_dir(explicit: Option<&Path>) -> PathBuf {
    data_dir_from(explicit, std::env::var_os(DATA_ENV), user_cache_dir())
}

fn data_dir_from(explicit: Option<&Path>, env: Option<OsString>, cache: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir.to_path_buf();
    }
    if let Some(dir) = env.filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    cache.unwrap_or_else(std::env::temp_dir).join("metarec")
}

/// The user's cache directory, by the platform's convention.
pub fn user_cache_dir() -> Option<PathBuf> {
    #[cfg(windows)]
    {
        std::env::var_os("LOCALAPPDATA").filter(|v| !v.is_empty()).map(PathBuf::from)
    }
    #[cfg(target_os = "macos")]
    {
        std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join("Library/Caches"))
    }
    #[cfg(not(any(windows, target_os = "macos")))]
    {
        xdg_cache_dir(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
    }
}

/// XDG Base Directory rule: `$XDG_CACHE_HOME` if absolute (a relative value is invalid and
/// ignored), else `$HOME/.cache`.
#[cfg_attr(any(windows, target_os = "macos"), allow(dead_code))]
fn xdg_cache_dir(xdg: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    if let Some(x) = xdg.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Some(x);
    }
    home.filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".cache"))
}

/// A writer that hashes and counts what passes through (for downloads).
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The lowercase hex SHA-256 and size of everything written, and the inner writer.
    pub fn finish(self) -> (String, u64, W) {
        (hex(&self.hasher.finalize()), self.bytes, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Streams `reader` into `writer`, returning the SHA-256 and the byte count.
fn copy_hashing(mut reader: impl Read, writer: impl Write) -> std::io::Result<(String, u64)> {
    let mut w = HashingWriter::new(writer);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
    }
    let (sha, size, mut inner) = w.finish();
    inner.flush()?;
    Ok((sha, size))
}

/// The SHA-256 (lowercase hex) and size of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<(String, u64), StoreError> {
    let file = File::open(path).map_err(io_err(path))?;
    copy_hashing(file, std::io::sink()).map_err(io_err(path))
}

/// Normalises a user-given SHA-256 (case, surrounding spaces) or refuses it.
pub fn parse_sha256(given: &str) -> Result<String, StoreError> {
    let s = given.trim().to_ascii_lowercase();
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s)
    } else {
        Err(StoreError::BadSha256 { given: given.to_string() })
    }
}

/// The hash an archive of `pin` must have: the pin's, or for an unpinned dataset the one the
/// user trusts (`--sha256`); `None` when the dataset is unpinned and the user gave none. A
/// `--sha256` that contradicts a pin is an error.
pub fn expected_sha256(pin: &Pin<'_>, trusted: Option<&str>) -> Result<Option<(String, bool)>, StoreError> {
    let trusted = trusted.map(parse_sha256).transpose()?;
    match (pin.sha256, trusted) {
        (Some(p), Some(t)) if t != p => {
            Err(StoreError::PinConflict { name: pin.name.into(), given: t, pinned: p.into() })
        }
        (Some(p), _) => Ok(Some((p.to_string(), true))),
        (None, Some(t)) => Ok(Some((t, false))),
        (None, None) => Ok(None),
    }
}

/// Where `cargo xtask data fetch` writes its download (inside the data directory, so the
/// final rename never crosses file systems; removed after the add).
pub fn download_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join(format!(".fetch-{name}-{}.part", std::process::id()))
}

/// Installs the archive `file` as the registered dataset `name`. `trusted` is a SHA-256 the
/// user vouches for; it is needed only for datasets without a pin.
pub fn add(data_dir: &Path, name: &str, file: &Path, trusted: Option<&str>) -> Result<Installed, StoreError> {
    add_with_pin(data_dir, pin(name)?, file, trusted, &Limits::default())
}

/// Whether `s` is usable as one plain path component of our layout.
fn plain_component(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s != EXTRACTED
        && s != MARKER
}

fn check_pin(pin: &Pin<'_>) -> Result<(), StoreError> {
    let bad = |message: &str| Err(StoreError::BadPin { name: pin.name.into(), message: message.into() });
    if !plain_component(pin.name) {
        return bad("the name must be a plain folder name (letters, digits, `-`, `_`, `.`)");
    }
    if !plain_component(pin.file) {
        return bad("the archive file name must be a plain file name");
    }
    if !pin.folder.is_empty() && archive::check_entry_name(pin.folder).is_err() {
        return bad("the folder must be a relative path without `..`");
    }
    if let Some(sha) = pin.sha256
        && (sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    {
        return bad("sha256 must be 64 lowercase hexadecimal digits");
    }
    Ok(())
}

/// Undoes what a failed add did, on drop: removes its staging folder and the folders it
/// created (innermost first, and only while they are empty). A successful add clears
/// `created` first, so only the staging folder (holding the replaced install) goes.
struct Rollback {
    staging: Option<PathBuf>,
    created: Vec<PathBuf>,
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if let Some(s) = self.staging.take() {
            let _ = std::fs::remove_dir_all(s);
        }
        for dir in self.created.drain(..).rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Creates `dir` and its missing ancestors, recording each one created.
fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.as_os_str().is_empty() || d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(&d) {
            Ok(()) => created.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(StoreError::Io { path: d.display().to_string(), error }),
        }
    }
    Ok(())
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// [`add`] for any pin (tests pin their fixtures) and extraction limits.
pub(crate) fn add_with_pin(
    data_dir: &Path,
    pin: &Pin<'_>,
    file: &Path,
    trusted: Option<&str>,
    limits: &Limits,
) -> Result<Installed, StoreError> {
    check_pin(pin)?;
    let expected = expected_sha256(pin, trusted)?;
    let shown = file.display().to_string();

    // 1. Hash the file where it is; nothing is written before it matches.
    let (actual, size) = sha256_file(file)?;
    let mismatch = |expected: &str, actual: String, size: u64| StoreError::Mismatch {
        name: pin.name.into(),
        file: shown.clone(),
        expected: expected.into(),
        actual,
        size,
        pinned_size: pin.size,
    };
    let Some((expected, pinned)) = expected else {
        let note = if pin.note.is_empty() { String::new() } else { format!(". Note: {}", pin.note) };
        return Err(StoreError::Unpinned { name: pin.name.into(), file: shown, actual, size, note });
    };
    if actual != expected {
        return Err(mismatch(&expected, actual, size));
    }

    // 2. Stage: copy (hashing the copy: the file could change between the two reads), extract.
    let root = data_dir.join(pin.name);
    let mut rollback = Rollback { staging: None, created: Vec::new() };
    create_dirs(&root, &mut rollback.created)?;
    let staging = root.join(format!("{STAGING_PREFIX}{}", unique_suffix()));
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;
    rollback.staging = Some(staging.clone());
    let staged_archive = staging.join(pin.file);
    {
        let src = File::open(file).map_err(io_err(file))?;
        let mut dst = File::create_new(&staged_archive).map_err(io_err(&staged_archive))?;
        let (copied, copied_size) = copy_hashing(src, &mut dst).map_err(io_err(&staged_archive))?;
        dst.sync_all().map_err(io_err(&staged_archive))?;
        if copied != expected {
            return Err(mismatch(&expected, copied, copied_size));
        }
    }
    let staged_extracted = staging.join(EXTRACTED);
    std::fs::create_dir(&staged_extracted).map_err(io_err(&staged_extracted))?;
    let files = archive::extract_zip_labelled(&staged_archive, &shown, &staged_extracted, limits)
        .map_err(|error| StoreError::Archive { file: shown.clone(), error })?;
    if !pin.folder.is_empty() && !staged_extracted.join(pin.folder).is_dir() {
        return Err(StoreError::MissingFolder { name: pin.name.into(), file: shown, folder: pin.folder.into() });
    }
    let marker = Marker {
        name: pin.name.into(),
        archive: pin.file.into(),
        sha256: expected.clone(),
        size,
        pinned,
        folder: pin.folder.into(),
        files,
    };
    let marker_text = format!(
        "# Written by metarec's data store after a verified install; `cargo xtask data verify` checks it.\n{}",
        toml::to_string(&marker).map_err(|e| StoreError::Marker { path: MARKER.into(), message: e.to_string() })?
    );

    // 3. Swap into place: the old marker goes first, the new one comes last.
    let replaced = root.join(MARKER).exists() || root.join(EXTRACTED).exists() || root.join(pin.file).exists();
    swap_in(&root, &staging, pin.file, &marker_text)?;

    // Success: drop the staging folder (now holding the old install) and leftovers of
    // interrupted adds; keep the folders we created.
    rollback.created.clear();
    drop(rollback);
    remove_leftovers(&root);
    let dir = dataset_path(data_dir, pin.name, pin.folder);
    Ok(Installed { name: pin.name.into(), dir, sha256: expected, size, pinned, files: marker.files.len(), replaced })
}

/// Moves the staged archive and extraction into `root`, writing the marker last. On error,
/// moves everything back as it was.
fn swap_in(root: &Path, staging: &Path, file: &str, marker_text: &str) -> Result<(), StoreError> {
    let old = staging.join("old");
    std::fs::create_dir(&old).map_err(io_err(&old))?;
    // (from, to) renames done so far, undone in reverse on error.
    let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<(), StoreError> {
        for item in [MARKER, EXTRACTED, file] {
            let from = root.join(item);
            if std::fs::symlink_metadata(&from).is_ok() {
                let to = old.join(item);
                std::fs::rename(&from, &to).map_err(io_err(&from))?;
                done.push((from, to));
            }
        }
        for item in [EXTRACTED, file] {
            let (from, to) = (staging.join(item), root.join(item));
            std::fs::rename(&from, &to).map_err(io_err(&to))?;
            done.push((from, to));
        }
        let tmp = root.join(format!("{MARKER_TMP_PREFIX}{}", unique_suffix()));
        let written = (|| {
            let mut f = File::create_new(&tmp)?;
            f.write_all(marker_text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, root.join(MARKER))
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::Io { path: root.join(MARKER).display().to_string(), error: e });
        }
        Ok(())
    })();
    if result.is_err() {
        for (from, to) in done.into_iter().rev() {
            let _ = std::fs::rename(&to, &from);
        }
    }
    result
}

/// Removes staging folders and temporary markers that interrupted adds left in `root`.
fn remove_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(STAGING_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        } else if name.starts_with(MARKER_TMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn dataset_path(data_dir: &Path, name: &str, folder: &str) -> PathBuf {
    let extracted = data_dir.join(name).join(EXTRACTED);
    if folder.is_empty() { extracted } else { extracted.join(folder) }
}

/// Reads and parses `<data-dir>/<name>/metarec.toml`.
pub fn read_marker(data_dir: &Path, name: &str) -> Result<Marker, StoreError> {
    let path = data_dir.join(name).join(MARKER);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    toml::from_str(&text).map_err(|e| StoreError::Marker {
        path: path.display().to_string(),
        message: crate::suite::one_line(&e.to_string()),
    })
}

/// Re-checks the registered dataset `name`: the archive's hash and every extracted file's
/// presence and size.
pub fn verify(data_dir: &Path, name: &str) -> Result<Status, StoreError> {
    Ok(verify_with_pin(data_dir, pin(name)?))
}

/// Every registered dataset with its status (what `list` and `verify` without a name show).
pub fn list(data_dir: &Path) -> Vec<(&'static Pin<'static>, Status)> {
    REGISTRY.iter().map(|p| (p, verify_with_pin(data_dir, p))).collect()
}

pub(crate) fn verify_with_pin(data_dir: &Path, pin: &Pin<'_>) -> Status {
    let root = data_dir.join(pin.name);
    if !root.is_dir() {
        return Status::Missing;
    }
    if std::fs::symlink_metadata(root.join(MARKER)).is_err() {
        return Status::Incomplete;
    }
    let marker = match read_marker(data_dir, pin.name) {
        Ok(m) => m,
        Err(e) => return Status::Corrupt(e.to_string()),
    };
    if marker.name != pin.name || marker.archive != pin.file || marker.folder != pin.folder {
        return Status::Corrupt(format!(
            "{MARKER} records {} / {} / folder `{}`, the registry says {} / {} / folder `{}`; add the dataset again",
            marker.name, marker.archive, marker.folder, pin.name, pin.file, pin.folder
        ));
    }
    if let Some(p) = pin.sha256
        && marker.sha256 != p
    {
        return Status::Corrupt(format!(
            "the installed archive has SHA-256 {}, the registry pins {p}; add the pinned archive again",
            marker.sha256
        ));
    }
    let archive = root.join(pin.file);
    match sha256_file(&archive) {
        Err(e) => return Status::Corrupt(format!("archive: {e}")),
        Ok((sha, size)) if sha != marker.sha256 || size != marker.size => {
            return Status::Corrupt(format!(
                "{}: SHA-256 {sha} ({size} bytes), installed as {} ({} bytes)",
                archive.display(),
                marker.sha256,
                marker.size
            ));
        }
        Ok(_) => {}
    }
    let extracted = root.join(EXTRACTED);
    for f in &marker.files {
        let Ok(parts) = archive::check_entry_name(&f.path) else {
            return Status::Corrupt(format!("{MARKER} lists an unsafe path `{}`", f.path));
        };
        let path = parts.iter().fold(extracted.clone(), |p, c| p.join(c));
        match std::fs::symlink_metadata(&path) {
            Err(_) => return Status::Corrupt(format!("{} is missing", path.display())),
            Ok(m) if !m.is_file() => return Status::Corrupt(format!("{} is not a regular file", path.display())),
            Ok(m) if m.len() != f.size => {
                return Status::Corrupt(format!("{} is {} bytes, installed as {}", path.display(), m.len(), f.size));
            }
            Ok(_) => {}
        }
    }
    if !pin.folder.is_empty() && !extracted.join(pin.folder).is_dir() {
        return Status::Corrupt(format!("{} is missing", extracted.join(pin.folder).display()));
    }
    Status::Ok { sha256: marker.sha256, pinned: marker.pinned }
}

/// The verified folder of the registered dataset `name` (`<data-dir>/<name>/extracted/<folder>`),
/// or an error naming the `cargo xtask data` command that installs it.
pub fn dataset_dir(data_dir: &Path, name: &str) -> Result<PathBuf, StoreError> {
    dataset_dir_with_pin(data_dir, pin(name)?)
}

pub(crate) fn dataset_dir_with_pin(data_dir: &Path, pin: &Pin<'_>) -> Result<PathBuf, StoreError> {
    match verify_with_pin(data_dir, pin) {
        Status::Ok { .. } => Ok(dataset_path(data_dir, pin.name, pin.folder)),
        status => Err(StoreError::NotReady {
            name: pin.name.into(),
            data_dir: data_dir.display().to_string(),
            state: status.describe(),
            hint: install_hint(pin, data_dir),
        }),
    }
}

/// The commands that install `pin` into `data_dir`.
pub fn install_hint(pin: &Pin<'_>, data_dir: &Path) -> String {
    let dir = shell_quote(&data_dir.display().to_string());
    let name = pin.name;
    let file = pin.file;
    if pin.sha256.is_some() {
        format!(
            "Run `cargo xtask data fetch {name} --data-dir {dir}` (downloads {}), or with a copy of {file}: \
             `cargo xtask data add {name} path/to/{file} --data-dir {dir}`",
            pin.url
        )
    } else {
        format!(
            "{name} has no pinned hash ({}). With a copy of {file}: `cargo xtask data add {name} path/to/{file} \
             --data-dir {dir}` prints its SHA-256; if you trust it, add `--sha256 HASH`",
            pin.note
        )
    }
}

/// Quotes `s` for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@~%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/archives").join(name)
    }

    /// A fresh, not yet created path under the system temp dir; removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(label: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("metarec-store-{label}-{}", unique_suffix()));
            TempDir(dir)
        }
        fn data(&self) -> PathBuf {
            self.0.join("data")
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Every path under `dir` with its kind, size and content hash (None: `dir` is absent).
    fn snapshot(dir: &Path) -> Option<BTreeMap<String, String>> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    out.insert(rel, "dir".into());
                    walk(base, &path, out);
                } else {
                    let (sha, size) = sha256_file(&path).unwrap();
                    out.insert(rel, format!("file {size} {sha}"));
                }
            }
        }
        if !dir.exists() {
            return None;
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        Some(out)
    }

    fn sha(name: &str) -> String {
        sha256_file(&fixture(name)).unwrap().0
    }

    /// A pin for the test fixtures: dataset `fixture`, archive `fixture.zip`, folder `fixture`.
    fn test_pin(sha256: &str) -> Pin<'_> {
        Pin {
            name: "fixture",
            url: "https://example.org/fixture.zip",
            file: "fixture.zip",
            sha256: Some(sha256),
            size: None,
            folder: "fixture",
            note: "",
        }
    }

    /// Installs good.zip as `fixture` and returns the pin's hash.
    fn install_good(data: &Path) -> String {
        let good = sha("good.zip");
        add_with_pin(data, &test_pin(&good), &fixture("good.zip"), None, &Limits::default()).unwrap();
        good
    }

    #[test]
    fn add_with_the_right_hash_installs_and_verifies() {
        let tmp = TempDir::new("add");
        let data = tmp.data();
        let good = sha("good.zip");
        let pin = test_pin(&good);
        let installed = add_with_pin(&data, &pin, &fixture("good.zip"), None, &Limits::default()).unwrap();
        assert_eq!(installed.dir, data.join("fixture/extracted/fixture"));
        assert_eq!((installed.files, installed.pinned, installed.replaced), (3, true, false));
        assert_eq!(verify_with_pin(&data, &pin), Status::Ok { sha256: good.clone(), pinned: true });
        assert_eq!(dataset_dir_with_pin(&data, &pin).unwrap(), installed.dir);
        assert!(installed.dir.join("sub/items.dat").is_file());

        // The archive is kept byte for byte; the marker records hash, size and files.
        assert_eq!(sha256_file(&data.join("fixture/fixture.zip")).unwrap().0, good);
        let marker = read_marker(&data, "fixture").unwrap();
        assert_eq!(marker.sha256, good);
        assert_eq!(marker.size, std::fs::metadata(fixture("good.zip")).unwrap().len());
        let files: Vec<(&str, u64)> = marker.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(files, [("fixture/ratings.dat", 1955), ("fixture/README", 58), ("fixture/sub/items.dat", 60)]);
        // Nothing else is left in the dataset folder.
        let mut top: Vec<String> = std::fs::read_dir(data.join("fixture"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["extracted", "fixture.zip", "metarec.toml"]);
    }

    #[test]
    fn a_wrong_hash_is_refused_and_changes_nothing() {
        let tmp = TempDir::new("wrong");
        let data = tmp.data();
        let wrong = "0".repeat(64);
        // Into a data dir that does not exist yet: it still does not.
        let err = add_with_pin(&data, &test_pin(&wrong), &fixture("good.zip"), None, &Limits::default()).unwrap_err();
        assert!(snapshot(&data).is_none());
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Mismatch { .. }), "{msg}");
        assert!(msg.contains("good.zip") && msg.contains(&wrong) && msg.contains(&sha("good.zip")), "{msg}");

        // Over a good install: it stays as it was.
        let good = install_good(&data);
        let before = snapshot(&data);
        let err = add_with_pin(&data, &test_pin(&wrong), &fixture("good.zip"), None, &Limits::default()).unwrap_err();
        assert!(matches!(err, StoreError::Mismatch { .. }));
        assert_eq!(snapshot(&data), before);
        assert!(verify_with_pin(&data, &test_pin(&good)).is_ok());
    }

    /// Adds `archive` pinned to its own hash over a good install of `fixture` and checks that
    /// it fails and leaves the data directory exactly as it was.
    fn refused_over_good_install(archive: &str, limits: &Limits) -> StoreError {
        let tmp = TempDir::new("refused");
        let data = tmp.data();
        let good = install_good(&data);
        let before = snapshot(&data);
        let own = sha(archive);
        let err = add_with_pin(&data, &test_pin(&own), &fixture(archive), None, limits).unwrap_err();
        assert_eq!(snapshot(&data), before, "{archive}: the data directory changed");
        assert!(verify_with_pin(&data, &test_pin(&good)).is_ok(), "{archive}: the good install broke");
        assert!(!tmp.0.join("evil.txt").exists() && !data.join("evil.txt").exists());
        // Into an empty data dir: nothing is created.
        let fresh = tmp.0.join("fresh");
        add_with_pin(&fresh, &test_pin(&own), &fixture(archive), None, limits).unwrap_err();
        assert!(snapshot(&fresh).is_none(), "{archive}: left {:?}", snapshot(&fresh));
        assert!(err.to_string().contains(archive), "{archive}: {err}");
        err
    }

    fn archive_error(err: StoreError) -> ArchiveError {
        match err {
            StoreError::Archive { error, .. } => error,
            other => panic!("expected an archive error, got {other}"),
        }
    }

    #[test]
    fn a_truncated_archive_is_refused_and_changes_nothing() {
        // Against the real pin, the hash catches it ...
        let tmp = TempDir::new("trunc");
        let data = tmp.data();
        let good = install_good(&data);
        let before = snapshot(&data);
        let err =
            add_with_pin(&data, &test_pin(&good), &fixture("truncated.zip"), None, &Limits::default()).unwrap_err();
        assert!(matches!(err, StoreError::Mismatch { .. }), "{err}");
        assert_eq!(snapshot(&data), before);
        // ... and pinned to its own hash, extraction does.
        let err = archive_error(refused_over_good_install("truncated.zip", &Limits::default()));
        assert!(matches!(err, ArchiveError::NotZip { .. }), "{err}");
    }

    #[test]
    fn zip_slip_absolute_paths_and_symlinks_are_refused_and_change_nothing() {
        let err = archive_error(refused_over_good_install("zip-slip.zip", &Limits::default()));
        assert!(matches!(err, ArchiveError::UnsafePath { ref entry, .. } if entry == "../evil.txt"), "{err}");
        let err = archive_error(refused_over_good_install("absolute.zip", &Limits::default()));
        assert!(matches!(err, ArchiveError::UnsafePath { ref reason, .. } if reason.contains("absolute")), "{err}");
        let err = archive_error(refused_over_good_install("symlink.zip", &Limits::default()));
        assert!(matches!(err, ArchiveError::Symlink { ref entry, .. } if entry == "fixture/link"), "{err}");
    }

    #[test]
    fn oversized_entries_are_refused_and_change_nothing() {
        let small = Limits { max_entry_bytes: 100, ..Limits::default() };
        let err = archive_error(refused_over_good_install("good.zip", &small));
        assert!(
            matches!(err, ArchiveError::EntryTooLarge { ref entry, size: 1955, limit: 100, .. } if entry == "fixture/ratings.dat"),
            "{err}"
        );
        // A declared size that lies is caught while writing (by our count or by the zip
        // reader's own check), after the staging folder got files; it is removed.
        let err = archive_error(refused_over_good_install("lying-size.zip", &Limits::default()));
        assert!(
            matches!(err, ArchiveError::SizeMismatch { declared: 10, .. })
                || matches!(err, ArchiveError::Corrupt { ref message, .. } if message.contains("declared")),
            "{err}"
        );
    }

    #[test]
    fn an_archive_without_the_pinned_folder_is_refused() {
        let tmp = TempDir::new("folder");
        let data = tmp.data();
        let good = sha("good.zip");
        let pin = Pin { folder: "ml-100k", ..test_pin(&good) };
        let err = add_with_pin(&data, &pin, &fixture("good.zip"), None, &Limits::default()).unwrap_err();
        assert!(matches!(err, StoreError::MissingFolder { .. }), "{err}");
        assert!(err.to_string().contains("ml-100k"), "{err}");
        assert!(snapshot(&data).is_none());
    }

    #[test]
    fn re_adding_over_a_good_install_keeps_it_working() {
        let tmp = TempDir::new("readd");
        let data = tmp.data();
        let good = install_good(&data);
        let first = snapshot(&data);
        // Leftovers of an interrupted add are cleaned up by the next successful one.
        std::fs::create_dir(data.join("fixture/.staging-1-2")).unwrap();
        let again = add_with_pin(&data, &test_pin(&good), &fixture("good.zip"), None, &Limits::default()).unwrap();
        assert!(again.replaced);
        assert!(verify_with_pin(&data, &test_pin(&good)).is_ok());
        assert_eq!(snapshot(&data), first);
    }

    #[test]
    fn verify_detects_deleted_resized_and_tampered_files() {
        let tmp = TempDir::new("verify");
        let data = tmp.data();
        let good = install_good(&data);
        let pin = test_pin(&good);
        let items = data.join("fixture/extracted/fixture/sub/items.dat");
        let items_bytes = std::fs::read(&items).unwrap();

        std::fs::remove_file(&items).unwrap();
        match verify_with_pin(&data, &pin) {
            Status::Corrupt(reason) => assert!(reason.contains("items.dat") && reason.contains("missing"), "{reason}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
        let err = dataset_dir_with_pin(&data, &pin).unwrap_err().to_string();
        assert!(err.contains("corrupt") && err.contains("cargo xtask data fetch fixture"), "{err}");

        std::fs::write(&items, &items_bytes[..10]).unwrap();
        match verify_with_pin(&data, &pin) {
            Status::Corrupt(reason) => assert!(reason.contains("is 10 bytes, installed as 60"), "{reason}"),
            other => panic!("expected corrupt, got {other:?}"),
        }
        std::fs::write(&items, &items_bytes).unwrap();
        assert!(verify_with_pin(&data, &pin).is_ok());

        // The archive itself, one byte appended.
        let zip = data.join("fixture/fixture.zip");
        let mut bytes = std::fs::read(&zip).unwrap();
        bytes.push(0);
        std::fs::write(&zip, &bytes).unwrap();
        match verify_with_pin(&data, &pin) {
            Status::Corrupt(reason) => {
                assert!(reason.contains("fixture.zip") && reason.contains("SHA-256"), "{reason}")
            }
            other => panic!("expected corrupt, got {other:?}"),
        }
        bytes.pop();
        std::fs::write(&zip, &bytes).unwrap();
        assert!(verify_with_pin(&data, &pin).is_ok());

        // A pin that changed since the install.
        let other = "f".repeat(64);
        assert!(matches!(verify_with_pin(&data, &test_pin(&other)), Status::Corrupt(r) if r.contains("pins")));
    }

    #[test]
    fn no_marker_means_incomplete_and_no_folder_means_missing() {
        let tmp = TempDir::new("incomplete");
        let data = tmp.data();
        let good = sha("good.zip");
        let pin = test_pin(&good);
        assert_eq!(verify_with_pin(&data, &pin), Status::Missing);
        let err = dataset_dir_with_pin(&data, &pin).unwrap_err().to_string();
        assert!(err.contains("missing") && err.contains("cargo xtask data add fixture path/to/fixture.zip"), "{err}");

        install_good(&data);
        std::fs::remove_file(data.join("fixture").join(MARKER)).unwrap();
        assert_eq!(verify_with_pin(&data, &pin), Status::Incomplete);
        let err = dataset_dir_with_pin(&data, &pin).unwrap_err().to_string();
        assert!(err.contains("incomplete"), "{err}");

        std::fs::write(data.join("fixture").join(MARKER), "name = 3").unwrap();
        assert!(matches!(verify_with_pin(&data, &pin), Status::Corrupt(_)));
    }

    #[test]
    fn unpinned_datasets_need_a_trusted_hash() {
        let tmp = TempDir::new("unpinned");
        let data = tmp.data();
        let good = sha("good.zip");
        let pin = Pin { sha256: None, note: "no hash was ever published", ..test_pin("") };
        let err = add_with_pin(&data, &pin, &fixture("good.zip"), None, &Limits::default()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Unpinned { .. }), "{msg}");
        assert!(msg.contains(&format!("--sha256 {good}")) && msg.contains("no hash was ever published"), "{msg}");
        assert!(snapshot(&data).is_none());

        let wrong = "a".repeat(64);
        let err = add_with_pin(&data, &pin, &fixture("good.zip"), Some(&wrong), &Limits::default()).unwrap_err();
        assert!(matches!(err, StoreError::Mismatch { .. }), "{err}");
        assert!(snapshot(&data).is_none());

        let upper = good.to_uppercase();
        let installed = add_with_pin(&data, &pin, &fixture("good.zip"), Some(&upper), &Limits::default()).unwrap();
        assert!(!installed.pinned);
        assert_eq!(verify_with_pin(&data, &pin), Status::Ok { sha256: good, pinned: false });
        assert!(verify_with_pin(&data, &pin).describe().contains("not pinned"));
    }

    #[test]
    fn trusted_hashes_are_checked_against_pins_and_syntax() {
        let good = sha("good.zip");
        let pin = test_pin(&good);
        assert_eq!(expected_sha256(&pin, None).unwrap(), Some((good.clone(), true)));
        assert_eq!(expected_sha256(&pin, Some(&good)).unwrap(), Some((good.clone(), true)));
        assert!(matches!(expected_sha256(&pin, Some(&"b".repeat(64))), Err(StoreError::PinConflict { .. })));
        assert!(matches!(expected_sha256(&pin, Some("abc")), Err(StoreError::BadSha256 { .. })));
        assert!(matches!(expected_sha256(&pin, Some(&"g".repeat(64))), Err(StoreError::BadSha256 { .. })));
    }

    #[test]
    fn bad_test_pins_and_unknown_names_are_refused() {
        let tmp = TempDir::new("badpin");
        let good = sha("good.zip");
        for pin in [
            Pin { name: "../x", ..test_pin(&good) },
            Pin { name: "extracted", ..test_pin(&good) },
            Pin { file: "a/b.zip", ..test_pin(&good) },
            Pin { folder: "../up", ..test_pin(&good) },
            Pin { sha256: Some("ABC"), ..test_pin(&good) },
        ] {
            let err = add_with_pin(&tmp.data(), &pin, &fixture("good.zip"), None, &Limits::default()).unwrap_err();
            assert!(matches!(err, StoreError::BadPin { .. }), "{err}");
        }
        assert!(snapshot(&tmp.data()).is_none());
        let err = add(&tmp.data(), "movielens-42", &fixture("good.zip"), None).unwrap_err().to_string();
        assert!(err.contains("unknown dataset `movielens-42`") && err.contains("movielens-100k"), "{err}");
        assert!(matches!(dataset_dir(&tmp.data(), "nope"), Err(StoreError::Unknown { .. })));
    }

    #[test]
    fn registry_entries_are_well_formed() {
        let mut names = std::collections::HashSet::new();
        for pin in REGISTRY {
            check_pin(pin).unwrap();
            assert!(names.insert(pin.name), "{} registered twice", pin.name);
            match pin.sha256 {
                Some(sha) => assert_eq!(sha.len(), 64, "{}", pin.name),
                // Unpinned entries say why.
                None => assert!(pin.note.contains("SHA-256"), "{}: no sha256 and no note saying why", pin.name),
            }
            if !pin.url.starts_with("https://") {
                assert!(pin.url.starts_with("http://") && pin.note.contains("URL"), "{}: {}", pin.name, pin.url);
            }
            assert!(pin.url.ends_with(pin.file), "{}: the URL does not end in {}", pin.name, pin.file);
            assert!(pin.sha256.is_none() || pin.size.is_some(), "{}: pinned hash without size", pin.name);
        }
        assert_eq!(pin("movielens-100k").unwrap().folder, "ml-100k");
        assert_eq!(pin("movielens-1m").unwrap().folder, "ml-1m");
        assert!(pin("bookcrossing").unwrap().sha256.is_none());
    }

    #[test]
    fn list_and_dataset_dir_cover_the_registry() {
        let tmp = TempDir::new("list");
        let listed = list(&tmp.data());
        assert_eq!(listed.len(), REGISTRY.len());
        assert!(listed.iter().all(|(_, s)| *s == Status::Missing));
        let err = dataset_dir(&tmp.data(), "movielens-1m").unwrap_err().to_string();
        assert!(
            err.contains("cargo xtask data fetch movielens-1m --data-dir")
                && err.contains("cargo xtask data add movielens-1m path/to/ml-1m.zip"),
            "{err}"
        );
        let err = dataset_dir(&tmp.data(), "bookcrossing").unwrap_err().to_string();
        assert!(err.contains("cargo xtask data add bookcrossing path/to/BX-CSV-Dump.zip") && err.contains("--sha256"));
        assert!(!err.contains("data fetch"), "{err}");
    }

    #[test]
    fn data_dir_precedence_flag_env_cache() {
        let flag = Path::new("/flag");
        let env = Some(OsString::from("/env"));
        let cache = Some(PathBuf::from("/cache"));
        assert_eq!(data_dir_from(Some(flag), env.clone(), cache.clone()), PathBuf::from("/flag"));
        assert_eq!(data_dir_from(None, env, cache.clone()), PathBuf::from("/env"));
        assert_eq!(data_dir_from(None, Some(OsString::new()), cache.clone()), PathBuf::from("/cache/metarec"));
        assert_eq!(data_dir_from(None, None, cache), PathBuf::from("/cache/metarec"));
        assert_eq!(data_dir_from(None, None, None), std::env::temp_dir().join("metarec"));

        let home = Some(OsString::from("/home/u"));
        assert_eq!(xdg_cache_dir(Some("/xdg".into()), home.clone()), Some(PathBuf::from("/xdg")));
        assert_eq!(xdg_cache_dir(Some("relative".into()), home.clone()), Some(PathBuf::from("/home/u/.cache")));
        assert_eq!(xdg_cache_dir(None, home), Some(PathBuf::from("/home/u/.cache")));
        assert_eq!(xdg_cache_dir(None, None), None);
    }

    #[test]
    fn hints_quote_paths_for_the_shell() {
        assert_eq!(shell_quote("/home/u/.cache/metarec"), "/home/u/.cache/metarec");
        assert_eq!(shell_quote("/tmp/my data"), "'/tmp/my data'");
        assert_eq!(shell_quote("/tmp/it's"), r"'/tmp/it'\''s'");
    }
}
