#!/usr/bin/python3
"""Data-parallel training over MPI on this machine, and the scaling model of docs/distributed.md.

Usage: bench/mpi.py ZFNET WORK [--reps 3] [--json OUT.json]
       bench/mpi.py ZFNET WORK --from OUT.json     (the model again, from saved measurements)

1. Measures, for zfnet-mini (Fashion-MNIST, 8,192 images) and zfnet (a shard of 384 photo-like
   256x256 images from bench/make_photos.py), the second epoch of `zfnet train` (the first
   holds the start-up) as
     one process x 2 threads, batch 128;  one process x 1 thread, batch 64 (one rank's work);
     mpirun -np 2, 1 thread each, batch 64 each, with and without overlap (--no-overlap);
     mpirun -np 4 --oversubscribe, 1 thread each, batch 32 each, with and without overlap,
   each the median of --reps runs: images/s, and from the run's last line the backward pass and
   the wait for the gradient sums after it, per step.
2. The model: per-layer forward and backward times at batch 128 (zfnet bench --mode train,
   2 threads) and per-layer parameters (zfnet summary); buckets as the trainer makes them
   (25 MB, reverse layer order); bucket k may start when the backward pass has finished its
   lowest layer, and the buckets go over the network one after another, each taking
   2(N-1)/N x bytes / bandwidth + 2(N-1) x latency (ring allreduce). A step is forward +
   max(backward, the last bucket's end) + the rest (loss, SGD); without overlap, forward +
   backward + every bucket + the rest. Efficiency = one machine's step / N machines' step.
3. Validation on this machine: the model with this machine's shared-memory bandwidth (taken from
   the 2-process no-overlap wait of zfnet, the largest transfer) predicts the other runs' waits
   and steps; both are printed side by side.
"""
import argparse
import gzip
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
BUCKET = 25e6
LATENCY = 25e-6  # per message of a ring step on a cluster network (TCP), assumed


def sh(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    return r.stdout + r.stderr


def data(zfnet, work):
    """The two training sets, made once."""
    fm = "/usr/share/datasets/fashion-mnist/"
    mini = [os.path.join(work, f"fm-{k}.gz") for k in ("images", "labels")]
    if not os.path.exists(mini[1]):
        for src, dst, head, each in (("train-images-idx3-ubyte.gz", mini[0], 16, 784),
                                     ("train-labels-idx1-ubyte.gz", mini[1], 8, 1)):
            b = bytearray(gzip.open(fm + src).read())
            b[4:8] = (8192).to_bytes(4, "big")
            gzip.open(dst, "wb").write(bytes(b[:head + 8192 * each]))
    shard = os.path.join(work, "photos.zfs")
    if not os.path.exists(shard):
        sh([sys.executable, os.path.join(HERE, "make_photos.py"), os.path.join(work, "photos"),
            "--count", "384"])
        sh([zfnet, "pack", os.path.join(work, "photos"), "-o", shard, "--size", "256"])
    return {"zfnet-mini": ",".join(mini), "zfnet": shard}


def train(zfnet, work, model, spec, np_, threads, batch, overlap=True):
    cmd = (["mpirun", "-np", str(np_), "--oversubscribe"] if np_ else []) + [
        zfnet, "train", "--model", model, "--train", spec, "--test", "none", "--epochs", "2",
        "--batch", str(batch), "--threads", str(threads), "-o", os.path.join(work, "run"),
        "--overwrite"] + ([] if overlap else ["--no-overlap"])
    out = sh(cmd)
    ips = float(re.findall(r"epoch  2/2 .*?(\d+) img/s", out)[0])
    m = re.search(r"per step ([\d.]+) ms backward, then ([\d.]+) ms waiting", out)
    g = re.search(r"gradients \(([\d.]+) MB\)", out)
    return {"img_per_s": ips, "backward_ms": float(m[1]) if m else None,
            "wait_ms": float(m[2]) if m else None, "grad_mb": float(g[1]) if g else None}


def median_of(runs):
    return {k: statistics.median(r[k] for r in runs) if runs[0][k] is not None else None
            for k in runs[0]}


CONFIGS = [("one process x 2 threads, batch 128", 0, 2, 128, True),
           ("one process x 1 thread, batch 64", 0, 1, 64, True),
           ("2 processes x 1 thread, batch 2x64", 2, 1, 64, True),
           ("2 processes, no overlap", 2, 1, 64, False),
           ("4 processes x 1 thread, batch 4x32 (oversubscribed)", 4, 1, 32, True),
           ("4 processes, no overlap", 4, 1, 32, False)]


def layers_of(zfnet, model, threads=2, batch=128):
    """Per layer (forward s, backward s, parameters) at batch 128, and the rest of a step."""
    b = json.loads(sh([zfnet, "bench", "--model", model, "--mode", "train", "--batch",
                       str(batch), "--threads", str(threads), "--iters", "3", "--json"]))
    params = {}
    for line in sh([zfnet, "summary", model]).splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] in [l["name"] for l in b["layers"]]:
            params[f[0]] = int(f[3].replace(",", "")) if f[3] != "-" else 0
    ls = [(l["forward_ms"] / 1e3, l["backward_ms"] / 1e3, params.get(l["name"], 0))
          for l in b["layers"]]
    rest = b["ms_per_batch"] / 1e3 - sum(f + g for f, g, _ in ls)
    return ls, max(rest, 0.0)


