#!/usr/bin/python3
"""zfnet serve under measurement: latency of its routes, then load and faults.

Latency: for zfnet-mini (a run folder, the demo's by default) and for zfnet at 224x224 (weights
from `zfnet init zfnet`, photo-like JPEGs from bench/make_photos.py uploaded), each of a layer's
activations (conv5, JSON), a projection (conv5's strongest map, PNG) and a prediction, asked
100 times, each time for another image than the time before (no forward pass to reuse):
medians and 95th percentiles, end to end (the client's clock around the request) and server
side (the Server-Timing header: the job's time at work), 2 compute threads.

Load (zfnet-mini): 16 client threads sending mixed requests (predictions, projections,
activations, uploads, dataset pictures) for --seconds, while a 17th misbehaves: connections
closed mid-request, garbage and truncated bodies, 17 MiB uploads. Counted: every status (503 is
the only failure allowed), latencies, the server's resident memory each second after a warm-up.
Then 1,000 connections opened and left idle: a request still answered, and the memory after
they are closed.

Usage: bench/serve.py ZFNET [--run zfnet-demo] [--requests 100] [--seconds 60] [--work DIR]
                            [--json FILE]"""
import argparse
import http.client
import json
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Server:
    def __init__(self, zfnet, args):
        self.p = subprocess.Popen([zfnet, "serve", "--port", "0", "--quiet", "--threads", "2"] +
                                  args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        m = re.search(r"open http://([^/]+)/\?token=([0-9a-f]+)", self.p.stdout.readline())
        if not m:
            raise SystemExit("zfnet serve did not start: " + self.p.stderr.read())
        self.host, self.token = m.group(1), m.group(2)
        self.port = int(self.host.rsplit(":", 1)[1])

    def req(self, method, path, body=None, ctype=None):
        h = {"Host": self.host, "Authorization": "token " + self.token}
        if ctype:
            h["Content-Type"] = ctype
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        t0 = time.perf_counter()
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        e2e = 1e3 * (time.perf_counter() - t0)
        c.close()
        m = re.search(r"compute;dur=([\d.]+)", r.getheader("Server-Timing") or "")
        return r.status, data, e2e, float(m.group(1)) if m else None

    def rss_mib(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.p.terminate()
        self.p.communicate(timeout=60)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def latency(srv, ids, layer, n):
    """each route n times, never twice in a row on one image"""
    out = {}
    routes = {"activations": f"/api/activations?layer={layer}&image=",
              "projection": f"/api/project?layer={layer}&image=",
              "prediction": "/api/predict?image="}
    for name, path in routes.items():
        e2e, server = [], []
        for i in range(n + 5):
            st, _, t, c = srv.req("GET", path + ids[i % len(ids)])
            if st != 200:
                raise SystemExit(f"{name}: status {st}")
            if i >= 5:  # after a warm-up
                e2e.append(t), server.append(c)
        out[name] = {"e2e_median_ms": statistics.median(e2e), "e2e_p95_ms": pct(e2e, 0.95),
                     "server_median_ms": statistics.median(server),
                     "server_p95_ms": pct(server, 0.95)}
    return out


def load(srv, ids, seconds):
    statuses, lat, rss, stop = {}, [], [], time.time() + seconds
    lock = threading.Lock()
    png = open(os.path.join(HERE, "..", "docs", "images", "report.png"), "rb").read()

    def client(k):
        rng = random.Random(k)
        while time.time() < stop:
            img = rng.choice(ids) if rng.random() < 0.5 else f"d{rng.randrange(1000)}"
            kind = rng.randrange(5)
            if kind == 0:
                args = ("GET", f"/api/predict?image={img}")
            elif kind == 1:
                args = ("GET", f"/api/project?image={img}&layer=conv{rng.randrange(1, 6)}")
            elif kind == 2:
                args = ("GET", f"/api/activations?image={img}&layer=pool2")
            elif kind == 3:
                args = ("GET", f"/api/input?image={img}")
            else:
                args = ("POST", "/api/images", png, "image/png")
            try:
                st, _, t, _ = srv.req(*args)
            except OSError as e:
                st, t = f"error {e.__class__.__name__}", 0
            with lock:
                statuses[st] = statuses.get(st, 0) + 1
                lat.append(t)

    def faults():
        rng = random.Random(99)
        while time.time() < stop:
            s = socket.create_connection(("127.0.0.1", srv.port))
            auth = f"Host: {srv.host}\r\nAuthorization: token {srv.token}\r\n"
            kind = rng.randrange(4)
            if kind == 0:  # asks for a projection, then goes away
                s.sendall(f"GET /api/project?image=d1&layer=conv5 HTTP/1.1\r\n{auth}\r\n".encode())
            elif kind == 1:  # garbage as an image
                body = os.urandom(4000)
                s.sendall(f"POST /api/images HTTP/1.1\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
                          .encode() + body)
                s.recv(1000)
            elif kind == 2:  # a body cut short
                s.sendall(f"POST /api/images HTTP/1.1\r\n{auth}Content-Length: 90000\r\n\r\n"
                          .encode() + os.urandom(500))
            else:  # too big
                s.sendall(f"POST /api/images HTTP/1.1\r\n{auth}Content-Length: {17 << 20}\r\n\r\n"
                          .encode())
                s.recv(1000)
            s.close()
            time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    threads.append(threading.Thread(target=faults))
    for t in threads:
        t.start()
    t0 = time.time()
    while time.time() < stop:
        time.sleep(1)
        if time.time() - t0 > min(10, seconds / 3):  # after the warm-up
            rss.append(srv.rss_mib())
    for t in threads:
        t.join()
    return {"statuses": {str(k): v for k, v in statuses.items()}, "requests": len(lat),
            "e2e_median_ms": statistics.median(lat), "e2e_p95_ms": pct(lat, 0.95),
            "rss_min_mib": min(rss), "rss_max_mib": max(rss)}


def idle(srv, ids):
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(
        resource.RLIMIT_NOFILE)[1])))
    before = srv.rss_mib()
    conns = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(1000)]
    during = srv.rss_mib()
    st, _, t, _ = srv.req("GET", f"/api/predict?image={ids[0]}")
    for c in conns:
        c.close()
    time.sleep(2)
    return {"status_with_1000_idle": st, "e2e_ms": t, "rss_before_mib": before,
            "rss_with_1000_idle_mib": during, "rss_after_mib": srv.rss_mib()}


