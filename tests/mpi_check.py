"""Data-parallel training over MPI (docs/distributed.md), against one process.

  mpi_check.py ZFNET WORK

- Equality: mpirun -np 2 with batch 64 per process and one process with batch 128 (and -np 4
  --oversubscribe with 32 against 128), same seed and data: after one step the weights agree
  to float32 summation (|diff| <= 1e-6, the sums' order being the only difference); after an
  epoch of 8 steps they differ by no more than one process with 1 thread differs from itself
  with 2 threads (another summation order) times 4, and the momentum likewise.
- The same epoch accuracy: a 2-epoch run on 2,048 Fashion-MNIST images, tested on 1,000
  (within 0.5 points: see below), and the split evaluation equal to zfnet eval's.
- Resume with another number of processes, at an epoch boundary and mid-epoch.
- A setup error on every rank is one line (rank 0's); a rank killed mid-epoch ends the job
  within seconds with mpirun naming the rank, the state stays loadable, --resume completes.
"""
import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "torch"))
import zftorch as zt  # noqa: E402
from testlib import check, finish, write_idx  # noqa: E402

ZFNET, WORK = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
# Under mpirun, LeakSanitizer would report what Open MPI's plugins keep to the end (their code
# unloaded by then, so no frame can be named, let alone suppressed); our own code's leaks are
# checked by the single-process runs, which never start MPI.
MPI_ENV = dict(ENV, ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
               .lstrip(":"))
FM = "/usr/share/datasets/fashion-mnist/"


def idx(name):
    with gzip.open(FM + name) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def subset(tag, images, labels, n):
    p = [os.path.join(WORK, f"{tag}-{k}.gz") for k in ("images", "labels")]
    write_idx(p[0], images[:n])
    write_idx(p[1], labels[:n])
    return ",".join(p)


tr_im, tr_lab = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
te_im, te_lab = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
STEP1 = subset("one-step", tr_im, tr_lab, 128)
EPOCH = subset("epoch", tr_im, tr_lab, 1024)
SMALL = subset("small", tr_im, tr_lab, 2048)
TEST = subset("test", te_im, te_lab, 1000)


def zf(args, np_=0, timeout=900, **kw):
    cmd = (["mpirun", "-np", str(np_)] if np_ else []) + [ZFNET] + args
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, env=MPI_ENV if np_ else ENV,
                       timeout=timeout, **kw)
    print(f"$ {' '.join(cmd)}  -> {r.returncode} ({time.time() - t0:.1f} s)\n"
          f"{r.stdout[-600:]}{r.stderr[-1500:]}")
    return r


def train(out, data, batch, np_=0, threads=1, epochs=1, test="none", extra=()):
    return zf(["train", "--train", data, "--test", test, "--epochs", str(epochs), "--batch",
               str(batch), "--threads", str(threads), "--seed", "7", "-o", out, "--overwrite"]
              + list(extra), np_)


def state(out):
    t, meta = zt.st_load(os.path.join(out, "state.safetensors"))
    return t, meta


def maxdiff(a, b, prefix=""):
    """The largest |a - b| over the float tensors whose names start with prefix (weights and
    biases: conv*/fc*; the momentum: momentum.*)."""
    keys = [k for k in a if k.startswith(prefix) and k != "data.mean"
            and a[k].dtype == np.float32 and (prefix or not k.startswith("momentum."))]
    return max(float(np.abs(a[k] - b[k]).max()) for k in keys), len(keys)


P = lambda *a: os.path.join(WORK, *a)  # noqa: E731

# ---- one step: equal to float32 summation ----------------------------------------------------
r1 = train(P("s1"), STEP1, 128)
r2 = train(P("s2"), STEP1, 64, np_=2)
r4 = train(P("s4"), STEP1, 32, np_=4)
ok = all(r.returncode == 0 for r in (r1, r2, r4))
check(ok, "one step: one process (batch 128), 2 x 64 and 4 x 32 processes train")
if ok:
    a, _ = state(P("s1"))
    for n in (2, 4):
        b, meta = state(P(f"s{n}"))
        dw, nw = maxdiff(a, b)
        dm, _ = maxdiff(a, b, "momentum.")
        check(dw <= 1e-6 and dm <= 1e-4 and nw >= 16,
              f"one step, {n} processes: {nw} weight tensors within {dw:.2g} of one process "
              f"(<= 1e-6), momentum within {dm:.2g}")
        check('"batch":128' in meta["train_config"],
              f"the state of {n} processes records the global batch (128)")
    b2, _ = state(P("s2"))
    check(np.array_equal(a["data.mean"], b2["data.mean"]), "rank 0's data mean, exactly")

