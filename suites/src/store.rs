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
    /// The files the loader reads, each with its own pin: a folder (or any zip) holding every
    /// required one with the right bytes installs too (route [`FileSet::route`]).
    pub file_sets: &'a [FileSet<'a>],
    /// Other pinned files that carry the dataset (a Python wheel), each a zip.
    pub packages: &'a [Package<'a>],
}

impl Pin<'_> {
    /// Whether the dataset has an archive route (`file` names one).
    pub fn has_archive(&self) -> bool {
        !self.file.is_empty()
    }
}

/// One file a loader reads, with its own pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    pub file: &'a str,
    /// SHA-256, lowercase hex; `None` when none is published (then `--sha256` vouches for it).
    pub sha256: Option<&'a str>,
    /// Whether the set is incomplete without it (an optional file is installed when present).
    pub required: bool,
}

/// The files a loader reads, pinned one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSet<'a> {
    /// Recorded in the marker as the install route, e.g. `official-files`.
    pub route: &'a str,
    /// Where the files go, relative to `extracted/`.
    pub folder: &'a str,
    pub members: &'a [Member<'a>],
}

/// A pinned file other than the archive that carries the dataset (a zip, e.g. a Python wheel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Package<'a> {
    /// Recorded in the marker as the install route, e.g. `recbole-wheel`.
    pub route: &'a str,
    pub file: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    /// The dataset's folder inside the package.
    pub folder: &'a str,
    /// The files the loader reads there, each pinned.
    pub members: &'a [Member<'a>],
    /// How to get it (a command), for `list` and hints.
    pub how: &'a str,
}

