// Constraints a target puts on every strategy's schedule, applied in one place after the
// strategy has made it (make_schedule): a strategy plans tiles and fusion from the target's
// rates; what the target's code generator cannot do at all is taken out here.
#pragma once

#include "megalide/lower/lower.h"
#include "megalide/schedule/schedule.h"
#include "megalide/target/target.h"

namespace megalide {

/// Without float vectors (HVX v66: Halide has no HVX float multiply and stops with an internal
/// error), a stage whose computation does float arithmetic (itself or a Func inlined into it)
/// keeps its loops but loses vectorize / vectorize_reduction: it runs as scalar code. Returns
/// the canonical names of the stages made scalar. Autoscheduler schedules are left as they are.
std::vector<std::string> fit_schedule_to_target(Schedule &schedule, const LoweredGraph &lowered, const TargetSpec &target);

/// Whether `f`'s own definition does float arithmetic (the Funcs it reads not followed).
bool computes_float(const Halide::Func &f);

}  // namespace megalide
