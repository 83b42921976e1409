#!/usr/bin/env python3
"""Fails if algorithm code (the layer library, the block builders, the lowering and the op
registry's lower functions) calls a Halide scheduling method. Algorithms define Funcs; schedules are applied elsewhere (DESIGN.md).

usage: check_algorithm_only.py ROOT        scan ROOT's algorithm folders
       check_algorithm_only.py --self-test  check that the matcher catches what it should
"""
import pathlib
import re
import sys

ALGORITHM_DIRS = ["src/layers", "src/blocks", "src/lower", "src/ops", "include/megalide/layers", "include/megalide/blocks",
                  "include/megalide/lower"]

SCHEDULE_METHODS = [
    "compute_root", "compute_at", "compute_inline", "compute_with", "store_at", "store_root",
    "store_in", "vectorize", "parallel", "unroll", "tile", "split", "fuse", "reorder",
    "reorder_storage", "bound", "bound_extent", "bound_storage", "set_estimate", "set_estimates",
    "rfactor", "fold_storage", "align_bounds", "align_storage", "prefetch", "async", "memoize",
    "hoist_storage", "ring_buffer", "gpu_tile", "gpu_blocks", "gpu_threads", "hexagon",
    "atomic", "serial", "trace_stores", "trace_loads",
]
CALL = re.compile(r"\.\s*(" + "|".join(SCHEDULE_METHODS) + r")\s*\(")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def violations(text):
    for number, line in enumerate(strip_comments(text).splitlines(), 1):
        match = CALL.search(line)
        if match:
            yield number, match.group(1), line.strip()


def self_test():
    caught = list(violations("f.compute_root().vectorize(c, 8);\nout.update(0).parallel(y);"))
    assert [name for _, name, _ in caught] == ["compute_root", "parallel"], caught
    assert not list(violations("// f.compute_root() in a comment\nfoo.split_name(1);")), "false positive"
    print("self-test passed: the matcher flags scheduling calls and ignores comments")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(argv[1])
    files = sorted(p for d in ALGORITHM_DIRS for p in (root / d).rglob("*") if p.suffix in (".h", ".cpp"))
    if not files:
        print(f"no algorithm sources found under {root}", file=sys.stderr)
        return 2
    found = 0
    for path in files:
        for number, method, line in violations(path.read_text()):
            print(f"{path.relative_to(root)}:{number}: scheduling call .{method}() in algorithm code: {line}")
            found += 1
    print(f"{len(files)} algorithm files scanned, {found} scheduling calls")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
