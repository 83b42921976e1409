// Naive reference implementations of the layer library, written from the ONNX operator
// specification and independently of the Halide code: plain loops over C-order (NumPy)
// arrays in ONNX's own layouts (NCHW activations, OIHW weights), accumulating in double.
#pragma once

#include <functional>
#include <vector>

namespace megalide::ref {

/// A dense C-order array: shape outermost first, as NumPy and ONNX write it.
struct Array {
    std::vector<int> shape;
    std::vector<double> data;

    Array() = default;
    explicit Array(std::vector<int> s, double fill = 0.0);
    long long size() const { return static_cast<long long>(data.size()); }
    int rank() const { return static_cast<int>(shape.size()); }
    /// Flat offset of a multi-index.
    long long offset(const std::vector<int> &index) const;
    double &at(const std::vector<int> &index) { return data[offset(index)]; }
    double at(const std::vector<int> &index) const { return data[offset(index)]; }
};

/// Multi-index of a flat offset.
std::vector<int> unravel(long long flat, const std::vector<int> &shape);

/// NumPy transpose: output axis i is input axis perm[i].
Array transpose(const Array &x, const std::vector<int> &perm);

struct ConvAttrs {
    int stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int dilation_h = 1, dilation_w = 1;
    int group = 1;
};
/// ONNX Conv: x (N, C, H, W), w (M, C/group, KH, KW), b (M) or empty.
Array conv(const Array &x, const Array &w, const Array &b, const ConvAttrs &a);

/// ONNX Gemm: A (M, K) or (K, M) with trans_a, B (K, N) or (N, K) with trans_b, C broadcast.
Array gemm(const Array &a, const Array &b, const Array *c, bool trans_a, bool trans_b,
           double alpha, double beta);

/// numpy.matmul, including rank-1 operands and broadcast batch dimensions.
Array matmul(const Array &a, const Array &b);

/// NumPy broadcasting elementwise binary operation.
Array binary(const Array &a, const Array &b, const std::function<double(double, double)> &op);
Array unary(const Array &x, const std::function<double(double)> &op);

/// ONNX BatchNormalization (inference) on (N, C, ...).
Array batchnorm(const Array &x, const Array &scale, const Array &bias, const Array &mean,
                const Array &var, double epsilon);

/// ONNX LayerNormalization over the trailing axes starting at `axis`; beta may be empty.
/// rms: RMSNorm instead (no mean subtraction, no beta).
Array layernorm(const Array &x, const Array &gamma, const Array &beta, int axis, double epsilon,
                bool rms = false);

struct PoolAttrs {
    int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
    int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int dilation_h = 1, dilation_w = 1;
    bool ceil_mode = false, count_include_pad = false;
};
/// MaxPool / AveragePool on (N, C, H, W) with PyTorch's ceil-mode rule.
Array max_pool(const Array &x, const PoolAttrs &a);
Array avg_pool(const Array &x, const PoolAttrs &a);
Array global_avg_pool(const Array &x);
Array global_max_pool(const Array &x);

Array softmax(const Array &x, int axis, bool log_form);

enum class Reduce { Sum, Mean, Max };
/// Reduce over `axes` (empty: all); keepdims keeps them with extent 1.
Array reduce(const Array &x, std::vector<int> axes, bool keepdims, Reduce kind);

Array concat(const std::vector<Array> &xs, int axis);
enum class PadKind { Constant, Edge, Reflect };
/// pads: begin and end per axis.
Array pad(const Array &x, const std::vector<int> &begin, const std::vector<int> &end,
          PadKind kind, double value);

/// Attention on q (..., Tq, D), k (..., Tk, D), v (..., Tk, E).
Array attention(const Array &q, const Array &k, const Array &v, bool causal, double scale);

}  // namespace megalide::ref
