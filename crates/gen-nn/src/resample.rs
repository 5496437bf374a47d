//! Changing the resolution of feature maps.

use burn::tensor::Tensor;

/// Nearest-neighbour 2x upsampling.
///
/// # Shapes
/// `[b, c, h, w]` -> `[b, c, 2h, 2w]`.
pub fn upsample_nearest(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([b, c, 2 * h, 2 * w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn each_pixel_becomes_a_two_by_two_block() {
        let dev = Device::flex();
        let x = Tensor::<4>::from_floats([[[[1.0, 2.0], [3.0, 4.0]]]], &dev);
        let y: Vec<f32> = upsample_nearest(x).into_data().try_into_vec().unwrap();
        assert_eq!(
            y,
            [
                1., 1., 2., 2., 1., 1., 2., 2., 3., 3., 4., 4., 3., 3., 4., 4.
            ]
        );
    }
}
