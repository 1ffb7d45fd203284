//! Fused CPU loops for metarec's hot elementwise work, on plain slices (no candle types), so that
//! they can be built with full optimisation in every profile (the workspace's `Cargo.toml` gives
//! this crate `opt-level = 3` in the dev profile, where our other crates build at 1) and checked
//! on their own.
//!
//! What is here: the coordinate-wise LSTM of `meta-lstm` (Ravi & Larochelle 2017), one update of
//! `N` coordinates with `H` hidden units, forward and backward:
//!
//! - [`cell_forward`] / [`cell_backward`]: layer 1's activations after its matmul,
//!   `z = [z_i; z_f; z_o; z_u]` (`[4H, N]`, row-major) and the previous cell state `s_prev`
//!   (`[H, N]`) to `[h_t; s_t]` (`[2H, N]`): `i, f, o = sigmoid(z_i, z_f, z_o)`,
//!   `u = tanh(z_u)`, `s_t = f s_prev + i u`, `h_t = o tanh(s_t)`.
//! - [`update_forward`] / [`update_backward`]: layer 2's cell, whose state is the learner's
//!   parameters: `c_t = sigmoid(f_n) c - sigmoid(i_n) g` from the gates `[f_n; i_n]` (`[2, N]`),
//!   the parameters `c` and the (constant) gradient `g` (each `[N]`).
//!
//! And ReLU, [`relu`], and its step function, [`step`] (the mask of the gradient methods' functional network) and
//! [`step_mul`] (ReLU's backward, `grad * step(x)`), which candle forms as a comparison into a
//! `u8` tensor, a conversion and a product: three passes, the first not vectorised.
//!
//! And small `f32` matrix products on AVX-512 without packing, [`small_gemm`], for the gradient
//! methods' taped meta-gradient (10-row per-task products at the MeLU shape).
//!
//! Each forward writes what its backward needs (the activations), so the backward evaluates no
//! transcendental function. For `f32` the transcendentals are [`Real::exp`] and [`Real::tanh`]
//! below, branch-free polynomials (Cephes' `expf` and `tanhf`) that the compiler vectorises, where
//! the scalar `libm` calls it replaces were half of a meta-lstm step; for `f64` (the
//! finite-difference tests) they are the standard library's. The `f32` functions are within
//! 1 ulp of the exact value for `exp`, 2 for `tanh` and 3 for `sigmoid` (measured worst cases
//! 0.98, 1.28 and 2.47 ulp over dense sweeps against `f64`, which the tests repeat); they use
//! only IEEE operations without fused multiply-adds, so they give the same bits on every x86-64
//! machine, whatever its vector width.

pub mod small_gemm;

/// A step's scalars for [`adam_update`], each converted from candle-nn's `f64`.
pub struct AdamCoefficients<T> {
    pub beta1: T,
    pub one_minus_beta1: T,
    pub beta2: T,
    pub one_minus_beta2: T,
    pub scale_m: T,
    pub scale_v: T,
    /// `1 - lr * weight_decay`.
    pub decay: T,
    pub eps: T,
    pub lr: T,
}

/// One step of candle-nn's `AdamW::step` for one parameter, in one pass: the parameter `theta`,
/// `m` and `v` updated in place. Each of candle's `tensor * s` is its affine
/// `x * s + 0` and `tensor + s` is `x * 1 + s`, in the tensor's precision, so the result is
/// `AdamW`'s to the bit (metarec-methods' `adam` tests it), at every vector width
/// ([`f32_kernels::adam_update`]: IEEE operations only, no fused multiply-add).
#[inline(always)]
pub fn adam_update<T: Real>(k: &AdamCoefficients<T>, theta: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    let n = theta.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let zero = T::ZERO;
    for i in 0..n {
        let nm = (m[i] * k.beta1 + zero) + (g[i] * k.one_minus_beta1 + zero);
        let nv = (v[i] * k.beta2 + zero) + ((g[i] * g[i]) * k.one_minus_beta2 + zero);
        let m_hat = nm * k.scale_m + zero;
        let v_hat = nv * k.scale_v + zero;
        let decayed = theta[i] * k.decay + zero;
        let adjusted = m_hat / (v_hat.sqrt() * T::ONE + k.eps);
        theta[i] = decayed - (adjusted * k.lr + zero);
        m[i] = nm;
        v[i] = nv;
    }
}