/// ML-100k's files in the GroupLens archive (pins: DESIGN.md, "Facts we verified").
const ML100K_FILES: &[Member<'static>] = &[
    Member {
        file: "u.data",
        sha256: Some("06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
        required: true,
    },
    Member {
        file: "u.user",
        sha256: Some("f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
        required: true,
    },
    Member {
        file: "u.item",
        sha256: Some("553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
        required: true,
    },
];

/// RecBole 1.2.1's ML-100k atomic files (`recbole/dataset_example/ml-100k/` in the wheel;
/// hashed from the wheel of SHA-256 9c994820..., 2026-12-03). The wheel's `ml-100k.kg` and
/// `ml-100k.link` are not read.
const ML100K_RECBOLE: &[Member<'static>] = &[
    Member {
        file: "ml-100k.inter",
        sha256: Some("4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff"),
        required: true,
    },
    Member {
        file: "ml-100k.user",
        sha256: Some("4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972"),
        required: true,
    },
    Member {
        file: "ml-100k.item",
        sha256: Some("51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532"),
        required: true,
    },
];

/// ML-1M's files: users.dat and movies.dat as published (DESIGN.md); no SHA-256 of
/// ratings.dat is known, so a folder of them needs `--sha256` for it.
const ML1M_FILES: &[Member<'static>] = &[
    Member { file: "ratings.dat", sha256: None, required: true },
    Member {
        file: "users.dat",
        sha256: Some("1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3"),
        required: true,
    },
    Member {
        file: "movies.dat",
        sha256: Some("0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
        required: true,
    },
];

/// MeLU's published split and side information (github.com/hoyeoplee/MeLU, `movielens/ml-1m/`
/// at commit f70c8ff91471193cd598bc241c6b0f22665f6375, hashed 2026-12-03). `warm_state.json`
/// (over 4 MiB) was not in the snapshot we had, so it has no pin: a copy needs `--sha256`
/// (MeLU's tree records it as git blob 34dd75bdfdffd59a6bd3def2c9cf65989a7d6f71). Every state
/// file is optional: a missing one is named by the loader and its scenario is left out.
/// (users.dat is GroupLens's own, same pin as ML-1M's.)
const MELU_FILES: &[Member<'static>] = &[
    Member {
        file: "users.dat",
        sha256: Some("1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3"),
        required: true,
    },
    Member {
        file: "movies_extrainfos.dat",
        sha256: Some("18432b1713b66a5262c11f6d929801a6e6f414d861cd2adf191dfba61e45c74d"),
        required: true,
    },
    Member { file: "warm_state.json", sha256: None, required: false },
    Member {
        file: "warm_state_y.json",
        sha256: Some("4ad7829ea3d8a4d58ca8c96a4f368c5c7eab6b8ed85430f2516ab3cd79b5dff2"),
        required: false,
    },
    Member {
        file: "user_cold_state.json",
        sha256: Some("ec7414e1da3b1636d34f0f3a5615e2a07bea9b82156123768049cc166ed20df1"),
        required: false,
    },
    Member {
        file: "user_cold_state_y.json",
        sha256: Some("62b84d073377c183cabfa0b78cb4e745f763b0713920033edf0bbbc43e1dca11"),
        required: false,
    },
    Member {
        file: "item_cold_state.json",
        sha256: Some("1cb691e39e9f64a12922f1c8da2bf8b9c07f885decc4dd4ee5aea0e5bbcc46a1"),
        required: false,
    },
    Member {
        file: "item_cold_state_y.json",
        sha256: Some("b9325e4b056cda7d2834f17c33c4ec34ee6516142c8b51e50103f80d2b0793bf"),
        required: false,
    },
    Member {
        file: "user_and_item_cold_state.json",
        sha256: Some("9045ceae16fbc0ca0a160b3ce96bedf97d304d04328755c9fadc9a4ba55450f0"),
        required: false,
    },
    Member {
        file: "user_and_item_cold_state_y.json",
        sha256: Some("5bc5057b32224d91fa1f8161f242db72b186afc1c51b571f5aab3c3e93cf0e90"),
        required: false,
    },
];

/// The Open Bandit Dataset sample in obp 0.4.1's wheel (`obp/` in the wheel; hashed from the
/// wheel of SHA-256 87dec9ca..., 2026-12-03): the logs of both behaviour policies and three
/// campaigns, their item features, and Bernoulli TS's production prior. The wheel's `.DS_Store`
/// files are not read.
const OBD_FILES: &[Member<'static>] = &[
    Member {
        file: "dataset/obd/random/all/all.csv",
        sha256: Some("7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1"),
        required: true,
    },
    Member {
        file: "dataset/obd/random/all/item_context.csv",
        sha256: Some("eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358"),
        required: true,
    },
    Member {
        file: "dataset/obd/random/men/men.csv",
        sha256: Some("ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb"),
        required: true,
    },
    Member {
        file: "dataset/obd/random/men/item_context.csv",
        sha256: Some("6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09"),
        required: true,
    },
    Member {
        file: "dataset/obd/random/women/women.csv",
        sha256: Some("e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34"),
        required: true,
    },
    Member {
        file: "dataset/obd/random/women/item_context.csv",
        sha256: Some("b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147"),
        required: true,
    },
    Member {
        file: "dataset/obd/bts/all/all.csv",
        sha256: Some("0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106"),
        required: true,
    },
    Member {
        file: "dataset/obd/bts/all/item_context.csv",
        sha256: Some("5d4359ba1cfa3ae88f0f1bae66bd633859fe6323817183632ee57b83539d9153"),
        required: true,
    },
    Member {
        file: "dataset/obd/bts/men/men.csv",
        sha256: Some("db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527"),
        required: true,
    },
    Member {
        file: "dataset/obd/bts/men/item_context.csv",
        sha256: Some("3b411ed6b0471316321a6b93f4f756bb25888eac6218cd71d0b603d41d85732d"),
        required: true,
    },
    Member {
        file: "dataset/obd/bts/women/women.csv",
        sha256: Some("e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8"),
        required: true,
    },
    Member {
        file: "dataset/obd/bts/women/item_context.csv",
        sha256: Some("a56295bad066a558eb783055afd9279f5f4e209a4776eafc22151c53f0ac89d4"),
        required: true,
    },
    Member {
        file: "policy/conf/prior_bts.yaml",
        sha256: Some("81a54fbdc184021ccc62ab97de81ec35461c032e3d7f99ccaa0a9745f732d251"),
        required: true,
    },
];

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
        file_sets: &[
            FileSet { route: "official-files", folder: "ml-100k", members: ML100K_FILES },
            FileSet { route: "recbole-files", folder: "ml-100k", members: ML100K_RECBOLE },
        ],
        packages: &[Package {
            route: "recbole-wheel",
            file: "recbole-1.2.1-py3-none-any.whl",
            sha256: "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            size: 2_130_151,
            folder: "recbole/dataset_example/ml-100k",
            members: ML100K_RECBOLE,
            how: "pip download --no-deps recbole==1.2.1",
        }],
    },
    Pin {
        name: "movielens-1m",
        url: "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        file: "ml-1m.zip",
        sha256: Some("a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
        size: Some(5_917_549),
        folder: "ml-1m",
        note: "",
        file_sets: &[FileSet { route: "official-files", folder: "ml-1m", members: ML1M_FILES }],
        packages: &[],
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
        file_sets: &[],
        packages: &[],
    },
    // MeLU's own ML-1M split (Lee et al., KDD 2019): no archive, a folder of its files
    // (`git archive` of the repository's movielens/ml-1m/, or a clone's folder).
    Pin {
        name: "melu-ml1m",
        url: "https://github.com/hoyeoplee/MeLU",
        file: "",
        sha256: None,
        size: None,
        folder: "ml-1m",
        note: "no archive: `cargo xtask data add melu-ml1m DIR` with DIR a copy of the repository's movielens/ml-1m/ \
               (each file pinned; warm_state.json, over 4 MiB, has no pin yet and needs --sha256)",
        file_sets: &[FileSet { route: "melu-files", folder: "ml-1m", members: MELU_FILES }],
        packages: &[],
    },
    // The Open Bandit Dataset's small sample (Saito et al., NeurIPS 2021 Datasets and
    // Benchmarks), shipped inside obp's pure-Python wheel on PyPI; no archive of its own. The
    // wheel's SHA-256 and size are PyPI's for obp-0.4.1-py3-none-any.whl.
    Pin {
        name: "open-bandit",
        url: "https://pypi.org/project/obp/0.4.1/",
        file: "",
        sha256: None,
        size: None,
        folder: "obp",
        note: "no archive: the sample ships inside obp's wheel; `cargo xtask data add open-bandit \
               obp-0.4.1-py3-none-any.whl` (every file the loader reads is checked against its own pin)",
        file_sets: &[],
        packages: &[Package {
            route: "obp-wheel",
            file: "obp-0.4.1-py3-none-any.whl",
            sha256: "87dec9caf4283c25ab13036532e0a24566f1c7bdcad1653a8ded43b2f5ef8208",
            size: 1_338_290,
            folder: "obp",
            members: OBD_FILES,
            how: "pip download --no-deps --only-binary=:all: --python-version 3.10 obp==0.4.1",
        }],
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
    #[error(
        "unknown dataset `{name}` (known: {known}; or a folder holding `{name}.inter`, RecBole's atomic files, \
         registers as `{name}`)"
    )]
    Unknown { name: String, known: String },
    // (The causes are fields named `error`, not `source`: the message includes them, and a
    // `source` would print them twice in an error chain.)
    #[error("{path}: {error}")]
    Io { path: String, error: std::io::Error },
    #[error(
        "{file}: SHA-256 mismatch for {name}: expected {expected}, actual {actual} ({size} bytes{}); \
         not the pinned file (truncated, corrupt or another release?){}",
        .pinned_size.map(|s| format!(", pinned size {s}")).unwrap_or_default(),
        if .others.is_empty() { String::new() } else { format!(". Also accepted: {}", .others) }
    )]
    Mismatch {
        name: String,
        file: String,
        expected: String,
        actual: String,
        size: u64,
        pinned_size: Option<u64>,
        /// What else `add` accepts (packages, file sets); may be empty.
        others: String,
    },
    #[error("{path}: not something {name} can be installed from; expected {expected}")]
    NotAFileSet { name: String, path: String, expected: String },
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
    /// How it was installed: `archive` (the pinned archive), a package's route (e.g.
    /// `recbole-wheel`), a file set's route (e.g. `official-files`, a folder or re-packed zip of
    /// files each matching its own pin) or `recbole-folder` (atomic files of a dataset the
    /// registry does not know; the suite file pins them). Markers written before routes
    /// existed are archive installs.
    #[serde(default = "archive_route")]
    pub route: String,
    /// What the user gave: `archive FILE`, `package FILE`, `folder DIR` or `re-packed zip ...`.
    #[serde(default)]
    pub source: String,
    /// Every extracted regular file, relative to `extracted/`, with its size.
    pub files: Vec<ExtractedFile>,
    /// The files the loader reads, with their SHA-256 (empty for archive installs, whose
    /// archive hash covers them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberHash>,
}

/// The route of an install from the pinned archive.
pub const ARCHIVE_ROUTE: &str = "archive";
/// The route of a folder of RecBole atomic files for a dataset the registry does not know.
pub const RECBOLE_FOLDER_ROUTE: &str = "recbole-folder";

fn archive_route() -> String {
    ARCHIVE_ROUTE.into()
}

/// One installed file the loader reads, with its hash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberHash {
    pub file: String,
    pub sha256: String,
    pub size: u64,
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
    /// [`Marker::route`].
    pub route: String,
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
///
/// `file` may also be a folder (or a zip other than the pinned archive) holding the files the
/// loader reads, each matching its own pin; and for a name the registry does not know, a
/// folder holding `NAME.inter` (RecBole's atomic files, see [`add_recbole_folder`]).
pub fn add(data_dir: &Path, name: &str, file: &Path, trusted: Option<&str>) -> Result<Installed, StoreError> {
    match pin(name) {
        Ok(p) => add_with_pin(data_dir, p, file, trusted, &Limits::default()),
        Err(_) if file.is_dir() && file.join(format!("{name}.inter")).is_file() => {
            add_recbole_folder(data_dir, name, file)
        }
        Err(e) => Err(e),
    }
}

