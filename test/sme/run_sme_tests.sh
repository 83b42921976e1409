#!/usr/bin/env bash
# Builds megalide's Arm SME tile kernels and SME ABI support routines (src/target/sme) with
# their tests for AArch64 Linux and runs them under QEMU user mode:
#   - sme_kernels_test and sme_abi_test at SVL 128, 256 and 512, with FEAT_SME_FA64 off (so
#     Advanced SIMD in streaming mode traps, as on cores without it);
#   - sme_abi_test on a CPU without SME (-cpu max,sme=off): the routines must be no-ops there;
#   - the negative control: sme_abi_test linked with a save routine that stores nothing must
#     FAIL its lazy-save check (exit 1 with that check named), or the test proves nothing;
#   - object checks: FMOPA, SMOPA and USMOPA are in the kernels, no call inside a ZA-live
#     streaming body, and clang drove the lazy-save protocol in the ABI test.
# Exit 0 when all pass, 1 on any failure, 77 (skipped) without the cross toolchain or QEMU.
#   run_sme_tests.sh [BUILD_DIR]     (default: a fresh temporary directory)
# QEMU_AARCH64 names the emulator (default qemu-aarch64-static). QEMU before 8.2.2 / 9.0
# computes the 4-way integer outer products wrongly (QEMU issue 2083; Debian 12 ships 7.2):
# sme_kernels_test then skips its int8 cases, saying so, and this script counts them as
# skipped. Debian 13's qemu-user (10.0) checks them.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$(mktemp -d)}"
QEMU="${QEMU_AARCH64:-qemu-aarch64-static}"
mkdir -p "$OUT"

OBJCOPY=""
for tool in aarch64-linux-gnu-objcopy llvm-objcopy-19; do
    command -v "$tool" > /dev/null && { OBJCOPY="$tool"; break; }
done
for tool in clang-19 aarch64-linux-gnu-gcc "$QEMU" llvm-objdump-19; do
    if ! command -v "$tool" > /dev/null; then
        echo "SKIP: $tool not found (bash scripts/bootstrap.sh --tests installs the SME toolchain)"
        exit 77
    fi
done
[ -n "$OBJCOPY" ] || { echo "SKIP: no objcopy for aarch64 (binutils-aarch64-linux-gnu)"; exit 77; }

SRC="$ROOT/src/target/sme"
TST="$ROOT/test/sme"
CC=(clang-19 --target=aarch64-linux-gnu -march=armv9-a+sme -O2 -Wall -Wextra -Werror)
LINK=(aarch64-linux-gnu-gcc -static)

passed=0
failed=0
skipped=0
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}
pass() {
    echo "PASS: $*"
    passed=$((passed + 1))
}

# ---- Build. A compile or link error ends the run: nothing after it would mean anything.
build() {
    if ! "$@"; then
        echo "FAIL: build step: $*"
        echo "run_sme_tests: $passed passed, $((failed + 1)) failed"
        exit 1
    fi
}
build "${CC[@]}" -c "$SRC/sme_kernels.c" -o "$OUT/sme_kernels.o"
build "${CC[@]}" -c "$SRC/sme_abi.S" -o "$OUT/sme_abi.o"
build "${CC[@]}" -I"$SRC" -c "$TST/sme_kernels_test.c" -o "$OUT/sme_kernels_test.o"
build "${CC[@]}" -c "$TST/sme_abi_test.c" -o "$OUT/sme_abi_test.o"
build "${CC[@]}" -c "$TST/sme_abi_harness.S" -o "$OUT/sme_abi_harness.o"
build "${CC[@]}" -c "$TST/broken_tpidr2_save.S" -o "$OUT/broken_tpidr2_save.o"
# The negative control keeps every real routine but __arm_tpidr2_save, which is made weak so
# that the broken object's strong definition replaces it at link time.
build "$OBJCOPY" --weaken-symbol=__arm_tpidr2_save "$OUT/sme_abi.o" "$OUT/sme_abi_weak_save.o"
build "${LINK[@]}" "$OUT/sme_kernels_test.o" "$OUT/sme_kernels.o" "$OUT/sme_abi.o" -lm \
    -o "$OUT/sme_kernels_test"
