// Rule recognize_gelu: see rewrite/rules.h.
#include <algorithm>
#include <cmath>

#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

bool scalar_is(const Graph &g, const std::string &v, double expected) {
    const std::vector<double> c = constant_values(g, v);
    return c.size() == 1 && std::abs(c[0] - expected) <= 1e-4 * std::abs(expected);
}

}  // namespace

bool recognize_gelu(Graph &g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].op != "Erf") continue;
        // q = x / sqrt(2)  (or x * (1 / sqrt(2)))
        const int q = producer_index(g, g.nodes[i].input(0));
        if (q < 0 || !single_use(g, g.nodes[q].outputs[0])) continue;
        const Node &scale = g.nodes[q];
        std::string x;
        if (scale.op == "Div" && scalar_is(g, scale.input(1), std::sqrt(2.0))) x = scale.input(0);
        if (scale.op == "Mul" && scalar_is(g, other_input(scale, scale.input(0)), 1.0 / std::sqrt(2.0))) x = scale.input(0);
        if (scale.op == "Mul" && scalar_is(g, scale.input(0), 1.0 / std::sqrt(2.0))) x = scale.input(1);
        if (x.empty()) continue;
        // a = erf(q) + 1
        const int add = sole_consumer(g, g.nodes[i].outputs[0], "Add");
        if (add < 0 || !scalar_is(g, other_input(g.nodes[add], g.nodes[i].outputs[0]), 1.0)) continue;
        const std::string a = g.nodes[add].outputs[0];
        const int m1 = sole_consumer(g, a, "Mul");
        if (m1 < 0) continue;
        const std::string partner = other_input(g.nodes[m1], a);
        std::vector<size_t> matched = {static_cast<size_t>(q), i, static_cast<size_t>(add), static_cast<size_t>(m1)};
        std::string out;
        if (partner == x) {
            // (x * a) * 0.5
            const int m2 = sole_consumer(g, g.nodes[m1].outputs[0], "Mul");
            if (m2 < 0 || !scalar_is(g, other_input(g.nodes[m2], g.nodes[m1].outputs[0]), 0.5)) continue;
            out = g.nodes[m2].outputs[0];
            matched.push_back(static_cast<size_t>(m2));
        } else {
            // (x * 0.5) * a
            const int h = producer_index(g, partner);
            if (h < 0 || g.nodes[h].op != "Mul" || !single_use(g, partner)) continue;
            const Node &half = g.nodes[h];
            if (!((half.input(0) == x && scalar_is(g, half.input(1), 0.5)) || (half.input(1) == x && scalar_is(g, half.input(0), 0.5)))) continue;
            out = g.nodes[m1].outputs[0];
            matched.push_back(static_cast<size_t>(h));
        }
        const std::string name = g.nodes[i].name + "_gelu";
        replace_with_node(g, matched, out, "com.megalide.Gelu", {x}, {{"approximate", Attribute::of(std::string("none"))}}, name);
        return true;
    }
    return false;
}

}  // namespace megalide::rules
