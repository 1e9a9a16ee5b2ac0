#!/usr/bin/python3
"""ONNX import and export (`zfnet import`, `zfnet export`) against ONNX's own test data,
onnxruntime and PyTorch.

a. libonnx-testdata node cases of the ops a zfnet layer can be (Conv, MaxPool, LRN, Gemm,
   MatMul, Relu, Softmax, Flatten, Reshape, Dropout and their neighbours): each case's extra
   graph inputs (weights, bias, ratio, shape) become initializers, then `zfnet import`; a
   table (CASES_A) says which cases must import and reproduce output_0 (rtol 1e-4, atol 1e-5)
   and which must be refused (exit 1, one stderr line naming the op) and why.
b. ConvTranspose and MaxUnpool cases: zfnet's downward pass (`forward --project L --rule
   deconvnet`) through one conv layer is a transposed convolution with its weights, through
   one maxpool layer an unpooling through the switches; the representable test-data cases
   (CASES_B) and derived cases run through onnxruntime must match.
c. Export: zfnet-mini, alexnet-g2 and zfnet (He init, bias 0.05): onnx.checker (full check),
   names and initializers as the contract says, every layer's tensor in onnxruntime vs
   `zfnet forward --layers all` within 1e-4 * max(1, max|ref|); zfnet-mini also at opsets
   7 to 17.
d. Round trip: the exported file imported again: the same canonical model text, bitwise the
   same tensors and bitwise the same forward outputs; the same from the opset 7 to 17 files
   (before opset 10, without ceil_mode, ceil pools come back as floor + pad_end).
e. Model-zoo-shaped graphs built with onnx.helper (bvlc_alexnet at opsets 9 and 7, ZFNet-512's
   shape with MatMul + Add fc layers): imported, every layer vs onnxruntime within 1e-4
   relative.
f. PyTorch: zfnet-mini built by tests/torch/zftorch.py exported by torch.onnx.export (opset
   13; dynamic batch and fixed batch; LocalResponseNorm becomes ~40 primitive nodes):
   imported, every layer vs PyTorch within 1e-4 relative.
g. Damaged files: truncated, foreign bytes, empty, broken protobuf lengths, short or
   oversized initializers, external data, a cycle, a missing initializer, an unknown op, an
   even LRN size, dilations, a shape mismatch: exit 1, one stderr line naming the file (and
   the node or tensor), no output folder left behind, no crash.

onnxruntime is onnxruntime-node run by tests/ort_run.js (cd tests/ort && npm ci
--ignore-scripts); without it the onnxruntime checks fail, they are not skipped.

Usage: onnx_check.py ZFNET WORKDIR [--sanitized] [--parts abcdefgh] [--keep]
(--keep: leave the large files (200+ MB models, copies, imports) in WORKDIR)
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import traceback
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch"))
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

zfnet, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sanitized = "--sanitized" in sys.argv
PARTS = sys.argv[sys.argv.index("--parts") + 1] if "--parts" in sys.argv else "abcdefgh"
SLOW = 5 if sanitized else 1             # sanitizer builds: longer timeouts
KEEP = "--keep" in sys.argv
TESTDATA = "/usr/share/libonnx-testdata/data/node"
ORT_JS = os.path.join(HERE, "ort_run.js")
NODE = shutil.which("node") or "/usr/bin/node"
THREADS = ["--threads", "2"]
REL_TOL = 1e-4                           # max|zfnet - ref| <= REL_TOL * max(1, max|ref|)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

# ---- checks, grouped by part ----------------------------------------------------------------
PART = "-"
TALLY = {}


def check(ok, what):
    TALLY.setdefault(PART, [0, 0])[0 if ok else 1] += 1
    return tl.check(bool(ok), f"[{PART}] {what}")


def section(title):
    print("\n" + "=" * 100 + f"\n{title}\n" + "=" * 100, flush=True)


def P(*names):
    return os.path.join(work, *names)


def tidy(*paths):
    """Remove large intermediate files and folders once used (unless --keep)."""
    for p in paths:
        if KEEP or not p:
            continue
        if os.path.isdir(p):
            shutil.rmtree(p, ignore_errors=True)
        elif os.path.exists(p):
            os.remove(p)


def mkdir(*names):
    d = P(*names)
    os.makedirs(d, exist_ok=True)
    return d


# ---- running zfnet and onnxruntime ----------------------------------------------------------
def zf(args, timeout=300, limit_vm=False):
    """zfnet ARGS; never raises (a timeout is returncode -999)."""
    def pre():
        if limit_vm and not sanitized:  # ASan reserves terabytes of address space
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    try:
        return subprocess.run([zfnet] + [str(a) for a in args], capture_output=True, text=True,
                              timeout=timeout * SLOW, preexec_fn=pre)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -999, "", f"timed out after {timeout * SLOW} s\n")


def show(r, n=400):
    """A command's outcome in one short line."""
    err = " | ".join(r.stderr.strip().splitlines())
    return f"rc={r.returncode} stderr={err[:n]!r}"


