#!/usr/bin/python3
"""libzfnet.so exports exactly the functions its public headers declare (ZF_API), and each of
them is documented: every paragraph of the headers that declares one carries a comment.

Usage: exports_check.py LIBZFNET.so HEADER...
"""
import re
import subprocess
import sys

lib, headers = sys.argv[1], sys.argv[2:]
failures = []
declared = set()
for h in headers:
    text = open(h).read()
    for block in re.split(r"\n\s*\n", text):
        names = re.findall(r"ZF_API\s[^;{]*?\b(zf_\w+)\s*\(", block)
        if names and "/*" not in block:
            failures.append(f"{h}: undocumented: {', '.join(names)}")
        declared.update(names)

out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                     check=True).stdout
exported = {line.split()[-1] for line in out.splitlines() if line.split()[1] in "TtWi"}
exported = {e for e in exported if not e.startswith("_")}

for name in sorted(declared - exported):
    failures.append(f"declared but not exported: {name}")
for name in sorted(exported - declared):
    failures.append(f"exported but not declared in the headers: {name}")
print(f"{len(declared)} public functions declared, {len(exported)} exported")
for f in failures:
    print("FAIL " + f)
print("FAILED" if failures else "PASSED")
sys.exit(1 if failures else 0)
