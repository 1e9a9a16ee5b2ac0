"""onnx_check, part g: damaged files.

Truncated, foreign bytes, empty, broken protobuf lengths, short or oversized initializers,
external data, a cycle, a missing initializer, an unknown op, an even LRN size, dilations, a
shape mismatch: a clean failure (exit 1, one stderr line naming the file and the node or tensor,
no output folder or other file left behind, no crash). Models ONNX cannot carry are refused by
export the same way; a refused import into an existing folder leaves its files.
"""
import os
import struct
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .common import (P, check, exported, forward, import_onnx, mkdir, ort_run, refused, show, tl,
                     zf)

KEY, TITLE = "g", "g. damaged files"


def png_bytes():
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + bytes([200, 30, 30]) * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def edit(base, fn):
    m = onnx.load(base)
    fn(m)
    return m.SerializeToString()


def node_named(m, name):
    return next(n for n in m.graph.node if n.name == name)


def init_named(m, name):
    return next(t for t in m.graph.initializer if t.name == name)


def set_attr(node, name, value):
    for a in list(node.attribute):
        if a.name == name:
            node.attribute.remove(a)
    node.attribute.append(helper.make_attribute(name, value))


def short_raw(m):
    t = init_named(m, "conv1.weight")
    a = numpy_helper.to_array(t)
    t.ClearField("float_data")
    t.raw_data = a.tobytes()[:-4]


def huge_dims(m):
    t = init_named(m, "fc6.weight")
    del t.dims[:]
    t.dims.extend([1 << 31, 1 << 31])


def external(m):
    t = init_named(m, "conv1.weight")
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="no-such-weights.bin")


def cycle(m):
    node_named(m, "conv2").input[0] = node_named(m, "relu2").output[0]


def channels(m):
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 3


def run():
    base = exported("zfnet-mini")
    if base is None:
        check(False, "no exported zfnet-mini to damage")
        return
    with open(base, "rb") as f:
        good = f.read()
    rng = np.random.default_rng(4)
    cases = [  # (tag, bytes, fragments naming the node/tensor (any one), why)
        ("truncated", good[:len(good) // 2], (), "half of a valid file"),
        ("png", png_bytes(), (), "a PNG image"),
        ("random", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), (), "random bytes"),
        ("empty", b"", (), "an empty file"),
        ("varint", b"\x3a" + b"\xff" * 10 + b"\x01" + good[:64], (),
         "the graph field's length an overlong varint"),
        ("length", b"\x3a\xff\xff\xff\xff\x0f" + good[:4096], (),
         "the graph field claims 4 GiB in a 4 kB file"),
        ("short-raw", edit(base, short_raw), ("conv1.weight",),
         "conv1.weight's raw_data 4 bytes short of its dims"),
        ("huge-dims", edit(base, huge_dims), ("fc6.weight", "fc6"),
         "fc6.weight claims 2^31 x 2^31 values (under a 1 GiB address-space limit)"),
        ("external", edit(base, external), ("conv1.weight",),
         "conv1.weight in an external file that does not exist"),
        ("cycle", edit(base, cycle), ("conv2", "relu2", "cycle"),
         "conv2 reads relu2's output, relu2 reads conv2's"),
        ("no-weight", edit(base, lambda m: m.graph.initializer.remove(
            init_named(m, "conv1.weight"))), ("conv1",), "conv1.weight removed"),
        ("tanh", edit(base, lambda m: setattr(node_named(m, "relu1"), "op_type", "Tanh")),
         ("Tanh",), "relu1 made a Tanh"),
        ("lrn-even", edit(base, lambda m: set_attr(node_named(m, "norm1"), "size", 4)),
         ("norm1", "LRN"), "LRN size 4"),
        ("dilations", edit(base, lambda m: set_attr(node_named(m, "conv2"), "dilations",
                                                    [2, 2])), ("conv2", "dilation"),
         "conv2 with dilations 2"),
        ("channels", edit(base, channels), ("conv1", "input"),
         "input of 3 channels for conv1's 1-channel weights"),
    ]
    mkdir("g")
    for tag, data, frags, why in cases:
        path, outdir = P("g", f"{tag}.onnx"), P("g", f"{tag}.d")
        with open(path, "wb") as f:
            f.write(data)
        before = tl.snapshot(P("g"))
        r = import_onnx(path, outdir, limit_vm=True)
        ok, problems = refused(r, outdir, frags, need=(os.path.basename(path),), since=before)
        check(ok, f"damaged {tag} ({why}): {problems or 'refused'}: {r.stderr.strip()[:300]!r}")
    # models ONNX cannot carry as zfnet computes them: export refuses, naming the layer
    base = "[net]\nchannels=1\nheight=8\nwidth=8\nclasses=3\n\n"
    for tag, body, frag in (
            ("even-lrn", "[lrn]\nname=norm1\nsize=4\n", "layer 'norm1': an even LRN size"),
            ("named-input", "[relu]\nname=input\n", "two tensors named 'input'"),
            ("conv-after-fc", "[fc]\nname=fc1\noutputs=4\n\n[conv]\nname=c\nfilters=2\n"
             "size=1\n", "layer 'c': a window layer after an fc layer")):
        cfg, w, out = P("g", tag + ".cfg"), P("g", tag + ".safetensors"), P("g", tag + ".onnx")
        with open(cfg, "w") as f:
            f.write(base + body)
        r0 = zf(["init", cfg, "-o", w])
        before = tl.snapshot(P("g"))
        r = zf(["export", "--weights", w, "-o", out])
        ok, problems = refused(r, out, need=frag, since=before)
        check(r0.returncode == 0 and ok, f"export of a model with {tag}: refused in one line, "
                                         f"nothing written ({problems or show(r)})")
    # a ceil pool on a non-square map before opset 10: the end pads per side
    cfg, w, out = P("g", "rect.cfg"), P("g", "rect.safetensors"), P("g", "rect.onnx")
    with open(cfg, "w") as f:
        f.write("[net]\nchannels=1\nheight=4\nwidth=5\n\n[maxpool]\nname=pool\nsize=2\n"
                "stride=2\nmode=ceil\n")
    x = np.random.default_rng(2).standard_normal((1, 1, 4, 5)).astype(np.float32)
    zf(["init", cfg, "-o", w])
    r = zf(["export", "--weights", w, "-o", out, "--opset", "9"])
    y = forward(cfg, w, x, "g_rect")
    o = ort_run(out, {"input": x}, ["pool"], "g_rect") if r.returncode == 0 else None
    check(o is not None and y is not None and o["pool"].shape == y["pool"].shape == (1, 1, 2, 3)
          and np.array_equal(o["pool"], y["pool"]),
          f"a ceil pool on a 4x5 map at opset 9 (end pads per side) = zfnet in onnxruntime "
          f"({show(r)})")
    # a refused import into a folder that already exists must not delete what was there
    keep = mkdir("g", "existing")
    with open(os.path.join(keep, "mine.txt"), "w") as f:
        f.write("mine")
    before = tl.snapshot(keep)
    r = zf(["import", P("g", "tanh.onnx"), "-o", keep], timeout=120)
    problems = tl.clean_failure(r, tl.FAILURE, need="Tanh", since=before)
    check(not problems and os.path.isfile(os.path.join(keep, "mine.txt")),
          f"a refused import into an existing folder leaves its files: "
          f"{'; '.join(problems) or show(r)}")
