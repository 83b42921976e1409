// Graph -> one Halide pipeline: convolution variants with constant and runtime weights
// (the lowering permutes constant weights on the host and relabels runtime ones), layout
// changes between channels-innermost and plain ops, against the NCHW reference loops.
#include <random>

#include <gtest/gtest.h>

#include "test_util.h"

#include "megalide/error.h"
#include "megalide/lower/lower.h"
#include "megalide/runtime/run.h"
#include "reference.h"

namespace megalide::test {
namespace {

using Ints = std::vector<int64_t>;

HostArray random_array(std::mt19937 &rng, const Ints &shape, float lo = -1, float hi = 1) {
    return random_host_array(rng, shape, lo, hi);
}

ref::Array to_ref(const HostArray &a) {
    ref::Array r;
    r.shape.assign(a.shape.begin(), a.shape.end());
    r.data = a.to_doubles();
    return r;
}

void expect_near(const HostArray &got, const ref::Array &want, double tol, const std::string &what) {
    ASSERT_EQ(std::vector<int>(got.shape.begin(), got.shape.end()), want.shape) << what;
    const std::vector<double> g = got.to_doubles();
    for (size_t i = 0; i < g.size(); ++i) {
        ASSERT_NEAR(g[i], want.data[i], tol) << what << " element " << i;
    }
}

struct ConvCase {
    const char *what;
    Ints x, w;
    int64_t group;
    Ints pads, strides;
};

// Each case runs twice: weights as initializers (host-permuted) and as graph inputs.
// Constants of 32 bytes or fewer, which Halide embeds with only 32-byte alignment, are stored
// padded to 64 bytes (tensor.h); the padding is zeros and the Tensor keeps the logical shape.
// (On AVX-512 hosts, unit.Schedule.EveryStrategyComputesTheUnscheduledResult is the crash
// this prevents: adams2019's 16-lane load of a 7-float constant faulted.)
TEST(Lower, SmallConstantsArePaddedForEmbedding) {
    Halide::Buffer<float> w = constant_buffer(Halide::Float(32), {7});
    EXPECT_EQ(w.dim(0).extent(), 16);
    for (int i = 0; i < 16; ++i) EXPECT_EQ(w(i), 0.0f) << i;
    Halide::Buffer<uint8_t> q = constant_buffer(Halide::UInt(8), {3, 2});
    EXPECT_EQ(q.dim(0).extent(), 3);
    EXPECT_EQ(q.dim(1).extent(), 22);  // 66 bytes: the outer dimension grows
    Halide::Buffer<int32_t> big = constant_buffer(Halide::Int(32), {40});
    EXPECT_EQ(big.dim(0).extent(), 40);
    for (int i = 0; i < 7; ++i) w(i) = static_cast<float>(i);
    const Tensor t = tensor_from_buffer("w", w, {7});
    EXPECT_EQ(t.shape, Shape{7});
    Halide::Func out;
    Halide::Var x;
    out(x) = t({x}) * 2.0f + 1.0f;
    out.vectorize(x, 16, Halide::TailStrategy::GuardWithIf);
    Halide::Buffer<float> r = out.realize({7});
    for (int i = 0; i < 7; ++i) EXPECT_EQ(r(i), 2.0f * static_cast<float>(i) + 1.0f) << i;
}

TEST(Lower, ConvVariantsWithConstantAndRuntimeWeights) {
    const ConvCase cases[] = {
        {"pointwise", {1, 6, 5, 4}, {10, 6, 1, 1}, 1, {0, 0, 0, 0}, {1, 1}},
        {"depthwise", {1, 6, 5, 4}, {6, 1, 3, 3}, 6, {1, 1, 1, 1}, {1, 1}},
        {"depthwise x2", {1, 3, 5, 4}, {6, 1, 3, 3}, 3, {1, 0, 1, 2}, {2, 1}},
        {"grouped", {2, 4, 5, 6}, {6, 2, 3, 2}, 2, {0, 1, 2, 1}, {1, 2}},
        {"dense 3x3 stride 2", {1, 3, 7, 7}, {5, 3, 3, 3}, 1, {1, 1, 1, 1}, {2, 2}},
    };
    std::mt19937 rng(42);
    for (const ConvCase &c : cases) {
        for (bool constant_weights : {true, false}) {
            SCOPED_TRACE(std::string(c.what) + (constant_weights ? ", constant weights" : ", runtime weights"));
            const HostArray x = random_array(rng, c.x), w = random_array(rng, c.w), b = random_array(rng, {c.w[0]});
            Graph g;
            g.add_input("x", DType::Float32, c.x);
            if (constant_weights) g.add_constant("w", w); else g.add_input("w", DType::Float32, c.w);
            g.add_constant("b", b);
            g.add_node("Conv", {"x", "w", "b"}, {"y"},
                       {{"group", Attribute::of(c.group)}, {"pads", Attribute::of(c.pads)}, {"strides", Attribute::of(c.strides)}});
            g.add_output("y");
            g.sort();
            g.infer_shapes();
            LoweredGraph lowered = lower(g);
            std::vector<HostArray> inputs = {x};
            if (!constant_weights) inputs.push_back(w);
            const HostArray y = run(lowered, inputs).at(0);
            ref::ConvAttrs a;
            a.group = static_cast<int>(c.group);
            a.pad_top = static_cast<int>(c.pads[0]), a.pad_left = static_cast<int>(c.pads[1]);
            a.pad_bottom = static_cast<int>(c.pads[2]), a.pad_right = static_cast<int>(c.pads[3]);
            a.stride_h = static_cast<int>(c.strides[0]), a.stride_w = static_cast<int>(c.strides[1]);
            expect_near(y, ref::conv(to_ref(x), to_ref(w), to_ref(b), a), 1e-5, c.what);
        }
    }
}

// Conv (channels innermost) -> Transpose -> Reshape -> MatMul (plain): layout conversions
// between the two conventions, and Transpose as a pure relabeling.
TEST(Lower, LayoutChangesBetweenConvAndMatMul) {
    std::mt19937 rng(7);
    const HostArray x = random_array(rng, {1, 2, 3, 4}), w = random_array(rng, {5, 2, 1, 1}), m = random_array(rng, {5, 3});
    Graph g;
    g.add_input("x", DType::Float32, {1, 2, 3, 4});
    g.add_constant("w", w);
    g.add_constant("m", m);
    g.add_constant("shape", HostArray::from_int64s({2}, {12, 5}));
    g.add_node("Conv", {"x", "w"}, {"c"});
    g.add_node("Transpose", {"c"}, {"t"}, {{"perm", Attribute::of(Ints{0, 2, 3, 1})}});  // NHWC
    g.add_node("Reshape", {"t", "shape"}, {"r"});
    g.add_node("MatMul", {"r", "m"}, {"y"});
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    LoweredGraph lowered = lower(g);
    const HostArray y = run(lowered, {x}).at(0);
    ref::Array conv = ref::conv(to_ref(x), to_ref(w), ref::Array(), {});
    ref::Array nhwc = ref::transpose(conv, {0, 2, 3, 1});
    nhwc.shape = {12, 5};
    expect_near(y, ref::matmul(nhwc, to_ref(m)), 1e-5, "conv -> transpose -> reshape -> matmul");
}

TEST(Lower, RunChecksInputTypesAndShapes) {
    Graph g;
    g.add_input("x", DType::Float32, {2, 3});
    g.add_node("Relu", {"x"}, {"y"});
    g.add_output("y");
    g.sort();
    g.infer_shapes();
    LoweredGraph lowered = lower(g);
    EXPECT_THROW(run(lowered, {}), Error);
    EXPECT_THROW(run(lowered, {HostArray::from_floats({3, 2}, std::vector<float>(6))}), Error);
    EXPECT_THROW(run(lowered, {HostArray::from_int64s({2, 3}, std::vector<int64_t>(6))}), Error);
}

}  // namespace
}  // namespace megalide::test
