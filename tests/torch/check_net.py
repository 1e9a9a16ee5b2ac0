#!/usr/bin/python3
"""Whole-network check of zfnet against PyTorch with the same weights.

zfnet writes He-initialised weights (`zfnet init`), PyTorch loads them by name; both run the
same batch. Checked: every layer's output (relative error <= 1e-4), the loss, dL/dinput and
every parameter gradient (<= 1e-3), and projections with the deconvnet, guided and gradient
rules from chosen layers (<= 1e-4): deconvnet against ReLU hooks that rectify the signal with LRN
as identity and against a hand-written DeconvNet; guided against Captum's GuidedBackprop
construction (ReLU hooks only, LRN's autograd gradient); with --lrn-choices each rule also with
the other LRN choice. Relative error is max|a-b| / max|b|. Exit 1 on failure.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zftorch as zt  # noqa: E402


def manual_deconvnet(mods, x, layer, sig):
    """The DeconvNet written out layer by layer (ZF 2.1), independent of autograd for conv:
    conv_transpose2d with the same filters and no bias, ReLU on the signal, max pooling's own
    backward (its switches), LRN and dropout as identity, fc as the transposed matrix."""
    inputs = []
    h = x
    for name, kind, m in mods:
        inputs.append(h)
        h = m(h)
        if name == layer:
            break
    s = sig
    for (name, kind, m), inp in zip(reversed(mods[:len(inputs)]), reversed(inputs)):
        if kind == "conv":
            # output_padding restores the rows/columns a strided forward still reached on the
            # far side (conv_transpose2d crops the padding symmetrically)
            full = [(s.shape[d] - 1) * m.stride[d - 2] - 2 * m.padding[d - 2] +
                    m.kernel_size[d - 2] for d in (2, 3)]
            op = (inp.shape[2] - full[0], inp.shape[3] - full[1])
            s = F.conv_transpose2d(s, m.weight, None, m.stride, m.padding, output_padding=op,
                                   groups=m.groups)
        elif kind == "relu":
            s = torch.clamp(s, min=0)
        elif kind == "maxpool":
            inp = inp.detach().requires_grad_(True)
            s = torch.autograd.grad(m(inp), inp, s)[0]
        elif kind == "fc":
            s = (s @ zt.linear_of(m).weight).reshape(inp.shape)
        elif kind in ("lrn", "dropout"):
            pass
        else:
            raise ValueError(f"no manual DeconvNet step for {kind}")
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zfnet", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--input-size")
    ap.add_argument("--classes")
    ap.add_argument("--project", default="", help="comma-separated layers to project from")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lrn-choices", action="store_true",
                    help="also each rule with the other LRN choice (--lrn identity|gradient)")
    ap.add_argument("--tol-out", type=float, default=1e-4)
    ap.add_argument("--tol-grad", type=float, default=1e-3)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    torch.manual_seed(a.seed)
    over = []
    if a.input_size:
        over += ["--input-size", a.input_size]
    if a.classes:
        over += ["--classes", a.classes]
    weights, mods, model, x, labels, classes, wpath = zt.init_case(
        a.zfnet, a.model, a.seed, a.batch, over, a.workdir)
    xpath, ypath = os.path.join(a.workdir, "x.safetensors"), os.path.join(a.workdir, "y.safetensors")
    zt.st_save(xpath, {"input": x, "labels": labels})
    subprocess.run([a.zfnet, "forward", "--model", a.model, "--weights", wpath, "--input", xpath,
                    "--output", ypath, "--layers", "all", "--grad"] + over, check=True)
    ours, _ = zt.st_load(ypath)

    failures = []

    def check(what, got, want, tol):
        got = np.asarray(got).reshape(np.asarray(want).shape)
        err, i = zt.rel_err(got, want)
        flat_g, flat_w = got.reshape(-1), np.asarray(want).reshape(-1)
        status = "ok" if err <= tol else "FAILED"
        line = f"{what:28s} rel err {err:.2e} (tol {tol:.0e}) {status}"
        if err > tol:
            line += f": worst index {i}: zfnet {flat_g[i]:.8g}, torch {flat_w[i]:.8g}"
            failures.append(what)
        print(line)

    xt = torch.from_numpy(x).requires_grad_(True)
    out, outs = zt.run(mods, xt, keep=True)
    for name, _, _ in mods:
        check(f"output {name}", ours[name], outs[name].detach().numpy(), a.tol_out)
    logits = outs[mods[-2][0]]
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    check("loss", ours["loss"], loss.detach().numpy(), a.tol_out)
    check("grad.input", ours["grad.input"], xt.grad.numpy(), a.tol_grad)
    for name, g in zt.param_grads(mods).items():
        check(f"grad.{name}", ours[f"grad.{name}"], g, a.tol_grad)

    names = [n for n, _, _ in mods]
    kinds = {n: k for n, k, _ in mods}
    for layer in [s for s in a.project.split(",") if s]:
        with torch.no_grad():
            act, _ = zt.run(mods, torch.from_numpy(x), upto=layer)
        act = act.numpy()
        # the strongest feature map (or unit) per image, everything else zeroed
        sig = np.zeros_like(act)
        for i in range(a.batch):
            k = int(act[i].reshape(act.shape[1], -1).max(1).argmax()) if act.ndim == 4 \
                else int(act[i].argmax())
            sig[i, k] = act[i, k]
        ppath = os.path.join(a.workdir, "p.safetensors")
        other = {"deconvnet": "gradient", "guided": "identity", "gradient": "identity"}
        variants = [(r, "default") for r in ("deconvnet", "guided", "gradient")]
        if a.lrn_choices and "lrn" in kinds.values():
            variants += [(r, other[r]) for r in ("deconvnet", "guided")]
        for rule, lrn in variants:
            subprocess.run([a.zfnet, "deconv", "--weights", wpath, "--input", xpath, "--layer",
                            layer, "--strongest", "--rule", rule, "--lrn", lrn, "--raw", ppath],
                           check=True, stdout=subprocess.DEVNULL)
            proj = zt.st_load(ppath)[0]["projection"]
            handles = zt.add_rule_hooks(mods, rule, lrn)
            xt = torch.from_numpy(x).requires_grad_(True)
            y, _ = zt.run(mods, xt, upto=layer)
            y.backward(torch.from_numpy(sig))
            for h in handles:
                h.remove()
            what = f"deconv {rule} {layer}" + ("" if lrn == "default" else f" lrn {lrn}")
            check(what, proj, xt.grad.numpy(), a.tol_out)
            if rule == "deconvnet" and lrn == "default":
                manual = manual_deconvnet(mods, torch.from_numpy(x), layer, torch.from_numpy(sig))
                check(f"deconv {rule} {layer} (manual)", proj, manual.detach().numpy(),
                      a.tol_out)
        if act.ndim == 4:  # one chosen map, and one single activation, by the DeconvNet rule
            k = act.shape[1] // 2
            uy, ux = act.shape[2] // 2, act.shape[3] // 2
            for sel, keep in ((["--map", str(k)], lambda s_: s_.__setitem__(
                    (slice(None), k), act[:, k])),
                              (["--unit", f"{k},{uy},{ux}"], lambda s_: s_.__setitem__(
                                  (slice(None), k, uy, ux), act[:, k, uy, ux]))):
                one = np.zeros_like(act)
                keep(one)
                subprocess.run([a.zfnet, "deconv", "--weights", wpath, "--input", xpath,
                                "--layer", layer, "--rule", "deconvnet", "--raw", ppath] + sel,
                               check=True, stdout=subprocess.DEVNULL)
                proj = zt.st_load(ppath)[0]["projection"]
                manual = manual_deconvnet(mods, torch.from_numpy(x), layer, torch.from_numpy(one))
                check(f"deconv {sel[0][2:]} {layer}", proj, manual.detach().numpy(), a.tol_out)
        score = names[-2] if kinds[names[-1]] == "softmax" else names[-1]
        if act.ndim == 4 and names.index(layer) < names.index(score):
            # Grad-CAM: A after the ReLU when one follows, class = the prediction
            at = layer
            nxt = names[names.index(layer) + 1]
            if kinds[nxt] == "relu":
                at = nxt
            subprocess.run([a.zfnet, "deconv", "--weights", wpath, "--input", xpath, "--layer",
                            layer, "--rule", "gradcam", "--raw", ppath],
                           check=True, stdout=subprocess.DEVNULL)
            cam = zt.st_load(ppath)[0]["gradcam"]
            xt = torch.from_numpy(x)
            _, outs = zt.run(mods, xt, keep=True)
            A = outs[at]
            logits = outs[score]
            cls = logits.argmax(1)
            grad, = torch.autograd.grad(logits.gather(1, cls[:, None]).sum(), A)
            w = grad.mean((2, 3), keepdim=True)
            want = torch.relu((w * A).sum(1, keepdim=True))
            want = torch.nn.functional.interpolate(want, size=x.shape[2:], mode="bilinear",
                                                   align_corners=False)
            check(f"gradcam {at}", cam, want.detach().numpy(), a.tol_out)

    if failures:
        print(f"{len(failures)} checks FAILED for {a.model}: {', '.join(failures)}")
        sys.exit(1)
    print(f"all checks passed for {a.model}")


if __name__ == "__main__":
    main()
