#!/usr/bin/python3
"""The same model and the same step in PyTorch (Debian python3-torch), for `bench/run.py`.

Usage: torch_bench.py --model zfnet|alexnet|PATH.cfg --batch N --threads T
                      [--mode infer|train] [--iters K] [--warmup W] [--bf16]
Prints one JSON object: img_per_s, ms_per_batch (median), peak_rss_mib, and the settings.
The model is built from the same model file as zfnet's (tests/torch/zftorch.py), with the
same layers, ceil-mode pooling and LRN convention; train = forward in training mode, mean
cross-entropy, backward, SGD momentum 0.9 + weight decay 5e-4. --bf16: the forward pass and the
loss under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed precision on CPUs.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "torch"))
import zftorch as zt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="zfnet")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("infer", "train"), default="infer")
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--input-size")
    ap.add_argument("--classes", type=int)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = a.model if a.model.endswith(".cfg") else os.path.join(HERE, "..", "models",
                                                                 a.model + ".cfg")
    size = tuple(int(v) for v in a.input_size.split("x")) if a.input_size else None
    model, mods = zt.build(open(path).read(), classes=a.classes, input_size=size)
    net, _ = zt.parse_cfg(open(path).read())
    c, h, w = size or (int(net["channels"]), int(net["height"]), int(net["width"]))
    classes = a.classes or int(net["classes"])
    seq = torch.nn.Sequential(*[m for _, k, m in mods if k != "softmax"])
    x = torch.rand(a.batch, c, h, w) * 2 - 1
    y = torch.randint(0, classes, (a.batch,))
    opt = torch.optim.SGD(seq.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)

    for it in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        if a.mode == "train":
            seq.train()
            opt.zero_grad(set_to_none=False)
            with autocast():
                loss = loss_fn(seq(x), y)
            loss.backward()
            opt.step()
        else:
            seq.eval()
            with torch.no_grad(), autocast():
                seq(x)
        if it >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"impl": "pytorch " + torch.__version__, "model": a.model, "mode": a.mode,
                      "precision": "bf16 autocast" if a.bf16 else "fp32",
                      "batch": a.batch, "threads": a.threads, "img_per_s": a.batch / med,
                      "ms_per_batch": 1e3 * med, "ms_min": 1e3 * min(times),
                      "peak_rss_mib": rss}))


if __name__ == "__main__":
    main()
