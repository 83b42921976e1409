"""The Python package: every call of the API, its results checked against independent
references (ONNX Runtime's outputs, the ONNX file's shapes, the C++ JSON reader), and its error
paths (the message, the exception type, nothing half-applied)."""
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
import pytest

import megalide
from conftest import ort_run

TOL = 1e-4


def max_err(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def accumulators(pipeline):
    return [s for s in pipeline.stages() if s.role == "accumulator"]


# --- the package -------------------------------------------------------------------------

def test_imports_from_any_directory_with_version_and_stubs(tmp):
    out = subprocess.run([sys.executable, "-c", "import megalide, os; print(megalide.__version__, os.path.dirname(megalide.__file__))"],
                         cwd=tmp, capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    version, where = out.stdout.split()
    assert version == megalide.__version__ == "0.1.0"
    package = pathlib.Path(where)
    assert (package / "py.typed").exists() and (package / "_megalide.pyi").exists()
    assert megalide.load.__doc__ and megalide.Schedule.__doc__ and megalide.compile.__doc__


def test_strategies_and_targets():
    assert {"per_op", "megakernel", "root", "adams2019"} <= set(megalide.strategies())
    assert "host" in megalide.targets() and "x86-64-avx2" in megalide.targets()


# --- the model and the pipeline ------------------------------------------------------------

def test_load_reports_graph_ops_and_shapes(pipeline, block_path):
    assert pipeline.inputs == ["x"] and pipeline.outputs == ["y"]
    assert pipeline.shapes["x"] == (1, 8, 12, 12) and pipeline.shapes["y"] == (1, 8, 12, 12)
    assert pipeline.dtypes["x"] == "float32"
    # As written, the ops are the ONNX file's nodes; the rewrites fuse each Clip into its Conv.
    raw = megalide.load(block_path, rewrite=False)
    assert [(op.name, op.op) for op in raw.ops] == [(n.name, n.op_type) for n in onnx.load(block_path).graph.node]
    assert len(pipeline.ops) == 4 and sum(op.op.endswith("Conv") for op in pipeline.ops) == 3
    assert "Conv" in pipeline.dump()
    # Every node output's shape agrees with ONNX's own shape inference.
    inferred = onnx.shape_inference.infer_shapes(onnx.load(block_path))
    for vi in inferred.graph.value_info:
        if vi.name in pipeline.shapes and pipeline.shapes[vi.name] is not None:
            assert pipeline.shapes[vi.name] == tuple(d.dim_value for d in vi.type.tensor_type.shape.dim), vi.name


def test_stages_list_roles_loops_types_and_bytes(pipeline, block_path):
    stages = pipeline.stages()
    names = [s.name for s in stages]
    assert len(names) == len(set(names))
    accs = accumulators(pipeline)
    assert len(accs) == 3
    for a in accs:
        assert a.type == "float32" and a.reduction_loops and all(a.reduction_loops)
        assert len(a.loops) == 4 and a.bytes == 4 * int(np.prod(a.shape))
    out = [s for s in stages if s.output]
    assert len(out) == 1 and out[0].name == stages[-1].name  # producers first: the output is last
    assert out[0].shape == (12, 12, 8, 1)  # Halide order: the ONNX shape reversed
    # Every stage has a shape and a footprint, found by bounds inference: the input's is its ONNX
    # shape reversed, and the padded depthwise input reaches one pixel beyond the image on each
    # side (the file's pads attribute).
    assert all(s.shape and s.footprint for s in stages), [s.name for s in stages if not (s.shape and s.footprint)]
    assert all(s.bytes is not None for s in stages)
    image = next(s for s in stages if s.role == "input")
    assert image.footprint == ((0, 12), (0, 12), (0, 8), (0, 1)) and image.shape == (12, 12, 8, 1)
    model = onnx.load(block_path)
    dw = next(n for n in model.graph.node if n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute))
    top, left, bottom, right = next(list(a.ints) for a in dw.attribute if a.name == "pads")
    hidden = next(i.dims[0] for i in model.graph.initializer if i.name == dw.input[1])
    pad = next(s for s in stages if s.role == "padding")
    assert pad.footprint == ((0, hidden), (-left, 12 + left + right), (-top, 12 + top + bottom), (0, 1))
    position = {n: i for i, n in enumerate(names)}
    for a in accs:  # an accumulation comes before the stage it is the reduction of
        assert position[a.name] < position[a.node]
    assert pipeline.stage(accs[0].name) == accs[0]
    with pytest.raises(megalide.Error, match="no Func named 'nope'"):
        pipeline.stage("nope")


def test_load_errors(tmp):
    with pytest.raises(megalide.Error, match="missing.onnx"):
        megalide.load(tmp / "missing.onnx")
    with pytest.raises(megalide.Error):
        megalide.load(tmp / "x.onnx", max_memory="lots")


# --- schedules as data ---------------------------------------------------------------------

def test_schedule_json_matches_the_cpp_reader(pipeline, tmp):
    for strategy in ("per_op", "megakernel"):
        s = megalide.schedule(pipeline, strategy)
        assert s.strategy == strategy and s.graph == pipeline.fingerprint and s.funcs
        cpp = pipeline._model.make_schedule_json(strategy, "host", 1, 0)
        # The Python object writes what the C++ reader reads back to the same schedule.
        assert json.loads(megalide._megalide.normalize_schedule_json(s.to_json())) == json.loads(cpp)
        s.save(tmp / f"{strategy}.json")
        again = megalide.Schedule.load(tmp / f"{strategy}.json", pipeline)
        assert again == s and not s.diff(again)
        s.check()
        assert "compute_root()" in s.to_cpp()
        assert all(line.split(":")[0] in {f.func for f in s.funcs} for line in s.placements().splitlines())


def test_schedule_from_strategy_json_file_and_candidate(pipeline, tmp):
    s = megalide.schedule(pipeline, "per_op")
    s.save(tmp / "mine.json")
    assert megalide.schedule(pipeline, str(tmp / "mine.json")) == s
    plan = megalide.explain(pipeline)
    if len(plan.candidates) > 1:
        second = megalide.schedule(pipeline, "megakernel", candidate=1)
        assert second == megalide.explain(pipeline, candidate=1).schedule
    with pytest.raises(megalide.Error, match="candidate applies to the megakernel"):
        megalide.schedule(pipeline, "per_op", candidate=1)
    with pytest.raises(megalide.Error, match="unknown"):
        megalide.schedule(pipeline, "fastest")


def test_edit_compute_root_diff_and_compile(pipeline, x):
    base = megalide.schedule(pipeline, "megakernel")
    edited = base.copy()
    pad = [s.name for s in pipeline.stages() if s.role == "padding"][0]  # the depthwise input, padded
    expand = next(s.name for s in pipeline.stages() if s.role == "layer")  # the first layer: the expand conv
    was = {f: (base.find(f).describe() if base.find(f) else "inline") for f in (pad, expand)}
    assert "root" not in was.values()
    # The padded input alone at root would read the expand layer inside a tile loop that no
    # longer encloses it: refused, and nothing changes ...
    with pytest.raises(megalide.ScheduleError, match=f"Func '{expand}': compute_at.*does not enclose its use in '{pad}'"):
        edited.func(pad).compute_root()
    assert edited == base
    # ... so both move, in one checked batch.
    with edited.batch():
        edited.func(pad).compute_root()
        edited.func(expand).compute_root()
    assert edited.find(pad).placement == "root" and edited.find(expand).placement == "root"
    d = base.diff(edited)
    assert sorted(d) == sorted(f"{f}: {was[f]} -> root" for f in (pad, expand)), str(d)
    assert base.find(pad).describe() == was[pad]  # the copy is independent
    expected = ort_run(pipeline.path, [x])[0]
    for s in (base, edited):
        y, = megalide.compile(pipeline, s).run([x])
        assert max_err(y, expected) < TOL


def test_edit_loop_steps(pipeline, x):
    s = megalide.schedule(pipeline, "root")
    out = [st for st in pipeline.stages() if st.output][0]
    v = out.loops
    s.func(out.name).stage(0).split(v[1], "yo", "yi", 4).reorder(v[0], "yi", v[2], "yo").vectorize(v[0]).parallel("yo")
    steps = s.find(out.name).stage(0).steps
    assert [st.op for st in steps][-4:] == ["split", "reorder", "vectorize", "parallel"]
    assert ".split(" in s.to_cpp() and ".parallel(yo)" in s.to_cpp()
    y, = megalide.compile(pipeline, s, threads=2).run([x])
    assert max_err(y, ort_run(pipeline.path, [x])[0]) < TOL


def test_store_in_vtcm_is_checked_and_kept(pipeline, tmp):
    s = megalide.schedule(pipeline, "root")
    out = [st.name for st in pipeline.stages() if st.output][0]
    layer = next(st.name for st in pipeline.stages() if st.role == "layer")
    s.func(layer).store_in("vtcm")
    assert s.find(layer).store_in == "vtcm" and s.find(layer).describe() == "root in VTCM"
    assert f"{layer}.store_in(MemoryType::VTCM).hoist_storage_root();" in s.to_cpp()
    s.save(tmp / "vtcm.json")
    saved = {f["func"]: f for f in json.loads((tmp / "vtcm.json").read_text())["funcs"]}
    assert saved[layer]["store_in"] == "vtcm"
    assert megalide.Schedule.load(tmp / "vtcm.json", pipeline) == s
    # Refused, with the schedule as it was: an output's buffer, an unknown memory; and
    # compiling for this machine, which has no VTCM.
    before = s.copy()
    with pytest.raises(megalide.ScheduleError, match=f"Func '{out}': store_in vtcm: a graph output's buffer is the caller's"):
        s.func(out).store_in("vtcm")
    with pytest.raises(megalide.ScheduleError, match="store_in: unknown memory 'sram'"):
        s.func(layer).store_in("sram")
    assert s == before
    with pytest.raises(megalide.ScheduleError, match=f"Func '{layer}': store_in vtcm: target 'host' has no VTCM"):
        megalide.compile(pipeline, s)
    s.func(layer).store_in(None)
    assert s.find(layer).store_in == ""


def test_unknown_stage_is_refused_and_nothing_changes(pipeline):
    s = megalide.schedule(pipeline, "megakernel")
    before = s.to_json()
    with pytest.raises(megalide.ScheduleError, match="no Func named 'not_a_stage'"):
        s.func("not_a_stage").compute_root()
    assert s.to_json() == before
    assert isinstance(megalide.ScheduleError("x"), megalide.Error)


def test_compute_at_a_loop_that_does_not_enclose_the_uses(pipeline):
    s = megalide.schedule(pipeline, "per_op")
    accs = accumulators(pipeline)
    # The first accumulation computed inside a loop of the last one, which does not use it.
    first, last = accs[0], accs[-1]
    before = s.to_json()
    with pytest.raises(megalide.ScheduleError, match="does not enclose its use"):
        s.func(first.node).compute_at(last.name, last.loops[1])
    assert s.to_json() == before
    with pytest.raises(megalide.ScheduleError, match="has no loop 'zz'"):
        s.func(first.node).compute_at(first.name, "zz")
    assert s.to_json() == before


def test_batch_is_all_or_nothing(pipeline):
    s = megalide.schedule(pipeline, "per_op")
    before = s.to_json()
    out = [st for st in pipeline.stages() if st.output][0]
    with pytest.raises(megalide.ScheduleError, match="vectorize: no loop 'nope'"):
        with s.batch():
            s.func(out.name).stage(0).split(out.loops[1], "a", "b", 2)  # fine on its own
            s.func(out.name).stage(0).vectorize("nope")                  # not a loop
    assert s.to_json() == before
    with s.batch():
        s.func(out.name).stage(0).clear()
        s.func(out.name).stage(0).split(out.loops[1], "a", "b", 2).vectorize(out.loops[0])
    assert [st.op for st in s.find(out.name).stage(0).steps] == ["split", "vectorize"]


def test_racing_reduction_and_bad_steps_are_refused(pipeline):
    s = megalide.schedule(pipeline, "root")
    acc = accumulators(pipeline)[0]
    rvar = acc.reduction_loops[0][0]
    with pytest.raises(megalide.ScheduleError, match="race"):
        s.func(acc.name).update(0).parallel(rvar)
    with pytest.raises(megalide.ScheduleError, match="factor must be >= 1"):
        s.func(acc.name).stage(0).split(acc.loops[0], "o", "i", 0)
    with pytest.raises(megalide.ScheduleError, match="cannot be inlined"):
        s.func(acc.name).compute_inline()


def test_unbound_schedule_checks_against_a_given_pipeline(pipeline, other_block_path, tmp):
    s = megalide.schedule(pipeline, "per_op")
    s.save(tmp / "s.json")
    loose = megalide.Schedule.load(tmp / "s.json")
    with pytest.raises(megalide.Error, match="bound to no pipeline"):
        loose.check()
    loose.check(pipeline)
    other = megalide.load(other_block_path)
    with pytest.raises(megalide.ScheduleError, match="made for another graph"):
        loose.check(other)
    with pytest.raises(megalide.ScheduleError, match="made for another graph"):
        megalide.compile(other, loose)


def test_malformed_schedules(tmp):
    with pytest.raises(megalide.ScheduleError, match="not valid JSON"):
        megalide.Schedule.from_json("{")
    with pytest.raises(megalide.ScheduleError, match="not a megalide schedule"):
        megalide.Schedule.from_json('{"format": "other"}')
    with pytest.raises(megalide.ScheduleError, match="unknown placement 'nowhere'"):
        megalide.Schedule.from_json(json.dumps({"format": "megalide-schedule-1", "strategy": "x", "graph": "",
                                                "funcs": [{"func": "f", "placement": "nowhere", "stages": []}]}))
    with pytest.raises(megalide.Error, match="cannot read schedule"):
        megalide.Schedule.load(tmp / "none.json")


# --- compile, run, benchmark -----------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["per_op", "megakernel", "root"])
@pytest.mark.parametrize("threads", [1, 2])
def test_compile_and_run_match_onnx_runtime(pipeline, x, strategy, threads):
    c = megalide.compile(pipeline, strategy, threads=threads)
    assert c.threads == threads and c.schedule.strategy == strategy
    expected = ort_run(pipeline.path, [x])[0]
    y, = c.run([x])
    assert y.shape == expected.shape and y.dtype == np.float32
    assert max_err(y, expected) < TOL
    assert max_err(c.run({"x": x})[0], expected) < TOL
    assert max_err(c.run(x)[0], expected) < TOL


def native_threads(expected):
    # The OS thread under a joined Python thread (or a joined worker) can still be exiting for a
    # moment: wait up to 2 s for the count to settle at `expected`, then report what it is.
    deadline = time.monotonic() + 2.0
    count = len(os.listdir("/proc/self/task"))
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.01)
        count = len(os.listdir("/proc/self/task"))
    return count


