// Autotuning the megakernel plan: measure the cost model's best few tilings of the main
// section on this machine and keep the fastest. The winner is saved as JSON under the
// schedule directory, keyed by graph fingerprint, target and thread count; the strategy
// "megakernel:tuned" uses it, and only when asked for by that name: "megakernel" is always the
// cost model's plan, so a schedule tuned on another machine is never replayed unasked.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/schedule/megakernel.h"

namespace megalide {

struct TunedCandidate {
    SectionCandidate tiling;
    size_t rank = 0;        ///< the cost model's rank
    double median_ms = 0;   ///< measured, median of the timed runs
};

struct TuneResult {
    Schedule schedule;                    ///< the fastest plan's schedule
    std::vector<TunedCandidate> measured;  ///< in rank order
    size_t best = 0;                       ///< index into measured
    std::string path;                      ///< where the schedule was saved
};

/// The directory tuned schedules live in: $MEGALIDE_SCHEDULE_DIR, else the user's cache
/// directory's tuned/ (megalide/target/machine.h): timings belong to a machine, not a checkout.
std::string tuned_schedule_dir();

/// Where the tuned schedule for this graph, machine (target.machine: features and caches) and
/// thread count is kept: <dir>/<graph fingerprint>.<machine key>.t<threads>.json.
std::string tuned_schedule_path(const Graph &graph, const TargetSpec &target);

/// Tuned schedules saved for this graph and thread count on other machines (their paths).
std::vector<std::string> tuned_schedules_elsewhere(const Graph &graph, const TargetSpec &target);

/// Plans megakernel with each of the cost model's top `top_n` tilings (at least 1), JIT-compiles
/// each and times it on random inputs (the target's thread count should match Halide's pool),
/// then saves the fastest to tuned_schedule_path(). `progress` gets one line per candidate.
/// Only host targets can be measured; throws Error otherwise.
TuneResult tune_megakernel(const Graph &graph, const TargetSpec &target, int top_n,
                           const std::function<void(const std::string &)> &progress = {});

}  // namespace megalide
