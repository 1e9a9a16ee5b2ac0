#!/usr/bin/python3
"""Occlusion sensitivity of one 224x224 image on zfnet (ZF Fig. 7): a 50-pixel square at stride 8,
484 positions; zfnet (footprint-only and plain) against PyTorch doing the same in batches (every
occluded copy through the model, as Captum's Occlusion does), in one run, on this machine.

Usage: bench/occlusion.py [--zfnet build/zfnet] [--threads 2] [--batch 32] [--repeats 3]
                          [--json OUT]
PyTorch runs twice: as installed (the machine's environment) and tuned (OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset so OpenBLAS autodetects its core type, jemalloc preloaded when present).
Each figure is the median of --repeats runs (after one warm-up for PyTorch); the ratios are
PyTorch's time over zfnet's, from this run. Peak memory is each process's maximum RSS.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "torch"))
import zftorch as zt  # noqa: E402

JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
SIZE, STRIDE = 50, 8

TORCH_SCRIPT = r"""
import json, resource, statistics, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
import zftorch as zt
weights, xpath, threads, batch, repeats = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
_, mods = zt.build(open(sys.argv[7]).read())
zt.load_weights(mods, zt.st_load(weights)[0])
seq = torch.nn.Sequential(*[m for _, _, m in mods]).eval()
x = torch.from_numpy(zt.st_load(xpath)[0]["input"][0])
S, T = %d, %d
n = (224 - S) // T + 1
y0 = (224 - S) %% T // 2
def occlusion():
    probs = []
    with torch.no_grad():
        pos = [(i, j) for i in range(n) for j in range(n)]
        for b in range(0, len(pos), batch):
            xs = x.repeat(len(pos[b:b + batch]), 1, 1, 1)
            for k, (i, j) in enumerate(pos[b:b + batch]):
                xs[k, :, y0 + i * T:y0 + i * T + S, y0 + j * T:y0 + j * T + S] = 0
            probs.append(seq(xs))
    return torch.cat(probs)
occlusion()
times = []
for _ in range(repeats):
    t0 = time.perf_counter(); occlusion(); times.append(time.perf_counter() - t0)
print(json.dumps({"s_per_map": statistics.median(times), "peak_rss_mib":
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "torch": torch.__version__}))
""" % (SIZE, STRIDE)


def child_run(cmd, env=None):
    """run cmd; (wall seconds, stdout, the child's peak RSS in MiB)"""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "w = time.perf_counter() - t; sys.stdout.write(r.stdout); sys.stderr.write(r.stderr); "
               "print('@@', w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "
               "r.returncode)")
    r = subprocess.run([sys.executable, "-c", wrapper] + cmd, capture_output=True, text=True,
                       env=env)
    tail = [ln for ln in r.stdout.splitlines() if ln.startswith("@@ ")][-1].split()
    if int(tail[3]) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return float(tail[1]), r.stdout, float(tail[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zfnet", default=os.path.join(ROOT, "build", "zfnet"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="zfnet-occ-bench-")
    w, xpath = os.path.join(tmp, "w.safetensors"), os.path.join(tmp, "x.safetensors")
    subprocess.run([a.zfnet, "init", "zfnet", "-o", w, "--init", "he", "--seed", "1"], check=True,
                   capture_output=True)
    zt.st_save(xpath, {"input": np.random.RandomState(0).randn(1, 3, 224, 224).astype(np.float32)})
    rows = {}
    for way in ("fast", "plain"):
        cmd = [a.zfnet, "occlusion", "--model", "zfnet", "--weights", w, "--input", xpath,
               "--size", str(SIZE), "--stride", str(STRIDE), "--batch", str(a.batch), "--threads",
               str(a.threads), "-o", os.path.join(tmp, way), "--class", "0"]
        cmd += ["--plain"] if way == "plain" else []
        secs, peaks = [], []
        for _ in range(a.repeats):
            _, out, peak = child_run(cmd)
            line = [ln for ln in out.splitlines() if ln.startswith("occlusion:")][0]
            secs.append(float(line.split(" in ")[1].split()[0]))
            peaks.append(peak)
        rows["zfnet " + way] = {"s_per_map": statistics.median(secs), "peak_rss_mib": max(peaks)}
    script = os.path.join(tmp, "torch_occ.py")
    open(script, "w").write(TORCH_SCRIPT)
    cfg = os.path.join(ROOT, "models", "zfnet.cfg")
    base = ["/usr/bin/python3", script, os.path.join(ROOT, "tests", "torch"), w, xpath,
            str(a.threads), str(a.batch), str(a.repeats), cfg]
    tuned = dict(os.environ)
    tuned.pop("OPENBLAS_CORETYPE", None), tuned.pop("OPENBLAS_L2_SIZE", None)
    if os.path.exists(JEMALLOC):
        tuned["LD_PRELOAD"] = JEMALLOC
        tuned["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
    for name, env in (("pytorch", None), ("pytorch tuned", tuned)):
        _, out, peak = child_run(base, env=env)
        r = json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])
        rows[name] = {"s_per_map": r["s_per_map"], "peak_rss_mib": peak, "version": r["torch"]}
    npos = ((224 - SIZE) // STRIDE + 1) ** 2
    best_torch = min(rows["pytorch"]["s_per_map"], rows["pytorch tuned"]["s_per_map"])
    print(f"occlusion of one 224x224 image on zfnet: {SIZE}-px square, stride {STRIDE}, {npos} "
          f"positions, batch {a.batch}, {a.threads} threads")
    print(f"{'':16} {'s per map':>10} {'images/s':>10} {'peak MiB':>9} {'PyTorch best / this':>20}")
    for name, r in rows.items():
        r["img_per_s"] = npos / r["s_per_map"]
        r["speedup_vs_best_pytorch"] = best_torch / r["s_per_map"]
        print(f"{name:16} {r['s_per_map']:10.2f} {r['img_per_s']:10.1f} {r['peak_rss_mib']:9.0f} "
              f"{r['speedup_vs_best_pytorch']:20.2f}")
    if a.json:
        json.dump({"positions": npos, "size": SIZE, "stride": STRIDE, "batch": a.batch,
                   "threads": a.threads, "rows": rows, "time": time.ctime()}, open(a.json, "w"),
                  indent=1)


if __name__ == "__main__":
    main()
