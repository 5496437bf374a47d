//! Batch normalisation in training mode (batch statistics): our kernels
//! on burn-flex (f32), burn's own operation everywhere else.

#[cfg(feature = "flex")]
mod ext;
#[cfg(feature = "flex")]
mod kernels;

use burn::tensor::Tensor;
use burn::tensor::module::{self, BatchNormTrainOutput};

/// Batch normalisation with the batch's own statistics, as
/// [`burn::tensor::module::batch_norm_train`] defines it: each channel
/// (axis 1) normalised by its mean and biased variance over every other
/// axis, then scaled by `gamma` and shifted by `beta`; also returns those
/// statistics (detached), for a layer's running averages. By our kernels
/// when [`fast_path`](crate::fast_path) holds, by burn otherwise (which
/// also reports inconsistent shapes).
///
/// # Shapes
/// `x: [batch, channels, ...]`, `gamma, beta: [channels]` -> the output
/// `[batch, channels, ...]`, the mean and the variance `[channels]`.
pub fn batch_norm_train<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> BatchNormTrainOutput<D> {
    #[cfg(feature = "flex")]
    {
        use burn::tensor::DType;
        let dims = x.dims();
        if D >= 2
            && dims[1] > 0
            && gamma.dims() == [dims[1]]
            && beta.dims() == [dims[1]]
            && dims.iter().all(|&n| n > 0)
            && crate::fast_path(&x.device())
            && [x.dtype(), gamma.dtype(), beta.dtype()] == [DType::F32; 3]
        {
            let k = kernels::Dims {
                batch: dims[0],
                channels: dims[1],
                spatial: dims[2..].iter().product(),
            };
            return ext::run(x, gamma, beta, k, epsilon);
        }
    }
    module::batch_norm_train(x, gamma, beta, epsilon)
}
