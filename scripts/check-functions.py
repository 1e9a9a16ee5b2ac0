#!/usr/bin/env python3
"""Report C functions longer than a limit (80 lines, from the signature to the closing brace).

The code is clang-formatted, so a function definition starts at column 0 with its return type
and its body ends with a "}" alone at column 0. Exit 1 when a function is over the limit.

usage: check-functions.py [--limit N] FILE...
"""
import re
import sys


def functions(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    for i, line in enumerate(lines):
        if start is None:
            if re.match(r"^[A-Za-z_].*\(", line) and not line.startswith(("typedef", "struct ")) \
                    and not line.rstrip().endswith(";"):
                # the signature may span lines; it ends with "{" (a definition) or ";"
                j = i
                while j < len(lines) and not lines[j].rstrip().endswith(("{", ";")):
                    j += 1
                if j < len(lines) and lines[j].rstrip().endswith("{") and "=" not in line:
                    start = i
        elif line == "}":
            name = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", lines[start])
            yield (name.group(1) if name else "?"), start + 1, i - start + 1
            start = None


def main():
    args = sys.argv[1:]
    limit = 80
    if args[:1] == ["--limit"]:
        limit, args = int(args[1]), args[2:]
    over = []
    for path in args:
        for name, line, n in functions(path):
            if n > limit:
                over.append(f"{path}:{line}: {name}() is {n} lines (limit {limit})")
    for o in over:
        print(o)
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
