"""Schedules as editable Python objects, mirroring the C++ data of schedule/schedule.h.

A Schedule lists the Funcs it places (the rest are inlined); each FuncSchedule holds the
placement (inline, root, at a loop of a consumer, optionally stored higher and folded) and,
per stage (0: the pure definition, k: update k-1), the ordered loop steps. The JSON these
objects read and write is the C++ reader's format ("megalide-schedule-1"); the C++ side stays
the one judge of legality (`check`), of the Halide C++ text (`to_cpp`) and of what compiles.

Edits go through handles, which check the whole schedule against its pipeline after every
edit and undo the edit if the check fails, so a schedule is never left half-changed:

    s = megalide.schedule(pipeline, "megakernel")
    s.func("_dw_Conv_output_0").compute_root()
    s.func("_dw_Conv_output_0").stage(0).split("d1", "d1_o", "d1_i", 8).vectorize("d0")
    with s.batch():            # several edits, checked once at the end (all or nothing)
        ...

The fields (s.funcs, f.placement, st.steps, ...) are plain data that may also be changed by
hand; such changes are checked by s.check() and by compile().
"""
from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, List, Optional

from . import _megalide

PLACEMENTS = ("inline", "root", "at")
STEP_OPS = ("split", "reorder", "vectorize", "unroll", "parallel", "rfactor", "vectorize_reduction")
TAILS = ("auto", "round_up", "guard_with_if", "shift_inwards")


@dataclass
class LoopRef:
    """A loop of `func`'s last stage, by its variable name."""

    func: str
    var: str

    def __str__(self) -> str:
        return f"{self.func}.{self.var}"


@dataclass
class LoopStep:
    """One loop transformation, applied in order (schedule.h's LoopStep).

    split: vars = [var, outer, inner], `factor`, `tail`; reorder: vars innermost first;
    vectorize / unroll / parallel: [var]; rfactor: [rvar, var] with `intermediate_at` and
    `intermediate_vectorize`; vectorize_reduction: [rvar].
    """

    op: str
    vars: List[str]
    factor: int = 0
    tail: str = "auto"
    intermediate_at: str = ""
    intermediate_vectorize: bool = True

    def to_dict(self) -> dict:
        d: dict = {"op": self.op, "vars": list(self.vars)}
        if self.op == "split":
            d["factor"], d["tail"] = self.factor, self.tail
        if self.op == "rfactor":
            if self.intermediate_at:
                d["intermediate_at"] = self.intermediate_at
            if not self.intermediate_vectorize:
                d["intermediate_vectorize"] = False
        return d

    @staticmethod
    def from_dict(d: dict) -> "LoopStep":
        return LoopStep(op=d["op"], vars=list(d["vars"]), factor=d.get("factor", 0), tail=d.get("tail", "auto"),
                        intermediate_at=d.get("intermediate_at", ""),
                        intermediate_vectorize=d.get("intermediate_vectorize", True))

    def __str__(self) -> str:
        if self.op == "split":
            return f"split({', '.join(self.vars)}, {self.factor}, {self.tail})"
        if self.op == "rfactor":
            extra = f", at={self.intermediate_at}" if self.intermediate_at else ""
            return f"rfactor({', '.join(self.vars)}{extra})"
        return f"{self.op}({', '.join(self.vars)})"


@dataclass
class StageSchedule:
    """The loop steps of one stage: 0 is the pure definition, k is update k-1."""

    stage: int
    steps: List[LoopStep] = field(default_factory=list)


