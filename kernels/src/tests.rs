//! The kernels against references: the `f32` transcendentals against `f64` in ulps over dense
//! sweeps, both backwards against finite differences, `f32` against `f64`, the run-time vector
//! width against the SSE2 baseline (same bits), the forwards with and without saving, and that every
//! output element is written.

use super::*;

/// Initialised memory as the kernels' output slots. Sound: the kernels only ever write
/// initialised values.
fn as_out<T: Copy>(v: &mut [T]) -> &mut [Out<T>] {
    // Safety: `MaybeUninit<T>` has `T`'s layout, and nothing writes an uninitialised value.
    unsafe { &mut *(v as *mut [T] as *mut [Out<T>]) }
}

/// Distance in units in the last place between an `f32` result and the exact (`f64`) value.
fn ulps(got: f32, exact: f64) -> f64 {
    let rounded = exact as f32;
    if got == rounded {
        return 0.0;
    }
    let ulp = (f32::from_bits(rounded.abs().to_bits() + 1) - rounded.abs()) as f64;
    (got as f64 - exact).abs() / ulp
}

/// `count + 1` evenly spaced points of `[lo, hi]`.
fn sweep(lo: f32, hi: f32, count: usize) -> Vec<f32> {
    (0..=count).map(|k| lo + (hi - lo) * k as f32 / count as f32).collect()
}

#[test]
fn exp_is_within_one_ulp_and_saturates() {
    let mut worst = 0.0f64;
    for x in sweep(-87.0, 88.7, 2_000_000) {
        let e = ulps(Real::exp(x), (x as f64).exp());
        worst = worst.max(e);
    }
    assert!(worst <= 1.0, "exp: {worst} ulp");
    assert_eq!(Real::exp(0.0f32), 1.0);
    assert_eq!(Real::exp(89.0f32), f32::INFINITY);
    assert_eq!(Real::exp(-88.0f32), 0.0);
    assert_eq!(Real::exp(f32::INFINITY), f32::INFINITY);
    assert_eq!(Real::exp(f32::NEG_INFINITY), 0.0);
    assert!(Real::exp(f32::NAN).is_nan());
}

#[test]
fn tanh_is_within_two_ulp_and_sigmoid_three() {
    let (mut worst_t, mut worst_s) = (0.0f64, 0.0f64);
    for x in sweep(-20.0, 20.0, 2_000_000).into_iter().chain(sweep(-1e-3, 1e-3, 100_000)) {
        worst_t = worst_t.max(ulps(Real::tanh(x), (x as f64).tanh()));
        worst_s = worst_s.max(ulps(x.sigmoid(), 1.0 / (1.0 + (-(x as f64)).exp())));
    }
    assert!(worst_t <= 2.0, "tanh: {worst_t} ulp");
    assert!(worst_s <= 3.0, "sigmoid: {worst_s} ulp");
    assert_eq!(Real::tanh(0.0f32), 0.0);
    assert_eq!(Real::tanh(50.0f32), 1.0);
    assert_eq!(Real::tanh(-50.0f32), -1.0);
    assert_eq!(1e-30f32.tanh(), 1e-30);
    assert_eq!(100.0f32.sigmoid(), 1.0);
    assert_eq!((-100.0f32).sigmoid(), 0.0);
}

/// A small deterministic generator (the kernels crate has no dependencies).
fn values(seed: u64, n: usize, scale: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            scale * (2.0 * ((s >> 11) as f64 / (1u64 << 53) as f64) - 1.0)
        })
        .collect()
}

