#!/usr/bin/python3
"""What the features are worth (zfnet transfer, probe, ablate) against independent computations:

- OpenCV's digits: the sheet read with PIL and each digit placed by its centre of mass in numpy
  equals what the dataset 'digits' gives, image for image, with labels and the split.
- Draws and the measure: N per class from the right classes, reproducible by seed, different
  per fold; the mean per-class accuracy against hand-derived values.
- Transfer: the cached path's classifier equals training through the frozen net (--no-cache);
  the frozen layers of the saved fold are the checkpoint's, bit for bit; its accuracy recomputed
  in PyTorch from the saved net and the test images equals transfer.json's.
- Probes: liblinear's SVM against scikit-learn's LinearSVC on the same standardised features
  (random data: accuracy within 0.5 points; a separable set: the same predictions); pooling
  against PyTorch's adaptive pooling; zfnet probe's fold accuracy against features computed in
  PyTorch, pooled, standardised and classified by LinearSVC with the same draw and C.
- Ablations: the variants' models (removed layers and their ReLU/dropout, resized layers), the
  table's errors against zfnet eval, and a second run reusing every finished variant.

Usage: learning_checks.py ZFNET LIBDIR WORKDIR (LIBDIR '-': a sanitized build, whose library
cannot be loaded into Python: only the command-line checks)"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from sklearn.svm import LinearSVC

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "torch"))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import zftorch as zt  # noqa: E402
from testlib import check, finish, run, write_idx  # noqa: E402

ZF, LIBDIR, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
CTYPES = LIBDIR != "-"
if CTYPES:
    os.environ["ZFNET_LIB"] = os.path.join(LIBDIR, "libzfnet.so")
import zfnet  # noqa: E402

shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
torch.set_num_threads(2)
DIGITS = os.environ.get("ZFNET_DIGITS") or "/usr/share/doc/opencv-doc/examples/data/digits.png"


def p(name):
    return os.path.join(WORK, name)


def digits_reference():
    """(train, test) images (2500, 28, 28) and labels, as the dataset's documentation says"""
    sheet = np.asarray(Image.open(DIGITS).convert("L"))
    out = {0: ([], []), 1: ([], [])}
    for r in range(50):
        for c in range(100):
            cell = sheet[20 * r:20 * r + 20, 20 * c:20 * c + 20].astype(np.float64)
            s = cell.sum()
            ys, xs = np.mgrid[0:20, 0:20] + 0.5
            cy, cx = ((cell * ys).sum() / s, (cell * xs).sum() / s) if s else (10, 10)
            oy = int(min(8, max(0, np.floor(14 - cy + 0.5))))
            ox = int(min(8, max(0, np.floor(14 - cx + 0.5))))
            img = np.zeros((28, 28), np.uint8)
            img[oy:oy + 20, ox:ox + 20] = cell
            out[c >= 50][0].append(img)
            out[c >= 50][1].append(r // 5)
    return [(np.stack(out[k][0]), np.array(out[k][1])) for k in (0, 1)]


def digits_checks():
    ref = digits_reference()
    for k, spec in enumerate(("digits", "digits:test")):
        r = run(ZF, ["data", spec, "--dump", p(f"{k}.safetensors")], tail=300)
        t = zt.st_load(p(f"{k}.safetensors"))[0]
        check(r.returncode == 0 and t["images"].shape == (2500, 1, 28, 28),
              f"{spec}: 2500 images of 1x28x28")
        diff = np.abs(t["images"][:, 0].astype(int) - ref[k][0]).max()
        check(diff == 0, f"{spec}: every digit placed by its centre of mass as numpy does "
                         f"(max diff {diff})")
        check((t["labels"] == ref[k][1]).all() and (np.bincount(t["labels"]) == 250).all(),
              f"{spec}: labels by row band, 250 per class")


def measure_checks():
    m, per = zfnet.per_class_accuracy([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 3], 5)
    # class 0: 1/1, class 1: 2/3, class 2: 1/1, class 3: 0/1, class 4 absent
    check(abs(m - (1 + 2 / 3 + 1 + 0) / 4) < 1e-12 and np.isnan(per[4]),
          f"per-class accuracy by hand: {m:.4f} = (1 + 2/3 + 1 + 0) / 4, class 4 left out")
    labels = zt.st_load(p("0.safetensors"))[0]["labels"]
    a, b, c = (zfnet.draw_per_class("digits", 7, s) for s in (11, 11, 12))
    check(len(a) == 70 and (np.bincount(labels[a]) == 7).all() and len(set(a)) == 70,
          "a draw: 7 distinct images of each class")
    check((a == b).all() and len(set(a) & set(c)) < 35, "the same seed draws the same; another "
                                                        "seed draws others")
    try:
        zfnet.draw_per_class("digits", 251, 1)
        check(False, "251 per class of 250 is refused")
    except zfnet.Error as e:
        check("holds 250 images; 251 per class" in str(e), f"251 per class is refused: {e}")


def pretrained():
    """a small Fashion-MNIST net: 2 epochs on 3000 images"""
    import gzip
    with gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:3000]
    with gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:3000]
    write_idx(p("fm-images-idx3-ubyte.gz"), x)
    write_idx(p("fm-labels-idx1-ubyte.gz"), y)
    r = run(ZF, ["train", "--train", p("fm-images-idx3-ubyte.gz"), "--test", "none", "--epochs",
                 "2", "-o", p("pre"), "--overwrite"], tail=300)
    check(r.returncode == 0, "a small pretrained net")
    return p("pre/last.safetensors")


