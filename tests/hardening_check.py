#!/usr/bin/python3
"""Nothing crashes, nothing is lost (docs/reliability.md): bad inputs and faults against the
command line, each error a clean failure (testlib.clean_failure: one line on stderr, exit 1, or
2 for a usage error, no crash, nothing left behind in WORKDIR).

1. Non-regular files (a FIFO as model, checkpoint, IDX, CIFAR, image, input, variants file):
   refused at once, never waited on; symbolic-link loops in an image folder end the scan.
2. Claims: a model needing more than 2^32 parameters or 2^31 values per image, IDX headers of
   10 million or 100000x100000 images, a PNG claiming 12000x12000 pixels in 150 bytes, shards
   with wrapped offsets or 4e9 classes: refused before allocating (under a 1 GiB `ulimit -v`
   in the plain build).
3. Checkpoints: data.mean of another shape than the model's input, NaN weights; tampered
   training states (epochs, epoch counter, crop padding, rate): refused by name on --resume.
4. Numbers: a diverging run (lr 10) stops at the step with the tensor named and exit 1;
   --on-diverge lower finishes with finite weights; NaN inputs to forward are refused.
5. Faults: SIGTERM saves the state (exit 143) and --resume ends with the uninterrupted run's
   weights; SIGKILL at 20 random moments (steps, saves, evaluation), each followed by
   --resume, ends with the same weights and leaves no temporary file; a full disk (a small
   tmpfs) fails the save with one line, the previous checkpoint stays loadable and the run
   resumes once there is space; read-only or missing output folders fail before any work;
   errors found after the data is opened leave no folder behind.

Usage: hardening_check.py ZFNET WORKDIR [--sanitized]
"""
import gzip
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch"))
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

check = tl.check
zfnet, work = sys.argv[1], sys.argv[2]
sanitized = "--sanitized" in sys.argv
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
P = lambda *names: os.path.join(work, *names)  # noqa: E731


def run(args, limit_vm=False, timeout=120):
    """zfnet ARGS; limit_vm: under testlib's 1 GiB address-space limit (not when sanitized)."""
    return tl.run_zfnet(zfnet, args, timeout=timeout, limit_vm=limit_vm, sanitized=sanitized)


def report(what, r, problems):
    """check a run that is to fail cleanly: problems from testlib.clean_failure"""
    return check(not problems, f"{what}: rc={r.returncode} stderr={r.stderr.strip()[:300]!r}"
                 + (f": {'; '.join(problems)}" if problems else ""))


def one_line_error(what, args, fragment, gone=(), code=tl.FAILURE, limit_vm=False, timeout=120):
    """args fail cleanly with exit `code` (1 unless said), the stderr line holding fragment;
    nothing in `gone` exists afterwards, nothing in WORKDIR appears or changes."""
    problems, r = tl.fails_cleanly(zfnet, args, code, need=fragment, gone=gone, watch=[work],
                                   timeout=timeout, limit_vm=limit_vm, sanitized=sanitized)
    return report(what, r, problems)


# ---- a tiny learnable set and model: class k is a bright square at the k-th of 4 places ----
rng = np.random.default_rng(0)