def forward(model, weights, x, tag, layers="all", signal=None, project=None):
    """zfnet forward on x (N x C x H x W); {name: array} or None (the failure is printed)."""
    xin, yout = P(tag + ".x.safetensors"), P(tag + ".y.safetensors")
    tensors = {"input": np.ascontiguousarray(x, np.float32)}
    args = ["forward", "--model", model, "--weights", weights, "--input", xin, "-o", yout]
    if signal is not None:
        tensors["signal"] = np.ascontiguousarray(signal, np.float32)
        args += ["--project", project, "--rule", "deconvnet"]
    else:
        args += ["--layers", layers]
    zt.st_save(xin, tensors)
    r = zf(args + THREADS)
    if r.returncode != 0:
        print(f"  forward failed ({tag}): {show(r)}")
        return None
    return zt.st_load(yout)[0]


def import_onnx(path, outdir, limit_vm=False):
    shutil.rmtree(outdir, ignore_errors=True)
    return zf(["import", path, "-o", outdir], timeout=120, limit_vm=limit_vm)


def imported(outdir):
    """(model file, weights file, model text) of an import folder."""
    cfg, w = os.path.join(outdir, "model.cfg"), os.path.join(outdir, "weights.safetensors")
    with open(cfg) as f:
        return cfg, w, f.read()


def layers_of(text):
    """[(kind, name)] of a zfnet model text."""
    return [(kind, p["name"]) for kind, p in zt.parse_cfg(text)[1]]


ORT_OK = None


def ort_available():
    global ORT_OK
    if ORT_OK is None:
        ORT_OK = os.path.isdir(os.path.join(HERE, "ort", "node_modules", "onnxruntime-node"))
        if not ORT_OK:
            print("onnxruntime-node is missing: cd tests/ort && npm ci --ignore-scripts")
    return ORT_OK


def ort_run(model_path, feeds, outputs, tag):
    """Run model_path in onnxruntime on feeds {name: array}; {name: array} or None."""
    if not ort_available():
        return None
    d = mkdir("ort", tag)
    spec = {"inputs": {}, "outputs": list(outputs), "threads": 2, "optimization": "disabled"}
    types = {np.float32: "float32", np.int64: "int64", np.int32: "int32", np.uint8: "uint8",
             np.bool_: "bool"}
    for i, (name, a) in enumerate(feeds.items()):
        a = np.ascontiguousarray(a)
        a.astype(a.dtype.newbyteorder("<")).tofile(os.path.join(d, f"in{i}.bin"))
        spec["inputs"][name] = {"dims": list(a.shape), "file": f"in{i}.bin",
                                "type": types[a.dtype.type]}
    with open(os.path.join(d, "in.json"), "w") as f:
        json.dump(spec, f)
    try:
        r = subprocess.run([NODE, ORT_JS, model_path, os.path.join(d, "in.json"),
                            os.path.join(d, "out.json")], capture_output=True, text=True,
                           timeout=300 * SLOW)
    except subprocess.TimeoutExpired:
        print(f"  onnxruntime timed out ({tag})")
        return None
    if r.returncode != 0:
        print(f"  onnxruntime failed ({tag}): {r.stderr.strip()[:500]}")
        return None
    with open(os.path.join(d, "out.json")) as f:
        res = json.load(f)
    npt = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "uint8": np.uint8,
           "bool": np.bool_, "float64": np.float64}
    return {name: np.fromfile(os.path.join(d, o["file"]), npt[o["type"]]).reshape(o["dims"])
            for name, o in res["outputs"].items()}


# ---- comparisons ----------------------------------------------------------------------------
def rel_close(got, ref):
    """(ok, max abs error, tolerance) for max|got - ref| <= REL_TOL * max(1, max|ref|)."""
    got = np.asarray(got, np.float64).ravel()
    ref = np.asarray(ref, np.float64).ravel()
    tol = REL_TOL * max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    if got.shape != ref.shape:
        return False, float("inf"), tol
    err = float(np.abs(got - ref).max()) if ref.size else 0.0
    return bool(np.isfinite(got).all() and err <= tol), err, tol


def allclose(got, ref, rtol=1e-4, atol=1e-5):
    """(ok, max abs error) for |got - ref| <= atol + rtol |ref| elementwise (same count)."""
    got = np.asarray(got, np.float64).ravel()
    ref = np.asarray(ref, np.float64).ravel()
    if got.shape != ref.shape:
        return False, float("inf")
    err = float(np.abs(got - ref).max()) if ref.size else 0.0
    return bool(np.all(np.abs(got - ref) <= atol + rtol * np.abs(ref))), err


def refused(r, outdir, fragments=(), need=()):
    """(ok, why): exit 1, exactly one stderr line holding every string of `need` and one of
    `fragments` (if any), no crash, and outdir not left behind."""
    lines = r.stderr.strip().splitlines()
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}, not 1")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    line = lines[0] if lines else ""
    problems += [f"no {n!r}" for n in need if n not in line]
    if fragments and not any(f in line for f in fragments):
        problems.append("none of " + "/".join(fragments))
    if os.path.exists(outdir):
        problems.append(f"{os.path.basename(outdir)} left behind")
    return not problems, "; ".join(problems)


def nchw(a):
    """An ONNX input as zfnet's N x C x H x W: [N,K] -> K x 1 x 1, [N,C,L] -> C x L x 1."""
    if a.ndim == 4:
        return a
    if a.ndim == 3:
        return a.reshape(a.shape[0], a.shape[1], a.shape[2], 1)
    if a.ndim == 2:
        return a.reshape(a.shape[0], a.shape[1], 1, 1)
    return None


