// Convolutions over activations indexed (c, x, y, n), channels innermost.
//
// Weights are indexed (co, ci, kx, ky): output channel innermost, so a vector of output
// channels loads contiguously. (ONNX stores OIHW; in Halide order that is (kx, ky, ci, co),
// so the importer permutes conv weights once, at load time.)
// All functions here define Funcs only; they never schedule.
#pragma once

#include <optional>
#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

/// Geometry of a 2-D convolution. Pads may differ per side (ONNX's asymmetric pads);
/// every field is validated by the layer that uses it.
struct Conv2DParams {
    int stride_x = 1, stride_y = 1;
    int pad_left = 0, pad_right = 0, pad_top = 0, pad_bottom = 0;
    int dilation_x = 1, dilation_y = 1;
    int groups = 1;
    /// Integer convolutions: the accumulator type the products are widened to (e.g. int32
    /// for uint8 inputs and int8 weights, so a VNNI dot product can compute them), and the
    /// value outside the input (its zero point). Undefined: the input's type, and 0.
    Halide::Type accumulator;
    Halide::Expr padding;
};

/// out(co, x, y, n) = bias(co) + sum over ci < Cin/groups, kx, ky of
///   weights(co, ci, kx, ky) * in(g * Cin/groups + ci, x*sx + kx*dx - pad_left,
///                                 y*sy + ky*dy - pad_top, n),  g = co / (Cout/groups),
/// with zeros outside the input. input (Cin, W, H, N); weights (Cout, Cin/groups, KW, KH);
/// bias (Cout) or none. Output (Cout, OW, OH, N), OW = (W + pl + pr - dx*(KW-1) - 1)/sx + 1.
Tensor conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
              const std::optional<Tensor> &bias, const Conv2DParams &params);

/// Depthwise convolution with channel multiplier M: output channel co reads input channel
/// co / M. input (C, W, H, N); weights (C*M, KW, KH); bias (C*M) or none; groups is ignored.
Tensor depthwise_conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
                        const std::optional<Tensor> &bias, const Conv2DParams &params);

/// 1x1 convolution, stride 1, no padding: out(co, x, y, n) = bias(co) + sum_ci
/// weights(co, ci) * in(ci, x, y, n). input (Cin, W, H, N); weights (Cout, Cin).
/// `accumulator` as in Conv2DParams.
Tensor pointwise_conv2d(const std::string &name, const Tensor &input, const Tensor &weights,
                        const std::optional<Tensor> &bias,
                        Halide::Type accumulator = Halide::Type());

}  // namespace megalide::layers