# ---- bfloat16: the gradients reduced in float32 -------------------------------------------------
# (--precision bf16: per-image activations round the same in a batch of 64 as in one of 128,
# so one step over 2 processes differs from one process by float32 summation orders only)
if "avx512_bf16" not in open("/proc/cpuinfo").read():
    print("SKIPPED: bf16 under mpirun: this CPU lacks AVX512-BF16 (no avx512_bf16 in "
          "/proc/cpuinfo)")
else:
    bf = ["--precision", "bf16"]
    rb = [train(P("b1"), STEP1, 128, extra=bf), train(P("b2"), STEP1, 64, np_=2, extra=bf)]
    if check(all(r.returncode == 0 for r in rb), "one step in bf16: one process and 2 x 64"):
        a, ma = state(P("b1"))
        b, mb = state(P("b2"))
        dw, nw = maxdiff(a, b)
        fp, _ = maxdiff(a, state(P("s1"))[0])
        check(dw <= 1e-6 and nw >= 16,
              f"one step in bf16, 2 processes: {nw} weight tensors within {dw:.2g} of one "
              f"process (<= 1e-6; bf16 against fp32 after the same step: {fp:.2g})")
        check('"precision":"bf16"' in mb["train_config"], "the state records bf16")

# ---- an epoch of 8 steps: as close as another summation order --------------------------------
runs = {"one-1t": train(P("e1"), EPOCH, 128), "one-2t": train(P("e1t2"), EPOCH, 128, threads=2),
        "np2": train(P("e2"), EPOCH, 64, np_=2), "np4": train(P("e4"), EPOCH, 32, np_=4)}
if check(all(r.returncode == 0 for r in runs.values()), "an epoch: every run trains"):
    a, _ = state(P("e1"))
    ref, _ = maxdiff(a, state(P("e1t2"))[0])
    for n in (2, 4):
        d, _ = maxdiff(a, state(P(f"e{n}"))[0])
        check(d <= 4 * ref + 1e-6,
              f"8 steps, {n} processes: weights within {d:.2g} of one process (1 thread vs 2 "
              f"threads differ by {ref:.2g}; allowed 4x that)")
    loss = lambda r: r.stdout.split("loss ")[1].split()[0]  # noqa: E731
    check(loss(runs["np2"]) == loss(runs["one-1t"]) or
          abs(float(loss(runs["np2"])) - float(loss(runs["one-1t"]))) <= 2e-4,
          f"8 steps: the epoch's mean loss {loss(runs['np2'])} (2 processes) = "
          f"{loss(runs['one-1t'])} (one)")

# ---- the same epoch accuracy on a small run ----------------------------------------------------
# (maxpool ties on Fashion-MNIST's black background let summation-order differences grow:
# 1 vs 2 threads in one process moves accuracy by a few images as well; hence 0.5 points)
acc = {}
for name, batch, n in (("one", 128, 0), ("np2", 64, 2)):
    r = train(P("acc-" + name), SMALL, batch, np_=n, epochs=2, test=TEST,
              extra=["--lr", "0.002"])
    acc[name] = [float(l.split("test ")[1].split("%")[0]) for l in r.stdout.splitlines()
                 if l.startswith("epoch") and "test " in l]
check(len(acc["one"]) == 2 and len(acc["np2"]) == 2 and
      max(abs(x - y) for x, y in zip(acc["one"], acc["np2"])) <= 0.5,
      f"2 epochs on 2,048 images, tested on 1,000: accuracy {acc['one']} (one process) = "
      f"{acc['np2']} (2 processes) within 0.5 points")
r = zf(["eval", "--weights", P("acc-np2", "last.safetensors"), "--data", TEST])
check(r.returncode == 0 and acc["np2"] and f"test accuracy: {acc['np2'][-1]:.2f}%" in r.stdout,
      "the test set split over 2 processes and summed = zfnet eval of the same weights")

