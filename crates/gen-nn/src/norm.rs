//! Normalisations: the seam for gen-kernels' layer and batch norms, and the
//! normalisation + activation pairs a fused kernel would compute in one
//! pass (as [`conv2d`](crate::conv2d) is the seam for convolutions).

use burn::nn::{BatchNorm, GroupNorm, LayerNorm};
use burn::tensor::Tensor;

use crate::activation::silu;

/// `silu(norm(x))`.
pub fn group_norm_silu<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    silu(norm.forward(x))
}

/// `norm.forward(x)`: in training (an autodiff device and the layer's
/// training flag on), gen-kernels' batch statistics and normalisation (two
/// passes forward, two backward) on flex and burn's elsewhere, then the
/// running mean and variance updated exactly as burn's layer does
/// (momentum, biased variance); in inference, burn's normalisation by the
/// running statistics.
pub fn batch_norm<const D: usize>(norm: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    if !(x.device().is_autodiff() && norm.training.is_enabled()) {
        return norm.forward(x);
    }
    let device = x.device();
    let result = gen_kernels::batch_norm_train(x, norm.gamma.val(), norm.beta.val(), norm.epsilon);
    let m = norm.momentum;
    let update = |running: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let old = running.value_sync().to_device(&device);
        running.update((old.mul_scalar(1.0 - m) + batch.detach().mul_scalar(m)).detach());
    };
    update(&norm.running_mean, result.mean);
    update(&norm.running_var, result.variance);
    result.output
}

/// `norm.forward(x)` for a norm built with `epsilon` (burn's `LayerNorm`
/// keeps its epsilon private, so the caller passes the one it configured):
/// gen-kernels' one-pass kernel (values and the three gradients) on flex,
/// burn's operation elsewhere. The parameters stay burn's, so checkpoints
/// and PyTorch names are unchanged.
pub fn layer_norm<const D: usize>(norm: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    gen_kernels::layer_norm(
        x,
        norm.gamma.val(),
        norm.beta.as_ref().map(|b| b.val()),
        epsilon,
    )
}

#[cfg(test)]
mod batch_norm_tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Device, Distribution};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn batch_norm_trains_and_tracks_statistics_as_burns_layer() {
        let dev = Device::flex().autodiff();
        // Two layers (a clone would share its running state): gamma 1,
        // beta 0, running mean 0 and variance 1 from the config.
        let ours = BatchNormConfig::new(6).init(&dev);
        let burns = BatchNormConfig::new(6).init(&dev);
        for step in 0..3 {
            let x = Tensor::<4>::random([4, 6, 5, 5], Distribution::Normal(step as f64, 2.0), &dev);
            assert!(max_diff(batch_norm(&ours, x.clone()), burns.forward(x)) < 1e-5);
        }
        let (a, b) = (ours.running_mean.value(), burns.running_mean.value());
        assert!(max_diff(a, b) < 1e-6);
        let (a, b) = (ours.running_var.value(), burns.running_var.value());
        assert!(max_diff(a, b) < 1e-5);
        // Inference (no autodiff): the running statistics, as burn's.
        let (ours, burns) = (ours.valid(), burns.valid());
        let x = Tensor::<4>::random([2, 6, 3, 3], Distribution::Default, &Device::flex());
        assert!(max_diff(batch_norm(&ours, x.clone()), burns.forward(x)) < 1e-6);
    }
}
