#!/usr/bin/python3
"""The paper's experiments against independent computations: occlusion maps (both ways) against
PyTorch recomputing every occluded image (zfnet-mini and zfnet at 224x224), a synthetic model
whose class depends on one patch, the invariance transforms against numpy and the curves against
PyTorch, correspondence's Delta against numpy and hand-derived values.

Usage: paper_checks.py ZFNET WORKDIR"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch"))
import zftorch as zt  # noqa: E402
from testlib import check, finish, run  # noqa: E402

ZF, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
MODELS = os.path.join(HERE, "..", "models")
torch.set_num_threads(2)


def p(name):
    return os.path.join(WORK, name)


def rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-12))


def torch_net(cfg_text, weights):
    _, mods = zt.build(cfg_text)
    zt.load_weights(mods, zt.st_load(weights)[0])
    for _, _, m in mods:
        m.eval()
    return mods


def grid(h, size, stride):
    n = (h - size) // stride + 1
    return n, (h - size) % stride // 2


def torch_occlusion(mods, x, size, stride, layer, klass, fill=0.0):
    """every occluded copy through the net: (map totals of every map, probabilities)"""
    c, h, w = x.shape
    n, y0 = grid(h, size, stride)
    copies = []
    for i in range(n):
        for j in range(n):
            xx = x.copy()
            xx[:, y0 + i * stride:y0 + i * stride + size, y0 + j * stride:y0 + j * stride + size] = fill
            copies.append(xx)
    tot, probs = [], []
    with torch.no_grad():
        for b in range(0, len(copies), 32):
            out, outs = zt.run(mods, torch.from_numpy(np.stack(copies[b:b + 32])), keep=None)
            tot.append(outs[layer].sum(dim=(2, 3)).numpy())
            probs.append(out.numpy())
    return np.concatenate(tot).reshape(n, n, -1), np.concatenate(probs).reshape(n, n, -1)


def occlusion_case(tag, model_args, cfg, weights, x, size, stride, relu):
    """zfnet's fast and plain maps against PyTorch for inputs x (n, c, h, w)"""
    zt.st_save(p(tag + "-x.safetensors"), {"input": x})
    outs = {}
    for way in ("fast", "plain"):
        r = run(ZF, ["occlusion"] + model_args + ["--input", p(tag + "-x.safetensors"), "--size",
                str(size), "--stride", str(stride), "--raw", p(f"{tag}-{way}.safetensors"), "-o",
                p(f"{tag}-{way}")] + (["--plain"] if way == "plain" else []), tail=600)
        check(r.returncode == 0, f"{tag}: occlusion ({way}) runs")
        outs[way] = zt.st_load(p(f"{tag}-{way}.safetensors"))[0]
        outs[way]["json"] = json.load(open(p(f"{tag}-{way}/occlusion.json")))
    f, pl = outs["fast"], outs["plain"]
    for k in ("activation", "prob", "label_prob"):
        check(rel(f[k], pl[k]) < 1e-4, f"{tag}: fast = plain for {k} (rel {rel(f[k], pl[k]):.2e})")
    check((f["label"] == pl["label"]).mean() > 0.99, f"{tag}: fast = plain labels")
    mods = torch_net(cfg, weights)
    for i in range(x.shape[0]):
        info = f["json"]["images"][i]
        tot, probs = torch_occlusion(mods, x[i], size, stride, relu, info["class"])
        ta, tp = tot[:, :, info["map"]], probs[:, :, info["class"]]
        with torch.no_grad():
            _, o0 = zt.run(mods, torch.from_numpy(x[i:i + 1]))
        a0 = o0[relu][0].numpy()
        check(info["map"] == int(np.unravel_index(a0.argmax(), a0.shape)[0]),
              f"{tag} #{i}: the strongest map is torch's ({info['map']})")
        check(rel(f["activation"][i], ta) < 1e-4,
              f"{tag} #{i}: (b) map totals = torch (rel {rel(f['activation'][i], ta):.2e})")
        check(rel(f["prob"][i], tp) < 1e-4,
              f"{tag} #{i}: (d) class probability = torch (rel {rel(f['prob'][i], tp):.2e})")
        agree = (f["label"][i] == probs.argmax(axis=2)).mean()
        check(agree > 0.99, f"{tag} #{i}: (e) labels = torch ({100 * agree:.1f}% agree)")
    return f


