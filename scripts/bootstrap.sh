#!/usr/bin/env bash
# Installs what megalide needs and nothing it already has; safe to run on every invocation.
#
#   Debian: the C++ test and image libraries megalide builds against.
#   PyPI:   Halide 21 (C++ library, CMake package, GenGen and the autoscheduler plugins all
#           ship in the wheel), CMake >= 3.28 (Halide's CMake files need it; Debian 12 has
#           3.25), Ninja, and the Python tooling for the bindings and tests.
#
#   --with-bench: the --with-torch set plus matplotlib (the bench's chart).
#   --with-torch: also PyTorch and torchvision (the reference for the exported-model tests
#           and, later, a bench peer), with the `onnx` Python package for export, and
#           scikit-learn (its bundled digits data set trains apps/digits; nothing is downloaded),
#           and ONNX Runtime (the reference for quantized models; also a bench peer).
#
# Later capabilities add their packages here (clang-19, QEMU, ...), each where it is first
# needed, so a fresh machine never installs what no build step uses.
set -euo pipefail

WITH_TORCH=0
WITH_BENCH=0
for arg in "$@"; do
    case "$arg" in
        --with-torch) WITH_TORCH=1 ;;
        --with-bench) WITH_TORCH=1; WITH_BENCH=1 ;;
        *) echo "bootstrap.sh: unknown option '$arg'" >&2; exit 2 ;;
    esac
done

APT_PACKAGES=(g++ libgtest-dev libpng-dev libbenchmark-dev libonnx-dev libprotobuf-dev libonnx-testdata
              nlohmann-json3-dev)
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

# PyTorch on PyPI is built against CUDA. This machine image ships the CUDA 13.0 libraries
# that torch 2.11.0 links, so a lean install (~735 MB: torch, torchvision and the three
# nvidia-* libraries the image lacks) suffices; where that import fails, install the full
# wheel set (~2.9 GB). Either way only the CPU is used.
if ((WITH_TORCH)) && ! python3 -c "import torch, torchvision, onnx" 2>/dev/null; then
    log "installing PyTorch (lean CPU set)"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        torch==2.11.0 torchvision==0.26.0 nvidia-cufile==1.15.1.6 nvidia-cusparselt-cu13==0.8.0 \
        nvidia-nvshmem-cu13==3.4.5 >&2
    python3 -m pip install --quiet --disable-pip-version-check \
        filelock typing-extensions sympy networkx jinja2 fsspec pillow onnx >&2
    if ! python3 -c "import torch, torchvision" 2>/dev/null; then
        log "the lean set does not import here; installing the full PyTorch wheels"
        python3 -m pip install --quiet --disable-pip-version-check torch==2.11.0 torchvision==0.26.0 onnx >&2
    fi
fi

if ((WITH_TORCH)) && ! python3 -c "import sklearn, onnxruntime" 2>/dev/null; then
    log "installing scikit-learn (the digits data set for scripts/train_digits.py) and ONNX Runtime (a test reference)"
    python3 -m pip install --quiet --disable-pip-version-check scikit-learn onnxruntime >&2
fi

if ((WITH_BENCH)) && ! python3 -c "import matplotlib" 2>/dev/null; then
    log "installing the bench's chart library (matplotlib)"
    python3 -m pip install --quiet --disable-pip-version-check matplotlib >&2
fi
