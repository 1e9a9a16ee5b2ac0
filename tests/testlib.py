"""Helpers shared by the end-to-end tests: running zfnet, recording checks, generated data."""
import gzip
import struct
import subprocess

import numpy as np

failures = []


def check(ok, what):
    """Print and record one check; returns ok."""
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def finish():
    """Exit 1 if any check failed."""
    print("FAILED: " + "; ".join(failures) if failures else "PASSED")
    raise SystemExit(1 if failures else 0)


def run(zfnet, args, tail=None):
    """zfnet ARGS, its output echoed (the last `tail` characters of stdout)."""
    r = subprocess.run([zfnet] + args, capture_output=True, text=True)
    out = r.stdout if tail is None else r.stdout[-tail:]
    print("$ zfnet " + " ".join(args) + f"  -> {r.returncode}\n{out}{r.stderr}")
    return r


def squares(rng, n, background=90):
    """n 28x28 images whose class k is a bright 6x6 square at the k-th of 10 positions on
    noise (the position is the class, so no mirroring in training); (images, labels)."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    img = rng.integers(0, background, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        y, x = 3 + 8 * (k // 4), 2 + 6 * (k % 4)
        img[i, y:y + 6, x:x + 6] = 255
    return img, labels


def write_idx(path, arr):
    """An IDX file of unsigned bytes, gzipped."""
    head = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.tobytes())


def read_idx(path):
    """An IDX file of unsigned bytes (gzipped) as an array."""
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
