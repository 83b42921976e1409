#!/usr/bin/env bash
# Installs what megalide needs and nothing it already has; safe to run on every invocation.
#
#   Debian: the C++ test, image and command-line libraries megalide builds against (APT_PACKAGES
#           below).
#   PyPI:   every Python package, pinned with all its dependencies in requirements/, installed
#           into the project environment $MEGALIDE_VENV (default: .venv in the checkout,
#           ignored by git, without system site packages). CMake and every script use its
#           python; nothing is installed into the system's Python.
#
#   bootstrap.sh [--tests | --bench] [--fuzz]
#     (none)    requirements/base.txt: the build and the main job
#     --tests   requirements/test.txt: + the test references (PyTorch, ONNX, ONNX Runtime), pytest, matplotlib
#     --bench   requirements/bench.txt: + the digits training script
#     --fuzz    also Debian's clang-19 with its runtimes (libFuzzer, sanitizers): scripts/fuzz.sh
#   (--with-torch and --with-bench are the older names of the last two.)
#
# A stamp in the environment records the hash of the requirement files it was built from, so a
# later run with unchanged files does nothing, and a changed pin rebuilds it. pip's download
# cache makes a rebuild from nothing take about a minute (PyTorch unpacks ~700 MB).
#
# Later capabilities add their Debian packages here (clang-19, QEMU, ...), each where it is
# first needed, so a fresh machine never installs what no build step uses.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEGALIDE_VENV:-$ROOT/.venv}"
LEVEL=base
FUZZ=0
for arg in "$@"; do
    case "$arg" in
        --tests | --with-torch) [ "$LEVEL" = bench ] || LEVEL=test ;;
        --bench | --with-bench) LEVEL=bench ;;
        --fuzz) FUZZ=1 ;;
        *) echo "bootstrap.sh: unknown option '$arg' (options: --tests, --bench, --fuzz)" >&2; exit 2 ;;
    esac
done

log() { echo "[bootstrap] $*" >&2; }

APT_PACKAGES=(g++ libgtest-dev libpng-dev libbenchmark-dev libonnx-dev libprotobuf-dev libonnx-testdata
              nlohmann-json3-dev libcli11-dev)
# The Hexagon target (test level and up): qemu-hexagon-static runs the freestanding programs
# megalide links with clang-19 / ld.lld-19; llvm-objdump-19 shows their HVX instructions.
[ "$LEVEL" = base ] || APT_PACKAGES+=(qemu-user-static clang-19 lld-19 llvm-19)
# The Arm SME target (test level and up): clang-19 compiles the SME kernels, the aarch64 GCC
# links static programs against glibc, qemu-aarch64-static (in qemu-user-static) runs them.
[ "$LEVEL" = base ] || APT_PACKAGES+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross)
((FUZZ)) && APT_PACKAGES+=(clang-19 libclang-rt-19-dev)
# Debian's own python3 needs python3-venv for `python3 -m venv`; other Pythons carry it.
python3 -c 'import venv, ensurepip' 2>/dev/null || APT_PACKAGES+=(python3-venv)

missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if ((${#missing_apt[@]})); then
    log "installing Debian packages: ${missing_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing_apt[@]}" >&2
fi

# The levels nest (bench includes test includes base); an environment built for a higher level
# serves a lower one. The stamp holds "<level> <hash of all three files>".
levels=(base test bench)
rank() { local i; for i in "${!levels[@]}"; do [ "${levels[$i]}" = "$1" ] && echo "$i"; done; }
hash="$(cat "$ROOT"/requirements/{base,test,bench}.txt | sha256sum | cut -c1-16)"
stamp="$VENV/.megalide-requirements"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ]; then
    read -r have_level have_hash < "$stamp" || true
    if [ "${have_hash:-}" = "$hash" ] && [ "$(rank "${have_level:-base}")" -ge "$(rank "$LEVEL")" ]; then
        exit 0
    fi
    if [ "${have_hash:-}" != "$hash" ]; then
        log "requirements/ changed since $VENV was built; rebuilding it"
        rm -rf "$VENV"
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    log "creating the project environment $VENV ($(python3 --version))"
    python3 -m venv "$VENV"
fi
log "installing requirements/$LEVEL.txt into $VENV"
# --no-deps: the files pin every dependency; one left out fails the import check below.
PYTHONNOUSERSITE=1 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r "$ROOT/requirements/$LEVEL.txt" >&2

# Each level's imports must work from the environment alone.
imports="halide, numpy, pybind11, scikit_build_core, cmake, ninja"
[ "$LEVEL" = base ] || imports+=", pytest, onnx, onnx.reference, onnxruntime, torch, torchvision, matplotlib.pyplot"
[ "$LEVEL" != bench ] || imports+=", sklearn.datasets"
if ! PYTHONNOUSERSITE=1 "$VENV/bin/python" -c "import $imports" >&2; then
    log "the environment does not import ($imports): a dependency is missing from requirements/"
    exit 1
fi
echo "$LEVEL $hash" > "$stamp"
log "project environment ready ($LEVEL)"