/// The floating-point types the kernels run on.
pub trait Real:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    fn exp(self) -> Self;
    fn tanh(self) -> Self;
    /// The correctly rounded square root (IEEE).
    fn sqrt(self) -> Self;
    /// `max(self, 0)` as the standard library's `max` (candle's ReLU).
    fn relu(self) -> Self;
    /// `1 / (1 + exp(-x))`.
    #[inline(always)]
    fn sigmoid(self) -> Self {
        Self::ONE / (Self::ONE + (-self).exp())
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    #[inline(always)]
    fn exp(self) -> f64 {
        f64::exp(self)
    }
    #[inline(always)]
    fn tanh(self) -> f64 {
        f64::tanh(self)
    }
    #[inline(always)]
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn relu(self) -> f64 {
        self.max(0.0)
    }
}

// Cephes' coefficients as published (some carry more digits than an f32 holds).
#[allow(clippy::excessive_precision)]
impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    #[inline(always)]
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
    /// Cephes' `expf`: `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-7 polynomial for
    /// `e^r`, then the exponent `n` set in the bits. Saturates: `+inf` above 88.72, 0 below
    /// -87.33 (no subnormal results).
    #[inline(always)]
    fn exp(self) -> f32 {
        const HI: f32 = 88.722_83;
        const LO: f32 = -87.336_55;
        // `max` then `min` (not `clamp`): a NaN becomes LO here, so that the conversion below
        // is defined; the NaN is returned at the end.
        #[allow(clippy::manual_clamp)]
        let x = self.max(LO).min(HI);
        // Round to nearest with the 1.5 * 2^23 trick (no `round` instruction needed).
        const MAGIC: f32 = 12_582_912.0;
        let n = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
        // ln 2 in two parts, so that n * C1 is exact.
        let r = (x - n * 0.693_359_4) - n * -2.121_944_4e-4;
        let mut p = 1.987_569_1e-4_f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 5.000_000_1e-1;
        let y = (p * r) * r + r + 1.0;
        // n is in [-126, 128]; 2^n as bits, split in two factors so that n = 128 does not
        // overflow the exponent field.
        // Safety: n is an integer in [-126, 128] (x is finite and clamped).
        let ni = unsafe { n.to_int_unchecked::<i32>() };
        let half = ni >> 1;
        let a = f32::from_bits(((half + 127) as u32) << 23);
        let b = f32::from_bits(((ni - half + 127) as u32) << 23);
        let e = y * a * b;
        if self > HI {
            f32::INFINITY
        } else if self < LO {
            0.0
        } else if self.is_nan() {
            self
        } else {
            e
        }
    }
    /// Cephes' `tanhf`: an odd polynomial below 0.625, else `1 - 2 / (e^{2|x|} + 1)` with the
    /// sign of `x`.
    #[inline(always)]
    fn tanh(self) -> f32 {
        let ax = self.abs();
        let z = self * self;
        let mut p = -5.704_988_7e-3_f32;
        p = p * z + 2.063_908_9e-2;
        p = p * z - 5.373_971_6e-2;
        p = p * z + 1.333_144_2e-1;
        p = p * z - 3.333_328_2e-1;
        let small = (p * z) * self + self;
        // `Real::exp`: the inherent `f32::exp` (libm) would win method resolution.
        let big = (1.0 - 2.0 / (Real::exp(ax + ax) + 1.0)).copysign(self);
        if ax < 0.625 { small } else { big }
    }
    #[inline(always)]
    fn relu(self) -> f32 {
        self.max(0.0)
    }
}

/// An output element: the kernels write every element of their output slices and read none, so
/// callers may hand them memory that is not initialised yet ([`filled`]).
pub type Out<T> = std::mem::MaybeUninit<T>;

