// Index bookkeeping for reductions over an arbitrary set of dimensions, shared by the
// reduce, norm, softmax and pooling layers.
#pragma once

#include <string>
#include <vector>

#include "Halide.h"
#include "megalide/tensor.h"

namespace megalide::layers::detail {

struct Reduction {
    Halide::RDom r;                    ///< one RDom dimension per reduced dimension, in order
    std::vector<Halide::Var> kept;     ///< one Var per kept dimension, in order
    std::vector<Halide::Expr> source;  ///< coordinates into x: r for reduced, kept Var otherwise
    Shape kept_shape;                  ///< extents of the kept dimensions
    int count = 1;                     ///< number of elements reduced into each result
};

/// reduced[d] says whether dimension d of x is reduced. The RDom is named `name` + "_r".
Reduction make_reduction(const std::string &name, const Tensor &x,
                         const std::vector<bool> &reduced);

/// Of coordinates for every dimension, those of the kept ones (to read a statistic
/// computed by a Reduction back at full rank).
std::vector<Halide::Expr> kept_coords(const std::vector<Halide::Expr> &all,
                                      const std::vector<bool> &reduced);

/// True for the `count` innermost dimensions of a rank-`rank` tensor.
std::vector<bool> innermost(int rank, int count);

}  // namespace megalide::layers::detail
