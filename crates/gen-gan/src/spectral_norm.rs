//! Spectral normalisation (Miyato et al., 2018, "Spectral Normalization for
//! Generative Adversarial Networks", eq. 8 and Algorithm 1).
//!
//! A layer's weight `W` is used as `W / sigma(W)`, where `sigma(W)` is the
//! largest singular value of `W` reshaped to a matrix `[rows, cols]`
//! (a [`Linear`] weight `[in, out]` as it is; a [`Conv2d`] weight
//! `[out, in, kh, kw]` as `[out, in * kh * kw]`, as PyTorch's
//! `torch.nn.utils.spectral_norm` does). Each layer then has Lipschitz
//! constant about 1 (for a convolution, 1 with respect to the reshaped
//! matrix, which bounds the operator norm up to a factor of the kernel size).
//!
//! `sigma` is estimated by power iteration:
//! `v = W^T u / |W^T u|`, `u = W v / |W v|`, `sigma = u^T W v`.
//! **The vector `u` is persisted** as a non-trainable [`RunningState`]
//! (saved in checkpoints with the module, never touched by the optimizer,
//! like BatchNorm's running statistics). Each forward pass on an autodiff
//! device (training) runs [`SpectralNormConfig::iterations`] power
//! iterations on the detached weight and stores the new `u`; because the
//! weight changes slowly between optimizer steps, one iteration per step
//! tracks the top singular vector (the paper's Algorithm 1). Off autodiff
//! (inference), the stored `u` is used as it is and `v` is recomputed from
//! it, so evaluation does not change the state. The gradient flows through
//! `sigma = u^T W v` with `u`, `v` held constant, as in the paper.

use burn::config::Config;
use burn::module::{Module, RunningState};
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::tensor::{Device, Distribution, Tensor};

use crate::error::Result;
use gen_core::error::ensure_nonzero;

/// Settings of spectral normalisation.
#[derive(Config, Debug, PartialEq)]
pub struct SpectralNormConfig {
    /// Power iterations per training forward pass, >= 1.
    #[config(default = 1)]
    pub iterations: usize,
    /// Added to norms before dividing, > 0.
    #[config(default = 1e-12)]
    pub epsilon: f64,
}

impl SpectralNormConfig {
    /// Checks the ranges documented on each field.
    ///
    /// # Errors
    /// [`gen_core::Error::InvalidConfig`] naming the wrong field.
    pub fn validate(&self) -> Result<()> {
        ensure_nonzero("iterations", self.iterations)?;
        gen_core::error::ensure_positive("epsilon", self.epsilon)?;
        Ok(())
    }

    /// The state for a weight with `rows` rows (dimension 0 of the weight),
    /// its `u` drawn from the device's seeded generator and normalised.
    ///
    /// # Errors
    /// As [`validate`](Self::validate), and for `rows == 0`.
    pub fn init(&self, rows: usize, device: &Device) -> Result<SpectralNorm> {
        self.validate()?;
        ensure_nonzero("rows", rows)?;
        let u = Tensor::<1>::random([rows], Distribution::Normal(0.0, 1.0), device);
        let u = normalize(u, self.epsilon);
        Ok(SpectralNorm {
            u: RunningState::new(u),
            iterations: self.iterations,
            epsilon: self.epsilon,
        })
    }

    /// The state for a [`Linear`] layer (its weight is `[in, out]`).
    ///
    /// # Errors
    /// As [`init`](Self::init).
    pub fn init_linear(&self, layer: &Linear, device: &Device) -> Result<SpectralNorm> {
        self.init(layer.weight.dims()[0], device)
    }

    /// The state for a [`Conv2d`] layer (its weight is `[out, in, kh, kw]`).
    ///
    /// # Errors
    /// As [`init`](Self::init).
    pub fn init_conv2d(&self, layer: &Conv2d, device: &Device) -> Result<SpectralNorm> {
        self.init(layer.weight.dims()[0], device)
    }
}

/// The power-iteration state of one spectrally normalised weight.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    /// The left singular vector estimate `[rows]`, persisted.
    u: RunningState<Tensor<1>>,
    iterations: usize,
    epsilon: f64,
}

