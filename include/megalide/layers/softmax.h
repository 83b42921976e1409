// Softmax family along one dimension (Halide order; 0 is innermost). Numerically stable:
// the maximum along the axis is subtracted before exponentiation. Funcs only, no schedule.
#pragma once

#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

Tensor softmax(const std::string &name, const Tensor &x, int dim = 0);

/// log(softmax(x)) computed as (x - max) - log(sum(exp(x - max))), never as log of a
/// quotient, so it stays finite where softmax underflows to 0.
Tensor log_softmax(const std::string &name, const Tensor &x, int dim = 0);

}  // namespace megalide::layers
