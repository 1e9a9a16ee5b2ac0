#!/usr/bin/python3
"""zfnet serve over HTTP, as the page and a script use it (docs/serve.md):

- the numbers are the library's: /api/predict = `zfnet predict` on the same PNG (classes and
  probabilities), /api/project?format=safetensors = `zfnet deconv --raw` on it, bit for bit,
  for the strongest map, a chosen map and a unit, under each rule; /api/model's layers =
  `zfnet summary`'s; the dataset's items and /api/input's pictures;
- security: no token or a wrong one -> 403 on every route; the token by query (then a cookie,
  the address without it), by cookie, by header; a foreign Host -> 403 (DNS rebinding); a
  cross-origin POST, and a cookie POST without Origin -> 403; '..', '%2e%2e', absolute paths,
  '//', NUL bytes in every parameter -> 4xx; uploads over 16 MiB -> 413, garbage -> 400 naming
  it; a body cut short and idle connections leave the server serving;
- serving: one log line per request (none with --quiet), SIGTERM and SIGINT stop it cleanly
  (exit 0), --bind elsewhere warns, a port in use is one error line.

Usage: serve_check.py ZFNET WORKDIR"""
import atexit
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "torch"))
import testlib as tl  # noqa: E402
import zftorch as zt  # noqa: E402

ZF, WORK = sys.argv[1], os.path.abspath(sys.argv[2])
shutil.rmtree(WORK, ignore_errors=True)
os.makedirs(WORK)
P = lambda *a: os.path.join(WORK, *a)  # noqa: E731


def zfnet(args):
    return tl.run_zfnet(ZF, args, timeout=600)


# ---- a small trained run ----------------------------------------------------------------------
rng = np.random.default_rng(5)
for split, n in (("train", 600), ("test", 120)):
    img, lab = tl.squares(rng, n, background=60)
    tl.write_idx(P(f"{split}-images-idx3-ubyte.gz"), img)
    tl.write_idx(P(f"{split}-labels-idx1-ubyte.gz"), lab)
TRAIN, TEST = P("train-images-idx3-ubyte.gz"), P("test-images-idx3-ubyte.gz")
r = zfnet(["train", "--train", TRAIN, "--test", TEST, "--epochs", "2", "--batch", "32",
           "--snapshot-epochs", "1", "--threads", "2", "-o", P("run")])
tl.check(r.returncode == 0, "a two-epoch run to serve (a snapshot after epoch 1)")
for i in range(2):
    Image.fromarray(np.uint8(rng.integers(0, 255, (40, 36)))).save(P(f"in{i}.png"))


