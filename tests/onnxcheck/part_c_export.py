"""onnx_check, part c: export: checker, contract, onnxruntime per layer.

zfnet-mini, alexnet-g2 and zfnet (He init, bias 0.05) exported: onnx.checker (full check), names
and initializers as the contract says, every layer's tensor in onnxruntime vs `zfnet forward
--layers all` within 1e-4 * max(1, max|ref|); zfnet-mini also at opsets 7 to 17; --opset 13 is
the default byte for byte; opsets out of range are usage errors (exit 2, nothing written).
"""
import time

import numpy as np
import onnx
from onnx import numpy_helper

from .common import (C_MODELS, C_OPSETS, INIT_ARGS, P, REL_TOL, check, checkpoint, compare_layers,
                     exported, forward, full_check, layers_of, ort_run, random_input, refused,
                     show, tidy, tl, with_all_outputs, zf, zt)

KEY, TITLE = "c", "c. export: checker, contract, onnxruntime per layer"


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


def run():
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
    # out-of-range opsets: a usage error (a bad option value, exit 2), one line, no file
    for bad in ("6", "18", "x"):
        out = P(f"bad-opset-{bad}.onnx")
        before = tl.snapshot(P())
        r = zf(["export", "--weights", checkpoint("zfnet-mini")[0], "-o", out, "--opset", bad])
        ok, why = refused(r, out, need="--opset", since=before, code=tl.USAGE)
        check(ok, f"export --opset {bad} refused: {why or show(r)}")
    print(f"\nworst error per model (max|zfnet - onnxruntime| / max(1, max|onnxruntime|), "
          f"tolerance {REL_TOL:g}):")
    for label, (err, layer) in WORST_C:
        print(f"  {label:<36} {err:9.3g}  at {layer}")