def uploads(srv, files):
    ids = []
    for f in files:
        st, body, _, _ = srv.req("POST", "/api/images", open(f, "rb").read(), "image/jpeg")
        if st != 201:
            raise SystemExit(f"upload {f}: {st} {body[:200]}")
        ids.append(json.loads(body)["id"])
    return ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("zfnet")
    ap.add_argument("--run", default="zfnet-demo")
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--work", default="bench-serve")
    ap.add_argument("--json")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    photos = os.path.join(a.work, "photos")
    if not os.path.isdir(photos):
        subprocess.run([sys.executable, os.path.join(HERE, "make_photos.py"), photos, "--count",
                        "10"], check=True)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(photos) for f in fs)
    weights = os.path.join(a.work, "zfnet.safetensors")
    if not os.path.exists(weights):
        subprocess.run([a.zfnet, "init", "zfnet", "--init", "he", "-o", weights], check=True,
                       stdout=subprocess.DEVNULL)
    result = {}
    big = Server(a.zfnet, ["--weights", weights])
    ids = uploads(big, files)
    result["zfnet"] = latency(big, ids, "conv5", a.requests)
    result["zfnet"]["rss_mib"] = big.rss_mib()
    big.stop()
    mini = Server(a.zfnet, [a.run])
    ids = uploads(mini, files)
    result["zfnet-mini"] = latency(mini, ids, "conv5", a.requests)
    result["load"] = load(mini, ids, a.seconds)
    result["idle"] = idle(mini, ids)
    mini.stop()
    print(f"{'model':<11} {'route':<12} {'end to end: median':>19} {'p95':>8} "
          f"{'server: median':>15} {'p95':>8}")
    for model in ("zfnet-mini", "zfnet"):
        for route, v in result[model].items():
            if isinstance(v, dict):
                print(f"{model:<11} {route:<12} {v['e2e_median_ms']:>16.1f} ms {v['e2e_p95_ms']:>5.1f}"
                      f" ms {v['server_median_ms']:>12.1f} ms {v['server_p95_ms']:>5.1f} ms")
    ld, il = result["load"], result["idle"]
    print(f"load: {ld['requests']} requests in {a.seconds} s by 16 clients (+ faults): "
          f"statuses {ld['statuses']}, median {ld['e2e_median_ms']:.1f} ms, "
          f"p95 {ld['e2e_p95_ms']:.1f} ms, resident {ld['rss_min_mib']:.0f}.."
          f"{ld['rss_max_mib']:.0f} MiB after the warm-up")
    print(f"1,000 idle connections: a request answered {il['status_with_1000_idle']} in "
          f"{il['e2e_ms']:.1f} ms; resident {il['rss_before_mib']:.0f} -> "
          f"{il['rss_with_1000_idle_mib']:.0f} -> {il['rss_after_mib']:.0f} MiB")
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
