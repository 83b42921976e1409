"""megalide: compile whole sections of an ONNX model into ONE Halide pipeline, from Python.

    import megalide
    p = megalide.load("block.onnx")                       # import + graph rewrites
    p.stages()                                            # the pipeline's Funcs: roles, loops, shapes
    s = megalide.schedule(p, "megakernel", threads=1)     # an editable Schedule
    s.func("_dw_Conv_output_0").compute_root()            # one decision changed (checked at once)
    c = megalide.compile(p, s, threads=1)                 # JIT for this machine
    y, = c.run([x])                                       # NumPy in, NumPy out, no copies
    print(c.benchmark([x], runs=20))                      # median/min/max ms, GFLOP/s, % of peak
    s.save("mine.json")                                   # `megalide run --schedule mine.json`

Every call takes the code path of the command line (`megalide run`, `explain`, `quantize`,
`compile`). Bad input raises megalide.Error (a ValueError), a schedule that does not fit
its pipeline megalide.ScheduleError (an Error), a bug in megalide megalide.InternalError.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _megalide
from ._megalide import Error, InternalError, Model, ScheduleError, fma_peak_gflops, machine, strategies, targets
from ._schedule import FuncHandle, FuncSchedule, LoopRef, LoopStep, Schedule, ScheduleDiff, StageHandle, StageSchedule

__version__ = "0.1.0"


@dataclass(frozen=True)
class Stage:
    """One Func of the lowered pipeline (producers come first in Pipeline.stages())."""

    name: str                        #: the name schedules use
    role: str                        #: "layer", "accumulator", "padding", "input", "parameter", ... (stage_role.h)
    node: str                        #: the graph node output whose lowering made it ("" if shared)
    type: str                        #: element type, e.g. "float32", "int32"
    loops: Tuple[str, ...]           #: pure loop variables, innermost first
    reduction_loops: Tuple[Tuple[str, ...], ...]  #: per update stage, its reduction variables
    shape: Tuple[int, ...]           #: extents in Halide order (innermost first); () if unknown
    bytes: Optional[int]             #: the whole extent in bytes: what compute_root stores
    output: bool                     #: a graph output
    #: (min, extent) per dimension, innermost first, of the region the graph outputs read
    #: (Halide's bounds inference): a padding stage's includes its border; () if unknown
    footprint: Tuple[Tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Op:
    """A graph node after rewrites."""

    name: str
    op: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    attributes: Dict[str, str]
    domain: str = ""


@dataclass
class PlannedStage:
    """Where the megakernel planner put one Func, and why."""

    func: str
    placement: str
    reason: str
    root_bytes: int
    tile_bytes: int
    recompute: float
    cache: str
    #: estimated bytes moved beyond L2 (DDR on Hexagon) with the plan, and were it stored whole
    memory_bytes: int = 0
    memory_bytes_at_root: int = 0


@dataclass
class Candidate:
    """A tiling of the main section, with the cost model's estimate in cycles."""

    root: str
    dim: int
    rows: int
    sliding: bool
    alone: bool
    cost_cycles: float
    describe: str


@dataclass
class Plan:
    """The megakernel plan as data (`megalide explain`'s content)."""

    target: str
    threads: int
    stages: List[PlannedStage]
    candidates: List[Candidate]
    chosen: int
    notes: List[str]
    schedule: Schedule
    text: str
    #: estimated bytes moved beyond L2 in all (stages and inputs), with the plan and op by op
    memory_bytes: int = 0
    memory_bytes_by_op: int = 0

    def __str__(self) -> str:
        return self.text


@dataclass
class Benchmark:
    """Timings of repeated runs (megalide's one timer) and the rate they give."""

    median_ms: float
    min_ms: float
    max_ms: float
    runs: int
    threads: int
    flops: float            #: 2 x the multiply-accumulates of every Conv, Gemm and MatMul
    gflops: float           #: at the median
    peak_gflops: float      #: fp32 FMA peak on `threads` threads: the larger of the cached machine facts' and one measured right after the runs
    peak_fraction: float    #: gflops / peak_gflops

    def __str__(self) -> str:
        return (f"median {self.median_ms:.3f} ms (min {self.min_ms:.3f}, max {self.max_ms:.3f}, {self.runs} runs, "
                f"{self.threads} thread{'s' if self.threads != 1 else ''}): {self.gflops:.1f} GFLOP/s, "
                f"{100 * self.peak_fraction:.1f}% of the {self.peak_gflops:.0f} GFLOP/s FMA peak")


@dataclass
class AotLibrary:
    """What compile_aot() wrote."""

    name: str
    files: List[str]
    report: str
    median_ms: float    #: measured here on the JIT of the same code; negative where it does not run here


Inputs = Union[np.ndarray, Sequence[np.ndarray], Dict[str, np.ndarray]]


