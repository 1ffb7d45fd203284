//! Safe extraction of dataset zip archives.
//!
//! `zip::ZipArchive` reads the archive; the checks are ours (its `extract()` is not used):
//!
//! - every entry name passes `enclosed_name()` *and* our own rules: relative, `/`-separated,
//!   no `..` or `.` or empty components, no backslashes, no drive prefixes or colons, no
//!   control characters, no duplicates (also case-insensitively, for case-insensitive file
//!   systems);
//! - only regular files and directories: symlinks (unix mode `S_IFLNK`), devices, FIFOs and
//!   sockets are refused, as are encrypted entries;
//! - limits on the number of entries, each entry's size and the total size are checked twice:
//!   on the sizes the archive declares, before anything is written, and on the bytes actually
//!   decompressed while writing (a declared size can lie). An entry that decompresses to more
//!   or fewer bytes than it declares is refused.
//!
//! Files are created with `create_new` (never overwriting) and default permissions (the
//! archive's mode bits are ignored). Errors name the archive and the entry. On error the
//! destination may hold a partial extraction: callers extract into a staging folder and
//! remove it (the data store does).

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Limits on what one archive may unpack to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the archive, directories included.
    pub max_entries: usize,
    /// Bytes of one extracted file.
    pub max_entry_bytes: u64,
    /// Bytes of all extracted files together.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    /// Generous for the registered datasets (the largest, Book-Crossing, unpacks three files,
    /// about 119 MB), far below what would fill a disk.
    fn default() -> Self {
        Limits { max_entries: 10_000, max_entry_bytes: 1 << 30, max_total_bytes: 4 << 30 }
    }
}

/// One extracted regular file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtractedFile {
    /// Relative path inside the destination, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    // Causes are fields named `error`, not `source`: the messages include them, and a `source`
    // would print them twice in an error chain.
    #[error("{archive}: {error}")]
    Open { archive: String, error: std::io::Error },
    #[error("{archive}: not a readable zip archive (truncated or corrupt?): {message}")]
    NotZip { archive: String, message: String },
    #[error("{archive}: {count} entries, more than the limit of {limit}")]
    TooManyEntries { archive: String, count: usize, limit: usize },
    #[error("{archive}: entry `{entry}`: unsafe path: {reason}")]
    UnsafePath { archive: String, entry: String, reason: String },
    #[error("{archive}: entry `{entry}` is a symbolic link; symlinks are refused")]
    Symlink { archive: String, entry: String },
    #[error("{archive}: entry `{entry}` is not a regular file or directory (unix mode {mode:o}); refused")]
    SpecialFile { archive: String, entry: String, mode: u32 },
    #[error("{archive}: entry `{entry}` is encrypted; refused")]
    Encrypted { archive: String, entry: String },
    #[error("{archive}: entry `{entry}` appears twice (names compared case-insensitively)")]
    Duplicate { archive: String, entry: String },
    #[error("{archive}: entry `{entry}` is {size} bytes, more than the per-entry limit of {limit} bytes")]
    EntryTooLarge { archive: String, entry: String, size: u64, limit: u64 },
    #[error("{archive}: entries total more than the limit of {limit} bytes (reached at entry `{entry}`)")]
    TotalTooLarge { archive: String, entry: String, limit: u64 },
    #[error("{archive}: entry `{entry}` declares {declared} bytes but decompresses to {actual}")]
    SizeMismatch { archive: String, entry: String, declared: u64, actual: String },
    #[error("{archive}: entry `{entry}` is corrupt: {message}")]
    Corrupt { archive: String, entry: String, message: String },
    #[error("{archive}: entry `{entry}`: writing {path}: {error}")]
    Write { archive: String, entry: String, path: String, error: std::io::Error },
}

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Checks an entry name against our rules and returns its components. A trailing `/` (a
/// directory entry) is allowed.
pub fn check_entry_name(name: &str) -> Result<Vec<&str>, String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(format!("control character {:?}", c));
    }
    if name.contains('\\') {
        return Err("backslash in the name (a Windows separator could escape the folder)".into());
    }
    if name.starts_with('/') {
        return Err("absolute path".into());
    }
    if name.contains(':') {
        return Err("colon in the name (drive prefix or alternate data stream)".into());
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            "" => return Err("empty path component".into()),
            "." => return Err("`.` component".into()),
            ".." => return Err("`..` component (would escape the destination)".into()),
            p => parts.push(p),
        }
    }
    Ok(parts)
}

