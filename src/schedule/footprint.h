// Footprints: the exact region of every Func a pipeline needs to produce a given region of
// one of its Funcs, found by Halide's own bounds inference over each definition (stencil
// extents, strides, padding clamps and reduction domains included). The megakernel scheduler
// measures halos and recompute ratios with it (internal to src/schedule).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "Halide.h"

namespace megalide::strategies {

/// A bound bounds inference could not make a constant (a Func read at data-dependent indices).
constexpr int64_t kUnknownMin = std::numeric_limits<int64_t>::min() / 4;
constexpr int64_t kUnknownMax = std::numeric_limits<int64_t>::max() / 4;

/// One closed interval per dimension, innermost first.
struct Region {
    std::vector<int64_t> min, max;
    int64_t extent(size_t d) const { return max[d] - min[d] + 1; }
    int64_t volume() const;
    bool empty() const { return min.empty(); }
};

/// A pipeline's Funcs as a call graph: topological order (producers first) and consumers.
class CallGraph {
public:
    explicit CallGraph(const std::vector<Halide::Func> &outputs);

    /// Funcs by Halide name (with Halide's "$N" suffixes), producers before consumers.
    const std::vector<std::string> &order() const { return order_; }
    const Halide::Internal::Function &function(const std::string &name) const { return env_.at(name); }
    bool contains(const std::string &name) const { return env_.count(name) != 0; }
    const std::vector<std::string> &consumers(const std::string &name) const;
    const std::vector<std::string> &producers(const std::string &name) const;

    /// The region of every Func (and input image) that computing `region` of `func` reads,
    /// directly or through other Funcs. Regions of Funcs not reached are absent.
    std::map<std::string, Region> required(const std::string &func, const Region &region) const;

private:
    std::map<std::string, Halide::Internal::Function> env_;
    std::vector<std::string> order_;
    std::map<std::string, std::vector<std::string>> consumers_, producers_;
};

}  // namespace megalide::strategies