class Server:
    """zfnet serve in the background; its URL, port and token from its one line"""

    def __init__(self, args):
        self.p = subprocess.Popen([ZF, "serve"] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.search(r"open (http://([^/]+)/\?token=([0-9a-f]+))", line)
        if not m:
            self.p.kill()
            raise SystemExit(f"serve printed {line!r}, stderr {self.p.stderr.read()!r}")
        self.url, self.host, self.token = m.group(1), m.group(2), m.group(3)
        self.port = int(self.host.rsplit(":", 1)[1])
        self.count = 0
        atexit.register(lambda: self.p.poll() is None and self.p.kill())  # even if a check raises

    def req(self, method, path, body=None, headers=None, token="header", host=None):
        h = {"Host": self.host if host is None else host}
        if token == "header":
            h["Authorization"] = "token " + self.token
        elif token == "cookie":
                        h["Cookie"] = f"zfnet_token_{self.port}=" + self.token
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.count += 1
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            c.putheader(k, v)
        if body is not None:
            c.putheader("Content-Length", str(len(body)))
        c.endheaders(body)
        resp = c.getresponse()
        data = resp.read()
        c.close()
        return resp.status, dict(resp.getheaders()), data

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        out, err = self.p.communicate(timeout=60)
        return self.p.returncode, out, err


s = Server([P("run"), "--port", "0", "--threads", "2"])

# ---- the model and the dataset ----------------------------------------------------------------
st, _, body = s.req("GET", "/api/model")
model = json.loads(body)
summary = zfnet(["summary", "zfnet-mini"]).stdout
tl.check(st == 200 and [l["name"] for l in model["layers"]] ==
         re.findall(r"^(\w+) +(?:conv|relu|maxpool|lrn|fc|dropout|softmax) ", summary, re.M)
         and model["input"] == [1, 28, 28] and model["classes"] == 10
         and model["data"]["spec"] == TEST and model["data"]["count"] == 120,
         "/api/model: the layers of zfnet summary, the input, classes, the run's test set")
st, _, body = s.req("GET", "/api/data/items?class=3&limit=5&offset=1")
items = json.loads(body)
labels = tl.read_idx(P("test-labels-idx1-ubyte.gz"))
want = [f"d{i}" for i in np.flatnonzero(labels == 3)[1:6]]
tl.check(st == 200 and [it["id"] for it in items["items"]] == want
         and items["total"] == int((labels == 3).sum()), "/api/data/items: class 3, from the 2nd")
st, hd, body = s.req("GET", "/api/input?image=d7")
open(P("d7.png"), "wb").write(body)
im = Image.open(P("d7.png"))
tl.check(st == 200 and hd.get("Content-Type") == "image/png" and im.size[0] % 28 == 0,
         f"/api/input: a PNG of the prepared image ({im.size})")

# ---- the numbers are the library's ------------------------------------------------------------
weights = P("run", "best.safetensors")
ids = []
for i in range(2):
    st, _, body = s.req("POST", "/api/images", body=open(P(f"in{i}.png"), "rb").read(),
                        headers={"Content-Type": "image/png"})
    ids.append(json.loads(body).get("id") if st == 201 else None)
tl.check(all(ids), f"POST /api/images: an id per PNG ({ids})")
pred = zfnet(["predict", "--weights", weights, P("in0.png"), "--threads", "2"]).stdout
names = model["class_names"]
st, _, body = s.req("GET", f"/api/predict?image={ids[0]}")
top = json.loads(body)
mine = "  ".join(f"{names[t['class']]} {t['p']:.4f}" for t in top)
tl.check(st == 200 and mine in pred, f"/api/predict = zfnet predict ({mine!r} in {pred!r})")
cases = [("conv3", {}), ("pool2", {"map": "5"}), ("conv2", {"map": "3", "y": "6", "x": "7"})]
for rule in ("deconvnet", "guided", "gradient"):
    for layer, sel in cases:
        q = "&".join(f"{k}={v}" for k, v in sel.items())
        st, hd, body = s.req("GET", f"/api/project?image={ids[1]}&layer={layer}&rule={rule}"
                                    f"&format=safetensors&{q}")
        open(P("served.safetensors"), "wb").write(body)
        opt = (["--map", sel["map"]] if "y" not in sel and "map" in sel else
               ["--unit", f"{sel['map']},{sel['y']},{sel['x']}"] if "y" in sel else [])
        r = zfnet(["deconv", "--weights", weights, "--layer", layer, "--rule", rule, "--input",
                   P("in1.png"), "--raw", P("cli.safetensors"), "--threads", "2"] + opt)
        a, ma = zt.st_load(P("served.safetensors"))
        b, mb = zt.st_load(P("cli.safetensors"))
        same = (st == 200 and r.returncode == 0 and sorted(a) == sorted(b)
                and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)
                and all(ma.get(k) == mb.get(k) for k in ("layer", "rule", "lrn")))
        tl.check(same, f"/api/project {layer} {rule} {sel or 'strongest'} = zfnet deconv --raw, "
                       f"bit for bit")
st, hd, body = s.req("GET", f"/api/project?image={ids[1]}&layer=conv5")
tl.check(st == 200 and body[:8] == b"\x89PNG\r\n\x1a\n", "/api/project: a PNG by default")
for klass in (None, "3"):
    st, _, body = s.req("GET", f"/api/gradcam?image={ids[1]}&layer=conv4&format=safetensors"
                               + (f"&class={klass}" if klass else ""))
    open(P("served.safetensors"), "wb").write(body)
    r = zfnet(["deconv", "--weights", weights, "--layer", "conv4", "--rule", "gradcam", "--input",
               P("in1.png"), "--raw", P("cli.safetensors"), "--threads", "2"]
              + (["--class", klass] if klass else []))
    a, ma = zt.st_load(P("served.safetensors"))
    b, mb = zt.st_load(P("cli.safetensors"))
    tl.check(st == 200 and r.returncode == 0 and sorted(a) == sorted(b) == ["class", "gradcam"]
             and all(np.array_equal(a[k], b[k]) for k in a) and ma["layer"] == mb["layer"],
             f"/api/gradcam class {klass or 'predicted'} = zfnet deconv --rule gradcam --raw")
