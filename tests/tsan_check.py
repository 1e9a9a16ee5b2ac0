#!/usr/bin/python3
"""The loader's threads and the compute under ThreadSanitizer (a build with ZF_TSAN): training
and evaluation with 4 loader threads decoding an image folder (PNG and JPEG, one JPEG cut in
its scan so that a reader fails mid-run) while the compute runs on one thread (OpenMP's
runtime is not instrumented). TSan halts on the first race (exit 66); the reader error ends a
--stop-on-bad run with one line and no hang, and is replaced by another image otherwise.

Usage: tsan_check.py ZFNET WORKDIR
"""
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch"))
import testlib as tl  # noqa: E402

check = tl.check
zfnet, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
folder = os.path.join(work, "images")
rng = np.random.default_rng(1)
for k in range(3):
    os.makedirs(os.path.join(folder, f"class{k}"))
    for i in range(40):
        a = rng.integers(0, 80, (20, 24, 3)).astype(np.uint8)
        a[4 + 4 * k:10 + 4 * k, 4:12] = 240
        im = Image.fromarray(a)
        name = os.path.join(folder, f"class{k}", f"{i:02d}")
        im.save(name + (".jpg" if i % 2 else ".png"))
cut = open(os.path.join(folder, "class1", "01.jpg"), "rb").read()
open(os.path.join(folder, "class1", "01.jpg"), "wb").write(cut[:len(cut) - 80])
model = os.path.join(work, "small.cfg")
with open(model, "w") as f:
    f.write("[net]\nname=small\nchannels=3\nheight=16\nwidth=16\nclasses=3\n\n"
            "[conv]\nname=conv1\nfilters=8\nsize=3\npad=1\n\n[relu]\nname=relu1\n\n"
            "[maxpool]\nname=pool1\nsize=2\nstride=2\n\n[fc]\nname=fc2\noutputs=3\n\n"
            "[softmax]\nname=prob\n")
env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1:exitcode=66", OMP_NUM_THREADS="1")
common = ["--model", model, "--train", folder, "--test", folder, "--data-size", "18",
          "--batch", "8", "--epochs", "2", "--threads", "1", "--loader-threads", "4"]


def run(args):
    r = subprocess.run([zfnet] + args, capture_output=True, text=True, env=env, timeout=600)
    print(f"$ zfnet {' '.join(args)} -> {r.returncode}\n{r.stdout[-300:]}{r.stderr[-3000:]}")
    return r


r = run(["train", "-o", os.path.join(work, "run")] + common)
check(r.returncode == 0 and "WARNING: ThreadSanitizer" not in r.stderr and "01.jpg" in r.stderr,
      "training with 4 loader threads: no race; the cut JPEG replaced")
r = run(["eval", "--weights", os.path.join(work, "run", "last.safetensors"), "--data", folder,
         "--ten-crop", "--threads", "1"])
check(r.returncode in (0, 1) and "WARNING: ThreadSanitizer" not in r.stderr,
      "ten-crop evaluation (the loader's 2 threads): no race")
r = run(["train", "-o", os.path.join(work, "stop"), "--stop-on-bad"] + common)
check(r.returncode == 1 and "WARNING: ThreadSanitizer" not in r.stderr and
      len(r.stderr.strip().splitlines()) == 1 and "01.jpg" in r.stderr,
      "--stop-on-bad: the reader error ends the run with one line, no race, no hang")
tl.finish()
