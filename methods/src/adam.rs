//! Adam as candle-nn's `AdamW` computes it, in one pass per parameter on the CPU.
//!
//! `AdamW::step` makes about fifteen tensors per parameter and step (each scalar product,
//! sum and quotient a pass over the parameter with a fresh buffer); at the MeLU shape that was
//! about a sixth of a first-order MAML step (`perf`, ARCHITECTURE.md "Performance"). [`Adam`]
//! keeps the moments in host memory and makes the same arithmetic, operation for operation and
//! in the same precision, in one loop: the results are `AdamW`'s to the bit
//! (`tests::host_adam_equals_candles_adamw`), so switching changes no number. It writes the next
//! values into the variables' storages (`Var::try_storage_mut`, a patch of the vendored
//! candle-core), as `Var::set` would copy them there. On any other device, or for another dtype,
//! it is `AdamW` itself.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Device, Result, Storage, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::gradient::{MetaGradient, Parts};
use crate::rows::host_elements;

/// Adam with `AdamW`'s parameters and results (see the module's documentation).
pub struct Adam(Inner);

enum Inner {
    Candle(AdamW),
    Host { vars: Vec<HostVar>, params: ParamsAdamW, step_t: i32 },
}

/// A parameter and its first and second moments.
struct HostVar {
    var: Var,
    m: Moments,
    v: Moments,
}

