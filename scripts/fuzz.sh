#!/usr/bin/env bash
# Builds the libFuzzer harnesses of test/fuzz with clang-19 (ASan + UBSan, megalide compiled
# with coverage instrumentation) in build-fuzz/, and runs each for a while, one at a time.
#
#   bash scripts/fuzz.sh [--seconds-per-harness N] [--keep-going] [harness...]
#
# Default: 60 s for every harness. A run stops at its first finding unless --keep-going, which
# runs libFuzzer in fork mode (-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
# and collects every finding within the time.
#
# Harnesses: npy onnx_import quant schedule (test/fuzz/README.md). Each run keeps its growing
# corpus and its findings (crash-*, leak-*, timeout-*, oom-*) under
# build-fuzz/fuzz-work/<harness>/, never in the repository; the committed seeds
# (test/fuzz/corpus/<harness>) are read, not written. Prints, per harness, the executions and
# corpus size from libFuzzer's final stats and any findings; exits 1 if there was one.
# Installs clang-19 and its runtime (libFuzzer, sanitizers) when missing (bootstrap.sh --fuzz).
# MEGALIDE_FUZZ_JOBS sets the build's parallelism (default: all cores).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ALL_HARNESSES=(npy onnx_import quant schedule)

seconds=60
keep_going=0
harnesses=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds-per-harness) seconds="$2"; shift 2 ;;
    --seconds-per-harness=*) seconds="${1#*=}"; shift ;;
    --keep-going) keep_going=1; shift ;;
    -h | --help) sed -n 2,17p "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *)
        if [[ ! " ${ALL_HARNESSES[*]} " == *" $1 "* ]]; then
            echo "fuzz.sh: unknown harness '$1' (known: ${ALL_HARNESSES[*]})" >&2
            exit 2
        fi
        harnesses+=("$1"); shift ;;
    esac
done
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${ALL_HARNESSES[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "fuzz.sh: --seconds-per-harness needs a positive integer, got '$seconds'" >&2
    exit 2
fi

# The project environment (PyPI's cmake, ninja and the Halide wheel), as the other scripts.
# (and, with --fuzz, Debian's clang-19 with compiler-rt: libFuzzer and the sanitizer runtimes).
MEGALIDE_BUILD_DIR="$ROOT/build-fuzz"
MEGALIDE_BOOTSTRAP_ARGS="--fuzz"
source "$ROOT/scripts/env.sh"

# Coverage instrumentation for megalide itself; the harnesses add -fsanitize=fuzzer.
flags="-g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if [ ! -f "$BUILD_DIR/build.ninja" ] || ! grep -q "^CMAKE_CXX_COMPILER:.*clang++-19" "$BUILD_DIR/CMakeCache.txt"; then
    rm -f "$BUILD_DIR/CMakeCache.txt"
    CC=clang-19 CXX=clang++-19 cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DPython3_EXECUTABLE="$MEGALIDE_VENV/bin/python" -DMEGALIDE_BUILD_TESTS=ON -DMEGALIDE_FUZZ=ON \
        "-DCMAKE_CXX_FLAGS=$flags" >&2
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("${h}_fuzzer" "fuzz_replay_${h}"); done
cmake --build "$BUILD_DIR" --target "${targets[@]}" -- -j "${MEGALIDE_FUZZ_JOBS:-$(nproc)}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mode=()
[ "$keep_going" -eq 0 ] || mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
status=0
summary=()
for h in "${harnesses[@]}"; do
    work="$BUILD_DIR/fuzz-work/$h"
    mkdir -p "$work/corpus" "$work/findings"
    # Run a copy, so that rebuilding during a run cannot replace the binary under it.
    cp "$BUILD_DIR/test/fuzz/${h}_fuzzer" "$work/${h}_fuzzer"
    log="$work/fuzz-$(date +%Y%m%d-%H%M%S).log"
    echo "== $h: ${seconds} s, log $log" >&2
    rc=0
    start=$SECONDS
    "$work/${h}_fuzzer" -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 "${mode[@]}" \
        -artifact_prefix="$work/findings/" "$work/corpus" "$ROOT/test/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
    ran=$((SECONDS - start))
    # The final stats line; in fork mode (where the parent's own count is 0) the last status
    # line "#N: cov: ..." counts every job's executions.
    if [ "$keep_going" -eq 0 ]; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
    else
        execs=$(grep -oE '^#[0-9]+: ' "$log" | tr -dc '0-9\n' | tail -1 || true)
    fi
    findings=$(find "$work/findings" -type f -newer "$work/${h}_fuzzer" | sort)
    corpus=$(find "$work/corpus" -type f | wc -l)
    line="$h: ${ran} s, ${execs:-?} executions, corpus $corpus files, exit $rc"
    if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
        status=1
        line="$line, FINDINGS: ${findings:-see $log}"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|== .* harness:)' "$log" | head -5 >&2 || true
    fi
    echo "$line" >&2
    summary+=("$line")
done
printf '%s\n' "" "Summary:" "${summary[@]}"
exit "$status"
