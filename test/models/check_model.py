#!/usr/bin/env python3
"""Runs an exported model through `megalide run` and compares with PyTorch's output.

usage: check_model.py MEGALIDE_BINARY MODELS_DIR NAME [SCHEDULE]

MODELS_DIR holds NAME.onnx, NAME.input.npy and NAME.output.npy as written by
scripts/export_torch_models.py. Passes when numpy.allclose(megalide, torch, rtol=1e-3,
atol=1e-4); prints the max abs difference either way. SCHEDULE (default per_op) is passed
to --schedule: the megakernel variant is the fused-equals-unfused check on real models.
"""
import pathlib
import subprocess
import sys
import tempfile

import numpy as np


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    binary, models, name = argv[1], pathlib.Path(argv[2]), argv[3]
    schedule = argv[4] if len(argv) == 5 else "per_op"
    model = models / f"{name}.onnx"
    if not model.exists():
        print(f"{model} is missing: run scripts/export_torch_models.py --calibrate-bn --out {models}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary, "run", str(model), str(models / f"{name}.input.npy"), "--output", out, "--schedule", schedule],
                       check=True)
        got = np.load(pathlib.Path(out) / "output.npy")
    want = np.load(models / f"{name}.output.npy")
    if got.shape != want.shape:
        print(f"{name}: shape {got.shape}, PyTorch {want.shape}")
        return 1
    diff = float(np.abs(got.astype(np.float64) - want).max())
    ok = np.allclose(got, want, rtol=1e-3, atol=1e-4)
    print(f"{name} ({schedule}): max |megalide - torch| = {diff:.3g} (max |torch| = {float(np.abs(want).max()):.3g}): {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
