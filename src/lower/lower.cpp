#include "megalide/lower/lower.h"

#include "lowerer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "megalide/error.h"
#include "megalide/layers.h"
#include "megalide/layers/quantize.h"
#include "megalide/ops/registry.h"
#include "megalide/stage_role.h"

namespace megalide {

Halide::Type halide_type(DType dtype) {
    switch (dtype) {
    case DType::Float32: return Halide::Float(32);
    case DType::Float64: return Halide::Float(64);
    case DType::Int8: return Halide::Int(8);
    case DType::UInt8: return Halide::UInt(8);
    case DType::Int32: return Halide::Int(32);
    case DType::Int64: return Halide::Int(64);
    case DType::Bool: return Halide::UInt(8);
    }
    return Halide::Float(32);
}

void Lowerer::lower_node(const Node &n) {
    const OpDef *op = find_op(n.domain, n.op);
    if (!op || !op->lower) fail(n, "no lowering for op '" + n.qualified_op() + "'");
    op->lower(*this, n);
}

layers::Requantization default_requantization(const TargetSpec &target) {
    return target.float_vectors ? layers::Requantization::Onnx : layers::Requantization::FixedPoint;
}

LoweredGraph lower(const Graph &graph, const LowerOptions &options) { return Lowerer(graph, options).run(); }

const StageFacts &LoweredGraph::facts_of(const std::string &func_name) const {
    static const StageFacts none;
    auto it = facts.find(func_name);
    return it == facts.end() ? none : it->second;
}

const StageFacts &LoweredGraph::facts_of(const Halide::Func &f) const { return facts_of(f.name()); }

}  // namespace megalide
