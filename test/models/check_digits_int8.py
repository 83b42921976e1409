#!/usr/bin/env python3
"""Post-training quantization of the digits CNN, end to end.

usage: check_digits_int8.py MEGALIDE_CLI MEGALIDE_PYTHON_DIR REPO_ROOT WORK_DIR

1. `megalide quantize apps/digits/digits_cnn.onnx --calib apps/digits/calib -o WORK_DIR/digits_int8.onnx`
   writes a QDQ model and reports its agreement with fp32;
2. megalide's rewrites fold that model into int8 ops only (`megalide info`: QLinearConv and
   QLinearMatMul or their fused forms, no float Conv or Gemm left);
3. on the whole held-out split (apps/digits/heldout.npz, 450 images) the int8 model's
   accuracy is within 1 percentage point of the fp32 model's, both run by megalide;
4. megalide's int8 logits equal those of ONNX's reference evaluator
   (onnx.reference.ReferenceEvaluator, after converting the model to opset 21: it lacks
   DequantizeLinear-17) on the same QDQ model, but for rounding ties (at most one step, on at
   most 1 in 1000 values: see below), and the predictions agree on every image.
   ONNX Runtime runs the same model as a peer; its deviation is printed, not asserted (on AVX2
   machines without VNNI its u8s8 kernels saturate 16-bit pair sums: logits off by ~4).
Exit status 0 when all hold, 1 otherwise.
"""
import pathlib
import re
import subprocess
import sys

import numpy as np


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    cli, module_dir, root, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
    sys.path.insert(0, module_dir)
    import megalide
    import onnx
    import onnx.version_converter
    import onnxruntime as ort
    from onnx.reference import ReferenceEvaluator

    digits = root / "apps" / "digits"
    work.mkdir(parents=True, exist_ok=True)
    int8_path = work / "digits_int8.onnx"
    p = subprocess.run([cli, "quantize", str(digits / "digits_cnn.onnx"), "--calib", str(digits / "calib"), "-o", str(int8_path), "--quiet"],
                       capture_output=True, text=True)
    print(p.stdout, end="")
    if p.returncode != 0:
        fail("megalide quantize: " + p.stderr)

    info = subprocess.run([cli, "info", str(int8_path), "--quiet"], capture_output=True, text=True).stdout
    qualified = re.findall(r"= ([\w.]+)\(", info)
    print("ops after rewrites:", " ".join(qualified))
    # ONNX's QLinear ops, or megalide's fused forms of them (com.megalide.FusedQLinearConv:
    # with an activation or a bias ONNX's op lacks); no float product left.
    ops = [o.split(".")[-1].removeprefix("Fused") for o in qualified]
    if ops.count("QLinearConv") != 2 or ops.count("QLinearMatMul") != 2 or {"Conv", "Gemm", "MatMul"} & set(ops):
        fail("the QDQ model did not fold into int8 ops")

    data = np.load(digits / "heldout.npz")
    x, y = data["x"], data["y"]
    correct, logits = {}, {}
    for name, path in (("fp32", digits / "digits_cnn.onnx"), ("int8", int8_path)):
        compiled = megalide.Model(str(path)).compile("per_op", 1)
        logits[name] = np.concatenate([compiled.run([x[i:i + 1]])[0] for i in range(len(x))])
        correct[name] = int((logits[name].argmax(1) == y).sum())
        print(f"{name}: {correct[name]}/{len(y)} held-out images correct ({100 * correct[name] / len(y):.2f}%)")
    drop = 100.0 * (correct["fp32"] - correct["int8"]) / len(y)
    if drop > 1.0:
        fail(f"int8 accuracy is {drop:.2f} points below fp32 (allowed: 1)")

    model = onnx.load(str(int8_path))
    scale = float(next(onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "logits_scale"))
    evaluator = ReferenceEvaluator(onnx.version_converter.convert_version(model, 21))
    ref_logits = np.concatenate([evaluator.run(None, {"image": x[i:i + 1]})[0] for i in range(len(x))])
    # The logits are dequantized uint8 values, so differences are whole steps. The QDQ model's
    # reference computes each convolution in float32 on dequantized values and then rounds;
    # megalide accumulates exactly in int32. Where the exact value lies within float32 rounding
    # of a rounding tie (x.5 steps), the two may land one step apart: allowed on at most 1 in
    # 1000 values. A systematic error (ONNX Runtime's saturated pair sums on AVX2 are 16 steps
    # off) or a rounding-mode error (ties everywhere) fails.
    steps = np.rint(np.abs(ref_logits - logits["int8"]) / scale)
    off = int((steps > 0).sum())
    print(f"megalide int8 vs ONNX's reference evaluator: max |difference| {steps.max():.0f} steps of {scale:.3g}; "
          f"{off} of {steps.size} values differ")
    if steps.max() > 1:
        fail("megalide's int8 logits differ from the reference evaluator's by more than one step")
    if off * 1000 > steps.size:
        fail(f"megalide's int8 logits differ by one step on {off} of {steps.size} values (allowed: 1 in 1000, the rounding ties)")
    if (ref_logits.argmax(1) != logits["int8"].argmax(1)).any():
        fail("megalide and the reference evaluator predict differently")

    session = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    ort_logits = np.concatenate([session.run(None, {"image": x[i:i + 1]})[0] for i in range(len(x))])
    ort_steps = np.abs(ort_logits - ref_logits).max() / scale
    ort_agree = int((ort_logits.argmax(1) == ref_logits.argmax(1)).sum())
    print(f"peer, not asserted: ONNX Runtime vs the reference evaluator: max |difference| {ort_steps:.3g} steps; "
          f"same prediction on {ort_agree}/{len(y)} images")
    print("OK")


if __name__ == "__main__":
    main()
