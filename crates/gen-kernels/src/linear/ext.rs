//! The seam of the linear layer: a burn backend extension on burn-flex,
//! with a hand-written backward under `Autodiff` (burn's own linear on
//! flex runs a broadcast batched product per leading index, a zeroed and
//! copied output per product, a separate bias addition, and in the
//! backward a per-index weight gradient summed afterwards).

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn_flex::FlexTensor;

use super::kernels::{self, Dims};
use crate::flex::{Bias, record, shape_of, tensor, values};

/// The linear layer by our kernels, for [`Flex`] and `Autodiff<Flex>`;
/// callers check the device and the shapes first (see [`super::linear`]).
#[backend_extension(Flex, Autodiff)]
pub trait FastLinear: Backend {
    /// `x W + b` for `x: [rows, d_in]`, `W` as `dims` says, `b: [d_out]`.
    fn fast_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        #[extension_type] bias: Bias<Self>,
        dims: Dims,
    ) -> FloatTensor<Self>;
}

fn forward(x: &FlexTensor, w: &FlexTensor, b: Option<&FlexTensor>, dims: Dims) -> FlexTensor {
    let bs = b.map(values);
    let y = kernels::forward(dims, &values(x), &values(w), bs.as_deref());
    tensor(y, [dims.rows, dims.d_out])
}

impl FastLinear for Flex {
    fn fast_linear(x: FlexTensor, weight: FlexTensor, bias: Bias<Self>, dims: Dims) -> FlexTensor {
        forward(&x, &weight, bias.into_option().as_ref(), dims)
    }
}

/// The backward step: gradients of x, the weight and (when `N == 3`) the
/// bias, for whichever of them are tracked.
#[derive(Debug)]
struct LinearBackward;

impl<const N: usize> Backward<Flex, N> for LinearBackward {
    type State = (FlexTensor, FlexTensor, Dims);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, w, dims) = ops.state;
        let dys = values(&dy);
        let [node_x, node_w, node_b] = [0, 1, 2].map(|i| ops.parents.get(i).cloned().flatten());
        if let Some(node) = node_x {
            let dx = kernels::input_grad(dims, &values(&w), &dys);
            grads.register::<Flex>(node.id, tensor(dx, [dims.rows, dims.d_in]));
        }
        if let Some(node) = node_w {
            let dw = kernels::weight_grad(dims, &values(&x), &dys);
            grads.register::<Flex>(node.id, tensor(dw, shape_of(&w)));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(
                node.id,
                tensor(kernels::bias_grad(dims, &dys), [dims.d_out]),
            );
        }
    }
}

impl<C: CheckpointStrategy> FastLinear for Autodiff<Flex, C> {
    fn fast_linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Bias<Self>,
        dims: Dims,
    ) -> FloatTensor<Self> {
        let bias = bias.into_option();
        let y = forward(
            x.primitive(),
            weight.primitive(),
            bias.as_ref().map(|b| b.primitive()),
            dims,
        );
        let kept = || (x.primitive().clone(), weight.primitive().clone(), dims);
        record::<C, _, _>(LinearBackward, [&x, &weight], bias.as_ref(), kept, y)
    }
}

/// Runs [`FastLinear::fast_linear`] on the tensors' dispatch primitives.
pub(super) fn run(
    x: burn::tensor::Tensor<2>,
    weight: burn::tensor::Tensor<2>,
    bias: Option<burn::tensor::Tensor<1>>,
    dims: Dims,
) -> burn::tensor::Tensor<2> {
    use burn::backend::Dispatch;
    burn::tensor::Tensor::from_dispatch(<Dispatch as FastLinear>::fast_linear(
        x.into_dispatch(),
        weight.into_dispatch(),
        Bias::from_option(bias.map(|b| b.into_dispatch())),
        dims,
    ))
}