fn normalize(x: Tensor<1>, eps: f64) -> Tensor<1> {
    let norm = x.clone().square().sum().sqrt().add_scalar(eps);
    x.div(norm)
}

impl SpectralNorm {
    /// The stored `u` (on the device it lives on).
    pub fn u(&self) -> Tensor<1> {
        self.u.value_sync()
    }

    /// `(u, v)` for `matrix` `[rows, cols]`, both detached; runs the power
    /// iterations and stores `u` when `update` is true.
    fn vectors(&self, matrix: Tensor<2>, update: bool) -> (Tensor<1>, Tensor<1>) {
        let m = matrix.detach();
        let [rows, cols] = m.dims();
        let device = m.device();
        let mut u = self.u.value_sync().to_device(&device).detach();
        let step_v = |u: Tensor<1>| {
            let v = u.reshape([1, rows]).matmul(m.clone()).reshape([cols]);
            normalize(v, self.epsilon)
        };
        let mut v = step_v(u.clone());
        if update {
            for i in 0..self.iterations {
                if i > 0 {
                    v = step_v(u.clone());
                }
                u = normalize(
                    m.clone()
                        .matmul(v.clone().reshape([cols, 1]))
                        .reshape([rows]),
                    self.epsilon,
                );
            }
            self.u.update(u.clone().detach());
            // Apply the update now rather than at the next read, so that a
            // module saved between two forwards holds the newest u.
            let _ = self.u.value_sync();
            v = step_v(u.clone());
        }
        (u.detach(), v.detach())
    }

    /// The estimate of the top singular value `sigma = u^T W v`, differentiable
    /// with respect to `weight` (shape `[rows, ...]`, flattened to a matrix).
    /// Returns `[1]`.
    pub fn sigma<const D: usize>(&self, weight: Tensor<D>) -> Tensor<1> {
        self.sigma_with(weight, false)
    }

    fn sigma_with<const D: usize>(&self, weight: Tensor<D>, update: bool) -> Tensor<1> {
        let dims = weight.dims();
        let rows = dims[0];
        let cols = dims.iter().skip(1).product::<usize>();
        let matrix: Tensor<2> = weight.reshape([rows, cols]);
        let (u, v) = self.vectors(matrix.clone(), update);
        u.reshape([1, rows])
            .matmul(matrix)
            .matmul(v.reshape([cols, 1]))
            .reshape([1])
    }

    /// `weight / sigma(weight)`. On an autodiff device (training) this first
    /// runs the power iterations and stores the new `u`.
    pub fn normalize<const D: usize>(&self, weight: Tensor<D>) -> Tensor<D> {
        let update = weight.device().is_autodiff();
        let sigma = self.sigma_with(weight.clone(), update);
        weight.div(sigma.reshape([1; D]))
    }

    /// The spectrally normalised weight of a linear layer, `[in, out]`.
    pub fn linear_weight(&self, layer: &Linear) -> Tensor<2> {
        self.normalize(layer.weight.val())
    }

    /// The spectrally normalised weight of a conv layer, `[out, in, kh, kw]`.
    pub fn conv2d_weight(&self, layer: &Conv2d) -> Tensor<4> {
        self.normalize(layer.weight.val())
    }

    /// `layer` applied with its normalised weight.
    pub fn forward_linear<const D: usize>(&self, layer: &Linear, x: Tensor<D>) -> Tensor<D> {
        gen_nn::linear_with_weight(layer, self.linear_weight(layer), x)
    }

    /// `layer` applied with its normalised weight.
    ///
    /// # Shapes
    /// As [`Conv2d::forward`].
    pub fn forward_conv2d(&self, layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        gen_nn::conv2d_with_weight(layer, self.conv2d_weight(layer), x)
    }
}

/// A linear layer, spectrally normalised when `norm` is `Some`.
pub(crate) fn linear<const D: usize>(
    layer: &Linear,
    norm: Option<&SpectralNorm>,
    x: Tensor<D>,
) -> Tensor<D> {
    match norm {
        Some(sn) => sn.forward_linear(layer, x),
        None => gen_nn::linear(layer, x),
    }
}

