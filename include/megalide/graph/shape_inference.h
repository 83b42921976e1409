// Static shape and type inference, and constant evaluation of shape arithmetic, per ONNX op.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "megalide/graph/graph.h"

namespace megalide {

/// The ONNX-domain op types megalide imports (from the op registry, ops/registry.h, which
/// also lists the contrib and fused forms in their own domains).
const std::set<std::string> &supported_ops();

/// Infers the output types and shapes of `node` from its inputs, and folds it to a
/// constant when evaluate_constant() can. Throws Error naming the node when inputs are
/// inconsistent, a needed operand (a Reshape's shape, Pad's pads...) is not a constant, or
/// the op is not supported.
void infer_node(Graph &graph, Node &node);

/// The value of `node`'s single output when it can be computed now: its op has a constant
/// evaluation in the registry (data movement and arithmetic: Identity, Cast, Reshape,
/// Flatten, Squeeze, Unsqueeze, Transpose, Concat, Gather, Slice, Add, Sub, Mul, Div, Mod) and
/// every input is a constant, or the op is Constant, or Shape of a known shape.
std::optional<HostArray> evaluate_constant(const Graph &graph, const Node &node);

/// The bytes of a tensor of `dtype` and `shape`; throws Error naming `what`, the shape and the
/// limit when an extent is negative or reaches 2^31, the tensor reaches 2^31 elements or
/// 2 GiB, or it is over limits.max_memory.
int64_t check_tensor_size(const ResourceLimits &limits, const std::string &what, DType dtype,
                          const std::vector<int64_t> &shape);

/// NumPy broadcast of two shapes (ONNX order); throws Error naming `label` on mismatch.
std::vector<int64_t> broadcast_shape(const std::string &label, const std::vector<int64_t> &a,
                                     const std::vector<int64_t> &b);

}  // namespace megalide
