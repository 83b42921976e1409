// Stage roles: what each Func made by a layer or by the lowering is for, recorded when it is
// made. Schedulers read the record (LoweredGraph::facts) instead of guessing a role from a
// Func's name or from the shape of its IR (DESIGN.md: never key anything on Func names;
// Halide renames a Func defined twice in one process).
#pragma once

#include <map>
#include <string>

#include "Halide.h"

namespace megalide {

enum class StageRole {
    Layer,           ///< a graph node's output
    Input,           ///< a graph input's parameter read as a Func
    Accumulator,     ///< the reduction of a convolution, Gemm or MatMul; its node's output is the epilogue
    Padding,         ///< an input extended beyond its edges for a window (convolution, pooling)
    Relayout,        ///< a value's dimensions relabeled (a transpose, a layout conversion): no arithmetic
    PackedOperand,   ///< constant weights laid out for a dot-product instruction
    Constant,        ///< a constant buffer wrapped as a Func
    RowStatistic,    ///< a normalization's reduction along each row (mean, variance, max, sum)
    RowElementwise,  ///< a normalization's full-shape intermediate that its statistics and output reuse (softmax's exponentials)
    Reduction,       ///< any other reduction (pooling windows, ReduceSum, attention scores)
    Parameter,       ///< a value of the graph's parameters alone, per call (run-time requantization multipliers): computed once, at root
    Intermediate,    ///< any other Func made inside a layer
};

/// "accumulator", "row statistic", ...
const char *to_string(StageRole role);

/// The facts a scheduler needs about one Func, recorded where it is made.
struct StageFacts {
    StageRole role = StageRole::Intermediate;
    Halide::Type type;         ///< the element type it computes
    /// The Func name of the graph node output whose lowering made it (its own name for the
    /// node output); "" for values shared between nodes (relayouts, constants, packed weights).
    std::string node;
    int reduction_extent = 0;  ///< extent of its innermost reduction variable; 0 without a reduction
    /// An accumulator of 8-bit products widened to int32 over a channel reduction whose extent
    /// is a multiple of 4: the shape of one dot-product instruction per 4 products (x86 VNNI
    /// vpdpbusd, Hexagon vrmpy, Arm sdot).
    bool byte_dot = false;
    /// Output channels (dimension 0) the accumulator's operands are defined for, a whole
    /// number of vectors at or above its shape's (zero weights and bias beyond it; 0: only
    /// its shape's): a schedule may compute whole vectors there and leave the extra lanes unread.
    int padded_channels = 0;
    /// An accumulator indexed (j, i, batch...) as a matrix product (Gemm, MatMul): its operands
    /// are read as matrices, and a relabeled one is worth packing.
    bool matrix_product = false;
};

/// The records of one lowering, by Func name (as Halide names it).
using StageFactsMap = std::map<std::string, StageFacts>;

/// Records `f` as `role` in the StageRecorder active on this thread, its type and innermost
/// reduction extent read from its definition, and returns the record for more facts. Without
/// an active recorder (a layer used on its own) the record goes nowhere.
StageFacts &record_stage(const Halide::Func &f, StageRole role);

/// While alive, record_stage() on this thread writes into `facts`. Lowering holds one.
class StageRecorder {
public:
    explicit StageRecorder(StageFactsMap &facts);
    ~StageRecorder();
    StageRecorder(const StageRecorder &) = delete;
    StageRecorder &operator=(const StageRecorder &) = delete;

private:
    StageFactsMap *previous_;
};

}  // namespace megalide
