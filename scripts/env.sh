# Sourced by the scripts: bootstrap, then put PyPI's cmake and ninja first on PATH (Debian 12's
# cmake 3.25 is too old for Halide's package) and name the build directory.
set -euo pipefail
MEGALIDE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$MEGALIDE_ROOT/scripts/bootstrap.sh" ${MEGALIDE_BOOTSTRAP_ARGS:-}
PATH="$(python3 -c 'import cmake; print(cmake.CMAKE_BIN_DIR)'):$(python3 -c 'import ninja; print(ninja.BIN_DIR)'):$PATH"
export PATH
BUILD_DIR="${MEGALIDE_BUILD_DIR:-$MEGALIDE_ROOT/build}"

configure() {
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
        cmake -S "$MEGALIDE_ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
    fi
}
