#!/usr/bin/python3
"""The loader's threads and the compute under ThreadSanitizer (a build with ZF_TSAN): training
and evaluation with 4 loader threads decoding an image folder (PNG and JPEG, one JPEG cut in
its scan so that a reader fails mid-run) while the compute runs on one thread (OpenMP's
runtime is not instrumented). TSan halts on the first race (exit 66); the reader error ends a
--stop-on-bad run with one line and no hang, and is replaced by another image otherwise. Then
zfnet serve's threads (libmicrohttpd's, the compute worker, the task worker) under 4 clients
sending mixed requests while a top-9 task runs and an occlusion task is cancelled, then
SIGTERM: no race (tests/tsan.supp holds only oneDNN's uninstrumented internals).

Usage: tsan_check.py ZFNET WORKDIR
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading

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


# ---- zfnet serve's threads ---------------------------------------------------------------------
supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tsan.supp")
senv = dict(env, TSAN_OPTIONS=f"halt_on_error=1:exitcode=66:suppressions={supp}")
p = subprocess.Popen([zfnet, "serve", os.path.join(work, "run"), "--data", folder, "--port", "0",
                      "--threads", "1", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True, env=senv)
m = re.search(r"open http://([^/]+)/\?token=([0-9a-f]+)", p.stdout.readline())
host, token = m.group(1), m.group(2)


def req(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", int(host.split(":")[1]), timeout=300)
    c.request(method, path, body=body, headers={"Host": host, "Authorization": "token " + token})
    resp = c.getresponse()
    data = resp.read()
    c.close()
    return resp.status, data


png = open(os.path.join(folder, "class0", "00.png"), "rb").read()
uid = json.loads(req("POST", "/api/images", png)[1])["id"]
statuses = []


def client(k):
    for i in range(5):
        img = f"d{(7 * k + i) % 100}" if i % 2 else uid
        for path in (f"/api/predict?image={img}", f"/api/project?image={img}&layer=conv1&map={i}",
                     f"/api/activations?image={img}&layer=pool1"):
            statuses.append(req("GET", path)[0])
        statuses.append(req("POST", "/api/images", png)[0])


top9 = json.loads(req("POST", "/api/tasks?kind=top9&layer=conv1&map=2")[1])["id"]
occ = json.loads(req("POST", f"/api/tasks?kind=occlusion&image={uid}")[1])["id"]
clients = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in clients:
    t.start()
for t in clients:
    t.join()
req("DELETE", f"/api/tasks/{occ}")
req("GET", f"/api/tasks/{top9}")
p.send_signal(signal.SIGTERM)
out, err = p.communicate(timeout=300)
check(p.returncode == 0 and "WARNING: ThreadSanitizer" not in err
      and all(st in (200, 201) for st in statuses),
      f"zfnet serve: 4 clients, {len(statuses)} requests, a task run and one cancelled, SIGTERM: "
      f"no race (exit {p.returncode}) {err[-2000:] if p.returncode else ''}")
tl.finish()
