"""fp32 or int8? Quantize the digits CNN (apps/digits: two 3x3 convolutions, max pool, two
Gemms) with megalide's post-training int8 quantization, calibrated on the 64 training samples
in apps/digits/calib, then compare accuracy on the 450 held-out images and the time per image,
per_op and megakernel.

    python python_bindings/examples/digits_int8.py --out OUT        # writes OUT/digits_int8.png
"""
import numpy as np

import megalide
from _common import REPO, arguments, clip_spread, pyplot


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    digits = REPO / "apps" / "digits"
    calibration = [np.load(p) for p in sorted((digits / "calib").glob("calib_*.npy"))]
    heldout = np.load(digits / "heldout.npz")
    images, labels = heldout["x"], heldout["y"]

    int8_path = args.out / "digits_cnn_int8.onnx"
    report = megalide.quantize(digits / "digits_cnn.onnx", calibration, int8_path)
    print(report.strip())

    rows = []
    for precision, path in (("fp32", digits / "digits_cnn.onnx"), ("int8", int8_path)):
        pipeline = megalide.load(path)
        for strategy in ("per_op", "megakernel"):
            compiled = pipeline.compile(strategy, threads=args.threads)
            predicted = np.array([np.argmax(compiled.run([image[None]])[0]) for image in images])
            correct = int((predicted == labels).sum())
            timing = compiled.benchmark([images[:1]], runs=max(args.runs, 50))
            rows.append((f"{precision} {strategy}", correct, timing))
            print(f"{precision} {strategy:10s} {correct}/{len(labels)} correct ({100 * correct / len(labels):.2f}%), "
                  f"{1000 * timing.median_ms:.1f} us per image (min {1000 * timing.min_ms:.1f}, "
                  f"max {1000 * timing.max_ms:.1f}, {timing.runs} runs)", flush=True)

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [r[0] for r in rows]
    colors = ["tab:blue", "tab:blue", "tab:orange", "tab:orange"]
    accuracy = [100 * r[1] / len(labels) for r in rows]
    left.bar(names, accuracy, color=colors)
    left.set_ylim(min(accuracy) - 2, 100)
    left.set_ylabel("accuracy (%)")
    left.set_title(f"held-out accuracy, {len(labels)} images", fontsize=9)
    for i, a in enumerate(accuracy):
        left.text(i, a, f"{a:.2f}", ha="center", va="bottom", fontsize=8)
    median = [1000 * r[2].median_ms for r in rows]
    spread = [[1000 * (r[2].median_ms - r[2].min_ms) for r in rows], [1000 * (r[2].max_ms - r[2].median_ms) for r in rows]]
    right.bar(names, median, yerr=spread, capsize=3, color=colors)
    clip_spread(right, median, [1000 * r[2].max_ms for r in rows])
    right.set_ylabel("microseconds per image")
    right.set_title(f"latency of one image: median, min..max of {rows[0][2].runs} runs, {args.threads} thread(s)", fontsize=9)
    for ax in (left, right):
        ax.tick_params(axis="x", labelsize=8, rotation=15)
    fig.suptitle("digits CNN: fp32 against megalide int8 (QDQ, calibrated on 64 samples)", fontsize=11)
    fig.tight_layout(w_pad=3)
    figure = args.out / "digits_int8.png"
    fig.savefig(figure, dpi=110)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
