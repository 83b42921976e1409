// The megakernel strategy: one fused loop nest per graph section.
//
// The planner walks the lowered pipeline from its outputs. Every Func is either inlined into
// its consumers (pointwise and relabeling stages, accumulation epilogues such as bias, ReLU,
// GELU or a residual add), or materialized. A materialized Func either joins the section of
// its consumers — computed per row tile of the section's root, or, where its consumers read a
// halo (3x3 windows, stride 2), stored per tile and computed one root row at a time so that
// Halide slides the window and folds the storage to the rows still needed — or, when every
// tile would need all of it (the keys and values of attention, a global reduction), it
// becomes the root of a section of its own. Halos and recompute ratios are exact: they come
// from Halide's bounds inference over each definition (see src/schedule/footprint.h).
//
// The row dimension and tile height of each section come from a cost model fed by the
// TargetSpec: arithmetic with recompute at the target's FMA rate, parallel balance over the
// threads, bytes moved beyond L2 (intermediates at root, weights streamed again per tile, a
// tile's working set that spills L2). Inside a section every accumulation keeps the
// register-blocked tiles of the per_op kernels, so fused and op-by-op differ only in fusion.
#pragma once

#include <string>
#include <vector>

#include "megalide/graph/graph.h"
#include "megalide/lower/lower.h"
#include "megalide/schedule/schedule.h"
#include "megalide/schedule/strategy.h"

namespace megalide {

/// Where the planner put one Func and why.
struct StageDecision {
    std::string func;
    std::string placement;  ///< "inline", "root", "tile of F", "sliding in F", "in rows of F", ...
    std::string reason;
    int64_t root_bytes = 0;  ///< the Func's whole extent in bytes: what root would write and read back
    int64_t tile_bytes = 0;  ///< what one tile keeps live (folded storage for sliding windows)
    double recompute = 1.0;  ///< elements computed / elements in the Func (halo recompute)
    std::string cache;       ///< where tile_bytes fits: "L1", "L2", "memory"
    /// Estimated bytes this stage moves to and from memory beyond L2 (DDR on Hexagon): stored
    /// whole and larger than L2, written once and read once per consumer (a graph output:
    /// written once); a tile that spills L2, the same for its Func's extent; else 0.
    int64_t memory_bytes = 0;
    /// The same estimate were it stored whole (op by op): what fusing it saves.
    int64_t memory_bytes_at_root = 0;
};

/// One way to tile a section: its root, the root's row dimension and tile height.
struct SectionCandidate {
    std::string root;
    int dim = 0;       ///< the root's row dimension (Halide order)
    int rows = 1;      ///< rows of the root per tile
    bool sliding = false;
    double cost = 0;   ///< model estimate, in cycles
    bool alone = false;  ///< the root only: its producers are not computed per tile (they start sections of their own)
    std::string describe() const;
};

struct MegakernelPlan {
    Schedule schedule;
    std::vector<StageDecision> stages;
    /// The main section's candidates, cheapest first (what --tune measures); `chosen` indexes it.
    std::vector<SectionCandidate> candidates;
    size_t chosen = 0;
    std::vector<std::string> notes;  ///< fallbacks and other remarks, one line each
    std::vector<int64_t> input_bytes;  ///< each graph input's size: read once from memory
};

/// Plans the megakernel schedule; `candidate` picks the main section's tiling by rank
/// (0: the model's best). The Schedule's strategy is "megakernel".
MegakernelPlan plan_megakernel(const LoweredGraph &lowered, const TargetSpec &target, size_t candidate = 0);

/// A readable report of `plan`: sections, per-stage placement and reasons, candidates.
std::string explain(const MegakernelPlan &plan, const TargetSpec &target);

}  // namespace megalide
