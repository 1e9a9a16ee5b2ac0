#!/usr/bin/python3
"""The public API's conventions (docs/api.md), checked on the headers and the built library:

  exports     libzfnet.so exports exactly the functions the headers declare (ZF_API), and
              every declaration is documented (a comment in its paragraph);
  defaults    every options struct zf_X_options has `void zf_X_defaults(zf_X_options *o)` and
              there are no ZF_*_DEFAULTS initialiser macros (one style);
  order       `zf_error *err` is the last parameter wherever there is one; outputs come after
              inputs: no input (a by-value or const parameter) after an output `T **`;
  pairs       every object a call creates (a `zf_T **` output) has a zf_..._free taking a
              `zf_T *`, and the call returns zf_status with a `zf_error *err` (constructors
              report failure through zf_error); no _new/_close/_destroy/_delete names;
  ownership   a plain array or buffer handed over (a non-const `T **` of a C type) says
              "zf_free" in its documentation; result structs holding pointers have their free;
  headers     zfnet.h is the umbrella; analysis.h includes core.h only; core.h includes neither.

A self-test first feeds it headers that break each rule, so the check itself cannot pass
vacuously.

Usage: api_check.py LIBZFNET.so INCLUDE_DIR
"""
import re
import subprocess
import sys
import tempfile
import os

# zf_dist joins and leaves an MPI job (MPI_Init / MPI_Finalize), a process's lifetime, and
# zf_dist_finish takes whether this rank failed: the one object without a zf_..._free.
DESTRUCTOR_EXCEPTIONS = {"zf_dist": "zf_dist_finish"}
C_TYPES = r"(?:const\s+)?(?:unsigned\s+)?(?:char|int|float|double|uint8_t|int64_t|size_t|uint64_t)"


