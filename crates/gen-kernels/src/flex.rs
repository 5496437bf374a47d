//! What every extension of the crate shares on burn-flex: contiguous views
//! of a tensor's values, tensors from computed values, an optional tensor
//! across the extension boundary, and the SIMD dispatch of the element
//! loops.

use std::borrow::Cow;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, ExtensionType, Flex};
use burn::tensor::{Shape, TensorData};
use burn_flex::FlexTensor;

/// An optional tensor across the extension boundary (the extension macro
/// does not carry `Option` of a tensor): a convolution's bias, a norm's
/// shift.
#[derive(ExtensionType)]
pub enum Bias<B: Backend> {
    /// A tensor.
    With(FloatTensor<B>),
    /// None.
    Without,
}

impl<B: Backend> Bias<B> {
    pub(crate) fn into_option(self) -> Option<FloatTensor<B>> {
        match self {
            Bias::With(b) => Some(b),
            Bias::Without => None,
        }
    }

    pub(crate) fn from_option(t: Option<FloatTensor<B>>) -> Self {
        t.map_or(Bias::Without, Bias::With)
    }
}

/// Records the output `y` of an operation of the parents `x`, `w` and, when
/// there is one, `b` in the autodiff graph, with one backward step for both
/// counts of parents; `state` (what the backward keeps) is built only when
/// a parent is tracked.
pub(crate) fn record<C, S, Step>(
    step: Step,
    [x, w]: [&FloatTensor<Autodiff<Flex, C>>; 2],
    b: Option<&FloatTensor<Autodiff<Flex, C>>>,
    state: impl FnOnce() -> S,
    y: FlexTensor,
) -> FloatTensor<Autodiff<Flex, C>>
where
    C: CheckpointStrategy,
    S: Clone + Send + std::fmt::Debug + 'static,
    Step: Backward<Flex, 2, State = S> + Backward<Flex, 3, State = S>,
{
    match b {
        Some(b) => match step
            .prepare::<C>([x.node(), w.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state(), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        },
        None => match step
            .prepare::<C>([x.node(), w.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state(), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        },
    }
}

/// A contiguous f32 view of a flex tensor (copied only when it is strided).
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous f32")
                .to_vec(),
        ),
    }
}

/// A flex tensor of `shape` holding `values`.
pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The shape of a flex tensor.
pub(crate) fn shape_of(t: &FlexTensor) -> Shape {
    t.layout().shape().clone()
}

/// Runs `f` compiled for the best instruction set of this CPU (AVX-512,
/// AVX2 + FMA, or baseline x86-64), chosen at run time by `pulp`: the
/// element loops inside are plain arithmetic, which the compiler turns
/// into that set's vector instructions. Results do not depend on the set:
/// the loops use no fused multiply-add and keep their order of operations.
///
/// Pass a closure marked `#[inline(always)]`: `pulp` compiles one copy of
/// it per instruction set, and a closure left out of line is compiled for
/// baseline x86-64 only (measured: GELU's backward ran at scalar speed).
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}