enum Moments {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// A step's scalars in the parameters' precision, each converted from `AdamW`'s `f64`.
fn coefficients<T: metarec_kernels::Real>(
    c: &Coefficients,
    f: impl Fn(f64) -> T,
) -> metarec_kernels::AdamCoefficients<T> {
    metarec_kernels::AdamCoefficients {
        beta1: f(c.beta1),
        one_minus_beta1: f(1.0 - c.beta1),
        beta2: f(c.beta2),
        one_minus_beta2: f(1.0 - c.beta2),
        scale_m: f(c.scale_m),
        scale_v: f(c.scale_v),
        decay: f(1.0 - c.lr_lambda),
        eps: f(c.eps),
        lr: f(c.lr),
    }
}

/// A chunk of one parameter's update: its values (updated in place), its gradient and moments.
type Chunk<'a, T> = (&'a mut [T], &'a [T], &'a mut [T], &'a mut [T]);

/// A [`Chunk`] of either precision.
enum Job<'a> {
    F32(Chunk<'a, f32>),
    F64(Chunk<'a, f64>),
}

/// Appends one parameter's update as [`crate::jobs::CHUNK`]-sized jobs: its values (the
/// variable's contiguous elements), its gradient read from its (locked) storage, its moments.
fn push_chunks<'a, T: candle_core::WithDType>(
    jobs: &mut Vec<Job<'a>>,
    th: &'a mut [T],
    g: &'a candle_core::Storage,
    g_layout: &candle_core::Layout,
    (m, v): (&'a mut [T], &'a mut [T]),
    job: fn(Chunk<'a, T>) -> Job<'a>,
) -> Result<()> {
    let g = host_elements::<T>(g, g_layout, "adam")?;
    assert!(th.len() == g.len() && g.len() == m.len() && m.len() == v.len(), "adam: sizes");
    let c = crate::jobs::CHUNK;
    let chunks = th.chunks_mut(c).zip(g.chunks(c)).zip(m.chunks_mut(c)).zip(v.chunks_mut(c));
    jobs.extend(chunks.map(|(((th, g), m), v)| job((th, g, m, v))));
    Ok(())
}

/// A step's scalars, in f64 as `AdamW::step` makes them.
struct Coefficients {
    beta1: f64,
    beta2: f64,
    scale_m: f64,
    scale_v: f64,
    lr_lambda: f64,
    eps: f64,
    lr: f64,
}

impl Coefficients {
    /// Step `t`'s (counted from 1).
    fn at(params: &ParamsAdamW, t: i32) -> Coefficients {
        Coefficients {
            beta1: params.beta1,
            beta2: params.beta2,
            scale_m: 1f64 / (1f64 - params.beta1.powi(t)),
            scale_v: 1f64 / (1f64 - params.beta2.powi(t)),
            lr_lambda: params.lr * params.weight_decay,
            eps: params.eps,
            lr: params.lr,
        }
    }
}

/// A chunk of one parameter's update whose gradient is a [`Parts`] sum, made in the chunk's own
/// buffer: its values, the variable's index in the parts and the chunk's first element, moments.
type PartsChunk<'a, T> = (&'a mut [T], usize, usize, &'a mut [T], &'a mut [T]);

impl Adam {
    /// [`Optimizer::step`] with a [`MetaGradient`]. Taped parts of the moments' dtype are summed
    /// chunk by chunk ([`Parts::sum_to`], into a buffer of one chunk that stays in the core's
    /// cache) right before the chunk's update, instead of into a whole summed gradient that the
    /// update then reads back: the same sums and the same update, so the same bits as `step`
    /// of [`MetaGradient::into_store`] (`tests::fused_parts_step_equals_the_summed_store`).
    /// Anything else goes through the store.
    pub fn step_meta(&mut self, g: MetaGradient) -> Result<()> {
        match (&mut self.0, g) {
            (_, MetaGradient::Store(s)) => self.step(&s),
            (Inner::Host { vars, params, step_t }, MetaGradient::F32(p))
                if vars.iter().all(|hv| matches!(hv.m, Moments::F32(_))) =>
            {
                step_parts(vars, params, step_t, &p)
            }
            (Inner::Host { vars, params, step_t }, MetaGradient::F64(p))
                if vars.iter().all(|hv| matches!(hv.m, Moments::F64(_))) =>
            {
                step_parts(vars, params, step_t, &p)
            }
            (_, g) => {
                let store = g.into_store()?;
                self.step(&store)
            }
        }
    }
}

/// A dtype of the host path: its elements in a CPU storage and in the moments, and its update.
trait HostFloat: crate::gradient::tape::Real + metarec_kernels::Real + candle_core::WithDType {
    fn elements(s: &mut CpuStorage) -> Option<&mut Vec<Self>>;
    fn moments(m: &mut Moments) -> Option<&mut Vec<Self>>;
    fn update(k: &metarec_kernels::AdamCoefficients<Self>, th: &mut [Self], g: &[Self], m: &mut [Self], v: &mut [Self]);
}

impl HostFloat for f32 {
    fn elements(s: &mut CpuStorage) -> Option<&mut Vec<f32>> {
        match s {
            CpuStorage::F32(x) => Some(x),
            _ => None,
        }
    }
    fn moments(m: &mut Moments) -> Option<&mut Vec<f32>> {
        match m {
            Moments::F32(x) => Some(x),
            Moments::F64(_) => None,
        }
    }
    fn update(k: &metarec_kernels::AdamCoefficients<f32>, th: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        metarec_kernels::f32_kernels::adam_update(k, th, g, m, v)
    }
}

impl HostFloat for f64 {
    fn elements(s: &mut CpuStorage) -> Option<&mut Vec<f64>> {
        match s {
            CpuStorage::F64(x) => Some(x),
            _ => None,
        }
    }
    fn moments(m: &mut Moments) -> Option<&mut Vec<f64>> {
        match m {
            Moments::F64(x) => Some(x),
            Moments::F32(_) => None,
        }
    }
    fn update(k: &metarec_kernels::AdamCoefficients<f64>, th: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
        metarec_kernels::adam_update(k, th, g, m, v)
    }
}

/// `var`'s storage under its write lock, for the update in place; an error (not a wait that
/// would never end) when a guard on this thread holds it.
fn writable(var: &Var) -> Result<(candle_core::StorageMutRef<'_>, &candle_core::Layout)> {
    var.try_storage_mut().ok_or_else(|| {
        candle_core::Error::Msg(
            "adam: a variable's storage is in use (shared with a gradient or with another variable)".into(),
        )
    })
}

/// [`Adam::step_meta`] for parts of the moments' dtype `T`.
fn step_parts<T: HostFloat>(vars: &mut [HostVar], params: &ParamsAdamW, step_t: &mut i32, p: &Parts<T>) -> Result<()> {
    let t = *step_t + 1;
    let k = coefficients(&Coefficients::at(params, t), |x| <T as crate::gradient::tape::Real>::from_f64(x));
    // Each variable's place among the parts' (none: no gradient, no update, as `step`).
    let index: Vec<Option<usize>> =
        vars.iter().map(|hv| p.vars.iter().position(|v| v.as_tensor().id() == hv.var.as_tensor().id())).collect();
    let mut held = Vec::with_capacity(vars.len());
    for (HostVar { var, m, v }, at) in vars.iter_mut().zip(&index) {
        let Some(at) = at else { continue };
        held.push((writable(var)?, *at, m, v));
    }
    let c = crate::jobs::CHUNK;
    let mut jobs: Vec<PartsChunk<T>> = Vec::new();
    for ((storage, layout), at, m, v) in held.iter_mut() {
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("adam: a variable is not contiguous")
        };
        let Storage::Cpu(s) = &mut **storage else { candle_core::bail!("adam: a variable is no longer a CPU tensor") };
        let Some(th) = T::elements(s) else {
            candle_core::bail!("adam: a variable is no longer of the optimiser's dtype")
        };
        let th = &mut th[a..b];
        let (Some(m), Some(v)) = (T::moments(m), T::moments(v)) else {
            candle_core::bail!("adam: moments of another dtype")
        };
        assert!(th.len() == m.len() && m.len() == v.len() && p.parts[0].1[*at].len() == th.len(), "adam: sizes");
        let chunks = th.chunks_mut(c).zip(m.chunks_mut(c)).zip(v.chunks_mut(c)).enumerate();
        jobs.extend(chunks.map(|(i, ((th, m), v))| (th, *at, i * c, m, v)));
    }
    crate::jobs::run(jobs, |(th, var, first, m, v)| {
        // The chunk's gradient in a buffer of its own (not zeroed first: `sum_to` writes it).
        let mut g = Vec::with_capacity(th.len());
        p.sum_to(var, first, th.len(), &mut g);
        T::update(&k, th, &g, m, v);
    });
    *step_t = t;
    Ok(())
}