/// A vector of `len` elements, every one written by `write` (which must write them all: the
/// kernels here do, each output slice element once). The memory is not zeroed first.
pub fn filled<T: Copy>(len: usize, write: impl FnOnce(&mut [Out<T>])) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    write(&mut v.spare_capacity_mut()[..len]);
    // Safety: `write` initialised all `len` elements (the contract above).
    unsafe { v.set_len(len) };
    v
}

/// Layer 1's activations: see the crate docs. `z: [4H, N]`, `s_prev: [H, N]`; writes
/// `out = [h_t; s_t]` (`[2H, N]`) and, unless `saved` is empty (no backward will follow),
/// `saved = [i; f; o; u; tanh(s_t)]` (`[5H, N]`).
#[inline(always)]
pub fn cell_forward<T: Real>(h: usize, n: usize, z: &[T], s_prev: &[T], out: &mut [Out<T>], saved: &mut [Out<T>]) {
    assert!(z.len() == 4 * h * n && s_prev.len() == h * n && out.len() == 2 * h * n);
    assert!(saved.is_empty() || saved.len() == 5 * h * n);
    let hn = h * n;
    // Slices of exactly `hn` elements, so that the loops have no bounds checks and vectorise.
    let (zi, zf, zo, zu, sp) = (&z[..hn], &z[hn..2 * hn], &z[2 * hn..3 * hn], &z[3 * hn..4 * hn], &s_prev[..hn]);
    let (h_out, s_out) = out.split_at_mut(hn);
    let (h_out, s_out) = (&mut h_out[..hn], &mut s_out[..hn]);
    if saved.is_empty() {
        for k in 0..hn {
            let (_, _, o, _, s, ts) = cell(zi[k], zf[k], zo[k], zu[k], sp[k]);
            h_out[k].write(o * ts);
            s_out[k].write(s);
        }
        return;
    }
    let (si, rest) = saved.split_at_mut(hn);
    let (sf, rest) = rest.split_at_mut(hn);
    let (so, rest) = rest.split_at_mut(hn);
    let (su, sts) = rest.split_at_mut(hn);
    let sts = &mut sts[..hn];
    for k in 0..hn {
        let (i, f, o, u, s, ts) = cell(zi[k], zf[k], zo[k], zu[k], sp[k]);
        h_out[k].write(o * ts);
        s_out[k].write(s);
        si[k].write(i);
        sf[k].write(f);
        so[k].write(o);
        su[k].write(u);
        sts[k].write(ts);
    }
}

/// One coordinate and unit of [`cell_forward`]: `(i, f, o, u, s_t, tanh(s_t))`.
#[inline(always)]
fn cell<T: Real>(zi: T, zf: T, zo: T, zu: T, s_prev: T) -> (T, T, T, T, T, T) {
    let i = zi.sigmoid();
    let f = zf.sigmoid();
    let o = zo.sigmoid();
    let u = zu.tanh();
    let s = f * s_prev + i * u;
    (i, f, o, u, s, s.tanh())
}

/// The backward of [`cell_forward`]: from the gradient of `[h_t; s_t]` (`grad: [2H, N]`), the
/// forward's `saved` and `s_prev`, writes the gradients of `z` (`[4H, N]`) and `s_prev` (`[H, N]`).
#[inline(always)]
pub fn cell_backward<T: Real>(
    h: usize,
    n: usize,
    saved: &[T],
    s_prev: &[T],
    grad: &[T],
    dz: &mut [Out<T>],
    ds_prev: &mut [Out<T>],
) {
    assert!(saved.len() == 5 * h * n && s_prev.len() == h * n && grad.len() == 2 * h * n);
    assert!(dz.len() == 4 * h * n && ds_prev.len() == h * n);
    let hn = h * n;
    let one = T::ONE;
    let (si, sf, so, su, sts) =
        (&saved[..hn], &saved[hn..2 * hn], &saved[2 * hn..3 * hn], &saved[3 * hn..4 * hn], &saved[4 * hn..5 * hn]);
    let (gh, gs, sp) = (&grad[..hn], &grad[hn..2 * hn], &s_prev[..hn]);
    let (dzi, rest) = dz.split_at_mut(hn);
    let (dzf, rest) = rest.split_at_mut(hn);
    let (dzo, dzu) = rest.split_at_mut(hn);
    let (dzu, ds_prev) = (&mut dzu[..hn], &mut ds_prev[..hn]);
    for k in 0..hn {
        let (i, f, o, u, ts) = (si[k], sf[k], so[k], su[k], sts[k]);
        let dh = gh[k];
        let ds = gs[k] + dh * o * (one - ts * ts);
        dzi[k].write(ds * u * i * (one - i));
        dzf[k].write(ds * sp[k] * f * (one - f));
        dzo[k].write(dh * ts * o * (one - o));
        dzu[k].write(ds * i * (one - u * u));
        ds_prev[k].write(ds * f);
    }
}