class Pipeline:
    """A model imported from ONNX and rewritten: the graph, and the one Halide pipeline it
    lowers to. Made by megalide.load()."""

    def __init__(self, model: Model, rewrite: bool = True):
        self._model = model
        self.rewrite = rewrite
        self._stages: Optional[List[Stage]] = None

    @property
    def path(self) -> str:
        return self._model.path

    @property
    def inputs(self) -> List[str]:
        return list(self._model.inputs)

    @property
    def outputs(self) -> List[str]:
        return list(self._model.outputs)

    @property
    def fingerprint(self) -> str:
        """The graph's digest: schedules made for it carry it."""
        return self._model.fingerprint

    def dump(self) -> str:
        """The graph after rewrites, one node per line with shapes."""
        return self._model.dump()

    @property
    def ops(self) -> List[Op]:
        return [Op(d["name"], d["op"], tuple(d["inputs"]), tuple(d["outputs"]), dict(d["attributes"]), d["domain"])
                for d in self._model.ops()]

    @property
    def shapes(self) -> Dict[str, Optional[Tuple[int, ...]]]:
        """Every value's shape in ONNX order (None where unknown)."""
        return {k: (None if v["shape"] is None else tuple(v["shape"])) for k, v in self._model.values().items()}

    @property
    def dtypes(self) -> Dict[str, str]:
        return {k: v["dtype"] for k, v in self._model.values().items()}

    def stages(self) -> List[Stage]:
        """The pipeline's Funcs, producers first."""
        if self._stages is None:
            self._stages = [Stage(d["name"], d["role"], d["node"], d["type"], tuple(d["loops"]),
                                  tuple(tuple(r) for r in d["reduction_loops"]), tuple(d["shape"]), d["bytes"],
                                  d["output"], tuple(tuple(r) for r in d["footprint"])) for d in self._model.stages()]
        return list(self._stages)

    def stage(self, name: str) -> Stage:
        for s in self.stages():
            if s.name == name:
                return s
        import difflib
        close = difflib.get_close_matches(name, [s.name for s in self.stages()], n=3)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise Error(f"no Func named '{name}' in the pipeline{hint}")

    def schedule(self, strategy: str = "megakernel", target: str = "host", threads: int = 1,
                 candidate: int = 0) -> Schedule:
        return schedule(self, strategy, target=target, threads=threads, candidate=candidate)

    def explain(self, target: str = "host", threads: int = 1, candidate: int = 0) -> Plan:
        return explain(self, target=target, threads=threads, candidate=candidate)

    def compile(self, schedule: Union[str, Schedule] = "megakernel", target: str = "host", threads: int = 1) -> "Compiled":
        return compile(self, schedule, target=target, threads=threads)

    def __repr__(self) -> str:
        return f"<megalide.Pipeline '{self.path}': {len(self._model.ops())} ops, inputs {self.inputs}>"


class Compiled:
    """A pipeline JIT-compiled with one schedule for this machine, run with `threads` threads:
    its own threads - 1 workers and the caller (no pool shared with other Compiled objects)."""

    def __init__(self, pipeline: Pipeline, compiled: "_megalide.Compiled", schedule: Schedule):
        self.pipeline = pipeline
        self._compiled = compiled
        self.schedule = schedule

    @property
    def threads(self) -> int:
        return self._compiled.threads

    @property
    def compile_ms(self) -> float:
        return self._compiled.compile_ms

    @property
    def schedule_ms(self) -> float:
        return self._compiled.schedule_ms

    def _arrays(self, inputs: Inputs) -> List[np.ndarray]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            names = self.pipeline.inputs
            unknown = sorted(set(inputs) - set(names))
            if unknown:
                raise Error(f"unknown input(s) {unknown}; the model's inputs are {names}")
            missing = [n for n in names if n not in inputs]
            if missing:
                raise Error(f"missing input(s) {missing}; the model's inputs are {names}")
            inputs = [inputs[n] for n in names]
        return [np.asarray(a) for a in inputs]

    def run(self, inputs: Inputs) -> List[np.ndarray]:
        """Runs on NumPy arrays (one array, a list in graph input order, or a dict by name);
        C-contiguous inputs are read in place. Returns the outputs in graph order."""
        return list(self._compiled.run(self._arrays(inputs)))

    def benchmark(self, inputs: Inputs, runs: int = 20, warmup: int = 3) -> Benchmark:
        """Times `runs` calls after `warmup` untimed ones (the timer of `megalide bench`)."""
        return Benchmark(**self._compiled.benchmark(self._arrays(inputs), runs, warmup))

    def __repr__(self) -> str:
        return f"<megalide.Compiled '{self.pipeline.path}' with '{self.schedule.strategy}', {self.threads} thread(s)>"


def load(path: Union[str, os.PathLike], rewrite: bool = True, max_memory: str = "4G") -> Pipeline:
    """Imports an ONNX model and runs the graph rewrites (`rewrite=False`: as written). A model
    whose tensors need more than `max_memory` is refused before anything is allocated."""
    return Pipeline(Model(os.fspath(path), rewrite, max_memory), rewrite)