/// A conv layer, spectrally normalised when `norm` is `Some`.
pub(crate) fn conv2d(layer: &Conv2d, norm: Option<&SpectralNorm>, x: Tensor<4>) -> Tensor<4> {
    match norm {
        Some(sn) => sn.forward_conv2d(layer, x),
        None => gen_nn::conv2d(layer, x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use nalgebra::DMatrix;

    /// The top singular value of a `[rows, cols]` matrix, by nalgebra's SVD in f64.
    fn top_singular_value(t: Tensor<2>) -> f64 {
        let [r, c] = t.dims();
        let v: Vec<f32> = t.into_data().convert::<f32>().try_into_vec().unwrap();
        let m = DMatrix::<f64>::from_row_iterator(r, c, v.iter().map(|&x| x as f64));
        m.singular_values().max()
    }

    fn flat<const D: usize>(t: Tensor<D>) -> Tensor<2> {
        let dims = t.dims();
        let cols = dims.iter().skip(1).product::<usize>();
        t.reshape([dims[0], cols])
    }

    #[test]
    fn linear_top_singular_value_is_one() {
        let dev = Device::flex().autodiff();
        // Seeded under the process-wide lock: tests run in parallel and
        // burn's device generator is shared.
        let (mut layer, sn) = gen_core::rng::with_seed(3, &dev, || {
            let layer = gen_core::rng::init_now(LinearConfig::new(20, 12).init(&dev));
            let sn = SpectralNormConfig::new().init_linear(&layer, &dev).unwrap();
            (layer, sn)
        });
        // Scale the weight up so that sigma(W) is far from 1 before normalising.
        layer.weight = layer.weight.map(|w| w * 7.0);
        let raw = top_singular_value(layer.weight.val().inner());
        assert!(raw > 2.0, "{raw}");
        // Training forwards: one power iteration each.
        let x = Tensor::<2>::ones([4, 20], &dev);
        for _ in 0..30 {
            let _ = sn.forward_linear(&layer, x.clone());
        }
        let normed = sn.linear_weight(&layer.valid());
        let s = top_singular_value(normed);
        assert!(
            (s - 1.0).abs() < 1e-3,
            "sigma of the normalised weight: {s}"
        );
        // The estimate itself matches the SVD of the raw weight.
        let est = sn.sigma(layer.weight.val()).into_scalar::<f64>();
        assert!((est / raw - 1.0).abs() < 1e-3, "{est} vs {raw}");
    }

    #[test]
    fn conv_top_singular_value_is_one() {
        let dev = Device::flex().autodiff();
        let (conv, sn) = gen_core::rng::with_seed(4, &dev, || {
            let conv = Conv2dConfig::new([3, 8], [4, 4])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(&dev);
            let conv = gen_core::rng::init_now(conv);
            let sn = SpectralNormConfig::new().init_conv2d(&conv, &dev).unwrap();
            (conv, sn)
        });
        let x = Tensor::<4>::ones([2, 3, 8, 8], &dev);
        let mut y = None;
        for _ in 0..30 {
            y = Some(sn.forward_conv2d(&conv, x.clone()));
        }
        assert_eq!(y.unwrap().dims(), [2, 8, 4, 4]);
        let normed = flat(sn.conv2d_weight(&conv.valid()));
        let s = top_singular_value(normed);
        assert!(
            (s - 1.0).abs() < 1e-3,
            "sigma of the normalised weight: {s}"
        );
    }

    #[test]
    fn inference_does_not_update_u() {
        let dev = Device::flex();
        dev.seed(5);
        let layer = LinearConfig::new(5, 4).init(&dev);
        let sn = SpectralNormConfig::new().init_linear(&layer, &dev).unwrap();
        let before: Vec<f32> = sn.u().into_data().try_into_vec().unwrap();
        let _ = sn.forward_linear(&layer, Tensor::<2>::ones([1, 5], &dev));
        let after: Vec<f32> = sn.u().into_data().try_into_vec().unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn invalid_config_is_typed() {
        let err = SpectralNormConfig::new()
            .with_iterations(0)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("iterations"), "{err}");
    }
}
