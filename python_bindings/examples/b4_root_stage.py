"""What does one placement decision cost? For the self-attention block B4 (256 tokens x 512,
8 heads), take the megakernel plan, move single stages that it fuses into their consumers'
tiles to compute_root (the whole tensor written to memory and read back, as op-by-op
execution does), and time each edited schedule against the plan and against per_op.

    python python_bindings/examples/b4_root_stage.py --out OUT      # writes OUT/b4_root_stage.png
"""
import numpy as np

import megalide
from _common import arguments, clip_spread, export_block, pyplot


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0])
    path, x = export_block("B4", args.out)
    pipeline = megalide.load(path)
    plan = pipeline.explain(threads=args.threads)
    fused = [s for s in plan.stages if s.placement.startswith("tile of")]
    print("stages the plan computes per tile of a consumer:")
    for s in fused:
        print(f"  {s.func}: {s.placement} ({s.root_bytes / 1024:.0f} KB at root)")

    variants = [("megakernel plan", plan.schedule)]
    for stage in fused:
        edited = plan.schedule.copy()
        edited.func(stage.func).compute_root()      # checked against the pipeline at once
        variants.append((f"{stage.func} at root", edited))
    variants.append(("per_op", "per_op"))

    reference = None
    names, medians, spreads = [], [], []
    for name, schedule in variants:
        compiled = pipeline.compile(schedule, threads=args.threads)
        y = compiled.run([x])[0]
        reference = y if reference is None else reference
        error = float(np.abs(y - reference).max())
        if error > 1e-3:
            raise SystemExit(f"'{name}' differs from the megakernel plan's output by {error}")
        timing = compiled.benchmark([x], runs=args.runs)
        names.append(name)
        medians.append(timing.median_ms)
        spreads.append((timing.median_ms - timing.min_ms, timing.max_ms - timing.median_ms))
        print(f"{name:45s} {timing}", flush=True)
    if len(variants) > 2:
        print("what changed in the first edit:\n" + str(plan.schedule.diff(variants[1][1])))

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.55 * len(names)))
    rows = np.arange(len(names))
    ax.barh(rows, medians, xerr=np.array(spreads).T, capsize=3,
            color=["tab:blue"] + ["tab:orange"] * (len(names) - 2) + ["tab:gray"])
    clip_spread(ax, medians, [m + s[1] for m, s in zip(medians, spreads)], axis="x")
    ax.set_yticks(rows, names, fontsize=8)
    ax.invert_yaxis()
    for r, m, (_, above) in zip(rows, medians, spreads):
        ax.text(min(m + above, 1.6 * max(medians)), r, f"  {m:.2f} ms", va="center", fontsize=8)
    ax.set_xlabel(f"median (ms), min..max of {args.runs} runs, {args.threads} thread(s)")
    ax.set_title("B4 self-attention: megakernel plan, one stage moved to root", fontsize=10)
    fig.tight_layout()
    figure = args.out / "b4_root_stage.png"
    fig.savefig(figure, dpi=110)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
