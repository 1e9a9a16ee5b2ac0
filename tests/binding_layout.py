#!/usr/bin/python3
"""The ctypes mirrors of python/zfnet.py against the C layout: for every struct the binding
mirrors (zfnet.MIRRORS), the same size and, field by field, the same offsets as the C compiler
gives them (tests/layout.c prints them). A field added, removed, retyped or moved in a header
fails here. A self-check first shifts one field of a copy of a mirror and expects the comparison
to catch it.

Usage: binding_layout.py LAYOUT_PROGRAM
"""
import ctypes
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import zfnet  # noqa: E402


def compare(name, mirror, c):
    fails = []
    if ctypes.sizeof(mirror) != c["size"]:
        fails.append(f"{name}: ctypes size {ctypes.sizeof(mirror)}, C size {c['size']}")
    seen = set()
    for fname, _ in mirror._fields_:
        cname = zfnet.FIELD_NAMES.get(fname, fname)
        seen.add(cname)
        if cname not in c["fields"]:
            fails.append(f"{name}.{cname}: in the mirror, not in C")
        elif getattr(mirror, fname).offset != c["fields"][cname]:
            fails.append(f"{name}.{cname}: offset {getattr(mirror, fname).offset} in ctypes, "
                         f"{c['fields'][cname]} in C")
    for cname in c["fields"]:
        if cname not in seen:
            fails.append(f"{name}.{cname}: in C, not in the mirror")
    return fails


def main():
    layout = json.loads(subprocess.run([sys.argv[1]], capture_output=True, text=True,
                                       check=True).stdout)
    fails = []
    for name, mirror in zfnet.MIRRORS.items():
        if name not in layout:
            fails.append(f"{name}: mirrored in Python but not printed by layout.c")
            continue
        fails += compare(name, mirror, layout[name])
    for name in layout:
        if name not in zfnet.MIRRORS:
            fails.append(f"{name}: printed by layout.c but not mirrored")
    # the comparison must be able to fail: a mirror with two fields swapped
    f = list(zfnet._NetOptions._fields_)
    f[0], f[1] = (f[0][0], ctypes.c_int64), f[1]
    shifted = type("Shifted", (ctypes.Structure,), {"_fields_": f})
    if not compare("zf_net_options", shifted, layout["zf_net_options"]):
        fails.append("self-check: a shifted mirror was not caught")
    print(f"{len(zfnet.MIRRORS)} mirrored structs checked against the C layout")
    for x in fails:
        print("FAIL " + x)
    print("FAILED" if fails else "PASSED")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
