//! Convolution and transposed convolution, 2-D: our kernels on burn-flex
//! (f32, one group), burn's own operations everywhere else.

#[cfg(feature = "flex")]
mod ext;
#[cfg(feature = "flex")]
pub mod geom;
#[cfg(feature = "flex")]
mod kernels;
#[cfg(feature = "flex")]
mod winograd;

use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Tensor, module};

/// `conv2d(x, weight, bias, options)` exactly as
/// [`burn::tensor::module::conv2d`] defines it (shapes, padding pairs,
/// dilation), computed by our kernels when [`fast_path`](crate::fast_path)
/// holds and by burn otherwise (which also reports inconsistent shapes, as
/// burn's own operation does).
///
/// # Shapes
/// `x: [b, cin, h, w]`, `weight: [cout, cin / groups, kh, kw]`,
/// `bias: [cout]` -> `[b, cout, ho, wo]`.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if options.groups == 1
        && weight.dims()[1] == x.dims()[1]
        && bias.as_ref().is_none_or(|b| b.dims() == [weight.dims()[0]])
        && usable(&x, &weight, bias.as_ref())
        && let Some(g) = geom::Geometry::conv(x.dims(), weight.dims(), &options)
    {
        return ext::run(x, weight, bias, g, ext::Kind::Conv);
    }
    module::conv2d(x, weight, bias, options)
}

/// `conv_transpose2d(x, weight, bias, options)` as
/// [`burn::tensor::module::conv_transpose2d`] defines it, by our kernels
/// when [`fast_path`](crate::fast_path) holds (and the output padding is
/// below the stride) and by burn otherwise.
///
/// # Shapes
/// `x: [b, cin, h, w]`, `weight: [cin, cout / groups, kh, kw]`,
/// `bias: [cout]` -> `[b, cout, ho, wo]` with
/// `ho = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + padding_out + 1`.
pub fn conv_transpose2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvTransposeOptions<2>,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    if options.groups == 1
        && weight.dims()[0] == x.dims()[1]
        && bias.as_ref().is_none_or(|b| b.dims() == [weight.dims()[1]])
        && usable(&x, &weight, bias.as_ref())
        && let Some(g) = transposed_geometry(x.dims(), weight.dims(), &options)
    {
        return ext::run(x, weight, bias, g, ext::Kind::Transposed);
    }
    module::conv_transpose2d(x, weight, bias, options)
}

/// The convolution whose input gradient `conv_transpose2d` is: from the
/// transposed convolution's output `[b, cout, ho, wo]` back to its input
/// `[b, cin, h, w]`. `None` when the sizes do not invert (an output padding
/// of a stride or more) or the output would be empty.
#[cfg(feature = "flex")]
fn transposed_geometry(
    x: [usize; 4],
    weight: [usize; 4],
    options: &ConvTransposeOptions<2>,
) -> Option<geom::Geometry> {
    let [b, cin, h, w] = x;
    let [_, cout, kh, kw] = weight;
    let out = |i: usize, len: usize, k: usize| {
        let full = (len.checked_sub(1)?) * options.stride[i]
            + options.dilation[i] * (k.checked_sub(1)?)
            + options.padding_out[i]
            + 1;
        full.checked_sub(2 * options.padding[i]).filter(|&o| o > 0)
    };
    let (ho, wo) = (out(0, h, kh)?, out(1, w, kw)?);
    let conv = ConvOptions::new(options.stride, options.padding, options.dilation, 1);
    let g = geom::Geometry::conv([b, cout, ho, wo], [cin, cout, kh, kw], &conv)?;
    (g.output == [h, w]).then_some(g)
}

/// Flex tensors of f32 on one device.
#[cfg(feature = "flex")]
fn usable(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>) -> bool {
    use burn::tensor::DType;
    crate::fast_path(&x.device())
        && x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && bias.is_none_or(|b| b.dtype() == DType::F32)
}