def declarations(text):
    """(name, return type, [params], doc paragraph) for every ZF_API function."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        for m in re.finditer(r"ZF_API\s+([^;{]*?)\b(zf_\w+)\s*\(([^)]*)\)\s*;", block):
            params = [" ".join(p.split()) for p in m.group(3).split(",")]
            params = [] if params == ["void"] else params
            out.append((m.group(2), " ".join(m.group(1).split()), params, block))
    return out


def structs(text):
    """{name: body} of every `typedef struct zf_X { ... } zf_X;`"""
    return {m.group(1): m.group(2) for m in
            re.finditer(r"typedef struct (zf_\w+) \{(.*?)\} \1;", text, re.S)}


def check_headers(core, analysis, umbrella):
    fails = []
    text = core + "\n" + analysis
    decls = declarations(text)
    names = {d[0] for d in decls}
    for name, ret, params, block in decls:
        if "/*" not in block:
            fails.append(f"undocumented: {name}")
        if re.search(r"_(new|close|destroy|delete)$", name):
            fails.append(f"{name}: destructors are zf_..._free, constructors _create/_open")
        errs = [i for i, p in enumerate(params) if re.match(r"zf_error\s*\*", p)]
        if errs and errs[-1] != len(params) - 1:
            fails.append(f"{name}: zf_error *err is not the last parameter")
        outs = [i for i, p in enumerate(params) if "**" in p and not p.startswith("const ")]
        for i in outs:
            for p in params[i + 1:]:
                if re.match(r"zf_error\s*\*", p):
                    continue
                if p.startswith("const ") or "*" not in p:
                    fails.append(f"{name}: input '{p}' after the output '{params[i]}'")
                    break
            m = re.match(r"(zf_\w+)\s*\*\*", params[i])
            if m:
                t = m.group(1)
                frees = [n for n, _, ps, _ in decls if n.endswith("_free") and ps and
                         re.match(rf"(const\s+)?{t}\s*\*", ps[0])]
                if not frees and DESTRUCTOR_EXCEPTIONS.get(t) not in names:
                    fails.append(f"{name}: creates a {t} but no zf_..._free({t} *) is declared")
                if ret != "zf_status" or not errs:
                    fails.append(f"{name}: a constructor returns zf_status and takes zf_error")
            elif re.match(C_TYPES + r"\s*\*\*", params[i]) and "zf_free" not in block:
                fails.append(f"{name}: hands over '{params[i]}' without saying 'zf_free'")
    for s, body in structs(text).items():
        if s.endswith("_options"):
            base = s[:-len("_options")]
            want = f"{base}_defaults"
            if want not in names:
                fails.append(f"{s}: no {want}()")
            else:
                d = [x for x in decls if x[0] == want][0]
                if d[1] != "void" or d[2] != [f"{s} *o"]:
                    fails.append(f"{want}: should be void {want}({s} *o)")
        if s.endswith("_result") and re.search(r"\*\s*\w+\s*[;,]", body) \
                and f"{s}_free" not in names:
            fails.append(f"{s}: holds allocations but there is no {s}_free")
    for m in re.finditer(r"#define (ZF_\w+_DEFAULTS)\b", text):
        fails.append(f"{m.group(1)}: defaults come from zf_X_defaults(), not macros")
    inc = lambda t: re.findall(r'#include\s+"zfnet/(\w+\.h)"', t)  # noqa: E731
    if inc(core):
        fails.append(f"core.h includes {inc(core)}: it includes no zfnet header")
    if inc(analysis) != ["core.h"]:
        fails.append(f"analysis.h includes {inc(analysis)}: only core.h")
    if sorted(inc(umbrella)) != ["analysis.h", "core.h"]:
        fails.append(f"zfnet.h includes {inc(umbrella)}: core.h and analysis.h")
    return fails, names


def self_test(core, analysis, umbrella):
    """Each rule broken once must be caught."""
    bad = {
        "undocumented": "ZF_API int zf_x_count(const zf_net *net);\n",
        "err not last": "/* doc */\nZF_API zf_status zf_x_run(zf_error *err, int n);\n",
        "input after output": "/* doc */\nZF_API zf_status zf_x_open(zf_net **out, "
                              "const char *path, zf_error *err);\n",
        "no destructor": "typedef struct zf_thing zf_thing;\n/* doc */\nZF_API zf_status "
                         "zf_thing_open(const char *p, zf_thing **out, zf_error *err);\n",
        "no zf_free": "/* doc */\nZF_API zf_status zf_x_list(int **idx, int *n, "
                      "zf_error *err);\n",
        "no defaults": "typedef struct zf_x_options {\n    int a;\n} zf_x_options;\n",
        "macro defaults": "#define ZF_X_DEFAULTS {.a = 1}\n",
        "old vocabulary": "/* doc */\nZF_API void zf_x_close(zf_net *n);\n",
        "result without free": "typedef struct zf_y_result {\n    float *v;\n} zf_y_result;\n",
    }
    missed = []
    for what, snippet in bad.items():
        fails, _ = check_headers(core, analysis + "\n\n" + snippet, umbrella)
        if not fails:
            missed.append(what)
    fails, _ = check_headers(core + '\n#include "zfnet/analysis.h"\n', analysis, umbrella)
    if not fails:
        missed.append("include direction")
    return missed


def main():
    lib, inc = sys.argv[1], sys.argv[2]
    read = lambda n: open(os.path.join(inc, "zfnet", n)).read()  # noqa: E731
    core, analysis, umbrella = read("core.h"), read("analysis.h"), read("zfnet.h")
    missed = self_test(core, analysis, umbrella)
    for m in missed:
        print(f"FAIL self-test: a header with '{m}' was not caught")
    fails, declared = check_headers(core, analysis, umbrella)
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    exported = {line.split()[-1] for line in out.splitlines() if line.split()[1] in "TtWi"}
    exported = {e for e in exported if not e.startswith("_")}
    fails += [f"declared but not exported: {n}" for n in sorted(declared - exported)]
    fails += [f"exported but not declared in the headers: {n}" for n in sorted(exported - declared)]
    print(f"{len(declared)} public functions declared, {len(exported)} exported; "
          f"self-test: {10 - len(missed)} of 10 broken headers caught")
    for f in fails:
        print("FAIL " + f)
    ok = not fails and not missed
    print("PASSED" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
