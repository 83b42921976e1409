// The block libraries (generators/, built for the host by megalide_add_block_library, fused
// and op by op) against (a) the JIT of the same graph and schedule strategy and (b) the
// naive reference loops composed from the block's definition, on seeded random inputs.
#include <cmath>
#include <functional>
#include <thread>

#include "b1_megakernel.h"
#include "b1_per_op.h"
#include "b2_megakernel.h"
#include "b2_per_op.h"
#include "b3_megakernel.h"
#include "b3_per_op.h"
#include "b4_megakernel.h"
#include "b4_per_op.h"
#include "b5_megakernel.h"
#include "b5_per_op.h"
#include "megalide/blocks/block_graphs.h"
#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/schedule/strategy.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using Entry = int (*)(void **);
using Inputs = std::map<std::string, ref::Array>;

ref::Array ref_array(const HostArray &h) {
    ref::Array a;
    a.shape.assign(h.shape.begin(), h.shape.end());
    for (double v : h.to_doubles()) a.data.push_back(v);
    return a;
}

ref::Array add(const ref::Array &a, const ref::Array &b) { return ref::binary(a, b, [](double x, double y) { return x + y; }); }
ref::Array relu6(const ref::Array &a) { return ref::unary(a, [](double x) { return std::min(std::max(x, 0.0), 6.0); }); }
ref::Array relu(const ref::Array &a) { return ref::unary(a, [](double x) { return std::max(x, 0.0); }); }

ref::ConvAttrs conv_attrs(int k, int stride, int group) {
    ref::ConvAttrs c;
    c.stride_h = c.stride_w = stride;
    c.pad_top = c.pad_left = c.pad_bottom = c.pad_right = k / 2;
    c.group = group;
    return c;
}

// The blocks as their headers define them, in the reference's loops.
ref::Array inverted_residual_ref(const Inputs &in, int stride) {
    const int hidden = in.at("dw_w").shape[0];
    ref::Array h = relu6(ref::conv(in.at("x"), in.at("expand_w"), in.at("expand_b"), conv_attrs(1, 1, 1)));
    h = relu6(ref::conv(h, in.at("dw_w"), in.at("dw_b"), conv_attrs(3, stride, hidden)));
    ref::Array y = ref::conv(h, in.at("project_w"), in.at("project_b"), conv_attrs(1, 1, 1));
    return stride == 1 && in.at("x").shape == y.shape ? add(in.at("x"), y) : y;
}

ref::Array resnet_block_ref(const Inputs &in) {
    ref::Array h = relu(ref::conv(in.at("x"), in.at("conv1_w"), in.at("conv1_b"), conv_attrs(3, 1, 1)));
    return relu(add(in.at("x"), ref::conv(h, in.at("conv2_w"), in.at("conv2_b"), conv_attrs(3, 1, 1))));
}

ref::Array linear(const ref::Array &x, const Inputs &in, const std::string &prefix) {
    return add(ref::matmul(x, in.at(prefix + "_w")), in.at(prefix + "_b"));
}

