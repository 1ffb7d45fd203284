use metarec_kernels::small_gemm::sgemm;
fn main() {
    let shapes: &[(usize, usize, usize)] = &[(10, 40, 256), (10, 20, 256), (10, 64, 64), (10, 40, 64), (64, 10, 64)];
    for &(m, n, k) in shapes {
        // a [m, k] row-major, b [n, k] row-major (c = a b^T)
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut c = vec![0f32; m * n];
        let reps = 200000 / (m * n * k / 1000).max(1);
        for read in [false, true] {
            let mut best = u64::MAX;
            for _ in 0..5 {
                let t0 = unsafe { core::arch::x86_64::_rdtsc() };
                for _ in 0..reps {
                    unsafe {
                        sgemm(
                            m,
                            n,
                            k,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                            read,
                            a.as_ptr(),
                            k as isize,
                            1,
                            b.as_ptr(),
                            1,
                            k as isize,
                        );
                    }
                }
                let dt = unsafe { core::arch::x86_64::_rdtsc() } - t0;
                best = best.min(dt);
            }
            let fl = 2.0 * (m * n * k * reps) as f64;
            println!("({m},{n},{k}) read {read}: {:.1} flop/tsc-cycle  c0 {}", fl / best as f64, c[0]);
        }
    }
}