# the activations of a dataset image: prepared here as the checkpoint says, run by zfnet forward
ck, meta = zt.st_load(weights)
open(P("model.cfg"), "w").write(meta["model"])
px = tl.read_idx(TEST)[5].astype(np.float32)[None]
x = ((px - ck["data.mean"]) * np.float32(float(meta["input_scale"])))[None].astype(np.float32)
zt.st_save(P("x.safetensors"), {"input": x})
r = zfnet(["forward", "--model", P("model.cfg"), "--weights", weights, "--input",
           P("x.safetensors"), "--output", P("y.safetensors"), "--layers", "conv2,pool5"])
y, _ = zt.st_load(P("y.safetensors"))
for layer in ("conv2", "pool5"):
    st, _, body = s.req("GET", f"/api/activations?image=d5&layer={layer}")
    act = json.loads(body)
    want = y[layer][0].reshape(y[layer].shape[1], -1).max(axis=1)
    st2, _, sheet = s.req("GET", f"/api/activations?image=d5&layer={layer}&format=png")
    open(P("sheet.png"), "wb").write(sheet)
    size = Image.open(P("sheet.png")).size
    tl.check(st == st2 == 200 and r.returncode == 0 and act["maps"] == len(want)
             and np.array_equal(np.float32(act["max"]), want)
             and size == (act["sheet"]["width"], act["sheet"]["height"])
             and act["sheet"]["cols"] * act["sheet"]["rows"] >= act["maps"],
             f"/api/activations {layer}: each map's maximum = zfnet forward's, the sheet {size}")

# ---- the run's snapshots: every view with an epoch's weights ------------------------------------
snaps = model.get("snapshots", [])
st, _, body = s.req("GET", f"/api/project?image={ids[1]}&layer=conv3&format=safetensors&snapshot=0")
open(P("served.safetensors"), "wb").write(body)
r = zfnet(["deconv", "--weights", P("run", "epoch-1.safetensors"), "--layer", "conv3", "--input",
           P("in1.png"), "--raw", P("cli.safetensors"), "--threads", "2"])
a, b = zt.st_load(P("served.safetensors"))[0], zt.st_load(P("cli.safetensors"))[0]
tl.check([x["epoch"] for x in snaps] == [1, 2] and st == 200 and r.returncode == 0
         and np.array_equal(a["projection"], b["projection"]),
         f"snapshots {snaps}: snapshot 0's projection = zfnet deconv on epoch-1.safetensors")
f0, f1 = (s.req("GET", f"/api/filters?snapshot={k}") for k in (0, 1))
tl.check(f0[0] == f1[0] == 200 and f0[2] != f1[2] and f0[2][:4] == b"\x89PNG",
         "/api/filters: layer 1's filters, different at each snapshot")
tl.check(s.req("GET", f"/api/predict?image={ids[0]}&snapshot=2")[0] == 400
         and s.req("GET", f"/api/predict?image={ids[0]}")[0] == 200,
         "a snapshot beyond the run's: 400; none: the served weights again")

# ---- tasks: top-9 and occlusion, as zfnet top9 and zfnet occlusion compute them --------------