def occlusion_checks():
    cfg = open(os.path.join(MODELS, "zfnet-mini.cfg")).read()
    w = p("mini.safetensors")
    run(ZF, ["init", "zfnet-mini", "-o", w, "--init", "he", "--seed", "5"])
    x = np.random.RandomState(1).randn(3, 1, 28, 28).astype(np.float32)
    f = occlusion_case("mini", ["--model", "zfnet-mini", "--weights", w], cfg, w, x, 6, 2, "relu5")
    g = f["json"]["grid"]
    check((g["ny"], g["nx"], g["y0"]) == (12, 12, 0), f"mini: grid (28-6)/2+1 = 12, y0 0 ({g})")
    cfg = open(os.path.join(MODELS, "zfnet.cfg")).read()
    w = p("zfnet.safetensors")
    run(ZF, ["init", "zfnet", "-o", w, "--init", "he", "--seed", "2"])
    x = np.random.RandomState(2).randn(1, 3, 224, 224).astype(np.float32)
    f = occlusion_case("zfnet", ["--model", "zfnet", "--weights", w], cfg, w, x, 50, 58, "relu5")
    g = f["json"]["grid"]
    check((g["ny"], g["y0"]) == (4, 0), f"zfnet: 4x4 squares of 50 at stride 58 ({g})")
    os.remove(w)
    # grouped convolutions, an 11x11 stride-4 first layer, 227x227, a centred grid
    cfg = open(os.path.join(MODELS, "alexnet-g2.cfg")).read()
    run(ZF, ["init", "alexnet-g2", "-o", w, "--init", "he", "--seed", "3"])
    x = np.random.RandomState(3).randn(1, 3, 227, 227).astype(np.float32)
    f = occlusion_case("alexnet-g2", ["--model", "alexnet-g2", "--weights", w], cfg, w, x, 40, 60,
                       "relu5")
    g = f["json"]["grid"]
    check((g["ny"], g["y0"]) == (4, 3), f"alexnet-g2: 4x4 squares, (227-40) mod 60 = 7 -> y0 3 ({g})")
    os.remove(w)


PATCH_CFG = """[net]
name=patch
channels=1
height=20
width=20
classes=2
[conv]
name=conv1
filters=1
size=3
pad=1
[relu]
name=relu1
[maxpool]
name=pool1
size=2
stride=2
[fc]
name=fc2
outputs=classes
[softmax]
name=prob
"""


def patch_checks():
    """class 1 iff the 4x4 patch at rows/cols 8..11 is bright: occluding it lowers p(1), and
    squares that do not touch it change nothing"""
    open(p("patch.cfg"), "w").write(PATCH_CFG)
    conv_w = np.full((1, 1, 3, 3), 1 / 9, np.float32)
    fc_w = np.zeros((2, 100), np.float32)
    for r in range(4, 6):
        for c in range(4, 6):
            fc_w[1, r * 10 + c] = 2.0  # the pooled cells over the patch
    st = {"conv1.weight": conv_w, "conv1.bias": np.zeros(1, np.float32),
          "fc2.weight": fc_w, "fc2.bias": np.array([2.0, 0.0], np.float32)}
    zt.st_save(p("patch.safetensors"), st)
    x = np.zeros((1, 1, 20, 20), np.float32)
    x[0, 0, 8:12, 8:12] = 1.0
    zt.st_save(p("patch-x.safetensors"), {"input": x})
    r = run(ZF, ["occlusion", "--model", p("patch.cfg"), "--weights", p("patch.safetensors"),
                 "--input", p("patch-x.safetensors"), "--size", "3", "--stride", "1", "--class",
                 "1", "--box", "8,8,12,12", "--raw", p("patch-out.safetensors"), "-o",
                 p("patch-out")], tail=800)
    check(r.returncode == 0, "patch: occlusion runs")
    o = zt.st_load(p("patch-out.safetensors"))[0]
    info = json.load(open(p("patch-out/occlusion.json")))["images"][0]
    prob, base = o["prob"][0], info["prob"]
    touches = np.zeros((18, 18), bool)
    for i in range(18):
        for j in range(18):
            touches[i, j] = i + 3 > 8 and i < 12 and j + 3 > 8 and j < 12
    check(base > 0.9, f"patch: p(1) = {base:.3f} unoccluded")
    check(bool((prob[touches] < base - 1e-5).all()), "patch: every square on the patch lowers p(1)")
    check(float(np.abs(prob[~touches] - base).max()) < 1e-6,
          "patch: squares off the patch change nothing")
    share, area = info["drop_share_on_object"], info["object_share_of_squares"]
    check(share > 0.5 and share > 5 * area,
          f"patch: the drop falls on the object ({share:.2f} of it; the object is {area:.3f} of "
          "the squares)")
    i, j = np.unravel_index((base - prob).argmax(), prob.shape)
    check(8 <= i + 1 <= 11 and 8 <= j + 1 <= 11, f"patch: the largest drop is centred on it ({i + 1},{j + 1})")


