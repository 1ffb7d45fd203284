//! Small f32 products on AVX-512, without packing: the tape's per-task products (10 rows at the
//! MeLU shape) and a part's shared-weight products (80 rows).
//!
//! The `gemm` crate packs both operands into panels before its kernel runs; for a `10 x 256`
//! by `256 x 40` product that packing and its dispatch cost as much as the arithmetic
//! (ARCHITECTURE.md, "Performance": such products ran at 19-87 GFLOP/s where large ones ran at
//! 91-108). Two kernels read both operands in place:
//!
//! - **broadcast**, for a row-major right operand: a register tile of up to [`MR`] rows by two
//!   16-lane vectors, one broadcast of the left operand per element and tile (any strides), the
//!   tile's sums in registers over the whole inner dimension. Column strips run in the outer
//!   loop, so that a `k x 32` strip of the right operand stays in L1 while every row tile reads
//!   it. Each element is the sum of its `k` products in order of `k` by fused multiply-adds,
//!   then the destination's old value added.
//! - **dots**, for `a b^T` with both operands row-major (the low-rank deltas' `x A^T`, and
//!   adjoints `g B^T`), which the broadcast kernel could only run after transposing `b` (`k n`
//!   scalar copies against `m k n` multiply-adds, more than the product at 10 rows): tiles of up
//!   to 16 dot products, 16 lanes of `k` at a time, whose lanes one transposing reduction sums.
//!
//! And [`transpose`], 16 x 16 blocks transposed in registers (the tape's weight twins and their
//! adjoints: the MeLU shape's three weights in 6.6 us where element by element took 22.7,
//! allocation included).
//!
//! A product with a column-major destination runs transposed (`c^T = b^T a^T`). What neither
//! kernel takes (narrow products over a short inner dimension, transposed left operands of
//! `a b^T`) and every f64 product go to the `gemm` crate; so does everything where AVX-512F is
//! missing. Results depend only on the operands, never on the thread count.
//! `tests::small_gemm_matches_naive_products` (below) checks both kernels against a plain
//! loop, bit for bit where the order of sums allows.

/// Rows of a register tile (10 x 2 vectors = 20 accumulators of AVX-512's 32 registers).
pub const MR: usize = 10;

/// Products with fewer columns than this and a row-major right operand go to the dot-product
/// kernel (or the `gemm` crate): a 16-lane tile would be mostly masked.
const NARROW: usize = 8;

/// Whether this machine runs [`sgemm`] (AVX-512F; otherwise callers use the `gemm` crate).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `c (m x n, strides c_rs, c_cs) = [c +] a (m x k, strides a_rs, a_cs) b (k x n, strides b_rs,
/// b_cs)`. Returns false, doing nothing, where [`available`] is false or the strides are not
/// supported (neither of `c`'s strides is 1).
///
/// # Safety
/// Every pointer must address the whole strided extent of its matrix; `c` must not overlap `a`
/// or `b`; when `!read`, `c` may be uninitialised.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    c: *mut f32,
    c_rs: isize,
    c_cs: isize,
    read: bool,
    a: *const f32,
    a_rs: isize,
    a_cs: isize,
    b: *const f32,
    b_rs: isize,
    b_cs: isize,
) -> bool {
    if !available() {
        return false;
    }
    if c_cs != 1 {
        if c_rs != 1 {
            return false;
        }
        // c^T = b^T a^T, with c^T row-major.
        // SAFETY: the same extents, read transposed.
        return unsafe { sgemm(n, m, k, c, c_cs, 1, read, b, b_cs, b_rs, a, a_cs, a_rs) };
    }
    if m == 0 || n == 0 {
        return true;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if b_cs == 1 && n >= NARROW {
            // SAFETY: avx512f is present; the caller's contract covers the extents.
            unsafe { avx512::broadcast(m, n, k, c, c_rs, read, a, a_rs, a_cs, b, b_rs) };
            return true;
        }
        if a_cs == 1 && b_rs == 1 && k >= 16 {
            // SAFETY: as above.
            unsafe { avx512::dots(m, n, k, c, c_rs, read, a, a_rs, b, b_cs) };
            return true;
        }
        false
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (c_rs, a, a_rs, a_cs, b, b_rs, b_cs);
        false
    }
}

