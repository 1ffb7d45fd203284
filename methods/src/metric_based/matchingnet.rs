//! `matchingnet`: Matching Networks for rating prediction.
//!
//! Paper: O. Vinyals, C. Blundell, T. Lillicrap, K. Kavukcuoglu, D. Wierstra, "Matching
//! Networks for One Shot Learning", NeurIPS 2016 (arXiv:1606.04080).
//!
//! A query item's rating-class distribution is an attention-weighted vote of the user's
//! support ratings (Eq. 1, `P(y | x, S) = sum_i a(x, x_i) y_i` with `y_i` one-hot), the
//! attention a softmax over cosine similarities of the embeddings (the attention kernel of
//! Section 2.1.1, `a(x, x_i) = exp(c(f(x), g(x_i))) / sum_j exp(c(f(x), g(x_j)))`). Cosine
//! similarities lie in [-1, 1], so the softmax is taken over `cos / temperature`; the
//! temperature starts at `temperature` and is learned (as `log(1/temperature)`) when
//! `learn_temperature` is true (a fixed temperature of 1 is the paper's plain kernel). A class
//! the user has not rated gets exactly 0, as in Eq. 1. Training maximises the log-likelihood
//! of the query ratings' classes (Section 2.2's objective) with `loss = "cross-entropy"` (the
//! default `"both"` adds the expected-rating squared error); the log-probability is computed stably as
//! `log P(k) = logsumexp_{i: y_i = k} s_i - logsumexp_i s_i`.
//!
//! With `full_context_embeddings = true` the embeddings depend on the whole support set
//! (Section 2.1.2 and Appendix A): `g(x_i, S) = g'(x_i) + h_i(fwd) + h_i(bwd)`, a bidirectional
//! LSTM over the support sequence with a skip connection; `f(x, S)` is an attention LSTM run for
//! `fce_steps` steps: `h^_t, c_t = LSTM(f'(x), [h_{t-1}, r_{t-1}], c_{t-1})`, `h_t = h^_t + f'(x)`,
//! `r_{t-1} = sum_i softmax_i(h_{t-1}^T g(x_i)) g(x_i)`, starting from `h_0 = c_0 = 0`; `f' = g'`
//! is the shared encoder. The LSTMs' hidden width is the encoder's `out_dim`; their cell is
//! written out below (gates `i, f, g, o`, forget-gate bias initialised to 1) so that their
//! weights come from our generator. With full context embeddings the prediction depends on the
//! order of the support set (the paper's bidirectional LSTM reads it as a sequence); it is the
//! order the task gives. Without them (the default) it does not.
//!
//! Fallbacks (empty support: the meta-train prior; one rating: that rating) are those of
//! [`super`].
//!
//! | parameter                  | default | meaning                                          | valid |
//! |----------------------------|---------|--------------------------------------------------|-------|
//! | `temperature`              | 0.1     | softmax temperature of cosine similarities (initial value when learned) | > 0 |
//! | `learn_temperature`        | true    | learn the temperature with the encoder           | bool |
//! | `full_context_embeddings`  | false   | bidirectional support LSTM + attention LSTM query (Appendix A) | bool |
//! | `fce_steps`                | 3       | processing steps of the attention LSTM (FCE only) | >= 1 |
//! | shared parameters          |         | `embed_dim` 8, `hidden` [64], `out_dim` 32, `support` 10, `query` 10, `meta_batch` 32, `lr` 0.003, `max_steps` 3000, `eval_every` 100, `patience` 5, `classes` "levels", `like_threshold` 4.0, `loss` "both", `item_id_dim` 8, `id_dropout` 0.2 (see [`super`]) | |

#[cfg(doc)]
use super::EpisodicParams;
use super::{EpisodeTensors, Head, MetricMethod, normal_tensor, parse_params};
use crate::params::{self, Check};
use crate::{Method, Result};
use candle_core::{D, DType, Device, Tensor};
use metarec_suites::Rng;

/// The registry name.
pub const NAME: &str = "matchingnet";

