"""onnx_check, part b: ConvTranspose and MaxUnpool: zfnet's downward pass.

zfnet's downward pass (`forward --project L --rule deconvnet`) through one conv layer is a
transposed convolution with its weights, through one maxpool layer an unpooling through the
switches; the representable test-data cases (CASES_B) and derived cases run through onnxruntime
must match.
"""
import glob
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .common import (P, REFUSE, RUN, TESTDATA, allclose, case_data, check, forward, mkdir, ort_run,
                     zt)

KEY, TITLE = "b", "b. ConvTranspose / MaxUnpool: zfnet's downward pass"


CASES_B = {
    "test_convtranspose": (RUN, "3x3, stride 1, pad 0: conv 2x5x5 -> 1x3x3"),
    "test_convtranspose_1d": (REFUSE, "1-D (a 3x1 kernel is not square)"),
    "test_convtranspose_3d": (REFUSE, "3-D"),
    "test_convtranspose_autopad_same": (
        REFUSE, "SAME_UPPER stride 2: padding 0 before, 1 after (not symmetric)"),
    "test_convtranspose_dilations": (REFUSE, "dilations 2"),
    "test_convtranspose_kernel_shape": (REFUSE, "strides [3,2], output_padding, output_shape"),
    "test_convtranspose_output_shape": (REFUSE, "strides [3,2], explicit output_shape"),
    "test_convtranspose_pad": (REFUSE, "strides [3,2], output_padding"),
    "test_convtranspose_pads": (REFUSE, "strides [3,2], pads [1,2,1,2] (not square)"),
    "test_convtranspose_with_kernel": (REFUSE, "strides [3,2], output_padding, output_shape"),
    "test_maxunpool_export_without_output_shape": (RUN, "2x2 stride 2: pool 4x4 -> 2x2"),
    "test_maxunpool_export_with_output_shape": (
        RUN, "output_shape 5x5 = the pooled input: 2x2 s2 floor on 5x5 leaves the last "
             "row and column out"),
}


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def conv_model(path, c, h, w, f, k, s, p, g):
    with open(path, "w") as fh:
        fh.write(f"[net]\nname=deconv\nchannels={c}\nheight={h}\nwidth={w}\n\n[conv]\n"
                 f"name=conv1\nfilters={f}\nsize={k}\nstride={s}\npad={p}\ngroups={g}\n"
                 "bias=0\n")


def pool_model(path, c, h, w, k, s, p, mode):
    with open(path, "w") as fh:
        fh.write(f"[net]\nname=unpool\nchannels={c}\nheight={h}\nwidth={w}\n\n[maxpool]\n"
                 f"name=pool1\nsize={k}\nstride={s}\npad={p}\nmode={mode}\n")


def project_conv(tag, wt, signal, k, s, p, g, h_in, w_in, rng):
    """zfnet's projection of signal (N x F x h x w) through conv1 (weights wt [F, C/g, k, k])
    of an input C x h_in x w_in."""
    f, cg = wt.shape[0], wt.shape[1]
    cfg, wpath = P("b", tag + ".cfg"), P("b", tag + ".safetensors")
    conv_model(cfg, cg * g, h_in, w_in, f, k, s, p, g)
    zt.st_save(wpath, {"conv1.weight": np.ascontiguousarray(wt, np.float32)})
    x = rng.standard_normal((signal.shape[0], cg * g, h_in, w_in)).astype(np.float32)
    y = forward(cfg, wpath, x, "b/" + tag, signal=signal, project="conv1")
    return None if y is None else y["projection"]


