//! A lean reverse-mode tape for the functional network's meta-gradient on the CPU.
//!
//! candle's autograd makes the exact second-order meta-gradient of [`super::functional`] (the
//! inner backward is itself a graph of candle ops), but at the MeLU shape more than half of a
//! step went to its bookkeeping rather than arithmetic: a fresh tensor per gradient fan-in
//! addition, transposed gradients made contiguous, and pages zeroed for short-lived buffers
//! (ARCHITECTURE.md, "Performance"). This tape records the same computation as a list of nodes
//! over plain row-major buffers, and its reverse pass
//!
//! - accumulates a product's adjoints inside gemm (`dst = dst + lhs rhs`), so that fan-in costs
//!   no addition and no buffer;
//! - reads transposed operands through gemm's strides, copying none, except a shared weight's
//!   transpose (gemm runs a product faster with a row-major right operand), which the caller can
//!   make once for the tapes of every part of a meta-batch ([`Tape::transpose_given`]);
//! - reads parameters in place ([`Tape::leaf_ref`]) and hands adjoints over without a copy
//!   ([`Tape::take_grad`]);
//! - folds a shared weight's rows of every task into one product (forward and adjoint);
//! - writes a node's first adjoint into uninitialised memory (no zeroing), or takes over the
//!   incoming adjoint's buffer where it passes unchanged, adding only later contributions;
//! - accumulates a product into the sum it is added to ([`Tape::matmul_add`]: the sum's buffer
//!   becomes the product's destination) and starts a layer's product from its bias's rows
//!   ([`Tape::matmul_twin_bias`]), forward and reverse, with the bits of the separate ops;
//! - takes every buffer from a per-thread [`Pool`] that the previous tape filled, and gives a
//!   value back to it as soon as the reverse pass is past its last reader;
//! - makes no adjoint of a node that no parameter reaches (constants, detached values).
//!
//! Every op's adjoint is checked against central finite differences in f64
//! (`gradient::tests::tape_ops_match_finite_differences`), and the whole meta-gradient against
//! candle's autograd, finite differences and PyTorch (`gradient::tests`, `gradient::reference`).
//! Products run single-threaded (`Parallelism::None`): a meta-batch's parts take the cores, so
//! results do not depend on the thread count.
//!
//! A node holds a `[b, r, c]` row-major value: `b` batches (tasks) of `r` rows and `c` columns.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Add, Mul, Neg, Sub};

/// The element types the tape computes in.
pub trait Real:
    Copy
    + Default
    + PartialOrd
    + Send
    + Sync
    + std::fmt::Debug
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// Runs `f` on this thread's [`Pool`] of buffers of this type.
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> R;
}

/// Buffers of finished tapes, by capacity, for the next tape on the same thread: a meta-step
/// makes buffers of the same lengths every step, and new memory costs the kernel's zeroing of
/// fresh pages (9% of a step before the pool). At most [`POOL_LIMIT`] elements are kept.
#[derive(Default)]
pub struct Pool<T> {
    free: HashMap<usize, Vec<Vec<T>>, std::hash::BuildHasherDefault<LenHasher>>,
    held: usize,
}

/// A buffer length is its own hash (the pool's keys are a few dozen lengths).
#[derive(Default)]
pub struct LenHasher(u64);

impl std::hash::Hasher for LenHasher {
    fn finish(&self) -> u64 {
        // Spread the low bits (lengths are often multiples of powers of two).
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = n as u64;
    }
}

/// The most elements a thread's [`Pool`] keeps (64 MiB of `f32`).
pub const POOL_LIMIT: usize = 1 << 24;

thread_local! {
    static POOL_F32: RefCell<Pool<f32>> = RefCell::new(Pool::default());
    static POOL_F64: RefCell<Pool<f64>> = RefCell::new(Pool::default());
}

/// An empty buffer with room for `len` elements, from the pool when it has one.
fn take<T: Real>(len: usize) -> Vec<T> {
    let reused = T::with_pool(|p| {
        let buf = p.free.get_mut(&len).and_then(|v| v.pop());
        if buf.is_some() {
            p.held -= len;
        }
        buf
    });
    reused.unwrap_or_else(|| Vec::with_capacity(len))
}

