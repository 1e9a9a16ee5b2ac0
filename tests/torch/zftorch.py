"""PyTorch twins of zfnet models, and a small safetensors reader/writer (numpy only).

Conventions (the same as zfnet's): NCHW float32; conv weights (out, in/groups, k, k);
fc weights (out, in) applied to the NCHW-flattened input; max pooling with PyTorch's ceil_mode
arithmetic; LRN is torch.nn.LocalResponseNorm (alpha divided by size) or, for
alpha_mode=absolute, the same with alpha*size; dropout is inverted and off in eval();
the loss is the mean cross-entropy; the DeconvNet rule is autograd with ReLU backward hooks
that rectify the incoming signal and LRN passed as identity; guided backprop is Captum's
GuidedBackprop (ReLU hooks that rectify the gradient, LRN's autograd gradient).
Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy).
"""
import json
import os
import struct
import subprocess
import warnings

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings("ignore", message="Lazy modules")

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
          "U8": np.uint8, "I8": np.int8, "I16": np.int16, "F16": np.float16}


def st_load(path):
    """Read a safetensors file: (dict name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[base + b:base + end], dtype=DTYPES[e["dtype"]])
        out[name] = arr.reshape(e["shape"]).copy()
    return out, meta


def st_save(path, tensors, meta=None):
    """Write a dict name -> numpy array as safetensors."""
    rev = {v: k for k, v in DTYPES.items()}
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": rev[a.dtype.type], "shape": list(a.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def parse_cfg(text):
    """Parse zfnet's canonical model text: ([net] dict, [(kind, dict), ...])."""
    sections = []
    for line in text.splitlines():
        line = line.split("#")[0].split(";")[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line.strip("[]").strip(), {}))
        else:
            k, v = line.split("=", 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections[0][1], sections[1:]


class LRN(nn.Module):
    """Cross-channel LRN in either convention."""

    def __init__(self, size, alpha, beta, k, per_size):
        super().__init__()
        self.inner = nn.LocalResponseNorm(size, alpha if per_size else alpha * size, beta, k)

    def forward(self, x):
        return self.inner(x)


class PadEnd(nn.Module):
    """zfnet's maxpool with pad_end: the input padded with -inf by pad before and pad + pad_end
    after (along H and W), then pooled without padding; in ceil mode a last window that would
    start in the padding after the input is dropped (zfnet's and onnxruntime's rule)."""

    def __init__(self, size, stride, pad, pad_end, ceil):
        super().__init__()
        self.pads = (pad, pad + pad_end, pad, pad + pad_end)
        self.stride, self.pad, self.ceil = stride, pad, ceil
        self.pool = nn.MaxPool2d(size, stride, 0, ceil_mode=ceil)

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        y = self.pool(nn.functional.pad(x, self.pads, value=float("-inf")))
        oh, ow = y.shape[2], y.shape[3]
        while self.ceil and oh > 1 and (oh - 1) * self.stride >= h + self.pad:
            oh -= 1
        while self.ceil and ow > 1 and (ow - 1) * self.stride >= w + self.pad:
            ow -= 1
        return y[:, :, :oh, :ow]


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], -1)


DEFAULTS = {"conv": {"stride": "1", "pad": "0", "groups": "1", "bias": "1"},
            "maxpool": {"pad": "0", "mode": "floor"},
            "lrn": {"size": "5", "alpha": "0.0001", "beta": "0.75", "k": "2",
                    "alpha_mode": "per_size"},
            "fc": {"bias": "1"}, "dropout": {"p": "0.5"}}


def build(text, classes=None, input_size=None):
    """An ordered list of (name, kind, module) equivalent to the zfnet model text (a preset
    file or canonical text; defaults as docs/model-format.md), wrapped in a ModuleDict."""
    net, layers = parse_cfg(text)
    if classes:
        net["classes"] = str(classes)
    if input_size:
        net["channels"], net["height"], net["width"] = (str(v) for v in input_size)
    c, h, w = int(net["channels"]), int(net["height"]), int(net["width"])
    mods = []
    flat = False
    for kind, p in layers:
        p = dict(DEFAULTS.get(kind, {}), **p)
        name = p["name"]
        if kind == "conv":
            m = nn.Conv2d(c, int(p["filters"]), int(p["size"]), int(p["stride"]), int(p["pad"]),
                          groups=int(p["groups"]), bias=p["bias"] in ("1", "true", "yes"))
            c = int(p["filters"])
        elif kind == "relu":
            m = nn.ReLU(inplace=False)
        elif kind == "maxpool":
            m = nn.MaxPool2d(int(p["size"]), int(p["stride"]), int(p["pad"]),
                             ceil_mode=p["mode"] == "ceil")
            if int(p.get("pad_end", "0")):
                m = PadEnd(int(p["size"]), int(p["stride"]), int(p["pad"]), int(p["pad_end"]),
                           p["mode"] == "ceil")
        elif kind == "lrn":
            m = LRN(int(p["size"]), float(p["alpha"]), float(p["beta"]), float(p["k"]),
                    p["alpha_mode"] == "per_size")
        elif kind == "fc":
            outputs = int(net["classes"]) if p["outputs"] == "classes" else int(p["outputs"])
            inner = nn.LazyLinear(outputs, bias=p["bias"] in ("1", "true", "yes"))
            m = inner if flat else nn.Sequential(Flatten(), inner)
            flat = True
        elif kind == "dropout":
            m = nn.Dropout(float(p["p"]))
        elif kind == "softmax":
            m = nn.Softmax(dim=1)
        else:
            raise ValueError(kind)
        mods.append((name, kind, m))
    model = nn.ModuleDict({n: m for n, _, m in mods})
    with torch.no_grad():
        x = torch.zeros(1, int(net["channels"]), h, w)
        for n, _, m in mods:
            x = m(x)
    return model, mods


