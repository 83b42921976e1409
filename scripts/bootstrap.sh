#!/usr/bin/env bash
# Installs what megalide needs and nothing it already has; safe to run on every invocation.
#
#   Debian: the C++ test and image libraries megalide builds against.
#   PyPI:   Halide 21 (C++ library, CMake package, GenGen and the autoscheduler plugins all
#           ship in the wheel), CMake >= 3.28 (Halide's CMake files need it; Debian 12 has
#           3.25), Ninja, and the Python tooling for the bindings and tests.
#
# Later capabilities add their packages here (ONNX, clang-19, QEMU, ...), each where it is
# first needed, so a fresh machine never installs what no build step uses.
set -euo pipefail

APT_PACKAGES=(g++ libgtest-dev libpng-dev libbenchmark-dev libonnx-dev libprotobuf-dev libonnx-testdata)
PIP_REQUIREMENTS=("halide==21.0.0" "cmake>=3.28" "ninja>=1.11" "numpy" "pytest")

log() { echo "[bootstrap] $*" >&2; }

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

# Each requirement is checked against what is installed; pip runs only if one is unmet.
if ! python3 - "${PIP_REQUIREMENTS[@]}" <<'PY'
import sys
from importlib import metadata
def parse(v):
    return tuple(int(p) for p in v.split(".")[:3] if p.isdigit())
for req in sys.argv[1:]:
    for op in ("==", ">="):
        if op in req:
            name, want = req.split(op)
            break
    else:
        name, op, want = req, None, None
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if op == "==" and parse(have) != parse(want):
        sys.exit(1)
    if op == ">=" and parse(have) < parse(want):
        sys.exit(1)
PY
then
    log "installing PyPI packages: ${PIP_REQUIREMENTS[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${PIP_REQUIREMENTS[@]}" >&2
fi
