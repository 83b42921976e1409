"""Does the cost model rank tilings the way the machine does? For the MobileNetV2 inverted
residual B1 (56x56x24 -> 144 -> 24), the megakernel planner ranks its candidate tilings of the
fused section by estimated cycles; this compiles every candidate, times it, and plots the
estimate against the measured median.

    python python_bindings/examples/b1_candidates.py --out OUT      # writes OUT/b1_candidates.png
"""
import numpy as np

import megalide
from _common import arguments, clip_spread, export_block, pyplot


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], runs=200)     # a run is 1 ms: compiling dominates
    path, x = export_block("B1", args.out)
    pipeline = megalide.load(path)
    plan = pipeline.explain(threads=args.threads)
    reference = pipeline.compile("per_op", threads=args.threads).run([x])[0]

    estimates, medians, spreads, labels = [], [], [], []
    for k, candidate in enumerate(plan.candidates):
        compiled = pipeline.compile(pipeline.schedule("megakernel", threads=args.threads, candidate=k),
                                    threads=args.threads)
        y = compiled.run([x])[0]
        error = float(np.abs(y - reference).max())
        if error > 1e-3:
            raise SystemExit(f"candidate #{k} ({candidate.describe}) differs from per_op by {error}")
        timing = compiled.benchmark([x], runs=args.runs)
        estimates.append(candidate.cost_cycles)
        medians.append(timing.median_ms)
        spreads.append((timing.median_ms - timing.min_ms, timing.max_ms - timing.median_ms))
        labels.append(f"#{k:<2} {candidate.rows:>2} along d{candidate.dim}" + (", sliding" if candidate.sliding else "")
                      + (", producers unfused" if candidate.alone else ""))
        print(f"#{k}  {candidate.cost_cycles / 1e6:6.2f} Mcycles estimated  {timing}  ({candidate.describe})", flush=True)

    per_op = pipeline.compile("per_op", threads=args.threads).benchmark([x], runs=args.runs)
    rho = spearman(estimates, medians)
    best = int(np.argmin(medians))
    print(f"per_op: {per_op}")
    print(f"rank correlation (Spearman) of estimate and measurement: {rho:.2f}; the planner's pick #0 "
          f"runs {medians[0]:.3f} ms, the fastest candidate #{best} {medians[best]:.3f} ms")
    estimated_span, measured_span = max(estimates) / min(estimates), max(medians) / min(medians)
    print(f"the estimates span {estimated_span:.2f}x, the measured medians {measured_span:.2f}x")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.errorbar(np.array(estimates) / 1e6, medians, yerr=np.array(spreads).T, fmt="o", capsize=3)
    for k, (e, m) in enumerate(zip(estimates, medians)):
        ax.annotate(f"#{k}", (e / 1e6, m), textcoords="offset points", xytext=(4, 4 + 7 * (k % 2)), fontsize=7)
    ax.axhline(per_op.median_ms, color="gray", linestyle="--", label=f"per_op {per_op.median_ms:.2f} ms")
    clip_spread(ax, medians + [per_op.median_ms], [m + s[1] for m, s in zip(medians, spreads)])
    fig.text(0.77, 0.5, "tile rows of the main section\n\n" + "\n".join(labels), fontsize=7.5, va="center", family="monospace")
    fig.subplots_adjust(left=0.08, right=0.75)
    ax.set_xlabel("cost model estimate (Mcycles)")
    ax.set_ylabel(f"measured median (ms), min..max of {args.runs} runs")
    ax.set_title(f"B1 megakernel candidates, {args.threads} thread(s): Spearman rho {rho:.2f}; "
                 f"estimates span {estimated_span:.1f}x, times {measured_span:.2f}x", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    figure = args.out / "b1_candidates.png"
    fig.savefig(figure, dpi=110)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
