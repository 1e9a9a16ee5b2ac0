#!/usr/bin/python3
"""ONNX import and export (`zfnet import`, `zfnet export`) against ONNX's own test data,
onnxruntime and PyTorch, in parts (tests/onnxcheck/part_X_*.py; each one's docstring says what
it checks):

a. libonnx-testdata node cases of the ops a zfnet layer can be: imported and run, or refused
   for the reason a table gives (part_a_testdata.py)
b. ConvTranspose and MaxUnpool cases vs zfnet's downward pass (part_b_downward.py)
c. export of zfnet-mini, alexnet-g2 and zfnet: checker, contract, every layer in onnxruntime;
   opsets 7 to 17 (part_c_export.py)
d. round trip export -> import: the same model text, tensors and outputs, bit for bit
   (part_d_round_trip.py)
e. model-zoo-shaped graphs (bvlc_alexnet, ZFNet-512) vs onnxruntime (part_e_zoo.py)
f. PyTorch's export of zfnet-mini vs PyTorch; look-alikes of its LRN chain refused
   (part_f_torch.py)
g. damaged files and models ONNX cannot carry: clean failures (part_g_damaged.py)
h. maxpool's pad_end against PyTorch and onnxruntime (part_h_pad_end.py)

Every refusal is a clean failure (testlib.clean_failure). onnxruntime is onnxruntime-node run
by tests/ort_run.js (cd tests/ort && npm ci --ignore-scripts); without it the onnxruntime checks
fail, they are not skipped. A summary at the end gives each part's checks and time.

Usage: onnx_check.py ZFNET WORKDIR [--sanitized] [--parts abcdefgh | --part c] [--keep]
(--parts or --part: the parts to run, in that order (default all); --keep: leave the large
files (200+ MB models, copies, imports) in WORKDIR)
"""
import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnxcheck import common  # noqa: E402
from onnxcheck import (part_a_testdata, part_b_downward, part_c_export,  # noqa: E402
                       part_d_round_trip, part_e_zoo, part_f_torch, part_g_damaged,
                       part_h_pad_end)

PARTS = {m.KEY: m for m in (part_a_testdata, part_b_downward, part_c_export, part_d_round_trip,
                            part_e_zoo, part_f_torch, part_g_damaged, part_h_pad_end)}

ap = argparse.ArgumentParser(description="ONNX import and export checks, by part")
ap.add_argument("zfnet")
ap.add_argument("workdir")
ap.add_argument("--sanitized", action="store_true", help="a sanitizer build: longer timeouts, "
                "no address-space limit")
ap.add_argument("--parts", "--part", default="".join(PARTS), metavar="LETTERS",
                help=f"the parts to run, e.g. c or acg (default {''.join(PARTS)})")
ap.add_argument("--keep", action="store_true", help="keep the large files in WORKDIR")
opts = ap.parse_args([a for a in sys.argv[1:] if a])  # ctest passes '' for no --sanitized
unknown = [k for k in opts.parts if k not in PARTS]
if unknown or not opts.parts:
    ap.error(f"--parts {opts.parts!r}: letters of {''.join(PARTS)}")
common.configure(opts.zfnet, opts.workdir, opts.sanitized, opts.keep)

T0 = time.time()
TIMES = {}
for key in opts.parts:
    part = PARTS[key]
    common.PART = key
    common.section(part.TITLE)
    t0 = time.time()
    try:
        part.run()
    except Exception:  # noqa: BLE001 - a part that raises is a failure, the rest still run
        traceback.print_exc()
        common.check(False, f"part {key} raised {sys.exc_info()[0].__name__}: "
                            f"{sys.exc_info()[1]}")
    TIMES[key] = time.time() - t0

common.section("summary")
for key in opts.parts:
    ok, bad = common.TALLY.get(key, [0, 0])
    print(f"  {PARTS[key].TITLE:<56} {ok:4d} ok {bad:4d} failed  {TIMES[key]:6.1f} s")
print(f"  total {time.time() - T0:.1f} s")
common.tl.finish()