/// Layer 2's cell: `gates = [f_n; i_n]` (`[2, N]`), `c` and `g` (`[N]`); writes
/// `c_t = sigmoid(f_n) c - sigmoid(i_n) g` and, unless `saved` is empty,
/// `saved = [sigmoid(f_n); sigmoid(i_n)]` (`[2, N]`).
#[inline(always)]
pub fn update_forward<T: Real>(n: usize, gates: &[T], c: &[T], g: &[T], out: &mut [Out<T>], saved: &mut [Out<T>]) {
    assert!(gates.len() == 2 * n && c.len() == n && g.len() == n && out.len() == n);
    assert!(saved.is_empty() || saved.len() == 2 * n);
    let (gf, gi, c, g, out) = (&gates[..n], &gates[n..2 * n], &c[..n], &g[..n], &mut out[..n]);
    if saved.is_empty() {
        for k in 0..n {
            out[k].write(gf[k].sigmoid() * c[k] - gi[k].sigmoid() * g[k]);
        }
        return;
    }
    let (sf, si) = saved.split_at_mut(n);
    let si = &mut si[..n];
    for k in 0..n {
        let f = gf[k].sigmoid();
        let i = gi[k].sigmoid();
        out[k].write(f * c[k] - i * g[k]);
        sf[k].write(f);
        si[k].write(i);
    }
}

/// The backward of [`update_forward`] (the gradient `g` is a constant): from the gradient of
/// `c_t` (`grad: [N]`), writes the gradients of the gates (`[2, N]`) and of `c` (`[N]`).
#[inline(always)]
pub fn update_backward<T: Real>(
    n: usize,
    saved: &[T],
    c: &[T],
    g: &[T],
    grad: &[T],
    dgates: &mut [Out<T>],
    dc: &mut [Out<T>],
) {
    assert!(saved.len() == 2 * n && c.len() == n && g.len() == n && grad.len() == n);
    assert!(dgates.len() == 2 * n && dc.len() == n);
    let one = T::ONE;
    let (sf, si, c, g, grad, dc) = (&saved[..n], &saved[n..2 * n], &c[..n], &g[..n], &grad[..n], &mut dc[..n]);
    let (df, di) = dgates.split_at_mut(n);
    let di = &mut di[..n];
    for k in 0..n {
        let (f, i) = (sf[k], si[k]);
        df[k].write(grad[k] * c[k] * f * (one - f));
        di[k].write(-(grad[k] * g[k]) * i * (one - i));
        dc[k].write(grad[k] * f);
    }
}

/// ReLU's step function: `out[i] = 1` where `x[i] > 0` (or `x[i] >= 0` when `inclusive`), else
/// 0 (a NaN gives 0, as candle's comparisons do). `x` and `out` have one length.
#[inline(always)]
pub fn step<T: Real>(x: &[T], inclusive: bool, out: &mut [Out<T>]) {
    assert_eq!(x.len(), out.len(), "step: input and output lengths differ");
    if inclusive {
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(if v >= T::ZERO { T::ONE } else { T::ZERO });
        }
    } else {
        for (o, &v) in out.iter_mut().zip(x) {
            o.write(if v > T::ZERO { T::ONE } else { T::ZERO });
        }
    }
}

/// `out = max(x, 0)`: ReLU ([`Real::relu`]).
#[inline(always)]
pub fn relu<T: Real>(x: &[T], out: &mut [Out<T>]) {
    assert_eq!(x.len(), out.len(), "relu: input and output lengths differ");
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(v.relu());
    }
}

