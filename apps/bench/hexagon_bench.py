"""megalide bench --target hexagon-hvx-v66: the int8 blocks run under qemu-hexagon-static, counted.

Hexagon code runs here under emulation, which models no timing, so this bench counts instead
of timing. Per block and strategy, `megalide run MODEL INPUT --target T --schedule S
--count-packets` builds the model for the target, runs it under QEMU, checks it bit for bit
against the host JIT of the same pipeline and schedule (it refuses otherwise) and prints:

- dynamic packets and the HVX instructions among them (QEMU's execution log),
- the heap high-water mark of the freestanding allocator,
- the wall time of that whole command (build, QEMU run with logging, host check).

To those the bench adds MACs per packet (the Conv/Gemm/MatMul multiply-accumulates of the fp32
model) against the stated ideal of 128 (one vrmpy per packet: 32 int32 lanes, 4 byte products
each), and the planner's estimate of the bytes moved beyond L2 (DDR): the megakernel plan's for
megakernel, every stage stored whole for per_op; none for the autoschedulers' schedules.

Blocks: Q1 (B1 in int8), digits-int8 (the digits CNN quantized on its calibration images, run
on held-out image 0), and "<block>-int8" for the bench's blocks (quantized as the host bench
quantizes them; run on the block's seeded input). A candidate that fails (Halide refuses the
schedule for the target, the build disagrees with the host, the time limit) is listed with the
first line of its error and the run goes on.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
IDEAL_MACS_PER_PACKET = 128
DEFAULT_BLOCKS = ["digits-int8", "Q1", "B2-int8", "B5-int8"]
DEFAULT_STRATEGIES = ["per_op", "megakernel", "adams2019", "mullapudi2016", "li2018"]
CSV_HEADER = "block,strategy,macs,packets,hvx_instructions,macs_per_packet,pct_ideal,ddr_bytes,heap_bytes,wall_s,status"


def log(quiet, message):
    if not quiet:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


def megalide_cli():
    cli = os.environ.get("MEGALIDE_CLI")
    if cli:
        return cli
    fallback = HERE.parent.parent / "build" / "apps" / "megalide"
    if not fallback.exists():
        raise SystemExit("megalide bench: cannot find the megalide CLI (run it as `megalide bench`, or set MEGALIDE_CLI)")
    return str(fallback)


def prepare(block_id, work, quiet):
    """(int8 ONNX path, input .npy path, MACs) for one block."""
    import blocks
    import megalide

    root = HERE.parent.parent
    if block_id == "digits-int8":
        fp32 = root / "apps" / "digits" / "digits_cnn.onnx"
        out = work / "digits-int8.onnx"
        if not out.exists():
            r = subprocess.run([megalide_cli(), "quantize", str(fp32), "--calib", str(root / "apps" / "digits" / "calib"),
                                "-o", str(out), "--quiet"], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("megalide quantize: " + r.stderr.strip())
        image = work / "digits-int8_input.npy"
        np.save(image, np.load(root / "apps" / "digits" / "heldout.npz")["x"][0:1])
        return out, image, blocks.onnx_flops(str(fp32)) // 2
    base = "B1" if block_id == "Q1" else block_id[:-len("-int8")]
    module, x = blocks.build(base)
    fp32 = work / f"{base}.onnx"
    if not fp32.exists():
        blocks.export(module, x, str(fp32))
    out = work / f"{block_id}.onnx"
    if not out.exists():
        import bench  # the host bench's quantization, so both benches count the same int8 files

        log(quiet, f"quantizing {base} (8 seeded calibration inputs)")
        bench.quantize_block(np, megalide, work, block_id, str(fp32), tuple(x.shape))
    image = work / f"{block_id}_input.npy"
    np.save(image, x.numpy())
    return out, image, blocks.onnx_flops(str(fp32)) // 2


def ddr_estimates(model, target):
    """{strategy: estimated bytes beyond L2} from the megakernel planner."""
    import megalide

    plan = megalide.explain(megalide.load(str(model)), target=target)
    return {"megakernel": plan.memory_bytes, "per_op": plan.memory_bytes_by_op}


COUNTS = re.compile(r"dynamic packets: (\d+); HVX instructions: (\d+); heap high-water mark: (\d+) bytes")


def run_one(model, image, target, strategy, work, timeout):
    out = work / f"{model.stem}_{strategy}"
    cmd = [megalide_cli(), "run", str(model), str(image), "--target", target, "--schedule", strategy,
           "--count-packets", "--output", str(out), "--quiet"]
    start = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"not run: over the {timeout:g} s limit"}
    wall = time.perf_counter() - start
    m = COUNTS.search(r.stdout)
    if r.returncode != 0 or not m:
        lines = [l for l in (r.stderr or r.stdout).splitlines() if l.strip()]
        errors = [l for l in lines if l.startswith("megalide:")] or lines  # past Halide's warnings
        first = errors[0] if errors else f"exit {r.returncode}"
        return {"status": "failed: " + first.replace("megalide: ", "", 1)[:200]}
    return {"status": "bit-exact with the host", "packets": int(m.group(1)), "hvx_instructions": int(m.group(2)),
            "heap_bytes": int(m.group(3)), "wall_s": wall}


def size_text(b):
    if b is None:
        return ""
    return f"{b / 2**20:.2f} MB" if b >= 2**20 else f"{b / 2**10:.0f} KB" if b >= 2**10 else f"{b} B"


def markdown(rows, target):
    lines = [f"Target {target} under qemu-hexagon-static; ideal {IDEAL_MACS_PER_PACKET} MACs per packet (one vrmpy).", "",
             "| block | MACs | strategy | packets | HVX instr. | MACs / packet | % of ideal | DDR estimate | heap high-water | build+run+check | result |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if "packets" in r:
            per = r["macs"] / r["packets"]
            lines.append(f"| {r['block']} | {r['macs'] / 1e6:.2f} M | {r['strategy']} | {r['packets']:,} | {r['hvx_instructions']:,} | "
                         f"{per:.1f} | {100 * per / IDEAL_MACS_PER_PACKET:.1f}% | {size_text(r.get('ddr_bytes'))} | "
                         f"{size_text(r['heap_bytes'])} | {r['wall_s']:.1f} s | {r['status']} |")
        else:
            lines.append(f"| {r['block']} | {r['macs'] / 1e6:.2f} M | {r['strategy']} | | | | | {size_text(r.get('ddr_bytes'))} | | | {r['status']} |")
    return "\n".join(lines) + "\n"


def main(args):
    """Runs the Hexagon bench for parsed bench.py arguments (args.target is a Hexagon target)."""
    work = pathlib.Path(args.work) / args.target
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for block_id in args.blocks:
        log(args.quiet, f"{block_id}: preparing the int8 model")
        model, image, macs = prepare(block_id, work, args.quiet)
        ddr = ddr_estimates(model, args.target)
        for strategy in args.strategies:
            log(args.quiet, f"{block_id} {strategy}: building for {args.target}, running under QEMU, counting")
            r = run_one(model, image, args.target, strategy, work, args.probe_timeout)
            r.update(block=block_id, strategy=strategy, macs=macs, ddr_bytes=ddr.get(strategy))
            log(args.quiet, f"{block_id} {strategy}: " + (f"{r['packets']:,} packets" if "packets" in r else r["status"]))
            rows.append(r)
    table = markdown(rows, args.target)
    print(table)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(table)
    if args.csv:
        with open(args.csv, "w") as f:
            f.write(CSV_HEADER + "\n")
            for r in rows:
                per = r["macs"] / r["packets"] if "packets" in r else None
                cells = [r["block"], r["strategy"], r["macs"], r.get("packets", ""), r.get("hvx_instructions", ""),
                         f"{per:.2f}" if per else "", f"{100 * per / IDEAL_MACS_PER_PACKET:.2f}" if per else "",
                         r.get("ddr_bytes") if r.get("ddr_bytes") is not None else "", r.get("heap_bytes", ""),
                         f"{r['wall_s']:.2f}" if "wall_s" in r else "", json.dumps(r["status"])]
                f.write(",".join(map(str, cells)) + "\n")
    if not any("packets" in r for r in rows):
        raise SystemExit("megalide bench: no candidate ran on " + args.target)
