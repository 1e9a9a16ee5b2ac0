#!/usr/bin/python3
"""Golden tensors for single layers, from PyTorch (run with Debian's /usr/bin/python3).

Usage: golden_layers.py OUT.safetensors

Each case is a one-layer zfnet model (its text in the metadata under '<case>.cfg') with
tensors '<case>.input', '<case>.signal' (an upstream gradient), '<case>.output',
'<case>.grad.input' and, for conv/fc, '<case>.<layer>.weight|bias' and their
'<case>.grad.<layer>.weight|bias'. Conventions: NCHW float32; LRN is nn.LocalResponseNorm
(alpha divided by size; alpha_mode=absolute is simulated with alpha*size); max pooling with
PyTorch's ceil_mode arithmetic; fc flattens NCHW.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zftorch as zt  # noqa: E402

CASES = [
    # name, input (n, c, h, w), layer section text
    ("conv_3x3", (2, 3, 9, 9), "[conv]\nname=L\nfilters=4\nsize=3\nstride=1\npad=1\n"),
    ("conv_zf1", (2, 3, 23, 23), "[conv]\nname=L\nfilters=5\nsize=7\nstride=2\npad=1\n"),
    ("conv_zf2", (1, 4, 17, 17), "[conv]\nname=L\nfilters=6\nsize=5\nstride=2\npad=0\n"),
    ("conv_alex1", (2, 3, 27, 27), "[conv]\nname=L\nfilters=4\nsize=11\nstride=4\npad=0\n"),
    ("conv_groups2", (2, 4, 8, 8), "[conv]\nname=L\nfilters=6\nsize=3\nstride=1\npad=1\ngroups=2\n"),
    ("conv_groups2_nobias", (1, 6, 9, 7),
     "[conv]\nname=L\nfilters=4\nsize=5\nstride=1\npad=2\ngroups=2\nbias=0\n"),
    ("pool_ceil_13", (2, 3, 13, 13), "[maxpool]\nname=L\nsize=3\nstride=2\nmode=ceil\n"),
    ("pool_ceil_14", (2, 3, 14, 14), "[maxpool]\nname=L\nsize=3\nstride=2\nmode=ceil\n"),
    ("pool_floor_14", (2, 3, 14, 14), "[maxpool]\nname=L\nsize=3\nstride=2\nmode=floor\n"),
    ("pool_ceil_pad_edge", (1, 2, 5, 5), "[maxpool]\nname=L\nsize=2\nstride=2\npad=1\nmode=ceil\n"),
    ("pool_s1_pad", (1, 2, 6, 7), "[maxpool]\nname=L\nsize=3\nstride=1\npad=1\n"),
    ("lrn_pytorch", (2, 7, 5, 5), "[lrn]\nname=L\nsize=5\nalpha=0.5\nbeta=0.75\nk=2\nalpha_mode=per_size\n"),
    ("lrn_convnet", (2, 7, 5, 5), "[lrn]\nname=L\nsize=5\nalpha=0.1\nbeta=0.75\nk=2\nalpha_mode=absolute\n"),
    ("lrn_caffe", (1, 9, 4, 4), "[lrn]\nname=L\nsize=3\nalpha=0.3\nbeta=0.75\nk=1\nalpha_mode=per_size\n"),
    ("lrn_even", (1, 6, 3, 3), "[lrn]\nname=L\nsize=4\nalpha=0.4\nbeta=0.5\nk=1.5\nalpha_mode=per_size\n"),
    ("fc_flatten", (3, 4, 3, 3), "[fc]\nname=L\noutputs=5\n"),
    ("fc_nobias", (2, 10, 1, 1), "[fc]\nname=L\noutputs=7\nbias=0\n"),
    ("relu", (2, 3, 4, 4), "[relu]\nname=L\n"),
    ("dropout_infer", (2, 6, 1, 1), "[dropout]\nname=L\np=0.5\n"),
    ("softmax", (3, 8, 1, 1), "[softmax]\nname=L\n"),
]


def main():
    out = sys.argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.manual_seed(0)
    tensors, meta = {}, {"cases": ",".join(c[0] for c in CASES)}
    for name, (n, c, h, w), section in CASES:
        text = f"[net]\nchannels={c}\nheight={h}\nwidth={w}\n\n{section}"
        # complete the section with defaults through zftorch's parser conventions
        defaults = {"conv": {"stride": "1", "pad": "0", "groups": "1", "bias": "1"},
                    "maxpool": {"pad": "0", "mode": "floor"}, "fc": {"bias": "1"}}
        net, layers = zt.parse_cfg(text)
        kind, p = layers[0]
        for k, v in defaults.get(kind, {}).items():
            p.setdefault(k, v)
        full = f"[net]\nchannels={c}\nheight={h}\nwidth={w}\n\n[{kind}]\n" + "".join(
            f"{k}={v}\n" for k, v in p.items())
        model, mods = zt.build(full)
        model.eval()
        x = torch.randn(n, c, h, w, dtype=torch.float32) * 2
        if kind == "softmax":
            x = x.reshape(n, c)
        x.requires_grad_(True)
        params = {}
        for pn, t in model.named_parameters():
            with torch.no_grad():
                t.copy_(torch.randn_like(t) * 0.3)
            params[pn] = t
        y, _ = zt.run(mods, x)
        sig = torch.randn_like(y)
        y.backward(sig)
        tensors[f"{name}.input"] = x.detach().numpy().reshape(n, c, h, w)
        tensors[f"{name}.output"] = y.detach().numpy()
        tensors[f"{name}.signal"] = sig.numpy()
        tensors[f"{name}.grad.input"] = x.grad.numpy().reshape(n, c, h, w)
        for pn, t in zt.param_grads(mods).items():
            tensors[f"{name}.grad.{pn}"] = t
        for ln, kd, m in mods:
            lin = m if kd == "conv" else zt.linear_of(m) if kd == "fc" else None
            if lin is None:
                continue
            tensors[f"{name}.{ln}.weight"] = lin.weight.detach().numpy().copy()
            if lin.bias is not None:
                tensors[f"{name}.{ln}.bias"] = lin.bias.detach().numpy().copy()
        meta[f"{name}.cfg"] = full
    zt.st_save(out, tensors, meta)
    print(f"wrote {len(CASES)} golden layer cases to {out}")


if __name__ == "__main__":
    main()
