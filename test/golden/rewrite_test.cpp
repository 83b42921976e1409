// Every rewrite rule, both ways: the graph text before and after (golden files, refreshed
// with MEGALIDE_UPDATE_GOLDEN=1), the rule fired and changed the structure as intended, and
// the rewritten graph computes what the original computes.
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "test_util.h"

#include "megalide/error.h"
#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/rewrite/rules.h"

namespace megalide::test {
namespace {

using Ints = std::vector<int64_t>;

HostArray random_array(std::mt19937 &rng, const Ints &shape, float lo = -1, float hi = 1) {
    return random_host_array(rng, shape, lo, hi);
}

HostArray scalar(float v) { return HostArray::from_floats({}, {v}); }
Attribute ints(Ints v) { return Attribute::of(std::move(v)); }

void finish(Graph &g) {
    g.sort();
    g.infer_shapes();
}

// Compares `text` with test/golden/rewrite/<name>.txt; MEGALIDE_UPDATE_GOLDEN=1 rewrites it.
void expect_golden(const std::string &name, const std::string &text) {
    const std::string path = std::string(MEGALIDE_GOLDEN_DIR) + "/rewrite/" + name + ".txt";
    if (std::getenv("MEGALIDE_UPDATE_GOLDEN")) {
        std::ofstream(path) << text;
        return;
    }
    std::ifstream in(path);
    ASSERT_TRUE(in.good()) << "golden file " << path << " is missing; create it with MEGALIDE_UPDATE_GOLDEN=1 and review it";
    std::stringstream want;
    want << in.rdbuf();
    EXPECT_EQ(text, want.str()) << "graph text differs from " << path << " (refresh with MEGALIDE_UPDATE_GOLDEN=1 if intended)";
}

int count_ops(const Graph &g, const std::string &op) {
    int n = 0;
    for (const Node &node : g.nodes) n += node.op == op;
    return n;
}

std::vector<HostArray> evaluate(const Graph &g, const std::vector<HostArray> &inputs) {
    LoweredGraph lowered = lower(g);
    schedule_stages_at_root(lowered);
    return run(lowered, inputs);
}

// Applies one rule to a fixpoint, checks it fired, writes the golden text, and compares the
// outputs of both graphs on random inputs (seeded, printed on failure).
Graph check_rule(const std::string &rule_name, bool (*rule)(Graph &), const Graph &before, double tolerance = 1e-5) {
    Graph after = before;
    const auto fired = rewrite_to_fixpoint(after, {{rule_name, rule}});
    EXPECT_GT(fired.count(rule_name) ? fired.at(rule_name) : 0, 0) << rule_name << " did not fire";
    expect_golden(rule_name, "# before\n" + before.dump() + "# after\n" + after.dump());

    const unsigned seed = 1234;
    SCOPED_TRACE("input seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::vector<HostArray> inputs;
    for (const std::string &name : before.inputs) inputs.push_back(random_array(rng, before.value(name).shape, -2, 2));
    const std::vector<HostArray> want = evaluate(before, inputs), got = evaluate(after, inputs);
    EXPECT_EQ(got.size(), want.size());
    for (size_t o = 0; o < want.size() && o < got.size(); ++o) {
        const std::vector<double> w = want[o].to_doubles(), v = got[o].to_doubles();
        EXPECT_EQ(v.size(), w.size());
        int reported = 0;
        for (size_t i = 0; i < w.size() && i < v.size() && reported < 3; ++i) {
            if (std::abs(v[i] - w[i]) > tolerance * (1 + std::abs(w[i]))) {
                ADD_FAILURE() << rule_name << ": output " << o << " element " << i << ": " << v[i] << " vs " << w[i];
                ++reported;
            }
        }
    }
    return after;
}

TEST(Rewrite, FoldConstantsShapeChainAndIdentity) {
    std::mt19937 rng(1);
    Graph g;
    g.add_input("x", DType::Float32, {2, 3, 4});
    g.add_constant("zero", HostArray::from_int64s({1}, {0}));
    g.add_constant("minus_one", HostArray::from_int64s({1}, {-1}));
    g.add_node("Shape", {"x"}, {"shape"});
    g.add_node("Gather", {"shape", "zero"}, {"batch"}, {{"axis", Attribute::of(int64_t{0})}});
    g.add_node("Concat", {"batch", "minus_one"}, {"target"}, {{"axis", Attribute::of(int64_t{0})}});
    g.add_node("Reshape", {"x", "target"}, {"flat"});
    g.add_node("Identity", {"flat"}, {"y"});
    g.add_output("y");
    finish(g);
    Graph after = check_rule("fold_constants", rules::fold_constants, g);
    EXPECT_EQ(count_ops(after, "Shape") + count_ops(after, "Gather") + count_ops(after, "Concat") + count_ops(after, "Identity"), 0);
    EXPECT_EQ(count_ops(after, "Reshape"), 1);
    EXPECT_EQ(after.value("y").shape, (Ints{2, 12}));
}

TEST(Rewrite, FoldBatchNormIntoConvAndGemm) {
    std::mt19937 rng(2);
    Graph g;
    g.add_input("x", DType::Float32, {1, 3, 6, 6});
    g.add_constant("w", random_array(rng, {4, 3, 3, 3}));
    g.add_constant("b", random_array(rng, {4}));
    for (const char *p : {"scale", "bias", "mean"}) g.add_constant(p, random_array(rng, {4}));
    g.add_constant("var", random_array(rng, {4}, 0.5f, 2.0f));
    g.add_node("Conv", {"x", "w", "b"}, {"c"}, {{"pads", ints({1, 1, 1, 1})}});
    g.add_node("BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"y"}, {{"epsilon", Attribute::of(1e-3)}});
    g.add_output("y");
    g.add_input("v", DType::Float32, {2, 5});
    g.add_constant("fc_w", random_array(rng, {4, 5}));
    g.add_node("Gemm", {"v", "fc_w"}, {"f"}, {{"transB", Attribute::of(int64_t{1})}, {"beta", Attribute::of(0.5)}});
    g.add_node("BatchNormalization", {"f", "scale", "bias", "mean", "var"}, {"z"});
    g.add_output("z");
    finish(g);
    Graph after = check_rule("fold_batchnorm", rules::fold_batchnorm, g, 1e-5);
    EXPECT_EQ(count_ops(after, "BatchNormalization"), 0);
}

TEST(Rewrite, FuseBiasAndActivation) {
    std::mt19937 rng(3);
    Graph g;
    g.add_input("x", DType::Float32, {1, 3, 5, 5});
    g.add_constant("w", random_array(rng, {4, 3, 1, 1}));
    g.add_constant("cb", random_array(rng, {1, 4, 1, 1}));
    g.add_node("Conv", {"x", "w"}, {"c"});
    g.add_node("Add", {"c", "cb"}, {"cbias"});
    g.add_node("Relu", {"cbias"}, {"y"});
    g.add_output("y");
    g.add_input("t", DType::Float32, {2, 3, 6});
    g.add_constant("mw", random_array(rng, {6, 8}));
    g.add_constant("mb", random_array(rng, {8}));
    g.add_constant("lo", scalar(0.0f));
    g.add_constant("hi", scalar(0.5f));
    g.add_node("MatMul", {"t", "mw"}, {"m"});
    g.add_node("Add", {"mb", "m"}, {"mbias"});
    g.add_node("Clip", {"mbias", "lo", "hi"}, {"z"});
    g.add_output("z");
    finish(g);
    Graph after = check_rule("fuse_bias_activation", rules::fuse_bias_activation, g);
    EXPECT_EQ(count_ops(after, "Add") + count_ops(after, "Relu") + count_ops(after, "Clip"), 0);
}

TEST(Rewrite, RecognizeDecomposedLayerNorm) {
    std::mt19937 rng(4);
    Graph g;
    g.add_input("x", DType::Float32, {2, 5, 16});
    g.add_constant("two", scalar(2.0f));
    g.add_constant("eps", scalar(1e-5f));
    g.add_constant("gamma", random_array(rng, {16}));
    g.add_constant("beta", random_array(rng, {16}));
    const Attribute axes = ints({-1});
    g.add_node("ReduceMean", {"x"}, {"mean"}, {{"axes", axes}});
    g.add_node("Sub", {"x", "mean"}, {"d"});
    g.add_node("Pow", {"d", "two"}, {"d2"});
    g.add_node("ReduceMean", {"d2"}, {"var"}, {{"axes", axes}});
    g.add_node("Add", {"var", "eps"}, {"ve"});
    g.add_node("Sqrt", {"ve"}, {"std"});
    g.add_node("Div", {"d", "std"}, {"n"});
    g.add_node("Mul", {"n", "gamma"}, {"g"});
    g.add_node("Add", {"g", "beta"}, {"y"});
    g.add_output("y");
    finish(g);
    Graph after = check_rule("recognize_layernorm", rules::recognize_layernorm, g, 1e-4);
    EXPECT_EQ(after.nodes.size(), 1u);
    EXPECT_EQ(count_ops(after, "LayerNormalization"), 1);
}

TEST(Rewrite, RecognizeDecomposedGeluBothOrders) {
    Graph g;
    g.add_input("x", DType::Float32, {3, 7});
    g.add_constant("sqrt2", scalar(1.4142135f));
    g.add_constant("one", scalar(1.0f));
    g.add_constant("half", scalar(0.5f));
    // (x * (erf(x / sqrt 2) + 1)) * 0.5, as PyTorch exports it.
    g.add_node("Div", {"x", "sqrt2"}, {"q"});
    g.add_node("Erf", {"q"}, {"e"});
    g.add_node("Add", {"e", "one"}, {"a"});
    g.add_node("Mul", {"x", "a"}, {"m"});
    g.add_node("Mul", {"m", "half"}, {"y"});
    g.add_output("y");
    // (x * 0.5) * (erf(x / sqrt 2) + 1).
    g.add_node("Div", {"x", "sqrt2"}, {"q2"});
    g.add_node("Erf", {"q2"}, {"e2"});
    g.add_node("Add", {"one", "e2"}, {"a2"});
    g.add_node("Mul", {"x", "half"}, {"h2"});
    g.add_node("Mul", {"h2", "a2"}, {"z"});
    g.add_output("z");
    finish(g);
    Graph after = check_rule("recognize_gelu", rules::recognize_gelu, g);
    EXPECT_EQ(after.nodes.size(), 2u);
    EXPECT_EQ(count_ops(after, "Gelu"), 2);
}

TEST(Rewrite, CancelAndComposeTransposes) {
    Graph g;
    g.add_input("x", DType::Float32, {2, 3, 4});
    g.add_node("Transpose", {"x"}, {"t1"}, {{"perm", ints({2, 0, 1})}});
    g.add_node("Transpose", {"t1"}, {"t2"}, {{"perm", ints({1, 2, 0})}});  // undoes t1
    g.add_node("Relu", {"t2"}, {"y"});
    g.add_output("y");
    g.add_node("Transpose", {"x"}, {"u1"}, {{"perm", ints({1, 0, 2})}});
    g.add_node("Transpose", {"u1"}, {"z"}, {{"perm", ints({0, 2, 1})}});
    g.add_output("z");
    finish(g);
    Graph after = check_rule("cancel_transposes", rules::cancel_transposes, g);
    EXPECT_EQ(count_ops(after, "Transpose"), 1);
    EXPECT_EQ(after.value("z").shape, (Ints{3, 4, 2}));
}

TEST(Rewrite, FoldTransposeIntoMatMul) {
    std::mt19937 rng(5);
    Graph g;
    g.add_input("q", DType::Float32, {2, 5, 8});
    g.add_input("k", DType::Float32, {2, 6, 8});
    g.add_node("Transpose", {"k"}, {"kt"}, {{"perm", ints({0, 2, 1})}});
    g.add_node("MatMul", {"q", "kt"}, {"scores"});
    g.add_output("scores");
    finish(g);
    Graph after = check_rule("fold_transpose_into_matmul", rules::fold_transpose_into_matmul, g);
    EXPECT_EQ(count_ops(after, "Transpose"), 0);
    EXPECT_EQ(after.nodes.at(0).get_int("transB", 0), 1);
}

TEST(Rewrite, DefaultRulesReachAFixpointOnACombinedGraph) {
    std::mt19937 rng(6);
    Graph g;
    g.add_input("x", DType::Float32, {1, 2, 4, 4});
    g.add_constant("w", random_array(rng, {3, 2, 3, 3}));
    for (const char *p : {"scale", "bias", "mean"}) g.add_constant(p, random_array(rng, {3}));
    g.add_constant("var", random_array(rng, {3}, 0.5f, 2.0f));
    g.add_node("Conv", {"x", "w"}, {"c"}, {{"pads", ints({1, 1, 1, 1})}});
    g.add_node("BatchNormalization", {"c", "scale", "bias", "mean", "var"}, {"bn"});
    g.add_node("Relu", {"bn"}, {"r"});
    g.add_node("Identity", {"r"}, {"y"});
    g.add_output("y");
    finish(g);
    Graph after = g;
    const auto fired = rewrite_to_fixpoint(after, default_rules());
    EXPECT_EQ(after.nodes.size(), 1u) << after.dump();
    EXPECT_EQ(after.nodes[0].get_string("activation", ""), "Relu");
    EXPECT_GT(fired.at("fold_batchnorm"), 0);
    EXPECT_GT(fired.at("fuse_bias_activation"), 0);
}

}  // namespace
}  // namespace megalide::test
