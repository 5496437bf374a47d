//! The seam of the layer normalisation: a burn backend extension on
//! burn-flex, with a hand-written backward under `Autodiff` (burn's
//! autodiff runs its default layer norm: eight operations forward and
//! their gradients backward).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn_flex::FlexTensor;

use super::kernels;
use crate::flex::{Bias, record, tensor, values};

/// Layer normalisation by our kernels, for [`Flex`] and `Autodiff<Flex>`;
/// callers check the device first (see [`super::layer_norm`]).
#[backend_extension(Flex, Autodiff)]
pub trait FastNorm: Backend {
    /// `(x - mean) / sqrt(var + epsilon) * gamma + beta` over the last axis
    /// of `x: [rows, d]`, with `gamma, beta: [d]`.
    fn fast_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        #[extension_type] beta: Bias<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// The output `[rows, d]`, and each row's mean and reciprocal deviation.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: Option<&FlexTensor>,
    epsilon: f64,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let (xs, gs) = (values(x), values(gamma));
    let d = gs.len();
    let bs = beta.map(values);
    let (y, mean, rstd) = kernels::forward(&xs, d, &gs, bs.as_deref(), epsilon);
    (tensor(y, [xs.len() / d, d]), mean, rstd)
}

impl FastNorm for Flex {
    fn fast_layer_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: Bias<Self>,
        epsilon: f64,
    ) -> FlexTensor {
        forward(&x, &gamma, beta.into_option().as_ref(), epsilon).0
    }
}

/// What the backward step keeps: x, gamma, and the rows' means and
/// reciprocal deviations.
type Kept = (FlexTensor, FlexTensor, Vec<f32>, Vec<f32>);

/// The backward step: gradients of x, gamma and (when `N == 3`) beta, for
/// whichever of them are tracked.
#[derive(Debug)]
struct LayerNormBackward;

impl<const N: usize> Backward<Flex, N> for LayerNormBackward {
    type State = Kept;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, mean, rstd) = ops.state;
        let (xs, gs, dys) = (values(&x), values(&gamma), values(&dy));
        let d = gs.len();
        let (dx, dgamma, dbeta) = kernels::backward(&xs, &dys, d, &gs, (&mean, &rstd));
        let [node_x, node_g, node_b] = [0, 1, 2].map(|i| ops.parents.get(i).cloned().flatten());
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, [xs.len() / d, d]));
        }
        if let Some(node) = node_g {
            grads.register::<Flex>(node.id, tensor(dgamma, [d]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(dbeta, [d]));
        }
    }
}

impl<C: CheckpointStrategy> FastNorm for Autodiff<Flex, C> {
    fn fast_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: Bias<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let beta = beta.into_option();
        let (y, mean, rstd) = forward(
            x.primitive(),
            gamma.primitive(),
            beta.as_ref().map(|b| b.primitive()),
            epsilon,
        );
        let kept = || -> Kept { (x.primitive().clone(), gamma.primitive().clone(), mean, rstd) };
        record::<C, _, _>(LayerNormBackward, [&x, &gamma], beta.as_ref(), kept, y)
    }
}

/// Runs [`FastNorm::fast_layer_norm`] on the tensors' dispatch primitives.
pub(super) fn run(
    x: burn::tensor::Tensor<2>,
    gamma: burn::tensor::Tensor<1>,
    beta: Option<burn::tensor::Tensor<1>>,
    epsilon: f64,
) -> burn::tensor::Tensor<2> {
    use burn::backend::Dispatch;
    burn::tensor::Tensor::from_dispatch(<Dispatch as FastNorm>::fast_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        Bias::from_option(beta.map(|b| b.into_dispatch())),
        epsilon,
    ))
}