/// Hyper-parameters of `matchingnet` beyond the shared [`EpisodicParams`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MatchingParams {
    pub temperature: f64,
    pub learn_temperature: bool,
    pub full_context_embeddings: bool,
    pub fce_steps: usize,
}

impl Default for MatchingParams {
    fn default() -> Self {
        MatchingParams { temperature: 0.1, learn_temperature: true, full_context_embeddings: false, fce_steps: 3 }
    }
}

impl Check for MatchingParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        params::positive("temperature", self.temperature)?;
        params::at_least("fce_steps", self.fce_steps, 1)
    }
}

/// The matching head.
pub struct Matching {
    /// `1 / temperature` (the initial value when learned).
    scale: f64,
    learn: bool,
    /// Processing steps of the attention LSTM when full context embeddings are on.
    fce_steps: Option<usize>,
}

/// Numerically stable `log sum exp` over `dim` (kept).
fn log_sum_exp(x: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
    let m = x.max_keepdim(dim)?.detach();
    x.broadcast_sub(&m)?.exp()?.sum_keepdim(dim)?.log()?.broadcast_add(&m)
}

/// Rows scaled to unit length: `[.., D]`.
fn unit_rows(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&(x.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?)
}

/// Parameters of one LSTM cell: `[W_x: [in, 4H], W_h: [h_in, 4H], b: [4H]]`.
fn init_lstm(
    input: usize,
    h_in: usize,
    hidden: usize,
    rng: &mut Rng,
    dev: &Device,
) -> candle_core::Result<Vec<Tensor>> {
    let mut b = vec![0f32; 4 * hidden];
    b[hidden..2 * hidden].fill(1.0); // forget gate
    Ok(vec![
        normal_tensor(rng, (input, 4 * hidden), (1.0 / input as f64).sqrt(), dev)?,
        normal_tensor(rng, (h_in, 4 * hidden), (1.0 / h_in as f64).sqrt(), dev)?,
        Tensor::from_vec(b, 4 * hidden, dev)?,
    ])
}

/// One LSTM step on rows `x: [N, in]`, `h: [N, h_in]`, `c: [N, H]`; returns `(h', c')`.
fn lstm_step(p: &[Tensor], x: &Tensor, h: &Tensor, c: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
    let gates = x.matmul(&p[0])?.add(&h.matmul(&p[1])?)?.broadcast_add(&p[2])?;
    let g = gates.chunk(4, 1)?;
    let sig = candle_nn::ops::sigmoid;
    let c2 = (sig(&g[1])?.mul(c)? + sig(&g[0])?.mul(&g[2].tanh()?)?)?;
    let h2 = sig(&g[3])?.mul(&c2.tanh()?)?;
    Ok((h2, c2))
}

impl Matching {
    /// `g(x_i, S)`: the bidirectional LSTM over the support sequence `[T, K, D]` plus the skip
    /// connection (Appendix A.2).
    fn context_support(&self, p: &[Tensor], s: &Tensor) -> candle_core::Result<Tensor> {
        let (t, k, d) = s.dims3()?;
        let zeros = Tensor::zeros((t, d), DType::F32, s.device())?;
        let run = |p: &[Tensor], order: &mut dyn Iterator<Item = usize>| -> candle_core::Result<Vec<(usize, Tensor)>> {
            let (mut h, mut c) = (zeros.clone(), zeros.clone());
            let mut out = Vec::with_capacity(k);
            for i in order {
                let x = s.narrow(1, i, 1)?.squeeze(1)?;
                (h, c) = lstm_step(p, &x, &h, &c)?;
                out.push((i, h.clone()));
            }
            Ok(out)
        };
        let mut fwd = run(&p[0..3], &mut (0..k))?;
        let mut bwd = run(&p[3..6], &mut (0..k).rev())?;
        fwd.sort_by_key(|x| x.0);
        bwd.sort_by_key(|x| x.0);
        let hs: Vec<Tensor> =
            fwd.into_iter().zip(bwd).map(|((_, a), (_, b))| a.add(&b)).collect::<candle_core::Result<_>>()?;
        s.add(&Tensor::stack(&hs, 1)?)
    }

