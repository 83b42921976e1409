// Rule quantized_relu: see rewrite/rules.h.
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

bool quantized_relu(Graph &g) {
    for (size_t ri = 0; ri < g.nodes.size(); ++ri) {
        const Node &relu = g.nodes[ri];
        if (relu.op != "Relu" || !relu.domain.empty()) continue;
        const int p = producer_index(g, relu.input(0));
        if (p < 0) continue;
        const Node &dq = g.nodes[static_cast<size_t>(p)];
        if (dq.op != "DequantizeLinear") continue;
        const DType in = g.value(dq.input(0)).dtype;
        if (in != DType::UInt8 && in != DType::Int8) continue;
        // Per-tensor, constant, positive scale: dequantization is then increasing.
        const std::vector<double> scale = constant_values(g, dq.input(1));
        if (scale.size() != 1 || !(scale[0] > 0)) continue;
        if (!dq.input(2).empty() && (!g.is_constant(dq.input(2)) || constant_values(g, dq.input(2)).size() != 1)) continue;
        const double zero_point = dq.input(2).empty() ? 0.0 : constant_values(g, dq.input(2)).at(0);
        // Relu(DQ(x)) = DQ(Clip(x, zero_point)): DQ maps the zero point to 0 and keeps order.
        const std::string bound = g.unique_name(relu.outputs[0] + "_zero_point");
        g.add_constant(bound, HostArray::from_doubles(in, {}, {zero_point}));
        const std::string clipped = g.unique_name(relu.outputs[0] + "_quantized");
        const std::string y = relu.outputs[0], name = relu.name;
        const std::vector<std::string> dq_inputs = {clipped, dq.input(1), dq.input(2)};
        g.add_node("Clip", {dq.input(0), bound}, {clipped}, {}, name + "_quantized");
        // (The DequantizeLinear of x stays while others read it; remove_dead drops it otherwise.)
        replace_with_node(g, {ri}, y, "DequantizeLinear", dq_inputs, {}, name);
        return true;
    }
    return false;
}

}  // namespace megalide::rules
