#!/usr/bin/python3
"""The refactoring digest: what every zfnet command prints and writes on a small model, one
digest per build. Run it with the build from before a change and the build from after it, on
the same machine, then `diff` the two digests; no difference means no behaviour changed:

    /usr/bin/python3 scripts/snapshot.py OLD-BUILD/zfnet /tmp/snap-old > /tmp/digest-old.txt
    /usr/bin/python3 scripts/snapshot.py NEW-BUILD/zfnet /tmp/snap-new > /tmp/digest-new.txt
    diff /tmp/digest-old.txt /tmp/digest-new.txt

It is not a test (no expectation of its own; a few minutes). It trains zfnet-mini for 3 epochs
on generated 28x28 images (class = the position of a bright square), then runs summary, init,
forward (layers, gradients, projections), check, eval (centre, ten crops, ensemble, per class,
confusion), predict, deconv (every rule, map, unit, Grad-CAM, pictures and raw tensors), top9,
filters, evolution, data (describe, dump), pack and the --help of every command. Each line of
the digest is a command's exit status, its output with times and rates masked, and a hash of
every file it wrote (safetensors by tensors and metadata, without wall-clock entries;
metrics.jsonl without its timing fields).

Runs are deterministic for a given machine and thread count (2 here), so two builds of the same
behaviour give the same digest on one machine.

Usage: snapshot.py ZFNET WORKDIR > digest.txt   (WORKDIR is emptied first)
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
sys.path.insert(0, os.path.join(TESTS, "torch"))  # zftorch.py: the safetensors reader
sys.path.insert(0, TESTS)                         # testlib.py: the generated images
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

zfnet, work = sys.argv[1], os.path.abspath(sys.argv[2])
if os.sep in zfnet:  # the commands run in WORKDIR: a relative path to zfnet would not be found
    zfnet = os.path.abspath(zfnet)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
VOLATILE_META = {"elapsed", "zfnet_version"}
VOLATILE_METRICS = {"img_per_s", "data_wait_s", "elapsed_s"}


def mask(text):
    text = text.replace(work, "WORK")
    text = re.sub(r"\b\d+(\.\d+)? ?(s|ms)\b", "T s", text)
    text = re.sub(r"\b\d+(\.\d+)? (img|images)/s\b", "R img/s", text)
    return text


def digest_file(path):
    if path.endswith(".safetensors"):
        t, meta = zt.st_load(path)
        h = hashlib.sha256()
        for k in sorted(t):
            h.update(k.encode() + str(t[k].dtype).encode() + str(t[k].shape).encode())
            h.update(t[k].tobytes())
        for k in sorted(meta):
            if k not in VOLATILE_META:
                h.update(f"{k}={meta[k].replace(work, 'WORK')}".encode())
        return h.hexdigest()[:16]
    if path.endswith(".jsonl"):
        lines = [json.loads(l.replace(work, "WORK")) for l in open(path)]
        lines = [{k: v for k, v in l.items() if k not in VOLATILE_METRICS} for l in lines]
        return hashlib.sha256(json.dumps(lines, sort_keys=True).encode()).hexdigest()[:16]
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith((".json", ".svg", ".csv")):
        data = data.replace(work.encode(), b"WORK")
    return hashlib.sha256(data).hexdigest()[:16]


def files_under(d):
    out = []
    for root, _, names in os.walk(d):
        for n in sorted(names):
            out.append(os.path.join(root, n))
    return sorted(out)


def step(name, args, outputs=()):
    r = subprocess.run([zfnet] + args, capture_output=True, text=True, cwd=work)
    print(f"### {name}: rc {r.returncode}")
    print(mask(r.stdout), end="")
    err = "".join(l + "\n" for l in r.stderr.splitlines() if "ETA" not in l and "\r" not in l)
    if err:
        print("stderr: " + mask(err), end="")
    for o in outputs:
        paths = files_under(o) if os.path.isdir(o) else [o] if os.path.exists(o) else []
        for p in paths:
            print(f"file {os.path.relpath(p, work)} {digest_file(p)}")
    return r


P = lambda *a: os.path.join(work, *a)  # noqa: E731
rng = np.random.default_rng(11)
for split, n in (("train", 2000), ("test", 300)):
    img, lab = tl.squares(rng, n, background=60)
    tl.write_idx(P(f"{split}-images-idx3-ubyte.gz"), img)
    tl.write_idx(P(f"{split}-labels-idx1-ubyte.gz"), lab)
    if split == "test":
        test_img = img
TRAIN, TEST = P("train-images-idx3-ubyte.gz"), P("test-images-idx3-ubyte.gz")
for i in range(3):
    Image.fromarray(test_img[i]).save(P(f"t{i}.png"))

step("top help", ["--help"])
cmds = ["summary", "init", "forward", "check", "demo", "train", "eval", "predict", "deconv",
        "top9", "filters", "evolution", "data", "pack", "bench"]
for c in cmds:
    step(f"help {c}", [c, "--help"])

T2 = ["--threads", "2"]
step("summary zfnet", ["summary", "zfnet"])
step("summary mini rgb", ["summary", "zfnet-mini", "--input-size", "3x32x32", "--classes", "7"])
step("init", ["init", "zfnet-mini", "--seed", "3", "--init", "he", "-o", P("w.safetensors")],
     [P("w.safetensors")])
x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
act_sig = np.random.default_rng(2).standard_normal((2, 96, 7, 7)).astype(np.float32)
zt.st_save(P("x.safetensors"), {"input": x, "labels": np.array([1, 4]), "signal": act_sig})
step("forward", ["forward", "--model", "zfnet-mini", "--weights", P("w.safetensors"), "--input",
                 P("x.safetensors"), "--output", P("y.safetensors"), "--layers", "all",
                 "--grad"] + T2, [P("y.safetensors")])
for rule in ("deconvnet", "guided", "gradient"):
    step(f"forward project {rule}", ["forward", "--model", "zfnet-mini", "--weights",
                                     P("w.safetensors"), "--input", P("x.safetensors"),
                                     "--output", P(f"p-{rule}.safetensors"), "--project",
                                     "conv3", "--rule", rule] + T2,
         [P(f"p-{rule}.safetensors")])
step("forward project guided lrn-gradient",
     ["forward", "--model", "zfnet-mini", "--weights", P("w.safetensors"), "--input",
      P("x.safetensors"), "--output", P("p-guided-lrn.safetensors"), "--project", "conv3",
      "--rule", "guided", "--lrn-gradient"] + T2, [P("p-guided-lrn.safetensors")])
step("check", ["check", "zfnet-mini", "--batch", "2"])
step("train", ["train", "--train", TRAIN, "--test", TEST, "--epochs", "3", "--batch", "64",
               "--no-flip", "--snapshot-epochs", "1,2", "--lr-steps", "2", "--renorm", "0.5",
               "-o", P("run")] + T2, [P("run")])
step("train finished", ["train", "--resume", "-o", P("run")] + T2)
last, e1 = P("run", "last.safetensors"), P("run", "epoch-1.safetensors")
step("eval", ["eval", "--weights", last, "--data", TEST, "--per-class", "--confusion",
              P("conf.csv")] + T2, [P("conf.csv")])
step("eval ten ensemble", ["eval", "--weights", last, "--ensemble", e1, "--data", TEST,
                           "--ten-crop"] + T2)
step("predict", ["predict", "--weights", last, P("t0.png"), P("t1.png"), "--top", "3"] + T2)
zt.st_save(P("xs.safetensors"), {"input": x})
for rule in ("deconvnet", "guided", "gradient", "gradcam"):
    step(f"deconv {rule}", ["deconv", "--weights", last, "--layer", "conv4", "--rule", rule,
                            "--input", P("t0.png"), P("t2.png"), "-o", P(f"dc-{rule}"), "--raw",
                            P(f"dc-{rule}.safetensors")] + T2,
         [P(f"dc-{rule}"), P(f"dc-{rule}.safetensors")])
step("deconv map", ["deconv", "--weights", last, "--layer", "pool2", "--map", "5", "--input",
                    P("xs.safetensors"), "--raw", P("dm.safetensors")] + T2,
     [P("dm.safetensors")])
step("deconv unit", ["deconv", "--weights", last, "--layer", "conv2", "--unit", "3,6,7",
                     "--input", P("xs.safetensors"), "--raw", P("du.safetensors")] + T2,
     [P("du.safetensors")])
step("top9", ["top9", "--weights", last, "--data", TEST, "--random", "4", "--seed", "2",
              "-o", P("top9")] + T2, [P("top9")])
step("top9 layers", ["top9", "--weights", last, "--data", TEST, "--layers", "conv1,pool5",
                     "--maps", "1,2", "--top", "4", "-o", P("top9b")] + T2, [P("top9b")])
step("filters", ["filters", "--weights", last, "--data", TEST, "--images", "8", "-o",
                 P("filters")] + T2, [P("filters")])
step("evolution", ["evolution", "--run", P("run"), "--data", TEST, "--random", "3", "-o",
                   P("evo")] + T2, [P("evo")])
step("data", ["data", TEST, "--dump", P("dump.safetensors"), "--first", "20"],
     [P("dump.safetensors")])
folder = P("folder")
for k in range(2):
    os.makedirs(os.path.join(folder, f"c{k}"))
    for i in range(3):
        Image.fromarray(np.uint8(rng.integers(0, 255, (40, 50, 3)))).save(
            os.path.join(folder, f"c{k}", f"{i}.png"))
step("pack", ["pack", folder, "-o", P("s.zfs"), "--size", "32", "--lossless"], [P("s.zfs")])
step("data shard", ["data", P("s.zfs")])
