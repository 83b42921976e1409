// Rule fold_batchnorm: see rewrite/rules.h.
#include <cmath>

#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

struct BatchNormScale {
    std::vector<double> scale, shift;  // y = x * scale + shift, per channel
};

std::optional<BatchNormScale> constant_batchnorm(const Graph &g, const Node &bn) {
    const std::vector<double> gamma = constant_values(g, bn.input(1)), beta = constant_values(g, bn.input(2)),
                              mean = constant_values(g, bn.input(3)), var = constant_values(g, bn.input(4));
    if (gamma.empty() || beta.empty() || mean.empty() || var.empty()) return std::nullopt;
    const double eps = bn.get_float("epsilon", 1e-5);
    BatchNormScale s;
    for (size_t c = 0; c < gamma.size(); ++c) {
        s.scale.push_back(gamma[c] / std::sqrt(var[c] + eps));
        s.shift.push_back(beta[c] - mean[c] * s.scale.back());
    }
    return s;
}

// Replaces `bn`'s output by `producer_out` and removes `bn`.
void bypass(Graph &g, size_t bn_index, const std::string &producer_out) {
    const std::string out = g.nodes[bn_index].outputs[0];
    g.nodes.erase(g.nodes.begin() + static_cast<long>(bn_index));
    replace_uses(g, out, producer_out);
}

}  // namespace

bool fold_batchnorm(Graph &g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &bn = g.nodes[i];
        if (bn.op != "BatchNormalization" || bn.outputs.size() != 1) continue;
        const std::string x = bn.input(0);  // a copy: bn is erased below
        const int p = producer_index(g, x);
        if (p < 0 || !single_use(g, x) || !can_replace_uses(g, bn.outputs[0], x)) continue;
        Node &prod = g.nodes[static_cast<size_t>(p)];
        const std::string op = unfused_op(prod);
        if ((op != "Conv" && op != "Gemm") || prod.has("activation")) continue;
        const std::optional<BatchNormScale> s = constant_batchnorm(g, bn);
        if (!s || !g.is_constant(prod.input(1)) || (!prod.input(2).empty() && !g.is_constant(prod.input(2)))) continue;
        const HostArray &w = *g.value(prod.input(1)).constant;
        if (w.dtype != DType::Float32) continue;
        const std::vector<double> wv = w.to_doubles();
        const int64_t channels = static_cast<int64_t>(s->scale.size());
        std::vector<double> bias = constant_values(g, prod.input(2));
        std::vector<double> new_w(wv.size());

        if (op == "Conv") {
            // W is (M, C/g, KH, KW): output channel outermost.
            if (w.shape[0] != channels) continue;
            const int64_t per = static_cast<int64_t>(wv.size()) / channels;
            for (int64_t c = 0; c < channels; ++c)
                for (int64_t k = 0; k < per; ++k) new_w[c * per + k] = wv[c * per + k] * s->scale[c];
        } else {
            // Gemm: the feature axis is N; B is (K, N), or (N, K) with transB.
            if (prod.get_float("alpha", 1.0) != 1.0 || (!prod.input(2).empty() && bias.size() != static_cast<size_t>(channels))) continue;
            const bool tb = prod.get_int("transB", 0) != 0;
            const int64_t rows = w.shape[0], cols = w.shape[1];
            if ((tb ? rows : cols) != channels) continue;
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t c = 0; c < cols; ++c) new_w[r * cols + c] = wv[r * cols + c] * s->scale[tb ? r : c];
            const double beta = prod.get_float("beta", 1.0);
            for (double &b : bias) b *= beta;
            prod.attrs["beta"] = Attribute::of(1.0);
        }
        if (bias.empty()) bias.assign(static_cast<size_t>(channels), 0.0);
        for (int64_t c = 0; c < channels; ++c) bias[c] = bias[c] * s->scale[c] + s->shift[c];

        const std::string w_name = g.unique_name(prod.input(1) + "_bnfolded");
        const std::string b_name = g.unique_name(bn.outputs[0] + "_bias");
        g.add_constant(w_name, HostArray::from_doubles(DType::Float32, w.shape, new_w));
        g.add_constant(b_name, HostArray::from_doubles(DType::Float32, {channels}, bias));
        Node &target = g.nodes[static_cast<size_t>(p)];
        target.inputs.resize(3);
        target.inputs[1] = w_name;
        target.inputs[2] = b_name;
        bypass(g, i, x);
        return true;
    }
    return false;
}

}  // namespace megalide::rules
