"""What the examples share: the benchmark blocks (apps/bench/blocks.py, PyTorch modules with
seeded weights) exported to ONNX, the output folder, and a Matplotlib that draws to files."""
import argparse
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def arguments(description: str, runs: int = 15) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default="example-output", help="folder for the figure and the model files")
    parser.add_argument("--threads", type=int, default=1, help="threads per run (default 1)")
    parser.add_argument("--runs", type=int, default=runs, help=f"timed runs per measurement (default {runs}; median reported)")
    args = parser.parse_args()
    args.out = pathlib.Path(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def export_block(block_id: str, out: pathlib.Path):
    """Writes OUT/<block_id>.onnx and returns (path, the block's input as NumPy)."""
    sys.path.insert(0, str(REPO / "apps" / "bench"))
    import blocks

    module, x = blocks.build(block_id)
    path = out / f"{block_id}.onnx"
    blocks.export(module, x, str(path))
    return path, x.numpy()


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def clip_spread(ax, medians, maxima, axis: str = "y") -> None:
    """Keeps one slow outlier run from flattening the figure: the value axis ends at 1.6x the
    largest median, and a note says which maxima run past it (the log prints them all)."""
    limit = 1.6 * max(medians)
    (ax.set_ylim if axis == "y" else ax.set_xlim)(0, limit)
    clipped = sum(m > limit for m in maxima)
    if clipped:
        ax.text(0.99, 0.98, f"{clipped} max bar(s) clipped at {limit:.3g}", transform=ax.transAxes,
                ha="right", va="top", fontsize=7, color="dimgray")
