//! Seeding and determinism.
//!
//! Every random draw a model makes during training or sampling (noise
//! vectors, shuffles) comes from a [`SeededRng`] on the host, and is then
//! uploaded to the device. That gives three guarantees that burn's own
//! per-device generators do not:
//!
//! - the same seed gives the same numbers on every backend, so flex, ndarray
//!   and wgpu can be compared output for output;
//! - the generator's state is plain data, saved in checkpoints, so a resumed
//!   run continues the stream exactly where it stopped;
//! - it does not depend on thread scheduling.
//!
//! Parameter initialisation uses burn's initialisers, which draw from the
//! device's generator: [`seed_device`] seeds it, and models that must agree
//! across backends are initialised once and moved with `to_device`.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A seedable, serialisable random generator (ChaCha8).
///
/// ```
/// use gen_core::rng::SeededRng;
///
/// let mut a = SeededRng::new(7);
/// let mut b = SeededRng::new(7);
/// assert_eq!(a.normal_vec(4), b.normal_vec(4));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

impl SeededRng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A generator derived from `seed` and a stream number, independent of
    /// the generator for any other stream (e.g. one per epoch).
    pub fn derived(seed: u64, stream: u64) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream);
        Self { inner }
    }

    /// The underlying generator, for use with `rand`'s APIs.
    pub fn as_rng(&mut self) -> &mut impl Rng {
        &mut self.inner
    }

    /// `n` draws from a standard normal distribution.
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| StandardNormal.sample(&mut self.inner))
            .collect()
    }

    /// `n` draws from the uniform distribution on `[low, high)`.
    pub fn uniform_vec(&mut self, n: usize, low: f32, high: f32) -> Vec<f32> {
        (0..n).map(|_| self.inner.random_range(low..high)).collect()
    }

    /// A uniform integer in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.inner.random_range(0..n)
    }

    /// A tensor of standard normal draws with the given shape.
    pub fn normal<const D: usize>(&mut self, shape: [usize; D], device: &Device) -> Tensor<D> {
        let values = self.normal_vec(shape.iter().product());
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// A tensor of uniform draws on `[low, high)` with the given shape.
    pub fn uniform<const D: usize>(
        &mut self,
        shape: [usize; D],
        low: f32,
        high: f32,
        device: &Device,
    ) -> Tensor<D> {
        let values = self.uniform_vec(shape.iter().product(), low, high);
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.inner.random_range(0..=i);
            p.swap(i, j);
        }
        p
    }
}

/// Seeds the device's own generator (used by burn's parameter
/// initialisers) and returns a [`SeededRng`] with the same seed for every
/// other draw.
///
/// burn's device generators are process-wide: another thread that seeds or
/// draws between this call and the initialisation changes the weights. Use
/// [`with_seed`] where threads may initialise models concurrently.
pub fn seed_device(seed: u64, device: &Device) -> SeededRng {
    device.seed(seed);
    SeededRng::new(seed)
}

/// Seeds the device's generator and runs `init` (typically model
/// construction) while holding a process-wide lock, so that concurrent
/// threads doing the same cannot interleave their draws: the result depends
/// only on `seed`.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use gen_core::rng::with_seed;
///
/// let dev = Device::flex();
/// let draw = || Tensor::<1>::random([4], Distribution::Default, &dev).into_data();
/// assert_eq!(with_seed(3, &dev, draw), with_seed(3, &dev, draw));
/// ```
pub fn with_seed<T>(seed: u64, device: &Device, init: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    init()
}

/// Forces burn's lazy parameter initialisation to happen now, on the
/// module's current device.
///
/// burn initialises a parameter on its first use, wherever the module is by
/// then: a module built after [`seed_device`] and moved to another backend
/// before its first forward pass would draw its weights from the other
/// backend's generator. Model constructors of the family call this, so the
/// weights depend only on the seed and on the device they were built on.
pub fn init_now<M: Module>(module: M) -> M {
    struct Touch;
    impl ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let _ = param.val();
        }
        fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut Touch);
    module
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_state_round_trips() {
        let mut a = SeededRng::new(1);
        a.normal_vec(10);
        let json = serde_json::to_string(&a).unwrap();
        let mut b: SeededRng = serde_json::from_str(&json).unwrap();
        assert_eq!(a.normal_vec(5), b.normal_vec(5));
        assert_ne!(
            SeededRng::new(1).normal_vec(3),
            SeededRng::new(2).normal_vec(3)
        );
    }

    #[test]
    fn derived_streams_differ() {
        let a = SeededRng::derived(3, 0).permutation(50);
        let b = SeededRng::derived(3, 1).permutation(50);
        assert_ne!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn normal_draws_have_unit_moments() {
        let v = SeededRng::new(0).normal_vec(20_000);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }
}
