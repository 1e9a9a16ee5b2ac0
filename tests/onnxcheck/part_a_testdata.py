"""onnx_check, part a: libonnx-testdata node cases.

The cases of the ops a zfnet layer can be (Conv, MaxPool, LRN, Gemm, MatMul, Relu, Softmax,
Flatten, Reshape, Dropout and their neighbours): each case's extra graph inputs (weights, bias,
ratio, shape) become initializers, then `zfnet import`; a table (CASES_A) says which cases must
import and reproduce output_0 (rtol 1e-4, atol 1e-5) and which must be refused (a clean failure,
exit 1, its one stderr line naming the op) and why.
"""
import glob
import os

import numpy as np
import onnx
from onnx import numpy_helper

from .common import (P, REFUSE, RUN, TESTDATA, allclose, case_data, check, forward, import_onnx,
                     imported, layers_of, mkdir, nchw, refused, show, tl)

KEY, TITLE = "a", "a. libonnx-testdata node cases"


A_PATTERNS = ["test_basic_conv*", "test_conv_*", "test_convinteger*", "test_maxpool_*",
              "test_lrn*", "test_gemm_*", "test_matmul*", "test_relu", "test_softmax_*",
              "test_flatten_*", "test_reshape_*", "test_dropout_*", "test_training_dropout*"]

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
    before = tl.snapshot(P("a"))
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
        ok, why = refused(r, outdir, frags, since=before)
        detail = r.stderr.strip().replace(os.path.dirname(path) + "/", "")
        if kind == REFUSE:
            check(ok, f"{case}: refused ({reason}): {why or detail}")
        else:
            check(False, f"{case}: expected to run ({reason}) but {show(r)}")
    return case, kind, got, reason, detail


def run():
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
