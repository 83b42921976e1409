// The op registry: one entry per op holds everything megalide knows about it (its attribute
// schema, shape inference, constant evaluation, lowering, quantized form and the targets
// that run it), written in one source file per op family under src/ops/. The importer, shape
// inference, lowering, post-training quantization, the conformance scope and
// `megalide info --ops` all read it; nothing else lists ops.
//
// Adding an op: add an OpDef to the family's file (src/ops/<family>.cpp). A new family is a
// new file whose register function joins the list in src/ops/registry.cpp.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"

namespace megalide {

class Lowerer;  // src/lower/lowerer.h

/// Op domains: ONNX's default domain, ONNX Runtime's contrib ops whose signatures megalide
/// reads, and megalide's own fused forms (made by rewrites, never imported).
inline const std::string kOnnxDomain = "";
inline const std::string kMicrosoftDomain = "com.microsoft";
inline const std::string kMegalideDomain = "com.megalide";

/// One attribute an op reads.
struct AttributeSpec {
    std::string name;
    Attribute::Kind kind;
    std::string meaning;  ///< with the default, as `megalide info --ops` prints it
};

/// How post-training quantization treats an op.
enum class QuantizedForm {
    None,          ///< stays float: its inputs are dequantized
    Accumulating,  ///< weights quantized per output channel, int32 bias: QLinearConv / QLinearMatMul
    Requantizing,  ///< 8-bit in and out with its own output scale: QLinearAdd, QLinearAveragePool...
    PassThrough,   ///< moves or selects 8-bit values, keeping the input's scale (MaxPool, Reshape, Relu...)
};

struct OpDef {
    std::string domain = kOnnxDomain;
    std::string name;
    std::string summary;                     ///< one line
    std::vector<AttributeSpec> attributes;   ///< the attributes it reads
    /// Output types and shapes from the inputs' (Graph's values), checking operands and
    /// canonicalizing attributes (e.g. auto_pad into pads). Throws Error naming the node.
    std::function<void(Graph &, Node &)> infer;
    /// The single output's value when it can be computed at compile time; absent: never.
    std::function<std::optional<HostArray>(const Graph &, const Node &)> evaluate;
    /// Lowers the node to Halide Funcs (lowerer.h). Absent: the op always folds to a constant.
    std::function<void(Lowerer &, const Node &)> lower;
    QuantizedForm quantized = QuantizedForm::None;
    /// Inputs that must be known at compile time (shape operands: a Reshape's shape, Pad's
    /// pads, Resize's scales...): `megalide run` freezes graph inputs feeding them from the
    /// values it is given (shape_operand_inputs in onnx_import.h).
    std::vector<size_t> constant_inputs;
    /// Read from ONNX files (the ONNX domain and the contrib ops above); false for fused forms,
    /// which only rewrites make.
    bool importable = true;
    /// Targets that cannot run it (by target name); empty: every target.
    std::vector<std::string> unsupported_targets;

    /// "Conv", "com.megalide.FusedConv".
    std::string qualified_name() const { return domain.empty() ? name : domain + "." + name; }
};

/// The op `name` of `domain` ("ai.onnx" is the default domain, ""), or nullptr.
const OpDef *find_op(const std::string &domain, const std::string &name);

/// Every op, sorted by domain then name.
const std::vector<const OpDef *> &all_ops();

}  // namespace megalide
