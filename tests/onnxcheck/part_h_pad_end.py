"""onnx_check, part h: maxpool's pad_end against PyTorch and onnxruntime.

The model format's explicit end padding (SAME_LOWER's one-sided begin padding, the zoo's
[0,0,1,1], ceil windows): zfnet = PyTorch (-inf padding, then pooling), the downward pass =
PyTorch's gradient of the pooling, the export in onnxruntime = zfnet, imported back with the
same pad_end; occlusion's footprint-only path on pad_end pools = recomputing every image.
"""
import numpy as np

from .common import P, check, forward, import_onnx, imported, ort_run, show, zf, zt

KEY, TITLE = "h", "h. maxpool pad_end against PyTorch and onnxruntime"


def run():
    import torch
    rng = np.random.default_rng(11)
    # (pad, pad_end, mode, size, stride, side): SAME_LOWER's one-sided begin padding, the zoo's
    # [0,0,1,1], both sides, a ceil window that would start in the end padding (dropped, as
    # onnxruntime does), a cut end
    for pad, pe, mode, k, s, side in ((1, -1, "floor", 2, 1, 9), (0, 1, "floor", 3, 2, 13),
                                      (1, 1, "floor", 3, 2, 12), (0, 2, "ceil", 3, 2, 10),
                                      (1, 1, "ceil", 3, 2, 11), (2, -1, "floor", 5, 2, 11)):
        tag = f"h_p{pad}e{pe}{mode}k{k}s{s}h{side}"
        text = (f"[net]\nchannels=2\nheight={side}\nwidth={side}\n\n[maxpool]\nname=pool\n"
                f"size={k}\nstride={s}\npad={pad}\nmode={mode}\npad_end={pe}\n")
        cfg, w, onnx_path = P(tag + ".cfg"), P(tag + ".safetensors"), P(tag + ".onnx")
        with open(cfg, "w") as f:
            f.write(text)
        if not check(zf(["init", cfg, "-o", w]).returncode == 0, f"{tag}: zfnet init"):
            continue
        x = rng.standard_normal((2, 2, side, side)).astype(np.float32)
        y = forward(cfg, w, x, tag)
        _, mods = zt.build(text)
        with torch.no_grad():
            ref = mods[0][2](torch.from_numpy(x)).numpy()
        ok = y is not None and y["pool"].shape == ref.shape and np.array_equal(y["pool"], ref)
        check(ok, f"{tag}: zfnet = PyTorch (-inf padding, then pooling): "
                  f"{None if y is None else y['pool'].shape} vs {ref.shape}")
        # the downward pass: unpooling through the switches = max pooling's gradient
        sig = rng.standard_normal(ref.shape).astype(np.float32)
        d = forward(cfg, w, x, tag + "_down", signal=sig, project="pool")
        xt = torch.from_numpy(x).requires_grad_()
        (mods[0][2](xt) * torch.from_numpy(sig)).sum().backward()
        check(d is not None and np.allclose(d["projection"], xt.grad.numpy(), atol=1e-6),
              f"{tag}: unpooling through the switches = PyTorch's gradient of the pooling")
        r = zf(["export", "--weights", w, "-o", onnx_path])
        o = ort_run(onnx_path, {"input": x}, ["pool"], tag) if r.returncode == 0 else None
        check(o is not None and o["pool"].shape == ref.shape and np.array_equal(o["pool"], ref),
              f"{tag}: the export in onnxruntime = zfnet ({show(r)})")
        r = import_onnx(onnx_path, P(tag + ".d"))
        check(r.returncode == 0 and f"pad_end={pe}\n" in imported(P(tag + ".d"))[2],
              f"{tag}: imported back with pad_end={pe} ({show(r)})")
    h_occlusion()


def h_occlusion():
    """Occlusion's footprint-only path (window sub-nets of the pools) on a net with pad_end
    pools (SAME_UPPER's 2x2 stride 1, SAME_LOWER's one-sided) = recomputing every image."""
    cfg, w, x = P("h_occ.cfg"), P("h_occ.safetensors"), P("h_occ_x.safetensors")
    with open(cfg, "w") as f:
        f.write("[net]\nchannels=1\nheight=12\nwidth=12\nclasses=3\n\n[conv]\nname=conv1\n"
                "filters=4\nsize=3\npad=1\n\n[relu]\nname=relu1\n\n[maxpool]\nname=pool1\n"
                "size=2\nstride=1\npad_end=1\n\n[maxpool]\nname=pool2\nsize=3\nstride=2\n"
                "pad=1\npad_end=-1\n\n[fc]\nname=fc1\noutputs=classes\n\n[softmax]\n"
                "name=prob\n")
    zf(["init", cfg, "-o", w, "--init", "he", "--bias", "0.1"])
    zt.st_save(x, {"input": np.random.default_rng(1).random((2, 1, 12, 12), np.float32)})
    res = []
    for plain in ([], ["--plain"]):
        raw = P(f"h_occ{len(plain)}.safetensors")
        r = zf(["occlusion", "--model", cfg, "--weights", w, "--input", x, "--size", "4",
                "--stride", "2", "--layer", "pool2", "--fill", "zero", "--raw", raw, "-o",
                P(f"h_occ{len(plain)}")] + plain)
        res.append(zt.st_load(raw)[0] if r.returncode == 0 else None)
    check(all(res) and all(np.array_equal(res[0][k], res[1][k]) for k in res[1]),
          "occlusion on pad_end pools: the footprint-only path = recomputing every image")