@dataclass
class FuncSchedule:
    """Where one Func is computed and stored, and how each of its stages loops."""

    func: str
    placement: str = "inline"
    compute_at: Optional[LoopRef] = None
    store_at: Optional[LoopRef] = None
    fold_var: str = ""
    fold_factor: int = 0
    #: "" (Halide's choice) or "vtcm": Hexagon's vector memory, allocated once per call
    store_in: str = ""
    stages: List[StageSchedule] = field(default_factory=list)

    def stage(self, index: int) -> StageSchedule:
        """The stage's schedule, created (empty) if the Func has none yet."""
        for st in self.stages:
            if st.stage == index:
                return st
        st = StageSchedule(index)
        self.stages.append(st)
        self.stages.sort(key=lambda s: s.stage)
        return st

    def to_dict(self) -> dict:
        ref = lambda r: None if r is None else {"func": r.func, "var": r.var}  # noqa: E731
        d = {"func": self.func, "placement": self.placement, "compute_at": ref(self.compute_at),
             "store_at": ref(self.store_at),
             "stages": [{"stage": st.stage, "steps": [s.to_dict() for s in st.steps]} for st in self.stages]}
        if self.fold_factor:
            d["fold_storage"] = {"var": self.fold_var, "factor": self.fold_factor}
        if self.store_in:
            d["store_in"] = self.store_in
        return d

    @staticmethod
    def from_dict(d: dict) -> "FuncSchedule":
        ref = lambda r: None if r is None else LoopRef(r["func"], r["var"])  # noqa: E731
        fold = d.get("fold_storage") or {}
        return FuncSchedule(func=d["func"], placement=d["placement"], compute_at=ref(d.get("compute_at")),
                            store_at=ref(d.get("store_at")), fold_var=fold.get("var", ""),
                            fold_factor=fold.get("factor", 0), store_in=d.get("store_in", ""),
                            stages=[StageSchedule(sj["stage"], [LoopStep.from_dict(x) for x in sj["steps"]])
                                    for sj in d["stages"]])

    def describe(self) -> str:
        if self.placement == "at":
            text = f"at {self.compute_at}"
        else:
            text = self.placement
        if self.store_at is not None:
            text += f" (store_at {self.store_at})"
        if self.fold_factor:
            text += f" (fold {self.fold_var} % {self.fold_factor})"
        if self.store_in:
            text += " in " + ("VTCM" if self.store_in == "vtcm" else self.store_in)
        return text


