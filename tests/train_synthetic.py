#!/usr/bin/python3
"""zfnet train end to end on a generated IDX dataset whose classes are learnable by design:
class k is a bright 6x6 square at the k-th of 10 positions on a noisy 28x28 background
(position is the class, so training runs without horizontal flips).
Three epochs must reach >= 95% test accuracy; the run folder must hold metrics for each epoch and
checkpoints that load back (zfnet forward on best.safetensors).

Usage: train_synthetic.py ZFNET WORKDIR
"""
import gzip
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np

zfnet, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
rng = np.random.default_rng(0)


def make(n):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    img = rng.integers(0, 90, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        y, x = 3 + 8 * (k // 4), 2 + 6 * (k % 4)
        img[i, y:y + 6, x:x + 6] = 255
    return img, labels


def write(path, arr):
    head = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.tobytes())


for split, n in (("train", 8000), ("test", 500)):
    img, lab = make(n)
    write(os.path.join(work, f"{split}-images.gz"), img)
    write(os.path.join(work, f"{split}-labels.gz"), lab)
run = os.path.join(work, "run")
r = subprocess.run([zfnet, "train", "--epochs", "3", "--lr-steps", "3", "--seed", "3", "--no-flip",
                    "--train-images", os.path.join(work, "train-images.gz"),
                    "--train-labels", os.path.join(work, "train-labels.gz"),
                    "--test-images", os.path.join(work, "test-images.gz"),
                    "--test-labels", os.path.join(work, "test-labels.gz"), "-o", run],
                   capture_output=True, text=True)
print(r.stdout, r.stderr)
m = re.search(r"^test accuracy: ([0-9.]+)%$", r.stdout, re.M)
ok = r.returncode == 0 and m and float(m.group(1)) >= 95.0
lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))] if ok else []
ok = ok and [l["epoch"] for l in lines] == [1, 2, 3]
if ok:
    x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch"))
    import zftorch as zt
    zt.st_save(os.path.join(work, "x.safetensors"), {"input": x})
    f = subprocess.run([zfnet, "forward", "--model", "zfnet-mini", "--weights",
                        os.path.join(run, "best.safetensors"), "--input",
                        os.path.join(work, "x.safetensors"), "--output",
                        os.path.join(work, "y.safetensors")], capture_output=True, text=True)
    ok = f.returncode == 0
    print("best.safetensors loads:", ok, f.stderr.strip())
print("PASSED" if ok else "FAILED")
sys.exit(0 if ok else 1)