def test_each_compiled_model_runs_on_its_own_threads(pipeline, x):
    # Per-call thread counts: a compiled model owns threads - 1 workers beside its caller, so
    # models compiled for different counts run side by side in one process without sharing or
    # resizing one pool, and its workers go with it.
    expected = ort_run(pipeline.path, [x])[0]  # first: ONNX Runtime keeps threads of its own
    before = len(os.listdir("/proc/self/task"))
    three = megalide.compile(pipeline, "megakernel", threads=3)
    assert native_threads(before + 2) == before + 2
    one = megalide.compile(pipeline, "megakernel", threads=1)
    assert native_threads(before + 2) == before + 2
    errors = []

    def use(c):
        for _ in range(20):
            errors.append(max_err(c.run([x])[0], expected))

    callers = [threading.Thread(target=use, args=(c,)) for c in (three, one, three)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert len(errors) == 60 and max(errors) < TOL
    assert native_threads(before + 2) == before + 2  # no other pool (Halide's own) was started by the runs
    del three
    assert native_threads(before) == before


def test_run_refuses_wrong_inputs(pipeline, x):
    c = megalide.compile(pipeline, "per_op")
    with pytest.raises(megalide.Error, match="input 'x': expected float32 of shape \\(1, 8, 12, 12\\), got float64"):
        c.run([x.astype(np.float64)])
    with pytest.raises(megalide.Error, match="input 'x': expected float32 of shape \\(1, 8, 12, 12\\), got float32 of shape \\(1, 8, 12, 11\\)"):
        c.run([x[..., :11].copy()])
    with pytest.raises(megalide.Error, match="takes 1 input"):
        c.run([x, x])
    with pytest.raises(megalide.Error, match="missing input"):
        c.run({})
    with pytest.raises(megalide.Error, match="unknown input"):
        c.run({"x": x, "z": x})
    # Strided (non-contiguous) input: read correctly through a C-ordered copy.
    wide = np.zeros((1, 8, 12, 24), np.float32)
    wide[..., ::2] = x
    assert max_err(c.run([wide[..., ::2]])[0], c.run([x])[0]) == 0


def test_benchmark_reports_time_rate_and_peak(pipeline, x, block_path):
    c = megalide.compile(pipeline, "megakernel")
    b = c.benchmark([x], runs=5, warmup=1)
    assert b.runs == 5 and b.threads == 1
    assert 0 < b.min_ms <= b.median_ms <= b.max_ms
    # FLOPs: 2 x multiply-accumulates, counted here from the ONNX file's weights and shapes.
    model = onnx.load(block_path)
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    macs = sum(12 * 12 * weights[n.input[1]][0] * int(np.prod(weights[n.input[1]][1:])) for n in model.graph.node if n.op_type == "Conv")
    assert b.flops == 2 * macs
    assert b.gflops == pytest.approx(b.flops / (b.median_ms * 1e-3) * 1e-9)
    # The peak is the cached one or, where the clock rose since it was cached, the one measured
    # again right after the runs: never below the cached one, and not far above it.
    cached_peak = megalide.machine()["fma_gflops"]
    assert cached_peak <= b.peak_gflops <= 1.5 * cached_peak
    assert b.peak_fraction == pytest.approx(b.gflops / b.peak_gflops)
    assert "GFLOP/s" in str(b)
    with pytest.raises(megalide.Error, match="runs must be >= 1"):
        c.benchmark([x], runs=0)


def test_compile_errors(pipeline):
    with pytest.raises(megalide.Error, match="unknown target 'nosuch'"):
        megalide.compile(pipeline, "per_op", target="nosuch")
    with pytest.raises(megalide.Error, match="JIT-compiles for this machine"):
        megalide.compile(pipeline, "per_op", target="x86-64-avx2")
    with pytest.raises(megalide.Error, match="threads must be an integer >= 1"):
        megalide.compile(pipeline, "per_op", threads=0)
    with pytest.raises(megalide.Error, match="schedule must be"):
        megalide.compile(pipeline, 42)


# --- explain, quantize, ahead of time -------------------------------------------------------

def test_explain_as_data(pipeline):
    plan = megalide.explain(pipeline, threads=2)
    assert plan.threads == 2 and plan.target == "host"
    assert {s.func for s in plan.stages} >= {a.name for a in accumulators(pipeline)}
    for s in plan.stages:
        assert s.placement and s.reason and s.recompute >= 1.0 and s.root_bytes >= 0
    costs = [c.cost_cycles for c in plan.candidates]
    assert costs == sorted(costs) and plan.chosen == 0
    assert plan.schedule == megalide.schedule(pipeline, "megakernel", threads=2)
    assert plan.text == pipeline._model.explain(2, "host", 0) and str(plan) == plan.text
    other = megalide.explain(pipeline, target="x86-64-avx2")
    assert other.target == "x86-64-avx2"
    # The memory estimate: the totals are the stages' plus the input read once; fusing never
    # moves more than storing every stage whole, and the input alone is its 4-byte elements.
    input_bytes = 4 * int(np.prod(pipeline.shapes[pipeline.inputs[0]]))
    assert plan.memory_bytes == sum(s.memory_bytes for s in plan.stages) + input_bytes
    assert plan.memory_bytes_by_op == sum(s.memory_bytes_at_root for s in plan.stages) + input_bytes
    assert input_bytes <= plan.memory_bytes <= plan.memory_bytes_by_op
    with pytest.raises(megalide.Error, match="unknown target"):
        megalide.explain(pipeline, target="nosuch")


def test_quantize_and_run_int8(block_path, x, tmp):
    rng = np.random.default_rng(3)
    samples = [rng.uniform(-1, 1, x.shape).astype(np.float32) for _ in range(4)]
    report = megalide.quantize(block_path, samples, tmp / "q.onnx")
    assert (tmp / "q.onnx").exists() and "int8" in report.lower()
    q = megalide.load(tmp / "q.onnx")
    assert any(op.op in ("QuantizeLinear", "QLinearConv", "DequantizeLinear") or "Quant" in op.op for op in q.ops)
    y, = megalide.compile(q, "megakernel").run([x])
    # int8 against fp32 ONNX Runtime: within the quantization error the report states.
    assert max_err(y, ort_run(block_path, [x])[0]) < 0.5
    with pytest.raises(megalide.Error, match="method must be"):
        megalide.quantize(block_path, samples, tmp / "q2.onnx", method="best")


def test_compile_aot_writes_the_library(pipeline, tmp):
    s = megalide.schedule(pipeline, "megakernel")
    lib = megalide.compile_aot(pipeline, tmp / "lib", schedule=s, name="block", timing_runs=2)
    assert lib.name == "block"
    for suffix in (".a", ".h", ".schedule.json", ".report.txt"):
        assert (tmp / "lib" / f"block{suffix}").exists(), suffix
    saved = megalide.Schedule.load(tmp / "lib" / "block.schedule.json")
    assert not saved.diff(s)
    assert lib.median_ms > 0
    with pytest.raises(megalide.Error, match="not a C identifier|C identifier"):
        megalide.compile_aot(pipeline, tmp / "bad", name="9 lives")
    assert not (tmp / "bad" / "9 lives.a").exists()


def test_the_readme_example_runs(block_path, tmp):
    """README's Python section, run as written on the small block (its file and one stage the
    plan fuses per tile substituted): the edit lands, the output matches ONNX Runtime, and the
    saved schedule reads back equal."""
    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("\n## Python\n"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    code = code[:code.index("```")]
    pipeline = megalide.load(block_path)
    fused = [s.func for s in megalide.explain(pipeline).stages if s.placement.startswith("tile of")]
    assert fused, "the plan of the small block fuses nothing per tile"
    assert code.count('"b4.onnx"') == 1 and code.count('"_norm_LayerNormalization_output_0"') == 1
    code = code.replace('"b4.onnx"', repr(str(block_path))).replace('"_norm_LayerNormalization_output_0"', repr(fused[-1]))
    names: dict = {}
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        exec(compile(code, "README.md (Python)", "exec"), names)
    finally:
        os.chdir(cwd)
    saved = megalide.Schedule.load(str(tmp / "b4_norm_root.json"), pipeline)
    assert saved == names["s"] and saved.find(fused[-1]).placement == "root"
    assert max_err(names["y"], ort_run(block_path, [names["x"]])[0]) < TOL