def task(srv, query):
    """start a task and poll it to its end; its last state"""
    st, _, body = srv.req("POST", "/api/tasks?" + query)
    t = json.loads(body)
    if st != 202:
        return t
    for _ in range(600):
        t = json.loads(srv.req("GET", f"/api/tasks/{t['id']}")[2])
        if t["state"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    return t


t = task(s, "kind=top9&layer=conv3&map=5")
r = zfnet(["top9", "--weights", weights, "--data", TEST, "--layers", "conv3", "--maps", "5",
           "-o", P("top9"), "--threads", "2"])
cli = json.load(open(P("top9", "top9.json")))["conv3"]["maps"][0]["top"]
got = t.get("result", {}).get("top", [])
tl.check(t["state"] == "done" and r.returncode == 0 and t["done"] == t["total"] == 120
         and [(e["index"], e["y"], e["x"], e["value"]) for e in got] ==
         [(e["index"], e["y"], e["x"], e["value"]) for e in cli],
         f"a top-9 task of conv3 map 5 = zfnet top9's 9 ({len(got)}), progress {t['done']}/120")
st, _, body = s.req("GET", f"/api/tasks/{t['id']}/png")
open(P("top9.png"), "wb").write(body)
tl.check(st == 200 and Image.open(P("top9.png")).size[0] > 9 * t["result"]["patch"],
         "the top-9 task's picture: projections over their patches")
t = task(s, f"kind=occlusion&image={ids[1]}&layer=conv3&map=5")
r = zfnet(["occlusion", "--weights", weights, "--input", P("in1.png"), "--layer", "conv3",
           "--map", "5", "-o", P("occ"), "--raw", P("occ.safetensors"), "--threads", "2"])
raw, _ = zt.st_load(P("occ.safetensors"))
res = t.get("result", {})
n = (res.get("grid", {}).get("ny", 0), res.get("grid", {}).get("nx", 0))
tl.check(t["state"] == "done" and r.returncode == 0 and raw["prob"].shape[1:] == n
         and np.array_equal(np.float32(res["prob_map"]), raw["prob"][0].ravel())
         and np.array_equal(np.float32(res["activation_map"]), raw["activation"][0].ravel())
         and res["label_map"] == raw["label"][0].ravel().tolist(),
         f"an occlusion task = zfnet occlusion --raw: maps {n}, bit for bit")
for _ in range(10):  # refused before taking a slot: a task still starts afterwards
    s.req("POST", "/api/tasks?kind=top9&layer=conv3&map=5&snapshot=9")
t = task(s, "kind=top9&layer=conv3&map=4")
tl.check(t["state"] == "done", f"10 tasks refused (snapshot 9): the next one runs ({t['state']})")
st, _, body = s.req("POST", "/api/tasks?kind=top9&layer=conv3")
st2, _, _ = s.req("GET", "/api/tasks/t0123456789abcdef")
st3, _, _ = s.req("POST", "/api/tasks?kind=occlusion&image=u0000000000000000")
time.sleep(0.3)
tl.check(st == 400 and st2 == 404, f"a top-9 task without a map: 400 ({st}); an unknown task: 404")

# ---- security ---------------------------------------------------------------------------------
for path in ("/", "/api/model", f"/api/predict?image={ids[0]}", "/api/data/items"):
    st1 = s.req("GET", path, token=None)[0]
    st2 = s.req("GET", path, token=None, headers={"Authorization": "token " + "0" * 32})[0]
    st3 = s.req("GET", path, token=None, headers={"Cookie": f"zfnet_token_{s.port}=" + "1" * 32})[0]
    tl.check(st1 == st2 == st3 == 403, f"{path}: no token, a wrong one, a wrong cookie: 403")
st, hd, _ = s.req("GET", "/?token=" + s.token, token=None)
tl.check(st == 303 and hd.get("Location") == "/" and f"zfnet_token_{s.port}={s.token}" in
         hd.get("Set-Cookie", "") and "HttpOnly" in hd["Set-Cookie"]
         and "SameSite=Strict" in hd["Set-Cookie"],
         "?token= on the page: a cookie (HttpOnly, SameSite=Strict) and the address without it")
st, hd, body = s.req("GET", "/", token="cookie")
tl.check(st == 200 and b"<title>zfnet serve</title>" in body and "Content-Security-Policy" in hd,
         "the page with the cookie, a Content-Security-Policy")
tl.check(s.req("GET", "/api/model?token=" + s.token, token=None)[0] == 200,
         "the token in a script's query")
for host in (f"evil.example:{s.port}", "127.0.0.1", f"localhost:{s.port + 1}", "",
             f"127.0.0.1.nip.io:{s.port}"):
    tl.check(s.req("GET", "/api/model", host=host)[0] in (400, 403),
             f"Host {host!r}: refused")
tl.check(s.req("GET", "/api/model", host=f"localhost:{s.port}")[0] == 200, "Host localhost: ok")
png = open(P("in0.png"), "rb").read()
st = s.req("POST", "/api/images", body=png, token="cookie",
           headers={"Origin": "http://evil.example", "Content-Type": "image/png"})[0]
st2 = s.req("POST", "/api/images", body=png, token="cookie", headers={"Content-Type": "image/png"})[0]
st3 = s.req("POST", "/api/images", body=png, token="cookie",
            headers={"Origin": f"http://{s.host}", "Content-Type": "image/png"})[0]
st4 = s.req("GET", "/api/model", headers={"Origin": "http://evil.example"})[0]
tl.check(st == 403 and st2 == 403 and st3 == 201 and st4 == 403,
         f"POST: a foreign Origin 403 ({st}), a cookie without Origin 403 ({st2}), the page's "
         f"own 201 ({st3}); a foreign Origin on GET 403 ({st4})")
bad_paths = ["/../etc/passwd", "/api/../api/model", "/%2e%2e/etc/passwd", "/api/%2e%2e/model",
             "//etc/passwd", "/etc/passwd", "/api/model%00", "/api/images/../../x"]
for path in bad_paths:
    st = s.req("GET", path)[0]
    tl.check(400 <= st < 500, f"path {path!r}: {st}")
values = ["../../etc/passwd", "%2e%2e%2fx", "/etc/passwd", "u0123456789abcdef%00x", "d1%00",
          "conv1%00", "a" * 300]
for v in values:
    for param in ("image", "layer", "rule", "format", "map", "y", "x", "class", "offset", "limit"):
        q = {"image": ids[0], "layer": "conv1", param: v}
        st = s.req("GET", "/api/project?" + "&".join(f"{k}={w}" for k, w in q.items()))[0]
        if not 400 <= st < 500:
            tl.check(False, f"{param}={v!r}: {st}, not 4xx")
tl.check(True, f"{len(values)} hostile values in each of 10 parameters: 4xx")
st, _, body = s.req("POST", "/api/images", body=b"\x89PNG\r\n\x1a\n" + os.urandom(500),
                    headers={"Content-Type": "image/png"})
tl.check(st == 400 and "upload" in json.loads(body)["error"], f"garbage: 400 ({body[:100]!r})")
big = socket.create_connection(("127.0.0.1", s.port))  # refused on its headers, unread
big.sendall(f"POST /api/images HTTP/1.1\r\nHost: {s.host}\r\nAuthorization: token {s.token}\r\n"
            f"Content-Length: {17 << 20}\r\n\r\n".encode() + b"x" * 65536)
head = big.recv(200)
big.close()
noauth = socket.create_connection(("127.0.0.1", s.port))
noauth.sendall(f"POST /api/images HTTP/1.1\r\nHost: {s.host}\r\nContent-Length: 1000000\r\n"
               f"Expect: 100-continue\r\n\r\n".encode())
head2 = noauth.recv(200)
noauth.close()
tl.check(head.startswith(b"HTTP/1.1 413") and head2.startswith(b"HTTP/1.1 403"),
         f"refused on the headers, before any body: 17 MiB 413, no token 403 (not 100 Continue)"
         f" ({head[:12]!r}, {head2[:12]!r})")
form = (b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\n"
        b"Content-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--XyZ--\r\n")
st, _, body = s.req("POST", "/api/images", body=form,
                    headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
tl.check(st == 201 and json.loads(body)["id"].startswith("u"), "a multipart upload")
tl.check(s.req("PUT", "/api/images", body=png)[0] == 405, "PUT: 405")
tl.check(s.req("POST", f"/api/predict?image={ids[0]}")[0] == 405
         and s.req("GET", "/api/images")[0] == 405, "a route's other method: 405")
st, hd, body = s.req("HEAD", "/api/model")
tl.check(st == 200 and body == b"", "HEAD: GET's status and headers, no body")
tl.check(s.req("GET", "/api/nothing")[0] == 404, "an unknown route: 404")
tl.check(s.req("GET", "/api/predict?image=u0000000000000000")[0] == 404, "an unknown image: 404")
# a body cut short, and idle connections: the server goes on
cut = socket.create_connection(("127.0.0.1", s.port))
cut.sendall(f"POST /api/images HTTP/1.1\r\nHost: {s.host}\r\nAuthorization: token {s.token}\r\n"
            f"Content-Length: 100000\r\n\r\n".encode() + png[:100])
cut.close()
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(
    resource.RLIMIT_NOFILE)[1])))
idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(1000)]
st = s.req("GET", f"/api/predict?image={ids[0]}")[0]
for c in idle:
    c.close()
tl.check(st == 200, "a body cut short and 1,000 idle connections: still serving")
rc, out, err = s.stop(signal.SIGTERM)
log = [line for line in err.splitlines() if line.startswith("zfnet serve: ")]
tl.check(rc == 0 and "stopped (SIGTERM)" in out and len(log) >= s.count
                  and all(re.match(r"zfnet serve: [A-Z?]+ (/\S*|\(a path refused\)) \d{3} \d+ B [\d.]+ ms",
                          line) for line in log)
         and any("(a path refused)" in line for line in log)
         and s.token not in err,
         f"SIGTERM: exit 0, one log line per request ({len(log)}), no token in the log")

# ---- cancelling: on request, and when the page goes away (60,000 images to scan) -------------
c = Server(["--weights", weights, "--data", "fashion-mnist", "--port", "0", "--quiet",
            "--task-idle", "0.5"])
st, _, body = c.req("POST", "/api/tasks?kind=top9&layer=conv2&map=1")
tid = json.loads(body)["id"]
for _ in range(400):
    t = json.loads(c.req("GET", f"/api/tasks/{tid}")[2])
    if t["done"] > 0 or t["state"] not in ("queued", "running"):
        break
    time.sleep(0.02)
