//! `relationnet`: Relation Networks for rating prediction.
//!
//! Paper: F. Sung, Y. Yang, L. Zhang, T. Xiang, P. H. S. Torr, T. M. Hospedales, "Learning to
//! Compare: Relation Network for Few-Shot Learning", CVPR 2018 (arXiv:1711.06025).
//!
//! Instead of a fixed distance, a learned *relation module* `g` scores a query against each
//! rating class: `r_k = g(C(f(x), c_k))` (Eq. 1), where `f` is the shared encoder, `C` is
//! concatenation and `c_k` the class's representation from the user's support set. For K-shot
//! tasks the paper sums the support embeddings of a class (Section 3.2); here `c_k` is their
//! *mean* (the prototype of [`super::class_means`]), because rating classes have very different
//! support counts within one user and a sum would make the relation depend on the count rather
//! than on the items. `g` is an MLP on `[f(x), c_k]` (ReLU hidden layers of widths
//! `relation_hidden`, one linear output).
//!
//! Deviation from the paper, for a distribution over ratings: the paper passes `r_k` through a
//! sigmoid and regresses it onto the one-hot label with a squared error (Eq. 2). Predictions
//! here need a distribution over the classes, so the relation scores are normalised by a
//! softmax over the classes *present* in the support set (absent classes: probability exactly
//! 0), and training uses the shared `loss` on that distribution (default `"both"`: cross-entropy plus the expected-rating squared error). The
//! prediction is the distribution's expected rating and median; fallbacks as in [`super`]
//! (empty support: the meta-train prior; one rating: that rating).
//!
//! | parameter         | default | meaning                                              | valid |
//! |-------------------|---------|------------------------------------------------------|-------|
//! | `relation_hidden` | [32]    | widths of the relation module's hidden ReLU layers   | each >= 1 |
//! | shared parameters |         | `embed_dim` 8, `hidden` [64], `out_dim` 32, `support` 10, `query` 10, `meta_batch` 32, `lr` 0.003, `max_steps` 3000, `eval_every` 100, `patience` 5, `classes` "levels", `like_threshold` 4.0, `loss` "both", `item_id_dim` 8, `id_dropout` 0.2 (see [`super`]) | |

#[cfg(doc)]
use super::EpisodicParams;
use super::{
    EpisodeTensors, Head, MetricMethod, check_widths, class_means, init_mlp, masked_log_softmax, mlp, parse_params,
};
use crate::nn::{add_bcast, rows_matmul};
use crate::params::Check;
use crate::rows::repeat_rows;
use crate::{Method, Result};
use candle_core::{Device, Tensor};
use metarec_suites::Rng;

/// The registry name.
pub const NAME: &str = "relationnet";

/// Hyper-parameters of `relationnet` beyond the shared [`EpisodicParams`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RelationParams {
    pub relation_hidden: Vec<usize>,
}

impl Default for RelationParams {
    fn default() -> Self {
        RelationParams { relation_hidden: vec![32] }
    }
}

impl Check for RelationParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        check_widths("relation_hidden", &self.relation_hidden)
    }
}

/// The relation head: an MLP `[2 D] -> relation_hidden -> 1`.
pub struct Relation {
    hidden: Vec<usize>,
}

impl Head for Relation {
    fn init(&self, dim: usize, rng: &mut Rng, dev: &Device) -> candle_core::Result<Vec<Tensor>> {
        let mut dims = vec![2 * dim];
        dims.extend(&self.hidden);
        dims.push(1);
        init_mlp(&dims, rng, dev)
    }

    fn log_probs(&self, params: &[Tensor], ep: &EpisodeTensors) -> candle_core::Result<Tensor> {
        let protos = class_means(&ep.support, &ep.onehot)?; // [T, C, D]
        let d = protos.dim(2)?;
        // Eq. 1: g(C(f(x), c_k)). The first layer on the concatenation, [f(x), c_k] W + b, is
        // computed as f(x) W_q + c_k W_c + b (W = [W_q; W_c]), which is the same number without
        // materialising the [T, Q, C, 2D] concatenation.
        let w = &params[0];
        // The sum over [T, Q, C, H] spreads each term with `rows::repeat_rows`, whose backward
        // sums rows in one pass (candle's broadcast would take a strided sum).
        let from_query = rows_matmul(&ep.query, &w.narrow(0, 0, d)?)?; // [T, Q, H]
        let from_class = rows_matmul(&protos, &w.narrow(0, d, d)?)?; // [T, C, H]
        let (t, q, h) = from_query.dims3()?;
        let c = from_class.dim(1)?;
        let over_classes = repeat_rows(&from_query.reshape((t * q, h))?, c)?;
        let over_queries = repeat_rows(&from_class.reshape((t, c * h))?, q)?;
        let z = (over_classes.reshape((t, q, c, h))? + over_queries.reshape((t, q, c, h))?)?;
        let mut z = add_bcast(&z, &params[1])?; // [T, Q, C, H]
        if params.len() > 2 {
            z = mlp(&params[2..], &crate::relu::relu(&z)?)?;
        }
        masked_log_softmax(&z.squeeze(3)?, &ep.present) // relation scores before the sigmoid
    }
}