/// `out (c x r, row-major) = [out +] src (r x c, row-major)^T`, in 16 x 16 blocks transposed in
/// AVX-512 registers where the CPU has them, the edges element by element. Each element is a
/// copy (or one addition), so the result does not depend on the path.
pub fn transpose(src: &[f32], r: usize, c: usize, out: &mut [f32], add: bool) {
    assert!(
        src.len() >= r * c && out.len() >= r * c,
        "transpose: {} and {} elements for {r} x {c}",
        src.len(),
        out.len()
    );
    let (r16, c16) = if available() { (r / 16 * 16, c / 16 * 16) } else { (0, 0) };
    #[cfg(target_arch = "x86_64")]
    if r16 > 0 && c16 > 0 {
        // SAFETY: avx512f is present; the blocks lie inside both slices (asserted above).
        unsafe { avx512::transpose_blocks(src.as_ptr(), r16, c16, c, out.as_mut_ptr(), r, add) };
    }
    // Rows from r16 on, then columns from c16 on of the rows before.
    let mut one = |i: usize, j: usize| {
        let v = src[i * c + j];
        let o = &mut out[j * r + i];
        *o = if add { *o + v } else { v };
    };
    for i in r16..r {
        for j in 0..c {
            one(i, j);
        }
    }
    for i in 0..r16 {
        for j in c16..c {
            one(i, j);
        }
    }
}

#[cfg(target_arch = "x86_64")]
// Indexed loops over constant bounds: unrolled, the tiles' accumulators stay in registers.
#[allow(clippy::needless_range_loop)]
mod avx512 {
    use super::MR;
    use std::arch::x86_64::*;