/// Returns a buffer to the pool (or frees it when the pool is full).
fn give<T: Real>(mut buf: Vec<T>) {
    let cap = buf.capacity();
    if cap == 0 {
        return;
    }
    T::with_pool(|p| {
        if p.held + cap <= POOL_LIMIT {
            buf.clear();
            p.free.entry(cap).or_default().push(buf);
            p.held += cap;
        }
    });
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn from_f64(x: f64) -> f32 {
        x as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn with_pool<R>(f: impl FnOnce(&mut Pool<f32>) -> R) -> R {
        POOL_F32.with(|p| f(&mut p.borrow_mut()))
    }
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn from_f64(x: f64) -> f64 {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn with_pool<R>(f: impl FnOnce(&mut Pool<f64>) -> R) -> R {
        POOL_F64.with(|p| f(&mut p.borrow_mut()))
    }
}

/// A node of a [`Tape`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Id(usize);

/// A node's shape: `b` batches of `r x c` row-major matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub b: usize,
    pub r: usize,
    pub c: usize,
}

impl Dims {
    pub fn new(b: usize, r: usize, c: usize) -> Dims {
        Dims { b, r, c }
    }
    pub fn len(&self) -> usize {
        self.b * self.r * self.c
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A parameter: its adjoint is kept and returned by [`Tape::grad`].
    Leaf,
    /// A constant: no adjoint.
    Const,
    /// The value of another node, without its adjoint (a detached gradient, first order).
    Alias(Id),
    /// Per batch `op(a) op(b)`, `op` a transpose where flagged; an operand with one batch is
    /// shared by every batch. `bt`, when given, holds `op(b)^T` row-major (the same values), so
    /// that `a`'s adjoint `g op(b)^T` reads a row-major right operand: gemm runs such small
    /// products at up to twice the speed of a transposed one. Its own adjoint is not made here
    /// (`b` receives the whole gradient).
    MatMul {
        a: Id,
        b: Id,
        ta: bool,
        tb: bool,
        bt: Option<Id>,
        /// `acc + op(a) op(b)` when given ([`Tape::matmul_add`]): the product accumulated into
        /// `acc`'s buffer, which `acc`'s adjoint passes through unchanged.
        acc: Option<Id>,
        /// `op(a) op(b) + bias` when given ([`Tape::matmul_twin_bias`]), `bias: [1, 1, c]` on
        /// every row.
        bias: Option<Id>,
    },
    /// Each batch's matrix transposed: `[b, r, c] -> [b, c, r]`.
    Transpose(Id),
    Add(Id, Id),
    Sub(Id, Id),
    Neg(Id),
    /// `z + bias` with `bias: [1, 1, c]` added to every row.
    AddBias {
        z: Id,
        bias: Id,
    },
    /// `z + bias` with `bias: [b, 1, c]` added to each batch's rows.
    AddTaskBias {
        z: Id,
        bias: Id,
    },
    /// `[b, r, c] -> [b, 1, c]`: each batch's rows summed.
    SumRows(Id),
    /// `a * b` elementwise, both differentiated.
    Mul(Id, Id),
    /// `a * s` with `s: [1, r, c]` multiplying every batch of `a: [b, r, c]` (Meta-SGD's rates).
    MulShared {
        a: Id,
        s: Id,
    },
    /// `a * m` elementwise, `m` a constant.
    MulConst {
        a: Id,
        m: Id,
    },
    /// `s (y - r)` elementwise, `r` a constant.
    ScaledDiff {
        y: Id,
        s: f64,
    },
    /// Columns `[start, start + c)` of `a`.
    Cols {
        a: Id,
        start: usize,
    },
    /// `[a | b]` along columns.
    ConcatCols(Id, Id),
    /// Per batch, the rows of `a` then those of `b`.
    ConcatRows(Id, Id),
    /// Rows looked up in tables: output column block `f` (of width `e`) of row `i` is row
    /// `idx[f][i]` of `tables[f]`.
    Gather {
        tables: Vec<Id>,
        idx: Vec<Vec<u32>>,
        e: usize,
    },
    /// Per batch `t` and field `f` (column blocks of width `e`): `out_f = M_{t f} g_f`, with the
    /// constant 0/1 matrices `m: [b F, na, ns]` (the row-space embedding update).
    EmbStep {
        m: Id,
        g: Id,
        e: usize,
    },
    /// The mean of `(y - r)^2` over all elements, `r` a constant: `[1, 1, 1]`.
    Mse {
        y: Id,
        r: Id,
    },
}

struct Node<'a, T> {
    dims: Dims,
    op: Op,
    /// Whether a leaf is reached from this node (an adjoint is worth making).
    tracked: bool,
    /// Empty for aliases and borrowed values (see [`Tape::val`]).
    val: Vec<T>,
    /// A value the tape reads in place instead of `val` ([`Tape::leaf_ref`],
    /// [`Tape::transpose_given`]): one copy shared by the tapes of a meta-batch's parts.
    borrowed: Option<&'a [T]>,
    /// Whether `val` has gone: taken over by [`Tape::matmul_add`]'s result, or back to the pool
    /// once the reverse pass is past every reader ([`Tape::backward`]).
    released: bool,
}

/// The recorded computation. Build it with the op methods, then call [`Tape::backward`].
/// `'a` is the lifetime of the values it borrows instead of copying.
pub struct Tape<'a, T: Real> {
    nodes: Vec<Node<'a, T>>,
    grads: Vec<Option<Vec<T>>>,
}

impl<T: Real> Default for Tape<'_, T> {
    fn default() -> Self {
        Tape::new()
    }
}

/// The row-major `r x c` matrix `src` transposed (the value of [`Tape::transpose`] of a single
/// matrix, for [`Tape::transpose_given`]).
pub fn transposed<T: Real>(src: &[T], r: usize, c: usize) -> Vec<T> {
    assert_eq!(src.len(), r * c, "transposed: {} values for {r} x {c}", src.len());
    let mut out = vec![T::ZERO; src.len()];
    transpose_into(src, r, c, &mut out, false);
    out
}

/// `out (c x r) = [out +] src (r x c)^T`, in 8 x 8 blocks, so that reads and writes both stay
/// within a few cache lines (a whole column of a `256 x 64` matrix spans 256 lines). `f32` goes
/// to `metarec_kernels::small_gemm::transpose` (16 x 16 blocks in AVX-512 registers where the CPU
/// has them): the same elements; [`transposed`] of the MeLU shape's three weights 22.7 -> 6.6 us,
/// allocation included.
fn transpose_into<T: Real>(src: &[T], r: usize, c: usize, out: &mut [T], add: bool) {
    const B: usize = 8;
    let (src, out) = (&src[..r * c], &mut out[..r * c]);
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // SAFETY: T is f32, so both slices are f32 slices of the same lengths.
        let (src, out) = unsafe {
            (
                std::slice::from_raw_parts(src.as_ptr() as *const f32, src.len()),
                std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut f32, out.len()),
            )
        };
        metarec_kernels::small_gemm::transpose(src, r, c, out, add);
        return;
    }
    for i0 in (0..r).step_by(B) {
        let i1 = (i0 + B).min(r);
        for j0 in (0..c).step_by(B) {
            for j in j0..(j0 + B).min(c) {
                let o = &mut out[j * r + i0..j * r + i1];
                for (k, i) in (i0..i1).enumerate() {
                    let v = src[i * c + j];
                    o[k] = if add { o[k] + v } else { v };
                }
            }
        }
    }
}

/// A strided matrix operand of gemm.
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

