#!/usr/bin/env python3
"""Post-training quantization of the digits CNN, end to end.

usage: check_digits_int8.py MEGALIDE_CLI MEGALIDE_PYTHON_DIR REPO_ROOT WORK_DIR

1. `megalide quantize apps/digits/digits_cnn.onnx --calib apps/digits/calib -o WORK_DIR/digits_int8.onnx`
   writes a QDQ model and reports its agreement with fp32;
2. megalide's rewrites fold that model into int8 ops only (`megalide info`: QLinearConv and
   QLinearMatMul, no float Conv or Gemm left);
3. on the whole held-out split (apps/digits/heldout.npz, 450 images) the int8 model's
   accuracy is within 1 percentage point of the fp32 model's, both run by megalide;
4. megalide's int8 logits match ONNX Runtime's on the same QDQ model within one
   quantization step of the logits (ORT folds QDQ into its own QLinear kernels; the two may
   round a tie differently), and their predictions agree on every image.
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
    import onnxruntime as ort

    digits = root / "apps" / "digits"
    work.mkdir(parents=True, exist_ok=True)
    int8_path = work / "digits_int8.onnx"
    p = subprocess.run([cli, "quantize", str(digits / "digits_cnn.onnx"), "--calib", str(digits / "calib"), "-o", str(int8_path), "--quiet"],
                       capture_output=True, text=True)
    print(p.stdout, end="")
    if p.returncode != 0:
        fail("megalide quantize: " + p.stderr)

    info = subprocess.run([cli, "info", str(int8_path), "--quiet"], capture_output=True, text=True).stdout
    ops = re.findall(r"= (\w+)\(", info)
    print("ops after rewrites:", " ".join(ops))
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

    session = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    ort_logits = np.concatenate([session.run(None, {"image": x[i:i + 1]})[0] for i in range(len(x))])
    model = onnx.load(str(int8_path))
    scale = next(onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "logits_scale")
    worst = np.abs(ort_logits - logits["int8"]).max()
    print(f"megalide int8 vs ONNX Runtime: max |difference| {worst:.3g} (one step of the logits: {float(scale):.3g})")
    if worst > float(scale) * 1.0001:
        fail("megalide's int8 logits differ from ONNX Runtime's by more than one quantization step")
    if (ort_logits.argmax(1) != logits["int8"].argmax(1)).any():
        fail("megalide and ONNX Runtime predict differently")
    print("OK")


if __name__ == "__main__":
    main()