class Schedule:
    """A whole pipeline's schedule: the Funcs it places, who made it, and for which graph.

    Made by megalide.schedule(pipeline, strategy), loaded with Schedule.load(path) or
    Schedule.from_json(text). Bound to a pipeline (`pipeline`), every edit through func() is
    checked at once; unbound, check(pipeline) checks it.
    """

    def __init__(self, strategy: str = "hand", graph: str = "", funcs: Optional[List[FuncSchedule]] = None,
                 machine: str = "", autoscheduler: str = "", autoscheduler_params: Optional[dict] = None,
                 pipeline: Any = None):
        self.strategy = strategy
        self.graph = graph
        self.funcs: List[FuncSchedule] = funcs or []
        self.machine = machine
        self.autoscheduler = autoscheduler
        self.autoscheduler_params: dict = dict(autoscheduler_params or {})
        self.pipeline = pipeline
        self._batch_depth = 0

    # --- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        d: dict = {"format": "megalide-schedule-1", "strategy": self.strategy, "graph": self.graph,
                   "funcs": [f.to_dict() for f in self.funcs]}
        if self.autoscheduler:
            d["autoscheduler"] = {"name": self.autoscheduler, "params": dict(self.autoscheduler_params)}
        if self.machine:
            d["machine"] = self.machine
        return d

    def to_json(self) -> str:
        """The schedule as JSON, in the format `megalide run --schedule FILE.json` reads."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @staticmethod
    def from_json(text: str, pipeline: Any = None) -> "Schedule":
        """Parses a schedule; malformed text raises ScheduleError with the C++ reader's message."""
        d = json.loads(_megalide.normalize_schedule_json(text))
        a = d.get("autoscheduler") or {}
        return Schedule(strategy=d["strategy"], graph=d["graph"], funcs=[FuncSchedule.from_dict(f) for f in d["funcs"]],
                        machine=d.get("machine", ""), autoscheduler=a.get("name", ""),
                        autoscheduler_params=a.get("params", {}), pipeline=pipeline)

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            f.write(self.to_json() + "\n")

    @staticmethod
    def load(path: str, pipeline: Any = None) -> "Schedule":
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise _megalide.Error(f"cannot read schedule '{path}': {e.strerror}") from None
        return Schedule.from_json(text, pipeline)

    # --- views ----------------------------------------------------------------------------

    def to_cpp(self) -> str:
        """The equivalent Halide C++ schedule, one statement per line."""
        return _megalide.schedule_cpp(self.to_json())

    def placements(self) -> str:
        """One line per scheduled Func: "name: root", "name: at consumer.y", ..."""
        return _megalide.schedule_placements(self.to_json())

    def __str__(self) -> str:
        return self.placements()

    def __repr__(self) -> str:
        return f"<megalide.Schedule '{self.strategy}', {len(self.funcs)} Funcs scheduled>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.to_dict() == other.to_dict()

    def copy(self) -> "Schedule":
        """An independent copy, bound to the same pipeline."""
        return Schedule.from_json(self.to_json(), self.pipeline)

    def find(self, func: str) -> Optional[FuncSchedule]:
        """The FuncSchedule of `func`, or None when it is inlined by omission."""
        for f in self.funcs:
            if f.func == func:
                return f
        return None

    def diff(self, other: "Schedule") -> "ScheduleDiff":
        """What changes from this schedule to `other`, one line per Func placement or stage."""
        lines: List[str] = []
        mine = {f.func: f for f in self.funcs}
        theirs = {f.func: f for f in other.funcs}
        for name in sorted(set(mine) | set(theirs)):
            a = mine.get(name) or FuncSchedule(name)
            b = theirs.get(name) or FuncSchedule(name)
            if a.describe() != b.describe():
                lines.append(f"{name}: {a.describe()} -> {b.describe()}")
            stages = sorted({st.stage for st in a.stages} | {st.stage for st in b.stages})
            for k in stages:
                sa = [str(s) for s in next((st.steps for st in a.stages if st.stage == k), [])]
                sb = [str(s) for s in next((st.steps for st in b.stages if st.stage == k), [])]
                if sa != sb:
                    lines.append(f"{name} stage {k}: [{'; '.join(sa)}] -> [{'; '.join(sb)}]")
        return ScheduleDiff(lines)

    # --- checking and editing -------------------------------------------------------------

    def check(self, pipeline: Any = None) -> None:
        """Checks the schedule against `pipeline` (default: the one it is bound to) without
        applying it. Raises megalide.ScheduleError naming the Func, stage and loop at fault."""
        p = pipeline if pipeline is not None else self.pipeline
        if p is None:
            raise _megalide.Error("check(): this schedule is bound to no pipeline; pass one: schedule.check(pipeline)")
        p._model.check(self.to_json())

    def func(self, name: str) -> "FuncHandle":
        """A handle that edits `name`'s placement and stages (checked edits)."""
        return FuncHandle(self, name)

    @contextlib.contextmanager
    def batch(self) -> Iterator["Schedule"]:
        """Edits inside the block are checked once, at its end; if that check (or the block)
        fails, every edit of the block is undone."""
        saved = copy.deepcopy(self.funcs)
        self._batch_depth += 1
        try:
            yield self
        except BaseException:
            self._batch_depth -= 1
            self.funcs = saved
            raise
        self._batch_depth -= 1
        if self._batch_depth == 0 and self.pipeline is not None:
            try:
                self.check()
            except BaseException:
                self.funcs = saved
                raise

    def _edit(self, change: Callable[[List[FuncSchedule]], None]) -> None:
        funcs = copy.deepcopy(self.funcs)
        change(funcs)
        if self._batch_depth == 0 and self.pipeline is not None:
            trial = copy.copy(self)
            trial.funcs = funcs
            trial.check()
        self.funcs = funcs


class ScheduleDiff(list):
    """The lines of Schedule.diff(); empty (false) when the schedules place and loop alike."""

    def __str__(self) -> str:
        return "\n".join(self) if self else "(no differences)"


