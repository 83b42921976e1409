#!/usr/bin/env bash
# Builds megalide with AddressSanitizer and UndefinedBehaviorSanitizer (build-asan) and runs the
# unit, errors, golden, conformance and fuzz-replay tiers under them. Any report fails the run
# (-fno-sanitize-recover=all; ASan aborts on its first error, LeakSanitizer at exit).
#
#   bash scripts/sanitize.sh                   # all five tiers
#   bash scripts/sanitize.sh -L 'unit|errors'  # what CI runs; other arguments go to ctest
#
# Halide's library and the code it generates are not instrumented; megalide's own code, the
# tests and the CLI are. The first run builds from nothing (~10 minutes on 2 cores).
MEGALIDE_BOOTSTRAP_ARGS="--tests"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
BUILD_DIR="${MEGALIDE_ASAN_BUILD_DIR:-$MEGALIDE_ROOT/build-asan}"
# LeakSanitizer: Halide's JIT keeps compiled modules and LLVM's state for the process's life,
# which LSan reports as leaks from inside libHalide; suppress those, and only those.
export LSAN_OPTIONS="suppressions=$MEGALIDE_ROOT/scripts/lsan_suppressions.txt:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# (The build runs instrumented generators too, so the options apply from here on.)
# -O1 -g1: quick to build (CI builds this too), line numbers in reports.
configure -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" -DMEGALIDE_SANITIZE=address,undefined
cmake --build "$BUILD_DIR" --target sanitized_tests

# Tests labelled python load megalide's module into the (uninstrumented) interpreter: not here.
if (($#)); then
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -LE python "$@"
else
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -LE python -L 'unit|errors|golden|conformance|fuzz'
fi
