#!/usr/bin/env python3
"""megalide bench: every strategy and peer on DESIGN.md's benchmark blocks, one process per
thread count, interleaved timing, outputs checked first.

  megalide bench [--blocks B1,B3] [--strategies per_op,adams2019,...]
                 [--peers onnxruntime,torch_eager,torch_compile] [--threads 1,2]
                 [--runs N] [--csv FILE] [--markdown FILE] [--chart FILE.png]
  megalide bench --target hexagon-hvx-v66 [--blocks digits-int8,Q1,...] [--strategies ...]
                 [--csv FILE] [--markdown FILE]    (counted under QEMU: see hexagon_bench.py)

Per thread count a child process (HL_NUM_THREADS, torch and ONNX Runtime set to that count)
loads every block, compiles each megalide strategy and prepares each peer on the SAME ONNX
file (torch runs the module the file was exported from, same weights), checks every output
against PyTorch eager, then times: 3 warm-up runs each, then --runs rounds in which every
candidate runs once (interleaved, so drift hits all alike). Reports median, min and max, and
GFLOP/s and % of the FMA peak measured in the same process. Q1 is B1 quantized by `megalide
quantize` (calibrated on 8 seeded random inputs): megalide's strategies and ONNX Runtime run
the same QDQ file, checked against PyTorch's fp32 B1 within 5% of its output range (int8), and
its GFLOP/s count B1's multiply-adds (as int8 operations). Idle worker threads of every
runtime sleep rather than spin (ONNX Runtime allow_spinning=0, OMP_WAIT_POLICY=PASSIVE), so
that one candidate's spinning pool does not slow the next.

Blocks M1-M3 are whole models (MobileNetV2, ResNet-18, a BERT-base encoder layer) and
"<block>-int8" any block quantized as Q1 is. Before it is timed, each megalide candidate is
scheduled, compiled and run once in a process of its own under --probe-limit-gb of address
space and a timeout: one that fails there (an autoscheduler exhausting memory, a crash) is
listed as not timed, with the reason, and the run goes on. The table starts with the machine.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
CSV_HEADER = "block,strategy,threads,median_ms,min_ms,max_ms,gflops,pct_peak,max_abs_err"
STRATEGIES = ["root", "per_op", "megakernel", "megakernel:tuned", "adams2019", "mullapudi2016", "li2018"]
PEERS = ["onnxruntime", "torch_eager", "torch_compile"]
ALL_BLOCKS = ["B1", "B2", "B3", "B4", "B5"]


def fail(message):
    print(f"megalide bench: {message}", file=sys.stderr)
    sys.exit(2)


def parse_list(text, known, what):
    items = [s for s in text.split(",") if s]
    for item in items:
        if item not in known:
            fail(f"unknown {what} '{item}' (known: {', '.join(known)})")
    return items


def parse_args(argv):
    p = argparse.ArgumentParser(prog="megalide bench", description=__doc__.split("\n")[0])
    p.add_argument("--blocks", help=f"default {','.join(ALL_BLOCKS)}; on Hexagon digits-int8,Q1,B2-int8,B5-int8")
    p.add_argument("--strategies", default="per_op,megakernel,adams2019,mullapudi2016,li2018")
    p.add_argument("--target", default="host",
                   help="host (timed here, with the peers) or hexagon-hvx-v66 (the int8 blocks under qemu-hexagon: "
                        "packets, HVX instructions, MACs per packet, DDR estimate, heap; see hexagon_bench.py)")
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--threads", default="1,2")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--csv")
    p.add_argument("--markdown")
    p.add_argument("--chart")
    p.add_argument("--work", default=str(pathlib.Path.cwd() / "build" / "bench"), help="where block ONNX files go")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--probe-limit-gb", type=float, default=8.0,
                   help="each megalide candidate is first scheduled, compiled and run once in a process of its "
                        "own with this much address space (GB) and --probe-timeout seconds; one that fails "
                        "there is reported as not timed and the run goes on")
    p.add_argument("--probe-timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--probe", nargs=2, metavar=("MODEL", "STRATEGY"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    import blocks
    hexagon = args.target.startswith("hexagon")
    if args.target not in ("host", "hexagon-hvx-v66", "hexagon-hvx-v66-vtcm"):
        fail(f"--target '{args.target}': the bench runs on host (timed) or hexagon-hvx-v66[-vtcm] (counted under QEMU)" +
             ("; hexagon-hvx-v68 is compile-only here (QEMU 7.2 runs v65-v67 programs)" if hexagon else ""))
    known = list(blocks.BLOCKS) + ["Q1"] + [b + "-int8" for b in blocks.BLOCKS]
    if hexagon:
        import hexagon_bench
        known = ["digits-int8", "Q1"] + [b + "-int8" for b in blocks.BLOCKS]
        args.blocks = args.blocks or ",".join(hexagon_bench.DEFAULT_BLOCKS)
    args.blocks = parse_list(args.blocks or ",".join(ALL_BLOCKS), known, "block" + (" (int8 only on Hexagon)" if hexagon else ""))
    args.strategies = parse_list(args.strategies, STRATEGIES, "strategy")
    args.peers = parse_list(args.peers, PEERS, "peer")
    try:
        args.threads = [int(t) for t in args.threads.split(",") if t]
    except ValueError:
        fail(f"--threads takes integers, got '{args.threads}'")
    if not args.threads or min(args.threads) < 1:
        fail("--threads needs positive integers")
    if args.runs < 1:
        fail("--runs must be >= 1")
    if not args.probe_limit_gb > 0:
        fail(f"--probe-limit-gb must be a positive number of GB, got {args.probe_limit_gb:g}")
    return args


QUIET = False


def log(message):
    if not QUIET:
        print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- child: one thread count

def quantize_block(np, megalide, work, block_id, fp32_path, shape):
    """An int8 block (Q1 is B1's, "<id>-int8" any block's): the fp32 ONNX file quantized by
    megalide.quantize (`megalide quantize`'s code path) on 8 seeded random inputs."""
    rng = np.random.default_rng(1)
    calib = [rng.standard_normal(shape).astype(np.float32) for _ in range(8)]
    out = work / f"{block_id}.onnx"
    megalide.quantize(fp32_path, calib, str(out))
    return str(out)


def probe(args):
    """Schedules, compiles and runs one candidate once, in this process of its own, under the
    address-space limit: a candidate that exhausts memory (an autoscheduler's search, a huge
    allocation in the generated code) or crashes takes only this process with it."""
    import resource
    limit = int(args.probe_limit_gb * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np
    import megalide
    model = megalide.Model(args.probe[0])
    compiled = model.compile(args.probe[1], args.threads[0])
    x = np.load(args.probe[0] + ".input.npy")
    compiled.run([x])


def probe_failure(args, path, strategy, threads, env):
    """None when the candidate survives its probe, else why not (one line)."""
    cmd = [sys.executable, str(HERE / "bench.py"), "--probe", path, strategy, "--threads", str(threads),
           "--probe-limit-gb", str(args.probe_limit_gb)]
    try:
        result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=args.probe_timeout)
    except subprocess.TimeoutExpired:
        return f"not done in {args.probe_timeout:.0f} s (scheduling, compiling and one run)"
    if result.returncode == 0:
        return None
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    if result.returncode < 0:
        return f"killed by signal {-result.returncode} (address space limited to {args.probe_limit_gb:g} GB)"
    if any("MemoryError" in l or "std::bad_alloc" in l or "Out of memory" in l for l in lines):
        return f"out of memory within {args.probe_limit_gb:g} GB"
    return (lines[-1] if lines else f"exit {result.returncode}")[:200]


def child(args):
    import numpy as np
    import torch
    import blocks
    import megalide

    threads = args.threads[0]
    torch.set_num_threads(threads)
    # The best of three measurements: a peak is what the machine can do, and a single short
    # measurement can land on a moment when a core is busy elsewhere.
    peak = max(megalide.fma_peak_gflops(threads) for _ in range(3))
    log(f"threads {threads}: measured FMA peak {peak:.1f} GFLOP/s")
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows, failures, schedule_ms, compile_s = [], [], {}, {}
    for block_id in args.blocks:
        quantized = block_id == "Q1" or block_id.endswith("-int8")
        base = "B1" if block_id == "Q1" else block_id[:-len("-int8")] if quantized else block_id
        module, x = blocks.build(base)
        path = str(work / f"{base}.onnx")
        blocks.export(module, x, path)
        flops = blocks.onnx_flops(path)
        if quantized:
            path = quantize_block(np, megalide, work, block_id, path, tuple(x.shape))
        np.save(path + ".input.npy", x.numpy())
        with torch.no_grad():
            reference = module(x).numpy()
        xn = x.numpy()
        candidates = {}
        model = megalide.Model(path)
        for strategy in args.strategies:
            why = probe_failure(args, path, strategy, threads, dict(os.environ))
            if why:
                log(f"{block_id} {strategy}: not timed: {why}")
                failures.append({"block": block_id, "strategy": strategy, "threads": threads, "why": why})
                continue
            t0 = time.perf_counter()
            try:
                compiled = model.compile(strategy, threads)
            except Exception as e:  # report and go on: one strategy failing is a result too
                log(f"{block_id} {strategy}: failed to compile: {e}")
                failures.append({"block": block_id, "strategy": strategy, "threads": threads,
                                 "why": "compile failed: " + str(e).splitlines()[0]})
                continue
            schedule_ms[(block_id, strategy)] = compiled.schedule_ms
            compile_s[(block_id, strategy)] = (compiled.schedule_ms + compiled.compile_ms) / 1e3
            log(f"{block_id} {strategy}: scheduled in {compiled.schedule_ms:.0f} ms, compiled in "
                f"{compiled.compile_ms:.0f} ms ({time.perf_counter() - t0:.1f} s)")
            candidates[strategy] = (lambda c=compiled: c.run([xn])[0])
        if "onnxruntime" in args.peers:
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle worker threads sleep instead of spinning, so they do not steal the second
            # core from the candidate timed next (all candidates share the process).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            candidates["onnxruntime"] = lambda: session.run(None, {"input": xn})[0]
        if "torch_eager" in args.peers and not quantized:
            def eager():
                with torch.no_grad():
                    return module(x).numpy()
            candidates["torch_eager"] = eager
        if "torch_compile" in args.peers and not quantized:
            compiled_module = torch.compile(module)
            def inductor():
                with torch.no_grad():
                    return compiled_module(x).numpy()
            t0 = time.perf_counter()
            inductor()
            log(f"{block_id} torch_compile: compiled in {time.perf_counter() - t0:.1f} s")
            candidates["torch_compile"] = inductor

        errors = {}
        for name, fn in list(candidates.items()):
            try:
                out = fn()
            except Exception as e:  # a strategy that cannot run is reported, not timed
                log(f"{block_id} {name}: failed to run: {str(e).splitlines()[0]}")
                failures.append({"block": block_id, "strategy": name, "threads": threads,
                                 "why": "run failed: " + str(e).splitlines()[0]})
                del candidates[name]
                continue
            err = float(np.abs(out.astype(np.float64) - reference).max())
            tol = 1e-3 + (5e-2 if quantized else 1e-3) * float(np.abs(reference).max())
            errors[name] = err
            if not err <= tol:
                log(f"{block_id} {name}: output differs from PyTorch by {err:.3g} (tolerance {tol:.3g}); not timed")
                failures.append({"block": block_id, "strategy": name, "threads": threads,
                                 "why": f"output differs from PyTorch by {err:.3g}"})
                del candidates[name]
        times = {name: [] for name in candidates}
        for name, fn in candidates.items():
            for _ in range(3):
                fn()
        for _ in range(args.runs):
            for name, fn in candidates.items():
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
        for name, ts in times.items():
            median = statistics.median(ts)
            gflops = flops / (median * 1e-3) * 1e-9
            rows.append({"block": block_id, "strategy": name, "threads": threads, "median_ms": median,
                         "min_ms": min(ts), "max_ms": max(ts), "gflops": gflops,
                         "pct_peak": 100.0 * gflops / peak, "max_abs_err": errors[name]})
            log(f"{block_id} {name:14s} {median:8.3f} ms (min {min(ts):.3f}, max {max(ts):.3f}) "
                f"{gflops:7.1f} GFLOP/s {100 * gflops / peak:5.1f}% of peak")
    for r in rows:
        r["schedule_ms"] = schedule_ms.get((r["block"], r["strategy"]))
        r["compile_s"] = compile_s.get((r["block"], r["strategy"]))
    print("BENCH-ROWS " + json.dumps({"rows": rows, "peak": peak, "failures": failures,
                                      "machine": megalide.machine()["describe"]}))


# ---------------------------------------------------------------- parent: all thread counts

def markdown_table(rows, peaks, failures, machine=""):
    blocks_seen = sorted({r["block"] for r in rows}, key=lambda b: (b[0], b))
    lines = [f"Machine: {machine.strip()}".replace("\n", "; ")] if machine else []
    if os.environ.get("HL_JIT_TARGET"):
        # (megalide plans and compiles for it; the FMA peak is still the machine's own)
        lines.append(f"megalide restricted to HL_JIT_TARGET={os.environ['HL_JIT_TARGET']}"
                     + (f", PyTorch to ATEN_CPU_CAPABILITY={os.environ['ATEN_CPU_CAPABILITY']}"
                        if os.environ.get("ATEN_CPU_CAPABILITY") else "")
                     + "; ONNX Runtime unrestricted")
    for threads in sorted({r["threads"] for r in rows}):
        lines.append(f"\n**{threads} thread{'s' if threads > 1 else ''}** (measured FMA peak {peaks[threads]:.0f} GFLOP/s)\n")
        lines.append("| block | strategy | median ms | min | max | GFLOP/s | % peak | vs per_op | vs ORT | compile s | max abs err |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for b in blocks_seen:
            group = [r for r in rows if r["block"] == b and r["threads"] == threads]
            base = next((r["median_ms"] for r in group if r["strategy"] == "per_op"), None)
            ort = next((r["median_ms"] for r in group if r["strategy"] == "onnxruntime"), None)
            for r in sorted(group, key=lambda r: r["median_ms"]):
                rel = f"{base / r['median_ms']:.2f}x" if base else "-"
                vs_ort = f"{ort / r['median_ms']:.2f}x" if ort else "-"
                built = f"{r['compile_s']:.1f}" if r.get("compile_s") is not None else "-"
                lines.append(f"| {b} | {r['strategy']} | {r['median_ms']:.3f} | {r['min_ms']:.3f} | {r['max_ms']:.3f} | "
                             f"{r['gflops']:.1f} | {r['pct_peak']:.1f} | {rel} | {vs_ort} | {built} | {r['max_abs_err']:.1e} |")
    if failures:
        lines.append("\nNot timed:\n")
        for f in failures:
            lines.append(f"- {f['block']} {f['strategy']} ({f['threads']} thread(s)): {f['why']}")
    scheduled = [r for r in rows if r.get("schedule_ms") is not None]
    if scheduled:
        slowest = max(scheduled, key=lambda r: r["schedule_ms"])
        lines.append(f"\nScheduling time (without compilation): at most {slowest['schedule_ms']:.0f} ms "
                     f"({slowest['block']}, {slowest['strategy']}).")
        mk = [r for r in scheduled if r["strategy"] == "megakernel"]
        if mk:
            worst = max(mk, key=lambda r: r["schedule_ms"])
            verdict = "yes" if worst["schedule_ms"] < 2000 else "NO"
            lines.append(f"megakernel scheduled every block in under 2 s: {verdict} (slowest {worst['schedule_ms']:.0f} ms, "
                         f"{worst['block']}, {worst['threads']} thread(s)).")
    return "\n".join(lines) + "\n"


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    thread_counts = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(1, len(thread_counts), figsize=(7 * len(thread_counts), 4.5), squeeze=False)
    for ax, threads in zip(axes[0], thread_counts):
        group = [r for r in rows if r["threads"] == threads]
        block_ids = sorted({r["block"] for r in group})
        names = sorted({r["strategy"] for r in group})
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            values = []
            for b in block_ids:
                base = next((r["median_ms"] for r in group if r["block"] == b and r["strategy"] == "per_op"), None)
                mine = next((r["median_ms"] for r in group if r["block"] == b and r["strategy"] == name), None)
                values.append(base / mine if base and mine else 0)
            ax.bar([j + i * width for j in range(len(block_ids))], values, width, label=name)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(block_ids))], block_ids)
        ax.set_ylabel("speed relative to per_op (higher is faster)")
        ax.set_title(f"{threads} thread{'s' if threads > 1 else ''}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parent(args, argv):
    rows, peaks, failures, machine = [], {}, [], ""
    for threads in args.threads:
        # OMP_WAIT_POLICY=PASSIVE: PyTorch's OpenMP workers sleep when idle rather than spin
        # (spinning workers would slow whichever candidate runs next in the interleaving).
        # GLIBC_TUNABLES: large blocks stay in the heap instead of being mmapped and unmapped
        # on every run. Without it each run of an op-by-op schedule page-faults its fresh
        # multi-megabyte intermediates again (B5 per_op: 4.4 ms instead of 0.64 ms), which a
        # runtime with an arena would not pay; every candidate gets the same setting.
        env = dict(os.environ, HL_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE",
                   GLIBC_TUNABLES="glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=268435456")
        log(f"--- {threads} thread(s): blocks {','.join(args.blocks)}")
        child_argv = [a for a in argv]
        cmd = [sys.executable, str(HERE / "bench.py"), "--child", "--threads", str(threads)]
        skip = False
        for a in child_argv:
            if skip:
                skip = False
                continue
            if a == "--threads":
                skip = True
                continue
            if a.startswith("--threads="):
                continue
            cmd.append(a)
        result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        if result.returncode != 0:
            fail(f"the {threads}-thread run failed (exit {result.returncode})")
        line = [l for l in result.stdout.splitlines() if l.startswith("BENCH-ROWS ")][-1]
        data = json.loads(line[len("BENCH-ROWS "):])
        rows += data["rows"]
        failures += data["failures"]
        peaks[threads] = data["peak"]
        machine = data.get("machine", machine)
    table = markdown_table(rows, peaks, failures, machine)
    print(table)
    if args.csv:
        with open(args.csv, "w") as f:
            f.write(CSV_HEADER + "\n")
            for r in rows:
                f.write(f"{r['block']},{r['strategy']},{r['threads']},{r['median_ms']:.4f},{r['min_ms']:.4f},"
                        f"{r['max_ms']:.4f},{r['gflops']:.2f},{r['pct_peak']:.2f},{r['max_abs_err']:.3g}\n")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table)
    if args.chart:
        chart(rows, args.chart)


def main(argv):
    sys.path.insert(0, str(HERE))
    args = parse_args(argv)
    global QUIET
    QUIET = args.quiet
    missing = []
    peers = [] if args.target != "host" else ["onnxruntime"] if "onnxruntime" in args.peers else []
    for module in ["numpy", "torch", "onnx", "megalide"] + peers:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        fail("missing Python modules: " + ", ".join(missing) +
             " (run `bash scripts/bootstrap.sh --bench`; megalide's module is in build/python)")
    if args.target != "host":
        import hexagon_bench
        hexagon_bench.main(args)
    elif args.probe:
        probe(args)
    elif args.child:
        child(args)
    else:
        parent(args, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