def tiny_set(n):
    lab = rng.integers(0, 4, n).astype(np.uint8)
    img = rng.integers(0, 60, (n, 12, 12)).astype(np.uint8)
    for i, k in enumerate(lab):
        img[i, 1 + 6 * (k // 2):5 + 6 * (k // 2), 1 + 6 * (k % 2):5 + 6 * (k % 2)] = 250
    return img, lab


for split, n in (("train", 960), ("test", 200)):
    img, lab = tiny_set(n)
    tl.write_idx(P(f"{split}-images.gz"), img)
    tl.write_idx(P(f"{split}-labels.gz"), lab)
TRAIN = P("train-images.gz") + "," + P("train-labels.gz")
TEST = P("test-images.gz") + "," + P("test-labels.gz")
MODEL = P("tiny.cfg")
with open(MODEL, "w") as f:
    f.write("[net]\nname=tiny\nchannels=1\nheight=12\nwidth=12\nclasses=4\n\n"
            "[conv]\nname=conv1\nfilters=6\nsize=3\npad=1\n\n[relu]\nname=relu1\n\n"
            "[maxpool]\nname=pool1\nsize=2\nstride=2\n\n[fc]\nname=fc2\noutputs=16\n\n"
            "[relu]\nname=relu2\n\n[fc]\nname=fc3\noutputs=classes\n\n[softmax]\nname=prob\n")
TRAIN_ARGS = ["--model", MODEL, "--train", TRAIN, "--test", TEST, "--batch", "16",
              "--threads", "1", "--loader-threads", "1", "--seed", "5", "--lr", "0.05"]


def train(out, *extra, **kw):
    return run(["train", "-o", out] + TRAIN_ARGS + list(extra), **kw)


def weights(path):
    return zt.st_load(path)[0]


def same_weights(a, b):
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


r = train(P("ref"), "--epochs", "3")
check(r.returncode == 0, "the reference run trains (3 epochs)")
REF = P("ref", "last.safetensors")

# ---- 1. non-regular files -----------------------------------------------------------------
fifo = P("fifo")
os.mkfifo(fifo)
t0 = time.time()
one_line_error("FIFO as model file", ["summary", fifo], "not a regular file")
one_line_error("FIFO as checkpoint", ["eval", "--weights", fifo, "--data", TEST],
               "not a regular file")
one_line_error("FIFO as IDX images", ["data", fifo + "," + P("train-labels.gz")],
               "not a regular file")
one_line_error("FIFO as IDX labels", ["data", P("train-images.gz") + "," + fifo],
               "not a regular file")
os.symlink(fifo, P("fifo.bin"))
one_line_error("FIFO as CIFAR batch", ["data", P("fifo.bin")], "not a regular file")
one_line_error("FIFO as image", ["predict", "--weights", REF, fifo], "not a regular file")
one_line_error("FIFO as forward input",
               ["forward", "--model", MODEL, "--weights", REF, "--input", fifo, "--output",
                P("y.safetensors")], "not a regular file", gone=[P("y.safetensors")])
one_line_error("FIFO as variants file", ["ablate", "--variants", fifo, "-o", P("abl")],
               "not a regular file", gone=[P("abl")])
check(time.time() - t0 < 60, f"no FIFO was waited on ({time.time() - t0:.1f} s for 8 cases)")

# symbolic-link loops in an image folder
folder = P("loops")
os.makedirs(os.path.join(folder, "cat", "deep"))
shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "seeds",
                         "tiny.cfg"), os.path.join(folder, "cat", "not-an-image"))
from PIL import Image  # noqa: E402
Image.new("RGB", (16, 16), (200, 30, 30)).save(os.path.join(folder, "cat", "red.png"))
os.symlink("..", os.path.join(folder, "cat", "deep", "up"))
os.symlink("b", os.path.join(folder, "cat", "a"))
os.symlink("a", os.path.join(folder, "cat", "b"))
os.symlink(".", os.path.join(folder, "cat", "self"))
r = run(["data", folder, "--size", "16"], timeout=60)
check(r.returncode == 0 and "1 image" in r.stdout,
      f"an image folder with link loops is scanned (rc={r.returncode}, {r.stdout.strip()[:120]!r})")

# a file that decodes badly while the loader's threads read: reported, never a hang
bad_folder = P("badread")
for k, colour in enumerate(((220, 20, 20), (20, 20, 220))):
    os.makedirs(os.path.join(bad_folder, f"c{k}"))
    for i in range(24):
        Image.new("RGB", (14, 14), tuple(max(0, c - 4 * i) for c in colour)).save(
            os.path.join(bad_folder, f"c{k}", f"{i:02d}.png"))
Image.fromarray(rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)).save(P("whole.jpg"),
                                                                          quality=95)
jpeg = open(P("whole.jpg"), "rb").read()  # cut inside its scan: the header still reads
open(os.path.join(bad_folder, "c0", "cut.jpg"), "wb").write(jpeg[:len(jpeg) - 600])
loader_args = ["--train", bad_folder, "--test", "none", "--data-size", "14", "--model", MODEL,
               "--batch", "8", "--epochs", "2", "--loader-threads", "3", "--threads", "1"]
one_line_error("a cut JPEG with --stop-on-bad (3 loader threads)",
               ["train", "-o", P("badread-stop"), "--stop-on-bad"] + loader_args, "cut.jpg",
               timeout=60)