def linear_of(m):
    return m if isinstance(m, nn.Linear) else [t for t in m.modules() if isinstance(t, nn.Linear)][0]


def load_weights(mods, weights):
    """Copy zfnet checkpoint tensors (name.weight, name.bias) into the modules."""
    with torch.no_grad():
        for name, kind, m in mods:
            if kind == "conv":
                t = m
            elif kind == "fc":
                t = linear_of(m)
            else:
                continue
            t.weight.copy_(torch.from_numpy(weights[name + ".weight"]))
            if t.bias is not None:
                t.bias.copy_(torch.from_numpy(weights[name + ".bias"]))


def param_grads(mods):
    out = {}
    for name, kind, m in mods:
        t = m if kind == "conv" else linear_of(m) if kind == "fc" else None
        if t is None:
            continue
        out[name + ".weight"] = t.weight.grad.numpy().copy()
        if t.bias is not None:
            out[name + ".bias"] = t.bias.grad.numpy().copy()
    return out


def run(mods, x, upto=None, keep=None):
    """Forward through mods (to layer `upto` inclusive); returns (last output, {name: output})."""
    outs = {}
    for name, kind, m in mods:
        x = m(x)
        if keep is not None and x.requires_grad:
            x.retain_grad()
        outs[name] = x
        if name == upto:
            break
    return x, outs


def add_rule_hooks(mods, rule, lrn="default"):
    """The three signal rules through module backward hooks. deconvnet: the ReLU rectifies the
    incoming signal (its forward mask ignored); guided: as Captum's GuidedBackprop, the ReLU's
    gradient rectified (both masks); gradient: plain autograd. LRN: identity for deconvnet,
    its autograd gradient for guided and gradient (zfnet's defaults); lrn="identity" or
    "gradient" chooses."""
    if lrn == "default":
        lrn = "identity" if rule == "deconvnet" else "gradient"
    handles = []
    for name, kind, m in mods:
        if kind == "relu":
            if rule == "deconvnet":
                handles.append(m.register_full_backward_hook(
                    lambda mod, gin, gout: (torch.clamp(gout[0], min=0),)))
            elif rule == "guided":
                handles.append(m.register_full_backward_hook(
                    lambda mod, gin, gout: (torch.clamp(gin[0], min=0),)))
        elif kind == "lrn" and lrn == "identity":
            handles.append(m.register_full_backward_hook(lambda mod, gin, gout: (gout[0],)))
    return handles


def rel_err(a, b):
    """max |a - b| / max |b| (norm-relative; elementwise relative error is meaningless at 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.abs(b).max() if b.size else 0.0
    diff = np.abs(a - b)
    i = int(diff.argmax()) if diff.size else 0
    return (diff.max() / scale if scale > 0 else diff.max()), i


def init_case(zfnet, model_name, seed, batch, over, workdir):
    """`zfnet init` He weights (bias 0.01) into workdir/w.safetensors, the PyTorch twin loaded
    with them, and a random input batch with labels drawn from the seed:
    (weights, mods, model, x, labels, classes, wpath)."""
    rng = np.random.default_rng(seed)
    wpath = os.path.join(workdir, "w.safetensors")
    subprocess.run([zfnet, "init", model_name, "--init", "he", "--bias", "0.01", "--seed",
                    str(seed), "-o", wpath] + over, check=True)
    weights, meta = st_load(wpath)
    model, mods = build(meta["model"])
    model.eval()
    load_weights(mods, weights)
    net, _ = parse_cfg(meta["model"])
    shape = (batch, int(net["channels"]), int(net["height"]), int(net["width"]))
    classes = int(net["classes"])
    x = rng.standard_normal(shape).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int64)
    return weights, mods, model, x, labels, classes, wpath
