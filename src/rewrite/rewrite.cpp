#include "megalide/rewrite/rewrite.h"

#include <algorithm>

#include "megalide/error.h"
#include "megalide/rewrite/rules.h"

namespace megalide {

std::vector<RewriteRule> default_rules() {
    return {
        {"fold_constants", rules::fold_constants},
        {"cancel_transposes", rules::cancel_transposes},
        {"fold_transpose_into_matmul", rules::fold_transpose_into_matmul},
        {"recognize_layernorm", rules::recognize_layernorm},
        {"recognize_gelu", rules::recognize_gelu},
        {"fold_batchnorm", rules::fold_batchnorm},
        {"fuse_bias_activation", rules::fuse_bias_activation},
        {"fold_qdq", rules::fold_qdq},
        {"quantized_relu", rules::quantized_relu},
        {"fold_requantize", rules::fold_requantize},
    };
}

std::map<std::string, int> rewrite_to_fixpoint(Graph &graph, const std::vector<RewriteRule> &rules,
                                               int max_rounds) {
    std::map<std::string, int> fired;
    for (int round = 0;; ++round) {
        if (round == max_rounds) {
            throw Error("rewrites did not reach a fixpoint after " + std::to_string(max_rounds) + " rounds");
        }
        bool changed = false;
        for (const RewriteRule &rule : rules) {
            while (rule.apply(graph)) {
                ++fired[rule.name];
                changed = true;
                graph.sort();
                graph.infer_shapes();
            }
        }
        if (!changed) break;
    }
    graph.remove_dead();
    return fired;
}

bool can_replace_uses(const Graph &graph, const std::string &from, const std::string &to) {
    if (!std::count(graph.outputs.begin(), graph.outputs.end(), from)) return true;
    // A graph output keeps its name: only a node-produced, not-yet-output value can take it.
    return producer_index(graph, to) >= 0 && !std::count(graph.outputs.begin(), graph.outputs.end(), to);
}

void replace_uses(Graph &graph, const std::string &from, const std::string &to) {
    if (!can_replace_uses(graph, from, to)) {
        throw Error("cannot replace graph output '" + from + "' by '" + to + "'");
    }
    if (std::count(graph.outputs.begin(), graph.outputs.end(), from)) {
        graph.redirect_output(from, to);
        return;
    }
    for (Node &n : graph.nodes) {
        for (std::string &in : n.inputs) if (in == from) in = to;
    }
}

int producer_index(const Graph &graph, const std::string &value) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const auto &outs = graph.nodes[i].outputs;
        if (std::find(outs.begin(), outs.end(), value) != outs.end()) return static_cast<int>(i);
    }
    return -1;
}

bool single_use(const Graph &graph, const std::string &value) {
    return graph.use_count(value) == 1 && !std::count(graph.outputs.begin(), graph.outputs.end(), value);
}

int sole_consumer(const Graph &graph, const std::string &value, const std::string &op) {
    const std::vector<size_t> users = graph.consumers(value);
    if (users.size() != 1 || std::count(graph.outputs.begin(), graph.outputs.end(), value)) return -1;
    return graph.nodes[users[0]].op == op ? static_cast<int>(users[0]) : -1;
}

std::string unfused_op(const Node &n) {
    if (n.domain == "com.megalide" && n.op.rfind("Fused", 0) == 0) return n.op.substr(5);
    return n.domain.empty() ? n.op : n.qualified_op();
}

void make_fused(Node &n) {
    if (!n.domain.empty()) return;  // already fused (or not an ONNX op)
    n.domain = "com.megalide";
    n.op = "Fused" + n.op;
}

const std::string &other_input(const Node &n, const std::string &value) {
    return n.input(0) == value ? n.input(1) : n.input(0);
}

void replace_with_node(Graph &graph, std::vector<size_t> matched, const std::string &out,
                       const std::string &op, std::vector<std::string> inputs,
                       std::map<std::string, Attribute> attrs, const std::string &name) {
    std::sort(matched.rbegin(), matched.rend());
    for (size_t m : matched) graph.nodes.erase(graph.nodes.begin() + static_cast<long>(m));
    const std::string fused = graph.unique_name(out + "_fused");
    graph.add_node(op, std::move(inputs), {fused}, std::move(attrs), name);
    graph.value(fused) = graph.value(out);
    graph.value(fused).name = fused;
    // The new node takes over `out`'s name, so dumps and graph outputs keep reading it.
    if (std::count(graph.outputs.begin(), graph.outputs.end(), out)) {
        graph.redirect_output(out, fused);
    } else {
        replace_uses(graph, out, fused);
    }
}

std::vector<double> constant_values(const Graph &graph, const std::string &value) {
    if (value.empty() || !graph.is_constant(value)) return {};
    return graph.value(value).constant->to_doubles();
}

}  // namespace megalide
