#!/usr/bin/python3
"""libzfnet.so from Python through ctypes (python/zfnet.py), checked against PyTorch.

zfnet-mini is built and He-initialised through the C API, its weights saved and loaded into the
PyTorch twin; a random batch then goes through both: every layer's output (<= 1e-4 relative),
DeconvNet and guided projections from several layers (against ReLU backward hooks, <= 1e-4),
and Grad-CAM at conv5 (<= 1e-4); occlusion equals the command line's, invariance and
correspondence run. Errors come back as exceptions with the library's message.

Usage: ctypes_check.py LIBZFNET.so WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "torch"))
sys.path.insert(0, os.path.join(here, "..", "python"))
os.environ["ZFNET_LIB"] = os.path.abspath(sys.argv[1])
import testlib as tl  # noqa: E402
import zfnet  # noqa: E402
import zftorch as zt  # noqa: E402

work = sys.argv[2]
zf = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "zfnet")  # the CLI beside it
os.makedirs(work, exist_ok=True)
torch.set_num_threads(2)
check = tl.check

net = zfnet.Net.from_model("zfnet-mini", threads=2)
net.init("he", seed=3, bias=0.01)
wpath = os.path.join(work, "w.safetensors")
net.save(wpath)
weights, meta = zt.st_load(wpath)
_, mods = zt.build(meta["model"])
zt.load_weights(mods, weights)
for _, _, m in mods:
    m.eval()
x = np.random.default_rng(4).standard_normal((3,) + net.input_shape).astype(np.float32)

with torch.no_grad():
    _, outs = zt.run(mods, torch.from_numpy(x))
shapes = all(net.forward(x, upto=name).shape == outs[name].shape for name in net.layers)
worst = max(zt.rel_err(net.forward(x, upto=name), outs[name].numpy())[0] for name in net.layers)
check(shapes and worst <= 1e-4,
      f"forward through ctypes: every layer = PyTorch's, shapes too (worst rel err {worst:.1e})")

for layer in ("conv2", "norm2", "conv5", "pool5", "fc7"):
    for rule in ("deconvnet", "guided"):
        proj, maps, values = net.project(x, layer, rule=rule)
        with torch.no_grad():
            act = zt.run(mods, torch.from_numpy(x), upto=layer)[0].numpy()
        sig = np.zeros_like(act)
        for i in range(len(x)):
            k = int(maps[i])
            sig[i, k] = act[i, k]
        handles = zt.add_rule_hooks(mods, rule)
        xt = torch.from_numpy(x).requires_grad_(True)
        y, _ = zt.run(mods, xt, upto=layer)
        y.backward(torch.from_numpy(sig))
        for h in handles:
            h.remove()
        err, _ = zt.rel_err(proj, xt.grad.numpy())
        strongest = all(act[i].reshape(act.shape[1], -1).max(1).argmax() == maps[i]
                        for i in range(len(x)))
        check(err <= 1e-4 and strongest,
              f"{rule} projection from {layer} through ctypes = PyTorch's (rel err {err:.1e})")

cam, classes, probs = net.gradcam(x, "conv5")
xt = torch.from_numpy(x)
_, outs = zt.run(mods, xt, keep=True)
A, logits = outs["relu5"], outs["fc8"]
cls = logits.argmax(1)
grad, = torch.autograd.grad(logits.gather(1, cls[:, None]).sum(), A)
want = torch.relu((grad.mean((2, 3), keepdim=True) * A).sum(1, keepdim=True))
want = torch.nn.functional.interpolate(want, size=x.shape[2:], mode="bilinear",
                                       align_corners=False).detach().numpy()
err, _ = zt.rel_err(cam, want)
check(err <= 1e-4 and (classes == cls.numpy()).all(),
      f"Grad-CAM at conv5 through ctypes = PyTorch's (rel err {err:.1e})")

# the paper's experiments through ctypes = the command line's numbers
xo = x[:2]
zt.st_save(os.path.join(work, "occ-x.safetensors"), {"input": xo})
occ = net.occlusion(xo, 6, 4, layer="conv5", classes=[3, 5])
subprocess.run([zf, "occlusion", "--model", "zfnet-mini", "--weights", wpath, "--input",
                os.path.join(work, "occ-x.safetensors"), "--size", "6", "--stride", "4",
                "--class", "3", "--raw", os.path.join(work, "occ.safetensors"), "-o",
                os.path.join(work, "occ")], check=True, capture_output=True)
cli = zt.st_load(os.path.join(work, "occ.safetensors"))[0]
check(np.abs(occ[0]["activation"] - cli["activation"][0]).max() <= 1e-5 * abs(occ[0]["activation"]).max()
      and occ[0]["class"] == 3 and occ[1]["class"] == 5 and occ[0]["prob"].shape == (6, 6),
      "occlusion through ctypes = zfnet occlusion's")
curves, inputs = net.invariance(xo, "rotate", 0, 90, 4, ["conv1", "fc7"])
check(curves[0]["distance"].shape == (2, 4) and curves[0]["distance"][:, 0].max() < 1e-4
      and inputs.shape == (2, 4, 1, 28, 28), "invariance through ctypes: distance 0 at 0 degrees")
d = net.correspondence(xo, [[2, 2, 10, 10], [2, 2, 10, 10]], ["conv5"])
check(d.shape == (1,) and 0 <= d[0] <= 1, f"correspondence through ctypes: Delta {d[0]:.4f}")

# ONNX through ctypes: the same calls as zfnet export / import
onnx_path = os.path.join(work, "mini.onnx")
net.export_onnx(onnx_path, opset=11)
back = zfnet.Net.from_onnx(onnx_path)
check(back.input_shape == net.input_shape and back.classes == net.classes
      and np.array_equal(back.forward(x), net.forward(x)),
      "ONNX through ctypes: export_onnx then from_onnx gives the same outputs, bit for bit")
subprocess.run([zf, "import", onnx_path, "-o", os.path.join(work, "mini-imported")], check=True,
               capture_output=True)
imported = zt.st_load(os.path.join(work, "mini-imported", "weights.safetensors"))[0]
check(sorted(imported) == sorted(weights)
      and all(np.asarray(imported[k]).tobytes() == np.asarray(weights[k]).tobytes()
              for k in weights),
      "zfnet import of the ctypes export: every weight bit for bit")
try:
    zfnet.Net.from_onnx(os.path.join(work, "occ.safetensors"))
    check(False, "a safetensors file given as ONNX raises")
except zfnet.Error as e:
    check("not an ONNX model" in str(e), f"a safetensors file given as ONNX raises: {e}")

try:
    net.project(x, "conv9")
    check(False, "an unknown layer raises")
except zfnet.Error as e:
    check("conv9" in str(e), f"an unknown layer raises zfnet.Error: {e}")
try:
    net.project(x, "conv1", map=99)
    check(False, "a map out of range raises")
except zfnet.Error as e:
    check("layer 'conv1' has 32 maps" in str(e), f"a map out of range raises: {e}")
try:
    zfnet.Net.from_checkpoint(os.path.join(work, "missing.safetensors"))
    check(False, "a missing checkpoint raises")
except zfnet.Error as e:
    check("missing.safetensors" in str(e), f"a missing checkpoint raises: {e}")
tl.finish()
