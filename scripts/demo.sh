#!/usr/bin/env bash
# The main job: a model goes from its ONNX file to a linked program, the way an application
# uses megalide. The model is the digits CNN in apps/digits (8x8 handwritten digits, trained by
# scripts/train_digits.py and committed with 100 held-out PNGs).
#
#   1. set-up: install what is missing, build the megalide CLI;
#   2. `megalide compile` the model with the megakernel schedule, and with per_op to compare;
#   3. link apps/classify_png.cpp (a libpng driver that includes nothing of megalide but the
#      generated header) against each static library with the system C++ compiler;
#   4. run both programs on the bundled PNGs: predictions, accuracy, and latency side by side.
#
#   bash scripts/demo.sh [--threads N] [--runs N]   (defaults: Halide's, one thread per core; 2000)
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

THREADS=""
RUNS=2000
while (($#)); do
    case "$1" in
        --threads) THREADS="${2:?--threads needs a count}"; shift 2 ;;
        --runs) RUNS="${2:?--runs needs a count}"; shift 2 ;;
        *) echo "demo.sh: unknown option '$1' (options: --threads N, --runs N)" >&2; exit 2 ;;
    esac
done

step() { echo "[demo] $*" >&2; }

MODEL="$MEGALIDE_ROOT/apps/digits/digits_cnn.onnx"
PNGS=("$MEGALIDE_ROOT"/apps/digits/heldout_png/*.png)
OUT="$BUILD_DIR/demo"

step "1/4 building the megalide CLI (first run on a fresh machine: a few minutes)"
configure
cmake --build "$BUILD_DIR" --target megalide_cli >&2

THREAD_ARGS=()
[ -n "$THREADS" ] && THREAD_ARGS=(--threads "$THREADS") && export HL_NUM_THREADS="$THREADS"
for schedule in megakernel per_op; do
    step "2/4 megalide compile $(basename "$MODEL") --schedule $schedule -o $OUT/$schedule"
    "$BUILD_DIR/apps/megalide" compile "$MODEL" --target host --schedule "$schedule" --name digits \
        "${THREAD_ARGS[@]}" -o "$OUT/$schedule" > /dev/null
done

for schedule in megakernel per_op; do
    step "3/4 linking apps/classify_png.cpp with $OUT/$schedule/digits.a"
    c++ -O2 -std=c++17 -I "$OUT/$schedule" -DMODEL_HEADER='"digits.h"' -DMODEL_FN=digits \
        "$MEGALIDE_ROOT/apps/classify_png.cpp" "$OUT/$schedule/digits.a" -lpng -lpthread -ldl \
        -o "$OUT/classify_$schedule"
done

step "4/4 classifying ${#PNGS[@]} held-out PNGs (megakernel library)"
"$OUT/classify_megakernel" --runs "$RUNS" "${PNGS[@]}" | sed "s|$MEGALIDE_ROOT/||" > "$OUT/megakernel.txt"
"$OUT/classify_per_op" --runs "$RUNS" "${PNGS[@]}" > "$OUT/per_op.txt"
grep -v '^latency' "$OUT/megakernel.txt"
if ! diff <(grep -v '^latency' "$OUT/megakernel.txt" | sed 's|.*/||') <(grep -v '^latency' "$OUT/per_op.txt" | sed 's|.*/||') > /dev/null; then
    echo "demo: the megakernel and per_op libraries disagree on a prediction" >&2
    exit 1
fi
echo
echo "per_op gives the same predictions. Latency of one image, ${THREADS:-default} threads, $RUNS runs:"
python3 - "$OUT/megakernel.txt" "$OUT/per_op.txt" <<'PY'
import re, sys
median = {}
for name, path in zip(("megakernel", "per_op"), sys.argv[1:]):
    line = next(l for l in open(path) if l.startswith("latency"))
    m = re.search(r"median ([\d.]+) us \(min ([\d.]+), max ([\d.]+)\)", line)
    median[name] = float(m.group(1))
    print(f"  {name:<10} median {m.group(1):>8} us  (min {m.group(2)}, max {m.group(3)})")
print(f"  megakernel is {median['per_op'] / median['megakernel']:.2f}x the speed of per_op")
PY
echo "Libraries, headers, schedules, statements and reports: $OUT/{megakernel,per_op}/"