/// `sum(w * out)` for fixed weights `w`: a scalar whose gradient is the backward given `w`.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn cell_backward_matches_finite_differences() {
    let (h, n) = (3, 5);
    let z = values(1, 4 * h * n, 3.0);
    let s_prev = values(2, h * n, 2.0);
    let w = values(3, 2 * h * n, 1.0);
    let f = |z: &[f64], s: &[f64]| {
        let (mut out, mut saved) = (vec![0.0; 2 * h * n], vec![0.0; 5 * h * n]);
        cell_forward(h, n, z, s, as_out(&mut out), as_out(&mut saved));
        (dot(&w, &out), saved)
    };
    let (_, saved) = f(&z, &s_prev);
    let (mut dz, mut ds) = (vec![0.0; 4 * h * n], vec![0.0; h * n]);
    cell_backward(h, n, &saved, &s_prev, &w, as_out(&mut dz), as_out(&mut ds));
    let eps = 1e-6;
    for k in 0..z.len() {
        let (mut p, mut m) = (z.clone(), z.clone());
        p[k] += eps;
        m[k] -= eps;
        let fd = (f(&p, &s_prev).0 - f(&m, &s_prev).0) / (2.0 * eps);
        assert!((fd - dz[k]).abs() <= 1e-7 * (1.0 + fd.abs()), "dz[{k}]: {} vs {fd}", dz[k]);
    }
    for k in 0..s_prev.len() {
        let (mut p, mut m) = (s_prev.clone(), s_prev.clone());
        p[k] += eps;
        m[k] -= eps;
        let fd = (f(&z, &p).0 - f(&z, &m).0) / (2.0 * eps);
        assert!((fd - ds[k]).abs() <= 1e-7 * (1.0 + fd.abs()), "ds_prev[{k}]: {} vs {fd}", ds[k]);
    }
    // The forward itself, against the formulas written out.
    let (mut out, mut saved) = (vec![0.0; 2 * h * n], vec![0.0; 5 * h * n]);
    cell_forward(h, n, &z, &s_prev, as_out(&mut out), as_out(&mut saved));
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    for k in 0..h * n {
        let hn = h * n;
        let s = sig(z[hn + k]) * s_prev[k] + sig(z[k]) * z[3 * hn + k].tanh();
        assert_eq!(out[hn + k], s);
        assert_eq!(out[k], sig(z[2 * hn + k]) * s.tanh());
    }
}

#[test]
fn update_backward_matches_finite_differences() {
    let n = 7;
    let gates = values(4, 2 * n, 6.0);
    let c = values(5, n, 2.0);
    let g = values(6, n, 1.0);
    let w = values(7, n, 1.0);
    let f = |gates: &[f64], c: &[f64]| {
        let (mut out, mut saved) = (vec![0.0; n], vec![0.0; 2 * n]);
        update_forward(n, gates, c, &g, as_out(&mut out), as_out(&mut saved));
        (dot(&w, &out), saved)
    };
    let (_, saved) = f(&gates, &c);
    let (mut dg, mut dc) = (vec![0.0; 2 * n], vec![0.0; n]);
    update_backward(n, &saved, &c, &g, &w, as_out(&mut dg), as_out(&mut dc));
    let eps = 1e-6;
    for k in 0..gates.len() {
        let (mut p, mut m) = (gates.clone(), gates.clone());
        p[k] += eps;
        m[k] -= eps;
        let fd = (f(&p, &c).0 - f(&m, &c).0) / (2.0 * eps);
        assert!((fd - dg[k]).abs() <= 1e-7 * (1.0 + fd.abs()), "dgates[{k}]: {} vs {fd}", dg[k]);
    }
    for k in 0..n {
        let (mut p, mut m) = (c.clone(), c.clone());
        p[k] += eps;
        m[k] -= eps;
        let fd = (f(&gates, &p).0 - f(&gates, &m).0) / (2.0 * eps);
        assert!((fd - dc[k]).abs() <= 1e-7 * (1.0 + fd.abs()), "dc[{k}]: {} vs {fd}", dc[k]);
    }
}