/// `out = grad * step(x, inclusive)`: ReLU's backward, the product that candle forms from the
/// step function, fused (the same IEEE product per element, so the same bits).
#[inline(always)]
pub fn step_mul<T: Real>(x: &[T], grad: &[T], inclusive: bool, out: &mut [Out<T>]) {
    assert!(x.len() == out.len() && grad.len() == out.len(), "step_mul: lengths differ");
    if inclusive {
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(grad) {
            o.write(g * if v >= T::ZERO { T::ONE } else { T::ZERO });
        }
    } else {
        for ((o, &v), &g) in out.iter_mut().zip(x).zip(grad) {
            o.write(g * if v > T::ZERO { T::ONE } else { T::ZERO });
        }
    }
}

/// The kernels on `f32`, monomorphised here so that callers built without optimisation still run
/// optimised loops, and run with the widest vectors the CPU has (AVX-512F, AVX2 or the baseline
/// SSE2, chosen at run time). The widths give the same bits: every operation is elementwise IEEE
/// arithmetic, with no fused multiply-add and no reduction.
pub mod f32_kernels {
    use super::Out;
    /// One wrapper per kernel: the generic loop, inlined into copies built for each vector width.
    macro_rules! dispatch {
        ($(#[$doc:meta])* $name:ident ( $($arg:ident : $ty:ty),* )) => {
            $(#[$doc])*
            // `inline(never)`: a caller built at opt-level 1 must call this, not inline and rebuild it.
            #[inline(never)]
            pub fn $name($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    // `unsafe fn`: safe functions with target features need Rust 1.86.
                    #[target_feature(enable = "avx512f")]
                    unsafe fn avx512($($arg: $ty),*) {
                        super::$name($($arg),*)
                    }
                    #[target_feature(enable = "avx2")]
                    unsafe fn avx2($($arg: $ty),*) {
                        super::$name($($arg),*)
                    }
                    if std::is_x86_feature_detected!("avx512f") {
                        // Safety: the CPU has the feature.
                        return unsafe { avx512($($arg),*) };
                    }
                    if std::is_x86_feature_detected!("avx2") {
                        // Safety: the CPU has the feature.
                        return unsafe { avx2($($arg),*) };
                    }
                }
                super::$name($($arg),*)
            }
        };
    }

    dispatch!(
        /// [`super::adam_update`] on `f32`.
        adam_update(k: &super::AdamCoefficients<f32>, theta: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32])
    );
    dispatch!(
        /// [`super::step`] on `f32`.
        step(x: &[f32], inclusive: bool, out: &mut [Out<f32>])
    );
    dispatch!(
        /// [`super::relu`] on `f32`.
        relu(x: &[f32], out: &mut [Out<f32>])
    );
    dispatch!(
        /// [`super::step_mul`] on `f32`.
        step_mul(x: &[f32], grad: &[f32], inclusive: bool, out: &mut [Out<f32>])
    );
    dispatch!(
        /// [`super::cell_forward`] on `f32`.
        cell_forward(h: usize, n: usize, z: &[f32], s_prev: &[f32], out: &mut [Out<f32>], saved: &mut [Out<f32>])
    );
    dispatch!(
        /// [`super::cell_backward`] on `f32`.
        cell_backward(h: usize, n: usize, saved: &[f32], s_prev: &[f32], grad: &[f32], dz: &mut [Out<f32>], ds_prev: &mut [Out<f32>])
    );
    dispatch!(
        /// [`super::update_forward`] on `f32`.
        update_forward(n: usize, gates: &[f32], c: &[f32], g: &[f32], out: &mut [Out<f32>], saved: &mut [Out<f32>])
    );
    dispatch!(
        /// [`super::update_backward`] on `f32`.
        update_backward(n: usize, saved: &[f32], c: &[f32], g: &[f32], grad: &[f32], dgates: &mut [Out<f32>], dc: &mut [Out<f32>])
    );
}

#[cfg(test)]
mod tests;