def compare_layers(zf_out, ref_out, pairs, label):
    """Per layer (zfnet name, reference name) within REL_TOL; prints a line per layer, checks
    all, returns the worst error relative to its scale."""
    worst, bad = (0.0, ""), []
    for zname, rname in pairs:
        ok, err, tol = rel_close(zf_out.get(zname, np.array([np.inf])), ref_out[rname])
        scale = tol / REL_TOL
        print(f"    {zname:<24} {str(tuple(np.shape(ref_out[rname]))):<22} max|ref| {scale:9.3g}"
              f"  max err {err:9.3g}  {'ok' if ok else 'OVER ' + format(tol, '.3g')}")
        if err / scale >= worst[0]:
            worst = (err / scale, zname)
        if not ok:
            bad.append(zname)
    check(not bad, f"{label}: every layer within {REL_TOL:g} * max(1, max|ref|) (worst "
                   f"{worst[1]}: {worst[0]:.3g} of scale)" + (f"; over: {bad}" if bad else ""))
    return worst


# ---- checkpoints and exports, made once -----------------------------------------------------
INIT_ARGS = ["--init", "he", "--bias", "0.05", "--seed", "7"]
_ckpt, _exports = {}, {}


def checkpoint(model):
    """zfnet init MODEL (He, bias 0.05): (weights path, tensors, canonical text)."""
    if model not in _ckpt:
        path = P(f"{model}.safetensors")
        r = zf(["init", model, "-o", path] + INIT_ARGS)
        check(r.returncode == 0, f"zfnet init {model}: {show(r)}")
        w, meta = zt.st_load(path)
        _ckpt[model] = (path, w, meta.get("model", ""))
    return _ckpt[model]


def exported(model, opset=None, use_model_flag=False):
    """zfnet export of checkpoint(model): the .onnx path, or None."""
    key = (model, opset)
    if key not in _exports:
        wpath = checkpoint(model)[0]
        out = P(f"{model}.opset{opset or 'default'}.onnx")
        args = ["export", "--weights", wpath, "-o", out]
        if use_model_flag:
            args += ["--model", model]
        if opset:
            args += ["--opset", str(opset)]
        t0 = time.time()
        r = zf(args)
        ok = r.returncode == 0 and os.path.isfile(out)
        check(ok, f"zfnet {' '.join(args[:1] + [model] + args[5:])} ({time.time() - t0:.1f} s): "
                  f"{show(r)}")
        _exports[key] = out if ok else None
    return _exports[key]


def random_input(text, n, seed):
    net = zt.parse_cfg(text)[0]
    shape = (n, int(net["channels"]), int(net["height"]), int(net["width"]))
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def full_check(path):
    """(ok, why) of onnx.checker.check_model(full_check=True) on a file, leaving it alone
    (onnx 1.12's check_model(path, full_check=True) writes the inferred shapes into it)."""
    out = path + ".inferred"
    try:
        onnx.checker.check_model(path)
        onnx.shape_inference.infer_shapes_path(path, out, check_type=True, strict_mode=True)
        return True, ""
    except Exception as e:  # noqa: BLE001
        return False, str(e).splitlines()[0][:300]
    finally:
        if os.path.exists(out):
            os.remove(out)


def with_all_outputs(path, names, out_path):
    """A copy of the model whose graph outputs also hold every tensor in names."""
    m = onnx.load(path)
    have = {o.name for o in m.graph.output}
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    onnx.save(m, out_path)
    return out_path


# =============================================================================================
# a. libonnx-testdata node cases
# =============================================================================================
A_PATTERNS = ["test_basic_conv*", "test_conv_*", "test_convinteger*", "test_maxpool_*",
              "test_lrn*", "test_gemm_*", "test_matmul*", "test_relu", "test_softmax_*",
              "test_flatten_*", "test_reshape_*", "test_dropout_*", "test_training_dropout*"]

