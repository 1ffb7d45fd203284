//! A cell that runs alone gets the spare cores for its matmuls (`runner::set_spare_cores`, what
//! the CLI turns on), a full grid keeps one thread per cell, and the results are byte-identical
//! to one matmul thread even with gemm told to split every matmul between its threads. Alone in
//! its own test binary: it changes `RAYON_NUM_THREADS` and gemm's global threading threshold.

mod common;

use common::*;
use metarec::Registry;
use metarec::rundir::Manifest;
use metarec::spec::resolve;
use metarec_methods::{
    Adapted, Ctx, Method, MethodInfo, MethodKind, Model, Predictions, SupportSet, TrainData, TrainReport,
};

/// A method that records the matmul threads candle sees and the size of the rayon pool its
/// meta-training runs on.
struct Probe;
struct ProbeModel(TrainReport);
struct ProbeAdapted;

impl Method for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn params(&self) -> toml::Table {
        toml::Table::new()
    }
    fn meta_train(&self, _: &TrainData<'_>, _: &mut Ctx) -> metarec_methods::Result<Box<dyn Model>> {
        let mut report = TrainReport::default();
        report.notes.insert("matmul_threads".into(), candle_core::utils::get_num_threads().to_string());
        report.notes.insert("pool_threads".into(), rayon::current_num_threads().to_string());
        Ok(Box::new(ProbeModel(report)))
    }
}
impl Model for ProbeModel {
    fn adapt<'m>(&'m self, _: &SupportSet<'_>, _: &mut Ctx) -> metarec_methods::Result<Box<dyn Adapted + 'm>> {
        Ok(Box::new(ProbeAdapted))
    }
    fn report(&self) -> TrainReport {
        self.0.clone()
    }
}
impl Adapted for ProbeAdapted {
    fn predict(&self, items: &[u32]) -> metarec_methods::Result<Predictions> {
        Ok(Predictions { mean: vec![3.0; items.len()], median: None })
    }
}

/// The (matmul, pool) threads each probe cell of a run with `seeds` on `jobs` saw.
fn probe(registry: &Registry, dir: &std::path::Path, seeds: &[u64], jobs: usize) -> Vec<(String, String)> {
    let spec = resolve(&request(&["probe"], seeds), registry).unwrap();
    run_spec(&spec, registry, dir, jobs).unwrap();
    Manifest::read(dir)
        .unwrap()
        .cells
        .iter()
        .map(|c| (c.notes["matmul_threads"].clone(), c.notes["pool_threads"].clone()))
        .collect()
}

#[test]
fn a_lone_cell_uses_the_spare_cores_and_gets_the_same_results() {
    let dir = temp_dir("cell-threads");
    // As the CLI: one matmul thread unless cores are spare.
    // SAFETY: this binary has a single test, so no other thread reads the environment now.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    metarec::runner::set_spare_cores(true);
    let mut registry = Registry::default();
    registry.register(MethodInfo {
        name: "probe",
        kind: MethodKind::Baseline,
        summary: "test",
        build: |_| Ok(Box::new(Probe)),
        default_run: false,
    });
    let one = |s: &str| (s.to_string(), s.to_string());
    // One cell on two jobs: two matmul threads, on a pool of two.
    assert_eq!(probe(&registry, &dir.join("lone"), &[0], 2), [one("2")]);
    // Two cells on two jobs, or one on one: one thread each, as before.
    let grid = probe(&registry, &dir.join("grid"), &[0, 1], 2);
    assert!(grid.iter().all(|(m, _)| m == "1"), "{grid:?}");
    assert_eq!(probe(&registry, &dir.join("one-job"), &[0], 1)[0].0, "1");
    // Four jobs, two cells: two threads each.
    let wide = probe(&registry, &dir.join("wide"), &[0, 1], 4);
    assert!(wide.iter().all(|(m, p)| m == "2" && p == "2"), "{wide:?}");
    // The environment is as it was after the cells.
    assert_eq!(std::env::var("RAYON_NUM_THREADS").unwrap(), "1");

    // A second-order and a first-order gradient method (tiny budgets): one cell on two jobs
    // (two matmul threads) equals one job (one thread) byte for byte, with gemm splitting
    // every matmul, however small, between its threads.
    gemm::set_threading_threshold(1);
    let sets = ["maml.meta_steps=4", "maml.eval_every=2", "maml.meta_batch=4"];
    let sets: Vec<&str> = sets.iter().copied().chain(META_SETS.iter().copied()).collect();
    for method in ["maml", "fomaml"] {
        let mine: Vec<&str> = sets.iter().copied().filter(|s| s.starts_with(&format!("{method}."))).collect();
        let req = request_with(&[method], &[0], &mine);
        let (a, b) = (dir.join(format!("{method}-1")), dir.join(format!("{method}-2")));
        run_request(&req, &a, 1).unwrap();
        run_request(&req, &b, 2).unwrap();
        assert_eq!(results_gz(&a), results_gz(&b), "{method}: 1 and 2 matmul threads give different results");
        let m = Manifest::read(&b).unwrap();
        assert_eq!(m.cells.len(), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
