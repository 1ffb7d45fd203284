//! Tidy checks run as tests: every Rust file opens with a `//!` doc, no test is ignored or
//! expected to panic, every embedded suite pins its data, and dependencies point one way. Vendored
//! third-party code (`vendor/`) keeps its own conventions and is not checked.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | "runs" | ".git" | "gpu-bin" | "vendor") && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("//!"), "{} does not open with a //! doc comment", f.display());
        let ignore = ["#[", "ignore]"].concat();
        let should_panic = ["#[", "should_panic"].concat();
        assert!(!text.contains(&ignore), "{} has an ignored test", f.display());
        assert!(!text.contains(&should_panic), "{} expects a panic; check Err explicitly", f.display());
    }
}

#[test]
fn every_embedded_suite_pins_its_data() {
    for name in metarec_suites::suite::embedded_names() {
        let s = metarec_suites::load_suite(name).unwrap();
        let Some(pin) = s.def.data.sha256.as_deref() else {
            // Only a dataset whose archive has no published hash may go unpinned, and its suite
            // file must say so.
            let registry = metarec_suites::store::pin(&s.def.data.kind).unwrap();
            // A dataset without an archive (MeLU's split) is pinned file by file in the registry.
            if !registry.has_archive() {
                assert!(registry.file_sets.iter().all(|f| f.members.iter().any(|m| m.sha256.is_some())), "{name}");
                assert!(s.text.contains("checked against its own"), "{name}: does not say how its files are pinned");
                continue;
            }
            assert!(registry.sha256.is_none(), "{name}: no data.sha256 although the registry pins the archive");
            assert!(s.text.contains("pins nothing"), "{name}: unpinned without saying why");
            continue;
        };
        assert_eq!(pin.len(), 64, "{name}: data.sha256 is not a SHA-256");
        assert!(!s.def.suite.description.is_empty(), "{name}: no description");
    }
}

#[test]
fn dependencies_point_one_way() {
    // reports knows nothing of candle or methods; methods and suites never reach up.
    let manifest = |crate_dir: &str| std::fs::read_to_string(root().join(crate_dir).join("Cargo.toml")).unwrap();
    let deps = |text: &str| -> String {
        text.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("").to_string()
    };
    let reports = deps(&manifest("reports"));
    for forbidden in ["candle", "metarec-methods", "metarec-suites", "metarec ="] {
        assert!(!reports.contains(forbidden), "reports depends on {forbidden}");
    }
    let suites = deps(&manifest("suites"));
    for forbidden in ["candle", "metarec-methods", "metarec-reports", "git2"] {
        assert!(!suites.contains(forbidden), "suites depends on {forbidden}");
    }
    let methods = deps(&manifest("methods"));
    for forbidden in ["metarec-reports", "git2", "csv"] {
        assert!(!methods.contains(forbidden), "methods depends on {forbidden}");
    }
}

#[test]
fn methods_do_no_io_and_read_no_clock() {
    let mut files = Vec::new();
    rust_files(&root().join("methods/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for forbidden in ["std::fs", "File::", "SystemTime", "Instant::", "thread_rng", "std::env"] {
            assert!(!text.contains(forbidden), "{} uses {forbidden}", f.display());
        }
    }
}
