// Rule fold_requantize: see rewrite/rules.h.
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

bool fold_requantize(Graph &g) {
    for (size_t qi = 0; qi < g.nodes.size(); ++qi) {
        const Node &q = g.nodes[qi];
        if (q.op != "QuantizeLinear") continue;
        const int p = producer_index(g, q.input(0));
        if (p < 0) continue;
        const Node &dq = g.nodes[static_cast<size_t>(p)];
        if (dq.op != "DequantizeLinear") continue;
        const DType in = g.value(dq.input(0)).dtype;
        if (in != DType::UInt8 && in != DType::Int8) continue;
        // Per-tensor parameters only (a per-axis pair would need its axis matched).
        const std::vector<double> s1 = constant_values(g, dq.input(1)), s2 = constant_values(g, q.input(1));
        if (s1.size() != 1 || s2.size() != 1) continue;
        if ((!dq.input(2).empty() && !g.is_constant(dq.input(2))) || (!q.input(2).empty() && !g.is_constant(q.input(2)))) continue;
        const std::vector<double> z1 = dq.input(2).empty() ? std::vector<double>{0.0} : constant_values(g, dq.input(2));
        const std::vector<double> z2 = q.input(2).empty() ? std::vector<double>{0.0} : constant_values(g, q.input(2));
        const DType out = q.input(2).empty() ? DType::UInt8 : g.value(q.input(2)).dtype;
        const std::string x = dq.input(0), y = q.outputs[0];
        if (s1 == s2 && z1 == z2 && in == out) {
            // Q(DQ(x)) with the same parameters is x.
            if (!can_replace_uses(g, y, x)) continue;
            g.nodes.erase(g.nodes.begin() + static_cast<long>(qi));
            replace_uses(g, y, x);
            return true;
        }
        std::vector<std::string> inputs = {x, dq.input(1), dq.input(2), q.input(1), q.input(2)};
        if (inputs[2].empty()) {
            inputs[2] = g.unique_name("zero_point");
            g.add_constant(inputs[2], HostArray::from_doubles(in, {}, {0.0}));
        }
        if (inputs[4].empty()) {
            inputs[4] = g.unique_name("zero_point");
            g.add_constant(inputs[4], HostArray::from_doubles(DType::UInt8, {}, {0.0}));
        }
        // The DequantizeLinear stays while others read it; remove_dead drops it otherwise.
        replace_with_node(g, {qi}, y, "com.megalide.Requantize", inputs, {}, std::string(q.name));
        return true;
    }
    return false;
}

}  // namespace megalide::rules
