"""onnx_check, part e: model-zoo-shaped graphs.

Graphs built with onnx.helper (bvlc_alexnet at opsets 9 and 7, ZFNet-512's shape with MatMul +
Add fc layers): imported, every layer vs onnxruntime within 1e-4 relative.
"""
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .common import (P, REL_TOL, check, compare_layers, forward, import_onnx, imported, layers_of,
                     ort_run, show, tidy, with_all_outputs)

KEY, TITLE = "e", "e. model-zoo-shaped graphs"


class Builder:
    """A small graph builder that records, for each zfnet layer an importer should make, its
    kind and its ONNX output tensor."""

    def __init__(self, rng, inp):
        self.rng, self.nodes, self.inits, self.layers, self.x = rng, [], [], [], inp

    def init(self, name, a):
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(a), name))
        return name

    def node(self, op, inputs, out, kind=None, **kw):
        self.nodes.append(helper.make_node(op, inputs, [out], **kw))
        if kind:
            self.layers.append((kind, out))
        self.x = out
        return out

    def conv(self, stem, c, f, k, s, p, g, out):
        wt = self.rng.standard_normal((f, c // g, k, k)) * np.sqrt(2.0 / (c // g * k * k))
        b = self.rng.uniform(-0.1, 0.1, f)
        return self.node("Conv", [self.x, self.init(stem + "_w_0", wt.astype(np.float32)),
                                  self.init(stem + "_b_0", b.astype(np.float32))], out, "conv",
                         kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=g)

    def fc_weights(self, n_in, n_out, gain=2.0):
        wt = self.rng.standard_normal((n_out, n_in)) * np.sqrt(gain / n_in)
        return wt.astype(np.float32), self.rng.uniform(-0.1, 0.1, n_out).astype(np.float32)


def alexnet_zoo(opset, reshape_shape):
    """bvlc_alexnet's graph (Caffe2-converted: data_0 [1,3,224,224], unnamed nodes,
    Caffe-style tensor names; LRN before pooling; pool5 with pads [0,0,1,1])."""
    g = Builder(np.random.default_rng(21), "data_0")
    g.conv("conv1", 3, 96, 11, 4, 0, 1, "conv1_1")
    g.node("Relu", [g.x], "conv1_2", "relu")
    g.node("LRN", [g.x], "norm1_1", "lrn", size=5, alpha=1e-4, beta=0.75, bias=1.0)
    g.node("MaxPool", [g.x], "pool1_1", "maxpool", kernel_shape=[3, 3], strides=[2, 2],
           pads=[0, 0, 0, 0])
    g.conv("conv2", 96, 256, 5, 1, 2, 2, "conv2_1")
    g.node("Relu", [g.x], "conv2_2", "relu")
    g.node("LRN", [g.x], "norm2_1", "lrn", size=5, alpha=1e-4, beta=0.75, bias=1.0)
    g.node("MaxPool", [g.x], "pool2_1", "maxpool", kernel_shape=[3, 3], strides=[2, 2],
           pads=[0, 0, 0, 0])
    for i, (c, f, grp) in enumerate([(256, 384, 1), (384, 384, 2), (384, 256, 2)], 3):
        g.conv(f"conv{i}", c, f, 3, 1, 1, grp, f"conv{i}_1")
        g.node("Relu", [g.x], f"conv{i}_2", "relu")
    g.node("MaxPool", [g.x], "pool5_1", "maxpool", kernel_shape=[3, 3], strides=[2, 2],
           pads=[0, 0, 1, 1])
    g.node("Reshape", [g.x, g.init("OC2_DUMMY_1", np.array(reshape_shape, np.int64))],
           "OC2_DUMMY_0")
    for name, n_in, n_out in (("fc6", 9216, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)):
        wt, b = g.fc_weights(n_in, n_out, 2.0 if name != "fc8" else 20.0)
        g.node("Gemm", [g.x, g.init(name + "_w_0", wt), g.init(name + "_b_0", b)],
               name + "_1", "fc", transB=1)
        if name != "fc8":
            g.node("Relu", [g.x], name + "_2", "relu")
            g.node("Dropout", [g.x], name + "_3", "dropout", ratio=0.5)
    g.node("Softmax", [g.x], "prob_1", "softmax")
    graph = helper.make_graph(g.nodes, "bvlc_alexnet", [helper.make_tensor_value_info(
        "data_0", TensorProto.FLOAT, [1, 3, 224, 224])], [helper.make_tensor_value_info(
            "prob_1", TensorProto.FLOAT, [1, 1000])], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             producer_name="onnx-caffe2"), g.layers


def zfnet512_zoo(opset):
    """ZFNet-512's graph shape (gpu_0/... names, Caffe2-converted; fc layers as Reshape +
    MatMul + Add)."""
    g = Builder(np.random.default_rng(22), "gpu_0/data_0")
    g.conv("gpu_0/conv1", 3, 96, 7, 2, 1, 1, "gpu_0/conv1_1")            # 110
    g.node("Relu", [g.x], "gpu_0/conv1_2", "relu")
    g.node("LRN", [g.x], "gpu_0/norm1_1", "lrn", size=3, alpha=5e-5, beta=0.75, bias=2.0)
    g.node("MaxPool", [g.x], "gpu_0/pool1_1", "maxpool", kernel_shape=[3, 3], strides=[2, 2],
           pads=[1, 1, 1, 1])                                              # 55
    g.conv("gpu_0/conv2", 96, 256, 5, 2, 0, 1, "gpu_0/conv2_1")          # 26
    g.node("Relu", [g.x], "gpu_0/conv2_2", "relu")
    g.node("LRN", [g.x], "gpu_0/norm2_1", "lrn", size=3, alpha=5e-5, beta=0.75, bias=2.0)
    g.node("MaxPool", [g.x], "gpu_0/pool2_1", "maxpool", kernel_shape=[3, 3], strides=[2, 2],
           pads=[0, 0, 1, 1])                                              # 13
    for i, (c, f) in enumerate([(256, 384), (384, 384), (384, 256)], 3):
        g.conv(f"gpu_0/conv{i}", c, f, 3, 1, 1, 1, f"gpu_0/conv{i}_1")
        g.node("Relu", [g.x], f"gpu_0/conv{i}_2", "relu")
    g.node("MaxPool", [g.x], "gpu_0/pool5_1", "maxpool", kernel_shape=[3, 3], strides=[2, 2])
    g.node("Reshape", [g.x, g.init("gpu_0/pool5_shape", np.array([1, 9216], np.int64))],
           "gpu_0/pool5_flat")                                             # 256 x 6 x 6
    for name, n_in, n_out in (("fc6", 9216, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)):
        wt, b = g.fc_weights(n_in, n_out, 2.0 if name != "fc8" else 20.0)
        g.node("MatMul", [g.x, g.init(f"gpu_0/{name}_w_0", np.ascontiguousarray(wt.T))],
               f"gpu_0/{name}_mm")
        g.node("Add", [g.x, g.init(f"gpu_0/{name}_b_0", b)], f"gpu_0/{name}_1", "fc")
        if name != "fc8":
            g.node("Relu", [g.x], f"gpu_0/{name}_2", "relu")
    g.node("Softmax", [g.x], "gpu_0/softmax_1", "softmax")
    graph = helper.make_graph(g.nodes, "zfnet512", [helper.make_tensor_value_info(
        "gpu_0/data_0", TensorProto.FLOAT, [1, 3, 224, 224])], [helper.make_tensor_value_info(
            "gpu_0/softmax_1", TensorProto.FLOAT, [1, 1000])], g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             producer_name="onnx-caffe2"), g.layers


def zoo_case(tag, model, layers):
    """checker + shape inference, onnxruntime with every layer tensor, import, compare."""
    path = P(f"e_{tag}.onnx")
    try:
        onnx.checker.check_model(model, full_check=True)
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        ok, why = True, ""
    except Exception as e:  # noqa: BLE001
        ok, why = False, str(e).splitlines()[0][:300]
    check(ok, f"{tag}: the graph passes onnx.checker and strict shape inference {why}")
    onnx.save(model, path)
    inp = model.graph.input[0].name
    allp = with_all_outputs(path, [t for _, t in layers], P(f"e_{tag}.all.onnx"))
    x = np.random.default_rng(23).standard_normal((1, 3, 224, 224)).astype(np.float32)
    ref = ort_run(allp, {inp: x}, [t for _, t in layers], f"e_{tag}")
    tidy(allp)
    outdir = P(f"e_{tag}.d")
    t0 = time.time()
    r = import_onnx(path, outdir)
    tidy(path)
    if not check(r.returncode == 0, f"{tag}: import ({time.time() - t0:.1f} s): {show(r)}"):
        return
    cfg, wi, text = imported(outdir)
    got = layers_of(text)
    kinds_ok = [k for k, _ in got] == [k for k, _ in layers]
    check(kinds_ok, f"{tag}: the imported model has the expected layers "
                    f"({len(got)}: {' '.join(k for k, _ in got)})")
    bad = [n for _, n in got if not (all(ch.isalnum() or ch in "_-." for ch in n) and
                                     0 < len(n) <= 31)]
    check(not bad and len({n for _, n in got}) == len(got),
          f"{tag}: layer names are valid and distinct ({' '.join(n for _, n in got)})")
    y = forward(cfg, wi, x, f"e_{tag}")
    if not check(ref is not None and y is not None, f"{tag}: onnxruntime and zfnet ran"):
        return
    pairs = ([(zn, t) for (_, zn), (_, t) in zip(got, layers)] if kinds_ok
             else [(got[-1][1], layers[-1][1])])
    if not kinds_ok:
        print(f"  {tag}: layers differ: compared the final output only")
    compare_layers(y, ref, pairs, f"{tag} vs onnxruntime")
    tidy(outdir, P(f"e_{tag}.y.safetensors"))


def run():
    print(f"tolerance: max|zfnet - onnxruntime| <= {REL_TOL:g} * max(1, max|onnxruntime|) per "
          "layer")
    for opset, shape in ((9, [1, 9216]), (7, [1, -1])):
        model, layers = alexnet_zoo(opset, shape)
        zoo_case(f"bvlc_alexnet_opset{opset}", model, layers)
        del model
    model, layers = zfnet512_zoo(9)
    zoo_case("zfnet512_opset9", model, layers)
