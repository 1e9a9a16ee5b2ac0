#!/usr/bin/python3
"""The man pages and the bash completion the build writes (build/man, build/zfnet.bash-completion)
agree with the commands' --help: every command of `zfnet --help` has a page zfnet-CMD(1) that
man renders, listing exactly the options --help lists, and bash completes the commands
(`zfnet tr<TAB>` -> train transfer), each command's options, and the words of options that
take words. Also zfnet --version against the library's version.

Usage: man_completion_check.py ZFNET BUILD_DIR
"""
import gzip
import os
import re
import subprocess
import sys

zfnet, build = sys.argv[1], sys.argv[2]
fails = []


def run(args):
    return subprocess.run([zfnet] + args, capture_output=True, text=True, timeout=60)


def help_options(text):
    return set(re.findall(r"^  (?:-\w, )?(--[\w-]+)", text, re.M))


top = run(["--help"]).stdout
commands = re.findall(r"^  (\w+) ", top.split("commands:")[1].split("\n\n")[0], re.M)
if len(commands) < 20:
    fails.append(f"zfnet --help lists only {commands}")
comp = os.path.join(build, "zfnet.bash-completion")


def complete(words):
    """what bash completes for the last word of `words`"""
    script = (f"source '{comp}'; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
              f"COMP_CWORD={len(words) - 1}; _zfnet; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    return set(r.stdout.split())


for cmd in commands:
    page = os.path.join(build, "man", f"zfnet-{cmd}.1.gz")
    if not os.path.exists(page):
        fails.append(f"{cmd}: no man page {page}")
        continue
    roff = gzip.open(page, "rt").read()
    opts = set("--" + o.replace("\\-", "-") for o in re.findall(r"\\fB\\-\\-([\w\\-]+)\\fR", roff))
    want = help_options(run([cmd, "--help"]).stdout)
    if opts != want:
        fails.append(f"{cmd}: man page options differ from --help: "
                     f"only in the page {sorted(opts - want)}, only in --help {sorted(want - opts)}")
    got = complete(["zfnet", cmd, "--"])
    if got != want:
        fails.append(f"{cmd}: completion of '--' differs from --help: {sorted(got ^ want)}")
    r = subprocess.run(["man", "-l", page], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, MANWIDTH="100"))
    if r.returncode or "OPTIONS" not in r.stdout or "SEE ALSO" not in r.stdout:
        fails.append(f"{cmd}: man -l does not render it: {r.stderr.strip()[:200]}")
if not os.path.exists(os.path.join(build, "man", "zfnet.1.gz")):
    fails.append("no zfnet(1)")
checks = [(["zfnet", "tr"], {"train", "transfer"}),
          (["zfnet", "deconv", "--rule", ""], {"deconvnet", "guided", "gradient", "gradcam"}),
          (["zfnet", "invariance", "--transform", "r"], {"rotate"}),
          (["zfnet", "train", "--model", "zfnet-"], {"zfnet-b", "zfnet-mini"}),
          (["zfnet", "eval", "--ten"], {"--ten-crop"})]
for words, want in checks:
    got = complete(words)
    if got != want:
        fails.append(f"completion of {' '.join(words)!r}: {sorted(got)}, expected {sorted(want)}")
v = run(["--version"]).stdout.strip()
if not re.fullmatch(r"zfnet (\d+\.\d+\.\d+) \(libzfnet \1\)", v):
    fails.append(f"zfnet --version: {v!r}")
print(f"{len(commands)} commands: man pages, --help and completion compared; {v}")
for f in fails:
    print("FAIL " + f)
print("FAILED" if fails else "PASSED")
sys.exit(1 if fails else 0)
