// Reductions over listed axes: ReduceMean, ReduceSum, ReduceMax.
#include "megalide/ops/registry.h"

#include <algorithm>

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

Dims reduce_axes(const Graph &g, const Node &n, int64_t rank) {
    Dims axes;
    if (n.op == "ReduceSum" && g.opset >= 13) {
        if (has_input(n, 1)) axes = constant_ints(g, n, 1, "axes");
    } else {
        axes = n.get_ints("axes", {});
    }
    for (int64_t &a : axes) a = normalize_axis(n, a, rank);
    std::sort(axes.begin(), axes.end());
    if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail(n, "axes repeat");
    return axes;
}

void infer_reduce(Graph &g, Node &n) {
    const Value &x = input(g, n, 0);
    Dims axes = reduce_axes(g, n, static_cast<int64_t>(x.shape.size()));
    if (axes.empty() && n.get_int("noop_with_empty_axes", 0)) {
        same_as_input(g, n);
        return;
    }
    const bool keep = n.get_int("keepdims", 1) != 0;
    Dims out;
    for (size_t d = 0; d < x.shape.size(); ++d) {
        const bool reduced = axes.empty() || std::count(axes.begin(), axes.end(), static_cast<int64_t>(d));
        if (!reduced) out.push_back(x.shape[d]);
        else if (keep) out.push_back(1);
    }
    set_output(g, n, 0, x.dtype, out);
}

void lower_reduce(Lowerer &L, const Node &n) {
    const std::string &op = n.op;
    const std::string name = L.stage(n);
    const Value &out = L.info(n.outputs.at(0));
    const int out_rank = static_cast<int>(out.shape.size());
    Lowered x = L.get(n.input(0));
    const int rank = x.rank();
    if (out.shape == L.info(n.input(0)).shape && n.get_int("noop_with_empty_axes", 0)) {
        L.define(n, x.t, x.dim_of_axis);
        return;
    }
    Dims axes = op == "ReduceSum" && L.g_.opset >= 13 ? (n.input(1).empty() ? Dims{} : L.info(n.input(1)).constant->to_int64s())
                                                    : n.get_ints("axes", {});
    std::vector<int> dims;
    for (int64_t a : axes) dims.push_back(rank - 1 - static_cast<int>(a < 0 ? a + rank : a));
    const bool keep = n.get_int("keepdims", 1) != 0;
    Tensor xp = L.as_layout(x, plain_layout(rank)).t;
    if (!xp.type.is_float()) {
        if (op != "ReduceSum" && op != "ReduceMax") L.fail(n, "integer input is supported for ReduceSum and ReduceMax only");
    }
    Tensor t = op == "ReduceMean" ? layers::reduce_mean(name, xp, dims, keep)
               : op == "ReduceSum" ? layers::reduce_sum(name, xp, dims, keep)
                                   : layers::reduce_max(name, xp, dims, keep);
    if (!xp.type.is_float()) L.fail(n, "integer reductions are not supported");
    L.define(n, t, plain_layout(out_rank));
}

}  // namespace

void register_reduce_ops(std::vector<OpDef> &ops) {
    const std::vector<AttributeSpec> attributes = {
        {"axes", K::Ints, "reduced axes (ReduceSum from opset 13: input 1, a constant); default all"},
        {"keepdims", K::Int, "keep reduced axes with extent 1 (default 1)"},
        {"noop_with_empty_axes", K::Int, "1: no axes means no reduction (default 0)"},
    };
    for (const char *name : {"ReduceMax", "ReduceMean", "ReduceSum"}) {
        OpDef op;
        op.name = name;
        op.summary = std::string(name) == "ReduceMax" ? "maximum over axes" : std::string(name) == "ReduceMean" ? "mean over axes, float" : "sum over axes";
        op.attributes = attributes;
        op.infer = infer_reduce;
        op.lower = lower_reduce;
        if (std::string(name) == "ReduceSum") op.constant_inputs = {1};  // axes, from opset 13
        ops.push_back(op);
    }
}

}  // namespace megalide::ops
