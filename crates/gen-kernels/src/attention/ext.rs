//! The seam of the self-attention: a burn backend extension on burn-flex,
//! with a hand-written backward under `Autodiff` that reuses the weights
//! the forward pass computed.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn_flex::FlexTensor;

use super::kernels::{self, Dims};
use crate::flex::{tensor, values};

/// Self-attention by our kernels, for [`Flex`] and `Autodiff<Flex>`;
/// callers check the device first (see [`super::self_attention`]).
#[backend_extension(Flex, Autodiff)]
pub trait FastAttention: Backend {
    /// `[b, t, 3c]` (`q | k | v`) -> `[b, t, c]` (the heads' outputs side
    /// by side), for the sizes in `dims`.
    fn fast_attention(qkv: FloatTensor<Self>, dims: Dims) -> FloatTensor<Self>;
}

fn forward(qkv: &FlexTensor, dims: Dims) -> (FlexTensor, Vec<f32>) {
    let (y, weights) = kernels::forward(dims, &values(qkv));
    (tensor(y, [dims.batch, dims.len, dims.width]), weights)
}

impl FastAttention for Flex {
    fn fast_attention(qkv: FlexTensor, dims: Dims) -> FlexTensor {
        forward(&qkv, dims).0
    }
}

/// The backward step: the gradient of `q | k | v`.
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    type State = (FlexTensor, Vec<f32>, Dims);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (qkv, weights, dims) = ops.state;
        if let [Some(node)] = ops.parents {
            let dqkv = kernels::backward(dims, &values(&qkv), &weights, &values(&dy));
            let shape = [dims.batch, dims.len, 3 * dims.width];
            grads.register::<Flex>(node.id, tensor(dqkv, shape));
        }
    }
}

impl<C: CheckpointStrategy> FastAttention for Autodiff<Flex, C> {
    fn fast_attention(qkv: FloatTensor<Self>, dims: Dims) -> FloatTensor<Self> {
        let (y, weights) = forward(qkv.primitive(), dims);
        match AttentionBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((qkv.primitive().clone(), weights, dims), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// Runs [`FastAttention::fast_attention`] on the tensor's dispatch
/// primitive.
pub(super) fn run(qkv: burn::tensor::Tensor<3>, dims: Dims) -> burn::tensor::Tensor<3> {
    use burn::backend::Dispatch;
    burn::tensor::Tensor::from_dispatch(<Dispatch as FastAttention>::fast_attention(
        qkv.into_dispatch(),
        dims,
    ))
}