RUN, REFUSE = "run", "refused"
# case: (expectation, reason, message fragments of which one must appear when refused;
#        default: the case's op type)
CASES_A = {
    # Conv
    "test_basic_conv_with_padding": (RUN, "3x3, pad 1, no bias"),
    "test_basic_conv_without_padding": (RUN, "3x3, pad 0, no bias"),
    "test_conv_with_strides_no_padding": (RUN, "stride 2 on a 7x5 input"),
    "test_conv_with_strides_padding": (RUN, "stride 2, pad 1 on a 7x5 input"),
    "test_conv_with_autopad_same": (RUN, "SAME_LOWER, stride 2 on 5x5: pad 1 on each side"),
    "test_conv_with_strides_and_asymmetric_padding": (
        REFUSE, "pads [1,0,1,0]: not the same padding on every side"),
    **{c: (REFUSE, "ConvInteger: uint8 input and weights", ("ConvInteger", "input 'x'"))
       for c in ("test_basic_convinteger", "test_convinteger_with_padding",
                 "test_convinteger_without_padding")},
    # MaxPool
    "test_maxpool_2d_default": (RUN, "2x2, stride 1"),
    "test_maxpool_2d_ceil": (RUN, "3x3 stride 2, ceil_mode"),
    "test_maxpool_2d_strides": (RUN, "5x5 stride 3"),
    "test_maxpool_2d_precomputed_strides": (RUN, "2x2 stride 2 on 5x5 (floor)"),
    "test_maxpool_2d_precomputed_pads": (RUN, "5x5, pads 2 (= size/2)"),
    "test_maxpool_2d_precomputed_same_upper": (RUN, "SAME_UPPER 3x3 s2 on 5x5: pad 1 each side"),
    "test_maxpool_2d_same_upper": (RUN, "SAME_UPPER 2x2 s1: pad 0 + pad_end 1"),
    "test_maxpool_2d_same_lower": (RUN, "SAME_LOWER 2x2 s1: pad 1, pad_end -1"),
    "test_maxpool_2d_pads": (REFUSE, "3x3 with pads 2: more than size/2"),
    "test_maxpool_2d_dilations": (REFUSE, "dilations 2"),
    "test_maxpool_2d_uint8": (REFUSE, "uint8 tensors", ("MaxPool", "input 'x'")),
    "test_maxpool_1d_default": (REFUSE, "1-D pooling (a 2x1 window is not square)"),
    "test_maxpool_3d_default": (REFUSE, "3-D pooling: a 5-D input", ("MaxPool", "input 'x'")),
    "test_maxpool_with_argmax_2d_precomputed_pads": (REFUSE, "second output: Indices"),
    "test_maxpool_with_argmax_2d_precomputed_strides": (
        REFUSE, "second output: Indices (storage_order 1)"),
    # LRN
    "test_lrn": (RUN, "size 3, alpha 2e-4, beta 0.5, bias 2 (alpha per size, as zfnet)"),
    "test_lrn_default": (RUN, "size 3, defaults alpha 1e-4, beta 0.75, bias 1"),
    # Gemm ([N, K] input: zfnet input K x 1 x 1, one fc)
    "test_gemm_default_no_bias": (RUN, "fc without bias (weights = B transposed)"),
    "test_gemm_default_vector_bias": (RUN, "fc, bias [1, 4]"),
    "test_gemm_default_zero_bias": (RUN, "fc, zero bias"),
    "test_gemm_default_scalar_bias": (RUN, "fc, scalar bias broadcast to every output"),
    "test_gemm_default_single_elem_vector_bias": (RUN, "fc, bias [1] broadcast"),
    "test_gemm_transposeB": (RUN, "transB 1: B is already [out, in]"),
    "test_gemm_alpha": (RUN, "alpha 0.5 folded into the weights"),
    "test_gemm_beta": (RUN, "beta 0.5 folded into the bias"),
    "test_gemm_default_matrix_bias": (REFUSE, "bias [3, 4]: one per sample, not per output"),
    "test_gemm_transposeA": (REFUSE, "transA 1: the batch is not the first axis"),
    "test_gemm_all_attributes": (REFUSE, "transA 1"),
    # MatMul
    "test_matmul_2d": (RUN, "fc without bias"),
    "test_matmul_3d": (REFUSE, "batched matrix product (a 3-D second operand)"),
    "test_matmul_4d": (REFUSE, "batched matrix product (a 4-D second operand)"),
    "test_matmulinteger": (REFUSE, "MatMulInteger: uint8 input and weights",
                           ("MatMulInteger", "input 'A'")),
    # Relu
    "test_relu": (RUN, "[3,4,5]: input 4 x 5 x 1"),
    # Softmax (opset 13: over one axis)
    "test_softmax_example": (RUN, "over the vector of a [1, 3] input"),
    "test_softmax_large_number": (RUN, "over the vector of a [2, 4] input"),
    "test_softmax_axis_0": (REFUSE, "softmax across the batch"),
    "test_softmax_axis_1": (REFUSE, "softmax along axis 1 of [3,4,5]: not over a whole vector"),
    "test_softmax_axis_2": (REFUSE, "softmax along an inner axis"),
    "test_softmax_default_axis": (REFUSE, "softmax along the last of 3 axes (an inner axis)"),
    "test_softmax_negative_axis": (REFUSE, "softmax along axis -1 of [3,4,5]"),
    # Softmax written out (Exp, ReduceSum, ...): not recognised
    **{f"test_softmax_{c}_expanded": (
        REFUSE, "softmax written out as ReduceMax/Sub/Exp/ReduceSum/Div",
        ("ReduceMax", "Sub", "Exp", "ReduceSum", "Div", "Constant"))
       for c in ("axis_0", "axis_1", "axis_2", "default_axis", "example", "large_number",
                 "negative_axis")},
    # Flatten / Reshape alone: nothing for a zfnet layer to do (named as the node when its
    # axis or shape is refused first, else the graph has no layer)
    **{f"test_flatten_{c}": (REFUSE, "a lone Flatten: no zfnet layer in the graph",
                             ("Flatten", "no node zfnet has a layer for"))
       for c in ("axis0", "axis1", "axis2", "axis3", "default_axis", "negative_axis1",
                 "negative_axis2", "negative_axis3", "negative_axis4")},
    **{f"test_reshape_{c}": (REFUSE, "a lone Reshape: no zfnet layer in the graph",
                             ("Reshape", "no node zfnet has a layer for"))
       for c in ("extended_dims", "negative_dim", "negative_extended_dims", "one_dim",
                 "reduced_dims", "reordered_all_dims", "reordered_last_dims",
                 "zero_and_negative_dim", "zero_dim")},
    "test_reshape_allowzero_reordered": (REFUSE, "allowzero, an empty [0,3,4] input",
                                         ("Reshape", "empty", "allowzero")),
    # Dropout: the identity in inference
    "test_dropout_default": (RUN, "inference: identity on [3,4,5]"),
    "test_dropout_default_ratio": (RUN, "inference, ratio input 0.1: identity"),
    "test_dropout_random_old": (RUN, "opset 11, ratio 0.2, inference: identity"),
    "test_dropout_default_old": (REFUSE, "a rank-1 [3] input has no batch axis",
                                 ("Dropout", "rank", "input")),
    "test_dropout_default_mask": (REFUSE, "the mask output"),
    "test_dropout_default_mask_ratio": (REFUSE, "the mask output"),
    **{f"test_training_dropout{c}": (REFUSE, "training_mode true")
       for c in ("", "_default", "_zero_ratio")},
    **{f"test_training_dropout{c}": (REFUSE, "training_mode true and the mask output")
       for c in ("_mask", "_default_mask", "_zero_ratio_mask")},
}


