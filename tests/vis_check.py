#!/usr/bin/python3
"""The visualisation commands on a small trained model, checked against PyTorch and by hand.

A zfnet-mini is trained for 3 epochs (snapshots 1, 2, 3) on generated 28x28 images where the
class is the position of a bright square. Then:
- deconv on PNG files equals deconv on the same inputs given as a tensor; a single pattern
  in an empty image: the projection of the unit that fires most on it lies on the pattern;
- top9: for every chosen map, the 9 (image, position, value) entries equal PyTorch's per-image
  maxima ranked over the whole set (distinct images, strongest first); grids and index written;
- filters: on hand-made first-layer filters (a flat one, a fine grating, a coarse ramp, zeros)
  the dead count and the frequency bands are the ones built in; the aliasing share equals a
  numpy computation of the same definition;
- evolution: the top image of each map at each snapshot equals PyTorch's argmax, and the
  "stable from" epochs follow from them.

Usage: vis_check.py ZFNET WORKDIR
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch"))
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

zfnet, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
torch.set_num_threads(2)
rng = np.random.default_rng(5)
check = tl.check


def run(args):
    return tl.run(zfnet, args, tail=2000)


for split, n in (("train", 3000), ("test", 300)):
    img, lab = tl.squares(rng, n, background=60)
    tl.write_idx(os.path.join(work, f"{split}-images-idx3-ubyte.gz"), img)
    tl.write_idx(os.path.join(work, f"{split}-labels-idx1-ubyte.gz"), lab)
    if split == "test":
        test_img, test_lab = img, lab
TEST = os.path.join(work, "test-images-idx3-ubyte.gz")
out = os.path.join(work, "run")
r = run(["train", "--train", os.path.join(work, "train-images-idx3-ubyte.gz"), "--test", TEST,
         "--epochs", "3", "--batch", "64", "--no-flip", "--snapshot-epochs", "1,2,3",
         "--threads", "2", "-o", out])
check(r.returncode == 0, "training a small model")
last = os.path.join(out, "last.safetensors")


def load(path):
    t, meta = zt.st_load(path)
    _, mods = zt.build(meta["model"])
    zt.load_weights(mods, t)
    for _, _, m in mods:
        m.eval()
    return mods, t["data.mean"], float(meta["input_scale"])


mods, mean, scale = load(last)
X = ((test_img[:, None].astype(np.float32) - mean[None]) * np.float32(scale))


def acts(mods_, x, layer):
    with torch.no_grad():
        return zt.run(mods_, torch.from_numpy(x), upto=layer)[0].numpy()


# deconv: image files and tensors agree; a lone pattern projects onto itself
files = []
for i in range(3):
    p = os.path.join(work, f"t{i}.png")
    Image.fromarray(test_img[i]).save(p)
    files.append(p)
zt.st_save(os.path.join(work, "x.safetensors"), {"input": X[:3]})
a, b = os.path.join(work, "a.safetensors"), os.path.join(work, "b.safetensors")
r1 = run(["deconv", "--weights", last, "--layer", "conv3", "--input"] + files + ["--raw", a,
                                                                                 "-o", work])
r2 = run(["deconv", "--weights", last, "--layer", "conv3", "--input",
          os.path.join(work, "x.safetensors"), "--raw", b])
pa, pb = zt.st_load(a)[0]["projection"], zt.st_load(b)[0]["projection"]
check(r1.returncode == 0 and r2.returncode == 0 and np.abs(pa - pb).max() <= 1e-5 * np.abs(pb).max()
      and os.path.exists(os.path.join(work, "t0-conv3-deconvnet.png")),
      "deconv: image files = the same inputs as a tensor; pictures written")
lone = np.zeros((1, 1, 28, 28), np.uint8)
lone[0, 0, 11:17, 14:20] = 255  # a square where class 6's sits
xl = (lone.astype(np.float32) - mean[None]) * np.float32(scale)
zt.st_save(os.path.join(work, "lone.safetensors"), {"input": xl})
act = acts(mods, xl, "conv2")[0]
k, y, x = np.unravel_index(act.argmax(), act.shape)
r = run(["deconv", "--weights", last, "--layer", "conv2", "--unit", f"{k},{y},{x}", "--input",
         os.path.join(work, "lone.safetensors"), "--raw", a])
proj = np.abs(zt.st_load(a)[0]["projection"][0, 0])
inside = proj[10:18, 13:21].sum() / proj.sum()  # the square and 1 px around it
yy, xx = np.mgrid[0:28, 0:28]
cy, cx = (proj * yy).sum() / proj.sum(), (proj * xx).sum() / proj.sum()
# the unit's receptive field is 11x11 = 121 px: an even spread would put 64/121 = 53% there
check(r.returncode == 0 and inside >= 0.65 and 10 <= cy <= 17 and 13 <= cx <= 20,
      f"deconv: the firing unit's projection lies on the pattern ({100 * inside:.1f}% within "
      f"1 px; centre of mass ({cy:.1f}, {cx:.1f}) inside the square rows 11-16, cols 14-19)")

# top9 against PyTorch
t9 = os.path.join(work, "top9")
r = run(["top9", "--weights", last, "--data", TEST, "--layers", "conv1,conv3,pool5",
         "--random", "5", "--seed", "4", "-o", t9])
check(r.returncode == 0, "top9 runs")
index = json.load(open(os.path.join(t9, "top9.json")))
for layer in ("conv1", "conv3", "pool5"):
    A = acts(mods, X, layer)
    ok = os.path.exists(os.path.join(t9, layer + ".png")) and len(index[layer]["maps"]) == 5
    for entry in index[layer]["maps"]:
        m = entry["map"]
        per_image = A[:, m].reshape(len(X), -1)
        best = per_image.max(1)
        order = np.argsort(-best, kind="stable")[:9]
        got = [(e["index"], e["y"], e["x"], e["value"]) for e in entry["top"]]
        # ties between images are broken arbitrarily: compare values, then each entry's spot
        ok = ok and np.allclose([g[3] for g in got], best[order], rtol=1e-4, atol=1e-5)
        for i, yy, xx, v in got:
            ok = ok and abs(A[i, m, yy, xx] - v) <= 1e-4 * max(1, abs(v)) \
                and abs(A[i, m].max() - v) <= 1e-4 * max(1, abs(v))
        ok = ok and len({g[0] for g in got}) == len(got)
    check(ok, f"top9 {layer}: the 9 strongest per map = PyTorch's, distinct images, positions")

# filters: hand-made first layer
t, meta = zt.st_load(last)
w = np.zeros_like(t["conv1.weight"])  # (32, 1, 5, 5)
w[:] = rng.normal(0, 0.1, w.shape)
w[0] = 0.2                                                    # flat: low band
w[1, 0] = 0.2 * np.cos(np.pi * np.arange(5))[None, :]          # 0.5 cycles/px: high
w[2, 0] = 0.2 * np.cos(2 * np.pi * 0.18 * np.arange(5))[None, :]  # 0.18 cycles/px: mid
w[3] = 0                                                       # dead
w[4] = 1e-4                                                    # dead (tiny)
t["conv1.weight"] = w
hand = os.path.join(work, "hand.safetensors")
zt.st_save(hand, t, meta)
fo = os.path.join(work, "filters")
r = run(["filters", "--weights", hand, "--data", TEST, "--images", "16", "-o", fo])
fj = json.load(open(os.path.join(fo, "filters.json"))) if r.returncode == 0 else {}
check(r.returncode == 0 and fj.get("dead") == [3, 4] and os.path.exists(os.path.join(fo, "conv1.png")),
      f"filters: the two dead filters found ({fj.get('dead')})")
rms = np.sqrt((w.reshape(32, -1) ** 2).mean(1))
check(np.allclose(fj.get("rms", []), rms, rtol=1e-5), "filters: per-filter RMS")


def bands(f):
    N = 32
    g = np.zeros((N, N))
    pw = np.zeros((N, N))
    for c in range(f.shape[0]):
        g[:] = 0
        g[:f.shape[1], :f.shape[2]] = f[c]
        pw += np.abs(np.fft.fft2(g)) ** 2
    fr = np.fft.fftfreq(N)
    rad = np.sqrt(fr[:, None] ** 2 + fr[None, :] ** 2)
    b = np.array([pw[rad < 0.125].sum(), pw[(rad >= 0.125) & (rad < 0.25)].sum(),
                  pw[rad >= 0.25].sum()])
    return (b / pw.sum() if pw.sum() > 0 else b), [0, 1, 2][int(np.argmax([pw[rad < 0.125].max(),
                                                   pw[(rad >= 0.125) & (rad < 0.25)].max(),
                                                   pw[rad >= 0.25].max()]))]


want = np.mean([bands(f)[0] for f in w], axis=0)
got = fj.get("band_energy", {})
check(np.allclose([got.get("low", -1), got.get("mid", -1), got.get("high", -1)], want, atol=1e-6),
      f"filters: band energies = numpy's {np.round(want, 4).tolist()}")
check(bands(w[0])[1] == 0 and bands(w[1])[1] == 2 and bands(w[2])[1] == 1,
      "filters: the flat filter peaks low, the coarse grating mid, the fine one high")
mods_h, _, _ = load(hand)
A2 = acts(mods_h, X[[int(i * len(X) / 16) for i in range(16)]], "conv2")
A2 = A2 - A2.mean((2, 3), keepdims=True)
N = 16
P = np.abs(np.fft.fft2(A2, s=(N, N))) ** 2
fr = np.fft.fftfreq(N)
rad = np.sqrt(fr[:, None] ** 2 + fr[None, :] ** 2)
share = P[..., rad >= 0.25].sum() / P.sum()
check(abs(fj.get("aliasing", {}).get("high_frequency_share", -1) - share) < 1e-4,
      f"filters: the aliasing share = numpy's ({share:.4f})")

# evolution against PyTorch
ev = os.path.join(work, "evolution")
r = run(["evolution", "--run", out, "--data", TEST, "--layers", "conv2,conv5", "--maps", "0,3,7",
         "-o", ev])
ej = json.load(open(os.path.join(ev, "evolution.json"))) if r.returncode == 0 else {}
ok = r.returncode == 0 and ej.get("epochs") == [1, 2, 3]
for layer in ("conv2", "conv5"):
    tops = []
    for e in (1, 2, 3):
        me, _, _ = load(os.path.join(out, f"epoch-{e}.safetensors"))
        A = acts(me, X, layer)
        tops.append([int(A[:, m].reshape(len(X), -1).max(1).argmax()) for m in (0, 3, 7)])
    for j, entry in enumerate(ej.get("layers", {}).get(layer, {}).get("maps", [])):
        seq = [tops[e][j] for e in range(3)]
        stable = 1
        for e in (2, 1):
            if seq[e] != seq[e - 1]:
                stable = e + 1
                break
        ok = ok and entry["top_image"] == seq and entry["stable_from_epoch"] == stable
check(ok, "evolution: each snapshot's top image = PyTorch's; stable-from epochs follow")

tl.finish()
