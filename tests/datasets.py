#!/usr/bin/python3
"""Dataset readers end to end, checked against independent readers.

- Image folder: a generated set (make_folder.py) of JPEG and PNG files with a PNG named .jpg, a
  grayscale and a CMYK JPEG, RGBA and palette PNGs, a large JPEG (DCT-domain downscaling), a
  truncated JPEG and a text file named .png. Decoded pixels (zfnet data --dump) match PIL's
  decode + antialiased bilinear resize + centre crop within 1 grey level; labels are the class
  folders'; the two bad files are reported by name and skipped, or stop the run with
  --stop-on-bad, never a crash and never an output file.
- zfnet pack: the lossless shard reads back identical to the folder; a JPEG shard within JPEG
  error; a truncated or corrupted shard is refused with a message.
- Training and evaluation run on the folder and on the shard.
- CIFAR-10 and CIFAR-100 binary batches (with class-name files) read back as written.

Usage: datasets.py ZFNET WORKDIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "torch"))
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

zfnet, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
check = tl.check


def run(args):
    return tl.run(zfnet, args)


root = os.path.join(work, "folder")
good = json.loads(subprocess.run([sys.executable, os.path.join(here, "make_folder.py"), root],
                                 capture_output=True, text=True, check=True).stdout)
truth = {g["path"]: g for g in good}
S = 32


def pil_reference(path):
    im = Image.open(path)
    w, h = im.size
    if im.format == "JPEG" and min(w, h) >= 4 * S:  # the same DCT scale zfnet asks for
        im.draft(im.mode, (w * 2 * S // min(w, h), h * 2 * S // min(w, h)))
    im = im.convert("RGB")
    w, h = im.size
    nw, nh = (S, round(h * S / w)) if w < h else (round(w * S / h), S)
    r = np.asarray(im.resize((nw, nh), Image.BILINEAR))
    oy, ox = (nh - S) // 2, (nw - S) // 2
    return r[oy:oy + S, ox:ox + S].transpose(2, 0, 1).astype(int)


# the folder, decoded
dump = os.path.join(work, "folder.safetensors")
r = run(["data", root, "--size", str(S), "--dump", dump])
check(r.returncode == 0, "zfnet data on the folder")
check("notes.png: not a JPEG or PNG image" in r.stdout, "the text file named .png is reported")
check("truncated.jpg: bad JPEG data" in r.stdout, "the truncated JPEG is reported")
t, meta = zt.st_load(dump)
items = json.loads(meta["items"])
check(sorted(items) == sorted(truth), f"every good file read, no bad one ({len(items)} images)")
for k, path in enumerate(items):
    d = np.abs(pil_reference(path) - t["images"][k].astype(int))
    g = truth.get(path, {"label": -1, "kind": "?"})
    check(d.max() <= 1 and t["labels"][k] == g["label"],
          f"{g['kind']:15s} {os.path.relpath(path, root)}: label {t['labels'][k]}, "
          f"max |zfnet - PIL| = {d.max()}")
gray = os.path.join(work, "gray.safetensors")
r = run(["data", root, "--size", str(S), "--channels", "1", "--dump", gray, "--first", "3"])
tg, _ = zt.st_load(gray)
rgb = t["images"][:3].astype(np.float64)
luma = (rgb[:, 0] * 299 + rgb[:, 1] * 587 + rgb[:, 2] * 114) / 1000
check(r.returncode == 0 and tg["images"].shape == (3, 1, S, S)
      and np.abs(tg["images"][:, 0] - luma).max() <= 1.5, "one-channel reading (ITU-R 601 luma)")

# packing
shard = os.path.join(work, "lossless.zfs")
r = run(["pack", root, "-o", shard, "--size", str(S), "--lossless"])
check(r.returncode == 0 and "24 images packed, 2 skipped" in r.stdout
      and "notes.png" in r.stderr and "truncated.jpg" in r.stderr, "pack reports and skips")
sd = os.path.join(work, "shard.safetensors")
r = run(["data", shard, "--dump", sd])
ts, ms = zt.st_load(sd)
rel = [os.path.relpath(p, root) for p in items]
check(r.returncode == 0 and json.loads(ms["items"]) == rel
      and np.array_equal(ts["images"], t["images"]) and np.array_equal(ts["labels"], t["labels"]),
      "the lossless shard reads back identical to the folder")
jshard = os.path.join(work, "jpeg.zfs")
r = run(["pack", root, "-o", jshard, "--size", str(S), "--quality", "95"])
run(["data", jshard, "--dump", sd])
tj, _ = zt.st_load(sd)
err = np.abs(tj["images"].astype(int) - t["images"]).mean()
check(r.returncode == 0 and err < 4, f"the JPEG shard is within JPEG error (mean {err:.2f})")
stopped = os.path.join(work, "stopped.zfs")
r = run(["pack", root, "-o", stopped, "--size", str(S), "--stop-on-bad"])
check(r.returncode == 1 and "notes.png" in r.stderr and not os.path.exists(stopped)
      and not [f for f in os.listdir(work) if f.startswith("stopped")],
      "pack --stop-on-bad stops, naming the file, and leaves no file")
blob = open(shard, "rb").read()
index = int.from_bytes(blob[32:40], "little")
bad_index = blob[:index] + (1 << 40).to_bytes(8, "little") + blob[index + 8:]
for name, data in (("cut.zfs", blob[:len(blob) - 100]), ("bad-index.zfs", bad_index)):
    p = os.path.join(work, name)
    open(p, "wb").write(data)
    r = run(["data", p])
    check(r.returncode == 1 and name in r.stderr and "Traceback" not in r.stderr,
          f"a damaged shard ({name}) is refused")
p = os.path.join(work, "bad-pixels.zfs")  # the first image's bytes damaged: found on decoding
open(p, "wb").write(blob[:100] + bytes(40) + blob[140:])
r = run(["data", p, "--dump", os.path.join(work, "bad-pixels.safetensors")])
check(r.returncode == 0 and "unreadable: " in r.stdout and "23 images written" in r.stdout,
      "an image damaged inside a shard is reported by name and left out")
p = os.path.join(work, "big-claim.zfs")  # header says 8192: the small images are not blown up
open(p, "wb").write(blob[:24] + (8192).to_bytes(4, "little") + blob[28:])
r = run(["data", p, "--dump", os.path.join(work, "big-claim.safetensors")])
check(r.returncode == 1 and "none of the 24 images could be read" in r.stderr
      and not os.path.exists(os.path.join(work, "big-claim.safetensors"))
      and f"x{S} image where the shard holds images of short side 8192"
      in r.stdout + r.stderr and "Traceback" not in r.stderr,
      "a shard whose header claims another image size than its images is refused, naming both")

# training and evaluation on the folder and the shard
for spec, extra in ((root, ["--data-size", str(S)]), (shard, [])):
    out = os.path.join(work, "run-" + os.path.basename(spec))
    r = run(["train", "--train", spec, "--test", spec, "--epochs", "2", "--batch", "8",
             "--threads", "2", "-o", out] + extra)
    skipped = r.stderr.count("truncated.jpg")
    check(r.returncode == 0 and "test accuracy:" in r.stdout
          and (skipped == 1 if spec == root else skipped == 0),
          f"train on {os.path.basename(spec)} (bad file reported once)")
    r = run(["eval", "--weights", os.path.join(out, "last.safetensors"), "--data", spec,
             "--ten-crop", "--per-class"])
    check(r.returncode == 0 and "circle" in r.stdout and "zebra" in r.stdout,
          f"eval on {os.path.basename(spec)} names the classes")
r = run(["train", "--train", root, "--test", "none", "--data-size", str(S), "--epochs", "1",
         "--stop-on-bad", "-o", os.path.join(work, "stop")])
check(r.returncode == 1 and "notes.png" in r.stderr, "train --stop-on-bad stops at a bad file")

# CIFAR-10 and CIFAR-100
rng = np.random.default_rng(1)
for hundred in (False, True):
    d = os.path.join(work, "cifar100" if hundred else "cifar10")
    os.makedirs(d)
    files, imgs, labs = [], [], []
    for b in range(2):
        n = 7 + b
        img = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        fine = rng.integers(0, 100 if hundred else 10, n).astype(np.uint8)
        fine[0] = 99 if hundred else 9  # every class index present up to the last
        rec = [np.concatenate(([f // 5, f] if hundred else [f], im.ravel())).astype(np.uint8)
               for f, im in zip(fine, img)]
        p = os.path.join(d, f"batch{b}.bin")
        open(p, "wb").write(np.concatenate(rec).tobytes())
        files.append(p), imgs.append(img), labs.append(fine)
    names = [f"name{k}" for k in range(100 if hundred else 10)]
    open(os.path.join(d, "fine_label_names.txt" if hundred else "batches.meta.txt"),
         "w").write("\n".join(names) + "\n")
    out = os.path.join(d, "dump.safetensors")
    r = run(["data", ",".join(files), "--dump", out])
    tc, _ = zt.st_load(out)
    kind = "CIFAR-100" if hundred else "CIFAR-10"
    check(r.returncode == 0 and kind in r.stdout and names[-1] in r.stdout
          and np.array_equal(tc["images"], np.concatenate(imgs))
          and np.array_equal(tc["labels"], np.concatenate(labs)),
          f"{kind}: pixels, labels and class names read back")
    open(os.path.join(d, "short.bin"), "wb").write(b"\x01" * 5000)
    r = run(["data", os.path.join(d, "short.bin")])
    check(r.returncode == 1 and "short.bin: not a CIFAR binary batch" in r.stderr,
          f"{kind}: a malformed batch is refused")

tl.finish()
