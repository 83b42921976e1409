// Rule fold_constants: see rewrite/rules.h.
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

bool fold_constants(Graph &graph) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const Node &n = graph.nodes[i];
        bool all_constant = !n.outputs.empty();
        for (const std::string &o : n.outputs) all_constant = all_constant && !o.empty() && graph.is_constant(o);
        if (all_constant) {
            // Shape inference already computed the outputs; the values stay as constants.
            graph.nodes.erase(graph.nodes.begin() + static_cast<long>(i));
            return true;
        }
        if (n.op == "Identity" && can_replace_uses(graph, n.outputs[0], n.inputs[0])) {
            const std::string from = n.outputs[0], to = n.inputs[0];
            graph.nodes.erase(graph.nodes.begin() + static_cast<long>(i));
            replace_uses(graph, from, to);
            return true;
        }
    }
    return false;
}

}  // namespace megalide::rules
