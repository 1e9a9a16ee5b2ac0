#!/usr/bin/python3
"""The demo's model and recipe in PyTorch (Debian python3-torch), for comparing accuracy and
time to accuracy with `zfnet train` / `zfnet demo`.

Same model file (models/zfnet-mini.cfg built by tests/torch/zftorch.py: the same layers,
ceil-mode pooling, LRN convention), same data (Debian's Fashion-MNIST), same preprocessing
((pixel - per-pixel mean) / 255, crops from the image zero-padded by --crop-pad after mean
subtraction, random mirroring), same initialisation (He normal, zero biases), same optimiser
(SGD, momentum 0.9, weight decay on every parameter, batch 128, last partial batch dropped)
and schedule (learning rate / 10 after each of --lr-steps epochs). Evaluated on the centre
view after every epoch. Prints one line per epoch and a JSON summary (--json FILE).

Usage: bench/train_torch.py [--epochs 30] [--lr 0.05] [--lr-steps 20,26] [--threads 2]
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "torch"))
import zftorch as zt  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "zfnet-mini.cfg"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--lr-steps", default="20,26")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--crop-pad", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    xtr = idx(FMNIST + "train-images-idx3-ubyte.gz").astype(np.float32)
    ytr = idx(FMNIST + "train-labels-idx1-ubyte.gz").astype(np.int64)
    xte = idx(FMNIST + "t10k-images-idx3-ubyte.gz").astype(np.float32)
    yte = idx(FMNIST + "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    mean = xtr.mean(0)
    xtr = ((xtr - mean) / 255)[:, None]
    xte = torch.from_numpy(((xte - mean) / 255)[:, None].copy())
    p = a.crop_pad
    xpad = np.pad(xtr, ((0, 0), (0, 0), (p, p), (p, p)))
    _, mods = zt.build(open(a.model).read())
    seq = torch.nn.Sequential(*[m for _, k, m in mods if k != "softmax"])
    for m in seq.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")  # He, fan-in
            torch.nn.init.zeros_(m.bias)
    steps = [int(s) for s in a.lr_steps.split(",") if s]
    opt = torch.optim.SGD(seq.parameters(), lr=a.lr, momentum=a.momentum,
                          weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=steps, gamma=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    n, H = len(xtr), xtr.shape[2]
    log, t0 = [], time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        seq.train()
        order = rng.permutation(n)
        total, batches = 0.0, 0
        for b in range(n // a.batch):
            ids = order[b * a.batch:(b + 1) * a.batch]
            oy = rng.integers(0, 2 * p + 1, len(ids))
            ox = rng.integers(0, 2 * p + 1, len(ids))
            flip = rng.integers(0, 2, len(ids)).astype(bool)
            x = np.empty((len(ids), 1, H, H), np.float32)
            for j, i in enumerate(ids):
                v = xpad[i, :, oy[j]:oy[j] + H, ox[j]:ox[j] + H]
                x[j] = v[..., ::-1] if flip[j] else v
            opt.zero_grad()
            loss = loss_fn(seq(torch.from_numpy(x)), torch.from_numpy(ytr[ids]))
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
        sched.step()
        seq.eval()
        with torch.no_grad():
            pred = torch.cat([seq(xte[i:i + 1000]).argmax(1) for i in range(0, len(xte), 1000)])
        acc = (pred.numpy() == yte).mean()
        el = time.perf_counter() - t0
        log.append({"epoch": epoch, "train_loss": total / batches, "test_accuracy": float(acc),
                    "elapsed_s": el})
        print(f"epoch {epoch:2d}/{a.epochs}  loss {total / batches:.4f}  test {100 * acc:.2f}%"
              f"  {el:.0f} s", flush=True)
    print(f"test accuracy: {100 * log[-1]['test_accuracy']:.2f}%")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"impl": "pytorch " + torch.__version__, "threads": a.threads,
                       "epochs": log}, f)


if __name__ == "__main__":
    main()
