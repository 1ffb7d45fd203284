//! Results do not depend on candle's matmul thread count. Alone in its own test binary because
//! it changes `RAYON_NUM_THREADS`, which candle reads at every matmul.

mod common;

use common::*;

#[test]
fn matmul_thread_count_does_not_change_results() {
    let dir = temp_dir("threads");
    // A baseline network, a gradient-based and a metric-based meta-learner (tiny budgets).
    let req = request_with(&["pooled-finetune", "fomaml", "protonet"], &[0], META_SETS);
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        // SAFETY: this binary has a single test, so no other thread reads the environment now.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads) };
        assert_eq!(candle_core::utils::get_num_threads(), threads.parse::<usize>().unwrap());
        let out = dir.join(threads);
        run_request(&req, &out, 1).unwrap();
        outputs.push(results_gz(&out));
    }
    assert_eq!(outputs[0], outputs[1], "1 and 2 matmul threads give different results");
    let _ = std::fs::remove_dir_all(&dir);
}