def step_time(layers, rest, n, bw, latency, overlap=True, scale=1.0):
    """The model's step (seconds) and its exposed communication on n machines; compute times
    scaled by `scale` (a per-machine batch of 128 x scale)."""
    fwd = sum(f for f, _, _ in layers) * scale
    buckets, size, ready, t = [], 0, 0.0, 0.0
    for f, g, p in reversed(layers):  # backward order; buckets of 25 MB, tensors split
        t += g * scale
        left = 4 * p
        while left > 0:
            take = min(BUCKET - size, left)
            size, left, ready = size + take, left - take, t
            if size >= BUCKET:
                buckets.append((ready, size))
                size = 0
    if size:
        buckets.append((ready, size))
    bwd = t
    if n == 1:
        return fwd + bwd + rest * scale, 0.0
    end = 0.0 if overlap else bwd
    for ready, size in buckets:
        start = max(ready, end) if overlap else end
        end = start + 2 * (n - 1) / n * size / bw + 2 * (n - 1) * latency
    step = fwd + max(bwd, end) + rest * scale
    return step, max(bwd, end) - bwd


def measure(a, specs):
    out = {}
    for model, spec in specs.items():
        out[model] = {}
        for name, np_, threads, batch, overlap in CONFIGS:
            runs = [train(a.zfnet, a.work, model, spec, np_, threads, batch, overlap)
                    for _ in range(a.reps)]
            out[model][name] = median_of(runs)
            m = out[model][name]
            print(f"{model:10s} {name:52s} {m['img_per_s']:8.1f} img/s" +
                  (f"  backward {m['backward_ms']:.1f} ms, wait {m['wait_ms']:.1f} ms"
                   if m["backward_ms"] is not None else ""), flush=True)
    return out


def validate(meas, lay, bw):
    rows = []
    for model, runs in meas.items():
        layers, rest = lay[model]
        # one rank's compute on this machine: measured as one process x 1 thread at its batch
        one = runs["one process x 1 thread, batch 64"]
        for name, np_, _, batch, overlap in CONFIGS:
            if not np_:
                continue
            m = runs[name]
            t_rank = 64 / one["img_per_s"] * (batch / 64) * max(1, np_ / 2)  # 2 cores shared
            comm = m["grad_mb"] * 1e6 * 2 * (np_ - 1) / np_ / bw  # the run's (its classes)
            rows.append({"model": model, "run": name, "measured_wait_ms": m["wait_ms"],
                         "model_comm_ms": 1e3 * comm,
                         "measured_step_ms": 1e3 * np_ * batch / m["img_per_s"],
                         "model_step_ms": 1e3 * (t_rank + (0 if overlap else comm)),
                         "overlap": overlap})
    return rows


