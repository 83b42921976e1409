// The graph IR: the builder, topological sorting, shape inference with errors that name the
// node, constant folding of shape arithmetic, and the stable text dump.
#include <cmath>

#include <gtest/gtest.h>

#include "megalide/error.h"
#include "megalide/graph/graph.h"
#include "megalide/graph/shape_inference.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using Ints = std::vector<int64_t>;

template <typename F>
void expect_error(F f, const std::string &fragment) {
    expect_throws_with<Error>(f, {fragment});
}

TEST(Graph, SortOrdersNodesAndReportsUndefinedInputsAndCycles) {
    Graph g;
    g.add_input("x", DType::Float32, {4});
    g.add_node("Relu", {"a"}, {"b"}, {}, "second");
    g.add_node("Sigmoid", {"x"}, {"a"}, {}, "first");
    g.add_output("b");
    g.sort();
    EXPECT_EQ(g.nodes[0].name, "first");
    EXPECT_EQ(g.nodes[1].name, "second");

    Graph missing;
    missing.add_input("x", DType::Float32, {4});
    missing.add_node("Add", {"x", "nowhere"}, {"y"}, {}, "adder");
    expect_error([&] { missing.sort(); }, "Add 'adder': input 'nowhere' is not a graph input");

    Graph cycle;
    cycle.add_input("x", DType::Float32, {4});
    cycle.add_node("Add", {"x", "q"}, {"p"}, {}, "p_node");
    cycle.add_node("Relu", {"p"}, {"q"}, {}, "q_node");
    expect_error([&] { cycle.sort(); }, "cycle");
}

TEST(Graph, ShapeInferenceErrorsNameTheNode) {
    Graph g;
    g.add_input("a", DType::Float32, {2, 3});
    g.add_input("b", DType::Float32, {4, 3});
    g.add_node("Add", {"a", "b"}, {"c"}, {}, "bad_add");
    expect_error([&] { g.infer_shapes(); }, "Add 'bad_add': shapes [2, 3] and [4, 3] do not broadcast");

    Graph r;
    r.add_input("x", DType::Float32, {2, 3});
    r.add_input("shape", DType::Int64, {2});
    r.add_node("Reshape", {"x", "shape"}, {"y"}, {}, "dyn");
    expect_error([&] { r.infer_shapes(); }, "Reshape 'dyn': shape (input 1, 'shape') must be a constant");

    Graph c;
    c.add_input("x", DType::Float32, {1, 3, 8, 8});
    c.add_constant("w", HostArray::from_floats({4, 2, 3, 3}, std::vector<float>(72)));
    c.add_node("Conv", {"x", "w"}, {"y"}, {}, "conv1");
    expect_error([&] { c.infer_shapes(); }, "Conv 'conv1': channel mismatch");

    Graph u;
    u.add_input("x", DType::Float32, {2});
    u.add_node("TopK", {"x"}, {"y"}, {}, "topk");
    expect_error([&] { u.infer_shapes(); }, "TopK 'topk': unsupported op type 'TopK'");
}

TEST(Graph, ShapeArithmeticFoldsToConstants) {
    Graph g;
    g.add_input("x", DType::Float32, {2, 3, 4});
    g.add_constant("starts", HostArray::from_int64s({1}, {1}));
    g.add_constant("ends", HostArray::from_int64s({1}, {3}));
    g.add_node("Shape", {"x"}, {"s"});
    g.add_node("Slice", {"s", "starts", "ends"}, {"tail"});          // [3, 4]
    g.add_node("Cast", {"tail"}, {"tail_f"}, {{"to", Attribute::of(int64_t{1})}});
    g.add_node("Mul", {"tail", "tail"}, {"sq"});                      // [9, 16]
    g.add_output("sq");
    g.sort();
    g.infer_shapes();
    ASSERT_TRUE(g.is_constant("sq"));
    EXPECT_EQ(g.value("sq").constant->to_int64s(), (Ints{9, 16}));
    EXPECT_EQ(g.value("tail_f").dtype, DType::Float32);
    EXPECT_EQ(g.value("tail_f").constant->to_doubles(), (std::vector<double>{3, 4}));
}

TEST(Graph, DumpIsStable) {
    Graph g;
    g.name = "tiny";
    g.add_input("x", DType::Float32, {1, 2, 4, 4});
    g.add_constant("w", HostArray::from_floats({3, 2, 3, 3}, std::vector<float>(54)));
    g.add_node("Conv", {"x", "w"}, {"c"}, {{"pads", Attribute::of(Ints{1, 1, 1, 1})}, {"strides", Attribute::of(Ints{2, 2})}});
    g.add_node("Relu", {"c"}, {"y"});
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    // Written by hand from ONNX's Conv output-size rule: (4 + 2 - 3) / 2 + 1 = 2.
    EXPECT_EQ(g.dump(),
              "graph tiny\n"
              "  input %x: float32[1, 2, 4, 4]\n"
              "  const %w: float32[3, 2, 3, 3]\n"
              "  %c = Conv(%x, %w) {dilations=[1, 1], group=1, kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]} : float32[1, 3, 2, 2]\n"
              "  %y = Relu(%c) : float32[1, 3, 2, 2]\n"
              "  output %y\n");
}

TEST(Graph, QuantParamsAreCheckedAndRecorded) {
    check_quant_params({{0.5f}, {128}, -1}, DType::UInt8, 1, "t");
    check_quant_params({{0.5f, 0.25f}, {0, 0}, 0}, DType::Int8, 2, "t");
    expect_throws_with<Error>([] { check_quant_params({{0.5f}, {256}, -1}, DType::UInt8, 1, "act"); },
                              {"act", "zero point 256 is outside uint8's range [0, 255]"});
    expect_throws_with<Error>([] { check_quant_params({{0.5f}, {-129}, -1}, DType::Int8, 1, "w"); }, {"zero point -129", "int8"});
    expect_throws_with<Error>([] { check_quant_params({{0.0f}, {0}, -1}, DType::Int8, 1, "w"); }, {"scale 0", "positive and finite"});
    expect_throws_with<Error>([] { check_quant_params({{INFINITY}, {0}, -1}, DType::Int8, 1, "w"); }, {"positive and finite"});
    expect_throws_with<Error>([] { check_quant_params({{1.0f, 1.0f, 1.0f}, {0, 0, 0}, 0}, DType::Int8, 4, "w"); },
                              {"3 per-channel scales for 4 channels"});
    expect_throws_with<Error>([] { check_quant_params({{1.0f}, {}, -1}, DType::Int8, 1, "w"); }, {"must pair up"});
    expect_throws_with<Error>([] { check_quant_params({{1.0f}, {0}, -1}, DType::Float32, 1, "w"); }, {"uint8, int8 or int32"});

    // QuantizeLinear with constant parameters records them on its output.
    Graph g;
    g.add_input("x", DType::Float32, {2, 3});
    g.add_constant("s", HostArray::from_floats({}, {0.25f}));
    g.add_constant("z", HostArray::from_doubles(DType::UInt8, {}, {7}));
    g.add_node("QuantizeLinear", {"x", "s", "z"}, {"y"});
    g.add_output("y");
    g.infer_shapes();
    ASSERT_TRUE(g.value("y").quant.has_value());
    EXPECT_EQ(g.value("y").quant->scales, std::vector<float>{0.25f});
    EXPECT_EQ(g.value("y").quant->zero_points, std::vector<int32_t>{7});
    EXPECT_NE(g.dump().find("uint8[2, 3] q(scale=0.25, zero_point=7)"), std::string::npos) << g.dump();
}

}  // namespace
}  // namespace megalide::test
