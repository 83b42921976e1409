#!/usr/bin/env python3
"""Nothing lost: a command killed at any moment leaves the old file or the complete new one.

usage: check_kill.py MEGALIDE_CLI REPO_ROOT WORK_DIR [KILLS]

For each command that writes (run with --save-schedule, quantize, compile, run --tune), the
output files first hold an "old" version (the command run to completion on other input or
options), and a "new" version is made in a separate place the same way. Then KILLS times
(default 20): the old files are put back, the command is started for the new version and
SIGKILLed after a random delay in [0, 1.2 x its duration]; every output path must then hold
exactly the old bytes or exactly the new bytes (leftover temporary files beside them are
allowed and counted). The seed is printed. Exit status 0 when all hold, 1 otherwise.
"""
import filecmp
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

SEED = 1128


def fail(message):
    print("FAILED:", message)
    sys.exit(1)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        fail(" ".join(map(str, cmd)) + "\n" + p.stdout + p.stderr)


def complete_json(path, reference):
    try:
        return bool(json.loads(path.read_text()))
    except (ValueError, UnicodeDecodeError):
        return False


def report_without_timings(path):
    """The lines of a compile report that are the same on every run: all but the measured
    times ("compile:", "time:" and the line continuing it)."""
    lines = path.read_text(errors="replace").splitlines(keepends=True)
    kept, skip_next = [], False
    for line in lines:
        if skip_next:
            skip_next = False
            continue
        if line.startswith("time:"):
            skip_next = line.rstrip().endswith("and")  # its sentence goes on on the next line
            continue
        if not line.startswith("compile:"):
            kept.append(line)
    return kept


def complete_report(path, reference):
    """Whether `path` is the whole new report: every line of the reference run's report but
    its timings, in order, and the file ends as the reference does (a cut report lacks lines)."""
    return report_without_timings(path) == report_without_timings(reference)


class Case:
    """A command writing `outputs` (paths relative to its output dir) in an old and a new version.

    old_cmd(dir) and new_cmd(dir) give the command lines writing into dir; env(dir), if given,
    its environment. outputs maps each path to None (the new file is always the same bytes) or
    to a function (the file, the reference run's new file) telling whether a file is a complete
    new one (for files with timings in them).
    """

    def __init__(self, name, old_cmd, new_cmd, outputs, env=None):
        self.name, self.old_cmd, self.new_cmd, self.outputs, self.env = name, old_cmd, new_cmd, outputs, env


def check_case(case, work, kills, rng):
    old, new, live = work / f"{case.name}_old", work / f"{case.name}_new", work / f"{case.name}_live"
    for d in (old, new):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    run(case.old_cmd(old), case.env(old) if case.env else None)
    start = time.monotonic()
    run(case.new_cmd(new), case.env(new) if case.env else None)
    duration = time.monotonic() - start
    for rel in case.outputs:
        if not (old / rel).exists() or not (new / rel).exists():
            fail(f"{case.name}: the command did not write {rel}")
        if filecmp.cmp(old / rel, new / rel, shallow=False):
            fail(f"{case.name}: the old and new {rel} are identical, so the test could not tell them apart")
        if case.outputs[rel] and not case.outputs[rel](new / rel, new / rel):
            fail(f"{case.name}: the complete new {rel} does not pass its own completeness check")
    outcomes = {"old": 0, "new": 0}
    leftovers = 0
    for k in range(kills):
        shutil.rmtree(live, ignore_errors=True)
        shutil.copytree(old, live)
        delay = rng.uniform(0, 1.2 * duration)
        env = case.env(live) if case.env else None
        p = subprocess.Popen(case.new_cmd(live), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        versions = set()
        for rel in case.outputs:
            path = live / rel
            if not path.exists():
                fail(f"{case.name}, kill {k} after {delay:.3f} s: {rel} is gone (neither old nor new)")
            if filecmp.cmp(path, old / rel, shallow=False):
                versions.add("old")
            elif filecmp.cmp(path, new / rel, shallow=False) or (case.outputs[rel] and case.outputs[rel](path, new / rel)):
                versions.add("new")
            else:
                fail(f"{case.name}, kill {k} after {delay:.3f} s: {rel} is neither the old nor the new file "
                     f"({path.stat().st_size} bytes; old {(old / rel).stat().st_size}, new {(new / rel).stat().st_size})")
        for version in versions:
            outcomes[version] += 1
        leftovers += sum(1 for f in live.rglob("*") if ".tmp." in f.name or f.name.startswith(".megalide-staging"))
    print(f"{case.name}: {kills} kills over {duration:.2f} s runs: files old after {outcomes['old']}, new after {outcomes['new']}; "
          f"{leftovers} temporary files left beside them; never a partial file")


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__)
        sys.exit(2)
    cli, root, work = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
    kills = int(sys.argv[4]) if len(sys.argv) == 5 else 20
    digits = root / "apps" / "digits"
    model = str(digits / "digits_cnn.onnx")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    images = np.load(digits / "heldout.npz")["x"]
    np.save(work / "a.npy", images[0:1])
    np.save(work / "b.npy", images[1:2])

    def run_cmd(image, schedule):
        return lambda d: [cli, "run", model, str(work / image), "--schedule", schedule, "--output", str(d),
                          "--save-schedule", str(d / "schedule.json"), "--quiet"]

    def quantize_cmd(method):
        return lambda d: [cli, "quantize", model, "--calib", str(digits / "calib"), "--method", method, "-o",
                          str(d / "int8.onnx"), "--quiet"]

    def compile_cmd(schedule):
        return lambda d: [cli, "compile", model, "--schedule", schedule, "--name", "digits", "-o", str(d), "--quiet"]

    def tune_cmd(image):
        return lambda d: [cli, "run", model, str(work / image), "--schedule", "megakernel", "--tune", "2",
                          "--output", str(d / "out"), "--quiet"]

    def tune_env(d):
        return dict(os.environ, MEGALIDE_SCHEDULE_DIR=str(d / "tuned"))

    cases = [
        Case("run", run_cmd("a.npy", "per_op"), run_cmd("b.npy", "megakernel"),
             {"logits.npy": None, "schedule.json": None, "schedule.json.cpp": None}),
        Case("quantize", quantize_cmd("minmax"), quantize_cmd("percentile"), {"int8.onnx": None}),
        Case("compile", compile_cmd("per_op"), compile_cmd("megakernel"),
             {"digits.a": None, "digits.h": None, "digits.schedule.json": None, "digits.report.txt": complete_report}),
    ]
    for case in cases:
        check_case(case, work, kills, rng)

    # --tune writes the fastest schedule under MEGALIDE_SCHEDULE_DIR, named by the model's
    # fingerprint: find the name, then start from a file of other content at that path. Which
    # candidate wins varies from run to run, so "new" is any complete schedule.
    probe = work / "tune_probe"
    probe.mkdir()
    run(tune_cmd("a.npy")(probe), tune_env(probe))
    tuned = sorted(str(p.relative_to(probe)) for p in (probe / "tuned").rglob("*.json"))
    if len(tuned) != 1:
        fail(f"--tune wrote {len(tuned)} schedule files, expected 1: {tuned}")

    def seed_old(d):
        (d / tuned[0]).parent.mkdir(parents=True, exist_ok=True)
        (d / tuned[0]).write_text('{"old": "a schedule tuned earlier"}\n')
        return [sys.executable, "-c", "pass"]

    check_case(Case("tune", seed_old, tune_cmd("b.npy"), {tuned[0]: complete_json}, env=tune_env), work, kills, rng)
    print("OK")


if __name__ == "__main__":
    main()