def b_convtranspose(case, m, ins, outs, rng):
    node, (x, wt), y_ref = m.graph.node[0], ins, outs[0]
    a = attrs(node)
    k = wt.shape[2]
    s = a.get("strides", [1, 1])[0]
    p = a.get("pads", [0, 0, 0, 0])[0]
    g = a.get("group", 1)
    h_in, w_in = y_ref.shape[2], y_ref.shape[3]
    conv_h = (h_in + 2 * p - k) // s + 1
    check(conv_h == x.shape[2], f"{case}: conv {k}x{k} s{s} p{p} on {h_in}x{w_in} gives "
                                f"{x.shape[2]} rows (the signal's)")
    proj = project_conv(case, wt, x, k, s, p, g, h_in, w_in, rng)
    ok, err = allclose(proj, y_ref) if proj is not None else (False, float("inf"))
    check(ok, f"{case}: projection through conv1 == ConvTranspose output_0 (max err {err:.3g})")


def b_maxunpool(case, m, ins, outs, rng):
    node, y_ref = m.graph.node[0], outs[0]
    xt, xi = ins[0], ins[1]
    a = attrs(node)
    k, s = a["kernel_shape"][0], a.get("strides", [1, 1])[0]
    p = a.get("pads", [0, 0, 0, 0])[0]
    n, c, h, w = xt.shape
    h0, w0 = (h - 1) * s + k - 2 * p, (w - 1) * s + k - 2 * p  # MaxPool's input by default
    H, W = (int(ins[2][2]), int(ins[2][3])) if len(ins) > 2 else (h0, w0)
    check(k == s, f"{case}: windows do not overlap (kernel {k} = stride {s})")
    # an input whose maximum in each window is where the indices say (1 + noise there,
    # noise in [-1, 0) elsewhere)
    img = -rng.random((n, c, H, W)).astype(np.float32)
    placed = True
    for (b, ch, i, j), idx in np.ndenumerate(xi):
        r_, c_ = divmod(int(idx) % (h0 * w0), w0)
        placed &= i * s - p <= r_ < i * s - p + k and j * s - p <= c_ < j * s - p + k
        img[b, ch, r_, c_] = 1.0 + float(rng.random())
    check(placed, f"{case}: every index lies in its window")
    cfg, wpath = P("b", case + ".cfg"), P("b", case + ".safetensors")
    pool_model(cfg, c, H, W, k, s, p, "floor")
    zt.st_save(wpath, {})
    proj = forward(cfg, wpath, img, "b/" + case, signal=xt, project="pool1")
    ok, err = (allclose(proj["projection"], y_ref, 0, 0) if proj is not None
               else (False, float("inf")))
    check(ok, f"{case}: projection through pool1 == MaxUnpool output_0 {tuple(y_ref.shape)} "
              f"(max err {err:.3g})")


# derived cases run through onnxruntime: (C, F, k, s, p, groups, H) and (C, H, k, s, p, mode)
DERIVED_CT = [(3, 4, 5, 2, 2, 1, 11), (4, 6, 3, 2, 1, 2, 8), (3, 8, 7, 2, 1, 1, 23),
              (2, 3, 3, 3, 0, 1, 10), (6, 4, 3, 1, 1, 2, 7)]
# (onnxruntime's MaxUnpool refuses an output smaller than (h - 1) * s + k - 2p, so no ceil
# case whose last window hangs past the padding)
DERIVED_UNPOOL = [(3, 9, 2, 2, 0, "floor"), (3, 10, 3, 3, 1, "ceil"), (2, 11, 3, 3, 1, "floor"),
                  (2, 6, 2, 2, 1, "ceil")]


