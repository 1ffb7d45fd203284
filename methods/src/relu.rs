//! ReLU and its step function as CPU ops over `metarec_kernels`' vectorised loops.
//!
//! candle differentiates `relu(x)` as `grad * (x >= 0)`, the step made by comparing with a fresh
//! tensor of zeros into a `u8` tensor (a loop that does not vectorise) and converting that to
//! floats; the gradient methods' functional network makes its own mask `z > 0` the same way. In
//! a maml cell that comparison was 5% of the time. Here, on CPU tensors of `f32` and `f64`,
//! [`step`] is one pass and [`relu`]'s backward is one pass (`grad * step(x)`); the values are
//! the same bits as candle's (the same IEEE product and `max`). Elsewhere (a GPU, other dtypes)
//! both are candle's own ops.

use crate::rows::{elements, on_cpu_floats};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Error, Layout, Result, Shape, Tensor};
use metarec_kernels::{Out, f32_kernels, filled};

/// `[x > 0]` (`[x >= 0]` when `inclusive`) in `x`'s dtype, detached: the mask of ReLU.
pub fn step(x: &Tensor, inclusive: bool) -> Result<Tensor> {
    if on_cpu_floats(x) {
        x.detach().contiguous()?.apply_op1_no_bwd(&Step { inclusive })
    } else if inclusive {
        Ok(x.ge(0.0)?.to_dtype(x.dtype())?.detach())
    } else {
        Ok(x.gt(0.0)?.to_dtype(x.dtype())?.detach())
    }
}

/// `max(x, 0)`, differentiable, with the derivative `[x >= 0]` (candle's convention).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if on_cpu_floats(x) { x.contiguous()?.apply_op1(Relu) } else { x.relu() }
}

/// The loops of one dtype: `f32` calls the ones built optimised in `metarec_kernels`.
trait Kernel: metarec_kernels::Real + candle_core::WithDType {
    fn step(x: &[Self], inclusive: bool, out: &mut [Out<Self>]);
    fn step_mul(x: &[Self], grad: &[Self], inclusive: bool, out: &mut [Out<Self>]);
    fn relu_slice(x: &[Self], out: &mut [Out<Self>]);
}

impl Kernel for f32 {
    fn step(x: &[f32], inclusive: bool, out: &mut [Out<f32>]) {
        f32_kernels::step(x, inclusive, out)
    }
    fn step_mul(x: &[f32], grad: &[f32], inclusive: bool, out: &mut [Out<f32>]) {
        f32_kernels::step_mul(x, grad, inclusive, out)
    }
    fn relu_slice(x: &[f32], out: &mut [Out<f32>]) {
        f32_kernels::relu(x, out)
    }
}

impl Kernel for f64 {
    fn step(x: &[f64], inclusive: bool, out: &mut [Out<f64>]) {
        metarec_kernels::step(x, inclusive, out)
    }
    fn step_mul(x: &[f64], grad: &[f64], inclusive: bool, out: &mut [Out<f64>]) {
        metarec_kernels::step_mul(x, grad, inclusive, out)
    }
    fn relu_slice(x: &[f64], out: &mut [Out<f64>]) {
        metarec_kernels::relu(x, out)
    }
}

struct Step {
    inclusive: bool,
}

impl CustomOp1 for Step {
    fn name(&self) -> &'static str {
        "step"
    }

    fn cpu_fwd(&self, s: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Kernel>(x: &[T], inclusive: bool) -> Vec<T> {
            filled(x.len(), |out| T::step(x, inclusive, out))
        }
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(run(elements::<f32>(s, layout, "step")?, self.inclusive)),
            CpuStorage::F64(_) => CpuStorage::F64(run(elements::<f64>(s, layout, "step")?, self.inclusive)),
            _ => return Err(Error::Msg(format!("step: unsupported dtype {:?}", s.dtype()))),
        };
        Ok((out, layout.shape().clone()))
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Kernel>(x: &[T]) -> Vec<T> {
            filled(x.len(), |out| T::relu_slice(x, out))
        }
        let out = match s {
            CpuStorage::F32(_) => CpuStorage::F32(run(elements::<f32>(s, layout, "relu")?)),
            CpuStorage::F64(_) => CpuStorage::F64(run(elements::<f64>(s, layout, "relu")?)),
            _ => return Err(Error::Msg(format!("relu: unsupported dtype {:?}", s.dtype()))),
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        // `x` enters as a constant: the derivative of `grad * step(x)` in `x` is zero.
        Ok(Some(grad.contiguous()?.apply_op2(&arg.detach(), StepMul)?))
    }
}

/// `grad * step(x, inclusive)` of (grad, x): ReLU's backward, itself differentiable in `grad`.
struct StepMul;

