// The block libraries (generators/, built for the host by megalide_add_block_library, fused
// and op by op) against (a) the JIT of the same graph and schedule strategy and (b) the
// naive reference loops composed from the block's definition, on seeded random inputs.
#include <cmath>
#include <cstring>
#include <functional>
#include <set>
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
#include "q1_megakernel.h"
#include "q1_per_op.h"
#include "HalideRuntime.h"
#include "megalide/blocks/block_graphs.h"
#include "megalide/lower/lower.h"
#include "megalide/rewrite/rewrite.h"
#include "megalide/runtime/run.h"
#include "megalide/schedule/strategy.h"
#include "test_util.h"

namespace megalide::test {
namespace {

using Entry = int (*)(void **);
using Inputs = std::map<std::string, ref::Array>;


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
    std::vector<Halide::Buffer<>> buffers;
    for (const std::string &name : g.inputs) {
        inputs.push_back(random_input(rng, name, g.value(name).shape));
        named[name] = to_array(inputs.back());
        buffers.push_back(to_buffer(inputs.back()));
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
        for (Halide::Buffer<> &b : buffers) args.push_back(b.raw_buffer());
        args.push_back(aot.raw_buffer());
        ASSERT_EQ((strategy == std::string("megakernel") ? c.megakernel : c.per_op)(args.data()), 0);

        LoweredGraph lowered = lower(g);
        const TargetSpec target = host_target_spec(static_cast<int>(std::thread::hardware_concurrency()));
        apply(make_schedule(strategy, g, lowered, target), g, lowered, target);
        const HostArray jit = run(lowered, inputs).at(0);
        expect_close(aot, to_array(jit), jit_tol, jit_tol, "AOT vs JIT");
        expect_close(aot, want, ref_tol, ref_tol, "AOT vs reference loops");
    }
}

INSTANTIATE_TEST_SUITE_P(Blocks, BlockAot, ::testing::Range(0, 5), [](const ::testing::TestParamInfo<int> &info) {
    return std::string(cases()[static_cast<size_t>(info.param)].name);
});

// Shapes are part of a library's contract: a buffer of another extent, or a view that is not
// dense, is refused on entry with an error code, never read or written out of bounds.
std::string last_halide_error;

TEST(BlockAot, WrongShapedBuffersAreRejected) {
    // Halide's default handler prints and aborts; an application that wants the error code
    // back installs its own, as this test does.
    halide_error_handler_t previous = halide_set_error_handler([](void *, const char *msg) { last_halide_error = msg; });
    Graph g = cases()[0].graph();
    rewrite_to_fixpoint(g, default_rules());
    std::mt19937 rng(1);
    std::vector<Halide::Buffer<>> buffers;
    for (const std::string &name : g.inputs) buffers.push_back(to_buffer(random_input(rng, name, g.value(name).shape)));
    auto call = [&](Halide::Buffer<> &first_input, Halide::Buffer<float> &out) {
        std::vector<void *> args = {first_input.raw_buffer()};
        for (size_t i = 1; i < buffers.size(); ++i) args.push_back(buffers[i].raw_buffer());
        args.push_back(out.raw_buffer());
        return b1_megakernel_argv(args.data());
    };
    Halide::Buffer<float> out(56, 56, 24, 1), narrow(55, 56, 24, 1);
    ASSERT_EQ(call(buffers[0], out), 0);  // the right shapes run
    EXPECT_NE(call(buffers[0], narrow), 0) << "an output one column short was accepted";
    EXPECT_NE(last_halide_error.find("out_y"), std::string::npos) << last_halide_error;
    // The input as a strided view: every other column of a buffer twice as wide.
    Halide::Buffer<float> wide(112, 56, 24, 1);
    halide_buffer_t view = *wide.raw_buffer();
    std::vector<halide_dimension_t> dims(view.dim, view.dim + view.dimensions);
    dims[0].extent = 56, dims[0].stride = 2;
    view.dim = dims.data();
    Halide::Buffer<> not_dense(view);
    EXPECT_NE(call(not_dense, out), 0) << "a non-dense input view was accepted";
    EXPECT_NE(last_halide_error.find("stride"), std::string::npos) << last_halide_error;
    halide_set_error_handler(previous);
}

// Q1's arithmetic in the reference's loops: exact integer sums (in double), then the ONNX
// requantization in float32 (multiplier (s_in * s_w) / s_out, round half to even, saturate).
int requant(double acc, float s_in, float s_w, float s_out, int zero_point) {
    const float m = (s_in * s_w) / s_out;
    return static_cast<int>(std::min(std::max(std::nearbyint(static_cast<float>(acc) * m) + static_cast<float>(zero_point), 0.0f), 255.0f));
}
int quantize(float v, float scale, int zero_point) {
    return static_cast<int>(std::min(std::max(std::nearbyint(v / scale) + static_cast<float>(zero_point), 0.0f), 255.0f));
}

TEST(BlockAot, Q1MatchesJitExactlyAndQuantizedReferenceLoops) {
    Seeded s;
    MEGALIDE_SEED_TRACE(s);
    std::mt19937 rng(static_cast<unsigned>(s.seed));
    Graph g = blocks::quantized_inverted_residual_graph({});
    rewrite_to_fixpoint(g, default_rules());
    const std::vector<HostArray> inputs = q1_inputs(g, rng);
    std::map<std::string, HostArray> named;
    for (size_t i = 0; i < g.inputs.size(); ++i) named[g.inputs[i]] = inputs[i];
    auto scalar = [&](const std::string &name) { return static_cast<float>(named.at(name).to_doubles().at(0)); };
    auto zero = [&](const std::string &name) { return static_cast<int>(named.at(name).to_doubles().at(0)); };

    // AOT, both schedules, against the JIT: integer kernels, so bit for bit.
    LoweredGraph lowered = lower(g);
    const TargetSpec target = host_target_spec(static_cast<int>(std::thread::hardware_concurrency()));
    apply(make_schedule("megakernel", g, lowered, target), g, lowered, target);
    const HostArray jit = run(lowered, inputs).at(0);
    for (auto entry : {q1_megakernel_argv, q1_per_op_argv}) {
        std::vector<Halide::Buffer<>> buffers;
        std::vector<void *> args;
        for (const HostArray &h : inputs) buffers.push_back(to_buffer(h));
        Halide::Buffer<uint8_t> out(56, 56, 24, 1);
        for (Halide::Buffer<> &b : buffers) args.push_back(b.raw_buffer());
        args.push_back(out.raw_buffer());
        ASSERT_EQ(entry(args.data()), 0);
        ASSERT_EQ(std::memcmp(out.data(), jit.bytes.data(), jit.bytes.size()), 0) << "AOT and JIT differ";
    }

    // The reference: convolutions on (x - zero point) and int8 weights summed exactly.
    auto arr = [&](const std::string &name, double offset = 0) {
        ref::Array a = to_array(named.at(name));
        for (double &v : a.data) v -= offset;
        return a;
    };
    auto layer = [&](const std::string &l, const ref::Array &in, float s_in, int k, int group, bool relu6) {
        ref::Array acc = ref::conv(in, arr(l + "_w"), arr(l + "_b"), conv_attrs(k, 1, group));
        const std::vector<double> sw = named.at(l + "_w_scale").to_doubles();
        const float s_out = scalar(l + "_scale");
        const int z = zero(l + "_zero_point");
        const int hw = acc.shape[2] * acc.shape[3];
        ref::Array q = acc;
        for (long long i = 0; i < acc.size(); ++i) {
            const int c = static_cast<int>((i / hw) % acc.shape[1]);
            int v = requant(acc.data[static_cast<size_t>(i)], s_in, static_cast<float>(sw[static_cast<size_t>(c)]), s_out, z);
            if (relu6) v = std::min(std::max(v, quantize(0.0f, s_out, z)), quantize(6.0f, s_out, z));
            q.data[static_cast<size_t>(i)] = v - z;  // the next layer reads (q - zero point)
        }
        return q;
    };
    const ref::Array e = layer("expand", arr("x", 128), 0.02f, 1, 1, true);
    const ref::Array d = layer("dw", e, scalar("expand_scale"), 3, 144, true);
    const ref::Array p = layer("project", d, scalar("dw_scale"), 1, 1, false);
    const ref::Array xq = arr("x", 128);
    const std::vector<double> got = jit.to_doubles();
    int worst = 0;
    for (long long i = 0; i < p.size(); ++i) {
        const float real = 0.02f * static_cast<float>(xq.data[static_cast<size_t>(i)]) + 0.03f * static_cast<float>(p.data[static_cast<size_t>(i)]);
        worst = std::max(worst, std::abs(quantize(real, 0.04f, 128) - static_cast<int>(got[static_cast<size_t>(i)])));
    }
    // A saturated or constant output would make the comparison vacuous.
    EXPECT_GE(std::set<double>(got.begin(), got.end()).size(), 32u) << "Q1's output barely varies";
    // Float32 multipliers and sums evaluated in another order may round a tie the other way.
    EXPECT_LE(worst, 1) << "Q1 differs from the quantized reference loops by " << worst << " steps";
}

}  // namespace
}  // namespace megalide::test
