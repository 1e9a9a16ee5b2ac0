"""Helpers shared by the end-to-end tests: running zfnet, judging its failures, recording checks,
generated data."""
import gzip
import os
import resource
import struct
import subprocess

import numpy as np

failures = []


def check(ok, what):
    """Print and record one check; returns ok."""
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)
    return ok


def finish():
    """Exit 1 if any check failed."""
    print("FAILED: " + "; ".join(failures) if failures else "PASSED")
    raise SystemExit(1 if failures else 0)


# ---- running zfnet -------------------------------------------------------------------------
TIMED_OUT = -999   # the returncode run_zfnet gives a run it killed at its timeout
FAILURE = 1        # zfnet's exit status for a bad file or a library error (cli_error)
USAGE = 2          # ... for a usage error: an unknown option or command, a missing or extra
                   # argument, a bad option value (cli_usage_error, the option parsers)
VM_LIMIT = 1 << 30  # the address-space limit of limit_vm runs: 1 GiB


def run_zfnet(zfnet, args, timeout=300, limit_vm=False, sanitized=False, echo=False, tail=None):
    """zfnet ARGS (each made a str), stdout and stderr captured as text; never raises for a slow
    or crashing run.

    timeout: seconds (None: none); a run past it is killed and comes back with returncode
    TIMED_OUT and 'timed out after N s' on stderr. limit_vm: the run gets VM_LIMIT of address
    space (RLIMIT_AS), so that a file claiming more than it holds must be refused before
    anything is allocated; not in a sanitized build (`sanitized`: ASan reserves terabytes of
    address space at start and would not start under it). echo: print the command, its exit
    status, its stdout (the last `tail` characters) and its stderr."""
    args = [str(a) for a in args]

    def pre():
        if limit_vm and not sanitized:
            resource.setrlimit(resource.RLIMIT_AS, (VM_LIMIT, VM_LIMIT))
    try:
        r = subprocess.run([zfnet] + args, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=pre if limit_vm else None)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        r = subprocess.CompletedProcess([zfnet] + args, TIMED_OUT, out or "",
                                        f"timed out after {timeout} s\n")
    if echo:
        out = r.stdout if tail is None else r.stdout[-tail:]
        print("$ zfnet " + " ".join(args) + f"  -> {r.returncode}\n{out}{r.stderr}")
    return r


def run(zfnet, args, tail=None):
    """zfnet ARGS echoed (the last `tail` characters of stdout): run_zfnet without a timeout."""
    return run_zfnet(zfnet, args, timeout=None, echo=True, tail=tail)


# ---- a clean failure ------------------------------------------------------------------------
# a sanitizer's report (ASan, LSan, TSan: "==PID==ERROR: AddressSanitizer: ..."; UBSan:
# "FILE:LINE:COL: runtime error: ...") or a Python traceback in a run's stderr
CRASH_MARKS = ("Sanitizer:", "runtime error:", "Traceback (most recent call last)")


def snapshot(*roots):
    """What is under the folders `roots` now (links not followed), for left_behind: (roots,
    {path: None for a folder, (size, mtime_ns) for anything else})."""
    entries = {}
    for root in roots:
        for d, dirs, files in os.walk(root):
            for n in dirs:
                entries[os.path.join(d, n)] = None
            for n in files:
                st = os.lstat(os.path.join(d, n))
                entries[os.path.join(d, n)] = (st.st_size, st.st_mtime_ns)
    return roots, entries


def left_behind(before):
    """The paths under a snapshot's folders that are new or changed since it was taken."""
    roots, old = before
    _, now = snapshot(*roots)
    return sorted(p for p, v in now.items() if p not in old or (v is not None and v != old[p]))


def clean_failure(r, code, need=(), any_of=(), gone=(), since=None):
    """The problems that keep a run_zfnet result from being a clean failure; [] when it is one.

    A clean failure: exit status `code` (FAILURE or USAGE: the test says which); no crash (no
    signal, no timeout, no sanitizer report or traceback); stderr exactly one line that starts
    'zfnet: ' or 'zfnet CMD: ' (CMD the command run) and holds `need` (a string, or every
    string of a tuple) and at least one string of `any_of` if given; nothing left behind: no
    path of `gone` exists
    and, with `since` (a snapshot taken before the run), nothing under its folders is new or
    changed (no output, no partial or temporary file)."""
    problems = []
    if r.returncode == TIMED_OUT:
        problems.append("timed out")
    elif r.returncode < 0:
        problems.append(f"killed by signal {-r.returncode}")
    elif r.returncode != code:
        problems.append(f"exit {r.returncode}, not {code}")
    problems += [f"a crash report ({m!r})" for m in CRASH_MARKS if m in r.stderr]
    lines = r.stderr.strip().splitlines()
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines, not 1")
    line = lines[0] if lines else ""
    cmd = r.args[1] if isinstance(r.args, list) and len(r.args) > 1 else ""
    if not (line.startswith("zfnet: ") or (cmd and line.startswith(f"zfnet {cmd}: "))):
        problems.append(f"the line does not start 'zfnet: ' or 'zfnet {cmd}: '")
    problems += [f"no {n!r}" for n in ((need,) if isinstance(need, str) else need)
                 if n not in line]
    if any_of and not any(f in line for f in any_of):
        problems.append("none of " + " / ".join(repr(f) for f in any_of))
    left = [g for g in gone if os.path.lexists(g)]
    if since is not None:
        left += [p for p in left_behind(since) if p not in left]
    if left:
        problems.append(f"left behind: {left[:5]}" + (f" and {len(left) - 5} more"
                                                      if len(left) > 5 else ""))
    return problems


def fails_cleanly(zfnet, args, code, need=(), any_of=(), gone=(), watch=(), **run_kw):
    """Run zfnet ARGS (run_zfnet's keywords) and judge it by clean_failure, the folders `watch`
    snapshotted before; (problems, result)."""
    before = snapshot(*watch) if watch else None
    r = run_zfnet(zfnet, args, **run_kw)
    return clean_failure(r, code, need, any_of, gone, before), r


def squares(rng, n, background=90):
    """n 28x28 images whose class k is a bright 6x6 square at the k-th of 10 positions on
    noise (the position is the class, so no mirroring in training); (images, labels)."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    img = rng.integers(0, background, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        y, x = 3 + 8 * (k // 4), 2 + 6 * (k % 4)
        img[i, y:y + 6, x:x + 6] = 255
    return img, labels


def write_idx(path, arr):
    """An IDX file of unsigned bytes, gzipped."""
    head = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.tobytes())


def read_idx(path):
    """An IDX file of unsigned bytes (gzipped) as an array."""
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
