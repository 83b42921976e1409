#!/usr/bin/env bash
# Builds megalide's SME tile kernels (src/target/sme) and their test for AArch64 and runs it
# under QEMU user mode at SVL 128, 256 and 512 with FEAT_SME_FA64 off (NEON in streaming mode
# traps, as on cores without it). Exit 77 (skipped) without the cross toolchain or QEMU.
#   run_sme_tests.sh [BUILD_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-$(mktemp -d)}"
mkdir -p "$OUT"
for tool in clang-19 aarch64-linux-gnu-gcc qemu-aarch64-static llvm-objdump-19; do
    command -v "$tool" > /dev/null || { echo "SKIP: $tool not found (bash scripts/bootstrap.sh --tests installs it)"; exit 77; }
done
CC=(clang-19 --target=aarch64-linux-gnu -march=armv9-a+sme -O2 -Wall -Werror)
"${CC[@]}" -c "$ROOT/src/target/sme/sme_kernels.c" -o "$OUT/sme_kernels.o"
"${CC[@]}" -c "$ROOT/src/target/sme/sme_abi.S" -o "$OUT/sme_abi.o"
"${CC[@]}" -I"$ROOT/src/target/sme" -c "$ROOT/test/sme/sme_kernels_test.c" -o "$OUT/sme_kernels_test.o"
aarch64-linux-gnu-gcc -static "$OUT/sme_kernels_test.o" "$OUT/sme_kernels.o" "$OUT/sme_abi.o" -o "$OUT/sme_kernels_test"
# The outer products are there, and the streaming bodies make no calls.
ops="$(llvm-objdump-19 -d --mattr=+sme,+sve2 "$OUT/sme_kernels.o")"
for op in fmopa smopa usmopa; do
    grep -qw "$op" <<< "$ops" || { echo "FAIL: no $op in sme_kernels.o"; exit 1; }
done
calls="$(awk '/smstart\tza/ {za = 1} /smstop\tza/ {za = 0} za && /\tbl\t/ {print}' <<< "$ops")"
[ -z "$calls" ] || { echo "FAIL: calls inside a ZA-live streaming body:"; echo "$calls"; exit 1; }
for bytes in 16 32 64; do
    qemu-aarch64-static -cpu "max,sme-default-vector-length=$bytes,sme_fa64=off" "$OUT/sme_kernels_test" "$bytes" | grep -v '^PASS'
done
