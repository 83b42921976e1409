#!/usr/bin/env python3
"""Load: the same compiled model called from many threads gives the serial run's outputs.

usage: check_concurrency.py MEGALIDE_CLI MEGALIDE_PYTHON_DIR CXX REPO_ROOT WORK_DIR

1. AOT: `megalide compile` the digits CNN (megakernel, planned for every core, so each call
   also uses Halide's thread pool), link test/reliability/concurrent_calls.cpp against the
   library, and make 10 000 calls from 8 threads; every output equals the serial run's, bit
   for bit.
2. Python: megalide.Model(...).compile(...) runs 10 000 calls from 8 threads (run() releases
   the GIL); every output equals the serial run's, bit for bit.
3. JIT compilation from 4 threads at once (compile() releases the GIL; megalide compiles one
   pipeline at a time): every compiled model gives the serial model's outputs.
Exit status 0 when all hold, 1 otherwise. The seed is printed.
"""
import concurrent.futures
import pathlib
import shutil
import subprocess
import sys

import numpy as np

THREADS, CALLS, SEED = 8, 10_000, 20261128


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        fail(" ".join(map(str, cmd)) + "\n" + p.stdout + p.stderr)
    return p.stdout


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        sys.exit(2)
    cli, module_dir, cxx, root, work = sys.argv[1], sys.argv[2], sys.argv[3], pathlib.Path(sys.argv[4]), pathlib.Path(sys.argv[5])
    model = root / "apps" / "digits" / "digits_cnn.onnx"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    print(f"seed {SEED}")
    lib = work / "digits"
    run([cli, "compile", str(model), "--schedule", "megakernel", "--name", "digits", "-o", str(lib), "--quiet"])
    driver = work / "concurrent_calls"
    run([cxx, "-O2", "-std=c++17", "-I", str(lib), '-DMODEL_HEADER="digits.h"', "-DMODEL_FN=digits",
         str(root / "test" / "reliability" / "concurrent_calls.cpp"), str(lib / "digits.a"), "-lpthread", "-ldl", "-o", str(driver)])
    print("AOT:", run([str(driver), str(THREADS), str(CALLS), str(SEED)]), end="")

    sys.path.insert(0, module_dir)
    import megalide
    rng = np.random.default_rng(SEED)
    inputs = [rng.uniform(-1, 1, size=(1, 1, 8, 8)).astype(np.float32) for _ in range(64)]
    compiled = megalide.Model(str(model)).compile("megakernel", threads=2)
    expected = [compiled.run([x])[0] for x in inputs]

    def calls(t):
        differ = 0
        for k in range(CALLS // THREADS):
            i = (t * 7 + k) % len(inputs)
            if not np.array_equal(compiled.run([inputs[i]])[0], expected[i]):
                differ += 1
        return differ

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        differ = sum(pool.map(calls, range(THREADS)))
    print(f"Python: {THREADS} threads, {CALLS} calls: {differ} outputs differ from the serial run")
    if differ:
        fail("concurrent calls from Python gave other outputs than serial ones")

    def compile_and_run(strategy):
        c = megalide.Model(str(model)).compile(strategy, threads=2)
        return [c.run([x])[0] for x in inputs[:4]]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(compile_and_run, ["megakernel", "per_op", "megakernel", "per_op"]))
    for got in (results[0], results[2]):
        if not all(np.array_equal(g, e) for g, e in zip(got, expected)):
            fail("a megakernel model compiled concurrently disagrees with the serially compiled one")
    if not all(np.array_equal(g, e) for g, e in zip(results[1], results[3])):
        fail("two per_op models compiled at the same time disagree")
    # per_op may sum in another order than megakernel: float rounding only.
    worst = max(float(np.abs(g - e).max()) for g, e in zip(results[1], expected))
    print(f"JIT: 4 compilations at once agree with the serial ones (per_op vs megakernel: max |difference| {worst:.2g})")
    if worst > 1e-4:
        fail("per_op and megakernel disagree beyond float rounding")
    print("OK")


if __name__ == "__main__":
    main()
