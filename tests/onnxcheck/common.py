"""What onnx_check's parts share: the settings (configure), checks counted per part, running
zfnet (testlib.run_zfnet) and onnxruntime, a refusal (testlib.clean_failure), comparisons, and
the checkpoints and exports that several parts use (made once per run)."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/
sys.path.insert(0, os.path.join(HERE, "torch"))
sys.path.insert(0, HERE)
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

TESTDATA = "/usr/share/libonnx-testdata/data/node"
ORT_JS = os.path.join(HERE, "ort_run.js")
NODE = shutil.which("node") or "/usr/bin/node"
THREADS = ["--threads", "2"]
REL_TOL = 1e-4                           # max|zfnet - ref| <= REL_TOL * max(1, max|ref|)
RUN, REFUSE = "run", "refused"           # what a table of cases expects of one (parts a, b)
# the models (and images per run) parts c and d export, and the opsets besides the default 13
C_MODELS = [("zfnet-mini", 2), ("alexnet-g2", 2), ("zfnet", 1)]
C_OPSETS = [7, 8, 9, 10, 11, 12, 14, 15, 16, 17]

# set by configure()
zfnet = work = None
sanitized = KEEP = False
SLOW = 1                                 # sanitizer builds: longer timeouts


def configure(zfnet_path, workdir, is_sanitized=False, keep=False):
    """The zfnet to run, the work folder (emptied), a sanitized build?, keep large files?"""
    global zfnet, work, sanitized, KEEP, SLOW
    zfnet, work = os.path.abspath(zfnet_path), os.path.abspath(workdir)
    sanitized, KEEP, SLOW = is_sanitized, keep, 5 if is_sanitized else 1
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
    """zfnet ARGS (testlib.run_zfnet: never raises; a timeout, SLOW times `timeout` seconds, is
    returncode testlib.TIMED_OUT; limit_vm: 1 GiB of address space, not when sanitized)."""
    return tl.run_zfnet(zfnet, args, timeout=timeout * SLOW, limit_vm=limit_vm,
                        sanitized=sanitized)


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


def refused(r, outdir, fragments=(), need=(), since=None, code=tl.FAILURE):
    """(ok, why): r is a clean failure (testlib.clean_failure) with exit `code` (1: a refused
    file), its stderr line holding every string of `need` and one of `fragments` (if any);
    outdir is not left behind, nor anything new or changed since the snapshot `since`."""
    problems = tl.clean_failure(r, code, need=need, any_of=fragments, gone=[outdir], since=since)
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
CHECKPOINTS, EXPORTS = {}, {}


def checkpoint(model):
    """zfnet init MODEL (He, bias 0.05): (weights path, tensors, canonical text)."""
    if model not in CHECKPOINTS:
        path = P(f"{model}.safetensors")
        r = zf(["init", model, "-o", path] + INIT_ARGS)
        check(r.returncode == 0, f"zfnet init {model}: {show(r)}")
        w, meta = zt.st_load(path)
        CHECKPOINTS[model] = (path, w, meta.get("model", ""))
    return CHECKPOINTS[model]


def exported(model, opset=None, use_model_flag=False):
    """zfnet export of checkpoint(model): the .onnx path, or None."""
    key = (model, opset)
    if key not in EXPORTS:
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
        EXPORTS[key] = out if ok else None
    return EXPORTS[key]


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


# ---- ONNX's test data ------------------------------------------------------------------------
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
