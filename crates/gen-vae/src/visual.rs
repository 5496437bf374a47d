//! What a VAE has learned, as image batches: reconstructions, latent
//! interpolations and latent traversals. Each returns flat means of
//! p(x | z) `[n, features]`; [`images`] reshapes them for
//! [`gen_core::save_grid`]. Prior samples come from [`gen_core::Sample`].
//!
//! All of them decode the posterior *mean* (no sampling), so the pictures
//! are deterministic.

use burn::tensor::{Device, Tensor};
use gen_core::Error as CoreError;
use gen_core::labels::{self, LabelError};

use crate::{Vae, condition_host};

/// The condition of a conditional model, which here needs its labels (the
/// pictures are deterministic: no class is drawn).
fn condition<M: Vae>(
    model: &M,
    labels: Option<&[usize]>,
    n: usize,
    device: &Device,
) -> gen_core::Result<Option<Tensor<2>>> {
    labels::check(n, labels, model.num_classes())?;
    if let (Some(classes), None) = (model.num_classes(), labels) {
        return Err(LabelError::Missing { classes }.into());
    }
    Ok(condition_host(labels, model.num_classes(), device))
}

fn check_width<M: Vae>(model: &M, x: &Tensor<2>, what: &'static str) -> gen_core::Result<()> {
    if x.dims()[1] == model.features() {
        Ok(())
    } else {
        Err(CoreError::Shape {
            what,
            expected: format!("[n, {}]", model.features()),
            found: x.dims().to_vec(),
        })
    }
}

/// The first row holds `x`, the second its reconstructions (decoded
/// posterior means): `[2n, features]`, for a grid with `n` columns.
///
/// # Errors
/// A shape error for the wrong width; label errors as
/// [`gen_core::Sample::sample`].
pub fn reconstructions<M: Vae>(
    model: &M,
    x: Tensor<2>,
    labels: Option<&[usize]>,
    device: &Device,
) -> gen_core::Result<Tensor<2>> {
    check_width(model, &x, "images to reconstruct")?;
    let model = model.valid().to_device(device);
    let x = x.to_device(device);
    let condition = condition(&model, labels, x.dims()[0], device)?;
    let q = model.encode(x.clone(), condition.clone());
    let recon = model.output().mean(model.decode(q.mean, condition));
    Ok(Tensor::cat(vec![x, recon], 0))
}

/// Decodes `steps` points on the straight line between the posterior means
/// of `a` and `b` (each `[1, features]`; the ends included):
/// `[steps, features]`. A conditional model takes one label for the strip.
///
/// # Errors
/// As [`reconstructions`], and `steps < 2`.
pub fn interpolation<M: Vae>(
    model: &M,
    a: Tensor<2>,
    b: Tensor<2>,
    steps: usize,
    label: Option<usize>,
    device: &Device,
) -> gen_core::Result<Tensor<2>> {
    if steps < 2 {
        return Err(CoreError::config(
            "steps",
            "an interpolation needs at least 2",
        ));
    }
    check_width(model, &a, "interpolation start")?;
    check_width(model, &b, "interpolation end")?;
    let model = model.valid().to_device(device);
    let labels = label.map(|l| vec![l; 2]);
    let ends = Tensor::cat(vec![a.to_device(device), b.to_device(device)], 0);
    let z = model
        .encode(ends, condition(&model, labels.as_deref(), 2, device)?)
        .mean;
    let (za, zb) = (z.clone().narrow(0, 0, 1), z.narrow(0, 1, 1));
    let rows: Vec<Tensor<2>> = (0..steps)
        .map(|i| {
            let t = i as f64 / (steps - 1) as f64;
            za.clone() * (1.0 - t) + zb.clone() * t
        })
        .collect();
    let labels = label.map(|l| vec![l; steps]);
    let cond = condition(&model, labels.as_deref(), steps, device)?;
    Ok(model
        .output()
        .mean(model.decode(Tensor::cat(rows, 0), cond)))
}

