// Matrix products. A row-major M x K matrix is the Halide shape {K, M}, indexed (col, row);
// batch dimensions follow the two matrix dimensions (outermost last). Funcs only, no schedule.
#pragma once

#include <optional>
#include <string>

#include "megalide/tensor.h"

namespace megalide::layers {

/// ONNX Gemm's attributes.
struct GemmParams {
    bool trans_a = false, trans_b = false;
    float alpha = 1.0f, beta = 1.0f;
};

/// Y = alpha * op(A) * op(B) + beta * C, as ONNX Gemm. op(A) is M x K: A has shape {K, M}
/// (or {M, K} with trans_a); op(B) is K x N: B has shape {N, K} (or {K, N} with trans_b).
/// C, if given, broadcasts to {N, M} (NumPy rules, see elementwise.h). Y has shape {N, M}.
Tensor gemm(const std::string &name, const Tensor &a, const Tensor &b,
            const std::optional<Tensor> &c, const GemmParams &params);

/// A Linear layer over the innermost dimension: y(n, rest...) = bias(n) + sum_k
/// x(k, rest...) * weights(n, k). x (K, ...); weights {N, K}, i.e. the K x N matrix W^T of
/// a PyTorch Linear, output features innermost; bias {N} or none. y (N, ...).
Tensor dense(const std::string &name, const Tensor &x, const Tensor &weights,
             const std::optional<Tensor> &bias);

/// NumPy/ONNX MatMul with broadcasting of the batch dimensions. In Halide order A is
/// (K, M, batch...) and B is (N, K, batch...); the result is (N, M, batch...). A rank-1 A is
/// a row vector (the M dimension is dropped from the result), a rank-1 B a column vector
/// (the N dimension is dropped), exactly as numpy.matmul does.
Tensor matmul(const std::string &name, const Tensor &a, const Tensor &b);

}  // namespace megalide::layers