st, _, body = c.req("DELETE", f"/api/tasks/{tid}")
for _ in range(200):
    t = json.loads(c.req("GET", f"/api/tasks/{tid}")[2])
    if t["state"] != "running":
        break
    time.sleep(0.05)
tl.check(st == 200 and t["state"] == "cancelled" and 0 < t["done"] < 60000
         and "on request" in t.get("error", ""),
         f"DELETE /api/tasks/ID: cancelled after {t['done']} of 60,000 images ({t['state']})")
st, _, body = c.req("POST", "/api/tasks?kind=top9&layer=conv2&map=2")
tid = json.loads(body)["id"]
time.sleep(2)
t = json.loads(c.req("GET", f"/api/tasks/{tid}")[2])
tl.check(t["state"] == "cancelled" and "went away" in t.get("error", "") and t["done"] < 60000,
         f"a task nobody polls for --task-idle 0.5 s: cancelled ({t['state']}, {t['done']})")
st, _, _ = c.req("POST", "/api/tasks?kind=top9&layer=conv2&map=3",
                 token="cookie", headers={"Origin": "http://evil.example"})
tl.check(st == 403, f"a cross-origin task: 403 ({st})")
rc, _, err = c.stop()
tl.check(rc == 0, f"stopped with tasks finished and cancelled ({rc}) {err[-200:]}")

# ---- a burst beyond the queue: 503, the rest answered ---------------------------------------
b = Server([P("run"), "--port", "0", "--quiet"])
burst, gate = [], threading.Barrier(64)


def one(k):
    c = http.client.HTTPConnection("127.0.0.1", b.port, timeout=120)
    gate.wait()
    c.request("GET", f"/api/project?image=d{k}&layer=conv5&rule=guided",
              headers={"Host": b.host, "Authorization": "token " + b.token})
    burst.append(c.getresponse().status)


clients = [threading.Thread(target=one, args=(k,)) for k in range(64)]
for th in clients:
    th.start()
for th in clients:
    th.join()
tl.check(set(burst) == {200, 503} and b.req("GET", "/api/model")[0] == 200,
         f"64 projections at once: {burst.count(200)} answered, {burst.count(503)} 503 (the "
         f"queue holds 16), then serving as before")
b.stop()

