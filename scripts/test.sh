#!/usr/bin/env bash
# Builds everything, installs the Python package `megalide` into the project environment, and
# runs every test (CTest over GoogleTest and pytest). Extra arguments go to ctest, e.g.
# `bash scripts/test.sh -L errors` or `-R conv`.
# The tests need their references (PyTorch, ONNX, ONNX Runtime): bootstrap level --tests.
MEGALIDE_BOOTSTRAP_ARGS="--tests"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configure
cmake --build "$BUILD_DIR"
install_python_package
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" "$@"
