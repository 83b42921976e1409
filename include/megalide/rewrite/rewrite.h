// The rewrite engine: combiner-style rules run over a Graph to a fixpoint.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "megalide/graph/graph.h"

namespace megalide {

/// A rule rewrites the graph at one or more places and reports whether it changed anything.
/// Rules keep the graph sorted and its shapes inferred.
struct RewriteRule {
    std::string name;
    std::function<bool(Graph &)> apply;
};

/// The default rules, in the order they must run (see rewrite/rules.h for each contract).
std::vector<RewriteRule> default_rules();

/// Runs `rules` in order, repeatedly, until none changes the graph (at most `max_rounds`
/// rounds; more throws Error, which would mean two rules undo each other). Returns how
/// often each rule fired. Dead nodes are removed at the end.
std::map<std::string, int> rewrite_to_fixpoint(Graph &graph, const std::vector<RewriteRule> &rules,
                                               int max_rounds = 32);

// Helpers for rules.

/// Whether replace_uses(graph, from, to) can keep every graph output name.
bool can_replace_uses(const Graph &graph, const std::string &from, const std::string &to);

/// Replaces every use of value `from` by `to`. When `from` is a graph output, `to`'s producer
/// takes over the output's name (check can_replace_uses first).
void replace_uses(Graph &graph, const std::string &from, const std::string &to);

/// The index of the node producing `value`, or -1.
int producer_index(const Graph &graph, const std::string &value);

/// True if `value` is read by exactly one node and is not a graph output.
bool single_use(const Graph &graph, const std::string &value);

/// The node that alone reads `value` (which is not a graph output), if its op is `op`; else -1.
int sole_consumer(const Graph &graph, const std::string &value, const std::string &op);

/// Of binary node `n`'s two inputs, the one that is not `value`.
const std::string &other_input(const Node &n, const std::string &value);

/// Replaces the nodes at indices `matched` by one new node `op(inputs)` that produces the
/// value `out` under the same name (`out` was produced by one of the matched nodes).
void replace_with_node(Graph &graph, std::vector<size_t> matched, const std::string &out,
                       const std::string &op, std::vector<std::string> inputs,
                       std::map<std::string, Attribute> attrs, const std::string &name);

/// The op a node computes without megalide's fusion: "Conv" for ONNX's Conv and for
/// com.megalide.FusedConv alike (rules that match an op match its fused form too).
std::string unfused_op(const Node &n);

/// Makes `n` (Conv, Gemm, MatMul, QLinearConv or QLinearMatMul) megalide's fused form of it,
/// com.megalide.Fused<op> (ops/fused.cpp), before a rule gives it what the ONNX op does not
/// have: an activation, a bias input for MatMul, transposed operands. Idempotent.
void make_fused(Node &n);

/// A constant's elements as doubles if `value` is a constant, else empty.
std::vector<double> constant_values(const Graph &graph, const std::string &value);

}  // namespace megalide
