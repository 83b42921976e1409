// Convolutions over activations indexed (c, x, y, n), channels innermost; 3-D ones over
// (c, x, y, z, n), and transposed ones over (c, x[, y[, z]], n). (A 1-D convolution is a 2-D
// one with a unit y axis: the lowering relabels it.)
//
// Weights are indexed (co, ci, kx, ky[, kz]): output channel innermost, so a vector of output
// channels loads contiguously. (ONNX stores OIHW; in Halide order that is (kx, ky, ci, co),
// so the importer permutes conv weights once, at load time.)
// All functions here define Funcs only; they never schedule.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

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

/// Geometry of a 3-D convolution, per spatial axis in Halide order (x, y, z) = ONNX's
/// (W, H, D). Pads may differ per side; every field is validated by conv3d.
struct Conv3DParams {
    std::array<int, 3> strides{1, 1, 1}, dilations{1, 1, 1};
    std::array<int, 3> pad_begin{0, 0, 0}, pad_end{0, 0, 0};
    int groups = 1;
};

/// out(co, x, y, z, n) = bias(co) + sum over ci < Cin/groups, kx, ky, kz of
///   weights(co, ci, kx, ky, kz) * in(g * Cin/groups + ci, x*sx + kx*dx - pad_begin[0],
///                                     y*sy + ky*dy - pad_begin[1], z*sz + kz*dz - pad_begin[2], n),
/// g = co / (Cout/groups), with zeros outside the input. input (Cin, W, H, D, N); weights
/// (Cout, Cin/groups, KW, KH, KD); bias (Cout) or none. Output (Cout, OW, OH, OD, N), each
/// extent as in conv2d. Float operands only.
Tensor conv3d(const std::string &name, const Tensor &input, const Tensor &weights,
              const std::optional<Tensor> &bias, const Conv3DParams &params);

/// Geometry of a transposed convolution with S = 1..3 spatial axes, each vector one entry per
/// axis in Halide order (x, y, z) = ONNX's (..., H, W) reversed. The output extents are given
/// (ONNX derives them from pads, output_padding or output_shape); pad_begin may be negative
/// (the output then starts before the first input pixel's first tap).
struct ConvTransposeParams {
    std::vector<int> strides, dilations, pad_begin, output_extents;
    int groups = 1;
};

/// The transpose (gradient) of a convolution, as a gather: every output pixel sums the input
/// pixels and kernel taps that reach it,
///   out(co, x, ..., n) = bias(co) + sum over ci < Cin/groups and taps (kx, ...) of
///     weights(co % (Cout/groups), g * Cin/groups + ci, kx, ...) * in(g * Cin/groups + ci, ix, ..., n),
///   g = co / (Cout/groups), where along each axis ix = (x + pad_begin - kx*dilation) / stride
/// counts only where that division is exact and 0 <= ix < the input extent (the scatter
/// ix*stride + kx*dilation - pad_begin = x read backwards).
/// input (Cin, X, ..., N); weights (Cout/groups, Cin, KX, ...), output channel innermost as
/// for the other convolutions (ONNX stores (Cin, Cout/groups, ..., KH, KW)); bias (Cout) or
/// none.
/// Output (Cout, output_extents..., N). Float operands only.
Tensor conv_transpose(const std::string &name, const Tensor &input, const Tensor &weights,
                      const std::optional<Tensor> &bias, const ConvTransposeParams &params);

}  // namespace megalide::layers
