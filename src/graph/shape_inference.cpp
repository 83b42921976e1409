#include "megalide/graph/shape_inference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <limits>
#include <numeric>
#include <sstream>

#include "megalide/error.h"
#include "megalide/ops/registry.h"

namespace megalide {

int64_t check_tensor_size(const ResourceLimits &limits, const std::string &what, DType dtype, const std::vector<int64_t> &shape) {
    const std::string shape_text = describe(dtype, shape);
    // Multiply in double: the exact product of absurd extents would overflow int64.
    double elements = 1;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] < 0) throw Error(what + " has a negative extent in dimension " + std::to_string(d) + " (" + shape_text + ")");
        if (shape[d] > ResourceLimits::kMaxExtent) {
            throw Error(what + ": dimension " + std::to_string(d) + " is " + std::to_string(shape[d]) +
                        ", over the largest extent megalide compiles (2^31 - 1: Halide addresses buffers with 32-bit offsets)");
        }
        elements *= static_cast<double>(shape[d]);
    }
    const double bytes = elements * static_cast<double>(item_size(dtype));
    if (elements > ResourceLimits::kMaxExtent || bytes > ResourceLimits::kMaxExtent) {
        std::ostringstream count;
        count << std::setprecision(elements < 1e15 ? 15 : 3) << elements;
        throw Error(what + " would hold " + count.str() + " elements (" +
                    ResourceLimits::format_size(bytes) + ", " + shape_text + "); megalide compiles tensors under 2^31 elements and 2 GiB");
    }
    if (bytes > static_cast<double>(limits.max_memory)) {
        throw Error(what + " would take " + ResourceLimits::format_size(bytes) + " (" + shape_text + "), over the memory limit of " +
                    ResourceLimits::format_size(static_cast<double>(limits.max_memory)) + " (raise it with --max-memory)");
    }
    return static_cast<int64_t>(bytes);
}

const std::set<std::string> &supported_ops() {
    static const std::set<std::string> names = [] {
        std::set<std::string> s;
        for (const OpDef *op : all_ops()) {
            if (op->domain == kOnnxDomain && op->importable) s.insert(op->name);
        }
        return s;
    }();
    return names;
}

namespace {

using Dims = std::vector<int64_t>;

std::string dims_str(const Dims &d) { return describe(DType::Float32, d).substr(7); }

const OpDef &op_of(const Node &n) {
    const OpDef *op = find_op(n.domain, n.op);
    if (!op) throw Error(n.label() + ": unsupported op type '" + n.qualified_op() + "'");
    return *op;
}

}  // namespace

std::vector<int64_t> broadcast_shape(const std::string &label, const Dims &a, const Dims &b) {
    const size_t r = std::max(a.size(), b.size());
    Dims out(r);
    for (size_t i = 0; i < r; ++i) {
        const int64_t ea = i < r - a.size() ? 1 : a[i - (r - a.size())];
        const int64_t eb = i < r - b.size() ? 1 : b[i - (r - b.size())];
        if (ea != eb && ea != 1 && eb != 1) {
            throw Error(label + ": shapes " + dims_str(a) + " and " + dims_str(b) + " do not broadcast");
        }
        out[i] = std::max(ea, eb);
    }
    return out;
}

std::optional<HostArray> evaluate_constant(const Graph &g, const Node &n) {
    const OpDef *op = find_op(n.domain, n.op);
    if (!op || !op->evaluate) return std::nullopt;
    return op->evaluate(g, n);
}

void infer_node(Graph &g, Node &n) {
    const OpDef &op = op_of(n);
    if (n.outputs.empty()) throw Error(n.label() + ": has no outputs");
    if (!op.infer) throw InternalError(n.label() + ": no shape inference rule");
    op.infer(g, n);
    Value &out = g.value(n.outputs[0]);
    if (op.evaluate && !out.constant) {
        if (std::optional<HostArray> folded = op.evaluate(g, n)) out.constant = std::make_shared<const HostArray>(std::move(*folded));
    }
}

}  // namespace megalide