r = run(["train", "-o", P("badread-go")] + loader_args, timeout=60)
check(r.returncode == 0 and "cut.jpg" in r.stderr and "replaced" in r.stderr,
      f"a cut JPEG without --stop-on-bad: replaced, the run ends (rc={r.returncode})")

# ---- 2. claims ----------------------------------------------------------------------------
huge = P("huge.cfg")
with open(huge, "w") as f:
    f.write("[net]\nname=huge\nchannels=1\nheight=4096\nwidth=4096\nclasses=10\n\n"
            "[fc]\nname=fc1\noutputs=16777216\n\n[fc]\nname=fc2\noutputs=classes\n\n"
            "[softmax]\nname=prob\n")
one_line_error("fc needing 2^48 parameters: summary", ["summary", huge],
               "more than 4294967296 parameters", limit_vm=True)
one_line_error("fc needing 2^48 parameters: init", ["init", huge, "-o", P("huge.safetensors")],
               "more than 4294967296 parameters", gone=[P("huge.safetensors")], limit_vm=True)
wide = P("wide.cfg")
with open(wide, "w") as f:
    f.write("[net]\nname=wide\nchannels=65536\nheight=65536\nwidth=65536\nclasses=10\n\n"
            "[fc]\nname=fc1\noutputs=classes\n\n[softmax]\nname=prob\n")
one_line_error("an input of 2^48 values", ["summary", wide], "values per image", limit_vm=True)


def idx_header(count, rows, cols):
    return bytes([0, 0, 8, 3]) + struct.pack(">III", count, rows, cols)


labels = bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(10)
open(P("claims-labels"), "wb").write(labels)
open(P("claims-10M"), "wb").write(idx_header(10_000_000, 28, 28) + bytes(28 * 28 * 10))
one_line_error("IDX claiming 10 million images", ["data", P("claims-10M") + "," +
               P("claims-labels")], "truncated", limit_vm=True)
open(P("claims-wide"), "wb").write(idx_header(10, 100000, 100000) + bytes(1000))
one_line_error("IDX of 100000x100000 images", ["data", P("claims-wide") + "," +
               P("claims-labels")], "bad dimension 100000", limit_vm=True)
png = bytearray(open(os.path.join(folder, "cat", "red.png"), "rb").read())
png[16:24] = struct.pack(">II", 12000, 12000)  # IHDR width and height (the CRC goes stale)
png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
open(P("claims.png"), "wb").write(png)
one_line_error("a PNG claiming 12000x12000 pixels", ["predict", "--weights", REF,
               P("claims.png")], "claims 12000x12000 pixels in", limit_vm=True)

# shards: wrapped offsets, 4e9 classes
pack_dir = P("packme")
os.makedirs(os.path.join(pack_dir, "red"))
os.makedirs(os.path.join(pack_dir, "blue"))
for i in range(3):
    Image.new("RGB", (20, 16), (200, 10 * i, 0)).save(os.path.join(pack_dir, "red", f"{i}.png"))
    Image.new("RGB", (20, 16), (0, 10 * i, 200)).save(os.path.join(pack_dir, "blue", f"{i}.png"))
r = run(["pack", pack_dir, "-o", P("good.zfs"), "--size", "16", "--threads", "1"])
check(r.returncode == 0, "a shard to damage is packed")
good = open(P("good.zfs"), "rb").read()
ioff = struct.unpack("<Q", good[32:40])[0]