impl CustomOp2 for StepMul {
    fn name(&self) -> &'static str {
        "relu-backward"
    }

    fn cpu_fwd(&self, g: &CpuStorage, gl: &Layout, x: &CpuStorage, xl: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Kernel>(x: &[T], g: &[T]) -> Vec<T> {
            filled(x.len(), |out| T::step_mul(x, g, true, out))
        }
        if gl.shape() != xl.shape() {
            return Err(Error::Msg(format!("relu backward: shapes {:?} and {:?}", gl.dims(), xl.dims())));
        }
        let out = match (g, x) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => {
                CpuStorage::F32(run(elements::<f32>(x, xl, "relu")?, elements::<f32>(g, gl, "relu")?))
            }
            (CpuStorage::F64(_), CpuStorage::F64(_)) => {
                CpuStorage::F64(run(elements::<f64>(x, xl, "relu")?, elements::<f64>(g, gl, "relu")?))
            }
            _ => return Err(Error::Msg(format!("relu backward: unsupported dtypes {:?}, {:?}", g.dtype(), x.dtype()))),
        };
        Ok((out, gl.shape().clone()))
    }

    fn bwd(&self, _g: &Tensor, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.contiguous()?.apply_op2(&x.detach(), StepMul)?), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        a.to_dtype(DType::F64)
            .unwrap()
            .sub(&b.to_dtype(DType::F64).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// The step, ReLU, its derivative and its second derivative (through a loss that uses the
    /// first gradient) against candle's own ops, bit for bit, with zeros, negative zeros and a
    /// NaN among the inputs.
    #[test]
    fn step_and_relu_match_candles_ops_bit_for_bit() {
        let dev = Device::Cpu;
        let mut v: Vec<f32> = (0..67).map(|i| ((i as f32) * 0.37).sin() * 2.0).collect();
        v[3] = 0.0;
        v[4] = -0.0;
        v[5] = f32::NAN;
        for dtype in [DType::F32, DType::F64] {
            let x = Tensor::from_vec(v.clone(), v.len(), &dev).unwrap().to_dtype(dtype).unwrap();
            for inclusive in [false, true] {
                let ours = step(&x, inclusive).unwrap();
                let theirs = if inclusive { x.ge(0.0) } else { x.gt(0.0) }.unwrap().to_dtype(dtype).unwrap();
                assert_eq!(ours.dtype(), dtype);
                assert_eq!(max_diff(&ours, &theirs), 0.0, "step, inclusive = {inclusive}");
            }
            let bits = |t: &Tensor| -> Vec<u64> {
                t.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap().iter().map(|x| x.to_bits()).collect()
            };
            assert_eq!(bits(&relu(&x).unwrap()), bits(&x.relu().unwrap()), "relu values");

            // First and second derivatives: L = sum(w * relu(x))^2 ... through d/dx of a loss
            // built from the first gradient, and against candle's relu.
            let finite: Vec<f32> = v.iter().map(|x| if x.is_nan() { 0.25 } else { *x }).collect();
            let xv =
                Var::from_tensor(&Tensor::from_vec(finite, v.len(), &dev).unwrap().to_dtype(dtype).unwrap()).unwrap();
            let w = Var::from_tensor(
                &Tensor::arange(0f32, v.len() as f32, &dev)
                    .unwrap()
                    .to_dtype(dtype)
                    .unwrap()
                    .affine(0.1, -3.0)
                    .unwrap(),
            )
            .unwrap();
            let grads_of = |f: &dyn Fn(&Tensor) -> Tensor| -> (Tensor, Tensor) {
                let y = f(xv.as_tensor()).mul(w.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap();
                // d y / d w through the custom backward, kept differentiable via a second
                // expression: z = sum(relu(x) * w) whose gradient in x is relu'(x) * w.
                let gx = y.backward().unwrap().get(xv.as_tensor()).unwrap().clone();
                let z = f(xv.as_tensor()).mul(w.as_tensor()).unwrap().sum_all().unwrap();
                let gw = z.backward().unwrap().get(w.as_tensor()).unwrap().clone();
                (gx, gw)
            };
            let (gx, gw) = grads_of(&|t| relu(t).unwrap());
            let (gx_ref, gw_ref) = grads_of(&|t| t.relu().unwrap());
            assert_eq!(bits(&gx), bits(&gx_ref), "relu derivative");
            assert_eq!(bits(&gw), bits(&gw_ref), "gradient through relu");
        }
    }

    /// The backward of ReLU's backward: `d/dg (g * step(x)) = step(x)`, checked on a loss of the
    /// first gradient, as second-order meta-learning differentiates it.
    #[test]
    fn relu_backward_is_differentiable_in_the_gradient() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[-1.5f64, 0.0, 0.5, 2.0], &dev).unwrap();
        let g = Var::from_tensor(&Tensor::new(&[0.3f64, -0.7, 1.1, 0.9], &dev).unwrap()).unwrap();
        let back = g.as_tensor().apply_op2(&x, StepMul).unwrap();
        assert_eq!(back.to_vec1::<f64>().unwrap(), vec![0.0, -0.7, 1.1, 0.9]);
        let loss = back.sqr().unwrap().sum_all().unwrap();
        let dg = loss.backward().unwrap().get(g.as_tensor()).unwrap().to_vec1::<f64>().unwrap();
        // d/dg sum (g step)^2 = 2 g step^2
        assert_eq!(dg, vec![0.0, -1.4, 2.2, 1.8]);
    }
}
