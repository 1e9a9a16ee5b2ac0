#!/usr/bin/python3
"""Every error a user can cause is a clean failure (testlib.clean_failure): one line on stderr
naming the file (and line or tensor) and the problem, the documented exit status (2 for a usage
error: an unknown command or option, a missing or extra argument, a bad option value; 1 for
anything else), no crash and nothing left behind in WORKDIR. Every command's --help too.

Usage: cli_errors.py ZFNET WORKDIR
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch"))
sys.path.insert(0, HERE)
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

zfnet, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
P = lambda name: os.path.join(work, name)  # noqa: E731
USAGE = tl.USAGE


def run(args):
    return tl.run_zfnet(zfnet, args)


def expect_error(what, args, fragment, out=None, code=tl.FAILURE):
    """args fail cleanly with exit `code`, the stderr line holding fragment; out (removed first)
    is not written, and nothing else appears or changes in WORKDIR."""
    if out and os.path.exists(out):
        os.remove(out)
    problems, r = tl.fails_cleanly(zfnet, args, code, need=fragment, gone=[out] if out else (),
                                   watch=[work])
    tl.check(not problems, f"{what}: rc={r.returncode} stderr={r.stderr.strip()!r}"
             + (f": {'; '.join(problems)}" if problems else ""))


# good files to start from
r = run(["init", "zfnet-mini", "--seed", "1", "-o", P("w.safetensors")])
assert r.returncode == 0, r.stderr
x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
zt.st_save(P("x.safetensors"), {"input": x, "labels": np.array([1, 2], dtype=np.int64)})
fwd = ["forward", "--model", "zfnet-mini", "--weights", P("w.safetensors"), "--input",
       P("x.safetensors"), "--output", P("y.safetensors")]
r = run(fwd + ["--grad"])
assert r.returncode == 0, r.stderr

# a model file with a typo
with open(P("typo.cfg"), "w") as f:
    f.write("[net]\nchannels=1\nheight=28\nwidth=28\n\n[conv]\nname=conv1\nfilters=8\nsize=3\n"
            "strde=1\n")
expect_error("model file typo", ["summary", P("typo.cfg")],
             f"{P('typo.cfg')}:10: [conv] unknown key 'strde' (did you mean 'stride'?)")
expect_error("unknown preset", ["summary", "zfnet-mega"], "zfnet-mega: not a preset")

# checkpoints: truncated, wrong shape, not safetensors
data = open(P("w.safetensors"), "rb").read()
open(P("trunc.safetensors"), "wb").write(data[:len(data) // 2])
expect_error("truncated checkpoint", fwd[:3] + ["--weights", P("trunc.safetensors")] + fwd[5:],
             f"{P('trunc.safetensors')}: truncated", P("y.safetensors"))
r = run(["init", "zfnet-mini", "--input-size", "3x32x32", "-o", P("rgb.safetensors")])
assert r.returncode == 0, r.stderr
expect_error("checkpoint of another shape",
             fwd[:3] + ["--weights", P("rgb.safetensors")] + fwd[5:],
             "'conv1.weight' has shape [32,3,5,5], the model needs [32,1,5,5]", P("y.safetensors"))
open(P("junk.safetensors"), "w").write("this is plain text, not tensors\n" * 4)
expect_error("not safetensors", fwd[:3] + ["--weights", P("junk.safetensors")] + fwd[5:],
             f"{P('junk.safetensors')}: not a safetensors file", P("y.safetensors"))

# inputs: wrong size, wrong dtype, missing, labels out of range / missing
zt.st_save(P("big.safetensors"), {"input": np.zeros((2, 1, 32, 32), np.float32)})
expect_error("input of the wrong size", fwd[:5] + ["--input", P("big.safetensors")] + fwd[7:],
             "tensor 'input' has shape [2,1,32,32], expected [N,1,28,28]", P("y.safetensors"))
zt.st_save(P("f64.safetensors"), {"input": np.zeros((2, 1, 28, 28), np.float64)})
expect_error("input of the wrong dtype", fwd[:5] + ["--input", P("f64.safetensors")] + fwd[7:],
             "tensor 'input' is F64, expected F32", P("y.safetensors"))
zt.st_save(P("noinput.safetensors"), {"x": np.zeros((2, 1, 28, 28), np.float32)})
expect_error("no input tensor", fwd[:5] + ["--input", P("noinput.safetensors")] + fwd[7:],
             "no tensor 'input'", P("y.safetensors"))
zt.st_save(P("lab.safetensors"), {"input": x, "labels": np.array([0, 10], dtype=np.int32)})
expect_error("labels out of range",
             fwd[:5] + ["--input", P("lab.safetensors")] + fwd[7:] + ["--grad"],
             "labels[1] = 10 is out of range [0, 10)", P("y.safetensors"))
zt.st_save(P("nolab.safetensors"), {"input": x})
expect_error("labels missing", fwd[:5] + ["--input", P("nolab.safetensors")] + fwd[7:] + ["--grad"],
             "--grad needs a tensor 'labels'", P("y.safetensors"))
expect_error("signal missing", fwd + ["--project", "conv2"], "no tensor 'signal'",
             P("y.safetensors"))

# options
expect_error("unknown layer", fwd + ["--layers", "conv1,conv9"], "no layer 'conv9'",
             P("y.safetensors"))
expect_error("bad thread count", fwd + ["--threads", "0"], "--threads: 0 is out of range",
             P("y.safetensors"), code=USAGE)
expect_error("bad input size", ["summary", "zfnet", "--input-size", "3x"], "--input-size: '3x'",
             code=USAGE)
expect_error("input too small", ["summary", "zfnet", "--input-size", "3x20x20"],
             "zfnet.cfg:34: [conv] conv2: a 5x5 kernel does not fit its 4x4 input")
expect_error("bad rule", fwd + ["--project", "conv2", "--rule", "magic"], "--rule: 'magic'",
             P("y.safetensors"), code=USAGE)
expect_error("unknown command", ["frobnicate"], "unknown command 'frobnicate'", code=USAGE)
expect_error("unknown option", ["eval", "--weigths", P("w.safetensors")],
             "zfnet eval: unknown option '--weigths'", code=USAGE)
expect_error("option without its value", ["top9", "--weights"], "--weights needs a value",
             code=USAGE)
expect_error("a flag given a value", ["eval", "--weights", P("w.safetensors"), "--ten-crop=1"],
             "--ten-crop takes no value", code=USAGE)
expect_error("a stray argument", ["filters", "--weights", P("w.safetensors"), "extra"],
             "unexpected argument 'extra'", code=USAGE)
expect_error("no model named", ["summary"], "expected one MODEL", code=USAGE)
expect_error("a required option missing", ["init", "zfnet-mini"], "--output is required",
             code=USAGE)
expect_error("output folder missing", fwd[:7] + ["--output", P("nodir/y.safetensors")],
             "cannot create")

# datasets, training, evaluation
expect_error("missing dataset", ["train", "--train", P("none.gz"), "-o", P("r1")],
             f"{P('none.gz')}: No such file or directory")
expect_error("not a dataset", ["data", P("w.safetensors")],
             f"{P('w.safetensors')}: not a dataset zfnet reads")
open(P("imgs.gz"), "wb").write(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4]))
expect_error("IDX labels not found", ["data", P("imgs.gz")], "name them: IMAGES,LABELS")
expect_error("bad learning rate", ["train", "--lr", "-1"], "--lr: -1 is out of range", code=USAGE)
expect_error("bad init", ["train", "--init", "magic"], "--init: 'magic'", code=USAGE)
os.makedirs(P("empty"), exist_ok=True)
expect_error("nothing to resume", ["train", "--resume", "-o", P("empty")], "nothing to resume")
os.makedirs(P("fake"), exist_ok=True)
open(P("fake/state.safetensors"), "wb").write(data)
expect_error("not a training state", ["train", "--resume", "-o", P("fake")],
             "not a zfnet training state")
expect_error("eval without weights", ["eval"], "--weights is required", code=USAGE)
expect_error("eval on weights without data settings", ["eval", "--weights", P("w.safetensors")],
             "no data.mean")
expect_error("pack a missing folder", ["pack", P("nofolder"), "-o", P("s.zfs")],
             "cannot read the folder", P("s.zfs"))

# visualisation commands
expect_error("deconv: unknown layer", ["deconv", "--weights", P("w.safetensors"), "--layer",
                                       "conv9", "--input", P("x.safetensors")], "no layer 'conv9'")
expect_error("deconv: map out of range", ["deconv", "--weights", P("w.safetensors"), "--layer",
                                          "conv1", "--map", "32", "--input", P("x.safetensors")],
             "layer 'conv1' has 32 maps")
expect_error("deconv: unit out of range", ["deconv", "--weights", P("w.safetensors"), "--layer",
                                           "conv1", "--unit", "0,40,0", "--input",
                                           P("x.safetensors")],
             "unit 0,40,0: layer 'conv1' is 28x28")
expect_error("deconv: bad rule", ["deconv", "--weights", P("w.safetensors"), "--layer", "conv1",
                                  "--rule", "magic", "--input", P("x.safetensors")],
             "--rule: 'magic'", code=USAGE)
expect_error("deconv: unreadable image", ["deconv", "--weights", P("w.safetensors"), "--layer",
                                          "conv1", "--input", P("typo.cfg"), "-o", P("dc")],
             f"{P('typo.cfg')}: not a JPEG or PNG image")
expect_error("deconv: input of the wrong size", ["deconv", "--weights", P("w.safetensors"),
                                                 "--layer", "conv1", "--input",
                                                 P("big.safetensors")], "has shape")
expect_error("top9: no data settings", ["top9", "--weights", P("w.safetensors")], "no data.mean")
expect_error("filters: not a conv layer", ["filters", "--weights", P("w.safetensors"), "--layer",
                                           "fc6"], "fc6: not a conv layer")
expect_error("evolution: no snapshots", ["evolution", "--run", P("empty")],
             "no epoch-N.safetensors snapshots")

# the paper's experiments
occ = ["occlusion", "--weights", P("w.safetensors"), "--input", P("x.safetensors"), "-o", P("occ")]
zt.st_save(P("nolab.safetensors"), {"input": x})
expect_error("occlusion: square larger than the input", occ + ["--size", "40"],
             "occluder 40 px at stride", P("occ/occlusion.json"))
expect_error("occlusion: class out of range", occ + ["--class", "12"],
             "class 12: the model has 10 classes", P("occ/occlusion.json"))
expect_error("occlusion: map out of range", occ + ["--map", "99"],
             "map 99: layer 'relu5' has 64 maps", P("occ/occlusion.json"))
expect_error("occlusion: --class true without labels",
             occ[:4] + [P("nolab.safetensors"), "--class", "true", "-o", P("occ")],
             "has no label", P("occ/occlusion.json"))
expect_error("occlusion: unknown label", occ[:4] + [P("nolab.safetensors"), "--labels", "3,Dress",
                                           "-o", P("occ")],
             "--labels: 'Dress' is neither a class index nor a class name", P("occ/occlusion.json"))
expect_error("occlusion: labels short", occ[:4] + [P("nolab.safetensors"), "--labels", "3", "-o",
                                                   P("occ")],
             "--labels: 1 labels for 2 inputs", P("occ/occlusion.json"))
expect_error("occlusion: no items", ["occlusion", "--model", "zfnet-mini", "--data",
                                     "fashion-mnist:test", "--items", "", "-o", P("occ")],
             "--items '': no indices", P("occ/occlusion.json"))
expect_error("occlusion: bad box", occ + ["--box", "5,5,2,9"], "is not X0,Y0,X1,Y1", code=USAGE)
expect_error("occlusion: box outside", occ + ["--box", "0,0,29,9"], "the input is 28x28",
             P("occ/occlusion.json"))
expect_error("occlusion: bad fill", occ + ["--fill", "300"], "is not mean, gray, zero or a grey",
             code=USAGE)
expect_error("occlusion: both inputs", occ + ["--data", "fashion-mnist", "--items", "1"],
             "either --input or --data", code=USAGE)
inv = ["invariance", "--weights", P("w.safetensors"), "--input", P("x.safetensors"), "-o",
       P("inv")]
expect_error("invariance: bad transform", inv + ["--transform", "spin"],
             "transform 'spin': translate, scale or rotate", code=USAGE)
expect_error("invariance: bad range", inv + ["--transform", "rotate", "--range", "1"],
             "--range '1' is not A:B", code=USAGE)
expect_error("invariance: scale by zero", inv + ["--transform", "scale", "--range", "0:1"],
             "must be positive", P("inv/invariance-scale.json"))
expect_error("invariance: not a layer", inv + ["--transform", "scale", "--layers", "conv9"],
             "conv9")
corr = ["correspondence", "--weights", P("w.safetensors"), "--images", P("x.safetensors"),
        "-o", P("corr")]
open(P("bad-parts.json"), "w").write('{"parts": {"eye": [[1,2,3,4],\n [1,2,3]]}')
expect_error("correspondence: malformed parts file", corr + ["--parts", P("bad-parts.json")],
             f"{P('bad-parts.json')}:2:", P("corr/correspondence.json"))
open(P("short-parts.json"), "w").write('{"parts": {"eye": [[1,2,3,4]]}}')
expect_error("correspondence: a rectangle missing", corr + ["--parts", P("short-parts.json")],
             "part 'eye' needs 2 rectangles (one per image), not 1", P("corr/correspondence.json"))
open(P("wide-parts.json"), "w").write('{"parts": {"eye": [[1,2,3,4], [20,2,30,4]]}}')
expect_error("correspondence: a rectangle outside", corr + ["--parts", P("wide-parts.json")],
             "rectangle 20,2,30,4 is not inside", P("corr/correspondence.json"))
zt.st_save(P("one.safetensors"), {"input": x[:1]})
expect_error("correspondence: one image", corr[:4] + [P("one.safetensors"), "--parts",
                                                      P("short-parts.json")],
             "at least 2 images")

# transfer, probe and ablate
imgs, labels = tl.squares(np.random.default_rng(3), 300)
tl.write_idx(P("sq-images-idx3-ubyte.gz"), imgs)
tl.write_idx(P("sq-labels-idx1-ubyte.gz"), labels)
r = run(["train", "--train", P("sq-images-idx3-ubyte.gz"), "--test", "none", "--epochs", "1",
         "-o", P("sq"), "--overwrite"])
assert r.returncode == 0, r.stderr
pre = P("sq/last.safetensors")
tr = ["transfer", "--weights", pre, "-o", P("tr")]
expect_error("transfer: more per class than a class holds", tr + ["--per-class", "300"],
             "holds 250 images; 300 per class asks for more", P("tr/transfer.json"))
expect_error("transfer: k beyond the net", tr + ["--freeze", "9"],
             "layer 9 is beyond the net: model 'zfnet-mini' has layers 1..8", P("tr/transfer.json"))
expect_error("transfer: the classifier frozen", tr + ["--freeze", "fc8"],
             "freezing up to 'fc8' leaves nothing to train", P("tr/transfer.json"))
expect_error("transfer: no such layer", tr + ["--freeze", "conv9"],
             "has no layer 'conv9'", P("tr/transfer.json"))
expect_error("transfer: untrained weights", ["transfer", "--weights", P("w.safetensors"), "-o",
                                             P("tr")], "zfnet init", P("tr/transfer.json"))
expect_error("transfer: two modes", tr + ["--scratch", "--finetune"], "exclude each other",
             code=USAGE)
expect_error("transfer: bad curve", tr + ["--curve", "1,x"], "--curve", code=USAGE)
expect_error("probe: bad classifier", ["probe", "--weights", pre, "--classifiers", "svm,tree"],
             "unknown classifier 'tree'", code=USAGE)
expect_error("probe: unknown set", ["probe", "--weights", pre, "--sets", "cifar"],
             "'cifar' is not fashion-mnist or digits", code=USAGE)
expect_error("probe: no such layer", ["probe", "--weights", pre, "--layers", "conv7", "-o",
                                      P("pr")], "conv7", P("pr/probe.csv"))
os.environ["ZFNET_DIGITS"] = P("typo.cfg")
expect_error("digits: not the sheet", tr, "typo.cfg: not a JPEG or PNG image",
             P("tr/transfer.json"))
os.environ["ZFNET_DIGITS"] = P("nothing.png")
expect_error("digits: missing", tr, "nothing.png: No such file or directory "
             "(scripts/install-deps.sh --digits", P("tr/transfer.json"))
del os.environ["ZFNET_DIGITS"]
ab = ["ablate", "--train", P("sq-images-idx3-ubyte.gz"), "--test", "none", "--epochs", "1", "-o",
      P("ab"), "--variants"]
for name, text, fragment in (
        ("no colon", "base:\nremove conv3\n", "v1.txt:2: expected 'NAME: EDITS'"),
        ("unknown layer", "base:\nx: remove conv9\n", "variant 'x' (line 2): model 'zfnet-mini' "
                                                         "has no layer 'conv9' to remove"),
        ("bad setting", "a: fc6.outputs=-3\n", "variant 'a' (line 1):"),
        ("bad edit", "a: fc6 outputs 3\n", "edit 'fc6 outputs 3': expected"),
        ("twice", "a:\n# c\na: remove fc7\n", "v1.txt:3: variant 'a' again (first on line 1)"),
        ("bad name", "a b: remove fc7\n", "variant name 'a b'"),
        ("empty", "# nothing\n", "v1.txt: no variants"),
        ("shapes", "a: conv1.size=40\n", "variant 'a' (line 1):")):
    open(P("v1.txt"), "w").write(text)
    expect_error(f"ablate: {name}", ab + [P("v1.txt")], fragment, P("ab/ablation.json"))
tl.check(not os.path.exists(P("ab/a")) and not os.path.exists(P("ab/base")),
         "ablate: a bad variant stops it before any trains")

# --precision bf16 where the CPU lacks AVX512-BF16 (ZFNET_NO_BF16=1 hides the flag; or oneDNN
# held below it by DNNL_MAX_CPU_ISA): one line naming the instruction set, at parsing, for every
# command that computes; auto says once that it chose fp32 and goes on
for var, value, why in (("ZFNET_NO_BF16", "1", "this CPU lacks AVX512-BF16: no avx512_bf16 in "
                         "/proc/cpuinfo"),
                        ("DNNL_MAX_CPU_ISA", "AVX512_CORE", "DNNL_MAX_CPU_ISA holds oneDNN below "
                         "AVX512-BF16")):
    os.environ[var] = value
    for cmd in ("forward", "train", "demo", "eval", "predict", "deconv", "top9", "evolution",
                "filters", "occlusion", "invariance", "correspondence", "transfer", "probe",
                "ablate", "bench", "serve", "report"):
        expect_error(f"{cmd} --precision bf16 ({var})", [cmd, "--precision", "bf16"],
                     f"zfnet: --precision bf16: {why}; use fp32 or auto", code=USAGE)
    r = run(["bench", "--model", "zfnet-mini", "--iters", "1", "--warmup", "0", "--precision",
             "auto"])
    tl.check(r.returncode == 0 and ", fp32, inference" in r.stdout and r.stderr.count("\n") == 1
             and f"zfnet: --precision auto: fp32 ({why})" in r.stderr,
             f"bench --precision auto ({var}): rc={r.returncode} {r.stderr!r}")
    del os.environ[var]
expect_error("--precision fp16", fwd + ["--precision", "fp16"],
             "--precision: 'fp16' is not fp32, bf16 or auto", code=USAGE)
if run(["bench", "--model", "zfnet-mini", "--iters", "1", "--precision", "bf16"]).returncode == 0:
    expect_error("bf16 on the ref backend", fwd + ["--precision", "bf16", "--backend", "ref"],
                 "precision bf16 needs the dnnl backend, not ref", P("y.safetensors"))
else:
    print("skipped: bf16 on the ref backend (no AVX512-BF16 here)")

# every command's --help: the usage line, every option of its table, exit 0, nothing on stderr
for cmd in ("summary", "init", "forward", "check", "demo", "train", "eval", "predict", "deconv",
            "top9", "filters", "evolution", "data", "pack", "bench", "occlusion", "invariance",
            "correspondence", "transfer", "probe", "ablate", "report"):
    r = run([cmd, "--help"])
    tl.check(r.returncode == 0 and r.stdout.startswith(f"usage: zfnet {cmd} ") and not r.stderr
             and "-h, --help" in r.stdout, f"{cmd} --help")

tl.finish()