def read_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def case_data(case):
    """(model, [inputs], [outputs]) of a test-data case (data set 0)."""
    d = os.path.join(TESTDATA, case)
    m = onnx.load(os.path.join(d, "model.onnx"))
    ins = [read_pb(os.path.join(d, "test_data_set_0", f"input_{i}.pb"))
           for i in range(len(m.graph.input))]
    outs = [read_pb(p) for p in sorted(glob.glob(os.path.join(d, "test_data_set_0",
                                                              "output_*.pb")))]
    return m, ins, outs


def freeze_inputs(m, ins):
    """Every graph input after the first becomes an initializer holding its test data."""
    for vi, a in zip(list(m.graph.input)[1:], ins[1:]):
        m.graph.initializer.append(numpy_helper.from_array(a, vi.name))
    if m.ir_version >= 4:  # before IR 4 initializers must also be listed as inputs
        del m.graph.input[1:]
    return m


def a_case(case, expect):
    kind, reason = expect[0], expect[1]
    m, ins, outs = case_data(case)
    op = next(nd.op_type for nd in m.graph.node if nd.op_type != "Constant")
    path, outdir = P("a", case + ".onnx"), P("a", case + ".d")
    onnx.save(freeze_inputs(m, ins), path)
    r = import_onnx(path, outdir)
    got = "imported" if r.returncode == 0 else f"refused (exit {r.returncode})"
    detail = ""
    if r.returncode == 0:
        x = nchw(ins[0].astype(np.float32)) if ins[0].dtype != np.float32 else nchw(ins[0])
        try:
            cfg, w, text = imported(outdir)
            last = layers_of(text)[-1][1]
            y = forward(cfg, w, x, f"a/{case}") if x is not None else None
            ok, err = allclose(y[last], outs[0]) if y is not None else (False, float("inf"))
            got += f", output {'matches' if ok else 'DIFFERS'} (max err {err:.3g})"
        except Exception as e:  # noqa: BLE001 - reported as the outcome
            ok, got = False, got + f", unreadable: {e}"
        if kind == RUN:
            check(ok, f"{case}: imported and output_0 within rtol 1e-4, atol 1e-5: {got}")
        else:
            check(False, f"{case}: expected refused ({reason}) but {got}")
    else:
        frags = expect[2] if len(expect) > 2 else (op,)
        ok, why = refused(r, outdir, frags)
        detail = r.stderr.strip().replace(os.path.dirname(path) + "/", "")
        if kind == REFUSE:
            check(ok, f"{case}: refused ({reason}): {why or detail}")
        else:
            check(False, f"{case}: expected to run ({reason}) but {show(r)}")
    return case, kind, got, reason, detail


def part_a():
    mkdir("a")
    found = sorted({os.path.basename(d) for p in A_PATTERNS
                    for d in glob.glob(os.path.join(TESTDATA, p))})
    print(f"{len(found)} test-data cases in {TESTDATA} match {' '.join(A_PATTERNS)}; "
          f"{len(CASES_A)} in the table")
    unlisted = [c for c in found if c not in CASES_A]
    missing = [c for c in CASES_A if c not in found]
    check(not unlisted, f"every test-data case has an expectation (unlisted: {unlisted})")
    check(not missing, f"every case of the table is in the test data (missing: {missing})")
    rows = [a_case(c, CASES_A[c]) for c in found if c in CASES_A]
    print(f"\n{'case':<48} {'expected':<9} {'got':<44} reason")
    for case, kind, got, reason, detail in rows:
        print(f"{case:<48} {kind:<9} {got[:44]:<44} {reason}")
        if detail:
            print(f"{'':<58}stderr: {detail[:160]}")
    n_run = sum(1 for r in rows if r[1] == RUN)
    print(f"{len(rows)} cases: {n_run} expected to run, {len(rows) - n_run} to be refused")


# =============================================================================================
# b. ConvTranspose and MaxUnpool: zfnet's downward (DeconvNet) pass
# =============================================================================================
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


def part_b():
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


# =============================================================================================
# c. export: checker, contract, onnxruntime per layer
# =============================================================================================
C_MODELS = [("zfnet-mini", 2), ("alexnet-g2", 2), ("zfnet", 1)]
C_OPSETS = [7, 8, 9, 10, 11, 12, 14, 15, 16, 17]  # and 13, the default
WORST_C = []


