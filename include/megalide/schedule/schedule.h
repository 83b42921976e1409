// Schedule: how a lowered pipeline is computed, as plain data (DESIGN.md). Per Func: its
// placement (inline, root, or computed at a loop of a consumer, optionally stored higher),
// and per stage (0 = the pure definition, k = update k-1) an ordered list of loop
// transformations. A Schedule saves to and loads from JSON, prints as the equivalent Halide
// C++ schedule, and is checked for legality — with errors that name the Func, stage and
// loop — before Halide sees it.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "megalide/error.h"
#include "megalide/lower/lower.h"

namespace megalide {

/// A schedule that does not fit the pipeline: unknown Func or loop, a compute_at loop that
/// does not enclose every use, a race (vectorizing or parallelizing a reduction variable)...
class ScheduleError : public Error {
public:
    using Error::Error;
};

enum class Placement { Inline, Root, At };

struct LoopRef {
    std::string func, var;  ///< a loop of `func`'s last stage; empty func: none
    bool empty() const { return func.empty(); }
};

/// One loop transformation of a stage, applied in order.
struct LoopStep {
    /// RFactor {rvar, var} (update stages): the reduction over `rvar` moves into a new
    /// intermediate Func indexed by the pure variable `var`, which accumulates partial results
    /// over the stage's other reduction loops; the stage then reduces the intermediate over
    /// `rvar`. Split the reduction first so that `rvar` is the inner, vector-wide part. How the
    /// intermediate is scheduled is `intermediate_at` and `intermediate_vectorize` (by default
    /// vectorized over `var`, computed once per evaluation of the stage's Func).
    /// VectorizeReduction {rvar} (update stages): vectorizes a reduction variable atomically
    /// (Halide's atomic().vectorize()): the lanes reduce into one element, which the backend
    /// may do with a dot-product instruction (4 bytes per int32 lane: x86 VNNI vpdpbusd).
    enum class Kind { Split, Reorder, Vectorize, Unroll, Parallel, RFactor, VectorizeReduction };
    Kind kind = Kind::Split;
    std::vector<std::string> vars;  ///< Split: {var, outer, inner}; Reorder: innermost first; RFactor: {rvar, var}; else {var}
    int factor = 0;                 ///< Split only
    std::string tail = "auto";      ///< Split only: auto | round_up | guard_with_if | shift_inwards
    /// RFactor only: the loop of the stage's Func inside which the intermediate is computed, a
    /// pure loop of the stage as its steps leave it (the stage must be the Func's last); empty:
    /// outside all its loops, once per evaluation of the Func.
    std::string intermediate_at;
    /// RFactor only: the intermediate's definition and its update are vectorized over `var`.
    bool intermediate_vectorize = true;
};

struct StageSchedule {
    int index = 0;  ///< 0: pure definition; k: update k-1
    std::vector<LoopStep> steps;
};

struct FuncSchedule {
    FuncSchedule() = default;
    FuncSchedule(std::string f, Placement p, LoopRef at = {}, LoopRef store = {})
        : func(std::move(f)), placement(p), compute_at(std::move(at)), store_at(std::move(store)) {}

    std::string func;
    Placement placement = Placement::Inline;
    LoopRef compute_at;  ///< for Placement::At
    LoopRef store_at;    ///< optional, outside compute_at: sliding window / storage reuse
    /// Storage folding: dimension `var` (a pure variable) of the Func's buffer is kept modulo
    /// `factor`, for a sliding window that needs only the last few rows. 0: none.
    std::string fold_var;
    int fold_factor = 0;
    /// Where the Func's buffer lives: "" (Halide's choice: heap or stack) or "vtcm", Hexagon's
    /// tightly coupled vector memory (store_in(MemoryType::VTCM)), allocated once per call
    /// outside all loops (hoist_storage_root) at the size one iteration of its store level
    /// needs. Only on targets that have VTCM (TargetSpec::vtcm_bytes), never for an output.
    std::string store_in;
    std::vector<StageSchedule> stages;
};

struct Schedule {
    std::string strategy;  ///< who made it ("per_op", "megakernel", "hand", ...)
    /// Set for Halide's autoschedulers: the plugin's name and parameters; `funcs` is empty and
    /// applying the schedule runs the autoscheduler (deterministically) on the pipeline.
    std::string autoscheduler;
    std::map<std::string, std::string> autoscheduler_params;
    std::vector<FuncSchedule> funcs;
    /// A fingerprint of the graph it was made for (see graph_fingerprint) to refuse a
    /// schedule saved for another graph.
    std::string graph;
    /// Set for schedules measured on a machine (`--tune`): the machine's description
    /// (MachineFacts::describe) with its key, so a timed plan is not replayed elsewhere unseen.
    std::string machine;

    /// One line per scheduled Func: "name: root", "name: at consumer.y (store_at consumer.yo,
    /// fold y % 4)", ...; Funcs not listed are inlined. Autoscheduler schedules say so.
    std::string placements() const;
    std::string to_json() const;
    /// Parses JSON written by to_json(); `source` names the file in error messages.
    static Schedule from_json(const std::string &text, const std::string &source);
    /// The equivalent Halide C++ schedule, one statement per line.
    std::string to_cpp() const;
};

/// Checks `schedule` against `lowered` without changing anything (the dry run of apply).
void check_schedule(const Schedule &schedule, const LoweredGraph &lowered);

/// Checks, then applies `schedule` to the pipeline's Funcs.
void apply_schedule(const Schedule &schedule, LoweredGraph &lowered);

/// A Func's name without the "$N" suffix Halide appends when a process defines the same name
/// again (lowering a graph twice): schedules refer to Funcs by this stable name.
std::string canonical_func_name(const std::string &name);

/// Every Func of the pipeline by canonical name (inputs' wrappers, layer stages, outputs).
std::map<std::string, Halide::Func> pipeline_funcs(const LoweredGraph &lowered);

/// A short stable digest of the graph's structure and shapes.
std::string graph_fingerprint(const Graph &graph);

}  // namespace megalide
