#!/usr/bin/env python3
"""`megalide compile` output links into a program that includes only the generated header.

usage: compile_and_link.py MEGALIDE_CLI CXX REPO_ROOT WORK_DIR

Compiles apps/digits/digits_cnn.onnx with the megakernel and per_op schedules, links
apps/classify_png.cpp against each static library with the C++ compiler CXX (no include path
but the output directory: nothing of megalide, nor Halide's headers), runs both programs on the
100 held-out PNGs, and checks the predictions: the same from both libraries, and as many
correct as PyTorch counted when it wrote the PNGs (apps/digits/metrics.json, png_correct).
Then the int8 path: `megalide quantize`, compiled with each requantization mode (onnx,
fixed_point), linked the same way; each within one image of the fp32 count.
Exit status 0 on success, 1 on a failure (the step and its output are printed).
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print("FAILED:", " ".join(map(str, cmd)), "\n", p.stdout, p.stderr)
        sys.exit(1)
    return p.stdout


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    cli, cxx, root, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
    digits = root / "apps" / "digits"
    pngs = sorted(str(p) for p in (digits / "heldout_png").glob("*.png"))
    shutil.rmtree(work, ignore_errors=True)
    predictions = {}
    for schedule in ("megakernel", "per_op"):
        out = work / schedule
        run([cli, "compile", str(digits / "digits_cnn.onnx"), "--schedule", schedule, "--name", "digits", "-o", str(out), "--quiet"])
        exe = work / f"classify_{schedule}"
        run([cxx, "-O2", "-std=c++17", "-I", str(out), '-DMODEL_HEADER="digits.h"', "-DMODEL_FN=digits",
             str(root / "apps" / "classify_png.cpp"), str(out / "digits.a"), "-lpng", "-lpthread", "-ldl", "-o", str(exe)])
        text = run([str(exe)] + pngs)
        predictions[schedule] = re.findall(r"^(\S+\.png): (\d+)", text, re.M)
        accuracy = re.search(r"^accuracy: (\d+)/(\d+)", text, re.M)
        correct, total = int(accuracy.group(1)), int(accuracy.group(2))
        want = json.loads((digits / "metrics.json").read_text())["png_correct"]
        print(f"{schedule}: {correct}/{total} correct (PyTorch: {want}/{total})")
        if total != len(pngs) or abs(correct - want) > 1:  # a tie between near-equal logits may break either way
            print(f"FAILED: {schedule} library classifies {correct}/{total}, PyTorch {want}")
            sys.exit(1)
    if predictions["megakernel"] != predictions["per_op"] or len(predictions["per_op"]) != len(pngs):
        print("FAILED: the megakernel and per_op libraries disagree")
        sys.exit(1)
    fp32_correct = correct
    int8 = work / "digits_int8.onnx"
    run([cli, "quantize", str(digits / "digits_cnn.onnx"), "--calib", str(digits / "calib"), "-o", str(int8), "--quiet"])
    for mode in ("onnx", "fixed_point"):
        out = work / f"int8_{mode}"
        run([cli, "compile", str(int8), "--requantize", mode, "--name", "digits", "-o", str(out), "--quiet"])
        exe = work / f"classify_int8_{mode}"
        run([cxx, "-O2", "-std=c++17", "-I", str(out), '-DMODEL_HEADER="digits.h"', "-DMODEL_FN=digits",
             str(root / "apps" / "classify_png.cpp"), str(out / "digits.a"), "-lpng", "-lpthread", "-ldl", "-o", str(exe)])
        text = run([str(exe)] + pngs)
        correct = int(re.search(r"^accuracy: (\d+)/", text, re.M).group(1))
        print(f"int8 ({mode} requantization): {correct}/{len(pngs)} correct (fp32: {fp32_correct})")
        if abs(correct - fp32_correct) > 1:
            print(f"FAILED: int8 with {mode} requantization is more than one image from fp32")
            sys.exit(1)
    print("OK: both libraries link with only their generated header and agree on every image")


if __name__ == "__main__":
    main()