impl<T> Mat<T> {
    /// A row-major `r x c` matrix at `ptr`, transposed when `t`.
    fn rm(ptr: *const T, c: usize, t: bool) -> Mat<T> {
        if t { Mat { ptr, rs: 1, cs: c as isize } } else { Mat { ptr, rs: c as isize, cs: 1 } }
    }
    fn t(self) -> Mat<T> {
        Mat { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }
    fn at(self, offset: usize) -> Mat<T> {
        // SAFETY: callers pass offsets inside the operand's buffer.
        Mat { ptr: unsafe { self.ptr.add(offset) }, ..self }
    }
}

/// `dst (m x n, strides dst_rs, dst_cs) = [dst +] lhs (m x k) rhs (k x n)`, single-threaded.
///
/// # Safety
/// Every pointer must address the whole strided extent of its matrix; `dst` must not overlap
/// `lhs` or `rhs`; when `!read`, `dst` may be uninitialised (gemm writes every element, reads
/// none).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: isize,
    dst_cs: isize,
    read: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    if std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>() {
        // Small f32 products on AVX-512 without packing; the rest below.
        // SAFETY: T is f32; the caller's contract is sgemm's.
        let done = unsafe {
            metarec_kernels::small_gemm::sgemm(
                m,
                n,
                k,
                dst as *mut f32,
                dst_rs,
                dst_cs,
                read,
                lhs.ptr as *const f32,
                lhs.rs,
                lhs.cs,
                rhs.ptr as *const f32,
                rhs.rs,
                rhs.cs,
            )
        };
        if done {
            return;
        }
    }
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs,
            dst_rs,
            read,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            if read { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// An adjoint being accumulated: its buffer and whether it already holds values.
struct Acc<T> {
    buf: Vec<T>,
    init: bool,
}

impl<T: Real> Acc<T> {
    /// Room for `len` elements, to be written in full by the first contribution.
    fn fresh(len: usize) -> Acc<T> {
        Acc { buf: take(len), init: false }
    }
    fn ptr(&mut self) -> *mut T {
        self.buf.as_mut_ptr()
    }
    /// After a contribution wrote every element.
    fn written(&mut self, len: usize) {
        assert!(self.buf.capacity() >= len);
        // SAFETY: the caller wrote all `len` elements, within the capacity.
        unsafe { self.buf.set_len(len) };
        self.init = true;
    }
    /// Adds (or writes, the first time) `f(src[i])` to element `i`.
    fn add_map(&mut self, src: &[T], f: impl Fn(T) -> T) {
        if self.init {
            for (x, v) in self.buf.iter_mut().zip(src) {
                *x = *x + f(*v);
            }
        } else {
            self.buf.extend(src.iter().map(|v| f(*v)));
            self.init = true;
        }
    }
    /// Adds (or writes) `f(a[i], b[i])` to element `i`.
    fn add_map2(&mut self, a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
        if self.init {
            for ((x, u), v) in self.buf.iter_mut().zip(a).zip(b) {
                *x = *x + f(*u, *v);
            }
        } else {
            self.buf.extend(a.iter().zip(b).map(|(u, v)| f(*u, *v)));
            self.init = true;
        }
    }
    /// Adds (or writes) `blocks` blocks of `width` elements read from `src` at
    /// `offset + i stride`, one after another.
    fn add_blocks(&mut self, src: &[T], blocks: usize, stride: usize, offset: usize, width: usize) {
        if self.init {
            for (i, out) in self.buf.chunks_exact_mut(width).enumerate().take(blocks) {
                for (x, v) in out.iter_mut().zip(&src[offset + i * stride..][..width]) {
                    *x = *x + *v;
                }
            }
        } else {
            for i in 0..blocks {
                self.buf.extend_from_slice(&src[offset + i * stride..][..width]);
            }
            self.init = true;
        }
    }
    /// Makes the buffer zeros if nothing was written yet (for scattered contributions).
    fn zeroed(&mut self, len: usize) -> &mut [T] {
        if !self.init {
            self.buf.resize(len, T::ZERO);
            self.init = true;
        }
        &mut self.buf
    }
}

impl<T: Real> Drop for Tape<'_, T> {
    fn drop(&mut self) {
        for node in self.nodes.drain(..) {
            give(node.val);
        }
        for g in self.grads.drain(..).flatten() {
            give(g);
        }
    }
}

impl<'a, T: Real> Tape<'a, T> {
    pub fn new() -> Tape<'a, T> {
        Tape { nodes: Vec::new(), grads: Vec::new() }
    }

    fn push(&mut self, dims: Dims, op: Op, tracked: bool, val: Vec<T>) -> Id {
        debug_assert!(matches!(op, Op::Alias(_)) || val.len() == dims.len(), "{op:?}: {} for {dims:?}", val.len());
        self.nodes.push(Node { dims, op, tracked, val, borrowed: None, released: false });
        Id(self.nodes.len() - 1)
    }

    /// A node whose value is `val`, read in place.
    fn push_borrowed(&mut self, dims: Dims, op: Op, tracked: bool, val: &'a [T]) -> Id {
        assert_eq!(val.len(), dims.len(), "{op:?}: {} for {dims:?}", val.len());
        self.nodes.push(Node { dims, op, tracked, val: Vec::new(), borrowed: Some(val), released: false });
        Id(self.nodes.len() - 1)
    }

    pub fn dims(&self, x: Id) -> Dims {
        self.nodes[x.0].dims
    }

    /// A node's value (an alias's is its source's).
    pub fn val(&self, x: Id) -> &[T] {
        assert!(!self.nodes[x.0].released, "the value of node {x:?} ({:?}) was released", self.nodes[x.0].op);
        match self.nodes[x.0].op {
            Op::Alias(src) => self.val(src),
            _ => self.nodes[x.0].borrowed.unwrap_or(&self.nodes[x.0].val),
        }
    }

    fn tracked(&self, x: Id) -> bool {
        self.nodes[x.0].tracked
    }

    /// A parameter.
    pub fn leaf(&mut self, val: &[T], dims: Dims) -> Id {
        let buf = Self::copied(val);
        self.push(dims, Op::Leaf, true, buf)
    }

    /// A parameter whose value the tape reads in place (no copy).
    pub fn leaf_ref(&mut self, val: &'a [T], dims: Dims) -> Id {
        self.push_borrowed(dims, Op::Leaf, true, val)
    }

    /// A constant.
    pub fn constant(&mut self, val: &[T], dims: Dims) -> Id {
        let buf = Self::copied(val);
        self.push(dims, Op::Const, false, buf)
    }

    /// A pooled copy of `val` (every buffer of a tape comes from the pool and goes back to it,
    /// so that the pool holds what one tape needs and no more).
    fn copied(val: &[T]) -> Vec<T> {
        let mut buf = take(val.len());
        buf.extend_from_slice(val);
        buf
    }

    /// `x`'s value with no adjoint flowing back (first order's detached gradients).
    pub fn detach(&mut self, x: Id) -> Id {
        let dims = self.dims(x);
        self.push(dims, Op::Alias(x), false, Vec::new())
    }

    /// Per batch `op(a) op(b)` (see [`Op::MatMul`]).
    pub fn matmul(&mut self, a: Id, ta: bool, b: Id, tb: bool) -> Id {
        self.matmul_with(a, ta, b, tb, None, None, None)
    }

    /// `acc + op(a) op(b)` per batch: [`Tape::add`] of `acc` and [`Tape::matmul`]'s product,
    /// the same bits (gemm adds the destination's old value to each finished sum), without the
    /// product's buffer and the addition's pass, forward and reverse. The result takes over
    /// `acc`'s buffer when `acc` owns one, so `acc`'s value must not be read afterwards (by
    /// an op or a reverse pass: it is released, and reading it panics).
    pub fn matmul_add(&mut self, acc: Id, a: Id, ta: bool, b: Id, tb: bool) -> Id {
        self.matmul_with(a, ta, b, tb, None, Some(acc), None)
    }

    /// Per batch `a b`, given `bt` holding `b^T` (see [`Op::MatMul`]).
    pub fn matmul_twin(&mut self, a: Id, b: Id, bt: Id) -> Id {
        let (db, dt) = (self.dims(b), self.dims(bt));
        assert_eq!((db.b, db.r, db.c), (dt.b, dt.c, dt.r), "matmul_twin: {db:?} and its transpose {dt:?}");
        self.matmul_with(a, false, b, false, Some(bt), None, None)
    }