def torch_accuracy(ckpt, spec_images, labels):
    """mean per-class accuracy of a checkpoint on images (n, 28, 28), recomputed in PyTorch"""
    t, meta = zt.st_load(ckpt)
    _, mods = zt.build(meta["model"])
    zt.load_weights(mods, t)
    for _, _, m in mods:
        m.eval()
    x = (spec_images[:, None].astype(np.float32) - t["data.mean"]) * float(meta["input_scale"])
    with torch.no_grad():
        out, _ = zt.run(mods, torch.from_numpy(x.astype(np.float32)))
    pred = out.numpy().argmax(1)
    per = [(pred[labels == k] == k).mean() for k in range(10)]
    return float(np.mean(per))


def transfer_checks(pre):
    common = ["transfer", "--weights", pre, "--per-class", "5", "--folds", "3",
              "--test-per-class", "40", "--steps", "200"]
    r = run(ZF, common + ["-o", p("tr-cache"), "--save", p("tr-cache.safetensors")])
    check(r.returncode == 0 and "frozen, 5 per class" in r.stdout, "zfnet transfer runs")
    r = run(ZF, common + ["--no-cache", "-o", p("tr-ref"), "--save", p("tr-ref.safetensors")])
    a, b = zt.st_load(p("tr-cache.safetensors"))[0], zt.st_load(p("tr-ref.safetensors"))[0]
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    check(worst < 1e-5, f"the cached path trains the classifier training through the frozen net "
                        f"does (max diff {worst:.1e})")
    ja = json.load(open(p("tr-cache/transfer.json")))["runs"][0]
    jb = json.load(open(p("tr-ref/transfer.json")))["runs"][0]
    check(np.allclose(ja["accuracy"], jb["accuracy"]), f"... and scores the same {ja['accuracy']}")
    check(ja["train_images"] == 50 and ja["test_images"] == 400 and len(ja["accuracy"]) == 3,
          "5 per class x 10 classes trained on, the first 40 test images per class, 3 folds")
    check(len(set(ja["accuracy"])) > 1, "the folds draw differently")
    if CTYPES:
        py = zfnet.transfer(pre, "digits", "digits:test", per_class=5, folds=3, test_per_class=40,
                            steps=200)
        check(np.array_equal(py["accuracy"], ja["accuracy"]) and py["classes"] == 10,
              "zfnet.transfer from Python = zfnet transfer")
    src = zt.st_load(pre)[0]
    same = all((a[k] == src[k]).all() for k in a if not k.startswith("fc8") and k in src)
    check(same and not np.array_equal(a["fc8.weight"], src["fc8.weight"]),
          "the saved fold keeps conv1..fc7 as pretrained and has a new fc8")
    test = zt.st_load(p("1.safetensors"))[0]
    first = np.concatenate([np.where(test["labels"] == k)[0][:40] for k in range(10)])
    acc = torch_accuracy(p("tr-cache.safetensors"), test["images"][first, 0],
                         test["labels"][first])
    check(abs(acc - ja["accuracy"][0]) < 1e-9,
          f"fold 1's mean per-class accuracy recomputed in PyTorch: {acc:.4f} = "
          f"{ja['accuracy'][0]:.4f}")
    m, s = np.mean(ja["accuracy"]), np.std(ja["accuracy"], ddof=1)
    check(abs(m - ja["mean"]) < 1e-9 and abs(s - ja["std"]) < 1e-9, "mean +- std (n - 1) over folds")
    r = run(ZF, common[:-2] + ["--steps", "30", "--scratch", "-o", p("tr-s")])
    check(r.returncode == 0 and "scratch, 5 per class" in r.stdout, "--scratch runs")
    r = run(ZF, common[:-2] + ["--steps", "30", "--curve", "1,3", "-o", p("tr-c")])
    rows = open(p("tr-c/curve.csv")).read().splitlines()
    check(r.returncode == 0 and len(rows) == 3 and rows[1].startswith("1,")
          and os.path.exists(p("tr-c/curve.svg")), "--curve 1,3: curve.csv and curve.svg")