/// The atomic-file extensions RecBole defines.
pub const ATOMIC_EXTENSIONS: [&str; 6] = ["inter", "user", "item", "kg", "link", "net"];

/// Registers a folder of RecBole atomic files `NAME.inter` (and `NAME.user`, `NAME.item`, ...
/// when present) as the dataset `NAME`, which the registry does not know: the files are copied
/// with their SHA-256 recorded (not pinned: the suite file that reads them pins each one, see
/// `kind = "recbole"`).
pub fn add_recbole_folder(data_dir: &Path, name: &str, dir: &Path) -> Result<Installed, StoreError> {
    if !plain_component(name) {
        return Err(StoreError::BadPin { name: name.into(), message: "the name must be a plain folder name".into() });
    }
    let names: Vec<String> = ATOMIC_EXTENSIONS.iter().map(|e| format!("{name}.{e}")).collect();
    let members: Vec<Member<'_>> = names.iter().map(|f| Member { file: f, sha256: None, required: false }).collect();
    let members = members.into_iter().filter(|m| dir.join(m.file).is_file()).collect::<Vec<_>>();
    let sets = [FileSet { route: RECBOLE_FOLDER_ROUTE, folder: name, members: &members }];
    let pin = Pin {
        name,
        url: "",
        file: "",
        sha256: None,
        size: None,
        folder: name,
        note: "",
        file_sets: &sets,
        packages: &[],
    };
    // Every file is vouched for by its own hash here; the suite's pins are the check.
    let trusted_all = |m: &Member<'_>| sha256_file(&dir.join(m.file)).map(|(s, _)| s);
    let pinned: Vec<(String, String)> =
        members.iter().map(|m| Ok((m.file.to_string(), trusted_all(m)?))).collect::<Result<_, StoreError>>()?;
    let members: Vec<Member<'_>> = members
        .iter()
        .map(|m| {
            let sha = pinned.iter().find(|(f, _)| f == m.file).map(|(_, s)| s.as_str());
            Member { sha256: sha, ..*m }
        })
        .collect();
    let sets = [FileSet { members: &members, ..sets[0] }];
    let pin = Pin { file_sets: &sets, ..pin };
    let mut installed = add_file_set(data_dir, &pin, dir, &dir.display().to_string(), None, None)?;
    // Recorded, not pinned: rewrite the marker's flag.
    let mut marker = read_marker(data_dir, name)?;
    marker.pinned = false;
    write_marker(data_dir, name, &marker)?;
    installed.pinned = false;
    Ok(installed)
}

/// Rewrites `<data-dir>/<name>/metarec.toml` atomically.
fn write_marker(data_dir: &Path, name: &str, marker: &Marker) -> Result<(), StoreError> {
    let root = data_dir.join(name);
    let text = format!(
        "# Written by metarec's data store after a verified install; `cargo xtask data verify` checks it.\n{}",
        toml::to_string(marker).map_err(|e| StoreError::Marker { path: MARKER.into(), message: e.to_string() })?
    );
    let tmp = root.join(format!("{MARKER_TMP_PREFIX}{}", unique_suffix()));
    let written = (|| {
        let mut f = File::create_new(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, root.join(MARKER))
    })();
    written.map_err(|error| {
        let _ = std::fs::remove_file(&tmp);
        StoreError::Io { path: root.join(MARKER).display().to_string(), error }
    })
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
    if pin.has_archive() && !plain_component(pin.file) {
        return bad("the archive file name must be a plain file name");
    }
    if !pin.has_archive() && ((pin.file_sets.is_empty() && pin.packages.is_empty()) || pin.sha256.is_some()) {
        return bad("a dataset without an archive needs a file set or a package, and no archive hash");
    }
    for p in pin.packages {
        if !plain_component(p.file) || p.route == ARCHIVE_ROUTE || archive::check_entry_name(p.folder).is_err() {
            return bad("a package needs a plain file name, a route other than `archive` and a relative folder");
        }
    }
    for set in pin.file_sets {
        if set.route == ARCHIVE_ROUTE
            || (!set.folder.is_empty() && archive::check_entry_name(set.folder).is_err())
            || set.members.iter().any(|m| !plain_component(m.file))
        {
            return bad("a file set needs a route other than `archive`, a relative folder and plain file names");
        }
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

/// What an install puts in place: the route, the file kept beside `extracted/` (none for a
/// folder of files) and the dataset's folder inside `extracted/`.
struct Route<'a> {
    route: &'a str,
    /// The archive or package kept in `<data-dir>/<name>/` (empty: none).
    file: &'a str,
    folder: &'a str,
    /// The files the loader reads, pinned, in `folder`.
    members: &'a [Member<'a>],
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
    let shown = file.display().to_string();
    if file.is_dir() {
        return add_file_set(data_dir, pin, file, &shown, trusted, None);
    }
    let expected = if pin.has_archive() { expected_sha256(pin, trusted)? } else { None };

    // 1. Hash the file where it is; nothing is written before it matches.
    let (actual, size) = sha256_file(file)?;
    if let Some((exp, pinned)) = &expected
        && *exp == actual
    {
        let route = Route { route: ARCHIVE_ROUTE, file: pin.file, folder: pin.folder, members: &[] };
        return install_archive(data_dir, pin.name, &route, file, &shown, exp, *pinned, size, limits);
    }
    if let Some(pkg) = pin.packages.iter().find(|p| p.sha256 == actual) {
        let route = Route { route: pkg.route, file: pkg.file, folder: pkg.folder, members: pkg.members };
        return install_archive(data_dir, pin.name, &route, file, &shown, pkg.sha256, true, size, limits);
    }
    // A zip that is neither the archive nor a package, holding the pinned files (re-packed).
    let mut inside = String::new();
    if !pin.file_sets.is_empty() && is_zip(file) {
        let unpack = std::env::temp_dir().join(format!("metarec-unpack-{}-{}", pin.name, unique_suffix()));
        let _cleanup = Rollback { staging: Some(unpack.clone()), created: Vec::new() };
        std::fs::create_dir(&unpack).map_err(io_err(&unpack))?;
        // Not extractable: then it is no re-packed zip either; the hash mismatch is the error.
        let unpacked = archive::extract_zip_labelled(file, &shown, &unpack, limits).is_ok();
        if let Some(dir) = find_file_set_dir(pin, &unpack).filter(|_| unpacked) {
            let source = format!("re-packed zip {} (sha256 {actual}, {size} bytes)", file.display());
            match add_file_set(data_dir, pin, &dir, &shown, trusted, Some(source)) {
                Ok(installed) => return Ok(installed),
                // Name the file the user gave, with the member at fault.
                Err(StoreError::Mismatch { file: member, expected: want, actual: got, .. }) => {
                    let member =
                        Path::new(&member).strip_prefix(&unpack).map_or(member.clone(), |p| p.display().to_string());
                    inside = format!(" (inside it, {member} has SHA-256 {got}, its pin is {want})");
                }
                Err(e) => return Err(e),
            }
        }
    }
    let others = format!("{}{inside}", alternatives(pin));
    match expected {
        Some((expected, _)) => Err(StoreError::Mismatch {
            name: pin.name.into(),
            file: shown,
            expected,
            actual,
            size,
            pinned_size: pin.size,
            others,
        }),
        // Only a package carries it (obp's wheel): the file is not that package.
        None if !pin.has_archive() && pin.file_sets.is_empty() && pin.packages.len() == 1 => {
            let p = &pin.packages[0];
            Err(StoreError::Mismatch {
                name: pin.name.into(),
                file: shown,
                expected: p.sha256.into(),
                actual,
                size,
                pinned_size: Some(p.size),
                others: format!("{} (`{}`)", p.file, p.how),
            })
        }
        None if pin.has_archive() => {
            let note = if pin.note.is_empty() { String::new() } else { format!(". Note: {}", pin.note) };
            Err(StoreError::Unpinned { name: pin.name.into(), file: shown, actual, size, note })
        }
        None => Err(StoreError::NotAFileSet { name: pin.name.into(), path: shown, expected: others }),
    }
}