def check_contract(model, m, w, text):
    """Names and layout of an exported graph (the export contract)."""
    layers = layers_of(text)
    names = [n for _, n in layers]
    inp = m.graph.input[0] if len(m.graph.input) else None
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] if inp else []
    net = zt.parse_cfg(text)[0]
    check(inp is not None and inp.name == "input" and len(dims) == 4
          and isinstance(dims[0], str) and dims[0] != ""
          and dims[1:] == [int(net["channels"]), int(net["height"]), int(net["width"])],
          f"{model}: one graph input 'input' [N, C, H, W] with N a dim_param: "
          f"{inp.name if inp else None} {dims}")
    check([o.name for o in m.graph.output] == [names[-1]],
          f"{model}: the graph output is the last layer's tensor '{names[-1]}'")
    main = [n for n in m.graph.node if not n.name.endswith(".flatten")]
    check([n.name for n in main] == names and all(list(n.output) == [n.name] for n in main),
          f"{model}: one node per layer, node name = output name = layer name "
          f"({len(main)} nodes, {len(names)} layers)")
    flats = [n.name for n in m.graph.node if n.name.endswith(".flatten")]
    check(all(n.op_type == "Flatten" for n in m.graph.node if n.name.endswith(".flatten"))
          and all(f[:-len(".flatten")] in names for f in flats),
          f"{model}: Flatten nodes named '<fc>.flatten': {flats}")
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    same = all(k in inits and inits[k].dtype == np.float32 and inits[k].shape == w[k].shape
               and inits[k].tobytes() == w[k].tobytes() for k in w)
    check(same, f"{model}: the checkpoint's {len(w)} tensors are initializers of the same names, "
                f"shapes (PyTorch layout) and bits")
    extra = sorted(set(inits) - set(w))
    check(all(k.rsplit(".", 1)[0] in names for k in extra),
          f"{model}: other initializers are named '<layer>.<what>': {extra}")
    props = {p.key: p.value for p in m.metadata_props}
    check(any(k.startswith("zfnet.") for k in props),
          f"{model}: metadata props zfnet.*: {sorted(props)}")


def export_vs_ort(model, n, opset=None):
    """Export checkpoint(model), check it, run every layer in onnxruntime vs zfnet."""
    wpath, w, text = checkpoint(model)
    label = f"{model} opset {opset or 'default (13)'}"
    path = exported(model, opset, use_model_flag=opset is not None)
    if path is None:
        return
    ok, why = full_check(path)
    check(ok, f"{label}: onnx.checker.check_model(full_check=True) {why}")
    m = onnx.load(path)
    want = opset or 13
    got = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
    check(got == [want], f"{label}: opset_import {got}")
    if opset is None:
        check_contract(model, m, w, text)
    names = [nm for _, nm in layers_of(text)]
    x = random_input(text, n, seed=11)
    allp = with_all_outputs(path, names, P(f"{model}.opset{opset}.all.onnx"))
    del m
    t0 = time.time()
    ref = ort_run(allp, {"input": x}, names, f"c_{model}_{opset}")
    tidy(allp)
    t1 = time.time()
    zfo = forward(model, wpath, x, f"c_{model}_{opset}")
    if not check(ref is not None and zfo is not None,
                 f"{label}: onnxruntime ({t1 - t0:.1f} s) and zfnet forward "
                 f"({time.time() - t1:.1f} s) ran on {n} image(s)"):
        return
    print(f"  {label}: per layer, zfnet vs onnxruntime (tolerance {REL_TOL:g} * max(1, max|ref|))")
    worst = compare_layers(zfo, ref, [(nm, nm) for nm in names], label)
    print(f"  {label}: worst error {worst[0]:.3g} of scale at {worst[1]}")
    WORST_C.append((label, worst))


def part_c():
    print(f"weights: zfnet init {' '.join(INIT_ARGS)}; tolerance per layer: max|zfnet - "
          f"onnxruntime| <= {REL_TOL:g} * max(1, max|onnxruntime|)")
    for model, n in C_MODELS:
        export_vs_ort(model, n)
    for opset in C_OPSETS:
        export_vs_ort("zfnet-mini", 2, opset)
    # --opset 13 is the default, byte for byte
    r = zf(["export", "--weights", checkpoint("zfnet-mini")[0], "-o", P("opset13.onnx"),
            "--opset", "13"])
    default = exported("zfnet-mini")
    same = (r.returncode == 0 and default is not None and
            open(P("opset13.onnx"), "rb").read() == open(default, "rb").read())
    check(same, f"zfnet-mini: --opset 13 writes the default export's bytes: {show(r)}")
    # out-of-range opsets are refused with one line and no file
    for bad in ("6", "18", "x"):
        out = P(f"bad-opset-{bad}.onnx")
        r = zf(["export", "--weights", checkpoint("zfnet-mini")[0], "-o", out, "--opset", bad])
        check(r.returncode in (1, 2) and len(r.stderr.strip().splitlines()) == 1
              and not os.path.exists(out), f"export --opset {bad} refused: {show(r)}")
    print(f"\nworst error per model (max|zfnet - onnxruntime| / max(1, max|onnxruntime|), "
          f"tolerance {REL_TOL:g}):")
    for label, (err, layer) in WORST_C:
        print(f"  {label:<36} {err:9.3g}  at {layer}")


# =============================================================================================
# d. round trip: export -> import
# =============================================================================================
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
    sys.path.insert(0, HERE)
    import testlib as tl
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


def part_d():
    trained_round_trip()
    for model, n in C_MODELS:
        round_trip(model, None, n)
        if model != "zfnet-mini":  # part g damages zfnet-mini's export
            tidy(_exports.get((model, None)), checkpoint(model)[0])
    for opset in C_OPSETS:
        round_trip("zfnet-mini", opset)