    /// [`Tape::add_bias`] of [`Tape::matmul_twin`]'s product, the same bits (the output starts
    /// as the bias's rows and gemm adds each finished sum to them), in one pass.
    pub fn matmul_twin_bias(&mut self, a: Id, b: Id, bt: Id, bias: Id) -> Id {
        let (db, dt) = (self.dims(b), self.dims(bt));
        assert_eq!((db.b, db.r, db.c), (dt.b, dt.c, dt.r), "matmul_twin: {db:?} and its transpose {dt:?}");
        assert_eq!(self.dims(bias), Dims::new(1, 1, db.c), "matmul_twin_bias: the bias");
        self.matmul_with(a, false, b, false, Some(bt), None, Some(bias))
    }

    /// Each batch's matrix transposed.
    pub fn transpose(&mut self, x: Id) -> Id {
        let d = self.dims(x);
        let mut val = take(d.len());
        val.resize(d.len(), T::ZERO);
        let xv = self.val(x);
        let n = d.r * d.c;
        for (src, out) in xv.chunks_exact(n).zip(val.chunks_exact_mut(n)) {
            transpose_into(src, d.r, d.c, out, false);
        }
        let tracked = self.tracked(x);
        self.push(Dims::new(d.b, d.c, d.r), Op::Transpose(x), tracked, val)
    }

    /// [`Tape::transpose`] of `x` given its value `val`, made beforehand (once for the tapes of
    /// every part, read in place): the same node, the same adjoint.
    pub fn transpose_given(&mut self, x: Id, val: &'a [T]) -> Id {
        let d = self.dims(x);
        let tracked = self.tracked(x);
        self.push_borrowed(Dims::new(d.b, d.c, d.r), Op::Transpose(x), tracked, val)
    }

    /// Moves `x`'s adjoint out of the tape (after [`Tape::backward`]; `None` when none was made).
    pub fn take_grad(&mut self, x: Id) -> Option<Vec<T>> {
        self.grads.get_mut(x.0).and_then(|g| g.take())
    }

