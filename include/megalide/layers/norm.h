// Normalizations. Funcs only, no schedule.
#pragma once

#include <optional>
#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

/// Inference batch normalization over the innermost (channel) dimension of x (C, ...):
/// y = (x - mean(c)) / sqrt(var(c) + epsilon) * scale(c) + bias(c). All four are {C}.
Tensor batchnorm(const std::string &name, const Tensor &x, const Tensor &scale,
                 const Tensor &bias, const Tensor &mean, const Tensor &var,
                 float epsilon = 1e-5f);

/// Layer normalization over the `norm_dims` innermost dimensions of x (ONNX
/// LayerNormalization with axis = rank - norm_dims). Two passes: the mean, then the mean
/// of squared deviations, so a large common offset does not cancel catastrophically.
/// gamma and beta (beta optional) have the normalized dimensions' shape.
Tensor layernorm(const std::string &name, const Tensor &x, const Tensor &gamma,
                 const std::optional<Tensor> &beta, int norm_dims = 1, float epsilon = 1e-5f);

/// RMS normalization over the `norm_dims` innermost dimensions:
/// y = x / sqrt(mean(x^2) + epsilon) * gamma.
Tensor rmsnorm(const std::string &name, const Tensor &x, const Tensor &gamma, int norm_dims = 1,
               float epsilon = 1e-6f);

}  // namespace megalide::layers