# =============================================================================================
# e. model-zoo-shaped graphs
# =============================================================================================
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


def part_e():
    print(f"tolerance: max|zfnet - onnxruntime| <= {REL_TOL:g} * max(1, max|onnxruntime|) per "
          "layer")
    for opset, shape in ((9, [1, 9216]), (7, [1, -1])):
        model, layers = alexnet_zoo(opset, shape)
        zoo_case(f"bvlc_alexnet_opset{opset}", model, layers)
        del model
    model, layers = zfnet512_zoo(9)
    zoo_case("zfnet512_opset9", model, layers)


# =============================================================================================
# f. PyTorch's export of zfnet-mini
# =============================================================================================
def part_f():
    import warnings
    import torch
    warnings.filterwarnings("ignore")
    torch.manual_seed(3)
    with open(os.path.join(HERE, "..", "models", "zfnet-mini.cfg")) as fh:
        text = fh.read()
    _, mods = zt.build(text)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleDict({n: m for n, _, m in mods})

        def forward(self, x):
            for m in self.layers.values():
                x = m(x)
            return x

    net = Net()
    # trained in PyTorch: 60 SGD steps of batch 32 on Fashion-MNIST (cross-entropy on the
    # softmax's log), so the export carries trained weights, not an initialisation
    import gzip
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as fh:
        imgs = np.frombuffer(fh.read(), np.uint8, offset=16)[:60 * 32 * 784]
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(), np.uint8, offset=8)[:60 * 32]
    xs = torch.from_numpy(imgs.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.29)
    ys = torch.from_numpy(labels.astype(np.int64))
    for mod in net.modules():  # He initialisation, as zfnet train --init he
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(mod.weight)
            torch.nn.init.zeros_(mod.bias)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    net.train()
    losses = []
    for b in range(60):
        opt.zero_grad()
        p = net(xs[b * 32:(b + 1) * 32])
        loss = torch.nn.functional.nll_loss(torch.log(p + 1e-12), ys[b * 32:(b + 1) * 32])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    check(np.mean(losses[-10:]) < np.mean(losses[:10]),
          f"torch: 60 training steps lower the loss ({np.mean(losses[:10]):.3f} -> "
          f"{np.mean(losses[-10:]):.3f})")
    net = net.eval()
    kinds = [(k, n) for n, k, _ in mods if k != "dropout"]  # eval(): torch drops Dropout
    print("torch 1.13's export of LocalResponseNorm is a chain of primitive nodes; the importer "
          "is to recognise it")
    for tag, dynamic, n_export, n_run in (("dynamic", True, 2, 3), ("fixed", False, 2, 2)):
        path = P(f"f_{tag}.onnx")
        x0 = torch.randn(n_export, 1, 28, 28)
        kw = {"dynamic_axes": {"input": {0: "N"}, "prob": {0: "N"}}} if dynamic else {}
        torch.onnx.export(net, x0, path, input_names=["input"], output_names=["prob"],
                          opset_version=13, **kw)
        m = onnx.load(path)
        from collections import Counter
        ops = Counter(nd.op_type for nd in m.graph.node)
        print(f"  {tag}: {len(m.graph.node)} nodes: " + ", ".join(f"{k} {v}"
                                                                  for k, v in ops.most_common()))
        x = torch.randn(n_run, 1, 28, 28)
        with torch.no_grad():
            _, outs = zt.run(mods, x)
        ref = {n: t.numpy() for n, t in outs.items()}
        if dynamic:  # the reference itself: onnxruntime on torch's file
            o = ort_run(path, {"input": x.numpy()}, ["prob"], f"f_{tag}")
            ok, err, _ = rel_close(o["prob"], ref["prob"]) if o else (False, float("inf"), 0)
            check(ok, f"torch {tag}: onnxruntime on torch's file == torch (max err {err:.3g})")
        outdir = P(f"f_{tag}.d")
        t0 = time.time()
        r = import_onnx(path, outdir)
        if not check(r.returncode == 0, f"torch {tag}: import ({time.time() - t0:.1f} s): "
                                        f"{show(r)}"):
            continue
        cfg, wi, itext = imported(outdir)
        got = layers_of(itext)
        kinds_ok = [k for k, _ in got] == [k for k, _ in kinds]
        check(kinds_ok, f"torch {tag}: imported layers are zfnet-mini's but its dropout "
                        f"({' '.join(k for k, _ in got)})")
        _, lr = zt.parse_cfg(itext)
        lrn = [p for k, p in lr if k == "lrn"]
        check(len(lrn) == 2 and all(int(p["size"]) == 5 and abs(float(p["alpha"]) - 1e-4) < 1e-9
                                    and abs(float(p["beta"]) - 0.75) < 1e-9
                                    and abs(float(p["k"]) - 2) < 1e-9 for p in lrn),
              f"torch {tag}: both LRN chains recognised as size 5, alpha 1e-4, beta 0.75, k 2 "
              f"({[(p.get('size'), p.get('alpha'), p.get('beta'), p.get('k')) for p in lrn]})")
        y = forward(cfg, wi, x.numpy(), f"f_{tag}")
        if not check(y is not None, f"torch {tag}: zfnet forward on {n_run} images"):
            continue
        pairs = ([(zn, tn) for (_, zn), (_, tn) in zip(got, kinds)] if kinds_ok
                 else [(got[-1][1], "prob")])
        compare_layers(y, ref, pairs, f"torch {tag} vs PyTorch")
        if dynamic:
            lrn_lookalikes(path)