def _check_threads(threads: int) -> None:
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise Error(f"threads must be an integer >= 1, got {threads!r}")


def schedule(pipeline: Pipeline, strategy: str = "megakernel", target: str = "host", threads: int = 1,
             candidate: int = 0) -> Schedule:
    """A strategy's schedule (megalide.strategies()) or a saved .json, as an editable Schedule
    bound to `pipeline`; `candidate` k > 0: the megakernel with the cost model's k-th tiling."""
    _check_threads(threads)
    text = pipeline._model.make_schedule_json(strategy, target, threads, candidate)
    return Schedule.from_json(text, pipeline)


def explain(pipeline: Pipeline, target: str = "host", threads: int = 1, candidate: int = 0) -> Plan:
    """The megakernel plan as data: per stage placement, reason, bytes, recompute and cache;
    the ranked candidates with the cost model's estimates; the schedule; explain's text."""
    _check_threads(threads)
    d = pipeline._model.plan(threads, target, candidate)
    return Plan(target=d["target"], threads=d["threads"], stages=[PlannedStage(**s) for s in d["stages"]],
                candidates=[Candidate(**c) for c in d["candidates"]], chosen=d["chosen"], notes=list(d["notes"]),
                schedule=Schedule.from_json(d["schedule_json"], pipeline), text=d["text"],
                memory_bytes=d["memory_bytes"], memory_bytes_by_op=d["memory_bytes_by_op"])


def compile(pipeline: Pipeline, schedule: Union[str, Schedule] = "megakernel", target: str = "host",
            threads: int = 1) -> Compiled:
    """JIT-compiles `pipeline` for this machine with a Schedule, a strategy name or a saved
    .json; it runs with `threads` threads (set per call, not per process)."""
    _check_threads(threads)
    if isinstance(schedule, Schedule):
        compiled = pipeline._model.compile_json(schedule.to_json(), threads, target)
        return Compiled(pipeline, compiled, Schedule.from_json(schedule.to_json(), pipeline))
    if not isinstance(schedule, str):
        raise Error(f"schedule must be a megalide.Schedule, a strategy name or a .json path, got {type(schedule).__name__}")
    compiled = pipeline._model.compile(schedule, threads, 0, target)
    return Compiled(pipeline, compiled, Schedule.from_json(compiled.schedule_json, pipeline))


def compile_aot(pipeline: Union[Pipeline, str, os.PathLike], outdir: Union[str, os.PathLike],
                schedule: Union[str, Schedule] = "megakernel", target: str = "host", threads: int = 0,
                name: str = "", timing_runs: int = 50) -> AotLibrary:
    """As `megalide compile`: NAME.a, NAME.h, the schedule (.json, .cpp), NAME.stmt, NAME.s and
    NAME.report.txt in `outdir`, for any target of megalide.targets(); nothing is left behind
    on failure."""
    path = pipeline.path if isinstance(pipeline, Pipeline) else os.fspath(pipeline)
    rewrite = pipeline.rewrite if isinstance(pipeline, Pipeline) else True
    with tempfile.TemporaryDirectory(prefix="megalide-schedule-") as tmp:
        spec = schedule
        if isinstance(schedule, Schedule):
            spec = os.path.join(tmp, f"{schedule.strategy or 'schedule'}.json")
            schedule.save(spec)
        elif not isinstance(schedule, str):
            raise Error(f"schedule must be a megalide.Schedule, a strategy name or a .json path, got {type(schedule).__name__}")
        d = _megalide.compile_aot(path, os.fspath(outdir), target, spec, threads, name, timing_runs, rewrite)
    return AotLibrary(name=d["name"], files=list(d["files"]), report=d["report"], median_ms=d["median_ms"])


def quantize(model: Union[str, os.PathLike], calibration: Sequence[np.ndarray], output: Union[str, os.PathLike],
             evaluation: Sequence[np.ndarray] = (), method: str = "minmax", percentile: float = 99.99) -> str:
    """Post-training int8 quantization, as `megalide quantize`: calibrates the float model on the
    samples, writes the QDQ model to `output` and returns the report (int8 vs fp32)."""
    return _megalide.quantize(os.fspath(model), [np.asarray(a) for a in calibration], os.fspath(output),
                              [np.asarray(a) for a in evaluation], method, percentile)


__all__ = ["Error", "InternalError", "ScheduleError", "Pipeline", "Stage", "Op", "Plan", "PlannedStage", "Candidate",
           "Compiled", "Benchmark", "AotLibrary", "Schedule", "FuncSchedule", "StageSchedule", "LoopStep", "LoopRef",
           "ScheduleDiff", "FuncHandle", "StageHandle", "load", "schedule", "explain", "compile", "compile_aot",
           "quantize", "strategies", "targets", "machine", "fma_peak_gflops", "Model", "__version__"]