/// What else `add` accepts for `pin`, for messages.
fn alternatives(pin: &Pin<'_>) -> String {
    let mut out = Vec::new();
    for p in pin.packages {
        out.push(format!("{} (sha256 {}, {} bytes; `{}`)", p.file, p.sha256, p.size, p.how));
    }
    for set in pin.file_sets {
        let files: Vec<String> =
            set.members.iter().map(|m| format!("{}{}", m.file, if m.required { "" } else { " (optional)" })).collect();
        out.push(format!("a folder or zip holding {}, each with its pinned SHA-256", files.join(", ")));
    }
    out.join("; or ")
}

/// Whether `path` starts like a zip file.
fn is_zip(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"PK\x03\x04"
}

/// The first file set of `pin` whose required files all sit in `dir`.
fn file_set_in<'p>(pin: &'p Pin<'p>, dir: &Path) -> Option<&'p FileSet<'p>> {
    pin.file_sets.iter().find(|set| set.members.iter().filter(|m| m.required).all(|m| dir.join(m.file).is_file()))
}

/// The folder (searched breadth-first, in name order) of an unpacked zip that holds a file set.
fn find_file_set_dir(pin: &Pin<'_>, root: &Path) -> Option<PathBuf> {
    let mut queue = std::collections::VecDeque::from([root.to_path_buf()]);
    while let Some(dir) = queue.pop_front() {
        if file_set_in(pin, &dir).is_some() {
            return Some(dir);
        }
        let mut subs: Vec<PathBuf> =
            std::fs::read_dir(&dir).ok()?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        subs.sort();
        queue.extend(subs);
    }
    None
}

/// The digest a folder install records as its SHA-256: of the lines `file sha256` of its
/// members, sorted by file name.
pub fn members_digest(members: &[MemberHash]) -> String {
    let mut lines: Vec<String> = members.iter().map(|m| format!("{} {}\n", m.file, m.sha256)).collect();
    lines.sort();
    hex(&Sha256::digest(lines.concat().as_bytes()))
}

/// Installs the files of one of `pin`'s file sets from the folder `dir` (or `dir/<folder>`):
/// each present member must match its pin (an unpinned one the hash the user vouches for).
fn add_file_set(
    data_dir: &Path,
    pin: &Pin<'_>,
    dir: &Path,
    shown: &str,
    trusted: Option<&str>,
    source: Option<String>,
) -> Result<Installed, StoreError> {
    let trusted = trusted.map(parse_sha256).transpose()?;
    let found = file_set_in(pin, dir).map(|s| (s, dir.to_path_buf())).or_else(|| {
        pin.file_sets.iter().find_map(|s| {
            let d = dir.join(s.folder);
            file_set_in(pin, &d).filter(|x| x.route == s.route).map(|x| (x, d))
        })
    });
    let Some((set, dir)) = found else {
        return Err(StoreError::NotAFileSet { name: pin.name.into(), path: shown.into(), expected: alternatives(pin) });
    };
    let mut members = Vec::new();
    let mut pinned = true;
    for m in set.members {
        let path = dir.join(m.file);
        if !path.is_file() {
            continue; // optional (required ones were checked)
        }
        let (sha, size) = sha256_file(&path)?;
        let want = match (m.sha256, &trusted) {
            (Some(p), _) => p.to_string(),
            (None, Some(t)) => {
                pinned = false;
                t.clone()
            }
            (None, None) => {
                return Err(StoreError::Unpinned {
                    name: pin.name.into(),
                    file: path.display().to_string(),
                    actual: sha,
                    size,
                    note: if pin.note.is_empty() { String::new() } else { format!(". Note: {}", pin.note) },
                });
            }
        };
        if sha != want {
            return Err(StoreError::Mismatch {
                name: pin.name.into(),
                file: path.display().to_string(),
                expected: want,
                actual: sha,
                size,
                pinned_size: None,
                others: String::new(),
            });
        }
        members.push(MemberHash { file: m.file.into(), sha256: sha, size });
    }
    if trusted.is_some() && pinned {
        let t = trusted.unwrap_or_default();
        return Err(StoreError::PinConflict { name: pin.name.into(), given: t, pinned: "every file it reads".into() });
    }

    // Stage the copies, hashing them again (the files could change between the two reads).
    let root = data_dir.join(pin.name);
    let mut rollback = Rollback { staging: None, created: Vec::new() };
    create_dirs(&root, &mut rollback.created)?;
    let staging = root.join(format!("{STAGING_PREFIX}{}", unique_suffix()));
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;
    rollback.staging = Some(staging.clone());
    let target = staging.join(EXTRACTED).join(set.folder);
    std::fs::create_dir_all(&target).map_err(io_err(&target))?;
    let mut files = Vec::new();
    for m in &members {
        let (from, to) = (dir.join(&m.file), target.join(&m.file));
        let src = File::open(&from).map_err(io_err(&from))?;
        let mut dst = File::create_new(&to).map_err(io_err(&to))?;
        let (copied, copied_size) = copy_hashing(src, &mut dst).map_err(io_err(&to))?;
        dst.sync_all().map_err(io_err(&to))?;
        if copied != m.sha256 {
            return Err(StoreError::Mismatch {
                name: pin.name.into(),
                file: from.display().to_string(),
                expected: m.sha256.clone(),
                actual: copied,
                size: copied_size,
                pinned_size: None,
                others: String::new(),
            });
        }
        let rel = if set.folder.is_empty() { m.file.clone() } else { format!("{}/{}", set.folder, m.file) };
        files.push(ExtractedFile { path: rel, size: m.size });
    }
    let marker = Marker {
        name: pin.name.into(),
        archive: String::new(),
        sha256: members_digest(&members),
        size: members.iter().map(|m| m.size).sum(),
        pinned,
        folder: set.folder.into(),
        route: set.route.into(),
        source: source.unwrap_or_else(|| format!("folder {shown}")),
        files,
        members,
    };
    finish_install(data_dir, pin.name, &root, &staging, "", marker, rollback)
}

