// Normalization layers seen through the lowering's records (internal to src/schedule): which
// Funcs a softmax, layer or RMS normalization computes per row of its output.
#pragma once

#include <set>
#include <string>

#include "megalide/lower/lower.h"

namespace megalide::strategies {

struct RowStatistics {
    /// Every Func the stage's node made that the stage reads, directly or through others.
    std::set<std::string> internal;
    /// Of those, what is computed per row of the stage: its row statistics (reductions of
    /// each row) and full-shape intermediates they share with the output (softmax's
    /// exponentials). Empty when the stage is not such a normalization: its node made another
    /// kind of reduction, or a statistic that does not reduce exactly one row of the stage.
    std::set<std::string> per_row;
};

/// The row statistics of node output `stage` whose extents (innermost first) are `shape`.
/// Func names are Halide's.
RowStatistics row_statistics(const LoweredGraph &lowered, const Halide::Func &stage, const Shape &shape);

}  // namespace megalide::strategies
