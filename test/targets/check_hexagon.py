#!/usr/bin/env python3
"""The Hexagon HVX target, run under qemu-hexagon-static, against the host.

usage: check_hexagon.py MEGALIDE_CLI MEGALIDE_PYTHON_DIR REPO_ROOT WORK_DIR

1. The digits CNN quantized to int8 (`megalide quantize`, 64 calibration images) runs through
   `megalide run --target hexagon-hvx-v66` with per_op and with megakernel on held-out images;
   its logits equal, bit for bit, those of the host JIT with the same requantization
   (`--requantize fixed_point`, which the Hexagon target uses by default: v66 HVX has no
   float vectors). Integer arithmetic on both sides, so exact equality is the contract.
   B1 and B5 of the bench in int8 (megalide.quantize on 4 seeded inputs): megakernel bit-exact;
   per_op bit-exact or refused by `megalide run`'s host check with nothing written.
2. The fp32 digits CNN runs too (HVX v66 has no float vectors: its float stages are scalar
   code) and agrees with the host within 1e-4 of the logits' range (float reassociation only);
   Sigmoid, Tanh, Softmax, Sqrt and LayerNormalization in fp32, whose scalar code calls C math
   that megalide's freestanding runtime provides, agree with ONNX Runtime within 4 ulp (the
   layer norm, whose sums run in another order, within 1e-5).
3. `megalide compile --target hexagon-hvx-v66` writes the library only after running it under
   QEMU against the host (its report says so), and its assembly holds HVX byte dot products
   (vrmpy); hexagon-hvx-v68 is built and its report says it was not run.
4. Bad input, each with a message naming the problem, exit status 1 and no output file:
   a schedule with parallel() for a Hexagon target; an autoscheduler's schedule Halide cannot
   build for HVX (li2018); a run on hexagon-hvx-v68 (compile-only:
   QEMU 7.2 runs v65-v67 programs only); a machine without qemu-hexagon-static (PATH without it);
   a schedule whose VTCM buffers exceed the target's 256 KB, and one asking VTCM of the host; a
   schedule vectorizing a float stage (HVX v66 has no float vectors).
   hexagon-hvx-v66-vtcm (the megakernel's per-tile buffers in VTCM) runs bit-exact too.
5. `megalide bench --target hexagon-hvx-v66` reports, for the digits CNN's megakernel, the
   packets and HVX instructions that `megalide run --count-packets` counts; v68 is refused.
Exit status 0 when all hold, 1 otherwise.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np

TARGET = "hexagon-hvx-v66"


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def megalide(cli, *args, env=None):
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True, env=env)


def run_logits(cli, model, image, out, *options, env=None):
    r = megalide(cli, "run", model, image, "--output", out, "--quiet", *options, env=env)
    if r.returncode != 0:
        fail(f"megalide run {model} {' '.join(options)} exited {r.returncode}:\n{r.stderr}")
    return np.load(out / "logits.npy")


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        sys.exit(2)
    cli, module_dir, root, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    fp32 = root / "apps" / "digits" / "digits_cnn.onnx"
    int8 = work / "digits_int8.onnx"
    r = megalide(cli, "quantize", fp32, "--calib", root / "apps" / "digits" / "calib", "-o", int8, "--quiet")
    if r.returncode != 0:
        fail("megalide quantize: " + r.stderr)
    heldout = np.load(root / "apps" / "digits" / "heldout.npz")
    images = []
    for i in (0, 7, 123):
        path = work / f"image{i}.npy"
        np.save(path, heldout["x"][i:i + 1])
        images.append(path)

    # 1. int8, bit-exact with the host's fixed-point requantization.
    for k, image in enumerate(images):
        want = run_logits(cli, int8, image, work / f"host{k}", "--requantize", "fixed_point")
        for strategy in ("per_op", "megakernel"):
            got = run_logits(cli, int8, image, work / f"{strategy}{k}", "--target", TARGET, "--schedule", strategy)
            if not np.array_equal(got, want):
                fail(f"int8 {strategy} on {TARGET}, {image.name}: logits {got} differ from the host's {want}")
            print(f"int8 {strategy} {image.name}: bit-exact with the host")

    # 2. fp32 as scalar code.
    want = run_logits(cli, fp32, images[0], work / "host_fp32")
    got = run_logits(cli, fp32, images[0], work / "hexagon_fp32", "--target", TARGET, "--schedule", "megakernel")
    tolerance = 1e-4 * float(np.ptp(want))
    if np.abs(got - want).max() > tolerance:
        fail(f"fp32 on {TARGET}: max |error| {np.abs(got - want).max()} > {tolerance}")
    print(f"fp32 megakernel: within {tolerance:.2g} of the host")

    # 2a. fp32 ops whose scalar code calls C math (floorf in Halide's exp: Sigmoid, Softmax;
    # tanhf: Tanh; the compiler's sqrt routine: Sqrt, LayerNormalization), which megalide's
    # freestanding runtime provides (src/target/hexagon/float_math.c): one model, every
    # output against ONNX Runtime on inputs in [-12, 12] (saturation, both signs).
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper
    shape = [1, 4, 6, 8]
    value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
    nodes = [helper.make_node("Sigmoid", ["x"], ["sigmoid"]), helper.make_node("Tanh", ["x"], ["tanh"]),
             helper.make_node("Softmax", ["x"], ["softmax"], axis=-1), helper.make_node("Mul", ["x", "x"], ["square"]),
             helper.make_node("Sqrt", ["square"], ["sqrt"]),
             helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["layernorm"], axis=-1, epsilon=1e-5)]
    init = [helper.make_tensor("gamma", TensorProto.FLOAT, [8], np.linspace(0.5, 1.5, 8)),
            helper.make_tensor("beta", TensorProto.FLOAT, [8], np.linspace(-0.2, 0.2, 8))]
    outputs = ["sigmoid", "tanh", "softmax", "sqrt", "layernorm"]
    graph = helper.make_graph(nodes, "float_math", [value("x")], [value(o) for o in outputs], initializer=init)
    math_model = work / "float_math.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), math_model)
    x = np.random.default_rng(5).uniform(-12, 12, shape).astype(np.float32)
    x.flat[:4] = [0.0, -0.0, 1e-3, -1e-3]
    np.save(work / "float_math_x.npy", x)
    r = megalide(cli, "run", math_model, work / "float_math_x.npy", "--output", work / "hexagon_math", "--quiet",
                 "--target", TARGET)
    if r.returncode != 0:
        fail(f"fp32 ops with C math on {TARGET} exited {r.returncode}:\n{r.stderr}")
    expected = onnxruntime.InferenceSession(str(math_model)).run(None, {"x": x})
    for name, want in zip(outputs, expected):
        got = np.load(work / "hexagon_math" / f"{name}.npy")
        # Float32 results of a few roundings each: within 4 units in the last place; the
        # layer norm's mean and variance sum 8 terms in another order than ONNX Runtime's:
        # 1e-5, 40 ulp of its outputs (|y| < 3).
        tolerance = 4 * np.spacing(np.abs(want).astype(np.float32)) + (1e-5 if name == "layernorm" else 1e-7)
        if not np.all(np.abs(got - want) <= tolerance):
            fail(f"fp32 {name} on {TARGET}: max |error| {np.abs(got - want).max()} against ONNX Runtime")
        print(f"fp32 {name} (scalar C math): max |error| {np.abs(got - want).max():.2g} against ONNX Runtime")

    # 2b. int8 MobileNetV2 blocks (B1, B5 of the bench, quantized by megalide.quantize on 4
    # seeded inputs): megakernel bit-exact; per_op bit-exact or refused (never silently wrong:
    # B1's per_op build computed some outputs one step off, see docs/BENCHMARKS.md).
    sys.path.insert(0, str(root / "apps" / "bench"))
    sys.path.insert(0, module_dir)
    import blocks
    import megalide as megalide_py
    for block in ("B1", "B5"):
        module, x = blocks.build(block)
        fp = work / f"{block}.onnx"
        blocks.export(module, x, str(fp))
        rng = np.random.default_rng(1)
        calib = [rng.standard_normal(tuple(x.shape)).astype(np.float32) for _ in range(4)]
        q = work / f"{block}_int8.onnx"
        megalide_py.quantize(str(fp), calib, str(q))
        image = work / f"{block}_input.npy"
        np.save(image, calib[0])
        want = None
        r = megalide(cli, "run", q, image, "--output", work / f"{block}_host", "--quiet", "--requantize", "fixed_point")
        if r.returncode != 0:
            fail(f"{block} int8 on the host: {r.stderr}")
        want = np.load(work / f"{block}_host" / "output.npy")
        for strategy in ("megakernel", "per_op"):
            out = work / f"{block}_{strategy}"
            r = megalide(cli, "run", q, image, "--output", out, "--quiet", "--target", TARGET, "--schedule", strategy)
            if r.returncode == 1 and strategy == "per_op" and "computed wrong results under QEMU" in r.stderr:
                if out.exists() and any(out.iterdir()):
                    fail(f"{block} per_op was refused but wrote {list(out.iterdir())}")
                print(f"{block} int8 per_op: refused (the build disagrees with the host), nothing written")
                continue
            if r.returncode != 0:
                fail(f"{block} int8 {strategy} on {TARGET}: exit {r.returncode}\n{r.stderr}")
            if not np.array_equal(np.load(out / "output.npy"), want):
                fail(f"{block} int8 {strategy} on {TARGET}: written outputs differ from the host's")
            print(f"{block} int8 {strategy}: bit-exact with the host")

    # 2c. explain's memory estimate (DDR on Hexagon): per stage and in total, for the plan and
    # op by op; B5's intermediates (1.2 MB) exceed the 512 KB L2, so fusing them must save.
    r = megalide(cli, "explain", work / "B5_int8.onnx", "--target", TARGET)
    m = re.search(r"memory beyond L2 \(estimate; DDR on Hexagon\): ([0-9.]+) (B|KB|MB) with this plan, ([0-9.]+) (B|KB|MB) with", r.stdout)
    if r.returncode != 0 or not m or "memory beyond L2 (estimate): " not in r.stdout:
        fail(f"explain --target {TARGET} B5: no memory estimate (exit {r.returncode}):\n{r.stdout[-2000:]}{r.stderr}")
    unit = {"B": 1, "KB": 1024, "MB": 1024 ** 2}
    plan, by_op = float(m.group(1)) * unit[m.group(2)], float(m.group(3)) * unit[m.group(4)]
    if not plan < by_op:
        fail(f"explain B5: the plan's memory estimate {plan:.0f} B is not below op by op's {by_op:.0f} B")
    print(f"explain B5: memory beyond L2 {plan / 2**20:.2f} MB with the plan, {by_op / 2**20:.2f} MB op by op")

    # 3. megalide compile: a checked library (run under QEMU against the host before it is
    # written) whose assembly holds HVX dot products (vrmpy: the int8 convolutions' byte dot
    # products); v68 is built but says it was not run.
    for target, expect in ((TARGET, "bit-exact with the host JIT"), ("hexagon-hvx-v68", "NOT RUN")):
        out = work / f"lib_{target}"
        r = megalide(cli, "compile", int8, "--target", target, "-o", out, "--quiet")
        if r.returncode != 0:
            fail(f"megalide compile --target {target}: exit {r.returncode}\n{r.stderr}")
        report = (out / "digits_int8.report.txt").read_text()
        if expect not in report:
            fail(f"compile --target {target}: the report lacks '{expect}':\n{report}")
        for suffix in (".a", ".h", ".s", ".stmt", ".schedule.json"):
            if not (out / ("digits_int8" + suffix)).is_file():
                fail(f"compile --target {target} wrote no digits_int8{suffix}")
        if "vrmpy" not in (out / "digits_int8.s").read_text():
            fail(f"compile --target {target}: no vrmpy (HVX byte dot product) in digits_int8.s")
        print(f"compile --target {target}: {expect}, vrmpy in the assembly")

    # 4. Bad input.
    saved = work / "per_op.json"
    r = megalide(cli, "run", int8, images[0], "--output", work / "save", "--quiet", "--target", TARGET,
                 "--save-schedule", saved)
    if r.returncode != 0:
        fail("saving the Hexagon per_op schedule: " + r.stderr)
    schedule = json.loads(saved.read_text())
    root_func = next(f for f in schedule["funcs"] if f["placement"] == "root" and f["stages"][0]["steps"])
    # parallel over the outer loop of the stage's first split, a loop that exists.
    split = next(s for s in root_func["stages"][0]["steps"] if s["op"] == "split")
    root_func["stages"][0]["steps"].append({"op": "parallel", "vars": [split["vars"][1]]})
    bad = work / "parallel.json"
    bad.write_text(json.dumps(schedule))
    checks = [
        (["run", int8, images[0], "--target", TARGET, "--schedule", bad], "is not allowed on target", None),
        (["run", int8, images[0], "--target", "hexagon-hvx-v68"], "compile-only", None),
        # Halide's li2018 vectorizes float, which HVX v66 lacks: its limit, said as such.
        (["run", int8, images[0], "--target", TARGET, "--schedule", "li2018"], "schedule does not build for hexagon-hvx-v66", None),
    ]
    # A schedule whose VTCM buffers do not fit the target's 256 KB: a 1 MB float stage (4 x 256
    # x 256) put in VTCM by hand; refused before anything is compiled, naming it and its size.
    big = work / "big_stage.onnx"
    big_shape = [1, 4, 256, 256]
    onnx.save(helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["r"], ["y"])], "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, big_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, big_shape)]), opset_imports=[helper.make_opsetid("", 17)]), big)
    np.save(work / "big_x.npy", np.zeros(big_shape, np.float32))
    big_pipeline = megalide_py.load(str(big))
    vtcm_schedule = megalide_py.schedule(big_pipeline, "per_op", target=TARGET)
    relu = next(st.name for st in big_pipeline.stages() if st.node == "r" and st.role == "layer")
    vtcm_schedule.func(relu).store_in("vtcm")
    vtcm_schedule.save(work / "too_big_for_vtcm.json")
    checks.append((["run", big, work / "big_x.npy", "--target", TARGET, "--schedule", work / "too_big_for_vtcm.json"],
                   f"the schedule's VTCM buffers need 1024 KB at once, more than the 256 KB of VTCM on {TARGET}: {relu} (1024 KB)",
                   None))
    checks.append((["run", big, work / "big_x.npy", "--schedule", work / "too_big_for_vtcm.json"],
                   f"Func '{relu}': store_in vtcm: target 'host' has no VTCM", None))
    # A float stage vectorized by hand (the quantization of the float image input): HVX v66 has
    # no float vectors, so Halide's backend would stop with an internal error; refused first.
    digits_pipeline = megalide_py.load(str(int8))
    float_schedule = megalide_py.schedule(digits_pipeline, "per_op", target=TARGET)
    quantize_input = digits_pipeline.stage("image_quantized")
    float_schedule.func(quantize_input.name).stage(0).split(quantize_input.loops[0], "xo", "xi", 32).vectorize("xi")
    float_schedule.save(work / "float_vectorized.json")
    checks.append((["run", int8, images[0], "--target", TARGET, "--schedule", work / "float_vectorized.json"],
                   "'image_quantized' computes in float and is vectorized, but target 'hexagon-hvx-v66' has no float vectors",
                   None))
    # No emulator on PATH: only the compiler and linker are reachable.
    bare = work / "bare_path"
    bare.mkdir()
    for tool in ("clang-19", "ld.lld-19"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bare / tool)
    checks.append((["run", int8, images[0], "--target", TARGET], "qemu-hexagon-static (qemu-user-static)",
                   dict(os.environ, PATH=str(bare))))
    for k, (args, message, env) in enumerate(checks):
        out = work / f"bad{k}"
        r = megalide(cli, *args, "-o" if args[0] == "compile" else "--output", out, env=env)
        if r.returncode != 1 or message not in r.stderr:
            fail(f"megalide {' '.join(map(str, args))}: exit {r.returncode}, expected 1 with '{message}':\n{r.stderr}")
        if out.exists() and any(out.iterdir()):
            fail(f"megalide {' '.join(map(str, args))} wrote {list(out.iterdir())}")
        print(f"refused as expected: {message}")

    # 4b. hexagon-hvx-v66-vtcm: the megakernel's per-tile buffers in VTCM (explain says which),
    # still bit-exact with the host.
    r = megalide(cli, "explain", int8, "--target", "hexagon-hvx-v66-vtcm", "--quiet")
    in_vtcm = r.stdout.count("in VTCM, allocated once per call")
    if r.returncode != 0 or in_vtcm == 0:
        fail(f"megalide explain --target hexagon-hvx-v66-vtcm: exit {r.returncode}, {in_vtcm} stages in VTCM\n{r.stderr}")
    want = run_logits(cli, int8, images[0], work / "host_vtcm", "--requantize", "fixed_point")
    got = run_logits(cli, int8, images[0], work / "vtcm", "--target", "hexagon-hvx-v66-vtcm", "--schedule", "megakernel")
    if not np.array_equal(got, want):
        fail(f"int8 megakernel on hexagon-hvx-v66-vtcm: logits {got} differ from the host's {want}")
    print(f"int8 megakernel with {in_vtcm} per-tile buffers in VTCM: bit-exact with the host")

    # 5. megalide bench --target: its counts are those of `megalide run --count-packets` for the
    # same model, input and schedule (one build, deterministic); a packet holds at most four
    # instructions; vrmpy is in the digits CNN's code, so some instructions are HVX.
    r = megalide(cli, "run", int8, images[0], "--output", work / "counted", "--quiet", "--target", TARGET,
                 "--schedule", "megakernel", "--count-packets")
    counted = re.search(r"dynamic packets: (\d+); HVX instructions: (\d+)", r.stdout)
    if r.returncode != 0 or not counted:
        fail(f"megalide run --count-packets: exit {r.returncode}\n{r.stdout}{r.stderr}")
    packets, hvx = int(counted.group(1)), int(counted.group(2))
    if not 0 < hvx < 4 * packets:
        fail(f"{hvx} HVX instructions in {packets} packets")
    csv = work / "bench.csv"
    r = megalide(cli, "bench", "--target", TARGET, "--blocks", "digits-int8", "--strategies", "megakernel",
                 "--work", work / "bench", "--csv", csv, "--quiet")
    if r.returncode != 0:
        fail(f"megalide bench --target {TARGET}: exit {r.returncode}\n{r.stderr}")
    header, row = csv.read_text().splitlines()[:2]
    row = dict(zip(header.split(","), row.split(",")))
    if (int(row["packets"]), int(row["hvx_instructions"])) != (packets, hvx):
        fail(f"bench counted {row['packets']} packets, {row['hvx_instructions']} HVX; run --count-packets {packets}, {hvx}")
    if "bit-exact" not in row["status"] or not int(row["ddr_bytes"]) > 0:
        fail(f"bench row {row}")
    r = megalide(cli, "bench", "--target", "hexagon-hvx-v68", "--work", work / "bench")
    if r.returncode != 2 or "compile-only" not in r.stderr:
        fail(f"megalide bench --target hexagon-hvx-v68: exit {r.returncode}, expected 2 with 'compile-only':\n{r.stderr}")
    print(f"bench --target {TARGET}: {packets:,} packets, {hvx:,} HVX instructions, as run --count-packets counts them")
    print("all Hexagon checks hold")


if __name__ == "__main__":
    main()