    /// `f(x, S)`: the attention LSTM over `steps` steps for queries `[T, Q, D]` against the
    /// context support embeddings `[T, K, D]` (Appendix A.1).
    fn context_query(&self, p: &[Tensor], q: &Tensor, g: &Tensor, steps: usize) -> candle_core::Result<Tensor> {
        let (t, nq, d) = q.dims3()?;
        let rows = q.reshape((t * nq, d))?;
        let mut h = Tensor::zeros((t, nq, d), DType::F32, q.device())?;
        let mut c = Tensor::zeros((t * nq, d), DType::F32, q.device())?;
        let gt = g.transpose(1, 2)?.contiguous()?;
        for _ in 0..steps {
            let a = candle_nn::ops::softmax(&h.matmul(&gt)?, D::Minus1)?; // [T, Q, K]
            let r = a.matmul(&g.contiguous()?)?; // [T, Q, D]
            let hr = Tensor::cat(&[&h, &r], 2)?.reshape((t * nq, 2 * d))?;
            let (h_hat, c2) = lstm_step(p, &rows, &hr, &c)?;
            c = c2;
            h = (h_hat + &rows)?.reshape((t, nq, d))?;
        }
        Ok(h)
    }
}

impl Head for Matching {
    fn init(&self, dim: usize, rng: &mut Rng, dev: &Device) -> candle_core::Result<Vec<Tensor>> {
        let mut out = Vec::new();
        if self.learn {
            out.push(Tensor::new(&[self.scale.ln() as f32], dev)?);
        }
        if self.fce_steps.is_some() {
            out.extend(init_lstm(dim, dim, dim, rng, dev)?); // forward support LSTM
            out.extend(init_lstm(dim, dim, dim, rng, dev)?); // backward support LSTM
            out.extend(init_lstm(dim, 2 * dim, dim, rng, dev)?); // attention LSTM, state [h, r]
        }
        Ok(out)
    }

    fn log_probs(&self, params: &[Tensor], ep: &EpisodeTensors) -> candle_core::Result<Tensor> {
        let (scale, rest) = if self.learn {
            (params[0].exp()?, &params[1..])
        } else {
            (Tensor::new(&[self.scale as f32], ep.query.device())?, params)
        };
        let (g, f) = match self.fce_steps {
            None => (ep.support.clone(), ep.query.clone()),
            Some(steps) => {
                let g = self.context_support(&rest[0..6], &ep.support)?;
                let f = self.context_query(&rest[6..9], &ep.query, &g, steps)?;
                (g, f)
            }
        };
        // Section 2.1.1: cosine similarities scaled by 1 / temperature, [T, Q, K].
        let cos = unit_rows(&f)?.contiguous()?.matmul(&unit_rows(&g)?.transpose(1, 2)?.contiguous()?)?;
        let s = cos.broadcast_mul(&scale)?;
        // Eq. 1 in log space: log P(k) = lse_{i: y_i = k} s_i - lse_i s_i. log y_i is 0 for the
        // support item's class and -1e30 otherwise, so an absent class gets about -1e30.
        let log_y = ((&ep.onehot - 1.0)? * 1e30)?.unsqueeze(1)?; // [T, 1, K, C]
        let per_class = log_sum_exp(&s.unsqueeze(3)?.broadcast_add(&log_y)?, 2)?.squeeze(2)?; // [T, Q, C]
        per_class.broadcast_sub(&log_sum_exp(&s, 2)?)
    }
}

