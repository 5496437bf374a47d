//! The seam of the pointwise operations: a burn backend extension on
//! burn-flex, with a hand-written backward under `Autodiff` that keeps the
//! input and computes `dy * op'(x)` in one pass.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn_flex::FlexTensor;

use super::{Pointwise, kernels};
use crate::flex::{shape_of, tensor, values};

/// Pointwise operations by our kernels, for [`Flex`] and
/// `Autodiff<Flex>`; callers check the device first (see
/// [`super::gelu`]).
#[backend_extension(Flex, Autodiff)]
pub trait FastPointwise: Backend {
    /// `op(x)`, element by element, for any shape.
    fn fast_pointwise(x: FloatTensor<Self>, op: Pointwise) -> FloatTensor<Self>;
}

fn forward(x: &FlexTensor, op: Pointwise) -> FlexTensor {
    tensor(kernels::forward(op, &values(x)), shape_of(x))
}

impl FastPointwise for Flex {
    fn fast_pointwise(x: FlexTensor, op: Pointwise) -> FlexTensor {
        forward(&x, op)
    }
}

/// The backward step: `dx = dy * op'(x)`.
#[derive(Debug)]
struct PointwiseBackward;

impl Backward<Flex, 1> for PointwiseBackward {
    type State = (FlexTensor, Pointwise);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, op) = ops.state;
        if let [Some(node)] = ops.parents {
            let dx = kernels::backward(op, &values(&x), &values(&dy));
            grads.register::<Flex>(node.id, tensor(dx, shape_of(&x)));
        }
    }
}

impl<C: CheckpointStrategy> FastPointwise for Autodiff<Flex, C> {
    fn fast_pointwise(x: FloatTensor<Self>, op: Pointwise) -> FloatTensor<Self> {
        let y = forward(x.primitive(), op);
        match PointwiseBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((x.primitive().clone(), op), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// Runs [`FastPointwise::fast_pointwise`] on the tensor's dispatch
/// primitive.
pub(super) fn run<const D: usize>(
    x: burn::tensor::Tensor<D>,
    op: Pointwise,
) -> burn::tensor::Tensor<D> {
    use burn::backend::Dispatch;
    burn::tensor::Tensor::from_dispatch(<Dispatch as FastPointwise>::fast_pointwise(
        x.into_dispatch(),
        op,
    ))
}