def svm_checks():
    rng = np.random.RandomState(4)
    centres = rng.randn(5, 40) * 1.0
    y = rng.randint(0, 5, 600)
    x = (centres[y] + rng.randn(600, 40) * 2.0 + 3).astype(np.float32)
    tr, te = slice(0, 400), slice(400, 600)
    mu, sd = x[tr].mean(0), x[tr].std(0)
    for c in (0.01, 1.0):
        ours = zfnet.Linear("svm", x[tr], y[tr], 5, c).predict(x[te])
        sk = LinearSVC(C=c, tol=1e-4, max_iter=100000).fit((x[tr] - mu) / sd, y[tr])
        theirs = sk.predict((x[te] - mu) / sd)
        a, b = (ours == y[te]).mean(), (theirs == y[te]).mean()
        check(abs(a - b) <= 0.005, f"SVM C={c}: liblinear {100 * a:.1f}% vs scikit-learn "
                                   f"{100 * b:.1f}% (agree on {100 * (ours == theirs).mean():.1f}%)")
    xs = (centres[y] * 6 + rng.randn(600, 40) * 0.5).astype(np.float32)
    ours = zfnet.Linear("svm", xs[tr], y[tr], 5, 1.0).predict(xs[te])
    mu, sd = xs[tr].mean(0), xs[tr].std(0)
    theirs = LinearSVC(C=1.0).fit((xs[tr] - mu) / sd, y[tr]).predict((xs[te] - mu) / sd)
    check((ours == theirs).all() and (ours == y[te]).all(),
          "a separable set: the same predictions as LinearSVC, all right")
    soft = zfnet.Linear("softmax", xs[tr], y[tr], 5, 1e-4).predict(xs[te])
    check((soft == y[te]).all(), "the softmax classifier separates it too")


def pool_checks():
    rng = np.random.RandomState(5)
    for shape, g in (((2, 3, 7, 5), 4), ((1, 2, 3, 3), 4), ((2, 4, 12, 12), 4)):
        x = rng.randn(*shape).astype(np.float32)
        tx = torch.from_numpy(x)
        for pool, f in (("max", torch.nn.functional.adaptive_max_pool2d),
                        ("avg", torch.nn.functional.adaptive_avg_pool2d)):
            d = np.abs(zfnet.pool_maps(x, pool, g) - f(tx, g).numpy()).max()
            check(d < 1e-6, f"{pool} pooling of {shape[2]}x{shape[3]} to {g}x{g} = PyTorch's "
                            f"adaptive pooling (diff {d:.1e})")


