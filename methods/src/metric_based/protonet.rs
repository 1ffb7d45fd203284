//! `protonet`: Prototypical Networks for rating prediction.
//!
//! Paper: J. Snell, K. Swersky, R. Zemel, "Prototypical Networks for Few-shot Learning",
//! NeurIPS 2017 (arXiv:1703.05175).
//!
//! The classes are the rating classes of [`super`] (the rating levels, or like/dislike). For
//! one user, the prototype of class `k` is the mean embedding of the support items rated `k`
//! (Eq. 1, `c_k = 1/|S_k| sum_{(x_i, y_i) in S_k} f(x_i)`), and a query item's class
//! distribution is the softmax over negative squared Euclidean distances to the prototypes
//! (Eq. 2, `p(y = k | x) = exp(-d(f(x), c_k)) / sum_k' exp(-d(f(x), c_k'))`, with
//! `d(z, z') = ||z - z'||^2`), taken over the classes present in the support set only: a class
//! the user has not rated has no prototype and probability exactly 0. Training minimises the
//! negative log-probability of the true class of the query ratings (`J = -log p(y = k | x)`,
//! Section 2.2 and Algorithm 1) with `loss = "cross-entropy"`; the default `"both"` adds the
//! expected-rating squared error (see [`super`] for why). The prediction is the
//! distribution's expected rating (`mean`) and median (`median`); see [`super`] for the
//! fallbacks (empty support: the meta-train prior; one rating: that rating).
//!
//! The distance is computed as in Section 2.4 (the linear-model view),
//! `-||f(x) - c_k||^2 = -f(x)^T f(x) + 2 c_k^T f(x) - c_k^T c_k`.
//!
//! Hyper-parameters: only the shared ones of [`super`] (encoder, episodes, optimiser, early
//! stopping, classes, loss):
//!
//! | parameter        | default         | meaning                                   | valid |
//! |------------------|-----------------|-------------------------------------------|-------|
//! | `embed_dim`      | 8               | embedding width per categorical field     | >= 1 |
//! | `hidden`         | [64]            | encoder hidden ReLU widths                | each >= 1 |
//! | `out_dim`        | 32              | width of the metric space                 | >= 1 |
//! | `support`        | 10              | support ratings per training episode      | >= 1 |
//! | `query`          | 10              | query ratings per training episode        | >= 1 |
//! | `meta_batch`     | 32              | episodes per Adam step                    | >= 1 |
//! | `lr`             | 0.003           | Adam learning rate                        | > 0 |
//! | `max_steps`      | 3000            | maximum Adam steps                        | >= 1 |
//! | `eval_every`     | 100             | steps between validation evaluations      | >= 1 |
//! | `patience`       | 5               | evaluations without gain before stopping  | >= 1 |
//! | `classes`        | "levels"        | `"levels"` or `"like-dislike"`            | either |
//! | `like_threshold` | 4.0             | like if rating >= this (`like-dislike`)   | finite, inside the scale |
//! | `loss`           | "both"          | `"cross-entropy"`, `"expected-mse"` or `"both"` | one of these |
//! | `item_id_dim`    | 8               | item-id embedding width; 0 = features only | >= 0 |
//! | `id_dropout`     | 0.2             | training rows given the unseen-item row   | [0, 1) |

#[cfg(doc)]
use super::EpisodicParams;
use super::{EpisodeTensors, Head, MetricMethod, class_means, masked_log_softmax, parse_params};
use crate::params::Check;
use crate::{Method, Result};
use candle_core::{Device, Tensor};
use metarec_suites::Rng;

/// The registry name.
pub const NAME: &str = "protonet";

/// Hyper-parameters of `protonet` beyond the shared [`EpisodicParams`]: none.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ProtoParams {}

impl Check for ProtoParams {
    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        Ok(())
    }
}

/// The prototypical head: no parameters of its own.
pub struct Proto;

/// Negative squared Euclidean distances `[T, Q, C]` between queries `[T, Q, D]` and prototypes
/// `[T, C, D]`.
pub fn neg_sq_distances(query: &Tensor, protos: &Tensor) -> candle_core::Result<Tensor> {
    let qq = query.sqr()?.sum_keepdim(2)?; // [T, Q, 1]
    let cc = protos.sqr()?.sum(2)?.unsqueeze(1)?; // [T, 1, C]
    let qc = query.contiguous()?.matmul(&protos.transpose(1, 2)?.contiguous()?)?; // [T, Q, C]
    // Section 2.4: -||q - c||^2 = -q.q + 2 q.c - c.c
    (qc * 2.0)?.broadcast_sub(&qq)?.broadcast_sub(&cc)
}