    #[allow(clippy::too_many_arguments)]
    fn matmul_with(
        &mut self,
        a: Id,
        ta: bool,
        b: Id,
        tb: bool,
        bt: Option<Id>,
        acc: Option<Id>,
        bias: Option<Id>,
    ) -> Id {
        let (da, db) = (self.dims(a), self.dims(b));
        let (m, k) = if ta { (da.c, da.r) } else { (da.r, da.c) };
        let (k2, n) = if tb { (db.c, db.r) } else { (db.r, db.c) };
        assert_eq!(
            k,
            k2,
            "matmul: inner dimensions of {da:?}{} and {db:?}{}",
            if ta { "^T" } else { "" },
            if tb { "^T" } else { "" }
        );
        let nb = da.b.max(db.b);
        assert!((da.b == nb || da.b == 1) && (db.b == nb || db.b == 1), "matmul: batches {da:?} and {db:?}");
        let dims = Dims::new(nb, m, n);
        let (pa, pb) = (self.val(a).as_ptr(), self.val(b).as_ptr());
        // The sum's buffer: `acc`'s, taken over (or copied when `acc` does not own it), the
        // bias's rows, or fresh.
        assert!(acc.is_none() || bias.is_none(), "matmul: a sum and a bias");
        let mut out: Vec<T> = match acc {
            Some(x) => {
                assert_ne!(x, a, "matmul_add: the sum is an operand");
                assert_ne!(x, b, "matmul_add: the sum is an operand");
                assert_eq!(self.dims(x), dims, "matmul_add: a sum of {:?} and a product of {dims:?}", self.dims(x));
                self.own_value(x)
            }
            None => match bias {
                Some(x) => {
                    // The bias's row, then the rows so far copied after themselves (doubling:
                    // a few long copies where one per row would each be a call to `memcpy`).
                    let mut v = take(dims.len());
                    if dims.len() > 0 {
                        v.extend_from_slice(self.val(x));
                    }
                    while v.len() < dims.len() {
                        v.extend_from_within(..v.len().min(dims.len() - v.len()));
                    }
                    v
                }
                None => take(dims.len()),
            },
        };
        let read = acc.is_some() || bias.is_some();
        let (sa, sb) = (if da.b == 1 { 0 } else { da.r * da.c }, if db.b == 1 { 0 } else { db.r * db.c });
        // SAFETY: operands and output are sized by their dims; the output is fresh (written in
        // full) or `acc`'s value (read), a buffer no operand shares.
        unsafe {
            if db.b == 1 && !ta {
                // A shared right operand: every batch's rows in one product.
                gemm(
                    nb * m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    n as isize,
                    1,
                    read,
                    Mat::rm(pa, da.c, false),
                    Mat::rm(pb, db.c, tb),
                );
            } else {
                for t in 0..nb {
                    gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr().add(t * m * n),
                        n as isize,
                        1,
                        read,
                        Mat::rm(pa, da.c, ta).at(t * sa),
                        Mat::rm(pb, db.c, tb).at(t * sb),
                    );
                }
            }
            out.set_len(dims.len());
        }
        let tracked = self.tracked(a)
            || self.tracked(b)
            || acc.is_some_and(|x| self.tracked(x))
            || bias.is_some_and(|x| self.tracked(x));
        self.push(dims, Op::MatMul { a, b, ta, tb, bt, acc, bias }, tracked, out)
    }

    fn zip(&mut self, a: Id, b: Id, op: Op, f: impl Fn(T, T) -> T) -> Id {
        let dims = self.dims(a);
        assert_eq!(dims, self.dims(b), "{op:?}: shapes differ");
        let mut val = take(dims.len());
        val.extend(self.val(a).iter().zip(self.val(b)).map(|(x, y)| f(*x, *y)));
        let tracked = self.tracked(a) || self.tracked(b);
        self.push(dims, op, tracked, val)
    }

    /// [`Tape::zip`] into the buffer of `consume` (`a` or `b`), which it takes over when `consume`
    /// owns one ([`Tape::take_over`]; otherwise a fresh buffer): the same values, without a new
    /// buffer. `consume`'s value must not be read afterwards.
    fn zip_consuming(&mut self, a: Id, b: Id, consume: Id, op: Op, f: impl Fn(T, T) -> T) -> Id {
        let dims = self.dims(a);
        assert_eq!(dims, self.dims(b), "{op:?}: shapes differ");
        assert!(a != b && (consume == a || consume == b), "{op:?}: consumes {consume:?}");
        let tracked = self.tracked(a) || self.tracked(b);
        let Some(mut val) = self.take_over(consume) else { return self.zip(a, b, op, f) };
        if consume == a {
            val.iter_mut().zip(self.val(b)).for_each(|(x, y)| *x = f(*x, *y));
        } else {
            val.iter_mut().zip(self.val(a)).for_each(|(y, x)| *y = f(*x, *y));
        }
        self.push(dims, op, tracked, val)
    }

    /// `x`'s value as a buffer of the op about to write over it: `x`'s own ([`Tape::take_over`])
    /// or, when `x` does not own one, a copy.
    fn own_value(&mut self, x: Id) -> Vec<T> {
        match self.take_over(x) {
            Some(v) => v,
            None => Self::copied(self.val(x)),
        }
    }

    /// `x`'s buffer, for an op that writes its result over `x`'s value (which is then released:
    /// reading it panics); `None` when `x` does not own its value (a borrowed value, an alias).
    fn take_over(&mut self, x: Id) -> Option<Vec<T>> {
        let node = &mut self.nodes[x.0];
        assert!(!node.released, "the value of {x:?} ({:?}) was released", node.op);
        if node.borrowed.is_some() || matches!(node.op, Op::Alias(_)) {
            return None;
        }
        node.released = true;
        Some(std::mem::take(&mut node.val))
    }

    pub fn add(&mut self, a: Id, b: Id) -> Id {
        self.zip(a, b, Op::Add(a, b), |x, y| x + y)
    }

    /// [`Tape::add`] written over `consume`'s value (`a` or `b`; see [`Tape::zip_consuming`]).
    pub fn add_consuming(&mut self, a: Id, b: Id, consume: Id) -> Id {
        self.zip_consuming(a, b, consume, Op::Add(a, b), |x, y| x + y)
    }

    pub fn sub(&mut self, a: Id, b: Id) -> Id {
        self.zip(a, b, Op::Sub(a, b), |x, y| x - y)
    }

    /// [`Tape::sub`] written over `consume`'s value (`a` or `b`; see [`Tape::zip_consuming`]).
    pub fn sub_consuming(&mut self, a: Id, b: Id, consume: Id) -> Id {
        self.zip_consuming(a, b, consume, Op::Sub(a, b), |x, y| x - y)
    }

    pub fn neg(&mut self, a: Id) -> Id {
        let (dims, tracked) = (self.dims(a), self.tracked(a));
        let mut val = take(dims.len());
        val.extend(self.val(a).iter().map(|x| -*x));
        self.push(dims, Op::Neg(a), tracked, val)
    }

    /// `z + bias`, `bias: [1, 1, c]` on every row.
    pub fn add_bias(&mut self, z: Id, bias: Id) -> Id {
        let dims = self.dims(z);
        assert_eq!(self.dims(bias), Dims::new(1, 1, dims.c), "add_bias");
        let bv = self.val(bias);
        let mut val = take(dims.len());
        for row in self.val(z).chunks_exact(dims.c) {
            val.extend(row.iter().zip(bv).map(|(x, y)| *x + *y));
        }
        let tracked = self.tracked(z) || self.tracked(bias);
        self.push(dims, Op::AddBias { z, bias }, tracked, val)
    }

    /// `z + bias`, `bias: [b, 1, c]` on each batch's rows.
    pub fn add_task_bias(&mut self, z: Id, bias: Id) -> Id {
        self.task_bias_over(z, bias, false)
    }

    /// [`Tape::add_task_bias`] written over `z`'s value (see [`Tape::zip_consuming`]).
    pub fn add_task_bias_consuming(&mut self, z: Id, bias: Id) -> Id {
        self.task_bias_over(z, bias, true)
    }

    /// `z + bias` in `z`'s buffer when `consume` ([`Tape::own_value`]), else in a copy of `z`.
    fn task_bias_over(&mut self, z: Id, bias: Id, consume: bool) -> Id {
        let dims = self.dims(z);
        assert_eq!(self.dims(bias), Dims::new(dims.b, 1, dims.c), "add_task_bias");
        assert!(!consume || z != bias, "add_task_bias: the bias is the sum it is written over");
        let tracked = self.tracked(z) || self.tracked(bias);
        let mut val = if consume { self.own_value(z) } else { Self::copied(self.val(z)) };
        for (task, b) in val.chunks_exact_mut(dims.r * dims.c).zip(self.val(bias).chunks_exact(dims.c)) {
            for row in task.chunks_exact_mut(dims.c) {
                row.iter_mut().zip(b).for_each(|(x, y)| *x = *x + *y);
            }
        }
        self.push(dims, Op::AddTaskBias { z, bias }, tracked, val)
    }

    /// Each batch's rows summed: `[b, 1, c]`.
    pub fn sum_rows(&mut self, x: Id) -> Id {
        let d = self.dims(x);
        let mut val = take(d.b * d.c);
        val.resize(d.b * d.c, T::ZERO);
        for (task, out) in self.val(x).chunks_exact(d.r * d.c).zip(val.chunks_exact_mut(d.c)) {
            for row in task.chunks_exact(d.c) {
                for (o, v) in out.iter_mut().zip(row) {
                    *o = *o + *v;
                }
            }
        }
        let tracked = self.tracked(x);
        self.push(Dims::new(d.b, 1, d.c), Op::SumRows(x), tracked, val)
    }

    /// ReLU's step function `[z > 0]` (as `relu::step(z, false)`), a constant.
    pub fn positive(&mut self, z: Id) -> Id {
        let dims = self.dims(z);
        let mut val = take(dims.len());
        val.extend(self.val(z).iter().map(|x| if *x > T::ZERO { T::ONE } else { T::ZERO }));
        self.push(dims, Op::Const, false, val)
    }

    /// `a * b` elementwise.
    pub fn mul(&mut self, a: Id, b: Id) -> Id {
        self.zip(a, b, Op::Mul(a, b), |x, y| x * y)
    }

    /// `a * s`, `s: [1, r, c]` on every batch of `a: [b, r, c]`.
    pub fn mul_shared(&mut self, a: Id, s: Id) -> Id {
        let d = self.dims(a);
        assert_eq!(self.dims(s), Dims::new(1, d.r, d.c), "mul_shared: {d:?}");
        let sv = self.val(s);
        let mut val = take(d.len());
        for task in self.val(a).chunks_exact(d.r * d.c) {
            val.extend(task.iter().zip(sv).map(|(x, y)| *x * *y));
        }
        let tracked = self.tracked(a) || self.tracked(s);
        self.push(d, Op::MulShared { a, s }, tracked, val)
    }

    /// `a * m` elementwise with a constant `m`.
    pub fn mul_const(&mut self, a: Id, m: Id) -> Id {
        assert!(!self.tracked(m), "mul_const: the multiplier must be a constant");
        self.zip(a, m, Op::MulConst { a, m }, |x, y| x * y)
    }

    /// [`Tape::mul_const`] written over `a`'s value (see [`Tape::zip_consuming`]).
    pub fn mul_const_consuming(&mut self, a: Id, m: Id) -> Id {
        assert!(!self.tracked(m), "mul_const: the multiplier must be a constant");
        self.zip_consuming(a, m, a, Op::MulConst { a, m }, |x, y| x * y)
    }

    /// `s (y - r)` with a constant `r`.
    pub fn scaled_diff(&mut self, y: Id, r: Id, s: f64) -> Id {
        assert!(!self.tracked(r), "scaled_diff: the target must be a constant");
        let st = T::from_f64(s);
        self.zip(y, r, Op::ScaledDiff { y, s }, |a, b| (a - b) * st)
    }

    /// Columns `[start, start + width)`.
    pub fn cols(&mut self, a: Id, start: usize, width: usize) -> Id {
        let d = self.dims(a);
        assert!(start + width <= d.c, "cols: {start}+{width} of {d:?}");
        let mut val = take(d.b * d.r * width);
        for row in self.val(a).chunks_exact(d.c) {
            val.extend_from_slice(&row[start..start + width]);
        }
        let tracked = self.tracked(a);
        self.push(Dims::new(d.b, d.r, width), Op::Cols { a, start }, tracked, val)
    }

    /// `[a | b]` along columns.
    pub fn concat_cols(&mut self, a: Id, b: Id) -> Id {
        let (da, db) = (self.dims(a), self.dims(b));
        assert!(da.b == db.b && da.r == db.r, "concat_cols: {da:?} and {db:?}");
        let mut val = take(da.b * da.r * (da.c + db.c));
        for (x, y) in self.val(a).chunks_exact(da.c).zip(self.val(b).chunks_exact(db.c)) {
            val.extend_from_slice(x);
            val.extend_from_slice(y);
        }
        let tracked = self.tracked(a) || self.tracked(b);
        self.push(Dims::new(da.b, da.r, da.c + db.c), Op::ConcatCols(a, b), tracked, val)
    }

    /// Per batch, the rows of `a` then those of `b`.
    pub fn concat_rows(&mut self, a: Id, b: Id) -> Id {
        let (da, db) = (self.dims(a), self.dims(b));
        assert!(da.b == db.b && da.c == db.c, "concat_rows: {da:?} and {db:?}");
        let mut val = take(da.b * (da.r + db.r) * da.c);
        for (x, y) in self.val(a).chunks_exact(da.r * da.c).zip(self.val(b).chunks_exact(db.r * db.c)) {
            val.extend_from_slice(x);
            val.extend_from_slice(y);
        }
        let tracked = self.tracked(a) || self.tracked(b);
        self.push(Dims::new(da.b, da.r + db.r, da.c), Op::ConcatRows(a, b), tracked, val)
    }

    /// `[b, r, F e]`: row `i`'s block `f` is row `idx[f][i]` of table `f` (`[vocab, e]`).
    pub fn gather(&mut self, tables: &[Id], idx: &[Vec<u32>], b: usize, r: usize) -> Id {
        assert_eq!(tables.len(), idx.len(), "gather: one index list per table");
        let e = self.dims(tables[0]).c;
        let nf = tables.len();
        let mut val = take(b * r * nf * e);
        let tabs: Vec<&[T]> = tables.iter().map(|t| self.val(*t)).collect();
        for i in 0..b * r {
            for (f, tab) in tabs.iter().enumerate() {
                let row = &tab[idx[f][i] as usize * e..][..e];
                val.extend_from_slice(row);
            }
        }
        let tracked = tables.iter().any(|t| self.tracked(*t));
        self.push(Dims::new(b, r, nf * e), Op::Gather { tables: tables.to_vec(), idx: idx.to_vec(), e }, tracked, val)
    }

    /// The row-space embedding update (see [`Op::EmbStep`]).
    pub fn emb_step(&mut self, m: Id, g: Id, e: usize) -> Id {
        assert!(!self.tracked(m), "emb_step: the match matrices must be constants");
        let (dm, dg) = (self.dims(m), self.dims(g));
        let nf = dg.c / e;
        assert!(dm.b == dg.b * nf && dm.c == dg.r && dg.c == nf * e, "emb_step: {dm:?} and {dg:?}, e = {e}");
        let (na, ns, w) = (dm.r, dm.c, dg.c);
        let mut val = take(dg.b * na * w);
        val.resize(dg.b * na * w, T::ZERO);
        let (mv, gv) = (self.val(m), self.val(g));
        for t in 0..dg.b {
            for f in 0..nf {
                let mm = &mv[(t * nf + f) * na * ns..][..na * ns];
                for a in 0..na {
                    let out = &mut val[(t * na + a) * w + f * e..][..e];
                    for s in 0..ns {
                        let x = mm[a * ns + s];
                        if x != T::ZERO {
                            let src = &gv[(t * ns + s) * w + f * e..][..e];
                            for (o, v) in out.iter_mut().zip(src) {
                                *o = *o + x * *v;
                            }
                        }
                    }
                }
            }
        }
        let tracked = self.tracked(g);
        self.push(Dims::new(dg.b, na, w), Op::EmbStep { m, g, e }, tracked, val)
    }

    /// The mean of `(y - r)^2` over every element, `r` a constant.
    pub fn mse(&mut self, y: Id, r: Id) -> Id {
        assert!(!self.tracked(r), "mse: the target must be a constant");
        assert_eq!(self.dims(y).len(), self.dims(r).len(), "mse: sizes differ");
        let (yv, rv) = (self.val(y), self.val(r));
        let sum = yv.iter().zip(rv).fold(0.0f64, |acc, (a, b)| {
            let d = (*a - *b).to_f64();
            acc + d * d
        });
        let val = vec![T::from_f64(sum / yv.len() as f64)];
        let tracked = self.tracked(y);
        self.push(Dims::new(1, 1, 1), Op::Mse { y, r }, tracked, val)
    }

    /// The adjoint of `x` being accumulated, made on first use.
    fn acc(&mut self, x: Id) -> Option<Acc<T>> {
        if !self.tracked(x) {
            return None;
        }
        Some(match self.grads[x.0].take() {
            Some(buf) => Acc { buf, init: true },
            None => Acc::fresh(self.dims(x).len()),
        })
    }

    fn put(&mut self, x: Id, acc: Option<Acc<T>>) {
        if let Some(a) = acc {
            if a.init {
                self.grads[x.0] = Some(a.buf);
            }
        }
    }

    /// Reverse pass from the scalar `loss`: afterwards [`Tape::grad`] gives the leaves' adjoints.
    pub fn backward(&mut self, loss: Id) {
        assert_eq!(self.dims(loss).len(), 1, "backward from a scalar");
        self.grads = (0..self.nodes.len()).map(|_| None).collect();
        self.grads[loss.0] = Some(vec![T::ONE]);
        for id in (0..=loss.0).rev() {
            // Every reader of node `id + 1`'s value comes after it, and has had its adjoint made:
            // the value goes back to the pool, where the next adjoint of its length takes it
            // while it is still in the cache.
            if id < loss.0 {
                self.release(Id(id + 1));
            }
            let Some(g) = self.grads[id].take() else { continue };
            let op = self.nodes[id].op.clone();
            let d = self.nodes[id].dims;
            if let Op::Leaf = op {
                self.grads[id] = Some(g);
                continue;
            }
            match op {
                Op::Leaf => unreachable!("kept above"),
                Op::Const | Op::Alias(_) => {}
                Op::MatMul { a, b, ta, tb, bt, acc, bias } => {
                    self.back_matmul(&g, d, a, b, ta, tb, bt);
                    if let Some(x) = bias {
                        self.back_bias(x, &g, d.c);
                    }
                    if let Some(x) = acc {
                        self.back_pass(x, g);
                        continue;
                    }
                }
                Op::Transpose(x) => {
                    if let Some(mut acc) = self.acc(x) {
                        let dx = self.dims(x);
                        // g is [b, c, r]: element (i, j) of x's batch t is g's (j, i).
                        if !acc.init {
                            acc.buf.resize(dx.len(), T::ZERO);
                        }
                        let n = dx.r * dx.c;
                        for (gt, out) in g.chunks_exact(n).zip(acc.buf.chunks_exact_mut(n)) {
                            transpose_into(gt, dx.c, dx.r, out, acc.init);
                        }
                        acc.init = true;
                        self.put(x, Some(acc));
                    }
                }
                Op::Add(a, b) => {
                    self.back_elementwise(b, &g, |x| x);
                    self.back_pass(a, g);
                    continue;
                }
                Op::Sub(a, b) => {
                    self.back_elementwise(b, &g, |x| -x);
                    self.back_pass(a, g);
                    continue;
                }
                Op::Neg(a) => self.back_elementwise(a, &g, |x| -x),
                Op::AddBias { z, bias } => {
                    self.back_bias(bias, &g, d.c);
                    self.back_pass(z, g);
                    continue;
                }
                Op::AddTaskBias { z, bias } => {
                    if let Some(mut acc) = self.acc(bias) {
                        let out = acc.zeroed(d.b * d.c);
                        for (task, o) in g.chunks_exact(d.r * d.c).zip(out.chunks_exact_mut(d.c)) {
                            for row in task.chunks_exact(d.c) {
                                for (o, v) in o.iter_mut().zip(row) {
                                    *o = *o + *v;
                                }
                            }
                        }
                        self.put(bias, Some(acc));
                    }
                    self.back_pass(z, g);
                    continue;
                }
                Op::SumRows(x) => {
                    let dx = self.dims(x);
                    if let Some(mut acc) = self.acc(x) {
                        // Each batch's row of g, once per row of x.
                        if acc.init {
                            for (task, gt) in acc.buf.chunks_exact_mut(dx.r * dx.c).zip(g.chunks_exact(dx.c)) {
                                for row in task.chunks_exact_mut(dx.c) {
                                    for (x, v) in row.iter_mut().zip(gt) {
                                        *x = *x + *v;
                                    }
                                }
                            }
                        } else {
                            for gt in g.chunks_exact(dx.c) {
                                for _ in 0..dx.r {
                                    acc.buf.extend_from_slice(gt);
                                }
                            }
                            acc.init = true;
                        }
                        self.put(x, Some(acc));
                    }
                }
                Op::Mul(a, b) => {
                    for (x, y) in [(a, b), (b, a)] {
                        if let Some(mut acc) = self.acc(x) {
                            let yv = self.val(y);
                            acc.add_map2(&g, yv, |u, v| u * v);
                            self.put(x, Some(acc));
                        }
                    }
                }
                Op::MulShared { a, s } => {
                    let per = d.r * d.c;
                    if let Some(mut acc) = self.acc(a) {
                        let sv = self.val(s);
                        if acc.init {
                            for (out, gt) in acc.buf.chunks_exact_mut(per).zip(g.chunks_exact(per)) {
                                for ((o, u), v) in out.iter_mut().zip(gt).zip(sv) {
                                    *o = *o + *u * *v;
                                }
                            }
                        } else {
                            for gt in g.chunks_exact(per) {
                                acc.buf.extend(gt.iter().zip(sv).map(|(u, v)| *u * *v));
                            }
                            acc.init = true;
                        }
                        self.put(a, Some(acc));
                    }
                    if let Some(mut acc) = self.acc(s) {
                        let av = self.val(a);
                        let out = acc.zeroed(per);
                        for (gt, at) in g.chunks_exact(per).zip(av.chunks_exact(per)) {
                            for ((o, u), v) in out.iter_mut().zip(gt).zip(at) {
                                *o = *o + *u * *v;
                            }
                        }
                        self.put(s, Some(acc));
                    }
                }
                Op::MulConst { a, m } => {
                    if let Some(mut acc) = self.acc(a) {
                        let mv = self.val(m);
                        acc.add_map2(&g, mv, |u, v| u * v);
                        self.put(a, Some(acc));
                    }
                }
                Op::ScaledDiff { y, s } => {
                    let st = T::from_f64(s);
                    self.back_elementwise(y, &g, |x| x * st);
                }
                Op::Cols { a, start } => {
                    let da = self.dims(a);
                    if let Some(mut acc) = self.acc(a) {
                        let out = acc.zeroed(da.len());
                        for (o, v) in out.chunks_exact_mut(da.c).zip(g.chunks_exact(d.c)) {
                            for (o, v) in o[start..start + d.c].iter_mut().zip(v) {
                                *o = *o + *v;
                            }
                        }
                        self.put(a, Some(acc));
                    }
                }
                Op::ConcatCols(a, b) => {
                    let ca = self.dims(a).c;
                    for (x, start) in [(a, 0), (b, ca)] {
                        let w = self.dims(x).c;
                        if let Some(mut acc) = self.acc(x) {
                            acc.add_blocks(&g, d.b * d.r, d.c, start, w);
                            self.put(x, Some(acc));
                        }
                    }
                }
                Op::ConcatRows(a, b) => {
                    let ra = self.dims(a).r;
                    for (x, start) in [(a, 0), (b, ra)] {
                        let per = self.dims(x).r * d.c;
                        if let Some(mut acc) = self.acc(x) {
                            acc.add_blocks(&g, d.b, d.r * d.c, start * d.c, per);
                            self.put(x, Some(acc));
                        }
                    }
                }
                Op::Gather { tables, idx, e } => {
                    let nf = tables.len();
                    for (f, t) in tables.iter().enumerate() {
                        if let Some(mut acc) = self.acc(*t) {
                            let len = self.dims(*t).len();
                            let out = acc.zeroed(len);
                            for (i, row) in g.chunks_exact(nf * e).enumerate() {
                                let r = idx[f][i] as usize;
                                for (o, v) in out[r * e..(r + 1) * e].iter_mut().zip(&row[f * e..(f + 1) * e]) {
                                    *o = *o + *v;
                                }
                            }
                            self.put(*t, Some(acc));
                        }
                    }
                }
                Op::EmbStep { m, g: src, e } => {
                    let (dm, dg) = (self.dims(m), self.dims(src));
                    let nf = dg.c / e;
                    let (na, ns, w) = (dm.r, dm.c, dg.c);
                    if let Some(mut acc) = self.acc(src) {
                        let mv = self.val(m);
                        let out = acc.zeroed(dg.len());
                        for t in 0..dg.b {
                            for f in 0..nf {
                                let mm = &mv[(t * nf + f) * na * ns..][..na * ns];
                                for a in 0..na {
                                    let go = &g[(t * na + a) * w + f * e..][..e];
                                    for s in 0..ns {
                                        let x = mm[a * ns + s];
                                        if x != T::ZERO {
                                            let o = &mut out[(t * ns + s) * w + f * e..][..e];
                                            for (o, v) in o.iter_mut().zip(go) {
                                                *o = *o + x * *v;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        self.put(src, Some(acc));
                    }
                }
                Op::Mse { y, r } => {
                    let n = self.dims(y).len();
                    let s = g[0] * T::from_f64(2.0 / n as f64);
                    if let Some(mut acc) = self.acc(y) {
                        let (yv, rv) = (self.val(y), self.val(r));
                        acc.add_map2(yv, rv, |u, v| (u - v) * s);
                        self.put(y, Some(acc));
                    }
                }
            }
            give(g);
        }
    }

    /// Adds the column sums of `g` (rows of `c`) to the adjoint of `bias: [1, 1, c]`, row by row.
    fn back_bias(&mut self, bias: Id, g: &[T], c: usize) {
        if let Some(mut acc) = self.acc(bias) {
            let out = acc.zeroed(c);
            for row in g.chunks_exact(c) {
                for (o, v) in out.iter_mut().zip(row) {
                    *o = *o + *v;
                }
            }
            self.put(bias, Some(acc));
        }
    }

    /// Gives `x`'s value back to the pool, where the next buffer of its length comes from.
    fn release(&mut self, x: Id) {
        let node = &mut self.nodes[x.0];
        node.released = true;
        give(std::mem::take(&mut node.val));
    }

    /// Adds `g` to `x`'s adjoint, handing the buffer over when `x` has none yet (no copy).
    fn back_pass(&mut self, x: Id, g: Vec<T>) {
        if !self.tracked(x) {
            give(g);
        } else if let Some(prev) = self.grads[x.0].as_mut() {
            for (p, v) in prev.iter_mut().zip(&g) {
                *p = *p + *v;
            }
            give(g);
        } else {
            self.grads[x.0] = Some(g);
        }
    }

    fn back_elementwise(&mut self, x: Id, g: &[T], f: impl Fn(T) -> T) {
        if let Some(mut acc) = self.acc(x) {
            acc.add_map(g, f);
            self.put(x, Some(acc));
        }
    }

    /// Adjoints of `out = op(a) op(b)` (per batch) given `g = d out`.
    #[allow(clippy::too_many_arguments)]
    fn back_matmul(&mut self, g: &[T], d: Dims, a: Id, b: Id, ta: bool, tb: bool, bt: Option<Id>) {
        let (da, db) = (self.dims(a), self.dims(b));
        let (m, n) = (d.r, d.c);
        let k = if ta { da.r } else { da.c };
        let nb = d.b;
        let (sa, sb) = (if da.b == 1 { 0 } else { da.r * da.c }, if db.b == 1 { 0 } else { db.r * db.c });
        let gm = Mat::rm(g.as_ptr(), n, false);
        // d op(a) = g op(b)^T  [m x k]; d op(b) = op(a)^T g  [k x n].
        if let Some(mut acc) = self.acc(a) {
            // op(b)^T as a right operand: the twin's rows, or b's read through strides.
            let opbt = match bt {
                Some(x) => Mat::rm(self.val(x).as_ptr(), k, false),
                None => Mat::rm(self.val(b).as_ptr(), db.c, tb).t(),
            };
            let read = acc.init;
            let dst = acc.ptr();
            // The adjoint of op(a) stored as a (transposed when ta).
            let (drs, dcs) = if ta { (1isize, da.c as isize) } else { (da.c as isize, 1isize) };
            // SAFETY: buffers sized by their dims; the adjoint is a distinct buffer.
            unsafe {
                if db.b == 1 && !ta && da.b == nb {
                    // Shared b: every batch's rows in one product.
                    gemm(nb * m, k, n, dst, drs, dcs, read, gm, opbt);
                } else {
                    for t in 0..nb {
                        gemm(
                            m,
                            k,
                            n,
                            dst.add(t * sa),
                            drs,
                            dcs,
                            read || (sa == 0 && t > 0),
                            gm.at(t * m * n),
                            opbt.at(t * sb),
                        );
                    }
                }
            }
            acc.written(da.len());
            self.put(a, Some(acc));
        }
        if let Some(mut acc) = self.acc(b) {
            let pa = self.val(a).as_ptr();
            let read = acc.init;
            let dst = acc.ptr();
            let (drs, dcs) = if tb { (1isize, db.c as isize) } else { (db.c as isize, 1isize) };
            // SAFETY: as above.
            unsafe {
                if db.b == 1 && !ta && da.b == nb {
                    // Shared b: sum over every batch's rows in one product, op(a)^T g.
                    gemm(k, n, nb * m, dst, drs, dcs, read, Mat::rm(pa, da.c, false).t(), gm);
                } else {
                    for t in 0..nb {
                        gemm(
                            k,
                            n,
                            m,
                            dst.add(t * sb),
                            drs,
                            dcs,
                            read || (sb == 0 && t > 0),
                            Mat::rm(pa, da.c, ta).at(t * sa).t(),
                            gm.at(t * m * n),
                        );
                    }
                }
            }
            acc.written(db.len());
            self.put(b, Some(acc));
        }
    }

    /// The adjoint of a leaf after [`Tape::backward`] (`None` when the loss does not depend on it).
    pub fn grad(&self, x: Id) -> Option<&[T]> {
        self.grads.get(x.0).and_then(|g| g.as_deref())
    }
}
