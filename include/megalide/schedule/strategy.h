// Scheduling strategies behind one interface, chosen by name.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/lower/lower.h"
#include "megalide/schedule/schedule.h"
#include "megalide/target/target.h"

namespace megalide {

/// A scheduling strategy: a name, one line saying what it does, and how it makes a schedule.
struct StrategyInfo {
    std::string name, description;
    std::function<Schedule(const Graph &, const LoweredGraph &, const TargetSpec &)> make;
};

/// The registry: "root" (every layer and reduction at root, no vectorization: the baseline
/// that runs anything), "per_op" (a strong standalone schedule per op, each at root: the
/// catalog of tuned kernels), "megakernel" (the cost model's fused plan), "megakernel:tuned"
/// (a plan --tune measured and saved; only when asked for), and Halide's autoschedulers
/// "adams2019", "mullapudi2016", "li2018" (estimates from the graph's static shapes,
/// parallelism from the thread count).
const std::vector<StrategyInfo> &strategy_registry();

/// The registry's names, in order.
std::vector<std::string> strategy_names();

/// Makes a schedule for `lowered` with strategy `name`; throws Error for an unknown name
/// (listing the known ones), and for megakernel:tuned when no tuned schedule is saved.
Schedule make_schedule(const std::string &name, const Graph &graph, const LoweredGraph &lowered,
                       const TargetSpec &target);

/// Reads a schedule saved as JSON; throws Error naming the file if it cannot be read or parsed.
Schedule load_schedule(const std::string &path);

/// A strategy name, or a path to a saved schedule (anything ending in .json).
Schedule load_or_make_schedule(const std::string &strategy_or_file, const Graph &graph, const LoweredGraph &lowered,
                               const TargetSpec &target);

/// Applies a schedule made by any strategy or loaded from JSON: Funcs, or the autoscheduler
/// it names (loading the plugin from the Halide package). Throws ScheduleError if it was made
/// for another graph.
void apply(const Schedule &schedule, const Graph &graph, LoweredGraph &lowered, const TargetSpec &target);

}  // namespace megalide
