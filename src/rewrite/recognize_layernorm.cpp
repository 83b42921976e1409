// Rule recognize_layernorm: see rewrite/rules.h.
#include <algorithm>
#include <cmath>

#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

// The ReduceMean axes as a count of trailing axes, or -1 if they are not exactly trailing.
int trailing_axes(const Graph &g, const Node &reduce, size_t rank) {
    if (reduce.get_int("keepdims", 1) != 1) return -1;
    std::vector<int64_t> axes = reduce.get_ints("axes", {});
    if (axes.empty()) return -1;
    for (int64_t &a : axes) a = a < 0 ? a + static_cast<int64_t>(rank) : a;
    std::sort(axes.begin(), axes.end());
    for (size_t i = 0; i < axes.size(); ++i) {
        if (axes[i] != static_cast<int64_t>(rank - axes.size() + i)) return -1;
    }
    (void)g;
    return static_cast<int>(axes.size());
}

bool is_scalar_constant(const Graph &g, const std::string &v, double expected, double tolerance) {
    const std::vector<double> c = constant_values(g, v);
    return c.size() == 1 && std::abs(c[0] - expected) <= tolerance;
}

}  // namespace

bool recognize_layernorm(Graph &g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &mean = g.nodes[i];
        if (mean.op != "ReduceMean") continue;
        const std::string x = mean.input(0);
        const size_t rank = g.value(x).shape.size();
        const int k = trailing_axes(g, mean, rank);
        if (k < 0) continue;
        // d = x - mean, read by Pow(d, 2) and Div(d, sqrt(var + eps)).
        const int sub = sole_consumer(g, mean.outputs[0], "Sub");
        if (sub < 0 || g.nodes[sub].input(0) != x || g.nodes[sub].input(1) != mean.outputs[0]) continue;
        const std::string d = g.nodes[sub].outputs[0];
        const std::vector<size_t> d_users = g.consumers(d);
        if (d_users.size() != 2 || std::count(g.outputs.begin(), g.outputs.end(), d)) continue;
        int pow = -1, div = -1;
        for (size_t u : d_users) {
            if (g.nodes[u].op == "Pow" && g.nodes[u].input(0) == d && is_scalar_constant(g, g.nodes[u].input(1), 2.0, 0)) pow = static_cast<int>(u);
            if (g.nodes[u].op == "Div" && g.nodes[u].input(0) == d) div = static_cast<int>(u);
        }
        if (pow < 0 || div < 0) continue;
        const int var = sole_consumer(g, g.nodes[pow].outputs[0], "ReduceMean");
        if (var < 0 || trailing_axes(g, g.nodes[var], rank) != k) continue;
        const int add_eps = sole_consumer(g, g.nodes[var].outputs[0], "Add");
        if (add_eps < 0) continue;
        const std::vector<double> eps = constant_values(g, other_input(g.nodes[add_eps], g.nodes[var].outputs[0]));
        if (eps.size() != 1) continue;
        const int sqrt = sole_consumer(g, g.nodes[add_eps].outputs[0], "Sqrt");
        if (sqrt < 0 || g.nodes[div].input(1) != g.nodes[sqrt].outputs[0] || !single_use(g, g.nodes[sqrt].outputs[0])) continue;

        // Optional affine tail: Mul(gamma), then Add(beta), with constants over the normalized axes.
        const std::vector<int64_t> &shape = g.value(x).shape;
        const std::vector<int64_t> normalized(shape.end() - k, shape.end());
        int64_t count = 1;
        for (int64_t e : normalized) count *= e;
        auto affine = [&](const std::string &c) {
            const std::vector<double> v = constant_values(g, c);
            return static_cast<int64_t>(v.size()) == count ? v : std::vector<double>{};
        };
        std::string out = g.nodes[div].outputs[0];
        std::vector<double> gamma(static_cast<size_t>(count), 1.0), beta;
        std::vector<size_t> matched = {i, static_cast<size_t>(sub), static_cast<size_t>(pow), static_cast<size_t>(var),
                                       static_cast<size_t>(add_eps), static_cast<size_t>(sqrt), static_cast<size_t>(div)};
        if (int mul = sole_consumer(g, out, "Mul"); mul >= 0 && !affine(other_input(g.nodes[mul], out)).empty()) {
            gamma = affine(other_input(g.nodes[mul], out));
            out = g.nodes[mul].outputs[0];
            matched.push_back(static_cast<size_t>(mul));
            if (int add = sole_consumer(g, out, "Add"); add >= 0 && !affine(other_input(g.nodes[add], out)).empty()) {
                beta = affine(other_input(g.nodes[add], out));
                out = g.nodes[add].outputs[0];
                matched.push_back(static_cast<size_t>(add));
            }
        }
        const double epsilon = eps[0];
        const std::string stem = mean.name;
        const std::string gamma_name = g.unique_name(out + "_gamma"), beta_name = g.unique_name(out + "_beta");
        g.add_constant(gamma_name, HostArray::from_doubles(DType::Float32, normalized, gamma));
        std::vector<std::string> inputs = {x, gamma_name};
        if (!beta.empty()) {
            g.add_constant(beta_name, HostArray::from_doubles(DType::Float32, normalized, beta));
            inputs.push_back(beta_name);
        }
        replace_with_node(g, matched, out, "LayerNormalization", inputs,
                          {{"axis", Attribute::of(static_cast<int64_t>(rank) - k)}, {"epsilon", Attribute::of(epsilon)}},
                          stem + "_layernorm");
        return true;
    }
    return false;
}

}  // namespace megalide::rules