def probe_checks(pre):
    r = run(ZF, ["probe", "--weights", pre, "--per-class", "20", "--folds", "2",
                 "--test-per-class", "100", "--layers", "conv2,fc7", "-o", p("pr")])
    check(r.returncode == 0 and "SVM (conv2, 1024)" in r.stdout and "Softmax (fc7, 256)"
          in r.stdout, "zfnet probe prints Table 7's rows")
    if not CTYPES:
        return
    j = json.load(open(p("pr/probe.json")))["runs"][0]
    t, meta = zt.st_load(pre)
    _, mods = zt.build(meta["model"])
    zt.load_weights(mods, t)
    for _, _, m in mods:
        m.eval()
    tr_set, te_set = zt.st_load(p("0.safetensors"))[0], zt.st_load(p("1.safetensors"))[0]
    te_idx = np.concatenate([np.where(te_set["labels"] == k)[0][:100] for k in range(10)])

    def feats(images, layer, grid):
        x = (images.astype(np.float32) - t["data.mean"]) * float(meta["input_scale"])
        with torch.no_grad():
            _, outs = zt.run(mods, torch.from_numpy(x.astype(np.float32)))
        f = outs[layer]
        if grid:
            f = torch.nn.functional.adaptive_max_pool2d(f, grid)
        return f.reshape(len(x), -1).numpy()

    py = zfnet.probe(pre, "digits", "digits:test", layers=["conv2", "fc7"], per_class=20, folds=2,
                     test_per_class=100)
    check(all(np.allclose(py[kind]["accuracy"][li], j["layers"][li][kind]["folds"])
              for kind in ("svm", "softmax") for li in (0, 1)) and list(py["dims"]) == [1024, 256],
          "zfnet.probe from Python = zfnet probe")
    for name, relu, grid, li in (("conv2", "relu2", 4, 0), ("fc7", "relu7", 0, 1)):
        idx = zfnet.draw_per_class("digits", 20, zfnet.mix64(1, 0))
        ftr, fte = feats(tr_set["images"][idx], relu, grid), feats(te_set["images"][te_idx], relu,
                                                                    grid)
        ftr, fte = ftr.astype(np.float64), fte.astype(np.float64)  # float32 statistics would
        mu, sd = ftr.mean(0), ftr.std(0)  # turn constant features into rounding noise
        sd[sd <= 1e-6 * np.maximum(1, np.abs(mu))] = np.inf
        c = j["layers"][li]["svm"]["C"][0]
        pred = LinearSVC(C=c, tol=1e-4, max_iter=100000).fit((ftr - mu) / sd, tr_set["labels"][
            idx]).predict((fte - mu) / sd)
        ours = j["layers"][li]["svm"]["folds"][0]
        theirs = np.mean([(pred[te_set["labels"][te_idx] == k] == k).mean() for k in range(10)])
        check(abs(ours - theirs) <= 0.005,
              f"probe {name} fold 1 (C={c}): {100 * ours:.2f}% vs PyTorch features + "
              f"scikit-learn {100 * theirs:.2f}%")


def ablate_checks():
    variants = p("variants.txt")
    open(variants, "w").write("# two of Table 3's\nbase:\nno-3-4-7: remove conv3,conv4,fc7  \n"
                              "wide: fc6.outputs=64; conv5.filters=32\n")
    args = ["ablate", "--variants", variants, "--train", p("fm-images-idx3-ubyte.gz"), "--test",
            p("fm-images-idx3-ubyte.gz"), "--epochs", "1", "-o", p("ab")]
    r = run(ZF, args, tail=900)
    check(r.returncode == 0, "zfnet ablate runs")
    cfg = open(p("ab/no-3-4-7/model.cfg")).read()
    gone = [n for n in ("conv3", "relu3", "conv4", "relu4", "fc7", "relu7", "drop7")
            if f"name={n}\n" in cfg]
    kept = all(f"name={n}\n" in cfg for n in ("conv2", "norm2", "conv5", "fc6", "drop6", "fc8"))
    check(not gone and kept, "remove conv3,conv4,fc7: with relu3, relu4, relu7 and drop7, the rest "
                             "kept")
    wide = open(p("ab/wide/model.cfg")).read()
    check("name=fc6\noutputs=64" in wide and "name=conv5\nfilters=32" in wide,
          "settings edited: fc6.outputs=64, conv5.filters=32")
    rows = {row["variant"]: row for row in json.load(open(p("ab/ablation.json")))["rows"]}
    e = run(ZF, ["eval", "--weights", p("ab/no-3-4-7/last.safetensors"), "--data",
                 p("fm-images-idx3-ubyte.gz")])
    line = [x for x in e.stdout.splitlines() if x.startswith("top-1 error")][0]
    top1 = float(line.split()[2].rstrip("%"))
    check(abs(top1 - 100 * rows["no-3-4-7"]["train_top1_error"]) < 0.006,
          f"the table's train top-1 error is zfnet eval's ({top1}%)")
    t = zt.st_load(p("ab/wide/last.safetensors"))[0]
    n = sum(v.size for k, v in t.items() if k != "data.mean")
    check(n == rows["wide"]["params"], f"parameters counted: {n}")
    before = os.path.getmtime(p("ab/base/variant.json"))
    r = run(ZF, args, tail=900)
    check(r.returncode == 0 and r.stdout.count("(finished earlier)") == 3
          and os.path.getmtime(p("ab/base/variant.json")) == before,
          "run again: every finished variant is reused, none trained")


digits_checks()
if CTYPES:
    measure_checks()
    svm_checks()
    pool_checks()
PRE = pretrained()
transfer_checks(PRE)
probe_checks(PRE)
ablate_checks()
finish()