impl Optimizer for Adam {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let host =
            vars.iter().all(|v| matches!(v.device(), Device::Cpu) && matches!(v.dtype(), DType::F32 | DType::F64));
        if !host {
            return Ok(Adam(Inner::Candle(AdamW::new(vars, params)?)));
        }
        let vars = vars
            .into_iter()
            .map(|var| {
                let n = var.elem_count();
                let (m, v) = match var.dtype() {
                    DType::F32 => (Moments::F32(vec![0.0; n]), Moments::F32(vec![0.0; n])),
                    _ => (Moments::F64(vec![0.0; n]), Moments::F64(vec![0.0; n])),
                };
                HostVar { var, m, v }
            })
            .collect();
        Ok(Adam(Inner::Host { vars, params, step_t: 0 }))
    }

    fn learning_rate(&self) -> f64 {
        match &self.0 {
            Inner::Candle(o) => o.learning_rate(),
            Inner::Host { params, .. } => params.lr,
        }
    }

    fn set_learning_rate(&mut self, lr: f64) {
        match &mut self.0 {
            Inner::Candle(o) => o.set_learning_rate(lr),
            Inner::Host { params, .. } => params.lr = lr,
        }
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let (vars, params, step_t) = match &mut self.0 {
            Inner::Candle(o) => return o.step(grads),
            Inner::Host { vars, params, step_t } => (vars, params, step_t),
        };
        // The step's number, kept only once the update has run.
        let t = *step_t + 1;
        let c = Coefficients::at(params, t);
        // Per parameter, if it has a gradient: the gradient, contiguous, in the moments' dtype.
        let gs = vars
            .iter()
            .map(|hv| {
                let dtype = match hv.m {
                    Moments::F32(_) => DType::F32,
                    Moments::F64(_) => DType::F64,
                };
                grads.get(&hv.var).map(|g| g.flatten_all()?.to_dtype(dtype)?.contiguous()).transpose()
            })
            .collect::<Result<Vec<Option<Tensor>>>>()?;
        // The gradients read in place; the parameters written in place, each under its storage's
        // write lock (as `Var::set` writes them, with no next values made and copied); the update
        // in chunks that a pool's threads share (`crate::jobs`).
        let g_guards: Vec<_> = gs.iter().map(|g| g.as_ref().map(|g| g.storage_and_layout())).collect();
        let mut held = Vec::with_capacity(vars.len());
        for (HostVar { var, m, v }, g) in vars.iter_mut().zip(&g_guards) {
            let Some((g, g_l)) = g else { continue };
            held.push((writable(var)?, g, g_l, m, v));
        }
        let mut jobs = Vec::new();
        for ((p, p_l), g, g_l, m, v) in held.iter_mut() {
            let Some((a, b)) = p_l.contiguous_offsets() else {
                candle_core::bail!("adam: a variable is not contiguous")
            };
            match (&mut **p, m, v) {
                (Storage::Cpu(CpuStorage::F32(th)), Moments::F32(m), Moments::F32(v)) => {
                    push_chunks(&mut jobs, &mut th[a..b], g, g_l, (m, v), Job::F32)?
                }
                (Storage::Cpu(CpuStorage::F64(th)), Moments::F64(m), Moments::F64(v)) => {
                    push_chunks(&mut jobs, &mut th[a..b], g, g_l, (m, v), Job::F64)?
                }
                _ => candle_core::bail!("adam: a variable is no longer the CPU tensor of the optimiser's dtype"),
            }
        }
        let (k32, k64) = (coefficients(&c, |x| x as f32), coefficients(&c, |x| x));
        crate::jobs::run(jobs, |job| match job {
            Job::F32((th, g, m, v)) => metarec_kernels::f32_kernels::adam_update(&k32, th, g, m, v),
            Job::F64((th, g, m, v)) => metarec_kernels::adam_update(&k64, th, g, m, v),
        });
        *step_t = t;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several steps on parameters of both dtypes, with zero, negative and large gradients, a
    /// parameter without a gradient, and weight decay on and off: every parameter's bits equal
    /// `AdamW`'s after every step.
    #[test]
    fn host_adam_equals_candles_adamw() {
        for dtype in [DType::F32, DType::F64] {
            for weight_decay in [0.0, 0.01] {
                let params = ParamsAdamW { lr: 3e-3, weight_decay, ..Default::default() };
                let init = |seed: u64| -> Vec<Var> {
                    let mut rng = metarec_suites::Rng::new(seed);
                    [(3usize, 5usize), (1, 7), (4, 1)]
                        .iter()
                        .map(|&(r, c)| {
                            let x: Vec<f64> = (0..r * c).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                            let t = Tensor::from_vec(x, (r, c), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
                            Var::from_tensor(&t).unwrap()
                        })
                        .collect()
                };
                let (ours_vars, theirs_vars) = (init(7), init(7));
                let mut ours = Adam::new(ours_vars.clone(), params.clone()).unwrap();
                assert!(matches!(ours.0, Inner::Host { .. }));
                let mut theirs = AdamW::new(theirs_vars.clone(), params.clone()).unwrap();
                let mut rng = metarec_suites::Rng::new(11);
                for step in 0..6 {
                    let (mut g_ours, mut g_theirs) = (GradStore::default(), GradStore::default());
                    for (i, (a, b)) in ours_vars.iter().zip(&theirs_vars).enumerate() {
                        // The second parameter has no gradient on odd steps.
                        if i == 1 && step % 2 == 1 {
                            continue;
                        }
                        let g: Vec<f64> = (0..a.elem_count())
                            .map(|j| match (j + step) % 5 {
                                0 => 0.0,
                                1 => -0.0,
                                2 => 1e3 * (rng.uniform() - 0.5),
                                _ => rng.uniform() - 0.5,
                            })
                            .collect();
                        let g = Tensor::from_vec(g, a.shape(), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
                        g_ours.insert(a.as_tensor(), g.clone());
                        g_theirs.insert(b.as_tensor(), g);
                    }
                    ours.step(&g_ours).unwrap();
                    theirs.step(&g_theirs).unwrap();
                    for (a, b) in ours_vars.iter().zip(&theirs_vars) {
                        let bits = |v: &Var| -> Vec<u64> {
                            v.as_tensor()
                                .flatten_all()
                                .unwrap()
                                .to_dtype(DType::F64)
                                .unwrap()
                                .to_vec1::<f64>()
                                .unwrap()
                                .iter()
                                .map(|x| x.to_bits())
                                .collect()
                        };
                        assert_eq!(bits(a), bits(b), "{dtype:?}, weight decay {weight_decay}, step {step}");
                    }
                }
            }
        }
    }

    /// `step_meta` with taped parts (three parts of uneven weights, the parts' variables in
    /// another order than the optimiser's, one variable without a gradient, a variable longer
    /// than a chunk, on a two-thread pool and off it) gives every parameter the bits of `step`
    /// with the summed store, after every step, in both dtypes.
    #[test]
    fn fused_parts_step_equals_the_summed_store() {
        fn run<T: crate::gradient::tape::Real + candle_core::WithDType>(
            wrap: fn(Parts<T>) -> MetaGradient,
            pooled: bool,
        ) {
            let params = ParamsAdamW { lr: 3e-3, weight_decay: 0.01, ..Default::default() };
            let shapes = [(3usize, 5usize), (1, 7), (3, crate::jobs::CHUNK + 5)];
            let init = || -> Vec<Var> {
                let mut rng = metarec_suites::Rng::new(3);
                shapes
                    .iter()
                    .map(|&(r, c)| {
                        let x: Vec<T> = (0..r * c)
                            .map(|_| <T as crate::gradient::tape::Real>::from_f64(rng.uniform() - 0.5))
                            .collect();
                        Var::from_tensor(&Tensor::from_vec(x, (r, c), &Device::Cpu).unwrap()).unwrap()
                    })
                    .collect()
            };
            let (fused_vars, store_vars) = (init(), init());
            let mut fused = Adam::new(fused_vars.clone(), params.clone()).unwrap();
            let mut store = Adam::new(store_vars.clone(), params.clone()).unwrap();
            let mut rng = metarec_suites::Rng::new(5);
            let bits = |v: &Var| -> Vec<u64> {
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<T>()
                    .unwrap()
                    .iter()
                    .map(|x| crate::gradient::tape::Real::to_f64(*x).to_bits())
                    .collect()
            };
            for step in 0..4 {
                // Variables 2 and 0, in that order (1 has no gradient).
                let grads: Vec<(T, Vec<Vec<T>>)> = [0.3, 0.3, 0.4]
                    .iter()
                    .map(|w| {
                        let g = [2usize, 0]
                            .iter()
                            .map(|&i| {
                                (0..shapes[i].0 * shapes[i].1)
                                    .map(|_| <T as crate::gradient::tape::Real>::from_f64(rng.uniform() - 0.5))
                                    .collect()
                            })
                            .collect();
                        (<T as crate::gradient::tape::Real>::from_f64(*w), g)
                    })
                    .collect();
                let parts = |vars: &[Var]| Parts { parts: grads.clone(), vars: vec![vars[2].clone(), vars[0].clone()] };
                let mut go = || {
                    fused.step_meta(wrap(parts(&fused_vars))).unwrap();
                    store.step(&wrap(parts(&store_vars)).into_store().unwrap()).unwrap();
                };
                if pooled {
                    rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(go);
                } else {
                    go();
                }
                for (i, (a, b)) in fused_vars.iter().zip(&store_vars).enumerate() {
                    assert_eq!(bits(a), bits(b), "step {step}, variable {i}, pooled {pooled}");
                }
                assert_eq!(bits(&fused_vars[1]), bits(&init()[1]), "no gradient, no update");
            }
        }
        for pooled in [false, true] {
            run::<f32>(MetaGradient::F32, pooled);
            run::<f64>(MetaGradient::F64, pooled);
        }
    }

    /// A gradient that shares a variable's storage holds its read lock: the in-place update
    /// stops with an error (taking the write lock would wait forever), and the variable and
    /// the moments keep their values.
    #[test]
    fn a_gradient_sharing_a_variables_storage_is_an_error() {
        let var = Var::from_tensor(&Tensor::new(&[1f32, -2.0, 3.0], &Device::Cpu).unwrap()).unwrap();
        let mut opt = Adam::new(vec![var.clone()], ParamsAdamW::default()).unwrap();
        let mut grads = GradStore::default();
        grads.insert(var.as_tensor(), var.as_tensor().clone());
        let err = opt.step(&grads).unwrap_err().to_string();
        assert!(err.contains("storage is in use"), "{err}");
        assert_eq!(var.as_tensor().to_vec1::<f32>().unwrap(), vec![1.0, -2.0, 3.0]);
        let Inner::Host { vars, step_t, .. } = &opt.0 else { panic!("host Adam") };
        assert!(matches!(&vars[0].m, Moments::F32(m) if m.iter().all(|x| *x == 0.0)));
        assert_eq!(*step_t, 0);
    }
}
