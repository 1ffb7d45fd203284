//! The meta-learner's elementwise work as two candle ops over `metarec_kernels`' fused loops, on
//! CPU tensors of `f32` (vectorised loops, the kernels' polynomial `exp` and `tanh`) or `f64`
//! (the standard library's; what the finite-difference tests run). Elsewhere (a GPU)
//! [`MetaLstm::step`](super::MetaLstm::step) composes candle's own ops instead.
//!
//! Written as candle ops, they take part in the outer backward like any other: each forward
//! keeps the activations its backward needs (only when an input is tracked, so adapting at test
//! time keeps nothing), and each backward is one pass over them with no transcendental function.
//! Per coordinate and update the composed ops made and walked about twenty `[H, N]` tensors
//! (`narrow`, `sigmoid`, `tanh`, products and sums, and their gradients).

use crate::rows::{elements, with_data};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Error, Layout, Result, Shape, Tensor, WithDType};
use metarec_kernels::{Out, Real, f32_kernels, filled};
use std::sync::{Arc, Mutex};

/// Whether the fused ops run on `t`'s device and dtype.
pub fn applies(t: &Tensor) -> bool {
    crate::rows::on_cpu_floats(t)
}

/// The kernels of one dtype: `f32` calls the ones built optimised in `metarec_kernels`.
trait Kernel: Real + WithDType {
    fn cell_forward(h: usize, n: usize, z: &[Self], s_prev: &[Self], out: &mut [Out<Self>], saved: &mut [Out<Self>]);
    fn cell_backward(
        h: usize,
        n: usize,
        saved: &[Self],
        s_prev: &[Self],
        g: &[Self],
        dz: &mut [Out<Self>],
        ds: &mut [Out<Self>],
    );
    fn update_forward(n: usize, gates: &[Self], c: &[Self], g: &[Self], out: &mut [Out<Self>], saved: &mut [Out<Self>]);
    #[allow(clippy::too_many_arguments)]
    fn update_backward(
        n: usize,
        saved: &[Self],
        c: &[Self],
        g: &[Self],
        grad: &[Self],
        dg: &mut [Out<Self>],
        dc: &mut [Out<Self>],
    );
}

impl Kernel for f32 {
    fn cell_forward(h: usize, n: usize, z: &[f32], s_prev: &[f32], out: &mut [Out<f32>], saved: &mut [Out<f32>]) {
        f32_kernels::cell_forward(h, n, z, s_prev, out, saved)
    }
    fn cell_backward(
        h: usize,
        n: usize,
        saved: &[f32],
        s_prev: &[f32],
        g: &[f32],
        dz: &mut [Out<f32>],
        ds: &mut [Out<f32>],
    ) {
        f32_kernels::cell_backward(h, n, saved, s_prev, g, dz, ds)
    }
    fn update_forward(n: usize, gates: &[f32], c: &[f32], g: &[f32], out: &mut [Out<f32>], saved: &mut [Out<f32>]) {
        f32_kernels::update_forward(n, gates, c, g, out, saved)
    }
    fn update_backward(
        n: usize,
        saved: &[f32],
        c: &[f32],
        g: &[f32],
        grad: &[f32],
        dg: &mut [Out<f32>],
        dc: &mut [Out<f32>],
    ) {
        f32_kernels::update_backward(n, saved, c, g, grad, dg, dc)
    }
}

impl Kernel for f64 {
    fn cell_forward(h: usize, n: usize, z: &[f64], s_prev: &[f64], out: &mut [Out<f64>], saved: &mut [Out<f64>]) {
        metarec_kernels::cell_forward(h, n, z, s_prev, out, saved)
    }
    fn cell_backward(
        h: usize,
        n: usize,
        saved: &[f64],
        s_prev: &[f64],
        g: &[f64],
        dz: &mut [Out<f64>],
        ds: &mut [Out<f64>],
    ) {
        metarec_kernels::cell_backward(h, n, saved, s_prev, g, dz, ds)
    }
    fn update_forward(n: usize, gates: &[f64], c: &[f64], g: &[f64], out: &mut [Out<f64>], saved: &mut [Out<f64>]) {
        metarec_kernels::update_forward(n, gates, c, g, out, saved)
    }
    fn update_backward(
        n: usize,
        saved: &[f64],
        c: &[f64],
        g: &[f64],
        grad: &[f64],
        dg: &mut [Out<f64>],
        dc: &mut [Out<f64>],
    ) {
        metarec_kernels::update_backward(n, saved, c, g, grad, dg, dc)
    }
}

