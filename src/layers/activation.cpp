#include "megalide/layers/activation.h"

#include <cmath>

#include "checks.h"
#include "megalide/layers/elementwise.h"

namespace megalide::layers {

using namespace detail;
using Halide::Expr;

namespace {

// 1 / (1 + e^-v): for very negative v, e^-v overflows to inf and the quotient is exactly 0.
Expr logistic(const Expr &v) { return 1.0f / (1.0f + Halide::exp(-v)); }

}  // namespace

Tensor relu(const std::string &name, const Tensor &x) {
    return map_elements("relu", name, x, [](Expr v) { return Halide::max(v, 0.0f); });
}

Tensor relu6(const std::string &name, const Tensor &x) {
    return map_elements("relu6", name, x, [](Expr v) { return Halide::clamp(v, 0.0f, 6.0f); });
}

Tensor clip(const std::string &name, const Tensor &x, float lo, float hi) {
    const std::string label = layer_label("clip", name);
    require(!(lo > hi), label,
            "min " + std::to_string(lo) + " is greater than max " + std::to_string(hi));
    return map_elements("clip", name, x, [=](Expr v) { return Halide::min(Halide::max(v, lo), hi); });
}

Tensor leaky_relu(const std::string &name, const Tensor &x, float alpha) {
    return map_elements("leaky_relu", name, x,
                     [=](Expr v) { return Halide::select(v >= 0.0f, v, alpha * v); });
}

Tensor sigmoid(const std::string &name, const Tensor &x) {
    return map_elements("sigmoid", name, x, logistic);
}

Tensor tanh(const std::string &name, const Tensor &x) {
    return map_elements("tanh", name, x, [](Expr v) { return Halide::tanh(v); });
}

Tensor gelu_erf(const std::string &name, const Tensor &x) {
    const float inv_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
    return map_elements("gelu_erf", name, x, [=](Expr v) {
        return 0.5f * v * (1.0f + Halide::erf(v * inv_sqrt2));
    });
}

Tensor gelu_tanh(const std::string &name, const Tensor &x) {
    const float k = static_cast<float>(std::sqrt(2.0 / M_PI));
    return map_elements("gelu_tanh", name, x, [=](Expr v) {
        return 0.5f * v * (1.0f + Halide::tanh(k * (v + 0.044715f * v * v * v)));
    });
}

Tensor silu(const std::string &name, const Tensor &x) {
    return map_elements("silu", name, x, [](Expr v) { return v * logistic(v); });
}

Tensor hardswish(const std::string &name, const Tensor &x) {
    return map_elements("hardswish", name, x, [](Expr v) {
        return v * Halide::clamp(v + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f);
    });
}

Tensor hardsigmoid(const std::string &name, const Tensor &x, float alpha, float beta) {
    return map_elements("hardsigmoid", name, x, [=](Expr v) {
        return Halide::clamp(alpha * v + beta, 0.0f, 1.0f);
    });
}

}  // namespace megalide::layers
