#!/usr/bin/env bash
# Runs `megalide bench` (set-up included); arguments go to it, e.g.
#   bash scripts/bench.sh --blocks B1,B3 --threads 1 --runs 30 --csv out.csv
MEGALIDE_BOOTSTRAP_ARGS="--bench"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configure
cmake --build "$BUILD_DIR" --target megalide_cli
"$BUILD_DIR/apps/megalide" bench "$@"