def b_derived_convtranspose(c, f, k, s, p, g, H, rng):
    tag = f"ct_c{c}f{f}k{k}s{s}p{p}g{g}h{H}"
    h = (H + 2 * p - k) // s + 1
    op = (H + 2 * p - k) % s  # the rows the convolution never reached
    wt = (rng.standard_normal((f, c // g, k, k)) / k).astype(np.float32)
    sig = rng.standard_normal((2, f, h, h)).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[k, k],
                            strides=[s, s], pads=[p] * 4, group=g, output_padding=[op, op])
    graph = helper.make_graph([node], tag, [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2, f, h, h])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], [numpy_helper.from_array(wt, "w")])
    path = P("b", tag + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    ref = ort_run(path, {"x": sig}, ["y"], tag)
    if not check(ref is not None and ref["y"].shape == (2, c, H, H),
                 f"{tag}: onnxruntime ConvTranspose (output_padding {op}) gives 2x{c}x{H}x{H}"):
        return
    proj = project_conv(tag, wt, sig, k, s, p, g, H, H, rng)
    ok, err = allclose(proj, ref["y"]) if proj is not None else (False, float("inf"))
    check(ok, f"{tag}: projection through conv1 ({c}x{H}x{H} -> {f}x{h}x{h}) == onnxruntime "
              f"(max err {err:.3g})")


def b_derived_unpool(c, H, k, s, p, mode, rng):
    tag = f"unpool_c{c}h{H}k{k}s{s}p{p}{mode}"
    x = rng.standard_normal((2, c, H, H)).astype(np.float32)
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[k, k],
                              strides=[s, s], pads=[p] * 4, ceil_mode=int(mode == "ceil")),
             helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("MaxUnpool", ["sig", "i", "shape"], ["u"], kernel_shape=[k, k],
                              strides=[s, s], pads=[p] * 4)]
    cfg, wpath = P("b", tag + ".cfg"), P("b", tag + ".safetensors")
    pool_model(cfg, c, H, H, k, s, p, mode)
    zt.st_save(wpath, {})
    fw = forward(cfg, wpath, x, "b/" + tag + ".fw")
    if not check(fw is not None, f"{tag}: zfnet forward"):
        return
    h = fw["pool1"].shape[2]
    sig = rng.standard_normal((2, c, h, h)).astype(np.float32)
    graph = helper.make_graph(nodes, tag, [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, c, H, H]),
        helper.make_tensor_value_info("sig", TensorProto.FLOAT, [2, c, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("u", TensorProto.FLOAT, None)])
    path = P("b", tag + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)]), path)
    ref = ort_run(path, {"x": x, "sig": sig}, ["y", "u"], tag)
    if not check(ref is not None, f"{tag}: onnxruntime MaxPool (Indices) + MaxUnpool"):
        return
    ok, err = allclose(fw["pool1"], ref["y"], 0, 0)
    check(ok, f"{tag}: pool1 ({c}x{H}x{H} -> {c}x{h}x{h}) == onnxruntime MaxPool "
              f"(max err {err:.3g})")
    proj = forward(cfg, wpath, x, "b/" + tag, signal=sig, project="pool1")
    ok, err = (allclose(proj["projection"], ref["u"], 0, 0) if proj is not None
               else (False, float("inf")))
    check(ok, f"{tag}: projection through pool1 == onnxruntime MaxUnpool (max err {err:.3g})")


def run():
    mkdir("b")
    rng = np.random.default_rng(2)
    found = sorted({os.path.basename(d) for p in ("test_convtranspose*", "test_maxunpool*")
                    for d in glob.glob(os.path.join(TESTDATA, p))})
    unlisted = [c for c in found if c not in CASES_B]
    check(not unlisted, f"every ConvTranspose/MaxUnpool case has an expectation "
                        f"(unlisted: {unlisted})")
    print(f"\n{'case':<46} {'zfnet':<9} reason")
    for case in found:
        kind, reason = CASES_B.get(case, ("?", "not in the table"))
        print(f"{case:<46} {kind:<9} {reason}")
    for case in found:
        if CASES_B.get(case, ("",))[0] != RUN:
            continue
        m, ins, outs = case_data(case)
        if m.graph.node[0].op_type == "ConvTranspose":
            b_convtranspose(case, m, ins, outs, rng)
        else:
            b_maxunpool(case, m, ins, outs, rng)
    print("\nderived cases (onnxruntime as the reference):")
    for args in DERIVED_CT:
        b_derived_convtranspose(*args, rng)
    for args in DERIVED_UNPOOL:
        b_derived_unpool(*args, rng)