# ---- an ONNX file: zfnet export's, served as the checkpoint is ------------------------------
r = zfnet(["export", "--weights", weights, "-o", P("model.onnx")])
o = Server(["--weights", P("model.onnx"), "--data", TEST, "--port", "0", "--quiet"])
a1 = json.loads(o.req("GET", "/api/predict?image=d3")[2])
st, _, body = o.req("GET", "/api/project?image=d3&layer=conv3&format=safetensors")
open(P("served.safetensors"), "wb").write(body)
o.stop()
c = Server([P("run"), "--port", "0", "--quiet"])
a2 = json.loads(c.req("GET", "/api/predict?image=d3")[2])
st2, _, body2 = c.req("GET", "/api/project?image=d3&layer=conv3&format=safetensors")
c.stop()
open(P("served2.safetensors"), "wb").write(body2)
p1, p2 = zt.st_load(P("served.safetensors"))[0], zt.st_load(P("served2.safetensors"))[0]
tl.check(r.returncode == 0 and st == st2 == 200 and [t["class"] for t in a1] ==
         [t["class"] for t in a2] and np.array_equal(p1["projection"], p2["projection"]),
         "an ONNX export served: the checkpoint's predictions and projections")

# ---- a run folder's own top-9 (zfnet top9 into RUN/top9): shown without a scan ---------------
r = zfnet(["top9", "--weights", weights, "--data", TEST, "--layers", "conv3,conv4", "--maps", "5,7",
           "-o", P("run", "top9"), "--threads", "2"])
t9 = Server([P("run"), "--port", "0", "--quiet"])
index = json.loads(t9.req("GET", "/api/model")[2])["top9"]
st, _, body = t9.req("GET", "/api/top9?layer=conv3&map=5")
cli = json.load(open(P("run", "top9", "top9.json")))["conv3"]["maps"][0]["top"]
got = json.loads(body).get("top", []) if st == 200 else []
st2, _, png9 = t9.req("GET", "/api/top9?layer=conv3&map=5&format=png")
st3 = t9.req("GET", "/api/top9?layer=conv3&map=6")[0]
tl.check(r.returncode == 0 and index == {"conv3": [5, 7], "conv4": [5, 7]} and st == 200
         and [(e["index"], e["value"]) for e in got] == [(e["index"], e["value"]) for e in cli]
         and st2 == 200 and png9[:4] == b"\x89PNG" and st3 == 404,
         f"the run's top9/: listed in /api/model ({index}), its entries and picture; another map "
         f"404 ({st3})")
rc, _, _ = t9.stop()
j9 = json.load(open(P("run", "top9", "top9.json")))
j9["conv3"]["maps"][0]["top"][0]["proj_png"] = "../../../../etc/passwd"
json.dump(j9, open(P("run", "top9", "top9.json"), "w"))
t9 = Server([P("run"), "--port", "0", "--quiet"])
st, _, body = t9.req("GET", "/api/top9?layer=conv3&map=5&format=png")
tl.check(st == 500 and b"root:" not in body, f"a top9.json naming a file outside: refused ({st})")
t9.stop()

# ---- the command line -------------------------------------------------------------------------
q = Server(["--weights", weights, "--data", TEST, "--port", "0", "--quiet", "--bind", "0.0.0.0"])
st = q.req("GET", "/api/model")[0]
rc, out, err = q.stop(signal.SIGINT)
tl.check(st == 200 and rc == 0 and "warning: listening on 0.0.0.0" in err
         and "zfnet serve: GET" not in err,
         f"--bind 0.0.0.0 warns; --quiet: no log; SIGINT: exit 0 (status {st}, exit {rc}, "
         f"stderr {err[-300:]!r})")
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
port = busy.getsockname()[1]
r = zfnet(["serve", P("run"), "--port", str(port)])
busy.close()
tl.check(r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
         and f"port {port}" in r.stderr, f"a port in use: one line ({r.stderr.strip()!r})")
for args, code, frag in ((["serve"], 2, "RUN_DIR or --weights"),
                         (["serve", P("nowhere")], 1, "nowhere"),
                         (["serve", TRAIN], 1, "not a folder"),
                         (["serve", "--weights", P("in0.png")], 1, "in0.png"),
                         (["serve", P("run"), "--bind", "example.com"], 1, "example.com")):
    r = zfnet(args)
    problems = tl.clean_failure(r, code, need=(frag,))
    tl.check(not problems, f"zfnet {' '.join(args[1:])}: {problems or 'one line'}")
tl.finish()