def lrn_lookalikes(path):
    """torch's LRN chain changed in one place each: not an LRN any more, so refused."""
    from onnx import numpy_helper as nh

    def const_of(m, pred):
        for nd in m.graph.node:
            if nd.op_type == "Constant":
                v = nh.to_array(nd.attribute[0].t)
                if pred(v):
                    return nd
        return None

    def one_sided(m):  # the channel padding (2, 2) made (4, 0)
        nd = const_of(m, lambda v: v.dtype == np.int64 and v.shape == (6,))
        nd.attribute[0].t.CopyFrom(nh.from_array(np.array([0, 0, 0, 0, 4, 0], np.int64)))

    def edge(m):
        pad = [nd for nd in m.graph.node if nd.op_type == "Pad"][0]
        pad.attribute[0].s = b"edge"

    def doubled(m):  # an extra Mul by 2 before alpha's
        mul = [nd for nd in m.graph.node if nd.op_type == "Mul" and nd.input[0] != nd.input[1]][0]
        two = onnx.helper.make_tensor("two", onnx.TensorProto.FLOAT, [], [2.0])
        m.graph.initializer.append(two)
        m.graph.node.insert(list(m.graph.node).index(mul), onnx.helper.make_node(
            "Mul", [mul.input[0], "two"], ["doubled"], name="doubled"))
        mul.input[0] = "doubled"

    def avg_pads(m):
        avg = [nd for nd in m.graph.node if nd.op_type == "AveragePool"][0]
        [a for a in avg.attribute if a.name == "pads"][0].ints[:] = [1, 0, 0, 1, 0, 0]

    def cubed(m):  # x*x*x: the square feeds another Mul
        sq = [nd for nd in m.graph.node if nd.op_type == "Mul" and nd.input[0] == nd.input[1]][0]
        m.graph.node.insert(list(m.graph.node).index(sq) + 1, onnx.helper.make_node(
            "Mul", [sq.output[0], sq.input[0]], ["cubed"], name="cubed"))
        for nd in m.graph.node:
            if nd.name != "cubed":
                nd.input[:] = ["cubed" if i == sq.output[0] else i for i in nd.input]

    for tag, edit_fn in (("one-sided", one_sided), ("edge", edge), ("doubled", doubled),
                         ("avgpool-pads", avg_pads), ("cubed", cubed)):
        m = onnx.load(path)
        edit_fn(m)
        bad = P(f"f_lrn_{tag}.onnx")
        onnx.save(m, bad)
        r = import_onnx(bad, P(f"f_lrn_{tag}.d"))
        check(r.returncode == 1 and "LRN pattern" in r.stderr and len(r.stderr.splitlines()) == 1
              and not os.path.exists(P(f"f_lrn_{tag}.d")),
              f"torch's LRN chain, {tag}: refused, not read as an LRN ({show(r, 200)})")


# =============================================================================================
# g. damaged files
# =============================================================================================
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


def part_g():
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
        r = import_onnx(path, outdir, limit_vm=True)
        ok, problems = refused(r, outdir, frags, need=(os.path.basename(path),))
        check(ok and r.returncode >= 0, f"damaged {tag} ({why}): {problems or 'refused'}: "
                                        f"{r.stderr.strip()[:300]!r}")
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
        r = zf(["export", "--weights", w, "-o", out])
        check(r0.returncode == 0 and r.returncode == 1 and frag in r.stderr
              and len(r.stderr.splitlines()) == 1 and not os.path.exists(out),
              f"export of a model with {tag}: refused in one line, nothing written ({show(r)})")
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
    r = zf(["import", P("g", "tanh.onnx"), "-o", keep], timeout=120)
    check(r.returncode != 0 and os.path.isfile(os.path.join(keep, "mine.txt")),
          f"a refused import into an existing folder leaves its files: {show(r)}")


# =============================================================================================
# h. maxpool's pad_end (the model format's explicit end padding) against PyTorch and onnxruntime
# =============================================================================================
def part_h():
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


# =============================================================================================
PART_FUNCS = {"a": ("a. libonnx-testdata node cases", part_a),
              "b": ("b. ConvTranspose / MaxUnpool: zfnet's downward pass", part_b),
              "c": ("c. export: checker, contract, onnxruntime per layer", part_c),
              "d": ("d. round trip: export -> import", part_d),
              "e": ("e. model-zoo-shaped graphs", part_e),
              "f": ("f. PyTorch's export of zfnet-mini", part_f),
              "g": ("g. damaged files", part_g),
              "h": ("h. maxpool pad_end against PyTorch and onnxruntime", part_h)}

T0 = time.time()
TIMES = {}
for key in PARTS:
    title, fn = PART_FUNCS[key]
    PART = key
    section(title)
    t0 = time.time()
    try:
        fn()
    except Exception:  # noqa: BLE001 - a part that raises is a failure, the rest still run
        traceback.print_exc()
        check(False, f"part {key} raised {sys.exc_info()[0].__name__}: {sys.exc_info()[1]}")
    TIMES[key] = time.time() - t0

section("summary")
for key in PARTS:
    ok, bad = TALLY.get(key, [0, 0])
    print(f"  {PART_FUNCS[key][0]:<56} {ok:4d} ok {bad:4d} failed  {TIMES[key]:6.1f} s")
print(f"  total {time.time() - T0:.1f} s")
tl.finish()
