// Reductions over a set of dimensions (Halide order). Funcs only, no schedule.
#pragma once

#include <string>
#include <vector>

#include "megalide/tensor.h"

namespace megalide::layers {

/// With keep_dims the reduced dimensions stay with extent 1; without, they are removed
/// (a full reduction then gives a rank-0 tensor). `dims` must be distinct and in range;
/// an empty `dims` reduces over every dimension, as ONNX does by default.
Tensor reduce_sum(const std::string &name, const Tensor &x, std::vector<int> dims,
                  bool keep_dims = true);
Tensor reduce_mean(const std::string &name, const Tensor &x, std::vector<int> dims,
                   bool keep_dims = true);
Tensor reduce_max(const std::string &name, const Tensor &x, std::vector<int> dims,
                  bool keep_dims = true);

}  // namespace megalide::layers