/// Stages, extracts and installs the zip `file` (already hashed: `expected`) as `route`.
#[allow(clippy::too_many_arguments)]
fn install_archive(
    data_dir: &Path,
    name: &str,
    route: &Route<'_>,
    file: &Path,
    shown: &str,
    expected: &str,
    pinned: bool,
    size: u64,
    limits: &Limits,
) -> Result<Installed, StoreError> {
    let mismatch = |actual: String, size: u64| StoreError::Mismatch {
        name: name.into(),
        file: shown.into(),
        expected: expected.into(),
        actual,
        size,
        pinned_size: None,
        others: String::new(),
    };
    // 2. Stage: copy (hashing the copy: the file could change between the two reads), extract.
    let root = data_dir.join(name);
    let mut rollback = Rollback { staging: None, created: Vec::new() };
    create_dirs(&root, &mut rollback.created)?;
    let staging = root.join(format!("{STAGING_PREFIX}{}", unique_suffix()));
    std::fs::create_dir(&staging).map_err(io_err(&staging))?;
    rollback.staging = Some(staging.clone());
    let staged_archive = staging.join(route.file);
    {
        let src = File::open(file).map_err(io_err(file))?;
        let mut dst = File::create_new(&staged_archive).map_err(io_err(&staged_archive))?;
        let (copied, copied_size) = copy_hashing(src, &mut dst).map_err(io_err(&staged_archive))?;
        dst.sync_all().map_err(io_err(&staged_archive))?;
        if copied != expected {
            return Err(mismatch(copied, copied_size));
        }
    }
    let staged_extracted = staging.join(EXTRACTED);
    std::fs::create_dir(&staged_extracted).map_err(io_err(&staged_extracted))?;
    let files = archive::extract_zip_labelled(&staged_archive, shown, &staged_extracted, limits)
        .map_err(|error| StoreError::Archive { file: shown.into(), error })?;
    if !route.folder.is_empty() && !staged_extracted.join(route.folder).is_dir() {
        return Err(StoreError::MissingFolder { name: name.into(), file: shown.into(), folder: route.folder.into() });
    }
    // The package's own pins of the files the loader reads.
    let mut members = Vec::new();
    for m in route.members {
        let path = staged_extracted.join(route.folder).join(m.file);
        if !path.is_file() {
            if m.required {
                return Err(StoreError::MissingFolder {
                    name: name.into(),
                    file: shown.into(),
                    folder: format!("{}/{}", route.folder, m.file),
                });
            }
            continue;
        }
        let (sha, msize) = sha256_file(&path)?;
        if let Some(p) = m.sha256
            && p != sha
        {
            return Err(StoreError::Mismatch {
                name: name.into(),
                file: format!("{shown}: {}/{}", route.folder, m.file),
                expected: p.into(),
                actual: sha,
                size: msize,
                pinned_size: None,
                others: String::new(),
            });
        }
        members.push(MemberHash { file: m.file.into(), sha256: sha, size: msize });
    }
    let marker = Marker {
        name: name.into(),
        archive: route.file.into(),
        sha256: expected.into(),
        size,
        pinned,
        folder: route.folder.into(),
        route: route.route.into(),
        source: format!("{} {}", if route.route == ARCHIVE_ROUTE { "archive" } else { "package" }, route.file),
        files,
        members,
    };
    finish_install(data_dir, name, &root, &staging, route.file, marker, rollback)
}

/// 3. Swaps the staged install into place (marker last) and cleans up.
fn finish_install(
    data_dir: &Path,
    name: &str,
    root: &Path,
    staging: &Path,
    file: &str,
    marker: Marker,
    mut rollback: Rollback,
) -> Result<Installed, StoreError> {
    let marker_text = format!(
        "# Written by metarec's data store after a verified install; `cargo xtask data verify` checks it.\n{}",
        toml::to_string(&marker).map_err(|e| StoreError::Marker { path: MARKER.into(), message: e.to_string() })?
    );
    // The previous install's archive goes too, when it had another name (another route).
    let old_file = read_marker(data_dir, name).ok().map(|m| m.archive).filter(|a| !a.is_empty() && a != file);
    let replaced = root.join(MARKER).exists()
        || root.join(EXTRACTED).exists()
        || (!file.is_empty() && root.join(file).exists())
        || old_file.is_some();
    swap_in(root, staging, file, old_file.as_deref(), &marker_text)?;

    // Success: drop the staging folder (now holding the old install) and leftovers of
    // interrupted adds; keep the folders we created.
    rollback.created.clear();
    drop(rollback);
    remove_leftovers(root);
    let dir = dataset_path(data_dir, name, &marker.folder);
    Ok(Installed {
        name: name.into(),
        dir,
        sha256: marker.sha256,
        size: marker.size,
        pinned: marker.pinned,
        files: marker.files.len(),
        replaced,
        route: marker.route,
    })
}

