// Normalizations: BatchNormalization (inference form), LayerNormalization, Softmax and
// LogSoftmax. Their row statistics are recorded by the layers (stage_role.h), so the
// schedulers compute them per row of the output.
#include "megalide/ops/registry.h"

#include "infer_util.h"
#include "../lower/lowerer.h"

namespace megalide::ops {

namespace {

using K = Attribute::Kind;

void lower_batchnorm(Lowerer &L, const Node &n) {
    const std::string name = L.stage(n);
    L.float_only(n);
    const int rank = static_cast<int>(L.info(n.input(0)).shape.size());
    Tensor x = L.as_layout(L.get(n.input(0)), channels_innermost_layout(rank)).t;
    auto param = [&](size_t i) { return L.operand_in_layout(n.input(i), plain_layout(1)); };
    L.define(n, layers::batchnorm(name, x, param(1), param(2), param(3), param(4), static_cast<float>(n.get_float("epsilon", 1e-5))),
           channels_innermost_layout(rank));
}

void lower_softmax(Lowerer &L, const Node &n) {
    const std::string &op = n.op;
    const std::string name = L.stage(n);
    L.float_only(n);
    Lowered x = L.get(n.input(0));
    const int rank = x.rank();
    int64_t axis = n.get_int("axis", L.g_.opset >= 13 ? -1 : 1);
    if (axis < 0) axis += rank;
    const bool log_form = op == "LogSoftmax";
    if (L.g_.opset >= 13 || axis == rank - 1) {
        Tensor t = log_form ? layers::log_softmax(name, x.t, x.dim_of_axis[static_cast<size_t>(axis)])
                            : layers::softmax(name, x.t, x.dim_of_axis[static_cast<size_t>(axis)]);
        L.define(n, t, x.dim_of_axis);
    } else {
        // Before opset 13: softmax over all axes from `axis` on, as one flattened axis.
        Tensor p = L.as_layout(x, plain_layout(rank)).t;
        Tensor flat = layers::flatten(name + "_flat", p, rank - static_cast<int>(axis));
        Tensor s = log_form ? layers::log_softmax(name + "_2d", flat, 0) : layers::softmax(name + "_2d", flat, 0);
        L.define(n, layers::reshape(name, s, p.shape), plain_layout(rank));
    }
}

void lower_layernorm(Lowerer &L, const Node &n) {
    const std::string name = L.stage(n);
    L.float_only(n);
    Lowered x = L.get(n.input(0));
    const int rank = x.rank();
    int64_t axis = n.get_int("axis", -1);
    if (axis < 0) axis += rank;
    const int norm_dims = rank - static_cast<int>(axis);
    Tensor xp = L.as_layout(x, plain_layout(rank)).t;
    Tensor gamma = L.as_layout(L.get(n.input(1)), plain_layout(norm_dims)).t;
    std::optional<Tensor> beta;
    if (!n.input(2).empty()) beta = L.as_layout(L.get(n.input(2)), plain_layout(norm_dims)).t;
    const float epsilon = static_cast<float>(n.get_float("epsilon", 1e-5));
    L.define(n, layers::layernorm(name, xp, gamma, beta, norm_dims, epsilon), plain_layout(rank));
    if (n.outputs.size() > 1) {
        // The optional Mean and InvStdDev outputs (keepdims), from their own reductions.
        std::vector<int> dims(static_cast<size_t>(norm_dims));
        for (int d = 0; d < norm_dims; ++d) dims[static_cast<size_t>(d)] = d;
        Tensor mean = layers::reduce_mean(L.func_name(n.outputs[1]), xp, dims, true);
        L.values_[n.outputs[1]] = {mean, plain_layout(rank)};
        if (n.outputs.size() > 2 && !n.outputs[2].empty()) {
            Tensor dev = layers::sub(name + "_dev", xp, mean);
            Tensor sq = layers::mul(name + "_dev2", dev, dev);
            Tensor var = layers::reduce_mean(name + "_var_out", sq, dims, true);
            Tensor inv = layers::map_elements("LayerNormalization", L.func_name(n.outputs[2]), var,
                                              [=](Expr v) { return 1.0f / Halide::sqrt(v + epsilon); });
            L.values_[n.outputs[2]] = {inv, plain_layout(rank)};
        }
    }
}

void infer_batchnorm(Graph &g, Node &n) {
    const Value &x = input(g, n, 0);
    if (x.shape.size() < 2) fail(n, "input must have rank >= 2");
    for (size_t i = 1; i <= 4; ++i) {
        if (input(g, n, i).shape != Dims{x.shape[1]}) fail(n, "scale, B, mean and var must have shape [" + std::to_string(x.shape[1]) + "]");
    }
    if (n.outputs.size() > 1) fail(n, "training-mode outputs are not supported");
    same_as_input(g, n);
}

void infer_layernorm(Graph &g, Node &n) {
    const Value &x = input(g, n, 0);
    const int64_t axis = normalize_axis(n, n.get_int("axis", -1), static_cast<int64_t>(x.shape.size()));
    const Dims normalized(x.shape.begin() + axis, x.shape.end());
    if (input(g, n, 1).shape != normalized) fail(n, "Scale must have shape " + dims_str(normalized) + ", got " + dims_str(input(g, n, 1).shape));
    if (has_input(n, 2) && input(g, n, 2).shape != normalized) fail(n, "B must have shape " + dims_str(normalized));
    same_as_input(g, n);
    Dims stats(x.shape.begin(), x.shape.begin() + axis);
    stats.resize(x.shape.size(), 1);
    set_output(g, n, 1, x.dtype, stats);  // Mean
    set_output(g, n, 2, x.dtype, stats);  // InvStdDev
}

void infer_softmax(Graph &g, Node &n) {
    same_as_input(g, n);
    normalize_axis(n, n.get_int("axis", g.opset >= 13 ? -1 : 1), static_cast<int64_t>(input(g, n, 0).shape.size()));
}

}  // namespace

void register_norm_ops(std::vector<OpDef> &ops) {
    OpDef bn;
    bn.name = "BatchNormalization";
    bn.summary = "inference form: (x - mean) / sqrt(var + epsilon) * scale + B per channel";
    bn.attributes = {{"epsilon", K::Float, "default 1e-5"}};
    bn.infer = infer_batchnorm;
    bn.lower = lower_batchnorm;
    ops.push_back(bn);

    OpDef ln;
    ln.name = "LayerNormalization";
    ln.summary = "normalizes the axes from `axis` on (shifted two-pass statistics); optional Mean and InvStdDev";
    ln.attributes = {{"axis", K::Int, "first normalized axis (default -1)"}, {"epsilon", K::Float, "default 1e-5"}};
    ln.infer = infer_layernorm;
    ln.lower = lower_layernorm;
    ops.push_back(ln);

    OpDef softmax;
    softmax.name = "Softmax";
    softmax.summary = "exp(x - max) / sum along `axis` (before opset 13: the axes from `axis` on, flattened)";
    softmax.attributes = {{"axis", K::Int, "default -1 (1 before opset 13)"}};
    softmax.infer = infer_softmax;
    softmax.lower = lower_softmax;
    ops.push_back(softmax);

    OpDef log_softmax = softmax;
    log_softmax.name = "LogSoftmax";
    log_softmax.summary = "x - max - log(sum(exp(x - max))) along `axis`";
    ops.push_back(log_softmax);
}

}  // namespace megalide::ops