    /// [`super::transpose`] of the `r16 x c16` top-left part (both multiples of 16) of `src`
    /// (row stride `c`) into `out` (row stride `r`).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose_blocks(
        src: *const f32,
        r16: usize,
        c16: usize,
        c: usize,
        out: *mut f32,
        r: usize,
        add: bool,
    ) {
        for i0 in (0..r16).step_by(16) {
            for j0 in (0..c16).step_by(16) {
                let mut x = [_mm512_setzero_ps(); 16];
                for (k, row) in x.iter_mut().enumerate() {
                    // SAFETY: row i0 + k, columns j0 .. j0 + 16 of src.
                    *row = unsafe { _mm512_loadu_ps(src.add((i0 + k) * c + j0)) };
                }
                let y = transpose16(x);
                for (k, col) in y.iter().enumerate() {
                    // SAFETY: row j0 + k, columns i0 .. i0 + 16 of out.
                    unsafe {
                        let p = out.add((j0 + k) * r + i0);
                        let v = if add { _mm512_add_ps(_mm512_loadu_ps(p), *col) } else { *col };
                        _mm512_storeu_ps(p, v);
                    }
                }
            }
        }
    }

    /// The 16 x 16 matrix whose rows are `x` transposed: lane `j` of output `k` is lane `k` of
    /// `x[j]`. Interleaves of 32-bit, then 64-bit elements within 128-bit lanes, then two
    /// exchanges of 128-bit lanes (64 shuffles).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(x: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(x[2 * i], x[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(x[2 * i], x[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            for h in 0..2 {
                let (a, b) = (_mm512_castps_pd(t[4 * i + h]), _mm512_castps_pd(t[4 * i + h + 2]));
                u[4 * i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                u[4 * i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
            }
        }
        let mut v = [_mm512_setzero_ps(); 16];
        for i in 0..2 {
            for k in 0..4 {
                v[8 * i + k] = _mm512_shuffle_f32x4(u[8 * i + k], u[8 * i + k + 4], 0x88);
                v[8 * i + k + 4] = _mm512_shuffle_f32x4(u[8 * i + k], u[8 * i + k + 4], 0xdd);
            }
        }
        let mut o = [_mm512_setzero_ps(); 16];
        for k in 0..8 {
            o[k] = _mm512_shuffle_f32x4(v[k], v[k + 8], 0x88);
            o[k + 8] = _mm512_shuffle_f32x4(v[k], v[k + 8], 0xdd);
        }
        o
    }

    /// [`super::sgemm`] with `c` and `b` row-major (column stride 1).
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn broadcast(
        m: usize,
        n: usize,
        k: usize,
        c: *mut f32,
        c_rs: isize,
        read: bool,
        a: *const f32,
        a_rs: isize,
        a_cs: isize,
        b: *const f32,
        b_rs: isize,
    ) {
        let mut j = 0;
        while j < n {
            let w = (n - j).min(32);
            let mask = |lanes: usize| -> __mmask16 { if lanes >= 16 { 0xffff } else { ((1u32 << lanes) - 1) as u16 } };
            let masks = [mask(w), mask(w.saturating_sub(16))];
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(MR);
                // SAFETY: the tile lies inside the operands (rows and w bound it).
                unsafe {
                    let (ct, at, bt) =
                        (c.offset(i as isize * c_rs + j as isize), a.offset(i as isize * a_rs), b.add(j));
                    macro_rules! tile {
                        ($($r:literal)*) => {
                            match (rows, w > 16) {
                                $(($r, false) => tile::<$r, 1>(k, at, a_rs, a_cs, bt, b_rs, ct, c_rs, masks, read),
                                  ($r, true) => tile::<$r, 2>(k, at, a_rs, a_cs, bt, b_rs, ct, c_rs, masks, read),)*
                                _ => unreachable!("rows in 1..=MR"),
                            }
                        };
                    }
                    tile!(1 2 3 4 5 6 7 8 9 10);
                }
                i += rows;
            }
            j += w;
        }
    }

    /// [`super::sgemm`] for `a` and `b^T` row-major (`c = a b` with `b`'s columns contiguous):
    /// each element a dot product over `k`, 16 lanes at a time, in tiles of `R` rows of `a` by
    /// `S` columns of `b` (`R S <= 16` accumulators), whose lanes one transposing reduction sums.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dots(
        m: usize,
        n: usize,
        k: usize,
        c: *mut f32,
        c_rs: isize,
        read: bool,
        a: *const f32,
        a_rs: isize,
        b: *const f32,
        b_cs: isize,
    ) {
        let mut j = 0;
        while j < n {
            let cols = match n - j {
                8.. => 8,
                4..=7 => 4,
                2..=3 => 2,
                _ => 1,
            };
            let mut i = 0;
            while i < m {
                let rows = (m - i).min(16 / cols);
                // SAFETY: the tile lies inside the operands (rows and cols bound it).
                unsafe {
                    let (ct, at, bt) = (
                        c.offset(i as isize * c_rs + j as isize),
                        a.offset(i as isize * a_rs),
                        b.offset(j as isize * b_cs),
                    );
                    macro_rules! tile {
                        ($(($r:literal, $s:literal))*) => {
                            match (rows, cols) {
                                $(($r, $s) => dot_tile::<$r, $s>(k, at, a_rs, bt, b_cs, ct, c_rs, read),)*
                                _ => unreachable!("rows * cols <= 16"),
                            }
                        };
                    }
                    tile!((1, 8)(2, 8)(1, 4)(2, 4)(3, 4)(4, 4)(1, 2)(2, 2)(3, 2)(4, 2)(5, 2)(6, 2)(7, 2)(8, 2)(1, 1)(
                        2, 1
                    )(3, 1)(4, 1)(5, 1)(6, 1)(7, 1)(8, 1)(9, 1)(10, 1)(11, 1)(12, 1)(13, 1)(
                        14, 1
                    )(15, 1)(16, 1));
                }
                i += rows;
            }
            j += cols;
        }
    }

    /// One `R x S` tile of dot products: lane sums over `k` in registers (the last 16 lanes
    /// masked), reduced, then stored (added to `c`'s values when `read`).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn dot_tile<const R: usize, const S: usize>(
        k: usize,
        a: *const f32,
        a_rs: isize,
        b: *const f32,
        b_cs: isize,
        c: *mut f32,
        c_rs: isize,
        read: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); S]; R];
        let mut p = 0;
        while p < k {
            let mask: __mmask16 = if k - p >= 16 { 0xffff } else { ((1u32 << (k - p)) - 1) as u16 };
            let mut bv = [_mm512_setzero_ps(); S];
            for s in 0..S {
                // SAFETY: column s of the tile, lanes past k masked.
                bv[s] = unsafe { _mm512_maskz_loadu_ps(mask, b.offset(s as isize * b_cs).add(p)) };
            }
            for r in 0..R {
                // SAFETY: row r of the tile, lanes past k masked.
                let x = unsafe { _mm512_maskz_loadu_ps(mask, a.offset(r as isize * a_rs).add(p)) };
                for s in 0..S {
                    acc[r][s] = _mm512_fmadd_ps(x, bv[s], acc[r][s]);
                }
            }
            p += 16;
        }
        let mut v = [_mm512_setzero_ps(); 16];
        for r in 0..R {
            for s in 0..S {
                v[r * S + s] = acc[r][s];
            }
        }
        let mut sums = [0f32; 16];
        // SAFETY: 16 floats.
        unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), reduce16(v)) };
        for r in 0..R {
            for s in 0..S {
                // SAFETY: element (r, s) of the tile.
                unsafe {
                    let q = c.offset(r as isize * c_rs).add(s);
                    *q = if read { sums[r * S + s] + *q } else { sums[r * S + s] };
                }
            }
        }
    }

    /// Lane `i` of the result is the sum of `v[i]`'s 16 lanes: pairs of vectors are interleaved
    /// and added, halving the lanes per source at each of four levels (45 instructions).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn reduce16(v: [__m512; 16]) -> __m512 {
        // 2 sources per vector, 8 partial sums each (elements 0, 2 / 1, 3 of every 128-bit lane).
        let mut x = [_mm512_setzero_ps(); 8];
        for i in 0..8 {
            x[i] =
                _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
        }
        // 4 sources per vector, one per element of each 128-bit lane, 4 partial sums each.
        let mut t = [_mm512_setzero_ps(); 4];
        for i in 0..4 {
            let (p, q) = (_mm512_castps_pd(x[2 * i]), _mm512_castps_pd(x[2 * i + 1]));
            t[i] =
                _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(p, q)), _mm512_castpd_ps(_mm512_unpackhi_pd(p, q)));
        }
        // 128-bit lanes (0, 2) plus (1, 3): two lanes per vector of t.
        let q0 = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], 0x88), _mm512_shuffle_f32x4(t[0], t[1], 0xdd));
        let q1 = _mm512_add_ps(_mm512_shuffle_f32x4(t[2], t[3], 0x88), _mm512_shuffle_f32x4(t[2], t[3], 0xdd));
        // 128-bit lane j holds sources 4j..4j+3, fully summed.
        _mm512_add_ps(_mm512_shuffle_f32x4(q0, q1, 0x88), _mm512_shuffle_f32x4(q0, q1, 0xdd))
    }

    /// One `R x 16 V` tile of `c`: the sums over `k` in registers, then stored (added to `c`'s
    /// values when `read`), lanes past the mask untouched.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const V: usize>(
        k: usize,
        a: *const f32,
        a_rs: isize,
        a_cs: isize,
        b: *const f32,
        b_rs: isize,
        c: *mut f32,
        c_rs: isize,
        masks: [__mmask16; 2],
        read: bool,
    ) {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        // Each row's start, and one offset along k for all of them (no chain of address sums).
        let mut rows = [a; R];
        for (r, row) in rows.iter_mut().enumerate() {
            *row = a.wrapping_offset(r as isize * a_rs);
        }
        let mut bp = b;
        let mut off = 0isize;
        for _ in 0..k {
            let mut bv = [_mm512_setzero_ps(); V];
            for v in 0..V {
                // SAFETY: masked lanes are not read.
                bv[v] = unsafe { _mm512_maskz_loadu_ps(masks[v], bp.add(16 * v)) };
            }
            for r in 0..R {
                // SAFETY: row r of the tile, column p of a.
                let x = _mm512_set1_ps(unsafe { *rows[r].offset(off) });
                for v in 0..V {
                    acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
                }
            }
            // One past the last element at most, never read.
            off += a_cs;
            bp = bp.wrapping_offset(b_rs);
        }
        for r in 0..R {
            for v in 0..V {
                // SAFETY: row r of the tile, masked lanes untouched.
                unsafe {
                    let p = c.offset(r as isize * c_rs).add(16 * v);
                    let mut x = acc[r][v];
                    if read {
                        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(masks[v], p));
                    }
                    _mm512_mask_storeu_ps(p, masks[v], x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every tile height and width, masked tails, each operand row- and column-major, with and
    /// without the destination's old values, against a plain loop: bit for bit where the
    /// broadcast kernel runs (it sums `k` fused multiply-adds in order, then adds the old value),
    /// to f32 rounding against f64 sums where the dot-product kernel runs; the rest are left to
    /// the `gemm` crate, and a share of the cases must take each kernel.
    #[test]
    fn small_gemm_matches_naive_products() {
        if !super::available() {
            eprintln!("small_gemm_matches_naive_products: no AVX-512F here, products use the gemm crate");
        }
        let mut seed = 0x9e37_79b9u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed % 2001) as f32 / 1000.0 - 1.0
        };
        let mut checked = (0, 0);
        for &m in &[1usize, 3, 10, 11, 23] {
            for &n in &[1usize, 2, 5, 8, 16, 17, 32, 33, 70] {
                for &k in &[0usize, 1, 7, 16, 40, 67] {
                    for layout in 0..16u32 {
                        let (a_t, b_t, c_t, read) =
                            (layout & 1 != 0, layout & 2 != 0, layout & 4 != 0, layout & 8 != 0);
                        let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
                        let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
                        let old: Vec<f32> = (0..m * n).map(|_| next()).collect();
                        // element (i, j) of an r x c matrix stored row-major, or column-major when t
                        let at = |t: bool, rows: usize, cols: usize, i: usize, j: usize| {
                            let _ = rows;
                            if t { j * rows + i } else { i * cols + j }
                        };
                        let strides = |t: bool, rows: usize, cols: usize| -> (isize, isize) {
                            if t { (1, rows as isize) } else { (cols as isize, 1) }
                        };
                        let (mut want, mut exact, mut bound) =
                            (vec![0f32; m * n], vec![0f64; m * n], vec![0f64; m * n]);
                        for i in 0..m {
                            for j in 0..n {
                                let (mut s, mut e, mut size) = (0f32, 0f64, 0f64);
                                for p in 0..k {
                                    let (x, y) = (a[at(a_t, m, k, i, p)], b[at(b_t, k, n, p, j)]);
                                    s = x.mul_add(y, s);
                                    e += x as f64 * y as f64;
                                    size += (x as f64 * y as f64).abs();
                                }
                                let o = at(c_t, m, n, i, j);
                                if read {
                                    s += old[o];
                                    e += old[o] as f64;
                                    size += (old[o] as f64).abs();
                                }
                                (want[o], exact[o], bound[o]) = (s, e, size);
                            }
                        }
                        let mut c = if read { old.clone() } else { vec![f32::NAN; m * n] };
                        let ((a_rs, a_cs), (b_rs, b_cs), (c_rs, c_cs)) =
                            (strides(a_t, m, k), strides(b_t, k, n), strides(c_t, m, n));
                        // SAFETY: every operand is its full extent.
                        let done = unsafe {
                            super::sgemm(
                                m,
                                n,
                                k,
                                c.as_mut_ptr(),
                                c_rs,
                                c_cs,
                                read,
                                a.as_ptr(),
                                a_rs,
                                a_cs,
                                b.as_ptr(),
                                b_rs,
                                b_cs,
                            )
                        };
                        // The dispatch's choice: a column-major destination runs c^T = b^T a^T.
                        let (width, (_, a_cs), (b_rs, b_cs)) =
                            if c_cs != 1 { (m, (b_cs, b_rs), (a_cs, a_rs)) } else { (n, (a_rs, a_cs), (b_rs, b_cs)) };
                        let broadcast = b_cs == 1 && width >= super::NARROW;
                        let dots = !broadcast && a_cs == 1 && b_rs == 1 && k >= 16;
                        assert_eq!(
                            done,
                            super::available() && (broadcast || dots),
                            "m {m} n {n} k {k} layout {layout}"
                        );
                        if broadcast {
                            let same = c.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                            assert!(same, "m {m} n {n} k {k} layout {layout}: {c:?} != {want:?}");
                            checked.0 += 1;
                        } else if dots {
                            for o in 0..m * n {
                                let err = (c[o] as f64 - exact[o]).abs();
                                assert!(
                                    err <= 1e-6 * (1.0 + bound[o]),
                                    "m {m} n {n} k {k} layout {layout}: {} vs {}",
                                    c[o],
                                    exact[o]
                                );
                            }
                            checked.1 += 1;
                        }
                    }
                }
            }
        }
        if super::available() {
            assert!(checked.0 > 500 && checked.1 > 300, "cases per kernel: {checked:?}");
        }
    }

    /// Transposes of every shape class (blocks only, edges only, both, a single row or column),
    /// written and added, equal a plain loop bit for bit.
    #[test]
    fn transpose_matches_a_plain_loop() {
        for &(r, c) in &[(16usize, 16usize), (32, 48), (256, 64), (64, 1), (1, 64), (17, 33), (40, 10), (3, 5), (0, 4)]
        {
            let src: Vec<f32> = (0..r * c).map(|i| (i as f32 * 0.37).sin()).collect();
            for add in [false, true] {
                let old: Vec<f32> = (0..r * c).map(|i| (i as f32 * 0.11).cos()).collect();
                let mut out = old.clone();
                super::transpose(&src, r, c, &mut out, add);
                for i in 0..r {
                    for j in 0..c {
                        let v = src[i * c + j];
                        let want = if add { old[j * r + i] + v } else { v };
                        assert_eq!(out[j * r + i].to_bits(), want.to_bits(), "{r} x {c}, add {add}: ({i}, {j})");
                    }
                }
            }
        }
    }
}
