//! Repeating a row and summing rows, as two candle ops that are each other's backward.
//!
//! A bias or rate broadcast over the rows of a batch (`x + b`, `x * r`) and its gradient (the
//! sum of the rows) are on every step of the gradient-based and metric-based methods. candle
//! differentiates its own broadcast with a strided sum (an integer division per element), so
//! [`crate::nn`] wrote both as products with a column of ones (`1 r` and `1^T g`), which gemm
//! sums; but a product with an inner dimension of one costs gemm's fixed overhead per call for a
//! copy, and those products were a third of the matmul calls of a Meta-SGD cell. Here, on CPU
//! tensors of `f32` and `f64`, [`repeat_rows`] is a copy and [`sum_rows`] one in-order pass:
//! the backward of each is the other, so the outer backward of the second-order methods goes
//! through the sums of their hand-written inner gradient like through any other op. Elsewhere (a GPU, other dtypes) both keep the products with a column of ones.
//!
//! [`sum_rows`] adds the rows in order, one after the other, per column: deterministic and the
//! same at any thread count; gemm's order was its own, so sums differ from the products' in the
//! last bits.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Error, Layout, Result, Shape, Tensor, WithDType};

/// `r [.., n]` repeated as `m` rows: `[.., m, n]`, each batch's row `m` times.
pub fn repeat_rows(r: &Tensor, m: usize) -> Result<Tensor> {
    let mut dims = r.dims().to_vec();
    let n = dims.pop().ok_or_else(|| Error::Msg("repeat_rows: a scalar has no row".into()))?;
    let batches: usize = dims.iter().product();
    dims.extend([m, n]);
    if on_cpu_floats(r) {
        r.contiguous()?.apply_op1(RepeatRows { m })?.reshape(dims)
    } else {
        let ones = Tensor::ones((batches, m, 1), r.dtype(), r.device())?;
        ones.matmul(&r.reshape((batches, 1, n))?)?.reshape(dims)
    }
}

/// The sum of the rows of `x [.., m, n]`: `[.., n]`.
pub fn sum_rows(x: &Tensor) -> Result<Tensor> {
    let mut dims = x.dims().to_vec();
    if dims.len() < 2 {
        return Err(Error::Msg(format!("sum_rows: needs rows and columns, got shape {:?}", x.dims())));
    }
    let (m, n) = (dims[dims.len() - 2], dims[dims.len() - 1]);
    dims.truncate(dims.len() - 2);
    let batches: usize = dims.iter().product();
    dims.push(n);
    if on_cpu_floats(x) {
        x.contiguous()?.apply_op1(SumRows)?.reshape(dims)
    } else {
        let ones = Tensor::ones((batches, 1, m), x.dtype(), x.device())?;
        ones.matmul(&x.reshape((batches, m, n))?.contiguous()?)?.reshape(dims)
    }
}

/// Whether `t` is a CPU tensor of `f32` or `f64`, the tensors this crate's CPU ops take (also
/// `gradient::meta_lstm::fused`'s).
pub(crate) fn on_cpu_floats(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// The contiguous elements of `s` under `layout` (an error names `op` when they are not).
pub(crate) fn elements<'a, T: WithDType>(s: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => Err(Error::Msg(format!("{op}: input not contiguous"))),
    }
}

/// The contiguous elements of a tensor's storage when it is on the CPU (an error names `op`
/// otherwise): for callers that hold the storage's lock themselves, for several tensors at once.
pub(crate) fn host_elements<'a, T: WithDType>(
    storage: &'a candle_core::Storage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [T]> {
    match storage {
        candle_core::Storage::Cpu(s) => elements::<T>(s, layout, op),
        _ => Err(Error::Msg(format!("{op}: a CPU op given a tensor on another device"))),
    }
}

/// Runs `f` on the contiguous elements of a CPU tensor (read in place; copied first only when
/// `t` is not contiguous), its storage's lock released when this returns.
pub(crate) fn with_data<T: WithDType, R>(t: &Tensor, op: &str, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    Ok(f(host_elements::<T>(&storage, layout, op)?))
}

struct RepeatRows {
    m: usize,
}

impl RepeatRows {
    fn run<T: WithDType>(&self, r: &[T], n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(r.len() * self.m);
        for row in r.chunks_exact(n.max(1)) {
            for _ in 0..self.m {
                out.extend_from_slice(row);
            }
        }
        out
    }
}

impl CustomOp1 for RepeatRows {
    fn name(&self) -> &'static str {
        "repeat-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = layout.dims();
        let n = *dims.last().expect("repeat_rows checked the rank");
        let batches = layout.shape().elem_count() / n.max(1);
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(self.run(elements::<f32>(s, layout, "repeat_rows")?, n)),
            CpuStorage::F64(_) => CpuStorage::F64(self.run(elements::<f64>(s, layout, "repeat_rows")?, n)),
            _ => return Err(Error::Msg(format!("repeat_rows: unsupported dtype {:?}", s.dtype()))),
        };
        Ok((out, Shape::from((batches, self.m, n))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let n = *arg.dims().last().expect("repeat_rows checked the rank");
        let batches = arg.elem_count() / n.max(1);
        Ok(Some(sum_rows(&grad.reshape((batches, self.m, n))?)?.reshape(arg.shape())?))
    }
}

