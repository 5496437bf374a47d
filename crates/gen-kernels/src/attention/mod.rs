//! Multi-head self-attention from a fused `q | k | v` projection: our
//! kernels on burn-flex (f32). There is no single burn operation to fall
//! back to, so [`self_attention`] says when it does not apply and the
//! caller computes it with burn's operations (gen-nn's `attend`).

#[cfg(feature = "flex")]
mod ext;
#[cfg(feature = "flex")]
mod kernels;

use burn::tensor::Tensor;

/// `softmax(q k^T / sqrt(d) [+ causal mask]) v` for every head, from
/// `qkv: [b, t, 3c]` (channels `0..c` the queries, `c..2c` the keys,
/// `2c..3c` the values; head `h` owns channels `h d..(h + 1) d` of each,
/// `d = c / heads`) to `[b, t, c]` (head `h`'s output in channels
/// `h d..(h + 1) d`), as GPT-2 and nanoGPT compute it (`causal`: position
/// `i` sees positions `0..=i`).
///
/// `None` when our kernel does not run here (not a flex f32 tensor,
/// [`fast_path`](crate::fast_path) off, or `heads` not dividing `c`): the
/// caller then computes it with burn's operations.
pub fn self_attention(qkv: &Tensor<3>, heads: usize, causal: bool) -> Option<Tensor<3>> {
    #[cfg(feature = "flex")]
    {
        let [batch, len, three_c] = qkv.dims();
        let width = three_c / 3;
        if heads > 0
            && three_c % 3 == 0
            && width % heads == 0
            && width > 0
            && len > 0
            && crate::fast_path(&qkv.device())
            && qkv.dtype() == burn::tensor::DType::F32
        {
            let dims = kernels::Dims {
                batch,
                len,
                width,
                heads,
                causal,
            };
            return Some(ext::run(qkv.clone(), dims));
        }
    }
    let _ = (qkv, heads, causal);
    None
}
