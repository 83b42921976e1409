// Rule cancel_transposes: see rewrite/rules.h.
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::rules {

namespace {

std::vector<int64_t> perm_of(const Graph &g, const Node &t) {
    std::vector<int64_t> perm = t.get_ints("perm", {});
    if (perm.empty()) {
        for (size_t i = g.value(t.input(0)).shape.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    }
    return perm;
}

}  // namespace

bool cancel_transposes(Graph &g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].op != "Transpose") continue;
        const int p = producer_index(g, g.nodes[i].input(0));
        if (p < 0 || g.nodes[static_cast<size_t>(p)].op != "Transpose") continue;
        const std::vector<int64_t> inner = perm_of(g, g.nodes[static_cast<size_t>(p)]), outer = perm_of(g, g.nodes[i]);
        // out axis j = mid axis outer[j] = in axis inner[outer[j]].
        std::vector<int64_t> composed(outer.size());
        bool identity = true;
        for (size_t j = 0; j < outer.size(); ++j) {
            composed[j] = inner[static_cast<size_t>(outer[j])];
            identity = identity && composed[j] == static_cast<int64_t>(j);
        }
        const std::string source = g.nodes[static_cast<size_t>(p)].input(0), out = g.nodes[i].outputs[0];
        if (identity) {
            if (!can_replace_uses(g, out, source)) continue;
            g.nodes.erase(g.nodes.begin() + static_cast<long>(i));
            replace_uses(g, out, source);
        } else {
            g.nodes[i].inputs[0] = source;
            g.nodes[i].attrs["perm"] = Attribute::of(composed);
        }
        return true;
    }
    return false;
}

}  // namespace megalide::rules