/// Extracts the zip file `archive` into the existing folder `dest` and returns the regular
/// files written, in archive order. See the module documentation for what is refused.
pub fn extract_zip(archive: &Path, dest: &Path, limits: &Limits) -> Result<Vec<ExtractedFile>, ArchiveError> {
    extract_zip_labelled(archive, &archive.display().to_string(), dest, limits)
}

/// [`extract_zip`], naming the archive `label` in errors (the data store extracts a verified
/// copy and names the file the user gave).
pub fn extract_zip_labelled(
    archive: &Path,
    label: &str,
    dest: &Path,
    limits: &Limits,
) -> Result<Vec<ExtractedFile>, ArchiveError> {
    let shown = label.to_string();
    let file = File::open(archive).map_err(|error| ArchiveError::Open { archive: shown.clone(), error })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ArchiveError::NotZip { archive: shown.clone(), message: e.to_string() })?;
    let count = zip.len();
    if count > limits.max_entries {
        return Err(ArchiveError::TooManyEntries { archive: shown, count, limit: limits.max_entries });
    }

    // Pass 1: names, kinds and declared sizes, before anything is written.
    struct Planned {
        rel: Vec<String>,
        is_dir: bool,
        declared: u64,
    }
    let mut plan = Vec::with_capacity(count);
    let mut seen = HashSet::new();
    let mut declared_total = 0u64;
    for i in 0..count {
        let entry = zip
            .by_index_data(i)
            .map_err(|e| ArchiveError::NotZip { archive: shown.clone(), message: e.to_string() })?;
        let name = match entry.name() {
            Ok(n) => n.into_owned(),
            Err(e) => {
                let entry = String::from_utf8_lossy(entry.name_raw()).into_owned();
                return Err(ArchiveError::UnsafePath {
                    archive: shown,
                    entry,
                    reason: format!("undecodable name: {e}"),
                });
            }
        };
        let unsafe_path =
            |reason: String| ArchiveError::UnsafePath { archive: shown.clone(), entry: name.clone(), reason };
        let parts = check_entry_name(&name).map_err(unsafe_path)?;
        if entry.enclosed_name().is_none() {
            return Err(unsafe_path("zip's enclosed_name() rejects it".into()));
        }
        if entry.encrypted() {
            return Err(ArchiveError::Encrypted { archive: shown, entry: name });
        }
        let mode = entry.unix_mode();
        let is_dir = match mode.map(|m| m & S_IFMT) {
            Some(S_IFLNK) => return Err(ArchiveError::Symlink { archive: shown, entry: name }),
            Some(S_IFDIR) => true,
            Some(S_IFREG) | Some(0) | None => entry.is_dir(),
            Some(_) => {
                return Err(ArchiveError::SpecialFile { archive: shown, entry: name, mode: mode.unwrap_or(0) });
            }
        };
        if entry.is_symlink() {
            return Err(ArchiveError::Symlink { archive: shown, entry: name });
        }
        if !seen.insert(parts.join("/").to_lowercase()) {
            return Err(ArchiveError::Duplicate { archive: shown, entry: name });
        }
        let declared = if is_dir { 0 } else { entry.size() };
        if declared > limits.max_entry_bytes {
            return Err(ArchiveError::EntryTooLarge {
                archive: shown,
                entry: name,
                size: declared,
                limit: limits.max_entry_bytes,
            });
        }
        declared_total = declared_total.saturating_add(declared);
        if declared_total > limits.max_total_bytes {
            return Err(ArchiveError::TotalTooLarge { archive: shown, entry: name, limit: limits.max_total_bytes });
        }
        plan.push(Planned { rel: parts.iter().map(|p| p.to_string()).collect(), is_dir, declared });
    }

    // Pass 2: write, counting the bytes that actually come out.
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for (i, planned) in plan.iter().enumerate() {
        let rel = planned.rel.join("/");
        let target: PathBuf = planned.rel.iter().fold(dest.to_path_buf(), |p, c| p.join(c));
        let write_err = |error: std::io::Error| ArchiveError::Write {
            archive: shown.clone(),
            entry: rel.clone(),
            path: target.display().to_string(),
            error,
        };
        if planned.is_dir {
            std::fs::create_dir_all(&target).map_err(write_err)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(write_err)?;
        }
        let mut entry = zip.by_index(i).map_err(|e| ArchiveError::Corrupt {
            archive: shown.clone(),
            entry: rel.clone(),
            message: e.to_string(),
        })?;
        let mut out = File::create_new(&target).map_err(write_err)?;
        let mut written = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ArchiveError::Corrupt { archive: shown, entry: rel, message: e.to_string() });
                }
            };
            written += n as u64;
            total += n as u64;
            if written > limits.max_entry_bytes {
                return Err(ArchiveError::EntryTooLarge {
                    archive: shown,
                    entry: rel,
                    size: written,
                    limit: limits.max_entry_bytes,
                });
            }
            if total > limits.max_total_bytes {
                return Err(ArchiveError::TotalTooLarge { archive: shown, entry: rel, limit: limits.max_total_bytes });
            }
            if written > planned.declared {
                return Err(ArchiveError::SizeMismatch {
                    archive: shown,
                    entry: rel,
                    declared: planned.declared,
                    actual: format!("more (stopped at {written} bytes)"),
                });
            }
            out.write_all(&buf[..n]).map_err(write_err)?;
        }
        if written != planned.declared {
            return Err(ArchiveError::SizeMismatch {
                archive: shown,
                entry: rel,
                declared: planned.declared,
                actual: written.to_string(),
            });
        }
        out.sync_all().map_err(write_err)?;
        files.push(ExtractedFile { path: rel, size: written });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/archives").join(name)
    }

    /// A fresh folder under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(label: &str) -> TempDir {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let dir = std::env::temp_dir().join(format!("metarec-archive-{label}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Builds a stored (uncompressed) zip in memory; `mode` sets the unix mode (type and permissions).
    fn build(entries: &[(&str, &[u8], Option<u32>)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, mode) in entries {
            let mut opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            if let Some(m) = mode {
                opts = opts.system(zip::System::Unix).external_attributes(m << 16);
            }
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn extract_bytes(bytes: &[u8], limits: &Limits) -> (TempDir, Result<Vec<ExtractedFile>, ArchiveError>) {
        let tmp = TempDir::new("mem");
        let path = tmp.0.join("a.zip");
        std::fs::write(&path, bytes).unwrap();
        let dest = tmp.0.join("out");
        std::fs::create_dir(&dest).unwrap();
        let r = extract_zip(&path, &dest, limits);
        (tmp, r)
    }

    #[test]
    fn entry_name_rules() {
        assert_eq!(check_entry_name("ml-100k/u.data").unwrap(), vec!["ml-100k", "u.data"]);
        assert_eq!(check_entry_name("ml-100k/").unwrap(), vec!["ml-100k"]);
        for (bad, why) in [
            ("../evil.txt", ".."),
            ("a/../../evil.txt", ".."),
            ("a/..", ".."),
            ("/etc/passwd", "absolute"),
            ("C:/evil.txt", "drive"),
            ("C:evil.txt", "drive"),
            ("..\\evil.txt", "backslash"),
            ("a\\..\\..\\evil.txt", "backslash"),
            ("a//b", "empty"),
            ("./a", "`.`"),
            ("", "empty"),
            ("a\nb", "control"),
            ("a\0b", "control"),
        ] {
            let err = check_entry_name(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn good_fixture_extracts_every_file_with_its_size() {
        let tmp = TempDir::new("good");
        let files = extract_zip(&fixture("good.zip"), &tmp.0, &Limits::default()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["fixture/ratings.dat", "fixture/README", "fixture/sub/items.dat"]);
        for f in &files {
            assert_eq!(std::fs::metadata(tmp.0.join(&f.path)).unwrap().len(), f.size, "{}", f.path);
        }
        assert!(std::fs::read_to_string(tmp.0.join("fixture/ratings.dat")).unwrap().starts_with("1::1::"));
    }

    #[test]
    fn fixtures_with_unsafe_entries_are_refused_naming_archive_and_entry() {
        let tmp = TempDir::new("unsafe");
        let outside = tmp.0.join("evil.txt");
        let dest = tmp.0.join("out");
        std::fs::create_dir(&dest).unwrap();
        let err = extract_zip(&fixture("zip-slip.zip"), &dest, &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { ref entry, .. } if entry == "../evil.txt"), "{err}");
        assert!(err.to_string().contains("zip-slip.zip") && err.to_string().contains("`..`"), "{err}");
        assert!(!outside.exists());

        let err = extract_zip(&fixture("absolute.zip"), &dest, &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::UnsafePath { ref entry, .. } if entry == "/tmp/metarec-evil.txt"), "{err}");
        assert!(err.to_string().contains("absolute.zip") && err.to_string().contains("absolute path"), "{err}");

        let err = extract_zip(&fixture("symlink.zip"), &dest, &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Symlink { ref entry, .. } if entry == "fixture/link"), "{err}");
        assert!(err.to_string().contains("symlink.zip"), "{err}");

        // All three are refused in the first pass: nothing was written.
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    }

    #[test]
    fn truncated_fixture_is_not_a_zip() {
        let tmp = TempDir::new("trunc");
        let err = extract_zip(&fixture("truncated.zip"), &tmp.0, &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::NotZip { .. }), "{err}");
        assert!(err.to_string().contains("truncated.zip"), "{err}");
    }

    #[test]
    fn a_declared_size_that_lies_is_caught_while_writing() {
        let tmp = TempDir::new("lying");
        let err = extract_zip(&fixture("lying-size.zip"), &tmp.0, &Limits::default()).unwrap_err();
        // Our byte count catches it (SizeMismatch), or the zip reader itself, which also stops
        // at the declared size (Corrupt): either way before more than 10 bytes are written.
        match &err {
            ArchiveError::SizeMismatch { entry, declared, .. } => {
                assert_eq!(entry, "fixture/big.dat");
                assert_eq!(*declared, 10);
            }
            ArchiveError::Corrupt { entry, message, .. } => {
                assert_eq!(entry, "fixture/big.dat");
                assert!(message.contains("declared"), "{message}");
            }
            other => panic!("expected SizeMismatch or Corrupt, got {other}"),
        }
        // Writing stopped at the first chunk past the declared size.
        let written = std::fs::metadata(tmp.0.join("fixture/big.dat")).map(|m| m.len()).unwrap_or(0);
        assert!(written <= 10, "wrote {written} bytes");
    }

    #[test]
    fn size_limits_apply_to_declared_and_to_actual_bytes() {
        let small = Limits { max_entries: 10, max_entry_bytes: 100, max_total_bytes: 150 };
        let (_t, r) = extract_bytes(&build(&[("a.dat", &[1u8; 101], None)]), &small);
        let err = r.unwrap_err();
        assert!(matches!(err, ArchiveError::EntryTooLarge { size: 101, limit: 100, .. }), "{err}");
        assert!(err.to_string().contains("`a.dat`"), "{err}");

        let (_t, r) = extract_bytes(&build(&[("a.dat", &[1u8; 80], None), ("b.dat", &[2u8; 80], None)]), &small);
        let err = r.unwrap_err();
        assert!(matches!(err, ArchiveError::TotalTooLarge { ref entry, .. } if entry == "b.dat"), "{err}");

        // The lying fixture with a limit below its real size: the per-entry limit or the
        // declared size stops it, whichever comes first; here the limit (declared 10 < 20).
        let tiny = Limits { max_entries: 10, max_entry_bytes: 5, max_total_bytes: 1000 };
        let tmp = TempDir::new("lying-limit");
        let err = extract_zip(&fixture("lying-size.zip"), &tmp.0, &tiny).unwrap_err();
        assert!(matches!(err, ArchiveError::EntryTooLarge { size: 10, limit: 5, .. }), "{err}");

        let (_t, r) = extract_bytes(
            &build(&[("a", b"1", None), ("b", b"2", None), ("c", b"3", None)]),
            &Limits { max_entries: 2, ..Limits::default() },
        );
        assert!(matches!(r.unwrap_err(), ArchiveError::TooManyEntries { count: 3, limit: 2, .. }));
    }

    #[test]
    fn special_files_duplicates_and_windows_tricks_are_refused() {
        let lim = Limits::default();
        let (_t, r) = extract_bytes(&build(&[("fifo", b"", Some(0o010_644))]), &lim);
        assert!(matches!(r.unwrap_err(), ArchiveError::SpecialFile { .. }));
        let (_t, r) = extract_bytes(&build(&[("link", b"/etc/passwd", Some(0o120_777))]), &lim);
        assert!(matches!(r.unwrap_err(), ArchiveError::Symlink { .. }));
        let (_t, r) = extract_bytes(&build(&[("a/B.txt", b"1", None), ("a/b.txt", b"2", None)]), &lim);
        assert!(matches!(r.unwrap_err(), ArchiveError::Duplicate { ref entry, .. } if entry == "a/b.txt"));
        for name in ["..\\evil.txt", "C:\\evil.txt", "C:evil.txt", "a/../../evil.txt"] {
            let (_t, r) = extract_bytes(&build(&[(name, b"x", None)]), &lim);
            assert!(matches!(r.unwrap_err(), ArchiveError::UnsafePath { .. }), "{name}");
        }
    }

    #[test]
    fn directories_and_nested_files_extract() {
        let (t, r) = extract_bytes(
            &build(&[("d/", b"", Some(0o040_755)), ("d/e/f.txt", b"hello", Some(0o100_755))]),
            &Limits::default(),
        );
        let files = r.unwrap();
        assert_eq!(files, vec![ExtractedFile { path: "d/e/f.txt".into(), size: 5 }]);
        assert_eq!(std::fs::read(t.0.join("out/d/e/f.txt")).unwrap(), b"hello");
    }
}
