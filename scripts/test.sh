#!/usr/bin/env bash
# Builds everything and runs every test (CTest over GoogleTest). Extra arguments go to ctest,
# e.g. `bash scripts/test.sh -L errors` or `-R conv`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configure
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
