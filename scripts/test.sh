#!/usr/bin/env bash
# Builds everything and runs every test (CTest over GoogleTest). Extra arguments go to ctest,
# e.g. `bash scripts/test.sh -L errors` or `-R conv`.
# The tests need their references (PyTorch, ONNX, ONNX Runtime): bootstrap level --tests.
MEGALIDE_BOOTSTRAP_ARGS="--tests"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configure
cmake --build "$BUILD_DIR"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