/// Moves the staged archive and extraction into `root`, writing the marker last. On error,
/// moves everything back as it was.
fn swap_in(
    root: &Path,
    staging: &Path,
    file: &str,
    old_file: Option<&str>,
    marker_text: &str,
) -> Result<(), StoreError> {
    let old = staging.join("old");
    std::fs::create_dir(&old).map_err(io_err(&old))?;
    // (from, to) renames done so far, undone in reverse on error.
    let mut done: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<(), StoreError> {
        for item in [MARKER, EXTRACTED, file, old_file.unwrap_or("")] {
            if item.is_empty() {
                continue;
            }
            let from = root.join(item);
            if std::fs::symlink_metadata(&from).is_ok() {
                let to = old.join(item);
                std::fs::rename(&from, &to).map_err(io_err(&from))?;
                done.push((from, to));
            }
        }
        for item in [EXTRACTED, file] {
            if item.is_empty() {
                continue;
            }
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
    // What the registry says this route must be: archive file, folder, archive hash, members.
    let (file, folder, sha, members): (&str, &str, Option<&str>, &[Member<'_>]) = if marker.route == ARCHIVE_ROUTE {
        (pin.file, pin.folder, pin.sha256, &[])
    } else if let Some(p) = pin.packages.iter().find(|p| p.route == marker.route) {
        (p.file, p.folder, Some(p.sha256), p.members)
    } else if let Some(set) = pin.file_sets.iter().find(|s| s.route == marker.route) {
        ("", set.folder, None, set.members)
    } else {
        return Status::Corrupt(format!(
            "{MARKER} records the route `{}`, which the registry does not know for {}; add the dataset again",
            marker.route, pin.name
        ));
    };
    if marker.name != pin.name || marker.archive != file || marker.folder != folder {
        return Status::Corrupt(format!(
            "{MARKER} records {} / {} / folder `{}`, the registry says {} / {} / folder `{}`; add the dataset again",
            marker.name, marker.archive, marker.folder, pin.name, file, folder
        ));
    }
    if let Some(p) = sha
        && marker.sha256 != p
    {
        return Status::Corrupt(format!(
            "the installed archive has SHA-256 {}, the registry pins {p}; add the pinned archive again",
            marker.sha256
        ));
    }
    for m in &marker.members {
        if let Some(Some(p)) = members.iter().find(|x| x.file == m.file).map(|x| x.sha256)
            && m.sha256 != p
        {
            return Status::Corrupt(format!(
                "{} was installed with SHA-256 {}, the registry pins {p}; add the dataset again",
                m.file, m.sha256
            ));
        }
    }
    if let Some(missing) = members.iter().find(|x| x.required && !marker.members.iter().any(|m| m.file == x.file)) {
        return Status::Corrupt(format!("{MARKER} lists no {}; add the dataset again", missing.file));
    }
    verify_files(&root, &marker)
}

/// The checks every install gets: the archive's hash (when there is one), every extracted
/// file's presence and size, and the hash of every file the loader reads.
fn verify_files(root: &Path, marker: &Marker) -> Status {
    if !marker.archive.is_empty() {
        let archive = root.join(&marker.archive);
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
    let folder = if marker.folder.is_empty() { extracted.clone() } else { extracted.join(&marker.folder) };
    if !folder.is_dir() {
        return Status::Corrupt(format!("{} is missing", folder.display()));
    }
    for m in &marker.members {
        if archive::check_entry_name(&m.file).is_err() {
            return Status::Corrupt(format!("{MARKER} lists an unsafe member `{}`", m.file));
        }
        let path = folder.join(&m.file);
        match sha256_file(&path) {
            Err(e) => return Status::Corrupt(e.to_string()),
            Ok((sha, _)) if sha != m.sha256 => {
                return Status::Corrupt(format!("{}: SHA-256 {sha}, installed as {}", path.display(), m.sha256));
            }
            Ok(_) => {}
        }
    }
    if marker.archive.is_empty() && members_digest(&marker.members) != marker.sha256 {
        return Status::Corrupt(format!("{MARKER}: sha256 is not the digest of its members"));
    }
    Status::Ok { sha256: marker.sha256.clone(), pinned: marker.pinned }
}

/// The status of a dataset the registry does not know (a `recbole-folder` install).
pub fn verify_unregistered(data_dir: &Path, name: &str) -> Status {
    let root = data_dir.join(name);
    if !root.is_dir() {
        return Status::Missing;
    }
    if std::fs::symlink_metadata(root.join(MARKER)).is_err() {
        return Status::Incomplete;
    }
    match read_marker(data_dir, name) {
        Err(e) => Status::Corrupt(e.to_string()),
        Ok(m) if m.name != name || m.route != RECBOLE_FOLDER_ROUTE || !m.archive.is_empty() => {
            Status::Corrupt(format!("{MARKER} records {} installed as `{}`; add the dataset again", m.name, m.route))
        }
        Ok(m) => verify_files(&root, &m),
    }
}

/// The verified folder of dataset `name`, registered or not (a `recbole-folder` install), and
/// its marker.
pub fn installed_dir(data_dir: &Path, name: &str) -> Result<(PathBuf, Marker), StoreError> {
    let status = match pin(name) {
        Ok(p) => verify_with_pin(data_dir, p),
        Err(_) => verify_unregistered(data_dir, name),
    };
    match status {
        Status::Ok { .. } => {
            let marker = read_marker(data_dir, name)?;
            Ok((dataset_path(data_dir, name, &marker.folder), marker))
        }
        status => Err(StoreError::NotReady {
            name: name.into(),
            data_dir: data_dir.display().to_string(),
            state: status.describe(),
            hint: match pin(name) {
                Ok(p) => install_hint(p, data_dir),
                Err(_) => format!(
                    "Register a folder of RecBole atomic files with `cargo xtask data add {name} DIR --data-dir {}` \
                     (DIR holds {name}.inter and, optionally, {name}.user and {name}.item)",
                    shell_quote(&data_dir.display().to_string())
                ),
            },
        }),
    }
}

/// The verified folder of the registered dataset `name` (`<data-dir>/<name>/extracted/<folder>`),
/// or an error naming the `cargo xtask data` command that installs it.
pub fn dataset_dir(data_dir: &Path, name: &str) -> Result<PathBuf, StoreError> {
    dataset_dir_with_pin(data_dir, pin(name)?)
}

pub(crate) fn dataset_dir_with_pin(data_dir: &Path, pin: &Pin<'_>) -> Result<PathBuf, StoreError> {
    match verify_with_pin(data_dir, pin) {
        Status::Ok { .. } => {
            let marker = read_marker(data_dir, pin.name)?;
            Ok(dataset_path(data_dir, pin.name, &marker.folder))
        }
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
    let mut others = String::new();
    for p in pin.packages {
        others.push_str(&format!(
            "; or from {} (`{}`): `cargo xtask data add {name} path/to/{} --data-dir {dir}`",
            p.file, p.how, p.file
        ));
    }
    if !pin.file_sets.is_empty() && pin.has_archive() {
        others.push_str(&format!(
            "; or a folder of the extracted files: `cargo xtask data add {name} path/to/folder --data-dir {dir}`"
        ));
    }
    if !pin.has_archive() && pin.file_sets.is_empty() {
        let how: Vec<String> = pin
            .packages
            .iter()
            .map(|p| format!("`{}`, then `cargo xtask data add {name} path/to/{} --data-dir {dir}`", p.how, p.file))
            .collect();
        format!("{name} ships inside a package: {}", how.join("; or "))
    } else if !pin.has_archive() {
        format!("{name} has no archive: `cargo xtask data add {name} path/to/folder --data-dir {dir}` ({})", pin.note)
    } else if pin.sha256.is_some() {
        format!(
            "Run `cargo xtask data fetch {name} --data-dir {dir}` (downloads {}), or with a copy of {file}: \
             `cargo xtask data add {name} path/to/{file} --data-dir {dir}`{others}",
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
            file_sets: &[],
            packages: &[],
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

    /// A zip in `dir` named `name` holding `entries`.
    fn write_zip(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
        use std::io::Write as _;
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        for (n, data) in entries {
            let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            w.start_file(*n, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
        path
    }

    fn hex_of(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    const A: &[u8] = b"user_id:token\titem_id:token\trating:float\n1\t2\t3\n";
    const B: &[u8] = b"user_id:token\tage:token\n1\t20\n";

    /// Runs `check` with a pin whose archive is good.zip, whose package `fixture.whl` holds
    /// `pkg/data/{a.inter,b.user}`, and whose file set is those two files.
    fn with_routes(tmp: &TempDir, check: impl FnOnce(&Pin<'_>, &Path)) {
        let wheel = write_zip(
            &tmp.0.join("in"),
            "fixture.whl",
            &[("pkg/data/a.inter", A), ("pkg/data/b.user", B), ("pkg/x.py", b"x")],
        );
        let (ha, hb, hw, good) = (hex_of(A), hex_of(B), sha256_file(&wheel).unwrap().0, sha("good.zip"));
        let members = [
            Member { file: "a.inter", sha256: Some(&ha), required: true },
            Member { file: "b.user", sha256: Some(&hb), required: false },
        ];
        let packages = [Package {
            route: "wheel",
            file: "fixture.whl",
            sha256: &hw,
            size: 1,
            folder: "pkg/data",
            members: &members,
            how: "make it",
        }];
        let sets = [FileSet { route: "files", folder: "fixture", members: &members }];
        let pin = Pin { file_sets: &sets, packages: &packages, ..test_pin(&good) };
        check(&pin, &wheel);
    }

    #[test]
    fn a_pinned_package_installs_with_its_route_and_members() {
        let tmp = TempDir::new("wheel");
        let data = tmp.data();
        with_routes(&tmp, |pin, wheel| {
            let installed = add_with_pin(&data, pin, wheel, None, &Limits::default()).unwrap();
            assert_eq!((installed.route.as_str(), installed.pinned), ("wheel", true));
            assert_eq!(installed.dir, data.join("fixture/extracted/pkg/data"));
            assert!(verify_with_pin(&data, pin).is_ok());
            assert_eq!(dataset_dir_with_pin(&data, pin).unwrap(), installed.dir);
            let marker = read_marker(&data, "fixture").unwrap();
            assert_eq!((marker.archive.as_str(), marker.members.len()), ("fixture.whl", 2));
            assert_eq!(marker.members[0].sha256, hex_of(A));
            // A member changed after the install: corrupt.
            std::fs::write(installed.dir.join("a.inter"), b"user_id:token\titem_id:token\trating:float\n1\t2\t4\n")
                .unwrap();
            let status = verify_with_pin(&data, pin);
            assert!(matches!(&status, Status::Corrupt(r) if r.contains("a.inter")), "{status:?}");
            // Re-installing from the archive replaces the package, which goes too.
            add_with_pin(&data, pin, &fixture("good.zip"), None, &Limits::default()).unwrap();
            assert!(verify_with_pin(&data, pin).is_ok());
            assert!(!data.join("fixture/fixture.whl").exists());
            assert_eq!(read_marker(&data, "fixture").unwrap().route, ARCHIVE_ROUTE);
        });
    }

    #[test]
    fn a_wheel_with_the_wrong_hash_is_refused_and_changes_nothing() {
        let tmp = TempDir::new("badwheel");
        let data = tmp.data();
        with_routes(&tmp, |pin, _| {
            // Another wheel, whose data file differs too.
            let other = write_zip(
                &tmp.0.join("in2"),
                "fixture.whl",
                &[("pkg/data/a.inter", B), ("pkg/data/b.user", B), ("pkg/x.py", b"x")],
            );
            let err = add_with_pin(&data, pin, &other, None, &Limits::default()).unwrap_err();
            assert!(snapshot(&data).is_none());
            let msg = err.to_string();
            assert!(matches!(err, StoreError::Mismatch { .. }), "{msg}");
            assert!(msg.contains("in2/fixture.whl") && msg.contains("fixture.whl (sha256"), "{msg}");
            // Over a good install: unchanged.
            install_good(&data);
            let before = snapshot(&data);
            add_with_pin(&data, pin, &other, None, &Limits::default()).unwrap_err();
            assert_eq!(snapshot(&data), before);
            // The right wheel whose member does not match the member pin.
            let bad = write_zip(&tmp.0.join("in3"), "fixture.whl", &[("pkg/data/a.inter", B), ("pkg/data/b.user", B)]);
            let hw = sha256_file(&bad).unwrap().0;
            let packages = [Package { sha256: &hw, ..pin.packages[0] }];
            let pin2 = Pin { packages: &packages, ..*pin };
            let err = add_with_pin(&data, &pin2, &bad, None, &Limits::default()).unwrap_err().to_string();
            assert!(err.contains("in3/fixture.whl: pkg/data/a.inter") && err.contains(&hex_of(A)), "{err}");
            assert_eq!(snapshot(&data), before);
            // A wheel of another hash whose data files all match their pins is a re-packed zip
            // of them: it installs by the files route, not as the package.
            let repacked = write_zip(&tmp.0.join("in5"), "fixture.whl", &[("pkg/data/a.inter", A), ("pkg/x.py", b"y")]);
            let installed = add_with_pin(&data, pin, &repacked, None, &Limits::default()).unwrap();
            assert_eq!(installed.route, "files");
        });
    }

    #[test]
    fn a_folder_or_repacked_zip_of_pinned_files_installs() {
        let tmp = TempDir::new("files");
        let data = tmp.data();
        with_routes(&tmp, |pin, _| {
            let dir = tmp.0.join("folder");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("a.inter"), A).unwrap();
            // Without the optional b.user.
            let installed = add_with_pin(&data, pin, &dir, None, &Limits::default()).unwrap();
            assert_eq!((installed.route.as_str(), installed.files, installed.replaced), ("files", 1, false));
            assert_eq!(installed.dir, data.join("fixture/extracted/fixture"));
            let marker = read_marker(&data, "fixture").unwrap();
            assert!(marker.archive.is_empty() && marker.source.contains("folder"));
            assert_eq!(marker.sha256, members_digest(&marker.members));
            assert!(verify_with_pin(&data, pin).is_ok());
            // A re-packed zip (files at another depth, other bytes than any pinned archive).
            let zip = write_zip(&tmp.0.join("in4"), "mine.zip", &[("deep/er/a.inter", A), ("deep/er/b.user", B)]);
            let installed = add_with_pin(&data, pin, &zip, None, &Limits::default()).unwrap();
            assert_eq!((installed.route.as_str(), installed.files, installed.replaced), ("files", 2, true));
            assert!(read_marker(&data, "fixture").unwrap().source.contains("re-packed zip"));
            assert!(verify_with_pin(&data, pin).is_ok());
            // One file with other bytes: refused, naming it; nothing changes.
            let before = snapshot(&data);
            std::fs::write(dir.join("b.user"), b"user_id:token\tage:token\n1\t21\n").unwrap();
            let err = add_with_pin(&data, pin, &dir, None, &Limits::default()).unwrap_err().to_string();
            assert!(err.contains(&dir.join("b.user").display().to_string()) && err.contains(&hex_of(B)), "{err}");
            assert_eq!(snapshot(&data), before);
            // A folder without the required file.
            std::fs::remove_file(dir.join("a.inter")).unwrap();
            let err = add_with_pin(&data, pin, &dir, None, &Limits::default()).unwrap_err().to_string();
            assert!(err.contains("a.inter") && err.contains("not something"), "{err}");
            assert_eq!(snapshot(&data), before);
        });
    }

    #[test]
    fn unpinned_members_need_a_trusted_hash() {
        let tmp = TempDir::new("unpinned-member");
        let data = tmp.data();
        let ha = hex_of(A);
        let members = [
            Member { file: "a.inter", sha256: Some(&ha), required: true },
            Member { file: "b.user", sha256: None, required: false },
        ];
        let sets = [FileSet { route: "files", folder: "", members: &members }];
        let pin = Pin { name: "nofile", file: "", url: "", file_sets: &sets, ..test_pin("") };
        let pin = Pin { sha256: None, ..pin };
        let dir = tmp.0.join("folder");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.inter"), A).unwrap();
        assert!(add_with_pin(&data, &pin, &dir, None, &Limits::default()).unwrap().pinned);
        std::fs::write(dir.join("b.user"), B).unwrap();
        let err = add_with_pin(&data, &pin, &dir, None, &Limits::default()).unwrap_err().to_string();
        assert!(err.contains("b.user") && err.contains(&format!("--sha256 {}", hex_of(B))), "{err}");
        let installed = add_with_pin(&data, &pin, &dir, Some(&hex_of(B)), &Limits::default()).unwrap();
        assert!(!installed.pinned);
        assert_eq!(verify_with_pin(&data, &pin), Status::Ok { sha256: installed.sha256, pinned: false });
        // A file is not a folder for a dataset without an archive.
        let err = add_with_pin(&data, &pin, &dir.join("a.inter"), None, &Limits::default()).unwrap_err();
        assert!(matches!(err, StoreError::NotAFileSet { .. }), "{err}");
    }

    #[test]
    fn an_unregistered_recbole_folder_registers_by_name() {
        let tmp = TempDir::new("recbole-folder");
        let data = tmp.data();
        let dir = tmp.0.join("mydata");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("mydata.inter"), A).unwrap();
        std::fs::write(dir.join("mydata.user"), B).unwrap();
        std::fs::write(dir.join("README"), b"not copied").unwrap();
        let installed = add(&data, "mydata", &dir, None).unwrap();
        assert_eq!((installed.route.as_str(), installed.pinned, installed.files), (RECBOLE_FOLDER_ROUTE, false, 2));
        let (folder, marker) = installed_dir(&data, "mydata").unwrap();
        assert_eq!(folder, data.join("mydata/extracted/mydata"));
        assert_eq!(marker.members.iter().map(|m| m.file.as_str()).collect::<Vec<_>>(), ["mydata.inter", "mydata.user"]);
        std::fs::write(folder.join("mydata.user"), A).unwrap();
        let err = installed_dir(&data, "mydata").unwrap_err().to_string();
        assert!(err.contains("mydata.user") && err.contains("corrupt"), "{err}");
        // Unknown and without atomic files: the unknown-dataset error says what would register.
        let err = add(&data, "other", &dir, None).unwrap_err().to_string();
        assert!(err.contains("unknown dataset `other`") && err.contains("other.inter"), "{err}");
    }

    #[test]
    fn registry_entries_are_well_formed() {
        let mut names = std::collections::HashSet::new();
        for pin in REGISTRY {
            check_pin(pin).unwrap();
            assert!(names.insert(pin.name), "{} registered twice", pin.name);
            match pin.sha256 {
                Some(sha) => assert_eq!(sha.len(), 64, "{}", pin.name),
                // Entries without an archive have their files pinned one by one.
                None if !pin.has_archive() => {
                    assert!(pin.file_sets.iter().all(|s| s.members.iter().any(|m| m.sha256.is_some())), "{}", pin.name)
                }
                // Unpinned entries say why.
                None => assert!(pin.note.contains("SHA-256"), "{}: no sha256 and no note saying why", pin.name),
            }
            // Every member pin is 64 lowercase hex digits; unpinned members are named in the note
            // or have no published hash (ML-1M's ratings.dat).
            for m in pin.file_sets.iter().flat_map(|s| s.members).chain(pin.packages.iter().flat_map(|p| p.members)) {
                if let Some(sha) = m.sha256 {
                    assert!(parse_sha256(sha).is_ok_and(|x| x == sha), "{}: {}", pin.name, m.file);
                }
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

    #[test]
    fn a_package_only_dataset_installs_nested_members_and_refuses_another_file_with_both_hashes() {
        let tmp = TempDir::new("package-only");
        let data = tmp.data();
        let wheel = write_zip(&tmp.0, "pkg.whl", &[("pkg/d/a.csv", A), ("pkg/conf/p.yaml", B), ("pkg/x.py", b"")]);
        let hw = sha256_file(&wheel).unwrap().0;
        let (ha, hb) = (hex_of(A), hex_of(B));
        let members = [
            Member { file: "d/a.csv", sha256: Some(&ha), required: true },
            Member { file: "conf/p.yaml", sha256: Some(&hb), required: true },
        ];
        let packages = [Package {
            route: "pkg-wheel",
            file: "pkg.whl",
            sha256: &hw,
            size: 1,
            folder: "pkg",
            members: &members,
            how: "make it",
        }];
        let pin = Pin {
            file: "",
            sha256: None,
            size: None,
            folder: "pkg",
            file_sets: &[],
            packages: &packages,
            ..test_pin("")
        };
        // Another zip: refused, naming the file and both hashes; nothing is written.
        let other = write_zip(&tmp.0, "other.whl", &[("pkg/d/a.csv", B)]);
        let actual = sha256_file(&other).unwrap().0;
        let err = add_with_pin(&data, &pin, &other, None, &Limits::default()).unwrap_err().to_string();
        assert!(err.contains(&other.display().to_string()) && err.contains(&hw) && err.contains(&actual), "{err}");
        assert!(!data.exists());
        let installed = add_with_pin(&data, &pin, &wheel, None, &Limits::default()).unwrap();
        assert_eq!(
            (installed.route.as_str(), installed.dir.clone()),
            ("pkg-wheel", data.join("fixture/extracted/pkg"))
        );
        assert!(verify_with_pin(&data, &pin).is_ok());
        assert_eq!(std::fs::read(installed.dir.join("d/a.csv")).unwrap(), A);
        std::fs::write(installed.dir.join("conf/p.yaml"), b"changed").unwrap();
        assert!(matches!(verify_with_pin(&data, &pin), Status::Corrupt(r) if r.contains("p.yaml")));
    }

    #[test]
    fn open_bandit_is_pinned_by_obps_wheel_and_names_both_hashes() {
        let p = pin("open-bandit").unwrap();
        check_pin(p).unwrap();
        assert_eq!(p.packages[0].sha256, "87dec9caf4283c25ab13036532e0a24566f1c7bdcad1653a8ded43b2f5ef8208");
        assert_eq!(p.packages[0].members.len(), 13);
        let tmp = TempDir::new("obp-wrong");
        let data = tmp.data();
        let wheel = write_zip(&tmp.0, "obp-0.4.1-py3-none-any.whl", &[("obp/dataset/obd/random/all/all.csv", A)]);
        let actual = sha256_file(&wheel).unwrap().0;
        let err = add(&data, "open-bandit", &wheel, None).unwrap_err().to_string();
        for want in [wheel.display().to_string(), p.packages[0].sha256.to_string(), actual] {
            assert!(err.contains(&want), "{want} not in {err}");
        }
        assert!(!data.exists());
        let hint = install_hint(p, &data);
        assert!(hint.contains("pip download") && hint.contains("cargo xtask data add open-bandit"), "{hint}");
    }
}