def patched(name, offset, fmt, value):
    b = bytearray(good)
    b[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    open(P(name), "wb").write(b)
    return P(name)


for name, off, fmt, val, frag in (
        ("classes.zfs", 16, "<I", 4_000_000_000, "inconsistent shard header"),
        ("count.zfs", 12, "<I", 4_000_000_000, "inconsistent shard header"),
        ("ioff.zfs", 32, "<Q", 2**64 - 16, "inconsistent shard header"),
        ("entry.zfs", ioff, "<Q", 2**64 - 8, "index entry 0 is out of range"),
        ("entrylen.zfs", ioff + 8, "<I", 2**32 - 1, "index entry 0 is out of range")):
    for cmd in (["data", patched(name, off, fmt, val)],
                ["train", "--train", P(name), "--test", "none", "-o", P("shardrun")]):
        one_line_error(f"shard with {name[:-4]} wrapped: {cmd[0]}", cmd, frag,
                       gone=[P("shardrun")], limit_vm=True)

# ---- 3. checkpoints and tampered states --------------------------------------------------
t, meta = zt.st_load(REF)
for what, mean in (("a 3-channel mean", np.zeros((3, 12, 12), np.float32)),
                   ("a 0x0 mean", np.zeros((1, 0, 0), np.float32)),
                   ("a 12x8 mean", np.zeros((1, 12, 8), np.float32)),
                   ("a NaN mean", np.full((1, 12, 12), np.nan, np.float32))):
    t2 = dict(t)
    t2["data.mean"] = mean
    zt.st_save(P("badmean.safetensors"), t2, meta)
    one_line_error(f"checkpoint with {what}", ["eval", "--weights", P("badmean.safetensors"),
                   "--data", TEST], "data.mean")
t2 = dict(t)
t2["conv1.weight"] = t["conv1.weight"].copy()
t2["conv1.weight"][0, 0, 1, 1] = np.nan
zt.st_save(P("nan.safetensors"), t2, meta)
one_line_error("checkpoint with a NaN weight", ["eval", "--weights", P("nan.safetensors"),
               "--data", TEST], "'conv1.weight' holds a NaN")

STATE = P("ref", "state.safetensors")
st_t, st_meta = zt.st_load(STATE)
config = json.loads(st_meta["train_config"])
for what, key, value, frag in (("epochs 10^9", "epochs", 10**9, "epochs = 1e+09"),
                               ("negative epochs", "epochs", -5, "epochs = -5"),
                               ("crop padding 100000", "crop_pad", 100000, "crop_pad = 100000"),
                               ("batch 0", "batch", 0, "batch = 0"),
                               ("lr 1e9", "lr", 1e9, "lr = 1e+09")):
    shutil.rmtree(P("tamper"), ignore_errors=True)
    shutil.copytree(P("ref"), P("tamper"))
    c = dict(config, **{key: value})
    zt.st_save(P("tamper", "state.safetensors"), st_t, dict(st_meta, train_config=json.dumps(c)))
    one_line_error(f"tampered state: {what}", ["train", "--resume", "-o", P("tamper")],
                   f"saved option {frag}")
for what, key, value in (("a negative epoch counter", "epoch_done", "-1"),
                         ("an epoch counter of 10^12", "epoch_done", "1e12"),
                         ("a NaN rate", "lr", "nan"), ("a fractional batch", "next_batch", "2.5")):
    shutil.rmtree(P("tamper"), ignore_errors=True)
    shutil.copytree(P("ref"), P("tamper"))
    zt.st_save(P("tamper", "state.safetensors"), st_t, dict(st_meta, **{key: value}))
    one_line_error(f"tampered state: {what}", ["train", "--resume", "-o", P("tamper")],
                   f"metadata '{key}' = {value} is out of range")

# ---- 4. numbers ---------------------------------------------------------------------------
before = tl.snapshot(work)
r = train(P("diverge"), "--epochs", "2", "--lr", "10", "--weight-decay", "1")
report("diverging in epoch 1: stops at the step, one line, no folder", r,
       tl.clean_failure(r, tl.FAILURE, need=("epoch 1, batch", "is not finite"),
                        gone=[P("diverge")], since=before))


def diverging_run(out):
    """a run of one good epoch whose saved rate is then raised to 10 (pixel-unit inputs)"""
    r = train(out, "--epochs", "1")
    st_t, st_meta = zt.st_load(os.path.join(out, "state.safetensors"))
    c = dict(json.loads(st_meta["train_config"]), lr=10, input_scale=1, epochs=3)
    zt.st_save(os.path.join(out, "state.safetensors"), st_t,
               dict(st_meta, train_config=json.dumps(c)))
    return r.returncode == 0


diverging_run(P("diverge2"))
r = train(P("diverge2"), "--resume")
state = P("diverge2", "state.safetensors")
m = re.search(r"epoch (\d+), batch \d+: the (gradient|weights) of \S+ is not finite", r.stderr)
epoch = int(m.group(1)) if m else 0
report("diverging later: the step, the tensor, the last good state", r,
       tl.clean_failure(r, tl.FAILURE, need=f"the last good state is {state} (after epoch "
                                           f"{epoch - 1})")
       + ([] if epoch >= 2 else ["no step of epoch 2 or later named"]))
check(all(np.isfinite(a).all() for f in os.listdir(P("diverge2")) if f.endswith(".safetensors")
          for a in weights(P("diverge2", f)).values()), "no checkpoint with NaN weights left")
diverging_run(P("lower"))
r = train(P("lower"), "--resume", "--on-diverge", "lower")
check(r.returncode == 0 and "a NaN or Inf at learning rate 10; back to the state saved" in r.stderr
      and all(np.isfinite(a).all() for a in weights(P("lower", "last.safetensors")).values()),
      f"--on-diverge lower finishes with finite weights (rc={r.returncode}, {r.stderr[:300]!r})")
x = np.zeros((1, 1, 12, 12), np.float32)
x[0, 0, 3, 4] = np.nan
zt.st_save(P("nan-input.safetensors"), {"input": x})
one_line_error("NaN in forward's input", ["forward", "--model", MODEL, "--weights", REF,
               "--input", P("nan-input.safetensors"), "--output", P("y.safetensors")],
               "tensor 'input' holds nan at index 40", gone=[P("y.safetensors")])

# ---- 5. faults ----------------------------------------------------------------------------
# a longer run for the signals: 4,800 images, the state saved every 0.01 s (so that kills land
# in saves too); saving that often changes nothing
img, lab = tiny_set(4800)
tl.write_idx(P("long-images.gz"), img)
tl.write_idx(P("long-labels.gz"), lab)
LONG = TRAIN_ARGS[:3] + [P("long-images.gz") + "," + P("long-labels.gz")] + TRAIN_ARGS[4:] + \
    ["--epochs", "3", "--state-every", "0.01"]
t0 = time.time()
r = run(["train", "-o", P("long-ref")] + LONG)
span = time.time() - t0
LONG_REF = P("long-ref", "last.safetensors")
check(r.returncode == 0, f"the longer reference run ({span:.1f} s)")


def start(out, resume):
    return subprocess.Popen([zfnet, "train", "-o", out] + LONG + (["--resume"] if resume
                            else []), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


# SIGTERM: the state is saved, exit 128 + 15, and --resume ends where the reference ended
out = P("term")
p = start(out, False)
metrics = os.path.join(out, "metrics.jsonl")
while p.poll() is None and not (os.path.exists(metrics) and open(metrics).read().count("\n")):
    time.sleep(0.005)  # into the second epoch
p.send_signal(signal.SIGTERM)
se = p.communicate()[1]
check(p.returncode == 143 and "continue with --resume" in se and len(se.strip().splitlines()) == 1,
      f"SIGTERM: the state saved, one line, exit 143 ({p.returncode}, {se.strip()[:160]!r})")
r = run(["train", "-o", out] + LONG + ["--resume"])
check(r.returncode == 0 and same_weights(LONG_REF, os.path.join(out, "last.safetensors")),
      "after SIGTERM, --resume ends with the uninterrupted run's weights")

# SIGKILL at 20 random moments, each followed by --resume (a fresh start while no state exists)
out = P("kill")
random.seed(7)
kills = 0
for i in range(20):
    p = start(out, os.path.exists(os.path.join(out, "state.safetensors")))
    time.sleep(random.uniform(0.05, max(0.1, span / 12)))
    if p.poll() is None:
        p.kill()
        kills += 1
    p.communicate()
r = run(["train", "-o", out] + LONG +
        (["--resume"] if os.path.exists(os.path.join(out, "state.safetensors")) else []))
left = [f for f in os.listdir(out) if ".tmp." in f]
done = [json.loads(line)["epoch"] for line in open(os.path.join(out, "metrics.jsonl"))]
same = r.returncode == 0 and same_weights(LONG_REF, os.path.join(out, "last.safetensors"))
check(r.returncode == 0 and kills >= 5 and not left and done == [1, 2, 3] and same,
      f"{kills} SIGKILLs (of 20 tries; at least 5 needed), each resumed: the uninterrupted run's "
      f"weights ({same}) and metrics (epochs {done}), no temporary file left ({left}); "
      f"rc={r.returncode} {r.stderr.strip()[:200]!r}")

# SIGTERM while a big file is written (init of zfnet: 250 MB): the signal is sent once the
# temporary file is there, at several points of its writing; no temporary file stays, and the
# output is either absent or whole
os.makedirs(P("init-term"))
left, broken, caught = [], [], 0
for i, delay in enumerate((0.0, 0.02, 0.1, 0.3, 1.0)):
    out = P("init-term", f"w{i}.safetensors")
    p = subprocess.Popen([zfnet, "init", "zfnet", "-o", out], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while p.poll() is None and not [f for f in os.listdir(P("init-term")) if ".tmp." in f]:
        time.sleep(0.002)
    time.sleep(delay * (4 if sanitized else 1))
    writing = p.poll() is None and bool([f for f in os.listdir(P("init-term")) if ".tmp." in f])
    p.send_signal(signal.SIGTERM)
    p.wait()
    caught += writing and p.returncode == -signal.SIGTERM
    for f in [f for f in os.listdir(P("init-term")) if ".tmp." in f]:
        left.append(f)
        os.remove(P("init-term", f))
    if os.path.exists(out):
        try:
            zt.st_load(out)
        except Exception:  # noqa: BLE001 (any failure to read it back)
            broken.append(out)
    if os.path.exists(out):
        os.remove(out)
check(caught >= 2 and not left and not broken,
      f"SIGTERM during init's write ({caught} of 5 while the temporary file was there): no "
      f"temporary file ({left}), no partial output ({broken})")

# a full disk: a 160 KiB tmpfs, filled after the first epoch (the space is checked before the
# epoch's files are written; a write that fails anyway names its file: zfnet init below)
disk = P("disk")
os.makedirs(disk)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", disk],
                         capture_output=True).returncode == 0
if not mounted:
    print("note: tmpfs cannot be mounted here: the full-disk case is skipped")
else:
    try:
        out = os.path.join(disk, "run")
        r = train(out, "--epochs", "1")
        check(r.returncode == 0, "one epoch on the small disk")
        filler = os.path.join(disk, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            os.close(fd)
        os.truncate(filler, os.path.getsize(filler) - 8192)  # room for metrics, not a state
        r = train(out, "--resume", "--epochs", "2")
        report("full disk: one line naming the folder and the space needed, before any write",
               r, tl.clean_failure(r, tl.FAILURE, need=(out, "free, but the end of epoch 2 writes")))
        check(not [f for f in os.listdir(out) if ".tmp." in f], "full disk: no temporary file")
        r = run(["eval", "--weights", os.path.join(out, "last.safetensors"), "--data", TEST])
        check(r.returncode == 0, "full disk: the previous checkpoint is intact and loadable")
        w = os.path.join(disk, "w.safetensors")
        r = run(["init", MODEL, "-o", w])
        report("full disk: a write that fails names its file, leaves nothing", r,
               tl.clean_failure(r, tl.FAILURE, need=("No space left on device", w), gone=(w,))
               + [f for f in os.listdir(disk) if ".tmp." in f])
        os.remove(filler)
        r = train(out, "--resume", "--epochs", "2")
        check(r.returncode == 0, "full disk: space back, --resume completes")
        state_size = os.path.getsize(os.path.join(out, "state.safetensors"))
    finally:
        subprocess.run(["umount", disk])
    # full at a new run's first epoch end: room for the initial state and the metrics, not for
    # the epoch's checkpoints: stopped before writing any, the initial state kept, resumable
    disk2 = P("disk2")
    os.makedirs(disk2)
    kib = 4 * ((state_size + 12288 + 4095) // 4096)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", disk2],
                      capture_output=True).returncode == 0:
        try:
            out = os.path.join(disk2, "run")
            r = train(out, "--epochs", "1")
            report("full disk at the first epoch's end: one line naming the folder and the "
                   "space", r, tl.clean_failure(r, tl.FAILURE, need=(
                       out, "free, but the end of epoch 1 writes", "continue with --resume")))
            left = sorted(os.listdir(out)) if os.path.isdir(out) else []
            check("state.safetensors" in left and not [f for f in left if "last" in f or ".tmp."
                                                       in f],
                  f"full disk at the first epoch's end: the state kept, no checkpoint ({left})")
            subprocess.run(["mount", "-o", "remount,size=4m", "tmpfs", disk2], check=True)
            r = train(out, "--resume")
            check(r.returncode == 0 and os.path.isfile(os.path.join(out, "last.safetensors")),
                  "full disk at the first epoch's end: space back, --resume completes")
        finally:
            subprocess.run(["umount", disk2])

# read-only and missing output folders: refused before any work
ro = P("ro")
os.makedirs(ro)
if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro],
                  capture_output=True).returncode == 0:
    try:
        one_line_error("a read-only output folder", ["train", "-o", os.path.join(ro, "run")]
                       + TRAIN_ARGS, "Read-only file system")
    finally:
        subprocess.run(["umount", ro])
one_line_error("a missing parent folder", ["train", "-o", P("no", "such", "run")] + TRAIN_ARGS,
               "cannot create it in")

# errors found once the data is open leave no folder behind
one_line_error("batch larger than the set", ["train", "-o", P("big-batch")] + TRAIN_ARGS +
               ["--batch", "4096"], "make no batch of 4096", gone=[P("big-batch")])
with open(P("nosoftmax.cfg"), "w") as f:
    f.write("[net]\nname=nosm\nchannels=1\nheight=12\nwidth=12\nclasses=4\n\n"
            "[fc]\nname=fc1\noutputs=classes\n")
one_line_error("a model without softmax", ["train", "-o", P("nosm"), "--train", TRAIN,
               "--test", TEST, "--model", P("nosoftmax.cfg")], "softmax", gone=[P("nosm")])
long_out = P("x" * 250, "y" * 250, "z" * 250, "w" * 250, "v" * 250, "u" * 250)
one_line_error("an over-long output path", ["train", "-o", long_out] + TRAIN_ARGS, "",
               gone=[P("x" * 250)])

# ---- 6. found by a probe of 620 hostile cases ---------------------------------------------
# a safetensors input whose data starts at an odd address (the format does not align): read
# through aligned copies (UBSan's misaligned-load check in the sanitized build)
x = rng.standard_normal((2, 1, 12, 12)).astype(np.float32)
head = json.dumps({"input": {"dtype": "F32", "shape": [2, 1, 12, 12],
                             "data_offsets": [0, x.nbytes]},
                   "labels": {"dtype": "I64", "shape": [2], "data_offsets": [x.nbytes,
                                                                         x.nbytes + 16]}})
head += " " * ((8 - (len(head) + 8) % 8) % 8 + 3)  # 3 bytes off an 8-byte boundary
open(P("odd.safetensors"), "wb").write(struct.pack("<Q", len(head)) + head.encode() +
                                       x.tobytes() + np.array([1, 2], np.int64).tobytes())
r = run(["forward", "--model", MODEL, "--weights", REF, "--input", P("odd.safetensors"),
         "-o", P("odd-out.safetensors")])
check(r.returncode == 0 and not r.stderr.strip(), f"an unaligned input file reads cleanly "
      f"({r.stderr.strip()[:200]!r})")
one_line_error("forward without --weights", ["forward", "--model", MODEL, "--input",
               P("odd.safetensors"), "-o", P("y.safetensors")], "--weights is required",
               code=tl.USAGE)
os.mkfifo(P("parts.json"))
red = os.path.join(folder, "cat", "red.png")
one_line_error("a FIFO as correspondence parts", ["correspondence", "--weights", REF, "--images",
               red, red, "--parts", P("parts.json"), "-o", P("corr")], "not a regular file",
               gone=[P("corr")])
for what, args, frag, out in (
        ("top9 on data of another shape", ["top9", "--weights", REF, "--data",
         P("good.zfs"), "-o", P("t9")], "16x16", P("t9")),
        ("evolution with a layer that does not exist", ["evolution", "--run", P("ref"),
         "--layers", "nope", "-o", P("ev")], "nope", P("ev")),
        ("transfer with a layer that does not exist", ["transfer", "--weights", REF, "--train",
         TRAIN, "--test", TEST, "--freeze", "nope", "-o", P("tf")], "nope", P("tf")),
        ("probe with a layer that does not exist", ["probe", "--weights", REF, "--train", TRAIN,
         "--test", TEST, "--layers", "nope", "-o", P("pb")], "nope", P("pb"))):
    one_line_error(f"{what}: no folder left", args, frag, gone=[out])
one_line_error("a diverging fine-tune stops, nothing saved",
               ["transfer", "--weights", REF, "--train", TRAIN, "--test", TEST, "--finetune",
                "--lr", "100", "--momentum", "0.99", "--steps", "200", "--folds", "1",
                "--per-class", "4", "-o", P("tf-nan"), "--save", P("tf-nan.safetensors")],
               "NaN or Inf", gone=[P("tf-nan"), P("tf-nan.safetensors")])
for what, extra, frag in (("a seed that is not a number", None, "configuration is unreadable"),
                         ("a batch beyond the epoch", {"next_batch": "999999"},
                          "saved batch 999999 is beyond the epoch's")):
    shutil.rmtree(P("tamper"), ignore_errors=True)
    shutil.copytree(P("ref"), P("tamper"))
    m = dict(st_meta, **(extra or {"train_config": json.dumps(dict(config, seed="abc"))}))
    m["epoch_done"] = m["best_epoch"] = "1"  # so that there is an epoch left to run
    zt.st_save(P("tamper", "state.safetensors"), st_t, m)
    one_line_error(f"tampered state: {what}", ["train", "--resume", "-o", P("tamper")], frag)
for what, names, frag in (("3 class names for 4 classes", '["a","b","c"]', "3 class names"),
                          ("class names that are not JSON", "a,b,c,d", "not a JSON array")):
    zt.st_save(P("names.safetensors"), t, dict(meta, class_names=names))
    one_line_error(f"checkpoint with {what}", ["predict", "--weights", P("names.safetensors"),
                   os.path.join(folder, "cat", "red.png")], frag)
one_line_error("invariance over 1e300 pixels", ["invariance", "--weights", REF, "--input", red,
               "--transform", "translate", "--range",
               "-1e300:1e300", "-o", P("inv")], "outside", gone=[P("inv")])
one_line_error("filters --maps-layer on an fc layer", ["filters", "--weights", REF, "--data",
               TEST, "--maps-layer", "fc2", "-o", P("flt")], "not a conv layer",
               gone=[P("flt")])
os.makedirs(P("names"), exist_ok=True)
shutil.copy(MODEL, P("names", "my model.cfg"))
with open(P("names", "my model.cfg")) as f:
    text = f.read().replace("name=tiny\n", "")
open(P("names", "my model.cfg"), "w").write(text)
r = run(["init", P("names", "my model.cfg"), "-o", P("names", "w.safetensors")])
r2 = run(["summary", P("names", "my model.cfg")])
check(r.returncode == 0 and r2.returncode == 0 and "model my_model" in r2.stdout,
      "a model file without name= gets a valid name from its file name")
img, lab = tiny_set(10)
tl.write_idx(P("trailing-images.gz"), img)
with gzip.open(P("trailing-images.gz"), "ab") as f:
    f.write(b"extra")
tl.write_idx(P("trailing-labels.gz"), lab)
one_line_error("IDX with bytes after its data", ["data", P("trailing-images.gz") + "," +
               P("trailing-labels.gz")], "more data than its header")
one_line_error("an empty name in --ensemble", ["eval", "--weights", REF, "--ensemble", ",",
               "--data", TEST], "empty checkpoint name", code=tl.USAGE)
one_line_error("eval --confusion into a missing folder",
               ["eval", "--weights", REF, "--data", TEST, "--confusion", P("no", "c.csv")],
               "does not exist")
odd = P("odd-folder")
os.makedirs(os.path.join(odd, "a"))
os.makedirs(os.path.join(odd, "b"))
shutil.copy(os.path.join(folder, "cat", "red.png"), os.path.join(odd, "a", "x.png"))
shutil.copy(os.path.join(folder, "cat", "red.png"), os.path.join(odd, "b", "x.png"))
os.symlink("..", os.path.join(odd, "b", "root"))
os.symlink("nowhere.png", os.path.join(odd, "b", "dangling.png"))
os.mkfifo(os.path.join(odd, "b", "fifo.png"))
big = bytearray(png)
big[16:24] = struct.pack(">II", 100000, 100000)
big[29:33] = struct.pack(">I", zlib.crc32(bytes(big[12:29])))
open(os.path.join(odd, "a", "huge.png"), "wb").write(big)
r = run(["data", odd, "--size", "16"], timeout=60)
check(r.returncode == 0 and "2 images" in r.stdout and
      all(w in r.stdout + r.stderr for w in ("dangling.png", "fifo.png", "huge.png")),
      f"a link to the root is not followed; dangling links, FIFOs and 100000x100000 PNGs are "
      f"reported ({(r.stdout + r.stderr).strip()[-300:]!r})")

tl.finish()
