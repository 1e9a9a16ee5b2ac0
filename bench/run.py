#!/usr/bin/python3
"""zfnet against PyTorch (as installed, and tuned) and darknet, in one run, on this machine.

Usage: bench/run.py [--zfnet build/zfnet] [--threads 2] [--iters 5] [--quick] [--json OUT]
(first: scripts/install-deps.sh --bench, for OpenBLAS, jemalloc and darknet)

For each case (ZFNet training step at batch 128 and 32, inference at batch 1 and 64) it runs
  - zfnet fp32:       zfnet bench --json (dnnl backend)
  - zfnet bf16:       the same with --precision bf16 (where the CPU has AVX512-BF16)
  - PyTorch:          bench/torch_bench.py, as installed (the machine's environment)
  - PyTorch, tuned:   the same with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (OpenBLAS
                      autodetects its core type) and jemalloc preloaded with decay disabled
  - PyTorch bf16:     tuned, under torch.autocast("cpu", dtype=torch.bfloat16) (with bf16)
  - darknet:          bench/darknet/darknet_bench.c built against Debian's libdarknet, on
                      bench/darknet/zfnet.cfg (single-threaded, as darknet's CPU path is)
and prints images/s, ms per batch and peak RSS side by side with ratios, plus the machine's
measured limits (zfnet bench --peak: FP32 an FMA loop and dnnl_sgemm 4096^3; BF16 a VDPBF16PS
loop and oneDNN's bf16 matmul 2048^3; same threads). "% peak" is of the row's own precision's
limit (the larger of the two figures).
Each figure is the median of --iters timed iterations after warm-up, all in this one run.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def run_json(cmd, env=None, timeout=3600):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        print(f"  failed: {' '.join(cmd)}\n{r.stderr.strip()[-500:]}", file=sys.stderr)
        return None
    for line in reversed(r.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def tuned_env():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    if os.path.exists(JEMALLOC):
        env["LD_PRELOAD"] = JEMALLOC
        env["MALLOC_CONF"] = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
    return env


def build_darknet(tmp):
    if not os.path.exists("/usr/lib/darknet/libdarknet.so"):
        return None
    exe = os.path.join(tmp, "darknet_bench")
    r = subprocess.run(["gcc", "-O2", os.path.join(HERE, "darknet", "darknet_bench.c"),
                        "-I/usr/lib/darknet/include", "-L/usr/lib/darknet",
                        "-Wl,-rpath,/usr/lib/darknet", "-ldarknet", "-o", exe],
                       capture_output=True, text=True)
    return exe if r.returncode == 0 else None


def system_blas():
    """What Debian's libblas.so.3 alternative (PyTorch's BLAS here) points at."""
    try:
        return os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zfnet", default=os.path.join(ROOT, "build", "zfnet"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--model", default="zfnet")
    ap.add_argument("--quick", action="store_true", help="batch 32 training and inference only")
    ap.add_argument("--no-darknet", action="store_true")
    ap.add_argument("--json", help="also write every figure to this file")
    a = ap.parse_args()
    cases = [("train", 128), ("train", 32), ("infer", 1), ("infer", 64)]
    if a.quick:
        cases = [("train", 32), ("infer", 1)]
    tmp = tempfile.mkdtemp()
    darknet = None if a.no_darknet else build_darknet(tmp)
    results = {"cases": []}

    peak = run_json([a.zfnet, "bench", "--peak", "--threads", str(a.threads), "--json"])
    results["peak"] = peak
    lim = max(peak["fma_gflops"], peak["sgemm_gflops"]) if peak else None
    bf16 = bool(peak and peak.get("bf16_dp_gflops"))
    lim16 = max(peak["bf16_dp_gflops"], peak["bf16_matmul_gflops"]) if bf16 else None
    print(f"machine: {os.cpu_count()} cores; {a.threads} threads; peak FP32 "
          f"{peak['fma_gflops']:.0f} GFLOP/s (FMA loop), {peak['sgemm_gflops']:.0f} GFLOP/s "
          f"(dnnl_sgemm 4096^3)" if peak else "peak: not measured")
    if bf16:
        print(f"peak BF16 {peak['bf16_dp_gflops']:.0f} GFLOP/s (VDPBF16PS loop), "
              f"{peak['bf16_matmul_gflops']:.0f} GFLOP/s (oneDNN bf16 matmul 2048^3)")
    else:
        print("no AVX512-BF16 here: the bf16 rows are left out")

    blas = system_blas()
    print(f"PyTorch's BLAS: {blas}" + ("" if "openblas" in blas else
          "  (the reference BLAS: run scripts/install-deps.sh --bench for OpenBLAS)"))
    results["blas"] = blas
    macs = None
    for mode, batch in cases:
        common = ["--model", a.model, "--batch", str(batch), "--threads", str(a.threads),
                  "--mode", mode, "--iters", str(a.iters), "--warmup", str(a.warmup)]
        row = {"mode": mode, "batch": batch}
        row["zfnet"] = run_json([a.zfnet, "bench", "--json"] + common)
        if bf16:
            row["zfnet_bf16"] = run_json([a.zfnet, "bench", "--json", "--precision", "bf16"] +
                                         common)
        torch_cmd = ["/usr/bin/python3", os.path.join(HERE, "torch_bench.py")] + common
        row["pytorch"] = run_json(torch_cmd)
        row["pytorch_tuned"] = run_json(torch_cmd, env=tuned_env())
        if bf16:
            row["pytorch_bf16"] = run_json(torch_cmd + ["--bf16"], env=tuned_env())
        if darknet and a.model == "zfnet":
            # darknet trains at batch 32 at most here: batch 128 takes minutes per step
            dn_batch = batch if mode == "infer" or batch <= 32 else None
            if dn_batch:
                # darknet allocates its buffers for the cfg's batch (set_batch_network does
                # not reallocate), so each batch size gets its own copy of the cfg
                cfg = os.path.join(tmp, f"zfnet-{dn_batch}.cfg")
                with open(os.path.join(HERE, "darknet", "zfnet.cfg")) as f:
                    text = f.read().replace("batch=32\n", f"batch={dn_batch}\n", 1)
                with open(cfg, "w") as f:
                    f.write(text)
                row["darknet"] = run_json([darknet, cfg, str(dn_batch),
                                           str(max(1, min(a.iters, 3))), "1", mode])
        results["cases"].append(row)
        z = row["zfnet"]
        if z and not macs:
            macs = z["gflops"] * z["ms_per_batch"] / 1e3 / batch / (3 if mode == "train" else 1)
        print(f"\nZFNet {'training step' if mode == 'train' else 'inference'}, batch {batch}:")
        zb = row.get("zfnet_bf16")
        print(f"  {'implementation':34s} {'img/s':>9s} {'ms/batch':>10s} {'GFLOP/s':>9s} "
              f"{'% peak':>7s} {'peak RSS':>10s} {'fp32 is':>8s} {'bf16 is':>8s}")
        for key, label, half in (("zfnet", "zfnet fp32", 0), ("zfnet_bf16", "zfnet bf16", 1),
                                 ("pytorch", "PyTorch 1.13, as installed", 0),
                                 ("pytorch_tuned", "PyTorch 1.13, tuned", 0),
                                 ("pytorch_bf16", "PyTorch 1.13, tuned, bf16 autocast", 1),
                                 ("darknet", "darknet 2018 (1 thread)", 0)):
            r = row.get(key)
            if not r:
                continue
            gf = (z["gflops"] * r["img_per_s"] / z["img_per_s"]) if z else 0
            ratio = f"{z['img_per_s'] / r['img_per_s']:.2f}x" if z and key != "zfnet" else ""
            r16 = f"{zb['img_per_s'] / r['img_per_s']:.2f}x" if zb and key != "zfnet_bf16" else ""
            top = lim16 if half else lim
            pk = f"{100 * gf / top:.0f}%" if top else ""
            print(f"  {label:34s} {r['img_per_s']:9.2f} {r['ms_per_batch']:10.1f} {gf:9.1f} "
                  f"{pk:>7s} {r['peak_rss_mib']:8.0f} MiB {ratio:>8s} {r16:>8s}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
