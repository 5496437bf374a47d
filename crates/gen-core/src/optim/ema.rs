//! The exponential moving average of a module's weights (Polyak & Juditsky
//! 1992; for GANs Yazici et al. 2019, for diffusion Ho et al. 2020 and
//! Nichol & Dhariwal 2021): after each update,
//! `ema <- d ema + (1 - d) weights`, with the decay `d` of
//! [`EmaConfig::decay_at`].
//!
//! Every float tensor the module visits is averaged: trainable parameters
//! and buffers such as BatchNorm's running statistics or a spectral norm's
//! power-iteration vector. The average lives without autodiff (it is never
//! trained), on the inner device of the model's device.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use super::config::EmaConfig;

/// A moving average of a module's weights, on the plain device.
#[derive(Clone, Debug)]
pub struct Ema<M: Module> {
    average: M,
    config: EmaConfig,
}

impl<M: Module> Ema<M> {
    /// Starts the average at `model`'s weights (moved off autodiff).
    pub fn new(model: &M, config: EmaConfig) -> Self {
        Self {
            average: model.valid(),
            config,
        }
    }

    /// The averaged module, without autodiff.
    pub fn module(&self) -> &M {
        &self.average
    }

    /// Replaces the averaged weights (from a checkpoint).
    pub fn set_module(&mut self, average: M) {
        self.average = average;
    }

    /// Moves the average towards `model` after update `k` (0-based).
    /// `model` must have the average's structure (it is the module the
    /// average was started from, updated).
    pub fn update(&mut self, model: &M, k: u64) {
        let decay = self.config.decay_at(k);
        let mut live = Collect(Vec::new());
        model.visit(&mut live);
        let average = self.average.clone();
        self.average = average.map(&mut Blend {
            live: live.0.into_iter(),
            decay,
        });
    }
}

/// A module's float tensors, flattened and detached onto the inner device,
/// in visiting order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach();
        let t = if t.is_autodiff() { t.inner() } else { t };
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

/// `ema <- decay * ema + (1 - decay) * live`, tensor by tensor (the two
/// modules have the same structure, hence the same visiting order).
struct Blend {
    live: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let live = self
            .live
            .next()
            .expect("the average and the model have the same structure");
        let decay = self.decay;
        param.map(|ema| {
            let live = live.to_device(&ema.device()).reshape(ema.dims());
            if decay == 0.0 {
                live
            } else {
                ema * decay + live * (1.0 - decay)
            }
        })
    }
}

/// Flattened host copies of a module's float tensors (tests).
#[cfg(test)]
pub(crate) fn values<M: Module>(m: &M) -> Vec<f32> {
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0.into_iter()
        .flat_map(|t| {
            t.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .unwrap()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
    use burn::tensor::Device;

    #[derive(Module, Debug)]
    struct Net {
        linear: Linear,
        norm: BatchNorm,
    }

    fn net(seed: u64, dev: &Device) -> Net {
        crate::rng::with_seed(seed, dev, || {
            crate::rng::init_now(Net {
                linear: LinearConfig::new(3, 4).init(dev),
                norm: BatchNormConfig::new(4).init(dev),
            })
        })
    }

    #[test]
    fn average_moves_towards_the_model_buffers_included() {
        let dev = Device::flex().autodiff();
        let a = net(0, &dev);
        let b = net(1, &dev);
        // Move b's running statistics so that buffers differ too.
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 2.0]], &dev);
        let _ = b.norm.forward(x);
        let mut ema = Ema::new(&a, EmaConfig::new(0.75).with_warmup(false));
        ema.update(&b, 0);
        let (va, vb, vm) = (values(&a), values(&b), values(ema.module()));
        assert_eq!(va.len(), vm.len());
        assert!(va.iter().zip(&vb).any(|(x, y)| x != y));
        for ((x, y), m) in va.iter().zip(&vb).zip(&vm) {
            assert!((0.75 * x + 0.25 * y - m).abs() < 1e-6);
        }
        assert!(!ema.module().devices()[0].is_autodiff());
        // Decay 0 copies the model.
        let mut copy = Ema::new(&a, EmaConfig::new(0.0));
        copy.update(&b, 5);
        assert_eq!(values(copy.module()), vb);
    }
}