def batch_for(layers, rest, bw, speed):
    """The smallest per-machine batch (of 16 .. 2048) with >= 80% efficiency on 64 machines,
    each computing `speed` times as fast as this one."""
    for b in (16, 32, 64, 128, 256, 512, 1024, 2048):
        s = b / 128 / speed
        t1b, _ = step_time(layers, rest, 1, 1, 0, scale=s)
        if t1b / step_time(layers, rest, 64, bw, LATENCY, scale=s)[0] >= 0.8:
            return b
    return None


def scaling(lay):
    table = {}
    for model, (layers, rest) in lay.items():
        t1, _ = step_time(layers, rest, 1, 1, 0)
        t10, _ = step_time(layers, rest, 1, 1, 0, scale=0.1)
        table[model] = {"one_machine_img_per_s": 128 / t1, "rows": [], "batch_for_80": {},
                        "batch_for_80_10x": {}}
        for gbps in (10, 25, 100):
            bw = gbps * 1e9 / 8
            for n in (2, 4, 8, 16, 32, 64):
                on, hidden_on = step_time(layers, rest, n, bw, LATENCY)
                off, exposed_off = step_time(layers, rest, n, bw, LATENCY, overlap=False)
                fast, _ = step_time(layers, rest, n, bw, LATENCY, scale=0.1)
                table[model]["rows"].append({
                    "gbps": gbps, "machines": n, "img_per_s": n * 128 / on,
                    "efficiency": t1 / on, "efficiency_no_overlap": t1 / off,
                    "comm_s": exposed_off, "hidden": 1 - hidden_on / exposed_off,
                    "efficiency_10x": t10 / fast})
            table[model]["batch_for_80"][gbps] = batch_for(layers, rest, bw, 1)
            table[model]["batch_for_80_10x"][gbps] = batch_for(layers, rest, bw, 10)
    return table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zfnet")
    ap.add_argument("work")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--from", dest="src", help="no measuring: the model from this --json")
    a = ap.parse_args()
    if a.src:
        saved = json.load(open(a.src))
        meas, lay = saved["measured"], saved["layers"]
    else:
        a.zfnet = os.path.abspath(a.zfnet)
        os.makedirs(a.work, exist_ok=True)
        specs = data(a.zfnet, a.work)
        lay = {m: layers_of(a.zfnet, m) for m in specs}
        meas = measure(a, specs)
    ref = meas["zfnet"]["2 processes, no overlap"]
    bw = ref["grad_mb"] * 1e6 * 2 * (2 - 1) / 2 / (ref["wait_ms"] / 1e3)
    print(f"\nthis machine's allreduce bandwidth (zfnet, 2 processes, no overlap): "
          f"{bw / 1e9:.2f} GB/s")
    val = validate(meas, lay, bw)
    for v in val:
        print(f"{v['model']:10s} {v['run']:52s} wait {v['measured_wait_ms']:8.1f} ms "
              f"(model, no overlap: {v['model_comm_ms']:7.1f})  step {v['measured_step_ms']:8.1f} "
              f"ms (model: {v['model_step_ms']:8.1f})")
    sc = scaling(lay)
    for model, t in sc.items():
        print(f"\n{model}: one machine (this one, 2 threads) {t['one_machine_img_per_s']:.1f} "
              f"img/s at batch 128")
        print("| Gb/s | machines | images/s | efficiency | without overlap | allreduce ms | "
              "hidden by overlap | efficiency, 10x faster machines |\n|---|---|---|---|---|---|---|---|")
        for r in t["rows"]:
            print(f"| {r['gbps']} | {r['machines']} | {r['img_per_s']:.0f} | {r['efficiency']:.0%} "
                  f"| {r['efficiency_no_overlap']:.0%} | {1e3 * r['comm_s']:.0f} | "
                  f"{r['hidden']:.0%} | {r['efficiency_10x']:.0%} |")
        for key, what in (("batch_for_80", "this machine's speed"),
                          ("batch_for_80_10x", "10x faster machines")):
            print(f"per-machine batch for 80% efficiency on 64 machines ({what}):",
                  ", ".join(f"{k} Gb/s: {v}" for k, v in t[key].items()))
    if a.json:
        json.dump({"measured": meas, "allreduce_bw": bw, "validation": val, "scaling": sc,
                   "layers": lay}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
