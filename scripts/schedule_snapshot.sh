#!/usr/bin/env bash
# Writes the per_op and megakernel schedules (cost model's plan, no tuned files) of every ONNX
# node test, the bench blocks (B1..B5, Q1) and the exported torchvision models (when
# build/models has them) as JSON under OUTDIR/<target>.t<threads>/, for two targets and two
# thread counts, the models rewritten as `megalide run` does; and once without rewrites.
# A refactoring that must not change schedules is checked with:
#   bash scripts/schedule_snapshot.sh /tmp/before   # on the old commit
#   bash scripts/schedule_snapshot.sh /tmp/after    # on the new one
#   diff -r -I '"graph":' /tmp/before /tmp/after
# (-I: a graph's fingerprint hashes its dump, which changes when an op is renamed.)
set -euo pipefail
out=${1:?usage: schedule_snapshot.sh OUTDIR}
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/env.sh"
build=${MEGALIDE_BUILD_DIR:-$root/build}
cmake --build "$build" --target schedule_dump megalide_cli >/dev/null
mkdir -p "$out/models"
out=$(cd "$out" && pwd)
export MEGALIDE_SCHEDULE_DIR="$out/no-tuned-schedules"
mkdir -p "$MEGALIDE_SCHEDULE_DIR"

# The bench blocks, exported as the bench does; Q1 quantized by `megalide quantize`.
( cd "$root/apps/bench" && python - "$out/models" "$build/apps/megalide" <<'PY'
import pathlib, subprocess, sys
import numpy as np
import blocks
out, cli = pathlib.Path(sys.argv[1]), sys.argv[2]
for b in ["B1", "B2", "B3", "B4", "B5"]:
    module, x = blocks.build(b)
    blocks.export(module, x, str(out / f"{b}.onnx"))
calib = out / "calib"
calib.mkdir(exist_ok=True)
rng = np.random.default_rng(0)
for i in range(4):
    np.save(calib / f"{i}.npy", rng.standard_normal((1, 24, 56, 56)).astype(np.float32))
subprocess.run([cli, "quantize", str(out / "B1.onnx"), "--calib", str(calib), "-o", str(out / "Q1.onnx"), "--quiet"],
               check=True)
PY
)
models=("$out"/models/*.onnx)
[ -d "$build/models" ] && models+=("$build"/models/*.onnx)
node=/usr/share/libonnx-testdata/data/node
for d in "$node"/*/; do models+=("${d%/}"); done
for target in x86-64-avx2 x86-64-avx512; do
  for threads in 1 2; do
    "$build/test/schedule_dump" --target "$target" --threads "$threads" --out "$out/$target.t$threads" "${models[@]}"
  done
done
# As the conformance suite lowers them: without the rewrites.
"$build/test/schedule_dump" --target x86-64-avx2 --threads 2 --no-rewrite --out "$out/norewrite.x86-64-avx2.t2" "${models[@]}"
rm -rf "$out/no-tuned-schedules"
