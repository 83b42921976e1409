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
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"

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
    const TargetSpec target = host_target_spec(1);
    apply(make_schedule("root", g, lowered, target), g, lowered, target);
    return run(lowered, inputs);
}

// Applies one rule to a fixpoint, checks it fired, writes the golden text, and compares the
// outputs of both graphs on random inputs (seeded, printed on failure).
// `lsb`: an absolute difference allowed on top (quantized outputs: 1 where a fold may round
// a tie the other way).
Graph check_rule(const std::string &rule_name, bool (*rule)(Graph &), const Graph &before, double tolerance = 1e-5, double lsb = 0,
                 const std::string &golden = "") {
    Graph after = before;
    const auto fired = rewrite_to_fixpoint(after, {{rule_name, rule}});
    EXPECT_GT(fired.count(rule_name) ? fired.at(rule_name) : 0, 0) << rule_name << " did not fire";
    expect_golden(golden.empty() ? rule_name : golden, "# before\n" + before.dump() + "# after\n" + after.dump());

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
            if (std::abs(v[i] - w[i]) > tolerance * (1 + std::abs(w[i])) + lsb) {
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
    // What ONNX's Conv and MatMul cannot express makes them megalide's fused forms.
    for (const Node &n : after.nodes) EXPECT_EQ(n.domain, "com.megalide") << n.label();
    EXPECT_EQ(count_ops(after, "FusedConv") + count_ops(after, "FusedMatMul"), 2);
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

// QuantizeLinear / DequantizeLinear helpers for the QDQ tests: per-tensor uint8 activations,
// int8 weights per output channel, int32 biases at input scale x weight scale.
void add_qparams(Graph &g, const std::string &name, float scale, int zero_point, DType type = DType::UInt8) {
    g.add_constant(name + "_s", scalar(scale));
    g.add_constant(name + "_z", HostArray::from_doubles(type, {}, {static_cast<double>(zero_point)}));
}

// x -> Q -> DQ: the quantized activation as the float model sees it.
std::string qdq(Graph &g, const std::string &x, const std::string &params) {
    g.add_node("QuantizeLinear", {x, params + "_s", params + "_z"}, {x + "_q"});
    g.add_node("DequantizeLinear", {x + "_q", params + "_s", params + "_z"}, {x + "_dq"});
    return x + "_dq";
}

std::string int8_weights(Graph &g, std::mt19937 &rng, const std::string &name, const Ints &shape, int64_t axis) {
    HostArray w = HostArray::from_doubles(DType::Int8, shape, std::vector<double>(static_cast<size_t>(HostArray::from_floats(shape, std::vector<float>(1)).element_count()), 0));
    std::uniform_int_distribution<int> values(-127, 127);
    for (int64_t i = 0; i < w.element_count(); ++i) w.data<int8_t>()[i] = static_cast<int8_t>(values(rng));
    g.add_constant(name + "_q", w);
    std::vector<float> scales(static_cast<size_t>(shape[static_cast<size_t>(axis)]));
    for (size_t c = 0; c < scales.size(); ++c) scales[c] = 0.002f * static_cast<float>(c + 1);
    g.add_constant(name + "_s", HostArray::from_floats({static_cast<int64_t>(scales.size())}, scales));
    g.add_constant(name + "_z", HostArray::from_doubles(DType::Int8, {static_cast<int64_t>(scales.size())}, std::vector<double>(scales.size(), 0)));
    g.add_node("DequantizeLinear", {name + "_q", name + "_s", name + "_z"}, {name}, {{"axis", Attribute::of(axis)}});
    return name;
}

TEST(Rewrite, FoldQdqIntoQLinearConvAndMatMul) {
    std::mt19937 rng(8);
    Graph g;
    g.add_input("x", DType::Float32, {1, 3, 6, 6});
    add_qparams(g, "xq", 0.02f, 128);
    const std::string w = int8_weights(g, rng, "w", {4, 3, 3, 3}, 0);
    // An int32 bias at scale 0.02 * w_scale, through its DequantizeLinear.
    g.add_constant("b_q", HostArray::from_doubles(DType::Int32, {4}, {300, -200, 100, 0}));
    std::vector<float> bs;
    for (int c = 0; c < 4; ++c) bs.push_back(0.02f * 0.002f * static_cast<float>(c + 1));
    g.add_constant("b_s", HostArray::from_floats({4}, bs));
    g.add_node("DequantizeLinear", {"b_q", "b_s"}, {"b"}, {{"axis", Attribute::of(int64_t{0})}});
    g.add_node("com.megalide.FusedConv", {qdq(g, "x", "xq"), w, "b"}, {"c"},
               {{"pads", ints({1, 1, 1, 1})}, {"activation", Attribute::of(std::string("Relu"))}});
    add_qparams(g, "cq", 0.01f, 0);
    g.add_node("QuantizeLinear", {"c", "cq_s", "cq_z"}, {"y"});
    g.add_output("y");
    // A Gemm (transB) with a float bias, which the fold quantizes.
    g.add_input("v", DType::Float32, {2, 8});
    add_qparams(g, "vq", 0.02f, 100);
    const std::string fw = int8_weights(g, rng, "fw", {5, 8}, 0);
    g.add_constant("fb", random_array(rng, {5}, -0.1f, 0.1f));
    g.add_node("Gemm", {qdq(g, "v", "vq"), fw, "fb"}, {"f"}, {{"transB", Attribute::of(int64_t{1})}});
    add_qparams(g, "fq", 0.005f, 120);
    g.add_node("QuantizeLinear", {"f", "fq_s", "fq_z"}, {"z"});
    g.add_output("z");
    finish(g);
    // Integer accumulation rescaled once vs float products summed: the real value differs by
    // rounding error only, so an output may round a tie the other way: 1 LSB.
    Graph after = check_rule("fold_qdq", rules::fold_qdq, g, 0, 1, "fold_qdq_conv_matmul");
    // The activation and the bias are megalide's: its fused forms, not ONNX's QLinear ops.
    EXPECT_EQ(count_ops(after, "FusedQLinearConv"), 1);
    EXPECT_EQ(count_ops(after, "FusedQLinearMatMul"), 1);
    EXPECT_EQ(count_ops(after, "FusedConv") + count_ops(after, "Gemm"), 0);
}

TEST(Rewrite, FoldQdqElementwiseAndPoolingExactly) {
    std::mt19937 rng(9);
    Graph g;
    g.add_input("a", DType::Float32, {1, 4, 6, 6});
    g.add_input("b", DType::Float32, {1, 4, 6, 6});
    add_qparams(g, "aq", 0.02f, 128);
    add_qparams(g, "bq", 0.03f, 90);
    add_qparams(g, "sq", 0.04f, 110);
    const std::string a = qdq(g, "a", "aq");
    g.add_node("Add", {a, qdq(g, "b", "bq")}, {"sum"});
    g.add_node("QuantizeLinear", {"sum", "sq_s", "sq_z"}, {"sum_q"});
    g.add_node("DequantizeLinear", {"sum_q", "sq_s", "sq_z"}, {"sum_dq"});
    g.add_node("MaxPool", {"sum_dq"}, {"pooled"}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
    g.add_node("QuantizeLinear", {"pooled", "sq_s", "sq_z"}, {"pooled_q"});
    g.add_node("DequantizeLinear", {"pooled_q", "sq_s", "sq_z"}, {"pooled_dq"});
    g.add_constant("lo", scalar(-0.5f));
    g.add_constant("hi", scalar(1.0f));
    g.add_node("Clip", {"pooled_dq", "lo", "hi"}, {"clipped"});
    g.add_node("QuantizeLinear", {"clipped", "sq_s", "sq_z"}, {"clipped_q"});
    g.add_output("clipped_q");
    g.add_node("AveragePool", {"sum_dq"}, {"avg"}, {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}});
    add_qparams(g, "pq", 0.01f, 128);
    g.add_node("QuantizeLinear", {"avg", "pq_s", "pq_z"}, {"avg_q"});
    g.add_output("avg_q");
    g.add_node("GlobalAveragePool", {a}, {"gap"});
    g.add_node("QuantizeLinear", {"gap", "pq_s", "pq_z"}, {"gap_q"});
    g.add_output("gap_q");
    finish(g);
    // The quantized ops compute the pattern's float arithmetic, except that they quantize by
    // the output scale's reciprocal (and Halide may rewrite the unfolded pools' division):
    // a value may round a tie the other way, 1 LSB. MaxPool and Clip are exact.
    Graph after = check_rule("fold_qdq", rules::fold_qdq, g, 0, 1, "fold_qdq_elementwise");
    EXPECT_EQ(count_ops(after, "QLinearAdd"), 1);
    EXPECT_EQ(count_ops(after, "QLinearAveragePool"), 1);
    EXPECT_EQ(count_ops(after, "QLinearGlobalAveragePool"), 1);
    EXPECT_EQ(count_ops(after, "QuantizeLinear"), 2);  // the graph inputs a and b
    EXPECT_EQ(after.value("clipped_q").dtype, DType::UInt8);
}

TEST(Rewrite, FoldRequantizeChains) {
    Graph g;
    g.add_input("x", DType::Float32, {2, 16});
    add_qparams(g, "p1", 0.02f, 128);
    add_qparams(g, "p2", 0.05f, 10);
    g.add_node("QuantizeLinear", {"x", "p1_s", "p1_z"}, {"q1"});
    g.add_node("DequantizeLinear", {"q1", "p1_s", "p1_z"}, {"d1"});
    g.add_node("QuantizeLinear", {"d1", "p1_s", "p1_z"}, {"same"});  // same parameters: q1 itself
    g.add_node("QuantizeLinear", {"d1", "p2_s", "p2_z"}, {"other"});  // new parameters: Requantize
    g.add_node("Add", {"same", "same"}, {"y"});
    g.add_output("y");
    g.add_output("other");
    finish(g);
    Graph after = check_rule("fold_requantize", rules::fold_requantize, g, 0, 0);
    EXPECT_EQ(count_ops(after, "Requantize"), 1);
    EXPECT_EQ(count_ops(after, "QuantizeLinear"), 1);
}

TEST(Rewrite, QuantizedReluIsExactAndLeavesNoFloatBetweenQuantizedOps) {
    Graph g;
    g.add_input("x", DType::Float32, {2, 16});
    add_qparams(g, "p1", 0.02f, 128);
    add_qparams(g, "p2", 0.01f, 0);
    add_qparams(g, "s1", 0.03f, -5, DType::Int8);
    g.add_node("QuantizeLinear", {"x", "p1_s", "p1_z"}, {"q1"});
    g.add_node("DequantizeLinear", {"q1", "p1_s", "p1_z"}, {"d1"});
    g.add_node("Relu", {"d1"}, {"r1"});
    g.add_node("QuantizeLinear", {"r1", "p2_s", "p2_z"}, {"y"});  // B2's tail: Relu between DQ and Q
    g.add_node("QuantizeLinear", {"x", "s1_s", "s1_z"}, {"q2"});
    g.add_node("DequantizeLinear", {"q2", "s1_s", "s1_z"}, {"d2"});
    g.add_node("Relu", {"d2"}, {"r2"});  // int8, read as float: the rewrite must be exact
    g.add_output("y");
    g.add_output("r2");
    finish(g);
    Graph after = check_rule("quantized_relu", rules::quantized_relu, g, 0, 0);
    EXPECT_EQ(count_ops(after, "Relu"), 0);
    EXPECT_EQ(count_ops(after, "Clip"), 2);
    // With the default rules, y's chain is integer from q1 on: Clip, then Requantize.
    Graph folded = g;
    rewrite_to_fixpoint(folded, default_rules());
    EXPECT_EQ(count_ops(folded, "Requantize"), 1) << folded.dump();
    EXPECT_EQ(count_ops(folded, "Relu"), 0) << folded.dump();
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
    EXPECT_EQ(after.nodes[0].qualified_op(), "com.megalide.FusedConv");
    EXPECT_EQ(after.nodes[0].get_string("activation", ""), "Relu");
    EXPECT_GT(fired.at("fold_batchnorm"), 0);
    EXPECT_GT(fired.at("fuse_bias_activation"), 0);
}

}  // namespace
}  // namespace megalide::test
