"""onnx_check, part d: round trip: export -> import.

The exported file imported again: the same canonical model text, bitwise the same tensors and
bitwise the same forward outputs; the same from the opset 7 to 17 files (before opset 10,
without ceil_mode, ceil pools come back as floor + pad_end); a checkpoint from `zfnet train`
keeps its data preparation and gives the same `zfnet eval` numbers.
"""
import os
import time

import numpy as np
import onnx

from .common import (C_MODELS, C_OPSETS, EXPORTS, P, THREADS, check, checkpoint, exported, forward,
                     import_onnx, imported, layers_of, random_input, show, tidy, tl, zf, zt)

KEY, TITLE = "d", "d. round trip: export -> import"


def round_trip(model, opset=None, n=2):
    wpath, w, text = checkpoint(model)
    label = f"{model} opset {opset or 'default'}"
    path = exported(model, opset)
    if path is None:
        return
    outdir = P(f"d_{model}_{opset}")
    t0 = time.time()
    r = import_onnx(path, outdir)
    if not check(r.returncode == 0 and os.path.isfile(os.path.join(outdir, "model.cfg"))
                 and os.path.isfile(os.path.join(outdir, "weights.safetensors")),
                 f"{label}: import ({time.time() - t0:.1f} s): {show(r)}"):
        return
    cfg, wi, itext = imported(outdir)
    if opset is None or opset >= 10:
        same = itext == text
        if not same:
            import difflib
            print("".join(list(difflib.unified_diff(text.splitlines(True),
                                                     itext.splitlines(True), "canonical",
                                                     "imported"))[:40]))
        check(same, f"{label}: model.cfg is the checkpoint's canonical model text")
    else:  # no ceil_mode before opset 10: ceil pools come back as floor + pad_end
        def norm(t):
            net, layers = zt.parse_cfg(t)
            return net, [(k, {a: v for a, v in p.items()
                              if not (k == "maxpool" and a in ("mode", "pad_end"))})
                         for k, p in layers]
        check(norm(itext) == norm(text), f"{label}: model.cfg is the canonical text but for "
                                         f"the maxpool layers' mode and pad_end")
    wi_t = zt.st_load(wi)[0]
    bad = [k for k in w if k not in wi_t or wi_t[k].dtype != w[k].dtype
           or wi_t[k].shape != w[k].shape or wi_t[k].tobytes() != w[k].tobytes()]
    check(sorted(wi_t) == sorted(w) and not bad,
          f"{label}: weights.safetensors holds the same tensors bitwise "
          f"({len(wi_t)} vs {len(w)}; differing: {bad[:5]})")
    x = random_input(text, n, seed=12)
    a = forward(model, wpath, x, f"d_{model}_{opset}.orig")
    b = forward(cfg, wi, x, f"d_{model}_{opset}.back")
    names = [nm for _, nm in layers_of(text)]
    same = (a is not None and b is not None and
            [nm for _, nm in layers_of(itext)] == names and
            all(a[k].tobytes() == b[k].tobytes() for k in names))
    check(same, f"{label}: every layer's output bitwise identical to the original model's")
    tidy(outdir, P(f"d_{model}_{opset}.orig.y.safetensors"),
         P(f"d_{model}_{opset}.back.y.safetensors"))


def trained_round_trip():
    """A checkpoint from zfnet train (data mean, scale, class names): export -> import keeps the
    data preparation, and zfnet eval of both gives the same numbers."""
    img, lab = tl.squares(np.random.default_rng(5), 600)
    tl.write_idx(P("d_images.gz"), img)
    tl.write_idx(P("d_labels.gz"), lab)
    data = P("d_images.gz") + "," + P("d_labels.gz")
    r = zf(["train", "-o", P("d_run"), "--model", "zfnet-mini", "--train", data, "--test",
            "none", "--epochs", "1", "--batch", "32", "--seed", "3"] + THREADS)
    if not check(r.returncode == 0, f"zfnet train of zfnet-mini (1 epoch, 600 images): {show(r)}"):
        return
    w = os.path.join(P("d_run"), "last.safetensors")
    r = zf(["export", "--weights", w, "-o", P("d_trained.onnx")])
    m = onnx.load(P("d_trained.onnx")) if r.returncode == 0 else None
    meta = {p.key: p.value for p in m.metadata_props} if m else {}
    check("zfnet.data_mean" in meta and meta.get("zfnet.data_shape") == "1x28x28",
          f"export of a trained checkpoint: its data mean in the metadata ({show(r)})")
    r = import_onnx(P("d_trained.onnx"), P("d_trained.d"))
    if not check(r.returncode == 0, f"import of the trained export: {show(r)}"):
        return
    a, ma = zt.st_load(w)
    b, mb = zt.st_load(os.path.join(P("d_trained.d"), "weights.safetensors"))
    keys = ("input_scale", "crop_pad", "data_shape", "class_names", "model")
    check(np.asarray(a["data.mean"]).tobytes() == np.asarray(b["data.mean"]).tobytes()
          and all(ma.get(k) == mb.get(k) for k in keys),
          "the imported checkpoint's data.mean (bit for bit), scale, crop padding, shape, class "
          "names and model text are the trained checkpoint's")
    evals = [zf(["eval", "--weights", x, "--data", data, "--threads", "1"])
             for x in (w, os.path.join(P("d_trained.d"), "weights.safetensors"))]
    check(all(e.returncode == 0 for e in evals) and evals[0].stdout.split("\n")[-2:] ==
          evals[1].stdout.split("\n")[-2:],
          f"zfnet eval of the trained and the imported checkpoint: the same numbers "
          f"({evals[1].stdout.strip().splitlines()[-1:]})")


def run():
    trained_round_trip()
    for model, n in C_MODELS:
        round_trip(model, None, n)
        if model != "zfnet-mini":  # part g damages zfnet-mini's export
            tidy(EXPORTS.get((model, None)), checkpoint(model)[0])
    for opset in C_OPSETS:
        round_trip("zfnet-mini", opset)