build "${LINK[@]}" "$OUT/sme_abi_test.o" "$OUT/sme_abi_harness.o" "$OUT/sme_abi.o" \
    -o "$OUT/sme_abi_test"
build "${LINK[@]}" "$OUT/sme_abi_test.o" "$OUT/sme_abi_harness.o" "$OUT/broken_tpidr2_save.o" \
    "$OUT/sme_abi_weak_save.o" -o "$OUT/sme_abi_test_broken_save"

# ---- Object checks.
kdis="$(llvm-objdump-19 -d --mattr=+sme,+sve2 "$OUT/sme_kernels.o")"
for op in fmopa smopa usmopa; do
    if grep -qP "\t$op\t" <<< "$kdis"; then
        pass "$op in sme_kernels.o"
    else
        fail "no $op in sme_kernels.o"
    fi
done
# Between SMSTART ZA and SMSTOP ZA (the ZA-live streaming body) there must be no BL: a call
# there would switch modes around itself and commit a lazy save. The one BL each kernel has,
# before SMSTART ZA, is the prologue's __arm_tpidr2_save (commit of the caller's lazy save).
body_calls="$(awk '/\tsmstart\tza/ {za = 1} /\tsmstop\tza/ {za = 0} za && /\tbl\t/' <<< "$kdis")"
if [ -z "$body_calls" ]; then
    pass "no calls inside the kernels' streaming bodies"
else
    fail "calls inside a ZA-live streaming body:"
    echo "$body_calls"
fi
other_calls="$(llvm-objdump-19 -dr "$OUT/sme_kernels.o" | grep R_AARCH64_CALL26 |
    grep -v -e __arm_tpidr2_save -e '_streaming$' || true)"
if [ -z "$other_calls" ]; then
    pass "sme_kernels.o calls only __arm_tpidr2_save and its own kernels"
else
    fail "unexpected calls in sme_kernels.o:"
    echo "$other_calls"
fi
arelocs="$(llvm-objdump-19 -dr "$OUT/sme_abi_test.o")"
for routine in __arm_tpidr2_save __arm_tpidr2_restore __arm_sme_state; do
    if grep -q "R_AARCH64_CALL26.*$routine\$" <<< "$arelocs"; then
        pass "clang emitted calls to $routine in sme_abi_test.o"
    else
        fail "no compiler-emitted call to $routine in sme_abi_test.o (untested by it)"
    fi
done

# ---- Runs.
run_test() { # name, qemu cpu options, program and arguments
    local name="$1" cpu="$2"
    shift 2
    local log="$OUT/$name.log"
    "$QEMU" -cpu "$cpu" "$@" > "$log" 2>&1
    local rc=$?
    grep -v '^PASS' "$log"
    if [ $rc -ne 0 ]; then fail "$name (exit $rc, log $log)"; return; fi
    if grep -q '^SKIP' "$log"; then
        # Counted once per run that skipped part of itself (sme_kernels_test: int8 on an old QEMU).
        echo "SKIPPED PART: $name"
        skipped=$((skipped + 1))
    else
        pass "$name"
    fi
}
for bytes in 16 32 64; do
    cpu="max,sme-default-vector-length=$bytes,sme_fa64=off"
    run_test "sme_kernels_test.svl$((bytes * 8))" "$cpu" "$OUT/sme_kernels_test" "$bytes"
    run_test "sme_abi_test.svl$((bytes * 8))" "$cpu" "$OUT/sme_abi_test" "$bytes"
done
run_test "sme_abi_test.no_sme" "max,sme=off" "$OUT/sme_abi_test" 0

# The negative control must fail, and fail where it should: exit 1 (a crash would be 139),
# with the committed-save survival check named.
for bytes in 16 64; do
    log="$OUT/negative_control.svl$((bytes * 8)).log"
    "$QEMU" -cpu "max,sme-default-vector-length=$bytes,sme_fa64=off" \
        "$OUT/sme_abi_test_broken_save" "$bytes" --lazy-save-only > "$log" 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q '^FAIL lazy_save: ZA survives a ZA-using callee' "$log"; then
        pass "negative control at SVL $((bytes * 8)): a save that stores nothing is caught"
    else
        fail "negative control at SVL $((bytes * 8)): want exit 1 and a lazy_save FAIL," \
            "got exit $rc (log $log)"
    fi
done

echo "run_sme_tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