/// The method with validated parameters.
pub(crate) fn method(table: &toml::Table) -> Result<MetricMethod<Relation>> {
    let (shared, p, resolved) = parse_params::<RelationParams>(NAME, table)?;
    let head = Relation { hidden: p.relation_hidden.clone() };
    Ok(MetricMethod::new(NAME, resolved, shared, head))
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    Ok(Box::new(method(table)?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_method_end_to_end, hand_episode, param_error};
    use super::*;

    fn probs(params: &[Tensor], ep: &EpisodeTensors) -> Vec<Vec<f32>> {
        Relation { hidden: vec![3] }.log_probs(params, ep).unwrap().exp().unwrap().to_vec3::<f32>().unwrap().remove(0)
    }

    #[test]
    fn scores_are_the_relation_module_on_query_and_class_mean() {
        let dev = Device::Cpu;
        // A linear relation module (no hidden layer): r_k = w . [q, c_k] + b with
        // w = (0, 0, 1, -1), so r_k = c_k[0] - c_k[1], independent of the query.
        let params =
            vec![Tensor::new(&[[0f32], [0.], [1.], [-1.]], &dev).unwrap(), Tensor::new(&[0.5f32], &dev).unwrap()];
        let ep = hand_episode(&[[2., 0.], [4., 0.], [0., 1.]], &[0, 0, 2], &[[9., 9.]], 3);
        let p = Relation { hidden: vec![] }.log_probs(&params, &ep).unwrap().exp().unwrap().to_vec3::<f32>().unwrap();
        // Class means (3, 0) and (0, 1): scores 3 and -1.
        let want = 3f32.exp() / (3f32.exp() + (-1f32).exp());
        assert!((p[0][0][0] - want).abs() < 1e-6, "{p:?}");
        assert_eq!(p[0][0][1], 0.0);
    }

    #[test]
    fn split_first_layer_equals_the_module_on_the_concatenation() {
        let dev = Device::Cpu;
        let head = Relation { hidden: vec![3, 2] };
        let params = head.init(2, &mut Rng::new(9), &dev).unwrap();
        let ep = hand_episode(&[[0.3, -1.], [2., 0.5], [0., 1.]], &[0, 2, 2], &[[0.5, 0.5], [-1., 2.]], 3);
        let got = head.log_probs(&params, &ep).unwrap().exp().unwrap().to_vec3::<f32>().unwrap().remove(0);
        // Reference: g([q, c_k]) on explicit concatenations, softmax over the present classes.
        let protos = [[0.3f32, -1.], [0., 0.], [1., 0.75]];
        for (qi, q) in [[0.5f32, 0.5], [-1., 2.]].iter().enumerate() {
            let score = |c: &[f32; 2]| {
                let x = Tensor::new(&[[q[0], q[1], c[0], c[1]]], &dev).unwrap();
                mlp(&params, &x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()[0]
            };
            let (s0, s2) = (score(&protos[0]), score(&protos[2]));
            let p0 = 1.0 / (1.0 + (s2 - s0).exp());
            assert!((got[qi][0] - p0).abs() < 1e-5, "{got:?} vs {p0}");
            assert_eq!(got[qi][1], 0.0);
        }
    }

    #[test]
    fn masked_classes_and_support_order_with_a_random_module() {
        let head = Relation { hidden: vec![3] };
        let params = head.init(2, &mut Rng::new(4), &Device::Cpu).unwrap();
        let s = [[0.3, -1.], [2., 0.5], [0., 1.], [1., 3.], [-2., 0.]];
        let y = [0, 3, 3, 1, 0];
        let q = [[0.5, 0.5], [-1., 2.], [0., 0.]];
        let a = probs(&params, &hand_episode(&s, &y, &q, 5));
        let order = [1, 3, 4, 0, 2];
        let s2: Vec<[f32; 2]> = order.iter().map(|i| s[*i]).collect();
        let y2: Vec<usize> = order.iter().map(|i| y[*i]).collect();
        let b = probs(&params, &hand_episode(&s2, &y2, &q, 5));
        for (ra, rb) in a.iter().zip(&b) {
            assert_eq!((ra[2], ra[4]), (0.0, 0.0), "{ra:?}");
            assert!((ra.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            for (x, z) in ra.iter().zip(rb) {
                assert!((x - z).abs() < 1e-6);
            }
        }
        // One class: probability 1.
        let one = probs(&params, &hand_episode(&s[..2], &[4, 4], &q, 5));
        assert!(one.iter().all(|r| *r == vec![0.0, 0.0, 0.0, 0.0, 1.0]), "{one:?}");
    }

    #[test]
    fn end_to_end_on_a_tiny_world() {
        check_method_end_to_end(NAME, &[], true);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let e = param_error(NAME, "relation_hidden", toml::Value::Array(vec![4.into(), 0.into()]));
        assert!(e.contains("`relation_hidden`") && e.contains("relationnet"), "{e}");
        let e = param_error(NAME, "eval_every", toml::Value::Integer(0));
        assert!(e.contains("`eval_every`"), "{e}");
    }
}