/// A latent traversal: starting from the posterior mean of `x`
/// (`[1, features]`), sets each latent coordinate in `dims` in turn to each
/// of `values` and decodes: `[dims.len() * values.len(), features]`, one
/// row of the grid per coordinate.
///
/// # Errors
/// As [`reconstructions`], and coordinates outside the latent space or
/// empty `dims` / `values`.
pub fn traversal<M: Vae>(
    model: &M,
    x: Tensor<2>,
    dims: &[usize],
    values: &[f64],
    label: Option<usize>,
    device: &Device,
) -> gen_core::Result<Tensor<2>> {
    check_width(model, &x, "traversal start")?;
    let latent = model.latent_dim();
    if dims.is_empty() || values.is_empty() {
        return Err(CoreError::config("dims", "and values must not be empty"));
    }
    if let Some(d) = dims.iter().find(|&&d| d >= latent) {
        return Err(CoreError::config(
            "dims",
            format!("{d} is not a latent coordinate (0..{latent})"),
        ));
    }
    let model = model.valid().to_device(device);
    let labels = label.map(|l| vec![l]);
    let base = model
        .encode(
            x.to_device(device),
            condition(&model, labels.as_deref(), 1, device)?,
        )
        .mean;
    let mut base_host: Vec<f32> = base
        .into_data()
        .try_into_vec()
        .map_err(|e| CoreError::Data(format!("reading the latent code back: {e:?}")))?;
    let mut rows = Vec::with_capacity(dims.len() * values.len() * latent);
    for &d in dims {
        let original = base_host[d];
        for &v in values {
            base_host[d] = v as f32;
            rows.extend_from_slice(&base_host);
        }
        base_host[d] = original;
    }
    let n = dims.len() * values.len();
    let z = Tensor::<2>::from_data(burn::tensor::TensorData::new(rows, [n, latent]), device);
    let labels = label.map(|l| vec![l; n]);
    let cond = condition(&model, labels.as_deref(), n, device)?;
    Ok(model.output().mean(model.decode(z, cond)))
}

/// Reshapes flat rows to images `[n, channels, height, width]`.
///
/// # Errors
/// A shape error when the rows are not `channels * height * width` long.
pub fn images(flat: Tensor<2>, shape: [usize; 3]) -> gen_core::Result<Tensor<4>> {
    let [n, f] = flat.dims();
    if f != shape.iter().product::<usize>() {
        return Err(CoreError::Shape {
            what: "images",
            expected: format!(
                "rows of {shape:?} = {} values",
                shape.iter().product::<usize>()
            ),
            found: vec![n, f],
        });
    }
    Ok(flat.reshape([n, shape[0], shape[1], shape[2]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpVaeConfig;
    use gen_core::SeededRng;

    #[test]
    fn shapes_and_errors() {
        let dev = Device::flex();
        let vae = MlpVaeConfig::new(4)
            .with_latent_dim(2)
            .with_hidden(vec![8])
            .with_example_shape(Some([1, 2, 2]))
            .init(&dev)
            .unwrap();
        let x = SeededRng::new(0).uniform([3, 4], 0.0, 1.0, &dev);
        assert_eq!(
            reconstructions(&vae, x.clone(), None, &dev).unwrap().dims(),
            [6, 4]
        );
        let a = x.clone().narrow(0, 0, 1);
        let b = x.clone().narrow(0, 1, 1);
        let strip = interpolation(&vae, a.clone(), b, 5, None, &dev).unwrap();
        assert_eq!(strip.dims(), [5, 4]);
        let t = traversal(&vae, a.clone(), &[0, 1], &[-2.0, 0.0, 2.0], None, &dev).unwrap();
        assert_eq!(t.dims(), [6, 4]);
        assert_eq!(images(t, [1, 2, 2]).unwrap().dims(), [6, 1, 2, 2]);
        assert!(traversal(&vae, a.clone(), &[2], &[0.0], None, &dev).is_err());
        assert!(interpolation(&vae, a.clone(), a.clone(), 1, None, &dev).is_err());
        assert!(reconstructions(&vae, Tensor::zeros([1, 5], &dev), None, &dev).is_err());
        assert!(images(Tensor::zeros([1, 5], &dev), [1, 2, 2]).is_err());
    }
}
