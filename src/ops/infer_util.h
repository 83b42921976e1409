// Shape-inference helpers shared by the op families (internal to src/ops). Each throws
// Error naming the node.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "megalide/error.h"
#include "megalide/graph/graph.h"
#include "megalide/graph/shape_inference.h"

namespace megalide::ops {

using Dims = std::vector<int64_t>;

/// "[1, 3, 224, 224]".
std::string dims_str(const Dims &d);

[[noreturn]] void fail(const Node &n, const std::string &what);

/// Input `i`, present and with a known shape.
const Value &input(const Graph &g, const Node &n, size_t i);
bool has_input(const Node &n, size_t i);
/// Input `i`'s values as integers; it must be a constant (`role` names it in the error).
Dims constant_ints(const Graph &g, const Node &n, size_t i, const std::string &role);
/// Sets output `i`'s type and shape (if the node has that output), checking its size first.
void set_output(Graph &g, const Node &n, size_t i, DType dtype, Dims shape);
/// Output 0 has input 0's type and shape.
void same_as_input(Graph &g, const Node &n);
int64_t normalize_axis(const Node &n, int64_t axis, int64_t rank);
int64_t product(const Dims &d, size_t begin, size_t end);
/// The DType of an ONNX TensorProto element type code.
DType dtype_of_onnx(const Node &n, int64_t code);
/// True when every present input is a constant.
bool inputs_constant(const Graph &g, const Node &n);

/// Sliding-window geometry of Conv / MaxPool / AveragePool over the spatial dimensions of
/// x (N, C, spatial...), canonicalized into explicit attributes (kernel_shape, strides,
/// dilations, pads) so lowering never sees auto_pad; returns the output shape (N, C, ...).
Dims window_op(Node &n, const Dims &x, const Dims &kernel, bool is_pool);

/// The output shape of a 1-D, 2-D or 3-D convolution of x (N, C, spatial...) by w (M, C/group,
/// kernel...) (bias at input `bias`, SIZE_MAX: none), canonicalized as window_op does;
/// records the group attribute.
Dims conv_output(Node &n, const Value &x, const Value &w, size_t bias, const Graph &g);

/// The output shape of a 1-D, 2-D or 3-D transposed convolution (ONNX ConvTranspose) of x
/// (N, C, spatial...) by w (C, M/group, kernel...) (bias at input `bias`, SIZE_MAX: none),
/// canonicalized into explicit kernel_shape, strides, dilations, output_padding, group and
/// pads (begin and end per spatial axis; output_shape and auto_pad become pads, an end pad
/// negative where output_shape extends the output), so lowering reads the geometry only
/// from those and the output's shape.
Dims conv_transpose_output(Node &n, const Value &x, const Value &w, size_t bias, const Graph &g);

/// A quantization's scale (input `scale`) and zero point (input `zero_point`; SIZE_MAX:
/// none): float32 scales, 8-bit zero points, each per tensor or with `channels` entries;
/// constant scales positive and finite. `prefix` names them as ONNX does ("w_" -> w_scale).
void check_quant_params(const Graph &g, const Node &n, size_t scale, size_t zero_point, int64_t channels,
                        const std::string &prefix, bool int32_zero_point = false);

/// The operands of an integer convolution or matrix product (ConvInteger / MatMulInteger and
/// the QLinear forms): 8-bit values; for a QLinear form also its three quantizations (inputs
/// 1-2 per tensor, 4-5 per output channel, 6-7 per tensor) and an optional int32 bias (input
/// 8) of `channels` entries.
void check_integer_operands(const Graph &g, const Node &n, bool qlinear, const Value &lhs, const Value &rhs, int64_t channels,
                            const std::string &lhs_prefix, const std::string &rhs_prefix, const std::string &bias_name);

/// Records the quantization of a quantizing op's output (constant scale at input `scale`,
/// zero point at `zero_point` or none) in the IR, checked.
void record_quant(Graph &g, const Node &n, size_t scale, size_t zero_point, int axis);

/// Row-major strides of `shape`.
Dims strides_of(const Dims &shape);

/// A constant of `in`'s type and `out_shape` whose element at each output index comes from
/// `in`'s flat index source(index): data movement evaluated on the host.
HostArray gather_elements(const HostArray &in, const Dims &out_shape, const std::function<int64_t(const Dims &)> &source);

}  // namespace megalide::ops
