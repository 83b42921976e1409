#!/usr/bin/env bash
# Builds everything and runs every test (CTest over GoogleTest). Extra arguments go to ctest,
# e.g. `bash scripts/test.sh -L errors` or `-R conv`.
# The exported-model tests need PyTorch, so the test run bootstraps it too.
MEGALIDE_BOOTSTRAP_ARGS="--with-torch"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configure
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
