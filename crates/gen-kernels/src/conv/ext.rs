//! The seam: a burn backend extension whose operations run our kernels on
//! burn-flex tensors, forward and (through a hand-written [`Backward`])
//! backward under `Autodiff`.
//!
//! A transposed convolution `convT(x; w)` with `w: [cin_t, cout_t, kh, kw]`
//! is the input gradient of the convolution `conv(., w)` that maps
//! `[cout_t, ho, wo]` images to `[cin_t, h, w]` ones (its [`Geometry`] is
//! built that way by the caller), so both operations share the three
//! kernels of [`super::kernels`]:
//!
//! | | forward | input gradient | weight gradient |
//! |---|---|---|---|
//! | conv | `forward(x)` | `input_grad(dy)` | `weight_grad(x, dy)` |
//! | convT | `input_grad(x)` | `forward(dy)` | `weight_grad(dy, x)` |

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn_flex::FlexTensor;

use super::geom::Geometry;
use super::kernels;
use crate::flex::{Bias, record, tensor, values};

/// Which of the two operations a [`Geometry`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `y = conv(x, w) + b`; the geometry maps x to y.
    Conv,
    /// `y = convT(x, w) + b`; the geometry maps y to x (the convolution
    /// whose input gradient this is).
    Transposed,
}

/// Convolutions by our kernels. Implemented for [`Flex`] and for
/// `Autodiff<Flex>`; callers check the device first (see
/// [`super::conv2d`]), because on any other backend the call panics.
#[backend_extension(Flex, Autodiff)]
pub trait FastConv: Backend {
    /// `kind`'s forward pass with `x: [b, c, h, w]` and a weight of burn's
    /// layout for that operation; `geometry` was computed from these
    /// shapes and the options by the caller.
    fn fast_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        #[extension_type] bias: Bias<Self>,
        geometry: Geometry,
        kind: Kind,
    ) -> FloatTensor<Self>;
}

/// The forward pass on flex.
fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: Option<&FlexTensor>,
    g: &Geometry,
    kind: Kind,
) -> FlexTensor {
    let (x, w) = (values(x), values(w));
    let b = b.map(values);
    match kind {
        Kind::Conv => {
            let y = kernels::forward(g, &x, &w, b.as_deref());
            tensor(y, [g.batch, g.cout, g.output[0], g.output[1]])
        }
        Kind::Transposed => {
            let mut y = kernels::input_grad(g, &x, &w);
            if let Some(b) = b.as_deref() {
                kernels::add_bias(&mut y, b, g.input[0] * g.input[1]);
            }
            tensor(y, [g.batch, g.cin, g.input[0], g.input[1]])
        }
    }
}

impl FastConv for Flex {
    fn fast_conv(
        x: FlexTensor,
        weight: FlexTensor,
        bias: Bias<Self>,
        geometry: Geometry,
        kind: Kind,
    ) -> FlexTensor {
        forward(&x, &weight, bias.into_option().as_ref(), &geometry, kind)
    }
}

/// The backward step: gradients of x, the weight and (when `N == 3`) the
/// bias, for whichever of them are tracked.
#[derive(Debug)]
struct FastConvBackward;

impl<const N: usize> Backward<Flex, N> for FastConvBackward {
    type State = (FlexTensor, FlexTensor, Geometry, Kind);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, w, g, kind) = ops.state;
        let (dy, x_values, w_values) = (values(&grad), values(&x), values(&w));
        let [node_x, node_w, node_b] = [0, 1, 2].map(|i| ops.parents.get(i).cloned().flatten());
        let k_shape = [g.cout, g.cin, g.kernel[0], g.kernel[1]];
        match kind {
            Kind::Conv => {
                if let Some(node) = node_x {
                    let dx = kernels::input_grad(&g, &dy, &w_values);
                    grads.register::<Flex>(
                        node.id,
                        tensor(dx, [g.batch, g.cin, g.input[0], g.input[1]]),
                    );
                }
                if let Some(node) = node_w {
                    let dw = kernels::weight_grad(&g, &x_values, &dy);
                    grads.register::<Flex>(node.id, tensor(dw, k_shape));
                }
                if let Some(node) = node_b {
                    grads.register::<Flex>(
                        node.id,
                        tensor(kernels::channel_sums(&dy, g.cout, g.p()), [g.cout]),
                    );
                }
            }
            Kind::Transposed => {
                let plane = g.input[0] * g.input[1];
                if let Some(node) = node_x {
                    let dx = kernels::forward(&g, &dy, &w_values, None);
                    grads.register::<Flex>(
                        node.id,
                        tensor(dx, [g.batch, g.cout, g.output[0], g.output[1]]),
                    );
                }
                if let Some(node) = node_w {
                    let dw = kernels::weight_grad(&g, &dy, &x_values);
                    grads.register::<Flex>(node.id, tensor(dw, k_shape));
                }
                if let Some(node) = node_b {
                    grads.register::<Flex>(
                        node.id,
                        tensor(kernels::channel_sums(&dy, g.cin, plane), [g.cin]),
                    );
                }
            }
        }
    }
}

impl<C: CheckpointStrategy> FastConv for Autodiff<Flex, C> {
    fn fast_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Bias<Self>,
        geometry: Geometry,
        kind: Kind,
    ) -> FloatTensor<Self> {
        let bias = bias.into_option();
        let y = forward(
            x.primitive(),
            weight.primitive(),
            bias.as_ref().map(|b| b.primitive()),
            &geometry,
            kind,
        );
        // The same backward step for both; only the number of parents differs.
        let state = || {
            (
                x.primitive().clone(),
                weight.primitive().clone(),
                geometry,
                kind,
            )
        };
        record::<C, _, _>(FastConvBackward, [&x, &weight], bias.as_ref(), state, y)
    }
}

/// Runs [`FastConv::fast_conv`] on the tensors' dispatch primitives.
pub(super) fn run(
    x: burn::tensor::Tensor<4>,
    weight: burn::tensor::Tensor<4>,
    bias: Option<burn::tensor::Tensor<1>>,
    geometry: Geometry,
    kind: Kind,
) -> burn::tensor::Tensor<4> {
    use burn::backend::Dispatch;
    burn::tensor::Tensor::from_dispatch(<Dispatch as FastConv>::fast_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        Bias::from_option(bias.map(|b| b.into_dispatch())),
        geometry,
        kind,
    ))
}
