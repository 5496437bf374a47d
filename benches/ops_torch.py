"""PyTorch twin of examples/bench_ops.rs: the same operations at the same
shapes (batch 64), timed forward only (no_grad, eval mode) and forward +
backward ((y * g).sum().backward() with a fixed random g, parameter
gradients included); median of --reps after two warm-up calls. One JSON line per operation, same keys.

    python benches/ops_torch.py --threads 1 > torch_ops.jsonl

The UNet pieces are imported from ../shared/bench/pytorch/bench_ddpm.py's
definitions (override with REF=...)."""
import argparse
import json
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=1)
p.add_argument("--reps", type=int, default=15)
p.add_argument("--filter", default="")
args = p.parse_args()
for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[k] = str(args.threads)
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(args.threads)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
torch.manual_seed(0)

ref = os.environ.get("REF", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "..", "shared", "bench", "pytorch"))
src = open(os.path.join(ref, "bench_ddpm.py")).read()
# keep the definitions only (up to the model construction)
src = src.split("model = UNet(")[0]
sys.argv = ["bench_ddpm.py", "--threads", str(args.threads)]
sys.path.insert(0, ref)
ns = {"__name__": "ops"}
exec(src, ns)
ResBlock, Attn, UNet, EDIM = ns["ResBlock"], ns["Attn"], ns["UNet"], ns["EDIM"]
B = 64


def median_ms(f, reps):
    for _ in range(2):
        f()
    ts = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def emit(name, fwd, fwd_bwd):
    r = lambda x: None if x is None else round(x, 3)
    print(json.dumps({"name": name, "impl": "pytorch", "threads": args.threads,
                      "fwd_ms": r(fwd), "fwd_bwd_ms": r(fwd_bwd)}))
    sys.stdout.flush()


def op(name, shape, build):
    if args.filter not in name:
        return
    f = build()
    if isinstance(f, nn.Module):
        f.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        fwd = median_ms(lambda: f(x), args.reps)
    if isinstance(f, nn.Module):
        f.train()
    xa = torch.randn(*shape, requires_grad=True)
    seed = torch.randn(f(xa).shape)

    def fb():
        if isinstance(f, nn.Module):
            f.zero_grad(set_to_none=True)
        xa.grad = None
        (f(xa) * seed).sum().backward()
    emit(name, fwd, median_ms(fb, args.reps))


op("relu [64,64,14,14]", (B, 64, 14, 14), lambda: F.relu)
op("leaky_relu [64,64,14,14]", (B, 64, 14, 14), lambda: lambda x: F.leaky_relu(x, 0.2))
op("leaky_relu [64,512]", (B, 512), lambda: lambda x: F.leaky_relu(x, 0.2))
op("tanh [64,784]", (B, 784), lambda: torch.tanh)
op("silu [64,32,28,28]", (B, 32, 28, 28), lambda: F.silu)
op("gelu [12,64,512]", (12, 64, 512), lambda: F.gelu)
op("layer_norm(128) [12,64,128]", (12, 64, 128), lambda: nn.LayerNorm(128))
op("batch_norm(64) [64,64,14,14]", (B, 64, 14, 14), lambda: nn.BatchNorm2d(64))
op("batch_norm(128) [64,128,7,7]", (B, 128, 7, 7), lambda: nn.BatchNorm2d(128))
op("group_norm(8,32) [64,32,28,28]", (B, 32, 28, 28), lambda: nn.GroupNorm(8, 32))
op("group_norm(8,128) [64,128,14,14]", (B, 128, 14, 14), lambda: nn.GroupNorm(8, 128))
for i, o in [(64, 256), (256, 512), (512, 784), (784, 512), (512, 256)]:
    op(f"linear {i}->{o} [64,{i}]", (B, i), lambda: nn.Linear(i, o))
for i, o in [(128, 384), (128, 512), (512, 128)]:
    op(f"linear {i}->{o} [12,64,{i}]", (12, 64, i), lambda: nn.Linear(i, o))
op("linear 100->6272 [64,100]", (B, 100), lambda: nn.Linear(100, 6272))
op("linear 6272->1 [64,6272]", (B, 6272), lambda: nn.Linear(6272, 1))
op("linear 3136->16 [64,3136]", (B, 3136), lambda: nn.Linear(3136, 16))
for cin, cout, side in [(1, 64, 28), (64, 128, 14), (1, 32, 28), (32, 64, 14)]:
    op(f"conv k4s2p1 {cin}->{cout} [64,{cin},{side},{side}]", (B, cin, side, side),
       lambda: nn.Conv2d(cin, cout, 4, 2, 1))
for cin, cout, side in [(128, 64, 7), (64, 1, 14), (64, 32, 7), (32, 1, 14)]:
    op(f"conv_t k4s2p1 {cin}->{cout} [64,{cin},{side},{side}]", (B, cin, side, side),
       lambda: nn.ConvTranspose2d(cin, cout, 4, 2, 1))
for cin, cout, side, stride in [(1, 32, 28, 1), (32, 32, 28, 1), (96, 32, 28, 1), (32, 32, 28, 2),
                                (64, 64, 14, 1), (128, 64, 14, 1), (64, 64, 14, 2), (64, 64, 7, 1),
                                (32, 1, 28, 1)]:
    op(f"conv k3s{stride}p1 {cin}->{cout} [64,{cin},{side},{side}]", (B, cin, side, side),
       lambda: nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
op("conv k1 32->64 [64,32,14,14]", (B, 32, 14, 14), lambda: nn.Conv2d(32, 64, 1))
k = torch.randn(B, 64, 49)
op("softmax(q^T k) [64,49,49]", (B, 49, 64), lambda: lambda q: torch.softmax(q @ k, dim=-1))
op("attention block(64) [64,64,7,7]", (B, 64, 7, 7), lambda: Attn(64))
op("nearest 2x [64,64,14,14]", (B, 64, 14, 14),
   lambda: lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))
other = torch.randn(B, 32, 28, 28)
op("cat channels 64+32 [64,*,28,28]", (B, 64, 28, 28), lambda: lambda x: torch.cat([x, other], 1))
e = torch.randn(B, EDIM)
for cin, cout, side in [(32, 32, 28), (96, 32, 28), (128, 64, 14), (64, 64, 7)]:
    op(f"resblock {cin}->{cout} [64,{cin},{side},{side}]", (B, cin, side, side),
       lambda: (lambda m: (lambda x: m(x, e)))(ResBlock(cin, cout)))

if args.filter in "unet":
    net = UNet()
    x = torch.randn(B, 1, 28, 28)
    t = torch.full((B,), 500)
    net.eval()
    with torch.no_grad():
        fwd = median_ms(lambda: net(x, t), min(args.reps, 7))
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=2e-4)
    eps = torch.randn(B, 1, 28, 28)
    tf, tb, to = [], [], []
    for i in range(min(args.reps, 7) + 2):
        t0 = time.perf_counter()
        loss = F.mse_loss(net(x, t), eps)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= 2:
            tf.append((t1 - t0) * 1e3); tb.append((t2 - t1) * 1e3); to.append((t3 - t2) * 1e3)
    med = lambda v: sorted(v)[len(v) // 2]
    emit("unet forward (inference)", fwd, None)
    emit("unet train: forward (autodiff)", med(tf), None)
    emit("unet train: backward", med(tb), None)
    emit("unet train: adam step", med(to), None)
