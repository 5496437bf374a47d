//! The PyTorch names of the UNet.

use gen_core::interop::TorchModule;

use super::UNet;

/// PyTorch names. The compact layout takes bench_ddpm.py's `UNet` names:
/// `temb.0` / `temb.2` (the time MLP), `conv_in`, `d<l>` and `ds<l>` (level
/// `l`'s block and strided conv, from 1), `m1`, `attn`, `m2`, `us<l>.conv`
/// (the upsampling conv into level `l`), `u<l>`, and `out.0` / `out.2` (the
/// output GroupNorm and conv); inside a block `n1`, `c1`, `t`, `n2`, `c2`,
/// `skip`, inside attention `n`, `qkv`, `proj`. The class embedding of a
/// conditional model stays `cond.classes.weight`. The full layout has no
/// PyTorch twin and keeps its own paths.
impl TorchModule for UNet {
    fn torch_key(&self, path: &str) -> String {
        match self {
            UNet::Full(_) => path.strip_prefix("Full.").map(str::to_owned),
            UNet::Compact(net) => path
                .strip_prefix("Compact.")
                .and_then(|p| compact_torch_key(p, net.down.len() + 1)),
        }
        .unwrap_or_else(|| path.to_owned())
    }
}

/// [`TorchModule::torch_key`] of a compact UNet with `levels` levels.
fn compact_torch_key(path: &str, levels: usize) -> Option<String> {
    let (module, param) = path.rsplit_once('.')?;
    let segments: Vec<&str> = module.split('.').collect();
    let index = |s: &str| s.parse::<usize>().ok();
    let (head, rest): (String, &[&str]) = match segments.as_slice() {
        ["ends", "cond", "linear1", rest @ ..] => ("temb.0".into(), rest),
        ["ends", "cond", "linear2", rest @ ..] => ("temb.2".into(), rest),
        ["ends", "cond", "classes", rest @ ..] => ("cond.classes".into(), rest),
        ["ends", "conv_in", rest @ ..] => ("conv_in".into(), rest),
        ["ends", "norm_out", rest @ ..] => ("out.0".into(), rest),
        ["ends", "conv_out", rest @ ..] => ("out.2".into(), rest),
        ["down", i, "blocks", "0", rest @ ..] => (format!("d{}", index(i)? + 1), rest),
        ["down", i, "resample", rest @ ..] => (format!("ds{}", index(i)? + 1), rest),
        ["middle", "0", "attention", rest @ ..] => ("attn".into(), rest),
        ["middle", m, rest @ ..] => (format!("m{}", index(m)? + 1), rest),
        ["up", j, "blocks", "0", rest @ ..] => {
            (format!("u{}", levels.checked_sub(index(j)?)?), rest)
        }
        ["up", j, "resample", rest @ ..] => (
            format!("us{}.conv", levels.checked_sub(index(j)? + 1)?),
            rest,
        ),
        _ => return None,
    };
    let mut key = head;
    for segment in rest {
        key.push('.');
        key.push_str(match *segment {
            "norm1" => "n1",
            "conv1" => "c1",
            "time" => "t",
            "norm2" => "n2",
            "conv2" => "c2",
            "norm" => "n",
            other => other,
        });
    }
    key.push('.');
    key.push_str(param);
    Some(key)
}
