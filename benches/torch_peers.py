#!/usr/bin/env python3
"""PyTorch peers of our reference models, trained on real MNIST with their
usual recipes, writing samples that `evaluate --images` scores with our
classifier (issue 19: ours and PyTorch's side by side in one metric).

    python benches/torch_peers.py --model dcgan --epochs 5 --seed 0 --out out/torch/dcgan-0
    target/release/examples/evaluate --images out/torch/dcgan-0/samples.npy \\
        --range minus-one-to-one --samples 10000

Models (the layers of ../shared/bench/pytorch's scripts):
  mlp_gan  bench_mlp_gan.py's G 64-256-512-784 (LeakyReLU 0.2, tanh) and
           D 784-512-256-1; BCE with logits; Adam 2e-4 (0.5, 0.999); batch 64;
           images in [-1, 1].
  dcgan    bench_dcgan.py's G and D (BatchNorm, LeakyReLU 0.2); the same recipe.
  mlp_vae  PyTorch's examples/vae: 784-400-20 (ReLU), Bernoulli decoder,
           BCE summed; Adam 1e-3; batch 128; images in [0, 1]; also reports
           the test-set negative ELBO in nats per image.
Writes <out>/samples.npy (float32 [n, 1, 28, 28]; GANs in [-1, 1], the
VAE's Bernoulli means in [0, 1]) and <out>/run.json (recipe, seed, epochs,
wall time, per-epoch losses; the VAE's test -ELBO).
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data", "mnist")


def idx_images(path):
    """An IDX image file (gzip or not) as uint8 [n, 28, 28]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
        data = np.frombuffer(f.read(), dtype=np.uint8)
    if data.size != n * rows * cols:
        raise SystemExit(f"{path}: truncated ({data.size} of {n * rows * cols} bytes)")
    return data.reshape(n, rows, cols)


def find(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{data_dir}: no {stem}[.gz]; pass --data with the MNIST IDX files")


class MlpG(nn.Module):
    latent = 64  # bench_mlp_gan.py's Z

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(self.latent, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 784), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class MlpD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 1))

    def forward(self, x):
        return self.net(x)


class DcG(nn.Module):
    latent = 100

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(self.latent, 128 * 7 * 7)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())

    def forward(self, z):
        return self.net(F.relu(self.fc(z)).view(-1, 128, 7, 7))


class DcD(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1))

    def forward(self, x):
        return self.net(x)


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))  # logits

    def neg_elbo(self, x):
        """Per-image negative ELBO (nats): BCE summed + KL."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = F.binary_cross_entropy_with_logits(self.decode(z), x, reduction="none").sum(1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return rec + kl


def batches(images, batch, gen):
    order = torch.randperm(len(images), generator=gen)
    for i in range(0, len(images) - batch + 1, batch):  # full batches only
        yield images[order[i:i + batch]]


def train_gan(g, d, images, args, gen, log):
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ones, zeros = torch.ones(args.batch, 1), torch.zeros(args.batch, 1)
    for epoch in range(args.epochs):
        sums, n = np.zeros(2), 0
        for real in batches(images, args.batch, gen):
            fake = g(torch.randn(args.batch, g.latent, generator=gen))
            loss_d = (F.binary_cross_entropy_with_logits(d(real), ones)
                      + F.binary_cross_entropy_with_logits(d(fake.detach()), zeros))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            sums += (loss_d.item(), loss_g.item())
            n += 1
        log(epoch, {"loss_d": sums[0] / n, "loss_g": sums[1] / n})
    g.eval()
    with torch.no_grad():
        return torch.cat([g(torch.randn(1000, g.latent, generator=gen)) for _ in range(args.samples // 1000)])


def train_vae(vae, images, test, args, gen, log):
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        total, n = 0.0, 0
        for x in batches(images, args.batch, gen):
            loss = vae.neg_elbo(x).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            n += len(x)
        log(epoch, {"neg_elbo_train": total / n})
    with torch.no_grad():
        test_nelbo = float(torch.cat([vae.neg_elbo(x) for x in test.split(500)]).mean())
        z = torch.randn(args.samples, 20, generator=gen)
        means = torch.sigmoid(vae.decode(z))
    return means.view(-1, 1, 28, 28), test_nelbo


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=["mlp_gan", "dcgan", "mlp_vae"])
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--data", default=DEFAULT_DATA, help="folder of the MNIST IDX files")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.samples % 1000:
        raise SystemExit("--samples must be a multiple of 1000")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    train = torch.from_numpy(idx_images(find(args.data, "train-images-idx3-ubyte")).copy()).float() / 255
    test = torch.from_numpy(idx_images(find(args.data, "t10k-images-idx3-ubyte")).copy()).float() / 255
    os.makedirs(args.out, exist_ok=True)
    epochs = []

    def log(epoch, values):
        values = {"epoch": epoch + 1, "seconds": round(time.time() - start, 1), **values}
        epochs.append(values)
        print(json.dumps(values), flush=True)

    start = time.time()
    run = {"model": args.model, "seed": args.seed, "epochs": args.epochs,
           "threads": args.threads, "torch": torch.__version__}
    if args.model == "mlp_vae":
        args.batch = 128
        samples, test_nelbo = train_vae(Vae(), train.view(-1, 784), test.view(-1, 784), args, gen, log)
        run["test_neg_elbo_nats"] = test_nelbo
        run["range"] = "zero-to-one"
    else:
        args.batch = 64
        g, d = (MlpG(), MlpD()) if args.model == "mlp_gan" else (DcG(), DcD())
        samples = train_gan(g, d, (train * 2 - 1).unsqueeze(1), args, gen, log)
        run["range"] = "minus-one-to-one"
    run.update(batch=args.batch, seconds=round(time.time() - start, 1), per_epoch=epochs)
    np.save(os.path.join(args.out, "samples.npy"), samples.numpy().astype(np.float32))
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump(run, f, indent=1)
    print(json.dumps({k: v for k, v in run.items() if k != "per_epoch"}))


if __name__ == "__main__":
    main()