/// Activations kept by a forward for its backward, in the dtype it ran in.
#[derive(Default)]
struct Saved(Mutex<Option<Arc<dyn std::any::Any + Send + Sync>>>);

impl Saved {
    fn keep<T: WithDType>(&self, v: Vec<T>) {
        *self.0.lock().expect("saved activations") = Some(Arc::new(v));
    }
    fn get<T: WithDType>(&self, op: &str) -> Result<Arc<dyn std::any::Any + Send + Sync>> {
        let s = self.0.lock().expect("saved activations").clone();
        s.filter(|s| s.is::<Vec<T>>()).ok_or_else(|| Error::Msg(format!("{op}: backward without a tracked forward")))
    }
}

/// Layer 1's activations (see `metarec_kernels::cell_forward`).
struct Cell {
    h: usize,
    track: bool,
    saved: Saved,
}

impl Cell {
    fn fwd<T: Kernel>(&self, z: &[T], s_prev: &[T]) -> (Vec<T>, Shape) {
        let n = s_prev.len() / self.h;
        // Outputs are not zeroed first: the kernels write every element.
        let saved_len = if self.track { 5 * self.h * n } else { 0 };
        let mut saved = Vec::new();
        let out = filled(2 * self.h * n, |out| {
            saved = filled(saved_len, |saved| T::cell_forward(self.h, n, z, s_prev, out, saved));
        });
        if self.track {
            self.saved.keep(saved);
        }
        (out, Shape::from((2 * self.h, n)))
    }

    fn bwd_t<T: Kernel>(&self, s_prev: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
        let saved = self.saved.get::<T>("meta-lstm cell")?;
        let saved = saved.downcast_ref::<Vec<T>>().expect("checked by get");
        let (h, dev) = (self.h, s_prev.device());
        let n = s_prev.elem_count() / h;
        let (mut dz, mut ds) = (Vec::new(), Vec::new());
        with_data::<T, _>(s_prev, "meta-lstm cell", |s| {
            with_data::<T, _>(grad, "meta-lstm cell", |g| {
                dz = filled(4 * h * n, |dz| ds = filled(h * n, |ds| T::cell_backward(h, n, saved, s, g, dz, ds)));
            })
        })??;
        Ok((Tensor::from_vec(dz, (4 * h, n), dev)?, Tensor::from_vec(ds, (h, n), dev)?))
    }
}

impl CustomOp2 for Cell {
    fn name(&self) -> &'static str {
        "meta-lstm-cell"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (out, shape) = self.fwd::<f32>(elements(s1, l1, op)?, elements(s2, l2, op)?);
                Ok((CpuStorage::F32(out), shape))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let (out, shape) = self.fwd::<f64>(elements(s1, l1, op)?, elements(s2, l2, op)?);
                Ok((CpuStorage::F64(out), shape))
            }
            _ => Err(Error::Msg(format!("{op}: f32 or f64 inputs of one dtype"))),
        }
    }
    fn bwd(
        &self,
        _z: &Tensor,
        s_prev: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dz, ds) = match s_prev.dtype() {
            DType::F32 => self.bwd_t::<f32>(s_prev, grad)?,
            _ => self.bwd_t::<f64>(s_prev, grad)?,
        };
        Ok((Some(dz), Some(ds)))
    }
}

/// Layer 1's activations after its matmul: `z: [4H, N]`, `s_prev: [H, N]` to `[h_t; s_t]`
/// (`[2H, N]`).
pub fn cell(z: &Tensor, s_prev: &Tensor, h: usize) -> Result<Tensor> {
    let (z, s_prev) = (z.contiguous()?, s_prev.contiguous()?);
    if z.dims() != [4 * h, s_prev.dim(1)?] || s_prev.dim(0)? != h {
        return Err(Error::Msg(format!("meta-lstm cell: z {:?} and s_prev {:?} for H = {h}", z.dims(), s_prev.dims())));
    }
    let track = z.track_op() || s_prev.track_op();
    z.apply_op2(&s_prev, Cell { h, track, saved: Saved::default() })
}

