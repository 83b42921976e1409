#!/usr/bin/env python3
"""Runs the committed digits CNN through megalide and checks it against ONNX's reference evaluator.

usage: check_digits.py MEGALIDE_PYTHON_DIR REPO_ROOT [--expect-correct N]

Reads REPO_ROOT/apps/digits/{digits_cnn.onnx, heldout.npz, metrics.json} (written by
scripts/train_digits.py). For the per_op and megakernel strategies (1 thread), megalide runs
the whole held-out split one image at a time, and

  (a) its logits on the first REF_IMAGES images match onnx.reference.ReferenceEvaluator's,
      run in float64, within the tolerance derived below;
  (b) its held-out correct count equals metrics.json's heldout_correct (PyTorch, fp32)
      within 1 image: a tie between near-equal logits may break either way.

--expect-correct overrides the count from metrics.json (to see (b) fail). Exit status 0 when
everything passes, 1 on a mismatch or a missing file, 2 on a usage error.
"""
import argparse
import json
import os
import pathlib
import sys

import numpy as np

REF_IMAGES = 50  # the reference evaluator takes ~10 ms an image; all 450 would be slow for ctest
STRATEGIES = ("per_op", "megakernel")

# The tolerance on |megalide - exact| per logit, exact being the reference evaluator run in
# float64. Along any path a logit sums 733 float32 products: the dot products of conv1 (9 + bias),
# conv2 (144 + 1), fc1 (512 + 1) and fc2 (64 + 1). Rounding errors in such sums grow like a random
# walk, lambda * sqrt(733) * u times the magnitude summed (Higham & Mary, "A new approach to
# probabilistic rounding error analysis", 2019). That magnitude, |W|...|W||x| carried through the
# net, is ~100x the logits here, and the strict worst case (733 * u * it, ~0.2) would miss a
# dropped bias; the logits cancel less than the bound assumes, so the scale used is the largest
# |logit| on the images checked (~40): an estimate calibrated by measurement, not a proof. With
# LAMBDA = 4 it is ~2.5e-4. Measured (onnx 1.23.2, 50 images): the float32 reference is 4.7e-6
# from exact, megalide 1.5e-5 (per_op and megakernel alike), ~17x under it; zeroing the smallest
# conv2 bias moves a logit by 2.2e-3 and scaling every weight by 1 + 1e-4 by 1.5e-2, so both fail.
U = 2.0 ** -24  # float32 unit roundoff
PRODUCTS = (9 + 1) + (144 + 1) + (512 + 1) + (64 + 1)
LAMBDA = 4.0


def reference(onnx, ReferenceEvaluator, model_path, x, dtype):
    """ONNX's reference evaluator on x, one image at a time, with the graph cast to dtype."""
    model = onnx.load(str(model_path))
    if dtype == np.float64:
        for init in model.graph.initializer:
            init.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(init).astype(dtype), init.name))
        for value in list(model.graph.input) + list(model.graph.output):
            value.type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    ref = ReferenceEvaluator(model)
    return np.concatenate([ref.run(None, {"image": x[i:i + 1].astype(dtype)})[0] for i in range(len(x))])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module_dir", help="the directory holding the built megalide Python module")
    ap.add_argument("repo_root")
    ap.add_argument("--expect-correct", type=int, help="override metrics.json's heldout_correct")
    args = ap.parse_args()

    os.environ.setdefault("HL_NUM_THREADS", "1")  # the worker pool: read once, at the first run
    sys.path.insert(0, args.module_dir)
    import megalide
    import onnx
    import onnx.numpy_helper
    from onnx.reference import ReferenceEvaluator

    app = pathlib.Path(args.repo_root) / "apps" / "digits"
    model_path = app / "digits_cnn.onnx"
    for need in (model_path, app / "heldout.npz", app / "metrics.json"):
        if not need.exists():
            print(f"{need} is missing: run scripts/train_digits.py --out {app}", file=sys.stderr)
            return 1
    data = np.load(app / "heldout.npz")
    x, y = data["x"], data["y"]
    metrics = json.loads((app / "metrics.json").read_text())
    expect = metrics["heldout_correct"] if args.expect_correct is None else args.expect_correct
    print(f"{model_path}: {len(y)} held-out images; PyTorch fp32 got {expect} right "
          f"({'--expect-correct' if args.expect_correct is not None else 'metrics.json'})")

    exact = reference(onnx, ReferenceEvaluator, model_path, x[:REF_IMAGES], np.float64)
    ref32 = reference(onnx, ReferenceEvaluator, model_path, x[:REF_IMAGES], np.float32)
    tol = LAMBDA * np.sqrt(PRODUCTS) * U * float(np.abs(exact).max())
    print(f"reference: onnx {onnx.__version__} ReferenceEvaluator in float64 on {REF_IMAGES} images, "
          f"max |logit| {np.abs(exact).max():.3g}; its float32 run is {np.abs(ref32 - exact).max():.3g} "
          f"from it; tolerance {tol:.3g}")

    model = megalide.Model(str(model_path))
    failed = []
    for strategy in STRATEGIES:
        compiled = model.compile(strategy, 1)
        got = np.concatenate([compiled.run([x[i:i + 1]])[0] for i in range(len(x))])
        diff = np.abs(got[:REF_IMAGES].astype(np.float64) - exact)
        within = bool(diff.max() <= tol)
        worst = np.unravel_index(np.argmax(diff), diff.shape)
        correct = int((got.argmax(1) == y).sum())
        counted = abs(correct - expect) <= 1
        print(f"{strategy}: (a) max |megalide - reference| = {diff.max():.3g} (image {worst[0]}, logit {worst[1]}), "
              f"tolerance {tol:.3g}: {'OK' if within else 'MISMATCH'}")
        print(f"{strategy}: (b) held-out correct {correct}/{len(y)} = {correct / len(y):.4f}, "
              f"PyTorch {expect}: {'OK' if counted else 'MISMATCH'}")
        if not within:
            failed.append(f"{strategy} logits")
        if not counted:
            failed.append(f"{strategy} accuracy")
    print("digits: " + ("FAILED: " + ", ".join(failed) if failed else "OK"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