# ---- resume with another number of processes ---------------------------------------------------
r = train(P("res"), EPOCH, 64, np_=2, epochs=1)
r = zf(["train", "--resume", "-o", P("res"), "--epochs", "2", "--threads", "1"])
check(r.returncode == 0 and "resuming" in r.stdout and "epoch  2/2" in r.stdout,
      "a 2-process run resumes in one process at an epoch boundary (the global batch kept)")
r = zf(["train", "--resume", "-o", P("res"), "--epochs", "3", "--threads", "1"], np_=4)
check(r.returncode == 0 and "4 processes x batch 32 = batch 128" in r.stdout + r.stderr
      and "epoch  3/3" in r.stdout, "... and again with 4 processes (32 each)")
r = zf(["train", "--resume", "-o", P("res"), "--epochs", "4"], np_=3)
lines = [l for l in r.stderr.splitlines() if l.startswith("zfnet")]
check(r.returncode != 0 and len(lines) == 1 and "does not split evenly over 3" in lines[0],
      "3 processes cannot split its batch of 128: one line says so")
two, _ = state(P("e2"))
r = train(P("full"), EPOCH, 64, np_=2, epochs=3)
full, _ = state(P("full"))
res, _ = state(P("res"))
d, _ = maxdiff(full, res)
check(d < 0.05, f"3 epochs resumed over 2, 1 and 4 processes = 3 epochs over 2 (weights within "
      f"{d:.2g}: only summation orders differ)")

# ---- a setup error on every rank: one line -----------------------------------------------------
r = zf(["train", "--train", P("absent.gz"), "-o", P("absent-run")], np_=2)
lines = [l for l in r.stderr.splitlines() if l.startswith("zfnet")]
check(r.returncode != 0 and len(lines) == 1 and "absent.gz" in lines[0]
      and not os.path.exists(P("absent-run")),
      "a missing training set under mpirun -np 2: one zfnet line, no run folder")

r = zf(["demo", "-o", P("demo-run")], np_=2)
check(r.returncode == 2 and "the demo runs as one process" in r.stderr
      and not os.path.exists(P("demo-run")), "zfnet demo under mpirun refuses, in one line")

# ---- a rank killed mid-epoch --------------------------------------------------------------------
out = P("kill")
cmd = ["mpirun", "-np", "2", ZFNET, "train", "--train", SMALL, "--test", "none", "--epochs", "50",
       "--batch", "32", "--threads", "1", "--state-every", "0.5", "-o", out]
job = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=MPI_ENV)
rank1 = None
t_end = time.time() + 120
while time.time() < t_end and job.poll() is None:  # mid-epoch 2: a state saved after epoch 1
    m = os.path.join(out, "metrics.jsonl")
    if os.path.exists(m) and open(m).read().count("\n") >= 1:
        break
    time.sleep(0.2)
time.sleep(1.0)
for pid in os.listdir("/proc"):
    try:
        env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        continue
    if b"OMPI_COMM_WORLD_RANK=1" in env and cmdline.startswith(ZFNET.encode()):
        rank1 = int(pid)
killed_at = time.time()
if rank1:
    os.kill(rank1, signal.SIGKILL)
try:
    so, se = job.communicate(timeout=60)
except subprocess.TimeoutExpired:
    job.kill()
    so, se = job.communicate()
took = time.time() - killed_at
print(f"$ {' '.join(cmd)}  (rank 1 = pid {rank1} killed)  -> {job.returncode}\n{so[-400:]}{se}")
check(rank1 is not None and job.returncode != 0 and took < 15 and "rank 1" in se,
      f"rank 1 killed mid-epoch: the job ended {took:.1f} s later, exit {job.returncode}, "
      "mpirun naming rank 1")
t, meta = state(out)
check(int(meta["epoch_done"]) >= 1, f"the state is loadable (after epoch {meta['epoch_done']}, "
      f"batch {meta['next_batch']})")
r = zf(["eval", "--weights", os.path.join(out, "last.safetensors"), "--data", TEST])
check(r.returncode == 0, "last.safetensors evaluates")
r = zf(["train", "--resume", "-o", out, "--epochs", str(int(meta["epoch_done"]) + 1)], np_=2)
check(r.returncode == 0 and "resuming" in r.stdout and not [
    f for f in os.listdir(out) if ".tmp." in f], "--resume (2 processes) then completes")
finish()