/// Layer 2's cell (see `metarec_kernels::update_forward`): `c_t = sigmoid(f_n) c - sigmoid(i_n) g`
/// from `gates = [f_n; i_n]` (`[2, N]`), `c` and the constant `g` (`[1, N]`).
struct Update {
    track: bool,
    saved: Saved,
}

impl Update {
    fn fwd<T: Kernel>(&self, gates: &[T], c: &[T], g: &[T]) -> (Vec<T>, Shape) {
        let n = c.len();
        let saved_len = if self.track { 2 * n } else { 0 };
        let mut saved = Vec::new();
        let out = filled(n, |out| saved = filled(saved_len, |saved| T::update_forward(n, gates, c, g, out, saved)));
        if self.track {
            self.saved.keep(saved);
        }
        (out, Shape::from((1, n)))
    }

    fn bwd_t<T: Kernel>(&self, c: &Tensor, g: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
        let saved = self.saved.get::<T>("meta-lstm update")?;
        let saved = saved.downcast_ref::<Vec<T>>().expect("checked by get");
        let (n, dev) = (c.elem_count(), c.device());
        let (mut dg, mut dc) = (Vec::new(), Vec::new());
        with_data::<T, _>(c, "meta-lstm update", |c| {
            with_data::<T, _>(g, "meta-lstm update", |g| {
                with_data::<T, _>(grad, "meta-lstm update", |r| {
                    dg = filled(2 * n, |dg| dc = filled(n, |dc| T::update_backward(n, saved, c, g, r, dg, dc)));
                })
            })
        })???;
        Ok((Tensor::from_vec(dg, (2, n), dev)?, Tensor::from_vec(dc, (1, n), dev)?))
    }
}

impl CustomOp3 for Update {
    fn name(&self) -> &'static str {
        "meta-lstm-update"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        match (s1, s2, s3) {
            (CpuStorage::F32(_), CpuStorage::F32(_), CpuStorage::F32(_)) => {
                let (out, shape) = self.fwd::<f32>(elements(s1, l1, op)?, elements(s2, l2, op)?, elements(s3, l3, op)?);
                Ok((CpuStorage::F32(out), shape))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_), CpuStorage::F64(_)) => {
                let (out, shape) = self.fwd::<f64>(elements(s1, l1, op)?, elements(s2, l2, op)?, elements(s3, l3, op)?);
                Ok((CpuStorage::F64(out), shape))
            }
            _ => Err(Error::Msg(format!("{op}: f32 or f64 inputs of one dtype"))),
        }
    }
    fn bwd(
        &self,
        _gates: &Tensor,
        c: &Tensor,
        g: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dg, dc) = match c.dtype() {
            DType::F32 => self.bwd_t::<f32>(c, g, grad)?,
            _ => self.bwd_t::<f64>(c, g, grad)?,
        };
        Ok((Some(dg), Some(dc), None))
    }
}

/// `c_t = sigmoid(f_n) c - sigmoid(i_n) g` (`[1, N]`) from `gates = [f_n; i_n]` (`[2, N]`), `c` and
/// `g` (`[1, N]`); `g` is a constant (no gradient flows into it).
pub fn update(gates: &Tensor, c: &Tensor, g: &Tensor) -> Result<Tensor> {
    let (gates, c, g) = (gates.contiguous()?, c.contiguous()?, g.contiguous()?);
    let n = c.elem_count();
    if gates.dims() != [2, n] || c.dims() != [1, n] || g.dims() != [1, n] {
        return Err(Error::Msg(format!(
            "meta-lstm update: gates {:?}, c {:?}, g {:?}",
            gates.dims(),
            c.dims(),
            g.dims()
        )));
    }
    let track = gates.track_op() || c.track_op();
    gates.apply_op3(&c, &g, Update { track, saved: Saved::default() })
}
