//! Gzip-compressed run files (`results.csv.gz`, `rankings.csv.gz`, `candidates.csv.gz` and the
//! cells' row files): deterministic compression, transparent reading, and the members of a
//! multi-member file.
//!
//! [`compress`] writes one gzip member with a fixed header (modification time 0, no file name,
//! operating system 255 "unknown") at a fixed level, so equal bytes in give equal bytes out.
//! A file assembled from cells is the concatenation of their members, which is itself a valid
//! gzip file (RFC 1952, section 2.2): `gzip -d`, Python's `gzip` and pandas read it as the
//! concatenated text. Readers go through [`open`], which decompresses every member of a
//! `.gz` path and passes any other path through; [`run_file`] finds a run directory's file
//! whichever way it was written, so runs from before compression still read.

use crate::read::ReportError;
use flate2::Compression;
use flate2::bufread::GzDecoder;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The compression level of every file written (zlib's default: within 5% of level 9 on a
/// run's results.csv, at a third of the time).
pub const LEVEL: u32 = 6;

/// The suffix of a compressed file.
pub const SUFFIX: &str = ".gz";

/// `bytes` as one gzip member with a fixed header and level: the same bytes give the same
/// member on every machine that runs this build.
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::new(LEVEL));
    enc.write_all(bytes).expect("writing to memory");
    enc.finish().expect("writing to memory")
}

/// Whether `path` names a compressed file (its name ends in [`SUFFIX`]).
pub fn is_gz(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(SUFFIX))
}

/// The file `name` (e.g. `results.csv`) of the run directory `dir`: `name.gz` when it exists
/// or `name` does not (runs write the compressed file), else `name` (a run from before
/// compression).
pub fn run_file(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(format!("{name}{SUFFIX}"));
    let plain = dir.join(name);
    if gz.is_file() || !plain.is_file() { gz } else { plain }
}

/// A reader of `file`'s text: every member decompressed when `gz`, the bytes as they are
/// otherwise.
pub fn reader<R: Read + 'static>(file: R, gz: bool) -> Box<dyn Read> {
    if gz { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) }
}

/// The whole text of `path`, decompressed when it is a `.gz` file; errors name the path (a
/// truncated or corrupt file is an error, never a shorter text).
pub fn read_text(path: &Path) -> Result<Vec<u8>, ReportError> {
    let io = |source| ReportError::Io { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    reader(BufReader::new(file), is_gz(path)).read_to_end(&mut out).map_err(io)?;
    Ok(out)
}

/// The members of the gzip file `bytes`, each as its own compressed bytes (what
/// concatenating them gave); `source` names the file in errors. Each member is decompressed
/// to find where it ends, so a corrupt member is an error.
pub fn members<'a>(bytes: &'a [u8], source: &str) -> Result<Vec<&'a [u8]>, ReportError> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let mut dec = GzDecoder::new(rest);
        std::io::copy(&mut dec, &mut std::io::sink()).map_err(|e| ReportError::Io {
            path: source.to_owned(),
            source: std::io::Error::new(e.kind(), format!("gzip member {}: {e}", out.len() + 1)),
        })?;
        let after = dec.into_inner();
        let used = rest.len() - after.len();
        out.push(&rest[..used]);
        rest = after;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decompress(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn compression_is_deterministic_and_round_trips() {
        let text = b"suite,scenario\nml,warm\n".repeat(100);
        let a = compress(&text);
        assert_eq!(a, compress(&text));
        // The fixed header: magic, deflate, no flags, mtime 0, OS 255.
        assert_eq!(&a[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);
        assert_eq!(a[9], 255);
        assert!(a.len() < text.len() / 10, "{} bytes for {}", a.len(), text.len());
        assert_eq!(decompress(&a), text);
        assert_eq!(decompress(&compress(b"")), b"");
    }

    #[test]
    fn concatenated_members_read_as_the_concatenated_text_and_split_back() {
        let parts: [&[u8]; 4] = [b"head\n", b"", b"a,1\nb,2\n", b"c,3\n"];
        let members_in: Vec<Vec<u8>> = parts.iter().map(|p| compress(p)).collect();
        let file = members_in.concat();
        assert_eq!(decompress(&file), parts.concat());
        let split = members(&file, "f.gz").unwrap();
        assert_eq!(split.len(), 4);
        for (m, want) in split.iter().zip(&members_in) {
            assert_eq!(m, &want.as_slice());
        }
        assert!(members(&[], "f.gz").unwrap().is_empty());
    }

    #[test]
    fn truncated_or_corrupt_files_are_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("metarec-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let full = [compress(b"head\n"), compress(&b"row,1\n".repeat(1000))].concat();
        let path = dir.join("results.csv.gz");
        std::fs::write(&path, &full[..full.len() - 9]).unwrap();
        let err = read_text(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: I/O error: ", path.display())), "{err}");
        let err = members(&full[..full.len() - 9], "results.csv.gz").unwrap_err().to_string();
        assert!(err.starts_with("results.csv.gz: I/O error: gzip member 2: "), "{err}");
        let mut bad = full.clone();
        bad.extend_from_slice(b"not gzip");
        std::fs::write(&path, &bad).unwrap();
        let err = read_text(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: I/O error: ", path.display())), "{err}");
        // run_file prefers the compressed file and falls back to the plain one.
        assert_eq!(run_file(&dir, "results.csv"), path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(run_file(&dir, "results.csv"), path, "neither exists: the name written today");
        std::fs::write(dir.join("results.csv"), b"plain\n").unwrap();
        assert_eq!(run_file(&dir, "results.csv"), dir.join("results.csv"));
        assert_eq!(read_text(&dir.join("results.csv")).unwrap(), b"plain\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
