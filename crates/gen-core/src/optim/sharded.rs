//! Data-parallel updates: one batch split across devices, one update.
//!
//! burn-train's main-device strategy, inside [`Optimized`]: each device
//! computes the loss and gradients of its rows on a fork of the module
//! (burn's `Module::fork`, which keeps the parameter ids), the gradients
//! come to the main device (`GradientsParams::to_device`) and are summed
//! there (`GradientsAccumulator`), weighted by each shard's share of the
//! rows, and the optimizer steps once on the main device. The replicas are
//! forked from the main weights at every update, so they never drift.
//!
//! Shards are built one after the other on the calling thread, in row
//! order: the host's random draws come in the order of a one-device run,
//! and the devices work while the next shard is being issued (remote and
//! GPU devices execute asynchronously; reading a value is what waits).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor};

use super::Optimized;
use crate::error::{Error, Result};
use crate::train::{Batch, Metrics};

impl<M: Module> Optimized<M> {
    /// Trains data-parallel over `devices`; the first must be this
    /// module's device (the main one, which holds the weights, the
    /// optimizer and the average). One device turns data parallelism off.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an empty list or a first device that
    /// is not the module's.
    pub fn replicate(&mut self, devices: &[Device]) -> Result<()> {
        let (first, rest) = devices
            .split_first()
            .ok_or_else(|| Error::config("devices", "names no device"))?;
        if first.clone().inner().autodiff() != self.device {
            return Err(Error::config(
                "devices",
                format!(
                    "must start with the device the model is on ({:?}), found {first:?}",
                    self.device.clone().inner()
                ),
            ));
        }
        self.replicas = rest.iter().map(|d| d.clone().inner().autodiff()).collect();
        Ok(())
    }

    /// The devices an update runs on: the main device, then the replicas.
    pub fn devices(&self) -> Vec<Device> {
        std::iter::once(self.device.clone())
            .chain(self.replicas.iter().cloned())
            .collect()
    }

    /// The module on `device`: itself on the main device, a fork (same
    /// weights, same parameter ids, its own autodiff graph) elsewhere.
    pub fn replica(&self, device: &Device) -> M {
        let module = self.state.module.clone();
        if *device == self.device {
            module
        } else {
            module.fork(device)
        }
    }

    /// One update from `batch`, split by rows across [`devices`](Self::devices):
    /// `loss(module, shard)` runs once per shard with the module on the
    /// shard's device and returns the shard's mean loss and its metrics.
    /// The gradients are averaged with weights proportional to the shard
    /// sizes, which is the gradient of the mean loss over the whole batch;
    /// the metrics are averaged the same way. On one device this is
    /// [`update`](Self::update) of `loss(module, batch)`.
    ///
    /// # Errors
    /// The first error `loss` returns; nothing is updated then.
    pub fn update_sharded(
        &mut self,
        batch: Batch,
        mut loss: impl FnMut(&M, Batch) -> Result<(Tensor<1>, Metrics)>,
    ) -> Result<Metrics> {
        let mut parts = Vec::new();
        let mut metrics = Vec::new();
        for (weight, shard) in batch.split(&self.devices()) {
            let module = self.replica(&shard.device());
            let (value, m) = loss(&module, shard)?;
            parts.push(Share {
                weight,
                module,
                loss: value,
            });
            metrics.push((weight, m));
        }
        self.update_from(parts);
        Ok(Metrics::weighted(metrics, &self.device))
    }

    /// One update from the losses of several shards, each computed with a
    /// [`replica`](Self::replica) (for a family whose step needs the
    /// replicas beyond one loss, like a GAN's generator, whose fakes feed
    /// the critic first). The gradients of `weight * loss` are taken with
    /// respect to each share's module, brought to the main device and
    /// summed; one share on the main device is [`update`](Self::update).
    pub fn update_from(&mut self, mut shares: Vec<Share<M>>) {
        if let [share] = shares.as_slice()
            && share.weight == 1.0
            && share.loss.device() == self.device
        {
            let share = shares.remove(0);
            self.update(share.loss);
            return;
        }
        let mut sum = GradientsAccumulator::<M>::new();
        let mut total: Option<Tensor<1>> = None;
        for Share {
            weight,
            module,
            loss,
        } in shares
        {
            let weighted = loss * weight;
            let grads = GradientsParams::from_grads(weighted.backward(), &module)
                .to_device(&self.device, &self.state.module);
            sum.accumulate(&self.state.module, grads);
            let here = weighted.detach().to_device(&self.device);
            total = Some(match total {
                Some(t) => t + here,
                None => here,
            });
        }
        if let Some(total) = total {
            self.update_with(total, sum.grads());
        }
    }
}

/// One shard's part of a data-parallel update: its share of the batch's
/// rows, the module replica it ran on, and its mean loss.
#[derive(Debug)]
pub struct Share<M> {
    /// The shard's rows over the batch's (the shares of one batch sum to 1).
    pub weight: f64,
    /// The replica the loss was computed with.
    pub module: M,
    /// The shard's mean loss (one element, autodiff).
    pub loss: Tensor<1>,
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;
    use crate::optim::{Guarded, OptimConfig};

    fn batch(dev: &Device) -> Batch {
        let values: Vec<f32> = (0..21).map(|i| (i as f32 * 0.37).sin()).collect();
        Batch::new(Tensor::from_data(TensorData::new(values, [7, 3]), dev))
    }

    fn loss(model: &Linear, b: Batch) -> Result<(Tensor<1>, Metrics)> {
        let l = model.forward(b.data).powi_scalar(2).mean();
        Ok((l.clone(), Metrics::new().with_tensor("loss", l)))
    }

    fn trained(devices: usize) -> (Vec<f32>, f64) {
        let dev = Device::flex();
        let model = crate::rng::with_seed(5, &dev, || LinearConfig::new(3, 2).init(&dev));
        let mut opt = Optimized::new(model, OptimConfig::new().with_lr(0.05), &dev).unwrap();
        opt.replicate(&vec![dev.clone(); devices]).unwrap();
        let mut last = 0.0;
        for _ in 0..3 {
            let mut m = opt.update_sharded(batch(opt.device()), loss).unwrap();
            opt.settle().unwrap();
            m.resolve();
            last = m.get("loss").unwrap();
        }
        let w = opt
            .module()
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        (w, last)
    }

    #[test]
    fn shards_average_to_the_whole_batch() {
        let (one, l1) = trained(1);
        for k in [2, 3] {
            let (many, lk) = trained(k);
            assert!((l1 - lk).abs() < 1e-6, "{k} shards: loss {lk} vs {l1}");
            for (a, b) in one.iter().zip(&many) {
                assert!((a - b).abs() < 1e-6, "{k} shards: {a} vs {b}");
            }
        }
    }

    #[test]
    fn the_first_device_must_be_the_models() {
        let dev = Device::flex();
        let model = LinearConfig::new(3, 2).init(&dev);
        let mut opt = Optimized::new(model, OptimConfig::new(), &dev).unwrap();
        assert!(opt.replicate(&[]).is_err());
        assert!(opt.replicate(&[dev]).is_ok());
    }
}
