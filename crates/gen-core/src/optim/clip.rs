//! Clipping by the joint norm of all gradients (PyTorch's
//! `torch.nn.utils.clip_grad_norm_`), which burn's per-parameter clipping
//! does not do: with `n = sqrt(sum_p |g_p|^2)`, every gradient is scaled by
//! `min(1, max / (n + 1e-6))`. The factor stays on the device: no host
//! read.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Sums the squares of the gradients of a module's parameters.
struct SumSquares<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SumSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.powi_scalar(2).sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

/// Scales the gradients of a module's parameters by one factor.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let factor = self.factor.clone().to_device(&g.device()).reshape([1; D]);
            self.grads.register(param.id, g * factor);
        }
    }
}

/// `grads` scaled so that their joint L2 norm is at most `max`.
pub(crate) fn clip_global_norm<M: Module>(
    mut grads: GradientsParams,
    module: &M,
    max: f64,
) -> GradientsParams {
    let mut sum = SumSquares {
        grads: &grads,
        total: None,
    };
    module.visit(&mut sum);
    let Some(total) = sum.total else {
        return grads;
    };
    let factor = (total.sqrt() + 1e-6).recip().mul_scalar(max).clamp_max(1.0);
    module.visit(&mut Scale {
        grads: &mut grads,
        factor,
    });
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Device;

    fn norm(grads: &GradientsParams, model: &Linear) -> f64 {
        let mut s = SumSquares { grads, total: None };
        model.visit(&mut s);
        s.total.unwrap().sqrt().into_scalar::<f64>()
    }

    #[test]
    fn scales_all_gradients_together_and_only_when_too_large() {
        let dev = Device::flex().autodiff();
        let model: Linear = LinearConfig::new(3, 2).init(&dev);
        let x = Tensor::<2>::ones([4, 3], &dev) * 10.0;
        let grads = || {
            let loss = model.forward(x.clone()).powi_scalar(2).sum();
            GradientsParams::from_grads(loss.backward(), &model)
        };
        let raw = norm(&grads(), &model);
        assert!(raw > 1.0, "{raw}");
        let clipped = clip_global_norm(grads(), &model, 1.0);
        assert!((norm(&clipped, &model) - 1.0).abs() < 1e-4);
        // Directions are kept: each gradient is the raw one times one factor.
        let (a, b) = (grads(), clipped);
        let w = model.weight.id;
        let ratio = (b.get::<2>(w).unwrap() / a.get::<2>(w).unwrap()).into_data();
        let ratio: Vec<f32> = ratio.try_into_vec().unwrap();
        for r in &ratio {
            assert!((f64::from(*r) - 1.0 / raw).abs() < 1e-5, "{ratio:?}");
        }
        // Below the limit: unchanged.
        let loose = clip_global_norm(grads(), &model, raw * 2.0);
        assert!((norm(&loose, &model) - raw).abs() < 1e-3 * raw);
    }
}