ref::Array mlp_ref(const Inputs &in) {
    const ref::Array &x = in.at("x");
    ref::Array h = linear(ref::layernorm(x, in.at("ln_gamma"), in.at("ln_beta"), 2, 1e-5), in, "fc1");
    h = ref::unary(h, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
    return add(x, linear(h, in, "fc2"));
}

ref::Array attention_ref(const Inputs &in, int heads) {
    const ref::Array &x = in.at("x");
    const int t = x.shape[1], d = x.shape[2], hd = d / heads;
    const ref::Array qkv = linear(ref::layernorm(x, in.at("ln_gamma"), in.at("ln_beta"), 2, 1e-5), in, "qkv");
    // Split the projection's columns into q, k, v of shape (1, heads, t, hd).
    std::vector<ref::Array> parts(3, ref::Array({1, heads, t, hd}));
    for (int p = 0; p < 3; ++p)
        for (int h = 0; h < heads; ++h)
            for (int i = 0; i < t; ++i)
                for (int j = 0; j < hd; ++j) parts[p].at({0, h, i, j}) = qkv.at({0, i, p * d + h * hd + j});
    ref::Array context = ref::transpose(ref::attention(parts[0], parts[1], parts[2], false, 1.0 / std::sqrt(double(hd))), {0, 2, 1, 3});
    context.shape = {1, t, d};  // merge the heads: (1, t, heads, hd) -> (1, t, d), same order
    return add(x, linear(context, in, "out"));
}

struct BlockCase {
    const char *name;
    std::function<Graph()> graph;
    std::function<ref::Array(const Inputs &)> reference;
    Entry megakernel, per_op;
    long long terms;  ///< the longest chain of accumulated products, for the tolerance
};

std::vector<BlockCase> cases() {
    return {
        {"b1", [] { return blocks::inverted_residual_graph({}); }, [](const Inputs &in) { return inverted_residual_ref(in, 1); },
         b1_megakernel_argv, b1_per_op_argv, 24 + 9 + 144},
        {"b2", [] { return blocks::resnet_basic_block_graph(); }, resnet_block_ref, b2_megakernel_argv, b2_per_op_argv, 2 * 576},
        {"b3", [] { return blocks::transformer_mlp_graph(); }, mlp_ref, b3_megakernel_argv, b3_per_op_argv, 512 + 512 + 2048},
        {"b4", [] { return blocks::attention_graph(); }, [](const Inputs &in) { return attention_ref(in, 8); }, b4_megakernel_argv,
         b4_per_op_argv, 512 + 512 + 64 + 256 + 512},
        {"b5", [] { return blocks::inverted_residual_graph({16, 96, 24, 112, 112, 2}); },
         [](const Inputs &in) { return inverted_residual_ref(in, 2); }, b5_megakernel_argv, b5_per_op_argv, 16 + 9 + 96},
    };
}

// Weights uniform in +-1/sqrt(fan-in) so activations stay O(1) through the block; the rest
// (activations, biases, norm parameters) uniform in [-1, 1).
HostArray random_input(std::mt19937 &rng, const std::string &name, const std::vector<int64_t> &shape) {
    if (name.size() > 2 && name.compare(name.size() - 2, 2, "_w") == 0) {
        const int64_t fan_in = shape.size() == 4 ? shape[1] * shape[2] * shape[3] : shape[0];
        const float s = 1.0f / std::sqrt(static_cast<float>(fan_in));
        return random_host_array(rng, shape, -s, s);
    }
    return random_host_array(rng, shape);
}

Halide::Buffer<float> buffer_of(const HostArray &h) {
    std::vector<int> extents(h.shape.rbegin(), h.shape.rend());
    Halide::Buffer<float> b(extents);
    const std::vector<double> v = h.to_doubles();
    std::copy(v.begin(), v.end(), b.data());
    return b;
}

class BlockAot : public ::testing::TestWithParam<int> {};

TEST_P(BlockAot, MatchesJitAndReference) {
    const BlockCase c = cases()[static_cast<size_t>(GetParam())];
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    std::mt19937 rng(static_cast<unsigned>(s.seed));
    Graph g = c.graph();
    rewrite_to_fixpoint(g, default_rules());

    std::vector<HostArray> inputs;
    Inputs named;
    std::vector<Halide::Buffer<float>> buffers;
    for (const std::string &name : g.inputs) {
        inputs.push_back(random_input(rng, name, g.value(name).shape));
        named[name] = ref_array(inputs.back());
        buffers.push_back(buffer_of(inputs.back()));
    }
    const ref::Array want = c.reference(named);
    // Same algorithm, schedule and compiler on both sides: only code generation may differ.
    const double jit_tol = reduction_tolerance(c.terms);
    // Against double-precision loops: every layer's float32 rounding, compounded through the
    // block's chain of reductions.
    const double ref_tol = 4 * reduction_tolerance(c.terms);

    for (const std::string strategy : {"megakernel", "per_op"}) {
        SCOPED_TRACE(std::string(c.name) + " " + strategy);
        const std::vector<int64_t> out_shape = g.value(g.outputs[0]).shape;
        Halide::Buffer<float> aot(std::vector<int>(out_shape.rbegin(), out_shape.rend()));
        std::vector<void *> args;
        for (Halide::Buffer<float> &b : buffers) args.push_back(b.raw_buffer());
        args.push_back(aot.raw_buffer());
        ASSERT_EQ((strategy == std::string("megakernel") ? c.megakernel : c.per_op)(args.data()), 0);

        LoweredGraph lowered = lower(g);
        const TargetSpec target = host_target_spec(static_cast<int>(std::thread::hardware_concurrency()));
        apply(make_schedule(strategy, g, lowered, target), g, lowered, target);
        const HostArray jit = run(lowered, inputs).at(0);
        expect_close(aot, ref_array(jit), jit_tol, jit_tol, "AOT vs JIT");
        expect_close(aot, want, ref_tol, ref_tol, "AOT vs reference loops");
    }
}

INSTANTIATE_TEST_SUITE_P(Blocks, BlockAot, ::testing::Range(0, 5), [](const ::testing::TestParamInfo<int> &info) {
    return std::string(cases()[static_cast<size_t>(info.param)].name);
});

}  // namespace
}  // namespace megalide::test