/// The method with validated parameters.
pub(crate) fn method(table: &toml::Table) -> Result<MetricMethod<Matching>> {
    let (shared, p, resolved) = parse_params::<MatchingParams>(NAME, table)?;
    let head = Matching {
        scale: 1.0 / p.temperature,
        learn: p.learn_temperature,
        fce_steps: p.full_context_embeddings.then_some(p.fce_steps),
    };
    Ok(MetricMethod::new(NAME, resolved, shared, head))
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    Ok(Box::new(method(table)?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_method_end_to_end, hand_episode, param_error};
    use super::*;

    fn fixed(scale: f64) -> Matching {
        Matching { scale, learn: false, fce_steps: None }
    }

    fn probs(head: &Matching, params: &[Tensor], ep: &EpisodeTensors) -> Vec<Vec<f32>> {
        head.log_probs(params, ep).unwrap().exp().unwrap().to_vec3::<f32>().unwrap().remove(0)
    }

    #[test]
    fn distribution_is_the_attention_vote_of_the_support_labels() {
        // Support at angles 0, 90 and 180 degrees with classes 0, 1, 0; query at 0 degrees:
        // cosines 1, 0, -1; scale 2.
        let ep = hand_episode(&[[3., 0.], [0., 1.], [-2., 0.]], &[0, 1, 0], &[[5., 0.]], 3);
        let p = probs(&fixed(2.0), &[], &ep);
        let e = [2f32.exp(), 1.0, (-2f32).exp()];
        let z: f32 = e.iter().sum();
        assert!((p[0][0] - (e[0] + e[2]) / z).abs() < 1e-6, "{p:?}");
        assert!((p[0][1] - e[1] / z).abs() < 1e-6);
        assert_eq!(p[0][2], 0.0, "a class without support ratings got probability");
    }

    #[test]
    fn support_order_does_not_change_the_distribution_without_fce() {
        let s = [[0.3, -1.], [2., 0.5], [0., 1.], [1., 3.], [-2., 0.]];
        let y = [0, 3, 3, 1, 0];
        let q = [[0.5, 0.5], [-1., 2.]];
        let a = probs(&fixed(10.0), &[], &hand_episode(&s, &y, &q, 5));
        let order = [4, 2, 0, 3, 1];
        let s2: Vec<[f32; 2]> = order.iter().map(|i| s[*i]).collect();
        let y2: Vec<usize> = order.iter().map(|i| y[*i]).collect();
        let b = probs(&fixed(10.0), &[], &hand_episode(&s2, &y2, &q, 5));
        for (ra, rb) in a.iter().zip(&b) {
            assert_eq!(ra[2], 0.0);
            assert_eq!(ra[4], 0.0);
            for (x, z) in ra.iter().zip(rb) {
                assert!((x - z).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn one_class_support_predicts_that_class_even_with_fce() {
        let ep = hand_episode(&[[1., 1.], [3., -2.]], &[3, 3], &[[-1., -1.], [0., 2.]], 5);
        assert_eq!(probs(&fixed(10.0), &[], &ep), vec![vec![0.0, 0.0, 0.0, 1.0, 0.0]; 2]);
        let fce = Matching { scale: 10.0, learn: true, fce_steps: Some(2) };
        let params = fce.init(2, &mut Rng::new(0), &Device::Cpu).unwrap();
        assert_eq!(params.len(), 10);
        for row in probs(&fce, &params, &ep) {
            assert!((row[3] - 1.0).abs() < 1e-6 && row.iter().enumerate().all(|(k, p)| k == 3 || *p == 0.0), "{row:?}");
        }
    }

    #[test]
    fn end_to_end_on_a_tiny_world() {
        check_method_end_to_end(NAME, &[], true);
        check_method_end_to_end(NAME, &[("learn_temperature", false.into()), ("temperature", 1.0.into())], true);
    }

    #[test]
    fn full_context_embeddings_train_and_predict() {
        // The support order matters with FCE (the paper's bidirectional LSTM), so only the
        // other behaviours are checked.
        check_method_end_to_end(NAME, &[("full_context_embeddings", true.into()), ("fce_steps", 2.into())], false);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        for (key, value) in [
            ("temperature", toml::Value::Float(0.0)),
            ("temperature", toml::Value::Float(f64::INFINITY)),
            ("fce_steps", toml::Value::Integer(0)),
            ("learn_temperature", toml::Value::String("yes".into())),
        ] {
            let e = param_error(NAME, key, value);
            assert!(e.contains(&format!("`{key}`")) && e.contains("matchingnet"), "{e}");
        }
    }
}
