#!/usr/bin/env bash
# The main job: a model goes from its ONNX file to a linked program, the way an application
# uses megalide. The model is the digits CNN in apps/digits (8x8 handwritten digits, trained by
# scripts/train_digits.py and committed with 100 held-out PNGs).
#
#   1. set-up: install what is missing, build the megalide CLI;
#   2. `megalide quantize` it to int8 (calibrated on apps/digits/calib), then `megalide
#      compile` the float model with the megakernel schedule and with per_op (to compare), and
#      the int8 model with megakernel;
#   3. link apps/classify_png.cpp (a libpng driver that includes nothing of megalide but the
#      generated header) against each static library with the system C++ compiler;
#   4. run the programs on the bundled PNGs: predictions, accuracy, and latency side by side.
#
#   bash scripts/demo.sh [--threads N] [--runs N]   (defaults: 1 thread, 2000 runs; the digits
#   CNN takes a few microseconds, less than waking a thread pool costs)
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

THREADS=1
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
mkdir -p "$OUT"
step "2/4 megalide quantize $(basename "$MODEL") --calib apps/digits/calib -o $OUT/digits_int8.onnx"
"$BUILD_DIR/apps/megalide" quantize "$MODEL" --calib "$MEGALIDE_ROOT/apps/digits/calib" -o "$OUT/digits_int8.onnx" \
    --quiet | sed 's/^/    /' >&2
VARIANTS=(megakernel per_op int8_megakernel)
for variant in "${VARIANTS[@]}"; do
    model="$MODEL" schedule="$variant"
    [ "$variant" = int8_megakernel ] && model="$OUT/digits_int8.onnx" schedule=megakernel
    step "2/4 megalide compile $(basename "$model") --schedule $schedule -o $OUT/$variant"
    "$BUILD_DIR/apps/megalide" compile "$model" --target host --schedule "$schedule" --name digits \
        "${THREAD_ARGS[@]}" -o "$OUT/$variant" > /dev/null
done

for variant in "${VARIANTS[@]}"; do
    step "3/4 linking apps/classify_png.cpp with $OUT/$variant/digits.a"
    c++ -O2 -std=c++17 -I "$OUT/$variant" -DMODEL_HEADER='"digits.h"' -DMODEL_FN=digits \
        "$MEGALIDE_ROOT/apps/classify_png.cpp" "$OUT/$variant/digits.a" -lpng -lpthread -ldl \
        -o "$OUT/classify_$variant"
done

step "4/4 classifying ${#PNGS[@]} held-out PNGs (fp32, megakernel library)"
for variant in "${VARIANTS[@]}"; do
    "$OUT/classify_$variant" --runs "$RUNS" "${PNGS[@]}" | sed "s|$MEGALIDE_ROOT/||" > "$OUT/$variant.txt"
done
grep -v '^latency' "$OUT/megakernel.txt"
if ! diff <(grep -v '^latency' "$OUT/megakernel.txt") <(grep -v '^latency' "$OUT/per_op.txt") > /dev/null; then
    echo "demo: the megakernel and per_op libraries disagree on a prediction" >&2
    exit 1
fi
echo
echo "per_op gives the same predictions; int8 $(grep '^accuracy' "$OUT/int8_megakernel.txt")"
echo "Latency of one image (HL_NUM_THREADS=$THREADS, $RUNS runs):"
python3 - "$OUT" "${VARIANTS[@]}" <<'PY'
import re, sys
out, variants = sys.argv[1], sys.argv[2:]
median = {}
for name in variants:
    line = next(l for l in open(f"{out}/{name}.txt") if l.startswith("latency"))
    m = re.search(r"median ([\d.]+) us \(min ([\d.]+), max ([\d.]+)\)", line)
    median[name] = float(m.group(1))
    print(f"  {name:<16} median {m.group(1):>8} us  (min {m.group(2)}, max {m.group(3)})")
print(f"  fp32 megakernel is {median['per_op'] / median['megakernel']:.2f}x the speed of per_op")
PY
echo "Libraries, headers, schedules, statements and reports: $OUT/{megakernel,per_op,int8_megakernel}/"
