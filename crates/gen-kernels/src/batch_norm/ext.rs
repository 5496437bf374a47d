//! The seam of the batch normalisation: a burn backend extension on
//! burn-flex, with a hand-written backward under `Autodiff` (burn-flex
//! runs burn's default: the statistics through transposed copies and
//! reductions, then the normalisation as separate operations, and their
//! gradients backward).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn_flex::FlexTensor;

use super::kernels::{self, Dims, Stats};
use crate::flex::{record, shape_of, tensor, values};

/// Batch normalisation in training mode by our kernels, for [`Flex`] and
/// `Autodiff<Flex>`; callers check the device first (see
/// [`super::batch_norm_train`]).
#[backend_extension(Flex, Autodiff)]
pub trait FastBatchNorm: Backend {
    /// The normalised `x` (any shape whose sizes `dims` gives), and the
    /// batch mean and biased variance `[channels]`.
    fn fast_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dims: Dims,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    dims: Dims,
    epsilon: f64,
) -> (FlexTensor, Stats) {
    let (y, stats) = kernels::forward(dims, &values(x), &values(gamma), &values(beta), epsilon);
    (tensor(y, shape_of(x)), stats)
}

/// The mean and the variance as tensors.
fn statistics(stats: &Stats) -> (FlexTensor, FlexTensor) {
    let c = stats.mean.len();
    (
        tensor(stats.mean.clone(), [c]),
        tensor(stats.variance.clone(), [c]),
    )
}

impl FastBatchNorm for Flex {
    fn fast_batch_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        dims: Dims,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (y, stats) = forward(&x, &gamma, &beta, dims, epsilon);
        let (mean, variance) = statistics(&stats);
        (y, mean, variance)
    }
}

/// The backward step: gradients of x, gamma and beta, for whichever of them
/// are tracked.
#[derive(Debug)]
struct BatchNormBackward;

impl<const N: usize> Backward<Flex, N> for BatchNormBackward {
    type State = (FlexTensor, FlexTensor, Stats, Dims);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, stats, dims) = ops.state;
        let (dx, dgamma, dbeta) =
            kernels::backward(dims, &values(&x), &values(&dy), &values(&gamma), &stats);
        let [node_x, node_g, node_b] = [0, 1, 2].map(|i| ops.parents.get(i).cloned().flatten());
        let c = dims.channels;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, shape_of(&x)));
        }
        if let Some(node) = node_g {
            grads.register::<Flex>(node.id, tensor(dgamma, [c]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(dbeta, [c]));
        }
    }
}

impl<C: CheckpointStrategy> FastBatchNorm for Autodiff<Flex, C> {
    fn fast_batch_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dims: Dims,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, stats) = forward(
            x.primitive(),
            gamma.primitive(),
            beta.primitive(),
            dims,
            epsilon,
        );
        let (mean, variance) = statistics(&stats);
        let kept = || {
            (
                x.primitive().clone(),
                gamma.primitive().clone(),
                stats,
                dims,
            )
        };
        let y = record::<C, _, _>(BatchNormBackward, [&x, &gamma], Some(&beta), kept, y);
        // The statistics are outputs of no tracked operation (detached).
        (
            y,
            FloatTensor::<Self>::new(mean),
            FloatTensor::<Self>::new(variance),
        )
    }
}

/// Runs [`FastBatchNorm::fast_batch_norm`] on the tensors' dispatch
/// primitives: the output, the mean and the variance.
pub(super) fn run<const D: usize>(
    x: burn::tensor::Tensor<D>,
    gamma: burn::tensor::Tensor<1>,
    beta: burn::tensor::Tensor<1>,
    dims: Dims,
    epsilon: f64,
) -> burn::tensor::module::BatchNormTrainOutput<D> {
    use burn::backend::Dispatch;
    use burn::tensor::Tensor;
    let (y, mean, variance) = <Dispatch as FastBatchNorm>::fast_batch_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        dims,
        epsilon,
    );
    burn::tensor::module::BatchNormTrainOutput {
        output: Tensor::from_dispatch(y),
        mean: Tensor::from_dispatch(mean),
        variance: Tensor::from_dispatch(variance),
    }
}
