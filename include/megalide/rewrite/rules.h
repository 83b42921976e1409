// The rewrite rules, one per file under src/rewrite/, listed in the order default_rules()
// runs them. Each returns true if it changed the graph. Ops that rules introduce (each is an
// op of the registry, ops/registry.h; `megalide info --ops` lists them):
//   com.megalide.Gelu with attribute approximate = "none" | "tanh" (ONNX opset 20's Gelu,
//     which megalide's opsets lack), from recognize_gelu;
//   com.megalide.Requantize(x, x_scale, x_zero_point, y_scale, y_zero_point): dequantize and
//     quantize again as one op on 8-bit tensors, from fold_requantize;
//   com.microsoft.QLinearAdd(A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale,
//     C_zero_point), com.microsoft.QLinearAveragePool / QLinearGlobalAveragePool(X, x_scale,
//     x_zero_point, y_scale, y_zero_point) with AveragePool's attributes: ONNX Runtime's contrib
//     ops (their signatures; megalide also reads them from files), from fold_qdq;
//   and, still under ONNX names with attributes ONNX does not define (to become fused forms of
//   their own in com.megalide):
//   Conv / Gemm / MatMul with attribute activation = "Relu" | "Clip" (and activation_min,
//     activation_max): the activation applied to the op's result;
//   MatMul with a third input: a bias added to the product (broadcast over the last axis);
//   MatMul with attributes transA / transB: the operand's last two axes swapped first;
//   QLinearConv / QLinearMatMul with attribute activation (as above, its bounds applied to the
//     quantized output), and QLinearMatMul with a ninth input: an int32 bias per column at
//     scale a_scale * b_scale.
#pragma once

#include "megalide/graph/graph.h"

namespace megalide::rules {

/// Removes nodes whose outputs are all constants (folded by shape inference: Constant,
/// Shape/Gather/Slice/Unsqueeze/Concat/Reshape chains on constants, arithmetic on
/// constants) and Identity nodes. Runs first: later patterns then see constants directly.
[[nodiscard]] bool fold_constants(Graph &graph);

/// Transpose(Transpose(x)) composes into one Transpose, or into nothing when the composed
/// permutation is the identity.
[[nodiscard]] bool cancel_transposes(Graph &graph);

/// MatMul reading a Transpose that swaps only its last two axes reads the Transpose's input
/// with transA/transB set instead. After cancel_transposes.
[[nodiscard]] bool fold_transpose_into_matmul(Graph &graph);

/// The decomposed LayerNorm exporters emit — ReduceMean, Sub, Pow(2), ReduceMean, Add(eps),
/// Sqrt, Div, Mul(gamma), Add(beta) over the trailing axes — becomes LayerNormalization.
/// Before fuse_bias_activation would see its trailing Add.
[[nodiscard]] bool recognize_layernorm(Graph &graph);

/// The decomposed exact GELU — x * 0.5 * (1 + erf(x / sqrt 2)) as Div, Erf, Add, Mul, Mul in
/// either multiplication order — becomes Gelu(approximate="none").
[[nodiscard]] bool recognize_gelu(Graph &graph);

/// Conv (constant W, B) -> BatchNormalization (constant params) becomes one Conv with scaled
/// weights and shifted bias; likewise Gemm -> BatchNormalization over the feature axis.
/// Runs before fuse_bias_activation so the folded bias can absorb a following Add.
[[nodiscard]] bool fold_batchnorm(Graph &graph);

/// Conv/Gemm/MatMul -> Add(constant bias over the channel/feature axis) folds the bias into
/// the op; Conv/Gemm/MatMul -> Relu | Clip(constant bounds) becomes the op's fused
/// activation. The intermediate value must have no other use. After fold_batchnorm.
[[nodiscard]] bool fuse_bias_activation(Graph &graph);

/// Folds QuantizeLinear(op(DequantizeLinear...)) with constant per-tensor activation
/// parameters into one quantized op: Conv -> QLinearConv; Gemm and MatMul with 2-D constant
/// weights -> QLinearMatMul (weights transposed on the host for transB); their bias either an
/// int32 DequantizeLinear at scale x_scale * w_scale or a float constant quantized to it;
/// Add -> QLinearAdd; AveragePool / GlobalAveragePool -> QLinear*; MaxPool, GlobalMaxPool,
/// Relu, Clip, Flatten, Reshape, Transpose with the same parameters on both sides -> the op
/// on the 8-bit values (Relu and Clip bounds quantized). After fuse_bias_activation, so a
/// fused activation moves into the quantized op.
[[nodiscard]] bool fold_qdq(Graph &graph);

/// QuantizeLinear(DequantizeLinear(x)) on 8-bit x with per-tensor parameters: the same
/// parameters -> x itself; different ones -> Requantize. After fold_qdq.
[[nodiscard]] bool fold_requantize(Graph &graph);

/// Relu(DequantizeLinear(x)) on 8-bit x with a constant per-tensor positive scale ->
/// DequantizeLinear(Clip(x, zero_point)): exact, as dequantization keeps order and maps the
/// zero point to 0. A QuantizeLinear after it then folds into Requantize, so a Relu between
/// quantized ops that fold_qdq left in float (B2's residual add, then Relu) stays integer.
[[nodiscard]] bool quantized_relu(Graph &graph);

}  // namespace megalide::rules
