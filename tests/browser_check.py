#!/usr/bin/python3
"""zfnet serve's page in headless Chromium (tests/browser/serve_page.js, puppeteer-core from
tests/browser/node_modules): a one-epoch run is served, the page is opened with the printed
URL, an image picked, a layer changed, a tile clicked, a unit shift-clicked, the rule switched,
keys pressed, a PNG uploaded, a pane saved and the address reopened, with no console error.
The screenshots stay in WORKDIR.

Usage: browser_check.py ZFNET WORKDIR"""
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import testlib as tl  # noqa: E402

ZF, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
P = lambda *a: os.path.join(WORK, *a)  # noqa: E731
if not os.path.isdir(os.path.join(HERE, "browser", "node_modules", "puppeteer-core")):
    tl.check(False, "puppeteer-core is not installed: bash scripts/install-deps.sh --tests")
    tl.finish()
rng = np.random.default_rng(3)
for split, n in (("train", 600), ("test", 120)):
    img, lab = tl.squares(rng, n, background=60)
    tl.write_idx(P(f"{split}-images-idx3-ubyte.gz"), img)
    tl.write_idx(P(f"{split}-labels-idx1-ubyte.gz"), lab)
r = tl.run_zfnet(ZF, ["train", "--train", P("train-images-idx3-ubyte.gz"), "--test",
                                            P("test-images-idx3-ubyte.gz"), "--epochs", "2", "--snapshot-epochs", "1",
                      "--batch", "32", "-o", P("run")], timeout=600)
tl.check(r.returncode == 0, "a two-epoch run to serve (a snapshot after epoch 1)")
Image.fromarray(np.uint8(rng.integers(0, 255, (40, 36)))).save(P("upload.png"))
r = subprocess.run(["node", os.path.join(HERE, "browser", "serve_page.js"), ZF, P("run"),
                    P("upload.png"), P("browser")], capture_output=True, text=True, timeout=600)
print(r.stdout, end="")
tl.check(r.returncode == 0 and "PASSED" in r.stdout,
         f"the page in Chromium (screenshots in {P('browser')}) {r.stderr[-300:]}")
shots = [f for f in os.listdir(P("browser")) if f[0].isdigit() and f.endswith(".png")] \
    if os.path.isdir(P("browser")) else []
tl.check(len(shots) >= 5 and all(os.path.getsize(P("browser", f)) > 5000 for f in shots),
         f"screenshots kept: {sorted(shots)}")
tl.finish()
