#!/usr/bin/env bash
# The main job at this stage: builds the B1 block (MobileNetV2 inverted residual, 56x56x24)
# from the layer library, runs it JIT on the host, checks it against independent reference
# loops and prints the time. Extra arguments go to b1_demo (try --help).
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configure
echo "[demo] building b1_demo" >&2
cmake --build "$BUILD_DIR" --target b1_demo
"$BUILD_DIR/apps/b1_demo" "$@"
