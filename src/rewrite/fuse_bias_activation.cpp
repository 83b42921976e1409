// Rule fuse_bias_activation: see rewrite/rules.h.
#include <algorithm>
#include <cmath>

#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

bool fusable_producer(const Node &n) {
    const std::string op = unfused_op(n);
    return (op == "Conv" || op == "Gemm" || op == "MatMul") && !n.has("activation");
}

// Per-channel values of constant `c` if it broadcasts along exactly the channel axis of an
// output of `rank` dimensions (`axis` 1 for Conv's NCHW, the last axis for Gemm/MatMul).
std::vector<double> channel_vector(const Graph &g, const std::string &c, size_t rank, size_t axis, int64_t channels) {
    if (!g.is_constant(c)) return {};
    const std::vector<int64_t> &shape = g.value(c).shape;
    if (shape.size() > rank) return {};
    const size_t offset = rank - shape.size();
    for (size_t d = 0; d < shape.size(); ++d) {
        const bool is_channel = d + offset == axis;
        if (is_channel ? shape[d] != channels : shape[d] != 1) return {};
    }
    if (axis < offset) return {};  // the constant does not reach the channel axis
    return g.value(c).constant->to_doubles();
}

// Folds Add(producer, constant) into the producer's bias; returns true if it did.
bool fold_add(Graph &g, size_t add_index) {
    const Node &add = g.nodes[add_index];
    for (int side = 0; side < 2; ++side) {
        const std::string y = add.input(static_cast<size_t>(side)), c = add.input(static_cast<size_t>(1 - side));
        const int p = producer_index(g, y);
        if (p < 0 || !single_use(g, y) || !can_replace_uses(g, add.outputs[0], y)) continue;
        Node &prod = g.nodes[static_cast<size_t>(p)];
        if (!fusable_producer(prod)) continue;
        const std::vector<int64_t> &shape = g.value(y).shape;
        const size_t axis = unfused_op(prod) == "Conv" ? 1 : shape.size() - 1;
        const int64_t channels = shape[axis];
        std::vector<double> add_values = channel_vector(g, c, shape.size(), axis, channels);
        if (add_values.empty() || g.value(y).shape != g.value(add.outputs[0]).shape) continue;
        if (add_values.size() == 1) add_values.assign(static_cast<size_t>(channels), add_values[0]);
        std::vector<double> bias(static_cast<size_t>(channels), 0.0);
        if (unfused_op(prod) == "Gemm" && !prod.input(2).empty()) {
            const std::vector<double> old = channel_vector(g, prod.input(2), 2, 1, channels);
            if (old.empty()) continue;
            for (int64_t k = 0; k < channels; ++k) bias[k] = prod.get_float("beta", 1.0) * old[old.size() == 1 ? 0 : k];
            prod.attrs["beta"] = Attribute::of(1.0);
        } else if (!prod.input(2).empty()) {
            const std::vector<double> old = constant_values(g, prod.input(2));
            if (old.size() != static_cast<size_t>(channels)) continue;
            bias = old;
        }
        for (int64_t k = 0; k < channels; ++k) bias[k] += add_values[k];
        const std::string b_name = g.unique_name(add.outputs[0] + "_bias");
        const std::string out = add.outputs[0];
        g.add_constant(b_name, HostArray::from_doubles(DType::Float32, {channels}, bias));
        if (unfused_op(prod) == "MatMul") make_fused(prod);  // ONNX's MatMul has no bias; Conv's B and Gemm's C are ONNX's
        prod.inputs.resize(3);
        prod.inputs[2] = b_name;
        g.nodes.erase(g.nodes.begin() + static_cast<long>(add_index));
        replace_uses(g, out, y);
        return true;
    }
    return false;
}

// Folds Relu / Clip(constant bounds) into the producer's fused activation.
bool fold_activation(Graph &g, size_t act_index) {
    const Node &act = g.nodes[act_index];
    const std::string y = act.input(0);  // a copy: act is erased below
    const int p = producer_index(g, y);
    if (p < 0 || !single_use(g, y) || !can_replace_uses(g, act.outputs[0], y)) return false;
    Node &prod = g.nodes[static_cast<size_t>(p)];
    if (!fusable_producer(prod) || g.value(y).dtype != DType::Float32) return false;
    make_fused(prod);
    if (act.op == "Relu") {
        prod.attrs["activation"] = Attribute::of(std::string("Relu"));
    } else {
        double lo = -INFINITY, hi = INFINITY;
        if (g.opset < 11) {
            lo = act.get_float("min", lo), hi = act.get_float("max", hi);
        } else {
            if ((!act.input(1).empty() && !g.is_constant(act.input(1))) || (!act.input(2).empty() && !g.is_constant(act.input(2)))) return false;
            if (!act.input(1).empty()) lo = constant_values(g, act.input(1)).at(0);
            if (!act.input(2).empty()) hi = constant_values(g, act.input(2)).at(0);
        }
        prod.attrs["activation"] = Attribute::of(std::string("Clip"));
        prod.attrs["activation_min"] = Attribute::of(lo);
        prod.attrs["activation_max"] = Attribute::of(hi);
    }
    const std::string out = act.outputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<long>(act_index));
    replace_uses(g, out, y);
    return true;
}

}  // namespace

bool fuse_bias_activation(Graph &g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const std::string &op = g.nodes[i].op;
        if (op == "Add" && fold_add(g, i)) return true;
        if ((op == "Relu" || op == "Clip") && fold_activation(g, i)) return true;
    }
    return false;
}

}  // namespace megalide::rules
