// Data movement: concat, pad, transpose, reshape, flatten. Dimensions are in Halide order
// (0 is innermost); converting ONNX axes is the importer's job. Funcs only, no schedule.
#pragma once

#include <string>
#include <vector>

#include "megalide/tensor.h"

namespace megalide::layers {

/// Joins tensors along `dim`; every other extent must match.
Tensor concat(const std::string &name, const std::vector<Tensor> &inputs, int dim);

enum class PadMode { Constant, Edge, Reflect };

/// Pads dimension i by before[i] elements at its start and after[i] at its end (both
/// non-negative, one entry per dimension). Reflect mirrors without repeating the edge
/// (NumPy 'reflect') and needs pads smaller than the extent.
Tensor pad(const std::string &name, const Tensor &x, const std::vector<int> &before,
           const std::vector<int> &after, PadMode mode = PadMode::Constant, float value = 0.0f);

/// out dimension i is input dimension perm[i].
Tensor transpose(const std::string &name, const Tensor &x, const std::vector<int> &perm);

/// Same elements in the same (row-major = NumPy C) order, new shape of equal size.
Tensor reshape(const std::string &name, const Tensor &x, const Shape &shape);

/// Merges the `inner_dims` innermost dimensions into one and the rest into another, giving
/// rank 2. ONNX Flatten(axis) on a rank-r tensor is flatten(x, r - axis).
Tensor flatten(const std::string &name, const Tensor &x, int inner_dims);

}  // namespace megalide::layers
