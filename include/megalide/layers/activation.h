// Pointwise activations, any shape. Each returns a Tensor of the input's shape whose Func
// is `name`. Funcs only, no schedule.
#pragma once

#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

Tensor relu(const std::string &name, const Tensor &x);
/// min(max(x, 0), 6), MobileNet's ReLU6.
Tensor relu6(const std::string &name, const Tensor &x);
/// min(max(x, lo), hi), ONNX Clip; lo <= hi is required.
Tensor clip(const std::string &name, const Tensor &x, float lo, float hi);
/// x if x >= 0 else alpha * x.
Tensor leaky_relu(const std::string &name, const Tensor &x, float alpha = 0.01f);
Tensor sigmoid(const std::string &name, const Tensor &x);
Tensor tanh(const std::string &name, const Tensor &x);
/// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): the exact GELU.
Tensor gelu_erf(const std::string &name, const Tensor &x);
/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GELU's tanh approximation.
Tensor gelu_tanh(const std::string &name, const Tensor &x);
/// x * sigmoid(x).
Tensor silu(const std::string &name, const Tensor &x);
/// x * relu6(x + 3) / 6, as ONNX HardSwish.
Tensor hardswish(const std::string &name, const Tensor &x);
/// max(0, min(1, alpha x + beta)), as ONNX HardSigmoid (defaults alpha 0.2, beta 0.5).
Tensor hardsigmoid(const std::string &name, const Tensor &x, float alpha = 0.2f,
                   float beta = 0.5f);

}  // namespace megalide::layers
