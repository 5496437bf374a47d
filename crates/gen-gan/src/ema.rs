//! An exponential moving average of a model's weights (Yazici et al., 2019,
//! "The Unusual Effectiveness of Averaging in GAN Training"; Karras et al.,
//! 2018): after each generator update,
//! `ema <- decay * ema + (1 - decay) * weights`.
//!
//! Every float tensor the module visits is averaged: trainable parameters
//! and buffers such as BatchNorm's running statistics. The average lives
//! without autodiff (it is never trained), on the inner device of the
//! model's device.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use std::collections::VecDeque;

/// Collects flattened, detached copies of every float tensor, in visiting
/// order, without autodiff.
struct Collect(VecDeque<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().detach();
        let t = if t.is_autodiff() { t.inner() } else { t };
        let n = t.shape().num_elements();
        self.0.push_back(t.reshape([n]));
    }
}

/// Mixes each float tensor with the next collected one.
struct Mix {
    current: VecDeque<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Mix {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(cur) = self.current.pop_front() else {
            return param;
        };
        let decay = self.decay;
        param.map(|old| {
            if old.shape().num_elements() != cur.shape().num_elements() {
                return old;
            }
            let cur: Tensor<D> = cur.to_device(&old.device()).reshape(old.dims());
            old * decay + cur * (1.0 - decay)
        })
    }
}

/// A copy of `model` to start the average from: its weights, without
/// autodiff.
pub fn init<M: Module>(model: &M) -> M {
    model.valid()
}

/// `decay * average + (1 - decay) * model`, tensor by tensor. `average`
/// must be a copy of `model`'s structure (from [`init`]); tensors that do
/// not match in size are left as they are.
pub fn update<M: Module>(average: M, model: &M, decay: f64) -> M {
    let mut collect = Collect(VecDeque::new());
    model.visit(&mut collect);
    average.map(&mut Mix {
        current: collect.0,
        decay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpGanConfig;
    use burn::tensor::Device;

    fn values<M: Module>(m: &M) -> Vec<f32> {
        let mut c = Collect(VecDeque::new());
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

    #[test]
    fn average_moves_towards_the_model() {
        let dev = Device::flex().autodiff();
        let cfg = MlpGanConfig::new(3).with_generator_hidden(vec![4]);
        dev.seed(0);
        let a = cfg.init_generator(&dev).unwrap();
        dev.seed(1);
        let b = cfg.init_generator(&dev).unwrap();
        let avg = update(init(&a), &b, 0.75);
        let (va, vb, vm) = (values(&a), values(&b), values(&avg));
        assert!(!vm.is_empty());
        for ((x, y), m) in va.iter().zip(&vb).zip(&vm) {
            assert!((0.75 * x + 0.25 * y - m).abs() < 1e-6);
        }
        assert!(!avg.devices()[0].is_autodiff());
    }
}
