// The per_op strategy and its building blocks (internal to src/schedule).
#pragma once

#include "megalide/schedule/strategy.h"

namespace megalide::strategies {

/// Schedules an accumulation: `epilogue` (pure, at root) tiled, `acc` (recorded as `facts`)
/// computed per tile.
void schedule_accumulation(Schedule &s, const Halide::Func &epilogue, const Halide::Func &acc, const StageFacts &facts,
                           const Shape &shape, const TargetSpec &target);

/// Schedules one Func by itself: vectorized innermost, parallel over its outermost
/// non-trivial dimension, at root if `root`.
void schedule_standalone(Schedule &s, const Halide::Func &f, const Shape &shape, const TargetSpec &target, bool root);

/// Every layer output at root with its own tuned schedule.
Schedule per_op(const LoweredGraph &lowered, const TargetSpec &target);

}  // namespace megalide::strategies