#[test]
fn f32_kernels_follow_the_f64_ones_and_give_the_same_bits_at_every_width() {
    let (h, n) = (4, 9);
    let z = values(8, 4 * h * n, 4.0);
    let s_prev = values(9, h * n, 2.0);
    let (mut out, mut saved) = (vec![0.0; 2 * h * n], vec![0.0; 5 * h * n]);
    cell_forward(h, n, &z, &s_prev, as_out(&mut out), as_out(&mut saved));
    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (mut out32, mut saved32) = (vec![0.0f32; 2 * h * n], vec![0.0f32; 5 * h * n]);
    f32_kernels::cell_forward(h, n, &to32(&z), &to32(&s_prev), as_out(&mut out32), as_out(&mut saved32));
    for (a, b) in out.iter().zip(&out32) {
        assert!((a - *b as f64).abs() <= 1e-6 * (1.0 + a.abs()), "{a} vs {b}");
    }
    // The widest vectors this CPU has give the bits of the baseline (SSE2) build of the loop.
    let (mut base, mut base_saved) = (vec![0.0f32; 2 * h * n], vec![0.0f32; 5 * h * n]);
    cell_forward(h, n, &to32(&z), &to32(&s_prev), as_out(&mut base), as_out(&mut base_saved));
    assert_eq!(out32, base);
    assert_eq!(saved32, base_saved);
    let (mut grad, mut dz, mut ds) = (to32(&values(10, 2 * h * n, 1.0)), vec![0.0f32; 4 * h * n], vec![0.0f32; h * n]);
    grad[0] = 0.5;
    f32_kernels::cell_backward(h, n, &saved32, &to32(&s_prev), &grad, as_out(&mut dz), as_out(&mut ds));
    let (mut dz_base, mut ds_base) = (vec![0.0f32; 4 * h * n], vec![0.0f32; h * n]);
    cell_backward(h, n, &saved32, &to32(&s_prev), &grad, as_out(&mut dz_base), as_out(&mut ds_base));
    assert_eq!((dz, ds), (dz_base, ds_base));
}

#[test]
fn forwards_without_saving_write_the_same_outputs() {
    let (h, n) = (3, 6);
    let z = values(11, 4 * h * n, 3.0);
    let s_prev = values(12, h * n, 2.0);
    let (mut a, mut b, mut saved) = (vec![0.0; 2 * h * n], vec![0.0; 2 * h * n], vec![0.0; 5 * h * n]);
    cell_forward(h, n, &z, &s_prev, as_out(&mut a), as_out(&mut saved));
    cell_forward(h, n, &z, &s_prev, as_out(&mut b), &mut []);
    assert_eq!(a, b);
    let (gates, c, g) = (values(13, 2 * n, 4.0), values(14, n, 2.0), values(15, n, 1.0));
    let (mut a, mut b, mut saved) = (vec![0.0; n], vec![0.0; n], vec![0.0; 2 * n]);
    update_forward(n, &gates, &c, &g, as_out(&mut a), as_out(&mut saved));
    update_forward(n, &gates, &c, &g, as_out(&mut b), &mut []);
    assert_eq!(a, b);
}

/// Every kernel writes every element of every output slice (what `filled` relies on): outputs
/// start as NaN and end finite, with and without saving.
#[test]
fn kernels_write_every_output_element() {
    let (h, n) = (3, 7);
    let nan = |len: usize| vec![f64::NAN; len];
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    let (z, s_prev) = (values(16, 4 * h * n, 3.0), values(17, h * n, 2.0));
    let (mut out, mut saved) = (nan(2 * h * n), nan(5 * h * n));
    cell_forward(h, n, &z, &s_prev, as_out(&mut out), as_out(&mut saved));
    assert!(finite(&out) && finite(&saved));
    let mut out_only = nan(2 * h * n);
    cell_forward(h, n, &z, &s_prev, as_out(&mut out_only), &mut []);
    assert!(finite(&out_only));
    let (mut dz, mut ds) = (nan(4 * h * n), nan(h * n));
    cell_backward(h, n, &saved, &s_prev, &values(18, 2 * h * n, 1.0), as_out(&mut dz), as_out(&mut ds));
    assert!(finite(&dz) && finite(&ds));
    let (gates, c, g) = (values(19, 2 * n, 4.0), values(20, n, 2.0), values(21, n, 1.0));
    let (mut out, mut saved, mut out_only) = (nan(n), nan(2 * n), nan(n));
    update_forward(n, &gates, &c, &g, as_out(&mut out), as_out(&mut saved));
    update_forward(n, &gates, &c, &g, as_out(&mut out_only), &mut []);
    assert!(finite(&out) && finite(&saved) && finite(&out_only));
    let (mut dg, mut dc) = (nan(2 * n), nan(n));
    update_backward(n, &saved, &c, &g, &values(22, n, 1.0), as_out(&mut dg), as_out(&mut dc));
    assert!(finite(&dg) && finite(&dc));
}