class FuncHandle:
    """Edits one Func of a Schedule; each method checks the result and returns the handle."""

    def __init__(self, schedule: Schedule, name: str):
        self._schedule, self.name = schedule, name

    def _set(self, change: Callable[[FuncSchedule], None]) -> "FuncHandle":
        def apply(funcs: List[FuncSchedule]) -> None:
            f = next((x for x in funcs if x.func == self.name), None)
            if f is None:  # not listed yet: placed as Halide places it by default
                f = FuncSchedule(self.name, placement=self._default_placement())
                funcs.append(f)
            change(f)

        self._schedule._edit(apply)
        return self

    def _default_placement(self) -> str:
        p = self._schedule.pipeline
        if p is not None:
            for stage in p.stages():
                if stage.name == self.name:
                    return "root" if stage.output else "inline"
        return "inline"

    @property
    def data(self) -> FuncSchedule:
        """The FuncSchedule as it stands (an inlined Func not listed yet: a fresh one)."""
        return self._schedule.find(self.name) or FuncSchedule(self.name, placement=self._default_placement())

    def compute_root(self) -> "FuncHandle":
        def change(f: FuncSchedule) -> None:
            f.placement, f.compute_at = "root", None
        return self._set(change)

    def compute_inline(self) -> "FuncHandle":
        def change(f: FuncSchedule) -> None:
            f.placement, f.compute_at, f.store_at, f.fold_var, f.fold_factor, f.store_in = "inline", None, None, "", 0, ""
        return self._set(change)

    def compute_at(self, func: str, var: str) -> "FuncHandle":
        def change(f: FuncSchedule) -> None:
            f.placement, f.compute_at = "at", LoopRef(func, var)
        return self._set(change)

    def store_at(self, func: Optional[str], var: Optional[str] = None) -> "FuncHandle":
        """Stores at a loop outside compute_at (sliding window); store_at(None) removes it."""
        def change(f: FuncSchedule) -> None:
            f.store_at = None if func is None else LoopRef(func, var or "")
        return self._set(change)

    def fold_storage(self, var: str, factor: int) -> "FuncHandle":
        """Keeps dimension `var` modulo `factor` (0 removes the fold)."""
        def change(f: FuncSchedule) -> None:
            f.fold_var, f.fold_factor = (var, factor) if factor else ("", 0)
        return self._set(change)

    def store_in(self, memory: Optional[str]) -> "FuncHandle":
        """Puts the Func's buffer in `memory`: "vtcm" (Hexagon's vector memory, one allocation
        per call; compiling for a target without VTCM, or beyond its size, is refused);
        None: Halide's choice."""
        def change(f: FuncSchedule) -> None:
            f.store_in = memory or ""
        return self._set(change)

    def stage(self, index: int = 0) -> "StageHandle":
        """Stage 0 is the pure definition, stage k is update k-1."""
        return StageHandle(self, index)

    def update(self, index: int = 0) -> "StageHandle":
        return StageHandle(self, index + 1)

    def __repr__(self) -> str:
        return f"<megalide.FuncHandle '{self.name}': {self.data.describe()}>"


class StageHandle:
    """Edits one stage's loop steps; each method appends one step, checked, and returns the handle."""

    def __init__(self, func: FuncHandle, index: int):
        self._func, self.index = func, index

    def _append(self, step: LoopStep) -> "StageHandle":
        self._func._set(lambda f: f.stage(self.index).steps.append(step))
        return self

    @property
    def steps(self) -> List[LoopStep]:
        return list(self._func.data.stage(self.index).steps)

    def clear(self) -> "StageHandle":
        """Removes every step of this stage (checked like any edit)."""
        self._func._set(lambda f: f.stage(self.index).steps.clear())
        return self

    def split(self, var: str, outer: str, inner: str, factor: int, tail: str = "auto") -> "StageHandle":
        return self._append(LoopStep("split", [var, outer, inner], factor=factor, tail=tail))

    def reorder(self, *vars: str) -> "StageHandle":
        """Loops innermost first, as Halide's reorder()."""
        return self._append(LoopStep("reorder", list(vars)))

    def vectorize(self, var: str) -> "StageHandle":
        return self._append(LoopStep("vectorize", [var]))

    def unroll(self, var: str) -> "StageHandle":
        return self._append(LoopStep("unroll", [var]))

    def parallel(self, var: str) -> "StageHandle":
        return self._append(LoopStep("parallel", [var]))

    def rfactor(self, rvar: str, var: str, intermediate_at: str = "", intermediate_vectorize: bool = True) -> "StageHandle":
        return self._append(LoopStep("rfactor", [rvar, var], intermediate_at=intermediate_at,
                                     intermediate_vectorize=intermediate_vectorize))

    def vectorize_reduction(self, rvar: str) -> "StageHandle":
        return self._append(LoopStep("vectorize_reduction", [rvar]))

    def __repr__(self) -> str:
        return f"<megalide.StageHandle '{self._func.name}' stage {self.index}: {'; '.join(map(str, self.steps))}>"


__all__ = ["Schedule", "FuncSchedule", "StageSchedule", "LoopStep", "LoopRef", "ScheduleDiff", "FuncHandle", "StageHandle"]
