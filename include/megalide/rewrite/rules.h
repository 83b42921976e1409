// The rewrite rules, one per file under src/rewrite/, listed in the order default_rules()
// runs them. Each returns true if it changed the graph. Ops that rules introduce:
//   Conv / Gemm / MatMul with attribute activation = "Relu" | "Clip" (and activation_min,
//     activation_max): the activation applied to the op's result;
//   MatMul with a third input: a bias added to the product (broadcast over the last axis);
//   MatMul with attributes transA / transB: the operand's last two axes swapped first;
//   Gelu with attribute approximate = "none" | "tanh" (as ONNX opset 20 defines it).
#pragma once

#include "megalide/graph/graph.h"

namespace megalide::rules {

/// Removes nodes whose outputs are all constants (folded by shape inference: Constant,
/// Shape/Gather/Slice/Unsqueeze/Concat/Reshape chains on constants, arithmetic on
/// constants) and Identity nodes. Runs first: later patterns then see constants directly.
[[nodiscard]] bool fold_constants(Graph &graph);

/// Conv (constant W, B) -> BatchNormalization (constant params) becomes one Conv with scaled
/// weights and shifted bias; likewise Gemm -> BatchNormalization over the feature axis.
/// Runs before fuse_bias_activation so the folded bias can absorb a following Add.
[[nodiscard]] bool fold_batchnorm(Graph &graph);

/// Conv/Gemm/MatMul -> Add(constant bias over the channel/feature axis) folds the bias into
/// the op; Conv/Gemm/MatMul -> Relu | Clip(constant bounds) becomes the op's fused
/// activation. The intermediate value must have no other use. After fold_batchnorm.
[[nodiscard]] bool fuse_bias_activation(Graph &graph);

/// The decomposed LayerNorm exporters emit — ReduceMean, Sub, Pow(2), ReduceMean, Add(eps),
/// Sqrt, Div, Mul(gamma), Add(beta) over the trailing axes — becomes LayerNormalization.
/// Before fuse_bias_activation would see its trailing Add.
[[nodiscard]] bool recognize_layernorm(Graph &graph);

/// The decomposed exact GELU — x * 0.5 * (1 + erf(x / sqrt 2)) as Div, Erf, Add, Mul, Mul in
/// either multiplication order — becomes Gelu(approximate="none").
[[nodiscard]] bool recognize_gelu(Graph &graph);

/// Transpose(Transpose(x)) composes into one Transpose, or into nothing when the composed
/// permutation is the identity.
[[nodiscard]] bool cancel_transposes(Graph &graph);

/// MatMul reading a Transpose that swaps only its last two axes reads the Transpose's input
/// with transA/transB set instead. After cancel_transposes.
[[nodiscard]] bool fold_transpose_into_matmul(Graph &graph);

}  // namespace megalide::rules
