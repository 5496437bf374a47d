//! Toy 2-D distributions, the standard test beds for generative models.
//!
//! Each is sampled from a seed and a count, so tests and benchmarks are
//! reproducible. Ranges are roughly `[-2, 2]` on both axes.

use std::f32::consts::PI;
use std::str::FromStr;

use gen_core::SeededRng;

use crate::error::{Error, Result};
use crate::loader::TensorDataset;

/// A 2-D distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toy2d {
    /// Eight Gaussians (std 0.05) on a circle of radius 2: the mode-collapse
    /// test of Metz et al. (2017).
    EightGaussians,
    /// Two interleaved half circles with Gaussian noise (std 0.1), centred
    /// and scaled like scikit-learn's `make_moons` then shifted to the origin.
    TwoMoons,
    /// A 2-D swiss roll (Marsland, 2009), scaled to radius about 2, noise std 0.05.
    SwissRoll,
    /// A 4x4 checkerboard on `[-2, 2]^2`, uniform on the 8 dark squares.
    Checkerboard,
}

impl Toy2d {
    /// Every distribution.
    pub const ALL: [Toy2d; 4] = [
        Toy2d::EightGaussians,
        Toy2d::TwoMoons,
        Toy2d::SwissRoll,
        Toy2d::Checkerboard,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Toy2d::EightGaussians => "8gaussians",
            Toy2d::TwoMoons => "moons",
            Toy2d::SwissRoll => "swissroll",
            Toy2d::Checkerboard => "checkerboard",
        }
    }

    /// `n` points as a flat `[n * 2]` vector (x0, y0, x1, y1...), with the
    /// component each point came from (the Gaussian, the moon, the square)
    /// as its label.
    pub fn sample(self, n: usize, rng: &mut SeededRng) -> (Vec<f32>, Vec<i64>) {
        let mut points = Vec::with_capacity(2 * n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let (x, y, label) = match self {
                Toy2d::EightGaussians => {
                    let k = rng.below(8);
                    let angle = k as f32 * PI / 4.0;
                    let e = rng.normal_vec(2);
                    (
                        2.0 * angle.cos() + 0.05 * e[0],
                        2.0 * angle.sin() + 0.05 * e[1],
                        k,
                    )
                }
                Toy2d::TwoMoons => {
                    let k = rng.below(2);
                    let t = rng.uniform_vec(1, 0.0, PI)[0];
                    let (x, y) = if k == 0 {
                        (t.cos(), t.sin())
                    } else {
                        (1.0 - t.cos(), 0.5 - t.sin())
                    };
                    let e = rng.normal_vec(2);
                    // Centre (0.5, 0.25) and scale by 1.2 to fill about [-2, 2].
                    (
                        1.2 * (x - 0.5 + 0.1 * e[0]),
                        1.2 * (y - 0.25 + 0.1 * e[1]),
                        k,
                    )
                }
                Toy2d::SwissRoll => {
                    let u = rng.uniform_vec(1, 0.0, 1.0)[0];
                    let t = 1.5 * PI * (1.0 + 2.0 * u);
                    let e = rng.normal_vec(2);
                    let scale = 2.0 / (4.5 * PI);
                    (
                        scale * t * t.cos() + 0.05 * e[0],
                        scale * t * t.sin() + 0.05 * e[1],
                        (u * 4.0).min(3.0) as usize,
                    )
                }
                Toy2d::Checkerboard => {
                    let cell = rng.below(8);
                    let row = cell / 2;
                    let col = 2 * (cell % 2) + (row % 2);
                    let u = rng.uniform_vec(2, 0.0, 1.0);
                    (col as f32 + u[0] - 2.0, row as f32 + u[1] - 2.0, cell)
                }
            };
            points.push(x);
            points.push(y);
            labels.push(label as i64);
        }
        (points, labels)
    }

    /// `n` points as a labelled dataset of `[2]` rows.
    pub fn dataset(self, n: usize, rng: &mut SeededRng) -> TensorDataset {
        let (points, labels) = self.sample(n, rng);
        TensorDataset::new(points, [2], Some(labels)).expect("sizes are consistent")
    }
}

impl FromStr for Toy2d {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::Core(gen_core::Error::config(
                    "toy",
                    format!("unknown distribution `{s}`: expected 8gaussians, moons, swissroll or checkerboard"),
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_in_range() {
        for toy in Toy2d::ALL {
            let (a, la) = toy.sample(500, &mut SeededRng::new(1));
            let (b, _) = toy.sample(500, &mut SeededRng::new(1));
            assert_eq!(a, b, "{toy:?} is not deterministic");
            assert_eq!((a.len(), la.len()), (1000, 500));
            assert!(a.iter().all(|v| v.abs() < 3.0), "{toy:?} out of range");
            assert_eq!(toy.name().parse::<Toy2d>().unwrap(), toy);
        }
        assert!("spiral".parse::<Toy2d>().is_err());
    }

    #[test]
    fn eight_gaussians_sit_on_the_ring() {
        let (p, labels) = Toy2d::EightGaussians.sample(800, &mut SeededRng::new(2));
        for (xy, &k) in p.chunks(2).zip(&labels) {
            let r = (xy[0] * xy[0] + xy[1] * xy[1]).sqrt();
            assert!((r - 2.0).abs() < 0.3, "radius {r}");
            let angle = k as f32 * PI / 4.0;
            assert!((xy[0] - 2.0 * angle.cos()).abs() < 0.3);
        }
        let mut seen = [0; 8];
        labels.iter().for_each(|&k| seen[k as usize] += 1);
        assert!(seen.iter().all(|&c| c > 60), "{seen:?}");
    }

    #[test]
    fn checkerboard_fills_only_dark_squares() {
        let (p, _) = Toy2d::Checkerboard.sample(2000, &mut SeededRng::new(3));
        for xy in p.chunks(2) {
            let (c, r) = ((xy[0] + 2.0).floor() as i32, (xy[1] + 2.0).floor() as i32);
            assert_eq!((c + r) % 2, 0, "point {xy:?} on a light square");
        }
    }
}
