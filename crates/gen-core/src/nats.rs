//! Likelihood units: nats per example to bits per dimension, and the
//! stable log-mean-exp of importance weights. Every family reports its
//! likelihoods through these (VAE test NLLs, the diffusion bound, a
//! language model's loss per character).

/// Converts a negative log-likelihood in nats per example to bits per
/// dimension (`nats / (dims ln 2)`).
///
/// ```
/// let bpd = gen_core::nats::bits_per_dim(784.0 * std::f64::consts::LN_2, 784);
/// assert!((bpd - 1.0).abs() < 1e-12);
/// ```
pub fn bits_per_dim(nats_per_example: f64, dims: usize) -> f64 {
    nats_per_example / (dims as f64 * std::f64::consts::LN_2)
}

/// `log(mean(exp(values)))`, computed stably: the importance-sampled
/// log-likelihood from `k` log-weights (IWAE).
pub fn log_mean_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + (values.iter().map(|v| (v - max).exp()).sum::<f64>() / values.len() as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert!((bits_per_dim(784.0 * std::f64::consts::LN_2, 784) - 1.0).abs() < 1e-12);
        assert!((log_mean_exp(&[0.0, 0.0]) - 0.0).abs() < 1e-12);
        assert!((log_mean_exp(&[1000.0, 1000.0]) - 1000.0).abs() < 1e-9);
        let v = [-1.0, -2.0, -3.0];
        let direct = (v.iter().map(|x: &f64| x.exp()).sum::<f64>() / 3.0).ln();
        assert!((log_mean_exp(&v) - direct).abs() < 1e-12);
    }
}