impl Head for Proto {
    fn init(&self, _dim: usize, _rng: &mut Rng, _dev: &Device) -> candle_core::Result<Vec<Tensor>> {
        Ok(Vec::new())
    }
    fn log_probs(&self, _params: &[Tensor], ep: &EpisodeTensors) -> candle_core::Result<Tensor> {
        let protos = class_means(&ep.support, &ep.onehot)?; // Eq. 1
        masked_log_softmax(&neg_sq_distances(&ep.query, &protos)?, &ep.present) // Eq. 2
    }
}

/// The method with validated parameters.
pub(crate) fn method(table: &toml::Table) -> Result<MetricMethod<Proto>> {
    let (shared, _, resolved) = parse_params::<ProtoParams>(NAME, table)?;
    Ok(MetricMethod::new(NAME, resolved, shared, Proto))
}

pub fn build(table: &toml::Table) -> Result<Box<dyn Method>> {
    Ok(Box::new(method(table)?))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_method_end_to_end, hand_episode, param_error};
    use super::*;

    fn probs(ep: &EpisodeTensors) -> Vec<Vec<f32>> {
        Proto.log_probs(&[], ep).unwrap().exp().unwrap().to_vec3::<f32>().unwrap().remove(0)
    }

    #[test]
    fn distribution_is_the_softmax_of_distances_to_class_means() {
        // Classes 0 and 2 (of 3); prototypes (1, 0) and (0, 2).
        let ep = hand_episode(&[[0., 0.], [2., 0.], [0., 1.], [0., 3.]], &[0, 0, 2, 2], &[[1., 1.]], 3);
        let p = probs(&ep);
        let (d0, d2) = (1.0f32, 2.0f32); // ||(1,1)-(1,0)||^2, ||(1,1)-(0,2)||^2
        let want0 = (-d0).exp() / ((-d0).exp() + (-d2).exp());
        assert!((p[0][0] - want0).abs() < 1e-6, "{p:?}");
        assert_eq!(p[0][1], 0.0, "the absent class got probability");
        assert!((p[0][0] + p[0][2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn masked_class_gets_nothing_even_when_the_query_sits_on_the_origin() {
        // An absent class must not act as a zero prototype: a query at the origin would be
        // closest to it.
        let ep = hand_episode(&[[5., 5.], [-5., 5.]], &[0, 1], &[[0., 0.], [0., 0.1]], 5);
        for row in probs(&ep) {
            assert!(row[2..].iter().all(|p| *p == 0.0), "{row:?}");
            assert!((row[0] + row[1] - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn support_order_does_not_change_the_distribution() {
        let s = [[0.3, -1.], [2., 0.5], [0., 1.], [1., 3.], [-2., 0.]];
        let y = [0, 3, 3, 1, 0];
        let q = [[0.5, 0.5], [-1., 2.]];
        let a = probs(&hand_episode(&s, &y, &q, 4));
        let order = [4, 2, 0, 3, 1];
        let s2: Vec<[f32; 2]> = order.iter().map(|i| s[*i]).collect();
        let y2: Vec<usize> = order.iter().map(|i| y[*i]).collect();
        let b = probs(&hand_episode(&s2, &y2, &q, 4));
        for (ra, rb) in a.iter().zip(&b) {
            for (x, z) in ra.iter().zip(rb) {
                assert!((x - z).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn one_class_support_predicts_that_class() {
        let p = probs(&hand_episode(&[[1., 1.], [3., -2.]], &[1, 1], &[[100., 100.], [0., 0.]], 5));
        for row in p {
            assert_eq!(row, vec![0.0, 1.0, 0.0, 0.0, 0.0]);
        }
    }

    #[test]
    fn end_to_end_on_a_tiny_world() {
        check_method_end_to_end(NAME, &[], true);
        check_method_end_to_end(NAME, &[("item_id_dim", 0.into()), ("loss", "both".into())], true);
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let e = param_error(NAME, "meta_batch", toml::Value::Integer(0));
        assert!(e.contains("`meta_batch`") && e.contains("protonet"), "{e}");
        let e = param_error(NAME, "temperature", toml::Value::Float(1.0));
        assert!(e.contains("`temperature`") && e.contains("unknown key"), "{e}");
    }
}
