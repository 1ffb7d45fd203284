//! Elementwise passes split over the threads of the rayon pool a cell runs on when it has spare
//! cores (the runner's `SpareCores`): the optimiser's update and the sum of a meta-batch's parts'
//! gradients, which otherwise run on one thread while the other waits (at two threads, together
//! 13-17% of a first-order MAML step at the MeLU shape in an instrumented run, ARCHITECTURE.md
//! "Performance").
//!
//! Every job is an elementwise pass over its own elements, so how they are split and which
//! thread runs which changes no result.

/// Elements per job.
pub const CHUNK: usize = 2048;

/// Runs `f` on every job: on the current rayon pool's threads when called on one, else one after
/// the other on this thread (off a pool, rayon would hand them to the global pool, whose thread
/// the cells of a grid would queue for; see `gradient::in_parts`).
pub fn run<J: Send>(jobs: Vec<J>, f: impl Fn(J) + Sync + Send) {
    if jobs.len() > 1 && rayon::current_thread_index().is_some() {
        use rayon::iter::{IntoParallelIterator, ParallelIterator};
        jobs.into_par_iter().for_each(f);
    } else {
        jobs.into_iter().for_each(f);
    }
}

#[cfg(test)]
mod tests {
    /// Every job runs once, on a pool and off it.
    #[test]
    fn every_job_runs_once_on_a_pool_and_off_it() {
        for pooled in [false, true] {
            let mut out = vec![0u32; 10 * super::CHUNK + 7];
            let jobs: Vec<(usize, &mut [u32])> = out.chunks_mut(super::CHUNK).enumerate().collect();
            let f = |(c, chunk): (usize, &mut [u32])| {
                for (j, x) in chunk.iter_mut().enumerate() {
                    *x += (c * super::CHUNK + j) as u32 + 1;
                }
            };
            if pooled {
                rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| super::run(jobs, f));
            } else {
                super::run(jobs, f);
            }
            assert!(out.iter().enumerate().all(|(i, x)| *x == i as u32 + 1), "pooled {pooled}");
        }
    }
}