struct SumRows;

impl SumRows {
    fn run<T: WithDType>(x: &[T], m: usize, n: usize) -> Vec<T> {
        let batches = x.len() / (m * n).max(1);
        let mut out = vec![T::zero(); batches * n];
        for (acc, block) in out.chunks_exact_mut(n.max(1)).zip(x.chunks_exact((m * n).max(1))) {
            for row in block.chunks_exact(n) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += *v;
                }
            }
        }
        out
    }
}

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = layout.dims();
        let (m, n) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let batches = layout.shape().elem_count() / (m * n).max(1);
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(Self::run(elements::<f32>(s, layout, "sum_rows")?, m, n)),
            CpuStorage::F64(_) => CpuStorage::F64(Self::run(elements::<f64>(s, layout, "sum_rows")?, m, n)),
            _ => return Err(Error::Msg(format!("sum_rows: unsupported dtype {:?}", s.dtype()))),
        };
        Ok((out, Shape::from((batches, n))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dims = arg.dims();
        let (m, n) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let batches = arg.elem_count() / (m * n).max(1);
        Ok(Some(repeat_rows(&grad.reshape((batches, n))?, m)?.reshape(arg.shape())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn products(r: &Tensor, m: usize) -> Tensor {
        let n = r.dim(1).unwrap();
        let b = r.dim(0).unwrap();
        Tensor::ones((b, m, 1), r.dtype(), r.device()).unwrap().matmul(&r.reshape((b, 1, n)).unwrap()).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        a.sub(b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f64>().unwrap()
    }

    /// Values and derivatives against the products with a column of ones, in `f64`: the loss runs
    /// through both ops, so each one's backward (the other op) is checked. Second-order methods
    /// differentiate `sum_rows` inside their hand-written inner gradient; the gradient tests of
    /// `gradient` check that against finite differences.
    #[test]
    fn repeat_and_sum_match_the_products_with_ones() {
        let dev = Device::Cpu;
        let r = Var::from_tensor(
            &Tensor::arange(0f64, 12., &dev).unwrap().affine(0.37, -1.1).unwrap().reshape((3, 4)).unwrap(),
        )
        .unwrap();
        let w = Tensor::arange(0f64, 60., &dev)
            .unwrap()
            .affine(0.013, -0.2)
            .unwrap()
            .sin()
            .unwrap()
            .reshape((3, 5, 4))
            .unwrap();
        let loss = |rep: Tensor| -> Tensor {
            let y = rep.mul(&w).unwrap().sqr().unwrap();
            let s = sum_rows(&y).unwrap();
            s.sqr().unwrap().sum_all().unwrap()
        };
        let loss_ref = |rep: Tensor| -> Tensor {
            let y = rep.mul(&w).unwrap().sqr().unwrap();
            let s = Tensor::ones((3, 1, 5), DType::F64, &dev).unwrap().matmul(&y).unwrap().squeeze(1).unwrap();
            s.sqr().unwrap().sum_all().unwrap()
        };
        let rep = repeat_rows(r.as_tensor(), 5).unwrap();
        assert_eq!(rep.dims(), &[3, 5, 4]);
        assert!(max_diff(&rep, &products(r.as_tensor(), 5)) == 0.0);
        let (l, l_ref) = (loss(rep), loss_ref(products(r.as_tensor(), 5)));
        assert!((l.to_scalar::<f64>().unwrap() - l_ref.to_scalar::<f64>().unwrap()).abs() < 1e-9);
        let g = l.backward().unwrap().get(r.as_tensor()).unwrap().clone();
        let g_ref = l_ref.backward().unwrap().get(r.as_tensor()).unwrap().clone();
        assert!(max_diff(&g, &g_ref) < 1e-9, "first derivative");
    }

    #[test]
    fn sum_rows_adds_the_rows_in_order_and_keeps_leading_dims() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[[1f32, 2.], [3., 4.], [5., 6.]], [[1e8, 1.], [-1e8, 1.], [1., 1.]]], &dev).unwrap();
        let s = sum_rows(&x).unwrap();
        assert_eq!(s.dims(), &[2, 2]);
        // In order: (1e8 + -1e8) + 1 = 1 exactly.
        assert_eq!(s.to_vec2::<f32>().unwrap(), vec![vec![9., 12.], vec![1., 3.]]);
        let r = repeat_rows(&Tensor::new(&[7f32, 8.], &dev).unwrap(), 3).unwrap();
        assert_eq!(r.to_vec2::<f32>().unwrap(), vec![vec![7., 8.]; 3]);
        assert!(sum_rows(&Tensor::new(&[1f32], &dev).unwrap()).is_err());
    }
}