def transform_ref(img, kind, v):
    """numpy reference of zfnet's transforms: inverse-mapped pixel centres, bilinear, outside
    the centres' hull -> fill (marked NaN)"""
    c, h, w = img.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    px, py = xs + 0.5 - w / 2, ys + 0.5 - h / 2
    if kind == "translate":
        sx, sy = px, py - v
    elif kind == "scale":
        sx, sy = px / v, py / v
    else:
        a = np.radians(v)
        sx, sy = np.cos(a) * px - np.sin(a) * py, np.sin(a) * px + np.cos(a) * py
    fx, fy = sx + w / 2 - 0.5, sy + h / 2 - 0.5
    out = np.full(img.shape, np.nan)
    ok = (fx >= -1e-9) & (fy >= -1e-9) & (fx <= w - 1 + 1e-9) & (fy <= h - 1 + 1e-9)
    x0 = np.clip(np.floor(np.clip(fx, 0, None)), 0, w - 2).astype(int)
    y0 = np.clip(np.floor(np.clip(fy, 0, None)), 0, h - 2).astype(int)
    ax, ay = np.clip(fx - x0, 0, 1), np.clip(fy - y0, 0, 1)
    for ch in range(c):
        q = img[ch]
        top = (1 - ax) * q[y0, x0] + ax * q[y0, x0 + 1]
        bot = (1 - ax) * q[y0 + 1, x0] + ax * q[y0 + 1, x0 + 1]
        out[ch][ok] = ((1 - ay) * top + ay * bot)[ok]
    return out


def invariance_checks():
    cfg = open(os.path.join(MODELS, "zfnet-mini.cfg")).read()
    w = p("mini.safetensors")
    rs = np.random.RandomState(3)
    x = (rs.rand(2, 1, 28, 28) * 2 - 1).astype(np.float32)
    zt.st_save(p("inv-x.safetensors"), {"input": x})
    mods = torch_net(cfg, w)
    cases = [("translate", "-6:6", 13), ("scale", "1:1.8", 9), ("rotate", "0:360", 13)]
    for kind, rng, steps in cases:
        r = run(ZF, ["invariance", "--model", "zfnet-mini", "--weights", w, "--input",
                     p("inv-x.safetensors"), "--transform", kind, "--range", rng, "--steps",
                     str(steps), "--layers", "conv1,fc7", "--raw", p(f"inv-{kind}.safetensors"),
                     "-o", p("inv")], tail=600)
        check(r.returncode == 0, f"invariance {kind} runs")
        o = zt.st_load(p(f"inv-{kind}.safetensors"))[0]
        lo, hi = (float(v) for v in rng.split(":"))
        values = np.linspace(lo, hi, steps)
        ident = int(np.argmin(np.abs(values - (1 if kind == "scale" else 0))))
        check(float(o["distance"][:, :, ident].max()) < 1e-5,
              f"{kind}: distance 0 at the identity ({o['distance'][:, :, ident].max():.2e})")
        # the transform: pixels (x * 255, no mean in an init checkpoint) against numpy
        worst = 0.0
        for i in range(2):
            for s, v in enumerate(values):
                ref = transform_ref(x[i] * 255.0, kind, v)
                got = o["inputs"][i, s] * 255.0
                ref = np.where(np.isnan(ref), 0.0, ref)
                worst = max(worst, float(np.abs(got - ref).max()))
        check(worst < 1.0, f"{kind}: transformed images = numpy within one grey level ({worst:.2e})")
        # the curves against torch on the same transformed inputs
        with torch.no_grad():
            _, o0 = zt.run(mods, torch.from_numpy(x))
            xt = torch.from_numpy(o["inputs"].reshape(-1, 1, 28, 28))
            out, ot = zt.run(mods, xt)
        for k, layer in enumerate(("relu1", "relu7")):
            f0 = o0[layer].reshape(2, 1, -1).numpy()
            ft = ot[layer].reshape(2, steps, -1).numpy()
            d = np.sqrt(((ft - f0) ** 2).sum(axis=2))
            check(rel(o["distance"][:, k], d) < 1e-4,
                  f"{kind}: {layer} distances = torch (rel {rel(o['distance'][:, k], d):.2e})")
        pr = out.numpy().reshape(2, steps, -1)
        k0 = o0["prob"].numpy().argmax(axis=1)
        tp = np.stack([pr[i, :, k0[i]] for i in range(2)])
        check(rel(o["prob"], tp) < 1e-4, f"{kind}: probabilities = torch ({rel(o['prob'], tp):.2e})")


