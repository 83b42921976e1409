# Sourced by the scripts: bootstrap (MEGALIDE_BOOTSTRAP_ARGS picks the requirement level), then
# put the project environment first on PATH (its python, and PyPI's cmake and ninja: Debian
# 12's cmake 3.25 is too old for Halide's package) and name the build directory.
set -euo pipefail
MEGALIDE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MEGALIDE_VENV="${MEGALIDE_VENV:-$MEGALIDE_ROOT/.venv}"
export MEGALIDE_VENV
bash "$MEGALIDE_ROOT/scripts/bootstrap.sh" ${MEGALIDE_BOOTSTRAP_ARGS:-}
export PYTHONNOUSERSITE=1
PATH="$MEGALIDE_VENV/bin:$PATH"
export PATH
BUILD_DIR="${MEGALIDE_BUILD_DIR:-$MEGALIDE_ROOT/build}"

# Configures once; a build directory configured with another Python (from before the project
# environment existed, or another checkout's) is configured again.
configure() {
    local python="$MEGALIDE_VENV/bin/python"
    if [ ! -f "$BUILD_DIR/build.ninja" ] ||
        ! grep -qE "^Python3_EXECUTABLE:[A-Z]+=$python\$" "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
        rm -f "$BUILD_DIR/CMakeCache.txt"
        cmake -S "$MEGALIDE_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DPython3_EXECUTABLE="$python" "$@" >&2
    fi
}

# Installs the Python package `megalide` into the project environment (pip install . through
# pyproject.toml), built in $BUILD_DIR: after `cmake --build` the build has nothing left to do,
# and pip only packs and installs the package's files (a few seconds).
install_python_package() {
    PYTHONNOUSERSITE=1 "$MEGALIDE_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --no-build-isolation --no-deps --config-settings=build-dir="$BUILD_DIR" "$MEGALIDE_ROOT" >&2
}
