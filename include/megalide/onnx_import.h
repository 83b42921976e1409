// ONNX import: a .onnx file becomes a Graph with static shapes, constants folded.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"

namespace megalide {

struct ImportOptions {
    /// Shapes for inputs whose ONNX shape has symbolic dimensions, by input name (ONNX order).
    std::map<std::string, std::vector<int64_t>> input_shapes;
    /// Values that turn graph inputs into constants, by input name: operands that fix shapes
    /// (a Reshape's shape, Pad's pads, Slice's starts...) must be known at compile time.
    std::map<std::string, HostArray> frozen_inputs;
    /// Shapes implying more memory than this are refused during shape inference.
    ResourceLimits limits;
};

/// Reads, validates and imports `path`; runs shape inference. Throws Error naming the file,
/// and the node where there is one, for: a missing, truncated or corrupted file; an op
/// megalide does not support (with the node's name); a shape that cannot be resolved
/// statically; tensors stored externally or in unsupported types.
Graph import_onnx(const std::string &path, const ImportOptions &options = {});

/// The model's runtime input names (graph inputs that are not initializers), in order.
std::vector<std::string> graph_input_names(const std::string &path);

/// The model's runtime inputs (not initializers) that feed an operand megalide needs as a
/// constant (each op's OpDef::constant_inputs in the registry: a Reshape's shape, Pad's pads
/// and value, Slice's starts/ends/axes/steps, (Un)Squeeze's axes, ReduceSum's axes, Clip's
/// bounds, Expand's shape, Resize's scales and sizes...). `megalide run` freezes these from the
/// values it is given; in graph input order.
std::vector<std::string> shape_operand_inputs(const std::string &path);

/// Reads a serialized onnx.TensorProto (the ONNX test data's input_N.pb / output_N.pb).
HostArray read_tensor_proto(const std::string &path);

}  // namespace megalide