def delta_ref(f0, f1):
    s = np.sign(f0 - f1)
    n = s.shape[0]
    h = sum((s[i] != s[j]).sum() for i in range(n) for j in range(n) if i != j)
    return h / (n * (n - 1) * s.shape[1])


CORR_CFG = """[net]
name=ident
channels=1
height=8
width=8
classes=2
[conv]
name=conv1
filters=1
size=1
[fc]
name=fc2
outputs=classes
"""


def correspondence_checks():
    # hand-derived: an identity conv, no ReLU; image A is +1, B is -1, C is +2 everywhere; the
    # same 2x3 rectangle masked to 0: eps = A (+1), B (-1), C (+1) on 6 of 64 features, 0
    # elsewhere. Ordered pairs disagreeing: (A,B), (B,C) both ways on 6 features = 4 * 6 = 24;
    # Delta = 24 / (3 * 2 * 64) = 0.0625.
    open(p("ident.cfg"), "w").write(CORR_CFG)
    zt.st_save(p("ident.safetensors"), {
        "conv1.weight": np.ones((1, 1, 1, 1), np.float32), "conv1.bias": np.zeros(1, np.float32),
        "fc2.weight": np.zeros((2, 64), np.float32), "fc2.bias": np.zeros(2, np.float32)})
    x = np.stack([np.full((1, 8, 8), v, np.float32) for v in (1, -1, 2)])
    zt.st_save(p("ident-x.safetensors"), {"input": x})
    parts = {"parts": {"block": [[2, 3, 5, 5]] * 3}}
    json.dump(parts, open(p("ident-parts.json"), "w"))
    r = run(ZF, ["correspondence", "--model", p("ident.cfg"), "--weights", p("ident.safetensors"),
                 "--images", p("ident-x.safetensors"), "--parts", p("ident-parts.json"),
                 "--layers", "conv1", "--random", "3", "-o", p("ident-out")])
    check(r.returncode == 0, "correspondence (hand-derived case) runs")
    rows = json.load(open(p("ident-out/correspondence.json")))["rows"]
    check(abs(rows[0]["conv1"] - 0.0625) < 1e-9, f"hand-derived Delta 0.0625 ({rows[0]['conv1']})")
    # against numpy on zfnet-mini: 4 random images, a part in each at different places
    cfg = open(os.path.join(MODELS, "zfnet-mini.cfg")).read()
    w = p("mini.safetensors")
    rs = np.random.RandomState(4)
    x = rs.randn(4, 1, 28, 28).astype(np.float32)
    zt.st_save(p("corr-x.safetensors"), {"input": x})
    rects = [[3, 4, 11, 10], [5, 4, 13, 10], [3, 6, 11, 12], [10, 10, 18, 16]]
    json.dump({"parts": {"eye": rects}}, open(p("corr-parts.json"), "w"))
    r = run(ZF, ["correspondence", "--model", "zfnet-mini", "--weights", w, "--images",
                 p("corr-x.safetensors"), "--parts", p("corr-parts.json"), "--layers",
                 "conv5,fc7", "--random", "2", "-o", p("corr-out")])
    check(r.returncode == 0, "correspondence on zfnet-mini runs")
    rows = json.load(open(p("corr-out/correspondence.json")))["rows"]
    mods = torch_net(cfg, w)
    xm = x.copy()
    for i, (x0, y0, x1, y1) in enumerate(rects):
        xm[i, :, y0:y1, x0:x1] = 0
    with torch.no_grad():
        _, o0 = zt.run(mods, torch.from_numpy(x))
        _, o1 = zt.run(mods, torch.from_numpy(xm))
    for layer, feat in (("conv5", "relu5"), ("fc7", "relu7")):
        d = delta_ref(o0[feat].reshape(4, -1).numpy(), o1[feat].reshape(4, -1).numpy())
        check(abs(rows[0][layer] - d) < 2e-3, f"Delta {layer} = numpy ({rows[0][layer]:.4f} vs {d:.4f})")


occlusion_checks()
patch_checks()
invariance_checks()
correspondence_checks()
finish()
