// Scheduling strategies behind one interface, chosen by name.
#pragma once

#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/lower/lower.h"
#include "megalide/schedule/schedule.h"

namespace megalide {

/// Facts about the machine a schedule is made for.
struct TargetSpec {
    std::string name = "host";
    int vector_bytes = 64;  ///< 64: AVX-512 (this machine's Zen 5), 32: AVX2
    int registers = 32;     ///< vector registers
    int l1_bytes = 32 << 10;
    int l2_bytes = 1 << 20;
    int threads = 1;
    /// Facts of the edge targets, 0 where the target has none: Hexagon's VTCM (tightly
    /// coupled vector memory) and Arm SME's streaming vector length. The x86 cost model does
    /// not read them; the Hexagon and SME targets plug in here.
    int vtcm_bytes = 0;
    int sme_vector_bits = 0;
    /// Halide's target for ahead-of-time code ("host": the machine that compiles), and
    /// whether that code runs on this machine (then `megalide compile` times it here).
    std::string halide_target = "host";
    bool runs_here = true;
    int float_lanes() const { return vector_bytes / 4; }
    Halide::Target halide() const;
};

/// The host as Halide's JIT target sees it, with `threads` threads.
TargetSpec host_target_spec(int threads);

/// The facts of an arbitrary Halide target (a Generator's `target`): "host" if it is this
/// machine, else named after the target string; vector width and registers from its features.
TargetSpec target_spec_for(const Halide::Target &target, int threads);

/// The targets schedules can be made for, by name ("host", "x86-64-avx512", "x86-64-avx2").
std::vector<std::string> target_names();

/// The TargetSpec named `name` with `threads` threads; throws Error for an unknown name
/// (listing the known ones).
TargetSpec target_spec(const std::string &name, int threads);

/// Every strategy name: "root" (every layer and reduction at root, no vectorization: the
/// baseline that runs anything), "per_op" (a strong standalone schedule per op, each at root:
/// the catalog of tuned kernels), and Halide's autoschedulers "adams2019", "mullapudi2016",
/// "li2018" (estimates from the graph's static shapes, parallelism from the thread count).
std::vector<std::string> strategy_names();

/// Makes a schedule for `lowered` with strategy `name`; throws Error for an unknown name
/// (listing the known ones).
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
